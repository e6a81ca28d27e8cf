"""What only the SQLite store promises: file layout, WAL, migrations, lock files."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateMissing
from reconciler.state.base import CallOutcome, CampaignRecord, ContactStatus, Records, SentContacts
from reconciler.state.sqlite import MIGRATIONS, SqliteStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_wal_mode_and_schema_version(path: Path) -> None:
    with SqliteStore(path, create=True) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [v for v, _ in MIGRATIONS]
    finally:
        conn.close()


def test_reopen_does_not_migrate_again(path: Path) -> None:
    with SqliteStore(path, create=True) as store:
        store.put_campaign(CampaignRecord("c", "xf", "task"))
    with SqliteStore(path, create=True) as store:
        assert store.campaigns() == [CampaignRecord("c", "xf", "task")]
        assert store.schema_version() == MIGRATIONS[-1][0]


def test_a_newer_schema_is_refused(path: Path) -> None:
    SqliteStore(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version 999, newer"):
        SqliteStore(path)


@pytest.mark.parametrize("round_", range(25))  # a lost race showed up in about one round in twenty
def test_first_open_from_many_threads_at_once_creates_one_lineage(tmp_path: Path, round_: int) -> None:
    path = tmp_path / f"state{round_}.db"
    lineages: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait(10)
            with SqliteStore(path, create=True) as store:
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
    store = SqliteStore(path, create=True)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StateError, match="closed"):
        store.serial()


def test_lock_keeps_a_liveness_file_only_while_held(path: Path) -> None:
    with SqliteStore(path, create=True) as store:
        with store.lock("apply", 0) as info:
            live = path.with_name(f"state.db.lock-{info.id}")
            assert live.is_file()
            assert info.holder in live.read_text()
        assert not live.exists()
        assert sorted(p.name for p in path.parent.iterdir() if ".lock" in p.name) == []


def test_a_stale_lock_row_is_taken_over_and_its_file_removed(path: Path) -> None:
    SqliteStore(path, create=True).close()
    stale_file = path.with_name("state.db.lock-dead-run")
    stale_file.write_text("bob@ci pid 1 apply")  # the process that flock-ed it is gone
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO lock (one, lock_id, holder, operation, created_at)"
        " VALUES (1, 'dead-run', 'bob@ci pid 1', 'apply', '2026-01-01T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    with SqliteStore(path, create=True) as store:
        assert store.current_lock() is None
        assert not stale_file.exists()
        with store.lock("apply", 0) as info:
            assert store.current_lock() == info


def test_a_row_whose_file_is_flocked_elsewhere_is_live(path: Path) -> None:
    SqliteStore(path, create=True).close()
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
        with SqliteStore(path, create=True) as store:
            assert store.current_lock() is not None
            with pytest.raises(StateError, match="ann@box pid 7 for 'import'"), store.lock("apply", 0):
                pytest.fail("granted a lock held by a live process")
            assert live_file.exists()
    finally:
        os.close(fd)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0, so any mode a test sees was chosen by the store, not by the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_created_file_is_0600_and_created_directories_0700(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "a" / "b" / "state.db"
    with SqliteStore(path, create=True) as store:
        store.put_campaign(CampaignRecord("c", "xf", "task"))
        with store.lock("apply", 0) as info:
            assert mode(path.with_name(f"state.db.lock-{info.id}")) == 0o600
        sidecars = sorted(p.name for p in path.parent.iterdir() if p.name != "state.db")
        assert sidecars == ["state.db-shm", "state.db-wal"]
        assert {mode(path.with_name(name)) for name in sidecars} == {0o600}
    assert mode(path) == 0o600
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o700, 0o700)
    assert mode(tmp_path) == 0o755  # a directory that was there already is left alone


@pytest.mark.usefixtures("open_umask")
def test_an_existing_file_keeps_its_mode(path: Path) -> None:
    SqliteStore(path, create=True).close()
    os.chmod(path, 0o640)
    SqliteStore(path).close()
    SqliteStore(path, create=True).close()
    assert mode(path) == 0o640


@pytest.mark.parametrize("create", [False, True])
def test_a_path_with_a_nul_byte_is_a_state_error(tmp_path: Path, create: bool) -> None:
    with pytest.raises(StateError, match="NUL") as caught:
        SqliteStore(tmp_path / "sta\x00te.db", create=create)
    assert not isinstance(caught.value, StateMissing)
    assert list(tmp_path.iterdir()) == []


def test_without_create_a_missing_directory_is_not_made(tmp_path: Path) -> None:
    with pytest.raises(StateMissing, match="does not exist") as caught:
        SqliteStore(tmp_path / "no" / "such" / "state.db")
    assert caught.value.location == str(tmp_path / "no" / "such" / "state.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("setup", "missing"),
    [
        ("touch", "is empty"),
        ("no tables", "is empty"),
        ("foreign tables", "has no campaignctl tables"),
        ("no version rows", "is empty"),
    ],
)
def test_uninitialised_files_are_missing_and_untouched(path: Path, setup: str, missing: str) -> None:
    if setup == "touch":
        path.write_bytes(b"")
    else:
        with closing(sqlite3.connect(path)) as conn, conn:
            if setup == "no tables":
                conn.execute("PRAGMA user_version = 7")  # writes the header, creates no table
            elif setup == "foreign tables":
                conn.execute("CREATE TABLE notes (text TEXT)")
            else:
                conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    before = path.read_bytes()
    with pytest.raises(StateMissing) as caught:
        SqliteStore(path)
    assert caught.value.missing == missing
    assert str(caught.value).startswith(f"state database {path} {missing}")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.db"]


def test_a_file_cut_short_is_damaged_not_missing(path: Path) -> None:
    with SqliteStore(path, create=True) as store:
        store.put_contacts([])
        store.put_campaign(CampaignRecord("c" * 5000, "xf", "task"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for create in (False, True):
        with pytest.raises(StateError, match=r"state\.db.*damaged") as caught:
            SqliteStore(path, create=create)
        assert not isinstance(caught.value, StateMissing)


def test_create_does_not_overwrite_a_file_that_is_not_a_database(path: Path) -> None:
    path.write_bytes(b"precious notes" * 100)
    with pytest.raises(StateError, match="not a SQLite database"):
        SqliteStore(path, create=True)
    assert path.read_bytes() == b"precious notes" * 100


def test_an_insert_call_of_a_lane_costs_nine_statements(path: Path) -> None:
    """The journal's statements per vendor call, counted exactly: each one run while the store's mutex is
    held gives up the interpreter lock the parallel lanes share (apply's calls phase is bound by them).
    A lane's insert: its intent, committed with the previous call's outcome and that call's 50 rows (the
    settled call's phones are dropped by ``flush``, for every call at once)."""
    store = SqliteStore(path, create=True)
    statements: list[str] = []
    conn = store._conn
    assert conn is not None

    def call(batch: int) -> None:
        phones = tuple(f"138{batch:03d}{i:05d}" for i in range(50))
        entry = store.begin_call("c", "xf", "insert", "t1", {"wave": 1}, phones=phones, unless_listed=True)
        sent = SentContacts("c", "t1", 1, phones, phones, (None,) * 50, ContactStatus.SENT, "")
        store.end_call(entry, CallOutcome.OK, records=Records(contacts=sent), wait=False)

    call(0)
    conn.set_trace_callback(statements.append)
    call(1)
    conn.set_trace_callback(None)
    rows = [s for s in statements if s.startswith("INSERT OR REPLACE INTO contacts")]
    kinds = [" ".join(s.split()[:3]) for s in statements if s not in rows]
    assert len(rows) == 50  # the previous call's rows: one executemany
    assert kinds == ["BEGIN IMMEDIATE", "UPDATE journal SET", "DELETE FROM converged", "SELECT phone FROM",
                     "INSERT INTO journal", "INSERT INTO journal_phones", "UPDATE meta SET", "COMMIT"]
    store.flush()
    store.close()



def test_the_data_id_index_holds_only_the_contacts_that_have_one(path: Path) -> None:
    """A task insert's rows have no data id (only direct callouts get one): an index entry for each would
    be a third B-tree written per row of every insert call, under the store's mutex. The results join asks
    by id (``data_id = ?``), which the partial index still answers."""
    with SqliteStore(path, create=True) as store:
        conn = store._conn
        assert conn is not None
        partial = {row[1]: row[4] for row in conn.execute("PRAGMA index_list(contacts)")}
        assert partial["contacts_data_id"] == 1
        plan = " ".join(str(row[-1]) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT c.campaign, c.phone, c.task_id FROM contacts c JOIN campaigns k"
            " ON k.name = c.campaign WHERE c.data_id = ? AND k.profile = ?", ("d1", "xf")))
        assert "INDEX contacts_data_id" in plan
