"""`campaignctl emulator serve` as a real subprocess: listens, answers, stops on SIGINT."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reconciler.emulator import start_emulator
from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.xfyeta import XfyetaEmulator

LISTENING = re.compile(r"^xfyeta emulator listening on (http://127\.0\.0\.1:(\d+))$")


def _command() -> list[str]:
    exe = shutil.which("campaignctl")
    return [exe] if exe else [sys.executable, "-m", "reconciler"]


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([*_command(), "emulator", "serve", "--provider", "xfyeta", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        match = LISTENING.match(line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        assert int(match.group(2)) > 0
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_cli_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    with serving("--token", "cli-token", "--time-scale", "60", cwd=tmp_path) as (proc, url):
        with httpx.Client(base_url=url, timeout=10) as client:
            r = client.post("/openapi/oauth/v1/token", json={"app_key": "demo-app-key",
                                                               "app_secret": "demo-app-secret"})
            assert r.json()["code"] == 0
            r = client.post("/openapi/config/v1/query", params={"token": "cli-token"}, json={"type": 4})
            assert r.json()["code"] == 0
            assert len(r.json()["result"]["voices"]) == 2
            assert len(client.get("/_emulator/calls").json()["calls"]) == 2
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "cli-token" not in out + err


def test_cli_applies_fault_spec_and_config_file(tmp_path: Path) -> None:
    config = tmp_path / "emu.json"
    config.write_text(json.dumps({"xfyeta": {"app_key": "k2", "app_secret": "s2",
                                             "voices": [{"voice_code": "1", "voice_name": "v"}]}}),
                      encoding="utf-8")
    with serving("--faults", "token:error:10004", "--config", str(config), cwd=tmp_path) as (proc, url):
        with httpx.Client(base_url=url, timeout=10) as client:
            body = {"app_key": "k2", "app_secret": "s2"}
            assert client.post("/openapi/oauth/v1/token", json=body).json()["code"] == 10004
            token = client.post("/openapi/oauth/v1/token", json=body).json()["result"]["token"]
            r = client.post("/openapi/config/v1/query", params={"token": token}, json={"type": 4})
            assert r.json()["result"]["voices"] == [{"code": "1", "name": "v"}]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def test_cli_rejects_bad_fault_spec_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run([*_command(), "emulator", "serve", "--provider", "xfyeta", "--port", "0",
                             "--faults", "task/create:explode"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=30)
    assert result.returncode == 1
    assert "unknown kind 'explode'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"robots": [{"robot_id": "1"}], "nope": 1}', encoding="utf-8")
    missing = tmp_path / "missing.json"
    for path, needle in ((bad, "nope"), (missing, "cannot read")):
        result = subprocess.run([*_command(), "emulator", "serve", "--provider", "xfyeta", "--config", str(path)],
                                capture_output=True, text=True, cwd=tmp_path, timeout=30)
        assert result.returncode == 1, result.stderr
        assert needle in result.stderr
        assert "Traceback" not in result.stderr


def test_start_emulator_helper() -> None:
    emu, server = start_emulator("xfyeta", token="t", time_scale=2.0)
    try:
        assert isinstance(emu, XfyetaEmulator)
        assert isinstance(server, EmulatorServer)
        r = httpx.post(f"{server.base_url}/openapi/config/v1/query", params={"token": "t"}, json={"type": 2})
        assert r.json()["code"] == 0
        assert emu.clock.time_scale == 2.0
    finally:
        server.stop()
