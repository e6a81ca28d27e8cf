"""Settlement: what an interrupted or ambiguous mutating call did. The one place.

Every mutating vendor call is journaled as a typed *intent* before it is
sent. When its answer is lost (a timeout, a crash, ``kill -9``), this module
alone decides what the call did, from what the platform shows and how long
ago the call was sent; plan (read-only), apply (live, and recovery before
planning), import, rebuild and ``state resolve`` all call the same
decisions. Nothing else reads journal ``request`` mappings.

The rules, in the order they protect people from a second call:

* A new state is never proof that nothing was sent (``state init``).
* A create or insert that does not show on the platform is *in flight*
  until its settle window has passed since it was sent: a slow vendor may
  still land it. Only after the window is it "not landed", and even then it
  is never re-sent inside the apply that lost the answer.
* An insert whose count does not match before or before + batch is
  ambiguous: it is never re-sent; a person settles it (``state resolve``).
* A direct-callout batch with an unknown outcome is never re-sent: its
  contacts stay ``unknown`` until ``state resolve``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from reconciler.model import ContactRow, DesiredState, digest
from reconciler.providers.base import AddResult, ObservedTask, Phase, Provider
from reconciler.state.base import (
    CallOutcome,
    ContactRecord,
    ContactStatus,
    JournalEntry,
    SentContacts,
    StateStore,
    TaskRecord,
)

__all__ = [
    "DEFAULT_SETTLE_FLOOR",
    "CalloutIntent",
    "CreateIntent",
    "InsertIntent",
    "Intent",
    "RemoveIntent",
    "TaskCallIntent",
    "Verdict",
    "age_seconds",
    "await_create",
    "await_insert",
    "contacts_of",
    "hold_carried",
    "intent_of",
    "now_iso",
    "record_sent",
    "record_task",
    "recover",
    "resolve_by_hand",
    "retire_wave",
    "sent_records",
    "settle_carried",
    "settle_create",
    "settle_insert",
    "settle_window",
    "task_records",
]

DEFAULT_SETTLE_FLOOR = 15.0  # seconds: the shortest default settle window
POLL_INTERVAL = 0.5  # seconds between looks while a call may still land


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def settle_window(options: Mapping[str, Any]) -> float:
    """Seconds after sending during which a call that does not show may still land.

    ``settle_window`` in the profile, else three read timeouts (at least
    ``DEFAULT_SETTLE_FLOOR``): a vendor that answered too late to be heard
    usually lands the call within a few timeouts.
    """
    explicit = options.get("settle_window")
    if isinstance(explicit, int | float) and not isinstance(explicit, bool) and explicit >= 0:
        return float(explicit)
    read = options.get("read_timeout", 30)
    read_s = float(read) if isinstance(read, int | float) and not isinstance(read, bool) else 30.0
    return max(DEFAULT_SETTLE_FLOOR, 3 * read_s)


# --- typed intents ------------------------------------------------------------------


# An intent's ``to_request()`` is what the journal entry's ``request`` holds: no phone number. The
# phones a call carries are kept beside the entry (``begin_call(phones=...)``, read back as
# ``JournalEntry.phones``) until it is settled, so recovery records exactly the phones that landed
# even when the files changed since; ``rows`` (positions in the campaign's contact table, as
# ``[start, stop)`` ranges) and ``digest`` (of the phones) say which contacts they were, for people.


def _phones_digest(phones: Sequence[str]) -> str:
    return digest("\n".join(phones)) if phones else ""


def _ranges(rows: Sequence[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in rows:
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def _carried(phones: Sequence[str], rows: Sequence[int]) -> dict[str, Any]:
    return {"count": len(phones), "rows": _ranges(rows), "digest": _phones_digest(phones)}


@dataclass(frozen=True)
class CreateIntent:
    """Create the task of a campaign wave; ``phones`` are those carried by create (yccall)."""

    call: ClassVar[str] = "create"
    wave: int
    remote_name: str
    fingerprint: str
    phones: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()

    def to_request(self) -> dict[str, Any]:
        return {"wave": self.wave, "remote_name": self.remote_name, "fingerprint": self.fingerprint,
                "count_before": 0, **_carried(self.phones, self.rows)}


@dataclass(frozen=True)
class InsertIntent:
    """Add ``phones`` to a task that held ``count_before`` numbers when the batch was sent."""

    call: ClassVar[str] = "insert"
    wave: int
    phones: tuple[str, ...]
    count_before: int | None
    rows: tuple[int, ...] = ()

    def to_request(self) -> dict[str, Any]:
        return {"wave": self.wave, "count_before": self.count_before, **_carried(self.phones, self.rows)}


@dataclass(frozen=True)
class RemoveIntent:
    call: ClassVar[str] = "remove"
    wave: int
    phones: tuple[str, ...]

    def to_request(self) -> dict[str, Any]:
        return {"wave": self.wave, **_carried(self.phones, ())}


@dataclass(frozen=True)
class CalloutIntent:
    call: ClassVar[str] = "callout"
    phones: tuple[str, ...]
    rows: tuple[int, ...] = ()

    def to_request(self) -> dict[str, Any]:
        return _carried(self.phones, self.rows)


@dataclass(frozen=True)
class TaskCallIntent:
    """start, pause or delete: idempotent; settled by looking at the task."""

    call: str
    wave: int
    phones: ClassVar[tuple[str, ...]] = ()

    def to_request(self) -> dict[str, Any]:
        return {"wave": self.wave}


Intent = CreateIntent | InsertIntent | RemoveIntent | CalloutIntent | TaskCallIntent


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _phones(entry: JournalEntry) -> tuple[str, ...]:
    """The phones kept beside the entry; an entry journaled before they were kept there has them in
    its request."""
    if entry.phones:
        return tuple(entry.phones)
    value = entry.request.get("phones")
    return tuple(str(p) for p in value) if isinstance(value, list | tuple) else ()


def intent_of(entry: JournalEntry) -> Intent:
    """The typed intent of a journal entry (from its stored request and phones)."""
    req = entry.request
    if entry.call == "create":
        return CreateIntent(_int(req.get("wave"), 1), str(req.get("remote_name", "")),
                            str(req.get("fingerprint", "")), _phones(entry))
    if entry.call == "insert":
        before = req.get("count_before")
        return InsertIntent(_int(req.get("wave")), _phones(entry),
                            before if isinstance(before, int) and not isinstance(before, bool) else None)
    if entry.call == "remove":
        return RemoveIntent(_int(req.get("wave")), _phones(entry))
    if entry.call == "callout":
        return CalloutIntent(_phones(entry))
    return TaskCallIntent(entry.call, _int(req.get("wave")))


def contacts_of(entry: JournalEntry) -> int:
    """How many contacts a journaled call carried (for display; also once its phones are dropped)."""
    count = entry.request.get("count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    return len(intent_of(entry).phones)


def age_seconds(entry: JournalEntry, now: datetime) -> float:
    """Seconds since the call was sent (its intent written); large when unknown."""
    try:
        sent = datetime.fromisoformat(entry.started_at.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return max(0.0, (now - sent).total_seconds())


# --- the decisions (pure) -------------------------------------------------------------


class Verdict(enum.StrEnum):
    LANDED = "landed"
    NOT_LANDED = "not-landed"
    IN_FLIGHT = "in-flight"  # does not show yet, but may still land: too early to tell
    AMBIGUOUS = "ambiguous"  # the platform's answer fits neither outcome: a person decides
    UNKNOWN = "unknown"  # never observable (a direct callout)


def _live(task: ObservedTask | None) -> bool:
    return task is not None and not task.deleted and task.phase is not Phase.ABSENT


def settle_create(found: ObservedTask | None, *, age: float, window: float) -> Verdict:
    """A create is landed when a task of its exact name shows; not landed only after the window."""
    if _live(found):
        return Verdict.LANDED
    return Verdict.IN_FLIGHT if age < window else Verdict.NOT_LANDED


def settle_insert(intent: InsertIntent, count_now: int | None, *, age: float, window: float) -> Verdict:
    """From the platform's number count: before + batch landed, before not (after the window)."""
    before = intent.count_before
    if count_now is None or before is None:
        return Verdict.AMBIGUOUS
    if count_now == before + len(intent.phones):
        return Verdict.LANDED
    if count_now == before:
        return Verdict.IN_FLIGHT if age < window else Verdict.NOT_LANDED
    if before < count_now < before + len(intent.phones) and age < window:
        return Verdict.IN_FLIGHT  # a vendor landing the batch row by row
    return Verdict.AMBIGUOUS


