"""Table tests of the pure diff: every cell of DESIGN section 4 and its rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from reconciler.engine.diff import diff
from reconciler.engine.inputs import missing_state
from reconciler.engine.plan import ActionKind
from reconciler.engine.settle import InsertIntent, Verdict, settle_insert
from reconciler.model import TimeWindow
from reconciler.providers.base import Phase
from reconciler.state.base import CallOutcome, ContactStatus, JournalEntry
from tests.helpers.builders import (
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

NOW = datetime(2027, 2, 1, tzinfo=UTC)


def plan_for(*cs, obs=None, rec=None, prune=None, allow=()):
    return diff(desired(*cs), obs or observed(), rec or recorded(), TRAITS, now=NOW, prune=prune,
                allow_replace=allow)


def existing(c, phase, *, sent_n=None, started=None, count=None, wave=1, task_id="101", rec_started=None):
    nums = [r.phone for r in c.contacts.rows] if sent_n is None else [r.phone for r in c.contacts.rows][:sent_n]
    is_started = phase is not Phase.NOT_STARTED if started is None else started
    t = task_record(c, task_id, wave=wave, started=is_started if rec_started is None else rec_started)
    o = observed_task(task_id, t.remote_name, phase, profile=c.provider, started=is_started,
                      count=len(nums) if count is None else count)
    return o, t, sent(c, task_id, nums, wave=wave)


# --- desired running ------------------------------------------------------------


def test_running_absent_creates_inserts_starts() -> None:
    c = campaign(n=120)
    plan = plan_for(c)
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 120), ("start", "spring", 0)]
    insert = plan.actions[1]
    assert insert.calls == 3 and insert.task_id == "" and insert.remote_name == "gitops-spring"
    assert plan.applyable and plan.has_changes


def test_campaigns_row_positions_share_their_int_objects() -> None:
    # A plan's actions hold every row position of every campaign (a million in a first plan); the diff
    # gives them int objects shared across campaigns, 8 bytes a position instead of 36 (first plan of
    # 1,000 x 1,000: 196 -> 181 MB). Positions above 256 (Python caches the small ones anyway).
    a = campaign("a", numbers=phones(600))
    b = campaign("b", numbers=[f"1380000{i:04d}" for i in range(700)])
    plan = plan_for(a, b)
    inserts = {x.campaign: x for x in plan.actions if x.kind is ActionKind.INSERT}
    assert inserts["a"].row_index == tuple(range(600)) and inserts["b"].row_index == tuple(range(700))
    assert all(inserts["a"].row_index[i] is inserts["b"].row_index[i] for i in range(257, 600))


@pytest.mark.parametrize(
    ("phase", "sent_n", "expected"),
    [
        (Phase.NOT_STARTED, 0, [("insert", "spring", 3), ("start", "spring", 0)]),
        (Phase.NOT_STARTED, 2, [("insert", "spring", 1), ("start", "spring", 0)]),
        (Phase.NOT_STARTED, 3, [("start", "spring", 0)]),
        (Phase.RUNNING, 3, []),
        (Phase.PAUSED, 3, [("start", "spring", 0)]),
        (Phase.FINISHED, 3, []),
    ],
)
def test_running_against_each_phase(phase, sent_n, expected) -> None:
    c = campaign()
    o, t, s = existing(c, phase, sent_n=sent_n)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == expected
    assert all(a.task_id == "101" for a in plan.actions)
    if phase is Phase.FINISHED:
        assert any("finished" in n for n in plan.notes)


def test_running_task_gets_new_contacts_as_follow_up_wave_on_xfyeta() -> None:
    c = campaign(n=5)
    o, t, s = existing(c, Phase.RUNNING, sent_n=3)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 2), ("start", "spring", 0)]
    assert {a.wave for a in plan.actions} == {2}
    assert plan.actions[0].remote_name == "gitops-spring~2"


def test_follow_up_wave_follows_paused_state() -> None:
    c = campaign(n=5, state="paused")
    o, t, s = existing(c, Phase.PAUSED, sent_n=3)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 2)]


def test_after_start_error_makes_new_contacts_a_plan_error() -> None:
    c = campaign(n=5, after_start="error")
    o, t, s = existing(c, Phase.RUNNING, sent_n=3)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.applyable and "after_start" in plan.errors[0].message
    assert plan.errors[0].file == "campaigns/spring.yaml" and plan.errors[0].line == 3


# --- desired paused -------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "sent_n", "expected"),
    [
        (Phase.NOT_STARTED, 1, [("insert", "spring", 2)]),
        (Phase.RUNNING, 3, [("pause", "spring", 0)]),
        (Phase.PAUSED, 3, []),
        (Phase.FINISHED, 3, []),
    ],
)
def test_paused_against_each_phase(phase, sent_n, expected) -> None:
    c = campaign(state="paused")
    o, t, s = existing(c, phase, sent_n=sent_n)
    assert kinds(plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))) == expected


def test_paused_absent_creates_and_inserts_without_start() -> None:
    assert kinds(plan_for(campaign(state="paused"))) == [("create", "spring", 0), ("insert", "spring", 3)]


def test_running_task_never_started_by_us_is_drift_when_paused_wanted() -> None:
    c = campaign(state="paused")
    o, t, s = existing(c, Phase.RUNNING, rec_started=False)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("pause", "spring", 0)] and plan.actions[0].drift


# --- desired absent -------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.NOT_STARTED, Phase.RUNNING, Phase.PAUSED, Phase.FINISHED])
def test_absent_deletes_any_existing_task(phase) -> None:
    c = campaign(state="absent")
    o, t, s = existing(c, phase)
    assert kinds(plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))) == [("delete", "spring", 0)]


def test_absent_with_nothing_there_is_no_change() -> None:
    assert not plan_for(campaign(state="absent")).has_changes


def test_prevent_destroy_turns_delete_into_error() -> None:
    c = campaign(state="absent", prevent_destroy=True)
    o, t, s = existing(c, Phase.RUNNING)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.actions and "prevent_destroy" in plan.errors[0].message


def test_yccall_absent_leaves_an_ended_task_alone() -> None:
    c = campaign(state="absent", provider="callcenter")
    o, t, s = existing(c, Phase.FINISHED)
    assert not plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s)).has_changes


# --- settings that cannot be updated ------------------------------------------------


def test_changed_settings_replace_a_never_started_task() -> None:
    c = campaign(robot="720")
    o, t, s = existing(c, Phase.NOT_STARTED)
    t = task_record(campaign(robot="719"), "101")
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("delete", "spring", 0), ("create", "spring", 0), ("insert", "spring", 3),
                           ("start", "spring", 0)]
    assert plan.actions[0].replaces and plan.actions[1].replaces and plan.actions[0].redial == 0


def test_changed_settings_on_started_task_is_refused_with_redial_count() -> None:
    c = campaign(robot="720")
    o, _, s = existing(c, Phase.RUNNING)
    t = task_record(campaign(robot="719"), "101", started=True)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.applyable and not plan.actions
    assert "dial 3 contacts again" in plan.errors[0].message and "--allow-replace spring" in plan.errors[0].message


@pytest.mark.parametrize("how", ["lifecycle", "flag"])
def test_changed_settings_on_started_task_replaced_when_allowed(how) -> None:
    c = campaign(robot="720", allow_replace=how == "lifecycle")
    o, _, s = existing(c, Phase.RUNNING)
    t = task_record(campaign(robot="719"), "101", started=True)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s), allow=["spring"] if how == "flag" else ())
    assert kinds(plan)[:2] == [("delete", "spring", 0), ("create", "spring", 0)]
    assert plan.actions[1].redial == 3 and sum(a.redial for a in plan.actions) == 3


def test_finished_task_with_changed_settings_is_left_alone() -> None:
    c = campaign(robot="720")
    o, _, s = existing(c, Phase.FINISHED)
    t = task_record(campaign(robot="719"), "101", started=True)
    assert not plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s)).has_changes


# --- removed contacts -------------------------------------------------------------


def test_removed_contacts_replace_never_started_xfyeta_task() -> None:
    c = campaign(numbers=phones(2))
    bigger = campaign(numbers=phones(3))
    o, t, s = existing(bigger, Phase.NOT_STARTED)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("delete", "spring", 0), ("create", "spring", 0), ("insert", "spring", 2),
                           ("start", "spring", 0)]


def test_removed_contacts_on_started_xfyeta_task_warn() -> None:
    c = campaign(numbers=phones(2))
    o, t, s = existing(campaign(numbers=phones(3)), Phase.RUNNING)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.has_changes and plan.applyable
    assert "1 contacts removed from the files stay queued" in plan.warnings[0].message


def test_removed_contacts_on_yccall_are_removed() -> None:
    c = campaign(numbers=phones(2), provider="callcenter")
    o, t, s = existing(campaign(numbers=phones(3), provider="callcenter"), Phase.RUNNING)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("remove", "spring", 1)] and plan.actions[0].phones == (phones(3)[2],)


# --- yccall specifics -------------------------------------------------------------


def test_yccall_create_carries_contacts_and_appends_the_rest() -> None:
    c = campaign(n=12_000, provider="callcenter")
    plan = plan_for(c)
    assert kinds(plan) == [("create", "spring", 10_000), ("insert", "spring", 2_000), ("start", "spring", 0)]


def test_yccall_appends_to_a_running_task_instead_of_a_new_wave() -> None:
    c = campaign(n=5, provider="callcenter")
    o, t, s = existing(c, Phase.RUNNING, sent_n=3)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("insert", "spring", 2)] and plan.actions[0].task_id == "101"


def test_yccall_ended_task_gets_new_contacts_in_a_new_wave() -> None:
    c = campaign(n=5, provider="callcenter")
    o, t, s = existing(c, Phase.FINISHED, sent_n=3)
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("create", "spring", 2), ("start", "spring", 0)] and plan.actions[0].wave == 2
    assert "has finished (it takes no more numbers): follow-up wave 2" in plan.actions[0].reason
    xc = campaign(n=5)  # xfyeta: numbers only before start, finished or not
    xo, xt, xs = existing(xc, Phase.RUNNING, sent_n=3)
    xplan = plan_for(xc, obs=observed(xo), rec=recorded(tasks=[xt], contacts=xs))
    assert "(the platform accepts numbers only before start): follow-up wave 2" in xplan.actions[0].reason


# --- drift ----------------------------------------------------------------------------


def test_started_task_deleted_outside_is_not_recreated() -> None:
    c = campaign()
    _, t, s = existing(c, Phase.RUNNING)
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s))
    assert not plan.applyable and not plan.actions
    assert "deleted outside campaignctl" in plan.errors[0].message and "3 contacts again" in plan.errors[0].message


def test_started_task_deleted_outside_recreated_with_allow_replace() -> None:
    c = campaign()
    _, t, s = existing(c, Phase.RUNNING)
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s), allow=["spring"])
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 3), ("start", "spring", 0)]


def test_never_started_task_deleted_outside_is_recreated_with_warning() -> None:
    c = campaign()
    _, t, s = existing(c, Phase.NOT_STARTED)
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s))
    assert kinds(plan) == [("create", "spring", 0), ("insert", "spring", 3), ("start", "spring", 0)]
    assert "before it started" in plan.warnings[0].message


def test_deleted_flag_in_listing_counts_as_absent() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.RUNNING)
    o = observed_task("101", o.name, Phase.RUNNING, deleted=True)
    assert not plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s)).applyable


def test_unrecorded_task_with_our_name_is_an_error_not_a_duplicate() -> None:
    c = campaign()
    o = observed_task("555", "gitops-spring", Phase.NOT_STARTED)
    plan = plan_for(c, obs=observed(o))
    assert not plan.actions and "campaignctl import spring 555" in plan.errors[0].message


def test_task_of_interrupted_create_is_adopted() -> None:
    c = campaign()
    o = observed_task("555", "gitops-spring", Phase.NOT_STARTED, count=0)
    entry = JournalEntry(1, "spring", "iflytek", "create", "", CallOutcome.PENDING,
                         {"wave": 1, "fingerprint": c.settings_fingerprint(), "phones": []})
    plan = plan_for(c, obs=observed(o), rec=recorded(pending=[entry]))
    assert kinds(plan) == [("adopt", "spring", 0), ("insert", "spring", 3), ("start", "spring", 0)]
    assert plan.actions[1].task_id == "555"


def test_interrupted_create_found_without_a_count_never_sends_its_numbers_again() -> None:
    """A listing that reports no number count (documented yccall rows): what the create carried counts as sent."""
    c = campaign(provider="callcenter")
    o = observed_task("555", "gitops-spring", Phase.NOT_STARTED, profile="callcenter", count=None)
    entry = JournalEntry(1, "spring", "callcenter", "create", "", CallOutcome.PENDING,
                         {"wave": 1, "fingerprint": c.settings_fingerprint(), "phones": phones(3)})
    plan = plan_for(c, obs=observed(o), rec=recorded(pending=[entry]))
    assert kinds(plan) == [("adopt", "spring", 0), ("start", "spring", 0)]


@pytest.mark.parametrize("count", [None, 3])
def test_create_cut_off_before_its_numbers_were_recorded_never_sends_them_again(count: int | None) -> None:
    """The task record was written, the numbers the create carried were not (yccall): they count as sent."""
    c = campaign(provider="callcenter")
    o, t, _ = existing(c, Phase.NOT_STARTED)
    o = replace(o, contact_count=count)
    entry = JournalEntry(1, "spring", "callcenter", "create", "", CallOutcome.PENDING,
                         {"wave": 1, "fingerprint": c.settings_fingerprint(), "phones": phones(3)})
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], pending=[entry]))
    assert kinds(plan) == [("start", "spring", 0)]


def test_interrupted_insert_without_a_count_is_left_for_apply_to_settle() -> None:
    c = campaign(provider="callcenter")
    o, t, s = existing(c, Phase.NOT_STARTED, sent_n=1)
    o = replace(o, contact_count=None)
    entry = JournalEntry(1, "spring", "callcenter", "insert", "101", CallOutcome.PENDING,
                         {"wave": 1, "phones": [phones(3)[1]], "count_before": 1})
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s, pending=[entry]))
    assert plan.applyable and kinds(plan) == [("insert", "spring", 1), ("start", "spring", 0)]
    assert plan.actions[0].phones == (phones(3)[2],)  # the batch of unknown outcome is not sent again
    assert any("number count" in n for n in plan.notes)


@pytest.mark.parametrize(("count", "expected"), [(2, [("insert", "spring", 1), ("start", "spring", 0)]),
                                                 (1, [("insert", "spring", 2), ("start", "spring", 0)])])
def test_interrupted_insert_settled_by_count(count, expected) -> None:
    c = campaign()
    o, t, s = existing(c, Phase.NOT_STARTED, sent_n=1, count=count)
    entry = JournalEntry(1, "spring", "iflytek", "insert", "101", CallOutcome.PENDING,
                         {"wave": 1, "phones": [phones(3)[1]], "count_before": 1})
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s, pending=[entry]))
    assert kinds(plan) == expected


def test_interrupted_insert_with_unexplained_count_blocks_the_campaign() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.NOT_STARTED, sent_n=1, count=7)
    entry = JournalEntry(1, "spring", "iflytek", "insert", "101", CallOutcome.PENDING,
                         {"wave": 1, "phones": [phones(3)[1]], "count_before": 1})
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s, pending=[entry]))
    assert not plan.applyable and "cannot be settled" in plan.errors[0].message


def test_unobservable_profile_is_an_error_for_its_campaigns_only() -> None:
    a, b = campaign("a"), campaign("b", provider="callcenter")
    plan = plan_for(a, b, obs=observed(errors={"iflytek": "connection refused"}))
    assert [e.campaign for e in plan.errors] == ["a"]
    assert [x.campaign for x in plan.actions] == ["b", "b"]


# --- removed campaigns, prune, strangers ---------------------------------------------------


def test_campaign_left_files_is_kept_without_prune_and_deleted_with_it() -> None:
    gone = campaign("old")
    o, t, s = existing(gone, Phase.RUNNING)
    rec = recorded(tasks=[t], contacts=s)
    plan = plan_for(obs=observed(o), rec=rec)
    assert not plan.actions and "left the files" in plan.warnings[0].message
    pruned = plan_for(obs=observed(o), rec=rec, prune=True)
    assert kinds(pruned) == [("delete", "old", 0)]


def test_unknown_task_with_prefix_is_left_alone() -> None:
    plan = plan_for(obs=observed(observed_task("9", "gitops-stranger", Phase.RUNNING)), prune=True)
    assert not plan.actions and "left alone" in plan.warnings[0].message


# --- direct mode --------------------------------------------------------------------


def test_direct_dials_each_contact_once_in_batches() -> None:
    c = campaign(mode="direct", n=120)
    plan = plan_for(c)
    assert kinds(plan) == [("dial", "spring", 120)] and plan.actions[0].calls == 3


def test_direct_skips_dialed_and_unknown_and_redials_settled_not_dialed() -> None:
    c = campaign(mode="direct", n=4)
    nums = phones(4)
    recs = (sent(c, "", nums[:1], status=ContactStatus.DIALED) + sent(c, "", nums[1:2], status=ContactStatus.UNKNOWN)
            + sent(c, "", nums[2:3], status=ContactStatus.NOT_DIALED))
    plan = plan_for(c, rec=recorded(contacts=recs))
    assert plan.actions[0].phones == (nums[2], nums[3])
    assert "unknown dial outcome" in plan.warnings[0].message


def test_direct_paused_dials_nothing_and_unknown_is_warning_not_change() -> None:
    c = campaign(mode="direct", n=2)
    recs = sent(c, "", phones(2), status=ContactStatus.UNKNOWN)
    plan = plan_for(campaign(mode="direct", n=2, state="paused"), rec=recorded(contacts=recs))
    assert not plan.has_changes and plan.applyable and plan.warnings


def test_direct_on_yccall_is_an_error() -> None:
    assert not plan_for(campaign(mode="direct", provider="callcenter")).applyable


# --- helpers -----------------------------------------------------------------------


def test_wave_of_is_the_vendor_naming_rule_of_each_profile() -> None:
    for tr in TRAITS.values():
        assert tr.wave_of("gitops-a", "a") == 1
        assert tr.wave_of("gitops-a~3", "a") == 3
        assert tr.wave_of("gitops-a-b", "a") is None
        assert tr.wave_of("gitops-a~x", "a") is None
        assert tr.wave_of(tr.task_name("a", 4), "a") == 4


def test_settle_insert_verdicts() -> None:
    intent = InsertIntent(1, ("1", "2"), 5)
    assert settle_insert(intent, 5, age=100, window=10) is Verdict.NOT_LANDED
    assert settle_insert(intent, 5, age=1, window=10) is Verdict.IN_FLIGHT
    assert settle_insert(intent, 7, age=1, window=10) is Verdict.LANDED
    assert settle_insert(intent, 6, age=100, window=10) is Verdict.AMBIGUOUS
    assert settle_insert(intent, 6, age=1, window=10) is Verdict.IN_FLIGHT
    assert settle_insert(intent, 9, age=1, window=10) is Verdict.AMBIGUOUS
    assert settle_insert(intent, None, age=100, window=10) is Verdict.AMBIGUOUS


def test_plan_digest_ignores_reasons_but_not_contacts() -> None:
    a = plan_for(campaign(n=3))
    b = plan_for(campaign(n=4))
    assert a.digest() == plan_for(campaign(n=3)).digest() and a.digest() != b.digest()
    assert ActionKind.ADOPT.mutates_platform is False


def test_switching_task_to_direct_is_refused_while_tasks_live() -> None:
    task_c = campaign()
    o, t, s = existing(task_c, Phase.RUNNING)
    plan = plan_for(campaign(mode="direct"), obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.actions and "mode: task" in plan.errors[0].message


def test_switching_direct_to_task_is_refused_after_dials() -> None:
    c = campaign(mode="direct")
    recs = sent(c, "", phones(3), status=ContactStatus.DIALED)
    plan = plan_for(campaign(), rec=recorded(contacts=recs))
    assert not plan.actions and "mode: direct" in plan.errors[0].message


# --- never dial twice: every redial counted and gated (issue 8) ---------------------------


def _waves_with_settings(c, old, waves, started=True):
    """Live tasks for several waves created with ``old``'s settings, each holding its own contacts."""
    obs, recs, sents = [], [], []
    nums = [r.phone for r in c.contacts.rows]
    chunks = [nums[:100], nums[100:]] if len(waves) == 2 else [nums]
    for (task_id, wave), chunk in zip(waves, chunks, strict=True):
        rec = task_record(old, task_id, wave=wave, started=started)
        rec = replace(rec, settings=old.settings())
        recs.append(rec)
        obs.append(observed_task(task_id, rec.remote_name, Phase.RUNNING, started=started, count=len(chunk)))
        sents += sent(c, task_id, chunk, wave=wave)
    return observed(*obs), recorded(tasks=recs, contacts=sents)


