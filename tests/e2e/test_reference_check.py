"""The reference check's config query: beside the listing when a plan creates tasks, after the diff
otherwise, never when nothing needs checking, and never asked twice when it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_task
from tests.e2e.test_xfyeta_e2e import _faults

LISTING_LATENCY = 0.4


def setup_dir(tmp_path: Path, emu: Any) -> Path:
    d = project(tmp_path, xf_url=emu.base_url)
    write_csv(d / "contacts/spring.csv", phones(60))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"))
    return d


def received(emu: Any, key: str, since: int = 0) -> list[int]:
    return [int(c["received_ms"]) for c in emu.calls[since:] if str(c["path"]).endswith(key)]


def config_queries(emu: Any, since: int = 0) -> int:
    return len(received(emu, "/config/v1/query", since))


def test_a_plan_that_creates_a_task_asks_for_the_config_beside_the_listing(tmp_path: Path, xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    _faults(xfyeta, f"task/query:latency:{LISTING_LATENCY}")
    result = run_cli("plan", str(d))
    assert result.exit_code == 0, result.output
    calls = xf_calls(xfyeta, mutating_only=False)
    assert (calls["token"], calls["task/query"], config_queries(xfyeta)) == (1, 1, 1), calls
    (listed,), (config,) = received(xfyeta, "/task/query"), received(xfyeta, "/config/v1/query")
    # asked while the listing was still being answered, not after it and the diff
    assert config < listed + LISTING_LATENCY * 1000 / 2


def test_a_plan_with_nothing_new_asks_after_the_diff_and_a_no_op_plan_not_at_all(tmp_path: Path,
                                                                                 xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    mark = len(xfyeta.calls)
    assert run_cli("plan", str(d)).exit_code == 0
    assert config_queries(xfyeta, mark) == 0  # nothing to check
    write_csv(d / "contacts/spring.csv", phones(70))  # ten more: a new wave (the task started), checked once
    mark = len(xfyeta.calls)
    _faults(xfyeta, f"task/query:latency:{LISTING_LATENCY}")
    assert run_cli("plan", str(d)).exit_code == 0
    assert config_queries(xfyeta, mark) == 1
    (listed,), (config,) = received(xfyeta, "/task/query", mark), received(xfyeta, "/config/v1/query", mark)
    assert config >= listed + LISTING_LATENCY * 1000  # the campaign is known: only the diff says it is needed


def test_a_config_query_that_fails_beside_the_listing_is_reported_once_not_asked_again(tmp_path: Path,
                                                                                        xfyeta: Any) -> None:
    d = setup_dir(tmp_path, xfyeta)
    _faults(xfyeta, "config/query:status:503*inf")
    result = run_cli("plan", str(d))
    assert result.exit_code == 1
    assert "cannot check references on profile 'iflytek'" in result.output and "503" in result.output
    retries = 2  # the project's `retries`: one check's worth of attempts, not two
    assert config_queries(xfyeta) == retries


def test_a_reference_problem_names_the_campaign_it_belongs_to_not_the_first_of_its_file(
        tmp_path: Path, xfyeta: Any) -> None:
    import json

    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/a.csv", phones(2))
    write_csv(d / "contacts/b.csv", phones(2, 100))
    bad = xf_task("second", "../contacts/b.csv").replace('robot: "719"', 'robot: "no-such-robot"')
    assert "no-such-robot" in bad
    campaigns(d, xf_task("first", "../contacts/a.csv"), bad)  # one file: the problem is the second's
    res = run_cli("plan", str(d), "--format", "json")
    assert res.exit_code == 1, res.output
    errors = [x for x in json.loads(res.stdout)["diagnostics"] if x["severity"] == "error"]
    assert errors and {x["campaign"] for x in errors} == {"second"}, errors
