"""Apply: execute a plan, journaling every mutating call.

Rules (DESIGN.md section 5, "never dial twice"):

* The journal intent is written *before* each mutating call, state writes
  follow the answer, the outcome comes last. A crash anywhere leaves a
  PENDING entry that :func:`recover` settles by observing the platform.
* Create and insert are never re-sent blindly: a lost answer is resolved by
  looking the task up by exact name / custom id, or by the number count.
  Only when the platform shows the call did not land is it sent once more.
* A direct-callout batch is recorded as ``unknown`` before it is sent; a
  lost answer leaves it unknown for good (until ``state resolve``).
* Lanes (one per task) run in parallel; a failure stops its lane only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reconciler.engine.diff import resolve_insert
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
from reconciler.errors import CampaignctlError, OutcomeUnknown, ProviderError
from reconciler.model import ContactRow, DesiredCampaign, DesiredState
from reconciler.providers.base import AddResult, Phase, Provider
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    JournalEntry,
    StateStore,
    TaskRecord,
)

__all__ = ["Applier", "now_iso", "recover", "retire_wave"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _LaneFailed(Exception):
    def __init__(self, status: StepStatus, detail: str, calls: int = 0, done: int = 0) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.calls = calls
        self.done = done


@dataclass
class _LaneState:
    task_id: str
    count: int | None  # numbers the task holds, as far as we know
    calls: int = 0


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
    ) -> None:
        self.desired = desired
        self.providers = providers
        self.store = store
        self.hooks = hooks or ApplyHooks()
        self.parallelism = max(1, parallelism)
        self.clock = clock
        self._observed = {(p, t.task_id): t for p, ts in observed.tasks.items() for t in ts}
        self._rows: dict[str, dict[str, ContactRow]] = {}
        self._rows_lock = threading.Lock()
        self._campaigns_recorded: set[str] = set()
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
            for lane_results in pool.map(self._run_lane, lanes):
                results.extend(lane_results)
        except BaseException:
            # Ctrl-C (or a crash): lanes finish the call in flight (journaled), then stop.
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
        order = {id(a): i for i, a in enumerate(plan.actions)}
        results.sort(key=lambda r: order.get(id(r.action), 0))
        return ApplyResult(steps=tuple(results))

    # --- lanes ----------------------------------------------------------------

    def _run_lane(self, lane: Lane) -> list[StepResult]:
        provider = self.providers[lane.profile]
        first = lane.actions[0]
        observed = self._observed.get((lane.profile, first.task_id)) if first.task_id else None
        state = _LaneState(first.task_id, observed.contact_count if observed else None)
        out: list[StepResult] = []
        failed = False
        for action in lane.actions:
            if failed or self._stop.is_set():
                why = "an earlier step of this task failed" if failed else "apply was interrupted"
                out.append(StepResult(action, StepStatus.SKIPPED, why))
                continue
            self.hooks.step_started(action)
            state.calls = 0
            try:
                campaign = self._campaign(action.campaign)
                self._record_campaign(action, campaign)
                done = self._step(action, campaign, provider, state)
                result = StepResult(action, StepStatus.OK, calls=state.calls, done=done, task_id=state.task_id)
            except _LaneFailed as exc:
                failed = True
                result = StepResult(action, exc.status, exc.detail, calls=state.calls, done=exc.done,
                                    task_id=state.task_id)
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
            self._simple(action, provider, st, "delete", provider.delete, lambda r: replace(r, deleted=True))
            return 0
        if kind is ActionKind.START:
            self._simple(action, provider, st, "start", provider.start, lambda r: replace(r, started=True))
            return 0
        if kind is ActionKind.PAUSE:
            self._simple(action, provider, st, "pause", provider.pause, lambda r: replace(r, started=True))
            return 0
        if kind is ActionKind.ADOPT:
            self._adopt(action, st)
            return 0
        if c is None:
            raise _LaneFailed(StepStatus.FAILED, f"campaign {action.campaign!r} is not in the files")
        if kind is ActionKind.CREATE:
            return self._create(action, c, provider, st)
        if kind is ActionKind.INSERT:
            return self._insert(action, c, provider, st)
        if kind is ActionKind.REMOVE:
            return self._remove(action, c, provider, st)
        if kind is ActionKind.DIAL:
            return self._dial(action, c, provider, st)
        raise _LaneFailed(StepStatus.FAILED, f"unknown action {kind}")

    # --- steps ---------------------------------------------------------------

    def _simple(self, action: Action, provider: Provider, st: _LaneState, call: str,
                fn: Callable[[str], None], update: Callable[[TaskRecord], TaskRecord]) -> None:
        if not st.task_id:
            raise _LaneFailed(StepStatus.FAILED, f"no task to {call}")
        entry = self.store.begin_call(action.campaign, action.profile, call, st.task_id, {"wave": action.wave})
        try:
            fn(st.task_id)
        except ProviderError as exc:
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            st.calls += 1
            raise
        st.calls += 1
        self.hooks.calls_made(action, 1)
        record = self._task_record(action.campaign, st.task_id)
        if record is not None:
            self.store.put_task(update(record))
        self.store.end_call(entry, CallOutcome.OK)

    def _adopt(self, action: Action, st: _LaneState) -> None:
        entries = [e for e in self.store.journal(action.campaign, [CallOutcome.PENDING, CallOutcome.UNKNOWN])
                   if e.call == "create" and int(e.request.get("wave", 0)) == action.wave]
        fingerprint = str(entries[-1].request.get("fingerprint", "")) if entries else ""
        observed = self._observed.get((action.profile, action.task_id))
        retire_wave(self.store, action.campaign, action.wave, keep=action.task_id)
        self.store.put_task(TaskRecord(action.campaign, action.wave, action.profile, action.task_id,
                                       action.remote_name, fingerprint,
                                       started=bool(observed and observed.started), created_at=self.clock()))
        for e in entries:
            self.store.end_call(e.id, CallOutcome.RESOLVED, f"task {action.task_id} found on the platform")
        st.task_id = action.task_id

    def _create(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        rows = self._pick(c, action.phones)
        fingerprint = c.settings_fingerprint()
        request = {"wave": action.wave, "remote_name": action.remote_name, "fingerprint": fingerprint,
                   "phones": list(action.phones), "count_before": 0}
        for attempt in (1, 2):
            entry = self.store.begin_call(c.name, c.provider, "create", "", request)
            try:
                created = provider.create_task(c, action.wave, rows)
            except OutcomeUnknown as exc:
                st.calls += 1
                self.store.end_call(entry, CallOutcome.UNKNOWN, _msg(exc, action))
                found = provider.find_task(c.name, action.wave)
                if found is None or found.deleted or found.phase is Phase.ABSENT:
                    if attempt == 1:
                        self.store.end_call(entry, CallOutcome.RESOLVED, "not on the platform: sending again")
                        continue
                    raise _LaneFailed(StepStatus.FAILED, f"create of {action.remote_name} lost its answer twice "
                                                         "and the task is not on the platform") from exc
                count = provider.count_contacts(found.task_id) if rows else 0
                self._record_created(action, c, found.task_id, fingerprint, rows, None, count)
                self.store.end_call(entry, CallOutcome.RESOLVED, f"task {found.task_id} found on the platform")
                st.task_id, st.count = found.task_id, count
                self.hooks.calls_made(action, 1)
                return len(rows)
            except ProviderError as exc:
                st.calls += 1
                self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
                raise
            st.calls += 1
            self._record_created(action, c, created.task_id, fingerprint, rows, created.added, None)
            self.store.end_call(entry, CallOutcome.OK, result={"task_id": created.task_id})
            accepted = created.added.accepted if created.added else 0
            st.task_id, st.count = created.task_id, accepted
            self.hooks.calls_made(action, 1)
            return accepted
        raise AssertionError("unreachable")

    def _record_created(self, action: Action, c: DesiredCampaign, task_id: str, fingerprint: str,
                        rows: Sequence[ContactRow], added: AddResult | None, count: int | None) -> None:
        retire_wave(self.store, c.name, action.wave, keep=task_id)
        self.store.put_task(TaskRecord(c.name, action.wave, c.provider, task_id, action.remote_name,
                                       fingerprint, created_at=self.clock()))
        if rows:
            self.store.put_contacts(_sent(c.name, task_id, action.wave, rows, added))

    def _insert(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        if not st.task_id:
            raise _LaneFailed(StepStatus.FAILED, "no task to insert into")
        rows = self._pick(c, action.phones)
        size = max(provider.limits.add_batch, 1)
        done = 0
        for start in range(0, len(rows), size):
            self._check_stop(done)
            batch = rows[start : start + size]
            done += self._insert_batch(action, c, provider, st, batch)
            self.hooks.calls_made(action, 1)
        return done

    def _insert_batch(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState,
                      batch: Sequence[ContactRow]) -> int:
        if st.count is None:
            st.count = provider.count_contacts(st.task_id)
        for attempt in (1, 2):
            request = {"wave": action.wave, "phones": [r.phone for r in batch], "count_before": st.count}
            entry = self.store.begin_call(c.name, c.provider, "insert", st.task_id, request)
            try:
                added = provider.add_contacts(st.task_id, c, batch)
            except OutcomeUnknown as exc:
                st.calls += 1
                self.store.end_call(entry, CallOutcome.UNKNOWN, _msg(exc, action))
                count = provider.count_contacts(st.task_id)
                verdict = resolve_insert(_entry(entry, c, action, st.task_id, request), count)
                if verdict == "applied":
                    self.store.put_contacts(_sent(c.name, st.task_id, action.wave, batch, None))
                    self.store.end_call(entry, CallOutcome.RESOLVED, "the platform count shows the batch landed")
                    st.count = count
                    return len(batch)
                if verdict == "not-applied" and attempt == 1:
                    self.store.end_call(entry, CallOutcome.RESOLVED, "the platform count shows nothing landed: "
                                                                     "sending again")
                    continue
                raise _LaneFailed(StepStatus.FAILED, f"insert into {action.remote_name} lost its answer and the "
                                                     f"platform count ({count}) does not settle it; nothing was "
                                                     "re-sent") from exc
            except ProviderError as exc:
                st.calls += 1
                self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
                raise
            st.calls += 1
            self.store.put_contacts(_sent(c.name, st.task_id, action.wave, batch, added))
            self.store.end_call(entry, CallOutcome.OK, result={"accepted": added.accepted,
                                                               "invalid": len(added.invalid)})
            st.count += added.accepted
            return added.accepted
        raise AssertionError("unreachable")

    def _remove(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        entry = self.store.begin_call(c.name, c.provider, "remove", st.task_id,
                                      {"wave": action.wave, "phones": list(action.phones)})
        try:
            provider.remove_contacts(st.task_id, c, action.phones)
        except ProviderError as exc:
            st.calls += 1
            self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
            raise
        st.calls += 1
        self.hooks.calls_made(action, 1)
        self.store.delete_contacts(c.name, st.task_id, action.phones)
        self.store.end_call(entry, CallOutcome.OK)
        if st.count is not None:
            st.count = max(0, st.count - len(action.phones))
        return len(action.phones)

    def _dial(self, action: Action, c: DesiredCampaign, provider: Provider, st: _LaneState) -> int:
        rows = self._pick(c, action.phones)
        size = max(provider.limits.callout_batch, 1)
        done = 0
        for start in range(0, len(rows), size):
            self._check_stop(done)
            batch = rows[start : start + size]
            phones = [r.phone for r in batch]
            # Recorded as unknown *before* the call: a crash can never lead to a second dial.
            self.store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, "", 0, None,
                                                   ContactStatus.UNKNOWN) for r in batch])
            entry = self.store.begin_call(c.name, c.provider, "callout", "", {"phones": phones})
            try:
                added = provider.callout(c, batch)
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
                st.calls += 1
                self.store.delete_contacts(c.name, "", phones)
                self.store.end_call(entry, CallOutcome.FAILED, _msg(exc, action))
                raise _LaneFailed(StepStatus.FAILED, _msg(exc, action), done=done) from exc
            st.calls += 1
            ids = list(added.data_ids) + [None] * (len(batch) - len(added.data_ids))
            self.store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, "", 0, ids[i],
                                                   ContactStatus.DIALED) for i, r in enumerate(batch)])
            self.store.end_call(entry, CallOutcome.OK, result={"accepted": added.accepted})
            self.hooks.calls_made(action, 1)
            done += len(batch)
        return done

    # --- helpers ----------------------------------------------------------------

    def _check_stop(self, done: int) -> None:
        if self._stop.is_set():
            raise _LaneFailed(StepStatus.SKIPPED, "apply was interrupted; the next apply continues from here",
                              done=done)

    def _campaign(self, name: str) -> DesiredCampaign | None:
        return self.desired.campaign(name)

    def _record_campaign(self, action: Action, c: DesiredCampaign | None) -> None:
        if c is None or c.name in self._campaigns_recorded:
            return
        self.store.put_campaign(CampaignRecord(c.name, c.provider, c.mode, c.provider_type))
        self._campaigns_recorded.add(c.name)

    def _pick(self, c: DesiredCampaign, phones: Sequence[str]) -> list[ContactRow]:
        with self._rows_lock:
            rows = self._rows.get(c.name)
            if rows is None:
                rows = {r.phone: r for r in c.contacts.rows}
                self._rows[c.name] = rows
        missing = [p for p in phones if p not in rows]
        if missing:
            raise _LaneFailed(StepStatus.FAILED, f"{len(missing)} planned contacts are no longer in the files")
        return [rows[p] for p in phones]

    def _task_record(self, campaign: str, task_id: str) -> TaskRecord | None:
        for rec in self.store.tasks(campaign):
            if rec.task_id == task_id:
                return rec
        return None



def _sent(campaign: str, task_id: str, wave: int, rows: Sequence[ContactRow],
          added: AddResult | None) -> list[ContactRecord]:
    invalid = {i for i, _ in added.invalid} if added else set()
    ids = list(added.data_ids) if added else []
    out: list[ContactRecord] = []
    k = 0
    for i, row in enumerate(rows):
        if i in invalid:
            continue
        data_id = ids[k] if k < len(ids) else None
        k += 1
        out.append(ContactRecord(campaign, row.phone, row.fingerprint, task_id, wave, data_id, ContactStatus.SENT))
    return out


def _entry(entry_id: int, c: DesiredCampaign, action: Action, task_id: str, request: dict[str, object]
           ) -> JournalEntry:
    return JournalEntry(entry_id, c.name, c.provider, "insert", task_id, CallOutcome.UNKNOWN, request)


def _msg(exc: ProviderError, action: Action) -> str:
    return str(exc.with_campaign(action.campaign) if not exc.campaign else exc)


def retire_wave(store: StateStore, campaign: str, wave: int, keep: str) -> None:
    """Mark every other live task record of the wave deleted: ``keep`` now stands for it."""
    for rec in store.tasks(campaign):
        if rec.wave == wave and rec.task_id != keep and not rec.deleted:
            store.put_task(replace(rec, deleted=True))


def _record_sent_phones(store: StateStore, desired: DesiredState, campaign: str, task_id: str, wave: int,
                        phones: Sequence[str]) -> None:
    """Record phones found (by observing) to have reached a task; fingerprints from the files when known."""
    if not phones:
        return
    c = desired.campaign(campaign)
    rows = {r.phone: r for r in c.contacts.rows} if c else {}
    store.put_contacts([ContactRecord(campaign, p, rows[p].fingerprint if p in rows else "", task_id, wave, None,
                                      ContactStatus.SENT) for p in phones])


# --- recovery ---------------------------------------------------------------------


def recover(store: StateStore, providers: Mapping[str, Provider], desired: DesiredState) -> list[str]:
    """Settle calls an interrupted apply left pending, by observing the platform.

    Runs under the apply lock, before observing and planning. Returns one
    line per settled call, for the summary.
    """
    notes: list[str] = []
    entries = store.journal(outcomes=[CallOutcome.PENDING, CallOutcome.UNKNOWN])
    known = {r.task_id for r in store.tasks()}
    for e in entries:
        provider = providers.get(e.profile)
        if provider is None:
            continue
        if e.call == "callout":
            if e.outcome is CallOutcome.PENDING:
                store.end_call(e.id, CallOutcome.UNKNOWN, "the process stopped before the answer came")
                notes.append(f"{e.campaign}: a direct callout of {len(e.request.get('phones', []))} contacts was "
                             "interrupted; its contacts stay unknown until `campaignctl state resolve`")
            continue
        if e.call == "create":
            wave = int(e.request.get("wave", 1))
            found = provider.find_task(e.campaign, wave)
            if found is not None and not found.deleted and found.task_id not in known:
                retire_wave(store, e.campaign, wave, keep=found.task_id)
                store.put_task(TaskRecord(e.campaign, wave, e.profile, found.task_id, found.name,
                                          str(e.request.get("fingerprint", "")), started=found.started,
                                          created_at=now_iso()))
                _record_sent_phones(store, desired, e.campaign, found.task_id, wave, e.request.get("phones", []))
                known.add(found.task_id)
                store.end_call(e.id, CallOutcome.RESOLVED, f"task {found.task_id} found on the platform")
                notes.append(f"{e.campaign}: an interrupted create had landed: adopted task {found.task_id}")
            else:
                store.end_call(e.id, CallOutcome.RESOLVED, "no such task on the platform: the create did not land")
                notes.append(f"{e.campaign}: an interrupted create had not landed")
            continue
        if e.call == "insert":
            count = provider.count_contacts(e.task_id)
            verdict = resolve_insert(e, count)
            phones = list(e.request.get("phones", []))
            if verdict == "applied":
                _record_sent_phones(store, desired, e.campaign, e.task_id, int(e.request.get("wave", 0)), phones)
                store.end_call(e.id, CallOutcome.RESOLVED, "the platform count shows the batch landed")
                notes.append(f"{e.campaign}: an interrupted insert of {len(phones)} contacts had landed")
            elif verdict == "not-applied":
                store.end_call(e.id, CallOutcome.RESOLVED, "the platform count shows nothing landed")
                notes.append(f"{e.campaign}: an interrupted insert of {len(phones)} contacts had not landed")
            elif e.outcome is CallOutcome.PENDING:
                store.end_call(e.id, CallOutcome.UNKNOWN, f"platform holds {count} numbers; cannot settle")
            continue
        # start / pause / delete / remove are idempotent: look, record, and let the diff decide again.
        if e.task_id:
            task = provider.get_task(e.task_id)
            for rec in store.tasks(e.campaign):
                if rec.task_id != e.task_id:
                    continue
                if e.call == "delete" and (task is None or task.deleted or task.phase is Phase.ABSENT
                                           or (provider.capabilities.delete_is_end
                                               and task.phase is Phase.FINISHED)):
                    store.put_task(replace(rec, deleted=True))
                elif task is not None and task.started:
                    store.put_task(replace(rec, started=True))
        store.end_call(e.id, CallOutcome.RESOLVED, "settled by observing the platform")
        notes.append(f"{e.campaign}: an interrupted {e.call} was settled by observing the platform")
    return notes