def settle_carried(count_now: int | None, carried: int) -> Verdict:
    """The numbers a create carried (yccall), once the task itself was found: all of them or none
    of them; a count in between (or none at all) means some landed and some did not, and only a
    person can say which: never re-sent, never taken as sent."""
    if carried == 0 or count_now == carried:
        return Verdict.LANDED
    if count_now == 0:
        return Verdict.NOT_LANDED
    return Verdict.AMBIGUOUS


# --- waiting for a call that may still land (live apply and recovery) -----------------


Sleep = Callable[[float], None]
Clock = Callable[[], float]


def await_create(provider: Provider, campaign: str, wave: int, *, waited: float, window: float,
                 sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 stop: Callable[[], bool] = lambda: False) -> tuple[Verdict, ObservedTask | None]:
    """Look the task up until it shows or the window since sending has passed.

    ``waited`` is how long ago the create was sent. A stop request ends the
    wait early with IN_FLIGHT (nothing is concluded).
    """
    start = clock() - waited
    while True:
        found = provider.find_task(campaign, wave)
        verdict = settle_create(found, age=clock() - start, window=window)
        if verdict is not Verdict.IN_FLIGHT or stop():
            return verdict, found
        sleep(min(POLL_INTERVAL, max(0.0, window - (clock() - start))))


