"""The embedded default state store: one SQLite file.

The queries, the journal and the shape of the lock are the SQL core's
(``sql.py``); this module supplies SQLite's dialect: ``?`` placeholders, the
key/value ``meta`` table, ``BEGIN IMMEDIATE`` transactions, ``executemany``
for bulk contacts, and the lock's liveness files. The connection is in
autocommit mode; every write is one immediate transaction that also bumps the
serial. WAL mode lets another process (a ``plan`` next to an ``apply``) read
while this one writes; ``synchronous=FULL`` because a journal intent must
survive a crash of the machine, not only of the process (a journal outcome
commits without a sync of its own: see ``SqlStore._write``).

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
import errno
import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.errors import StateError
from reconciler.state._common import DOES_NOT_EXIST, state_missing
from reconciler.state.base import LockInfo
from reconciler.state.migrations import SQLITE as MIGRATIONS
from reconciler.state.sql import CONTACT_COLUMNS, LockRow, SqlStore

__all__ = ["MIGRATIONS", "SqliteStore"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_COLUMN = re.compile(r"column '([A-Za-z0-9_]{1,64})'")
_MESSAGE_LIMIT = 300  # characters of a driver message kept


def _shown(path: str) -> str:
    """A path as messages show it: whole unless absurdly long."""
    return path if len(path) <= 240 else f"{path[:120]}...{path[-80:]} ({len(path)} characters)"


def _printable(text: str) -> str:
    """Plain ASCII, no control characters, bounded: what a message may carry of a driver's text."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return clean if len(clean) <= _MESSAGE_LIMIT else clean[: _MESSAGE_LIMIT - 3] + "..."


