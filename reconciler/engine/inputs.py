"""The three inputs of the diff besides the files: observed, recorded, traits.

All frozen values, built by ``observe.py`` (platform) and ``snapshot()``
(state store), so that ``diff`` stays a pure function testable without any
network or database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler import vendors
from reconciler.engine.settle import settle_window
from reconciler.model import ProviderProfile
from reconciler.providers.base import Capabilities, Limits, ObservedTask, Provider
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    Converged,
    JournalEntry,
    StateStore,
    TaskRecord,
)

__all__ = ["Observed", "ProviderTraits", "Recorded", "StoredContacts", "missing_state", "snapshot", "traits_for",
           "traits_of"]


@dataclass(frozen=True)
class ProviderTraits:
    """What the diff must know of a provider: capabilities, limits, naming.

    ``task_name(campaign, wave)`` and its inverse ``wave_of(remote_name,
    campaign)`` are the vendor's naming rule with the profile's prefix.
    """

    profile: str
    type: str
    capabilities: Capabilities
    limits: Limits
    task_name: Callable[[str, int], str] = field(compare=False)
    wave_of: Callable[[str, str], int | None] = field(compare=False)
    settle_window: float = 0.0  # seconds a call that does not show may still land (engine.settle)
    # The shared naming rule (``task_name(campaign, 1)``, then ``~<wave>``; VendorSpec.suffix_naming):
    # the diff may look a campaign's tasks up by name. False: it asks ``wave_of`` of every listed task.
    suffix_naming: bool = False


def traits_of(provider: Provider) -> ProviderTraits:
    return ProviderTraits(
        profile=provider.profile.name,
        type=provider.profile.type,
        capabilities=provider.capabilities,
        limits=provider.limits,
        task_name=provider.task_name,
        wave_of=provider.wave_of,
        settle_window=settle_window(provider.profile.options),
        suffix_naming=_suffix_naming(provider),
    )


def _suffix_naming(provider: Provider) -> bool:
    """The provider names its tasks by its vendor's rule, and that is the shared one."""
    from reconciler.providers.client import VendorClient  # here: importing it loads httpx

    if not isinstance(provider, VendorClient):
        return False
    kind: type[object] = type(provider)
    return (getattr(kind, "task_name", None) is VendorClient.task_name
            and getattr(kind, "wave_of", None) is VendorClient.wave_of
            and provider.spec.suffix_naming())


def traits_for(profile: ProviderProfile) -> ProviderTraits:
    """The traits of a profile from its vendor spec alone (no client, no credentials)."""
    spec = vendors.get(profile.type)
    options = spec.options(profile.options, profile.name_prefix)
    prefix = profile.name_prefix
    return ProviderTraits(
        profile=profile.name,
        type=spec.type,
        capabilities=spec.capabilities,
        limits=spec.limits(options),
        task_name=lambda campaign, wave: spec.task_name(prefix, campaign, wave),
        wave_of=lambda remote_name, campaign: spec.wave_of(remote_name, prefix, campaign),
        settle_window=settle_window(options),
        suffix_naming=spec.suffix_naming(),
    )


