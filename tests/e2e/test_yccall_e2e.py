"""plan / apply of yccall campaigns against the yccall emulator over loopback HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, yc_task

MUTATING = {"App.Sip_Yccall.TaskCreat", "App.Sip_Yccall.TaskAdd", "App.Sip_Yccall.taskDelPhone",
            "App.Sip_Yccall.TaskSet"}


def yc_calls(emu: Any) -> Counter[str]:
    return Counter(c["service"] for c in emu.calls if c["service"] in MUTATING | {"App.Sip_Auth.Login"})


def live_tasks(emu: Any) -> list[dict[str, Any]]:
    return [t for t in emu.state()["tasks"] if t["status"] != 1028]


def setup_dir(tmp_path: Path, emu: Any, n: int = 40) -> Path:
    d = project(tmp_path, yc_url=emu.base_url)
    write_csv(d / "contacts/follow.csv", phones(n, 3000), columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    return d


def test_apply_then_plan_no_changes_and_second_apply_sends_nothing(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall)
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    calls = yc_calls(yccall)
    assert calls["App.Sip_Yccall.TaskCreat"] == 1 and calls["App.Sip_Yccall.TaskSet"] == 1
    assert calls["App.Sip_Yccall.TaskAdd"] == 0  # 40 numbers travel with the create
    (task,) = yccall.state()["tasks"]
    assert task["total"] == 40 and task["status"] == 1026 and task["customtaskid"]
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    before = sum(c for s, c in yc_calls(yccall).items() if s in MUTATING)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert sum(c for s, c in yc_calls(yccall).items() if s in MUTATING) == before


def test_contacts_added_and_removed_are_appended_and_deleted_in_place(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/follow.csv", phones(45, 3002), columns=("phone",))  # 2 removed, 7 added
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    (task,) = yccall.state()["tasks"]
    numbers = {n["telphone"] for n in task["numbers"]}
    assert numbers == set(phones(45, 3002))
    calls = yc_calls(yccall)
    assert calls["App.Sip_Yccall.TaskAdd"] == 1 and calls["App.Sip_Yccall.taskDelPhone"] == 1
    assert calls["App.Sip_Yccall.TaskCreat"] == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_over_10000_numbers_create_then_append(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall, n=10_500)
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    calls = yc_calls(yccall)
    assert calls["App.Sip_Yccall.TaskCreat"] == 1 and calls["App.Sip_Yccall.TaskAdd"] == 1
    (task,) = yccall.state()["tasks"]
    assert task["total"] == 10_500


def test_token_expiry_mid_apply_recovers_without_duplicate_task(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall, n=10_200)
    httpx.post(f"{yccall.base_url}/_emulator/faults", json={"spec": "App.Sip_Yccall.TaskAdd:expire-token"})
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert yc_calls(yccall)["App.Sip_Auth.Login"] == 2  # logged in again once
    assert len(yccall.state()["tasks"]) == 1 and yccall.state()["tasks"][0]["total"] == 10_200


def test_lost_create_answer_is_found_by_customtaskid(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall)
    httpx.post(f"{yccall.base_url}/_emulator/faults", json={"spec": "App.Sip_Yccall.TaskCreat:drop"})
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert yc_calls(yccall)["App.Sip_Yccall.TaskCreat"] == 1
    assert len(yccall.state()["tasks"]) == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_pause_and_absent_end_the_task(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    campaigns(d, yc_task("followup", "../contacts/follow.csv", state="paused"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert yccall.state()["tasks"][0]["status"] == 1027
    campaigns(d, yc_task("followup", "../contacts/follow.csv", state="absent"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert yccall.state()["tasks"][0]["status"] == 1028 and not live_tasks(yccall)
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_saved_plan_removes_and_appends_exactly_its_contacts(tmp_path: Path, yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/follow.csv", phones(45, 3002), columns=("phone",))  # 2 removed, 7 added
    plan_file = tmp_path / "p.plan"
    made = run_cli("plan", str(d), "--out", str(plan_file))
    assert made.exit_code == 0, made.output
    text = plan_file.read_text(encoding="utf-8")
    for number in phones(47, 3000):
        assert number not in text
    shown = run_cli("show", str(plan_file))
    assert "remove 2 contacts" in shown.stdout and "insert 7 contacts" in shown.stdout, shown.output
    res = run_cli("apply", str(plan_file))
    assert res.exit_code == 0, res.output
    (task,) = yccall.state()["tasks"]
    assert {n["telphone"] for n in task["numbers"]} == set(phones(45, 3002))
    calls = yc_calls(yccall)
    assert calls["App.Sip_Yccall.TaskAdd"] == 1 and calls["App.Sip_Yccall.taskDelPhone"] == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_number_time_end_keeps_numbers_dialable_where_an_omitted_time_means_now(
        tmp_path: Path, monkeypatch: Any) -> None:
    # The document: each number's time is a "preset call time, default now; past it the number is not
    # dialled". A platform that reads that as a deadline skips every number sent without one.
    from datetime import datetime, timedelta, timezone

    from reconciler.emulator import start_emulator
    from reconciler.emulator.yccall import YccallConfig
    from tests.e2e.conftest import YC_ENV

    for k, v in YC_ENV.items():
        monkeypatch.setenv(k, v)
    begin = datetime(2027, 3, 1, 9, tzinfo=timezone(timedelta(hours=8))).timestamp()  # yc_task's begin
    dialed: dict[str, int] = {}
    for number_time in ("omit", "end"):
        emu, server = start_emulator("yccall", config=YccallConfig(omitted_time="now"))
        try:
            d = project(tmp_path / number_time, yc_url=server.base_url)
            path = d / "campaignctl.yaml"
            path.write_text(path.read_text(encoding="utf-8").replace(
                "    accesskey_env: YCCALL_ACCESSKEY\n",
                f"    accesskey_env: YCCALL_ACCESSKEY\n    number_time: {number_time}\n", 1), encoding="utf-8")
            write_csv(d / "contacts/follow.csv", phones(5, 3000), columns=("phone",))
            campaigns(d, yc_task("followup", "../contacts/follow.csv"))
            res = run_cli("apply", str(d), "--auto-approve")
            assert res.exit_code == 0, res.output
            emu.advance(max(0.0, begin - emu.clock.now_s()) + 3600)
            (task,) = emu.state()["tasks"]
            dialed[number_time] = sum(1 for n in task["numbers"] if n["dials"])
            expired = sum(1 for n in task["numbers"] if n["answertype"] == "expired")
            assert dialed[number_time] + expired == 5
        finally:
            server.stop()
    assert dialed == {"omit": 0, "end": 5}


def test_a_number_taken_out_of_a_started_task_and_put_back_is_a_counted_redial(tmp_path: Path,
                                                                               yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall, n=5)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0  # created and started: it may dial anyone
    write_csv(d / "contacts/follow.csv", phones(5, 3000)[1:], columns=("phone",))
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert yc_calls(yccall)["App.Sip_Yccall.taskDelPhone"] == 1
    write_csv(d / "contacts/follow.csv", phones(5, 3000), columns=("phone",))  # the row is back
    plan = run_cli("plan", str(d), "--format", "json")
    assert plan.exit_code == 1, plan.output
    assert "would dial 1 contacts again" in plan.output and "--allow-redial followup" in plan.output
    assert yc_calls(yccall)["App.Sip_Yccall.TaskAdd"] == 0
    allowed = run_cli("apply", str(d), "--auto-approve", "--allow-redial", "followup")
    assert allowed.exit_code == 0, allowed.output
    assert yc_calls(yccall)["App.Sip_Yccall.TaskAdd"] == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_a_number_taken_out_of_a_task_that_never_started_comes_back_without_consent(tmp_path: Path,
                                                                                     yccall: Any) -> None:
    d = setup_dir(tmp_path, yccall, n=5)
    campaigns(d, yc_task("followup", "../contacts/follow.csv", state="paused"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0  # created, never started: nobody called
    write_csv(d / "contacts/follow.csv", phones(5, 3000)[1:], columns=("phone",))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/follow.csv", phones(5, 3000), columns=("phone",))
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert yc_calls(yccall)["App.Sip_Yccall.TaskAdd"] == 1
