"""The one conformance suite every StateStore passes: memory, sqlite, postgres."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import LockHeld, LockTimeout, Problem, StateError, StateMissing
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    Converged,
    JournalEntry,
    Listed,
    OptOutRecord,
    PhoneList,
    Records,
    ResultRecord,
    SentContacts,
    SourceDigest,
    StateStore,
    TaskRecord,
)
from reconciler.state.migrations import SQLITE as SQLITE_MIGRATIONS
from tests.state.conftest import V1_LINEAGE, V1_SERIAL, Backend


def task(campaign: str, task_id: str, wave: int = 1, **kw: object) -> TaskRecord:
    fields: dict[str, object] = {
        "profile": "xf",
        "remote_name": f"cc-{campaign}",
        "settings_fingerprint": "s1",
        "created_at": "2026-01-01T00:00:00Z",
    }
    fields.update(kw)
    return TaskRecord(campaign=campaign, wave=wave, task_id=task_id, **fields)  # type: ignore[arg-type]


def contacts(campaign: str, task_id: str, count: int, start: int = 0, wave: int = 1) -> list[ContactRecord]:
    return [
        ContactRecord(
            campaign=campaign,
            phone=f"138{i:08d}",
            fingerprint=f"fp{i}",
            task_id=task_id,
            wave=wave,
            data_id=f"d{i}",
        )
        for i in range(start, start + count)
    ]


# --- reads and writes ---------------------------------------------------------


def test_new_store_is_empty(store: StateStore) -> None:
    assert isinstance(store, StateStore)
    assert store.serial() == 0
    assert store.campaigns() == []
    assert store.tasks() == []
    assert store.contacts("any") == []
    assert store.journal() == []
    assert store.current_lock() is None
    assert store.lineage()


def test_campaigns_upsert_by_name_and_sort(store: StateStore) -> None:
    store.put_campaign(CampaignRecord("zeta", "xf", "task", "xfyeta"))
    store.put_campaign(CampaignRecord("alpha", "xf", "task", "xfyeta"))
    store.put_campaign(CampaignRecord("zeta", "yc", "direct", "yccall"))
    assert store.campaigns() == [
        CampaignRecord("alpha", "xf", "task", "xfyeta"),
        CampaignRecord("zeta", "yc", "direct", "yccall"),
    ]


def test_tasks_upsert_by_campaign_and_task_id_ordered_by_campaign_then_wave(store: StateStore) -> None:
    store.put_task(task("b", "t9", wave=2))
    store.put_task(task("b", "t1", wave=1))
    store.put_task(task("a", "t5", wave=1))
    store.put_task(task("a", "shared", wave=2))
    store.put_task(task("b", "shared", wave=3))  # same remote id under another campaign: a separate record
    updated = task("b", "t1", wave=1, started=True, settings_fingerprint="s2", remote_name="cc-b-new")
    store.put_task(updated)

    assert [(t.campaign, t.wave, t.task_id) for t in store.tasks()] == [
        ("a", 1, "t5"),
        ("a", 2, "shared"),
        ("b", 1, "t1"),
        ("b", 2, "t9"),
        ("b", 3, "shared"),
    ]
    assert store.tasks("b")[0] == updated
    assert [t.task_id for t in store.tasks("a")] == ["t5", "shared"]
    assert store.tasks("missing") == []
    deleted = task("a", "t5", deleted=True)
    store.put_task(deleted)
    assert store.tasks("a")[0] == deleted


def test_contacts_upsert_by_campaign_task_phone(store: StateStore) -> None:
    store.put_contacts(contacts("c", "t1", 3))
    store.put_contacts(contacts("c", "t2", 2, wave=2))  # the same phones in wave 2: separate rows
    store.put_contacts(contacts("other", "t1", 1))
    changed = ContactRecord("c", "13800000001", "fpX", "t1", 1, "d-new", ContactStatus.UNKNOWN)
    store.put_contacts([changed])

    rows = store.contacts("c")
    assert len(rows) == 5
    assert [(r.wave, r.task_id, r.phone) for r in rows] == sorted((r.wave, r.task_id, r.phone) for r in rows)
    assert [r for r in rows if r.task_id == "t1" and r.phone == "13800000001"] == [changed]
    assert store.contacts("c", "t2") == contacts("c", "t2", 2, wave=2)
    assert len(store.contacts("other")) == 1


def test_contacts_batch_mixing_new_and_existing_rows(store: StateStore) -> None:
    store.put_contacts(contacts("c", "t1", 5))
    serial = store.serial()
    changed = [dataclasses.replace(r, status=ContactStatus.UNKNOWN) for r in contacts("c", "t1", 2, start=3)]
    store.put_contacts([*changed, *contacts("c", "t1", 3, start=5)])  # 2 existing, 3 new
    assert store.serial() == serial + 1
    rows = store.contacts("c", "t1")
    assert [r.phone for r in rows] == [f"138{i:08d}" for i in range(8)]
    assert [r.status for r in rows] == [ContactStatus.SENT] * 3 + [ContactStatus.UNKNOWN] * 2 + [ContactStatus.SENT] * 3


def test_contacts_last_duplicate_in_one_batch_wins(store: StateStore) -> None:
    first = ContactRecord("c", "13800000000", "fp1", "t1", 1, None)
    last = ContactRecord("c", "13800000000", "fp2", "t1", 1, "d2", ContactStatus.DIALED)
    store.put_contacts([first, last])
    assert store.contacts("c") == [last]


def test_direct_contacts_have_empty_task_id_and_every_status_round_trips(store: StateStore) -> None:
    rows = [
        ContactRecord("d", f"1390000000{i}", f"fp{i}", "", 0, None, status)
        for i, status in enumerate(ContactStatus)
    ]
    store.put_contacts(rows)
    store.put_contacts(contacts("d", "t1", 1))
    assert store.contacts("d", "") == rows
    assert [r.status for r in store.contacts("d", "")] == list(ContactStatus)
    assert all(r.data_id is None for r in store.contacts("d", ""))


def test_delete_contacts_only_of_that_task(store: StateStore) -> None:
    store.put_contacts(contacts("c", "t1", 3))
    store.put_contacts(contacts("c", "t2", 3, wave=2))
    store.delete_contacts("c", "t1", ["13800000000", "13800000002", "19999999999"])
    assert [(r.task_id, r.phone) for r in store.contacts("c")] == [
        ("t1", "13800000001"),
        ("t2", "13800000000"),
        ("t2", "13800000001"),
        ("t2", "13800000002"),
    ]


def test_forget_campaign_drops_records_but_keeps_the_journal(store: StateStore) -> None:
    for name in ("gone", "kept"):
        store.put_campaign(CampaignRecord(name, "xf", "task"))
        store.put_task(task(name, f"{name}-t"))
        store.put_contacts(contacts(name, f"{name}-t", 2))
        store.end_call(store.begin_call(name, "xf", "create", "", {"name": name}), CallOutcome.OK)
    store.forget_campaign("gone")
    assert [c.name for c in store.campaigns()] == ["kept"]
    assert [t.campaign for t in store.tasks()] == ["kept"]
    assert store.contacts("gone") == []
    assert len(store.contacts("kept")) == 2
    assert [e.campaign for e in store.journal()] == ["gone", "kept"]


# --- initialisation ----------------------------------------------------------

MISSING = {"missing": "does not exist", "empty": "is empty", "truncated": "is empty", "no-lineage": "has no lineage"}


def assert_missing(backend: Backend, kind: str) -> None:
    """Opening without create refuses, names the place and what is missing, and changes nothing there."""
    before = backend.footprint()
    with pytest.raises(StateMissing) as caught:
        backend.open_existing()
    err = caught.value
    assert err.missing == MISSING[kind]
    assert backend.location in err.location
    assert err.location in str(err) and err.missing in str(err)
    assert "campaignctl:campaignctl@" not in str(err) and "postgresql://" not in str(err)  # never the DSN
    assert backend.footprint() == before


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "no-lineage"])
def test_an_uninitialised_state_is_missing_and_left_as_it_was(persistent_backend: Backend, kind: str) -> None:
    persistent_backend.spoil(kind)
    if kind == "missing":
        assert persistent_backend.footprint() is None
    assert_missing(persistent_backend, kind)
    assert_missing(persistent_backend, kind)  # and a second refusal is the same


def test_a_lineage_less_state_is_missing(backend: Backend) -> None:
    backend.spoil("no-lineage")
    assert_missing(backend, "no-lineage")


def test_init_creates_a_lineage_and_later_opens_keep_it(backend: Backend) -> None:
    created = backend.open()
    lineage = created.lineage()
    assert lineage and created.serial() == 0
    created.put_campaign(CampaignRecord("c", "xf", "task"))
    created.close()
    existing = backend.open_existing()
    assert (existing.lineage(), existing.serial()) == (lineage, 1)
    assert existing.campaigns() == [CampaignRecord("c", "xf", "task")]
    again = backend.open()  # init on an initialised state just opens it
    assert (again.lineage(), again.serial()) == (lineage, 1)
    assert again.campaigns() == [CampaignRecord("c", "xf", "task")]


def test_init_gives_a_lineage_less_state_a_new_lineage_and_keeps_its_records(backend: Backend) -> None:
    first = backend.open()
    lineage = first.lineage()
    first.put_task(task("c", "t1"))
    first.close()
    backend.spoil("no-lineage")
    healed = backend.open()
    assert healed.lineage() not in ("", lineage)
    assert healed.tasks() == [task("c", "t1")]
    assert backend.open_existing().lineage() == healed.lineage()


def test_a_version_1_state_is_upgraded_on_open_keeping_its_data(persistent_backend: Backend) -> None:
    persistent_backend.make_v1()
    store = persistent_backend.open_existing()  # an upgrade is not a creation
    assert cast_any(store).schema_version() == LATEST == 9
    assert (store.lineage(), store.serial()) == (V1_LINEAGE, V1_SERIAL)
    assert store.campaigns() == [CampaignRecord("spring", "xf", "task", "xfyeta")]
    [old] = store.tasks()
    assert old == TaskRecord("spring", 1, "xf", "t1", "cc-spring", "s1", True, False, "2026-01-01T00:00:00Z")
    assert (old.settings, old.run_state) == ({}, "")
    assert store.contacts("spring") == [ContactRecord("spring", "13800000000", "fp0", "t1", 1, "d0")]
    assert store.contacts("spring")[0].sent_at  # unknown before: counted as sent at the upgrade
    assert store.optouts() == []
    [entry] = store.journal()
    assert (entry.call, entry.outcome, entry.request, entry.result) == (
        "create", CallOutcome.OK, {"name": "cc-spring"}, {"task_id": "t1"}
    )
    store.put_task(dataclasses.replace(old, settings={"a": 1}, run_state="running"))
    store.close()
    again = persistent_backend.open_existing()
    assert cast_any(again).schema_version() == LATEST
    assert [(t.settings, t.run_state) for t in again.tasks()] == [({"a": 1}, "running")]
    assert again.serial() == V1_SERIAL + 1


def cast_any(value: object) -> Any:
    return value


LATEST = SQLITE_MIGRATIONS[-1][0]


# --- dialing policy: send times and the opt-out list --------------------------------------


def test_contacts_keep_their_send_time(store: StateStore) -> None:
    at = "2027-03-01T10:00:00+08:00"
    store.put_contacts([dataclasses.replace(r, sent_at=at) for r in contacts("c", "t1", 2)])
    store.put_contacts(contacts("c", "t2", 1, wave=2))  # no time given: the store records the write time
    rows = store.contacts("c")
    assert [r.sent_at for r in rows[:2]] == [at, at]
    assert rows[2].sent_at and rows[2].sent_at != at
    # the send time is not part of a record's identity
    assert rows[0] == contacts("c", "t1", 1)[0]


def test_optouts_are_listed_removed_with_a_reason_and_kept(store: StateStore) -> None:
    serial = store.serial()
    assert store.add_optout("13800000000", "manual", "asked on the phone", at="2027-03-01T10:00:00+00:00")
    assert not store.add_optout("13800000000", "results:xf", "again")  # already on the list: no write
    assert store.add_optout("13900000000", "results:xf", "intention 拒绝", at="2027-03-02T10:00:00+00:00")
    assert store.serial() == serial + 2
    assert store.optouts() == [
        OptOutRecord("13800000000", "manual", "asked on the phone", "2027-03-01T10:00:00+00:00"),
        OptOutRecord("13900000000", "results:xf", "intention 拒绝", "2027-03-02T10:00:00+00:00"),
    ]
    assert store.remove_optout("13800000000", "entered by mistake", at="2027-03-03T10:00:00+00:00")
    assert not store.remove_optout("13800000000", "twice")
    assert not store.remove_optout("13700000000", "never listed")
    assert store.serial() == serial + 3
    assert [r.phone for r in store.optouts()] == ["13900000000"]
    removed = store.optouts(include_removed=True)[0]
    assert (removed.active, removed.removed_at, removed.removed_reason) == (
        False, "2027-03-03T10:00:00+00:00", "entered by mistake")
    assert store.add_optout("13800000000", "manual", "asked again", at="2027-03-04T10:00:00+00:00")
    history = [(r.phone, r.active, r.reason) for r in store.optouts(include_removed=True)]
    assert history == [("13800000000", False, "asked on the phone"), ("13900000000", True, "intention 拒绝"),
                       ("13800000000", True, "asked again")]


def test_optouts_are_shared_between_handles(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    try:
        assert a.add_optout("13800000000", "manual")
        assert not b.add_optout("13800000000", "manual")
        assert [r.phone for r in b.optouts()] == ["13800000000"]
    finally:
        a.close()
        b.close()


# --- task settings and run state ----------------------------------------------


def test_task_settings_and_run_state_round_trip(backend: Backend) -> None:
    settings = {"windows": [["09:00", "12:00"]], "robot": "机器人", "retry": {"times": 2, "gap": 1.5}, "on": True}
    writer = backend.open()
    record = task("c", "t1", settings=settings, run_state="paused")
    writer.put_task(record)
    writer.put_task(task("c", "t2", wave=2))
    writer.close()
    reader = backend.open_existing()
    first, second = reader.tasks("c")
    assert first == record
    assert (first.settings, first.run_state) == (settings, "paused")
    assert (second.settings, second.run_state) == ({}, "")
    reader.put_task(dataclasses.replace(record, settings={"windows": []}, run_state="running"))
    updated = reader.tasks("c")[0]
    assert (updated.settings, updated.run_state) == ({"windows": []}, "running")


def test_task_settings_do_not_take_part_in_equality_or_hashing() -> None:
    one, other = task("c", "t1", settings={"a": 1}), task("c", "t1", settings={"a": 2})
    assert one == other and hash(one) == hash(other)
    assert task("c", "t1", run_state="paused") != task("c", "t1", run_state="running")


def test_an_unknown_run_state_is_refused(store: StateStore) -> None:
    with pytest.raises(StateError, match="run state 'stopped'"):
        store.put_task(task("c", "t1", run_state="stopped"))
    assert (store.tasks(), store.serial()) == ([], 0)


# --- rename ------------------------------------------------------------------


def fill(store: StateStore, name: str) -> None:
    store.put_campaign(CampaignRecord(name, "xf", "task", "xfyeta"))
    store.put_task(task(name, f"{name}-1", settings={"n": 1}, run_state="running"))
    store.put_task(task(name, f"{name}-2", wave=2))
    store.put_contacts(contacts(name, f"{name}-1", 3))
    store.put_contacts(contacts(name, f"{name}-2", 2, wave=2))
    store.end_call(store.begin_call(name, "xf", "create", "", {"name": name}), CallOutcome.OK)


def test_rename_moves_records_and_journal_in_one_write(backend: Backend) -> None:
    store = backend.open()
    fill(store, "old")
    fill(store, "kept")
    tasks_before, contacts_before = store.tasks("old"), store.contacts("old")
    journal_before = store.journal("old")
    serial = store.serial()

    store.rename_campaign("old", "new")

    assert store.serial() == serial + 1
    seen = backend.open()
    assert [c.name for c in seen.campaigns()] == ["kept", "new"]
    assert seen.campaigns()[1] == CampaignRecord("new", "xf", "task", "xfyeta")
    moved = seen.tasks("new")
    assert moved == [dataclasses.replace(t, campaign="new") for t in tasks_before]
    assert [(t.settings, t.run_state) for t in moved] == [(t.settings, t.run_state) for t in tasks_before]
    assert seen.contacts("new") == [dataclasses.replace(c, campaign="new") for c in contacts_before]
    assert seen.journal("new") == [dataclasses.replace(e, campaign="new") for e in journal_before]
    assert (seen.tasks("old"), seen.contacts("old"), seen.journal("old")) == ([], [], [])
    assert len(seen.tasks("kept")) == 2 and len(seen.contacts("kept")) == 5 and len(seen.journal("kept")) == 1


def test_rename_of_a_campaign_known_only_by_its_tasks(store: StateStore) -> None:
    store.put_task(task("old", "t1"))
    store.rename_campaign("old", "new")
    assert [t.campaign for t in store.tasks()] == ["new"]
    assert store.campaigns() == []


@pytest.mark.parametrize("taken_by", ["campaign", "task", "contact"])
def test_rename_onto_a_name_with_records_is_refused(store: StateStore, taken_by: str) -> None:
    fill(store, "old")
    if taken_by == "campaign":
        store.put_campaign(CampaignRecord("new", "yc", "direct"))
    elif taken_by == "task":
        store.put_task(task("new", "n1"))
    else:
        store.put_contacts([ContactRecord("new", "13900000000", "fp", "", 0)])
    before = (store.serial(), store.campaigns(), store.tasks(), store.contacts("old"), store.contacts("new"))
    with pytest.raises(StateError, match="'new' already has records"):
        store.rename_campaign("old", "new")
    assert (store.serial(), store.campaigns(), store.tasks(), store.contacts("old"), store.contacts("new")) == before


def test_rename_of_an_unknown_campaign_or_onto_itself_is_refused(store: StateStore) -> None:
    store.end_call(store.begin_call("ghost", "xf", "create", "", {}), CallOutcome.OK)  # journal only: forgotten
    serial = store.serial()
    with pytest.raises(StateError, match="'nobody' is not in the state"):
        store.rename_campaign("nobody", "new")
    with pytest.raises(StateError, match="'ghost' is not in the state"):
        store.rename_campaign("ghost", "new")
    assert store.serial() == serial
    fill(store, "same")
    serial = store.serial()
    with pytest.raises(StateError, match="'same' to itself"):
        store.rename_campaign("same", "same")
    assert store.serial() == serial
    assert [e.campaign for e in store.journal()] == ["ghost", "same"]


# --- serial and lineage ---------------------------------------------------


def test_serial_bumps_once_per_write_and_never_on_reads(store: StateStore) -> None:
    writes: list[Callable[[], object]] = [
        lambda: store.put_campaign(CampaignRecord("c", "xf", "task")),
        lambda: store.put_campaign(CampaignRecord("c", "xf", "task")),  # same value again still a write
        lambda: store.put_task(task("c", "t1")),
        lambda: store.put_contacts(contacts("c", "t1", 50)),
        lambda: store.delete_contacts("c", "t1", ["13800000000"]),
        lambda: store.begin_call("c", "xf", "start", "t1", {}),
        lambda: store.end_call(store.journal()[0].id, CallOutcome.OK),
        lambda: store.forget_campaign("c"),
        lambda: store.forget_campaign("never-existed"),
    ]
    reads: list[Callable[[], object]] = [
        store.lineage,
        store.campaigns,
        store.tasks,
        lambda: store.contacts("c"),
        store.journal,
        store.current_lock,
        store.serial,
    ]
    for n, write in enumerate(writes, start=1):
        write()
        for read in reads:
            read()
        assert store.serial() == n
    store.put_contacts([])
    store.delete_contacts("c", "t1", [])
    assert store.serial() == len(writes)  # empty bulk writes change nothing


def test_lock_does_not_bump_serial(store: StateStore) -> None:
    store.put_campaign(CampaignRecord("c", "xf", "task"))
    with store.lock("apply", 0):
        assert store.serial() == 1
    with store.lock("apply", 0) as info:
        pass
    assert not store.force_unlock(info.id)
    assert store.serial() == 1


def test_serial_and_writes_visible_to_another_handle(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    first.put_task(task("c", "t1"))
    assert second.serial() == 1
    assert second.tasks() == [task("c", "t1")]


def test_lineage_stable_across_reopen_and_distinct_between_stores(backend: Backend) -> None:
    first = backend.open()
    lineage = first.lineage()
    first.put_campaign(CampaignRecord("c", "xf", "task"))
    first.close()
    again = backend.open()
    assert again.lineage() == lineage
    assert again.serial() == 1
    assert again.campaigns() == [CampaignRecord("c", "xf", "task")]
    other = backend.fresh()
    assert other.lineage() != lineage
    assert other.serial() == 0


# --- journal ---------------------------------------------------------------


def test_journal_in_call_order_with_filters(store: StateStore) -> None:
    a1 = store.begin_call("a", "xf", "create", "", {"name": "cc-a", "robot": "机器人", "n": [1, 2]})
    b1 = store.begin_call("b", "yc", "insert", "tb", {"rows": 3})
    a2 = store.begin_call("a", "xf", "insert", "ta", {"rows": 5})
    store.end_call(a1, CallOutcome.OK, result={"task_id": "ta"})
    store.end_call(b1, CallOutcome.FAILED, "vendor error 1001: bad line")
    assert a1 < b1 < a2

    entries = store.journal()
    assert [e.id for e in entries] == [a1, b1, a2]
    first = entries[0]
    assert first == JournalEntry(
        id=a1,
        campaign="a",
        profile="xf",
        call="create",
        task_id="",
        outcome=CallOutcome.OK,
        request={"name": "cc-a", "robot": "机器人", "n": [1, 2]},
        result={"task_id": "ta"},
        detail="",
        started_at=first.started_at,
        finished_at=first.finished_at,
    )
    assert first.started_at.endswith("Z") and first.finished_at >= first.started_at
    assert entries[1].detail == "vendor error 1001: bad line"
    assert entries[2].outcome is CallOutcome.PENDING and entries[2].finished_at == ""

    assert [e.id for e in store.journal("a")] == [a1, a2]
    assert [e.id for e in store.journal(outcomes=[CallOutcome.PENDING])] == [a2]
    assert [e.id for e in store.journal(outcomes=[CallOutcome.OK, CallOutcome.FAILED])] == [a1, b1]
    assert [e.id for e in store.journal("b", [CallOutcome.OK])] == []
    assert store.journal(outcomes=[]) == []
    assert store.journal("nobody") == []


def test_end_call_can_settle_an_entry_again(store: StateStore) -> None:
    entry = store.begin_call("a", "xf", "insert", "ta", {})
    store.end_call(entry, CallOutcome.UNKNOWN, "read timeout")
    store.end_call(entry, CallOutcome.RESOLVED, "platform shows 5 rows", {"count": 5})
    [settled] = store.journal()
    assert settled.outcome is CallOutcome.RESOLVED
    assert (settled.detail, settled.result) == ("platform shows 5 rows", {"count": 5})


def test_journal_text_with_nul_or_odd_values_never_fails_the_write(store: StateStore) -> None:
    entry = store.begin_call("a", "xf", "insert", "ta", {"note": "a\x00b", "rows": (1, 2), "path": Path("/x")})
    store.end_call(entry, CallOutcome.FAILED, "vendor said \x00bad", {"raw": ["\x00"]})
    [saved] = store.journal()
    assert saved.request == {"note": "ab", "rows": [1, 2], "path": "/x"}
    assert (saved.detail, saved.result) == ("vendor said bad", {"raw": [""]})


def test_end_call_of_unknown_entry_is_a_state_error(store: StateStore) -> None:
    serial = store.serial()
    with pytest.raises(StateError, match="journal entry 4242"):
        store.end_call(4242, CallOutcome.OK)
    assert store.serial() == serial


def test_pending_intent_survives_a_crash(backend: Backend) -> None:
    crashed = backend.open()
    entry = crashed.begin_call("a", "xf", "create", "", {"name": "cc-a"})
    crashed.close()  # the process died between the intent and the outcome
    after = backend.open()
    [pending] = after.journal(outcomes=[CallOutcome.PENDING])
    assert (pending.id, pending.call, pending.request) == (entry, "create", {"name": "cc-a"})
    assert after.begin_call("a", "xf", "create", "", {}) > entry


# --- bulk --------------------------------------------------------------------


def test_contacts_bulk_10k_round_trip(store: StateStore) -> None:
    rows = contacts("big", "t1", 10_000)
    store.put_contacts(rows)
    assert store.serial() == 1
    assert store.contacts("big") == rows
    store.put_contacts([dataclasses.replace(r, status=ContactStatus.DIALED) for r in rows])
    assert {r.status for r in store.contacts("big", "t1")} == {ContactStatus.DIALED}
    assert len(store.contacts("big")) == 10_000


# --- lock --------------------------------------------------------------------


def test_lock_is_exclusive_across_handles_and_names_the_holder(backend: Backend) -> None:
    holder, other = backend.open(), backend.open()
    with holder.lock("apply", 0) as info:
        assert info.operation == "apply" and f"pid {os.getpid()}" in info.holder
        assert other.current_lock() == info
        with pytest.raises(LockTimeout) as caught, other.lock("import", 0.3):
            pytest.fail("the second handle got the lock")
        message = str(caught.value)
        for part in (info.id, info.holder, "'apply'", info.created_at, f"campaignctl state unlock {info.id}"):
            assert part in message
    assert other.current_lock() is None
    with other.lock("import", 0) as second:
        assert holder.current_lock() == second


def test_lock_is_not_reentrant_on_one_handle(store: StateStore) -> None:
    with store.lock("apply", 0), pytest.raises(LockTimeout), store.lock("apply", 0.1):
        pytest.fail("nested lock granted")
    with store.lock("apply", 0):  # the failed attempt left nothing behind
        pass


def test_lock_released_on_exception(backend: Backend) -> None:
    holder, other = backend.open(), backend.open()
    with pytest.raises(RuntimeError, match="boom"), holder.lock("apply", 0):
        raise RuntimeError("boom")
    assert holder.current_lock() is None
    with other.lock("apply", 0):
        pass


def test_lock_released_on_close(backend: Backend) -> None:
    holder, other = backend.open(), backend.open()
    manager = holder.lock("apply", 0)
    manager.__enter__()
    holder.close()
    with other.lock("apply", 0):
        pass


def test_waiting_lock_is_granted_when_released(backend: Backend) -> None:
    holder, waiter = backend.open(), backend.open()
    acquired = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with holder.lock("apply", 0):
            acquired.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert acquired.wait(10)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    try:
        with waiter.lock("apply", 20) as info:
            assert release.is_set()
            assert waiter.current_lock() == info
    finally:
        release.set()
        thread.join(10)


def test_force_unlock(backend: Backend) -> None:
    holder, admin = backend.open(), backend.open()
    manager = holder.lock("apply", 0)
    info = manager.__enter__()
    assert not admin.force_unlock("not-the-lock-id")
    assert not admin.force_unlock("not-the-lock-id", force=True)
    assert admin.current_lock() == info
    assert admin.force_unlock(info.id, force=True)
    assert admin.current_lock() is None
    assert not admin.force_unlock(info.id)
    with admin.lock("state rebuild", 0) as taken:
        assert admin.current_lock() == taken
        manager.__exit__(None, None, None)  # the old holder finishing must not drop the new lock
        assert admin.current_lock() == taken
    assert admin.current_lock() is None


def assert_lock_held(caught: pytest.ExceptionInfo[LockHeld], info_id: str, holder: str, operation: str) -> None:
    err = caught.value
    message = str(err)
    for part in (holder, f"{operation!r}", info_id, "--force"):
        assert part in message
    assert (err.lock_id, err.holder, err.operation) == (info_id, holder, operation)
    assert err.since and err.since in message


def test_unlock_of_a_live_holder_needs_force(backend: Backend) -> None:
    holder, admin = backend.open(), backend.open()
    with holder.lock("apply", 0) as info:
        with pytest.raises(LockHeld) as caught:
            admin.force_unlock(info.id)
        assert_lock_held(caught, info.id, info.holder, "apply")
        assert admin.current_lock() == info  # refused: nothing released
        with pytest.raises(LockTimeout):
            admin.lock("apply", 0).__enter__()
        assert admin.force_unlock(info.id, force=True)
        assert admin.current_lock() is None
        with admin.lock("apply", 0) as taken:
            assert backend.open().current_lock() == taken


def test_force_unlock_of_own_lock(store: StateStore) -> None:
    manager = store.lock("apply", 0)
    info = manager.__enter__()
    assert store.force_unlock(info.id)
    assert store.current_lock() is None
    manager.__exit__(None, None, None)
    with store.lock("apply", 0):
        pass


CHILD = """
import os, sys, time
from pathlib import Path
env = os.environ
{open}
with store.lock("apply", 5) as info:
    print(info.id, flush=True)
    time.sleep(120)
