"""Hostile state and environment: damaged, truncated, deleted-mid-apply, read-only and full state.

Each gives a clear one-line message (exit 1, never 3, no traceback), never
quotes the database's raw bytes, loses nothing, and converges once the fault
is gone.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StateError
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import XF_ENV, campaigns, phones, run_cli, write_csv, xf_direct, xf_task
from tests.faults.support import clean_output, duplicates, emulators, fast_project, xf_live

RAW = b"\xff\xfeRAWBYTES"


@pytest.fixture
def emus() -> Iterator[tuple[Any, Any]]:
    with emulators() as pair:
        yield pair


def _dir(tmp_path: Path, xf: Any, n: int = 60, direct: int = 5) -> Path:
    d = fast_project(tmp_path, xf_url=xf.base_url)
    write_csv(d / "contacts/a.csv", phones(n))
    write_csv(d / "contacts/d.csv", phones(direct, 8000))
    campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_direct("survey", "../contacts/d.csv"))
    return d


def _converged(xf: Any, d: Path, n: int = 60, direct: int = 5) -> None:
    """No duplicate, nothing lost: every contact is in the task, every direct one dialed once or
    reported for `state resolve` (a callout whose record could not be written stays unknown)."""
    assert duplicates(xf, None) == {"duplicate_tasks": 0, "duplicate_rows": 0, "second_dials": 0}
    (task,) = xf_live(xf)
    assert len(task["numbers"]) == n
    res = run_cli("plan", str(d), "--detailed-exitcode")
    assert res.exit_code == 0, res.output
    dialed = len(xf.state()["dials"])
    assert dialed == direct or "state resolve survey" in res.output, res.output


def _no_raw_bytes(text: str) -> None:
    assert "RAWBYTES" not in text and "\ufffd" not in text and "\\xff" not in text, text


# --- damaged SQLite files ---------------------------------------------------------------------------


LAST_JOURNAL = "WHERE id = (SELECT MAX(id) FROM journal)"
ALL = ("plan", "apply", "list", "show")
# how the file is damaged -> the commands that read what is damaged (they must refuse it)
DAMAGE: dict[str, tuple[str, tuple[str, ...]]] = {
    "lineage-bytes": ("UPDATE meta SET value = CAST(X'FFFE52415742595445530A' AS TEXT) WHERE key = 'lineage'", ALL),
    "task-bytes": ("UPDATE tasks SET remote_name = CAST(X'FFFE52415742595445530A' AS TEXT)", ALL),
    "task-settings-json": ("UPDATE tasks SET settings = '{\"RAWBYTES'", ALL),
    # (plan and apply of converged campaigns read no contact record: they refuse once a file changes, below)
    "contact-status": ("UPDATE contacts SET status = 'RAWBYTES'", ("list", "show")),
    "journal-bytes": ("UPDATE journal SET request = CAST(X'7B22FFFE52415742595445537D' AS TEXT)", ("show",)),
    "pending-bytes": ("UPDATE journal SET outcome = 'pending', request = CAST(X'7B22FFFE52415742595445537D' AS TEXT) "
                      + LAST_JOURNAL, ("plan", "apply", "show")),
    "pending-json": ("UPDATE journal SET outcome = 'pending', request = '{\"RAWBYTES' " + LAST_JOURNAL,
                     ("plan", "apply", "show")),
    "journal-outcome": ("UPDATE journal SET outcome = 'RAWBYTES' " + LAST_JOURNAL, ("plan", "apply", "show")),
    "serial-text": ("UPDATE meta SET value = 'RAWBYTES' WHERE key = 'serial'", ()),
}


def _command(name: str, d: Path) -> tuple[str, ...]:
    return {"plan": ("plan", str(d)), "apply": ("apply", str(d), "--auto-approve"),
            "list": ("state", "list", str(d)), "show": ("state", "show", "spring", str(d))}[name]


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_rows_give_a_clear_message_without_raw_bytes(tmp_path: Path, emus: tuple[Any, Any],
                                                             how: str) -> None:
    xf, _ = emus
    d = _dir(tmp_path, xf)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    sent = len(xf.calls)
    statement, refused = DAMAGE[how]
    with contextlib.closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        conn.execute(statement)
        conn.commit()
    for name in ALL:
        res = run_cli(*_command(name, d))
        assert clean_output(res) == "", res.output
        _no_raw_bytes(res.output)
        if name in refused:
            assert res.exit_code == 1, (name, res.output)
            assert "damaged" in res.stderr and "backup" in res.stderr, res.output
            assert len([ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]) == 1
        else:
            assert res.exit_code == 0, (name, res.output)
    if how == "contact-status":  # a changed file: its campaign's records are read, and refused
        write_csv(d / "contacts/d.csv", phones(6, 8000))
        for name in ("plan", "apply"):
            res = run_cli(*_command(name, d))
            assert res.exit_code == 1 and "damaged" in res.stderr and "backup" in res.stderr, (name, res.output)
            _no_raw_bytes(res.output)
    assert not [c for c in xf.calls[sent:] if "/task/" in c["path"] and not c["path"].endswith("query")]


@pytest.mark.parametrize("cut", [0.5, 0.9, 100])
def test_truncated_state_file_is_refused_and_nothing_is_sent(tmp_path: Path, emus: tuple[Any, Any],
                                                              cut: float) -> None:
    xf, _ = emus
    d = _dir(tmp_path, xf)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    db = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:  # fold the WAL in, so the file holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in tmp_path.glob("state.db-*"):
        extra.unlink()
    data = db.read_bytes()
    db.write_bytes(data[: int(len(data) * cut) if cut < 1 else int(cut)])
    calls = len(xf.calls)
    for args in (("plan", str(d)), ("apply", str(d), "--auto-approve")):
        res = run_cli(*args)
        assert res.exit_code == 1 and clean_output(res) == "", res.output
        assert "state" in res.stderr and ("damaged" in res.stderr or "not a SQLite" in res.stderr), res.output
    assert len(xf.state()["dials"]) == 5 and len(xf.calls) - calls <= 4  # listings only: nothing sent


@pytest.mark.parametrize("seed", range(12))
def test_random_page_damage_never_crashes_or_leaks_bytes(tmp_path: Path, emus: tuple[Any, Any], seed: int) -> None:
    xf, _ = emus
    d = _dir(tmp_path, xf)
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    db = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rng = random.Random(seed)
    data = bytearray(db.read_bytes())
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(0, len(data) - len(RAW))
        data[at : at + len(RAW)] = RAW
    db.write_bytes(bytes(data))
    dials = len(xf.state()["dials"])
    for args in (("plan", str(d)), ("apply", str(d), "--auto-approve"), ("state", "list", str(d))):
        res = run_cli(*args)
        assert res.exit_code in (0, 1, 2) and clean_output(res) == "", res.output
        _no_raw_bytes(res.output)
    assert duplicates(xf, None)["second_dials"] == 0 and len(xf.state()["dials"]) == dials


def test_damaged_store_opened_directly_raises_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path, create=True).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(DAMAGE["lineage-bytes"][0])
        conn.commit()
    with pytest.raises(StateError) as info:
        SqliteStore(path).lineage()
    assert "damaged" in str(info.value)
    _no_raw_bytes(str(info.value))


# --- state deleted while apply runs --------------------------------------------------------------------


def test_state_deleted_mid_apply_sends_nothing_more_until_rebuilt(tmp_path: Path) -> None:
    with emulators(faults="*:latency:0.03*inf") as (xf, _):
        d = _dir(tmp_path, xf, n=300, direct=120)
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(d), "--auto-approve",
                                 "--parallelism", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **XF_ENV})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(xf.calls_to("task/insert")) < 2:
            time.sleep(0.01)
        for f in tmp_path.glob("state.db*"):
            f.unlink()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, 1), err.decode()
        assert b"Traceback" not in out + err
        xf.faults.clear()
        before = len(xf.state()["dials"]), sum(len(t["numbers"]) for t in xf_live(xf))
        for args in (("plan", str(d)), ("apply", str(d), "--auto-approve")):
            res = run_cli(*args)
            assert res.exit_code == 1 and "state is missing" in res.output and clean_output(res) == "", res.output
        assert (len(xf.state()["dials"]), sum(len(t["numbers"]) for t in xf_live(xf))) == before
        rebuilt = run_cli("state", "rebuild", str(d))
        assert rebuilt.exit_code == 0, rebuilt.output
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code in (0, 1) and clean_output(res) == "", res.output
        assert duplicates(xf, None) == {"duplicate_tasks": 0, "duplicate_rows": 0, "second_dials": 0}
        (task,) = xf_live(xf)
        assert len(task["numbers"]) == 300  # nothing lost, nothing twice
        dialed = {x["phone"] for x in xf.state()["dials"]}
        plan = run_cli("plan", str(d), "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        # every direct contact is dialed once or reported for `state resolve`
        assert len(dialed) == 120 or "state resolve survey" in plan.output


# --- read-only and full disks (real mounts when root, else a failing store) ------------------------------


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _state_block(path: Path) -> str:
    return f"state:\n  backend: sqlite\n  path: {path}\n"


def test_read_only_state_is_a_clear_error_and_converges_when_writable(tmp_path: Path,
                                                                       emus: tuple[Any, Any]) -> None:
    xf, _ = emus
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    if not _mount("--bind", str(real), str(view)):
        pytest.skip("cannot bind-mount (needs root); the failing-store tests cover this path")
    try:
        d = fast_project(tmp_path, xf_url=xf.base_url, state=_state_block(view / "state.db"))
        write_csv(d / "contacts/a.csv", phones(60))
        write_csv(d / "contacts/d.csv", phones(5, 8000))
        campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_direct("survey", "../contacts/d.csv"))
        assert subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True).returncode == 0
        for args in (("plan", str(d)), ("apply", str(d), "--auto-approve")):
            res = run_cli(*args)
            assert res.exit_code == 1 and clean_output(res) == "", res.output
            assert "read-only" in res.stderr.lower() or "readonly" in res.stderr.lower(), res.output
        assert xf_live(xf) == [] and xf.state()["dials"] == []
        assert subprocess.run(["mount", "-o", "remount,rw,bind", str(view)], capture_output=True).returncode == 0
        assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
        _converged(xf, d)
    finally:
        _umount(view)


def test_disk_full_mid_apply_fails_clearly_and_converges_after(tmp_path: Path, emus: tuple[Any, Any]) -> None:
    xf, _ = emus
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)):
        pytest.skip("cannot mount a tmpfs (needs root); test_state_write_failures_* cover this path")
    try:
        d = fast_project(tmp_path, xf_url=xf.base_url, state=_state_block(disk / "state.db"))
        write_csv(d / "contacts/a.csv", phones(1500))
        write_csv(d / "contacts/d.csv", phones(5, 8000))
        campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_direct("survey", "../contacts/d.csv"))
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 120 * 1024))
        res = run_cli("apply", str(d), "--auto-approve")
        assert res.exit_code == 1 and clean_output(res) == "", res.output
        assert "full" in res.output, res.output
        assert duplicates(xf, None) == {"duplicate_tasks": 0, "duplicate_rows": 0, "second_dials": 0}
        (disk / "filler").unlink()
        for _ in range(2):  # the first may only settle what the full disk interrupted
            res = run_cli("apply", str(d), "--auto-approve")
            if res.exit_code == 0:
                break
        assert res.exit_code == 0, res.output
        _converged(xf, d, n=1500)
    finally:
        _umount(disk)


def test_state_files_are_private_whatever_the_umask(tmp_path: Path, emus: tuple[Any, Any]) -> None:
    """The issue saw a state file created 0644: the database, its WAL and SHM files, and the lock's
    liveness file are 0600, in directories made 0700."""
    import stat

    xf, _ = emus
    old = os.umask(0o022)
    try:
        d = fast_project(tmp_path, xf_url=xf.base_url, state=_state_block(tmp_path / "deep" / "er" / "state.db"))
        write_csv(d / "contacts/a.csv", phones(3))
        campaigns(d, xf_task("spring", "../contacts/a.csv"))
        from reconciler.state.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "deep" / "er" / "state.db")
        with store.lock("test", 1):
            files = sorted((tmp_path / "deep" / "er").iterdir())
            modes = {f.name.split("-")[0] if "lock" in f.name else f.name: stat.S_IMODE(f.stat().st_mode)
                     for f in files}
        store.close()
        assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
    finally:
        os.umask(old)
    assert all(mode == 0o600 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}
    assert any(name.startswith("state.db.lock") for name in modes), modes
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        path = tmp_path / "deep" / "er" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (name, oct(path.stat().st_mode))
    for folder in (tmp_path / "deep", tmp_path / "deep" / "er"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
