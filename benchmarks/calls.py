"""Vendor calls of apply and of a no-op plan against their lower bound, for T task campaigns up to 2,000.

    python benchmarks/calls.py [--tasks 1,10,100,1000,2000] [--contacts 10] [--json out.json]

Against the in-process xfyeta emulator (calls are counted exactly; no timing
is taken). Lower bounds, with page = 50 (xfyeta's listing page and insert batch):

* apply of T new tasks of N contacts: token + one listing page (empty) + one
  reference check + per task create, ceil(N/50) inserts, start;
* no-op plan after it: token + ceil(T/50) listing pages;
* no-op apply: the same as the no-op plan.

``tests/benchmarks/test_calls.py`` asserts the ratio is exactly 1 for small
T and N, so a regression in the number of calls fails CI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reconciler.emulator import start_emulator  # noqa: E402
from tests.e2e.conftest import XF_ENV, campaigns, phones, project, run_cli, write_csv, xf_task  # noqa: E402

PAGE = 50


def lower_bounds(tasks: int, contacts: int) -> dict[str, int]:
    listing = max(1, math.ceil(tasks / PAGE))
    return {"apply": 3 + tasks * (2 + math.ceil(contacts / PAGE)), "no-op plan": 1 + listing,
            "no-op apply": 1 + listing}


def measure(tasks: int, contacts: int) -> dict[str, Any]:
    """Vendor calls (by kind) of apply, no-op plan and no-op apply of ``tasks`` campaigns."""
    os.environ.update(XF_ENV)
    emu, server = start_emulator("xfyeta")
    out: dict[str, Any] = {"tasks": tasks, "contacts": contacts, "bound": lower_bounds(tasks, contacts)}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = project(Path(tmp), xf_url=server.base_url)
            entries = []
            for i in range(tasks):
                write_csv(d / f"contacts/c{i}.csv", phones(contacts, i * contacts))
                entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
            campaigns(d, *entries)
            steps = [("apply", ["apply", str(d), "--auto-approve", "--parallelism", "8"], 0),
                     ("no-op plan", ["plan", str(d), "--detailed-exitcode"], 0),
                     ("no-op apply", ["apply", str(d), "--auto-approve"], 0)]
            for label, argv, expected in steps:
                before = len(emu.calls)
                res = run_cli(*argv)
                if res.exit_code != expected:
                    raise SystemExit(f"{label} exited {res.exit_code}: {res.output[-2000:]}")
                made = emu.calls[before:]
                out[label] = len(made)
                out[label + " by call"] = dict(Counter(str(c["path"]).split("/v1/")[-1] for c in made))
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="1,10,100,1000,2000")
    ap.add_argument("--contacts", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results = [measure(int(t), args.contacts) for t in args.tasks.split(",")]
    print(f"\nvendor calls against the lower bound ({args.contacts} contacts per task)\n")
    print("| tasks | apply | bound | ratio | no-op plan | bound | ratio | no-op apply | bound | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [str(r["tasks"])]
        for kind in ("apply", "no-op plan", "no-op apply"):
            cells += [str(r[kind]), str(r["bound"][kind]), f"{r[kind] / r['bound'][kind]:.2f}"]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
