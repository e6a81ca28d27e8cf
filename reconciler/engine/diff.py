"""The diff: a pure function from (desired, observed, recorded, now) to a Plan.

No I/O. DESIGN.md section 4 is implemented here, cell by cell; see
``tests/engine/test_diff.py`` for the table. Contact identity is the
normalised phone: a phone recorded as sent to a live task (or dialed, or of
unknown dial outcome) is never sent again. What interrupted calls did is
decided by ``engine.settle``, never here.

Every action that would send a phone the state records as already sent to a
started task or dialed for the campaign (any earlier wave, task, or a
campaign that left the files) counts in ``redial``, exactly, and the
campaign is refused unless the user allowed it (one gate, ``_gate``).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from reconciler.config.table import RowsView, campaign_digest, phones_of
from reconciler.engine.inputs import Observed, ProviderTraits, Recorded
from reconciler.engine.plan import Action, ActionKind, CampaignSummary, Convergence, Diagnostic, Plan, PlanMeta
from reconciler.engine.planfile import observed_digest
from reconciler.engine.policy import SENDING, PlanPolicy
from reconciler.engine.settle import (
    CreateIntent,
    InsertIntent,
    Verdict,
    age_seconds,
    intent_of,
    settle_carried,
    settle_create,
    settle_insert,
)
from reconciler.model import ContactRow, DesiredCampaign, DesiredState, canonical_json
from reconciler.providers.base import ObservedTask, Phase
from reconciler.state.base import CallOutcome, ContactStatus, Converged, JournalEntry, TaskRecord

__all__ = ["TARGETING", "diff", "settings_changes", "targeted"]

RESUME = "calling hours open again (policy); the files say running"  # start of a task the policy paused

STATE_MISSING = (
    "the state is missing{why}: campaignctl cannot tell whom it already called, so apply will send nothing. "
    "If this project was never applied, create the state with `campaignctl state init DIR`; otherwise restore "
    "the state (CI: keep it in PostgreSQL or a persisted file) or rebuild it from the platforms with "
    "`campaignctl state rebuild DIR`"
)


TARGETING = (
    "--target is in effect: this plan considers only the campaigns matching {patterns} ({names}); the rest of the "
    "configuration and the platforms was not considered, so changes outside the target are not shown and nothing "
    "outside it is created, changed, deleted or pruned. Use it for exceptional cases, then plan without --target"
)


def targeted(name: str, targets: Sequence[str]) -> bool:
    """True when ``name`` matches one of the ``--target`` patterns (globs), or when there is no target."""
    return not targets or any(fnmatch.fnmatchcase(name, t) for t in targets)


def settings_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key: old → new`` for each setting that differs (nested keys dotted)."""
    out: list[str] = []

    def walk(prefix: str, a: Any, b: Any) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b)):
                walk(f"{prefix}.{k}" if prefix else str(k), a.get(k), b.get(k))
        elif a != b:
            out.append(f"{prefix}: {canonical_json(a)} → {canonical_json(b)}")

    walk("", dict(old), dict(new))
    return out


@dataclass
class _Ctx:
    observed: Observed
    recorded: Recorded
    traits: Mapping[str, ProviderTraits]
    prune: bool
    allow_replace: frozenset[str]
    now: datetime
    policy: PlanPolicy  # the dialing policy's decisions (engine.policy)
    actions: list[Action] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summaries: list[CampaignSummary] = field(default_factory=list)
    converged: list[Convergence] = field(default_factory=list)
    involved: set[tuple[str, str]] = field(default_factory=set)  # (profile, task_id) observed
    left: list[str] = field(default_factory=list)  # recorded campaigns no longer in the files
    _foreign: dict[str, set[str]] | None = None
    # Indexes built once, so that each campaign costs its own tasks only.
    by_id: dict[str, dict[str, ObservedTask]] = field(default_factory=dict)  # profile → task id → task
    by_name: dict[str, dict[str, list[ObservedTask]]] = field(default_factory=dict)  # profile → name → tasks
    # profile → base → {"base~N" → tasks}: observed names carrying a wave suffix
    waves: dict[str, dict[str, dict[str, list[ObservedTask]]]] = field(default_factory=dict)
    started_ids: set[str] = field(default_factory=set)  # observed task ids that have started
    order: dict[str, dict[int, int]] = field(default_factory=dict)  # profile → id(task) → listing position
    pending_of: dict[str, list[JournalEntry]] = field(default_factory=dict)  # campaign → pending entries
    # 0, 1, 2, ... as int objects every campaign's row positions share (grown as needed): a plan's actions
    # hold a million positions as 8-byte references instead of a million 28-byte ints of their own.
    shared_ints: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        for profile, tasks in self.observed.tasks.items():
            self.by_id[profile] = {t.task_id: t for t in tasks}
            self.order[profile] = {id(t): i for i, t in enumerate(tasks)}
            names: dict[str, list[ObservedTask]] = {}
            for t in tasks:
                names.setdefault(t.name, []).append(t)
                if t.started:
                    self.started_ids.add(t.task_id)
            self.by_name[profile] = names
            suffixed: dict[str, dict[str, list[ObservedTask]]] = {}
            for name, named in names.items():
                base, sep, wave = name.rpartition("~")
                if sep and wave.isdigit():
                    suffixed.setdefault(base, {})[name] = named
            self.waves[profile] = suffixed
        for e in self.recorded.pending:
            self.pending_of.setdefault(e.campaign, []).append(e)

    @property
    def foreign(self) -> dict[str, set[str]]:
        """Campaigns that left the files: the phones they sent or dialed (read when first needed)."""
        if self._foreign is None:
            self._foreign = {}
            for name in self.left:
                hist = _history(name, self)
                if hist:
                    self._foreign[name] = set(hist)
        return self._foreign

    def pending(self, campaign: str) -> list[JournalEntry]:
        return self.pending_of.get(campaign, [])

    def error(self, campaign: str, message: str, c: DesiredCampaign | None = None) -> None:
        self.diags.append(Diagnostic("error", campaign, message, c.mark.file if c else "", c.mark.line if c else 0))

    def warn(self, campaign: str, message: str, c: DesiredCampaign | None = None) -> None:
        self.diags.append(
            Diagnostic("warning", campaign, message, c.mark.file if c else "", c.mark.line if c else 0)
        )


