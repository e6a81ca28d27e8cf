"""The plan as a value, like Terraform's ``internal/plans``.

A :class:`Plan` is what ``diff`` returns and what ``apply`` executes. Apply
branches on :class:`ActionKind` and the typed fields only; ``reason`` is for
display and must never drive behaviour.

Actions are grouped in *lanes*: one lane per remote task (campaign + wave),
or per direct-mode campaign. Actions in a lane run in order (delete → create
→ insert batches → start); lanes are independent and may run in parallel.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.model import ContactRow, canonical_json, digest
from reconciler.state.base import Converged

__all__ = [
    "ACTION_WORDS",
    "FORMAT_VERSION",
    "Action",
    "ActionKind",
    "ApplyHooks",
    "ApplyResult",
    "CampaignSummary",
    "Convergence",
    "Deferred",
    "Diagnostic",
    "Forecast",
    "Lane",
    "Plan",
    "PlanMeta",
    "StepResult",
    "StepStatus",
]

FORMAT_VERSION = 1


class ActionKind(enum.StrEnum):
    CREATE = "create"  # create a remote task (yccall: carrying its first contacts)
    DELETE = "delete"  # delete (xfyeta) / end (yccall) a remote task
    INSERT = "insert"  # add contacts to a task (in vendor-sized batches)
    REMOVE = "remove"  # remove contacts from a task (yccall)
    START = "start"
    PAUSE = "pause"
    DIAL = "dial"  # direct callout (in vendor-sized batches), never repeated
    ADOPT = "adopt"  # record an existing remote task in state (no vendor call)

    @property
    def mutates_platform(self) -> bool:
        return self is not ActionKind.ADOPT


# The stable words of each action in every document campaignctl writes (JSON plans, saved plan files,
# text views): renaming an ActionKind member must change none of them.
ACTION_WORDS: dict[ActionKind, str] = {
    ActionKind.CREATE: "create",
    ActionKind.DELETE: "delete",
    ActionKind.INSERT: "insert",
    ActionKind.REMOVE: "remove",
    ActionKind.START: "start",
    ActionKind.PAUSE: "pause",
    ActionKind.DIAL: "dial",
    ActionKind.ADOPT: "adopt",
}


@dataclass(frozen=True)
class Action:
    """One step of a lane: everything apply needs to execute it, nothing recomputed.

    ``task_id`` is empty when the task is created by an earlier CREATE of
    the same lane. ``rows`` are the contact rows concerned (insert, remove,
    dial; create when the provider carries contacts on create; a tuple, or a
    view built row by row as read: ``config.table.RowsView``), ``phones``
    their normalised numbers and ``row_index`` their positions in the
    campaign's contact table (what a saved plan stores instead of numbers).
    ``fingerprint`` is the settings fingerprint a CREATE records.
    ``replaces`` marks the DELETE/CREATE pair of a replacement; ``redial``
    counts, exactly, the contacts this action sends that the state records
    as already sent to a started task or dialed for the campaign.
    """

    kind: ActionKind
    campaign: str
    profile: str
    wave: int  # 1.. for tasks; 0 for direct-mode dialing
    remote_name: str
    reason: str
    task_id: str = ""
    phones: tuple[str, ...] = field(default=(), repr=False)
    calls: int = 1  # vendor calls this action will take (batches)
    replaces: bool = False
    redial: int = 0
    drift: bool = False  # caused by a change made outside campaignctl
    rows: Sequence[ContactRow] = field(default=(), repr=False, compare=False)
    row_index: tuple[int, ...] = field(default=(), repr=False)
    fingerprint: str = ""  # settings fingerprint (CREATE)

    @property
    def lane(self) -> tuple[str, str, int]:
        return (self.profile, self.campaign, self.wave)

    @property
    def count(self) -> int:
        """Contacts concerned, also for an unbound action of a saved plan (row positions, no phones)."""
        return len(self.row_index) or len(self.phones)

    def key(self) -> dict[str, Any]:
        """The behaviour-relevant fields, for the plan digest (no reason text)."""
        return {
            "kind": self.kind.value,
            "campaign": self.campaign,
            "profile": self.profile,
            "wave": self.wave,
            "remote_name": self.remote_name,
            "task_id": self.task_id,
            "phones": digest("\n".join(self.phones)) if self.phones else "",
            "count": len(self.phones),
            "replaces": self.replaces,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Lane:
    profile: str
    campaign: str
    wave: int
    actions: tuple[Action, ...]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A plan-time error (blocks apply) or warning, tied to a campaign when known."""

    severity: str  # "error" | "warning"
    campaign: str
    message: str
    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        who = f"{self.campaign}: " if self.campaign else ""
        return f"{where}{who}{self.message}"


