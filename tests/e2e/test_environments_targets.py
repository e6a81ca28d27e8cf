"""--env (profiles and state per environment), --target, validate FILE, lock-timeout, missing plan, credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.commands.validate import find_project
from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_task

ROOT = Path(__file__).resolve().parents[2]


def env_project(tmp: Path, xf_url: str, yc_url: str) -> Path:
    extra = f"""environments:
  staging:
    providers:
      iflytek: {{base_url: "{xf_url}", name_prefix: "stg-"}}
  prod:
    providers:
      iflytek: {{base_url: "http://127.0.0.1:9"}}
"""
    return project(tmp, xf_url="http://127.0.0.1:9", yc_url=yc_url, extra=extra)


def test_env_overrides_profiles_and_keeps_a_state_per_environment(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = env_project(tmp_path, xfyeta.base_url, yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    res = run_cli("apply", str(cfg), "--env", "staging", "--auto-approve")
    assert res.exit_code == 1 and "state init" in res.output  # the staging state is its own: not initialised
    assert run_cli("state", "init", str(cfg), "--env", "staging").exit_code == 0
    res = run_cli("apply", str(cfg), "--env", "staging", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert [c["body"]["task_name"] for c in xfyeta.calls_to("task/create")] == ["stg-alpha"]
    assert (cfg / ".." / "state.db").resolve().exists()
    staging = json.loads(run_cli("state", "list", str(cfg), "--env", "staging", "--format", "json").stdout)
    base = json.loads(run_cli("state", "list", str(cfg), "--format", "json").stdout)
    assert [c["name"] for c in staging["campaigns"]] == ["alpha"] and base["campaigns"] == []
    res = run_cli("plan", str(cfg), "--env", "nope")
    assert res.exit_code == 1 and "unknown environment 'nope' (defined: prod, staging)" in res.output


def test_environment_section_is_validated_with_lines(tmp_path: Path) -> None:
    cfg = project(tmp_path, extra="environments:\n  staging:\n    providers:\n      ghost: {base_url: 'http://x'}\n"
                                  "      iflytek: {appid_env: NOPE}\n", init=False)
    res = run_cli("validate", str(cfg))
    assert res.exit_code == 1
    assert "campaignctl.yaml:25: environments.staging.providers.ghost: environment 'staging' overrides profile " \
           "'ghost'" in res.stdout
    assert "campaignctl.yaml:26: environments.staging.providers.iflytek.appid_env: 'appid_env' cannot be set" \
        in res.stdout


def test_target_plans_only_the_target_and_never_prunes_outside(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url, extra="prune: true\n")
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    write_csv(cfg / "contacts" / "b.csv", phones(2, 10))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"), xf_task("beta", "../contacts/b.csv"))
    assert run_cli("apply", str(cfg), "--auto-approve").exit_code == 0
    write_csv(cfg / "contacts" / "c.csv", phones(2, 20))
    campaigns(cfg, xf_task("gamma", "../contacts/c.csv"), xf_task("alpha-2", "../contacts/c.csv"))  # alpha, beta left
    res = run_cli("plan", str(cfg), "--target", "gamma", "--format", "json")
    doc = json.loads(res.stdout)
    assert {a["campaign"] for a in doc["actions"]} == {"gamma"}
    assert any("--target is in effect" in d["message"] for d in doc["diagnostics"])
    res = run_cli("plan", str(cfg), "--target", "alpha*", "--format", "json")
    doc = json.loads(res.stdout)
    assert {(a["action"], a["campaign"]) for a in doc["actions"]} >= {("delete", "alpha"), ("create", "alpha-2")}
    assert "beta" not in {a["campaign"] for a in doc["actions"]}
    before = xf_calls(xfyeta)
    assert run_cli("apply", str(cfg), "--target", "gamma", "--auto-approve").exit_code == 0
    assert (xf_calls(xfyeta) - before)["task/delete"] == 0
    res = run_cli("plan", str(cfg), "--target", "zzz")
    assert res.exit_code == 1 and "matches no campaign" in res.output


def test_cli_conventions(tmp_path: Path, xfyeta: Any, yccall: Any, monkeypatch: Any) -> None:
    cfg = project(tmp_path, xf_url=xfyeta.base_url, yc_url=yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    for bad in ("-1", "nan", "inf"):
        res = run_cli("plan", str(cfg), "--lock-timeout", bad)
        assert res.exit_code == 1 and "--lock-timeout" in res.output, bad
    res = run_cli("apply", str(tmp_path / "missing.plan"))
    assert res.exit_code == 1 and "the plan file" in res.stderr and "is missing" in res.stderr
    # every missing credential variable at once
    for name in ("XFYETA_APP_KEY", "XFYETA_APP_SECRET"):
        monkeypatch.delenv(name)
    res = run_cli("plan", str(cfg))
    assert res.exit_code == 1 and "$XFYETA_APP_KEY" in res.stderr and "$XFYETA_APP_SECRET" in res.stderr
    # a json document also when the configuration has errors
    (cfg / "campaigns" / "bad.yaml").write_text("version: 1\ncampaigns:\n  - name: BAD\n", encoding="utf-8")
    res = run_cli("plan", str(cfg), "--format", "json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 1 and doc["applyable"] is False and doc["diagnostics"][0]["line"] > 0
    assert run_cli("plan", str(cfg), "--format", "markdown").stdout.startswith("### No changes can be planned")
    # validate FILE: the project is found upwards from the file
    assert find_project(cfg / "campaigns" / "main.yaml") == cfg.resolve()
    res = run_cli("validate", str(cfg / "campaigns" / "bad.yaml"))
    assert res.exit_code == 1 and "bad.yaml:3" in res.stdout
    res = run_cli("validate", str(tmp_path / "elsewhere.yaml"))
    assert res.exit_code == 0 and "not inside a campaignctl project" in res.stderr
    for command in ("plan", "apply", "export", "watch", "validate", "show", "import", "demo"):
        assert "Examples:" in run_cli(command, "--help").stdout, command


def test_saved_plan_remembers_its_environment(tmp_path: Path, xfyeta: Any, yccall: Any) -> None:
    cfg = env_project(tmp_path, xfyeta.base_url, yccall.base_url)
    write_csv(cfg / "contacts" / "a.csv", phones(2))
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    assert run_cli("state", "init", str(cfg), "--env", "staging").exit_code == 0
    out = tmp_path / "staging.plan"
    assert run_cli("plan", str(cfg), "--env", "staging", "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["meta"]["environment"] == "staging"
    wrong = run_cli("apply", str(out), "--env", "prod")
    assert wrong.exit_code == 1 and "made for --env staging" in wrong.output
    res = run_cli("apply", str(out))  # the plan's own environment: staging profiles and state
    assert res.exit_code == 0, res.output
    assert [c["body"]["task_name"] for c in xfyeta.calls_to("task/create")] == ["stg-alpha"]


def test_optout_list_is_per_environment_and_takes_dir_as_argument_or_option(tmp_path: Path, xfyeta: Any,
                                                                             yccall: Any) -> None:
    cfg = env_project(tmp_path, xfyeta.base_url, yccall.base_url)
    assert run_cli("state", "init", str(cfg), "--env", "staging").exit_code == 0
    res = run_cli("optout", "add", "13800000000", "--reason", "asked", str(cfg), "--env", "staging")
    assert res.exit_code == 0, res.output
    staging = json.loads(run_cli("optout", "list", "--format", "json", "--dir", str(cfg), "--env", "staging").stdout)
    base = json.loads(run_cli("optout", "list", "--format", "json", str(cfg)).stdout)
    assert (staging["count"], base["count"]) == (1, 0)
    both = run_cli("optout", "list", str(cfg), "--dir", str(tmp_path))
    assert both.exit_code != 0 and "two directories given" in both.output
    assert "campaignctl optout remove" in run_cli("optout", "remove", "--help").output  # the examples epilog


def test_status_results_serve_and_export_read_the_environments_state(tmp_path: Path, xfyeta: Any,
                                                                       yccall: Any) -> None:
    # the receiver must write a push (and the opt-out it may mean) to the state the environment dials from
    import httpx

    from reconciler.commands.results import receiver
    from tests.results.conftest import call_record

    cfg = env_project(tmp_path, xfyeta.base_url, yccall.base_url)
    nums = phones(2)
    write_csv(cfg / "contacts" / "a.csv", nums)
    campaigns(cfg, xf_task("alpha", "../contacts/a.csv"))
    assert run_cli("state", "init", str(cfg), "--env", "staging").exit_code == 0
    assert run_cli("apply", str(cfg), "--env", "staging", "--auto-approve").exit_code == 0
    status = json.loads(run_cli("status", str(cfg), "--env", "staging", "--format", "json").stdout)
    assert [(c["name"], c["sent"]) for c in status["campaigns"]] == [("alpha", 2)]
    base = json.loads(run_cli("status", str(cfg), "--format", "json").stdout)
    assert [(c["name"], c["sent"]) for c in base["campaigns"]] == [("alpha", 0)]
    assert len(xfyeta.calls_to("task/create")) == 1
    task_id = str(xfyeta.state()["tasks"][0]["task_id"])
    with receiver(cfg, "127.0.0.1:0", environment="staging") as server:
        server.start()
        try:
            body = call_record("u-env", None, nums[0], task_id=task_id)
            assert httpx.post(f"{server.base_url}/push/iflytek/receiveCallRecord", json=body,
                              timeout=10).text == "success"
        finally:
            server.stop()
    rows = run_cli("results", "export", str(cfg), "alpha", "--env", "staging", "--format", "json")
    assert rows.exit_code == 0, rows.output
    assert sum(1 for r in json.loads(rows.stdout) if r.get("result_code") == "0") == 1, rows.stdout
    base_rows = run_cli("results", "export", str(cfg), "alpha", "--format", "json")
    assert not any(r.get("result_code") for r in json.loads(base_rows.stdout)), base_rows.stdout
