"""The dialing policy meets the results, end to end: opt-outs learned from pushes, caps counting dial attempts.

Both emulators and the results receiver run in-process; the xfyeta emulator pushes its simulated calls
(with a seeded refusal, "明确拒绝", where a test needs one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands.results import receiver
from reconciler.emulator import start_emulator
from reconciler.emulator.pushes import attach_pushes
from reconciler.engine import policy as engine_policy
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import XF_ENV, YC_ENV, campaigns, phones, project, run_cli, write_csv, xf_task, yc_task

BEGIN = datetime.fromisoformat("2027-03-01T09:00:00+08:00").timestamp()
POLICY = "policy:\n  optout: {from_results: true}\n"


def test_a_refusal_in_one_campaign_suppresses_the_number_in_the_other(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**XF_ENV, **YC_ENV}.items():
        monkeypatch.setenv(k, v)
    xf, xf_server = start_emulator("xfyeta", time_scale=1.0)
    yc, yc_server = start_emulator("yccall", time_scale=1.0)
    try:
        directory = project(tmp_path, xf_url=xf_server.base_url, yc_url=yc_server.base_url, extra=POLICY)
        shared = phones(1, start=700)[0]
        promo, follow = [shared, *phones(2, start=701)], [shared, *phones(2, start=800)]
        write_csv(directory / "promo.csv", promo)
        write_csv(directory / "follow.csv", follow, columns=("phone",))
        campaigns(directory, xf_task("promo", "../promo.csv", recall=0), yc_task("followup", "../follow.csv"))
        with receiver(directory, "127.0.0.1:0") as server:
            server.start()
            pushes = attach_pushes(xf, f"{server.base_url}/push/iflytek/", seed=7,
                                   intentions={shared: ("D", "明确拒绝")})
            try:
                res = run_cli("apply", str(directory), "--auto-approve")
                assert res.exit_code == 0, res.output
                [yc_task_state] = yc.state()["tasks"]
                assert shared in {n["telphone"] for n in yc_task_state["numbers"]}  # queued in both campaigns
                # promo dials (the yccall campaign has not reached its begin yet); the shared number refuses
                xf.advance(max(0.0, BEGIN - xf.clock.now_s()) + 86400)
                assert pushes.flush(30)
                time.sleep(0.2)
                assert pushes.flush(30)
                assert shared in {d["phone"] for t in xf.state()["tasks"] for d in t["numbers"] if d["attempts"]}
            finally:
                pushes.close()
                server.stop()

        with SqliteStore(tmp_path / "state.db") as store:
            listed = {r.phone: r for r in store.optouts()}
        assert listed[shared].source == "results:iflytek" and "拒绝" in listed[shared].reason
        assert not set(listed) & set(follow[1:])

        # the next plan suppresses it in the other campaign: yccall takes it out of the queued task
        doc = json.loads(run_cli("plan", str(directory), "--format", "json").stdout)
        followup = next(c for c in doc["campaigns"] if c["name"] == "followup")
        assert followup["suppressed"] == 1 and followup["suppressed_by"] == {"opt-out": 1}
        assert [a["action"] for a in doc["actions"] if a["campaign"] == "followup"] == ["remove"]
        text = run_cli("plan", str(directory)).stdout
        assert "1 are on a do-not-call or opt-out list" in text and shared not in text
        res = run_cli("apply", str(directory), "--auto-approve")
        assert res.exit_code == 0, res.output
        [yc_task_state] = yc.state()["tasks"]
        assert shared not in {n["telphone"] for n in yc_task_state["numbers"]}
        yc.advance(max(0.0, BEGIN - yc.clock.now_s()) + 86400)
        called = {n["telphone"] for n in yc.state()["tasks"][0]["numbers"] if n.get("dials")}
        assert shared not in called and called == set(follow[1:])
        again = json.loads(run_cli("plan", str(directory), "--format", "json").stdout)
        assert not [a for a in again["actions"] if a["campaign"] == "followup"]
    finally:
        xf_server.stop()
        yc_server.stop()


@pytest.fixture
def xf_pushing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in XF_ENV.items():
        monkeypatch.setenv(k, v)
    xf, server = start_emulator("xfyeta", time_scale=1.0)
    try:
        yield {"xf": xf, "url": server.base_url}
    finally:
        server.stop()


@pytest.mark.parametrize("history", ["of the numbers to send", "of every number"])
def test_a_frequency_cap_counts_the_dial_attempts_the_results_show(tmp_path: Path, xf_pushing: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   history: str) -> None:
    """The same holds whether the plan reads the history of the numbers it sends (the store's queries by
    phone) or every number's (past ``engine.policy.SCOPED_HISTORY`` numbers)."""
    if history == "of every number":
        monkeypatch.setattr(engine_policy, "SCOPED_HISTORY", 0)
    xf = xf_pushing["xf"]
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    directory = project(tmp_path, xf_url=xf_pushing["url"], extra="policy:\n  max_dials: {count: 2, days: 7}\n")
    nums = phones(3, start=900)  # the emulator never answers the 3rd: it is dialed again by the recall round
    write_csv(directory / "promo.csv", nums)
    campaigns(directory, xf_task("promo", "../promo.csv", recall=1))
    with receiver(directory, "127.0.0.1:0") as server:
        server.start()
        pushes = attach_pushes(xf, f"{server.base_url}/push/iflytek/", seed=7)
        try:
            assert run_cli("apply", str(directory), "--auto-approve").exit_code == 0
            xf.advance(max(0.0, BEGIN - xf.clock.now_s()) + 86400)
            assert pushes.flush(30)
            time.sleep(0.2)
            assert pushes.flush(30)
        finally:
            pushes.close()
            server.stop()
    attempts = {n["phone"]: n["attempts"] for t in xf.state()["tasks"] for n in t["numbers"]}
    assert (attempts[nums[0]], attempts[nums[2]]) == (1, 2)

    # a second campaign with the same people: sent once each, but the 3rd was dialed twice, so the cap holds it
    write_csv(directory / "renewal.csv", nums)
    campaigns(directory, xf_task("promo", "../promo.csv", recall=1), xf_task("renewal", "../renewal.csv"))
    doc = json.loads(run_cli("plan", str(directory), "--format", "json").stdout)
    renewal = next(c for c in doc["campaigns"] if c["name"] == "renewal")
    assert renewal["held"] == 1
    [held] = [d for d in doc["deferred"] if d["campaign"] == "renewal"]
    assert held["contacts"] == 1 and "max_dials 2 per 7 days" in held["reason"]
    res = run_cli("apply", str(directory), "--auto-approve")
    assert res.exit_code == 0, res.output
    [task] = [t for t in xf.state()["tasks"] if t["task_name"] == "gitops-renewal"]
    assert sorted(n["phone"] for n in task["numbers"]) == nums[:2]


