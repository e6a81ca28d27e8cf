"""`campaignctl apply DIR | PLANFILE`: confirm, lock, recover, execute, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.commands.plan import emit_plan
from reconciler.commands.session import is_terminal, make_plan, open_session, remember, use_color
from reconciler.engine.apply import Applier
from reconciler.engine.observe import observe
from reconciler.engine.plan import ApplyResult, Plan
from reconciler.engine.planfile import bind_rows, check_files, check_observed, check_state, load_plan
from reconciler.engine.settle import recover
from reconciler.errors import Aborted, CampaignctlError, ExitCode, PlanError
from reconciler.views.base import get_view
from reconciler.views.progress import ProgressHooks

__all__ = ["apply_saved", "run"]

PLAN_SUFFIXES = (".plan", ".json", ".tfplan")


def run(target: Path, *, auto_approve: bool, parallelism: int, prune: bool | None,
        allow_replace: tuple[str, ...], lock_timeout: float, fmt: str, directory: Path | None = None,
        environment: str | None = None, targets: Sequence[str] = ()) -> int:
    if target.is_file():
        if prune is not None or allow_replace or targets:
            raise CampaignctlError("--prune, --allow-replace and --target were decided when the plan was saved; make "
                                   "the plan again with them")
        return apply_saved(target, directory=directory, parallelism=parallelism, lock_timeout=lock_timeout, fmt=fmt,
                           environment=environment)
    if not target.exists():
        if target.suffix in PLAN_SUFFIXES or "plan" in target.name:
            raise PlanError(f"the plan file {target} is missing; make it with `campaignctl plan DIR --out {target}`")
        raise CampaignctlError(f"{target} does not exist: give a config directory or a saved plan file")
    if directory is not None:
        raise CampaignctlError("--dir is for a saved plan whose config directory moved; give the directory as "
                               "the argument instead")
    view = get_view(fmt)
    with open_session(target, allow_missing_state=True, environment=environment) as session:
        if not auto_approve and not is_terminal():
            raise Aborted("apply needs --auto-approve when there is no terminal to confirm on")
        if session.store_or_none is None:
            # No state: show the plan with its error and send nothing (the plan is not applyable).
            plan, _ = make_plan(session, prune=prune, allow_replace=allow_replace, targets=targets)
            emit_plan(plan, fmt)
            return ExitCode.ERROR
        with session.store.lock("apply", lock_timeout):
            recovered = recover(session.store, session.providers, session.desired)
            recorded = session.recorded()
            plan, observed = make_plan(session, prune=prune, allow_replace=allow_replace, recorded=recorded,
                                       targets=targets)
            if fmt == "text" or not plan.applyable:
                emit_plan(plan, fmt)
            if not plan.applyable:
                return ExitCode.ERROR
            if not plan.has_changes:
                remember(session, plan)
                if recovered and fmt == "text":
                    click.echo("\n".join(recovered))
                if fmt != "text":
                    click.echo(view.render_result(plan, ApplyResult(recovered=tuple(recovered))), nl=False)
                return ExitCode.OK
            if not auto_approve:
                click.echo("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
                answer = click.prompt("  Enter a value", default="", show_default=False)
                if answer.strip() != "yes":
                    raise Aborted("Apply cancelled.")
            with ProgressHooks() as hooks:
                applier = Applier(session.desired, session.providers, session.store, observed, hooks=hooks,
                                  parallelism=parallelism, now=session.clock)
                result = applier.execute(plan)
            remember(session, plan, result)
            result = ApplyResult(steps=result.steps, recovered=tuple(recovered), errors=result.errors)
            _result(plan, result, fmt)
            return ExitCode.OK if result.ok else ExitCode.ERROR


def _result(plan: Plan, result: ApplyResult, fmt: str) -> None:
    """The summary; the text view lists only the steps that did not succeed (progress showed them all)."""
    click.echo(get_view(fmt).render_result(plan, result, color=use_color(fmt), list_steps=fmt != "text"), nl=False)


def apply_saved(path: Path, *, directory: Path | None, parallelism: int, lock_timeout: float, fmt: str,
                environment: str | None = None) -> int:
    """Execute exactly the saved plan at ``path``: no new diff, no rows picked again.

    Refused (StalePlan) when the files, the state (lineage, serial, or an
    interrupted apply recovered now) or the observed tasks the plan involves
    changed since it was made. ``directory`` replaces the config directory
    the plan names, for a checkout that moved. A saved plan was approved
    when it was made: apply asks nothing.
    """
    saved = load_plan(path)
    meta = saved.plan.meta
    if meta.state_missing:
        raise PlanError("the plan was made without an initialised state and cannot be applied; run "
                        "`campaignctl state init DIR` (or restore or rebuild the state), then plan again")
    if not saved.plan.applyable:
        raise PlanError(f"{path} holds a plan with errors; fix them and plan again")
    config_dir = directory if directory is not None else Path(meta.config_dir)
    if not config_dir.is_dir():
        raise PlanError(f"the plan's config directory {config_dir} does not exist; if the checkout moved, pass "
                        f"it with `campaignctl apply {path} --dir DIR`")
    if environment is not None and environment != meta.environment:
        made_for = f"--env {meta.environment}" if meta.environment else "the base settings (no --env)"
        raise PlanError(f"the plan was made for {made_for}; apply it without --env or with the same one")
    environment = meta.environment or None
    view = get_view(fmt)
    with open_session(config_dir, environment=environment) as session:
        check_files(saved, session.config_digest, config_dir)
        with session.store.lock("apply", lock_timeout):
            recovered = recover(session.store, session.providers, session.desired)
            recorded = session.recorded()
            check_state(saved, recorded, recovered)
            observed = observe(session.providers)
            check_observed(saved, observed)
            plan = bind_rows(saved, session.desired, recorded)
            if fmt == "text":
                click.echo(view.render_plan(plan, color=use_color(fmt)), nl=False)
            if not plan.has_changes:
                remember(session, plan)
                if fmt != "text":
                    click.echo(view.render_result(plan, ApplyResult()), nl=False)
                return ExitCode.OK
            with ProgressHooks() as hooks:
                applier = Applier(session.desired, session.providers, session.store, observed, hooks=hooks,
                                  parallelism=parallelism, now=session.clock)
                result = applier.execute(plan)
            # The plan's convergence holds now as when it was made: the files, the state and every task
            # it observed were just checked unchanged (a marker of a campaign whose steps did not all
            # succeed in full is not written).
            remember(session, plan, result)
            _result(plan, result, fmt)
            return ExitCode.OK if result.ok else ExitCode.ERROR
