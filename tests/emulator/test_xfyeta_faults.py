"""Fault injection on the xfyeta emulator: from the constructor spec and from the control API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from .xfyeta_support import COLUMNS, Xf, rows, running

CREATE = {"task_name": "gitops-f", "line_num": "69101338", "robot_id": "719",
          "time_range": ["09:00:00-12:00:00"], "time_begin": 1_900_000_000_000}


@pytest.fixture
def xf() -> Iterator[Xf]:
    with running() as xf:
        yield xf


def add_faults(xf: Xf, spec: str) -> None:
    r = xf.client.post("/_emulator/faults", json={"spec": spec})
    assert r.status_code == 200, r.text


def task_count(xf: Xf) -> int:
    return int(xf.ok("task/query", {})["total_rows"])


def test_drop_on_create_creates_the_task_but_loses_the_answer(xf: Xf) -> None:
    add_faults(xf, "task/create:drop")
    with pytest.raises(httpx.RemoteProtocolError):
        xf.post("task/create", CREATE)
    assert task_count(xf) == 1
    assert xf.ok("task/query", {"task_name": "gitops-f"})["rows"][0]["task_id"] == "1001"
    # consumed: the next create answers
    assert xf.ok("task/create", CREATE)["task_id"] == "1002"
    calls = xf.client.get("/_emulator/calls").json()["calls"]
    creates = [c for c in calls if c["path"].endswith("task/create")]
    assert [c["fault"] for c in creates] == ["drop", None]
    assert creates[0]["body"]["task_name"] == "gitops-f"


def test_drop_on_insert_and_callout_applies_the_change(xf: Xf) -> None:
    task_id = xf.create()
    add_faults(xf, "task/insert:drop,task/callout:drop")
    with pytest.raises(httpx.RemoteProtocolError):
        xf.post("task/insert", {"task_id": task_id, "call_column": COLUMNS, "call_list": rows(3)})
    assert xf.row(task_id)["count_tel"] == 3
    with pytest.raises(httpx.RemoteProtocolError):
        xf.post("task/callout", {"robot_id": "719", "line_num": "69101338", "call_column": COLUMNS,
                                 "call_list": rows(2)})
    assert len(xf.emu.state()["dials"]) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_does_not_apply_the_change(xf: Xf, status: int) -> None:
    add_faults(xf, f"task/create:status:{status}")
    r = xf.post("task/create", CREATE)
    assert r.status_code == status
    assert str(status) in r.text
    assert task_count(xf) == 0
    assert xf.post("task/create", CREATE).json()["code"] == 0


def test_429_with_retry_after(xf: Xf) -> None:
    add_faults(xf, "task/query:429:3*2")
    for _ in range(2):
        r = xf.post("task/query", {})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "3"
    assert xf.post("task/query", {}).status_code == 200


def test_malformed_html_page(xf: Xf) -> None:
    add_faults(xf, "task/create:malformed")
    r = xf.post("task/create", CREATE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert task_count(xf) == 0


def test_malformed_truncated_json_after_the_change(xf: Xf) -> None:
    add_faults(xf, "task/create:malformed:truncated")
    r = xf.post("task/create", CREATE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert r.text.startswith('{"code"')
    assert task_count(xf) == 1


@pytest.mark.parametrize("code", [10004, 200209, 3030002])
def test_error_fault_returns_the_vendor_code(xf: Xf, code: int) -> None:
    add_faults(xf, f"task/start:error:{code}")
    task_id = xf.create()
    data = xf.call("task/start", {"task_id": task_id})
    assert data["code"] == code and data["result"] is None and data["message"]
    assert xf.row(task_id)["status"] == 0


def test_expire_token_fault_invalidates_before_handling() -> None:
    with running(token=None) as xf:
        token = xf.fetch_token()
        add_faults(xf, "config/query:expire-token")
        assert xf.call("config", {}, token=token)["code"] == 10001
        assert xf.call("config", {}, token=token)["code"] == 10001  # still invalid: it was revoked
        fresh = xf.fetch_token()
        assert xf.call("config", {}, token=fresh)["code"] == 0


def test_latency_is_applied_and_combines_with_other_faults(xf: Xf) -> None:
    add_faults(xf, "task/query:latency:0.3,task/query:status:503")
    with pytest.raises(httpx.ReadTimeout):
        xf.client.post(xf.path("task/query"), params={"token": xf.token}, json={}, timeout=0.05)
    # the timed-out request consumed both rules
    assert xf.post("task/query", {}).status_code == 200


def test_times_and_inf(xf: Xf) -> None:
    add_faults(xf, "task/query:error:10004*inf")
    for _ in range(5):
        assert xf.code("task/query", {}) == 10004
    assert xf.code("config", {}) == 0
    pending = xf.client.get("/_emulator/faults").json()["faults"]
    assert pending == [{"match": "task/query", "kind": "error", "arg": "10004", "remaining": "inf"}]
    assert xf.client.post("/_emulator/faults", json={"clear": True}).status_code == 200
    assert xf.code("task/query", {}) == 0


def test_star_matches_every_vendor_call_but_not_control(xf: Xf) -> None:
    add_faults(xf, "*:status:502*2")
    assert xf.client.get("/_emulator/state").status_code == 200
    assert xf.post("task/query", {}).status_code == 502
    assert xf.client.post("/openapi/oauth/v1/token", json={}).status_code == 502
    assert xf.post("task/query", {}).status_code == 200


def test_constructor_spec() -> None:
    with running(faults="task/create:error:200204,task/delete:drop") as xf:
        assert xf.code("task/create", CREATE) == 200204
        task_id = xf.create()
        with pytest.raises(httpx.RemoteProtocolError):
            xf.post("task/delete", {"task_id": task_id})
        assert xf.row(task_id)["deleted"] == 1


def test_bad_fault_spec_over_control_api(xf: Xf) -> None:
    r = xf.client.post("/_emulator/faults", json={"spec": "task/create:boom"})
    assert r.status_code == 400
    assert "unknown kind" in r.json()["error"]
    assert xf.client.post("/_emulator/faults", json={}).status_code == 400


def test_reset_forgets_tasks_calls_and_faults(xf: Xf) -> None:
    xf.create()
    add_faults(xf, "task/query:status:500*inf")
    assert xf.client.post("/_emulator/reset").status_code == 200
    assert xf.client.get("/_emulator/calls").json()["calls"] == []
    assert xf.client.get("/_emulator/faults").json()["faults"] == []
    assert task_count(xf) == 0
    assert xf.create() == "1001"


def test_unknown_control_call(xf: Xf) -> None:
    assert xf.client.post("/_emulator/explode").status_code == 404
    assert xf.client.post("/_emulator/advance", content=b"nope").status_code == 400


def test_calls_since(xf: Xf) -> None:
    xf.ok("config", {})
    xf.ok("task/query", {})
    calls = xf.client.get("/_emulator/calls", params={"since": 1}).json()["calls"]
    assert [c["seq"] for c in calls] == [2]
    assert calls[0]["code"] == 0
    assert [c["seq"] for c in xf.emu.calls_to("task/query")] == [2]
    assert [c["seq"] for c in xf.emu.calls_to("/openapi/config/v1/query")] == [1]
    assert xf.emu.calls_to("task/create") == []