def test_status_shows_the_capacity_forecast_against_the_progress(tmp_path: Path, xf_pushing: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    xf = xf_pushing["xf"]
    capacity = ("policy:\n  capacity:\n"
                "    iflytek: {concurrent_calls: 1, average_call_seconds: 600, answer_rate: 0.5}\n")
    directory = project(tmp_path, xf_url=xf_pushing["url"], extra=capacity)
    write_csv(directory / "promo.csv", phones(9, start=950))
    campaigns(directory, xf_task("promo", "../promo.csv", recall=0))
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-01T08:00:00+08:00")  # sent before schedule.begin (09:00)
    assert run_cli("apply", str(directory), "--auto-approve").exit_code == 0
    # 10:00: one open hour since the begin at 6 calls per hour: 6 expected, none dialed yet (the emulator waits)
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-01T10:00:00+08:00")
    doc = json.loads(run_cli("status", str(directory), "--format", "json").stdout)
    [promo] = doc["campaigns"]
    fc = promo["forecast"]
    assert (fc["calls_per_hour"], fc["expected"], fc["dialed"], fc["total"], fc["behind"]) == (6.0, 6, 0, 9, 6)
    assert fc["started"] == "2027-03-01T09:00:00+08:00"
    assert fc["remaining"]["contacts"] == 9 and fc["remaining"]["finish"].startswith("2027-03-01T11:30")
    text = run_cli("status", str(directory)).stdout
    assert ("forecast: expected ~6 of 9 dialed by now at ~6 calls per open hour since 2027-03-01 09:00, actual 0 "
            "(6 behind); the remaining 9 (~9 calls) done around 2027-03-01 11:30") in text
    # a day of dialing later: everybody dialed, ahead of the forecast, nobody left
    xf.advance(max(0.0, BEGIN - xf.clock.now_s()) + 86400)
    doc = json.loads(run_cli("status", str(directory), "--format", "json").stdout)
    fc = doc["campaigns"][0]["forecast"]
    assert (fc["expected"], fc["dialed"], fc["remaining"]) == (6, 9, None)
    assert "actual 9 (3 ahead); nobody left to dial" in run_cli("status", str(directory)).stdout
    page = tmp_path / "status.html"
    assert run_cli("status", str(directory), "--html", str(page)).exit_code == 0
    assert 'data-field="forecast"' in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(("also", "overlapping"), [("running", False), ("paused", False), ("paused", True)])
def test_a_first_plan_caps_a_number_two_new_campaigns_send(tmp_path: Path, xfyeta: Any,
                                                           monkeypatch: pytest.MonkeyPatch, also: str,
                                                           overlapping: bool) -> None:
    """Nothing sent yet: the cap counts what the campaigns before it in the plan send. The load's check
    across campaigns finds the one number a and b share (its first look also takes in a paused campaign,
    whose task is filled too; when that one shares a number as well, the finding leaves it out and every
    number is looked up instead): the same plan every way."""
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    directory = project(tmp_path, xf_url=xfyeta.base_url, extra="policy:\n  max_dials: {count: 1, days: 7}\n")
    nums = phones(5, start=700)
    write_csv(directory / "a.csv", nums[:3])
    write_csv(directory / "b.csv", nums[2:])  # nums[2] in both
    write_csv(directory / "c.csv", [*phones(2, start=800), *(nums[:1] if overlapping else [])])
    campaigns(directory, xf_task("a", "../a.csv"), xf_task("b", "../b.csv"), xf_task("c", "../c.csv", state=also))
    doc = json.loads(run_cli("plan", str(directory), "--format", "json").stdout)
    held = {c["name"]: c["held"] for c in doc["campaigns"]}
    assert held == {"a": 0, "b": 1, "c": int(overlapping)}
    assert [(d["campaign"], d["contacts"]) for d in doc["deferred"]] == [("b", 1), *([("c", 1)] if overlapping else [])]
    assert all("max_dials 1 per 7 days" in d["reason"] for d in doc["deferred"])
    res = run_cli("apply", str(directory), "--auto-approve")
    assert res.exit_code == 0, res.output
    sent = {t["task_name"]: sorted(n["phone"] for n in t["numbers"]) for t in xfyeta.state()["tasks"]}
    assert sent["gitops-a"] == nums[:3] and sent["gitops-b"] == nums[3:]
    assert sent["gitops-c"] == phones(2, start=800)
