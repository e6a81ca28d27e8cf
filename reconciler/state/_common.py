"""Helpers shared by the state backends: time stamps, lock ids and waiting,
JSON columns and contact de-duplication.

Kept private so the three backends behave the same way where the protocol
leaves room (ordering, empty writes, lock messages).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.errors import LockHeld, LockTimeout, Problem, StateError, StateMissing
from reconciler.state.base import (
    RUN_STATES,
    ContactRecord,
    ContactStatus,
    Converged,
    LockInfo,
    SentContacts,
    TaskRecord,
)

__all__ = [
    "check_rename",
    "check_task",
    "clean_text",
    "contact_from_row",
    "contact_rows",
    "contact_sort_key",
    "dedupe_contacts",
    "dump_json",
    "dump_json_list",
    "holder_name",
    "json_list",
    "load_json",
    "lock_held_error",
    "new_lock_info",
    "outcome_filter",
    "problems_from_json",
    "problems_to_json",
    "stamp_days_ago",
    "state_missing",
    "utc_now",
    "wait_for_lock",
]

# What StateMissing.missing says, in every backend.
DOES_NOT_EXIST = "does not exist"
IS_EMPTY = "is empty"
NO_TABLES = "has no campaignctl tables"
NO_LINEAGE = "has no lineage"

FIRST_DELAY = 0.05  # seconds before the second attempt
MAX_DELAY = 1.0  # the delay grows by half each attempt up to this


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-01-02T03:04:05.678Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def holder_name() -> str:
    """``user@host pid N``: enough for a person to find the process holding a lock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def new_lock_info(operation: str) -> LockInfo:
    return LockInfo(id=str(uuid.uuid4()), holder=holder_name(), operation=operation, created_at=utc_now())


def lock_timeout_error(holder: LockInfo | None, waited: float, where: str) -> LockTimeout:
    """The message a user sees when another run holds the lock."""
    if holder is None:
        who = "another process (its details are not recorded yet)"
        hint = "try again in a moment"
    else:
        who = f"{holder.holder} for {holder.operation!r} since {holder.created_at} (lock id {holder.id})"
        hint = f"if that process is gone, release the lock with `campaignctl state unlock {holder.id}`"
    return LockTimeout(f"the state lock of {where} is held by {who}; waited {waited:.1f}s; {hint}")


def lock_held_error(holder: LockInfo, where: str, forcing: str = "") -> LockHeld:
    """Why ``force_unlock`` without ``force`` refused: the holder is alive."""
    return LockHeld(
        f"the state lock of {where} is held by a live process: {holder.holder} for {holder.operation!r} "
        f"since {holder.created_at} (lock id {holder.id}); "
        f"`campaignctl state unlock --force {holder.id}` releases it anyway{forcing}",
        lock_id=holder.id,
        holder=holder.holder,
        operation=holder.operation,
        since=holder.created_at,
    )


def state_missing(described: str, location: str, missing: str) -> StateMissing:
    """``described`` (e.g. ``state database PATH``) has no initialised state."""
    return StateMissing(
        f"{described} {missing}: campaignctl never takes a missing state for \"nothing was sent\"; "
        "a state is created only by `campaignctl state init`; if this one was lost, restore it from a "
        "backup (or init a new one and `campaignctl state rebuild` it from the platforms)",
        location=location,
        missing=missing,
    )


def check_task(record: TaskRecord) -> None:
    if record.run_state not in RUN_STATES:
        raise StateError(
            f"task {record.task_id} of campaign {record.campaign!r}: unknown run state {record.run_state!r} "
            f"(one of {', '.join(repr(s) for s in RUN_STATES)})"
        )


def check_rename(old: str, new: str, *, old_known: bool, new_taken: bool) -> None:
    """The refusals of ``rename_campaign``, worded once for every backend."""
    if old == new:
        raise StateError(f"cannot rename campaign {old!r} to itself")
    if not old_known:
        raise StateError(f"campaign {old!r} is not in the state: nothing to rename")
    if new_taken:
        raise StateError(
            f"campaign {new!r} already has records in the state; forget them first "
            f"(`campaignctl state rm {new}`) or choose another name"
        )


