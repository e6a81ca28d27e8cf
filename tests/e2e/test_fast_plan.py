"""A no-op plan parses no unchanged contact file and reads no contact record; one changed file costs one parse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.config import contacts as contacts_module
from reconciler.engine import inputs
from reconciler.state import open_store
from reconciler.state.base import StateStore
from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_task, yc_task
from tests.e2e.test_xfyeta_e2e import _vendor


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every CSV source parsed, by file name, in order."""
    seen: list[str] = []
    real = contacts_module._consume

    def counting(reader: Any, shown: str, sink: Any) -> bool:
        seen.append(Path(shown).name)
        return real(reader, shown, sink)

    monkeypatch.setattr(contacts_module, "_consume", counting)
    yield seen


@pytest.fixture
def records_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Campaigns whose contact records a snapshot read from the state."""
    seen: list[str] = []
    real = inputs.StoredContacts.__getitem__

    def counting(self: inputs.StoredContacts, name: str) -> Any:
        if name not in self.loaded:
            seen.append(name)
        return real(self, name)

    monkeypatch.setattr(inputs.StoredContacts, "__getitem__", counting)
    yield seen


def setup(tmp_path: Path, xf: Any, yc: Any) -> Path:
    d = project(tmp_path, xf_url=xf.base_url, yc_url=yc.base_url)
    entries = []
    for i in range(3):
        write_csv(d / f"contacts/c{i}.csv", phones(120, i * 1000))
        entries.append(xf_task(f"c{i}", f"../contacts/c{i}.csv"))
    write_csv(d / "contacts/y.csv", phones(30, 9000), columns=("phone",))
    entries.append(yc_task("y", "../contacts/y.csv"))
    campaigns(d, *entries)
    return d


def store_of(d: Path) -> StateStore:
    from reconciler.config import load_project

    project_ = load_project(d)
    assert project_ is not None
    return open_store(project_.state, {})


def test_no_op_plan_parses_nothing_and_reads_no_contact_record(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str], records_read: list[str]) -> None:
    d = setup(tmp_path, xfyeta, yccall)
    assert run_cli("plan", str(d)).exit_code == 0
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv", "y.csv"]  # the first plan parses every file
    parses.clear()
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv", "y.csv"]  # once each, for the rows it sends
    with store_of(d) as store:
        assert sorted(store.converged()) == ["c0", "c1", "c2", "y"]
    parses.clear()
    records_read.clear()
    before = len(xfyeta.calls)
    for _ in range(2):
        res = run_cli("plan", str(d), "--detailed-exitcode")
        assert res.exit_code == 0, res.output
        assert "No changes" in res.stdout
    assert parses == [] and records_read == []
    assert len(xfyeta.calls) - before == 2 * 2  # token and one listing page per plan, nothing else

    # One file changes: that one is parsed, that campaign's records read, nothing else.
    write_csv(d / "contacts/c1.csv", phones(121, 1000))
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 2, res.output
    assert parses == ["c1.csv"] and records_read == ["c1"]
    parses.clear()
    records_read.clear()
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 4  # a follow-up wave for the one new contact
    assert parses == ["c1.csv"] and records_read == ["c1"]
    parses.clear()
    records_read.clear()
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert parses == [] and records_read == []


def test_drift_and_run_state_are_still_seen_on_converged_campaigns(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    d = setup(tmp_path, xfyeta, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    task = next(t for t in xfyeta.state()["tasks"] if t["task_name"] == "gitops-c0")
    _vendor(xfyeta, "task/pause", {"task_id": task["task_id"]})
    parses.clear()
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 2, res.output
    assert "paused outside campaignctl" in res.stdout
    assert parses == []
    _vendor(xfyeta, "task/delete", {"task_id": task["task_id"]})
    refused = run_cli("plan", str(d))  # a started task deleted outside: the full diff and its refusal
    assert refused.exit_code == 1 and "deleted outside campaignctl" in refused.output
    assert parses == ["c0.csv"]


def test_a_file_changed_back_and_forth_and_a_lost_marker_are_safe(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    d = setup(tmp_path, xfyeta, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    with store_of(d) as store:
        store.put_contacts([])  # an empty write changes nothing
        store.put_contacts(list(store.contacts("c2"))[:1])  # a write for c2: its marker goes
        assert sorted(store.converged()) == ["c0", "c1", "y"]
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    with store_of(d) as store:  # the full diff of c2 found it converged and marked it again
        assert sorted(store.converged()) == ["c0", "c1", "c2", "y"]


def test_env_plans_use_the_caches_of_that_environments_state(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str], records_read: list[str]) -> None:
    from reconciler.config.environments import load_project_environment

    extra = f'environments:\n  staging:\n    providers:\n      iflytek: {{base_url: "{xfyeta.base_url}", ' \
            'name_prefix: "stg-"}\n'
    d = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url, extra=extra)
    write_csv(d / "contacts/a.csv", phones(50))
    campaigns(d, xf_task("alpha", "../contacts/a.csv"))
    assert run_cli("state", "init", str(d), "--env", "staging").exit_code == 0
    res = run_cli("apply", str(d), "--env", "staging", "--auto-approve")
    assert res.exit_code == 0, res.output
    staging, base_project = load_project_environment(d, "staging"), load_project_environment(d, None)
    assert staging is not None and base_project is not None and staging.state != base_project.state
    with open_store(staging.state, {}) as store:
        assert sorted(store.converged()) == ["alpha"] and store.source_digests()
    with store_of(d) as base:
        assert base.converged() == {} and base.source_digests() == {}
    parses.clear()
    records_read.clear()
    res = run_cli("plan", str(d), "--env", "staging", "--detailed-exitcode")
    assert res.exit_code == 0 and "No changes" in res.stdout, res.output
    assert parses == [] and records_read == []
    # Targeted, the converged campaign is still planned by its marker; a target matching nothing is an error.
    res = run_cli("plan", str(d), "--env", "staging", "--target", "alp*", "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert parses == [] and records_read == []
    assert run_cli("plan", str(d), "--env", "staging", "--target", "zzz").exit_code == 1