def test_refusal_counts_the_redial_of_every_replaced_wave_and_names_the_changed_setting() -> None:
    old = campaign(n=115)
    c = replace(old, schedule=replace(old.schedule, windows=(TimeWindow(time(9), time(11)),)))
    obs, rec = _waves_with_settings(c, old, [("1002", 1), ("1003", 2)])
    plan = plan_for(c, obs=obs, rec=rec)
    assert not plan.applyable and not plan.actions
    msg = plan.errors[0].message
    assert "dial 115 contacts again" in msg
    assert 'windows: ["09:00:00-12:00:00"] → ["09:00:00-11:00:00"]' in msg
    allowed = plan_for(c, obs=obs, rec=rec, allow=["spring"])
    assert sum(a.redial for a in allowed.actions) == 115
    assert [a.kind.value for a in allowed.actions if a.kind is ActionKind.DELETE] == ["delete", "delete"]


def test_refusal_names_a_yccall_setting_outside_any_fixed_list() -> None:
    old = campaign(provider="callcenter", n=4)
    c = replace(old, vendor=replace(old.vendor, concurrency=20))  # type: ignore[type-var]
    obs, rec = _waves_with_settings(c, old, [("Y1", 1)])
    obs = observed(observed_task("Y1", "gitops-spring", Phase.RUNNING, profile="callcenter", count=4))
    plan = plan_for(c, obs=obs, rec=rec)
    assert "yccall.concurrency: null → 20" in plan.errors[0].message


