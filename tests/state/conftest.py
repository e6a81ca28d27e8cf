"""One ``backend`` fixture for every state store: memory, sqlite, postgres.

PostgreSQL tests use a fresh schema per test (unique per xdist worker and
test), dropped afterwards, so tests never see each other's rows or locks.
They fail -- never skip -- when the server is missing.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from reconciler.state.base import StateStore
from reconciler.state.memory import MemoryBacking, MemoryStore
from reconciler.state.postgres import PostgresStore, mask_dsn
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
    the same one after a restart); ``fresh()`` gives an unrelated store;
    ``child_script`` is Python a subprocess runs to open the same state.
    """

    name: str
    open: Callable[[], StateStore]
    fresh: Callable[[], StateStore]
    child_script: str = ""
    child_env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path, pg_dsn)


@pytest.fixture(params=PERSISTENT)
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path, pg_dsn)


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
        made = Backend(name, track(lambda: MemoryStore(backing)), track(MemoryStore))
    elif name == "sqlite":
        path = tmp_path / "state" / "state.db"
        others = iter(range(1_000))
        made = Backend(
            name,
            track(lambda: SqliteStore(path)),
            track(lambda: SqliteStore(tmp_path / f"other{next(others)}.db")),
            child_script="from reconciler.state.sqlite import SqliteStore as S\nstore = S(Path(env['STATE_PATH']))",
            child_env={**env, "STATE_PATH": str(path)},
        )
    else:
        require_postgres(pg_dsn)
        schema = new_schema()
        schemas.append(schema)

        def fresh() -> StateStore:
            schemas.append(new_schema())
            return PostgresStore(pg_dsn, schemas[-1])

        made = Backend(
            name,
            track(lambda: PostgresStore(pg_dsn, schema)),
            track(fresh),
            child_script=(
                "from reconciler.state.postgres import PostgresStore as S\n"
                "store = S(env['STATE_DSN'], env['STATE_SCHEMA'])"
            ),
            child_env={**env, "STATE_DSN": pg_dsn, "STATE_SCHEMA": schema},
        )
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
