"""Shared by the benchmarks: an emulator in its own process, projects, and campaignctl as a measured process.

Every measured run is a separate ``python -m reconciler`` process started from
this checkout (``PYTHONPATH`` points at it), or, with ``CAMPAIGNCTL_BENCH_PYTHON``
set to the interpreter of an installed campaignctl (a venv after ``pip install .``),
by that interpreter with its installed package: what a user runs, whose
start-up does not pay for the test environment's packages. CPU seconds are user + sys of that
process alone and peak RSS comes from ``wait4``, so the emulator's work (in its
own process) is never counted. (The emulator must not run inside the
benchmark's process: a child's peak RSS starts from its parent's at exec.)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import phones, write_csv, xf_task  # noqa: E402  (the suite's project builders, shared)

XF_ENV = {"XFYETA_APP_KEY": "demo-app-key", "XFYETA_APP_SECRET": "demo-app-secret"}
MUTATING = ("task/create", "task/insert", "task/start", "task/pause", "task/delete", "task/callout")


# Measured processes read compiled bytecode, as an installed campaignctl does (pip compiles it at install
# time): kept apart from the checkout, written once by compile_once(). Without it, a machine that sets
# PYTHONDONTWRITEBYTECODE would charge every run ~0.05 s of compiling the sources again.
PYCACHE = Path(tempfile.gettempdir()) / "campaignctl-bench-pycache"


#: The interpreter of the measured processes (see the module docstring).
MEASURED = os.environ.get("CAMPAIGNCTL_BENCH_PYTHON") or sys.executable
INSTALLED = bool(os.environ.get("CAMPAIGNCTL_BENCH_PYTHON"))


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if INSTALLED:  # an installed campaignctl: its own package and bytecode
        return {**base, **XF_ENV}
    return {**base, **XF_ENV, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(PYCACHE)}


def measured_by() -> str:
    """For the tables: which campaignctl the figures are of."""
    return f"installed campaignctl ({MEASURED})" if INSTALLED else "this checkout"


_compiled = False


def compile_once() -> None:
    """Compile the checkout's package into :data:`PYCACHE` before the first measured run."""
    global _compiled
    if not _compiled and not INSTALLED:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "reconciler")], env=env(), check=True,
                       stdout=subprocess.DEVNULL)
        _compiled = True


@dataclass
class Emulator:
    """An xfyeta emulator in a child process, driven through its control API."""

    url: str
    proc: subprocess.Popen[str]

    def control(self, action: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(f"{self.url}/_emulator/{action}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def reset(self, faults: str | None = None) -> None:
        self.control("reset")
        if faults:
            self.control("faults", {"spec": faults})

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """The calls the emulator logged after call number ``since`` (each has its ``seq``)."""
        return list(self.control(f"calls?since={since}", method="GET")["calls"])

    def last_seq(self) -> int:
        calls = self.calls()
        return int(calls[-1]["seq"]) if calls else 0


@contextmanager
def emulator(faults: str | None = None) -> Iterator[Emulator]:
    cmd = [sys.executable, "-m", "reconciler", "emulator", "serve", "--provider", "xfyeta", "--port", "0"]
    if faults:
        cmd += ["--faults", faults]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(), cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        if not url.startswith("http"):
            raise SystemExit(f"the emulator did not start: {line!r}")
        yield Emulator(url, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def project(root: Path, url: str, *, campaigns: int, contacts: int, rate_limit: float | None = None,
            state: str = "running", backend: str = "sqlite") -> Path:
    """A config directory of ``campaigns`` xfyeta task campaigns with ``contacts`` each, state initialised
    (``backend`` sqlite, or memory: a state that lives only as long as the process, for comparison)."""
    d = root / "cfg"
    d.mkdir(parents=True, exist_ok=True)
    limit = f"\n    rate_limit: {rate_limit}" if rate_limit else ""
    (d / "campaignctl.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        timezone: Asia/Shanghai
        providers:
          iflytek:
            type: xfyeta
            base_url: {url}
            app_key_env: XFYETA_APP_KEY
            app_secret_env: XFYETA_APP_SECRET
            name_prefix: "gitops-"
            retries: 2
            read_timeout: 30""") + limit + textwrap.dedent(f"""
        state:
          backend: {backend}""") + (f"\n  path: {root / 'state.db'}\n" if backend == "sqlite" else "\n"),
        encoding="utf-8")
    entries = []
    for i in range(campaigns):
        write_csv(d / f"contacts/c{i}.csv", phones(contacts, i * contacts))
        entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv", state=state))
    (d / "campaigns").mkdir(exist_ok=True)
    (d / "campaigns/main.yaml").write_text("version: 1\ncampaigns:\n" + "".join(entries), encoding="utf-8")
    if backend == "sqlite":
        run(["state", "init", str(d)])
    return d


# A child's peak RSS (``ru_maxrss``) starts from its parent's at exec, so measured processes are
# started by this small helper (a bare interpreter, ~10 MB), never by the benchmark itself.
_SPAWNER_CODE = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    start = time.monotonic()
    proc = subprocess.Popen(job["argv"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=job["env"],
                            cwd=job["cwd"])
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_s": time.monotonic() - start,
                      "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                      "err": err[-2000:]}), flush=True)
"""
_spawner: subprocess.Popen[str] | None = None


def _spawn(argv: list[str]) -> dict[str, Any]:
    global _spawner
    if _spawner is None or _spawner.poll() is not None:
        _spawner = subprocess.Popen([sys.executable, "-S", "-c", _SPAWNER_CODE], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
    assert _spawner.stdin is not None and _spawner.stdout is not None
    _spawner.stdin.write(json.dumps({"argv": argv, "env": env(), "cwd": str(ROOT)}) + "\n")
    _spawner.stdin.flush()
    result: dict[str, Any] = json.loads(_spawner.stdout.readline())
    return result


# Run with ``sends=FILE``: every HTTP attempt's monotonic time and call, as the transport logs it just
# after its rate limiter let it go (what ``rate_limit`` controls), one line each.
_SENDS = """
import logging, sys, time
class _Sends(logging.Handler):
    def __init__(self, path):
        super().__init__()
        self.out = open(path, "w")
    def emit(self, record):
        text = record.getMessage()
        if ": attempt " in text:
            self.out.write(f"{time.monotonic()} {text.split()[1].rstrip(':')}\\n")
            self.out.flush()
log = logging.getLogger("reconciler.http")
log.setLevel(logging.DEBUG)
log.addHandler(_Sends(sys.argv.pop(1)))
from reconciler.cli import main
main(sys.argv[1:])
"""


def run(args: list[str], *, ok: Sequence[int] = (0, 2), sends: Path | None = None) -> dict[str, float]:
    """``campaignctl ARGS`` as its own process: exit code, wall, CPU (user + sys) and peak RSS."""
    compile_once()
    # -P: the measured processes run in the checkout (cwd), whose package must not shadow the installed one
    isolated = ["-P"] if INSTALLED else []
    if sends is not None:
        done = _spawn([MEASURED, *isolated, "-c", _SENDS, str(sends), *args])
    else:
        done = _spawn([MEASURED, *isolated, "-m", "reconciler", *args])
    if done["code"] not in ok:
        raise SystemExit(f"campaignctl {' '.join(args)} exited {done['code']}: {done['err']}")
    return {"cpu_s": done["cpu_s"], "peak_mb": done["peak_mb"], "wall_s": done["wall_s"], "exit": done["code"]}


def median(runs: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