def await_insert(provider: Provider, task_id: str, intent: InsertIntent, *, waited: float, window: float,
                 sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 stop: Callable[[], bool] = lambda: False) -> tuple[Verdict, int | None]:
    start = clock() - waited
    while True:
        count = provider.count_contacts(task_id)
        verdict = settle_insert(intent, count, age=clock() - start, window=window)
        if verdict is not Verdict.IN_FLIGHT or stop():
            return verdict, count
        sleep(min(POLL_INTERVAL, max(0.0, window - (clock() - start))))


# --- recording what is known ------------------------------------------------------------


def task_records(store: StateStore, record: TaskRecord) -> list[TaskRecord]:
    """The writes by which ``record`` stands for its wave: every other live record of the wave
    marked deleted, then ``record`` (for ``Records.tasks`` of a journal call)."""
    retired = [replace(r, deleted=True) for r in store.tasks(record.campaign)
               if r.wave == record.wave and r.task_id != record.task_id and not r.deleted]
    return [*retired, record]


def sent_records(campaign: str, task_id: str, wave: int, rows: Sequence[ContactRow],
                 added: AddResult | None = None, *, sent_at: str = "") -> SentContacts:
    """Rows as sent to a task (at ``sent_at``, default: when stored), without those the vendor refused
    (for ``Records.contacts``; one value per call, see ``SentContacts``)."""
    if added is not None and added.invalid:
        invalid = {i for i, _ in added.invalid}
        rows = [row for i, row in enumerate(rows) if i not in invalid]
    ids = tuple(added.data_ids) if added else ()
    if len(ids) < len(rows):
        ids = (*ids, *(None,) * (len(rows) - len(ids)))
    elif len(ids) > len(rows):
        ids = ids[: len(rows)]
    return SentContacts(campaign, task_id, wave, tuple(r.phone for r in rows),
                        tuple(r.fingerprint for r in rows), ids, ContactStatus.SENT, sent_at)


