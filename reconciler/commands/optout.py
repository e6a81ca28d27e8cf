"""`campaignctl optout list|add|remove`: the opt-out list kept in the state.

Every later plan suppresses a listed number in every campaign (and apply
leaves it out of batches still to send). Numbers are shown masked
(``138****0000``), never in full; removal needs a reason, and the state
keeps it with the removal time.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import click

from reconciler.commands.session import open_state_only
from reconciler.config.phones import PHONE_RULE, normalize_phone
from reconciler.engine.clock import policy_clock
from reconciler.errors import CampaignctlError, ExitCode
from reconciler.policy import mask_phone
from reconciler.state.base import OptOutRecord

__all__ = ["FORMAT_VERSION", "run_add", "run_list", "run_remove"]

FORMAT_VERSION = 1
_NUMBER = re.compile(r"\+?\d{5,}")


def _phone(raw: str) -> str:
    phone = normalize_phone(raw)
    if phone is None:
        raise CampaignctlError(f"not a valid phone number: expected {PHONE_RULE}")
    return phone


def _text(value: str) -> str:
    """Free text as shown: any number in it masked."""
    return _NUMBER.sub(lambda m: mask_phone(m.group(0).lstrip("+")), value)


def _now(directory: Path, timezone: str) -> str:
    return policy_clock(os.environ, timezone=timezone)().isoformat(timespec="seconds")


def run_add(directory: Path, phone: str, *, source: str, reason: str, environment: str | None = None) -> int:
    number = _phone(phone)
    with open_state_only(directory, environment=environment) as (desired, store):
        added = store.add_optout(number, source or "manual", reason, at=_now(directory, desired.project.timezone))
    if added:
        click.echo(f"Added {mask_phone(number)} to the opt-out list: every later plan suppresses it in every "
                   "campaign.")
    else:
        click.echo(f"{mask_phone(number)} is already on the opt-out list.")
    return ExitCode.OK


def run_remove(directory: Path, phone: str, *, reason: str, environment: str | None = None) -> int:
    number = _phone(phone)
    if not reason.strip():
        raise CampaignctlError("say why with --reason (it is kept in the state)")
    with open_state_only(directory, environment=environment) as (desired, store):
        removed = store.remove_optout(number, reason, at=_now(directory, desired.project.timezone))
    if not removed:
        raise CampaignctlError(f"{mask_phone(number)} is not on the opt-out list")
    click.echo(f"Took {mask_phone(number)} off the opt-out list (the reason is kept in the state); campaigns may "
               "call it again.")
    return ExitCode.OK


def _row(r: OptOutRecord) -> dict[str, object]:
    return {"phone": mask_phone(r.phone), "source": r.source, "reason": _text(r.reason), "created_at": r.created_at,
            "active": r.active, "removed_at": r.removed_at, "removed_reason": _text(r.removed_reason)}


def run_list(directory: Path, *, fmt: str, include_removed: bool, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (_, store):
        records = store.optouts(include_removed=True)
    active = [r for r in records if r.active]
    removed = [r for r in records if not r.active]
    sources = Counter(r.source for r in active)
    shown = records if include_removed else active
    if fmt == "json":
        doc = {"format_version": FORMAT_VERSION, "count": len(active), "removed": len(removed),
               "by_source": dict(sorted(sources.items())), "optouts": [_row(r) for r in shown]}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return ExitCode.OK
    by = ", ".join(f"{s} {n}" for s, n in sorted(sources.items()))
    click.echo(f"{len(active)} number{'s' if len(active) != 1 else ''} on the opt-out list"
               + (f" (by source: {by})" if by else "")
               + (f"; {len(removed)} taken off earlier" + ("" if include_removed else " (--all shows them)")
                  if removed else ""))
    if shown:
        width = max(len(r.source) for r in shown)
        for r in shown:
            line = f"  {mask_phone(r.phone)}  {r.source:<{width}}  {r.created_at}"
            if r.reason:
                line += f"  {_text(r.reason)}"
            if not r.active:
                line += f"  [removed {r.removed_at}: {_text(r.removed_reason)}]"
            click.echo(line)
    return ExitCode.OK