class _Task:
    """A recorded (or adoptable) task joined with what the platform shows.

    ``phones`` (contacts recorded as sent to it, in send order) are read from
    the state's records when first asked for.
    """

    __slots__ = ("_load", "_phones", "observed", "record")

    def __init__(self, record: TaskRecord, observed: ObservedTask | None, phones: list[str] | None = None,
                 load: Callable[[str], list[str]] | None = None) -> None:
        self.record = record
        self.observed = observed
        self._phones = phones
        self._load = load

    @property
    def phones(self) -> list[str]:
        if self._phones is None:
            self._phones = list(self._load(self.record.task_id)) if self._load is not None else []
        return self._phones

    @property
    def phase(self) -> Phase:
        return Phase.ABSENT if self.observed is None or self.observed.deleted else self.observed.phase

    @property
    def started(self) -> bool:
        return self.record.started or (self.observed is not None and self.observed.started)


@dataclass
class _Campaign:
    """Per-campaign working values: its rows by phone, its history, why it would redial."""

    c: DesiredCampaign
    ctx: _Ctx
    index: dict[str, int] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # task id → why its contacts are sent again
    drift_create: bool = False
    # Once the campaign's actions succeed in full: how many numbers the live tasks hold beyond the table
    # (0: exactly the table; None: some are missing), and how many diagnostics the campaign had when
    # its task loop began (what a marker may replay).
    beyond: int | None = None
    loop_diags: int = -1
    phases: tuple[tuple[str, str], ...] = ()  # task id → phase, as joined
    marker: Converged | None = None  # the marker the fast path planned the campaign by
    # A running direct campaign whose every number (without the suppressed ones) is dialed, or will be
    # once its one dial action succeeds in full: how many numbers it dialed beyond them (they left the
    # files, or were suppressed since); None: some stay undialed.
    dialed_beyond: int | None = None
    _history: dict[str, str] | None = None
    _sent_by_task: dict[str, list[str]] | None = None

    @property
    def history(self) -> dict[str, str]:
        """Phone → where it was sent or dialed before (a short description); read when first needed."""
        if self._history is None:
            self._history = _history(self.c.name, self.ctx)
        return self._history

    def sent_to(self, task_id: str) -> list[str]:
        """Phones the state records as sent to ``task_id`` (the campaign's records, read once)."""
        if self._sent_by_task is None:
            self._sent_by_task = {}
            for rec in self.ctx.recorded.contacts.get(self.c.name, ()):
                if rec.task_id and rec.status is ContactStatus.SENT:
                    self._sent_by_task.setdefault(rec.task_id, []).append(rec.phone)
        return self._sent_by_task.get(task_id, [])

    def rows(self, phones: Sequence[str]) -> tuple[Sequence[ContactRow], tuple[int, ...]]:
        idx = tuple(self.index[p] for p in phones)
        return RowsView(self.c.contacts.rows, idx), idx


def diff(
    desired: DesiredState,
    observed: Observed,
    recorded: Recorded,
    traits: Mapping[str, ProviderTraits],
    *,
    now: datetime,
    prune: bool | None = None,
    allow_replace: Iterable[str] = (),
    meta: PlanMeta | None = None,
    targets: Sequence[str] = (),
    at: datetime | None = None,
) -> Plan:
    """The plan; with ``targets`` (``--target`` globs) only the matching campaigns are planned.

    A targeted plan never touches a campaign outside its targets: such
    campaigns get no action (not even a prune), and the plan carries the
    warning that the rest was not considered. ``at`` is the time the dialing
    policy is evaluated at (default ``now``; CAMPAIGNCTL_NOW).
    """
    ctx = _Ctx(
        observed=observed,
        recorded=recorded,
        traits=traits,
        prune=desired.project.prune if prune is None else prune,
        allow_replace=frozenset(allow_replace),
        now=now,
        policy=PlanPolicy(desired, recorded, at or now),
    )
    if not recorded.initialized:
        why = f" ({recorded.missing_reason})" if recorded.missing_reason else ""
        ctx.error("", STATE_MISSING.format(why=why))
    unknown_names = ctx.allow_replace - {c.name for c in desired.campaigns}
    for name in sorted(unknown_names):
        ctx.warn(name, "--allow-replace / --allow-redial names a campaign that is not in the files")
    desired_names = {c.name for c in desired.campaigns}
    recorded_names = set(recorded.tasks) | set(recorded.campaigns) | set(recorded.contacts)
    if targets:
        hit = sorted(n for n in desired_names | recorded_names if targeted(n, targets))
        patterns = ", ".join(repr(t) for t in targets)
        if not hit:
            ctx.error("", f"--target {patterns} matches no campaign in the files or the state")
        else:
            ctx.warn("", TARGETING.format(patterns=patterns, names=", ".join(hit)))
    # Every campaign that left the files, targeted or not: its history feeds the redial gate (read lazily).
    ctx.left = sorted(recorded_names - desired_names)
    for campaign in desired.campaigns:
        if not targeted(campaign.name, targets):
            continue
        if campaign.provider not in traits:
            ctx.error(campaign.name, f"provider profile {campaign.provider!r} is not configured", campaign)
            continue
        start = len(ctx.actions)
        diags = len(ctx.diags)
        cc = _Campaign(campaign, ctx)
        if campaign.mode == "direct":
            _direct(cc, ctx)
        else:
            _task_campaign(cc, ctx)
        if not any(d.severity == "error" for d in ctx.diags[diags:]):
            _gate(cc, ctx, start)
        _convergence(cc, ctx, start, diags)
        ctx.policy.note_planned(campaign, ctx.actions[start:])
    for name in sorted(set(recorded.tasks) | set(recorded.campaigns)):
        if name not in desired_names and targeted(name, targets):
            _removed(name, ctx)
    if not targets:
        _orphans(desired, ctx)
    base_meta = meta or PlanMeta()
    plan_meta = replace(
        base_meta,
        created_at=base_meta.created_at or now.isoformat(),
        state_lineage=recorded.lineage,
        state_serial=recorded.serial,
        involved=tuple(sorted(ctx.involved)),
        observed_digest=observed_digest(observed, ctx.involved),
        prune=ctx.prune,
        allow_replace=tuple(sorted(ctx.allow_replace)),
        state_missing=not recorded.initialized,
        policy_at=(at or now).isoformat(),
    )
    summaries = ctx.policy.finish(desired, ctx.summaries, ctx.diags)
    return Plan(
        actions=tuple(ctx.actions),
        diagnostics=tuple(ctx.diags),
        campaigns=summaries,
        meta=plan_meta,
        notes=tuple(ctx.notes),
        converged=tuple(ctx.converged),
        deferred=tuple(ctx.policy.deferred),
    )


# --- history and the redial gate ----------------------------------------------------


