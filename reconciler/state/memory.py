"""An in-memory state store for tests and dry runs.

Several ``MemoryStore`` handles may share one :class:`MemoryBacking`, the way
two processes share one database: they see each other's writes and contend
for the same lock. Nothing survives the process.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.errors import StateError
from reconciler.state._common import (
    NO_LINEAGE,
    check_rename,
    check_task,
    clean_text,
    contact_sort_key,
    dedupe_contacts,
    dump_json,
    load_json,
    lock_held_error,
    new_lock_info,
    outcome_filter,
    state_missing,
    utc_now,
    wait_for_lock,
)
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    Converged,
    JournalEntry,
    Listed,
    LockInfo,
    OptOutRecord,
    PhoneList,
    Records,
    ResultRecord,
    SourceDigest,
    TaskRecord,
)

SETTLED = frozenset({CallOutcome.OK, CallOutcome.FAILED, CallOutcome.RESOLVED})

__all__ = ["MemoryBacking", "MemoryStore"]


@dataclass
class MemoryBacking:
    """The data behind one or more MemoryStore handles (mutable, guarded by ``mutex``).

    A new backing is initialised (it has a lineage); ``lineage = ""`` stands
    for a state whose lineage was lost.
    """

    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    campaigns: dict[str, CampaignRecord] = field(default_factory=dict)
    tasks: dict[tuple[str, str], TaskRecord] = field(default_factory=dict)
    contacts: dict[tuple[str, str, str], ContactRecord] = field(default_factory=dict)
    journal: list[JournalEntry] = field(default_factory=list)
    converged: dict[str, Converged] = field(default_factory=dict)
    source_digests: dict[str, SourceDigest] = field(default_factory=dict)
    phone_lists: dict[str, PhoneList] = field(default_factory=dict)
    optouts: list[OptOutRecord] = field(default_factory=list)
    results: list[ResultRecord] = field(default_factory=list)
    result_keys: set[tuple[str, str, str]] = field(default_factory=set)
    lock: LockInfo | None = None
    lock_owner: object | None = None  # the MemoryStore handle holding ``lock``
    mutex: threading.RLock = field(default_factory=threading.RLock)


WHERE = "the in-memory state"


class MemoryStore:
    """StateStore kept in a :class:`MemoryBacking`; thread-safe.

    Without ``backing`` the store is new and initialised. A backing without a
    lineage raises StateMissing, unless ``create`` gives it a new one.
    """

    def __init__(self, backing: MemoryBacking | None = None, *, create: bool = False) -> None:
        self.backing = backing if backing is not None else MemoryBacking()
        self._closed = False
        with self.backing.mutex:
            if not self.backing.lineage:
                if not create:
                    raise state_missing(WHERE, WHERE, NO_LINEAGE)
                self.backing.lineage = str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"MemoryStore(lineage={self.backing.lineage!r})"

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StateError("the state store is closed")

    def _bump(self) -> None:
        self.backing.serial += 1

    def _unconverge(self, campaigns: Sequence[str] | set[str]) -> None:
        for name in campaigns:
            self.backing.converged.pop(name, None)

    def _records(self, records: Records | None) -> None:
        """Write ``records`` (caller holds the mutex), as one transaction would."""
        if records is None:
            return
        b = self.backing
        for campaign in records.campaigns:
            b.campaigns[campaign.name] = campaign
        for task in records.tasks:
            b.tasks[(task.campaign, task.task_id)] = replace(task, settings=load_json(dump_json(task.settings)))
        for name, task_id, phones in records.removed:
            for phone in phones:
                b.contacts.pop((name, task_id, phone), None)
        for name, task_id, phones in records.retired:
            for phone in phones:
                kept = b.contacts.get((name, task_id, phone))
                if kept is not None:
                    b.contacts[(name, task_id, phone)] = replace(kept, status=ContactStatus.REMOVED)
        now = utc_now()
        for record in dedupe_contacts(records.contacts):
            b.contacts[(record.campaign, record.task_id, record.phone)] = (
                record if record.sent_at else replace(record, sent_at=now))
        self._unconverge(records.campaigns_touched())

    # --- reads -----------------------------------------------------------
    def lineage(self) -> str:
        self._check_open()
        return self.backing.lineage

    def serial(self) -> int:
        self._check_open()
        with self.backing.mutex:
            return self.backing.serial

    def campaigns(self) -> list[CampaignRecord]:
        self._check_open()
        with self.backing.mutex:
            return sorted(self.backing.campaigns.values(), key=lambda c: c.name)

    def tasks(self, campaign: str | None = None) -> list[TaskRecord]:
        self._check_open()
        with self.backing.mutex:
            rows = [t for t in self.backing.tasks.values() if campaign is None or t.campaign == campaign]
        return sorted(rows, key=lambda t: (t.campaign, t.wave, t.task_id))

    def contacts(self, campaign: str, task_id: str | None = None) -> list[ContactRecord]:
        self._check_open()
        with self.backing.mutex:
            rows = [
                c
                for c in self.backing.contacts.values()
                if c.campaign == campaign and (task_id is None or c.task_id == task_id)
            ]
        return sorted(rows, key=contact_sort_key)

    def contacts_with(self, phones: Sequence[str]) -> list[ContactRecord]:
        self._check_open()
        wanted = set(phones)
        with self.backing.mutex:
            rows = [c for c in self.backing.contacts.values() if c.phone in wanted]
        return sorted(rows, key=lambda c: (c.campaign, *contact_sort_key(c)))

    def journal(
        self, campaign: str | None = None, outcomes: Sequence[CallOutcome] | None = None
    ) -> list[JournalEntry]:
        self._check_open()
        wanted = outcome_filter(outcomes)
        with self.backing.mutex:
            return [
                e
                for e in self.backing.journal
                if (campaign is None or e.campaign == campaign) and (wanted is None or e.outcome.value in wanted)
            ]

    # --- writes ----------------------------------------------------------
    def put_campaign(self, record: CampaignRecord) -> None:
        self._check_open()
        with self.backing.mutex:
            self.backing.campaigns[record.name] = record
            self._bump()

    def put_task(self, record: TaskRecord) -> None:
        self._check_open()
        check_task(record)
        stored = replace(record, settings=load_json(dump_json(record.settings)))  # as a database gives it back
        with self.backing.mutex:
            self.backing.tasks[(record.campaign, record.task_id)] = stored
            self._unconverge((record.campaign,))
            self._bump()

    def put_contacts(self, records: Sequence[ContactRecord]) -> None:
        self._check_open()
        if not records:
            return
        now = utc_now()
        unique = [r if r.sent_at else replace(r, sent_at=now) for r in dedupe_contacts(records)]
        with self.backing.mutex:
            for record in unique:
                self.backing.contacts[(record.campaign, record.task_id, record.phone)] = record
            self._unconverge({r.campaign for r in unique})
            self._bump()

    def delete_contacts(self, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        self._check_open()
        if not phones:
            return
        with self.backing.mutex:
            for phone in phones:
                self.backing.contacts.pop((campaign, task_id, phone), None)
            self._unconverge((campaign,))
            self._bump()

    def forget_campaign(self, campaign: str) -> None:
        self._check_open()
        with self.backing.mutex:
            b = self.backing
            b.campaigns.pop(campaign, None)
            b.tasks = {k: v for k, v in b.tasks.items() if k[0] != campaign}
            b.contacts = {k: v for k, v in b.contacts.items() if k[0] != campaign}
            self._unconverge((campaign,))
            self._bump()

    def rename_campaign(self, old: str, new: str) -> None:
        self._check_open()
        with self.backing.mutex:
            b = self.backing

            def known(name: str) -> bool:
                return (
                    name in b.campaigns
                    or any(k[0] == name for k in b.tasks)
                    or any(k[0] == name for k in b.contacts)
                )

            check_rename(old, new, old_known=known(old), new_taken=known(new))
            if old in b.campaigns:
                b.campaigns[new] = replace(b.campaigns.pop(old), name=new)
            b.tasks = {
                ((new, k[1]) if k[0] == old else k): (replace(v, campaign=new) if k[0] == old else v)
                for k, v in b.tasks.items()
            }
            b.contacts = {
                ((new, k[1], k[2]) if k[0] == old else k): (replace(v, campaign=new) if k[0] == old else v)
                for k, v in b.contacts.items()
            }
            b.journal = [replace(e, campaign=new) if e.campaign == old else e for e in b.journal]
            self._unconverge((old, new))
            b.results = [replace(r, campaign=new) if r.campaign == old else r for r in b.results]
            self._bump()

    def optouts(self, *, include_removed: bool = False) -> list[OptOutRecord]:
        self._check_open()
        with self.backing.mutex:
            rows = list(enumerate(self.backing.optouts))
        rows.sort(key=lambda ir: (ir[1].created_at, ir[0]))
        return [r for _, r in rows if include_removed or r.active]

    def add_optout(self, phone: str, source: str, reason: str = "", *, at: str = "") -> bool:
        self._check_open()
        with self.backing.mutex:
            if any(r.phone == phone and r.active for r in self.backing.optouts):
                return False
            self.backing.optouts.append(OptOutRecord(phone, clean_text(source), clean_text(reason), at or utc_now()))
            self._bump()
            return True

    def remove_optout(self, phone: str, reason: str, *, at: str = "") -> bool:
        self._check_open()
        with self.backing.mutex:
            for i, r in enumerate(self.backing.optouts):
                if r.phone == phone and r.active:
                    self.backing.optouts[i] = replace(r, removed_at=at or utc_now(), removed_reason=clean_text(reason))
                    self._bump()
                    return True
            return False

    def begin_call(
        self, campaign: str, profile: str, call: str, task_id: str, request: Mapping[str, Any],
        *, phones: Sequence[str] = (), records: Records | None = None, unless_listed: bool = False,
    ) -> int:
        self._check_open()
        for task in records.tasks if records else ():
            check_task(task)
        with self.backing.mutex:
            if unless_listed and phones:
                wanted = set(phones)
                listed = frozenset(r.phone for r in self.backing.optouts if r.active and r.phone in wanted)
                if listed:
                    raise Listed(listed)
            self._records(records)
            entry = JournalEntry(
                id=len(self.backing.journal) + 1,
                campaign=campaign,
                profile=profile,
                call=call,
                task_id=task_id,
                outcome=CallOutcome.PENDING,
                request=load_json(dump_json(request)),  # the same copy a database would give back
                started_at=utc_now(),
                phones=tuple(phones),
            )
            self.backing.journal.append(entry)
            self._unconverge((campaign,))
            self._bump()
            return entry.id

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
        self._check_open()
        for task in records.tasks if records else ():
            check_task(task)
        with self.backing.mutex:
            if not 1 <= entry_id <= len(self.backing.journal):
                raise StateError(f"journal entry {entry_id} does not exist")
            old = self.backing.journal[entry_id - 1]
            value = CallOutcome(outcome)
            self.backing.journal[entry_id - 1] = replace(
                old,
                outcome=value,
                detail=clean_text(detail),
                result=load_json(dump_json(result)),
                finished_at=utc_now(),
                phones=() if value in SETTLED else old.phones,
            )
            self._records(records)
            self._bump()

    # --- derived data: no serial bump --------------------------------------
    def source_digests(self, keys: Sequence[str] | None = None) -> dict[str, SourceDigest]:
        self._check_open()
        with self.backing.mutex:
            known = self.backing.source_digests
            return dict(known) if keys is None else {k: known[k] for k in keys if k in known}

    def put_source_digests(self, entries: Sequence[SourceDigest]) -> None:
        self._check_open()
        with self.backing.mutex:
            for entry in entries:
                self.backing.source_digests[entry.key] = entry

    def phone_lists(self, digests: Sequence[str]) -> dict[str, PhoneList]:
        self._check_open()
        with self.backing.mutex:
            known = self.backing.phone_lists
            return {d: known[d] for d in digests if d in known}

    def put_phone_lists(self, entries: Sequence[PhoneList]) -> None:
        self._check_open()
        if not entries:
            return
        with self.backing.mutex:
            named = {e.digest for e in self.backing.source_digests.values()}
            kept = self.backing.phone_lists
            for gone in [d for d in kept if d not in named]:
                del kept[gone]
            for entry in entries:
                kept[entry.digest] = entry

    def converged(self) -> dict[str, Converged]:
        self._check_open()
        with self.backing.mutex:
            return dict(self.backing.converged)

    def put_converged(self, marks: Sequence[Converged]) -> None:
        self._check_open()
        with self.backing.mutex:
            for mark in marks:
                self.backing.converged[mark.campaign] = mark
    # --- results (never bump the serial) ------------------------------------
    def _join(self, r: ResultRecord) -> tuple[str, str]:
        b = self.backing
        if r.data_id:
            profiles = {name: c.profile for name, c in b.campaigns.items()}
            found = sorted(
                (c for c in b.contacts.values() if c.data_id == r.data_id and profiles.get(c.campaign) == r.profile),
                key=lambda c: (-c.wave, c.campaign, c.task_id),
            )
            for c in found:
                if not c.task_id or not r.task_id or c.task_id == r.task_id:
                    return c.campaign, c.phone
        if r.task_id and r.callee:
            found = sorted(
                (c for c in b.contacts.values()
                 if c.task_id == r.task_id and c.phone == r.callee
                 and (t := b.tasks.get((c.campaign, c.task_id))) is not None and t.profile == r.profile),
                key=lambda c: (-c.wave, c.campaign),
            )
            if found:
                return found[0].campaign, found[0].phone
        if r.call:
            for other in b.results:
                if other.profile == r.profile and other.call == r.call and other.campaign:
                    return other.campaign, other.phone
        elif r.task_id and not r.data_id and not r.callee:
            owners = sorted(t.campaign for t in b.tasks.values() if t.task_id == r.task_id and t.profile == r.profile)
            if owners:
                return owners[0], ""
        return "", ""

    def _spread(self, r: ResultRecord, campaign: str, phone: str) -> None:
        if not (r.call and phone):
            return
        b = self.backing
        joined = [i for i, o in enumerate(b.results) if o.profile == r.profile and o.call == r.call and not o.campaign]
        for i in joined:
            b.results[i] = replace(b.results[i], campaign=campaign, phone=phone)
        if joined:
            said = next((o for o in b.results if o.profile == r.profile and o.call == r.call and o.phone == phone
                         and o.optout), None)
            if said is not None:
                self._learn_optout(phone, said)

    def _learn_optout(self, phone: str, r: ResultRecord) -> None:
        """A result joined to ``phone`` says "do not call me again": list it (once; no serial bump)."""
        b = self.backing
        if not any(o.phone == phone and o.active for o in b.optouts):
            b.optouts.append(OptOutRecord(phone, clean_text(f"results:{r.profile}"), clean_text(r.optout),
                                          r.received_at or utc_now()))

    def put_results(self, records: Sequence[ResultRecord]) -> list[bool]:
        self._check_open()
        fresh: list[bool] = []
        now = utc_now()
        with self.backing.mutex:
            b = self.backing
            for r in records:
                key = (r.profile, r.module, r.key)
                if key in b.result_keys:
                    fresh.append(False)
                    continue
                campaign, phone = self._join(r)
                stored = replace(r, body=load_json(dump_json(r.body)), campaign=campaign, phone=phone,
                                 received_at=r.received_at or now, id=len(b.results) + 1,
                                 optout=clean_text(r.optout))
                b.results.append(stored)
                b.result_keys.add(key)
                fresh.append(True)
                if phone:
                    if stored.optout:
                        self._learn_optout(phone, stored)
                    self._spread(stored, campaign, phone)
        return fresh

    def results(self, campaign: str | None = None, phones: Sequence[str] | None = None) -> list[ResultRecord]:
        self._check_open()
        wanted = None if phones is None else set(phones)
        with self.backing.mutex:
            return [
                r for r in self.backing.results
                if (campaign is None or r.campaign == campaign) and (wanted is None or r.phone in wanted)
            ]

    def rejoin_results(self) -> int:
        self._check_open()
        matched = 0
        with self.backing.mutex:
            b = self.backing
            for index in range(len(b.results)):
                r = b.results[index]
                if r.campaign:
                    continue
                campaign, phone = self._join(r)
                if campaign:
                    b.results[index] = replace(r, campaign=campaign, phone=phone)
                    matched += 1
                    if r.optout and phone:
                        self._learn_optout(phone, r)
                    self._spread(r, campaign, phone)
        return matched

    # --- lock ------------------------------------------------------------
    def lock(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        self._check_open()
        info = new_lock_info(operation)
        token = object()  # this acquisition, so a second one on the same handle also waits

        def attempt() -> bool:
            with self.backing.mutex:
                if self.backing.lock is not None:
                    return False
                self.backing.lock, self.backing.lock_owner = info, (self, token)
                return True

        wait_for_lock(attempt, self.current_lock, timeout, WHERE)
        try:
            yield info
        finally:
            with self.backing.mutex:
                if self.backing.lock_owner == (self, token):
                    self.backing.lock, self.backing.lock_owner = None, None

    def current_lock(self) -> LockInfo | None:
        with self.backing.mutex:
            return self.backing.lock

    def force_unlock(self, lock_id: str, *, force: bool = False) -> bool:
        """Every holder of an in-memory lock is alive (a closed handle has let
        go), so only this handle's own lock goes without ``force``."""
        with self.backing.mutex:
            held = self.backing.lock
            if held is None or held.id != lock_id:
                return False
            owner = self.backing.lock_owner
            if not force and not (isinstance(owner, tuple) and owner[0] is self):
                raise lock_held_error(held, WHERE)
            self.backing.lock, self.backing.lock_owner = None, None
            return True

    def flush(self) -> None:
        """Every write commits at once here: nothing is ever queued."""
        self._check_open()

    def close(self) -> None:
        """Release a lock this handle holds; later calls raise StateError."""
        with self.backing.mutex:
            owner = self.backing.lock_owner
            if isinstance(owner, tuple) and owner[0] is self:
                self.backing.lock, self.backing.lock_owner = None, None
        self._closed = True
