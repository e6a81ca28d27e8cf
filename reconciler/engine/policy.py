"""The dialing policy's rules, pure: functions of the files, the state snapshot and ``now``.

``diff`` asks one :class:`PlanPolicy` (made per plan) what the policy allows
for each campaign, and the applier asks :func:`dial_closed` again before each
batch. Nothing here does I/O or reads a clock.

* **Calling hours and blackout dates** (:class:`Calendar`): a task cannot know
  weekdays or holidays (and yccall has no windows at all), so while the policy
  allows no calls the plan pauses running tasks (``~ pause``, "outside calling
  hours (policy)") and defers starts; inside the hours it starts them again.
  A direct callout dials only inside its own ``schedule`` (windows, begin,
  end) and the policy; otherwise its dial is deferred to the next opening.
* **Suppression**: numbers of the ``suppress:`` sources and the opt-out list
  are never sent. One already queued in a started task is removed where the
  platform can (the diff treats it like a contact that left the files) and
  warned about where it cannot.
* **Frequency caps** (``max_dials``): a number sent or dialed ``count`` times
  in the last ``days`` days by *other* campaigns (each call attempt the
  results show counts; the campaign's own history is the redial gate's) —
  counting what earlier campaigns of the same plan are about to send — is
  held back until the cap allows, deferred with that date.
* **Forecast** (:func:`forecast`): from the profile's capacity and the open
  hours, when the campaign will have dialed everyone, recall rounds included.
* **Opt-outs from results** (:func:`optout_reason`): whether a call result
  means "do not call me again".

Phone numbers never appear in any text made here.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reconciler.config.table import campaign_digest
from reconciler.engine.inputs import Recorded
from reconciler.engine.plan import Action, ActionKind, CampaignSummary, Deferred, Diagnostic, Forecast, Plan
from reconciler.model import DesiredCampaign, DesiredState, Project, digest
from reconciler.policy import (
    OPT_OUT_LABEL,
    Capacity,
    FrequencyCap,
    OptOutRules,
    Policy,
    Window,
    clock_text,
)
from reconciler.state.base import ContactRecord, ContactStatus

__all__ = [
    "CLOSING",
    "HORIZON_DAYS",
    "OUTSIDE_HOURS",
    "Calendar",
    "PlanPolicy",
    "Progress",
    "calendar_for",
    "capped",
    "dial_closed",
    "forecast",
    "optout_reason",
    "policy_hold",
    "progress",
    "when_text",
]

HORIZON_DAYS = 400  # how far ahead an opening or a forecast is looked for
OUTSIDE_HOURS = "outside calling hours (policy)"
BLACKOUT = "a blackout date (policy)"
OUTSIDE_WINDOWS = "outside the campaign's schedule.windows"
BEFORE_BEGIN = "before schedule.begin"
AFTER_END = "schedule.end has passed"
CLOSING = "the calling hours or the campaign's windows close within the profile's callout_margin"
HOLD_REASONS = (OUTSIDE_HOURS, BLACKOUT)  # why the policy pauses a running task (policy_hold)
SENDING = (ActionKind.CREATE, ActionKind.INSERT, ActionKind.DIAL)
COUNTED = (ContactStatus.SENT, ContactStatus.DIALED, ContactStatus.UNKNOWN, ContactStatus.REMOVED)
#: Numbers a plan reads the frequency-cap history of, one query per batch, before it reads every number's at once.
SCOPED_HISTORY = 10_000

Interval = tuple[datetime, datetime]


def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _at(day: date, seconds: int, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(seconds=seconds)


def _daily(start: datetime, stop: datetime, tz: zoneinfo.ZoneInfo,
           windows_of: Any) -> Iterator[Interval]:
    """Intervals ``windows_of(day)`` gives for each local day of ``tz`` touching [start, stop), in order (UTC)."""
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = stop.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        for s, e in windows_of(day):
            a, b = _at(day, s, tz).astimezone(UTC), _at(day, e, tz).astimezone(UTC)
            if b > start and a < stop:
                yield max(a, start), min(b, stop)
        day += timedelta(days=1)


def _intersect(a: Iterator[Interval], b: Iterator[Interval]) -> Iterator[Interval]:
    x, y = next(a, None), next(b, None)
    while x is not None and y is not None:
        s, e = max(x[0], y[0]), min(x[1], y[1])
        if s < e:
            yield s, e
        if x[1] <= y[1]:
            x = next(a, None)
        else:
            y = next(b, None)


@dataclass(frozen=True)
class Calendar:
    """When dialing is allowed: the policy's hours minus blackout dates, within the campaign's windows and
    [begin, end). ``policy`` None and no windows: always. ``margin``: each opening ends that many seconds
    early (a direct callout's batch must be sent while it still has that long to ring before the close)."""

    policy: Policy | None = None
    windows: tuple[Window, ...] = ()  # daily windows, read in ``window_tz``; () = no limit
    window_tz: str = "Asia/Shanghai"
    begin: datetime | None = None
    end: datetime | None = None
    margin: float = 0.0

    def _policy_windows(self, day: date) -> Sequence[Window]:
        p = self.policy
        if p is None:
            return ((0, 86400),)
        if day in p.blackout:
            return ()
        return p.hours.on(day.weekday()) if p.hours is not None else ((0, 86400),)

    def _campaign_windows(self, day: date) -> Sequence[Window]:
        return self.windows

    def intervals(self, start: datetime, stop: datetime) -> Iterator[Interval]:
        """The open intervals within [start, stop), in order (UTC), each ending ``margin`` early."""
        if not self.margin:
            yield from self._intervals(start, stop)
            return
        # read ``margin`` past ``stop``: an opening cut off there is not closing, one that ends sooner is
        margin = timedelta(seconds=self.margin)
        for s, e in self._intervals(start, stop + margin):
            e = min(e - margin, stop)
            if s < e:
                yield s, e

    def _intervals(self, start: datetime, stop: datetime) -> Iterator[Interval]:
        lo = max(start, self.begin) if self.begin is not None else start
        hi = min(stop, self.end) if self.end is not None else stop
        if lo >= hi:
            return
        tz = _zone(self.policy.timezone) if self.policy is not None else _zone(self.window_tz)
        found = _daily(lo, hi, tz, self._policy_windows)
        if self.windows:
            found = _intersect(found, _daily(lo, hi, _zone(self.window_tz), self._campaign_windows))
        # adjacent days (23:00-24:00 then 00:00-...) run into one interval
        pending: Interval | None = None
        for s, e in found:
            if pending is not None and s <= pending[1]:
                pending = (pending[0], max(pending[1], e))
                continue
            if pending is not None:
                yield pending
            pending = (s, e)
        if pending is not None:
            yield pending

    def why_closed(self, at: datetime) -> str:
        """Why nobody may be dialed at ``at`` ("" when dialing is allowed)."""
        if self.begin is not None and at < self.begin:
            return BEFORE_BEGIN
        if self.end is not None and at >= self.end:
            return AFTER_END
        p = self.policy
        if p is not None:
            local = at.astimezone(_zone(p.timezone))
            if local.date() in p.blackout:
                return BLACKOUT
            if p.hours is not None:
                t = local.hour * 3600 + local.minute * 60 + local.second
                if not any(s <= t < e for s, e in p.hours.on(local.weekday())):
                    return OUTSIDE_HOURS
        if self.windows:
            local = at.astimezone(_zone(self.window_tz))
            t = local.hour * 3600 + local.minute * 60 + local.second
            if not any(s <= t < e for s, e in self.windows):
                return OUTSIDE_WINDOWS
        if self.margin and next(self.intervals(at, at + timedelta(seconds=1)), (None,))[0] != at:
            return CLOSING
        return ""

    def next_open(self, at: datetime, horizon_days: int = HORIZON_DAYS) -> datetime | None:
        """``at`` when open, else the start of the next opening (None: none within the horizon)."""
        for s, _ in self.intervals(at, at + timedelta(days=horizon_days)):
            return s
        return None


def _window_seconds(c: DesiredCampaign) -> tuple[Window, ...]:
    out = []
    for w in c.schedule.windows:
        s = w.start.hour * 3600 + w.start.minute * 60 + w.start.second
        e = w.end.hour * 3600 + w.end.minute * 60 + w.end.second
        out.append((s, 86400 if e == 86399 else e))
    return tuple(out)


def _profile_tz(project: Project, c: DesiredCampaign) -> str:
    profile = project.providers.get(c.provider)
    tz = profile.options.get("timezone") if profile is not None else None
    return tz if isinstance(tz, str) else project.timezone


def calendar_for(project: Project, c: DesiredCampaign, *, own_schedule: bool) -> Calendar:
    """The campaign's calendar: the effective policy, and with ``own_schedule`` its windows, begin and end
    (what campaignctl itself enforces for a direct callout, and what a forecast counts on)."""
    policy = project.policy.effective(c.policy) if project.policy is not None else None
    if policy is None and c.policy is not None:
        policy = Policy(timezone=project.timezone).effective(c.policy)
    if not own_schedule:
        return Calendar(policy, window_tz=_profile_tz(project, c))
    return Calendar(policy, _window_seconds(c), _profile_tz(project, c), c.schedule.begin, c.schedule.end,
                    _callout_margin(project, c))


def _callout_margin(project: Project, c: DesiredCampaign) -> float:
    """The profile's ``callout_margin`` for a direct campaign (0 otherwise: a task's windows are the vendor's)."""
    profile = project.providers.get(c.provider)
    value = profile.options.get("callout_margin") if profile is not None and c.mode == "direct" else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0.0


def dial_closed(project: Project, c: DesiredCampaign, at: datetime) -> str:
    """Why a batch of ``c`` may not be sent at ``at`` ("" = send it): the applier's per-batch check.

    Direct callouts: the campaign's schedule and the policy. Tasks (a start):
    the policy only (the platform keeps the task inside its own windows).
    """
    return calendar_for(project, c, own_schedule=c.mode == "direct").why_closed(at)


def when_text(at: datetime | None, now: datetime, tz: str | None = None) -> str:
    """``09:00 Tue`` within a week, ``2027-03-09 09:00 Tue`` later, ``not within a year`` for None
    (in ``tz``, default ``at``'s own timezone)."""
    if at is None:
        return "not within a year"
    local = at.astimezone(_zone(tz)) if tz else at
    text = f"{clock_text(local.hour * 3600 + local.minute * 60 + local.second)} {local:%a}"
    if at - now >= timedelta(days=6) or at < now:
        text = f"{local:%Y-%m-%d} {text}"
    return text


# --- per plan ---------------------------------------------------------------------------------


@dataclass
class _Facts:
    """What the policy did to one campaign in this plan."""

    suppressed: dict[str, int] = field(default_factory=dict)  # label → count
    held: int = 0
    eligible: int = 0  # contacts the policy lets be called at all (in the files, not suppressed)


def policy_hold(action: Action) -> bool:
    """A PAUSE the policy plans for a running task while it allows no calls (outside the hours, a blackout
    date): it only stops dialing, so ``watch`` applies it by itself."""
    return action.kind is ActionKind.PAUSE and action.reason in HOLD_REASONS and bool(action.task_id)


def shared_numbers(desired: DesiredState) -> frozenset[str] | None:
    """The numbers in more than one table of the campaigns that may send (``DesiredCampaign.may_send``),
    when the load found them for exactly these tables (``DesiredState.shared``); else None."""
    fact = desired.shared
    if fact is None:
        return None
    for c in desired.campaigns:
        if c.may_send and fact.tables.get(c.name) != campaign_digest(c):
            return None
    return fact.numbers


def capped(desired: DesiredState) -> bool:
    """Whether a frequency cap binds any campaign (then the plan needs the dial history: ``Recorded.dials``)."""
    policy = desired.project.policy
    return policy is not None and policy.caps_any(c.policy for c in desired.campaigns)


class PlanPolicy:
    """The policy's decisions for one plan, asked by ``diff`` campaign by campaign.

    It collects the deferred entries and per-campaign facts; :meth:`finish`
    decorates the summaries (counts, forecast) and adds the forecast warnings.
    """

    def __init__(self, desired: DesiredState, recorded: Recorded, now: datetime) -> None:
        self.project = desired.project
        self.policy = desired.project.policy
        self.now = now
        self.optouts = recorded.optouts
        self.deferred: list[Deferred] = []
        self.facts: dict[str, _Facts] = {}
        self._closed: dict[str, tuple[str, datetime | None]] = {}
        self._events: dict[str, list[tuple[str, datetime]]] = {}  # the numbers with any, of those read (or all)
        self._events_all = False  # every number's history is in ``_events``
        self._read: set[str] = set()  # the numbers whose history was read (one query per batch)
        self._recorded = recorded
        # phone → the first campaign sending it in this plan; the campaigns sending it after, when any
        self._planned: dict[str, str] = {}
        self._planned_more: dict[str, list[str]] = {}
        self._capped = capped(desired)
        # The numbers another campaign of this plan may send too (None: any may be): only these need
        # ``_planned``, as a number in one table alone is sent by its own campaign only.
        self._shared = shared_numbers(desired) if self._capped else None
        self._suppression: str | None = None

    def _tz(self) -> str:
        return self.policy.timezone if self.policy is not None else self.project.timezone

    def _fact(self, c: DesiredCampaign) -> _Facts:
        return self.facts.setdefault(c.name, _Facts())

    # --- suppression ----------------------------------------------------------------

    def suppress(self, c: DesiredCampaign, index: dict[str, int]) -> dict[str, int]:
        """``index`` (phone → row position) without the suppressed numbers; counts them per source."""
        labels: dict[str, str] = {}
        if self.policy is not None and self.policy.suppress:
            labels = self.policy.suppress.labels(index)
        if self.optouts:
            small, big = (self.optouts, index) if len(self.optouts) < len(index) else (index, self.optouts)
            for phone in small:
                if phone in big and phone not in labels:
                    labels[phone] = OPT_OUT_LABEL
        fact = self._fact(c)
        for label in labels.values():
            fact.suppressed[label] = fact.suppressed.get(label, 0) + 1
        fact.eligible = len(index) - len(labels)
        if not labels:
            return index
        return {p: i for p, i in index.items() if p not in labels}

    def suppresses(self) -> bool:
        """Whether any number may be suppressed in this plan (a do-not-call list or an opt-out)."""
        return bool((self.policy is not None and self.policy.suppress) or self.optouts)

    def suppression_digest(self) -> str:
        """What a convergence marker written now is valid for: "" while nothing is suppressed, else a
        digest of every do-not-call entry (with its list's label) and every number on the opt-out list.
        Another list, another entry or another label: another digest, so every marker is void."""
        if self._suppression is None:
            self._suppression = ""
            if self.suppresses():
                lists = self.policy.suppress.fingerprint if self.policy is not None else ""
                text = "\n".join([lists, *sorted(self.optouts)])
                self._suppression = digest(text)
        return self._suppression

    def suppressed_of(self, c: DesiredCampaign) -> tuple[tuple[str, int], ...]:
        """What :meth:`suppress` kept out of the campaign's table, per list label (for its marker)."""
        return tuple(sorted(self._fact(c).suppressed.items()))

    def as_marked(self, c: DesiredCampaign, contacts: int, suppressed: Sequence[tuple[str, int]]) -> None:
        """:meth:`suppress` of a converged campaign's table of ``contacts`` rows, its rows unread: what its
        marker says the same lists kept out of the same table."""
        fact = self._fact(c)
        fact.suppressed = dict(suppressed)
        fact.eligible = contacts - sum(fact.suppressed.values())

    def removal_reason(self, gone: Sequence[str], c: DesiredCampaign) -> tuple[int, int]:
        """(left the files, suppressed) among contacts no longer wanted in a task."""
        sup = 0
        if (self.policy is not None and self.policy.suppress) or self.optouts:
            for p in gone:
                if p in self.optouts or (self.policy is not None and self.policy.suppress.label(p) is not None):
                    sup += 1
        return len(gone) - sup, sup

    # --- calling hours ------------------------------------------------------------------

    def closed(self, c: DesiredCampaign) -> tuple[str, datetime | None]:
        """For a task campaign: (why the policy allows no calls now, when it opens next); ("", None) when open."""
        if c.name not in self._closed:
            cal = calendar_for(self.project, c, own_schedule=False)
            why = cal.why_closed(self.now) if cal.policy is not None else ""
            self._closed[c.name] = (why, cal.next_open(self.now) if why else None)
        return self._closed[c.name]

    def hold_task(self, c: DesiredCampaign, wave: int, remote_name: str, task_id: str, running: bool,
                  startable: bool) -> list[Action]:
        """While the policy allows no calls: a PAUSE for a running task (put before anything else of its lane);
        a deferred start for one that would start. Empty (and nothing deferred) when the hours are open."""
        why, opens = self.closed(c)
        if not why or c.state != "running":
            return []
        if running:
            return [Action(ActionKind.PAUSE, c.name, c.provider, wave, remote_name, why, task_id=task_id)]
        if startable:
            self._defer(c, ActionKind.START, 0, opens, why, wave, remote_name, task_id)
        return []

    def start(self, c: DesiredCampaign, action: Action) -> list[Action]:
        """A START the plan makes for a new task: kept when the hours are open, else deferred."""
        why, opens = self.closed(c)
        if not why:
            return [action]
        self._defer(c, ActionKind.START, 0, opens, why, action.wave, action.remote_name, action.task_id)
        return []

    def _defer(self, c: DesiredCampaign, kind: ActionKind, contacts: int, at: datetime | None, why: str,
               wave: int = 0, remote_name: str = "", task_id: str = "") -> None:
        local = at.astimezone(_zone(self._tz())) if at is not None else None  # shown in the policy's timezone
        self.deferred.append(Deferred(kind, c.name, c.provider, contacts, local, why, wave, remote_name, task_id))

    # --- direct callouts -------------------------------------------------------------------

    def direct(self, c: DesiredCampaign, todo: list[str]) -> tuple[list[str], str]:
        """The contacts a direct campaign may dial now (the rest deferred); and a warning, if any."""
        todo = self.cap(c, todo)
        if not todo:
            return [], ""
        cal = calendar_for(self.project, c, own_schedule=True)
        why = cal.why_closed(self.now)
        if not why:
            return todo, ""
        if why == AFTER_END:
            return [], (f"{len(todo)} contacts were never dialed and schedule.end has passed: they will not be "
                        "dialed (move schedule.end to dial them)")
        self._defer(c, ActionKind.DIAL, len(todo), cal.next_open(self.now), why, 0, c.name)
        return [], ""

    # --- frequency caps ------------------------------------------------------------------

    def _history(self, phones: Sequence[str]) -> Mapping[str, list[tuple[str, datetime]]]:
        """Phone → (campaign, when) of every send or dial the state records, for ``phones`` at least.

        Where the results received show calls to a contact (``Recorded.dials``: one per dial attempt,
        recall rounds included), those count instead of its one send; a contact sent but not dialed yet
        counts as its send; calls of a contact row forgotten since still count. Read for the numbers
        asked about, until more than :data:`SCOPED_HISTORY` were asked: then once for every number (a
        plan sending that many would otherwise query the state for each batch).
        """
        if self._events_all:
            return self._events
        missing = [p for p in dict.fromkeys(phones) if p not in self._read]
        if not missing:
            return self._events
        self._read.update(missing)
        if len(self._read) > SCOPED_HISTORY:
            dials: Mapping[str, tuple[tuple[str, datetime], ...]] = self._recorded.dials
            sends: Iterable[tuple[str, ContactRecord]] = (
                (name, r) for name, records in self._recorded.contacts.items() for r in records)
            self._events, self._events_all = {}, True
        else:
            dials = self._recorded.dials_of(missing)
            sends = self._recorded.sends_of(missing)
        events = self._events
        for phone, calls in dials.items():
            events.setdefault(phone, []).extend(calls)
        for name, r in sends:
            if r.status not in COUNTED or not r.sent_at:
                continue
            if any(n == name for n, _ in dials.get(r.phone, ())):
                continue  # its calls are counted
            try:
                at = datetime.fromisoformat(r.sent_at.replace("Z", "+00:00"))
            except ValueError:
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            events.setdefault(r.phone, []).append((name, at))
        return events

    def cap(self, c: DesiredCampaign, phones: list[str]) -> list[str]:
        """``phones`` without those a frequency cap holds back now (counted and deferred with the date)."""
        caps = self.policy.caps(c.policy) if self.policy is not None else ()
        if not caps or not phones:
            return phones
        history = self._history(phones)
        # the numbers with any send, dial or planned send (C-level: most numbers of a large table have none)
        planned = self._planned
        busy = ((history.keys() & phones) if history else set()) | ((planned.keys() & phones) if planned else set())
        held: set[str] = set()
        free: list[datetime] = []
        bound: FrequencyCap | None = None
        for phone in [p for p in phones if p in busy] if busy else []:  # in order: the reason names the last bound
            seen = [at for name, at in history.get(phone, ()) if name != c.name]
            seen += [self.now for name in self._planned_by(phone) if name != c.name]
            until: datetime | None = None
            for cap in caps:
                recent = sorted(at for at in seen if at > self.now - timedelta(days=cap.days))
                if len(recent) >= cap.count:
                    ends = recent[len(recent) - cap.count] + timedelta(days=cap.days)
                    if until is None or ends > until:
                        until, bound = ends, cap
            if until is not None:
                held.add(phone)
                free.append(until)
        keep = [p for p in phones if p not in held] if held else phones
        if free:
            self._fact(c).held += len(free)
            assert bound is not None
            when = min(free)
            cal = calendar_for(self.project, c, own_schedule=c.mode == "direct")
            opens = cal.next_open(when)
            kind = ActionKind.DIAL if c.mode == "direct" else ActionKind.INSERT
            self._defer(c, kind, len(free), opens, f"max_dials {bound.describe()} across campaigns (policy): "
                        "already called that often; the first may be called again then")
        return keep

    def note_planned(self, c: DesiredCampaign, actions: Iterable[Action]) -> None:
        """What ``c`` sends in this plan counts for the caps of the campaigns planned after it."""
        if not self._capped:
            return
        shared = self._shared
        if shared is not None and not shared:
            return  # no number is in two tables: no other campaign's cap asks for these
        planned = self._planned
        for a in actions:
            if a.kind in SENDING:
                phones = a.phones if shared is None else shared.intersection(a.phones)
                again = planned.keys() & phones  # planned by a campaign before (or another action)
                for p in again:
                    self._planned_more.setdefault(p, []).append(c.name)
                planned.update(dict.fromkeys((p for p in phones if p not in again) if again else phones, c.name))

    def _planned_by(self, phone: str) -> list[str]:
        """The campaigns of this plan sending ``phone`` so far (one entry per send)."""
        first = self._planned.get(phone)
        return [] if first is None else [first, *self._planned_more.get(phone, ())]

    # --- the end: summaries and the forecast ----------------------------------------------

    def finish(self, desired: DesiredState, summaries: Sequence[CampaignSummary],
               diags: list[Diagnostic]) -> tuple[CampaignSummary, ...]:
        """Summaries with the policy's counts and the forecast; forecast warnings added to ``diags``.

        A campaign with an error keeps no deferred entries: nothing of it is planned.
        """
        refused = {d.campaign for d in diags if d.severity == "error"}
        self.deferred = [d for d in self.deferred if d.campaign not in refused]
        by_name = {c.name: c for c in desired.campaigns}
        todo: dict[str, int] = {}
        for s in summaries:
            c = by_name.get(s.name)
            if c is None or c.state != "running":
                continue
            fact = self.facts.get(s.name)
            eligible = fact.eligible if fact is not None else s.contacts
            done = s.sent if c.mode == "direct" else (s.called or 0)
            todo[s.name] = max(0, eligible - done)
        sharing: dict[str, int] = {}
        for name, n in todo.items():
            if n:
                sharing[by_name[name].provider] = sharing.get(by_name[name].provider, 0) + 1
        out: list[CampaignSummary] = []
        for s in summaries:
            fact = self.facts.get(s.name)
            if fact is not None:
                s = replace(s, suppressed=sum(fact.suppressed.values()),
                            suppressed_by=tuple(sorted(fact.suppressed.items())), held=fact.held)
            c = by_name.get(s.name)
            capacity = self.policy.capacity.get(s.profile) if self.policy is not None else None
            if c is not None and capacity is not None and todo.get(s.name):
                fc = forecast(self.project, c, capacity, todo[s.name], self.now,
                              share=max(1, sharing.get(c.provider, 1)))
                tz = _zone(self._tz())
                fc = replace(fc, start=fc.start.astimezone(tz), finish=fc.finish.astimezone(tz) if fc.finish else None)
                s = replace(s, forecast=fc)
                if fc.late:
                    diags.append(Diagnostic("warning", c.name, late_message(fc, c, self._tz()),
                                            c.mark.file, c.mark.line))
            out.append(s)
        return tuple(out)


def late_message(fc: Forecast, c: DesiredCampaign, tz: str) -> str:
    end = fc.end.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M") if fc.end else "?"
    rounds = f" with {c.recall.count} recall round{'s' if c.recall.count != 1 else ''}" if c.recall.count else ""
    if fc.finish is None:
        until = "not done within a year"
    else:
        until = f"done around {fc.finish.astimezone(_zone(tz)):%Y-%m-%d %H:%M}"
    return (f"forecast: {fc.contacts} contacts (~{fc.calls} calls{rounds}) at ~{fc.calls_per_hour:.0f} calls per "
            f"open hour take ~{fc.hours:.1f} open hours, {until}, after schedule.end {end}: raise the "
            "capacity, widen the windows or move schedule.end")


# --- forecast -------------------------------------------------------------------------------


def _rounds(c: DesiredCampaign, n: int, answer_rate: float) -> list[float]:
    """Expected calls per round: the first round dials everyone, recall rounds the unanswered (or all)."""
    rounds = [float(n)]
    if c.mode == "direct":
        return rounds
    for _ in range(c.recall.count):
        rounds.append(float(n) if c.recall.mode == "all" else rounds[-1] * (1 - answer_rate))
    return rounds


def _calls_per_hour(c: DesiredCampaign, capacity: Capacity, share: int) -> float:
    """``c``'s share of its profile's capacity, capped by its own concurrency setting."""
    concurrent = capacity.concurrent_calls / max(1, share)
    own = c.vendor.settings().get("concurrency") if c.vendor is not None else None
    if isinstance(own, int) and not isinstance(own, bool) and own > 0:
        concurrent = min(concurrent, own)
    return concurrent * 3600.0 / capacity.average_call_seconds


def forecast(project: Project, c: DesiredCampaign, capacity: Capacity, contacts: int, now: datetime,
             *, share: int = 1) -> Forecast:
    """When ``c`` will have dialed ``contacts`` (recall rounds included) at its share of ``capacity``.

    Rounds run one after another inside the campaign's open hours (policy,
    windows, from schedule.begin); a recall round starts no sooner than
    ``recall.wait`` after the round before it began. Campaigns of a profile
    running at once share its capacity evenly (``share``); a campaign's own
    concurrency setting (its vendor block's ``concurrency``, e.g. yccall's)
    caps its own.
    """
    rate = _calls_per_hour(c, capacity, share)
    rounds = _rounds(c, contacts, capacity.answer_rate)
    calls = sum(rounds)
    cal = calendar_for(project, c, own_schedule=True)
    cal = replace(cal, end=None)  # the forecast looks past the end, to say how late
    start = max(now, c.schedule.begin) if c.schedule.begin is not None else now
    cursor = start
    finish: datetime | None = cursor if calls == 0 else None
    horizon = start + timedelta(days=HORIZON_DAYS)
    for i, round_calls in enumerate(rounds):
        if round_calls <= 0:
            continue
        began = cursor
        need = round_calls / rate * 3600.0  # open seconds
        finish = None
        for s, e in cal.intervals(cursor, horizon):
            span = (e - s).total_seconds()
            if span >= need:
                finish = s + timedelta(seconds=need)
                break
            need -= span
        if finish is None:
            break
        cursor = finish
        if i + 1 < len(rounds) and c.recall.wait:
            cursor = max(cursor, began + timedelta(seconds=c.recall.wait))
    end = c.schedule.end
    late = end is not None and (finish is None or finish > end)
    return Forecast(contacts, math.ceil(calls), rate, calls / rate if rate else math.inf, start, finish, end, late)


# --- opt-outs from call results ---------------------------------------------------------------

_NUMBER = re.compile(r"\+?\d{5,}")
_TAG_KEYS = ("tag_name", "tag_desc", "tag_max", "intention", "intention_desc", "intention_tag", "intent", "tag",
             "tags", "label", "labels", "remark", "disposition", "customer_intention", "result_desc",
             "task_result_desc", "outcome_desc")
_OUTCOME_KEYS = ("outcome", "result", "result_code", "task_result", "status", "disposition", "hangupcause",
                 "call_result")


def _texts(value: Any, keys: tuple[str, ...], depth: int = 0) -> Iterator[tuple[str, str]]:
    """(key, text) of every value under one of ``keys``, searching nested mappings and lists."""
    if depth > 4:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in keys:
                if isinstance(v, str | int) and not isinstance(v, bool):
                    yield k, str(v)
                elif isinstance(v, list):
                    for item in v:
                        if isinstance(item, str | int) and not isinstance(item, bool):
                            yield k, str(item)
            if isinstance(v, Mapping | list):
                yield from _texts(v, keys, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item, keys, depth + 1)


def optout_reason(result: Any, rules: OptOutRules | None = None) -> str | None:
    """Why a call result means "do not call me again" (the number goes on the opt-out list), or None.

    ``result`` is a vendor push as received (a mapping: xfyeta
    ``receiveCallRecord`` / ``receiveDialog`` bodies, yccall call-record
    callbacks) or an object with those fields (a stored result record with its
    ``body``, a call outcome with ``intention`` / ``result_code``); nested
    mappings and lists are searched. It matches when an intention tag or
    outcome text (``tag_name``, ``intention``, ``dialog[].tag_name``,
    ``remark``, ...) contains one of ``rules.keywords`` (case-insensitive), or
    an outcome code (``outcome``, ``result``, ``task_result``, ``hangupcause``,
    ...) equals one of ``rules.outcomes``. The reason names the field and the
    matched word, never the number.
    """
    rules = rules or OptOutRules()
    if not rules.enabled:
        return None
    if not isinstance(result, Mapping):
        result = {k: v for k, v in vars(result).items()} if hasattr(result, "__dict__") else {}
    keywords = [(k, k.casefold()) for k in rules.keywords]
    for key, text in _texts(result, _TAG_KEYS):
        folded = text.casefold()
        for word, fword in keywords:
            if fword and fword in folded:
                return f"call result {key} {_NUMBER.sub('<number>', text)[:80]!r} matches {word!r}"
    outcomes = {o.strip().casefold(): o for o in rules.outcomes}
    for key, text in _texts(result, _OUTCOME_KEYS):
        hit = outcomes.get(text.strip().casefold())
        if hit is not None:
            return f"call result {key} {_NUMBER.sub('<number>', text)[:80]!r} is a do-not-call outcome"
    return None


@dataclass(frozen=True)
class Progress:
    """The capacity forecast against what was dialed so far (``campaignctl status``); an estimate.

    ``expected``: numbers the forecast expects dialed (at least once) by now, at ``calls_per_hour`` in the
    open hours since ``started`` (when dialing began: ``schedule.begin``, or the first send when later;
    None: nothing sent yet); ``dialed``: numbers actually dialed; ``total``: numbers to dial (the files
    without suppressed ones); ``remaining``: the forecast for those not dialed yet, from now (None: none).
    """

    calls_per_hour: float
    started: datetime | None
    expected: int
    dialed: int
    total: int
    remaining: Forecast | None

    @property
    def behind(self) -> int:
        """Numbers dialed fewer than expected (negative: ahead of the forecast)."""
        return self.expected - self.dialed


def progress(project: Project, c: DesiredCampaign, capacity: Capacity, *, total: int, dialed: int,
             started: datetime | None, now: datetime, share: int = 1) -> Progress:
    """How far ``c`` should be by ``now`` by its profile's capacity, against ``dialed`` (see :class:`Progress`)."""
    rate = _calls_per_hour(c, capacity, share)
    expected = 0
    if started is not None and now > started:
        cal = calendar_for(project, c, own_schedule=True)
        open_s = sum((e - s).total_seconds() for s, e in cal.intervals(started, now))
        expected = min(total, int(rate * open_s / 3600.0))
    left = max(0, total - dialed)
    tz = _zone(project.policy.timezone if project.policy is not None else project.timezone)
    remaining = None
    if left:
        fc = forecast(project, c, capacity, left, now, share=share)
        remaining = replace(fc, start=fc.start.astimezone(tz), finish=fc.finish.astimezone(tz) if fc.finish else None,
                            end=fc.end.astimezone(tz) if fc.end else None)
    return Progress(rate, started.astimezone(tz) if started is not None else None, expected, dialed, total,
                    remaining)


# --- saved plans (engine.planfile): what the policy shows, for `campaignctl show` ---------------------


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def dump_policy(plan: Plan) -> dict[str, Any]:
    """The plan's deferred entries and per-campaign policy facts as JSON values (no phone numbers)."""
    return {
        "deferred": [{"kind": d.kind.value, "campaign": d.campaign, "profile": d.profile, "contacts": d.contacts,
                      "at": _iso(d.at), "reason": d.reason, "wave": d.wave, "remote_name": d.remote_name,
                      "task_id": d.task_id} for d in plan.deferred],
        "campaigns": {s.name: {"suppressed": s.suppressed, "suppressed_by": [list(p) for p in s.suppressed_by],
                               "held": s.held, "forecast": None if s.forecast is None else {
                                   "contacts": s.forecast.contacts, "calls": s.forecast.calls,
                                   "calls_per_hour": s.forecast.calls_per_hour, "hours": s.forecast.hours,
                                   "start": _iso(s.forecast.start), "finish": _iso(s.forecast.finish),
                                   "end": _iso(s.forecast.end), "late": s.forecast.late}}
                      for s in plan.campaigns if s.suppressed or s.held or s.forecast is not None},
    }


def load_policy(plan: Plan, doc: Any) -> Plan:
    """``plan`` with what :func:`dump_policy` wrote (a file without it, or a malformed part, shows none)."""
    if not isinstance(doc, Mapping):
        return plan
    deferred: list[Deferred] = []
    for d in doc.get("deferred") or ():
        try:
            deferred.append(Deferred(ActionKind(d["kind"]), str(d["campaign"]), str(d["profile"]),
                                     int(d["contacts"]), _time(d.get("at")), str(d["reason"]), int(d.get("wave", 0)),
                                     str(d.get("remote_name", "")), str(d.get("task_id", ""))))
        except (KeyError, TypeError, ValueError):
            continue
    raw_facts = doc.get("campaigns")
    facts: Mapping[str, Any] = raw_facts if isinstance(raw_facts, Mapping) else {}
    summaries = []
    for s in plan.campaigns:
        f = facts.get(s.name)
        if isinstance(f, Mapping):
            fc = f.get("forecast")
            forecast_value = None
            start = _time(fc.get("start")) if isinstance(fc, Mapping) else None
            if isinstance(fc, Mapping) and start is not None:
                forecast_value = Forecast(int(fc.get("contacts", 0)), int(fc.get("calls", 0)),
                                          float(fc.get("calls_per_hour", 0)), float(fc.get("hours", 0)), start,
                                          _time(fc.get("finish")), _time(fc.get("end")), bool(fc.get("late")))
            by = tuple((str(p[0]), int(p[1])) for p in f.get("suppressed_by", ()) if isinstance(p, list) and
                       len(p) == 2)
            s = replace(s, suppressed=int(f.get("suppressed", 0)), suppressed_by=by, held=int(f.get("held", 0)),
                        forecast=forecast_value)
        summaries.append(s)
    return replace(plan, deferred=tuple(deferred), campaigns=tuple(summaries))


def offline_summaries(desired: DesiredState, now: datetime) -> tuple[tuple[CampaignSummary, ...], list[Diagnostic]]:
    """What ``validate`` can say of the policy without platform or state: per campaign the numbers the
    ``suppress:`` sources hold back and the forecast (as if nobody had been dialed yet), and late forecasts."""
    pol = PlanPolicy(desired, Recorded(), now)
    summaries = []
    for c in desired.campaigns:
        pol.suppress(c, {r.phone: i for i, r in enumerate(c.contacts.rows)})
        summaries.append(CampaignSummary(c.name, c.provider, c.mode, c.state, "unknown", len(c.contacts.rows), 0))
    diags: list[Diagnostic] = []
    return pol.finish(desired, summaries, diags), diags