"""


@contextmanager
def held_by_child(backend: Backend) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Another process holding the lock (killed with SIGKILL on the way out, if still there)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(open=backend.child_script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **backend.child_env},
    )
    try:
        assert child.stdout is not None
        lock_id = child.stdout.readline().strip()
        assert lock_id, child.stderr.read() if child.stderr else ""
        yield child, lock_id
    finally:
        kill(child)


def kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL: no clean-up code runs in the child."""
    child.kill()
    child.wait(10)
    for pipe in (child.stdout, child.stderr):
        if pipe is not None:
            pipe.close()


def test_lock_released_when_the_holding_process_dies(persistent_backend: Backend) -> None:
    backend = persistent_backend
    with held_by_child(backend) as (child, lock_id):
        store = backend.open()
        with pytest.raises(LockTimeout, match=f"pid {child.pid} for 'apply'.*{lock_id}"), store.lock("apply", 0):
            pytest.fail("lock granted while the child holds it")
    with store.lock("apply", 20) as info:
        assert info.id != lock_id
        assert store.current_lock() == info
    assert store.current_lock() is None


def test_unlock_of_a_live_holding_process_needs_force(persistent_backend: Backend) -> None:
    backend = persistent_backend
    with held_by_child(backend) as (child, lock_id):
        admin = backend.open()
        held = admin.current_lock()
        assert held is not None and held.id == lock_id
        with pytest.raises(LockHeld) as caught:
            admin.force_unlock(lock_id)
        assert_lock_held(caught, lock_id, held.holder, "apply")
        assert f"pid {child.pid}" in str(caught.value)
        assert admin.current_lock() == held
        assert admin.force_unlock(lock_id, force=True)
        assert admin.current_lock() is None
        with admin.lock("apply", 0) as taken:
            assert admin.current_lock() == taken


