"""One ``backend`` fixture for every state store: memory, sqlite, postgres.

PostgreSQL tests use a fresh schema per test (unique per xdist worker and
test), dropped afterwards, so tests never see each other's rows or locks.
They fail -- never skip -- when the server is missing.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from reconciler.state.base import StateStore
from reconciler.state.memory import MemoryBacking, MemoryStore
from reconciler.state.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from reconciler.state.postgres import PostgresStore, mask_dsn
from reconciler.state.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from reconciler.state.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ["memory", "sqlite", "postgres"]
PERSISTENT = ["sqlite", "postgres"]


def require_postgres(dsn: str) -> None:
    """Fail (never skip) with a clear way out when the server is not there."""
    problem = ""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problem = " ".join(mask_dsn(str(exc), dsn).split())
    if problem:  # failed outside the except block so the driver's error is not chained into the report
        pytest.fail(
            f"PostgreSQL is not reachable at {mask_dsn(dsn, dsn)} ({problem}); "
            "run scripts/bootstrap to install and start it (or set CAMPAIGNCTL_TEST_PG_DSN)",
            pytrace=False,
        )


def new_schema() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"test_{worker}_{uuid.uuid4().hex[:12]}"


def drop_schemas(dsn: str, schemas: list[str]) -> None:
    if not schemas:
        return
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Backend:
    """How a test opens stores of one kind.

    ``open()`` gives another handle on the same state (a second process, or
    the same one after a restart), creating it on first use as ``state init``
    would; ``open_existing()`` opens that same state without creating it
    (what plan and apply do); ``fresh()`` gives an unrelated store;
    ``child_script`` is Python a subprocess runs to open the same state.

    ``spoil(kind)`` leaves the state's location "missing" (untouched),
    "empty" (an empty file / a schema without tables), "truncated" (an
    initialised state whose file is cut to 0 bytes / whose tables are
    emptied) or "no-lineage" (tables in place, the lineage gone);
    ``make_v1()`` builds a schema-version-1 state with one record of each
    kind straight from migration 1's SQL; ``footprint()`` describes what is
    at the location, to check a refused open left it as it was.
    """

    name: str
    open: Callable[[], StateStore]
    fresh: Callable[[], StateStore]
    open_existing: Callable[[], StateStore]
    spoil: Callable[[str], None]
    make_v1: Callable[[], None] = lambda: None
    footprint: Callable[[], object] = lambda: None
    location: str = "the in-memory state"  # what a StateMissing message names
    child_script: str = ""
    child_env: dict[str, str] = field(default_factory=dict)


# One record of each kind, as a version-1 store holds them.
V1_LINEAGE = "0f0e0d0c-v1-lineage"
V1_SERIAL = 4
V1_ROWS: dict[str, tuple[object, ...]] = {
    "campaigns": ("spring", "xf", "task", "xfyeta"),
    "tasks": ("spring", "t1", 1, "xf", "cc-spring", "s1", True, False, "2026-01-01T00:00:00Z"),
    "contacts": ("spring", "t1", "13800000000", "fp0", 1, "d0", "sent"),
    "journal": ("spring", "xf", "create", "", "ok", '{"name":"cc-spring"}', '{"task_id":"t1"}', "",
                "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"),
}
V1_COLUMNS = {
    "campaigns": "name, profile, mode, provider_type",
    "tasks": "campaign, task_id, wave, profile, remote_name, settings_fingerprint, started, deleted, created_at",
    "contacts": "campaign, task_id, phone, fingerprint, wave, data_id, status",
    "journal": "campaign, profile, call, task_id, outcome, request, result, detail, started_at, finished_at",
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path, pg_dsn)


@pytest.fixture(params=PERSISTENT)
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path, pg_dsn)


def _sqlite_backend(tmp_path: Path, track: Callable[[Callable[[], StateStore]], Callable[[], StateStore]],
                    env: dict[str, str]) -> Backend:
    path = tmp_path / "state" / "state.db"
    others = iter(range(1_000))

    def spoil(kind: str) -> None:
        if kind == "missing":
            return
        if kind == "empty":  # a SQLite database without a single table
            path.parent.mkdir(parents=True)
            with closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
            assert path.stat().st_size > 0
            return
        SqliteStore(path, create=True).close()
        if kind == "truncated":
            path.write_bytes(b"")
        if kind == "no-lineage":
            with closing(sqlite3.connect(path)) as conn, conn:
                conn.execute("DELETE FROM meta WHERE key = 'lineage'")

    def make_v1() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.executescript(SQLITE_MIGRATIONS[0][1])
            conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            conn.execute("INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00Z')")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [("lineage", V1_LINEAGE), ("serial", str(V1_SERIAL))])
            for table, row in V1_ROWS.items():
                marks = ", ".join("?" * len(row))
                conn.execute(f"INSERT INTO {table} ({V1_COLUMNS[table]}) VALUES ({marks})", row)

    def footprint() -> object:
        if not path.parent.exists():
            return None
        return sorted((p.name, p.stat().st_size) for p in path.parent.iterdir())

    return Backend(
        "sqlite",
        track(lambda: SqliteStore(path, create=True)),
        track(lambda: SqliteStore(tmp_path / f"other{next(others)}.db", create=True)),
        track(lambda: SqliteStore(path)),
        spoil,
        make_v1,
        footprint,
        str(path),
        child_script=(
            "from reconciler.state.sqlite import SqliteStore as S\n"
            "store = S(Path(env['STATE_PATH']), create=True)"
        ),
        child_env={**env, "STATE_PATH": str(path)},
    )


def _postgres_backend(pg_dsn: str, schemas: list[str],
                      track: Callable[[Callable[[], StateStore]], Callable[[], StateStore]],
                      env: dict[str, str]) -> Backend:
    require_postgres(pg_dsn)
    schema = new_schema()
    schemas.append(schema)

    def fresh() -> StateStore:
        schemas.append(new_schema())
        return PostgresStore(pg_dsn, schemas[-1], create=True)

    def run(*statements: str | sql.Composed, params: tuple[object, ...] = ()) -> None:
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn, conn.transaction():
            conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
            for statement in statements:
                conn.execute(statement, params or None)

    def spoil(kind: str) -> None:
        if kind == "empty":
            run(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        if kind in ("truncated", "no-lineage"):
            PostgresStore(pg_dsn, schema, create=True).close()
        if kind == "truncated":
            run("TRUNCATE schema_version, meta, campaigns, tasks, contacts, journal, lock_holder, source_digests,"
                " converged, journal_phones")
        if kind == "no-lineage":
            run("DELETE FROM meta")

    def make_v1() -> None:
        statements: list[str | sql.Composed] = [sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))]
        statements += [
            sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)),
            *[s for s in POSTGRES_MIGRATIONS[0][1].split(";") if s.strip()],
            "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at text NOT NULL)",
            "INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00Z')",
        ]
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn, conn.transaction():
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES (1, %s, %s)", (V1_LINEAGE, V1_SERIAL))
            for table, row in V1_ROWS.items():
                marks = ", ".join(["%s"] * len(row))
                conn.execute(f"INSERT INTO {table} ({V1_COLUMNS[table]}) VALUES ({marks})", row)  # type: ignore[arg-type]

    def footprint() -> object:
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
                return None
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
            ).fetchall()
            return [
                (t, conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(t))).fetchone())
                for (t,) in tables
            ]

    return Backend(
        "postgres",
        track(lambda: PostgresStore(pg_dsn, schema, create=True)),
        track(fresh),
        track(lambda: PostgresStore(pg_dsn, schema)),
        spoil,
        make_v1,
        footprint,
        f"PostgreSQL schema {schema}",
        child_script=(
            "from reconciler.state.postgres import PostgresStore as S\n"
            "store = S(env['STATE_DSN'], env['STATE_SCHEMA'], create=True)"
        ),
        child_env={**env, "STATE_DSN": pg_dsn, "STATE_SCHEMA": schema},
    )


def _make_backend(name: str, tmp_path: Path, pg_dsn: str) -> Iterator[Backend]:
    opened: list[StateStore] = []

    def track(make: Callable[[], StateStore]) -> Callable[[], StateStore]:
        def opener() -> StateStore:
            store = make()
            opened.append(store)
            return store

        return opener

    schemas: list[str] = []
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if name == "memory":
        backing = MemoryBacking()

        def spoil(kind: str) -> None:
            assert kind == "no-lineage", f"an in-memory state cannot be {kind}"
            backing.lineage = ""

        made = Backend(
            name,
            track(lambda: MemoryStore(backing, create=True)),
            track(MemoryStore),
            track(lambda: MemoryStore(backing)),
            spoil,
        )
    elif name == "sqlite":
        made = _sqlite_backend(tmp_path, track, env)
    else:
        made = _postgres_backend(pg_dsn, schemas, track, env)
    try:
        yield made
    finally:
        for store in opened:
            store.close()
        drop_schemas(pg_dsn, schemas)


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.open()


PYTHON = sys.executable
