"""Crash soak: kill `campaignctl apply` with SIGKILL at random points, on both state backends, then converge.

    python benchmarks/soak.py --runs 100 --seed 1 --backend sqlite|postgres [--json FILE]

Each run (seeded, so ``--runs 1 --seed S`` replays run S) builds a project
on loopback emulators (xfyeta task campaigns with contact counts at batch
boundaries, a direct-callout campaign, a yccall campaign), initialises the
state, and runs apply as a subprocess one to three times, each killed with
SIGKILL when the platforms have seen a random number of its vendor calls
(or at a random moment); sometimes the files change between kills. Then
the faults are cleared and apply runs cleanly until it exits 0 (at most
three times). Checked after every run: no duplicate task, no phone twice in
a task, no second dial, nothing lost (every contact in its task or dialed
once, or reported for `state resolve`), a converged plan.

PostgreSQL runs use a database of their own on ``CAMPAIGNCTL_TEST_PG_DSN``
(the shared cluster is only used, never restarted), dropped at the end.
Prints a table and, with ``--json``, writes every run's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (  # noqa: E402
    XF_ENV,
    YC_ENV,
    campaigns,
    phones,
    run_cli,
    write_csv,
    xf_direct,
    xf_task,
    yc_task,
)
from tests.faults.support import duplicates, emulators, fast_project, xf_counts, yc_counts  # noqa: E402

PG_DEFAULT = "postgresql://campaignctl:campaignctl@127.0.0.1:5432/campaignctl_test"
BOUNDARY_COUNTS = [1, 49, 50, 51, 101, 150]


@dataclass
class Run:
    run: int
    backend: str
    kills: int = 0
    kill_points: list[int] = field(default_factory=list)  # mutating vendor calls seen when each kill landed
    mid_apply: int = 0  # kills that landed while the apply was still running
    reapplies: int = 0
    final_exit: int = -1
    plan_exit: int = -1
    converged: bool = False
    duplicate_tasks: int = 0
    duplicate_rows: int = 0
    second_dials: int = 0
    lost: int = 0
    left_for_resolve: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _mutating(xf: Any, yc: Any) -> int:
    return sum(xf_counts(xf).values()) + sum(yc_counts(yc).values())


def _files(d: Path, rng: random.Random, spring: int, survey: int, follow: int) -> None:
    write_csv(d / "contacts/spring.csv", phones(spring))
    write_csv(d / "contacts/renew.csv", phones(3, 5000))
    write_csv(d / "contacts/survey.csv", phones(survey, 8000))
    write_csv(d / "contacts/follow.csv", phones(follow, 3000), columns=("phone",))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"),
              xf_task("renew", "../contacts/renew.csv", state="paused"),
              xf_direct("survey", "../contacts/survey.csv"),
              yc_task("follow", "../contacts/follow.csv"))


def _apply(d: Path, env: dict[str, str], parallelism: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:  # a file, not a pipe: a child killed or chatty never blocks on it
        return subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(d), "--auto-approve",
                                 "--parallelism", str(parallelism), "--lock-timeout", "10"],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=str(d))


def one_run(i: int, seed: int, backend: str, tmp: Path, dsn: str | None) -> Run:
    rng = random.Random(f"{seed}:{i}")
    r = Run(i, backend)
    started = time.monotonic()
    latency = rng.choice([0.0, 0.01, 0.02, 0.05])
    with emulators(faults=f"*:latency:{latency}*inf" if latency else None) as (xf, yc):
        env = {**os.environ, **XF_ENV, **YC_ENV, "PYTHONPATH": str(ROOT),
               "CAMPAIGNCTL_DEBUG_LOG": str(tmp / f"debug-{i}.log")}
        state = None
        if backend == "postgres":
            assert dsn is not None
            os.environ["CAMPAIGNCTL_SOAK_DSN"] = env["CAMPAIGNCTL_SOAK_DSN"] = dsn
            state = "state:\n  backend: postgres\n  dsn_env: CAMPAIGNCTL_SOAK_DSN\n"
            _reset_schema(dsn)
        d = fast_project(tmp / f"run{i}", xf_url=xf.base_url, yc_url=yc.base_url, state=state, init=False)
        spring, survey, follow = rng.choice(BOUNDARY_COUNTS), rng.choice([1, 50, 51, 120]), rng.choice([1, 40, 60])
        _files(d, rng, spring, survey, follow)
        init = run_cli("state", "init", str(d))
        if init.exit_code != 0:
            r.problems.append(f"state init: {init.output.strip()[-200:]}")
            return r
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.25:  # the files change between two interrupted applies
                spring = min(spring + rng.choice([1, 50, 51]), 300)
                follow = min(follow + rng.choice([1, 20]), 120)
                _files(d, rng, spring, survey, follow)
            before = _mutating(xf, yc)
            target = before + rng.randint(0, 12)
            proc = _apply(d, env, rng.choice([1, 2, 4]), tmp / f"apply-{i}.err")
            deadline = time.monotonic() + (rng.uniform(0.05, 3.0) if rng.random() < 0.3 else 30.0)
            while time.monotonic() < deadline and _mutating(xf, yc) < target and proc.poll() is None:
                time.sleep(0.002)
            if proc.poll() is None:
                r.mid_apply += 1
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            r.kills += 1
            err = (tmp / f"apply-{i}.err").read_text(encoding="utf-8", errors="replace")
            if "Traceback" in err or "internal error" in err:
                r.problems.append(f"apply printed a traceback: {err[-300:]}")
            r.kill_points.append(_mutating(xf, yc) - before)
        xf.faults.clear()
        yc.faults.clear()
        res = None
        for _ in range(3):
            res = run_cli("apply", str(d), "--auto-approve", "--lock-timeout", "10")
            r.reapplies += 1
            if "Traceback" in res.output or res.exit_code not in (0, 1):
                r.problems.append(f"apply exit {res.exit_code}: {res.output.strip()[-300:]}")
            if res.exit_code == 0:
                break
        assert res is not None
        r.final_exit = res.exit_code
        plan = run_cli("plan", str(d), "--detailed-exitcode")
        r.plan_exit = plan.exit_code
        r.left_for_resolve = "state resolve" in plan.output
        dup = duplicates(xf, yc)
        r.duplicate_tasks, r.duplicate_rows, r.second_dials = (dup["duplicate_tasks"], dup["duplicate_rows"],
                                                               dup["second_dials"])
        r.lost = _lost(xf, yc, spring, survey, follow, plan.output)
        r.converged = (plan.exit_code == 0 or (plan.exit_code == 1 and r.left_for_resolve)) and r.lost == 0
        if not r.converged:
            r.problems.append(f"plan exit {plan.exit_code}, {r.lost} lost: {plan.output.strip()[-400:]}")
        if any(dup.values()):
            r.problems.append(f"duplicates {dup}")
    r.seconds = round(time.monotonic() - started, 2)
    return r


def _lost(xf: Any, yc: Any, spring: int, survey: int, follow: int, plan_output: str) -> int:
    """Contacts in the files that are neither where they belong nor reported for `state resolve`."""
    st = xf.state()
    by_campaign: dict[str, set[str]] = {}  # every wave (gitops-NAME, gitops-NAME~2, ...) of a campaign
    for t in st["tasks"]:
        if not t["deleted"]:
            by_campaign.setdefault(t["task_name"].split("~")[0], set()).update(n["phone"] for n in t["numbers"])
    lost = 0
    if "state resolve spring" not in plan_output:
        lost += len(set(phones(spring)) - by_campaign.get("gitops-spring", set()))
    lost += len(set(phones(3, 5000)) - by_campaign.get("gitops-renew", set()))
    dialed = {x["phone"] for x in st["dials"]}
    if "state resolve survey" not in plan_output:
        lost += len(set(phones(survey, 8000)) - dialed)
    live = [t for t in yc.state()["tasks"] if t["status"] != 1028]
    held = {n["telphone"] for t in live for n in t["numbers"]}
    if "state resolve follow" not in plan_output:
        lost += len(set(phones(follow, 3000)) - held)
    return lost


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _reset_schema(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS campaignctl CASCADE")


def _database(base: str) -> tuple[str, str]:
    import psycopg

    name = f"campaignctl_soak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"{base.rpartition('/')[0]}/{name}"


def run_soak(runs: int, seed: int, backend: str, *, quiet: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"campaignctl-soak-{backend}-"))
    dsn = name = None
    base = os.environ.get("CAMPAIGNCTL_TEST_PG_DSN", PG_DEFAULT)
    if backend == "postgres":
        name, dsn = _database(base)
    results: list[Run] = []
    started = time.monotonic()
    try:
        for i in range(runs):
            run = one_run(i, seed, backend, tmp, dsn)
            results.append(run)
            if not quiet:
                flag = "ok" if run.converged and not run.problems else "PROBLEM"
                print(f"run {i:4d} {backend:8s} kills {run.kills} at {run.kill_points} calls "
                      f"(mid-apply {run.mid_apply}), re-applies {run.reapplies}, {run.seconds:5.1f}s {flag} "
                      f"{'; '.join(run.problems)[:300]}", flush=True)
    finally:
        if name is not None:
            from tests.e2e.test_postgres_e2e import drop_database

            drop_database(base, name)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "backend": backend, "runs": len(results), "seed": seed, "seconds": round(time.monotonic() - started, 1),
        "commit": _commit(),
        "kills": sum(r.kills for r in results), "mid_apply_kills": sum(r.mid_apply for r in results),
        "converged": sum(r.converged for r in results),
        "left_for_resolve": sum(r.left_for_resolve for r in results),
        "duplicate_tasks": sum(r.duplicate_tasks for r in results),
        "duplicate_rows": sum(r.duplicate_rows for r in results),
        "second_dials": sum(r.second_dials for r in results), "lost": sum(r.lost for r in results),
        "problems": sum(bool(r.problems) for r in results),
        "reapplies": dict(Counter(r.reapplies for r in results)),
        "kill_points": dict(Counter(p for r in results for p in r.kill_points)),
        "run_results": [asdict(r) for r in results],
    }
    return summary


def table(summaries: list[dict[str, Any]]) -> str:
    lines = ["| backend | runs | kills (mid-apply) | converged | left for `state resolve` | duplicate tasks | "
             "duplicate rows | second dials | lost | runs with problems | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['backend']} | {s['runs']} | {s['kills']} ({s['mid_apply_kills']}) | {s['converged']} | "
                     f"{s['left_for_resolve']} | {s['duplicate_tasks']} | {s['duplicate_rows']} | "
                     f"{s['second_dials']} | {s['lost']} | {s['problems']} | {s['seconds']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    summaries = [run_soak(args.runs, args.seed, b, quiet=args.quiet) for b in backends]
    print()
    print(table(summaries))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload: Any = summaries[0] if len(summaries) == 1 else summaries
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    bad = any(s["problems"] or s["converged"] != s["runs"] for s in summaries)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
