"""The ``partial:N[:STATUS]`` fault: only the first N rows of an insert land, then the answer is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from reconciler.emulator.faults import FaultPlan
from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.yccall import YccallEmulator

from .test_yccall_emulator import ADD, CREATE, Api
from .xfyeta_support import COLUMNS, Xf, rows, running


@pytest.fixture
def xf() -> Iterator[Xf]:
    with running() as xf:
        yield xf


@pytest.fixture
def yc() -> Iterator[Api]:
    emulator = YccallEmulator()
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        api = Api(client, emulator)
        api.login()
        yield api


def test_parse_partial_rules() -> None:
    (fault, times), = [FaultPlan.parse_rule("task/insert:partial:20")]
    assert fault.partial_rows == 20 and fault.partial_status is None and times == 1
    fault, _ = FaultPlan.parse_rule("TaskAdd:partial:0:503*2")
    assert fault.partial_rows == 0 and fault.partial_status == 503
    for bad in ("task/insert:partial", "task/insert:partial:x", "task/insert:partial:3:99", "x:partial:-1"):
        with pytest.raises(ValueError, match="bad argument"):
            FaultPlan.parse_rule(bad)


def test_xfyeta_insert_lands_the_first_rows_then_drops_the_answer(xf: Xf) -> None:
    task_id = xf.create()
    xf.client.post("/_emulator/faults", json={"spec": "task/insert:partial:20"})
    with pytest.raises(httpx.RemoteProtocolError):
        xf.post("task/insert", {"task_id": task_id, "call_column": COLUMNS, "call_list": rows(50)})
    (task,) = xf.emu.state()["tasks"]
    assert [n["phone"] for n in task["numbers"]] == [r[0] for r in rows(20)]
    # consumed: the next insert lands whole
    xf.ok("task/insert", {"task_id": task_id, "call_column": COLUMNS, "call_list": rows(5, 100)})
    assert xf.row(task_id)["count_tel"] == 25


def test_xfyeta_partial_with_a_status_answers_it(xf: Xf) -> None:
    task_id = xf.create()
    xf.client.post("/_emulator/faults", json={"spec": "task/insert:partial:7:500"})
    r = xf.post("task/insert", {"task_id": task_id, "call_column": COLUMNS, "call_list": rows(50)})
    assert r.status_code == 500
    assert xf.row(task_id)["count_tel"] == 7


def test_xfyeta_partial_callout_dials_only_the_first_rows(xf: Xf) -> None:
    xf.client.post("/_emulator/faults", json={"spec": "task/callout:partial:3"})
    with pytest.raises(httpx.RemoteProtocolError):
        xf.post("task/callout", {"robot_id": "719", "line_num": "69101338", "call_column": COLUMNS,
                                 "call_list": rows(10)})
    assert len(xf.emu.state()["dials"]) == 3


def test_yccall_task_add_lands_the_first_numbers(yc: Api) -> None:
    taskid = yc.create()["taskid"]
    yc.emu.faults.add("TaskAdd:partial:4")
    entries = [{"phone": f"1390000{i:04d}"} for i in range(10)]
    with pytest.raises(httpx.RemoteProtocolError):
        yc.raw(ADD, token=yc.token, taskid=taskid, telphone=json.dumps(entries))
    assert yc.task_row(taskid)["total"] == 2 + 4


def test_yccall_task_create_with_partial_numbers(yc: Api) -> None:
    yc.emu.faults.add("TaskCreat:partial:1:502")
    entries = [{"phone": f"1390000{i:04d}"} for i in range(10)]
    r = yc.raw(CREATE, token=yc.token, assigntype=1, assignagent="8001", taskscale="1:1",
               telphone=json.dumps(entries))
    assert r.status_code == 502
    (task,) = yc.emu.state()["tasks"]
    assert [n["telphone"] for n in task["numbers"]] == ["13900000000"]
