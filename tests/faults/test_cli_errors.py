"""Exit 3 (internal error) only for bugs, and the debug log never lands in the user's working directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_task


def _boom(*args: object, **kwargs: object) -> int:
    raise RuntimeError("a planted bug")


def test_internal_error_log_goes_to_the_cache_dir_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMPAIGNCTL_DEBUG_LOG")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    where = tmp_path / "somewhere"
    where.mkdir()
    monkeypatch.chdir(where)
    import reconciler.commands.validate as validate

    monkeypatch.setattr(validate, "run", _boom)
    res = run_cli("validate", str(tmp_path / "nothing-here"))
    assert res.exit_code == 3, res.output
    log = tmp_path / "cache" / "campaignctl" / "debug.log"
    assert f"details in {log}" in res.stderr and "Traceback" not in res.output
    assert "a planted bug" in log.read_text(encoding="utf-8")
    assert list(where.iterdir()) == []  # nothing written where the user stands
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_internal_error_log_without_xdg_uses_home_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMPAIGNCTL_DEBUG_LOG")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    import reconciler.commands.validate as validate

    monkeypatch.setattr(validate, "run", _boom)
    res = run_cli("validate", ".")
    assert res.exit_code == 3
    assert (tmp_path / "home" / ".cache" / "campaignctl" / "debug.log").is_file()
    assert not (tmp_path / ".campaignctl").exists()


def test_internal_error_log_goes_to_the_projects_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = project(tmp_path)  # state at tmp_path/state.db: its directory is tmp_path
    write_csv(d / "contacts/a.csv", phones(3))
    campaigns(d, xf_task("a", "../contacts/a.csv"))
    monkeypatch.delenv("CAMPAIGNCTL_DEBUG_LOG")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    import reconciler.commands.plan as plan

    monkeypatch.setattr(plan, "run", _boom)
    res = run_cli("plan", str(d))
    assert res.exit_code == 3
    assert (tmp_path / "debug.log").is_file(), res.output
    assert not (tmp_path / "cache").exists() and list(elsewhere.iterdir()) == []


def test_default_state_dir_of_a_project_holds_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "cfg"
    (d / ".campaignctl").mkdir(parents=True)
    (d / "campaignctl.yaml").write_text("version: 1\nproviders: {}\n", encoding="utf-8")
    monkeypatch.delenv("CAMPAIGNCTL_DEBUG_LOG")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(d)
    import reconciler.commands.validate as validate

    monkeypatch.setattr(validate, "run", _boom)
    assert run_cli("validate").exit_code == 3
    assert (d / ".campaignctl" / "debug.log").is_file()


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_emulator_port_out_of_range_is_a_clear_error(port: str) -> None:
    res = run_cli("emulator", "serve", "--provider", "xfyeta", "--port", port)
    assert res.exit_code in (1, 2), res.output
    assert "--port" in res.output and "0<=x<=65535" in res.output, res.output
    assert "internal error" not in res.output and "Traceback" not in res.output


def test_state_path_with_a_nul_byte_is_a_clear_error(tmp_path: Path) -> None:
    d = project(tmp_path, init=False)
    f = d / "campaignctl.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace(f"path: {tmp_path / 'state.db'}", 'path: "a\\0b.db"'),
                 encoding="utf-8")
    write_csv(d / "contacts/a.csv", phones(3))
    campaigns(d, xf_task("a", "../contacts/a.csv"))
    assert run_cli("validate", str(d)).exit_code in (0, 1)
    for args in (("plan", str(d)), ("apply", str(d), "--auto-approve"), ("state", "init", str(d))):
        res = run_cli(*args)
        assert res.exit_code == 1, (args, res.output)
        assert "NUL" in res.stderr and "internal error" not in res.output, res.output
    assert not (tmp_path / "state.db").exists() and not list(d.glob("a*b.db"))


@pytest.mark.parametrize("path", ["x" * 5000, "a/" * 3000 + "s.db", "campaignctl.yaml/s.db"])
def test_a_state_path_the_file_system_refuses_is_a_clear_error(tmp_path: Path, path: str) -> None:
    """Found by the fuzz suite: a state path past NAME_MAX crashed plan (exit 3)."""
    d = project(tmp_path, init=False)
    f = d / "campaignctl.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace(f"path: {tmp_path / 'state.db'}", f'path: "{path}"'),
                 encoding="utf-8")
    write_csv(d / "contacts/a.csv", phones(3))
    campaigns(d, xf_task("a", "../contacts/a.csv"))
    for args in (("plan", str(d)), ("apply", str(d), "--auto-approve"), ("state", "init", str(d))):
        res = run_cli(*args)
        assert res.exit_code == 1, (args, res.output)
        assert "internal error" not in res.output and "Traceback" not in res.output, res.output
        assert max(len(line) for line in res.stderr.splitlines()) < 1000, "the whole path quoted"
