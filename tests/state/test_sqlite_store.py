"""What only the SQLite store promises: file layout, WAL, migrations, lock files."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state.base import CampaignRecord
from reconciler.state.sqlite import MIGRATIONS, SqliteStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_wal_mode_and_schema_version(path: Path) -> None:
    with SqliteStore(path) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [v for v, _ in MIGRATIONS]
    finally:
        conn.close()


def test_reopen_does_not_migrate_again(path: Path) -> None:
    with SqliteStore(path) as store:
        store.put_campaign(CampaignRecord("c", "xf", "task"))
    with SqliteStore(path) as store:
        assert store.campaigns() == [CampaignRecord("c", "xf", "task")]
        assert store.schema_version() == MIGRATIONS[-1][0]


def test_a_newer_schema_is_refused(path: Path) -> None:
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version 999, newer"):
        SqliteStore(path)


def test_first_open_from_many_threads_at_once_creates_one_lineage(path: Path) -> None:
    lineages: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait(10)
            with SqliteStore(path) as store:
                lineages.append(store.lineage())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(lineages) == 6 and len(set(lineages)) == 1


def test_closed_store_raises_state_error(path: Path) -> None:
    store = SqliteStore(path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StateError, match="closed"):
        store.serial()


def test_lock_keeps_a_liveness_file_only_while_held(path: Path) -> None:
    with SqliteStore(path) as store:
        with store.lock("apply", 0) as info:
            live = path.with_name(f"state.db.lock-{info.id}")
            assert live.is_file()
            assert info.holder in live.read_text()
        assert not live.exists()
        assert sorted(p.name for p in path.parent.iterdir() if ".lock" in p.name) == []


def test_a_stale_lock_row_is_taken_over_and_its_file_removed(path: Path) -> None:
    SqliteStore(path).close()
    stale_file = path.with_name("state.db.lock-dead-run")
    stale_file.write_text("bob@ci pid 1 apply")  # the process that flock-ed it is gone
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO lock (one, lock_id, holder, operation, created_at)"
        " VALUES (1, 'dead-run', 'bob@ci pid 1', 'apply', '2026-01-01T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.current_lock() is None
        assert not stale_file.exists()
        with store.lock("apply", 0) as info:
            assert store.current_lock() == info


def test_a_row_whose_file_is_flocked_elsewhere_is_live(path: Path) -> None:
    SqliteStore(path).close()
    live_file = path.with_name("state.db.lock-other-run")
    fd = os.open(live_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        conn = sqlite3.connect(path)
        conn.execute(
            "INSERT INTO lock (one, lock_id, holder, operation, created_at)"
            " VALUES (1, 'other-run', 'ann@box pid 7', 'import', '2026-01-01T00:00:00Z')"
        )
        conn.commit()
        conn.close()
        with SqliteStore(path) as store:
            assert store.current_lock() is not None
            with pytest.raises(StateError, match="ann@box pid 7 for 'import'"), store.lock("apply", 0):
                pytest.fail("granted a lock held by a live process")
            assert live_file.exists()
    finally:
        os.close(fd)
