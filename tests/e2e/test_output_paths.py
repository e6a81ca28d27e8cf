"""Files the user names for output: a path that cannot be written is a clear error (exit 1), never exit 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_task


@pytest.fixture
def directory(tmp_path: Path, xfyeta: Any) -> Path:
    d = project(tmp_path, xf_url=xfyeta.base_url)
    write_csv(d / "contacts/spring.csv", phones(2))
    campaigns(d, xf_task("spring", "../contacts/spring.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    return d


@pytest.mark.parametrize("where", ["missing-dir", "a-dir"])
def test_status_html_and_results_export_to_an_unwritable_path(directory: Path, tmp_path: Path, where: str) -> None:
    target = tmp_path / "nowhere" / "x.html" if where == "missing-dir" else tmp_path
    for args in (("status", str(directory), "--html", str(target)),
                 ("results", "export", str(directory), "spring", "--out", str(target))):
        res = run_cli(*args)
        assert res.exit_code == 1, (args, res.exit_code, res.output)
        assert f"cannot write {target}" in res.output and "internal error" not in res.output, res.output
    assert not list(tmp_path.glob(".x.html.*")) and not list(tmp_path.glob(f".{tmp_path.name}.*"))


def test_status_html_is_written_whole(directory: Path, tmp_path: Path) -> None:
    target = tmp_path / "status.html"
    assert run_cli("status", str(directory), "--html", str(target)).exit_code == 0
    assert "spring" in target.read_text(encoding="utf-8")


def test_demo_of_a_directory_that_is_no_config_directory(tmp_path: Path) -> None:
    for where in (tmp_path / "missing", tmp_path):
        res = run_cli("demo", "--dir", str(where))
        assert res.exit_code == 1, res.output
        assert "not a config directory" in res.output and "internal error" not in res.output
