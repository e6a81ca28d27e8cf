"""The provider protocol: what the engine may ask of one vendor platform.

A provider translates between the model and one vendor API, for one
profile. It knows nothing of plans, state or journals: the engine decides,
journals and calls; the provider speaks HTTP through ``providers.http``.

Contract for mutating calls (create, add_contacts, callout): they are never
retried. When the answer is lost after the request may have reached the
vendor, they raise :class:`reconciler.errors.OutcomeUnknown`; the engine then
observes (``find_task``, ``count_contacts``) before anything is re-sent.
Idempotent calls (list, get, count, start, pause, delete) may be retried by
the transport.

The calls that dial (``callout``, ``start``, ``add_contacts`` into a running
task) take a ``gate``: asked right before each attempt is sent, its reason
(not "") stops the call unsent with :class:`reconciler.errors.NotSent`; the
engine gives one that says whether the calling hours are still open.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reconciler.errors import Problem
from reconciler.model import ContactRow, DesiredCampaign, ProviderProfile
from reconciler.vendors.base import Capabilities, Limits

__all__ = [
    "AddResult",
    "Capabilities",
    "CreateResult",
    "Gate",
    "Limits",
    "ObservedTask",
    "Phase",
    "Provider",
    "TaskDescription",
]

Gate = Callable[[], str]  # "" to send now, else why not (see the module docstring)


class Phase(enum.StrEnum):
    """Vendor-neutral run phase of a remote task (DESIGN section 4)."""

    NOT_STARTED = "not-started"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    ABSENT = "absent"


@dataclass(frozen=True)
class ObservedTask:
    """One remote task as the platform reports it right now.

    ``started`` is true once the task has ever been started (it may be paused
    or finished since): from then on its contacts may have been dialed.
    ``contact_count`` is the number of numbers the platform holds for the
    task, or None when the listing does not say.
    """

    profile: str
    task_id: str
    name: str
    phase: Phase
    status: int  # raw vendor status code
    started: bool
    deleted: bool = False
    custom_id: str | None = None  # yccall customtaskid
    contact_count: int | None = None
    called: int | None = None  # numbers dialed so far
    answered: int | None = None
    created_at: int | None = None  # ms epoch when known
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


@dataclass(frozen=True)
class AddResult:
    """Answer to an insert / append / callout of ``len(rows)`` rows.

    ``data_ids`` has one entry per accepted row in request order (None when
    the vendor returns no id); ``invalid`` lists (row index, reason) for rows
    the vendor refused.

    A data id names the row for the first dialing round only: xfyeta gives
    the rows of later recall rounds new ids ("如果是多轮外呼，第二轮的ID会
    发生变化", task/insert in the 2022 protocol document), so whatever joins
    result pushes to rows must fall back to (task id, callee).
    """

    accepted: int
    data_ids: tuple[str | None, ...] = ()
    invalid: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class CreateResult:
    task_id: str
    added: AddResult | None = None  # contacts carried by create (yccall)


@dataclass(frozen=True)
class TaskDescription:
    """An existing remote task's settings as campaign-file keys (``campaignctl export``).

    ``settings`` uses the campaign file's own keys (``robot``, ``lines``,
    ``voice``, ``schedule``, ``recall``, ``turbo``, ``yccall``, ``columns``,
    ``phone_column``), only what the vendor reported; ``unknown`` names, for
    people, each setting the vendor does not report (a default was assumed).
    """

    settings: Mapping[str, Any]
    unknown: tuple[str, ...] = ()


@runtime_checkable
class Provider(Protocol):
    profile: ProviderProfile
    capabilities: Capabilities
    limits: Limits

    def task_name(self, campaign: str, wave: int) -> str:
        """Remote name of a campaign's task for a wave (1 = first): the vendor's naming rule."""
        ...

    def wave_of(self, remote_name: str, campaign: str) -> int | None:
        """The wave :meth:`task_name` gave ``remote_name`` for ``campaign``, else None (its inverse)."""
        ...

    def owns(self, task: ObservedTask) -> bool:
        """True when the task carries this profile's ownership marker."""
        ...

    def list_tasks(self) -> list[ObservedTask]:
        """Every owned task, in bulk (paginated listing, not one call per task)."""
        ...

    def find_task(self, campaign: str, wave: int) -> ObservedTask | None:
        """Exact lookup by remote name / custom id, newest first; None if absent."""
        ...

    def get_task(self, task_id: str) -> ObservedTask | None:
        ...

    def count_contacts(self, task_id: str) -> int:
        """Numbers the platform holds for the task (resolves a lost insert)."""
        ...

    def check(self, campaigns: Sequence[DesiredCampaign], *,
              creating: Collection[str] | None = None, references: object = None) -> list[Problem]:
        """Check references (robot, lines, voice, agents) against the platform.

        ``creating`` names the campaigns the plan creates a task for (None: any
        of them may), for the checks that only matter to a new task.
        ``references``: what ``references()`` returned for this plan (None: fetch now).
        """
        ...

    def references(self) -> object:
        """What ``check`` compares against, fetched now, so that a plan can fetch it beside the
        listing instead of after the diff; a ProviderError is returned, not raised (``check``
        raises it). None when what ``check`` fetches depends on the campaigns."""
        ...

    def create_task(
        self, campaign: DesiredCampaign, wave: int, rows: Sequence[ContactRow] = ()
    ) -> CreateResult:
        ...

    def add_contacts(
        self, task_id: str, campaign: DesiredCampaign, rows: Sequence[ContactRow], *, gate: Gate | None = None
    ) -> AddResult:
        ...

    def remove_contacts(self, task_id: str, campaign: DesiredCampaign, phones: Sequence[str]) -> None:
        ...

    def start(self, task_id: str, *, gate: Gate | None = None) -> None:
        ...

    def pause(self, task_id: str) -> None:
        ...

    def delete(self, task_id: str) -> None:
        ...

    def callout(self, campaign: DesiredCampaign, rows: Sequence[ContactRow], *,
                gate: Gate | None = None) -> AddResult:
        """Dial rows at once (direct mode). Never retried; may raise OutcomeUnknown."""
        ...

    def close(self) -> None:
        ...
