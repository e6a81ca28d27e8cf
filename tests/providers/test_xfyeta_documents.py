"""The xfyeta client against the newest protocol document (huahuashijiego/openapi_doc, OPENAPI_doc.md, 2022).

``config/v1/query`` lines: ``time_expire`` is a validity length in seconds (-1 permanent), the absolute
expiry is ``real_expiration_time`` (ms) and ``expired`` is 0/1; ``status`` 1 means the line is in use by
a task. Voices may come as ``code``/``name`` besides ``voice_code``/``voice_name``. Checked with the
document's own example answer (over ``httpx.MockTransport``) and with the emulator over loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta, timezone
from typing import Any

import httpx
import pytest

from reconciler.emulator.faults import Clock
from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.xfyeta import XfyetaConfig, XfyetaEmulator, XfyetaLine, XfyetaVoice
from reconciler.model import (
    ContactRow,
    Contacts,
    DesiredCampaign,
    Mark,
    ProviderProfile,
    Schedule,
    Secret,
    TimeWindow,
    Voice,
)
from reconciler.providers.xfyeta import XfyetaProvider

CST = timezone(timedelta(hours=8))
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=CST)
CREDS = {"app_key": Secret("demo-app-key"), "app_secret": Secret("demo-app-secret")}

#: The example answer of 查询配置 in the 2022 document, with voices spelled code/name as some deployments do.
DOCUMENT_CONFIG: dict[str, Any] = {
    "lines": [
        {"line_num": "055169101407", "concurrents": 10, "time_work": ["09:00:00-12:00:00", "13:00:00-17:59:59"],
         "status": 1, "time_apply": 1527321492000, "time_expire": 2592000, "expired": 0,
         "real_expiration_time": 1877203200000},
        {"line_num": "055169101408", "concurrents": 100, "time_work": ["08:00:00-20:00:00"], "status": 0,
         "time_apply": 1527321492000, "time_expire": 2592000, "expired": 0, "real_expiration_time": 1877203200000},
    ],
    "robotTotal": 1,
    "robots": [{"robot_id": "111111", "robot_name": "金融", "call_column": ["客户手机号码", "姓名", "性别"],
                "status": 4, "type": 1, "deleted": 0, "time_create": 1527321492000, "time_update": 1527325092000}],
    "urls": [{"url": "http://your-service.url/receiveCallRecord", "url_module": "receiveCallRecord"}],
    "voices": [{"code": "60020", "name": "春春"}],
}


ROBOT_COLUMNS = ("客户手机号码", "姓名", "性别")


def campaign(name: str, line: str, *, robot: str = "111111", columns: tuple[str, ...] = ROBOT_COLUMNS,
             voice: str | None = "60020", windows: tuple[tuple[int, int], ...] = ((9, 12),)) -> DesiredCampaign:
    row = ContactRow("19900000001", ("19900000001", "张先生", "男")[: len(columns)], "c.csv", 2)
    return DesiredCampaign(
        name=name, provider="iflytek", provider_type="xfyeta", mode="task",
        contacts=Contacts(columns, columns[0], (row,)), robot=robot, lines=(line,),
        voice=Voice(voice) if voice else None,
        schedule=Schedule(begin=NOW + timedelta(days=1),
                          windows=tuple(TimeWindow(time(a), time(b)) for a, b in windows)),
        mark=Mark(f"campaigns/{name}.yaml", 3),
    )


def profile(base_url: str) -> ProviderProfile:
    return ProviderProfile("iflytek", "xfyeta", base_url, credentials_env={"app_key": "K", "app_secret": "S"})


def document_server(config: Mapping[str, Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi/oauth/v1/token":
            token = {"token": "08236d0aeeee4d5b566db5f4adc41a63", "time_expire": 3600}
            return httpx.Response(200, json={"code": 0, "message": "ok", "result": token})
        assert request.url.path == "/openapi/config/v1/query", request.url.path
        assert json.loads(request.content) == {"type": 0}
        return httpx.Response(200, json={"code": 0, "message": "ok", "result": config})

    return httpx.MockTransport(handle)


def check(config: Mapping[str, Any], *campaigns: DesiredCampaign, creating: set[str] | None = None) -> list[Any]:
    p = XfyetaProvider(profile("https://www.xfyeta.com"), credentials=CREDS, transport=document_server(config),
                       wall=lambda: NOW.timestamp())
    try:
        return p.check(list(campaigns), creating=creating)
    finally:
        p.close()


def test_the_documents_own_example_lines_and_voices_plan_cleanly() -> None:
    problems = check(DOCUMENT_CONFIG, campaign("idle", "055169101408"))
    assert problems == []


def test_a_line_in_use_is_a_warning_for_a_campaign_the_plan_creates() -> None:
    problems = check(DOCUMENT_CONFIG, campaign("busy", "055169101407"))
    assert [(p.severity, p.field) for p in problems] == [("warning", "lines")]
    assert "in use" in problems[0].message and "055169101407" in problems[0].message
    assert check(DOCUMENT_CONFIG, campaign("busy", "055169101407"), creating=set()) == []  # no new task


def _line(**fields: Any) -> dict[str, Any]:
    base = {"line_num": "055169101408", "concurrents": 1, "time_work": ["08:00:00-20:00:00"], "status": 0}
    return {**base, **fields}


@pytest.mark.parametrize(("line", "expired"), [
    (_line(time_apply=1527321492000, time_expire=2592000, expired=0, real_expiration_time=1877203200000), False),
    (_line(time_apply=1527321492000, time_expire=2592000, expired=1, real_expiration_time=1877203200000), True),
    (_line(time_apply=1527321492000, time_expire=2592000, expired=0, real_expiration_time=1700000000000), True),
    (_line(time_apply=1527321492000, time_expire=2592000, real_expiration_time=1877203200000), False),
    (_line(time_apply=1527321492000, time_expire=-1), False),  # -1: permanent
    (_line(time_apply=int(NOW.timestamp() * 1000) - 86_400_000, time_expire=2592000), False),  # 29 days left
    (_line(time_apply=1527321492000, time_expire=2592000), True),  # applied 2018 for 30 days
    (_line(), False),  # nothing said: not taken as expired
])
def test_line_expiry_follows_the_document(line: dict[str, Any], expired: bool) -> None:
    problems = check({**DOCUMENT_CONFIG, "lines": [line]}, campaign("c", "055169101408"))
    assert [p.field for p in problems if p.severity == "error"] == (["lines"] if expired else [])
    if expired:
        assert "expired" in problems[0].message and "1970" not in problems[0].message


def test_voices_as_voice_code_or_code() -> None:
    voices = [{"voice_code": "60030", "voice_name": "晓峰"}, {"code": "60020", "name": "春春"}]
    config = {**DOCUMENT_CONFIG, "voices": voices}
    assert check(config, campaign("a", "055169101408", voice="60030"), campaign("b", "055169101408")) == []
    problems = check(config, campaign("c", "055169101408", voice="99999"))
    assert [p.field for p in problems] == ["voice.code"] and "60020, 60030" in problems[0].message


# -- the emulator speaks the same document ----------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[XfyetaEmulator, str]]:
    config = XfyetaConfig(
        robots=XfyetaConfig().robots,
        lines=(
            XfyetaLine("055169101408", ("08:00:00-20:00:00",), time_apply=1527321492000, time_expire=2592000,
                       real_expiration_time=1877203200000),
            XfyetaLine("055169101407", ("09:00:00-18:00:00",), status=1, time_apply=1527321492000,
                       time_expire=2592000, real_expiration_time=1877203200000),
            XfyetaLine("01088880000", ("08:00:00-21:00:00",), time_apply=1_597_408_000_000, time_expire=2592000),
            XfyetaLine("69101338", ("08:00:00-21:00:00",)),
        ),
        voices=(XfyetaVoice("60030", "晓峰"),),
    )
    emu = XfyetaEmulator(config, clock=Clock(start=NOW.timestamp()))
    with EmulatorServer(emu) as server:
        yield emu, server.base_url


def test_emulator_lines_and_voices_are_as_documented(served: tuple[XfyetaEmulator, str]) -> None:
    emu, url = served
    with httpx.Client(base_url=url) as client:
        token = client.post("/openapi/oauth/v1/token", json=dict(emu.config.credentials())).json()["result"]["token"]
        result = client.post("/openapi/config/v1/query", params={"token": token}, json={}).json()["result"]
    lines = {ln["line_num"]: ln for ln in result["lines"]}
    assert set(lines["055169101408"]) == {"line_num", "concurrents", "time_work", "status", "time_apply", "time_expire",
                                          "expired", "real_expiration_time"}
    assert (lines["055169101408"]["expired"], lines["055169101408"]["real_expiration_time"]) == (0, 1877203200000)
    assert lines["055169101407"]["status"] == 1
    assert lines["01088880000"]["expired"] == 1
    assert lines["01088880000"]["real_expiration_time"] == 1_597_408_000_000 + 2592000 * 1000
    assert lines["69101338"]["time_expire"] == -1 and lines["69101338"]["expired"] == 0
    assert result["voices"] == [{"code": "60030", "name": "晓峰"}]


def test_client_checks_the_emulator_lines(served: tuple[XfyetaEmulator, str]) -> None:
    _, url = served
    p = XfyetaProvider(profile(url), credentials=CREDS, wall=lambda: NOW.timestamp())
    cols = ("客户手机号码", "姓名")
    try:
        problems = p.check([campaign("ok", "055169101408", robot="719", columns=cols, voice="60030"),
                            campaign("busy", "055169101407", robot="719", columns=cols, voice="60030"),
                            campaign("old", "01088880000", robot="719", columns=cols, voice="60030")])
    finally:
        p.close()
    got = sorted((p.file.split("/")[-1], p.severity) for p in problems)
    assert got == [("busy.yaml", "warning"), ("old.yaml", "error")]
    assert "expired on 2020-09-13" in next(p.message for p in problems if p.severity == "error")


def test_client_reads_the_emulators_voice_code_spelling_too() -> None:
    emu = XfyetaEmulator(XfyetaConfig(voice_keys="voice_code"), clock=Clock(start=NOW.timestamp()))
    with EmulatorServer(emu) as server:
        p = XfyetaProvider(profile(server.base_url), credentials=CREDS, wall=lambda: NOW.timestamp())
        try:
            ok = campaign("ok", "69101338", robot="719", columns=("客户手机号码", "姓名"), voice="60120")
            assert p.check([ok]) == []
        finally:
            p.close()
