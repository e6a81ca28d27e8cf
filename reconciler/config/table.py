"""A compact, immutable sequence of contact rows.

A million :class:`ContactRow` objects cost about 300 MB (row, tuple, two
strings and an int each). The loader instead packs rows into chunk strings
(values joined by U+001F, rows by U+001E) plus an array of row numbers, and
builds :class:`ContactRow` values only when they are read. It is a
``Sequence[ContactRow]``: iterate, index, slice, ``len``; equal to any other
sequence with the same rows. Values never contain the two separators (the
loader rejects such rows).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from reconciler.errors import CampaignctlError
from reconciler.model import ContactRow, DesiredCampaign

__all__ = ["ContactTable", "ContactTableBuilder", "LazyTable", "RowsView", "campaign_digest", "table_digest"]

UNIT = "\x1f"
RECORD = "\x1e"
CHUNK = 1024


class ContactTable(Sequence[ContactRow]):
    """Rows of one campaign, in file order, duplicates and invalid rows removed."""

    __slots__ = ("_cache", "_chunks", "_digest", "_lines", "_phone_chunks", "_phone_index", "_source_starts",
                 "_sources")

    def __init__(
        self,
        chunks: Sequence[str],
        lines: array[int],
        sources: Sequence[str],
        source_starts: Sequence[int],
        phone_index: int,
        phone_chunks: Sequence[str],
    ) -> None:
        """``phone_chunks``: each chunk's phones joined by U+001E, so that the numbers are had
        without splitting the records (what the diff and the policy read of every table)."""
        self._chunks = tuple(chunks)
        self._phone_chunks = tuple(phone_chunks)
        self._lines = lines
        self._sources = tuple(sources)
        self._source_starts = tuple(source_starts)
        self._phone_index = phone_index
        self._cache: tuple[int, list[str]] = (-1, [])
        self._digest = ""

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def digest(self) -> str:
        """:func:`table_digest` of the rows, from the packed chunks (C-level hashing, no rows built)."""
        if not self._digest:
            h = _digest_start(self._phone_index)
            for i, chunk in enumerate(self._chunks):
                if i:
                    h.update(RECORD.encode())
                h.update(chunk.encode("utf-8", "surrogatepass"))
            self._digest = str(h.hexdigest())
        return self._digest

    def _records(self, chunk: int) -> list[str]:
        cached = self._cache
        if cached[0] == chunk:
            return cached[1]
        records = self._chunks[chunk].split(RECORD)
        self._cache = (chunk, records)
        return records

    def _source(self, index: int) -> str:
        return self._sources[bisect.bisect_right(self._source_starts, index) - 1]

    def _row(self, index: int, record: str) -> ContactRow:
        values = tuple(record.split(UNIT))
        return ContactRow(values[self._phone_index], values, self._source(index), self._lines[index])

    @overload
    def __getitem__(self, index: int) -> ContactRow: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ContactRow, ...]: ...

    def __getitem__(self, index: int | slice) -> ContactRow | tuple[ContactRow, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("contact row index out of range")
        return self._row(index, self._records(index // CHUNK)[index % CHUNK])

    def __iter__(self) -> Iterator[ContactRow]:
        pi = self._phone_index
        lines = self._lines
        starts = self._source_starts
        sources = self._sources
        s = 0
        next_start = starts[1] if len(starts) > 1 else len(lines)
        index = 0
        for chunk in self._chunks:
            for record in chunk.split(RECORD):
                while index >= next_start:
                    s += 1
                    next_start = starts[s + 1] if s + 1 < len(starts) else len(lines)
                values = tuple(record.split(UNIT))
                yield ContactRow(values[pi], values, sources[s], lines[index])
                index += 1

    def take(self, positions: Sequence[int]) -> list[ContactRow]:
        """The rows at ``positions``, built in one pass (a batch of a plan's rows, in apply's hot loop): a
        chunk is split once, and the source once for each run of positions in one file."""
        n = len(self._lines)
        lines, starts, sources, pi = self._lines, self._source_starts, self._sources, self._phone_index
        out: list[ContactRow] = []
        append = out.append
        loaded = -1
        records: list[str] = []
        low = high = 0  # the positions [low, high) are rows of ``source``
        source = ""
        for index in positions:
            if not 0 <= index < n:
                raise IndexError("contact row index out of range")
            chunk, offset = divmod(index, CHUNK)
            if chunk != loaded:
                records, loaded = self._records(chunk), chunk
            if not low <= index < high:
                s = bisect.bisect_right(starts, index) - 1
                low, high, source = starts[s], starts[s + 1] if s + 1 < len(starts) else n, sources[s]
            values = tuple(records[offset].split(UNIT))
            append(ContactRow(values[pi], values, source, lines[index]))
        return out

    def phones(self) -> Iterator[str]:
        """Just the phone numbers, in order, without building rows."""
        for chunk in self._phone_chunks:
            yield from chunk.split(RECORD)

    def phone_list(self) -> list[str]:
        """The phone numbers, in order, as one list (one C-level split a chunk)."""
        out: list[str] = []
        for chunk in self._phone_chunks:
            out.extend(chunk.split(RECORD))
        return out

    def locate(self, phones: set[str]) -> dict[str, tuple[str, int]]:
        """Source and row of each of ``phones`` present in the table (one pass)."""
        found: dict[str, tuple[str, int]] = {}
        if not phones:
            return found
        for index, phone in enumerate(self.phones()):
            if phone in phones:
                found[phone] = (self._source(index), self._lines[index])
                if len(found) == len(phones):
                    break
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(other) != len(self):
            return False
        if isinstance(other, ContactTable):  # same packed layout: equal without building rows
            return (self._chunks, self._lines, self._phone_index, self._sources, self._source_starts) == (
                other._chunks,
                other._lines,
                other._phone_index,
                other._sources,
                other._source_starts,
            ) or all(a == b for a, b in zip(self, other, strict=True))
        return all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ContactTable({len(self)} rows)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            ContactTable,
            (self._chunks, self._lines, self._sources, self._source_starts, self._phone_index, self._phone_chunks),
        )


def _digest_start(phone_index: int) -> Any:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"contact-table 1 {phone_index}{RECORD}".encode())
    return h


def table_digest(rows: Sequence[ContactRow], phone_index: int) -> str:
    """Digest of a contact table: the phone column and every row's values, in order.

    What a convergence marker compares (``state.base.Converged``): two tables
    with the same digest send the same contacts with the same values.
    """
    known = getattr(rows, "digest", None)
    if isinstance(known, str) and known:
        return known
    h = _digest_start(phone_index)
    h.update(RECORD.join(UNIT.join(r.values) for r in rows).encode("utf-8", "surrogatepass"))
    return str(h.hexdigest())


def campaign_digest(c: DesiredCampaign) -> str:
    """:func:`table_digest` of a campaign's contact table (kept on the table: computed once)."""
    return table_digest(c.contacts.rows, c.contacts.phone_index)


