"""The dialing policy in every view: deferred entries, suppressed and held counts, the forecast."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from reconciler.engine.plan import (
    Action,
    ActionKind,
    ApplyResult,
    CampaignSummary,
    Deferred,
    Forecast,
    Plan,
    PlanMeta,
    StepResult,
    StepStatus,
)
from reconciler.views.base import get_view

CST = timezone(timedelta(hours=8))
NOW = datetime(2027, 3, 2, 23, 0, tzinfo=CST)
PHONES = ("13800000001", "13800000002")


def policy_plan(*, with_action: bool = False) -> Plan:
    deferred = (
        Deferred(ActionKind.DIAL, "survey", "iflytek", 40, datetime(2027, 3, 3, 9, tzinfo=CST),
                 "outside calling hours (policy)", 0, "survey"),
        Deferred(ActionKind.START, "spring", "iflytek", 0, datetime(2027, 3, 3, 9, tzinfo=CST),
                 "outside calling hours (policy)", 1, "gitops-spring", "101"),
        Deferred(ActionKind.INSERT, "spring", "iflytek", 5, datetime(2027, 3, 20, 10, tzinfo=CST),
                 "max_dials 1 per 7 days across campaigns (policy): already called that often"),
    )
    fc = Forecast(1200, 1800, 600.0, 3.0, NOW, datetime(2027, 4, 2, 12, tzinfo=CST),
                  datetime(2027, 3, 31, 20, tzinfo=CST), True)
    campaigns = (
        CampaignSummary("spring", "iflytek", "task", "running", "paused", 1210, 1000, ("101",), suppressed=3,
                        suppressed_by=(("national registry", 2), ("opt-out", 1)), held=5, forecast=fc),
        CampaignSummary("survey", "iflytek", "direct", "running", "direct", 40, 0),
    )
    actions = (Action(ActionKind.PAUSE, "winter", "iflytek", 1, "gitops-winter", "outside calling hours (policy)",
                       task_id="7", phones=()),) if with_action else ()
    return Plan(actions, campaigns=campaigns, meta=PlanMeta(created_at=NOW.isoformat()), deferred=deferred)


def test_text_shows_deferred_entries_counts_and_forecast() -> None:
    out = get_view("text").render_plan(policy_plan())
    assert "Deferred by the dialing policy" in out
    assert "> dial 40 contacts at 09:00 Wed" in out
    assert "~ start gitops-spring at 09:00 Wed" in out
    assert "+ insert 5 contacts at 2027-03-20 10:00 Sat" in out
    assert "spring: 3 contacts suppressed (national registry 2, opt-out 1); 5 contacts held back by max_dials" in out
    assert "forecast: 1200 contacts to dial (~1800 calls at ~600 per open hour, ~3.0 open hours), done around " \
           "2027-04-02 12:00, after schedule.end 2027-03-31 20:00" in out
    assert "No changes now; 3 deferred by the dialing policy" in out
    assert not any(p in out for p in PHONES)


def test_deferred_is_not_a_change() -> None:
    plan = policy_plan()
    assert not plan.has_changes and plan.applyable
    with_action = policy_plan(with_action=True)
    out = get_view("text").render_plan(with_action)
    assert "~ pause gitops-winter" in out and "; 3 deferred by the dialing policy." in out


def test_json_has_deferred_and_policy_counts() -> None:
    doc = json.loads(get_view("json").render_plan(policy_plan()))
    assert doc["has_changes"] is False
    assert doc["deferred"][0] == {"action": "dial", "campaign": "survey", "profile": "iflytek", "wave": 0,
                                  "remote_name": "survey", "task_id": "", "contacts": 40,
                                  "at": "2027-03-03T09:00:00+08:00", "reason": "outside calling hours (policy)"}
    assert [d["action"] for d in doc["deferred"]] == ["dial", "start", "insert"]
    spring = doc["campaigns"][0]
    assert (spring["suppressed"], spring["suppressed_by"], spring["held"]) == (
        3, {"national registry": 2, "opt-out": 1}, 5)
    assert spring["forecast"] == {"contacts": 1200, "calls": 1800, "calls_per_hour": 600.0, "open_hours": 3.0,
                                  "start": "2027-03-02T23:00:00+08:00", "finish": "2027-04-02T12:00:00+08:00",
                                  "end": "2027-03-31T20:00:00+08:00", "late": True}
    assert doc["campaigns"][1]["forecast"] is None
    s = doc["summary"]
    assert (s["deferred"], s["contacts_deferred"], s["contacts_suppressed"], s["contacts_held"]) == (3, 45, 3, 5)


def test_markdown_has_a_deferred_table_and_policy_list() -> None:
    out = get_view("markdown").render_plan(policy_plan())
    assert "**Deferred by the dialing policy**" in out
    assert "| survey | `>` dial | 40 contacts at 09:00 Wed | outside calling hours (policy) |" in out
    assert "- spring: 3 contacts suppressed (national registry 2, opt-out 1)" in out


def test_an_apply_stopped_by_the_hours_is_waiting_not_failed() -> None:
    plan = Plan((Action(ActionKind.DIAL, "survey", "iflytek", 0, "survey", "due", phones=PHONES, calls=2),))
    step = StepResult(plan.actions[0], StepStatus.SKIPPED, "stopped at 21:00 Tue: outside calling hours (policy)",
                      calls=1, done=1, deferred=True)
    result = ApplyResult(steps=(step,))
    assert result.ok
    out = get_view("text").render_result(plan, result)
    assert "waiting" in out and "1 deferred by the calling hours (due later)" in out and "Apply complete" in out
    doc = json.loads(get_view("json").render_result(plan, result))
    assert doc["ok"] is True and doc["steps"][0]["deferred"] is True and doc["summary"]["deferred"] == 1


def _md_cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip()[1:-1].split(" | ")]


def test_markdown_summary_table_counts_what_the_policy_did_per_campaign() -> None:
    out = get_view("markdown").render_plan(policy_plan(with_action=True))
    lines = out.splitlines()
    header = "| Campaign | Action | Contacts | Dials | Redials | Deferred | Suppressed | Held | Warnings |"
    start = lines.index(header)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows[_md_cells(line)[0]] = _md_cells(line)
    assert rows["spring"][5:8] == ["start, insert 5", "3", "5"]
    assert rows["survey"][5:8] == ["dial 40", "0", "0"]
    assert rows["winter"][1] == "\\~ pause" and rows["winter"][5] == "—"
    # the order of the comment: summary, actions, deferred entries, the policy list
    assert out.index(header) < out.index("| Campaign | Action | Detail") < out.index("**Deferred by the dialing") \
        < out.index("**Dialing policy**")
    plain = get_view("markdown").render_plan(Plan((Action(ActionKind.START, "a", "p", 1, "gitops-a", "run"),)))
    assert "| Campaign | Action | Contacts | Dials | Redials | Warnings |" in plain and "Suppressed" not in plain


def test_markdown_folds_and_caps_long_deferred_lists() -> None:
    from reconciler.views.markdown import FOLD_OVER, MAX_CHARS

    at = datetime(2027, 3, 3, 9, tzinfo=CST)
    many = tuple(Deferred(ActionKind.DIAL, f"survey-{i:05d}", "iflytek", 40, at, "outside calling hours (policy) "
                          + "x" * 80, 0, f"survey-{i:05d}") for i in range(3000))
    plan = Plan((), meta=PlanMeta(created_at=NOW.isoformat()), deferred=many)
    out = get_view("markdown").render_plan(plan)
    assert len(out) <= MAX_CHARS
    assert "deferred actions of 3000 not shown: the comment would pass GitHub's 65,536-character limit" in out
    assert out.count("<details>") == out.count("</details>") >= 1
    few = get_view("markdown").render_plan(replace(plan, deferred=many[: FOLD_OVER + 1]))
    assert f"<details><summary>{FOLD_OVER + 1} deferred actions</summary>" in few


def test_a_step_stopped_by_the_hours_is_waiting_in_markdown_and_in_the_progress_lines() -> None:
    import io

    from reconciler.views.progress import ProgressHooks

    plan = Plan((Action(ActionKind.DIAL, "survey", "iflytek", 0, "survey", "due", phones=PHONES, calls=2),))
    step = StepResult(plan.actions[0], StepStatus.SKIPPED, "stopped at 21:00 Tue: outside calling hours (policy)",
                      calls=1, done=1, deferred=True)
    md = get_view("markdown").render_result(plan, ApplyResult(steps=(step,)))
    assert "| survey | `>` dial | waiting |" in md
    out = io.StringIO()
    hooks = ProgressHooks(stream=out)
    hooks.plan_started(1, 2)
    hooks.step_finished(step)
    assert "waiting survey" in out.getvalue()
