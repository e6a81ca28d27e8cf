"""The CI templates run as written: every shell step, in order, against the emulators.

`uses:` steps (checkout, setup-python) are what the test itself provides: the
repository copy and the installed wheel on PATH. The forge API (`gh`, `curl`)
is a fake on PATH that records what was posted, so "one comment, updated on
every push" is asserted, not assumed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import XF_ENV, YC_ENV
from tests.packaging.wheel import Installed

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


@pytest.fixture
def repo(tmp_path: Path, xfyeta: Any, yccall: Any, pg_dsn: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A campaign repository (the bundled examples) wired to the emulators, its state in a fresh PG schema."""
    target = tmp_path / "repo"
    shutil.copytree(ROOT / "reconciler" / "examples" / "campaigns", target)
    doc = yaml.safe_load((target / "campaignctl.yaml").read_text(encoding="utf-8"))
    doc["providers"]["iflytek"]["base_url"] = xfyeta.base_url
    doc["providers"]["callcenter"]["base_url"] = yccall.base_url
    schema = f"ci_{uuid.uuid4().hex[:10]}"
    doc["state"] = {"backend": "postgres", "dsn_env": "CAMPAIGNCTL_STATE_DSN", "schema": schema}
    (target / "campaignctl.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    secrets = {**XF_ENV, **YC_ENV, "CAMPAIGNCTL_STATE_DSN": pg_dsn}
    yield target, secrets
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def fake_bin(tmp: Path) -> Path:
    bin_dir = tmp / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("gh", "curl"):
        path = bin_dir / name
        shutil.copy(Path(__file__).with_name("fake_forge.py"), path)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def base_env(installed: Installed, tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    return {**keep, "PATH": f"{fake_bin(tmp)}{os.pathsep}{installed.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_FORGE_STATE": str(tmp / "forge.json"), "CI": "true"}


def forge(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp / "forge.json").read_text())
    return data


# --- GitHub Actions -----------------------------------------------------------------------


def _condition(text: str, ctx: dict[str, str]) -> bool:
    ok = True
    for part in text.split("&&"):
        m = re.fullmatch(r"\s*([\w.]+)\s*(==|!=)\s*'([^']*)'\s*", part)
        assert m, f"unsupported condition {part!r}"
        value = ctx[m.group(1)]
        ok = ok and ((value == m.group(3)) if m.group(2) == "==" else (value != m.group(3)))
    return ok


def _subst(value: Any, ctx: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        assert m.group(1) in ctx, f"template uses an expression the test does not provide: {m.group(1)}"
        return ctx[m.group(1)]

    return EXPR.sub(one, str(value))


def run_github_job(job_name: str, event: str, *, workflow: dict[str, Any], repo: Path, env: dict[str, str],
                   secrets: dict[str, str], overrides: dict[str, str], pr: int = 7,
                   sha: str = "abc1234def") -> list[subprocess.CompletedProcess[str]]:
    ctx = {"github.event_name": event, "github.ref": "refs/heads/main" if event == "push" else "refs/pull/7/merge",
           "github.token": "fake-github-token", "github.event.pull_request.number": str(pr)}
    ctx.update({f"secrets.{k}": v for k, v in secrets.items()})
    job = workflow["jobs"][job_name]
    if not _condition(job["if"], ctx):
        return []
    runner = repo.parent / f"runner-{job_name}-{uuid.uuid4().hex[:6]}"
    runner.mkdir()
    summary = runner / "summary.md"
    job_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/campaigns", "GITHUB_SHA": sha,
               "GITHUB_WORKSPACE": str(repo), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": event}
    for k, v in {**workflow.get("env", {}), **job.get("env", {})}.items():
        job_env[k] = _subst(v, ctx)
    job_env.update(overrides)
    results = []
    for i, step in enumerate(job["steps"]):
        if "uses" in step:
            assert step["uses"].split("@")[0] in ("actions/checkout", "actions/setup-python"), step
            continue
        assert "if" not in step, "the test runs every step; conditions belong in the scripts"
        output = runner / f"output-{i}"
        output.touch()
        step_env = {**job_env, "GITHUB_OUTPUT": str(output)}
        step_env.update({k: _subst(v, ctx) for k, v in step.get("env", {}).items()})
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=step_env, capture_output=True,
                              text=True, timeout=300)
        results.append(proc)
        for line in output.read_text().splitlines():
            key, _, value = line.partition("=")
            ctx[f"steps.{step.get('id', i)}.outputs.{key}"] = value
        if proc.returncode != 0:
            break
    (repo.parent / f"summary-{job_name}.md").write_text(summary.read_text() if summary.exists() else "")
    return results


def _ok(results: list[subprocess.CompletedProcess[str]]) -> None:
    for proc in results:
        assert proc.returncode == 0, (f"step failed: {proc.args[-1][:300]}\nstdout:\n{proc.stdout}\n"
                                      f"stderr:\n{proc.stderr}")


def test_github_actions_template_runs_pr_plan_comment_update_and_main_apply(
        repo: tuple[Path, dict[str, str]], wheel_install: Installed, tmp_path: Path, xfyeta: Any) -> None:
    directory, secrets = repo
    workflow = yaml.safe_load(GITHUB.read_text())
    assert workflow["jobs"]["apply"]["concurrency"]["group"] == "campaignctl-apply"
    assert workflow["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False
    env = base_env(wheel_install, tmp_path)
    overrides = {"CAMPAIGNCTL_PACKAGE": str(wheel_install.wheel)}

    first = run_github_job("plan", "pull_request", workflow=workflow, repo=directory, env=env, secrets=secrets,
                           overrides=overrides, sha="1111111aaa")
    _ok(first)
    state = forge(tmp_path)
    assert len(state["comments"]) == 1
    body = state["comments"][0]["body"]
    assert body.startswith("<!-- campaignctl-plan -->") and "`1111111`" in body
    assert "| Campaign | Action |" in body and "spring-promo" in body
    assert state["labels"] == ["campaigns:changes"]
    assert "spring-promo" in (directory.parent / "summary-plan.md").read_text()
    assert xfyeta.calls_to("task/create") == []  # a plan sends nothing

    second = run_github_job("plan", "pull_request", workflow=workflow, repo=directory, env=env, secrets=secrets,
                            overrides=overrides, sha="2222222bbb")
    _ok(second)
    state = forge(tmp_path)
    assert len(state["comments"]) == 1, "one comment, updated on every push"
    assert "`2222222`" in state["comments"][0]["body"]
    assert [c["method"] for c in state["calls"] if "comments" in c["path"] and c["method"] != "GET"] == \
        ["POST", "PATCH"]

    assert run_github_job("plan", "push", workflow=workflow, repo=directory, env=env, secrets=secrets,
                          overrides=overrides) == []  # the plan job is for pull requests only
    applied = run_github_job("apply", "push", workflow=workflow, repo=directory, env=env, secrets=secrets,
                             overrides=overrides)
    _ok(applied)
    assert len(xfyeta.calls_to("task/create")) == 2
    assert "Apply complete" in (directory.parent / "summary-apply.md").read_text()

    third = run_github_job("plan", "pull_request", workflow=workflow, repo=directory, env=env, secrets=secrets,
                           overrides=overrides, sha="3333333ccc")
    _ok(third)
    state = forge(tmp_path)
    assert len(state["comments"]) == 1 and "No changes" in state["comments"][0]["body"]
    assert state["labels"] == []
    again = run_github_job("apply", "push", workflow=workflow, repo=directory, env=env, secrets=secrets,
                           overrides=overrides)
    _ok(again)
    assert "No changes to apply." in again[-1].stdout
    assert len(xfyeta.calls_to("task/create")) == 2


def test_github_invalid_files_fail_validate_with_annotations(
        repo: tuple[Path, dict[str, str]], wheel_install: Installed, tmp_path: Path) -> None:
    directory, secrets = repo
    spring = directory / "campaigns" / "spring-promo.yaml"
    spring.write_text(spring.read_text(encoding="utf-8").replace('"13:30-20:00"', '"25:00-26:00"'), "utf-8")
    workflow = yaml.safe_load(GITHUB.read_text())
    results = run_github_job("plan", "pull_request", workflow=workflow, repo=directory, env=base_env(
        wheel_install, tmp_path), secrets=secrets, overrides={"CAMPAIGNCTL_PACKAGE": str(wheel_install.wheel)})
    assert results[-1].returncode == 1 and "campaignctl validate" in results[-1].args[-1]
    assert "::error file=campaigns/spring-promo.yaml,line=" in results[-1].stdout + results[-1].stderr


# --- GitLab CI ----------------------------------------------------------------------------


def run_gitlab_job(name: str, *, pipeline: dict[str, Any], repo: Path, env: dict[str, str], variables: dict[str, str],
                   source: str, branch: str = "", sha: str = "abc1234def") -> list[subprocess.CompletedProcess[str]]:
    job = pipeline[name]
    ctx = {"CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": branch, "CI_DEFAULT_BRANCH": "main"}
    rule = job["rules"][0]["if"]
    checks = [p.strip() for p in rule.split("&&")]
    for check in checks:
        m = re.fullmatch(r'\$(\w+)\s*==\s*(?:"([^"]*)"|\$(\w+))', check)
        assert m, f"unsupported rule {check!r}"
        want = m.group(2) if m.group(2) is not None else ctx[m.group(3)]
        if ctx[m.group(1)] != want:
            return []
    job_env = {**env, "GITLAB_CI": "true", "CI_API_V4_URL": "https://gitlab.example/api/v4", "CI_PROJECT_ID": "42",
               "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_SHORT_SHA": sha[:8], "CI_DEFAULT_BRANCH": "main",
               "CI_COMMIT_BRANCH": branch, "CI_PIPELINE_SOURCE": source}
    job_env.update({k: str(v) for k, v in pipeline.get("variables", {}).items()})
    job_env.update(variables)
    script = list(pipeline.get("default", {}).get("before_script", [])) + list(job["script"])
    results = []
    for line in script:
        proc = subprocess.run(["bash", "-e", "-c", line], cwd=repo, env=job_env, capture_output=True, text=True,
                              timeout=300)
        results.append(proc)
        if proc.returncode != 0:
            break
    return results


def test_gitlab_template_runs_mr_plan_note_update_and_default_branch_apply(
        repo: tuple[Path, dict[str, str]], wheel_install: Installed, tmp_path: Path, xfyeta: Any) -> None:
    directory, secrets = repo
    pipeline = yaml.safe_load(GITLAB.read_text())
    assert pipeline["campaigns:apply"]["resource_group"] == "campaignctl-apply"
    env = base_env(wheel_install, tmp_path)
    variables = {**secrets, "CAMPAIGNCTL_GITLAB_TOKEN": "fake-gitlab-token",
                 "CAMPAIGNCTL_PACKAGE": str(wheel_install.wheel)}
    mr = {"pipeline": pipeline, "repo": directory, "env": env, "variables": variables,
          "source": "merge_request_event"}
    _ok(run_gitlab_job("campaigns:plan", **mr, sha="1111111aaa"))  # type: ignore[arg-type]
    _ok(run_gitlab_job("campaigns:plan", **mr, sha="2222222bbb"))  # type: ignore[arg-type]
    state = forge(tmp_path)
    assert len(state["comments"]) == 1 and "`2222222b`" in state["comments"][0]["body"]
    assert [c["method"] for c in state["calls"] if "notes" in c["path"] and c["method"] != "GET"] == ["POST", "PUT"]
    assert state["labels"] == ["campaigns::changes"]
    assert run_gitlab_job("campaigns:apply", **mr) == []  # type: ignore[arg-type]
    _ok(run_gitlab_job("campaigns:apply", pipeline=pipeline, repo=directory, env=env, variables=variables,
                       source="push", branch="main"))
    assert len(xfyeta.calls_to("task/create")) == 2
    _ok(run_gitlab_job("campaigns:plan", **mr, sha="3333333ccc"))  # type: ignore[arg-type]
    state = forge(tmp_path)
    assert "No changes" in state["comments"][0]["body"] and state["labels"] == []
