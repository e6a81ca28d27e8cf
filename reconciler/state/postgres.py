"""The shared state store: PostgreSQL through psycopg 3, for teams and CI runners.

The queries, the journal and the shape of the lock are the SQL core's
(``sql.py``); this module supplies PostgreSQL's dialect: ``%s`` placeholders,
the one-row ``meta`` table, COPY for bulk contacts, and the advisory lock.

Tables live in their own schema (``campaignctl`` unless told otherwise),
created only with ``create=True`` (``campaignctl state init``) and migrated on
open, under a transaction-level advisory lock so two runners opening a fresh
database at once do not race. Without ``create`` a missing schema, one
without the tables, or one without a lineage raises StateMissing and nothing
is created. One connection per store, in autocommit mode; every write is one
transaction that also bumps the serial row.

The apply lock is a session-level ``pg_try_advisory_lock`` on a key derived
from the schema name, polled with a growing delay: the server releases it by
itself when the holder's session ends (process killed, network gone). The
``lock_holder`` row only describes the holder for the error message; it counts
only while the backend it names still holds the advisory lock.

A lost connection is replaced before the next read or write (nothing of a
write is ever repeated once sent). Journal outcomes commit without waiting for
the disk, and a server crash can lose one after it was acknowledged: a
connection lost while one may not be on disk fences the handle
(``SqlStore._fence_lost_commits``), since writes on the new session could
outlive it.

The DSN is never shown: every psycopg error is turned into a StateError whose
message, and chained cause, have the password masked.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import select
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.errors import StateError
from reconciler.state.base import LockInfo
from reconciler.state.migrations import POSTGRES as MIGRATIONS
from reconciler.state.sql import CONTACT_COLUMNS, LockRow, SqlStore

__all__ = ["MIGRATIONS", "PostgresStore", "mask_dsn"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT = 10  # seconds
TERMINATE_WAIT = 5.0  # seconds force_unlock waits for a terminated holder's session to end

_HOLDER_BACKENDS = """
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = ?::bigint::oid AND l.objid = ?::bigint::oid
"""


def _secrets_of(dsn: str) -> list[str]:
    found: list[str] = []
    with contextlib.suppress(Exception):
        password = conninfo_to_dict(dsn).get("password")
        if password:
            found.append(str(password))
    with contextlib.suppress(ValueError):
        parts = urlsplit(dsn)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
    for match in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn, flags=re.IGNORECASE):
        found += [match.group(1), match.group(1).strip("'")]
    return sorted({s for s in found if s}, key=len, reverse=True)


def mask_dsn(text: str, dsn: str) -> str:
    """``text`` with the DSN's password (in any spelling) replaced by ``***``."""
    for secret in _secrets_of(dsn):
        text = text.replace(secret, "***")
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


# SQLSTATE classes whose messages quote the values involved: 22 data exception, 23 integrity constraint
# violation, 42 syntax error or access rule violation (LINE shows the statement, with its literals)
_QUOTING_CLASSES = ("22", "23", "42")
_MESSAGE_LIMIT = 300


def _shown(exc: psycopg.Error) -> str:
    """What a message may say of a driver error: one line, bounded, never a refused value (PostgreSQL puts
    those in DETAIL, LINE and CONTEXT, and data errors in the message itself)."""
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    if sqlstate[:2] in _QUOTING_CLASSES:
        diag_name = type(exc).__name__
        text = f"the database refused the statement ({diag_name}, SQLSTATE {sqlstate})"
    else:
        lines = (str(exc).strip() or type(exc).__name__).splitlines()
        text = " ".join(ln.strip() for ln in lines if not ln.lstrip().startswith(("DETAIL:", "CONTEXT:",
                                                                                    "LINE ", "HINT:", "^")))
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= _MESSAGE_LIMIT else clean[: _MESSAGE_LIMIT - 3] + "..."


class RedactedDatabaseError(Exception):
    """Stands in for a psycopg error whose text held the password."""


