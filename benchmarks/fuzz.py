"""The long fuzz run: hostile config directories through `validate` and `plan`.

    python benchmarks/fuzz.py --cases 10000 [--seed 0] [--jobs 2] [--json FILE]

Each case comes from ``tests/faults/fuzzgen.py`` (seeded: a case is
reproduced by its seed alone), runs in process against loopback emulators
(one pair per job), and is classified: ``ok`` (exit 0/1/2, no traceback, in
time), ``known:<item>`` (a crash of a config item waiting for the vendor
refactor), or a failure (``crash``, ``traceback``, ``timeout``, ``exit:N``).
Prints a table of outcomes and every failing seed; exits 1 when any case
failed. Reproduce one case with ``--seed N --cases 1``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _chunk(args: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Run seeds ``start, start + step, ...`` below ``stop`` in this process."""
    start, stop, step = args
    tmp = Path(tempfile.mkdtemp(prefix="campaignctl-fuzz-"))
    os.environ["CAMPAIGNCTL_DEBUG_LOG"] = str(tmp / "debug.log")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    from tests.e2e.conftest import run_cli
    from tests.faults.fuzzgen import generate, run_case
    from tests.faults.support import emulators

    out: list[dict[str, Any]] = []
    try:
        with emulators() as (xf, yc):
            allowed = {xf.base_url, yc.base_url}
            for seed in range(start, stop, step):
                case = generate(seed, xf_url=xf.base_url, yc_url=yc.base_url)
                result = run_case(case, tmp, run_cli, allowed)
                shutil.rmtree(tmp / f"case{seed}", ignore_errors=True)
                if len(out) % 1000 == 999:
                    print(f"  job from seed {start}: {len(out) + 1} cases done", flush=True)
                out.append({"seed": seed, "verdict": result.verdict, "validate_exit": result.validate_exit,
                            "plan_exit": result.plan_exit, "seconds": result.seconds,
                            "mutations": result.mutations, "tags": sorted(case.tags), "detail": result.detail[:300]})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from tests.faults.fuzzgen import KNOWN, PER_CASE_SECONDS

    jobs = max(1, min(args.jobs, args.cases))
    stop = args.seed + args.cases
    started = time.monotonic()
    chunks = [(args.seed + j, stop, jobs) for j in range(jobs)]
    if jobs == 1:
        results = _chunk(chunks[0])
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = [r for part in pool.map(_chunk, chunks) for r in part]
    elapsed = time.monotonic() - started
    results.sort(key=lambda r: r["seed"])
    verdicts = Counter(r["verdict"] for r in results)
    failed = [r for r in results if r["verdict"] != "ok" and not r["verdict"].startswith("known:")]
    slow = [r for r in results if r["seconds"] > PER_CASE_SECONDS]
    exits = Counter((r["validate_exit"], r["plan_exit"]) for r in results)
    print(f"{len(results)} cases (seeds {args.seed}..{stop - 1}) in {elapsed:.0f}s with {jobs} job(s); "
          f"slowest case {max((r['seconds'] for r in results), default=0):.2f}s (bound {PER_CASE_SECONDS:.0f}s)")
    print("\n| outcome | cases |\n|---|---|")
    for verdict, n in sorted(verdicts.items()):
        print(f"| {verdict} | {n} |")
    print("\n| validate exit | plan exit | cases |\n|---|---|---|")
    for (v, p), n in sorted(exits.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])):
        print(f"| {v} | {'-' if p is None else p} | {n} |")
    for r in failed + slow:
        print(f"FAILED seed {r['seed']}: {r['verdict']} {r['seconds']:.2f}s {r['mutations']} {r['detail'][:200]}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "cases": len(results), "first_seed": args.seed, "jobs": jobs, "seconds": round(elapsed, 1),
            "commit": _commit(),
            "verdicts": dict(verdicts), "known": KNOWN, "failed": failed, "slow": slow,
            "exits": {f"{v}/{p}": n for (v, p), n in exits.items()},
            "known_seeds": {k: [r["seed"] for r in results if r["verdict"] == f"known:{k}"][:50] for k in KNOWN},
            "max_seconds": max((r["seconds"] for r in results), default=0),
        }, indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if failed or slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
