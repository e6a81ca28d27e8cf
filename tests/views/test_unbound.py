"""Views count the contacts of an unbound saved-plan action (row positions, no phone numbers)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler.engine.plan import ApplyResult, Plan, StepResult, StepStatus
from reconciler.views.base import get_view
from tests.views.plans import full_plan, ok_result


def unbound(plan: Plan) -> Plan:
    """What ``load_plan`` gives: each action's row positions, its phones and rows left out."""
    return replace(plan, actions=tuple(replace(a, phones=(), rows=(), row_index=tuple(range(len(a.phones))))
                                       for a in plan.actions))


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_unbound_plan_renders_like_the_bound_one(fmt: str) -> None:
    view = get_view(fmt)
    assert view.render_plan(unbound(full_plan())) == view.render_plan(full_plan())


def test_unbound_counts_in_json() -> None:
    doc = json.loads(get_view("json").render_plan(unbound(full_plan())))
    assert doc["summary"]["contacts_to_insert"] == 173 and doc["summary"]["contacts_to_dial"] == 5
    plan = unbound(full_plan())
    result = json.loads(get_view("json").render_result(plan, ok_result(plan)))
    assert [s["contacts"] for s in result["steps"]][:3] == [0, 170, 0]


def done_result(plan: Plan) -> ApplyResult:
    return ApplyResult(steps=tuple(StepResult(a, StepStatus.OK, calls=a.calls, done=a.count // 2,
                                              task_id=a.task_id or "T-X") for a in plan.actions))


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_unbound_result_steps_count_contacts(fmt: str) -> None:
    plan = unbound(full_plan())
    assert get_view(fmt).render_result(plan, done_result(plan)) == get_view(fmt).render_result(
        full_plan(), done_result(full_plan()))
