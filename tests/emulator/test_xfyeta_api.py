"""xfyeta emulator endpoints and vendor error codes, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .xfyeta_support import COLUMNS, KEY, SECRET, T0_MS, Xf, ms, rows, running


@pytest.fixture
def xf() -> Iterator[Xf]:
    with running() as xf:
        yield xf


# ---------------------------------------------------------------- token


def test_token_issued_and_required(xf: Xf) -> None:
    r = xf.client.post("/openapi/oauth/v1/token", json={"app_key": KEY, "app_secret": SECRET}).json()
    assert r["code"] == 0 and r["message"] == "ok"
    assert r["result"]["time_expire"] == 3600
    token = r["result"]["token"]
    assert isinstance(token, str) and len(token) >= 16
    assert xf.call("config", {}, token=token)["code"] == 0
    # missing and unknown tokens
    no_token = xf.client.post("/openapi/config/v1/query", json={}).json()
    assert no_token["code"] == 10001
    assert xf.call("config", {}, token="not-a-token")["code"] == 10001


@pytest.mark.parametrize("body", [
    {"app_key": KEY, "app_secret": "wrong"},
    {"app_key": "wrong", "app_secret": SECRET},
])
def test_token_wrong_credentials(xf: Xf, body: dict[str, str]) -> None:
    r = xf.client.post("/openapi/oauth/v1/token", json=body)
    assert r.status_code == 200
    assert r.json()["code"] == 200101
    assert r.json()["result"] is None


def test_token_missing_fields(xf: Xf) -> None:
    assert xf.client.post("/openapi/oauth/v1/token", json={"app_key": KEY}).json()["code"] == 10005
    assert xf.client.post("/openapi/oauth/v1/token", content=b"{not json").json()["code"] == 10005


def test_token_expires_on_simulated_clock(xf: Xf) -> None:
    token = xf.fetch_token()
    xf.advance(3599)
    assert xf.call("config", {}, token=token)["code"] == 0
    xf.advance(2)
    assert xf.call("config", {}, token=token)["code"] == 10001
    fresh = xf.fetch_token()
    assert xf.call("config", {}, token=fresh)["code"] == 0


def test_fixed_token_accepted() -> None:
    with running(token="ready-token") as xf:
        assert xf.call("config", {}, token="ready-token")["code"] == 0
        xf.advance(10 * 3600)
        assert xf.call("config", {}, token="ready-token")["code"] == 0
        assert xf.call("config", {}, token="other")["code"] == 10001


def test_expire_token_control_invalidates_all_tokens() -> None:
    with running(token="ready-token") as xf:
        a, b = xf.fetch_token(), xf.fetch_token()
        assert xf.client.post("/_emulator/expire-token").status_code == 200
        for t in (a, b, "ready-token"):
            assert xf.call("config", {}, token=t)["code"] == 10001
        assert xf.call("config", {}, token=xf.fetch_token())["code"] == 0
        xf.client.post("/_emulator/reset")
        assert xf.call("config", {}, token="ready-token")["code"] == 0


def test_call_log_never_contains_token_or_secret(xf: Xf) -> None:
    xf._token = xf.fetch_token()
    xf.ok("config", {"type": 4})
    calls = xf.client.get("/_emulator/calls").json()["calls"]
    assert [c["path"] for c in calls] == ["/openapi/oauth/v1/token", "/openapi/config/v1/query"]
    text = str(calls)
    assert xf.token not in text
    assert SECRET not in text
    assert calls[0]["body"] == {"app_key": KEY, "app_secret": "***"}
    assert calls[1]["body"] == {"type": 4}
    assert set(calls[1]) >= {"seq", "path", "body", "status", "fault", "at_ms"}
    assert calls[1]["seq"] == 2 and calls[1]["status"] == 200 and calls[1]["fault"] is None


def test_unknown_path_and_wrong_method(xf: Xf) -> None:
    r = xf.post("/openapi/outbound/v1/task/rename", {})
    assert r.status_code == 404
    assert r.json()["code"] == 404
    r = xf.client.get("/openapi/config/v1/query", params={"token": xf.token})
    assert r.json()["code"] == 10005


def test_body_must_be_object(xf: Xf) -> None:
    assert xf.code("task/query", [1, 2]) == 10005
    r = xf.client.post("/openapi/outbound/v1/task/query", params={"token": xf.token}, content=b"<xml/>")
    assert r.json()["code"] == 10005


# ---------------------------------------------------------------- config


def test_config_all_parts(xf: Xf) -> None:
    result = xf.ok("config", {})
    assert set(result) == {"robots", "robotTotal", "lines", "urls", "voices"}
    robots = {r["robot_id"]: r for r in result["robots"]}
    assert robots["719"]["call_column"] == COLUMNS
    assert robots["719"]["status"] == 4 and robots["799"]["status"] == 1
    assert robots["720"]["call_column"] == ["客户手机号码", "姓名", "到期日"]
    assert robots["721"]["call_column"] == ["客户手机号码"]
    assert set(robots["719"]) == {"robot_id", "robot_name", "call_column", "status", "type", "deleted",
                                  "time_create", "time_update"}
    assert result["robotTotal"] == len(result["robots"])
    lines = {ln["line_num"]: ln for ln in result["lines"]}
    assert lines["69101338"]["time_work"] == ["08:00:00-21:00:00"]
    assert lines["055169101407"]["time_work"] == ["09:00:00-18:00:00"]
    # the 2022 document: time_expire a length in seconds (-1 permanent), real_expiration_time ms, expired 0/1
    assert lines["69101338"]["time_expire"] == -1 and lines["69101338"]["expired"] == 0
    assert lines["01088880000"]["time_expire"] == 2592000 and lines["01088880000"]["expired"] == 1
    assert 0 < lines["01088880000"]["real_expiration_time"] < T0_MS
    assert set(lines["69101338"]) == {"line_num", "concurrents", "time_work", "status", "time_apply", "time_expire",
                                      "expired", "real_expiration_time"}
    assert lines["055169101409"]["status"] == 1  # in use by a task
    assert {v["code"]: v["name"] for v in result["voices"]} == {"60030": "小燕", "60120": "小峰"}
    assert all(set(u) == {"url", "url_module"} for u in result["urls"])


@pytest.mark.parametrize(("kind", "keys"), [
    (1, {"robots", "robotTotal"}), (2, {"lines"}), (3, {"urls"}), (4, {"voices"}),
])
def test_config_type_filter(xf: Xf, kind: int, keys: set[str]) -> None:
    assert set(xf.ok("config", {"type": kind})) == keys


def test_config_robot_paging(xf: Xf) -> None:
    all_ids = [r["robot_id"] for r in xf.ok("config", {"type": 1})["robots"]]
    pages = [xf.ok("config", {"type": 1, "pageSize": 2, "pageIndex": i}) for i in (1, 2, 3, 4)]
    assert [r["robot_id"] for p in pages for r in p["robots"]] == all_ids
    assert [len(p["robots"]) for p in pages] == [2, 2, 1, 0]
    assert {p["robotTotal"] for p in pages} == {5}


def test_config_deleted_robots(xf: Xf) -> None:
    assert xf.ok("config", {"type": 5}) == {"deletedRobots": []}


@pytest.mark.parametrize("body", [{"type": 6}, {"type": "1"}, {"pageSize": 0}, {"pageIndex": 0}])
def test_config_bad_input(xf: Xf, body: dict[str, Any]) -> None:
    assert xf.code("config", body) == 10005


def test_push_failed_download(xf: Xf) -> None:
    assert xf.ok("/openapi/download/v1/push/failed", {"date": "2027-03-01"}) == {"url": []}
    assert xf.code("/openapi/download/v1/push/failed", {"date": "01/03/2027"}) == 10005


# ---------------------------------------------------------------- callout


def callout_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"line_num": "69101338", "robot_id": "719", "call_column": COLUMNS,
                            "call_list": rows(2), "voice_code": "60030", "robot_speed": 200}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_callout_dials_and_records(xf: Xf) -> None:
    result = xf.ok("task/callout", callout_body(call_list=rows(3)))
    assert result["total"] == 3
    assert len(result["task_data_ids"]) == 3 and len(set(result["task_data_ids"])) == 3
    again = xf.ok("task/callout", callout_body(voice_code=None, robot_speed=None))
    assert min(again["task_data_ids"]) > max(result["task_data_ids"])
    dials = xf.client.get("/_emulator/state").json()["dials"]
    assert [d["phone"] for d in dials] == [r[0] for r in rows(3)] + [r[0] for r in rows(2)]
    assert dials[0]["row"] == rows(1)[0]
    assert dials[0]["robot_id"] == "719" and dials[0]["line_num"] == "69101338"
    assert dials[0]["task_data_id"] == result["task_data_ids"][0]
    assert dials[0]["at_ms"] >= T0_MS


@pytest.mark.parametrize(("overrides", "code"), [
    ({"robot_id": "999"}, 200204),
    ({"robot_id": "799"}, 200204),  # in review, not published
    ({"line_num": "12345"}, 200203),
    ({"line_num": "01088880000"}, 200203),  # expired
    ({"voice_code": "99999"}, 200205),
    ({"robot_speed": 501}, 200206),
    ({"robot_speed": -501}, 200206),
    ({"call_column": ["客户手机号码"]}, 200212),
    ({"call_column": ["姓名", "客户手机号码"]}, 200212),
    ({"call_list": rows(51)}, 200213),
    ({"call_list": [["19900000001", "张先生"], ["19900000002"]]}, 200212),
    ({"call_list": [["19900000001", "张先生"], ["not-a-phone", "王女士"]]}, 10005),
    ({"call_list": []}, 10005),
    ({"call_list": [["19900000001", 5]]}, 10005),
    ({"robot_id": 719}, 10005),
    ({"robot_speed": "fast"}, 10005),
    ({"line_num": None}, 10005),
    ({"call_column": None}, 10005),
])
def test_callout_errors_fail_the_whole_batch(xf: Xf, overrides: dict[str, Any], code: int) -> None:
    body = callout_body(**overrides)
    data = xf.call("task/callout", body)
    assert data["code"] == code, data
    assert data["result"] is None
    assert data["message"]
    assert xf.emu.state()["dials"] == []


def test_callout_limits_are_inclusive(xf: Xf) -> None:
    assert xf.ok("task/callout", callout_body(call_list=rows(50), robot_speed=-500))["total"] == 50
    assert xf.ok("task/callout", callout_body(call_list=[["01088886666", "座机"]], robot_speed=500))["total"] == 1


# ---------------------------------------------------------------- create


def test_create_returns_string_ids_from_counter(xf: Xf) -> None:
    assert xf.create() == "1001"
    assert xf.create(task_name="other") == "1002"


def test_create_full_and_multi_line(xf: Xf) -> None:
    task_id = xf.create(line_num="69101338;055169101407", time_range=["09:00:00-12:00:00"], recall_count=3,
                        time_recall_wait=600, time_end=T0_MS + 86_400_000, voice_code="60120", trubo_mode=True)
    row = xf.row(task_id)
    assert row["line_num"] == "69101338;055169101407"
    assert row["count_max_recall"] == 3 and row["time_recall_wait"] == 600
    assert row["voice_code"] == "60120"
    assert row["time_task_estimate_begin"] == T0_MS and row["time_task_estimate_end"] == T0_MS + 86_400_000
    state = xf.emu.state()["tasks"][0]
    assert state["trubo_mode"] is True


def test_create_line_separator_is_configurable() -> None:
    from reconciler.emulator.xfyeta import XfyetaConfig

    with running(XfyetaConfig(line_separator=",")) as xf:
        assert xf.create(line_num="69101338,055169101407", time_range=["09:00:00-12:00:00"])
        data = xf.call("task/create", {"task_name": "x", "line_num": "69101338;055169101407", "robot_id": "719",
                                       "time_range": ["09:00:00-12:00:00"], "time_begin": T0_MS})
        assert data["code"] == 200203


@pytest.mark.parametrize(("overrides", "code"), [
    ({"task_name": None}, 10005),
    ({"task_name": ""}, 10005),
    ({"line_num": None}, 10005),
    ({"robot_id": None}, 10005),
    ({"time_range": None}, 10005),
    ({"time_begin": None}, 10005),
    ({"time_begin": "1527321492000"}, 10005),
    ({"robot_id": 719}, 10005),
    ({"recall_count": 4}, 10005),
    ({"recall_count": -1}, 10005),
    ({"recall_count": True}, 10005),
    ({"time_recall_wait": -5}, 10005),
    ({"time_end": T0_MS}, 10005),
    ({"time_end": T0_MS - 1}, 10005),
    ({"trubo_mode": "yes"}, 10005),
    ({"time_range": ["9:00-12:00"]}, 10005),
    ({"time_range": ["12:00:00-09:00:00"]}, 10005),
    ({"time_range": "09:00:00-12:00:00"}, 10005),
    ({"robot_id": "999"}, 200204),
    ({"robot_id": "799"}, 200204),
    ({"line_num": "000"}, 200203),
    ({"line_num": "69101338;000"}, 200203),
    ({"line_num": "01088880000"}, 200203),
    ({"voice_code": "1"}, 200205),
    ({"time_range": ["07:00:00-09:00:00"]}, 200222),
    ({"time_range": ["09:00:00-12:00:00", "20:00:00-21:30:00"]}, 200222),
    ({"line_num": "69101338;055169101407", "time_range": ["08:30:00-12:00:00"]}, 200222),
])
def test_create_errors(xf: Xf, overrides: dict[str, Any], code: int) -> None:
    body: dict[str, Any] = {"task_name": "gitops-x", "line_num": "69101338", "robot_id": "719",
                            "time_range": ["09:00:00-12:00:00"], "time_begin": T0_MS}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    assert xf.code("task/create", body) == code
    assert xf.ok("task/query", {})["total_rows"] == 0


# ---------------------------------------------------------------- insert


def test_insert_batches_and_global_data_ids(xf: Xf) -> None:
    task_id = xf.create()
    first = xf.insert(task_id, rows(50))
    assert first["total"] == 50 and len(first["task_data_ids"]) == 50
    second = xf.insert(task_id, rows(3, start=50))
    assert second["task_data_ids"][0] == first["task_data_ids"][-1] + 1
    direct = xf.ok("task/callout", callout_body())
    assert direct["task_data_ids"][0] == second["task_data_ids"][-1] + 1
    assert xf.row(task_id)["count_tel"] == 53


def test_insert_accepts_duplicate_phones_and_counts_them(xf: Xf) -> None:
    task_id = xf.create()
    xf.insert(task_id, rows(3))
    xf.insert(task_id, [rows(1)[0], rows(1)[0]])
    assert xf.row(task_id)["count_tel"] == 5
    state = xf.client.get("/_emulator/state").json()["tasks"][0]
    assert state["duplicates"] == 2
    assert [n["phone"] for n in state["numbers"]].count(rows(1)[0][0]) == 3


@pytest.mark.parametrize(("body", "code"), [
    ({"call_column": COLUMNS, "call_list": rows(51)}, 200213),
    ({"call_column": ["客户手机号码", "列2"], "call_list": rows(1)}, 200212),
    ({"call_column": COLUMNS, "call_list": [["13900000001"]]}, 200212),
    ({"call_column": COLUMNS, "call_list": [["x", "y"]]}, 10005),
    ({"call_column": COLUMNS, "call_list": []}, 10005),
    ({"call_column": COLUMNS}, 10005),
    ({"call_list": rows(1)}, 10005),
])
def test_insert_errors(xf: Xf, body: dict[str, Any], code: int) -> None:
    task_id = xf.create()
    assert xf.code("task/insert", {"task_id": task_id, **body}) == code
    assert xf.row(task_id)["count_tel"] == 0


def test_insert_unknown_started_deleted(xf: Xf) -> None:
    assert xf.code("task/insert", {"task_id": "424242", "call_column": COLUMNS, "call_list": rows(1)}) == 200202
    assert xf.code("task/insert", {"call_column": COLUMNS, "call_list": rows(1)}) == 10005
    started = xf.create()
    xf.insert(started, rows(1))
    xf.ok("task/start", {"task_id": started})
    data = xf.call("task/insert", {"task_id": started, "call_column": COLUMNS, "call_list": rows(1, 5)})
    assert data["code"] == 10005 and "started" in data["message"]
    xf.ok("task/pause", {"task_id": started})
    assert xf.code("task/insert", {"task_id": started, "call_column": COLUMNS, "call_list": rows(1, 5)}) == 10005
    deleted = xf.create()
    xf.ok("task/delete", {"task_id": deleted})
    assert xf.code("task/insert", {"task_id": deleted, "call_column": COLUMNS, "call_list": rows(1)}) == 3010102


# ---------------------------------------------------------------- start / pause / delete


def test_start_pause_delete_transitions(xf: Xf) -> None:
    task_id = xf.create()
    xf.insert(task_id, rows(2))
    assert xf.row(task_id)["status"] == 0
    assert xf.code("task/pause", {"task_id": task_id}) == 10005  # not started
    assert xf.ok("task/start", {"task_id": task_id}) == {}
    assert xf.row(task_id)["status"] == 6  # 08:00, before the 09:00 window
    assert xf.ok("task/start", {"task_id": task_id}) == {}  # already running: no-op
    assert xf.ok("task/pause", {"task_id": task_id}) == {}
    assert xf.row(task_id)["status"] == 3
    assert xf.ok("task/pause", {"task_id": task_id}) == {}  # already paused: no-op
    assert xf.row(task_id)["status"] == 3
    assert xf.ok("task/start", {"task_id": task_id}) == {}
    assert xf.row(task_id)["status"] == 6
    assert xf.ok("task/delete", {"task_id": task_id}) == {}
    row = xf.row(task_id)
    assert row["deleted"] == 1
    for op in ("task/start", "task/pause", "task/delete"):
        assert xf.code(op, {"task_id": task_id}) == 3010102


def test_delete_not_started_task(xf: Xf) -> None:
    task_id = xf.create()
    xf.ok("task/delete", {"task_id": task_id})
    assert xf.row(task_id)["deleted"] == 1
    assert xf.row(task_id)["status"] == 0


def test_finished_task_refuses_start_and_pause(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
    xf.insert(task_id, rows(1))
    xf.ok("task/start", {"task_id": task_id})
    xf.advance(2 * 3600)
    assert xf.row(task_id)["status"] == 4
    assert xf.code("task/start", {"task_id": task_id}) == 3010101
    assert xf.code("task/pause", {"task_id": task_id}) == 3010101
    xf.ok("task/delete", {"task_id": task_id})


@pytest.mark.parametrize("op", ["task/start", "task/pause", "task/delete"])
def test_lifecycle_unknown_task_and_bad_input(xf: Xf, op: str) -> None:
    assert xf.code(op, {"task_id": "999999"}) == 200202
    assert xf.code(op, {}) == 10005
    assert xf.code(op, {"task_id": 1001}) == 10005
