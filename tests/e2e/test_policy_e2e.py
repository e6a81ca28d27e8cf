"""The dialing policy end to end: the CLI against the xfyeta emulator, with a simulated policy clock.

2027-03-02 is a Tuesday. The policy allows calls every day 09:00-21:00, not on
2027-03-05 (a holiday).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    campaigns,
    init_state,
    phones,
    project,
    run_cli,
    write_csv,
    xf_calls,
    xf_direct,
    xf_task,
)

CST = timezone(timedelta(hours=8))
POLICY = """\
policy:
  hours:
    mon-sun: ["09:00-21:00"]
  blackout: ["2027-03-05"]
"""


def setup(tmp_path: Path, xfyeta: Any, *, n_direct: int = 0, n_task: int = 0, extra: str = POLICY,
          files: dict[str, str] | None = None) -> Path:
    d = project(tmp_path, xf_url=xfyeta.base_url, extra=extra, init=False)
    for name, text in (files or {}).items():
        (d / name).write_text(text, encoding="utf-8")
    init_state(d)
    entries = []
    if n_direct:
        write_csv(d / "contacts/survey.csv", phones(n_direct))
        entries.append(xf_direct("survey", "../contacts/survey.csv"))
    if n_task:
        write_csv(d / "contacts/spring.csv", phones(n_task, start=1000))
        entries.append(xf_task("spring", "../contacts/spring.csv"))
    campaigns(d, *entries)
    return d


def use_clock(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], datetime]) -> None:
    """Every session's policy clock (plan, apply and the applier's per-batch check) reads ``clock``."""
    monkeypatch.setattr("reconciler.commands.session.policy_clock", lambda env=None, timezone="UTC": clock)


def dialed(xfyeta: Any) -> list[str]:
    return [d["phone"] for d in xfyeta.state()["dials"]]


def test_a_direct_apply_at_2059_stops_dialing_at_2100(tmp_path: Path, xfyeta: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_direct=200)
    base = [datetime(2027, 3, 2, 20, 59, tzinfo=CST)]

    def clock() -> datetime:  # each callout batch takes the simulated clock 30 s further
        return base[0] + timedelta(seconds=30 * len(xfyeta.calls_to("task/callout")))

    use_clock(monkeypatch, clock)
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 2 and "dial 200 contacts (4 calls)" in plan.stdout, plan.output
    res = run_cli("apply", str(d), "--auto-approve")
    # batches at 20:59:00 and 20:59:30 went out; at 21:00:00 dialing stopped: the rest stays due
    assert len(dialed(xfyeta)) == 100 and len(xfyeta.calls_to("task/callout")) == 2
    assert res.exit_code == 0, res.output
    assert "stopped at 21:00 Tue: outside calling hours (policy); 100 contacts stay due" in res.output
    assert "next opening: 09:00 Wed" in res.output and "waiting" in res.output

    later = run_cli("plan", str(d), "--detailed-exitcode", "--format", "json")
    assert later.exit_code == 0, later.output  # deferred is no change
    doc = json.loads(later.stdout)
    assert doc["actions"] == [] and doc["deferred"][0]["contacts"] == 100
    assert doc["deferred"][0]["at"] == "2027-03-03T09:00:00+08:00"
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert len(dialed(xfyeta)) == 100  # still outside the hours: nothing

    base[0] = datetime(2027, 3, 3, 9, 0, tzinfo=CST) - timedelta(seconds=60)  # 2 batches done: 09:00 Wed
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    numbers = dialed(xfyeta)
    assert len(numbers) == 200 and len(set(numbers)) == 200  # everyone once, nobody twice


def test_campaignctl_now_outside_the_hours_dials_nothing(tmp_path: Path, xfyeta: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_direct=30, n_task=20)
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T23:30:00+08:00")
    plan = run_cli("plan", str(d))
    assert plan.exit_code == 0, plan.output
    assert "> dial 30 contacts at 09:00 Wed" in plan.stdout and "~ start gitops-spring at 09:00 Wed" in plan.stdout
    md = run_cli("plan", str(d), "--format", "markdown")
    assert "**Deferred by the dialing policy**" in md.stdout
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    calls = xf_calls(xfyeta)
    assert calls["task/callout"] == 0 and calls["task/start"] == 0  # nothing dials
    assert calls["task/create"] == 1 and calls["task/insert"] == 1  # a task not started dials nobody
    # inside the hours, a later plan does what was deferred
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-03T09:00:01+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    calls = xf_calls(xfyeta)
    assert calls["task/callout"] == 1 and calls["task/start"] == 1
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_a_holiday_pauses_running_tasks_and_the_next_day_starts_them(tmp_path: Path, xfyeta: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_task=10, n_direct=5)
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-04T10:00:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert xf_calls(xfyeta)["task/start"] == 1 and len(dialed(xfyeta)) == 5
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-05T10:00:00+08:00")
    plan = run_cli("plan", str(d), "--detailed-exitcode")
    assert plan.exit_code == 2 and "pause gitops-spring" in plan.stdout and "a blackout date (policy)" in plan.stdout
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert xf_calls(xfyeta)["task/pause"] == 1
    assert run_cli("plan", str(d)).stdout.count("09:00 Sat") == 1  # the start waits for Saturday 09:00
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-06T09:30:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert xf_calls(xfyeta)["task/start"] == 2 and len(dialed(xfyeta)) == 5


def test_do_not_call_lists_and_opt_outs_are_never_dialed(tmp_path: Path, xfyeta: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    nums = phones(6)
    extra = POLICY + "suppress:\n  - csv: dnc.csv\n    column: phone\n"
    d = setup(tmp_path, xfyeta, n_direct=6, extra=extra, files={"dnc.csv": f"phone\n{nums[0]}\n"})
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    # a person who asked another campaign never to be called again
    added = run_cli("optout", "add", nums[1], "--reason", "asked on the phone", "--dir", str(d))
    assert added.exit_code == 0 and nums[1] not in added.output, added.output
    plan = run_cli("plan", str(d), "--format", "json")
    doc = json.loads(plan.stdout)
    assert doc["campaigns"][0]["suppressed"] == 2 and doc["actions"][0]["contacts"] == 4
    assert not any(n in plan.stdout for n in nums)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert sorted(dialed(xfyeta)) == nums[2:]
    listed = run_cli("optout", "list", "--dir", str(d))
    assert listed.exit_code == 0 and "199****0001" in listed.stdout and nums[1] not in listed.stdout


def test_optout_commands_mask_numbers_and_keep_removals(tmp_path: Path, xfyeta: Any) -> None:
    d = setup(tmp_path, xfyeta, n_direct=1)
    bad = run_cli("optout", "add", "99887766", "--dir", str(d))
    assert bad.exit_code == 1 and "not a valid phone number" in bad.output and "99887766" not in bad.output
    assert run_cli("optout", "add", "+86 138-0000-0000", "--reason", "asked at 13800000000", str(d)).exit_code == 0
    again = run_cli("optout", "add", "13800000000", "--dir", str(d))
    assert again.exit_code == 0 and "already on the opt-out list" in again.output
    assert run_cli("optout", "add", "13900000000", "--source", "results:iflytek", "--dir", str(d)).exit_code == 0
    listed = run_cli("optout", "list", "--dir", str(d))
    assert "2 numbers on the opt-out list (by source: manual 1, results:iflytek 1)" in listed.stdout
    assert "138****0000" in listed.stdout and "13800000000" not in listed.stdout  # in reasons too
    needs = run_cli("optout", "remove", "13800000000", "--dir", str(d))
    assert needs.exit_code != 0 and "Missing option '--reason'" in needs.output
    removed = run_cli("optout", "remove", "13800000000", "--reason", "typed by mistake", "--dir", str(d))
    assert removed.exit_code == 0 and "13800000000" not in removed.output
    assert run_cli("optout", "remove", "13800000000", "--reason", "x", "--dir", str(d)).exit_code == 1
    doc = json.loads(run_cli("optout", "list", "--all", "--format", "json", "--dir", str(d)).stdout)
    assert (doc["count"], doc["removed"], doc["by_source"]) == (1, 1, {"results:iflytek": 1})
    gone = next(r for r in doc["optouts"] if not r["active"])
    assert (gone["phone"], gone["removed_reason"]) == ("138****0000", "typed by mistake")
    assert "13800000000" not in json.dumps(doc) and "13900000000" not in json.dumps(doc)


def test_an_opt_out_learned_from_a_result_suppresses_the_number_in_another_campaign(
        tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.engine.policy import optout_reason
    from reconciler.state.sqlite import SqliteStore

    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    d = setup(tmp_path, xfyeta, n_direct=3)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    first = dialed(xfyeta)
    # the results receiver hears the first person refuse, and records it (what `results serve` will do)
    push = {"call_uuid": "u1", "task_data_id": "1", "dialog": [{"seq": 1, "role": "robot", "tag_name": "明确拒绝"}]}
    reason = optout_reason(push)
    assert reason is not None
    with SqliteStore(tmp_path / "state.db") as store:
        assert store.add_optout(first[0], "results:iflytek", reason)
    # a new campaign with the same people: the one who refused is never sent
    write_csv(d / "contacts/spring.csv", first + phones(2, start=500))
    campaigns(d, xf_direct("survey", "../contacts/survey.csv"), xf_task("spring", "../contacts/spring.csv"))
    plan = json.loads(run_cli("plan", str(d), "--format", "json").stdout)
    spring = next(c for c in plan["campaigns"] if c["name"] == "spring")
    assert spring["suppressed"] == 1 and spring["suppressed_by"] == {"opt-out": 1}
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    [task] = [t for t in xfyeta.state()["tasks"] if t["task_name"] == "gitops-spring"]
    assert first[0] not in {n["phone"] for n in task["numbers"]} and task["count_tel"] == 4


def test_yccall_removes_a_queued_number_once_it_is_opted_out_and_pauses_outside_the_hours(
        tmp_path: Path, yccall: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.conftest import yc_task

    d = project(tmp_path, yc_url=yccall.base_url, extra=POLICY)
    nums = phones(5, start=3000)
    write_csv(d / "contacts/follow.csv", nums, columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert run_cli("optout", "add", nums[2], "--reason", "complained", "--dir", str(d)).exit_code == 0
    plan = run_cli("plan", str(d))
    assert "remove 1 contact" in plan.stdout and "1 are on a do-not-call or opt-out list" in plan.stdout
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    [task] = yccall.state()["tasks"]
    assert nums[2] not in {str(n["telphone"]) for n in task["numbers"]} and len(task["numbers"]) == 4
    # 23:00: a yccall task has no windows of its own, so the plan pauses it
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T23:00:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert yccall.state()["tasks"][0]["status"] == 1027
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-03T09:00:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    assert yccall.state()["tasks"][0]["status"] == 1026


def _plan_then_apply(d: Path, plan_at: datetime, apply_at: datetime,
                     between: Callable[[Any], None] | None = None) -> Any:
    """Plan at ``plan_at``, then run the Applier with its clock injected at ``apply_at``."""
    from reconciler.commands.session import make_plan, open_session
    from reconciler.engine.apply import Applier

    with open_session(d) as session:
        session.clock = lambda: plan_at
        plan, observed = make_plan(session, prune=None, allow_replace=())
        if between is not None:
            between(session.store)
        return Applier(session.desired, session.providers, session.store, observed, now=lambda: apply_at).execute(
            plan)


def test_the_applier_checks_again_what_a_plan_made_earlier_would_do(tmp_path: Path, xfyeta: Any) -> None:
    d = setup(tmp_path, xfyeta, n_direct=10, n_task=5)
    result = _plan_then_apply(d, datetime(2027, 3, 2, 20, 50, tzinfo=CST), datetime(2027, 3, 2, 21, 5, tzinfo=CST))
    assert result.ok  # stopped by the hours: due later, not a failure
    by_kind = {s.action.kind.value: s for s in result.steps}
    assert by_kind["dial"].deferred and by_kind["dial"].done == 0 and "10 contacts stay due" in by_kind["dial"].detail
    assert by_kind["start"].deferred and by_kind["create"].status.value == "ok"
    calls = xf_calls(xfyeta)
    assert calls["task/callout"] == 0 and calls["task/start"] == 0


def test_a_number_opted_out_between_plan_and_apply_is_not_dialed(tmp_path: Path, xfyeta: Any) -> None:
    d = setup(tmp_path, xfyeta, n_direct=4)
    at = datetime(2027, 3, 2, 10, tzinfo=CST)
    result = _plan_then_apply(d, at, at, lambda store: store.add_optout(phones(4)[1], "results:iflytek", "拒绝"))
    assert result.ok and result.steps[0].done == 3
    assert sorted(dialed(xfyeta)) == [p for i, p in enumerate(phones(4)) if i != 1]


def test_inserts_leave_out_numbers_opted_out_between_plan_and_apply(tmp_path: Path, xfyeta: Any) -> None:
    """Checked in each batch's own intent transaction: one number of the first batch, and the whole second."""
    d = setup(tmp_path, xfyeta, n_task=55)
    nums = phones(55, start=1000)
    listed = [nums[3], *nums[50:]]
    at = datetime(2027, 3, 2, 10, tzinfo=CST)
    result = _plan_then_apply(d, at, at, lambda store: [store.add_optout(p, "results:iflytek", "拒绝") for p in listed])
    assert result.ok, result.steps
    insert = next(s for s in result.steps if s.action.kind.value == "insert")
    assert insert.done == 49 and insert.calls == 1  # the second batch had nothing left to send: no call
    (task,) = xfyeta.state()["tasks"]
    assert sorted(n["phone"] for n in task["numbers"]) == sorted(set(nums) - set(listed))
    from reconciler.commands.session import open_session

    with open_session(d) as session:
        store = session.store
        assert {c.name for c in store.campaigns()} == {"spring"}
        assert sorted(c.phone for c in store.contacts("spring")) == sorted(set(nums) - set(listed))
        (entry,) = [e for e in store.journal() if e.call == "insert"]
        assert entry.request["count"] == 49 and entry.request["rows"] == [[0, 3], [4, 50]]


