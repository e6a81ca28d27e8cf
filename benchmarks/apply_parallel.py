"""Apply in parallel against a slow vendor: speed-up per --parallelism, calls against the lower bound,
and how close a declared rate limit is reached.

    python benchmarks/apply_parallel.py [--tasks 64] [--contacts 500] [--latency 0.02]
                                        [--parallelism 1,2,4,8,16] [--repeat 1] [--rate-limit 200] [--json F]
                                        [--backend sqlite|memory]

The xfyeta emulator runs in its own process with ``*:latency:L*inf`` (every
call answers L seconds late). For each parallelism a fresh project of T task
campaigns with N contacts is applied by ``campaignctl apply`` as its own
process: wall and CPU seconds (user + sys of the apply process alone), the
speed-up against parallelism 1 (of the whole process, and of the calls phase:
first to last mutating call as the emulator received them, which leaves out
start-up, loading and planning), and the vendor calls counted on the emulator
against the lower bound (token + one listing page + one reference check +
per task: create, ceil(N/50) inserts, start).

Two columns say how far the whole-process speed-up can go at all: "fixed s"
is the part of a run no parallelism shortens (wall less the calls phase:
process start, loading, token, listing and plan before the first mutating
call, the last answer and the exit after it), and "ceiling" the speed-up the
run would show if its calls phase were parallelism 1's divided exactly by the
parallelism p (or by T, when fewer), at its own fixed part: wall(1) / (fixed +
phase(1) / p). A goal above the ceiling cannot be met by the calls phase alone.

The rate-limit run declares ``rate_limit: R`` on the profile and applies at
the highest parallelism: utilisation is the achieved rate over the run
(calls between the first and the last mutating call, per second, over R), and
"max in 1 s" the most calls the emulator saw in any one-second window
(never above R when the limit holds).

``--backend memory`` applies with a state that lives only in the process (no
journal on disk): the difference to the default SQLite state is what the
journal costs the calls phase.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import MUTATING, Emulator, emulator, measured_by, median, project, run, table


def lower_bound(tasks: int, contacts: int) -> int:
    return 3 + tasks * (1 + math.ceil(contacts / 50) + 1)


def one(emu: Emulator, faults: str, tasks: int, contacts: int, parallelism: int,
        rate_limit: float | None = None, backend: str = "sqlite") -> dict[str, Any]:
    emu.reset(faults)
    client: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = project(Path(tmp), emu.url, campaigns=tasks, contacts=contacts, rate_limit=rate_limit, backend=backend)
        sends = Path(tmp) / "sends.txt" if rate_limit else None
        measured = run(["apply", str(d), "--auto-approve", "--parallelism", str(parallelism)], ok=(0,),
                       sends=sends)
        if sends is not None:
            client = sorted(float(line.split()[0]) for line in sends.read_text().splitlines()
                            if line.split()[1] in MUTATING)
    calls = emu.calls()
    at = sorted(c.get("received_ms", c["at_ms"]) / 1000 for c in calls if c["path"].split("/v1/")[-1] in MUTATING)
    span = at[-1] - at[0] if len(at) > 1 else 0.0
    return {**measured, "calls": len(calls), "mutating": len(at), "phase_s": span,
            "rate": (len(at) - 1) / span if span else 0.0, "max_1s": most_in_a_second(at),
            "client_max_1s": most_in_a_second(client) if client else None}


def most_in_a_second(times: list[float]) -> int:
    """The most of the (sorted) ``times`` in any one-second window [t, t + 1)."""
    most = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return most


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--contacts", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--parallelism", default="1,2,4,8,16")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--rate-limit", type=float, default=200.0, help="0 skips the rate-limit run")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--backend", choices=("sqlite", "memory"), default="sqlite",
                    help="memory: no journal on disk, to see what the journal costs")
    args = ap.parse_args()
    levels = [int(p) for p in args.parallelism.split(",")]
    faults = f"*:latency:{args.latency}*inf"
    bound = lower_bound(args.tasks, args.contacts)
    results: list[dict[str, Any]] = []
    with emulator(faults) as emu:
        for p in levels:
            runs = [one(emu, faults, args.tasks, args.contacts, p, backend=args.backend) for _ in range(args.repeat)]
            results.append({"parallelism": p, "wall_s": median(runs, "wall_s"), "cpu_s": median(runs, "cpu_s"),
                            "peak_mb": median(runs, "peak_mb"), "calls": runs[-1]["calls"],
                            "phase_s": median(runs, "phase_s")})
        limited = None
        if args.rate_limit:
            limited = one(emu, faults, args.tasks, args.contacts, max(levels), rate_limit=args.rate_limit,
                          backend=args.backend)
    base = results[0]["wall_s"]
    base_phase = results[0]["phase_s"]
    calls = args.tasks * (2 + math.ceil(args.contacts / 50))
    print(f"\napply of {args.tasks} tasks x {args.contacts} contacts ({calls} mutating calls), "
          f"{args.latency * 1000:.0f} ms per vendor call; median of {args.repeat}; {args.backend} state; "
          f"{measured_by()}\n")
    rows = []
    for r in results:
        r["speedup"] = base / r["wall_s"]
        r["phase_speedup"] = base_phase / r["phase_s"] if r["phase_s"] else 0.0
        r["lower_bound"] = bound
        r["fixed_s"] = r["wall_s"] - r["phase_s"]
        r["ceiling"] = base / (r["fixed_s"] + base_phase / min(r["parallelism"], args.tasks))
        rows.append([r["parallelism"], f"{r['wall_s']:.2f}", f"{r['speedup']:.1f}x", f"{r['phase_s']:.2f}",
                     f"{r['phase_speedup']:.1f}x", f"{r['fixed_s']:.2f}", f"{r['ceiling']:.1f}x", f"{r['cpu_s']:.2f}",
                     f"{r['peak_mb']:.0f}", r["calls"], bound, f"{r['calls'] / bound:.2f}"])
    print(table(["parallelism", "wall s", "speed-up", "calls phase s", "phase speed-up", "fixed s", "ceiling",
                 "CPU s", "peak MB", "vendor calls", "lower bound", "ratio"], rows))
    if limited is not None:
        print(f"\nrate_limit {args.rate_limit:g}/s at parallelism {max(levels)}: {limited['mutating']} mutating "
              f"calls in {limited['wall_s']:.2f} s wall; achieved {limited['rate']:.1f}/s = "
              f"{100 * limited['rate'] / args.rate_limit:.1f} % of the limit; most in any 1 s window: "
              f"{limited['client_max_1s']} as sent, {limited['max_1s']} as the vendor received them "
              f"(limit {args.rate_limit:g})"
              + ("; OVER THE LIMIT as received" if limited["max_1s"] > args.rate_limit else ""))
    if args.json:
        args.json.write_text(json.dumps({"tasks": args.tasks, "contacts": args.contacts, "latency": args.latency,
                                         "results": results, "rate_limit": args.rate_limit,
                                         "limited": limited}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