def test_recreating_a_started_task_deleted_outside_counts_redial_and_drift() -> None:
    c = campaign(n=115)
    _, t, s = existing(c, Phase.RUNNING)
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s), allow=["spring"])
    create = plan.actions[0]
    assert create.kind is ActionKind.CREATE and create.drift and create.redial == 115
    assert "deleted outside campaignctl" in create.reason and "not on the platform" not in create.reason
    assert sum(a.redial for a in plan.actions) == 115


@pytest.mark.parametrize("how", ["absent", "pruned"])
def test_bringing_back_a_campaign_whose_tasks_were_deleted_is_a_counted_refused_redial(how) -> None:
    c = campaign(n=7)
    t = replace(task_record(c, "101", started=True), deleted=True)
    s = sent(c, "101", [r.phone for r in c.contacts.rows])
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s))
    assert not plan.applyable and not plan.actions
    assert "dial 7 contacts again" in plan.errors[0].message
    allowed = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s), allow=["spring"])
    assert sum(a.redial for a in allowed.actions) == 7


def test_a_never_started_deleted_task_is_no_redial() -> None:
    c = campaign(n=7)
    t = replace(task_record(c, "101", started=False), deleted=True)
    s = sent(c, "101", [r.phone for r in c.contacts.rows])
    plan = plan_for(c, obs=observed(), rec=recorded(tasks=[t], contacts=s))
    assert plan.applyable and sum(a.redial for a in plan.actions) == 0


