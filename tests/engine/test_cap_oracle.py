"""The frequency cap against the straightforward reading it replaced (every number's history, a loop per
number): the same plan for random histories, dials, caps and overlapping campaigns, whether the history is
read for the numbers to send or for every number at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config import policy as config_policy
from reconciler.config.policy import check_campaigns
from reconciler.config.report import Report
from reconciler.config.table import ContactTable, LazyTable, table_digest
from reconciler.engine import diff as engine_diff
from reconciler.engine import policy as engine_policy
from reconciler.engine.plan import Action, ActionKind
from reconciler.engine.policy import COUNTED, SENDING, PlanPolicy, calendar_for, shared_numbers
from reconciler.model import DesiredCampaign, SharedNumbers
from reconciler.policy import CampaignPolicy, FrequencyCap
from reconciler.state.base import ContactStatus
from tests.engine.test_policy import POLICY, TUE_1000, plan_at
from tests.helpers.builders import campaign, desired, phones, recorded, sent

NUMBERS = phones(8)
NAMES = ("a", "b", "c", "old")  # "old": a campaign no longer in the files whose sends still count


def _reference_history(self: PlanPolicy) -> dict[str, list[tuple[str, datetime]]]:
    events: dict[str, list[tuple[str, datetime]]] = {}
    dials = self._recorded.dials
    for phone, calls in dials.items():
        events.setdefault(phone, []).extend(calls)
    for name, records in self._recorded.contacts.items():
        for r in records:
            if r.status not in COUNTED or not r.sent_at:
                continue
            if any(n == name for n, _ in dials.get(r.phone, ())):
                continue
            at = datetime.fromisoformat(r.sent_at.replace("Z", "+00:00"))
            events.setdefault(r.phone, []).append((name, at if at.tzinfo else at.replace(tzinfo=UTC)))
    return events


def _reference_cap(self: PlanPolicy, c: DesiredCampaign, numbers: list[str]) -> list[str]:
    caps = self.policy.caps(c.policy) if self.policy is not None else ()
    if not caps or not numbers:
        return numbers
    history = _reference_history(self)
    planned: dict[str, list[str]] = self.__dict__.setdefault("_reference_planned", {})
    keep: list[str] = []
    free: list[datetime] = []
    bound: FrequencyCap | None = None
    for phone in numbers:
        seen = [at for name, at in history.get(phone, ()) if name != c.name]
        seen += [self.now for name in planned.get(phone, ()) if name != c.name]
        until: datetime | None = None
        for cap in caps:
            recent = sorted(at for at in seen if at > self.now - timedelta(days=cap.days))
            if len(recent) >= cap.count:
                ends = recent[len(recent) - cap.count] + timedelta(days=cap.days)
                if until is None or ends > until:
                    until, bound = ends, cap
        if until is None:
            keep.append(phone)
        else:
            free.append(until)
    if free:
        self._fact(c).held += len(free)
        assert bound is not None
        cal = calendar_for(self.project, c, own_schedule=c.mode == "direct")
        kind = ActionKind.DIAL if c.mode == "direct" else ActionKind.INSERT
        self._defer(c, kind, len(free), cal.next_open(min(free)), f"max_dials {bound.describe()} across campaigns "
                    "(policy): already called that often; the first may be called again then")
    return keep


def _reference_note_planned(self: PlanPolicy, c: DesiredCampaign, actions: Iterable[Action]) -> None:
    if not self._capped:
        return
    planned: dict[str, list[str]] = self.__dict__.setdefault("_reference_planned", {})
    for a in actions:
        if a.kind in SENDING:
            for p in a.phones:
                planned.setdefault(p, []).append(c.name)


def _outcome(plan: Any) -> tuple[Any, ...]:
    return (tuple((a.kind, a.campaign, a.phones) for a in plan.actions),
            tuple((d.campaign, d.kind, d.contacts, d.at, d.reason) for d in plan.deferred),
            tuple((s.name, s.held) for s in plan.campaigns))


sends = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NUMBERS), st.integers(0, 12 * 24),
                           st.sampled_from([ContactStatus.SENT, ContactStatus.DIALED, ContactStatus.UNKNOWN,
                                            ContactStatus.NOT_DIALED])), max_size=14, unique_by=lambda s: (s[0], s[1]))
dial_lists = st.dictionaries(st.sampled_from(NUMBERS),
                             st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 12 * 24)), min_size=1,
                                      max_size=3), max_size=4)
members = st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=6, unique=True)


@settings(max_examples=300, deadline=None)
@given(sends=sends, dials=dial_lists, a=members, b=members, c=members, count=st.integers(1, 3),
       days=st.integers(1, 10), own=st.one_of(st.none(), st.tuples(st.integers(1, 2), st.integers(1, 30))),
       states=st.tuples(*[st.sampled_from(["running", "running", "paused", "absent"])] * 3))
def test_the_cap_plans_as_the_reference_reading_does(sends: list[tuple[str, str, int, ContactStatus]],
                                                     dials: dict[str, list[tuple[str, int]]], a: list[str],
                                                     b: list[str], c: list[str], count: int, days: int,
                                                     own: tuple[int, int] | None,
                                                     states: tuple[str, str, str]) -> None:
    def when(hours: int) -> datetime:
        return TUE_1000 - timedelta(hours=hours)

    history = [r for name, phone, hours, status in sends
               for r in sent(campaign(name), f"t-{name}", [phone], status=status, at=when(hours).isoformat())]
    rec = replace(recorded(contacts=history),
                  dials={p: tuple((n, when(h)) for n, h in calls) for p, calls in dials.items()})
    cs = [campaign("a", numbers=a, state=states[0]), campaign("b", numbers=b, state=states[1]),
          campaign("c", numbers=c, state=states[2])]
    if own is not None:
        cs[1] = replace(cs[1], policy=CampaignPolicy(max_dials=FrequencyCap(*own)))
    policy = replace(POLICY, max_dials=FrequencyCap(count, days))
    scoped = _outcome(plan_at(TUE_1000, *cs, policy=policy, rec=rec))
    with mock.patch.object(engine_policy, "SCOPED_HISTORY", 0):
        whole = _outcome(plan_at(TUE_1000, *cs, policy=policy, rec=rec))
    # with what the load found of numbers in several tables: only those are looked up in what the others send
    found = _outcome(plan_at(TUE_1000, *cs, policy=policy, rec=rec, shared=True))
    with mock.patch.object(config_policy, "SHARED_KEPT", 1.0):  # kept however many (small tables share a lot)
        found_all = _outcome(plan_at(TUE_1000, *cs, policy=policy, rec=rec, shared=True))
    with mock.patch.object(PlanPolicy, "cap", _reference_cap), \
            mock.patch.object(PlanPolicy, "note_planned", _reference_note_planned):
        reference = _outcome(plan_at(TUE_1000, *cs, policy=policy, rec=rec))
    assert scoped == reference
    assert whole == reference
    assert found == reference
    assert found_all == reference


def _tables(*cs: DesiredCampaign) -> dict[str, str]:
    return {c.name: table_digest(c.contacts.rows, c.contacts.phone_index) for c in cs}


def test_the_numbers_the_load_found_in_one_table_only_are_not_looked_up_in_what_others_send() -> None:
    """The load's check across running campaigns says which numbers are in several tables; the plan keeps
    only those of what each campaign sends for the caps of the campaigns after it."""
    nums = phones(6)
    a, b = campaign("a", numbers=nums[:4]), campaign("b", numbers=nums[3:])  # nums[3] in both
    spy: list[PlanPolicy] = []

    class Spy(PlanPolicy):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            spy.append(self)

    policy = replace(POLICY, max_dials=FrequencyCap(1, 7))
    with mock.patch.object(engine_diff, "PlanPolicy", Spy):
        plan = plan_at(TUE_1000, a, b, policy=policy, shared=True)
        assert list(spy[-1]._planned) == [nums[3]]
        assert [s.held for s in plan.campaigns] == [0, 1]  # b may not send it: a sends it in this plan
        disjoint = campaign("b", numbers=nums[4:])
        plan = plan_at(TUE_1000, a, disjoint, policy=policy, shared=True)
        assert spy[-1]._planned == {} and [s.held for s in plan.campaigns] == [0, 0]
        without = plan_at(TUE_1000, a, disjoint, policy=policy)  # not known: every number is kept
        assert len(spy[-1]._planned) == 6 and _outcome(without) == _outcome(plan)


def test_what_the_load_found_is_used_only_for_the_very_tables_it_compared() -> None:
    nums = phones(6)
    a, b = campaign("a", numbers=nums[:4]), campaign("b", numbers=nums[3:])
    policy = replace(POLICY, max_dials=FrequencyCap(1, 7))
    # a finding that (wrongly) says no number is in two tables shows that it is read: b sends nums[3] too
    wrong = SharedNumbers(_tables(a, b), frozenset())
    assert [s.held for s in plan_at(TUE_1000, a, b, policy=policy, shared=wrong).campaigns] == [0, 0]
    assert shared_numbers(replace(desired(a, b, policy=policy), shared=wrong)) == frozenset()
    # ... and that it is not, once any table that may send is not the one compared, or was not compared
    other = campaign("b", numbers=nums[2:])
    for tables in ({"a": _tables(a)["a"], "b": _tables(other)["b"]}, _tables(a), {}):
        stale = SharedNumbers(tables, frozenset())
        assert shared_numbers(replace(desired(a, b, policy=policy), shared=stale)) is None
        assert [s.held for s in plan_at(TUE_1000, a, b, policy=policy, shared=stale).campaigns] == [0, 1]
    # a paused campaign may send (its task is filled): the check's first look takes it in, and when it shares
    # a number with another, the finding leaves it out (then every number is looked up)
    paused = replace(b, state="paused")
    found = check_campaigns(Report(), desired(a, paused, policy=policy).project, (a, paused))
    assert found is not None and set(found.tables) == {"a"}
    assert shared_numbers(replace(desired(a, paused, policy=policy), shared=found)) is None
    apart = replace(campaign("p", numbers=nums[4:]), state="paused")
    running_too = campaign("r", numbers=phones(8)[6:])
    for cs in ((a, apart), (a, running_too, apart)):
        found = check_campaigns(Report(), desired(*cs, policy=policy).project, cs)
        assert found is not None and set(found.tables) == {c.name for c in cs}
        assert shared_numbers(replace(desired(*cs, policy=policy), shared=found)) == frozenset()
    # ... but only when a cap needs it, and when its table is parsed already: none is read for this alone
    uncapped = check_campaigns(Report(), desired(a, apart, policy=POLICY).project, (a, apart))
    assert uncapped is not None and set(uncapped.tables) == {"a"}
    unread = replace(apart, contacts=replace(apart.contacts, rows=LazyTable(2, "d-unread", _unparsable)))
    found = check_campaigns(Report(), desired(a, unread, policy=policy).project, (a, unread))
    assert found is not None and set(found.tables) == {"a"}
    lazy_a = replace(a, contacts=replace(a.contacts, rows=LazyTable(4, "d-a", _unparsable)))  # nor a running one
    found = check_campaigns(Report(), desired(lazy_a, apart, policy=policy).project, (lazy_a, apart))
    assert found is not None and set(found.tables) == {"a"}
    # an absent campaign sends nothing: it need not be compared
    gone = replace(b, state="absent")
    found = check_campaigns(Report(), desired(a, gone, policy=policy).project, (a, gone))
    assert found is not None and shared_numbers(replace(desired(a, gone, policy=policy), shared=found)) == frozenset()


def _unparsable() -> ContactTable:
    raise AssertionError("a table was parsed only to be compared")
