"""A no-op plan parses no unchanged contact file and reads no contact record; one changed file costs one parse."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.config import contacts as contacts_module
from reconciler.engine import inputs
from reconciler.state import open_store
from reconciler.state.base import StateStore
from tests.e2e.conftest import (
    campaigns,
    phones,
    project,
    run_cli,
    write_csv,
    xf_calls,
    xf_direct,
    xf_task,
    yc_task,
)
from tests.e2e.test_xfyeta_e2e import _vendor


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every CSV source parsed, by file name, in order."""
    seen: list[str] = []
    real = contacts_module._consume

    def counting(reader: Any, shown: str, sink: Any, rows: Any = None) -> bool:
        seen.append(Path(shown).name)
        return real(reader, shown, sink, rows)

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


def test_a_saved_plan_applied_leaves_the_markers_so_the_next_plan_parses_nothing(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str], records_read: list[str]) -> None:
    # CI's flow: plan --out on the pull request, apply PLANFILE on merge. Before, that apply wrote no
    # convergence marker, so the next plan read every campaign's records and parsed every file again.
    d = setup(tmp_path, xfyeta, yccall)
    saved = tmp_path / "merge.plan"
    assert run_cli("plan", str(d), "--out", str(saved)).exit_code == 0
    res = run_cli("apply", str(saved))
    assert res.exit_code == 0, res.output
    with store_of(d) as store:
        assert sorted(store.converged()) == ["c0", "c1", "c2", "y"]
    parses.clear()
    records_read.clear()
    before = len(xfyeta.calls)
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert parses == [] and records_read == []
    assert len(xfyeta.calls) - before == 2  # token and one listing page

    # A plan saved with a change, applied: that campaign's marker is written for its new table.
    write_csv(d / "contacts/c1.csv", phones(121, 1000))
    assert run_cli("plan", str(d), "--out", str(saved)).exit_code == 0
    res = run_cli("apply", str(saved))
    assert res.exit_code == 0, res.output
    parses.clear()
    records_read.clear()
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert parses == [] and records_read == []


def test_a_saved_plan_whose_apply_fails_leaves_no_marker_for_that_campaign(
        tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    d = setup(tmp_path, xfyeta, yccall)
    saved = tmp_path / "merge.plan"
    assert run_cli("plan", str(d), "--out", str(saved)).exit_code == 0
    xfyeta.faults.add("task/insert:error:200204")  # one insert is refused: that campaign stops there
    res = run_cli("apply", str(saved))
    assert res.exit_code != 0, res.output
    with store_of(d) as store:
        marked = set(store.converged())
        sent = {c.campaign for c in store.contacts_with(phones(120, 0) + phones(120, 1000) + phones(120, 2000))}
    assert "y" in marked
    assert len({"c0", "c1", "c2"} - marked) == 1  # exactly the campaign whose insert failed has no marker
    assert marked - {"y"} <= sent  # and every marked task campaign has its records
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 2  # what failed is planned again


def test_a_direct_campaign_dialed_in_full_is_planned_without_parsing_its_file_or_reading_its_records(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str], records_read: list[str]) -> None:
    """Once every number of a direct campaign is dialed, the plan has nothing to dial at any hour: the apply
    that dialed them marks it, and the plans after read neither its CSV nor its records, until the file
    or the opt-out list changes."""
    d = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(d / "contacts/d.csv", phones(60, 5000))
    campaigns(d, xf_direct("d", "../contacts/d.csv"))
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/callout"] == 2  # 60 numbers, 50 a call
    with store_of(d) as store:
        assert sorted(store.converged()) == ["d"]
    parses.clear()
    records_read.clear()
    for _ in range(2):
        res = run_cli("plan", str(d), "--detailed-exitcode")
        assert res.exit_code == 0, res.output
        assert "No changes" in res.stdout
    assert parses == [] and records_read == []

    write_csv(d / "contacts/d.csv", phones(61, 5000))  # one number more: that one is dialed, nothing again
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/callout"] == 3
    assert parses == ["d.csv"] and records_read == ["d"]
    parses.clear()
    records_read.clear()
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0
    assert parses == [] and records_read == []
    assert run_cli("optout", "add", phones(1, 5000)[0], str(d)).exit_code == 0  # another list: the full diff
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert parses == ["d.csv"] and records_read == ["d"]


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


