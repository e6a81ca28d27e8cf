"""The embedded default state store: one SQLite file.

One connection per store, in autocommit mode, guarded by a re-entrant lock so
apply's worker threads can share it; every write is one ``BEGIN IMMEDIATE``
transaction that also bumps the serial. WAL mode lets another process (a
``plan`` next to an ``apply``) read while this one writes; ``synchronous=FULL``
because a journal intent must survive a crash of the machine, not only of the
process.

The file is created only with ``create=True`` (``campaignctl state init``):
mode 0600, in directories made 0700 (SQLite gives its -wal and -shm files the
database's mode). Without it, a missing, empty or lineage-less file raises
StateMissing and is left exactly as it was.

The apply lock is a row in ``lock`` naming the holder, plus a liveness file
``<db>.lock-<id>`` (0600) that the holder keeps ``flock``-ed: when the holder
process dies the kernel drops the flock, and the next run sees the row is
stale and takes over. A row whose file is still locked belongs to a live
process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from reconciler.errors import StateError
from reconciler.state._common import (
    DOES_NOT_EXIST,
    IS_EMPTY,
    NO_LINEAGE,
    NO_TABLES,
    check_rename,
    check_task,
    clean_text,
    contact_from_row,
    dump_json,
    load_json,
    lock_held_error,
    new_lock_info,
    outcome_filter,
    state_missing,
    utc_now,
    wait_for_lock,
)
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    JournalEntry,
    LockInfo,
    TaskRecord,
)

__all__ = ["MIGRATIONS", "SqliteStore"]

T = TypeVar("T")

# Each migration is applied once, in order, inside one transaction; never edit
# a released one, append a new one.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE campaigns (
            name TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            mode TEXT NOT NULL,
            provider_type TEXT NOT NULL DEFAULT ''
        ) WITHOUT ROWID;
        CREATE TABLE tasks (
            campaign TEXT NOT NULL,
            task_id TEXT NOT NULL,
            wave INTEGER NOT NULL,
            profile TEXT NOT NULL,
            remote_name TEXT NOT NULL,
            settings_fingerprint TEXT NOT NULL,
            started INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (campaign, task_id)
        ) WITHOUT ROWID;
        CREATE TABLE contacts (
            campaign TEXT NOT NULL,
            task_id TEXT NOT NULL,
            phone TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            wave INTEGER NOT NULL DEFAULT 0,
            data_id TEXT,
            status TEXT NOT NULL,
            PRIMARY KEY (campaign, task_id, phone)
        ) WITHOUT ROWID;
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            campaign TEXT NOT NULL,
            profile TEXT NOT NULL,
            call TEXT NOT NULL,
            task_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            request TEXT NOT NULL DEFAULT '{}',
            result TEXT NOT NULL DEFAULT '{}',
            detail TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL DEFAULT '',
            finished_at TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX journal_campaign ON journal (campaign, id);
        CREATE INDEX journal_outcome ON journal (outcome, id);
        CREATE TABLE lock (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            lock_id TEXT NOT NULL,
            holder TEXT NOT NULL,
            operation TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        ALTER TABLE tasks ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE tasks ADD COLUMN run_state TEXT NOT NULL DEFAULT ''
        """,
    ),
)
FILE_MODE = 0o600
DIR_MODE = 0o700

_CONTACT_COLUMNS = "campaign, task_id, phone, fingerprint, wave, data_id, status"
_JOURNAL_COLUMNS = "id, campaign, profile, call, task_id, outcome, request, result, detail, started_at, finished_at"


