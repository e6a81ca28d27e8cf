"""`campaignctl state list|show|rebuild|resolve|unlock`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from reconciler.commands.session import open_session, open_state_only
from reconciler.engine.adopt import adopt_direct, adopt_task
from reconciler.engine.diff import wave_of
from reconciler.errors import CampaignctlError, ExitCode
from reconciler.state.base import CallOutcome, ContactRecord, ContactStatus

__all__ = ["list_", "rebuild", "resolve", "show", "unlock"]


def list_(directory: Path, *, fmt: str) -> int:
    with open_state_only(directory) as (_, store):
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


def show(directory: Path, *, name: str, fmt: str) -> int:
    with open_state_only(directory) as (_, store):
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
                             "contacts": len(e.request.get("phones", []))} for e in journal],
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
            n = len(e.request.get("phones", []))
            extra = f" {n} contacts" if n else ""
            click.echo(f"  #{e.id:<5} {e.started_at:<25} {e.call:<8} {e.task_id or '-':<22} {e.outcome.value:<9}"
                       f"{extra} {e.detail}".rstrip())
    return ExitCode.OK


def rebuild(directory: Path, *, lock_timeout: float) -> int:
    with open_session(directory) as session, session.store.lock("state rebuild", lock_timeout):
        known = {t.task_id for t in session.store.tasks() if not t.deleted}
        listed = {name: p.list_tasks() for name, p in session.providers.items()}
        notes: list[str] = []
        for c in session.desired.campaigns:
            provider = session.providers[c.provider]
            if c.mode == "direct":
                notes += adopt_direct(session.store, c)
                continue
            base = provider.task_name(c.name, 1)
            mine = [t for t in listed.get(c.provider, []) if not t.deleted and wave_of(t.name, base) is not None]
            for task in sorted(mine, key=lambda t: (wave_of(t.name, base) or 0, t.created_at or 0)):
                if task.task_id in known:
                    continue
                notes += adopt_task(session.store, provider, c, task)
                known.add(task.task_id)
        for note in notes or ["Nothing to rebuild: the state already knows every task the platforms report."]:
            click.echo(note)
    return ExitCode.OK


def resolve(directory: Path, *, name: str, dialed: bool) -> int:
    with open_state_only(directory) as (_, store), store.lock("state resolve", 0):
        unknown = [c for c in store.contacts(name) if not c.task_id and c.status is ContactStatus.UNKNOWN]
        if not unknown:
            click.echo(f"{name}: no contacts with an unknown dial outcome.")
            return ExitCode.OK
        status = ContactStatus.DIALED if dialed else ContactStatus.NOT_DIALED
        store.put_contacts([ContactRecord(c.campaign, c.phone, c.fingerprint, c.task_id, c.wave, c.data_id, status)
                            for c in unknown])
        for entry in store.journal(name, [CallOutcome.UNKNOWN, CallOutcome.PENDING]):
            if entry.call == "callout":
                store.end_call(entry.id, CallOutcome.RESOLVED, f"settled by hand: {status.value}")
        what = "dialed (never dialed again)" if dialed else "not dialed (the next apply dials them)"
        click.echo(f"{name}: {len(unknown)} contacts recorded as {what}.")
    return ExitCode.OK


def unlock(directory: Path, *, lock_id: str) -> int:
    with open_state_only(directory) as (_, store):
        if not store.force_unlock(lock_id):
            held = store.current_lock()
            hint = f" (the current lock is {held.id}, held by {held.holder})" if held else " (no lock is held)"
            raise CampaignctlError(f"lock {lock_id} is not the current lock{hint}")
        click.echo(f"Lock {lock_id} released.")
    return ExitCode.OK