def test_renamed_campaign_is_refused_and_points_to_state_mv() -> None:
    old = campaign("spring", n=5)
    new = campaign("spring-2027", n=5)
    o, t, s = existing(old, Phase.RUNNING)
    plan = plan_for(new, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    assert not plan.actions
    err = next(d for d in plan.errors if d.campaign == "spring-2027")
    assert "dial 5 contacts again" in err.message and "campaignctl state mv spring spring-2027" in err.message


def test_direct_campaign_contacts_dialed_under_an_old_name_count_as_redial() -> None:
    old = campaign("survey", mode="direct", n=4)
    new = campaign("survey-2", mode="direct", n=4)
    s = sent(old, "", [r.phone for r in old.contacts.rows], wave=0, status=ContactStatus.DIALED)
    plan = plan_for(new, rec=recorded(contacts=s))
    assert not plan.actions and "dial 4 contacts again" in plan.errors[0].message


def test_task_paused_outside_campaignctl_is_drift() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.PAUSED)
    t = replace(t, run_state="running")
    plan = plan_for(c, obs=observed(o), rec=recorded(tasks=[t], contacts=s))
    (start,) = plan.actions
    assert start.kind is ActionKind.START and start.drift and "outside campaignctl" in start.reason
    # paused by campaignctl itself: no drift
    t2 = replace(t, run_state="paused")
    (start2,) = plan_for(c, obs=observed(o), rec=recorded(tasks=[t2], contacts=s)).actions
    assert not start2.drift


