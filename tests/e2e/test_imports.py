"""What a command imports is part of its start-up time (issue 11): validate loads no vendor or state code,
and an apply sends through http.client, so httpcore and h11 are never loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import XF_ENV, campaigns, phones, project, write_csv, xf_task

PROBE = """
import json, sys
before = set(sys.modules)  # what the interpreter's start-up (site, .pth files) loaded: not the command's
from reconciler.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, fh)
"""


def imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """The exit code of ``campaignctl ARGS`` in a fresh interpreter, and the modules the command loaded."""
    out = tmp_path / "probe.json"
    env = {**os.environ, **XF_ENV, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", PROBE, str(out), *args], env=env, check=False, capture_output=True,
                   timeout=120)
    found = json.loads(out.read_text())
    return int(found["code"] or 0), set(found["modules"])


def loaded(modules: set[str], *names: str) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_validate_loads_no_vendor_state_or_crash_report_code(tmp_path: Path) -> None:
    d = project(tmp_path, init=False)
    write_csv(d / "contacts/a.csv", phones(5))
    campaigns(d, xf_task("a", "../contacts/a.csv"))
    code, modules = imported(tmp_path, "validate", str(d))
    assert code == 0
    assert loaded(modules, "httpx", "httpcore", "h11", "sqlite3", "psycopg", "reconciler.providers",
                  "reconciler.state", "reconciler.engine.apply", "traceback", "importlib.resources") == []


def test_an_apply_sends_through_http_client_not_httpcore(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(5))
    campaigns(d, xf_task("a", "../contacts/a.csv"))
    code, modules = imported(tmp_path, "apply", str(d), "--auto-approve")
    assert code == 0
    assert "http.client" in modules and "reconciler.providers.httpclient" in modules
    assert loaded(modules, "httpcore", "h11") == []
    assert any(str(c["path"]).endswith("/task/start") for c in xfyeta.calls)
