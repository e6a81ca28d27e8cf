"""Clock and FaultPlan: parsing, matching, consumption."""

from __future__ import annotations

import threading

import pytest

from reconciler.emulator.faults import Clock, Fault, FaultPlan, normalize_match_key


def test_clock_scales_and_advances() -> None:
    clock = Clock(time_scale=1.0, start=1_000_000.0)
    t0 = clock.now_s()
    assert 1_000_000.0 <= t0 < 1_000_010.0
    assert clock.advance(3600) >= t0 + 3600
    assert clock.now_ms() >= int((t0 + 3600) * 1000)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        Clock(time_scale=0)


def test_clock_time_scale_multiplies_elapsed_time() -> None:
    fast = Clock(time_scale=100_000.0, start=0.0)
    first = fast.now_s()
    # any real time at all moves a 100000x clock far more than a 1x one
    while fast.now_s() - first < 1.0:
        pass
    assert fast.now_s() - first >= 1.0


def test_clock_is_monotonic_under_threads() -> None:
    clock = Clock(start=0.0)
    def bump() -> None:
        for _ in range(100):
            clock.advance(1)
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now_s() >= 400


def test_parse_full_grammar() -> None:
    plan = FaultPlan.parse("task/create:drop, *:latency:0.2*inf ,task/query:429:3*2,App.Sip_Yccall.TaskCreat:error:-2,"
                           "token:expire-token,task/start:status:503,task/pause:malformed:truncated")
    pending = plan.pending()
    assert [(p["match"], p["kind"], p["arg"], p["remaining"]) for p in pending] == [
        ("task/create", "drop", None, 1),
        ("*", "latency", "0.2", "inf"),
        ("task/query", "429", "3", 2),
        ("App.Sip_Yccall.TaskCreat", "error", "-2", 1),
        ("token", "expire-token", None, 1),
        ("task/start", "status", "503", 1),
        ("task/pause", "malformed", "truncated", 1),
    ]


@pytest.mark.parametrize("spec", [
    "task/create", "task/create:explode", ":drop", "x:latency", "x:latency:abc", "x:status:42",
    "x:error", "x:drop:1", "x:malformed:xml", "x:drop*0", "x:429:-1",
])
def test_parse_rejects_bad_rules(spec: str) -> None:
    with pytest.raises(ValueError, match="fault rule"):
        FaultPlan.parse(spec)


def test_bad_rule_adds_nothing() -> None:
    plan = FaultPlan.parse("a:drop")
    with pytest.raises(ValueError):
        plan.add("b:drop,c:nope")
    assert len(plan) == 1


def test_take_consumes_times_and_matches_path_suffixes() -> None:
    plan = FaultPlan.parse("task/create:drop*2")
    assert plan.take("/openapi/task/v1/query") is None
    assert plan.take("/openapi/task/v1/create") == Fault("task/create", "drop")
    assert plan.take("task/create") == Fault("task/create", "drop")
    assert plan.take("/openapi/task/v1/create") is None
    assert len(plan) == 0


def test_take_matches_service_names_and_star() -> None:
    plan = FaultPlan.parse("TaskCreat:error:5*inf,*:status:502")
    assert plan.take("App.Sip_Yccall.TaskCreat") == Fault("TaskCreat", "error", "5")
    assert plan.take("App.Sip_Yccall.TaskCreat") == Fault("TaskCreat", "error", "5")
    assert plan.take("App.Sip_Yccall.TaskSet") == Fault("*", "status", "502")
    assert plan.take("App.Sip_Yccall.TaskSet") is None


def test_take_all_combines_latency_with_one_terminal_fault() -> None:
    plan = FaultPlan.parse("*:latency:0.1,task/create:drop,task/create:error:200204,task/create:expire-token")
    taken = plan.take_all("/openapi/task/v1/create")
    assert [f.kind for f in taken] == ["latency", "drop", "expire-token"]
    # the second terminal rule stays armed for the next call
    assert [f.kind for f in plan.take_all("/openapi/task/v1/create")] == ["error"]
    assert plan.take_all("/openapi/task/v1/create") == []


def test_fault_arguments() -> None:
    assert Fault("x", "429").seconds == 1.0
    assert Fault("x", "429", "7").seconds == 7.0
    assert Fault("x", "status").status_code == 500
    assert Fault("x", "error", "10001").vendor_code == 10001
    assert Fault("x", "latency", "0.5").describe() == "latency:0.5"
    assert Fault("x", "drop").describe() == "drop"


def test_normalize_match_key() -> None:
    assert normalize_match_key("/openapi/task/v1/create") == "task/create"
    assert normalize_match_key("/openapi/oauth/v1/token") == "oauth/token"
    assert normalize_match_key("task/callout") == "task/callout"


def test_clear() -> None:
    plan = FaultPlan.parse("*:drop*inf")
    plan.clear()
    assert plan.take("anything") is None
