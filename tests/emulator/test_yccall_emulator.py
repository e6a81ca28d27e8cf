"""The yccall emulator over real loopback HTTP, with plain httpx (no provider code)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.yccall import YccallConfig, YccallEmulator

CREATE = "App.Sip_Yccall.TaskCreat"
ADD = "App.Sip_Yccall.TaskAdd"
DEL = "App.Sip_Yccall.taskDelPhone"
SET = "App.Sip_Yccall.TaskSet"
LIST = "App.Sip_Yccall.TaskList"
INFO = "App.Sip_Yccall.TaskInfo"


class Api:
    """A thin form-POST client for the tests."""

    def __init__(self, client: httpx.Client, emu: YccallEmulator) -> None:
        self.client = client
        self.emu = emu
        self.token = ""

    def raw(self, service: str, multipart: bool = False, **fields: Any) -> httpx.Response:
        form = {"service": service, **{k: str(v) for k, v in fields.items()}}
        if multipart:
            return self.client.post("/", files={k: (None, v) for k, v in form.items()})
        return self.client.post("/", data=form)

    def call(self, service: str, multipart: bool = False, **fields: Any) -> dict[str, Any]:
        if "token" not in fields and not service.startswith("App.Sip_Auth."):
            fields["token"] = self.token
        response = self.raw(service, multipart=multipart, **fields)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def ok(self, service: str, **fields: Any) -> Any:
        body = self.call(service, **fields)
        assert body["ret"] == 200, body
        assert body["data"]["status"] == 0, body
        return body["data"]["result"]

    def login(self) -> str:
        self.token = self.ok("App.Sip_Auth.Login", appid="demo-appid", accesskey="demo-accesskey")["token"]
        return self.token

    def create(self, phones: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
        entries = [{"phone": p} for p in (phones if phones is not None else ["13800000001", "13800000002"])]
        base: dict[str, Any] = {"assigntype": 1, "assignagent": "8001", "telphone": json.dumps(entries),
                                "taskscale": "1:1"}
        base.update(fields)
        result: dict[str, Any] = self.ok(CREATE, **base)
        return result

    def task_row(self, taskid: str) -> dict[str, Any]:
        rows = self.ok(LIST, taskid=taskid)["task"]
        assert len(rows) == 1
        row: dict[str, Any] = rows[0]
        return row


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[YccallEmulator, httpx.Client]]:
    """One server and client per module (cheap tests); every test starts from ``reset()``."""
    emulator = YccallEmulator()
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield emulator, client


@pytest.fixture
def emu(served: tuple[YccallEmulator, httpx.Client]) -> YccallEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def api(emu: YccallEmulator, served: tuple[YccallEmulator, httpx.Client]) -> Api:
    a = Api(served[1], emu)
    a.login()
    return a


def phones(n: int, start: int = 13_800_000_000) -> list[str]:
    return [str(start + i) for i in range(n)]


# ------------------------------------------------------------------ auth
def test_login_returns_token_and_company(api: Api) -> None:
    result = api.ok("App.Sip_Auth.Login", appid="demo-appid", accesskey="demo-accesskey")
    assert result["companycode"] == "demo-company"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", result["authtime"])
    assert result["token"] and result["token"] != api.token  # a fresh token per login


def test_login_failures(api: Api) -> None:
    assert api.call("App.Sip_Auth.Login", appid="nope", accesskey="demo-accesskey")["ret"] == 601
    body = api.call("App.Sip_Auth.Login", appid="demo-appid", accesskey="wrong")
    assert body["ret"] == 200 and body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1003"
    body = api.call("App.Sip_Auth.Login", appid="demo-appid")
    assert body["ret"] == 400 and "accesskey" in body["msg"] and body["data"] == []


def test_token_checks_and_expiry_after_12_hours(api: Api, emu: YccallEmulator) -> None:
    assert api.call(LIST, token="")["ret"] == 400
    assert api.call(LIST, token="forged")["ret"] == 600
    assert api.call(LIST)["ret"] == 200
    emu.advance(11 * 3600)
    assert api.call(LIST)["ret"] == 200
    emu.advance(3600 + 1)
    body = api.call(LIST)
    assert body["ret"] == 600 and body["msg"]
    api.login()
    assert api.call(LIST)["ret"] == 200


def test_logout_invalidates_the_token_it_is_given(api: Api) -> None:
    other = api.ok("App.Sip_Auth.Login", appid="demo-appid", accesskey="demo-accesskey")["token"]
    api.ok("App.Sip_Auth.Logout", token=api.token)  # Logout takes only the token
    assert api.call(LIST)["ret"] == 600
    assert api.call(LIST, token=other)["ret"] == 200
    assert api.call("App.Sip_Auth.Logout", token=api.token)["ret"] == 600


def test_ready_token_is_accepted() -> None:
    emu = YccallEmulator(token="ready-token")
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        body = client.post("/", data={"service": LIST, "token": "ready-token"}).json()
        assert body["ret"] == 200
        emu.advance(48 * 3600)
        assert client.post("/", data={"service": LIST, "token": "ready-token"}).json()["ret"] == 200
        emu.expire_tokens()
        assert client.post("/", data={"service": LIST, "token": "ready-token"}).json()["ret"] == 600


def test_unknown_service_and_non_post(api: Api) -> None:
    body = api.call("App.Sip_Yccall.TaskCreate")  # with an "e": not the vendor's spelling
    assert body["ret"] == 400 and "TaskCreate" in body["msg"]
    assert api.call("")["ret"] == 400
    assert api.client.get("/", params={"service": LIST, "token": api.token}).json()["ret"] == 400


# ------------------------------------------------------------------ TaskCreat
def test_create_form_and_multipart_with_every_field(api: Api, emu: YccallEmulator) -> None:
    entries = [
        {"phone": 13800000001, "time": 4_000_000_000, "userid": "u1", "memberid": "m1", "customuuid": "c1",
         "ext": "e1"},
        {"phone": "13800000002", "userid": 7},
        {"phone": "12-34"},
        {"nophone": True},
        "13800000003",
        {"phone": "13800000001"},
    ]
    fields: dict[str, Any] = dict(assigntype=2, assignagent="queue-1", telphone=json.dumps(entries), taskscale="1:2",
                  concurrent=5, scheduledtime="2030-01-01 09:00:00", pausedtime="2030-01-01 18:00:00",
                  isscale="manual", disnumber="02160000001,02160000002", taskname="春季", status=0,
                  customtaskid="gitops-spring", is_multi_call=1, multi_call_type=1, multi_call_max_rounds=2,
                  multi_call_interval=600)
    for multipart in (False, True):
        body = api.call(CREATE, multipart=multipart, **fields)
        assert body["ret"] == 200 and body["data"]["status"] == 0, body
        result = body["data"]["result"]
        assert re.fullmatch(r"\d{20}", result["taskid"])
        invalid = result["invaliddata"]
        assert [i["phone"] for i in invalid] == ["12-34", "", "13800000003", "13800000001"]
        assert all(set(i) == {"phone", "reason"} and i["reason"] for i in invalid)
        row = api.task_row(result["taskid"])
        assert row["status"] == 1025 and row["total"] == 2 and row["called"] == 0
        assert row["customtaskid"] == "gitops-spring" and row["taskname"] == "春季"
        assert row["scheduledtime"] == "2030-01-01 09:00:00" and row["pausedtime"] == "2030-01-01 18:00:00"
        assert row["taskassign"] == "queue-1" and row["disnumber"] == "02160000001,02160000002"
        assert row["concurrent"] == 5 and row["is_multi_call"] == 1 and row["multi_call_max_rounds"] == 2
        info = api.ok(INFO, taskid=result["taskid"])["result"]
        first = next(n for n in info if n["telphone"] == "13800000001")
        assert (first["userid"], first["memberid"], first["customuuid"], first["chengshudu"]) == (
            "u1", "m1", "c1", "e1")
        assert next(n for n in info if n["telphone"] == "13800000002")["userid"] == "7"
    assert len(emu.state()["tasks"]) == 2


@pytest.mark.parametrize("missing", ["assigntype", "assignagent", "telphone", "taskscale"])
def test_create_missing_required_field_is_illegal_request(api: Api, emu: YccallEmulator, missing: str) -> None:
    fields: dict[str, Any] = dict(assigntype=1, assignagent="8001", telphone=json.dumps([{"phone": "13800000001"}]),
                  taskscale="1:1")
    del fields[missing]
    body = api.call(CREATE, **fields)
    assert body["ret"] == 400 and missing in body["msg"] and body["data"] == []
    assert emu.state()["tasks"] == []


@pytest.mark.parametrize(("field", "value"), [
    ("assigntype", "x"), ("assigntype", "4"), ("taskscale", "1-1"), ("taskscale", "abc"),
    ("telphone", "not json"), ("telphone", "{}"), ("telphone", "[]"), ("concurrent", "0"),
    ("scheduledtime", "2030/01/01 09:00"), ("pausedtime", "2030-13-45 99:00:00"), ("isscale", "fixed"),
    ("status", "2"), ("is_multi_call", "2"), ("multi_call_type", "3"), ("multi_call_max_rounds", "0"),
    ("multi_call_interval", "-5"), ("customtaskid", "x" * 65),
])
def test_create_ill_formed_field_is_illegal_request(api: Api, emu: YccallEmulator, field: str, value: str) -> None:
    fields: dict[str, Any] = dict(assigntype="1", assignagent="8001", telphone=json.dumps([{"phone": "13800000001"}]),
                  taskscale="1:1")
    fields[field] = value
    body = api.call(CREATE, **fields)
    assert body["ret"] == 400 and field in body["msg"], body
    assert emu.state()["tasks"] == []


@pytest.mark.parametrize(("fields", "code"), [
    ({"assigntype": 1, "assignagent": "9999"}, "1012"),
    ({"assigntype": 1, "assignagent": "8001,9999"}, "1012"),
    ({"assigntype": 2, "assignagent": "8001"}, "1002"),
    ({"assigntype": 3, "assignagent": "nosuchgroup"}, "1002"),
    ({"disnumber": "02160000001,999"}, "1002"),
    ({"scheduledtime": "2030-01-02 09:00:00", "pausedtime": "2030-01-01 09:00:00"}, "1002"),
])
def test_create_business_errors(api: Api, emu: YccallEmulator, fields: dict[str, Any], code: str) -> None:
    base: dict[str, Any] = dict(assigntype=1, assignagent="8001", telphone=json.dumps([{"phone": "13800000001"}]),
                                taskscale="1:1")
    base.update(fields)
    body = api.call(CREATE, **base)
    assert body["ret"] == 200 and body["data"]["status"] == 1
    assert body["data"]["errors"]["code"] == code and body["data"]["desc"]
    assert emu.state()["tasks"] == []


def test_group_and_multi_agent_assignment(api: Api) -> None:
    assert api.create(assigntype=3, assignagent="sales")["taskid"]
    assert api.create(assigntype=1, assignagent="8001,8002")["taskid"]


def test_create_number_limit(api: Api, emu: YccallEmulator) -> None:
    result = api.create(phones(10_000))
    assert result["invaliddata"] == []
    assert api.ok(INFO, taskid=result["taskid"])["totalitems"] == 10_000
    body = api.call(CREATE, assigntype=1, assignagent="8001", taskscale="1:1",
                    telphone=json.dumps([{"phone": p} for p in phones(10_001)]))
    assert body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1002"
    assert len(emu.state()["tasks"]) == 1


def test_duplicate_customtaskid_creates_a_second_task(api: Api) -> None:
    first = api.create(customtaskid="gitops-dup")["taskid"]
    second = api.create(customtaskid="gitops-dup")["taskid"]
    assert first != second
    rows = api.ok(LIST, customtaskid="gitops-dup")["task"]
    assert [r["taskid"] for r in rows] == [second, first]  # newest first


# ------------------------------------------------------------------ TaskAdd / taskDelPhone
def test_task_add_reports_success_and_invalid(api: Api) -> None:
    taskid = api.create(["13800000001"])["taskid"]
    result = api.ok(ADD, taskid=taskid, telphone=json.dumps(
        [{"phone": "13800000001"}, {"phone": 13800000002, "chengshudu": "A"}, {"phone": "x"}]))
    assert result["success"] == 1
    assert result["invaliddata"] == [{"phone": "13800000001", "reason": "重复号码"},
                                     {"phone": "x", "reason": "号码格式错误"}]
    info = api.ok(INFO, taskid=taskid)
    assert info["totalitems"] == 2 and info["result"][1]["chengshudu"] == "A"


def test_task_add_limits_and_states(api: Api) -> None:
    taskid = api.create(["13800000001"])["taskid"]
    assert api.ok(ADD, taskid=taskid, telphone=json.dumps([{"phone": p} for p in phones(10_000, 13_900_000_000)])
                  )["success"] == 10_000
    body = api.call(ADD, taskid=taskid, telphone=json.dumps([{"phone": p} for p in phones(10_001)]))
    assert body["data"]["errors"]["code"] == "1002"
    body = api.call(ADD, taskid="00000000000000000000", telphone=json.dumps([{"phone": "13800000009"}]))
    assert body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1024"  # no such task
    assert api.call(ADD, taskid=taskid)["ret"] == 400
    for action in (1, 2):  # running, paused: still accepted
        api.ok(SET, taskid=taskid, taskstatus=action)
        assert api.ok(ADD, taskid=taskid, telphone=json.dumps([{"phone": f"1370000000{action}"}]))["success"] == 1
    api.ok(SET, taskid=taskid, taskstatus=3)
    body = api.call(ADD, taskid=taskid, telphone=json.dumps([{"phone": "13700000009"}]))
    assert body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1003"


def test_del_phone(api: Api) -> None:
    taskid = api.create(["13800000001", "13800000002", "13800000003"])["taskid"]
    body = api.call(DEL, taskid=taskid, telphone="13800000001,13800000003,13899999999")
    assert body["data"]["status"] == 0 and "2" in body["data"]["desc"]
    info = api.ok(INFO, taskid=taskid)
    assert [n["telphone"] for n in info["result"]] == ["13800000002"]
    assert api.call(DEL, taskid=taskid, telphone=",")["ret"] == 400
    api.ok(SET, taskid=taskid, taskstatus=3)
    assert api.call(DEL, taskid=taskid, telphone="13800000002")["data"]["errors"]["code"] == "1003"


# ------------------------------------------------------------------ status machine
def test_status_machine_and_dialing(api: Api, emu: YccallEmulator) -> None:
    taskid = api.create(phones(300), concurrent=10)["taskid"]
    emu.advance(600)
    assert api.task_row(taskid)["called"] == 0  # not started: nothing dialed
    api.ok(SET, taskid=taskid, taskstatus=1)
    row = api.task_row(taskid)
    assert row["status"] == 1026 and row["starttime"]
    emu.advance(60)  # 10 slots per 60 s
    assert 10 <= api.task_row(taskid)["called"] <= 11
    api.ok(SET, taskid=taskid, taskstatus=2)
    emu.advance(600)
    row = api.task_row(taskid)
    assert row["status"] == 1027 and 10 <= row["called"] <= 11
    api.ok(SET, taskid=taskid, taskstatus=2)  # repeated pause: no-op
    api.ok(SET, taskid=taskid, taskstatus=1)
    api.ok(SET, taskid=taskid, taskstatus=1)  # repeated start: no-op
    emu.advance(29 * 60)
    row = api.task_row(taskid)
    assert row["status"] == 1028 and row["called"] == 300 and 0 < row["answered"] < 300
    info = api.ok(INFO, taskid=taskid, itemsperpage=500)
    assert {n["status"] for n in info["result"]} == {1036}
    assert info["itemsperpage"] == 100  # clamped to the emulator's maximum
    body = api.call(SET, taskid=taskid, taskstatus=1)
    assert body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1003"


def test_taskset_end_is_final_and_validated(api: Api) -> None:
    taskid = api.create()["taskid"]
    api.ok(SET, taskid=taskid, taskstatus=2)  # pause before start: stays not started
    assert api.task_row(taskid)["status"] == 1025
    assert api.call(SET, taskid=taskid, taskstatus=5)["ret"] == 400
    assert api.call(SET, taskid=taskid)["ret"] == 400
    api.ok(SET, taskid=taskid, taskstatus=3)
    assert api.task_row(taskid)["status"] == 1028
    for action in (1, 2, 3):
        assert api.call(SET, taskid=taskid, taskstatus=action)["data"]["errors"]["code"] == "1003"
    assert api.call(SET, taskid="1", taskstatus=1)["data"]["errors"]["code"] == "1024"  # no such task


def test_create_with_status_1_starts_and_scheduledtime_delays(api: Api, emu: YccallEmulator) -> None:
    assert api.task_row(api.create(status=1)["taskid"])["status"] == 1026
    later = emu.state()["now"] + 7200
    from datetime import datetime
    from zoneinfo import ZoneInfo
    sched = datetime.fromtimestamp(later, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    taskid = api.create(status=1, scheduledtime=sched)["taskid"]
    emu.advance(3600)
    row = api.task_row(taskid)
    assert row["status"] == 1026 and row["called"] == 0
    emu.advance(3700)
    assert api.task_row(taskid)["status"] == 1028


def test_pausedtime_ends_the_run(api: Api, emu: YccallEmulator) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    deadline = datetime.fromtimestamp(emu.state()["now"] + 120, ZoneInfo("Asia/Shanghai"))
    taskid = api.create(phones(1000), status=1, concurrent=1,
                        pausedtime=deadline.strftime("%Y-%m-%d %H:%M:%S"))["taskid"]
    emu.advance(3600)
    row = api.task_row(taskid)
    assert row["status"] == 1028 and 1 <= row["called"] <= 4
    assert next(t for t in emu.state()["tasks"] if t["taskid"] == taskid)["endtype"] == "timeout"


def test_number_deadline_skips_expired_numbers(api: Api, emu: YccallEmulator) -> None:
    now = int(emu.state()["now"])
    entries = [{"phone": "13800000001", "time": now - 10}, {"phone": "13800000002", "time": now + 10_000}]
    taskid = api.ok(CREATE, assigntype=1, assignagent="8001", taskscale="1:1", telphone=json.dumps(entries),
                    status=1)["taskid"]
    emu.advance(600)
    info = {n["telphone"]: n for n in api.ok(INFO, taskid=taskid)["result"]}
    assert info["13800000001"]["status"] == 1035 and info["13800000001"]["answertype"] == "expired"
    assert info["13800000002"]["status"] == 1036


@pytest.mark.parametrize(("multi_type", "rounds"), [(1, 2), (2, 1)])
def test_multi_call_rounds(api: Api, emu: YccallEmulator, multi_type: int, rounds: int) -> None:
    taskid = api.create(phones(50), status=1, is_multi_call=1, multi_call_type=multi_type,
                        multi_call_max_rounds=rounds, multi_call_interval=600)["taskid"]
    emu.advance(120)
    row = api.task_row(taskid)
    assert row["status"] == 1026 and row["called"] == 50  # first round done, waiting for the redial
    emu.advance(600 * rounds + 600)
    assert api.task_row(taskid)["status"] == 1028
    numbers = next(t for t in emu.state()["tasks"] if t["taskid"] == taskid)["numbers"]
    dials = sum(n["dials"] for n in numbers)
    if multi_type == 1:
        assert dials == 50 * (rounds + 1)
    else:
        assert 50 < dials < 100  # only the unanswered ones again
        assert all(n["answered"] == 1 for n in numbers if n["dials"] == 1)  # answered first time: not redialed
        assert all(n["dials"] == 2 for n in numbers if n["dials"] > 1)


def test_call_records_are_json_callback_bodies_one_per_dial(api: Api, emu: YccallEmulator) -> None:
    entries = [{"phone": p, "customuuid": f"u-{p[-2:]}", "ext": "x"} for p in phones(20)]
    taskid = api.create(status=1, is_multi_call=1, multi_call_type=1, multi_call_max_rounds=1,
                        multi_call_interval=600, telphone=json.dumps(entries))["taskid"]
    emu.advance(600 * 3)
    records = emu.call_records()
    assert len(records) == 40 and {r["round"] for r in records} == {1, 2}
    keys = {"taskid", "round", "callmethod", "telphone", "customuuid", "ext", "chengshudu", "hangupcause",
            "hangupdirection", "recordurl", "recordfilename", "downloadip"}
    assert all(set(r) == keys and r["taskid"] == taskid and r["callmethod"] == 5 for r in records)
    assert {r["customuuid"] for r in records} == {e["customuuid"] for e in entries}
    assert json.loads(json.dumps(records)) == records  # posted as a JSON body, not a form field
    answered = [r for r in records if r["recordfilename"]]
    assert answered and all(r["hangupcause"] == "NORMAL_CLEARING" for r in answered)
    via_http = api.client.get("/_emulator/call-records", params={"since": 38}).json()["records"]
    assert via_http == records[38:]


# ------------------------------------------------------------------ TaskList / TaskInfo
def test_task_list_filters_and_paging(api: Api, emu: YccallEmulator) -> None:
    ids = [api.create(taskname=f"gitops-t{i}", customtaskid=f"gitops-t{i}")["taskid"] for i in range(5)]
    api.ok(SET, taskid=ids[0], taskstatus=1)
    api.ok(SET, taskid=ids[1], taskstatus=1)
    api.ok(SET, taskid=ids[1], taskstatus=2)
    api.ok(SET, taskid=ids[2], taskstatus=3)
    assert {r["taskid"] for r in api.ok(LIST, status=0)["task"]} == {ids[3], ids[4]}
    assert [r["taskid"] for r in api.ok(LIST, status=2)["task"]] == [ids[1]]
    assert [r["taskid"] for r in api.ok(LIST, status=3)["task"]] == [ids[2]]
    assert api.call(LIST, status=1025)["ret"] == 400  # filter codes are 0..3, not the row codes
    assert {r["taskid"] for r in api.ok(LIST, taskid=f"{ids[0]},{ids[4]}")["task"]} == {ids[0], ids[4]}
    assert [r["taskid"] for r in api.ok(LIST, customtaskid="gitops-t3")["task"]] == [ids[3]]
    assert len(api.ok(LIST, taskname="gitops-t")["task"]) == 5  # substring match
    page = api.ok(LIST, currentpage=2, itemsperpage=2)
    assert page["totalitems"] == 5 and page["currentpage"] == 2 and page["itemsperpage"] == 2
    assert [r["taskid"] for r in page["task"]] == [ids[2], ids[1]]  # newest first
    assert api.ok(LIST)["itemsperpage"] == 20
    assert len(api.ok(LIST, createtime="2000-01-01 00:00:00")["task"]) == 5
    assert api.ok(LIST, endtime="2000-01-01 00:00:00")["task"] == []
    assert api.call(LIST, createtime="yesterday")["ret"] == 400
    assert api.call(LIST, currentpage="x")["ret"] == 400


def test_task_info_paging_and_unknown_task(api: Api) -> None:
    taskid = api.create(phones(25))["taskid"]
    page = api.ok(INFO, taskid=taskid, currentpage=3, itemsperpage=10)
    assert page["totalitems"] == 25 and len(page["result"]) == 5
    assert page["result"][0]["telphone"] == "13800000020" and page["result"][0]["status"] == 1035
    assert api.call(INFO, taskid="nope")["data"]["errors"]["code"] == "1024"
    assert api.call(INFO)["ret"] == 400


def test_lookup_services(api: Api) -> None:
    assert [e["extnumber"] for e in api.ok("App.Sip_Sipnum.GetSipnumberInfo", status="1")] == ["8001", "8002"]
    assert [q["queuename"] for q in api.ok("App.Sip_Queue.GetQueueList")] == ["queue-1"]
    assert [d["disnumber"] for d in api.ok("App.Sip_Disnum.GetDisnumberInfo", autocall="2")] == [
        "02160000001", "02160000002"]


# ------------------------------------------------------------------ faults
def test_drop_on_create_still_creates_the_task(api: Api, emu: YccallEmulator) -> None:
    emu.faults.add(f"{CREATE}:drop")
    with pytest.raises(httpx.TransportError):
        api.raw(CREATE, token=api.token, assigntype=1, assignagent="8001", taskscale="1:1",
                telphone=json.dumps([{"phone": "13800000001"}]), customtaskid="gitops-lost")
    rows = api.ok(LIST, customtaskid="gitops-lost")["task"]
    assert len(rows) == 1
    call = emu.calls_to(CREATE)[0]
    assert call["fault"] == "drop" and call["status"] is None


def test_status_429_and_error_faults_change_nothing(api: Api, emu: YccallEmulator) -> None:
    emu.faults.add(f"{CREATE}:status:503,{CREATE}:429:7,{CREATE}:error:1003,{CREATE}:error:600")
    fields: dict[str, Any] = dict(token=api.token, assigntype=1, assignagent="8001", taskscale="1:1",
                  telphone=json.dumps([{"phone": "13800000001"}]))
    assert api.raw(CREATE, **fields).status_code == 503
    r = api.raw(CREATE, **fields)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    body = api.raw(CREATE, **fields).json()
    assert body["ret"] == 200 and body["data"]["status"] == 1 and body["data"]["errors"]["code"] == "1003"
    assert api.raw(CREATE, **fields).json()["ret"] == 600
    assert emu.state()["tasks"] == []
    assert api.raw(CREATE, **fields).json()["data"]["status"] == 0  # faults consumed


def test_malformed_and_latency_and_wildcard(api: Api, emu: YccallEmulator) -> None:
    emu.faults.add(f"{LIST}:malformed,{LIST}:malformed:truncated,*:latency:0.01*2")
    r = api.raw(LIST, token=api.token)
    assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError):
        api.raw(LIST, token=api.token).json()
    assert api.call(LIST)["ret"] == 200
    faults = [c["fault"] for c in emu.calls_to(LIST)]
    assert faults == ["malformed,latency:0.01", "malformed:truncated,latency:0.01", None]


def test_malformed_html_changes_nothing_truncated_applies(api: Api, emu: YccallEmulator) -> None:
    emu.faults.add(f"{CREATE}:malformed,{CREATE}:malformed:truncated")
    fields: dict[str, Any] = dict(token=api.token, assigntype=1, assignagent="8001", taskscale="1:1",
                  telphone=json.dumps([{"phone": "13800000001"}]))
    assert api.raw(CREATE, **fields).text.startswith("<!DOCTYPE html>")
    assert emu.state()["tasks"] == []
    with pytest.raises(ValueError):
        api.raw(CREATE, **fields).json()
    assert len(emu.state()["tasks"]) == 1


def test_expire_token_fault(api: Api, emu: YccallEmulator) -> None:
    emu.faults.add(f"{LIST}:expire-token")
    assert api.call(LIST)["ret"] == 600
    api.login()
    assert api.call(LIST)["ret"] == 200


def test_constructor_faults_spec() -> None:
    emu = YccallEmulator(faults="App.Sip_Auth.Login:status:500")
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        form = {"service": "App.Sip_Auth.Login", "appid": "demo-appid", "accesskey": "demo-accesskey"}
        assert client.post("/", data=form).status_code == 500
        assert client.post("/", data=form).json()["ret"] == 200


# ------------------------------------------------------------------ control API, log, config, threads
def test_control_api_over_http(api: Api, emu: YccallEmulator) -> None:
    c = api.client
    taskid = api.create(phones(10), status=1)["taskid"]
    before = emu.state()["now"]
    assert c.post("/_emulator/advance", json={"seconds": 3600}).json()["now"] >= before + 3600
    state = c.get("/_emulator/state").json()
    task = next(t for t in state["tasks"] if t["taskid"] == taskid)
    assert task["status"] == 1028 and len(task["numbers"]) == 10
    r = c.post("/_emulator/faults", json={"spec": f"{LIST}:status:502"})
    assert r.json()["added"] == 1
    assert c.post("/_emulator/faults", json={"spec": "x:bogus"}).status_code == 400
    assert c.post("/_emulator/faults", json={"spec": 5}).status_code == 400
    assert c.post("/_emulator/faults", json={"spec": f"{INFO}:drop"}).json()["added"] == 1
    assert [f["kind"] for f in c.get("/_emulator/faults").json()["faults"]] == ["status", "drop"]
    assert c.delete("/_emulator/faults").json()["faults"] == []
    c.post("/_emulator/faults", json={"spec": f"{LIST}:status:502"})
    assert api.raw(LIST, token=api.token).status_code == 502
    assert c.post("/_emulator/expire-token").json()["ok"]
    assert api.call(LIST)["ret"] == 600
    calls = c.get("/_emulator/calls").json()["calls"]
    assert [k for k in calls[0]] == ["seq", "service", "body", "status", "ret", "fault", "at_ms"]
    assert [x["seq"] for x in calls] == list(range(1, len(calls) + 1))
    assert [x["seq"] for x in c.get("/_emulator/calls", params={"since": 2}).json()["calls"]] == list(
        range(3, len(calls) + 1))
    assert c.post("/_emulator/reset").json()["ok"]
    assert c.get("/_emulator/state").json()["tasks"] == []
    assert c.get("/_emulator/calls").json()["calls"] == []
    assert c.get("/_emulator/nope").status_code == 404
    assert c.post("/_emulator/advance", json={"seconds": -1}).status_code == 400
    assert c.post("/_emulator/advance", json={"seconds": "1"}).status_code == 400
    assert c.post("/_emulator/advance", content=b"{not json").status_code == 400


def test_call_log_never_holds_secrets(api: Api, emu: YccallEmulator) -> None:
    api.create()
    api.ok("App.Sip_Auth.Logout", token=api.token)
    text = json.dumps(emu.calls)
    assert api.token not in text and "demo-accesskey" not in text
    assert emu.calls_to(CREATE)[0]["body"]["assignagent"] == "8001"


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "emu.json"
    path.write_text(json.dumps({"yccall": {"appid": "a", "accesskey": "k", "extensions": [9001],
                                           "caller_numbers": ["01000000000"], "assign_types": {"extension": 1,
                                                                                           "group": 3}}}))
    config = YccallConfig.load(path)
    assert config.extensions == ("9001",) and config.appid == "a"
    emu = YccallEmulator(config)
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        a = Api(client, emu)
        a.token = a.ok("App.Sip_Auth.Login", appid="a", accesskey="k")["token"]
        assert a.create(assigntype=1, assignagent="9001", disnumber="01000000000")["taskid"]
        assert a.call(CREATE, assigntype=2, assignagent="queue-1", taskscale="1:1",
                      telphone=json.dumps([{"phone": "13800000001"}]))["ret"] == 400  # no queue type
    path.write_text(json.dumps({"appid": "a", "typo": 1}))
    with pytest.raises(ValueError, match="typo"):
        YccallConfig.load(path)


def test_concurrent_creates_are_safe(api: Api, emu: YccallEmulator) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=str(api.client.base_url)) as client:
            for i in range(5):
                entries = [{"phone": f"13{n}0000000{i}"}]
                body = client.post("/", data={"service": CREATE, "token": api.token, "assigntype": "1",
                                              "assignagent": "8001", "taskscale": "1:1",
                                              "telphone": json.dumps(entries)}).json()
                with lock:
                    ids.append(body["data"]["result"]["taskid"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 20
    assert api.ok(LIST)["totalitems"] == 20


def test_yaml_config_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "emu.yaml"
    path.write_text("extensions: ['7001']\nanswer_ratio: 1.0\n", encoding="utf-8")
    config = YccallConfig.load(path)
    assert config.extensions == ("7001",) and config.answer_ratio == 1.0
    for text, match in (("extensions: 7001\n", "list"), ("answer_ratio: 2\n", "answer_ratio"),
                        ("timezone: Mars/Base\n", "timezone"), ("call_seconds: 0\n", "call_seconds"),
                        ("extensions: [\n", "YAML"), ("assign_types: {extension: x}\n", "bad yccall")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=match):
            YccallConfig.load(path)


def test_time_scale_dials_without_advance() -> None:
    emu = YccallEmulator(YccallConfig(answer_ratio=1.0), time_scale=1000.0)
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        a = Api(client, emu)
        a.login()
        taskid = a.create(phones(20), status=1)["taskid"]
        for _ in range(10_000):  # a 1000x clock dials these 20 numbers in ~12 ms of real time
            row = a.task_row(taskid)
            if row["status"] == 1028:
                break
        assert row["status"] == 1028 and row["answered"] == 20
