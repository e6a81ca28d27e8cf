"""engine/apply.py: the Applier against both emulators over loopback, at every batch boundary.

Counts 0, 1, 49, 50, 51 and 101 put a last batch of one row (51, 101, 1)
and an exact multiple (50) in every loop; a lost answer, an answer lost
after part of a batch landed (``partial``), and a journal write that fails
before the call are each checked on the platform: no row twice, none lost,
nothing sent without its journal intent.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from reconciler.engine.plan import Action, ActionKind, ApplyHooks, ApplyResult, StepResult, StepStatus
from reconciler.engine.settle import resolve_by_hand
from reconciler.errors import StateError
from reconciler.state.base import CallOutcome, ContactStatus, StateStore
from reconciler.state.memory import MemoryStore
from tests.engine.rig import YC_BATCH, FaultAfter, batches, rig
from tests.helpers.builders import campaign, desired, phones

BOUNDARIES = [0, 1, 49, 50, 51, 101]


def _sent(store: StateStore, name: str) -> list[str]:
    return sorted(c.phone for c in store.contacts(name) if c.status is ContactStatus.SENT)


def _ok(result: ApplyResult) -> None:
    assert result.ok, [(s.action.kind.value, s.status.value, s.detail) for s in result.steps]


def _step(result: ApplyResult, kind: ActionKind) -> Any:
    (step,) = [s for s in result.steps if s.action.kind is kind]
    return step


# --- every batch boundary, every loop ------------------------------------------------------------


@pytest.mark.parametrize("n", BOUNDARIES)
def test_xfyeta_insert_batches(n: int) -> None:
    c = campaign("spring", n=n)
    with rig() as r:
        _, result = r.apply(desired(c))
        _ok(result)
        assert sorted(r.xf_numbers("gitops-spring")) == sorted(phones(n))
        assert r.xf_calls()["task/insert"] == batches(n)
        if n:
            assert _step(result, ActionKind.INSERT).done == n
        assert _sent(r.store, "spring") == sorted(phones(n))
        plan, _ = r.plan(desired(c))
        assert not plan.has_changes, plan.actions


@pytest.mark.parametrize("n", BOUNDARIES)
def test_xfyeta_insert_into_an_existing_task_after_a_boundary(n: int) -> None:
    first = campaign("spring", n=50, state="paused")
    with rig() as r:
        _ok(r.apply(desired(first))[1])
        more = campaign("spring", numbers=phones(50 + n), state="paused")
        _, result = r.apply(desired(more))
        _ok(result)
        assert sorted(r.xf_numbers("gitops-spring")) == sorted(phones(50 + n))
        assert r.xf_calls()["task/insert"] == 1 + batches(n)
        assert _sent(r.store, "spring") == sorted(phones(50 + n))


@pytest.mark.parametrize("n", BOUNDARIES)
def test_yccall_create_carries_one_batch_and_task_add_the_rest(n: int) -> None:
    c = campaign("follow", n=n, provider="callcenter")
    with rig() as r:
        _, result = r.apply(desired(c))
        _ok(result)
        assert sorted(r.yc_numbers()) == sorted(phones(n))
        calls = r.yc_calls()
        assert calls["TaskCreat"] == (1 if n else 0)  # yccall creates a task only with numbers to carry
        assert calls["TaskAdd"] == batches(max(0, n - YC_BATCH), YC_BATCH)
        assert _sent(r.store, "follow") == sorted(phones(n))
        assert not r.plan(desired(c))[0].has_changes


@pytest.mark.parametrize("n", BOUNDARIES)
def test_yccall_task_add_to_a_running_task(n: int) -> None:
    with rig() as r:
        _ok(r.apply(desired(campaign("follow", n=3, provider="callcenter")))[1])
        c = campaign("follow", numbers=phones(3 + n), provider="callcenter")
        _ok(r.apply(desired(c))[1])
        assert sorted(r.yc_numbers()) == sorted(phones(3 + n))
        assert r.yc_calls()["TaskAdd"] == batches(n, YC_BATCH)


@pytest.mark.parametrize("n", BOUNDARIES)
def test_direct_callout_batches(n: int) -> None:
    c = campaign("survey", n=n, mode="direct")
    with rig() as r:
        _, result = r.apply(desired(c))
        _ok(result)
        assert sorted(r.dials()) == sorted(phones(n))
        assert r.xf_calls()["task/callout"] == batches(n)
        dialed = [x for x in r.store.contacts("survey") if x.status is ContactStatus.DIALED]
        assert len(dialed) == n
        assert not r.plan(desired(c))[0].has_changes


@pytest.mark.parametrize("n", [1, 49, 50, 51, 101])
def test_yccall_remove_contacts(n: int) -> None:
    with rig() as r:
        _ok(r.apply(desired(campaign("follow", n=n + 2, provider="callcenter")))[1])
        keep = phones(n + 2)[n:]
        c = campaign("follow", numbers=keep, provider="callcenter")
        plan, _ = r.plan(desired(c))
        assert [a.kind for a in plan.actions] == [ActionKind.REMOVE] and len(plan.actions[0].phones) == n
        _ok(r.apply(desired(c))[1])
        assert sorted(r.yc_numbers()) == sorted(keep)
        assert _sent(r.store, "follow") == sorted(keep)


# --- a lost answer on the last batch of a boundary count ------------------------------------------------


@pytest.mark.parametrize("n", [1, 51, 101])
def test_lost_answer_on_the_last_insert_batch_is_found_not_resent(n: int) -> None:
    c = campaign("spring", n=n)
    with rig() as r:
        # every batch before the last answers; the last one lands and its answer is lost
        hooks = FaultAfter(r.xf, "task/insert:drop", ActionKind.INSERT, batches(n) - 1)
        _, result = r.apply(desired(c), hooks=hooks)
        _ok(result)
        assert r.xf_calls()["task/insert"] == batches(n)
        assert [x["fault"] for x in r.xf.calls if x["path"].endswith("task/insert")][-1] == "drop"
        numbers = r.xf_numbers("gitops-spring")
        assert sorted(numbers) == sorted(phones(n)) and len(set(numbers)) == n
        assert _sent(r.store, "spring") == sorted(phones(n))


@pytest.mark.parametrize("n", [1, 50, 51, 101])
def test_lost_callout_answer_is_never_resent(n: int) -> None:
    c = campaign("survey", n=n, mode="direct")
    with rig() as r:
        r.xf.faults.add("task/callout:drop")  # the first batch is dialed, its answer lost
        _, result = r.apply(desired(c))
        assert _step(result, ActionKind.DIAL).status is StepStatus.UNKNOWN
        assert r.xf_calls()["task/callout"] == 1  # the lane stops: later batches wait for the next apply
        r.recover(desired(c))
        plan, _ = r.plan(desired(c))
        first = min(n, 50)
        assert plan.applyable
        assert [len(a.phones) for a in plan.actions] == ([n - first] if n > first else [])  # never the unknown
        assert any("state resolve survey" in d.message for d in plan.diagnostics)
        _ok(r.apply(desired(c))[1])
        assert r.xf_calls()["task/callout"] == batches(n - first) + 1
        dials = r.dials()
        assert sorted(dials) == sorted(phones(n)) and len(set(dials)) == n
        unknown = [x for x in r.store.contacts("survey") if x.status is ContactStatus.UNKNOWN]
        assert len(unknown) == first


# --- ambiguous counts: part of a batch landed -----------------------------------------------------------


@pytest.mark.parametrize(("n", "batch", "landed"),
                         [(1, 1, 0), (50, 1, 20), (51, 2, 0), (51, 1, 49), (101, 2, 20), (101, 3, 0)])
def test_partial_insert_is_never_resent_and_is_reported_for_resolve(n: int, batch: int, landed: int) -> None:
    """Batch ``batch`` of ``n`` lands only ``landed`` of its rows and loses its answer."""
    c = campaign("spring", n=n)
    with rig() as r:
        size = len(phones(n)[(batch - 1) * 50 : batch * 50])
        hooks = FaultAfter(r.xf, f"task/insert:partial:{landed}", ActionKind.INSERT, batch - 1)
        _, result = r.apply(desired(c), hooks=hooks)
        insert = _step(result, ActionKind.INSERT)
        assert insert.status is StepStatus.UNKNOWN, insert.detail
        assert insert.done == (batch - 1) * 50
        assert r.xf_calls()["task/insert"] == batch  # never re-sent, later batches not sent
        on_platform = r.xf_numbers("gitops-spring")
        assert len(on_platform) == (batch - 1) * 50 + landed == len(set(on_platform))
        assert [e.call for e in r.store.journal("spring", [CallOutcome.UNKNOWN])] == ["insert"]
        # the next apply settles first: nothing is sent again while the count is ambiguous
        r.recover(desired(c))
        plan, observed = r.plan(desired(c))
        if 0 < landed < size:
            assert not plan.applyable
            assert any("state resolve spring" in d.message for d in plan.errors), plan.diagnostics
            r.execute(desired(c), plan, observed)  # a plan with errors executes nothing
            assert r.xf_calls()["task/insert"] == batch
            # a person settles it; then the rest goes out exactly once
            resolve_by_hand(r.store, "spring", dialed=True)
            _ok(r.apply(desired(c))[1])
            on_platform = r.xf_numbers("gitops-spring")
            assert len(on_platform) == len(set(on_platform)) and set(on_platform) <= set(phones(n))
            assert set(_sent(r.store, "spring")) == set(phones(n))
        else:  # nothing landed: past the settle window it is known not to have landed, and is sent once more
            _ok(r.apply(desired(c))[1])
            assert sorted(r.xf_numbers("gitops-spring")) == sorted(phones(n))


@pytest.mark.parametrize(("n", "landed"), [(2, 1), (51, 20), (101, 49)])
def test_partial_yccall_task_add_is_never_resent(n: int, landed: int) -> None:
    with rig() as r:
        _ok(r.apply(desired(campaign("follow", n=1, provider="callcenter")))[1])
        c = campaign("follow", numbers=phones(1 + n), provider="callcenter")
        r.yc.faults.add(f"TaskAdd:partial:{landed}")
        _, result = r.apply(desired(c))
        assert _step(result, ActionKind.INSERT).status is StepStatus.UNKNOWN
        adds = r.yc_calls()["TaskAdd"]
        r.recover(desired(c))
        plan, observed = r.plan(desired(c))
        assert not plan.applyable and any("state resolve follow" in d.message for d in plan.errors)
        r.execute(desired(c), plan, observed)
        assert r.yc_calls()["TaskAdd"] == adds
        assert len(r.yc_numbers()) == 1 + landed


@pytest.mark.parametrize(("n", "landed"), [(2, 1), (50, 20), (51, 49)])
def test_partial_yccall_create_is_never_taken_for_all_landed(n: int, landed: int) -> None:
    """A create carrying numbers whose answer is lost after only some of them landed: the rest are not
    recorded as sent (they would be lost), and none is sent again without a person's word."""
    c = campaign("follow", n=n, provider="callcenter")
    with rig() as r:
        r.yc.faults.add(f"TaskCreat:partial:{landed}")
        _, result = r.apply(desired(c))
        assert _step(result, ActionKind.CREATE).status is not StepStatus.FAILED
        assert r.yc_calls()["TaskCreat"] == 1
        r.recover(desired(c))
        plan, _ = r.plan(desired(c))
        carried = min(n, YC_BATCH)
        assert not plan.applyable, plan.actions
        assert any("state resolve follow" in d.message for d in plan.errors), plan.diagnostics
        assert len(_sent(r.store, "follow")) < carried  # not all taken as landed
        assert r.yc_calls()["TaskCreat"] == 1 and r.yc_calls()["TaskAdd"] == 0
        resolve_by_hand(r.store, "follow", dialed=True)
        _ok(r.apply(desired(c))[1])
        numbers = r.yc_numbers()
        assert len(numbers) == len(set(numbers)) and r.yc_calls()["TaskCreat"] == 1


