"""The state store protocol: what campaignctl remembers between runs.

Per campaign: which remote tasks it owns (one per wave), the settings
fingerprint each task was created with, every contact sent (phone,
fingerprint, vendor data id, status), and a journal of every mutating vendor
call -- the intent written *before* the call, the outcome after it. The
journal is what makes an interrupted apply safe to re-run.

Every write bumps ``serial()``; a saved plan records the serial it was made
against and is refused when it changed. ``lineage()`` is a random id fixed
when the store is created, so a plan made against one store is not applied
to another.

A store is created only on purpose (``open_store(..., create=True)``, behind
``campaignctl state init``). Opening without ``create`` a store that does not
exist, is empty or has no lineage raises StateMissing and creates nothing: a
lost state must never read as "nothing was ever sent". Opening an existing
store does run pending schema migrations.

Implementations: ``sqlite.py`` (default), ``postgres.py`` (shared),
``memory.py`` (tests). All must be safe to call from several threads at once
(apply runs tasks in parallel) and all pass ``tests/state/test_conformance.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, overload, runtime_checkable

from reconciler.model import PhoneList, SourceDigest

__all__ = [
    "RUN_STATES",
    "CallOutcome",
    "CampaignRecord",
    "ContactRecord",
    "ContactStatus",
    "Converged",
    "JournalEntry",
    "Listed",
    "LockInfo",
    "OptOutRecord",
    "PhoneList",
    "Records",
    "ResultRecord",
    "SentContacts",
    "SourceDigest",
    "StateStore",
    "TaskRecord",
]


class ContactStatus(enum.StrEnum):
    SENT = "sent"  # inserted into a task (task mode), confirmed
    DIALED = "dialed"  # direct callout accepted by the vendor
    UNKNOWN = "unknown"  # the call carrying it lost its answer; never re-sent until resolved
    NOT_DIALED = "not-dialed"  # an unknown callout settled by hand as not dialed
    # taken out of a started task (yccall taskDelPhone): it may have been dialed there, so it stays history
    # (the redial gate and the frequency cap count it), but it is no longer in the task
    REMOVED = "removed"


class CallOutcome(enum.StrEnum):
    PENDING = "pending"  # intent written, no outcome yet (crash or kill -9 in between)
    OK = "ok"
    FAILED = "failed"  # the vendor refused; nothing happened
    UNKNOWN = "unknown"  # answer lost; effect unknown
    RESOLVED = "resolved"  # an unknown/pending call settled by observing the platform


@dataclass(frozen=True)
class CampaignRecord:
    name: str
    profile: str
    mode: str  # "task" | "direct"
    provider_type: str = ""


RUN_STATES = ("", "running", "paused", "held")  # TaskRecord.run_state values ("held": paused by the policy)
SOURCE_DIGEST_DAYS = 30  # cached parse results older than this are dropped when new ones are written


@dataclass(frozen=True)
class TaskRecord:
    """A remote task campaignctl created or adopted for a campaign wave.

    ``settings`` is the campaign settings mapping the task was created with,
    kept so a refusal can show what changed ("windows: [a] → [b]"); it is for
    display only: the diff compares ``settings_fingerprint``, and ``settings``
    takes no part in equality or hashing. ``run_state`` is what campaignctl
    itself last did to the task: ``""`` (nothing recorded), ``"running"``
    (started it) or ``"paused"`` (paused it); a task the platform shows
    paused while this says ``"running"`` was paused outside campaignctl.
    """

    campaign: str
    wave: int  # 1 = first task, 2.. = follow-up waves
    profile: str
    task_id: str
    remote_name: str
    settings_fingerprint: str
    started: bool = False  # campaignctl started it, or saw it started
    deleted: bool = False  # deleted / ended by campaignctl
    created_at: str = ""  # ISO 8601 UTC
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    run_state: str = ""  # one of RUN_STATES


@dataclass(frozen=True)
class ContactRecord:
    """One contact sent to a task (``task_id``) or dialed directly (``task_id == ""``)."""

    campaign: str
    phone: str
    fingerprint: str
    task_id: str = ""
    wave: int = 0
    data_id: str | None = None
    status: ContactStatus = ContactStatus.SENT
    # When it was sent or dialed (ISO 8601; the store fills the write time when empty): the frequency
    # cap's history. Not part of equality: two records of one send are equal.
    sent_at: str = field(default="", compare=False)


@dataclass(frozen=True)
class SentContacts(Sequence[ContactRecord]):
    """The records of one send (a batch into one task, or one direct dial) as one value: a
    Sequence of ContactRecord, built on access. Apply's hot loop writes one per vendor call; a
    store turns it into rows without building 50 frozen records first (``_common.contact_rows``)."""

    campaign: str
    task_id: str
    wave: int
    phones: tuple[str, ...]
    fingerprints: tuple[str, ...]
    data_ids: tuple[str | None, ...]
    status: ContactStatus = ContactStatus.SENT
    sent_at: str = ""

    def __post_init__(self) -> None:
        if not len(self.phones) == len(self.fingerprints) == len(self.data_ids):
            raise ValueError("SentContacts: phones, fingerprints and data_ids differ in length")

    def __len__(self) -> int:
        return len(self.phones)

    def _record(self, i: int) -> ContactRecord:
        return ContactRecord(self.campaign, self.phones[i], self.fingerprints[i], self.task_id, self.wave,
                             self.data_ids[i], self.status, self.sent_at)

    @overload
    def __getitem__(self, index: int) -> ContactRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ContactRecord]: ...

    def __getitem__(self, index: int | slice) -> ContactRecord | list[ContactRecord]:
        n = len(self.phones)
        if isinstance(index, slice):
            return [self._record(i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("SentContacts index out of range")
        return self._record(index)

    def __iter__(self) -> Iterator[ContactRecord]:
        return (self._record(i) for i in range(len(self.phones)))


@dataclass(frozen=True)
class OptOutRecord:
    """A number that must not be called again (opt-out), in every campaign.

    One record per time a number was put on the list; ``removed_at`` and
    ``removed_reason`` are set when it was taken off (the history stays).
    At most one record per phone is active (``removed_at == ""``).
    """

    phone: str
    source: str  # "manual", "results:<profile>", ...
    reason: str = ""
    created_at: str = ""  # ISO 8601
    removed_at: str = ""
    removed_reason: str = ""

    @property
    def active(self) -> bool:
        return not self.removed_at


@dataclass(frozen=True)
class JournalEntry:
    """One mutating vendor call. ``request`` is a redacted summary, never a secret."""

    id: int
    campaign: str
    profile: str
    call: str  # "create" | "insert" | "start" | "pause" | "delete" | "callout" | "remove"
    task_id: str
    outcome: CallOutcome
    request: Mapping[str, Any] = field(default_factory=dict, hash=False)
    result: Mapping[str, Any] = field(default_factory=dict, hash=False)
    detail: str = ""
    started_at: str = ""
    finished_at: str = ""
    # The phones the call carried, kept beside the entry (not in ``request``) while its outcome is
    # pending or unknown, so that settling it can record exactly those; dropped once it is settled.
    phones: tuple[str, ...] = field(default=(), hash=False)


@dataclass(frozen=True)
class Records:
    """State records written in the same transaction as a journal call
    (``begin_call`` / ``end_call``): campaigns and tasks upserted, the
    ``removed`` (campaign, task_id, phones) deleted, the ``retired`` ones marked
    ``ContactStatus.REMOVED``, then contacts upserted."""

    campaigns: Sequence[CampaignRecord] = ()
    tasks: Sequence[TaskRecord] = ()
    contacts: Sequence[ContactRecord] = ()
    removed: Sequence[tuple[str, str, Sequence[str]]] = ()
    retired: Sequence[tuple[str, str, Sequence[str]]] = ()  # taken out of a started task: history, not in it

    def campaigns_touched(self) -> set[str]:
        """Campaigns whose tasks or contacts these records change (their Converged markers go)."""
        contacts = self.contacts
        sent = {contacts.campaign} if isinstance(contacts, SentContacts) and contacts else {
            c.campaign for c in contacts}
        return {t.campaign for t in self.tasks} | sent | {r[0] for r in (*self.removed, *self.retired)}


@dataclass(frozen=True)
class Converged:
    """A campaign whose recorded sent set equalled its contact table.

    Written (by apply, or by a plan under the lock) when the contacts the
    state records as sent to the campaign's live tasks were exactly the table
    of digest ``digest`` (without the numbers ``suppressed``, with ``extra``
    numbers no call can take out), with settings ``settings_fingerprint``,
    nothing for it was pending and nothing but the ``warnings`` it keeps was
    worth a diagnostic. Every write that touches the
    campaign's contacts, tasks or journal clears it in the same transaction,
    so while it stands the diff may skip the per-contact work (DESIGN 4 still
    decides run state, drift and deletion from the listing). Derived data:
    writing it never bumps ``serial``.
    """

    campaign: str
    digest: str
    settings_fingerprint: str
    # With numbers suppressed (a do-not-call or opt-out list): the digest of the lists that applied
    # (``engine.policy.PlanPolicy.suppression_digest``; "" for none), and what they kept out of
    # the table, per list label. The marker holds only while the lists are the same.
    suppression: str = ""
    suppressed: tuple[tuple[str, int], ...] = ()
    # What stands with it when the live tasks hold numbers beyond the table that no call can take out
    # (queued before they left the files or went on a list): the warnings the full diff gave, replayed
    # as they were (message, file, line); the phase of every task then, which must be the same for the
    # marker to hold; and how many such numbers there are.
    warnings: tuple[tuple[str, str, int], ...] = ()
    phases: tuple[tuple[str, str], ...] = ()
    extra: int = 0


@dataclass(frozen=True)
class ResultRecord:
    """One result push a vendor sent (a call record, a dialog, a recording, a task event).

    Stored once per ``(profile, module, key)``: ``key`` is the vendor's own
    identity of the push (xfyeta ``call_uuid`` plus which of its two call
    record variants; yccall the call ``uuid``), so a vendor's retry or
    double push of the same thing is not stored twice. ``call`` groups the
    pushes about one call (a dialog and a recording join the contact of the
    call record with the same ``call``).

    ``task_id``, ``data_id`` and ``callee`` (normalised) are the join hints,
    as the vendor sent them; ``campaign`` and ``phone`` are the contact row
    the store joined the push to (``""``: it matched nothing, yet; such a
    push is kept and reported, never dropped). A task-level push (yccall
    task status) joins a campaign with ``phone == ""``. ``body`` is the push
    as received; it holds phone numbers, so it is never logged. ``id`` and
    ``received_at`` are set by the store and take no part in equality.

    ``optout`` is why the push means "do not call me again" (the receiver
    asks ``engine.policy.optout_reason`` with the project's opt-out rules
    before storing it; ``""``: it does not). Kept with the record, so the
    number joins the opt-out list whenever the record joins a contact row.
    """

    profile: str
    module: str
    key: str
    call: str = ""
    task_id: str = ""
    data_id: str = ""
    callee: str = ""
    body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    campaign: str = ""
    phone: str = ""
    received_at: str = field(default="", compare=False)
    id: int = field(default=0, compare=False)
    optout: str = ""


class Listed(Exception):
    """``begin_call(unless_listed=True)`` refused: these of the call's numbers are on the opt-out list
    (nothing was written)."""

    def __init__(self, phones: frozenset[str]) -> None:
        super().__init__(f"{len(phones)} of the call's numbers are on the opt-out list")
        self.phones = phones


@dataclass(frozen=True)
class LockInfo:
    id: str
    holder: str  # user@host pid
    operation: str  # "apply", "import", "state rebuild", ...
    created_at: str


@runtime_checkable
class StateStore(Protocol):
    # --- reads -----------------------------------------------------------
    def lineage(self) -> str: ...

    def serial(self) -> int: ...

    def campaigns(self) -> list[CampaignRecord]: ...

    def tasks(self, campaign: str | None = None) -> list[TaskRecord]:
        """Task records, ordered by campaign then wave."""
        ...

    def contacts(self, campaign: str, task_id: str | None = None) -> list[ContactRecord]:
        """Contact records of a campaign (of one task when ``task_id`` is given;
        ``""`` selects the direct-callout rows), ordered by wave, task id, phone."""
        ...

    def contacts_with(self, phones: Sequence[str]) -> list[ContactRecord]:
        """Every campaign's contact records of these phones (what a frequency cap counts for them),
        ordered by campaign, wave, task id, phone."""
        ...

    def journal(
        self, campaign: str | None = None, outcomes: Sequence[CallOutcome] | None = None
    ) -> list[JournalEntry]:
        """Journal entries in call order, optionally filtered (``outcomes=[]`` matches nothing)."""
        ...

    # --- writes (each bumps serial by one; an empty bulk write is a no-op) ----
    # Every write below that names a campaign (contacts, tasks, journal, forget,
    # rename) also clears that campaign's Converged marker, in the same transaction.
    def put_campaign(self, record: CampaignRecord) -> None: ...

    def put_task(self, record: TaskRecord) -> None:
        """Insert or replace the record keyed by (campaign, task_id); a
        ``run_state`` outside RUN_STATES is a StateError."""
        ...

    def put_contacts(self, records: Sequence[ContactRecord]) -> None:
        """Insert or replace records keyed by (campaign, task_id, phone), in bulk."""
        ...

    def delete_contacts(self, campaign: str, task_id: str, phones: Sequence[str]) -> None: ...

    def forget_campaign(self, campaign: str) -> None:
        """Drop the campaign, its tasks and contacts (journal entries stay)."""
        ...

    def rename_campaign(self, old: str, new: str) -> None:
        """Move the campaign record, task records, contact records and journal
        entries of ``old`` to ``new``, in one write. StateError when ``old``
        has no campaign, task or contact record, or ``new`` has any."""
        ...

    # --- opt-outs (each change bumps serial; a no-op does not) -------------
    def optouts(self, *, include_removed: bool = False) -> list[OptOutRecord]:
        """The opt-out list (only active records unless ``include_removed``), oldest first."""
        ...

    def add_optout(self, phone: str, source: str, reason: str = "", *, at: str = "") -> bool:
        """Put a normalised number on the opt-out list; False when it is already on it.
        ``at`` is the time to record (default: now)."""
        ...

    def remove_optout(self, phone: str, reason: str, *, at: str = "") -> bool:
        """Take a number off the opt-out list, keeping why; False when it was not on it."""
        ...

    def begin_call(
        self, campaign: str, profile: str, call: str, task_id: str, request: Mapping[str, Any],
        *, phones: Sequence[str] = (), records: Records | None = None, unless_listed: bool = False,
    ) -> int:
        """Write the intent of a mutating call *before* it is sent; returns its id.

        ``phones`` (the numbers the call carries) are kept beside the entry
        until it is settled (``JournalEntry.phones``); ``records`` are written
        in the same transaction (one write: serial bumps by one).
        ``unless_listed``: raise :class:`Listed`, writing nothing, when any of
        ``phones`` is on the opt-out list, looked up in the same transaction
        (apply checks every batch this way: one step, no read of its own)."""
        ...

    def end_call(
        self,
        entry_id: int,
        outcome: CallOutcome,
        detail: str = "",
        result: Mapping[str, Any] | None = None,
        *,
        records: Records | None = None,
        wait: bool = True,
    ) -> None:
        """Record the outcome, with ``records`` in the same transaction (one
        write). An outcome of ok, failed or resolved drops the entry's phones.

        ``wait`` false: return before it is committed; it rides with the next
        write of this handle (the lane's next intent), is committed before any
        read of this handle and before the lock is released, and if it fails,
        every later write fails (nothing more is sent). ``flush`` commits it."""
        ...

    def flush(self) -> None:
        """Commit the outcomes ``end_call(wait=False)`` left queued; StateError if one of them failed."""
        ...

    # --- derived data: never bumps serial ---------------------------------
    def source_digests(self, keys: Sequence[str] | None = None) -> dict[str, SourceDigest]:
        """The cached parse results among ``keys`` (missing ones are left out); all of them when None."""
        ...

    def put_source_digests(self, entries: Sequence[SourceDigest]) -> None:
        """Remember parse results (insert or replace by key); entries older
        than ``SOURCE_DIGEST_DAYS`` days are dropped on the way."""
        ...

    def phone_lists(self, digests: Sequence[str]) -> dict[str, PhoneList]:
        """The kept phone lists of the tables ``digests`` (by table digest; missing ones, and any that no
        longer match what was written for them, are left out)."""
        ...

    def put_phone_lists(self, entries: Sequence[PhoneList]) -> None:
        """Keep tables' phone lists (insert or replace by digest); when there are any, lists of tables
        that no cached parse result names any more are dropped on the way."""
        ...

    def converged(self) -> dict[str, Converged]:
        """Every campaign's convergence marker, by campaign name."""
        ...

    def put_converged(self, marks: Sequence[Converged]) -> None:
        """Set markers (insert or replace by campaign). Only under the lock,
        from a plan or apply that read the state it describes."""
        ...

    # --- results (vendor pushes) ----------------------------------------------
    # Results are observations the vendors push, not reconcile state: their
    # writes never bump ``serial`` (a receiver running beside apply must not
    # make every saved plan stale) and need no lock.
    def put_results(self, records: Sequence[ResultRecord]) -> list[bool]:
        """Store each record unless one with its ``(profile, module, key)`` is
        stored already (the first one stays: a vendor's retry changes
        nothing); one entry per record, True where it was new. All in one
        transaction, durable when this returns. New records are joined to a
        contact row (their ``campaign``/``phone`` given here are ignored):

        1. ``data_id``: the contact whose data id it is, in a campaign
           recorded with ``profile``, when its task is the record's task (or
           either task id is empty);
        2. else ``task_id`` + ``callee``: the contact with that phone in the
           task of that id recorded with ``profile``;
        3. else ``call``: the contact an earlier result of the same call
           (same profile) was joined to;
        4. a record with ``task_id`` only (no data id, callee or call): the
           campaign of that task, ``phone == ""``.

        A record joined by rules 1-2 also joins the unmatched results of its
        call (a recording pushed before its call record).

        Opt-outs learned from results: whenever a record with an ``optout``
        reason joins a contact row (here, through its call, or in
        :meth:`rejoin_results`), that row's phone goes on the opt-out list in
        the same transaction (source ``results:<profile>``, the record's
        reason, at its ``received_at``; nothing when the phone is listed
        already). Like the results, these never bump ``serial``: the
        applier checks the list again before every batch instead."""
        ...

    def results(self, campaign: str | None = None, phones: Sequence[str] | None = None) -> list[ResultRecord]:
        """Stored results in the order they were received: all of them
        (``None``), those joined to ``campaign``, or the unmatched ones
        (``""``); ``phones`` keeps those joined to these contact phones (in
        any campaign when ``campaign`` is None)."""
        ...

    def rejoin_results(self) -> int:
        """Join the unmatched results again by the rules of ``put_results``
        (a contact recorded after its push arrived); how many matched now."""
        ...

    # --- lock ----------------------------------------------------------
    def lock(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]:
        """Hold the exclusive apply lock; raises LockTimeout naming the holder."""
        ...

    def current_lock(self) -> LockInfo | None:
        """The lock as held right now by a live holder, or None (the lock never
        bumps serial: taking it does not make a saved plan stale)."""
        ...

    def force_unlock(self, lock_id: str, *, force: bool = False) -> bool:
        """Release the lock ``lock_id``; False when that lock is not the
        recorded one. A dead holder's lock (or this handle's own) is released
        as asked; a live holder's raises LockHeld naming it, unless ``force``:
        then it is released anyway (on PostgreSQL the holder's session is
        ended, so the hung run cannot write any more)."""
        ...

    def close(self) -> None: ...

