"""Never dial twice in real operations (issue 8): regression tests against the emulators over loopback.

Each test reproduces one failure seen in real use — slow vendors, lost state,
plans during a live apply, rebuilds, imports — and counts on the emulator
what was created and dialed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands.session import open_session
from reconciler.emulator import start_emulator
from tests.e2e.conftest import (
    XF_ENV,
    YC_ENV,
    campaigns,
    phones,
    project,
    run_cli,
    write_csv,
    xf_direct,
    xf_task,
    yc_task,
)


def live_names(emu: Any, provider: str = "xfyeta") -> Counter[str]:
    key = "task_name" if provider == "xfyeta" else "taskname"
    tasks = emu.state()["tasks"]
    if provider == "xfyeta":
        return Counter(t[key] for t in tasks if not t["deleted"])
    return Counter(t.get(key) or t.get("name") for t in tasks if t["status"] != 1028)


def slow_profile(d: Path) -> None:
    """read_timeout 1.5 s: a 3 s create times out client-side but lands on the server."""
    f = d / "campaignctl.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("read_timeout: 5", "read_timeout: 1.5"), encoding="utf-8")


# --- 1. create timeout → two live tasks ---------------------------------------------------------


def test_slow_xfyeta_create_is_found_not_sent_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", faults="task/create:latency:3")
    try:
        d = project(tmp_path, xf_url=server.base_url)
        slow_profile(d)
        write_csv(d / "contacts/t1.csv", phones(60))
        campaigns(d, xf_task("t1", "../contacts/t1.csv"))
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code == 0, res.output
        assert live_names(emu) == Counter({"gitops-t1": 1})
        assert len(emu.calls_to("task/create")) == 1
        (task,) = [t for t in emu.state()["tasks"] if not t["deleted"]]
        assert len(task["numbers"]) == 60 and len({n["phone"] for n in task["numbers"]}) == 60
        assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
        assert "Traceback" not in res.output
    finally:
        server.stop()


def test_slow_yccall_create_is_found_not_sent_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in YC_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("yccall", faults="TaskCreat:latency:3")
    try:
        d = project(tmp_path, yc_url=server.base_url)
        slow_profile(d)
        write_csv(d / "contacts/f.csv", phones(40, 3000), columns=("phone",))
        campaigns(d, yc_task("t1", "../contacts/f.csv"))
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code == 0, res.output
        creates = [c for c in emu.calls if c["service"] == "App.Sip_Yccall.TaskCreat"]
        assert len(creates) == 1
        live = [t for t in emu.state()["tasks"] if t["status"] != 1028]
        assert len(live) == 1 and len(live[0]["numbers"]) == 40
        assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    finally:
        server.stop()


def test_create_that_lands_after_the_window_is_never_resent_in_the_same_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", faults="task/create:latency:4")
    try:
        d = project(tmp_path, xf_url=server.base_url, extra="")
        f = d / "campaignctl.yaml"
        text = f.read_text(encoding="utf-8").replace("read_timeout: 5", "read_timeout: 1\n    settle_window: 1.5")
        f.write_text(text,
                     encoding="utf-8")
        write_csv(d / "contacts/t1.csv", phones(10))
        campaigns(d, xf_task("t1", "../contacts/t1.csv"))
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code == 1 and "was not sent again" in res.output, res.output
        time.sleep(3)  # the slow create lands now (the emulator logs a call once it has answered)
        assert len(emu.calls_to("task/create")) == 1
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code == 0, res.output
        assert live_names(emu) == Counter({"gitops-t1": 1}) and len(emu.calls_to("task/create")) == 1
        assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    finally:
        server.stop()


# --- 2. lost state → direct campaign dials everyone again -----------------------------------------


@pytest.mark.parametrize("how", ["deleted", "truncated", "fresh-checkout"])
def test_lost_state_dials_nothing(tmp_path: Path, xfyeta: Any, how: str) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/d.csv", phones(170, 8000))
    campaigns(d, xf_direct("survey", "../contacts/d.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(xfyeta.state()["dials"]) == 170
    db = tmp_path / "state.db"
    for extra in tmp_path.glob("state.db-*"):
        extra.unlink()
    if how == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()
    if how == "fresh-checkout":
        (d / ".campaignctl").mkdir(exist_ok=True)
    plan = run_cli("plan", str(d))
    assert plan.exit_code == 1, plan.output
    assert "state is missing" in plan.output and "state init" in plan.output and "state rebuild" in plan.output
    assert "dial 170" in plan.output  # the plan is still shown
    assert not db.exists() or db.stat().st_size == 0  # plan creates nothing
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 1 and "state is missing" in res.output
    assert len(xfyeta.state()["dials"]) == 170  # nobody dialed twice
    assert "Traceback" not in plan.output + res.output


def test_state_init_then_first_apply(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url, init=False)
    write_csv(d / "contacts/d.csv", phones(3, 8000))
    campaigns(d, xf_direct("survey", "../contacts/d.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 1
    assert xfyeta.state()["dials"] == []
    first = run_cli("state", "init", str(d))
    assert first.exit_code == 0 and "Initialised" in first.stdout
    again = run_cli("state", "init", str(d))
    assert again.exit_code == 0 and "exists already" in again.stdout
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(xfyeta.state()["dials"]) == 3


def test_rebuild_creates_a_lost_state_and_never_redials(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/d.csv", phones(5, 8000))
    write_csv(d / "contacts/t.csv", phones(5, 100))
    campaigns(d, xf_direct("survey", "../contacts/d.csv"), xf_task("t", "../contacts/t.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    for f in tmp_path.glob("state.db*"):
        f.unlink()
    assert run_cli("state", "rebuild", "--dir", str(d)).exit_code == 0
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(xfyeta.state()["dials"]) == 5


# --- 4. plan during a running apply --------------------------------------------------------------


def _slow_apply(d: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(d), "--auto-approve",
                             "--parallelism", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env})


def _wait_for(emu: Any, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not emu.calls_to(path):
        time.sleep(0.02)


def test_plan_during_a_live_apply_reports_no_false_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", faults="task/insert:latency:0.4*inf,task/create:latency:0.4")
    try:
        d = project(tmp_path, xf_url=server.base_url)
        write_csv(d / "contacts/a.csv", phones(300))
        campaigns(d, xf_task("a", "../contacts/a.csv"))
        proc = _slow_apply(d, XF_ENV)
        _wait_for(emu, "task/insert")
        unlocked = run_cli("plan", str(d), "--no-lock")
        assert unlocked.exit_code == 0, unlocked.output
        assert "cannot be settled" not in unlocked.output and "import" not in unlocked.output
        assert "in flight" in unlocked.output
        locked = run_cli("plan", str(d), "--lock-timeout", "60", "--detailed-exitcode")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert locked.exit_code == 0, locked.output  # waited for the apply, then: no changes
    finally:
        server.stop()


def test_plan_waits_for_the_lock_and_says_who_holds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", faults="task/insert:latency:0.3*inf")
    try:
        d = project(tmp_path, xf_url=server.base_url)
        write_csv(d / "contacts/a.csv", phones(300))
        campaigns(d, xf_task("a", "../contacts/a.csv"))
        proc = _slow_apply(d, XF_ENV)
        _wait_for(emu, "task/insert")
        res = run_cli("plan", str(d))
        assert res.exit_code == 1 and "held by" in res.output and "apply" in res.output, res.output
        proc.communicate(timeout=60)
    finally:
        server.stop()


# --- 5. unlock of a live holder ------------------------------------------------------------------


def test_unlock_refuses_a_live_holder_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("xfyeta", faults="task/insert:latency:0.3*inf")
    try:
        d = project(tmp_path, xf_url=server.base_url)
        write_csv(d / "contacts/a.csv", phones(400))
        campaigns(d, xf_task("a", "../contacts/a.csv"))
        proc = _slow_apply(d, XF_ENV)
        _wait_for(emu, "task/insert")
        res = run_cli("plan", str(d))
        lock_id = res.output.split("lock id ")[1].split(")")[0]
        refused = run_cli("state", "unlock", lock_id, "--dir", str(d))
        assert refused.exit_code == 1, refused.output
        assert "live process" in refused.output and "--force" in refused.output
        assert proc.poll() is None  # the apply goes on
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        (task,) = [t for t in emu.state()["tasks"] if not t["deleted"]]
        assert len(task["numbers"]) == 400 == len({n["phone"] for n in task["numbers"]})
    finally:
        server.stop()


# --- 6. rebuild of a yccall campaign whose task was ended and recreated ------------------------


def test_rebuild_after_yccall_task_was_ended_and_recreated_converges(tmp_path: Path, yccall: Any) -> None:
    d = project(tmp_path, yc_url=yccall.base_url)
    write_csv(d / "contacts/f.csv", phones(20, 3000), columns=("phone",))
    campaigns(d, yc_task("fu", "../contacts/f.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve", "--allow-redial", "fu").exit_code == 0
    # End it and recreate it the same way (same customtaskid) by forgetting it in the state.
    campaigns(d, yc_task("fu", "../contacts/f.csv", state="absent"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    campaigns(d, yc_task("fu", "../contacts/f.csv"))
    assert run_cli("state", "rm", "fu", "--dir", str(d)).exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(yccall.state()["tasks"]) == 2
    for f in tmp_path.glob("state.db*"):
        f.unlink()
    rebuilt = run_cli("state", "rebuild", "--dir", str(d))
    assert rebuilt.exit_code == 0, rebuilt.output
    before = len(yccall.calls)
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    sent = [c for c in yccall.calls[before:] if c["service"] in ("App.Sip_Yccall.TaskAdd", "App.Sip_Yccall.TaskCreat")]
    assert sent == []


# --- 9. rename and prune-and-return -----------------------------------------------------------------


def test_rename_is_refused_until_state_mv_then_nothing_is_dialed_again(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(30))
    campaigns(d, xf_task("spring", "../contacts/a.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    campaigns(d, xf_task("spring-2027", "../contacts/a.csv"))
    plan = run_cli("plan", str(d))
    assert plan.exit_code == 1 and "campaignctl state mv spring spring-2027" in plan.output, plan.output
    assert "dial 30 contacts again" in plan.output
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 1
    moved = run_cli("state", "mv", "spring", "spring-2027", "--dir", str(d))
    assert moved.exit_code == 0, moved.output
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(xfyeta.calls_to("task/create")) == 1 and len(xfyeta.calls_to("task/insert")) == 1


@pytest.mark.parametrize("how", ["absent", "prune"])
def test_campaign_brought_back_is_a_counted_refused_redial(tmp_path: Path, xfyeta: Any, how: str) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(30))
    write_csv(d / "contacts/b.csv", phones(2, 500))
    campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_task("other", "../contacts/b.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    if how == "absent":
        campaigns(d, xf_task("spring", "../contacts/a.csv", state="absent"), xf_task("other", "../contacts/b.csv"))
        assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    else:
        campaigns(d, xf_task("other", "../contacts/b.csv"))
        assert run_cli("apply", str(d), "--auto-approve", "--prune").exit_code == 0
    campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_task("other", "../contacts/b.csv"))
    plan = run_cli("plan", str(d), "--format", "json")
    assert plan.exit_code == 1 and "dial 30 contacts again" in plan.output, plan.output
    allowed = run_cli("plan", str(d), "--allow-redial", "spring", "--format", "json")
    assert allowed.exit_code == 0 and '"redial": 30' in allowed.output, allowed.output


# --- 10. import of a never-started empty task ---------------------------------------------------


def test_import_of_an_empty_never_started_task_inserts_the_contacts(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(12))
    campaigns(d, xf_task("spring", "../contacts/a.csv", state="paused"))
    # A task made by hand on the platform (same name): created, never filled, never started.
    with open_session(d) as session:
        c = session.desired.campaign("spring")
        assert c is not None
        task_id = session.providers["iflytek"].create_task(c, 1, []).task_id
    res = run_cli("import", "spring", task_id, "--dir", str(d))
    assert res.exit_code == 0, res.output
    plan = run_cli("plan", str(d), "--format", "json")
    assert '"contacts": 12' in plan.output, plan.output


# --- 12. resolve takes one answer ---------------------------------------------------------------


def test_resolve_refuses_both_answers(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/d.csv", phones(3, 8000))
    campaigns(d, xf_direct("survey", "../contacts/d.csv"))
    res = run_cli("state", "resolve", "survey", "--dialed", "--not-dialed", "--dir", str(d))
    assert res.exit_code != 0 and "exactly one" in res.output
    none = run_cli("state", "resolve", "survey", "--dir", str(d))
    assert none.exit_code != 0 and "exactly one" in none.output


# --- 1b. a duplicate that exists already: removed, never adopted as a second live task ----------


def test_duplicate_task_is_deleted_by_plan_and_import_refuses_it(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(20))
    campaigns(d, xf_task("t1", "../contacts/a.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    with open_session(d) as session:  # what a lost, slow create once left behind: same name, never started
        c = session.desired.campaign("t1")
        assert c is not None
        dup = session.providers["iflytek"].create_task(c, 1, []).task_id
    refused = run_cli("import", "t1", dup, "--dir", str(d))
    assert refused.exit_code == 1 and "two live tasks" in refused.output, refused.output
    plan = run_cli("plan", str(d), "--format", "json")
    assert plan.exit_code == 0 and "duplicate" in plan.output and "import" not in plan.output, plan.output
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert live_names(xfyeta) == Counter({"gitops-t1": 1})
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_saved_plan_refusal_and_text_show_redial_counts(tmp_path: Path, xfyeta: Any) -> None:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(9))
    campaigns(d, xf_task("spring", "../contacts/a.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    campaigns(d, xf_task("spring", "../contacts/a.csv", recall=2))
    refused = run_cli("plan", str(d))
    assert refused.exit_code == 1 and "dial 9 contacts again" in refused.output
    assert "recall.count: 1 → 2" in refused.output, refused.output
    for fmt in ("text", "markdown", "json"):
        res = run_cli("plan", str(d), "--allow-replace", "spring", "--format", fmt)
        assert res.exit_code == 0, res.output
        assert ("9 contacts will be dialed again" in res.output or '"redial": 9' in res.output
                or "| 9 |" in res.output), (fmt, res.output)
        assert "1990000" not in res.output
