"""plan / apply with the shared PostgreSQL state backend (a real server on loopback)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.state.postgres import PostgresStore
from tests.e2e.conftest import campaigns, init_state, phones, project, run_cli, write_csv, xf_calls, xf_direct, xf_task


def drop_database(dsn: str, name: str, timeout: float = 30.0) -> None:
    """Drop ``name`` as the test role: end this role's own sessions on it (a role may always end those;
    ``WITH (FORCE)`` needs the right to end anyone's), wait for them to go, then drop; the server ends
    autovacuum workers by itself."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                         " AND usename = current_user AND pid <> pg_backend_pid()", (name,))
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture
def fresh_db(pg_dsn: str) -> Iterator[str]:
    """A database of its own for this test, dropped afterwards."""
    name = f"campaignctl_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_dsn.rpartition("/")
    yield f"{base}/{name}"
    drop_database(pg_dsn, name)


def test_apply_with_postgres_state_and_lock(tmp_path: Path, xfyeta: Any, fresh_db: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGNCTL_STATE_DSN", fresh_db)
    d = project(tmp_path, xf_url=xfyeta.base_url, init=False)
    text = (d / "campaignctl.yaml").read_text(encoding="utf-8")
    head, _, _ = text.partition("state:\n")
    (d / "campaignctl.yaml").write_text(head + "state:\n  backend: postgres\n  dsn_env: CAMPAIGNCTL_STATE_DSN\n",
                                        encoding="utf-8")
    write_csv(d / "contacts/a.csv", phones(60))
    write_csv(d / "contacts/b.csv", phones(3, 9000))
    campaigns(d, xf_task("spring", "../contacts/a.csv"), xf_direct("survey", "../contacts/b.csv"))
    assert run_cli("apply", str(d), "--auto-approve").exit_code == 1  # no state yet: nothing sent
    assert xf_calls(xfyeta)["task/create"] == 0
    init_state(d)

    res = run_cli("apply", str(d), "--auto-approve")
    assert res.exit_code == 0, res.output
    assert xf_calls(xfyeta)["task/insert"] == 2
    assert run_cli("plan", str(d), "--detailed-exitcode").exit_code == 0

    # Another runner holding the lock makes apply wait, then fail naming the holder.
    other = PostgresStore(fresh_db)
    try:
        with other.lock("apply", 5) as held:
            blocked = run_cli("apply", str(d), "--auto-approve", "--lock-timeout", "0.5")
            assert blocked.exit_code == 1 and held.id in blocked.stderr, blocked.output
    finally:
        other.close()
    listing = run_cli("state", "list", "--dir", str(d))
    assert listing.exit_code == 0 and "spring" in listing.stdout and "60 sent" in listing.stdout
    assert fresh_db.rpartition("@")[0] not in listing.output
