"""`campaignctl apply DIR | PLANFILE`: confirm, lock, recover, execute, summarise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reconciler.commands.session import is_terminal, make_plan, open_session, use_color
from reconciler.engine.apply import Applier
from reconciler.engine.plan import FORMAT_VERSION, ApplyResult
from reconciler.engine.settle import recover
from reconciler.errors import Aborted, CampaignctlError, ExitCode, StalePlan
from reconciler.views.base import get_view
from reconciler.views.progress import ProgressHooks

__all__ = ["run"]


def run(target: Path, *, auto_approve: bool, parallelism: int, prune: bool | None,
        allow_replace: tuple[str, ...], lock_timeout: float, fmt: str) -> int:
    saved = _read_plan(target) if target.is_file() else None
    directory = Path(saved["meta"]["config_dir"]) if saved else target
    if saved:
        prune = bool(saved["meta"]["prune"])
        allow_replace = tuple(saved["meta"]["allow_replace"])
    view = get_view(fmt)
    with open_session(directory, allow_missing_state=True) as session:
        if saved and saved["meta"]["config_digest"] != session.config_digest:
            raise StalePlan(f"the files in {directory} changed since the plan was made; run plan again")
        if not saved and not auto_approve and not is_terminal():
            raise Aborted("apply needs --auto-approve when there is no terminal to confirm on")
        if session.store_or_none is None:
            # No state: show the plan with its error and send nothing (the plan is not applyable).
            plan, _ = make_plan(session, prune=prune, allow_replace=allow_replace)
            click.echo(view.render_plan(plan, color=use_color(fmt)), nl=False)
            return ExitCode.ERROR
        with session.store.lock("apply", lock_timeout):
            recovered = recover(session.store, session.providers, session.desired)
            recorded = session.recorded()
            if saved:
                _check_state(saved, recorded.lineage, recorded.serial, recovered)
            plan, observed = make_plan(session, prune=prune, allow_replace=allow_replace, recorded=recorded)
            if saved:
                if plan.meta.observed_digest != saved["meta"]["observed_digest"]:
                    raise StalePlan("the platform changed since the plan was made; run plan again")
                if plan.digest() != saved["digest"]:
                    raise StalePlan("the plan computed now differs from the saved plan; run plan again")
            if fmt == "text" or not plan.applyable:
                click.echo(view.render_plan(plan, color=use_color(fmt)), nl=False)
            if not plan.applyable:
                return ExitCode.ERROR
            if not plan.has_changes:
                if recovered and fmt == "text":
                    click.echo("\n".join(recovered))
                if fmt != "text":
                    click.echo(view.render_result(plan, ApplyResult(recovered=tuple(recovered))), nl=False)
                return ExitCode.OK
            if not saved and not auto_approve:
                click.echo("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
                answer = click.prompt("  Enter a value", default="", show_default=False)
                if answer.strip() != "yes":
                    raise Aborted("Apply cancelled.")
            hooks = ProgressHooks()
            applier = Applier(session.desired, session.providers, session.store, observed, hooks=hooks,
                              parallelism=parallelism)
            result = applier.execute(plan)
            hooks.close()
            result = ApplyResult(steps=result.steps, recovered=tuple(recovered), errors=result.errors)
            click.echo(view.render_result(plan, result), nl=False)
            return ExitCode.OK if result.ok else ExitCode.ERROR


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CampaignctlError(f"{path} is not a saved campaignctl plan: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "campaignctl-plan":
        raise CampaignctlError(f"{path} is not a saved campaignctl plan (make one with `plan --out`)")
    if doc.get("format_version") != FORMAT_VERSION:
        raise CampaignctlError(f"{path} has plan format {doc.get('format_version')}; this campaignctl reads "
                               f"format {FORMAT_VERSION}")
    return doc


def _check_state(saved: dict[str, Any], lineage: str, serial: int, recovered: list[str]) -> None:
    meta = saved["meta"]
    if meta["state_lineage"] != lineage:
        raise StalePlan("the plan was made against another state store; run plan again")
    if meta["state_serial"] != serial or recovered:
        raise StalePlan("the state changed since the plan was made (another apply ran, or an interrupted one "
                        "was recovered); run plan again")
