"""Measure plan and apply against the local emulators: vendor calls (exact) and seconds.

    python benchmarks/bench_apply.py [--campaigns 20] [--contacts 500]

Builds a config directory of N xfyeta task campaigns, one xfyeta direct
campaign and N/4 yccall campaigns with M contacts each, then runs plan,
apply, plan, apply in-process over loopback HTTP and prints a table. Call
counts are machine-independent; the seconds are this machine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.emulator import start_emulator
from tests.e2e.conftest import (
    XF_ENV,
    YC_ENV,
    campaigns,
    phones,
    project,
    run_cli,
    write_csv,
    xf_direct,
    xf_task,
    yc_task,
)


def count(emu_xf, emu_yc) -> Counter[str]:  # type: ignore[no-untyped-def]
    out: Counter[str] = Counter()
    for c in emu_xf.calls:
        out["xfyeta " + c["path"].split("/v1/")[-1]] += 1
    for c in emu_yc.calls:
        out["yccall " + c["service"].split(".")[-1]] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", type=int, default=20)
    ap.add_argument("--contacts", type=int, default=500)
    ap.add_argument("--parallelism", type=int, default=4)
    args = ap.parse_args()
    os.environ.update(XF_ENV)
    os.environ.update(YC_ENV)
    xf, xf_srv = start_emulator("xfyeta")
    yc, yc_srv = start_emulator("yccall")
    with tempfile.TemporaryDirectory() as tmp:
        d = project(Path(tmp), xf_url=xf_srv.base_url, yc_url=yc_srv.base_url)
        entries = []
        for i in range(args.campaigns):
            write_csv(d / f"contacts/c{i}.csv", phones(args.contacts, i * args.contacts))
            entries.append(xf_task(f"camp-{i}", f"../contacts/c{i}.csv"))
        write_csv(d / "contacts/direct.csv", phones(args.contacts, 50_000_000))
        entries.append(xf_direct("direct", "../contacts/direct.csv"))
        for i in range(max(1, args.campaigns // 4)):
            write_csv(d / f"contacts/y{i}.csv", phones(args.contacts, 60_000_000 + i * args.contacts),
                      columns=("phone",))
            entries.append(yc_task(f"yc-{i}", f"../contacts/y{i}.csv"))
        campaigns(d, *entries)
        rows = []
        steps = [("plan", ["plan", str(d)]),
                 ("apply", ["apply", str(d), "--auto-approve", "--parallelism", str(args.parallelism)]),
                 ("plan (no changes)", ["plan", str(d), "--detailed-exitcode"]),
                 ("apply (no changes)", ["apply", str(d), "--auto-approve"])]
        for label, argv in steps:
            before = count(xf, yc)
            t0 = time.perf_counter()
            res = run_cli(*argv)
            secs = time.perf_counter() - t0
            delta = count(xf, yc) - before
            rows.append((label, res.exit_code, secs, delta))
    xf_srv.stop()
    yc_srv.stop()
    total = args.campaigns + 1 + max(1, args.campaigns // 4)
    print(f"{total} campaigns x {args.contacts} contacts, parallelism {args.parallelism}\n")
    print(f"{'step':<20} {'exit':>4} {'seconds':>8} {'calls':>6}  by call")
    for label, code, secs, delta in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(delta.items()))
        print(f"{label:<20} {code:>4} {secs:>8.2f} {sum(delta.values()):>6}  {detail}")


if __name__ == "__main__":
    main()
