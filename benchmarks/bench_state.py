"""Measure the state stores: bulk contact writes and journal call pairs.

    python3 benchmarks/bench_state.py [--sizes 100000,1000000] [--pairs 2000]
                                      [--backends sqlite,postgres]

PostgreSQL uses CAMPAIGNCTL_TEST_PG_DSN (or the test default) and a
throw-away schema dropped at the end. Prints one table; the figures are
wall-clock seconds on this machine, for information only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from reconciler.state.base import CallOutcome, ContactRecord, ContactStatus, StateStore
from reconciler.state.postgres import PostgresStore, mask_dsn
from reconciler.state.sqlite import SqliteStore

PG_DSN = os.environ.get(
    "CAMPAIGNCTL_TEST_PG_DSN", "postgresql://campaignctl:campaignctl@127.0.0.1:5432/campaignctl_test"
)


@contextmanager
def sqlite_store() -> Iterator[StateStore]:
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "state.db", create=True) as store:
        yield store


@contextmanager
def postgres_store() -> Iterator[StateStore]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with PostgresStore(PG_DSN, schema, create=True) as store:
            yield store
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


BACKENDS: dict[str, Callable[[], AbstractContextManager[StateStore]]] = {
    "sqlite": sqlite_store,
    "postgres": postgres_store,
}


def rows(campaign: str, count: int) -> list[ContactRecord]:
    return [
        ContactRecord(campaign, f"1{i:010d}", f"{i:032x}", "task-1", 1, f"data-{i}") for i in range(count)
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, sizes: list[int], pairs: int) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    with BACKENDS[name]() as store:
        for size in sizes:
            batch = rows(f"c{size}", size)
            write = timed(lambda b=batch: store.put_contacts(b))  # type: ignore[misc]
            out.append((name, f"put_contacts {size:,} rows", f"{write:.2f} s", f"{size / write:,.0f} rows/s"))
            read = timed(lambda s=size: store.contacts(f"c{s}"))  # type: ignore[misc]
            out.append((name, f"contacts() read {size:,} rows", f"{read:.2f} s", f"{size / read:,.0f} rows/s"))
            dialed = [replace(r, status=ContactStatus.DIALED) for r in batch]
            again = timed(lambda b=dialed: store.put_contacts(b))  # type: ignore[misc]
            label = f"put_contacts {size:,} rows again, all changed"
            out.append((name, label, f"{again:.2f} s", f"{size / again:,.0f} rows/s"))

        def journal() -> None:
            for i in range(pairs):
                entry = store.begin_call("bench", "xf", "insert", "task-1", {"batch": i})
                store.end_call(entry, CallOutcome.OK, result={"accepted": 100})

        took = timed(journal)
        out.append((name, f"begin_call/end_call x {pairs:,}", f"{took:.2f} s", f"{pairs / took:,.0f} pairs/s"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    table: list[tuple[str, str, str, str]] = []
    for name in args.backends.split(","):
        try:
            table += bench(name, sizes, args.pairs)
        except Exception as exc:  # report and go on with the other backend
            table.append((name, "failed", mask_dsn(str(exc), PG_DSN)[:60], ""))
    header = ("backend", "operation", "time", "rate")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    for i, row in enumerate([header, *table]):
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(cells)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