@dataclass(frozen=True)
class Observed:
    """Owned remote tasks per profile; a profile that could not be listed is in ``errors``."""

    tasks: Mapping[str, tuple[ObservedTask, ...]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """A read-only snapshot of the state store."""

    lineage: str = ""
    serial: int = 0
    campaigns: Mapping[str, CampaignRecord] = field(default_factory=dict)
    tasks: Mapping[str, tuple[TaskRecord, ...]] = field(default_factory=dict)
    contacts: Mapping[str, tuple[ContactRecord, ...]] = field(default_factory=dict)
    pending: tuple[JournalEntry, ...] = ()  # calls whose outcome is pending or unknown
    initialized: bool = True  # False: no state (never initialised, or lost): nothing may be sent
    missing_reason: str = ""  # why the state is missing, for the plan's message
    in_flight: bool = False  # pending calls may belong to an apply running now (plan without the lock)
    # Campaigns whose recorded sent set equalled a contact table (state.base.Converged): the diff
    # skips their per-contact work while the marker matches the files.
    converged: Mapping[str, Converged] = field(default_factory=dict)
    optouts: frozenset[str] = frozenset()  # numbers on the opt-out list: suppressed in every campaign
    # Dial attempts the results received show, per phone: (campaign, when) of each call (frequency caps count
    # them instead of the one send). Filled by the session only when a cap is configured, read from the state
    # the first time it is asked for (results.outcomes.StoredDials).
    dials: Mapping[str, tuple[tuple[str, datetime], ...]] = field(default_factory=dict)

    def sends_of(self, phones: Sequence[str]) -> list[tuple[str, ContactRecord]]:
        """(campaign, record) of every recorded campaign's contact records of ``phones``: from the store for
        these phones alone when the records are read lazily (:class:`StoredContacts`)."""
        scoped = self.contacts.of_phones if isinstance(self.contacts, StoredContacts) else None
        if scoped is not None:
            return [(r.campaign, r) for r in scoped(phones)]
        wanted = set(phones)
        return [(name, r) for name, records in self.contacts.items() for r in records if r.phone in wanted]

    def dials_of(self, phones: Sequence[str]) -> Mapping[str, tuple[tuple[str, datetime], ...]]:
        """:attr:`dials` of ``phones`` (those with any); read for these phones alone when the dials offer it."""
        scoped: Callable[[Sequence[str]], Mapping[str, tuple[tuple[str, datetime], ...]]] | None = getattr(
            self.dials, "of", None)
        if scoped is not None:
            return scoped(phones)
        return {p: self.dials[p] for p in phones if p in self.dials}


def missing_state(reason: str) -> Recorded:
    """The inputs of a plan made without a state: empty, and marked so that nothing is sent."""
    return Recorded(initialized=False, missing_reason=reason)


class StoredContacts(Mapping[str, tuple[ContactRecord, ...]]):
    """The state's contact records per campaign, read from the store the first time a campaign's
    are asked for (then kept), so that a plan reads only the campaigns it needs rows of.

    A snapshot under the state lock (no apply can write meanwhile) reads what
    an eager copy would; without the lock a campaign with calls in flight is
    never planned (``diff._in_flight``), and a saved plan is refused on apply
    when the state serial moved since this snapshot.
    """

    def __init__(self, store: StateStore, names: frozenset[str]) -> None:
        self._store = store
        self._names = names
        self._loaded: dict[str, tuple[ContactRecord, ...]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> tuple[ContactRecord, ...]:
        if name not in self._names:
            raise KeyError(name)
        found = self._loaded.get(name)
        if found is None:
            with self._lock:
                found = self._loaded.get(name)
                if found is None:
                    found = self._loaded[name] = tuple(self._store.contacts(name))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    @property
    def loaded(self) -> frozenset[str]:
        """The campaigns whose records were read so far."""
        return frozenset(self._loaded)

    def of_phones(self, phones: Sequence[str]) -> list[ContactRecord]:
        """The records of ``phones`` in any of these campaigns, read from the store now (not kept)."""
        return [r for r in self._store.contacts_with(phones) if r.campaign in self._names]


def snapshot(store: StateStore, *, in_flight: bool = False) -> Recorded:
    """The state as the diff reads it: everything but the contact records, which are read per campaign
    when asked for (:class:`StoredContacts`)."""
    tasks: dict[str, list[TaskRecord]] = {}
    for rec in store.tasks():
        tasks.setdefault(rec.campaign, []).append(rec)
    campaigns = {c.name: c for c in store.campaigns()}
    names = frozenset(campaigns) | frozenset(tasks)
    return Recorded(
        lineage=store.lineage(),
        serial=store.serial(),
        campaigns=campaigns,
        tasks={k: tuple(v) for k, v in tasks.items()},
        contacts=StoredContacts(store, names),
        pending=tuple(store.journal(outcomes=[CallOutcome.PENDING, CallOutcome.UNKNOWN])),
        in_flight=in_flight,
        converged=store.converged(),
        optouts=frozenset(r.phone for r in store.optouts()),
    )
