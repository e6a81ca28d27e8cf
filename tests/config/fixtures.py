"""Write small config directories for the config tests (like pre-commit's testing/fixtures.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from reconciler.config import LoadResult, load
from reconciler.errors import Problem

PROJECT = """\
version: 1
timezone: Asia/Shanghai
providers:
  iflytek:
    type: xfyeta
    base_url: https://www.xfyeta.com
    app_key_env: XFYETA_APP_KEY
    app_secret_env: XFYETA_APP_SECRET
  callcenter:
    type: yccall
    base_url: http://127.0.0.1:8080
    appid_env: YCCALL_APPID
    accesskey_env: YCCALL_ACCESSKEY
"""

XF_TASK = """\
version: 1
campaigns:
  - name: spring
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
        - rows: [["19900000001", "张先生"]]
"""

YC_TASK = """\
version: 1
campaigns:
  - name: follow
    provider: callcenter
    yccall:
      assign: {type: extension, agent: "8001"}
    contacts:
      columns: [phone, userid]
      phone_column: phone
      sources:
        - rows: [["17000000001", "u1"]]
"""


def write(root: Path, files: Mapping[str, str | bytes], *, project: str | None = PROJECT) -> Path:
    """Create ``root`` with the project file (unless None or overridden) and ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    if project is not None and "campaignctl.yaml" not in files:
        (root / "campaignctl.yaml").write_text(project, encoding="utf-8")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def load_files(root: Path, files: Mapping[str, str | bytes], **kwargs: str | None) -> LoadResult:
    return load(write(root, files, **kwargs))  # type: ignore[arg-type]


def errors(result: LoadResult) -> list[Problem]:
    return [p for p in result.problems if p.severity == "error"]


def located(result: LoadResult, root: Path) -> list[tuple[str, int, str]]:
    """(file relative to root, line, field) of every error."""
    out = []
    for p in errors(result):
        try:
            rel = Path(p.file).relative_to(root).as_posix()
        except ValueError:
            rel = p.file
        out.append((rel, p.line, p.field))
    return out
