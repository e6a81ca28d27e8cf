"""Table tests of the dialing policy in the pure diff, each at a fixed ``now``.

2027-03-01 is a Monday. The policy: mon-fri 09:00-12:00 and 13:30-20:00,
sat 10:00-18:00, no Sunday calls, 2027-10-01 a holiday; Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest

from reconciler.config.policy import check_campaigns
from reconciler.config.report import Report
from reconciler.engine.diff import diff
from reconciler.engine.plan import ActionKind
from reconciler.engine.policy import (
    CLOSING,
    OUTSIDE_HOURS,
    Calendar,
    calendar_for,
    dial_closed,
    forecast,
    optout_reason,
    progress,
    when_text,
)
from reconciler.model import DesiredCampaign, DesiredState, Schedule, SharedNumbers, TimeWindow
from reconciler.policy import (
    CampaignPolicy,
    Capacity,
    FrequencyCap,
    Hours,
    OptOutRules,
    Policy,
    Suppression,
    digest_of,
)
from reconciler.providers.base import Phase
from tests.helpers.builders import (
    CST,
    TRAITS,
    campaign,
    desired,
    kinds,
    observed,
    observed_task,
    phones,
    recorded,
    sent,
    task_record,
)

H = 3600
HOURS = Hours((
    ((9 * H, 12 * H), (13 * H + 1800, 20 * H)),
) * 5 + (((10 * H, 18 * H),), ()))
POLICY = Policy(timezone="Asia/Shanghai", hours=HOURS, blackout=frozenset({date(2027, 10, 1)}))


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=CST)


TUE_2300 = at(2, 23)
TUE_1000 = at(2, 10)
WED_0900 = at(3, 9)


def plan_at(now: datetime, *cs: DesiredCampaign, policy: Policy | None = POLICY, obs=None, rec=None, allow=(),
            shared: SharedNumbers | bool | None = None):
    """``shared``: the load's finding of numbers in several tables to plan with (True: as the load's check
    finds it for these campaigns; None: none, every number is looked up)."""
    d = desired(*cs, policy=policy)
    if shared is True:
        shared = check_campaigns(Report(), d.project, d.campaigns)
    return diff(replace(d, shared=shared or None), obs or observed(), rec or recorded(), TRAITS,
                now=datetime(2027, 2, 1, tzinfo=CST), at=now, allow_replace=allow)


def running_task(c: DesiredCampaign, phase: Phase = Phase.RUNNING, *, run_state: str = "running"):
    nums = [r.phone for r in c.contacts.rows]
    t = replace(task_record(c, "101", started=phase is not Phase.NOT_STARTED), run_state=run_state)
    o = observed_task("101", t.remote_name, phase, profile=c.provider, count=len(nums))
    return observed(o), dict(tasks=[t], contacts=sent(c, "101", nums))


def direct(n: int = 3, *, windows: tuple[TimeWindow, ...] = (), begin: datetime | None = None,
           end: datetime | None = None, numbers: list[str] | None = None, name: str = "survey") -> DesiredCampaign:
    c = campaign(name, n=n, mode="direct", numbers=numbers)
    return replace(c, schedule=Schedule(begin, end, windows))


# --- calling hours: tasks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "phase", "run_state", "expected", "deferred"),
    [
        # a running task outside the hours is paused, inside it is left alone
        (TUE_2300, Phase.RUNNING, "running", [("pause", "spring", 0)], None),
        (TUE_1000, Phase.RUNNING, "running", [], None),
        (at(2, 12, 30), Phase.RUNNING, "running", [("pause", "spring", 0)], None),  # the lunch break
        # a paused task starts again inside the hours; outside, its start is deferred to the opening
        (TUE_1000, Phase.PAUSED, "paused", [("start", "spring", 0)], None),
        (TUE_2300, Phase.PAUSED, "paused", [], WED_0900),
        (TUE_2300, Phase.NOT_STARTED, "", [], WED_0900),
        # Sunday: no hours at all; Saturday opens at 10:00
        (at(7, 11), Phase.PAUSED, "paused", [], at(8, 9)),
        (at(6, 9, 30), Phase.NOT_STARTED, "", [], at(6, 10)),
        # a holiday (Friday 2027-10-01): closed all day, next opening Saturday 10:00
        (at(1, 10, month=10), Phase.RUNNING, "running", [("pause", "spring", 0)], None),
        (at(1, 10, month=10), Phase.PAUSED, "paused", [], at(2, 10, month=10)),
    ],
)
def test_tasks_follow_the_calling_hours(now, phase, run_state, expected, deferred) -> None:
    c = campaign()
    obs, rec = running_task(c, phase, run_state=run_state)
    plan = plan_at(now, c, obs=obs, rec=recorded(**rec))
    assert kinds(plan) == expected
    if expected and expected[0][0] == "pause":
        assert plan.actions[0].reason in ("outside calling hours (policy)", "a blackout date (policy)")
    if deferred is None:
        assert plan.deferred == ()
    else:
        [d] = plan.deferred
        assert (d.kind, d.at, d.task_id, d.remote_name) == (ActionKind.START, deferred, "101", "gitops-spring")
        assert not plan.has_changes  # a deferred start is no change for --detailed-exitcode


def test_without_a_policy_time_does_not_matter() -> None:
    c = campaign()
    obs, rec = running_task(c, Phase.PAUSED, run_state="paused")
    assert kinds(plan_at(TUE_2300, c, policy=None, obs=obs, rec=recorded(**rec))) == [("start", "spring", 0)]


def test_new_task_outside_the_hours_is_created_and_filled_but_not_started() -> None:
    plan = plan_at(TUE_2300, campaign())
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 3)]
    [d] = plan.deferred
    assert (d.kind, d.at, d.wave, d.task_id) == (ActionKind.START, WED_0900, 1, "")


def test_desired_paused_is_paused_for_its_own_reason() -> None:
    c = campaign(state="paused")
    obs, rec = running_task(c)
    plan = plan_at(TUE_2300, c, obs=obs, rec=recorded(**rec))
    assert kinds(plan) == [("pause", "spring", 0)] and "files say paused" in plan.actions[0].reason
    assert plan.deferred == ()


def test_yccall_is_paused_before_new_contacts_reach_it() -> None:
    c = campaign(provider="callcenter", n=5)
    old = replace(c, contacts=replace(c.contacts, rows=c.contacts.rows[:3]))
    obs, rec = running_task(old)
    plan = plan_at(TUE_2300, c, obs=obs, rec=recorded(**rec))
    assert kinds(plan) == [("pause", "spring", 0), ("insert", "spring", 2)]


def test_a_campaign_policy_narrows_the_hours() -> None:
    mornings = Hours((((9 * H, 12 * H),),) * 5 + ((), ()))
    c = replace(campaign(), policy=CampaignPolicy(hours=mornings))
    obs, rec = running_task(c)
    plan = plan_at(at(2, 15), c, obs=obs, rec=recorded(**rec))  # open for the project, not for the campaign
    assert kinds(plan) == [("pause", "spring", 0)]
    c = replace(campaign(), policy=CampaignPolicy(blackout=frozenset({date(2027, 3, 2)})))
    plan = plan_at(TUE_1000, c, obs=obs, rec=recorded(**rec))
    assert kinds(plan) == [("pause", "spring", 0)] and plan.actions[0].reason == "a blackout date (policy)"


# --- calling hours: direct callouts ------------------------------------------------------------


def test_direct_dials_inside_the_hours_and_defers_outside() -> None:
    inside = plan_at(at(2, 19, 59), direct())
    assert kinds(inside) == [("dial", "survey", 3)] and inside.deferred == ()
    outside = plan_at(at(2, 20), direct())
    assert kinds(outside) == [] and not outside.has_changes
    [d] = outside.deferred
    assert (d.kind, d.contacts, d.at, d.reason) == (ActionKind.DIAL, 3, WED_0900, "outside calling hours (policy)")


@pytest.mark.parametrize(
    ("now", "schedule", "opens", "why"),
    [
        # the policy is open, the campaign's own window is not yet
        (at(2, 9, 30), dict(windows=(TimeWindow(time(10), time(11, 30)),)), at(2, 10), "schedule.windows"),
        (at(2, 11, 30), dict(windows=(TimeWindow(time(10), time(11, 30)),)), at(3, 10), "schedule.windows"),
        # begin in the future: the first opening after it
        (at(2, 10), dict(begin=at(6, 8)), at(6, 10), "before schedule.begin"),
        # its window and the policy's hours overlap on Saturday only from 10:00
        (at(6, 9, 30), dict(windows=(TimeWindow(time(9), time(12)),)), at(6, 10), "calling hours"),
    ],
)
def test_direct_obeys_its_own_schedule(now, schedule, opens, why) -> None:
    plan = plan_at(now, direct(**schedule))
    assert kinds(plan) == []
    [d] = plan.deferred
    assert d.at == opens and why in d.reason


def test_direct_without_a_policy_still_obeys_its_windows() -> None:
    plan = plan_at(at(2, 23), direct(windows=(TimeWindow(time(10), time(11)),)), policy=None)
    assert kinds(plan) == [] and plan.deferred[0].at == at(3, 10)
    assert kinds(plan_at(at(2, 10, 30), direct(windows=(TimeWindow(time(10), time(11)),)), policy=None))


def test_direct_after_its_end_dials_nobody_and_says_so() -> None:
    plan = plan_at(TUE_1000, direct(end=at(1, 20)))
    assert kinds(plan) == [] and plan.deferred == ()
    assert any("schedule.end has passed" in w.message for w in plan.warnings)


def test_the_per_batch_check() -> None:
    d = desired(direct(windows=(TimeWindow(time(10), time(19, 30)),)), policy=POLICY)
    c = d.campaigns[0]
    assert dial_closed(d.project, c, at(2, 19, 29)) == ""
    assert dial_closed(d.project, c, at(2, 19, 30)) == "outside the campaign's schedule.windows"
    assert dial_closed(d.project, c, at(2, 9, 59)) == "outside the campaign's schedule.windows"
    t = desired(campaign(), policy=POLICY)  # a task's start: the policy only
    assert dial_closed(t.project, t.campaigns[0], at(2, 9, 30)) == ""
    assert dial_closed(t.project, t.campaigns[0], at(2, 21)) == "outside calling hours (policy)"


def test_calendar_intervals_and_text() -> None:
    cal = Calendar(POLICY)
    assert list(cal.intervals(at(5, 19), at(6, 11))) == [(at(5, 19), at(5, 20)), (at(6, 10), at(6, 11))]
    assert cal.next_open(at(6, 18)) == at(8, 9)  # Saturday evening → Monday morning
    assert when_text(at(3, 9), TUE_2300, "Asia/Shanghai") == "09:00 Wed"
    assert when_text(at(20, 9), TUE_2300, "Asia/Shanghai") == "2027-03-20 09:00 Sat"
    assert when_text(None, TUE_2300, "Asia/Shanghai") == "not within a year"
    never = Calendar(Policy(hours=Hours(((),) * 7)))
    assert never.next_open(TUE_1000) is None
    assert calendar_for(desired(campaign()).project, campaign(), own_schedule=False).why_closed(TUE_2300) == ""



def with_margin(margin: object, *campaigns: DesiredCampaign) -> DesiredState:
    d = desired(*campaigns, policy=POLICY)
    profiles = {**d.project.providers, "iflytek": replace(d.project.providers["iflytek"], options={
        **d.project.providers["iflytek"].options, "callout_margin": margin})}
    return replace(d, project=replace(d.project, providers=profiles))


def test_a_callout_margin_ends_every_opening_early_for_direct_campaigns_only() -> None:
    # policy hours Tue 09:00-12:00, 13:30-20:00; the survey's own window 09:00-19:00; margin 120 s
    survey = direct(windows=(TimeWindow(time(9), time(19)),), end=at(8, 18, 30))
    d = with_margin(120, survey, campaign())
    project = d.project
    cal = calendar_for(project, survey, own_schedule=True)
    assert cal.margin == 120
    assert list(cal.intervals(at(2, 11), at(2, 20))) == [
        (at(2, 11), at(2, 11, 58)), (at(2, 13, 30), at(2, 18, 58))]
    # an opening cut off by the query is not closing; a query ending inside the margin is
    assert list(cal.intervals(at(2, 11), at(2, 11, 30))) == [(at(2, 11), at(2, 11, 30))]
    assert list(cal.intervals(at(2, 11, 58), at(2, 12))) == []
    for now, why in [(at(2, 11, 57), ""), (at(2, 11, 58), CLOSING), (at(2, 11, 59), CLOSING),
                     (at(2, 12), OUTSIDE_HOURS), (at(2, 18, 57, ), ""), (at(2, 18, 58), CLOSING),
                     (at(2, 19), "outside the campaign's schedule.windows")]:
        assert dial_closed(project, survey, now) == why, now
    assert cal.next_open(at(2, 11, 59)) == at(2, 13, 30)
    # schedule.end closes too: the last opening before it ends 120 s early
    assert list(cal.intervals(at(8, 18), at(9, 12))) == [(at(8, 18), at(8, 18, 28))]
    assert dial_closed(project, survey, at(8, 18, 28)) == CLOSING
    # a task's windows are the vendor's: no margin, and none without the option
    task = calendar_for(project, campaign(), own_schedule=True)
    assert task.margin == 0 and dial_closed(project, campaign(), at(2, 19, 59)) == ""
    assert calendar_for(desired(survey, policy=POLICY).project, survey, own_schedule=True).margin == 0
    assert calendar_for(with_margin(True, survey).project, survey, own_schedule=True).margin == 0


def test_a_margin_over_midnight_does_not_close_an_opening_that_runs_on() -> None:
    always = Policy(timezone="Asia/Shanghai", hours=Hours((((0, 86400),),) * 7))
    cal = Calendar(always, margin=300)
    assert cal.why_closed(at(2, 23, 58)) == ""  # 23:58 Tue runs on into Wednesday: not closing
    assert list(cal.intervals(at(2, 23), at(3, 1))) == [(at(2, 23), at(3, 1))]


# --- suppression ---------------------------------------------------------------------------------


def suppressing(*numbers: str, label: str = "national registry", digests: tuple[str, ...] = ()) -> Policy:
    return Policy(suppress=Suppression({p: label for p in numbers},
                                       {"national": {digest_of(p): "hashed registry" for p in digests}}))


def test_suppressed_numbers_are_never_sent_and_counted() -> None:
    nums = phones(6)
    c = campaign(numbers=nums)
    policy = suppressing(nums[0], digests=(nums[1],))
    plan = plan_at(TUE_2300, c, policy=policy, rec=recorded(optouts=[nums[2]]))
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 3), ("start", "spring", 0)]
    sent_phones = set(plan.actions[1].phones)
    assert sent_phones == set(nums[3:])
    [s] = plan.campaigns
    assert (s.contacts, s.suppressed) == (6, 3)
    assert dict(s.suppressed_by) == {"national registry": 1, "hashed registry": 1, "opt-out": 1}
    assert plan.actions[1].row_index == (3, 4, 5)  # positions in the full contact table (saved plans)


def test_everyone_suppressed_creates_nothing_on_yccall() -> None:
    c = campaign(provider="callcenter", n=2)
    plan = plan_at(TUE_1000, c, policy=suppressing(*phones(2)))
    assert kinds(plan) == [] and plan.applyable
    assert plan.campaigns[0].suppressed == 2


def test_a_direct_campaign_never_dials_a_suppressed_number() -> None:
    nums = phones(3)
    plan = plan_at(TUE_1000, direct(numbers=nums), rec=recorded(optouts=[nums[1]]))
    assert kinds(plan) == [("dial", "survey", 2)] and nums[1] not in plan.actions[0].phones
    assert plan.campaigns[0].suppressed == 1


def test_suppressed_after_queued_xfyeta_started_is_a_warning() -> None:
    c = campaign(n=5)
    obs, rec = running_task(c)
    plan = plan_at(TUE_1000, c, policy=suppressing(phones(1)[0]), obs=obs, rec=recorded(**rec))
    assert kinds(plan) == []
    [w] = plan.warnings
    assert "1 contacts now on a do-not-call or opt-out list are already queued in task gitops-spring (101)" in w.message
    assert "removed from the files" not in w.message


def test_suppressed_after_queued_yccall_is_removed() -> None:
    c = campaign(provider="callcenter", n=5)
    obs, rec = running_task(c)
    nums = phones(5)
    plan = plan_at(TUE_1000, c, obs=obs, rec=recorded(**rec, optouts=[nums[4]]))
    assert kinds(plan) == [("remove", "spring", 1)]
    assert plan.actions[0].phones == (nums[4],) and plan.actions[0].reason == "1 are on a do-not-call or opt-out list"


def test_suppressed_after_queued_in_a_task_not_started_replaces_it() -> None:
    c = campaign(n=4)
    obs, rec = running_task(c, Phase.NOT_STARTED, run_state="")
    plan = plan_at(TUE_1000, c, rec=recorded(**rec, optouts=[phones(1)[0]]), obs=obs)
    assert [k for k, _, _ in kinds(plan)] == ["delete", "create", "insert", "start"]
    assert phones(1)[0] not in plan.actions[2].phones and len(plan.actions[2].phones) == 3


# --- frequency caps -------------------------------------------------------------------------------


def capped(count: int = 1, days: int = 7) -> Policy:
    return replace(POLICY, max_dials=FrequencyCap(count, days))


def test_a_number_called_by_another_campaign_is_held_back_until_the_cap_allows() -> None:
    nums = phones(3)
    other = campaign("other", numbers=nums[:1], state="absent")  # in the files: not a rename
    c = campaign(numbers=nums)
    history = sent(other, "900", nums[:1], at=at(1, 10).isoformat())
    plan = plan_at(TUE_1000, other, c, policy=capped(), rec=recorded(contacts=history))
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 2), ("start", "spring", 0)]
    assert nums[0] not in plan.actions[1].phones
    [d] = plan.deferred
    assert (d.kind, d.contacts, d.at) == (ActionKind.INSERT, 1, at(8, 10))  # 7 days after, inside the hours
    assert "max_dials 1 per 7 days" in d.reason
    assert plan.campaigns[-1].held == 1
    # after the period it is sent
    later = plan_at(at(8, 10, 1), other, c, policy=capped(), rec=recorded(contacts=history))
    assert len(later.actions[1].phones) == 3


@pytest.mark.parametrize(("count", "sends", "held"), [(2, 1, 0), (2, 2, 1), (3, 2, 0)])
def test_the_cap_counts_every_send(count, sends, held) -> None:
    nums = phones(2)
    history = [r for i in range(sends) for r in sent(campaign(f"o{i}"), f"9{i}", nums[:1],
                                                     at=(at(1, 10) + timedelta(hours=i)).isoformat())]
    plan = plan_at(TUE_1000, campaign(numbers=nums), policy=capped(count), rec=recorded(contacts=history))
    assert plan.campaigns[0].held == held


def test_the_cap_counts_each_dial_attempt_the_results_show_instead_of_the_send() -> None:
    nums = phones(2)
    other = campaign("other", numbers=nums[:1])
    history = sent(other, "900", nums[:1], at=at(1, 9).isoformat())
    # the results show two calls of that contact (a recall round): two dials, not one send
    dials = {nums[0]: (("other", at(1, 10)), ("other", at(1, 11)))}
    rec = replace(recorded(contacts=history), dials=dials)
    plan = plan_at(TUE_1000, other, campaign(numbers=nums), policy=capped(2), rec=rec)
    assert plan.campaigns[-1].held == 1
    assert plan.deferred[-1].at == at(8, 10)  # the first of the two dials leaves the 7-day period then
    assert plan_at(TUE_1000, other, campaign(numbers=nums), policy=capped(2),
                   rec=recorded(contacts=history)).campaigns[-1].held == 0  # one send alone is under the cap
    # calls of a contact row forgotten since (state rm) still count; the campaign's own calls never do
    gone = replace(recorded(), dials={nums[0]: (("old", at(1, 10)),)})
    assert plan_at(TUE_1000, campaign(numbers=nums), policy=capped(), rec=gone).campaigns[0].held == 1
    own = replace(recorded(), dials={nums[0]: (("spring", at(1, 10)),)})
    assert plan_at(TUE_1000, campaign(numbers=nums), policy=capped(), rec=own).campaigns[0].held == 0


def test_the_cap_counts_what_earlier_campaigns_of_the_plan_send() -> None:
    nums = phones(2)
    a, b = campaign("a", numbers=nums), campaign("b", numbers=nums[1:])
    plan = plan_at(TUE_1000, a, b, policy=capped())
    assert [(k, n) for k, name, n in kinds(plan) if k == "insert"] == [("insert", 2)]
    assert [s.held for s in plan.campaigns] == [0, 1]


def test_a_campaign_cap_binds_only_that_campaign() -> None:
    nums = phones(2)
    history = sent(campaign("other"), "900", nums[:1], at=at(1, 10).isoformat())
    c = replace(campaign(numbers=nums), policy=CampaignPolicy(max_dials=FrequencyCap(1, 30)))
    plan = plan_at(at(20, 10), c, rec=recorded(contacts=history))  # 19 days later: only its own 30-day cap holds
    assert plan.campaigns[0].held == 1 and plan.deferred[0].at == at(31, 10)


def test_held_direct_contacts_are_deferred_dials() -> None:
    nums = phones(2)
    history = sent(campaign("other"), "", nums[:1], at=at(1, 10).isoformat())
    plan = plan_at(TUE_1000, direct(numbers=nums), policy=capped(), rec=recorded(contacts=history))
    assert kinds(plan) == [("dial", "survey", 1)]
    assert plan.deferred[0].kind is ActionKind.DIAL and plan.deferred[0].contacts == 1


# --- forecast --------------------------------------------------------------------------------------

CAPACITY = Capacity(concurrent_calls=10, average_call_seconds=60, answer_rate=0.5)  # 600 calls per hour


def windowed(name: str = "spring", n: int = 1200, end: datetime | None = None) -> DesiredCampaign:
    c = campaign(name, n=n, recall=1)
    return replace(c, schedule=Schedule(at(1, 9), end, (TimeWindow(time(9), time(12)),)))


def test_forecast_counts_recall_rounds_inside_the_windows() -> None:
    project = desired(policy=POLICY).project
    fc = forecast(project, windowed(), CAPACITY, 1200, at(1, 8))
    # 1200 calls (2 h) then 600 recalls (1 h), 09:00-12:00 Monday
    assert (fc.calls, fc.calls_per_hour, fc.start, fc.finish) == (1800, 600.0, at(1, 9), at(1, 12))
    # twice the contacts: Tuesday 12:00
    assert forecast(project, windowed(n=2400), CAPACITY, 2400, at(1, 8)).finish == at(2, 12)
    # two campaigns sharing the profile: half the rate each
    assert forecast(project, windowed(), CAPACITY, 1200, at(1, 8), share=2).finish == at(2, 12)


def test_a_late_forecast_is_a_warning_and_in_the_summary() -> None:
    policy = replace(POLICY, capacity={"iflytek": CAPACITY})
    plan = plan_at(at(1, 8), windowed(end=at(1, 11, 30)), policy=policy)
    [s] = plan.campaigns
    assert s.forecast is not None and s.forecast.late and s.forecast.finish == at(1, 12)
    [w] = [w for w in plan.warnings if w.message.startswith("forecast:")]
    assert "1200 contacts (~1800 calls with 1 recall round)" in w.message
    assert "done around 2027-03-01 12:00, after schedule.end 2027-03-01 11:30" in w.message
    on_time = plan_at(at(1, 8), windowed(end=at(1, 12, 30)), policy=policy)
    assert on_time.campaigns[0].forecast is not None and not on_time.warnings


def test_progress_sets_what_the_capacity_should_have_dialed_by_now_against_the_dialed() -> None:
    project = desired(policy=POLICY).project
    c = windowed()
    # since 09:00 Monday, at 600 calls per open hour: 11:00 is 2 open hours, 1200 numbers (all of them)
    p = progress(project, c, CAPACITY, total=1200, dialed=900, started=at(1, 9), now=at(1, 11))
    assert (p.expected, p.behind, p.calls_per_hour) == (1200, 300, 600.0)
    assert p.remaining is not None and p.remaining.contacts == 300 and p.remaining.calls == 450
    # hours outside the windows do not count: 09:00 Monday to 10:00 Tuesday is 3 + 1 open hours
    p = progress(project, c, CAPACITY, total=5000, dialed=2500, started=at(1, 9), now=at(2, 10), share=2)
    assert (p.expected, p.behind, p.calls_per_hour) == (1200, -1300, 300.0)
    # nothing sent yet: nothing expected, the forecast of everybody from now; everybody dialed: no forecast
    p = progress(project, c, CAPACITY, total=1200, dialed=0, started=None, now=at(1, 8))
    assert (p.expected, p.started) == (0, None) and p.remaining is not None and p.remaining.finish == at(1, 12)
    assert progress(project, c, CAPACITY, total=10, dialed=10, started=at(1, 9), now=at(1, 10)).remaining is None


def test_no_capacity_no_forecast() -> None:
    assert plan_at(at(1, 8), windowed()).campaigns[0].forecast is None


# --- opt-outs from results ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"call_uuid": "u", "dialog": [{"seq": 1, "tag_name": "A级"}, {"seq": 2, "tag_name": "明确拒绝"}]},
         "tag_name '明确拒绝' matches '拒绝'"),
        ({"tag_name": "要求不要再打电话"}, "matches '不要再打'"),
        ({"intention": "Do_Not_Call"}, "matches 'do_not_call'"),
        ({"task_result": "0", "tag_desc": "客户投诉"}, "matches '投诉'"),
        ({"outcome": "DNC"}, "outcome 'DNC' is a do-not-call outcome"),
        ({"callee": "13800000000", "task_result": "8", "tag_name": "A级"}, None),  # a declined call is not a refusal
        ({"remark": "客户说勿扰 13800000000"}, "remark '客户说勿扰 <number>' matches '勿扰'"),
        ({}, None),
    ],
)
def test_optout_reason(result, expected) -> None:
    reason = optout_reason(result)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason and "13800000000" not in reason


def test_optout_rules_are_configurable() -> None:
    rules = OptOutRules(keywords=("unsubscribe",), outcomes=("9",))
    assert optout_reason({"tag_name": "明确拒绝"}, rules) is None
    assert optout_reason({"task_result": 9}, rules) is not None
    assert optout_reason({"tag_name": "明确拒绝"}, OptOutRules(enabled=False)) is None


# --- saved plans keep what the policy showed -------------------------------------------------------


def test_a_saved_plan_keeps_deferred_entries_counts_and_the_forecast() -> None:
    from tests.engine.test_planfile import roundtrip

    nums = phones(4)
    policy = replace(POLICY, capacity={"iflytek": CAPACITY}, suppress=Suppression({nums[0]: "registry"}))
    c = replace(windowed(n=4, end=at(31, 20)), contacts=campaign(numbers=nums).contacts)
    ds = desired(direct(), c, policy=policy)
    rec = recorded()
    plan = diff(ds, observed(), rec, TRAITS, now=datetime(2027, 2, 1, tzinfo=CST), at=TUE_2300)
    assert plan.deferred and plan.campaigns[1].suppressed == 1 and plan.campaigns[1].forecast is not None
    indexed, bound, _ = roundtrip(plan, ds, rec)
    assert bound.deferred == plan.deferred
    assert bound.campaigns == indexed.campaigns == plan.campaigns
    assert bound.meta.policy_at == TUE_2300.isoformat()


def test_a_refused_campaign_keeps_no_deferred_entries() -> None:
    c = campaign()
    nums = [r.phone for r in c.contacts.rows]
    t = task_record(c, "101", started=True, fingerprint="old-settings")  # a replacement would dial them again
    o = observed_task("101", t.remote_name, Phase.PAUSED, count=3)
    plan = plan_at(TUE_2300, c, obs=observed(o), rec=recorded(tasks=[t], contacts=sent(c, "101", nums)))
    assert plan.errors and "--allow-redial spring" in plan.errors[0].message
    assert plan.deferred == ()
    allowed = plan_at(TUE_2300, c, obs=observed(o), rec=recorded(tasks=[t], contacts=sent(c, "101", nums)),
                      allow=("spring",))
    assert [d.kind for d in allowed.deferred] == [ActionKind.START] and allowed.applyable


def test_calendar_follows_daylight_saving_time() -> None:
    from datetime import UTC

    from reconciler.policy import Hours as H7

    berlin = Policy(timezone="Europe/Berlin", hours=H7((((9 * H, 17 * H),),) * 7))
    cal = Calendar(berlin)
    start = datetime(2027, 3, 27, 0, tzinfo=UTC)
    got = list(cal.intervals(start, start + timedelta(days=2)))
    # 09:00-17:00 local: CET (UTC+1) on Saturday, CEST (UTC+2) from Sunday 2027-03-28
    assert got == [(datetime(2027, 3, 27, 8, tzinfo=UTC), datetime(2027, 3, 27, 16, tzinfo=UTC)),
                   (datetime(2027, 3, 28, 7, tzinfo=UTC), datetime(2027, 3, 28, 15, tzinfo=UTC))]


def test_optout_reason_reads_result_objects() -> None:
    from dataclasses import dataclass as dc
    from dataclasses import field as fd

    @dc(frozen=True)
    class Stored:  # the shape of a stored push (profile, module, callee, the body as received)
        profile: str
        module: str
        callee: str
        body: dict[str, object] = fd(default_factory=dict)

    pushed = Stored("iflytek", "receiveDialog", "13800000000", {"dialog": [{"seq": 3, "tag_name": "投诉倾向"}]})
    reason = optout_reason(pushed)
    assert reason is not None and "投诉" in reason and "13800000000" not in reason

    @dc(frozen=True)
    class Outcome:
        result_code: str = ""
        intention: str = ""

    assert optout_reason(Outcome(intention="F类-勿扰")) is not None
    assert optout_reason(Outcome(result_code="8", intention="A类")) is None


# --- the converged fast path under the policy --------------------------------------------------------


def _converged_case(phase: Phase):
    from reconciler.config.table import table_digest
    from reconciler.state.base import Converged

    c = campaign()
    obs, rec_kw = running_task(c, phase, run_state="running" if phase is Phase.RUNNING else "paused")
    rec = recorded(**rec_kw)
    mark = {c.name: Converged(c.name, table_digest(c.contacts.rows, c.contacts.phone_index), c.settings_fingerprint())}
    return c, obs, rec, replace(rec, converged=mark)


@pytest.mark.parametrize("now", [TUE_2300, TUE_1000, at(7, 11)])
@pytest.mark.parametrize("phase", [Phase.RUNNING, Phase.PAUSED, Phase.NOT_STARTED])
def test_the_fast_path_holds_the_calling_hours_as_the_full_diff(now: datetime, phase: Phase) -> None:
    c, obs, rec, marked = _converged_case(phase)
    full = plan_at(now, c, obs=obs, rec=rec)
    fast = plan_at(now, c, obs=obs, rec=marked)
    assert (fast.actions, fast.diagnostics, fast.campaigns, fast.notes, fast.deferred) == (
        full.actions, full.diagnostics, full.campaigns, full.notes, full.deferred)
    assert [v.now for v in full.converged] == [not full.actions]


def test_a_marker_holds_only_for_the_suppression_lists_it_was_written_with() -> None:
    c, obs, rec, marked = _converged_case(Phase.RUNNING)
    number = c.contacts.rows[0].phone  # sent already: suppressed now, it stays queued, and a warning says so
    for policy, optouts in ((POLICY, [number]), (suppressing(number), [])):
        full = plan_at(TUE_1000, c, policy=policy, obs=obs, rec=replace(rec, optouts=frozenset(optouts)))
        fast = plan_at(TUE_1000, c, policy=policy, obs=obs, rec=replace(marked, optouts=frozenset(optouts)))
        assert (fast.actions, fast.campaigns, fast.diagnostics) == (full.actions, full.campaigns, full.diagnostics)
        # Converged with what stands: the warning, the task's phase, the one number beyond the table.
        [conv] = full.converged
        assert full.actions == () and conv.now and conv.extra == 1 and conv.phases == (("101", "running"),)
        assert [w[0] for w in conv.warnings] == [d.message for d in full.diagnostics]
        assert "already queued" in conv.warnings[0][0]
        standing = replace(rec, optouts=frozenset(optouts), converged={c.name: conv.marker()})
        by_marker = plan_at(TUE_1000, c, policy=policy, obs=obs, rec=standing)
        assert (by_marker.actions, by_marker.campaigns, by_marker.diagnostics, by_marker.converged) == (
            full.actions, full.campaigns, full.diagnostics, full.converged)
        assert by_marker.campaigns[0].sent == len(c.contacts.rows)  # the queued number is still sent
        # Another phase than the marker's: the full diff again (a finished task dials nobody: no warning).
        obs_paused, _ = running_task(c, Phase.FINISHED, run_state="running")
        paused_full = plan_at(TUE_1000, c, policy=policy, obs=obs_paused, rec=replace(standing, converged={}))
        paused = plan_at(TUE_1000, c, policy=policy, obs=obs_paused, rec=standing)
        assert (paused.actions, paused.diagnostics, paused.converged) == (
            paused_full.actions, paused_full.diagnostics, paused_full.converged)
        assert paused.diagnostics != by_marker.diagnostics
    # A list that holds none of the campaign's numbers: converged, with the digest of the lists. The marker
    # written without any list is not used under it; one written under it is, and plans the same.
    policy = suppressing("19999999999")
    full = plan_at(TUE_1000, c, policy=policy, obs=obs, rec=rec)
    [conv] = full.converged
    assert conv.now and conv.suppression and conv.suppressed == ()
    assert plan_at(TUE_1000, c, policy=policy, obs=obs, rec=marked).converged == full.converged
    held = replace(rec, converged={c.name: conv.marker()})
    fast = plan_at(TUE_1000, c, policy=policy, obs=obs, rec=held)  # (tests/e2e/test_fast_plan: nothing parsed)
    assert fast.converged == full.converged
    assert (fast.actions, fast.campaigns, fast.diagnostics) == (full.actions, full.campaigns, full.diagnostics)
    other = suppressing("19999999998")  # another list: another digest, the marker is void
    [again] = plan_at(TUE_1000, c, policy=other, obs=obs, rec=held).converged
    assert again.suppression not in ("", conv.suppression)
    # the opted-out number is counted as suppressed, marker or not (the fast path would count nothing)
    plan = plan_at(TUE_1000, c, obs=obs, rec=replace(marked, optouts=frozenset({number})))
    assert plan.actions == () and plan.campaigns[0].suppressed == 1