class LazyTable(Sequence[ContactRow]):
    """A contact table known by its length and digest, parsed on the first read of a row.

    The loader (which reads the sources again and checks they did not change)
    runs at most once, whichever thread asks first. ``len`` and ``digest``
    never parse.
    """

    __slots__ = ("_digest", "_length", "_load", "_lock", "_table")

    def __init__(self, length: int, digest: str, load: Callable[[], ContactTable]) -> None:
        self._length = length
        self._digest = digest
        self._load: Callable[[], ContactTable] | None = load
        self._lock = threading.Lock()
        self._table: ContactTable | None = None

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def parsed(self) -> bool:
        return self._table is not None

    def _get(self) -> ContactTable:
        table = self._table
        if table is not None:
            return table
        with self._lock:
            if self._table is None:
                assert self._load is not None
                table = self._load()
                if len(table) != self._length or table.digest != self._digest:
                    raise CampaignctlError("a contact table parsed again differs from the one recorded for it; "
                                           "run again (if this repeats, please report it)")
                self._table, self._load = table, None
            return self._table

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> ContactRow: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ContactRow, ...]: ...

    def __getitem__(self, index: int | slice) -> ContactRow | tuple[ContactRow, ...]:
        return self._get()[index]

    def __iter__(self) -> Iterator[ContactRow]:
        return iter(self._get())

    def phones(self) -> Iterator[str]:
        return self._get().phones()

    def phone_list(self) -> list[str]:
        return self._get().phone_list()

    def take(self, positions: Sequence[int]) -> list[ContactRow]:
        return self._get().take(positions)

    def locate(self, phones: set[str]) -> dict[str, tuple[str, int]]:
        return self._get().locate(phones)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTable) and other._digest == self._digest and other._length == self._length:
            return True
        return self._get() == other

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return f"LazyTable({self._length} rows{', parsed' if self._table is not None else ''})"

    def __reduce__(self) -> tuple[Any, ...]:
        return self._get().__reduce__()


