"""Convergence markers: the diff's fast path gives exactly the plan of the full per-contact diff."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config.table import table_digest
from reconciler.engine.diff import diff
from reconciler.engine.inputs import Recorded
from reconciler.engine.plan import Plan
from reconciler.providers.base import Phase
from reconciler.state.base import CallOutcome, ContactStatus, Converged, JournalEntry
from tests.helpers.builders import (
    TRAITS,
    campaign,
    desired,
    observed,
    observed_task,
    phones,
    recorded,
    sent,
    task_record,
)

NOW = datetime(2027, 2, 1, tzinfo=UTC)
#: The same vendors as if their naming rule were their own: the diff walks the whole listing.
LISTING_TRAITS = {name: replace(tr, suffix_naming=False) for name, tr in TRAITS.items()}
#: The property tests' examples (``CAMPAIGNCTL_FUZZ_EXAMPLES`` for a longer run).
FUZZ = settings(max_examples=int(os.environ.get("CAMPAIGNCTL_FUZZ_EXAMPLES", "400")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
PHASES = [Phase.NOT_STARTED, Phase.RUNNING, Phase.PAUSED, Phase.FINISHED, Phase.ABSENT]


class Untouchable(dict):  # type: ignore[type-arg]
    """Contact records that fail the test when read: the fast path must not read them."""

    def get(self, *args: object) -> object:
        raise AssertionError("contact records read")

    def __getitem__(self, key: object) -> object:
        raise AssertionError("contact records read")


def marked(rec: Recorded, c: object, digest: str, fingerprint: str) -> Recorded:
    name = c.name  # type: ignore[attr-defined]
    return replace(rec, converged={name: Converged(name, digest, fingerprint)})


def written(rec: Recorded, plan: Plan) -> Recorded:
    """``rec`` with the markers ``plan`` would write (``commands.session.remember``): every field."""
    return replace(rec, converged={v.campaign: v.marker() for v in plan.converged if v.now})


def same(a: Plan, b: Plan) -> None:
    assert (a.actions, a.diagnostics, a.campaigns, a.notes, a.meta) == (b.actions, b.diagnostics, b.campaigns,
                                                                          b.notes, b.meta)


def full_diff(case: tuple[object, ...]) -> tuple[Any, Any, Any, Plan]:
    """The scenario and its full diff, whose convergence (if any) is for this table and these settings."""
    c, rec, obs = case
    full = diff(desired(c), obs, rec, TRAITS, now=NOW)  # type: ignore[arg-type]
    fingerprint = c.settings_fingerprint()  # type: ignore[attr-defined]
    digest = table_digest(c.contacts.rows, c.contacts.phone_index)  # type: ignore[attr-defined]
    assert [(v.digest, v.settings_fingerprint) for v in full.converged] in ([], [(digest, fingerprint)])
    return c, rec, obs, full


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[object, ...]:
    provider = draw(st.sampled_from(["iflytek", "callcenter"]))
    n = draw(st.integers(1, 4))
    state = draw(st.sampled_from(["running", "paused", "running", "absent"]))
    c = campaign(n=n, provider=provider, state=state)
    wanted = [r.phone for r in c.contacts.rows]
    pool = wanted + phones(2, 500)
    tasks, contacts, remote = [], [], []
    for wave in range(1, draw(st.integers(1, 2)) + 1):
        task_id = f"t{wave}"
        phase = draw(st.sampled_from(PHASES))
        started = (phase is not Phase.NOT_STARTED and draw(st.booleans())) or phase in (Phase.RUNNING,
                                                                                         Phase.FINISHED)
        same_settings = draw(st.booleans()) or draw(st.booleans())
        rec = task_record(c, task_id, wave=wave, started=started and draw(st.booleans()),
                          fingerprint=None if same_settings else "old", deleted=draw(st.booleans()) and wave > 1)
        tasks.append(rec)
        numbers = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
        if draw(st.booleans()):
            numbers = [p for p in wanted if p not in {x.phone for x in contacts}]
        contacts += sent(c, task_id, numbers, wave=wave)
        if phase is not Phase.ABSENT or draw(st.booleans()):
            remote.append(observed_task(task_id, rec.remote_name, phase, profile=provider, started=started,
                                        count=len(numbers), deleted=phase is Phase.ABSENT))
    if draw(st.booleans()):
        remote.append(observed_task("dup", task_record(c, "dup").remote_name, draw(st.sampled_from(PHASES[:3])),
                                    profile=provider))
    base = task_record(c, "x").remote_name
    for i, suffix in enumerate(draw(st.lists(st.sampled_from(["~7", "~01", "~1", "~x", "-2", "~2~3"]), max_size=2,
                                             unique=True))):
        # named like a wave of the campaign, or nearly: the name indexes must find exactly what wave_of does
        remote.append(observed_task(f"near{i}", base + suffix, draw(st.sampled_from(PHASES[:4])), profile=provider))
    pending = []
    if draw(st.integers(0, 5)) == 0:
        pending.append(JournalEntry(1, c.name, provider, "start", "t1", CallOutcome.PENDING, {"wave": 1},
                                    started_at="2027-01-31T00:00:00+00:00"))
    if draw(st.integers(0, 5)) == 0:
        contacts += sent(c, "", wanted[:1], wave=0, status=ContactStatus.DIALED)
    return c, recorded(tasks=tasks, contacts=contacts, pending=pending), observed(*remote)


@FUZZ
@given(scenarios())
def test_a_true_marker_gives_the_plan_of_the_full_diff(case: tuple[object, ...]) -> None:
    c, rec, obs, full = full_diff(case)
    if any(v.now for v in full.converged):
        # what a plan writes, it reads back: the same plan, without reading a contact record
        rec2 = written(rec, full)
        fast = diff(desired(c), obs, rec2, TRAITS, now=NOW)
        same(fast, full)
        assert fast.converged == full.converged
    # --target, and a vendor naming rule of its own (no name index: every listed task is asked), give the
    # same plan, with or without the marker
    for targets in ((), ("spring",), ("spr*",)):
        for traits in (TRAITS, LISTING_TRAITS):
            if not targets and traits is TRAITS:
                continue
            again = diff(desired(c), obs, rec, traits, now=NOW, targets=targets)
            assert (again.actions, again.campaigns, again.notes, again.converged) == (
                full.actions, full.campaigns, full.notes, full.converged)
            assert set(again.diagnostics) - set(full.diagnostics) == (
                {d for d in again.diagnostics if "--target is in effect" in d.message} if targets else set())
            if any(v.now for v in full.converged):
                fast = diff(desired(c), obs, written(rec, full), traits,
                            now=NOW, targets=targets)
                same(fast, again)


def test_a_campaign_outside_the_target_is_not_planned_even_when_converged() -> None:
    c, other = campaign(n=2), campaign("autumn", n=2, numbers=phones(2, 100))
    t = task_record(c, "t1", started=True)
    obs = observed(observed_task("t1", t.remote_name, Phase.PAUSED, count=2))
    rec = recorded(tasks=[t], contacts=sent(c, "t1", [r.phone for r in c.contacts.rows]))
    digest = table_digest(c.contacts.rows, c.contacts.phone_index)
    rec = marked(rec, c, digest, c.settings_fingerprint())
    plan = diff(desired(c, other), obs, rec, TRAITS, now=NOW, targets=("autumn",))
    assert {a.campaign for a in plan.actions} == {"autumn"}
    assert [(v.campaign, v.now) for v in plan.converged] == [("autumn", False)]  # once its actions succeed
    plan = diff(desired(c, other), obs, rec, TRAITS, now=NOW, targets=("spring",))
    assert [a.kind.value for a in plan.actions] == ["start"] and [v.campaign for v in plan.converged] == ["spring"]


def test_a_marker_for_other_files_or_settings_is_not_used() -> None:
    c = campaign(n=3)
    t = task_record(c, "t1", started=True)
    obs = observed(observed_task("t1", t.remote_name, Phase.RUNNING, count=2))
    rec = recorded(tasks=[t], contacts=sent(c, "t1", [r.phone for r in c.contacts.rows][:2]))
    full = diff(desired(c), obs, rec, TRAITS, now=NOW)
    assert [a.kind.value for a in full.actions] == ["create", "insert", "start"]  # one left: a follow-up wave
    digest = table_digest(c.contacts.rows, c.contacts.phone_index)
    for stale in (marked(rec, c, "other", c.settings_fingerprint()), marked(rec, c, digest, "other")):
        same(diff(desired(c), obs, stale, TRAITS, now=NOW), full)


def test_the_fast_path_reads_no_contact_record_and_no_row() -> None:
    c = campaign(n=3)
    t = task_record(c, "t1", started=True)
    obs = observed(observed_task("t1", t.remote_name, Phase.PAUSED, count=3))
    rec = recorded(tasks=[t], contacts=sent(c, "t1", [r.phone for r in c.contacts.rows]))
    digest = table_digest(c.contacts.rows, c.contacts.phone_index)

    fast_rec = replace(marked(rec, c, digest, c.settings_fingerprint()), contacts=Untouchable(rec.contacts))
    plan = diff(desired(c), obs, fast_rec, TRAITS, now=NOW)
    assert [a.kind.value for a in plan.actions] == ["start"]
    assert plan.campaigns[0].sent == 3


# --- direct campaigns ---------------------------------------------------------------------------


@st.composite
def direct_scenarios(draw: st.DrawFn) -> tuple[object, ...]:
    """A direct campaign: every number dialed, some, or none; outcomes unknown; numbers dialed that left the
    files; an opt-out; a call pending; tasks of an earlier `mode: task`."""
    n = draw(st.integers(1, 4))
    state = draw(st.sampled_from(["running", "paused", "running"]))
    c = campaign(n=n, mode="direct", state=state)
    wanted = [r.phone for r in c.contacts.rows]
    pool = wanted + phones(2, 500)
    contacts = []
    for phone in draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool))):
        status = draw(st.sampled_from([ContactStatus.DIALED, ContactStatus.DIALED, ContactStatus.UNKNOWN]))
        contacts += sent(c, "", [phone], wave=0, status=status, at="2027-01-30T00:00:00+00:00")
    if draw(st.booleans()):
        contacts += sent(c, "", [p for p in wanted if p not in {x.phone for x in contacts}], wave=0,
                         status=ContactStatus.DIALED, at="2027-01-30T00:00:00+00:00")
    pending = []
    if draw(st.integers(0, 5)) == 0:
        pending.append(JournalEntry(1, c.name, "iflytek", "callout", "", CallOutcome.PENDING, {"wave": 0},
                                    started_at="2027-01-31T00:00:00+00:00"))
    tasks = [task_record(c, "t1")] if draw(st.integers(0, 7)) == 0 else []
    optouts = [draw(st.sampled_from(pool))] if draw(st.booleans()) else []
    return c, recorded(tasks=tasks, contacts=contacts, pending=pending, optouts=optouts), observed()


@FUZZ
@given(direct_scenarios())
def test_a_true_marker_of_a_direct_campaign_gives_the_plan_of_the_full_diff(case: tuple[object, ...]) -> None:
    c, rec, obs, full = full_diff(case)
    assert not full.converged or not full.diagnostics  # never with anything to say
    if any(v.now for v in full.converged):  # nothing to dial
        assert not full.actions
        rec2 = written(rec, full)
        fast = diff(desired(c), obs, rec2, TRAITS, now=NOW)
        same(fast, full)
        assert fast.converged == full.converged
    elif full.converged:  # one dial of every number left: dialed in full, the plan after finds the same marker
        [dial] = full.actions
        after = replace(rec, contacts={c.name: (*rec.contacts.get(c.name, ()),
                                                *sent(c, "", dial.phones, wave=0, status=ContactStatus.DIALED,
                                                      at="2027-02-01T00:00:00+00:00"))})
        again = diff(desired(c), obs, after, TRAITS, now=NOW)
        assert not again.actions
        assert [v.marker() for v in again.converged if v.now] == [full.converged[0].marker()]


def test_a_direct_campaign_dialed_in_full_is_marked_and_then_planned_without_reading_a_contact_record() -> None:
    """A direct campaign whose every number is dialed has nothing to do at any hour: the next plan reads
    none of its records (a no-op plan of 1,000 such campaigns read a million of them)."""
    c = campaign(n=3, mode="direct")
    numbers = [r.phone for r in c.contacts.rows]
    gone = phones(1, 900)  # dialed, then left the files: still counted as dialed
    rec = recorded(contacts=sent(c, "", [*numbers, *gone], wave=0, status=ContactStatus.DIALED,
                                 at="2027-01-30T00:00:00+00:00"))
    full = diff(desired(c), observed(), rec, TRAITS, now=NOW)
    assert not full.actions and not full.diagnostics
    assert [(v.campaign, v.now, v.extra) for v in full.converged] == [("spring", True, 1)]
    assert full.campaigns[0].sent == 4

    fast_rec = replace(written(rec, full), contacts=Untouchable(rec.contacts))
    fast = diff(desired(c), observed(), fast_rec, TRAITS, now=NOW)
    same(fast, full)


def test_a_direct_campaign_with_a_number_left_to_dial_is_marked_only_once_dialed_and_never_with_an_unknown() -> None:
    c = campaign(n=3, mode="direct")
    numbers = [r.phone for r in c.contacts.rows]
    two = sent(c, "", numbers[:2], wave=0, status=ContactStatus.DIALED)
    plan = diff(desired(c), observed(), recorded(contacts=two), TRAITS, now=NOW)
    assert [a.kind.value for a in plan.actions] == ["dial"]
    assert [(v.now, v.extra) for v in plan.converged] == [(False, 0)]  # apply marks it once the dial succeeds
    paused = diff(desired(replace(c, state="paused")), observed(), recorded(contacts=two), TRAITS, now=NOW)
    assert paused.converged == ()
    unknown = [*two, *sent(c, "", numbers[2:], wave=0, status=ContactStatus.UNKNOWN)]
    for state in ("running", "paused"):
        plan = diff(desired(replace(c, state=state)), observed(), recorded(contacts=unknown), TRAITS, now=NOW)
        assert plan.converged == () and plan.diagnostics
