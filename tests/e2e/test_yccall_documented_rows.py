"""plan / apply of yccall campaigns against a deployment whose TaskList rows are as documented.

Such rows carry no ``customtaskid``, ``total``, ``called`` or ``answered``: campaignctl must own and
find its tasks by name and count numbers with TaskInfo, and still never send anything twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import start_emulator
from reconciler.emulator.yccall import YccallConfig
from tests.e2e.conftest import YC_ENV, campaigns, phones, project, run_cli, write_csv, yc_task
from tests.e2e.test_interruptions import apply_once
from tests.e2e.test_yccall_e2e import MUTATING, live_tasks, yc_calls


@pytest.fixture
def documented(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in YC_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("yccall", config=YccallConfig(tasklist_rows="documented"))
    emu.base_url = server.base_url
    yield emu
    server.stop()


def setup_dir(tmp_path: Path, emu: Any, n: int = 40) -> Path:
    d = project(tmp_path, yc_url=emu if isinstance(emu, str) else emu.base_url)
    write_csv(d / "contacts/follow.csv", phones(n, 3000), columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    return d


def test_apply_converges_and_sends_nothing_twice(tmp_path: Path, documented: Any) -> None:
    d = setup_dir(tmp_path, documented)
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 2
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    write_csv(d / "contacts/follow.csv", phones(45, 3002), columns=("phone",))  # 2 removed, 7 added
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    (task,) = documented.state()["tasks"]
    assert {n["telphone"] for n in task["numbers"]} == set(phones(45, 3002))
    before = sum(c for s, c in yc_calls(documented).items() if s in MUTATING)
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert sum(c for s, c in yc_calls(documented).items() if s in MUTATING) == before


def test_lost_create_answer_is_found_by_name(tmp_path: Path, documented: Any) -> None:
    d = setup_dir(tmp_path, documented)
    httpx.post(f"{documented.base_url}/_emulator/faults", json={"spec": "App.Sip_Yccall.TaskCreat:drop"})
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert yc_calls(documented)["App.Sip_Yccall.TaskCreat"] == 1 and len(documented.state()["tasks"]) == 1
    assert yc_calls(documented)["App.Sip_Yccall.TaskAdd"] == 0  # the numbers came with the create
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_rebuild_adopts_by_name_and_counts_with_taskinfo(tmp_path: Path, documented: Any) -> None:
    d = setup_dir(tmp_path, documented)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    (tmp_path / "state.db").unlink()
    res = run_cli("state", "rebuild", str(d))
    assert res.exit_code == 0, res.output
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert yc_calls(documented)["App.Sip_Yccall.TaskCreat"] == 1


@pytest.mark.parametrize("rows", ["documented", "extended"])
def test_crash_at_every_state_write_never_sends_a_number_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                rows: str) -> None:
    """An interrupted create is settled by the task's count (TaskInfo without one in the listing), never by
    sending its numbers again, wherever the apply was cut off (the store raises instead of its n-th write)."""
    for k, v in YC_ENV.items():
        monkeypatch.setenv(k, v)
    emu, server = start_emulator("yccall", config=YccallConfig(tasklist_rows=rows))
    try:
        clean = apply_once(setup_dir(tmp_path / "clean", server.base_url), None)
    finally:
        server.stop()
    assert clean > 3
    for n in range(clean):
        emu, server = start_emulator("yccall", config=YccallConfig(tasklist_rows=rows))
        try:
            emu.base_url = server.base_url
            d = setup_dir(tmp_path / f"crash{n}", emu)
            apply_once(d, n)
            apply_once(d, None)
            assert yc_calls(emu)["App.Sip_Yccall.TaskAdd"] == 0, f"crash at write {n}: numbers sent twice"
            (task,) = live_tasks(emu)
            assert len(task["numbers"]) == 40
            res = run_cli("plan", str(d), "--detailed-exitcode")
            assert res.exit_code == 0, f"crash at write {n}: {res.output}"
        finally:
            server.stop()