def test_unlock_of_a_dead_holder_needs_no_force(persistent_backend: Backend) -> None:
    backend = persistent_backend
    with held_by_child(backend) as (child, lock_id):
        kill(child)
    admin = backend.open()
    assert admin.force_unlock(lock_id)
    assert not admin.force_unlock(lock_id)
    assert admin.current_lock() is None
    with admin.lock("apply", 0) as taken:
        assert admin.current_lock() == taken


# --- threads -------------------------------------------------------------------


@pytest.mark.parametrize("sharing", ["one handle", "handle per thread"])
def test_concurrent_writers_lose_nothing(backend: Backend, sharing: str) -> None:
    threads_n, rounds, batch = 8, 15, 20
    shared = backend.open()
    handles = [shared if sharing == "one handle" else backend.open() for _ in range(threads_n)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def work(n: int) -> None:
        mine = handles[n]
        try:
            start.wait(10)
            for r in range(rounds):
                entry = mine.begin_call(f"c{n}", "xf", "insert", f"t{n}", {"round": r})
                mine.put_contacts(contacts(f"c{n}", f"t{n}", batch, start=r * batch))
                mine.end_call(entry, CallOutcome.OK, result={"round": r})
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == []
    assert shared.serial() == threads_n * rounds * 3
    journal = shared.journal()
    assert len(journal) == threads_n * rounds
    assert len({e.id for e in journal}) == len(journal)
    assert {e.outcome for e in journal} == {CallOutcome.OK}
    for n in range(threads_n):
        assert shared.contacts(f"c{n}") == contacts(f"c{n}", f"t{n}", rounds * batch)
        assert [e.request["round"] for e in shared.journal(f"c{n}")] == list(range(rounds))


# --- journal calls carrying phones and records; derived data -------------------------------------


def test_begin_call_keeps_its_phones_beside_the_entry_until_it_is_settled(backend: Backend) -> None:
    store = backend.open()
    serial = store.serial()
    first = store.begin_call("c", "xf", "insert", "t1", {"count": 2}, phones=["13800000001", "13800000002"])
    second = store.begin_call("c", "xf", "insert", "t1", {"count": 1}, phones=["13800000003"])
    assert store.serial() == serial + 2
    store.close()
    again = backend.open_existing()  # survives a restart
    by_id = {e.id: e for e in again.journal()}
    assert by_id[first].phones == ("13800000001", "13800000002")
    assert by_id[first].request == {"count": 2}  # not in the request
    again.end_call(first, CallOutcome.UNKNOWN, "lost")
    assert {e.id: e.phones for e in again.journal()}[first] == ("13800000001", "13800000002")
    again.end_call(first, CallOutcome.RESOLVED)
    again.end_call(second, CallOutcome.OK)
    assert [e.phones for e in again.journal()] == [(), ()]


def test_a_send_of_one_batch_is_stored_as_its_records(store: StateStore) -> None:
    """``SentContacts`` (one value per vendor call, apply's hot loop) writes what the list of its
    records writes: the same rows, a data id per row or none, the write time when it has no stamp."""
    listed = contacts("c", "t1", 3)
    sent = SentContacts("c", "t1", 1, tuple(r.phone for r in listed), tuple(r.fingerprint for r in listed),
                        ("d0", None, "d2"), ContactStatus.SENT, "")
    assert list(sent) == [listed[0], dataclasses.replace(listed[1], data_id=None), listed[2]]
    assert (sent[-1], sent[1:]) == (listed[2], list(sent)[1:])
    entry = store.begin_call("c", "xf", "insert", "t1", {})
    store.end_call(entry, CallOutcome.OK, records=Records(contacts=sent), wait=False)
    store.flush()
    stored = store.contacts("c", "t1")
    assert stored == list(sent)
    assert all(r.sent_at for r in stored)  # stamped when written
    stamped = dataclasses.replace(sent, task_id="t2", status=ContactStatus.DIALED, sent_at="2026-12-01T08:00:00")
    store.put_contacts(stamped)
    assert [(r.status, r.sent_at) for r in store.contacts("c", "t2")] == [
        (ContactStatus.DIALED, "2026-12-01T08:00:00")] * 3
    with pytest.raises(ValueError, match="differ in length"):
        SentContacts("c", "t1", 1, ("1",), (), (None,))


def test_journal_calls_write_their_records_in_the_same_write(store: StateStore) -> None:
    serial = store.serial()
    records = Records(campaigns=[CampaignRecord("c", "xf", "direct", "xfyeta")],
                      contacts=contacts("c", "", 2, wave=0))
    entry = store.begin_call("c", "xf", "callout", "", {}, records=records)
    assert store.serial() == serial + 1
    assert [r.phone for r in store.contacts("c")] == ["13800000000", "13800000001"]
    done = Records(tasks=[task("c", "t1")], contacts=contacts("c", "t1", 1),
                   removed=[("c", "", ["13800000000"])])
    store.end_call(entry, CallOutcome.OK, records=done)
    assert store.serial() == serial + 2
    assert store.tasks("c") == [task("c", "t1")]
    assert [(r.task_id, r.phone) for r in store.contacts("c")] == [("", "13800000001"), ("t1", "13800000000")]
    with pytest.raises(StateError):
        store.end_call(entry, CallOutcome.OK, records=Records(tasks=[task("c", "t2", run_state="bogus")]))
    with pytest.raises(StateError):  # a missing entry writes none of its records
        store.end_call(entry + 99, CallOutcome.OK, records=Records(contacts=contacts("c", "t9", 1)))
    assert store.contacts("c", "t9") == []
    assert store.serial() == serial + 2


def test_contacts_taken_out_of_a_started_task_are_kept_as_removed(store: StateStore) -> None:
    store.put_contacts(contacts("c", "t1", 3))
    entry = store.begin_call("c", "yc", "remove", "t1", {})
    store.end_call(entry, CallOutcome.OK, records=Records(retired=[("c", "t1", ["13800000001", "13899999999"])]))
    assert [(r.phone, r.status) for r in store.contacts("c", "t1")] == [
        ("13800000000", ContactStatus.SENT), ("13800000001", ContactStatus.REMOVED),
        ("13800000002", ContactStatus.SENT)]  # a number never recorded is not made up
    kept = next(r for r in store.contacts("c", "t1") if r.phone == "13800000001")
    assert kept.sent_at and kept.fingerprint  # still the record of when and what was sent
    assert [r.status for r in store.contacts_with(["13800000001"])] == [ContactStatus.REMOVED]


def test_source_digests_round_trip_without_bumping_serial(backend: Backend) -> None:
    store = backend.open()
    serial = store.serial()
    warn = Problem("contacts/a.csv", 7, "phone", "duplicate phone 13800000000; row dropped", "warning")
    store.put_source_digests([SourceDigest("k1", "d1", 1000, (warn,)), SourceDigest("k2", "d2", 0)])
    store.put_source_digests([SourceDigest("k2", "d3", 5)])  # replaced by key
    assert store.serial() == serial
    store.close()
    again = backend.open_existing()
    assert again.source_digests(["k1", "k2", "k3"]) == {
        "k1": SourceDigest("k1", "d1", 1000, (warn,)), "k2": SourceDigest("k2", "d3", 5)}
    assert again.source_digests([]) == {}
    assert set(again.source_digests()) == {"k1", "k2"}


def test_phone_lists_round_trip_by_table_digest_and_go_with_their_cached_parses(backend: Backend) -> None:
    """Kept for the tables a cached parse names; a list of a table no cached parse names any more is
    dropped on the next write; derived data: the serial stays."""
    store = backend.open()
    serial = store.serial()
    store.put_source_digests([SourceDigest("k1", "d1", 2), SourceDigest("k2", "d2", 0), SourceDigest("k3", "d3", 1)])
    store.put_phone_lists([PhoneList.of("d1", ["13800000000", "13800000001"]), PhoneList.of("d2", []),
                           PhoneList.of("d3", ["13800000009"])])
    store.put_phone_lists([PhoneList.of("d3", ["13900000000"])])  # replaced by digest
    assert store.serial() == serial
    store.close()
    again = backend.open_existing()
    kept = again.phone_lists(["d1", "d2", "d3", "d4"])
    assert {d: p.phones() for d, p in kept.items()} == {
        "d1": ["13800000000", "13800000001"], "d2": [], "d3": ["13900000000"]}
    assert again.phone_lists([]) == {}
    again.put_source_digests([SourceDigest("k1", "d9", 2)])  # k1's table is another one now: d1 is named by none
    again.put_phone_lists([PhoneList.of("d9", ["13800000000", "13700000000"])])
    kept = again.phone_lists(["d1", "d2", "d3", "d9"])
    assert {d: p.phones() for d, p in kept.items()} == {
        "d2": [], "d3": ["13900000000"], "d9": ["13800000000", "13700000000"]}


def test_converged_markers_are_cleared_by_every_write_touching_their_campaign(store: StateStore) -> None:
    def mark(*names: str) -> None:
        store.put_converged([Converged(n, "d", "s") for n in names])

    serial = store.serial()
    mark("a", "b")
    assert store.converged() == {"a": Converged("a", "d", "s"), "b": Converged("b", "d", "s")}
    assert store.serial() == serial
    writes: list[tuple[str, Callable[[], object]]] = [
        ("put_contacts", lambda: store.put_contacts(contacts("a", "t1", 1))),
        ("delete_contacts", lambda: store.delete_contacts("a", "t1", ["13800000000"])),
        ("put_task", lambda: store.put_task(task("a", "t1"))),
        ("begin_call", lambda: store.begin_call("a", "xf", "start", "t1", {})),
        ("journal records", lambda: store.end_call(store.begin_call("b", "xf", "start", "t1", {}),
                                                   CallOutcome.OK, records=Records(tasks=[task("a", "t1")]))),
        ("forget", lambda: store.forget_campaign("a")),
    ]
    for what, write in writes:
        mark("a")
        write()
        assert "a" not in store.converged(), what
    # What a marker says the suppression lists kept out of its table comes back as written, and replaces
    # what an earlier marker of the campaign said.
    held = Converged("b", "d", "s", "sup1", (("do-not-call list a.csv", 2), ("opt-out", 1)))
    store.put_converged([held])
    assert store.converged()["b"] == held
    store.put_converged([Converged("b", "d", "s")])
    assert store.converged()["b"] == Converged("b", "d", "s", "", ())
    mark("a", "b", "c")
    store.put_task(task("a", "t1"))
    store.rename_campaign("a", "z")
    assert set(store.converged()) == {"b", "c"}
    store.put_campaign(CampaignRecord("c", "xf", "task", "xfyeta"))  # not its tasks, contacts or journal
    assert set(store.converged()) == {"b", "c"}


def test_parallel_writers_share_commits_and_each_sees_its_own_outcome(store: StateStore) -> None:
    serial = store.serial()
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def lane(n: int) -> None:
        for i in range(20):
            try:
                entry = store.begin_call(f"c{n}", "xf", "insert", f"t{n}", {"i": i}, phones=[f"1380000{n:02d}{i:02d}"])
                store.end_call(entry, CallOutcome.OK, records=Records(contacts=contacts(f"c{n}", f"t{n}", 1, i)))
                if i == 10:
                    store.end_call(10**9 + n, CallOutcome.OK)  # fails alone
            except StateError as exc:
                with lock:
                    errors.append(exc)
                continue
            with lock:
                ids.append(entry)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8 and all("does not exist" in str(e) for e in errors)
    assert len(ids) == 8 * 19 and len(set(ids)) == len(ids)
    assert store.serial() == serial + 8 * 20 * 2  # the failed end_calls bumped nothing
    assert sum(len(store.contacts(f"c{n}")) for n in range(8)) == 8 * 20


def test_an_intent_unless_listed_is_refused_whole_when_a_number_is_on_the_opt_out_list(store: StateStore) -> None:
    store.add_optout("13800000002", "test")
    store.add_optout("13800000009", "test")
    store.remove_optout("13800000009", "back")  # no longer listed
    serial = store.serial()
    with pytest.raises(Listed) as info:
        store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001", "13800000002", "13800000009"],
                         records=Records(campaigns=[CampaignRecord("c", "xf", "task", "xfyeta")]),
                         unless_listed=True)
    assert info.value.phones == {"13800000002"}
    assert store.serial() == serial and store.journal() == [] and store.campaigns() == []  # nothing written
    entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001", "13800000009"],
                             unless_listed=True)
    assert [e.id for e in store.journal()] == [entry]
    many = [f"1390000{i:04d}" for i in range(1200)]  # more numbers than one statement takes parameters
    store.add_optout(many[-1], "test")
    with pytest.raises(Listed) as info:
        store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=many, unless_listed=True)
    assert info.value.phones == {many[-1]}


