"""``campaignctl validate`` of one campaign file with many campaigns, as a whole process.

    python benchmarks/validate_scale.py [--campaigns 1000,3000] [--contacts 10] [--repeat 3]

Each campaign is an xfyeta task (15 YAML lines) with its own CSV of N
contacts; CPU = user + sys of the validate process, median of --repeat. Also
reported: the campaign file's size, the problems validate found, CPU per 1,000
campaigns, and the CPU of loading the same directory in this process
(``reconciler.config.load``, without the process start); ``--json FILE``
writes the figures too. ``make_project`` writes the one-file project with
inline rows that ``tests/faults/test_config_limits.py`` times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import run, table

from reconciler.config import load
from reconciler.config.gcpause import paused_gc
from tests.e2e.conftest import campaigns, phones, project, write_csv, xf_task

PROJECT = """version: 1
timezone: Asia/Shanghai
providers:
  iflytek:
    type: xfyeta
    base_url: http://127.0.0.1:9
    app_key_env: XFYETA_APP_KEY
    app_secret_env: XFYETA_APP_SECRET
state:
  backend: sqlite
  path: state.db
"""

CAMPAIGN = """  - name: c{i:05d}
    provider: iflytek
    robot: "719"
    lines: ["69101338"]
    voice: {{code: "60030"}}
    schedule:
      begin: "2027-03-01T09:00:00+08:00"
      windows: ["09:00-12:00", "13:30-20:00"]
    recall: {{count: 1, wait: 600}}
    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - rows: [["199{i:08d}", "客户{i}"]]
"""


def make_project(directory: Path, campaigns: int) -> Path:
    """A config directory with ``campaigns`` campaigns in one file; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "campaignctl.yaml").write_text(PROJECT, encoding="utf-8")
    body = "version: 1\ncampaigns:\n" + "".join(CAMPAIGN.format(i=i) for i in range(campaigns))
    (directory / "campaigns.yaml").write_text(body, encoding="utf-8")
    return directory


def measure(directory: Path) -> tuple[float, float, int]:
    """(cpu seconds, wall seconds, problems) of one load, the collector paused as validate pauses it."""
    cpu, wall = time.process_time(), time.perf_counter()
    with paused_gc():
        result = load(directory)
    return time.process_time() - cpu, time.perf_counter() - wall, len(result.problems)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", default="1000,3000")
    ap.add_argument("--contacts", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = ap.parse_args()
    rows = []
    figures = []
    for n in (int(c) for c in args.campaigns.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            d = project(Path(tmp), init=False)
            entries = []
            for i in range(n):
                write_csv(d / f"contacts/c{i}.csv", phones(args.contacts, i * args.contacts))
                entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
            campaigns(d, *entries)
            runs = [run(["validate", str(d)], ok=(0,)) for _ in range(args.repeat)]
            size = sum(f.stat().st_size for f in d.rglob("*.yaml") if f.name != "campaignctl.yaml")
            loads = [measure(d) for _ in range(max(1, args.repeat))]
        cpu = statistics.median(r["cpu_s"] for r in runs)
        load_cpu = statistics.median(x[0] for x in loads)
        figures.append({"campaigns": n, "bytes": size, "problems": loads[0][2], "cpu_s": cpu,
                        "wall_s": statistics.median(r["wall_s"] for r in runs),
                        "peak_mb": statistics.median(r["peak_mb"] for r in runs), "load_cpu_s": load_cpu})
        rows.append([f"{n:,}", f"{size / 1e6:.2f} MB", str(loads[0][2]), f"{cpu:.2f}",
                     f"{statistics.median(r['wall_s'] for r in runs):.2f}",
                     f"{statistics.median(r['peak_mb'] for r in runs):.0f}",
                     f"{cpu / max(n, 1) * 1000:.2f}", f"{load_cpu:.2f}"])
    print(f"\nvalidate, one campaign file; {args.contacts} contacts per campaign; median of {args.repeat}\n")
    print(table(["campaigns", "file size", "problems", "CPU s", "wall s", "peak MB", "CPU s per 1,000",
                 "load CPU s"], rows))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
