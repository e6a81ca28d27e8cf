"""Machine-readable plans and apply results, versioned by ``format_version``.

The action vocabulary is this module's own table, not ``ActionKind.value``:
renaming an engine enum member must not change what CI scripts parse. Phone
numbers never appear, only counts. The format is documented in README.md
("JSON plan format"); a breaking change there bumps ``FORMAT_VERSION``.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.engine.plan import (
    ACTION_WORDS,
    FORMAT_VERSION,
    ActionKind,
    ApplyResult,
    CampaignSummary,
    Deferred,
    Diagnostic,
    Forecast,
    Plan,
    StepResult,
    StepStatus,
)
from reconciler.views._common import (
    Item,
    PlanCounts,
    PlanPhones,
    ResultCounts,
    collapse,
    deferred_counts,
    deferred_word,
    phones_of,
    resolve_hint,
    scrub,
)

__all__ = ["ACTION_WORDS", "STATUS_WORDS", "JsonView", "forecast_document"]

REPLACE = "replace"  # the stable word of a DELETE+CREATE pair (no ActionKind: collapsed by the views)

STATUS_WORDS: dict[StepStatus, str] = {
    StepStatus.OK: "ok",
    StepStatus.FAILED: "failed",
    StepStatus.UNKNOWN: "unknown",
    StepStatus.SKIPPED: "skipped",
}


class JsonView:
    """One JSON document per render, pretty-printed, UTF-8 text (not ``\\u`` escapes)."""

    def render_plan(self, plan: Plan, *, color: bool = False) -> str:
        return _dump(plan_document(plan))

    def render_result(self, plan: Plan, result: ApplyResult, *, color: bool = False,
                      list_steps: bool = True) -> str:
        return _dump(result_document(plan, result))


def plan_document(plan: Plan) -> dict[str, Any]:
    phones = phones_of(plan)
    items = collapse(plan.actions)
    counts = PlanCounts.of(items)
    meta = plan.meta
    return {
        "format_version": FORMAT_VERSION,
        "applyable": plan.applyable,
        "has_changes": plan.has_changes,
        "meta": {
            "created_at": meta.created_at,
            "config_dir": meta.config_dir,
            "config_digest": meta.config_digest,
            "state_lineage": meta.state_lineage,
            "state_serial": meta.state_serial,
            "observed_digest": meta.observed_digest,
            "prune": meta.prune,
            "allow_replace": list(meta.allow_replace),
            "policy_at": meta.policy_at,
        },
        "actions": [_action(i, phones) for i in items],
        "campaigns": [_campaign(c) for c in plan.campaigns],
        "diagnostics": [_diagnostic(d, phones) for d in plan.diagnostics],
        "notes": [scrub(n, phones) for n in plan.notes],
        "deferred": [_deferred(d) for d in plan.deferred],
        "summary": {
            "create": counts.create,
            "replace": counts.replace,
            "delete": counts.delete,
            "insert": counts.insert,
            "remove": counts.remove,
            "start": counts.start,
            "pause": counts.pause,
            "dial": counts.dial,
            "adopt": counts.adopt,
            "contacts_to_insert": counts.contacts_to_insert,
            "contacts_to_remove": counts.contacts_to_remove,
            "contacts_to_dial": counts.contacts_to_dial,
            "redial": counts.redial,
            "calls": counts.calls,
            "errors": len(plan.errors),
            "warnings": len(plan.warnings),
            "deferred": deferred_counts(plan).deferred,
            "contacts_deferred": deferred_counts(plan).contacts,
            "contacts_suppressed": sum(c.suppressed for c in plan.campaigns),
            "contacts_held": sum(c.held for c in plan.campaigns),
        },
    }


def result_document(plan: Plan, result: ApplyResult) -> dict[str, Any]:
    phones = phones_of(plan)
    c = ResultCounts.of(result)
    unknown = sorted({s.action.campaign for s in result.steps
                      if s.status is StepStatus.UNKNOWN and s.action.kind is ActionKind.DIAL})
    return {
        "format_version": FORMAT_VERSION,
        "ok": result.ok,
        "steps": [_step(s, phones) for s in result.steps],
        "recovered": [scrub(r, phones) for r in result.recovered],
        "errors": [scrub(e, phones) for e in result.errors],
        "resolve": [{"campaign": name, "command": resolve_hint(name)} for name in unknown],
        "summary": {
            "calls": c.calls,
            "created": c.created,
            "replaced": c.replaced,
            "deleted": c.deleted,
            "started": c.started,
            "paused": c.paused,
            "adopted": c.adopted,
            "contacts_inserted": c.inserted,
            "contacts_removed": c.removed,
            "contacts_dialed": c.dialed,
            "failed": c.failed,
            "unknown": c.unknown,
            "skipped": c.skipped,
            "deferred": c.deferred,
        },
    }


def _action(item: Item, phones: PlanPhones) -> dict[str, Any]:
    a = item.action
    return {
        "action": REPLACE if item.paired is not None else ACTION_WORDS[a.kind],
        "campaign": a.campaign,
        "profile": a.profile,
        "wave": a.wave,
        "remote_name": a.remote_name,
        "task_id": a.task_id,
        "contacts": item.contacts,
        "calls": item.calls,
        "reason": scrub(a.reason, phones),
        "drift": item.drift,
        "redial": item.redial,
    }


def _step(s: StepResult, phones: PlanPhones) -> dict[str, Any]:
    a = s.action
    return {
        "action": ACTION_WORDS[a.kind],
        "replace": a.replaces and a.kind in (ActionKind.CREATE, ActionKind.DELETE),
        "campaign": a.campaign,
        "profile": a.profile,
        "wave": a.wave,
        "remote_name": a.remote_name,
        "task_id": s.task_id or a.task_id,
        "status": STATUS_WORDS[s.status],
        "detail": scrub(s.detail, phones),
        "contacts": a.count,
        "done": s.done,
        "calls": s.calls,
        "deferred": s.deferred,
    }


def _campaign(c: CampaignSummary) -> dict[str, Any]:
    return {
        "name": c.name,
        "profile": c.profile,
        "mode": c.mode,
        "desired": c.desired,
        "observed": c.observed,
        "contacts": c.contacts,
        "sent": c.sent,
        "tasks": list(c.tasks),
        "called": c.called,
        "answered": c.answered,
        "suppressed": c.suppressed,
        "suppressed_by": dict(c.suppressed_by),
        "held": c.held,
        "forecast": forecast_document(c.forecast),
    }


def _deferred(d: Deferred) -> dict[str, Any]:
    return {
        "action": deferred_word(d),
        "campaign": d.campaign,
        "profile": d.profile,
        "wave": d.wave,
        "remote_name": d.remote_name,
        "task_id": d.task_id,
        "contacts": d.contacts,
        "at": d.at.isoformat() if d.at is not None else None,
        "reason": d.reason,
    }


def forecast_document(fc: Forecast | None) -> dict[str, Any] | None:
    """A forecast as the JSON views (plan, validate) show it."""
    if fc is None:
        return None
    return {
        "contacts": fc.contacts,
        "calls": fc.calls,
        "calls_per_hour": round(fc.calls_per_hour, 2),
        "open_hours": round(fc.hours, 2),
        "start": fc.start.isoformat(),
        "finish": fc.finish.isoformat() if fc.finish is not None else None,
        "end": fc.end.isoformat() if fc.end is not None else None,
        "late": fc.late,
    }


def _diagnostic(d: Diagnostic, phones: PlanPhones) -> dict[str, Any]:
    return {
        "severity": d.severity,
        "campaign": d.campaign,
        "message": scrub(d.message, phones),
        "file": d.file,
        "line": d.line,
    }


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
