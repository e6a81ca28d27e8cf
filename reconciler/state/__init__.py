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


def open_store(settings: StateSettings, env: Mapping[str, str], *, create: bool = False) -> StateStore:
    """Open the store ``settings`` describe; with ``create`` (``state init``)
    make it, with a new lineage, when it is not there yet.

    Without ``create``, a store that does not exist, is empty or has no
    lineage raises StateMissing, naming where it looked and what is missing,
    and nothing is created. An existing store is migrated to the current
    schema either way. sqlite takes ``settings.path``; postgres reads its DSN
    from ``env[settings.dsn_env]``; memory is always a new, initialised
    store. Driver errors come out as StateError, never with the DSN in them.
    """
    if settings.backend == "memory":
        from reconciler.state.memory import MemoryStore

        return MemoryStore(create=create)
    if settings.backend == "sqlite":
        if settings.path is None:
            raise StateError("state: the sqlite backend needs a path")
        from reconciler.state.sqlite import SqliteStore

        try:
            return SqliteStore(settings.path, create=create)
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

        return PostgresStore(dsn, settings.schema, create=create)
    raise StateError(f"state: unknown backend {settings.backend!r} (use sqlite, postgres or memory)")