def retire_wave(store: StateStore, campaign: str, wave: int, keep: str) -> None:
    """Mark every other live task record of the wave deleted: ``keep`` now stands for it."""
    for rec in store.tasks(campaign):
        if rec.wave == wave and rec.task_id != keep and not rec.deleted:
            store.put_task(replace(rec, deleted=True))


def record_task(store: StateStore, record: TaskRecord) -> None:
    """The task now stands for its wave."""
    retire_wave(store, record.campaign, record.wave, keep=record.task_id)
    store.put_task(record)


def record_sent(store: StateStore, campaign: str, task_id: str, wave: int, rows: Sequence[ContactRow],
                added: AddResult | None = None, *, sent_at: str = "") -> int:
    """Record rows as sent to a task (at ``sent_at``, default now), skipping those the vendor refused;
    returns how many."""
    out = sent_records(campaign, task_id, wave, rows, added, sent_at=sent_at)
    store.put_contacts(out)
    return len(out)


def _count_of(provider: Provider, task: ObservedTask) -> int:
    """How many numbers a found task holds: the listing's count when it has one; else (documented
    yccall TaskList rows carry none) the task's own count."""
    return task.contact_count if task.contact_count is not None else provider.count_contacts(task.task_id)


def _record_phones(store: StateStore, desired: DesiredState | None, campaign: str, task_id: str, wave: int,
                   phones: Sequence[str], status: ContactStatus = ContactStatus.SENT) -> None:
    """Record phones found (by observing) to have reached a task; fingerprints from the files when known.
    A phone already recorded with that status keeps its record (and the vendor's data id in it)."""
    if not phones:
        return
    kept = {r.phone for r in store.contacts(campaign, task_id) if r.status is status}
    phones = [p for p in phones if p not in kept]
    if not phones:
        return
    c = desired.campaign(campaign) if desired is not None else None
    fps = {r.phone: r.fingerprint for r in c.contacts.rows} if c else {}
    store.put_contacts([ContactRecord(campaign, p, fps.get(p, ""), task_id, wave, None, status) for p in phones])


def hold_carried(store: StateStore, campaign: str, profile: str, task_id: str, wave: int,
                 phones: Sequence[str], count: int | None) -> None:
    """Numbers a found create carried but that only partly landed: journaled as an insert of unknown
    outcome into the task (``count_before`` 0), which every plan reports and ``state resolve``
    settles, like any ambiguous insert. None of them is recorded as sent, none is sent again."""
    request = {**InsertIntent(wave, tuple(phones), 0).to_request(), "carried_by_create": True}
    entry = store.begin_call(campaign, profile, "insert", task_id, request, phones=tuple(phones))
    store.end_call(entry, CallOutcome.UNKNOWN, f"carried by the create: the platform holds {count} of "
                                               f"{len(phones)} numbers; cannot settle")


# --- recovery: settle what an interrupted apply left, before planning ----------------------