@dataclass(frozen=True)
class Deferred:
    """Something the plan would do but the dialing policy or the campaign's windows forbid now.

    Shown in every view; never executed by apply and no change for
    ``--detailed-exitcode``: a later plan (``watch``, the next CI run) does
    it once ``at`` has come. ``kind`` is what it will be (DIAL, START, or
    INSERT for contacts a frequency cap holds back); ``at`` is the earliest
    time it may happen (None: not within a year, or never).
    """

    kind: ActionKind
    campaign: str
    profile: str
    contacts: int
    at: datetime | None
    reason: str
    wave: int = 0
    remote_name: str = ""
    task_id: str = ""


@dataclass(frozen=True)
class Forecast:
    """When a campaign will have dialed everyone, from the profile's declared capacity (an estimate).

    ``contacts`` still to dial, ``calls`` expected with recall rounds,
    ``calls_per_hour`` this campaign's share of the capacity, ``hours`` of
    open dialing time needed; ``finish`` None when it does not finish within
    a year of ``start``; ``late`` when it finishes after ``end`` (schedule.end).
    """

    contacts: int
    calls: int
    calls_per_hour: float
    hours: float
    start: datetime
    finish: datetime | None
    end: datetime | None = None
    late: bool = False


@dataclass(frozen=True)
class CampaignSummary:
    """What is known of one campaign, for display: desired vs observed."""

    name: str
    profile: str
    mode: str
    desired: str  # running | paused | absent | removed (left the files)
    observed: str  # phase of the newest task, "absent", "unknown", or "direct"
    contacts: int  # contacts in the files
    sent: int  # contacts sent to tasks / dialed (recorded)
    tasks: tuple[str, ...] = ()  # remote task ids
    called: int | None = None
    answered: int | None = None
    # Dialing policy (engine.policy): contacts never sent because a do-not-call source or the opt-out list
    # holds them (by source label), contacts a frequency cap holds back now, and the capacity forecast.
    suppressed: int = 0
    suppressed_by: tuple[tuple[str, int], ...] = ()
    held: int = 0
    forecast: Forecast | None = None


@dataclass(frozen=True)
class PlanMeta:
    """What the plan was made against; a saved plan is refused when any changed."""

    created_at: str = ""
    config_dir: str = ""
    config_digest: str = ""
    state_lineage: str = ""
    state_serial: int = 0
    observed_digest: str = ""
    prune: bool = False
    allow_replace: tuple[str, ...] = ()  # campaigns allowed to redial (--allow-replace / --allow-redial)
    state_missing: bool = False  # made without an initialised state: apply refuses it
    # (profile, task_id) pairs ``observed_digest`` covers (empty: every owned task), so that a
    # saved plan's apply recomputes it over the same set (engine.planfile.observed_digest).
    involved: tuple[tuple[str, str], ...] = ()
    environment: str = ""  # the --env the plan was made for ("" = the base settings)
    policy_at: str = ""  # the time the dialing policy was read at (CAMPAIGNCTL_NOW, else the plan's time)


