"""The shared state store: PostgreSQL through psycopg 3, for teams and CI runners.

Tables live in their own schema (``campaignctl`` unless told otherwise),
created only with ``create=True`` (``campaignctl state init``) and migrated on
open, under a transaction-level advisory lock so two runners opening a fresh
database at once do not race. Without ``create`` a missing schema, one
without the tables, or one without a lineage raises StateMissing and nothing
is created. One connection per
store, in autocommit mode, guarded by a re-entrant lock; every write is one
transaction that also bumps the serial row.

The apply lock is a session-level ``pg_try_advisory_lock`` on a key derived
from the schema name, polled with a growing delay: the server releases it by
itself when the holder's session ends (process killed, network gone). The
``lock_holder`` row only describes the holder for the error message; it counts
only while the backend it names still holds the advisory lock.

The DSN is never shown: every psycopg error is turned into a StateError whose
message, and chained cause, have the password masked.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
    dedupe_contacts,
    dump_json,
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

__all__ = ["MIGRATIONS", "PostgresStore", "mask_dsn"]

T = TypeVar("T")

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT = 10  # seconds
TERMINATE_WAIT = 5.0  # seconds force_unlock waits for a terminated holder's session to end

# Applied once each, in order, in one transaction; append, never edit.
# Key columns use the "C" collation so ordering matches the other backends.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (
            one integer PRIMARY KEY CHECK (one = 1),
            lineage text NOT NULL,
            serial bigint NOT NULL
        );
        CREATE TABLE campaigns (
            name text COLLATE "C" PRIMARY KEY,
            profile text NOT NULL,
            mode text NOT NULL,
            provider_type text NOT NULL DEFAULT ''
        );
        CREATE TABLE tasks (
            campaign text COLLATE "C" NOT NULL,
            task_id text COLLATE "C" NOT NULL,
            wave integer NOT NULL,
            profile text NOT NULL,
            remote_name text NOT NULL,
            settings_fingerprint text NOT NULL,
            started boolean NOT NULL DEFAULT false,
            deleted boolean NOT NULL DEFAULT false,
            created_at text NOT NULL DEFAULT '',
            PRIMARY KEY (campaign, task_id)
        );
        CREATE TABLE contacts (
            campaign text COLLATE "C" NOT NULL,
            task_id text COLLATE "C" NOT NULL,
            phone text COLLATE "C" NOT NULL,
            fingerprint text NOT NULL,
            wave integer NOT NULL DEFAULT 0,
            data_id text,
            status text NOT NULL,
            PRIMARY KEY (campaign, task_id, phone)
        );
        CREATE TABLE journal (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            campaign text NOT NULL,
            profile text NOT NULL,
            call text NOT NULL,
            task_id text NOT NULL,
            outcome text NOT NULL,
            request jsonb NOT NULL DEFAULT '{}',
            result jsonb NOT NULL DEFAULT '{}',
            detail text NOT NULL DEFAULT '',
            started_at text NOT NULL DEFAULT '',
            finished_at text NOT NULL DEFAULT ''
        );
        CREATE INDEX journal_campaign ON journal (campaign, id);
        CREATE INDEX journal_outcome ON journal (outcome, id);
        CREATE TABLE lock_holder (
            one integer PRIMARY KEY CHECK (one = 1),
            lock_id text NOT NULL,
            holder text NOT NULL,
            operation text NOT NULL,
            created_at text NOT NULL,
            backend_pid integer NOT NULL
        )
        """,
    ),
    (
        2,
        """
        ALTER TABLE tasks ADD COLUMN settings jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN run_state text NOT NULL DEFAULT ''
        """,
    ),
)

