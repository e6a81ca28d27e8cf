"""The SQL store core: one StateStore over one database connection, shared by
``sqlite.py`` and ``postgres.py``.

Everything the two backends do alike lives here, once: every query (written
with ``?`` placeholders), the check that a store is initialised, the
migration loop, the write transaction with its serial bump, rename and
forget, the journal, and the shape of the apply lock (take, release, report,
force). A backend supplies only what its database spells or does
differently:

- ``PARAM``: its placeholder, ``?`` or ``%s``;
- its meta table: ``LINEAGE_SQL``, ``SERIAL_SQL``, ``BUMP_SQL``, ``_init_meta``;
- what is there: ``_container_exists`` (the schema), ``_tables``,
  ``_create_container``;
- ``_guard`` (driver errors into StateError), ``_transaction`` and
  ``_migration_transaction``, ``_is_closed``;
- ``_insert_id``: the id of the row an INSERT made;
- ``_write_contacts``: the bulk upsert (``executemany``; ``COPY`` on PostgreSQL);
- the lock itself: ``LOCK_TABLE``, ``LOCK_ROW_SQL``, ``_take_lock``,
  ``_drop_lock``, ``_holder_alive``, ``_end_holder``.

One connection per store, guarded by a re-entrant lock so apply's worker
threads can share it; writes that meet there are committed together (group
commit, ``_write``), so parallel lanes do not queue for one fsync each. A
backend that can reconnect (PostgreSQL) replaces a lost connection: reads are
repeated on the new one with a growing delay (``RECONNECT_WAIT``); a write
batch first replaces a connection known to be gone (nothing was sent on it)
but is never repeated once sent, since it may have committed: every write of
the batch raises StateError, so no vendor call any of them was to journal is
sent. The held apply lock is taken again on the new connection; a handle that
finds another run holding it writes nothing more (fenced).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from reconciler.errors import StateError
from reconciler.model import digest
from reconciler.state._common import (
    DOES_NOT_EXIST,
    IS_EMPTY,
    NO_LINEAGE,
    NO_TABLES,
    check_rename,
    check_task,
    clean_text,
    contact_from_row,
    contact_rows,
    contact_sort_key,
    dump_json,
    dump_json_list,
    json_list,
    load_json,
    lock_held_error,
    new_lock_info,
    outcome_filter,
    problems_from_json,
    problems_to_json,
    stamp_days_ago,
    standing_from_json,
    standing_to_json,
    state_missing,
    suppressed_from_json,
    utc_now,
    wait_for_lock,
)
from reconciler.state.base import (
    SOURCE_DIGEST_DAYS,
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    Converged,
    JournalEntry,
    Listed,
    LockInfo,
    OptOutRecord,
    PhoneList,
    Records,
    ResultRecord,
    SourceDigest,
    TaskRecord,
)

__all__ = ["Connection", "Cursor", "LockRow", "SqlStore"]

T = TypeVar("T")

CONTACT_COLUMNS = "campaign, task_id, phone, fingerprint, wave, data_id, status, sent_at"
OPTOUT_COLUMNS = "phone, source, reason, created_at, removed_at, removed_reason"
TASK_COLUMNS = (
    "campaign, wave, profile, task_id, remote_name, settings_fingerprint, started, deleted, created_at,"
    " settings, run_state"
)
JOURNAL_COLUMNS = "id, campaign, profile, call, task_id, outcome, request, result, detail, started_at, finished_at"
JOURNAL_SELECT = ", ".join(f"j.{name.strip()}" for name in JOURNAL_COLUMNS.split(","))
SETTLED = frozenset({CallOutcome.OK, CallOutcome.FAILED, CallOutcome.RESOLVED})  # the journal's phones go
SETTLED_VALUES = tuple(sorted(v.value for v in SETTLED))  # as SQL parameters
RESULT_COLUMNS = (
    "profile, module, push_key, call_key, task_id, data_id, callee, body, campaign, phone, received_at, id, optout"
)
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's oldest limit of 999 parameters
RECONNECT_FIRST_DELAY = 0.1  # seconds before the second try of a lost connection; doubles each try
RECONNECT_MAX_DELAY = 2.0


def in_chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """``values`` without repeats, in order, ``IN_CHUNK`` at a time (one IN list each)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start : start + IN_CHUNK]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the core needs of a driver connection (sqlite3 and psycopg both fit)."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


@dataclass(frozen=True)
class LockRow:
    """The recorded lock; ``backend`` is the PostgreSQL session holding it (None on SQLite)."""

    info: LockInfo
    backend: int | None = None


def marks(count: int) -> str:
    return ", ".join("?" * count)


def json_value(value: Any) -> dict[str, Any]:
    """A JSON column as read: PostgreSQL's jsonb comes back decoded, SQLite's text does not."""
    return value if isinstance(value, dict) else load_json(value)


def task_from_row(r: Sequence[Any]) -> TaskRecord:
    return TaskRecord(
        campaign=r[0],
        wave=r[1],
        profile=r[2],
        task_id=r[3],
        remote_name=r[4],
        settings_fingerprint=r[5],
        started=bool(r[6]),
        deleted=bool(r[7]),
        created_at=r[8],
        settings=json_value(r[9]),
        run_state=r[10],
    )


def result_from_row(r: Sequence[Any]) -> ResultRecord:
    return ResultRecord(
        profile=r[0],
        module=r[1],
        key=r[2],
        call=r[3],
        task_id=r[4],
        data_id=r[5],
        callee=r[6],
        body=json_value(r[7]),
        campaign=r[8],
        phone=r[9],
        received_at=r[10],
        id=int(r[11]),
        optout=r[12],
    )


def journal_from_row(r: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        id=r[0],
        campaign=r[1],
        profile=r[2],
        call=r[3],
        task_id=r[4],
        outcome=CallOutcome(r[5]),
        request=json_value(r[6]),
        result=json_value(r[7]),
        detail=r[8],
        started_at=r[9],
        finished_at=r[10],
        phones=tuple(r[11].split("\n")) if len(r) > 11 and r[11] else (),
    )


class _Undone(Exception):
    """Rolls a group commit's transaction back, to be written again without the write that failed."""