def _history(name: str, ctx: _Ctx) -> dict[str, str]:
    """Phones the state records as sent to a started task of ``name``, or dialed for it."""
    records = ctx.recorded.tasks.get(name, ())
    by_id = {r.task_id: r for r in records}
    started = {r.task_id for r in records if r.started or r.task_id in ctx.started_ids}
    out: dict[str, str] = {}
    for rec in ctx.recorded.contacts.get(name, ()):
        if rec.task_id:
            if rec.task_id in started or rec.task_id not in by_id:
                out.setdefault(rec.phone, rec.task_id)
        elif rec.status in (ContactStatus.DIALED, ContactStatus.UNKNOWN):
            out.setdefault(rec.phone, "")
    return out


def _describe_source(name: str, source: str, cc: _Campaign, ctx: _Ctx) -> str:
    if not source:
        return "dialed directly"
    if source in cc.why:
        return cc.why[source]
    rec = next((r for r in ctx.recorded.tasks.get(name, ()) if r.task_id == source), None)
    if rec is None:
        return f"sent to task {source}"
    if rec.deleted:
        return (f"sent to task {rec.remote_name} ({rec.task_id}), which started and was deleted by campaignctl "
                "(state: absent, prune or a replacement)")
    return f"sent to task {rec.remote_name} ({rec.task_id}), which has started"


def _gate(cc: _Campaign, ctx: _Ctx, start: int) -> None:
    """Count every redial of the campaign's new actions exactly; refuse them without consent."""
    c = cc.c
    acts = ctx.actions[start:]
    if not acts:
        return
    lanes: dict[tuple[str, str, int], list[int]] = {}
    for i, a in enumerate(acts):
        if a.kind in SENDING:
            lanes.setdefault(a.lane, []).append(i)
    again: dict[str, int] = {}  # description → count
    total = 0
    updated = list(acts)
    history = cc.history if lanes else {}  # read only when something would be sent
    foreign = ctx.foreign.items() if lanes and ctx.foreign else ()
    for members in lanes.values():
        lane_total = 0
        for i in members:
            a = acts[i]
            n = 0
            if not history and not foreign:
                updated[i] = replace(a, redial=0)
                continue
            for p in a.phones:
                src = history.get(p)
                if src is not None:
                    key = _describe_source(c.name, src, cc, ctx)
                    again[key] = again.get(key, 0) + 1
                    n += 1
                    continue
                for other, hist in foreign:
                    if p in hist:
                        key = (f"sent by campaign {other!r}, which left the files (if {c.name!r} is its new name, "
                               f"run `campaignctl state mv {other} {c.name}` instead)")
                        again[key] = again.get(key, 0) + 1
                        n += 1
                        break
            lane_total += n
            updated[i] = replace(a, redial=n)
        # The lane's first sending action (its CREATE, when there is one) carries the lane's count.
        head = members[0]
        if acts[head].kind is ActionKind.CREATE:
            for i in members:
                updated[i] = replace(updated[i], redial=lane_total if i == head else 0)
        total += lane_total
    allowed = c.lifecycle.allow_replace or c.name in ctx.allow_replace
    if total and not allowed:
        del ctx.actions[start:]
        detail = "; ".join(f"{n} {what}" for what, n in sorted(again.items(), key=lambda kv: -kv[1]))
        ctx.error(c.name, f"this plan would dial {total} contacts again that the state records as already "
                          f"called: {detail}. Pass --allow-redial {c.name} (or --allow-replace {c.name}, or set "
                          "lifecycle.allow_replace) to dial them again", c)
        return
    ctx.actions[start:] = updated
    if total:
        ctx.warn(c.name, f"{total} contacts will be dialed again (allowed)", c)


def _positions(c: DesiredCampaign, ctx: _Ctx) -> dict[str, int]:
    """Each desired number's row position in the campaign's table (built by C-level calls: no Python per row;
    the positions are ``ctx.shared_ints``)."""
    phones = phones_of(c.contacts.rows)
    ints = ctx.shared_ints
    if len(ints) < len(phones):
        ints.extend(range(len(ints), len(phones)))
    return dict(zip(phones, itertools.islice(ints, len(phones)), strict=True))


# --- task mode ---------------------------------------------------------------


