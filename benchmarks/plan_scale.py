"""Plan at scale: first plan, no-op plan, and a plan after one file changed, as whole processes.

    python benchmarks/plan_scale.py [--campaigns 1000] [--contacts 1000] [--repeat 3] [--json out.json]

Builds a project of C xfyeta task campaigns with N contacts each (one CSV per
campaign), serves the xfyeta emulator on loopback, and times
``campaignctl plan`` as a separate process (CPU seconds = user + sys, peak
RSS from ``wait4``), median of ``--repeat`` runs:

* first plan: nothing on the platform yet;
* no-op plan: after an apply, nothing changed;
* one file changed: one CSV gets one more contact.

Vendor calls per plan are counted on the emulator (exact). The seconds are
this machine's; the call counts are not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.emulator import start_emulator  # noqa: E402
from tests.e2e.conftest import XF_ENV, campaigns, phones, project, write_csv, xf_task  # noqa: E402


def run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if code not in (0, 2):
        raise SystemExit(f"campaignctl {' '.join(args)} exited {code}: {err[-2000:]}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024, "wall_s": wall,
            "exit": code}


def measure(label: str, args: list[str], env: dict[str, str], emu: Any, repeat: int) -> dict[str, Any]:
    runs = []
    calls = 0
    for _ in range(repeat):
        before = len(emu.calls)
        runs.append(run(args, env))
        calls = len(emu.calls) - before
    return {"case": label, "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs), "vendor_calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", type=int, default=1000)
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    env = {**os.environ, **XF_ENV}
    os.environ.update(XF_ENV)
    emu, server = start_emulator("xfyeta")
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = project(Path(tmp), xf_url=server.base_url)
            entries = []
            for i in range(args.campaigns):
                write_csv(d / f"contacts/c{i}.csv", phones(args.contacts, i * args.contacts))
                entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
            campaigns(d, *entries)
            plan = ["plan", str(d), "--detailed-exitcode"]
            results.append(measure("first plan", plan, env, emu, args.repeat))
            t0 = time.monotonic()
            applied = run(["apply", str(d), "--auto-approve", "--parallelism", str(args.parallelism)], env)
            print(f"(apply: {time.monotonic() - t0:.1f} s wall, {applied['cpu_s']:.1f} s CPU)", file=sys.stderr)
            results.append(measure("no-op plan", plan, env, emu, args.repeat))
            write_csv(d / "contacts/c0.csv", phones(args.contacts + 1, 0))
            results.append(measure("one file changed", plan, env, emu, args.repeat))
    finally:
        server.stop()
    total = args.campaigns * args.contacts
    print(f"\n{args.campaigns} campaigns x {args.contacts} contacts = {total:,} contacts; median of {args.repeat}\n")
    print("| case | CPU s | wall s | peak MB | vendor calls |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} | {r['vendor_calls']} |")
    if args.json:
        args.json.write_text(json.dumps({"campaigns": args.campaigns, "contacts": args.contacts,
                                         "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
