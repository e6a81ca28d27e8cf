"""Plan at scale: first plan, no-op plan, and a plan after one file changed, as whole processes.

    python benchmarks/plan_scale.py [--sizes 10x1000,100x1000,1000x1000,10x100000] [--repeat 3] [--json out.json]
    python benchmarks/plan_scale.py --campaigns 100 --contacts 1000 --repeat 1     # one size, a quick look

For each size C x N it builds a project of C xfyeta task campaigns with N
contacts each (one CSV per campaign), serves the xfyeta emulator on loopback
(in a process of its own: its work is not counted), and times ``campaignctl plan`` as
a separate process (CPU seconds = user + sys, peak RSS from ``wait4``), median
of ``--repeat`` runs:

* first plan: nothing on the platform yet, a state just initialised (made
  again before each run, so no run finds an earlier one's cache);
* no-op plan: after an apply, nothing changed;
* one file changed: one CSV gets one more contact (a different one each run);
* no-op plan with a ``policy:`` block (a frequency cap, numbers in several
  running campaigns allowed) and two numbers on the opt-out list (one
  of them already sent to the first campaign, which therefore warns: its
  marker keeps the warning), after one plan that fills the caches;
* the same after one file changed: the check for numbers in several running
  campaigns reads the other tables' numbers from the state, not their files;
* the first plan of the project with the policy (a fresh state again), which
  also writes every table's phone list for that check.

Vendor calls per plan are counted on the emulator (exact); the lower bound of
a no-op plan is token + ceil(C/50) listing pages. The seconds are this
machine's; the call counts are not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import emulator, run  # noqa: E402

from tests.e2e.conftest import XF_ENV, campaigns, phones, project, write_csv, xf_task  # noqa: E402


def measure(label: str, args: list[str], emu: Any, repeat: int, before: Any = None) -> dict[str, Any]:
    runs = []
    calls = 0
    for i in range(repeat):
        if before is not None:
            before(i)
        start = emu.last_seq()
        runs.append(run(args))
        calls = len(emu.calls(start))
    return {"case": label, "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs), "vendor_calls": calls,
            "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs]}


def one_size(n_campaigns: int, n_contacts: int, repeat: int, parallelism: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        d = project(Path(tmp), xf_url=emu.url, init=False)
        state = Path(tmp) / "state.db"
        entries = []
        for i in range(n_campaigns):
            write_csv(d / f"contacts/c{i}.csv", phones(n_contacts, i * n_contacts))
            entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
        campaigns(d, *entries)
        plan = ["plan", str(d), "--detailed-exitcode"]

        def fresh_state(_: int) -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{state}{suffix}").unlink(missing_ok=True)
            run(["state", "init", str(d)])

        results.append(measure("first plan", plan, emu, repeat, fresh_state))
        t0 = time.monotonic()
        applied = run(["apply", str(d), "--auto-approve", "--parallelism", str(parallelism)], ok=(0,))
        print(f"({n_campaigns} x {n_contacts}: apply {time.monotonic() - t0:.1f} s wall, "
              f"{applied['cpu_s']:.1f} s CPU)", file=sys.stderr)
        results.append(measure("no-op plan", plan, emu, repeat))
        original = d / "contacts/c0.csv"

        def change_one(i: int) -> None:
            write_csv(original, [*phones(n_contacts, 0), phones(1, 90_000_000 + i)[0]])

        results.append(measure("one file changed", plan, emu, repeat, change_one))
        # What a project in real operations has: a dialing policy (the numbers-in-several-campaigns check
        # needs every table, a frequency cap the history of the numbers to send) and numbers on the opt-out
        # list (one of them sent already: that campaign warns that it stays queued). One plan makes the
        # caches for them, then the no-op is measured.
        write_csv(original, phones(n_contacts, 0))  # as applied
        with (d / "campaignctl.yaml").open("a", encoding="utf-8") as f:
            f.write("policy:\n  unique_across_campaigns: false\n  max_dials: {count: 3, days: 7}\n")
        for number in (phones(1, 0)[0], "13999999999"):
            run(["optout", "add", number, str(d)], ok=(0,))
        run(plan, ok=(0,))
        results.append(measure("no-op plan, policy + 2 opt-outs", plan, emu, repeat))
        assert all(r["exit"] == 0 for r in results[-1]["runs"]), "the plan with a policy is not a no-op"

        def change_one_more(i: int) -> None:  # contents no earlier run parsed
            write_csv(original, [*phones(n_contacts, 0), phones(1, 91_000_000 + i)[0]])

        results.append(measure("one file changed, policy + 2 opt-outs", plan, emu, repeat, change_one_more))
        # The first plan of a project with a policy also writes every table's phone list to the state.
        emu.reset()  # nothing on the platform, as for the first plan above
        results.append(measure("first plan, policy", plan, emu, repeat, fresh_state))
    bound = 1 + max(1, math.ceil(n_campaigns / 50))
    for r in results:
        r.update(campaigns=n_campaigns, contacts=n_contacts, total=n_campaigns * n_contacts)
        r["calls_bound"] = bound if r["case"].startswith("no-op plan") else None
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10x1000,100x1000,1000x1000,10x100000",
                    help="comma-separated CAMPAIGNSxCONTACTS")
    ap.add_argument("--campaigns", type=int, default=None, help="one size (with --contacts) instead of --sizes")
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.update(XF_ENV)
    if args.campaigns is not None:
        sizes = [(args.campaigns, args.contacts)]
    else:
        sizes = [(int(c), int(n)) for c, n in (s.split("x") for s in args.sizes.split(","))]
    results: list[dict[str, Any]] = []
    for c, n in sizes:
        results += one_size(c, n, args.repeat, args.parallelism)
    print(f"\nmedian of {args.repeat} runs; CPU = user + sys of the plan process\n")
    print("| campaigns x contacts | case | CPU s | wall s | peak MB | vendor calls |\n|---|---|---|---|---|---|")
    for r in results:
        bound = f" (bound {r['calls_bound']})" if r["calls_bound"] else ""
        print(f"| {r['campaigns']:,} x {r['contacts']:,} | {r['case']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | "
              f"{r['peak_mb']:.0f} | {r['vendor_calls']}{bound} |")
    if args.json:
        args.json.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