def _task_campaign(cc: _Campaign, ctx: _Ctx) -> None:
    c = cc.c
    tr = ctx.traits[c.provider]
    records = [r for r in ctx.recorded.tasks.get(c.name, ()) if not r.deleted]
    foreign = [r for r in records if r.profile != c.provider]
    if foreign:
        ctx.error(
            c.name,
            f"the campaign's tasks live on profile {foreign[0].profile!r} but the files now say "
            f"{c.provider!r}; set `state: absent`, apply, then change the provider",
            c,
        )
        return
    fingerprint = c.settings_fingerprint()
    marked = c.state != "absent" and _marker_holds(c, fingerprint, ctx)
    # (A marker was written by a plan that found no such direct contact, and no contact was written since.)
    if not marked and c.state != "absent" and any(not r.task_id for r in ctx.recorded.contacts.get(c.name, ())):
        ctx.error(c.name, "the campaign was `mode: direct` before and has dialed contacts directly; a task would "
                          "dial them again. Give the task campaign a new name", c)
        return
    if c.provider in ctx.observed.errors:
        ctx.error(c.name, f"cannot observe profile {c.provider!r}: {ctx.observed.errors[c.provider]}", c)
        _summary(ctx, c, [], observed="unknown")
        return
    if _in_flight(c, ctx):
        return
    tasks = _join(cc, tr, records, ctx)
    if tasks is None:
        return
    cc.phases = tuple(sorted((t.record.task_id, t.phase.value) for t in tasks))
    for t in tasks:
        if t.observed is not None:
            ctx.involved.add((c.provider, t.record.task_id))
    if c.state == "absent":
        _absent(c, tr, tasks, ctx)
        _summary(ctx, c, tasks)
        return
    mark = ctx.recorded.converged.get(c.name) if marked else None
    if mark is not None and tasks and all(t.phase is not Phase.ABSENT and t.record.settings_fingerprint == fingerprint
                                          for t in tasks) and (not mark.phases or mark.phases == cc.phases):
        # Converged (state.base.Converged) and every recorded task is still there with these settings:
        # the sent set is the table without what the same do-not-call and opt-out lists suppressed
        # (_marker_holds), so no contact is missing, removed or changed. What the slow path below would
        # do then is exactly this: the policy's hold of the calling hours, run state from the listing,
        # the summary.
        # Numbers queued beyond the table stand with the marker: its warnings are replayed as the full
        # diff gave them, and hold only while every task is in the phase it was then.
        kept_out = mark.suppressed
        ctx.policy.as_marked(c, len(c.contacts.rows), kept_out)
        ctx.diags.extend(Diagnostic("warning", c.name, message, file, line) for message, file, line in mark.warnings)
        for t in sorted(tasks, key=lambda t: t.record.wave):
            rec = t.record
            ctx.actions.extend(ctx.policy.hold_task(c, rec.wave, rec.remote_name, rec.task_id,
                                                    t.phase is Phase.RUNNING,
                                                    t.phase in (Phase.NOT_STARTED, Phase.PAUSED)))
            if t.phase is Phase.FINISHED:
                ctx.notes.append(f"{c.name}: task {rec.remote_name} ({rec.task_id}) has finished")
                continue
            if not ctx.policy.closed(c)[0] or c.state != "running":
                _run_state(c, ctx, t)
        _summary(ctx, c, tasks, sent=len(c.contacts.rows) - sum(n for _, n in kept_out) + mark.extra)
        cc.marker = mark
        return

    settings = c.settings()
    cc.index = ctx.policy.suppress(c, _positions(c, ctx))
    desired_phones = list(cc.index)
    desired_set = cc.index.keys()
    pending_deletes = {e.task_id for e in ctx.pending(c.name) if e.call == "delete"}

    # Tasks gone from the platform without us deleting them: drift.
    live: list[_Task] = []
    deleted_outside: list[_Task] = []
    for t in tasks:
        if t.phase is not Phase.ABSENT:
            live.append(t)
            continue
        if t.record.task_id in pending_deletes:
            ctx.notes.append(f"{c.name}: task {t.record.task_id} was deleted by an interrupted apply")
            continue
        deleted_outside.append(t)
        if t.started:
            cc.why[t.record.task_id] = (f"sent to task {t.record.remote_name} ({t.record.task_id}), which was "
                                        "deleted outside campaignctl after it started")
            ctx.warn(c.name, f"task {t.record.remote_name} ({t.record.task_id}) was deleted outside campaignctl "
                             "after it started", c)
        else:
            ctx.warn(c.name, f"task {t.record.remote_name} ({t.record.task_id}) was deleted outside campaignctl "
                             "before it started; nobody was called", c)
    if deleted_outside and not live:
        cc.drift_create = True

    sent: set[str] = set()
    for t in live:
        sent.update(t.phones)
    _warn_changed_rows(c, ctx, live)

    # Settings the platform cannot update: replace the task (the gate counts and guards redials).
    replaced: dict[str, list[str]] = {}  # task_id → contacts to carry to the replacement
    for t in live:
        if t.record.settings_fingerprint == fingerprint or t.phase is Phase.FINISHED:
            if t.record.settings_fingerprint != fingerprint:
                ctx.notes.append(f"{c.name}: settings changed but task {t.record.remote_name} has finished")
            continue
        replaced[t.record.task_id] = [p for p in t.phones if p in desired_set]
        if t.started:
            changes = settings_changes(t.record.settings, settings) if t.record.settings else []
            what = ("; ".join(changes) if changes else
                    "settings changed (the state does not hold the old values)" if t.record.settings_fingerprint
                    else "settings unknown (adopted task)")
            cc.why[t.record.task_id] = (f"sent to task {t.record.remote_name} ({t.record.task_id}), which has "
                                        f"started and would be replaced because {what}")

    # Contacts that left the files.
    removals: dict[str, list[str]] = {}
    for t in live:
        if t.record.task_id in replaced:
            continue
        gone = [p for p in t.phones if p not in desired_set]
        if not gone:
            continue
        if tr.capabilities.remove_contacts and t.phase is not Phase.FINISHED:
            removals[t.record.task_id] = gone
        elif not t.started:
            replaced[t.record.task_id] = [p for p in t.phones if p in desired_set]
        elif t.phase is Phase.FINISHED:
            continue
        else:
            left, suppressed = ctx.policy.removal_reason(gone, c)
            if left:
                ctx.warn(c.name, f"{left} contacts removed from the files stay queued in task "
                                 f"{t.record.remote_name} ({t.record.task_id}): the platform has no call that "
                                 "removes numbers", c)
            if suppressed:
                ctx.warn(c.name, f"{suppressed} contacts now on a do-not-call or opt-out list are already queued "
                                 f"in task {t.record.remote_name} ({t.record.task_id}), which has started: the "
                                 "platform has no call that removes numbers, so they may still be dialed; pause "
                                 "the campaign or set it absent to stop that", c)

    missing = ctx.policy.cap(c, [p for p in desired_phones if p not in sent])
    current = max(live, key=lambda t: t.record.wave) if live else None

    new_wave_phones: list[str] = []
    target_for_missing: str | None = None
    if missing:
        if current is not None and current.record.task_id in replaced:
            replaced[current.record.task_id] = replaced[current.record.task_id] + missing
        elif current is not None and _accepts_contacts(current, tr):
            target_for_missing = current.record.task_id
        elif current is None:
            new_wave_phones = missing
        elif c.contacts.after_start == "error":
            ctx.error(
                c.name,
                f"{len(missing)} contacts were added after task {current.record.remote_name} started, and "
                f"contacts.after_start is `error`",
                c,
            )
            _summary(ctx, c, tasks)
            return
        else:
            new_wave_phones = missing

    # What the live tasks hold once every action below succeeds in full: exactly the table, or not.
    after: set[str] = set(missing)
    for t in live:
        if t.record.task_id in replaced:
            after.update(replaced[t.record.task_id])
        else:
            after.update(p for p in t.phones if p not in set(removals.get(t.record.task_id, ())))
    wanted = set(desired_set)
    cc.beyond = len(after) - len(wanted) if after >= wanted else None
    cc.loop_diags = len(ctx.diags)

    for t in sorted(live, key=lambda t: t.record.wave):
        rec = t.record
        name = rec.remote_name
        if rec.task_id in replaced:
            carry = replaced[rec.task_id]
            why = (
                "settings changed"
                if rec.settings_fingerprint != fingerprint
                else "contacts were removed from the files and the task has not started"
            )
            why += "; the task has started" if t.started else "; the task has not started, nobody was called"
            ctx.actions.append(
                Action(ActionKind.DELETE, c.name, c.provider, rec.wave, name, f"replace: {why}",
                       task_id=rec.task_id, replaces=True)
            )
            _create_lane(cc, tr, ctx, rec.wave, carry, f"replace: {why}", replaces=True)
            continue
        held = ctx.policy.hold_task(c, rec.wave, name, rec.task_id, t.phase is Phase.RUNNING,
                                    t.phase in (Phase.NOT_STARTED, Phase.PAUSED))
        ctx.actions.extend(held)  # a PAUSE outside the calling hours goes first: nothing reaches a dialing task
        if rec.task_id in removals:
            gone = removals[rec.task_id]
            left, suppressed = ctx.policy.removal_reason(gone, c)
            why = ", ".join(w for w in (f"{left} contacts left the files" if left else "",
                                        f"{suppressed} are on a do-not-call or opt-out list" if suppressed else "")
                            if w)
            ctx.actions.append(
                Action(ActionKind.REMOVE, c.name, c.provider, rec.wave, name,
                       why, task_id=rec.task_id, phones=tuple(gone),
                       calls=1)
            )
        if rec.task_id == target_for_missing:
            ctx.actions.append(_insert(cc, tr, rec.wave, name, rec.task_id, missing,
                                       f"{len(missing)} contacts in the files are not in the task"))
        if t.phase is Phase.FINISHED:
            ctx.notes.append(f"{c.name}: task {name} ({rec.task_id}) has finished")
            continue
        if not ctx.policy.closed(c)[0] or c.state != "running":
            _run_state(c, ctx, t)

    if new_wave_phones:
        wave = 1 if current is None else max(t.record.wave for t in tasks) + 1
        if current is not None and tr.capabilities.add_after_start:  # (yccall: only an ended task refuses)
            why = (f"{len(new_wave_phones)} contacts added after task {current.record.remote_name} has finished "
                   f"(it takes no more numbers): follow-up wave {wave}")
        elif current is not None:
            why = (f"{len(new_wave_phones)} contacts added after task {current.record.remote_name} started "
                   f"(the platform accepts numbers only before start): follow-up wave {wave}")
        elif cc.drift_create:
            names = ", ".join(f"{t.record.remote_name} ({t.record.task_id})" for t in deleted_outside)
            why = f"recreate: task {names} was deleted outside campaignctl"
        else:
            why = "not on the platform"
        _create_lane(cc, tr, ctx, wave, new_wave_phones, why, drift=cc.drift_create and current is None)
    _summary(ctx, c, tasks)


