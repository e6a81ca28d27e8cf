"""Close the loop against both emulators: apply -> simulated calls -> pushes -> status and export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands.results import receiver
from reconciler.emulator import start_emulator
from reconciler.emulator.pushes import Pushes, attach_pushes
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import XF_ENV, YC_ENV, campaigns, phones, project, run_cli, write_csv, xf_task, yc_task

BEGIN = datetime.fromisoformat("2027-03-01T09:00:00+08:00").timestamp()


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in {**XF_ENV, **YC_ENV}.items():
        monkeypatch.setenv(k, v)
    xf, xf_server = start_emulator("xfyeta", time_scale=1.0)
    yc, yc_server = start_emulator("yccall", time_scale=1.0)
    directory = project(tmp_path, xf_url=xf_server.base_url, yc_url=yc_server.base_url)
    write_csv(directory / "promo.csv", phones(9))
    write_csv(directory / "cc.csv", phones(12, start=500), columns=("phone",))
    campaigns(directory, xf_task("promo", "../promo.csv", recall=1), yc_task("cc", "../cc.csv"))
    pushes: list[Pushes] = []
    with receiver(directory, "127.0.0.1:0") as server:
        server.start()
        pushes = [attach_pushes(xf, f"{server.base_url}/push/iflytek/", seed=7),
                  attach_pushes(yc, f"{server.base_url}/push/callcenter/", seed=7)]
        try:
            yield {"dir": directory, "xf": xf, "yc": yc, "pushes": pushes, "state": tmp_path / "state.db"}
        finally:
            for p in pushes:
                p.close()
            server.stop()
            xf_server.stop()
            yc_server.stop()


def run_until_done(env: dict[str, Any]) -> None:
    for emu in (env["xf"], env["yc"]):
        emu.advance(max(0.0, BEGIN - emu.clock.now_s()) + 2 * 86400)  # the campaigns' first two days
    for p in env["pushes"]:
        assert p.flush(30)
    time.sleep(0.2)
    for p in env["pushes"]:
        assert p.flush(30)


def numbers(emu: Any) -> dict[str, dict[str, Any]]:
    return {n.get("phone") or n.get("telphone"): n for t in emu.state()["tasks"] for n in t["numbers"]}


def test_apply_calls_pushes_status_and_export(loop: dict[str, Any]) -> None:
    directory = loop["dir"]
    res = run_cli("apply", str(directory), "--auto-approve")
    assert res.exit_code == 0, res.output
    run_until_done(loop)
    xf_numbers, yc_numbers = numbers(loop["xf"]), numbers(loop["yc"])
    assert all(n["attempts"] >= 1 for n in xf_numbers.values()) and any(n["attempts"] == 2 for n in xf_numbers.values())
    assert all(n["status"] == 1036 for n in yc_numbers.values())

    # the double push and the recall rounds' new data ids all landed on their rows; nothing unmatched
    xf_pushes, yc_pushes = loop["pushes"]
    assert not xf_pushes.sender.failed and not yc_pushes.sender.failed
    with SqliteStore(loop["state"]) as store:
        assert store.results("") == []
        keys = [r.key for r in store.results("promo") if r.module == "receiveCallRecord"]
        assert len(keys) == len(set(keys)) == 2 * sum(n["attempts"] for n in xf_numbers.values())
        assert {r.module for r in store.results("cc")} == {"callrecord", "taskstatus"}

    queries = len(loop["xf"].calls_to("task/query"))
    lists = len(loop["yc"].calls_to("App.Sip_Yccall.TaskList"))
    res = run_cli("status", str(directory), "--format", "json")
    assert res.exit_code == 0, res.output
    # one bulk listing per profile, not one call per task
    assert len(loop["xf"].calls_to("task/query")) == queries + 1
    assert len(loop["yc"].calls_to("App.Sip_Yccall.TaskList")) == lists + 1
    report = {c["name"]: c for c in json.loads(res.stdout)["campaigns"]}
    promo, cc = report["promo"], report["cc"]
    answered_xf = sum(1 for n in xf_numbers.values() if n["answered"])
    answered_yc = sum(1 for n in yc_numbers.values() if n["answered"] == 1)
    assert (promo["contacts"], promo["sent"], promo["dialed"], promo["answered"]) == (9, 9, 9, answered_xf)
    assert (cc["contacts"], cc["dialed"], cc["answered"]) == (12, 12, answered_yc)
    assert promo["results_answered"] == answered_xf and cc["results_answered"] == answered_yc
    assert promo["phase"] == "finished" and promo["remaining"] == 0 and promo["source"] == "listing"
    assert sum(promo["outcomes"].values()) == 9 and sum(promo["intentions"].values()) == answered_xf
    assert 0 < promo["connect_rate"] < 1

    text = run_cli("status", str(directory))
    assert text.exit_code == 0 and "promo" in text.stdout and "outcomes:" in text.stdout
    for phone in xf_numbers:
        assert phone not in text.stdout

    out = directory / "promo-results.csv"
    res = run_cli("results", "export", str(directory), "promo", "--out", str(out))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["客户手机号码"] for r in rows] == phones(9)
    for row in rows:
        number = xf_numbers[row["客户手机号码"]]
        assert row["answered"] == ("true" if number["answered"] else "false")
        assert int(row["tries"]) == number["attempts"]
        assert (row["intention"] != "") == number["answered"]
        assert (row["recording_url"] != "") == number["answered"]
        assert row["result_code"] in (("0", "15") if number["answered"] else ("20", "5", "3", "4", "6", "8"))
    res = run_cli("results", "export", str(directory), "cc", "--format", "json")
    cc_rows = json.loads(res.stdout)
    assert [r["phone"] for r in cc_rows] == phones(12, start=500)
    for row in cc_rows:
        number = yc_numbers[row["phone"]]
        assert row["answered"] is (number["answered"] == 1)
        assert row["tries"] == number["dials"]


def test_status_watch_lists_once_per_round_and_writes_the_page(loop: dict[str, Any], tmp_path: Path) -> None:
    from reconciler.commands import status

    assert run_cli("apply", str(loop["dir"]), "--auto-approve").exit_code == 0
    run_until_done(loop)
    queries = len(loop["xf"].calls_to("task/query"))
    lists = len(loop["yc"].calls_to("App.Sip_Yccall.TaskList"))
    page = tmp_path / "status.html"
    assert status.run(loop["dir"], watch=True, interval=0.1, iterations=2, html=page) == 0
    assert len(loop["xf"].calls_to("task/query")) == queries + 2
    assert len(loop["yc"].calls_to("App.Sip_Yccall.TaskList")) == lists + 2
    html = page.read_text(encoding="utf-8")
    assert 'data-campaign="promo"' in html and '<meta http-equiv="refresh"' in html
    assert all(p not in html for p in phones(9))