def test_an_outcome_not_waited_for_is_seen_by_every_later_read_and_written_before_the_lock_is_let_go(
        persistent_backend: Backend) -> None:
    store, other = persistent_backend.open(), persistent_backend.open()
    with store.lock("apply", 1):
        entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001"])
        store.end_call(entry, CallOutcome.OK, records=Records(contacts=contacts("c", "t1", 1)), wait=False)
        assert [e.outcome for e in store.journal()] == [CallOutcome.OK]  # a read of the handle commits it first
        later = store.begin_call("c", "xf", "start", "t1", {"wave": 1})
        store.end_call(later, CallOutcome.OK, wait=False)
    # the lock let go: the last outcome was written under the lock that guarded its call
    assert {e.id: e.outcome for e in other.journal()} == {entry: CallOutcome.OK, later: CallOutcome.OK}
    assert len(other.contacts("c")) == 1


def test_the_phones_of_calls_settled_without_waiting_are_gone_after_a_flush(persistent_backend: Backend) -> None:
    """Kept beside the entry while its outcome is pending or unknown; once settled, no read shows them, and
    the flush that ends an apply drops them (the stored rows themselves, not only what reads show)."""
    store = persistent_backend.open()
    done = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001", "13800000002"])
    lost = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000003"])
    store.end_call(lost, CallOutcome.UNKNOWN, "lost", wait=False)
    store.end_call(done, CallOutcome.OK, wait=False)
    assert {e.id: e.phones for e in store.journal()} == {done: (), lost: ("13800000003",)}
    store.flush()
    assert {e.id: e.phones for e in persistent_backend.open().journal()} == {done: (), lost: ("13800000003",)}
    kept = store._read(lambda c: store._exec(c, "SELECT entry_id FROM journal_phones").fetchall())  # type: ignore[attr-defined]
    assert [tuple(r) for r in kept] == [(lost,)]
    store.end_call(lost, CallOutcome.RESOLVED)  # waited for: dropped in its own transaction
    assert store._read(lambda c: store._exec(c, "SELECT entry_id FROM journal_phones").fetchall()) == []  # type: ignore[attr-defined]


