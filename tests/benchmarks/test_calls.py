"""The vendor calls of apply and of no-op plans are at their lower bound, exactly (benchmarks/calls.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def calls_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_calls", ROOT / "benchmarks" / "calls.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_calls"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("tasks", "contacts"), [(1, 1), (3, 50), (2, 51), (51, 2)])
def test_calls_are_at_the_lower_bound(tasks: int, contacts: int, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = calls_module()
    for key, value in bench.XF_ENV.items():
        monkeypatch.setenv(key, value)
    got = bench.measure(tasks, contacts)
    assert {k: got[k] for k in ("apply", "no-op plan", "no-op apply")} == bench.lower_bounds(tasks, contacts)
    inserts = -(-contacts // 50) * tasks
    assert got["apply by call"] == {"token": 1, "task/query": 1, "query": 1, "task/create": tasks,
                                    "task/insert": inserts, "task/start": tasks}
    pages = max(1, -(-tasks // 50))
    assert got["no-op plan by call"] == {"token": 1, "task/query": pages}
