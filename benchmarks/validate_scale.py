"""How long `campaignctl validate` takes on one big campaign file.

    python benchmarks/validate_scale.py [--campaigns 3000] [--repeat 3] [--json FILE]

Writes a project with one campaign file holding N xfyeta task campaigns
(about 370 bytes each: 3,000 make the 1.1 MB file of the issue), then loads
it the way `validate` does (``reconciler.config.load``) ``--repeat`` times
and reports CPU and wall seconds per run, and per 1,000 campaigns. Offline:
no emulator, no network.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.config import load

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
    """(cpu seconds, wall seconds, problems) of one load."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = load(directory)
    return time.process_time() - cpu, time.perf_counter() - wall, len(result.problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = make_project(Path(tmp) / "cfg", args.campaigns)
        size = (d / "campaigns.yaml").stat().st_size
        runs = [measure(d) for _ in range(max(1, args.repeat))]
    best_cpu = min(r[0] for r in runs)
    best_wall = min(r[1] for r in runs)
    print(f"| campaigns | file size | problems | CPU s (best of {len(runs)}) | wall s | CPU s per 1,000 |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.campaigns:,} | {size / 1e6:.2f} MB | {runs[0][2]} | {best_cpu:.2f} | {best_wall:.2f} | "
          f"{best_cpu / max(args.campaigns, 1) * 1000:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"campaigns": args.campaigns, "bytes": size, "cpu_s": best_cpu,
                                         "wall_s": best_wall, "runs": runs}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