def test_an_outcome_not_waited_for_that_fails_stops_every_later_write(persistent_backend: Backend) -> None:
    """It rides with the lane's next intent: that intent must not be written either (its call would be sent on top
    of an outcome the state never got), and nothing after it."""
    store = persistent_backend.open()
    entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001"])
    store.end_call(10**9, CallOutcome.OK, wait=False)  # no such entry: fails when committed
    with pytest.raises(StateError, match="journal outcome could not be written"):
        store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000002"])
    with pytest.raises(StateError, match="journal outcome could not be written"):
        store.put_campaign(CampaignRecord("c", "xf", "task", "xfyeta"))
    with pytest.raises(StateError, match="journal outcome could not be written"):
        store.flush()
    other = persistent_backend.open()
    assert [e.id for e in other.journal()] == [entry] and other.campaigns() == []


def test_a_transaction_of_several_writes_bumps_the_serial_once_per_write_it_wrote(
        persistent_backend: Backend) -> None:
    """An outcome not waited for rides in the next write's transaction: the serial still counts both,
    and an intent refused in that transaction (a number listed since) counts nothing."""
    store = persistent_backend.open()
    entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001"])
    serial = store.serial()
    store.end_call(entry, CallOutcome.OK, records=Records(contacts=contacts("c", "t1", 1)), wait=False)
    store.begin_call("c", "xf", "start", "t1", {"wave": 1})
    assert store.serial() == serial + 2
    store.add_optout("13800000009", "test")
    serial = store.serial()
    last = store.journal()[-1].id
    store.end_call(last, CallOutcome.OK, records=Records(contacts=contacts("c", "t2", 2)), wait=False)
    with pytest.raises(Listed):  # refused in the transaction that writes the outcome above
        store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000009"], unless_listed=True)
    assert store.serial() == serial + 1
    # the outcome and its records are written all the same (again, in a transaction of their own)
    assert [e.outcome for e in store.journal()] == [CallOutcome.OK, CallOutcome.OK]
    assert len(store.contacts("c", "t2")) == 2
    entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000003"])
    assert store.journal()[-1].id == entry and store.serial() == serial + 2


