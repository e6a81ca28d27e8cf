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

With ``policy.capacity`` for its profile, a running campaign also gets the
capacity forecast against its actual progress (``engine.policy.progress``):
how many numbers the forecast expects dialed by now, from when dialing
began, against the dialed count, and when the rest will be done (late when
after ``schedule.end``). Campaigns of a profile with numbers left share its
capacity, as in the plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from reconciler.engine.policy import Progress, progress
from reconciler.model import ContactRow, DesiredCampaign, DesiredState
from reconciler.providers.base import ObservedTask, Phase
from reconciler.results.outcomes import ContactOutcome, outcome_label, summarize
from reconciler.state.base import ContactStatus, ResultRecord, StateStore, TaskRecord

__all__ = ["CHUNK", "CampaignStatus", "StatusReport", "TaskStatus", "build_report", "forecast_text",
           "outcomes_by_row"]

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
    forecast: Progress | None = None  # the capacity forecast against the progress (policy.capacity)

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
    first_sent: dict[str, datetime | None] = {}  # when each campaign's first contact was sent (the forecast)
    for c in desired.campaigns:
        records = [t for t in store.tasks(c.name) if not t.deleted] if store is not None else []
        sent_rows = store.contacts(c.name) if store is not None else []
        sent = len({r.phone for r in sent_rows if r.status in (ContactStatus.SENT, ContactStatus.DIALED)})
        sent_times = [t for t in (_time(r.sent_at) for r in sent_rows
                                  if r.sent_at and r.status in (ContactStatus.SENT, ContactStatus.DIALED)) if t]
        first_sent[c.name] = min(sent_times) if sent_times else None
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
    at = now or datetime.now(UTC)
    campaigns = _with_forecasts(desired, store, campaigns, first_sent, at)
    unmatched = len(store.results("")) if store is not None else 0
    stamp = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return StatusReport(stamp, tuple(campaigns), unmatched, live=observed is None)


def _time(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _with_forecasts(desired: DesiredState, store: StateStore | None, campaigns: list[CampaignStatus],
                    first_sent: Mapping[str, datetime | None], now: datetime) -> list[CampaignStatus]:
    """The statuses with the capacity forecast against the progress, for running campaigns whose profile has
    a ``policy.capacity``."""
    policy = desired.project.policy
    if policy is None or not policy.capacity:
        return campaigns
    optouts = {r.phone for r in store.optouts()} if store is not None else set()
    by_name = {c.name: c for c in desired.campaigns}
    todo: dict[str, tuple[int, datetime | None]] = {}
    for status in campaigns:
        c = by_name[status.name]
        if c.state != "running" or c.provider not in policy.capacity:
            continue
        phones = [r.phone for r in c.contacts.rows]
        held = set(policy.suppress.labels(phones)) | (optouts & set(phones))
        total = len(phones) - len(held)
        started = first_sent.get(c.name)
        if started is not None and c.schedule.begin is not None:
            started = max(started, c.schedule.begin)
        todo[c.name] = (total, started)
    sharing: Counter[str] = Counter()
    for status in campaigns:
        done = status.sent if status.mode == "direct" else status.dialed
        if status.name in todo and todo[status.name][0] > done:
            sharing[status.profile] += 1
    out = []
    for status in campaigns:
        if status.name in todo:
            c = by_name[status.name]
            total, started = todo[status.name]
            dialed = status.sent if c.mode == "direct" else status.dialed  # a callout accepted is a dial
            status = replace(status, forecast=progress(desired.project, c, policy.capacity[c.provider], total=total,
                                                       dialed=min(dialed, total), started=started, now=now,
                                                       share=max(1, sharing[c.provider])))
        out.append(status)
    return out


def forecast_text(p: Progress) -> str:
    """One line for text and the page: expected against actual, and when the rest will be done."""
    if p.started is None:
        head = f"not started; {p.total} numbers to dial at ~{p.calls_per_hour:.0f} calls per open hour"
    else:
        if p.behind > 0:
            pace = f"{p.behind} behind"
        elif p.behind < 0:
            pace = f"{-p.behind} ahead"
        else:
            pace = "on track"
        head = (f"expected ~{p.expected} of {p.total} dialed by now at ~{p.calls_per_hour:.0f} calls per open hour "
                f"since {p.started:%Y-%m-%d %H:%M}, actual {p.dialed} ({pace})")
    fc = p.remaining
    if fc is None:
        return f"forecast: {head}; nobody left to dial"
    done = f"done around {fc.finish:%Y-%m-%d %H:%M}" if fc.finish else "not done within a year"
    late = f", after schedule.end {fc.end:%Y-%m-%d %H:%M}: late" if fc.late and fc.end else ""
    return f"forecast: {head}; the remaining {fc.contacts} (~{fc.calls} calls) {done}{late}"
