"""Rows/second and peak memory of loading + validating CSV contacts.

Writes a config directory with one xfyeta campaign whose contacts come from
a generated CSV (2 columns: phone, Chinese name), then runs
``reconciler.config.load`` on it in a fresh Python process per size, so the
peak RSS is the loader's alone (generation happens in this process).

    python benchmarks/bench_contacts.py                  # 10k, 100k, 1M rows
    python benchmarks/bench_contacts.py --rows 1000000 --encoding gbk --repeat 3

Goal (issue 2): 1,000,000 rows under 3 s and 300 MB peak RSS on 2 cores.
Prints a table; asserts nothing. ``load s`` is wall time, ``cpu s`` the
process CPU time (a fairer figure on a busy machine); rows/s uses wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"

PROJECT = """version: 1
providers:
  iflytek:
    type: xfyeta
    base_url: https://www.xfyeta.com
    app_key_env: XFYETA_APP_KEY
    app_secret_env: XFYETA_APP_SECRET
"""

CAMPAIGN = """version: 1
campaigns:
  - name: bench
    provider: iflytek
    robot: "719"
    lines: ["69101338"]
    schedule:
      begin: "2027-03-01T09:00:00+08:00"
      windows: ["09:00-12:00", "13:30-20:00"]
    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - csv: contacts.csv
          encoding: {encoding}
"""

CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from reconciler.config import load
t1 = time.perf_counter()
c1 = time.process_time()
result = load(Path(sys.argv[1]))
t2 = time.perf_counter()
c2 = time.process_time()
rows = sum(len(c.contacts.rows) for c in result.state.campaigns) if result.state else 0
print(json.dumps({
    "import_s": t1 - t0,
    "load_s": t2 - t1,
    "cpu_s": c2 - c1,
    "rows": rows,
    "problems": len(result.problems),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def write_config(directory: Path, rows: int, encoding: str, dirty: bool) -> None:
    """A project, one campaign and a CSV of ``rows`` distinct valid contacts."""
    (directory / "campaignctl.yaml").write_text(PROJECT, encoding="utf-8")
    (directory / "bench.yaml").write_text(CAMPAIGN.format(encoding=encoding), encoding="utf-8")
    rng = random.Random(rows)
    codec = "utf-8" if encoding == "utf-8" else encoding
    with open(directory / "contacts.csv", "w", encoding=codec, newline="") as fh:
        fh.write("客户手机号码,姓名\r\n")
        batch: list[str] = []
        for i in range(rows):
            phone = f"1{3 + i % 7}{i:09d}"
            if dirty and i % 4 == 0:
                phone = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"  # needs the slow path
            name = SURNAMES[rng.randrange(len(SURNAMES))] + ("先生" if i % 2 else "女士")
            batch.append(f"{phone},{name}\r\n")
            if len(batch) == 10000:
                fh.write("".join(batch))
                batch.clear()
        fh.write("".join(batch))


def measure(directory: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory)], capture_output=True, text=True, env=env, check=True
    )
    data: dict[str, float] = json.loads(out.stdout)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="row counts (default 10k, 100k, 1M)")
    parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "gbk", "gb18030"])
    parser.add_argument("--dirty", action="store_true", help="write a quarter of the phones as +86 xxx-xxxx-xxxx")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the best time is shown")
    args = parser.parse_args(argv)
    sizes = args.rows or [10_000, 100_000, 1_000_000]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), encoding {args.encoding}"
          f"{', dirty phones' if args.dirty else ''}")
    header = (f"{'rows':>10}  {'load s':>8}  {'cpu s':>7}  {'rows/s':>12}  {'peak RSS MB':>11}  {'import s':>8}"
              f"  {'kept':>10}")
    print(header)
    print("-" * len(header))
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-contacts-") as tmp:
            directory = Path(tmp)
            write_config(directory, rows, args.encoding, args.dirty)
            runs = [measure(directory) for _ in range(max(1, args.repeat))]
            best = min(runs, key=lambda r: r["load_s"])
            rate = rows / best["load_s"] if best["load_s"] else float("inf")
            peak = max(r["peak_rss_mb"] for r in runs)
            print(f"{rows:>10,}  {best['load_s']:>8.2f}  {best['cpu_s']:>7.2f}  {rate:>12,.0f}  {peak:>11.1f}"
                  f"  {best['import_s']:>8.2f}  {int(best['rows']):>10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
