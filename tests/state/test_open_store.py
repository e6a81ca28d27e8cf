"""open_store: the backend the settings name, and driver errors as StateError without secrets."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateMissing
from reconciler.model import StateSettings
from reconciler.state import open_store
from reconciler.state.memory import MemoryStore
from reconciler.state.postgres import PostgresStore
from reconciler.state.sqlite import SqliteStore
from tests.state.conftest import drop_schemas, require_postgres


@pytest.mark.parametrize("create", [False, True])
def test_memory_is_a_new_initialised_store(create: bool) -> None:
    store = open_store(StateSettings(backend="memory"), {}, create=create)
    assert isinstance(store, MemoryStore)
    assert store.serial() == 0 and store.lineage()


def test_sqlite_create_makes_the_file_and_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    store = open_store(StateSettings(backend="sqlite", path=path), {}, create=True)
    try:
        assert isinstance(store, SqliteStore)
        assert path.is_file()
        lineage = store.lineage()
    finally:
        store.close()
    again = open_store(StateSettings(backend="sqlite", path=path), {})
    try:
        assert again.lineage() == lineage
    finally:
        again.close()


def test_sqlite_without_create_never_makes_a_state(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    with pytest.raises(StateMissing, match=f"state database {path} does not exist"):
        open_store(StateSettings(backend="sqlite", path=path), {})
    assert list(tmp_path.iterdir()) == []


def test_sqlite_path_with_a_nul_byte(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="NUL byte"):
        open_store(StateSettings(backend="sqlite", path=tmp_path / "a\x00b.db"), {}, create=True)


def test_sqlite_without_path_is_a_state_error() -> None:
    with pytest.raises(StateError, match="needs a path"):
        open_store(StateSettings(backend="sqlite", path=None), {})


def test_sqlite_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    for create in (False, True):
        with pytest.raises(StateError, match=r"state\.db.*not a SQLite database") as caught:
            open_store(StateSettings(backend="sqlite", path=path), {}, create=create)
        assert not isinstance(caught.value, StateMissing)


def test_sqlite_in_a_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot create the state directory"):
        open_store(StateSettings(backend="sqlite", path=blocker / "sub" / "state.db"), {}, create=True)


@pytest.mark.parametrize("env", [{}, {"TEAM_STATE_DSN": "  "}])
def test_postgres_names_the_missing_variable(env: dict[str, str]) -> None:
    with pytest.raises(StateError, match="TEAM_STATE_DSN"):
        open_store(StateSettings(backend="postgres", dsn_env="TEAM_STATE_DSN"), env)


def test_postgres_without_dsn_env() -> None:
    with pytest.raises(StateError, match="dsn_env"):
        open_store(StateSettings(backend="postgres"), {})


def test_postgres_opens_the_default_schema(pg_dsn: str) -> None:
    require_postgres(pg_dsn)
    store = open_store(StateSettings(backend="postgres", dsn_env="STATE_DSN"), {"STATE_DSN": pg_dsn}, create=True)
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema == "campaignctl"
        assert store.lineage()
    finally:
        store.close()
    # left in place on purpose: the default schema is what a developer's own runs use


@pytest.mark.parametrize(
    ("dsn", "password"),
    [
        # libpq quotes the raw text of a bad URI in its message
        ("postgresql://campaignctl:pa ss-w0rd@127.0.0.1:5432/campaignctl_test", "pa ss-w0rd"),
        # nothing listens on port 1: a connection error
        ("postgresql://campaignctl:Sup3r-Secret@127.0.0.1:1/campaignctl_test", "Sup3r-Secret"),
        ("host=127.0.0.1 port=5432 dbname=campaignctl_test user=campaignctl password=Wr0ngPass", "Wr0ngPass"),
        ("host=127.0.0.1 port=5432 password='quoted secret' bogus=1", "quoted secret"),
    ],
)
def test_postgres_errors_never_show_the_password(dsn: str, password: str) -> None:
    with pytest.raises(StateError) as caught:
        open_store(StateSettings(backend="postgres", dsn_env="STATE_DSN"), {"STATE_DSN": dsn})
    err = caught.value
    assert "PostgreSQL state store" in str(err)
    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__
    assert len(chain) >= 2  # the driver's error is chained for the debug log
    for exc in chain:
        assert password not in str(exc)
        assert password not in repr(exc)
        assert all(password not in str(arg) for arg in exc.args)
    # what the debug log would get
    assert password not in "".join(traceback.format_exception(err))


def test_postgres_without_create_never_makes_a_schema(pg_dsn: str) -> None:
    require_postgres(pg_dsn)
    schema = "test_absent_" + __import__("uuid").uuid4().hex[:8]
    with pytest.raises(StateMissing) as caught:
        PostgresStore(pg_dsn, schema)
    assert str(caught.value).startswith(f"PostgreSQL schema {schema} at 127.0.0.1:5432/campaignctl_test does not exist")
    assert "campaignctl:campaignctl" not in str(caught.value)
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None


def test_postgres_rejects_an_unsafe_schema_name(pg_dsn: str) -> None:
    with pytest.raises(StateError, match="invalid PostgreSQL schema name"):
        PostgresStore(pg_dsn, 'x"; DROP SCHEMA public; --')


def test_postgres_repr_has_no_password(pg_dsn: str) -> None:
    require_postgres(pg_dsn)
    schema = "test_repr_" + __import__("uuid").uuid4().hex[:8]
    store = PostgresStore(pg_dsn, schema, create=True)
    try:
        assert "campaignctl:campaignctl@" not in repr(store)
        assert schema in repr(store)
    finally:
        store.close()
        drop_schemas(pg_dsn, [schema])
