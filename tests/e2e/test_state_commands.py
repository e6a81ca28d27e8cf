"""import, state list/show/rebuild/resolve/unlock, the confirmation prompt, and the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands import session as session_mod
from tests.e2e.conftest import campaigns, init_state, phones, project, run_cli, write_csv, xf_calls, xf_direct, xf_task


def setup_dir(tmp_path: Path, emu: Any) -> Path:
    d = project(tmp_path, xf_url=emu.base_url)
    write_csv(d / "contacts/a.csv", phones(60))
    write_csv(d / "contacts/b.csv", phones(4, 9000))
    campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_direct("survey", "../contacts/b.csv"))
    return d


def test_state_list_and_show(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    listing = json.loads(run_cli("state", "list", "--dir", str(d), "--format", "json").stdout)
    by_name = {c["name"]: c for c in listing["campaigns"]}
    assert by_name["spring"]["contacts"] == {"sent": 60} and by_name["survey"]["contacts"] == {"dialed": 4}
    shown = run_cli("state", "show", "spring", "--dir", str(d))
    assert shown.exit_code == 0
    assert shown.stdout.count(" insert ") == 2 and " create " in shown.stdout and " start " in shown.stdout
    assert "1990000" not in shown.stdout  # counts, not numbers
    assert run_cli("state", "show", "nobody", "--dir", str(d)).exit_code == 1


def test_rebuild_after_state_loss_never_redials(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    for f in tmp_path.glob("state.db*"):
        f.unlink()
    lost = run_cli("plan", str(d))
    assert lost.exit_code == 1 and "state is missing" in lost.output  # never a duplicate task
    assert "campaignctl import" not in lost.output and "state rebuild" in lost.output
    rebuilt = run_cli("state", "rebuild", "--dir", str(d))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "adopted task" in rebuilt.stdout and "recorded as unknown" in rebuilt.stdout
    calls = sum(xf_calls(xfyeta).values())
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # nothing to insert, nothing to dial again
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert sum(xf_calls(xfyeta).values()) == calls


def test_import_adopts_a_task_and_refuses_twice(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    task_id = next(t["task_id"] for t in xfyeta.state()["tasks"] if t["task_name"] == "gitops-spring")
    for f in tmp_path.glob("state.db*"):
        f.unlink()
    lost = run_cli("import", "spring", task_id, "--dir", str(d))
    assert lost.exit_code == 1 and "does not exist" in lost.stderr  # import never creates a state
    init_state(d)
    res = run_cli("import", "spring", task_id, "--dir", str(d))
    assert res.exit_code == 0 and f"adopted task {task_id}" in res.stdout, res.output
    again = run_cli("import", "spring", task_id, "--dir", str(d))
    assert again.exit_code == 1 and "already belongs" in again.stderr
    missing = run_cli("import", "spring", "424242", "--dir", str(d))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert run_cli("import", "survey", task_id, "--dir", str(d)).exit_code == 1  # direct mode has no task


def test_unlock_needs_the_current_lock_id(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    res = run_cli("state", "unlock", "not-a-lock", "--dir", str(d))
    assert res.exit_code == 1 and "not the current lock" in res.stderr


@pytest.mark.parametrize(("answer", "code"), [("yes\n", 0), ("no\n", 1)])
def test_terminal_confirmation(tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch, answer: str,
                               code: int) -> None:
    import reconciler.commands.apply as apply_mod

    monkeypatch.setattr(apply_mod, "is_terminal", lambda: True)
    monkeypatch.setattr(session_mod, "is_terminal", lambda: True)
    d = setup_dir(tmp_path, xfyeta)
    res = run_cli("apply", str(d), input=answer)
    assert res.exit_code == code, res.output
    assert "Only 'yes' will be accepted" in res.stdout
    assert (xf_calls(xfyeta)["task/create"] == 1) == (code == 0)


def test_demo_runs_and_converges() -> None:
    res = run_cli("demo")
    assert res.exit_code == 0, res.output
    assert "Demo complete" in res.stdout and "No changes" in res.stdout
    assert "on the opt-out list (by source: results:iflytek" in res.stdout  # the emulator's refusals ("D 拒绝")