def test_every_write_of_a_transaction_that_touches_a_campaign_clears_its_marker(persistent_backend: Backend) -> None:
    """Cleared once per transaction, but a marker written in the same transaction is cleared again by
    any later write of it."""
    store = persistent_backend.open()
    mark = Converged("c", "digest", "s1")
    entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=["13800000001"])
    store.put_converged([mark])
    store.end_call(entry, CallOutcome.OK, records=Records(contacts=contacts("c", "t1", 1)), wait=False)
    store.begin_call("c", "xf", "start", "t1", {"wave": 1})  # commits the outcome with it: both clear "c"
    assert store.converged() == {}
    store.put_converged([mark])
    assert set(store.converged()) == {"c"}
    store.end_call(store.journal()[-1].id, CallOutcome.OK, wait=False)  # rides with the marker's next write
    store.put_converged([mark])  # written after the outcome, in one transaction: it stands
    assert set(store.converged()) == {"c"}


def test_a_write_undone_in_a_group_commit_leaves_the_marker_to_the_next_write_of_it(
        persistent_backend: Backend) -> None:
    """Writes of lanes committed together: one that fails is undone to its savepoint, its marker
    delete with it, so a later write of the same transaction must still clear the marker; and a
    marker written earlier in the transaction is cleared by a later write (the group commit's
    queue, filled by hand: which writes share a transaction is otherwise up to the threads)."""
    from reconciler.state.sql import SqlStore, _Write

    store = persistent_backend.open()
    assert isinstance(store, SqlStore)
    mark = Converged("c", "digest", "s1")
    store.put_converged([mark])

    def clears_then_fails(c: Any) -> None:
        store._unconverge(c, ("c",))
        raise StateError("refused")

    def clears(c: Any) -> None:
        store._unconverge(c, ("c",))

    failing, clearing = _Write(clears_then_fails, True, True, False), _Write(clears, True, True, False)
    store._queue.extend([failing, clearing])
    store.flush()
    assert isinstance(failing.error, StateError) and clearing.error is None
    assert store.converged() == {}

    captured: list[Any] = []
    write = store._write
    store._write = lambda fn, *a, **k: captured.append(fn)  # type: ignore[method-assign]
    store.put_converged([mark])
    store._write = write  # type: ignore[method-assign]
    store._queue.extend([_Write(clears, True, True, False), _Write(captured[0], False, False, True),
                         _Write(clears, True, True, False)])
    store.flush()
    assert store.converged() == {}


