"""What only the PostgreSQL store promises: its own schema, migrations, fencing, masking."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from reconciler.errors import StateError, StateMissing
from reconciler.state.base import CampaignRecord
from reconciler.state.postgres import MIGRATIONS, PostgresStore, mask_dsn
from tests.state.conftest import drop_schemas, new_schema, require_postgres


@pytest.fixture
def schema(pg_dsn: str) -> Iterator[str]:
    require_postgres(pg_dsn)
    name = new_schema()
    yield name
    drop_schemas(pg_dsn, [name])


def test_tables_live_in_their_own_schema(pg_dsn: str, schema: str) -> None:
    with PostgresStore(pg_dsn, schema, create=True) as store:
        assert store.schema_version() == MIGRATIONS[-1][0]
    with psycopg.connect(pg_dsn) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            )
        }
    assert tables == {"schema_version", "meta", "campaigns", "tasks", "contacts", "journal", "lock_holder", "results",
                      "optouts", "source_digests", "converged", "journal_phones", "phone_lists"}


def test_a_newer_schema_is_refused(pg_dsn: str, schema: str) -> None:
    PostgresStore(pg_dsn, schema, create=True).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(f"INSERT INTO {schema}.schema_version (version, applied_at) VALUES (999, 'later')")
    with pytest.raises(StateError, match="schema version 999, newer"):
        PostgresStore(pg_dsn, schema)


def test_first_open_from_many_threads_at_once_creates_one_lineage(pg_dsn: str, schema: str) -> None:
    lineages: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(5)

    def open_one() -> None:
        try:
            barrier.wait(10)
            with PostgresStore(pg_dsn, schema, create=True) as store:
                lineages.append(store.lineage())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(lineages) == 5 and len(set(lineages)) == 1


def test_force_unlock_ends_the_live_holders_session(pg_dsn: str, schema: str) -> None:
    holder, admin = PostgresStore(pg_dsn, schema, create=True), PostgresStore(pg_dsn, schema, create=True)
    try:
        manager = holder.lock("apply", 0)
        info = manager.__enter__()
        assert admin.force_unlock(info.id, force=True)
        with pytest.raises(StateError):  # the hung run is fenced off: it cannot write any more
            holder.put_campaign(CampaignRecord("late", "xf", "task"))
        manager.__exit__(None, None, None)  # and finishing it is quiet
        with admin.lock("apply", 0) as taken:
            assert admin.current_lock() == taken
        assert admin.campaigns() == []
    finally:
        holder.close()
        admin.close()


def test_a_stale_holder_row_is_not_reported(pg_dsn: str, schema: str) -> None:
    with PostgresStore(pg_dsn, schema, create=True) as store:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(
                f"INSERT INTO {schema}.lock_holder (one, lock_id, holder, operation, created_at, backend_pid)"
                " VALUES (1, 'dead-run', 'bob@ci pid 1', 'apply', '2026-01-01T00:00:00Z', 1)"
            )
        assert store.current_lock() is None
        with store.lock("apply", 0) as info:
            assert store.current_lock() == info


def test_a_schema_with_other_tables_only_is_missing_and_untouched(pg_dsn: str, schema: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.notes (text text)")
    with pytest.raises(StateMissing) as caught:
        PostgresStore(pg_dsn, schema)
    err = caught.value
    assert err.missing == "has no campaignctl tables"
    assert str(err).startswith(f"PostgreSQL schema {schema} at 127.0.0.1:5432/campaignctl_test has no campaignctl")
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    assert tables == [("notes",)]


@pytest.mark.parametrize(
    ("text", "dsn", "expected"),
    [
        ("bad dsn postgresql://u:s3cr%40t@h/db", "postgresql://u:s3cr%40t@h/db", "bad dsn postgresql://u:***@h/db"),
        ("got s3cr@t here", "postgresql://u:s3cr%40t@h/db", "got *** here"),
        ("opts host=h password=abc dbname=x", "host=h password=abc dbname=x", "opts host=h password=*** dbname=x"),
        ("in 'two words'", "host=h password='two words'", "in ***"),
        ("no secret here", "host=h dbname=x", "no secret here"),
        ("other://x:y@z", "unparseable ::: dsn", "other://x:***@z"),
    ],
)
def test_mask_dsn(text: str, dsn: str, expected: str) -> None:
    assert mask_dsn(text, dsn) == expected


def test_the_data_id_index_holds_only_the_contacts_that_have_one(pg_dsn: str, schema: str) -> None:
    """As on SQLite (``test_sqlite_store``): a task insert's rows, which have no data id, are not indexed by it."""
    PostgresStore(pg_dsn, schema, create=True).close()
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'contacts_data_id'",
                           (schema,)).fetchone()
    assert row is not None and row[0].endswith("WHERE (data_id IS NOT NULL)")
