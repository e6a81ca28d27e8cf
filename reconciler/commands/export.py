"""`campaignctl export --profile P [--prefix PREFIX] DIR`: onboard tasks made outside campaignctl.

For every live task of profile P that the state does not know and whose
name starts with PREFIX (default: the profile's ``name_prefix``), write a
campaign file (settings and run state as far as the vendor reports them),
then adopt the task into the state, so that the next ``plan`` shows no
changes and nothing is created again.

The vendors never return a task's numbers, so an exported campaign lists no
contacts (``rows: []``) and the state records none: a note in the file says
so and warns that contacts added there are *new* contacts (sent as a new
wave, or appended), never the ones the task already holds. Settings the
vendor does not report are listed in the file and in the output; the
recorded settings are the file's, so ``plan`` shows no change for them.

Tasks that cannot be exported are reported and left alone: finished ones
(history), ones the profile would not own (campaignctl finds its tasks by
the ownership prefix), names that are not valid campaign names, campaigns
already in the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.config import LoadResult
from reconciler.config.environments import load_environment
from reconciler.engine.settle import now_iso, record_task
from reconciler.errors import CampaignctlError, ConfigError, ExitCode
from reconciler.model import DesiredCampaign
from reconciler.providers import build_provider
from reconciler.providers.base import ObservedTask, Phase, Provider, TaskDescription
from reconciler.state import open_store
from reconciler.state.base import CampaignRecord, TaskRecord

__all__ = ["Exported", "run"]

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_INTO = Path("campaigns") / "exported"


@dataclass
class Exported:
    """One campaign written by export: its tasks by wave and what the vendor did not report."""

    name: str
    tasks: dict[int, ObservedTask] = field(default_factory=dict)
    description: TaskDescription | None = None
    path: Path | None = None


def run(directory: Path, *, profile: str, prefix: str | None, into: Path | None, lock_timeout: float,
        environment: str | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    result = _load(directory, environment)
    if result.state is None:
        raise ConfigError(result.problems)
    desired = result.state
    chosen = desired.project.providers.get(profile)
    if chosen is None:
        known = ", ".join(sorted(desired.project.providers)) or "none"
        raise CampaignctlError(f"profile {profile!r} is not in the project file (profiles: {known})")
    prefix = chosen.name_prefix if prefix is None else prefix
    target_dir = (Path(directory) / (into or DEFAULT_INTO))
    store = open_store(desired.project.state, env)
    provider = build_provider(chosen, env, timezone=desired.project.timezone)
    try:
        with store.lock("export", lock_timeout):
            known_ids = {r.task_id for r in store.tasks()}
            listed = _list_all(provider)
            found, skipped = _select(provider, listed, prefix, known_ids, {c.name for c in desired.campaigns})
            for item in found.values():
                newest = item.tasks[max(item.tasks)]
                item.description = _describe(provider, newest)
            written = _write(found, target_dir, chosen.name, skipped)
            for line in skipped:
                click.echo(f"Skipped: {line}")
            if not written:
                click.echo(f"Nothing to export from profile {profile!r}: no live task named {prefix}* that the "
                           "state does not know.")
                return ExitCode.OK
            reloaded = _load(directory, environment)
            if reloaded.state is None:
                from reconciler.commands.validate import print_problems

                print_problems(reloaded.problems, err=True)
                raise CampaignctlError("the exported files do not validate (see above); nothing was adopted. Fix "
                                       f"or remove them in {target_dir}, then export again")
            for item in written:
                campaign = reloaded.state.campaign(item.name)
                assert campaign is not None
                _adopt(store, campaign, item)
                _report(item, directory)
    finally:
        provider.close()
        store.close()
    click.echo(f"\nExported and adopted {len(written)} campaign(s). Run `campaignctl plan {directory}`: it should "
               "show no changes (see each campaign's notes for what the vendor could not tell).")
    return ExitCode.OK


def _load(directory: Path, environment: str | None) -> LoadResult:
    return load_environment(directory, environment)


def _list_all(provider: Provider) -> list[ObservedTask]:
    lister = getattr(provider, "list_all_tasks", None)
    if lister is None:
        return provider.list_tasks()
    tasks: list[ObservedTask] = lister()
    return tasks


def _describe(provider: Provider, task: ObservedTask) -> TaskDescription:
    describe = getattr(provider, "describe_task", None)
    if describe is None:
        raise CampaignctlError(f"profile {provider.profile.name!r} ({provider.profile.type}) cannot describe its "
                               "tasks; export is not supported for it")
    description: TaskDescription = describe(task)
    return description


def _select(provider: Provider, listed: Sequence[ObservedTask], prefix: str, known_ids: set[str],
            in_files: set[str]) -> tuple[dict[str, Exported], list[str]]:
    marker = provider.profile.name_prefix
    found: dict[str, Exported] = {}
    skipped: list[str] = []
    for task in sorted(listed, key=lambda t: (t.created_at or 0, t.task_id)):
        if task.task_id in known_ids or task.deleted or task.phase is Phase.ABSENT:
            continue
        if not task.name.startswith(prefix):
            continue
        label = f"task {task.name} ({task.task_id})"
        if task.phase is Phase.FINISHED:
            skipped.append(f"{label} has finished; nothing left to manage")
            continue
        if not task.name.startswith(marker) or not provider.owns(task):
            skipped.append(f"{label} does not carry the profile's ownership prefix {marker!r}; campaignctl would "
                           "not find it in its listing. Rename it on the platform, or use a profile whose "
                           "name_prefix it carries")
            continue
        rest = task.name[len(marker):]
        base = rest.split("~", 1)[0]
        wave = provider.wave_of(task.name, base) or 0
        if not NAME.match(base) or wave == 0:
            skipped.append(f"{label}: {base!r} is not a valid campaign name (lower-case letters, digits, '-', "
                           "at most 63); rename the task on the platform first")
            continue
        if base in in_files:
            skipped.append(f"{label}: campaign {base!r} is in the files already; adopt the task with "
                           f"`campaignctl import {base} {task.task_id} DIR`")
            continue
        item = found.setdefault(base, Exported(base))
        if wave in item.tasks:
            skipped.append(f"{label} is a second live task of {base} wave {wave}; kept "
                           f"{item.tasks[wave].task_id} (pause or delete the other on the platform)")
            continue
        item.tasks[wave] = task
    return found, skipped


def _state_of(tasks: Mapping[int, ObservedTask]) -> str:
    newest = tasks[max(tasks)]
    return "running" if newest.phase is Phase.RUNNING else "paused"


def _document(item: Exported, profile: str) -> dict[str, Any]:
    assert item.description is not None
    s = dict(item.description.settings)
    campaign: dict[str, Any] = {"name": item.name, "provider": profile}
    for key in ("robot", "lines", "voice", "schedule", "recall", "turbo", "yccall"):
        if key in s:
            campaign[key] = s[key]
    campaign["contacts"] = {"columns": list(s["columns"]), "phone_column": s["phone_column"],
                            "sources": [{"rows": []}]}
    campaign["state"] = _state_of(item.tasks)
    return {"version": 1, "campaigns": [campaign]}


def _header(item: Exported) -> str:
    assert item.description is not None
    ids = ", ".join(f"{t.task_id} ({t.name}, {t.phase.value}, {t.contact_count if t.contact_count is not None else '?'}"
                    " numbers)" for _, t in sorted(item.tasks.items()))
    lines = [
        "# yaml-language-server: $schema=https://campaignctl.dev/schema/campaign.schema.json",
        f"# Exported by `campaignctl export` from task(s) {ids}.",
        "#",
        "# CONTACTS: the vendor does not return the numbers a task holds, so none are listed here and the state",
        "# records none. Do NOT copy the task's existing contacts into this file: campaignctl would send them",
        "# again (as a new wave, or appended). Add only new contacts.",
    ]
    if item.description.unknown:
        lines.append("#")
        lines.append("# Not reported by the vendor (the value written below is assumed; check it):")
        lines += [f"#   - {u}" for u in item.description.unknown]
    return "\n".join(lines) + "\n"


def _write(found: Mapping[str, Exported], target: Path, profile: str, skipped: list[str]) -> list[Exported]:
    written: list[Exported] = []
    for name, item in sorted(found.items()):
        path = target / f"{name}.yaml"
        if path.exists():
            skipped.append(f"campaign {name}: {path} exists already; not overwritten")
            continue
        text = _header(item) + yaml.safe_dump(_document(item, profile), allow_unicode=True, sort_keys=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CampaignctlError(f"cannot write {path}: {exc.strerror or exc}") from exc
        item.path = path
        written.append(item)
    return written


def _adopt(store: Any, campaign: DesiredCampaign, item: Exported) -> None:
    store.put_campaign(CampaignRecord(campaign.name, campaign.provider, campaign.mode, campaign.provider_type))
    for wave, task in sorted(item.tasks.items()):
        run_state = "running" if task.phase is Phase.RUNNING else "paused" if task.phase is Phase.PAUSED else ""
        record_task(store, TaskRecord(campaign.name, wave, campaign.provider, task.task_id, task.name,
                                      campaign.settings_fingerprint(), started=task.started, created_at=now_iso(),
                                      settings=campaign.settings(), run_state=run_state))


def _report(item: Exported, directory: Path) -> None:
    assert item.description is not None and item.path is not None
    try:
        shown = os.path.relpath(item.path, Path.cwd())
    except ValueError:
        shown = str(item.path)
    tasks = ", ".join(f"{t.task_id} (wave {w}, {t.phase.value})" for w, t in sorted(item.tasks.items()))
    click.echo(f"Exported {item.name} to {shown}; adopted {tasks}")
    click.echo("  contacts: none listed (the vendor does not return numbers); add only new contacts")
    for u in item.description.unknown:
        click.echo(f"  not reported by the vendor: {u}")