class SqliteStore(SqlStore[sqlite3.Connection]):
    """StateStore in one SQLite file; ``create`` makes it (and its directories)
    when it is not there, otherwise a missing one raises StateMissing."""

    MIGRATIONS = MIGRATIONS
    LINEAGE_SQL = "SELECT value FROM meta WHERE key = 'lineage'"
    SERIAL_SQL = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'serial'"
    BUMP_SQL = "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'serial'"
    LOCK_TABLE = "lock"
    LOCK_ROW_SQL = "SELECT lock_id, holder, operation, created_at FROM lock WHERE one = 1"

    def __init__(self, path: Path, busy_timeout: float = 30.0, *, create: bool = False) -> None:
        if "\x00" in os.fspath(path):
            raise StateError(f"state database path {_shown(os.fspath(path))!r} contains a NUL byte")
        self.path = Path(path)
        label = f"state database {_shown(str(self.path))}"
        super().__init__(label=label, where=_shown(str(self.path)), location=_shown(str(self.path)), described=label)
        self._liveness: tuple[int, Path] | None = None  # the held lock's liveness file: fd, path
        self._durable = True  # synchronous = FULL
        self._wal = False  # journal_mode is WAL: durable writes sync the log themselves
        self._wal_fd: int | None = None
        try:
            exists = self.path.exists()
        except OSError as exc:  # a name longer than the file system takes, a component that is a file, ...
            raise StateError(f"{label}: cannot use this path: {exc.strerror or exc}") from None
        if create:
            self._make_file()
        elif not exists:
            raise state_missing(label, _shown(str(self.path)), DOES_NOT_EXIST)
        try:
            with self._guard("cannot open"):
                # mode=rw never creates the file (it was made above when asked to)
                self._conn = sqlite3.connect(
                    f"file:{quote(os.fspath(self.path))}?mode=rw",
                    timeout=busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                    uri=True,
                )
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                if not create:
                    self._check_initialised(self._conn)  # reads only: a refused file is left as it was
                self._wal = self._use_wal(busy_timeout)
                self._conn.execute("PRAGMA synchronous = FULL")
                self._migrate(create)
        except StateError:
            self._close_quietly()
            raise

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

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

    def _use_wal(self, busy_timeout: float) -> bool:
        """Switch to WAL. SQLite answers "database is locked" at once, without
        its busy handler, while another connection switches the same new file,
        so retry that until ``busy_timeout``."""
        conn = self._connection()
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                return bool(mode) and str(mode[0]).lower() == "wal"
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    # --- dialect -----------------------------------------------------------------
    def _error(self, doing: str, exc: sqlite3.Error) -> StateError:
        """The driver's error in words of our own: SQLite quotes the text of a value it cannot
        decode, and a damaged file's bytes must never reach a terminal or a CI log."""
        text = str(exc)
        if "decode" in text or "with text" in text:
            column = _COLUMN.search(text)
            where = f"column {column.group(1)!r}" if column else "a column"
            text = (f"the file is damaged ({where} holds bytes that are not UTF-8 text); restore it from "
                    "a backup")
        elif "readonly" in text or "read-only" in text or ("unable to open" in text and self._read_only()):
            text = (f"the state is read-only here ({self._read_only() or text}); campaignctl writes its journal "
                    "before every vendor call, so no call was sent without one")
        elif "disk is full" in text or ("disk I/O error" in text and self._full()):
            text = "no space left on the device holding the state; free some and run again (no vendor call was " \
                   "sent without its journal entry)"
        elif isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
            text = "the file is not a SQLite database (damaged or overwritten); restore it from a backup"
        elif isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
            text = "the file is damaged (cut short or overwritten: database disk image is malformed); restore it " \
                   "from a backup"
        return StateError(f"{self._label}: {doing}: {_printable(text)}")

    def _read_only(self) -> str:
        """Why the state cannot be written here ("" when it can, as far as one can tell)."""
        folder = self.path.parent
        with contextlib.suppress(OSError):
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return f"{folder} is on a read-only file system"
        for target in (self.path, folder):
            with contextlib.suppress(OSError):
                if target.exists() and not os.access(target, os.W_OK):
                    return f"{_shown(str(target))} is not writable"
        return ""

    def _full(self) -> bool:
        with contextlib.suppress(OSError):
            return os.statvfs(self.path.parent).f_bavail == 0
        return False

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(doing, exc) from exc
        except UnicodeDecodeError:  # a name in the schema that is not UTF-8: the bytes stay out of the message
            raise StateError(f"{self._label}: {doing}: the file is damaged (its schema holds bytes that are not "
                             "UTF-8 text); restore it from a backup") from None
        except OSError as exc:  # the lock's liveness file (a full or read-only disk)
            raise StateError(f"{self._label}: {doing}: {self._os_reason(exc)}") from exc

    def _os_reason(self, exc: OSError) -> str:
        if exc.errno == errno.ENOSPC:
            return "no space left on the device holding the state; free some and run again"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"the state directory {self.path.parent} is not writable ({exc.strerror})"
        return exc.strerror or type(exc).__name__

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _durability(self, conn: sqlite3.Connection, durable: bool) -> bool:
        # In WAL mode every commit is NORMAL (no sync of its own) and a durable write then syncs the
        # log itself, outside the store's mutex (``_flush``): lanes keep committing while one waits
        # for the disk, and one sync serves every commit before it. Without WAL, FULL as asked.
        wanted = False if self._wal else durable
        if wanted != self._durable:
            conn.execute(f"PRAGMA synchronous = {'FULL' if wanted else 'NORMAL'}")
            self._durable = wanted
        return self._wal and durable

    def _close_quietly(self) -> None:
        if self._wal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._wal_fd)
            self._wal_fd = None
        super()._close_quietly()

    def _flush(self) -> None:
        fd = self._wal_fd
        if fd is None:
            wal = self.path.with_name(self.path.name + "-wal")
            fd = self._wal_fd = os.open(wal, os.O_RDONLY)
            directory = os.open(self.path.parent, os.O_RDONLY)  # the log's name, too, must survive
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        os.fsync(fd)

    def _container_exists(self, conn: sqlite3.Connection) -> bool:
        return True  # the file: checked before connecting

    def _tables(self, conn: sqlite3.Connection) -> set[str]:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _init_meta(self, conn: sqlite3.Connection, lineage: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('lineage', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value = ''",
            (lineage,),
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('serial', '0') ON CONFLICT (key) DO NOTHING")

    def _insert_id(self, conn: sqlite3.Connection, statement: str, params: Sequence[Any]) -> int:
        return int(conn.execute(statement, params).lastrowid or 0)

    def _write_contacts(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        # executemany in order: a later duplicate replaces an earlier one
        conn.executemany(f"INSERT OR REPLACE INTO contacts ({CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # --- lock --------------------------------------------------------------------
    def _liveness_file(self, lock_id: str) -> Path:
        return self.path.with_name(f"{self.path.name}.lock-{lock_id}")

    def _holder_alive(self, row: LockRow) -> bool:
        """True when some process keeps the liveness file of the lock flock-ed.

        A dead holder's file is removed here, under our own flock, so stale
        files do not pile up next to the database.
        """
        file = self._liveness_file(row.info.id)
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

    def _take_lock(self, conn: sqlite3.Connection, info: LockInfo) -> bool:
        current = self._lock_row(conn)
        if current is not None and self._holder_alive(current):
            return False
        # Free (or stale): take it. The flock is taken inside the transaction,
        # so nobody can see the row without a live file.
        file = self._liveness_file(info.id)
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        except OSError as exc:
            raise StateError(f"cannot create the lock file {file}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{info.holder} {info.operation} {info.created_at}\n".encode())
            conn.execute(
                "INSERT OR REPLACE INTO lock (one, lock_id, holder, operation, created_at) VALUES (1, ?, ?, ?, ?)",
                (info.id, info.holder, info.operation, info.created_at),
            )
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                file.unlink()
            raise
        self._liveness = (fd, file)
        return True

    def _drop_lock(self, lock_id: str) -> None:
        """Drop the row first, then the flock: a row never outlives its live file."""
        liveness, self._liveness = self._liveness, None
        try:
            if self._conn is not None:
                self._write(lambda c: c.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,)), bump=False)
        finally:
            if liveness is not None:
                with contextlib.suppress(OSError):
                    liveness[1].unlink()
                os.close(liveness[0])

    def _end_holder(self, row: LockRow) -> None:
        """The live holder keeps its flock on a file nobody can open any more."""
        with contextlib.suppress(OSError):
            self._liveness_file(row.info.id).unlink()