_CONTACT_COLUMNS = "campaign, task_id, phone, fingerprint, wave, data_id, status"
_JOURNAL_COLUMNS = "id, campaign, profile, call, task_id, outcome, request, result, detail, started_at, finished_at"
_HOLDER_BACKEND = """
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
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


class RedactedDatabaseError(Exception):
    """Stands in for a psycopg error whose text held the password."""


def _lock_key(schema: str) -> int:
    """A positive 63-bit advisory-lock key per schema."""
    digest = hashlib.blake2b(f"campaignctl state lock {schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


class PostgresStore:
    """StateStore in PostgreSQL schema ``schema`` of the database at ``dsn``."""

    def __init__(self, dsn: str, schema: str = "campaignctl", *, create: bool = False) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StateError(f"invalid PostgreSQL schema name {schema!r}: use lower-case letters, digits and _")
        self._dsn = dsn
        self.schema = schema
        self._where = self._describe(dsn, schema)
        self._key = _lock_key(schema)
        self._mutex = threading.RLock()
        self._held: LockInfo | None = None
        self._conn: psycopg.Connection[Any] | None = None
        with self._guard("cannot connect"):
            conninfo = dsn if "connect_timeout" in dsn else make_conninfo(dsn, connect_timeout=CONNECT_TIMEOUT)
            self._conn = psycopg.connect(conninfo, autocommit=True)
        try:
            with self._guard("cannot prepare the schema"):
                self._migrate(create)
        except StateError:
            self._close_quietly()
            raise

    @staticmethod
    def _describe(dsn: str, schema: str) -> str:
        """``host:port/db schema s``: where the state is, without credentials."""
        try:
            params = conninfo_to_dict(dsn)
        except Exception:
            return f"schema {schema}"
        host = params.get("host") or "localhost"
        port = params.get("port") or 5432
        return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''} schema {schema}"

    @property
    def location(self) -> str:
        """``PostgreSQL schema s at host:port/db``, as StateMissing names it."""
        server, _, _ = self._where.rpartition(" schema ")
        return f"PostgreSQL schema {self.schema}" + (f" at {server}" if server else "")

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------
    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn psycopg errors into StateError, the password masked everywhere."""
        try:
            yield
        except psycopg.Error as exc:
            text = str(exc).strip() or type(exc).__name__
            safe = mask_dsn(text, self._dsn)
            cause: BaseException = exc if safe == text else RedactedDatabaseError(f"{type(exc).__name__}: {safe}")
            raise StateError(f"PostgreSQL state store {self._where}: {doing}: {safe}") from cause

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise StateError(f"PostgreSQL state store {self._where} is closed")
        return self._conn

    def _read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        with self._mutex, self._guard("read failed"):
            return fn(self._connection())

    def _write(self, fn: Callable[[psycopg.Connection[Any]], T], bump: bool = True) -> T:
        with self._mutex, self._guard("write failed"):
            conn = self._connection()
            with conn.transaction():
                value = fn(conn)
                if bump:
                    conn.execute("UPDATE meta SET serial = serial + 1 WHERE one = 1")
            return value

    def _missing(self, conn: psycopg.Connection[Any]) -> str:
        """What an initialised state has and this schema lacks ("" when nothing)."""
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is None:
            return DOES_NOT_EXIST
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
                (self.schema,),
            )
        }
        if "schema_version" not in tables:
            return NO_TABLES if tables else IS_EMPTY
        name = sql.Identifier(self.schema)
        if not _one(conn.execute(sql.SQL("SELECT COUNT(*) FROM {}.schema_version").format(name))):
            return IS_EMPTY
        if "meta" not in tables:
            return NO_TABLES
        row = conn.execute(sql.SQL("SELECT lineage FROM {}.meta WHERE one = 1").format(name)).fetchone()
        return "" if row and row[0] else NO_LINEAGE

    def _migrate(self, create: bool) -> None:
        """Apply pending migrations; with ``create`` also make the schema, the
        tables and a lineage where there are none. Without it nothing is
        created: a state that is not initialised raises StateMissing."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("migrate " + self.schema),))
            missing = self._missing(conn)
            if missing and not create:
                raise state_missing(self.location, self.location, missing)
            if create:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at text NOT NULL)"
            )
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            latest = MIGRATIONS[-1][0]
            if current > latest:
                raise StateError(
                    f"PostgreSQL state store {self._where} has schema version {current}, newer than this "
                    f"campaignctl knows ({latest}); upgrade campaignctl"
                )
            for version, script in MIGRATIONS:
                if version <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)", (version, utc_now()))
            if create:
                conn.execute(
                    "INSERT INTO meta (one, lineage, serial) VALUES (1, %s, 0)"
                    " ON CONFLICT (one) DO UPDATE SET lineage = excluded.lineage WHERE meta.lineage = ''",
                    (str(uuid.uuid4()),),
                )
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def _close_quietly(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def schema_version(self) -> int:
        return self._read(lambda c: int(_one(c.execute("SELECT MAX(version) FROM schema_version"))))

    # --- reads -------------------------------------------------------------
    def lineage(self) -> str:
        return self._read(lambda c: str(_one(c.execute("SELECT lineage FROM meta WHERE one = 1"))))

    def serial(self) -> int:
        return self._read(lambda c: int(_one(c.execute("SELECT serial FROM meta WHERE one = 1"))))

    def campaigns(self) -> list[CampaignRecord]:
        rows = self._read(
            lambda c: c.execute("SELECT name, profile, mode, provider_type FROM campaigns ORDER BY name").fetchall()
        )
        return [CampaignRecord(name=r[0], profile=r[1], mode=r[2], provider_type=r[3]) for r in rows]

    def tasks(self, campaign: str | None = None) -> list[TaskRecord]:
        query = (
            "SELECT campaign, wave, profile, task_id, remote_name, settings_fingerprint, started, deleted, created_at,"
            " settings, run_state FROM tasks WHERE (%(c)s::text IS NULL OR campaign = %(c)s)"
            " ORDER BY campaign, wave, task_id"
        )
        rows = self._read(lambda c: c.execute(query, {"c": campaign}).fetchall())
        return [
            TaskRecord(
                campaign=r[0],
                wave=r[1],
                profile=r[2],
                task_id=r[3],
                remote_name=r[4],
                settings_fingerprint=r[5],
                started=r[6],
                deleted=r[7],
                created_at=r[8],
                settings=r[9],
                run_state=r[10],
            )
            for r in rows
        ]

    def contacts(self, campaign: str, task_id: str | None = None) -> list[ContactRecord]:
        query = (
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE campaign = %(c)s"
            " AND (%(t)s::text IS NULL OR task_id = %(t)s) ORDER BY wave, task_id, phone"
        )
        rows = self._read(lambda c: c.execute(query, {"c": campaign, "t": task_id}).fetchall())
        return [contact_from_row(r) for r in rows]

    def journal(
        self, campaign: str | None = None, outcomes: Sequence[CallOutcome] | None = None
    ) -> list[JournalEntry]:
        wanted = outcome_filter(outcomes)
        query = (
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE (%(c)s::text IS NULL OR campaign = %(c)s)"
            " AND (%(any)s OR outcome = ANY(%(o)s)) ORDER BY id"
        )
        params = {"c": campaign, "any": wanted is None, "o": wanted or []}
        rows = self._read(lambda c: c.execute(query, params).fetchall())
        return [
            JournalEntry(
                id=r[0],
                campaign=r[1],
                profile=r[2],
                call=r[3],
                task_id=r[4],
                outcome=CallOutcome(r[5]),
                request=r[6],
                result=r[7],
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
                "INSERT INTO campaigns (name, profile, mode, provider_type) VALUES (%s, %s, %s, %s)"
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
                " started, deleted, created_at, settings, run_state)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
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
                    r.started,
                    r.deleted,
                    r.created_at,
                    dump_json(r.settings),
                    r.run_state,
                ),
            )
        )

    def put_contacts(self, records: Sequence[ContactRecord]) -> None:
        """COPY straight into ``contacts`` when every row is new (the usual
        insert batch); when some already exist, COPY into a session temp table
        and upsert from it, leaving unchanged rows untouched."""
        if not records:
            return
        rows = [
            (r.campaign, r.task_id, r.phone, r.fingerprint, r.wave, r.data_id, ContactStatus(r.status).value)
            for r in dedupe_contacts(records)
        ]

        def copy_into(c: psycopg.Connection[Any], table: str) -> None:
            with c.cursor() as cur, cur.copy(f"COPY {table} ({_CONTACT_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        def upsert(c: psycopg.Connection[Any]) -> None:
            try:
                with c.transaction():  # a savepoint: a clash undoes only this attempt
                    copy_into(c, "contacts")
                return
            except psycopg.errors.UniqueViolation:
                pass
            c.execute(
                "CREATE TEMP TABLE IF NOT EXISTS contacts_in"
                " (LIKE contacts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            copy_into(c, "contacts_in")
            c.execute(
                f"INSERT INTO contacts ({_CONTACT_COLUMNS}) SELECT {_CONTACT_COLUMNS} FROM contacts_in"
                " ON CONFLICT (campaign, task_id, phone) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " wave = excluded.wave, data_id = excluded.data_id, status = excluded.status"
                " WHERE (contacts.fingerprint, contacts.wave, contacts.data_id, contacts.status)"
                " IS DISTINCT FROM (excluded.fingerprint, excluded.wave, excluded.data_id, excluded.status)"
            )

        self._write(upsert)

    def delete_contacts(self, campaign: str, task_id: str, phones: Sequence[str]) -> None:
        if not phones:
            return
        self._write(
            lambda c: c.execute(
                "DELETE FROM contacts WHERE campaign = %s AND task_id = %s AND phone = ANY(%s)",
                (campaign, task_id, list(phones)),
            )
        )

    def forget_campaign(self, campaign: str) -> None:
        def forget(c: psycopg.Connection[Any]) -> None:
            c.execute("DELETE FROM contacts WHERE campaign = %s", (campaign,))
            c.execute("DELETE FROM tasks WHERE campaign = %s", (campaign,))
            c.execute("DELETE FROM campaigns WHERE name = %s", (campaign,))

        self._write(forget)

    def rename_campaign(self, old: str, new: str) -> None:
        def known(c: psycopg.Connection[Any], name: str) -> bool:
            return bool(
                _one(
                    c.execute(
                        "SELECT EXISTS (SELECT 1 FROM campaigns WHERE name = %(n)s)"
                        " OR EXISTS (SELECT 1 FROM tasks WHERE campaign = %(n)s)"
                        " OR EXISTS (SELECT 1 FROM contacts WHERE campaign = %(n)s)",
                        {"n": name},
                    )
                )
            )

        def rename(c: psycopg.Connection[Any]) -> None:
            check_rename(old, new, old_known=known(c, old), new_taken=known(c, new))
            c.execute("UPDATE campaigns SET name = %s WHERE name = %s", (new, old))
            c.execute("UPDATE tasks SET campaign = %s WHERE campaign = %s", (new, old))
            c.execute("UPDATE contacts SET campaign = %s WHERE campaign = %s", (new, old))
            c.execute("UPDATE journal SET campaign = %s WHERE campaign = %s", (new, old))

        self._write(rename)

    # The journal calls run around every vendor call, so each is one
    # statement (one round trip, one implicit transaction) that also bumps
    # the serial in a data-modifying WITH, which runs exactly once.
    def begin_call(
        self, campaign: str, profile: str, call: str, task_id: str, request: Mapping[str, Any]
    ) -> int:
        params = (campaign, profile, call, task_id, CallOutcome.PENDING.value, dump_json(request), utc_now())
        with self._mutex, self._guard("write failed"):
            cursor = self._connection().execute(
                "WITH bump AS (UPDATE meta SET serial = serial + 1 WHERE one = 1)"
                " INSERT INTO journal (campaign, profile, call, task_id, outcome, request, started_at)"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id",
                params,
            )
            return int(_one(cursor))

    def end_call(
        self,
        entry_id: int,
        outcome: CallOutcome,
        detail: str = "",
        result: Mapping[str, Any] | None = None,
    ) -> None:
        params = (entry_id, CallOutcome(outcome).value, clean_text(detail), dump_json(result), utc_now(), entry_id)
        with self._mutex, self._guard("write failed"):
            cursor = self._connection().execute(
                "WITH bump AS (UPDATE meta SET serial = serial + 1"
                "  WHERE one = 1 AND EXISTS (SELECT 1 FROM journal WHERE id = %s))"
                " UPDATE journal SET outcome = %s, detail = %s, result = %s::jsonb, finished_at = %s WHERE id = %s",
                params,
            )
            if cursor.rowcount == 0:
                raise StateError(f"journal entry {entry_id} does not exist")

    # --- lock --------------------------------------------------------------
    def _key_parts(self) -> tuple[int, int]:
        return self._key >> 32, self._key & 0xFFFF_FFFF

    def lock(self, operation: str, timeout: float) -> AbstractContextManager[LockInfo]:
        return self._lock(operation, timeout)

    @contextmanager
    def _lock(self, operation: str, timeout: float) -> Iterator[LockInfo]:
        info = new_lock_info(operation)

        def attempt() -> bool:
            with self._mutex:
                if self._held is not None:  # advisory locks nest per session; ours must not
                    return False

                def take(c: psycopg.Connection[Any]) -> bool:
                    if not _one(c.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))):
                        return False
                    c.execute(
                        "INSERT INTO lock_holder (one, lock_id, holder, operation, created_at, backend_pid)"
                        " VALUES (1, %s, %s, %s, %s, pg_backend_pid()) ON CONFLICT (one) DO UPDATE SET"
                        " lock_id = excluded.lock_id, holder = excluded.holder, operation = excluded.operation,"
                        " created_at = excluded.created_at, backend_pid = excluded.backend_pid",
                        (info.id, info.holder, info.operation, info.created_at),
                    )
                    return True

                if self._write(take, bump=False):
                    self._held = info
                    return True
                return False

        wait_for_lock(attempt, self.current_lock, timeout, self._where)
        try:
            yield info
        finally:
            self._release(info.id)

    def _release(self, lock_id: str) -> None:
        with self._mutex:
            if self._held is None or self._held.id != lock_id:
                return
            self._held = None
            conn = self._conn
            if conn is None or conn.closed:
                return  # the session is gone, and its advisory lock with it
            with contextlib.suppress(psycopg.Error):
                conn.execute("DELETE FROM lock_holder WHERE lock_id = %s", (lock_id,))
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))

    def current_lock(self) -> LockInfo | None:
        def read(c: psycopg.Connection[Any]) -> LockInfo | None:
            row = c.execute(
                "SELECT lock_id, holder, operation, created_at FROM lock_holder"
                f" WHERE one = 1 AND backend_pid IN ({_HOLDER_BACKEND})",
                self._key_parts(),
            ).fetchone()
            return LockInfo(id=row[0], holder=row[1], operation=row[2], created_at=row[3]) if row else None

        return self._read(read)

    def force_unlock(self, lock_id: str, *, force: bool = False) -> bool:
        """Release ``lock_id``. A live holder's lock only with ``force``: its
        session is terminated (its advisory lock goes with it, and the hung
        run cannot write any more)."""
        with self._mutex:
            if self._held is not None and self._held.id == lock_id:
                self._release(lock_id)
                return True
            row = self._read(
                lambda c: c.execute(
                    "SELECT lock_id, holder, operation, created_at, backend_pid FROM lock_holder WHERE one = 1"
                ).fetchone()
            )
            if row is None or row[0] != lock_id:
                return False
            pid = row[4]
            holders = self._read(lambda c: [r[0] for r in c.execute(_HOLDER_BACKEND, self._key_parts())])
            if pid in holders:
                if not force:
                    info = LockInfo(id=row[0], holder=row[1], operation=row[2], created_at=row[3])
                    raise lock_held_error(info, self._where, " (ending that process's database session)")
                with self._guard(f"cannot end the session (backend {pid}) holding lock {lock_id}"):
                    self._connection().execute("SELECT pg_terminate_backend(%s)", (pid,))
                deadline = time.monotonic() + TERMINATE_WAIT
                while pid in holders and time.monotonic() < deadline:
                    time.sleep(0.05)
                    holders = self._read(lambda c: [r[0] for r in c.execute(_HOLDER_BACKEND, self._key_parts())])
                if pid in holders:
                    raise StateError(f"the session holding lock {lock_id} did not end within {TERMINATE_WAIT:.0f}s")
            self._write(lambda c: c.execute("DELETE FROM lock_holder WHERE lock_id = %s", (lock_id,)), bump=False)
            return True

    def close(self) -> None:
        """Release a lock this store holds and close the connection (idempotent)."""
        with self._mutex:
            if self._held is not None:
                self._release(self._held.id)
            self._close_quietly()


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    if row is None:
        raise StateError("the state store is missing its metadata row")
    return row[0]
