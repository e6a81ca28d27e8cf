"""The three inputs of the diff besides the files: observed, recorded, traits.

All frozen values, built by ``observe.py`` (platform) and ``snapshot()``
(state store), so that ``diff`` stays a pure function testable without any
network or database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    JournalEntry,
    StateStore,
    TaskRecord,
)

__all__ = ["Observed", "ProviderTraits", "Recorded", "missing_state", "snapshot", "traits_for", "traits_of"]


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


def traits_of(provider: Provider) -> ProviderTraits:
    return ProviderTraits(
        profile=provider.profile.name,
        type=provider.profile.type,
        capabilities=provider.capabilities,
        limits=provider.limits,
        task_name=provider.task_name,
        wave_of=provider.wave_of,
        settle_window=settle_window(provider.profile.options),
    )


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
    optouts: frozenset[str] = frozenset()  # numbers on the opt-out list: suppressed in every campaign
    # Dial attempts the results received show, per phone: (campaign, when) of each call (frequency caps count
    # them instead of the one send). Filled by the session only when a cap is configured (results.outcomes).
    dials: Mapping[str, tuple[tuple[str, datetime], ...]] = field(default_factory=dict)


def missing_state(reason: str) -> Recorded:
    """The inputs of a plan made without a state: empty, and marked so that nothing is sent."""
    return Recorded(initialized=False, missing_reason=reason)


def snapshot(store: StateStore, *, in_flight: bool = False) -> Recorded:
    tasks: dict[str, list[TaskRecord]] = {}
    for rec in store.tasks():
        tasks.setdefault(rec.campaign, []).append(rec)
    names = {c.name for c in store.campaigns()} | set(tasks)
    return Recorded(
        lineage=store.lineage(),
        serial=store.serial(),
        campaigns={c.name: c for c in store.campaigns()},
        tasks={k: tuple(v) for k, v in tasks.items()},
        contacts={name: tuple(store.contacts(name)) for name in sorted(names)},
        pending=tuple(store.journal(outcomes=[CallOutcome.PENDING, CallOutcome.UNKNOWN])),
        in_flight=in_flight,
        optouts=frozenset(r.phone for r in store.optouts()),
    )