def recover(store: StateStore, providers: Mapping[str, Provider], desired: DesiredState | None,
            *, windows: Mapping[str, float] | None = None, now: Callable[[], datetime] | None = None,
            sleep: Sleep = time.sleep) -> list[str]:
    """Settle calls an earlier apply left pending or unknown, by observing the platform.

    Runs under the apply lock, before observing and planning. A create or
    insert that may still land is waited for (its settle window from the
    time it was sent) rather than concluded. Returns one line per settled
    call, for the summary.
    """
    clock_now = now or (lambda: datetime.now(UTC))
    notes: list[str] = []
    entries = store.journal(outcomes=[CallOutcome.PENDING, CallOutcome.UNKNOWN])
    for e in entries:
        provider = providers.get(e.profile)
        if provider is None:
            continue
        window = (windows or {}).get(e.profile, settle_window(provider.profile.options))
        intent = intent_of(e)
        waited = age_seconds(e, clock_now())
        if isinstance(intent, CalloutIntent):
            if e.outcome is CallOutcome.PENDING:
                store.end_call(e.id, CallOutcome.UNKNOWN, "the process stopped before the answer came")
                notes.append(f"{e.campaign}: a direct callout of {len(intent.phones)} contacts was interrupted; "
                             "its contacts stay unknown until `campaignctl state resolve`")
            continue
        if isinstance(intent, CreateIntent):
            notes += _recover_create(store, provider, desired, e, intent, waited, window, sleep)
            continue
        if isinstance(intent, InsertIntent):
            notes += _recover_insert(store, provider, desired, e, intent, waited, window, sleep)
            continue
        _recover_task_call(store, provider, e)
        notes.append(f"{e.campaign}: an interrupted {e.call} was settled by observing the platform")
    return notes


def _recover_create(store: StateStore, provider: Provider, desired: DesiredState | None, e: JournalEntry,
                    intent: CreateIntent, waited: float, window: float, sleep: Sleep) -> list[str]:
    records = store.tasks(e.campaign)
    known = {r.task_id for r in records}
    wave_live = [r for r in records if r.wave == intent.wave and not r.deleted and r.task_id]
    verdict, found = await_create(provider, e.campaign, intent.wave, waited=waited, window=window, sleep=sleep)
    if verdict is Verdict.LANDED and found is not None:
        if found.task_id in known:
            # Killed after the task was recorded: the numbers the create carried may not be yet (yccall).
            recorded = {r.phone for r in store.contacts(e.campaign, found.task_id)}
            unrecorded = [p for p in intent.phones if p not in recorded]
            if unrecorded:
                count = _count_of(provider, found)
                carried = settle_carried(count, len(intent.phones))
                if carried is Verdict.LANDED:
                    _record_phones(store, desired, e.campaign, found.task_id, intent.wave, unrecorded)
                elif carried is Verdict.AMBIGUOUS:
                    hold_carried(store, e.campaign, e.profile, found.task_id, intent.wave, unrecorded, count)
            store.end_call(e.id, CallOutcome.RESOLVED, f"task {found.task_id} is already in the state")
            return []
        if wave_live:
            # Another task already stands for the wave: the diff shows this one as a duplicate.
            store.end_call(e.id, CallOutcome.RESOLVED, f"task {found.task_id} landed late; wave {intent.wave} "
                                                       f"is task {wave_live[0].task_id}")
            return [f"{e.campaign}: an interrupted create landed late as task {found.task_id}, a duplicate of "
                    f"task {wave_live[0].task_id}"]
        c = desired.campaign(e.campaign) if desired is not None else None
        record_task(store, TaskRecord(e.campaign, intent.wave, e.profile, found.task_id, found.name,
                                      intent.fingerprint, started=found.started, created_at=now_iso(),
                                      settings=c.settings() if c is not None and
                                      c.settings_fingerprint() == intent.fingerprint else {}))
        count = _count_of(provider, found) if intent.phones else 0
        carried = settle_carried(count, len(intent.phones))
        if carried is Verdict.LANDED:
            _record_phones(store, desired, e.campaign, found.task_id, intent.wave, intent.phones)
        elif carried is Verdict.AMBIGUOUS:
            hold_carried(store, e.campaign, e.profile, found.task_id, intent.wave, intent.phones, count)
        store.end_call(e.id, CallOutcome.RESOLVED, f"task {found.task_id} found on the platform")
        if carried is Verdict.AMBIGUOUS:
            return [f"{e.campaign}: an interrupted create had landed as task {found.task_id} with "
                    f"{found.contact_count} of the {len(intent.phones)} numbers it carried; settle them with "
                    f"`campaignctl state resolve {e.campaign}`"]
        return [f"{e.campaign}: an interrupted create had landed: adopted task {found.task_id}"]
    if verdict is Verdict.IN_FLIGHT:
        return [f"{e.campaign}: a create sent {waited:.0f}s ago may still land; the next apply looks again"]
    store.end_call(e.id, CallOutcome.RESOLVED, f"not on the platform {window:.0f}s after it was sent: "
                                               "the create did not land")
    return [f"{e.campaign}: an interrupted create had not landed"]