# --- a journal write that fails: the vendor call is never sent ---------------------------------------


class FailingStore:
    """A store whose ``begin_call`` (or another write) fails for one kind of call."""

    def __init__(self, inner: StateStore, method: str, when: Callable[[Sequence[Any]], bool]) -> None:
        self._inner = inner
        self._method = method
        self._when = when
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self._when(args):
                self.failed += 1
                raise StateError("state database: write failed: disk I/O error (injected)")
            return attr(*args, **kwargs)

        return wrapped


def _call_is(call: str) -> Callable[[Sequence[Any]], bool]:
    return lambda args: len(args) > 2 and args[2] == call


SCENARIOS: dict[str, tuple[str, Callable[[], Any], Callable[[], Any]]] = {
    # call -> (endpoint that must not be hit, campaign before, campaign now)
    "create": ("task/create", lambda: None, lambda: campaign("spring", n=3)),
    "insert": ("task/insert", lambda: None, lambda: campaign("spring", n=3)),
    "start": ("task/start", lambda: None, lambda: campaign("spring", n=3)),
    "pause": ("task/pause", lambda: campaign("spring", n=3), lambda: campaign("spring", n=3, state="paused")),
    "delete": ("task/delete", lambda: campaign("spring", n=3), lambda: campaign("spring", n=3, state="absent")),
    "callout": ("task/callout", lambda: None, lambda: campaign("survey", n=3, mode="direct")),
    "remove": ("taskDelPhone", lambda: campaign("follow", n=3, provider="callcenter"),
               lambda: campaign("follow", numbers=phones(3)[1:], provider="callcenter")),
}