def _named_like(ctx: _Ctx, profile: str, tr: ProviderTraits, campaign: str) -> Sequence[ObservedTask]:
    """Observed tasks of ``profile`` that may be waves of ``campaign``, in listing order.

    Under the shared naming rule (``tr.suffix_naming``) those named
    ``task_name(campaign, 1)`` or that plus ``~N``, from the name indexes;
    otherwise the whole listing. The caller asks ``tr.wave_of`` of each.
    """
    if not tr.suffix_naming:
        return ctx.observed.tasks.get(profile, ())
    base = tr.task_name(campaign, 1)
    found = list(ctx.by_name.get(profile, {}).get(base, ()))
    for tasks in ctx.waves.get(profile, {}).get(base, {}).values():
        found.extend(tasks)
    order = ctx.order.get(profile, {})
    found.sort(key=lambda t: order.get(id(t), 0))  # listing order, as a walk over the listing would meet them
    return found


def _base_of(name: str, bases: Mapping[str, str], tr: ProviderTraits) -> str | None:
    """The campaign (of ``bases``: its first wave's name → campaign) whose wave ``name`` is, if any.

    Under the shared naming rule the candidate comes from the name itself
    (``base`` or ``base~N``); otherwise every campaign is asked. Always
    confirmed by ``tr.wave_of``.
    """
    if not tr.suffix_naming:
        return next((n for n in bases.values() if tr.wave_of(name, n) is not None), None)
    campaign = bases.get(name)
    if campaign is None:
        head, sep, _ = name.rpartition("~")
        campaign = bases.get(head) if sep else None
    if campaign is not None and tr.wave_of(name, campaign) is not None:
        return campaign
    return None


def _marker_holds(c: DesiredCampaign, fingerprint: str, ctx: _Ctx) -> bool:
    """The campaign's convergence marker is for these files, settings and suppression lists, and nothing
    of it is pending."""
    mark = ctx.recorded.converged.get(c.name)
    if (mark is None or mark.settings_fingerprint != fingerprint or ctx.pending(c.name)
            or mark.suppression != ctx.policy.suppression_digest()):
        return False
    return mark.digest == campaign_digest(c)


# Action kinds after which, all done in full, a campaign's sent set is its table.
_CONVERGING = frozenset({ActionKind.CREATE, ActionKind.INSERT, ActionKind.REMOVE, ActionKind.START,
                         ActionKind.PAUSE})


def _convergence(cc: _Campaign, ctx: _Ctx, start: int, diags: int) -> None:
    """Whether the campaign is converged now, or will be once its actions all succeed in full.

    Only campaigns without any error, nothing pending, and actions that bring the sent set to the table
    (a replacement's delete included; for a running direct campaign, one dial of every number not dialed
    yet, and no diagnostic at all); apply writes the marker for campaigns whose steps all did (``now``
    False). A campaign with warnings, or whose tasks hold numbers beyond the table that no call
    can take out, is converged only with no action at all: its marker keeps the warnings, the task phases
    and that count (``state.base.Converged``). Planned by its marker, the campaign gives that marker back.
    """
    c = cc.c
    if cc.marker is not None:
        ctx.converged.append(Convergence.of(cc.marker, now=len(ctx.actions) == start))
        return
    if c.mode == "direct":
        # Every number dialed (``_direct``), or dialed by the campaign's one action, of every number left,
        # once it succeeds in full (apply writes the marker then); never with anything to say (``_gate``
        # only takes that action out with an error, or counts redials with a warning).
        if cc.dialed_beyond is None or len(ctx.diags) != diags or ctx.pending(c.name):
            return
        ctx.converged.append(Convergence(
            c.name, campaign_digest(c), c.settings_fingerprint(),
            now=len(ctx.actions) == start,
            suppression=ctx.policy.suppression_digest(), suppressed=ctx.policy.suppressed_of(c),
            extra=cc.dialed_beyond))
        return
    if c.mode != "task" or c.state == "absent" or ctx.pending(c.name):
        return
    summary = ctx.summaries[-1] if ctx.summaries else None
    if summary is None or summary.name != c.name or summary.observed == "unknown":
        return
    acts = ctx.actions[start:]
    found = ctx.diags[diags:]
    standing = bool(found) or cc.beyond != 0
    if standing:  # no action; every diagnostic a warning of the campaign's own diff, given before its task loop
        if (acts or cc.beyond is None or cc.loop_diags != len(ctx.diags)
                or any(d.severity != "warning" or d.campaign != c.name for d in found)):
            return
    elif any(a.kind not in _CONVERGING and not (a.kind is ActionKind.DELETE and a.replaces) for a in acts):
        return
    ctx.converged.append(Convergence(
        c.name, campaign_digest(c), c.settings_fingerprint(), now=not acts,
        suppression=ctx.policy.suppression_digest(), suppressed=ctx.policy.suppressed_of(c),
        warnings=tuple((d.message, d.file, d.line) for d in found), phases=cc.phases if standing else (),
        extra=cc.beyond or 0))