class _Write:
    """One write waiting for a group commit."""

    __slots__ = ("bump", "derived", "done", "durable", "error", "fn", "later", "seq", "synced", "value")

    def __init__(self, fn: Callable[[Any], Any], bump: bool, durable: bool, derived: bool) -> None:
        self.fn = fn
        self.bump = bump
        self.durable = durable
        self.derived = derived
        self.later = False  # queued by ``_write_later``: nobody waits for it; its failure fences the handle
        self.seq = 0  # the commit that wrote it
        self.synced: bool | None = None  # False: committed, its sync still to come (``_sync``)
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class SqlStore(ABC, Generic[C]):
    """StateStore over one connection of type ``C``; the subclass opens it,
    then calls ``_migrate``.

    ``label`` starts error messages (``state database PATH``); ``where``
    names the store in lock messages; ``location`` and ``described`` are what
    StateMissing names.
    """

    PARAM = "?"
    MIGRATIONS: tuple[tuple[int, str], ...] = ()
    LINEAGE_SQL = ""
    SERIAL_SQL = ""
    BUMP_SQL = ""  # adds its one parameter to the serial
    LOCK_TABLE = ""
    LOCK_ROW_SQL = ""  # lock_id, holder, operation, created_at[, the holding session]
    FORCE_NOTE = ""  # what ``--force`` does besides releasing, for the LockHeld message
    RECONNECT_WAIT = 20.0  # seconds a read, or the connect before a write, keeps trying a lost connection

    def __init__(self, *, label: str, where: str, location: str, described: str) -> None:
        self._label = label
        self._where = where
        self._location = location
        self._described = described
        self._mutex = threading.RLock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Write] = []
        self._sync_lock = threading.Lock()
        self._commits = 0  # transactions committed by this handle
        # In a write transaction: the campaigns whose Converged markers it deleted already (a call's
        # outcome and the lane's next intent, committed together, clear the same marker once).
        self._cleared: set[str] | None = None
        self._phones_settled = False  # ``flush`` drops the journal's phones of settled calls
        self._synced = 0  # ... of which are known durable
        self._volatile = 0  # the last commit that may be lost in a crash although it was acknowledged ...
        self._on_disk = 0  # ... and the last one known to have reached the disk (with every earlier one)
        self._held: LockInfo | None = None
        self._conn: C | None = None
        self._closed = False  # closed by its owner (never reconnected)
        self._fenced: str | None = None  # why this handle may write no more (it lost the lock)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what a backend supplies ----------------------------------------------
    @abstractmethod
    def _guard(self, doing: str) -> AbstractContextManager[None]:
        """Turn the driver's errors into StateError (``doing``: "read failed", ...)."""

    @abstractmethod
    def _transaction(self, conn: C) -> AbstractContextManager[None]:
        """One write transaction: committed on success, rolled back on any exception."""

    def _migration_transaction(self, conn: C) -> AbstractContextManager[None]:
        """The transaction that checks, creates and migrates; serialises openers."""
        return self._transaction(conn)

    def _is_closed(self, conn: C) -> bool:
        return False

    @abstractmethod
    def _container_exists(self, conn: C) -> bool:
        """Whether the place the tables live in is there (a file checked before connecting is)."""

    @abstractmethod
    def _tables(self, conn: C) -> set[str]: ...

    def _create_container(self, conn: C) -> None:
        """Make the place the tables live in (``create=True`` only)."""

    @abstractmethod
    def _init_meta(self, conn: C, lineage: str) -> None:
        """Give the meta table ``lineage`` unless it has one, and a serial unless it has one."""

    @abstractmethod
    def _insert_id(self, conn: C, statement: str, params: Sequence[Any]) -> int:
        """Run the INSERT ``statement``; the ``id`` of the row it made."""

    @abstractmethod
    def _write_contacts(self, conn: C, rows: list[tuple[Any, ...]]) -> None:
        """Upsert ``rows`` (CONTACT_COLUMNS order) by (campaign, task_id, phone),
        a later duplicate replacing an earlier one; inside a write transaction."""

    @abstractmethod
    def _take_lock(self, conn: C, info: LockInfo) -> bool:
        """Take the lock for ``info`` unless a live holder has it (inside a transaction)."""

    @abstractmethod
    def _drop_lock(self, lock_id: str) -> None:
        """Let go of the lock this handle took as ``lock_id`` (quietly when the connection is gone)."""

    @abstractmethod
    def _holder_alive(self, row: LockRow) -> bool: ...

    def _end_holder(self, row: LockRow) -> None:
        """Before a forced unlock of a live holder's lock: fence that holder off."""

    # --- plumbing --------------------------------------------------------------
    def _exec(self, conn: C, statement: str, params: Sequence[Any] = ()) -> Cursor:
        if self.PARAM != "?":
            statement = statement.replace("?", self.PARAM)
        return conn.execute(statement, params)

    def _scalar(self, conn: C, statement: str, params: Sequence[Any] = ()) -> Any:
        row = self._exec(conn, statement, params).fetchone()
        if row is None:
            raise StateError(f"{self._label} is missing its metadata row")
        return row[0]

    def _connection(self) -> C:
        conn = self._conn
        if conn is None or self._is_closed(conn):
            raise StateError(f"{self._label} is closed")
        return conn

    # --- reconnecting (backends that can: PostgreSQL) ----------------------------
    def _can_reconnect(self) -> bool:
        return False

    def _stale(self, conn: C) -> bool:
        """True when the connection is known to be gone before anything is sent on it."""
        return False

    def _reconnect(self) -> None:
        """Open a new connection in place of a lost one (and take the held lock again)."""
        raise StateError(f"{self._label} is closed")

    def _lost(self) -> bool:
        """After a failure: whether the connection is gone (so the same work may succeed on a new one)."""
        if self._closed or not self._can_reconnect():
            return False
        conn = self._conn
        return conn is None or self._is_closed(conn)

    def _connected(self, deadline: float | None = None) -> C:
        """A live connection: the current one, or a new one when it is known to be gone. Connecting is
        retried with a growing delay until ``deadline`` (``RECONNECT_WAIT`` from now): nothing has been
        sent on a connection that is not there yet."""
        if self._closed:
            raise StateError(f"{self._label} is closed")
        conn = self._conn
        if conn is not None and not self._is_closed(conn) and not self._stale(conn):
            return conn
        if not self._can_reconnect():
            return self._connection()
        deadline = time.monotonic() + self.RECONNECT_WAIT if deadline is None else deadline
        delay = RECONNECT_FIRST_DELAY
        while True:
            try:
                self._reconnect()
                self._fence_lost_commits()
                return self._connection()
            except StateError as exc:
                if self._fenced is not None:
                    raise
                if time.monotonic() + delay > deadline:
                    raise StateError(f"{exc} (the connection was lost; tried again for "
                                     f"{self.RECONNECT_WAIT:.0f}s)") from exc.__cause__
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)

    def _fence_lost_commits(self) -> None:
        """After a new connection replaced a lost one: commits acknowledged without reaching the disk may be
        gone with the old server session, and a write now could outlive them; this handle writes no more."""
        if self._volatile > self._on_disk and self._fenced is None:
            self._fenced = (f"{self._label}: the connection was lost while journal outcomes were not yet on disk "
                            "(they may be gone with the server's memory); this run writes nothing more, so it "
                            "sends nothing more. Run apply again: it settles those calls by observing the "
                            "platform first")

    def _check_fence(self) -> None:
        if self._fenced is not None:
            raise StateError(self._fenced)

    def _read(self, fn: Callable[[C], T]) -> T:
        """Run a read; on a lost connection, reconnect with a growing delay and read again (a read
        changes nothing, so it is safe to repeat) until ``RECONNECT_WAIT`` has passed. The queued
        writes (``_write_later``) are committed first: a read sees every write this handle made."""
        with self._mutex:
            self._drain()
            deadline = time.monotonic() + self.RECONNECT_WAIT
            delay = RECONNECT_FIRST_DELAY
            while True:
                try:
                    conn = self._connected(deadline)
                    with self._guard("read failed"), self._damaged():
                        return fn(conn)
                except StateError:
                    if not self._lost() or time.monotonic() + delay > deadline:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY)

    @contextmanager
    def _damaged(self) -> Iterator[None]:
        """A row the code cannot read back (bad JSON, an unknown status, a serial that is no number)
        is a damaged state, named without quoting what it holds."""
        try:
            yield
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise StateError(f"{self._label}: a row is damaged ({type(exc).__name__} reading it back); "
                             "restore the state from a backup") from None

    def _write(self, fn: Callable[[C], T], bump: bool = True, durable: bool = True, derived: bool = False) -> T:
        """Run ``fn`` in a write transaction that bumps the serial (unless
        ``bump`` is false); returns once that transaction is committed.

        ``durable`` false: the commit need not reach the disk before this
        returns (no fsync of its own). Safe only for writes whose loss in a
        machine crash the next run recovers from, such as a journal outcome
        (its intent was durable: the call is settled by observing). A database
        log is written in order, so the next durable commit makes every
        earlier one durable too, and no later write survives an earlier one.
        That holds within one server session only: a connection lost while
        such a commit may not be on disk fences the handle (``_connected``),
        or later writes on a new connection could outlive a lost earlier one.
        ``derived`` (with ``durable`` false): data whose loss, in any order,
        costs only time (a cache, a convergence marker): never a reason to fence.

        Group commit: writes that arrive while another thread commits wait
        for it, then the first of them to get the connection runs them all in
        one transaction (each in its own savepoint, so one that fails undoes
        only itself), so parallel lanes share one commit (one fsync) instead
        of queueing for one each. A single thread sees exactly one
        transaction per write."""
        item = _Write(fn, bump, durable, derived)
        with self._queue_lock:
            self._queue.append(item)
        while not item.done:
            with self._mutex:
                if item.done:
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                if batch:
                    self._commit(batch)
        if item.error is not None:
            raise item.error
        if item.durable and item.synced is False:
            self._sync(item.seq)  # outside the mutex: other writers commit meanwhile, one sync serves many
        return cast(T, item.value)

    def _write_later(self, fn: Callable[[C], None]) -> None:
        """Queue a write for the next commit, whoever makes it (another write, a fresh read, ``flush``,
        the lock's release), and return at once: a journal outcome then rides in the transaction of
        the lane's next intent, one commit per call instead of two. Lost with the process, it is like
        an outcome lost in a crash (the intent is durable: the call is settled by observing). If it
        fails, the transaction carrying it fails whole (an intent beside it is not written either)
        and the handle writes nothing more, so nothing more is sent."""
        self._check_fence()
        item = _Write(fn, True, False, False)
        item.later = True
        with self._queue_lock:
            self._queue.append(item)

    def _drain(self) -> None:
        """Commit the queued writes now (caller holds the mutex)."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        if batch:
            self._commit(batch)

    def flush(self) -> None:
        with self._mutex:
            self._drain()
        self._check_fence()
        if self._phones_settled:
            # The phones of calls settled by outcomes not waited for (``end_call(wait=False)``): kept
            # beside their entries until now (``journal`` shows none once settled), dropped in one write
            # instead of one statement in every call's transaction. Left by a crash, the next flush drops them.
            self._phones_settled = False
            self._write(lambda c: self._exec(
                c, "DELETE FROM journal_phones WHERE entry_id IN (SELECT p.entry_id FROM journal_phones p"
                   f" JOIN journal j ON j.id = p.entry_id WHERE j.outcome IN ({marks(len(SETTLED_VALUES))}))",
                SETTLED_VALUES),
                bump=False, durable=False, derived=True)

    def _commit(self, batch: list[_Write]) -> None:
        """Run ``batch`` in one transaction (caller holds the mutex); every
        item ends done, with its value or its own error (never raised here:
        each writer raises its own). Ctrl-C is raised in the committing thread."""
        try:
            with self._guard("write failed"):
                # fenced: nothing more is written; a connection known to be gone is replaced first
                # (nothing was sent on it). Once anything is sent, the batch is never repeated.
                self._check_fence()
                conn = self._connected()
                self._check_fence()
                deferred = self._durability(conn, any(item.durable for item in batch))
                solo = [item for item in batch if not item.later]
                if len(batch) > 1 and len(solo) == 1:
                    self._run_with_queued(conn, batch, solo[0])
                else:
                    self._run(conn, batch)
        except Exception as exc:  # the transaction failed: nothing of the batch was written
            for item in batch:
                if item.error is None:
                    item.error = exc
            self._fence_queued(batch, exc)
        except BaseException:
            for item in batch:
                item.error = item.error or StateError(f"{self._label}: write failed: interrupted")
                item.done = True
            self._fence_queued(batch, None)
            raise
        else:
            self._commits += 1
            for item in batch:
                item.seq = self._commits
                item.synced = not deferred
            if any(item.durable for item in batch) and not deferred:
                self._on_disk = self._commits
            elif any(not item.durable and not item.derived for item in batch):
                self._volatile = self._commits
        finally:
            self._cleared = None
            for item in batch:
                item.done = True

    def _run(self, conn: C, batch: list[_Write]) -> None:
        """``batch`` in one transaction: each write of several in its own savepoint (one that fails is
        undone alone; the others go on), except outcomes queued by ``_write_later``, whose failure fails
        the whole batch. The serial grows by one per write that bumps it and was written, in one
        statement at the end (the writes of a transaction never read it)."""
        with self._transaction(conn):
            bumps = 0
            self._cleared = set()
            if len(batch) == 1:
                item = batch[0]
                item.value = item.fn(conn)
                bumps = int(item.bump)
            else:
                for item in batch:
                    cleared = set(self._cleared)  # a write undone (its savepoint) undoes its deletes
                    try:
                        # a queued write that fails fails the whole batch: it needs no savepoint
                        with self._guard("write failed"), (
                                contextlib.nullcontext() if item.later else self._savepoint(conn)):
                            item.value = item.fn(conn)
                    except Exception as exc:  # this write only: the others go on
                        self._cleared = cleared
                        item.error = exc
                        # cut off mid-way, or a queued outcome: the whole batch fails, never repeated
                        if self._lost() or item.later:
                            raise
                    else:
                        bumps += int(item.bump)
            if bumps:
                self._exec(conn, self.BUMP_SQL, (bumps,))

    def _run_with_queued(self, conn: C, batch: list[_Write], one: _Write) -> None:
        """One write with outcomes queued by ``_write_later`` (a lane's next intent: the usual batch), in
        one transaction without savepoints (two statements fewer). When ``one`` fails, the transaction is
        undone and the queued outcomes are written alone: each is plain SQL (``end_call``'s), which
        written again from the start writes the same. A connection cut off mid-way, or a queued
        outcome that fails, fails the whole batch, never repeated."""
        try:
            with self._transaction(conn):
                bumps = 0
                self._cleared = set()
                for item in batch:
                    if item is one:
                        try:
                            with self._guard("write failed"):
                                item.value = item.fn(conn)
                        except Exception as exc:
                            item.error = exc
                            if self._lost():
                                raise
                            raise _Undone from exc
                    else:
                        item.value = item.fn(conn)
                    bumps += int(item.bump)
                if bumps:
                    self._exec(conn, self.BUMP_SQL, (bumps,))
        except _Undone:
            self._run(conn, [item for item in batch if item is not one])

    def _fence_queued(self, batch: list[_Write], exc: BaseException | None) -> None:
        """A batch carrying queued writes failed: fence the handle, and tell the writers of the batch why."""
        if not any(item.later for item in batch):
            return
        if self._fenced is None:
            why = f" ({exc})" if exc is not None else ""
            self._fenced = (f"{self._label}: a journal outcome could not be written{why}; this run writes nothing "
                            "more, so it sends nothing more. Run apply again: it settles that call by observing "
                            "the platform first")
        for item in batch:
            item.error = StateError(self._fenced)

    def _sync(self, seq: int) -> None:
        """Make commit ``seq`` (and every earlier one) durable, unless a sync since did."""
        with self._sync_lock:
            if self._synced >= seq:
                return
            # Read without the mutex (a committing lane holds it for a whole transaction): ``_commits``
            # only grows, after a commit is complete, so every commit it counts is in the log already.
            upto = self._commits
            with self._guard("write failed"):
                self._flush()
            self._synced = upto
            self._on_disk = max(self._on_disk, upto)

    def _flush(self) -> None:
        """Bring every committed transaction to the disk (when ``_durability`` deferred it)."""

    def _durability(self, conn: C, durable: bool) -> bool:
        """Before a transaction: whether its commit must reach the disk before it returns.
        True: the commit will not sync by itself; the writer calls ``_flush`` (through ``_sync``)
        after leaving the mutex."""
        return False

    @contextmanager
    def _savepoint(self, conn: C) -> Iterator[None]:
        """One write of a group commit: undone alone when it fails."""
        self._exec(conn, "SAVEPOINT one_write")
        try:
            yield
        except BaseException:
            self._exec(conn, "ROLLBACK TO SAVEPOINT one_write")
            self._exec(conn, "RELEASE SAVEPOINT one_write")
            raise
        self._exec(conn, "RELEASE SAVEPOINT one_write")

    def _close_quietly(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # --- opening ---------------------------------------------------------------
    def _missing(self, conn: C) -> str:
        """What an initialised state has and this one lacks ("" when nothing)."""
        if not self._container_exists(conn):
            return DOES_NOT_EXIST
        tables = self._tables(conn)
        if "schema_version" not in tables:
            return NO_TABLES if tables else IS_EMPTY
        if not self._scalar(conn, "SELECT COUNT(*) FROM schema_version"):
            return IS_EMPTY
        if "meta" not in tables:
            return NO_TABLES
        row = self._exec(conn, self.LINEAGE_SQL).fetchone()
        return "" if row and row[0] else NO_LINEAGE

    def _check_initialised(self, conn: C) -> None:
        missing = self._missing(conn)
        if missing:
            raise state_missing(self._described, self._location, missing)

    def _migrate(self, create: bool) -> None:
        """Apply pending migrations; with ``create`` also make the container,
        the tables and a lineage where there are none, else a state that is not
        initialised raises StateMissing and nothing is made. One transaction,
        so openers racing on a new store agree on one lineage."""
        conn = self._connection()
        with self._migration_transaction(conn):
            if create:
                self._create_container(conn)
            else:
                self._check_initialised(conn)
            self._exec(
                conn,
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
            current = int(self._scalar(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            latest = self.MIGRATIONS[-1][0]
            if current > latest:
                raise StateError(
                    f"{self._label} has schema version {current}, newer than this campaignctl knows ({latest}); "
                    "upgrade campaignctl"
                )
            for version, script in self.MIGRATIONS:
                if version <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                self._exec(conn, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, utc_now()))
            if create:
                self._init_meta(conn, str(uuid.uuid4()))

    def schema_version(self) -> int:
        return self._read(lambda c: int(self._scalar(c, "SELECT MAX(version) FROM schema_version")))

    # --- reads -----------------------------------------------------------------
    def lineage(self) -> str:
        return self._read(lambda c: str(self._scalar(c, self.LINEAGE_SQL)))

    def serial(self) -> int:
        return self._read(lambda c: int(self._scalar(c, self.SERIAL_SQL)))

    def campaigns(self) -> list[CampaignRecord]:
        rows = self._read(
            lambda c: self._exec(c, "SELECT name, profile, mode, provider_type FROM campaigns ORDER BY name").fetchall()
        )
        return [CampaignRecord(name=r[0], profile=r[1], mode=r[2], provider_type=r[3]) for r in rows]

    def tasks(self, campaign: str | None = None) -> list[TaskRecord]:
        where, params = ("", ()) if campaign is None else (" WHERE campaign = ?", (campaign,))
        sql = f"SELECT {TASK_COLUMNS} FROM tasks{where} ORDER BY campaign, wave, task_id"
        return self._read(lambda c: [task_from_row(r) for r in self._exec(c, sql, params).fetchall()])

    def contacts(self, campaign: str, task_id: str | None = None) -> list[ContactRecord]:
        where, params = (" AND task_id = ?", (campaign, task_id)) if task_id is not None else ("", (campaign,))
        sql = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE campaign = ?{where} ORDER BY wave, task_id, phone"
        return self._read(lambda c: [contact_from_row(r) for r in self._exec(c, sql, params).fetchall()])

    def contacts_with(self, phones: Sequence[str]) -> list[ContactRecord]:
        found: list[ContactRecord] = []

        def read(c: C) -> None:
            for chunk in in_chunks(phones):
                sql = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE phone IN ({marks(len(chunk))})"
                found.extend(contact_from_row(r) for r in self._exec(c, sql, chunk).fetchall())

        if phones:
            self._read(read)  # one read: every chunk from the same snapshot
        return sorted(found, key=lambda r: (r.campaign, *contact_sort_key(r)))

    def journal(
        self, campaign: str | None = None, outcomes: Sequence[CallOutcome] | None = None
    ) -> list[JournalEntry]:
        wanted = outcome_filter(outcomes)
        conditions: list[str] = []
        params: list[Any] = []
        if campaign is not None:
            conditions.append("j.campaign = ?")
            params.append(campaign)
        if wanted is not None:
            # a row whose outcome is no known value is selected too: reading it reports the damage
            known = [o.value for o in CallOutcome]
            if wanted:
                conditions.append(f"(j.outcome IN ({marks(len(wanted))}) OR j.outcome NOT IN ({marks(len(known))}))")
                params += [*wanted, *known]
            else:
                conditions.append("1 = 0")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # a settled call's phones may wait for ``flush`` to go: never shown
        sql = (f"SELECT {JOURNAL_SELECT}, p.phones FROM journal j LEFT JOIN journal_phones p ON p.entry_id = j.id"
               f" AND j.outcome NOT IN ({marks(len(SETTLED_VALUES))}){where} ORDER BY j.id")
        params = [*SETTLED_VALUES, *params]
        return self._read(lambda c: [journal_from_row(r) for r in self._exec(c, sql, params).fetchall()])

    def source_digests(self, keys: Sequence[str] | None = None) -> dict[str, SourceDigest]:
        out: dict[str, SourceDigest] = {}
        if keys is None:
            for r in self._read(lambda c: self._exec(c, "SELECT key, digest, rows, problems FROM source_digests")
                                .fetchall()):
                out[r[0]] = SourceDigest(r[0], r[1], int(r[2]), problems_from_json(json_list(r[3])))
            return out

        def read(c: C) -> None:
            for chunk in in_chunks(keys):
                rows = self._exec(
                    c, f"SELECT key, digest, rows, problems FROM source_digests WHERE key IN ({marks(len(chunk))})",
                    chunk,
                ).fetchall()
                for r in rows:
                    out[r[0]] = SourceDigest(r[0], r[1], int(r[2]), problems_from_json(json_list(r[3])))

        if keys:
            self._read(read)
        return out

    def phone_lists(self, digests: Sequence[str]) -> dict[str, PhoneList]:
        out: dict[str, PhoneList] = {}

        def read(c: C) -> None:
            for chunk in in_chunks(digests):
                for d, rows, checksum, text in self._exec(
                        c, f"SELECT digest, rows, checksum, phones FROM phone_lists WHERE digest IN "
                           f"({marks(len(chunk))})", chunk).fetchall():
                    kept = PhoneList(d, text)
                    if kept.size() == int(rows) and digest(text) == checksum:  # else: not what was written
                        out[d] = kept

        if digests:
            self._read(read)
        return out

    def put_phone_lists(self, entries: Sequence[PhoneList]) -> None:
        if not entries:
            return
        now = utc_now()
        rows = [(e.digest, e.size(), digest(e.text), e.text, now) for e in entries]

        def put(c: C) -> None:
            self._exec(c, "DELETE FROM phone_lists WHERE digest NOT IN (SELECT digest FROM source_digests)")
            for row in rows:
                self._exec(
                    c,
                    "INSERT INTO phone_lists (digest, rows, checksum, phones, written_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (digest) DO UPDATE SET rows = excluded.rows, checksum = excluded.checksum,"
                    " phones = excluded.phones, written_at = excluded.written_at",
                    row,
                )

        self._write(put, bump=False, durable=False, derived=True)

    def converged(self) -> dict[str, Converged]:
        rows = self._read(lambda c: self._exec(
            c, "SELECT campaign, digest, settings_fingerprint, suppression, suppressed, standing FROM converged"
        ).fetchall())
        with self._damaged():
            return {r[0]: Converged(r[0], r[1], r[2], r[3], suppressed_from_json(json_list(r[4])),
                                    *standing_from_json(r[5])) for r in rows}

    # --- writes ----------------------------------------------------------------
    # The statements, for one connection inside a write transaction; every
    # write that touches a campaign's tasks, contacts or journal also clears
    # its Converged marker (``_unconverge``) in the same transaction.
    def _unconverge(self, c: C, campaigns: Iterable[str]) -> None:
        names = set(campaigns)
        cleared = self._cleared
        if cleared is not None:
            names -= cleared
            cleared |= names
        for name in sorted(names):
            self._exec(c, "DELETE FROM converged WHERE campaign = ?", (name,))

    def _campaign_sql(self, c: C, record: CampaignRecord) -> None:
        self._exec(
            c,
            "INSERT INTO campaigns (name, profile, mode, provider_type) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET profile = excluded.profile, mode = excluded.mode,"
            " provider_type = excluded.provider_type",
            (record.name, record.profile, record.mode, record.provider_type),
        )

    def _task_sql(self, c: C, r: TaskRecord) -> None:
        params = (
            r.campaign,
            r.task_id,
            r.wave,
            r.profile,
            r.remote_name,
            r.settings_fingerprint,
            r.started,
            r.deleted,
            r.created_at,
            dump_json(r.settings),
            r.run_state,
        )
        self._exec(
            c,
            "INSERT INTO tasks (campaign, task_id, wave, profile, remote_name, settings_fingerprint,"
            f" started, deleted, created_at, settings, run_state) VALUES ({marks(len(params))})"
            " ON CONFLICT (campaign, task_id) DO UPDATE SET wave = excluded.wave, profile = excluded.profile,"
            " remote_name = excluded.remote_name, settings_fingerprint = excluded.settings_fingerprint,"
            " started = excluded.started, deleted = excluded.deleted, created_at = excluded.created_at,"
            " settings = excluded.settings, run_state = excluded.run_state",
            params,
        )

    def _delete_sql(self, c: C, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        for chunk in in_chunks(phones):
            self._exec(
                c,
                f"DELETE FROM contacts WHERE campaign = ? AND task_id = ? AND phone IN ({marks(len(chunk))})",
                (campaign, task_id, *chunk),
            )

    def _retire_sql(self, c: C, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        for chunk in in_chunks(phones):
            self._exec(
                c,
                "UPDATE contacts SET status = ? WHERE campaign = ? AND task_id = ?"
                f" AND phone IN ({marks(len(chunk))})",
                (ContactStatus.REMOVED.value, campaign, task_id, *chunk),
            )

    def _records_sql(self, c: C, records: Records | None) -> None:
        if records is None:
            return
        for record in records.campaigns:
            self._campaign_sql(c, record)
        for task in records.tasks:
            self._task_sql(c, task)
        for name, task_id, phones in records.removed:
            self._delete_sql(c, name, task_id, phones)
        for name, task_id, phones in records.retired:
            self._retire_sql(c, name, task_id, phones)
        if records.contacts:
            self._write_contacts(c, contact_rows(records.contacts))
        self._unconverge(c, records.campaigns_touched())

    def put_campaign(self, record: CampaignRecord) -> None:
        self._write(lambda c: self._campaign_sql(c, record))

    def put_task(self, r: TaskRecord) -> None:
        check_task(r)

        def put(c: C) -> None:
            self._task_sql(c, r)
            self._unconverge(c, (r.campaign,))

        self._write(put)

    def put_contacts(self, records: Sequence[ContactRecord]) -> None:
        if not records:
            return
        rows = contact_rows(records)

        def put(c: C) -> None:
            self._write_contacts(c, rows)
            self._unconverge(c, {r.campaign for r in records})

        self._write(put)

    def delete_contacts(self, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        if not phones:
            return

        def delete(c: C) -> None:
            self._delete_sql(c, campaign, task_id, phones)
            self._unconverge(c, (campaign,))

        self._write(delete)

    def forget_campaign(self, campaign: str) -> None:
        def forget(c: C) -> None:
            for table, column in (("contacts", "campaign"), ("tasks", "campaign"), ("campaigns", "name"),
                                  ("converged", "campaign")):
                self._exec(c, f"DELETE FROM {table} WHERE {column} = ?", (campaign,))

        self._write(forget)

    def rename_campaign(self, old: str, new: str) -> None:
        def known(c: C, name: str) -> bool:
            return bool(
                self._scalar(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM campaigns WHERE name = ?)"
                    " OR EXISTS (SELECT 1 FROM tasks WHERE campaign = ?)"
                    " OR EXISTS (SELECT 1 FROM contacts WHERE campaign = ?)",
                    (name, name, name),
                )
            )

        def rename(c: C) -> None:
            check_rename(old, new, old_known=known(c, old), new_taken=known(c, new))
            for table, column in (("campaigns", "name"), ("tasks", "campaign"), ("contacts", "campaign"),
                                  ("journal", "campaign"), ("results", "campaign")):
                self._exec(c, f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))
            self._unconverge(c, (old, new))

        self._write(rename)

    # --- opt-outs ----------------------------------------------------------------
    def optouts(self, *, include_removed: bool = False) -> list[OptOutRecord]:
        where = "" if include_removed else " WHERE removed_at = ''"
        sql = f"SELECT {OPTOUT_COLUMNS} FROM optouts{where} ORDER BY created_at, id"
        return [OptOutRecord(*r) for r in self._read(lambda c: self._exec(c, sql).fetchall())]

    def add_optout(self, phone: str, source: str, reason: str = "", *, at: str = "") -> bool:
        def add(c: C) -> bool:
            count = self._exec(c, "INSERT INTO optouts (phone, source, reason, created_at) VALUES (?, ?, ?, ?)"
                               " ON CONFLICT (phone) WHERE removed_at = '' DO NOTHING",
                               (phone, clean_text(source), clean_text(reason), at or utc_now())).rowcount
            if count:
                self._exec(c, self.BUMP_SQL, (1,))
            return bool(count)

        return self._write(add, bump=False)

    def remove_optout(self, phone: str, reason: str, *, at: str = "") -> bool:
        def remove(c: C) -> bool:
            count = self._exec(c, "UPDATE optouts SET removed_at = ?, removed_reason = ? WHERE phone = ? AND "
                               "removed_at = ''", (at or utc_now(), clean_text(reason), phone)).rowcount
            if count:
                self._exec(c, self.BUMP_SQL, (1,))
            return bool(count)

        return self._write(remove, bump=False)

    # The journal calls run around every vendor call: each is one write (shared with
    # other lanes' by the group commit) that may carry the state records the call's
    # answer proved. An outcome not waited for (``wait=False``) rides in the lane's
    # next intent's transaction, so such a call costs one commit.
    def begin_call(
        self, campaign: str, profile: str, call: str, task_id: str, request: Mapping[str, Any],
        *, phones: Sequence[str] = (), records: Records | None = None, unless_listed: bool = False,
    ) -> int:
        for task in records.tasks if records else ():
            check_task(task)
        values = (campaign, profile, call, task_id, CallOutcome.PENDING.value, dump_json(request), utc_now())
        joined = "\n".join(phones)
        lookups = list(in_chunks(phones)) if unless_listed else []

        def begin(c: C) -> int:
            listed: set[str] = set()
            for chunk in lookups:
                where = f"removed_at = '' AND phone IN ({marks(len(chunk))})"
                listed.update(r[0] for r in self._exec(c, f"SELECT phone FROM optouts WHERE {where}", chunk).fetchall())
            if listed:
                raise Listed(frozenset(listed))  # before anything is written: this write undoes itself
            self._records_sql(c, records)
            entry = self._insert_id(
                c,
                "INSERT INTO journal (campaign, profile, call, task_id, outcome, request, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            if phones:
                self._exec(c, "INSERT INTO journal_phones (entry_id, phones) VALUES (?, ?)", (entry, joined))
            self._unconverge(c, (campaign,))
            return entry

        return self._write(begin)

    def end_call(
        self,
        entry_id: int,
        outcome: CallOutcome,
        detail: str = "",
        result: Mapping[str, Any] | None = None,
        *,
        records: Records | None = None,
        wait: bool = True,
    ) -> None:
        for task in records.tasks if records else ():
            check_task(task)
        value = CallOutcome(outcome)
        values = (value.value, clean_text(detail), dump_json(result), utc_now(), entry_id)

        def end(c: C) -> None:
            count = self._exec(
                c, "UPDATE journal SET outcome = ?, detail = ?, result = ?, finished_at = ? WHERE id = ?", values
            ).rowcount
            if count == 0:
                raise StateError(f"journal entry {entry_id} does not exist")
            if value in SETTLED and wait:  # not waited for: dropped by the next flush (one statement for all)
                self._exec(c, "DELETE FROM journal_phones WHERE entry_id = ?", (entry_id,))
            self._records_sql(c, records)

        # Lost in a machine crash, the outcome's call is pending again: settled by observing (its
        # intent, written before the call, was durable).
        if wait:
            self._write(end, durable=False)
        else:
            self._phones_settled = self._phones_settled or value in SETTLED
            self._write_later(end)

    # --- derived data: no serial bump -------------------------------------------
    def put_source_digests(self, entries: Sequence[SourceDigest]) -> None:
        if not entries:
            return
        now = utc_now()
        cutoff = stamp_days_ago(SOURCE_DIGEST_DAYS)
        rows = [(e.key, e.digest, e.rows, dump_json_list(problems_to_json(e.problems)), now) for e in entries]

        def put(c: C) -> None:
            self._exec(c, "DELETE FROM source_digests WHERE written_at < ?", (cutoff,))
            for row in rows:
                self._exec(
                    c,
                    "INSERT INTO source_digests (key, digest, rows, problems, written_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, rows = excluded.rows,"
                    " problems = excluded.problems, written_at = excluded.written_at",
                    row,
                )

        self._write(put, bump=False, durable=False, derived=True)

    def put_converged(self, marks_: Sequence[Converged]) -> None:
        if not marks_:
            return
        now = utc_now()

        def put(c: C) -> None:
            if self._cleared is not None:  # a later write of this transaction clears these again
                self._cleared -= {m.campaign for m in marks_}
            for m in marks_:
                self._exec(
                    c,
                    "INSERT INTO converged (campaign, digest, settings_fingerprint, suppression, suppressed,"
                    " standing, written_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign) DO UPDATE SET"
                    " digest = excluded.digest, settings_fingerprint = excluded.settings_fingerprint,"
                    " suppression = excluded.suppression, suppressed = excluded.suppressed,"
                    " standing = excluded.standing, written_at = excluded.written_at",
                    (m.campaign, m.digest, m.settings_fingerprint, m.suppression,
                     dump_json_list([list(p) for p in m.suppressed]), standing_to_json(m), now),
                )

        self._write(put, bump=False, durable=False, derived=True)

    # --- results -----------------------------------------------------------------
    # Never bump the serial (see base.StateStore): a write transaction without BUMP_SQL.
    def _join(self, conn: C, r: ResultRecord) -> tuple[str, str]:
        """The (campaign, phone) ``r`` joins by the rules of ``StateStore.put_results``."""
        if r.data_id:
            rows = self._exec(
                conn,
                "SELECT c.campaign, c.phone, c.task_id FROM contacts c JOIN campaigns k ON k.name = c.campaign"
                " WHERE c.data_id = ? AND k.profile = ? ORDER BY c.wave DESC, c.campaign, c.task_id LIMIT 20",
                (r.data_id, r.profile),
            ).fetchall()
            for campaign, phone, task_id in rows:
                if not task_id or not r.task_id or task_id == r.task_id:
                    return str(campaign), str(phone)
        if r.task_id and r.callee:
            row = self._exec(
                conn,
                "SELECT c.campaign, c.phone FROM contacts c JOIN tasks t"
                " ON t.campaign = c.campaign AND t.task_id = c.task_id"
                " WHERE c.task_id = ? AND c.phone = ? AND t.profile = ? ORDER BY c.wave DESC, c.campaign LIMIT 1",
                (r.task_id, r.callee, r.profile),
            ).fetchone()
            if row is not None:
                return str(row[0]), str(row[1])
        if r.call:
            row = self._exec(
                conn,
                "SELECT campaign, phone FROM results WHERE profile = ? AND call_key = ? AND campaign <> ''"
                " ORDER BY id LIMIT 1",
                (r.profile, r.call),
            ).fetchone()
            if row is not None:
                return str(row[0]), str(row[1])
        elif r.task_id and not r.data_id and not r.callee:
            row = self._exec(
                conn, "SELECT campaign FROM tasks WHERE task_id = ? AND profile = ? ORDER BY campaign LIMIT 1",
                (r.task_id, r.profile),
            ).fetchone()
            if row is not None:
                return str(row[0]), ""
        return "", ""

    def _spread(self, conn: C, r: ResultRecord, campaign: str, phone: str) -> None:
        """The unmatched results of ``r``'s call join the same contact (and its opt-out, if one of them says so)."""
        if r.call and phone:
            joined = self._exec(
                conn,
                "UPDATE results SET campaign = ?, phone = ? WHERE profile = ? AND call_key = ? AND campaign = ''",
                (campaign, phone, r.profile, r.call),
            ).rowcount
            if joined:
                row = self._exec(
                    conn,
                    "SELECT optout, received_at FROM results WHERE profile = ? AND call_key = ? AND phone = ?"
                    " AND optout <> '' ORDER BY id LIMIT 1",
                    (r.profile, r.call, phone),
                ).fetchone()
                if row is not None:
                    self._learn_optout(conn, phone, r.profile, str(row[0]), str(row[1]))

    def _learn_optout(self, conn: C, phone: str, profile: str, reason: str, at: str) -> None:
        """A result joined to ``phone`` says "do not call me again": list it (once; no serial bump)."""
        self._exec(conn, "INSERT INTO optouts (phone, source, reason, created_at) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (phone) WHERE removed_at = '' DO NOTHING",
                   (phone, clean_text(f"results:{profile}"), clean_text(reason), at or utc_now()))

    def put_results(self, records: Sequence[ResultRecord]) -> list[bool]:
        if not records:
            return []
        now = utc_now()

        def put(conn: C) -> list[bool]:
            fresh: list[bool] = []
            for r in records:
                campaign, phone = self._join(conn, r)
                received = r.received_at or now
                count = self._exec(
                    conn,
                    "INSERT INTO results (profile, module, push_key, call_key, task_id, data_id, callee, body,"
                    " campaign, phone, received_at, optout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (profile, module, push_key) DO NOTHING",
                    (r.profile, r.module, clean_text(r.key), clean_text(r.call), clean_text(r.task_id),
                     clean_text(r.data_id), clean_text(r.callee), dump_json(r.body), campaign, phone,
                     received, clean_text(r.optout)),
                ).rowcount
                fresh.append(count > 0)
                if count > 0 and phone:
                    if r.optout:
                        self._learn_optout(conn, phone, r.profile, r.optout, received)
                    self._spread(conn, r, campaign, phone)
            return fresh

        return self._write(put, bump=False)

    def results(self, campaign: str | None = None, phones: Sequence[str] | None = None) -> list[ResultRecord]:
        if campaign is None and phones is None:
            sql = f"SELECT {RESULT_COLUMNS} FROM results ORDER BY id"
            return [result_from_row(r) for r in self._read(lambda c: self._exec(c, sql).fetchall())]
        if phones is None:
            sql = f"SELECT {RESULT_COLUMNS} FROM results WHERE campaign = ? ORDER BY id"
            return [result_from_row(r) for r in self._read(lambda c: self._exec(c, sql, (campaign,)).fetchall())]
        found: list[ResultRecord] = []

        def chunk_of(values: list[str]) -> Callable[[C], list[Any]]:
            if campaign is None:  # any campaign's
                sql = f"SELECT {RESULT_COLUMNS} FROM results WHERE phone IN ({marks(len(values))}) ORDER BY id"
                return lambda c: self._exec(c, sql, tuple(values)).fetchall()
            sql = (f"SELECT {RESULT_COLUMNS} FROM results WHERE campaign = ? AND phone IN ({marks(len(values))})"
                   " ORDER BY id")
            return lambda c: self._exec(c, sql, (campaign, *values)).fetchall()

        for chunk in in_chunks(phones):
            found += [result_from_row(r) for r in self._read(chunk_of(chunk))]
        found.sort(key=lambda r: r.id)
        return found

    def rejoin_results(self) -> int:
        def rejoin(conn: C) -> int:
            rows = self._exec(conn, f"SELECT {RESULT_COLUMNS} FROM results WHERE campaign = '' ORDER BY id").fetchall()
            matched = 0
            for row in rows:
                r = result_from_row(row)
                campaign, phone = self._join(conn, r)
                if not campaign:
                    continue
                changed = self._exec(
                    conn, "UPDATE results SET campaign = ?, phone = ? WHERE id = ? AND campaign = ''",
                    (campaign, phone, r.id),
                ).rowcount
                if changed:
                    matched += 1
                    if r.optout and phone:
                        self._learn_optout(conn, phone, r.profile, r.optout, r.received_at)
                    self._spread(conn, r, campaign, phone)
            return matched

        return self._write(rejoin, bump=False)

    # --- lock ------------------------------------------------------------------
    def lock(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        info = new_lock_info(operation)

        def attempt() -> bool:
            with self._mutex:
                if self._held is not None:  # one handle never nests its own lock
                    return False
                if not self._write(lambda c: self._take_lock(c, info), bump=False):
                    return False
                self._held = info
                return True

        wait_for_lock(attempt, self.current_lock, timeout, self._where)
        try:
            yield info
        finally:
            self._release(info.id)

    def _release(self, lock_id: str) -> None:
        with self._mutex:
            if self._held is None or self._held.id != lock_id:
                return
            self._drain()  # queued outcomes are written under the lock that guarded their calls
            self._held = None
            self._drop_lock(lock_id)

    def _lock_row(self, conn: C) -> LockRow | None:
        row = self._exec(conn, self.LOCK_ROW_SQL).fetchone()
        if row is None:
            return None
        info = LockInfo(id=row[0], holder=row[1], operation=row[2], created_at=row[3])
        return LockRow(info, row[4] if len(row) > 4 else None)

    def current_lock(self) -> LockInfo | None:
        row = self._read(self._lock_row)
        if row is None:
            return None
        with self._mutex:
            if self._held is not None and self._held.id == row.info.id:
                return row.info
        return row.info if self._holder_alive(row) else None

    def force_unlock(self, lock_id: str, *, force: bool = False) -> bool:
        with self._mutex:
            if self._held is not None and self._held.id == lock_id:
                self._release(lock_id)
                return True
            row = self._read(self._lock_row)
            if row is None or row.info.id != lock_id:
                return False
            if self._holder_alive(row):
                if not force:
                    raise lock_held_error(row.info, self._where, self.FORCE_NOTE)
                self._end_holder(row)
            self._write(
                lambda c: self._exec(c, f"DELETE FROM {self.LOCK_TABLE} WHERE lock_id = ?", (lock_id,)), bump=False
            )
            return True

    def close(self) -> None:
        """Release a lock this store holds and close the connection (idempotent)."""
        with self._mutex:
            self._drain()
            if self._held is not None:
                with contextlib.suppress(StateError):
                    self._release(self._held.id)
            self._close_quietly()
            self._closed = True