@pytest.mark.parametrize("call", sorted(SCENARIOS))
def test_a_call_whose_journal_intent_failed_is_never_sent(call: str) -> None:
    endpoint, before, now = SCENARIOS[call]
    with rig() as r:
        if before() is not None:
            _ok(r.apply(desired(before()))[1])
        sent_before = r.xf_calls()[endpoint] + r.yc_calls()[endpoint]
        failing = FailingStore(r.store, "begin_call", _call_is(call))
        _, result = r.apply(desired(now()), failing)  # type: ignore[arg-type]
        assert failing.failed == 1
        assert not result.ok
        failed = [s for s in result.steps if s.status is StepStatus.FAILED]
        assert len(failed) == 1 and "write failed" in failed[0].detail
        assert r.xf_calls()[endpoint] + r.yc_calls()[endpoint] == sent_before  # never sent
        # once the store works again, one apply converges
        _ok(r.apply(desired(now()))[1])
        assert not r.plan(desired(now()))[0].has_changes
        assert len(r.dials()) == len(set(r.dials()))
        if call == "callout":  # nothing was dialed, so nothing is left unknown: the three were dialed once
            assert sorted(r.dials()) == sorted(phones(3))


def test_a_callout_whose_unknown_record_failed_is_never_sent() -> None:
    # the unknown rows are written with the callout's intent, in its begin_call: one fails, both fail
    c = campaign("survey", n=3, mode="direct")
    with rig() as r:
        failing = FailingStore(r.store, "begin_call", _call_is("callout"))
        _, result = r.apply(desired(c), failing)  # type: ignore[arg-type]
        assert not result.ok and r.xf_calls()["task/callout"] == 0
        assert r.store.contacts("survey", "") == []  # nothing was dialed: nothing left unknown
        _ok(r.apply(desired(c))[1])
        assert sorted(r.dials()) == sorted(phones(3))