# --- results (vendor pushes) ------------------------------------------------------


def result(key: str, module: str = "receiveCallRecord", profile: str = "xf", **kw: Any) -> ResultRecord:
    fields: dict[str, Any] = {"call": key.split("#")[0], "body": {"call_uuid": key.split("#")[0], "n": 1}}
    fields.update(kw)
    return ResultRecord(profile=profile, module=module, key=key, **fields)


def seed_contacts(store: StateStore) -> None:
    store.put_campaign(CampaignRecord("c", "xf", "task", "xfyeta"))
    store.put_campaign(CampaignRecord("d", "xf", "direct", "xfyeta"))
    store.put_campaign(CampaignRecord("y", "yc", "task", "yccall"))
    store.put_task(task("c", "t1"))
    store.put_task(task("y", "ty", profile="yc"))
    store.put_contacts(contacts("c", "t1", 3))  # data ids d0..d2
    store.put_contacts([ContactRecord("d", "13900000000", "fp", "", 0, "d9", ContactStatus.DIALED)])
    store.put_contacts([ContactRecord("y", "13700000000", "fp", "ty", 1, "uuid-y", ContactStatus.SENT)])


def test_results_are_stored_once_per_key_and_never_bump_serial(store: StateStore) -> None:
    seed_contacts(store)
    serial = store.serial()
    first = result("u1#basic", data_id="d0", task_id="t1")
    assert store.put_results([first, result("u1#outbound", data_id="d0", task_id="t1")]) == [True, True]
    retry = result("u1#basic", data_id="d0", task_id="t1", body={"changed": True})
    assert store.put_results([retry]) == [False]
    assert store.put_results([]) == []
    assert store.serial() == serial
    stored = store.results()
    assert [r.key for r in stored] == ["u1#basic", "u1#outbound"]
    assert stored[0].body == {"call_uuid": "u1", "n": 1}  # the first push stays
    assert stored[0].received_at and stored[0].id < stored[1].id
    assert (stored[0].campaign, stored[0].phone) == ("c", "13800000000")


