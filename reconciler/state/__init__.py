"""State stores: pick and open the backend the project settings name.

The backends import their database drivers lazily, so a project on SQLite
never loads psycopg.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from reconciler.errors import StateError
from reconciler.model import StateSettings
from reconciler.state.base import (
    CallOutcome,
    CampaignRecord,
    ContactRecord,
    ContactStatus,
    JournalEntry,
    LockInfo,
    StateStore,
    TaskRecord,
)

__all__ = [
    "CallOutcome",
    "CampaignRecord",
    "ContactRecord",
    "ContactStatus",
    "JournalEntry",
    "LockInfo",
    "StateStore",
    "TaskRecord",
    "open_store",
]


def open_store(settings: StateSettings, env: Mapping[str, str]) -> StateStore:
    """Open (creating if needed) the store ``settings`` describe.

    sqlite takes ``settings.path``; postgres reads its DSN from
    ``env[settings.dsn_env]``; memory starts empty. Driver errors come out
    as StateError, never with the DSN in them.
    """
    if settings.backend == "memory":
        from reconciler.state.memory import MemoryStore

        return MemoryStore()
    if settings.backend == "sqlite":
        if settings.path is None:
            raise StateError("state: the sqlite backend needs a path")
        from reconciler.state.sqlite import SqliteStore

        try:
            return SqliteStore(settings.path)
        except sqlite3.Error as exc:  # the store translates its own; this is a last net
            raise StateError(f"state database {settings.path}: {exc}") from exc
    if settings.backend == "postgres":
        if not settings.dsn_env:
            raise StateError("state: the postgres backend needs dsn_env, the name of the variable holding the DSN")
        dsn = env.get(settings.dsn_env, "")
        if not dsn.strip():
            raise StateError(
                f"state: the environment variable {settings.dsn_env} (state.dsn_env) is not set; "
                "it must hold the PostgreSQL DSN"
            )
        from reconciler.state.postgres import PostgresStore

        return PostgresStore(dsn)
    raise StateError(f"state: unknown backend {settings.backend!r} (use sqlite, postgres or memory)")