def wait_for_lock(
    attempt: Callable[[], bool],
    holder: Callable[[], LockInfo | None],
    timeout: float,
    where: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``attempt`` until it returns True, sleeping a growing delay between
    tries, until ``timeout`` seconds have passed (0 = a single try); then raise
    LockTimeout naming the holder."""
    start = time.monotonic()
    deadline = start + max(timeout, 0.0)
    delay = FIRST_DELAY
    while True:
        if attempt():
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise lock_timeout_error(holder(), time.monotonic() - start, where)
        sleep(min(delay, remaining))
        delay = min(delay * 1.5, MAX_DELAY)


def clean_text(text: str) -> str:
    """Drop NUL characters: PostgreSQL text and jsonb cannot hold them, and a
    vendor's error text must never make the journal write fail."""
    return text.replace("\x00", "") if "\x00" in text else text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dump_json(value: Mapping[str, Any] | None) -> str:
    """One spelling per mapping, NULs dropped; values JSON cannot hold are stored as their str."""
    return json.dumps(_clean(value or {}), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def load_json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def dedupe_contacts(records: Iterable[ContactRecord]) -> list[ContactRecord]:
    """Last record wins per (campaign, task_id, phone), as a bulk upsert would."""
    return list({(r.campaign, r.task_id, r.phone): r for r in records}.values())


STATUS_BY_VALUE: dict[str, ContactStatus] = {s.value: s for s in ContactStatus}


def contact_from_row(row: Sequence[Any]) -> ContactRecord:
    """A record from ``(campaign, task_id, phone, fingerprint, wave, data_id, status[, sent_at])``."""
    return ContactRecord(row[0], row[2], row[3], row[1], row[4], row[5], STATUS_BY_VALUE[row[6]],
                         row[7] if len(row) > 7 else "")


def contact_sort_key(record: ContactRecord) -> tuple[int, str, str]:
    return (record.wave, record.task_id, record.phone)


def outcome_filter(outcomes: Sequence[Any] | None) -> list[str] | None:
    """None = every outcome; otherwise the list of outcome values to keep."""
    if outcomes is None:
        return None
    return [str(getattr(o, "value", o)) for o in outcomes]


def contact_rows(records: Iterable[ContactRecord]) -> list[tuple[Any, ...]]:
    """Records as rows in ``CONTACT_COLUMNS`` order (campaign, task_id, phone, fingerprint, wave, data_id, status,
    sent_at: now when the record has none)."""
    now = utc_now()
    if isinstance(records, SentContacts):  # one send: its rows straight from its columns
        c, t, w, at = records.campaign, records.task_id, records.wave, records.sent_at
        status = ContactStatus(records.status).value
        return [(c, t, p, f, w, d, status, at or now)
                for p, f, d in zip(records.phones, records.fingerprints, records.data_ids, strict=True)]
    return [(r.campaign, r.task_id, r.phone, r.fingerprint, r.wave, r.data_id, ContactStatus(r.status).value,
             r.sent_at or now) for r in records]


def stamp_days_ago(days: int) -> str:
    """A ``utc_now()`` stamp of ``days`` days ago (stamps compare as text)."""
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def problems_to_json(problems: Iterable[Problem]) -> list[list[Any]]:
    return [[p.severity, p.file, p.line, p.field, p.message] for p in problems]


def problems_from_json(items: Iterable[Any]) -> tuple[Problem, ...]:
    out: list[Problem] = []
    for item in items:
        if isinstance(item, list) and len(item) == 5:
            severity, file, line, field_, message = item
            out.append(Problem(str(file), int(line), str(field_), str(message), str(severity)))
    return tuple(out)


def suppressed_from_json(items: Iterable[Any]) -> tuple[tuple[str, int], ...]:
    """A convergence marker's ``suppressed`` column, [[label, count], ...]; a damaged item raises."""
    return tuple((str(label), int(count)) for label, count in items)


def standing_to_json(mark: Converged) -> str:
    """A convergence marker's ``standing`` column: "" when nothing stands with it."""
    if not (mark.warnings or mark.phases or mark.extra):
        return ""
    return json.dumps({"warnings": [list(w) for w in mark.warnings], "phases": [list(p) for p in mark.phases],
                       "extra": mark.extra}, ensure_ascii=False, separators=(",", ":"))


def standing_from_json(
        text: str) -> tuple[tuple[tuple[str, str, int], ...], tuple[tuple[str, str], ...], int]:
    """(warnings, phases, extra) of a ``standing`` column; a damaged one raises."""
    if not text:
        return (), (), 0
    doc = json.loads(text)
    return (tuple((str(m), str(f), int(n)) for m, f, n in doc["warnings"]),
            tuple((str(t), str(p)) for t, p in doc["phases"]), int(doc["extra"]))


def dump_json_list(value: list[Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_list(value: Any) -> list[Any]:
    """A JSON list column as read: PostgreSQL's jsonb comes back decoded, SQLite's text does not."""
    if isinstance(value, list):
        return value
    if not value:
        return []
    parsed = json.loads(value)
    return parsed if isinstance(parsed, list) else []