@dataclass(frozen=True)
class Convergence:
    """A campaign whose recorded sent set is its contact table without the suppressed numbers (``now``),
    or will be once every action of it succeeds in full (all its contacts accepted): what ``state.base.Converged``
    markers are written from. Not shown, not saved in plan files."""

    campaign: str
    digest: str  # config.table.table_digest of the campaign's table
    settings_fingerprint: str
    now: bool
    suppression: str = ""  # engine.policy.PlanPolicy.suppression_digest: the lists that applied
    suppressed: tuple[tuple[str, int], ...] = ()  # what they kept out of the table, per list label
    warnings: tuple[tuple[str, str, int], ...] = ()  # (message, file, line) the full diff warned
    phases: tuple[tuple[str, str], ...] = ()  # task id → phase, with warnings or extra numbers
    extra: int = 0  # numbers the live tasks hold beyond the table (no call takes them out)

    @classmethod
    def of(cls, marker: Converged, now: bool) -> Convergence:
        """The convergence a campaign planned by its ``marker`` gives back."""
        return cls(marker.campaign, marker.digest, marker.settings_fingerprint, now, marker.suppression,
                   marker.suppressed, marker.warnings, marker.phases, marker.extra)

    def marker(self) -> Converged:
        """The ``state.base.Converged`` marker written for it."""
        return Converged(self.campaign, self.digest, self.settings_fingerprint, self.suppression, self.suppressed,
                         self.warnings, self.phases, self.extra)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    diagnostics: tuple[Diagnostic, ...] = ()
    campaigns: tuple[CampaignSummary, ...] = ()
    meta: PlanMeta = PlanMeta()
    notes: tuple[str, ...] = ()  # informational lines (finished campaigns, recoveries)
    # For the state's convergence markers (the diff decides, plan and apply write); not saved in plan files.
    converged: tuple[Convergence, ...] = field(default=(), compare=False)
    deferred: tuple[Deferred, ...] = ()  # what the policy defers: shown, never applied, not a change

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def applyable(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def lanes(self) -> list[Lane]:
        order: dict[tuple[str, str, int], list[Action]] = {}
        for action in self.actions:
            order.setdefault(action.lane, []).append(action)
        return [Lane(p, c, w, tuple(acts)) for (p, c, w), acts in order.items()]

    def by_campaign(self) -> Iterator[tuple[str, list[Action]]]:
        groups: dict[str, list[Action]] = {}
        for action in self.actions:
            groups.setdefault(action.campaign, []).append(action)
        yield from groups.items()

    def counts(self) -> Mapping[str, int]:
        """Vendor-call-level counts per action kind, for summaries."""
        out: dict[str, int] = {k.value: 0 for k in ActionKind}
        for action in self.actions:
            out[action.kind.value] += 1
        return out

    def digest(self) -> str:
        """Stable digest of what apply would do (reasons excluded)."""
        return digest(canonical_json([a.key() for a in self.actions]))


class StepStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # the vendor refused, or the platform was unreachable: nothing happened
    UNKNOWN = "unknown"  # outcome unknown and not resolvable by observing (direct callout)
    SKIPPED = "skipped"  # an earlier step of the lane failed


@dataclass(frozen=True)
class StepResult:
    action: Action
    status: StepStatus
    detail: str = ""
    calls: int = 0  # vendor calls actually made for this step
    done: int = 0  # contacts inserted / dialed by this step
    task_id: str = ""  # the task acted on (known after create)
    deferred: bool = False  # SKIPPED because the calling hours closed during apply: due later, not a failure


@dataclass(frozen=True)
class ApplyResult:
    steps: tuple[StepResult, ...] = ()
    recovered: tuple[str, ...] = ()  # interrupted calls settled by observing the platform
    errors: tuple[str, ...] = ()  # failures outside any step (observe, lock, ...)

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.status is StepStatus.OK or s.deferred for s in self.steps)

    def count(self, status: StepStatus) -> int:
        return sum(1 for s in self.steps if s.status is status)


class ApplyHooks:
    """No-op base for apply progress listeners (views/progress.py subclasses it)."""

    def plan_started(self, total_steps: int, total_calls: int) -> None:
        return None

    def step_started(self, action: Action) -> None:
        return None

    def calls_made(self, action: Action, calls: int) -> None:
        """``calls`` more vendor calls of ``action`` completed (batches)."""
        return None

    def step_finished(self, result: StepResult) -> None:
        return None
