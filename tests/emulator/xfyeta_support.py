"""Helpers for the xfyeta emulator tests: a started emulator plus a plain httpx client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from reconciler.emulator.faults import Clock
from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.xfyeta import XfyetaConfig, XfyetaEmulator

SH = ZoneInfo("Asia/Shanghai")
# Monday 2027-03-01 08:00:00 in Shanghai: before the usual 09:00 windows.
T0 = datetime(2027, 3, 1, 8, 0, 0, tzinfo=SH).timestamp()
T0_MS = int(T0 * 1000)
KEY = "demo-app-key"
SECRET = "demo-app-secret"
COLUMNS = ["客户手机号码", "姓名"]
TEST_TOKEN = "test-fixed-token"


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """A Shanghai wall time as ms epoch."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=SH).timestamp() * 1000)


def rows(n: int, start: int = 0) -> list[list[str]]:
    """``n`` distinct mobile numbers with a name column."""
    return [[f"139{i:08d}", f"客户{i}"] for i in range(start, start + n)]


@dataclass
class Xf:
    emu: XfyetaEmulator
    server: EmulatorServer
    client: httpx.Client
    _token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.fetch_token()
        return self._token

    def fetch_token(self) -> str:
        data = self.client.post("/openapi/oauth/v1/token", json={"app_key": KEY, "app_secret": SECRET}).json()
        assert data["code"] == 0, data
        return str(data["result"]["token"])

    def path(self, op: str) -> str:
        if op.startswith("/"):
            return op
        if op == "config":
            return "/openapi/config/v1/query"
        return f"/openapi/outbound/v1/{op}"

    def post(self, op: str, body: Any, token: str | None = None) -> httpx.Response:
        return self.client.post(self.path(op), params={"token": token or self.token}, json=body)

    def call(self, op: str, body: Any, token: str | None = None) -> dict[str, Any]:
        r = self.post(op, body, token)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        data: dict[str, Any] = r.json()
        assert set(data) == {"code", "message", "result"}, data
        return data

    def ok(self, op: str, body: Any) -> Any:
        data = self.call(op, body)
        assert data["code"] == 0, data
        assert data["message"] == "ok"
        return data["result"]

    def code(self, op: str, body: Any) -> int:
        return int(self.call(op, body)["code"])

    def create(self, **overrides: Any) -> str:
        body: dict[str, Any] = {
            "task_name": "gitops-spring", "line_num": "69101338", "robot_id": "719",
            "time_range": ["09:00:00-12:00:00", "13:30:00-20:00:00"], "time_begin": T0_MS,
        }
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        return str(self.ok("task/create", body)["task_id"])

    def insert(self, task_id: str, data: list[list[str]], columns: list[str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("task/insert", {"task_id": task_id, "call_column": columns or COLUMNS,
                                                         "call_list": data})
        return result

    def row(self, task_id: str) -> dict[str, Any]:
        result = self.ok("task/query", {"task_id": task_id, "show_remaining": True})
        assert result["total_rows"] == 1, result
        row: dict[str, Any] = result["rows"][0]
        return row

    def advance(self, seconds: float) -> None:
        r = self.client.post("/_emulator/advance", json={"seconds": seconds})
        assert r.status_code == 200


@contextmanager
def running(config: XfyetaConfig | None = None, *, start: float = T0, time_scale: float = 1.0,
            faults: str | None = None, token: str | None = TEST_TOKEN) -> Iterator[Xf]:
    """An emulator on a free loopback port with its clock at ``start``, and a client using a fixed token."""
    emu = XfyetaEmulator(config, time_scale=time_scale, faults=faults, token=token,
                         clock=Clock(time_scale=time_scale, start=start))
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield Xf(emu, server, client, token)
