"""engine/settle.py: what an interrupted call did, decided at batch boundaries and for ambiguous counts.

The pure verdicts are table-driven; waiting (``await_*``) and ``recover``
run against the emulators over loopback, with journal entries as an
interrupted apply leaves them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from reconciler.engine.settle import (
    CalloutIntent,
    CreateIntent,
    InsertIntent,
    Verdict,
    age_seconds,
    await_create,
    await_insert,
    intent_of,
    resolve_by_hand,
    sent_records,
    settle_carried,
    settle_create,
    settle_insert,
    settle_window,
)
from reconciler.errors import OutcomeUnknown
from reconciler.model import ContactRow, DesiredCampaign
from reconciler.providers.base import AddResult, ObservedTask, Phase, Provider
from reconciler.state.base import CallOutcome, ContactRecord, ContactStatus, JournalEntry
from reconciler.state.memory import MemoryStore
from tests.engine.rig import SETTLE_WINDOW, rig
from tests.helpers.builders import campaign, desired, phones, rows

SIZES = [1, 49, 50, 51, 101]


def _fill(xf: Provider, task_id: str, c: DesiredCampaign, batch: Sequence[ContactRow]) -> None:
    """Insert rows in vendor-sized batches (what earlier batches of an apply did)."""
    for start in range(0, len(batch), 50):
        xf.add_contacts(task_id, c, batch[start : start + 50])
BEFORE = [0, 1, 49, 50, 51, 101]
W = 10.0  # a settle window for the pure decisions


def _intent(before: int | None, size: int) -> InsertIntent:
    return InsertIntent(1, tuple(phones(size)), before)


# --- pure verdicts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("before", BEFORE)
def test_settle_insert_exact_counts(before: int, size: int) -> None:
    i = _intent(before, size)
    assert settle_insert(i, before + size, age=0, window=W) is Verdict.LANDED
    assert settle_insert(i, before + size, age=W + 1, window=W) is Verdict.LANDED
    assert settle_insert(i, before, age=0, window=W) is Verdict.IN_FLIGHT
    assert settle_insert(i, before, age=W, window=W) is Verdict.NOT_LANDED


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("before", BEFORE)
def test_settle_insert_ambiguous_counts(before: int, size: int) -> None:
    i = _intent(before, size)
    for partial in range(before + 1, before + size):  # part of the batch landed
        assert settle_insert(i, partial, age=0, window=W) is Verdict.IN_FLIGHT
        assert settle_insert(i, partial, age=W, window=W) is Verdict.AMBIGUOUS
    for odd in (before + size + 1, before + 2 * size):  # more than the batch: someone else inserted
        assert settle_insert(i, odd, age=0, window=W) is Verdict.AMBIGUOUS
    if before:
        assert settle_insert(i, before - 1, age=0, window=W) is Verdict.AMBIGUOUS  # numbers went away
    assert settle_insert(i, None, age=0, window=W) is Verdict.AMBIGUOUS
    assert settle_insert(_intent(None, size), before + size, age=0, window=W) is Verdict.AMBIGUOUS


def test_settle_create() -> None:
    live = ObservedTask("p", "1", "gitops-a", Phase.NOT_STARTED, 0, False)
    gone = ObservedTask("p", "1", "gitops-a", Phase.ABSENT, 0, False, deleted=True)
    assert settle_create(live, age=0, window=W) is Verdict.LANDED
    assert settle_create(live, age=W * 9, window=W) is Verdict.LANDED
    for found in (None, gone):
        assert settle_create(found, age=0, window=W) is Verdict.IN_FLIGHT
        assert settle_create(found, age=W - 0.01, window=W) is Verdict.IN_FLIGHT
        assert settle_create(found, age=W, window=W) is Verdict.NOT_LANDED


@pytest.mark.parametrize("carried", [0, 1, 49, 50, 51, 101])
def test_settle_carried(carried: int) -> None:
    assert settle_carried(carried, carried) is Verdict.LANDED
    if carried:
        assert settle_carried(0, carried) is Verdict.NOT_LANDED
        assert settle_carried(None, carried) is Verdict.AMBIGUOUS
        assert settle_carried(carried + 1, carried) is Verdict.AMBIGUOUS
        for partial in {1, carried // 2, carried - 1} - {0, carried}:
            assert settle_carried(partial, carried) is Verdict.AMBIGUOUS


def test_settle_window_option() -> None:
    assert settle_window({"settle_window": 2}) == 2.0
    assert settle_window({"settle_window": 0}) == 0.0
    assert settle_window({"read_timeout": 1}) == 15.0
    assert settle_window({"read_timeout": 10}) == 30.0
    assert settle_window({"settle_window": True, "read_timeout": 20}) == 60.0
    assert settle_window({}) == 90.0


def test_age_of_an_entry() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    e = JournalEntry(1, "a", "p", "insert", "t", CallOutcome.PENDING, started_at="2026-12-31T23:59:50.000Z")
    assert age_seconds(e, now) == 10
    assert age_seconds(JournalEntry(1, "a", "p", "insert", "t", CallOutcome.PENDING, started_at="junk"),
                       now) == float("inf")
    assert age_seconds(JournalEntry(1, "a", "p", "insert", "t", CallOutcome.PENDING,
                                    started_at="2027-01-01T00:00:05"), now) == 0


def test_intent_round_trip() -> None:
    for intent in (CreateIntent(2, "gitops-a~2", "fp", ("1",)), InsertIntent(1, ("1", "2"), 50),
                   CalloutIntent(("1",))):
        # the phones are kept beside the entry (the request holds row ranges and a digest)
        e = JournalEntry(1, "a", "p", intent.call, "t", CallOutcome.PENDING, request=intent.to_request(),
                         phones=intent.phones)
        assert intent_of(e) == intent
    junk = JournalEntry(1, "a", "p", "insert", "t", CallOutcome.PENDING, request={"count_before": True})
    assert intent_of(junk) == InsertIntent(0, (), None)


# --- waiting against the emulator ------------------------------------------------------------------


def test_await_create_sees_a_late_create_land() -> None:
    c = campaign("spring", n=0)
    with rig() as r:
        xf = r.providers["iflytek"]
        r.xf.faults.add("task/create:latency:0.8")
        import threading

        def create() -> None:
            with contextlib.suppress(OutcomeUnknown):  # the answer comes after the read timeout
                xf.create_task(c, 1)

        threading.Thread(target=create, daemon=True).start()
        started = time.monotonic()
        verdict, found = await_create(xf, "spring", 1, waited=0.0, window=5.0)
        assert verdict is Verdict.LANDED and found is not None and found.name == "gitops-spring"
        assert time.monotonic() - started < 4


def test_await_create_gives_up_after_the_window() -> None:
    with rig() as r:
        started = time.monotonic()
        verdict, found = await_create(r.providers["iflytek"], "spring", 1, waited=0.0, window=0.6)
        assert verdict is Verdict.NOT_LANDED and found is None
        assert 0.5 <= time.monotonic() - started < 3
        verdict, _ = await_create(r.providers["iflytek"], "spring", 1, waited=0.0, window=5.0, stop=lambda: True)
        assert verdict is Verdict.IN_FLIGHT  # a stop request concludes nothing


@pytest.mark.parametrize(("before", "size", "landed", "expected"), [
    (0, 1, 1, Verdict.LANDED), (49, 1, 1, Verdict.LANDED), (51, 50, 50, Verdict.LANDED),
    (0, 50, 0, Verdict.NOT_LANDED), (50, 1, 0, Verdict.NOT_LANDED),
    (0, 50, 20, Verdict.AMBIGUOUS), (101, 50, 49, Verdict.AMBIGUOUS), (1, 49, 48, Verdict.AMBIGUOUS),
])
def test_await_insert_on_the_platform(before: int, size: int, landed: int, expected: Verdict) -> None:
    c = campaign("spring", n=before + size, state="paused")
    with rig() as r:
        xf = r.providers["iflytek"]
        task_id = xf.create_task(c, 1).task_id
        all_rows = rows(phones(before + size))
        if before:
            _fill(xf, task_id, c, all_rows[:before])
        if landed:
            xf.add_contacts(task_id, c, all_rows[before : before + landed])
        intent = InsertIntent(1, tuple(phones(before + size)[before:]), before)
        verdict, count = await_insert(xf, task_id, intent, waited=0.0, window=0.6)
        assert verdict is expected
        assert count == before + landed


# --- recovery of what an interrupted apply left pending ----------------------------------------------


def _pending(store: MemoryStore, call: str, task_id: str, request: dict[str, object],
             phones: tuple[str, ...] = ()) -> int:
    return store.begin_call("spring", "iflytek", call, task_id, request, phones=phones)


@pytest.mark.parametrize(("before", "size", "landed"), [
    (0, 1, 1), (0, 1, 0), (49, 1, 1), (50, 50, 50), (51, 50, 0), (101, 50, 50), (0, 50, 20), (101, 50, 1)])
def test_recover_an_interrupted_insert(before: int, size: int, landed: int) -> None:
    c = campaign("spring", n=before + size, state="paused")
    store = MemoryStore(create=True)
    with rig(store=store) as r:
        xf = r.providers["iflytek"]
        task_id = xf.create_task(c, 1).task_id
        from reconciler.engine.settle import record_sent, record_task
        from reconciler.state.base import TaskRecord

        record_task(store, TaskRecord("spring", 1, "iflytek", task_id, "gitops-spring", c.settings_fingerprint()))
        all_rows = rows(phones(before + size))
        if before:  # what earlier batches sent, and recorded
            _fill(xf, task_id, c, all_rows[:before])
            record_sent(store, "spring", task_id, 1, all_rows[:before])
        if landed:
            xf.add_contacts(task_id, c, all_rows[before : before + landed])
        inserts = r.xf_calls()["task/insert"]
        intent = InsertIntent(1, tuple(phones(before + size)[before:]), before)
        entry = _pending(store, "insert", task_id, intent.to_request(), intent.phones)
        notes = r.recover(desired(c))
        (e,) = [x for x in store.journal("spring") if x.id == entry]
        recorded = {x.phone for x in store.contacts("spring") if x.status is ContactStatus.SENT}
        if landed == size:
            assert e.outcome is CallOutcome.RESOLVED and recorded >= set(intent.phones)
            assert "had landed" in notes[0]
        elif landed == 0:
            assert e.outcome is CallOutcome.RESOLVED and not recorded & set(intent.phones)
            assert "had not landed" in notes[0]
        else:
            assert e.outcome is CallOutcome.UNKNOWN and not recorded & set(intent.phones)
        assert r.xf_calls()["task/insert"] == inserts  # recovery looks, never sends
        plan, _ = r.plan(desired(c))
        if 0 < landed < size:
            assert not plan.applyable and any("state resolve spring" in d.message for d in plan.errors)
        else:
            todo = sum(len(a.phones) for a in plan.actions if a.kind.value == "insert")
            assert todo == size - landed  # landed: nothing more; not landed: the batch, once


def test_recover_waits_for_an_insert_still_in_flight() -> None:
    """Sent just now and not showing yet: recovery waits out the window before concluding."""
    c = campaign("spring", n=1, state="paused")
    store = MemoryStore(create=True)
    with rig(store=store) as r:
        xf = r.providers["iflytek"]
        task_id = xf.create_task(c, 1).task_id
        waiting = InsertIntent(1, tuple(phones(1)), 0)
        _pending(store, "insert", task_id, waiting.to_request(), waiting.phones)
        started = time.monotonic()
        r.recover(desired(c))
        assert time.monotonic() - started >= SETTLE_WINDOW * 0.8


def test_recover_an_interrupted_create_and_callout() -> None:
    c = campaign("spring", n=0, state="paused")
    store = MemoryStore(create=True)
    with rig(store=store) as r:
        xf = r.providers["iflytek"]
        task_id = xf.create_task(c, 1).task_id
        created = _pending(store, "create", "", CreateIntent(1, "gitops-spring", c.settings_fingerprint()).to_request())
        callout = _pending(store, "callout", "", CalloutIntent(tuple(phones(2))).to_request(), tuple(phones(2)))
        notes = r.recover(desired(c), store)
        outcomes = {e.id: e.outcome for e in store.journal()}
        assert outcomes[created] is CallOutcome.RESOLVED and outcomes[callout] is CallOutcome.UNKNOWN
        assert [t.task_id for t in store.tasks("spring")] == [task_id]
        assert any("adopted task" in n for n in notes) and any("stay unknown" in n for n in notes)
        assert r.xf_calls()["task/create"] == 1


def test_resolve_by_hand_settles_unknown_callouts_and_ambiguous_inserts() -> None:
    store = MemoryStore(create=True)
    from reconciler.state.base import ContactRecord

    store.put_contacts([ContactRecord("spring", p, "fp", "", 0, None, ContactStatus.UNKNOWN) for p in phones(3)])
    e1 = store.begin_call("spring", "iflytek", "callout", "", CalloutIntent(tuple(phones(3))).to_request())
    store.end_call(e1, CallOutcome.UNKNOWN)
    e2 = store.begin_call("spring", "iflytek", "insert", "t1", InsertIntent(1, tuple(phones(2, 10)), 50).to_request())
    store.end_call(e2, CallOutcome.UNKNOWN)
    assert resolve_by_hand(store, "spring", dialed=False) == (3, 1)
    statuses = {c.phone: c.status for c in store.contacts("spring")}
    assert all(statuses[p] is ContactStatus.NOT_DIALED for p in phones(3))
    assert not any(c.task_id == "t1" for c in store.contacts("spring"))  # not landed: the next apply sends them
    assert not store.journal("spring", [CallOutcome.UNKNOWN, CallOutcome.PENDING])


@pytest.mark.parametrize("n", [1, 50])
def test_recover_a_create_killed_after_its_task_was_recorded(n: int) -> None:
    """Found by the crash soak: killed between recording the created task and recording the numbers the
    create carried (yccall). Recovery saw the task "already in the state" and recorded no numbers, so every
    later plan wanted to append them again (the vendor refuses them as duplicates): it never converged."""
    from reconciler.engine.settle import record_task
    from reconciler.state.base import TaskRecord

    c = campaign("follow", n=n, provider="callcenter")
    store = MemoryStore(create=True)
    with rig(store=store) as r:
        yc = r.providers["callcenter"]
        created = yc.create_task(c, 1, c.contacts.rows)
        carried = tuple(x.phone for x in c.contacts.rows)
        entry = store.begin_call("follow", "callcenter", "create", "",
                                 CreateIntent(1, "gitops-follow", c.settings_fingerprint(), carried).to_request(),
                                 phones=carried)
        record_task(store, TaskRecord("follow", 1, "callcenter", created.task_id, "gitops-follow",
                                      c.settings_fingerprint()))
        # killed here: no contacts recorded, the journal entry still pending
        r.recover(desired(c))
        (e,) = [x for x in store.journal("follow") if x.id == entry]
        assert e.outcome is CallOutcome.RESOLVED
        assert sorted(x.phone for x in store.contacts("follow")) == sorted(phones(n))
        plan, _ = r.plan(desired(campaign("follow", n=n, provider="callcenter", state="paused")))
        assert [a.kind.value for a in plan.actions] == []


def test_sent_records_leave_out_the_rows_the_vendor_refused_and_give_the_others_their_ids_in_order() -> None:
    batch = rows(phones(4))
    added = AddResult(accepted=2, data_ids=("d-a", "d-b"), invalid=((1, "bad number"), (2, "bad number")))
    sent = sent_records("spring", "t1", 2, batch, added, sent_at="2026-12-01T08:00:00")
    assert list(sent) == [
        ContactRecord("spring", batch[0].phone, batch[0].fingerprint, "t1", 2, "d-a", ContactStatus.SENT,
                      "2026-12-01T08:00:00"),
        ContactRecord("spring", batch[3].phone, batch[3].fingerprint, "t1", 2, "d-b", ContactStatus.SENT,
                      "2026-12-01T08:00:00"),
    ]
    # no answer (a settled insert): every row, no ids; fewer ids than rows: the rest have none
    assert [(r.phone, r.data_id) for r in sent_records("spring", "t1", 2, batch)] == [(b.phone, None) for b in batch]
    short = sent_records("spring", "t1", 2, batch[:2], AddResult(accepted=2, data_ids=("d-a",)))
    assert [r.data_id for r in short] == ["d-a", None]
