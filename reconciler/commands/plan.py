"""`campaignctl plan`: observe, diff, print; optionally save the plan."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.commands.session import make_plan, open_session, use_color
from reconciler.engine.plan import FORMAT_VERSION, Plan
from reconciler.errors import CampaignctlError, ExitCode
from reconciler.views.base import get_view

__all__ = ["exit_code", "run", "save_plan"]


def run(directory: Path, *, out: Path | None, fmt: str, detailed_exitcode: bool, prune: bool | None,
        allow_replace: tuple[str, ...], lock_timeout: float, lock: bool = True) -> int:
    with open_session(directory, allow_missing_state=True) as session:
        if lock and session.store_or_none is not None:
            # Under the lock no apply runs: a pending call is an interrupted one, settled read-only.
            with session.store.lock("plan", lock_timeout):
                plan, _ = make_plan(session, prune=prune, allow_replace=allow_replace)
        else:
            # Without it, a pending call may be in flight right now: never taken as interrupted.
            plan, _ = make_plan(session, prune=prune, allow_replace=allow_replace,
                                recorded=session.recorded(in_flight=True))
    view = get_view(fmt)
    click.echo(view.render_plan(plan, color=use_color(fmt)), nl=False)
    if out is not None and plan.applyable:
        save_plan(plan, out)
        if fmt == "text":
            click.echo(f"Saved the plan to {out}. Apply exactly this plan with: campaignctl apply {out}")
    return exit_code(plan, detailed_exitcode)


def exit_code(plan: Plan, detailed: bool) -> int:
    if not plan.applyable:
        return ExitCode.ERROR
    if detailed and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def save_plan(plan: Plan, path: Path) -> None:
    """Write what apply needs to re-check the plan: inputs' digests and the plan digest.

    No phone numbers and no secrets are written: apply recomputes the plan
    and refuses it unless it is identical.
    """
    rendered = json.loads(get_view("json").render_plan(plan))
    doc = {
        "format_version": FORMAT_VERSION,
        "kind": "campaignctl-plan",
        "digest": plan.digest(),
        "meta": rendered["meta"],
        "plan": rendered,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CampaignctlError(f"cannot write the plan to {path}: {exc.strerror}") from exc
