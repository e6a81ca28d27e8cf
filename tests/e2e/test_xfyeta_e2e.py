"""plan / apply against the xfyeta emulator over loopback HTTP, through the CLI."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    campaigns,
    phones,
    project,
    run_cli,
    write_csv,
    xf_calls,
    xf_direct,
    xf_task,
)


def setup_dir(tmp_path: Path, emu: Any, n_spring: int = 120, n_paused: int = 10, n_direct: int = 5,
              faults: str | None = None) -> Path:
    d = project(tmp_path, xf_url=emu.base_url)
    write_csv(d / "contacts/spring.csv", phones(n_spring))
    write_csv(d / "contacts/renew.csv", phones(n_paused, 5000))
    write_csv(d / "contacts/direct.csv", phones(n_direct, 8000))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"),
              xf_task("renew", "../contacts/renew.csv", state="paused"),
              xf_direct("survey", "../contacts/direct.csv"))
    return d


def tasks_by_name(emu: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for t in emu.state()["tasks"]:
        out.setdefault(t["task_name"], []).append(t)
    return out


def test_apply_then_plan_shows_no_changes_with_exact_call_counts(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "+ insert" in plan.stdout and "120 contacts" in plan.stdout

    applied = run_cli("apply", str(d), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    calls = xf_calls(xfyeta)
    assert calls["task/create"] == 2
    assert calls["task/insert"] == math.ceil(120 / 50) + math.ceil(10 / 50)
    assert calls["task/start"] == 1  # renew stays paused: created, filled, never started
    assert calls["task/callout"] == 1
    assert calls["task/pause"] == 0 and calls["task/delete"] == 0

    tasks = tasks_by_name(xfyeta)
    assert [t["count_tel"] for t in tasks["gitops-spring"]] == [120]
    assert [t["count_tel"] for t in tasks["gitops-renew"]] == [10]
    assert len(xfyeta.state()["dials"]) == 5

    again = run_cli("plan", str(d), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout

    before = sum(xf_calls(xfyeta).values())
    second = run_cli("apply", str(d), "--auto-approve")
    assert second.exit_code == 0, second.output
    assert sum(xf_calls(xfyeta).values()) == before  # no mutating call at all


def test_json_plan_is_versioned_and_has_no_phone_numbers(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    res = run_cli("plan", str(d), "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format_version"] == 1
    assert {a["action"] for a in doc["actions"]} >= {"create", "insert", "start", "dial"}
    assert "1990000" not in res.stdout


def test_saved_plan_applies_once_and_is_refused_when_stale(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    ok = run_cli("apply", str(plan_file))
    assert ok.exit_code == 0, ok.output
    stale = run_cli("apply", str(plan_file))
    assert stale.exit_code == 1 and "run plan again" in stale.stderr

    # A change on the platform after `plan --out` makes the saved plan stale.
    write_csv(d / "contacts/spring.csv", phones(130))
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    spring = tasks_by_name(xfyeta)["gitops-spring"][0]
    _vendor(xfyeta, "task/pause", {"task_id": spring["task_id"]})
    refused = run_cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "platform changed" in refused.stderr
    assert tasks_by_name(xfyeta).get("gitops-spring~2") is None


def test_new_contacts_after_start_go_to_a_follow_up_wave(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/spring.csv", phones(125))
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    tasks = tasks_by_name(xfyeta)
    assert [t["count_tel"] for t in tasks["gitops-spring~2"]] == [5]
    assert tasks["gitops-spring~2"][0]["status"] != 0  # started, following the campaign
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_drift_paused_outside_is_planned_back_and_deleted_outside_is_refused(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    spring = tasks_by_name(xfyeta)["gitops-spring"][0]
    _vendor(xfyeta, "task/pause", {"task_id": spring["task_id"]})
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 2 and "~ start" in plan.stdout, plan.output

    _vendor(xfyeta, "task/delete", {"task_id": spring["task_id"]})
    refused = run_cli("plan", str(d))
    assert refused.exit_code == 1
    assert "deleted outside campaignctl" in refused.output and "--allow-replace spring" in refused.output
    creates = xf_calls(xfyeta)["task/create"]
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 1
    assert xf_calls(xfyeta)["task/create"] == creates
    allowed = run_cli("apply", str(d), "--auto-approve", "--allow-replace", "spring")
    assert allowed.exit_code == 0, allowed.output
    assert xf_calls(xfyeta)["task/create"] == creates + 1


def test_settings_change_on_started_task_needs_allow_replace(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    # renew is paused and was never started: a settings change replaces it, nobody was called.
    campaigns(d, xf_task("spring", "../contacts/spring.csv"),
              xf_task("renew", "../contacts/renew.csv", state="paused", recall=2),
              xf_direct("survey", "../contacts/direct.csv"))
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 2 and "-/+" in res.stdout and "renew" in res.stdout, res.output
    # spring has started: the same change is refused, with the number of contacts it would redial.
    campaigns(d, xf_task("spring", "../contacts/spring.csv", recall=2),
              xf_task("renew", "../contacts/renew.csv", state="paused"),
              xf_direct("survey", "../contacts/direct.csv"))
    res = run_cli("plan", str(d))
    assert res.exit_code == 1 and "dial 120 contacts again" in res.output, res.output
    res = run_cli("apply", str(d), "--auto-approve", "--allow-replace", "spring")
    assert res.exit_code == 0, res.output
    tasks = tasks_by_name(xfyeta)["gitops-spring"]
    assert sorted(t["deleted"] for t in tasks) == [0, 1]
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_absent_deletes_and_prune(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    campaigns(d, xf_task("spring", "../contacts/spring.csv", state="absent"),
              xf_direct("survey", "../contacts/direct.csv"))
    plan = run_cli("plan", str(d))
    assert plan.exit_code == 0 and "left the files" in plan.output
    res = run_cli("apply", str(d), "--auto-approve", "--prune")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/delete"] == 2
    assert run_cli("plan", str(d), "--detailed-exitcode", "--prune").exit_code == 0


def test_vendor_error_mid_apply_stops_one_task_others_continue(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    _faults(xfyeta, "task/start:error:10005")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 1, res.output
    assert "10005" in res.output and "spring" in res.output
    assert len(xfyeta.state()["dials"]) == 5  # the direct campaign went on
    again = run_cli("apply", str(d), "--auto-approve")
    assert again.exit_code == 0, again.output
    assert xf_calls(xfyeta)["task/create"] == 2 and xf_calls(xfyeta)["task/callout"] == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_dropped_create_and_insert_answers_never_duplicate(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    _faults(xfyeta, "task/create:drop,task/insert:drop")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    tasks = tasks_by_name(xfyeta)
    assert len(tasks["gitops-spring"]) == 1 and len(tasks["gitops-renew"]) == 1
    assert tasks["gitops-spring"][0]["count_tel"] == 120 and tasks["gitops-renew"][0]["count_tel"] == 10
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_lost_callout_answer_is_never_redialed_until_resolved(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta, n_direct=60)
    _faults(xfyeta, "task/callout:drop")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 1 and "state resolve survey" in res.output, res.output
    dials = len(xfyeta.state()["dials"])
    assert dials == 50  # the dropped batch landed; the second batch was not sent after it
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    # The 10 contacts of the batch never sent are still due; the 50 unknown ones are a warning only.
    assert plan.exit_code == 2 and "dial 10 contacts" in plan.stdout, plan.output
    assert "50 contacts have an unknown dial outcome" in plan.output
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    st = xfyeta.state()["dials"]
    assert len(st) == 60 and len({x["phone"] for x in st}) == 60  # nothing was dialed twice
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 0 and "unknown dial outcome" in plan.output, plan.output
    resolved = run_cli("state", "resolve", "survey", "--dialed", "--dir", str(d))
    assert resolved.exit_code == 0, resolved.output
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 0 and "unknown dial outcome" not in plan.output


def test_unknown_resolved_as_not_dialed_is_dialed_once(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta, n_direct=5)
    _faults(xfyeta, "task/callout:status:502")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 1
    assert len(xfyeta.state()["dials"]) == 0
    assert run_cli("state", "resolve", "survey", "--not-dialed", "--dir", str(d)).exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(xfyeta.state()["dials"]) == 5


def test_unreachable_platform_and_bad_credentials_are_clear_errors(tmp_path: Path, xfyeta: Any,
                                                                   monkeypatch: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    bad = project(tmp_path / "closed", xf_url="http://127.0.0.1:9")
    write_csv(bad / "contacts/spring.csv", phones(3))
    campaigns(bad, xf_task("spring", "../contacts/spring.csv"))
    res = run_cli("plan", str(bad))
    assert res.exit_code == 1 and "iflytek" in res.output and "Traceback" not in res.output

    monkeypatch.setenv("XFYETA_APP_SECRET", "wrong-secret")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "wrong-secret" not in res.output
    assert xf_calls(xfyeta)["task/create"] == 0


def test_token_is_never_printed(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    outputs = [run_cli("plan", str(d)), run_cli("apply", str(d), "--auto-approve"),
               run_cli("state", "show", "spring", "--dir", str(d)), run_cli("state", "list", "--dir", str(d))]
    tokens = list(getattr(xfyeta, "_tokens", {}).keys())
    assert tokens
    blob = "".join(o.output for o in outputs) + (tmp_path / "state.db").read_bytes().decode("latin-1")
    for token in tokens:
        assert token not in blob
    assert "demo-app-secret" not in blob


def test_apply_without_terminal_needs_auto_approve(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    res = run_cli("apply", str(d))
    assert res.exit_code == 1 and "--auto-approve" in res.stderr
    assert sum(xf_calls(xfyeta).values()) == 0


def _vendor(emu: Any, op: str, body: dict[str, Any]) -> None:
    import httpx

    with httpx.Client(base_url=emu.base_url) as client:
        token = client.post("/openapi/oauth/v1/token",
                            json={"app_key": "demo-app-key", "app_secret": "demo-app-secret"}).json()
        r = client.post(f"/openapi/outbound/v1/{op}", params={"token": token["result"]["token"]}, json=body)
        assert r.json()["code"] == 0, r.text


def _faults(emu: Any, spec: str) -> None:
    import httpx

    r = httpx.post(f"{emu.base_url}/_emulator/faults", json={"spec": spec})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", ["absent", "prune"])
def test_a_finished_task_the_vendor_will_not_delete_is_done_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 how: str) -> None:
    # A platform that answers a delete of a finished task with 3010101 ("task already finished"): nothing
    # is left to do (it dials nobody), so the apply is not a failure and the next plan has no changes.
    from reconciler.emulator import start_emulator
    from reconciler.emulator.xfyeta import XfyetaConfig
    from tests.e2e.conftest import XF_ENV

    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", config=XfyetaConfig(delete_finished="refuse"))
    try:
        d = project(tmp_path, xf_url=server.base_url)
        write_csv(d / "contacts/spring.csv", phones(3))
        campaigns(d, xf_task("spring", "../contacts/spring.csv"))
        assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
        begin = datetime(2027, 3, 1, 9, tzinfo=timezone(timedelta(hours=8))).timestamp()  # xf_task's begin
        emu.advance(max(0.0, begin - emu.clock.now_s()) + 86400)  # its first day: every number dialed
        [task] = emu.state()["tasks"]
        assert task["status"] == 4, task["status"]
        if how == "absent":
            campaigns(d, xf_task("spring", "../contacts/spring.csv", state="absent"))
            extra: tuple[str, ...] = ()
        else:
            (d / "campaigns/main.yaml").write_text("version: 1\ncampaigns: []\n", encoding="utf-8")
            extra = ("--prune",)
        res = run_cli("apply", str(d), "--auto-approve", *extra)
        assert res.exit_code == 0, res.output
        assert [c["code"] for c in emu.calls_to("task/delete")] == [3010101]
        again = run_cli("plan", str(d), "--detailed-exitcode", *extra)
        assert again.exit_code == 0, again.output
        assert len(emu.calls_to("task/delete")) == 1  # not asked again
    finally:
        server.stop()


def test_a_duplicate_number_is_never_quoted_in_a_plan(tmp_path: Path, xfyeta: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the markdown plan is posted as a pull-request comment, the annotations show on the pull request
    d = project(tmp_path, xf_url=xfyeta.base_url)
    nums = phones(3)
    write_csv(d / "contacts/spring.csv", [*nums, nums[1]])
    campaigns(d, xf_task("spring", "../contacts/spring.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for fmt in ("markdown", "text", "json"):
        res = run_cli("plan", str(d), "--format", fmt)
        assert res.exit_code == 0, res.output
        assert "duplicate phone number" in res.output and "row dropped" in res.output, res.output
        assert not [n for n in nums if n in res.output], res.output