def test_missing_state_shows_the_plan_and_blocks_apply() -> None:
    c = campaign(mode="direct", n=170)
    plan = diff(desired(c), observed(), missing_state("no file at .campaignctl/state.db"), TRAITS, now=NOW)
    assert plan.actions and plan.actions[0].kind is ActionKind.DIAL  # still shown
    assert not plan.applyable and plan.meta.state_missing
    msg = plan.errors[0].message
    assert "state is missing" in msg and "state init" in msg and "state rebuild" in msg


def _create_entry(c, outcome, *, age_s, wave=1):
    started = (NOW - timedelta(seconds=age_s)).isoformat()
    return JournalEntry(1, c.name, c.provider, "create", "", outcome,
                        {"wave": wave, "remote_name": "gitops-spring", "fingerprint": c.settings_fingerprint(),
                         "phones": []}, started_at=started)


def test_never_started_duplicate_of_a_recorded_task_is_deleted() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.RUNNING)
    dup = observed_task("202", "gitops-spring", Phase.NOT_STARTED, count=0)
    plan = plan_for(c, obs=observed(o, dup), rec=recorded(tasks=[t], contacts=s))
    assert plan.applyable
    (delete,) = plan.actions
    assert delete.kind is ActionKind.DELETE and delete.task_id == "202" and "duplicate" in delete.reason
    assert "import" not in " ".join(d.message for d in plan.diagnostics)


