"""The diff: a pure function from (desired, observed, recorded, now) to a Plan.

No I/O. DESIGN.md section 4 is implemented here, cell by cell; see
``tests/engine/test_diff.py`` for the table. Contact identity is the
normalised phone: a phone recorded as sent to a live task (or dialed, or of
unknown dial outcome) is never sent again unless a replacement the user
allowed says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reconciler.engine.inputs import Observed, ProviderTraits, Recorded
from reconciler.engine.plan import Action, ActionKind, CampaignSummary, Diagnostic, Plan, PlanMeta
from reconciler.model import DesiredCampaign, DesiredState, canonical_json, digest
from reconciler.providers.base import ObservedTask, Phase
from reconciler.state.base import ContactStatus, JournalEntry, TaskRecord

__all__ = ["InsertResolution", "diff", "resolve_insert", "wave_of"]

InsertResolution = Literal["applied", "not-applied", "ambiguous"]


def resolve_insert(entry: JournalEntry, count_now: int | None) -> InsertResolution:
    """Decide what an interrupted insert did from the platform's number count.

    The journal intent records how many numbers the task held before the
    batch (``count_before``) and the batch's phones. Equal to before: nothing
    was added; before + batch: all of it was; anything else: we cannot tell.
    """
    before = entry.request.get("count_before")
    phones = entry.request.get("phones") or []
    if count_now is None or not isinstance(before, int):
        return "ambiguous"
    if count_now == before:
        return "not-applied"
    if count_now == before + len(phones):
        return "applied"
    return "ambiguous"


def wave_of(remote_name: str, base: str) -> int | None:
    """Wave number of a remote task name for a campaign base name, else None."""
    if remote_name == base:
        return 1
    prefix = base + "~"
    if remote_name.startswith(prefix) and remote_name[len(prefix) :].isdigit():
        wave = int(remote_name[len(prefix) :])
        return wave if wave >= 2 else None
    return None


@dataclass
class _Ctx:
    observed: Observed
    recorded: Recorded
    traits: Mapping[str, ProviderTraits]
    prune: bool
    allow_replace: frozenset[str]
    now: datetime
    actions: list[Action] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summaries: list[CampaignSummary] = field(default_factory=list)
    involved: set[tuple[str, str]] = field(default_factory=set)  # (profile, task_id) observed

    def error(self, campaign: str, message: str, c: DesiredCampaign | None = None) -> None:
        self.diags.append(Diagnostic("error", campaign, message, c.mark.file if c else "", c.mark.line if c else 0))

    def warn(self, campaign: str, message: str, c: DesiredCampaign | None = None) -> None:
        self.diags.append(
            Diagnostic("warning", campaign, message, c.mark.file if c else "", c.mark.line if c else 0)
        )


@dataclass
class _Task:
    """A recorded (or adoptable) task joined with what the platform shows."""

    record: TaskRecord
    observed: ObservedTask | None
    phones: list[str]  # contacts recorded as sent to it, in send order

    @property
    def phase(self) -> Phase:
        return Phase.ABSENT if self.observed is None or self.observed.deleted else self.observed.phase

    @property
    def started(self) -> bool:
        return self.record.started or (self.observed is not None and self.observed.started)


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
) -> Plan:
    ctx = _Ctx(
        observed=observed,
        recorded=recorded,
        traits=traits,
        prune=desired.project.prune if prune is None else prune,
        allow_replace=frozenset(allow_replace),
        now=now,
    )
    unknown_names = ctx.allow_replace - {c.name for c in desired.campaigns}
    for name in sorted(unknown_names):
        ctx.warn(name, "--allow-replace names a campaign that is not in the files")
    for campaign in desired.campaigns:
        if campaign.provider not in traits:
            ctx.error(campaign.name, f"provider profile {campaign.provider!r} is not configured", campaign)
            continue
        if campaign.mode == "direct":
            _direct(campaign, ctx)
        else:
            _task_campaign(campaign, ctx)
    desired_names = {c.name for c in desired.campaigns}
    for name in sorted(set(recorded.tasks) | set(recorded.campaigns)):
        if name not in desired_names:
            _removed(name, ctx)
    _orphans(desired, ctx)
    base_meta = meta or PlanMeta()
    plan_meta = PlanMeta(
        created_at=base_meta.created_at or now.isoformat(),
        config_dir=base_meta.config_dir,
        config_digest=base_meta.config_digest,
        state_lineage=recorded.lineage,
        state_serial=recorded.serial,
        observed_digest=_observed_digest(observed, ctx.involved),
        prune=ctx.prune,
        allow_replace=tuple(sorted(ctx.allow_replace)),
    )
    return Plan(
        actions=tuple(ctx.actions),
        diagnostics=tuple(ctx.diags),
        campaigns=tuple(ctx.summaries),
        meta=plan_meta,
        notes=tuple(ctx.notes),
    )


# --- task mode ---------------------------------------------------------------


def _task_campaign(c: DesiredCampaign, ctx: _Ctx) -> None:
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
    if any(not r.task_id for r in ctx.recorded.contacts.get(c.name, ())) and c.state != "absent":
        ctx.error(c.name, "the campaign was `mode: direct` before and has dialed contacts directly; a task would "
                          "dial them again. Give the task campaign a new name", c)
        return
    if c.provider in ctx.observed.errors:
        ctx.error(c.name, f"cannot observe profile {c.provider!r}: {ctx.observed.errors[c.provider]}", c)
        _summary(ctx, c, [], observed="unknown")
        return
    remote = ctx.observed.tasks.get(c.provider, ())
    tasks = _join(c, tr, records, remote, ctx)
    if tasks is None:
        return
    for t in tasks:
        if t.observed is not None:
            ctx.involved.add((c.provider, t.record.task_id))
    if c.state == "absent":
        _absent(c, tr, tasks, ctx)
        _summary(ctx, c, tasks)
        return

    fingerprint = c.settings_fingerprint()
    desired_phones = [r.phone for r in c.contacts.rows]
    desired_set = set(desired_phones)
    allowed = c.lifecycle.allow_replace or c.name in ctx.allow_replace
    pending_deletes = {e.task_id for e in ctx.recorded.pending if e.call == "delete" and e.campaign == c.name}

    # Tasks gone from the platform without us deleting them: drift.
    live: list[_Task] = []
    for t in tasks:
        if t.phase is not Phase.ABSENT:
            live.append(t)
            continue
        if t.record.task_id in pending_deletes:
            ctx.notes.append(f"{c.name}: task {t.record.task_id} was deleted by an interrupted apply")
            continue
        if t.started and not allowed:
            ctx.error(
                c.name,
                f"task {t.record.remote_name} ({t.record.task_id}) was deleted outside campaignctl after it "
                f"started; recreating it would dial its {len(t.phones)} contacts again. Pass "
                f"--allow-replace {c.name} to recreate it",
                c,
            )
            _summary(ctx, c, tasks)
            return
        why = "after it started (--allow-replace given)" if t.started else "before it started; nobody was called"
        ctx.warn(c.name, f"task {t.record.remote_name} ({t.record.task_id}) was deleted outside campaignctl {why}")

    sent: set[str] = set()
    for t in live:
        sent.update(t.phones)
    _warn_changed_rows(c, ctx, live)

    # Settings the platform cannot update: replace unstarted tasks, refuse started ones.
    replaced: dict[str, list[str]] = {}  # task_id → contacts to carry to the replacement
    for t in live:
        if t.record.settings_fingerprint == fingerprint or t.phase is Phase.FINISHED:
            if t.record.settings_fingerprint != fingerprint:
                ctx.notes.append(f"{c.name}: settings changed but task {t.record.remote_name} has finished")
            continue
        keep = [p for p in t.phones if p in desired_set]
        if not t.started or allowed:
            replaced[t.record.task_id] = keep
        else:
            ctx.error(
                c.name,
                f"settings changed (robot, lines, voice, schedule, windows, recall, turbo or columns) but task "
                f"{t.record.remote_name} ({t.record.task_id}) has started and the platform cannot update it; "
                f"replacing it would dial {len(keep)} contacts again. Set lifecycle.allow_replace or pass "
                f"--allow-replace {c.name}",
                c,
            )
            _summary(ctx, c, tasks)
            return

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
            ctx.warn(
                c.name,
                f"{len(gone)} contacts removed from the files stay queued in task {t.record.remote_name} "
                f"({t.record.task_id}): the platform has no call that removes numbers",
                c,
            )

    missing = [p for p in desired_phones if p not in sent]
    current = max(live, key=lambda t: t.record.wave) if live else None

    # Emit per task lane, oldest wave first.
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

    for t in sorted(live, key=lambda t: t.record.wave):
        rec = t.record
        name = rec.remote_name
        if rec.task_id in replaced:
            carry = replaced[rec.task_id]
            redial = len(carry) if t.started else 0
            why = (
                "settings changed"
                if rec.settings_fingerprint != fingerprint
                else "contacts were removed from the files and the task has not started"
            )
            if t.started:
                why += f"; replacement allowed, {redial} contacts will be dialed again"
            else:
                why += "; the task has not started, nobody was called"
            ctx.actions.append(
                Action(ActionKind.DELETE, c.name, c.provider, rec.wave, name, f"replace: {why}",
                       task_id=rec.task_id, replaces=True, redial=redial)
            )
            _create_lane(c, tr, ctx, rec.wave, carry, f"replace: {why}", replaces=True, redial=redial)
            continue
        if rec.task_id in removals:
            gone = removals[rec.task_id]
            ctx.actions.append(
                Action(ActionKind.REMOVE, c.name, c.provider, rec.wave, name,
                       f"{len(gone)} contacts left the files", task_id=rec.task_id, phones=tuple(gone),
                       calls=1)
            )
        if rec.task_id == target_for_missing:
            ctx.actions.append(_insert(c, tr, rec.wave, name, rec.task_id, missing,
                                       f"{len(missing)} contacts in the files are not in the task"))
        if t.phase is Phase.FINISHED:
            ctx.notes.append(f"{c.name}: task {name} ({rec.task_id}) has finished")
            continue
        _run_state(c, ctx, t)

    if new_wave_phones:
        wave = 1 if current is None else max(t.record.wave for t in tasks) + 1
        why = (
            "not on the platform"
            if current is None
            else f"{len(new_wave_phones)} contacts added after task {current.record.remote_name} started "
            f"(the platform accepts numbers only before start): follow-up wave {wave}"
        )
        _create_lane(c, tr, ctx, wave, new_wave_phones, why)
    _summary(ctx, c, tasks)


def _accepts_contacts(t: _Task, tr: ProviderTraits) -> bool:
    if not t.started and t.phase is Phase.NOT_STARTED:
        return True
    return tr.capabilities.add_after_start and t.phase in (Phase.NOT_STARTED, Phase.RUNNING, Phase.PAUSED)


def _insert(c: DesiredCampaign, tr: ProviderTraits, wave: int, name: str, task_id: str,
            phones: Sequence[str], reason: str) -> Action:
    return Action(ActionKind.INSERT, c.name, c.provider, wave, name, reason, task_id=task_id,
                  phones=tuple(phones), calls=math.ceil(len(phones) / max(tr.limits.add_batch, 1)))


def _create_lane(c: DesiredCampaign, tr: ProviderTraits, ctx: _Ctx, wave: int, phones: Sequence[str],
                 reason: str, *, replaces: bool = False, redial: int = 0) -> None:
    name = tr.task_name(c.name, wave)
    carried: Sequence[str] = ()
    if tr.capabilities.create_with_contacts:
        carried = phones[: tr.limits.create_batch]
        if not carried:
            ctx.error(c.name, "the platform needs at least one contact to create a task", c)
            return
    ctx.actions.append(Action(ActionKind.CREATE, c.name, c.provider, wave, name, reason,
                              phones=tuple(carried), replaces=replaces, redial=redial))
    rest = phones[len(carried):]
    if rest:
        ctx.actions.append(_insert(c, tr, wave, name, "", rest, f"{len(phones)} contacts for the new task"))
    if c.state == "running":
        ctx.actions.append(Action(ActionKind.START, c.name, c.provider, wave, name, "the files say running"))


def _run_state(c: DesiredCampaign, ctx: _Ctx, t: _Task) -> None:
    rec, phase = t.record, t.phase
    if c.state == "running" and phase in (Phase.NOT_STARTED, Phase.PAUSED):
        reason = "the files say running" if phase is Phase.NOT_STARTED else "paused; the files say running"
        ctx.actions.append(Action(ActionKind.START, c.name, c.provider, rec.wave, rec.remote_name, reason,
                                  task_id=rec.task_id))
    elif c.state == "paused" and phase is Phase.RUNNING:
        drift = not rec.started  # running, yet campaignctl never started it
        reason = "started outside campaignctl; the files say paused" if drift else "running; the files say paused"
        ctx.actions.append(Action(ActionKind.PAUSE, c.name, c.provider, rec.wave, rec.remote_name, reason,
                                  task_id=rec.task_id, drift=drift))


def _absent(c: DesiredCampaign, tr: ProviderTraits, tasks: Sequence[_Task], ctx: _Ctx) -> None:
    for t in tasks:
        if t.phase is Phase.ABSENT:
            continue
        if tr.capabilities.delete_is_end and t.phase is Phase.FINISHED:
            continue
        if c.lifecycle.prevent_destroy:
            ctx.error(c.name, f"`state: absent` would delete task {t.record.remote_name} ({t.record.task_id}) "
                              "but lifecycle.prevent_destroy is set", c)
            continue
        ctx.actions.append(Action(ActionKind.DELETE, c.name, c.provider, t.record.wave, t.record.remote_name,
                                  "the files say absent", task_id=t.record.task_id))


def _join(c: DesiredCampaign, tr: ProviderTraits, records: Sequence[TaskRecord],
          remote: Sequence[ObservedTask], ctx: _Ctx) -> list[_Task] | None:
    """Pair state records with observed tasks; adopt tasks an interrupted apply created."""
    by_id = {t.task_id: t for t in remote}
    contacts = ctx.recorded.contacts.get(c.name, ())
    phones_by_task: dict[str, list[str]] = {}
    for rec in contacts:
        if rec.task_id and rec.status is ContactStatus.SENT:
            phones_by_task.setdefault(rec.task_id, []).append(rec.phone)
    tasks = [_Task(r, by_id.get(r.task_id), phones_by_task.get(r.task_id, [])) for r in records]
    known_ids = {r.task_id for r in ctx.recorded.tasks.get(c.name, ())}
    base = tr.task_name(c.name, 1)
    pending_creates = {
        int(e.request.get("wave", 0)): e
        for e in ctx.recorded.pending
        if e.call == "create" and e.campaign == c.name and e.profile == c.provider
    }
    live_waves = {t.record.wave for t in tasks if t.phase is not Phase.ABSENT}
    for o in remote:
        if o.task_id in known_ids or o.deleted or o.phase is Phase.ABSENT:
            continue
        wave = wave_of(o.name, base)
        if wave is None:
            continue
        entry = pending_creates.get(wave)
        if entry is not None and wave not in live_waves:
            fp = str(entry.request.get("fingerprint", ""))
            carried = [p for p in entry.request.get("phones", [])] if o.contact_count else []
            adopted = TaskRecord(c.name, wave, c.provider, o.task_id, o.name, fp, started=o.started)
            ctx.actions.append(Action(ActionKind.ADOPT, c.name, c.provider, wave, o.name,
                                      "created by an interrupted apply (found on the platform by exact name)",
                                      task_id=o.task_id))
            tasks.append(_Task(adopted, o, list(carried)))
            live_waves.add(wave)
            continue
        ctx.error(
            c.name,
            f"task {o.name} ({o.task_id}) exists on profile {c.provider!r} but not in the state; adopt it "
            f"with `campaignctl import {c.name} {o.task_id}` or rebuild the state with `campaignctl state "
            f"rebuild`",
            c,
        )
        return None
    # Interrupted inserts: settle them from the platform's number count.
    for e in ctx.recorded.pending:
        if e.call != "insert" or e.campaign != c.name:
            continue
        task = next((t for t in tasks if t.record.task_id == e.task_id), None)
        if task is None:
            continue
        count = task.observed.contact_count if task.observed is not None else None
        verdict = resolve_insert(e, count)
        if verdict == "applied":
            task.phones.extend(p for p in e.request.get("phones", []) if p not in task.phones)
            ctx.notes.append(f"{c.name}: an interrupted insert of {len(e.request.get('phones', []))} contacts "
                             f"into {task.record.remote_name} reached the platform")
        elif verdict == "ambiguous":
            ctx.error(c.name, f"an interrupted insert into task {task.record.remote_name} ({task.record.task_id}) "
                              f"cannot be settled: the platform holds {count} numbers, expected "
                              f"{e.request.get('count_before')} or "
                              f"{int(e.request.get('count_before') or 0) + len(e.request.get('phones', []))}", c)
            return None
    return sorted(tasks, key=lambda t: t.record.wave)


def _warn_changed_rows(c: DesiredCampaign, ctx: _Ctx, live: Sequence[_Task]) -> None:
    sent_fp = {r.phone: r.fingerprint for r in ctx.recorded.contacts.get(c.name, ())
               if r.status is ContactStatus.SENT}
    changed = sum(1 for row in c.contacts.rows if row.phone in sent_fp and sent_fp[row.phone] != row.fingerprint)
    if changed and live:
        ctx.warn(c.name, f"{changed} contacts changed values after they were sent; the platform keeps the "
                         "values it was sent (there is no update call)", c)


# --- direct mode ---------------------------------------------------------------


def _direct(c: DesiredCampaign, ctx: _Ctx) -> None:
    tr = ctx.traits[c.provider]
    if not tr.capabilities.direct_callout:
        ctx.error(c.name, f"profile {c.provider!r} ({tr.type}) has no direct callout", c)
        return
    if any(not t.deleted for t in ctx.recorded.tasks.get(c.name, ())) and c.state == "running":
        ctx.error(c.name, "the campaign has task(s) from `mode: task`; dialing directly would call their contacts "
                          "again. Set `state: absent` and apply first, or give the direct campaign a new name", c)
        return
    records = [r for r in ctx.recorded.contacts.get(c.name, ()) if not r.task_id]
    status = {r.phone: r.status for r in records}
    unknown = sum(1 for s in status.values() if s is ContactStatus.UNKNOWN)
    if unknown:
        ctx.warn(c.name, f"{unknown} contacts have an unknown dial outcome and will not be dialed until settled "
                         f"with `campaignctl state resolve {c.name} --dialed|--not-dialed`", c)
    done = {p for p, s in status.items() if s in (ContactStatus.DIALED, ContactStatus.UNKNOWN)}
    if c.state == "running":
        todo = [r.phone for r in c.contacts.rows if r.phone not in done]
        if todo:
            ctx.actions.append(Action(
                ActionKind.DIAL, c.name, c.provider, 0, c.name,
                f"{len(todo)} contacts in the files have never been dialed",
                phones=tuple(todo), calls=math.ceil(len(todo) / max(tr.limits.callout_batch, 1)),
            ))
    dialed = sum(1 for s in status.values() if s is ContactStatus.DIALED)
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
    by_id = {t.task_id: t for t in ctx.observed.tasks.get(profile, ())}
    live = []
    for r in records:
        o = by_id.get(r.task_id)
        if o is None or o.deleted or o.phase is Phase.ABSENT:
            continue
        ctx.involved.add((profile, r.task_id))
        if tr is not None and tr.capabilities.delete_is_end and o.phase is Phase.FINISHED:
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
    names = {c.name for c in desired.campaigns}
    adopted = {a.task_id for a in ctx.actions if a.kind is ActionKind.ADOPT}
    for profile, tasks in ctx.observed.tasks.items():
        tr = ctx.traits.get(profile)
        if tr is None:
            continue
        for o in tasks:
            if o.task_id in known or o.task_id in adopted or o.deleted or o.phase is Phase.ABSENT:
                continue
            if any(wave_of(o.name, tr.task_name(n, 1)) is not None for n in names):
                continue  # reported against its campaign
            ctx.warn("", f"task {o.name} ({o.task_id}) on profile {profile!r} carries the ownership prefix but "
                         "is in neither the files nor the state; it is left alone")


# --- summaries and digests ------------------------------------------------------------


def _summary(ctx: _Ctx, c: DesiredCampaign, tasks: Sequence[_Task], observed: str | None = None) -> None:
    newest = max(tasks, key=lambda t: t.record.wave) if tasks else None
    obs = observed or (newest.phase.value if newest is not None else Phase.ABSENT.value)
    sent = len({p for t in tasks if t.phase is not Phase.ABSENT for p in t.phones})
    called = [t.observed.called for t in tasks if t.observed is not None and t.observed.called is not None]
    answered = [t.observed.answered for t in tasks if t.observed is not None and t.observed.answered is not None]
    ctx.summaries.append(CampaignSummary(
        c.name, c.provider, c.mode, c.state, obs, len(c.contacts.rows), sent,
        tuple(t.record.task_id for t in tasks if t.phase is not Phase.ABSENT),
        sum(called) if called else None, sum(answered) if answered else None,
    ))


def _observed_digest(observed: Observed, involved: set[tuple[str, str]]) -> str:
    rows = []
    for profile, tasks in sorted(observed.tasks.items()):
        for t in tasks:
            if (profile, t.task_id) in involved or not involved:
                rows.append([profile, t.task_id, t.name, t.phase.value, t.deleted, t.contact_count])
    rows.sort()
    return digest(canonical_json({"tasks": rows, "errors": sorted(observed.errors)}))