def test_sqlite_store_rig_converges_too(tmp_path: Any) -> None:
    from reconciler.state.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.db", create=True)
    try:
        with rig(store=store) as r:
            _ok(r.apply(desired(campaign("spring", n=51), campaign("survey", n=51, mode="direct")))[1])
            assert len(r.xf_numbers("gitops-spring")) == 51 and len(r.dials()) == 51
    finally:
        store.close()


def test_memory_store_is_the_default() -> None:
    with rig() as r:
        assert isinstance(r.store, MemoryStore)


class _CollectorSeen(ApplyHooks):
    """Whether the cyclic collector ran while each step started and finished (in the lanes)."""

    def __init__(self) -> None:
        self.enabled: list[bool] = []

    def step_started(self, action: Action) -> None:
        self.enabled.append(gc.isenabled())

    def step_finished(self, result: StepResult) -> None:
        self.enabled.append(gc.isenabled())


@pytest.mark.parametrize("fails", [False, True])
def test_lanes_run_with_the_cyclic_collector_paused_and_it_runs_again_after(fails: bool) -> None:
    # it would only compete with the lanes for the interpreter lock; a failing apply gives it back too
    assert gc.isenabled()
    hooks = _CollectorSeen()
    c = campaign("spring", n=51)
    with rig() as r:
        store: StateStore = FailingStore(r.store, "begin_call", _call_is("insert")) if fails else r.store  # type: ignore[assignment]
        _, result = r.apply(desired(c), store, hooks=hooks)
        assert result.ok is not fails
    assert len(hooks.enabled) >= 4 and not any(hooks.enabled)
    assert gc.isenabled()
