"""`emulator serve` tells what it accepts and knows, and `GET /_emulator/` indexes the control API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _serve(args: list[str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulator", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "control API" in line:
            break
    url = next(ln.split("listening on ")[1] for ln in lines if "listening on" in ln)
    return proc, url, lines


@pytest.mark.parametrize("provider", ["xfyeta", "yccall"])
def test_serve_prints_credentials_and_catalogue_and_indexes_control_api(provider: str, tmp_path: Path) -> None:
    config = tmp_path / "emu.yaml"
    if provider == "xfyeta":
        config.write_text(
            "xfyeta:\n  app_key: k-123\n  app_secret: s-456\n"
            "  robots: [{robot_id: '901', robot_name: 回访, call_column: [手机, 姓名]}]\n"
            "  lines: [{line_num: '5550001', time_work: ['09:00-18:00']}]\n"
            "  voices: [{voice_code: '61001', voice_name: 小燕}]\n", encoding="utf-8")
        expected = ["app_key=k-123", "app_secret=s-456", "robot 901 回访", "line 5550001", "voice 61001 小燕"]
    else:
        config.write_text("yccall:\n  appid: a-1\n  accesskey: b-2\n  extensions: ['8101']\n"
                          "  caller_numbers: ['02161234567']\n", encoding="utf-8")
        expected = ["appid=a-1", "accesskey=b-2", "extensions: 8101", "caller numbers: 02161234567"]
    proc, url, lines = _serve(["--provider", provider, "--config", str(config)])
    try:
        text = "\n".join(lines)
        for piece in expected:
            assert piece in text, text
        index = httpx.get(f"{url}/_emulator/", timeout=5).json()
        assert index["emulator"] == provider
        paths = {(c["method"], c["path"].split("?")[0]) for c in index["control"]}
        assert {("GET", "/_emulator/state"), ("POST", "/_emulator/reset"), ("POST", "/_emulator/faults")} <= paths
        # every listed GET endpoint answers (no stale entry in the index)
        for c in index["control"]:
            if c["method"] == "GET":
                assert httpx.get(url + c["path"].split("?")[0], timeout=5).status_code == 200, c
    finally:
        proc.terminate()
        proc.wait(timeout=10)
