"""Pushes/second and answer times of `campaignctl results serve`, and that nothing is lost.

Starts the receiver as its own process (``python -m reconciler results serve``)
on a generated project (one xfyeta campaign of ``--contacts`` rows recorded as
sent), then posts xfyeta call records (the double push: basic + outbound, and
a share of vendor retries of bodies already sent) at a fixed rate from an
asyncio client, open loop, for ``--seconds``. Afterwards it counts the
results in the state: every distinct push must be there exactly once.

    python benchmarks/results_serve.py                       # 500 and 800 pushes/s, sqlite
    python benchmarks/results_serve.py --rates 600 --seconds 30

Goal (issue "close the loop"): >= 500 pushes/s sustained on 2 cores with a
p99 answer time under 100 ms and nothing lost. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.model import StateSettings  # noqa: E402
from reconciler.state import open_store  # noqa: E402
from reconciler.state.base import CampaignRecord, ContactRecord, ContactStatus, TaskRecord  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(tmp: Path, contacts: int) -> tuple[Path, StateSettings, dict[str, str]]:
    directory = tmp / "cfg"
    (directory / "campaigns").mkdir(parents=True)
    phones = [f"199{i:08d}" for i in range(contacts)]
    lines = "".join(f"{p},客户{i}\n" for i, p in enumerate(phones))
    (directory / "promo.csv").write_text("客户手机号码,姓名\n" + lines, encoding="utf-8")
    env = dict(os.environ)
    settings = StateSettings("sqlite", tmp / "state.db")
    (directory / "campaignctl.yaml").write_text(textwrap.dedent("""\
        version: 1
        providers:
          iflytek:
            type: xfyeta
            base_url: http://127.0.0.1:9
            app_key_env: XFYETA_APP_KEY
            app_secret_env: XFYETA_APP_SECRET
        """) + f"state:\n  backend: sqlite\n  path: {tmp / 'state.db'}\n", encoding="utf-8")
    (directory / "campaigns" / "promo.yaml").write_text(textwrap.dedent("""\
        version: 1
        campaigns:
          - name: promo
            provider: iflytek
            robot: "719"
            lines: ["69101338"]
            schedule: {begin: "2027-03-01T09:00:00+08:00", windows: ["09:00-12:00"]}
            contacts:
              columns: [客户手机号码, 姓名]
              phone_column: 客户手机号码
              sources: [{csv: ../promo.csv}]
        """), encoding="utf-8")
    with open_store(settings, env, create=True) as store:
        store.put_campaign(CampaignRecord("promo", "iflytek", "task", "xfyeta"))
        store.put_task(TaskRecord("promo", 1, "iflytek", "1001", "gitops-promo", "s", started=True))
        store.put_contacts([ContactRecord("promo", p, "fp", "1001", 1, str(100001 + i), ContactStatus.SENT)
                            for i, p in enumerate(phones)])
    env.setdefault("XFYETA_APP_KEY", "unused")
    env.setdefault("XFYETA_APP_SECRET", "unused")
    return directory, settings, env


def body(n: int, contacts: int, outbound: bool) -> dict[str, object]:
    i = n % contacts
    b: dict[str, object] = {"call_uuid": f"bench-{n}", "caller": "055196866001", "callee": f"199{i:08d}",
                            "direction": 2, "time_answer": 1527737763429 if n % 3 else 0,
                            "time_hangup": 1527737784829, "duration_ring": 7, "duration_call": 28}
    if outbound:
        b.update({"task_id": "1001", "task_data_id": str(100001 + i), "time_dial": 1527737756729,
                  "task_result": "0" if n % 3 else "20", "task_result_desc": "成功" if n % 3 else "用户未接",
                  "task_tries": 0, "task_row_index": i + 1, "task_row_head": ["客户手机号码", "姓名"],
                  "task_row_value": [f"199{i:08d}", f"客户{i}"]})
    return b


async def _connection(host: str, port: int, jobs: asyncio.Queue[tuple[float, bytes] | None],
                      latencies: list[float], failures: list[int]) -> None:
    """One keep-alive HTTP/1.1 connection taking requests from ``jobs`` (a light client: the load
    generator shares the 2 cores with the receiver, so it must not be the bottleneck)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            job = await jobs.get()
            if job is None:
                return
            due, request = job
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)  # from when it was due: queueing counts
            if b" 200 " not in status_line or b"success" not in answer:
                failures.append(1)
    finally:
        writer.close()


def _request(host: str, port: int, payload: dict[str, object]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    head = (f"POST /push/iflytek/receiveCallRecord HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json;charset=UTF-8\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode("ascii") + data


async def load(host: str, port: int, rate: float, seconds: float, contacts: int, retry_share: float,
               connections: int = 64) -> dict[str, object]:
    latencies: list[float] = []
    failures: list[int] = []
    sent_keys: set[str] = set()
    rng = random.Random(1)
    jobs: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    workers = [asyncio.create_task(_connection(host, port, jobs, latencies, failures)) for _ in range(connections)]
    total = int(rate * seconds)
    sent_bodies: list[dict[str, object]] = []
    begin = time.perf_counter()
    for k in range(total):
        due = begin + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if sent_bodies and rng.random() < retry_share:
            payload = rng.choice(sent_bodies)  # a vendor retry of something already pushed
        else:
            n = k // 2
            payload = body(n, contacts, outbound=k % 2 == 1)
            sent_keys.add(f"{payload['call_uuid']}#{'outbound' if k % 2 else 'basic'}")
            sent_bodies.append(payload)
        jobs.put_nowait((due, _request(host, port, payload)))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - begin
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"sent": total, "rate": len(latencies) / elapsed, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "max": latencies[-1] * 1000 if latencies else 0.0, "errors": len(failures) + total - len(latencies),
            "keys": sent_keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="500,800", help="pushes per second to try, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--retry-share", type=float, default=0.1, help="share of pushes that repeat an earlier one")
    args = parser.parse_args()
    rows = []
    for rate in [float(r) for r in args.rates.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp:
            directory, settings, env = make_project(Path(tmp), args.contacts)
            port = free_port()
            env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
            server = subprocess.Popen([sys.executable, "-m", "reconciler", "results", "serve", str(directory),
                                       "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
            try:
                assert server.stdout is not None
                if not server.stdout.readline():
                    raise SystemExit("the receiver did not start (run it by hand to see why)")
                url = f"http://127.0.0.1:{port}"
                for _ in range(100):
                    try:
                        httpx.get(url + "/healthz", timeout=1)
                        break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                result = asyncio.run(load("127.0.0.1", port, rate, args.seconds, args.contacts, args.retry_share))
            finally:
                server.terminate()
                server.wait(20)
            with open_store(settings, env) as store:
                stored = store.results()
            keys = {r.key for r in stored}
            wanted = result["keys"]
            assert isinstance(wanted, set)
            lost = len(wanted - keys)
            joined = sum(1 for r in stored if r.campaign == "promo")
            rows.append((rate, result, len(stored), lost, joined))
    print(f"sqlite state, {args.seconds:.0f} s per rate, {args.contacts} contacts, "
          f"{args.retry_share:.0%} retries, {os.cpu_count()} cores")
    print("| target/s | achieved/s | pushes | p50 ms | p95 ms | p99 ms | max ms | non-success | stored | lost "
          "| joined |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rate, r, stored_n, lost, joined in rows:
        print(f"| {rate:.0f} | {r['rate']:.0f} | {r['sent']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} "
              f"| {r['max']:.1f} | {r['errors']} | {stored_n} | {lost} | {joined} |")


if __name__ == "__main__":
    main()