def _lock_key(schema: str) -> int:
    """A positive 63-bit advisory-lock key per schema."""
    digest = hashlib.blake2b(f"campaignctl state lock {schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


class PostgresStore(SqlStore[psycopg.Connection[Any]]):
    """StateStore in PostgreSQL schema ``schema`` of the database at ``dsn``;
    ``create`` makes the schema when it is not there, otherwise a missing one
    raises StateMissing."""

    PARAM = "%s"
    MIGRATIONS = MIGRATIONS
    LINEAGE_SQL = "SELECT lineage FROM meta WHERE one = 1"
    SERIAL_SQL = "SELECT serial FROM meta WHERE one = 1"
    BUMP_SQL = "UPDATE meta SET serial = serial + ? WHERE one = 1"
    LOCK_TABLE = "lock_holder"
    LOCK_ROW_SQL = "SELECT lock_id, holder, operation, created_at, backend_pid FROM lock_holder WHERE one = 1"
    FORCE_NOTE = " (ending that process's database session)"

    def __init__(self, dsn: str, schema: str = "campaignctl", *, create: bool = False) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StateError(f"invalid PostgreSQL schema name {schema!r}: use lower-case letters, digits and _")
        self._dsn = dsn
        self.schema = schema
        server = self._server(dsn)
        where = f"{server} schema {schema}" if server else f"schema {schema}"
        location = f"PostgreSQL schema {schema}" + (f" at {server}" if server else "")
        super().__init__(label=f"PostgreSQL state store {where}", where=where, location=location, described=location)
        self._key = _lock_key(schema)
        self._durable = True  # synchronous_commit = on
        with self._guard("cannot connect"):
            self._conninfo = dsn if "connect_timeout" in dsn else make_conninfo(dsn, connect_timeout=CONNECT_TIMEOUT)
            self._conn = self._open()
        try:
            with self._guard("cannot prepare the schema"):
                self._migrate(create)
        except StateError:
            self._close_quietly()
            raise

    def _open(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            # resolved at each use, so it takes effect once create makes the schema
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            # A journal intent must survive a server crash before the vendor call it precedes is sent:
            # a server (or role) default of synchronous_commit=off would acknowledge it unflushed.
            conn.execute("SET synchronous_commit TO on")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _server(dsn: str) -> str:
        """``host:port/db``: where the state is, without credentials ("" when unreadable)."""
        try:
            params = conninfo_to_dict(dsn)
        except Exception:
            return ""
        host = params.get("host") or "localhost"
        port = params.get("port") or 5432
        return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    # --- dialect -----------------------------------------------------------------
    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn psycopg errors into StateError, the password masked everywhere and no refused value quoted."""
        try:
            yield
        except psycopg.Error as exc:
            text = str(exc).strip() or type(exc).__name__
            safe = mask_dsn(text, self._dsn)
            cause: BaseException = exc if safe == text else RedactedDatabaseError(f"{type(exc).__name__}: {safe}")
            raise StateError(f"{self._label}: {doing}: {mask_dsn(_shown(exc), self._dsn)}") from cause

    @contextmanager
    def _transaction(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with conn.transaction():
            yield

    @contextmanager
    def _migration_transaction(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("migrate " + self.schema),))
            yield

    def _is_closed(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.closed or conn.broken

    # --- reconnecting ---------------------------------------------------------------
    def _can_reconnect(self) -> bool:
        return True

    def _stale(self, conn: psycopg.Connection[Any]) -> bool:
        """An idle connection with something to read was told goodbye (the server restarted or ended
        the session): confirm with a ping, which sends nothing that changes anything."""
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError, psycopg.Error):
            return True
        if not readable:
            return False
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            return True
        return False

    def _reconnect(self) -> None:
        """A new session in place of a lost one; a lock held on the old session (the server dropped
        it with the session) is taken again, or this handle is fenced: another run holds it now."""
        self._close_quietly()
        with self._guard("cannot connect again"):
            self._conn = self._open()
        self._durable = True  # a new session starts with synchronous_commit = on (_open)
        held = self._held
        if held is None:
            return
        with self._guard("cannot take the state lock again"):
            conn = self._conn
            ours = False
            if conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone() == (True,):
                row = conn.execute("SELECT lock_id FROM lock_holder WHERE one = 1").fetchone()
                ours = row is not None and row[0] == held.id
                if ours:
                    conn.execute("UPDATE lock_holder SET backend_pid = pg_backend_pid() WHERE lock_id = %s",
                                 (held.id,))
                else:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        if not ours:
            self._fenced = (f"{self._label}: lost the state lock {held.id} when the connection dropped, and "
                            "another run took it meanwhile; this run writes nothing more, so it sends nothing "
                            "more (run apply again)")
            raise StateError(self._fenced)

    def _container_exists(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is not None

    def _tables(self, conn: psycopg.Connection[Any]) -> set[str]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            (self.schema,),
        )
        return {r[0] for r in rows}

    def _create_container(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))

    def _init_meta(self, conn: psycopg.Connection[Any], lineage: str) -> None:
        conn.execute(
            "INSERT INTO meta (one, lineage, serial) VALUES (1, %s, 0)"
            " ON CONFLICT (one) DO UPDATE SET lineage = excluded.lineage WHERE meta.lineage = ''",
            (lineage,),
        )

    def _durability(self, conn: psycopg.Connection[Any], durable: bool) -> bool:
        # asynchronous commit: the WAL is flushed in order, by the next synchronous commit at the latest
        if durable != self._durable:
            conn.execute(f"SET synchronous_commit TO {'on' if durable else 'off'}")
            self._durable = durable
        return False

    @contextmanager
    def _savepoint(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with conn.transaction():  # nested: a savepoint psycopg keeps track of
            yield

    def _insert_id(self, conn: psycopg.Connection[Any], statement: str, params: Sequence[Any]) -> int:
        return int(self._scalar(conn, statement + " RETURNING id", params))

    def _write_contacts(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        """COPY straight into ``contacts`` when every row is new (the usual
        insert batch); when some already exist, COPY into a session temp table
        and upsert from it, leaving unchanged rows untouched."""
        unique = list({row[:3]: row for row in rows}.values())  # COPY cannot take a key twice

        def copy_into(table: str) -> None:
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({CONTACT_COLUMNS}) FROM STDIN") as copy:
                for row in unique:
                    copy.write_row(row)

        try:
            with conn.transaction():  # a savepoint: a clash undoes only this attempt
                copy_into("contacts")
            return
        except psycopg.errors.UniqueViolation:
            pass
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS contacts_in (LIKE contacts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        copy_into("contacts_in")
        conn.execute(
            f"INSERT INTO contacts ({CONTACT_COLUMNS}) SELECT {CONTACT_COLUMNS} FROM contacts_in"
            " ON CONFLICT (campaign, task_id, phone) DO UPDATE SET fingerprint = excluded.fingerprint,"
            " wave = excluded.wave, data_id = excluded.data_id, status = excluded.status, sent_at = excluded.sent_at"
            " WHERE (contacts.fingerprint, contacts.wave, contacts.data_id, contacts.status, contacts.sent_at)"
            " IS DISTINCT FROM (excluded.fingerprint, excluded.wave, excluded.data_id, excluded.status,"
            " excluded.sent_at)"
        )

    # --- lock --------------------------------------------------------------------
    def _holders(self, conn: psycopg.Connection[Any]) -> list[int]:
        """The sessions holding this schema's advisory lock."""
        parts = (self._key >> 32, self._key & 0xFFFF_FFFF)
        return [r[0] for r in self._exec(conn, _HOLDER_BACKENDS, parts).fetchall()]

    def _holder_alive(self, row: LockRow) -> bool:
        return row.backend in self._read(self._holders)

    def _take_lock(self, conn: psycopg.Connection[Any], info: LockInfo) -> bool:
        if not self._scalar(conn, "SELECT pg_try_advisory_lock(?)", (self._key,)):
            return False
        self._exec(
            conn,
            "INSERT INTO lock_holder (one, lock_id, holder, operation, created_at, backend_pid)"
            " VALUES (1, ?, ?, ?, ?, pg_backend_pid()) ON CONFLICT (one) DO UPDATE SET"
            " lock_id = excluded.lock_id, holder = excluded.holder, operation = excluded.operation,"
            " created_at = excluded.created_at, backend_pid = excluded.backend_pid",
            (info.id, info.holder, info.operation, info.created_at),
        )
        return True

    def _drop_lock(self, lock_id: str) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return  # the session is gone, and its advisory lock with it
        with contextlib.suppress(psycopg.Error):
            conn.execute("DELETE FROM lock_holder WHERE lock_id = %s", (lock_id,))
            conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))

    def _end_holder(self, row: LockRow) -> None:
        """End the holder's session: its advisory lock goes with it, and the
        hung run cannot write any more."""
        with self._guard(f"cannot end the session (backend {row.backend}) holding lock {row.info.id}"):
            self._connection().execute("SELECT pg_terminate_backend(%s)", (row.backend,))
        deadline = time.monotonic() + TERMINATE_WAIT
        while self._holder_alive(row):
            if time.monotonic() >= deadline:
                raise StateError(
                    f"the session holding lock {row.info.id} did not end within {TERMINATE_WAIT:.0f}s"
                )
            time.sleep(0.05)