def _in_flight(c: DesiredCampaign, ctx: _Ctx) -> bool:
    """Plan without the lock: a campaign with calls pending may be changing right now."""
    if not ctx.recorded.in_flight:
        return False
    pending = [e for e in ctx.pending(c.name) if e.outcome is CallOutcome.PENDING]
    if not pending:
        return False
    ctx.notes.append(f"{c.name}: {len(pending)} call(s) in flight (an apply may be running); this campaign is not "
                     "planned. Plan again with the lock (the default) once it ends")
    _summary(ctx, c, [], observed="unknown")
    return True


def _accepts_contacts(t: _Task, tr: ProviderTraits) -> bool:
    if not t.started and t.phase is Phase.NOT_STARTED:
        return True
    return tr.capabilities.add_after_start and t.phase in (Phase.NOT_STARTED, Phase.RUNNING, Phase.PAUSED)


def _insert(cc: _Campaign, tr: ProviderTraits, wave: int, name: str, task_id: str,
            phones: Sequence[str], reason: str) -> Action:
    rows, idx = cc.rows(phones)
    return Action(ActionKind.INSERT, cc.c.name, cc.c.provider, wave, name, reason, task_id=task_id,
                  phones=tuple(phones), rows=rows, row_index=idx,
                  calls=math.ceil(len(phones) / max(tr.limits.add_batch, 1)))


def _create_lane(cc: _Campaign, tr: ProviderTraits, ctx: _Ctx, wave: int, phones: Sequence[str],
                 reason: str, *, replaces: bool = False, drift: bool = False) -> None:
    c = cc.c
    name = tr.task_name(c.name, wave)
    carried: Sequence[str] = ()
    if tr.capabilities.create_with_contacts:
        carried = phones[: tr.limits.create_batch]
        if not carried:
            ctx.error(c.name, "the platform needs at least one contact to create a task", c)
            return
    rows, idx = cc.rows(carried)
    ctx.actions.append(Action(ActionKind.CREATE, c.name, c.provider, wave, name, reason,
                              phones=tuple(carried), rows=rows, row_index=idx, replaces=replaces, drift=drift,
                              fingerprint=c.settings_fingerprint()))
    rest = phones[len(carried):]
    if rest:
        ctx.actions.append(_insert(cc, tr, wave, name, "", rest, f"{len(phones)} contacts for the new task"))
    if c.state == "running":
        ctx.actions.extend(ctx.policy.start(c, Action(ActionKind.START, c.name, c.provider, wave, name,
                                                      "the files say running")))


def _run_state(c: DesiredCampaign, ctx: _Ctx, t: _Task) -> None:
    rec, phase = t.record, t.phase
    if c.state == "running" and phase in (Phase.NOT_STARTED, Phase.PAUSED):
        drift = phase is Phase.PAUSED and rec.run_state == "running"
        if phase is Phase.NOT_STARTED:
            reason = "the files say running"
        elif rec.run_state == "held":
            reason = RESUME
        elif drift:
            reason = "paused outside campaignctl; the files say running"
        else:
            reason = "paused; the files say running"
        ctx.actions.append(Action(ActionKind.START, c.name, c.provider, rec.wave, rec.remote_name, reason,
                                  task_id=rec.task_id, drift=drift))
    elif c.state == "paused" and phase is Phase.RUNNING:
        drift = not rec.started or rec.run_state == "paused"  # running, yet campaignctl did not leave it so
        reason = "started outside campaignctl; the files say paused" if drift else "running; the files say paused"
        ctx.actions.append(Action(ActionKind.PAUSE, c.name, c.provider, rec.wave, rec.remote_name, reason,
                                  task_id=rec.task_id, drift=drift))


def _done_with(record: TaskRecord, phase: Phase, tr: ProviderTraits) -> bool:
    """A finished task nothing is left to do to: where delete ends a task (it stays listed as finished), or
    one campaignctl deleted that the platform still lists as finished (it answered "already finished")."""
    return phase is Phase.FINISHED and (tr.capabilities.delete_is_end or record.deleted)


def _absent(c: DesiredCampaign, tr: ProviderTraits, tasks: Sequence[_Task], ctx: _Ctx) -> None:
    for t in tasks:
        if t.phase is Phase.ABSENT or _done_with(t.record, t.phase, tr):
            continue
        if c.lifecycle.prevent_destroy:
            ctx.error(c.name, f"`state: absent` would delete task {t.record.remote_name} ({t.record.task_id}) "
                              "but lifecycle.prevent_destroy is set", c)
            continue
        ctx.actions.append(Action(ActionKind.DELETE, c.name, c.provider, t.record.wave, t.record.remote_name,
                                  "the files say absent", task_id=t.record.task_id))