def _recover_insert(store: StateStore, provider: Provider, desired: DesiredState | None, e: JournalEntry,
                    intent: InsertIntent, waited: float, window: float, sleep: Sleep) -> list[str]:
    verdict, count = await_insert(provider, e.task_id, intent, waited=waited, window=window, sleep=sleep)
    n = len(intent.phones)
    if verdict is Verdict.LANDED:
        _record_phones(store, desired, e.campaign, e.task_id, intent.wave, intent.phones)
        store.end_call(e.id, CallOutcome.RESOLVED, "the platform count shows the batch landed")
        return [f"{e.campaign}: an interrupted insert of {n} contacts had landed"]
    if verdict is Verdict.NOT_LANDED:
        store.end_call(e.id, CallOutcome.RESOLVED, "the platform count shows nothing landed")
        return [f"{e.campaign}: an interrupted insert of {n} contacts had not landed"]
    if verdict is Verdict.IN_FLIGHT:
        return [f"{e.campaign}: an insert sent {waited:.0f}s ago may still land; the next apply looks again"]
    if e.outcome is CallOutcome.PENDING:
        store.end_call(e.id, CallOutcome.UNKNOWN, f"platform holds {count} numbers; cannot settle")
    return []


def _recover_task_call(store: StateStore, provider: Provider, e: JournalEntry) -> None:
    """start / pause / delete / remove are idempotent: look, record, and let the diff decide again."""
    if e.task_id:
        task = provider.get_task(e.task_id)
        for rec in store.tasks(e.campaign):
            if rec.task_id != e.task_id:
                continue
            if e.call == "delete" and (not _live(task) or (provider.capabilities.delete_is_end and task is not None
                                                            and task.phase is Phase.FINISHED)):
                store.put_task(replace(rec, deleted=True, started=rec.started or bool(task and task.started)))
            elif task is not None and task.started:
                store.put_task(replace(rec, started=True))
    store.end_call(e.id, CallOutcome.RESOLVED, "settled by observing the platform")


# --- settled by a person ------------------------------------------------------------------


def resolve_by_hand(store: StateStore, campaign: str, *, dialed: bool) -> tuple[int, int]:
    """``state resolve``: unknown callouts and ambiguous inserts of a campaign, settled by a person.

    ``dialed`` records them as reached (never sent again); otherwise as not
    reached (the next apply sends them). Returns (contacts, inserts) settled.
    """
    unknown = [c for c in store.contacts(campaign) if not c.task_id and c.status is ContactStatus.UNKNOWN]
    status = ContactStatus.DIALED if dialed else ContactStatus.NOT_DIALED
    if unknown:
        store.put_contacts([replace(c, status=status) for c in unknown])
    inserts = 0
    for entry in store.journal(campaign, [CallOutcome.UNKNOWN, CallOutcome.PENDING]):
        intent = intent_of(entry)
        if isinstance(intent, CalloutIntent):
            store.end_call(entry.id, CallOutcome.RESOLVED, f"settled by hand: {status.value}")
        elif isinstance(intent, InsertIntent) and entry.outcome is CallOutcome.UNKNOWN:
            if dialed:
                _record_phones(store, None, campaign, entry.task_id, intent.wave, intent.phones)
            store.end_call(entry.id, CallOutcome.RESOLVED,
                           "settled by hand: " + ("landed" if dialed else "did not land"))
            inserts += 1
    return len(unknown), inserts
