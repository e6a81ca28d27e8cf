"""`campaignctl export`: onboard hand-made vendor tasks; the plan right after changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_task
from tests.e2e.handmade import xf_task as handmade_xf
from tests.e2e.handmade import yc_task as handmade_yc


def plan_json(cfg: Path) -> dict[str, Any]:
    res = run_cli("plan", str(cfg), "--format", "json")
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_export_xfyeta_tasks_then_plan_has_no_changes(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    running = handmade_xf(xfyeta.base_url, "gitops-legacy-running", phones(3), start=True)
    paused = handmade_xf(xfyeta.base_url, "gitops-legacy-paused", phones(2, 10), pause=True, voice="", end=None,
                         windows=("09:30:00-11:30:00",), recall=0)
    fresh = handmade_xf(xfyeta.base_url, "gitops-legacy-new", phones(2, 20))
    handmade_xf(xfyeta.base_url, "other-team-task", phones(1, 30))  # not ours: left alone
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2, 40))
    campaigns(cfg, xf_task("managed", "../contacts/a.csv"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    before = xf_calls(xfyeta)

    res = run_cli("export", "--profile", "iflytek", str(cfg))
    assert res.exit_code == 0, res.output
    out = res.stdout
    for name in ("legacy-running", "legacy-paused", "legacy-new"):
        assert f"Exported {name} to" in out
    assert "managed" not in out.split("Exported", 1)[1]  # the state knows it: not exported again
    assert "not reported by the vendor: turbo" in out
    written = {p.stem: p for p in (cfg / "campaigns" / "exported").glob("*.yaml")}
    assert set(written) == {"legacy-running", "legacy-paused", "legacy-new"}
    doc = yaml.safe_load(written["legacy-running"].read_text(encoding="utf-8"))["campaigns"][0]
    assert doc["robot"] == "719" and doc["lines"] == ["69101338"] and doc["voice"] == {"code": "60030"}
    assert doc["schedule"]["windows"] == ["09:00-12:00", "13:30-20:00"]
    assert doc["schedule"]["begin"] == "2027-03-01T09:00:00+08:00"
    assert doc["recall"] == {"count": 1, "wait": 600}
    assert doc["state"] == "running"
    assert doc["contacts"]["columns"] == ["客户手机号码", "姓名"] and doc["contacts"]["sources"] == [{"rows": []}]
    text = written["legacy-running"].read_text(encoding="utf-8")
    assert "vendor does not return the numbers" in text and "Do NOT copy" in text
    assert yaml.safe_load(written["legacy-paused"].read_text())["campaigns"][0]["state"] == "paused"

    plan = plan_json(cfg)
    assert plan["has_changes"] is False, plan["actions"]
    assert plan["applyable"] is True
    listed = run_cli("state", "list", str(cfg), "--format", "json")
    tasks = {c["name"]: [t["task_id"] for t in c["tasks"]] for c in json.loads(listed.stdout)["campaigns"]}
    assert tasks["legacy-running"] == [running] and tasks["legacy-paused"] == [paused]
    assert tasks["legacy-new"] == [fresh]
    assert xf_calls(xfyeta) == before  # export changed nothing on the platform
    # and apply after it sends nothing
    res = run_cli("apply", str(cfg), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta) == before
    # exporting again finds nothing new
    again = run_cli("export", "--profile", "iflytek", str(cfg))
    assert again.exit_code == 0 and "Nothing to export" in again.stdout


def test_export_yccall_and_drift_after_is_seen(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    task = handmade_yc(yccall.base_url, "gitops-yc-legacy", phones(4), start=True)
    foreign = handmade_yc(yccall.base_url, "gitops-yc-foreign", phones(1, 9), customtaskid="theirs-1")
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    (cfg / "campaigns").mkdir(exist_ok=True)
    res = run_cli("export", "--profile", "callcenter", str(cfg))
    assert res.exit_code == 0, res.output
    assert "Exported yc-legacy" in res.stdout
    assert f"task gitops-yc-foreign ({foreign}) does not carry the profile's ownership prefix" in res.stdout
    doc = yaml.safe_load((cfg / "campaigns" / "exported" / "yc-legacy.yaml").read_text())["campaigns"][0]
    assert doc["yccall"]["assign"] == {"type": "extension", "agent": "8001"}
    assert doc["yccall"]["caller_numbers"] == ["02160000001"] and doc["yccall"]["concurrency"] == 10
    assert doc["recall"] == {"count": 1, "wait": 3600, "mode": "unanswered"}
    assert doc["state"] == "running"
    plan = plan_json(cfg)
    assert plan["has_changes"] is False, plan["actions"]
    # a pause outside campaignctl is drift on the adopted task
    import httpx

    with httpx.Client(base_url=yccall.base_url) as client:
        token = client.post("/", data={"service": "App.Sip_Auth.Login", "appid": "demo-appid",
                                       "accesskey": "demo-accesskey"}).json()["data"]["result"]["token"]
        client.post("/", data={"service": "App.Sip_Yccall.TaskSet", "token": token, "taskid": task, "taskstatus": "2"})
    plan = plan_json(cfg)
    assert [(a["action"], a["task_id"], a["drift"]) for a in plan["actions"]] == [("start", task, True)]


def test_export_unknown_profile_and_missing_state(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url, init=False)
    (cfg / "campaigns").mkdir(exist_ok=True)
    res = run_cli("export", "--profile", "nope", str(cfg))
    assert res.exit_code == 1 and "profile 'nope' is not in the project file" in res.stderr
    res = run_cli("export", "--profile", "iflytek", str(cfg))
    assert res.exit_code == 1 and "state init" in res.stderr