def _summary_line(output: str, campaign: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(f"{campaign}:"))


def test_an_unchanged_opt_out_list_keeps_the_fast_path_and_a_change_ends_it(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str], records_read: list[str]) -> None:
    """With numbers on the opt-out list, a no-op plan still parses nothing while the list is unchanged
    (the marker holds what was suppressed and by what), and says what the full diff says."""
    d = setup(tmp_path, xfyeta, yccall)
    suppressed = phones(1, 0)[0]  # a row of c0.csv
    assert run_cli("optout", "add", suppressed, str(d)).exit_code == 0
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    with store_of(d) as store:
        assert sorted(store.converged()) == ["c0", "c1", "c2", "y"]
        assert suppressed not in {r.phone for r in store.contacts("c0")}
    parses.clear()
    records_read.clear()
    fast = run_cli("plan", str(d), "--detailed-exitcode")
    assert fast.exit_code == 0 and "No changes" in fast.stdout, fast.output
    assert parses == [] and records_read == []
    assert "1 contact suppressed" in _summary_line(fast.stdout, "c0")

    # The full diff of c0 (its marker gone) says the same, and marks it again.
    with store_of(d) as store:
        store.put_contacts(list(store.contacts("c0"))[:1])
        assert "c0" not in store.converged()
    slow = run_cli("plan", str(d), "--detailed-exitcode")
    assert slow.exit_code == 0, slow.output
    assert parses == ["c0.csv"]
    assert slow.stdout == fast.stdout
    parses.clear()
    assert run_cli("plan", str(d), "--detailed-exitcode").stdout == fast.stdout
    assert parses == []

    # A number added to the list: every campaign is diffed in full again (any of them may hold it).
    assert run_cli("optout", "add", phones(1, 1000)[0], str(d)).exit_code == 0  # already sent to c1
    parses.clear()
    changed = run_cli("plan", str(d))
    assert changed.exit_code == 0, changed.output
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv", "y.csv"]
    assert "already queued" in changed.output
    parses.clear()
    again = run_cli("plan", str(d))
    assert again.stdout == changed.stdout and again.output == changed.output  # c1's warning stands
    assert parses == []  # every campaign marked again, c1 with its warning and the number queued beyond it
    # Taken off the list again: a change too; the plan is the one before the number went on the list.
    assert run_cli("optout", "remove", phones(1, 1000)[0], "--reason", "test", str(d)).exit_code == 0
    parses.clear()
    back = run_cli("plan", str(d), "--detailed-exitcode")
    assert back.exit_code == 0 and back.stdout == fast.stdout, back.output
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv", "y.csv"]