class SqliteStore:
    """StateStore in one SQLite file; ``create`` makes it (and its directories)
    when it is not there, otherwise a missing one raises StateMissing."""

    def __init__(self, path: Path, busy_timeout: float = 30.0, *, create: bool = False) -> None:
        if "\x00" in os.fspath(path):
            raise StateError(f"state database path {os.fspath(path)!r} contains a NUL byte")
        self.path = Path(path)
        self._mutex = threading.RLock()
        self._held: tuple[LockInfo, int, Path] | None = None  # lock, liveness fd, its file
        self._conn: sqlite3.Connection | None = None
        if create:
            self._make_file()
        elif not self.path.exists():
            raise state_missing(f"state database {self.path}", str(self.path), DOES_NOT_EXIST)
        try:
            # mode=rw never creates the file (it was made above when asked to)
            uri = f"file:{quote(os.fspath(self.path))}?mode=rw"
            self._conn = sqlite3.connect(
                uri, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=True
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not create:
                self._check_initialised()  # reads only: a refused file is left as it was
            self._use_wal(busy_timeout)
            self._conn.execute("PRAGMA synchronous = FULL")
            self._migrate(create)
        except sqlite3.Error as exc:
            self._close_quietly()
            raise self._error("cannot open", exc) from exc
        except StateError:
            self._close_quietly()
            raise

    def _use_wal(self, busy_timeout: float) -> None:
        """Switch to WAL. SQLite answers "database is locked" at once, without
        its busy handler, while another connection switches the same new file,
        so retry that until ``busy_timeout``."""
        conn = self._connection()
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _make_file(self) -> None:
        """The file (0600) and any missing directories above it (0700); an
        existing file or directory keeps its mode."""
        missing: list[Path] = []
        parent = self.path.parent
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=DIR_MODE)
                os.chmod(directory, DIR_MODE)  # exactly, whatever the umask
            except FileExistsError:
                pass  # another opener made it first
            except OSError as exc:
                raise StateError(f"cannot create the state directory {directory}: {exc.strerror}") from exc
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            return
        except OSError as exc:
            raise StateError(f"cannot create the state database {self.path}: {exc.strerror}") from exc
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------
    def _error(self, doing: str, exc: sqlite3.Error) -> StateError:
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
            text = "the file is not a SQLite database"
        elif isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
            text = f"the file is damaged (cut short or overwritten: {text}); restore it from a backup"
        return StateError(f"state database {self.path}: {doing}: {text}")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError(f"state database {self.path} is closed")
        return self._conn

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._mutex:
            try:
                return fn(self._connection())
            except sqlite3.Error as exc:
                raise self._error("read failed", exc) from exc

    def _write(self, fn: Callable[[sqlite3.Connection], T], bump: bool = True) -> T:
        """Run ``fn`` in one immediate transaction; bump the serial in it."""
        with self._mutex:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    value = fn(conn)
                    if bump:
                        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return value
            except sqlite3.Error as exc:
                raise self._error("write failed", exc) from exc

    def _missing(self, conn: sqlite3.Connection) -> str:
        """What an initialised state has and this file lacks ("" when nothing)."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            return NO_TABLES if tables else IS_EMPTY
        if not conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]:
            return IS_EMPTY
        if "meta" not in tables:
            return NO_TABLES
        row = conn.execute("SELECT value FROM meta WHERE key = 'lineage'").fetchone()
        return "" if row and row[0] else NO_LINEAGE

    def _check_initialised(self) -> None:
        missing = self._missing(self._connection())
        if missing:
            raise state_missing(f"state database {self.path}", str(self.path), missing)

    def _migrate(self, create: bool) -> None:
        """Apply pending migrations; with ``create`` also make the tables and
        a lineage where there are none. One immediate transaction, so openers
        racing on a new file agree on one lineage."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not create:  # checked again under the write lock
                self._check_initialised()
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            latest = MIGRATIONS[-1][0]
            if current > latest:
                raise StateError(
                    f"state database {self.path} has schema version {current}, newer than this campaignctl "
                    f"knows ({latest}); upgrade campaignctl"
                )
            for version, script in MIGRATIONS:
                if version <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, utc_now()))
            if create:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('lineage', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value = ''",
                    (str(uuid.uuid4()),),
                )
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('serial', '0')")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _close_quietly(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def schema_version(self) -> int:
        return self._read(lambda c: int(c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]))

    # --- reads -------------------------------------------------------------
    def lineage(self) -> str:
        return self._read(lambda c: str(c.execute("SELECT value FROM meta WHERE key = 'lineage'").fetchone()[0]))

    def serial(self) -> int:
        return self._read(lambda c: int(c.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()[0]))

    def campaigns(self) -> list[CampaignRecord]:
        rows = self._read(
            lambda c: c.execute("SELECT name, profile, mode, provider_type FROM campaigns ORDER BY name").fetchall()
        )
        return [CampaignRecord(name=r[0], profile=r[1], mode=r[2], provider_type=r[3]) for r in rows]

    def tasks(self, campaign: str | None = None) -> list[TaskRecord]:
        sql = (
            "SELECT campaign, wave, profile, task_id, remote_name, settings_fingerprint, started, deleted, created_at,"
            " settings, run_state FROM tasks WHERE (? IS NULL OR campaign = ?) ORDER BY campaign, wave, task_id"
        )
        rows = self._read(lambda c: c.execute(sql, (campaign, campaign)).fetchall())
        return [
            TaskRecord(
                campaign=r[0],
                wave=r[1],
                profile=r[2],
                task_id=r[3],
                remote_name=r[4],
                settings_fingerprint=r[5],
                started=bool(r[6]),
                deleted=bool(r[7]),
                created_at=r[8],
                settings=load_json(r[9]),
                run_state=r[10],
            )
            for r in rows
        ]

    def contacts(self, campaign: str, task_id: str | None = None) -> list[ContactRecord]:
        sql = (
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE campaign = ? AND (? IS NULL OR task_id = ?)"
            " ORDER BY wave, task_id, phone"
        )
        rows = self._read(lambda c: c.execute(sql, (campaign, task_id, task_id)).fetchall())
        return [contact_from_row(r) for r in rows]

    def journal(
        self, campaign: str | None = None, outcomes: Sequence[CallOutcome] | None = None
    ) -> list[JournalEntry]:
        wanted = outcome_filter(outcomes)
        sql = f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE (? IS NULL OR campaign = ?)"
        params: list[Any] = [campaign, campaign]
        if wanted is not None:
            sql += f" AND outcome IN ({', '.join('?' * len(wanted))})" if wanted else " AND 0"
            params += wanted
        rows = self._read(lambda c: c.execute(sql + " ORDER BY id", params).fetchall())
        return [
            JournalEntry(
                id=r[0],
                campaign=r[1],
                profile=r[2],
                call=r[3],
                task_id=r[4],
                outcome=CallOutcome(r[5]),
                request=load_json(r[6]),
                result=load_json(r[7]),
                detail=r[8],
                started_at=r[9],
                finished_at=r[10],
            )
            for r in rows
        ]

    # --- writes ------------------------------------------------------------
    def put_campaign(self, record: CampaignRecord) -> None:
        self._write(
            lambda c: c.execute(
                "INSERT INTO campaigns (name, profile, mode, provider_type) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET profile = excluded.profile, mode = excluded.mode,"
                " provider_type = excluded.provider_type",
                (record.name, record.profile, record.mode, record.provider_type),
            )
        )

    def put_task(self, r: TaskRecord) -> None:
        check_task(r)
        self._write(
            lambda c: c.execute(
                "INSERT INTO tasks (campaign, task_id, wave, profile, remote_name, settings_fingerprint,"
                " started, deleted, created_at, settings, run_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (campaign, task_id) DO UPDATE SET wave = excluded.wave, profile = excluded.profile,"
                " remote_name = excluded.remote_name, settings_fingerprint = excluded.settings_fingerprint,"
                " started = excluded.started, deleted = excluded.deleted, created_at = excluded.created_at,"
                " settings = excluded.settings, run_state = excluded.run_state",
                (
                    r.campaign,
                    r.task_id,
                    r.wave,
                    r.profile,
                    r.remote_name,
                    r.settings_fingerprint,
                    int(r.started),
                    int(r.deleted),
                    r.created_at,
                    dump_json(r.settings),
                    r.run_state,
                ),
            )
        )

    def put_contacts(self, records: Sequence[ContactRecord]) -> None:
        if not records:
            return
        rows = [
            (r.campaign, r.task_id, r.phone, r.fingerprint, r.wave, r.data_id, ContactStatus(r.status).value)
            for r in records  # a later duplicate replaces an earlier one, as in the other backends
        ]
        self._write(
            lambda c: c.executemany(
                f"INSERT OR REPLACE INTO contacts ({_CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
        )

    def delete_contacts(self, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        if not phones:
            return
        self._write(
            lambda c: c.executemany(
                "DELETE FROM contacts WHERE campaign = ? AND task_id = ? AND phone = ?",
                [(campaign, task_id, phone) for phone in phones],
            )
        )

    def forget_campaign(self, campaign: str) -> None:
        def forget(c: sqlite3.Connection) -> None:
            for table, column in (("contacts", "campaign"), ("tasks", "campaign"), ("campaigns", "name")):
                c.execute(f"DELETE FROM {table} WHERE {column} = ?", (campaign,))

        self._write(forget)

    def rename_campaign(self, old: str, new: str) -> None:
        def known(c: sqlite3.Connection, name: str) -> bool:
            return bool(
                c.execute(
                    "SELECT EXISTS (SELECT 1 FROM campaigns WHERE name = ?)"
                    " OR EXISTS (SELECT 1 FROM tasks WHERE campaign = ?)"
                    " OR EXISTS (SELECT 1 FROM contacts WHERE campaign = ?)",
                    (name, name, name),
                ).fetchone()[0]
            )

        def rename(c: sqlite3.Connection) -> None:
            check_rename(old, new, old_known=known(c, old), new_taken=known(c, new))
            for table, column in (("campaigns", "name"), ("tasks", "campaign"), ("contacts", "campaign"),
                                  ("journal", "campaign")):
                c.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))

        self._write(rename)

    def begin_call(
        self, campaign: str, profile: str, call: str, task_id: str, request: Mapping[str, Any]
    ) -> int:
        def insert(c: sqlite3.Connection) -> int:
            cursor = c.execute(
                "INSERT INTO journal (campaign, profile, call, task_id, outcome, request, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (campaign, profile, call, task_id, CallOutcome.PENDING.value, dump_json(request), utc_now()),
            )
            return int(cursor.lastrowid or 0)

        return self._write(insert)

    def end_call(
        self,
        entry_id: int,
        outcome: CallOutcome,
        detail: str = "",
        result: Mapping[str, Any] | None = None,
    ) -> None:
        def update(c: sqlite3.Connection) -> None:
            cursor = c.execute(
                "UPDATE journal SET outcome = ?, detail = ?, result = ?, finished_at = ? WHERE id = ?",
                (CallOutcome(outcome).value, clean_text(detail), dump_json(result), utc_now(), entry_id),
            )
            if cursor.rowcount == 0:
                raise StateError(f"journal entry {entry_id} does not exist")

        self._write(update)

    # --- lock --------------------------------------------------------------
    def _liveness_file(self, lock_id: str) -> Path:
        return self.path.with_name(f"{self.path.name}.lock-{lock_id}")

    def _holder_alive(self, lock_id: str) -> bool:
        """True when some process keeps the liveness file of ``lock_id`` flock-ed.

        A dead holder's file is removed here, under our own flock, so stale
        files do not pile up next to the database.
        """
        file = self._liveness_file(lock_id)
        try:
            fd = os.open(file, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return True
        with contextlib.suppress(OSError):
            file.unlink()
        os.close(fd)  # closing drops the flock
        return False

    def _lock_row(self, c: sqlite3.Connection) -> LockInfo | None:
        row = c.execute("SELECT lock_id, holder, operation, created_at FROM lock WHERE one = 1").fetchone()
        return LockInfo(id=row[0], holder=row[1], operation=row[2], created_at=row[3]) if row else None

    def lock(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        info = new_lock_info(operation)
        file = self._liveness_file(info.id)

        def attempt(c: sqlite3.Connection) -> bool:
            current = self._lock_row(c)
            if current is not None and self._holder_alive(current.id):
                return False
            # Free (or stale): take it. The flock is taken inside the
            # transaction, so nobody can see the row without a live file.
            fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.write(fd, f"{info.holder} {info.operation} {info.created_at}\n".encode())
                c.execute(
                    "INSERT OR REPLACE INTO lock (one, lock_id, holder, operation, created_at) VALUES (1, ?, ?, ?, ?)",
                    (info.id, info.holder, info.operation, info.created_at),
                )
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    file.unlink()
                raise
            self._held = (info, fd, file)
            return True

        try:
            wait_for_lock(lambda: self._write(attempt, bump=False), self.current_lock, timeout, str(self.path))
        except OSError as exc:
            raise StateError(f"cannot create the lock file {file}: {exc.strerror}") from exc
        try:
            yield info
        finally:
            self._release(info.id)

    def _release(self, lock_id: str) -> None:
        """Drop the row first, then the flock: a row never outlives its live file."""
        with self._mutex:
            held = self._held
            if held is None or held[0].id != lock_id:
                return
            self._held = None
            try:
                if self._conn is not None:
                    self._write(lambda c: c.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,)), bump=False)
            finally:
                with contextlib.suppress(OSError):
                    held[2].unlink()
                os.close(held[1])

    def current_lock(self) -> LockInfo | None:
        row = self._read(self._lock_row)
        if row is None:
            return None
        with self._mutex:
            if self._held is not None and self._held[0].id == row.id:
                return row
        return row if self._holder_alive(row.id) else None

    def force_unlock(self, lock_id: str, *, force: bool = False) -> bool:
        with self._mutex:
            if self._held is not None and self._held[0].id == lock_id:
                self._release(lock_id)
                return True

        def remove(c: sqlite3.Connection) -> bool:
            current = self._lock_row(c)
            if current is None or current.id != lock_id:
                return False
            if not force and self._holder_alive(lock_id):
                raise lock_held_error(current, str(self.path))
            c.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,))
            return True

        removed = self._write(remove, bump=False)
        if removed:
            with contextlib.suppress(OSError):
                self._liveness_file(lock_id).unlink()
        return removed

    def close(self) -> None:
        """Release a lock this store holds and close the connection (idempotent)."""
        with self._mutex:
            if self._held is not None:
                with contextlib.suppress(StateError):
                    self._release(self._held[0].id)
            self._close_quietly()
