"""Saved plans (`plan --out`, `apply PLANFILE`, `show PLANFILE`) against the xfyeta emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_direct, xf_task


def setup_dir(tmp_path: Path, emu: Any) -> Path:
    d = project(tmp_path, xf_url=emu.base_url)
    write_csv(d / "contacts/spring.csv", phones(120))
    write_csv(d / "contacts/direct.csv", phones(5, 8000))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"), xf_direct("survey", "../contacts/direct.csv"))
    return d


# --- how the directory and the plan file are spelled -----------------------------


def test_plan_of_a_relative_dir_applies_from_an_absolute_path(tmp_path: Path, xfyeta: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup_dir(tmp_path, xfyeta)
    monkeypatch.chdir(tmp_path)
    made = run_cli("plan", "cfg", "--out", "p.plan")
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "cfg" / "contacts")
    res = run_cli("apply", str(tmp_path / "p.plan"), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1 and len(xfyeta.state()["dials"]) == 5
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_plan_of_dot_applies_from_another_cwd(tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_dir(tmp_path, xfyeta)
    monkeypatch.chdir(tmp_path / "cfg")
    made = run_cli("plan", ".", "--out", "../p.plan")
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path)
    res = run_cli("apply", "p.plan", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1


def test_plan_of_an_absolute_dir_applies_from_a_relative_plan_path(tmp_path: Path, xfyeta: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup_dir(tmp_path, xfyeta)
    made = run_cli("plan", str(d), "--out", str(tmp_path / "plans" / "p.plan"))
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "plans")
    res = run_cli("apply", "p.plan", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1


# --- the file --------------------------------------------------------------------


def test_the_plan_file_is_self_contained_and_holds_no_phone_or_secret(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    made = run_cli("plan", str(d), "--out", str(plan_file))
    assert made.exit_code == 0, made.output
    text = plan_file.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["kind"] == "campaignctl-plan" and doc["format_version"] == 2
    assert doc["meta"]["config_dir"] == str(d.resolve())
    kinds = [(a["kind"], a["campaign"], a["contacts"]["count"] if a["contacts"] else 0) for a in doc["actions"]]
    assert kinds == [("create", "spring", 0), ("insert", "spring", 120), ("start", "spring", 0),
                     ("dial", "survey", 5)]
    assert doc["actions"][1]["contacts"]["rows"] == [[0, 120]]
    for number in [*phones(120), *phones(5, 8000)]:
        assert number not in text
    for secret in ("demo-app-key", "demo-app-secret"):
        assert secret not in text


def _forbid_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_diff(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("apply of a saved plan must not compute a new plan")

    monkeypatch.setattr("reconciler.commands.session.diff", no_diff)


def test_apply_executes_exactly_the_saved_batches_without_planning_again(tmp_path: Path, xfyeta: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    with monkeypatch.context() as m:
        _forbid_diff(m)
        res = run_cli("apply", str(plan_file))  # a saved plan was approved when it was made
    assert res.exit_code == 0, res.output
    calls = xf_calls(xfyeta)
    assert calls == {"task/create": 1, "task/insert": 3, "task/start": 1, "task/callout": 1}
    (task,) = [t for t in xfyeta.state()["tasks"] if t["task_name"] == "gitops-spring"]
    assert task["count_tel"] == 120
    assert sorted(x["phone"] for x in xfyeta.state()["dials"]) == phones(5, 8000)
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_a_contact_added_after_plan_makes_the_plan_stale(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    write_csv(d / "contacts/spring.csv", phones(121))
    res = run_cli("apply", str(plan_file), "--auto-approve")
    assert res.exit_code == 1 and "changed since the plan was made" in res.stderr, res.output
    assert sum(xf_calls(xfyeta).values()) == 0


def test_another_apply_after_plan_makes_the_plan_stale(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    before = xf_calls(xfyeta)
    res = run_cli("apply", str(plan_file), "--auto-approve")
    assert res.exit_code == 1 and "the state changed" in res.stderr, res.output
    assert xf_calls(xfyeta) == before


def test_a_platform_change_to_an_involved_task_makes_the_plan_stale(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/spring.csv", phones(130))
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    (spring,) = [t for t in xfyeta.state()["tasks"] if t["task_name"] == "gitops-spring"]
    _vendor(xfyeta, "task/pause", {"task_id": spring["task_id"]})
    before = xf_calls(xfyeta)
    res = run_cli("apply", str(plan_file))
    assert res.exit_code == 1 and "platform changed" in res.stderr, res.output
    assert xf_calls(xfyeta) == before


def test_a_moved_checkout_is_given_with_dir(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    moved = d.rename(tmp_path / "elsewhere")
    res = run_cli("apply", str(plan_file))
    assert res.exit_code == 1 and "does not exist" in res.stderr and "--dir" in res.stderr, res.output
    res = run_cli("apply", str(plan_file), "--dir", str(moved))
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1


def test_dir_is_only_for_a_saved_plan(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    res = run_cli("apply", str(d), "--dir", str(d), "--auto-approve")
    assert res.exit_code == 1 and "--dir is for a saved plan" in res.stderr, res.output
    assert sum(xf_calls(xfyeta).values()) == 0


@pytest.mark.parametrize("option", [("--prune",), ("--no-prune",), ("--allow-replace", "spring")])
def test_plan_options_belong_to_the_saved_plan(tmp_path: Path, xfyeta: Any, option: tuple[str, ...]) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    res = run_cli("apply", str(plan_file), *option)
    assert res.exit_code == 1 and "decided when the plan was saved" in res.stderr, res.output
    assert sum(xf_calls(xfyeta).values()) == 0


def _edit(plan_file: Path, **meta: Any) -> None:
    doc = json.loads(plan_file.read_text(encoding="utf-8"))
    doc["meta"].update(meta)
    plan_file.write_text(json.dumps(doc), encoding="utf-8")


def test_a_plan_made_without_a_state_is_refused(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    _edit(plan_file, state_missing=True)
    res = run_cli("apply", str(plan_file))
    assert res.exit_code == 1 and "without an initialised state" in res.stderr, res.output
    assert sum(xf_calls(xfyeta).values()) == 0


def test_an_edited_plan_is_refused(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    assert run_cli("plan", str(d), "--out", str(plan_file)).exit_code == 0
    doc = json.loads(plan_file.read_text(encoding="utf-8"))
    doc["actions"][3]["contacts"]["rows"] = [[1, 6]]  # dial other rows than planned
    plan_file.write_text(json.dumps(doc), encoding="utf-8")
    res = run_cli("apply", str(plan_file))
    assert res.exit_code == 1 and "changed since the plan was made" in res.stderr, res.output
    assert sum(xf_calls(xfyeta).values()) == 0


def test_old_and_foreign_files_are_clear_errors(tmp_path: Path, xfyeta: Any) -> None:
    setup_dir(tmp_path, xfyeta)
    old = tmp_path / "old.plan"
    old.write_text(json.dumps({"kind": "campaignctl-plan", "format_version": 1, "digest": "x", "meta": {}}))
    res = run_cli("apply", str(old))
    assert res.exit_code == 1 and "plan format 1" in res.stderr and "Traceback" not in res.output
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    for cmd in ("apply", "show"):
        res = run_cli(cmd, str(other))
        assert res.exit_code == 1 and "not a saved campaignctl plan" in res.stderr, res.output
    res = run_cli("show", str(tmp_path / "missing.plan"))
    assert res.exit_code == 1 and "does not exist" in res.stderr


# --- show ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_renders_a_saved_plan_offline(tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch,
                                           fmt: str) -> None:
    d = setup_dir(tmp_path, xfyeta)
    plan_file = tmp_path / "p.plan"
    made = run_cli("plan", str(d), "--out", str(plan_file), "--format", fmt)
    assert made.exit_code == 0, made.output
    for key in ("XFYETA_APP_KEY", "XFYETA_APP_SECRET"):
        monkeypatch.delenv(key)
    (tmp_path / "state.db").unlink()
    calls = len(xfyeta.calls)
    res = run_cli("show", str(plan_file), "--format", fmt)
    assert res.exit_code == 0, res.output
    assert len(xfyeta.calls) == calls
    assert not (tmp_path / "state.db").exists()
    # the same rendering plan printed, bar the line saying where it was saved
    printed = made.stdout.split("\nSaved the plan to ")[0]
    assert res.stdout.rstrip("\n") == printed.rstrip("\n")
    if fmt == "json":
        doc = json.loads(res.stdout)
        assert doc["summary"]["contacts_to_insert"] == 120 and doc["summary"]["contacts_to_dial"] == 5
    else:
        assert "120 contacts" in res.stdout and "5 contacts" in res.stdout
    for number in phones(120):
        assert number not in res.stdout


def _vendor(emu: Any, op: str, body: dict[str, Any]) -> None:
    import httpx

    with httpx.Client(base_url=emu.base_url) as client:
        token = client.post("/openapi/oauth/v1/token",
                            json={"app_key": "demo-app-key", "app_secret": "demo-app-secret"}).json()
        r = client.post(f"/openapi/outbound/v1/{op}", params={"token": token["result"]["token"]}, json=body)
        assert r.json()["code"] == 0, r.text