def test_a_changed_do_not_call_list_ends_the_fast_path(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    d = setup(tmp_path, xfyeta, yccall)
    project_file = d / "campaignctl.yaml"
    base = project_file.read_text(encoding="utf-8")
    project_file.write_text(base + f'suppress:\n  - numbers: ["{phones(1, 2000)[0]}"]\n', encoding="utf-8")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    parses.clear()
    fast = run_cli("plan", str(d), "--detailed-exitcode")
    assert fast.exit_code == 0, fast.output
    assert parses == [] and "1 contact suppressed" in _summary_line(fast.stdout, "c2")
    project_file.write_text(base + f'suppress:\n  - numbers: ["{phones(1, 2001)[0]}"]\n', encoding="utf-8")
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 2, res.output  # the number no longer suppressed is now to be sent
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv", "y.csv"]


def test_a_policy_check_across_campaigns_is_replayed_while_their_tables_are_unchanged(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    """Numbers in more than one running campaign (checked whenever a policy exists) need every table:
    kept with the parse cache, keyed by every running campaign's table, the lists and the rule."""
    d = setup(tmp_path, xfyeta, yccall)
    write_csv(d / "contacts/c2.csv", [*phones(120, 2000), phones(1, 0)[0]])  # one number of c0 in c2 too
    project_file = d / "campaignctl.yaml"
    project_file.write_text(project_file.read_text(encoding="utf-8")
                            + 'policy:\n  unique_across_campaigns: false\n',
                            encoding="utf-8")
    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    parses.clear()
    first = run_cli("plan", str(d), "--detailed-exitcode")
    assert first.exit_code == 0, first.output
    assert "1 contacts are also in other running campaigns" in first.output
    assert parses == []
    assert run_cli("plan", str(d), "--detailed-exitcode").output == first.output
    assert parses == []
    write_csv(d / "contacts/c1.csv", [*phones(120, 1000), phones(1, 0)[0]])  # and now in c1 as well
    changed = run_cli("plan", str(d), "--detailed-exitcode")
    assert changed.exit_code == 2, changed.output
    assert "2 contacts are also in other running campaigns" in changed.output  # c0's: with c1 and c2
    # the check reads the unchanged tables' numbers from the state (kept by table digest): only c1 is parsed
    assert parses == ["c1.csv"]
    assert changed.output == _uncached_plan(d).output  # the same findings as a check that parses every table


def _uncached_plan(d: Path) -> Any:
    """A plan of ``d`` whose state has no parse cache and no phone list (every table parsed)."""
    with sqlite3.connect(d.parent / "state.db") as db:
        db.execute("DELETE FROM source_digests")
        db.execute("DELETE FROM phone_lists")
    return run_cli("plan", str(d), "--detailed-exitcode")


def test_a_phone_list_that_does_not_match_its_check_is_not_used(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    """A kept phone list is used only while its text matches the digest and count written with it."""
    d = setup(tmp_path, xfyeta, yccall)
    project_file = d / "campaignctl.yaml"
    project_file.write_text(project_file.read_text(encoding="utf-8") + "policy:\n  unique_across_campaigns: true\n",
                            encoding="utf-8")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    with sqlite3.connect(d.parent / "state.db") as db:
        assert db.execute("SELECT count(*) FROM phone_lists").fetchone() == (4,)  # every running table's
        # c0..c2's lists are no longer what was written: one shortened, two with as many numbers, other ones
        db.execute("UPDATE phone_lists SET phones = replace(phones, '199', '198') WHERE rows = 120")
        db.execute("UPDATE phone_lists SET phones = '13900000000' WHERE rowid = (SELECT min(rowid) FROM phone_lists "
                   "WHERE rows = 120)")
    write_csv(d / "contacts/c1.csv", [*phones(120, 1000), phones(1, 2000)[0]])  # one of c2's numbers in c1
    parses.clear()
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 1, res.output  # unique_across_campaigns: an error
    assert "1 contacts are also in other running campaigns" in res.output
    assert sorted(parses) == ["c0.csv", "c1.csv", "c2.csv"]  # the refused lists' tables are parsed; y's list is used


def test_commands_on_the_state_alone_parse_no_unchanged_file(
        tmp_path: Path, xfyeta: Any, yccall: Any, parses: list[str]) -> None:
    """optout, state and results commands read the files for the project and the campaigns' names:
    with the state's parse cache, an unchanged contact file is not parsed for them either."""
    d = setup(tmp_path, xfyeta, yccall)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    parses.clear()
    assert run_cli("optout", "add", "13999999999", str(d)).exit_code == 0
    assert run_cli("optout", "list", str(d)).exit_code == 0
    assert run_cli("state", "list", str(d)).exit_code == 0
    assert parses == []
    write_csv(d / "contacts/c1.csv", phones(121, 1000))  # changed: parsed (its problems are reported)
    assert run_cli("optout", "list", str(d)).exit_code == 0
    assert parses == ["c1.csv"]


def test_a_frequency_cap_reads_the_history_of_the_numbers_to_send_only(
        tmp_path: Path, xfyeta: Any, yccall: Any, records_read: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-op plan reads no result; a plan sending one number reads that number's results and sends only
    (not every result and every campaign's contact records)."""
    from reconciler.state.sql import SqlStore

    d = setup(tmp_path, xfyeta, yccall)
    project_file = d / "campaignctl.yaml"
    project_file.write_text(project_file.read_text(encoding="utf-8") + "policy:\n  max_dials: {count: 2, days: 7}\n",
                            encoding="utf-8")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    reads: list[Any] = []
    real = SqlStore.results

    def counting(self: SqlStore, *args: Any, **kwargs: Any) -> Any:
        reads.append(args or kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SqlStore, "results", counting)
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    assert reads == []
    records_read.clear()
    write_csv(d / "contacts/c1.csv", phones(121, 1000))  # one more number to send: the cap is checked
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 2, res.output
    # the cap reads the history of the number to send only: its results, and its sends in any campaign
    assert reads == [(None, [phones(1, 1120)[0]])]
    assert records_read == ["c1"]  # the changed campaign's own records (its diff), no other campaign's
