"""Apply: execute a plan, journaling every mutating call.

Apply executes the plan it is given: the rows, row batches and settings
fingerprints come from the actions, nothing is re-read from the files or
recomputed. Rules (DESIGN.md section 5, "never dial twice"):

* The journal intent (``engine.settle``'s typed intents) is written *before*
  each mutating call, state writes follow the answer, the outcome comes
  last. A crash anywhere leaves a PENDING entry that ``settle.recover``
  settles by observing the platform before the next plan.
* Create and insert are never re-sent inside the apply that lost their
  answer: the platform is watched for the settle window (a slow vendor may
  still land the call); if it shows the call landed it is recorded,
  otherwise the lane stops and the next apply settles it first.
* A direct-callout batch is recorded as ``unknown`` before it is sent; a
  lost answer leaves it unknown for good (until ``state resolve``).
* Lanes (one per task) run in parallel; a failure stops its lane only.
* The dialing policy is checked again immediately before every direct-callout
  batch and every start (``engine.policy.dial_closed`` at ``now()``): an apply
  that runs into closed calling hours stops dialing there; the rest stays due
  and its lane ends SKIPPED (``deferred``, not a failure). Numbers put on the
  opt-out list while apply runs (``optout add``, or the results receiver
  hearing a refusal) are left out of every create, insert and callout batch
  still to send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn, TypeVar

from reconciler.config.gcpause import paused_gc
from reconciler.engine.clock import system_clock
from reconciler.engine.inputs import Observed
from reconciler.engine.plan import (
    Action,
    ActionKind,
    ApplyHooks,
    ApplyResult,
    Lane,
    Plan,
    StepResult,
    StepStatus,
)
from reconciler.engine.policy import calendar_for, dial_closed, policy_hold, when_text
from reconciler.engine.settle import (
    CalloutIntent,
    CreateIntent,
    InsertIntent,
    RemoveIntent,
    TaskCallIntent,
    Verdict,
    await_create,
    await_insert,
    hold_carried,
    intent_of,
    now_iso,
    record_task,
    sent_records,
    settle_carried,
    settle_window,
    task_records,
)
from reconciler.errors import CampaignctlError, NotSent, OutcomeUnknown, ProviderError, StateError
from reconciler.model import ContactRow, DesiredCampaign, DesiredState
from reconciler.providers.base import Gate, Phase, Provider
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    Listed,
    Records,
    StateStore,
    TaskRecord,
)

__all__ = ["Applier"]

_B = TypeVar("_B")


class _LaneFailed(Exception):
    def __init__(self, status: StepStatus, detail: str, calls: int = 0, done: int = 0,
                 deferred: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.calls = calls
        self.done = done
        self.deferred = deferred  # stopped by the calling hours: due later, not a failure


@dataclass
class _LaneState:
    task_id: str
    count: int | None  # numbers the task holds, as far as we know
    calls: int = 0
    paused: bool = False  # paused by an earlier step of this lane


class Applier:
    def __init__(
        self,
        desired: DesiredState,
        providers: Mapping[str, Provider],
        store: StateStore,
        observed: Observed,
        *,
        hooks: ApplyHooks | None = None,
        parallelism: int = 4,
        clock: Callable[[], str] = now_iso,
        windows: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = system_clock,
    ) -> None:
        self.desired = desired
        self.now = now  # the dialing policy's clock (engine.clock), read before every batch
        self.providers = providers
        self.store = store
        self.hooks = hooks or ApplyHooks()
        self.parallelism = max(1, parallelism)
        self.clock = clock
        self.sleep = sleep
        self.windows = dict(windows) if windows is not None else {
            name: settle_window(p.profile.options) for name, p in providers.items()}
        self._observed = {(p, t.task_id): t for p, ts in observed.tasks.items() for t in ts}
        self._campaigns_recorded: set[str] = set()
        self._record_lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask every lane to stop at its next safe point (between vendor calls)."""
        self._stop.set()

    # --- public -------------------------------------------------------------

    def execute(self, plan: Plan) -> ApplyResult:
        lanes = plan.lanes()
        self.hooks.plan_started(len(plan.actions), sum(a.calls for a in plan.actions))
        results: list[StepResult] = []
        pool = ThreadPoolExecutor(max_workers=self.parallelism)
        try:
            # Lanes make short-lived objects and no cycles: the collector would only compete for the
            # interpreter lock they share (a few per cent of a parallel apply's CPU).
            with paused_gc():
                for lane_results in pool.map(self._run_lane, lanes):
                    results.extend(lane_results)
        except BaseException:
            # Ctrl-C (or a crash): lanes finish the call in flight (journaled), then stop.
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
        errors: tuple[str, ...] = ()
        try:
            self.store.flush()  # the last outcomes (each rode with its lane's next intent until now)
        except StateError as exc:
            errors = (str(exc),)
        order = {id(a): i for i, a in enumerate(plan.actions)}
        results.sort(key=lambda r: order.get(id(r.action), 0))
        return ApplyResult(steps=tuple(results), errors=errors)

    # --- lanes ----------------------------------------------------------------

    def _run_lane(self, lane: Lane) -> list[StepResult]:
        provider = self.providers[lane.profile]
        first = lane.actions[0]
        observed = self._observed.get((lane.profile, first.task_id)) if first.task_id else None
        state = _LaneState(first.task_id, observed.contact_count if observed else None)
        out: list[StepResult] = []
        failed = False
        waiting = False  # the calling hours closed: the rest of the lane waits for them
        for action in lane.actions:
            if waiting:
                out.append(StepResult(action, StepStatus.SKIPPED, "waits for the calling hours", deferred=True))
                continue
            if failed or self._stop.is_set():
                why = "an earlier step of this task failed" if failed else "apply was interrupted"
                out.append(StepResult(action, StepStatus.SKIPPED, why))
                continue
            self.hooks.step_started(action)
            state.calls = 0
            if action.task_id and action.task_id != state.task_id and action.kind is not ActionKind.ADOPT:
                # A lane may act on a duplicate task before its own.
                seen = self._observed.get((lane.profile, action.task_id))
                state.task_id, state.count = action.task_id, seen.contact_count if seen else None
            try:
                campaign = self.desired.campaign(action.campaign)
                done = self._step(action, campaign, provider, state)
                result = StepResult(action, StepStatus.OK, calls=state.calls, done=done, task_id=state.task_id)
            except _LaneFailed as exc:
                failed, waiting = not exc.deferred, exc.deferred
                result = StepResult(action, exc.status, exc.detail, calls=state.calls, done=exc.done,
                                    task_id=state.task_id, deferred=exc.deferred)
            except ProviderError as exc:
                failed = True
                err = exc.with_campaign(action.campaign) if not exc.campaign else exc
                result = StepResult(action, StepStatus.FAILED, str(err), calls=state.calls, task_id=state.task_id)
            except CampaignctlError as exc:
                failed = True
                result = StepResult(action, StepStatus.FAILED, str(exc), calls=state.calls, task_id=state.task_id)
            out.append(result)
            self.hooks.step_finished(result)
        return out

    def _step(self, action: Action, c: DesiredCampaign | None, provider: Provider, st: _LaneState) -> int:
        kind = action.kind
        if kind is ActionKind.DELETE:
            self._simple(action, provider, st, "delete", provider.delete,
                         lambda r: replace(r, deleted=True, started=r.started or self._seen_started(action)))
            return 0
        if kind is ActionKind.START:
            then = "the task is started by a plan inside them"
            gate = None
            if c is not None:
                self._check_hours(c, 0, then)
                gate = self._hours_gate(c)
            try:
                self._simple(action, provider, st, "start", lambda task_id: provider.start(task_id, gate=gate),
                             lambda r: replace(r, started=True, run_state="running"))
            except NotSent as exc:
                if c is None:  # (only a gate says NotSent, and only a campaign has one)
                    raise
                self._unsent(c, exc, 0, then, 0)
            return 0
        if kind is ActionKind.PAUSE:
            held = "held" if policy_hold(action) else "paused"  # a policy pause: watch resumes it in the hours
            self._simple(action, provider, st, "pause", provider.pause,
                         lambda r: replace(r, started=True, run_state=held))
            st.paused = True
            return 0
        if kind is ActionKind.ADOPT:
            self._adopt(action, c, st)
            return 0
        if c is None:
            raise _LaneFailed(StepStatus.FAILED, f"campaign {action.campaign!r} is not in the files")
        if kind in (ActionKind.CREATE, ActionKind.INSERT, ActionKind.DIAL) and len(action.rows) != len(action.phones):
            raise _LaneFailed(StepStatus.FAILED, "the plan's contact rows are not bound (a saved plan must be "
                                                 "bound to its files before apply)")
        if kind is ActionKind.CREATE:
            return self._create(action, c, provider, st)
        if kind is ActionKind.INSERT:
            return self._insert(action, c, provider, st)
        if kind is ActionKind.REMOVE:
            return self._remove(action, c, provider, st)
        if kind is ActionKind.DIAL:
            return self._dial(action, c, provider, st)
        raise _LaneFailed(StepStatus.FAILED, f"unknown action {kind}")

    def _seen_started(self, action: Action) -> bool:
        seen = self._observed.get((action.profile, action.task_id))
        return bool(seen and seen.started)

    # --- steps ---------------------------------------------------------------

    def _simple(self, action: Action, provider: Provider, st: _LaneState, call: str,
                fn: Callable[[str], None], update: Callable[[TaskRecord], TaskRecord]) -> None:
        if not st.task_id:
            raise _LaneFailed(StepStatus.FAILED, f"no task to {call}")
        intent = TaskCallIntent(call, action.wave)
        entry = self.store.begin_call(action.campaign, action.profile, call, st.task_id, intent.to_request(),
                                      records=self._first_records(action.campaign))
        self._recorded(action.campaign)
        try:
            fn(st.task_id)
        except ProviderError as exc:
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            st.calls += 0 if isinstance(exc, NotSent) else 1  # NotSent: nothing went out
            raise
        st.calls += 1
        self.hooks.calls_made(action, 1)
        record = self._task_record(action.campaign, st.task_id)
        self.store.end_call(entry, CallOutcome.OK,
                            records=Records(tasks=[update(record)]) if record is not None else None, wait=False)

    def _adopt(self, action: Action, c: DesiredCampaign | None, st: _LaneState) -> None:
        entries = [e for e in self.store.journal(action.campaign, [CallOutcome.PENDING, CallOutcome.UNKNOWN])
                   if isinstance(intent := intent_of(e), CreateIntent) and intent.wave == action.wave]
        observed = self._observed.get((action.profile, action.task_id))
        for record in self._first_records(action.campaign).campaigns:
            self.store.put_campaign(record)
        self._recorded(action.campaign)
        settings = c.settings() if c is not None and c.settings_fingerprint() == action.fingerprint else {}
        record_task(self.store, TaskRecord(action.campaign, action.wave, action.profile, action.task_id,
                                           action.remote_name, action.fingerprint,
                                           started=bool(observed and observed.started), created_at=self.clock(),
                                           settings=settings))
        for e in entries:
            self.store.end_call(e.id, CallOutcome.RESOLVED, f"task {action.task_id} found on the platform")
        st.task_id = action.task_id

    def _create(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        def begin(batch: tuple[ContactRow, ...], positions: tuple[int, ...]) -> tuple[int, CreateIntent]:
            intent = CreateIntent(action.wave, action.remote_name, action.fingerprint, tuple(r.phone for r in batch),
                                  positions)
            return self.store.begin_call(c.name, c.provider, intent.call, "", intent.to_request(), phones=intent.phones,
                                         records=self._first_records(c.name), unless_listed=True), intent

        begun = self._begin_unlisted(action.rows, action.row_index, begin)
        if begun is None and not provider.capabilities.create_with_contacts:
            begun = self._begin_unlisted((), (), begin)  # the task alone: its contacts follow by insert
        if begun is None:
            raise _LaneFailed(StepStatus.SKIPPED, "every contact this create would carry was put on the opt-out "
                                                  "list since the plan was made, and the platform cannot create "
                                                  "an empty task; the next plan creates it with the others")
        (entry, intent), kept, _ = begun
        self._recorded(c.name)
        rows = list(kept)
        sent_at = time.monotonic()
        try:
            created = provider.create_task(c, action.wave, rows)
        except OutcomeUnknown as exc:
            st.calls += 1
            self.store.end_call(entry, CallOutcome.UNKNOWN, _msg(exc, action))
            verdict, found = await_create(provider, c.name, action.wave, waited=time.monotonic() - sent_at,
                                          window=self.windows.get(c.provider, 0.0), sleep=self.sleep,
                                          stop=self._stop.is_set)
            if verdict is not Verdict.LANDED or found is None:
                raise _LaneFailed(StepStatus.UNKNOWN, f"create of {action.remote_name} lost its answer and the task "
                                                      "has not shown on the platform; it was not sent again. The "
                                                      "next apply looks for it before creating anything") from exc
            count = provider.count_contacts(found.task_id) if rows else 0
            carried = settle_carried(count, len(rows))
            if carried is Verdict.AMBIGUOUS:
                # Journaled before the create is settled: a crash in between leaves the create to recovery.
                hold_carried(self.store, c.name, c.provider, found.task_id, action.wave, intent.phones, count)
            sent = (sent_records(c.name, found.task_id, action.wave, rows, sent_at=self._stamp())
                    if rows and carried is Verdict.LANDED else [])
            self.store.end_call(entry, CallOutcome.RESOLVED, f"task {found.task_id} found on the platform",
                                records=Records(tasks=self._created(action, c, found.task_id), contacts=sent))
            st.task_id, st.count = found.task_id, count
            self.hooks.calls_made(action, 1)
            if carried is Verdict.AMBIGUOUS:
                raise _LaneFailed(StepStatus.UNKNOWN, f"create of {action.remote_name} lost its answer; the task "
                                                      f"was found holding {count} of the {len(rows)} numbers it "
                                                      "carried; none was sent again. Check the task, then settle "
                                                      f"them with `campaignctl state resolve {c.name} "
                                                      "--dialed|--not-dialed`") from exc
            return len(rows) if carried is Verdict.LANDED else 0
        except ProviderError as exc:
            st.calls += 1
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            raise
        st.calls += 1
        sent = (sent_records(c.name, created.task_id, action.wave, rows, created.added, sent_at=self._stamp())
                if rows else [])
        self.store.end_call(entry, CallOutcome.OK, result={"task_id": created.task_id},
                            records=Records(tasks=self._created(action, c, created.task_id), contacts=sent))
        accepted = created.added.accepted if created.added else len(sent)
        st.task_id, st.count = created.task_id, accepted
        self.hooks.calls_made(action, 1)
        return accepted

    def _created(self, action: Action, c: DesiredCampaign, task_id: str) -> list[TaskRecord]:
        settings = c.settings() if c.settings_fingerprint() == action.fingerprint else {}
        return task_records(self.store, TaskRecord(c.name, action.wave, c.provider, task_id, action.remote_name,
                                                   action.fingerprint, created_at=self.clock(), settings=settings))

    def _insert(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        if not st.task_id:
            raise _LaneFailed(StepStatus.FAILED, "no task to insert into")
        rows = action.rows
        size = max(provider.limits.add_batch, 1)
        done = 0
        seen = self._observed.get((action.profile, st.task_id))
        dials_at_once = seen is not None and seen.phase is Phase.RUNNING and not st.paused  # yccall appends
        then = "they are added by a plan inside them"
        gate = self._hours_gate(c) if dials_at_once else None
        for start in range(0, len(rows), size):
            self._check_stop(done)
            if dials_at_once:
                self._check_hours(c, len(rows) - start, then, done)
            try:
                sent = self._insert_batch(action, c, provider, st, rows[start : start + size],
                                          action.row_index[start : start + size], gate)
            except _LaneFailed as exc:
                raise _LaneFailed(exc.status, exc.detail, done=done) from exc
            except NotSent as exc:
                self._unsent(c, exc, len(rows) - start, then, done)
            if sent is None:  # every number of the batch went on the opt-out list since the plan was made
                continue
            done += sent
            self.hooks.calls_made(action, 1)
        return done

    def _insert_batch(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState,
                      rows: Sequence[ContactRow], index: Sequence[int], gate: Gate | None) -> int | None:
        """Send one batch (without the numbers on the opt-out list now); how many the vendor took, None
        when none was left to send (``NotSent`` when ``gate`` stopped it)."""
        if st.count is None:
            st.count = provider.count_contacts(st.task_id)
        before = st.count

        def begin(batch: tuple[ContactRow, ...], positions: tuple[int, ...]) -> tuple[int, InsertIntent]:
            intent = InsertIntent(action.wave, tuple(r.phone for r in batch), before, positions)
            return self.store.begin_call(c.name, c.provider, intent.call, st.task_id, intent.to_request(),
                                         phones=intent.phones, unless_listed=True), intent

        begun = self._begin_unlisted(rows, index, begin)
        if begun is None:
            return None
        (entry, intent), batch, _ = begun
        sent_at = time.monotonic()
        try:
            added = provider.add_contacts(st.task_id, c, batch, gate=gate)
        except OutcomeUnknown as exc:
            st.calls += 1
            self.store.end_call(entry, CallOutcome.UNKNOWN, _msg(exc, action))
            verdict, count = await_insert(provider, st.task_id, intent, waited=time.monotonic() - sent_at,
                                          window=self.windows.get(c.provider, 0.0), sleep=self.sleep,
                                          stop=self._stop.is_set)
            if verdict is Verdict.LANDED:
                self.store.end_call(entry, CallOutcome.RESOLVED, "the platform count shows the batch landed",
                                    records=Records(contacts=sent_records(c.name, st.task_id, action.wave, batch,
                                                                          sent_at=self._stamp())))
                st.count = count
                return len(batch)
            raise _LaneFailed(StepStatus.UNKNOWN, f"insert into {action.remote_name} lost its answer and the "
                                                  f"platform count ({count}) does not show it landed; it was not "
                                                  "sent again. The next apply settles it first") from exc
        except ProviderError as exc:
            st.calls += 0 if isinstance(exc, NotSent) else 1  # NotSent: nothing went out
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            raise
        st.calls += 1
        self.store.end_call(entry, CallOutcome.OK, result={"accepted": added.accepted, "invalid": len(added.invalid)},
                            records=Records(contacts=sent_records(c.name, st.task_id, action.wave, batch, added,
                                                                  sent_at=self._stamp())), wait=False)
        st.count += added.accepted
        return added.accepted

    def _remove(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        intent = RemoveIntent(action.wave, action.phones)
        entry = self.store.begin_call(c.name, c.provider, intent.call, st.task_id, intent.to_request(),
                                      phones=intent.phones)
        try:
            provider.remove_contacts(st.task_id, c, action.phones)
        except ProviderError as exc:
            st.calls += 1
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            raise
        st.calls += 1
        self.hooks.calls_made(action, 1)
        # out of a started task they may have been dialed: kept as history (the redial gate counts them if
        # they come back); from a task that never started nobody was called: forgotten
        record = self._task_record(action.campaign, st.task_id)
        started = self._seen_started(action) or (record is not None and record.started)
        gone = [(c.name, st.task_id, action.phones)]
        self.store.end_call(entry, CallOutcome.OK, records=Records(retired=gone) if started else Records(removed=gone))
        if st.count is not None:
            st.count = max(0, st.count - len(action.phones))
        return len(action.phones)

    def _dial(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        rows = action.rows
        size = max(provider.limits.callout_batch, 1)
        done = 0
        then = "they are dialed once a plan runs inside them"
        gate = self._hours_gate(c)
        for start in range(0, len(rows), size):
            self._check_stop(done)
            self._check_hours(c, len(rows) - start, then, done)
            stamp = self._stamp()

            def begin(batch: tuple[ContactRow, ...], positions: tuple[int, ...],
                      stamp: str = stamp) -> tuple[int, CalloutIntent]:
                intent = CalloutIntent(tuple(r.phone for r in batch), positions)
                # Recorded as unknown *before* the call, with its intent: a crash can never lead to a second dial.
                unknown = Records(campaigns=self._first_records(c.name).campaigns,
                                  contacts=[ContactRecord(c.name, r.phone, r.fingerprint, "", 0, None,
                                                          ContactStatus.UNKNOWN, stamp) for r in batch])
                return self.store.begin_call(c.name, c.provider, intent.call, "", intent.to_request(),
                                             phones=intent.phones, records=unknown, unless_listed=True), intent

            begun = self._begin_unlisted(rows[start : start + size], action.row_index[start : start + size], begin)
            if begun is None:  # every number of the batch went on the opt-out list since the plan was made
                continue
            (entry, intent), batch, _ = begun
            self._recorded(c.name)
            try:
                added = provider.callout(c, batch, gate=gate)
            except OutcomeUnknown as exc:
                st.calls += 1
                self.store.end_call(entry, CallOutcome.UNKNOWN, _msg(exc, action))
                raise _LaneFailed(
                    StepStatus.UNKNOWN,
                    f"{len(batch)} contacts may or may not have been dialed (the answer was lost); they will not "
                    f"be dialed again until `campaignctl state resolve {c.name} --dialed|--not-dialed`",
                    done=done,
                ) from exc
            except ProviderError as exc:
                st.calls += 0 if isinstance(exc, NotSent) else 1  # NotSent: nothing went out
                self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action),
                                    records=Records(removed=[(c.name, "", intent.phones)]))
                if isinstance(exc, NotSent):
                    self._unsent(c, exc, len(rows) - start, then, done)
                raise _LaneFailed(StepStatus.FAILED, _msg(exc, action), done=done) from exc
            st.calls += 1
            ids = list(added.data_ids) + [None] * (len(batch) - len(added.data_ids))
            dialed = [ContactRecord(c.name, r.phone, r.fingerprint, "", 0, ids[i], ContactStatus.DIALED, stamp)
                      for i, r in enumerate(batch)]
            self.store.end_call(entry, CallOutcome.OK, result={"accepted": added.accepted},
                                records=Records(contacts=dialed))
            self.hooks.calls_made(action, 1)
            done += len(batch)
        return done

    # --- helpers ----------------------------------------------------------------

    def _stamp(self) -> str:
        return self.now().isoformat(timespec="seconds")

    def _check_hours(self, c: DesiredCampaign, due: int, then: str, done: int = 0) -> None:
        """Stop the lane (SKIPPED, deferred) when the policy or the campaign's schedule forbids dialing now."""
        at = self.now()
        why = dial_closed(self.desired.project, c, at)
        if not why:
            return
        project = self.desired.project
        tz = project.policy.timezone if project.policy is not None else project.timezone
        opens = calendar_for(project, c, own_schedule=c.mode == "direct").next_open(at)
        what = f"{due} contacts stay due; " if due else ""
        raise _LaneFailed(StepStatus.SKIPPED, f"stopped at {when_text(at, at, tz)}: {why}; {what}{then} "
                                              f"(next opening: {when_text(opens, at, tz)})", done=done,
                          deferred=True)

    def _hours_gate(self, c: DesiredCampaign) -> Gate:
        """The check of ``_check_hours``, for the transport to ask right before a call that dials goes out:
        a token refresh, a retry's wait or the rate limit may have taken it past the close since."""
        project = self.desired.project
        return lambda: dial_closed(project, c, self.now())

    def _unsent(self, c: DesiredCampaign, exc: NotSent, due: int, then: str, done: int) -> NoReturn:
        """A call the hours gate stopped unsent: the lane waits for the hours, as ``_check_hours`` stops it."""
        self._check_hours(c, due, then, done)
        raise _LaneFailed(StepStatus.SKIPPED, f"{exc.detail}; {then}", done=done, deferred=True) from exc

    def _begin_unlisted(self, rows: Sequence[ContactRow], index: Sequence[int],
                        begin: Callable[[tuple[ContactRow, ...], tuple[int, ...]], _B],
                        ) -> tuple[_B, tuple[ContactRow, ...], tuple[int, ...]] | None:
        """Journal a call of ``rows`` (at table positions ``index``, when known) without the numbers put on
        the opt-out list since the plan was made: ``begin`` writes the intent with ``unless_listed``, so
        the check and the intent are one transaction. Returns what ``begin`` returned, with the rows and
        positions it carries (built once: sent, journaled and recorded); None when every row was listed."""
        batch, positions = tuple(rows), tuple(index)
        while True:
            try:
                return begin(batch, positions), batch, positions
            except Listed as listed:
                keep = [i for i, r in enumerate(batch) if r.phone not in listed.phones]
                positions = tuple(positions[i] for i in keep) if len(positions) == len(batch) else ()
                batch = tuple(batch[i] for i in keep)
                if not batch:
                    return None

    def _check_stop(self, done: int) -> None:
        if self._stop.is_set():
            raise _LaneFailed(StepStatus.SKIPPED, "apply was interrupted; the next apply continues from here",
                              done=done)

    def _first_records(self, campaign: str) -> Records:
        """The campaign record, until a journal call of the campaign in this apply has written it
        (``_recorded``); lanes of one campaign may both write it: an upsert."""
        c = self.desired.campaign(campaign)
        if c is None:
            return Records()
        with self._record_lock:
            if c.name in self._campaigns_recorded:
                return Records()
        return Records(campaigns=[CampaignRecord(c.name, c.provider, c.mode, c.provider_type)])

    def _recorded(self, campaign: str) -> None:
        with self._record_lock:
            self._campaigns_recorded.add(campaign)

    def _task_record(self, campaign: str, task_id: str) -> TaskRecord | None:
        for rec in self.store.tasks(campaign):
            if rec.task_id == task_id:
                return rec
        return None


def _msg(exc: ProviderError, action: Action) -> str:
    return str(exc.with_campaign(action.campaign) if not exc.campaign else exc)
