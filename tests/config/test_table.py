"""The packed contact table: rows built on access, a batch of them in one pass (``take``)."""

from __future__ import annotations

import random

import pytest

from reconciler.config.table import CHUNK, UNIT, ContactTable, ContactTableBuilder, LazyTable, RowsView


def table_of(n: int, sources: int = 3) -> ContactTable:
    builder = ContactTableBuilder(2, 0)
    per = n // sources + 1
    for s in range(sources):
        builder.start_source(f"contacts/s{s}.csv")
        first = s * per
        rows = range(first, min(n, first + per))
        builder.add_records([f"139{i:08d}{UNIT}name {i}" for i in rows], [i - first + 2 for i in rows],
                            [f"139{i:08d}" for i in rows])
    return builder.build()


def test_take_builds_the_same_rows_as_reading_them_one_by_one() -> None:
    table = table_of(3 * CHUNK + 17)
    rng = random.Random(7)
    positions = [rng.randrange(len(table)) for _ in range(500)] + [0, len(table) - 1, CHUNK - 1, CHUNK, 2 * CHUNK]
    assert table.take(positions) == [table[i] for i in positions]
    assert table.take([]) == []
    row = table.take([CHUNK + 5])[0]  # the source and line of each row come along
    assert (row.phone, row.values[1], row.source, row.row) == (table[CHUNK + 5].phone, f"name {CHUNK + 5}",
                                                               table[CHUNK + 5].source, table[CHUNK + 5].row)
    for bad in (-1, len(table)):
        with pytest.raises(IndexError):
            table.take([3, bad])


def test_take_names_the_source_of_each_row_when_files_are_tiny_empty_or_revisited() -> None:
    # take looks a file up once per run of positions in it: runs that end after one row, files with no
    # row, and positions going back to an earlier file must each still name the right file and line
    builder = ContactTableBuilder(2, 0)
    sizes = [1, 0, 2, 1, 0, 0, 3, CHUNK + 1, 1]
    first = 0
    for s, size in enumerate(sizes):
        builder.start_source(f"contacts/t{s}.csv")
        rows = range(first, first + size)
        builder.add_records([f"139{i:08d}{UNIT}name {i}" for i in rows], [i - first + 2 for i in rows],
                            [f"139{i:08d}" for i in rows])
        first += size
    table = builder.build()
    rng = random.Random(11)
    positions = [*range(len(table)), *range(len(table) - 1, -1, -1), *(rng.randrange(len(table)) for _ in range(300))]
    taken = table.take(positions)
    assert [(r.source, r.row) for r in taken] == [(table[i].source, table[i].row) for i in positions]
    assert {r.source for r in taken} == {f"contacts/t{s}.csv" for s, size in enumerate(sizes) if size}


def test_a_view_of_rows_reads_in_chunks_what_item_access_reads() -> None:
    table = table_of(4 * CHUNK)
    index = tuple(range(len(table) - 1, -1, -3))  # backwards, across chunks and sources
    view = RowsView(table, index)
    assert list(view) == [table[i] for i in index]
    assert list(view[10:60]) == [table[i] for i in index[10:60]]
    lazy = LazyTable(len(table), table.digest, lambda: table)
    assert list(RowsView(lazy, index[:70])) == [table[i] for i in index[:70]]
    plain = tuple(table)  # a table without ``take``: row by row
    assert list(RowsView(plain, index[:70])) == [table[i] for i in index[:70]]


@pytest.mark.parametrize("phone_index", [0, 1, 3])
def test_phones_are_the_phone_column_of_every_row_in_order(phone_index: int) -> None:
    # The phones are kept apart from the records (the diff reads them of every table): whether rows came
    # in batches or one by one, and when a batch's row was rejected, they stay those of the rows.
    builder = ContactTableBuilder(4, phone_index)
    builder.start_source("contacts/a.csv")
    records, phones = [], []
    for i in range(CHUNK + 9):
        cells = [f"a{i}", f"b{i}", f"c{i}", f"d{i}"]
        cells[phone_index] = f"139{i:08d}"
        if i == 5:
            cells[(phone_index + 1) % 4] = "x\x1ey"  # a separator in a value: this row is rejected
        records.append(UNIT.join(cells))
        phones.append(f"139{i:08d}")
    assert builder.add_records(records, list(range(2, len(records) + 2)), phones) == [5]
    builder.start_source("c.yaml")
    for i in range(CHUNK + 9, 2 * CHUNK + 20):  # inline rows: one by one
        cells = [f"a{i}", f"b{i}", f"c{i}", f"d{i}"]
        cells[phone_index] = f"139{i:08d}"
        builder.append_record(UNIT.join(cells), i, cells[phone_index])
    table = builder.build()
    expected = [f"139{i:08d}" for i in range(2 * CHUNK + 20) if i != 5]
    assert list(table.phones()) == table.phone_list() == [row.phone for row in table] == expected
    lazy = LazyTable(len(table), table.digest, lambda: table)
    assert lazy.phone_list() == expected