def _join(cc: _Campaign, tr: ProviderTraits, records: Sequence[TaskRecord], ctx: _Ctx) -> list[_Task] | None:
    """Pair state records with observed tasks; settle what interrupted calls did (engine.settle)."""
    c = cc.c
    by_id = ctx.by_id.get(c.provider, {})
    tasks = [_Task(r, by_id.get(r.task_id), load=cc.sent_to) for r in records]
    known_ids = {r.task_id for r in ctx.recorded.tasks.get(c.name, ())}
    creates: dict[int, JournalEntry] = {}
    for e in ctx.pending(c.name):
        if e.call == "create" and e.profile == c.provider:
            create = intent_of(e)
            creates[create.wave if isinstance(create, CreateIntent) else 1] = e
    live_by_wave = {t.record.wave: t for t in tasks if t.phase is not Phase.ABSENT}
    strangers: dict[int, list[ObservedTask]] = {}
    for o in _named_like(ctx, c.provider, tr, c.name):
        if o.task_id in known_ids or o.deleted or o.phase is Phase.ABSENT:
            continue
        wave = tr.wave_of(o.name, c.name)
        if wave is None:
            continue
        if o.phase is Phase.FINISHED:  # it can dial nobody any more: history the state does not hold
            ctx.notes.append(f"{c.name}: task {o.name} ({o.task_id}) has finished and is not in the state; left "
                             "alone")
            continue
        strangers.setdefault(wave, []).append(o)
    blocked = False
    for wave, found in sorted(strangers.items()):
        # The one to keep first: started ones (they may have dialed), then the oldest.
        found.sort(key=lambda o: (not o.started, o.created_at or 0, o.task_id))
        keeper = live_by_wave.get(wave)
        entry = creates.get(wave)
        if keeper is None and entry is not None:
            o = found.pop(0)
            intent = intent_of(entry)
            assert isinstance(intent, CreateIntent)
            adopted = TaskRecord(c.name, wave, c.provider, o.task_id, o.name, intent.fingerprint, started=o.started,
                                 settings=c.settings() if intent.fingerprint == c.settings_fingerprint() else {})
            ctx.actions.append(Action(ActionKind.ADOPT, c.name, c.provider, wave, o.name,
                                      "created by an interrupted apply (found on the platform by exact name)",
                                      task_id=o.task_id, fingerprint=intent.fingerprint))
            # What the create carried landed with it when the platform shows all of it; none when it
            # shows an empty task; some of it is for a person to settle. A listing without a count
            # (documented yccall rows) counts it as sent: apply settles it first anyway (by the task's count).
            carried = (Verdict.LANDED if o.contact_count is None
                       else settle_carried(o.contact_count, len(intent.phones)))
            if carried is Verdict.AMBIGUOUS:
                ctx.error(c.name, f"an interrupted create landed as task {o.name} ({o.task_id}) holding "
                                  f"{o.contact_count} of the {len(intent.phones)} numbers it carried; none is sent "
                                  f"again: check the task, then settle them with `campaignctl state resolve {c.name} "
                                  "--dialed|--not-dialed` after an apply has recorded the task", c)
                blocked = True
            keeper = _Task(adopted, o, list(intent.phones) if carried is Verdict.LANDED else [])
            tasks.append(keeper)
            live_by_wave[wave] = keeper
        if keeper is None:
            ids = ", ".join(o.task_id for o in found)
            how = (f"adopt it with `campaignctl import {c.name} {found[0].task_id} DIR` or rebuild the state "
                   "with `campaignctl state rebuild DIR`" if ctx.recorded.initialized else
                   "`campaignctl state rebuild DIR` adopts it")
            ctx.error(c.name, f"task {found[0].name} ({ids}) exists on profile {c.provider!r} but not in the "
                              f"state; {how}", c)
            blocked = True
            continue
        for o in found:
            ctx.involved.add((c.provider, o.task_id))
            if o.started:
                ctx.error(c.name, f"two live tasks stand for wave {wave}: {keeper.record.task_id} (in the state) and "
                                  f"{o.task_id} ({o.name}, started, not in the state); both may dial the same "
                                  f"contacts. Pause or delete {o.task_id} on the platform", c)
                blocked = True
                continue
            ctx.actions.append(Action(ActionKind.DELETE, c.name, c.provider, wave, o.name,
                                      f"duplicate of task {keeper.record.task_id} (a create whose answer was lost "
                                      "landed twice); it never started, nobody was called", task_id=o.task_id,
                                      drift=True))
    if blocked:
        return None
    # Interrupted inserts: the platform's number count tells.
    for e in ctx.pending(c.name):
        if e.call != "insert":
            continue
        task = next((t for t in tasks if t.record.task_id == e.task_id), None)
        if task is None:
            continue
        intent = intent_of(e)
        assert isinstance(intent, InsertIntent)
        count = task.observed.contact_count if task.observed is not None else None
        if task.observed is not None and count is None:  # the listing reports no count: apply asks (TaskInfo)
            known = set(task.phones)
            task.phones.extend(p for p in intent.phones if p not in known)
            ctx.notes.append(f"{c.name}: an interrupted insert of {len(intent.phones)} contacts into "
                             f"{task.record.remote_name}: the listing reports no number count; apply settles it "
                             "from the task's own count before sending anything again")
            continue
        verdict = settle_insert(intent, count, age=age_seconds(e, ctx.now), window=tr.settle_window)
        if verdict is Verdict.LANDED:
            known = set(task.phones)
            task.phones.extend(p for p in intent.phones if p not in known)
            ctx.notes.append(f"{c.name}: an interrupted insert of {len(intent.phones)} contacts into "
                             f"{task.record.remote_name} reached the platform")
        elif verdict is Verdict.IN_FLIGHT:
            known = set(task.phones)
            task.phones.extend(p for p in intent.phones if p not in known)
            ctx.notes.append(f"{c.name}: an insert of {len(intent.phones)} contacts into {task.record.remote_name} "
                             "may still land; apply waits for it before sending anything again")
        elif verdict is Verdict.AMBIGUOUS:
            before = intent.count_before
            ctx.error(c.name, f"an interrupted insert into task {task.record.remote_name} ({task.record.task_id}) "
                              f"cannot be settled: the platform holds {count} numbers, expected {before} or "
                              f"{(before or 0) + len(intent.phones)}. Check the task, then settle it with "
                              f"`campaignctl state resolve {c.name} --dialed` (it landed) or --not-dialed", c)
            return None
    for wave, e in creates.items():
        if wave in live_by_wave:
            _carried(cc, live_by_wave[wave], intent_of(e), ctx)
            continue
        verdict = settle_create(None, age=age_seconds(e, ctx.now), window=tr.settle_window)
        if verdict is Verdict.IN_FLIGHT:
            ctx.notes.append(f"{c.name}: a create of wave {wave} lost its answer and may still land; apply waits "
                             f"up to {tr.settle_window:.0f}s for it before creating the task")
    return sorted(tasks, key=lambda t: t.record.wave)


def _carried(cc: _Campaign, task: _Task, intent: object, ctx: _Ctx) -> None:
    """A pending create whose task is recorded: the numbers it carried (yccall) landed with it unless the task
    is empty, even when the interruption came before they were recorded. Never sent again."""
    if not isinstance(intent, CreateIntent) or not intent.phones or task.observed is None:
        return
    if task.observed.contact_count == 0:
        return
    known = set(task.phones)
    missing = [p for p in intent.phones if p not in known]
    if missing:
        task.phones.extend(missing)
        ctx.notes.append(f"{cc.c.name}: the {len(missing)} contacts an interrupted create of "
                         f"{task.record.remote_name} carried count as sent (apply records them)")


def _warn_changed_rows(c: DesiredCampaign, ctx: _Ctx, live: Sequence[_Task]) -> None:
    sent_fp = {r.phone: r.fingerprint for r in ctx.recorded.contacts.get(c.name, ())
               if r.status is ContactStatus.SENT}
    if not sent_fp or not live:
        return
    changed = sum(1 for row in c.contacts.rows if row.phone in sent_fp and sent_fp[row.phone] != row.fingerprint)
    if changed and live:
        ctx.warn(c.name, f"{changed} contacts changed values after they were sent; the platform keeps the "
                         "values it was sent (there is no update call)", c)


