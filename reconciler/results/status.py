"""Campaign status: the files, the state, one bulk listing per profile and the results.

:func:`build_report` takes what it is given and does no vendor I/O itself:
``observed`` is one ``list_tasks`` per profile (``engine.observe``), or None
(the receiver's live page: no credentials, results only). Platform counts
come from the listing (xfyeta ``process_tel_count``/``process_through_count``
and ``remaining`` with ``show_remaining``; yccall TaskList ``called``/
``answered``/``total`` where the deployment reports them); where the listing
says nothing, the results stand in (contacts with a call record, answered).
Outcome and intention breakdowns count contacts by their result
(``outcomes.summarize``), read in chunks of phones so a big campaign never
loads at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.model import ContactRow, DesiredCampaign, DesiredState
from reconciler.providers.base import ObservedTask, Phase
from reconciler.results.outcomes import ContactOutcome, outcome_label, summarize
from reconciler.state.base import ContactStatus, ResultRecord, StateStore, TaskRecord

__all__ = ["CHUNK", "CampaignStatus", "StatusReport", "TaskStatus", "build_report", "outcomes_by_row"]

CHUNK = 500  # contact rows per results read


@dataclass(frozen=True)
class TaskStatus:
    """One remote task of a campaign as the listing shows it (None: the listing does not say)."""

    task_id: str
    wave: int
    phase: str  # a Phase value, or "unknown" when the profile could not be listed
    status: int | None = None  # the vendor's raw status code
    contacts: int | None = None
    dialed: int | None = None
    answered: int | None = None
    remaining: int | None = None


@dataclass(frozen=True)
class CampaignStatus:
    name: str
    profile: str
    provider_type: str
    mode: str
    desired: str  # running | paused | absent
    phase: str  # the campaign's phase across its tasks (not-started/running/paused/finished/absent/direct/unknown)
    contacts: int  # rows in the files
    sent: int  # contacts the state records as sent or dialed
    dialed: int  # numbers called (listing, else contacts with a result)
    answered: int
    remaining: int | None  # numbers still to be called (None: unknown)
    with_results: int  # contact rows that have a result
    results_answered: int
    outcomes: Mapping[str, int] = field(default_factory=dict)
    intentions: Mapping[str, int] = field(default_factory=dict)
    tasks: tuple[TaskStatus, ...] = ()
    source: str = "results"  # where dialed/answered came from: "listing" or "results"
    schedule_end: str = ""  # ISO time the campaign must be done by ("" when none)
    error: str = ""  # why the platform numbers are missing

    @property
    def connect_rate(self) -> float | None:
        return self.answered / self.dialed if self.dialed else None


@dataclass(frozen=True)
class StatusReport:
    generated_at: str
    campaigns: tuple[CampaignStatus, ...]
    unmatched: int  # pushes that matched no contact row (kept, reported)
    live: bool = False  # from the receiver: results only, no listing


def outcomes_by_row(campaign: DesiredCampaign, store: StateStore | None,
                    chunk: int = CHUNK) -> Iterator[tuple[ContactRow, ContactOutcome]]:
    """Every contact row of the campaign, in file order, with its outcome (streamed in chunks)."""
    rows = campaign.contacts.rows
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        found: dict[str, list[ResultRecord]] = {}
        if store is not None:
            for r in store.results(campaign.name, phones=[row.phone for row in batch]):
                found.setdefault(r.phone, []).append(r)
        for row in batch:
            yield row, summarize(found.get(row.phone, ()))


def _phase(tasks: Sequence[TaskStatus], mode: str) -> str:
    if mode == "direct":
        return "direct"
    phases = {t.phase for t in tasks}
    for phase in ("unknown", Phase.RUNNING.value, Phase.PAUSED.value, Phase.NOT_STARTED.value,
                  Phase.FINISHED.value):
        if phase in phases:
            return phase
    return Phase.ABSENT.value


def _task_status(record: TaskRecord, listed: ObservedTask | None, listing_ok: bool) -> TaskStatus:
    if listed is None:
        return TaskStatus(record.task_id, record.wave, Phase.ABSENT.value if listing_ok else "unknown")
    remaining = listed.raw.get("remaining")
    if not isinstance(remaining, int) or isinstance(remaining, bool):
        remaining = None
        if listed.contact_count is not None and listed.called is not None:
            remaining = max(0, listed.contact_count - listed.called) if listed.phase is not Phase.FINISHED else 0
    return TaskStatus(record.task_id, record.wave, listed.phase.value, listed.status, listed.contact_count,
                      listed.called, listed.answered, remaining)


def _sum(values: Sequence[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(v for v in values if v is not None)


def build_report(desired: DesiredState, store: StateStore | None,
                 observed: Mapping[str, Sequence[ObservedTask]] | None = None,
                 errors: Mapping[str, str] | None = None, *, now: datetime | None = None) -> StatusReport:
    """The status of every campaign in the files (see the module docstring)."""
    errors = errors or {}
    listed: dict[tuple[str, str], ObservedTask] = {}
    for profile, listing in (observed or {}).items():
        for t in listing:
            listed[(profile, t.task_id)] = t
    if store is not None:
        store.rejoin_results()
    campaigns: list[CampaignStatus] = []
    for c in desired.campaigns:
        records = [t for t in store.tasks(c.name) if not t.deleted] if store is not None else []
        sent_rows = store.contacts(c.name) if store is not None else []
        sent = len({r.phone for r in sent_rows if r.status in (ContactStatus.SENT, ContactStatus.DIALED)})
        listing_ok = observed is not None and c.provider in observed
        tasks = tuple(_task_status(t, listed.get((c.provider, t.task_id)), listing_ok) for t in records)
        outcomes: Counter[str] = Counter()
        intentions: Counter[str] = Counter()
        with_results = answered_results = 0
        for _, outcome in outcomes_by_row(c, store):
            if not outcome.dialed:
                continue
            with_results += 1
            outcomes[outcome_label(outcome)] += 1
            if outcome.answered:
                answered_results += 1
            if outcome.intention:
                intentions[outcome.intention] += 1
        live = [t for t in tasks if t.phase not in (Phase.ABSENT.value, "unknown")]
        dialed_listed = _sum([t.dialed for t in live])
        answered_listed = _sum([t.answered for t in live])
        use_listing = c.mode == "task" and bool(live) and dialed_listed is not None and answered_listed is not None
        dialed = dialed_listed if use_listing and dialed_listed is not None else with_results
        answered = answered_listed if use_listing and answered_listed is not None else answered_results
        remaining = _sum([t.remaining for t in live]) if use_listing else None
        if remaining is None and c.mode == "direct":
            remaining = max(0, len(c.contacts.rows) - sent)
        error = errors.get(c.provider, "") if observed is not None else ""
        campaigns.append(CampaignStatus(
            name=c.name, profile=c.provider, provider_type=c.provider_type, mode=c.mode, desired=c.state,
            phase=_phase(tasks, c.mode) if (listing_ok or not tasks or c.mode == "direct") else "unknown",
            contacts=len(c.contacts.rows), sent=sent, dialed=dialed, answered=answered, remaining=remaining,
            with_results=with_results, results_answered=answered_results,
            outcomes=dict(outcomes.most_common()), intentions=dict(sorted(intentions.items())), tasks=tasks,
            source="listing" if use_listing else "results",
            schedule_end=c.schedule.end.isoformat() if c.schedule.end else "", error=error,
        ))
    unmatched = len(store.results("")) if store is not None else 0
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    return StatusReport(stamp, tuple(campaigns), unmatched, live=observed is None)
