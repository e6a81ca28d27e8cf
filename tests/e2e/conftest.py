"""End-to-end fixtures: emulators over loopback HTTP, config dirs, the CLI in-process."""

from __future__ import annotations

import csv
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.emulator import start_emulator

XF_ENV = {"XFYETA_APP_KEY": "demo-app-key", "XFYETA_APP_SECRET": "demo-app-secret"}
YC_ENV = {"YCCALL_APPID": "demo-appid", "YCCALL_ACCESSKEY": "demo-accesskey"}
MUTATING_XF = ("task/create", "task/insert", "task/start", "task/pause", "task/delete", "task/callout")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, input: str | None = None) -> Result:
    runner = CliRunner()
    with runner.isolation(input=input) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


@pytest.fixture
def xfyeta(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", time_scale=1.0)
    emu.base_url = server.base_url  # type: ignore[attr-defined]
    yield emu
    server.stop()


@pytest.fixture
def yccall(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in YC_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("yccall", time_scale=1.0)
    emu.base_url = server.base_url  # type: ignore[attr-defined]
    yield emu
    server.stop()


def phones(n: int, start: int = 0) -> list[str]:
    """Clearly fake mainland mobile numbers (199 + 8 digits)."""
    return [f"199{i:08d}" for i in range(start, start + n)]


def write_csv(path: Path, numbers: Sequence[str], columns: Sequence[str] = ("客户手机号码", "姓名")) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for i, p in enumerate(numbers):
            w.writerow(([p, f"客户{i}"] + [f"2027-01-{(i % 28) + 1:02d}" for _ in columns[2:]])[: len(columns)])


def project(tmp: Path, *, xf_url: str = "http://127.0.0.1:9", yc_url: str = "http://127.0.0.1:9",
            extra: str = "", init: bool = True) -> Path:
    """A project file wired to the emulators, with its state initialised (``state init``) unless ``init=False``."""
    directory = tmp / "cfg"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "campaignctl.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        timezone: Asia/Shanghai
        providers:
          iflytek:
            type: xfyeta
            base_url: {xf_url}
            app_key_env: XFYETA_APP_KEY
            app_secret_env: XFYETA_APP_SECRET
            name_prefix: "gitops-"
            retries: 2
            read_timeout: 5
          callcenter:
            type: yccall
            base_url: {yc_url}
            appid_env: YCCALL_APPID
            accesskey_env: YCCALL_ACCESSKEY
            retries: 2
            read_timeout: 5
        state:
          backend: sqlite
          path: {tmp / "state.db"}
        """) + extra, encoding="utf-8")
    if init:
        init_state(directory)
    return directory


def init_state(directory: Path) -> None:
    res = run_cli("state", "init", str(directory))
    assert res.exit_code == 0, res.output


def xf_task(name: str, csv_file: str, *, state: str = "running", robot: str = "719", extra: str = "",
            recall: int = 1) -> str:
    return textwrap.dedent(f"""\
      - name: {name}
        provider: iflytek
        robot: "{robot}"
        lines: ["69101338"]
        voice: {{code: "60030"}}
        schedule:
          begin: "2027-03-01T09:00:00+08:00"
          windows: ["09:00-12:00", "13:30-20:00"]
        recall: {{count: {recall}, wait: 600}}
        contacts:
          columns: [客户手机号码, 姓名]
          phone_column: 客户手机号码
          sources:
            - csv: {csv_file}
        state: {state}
    """) + extra


def xf_direct(name: str, csv_file: str, *, state: str = "running") -> str:
    return textwrap.dedent(f"""\
      - name: {name}
        provider: iflytek
        mode: direct
        robot: "719"
        lines: ["69101338"]
        voice: {{code: "60030", speed: 100}}
        contacts:
          columns: [客户手机号码, 姓名]
          phone_column: 客户手机号码
          sources:
            - csv: {csv_file}
        state: {state}
    """)


def yc_task(name: str, csv_file: str, *, state: str = "running") -> str:
    return textwrap.dedent(f"""\
      - name: {name}
        provider: callcenter
        schedule:
          begin: "2027-03-01T09:00:00+08:00"
          end: "2027-03-31T20:00:00+08:00"
        recall: {{count: 1, wait: 3600, mode: unanswered}}
        yccall:
          assign: {{type: extension, agent: "8001"}}
          scale: "1:1"
          scale_mode: auto
          concurrency: 10
          caller_numbers: ["02160000001"]
        contacts:
          columns: [phone]
          phone_column: phone
          sources:
            - csv: {csv_file}
        state: {state}
    """)


def campaigns(directory: Path, *entries: str, file: str = "campaigns/main.yaml") -> None:
    path = directory / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version: 1\ncampaigns:\n" + "".join(entries), encoding="utf-8")


def xf_calls(emu: Any, mutating_only: bool = True) -> Counter[str]:
    out: Counter[str] = Counter()
    for call in emu.calls:
        path = str(call.get("path", ""))
        key = path.split("/v1/")[-1] if "/v1/" in path else path
        if not mutating_only or key in MUTATING_XF:
            out[key] += 1
    return out
