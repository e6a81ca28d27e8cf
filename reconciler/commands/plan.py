"""`campaignctl plan`: observe, diff, print; optionally save the plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.commands.session import config_plan, make_plan, open_session, remember, use_color
from reconciler.engine.inputs import Recorded
from reconciler.engine.plan import Plan
from reconciler.engine.planfile import dump_plan, prepare_plan
from reconciler.errors import CampaignctlError, ConfigError, ExitCode
from reconciler.views import github
from reconciler.views.base import get_view

__all__ = ["emit_plan", "exit_code", "run", "save_plan"]


def run(directory: Path, *, out: Path | None, fmt: str, detailed_exitcode: bool, prune: bool | None,
        allow_replace: tuple[str, ...], lock_timeout: float, lock: bool = True, environment: str | None = None,
        targets: Sequence[str] = ()) -> int:
    try:
        with open_session(directory, allow_missing_state=True, environment=environment) as session:
            if lock and session.store_or_none is not None:
                # Under the lock no apply runs: a pending call is an interrupted one, settled read-only.
                with session.store.lock("plan", lock_timeout):
                    recorded = session.recorded()
                    plan, observed = make_plan(session, prune=prune, allow_replace=allow_replace,
                                               recorded=recorded, targets=targets)
                    remember(session, plan)  # derived data only: the serial (and a saved plan) stays as it is
            else:
                # Without it, a pending call may be in flight right now: never taken as interrupted.
                recorded = session.recorded(in_flight=True)
                plan, observed = make_plan(session, prune=prune, allow_replace=allow_replace, recorded=recorded,
                                           targets=targets)
    except ConfigError as exc:
        if fmt == "text":
            raise
        # A document also when the configuration has errors: CI posts it like any other plan.
        emit_plan(config_plan(exc.problems, directory), fmt)
        return ExitCode.ERROR
    saving = out is not None and plan.applyable
    if saving:
        plan = prepare_plan(plan, session.desired, observed)
    emit_plan(plan, fmt)
    if out is not None and saving:
        save_plan(plan, out, recorded=recorded)
        if fmt == "text":
            click.echo(f"Saved the plan to {out}. Apply exactly this plan with: campaignctl apply {out}")
    elif out is not None and fmt == "text":
        click.echo(f"The plan has errors; nothing was saved to {out}.", err=True)
    return exit_code(plan, detailed_exitcode)


def emit_plan(plan: Plan, fmt: str) -> None:
    """The plan on stdout in ``fmt``; in GitHub Actions its diagnostics as annotations on stderr."""
    click.echo(get_view(fmt).render_plan(plan, color=use_color(fmt)), nl=False)
    if github.enabled():
        for line in github.plan_annotations(plan):
            click.echo(line, err=True)


def exit_code(plan: Plan, detailed: bool) -> int:
    if not plan.applyable:
        return ExitCode.ERROR
    if detailed and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def save_plan(plan: Plan, path: Path, *, recorded: Recorded) -> None:
    """Write the plan file apply executes (format: engine/planfile.py); no phone numbers, no secrets.

    ``plan`` comes from :func:`prepare_plan`; ``recorded`` is the state
    snapshot it was made from (the contacts a REMOVE takes off are named by
    their place there).
    """
    text = dump_plan(plan, plan.meta.involved, recorded=recorded)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CampaignctlError(f"cannot write the plan to {path}: {exc.strerror}") from exc
