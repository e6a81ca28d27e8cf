"""`campaignctl watch`: self-heals only start/pause drift (and allowed new contacts); reports the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from reconciler.commands.watch import cycle_once
from tests.e2e.conftest import XF_ENV, campaigns, phones, project, run_cli, write_csv, xf_calls, xf_direct, xf_task
from tests.helpers.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def _xf(base_url: str, op: str, task_id: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        tok = client.post("/openapi/oauth/v1/token", json={"app_key": XF_ENV["XFYETA_APP_KEY"],
                                                           "app_secret": XF_ENV["XFYETA_APP_SECRET"]}).json()
        data = client.post(f"/openapi/outbound/v1/task/{op}", params={"token": tok["result"]["token"]},
                           json={"task_id": task_id}).json()
        assert data["code"] == 0, data


def _task_id(cfg: Path, name: str) -> str:
    doc = json.loads(run_cli("state", "list", str(cfg), "--format", "json").stdout)
    return next(c["tasks"][0]["task_id"] for c in doc["campaigns"] if c["name"] == name)


def test_cycles_heal_drift_and_report_everything_else(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(3))
    write_csv(cfg / "contacts" / "b.csv", phones(2, 10))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"), xf_task("beta", "../contacts/b.csv", state="paused"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    alpha = _task_id(cfg, "alpha")

    quiet = cycle_once(1, cfg, lock_timeout=5, environment=None, targets=())
    assert quiet.ok and not quiet.applied and not quiet.reported

    _xf(xfyeta.base_url, "pause", alpha)  # drift: paused outside campaignctl
    before = xf_calls(xfyeta)
    healed = cycle_once(2, cfg, lock_timeout=5, environment=None, targets=())
    assert healed.ok, healed.errors
    assert healed.applied == ["start alpha (start gitops-alpha)"]
    assert xf_calls(xfyeta) - before == {"task/start": 1}

    # a new campaign (a create) and new contacts on a started task (a new wave) are reported, not applied
    write_csv(cfg / "contacts" / "a.csv", phones(4))
    write_csv(cfg / "contacts" / "c.csv", phones(2, 20))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"), xf_task("beta", "../contacts/b.csv", state="paused"),
              xf_task("gamma", "../contacts/c.csv"))
    before = xf_calls(xfyeta)
    reported = cycle_once(3, cfg, lock_timeout=5, environment=None, targets=())
    assert reported.applied == []
    assert any(r.startswith("create gamma") for r in reported.reported)
    assert any(r.startswith("create alpha") for r in reported.reported)  # wave 2: a create, never automatic
    assert reported.pending["gamma"] == 2 and reported.pending["alpha"] == 1
    assert xf_calls(xfyeta) == before


def test_new_contacts_are_inserted_only_when_the_campaign_allows(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    write_csv(cfg / "contacts" / "b.csv", phones(2, 10))
    allow = "  watch: {apply_new_contacts: true}\n"
    campaigns(cfg, xf_task("open", "../contacts/a.csv", state="paused", extra=allow),
              xf_task("closed", "../contacts/b.csv", state="paused"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    write_csv(cfg / "contacts" / "a.csv", phones(3))
    write_csv(cfg / "contacts" / "b.csv", phones(3, 10))
    before = xf_calls(xfyeta)
    cycle = cycle_once(1, cfg, lock_timeout=5, environment=None, targets=())
    assert cycle.applied == ["insert open (insert 1 contact (1 call))"], cycle
    assert cycle.reported == ["insert closed (insert 1 contact (1 call))"]
    assert xf_calls(xfyeta) - before == {"task/insert": 1}


def test_watch_process_logs_json_serves_metrics_and_stops_on_sigterm(tmp_path: Path, xfyeta: Any,
                                                                    yccall: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    alpha = _task_id(cfg, "alpha")
    env = {**os.environ, **XF_ENV, "YCCALL_APPID": "demo-appid", "YCCALL_ACCESSKEY": "demo-accesskey",
           "PYTHONPATH": str(ROOT)}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "watch", str(cfg), "--interval", "0.3s",
                             "--log-format", "json", "--metrics-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["cycle"] == 1 and first["ok"] is True and first["applied"] == []
        _xf(xfyeta.base_url, "pause", alpha)
        healed = None
        for _ in range(20):
            line = json.loads(proc.stdout.readline())
            if line["applied"]:
                healed = line
                break
        assert healed is not None and healed["applied"] == ["start alpha (start gitops-alpha)"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'campaignctl_watch_actions_applied_total{action="start"} 1.0' in metrics
        assert 'campaignctl_watch_cycles_total{result="ok"}' in metrics
        assert 'campaignctl_watch_contacts_pending{campaign="alpha"} 0.0' in metrics
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopped by SIGTERM" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0)


def test_watch_applies_the_policy_pause_outside_the_calling_hours_and_resumes_in_the_morning(
        tmp_path: Path, xfyeta: Any, monkeypatch: Any) -> None:
    policy = 'policy:\n  hours:\n    mon-sun: ["09:00-21:00"]\n'
    cfg = project(tmp_path, xf_url=xfyeta.base_url, extra=policy)
    write_csv(cfg / "contacts" / "a.csv", phones(3))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T10:00:00+08:00")
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T21:30:00+08:00")  # the hours closed at 21:00
    before = xf_calls(xfyeta)
    night = cycle_once(1, cfg, lock_timeout=5, environment=None, targets=())
    assert night.ok, night.errors
    assert night.applied == ["pause alpha (pause gitops-alpha)"] and not night.reported
    assert xf_calls(xfyeta) - before == {"task/pause": 1}
    assert not cycle_once(2, cfg, lock_timeout=5, environment=None, targets=()).applied  # the start waits
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-03T09:05:00+08:00")
    morning = cycle_once(3, cfg, lock_timeout=5, environment=None, targets=())
    assert morning.applied == ["start alpha (start gitops-alpha)"] and not morning.reported
    assert xf_calls(xfyeta) - before == {"task/pause": 1, "task/start": 1}
    # a task the files pause is never resumed by watch: only the policy's own holds are
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv", state="paused"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    later = cycle_once(4, cfg, lock_timeout=5, environment=None, targets=())
    assert not later.applied and later.reported == ["start alpha (start gitops-alpha)"]


def test_watch_dials_a_direct_campaign_when_its_window_opens_only_when_allowed(
        tmp_path: Path, xfyeta: Any, monkeypatch: Any) -> None:
    policy = 'policy:\n  hours:\n    mon-sun: ["09:00-21:00"]\n'
    cfg = project(tmp_path, xf_url=xfyeta.base_url, extra=policy)
    write_csv(cfg / "contacts" / "d.csv", phones(4, 8000))
    campaigns(cfg, xf_direct("survey", "../contacts/d.csv"))
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-02T22:00:00+08:00")
    night = cycle_once(1, cfg, lock_timeout=5, environment=None, targets=())
    assert not night.applied and xfyeta.state()["dials"] == []
    monkeypatch.setenv("CAMPAIGNCTL_NOW", "2027-03-03T09:01:00+08:00")
    refused = cycle_once(2, cfg, lock_timeout=5, environment=None, targets=())
    assert not refused.applied and xfyeta.state()["dials"] == []  # not opted in: reported only
    (cfg / "campaignctl.yaml").write_text((cfg / "campaignctl.yaml").read_text(encoding="utf-8")
                                          + "watch: {apply_new_contacts: true}\n", encoding="utf-8")
    opened = cycle_once(3, cfg, lock_timeout=5, environment=None, targets=())
    assert opened.applied and len(xfyeta.state()["dials"]) == 4
