"""The request and response examples printed in seeds/xfyeta-outbound-api.zh.md, replayed verbatim.

The default fixture data carries the seed's ids (robot 11 and 719, lines 055169101407,
69101338 and 96866001, voice 60030) so that the requests replay unchanged; the id
counters are set to the values the examples print.
"""

from __future__ import annotations

from reconciler.emulator.xfyeta import XfyetaConfig

from .xfyeta_support import running

# ---- the seed's examples, copied as printed (the query response has the seed's own JSON typos fixed:
# ---- the missing comma before "remaining" and the unescaped quotes inside the string fields)
CALLOUT_REQUEST = {
    "line_num": "69101338",
    "robot_id": "719",
    "call_column": ["客户手机号码", "姓名"],
    "call_list": [["19900000001", "张先生"], ["19900000002", "王女士"]],
    "voice_code": "60030",
    "robot_speed": 200,
}
CALLOUT_RESPONSE = {"code": 0, "message": "ok", "result": {"total": 2, "task_data_ids": [130, 131]}}

CREATE_REQUEST = {
    "task_name": "测试外呼",
    "line_num": "055169101407",
    "robot_id": "11",
    "recall_count": 1,
    "time_recall_wait": 600,
    "time_range": ["09:00:00-12:00:00", "13:00:00-17:30:00"],
    "time_begin": 1527321492000,
    "time_end": 1527325092000,
}
CREATE_RESPONSE = {"code": 0, "message": "ok", "result": {"task_id": "129"}}

INSERT_REQUEST = {
    "task_id": "129",
    "call_column": ["客户手机号码", "列2", "列3"],
    "call_list": [["19900000001", "t2", "t3"], ["19900000002", "t2", "t3"]],
}
INSERT_RESPONSE = {"code": 0, "message": "ok", "result": {"total": 2, "task_data_ids": [87, 88]}}

TASK_ID_REQUEST = {"task_id": "129"}
EMPTY_RESPONSE = {"code": 0, "message": "ok", "result": {}}

QUERY_REQUEST = {"time_begin": 153000000, "show_remaining": True}
QUERY_ROW_EXAMPLE = {
    "task_id": "1909", "task_name": "task_test1", "status": 4, "deleted": 0,
    "time_task_start": 1533289491345, "time_task_finish": 1533820104848, "count_total_task": 4, "count_tel": 4,
    "count_recalled": 0, "time_task_estimate_begin": 1478157571217, "time_task_estimate_end": 0,
    "line_num": "96866001", "robot_id": "719", "robot_name": "测试话术无参数", "voice_code": "60030",
    "voice_speed": 1, "count_max_recall": 2, "status_recall": "[1,1]", "time_recall_wait": 2000,
    "time_range": '["07:30:00-23:30:00"]', "intention_push": '["A","B"]', "process_count": 7,
    "process_tel_count": 7, "process_through_count": 4, "process_through_rate": 1, "remaining": 12,
}


def _types(row: dict[str, object]) -> dict[str, type]:
    return {k: (float if isinstance(v, float) else type(v)) for k, v in row.items()}


def test_callout_example_replays() -> None:
    with running(XfyetaConfig(first_data_id=130)) as xf:
        assert xf.post("task/callout", CALLOUT_REQUEST).json() == CALLOUT_RESPONSE


def test_create_insert_start_pause_delete_examples_replay() -> None:
    with running(XfyetaConfig(first_task_id=129, first_data_id=87)) as xf:
        assert xf.post("task/create", CREATE_REQUEST).json() == CREATE_RESPONSE
        assert xf.post("task/insert", INSERT_REQUEST).json() == INSERT_RESPONSE
        assert xf.post("task/start", TASK_ID_REQUEST).json() == EMPTY_RESPONSE
        # the example's task ran in 2018 and ended an hour after it began: started today, it is expired
        row = xf.row("129")
        assert row["status"] == 7
        assert xf.post("task/pause", TASK_ID_REQUEST).json()["code"] == 3010101
        assert xf.post("task/delete", TASK_ID_REQUEST).json() == EMPTY_RESPONSE


def test_pause_example_replays_on_a_running_task() -> None:
    with running(XfyetaConfig(first_task_id=129)) as xf:
        body = dict(CREATE_REQUEST, time_begin=xf.emu.clock.now_ms(), time_end=None)
        assert xf.post("task/create", {k: v for k, v in body.items() if v is not None}).json() == CREATE_RESPONSE
        assert xf.post("task/insert", INSERT_REQUEST).json()["code"] == 0
        assert xf.post("task/start", TASK_ID_REQUEST).json() == EMPTY_RESPONSE
        assert xf.post("task/pause", TASK_ID_REQUEST).json() == EMPTY_RESPONSE
        assert xf.row("129")["status"] == 3
        assert xf.post("task/start", TASK_ID_REQUEST).json() == EMPTY_RESPONSE


def test_query_example_replays_with_every_field_of_the_example_row() -> None:
    with running(XfyetaConfig(first_task_id=129)) as xf:
        xf.post("task/create", CREATE_REQUEST)
        xf.post("task/insert", INSERT_REQUEST)
        data = xf.post("task/query", QUERY_REQUEST).json()
        assert data["code"] == 0 and data["message"] == "ok"
        assert set(data["result"]) == {"total_rows", "rows"}
        assert data["result"]["total_rows"] == 1
        row = data["result"]["rows"][0]
        assert set(row) == set(QUERY_ROW_EXAMPLE) | {"task_type"}
        example_types = _types(QUERY_ROW_EXAMPLE)
        example_types["process_through_rate"] = float  # printed as 1, documented as double
        actual_types = _types(row)
        actual_types["process_through_rate"] = float
        assert {k: actual_types[k] for k in example_types} == example_types
        assert row["task_type"] == 0
        assert row["task_id"] == "129" and row["task_name"] == "测试外呼"
        assert row["line_num"] == "055169101407" and row["robot_id"] == "11"
        assert row["time_range"] == '["09:00:00-12:00:00","13:00:00-17:30:00"]'
        assert row["status_recall"] == "[1]"
        assert row["time_task_estimate_begin"] == 1527321492000
        assert row["time_task_estimate_end"] == 1527325092000
        assert row["count_tel"] == 2 and row["remaining"] == 2


def test_query_example_line_and_robot_exist_in_the_fixture() -> None:
    with running() as xf:
        body = {"task_name": "task_test1", "line_num": "96866001", "robot_id": "719",
                "time_range": ["07:30:00-23:30:00"], "time_begin": 1478157571217, "recall_count": 2,
                "time_recall_wait": 2000, "voice_code": "60030"}
        task_id = xf.ok("task/create", body)["task_id"]
        row = xf.row(task_id)
        for key in ("line_num", "robot_id", "voice_code", "voice_speed", "count_max_recall", "status_recall",
                    "time_recall_wait", "time_range", "intention_push", "time_task_estimate_begin",
                    "time_task_estimate_end", "deleted", "count_recalled"):
            assert row[key] == QUERY_ROW_EXAMPLE[key], key
