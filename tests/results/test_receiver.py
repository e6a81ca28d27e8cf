"""The push receiver over real HTTP (uvicorn on loopback): durable, idempotent, joined, never a crash."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from reconciler.commands.results import receiver
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import run_cli
from tests.results.conftest import XF_PHONES, YC_PHONES, Served, call_record, make_project


def export_rows(served: Served, name: str) -> list[dict[str, str]]:
    res = run_cli("results", "export", str(served.directory), name)
    assert res.exit_code == 0, res.output
    return list(csv.DictReader(io.StringIO(res.stdout)))


def stored(served: Served) -> list[tuple[str, str, str, str]]:
    with SqliteStore(served.state) as store:
        return [(r.module, r.key, r.campaign, r.phone) for r in store.results()]


@pytest.mark.parametrize("order", ["basic first", "outbound first"])
def test_double_push_and_retries_are_stored_once_and_joined(served: Served, order: str) -> None:
    basic = call_record("u-1", None, XF_PHONES[0], outbound=False)
    full = call_record("u-1", "100001", XF_PHONES[0])
    pushes = [basic, full] if order == "basic first" else [full, basic]
    for body in [*pushes, *pushes]:  # the vendor's retries send the same bodies again
        answer = served.push("iflytek", "receiveCallRecord", body)
        assert answer.status_code == 200 and "success" in answer.text
    assert sorted(stored(served)) == [
        ("receiveCallRecord", "u-1#basic", "promo", XF_PHONES[0]),
        ("receiveCallRecord", "u-1#outbound", "promo", XF_PHONES[0]),
    ]
    rows = export_rows(served, "promo")
    assert rows[0] == {"客户手机号码": XF_PHONES[0], "姓名": "客户0", "result_code": "0", "result": "成功",
                       "answered": "true", "duration_ring": "7", "duration_call": "28", "tries": "1",
                       "intention": "", "recording_url": ""}
    assert rows[1]["answered"] == "" and rows[1]["result_code"] == ""


def test_second_round_ids_join_by_task_and_callee_dialog_and_voice_by_call(served: Served) -> None:
    first = call_record("u-a", "100002", XF_PHONES[1], answered=False, result="20")
    second = call_record("u-b", "999999", XF_PHONES[1], tries=1)  # a recall round: a new task_data_id
    dialog = {"call_uuid": "u-b", "task_id": "1001", "task_data_id": "999999", "dialog": [
        {"seq": 1, "role": "robot", "node_name": "开头语", "tag_name": "B", "tag_desc": "一般", "text_robot": "您好"},
        {"seq": 2, "role": "customer", "node_name": "开头语", "tag_name": "A", "tag_desc": "有意向", "text_man": "好"},
    ]}
    voice = {"call_uuid": "u-b", "url": "ant/4/ivr/0/2018/05/31/0/x.wav", "size": 1043244, "duration": 32}
    for module, body in [("receiveVoice", voice), ("receiveCallRecord", first), ("receiveDialog", dialog),
                         ("receiveCallRecord", second)]:
        assert served.push("iflytek", module, body).text == "success"
    row = export_rows(served, "promo")[1]
    assert (row["result_code"], row["answered"], row["tries"], row["intention"], row["recording_url"]) == (
        "0", "true", "2", "A", "ant/4/ivr/0/2018/05/31/0/x.wav")
    assert all(campaign == "promo" for _, _, campaign, _ in stored(served))


def test_unmatched_pushes_are_kept_and_reported(served: Served) -> None:
    stranger = call_record("u-x", "555", "13912345678", task_id="424242")
    assert served.push("iflytek", "receiveCallRecord", stranger).text == "success"
    assert stored(served) == [("receiveCallRecord", "u-x#outbound", "", "")]
    status = served.client.get("/status.json").json()
    assert status["unmatched_results"] == 1 and status["format_version"] == 1


def test_yccall_records_join_by_customuuid_and_task_status_by_task(served: Served) -> None:
    record = {"id": 263056202, "companycode": "9513923", "direction": "callout", "type": "callout",
              "callmethod": 5, "starttime": "2027-03-01 09:00:01", "answertime": "2027-03-01 09:00:09",
              "endtime": "2027-03-01 09:01:00", "duration": 8, "billsec": 51, "destnumber": YC_PHONES[2],
              "hangupdirection": 10040, "hangupcause": 10000, "uuid": "db4a44cc", "customuuid": "cu-2",
              "taskid": "T-CC", "round": 1, "recordurl": "http://rec.example/db4a44cc.wav"}
    for body in (record, record):
        assert served.push("callcenter", "callrecord", body).text == "success"
    assert served.push("callcenter", "taskstatus", {"taskid": "T-CC", "companycode": "9513923", "status": "3",
                                                    "endtype": "over"}).text == "success"
    assert sorted(stored(served)) == [("callrecord", "db4a44cc", "cc", YC_PHONES[2]),
                                      ("taskstatus", "T-CC/3/over", "cc", "")]
    row = export_rows(served, "cc")[2]
    assert row == {"phone": YC_PHONES[2], "result_code": "10000", "result": "", "answered": "true",
                   "duration_ring": "8", "duration_call": "51", "tries": "1", "intention": "",
                   "recording_url": "http://rec.example/db4a44cc.wav"}


BAD_BODIES = [
    b"",
    b"not json",
    b"[1, 2]",
    b"\xff\xfe",
    json.dumps({"callee": XF_PHONES[3]}).encode(),  # no call_uuid
    json.dumps({"call_uuid": {"x": 1}, "callee": XF_PHONES[3]}).encode(),
    json.dumps({"call_uuid": "u", "callee": XF_PHONES[3], "duration_call": "long"}).encode(),
    json.dumps({"call_uuid": "u", "task_row_head": "x"}).encode(),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_bodies_get_a_4xx_and_a_log_line_without_phone_numbers(served: Served, body: bytes,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="reconciler"):
        answer = served.push("iflytek", "receiveCallRecord", body)
        assert 400 <= answer.status_code < 500 and "success" not in answer.text
        ok = served.push("iflytek", "receiveCallRecord", call_record("u-ok", "100004", XF_PHONES[3]))
        assert ok.text == "success"  # the receiver is still up
    assert "push refused" in caplog.text
    for phone in XF_PHONES:
        assert phone not in caplog.text and phone not in answer.text


def test_unknown_routes_and_methods(served: Served) -> None:
    assert served.push("nope", "receiveCallRecord", {}).status_code == 404
    assert served.push("iflytek", "callrecord", {}).status_code == 404  # a yccall module on an xfyeta profile
    assert served.client.get("/push/iflytek/receiveCallRecord").status_code == 405
    assert served.client.post("/push/a/b/c/d", content=b"{}").status_code == 404
    assert served.client.get("/healthz").text == "ok\n"
    too_big = b'{"call_uuid": "' + b"x" * (2 << 20) + b'"}'
    assert served.push("iflytek", "receiveCallRecord", too_big).status_code == 413
    assert stored(served) == []


def test_a_json_body_sent_as_a_form_and_a_numeric_data_id_are_read(served: Served) -> None:
    body = call_record("u-form", None, XF_PHONES[2])
    body["task_data_id"] = 100003  # a number where the document says string
    answer = served.push("iflytek", "receiveCallRecord", json.dumps(body),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.text == "success"
    assert stored(served) == [("receiveCallRecord", "u-form#outbound", "promo", XF_PHONES[2])]


def refusal(uuid: str, data_id: str, tag: str = "D", desc: str = "明确拒绝") -> dict[str, object]:
    return {"call_uuid": uuid, "task_id": "1001", "task_data_id": data_id, "dialog": [
        {"seq": 1, "role": "robot", "node_name": "开头语", "tag_name": "A", "tag_desc": "有意向", "text_robot": "您好"},
        {"seq": 2, "role": "robot", "node_name": "结束语", "tag_name": tag, "tag_desc": desc, "text_robot": "再见"},
    ]}


def test_a_refusal_puts_the_number_on_the_optout_list_as_it_is_stored(served: Served) -> None:
    # the dialog comes first (it carries no callee) and joins by its data id; the number is listed at once
    assert served.push("iflytek", "receiveDialog", refusal("u-r", "100003")).text == "success"
    assert served.push("iflytek", "receiveCallRecord", call_record("u-r", "100003", XF_PHONES[2])).text == "success"
    assert served.push("iflytek", "receiveDialog", refusal("u-r", "100003")).text == "success"  # a retry
    assert served.push("iflytek", "receiveDialog", refusal("u-k", "100002", "A", "有意向")).text == "success"
    with SqliteStore(served.state) as store:
        [listed] = store.optouts()
    assert (listed.phone, listed.source) == (XF_PHONES[2], "results:iflytek")
    assert "拒绝" in listed.reason and XF_PHONES[2] not in listed.reason
    res = run_cli("optout", "list", str(served.directory))
    assert "1 number on the opt-out list (by source: results:iflytek 1)" in res.stdout
    assert XF_PHONES[2] not in res.stdout


def test_policy_optout_rules_decide_what_a_refusal_is(tmp_path: Path) -> None:
    base = tmp_path
    for extra, expected in (("policy:\n  optout: {from_results: false}\n", []),
                            ("policy:\n  optout: {keywords: [不感兴趣]}\n", [XF_PHONES[1]])):
        root = base / str(len(expected))
        directory = make_project(root, extra=extra)
        with receiver(directory, "127.0.0.1:0") as server:
            server.start()
            with httpx.Client(base_url=server.base_url, timeout=10) as client:
                for uuid, data_id, desc in (("u-1", "100001", "明确拒绝"), ("u-2", "100002", "不感兴趣")):
                    answer = client.post("/push/iflytek/receiveDialog", json=refusal(uuid, data_id, "D", desc))
                    assert answer.text == "success"
            server.stop()
        with SqliteStore(root / "state.db") as store:
            assert [r.phone for r in store.optouts()] == expected