# --- direct mode ---------------------------------------------------------------


def _direct(cc: _Campaign, ctx: _Ctx) -> None:
    c = cc.c
    tr = ctx.traits[c.provider]
    if not tr.capabilities.direct_callout:
        ctx.error(c.name, f"profile {c.provider!r} ({tr.type}) has no direct callout", c)
        return
    if any(not t.deleted for t in ctx.recorded.tasks.get(c.name, ())) and c.state == "running":
        ctx.error(c.name, "the campaign has task(s) from `mode: task`; dialing directly would call their contacts "
                          "again. Set `state: absent` and apply first, or give the direct campaign a new name", c)
        return
    if c.state == "running" and _marker_holds(c, c.settings_fingerprint(), ctx):
        # Converged (state.base.Converged): every number of this table, without what the same lists kept
        # out, was dialed, and no contact record of the campaign was written since (each such write clears
        # the marker). The full diff below then finds nothing to dial and nothing to warn of, at any hour.
        mark = ctx.recorded.converged[c.name]
        ctx.policy.as_marked(c, len(c.contacts.rows), mark.suppressed)
        kept_out = sum(n for _, n in mark.suppressed)
        ctx.summaries.append(CampaignSummary(c.name, c.provider, "direct", c.state, "direct",
                                             len(c.contacts.rows), len(c.contacts.rows) - kept_out + mark.extra))
        cc.marker = mark
        return
    records = [r for r in ctx.recorded.contacts.get(c.name, ()) if not r.task_id]
    status = {r.phone: r.status for r in records}
    unknown = sum(1 for s in status.values() if s is ContactStatus.UNKNOWN)
    if unknown:
        ctx.warn(c.name, f"{unknown} contacts have an unknown dial outcome and will not be dialed until settled "
                         f"with `campaignctl state resolve {c.name} --dialed|--not-dialed`", c)
    done = {p for p, s in status.items() if s in (ContactStatus.DIALED, ContactStatus.UNKNOWN)}
    if c.state == "running":
        cc.index = ctx.policy.suppress(c, _positions(c, ctx))
        todo, late = ctx.policy.direct(c, [p for p in cc.index if p not in done])
        if late:
            ctx.warn(c.name, late, c)
        if todo:
            rows, idx = cc.rows(todo)
            ctx.actions.append(Action(
                ActionKind.DIAL, c.name, c.provider, 0, c.name,
                f"{len(todo)} contacts in the files have never been dialed",
                phones=tuple(todo), rows=rows, row_index=idx,
                calls=math.ceil(len(todo) / max(tr.limits.callout_batch, 1)),
            ))
    dialed = sum(1 for s in status.values() if s is ContactStatus.DIALED)
    if c.state == "running" and not unknown:
        undialed = sum(1 for p in cc.index if status.get(p) is not ContactStatus.DIALED)
        if undialed == len(todo):  # (todo is the undialed numbers: all of them, or fewer when deferred)
            cc.dialed_beyond = dialed + undialed - len(cc.index)
    ctx.summaries.append(CampaignSummary(c.name, c.provider, "direct", c.state, "direct",
                                         len(c.contacts.rows), dialed))


# --- campaigns that left the files, and strangers ---------------------------------


def _removed(name: str, ctx: _Ctx) -> None:
    records = [r for r in ctx.recorded.tasks.get(name, ()) if not r.deleted]
    crec = ctx.recorded.campaigns.get(name)
    if not records:
        return
    profile = records[0].profile
    if profile in ctx.observed.errors:
        ctx.error(name, f"cannot observe profile {profile!r}: {ctx.observed.errors[profile]}")
        return
    tr = ctx.traits.get(profile)
    by_id = ctx.by_id.get(profile, {})
    live = []
    for r in records:
        o = by_id.get(r.task_id)
        if o is None or o.deleted or o.phase is Phase.ABSENT:
            continue
        ctx.involved.add((profile, r.task_id))
        if tr is not None and _done_with(r, o.phase, tr):
            continue
        live.append(r)
    if not live:
        return
    if ctx.prune:
        for r in live:
            ctx.actions.append(Action(ActionKind.DELETE, name, profile, r.wave, r.remote_name,
                                      "the campaign left the files and prune is on", task_id=r.task_id))
    else:
        ctx.warn(name, f"the campaign left the files; its {len(live)} task(s) stay on profile {profile!r} "
                       "(enable prune or pass --prune to delete them)")
    mode = crec.mode if crec else "task"
    ctx.summaries.append(CampaignSummary(name, profile, mode, "removed", "unknown", 0,
                                         len(ctx.recorded.contacts.get(name, ())),
                                         tuple(r.task_id for r in live)))


def _orphans(desired: DesiredState, ctx: _Ctx) -> None:
    known = {r.task_id for recs in ctx.recorded.tasks.values() for r in recs}
    adopted = {a.task_id for a in ctx.actions if a.kind is ActionKind.ADOPT}
    for profile, tasks in ctx.observed.tasks.items():
        tr = ctx.traits.get(profile)
        if tr is None:
            continue
        bases = {tr.task_name(c.name, 1): c.name for c in desired.campaigns}
        for o in tasks:
            if o.task_id in known or o.task_id in adopted or o.deleted or o.phase is Phase.ABSENT:
                continue
            if _base_of(o.name, bases, tr) is not None:
                continue  # reported against its campaign
            ctx.warn("", f"task {o.name} ({o.task_id}) on profile {profile!r} carries the ownership prefix but "
                         "is in neither the files nor the state; it is left alone")


# --- summaries and digests ------------------------------------------------------------


def _summary(ctx: _Ctx, c: DesiredCampaign, tasks: Sequence[_Task], observed: str | None = None,
             sent: int | None = None) -> None:
    newest = max(tasks, key=lambda t: t.record.wave) if tasks else None
    obs = observed or (newest.phase.value if newest is not None else Phase.ABSENT.value)
    if sent is None:
        sent = len({p for t in tasks if t.phase is not Phase.ABSENT for p in t.phones})
    called = [t.observed.called for t in tasks if t.observed is not None and t.observed.called is not None]
    answered = [t.observed.answered for t in tasks if t.observed is not None and t.observed.answered is not None]
    ctx.summaries.append(CampaignSummary(
        c.name, c.provider, c.mode, c.state, obs, len(c.contacts.rows), sent,
        tuple(t.record.task_id for t in tasks if t.phase is not Phase.ABSENT),
        sum(called) if called else None, sum(answered) if answered else None,
    ))
