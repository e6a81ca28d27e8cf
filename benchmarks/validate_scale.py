"""``campaignctl validate`` of one campaign file with many campaigns, as a whole process.

    python benchmarks/validate_scale.py [--campaigns 1000,3000] [--contacts 10] [--repeat 3]

Each campaign is an xfyeta task (15 YAML lines) with its own CSV of N
contacts; CPU = user + sys of the validate process, median of --repeat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import run, table

from tests.e2e.conftest import campaigns, phones, project, write_csv, xf_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", default="1000,3000")
    ap.add_argument("--contacts", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for n in (int(c) for c in args.campaigns.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            d = project(Path(tmp), init=False)
            entries = []
            for i in range(n):
                write_csv(d / f"contacts/c{i}.csv", phones(args.contacts, i * args.contacts))
                entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
            campaigns(d, *entries)
            runs = [run(["validate", str(d)], ok=(0,)) for _ in range(args.repeat)]
        rows.append([f"{n:,}", f"{statistics.median(r['cpu_s'] for r in runs):.2f}",
                     f"{statistics.median(r['wall_s'] for r in runs):.2f}",
                     f"{statistics.median(r['peak_mb'] for r in runs):.0f}"])
    print(f"\nvalidate, one campaign file; {args.contacts} contacts per campaign; median of {args.repeat}\n")
    print(table(["campaigns", "CPU s", "wall s", "peak MB"], rows))


if __name__ == "__main__":
    main()
