"""JSON view: versioned, stable keys, own action vocabulary, never a phone number."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from reconciler.engine.plan import Action, ActionKind, ApplyResult, Diagnostic, Plan, StepResult, StepStatus
from reconciler.views import json as json_view
from reconciler.views.base import get_view
from tests.views.plans import PHONES, error_plan, full_plan, mixed_result, ok_result, replace_pair


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "additionalProperties": False, "properties": props}


STR, INT, BOOL = {"type": "string"}, {"type": "integer", "minimum": 0}, {"type": "boolean"}
WORDS = ["create", "delete", "replace", "insert", "remove", "start", "pause", "dial", "adopt"]

# Format 1, as documented in README.md "JSON plan format". Changing it is a format_version bump.
PLAN_SCHEMA = _obj({
    "format_version": {"const": 1},
    "applyable": BOOL,
    "has_changes": BOOL,
    "meta": _obj({"created_at": STR, "config_dir": STR, "config_digest": STR, "state_lineage": STR, "state_serial": INT,
                  "observed_digest": STR, "prune": BOOL, "allow_replace": {"type": "array", "items": STR},
                  "policy_at": STR}),
    "actions": {"type": "array", "items": _obj({
        "action": {"enum": WORDS}, "campaign": STR, "profile": STR, "wave": INT, "remote_name": STR, "task_id": STR,
        "contacts": INT, "calls": INT, "reason": STR, "drift": BOOL, "redial": INT})},
    "campaigns": {"type": "array", "items": _obj({
        "name": STR, "profile": STR, "mode": STR, "desired": STR, "observed": STR, "contacts": INT, "sent": INT,
        "tasks": {"type": "array", "items": STR}, "called": {"type": ["integer", "null"]},
        "answered": {"type": ["integer", "null"]}, "suppressed": INT,
        "suppressed_by": {"type": "object", "additionalProperties": INT}, "held": INT,
        "forecast": {"oneOf": [{"type": "null"}, _obj({
            "contacts": INT, "calls": INT, "calls_per_hour": {"type": "number"}, "open_hours": {"type": "number"},
            "start": STR, "finish": {"type": ["string", "null"]}, "end": {"type": ["string", "null"]},
            "late": BOOL})]}})},
    "diagnostics": {"type": "array", "items": _obj({
        "severity": {"enum": ["error", "warning"]}, "campaign": STR, "message": STR, "file": STR, "line": INT})},
    "notes": {"type": "array", "items": STR},
    "deferred": {"type": "array", "items": _obj({
        "action": {"enum": ["dial", "start", "insert"]}, "campaign": STR, "profile": STR, "wave": INT,
        "remote_name": STR, "task_id": STR, "contacts": INT, "at": {"type": ["string", "null"]}, "reason": STR})},
    "summary": _obj({w: INT for w in [*WORDS, "contacts_to_insert", "contacts_to_remove", "contacts_to_dial",
                                     "redial", "calls", "errors", "warnings", "deferred", "contacts_deferred",
                                     "contacts_suppressed", "contacts_held"]}),
})

RESULT_SCHEMA = _obj({
    "format_version": {"const": 1},
    "ok": BOOL,
    "steps": {"type": "array", "items": _obj({
        "action": {"enum": [w for w in WORDS if w != "replace"]}, "replace": BOOL, "campaign": STR, "profile": STR,
        "wave": INT, "remote_name": STR, "task_id": STR, "status": {"enum": ["ok", "failed", "unknown", "skipped"]},
        "detail": STR, "contacts": INT, "done": INT, "calls": INT, "deferred": BOOL})},
    "recovered": {"type": "array", "items": STR},
    "errors": {"type": "array", "items": STR},
    "resolve": {"type": "array", "items": _obj({"campaign": STR, "command": STR})},
    "summary": _obj({k: INT for k in ["calls", "created", "replaced", "deleted", "started", "paused", "adopted",
                                     "contacts_inserted", "contacts_removed", "contacts_dialed", "failed",
                                     "unknown", "skipped", "deferred"]}),
})


def plan_doc(plan: Plan) -> dict[str, Any]:
    out = get_view("json").render_plan(plan)
    assert out.endswith("\n")
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.parametrize("plan", [full_plan(), error_plan(), Plan(())], ids=["full", "errors", "empty"])
def test_plan_document_matches_format_1(plan: Plan) -> None:
    doc = plan_doc(plan)
    jsonschema.validate(doc, PLAN_SCHEMA)
    assert doc["format_version"] == 1
    assert doc["applyable"] == plan.applyable and doc["has_changes"] == plan.has_changes


def test_result_document_matches_format_1() -> None:
    plan = full_plan()
    for result in (mixed_result(plan), ok_result(plan), ApplyResult(errors=("lock lost",))):
        doc = json.loads(get_view("json").render_result(plan, result))
        jsonschema.validate(doc, RESULT_SCHEMA)
        assert doc["ok"] is result.ok


def test_actions_vocabulary_and_replace_collapse() -> None:
    doc = plan_doc(full_plan())
    assert [a["action"] for a in doc["actions"]] == [
        "create", "insert", "start", "replace", "start", "pause", "dial", "delete"]
    replace = doc["actions"][3]
    assert replace["task_id"] == "T-OLD"  # the task being replaced
    assert (replace["contacts"], replace["calls"], replace["redial"]) == (3, 2, 3)
    assert doc["actions"][1]["contacts"] == 170 and doc["actions"][1]["calls"] == 2
    assert doc["actions"][5]["drift"] is True
    assert doc["summary"]["create"] == 1 and doc["summary"]["replace"] == 1 and doc["summary"]["delete"] == 1
    assert doc["summary"]["contacts_to_insert"] == 173 and doc["summary"]["contacts_to_dial"] == 5
    assert doc["summary"]["calls"] == 10


def test_vocabulary_is_a_table_covering_every_kind() -> None:
    assert set(json_view.ACTION_WORDS) == set(ActionKind)
    assert set(json_view.STATUS_WORDS) == set(StepStatus)


def test_meta_campaigns_diagnostics_notes() -> None:
    doc = plan_doc(full_plan())
    assert doc["meta"]["allow_replace"] == ["autumn"] and doc["meta"]["state_serial"] == 4
    assert doc["campaigns"][0]["name"] == "spring-promo" and doc["campaigns"][0]["contacts"] == 170
    assert doc["diagnostics"][0] == {"severity": "warning", "campaign": "winter",
                                     "message": "2 contacts changed values after they were sent",
                                     "file": "campaigns/winter.yaml", "line": 14}
    assert doc["notes"] == ["summer: task gitops-summer (T-S) has finished"]
    assert plan_doc(error_plan())["applyable"] is False


def test_no_phone_digits_anywhere() -> None:
    phone = PHONES[7]
    plan = Plan(
        (*full_plan().actions,
         Action(ActionKind.REMOVE, "autumn", "yc", 1, "gitops-autumn", f"contact {phone} left the files",
                task_id="T-OLD", phones=(phone,))),
        diagnostics=(Diagnostic("warning", "autumn", f"{phone} is listed twice"),),
        notes=(f"{phone} note",),
    )
    result = ApplyResult(steps=(StepResult(plan.actions[-1], StepStatus.FAILED, f"vendor: {phone} unknown"),),
                         errors=(f"{phone} broke",))
    text = get_view("json").render_plan(plan) + get_view("json").render_result(plan, result)
    for p in PHONES:
        assert p not in text
    assert not re.search(r"\d{7,}", text)
    assert "<phone> is listed twice" in text


def test_unknown_dials_carry_the_resolve_command() -> None:
    plan = full_plan()
    doc = json.loads(get_view("json").render_result(plan, mixed_result(plan)))
    assert doc["resolve"] == [{"campaign": "direct-1",
                               "command": "campaignctl state resolve direct-1 --dialed|--not-dialed"}]
    statuses = [s["status"] for s in doc["steps"]]
    assert statuses == ["ok", "failed", "skipped", "unknown"]
    assert doc["steps"][0]["task_id"] == "T-NEW"
    assert doc["summary"]["contacts_inserted"] == 100 and doc["summary"]["failed"] == 1


def test_replace_steps_are_marked() -> None:
    plan = Plan(replace_pair())
    doc = json.loads(get_view("json").render_result(plan, ok_result(plan)))
    assert [(s["action"], s["replace"]) for s in doc["steps"]] == [
        ("delete", True), ("create", True), ("start", False)]
    assert doc["summary"]["replaced"] == 1 and doc["summary"]["created"] == 0


def test_non_ascii_is_kept_readable() -> None:
    plan = Plan((Action(ActionKind.START, "a", "p", 1, "外呼-a", "列 姓名"),))
    assert "外呼-a" in get_view("json").render_plan(plan)
