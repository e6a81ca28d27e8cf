"""Saved plans (`plan --out`, `apply PLANFILE`, `show PLANFILE`) against the xfyeta emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_calls, xf_direct, xf_task


def setup_dir(tmp_path: Path, emu: Any) -> Path:
    d = project(tmp_path, xf_url=emu.base_url)
    write_csv(d / "contacts/spring.csv", phones(120))
    write_csv(d / "contacts/direct.csv", phones(5, 8000))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"), xf_direct("survey", "../contacts/direct.csv"))
    return d


# --- how the directory and the plan file are spelled -----------------------------


def test_plan_of_a_relative_dir_applies_from_an_absolute_path(tmp_path: Path, xfyeta: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup_dir(tmp_path, xfyeta)
    monkeypatch.chdir(tmp_path)
    made = run_cli("plan", "cfg", "--out", "p.plan")
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "cfg" / "contacts")
    res = run_cli("apply", str(tmp_path / "p.plan"), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1 and len(xfyeta.state()["dials"]) == 5
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0


def test_plan_of_dot_applies_from_another_cwd(tmp_path: Path, xfyeta: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_dir(tmp_path, xfyeta)
    monkeypatch.chdir(tmp_path / "cfg")
    made = run_cli("plan", ".", "--out", "../p.plan")
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path)
    res = run_cli("apply", "p.plan", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1


def test_plan_of_an_absolute_dir_applies_from_a_relative_plan_path(tmp_path: Path, xfyeta: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    d = setup_dir(tmp_path, xfyeta)
    made = run_cli("plan", str(d), "--out", str(tmp_path / "plans" / "p.plan"))
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "plans")
    res = run_cli("apply", "p.plan", "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/create"] == 1