def test_started_duplicate_of_a_recorded_task_is_an_error_without_import_hint() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.RUNNING)
    dup = observed_task("202", "gitops-spring", Phase.RUNNING, count=3)
    plan = plan_for(c, obs=observed(o, dup), rec=recorded(tasks=[t], contacts=s))
    assert not plan.applyable
    assert "two live tasks" in plan.errors[0].message and "import" not in plan.errors[0].message


def test_lost_create_that_landed_twice_adopts_one_and_deletes_the_other() -> None:
    c = campaign()
    a = observed_task("301", "gitops-spring", Phase.NOT_STARTED, count=0)
    b = observed_task("302", "gitops-spring", Phase.NOT_STARTED, count=0)
    e = _create_entry(c, CallOutcome.UNKNOWN, age_s=600)
    plan = plan_for(c, obs=observed(a, b), rec=recorded(pending=[e]))
    got = [(x.kind.value, x.task_id) for x in plan.actions]
    assert ("adopt", "301") in got and ("delete", "302") in got
    assert not any(x.kind is ActionKind.CREATE for x in plan.actions)


def test_in_flight_calls_are_never_taken_as_interrupted_without_the_lock() -> None:
    c = campaign()
    o, t, s = existing(c, Phase.NOT_STARTED, sent_n=0, count=50)
    e = JournalEntry(2, "spring", "iflytek", "insert", "101", CallOutcome.PENDING,
                     {"wave": 1, "phones": [r.phone for r in c.contacts.rows], "count_before": 0},
                     started_at=NOW.isoformat())
    rec = replace(recorded(tasks=[t], contacts=s, pending=[e]), in_flight=True)
    plan = plan_for(c, obs=observed(o), rec=rec)
    assert plan.applyable and not plan.actions
    assert any("in flight" in n for n in plan.notes)