class RowsView(Sequence[ContactRow]):
    """Some rows of a table, by position, built only when read (a plan's action holds its rows so,
    not a million ContactRow objects)."""

    __slots__ = ("_index", "_table")

    def __init__(self, table: Sequence[ContactRow], index: Sequence[int]) -> None:
        self._table = table
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    @overload
    def __getitem__(self, index: int) -> ContactRow: ...

    @overload
    def __getitem__(self, index: slice) -> RowsView: ...

    def __getitem__(self, index: int | slice) -> ContactRow | RowsView:
        if isinstance(index, slice):
            return RowsView(self._table, self._index[index])
        return self._table[self._index[index]]

    def __iter__(self) -> Iterator[ContactRow]:
        table = self._table
        take = getattr(table, "take", None)
        if take is None:
            for i in self._index:
                yield table[i]
            return
        index = self._index
        for start in range(0, len(index), CHUNK):  # a chunk at a time: a million-row view never sits in memory
            yield from take(index[start : start + CHUNK])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"RowsView({len(self)} rows)"


def phones_of(rows: Sequence[ContactRow]) -> list[str]:
    """The phone of every row, in order; without building rows when the table is packed."""
    fast = getattr(rows, "phone_list", None)
    if callable(fast):
        result: list[str] = fast()
        return result
    return [row.phone for row in rows]


class ContactTableBuilder:
    """Append rows source by source, then :meth:`build` the table."""

    def __init__(self, width: int, phone_index: int) -> None:
        self.width = width
        self.phone_index = phone_index
        self._chunks: list[str] = []
        self._pending: list[str] = []
        self._phone_chunks: list[str] = []
        self._pending_phones: list[str] = []
        self._lines: array[int] = array("L")
        self._sources: list[str] = []
        self._starts: list[int] = []

    def __len__(self) -> int:
        return len(self._lines)

    def start_source(self, source: str) -> None:
        if self._starts and self._starts[-1] == len(self._lines):
            self._sources[-1] = source  # the previous source added no rows
        else:
            self._starts.append(len(self._lines))
            self._sources.append(source)

    def append_record(self, record: str, line: int, phone: str) -> None:
        """Add one row already joined with U+001F (see :func:`pack`); ``phone``: its phone."""
        pending = self._pending
        pending.append(record)
        self._pending_phones.append(phone)
        self._lines.append(line)
        if len(pending) == CHUNK:
            self._chunks.append(RECORD.join(pending))
            self._phone_chunks.append(RECORD.join(self._pending_phones))
            pending.clear()
            self._pending_phones.clear()

    def add_records(self, records: list[str], lines: Sequence[int], phones: Sequence[str]) -> list[int]:
        """Add many joined rows at once (``phones``: each one's phone); returns the positions of rejected ones.

        A row is rejected when a value held a separator (its record then has
        the wrong number of U+001F or any U+001E). Checked once per batch
        with two C-level counts; row by row only when the batch is bad.
        """
        width = self.width
        bad: list[int] = []
        joined = RECORD.join(records)
        if joined.count(RECORD) != len(records) - 1 or joined.count(UNIT) != len(records) * (width - 1):
            bad = [i for i, r in enumerate(records) if RECORD in r or r.count(UNIT) != width - 1]
            if bad:
                rejected = set(bad)
                records = [r for i, r in enumerate(records) if i not in rejected]
                lines = [n for i, n in enumerate(lines) if i not in rejected]
                phones = [n for i, n in enumerate(phones) if i not in rejected]
        pending, pending_phones = self._pending, self._pending_phones
        pending.extend(records)
        pending_phones.extend(phones)
        self._lines.extend(lines)
        while len(pending) >= CHUNK:
            self._chunks.append(RECORD.join(pending[:CHUNK]))
            self._phone_chunks.append(RECORD.join(pending_phones[:CHUNK]))
            del pending[:CHUNK]
            del pending_phones[:CHUNK]
        return bad

    def build(self) -> ContactTable:
        chunks, phone_chunks = list(self._chunks), list(self._phone_chunks)
        if self._pending:
            chunks.append(RECORD.join(self._pending))
            phone_chunks.append(RECORD.join(self._pending_phones))
        if not self._starts:
            self._starts, self._sources = [0], [""]
        return ContactTable(chunks, self._lines, self._sources, self._starts, self.phone_index, phone_chunks)


def pack(values: Sequence[str]) -> str | None:
    """Join one row's values, or None when a value holds a separator."""
    record = UNIT.join(values)
    if record.count(UNIT) != len(values) - 1 or RECORD in record:
        return None
    return record
