"""`campaignctl state list|show|rebuild|resolve|unlock`."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import click

from reconciler.commands.session import load_config, open_session, open_state_only
from reconciler.engine.adopt import adopt_direct, rebuild_campaign
from reconciler.engine.settle import contacts_of, resolve_by_hand
from reconciler.errors import CampaignctlError, ConfigError, ExitCode, StateMissing
from reconciler.state import open_store

__all__ = ["init", "list_", "mv", "rebuild", "resolve", "rm", "show", "unlock"]


def init(directory: Path, *, environment: str | None = None) -> int:
    """Create the state and its lineage, like ``terraform init``; an existing state is kept."""
    result = load_config(directory, environment)
    if result.state is None:
        raise ConfigError(result.problems)
    settings = result.state.project.state
    where = (str(settings.path) if settings.backend == "sqlite" else
             f"{settings.backend} (${settings.dsn_env}, schema {settings.schema})")
    if environment:
        where += f" (environment {environment})"
    try:
        store = open_store(settings, os.environ)
        existed = True
    except StateMissing:
        store = open_store(settings, os.environ, create=True)
        existed = False
    try:
        if existed:
            click.echo(f"The state at {where} exists already (lineage {store.lineage()}, serial "
                       f"{store.serial()}); nothing changed.")
        else:
            click.echo(f"Initialised the state at {where} (lineage {store.lineage()}).")
    finally:
        store.close()
    return ExitCode.OK


def list_(directory: Path, *, fmt: str, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (_, store):
        tasks = store.tasks()
        campaigns = {c.name: c for c in store.campaigns()}
        names = sorted(set(campaigns) | {t.campaign for t in tasks})
        rows: list[dict[str, Any]] = []
        for name in names:
            contacts = store.contacts(name)
            counts = Counter(c.status.value for c in contacts)
            crec = campaigns.get(name)
            rows.append({
                "name": name,
                "profile": crec.profile if crec else next(t.profile for t in tasks if t.campaign == name),
                "mode": crec.mode if crec else "task",
                "tasks": [{"task_id": t.task_id, "wave": t.wave, "name": t.remote_name, "started": t.started,
                           "deleted": t.deleted} for t in tasks if t.campaign == name],
                "contacts": dict(sorted(counts.items())),
            })
        if fmt == "json":
            click.echo(json.dumps({"format_version": 1, "serial": store.serial(), "campaigns": rows},
                                  ensure_ascii=False, indent=2))
            return ExitCode.OK
        if not rows:
            click.echo("The state is empty.")
            return ExitCode.OK
        for row in rows:
            live = [t for t in row["tasks"] if not t["deleted"]]
            ids = ", ".join(f"{t['task_id']} (wave {t['wave']})" for t in live) or "-"
            summary = ", ".join(f"{v} {k}" for k, v in row["contacts"].items()) or "no contacts"
            click.echo(f"{row['name']:<28} {row['profile']:<12} {row['mode']:<6} tasks: {ids}; {summary}")
    return ExitCode.OK


def show(directory: Path, *, name: str, fmt: str, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (_, store):
        tasks = store.tasks(name)
        contacts = store.contacts(name)
        journal = store.journal(name)
        if not tasks and not contacts and not journal:
            raise CampaignctlError(f"the state knows nothing of campaign {name!r}")
        by_task = Counter((c.task_id, c.status.value) for c in contacts)
        if fmt == "json":
            click.echo(json.dumps({
                "format_version": 1,
                "name": name,
                "tasks": [{"task_id": t.task_id, "wave": t.wave, "profile": t.profile, "name": t.remote_name,
                           "settings_fingerprint": t.settings_fingerprint, "started": t.started,
                           "deleted": t.deleted, "created_at": t.created_at} for t in tasks],
                "contacts": [{"task_id": k[0], "status": k[1], "count": v} for k, v in sorted(by_task.items())],
                "journal": [{"id": e.id, "call": e.call, "task_id": e.task_id, "outcome": e.outcome.value,
                             "detail": e.detail, "started_at": e.started_at, "finished_at": e.finished_at,
                             "contacts": contacts_of(e)} for e in journal],
            }, ensure_ascii=False, indent=2))
            return ExitCode.OK
        click.echo(f"Campaign {name}")
        click.echo("Tasks:")
        for t in tasks:
            flags = ", ".join(f for f, on in (("started", t.started), ("deleted", t.deleted)) if on) or "new"
            click.echo(f"  wave {t.wave}  {t.task_id:<22} {t.remote_name:<36} {flags}  ({t.profile})")
        click.echo("Contacts:")
        for (task_id, status), count in sorted(by_task.items()):
            click.echo(f"  {task_id or '(direct)':<22} {status:<10} {count}")
        click.echo("Journal:")
        for e in journal:
            n = contacts_of(e)
            extra = f" {n} contacts" if n else ""
            click.echo(f"  #{e.id:<5} {e.started_at:<25} {e.call:<8} {e.task_id or '-':<22} {e.outcome.value:<9}"
                       f"{extra} {e.detail}".rstrip())
    return ExitCode.OK


def rebuild(directory: Path, *, lock_timeout: float, environment: str | None = None) -> int:
    with (open_session(directory, create_state=True, environment=environment) as session,
          session.store.lock("state rebuild", lock_timeout)):
        listed = {name: p.list_tasks() for name, p in session.providers.items()}
        notes: list[str] = []
        for c in session.desired.campaigns:
            provider = session.providers[c.provider]
            if c.mode == "direct":
                notes += adopt_direct(session.store, c)
                continue
            notes += rebuild_campaign(session.store, provider, c, listed.get(c.provider, []))
        for note in notes or ["Nothing to rebuild: the state already knows every task the platforms report."]:
            click.echo(note)
    return ExitCode.OK


def resolve(directory: Path, *, name: str, dialed: bool, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (_, store), store.lock("state resolve", 0):
        contacts, inserts = resolve_by_hand(store, name, dialed=dialed)
        if not contacts and not inserts:
            click.echo(f"{name}: no contacts or inserts with an unknown outcome.")
            return ExitCode.OK
        what = "dialed (never dialed again)" if dialed else "not dialed (the next apply dials them)"
        if contacts:
            click.echo(f"{name}: {contacts} contacts recorded as {what}.")
        if inserts:
            landed = "landed (never sent again)" if dialed else "not landed (the next apply sends them)"
            click.echo(f"{name}: {inserts} interrupted insert(s) recorded as {landed}.")
    return ExitCode.OK


def mv(directory: Path, *, old: str, new: str, lock_timeout: float, environment: str | None = None) -> int:
    """Rename a campaign in the state: its remote tasks and history follow it."""
    with open_state_only(directory, environment=environment) as (desired, store), store.lock("state mv", lock_timeout):
        store.rename_campaign(old, new)
        tasks = [t for t in store.tasks(new) if not t.deleted]
        click.echo(f"Moved {old} to {new} in the state ({len(tasks)} live task(s)); remote task names keep the "
                   "old name (campaignctl finds them by id).")
        if desired.campaign(new) is None:
            click.echo(f"Note: campaign {new!r} is not in the files of {directory} yet.")
    return ExitCode.OK


def rm(directory: Path, *, name: str, lock_timeout: float, environment: str | None = None) -> int:
    """Forget a campaign in the state without touching the platform."""
    with open_state_only(directory, environment=environment) as (_, store), store.lock("state rm", lock_timeout):
        tasks = [t for t in store.tasks(name) if not t.deleted]
        if not tasks and not store.contacts(name) and name not in {c.name for c in store.campaigns()}:
            raise CampaignctlError(f"the state knows nothing of campaign {name!r}")
        store.forget_campaign(name)
        ids = ", ".join(t.task_id for t in tasks) or "none"
        click.echo(f"Forgot campaign {name} (live tasks left on the platform, untouched: {ids}). Its contacts no "
                   "longer count as already called.")
    return ExitCode.OK


def unlock(directory: Path, *, lock_id: str, force: bool = False, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (_, store):
        if not store.force_unlock(lock_id, force=force):
            held = store.current_lock()
            hint = f" (the current lock is {held.id}, held by {held.holder})" if held else " (no lock is held)"
            raise CampaignctlError(f"lock {lock_id} is not the current lock{hint}")
        click.echo(f"Lock {lock_id} released.")
    return ExitCode.OK
