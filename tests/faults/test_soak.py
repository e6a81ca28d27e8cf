"""The crash soak, short: a few runs per state backend of `benchmarks/soak.py` (SIGKILL mid-apply, converge).

The long version: ``python benchmarks/soak.py --runs 100 --backend both``.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.soak import run_soak
from tests.faults.support import record

RUNS = int(os.environ.get("CAMPAIGNCTL_SOAK_RUNS", "3"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_short_soak_converges(backend: str) -> None:
    summary = run_soak(RUNS, seed=int(os.environ.get("CAMPAIGNCTL_SOAK_SEED", "7")), backend=backend, quiet=True)
    record("soak", backend, {k: v for k, v in summary.items() if k != "run_results"})
    problems = [(r["run"], r["problems"]) for r in summary["run_results"] if r["problems"]]
    assert not problems, problems
    assert summary["converged"] == summary["runs"] == RUNS
    assert summary["duplicate_tasks"] == summary["duplicate_rows"] == summary["second_dials"] == 0
    assert summary["lost"] == 0
    assert summary["mid_apply_kills"] >= 1, "no kill landed while an apply was running"