def test_numbers_are_not_appended_to_a_running_yccall_task_once_the_hours_closed(
        tmp_path: Path, yccall: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.conftest import yc_task

    d = project(tmp_path, yc_url=yccall.base_url, extra=POLICY)
    write_csv(d / "contacts/follow.csv", phones(3, start=3000), columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    write_csv(d / "contacts/follow.csv", phones(5, start=3000), columns=("phone",))
    result = _plan_then_apply(d, datetime(2027, 3, 2, 20, 59, tzinfo=CST), datetime(2027, 3, 2, 21, 0, tzinfo=CST))
    [step] = result.steps
    assert step.action.kind.value == "insert" and step.deferred and result.ok
    assert not yccall.calls_to("App.Sip_Yccall.TaskAdd")


def test_a_create_leaves_out_numbers_opted_out_between_plan_and_apply(tmp_path: Path, yccall: Any) -> None:
    from tests.e2e.conftest import yc_task

    d = project(tmp_path, yc_url=yccall.base_url, extra=POLICY)
    nums = phones(3, start=4000)
    write_csv(d / "contacts/follow.csv", nums, columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    at = datetime(2027, 3, 2, 10, tzinfo=CST)
    result = _plan_then_apply(d, at, at, lambda store: store.add_optout(nums[0], "results:callcenter", "拒绝"))
    assert result.ok, result.steps
    [task] = yccall.state()["tasks"]
    assert sorted(n["telphone"] for n in task["numbers"]) == nums[1:]
    # all of them opted out: yccall cannot create an empty task, so the create waits for the next plan
    write_csv(d / "contacts/solo.csv", [phones(1, start=4100)[0]], columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"), yc_task("solo", "../contacts/solo.csv"))
    result = _plan_then_apply(d, at, at, lambda store: store.add_optout(phones(1, start=4100)[0], "manual", ""))
    create = next(s for s in result.steps if s.action.campaign == "solo")
    assert create.status.value == "skipped" and "cannot create an empty task" in create.detail
    assert len(yccall.state()["tasks"]) == 1


class _ClosesOnFirst:
    """A policy clock at 20:59:50 Tue until ``call`` next reaches the vendor, 21:00:10 after: the hours
    close while that call waits (here for a 429's Retry-After; as well a slow token, the rate limit).
    ``at`` set: that time instead (``arm`` clears it and waits for the next such call)."""

    def __init__(self, xfyeta: Any, call: str) -> None:
        self.xfyeta, self.call = xfyeta, call
        self.at: datetime | None = None
        self.before = 0

    def arm(self) -> None:
        self.at, self.before = None, len(self.xfyeta.calls_to(self.call))

    def __call__(self) -> datetime:
        if self.at is not None:
            return self.at
        late = len(self.xfyeta.calls_to(self.call)) > self.before
        return datetime(2027, 3, 2, 20, 59, 50, tzinfo=CST) + timedelta(seconds=20 if late else 0)


def test_a_direct_batch_the_vendor_held_back_is_not_sent_once_the_hours_closed(
        tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_direct=40)
    clock = _ClosesOnFirst(xfyeta, "task/callout")
    use_clock(monkeypatch, clock)
    xfyeta.faults.add("task/callout:429:1")  # "too many requests, try again in 1 s": nothing dialed yet
    res = run_cli("apply", str(d), "--auto-approve")
    # checked at 20:59:50 (open); by the time the vendor would take it again the hours had closed: not sent
    assert [c["status"] for c in xfyeta.calls_to("task/callout")] == [429]
    assert dialed(xfyeta) == []
    assert res.exit_code == 0, res.output
    assert "outside calling hours (policy); 40 contacts stay due" in res.output
    later = run_cli("plan", str(d), "--detailed-exitcode", "--format", "json")
    assert later.exit_code == 0, later.output
    doc = json.loads(later.stdout)  # due in the morning, not "unknown": nothing went out
    assert doc["actions"] == [] and doc["deferred"][0]["contacts"] == 40
    assert "unknown" not in json.dumps(doc.get("warnings", []))
    clock.at = datetime(2027, 3, 3, 9, 0, 1, tzinfo=CST)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    numbers = dialed(xfyeta)
    assert len(numbers) == 40 and len(set(numbers)) == 40


def test_a_start_the_vendor_held_back_is_not_sent_once_the_hours_closed(
        tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_task=10)
    use_clock(monkeypatch, _ClosesOnFirst(xfyeta, "task/start"))
    xfyeta.faults.add("task/start:429:1")
    res = run_cli("apply", str(d), "--auto-approve")
    assert [c["status"] for c in xfyeta.calls_to("task/start")] == [429]
    assert res.exit_code == 0, res.output
    assert "outside calling hours (policy)" in res.output and "started by a plan inside them" in res.output
    [task] = xfyeta.state()["tasks"]
    assert task["status"] == 0  # created and filled, never started: it dials nobody



def test_numbers_the_vendor_held_back_are_not_appended_to_a_running_yccall_task_once_the_hours_closed(
        tmp_path: Path, yccall: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.conftest import yc_task

    d = project(tmp_path, yc_url=yccall.base_url, extra=POLICY)
    write_csv(d / "contacts/follow.csv", phones(3, start=3000), columns=("phone",))
    campaigns(d, yc_task("followup", "../contacts/follow.csv"))
    clock = _ClosesOnFirst(yccall, "App.Sip_Yccall.TaskAdd")
    clock.at = datetime(2027, 3, 2, 10, 0, tzinfo=CST)
    use_clock(monkeypatch, clock)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0  # created and started at 10:00
    write_csv(d / "contacts/follow.csv", phones(5, start=3000), columns=("phone",))
    clock.arm()
    yccall.faults.add("TaskAdd:429:1")
    res = run_cli("apply", str(d), "--auto-approve")
    # the task runs: numbers appended now are dialed at once, so they wait for the hours like a callout
    assert [c["status"] for c in yccall.calls_to("App.Sip_Yccall.TaskAdd")] == [429]
    assert res.exit_code == 0, res.output
    assert "outside calling hours (policy); 2 contacts stay due" in res.output
    [task] = yccall.state()["tasks"]
    assert len(task["numbers"]) == 3


def test_a_callout_margin_stops_direct_batches_that_long_before_the_close(
        tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup(tmp_path, xfyeta, n_direct=200)
    path = d / "campaignctl.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    read_timeout: 5\n", "    read_timeout: 5\n    callout_margin: 120\n", 1), encoding="utf-8")
    base = [datetime(2027, 3, 2, 20, 57, tzinfo=CST)]

    def clock() -> datetime:  # each callout batch takes the simulated clock 30 s further
        return base[0] + timedelta(seconds=30 * len(xfyeta.calls_to("task/callout")))

    use_clock(monkeypatch, clock)
    res = run_cli("apply", str(d), "--auto-approve")
    # 20:57:00 and 20:57:30 went out; at 20:58:00 a batch would have 120 s left to ring: not sent
    assert len(dialed(xfyeta)) == 100 and len(xfyeta.calls_to("task/callout")) == 2
    assert res.exit_code == 0, res.output
    assert "close within the profile's callout_margin; 100 contacts stay due" in res.output
    assert "next opening: 09:00 Wed" in res.output
    doc = json.loads(run_cli("plan", str(d), "--format", "json").stdout)
    assert doc["actions"] == [] and doc["deferred"][0]["contacts"] == 100
    assert doc["deferred"][0]["at"] == "2027-03-03T09:00:00+08:00"
    path.write_text(path.read_text(encoding="utf-8").replace("callout_margin: 120", "callout_margin: -5"),
                    encoding="utf-8")
    bad = run_cli("validate", str(d))
    assert bad.exit_code == 1 and "campaignctl.yaml:" in bad.output and "callout_margin" in bad.output, bad.output