def test_results_join_by_data_id_then_task_and_callee_then_call(store: StateStore) -> None:
    seed_contacts(store)
    records = [
        result("a", data_id="d1", task_id="t1"),  # rule 1
        result("b", data_id="new-round-id", task_id="t1", callee="13800000002"),  # rule 2
        result("b2", data_id="d1", task_id="other-task", callee="13800000000"),  # data id of another task: no
        result("v", module="receiveVoice", call="a"),  # rule 3: the call of "a"
        result("dd", data_id="d9", task_id="pool-task"),  # a direct contact has no task: data id alone
        result("yy", module="callrecord", profile="yc", data_id="uuid-y", task_id="ty"),
        result("ts", module="taskstatus", profile="yc", call="", task_id="ty"),  # rule 4: campaign only
        result("lost", data_id="nobody", task_id="t1", callee="13811111111"),
        result("xp", profile="other", data_id="d1"),  # another profile never joins
    ]
    assert store.put_results(records) == [True] * len(records)
    joined = {r.key: (r.campaign, r.phone) for r in store.results()}
    assert joined == {
        "a": ("c", "13800000001"),
        "b": ("c", "13800000002"),
        "b2": ("", ""),
        "v": ("c", "13800000001"),
        "dd": ("d", "13900000000"),
        "yy": ("y", "13700000000"),
        "ts": ("y", ""),
        "lost": ("", ""),
        "xp": ("", ""),
    }
    assert [r.key for r in store.results("")] == ["b2", "lost", "xp"]
    assert [r.key for r in store.results("c", phones=["13800000001"])] == ["a", "v"]
    assert [r.key for r in store.results("c")] == ["a", "b", "v"]
    # by phone in any campaign (what a frequency cap reads of the numbers it is asked about)
    assert [r.key for r in store.results(None, ["13800000001", "13700000000", "13811111111"])] == ["a", "v", "yy"]
    assert store.results(None, []) == []


def test_contacts_with_gives_every_campaigns_records_of_the_phones(store: StateStore) -> None:
    seed_contacts(store)
    store.put_campaign(CampaignRecord("e", "xf", "task", "xfyeta"))
    store.put_task(task("e", "te"))
    store.put_contacts(contacts("e", "te", 2, start=1))  # 13800000001 and ..02, in c too
    found = store.contacts_with(["13800000001", "13900000000", "13800000009"])
    assert [(r.campaign, r.phone, r.task_id) for r in found] == [
        ("c", "13800000001", "t1"), ("d", "13900000000", ""), ("e", "13800000001", "te")]
    assert found[0] == store.contacts("c")[1]
    assert store.contacts_with([]) == []


def test_a_push_before_its_call_record_joins_with_it(store: StateStore) -> None:
    seed_contacts(store)
    store.put_results([result("u7#voice", module="receiveVoice", call="u7")])
    assert store.results("")[0].key == "u7#voice"
    store.put_results([result("u7#basic", call="u7", data_id="d2", task_id="t1")])
    assert {(r.key, r.phone) for r in store.results("c")} == {("u7#voice", "13800000002"), ("u7#basic", "13800000002")}


def test_rejoin_matches_results_whose_contact_came_later(backend: Backend) -> None:
    store = backend.open()
    store.put_results([result("early", data_id="d5", task_id=""), result("never", data_id="zzz")])
    assert store.rejoin_results() == 0
    store.put_campaign(CampaignRecord("d", "xf", "direct", "xfyeta"))
    store.put_contacts([ContactRecord("d", "13900000005", "fp", "", 0, "d5", ContactStatus.DIALED)])
    other = backend.open()
    assert other.rejoin_results() == 1
    assert [(r.key, r.campaign, r.phone) for r in store.results()] == [("early", "d", "13900000005"),
                                                                       ("never", "", "")]


def test_results_survive_reopen_and_follow_a_rename(backend: Backend) -> None:
    store = backend.open()
    seed_contacts(store)
    store.put_results([result("r1", data_id="d0", task_id="t1", body={"callee": "13800000000", "x": "\x00y"})])
    store.close()
    again = backend.open()
    assert again.put_results([result("r1", data_id="d0", task_id="t1")]) == [False]
    again.rename_campaign("c", "c2")
    (moved,) = again.results("c2")
    assert moved.key == "r1" and moved.body == {"callee": "13800000000", "x": "y"}


def test_concurrent_result_writers_lose_nothing_and_store_each_key_once(backend: Backend) -> None:
    stores = [backend.open() for _ in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                stores[n].put_results([result(f"k{i}"), result(f"w{n}-{i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = [r.key for r in stores[0].results()]
    assert len(keys) == len(set(keys)) == 25 + 4 * 25


def test_a_result_saying_do_not_call_puts_its_contact_on_the_optout_list_in_the_same_write(
        store: StateStore) -> None:
    seed_contacts(store)
    serial = store.serial()
    said = result("u1", module="receiveDialog", data_id="d0", task_id="t1", optout="tag_desc '拒绝' matches '拒绝'",
                  received_at="2027-03-02T02:00:00+00:00")
    assert store.put_results([said, result("u2#basic", data_id="d1", task_id="t1")]) == [True, True]
    (listed,) = store.optouts()
    assert (listed.phone, listed.source, listed.reason, listed.created_at) == (
        "13800000000", "results:xf", "tag_desc '拒绝' matches '拒绝'", "2027-03-02T02:00:00+00:00")
    assert store.results("c")[0].optout == "tag_desc '拒绝' matches '拒绝'"
    # a vendor's retry, or another refusal of a listed number, changes nothing; results never bump the serial
    assert store.put_results([said, dataclasses.replace(said, key="u3", call="u3")]) == [False, True]
    assert len(store.optouts(include_removed=True)) == 1 and store.serial() == serial
    # unmatched: nobody is listed (no phone), the reason is kept with the record
    assert store.put_results([result("lost", data_id="nobody", optout="x")]) == [True]
    assert [r.phone for r in store.optouts()] == ["13800000000"]


def test_a_refusal_pushed_before_its_call_record_lists_the_number_once_the_call_joins(store: StateStore) -> None:
    seed_contacts(store)
    store.put_results([result("u7#dialog", module="receiveDialog", call="u7", optout="refused")])
    assert store.optouts() == []
    store.put_results([result("u7#basic", call="u7", data_id="d2", task_id="t1")])
    assert [(r.phone, r.source, r.reason) for r in store.optouts()] == [("13800000002", "results:xf", "refused")]


def test_rejoin_lists_the_number_of_a_refusal_whose_contact_came_later(backend: Backend) -> None:
    store = backend.open()
    store.put_results([result("early", data_id="d5", task_id="", optout="refused")])
    store.put_campaign(CampaignRecord("d", "xf", "direct", "xfyeta"))
    store.put_contacts([ContactRecord("d", "13900000005", "fp", "", 0, "d5", ContactStatus.DIALED)])
    assert store.optouts() == []
    assert backend.open().rejoin_results() == 1
    assert [(r.phone, r.reason) for r in store.optouts()] == [("13900000005", "refused")]


def test_a_number_taken_off_the_list_is_not_listed_again_by_an_old_push(store: StateStore) -> None:
    seed_contacts(store)
    said = result("u1", module="receiveDialog", data_id="d0", task_id="t1", optout="refused")
    store.put_results([said])
    assert store.remove_optout("13800000000", "asked to be called after all")
    assert store.put_results([said]) == [False]  # the vendor retries the same push
    assert store.optouts() == [] and len(store.optouts(include_removed=True)) == 1
