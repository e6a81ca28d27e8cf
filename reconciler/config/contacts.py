"""Contact sources: CSV files and inline rows, into one compact table per campaign.

Rules (DESIGN section 2): every declared column must be in every source;
phones are normalised (:mod:`reconciler.config.phones`) and the normalised
number replaces the value in its column; an invalid row is reported with its
source file and row number and dropped; a repeated phone (within the
campaign) is a warning and dropped, the first row wins. Reports per source
are capped (:data:`REPORT_CAP`) with a summary line, so a million bad rows
do not print a million lines.

CSV: header row, ``utf-8`` (a BOM is fine) by default, ``gbk`` / ``gb18030``
by the ``encoding:`` key (Excel in China often saves GBK). Row numbers are
physical line numbers (the header is row 1), so editors jump to them.
"""

from __future__ import annotations

import csv
import io
import json
import operator
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.gcpause import paused_gc
from reconciler.config.phones import PHONE_RULE, is_valid_phone, normalize_phone
from reconciler.config.report import Report, YamlFile, bytes_digest, display_path, where
from reconciler.config.table import RECORD, UNIT, ContactTable, ContactTableBuilder, LazyTable, table_digest
from reconciler.config.yamlmarks import Path as DocPath
from reconciler.config.yamlmarks import format_path
from reconciler.errors import ConfigError, Problem
from reconciler.model import SourceDigest

__all__ = ["CODECS", "NORMALISER_VERSION", "REPORT_CAP", "ContactsResult", "load_sources", "source_key"]

#: Bump when anything about turning sources into a table changes (phone rules, row checks,
#: messages): cached parses (the state's source digests) of an older version are not used.
NORMALISER_VERSION = "2"  # 2: a duplicate's warning no longer quotes the number

#: Problems listed per source and kind before a summary line takes over.
REPORT_CAP = 50
#: A CSV file up to this size is read whole and decoded at once (most are small); a larger one is streamed.
SMALL_FILE = 1 << 20
#: Rows checked together with bulk (C-level) operations.
BATCH = 4096
#: A batch of normalised phones, one per line: mobiles and fixed lines only.
_VALID_BLOCK = re.compile(r"(?:(?:1[3-9][0-9]{9}|0[1-9][0-9]{8,10})\n)*")

#: Accepted ``encoding:`` values → Python codec (utf-8-sig drops a BOM).
CODECS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
}


@dataclass
class ContactsResult:
    table: ContactTable | LazyTable
    failed: bool  # a source could not be read at all (missing, undecodable, header)
    files: list[Path] = field(default_factory=list)


@dataclass
class _Sink:
    """Shared by every source of one campaign: the table and the phones seen."""

    builder: ContactTableBuilder
    report: Report
    columns: tuple[str, ...]
    phone_column: str
    seen: set[str] = field(default_factory=set)
    dup_notes: list[tuple[str, int, str, str, str]] = field(default_factory=list)  # file, line, field, phone, raw


class _Counter:
    """Caps the problems listed for one source and kind."""

    def __init__(self, report: Report, file: str, field_: str, severity: str, what: str) -> None:
        self.report, self.file, self.field, self.severity, self.what = report, file, field_, severity, what
        self.count = 0

    def add(self, line: int, message: str, field_: str | None = None) -> None:
        self.count += 1
        if self.count <= REPORT_CAP:
            self.report.add(self.file, line, self.field if field_ is None else field_, message, self.severity)

    def close(self) -> None:
        if self.count > REPORT_CAP:
            self.report.add(
                self.file,
                0,
                self.field,
                f"{self.count} {self.what} rows in this source; the first {REPORT_CAP} are listed, "
                f"all {self.count} were dropped",
                self.severity,
            )


def load_sources(
    yf: YamlFile,
    path: DocPath,
    contacts: dict[str, Any],
    columns: tuple[str, ...],
    phone_column: str,
) -> ContactsResult:
    """Read every source of one campaign's ``contacts`` block.

    With a cache of earlier parses (``yf.report.cache``, from the state) a
    campaign whose sources are all CSV files is keyed by the digest of
    everything its table depends on (:func:`source_key`): when the key is
    known, its warnings are replayed and its table is a :class:`LazyTable`
    that parses only when a row is read; otherwise it is parsed now, and the
    result is offered for the cache (``yf.report.parsed``) when it has no
    error.
    """
    cache = yf.report.cache
    specs = _csv_specs(yf, path, contacts) if cache is not None else None
    blobs = _read_all(specs) if specs is not None else None
    if specs is None or blobs is None or cache is None:
        return _parse(yf, path, contacts, columns, phone_column, None)
    digests = [bytes_digest(b) for b in blobs]
    yf.report.file_digests.update((str(spec.csv_path), d) for spec, d in zip(specs, digests, strict=True))
    key = source_key(specs, digests, columns, phone_column)
    files = [spec.csv_path for spec in specs]
    hit = cache.get(key)
    if hit is not None:
        yf.report.problems.extend(hit.problems)

        def parse_again() -> ContactTable:
            again = _read_all(specs)
            if again is None or [bytes_digest(b) for b in again] != digests:
                raise ConfigError([Problem(yf.file, yf.line(path), format_path(path),
                                           "a contact file changed while campaignctl was running; run it again")])
            scratch = YamlFile(yf.file, yf.doc, Report(), yf.bad)
            table = _parse(scratch, path, contacts, columns, phone_column, again).table
            assert isinstance(table, ContactTable)
            return table

        del blobs
        return ContactsResult(LazyTable(hit.rows, hit.digest, parse_again), False, files)
    before = len(yf.report.problems)
    result = _parse(yf, path, contacts, columns, phone_column, blobs)
    found = tuple(yf.report.problems[before:])
    if not result.failed and all(p.severity != "error" for p in found):
        yf.report.parsed.append(SourceDigest(key, table_digest(result.table, columns.index(phone_column)),
                                             len(result.table), found))
    return result


@dataclass(frozen=True)
class _CsvSpec:
    ref: DocPath
    given: str
    csv_path: Path
    codec: str
    encoding: str
    delimiter: str


def _csv_specs(yf: YamlFile, path: DocPath, contacts: dict[str, Any]) -> list[_CsvSpec] | None:
    """The sources when every one is a well-formed CSV source, else None (parsed at once)."""
    sources = contacts.get("sources")
    if not isinstance(sources, list) or not sources:
        return None
    base = os.path.dirname(yf.file)
    out: list[_CsvSpec] = []
    for i, source in enumerate(sources):
        spath = (*path, "sources", i)
        if not isinstance(source, dict) or not yf.usable(spath) or "csv" not in source:
            return None
        given = source["csv"]
        encoding = source.get("encoding", "utf-8")
        delimiter = source.get("delimiter", ",")
        codec = CODECS.get(str(encoding).lower())
        if (not isinstance(given, str) or not yf.usable((*spath, "csv")) or codec is None
                or not isinstance(delimiter, str) or len(delimiter) != 1):
            return None
        out.append(_CsvSpec((*spath, "csv"), given, _source_path(base, given), codec, str(encoding),
                            delimiter))
    return out


def _read_all(specs: Sequence[_CsvSpec]) -> list[bytes] | None:
    """Every source's bytes, or None when one cannot be read (parsing then says why)."""
    out: list[bytes] = []
    for spec in specs:
        try:
            fd, size = _open_regular(spec.csv_path)
        except (OSError, ValueError, _NotAFile):  # ValueError: a NUL in the name
            return None
        try:
            out.append(_read_whole(fd, size))
        except OSError:
            return None
        finally:
            os.close(fd)
    return out


def source_key(specs: Sequence[_CsvSpec], digests: Sequence[str], columns: Sequence[str], phone_column: str) -> str:
    """Digest of everything a campaign's parsed table and its problems depend on (``digests``: of
    each source's bytes)."""
    doc = {
        "normaliser": NORMALISER_VERSION,
        "columns": list(columns),
        "phone_column": phone_column,
        "cwd": os.getcwd(),  # problems name other files relative to it
        "sources": [[str(s.csv_path), s.given, s.codec, s.encoding, s.delimiter, d]
                    for s, d in zip(specs, digests, strict=True)],
    }
    return bytes_digest(json.dumps(doc, ensure_ascii=False, sort_keys=True).encode())


def _parse(
    yf: YamlFile,
    path: DocPath,
    contacts: dict[str, Any],
    columns: tuple[str, ...],
    phone_column: str,
    blobs: Sequence[bytes] | None,
) -> ContactsResult:
    """Parse every source now (``blobs``: the CSV sources' bytes, already read, in order)."""
    phone_index = columns.index(phone_column)
    sink = _Sink(ContactTableBuilder(len(columns), phone_index), yf.report, columns, phone_column)
    failed = False
    files: list[Path] = []
    sources = contacts.get("sources")
    base = os.path.dirname(yf.file)
    pending = list(blobs) if blobs is not None else None
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        spath = (*path, "sources", i)
        if not isinstance(source, dict) or not yf.usable(spath):
            failed = True
            continue
        if "csv" in source:
            if not isinstance(source["csv"], str) or not yf.usable((*spath, "csv")):
                failed = True
                continue
            csv_path = _source_path(base, source["csv"])
            encoding = source.get("encoding", "utf-8")
            delimiter = source.get("delimiter", ",")
            codec = CODECS.get(str(encoding).lower())
            if codec is None or not isinstance(delimiter, str) or len(delimiter) != 1:
                failed = True  # the schema reported it
                continue
            data = pending.pop(0) if pending else None
            ok, read = _read_csv(yf, (*spath, "csv"), source["csv"], csv_path, codec, str(encoding), delimiter, sink,
                                 data)
            failed = failed or not ok
            if read:
                files.append(csv_path)
        elif "rows" in source and isinstance(source["rows"], list):
            _read_rows(yf, (*spath, "rows"), source["rows"], sink)
        else:
            failed = True
    table = sink.builder.build()
    _note_duplicates(table, sink)
    return ContactsResult(table, failed, files)


def _note_duplicates(table: ContactTable, sink: _Sink) -> None:
    if not sink.dup_notes:
        return
    first = table.locate({phone for _, _, _, phone, _ in sink.dup_notes})
    for file, line, field_, phone, _ in sink.dup_notes:
        found = first.get(phone)
        at = f" (first at {where(found[0], found[1], file)})" if found else ""
        # the number itself is never quoted: it is a real one, and plans go to pull requests and logs
        sink.report.add(file, line, field_, f"duplicate phone number{at}; row dropped, the first row wins",
                        "warning")


def _read_rows(yf: YamlFile, path: DocPath, rows: list[Any], sink: _Sink) -> None:
    width = len(sink.columns)
    pi = sink.builder.phone_index
    sink.builder.start_source(yf.file)
    invalid = _Counter(yf.report, yf.file, format_path(path), "error", "invalid")
    dups = 0
    lines = yf.item_lines(path)
    for r, row in enumerate(rows):
        rpath = (*path, r)
        line = lines[r] if r < len(lines) else yf.line(rpath)
        if not isinstance(row, list) or not yf.usable(rpath):
            continue  # the schema reported it
        if len(row) != width:
            invalid.add(line, f"row has {len(row)} values, columns has {width}; row dropped", format_path(rpath))
            continue
        cells = [yf.text((*rpath, c), v) for c, v in enumerate(row)]
        raw = cells[pi]
        phone = normalize_phone(raw)
        if phone is None:
            what = "empty phone" if not raw else f"invalid phone {raw!r}"
            invalid.add(line, f"{what}: expected {PHONE_RULE}; row dropped", format_path((*rpath, pi)))
            continue
        if phone in sink.seen:
            dups += 1
            if dups <= REPORT_CAP:
                sink.dup_notes.append((yf.file, line, format_path((*rpath, pi)), phone, raw))
            continue
        cells[pi] = phone
        record = UNIT.join(cells)
        if record.count(UNIT) != width - 1 or RECORD in record:
            invalid.add(line, "a value holds a control character (U+001E/U+001F); row dropped", format_path(rpath))
            continue
        sink.seen.add(phone)
        sink.builder.append_record(record, line, phone)
    invalid.close()
    if dups > REPORT_CAP:
        yf.report.add(yf.file, 0, format_path(path), f"{dups} duplicate rows; the first {REPORT_CAP} are listed",
                      "warning")


def _source_path(base: str, given: str) -> Path:
    """A CSV source's path: ``given`` relative to the directory of the campaign file (``base``)."""
    return Path(os.path.normpath(os.path.join(base, given)))


def _read_csv(
    yf: YamlFile,
    ref: DocPath,
    given: str,
    csv_path: Path,
    codec: str,
    encoding: str,
    delimiter: str,
    sink: _Sink,
    data: bytes | None = None,
) -> tuple[bool, bool]:
    """Read one CSV source into the sink (``data``: its bytes, when already read).
    Returns (usable, file was read)."""
    shown = str(csv_path)
    if data is not None:
        fh: Any = _text(data, codec)
    else:
        try:
            fd, size = _open_regular(csv_path)
        except (FileNotFoundError, ValueError):  # ValueError: a NUL in the name, which no file can have
            yf.error(ref, f"contact file {given!r} not found (looked for {display_path(shown)})", line=yf.line(ref))
            return False, False
        except _NotAFile:  # a directory, a FIFO, a device: never read
            yf.error(ref, f"contact source {shown} is not a file", line=yf.line(ref))
            return False, False
        except OSError as exc:
            yf.error(ref, f"cannot read contact file {shown}: {exc.strerror or exc}", line=yf.line(ref))
            return False, False
        if size <= SMALL_FILE:
            try:
                data = _read_whole(fd, size)
            except OSError as exc:
                sink.report.add(shown, 0, "", f"cannot read contact file: {exc.strerror or exc}")
                return False, True
            finally:
                os.close(fd)
            fh = _text(data, codec)
        else:
            fh = open(fd, encoding=codec, newline="", errors="strict")  # noqa: SIM115
    report = sink.report
    ok = True
    # The loop creates a million short-lived lists and no cycles: the cyclic
    # garbage collector would only add ~25% to the time.
    with paused_gc(), fh:
        rows = _whole_rows(fh, delimiter)
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            ok = _consume(reader, shown, sink, rows)
        except UnicodeDecodeError as exc:
            line, byte = _decode_error_line(csv_path, codec, exc, data)
            hint = (
                "; files saved by Excel in China are often GBK: set encoding: gbk"
                if codec == "utf-8-sig"
                else "; is it UTF-8? set encoding: utf-8"
            )
            report.add(shown, line, "", f"row {line} cannot be decoded as {encoding} (byte 0x{byte:02x}){hint}")
            ok = False
        except csv.Error as exc:
            report.add(shown, reader.line_num, "", f"malformed CSV: {exc}")
            ok = False
        except OSError as exc:
            report.add(shown, 0, "", f"cannot read contact file: {exc.strerror or exc}")
            ok = False
    return ok, True


def _whole_rows(fh: Any, delimiter: str) -> list[list[str]] | None:
    """Every row of a text read whole (split by the C reader in one call) when each record took one line,
    so that row ``i`` is on line ``i + 1``. Else None, with ``fh`` rewound to be read again row by row
    (a quoted value over several lines, or malformed CSV: the error then names its row)."""
    if not isinstance(fh, io.StringIO):
        return None
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error:
        rows = None
    if rows is not None and reader.line_num == len(rows):
        return rows
    fh.seek(0)
    return None


class _NotAFile(Exception):
    """A source that is there but is no regular file (a directory, a named pipe, a device)."""


def _open_regular(path: Path) -> tuple[int, int]:
    """A descriptor of the regular file at ``path``, and its size. Opened straight away (no exists /
    is_file first: two system calls per source) and non-blocking, so that a named pipe is refused
    instead of waiting for a writer. Raises FileNotFoundError or ValueError (a NUL in the name) when
    there is no such file, :class:`_NotAFile`, or OSError."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise _NotAFile(str(path)) from None
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _NotAFile(str(path))
    return fd, info.st_size


def _read_whole(fd: int, size: int) -> bytes:
    """Every byte of an open regular file of about ``size`` bytes (its ``fstat`` size): read until the
    end, never trusting one read to be whole (a short read would drop rows silently); a file object would
    ask for its size again and read in smaller steps."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:  # until a read finds the end
        chunks.append(os.read(fd, max(size + 1, 1 << 16)))
    return b"".join(chunks) if len(chunks) > 2 else chunks[0]


def _text(data: bytes, codec: str) -> Any:
    """A file's bytes as the text file the CSV reader reads: decoded at once (one call instead of a
    decoder per read), or, when a byte does not decode, decoded as read, so that the rows before it are
    read and the error names its row as when the file is streamed."""
    try:
        return io.StringIO(data.decode(codec), newline="")
    except UnicodeDecodeError:
        return io.TextIOWrapper(io.BytesIO(data), encoding=codec, newline="", errors="strict")


def _decode_error_line(path: Path, codec: str, exc: UnicodeDecodeError,
                       data: bytes | None = None) -> tuple[int, int]:
    """Physical line and byte value of the first undecodable byte of ``path`` (or of ``data``)."""
    try:
        raw = path.read_bytes() if data is None else data
        raw.decode(codec)
    except UnicodeDecodeError as first:
        return raw.count(b"\n", 0, first.start) + 1, raw[first.start]
    except OSError:
        pass
    return 0, exc.object[exc.start] if exc.start < len(exc.object) else 0


def _consume(reader: Any, shown: str, sink: _Sink, rows: list[list[str]] | None = None) -> bool:
    """The hot loop: one pass over the CSV rows. False when the header is unusable.

    ``rows``: every row of a file read whole, when each record took one line
    (row ``i`` is on line ``i + 1``): checked a batch at a time with no Python
    per row. Otherwise rows come from ``reader`` with their line numbers.
    """
    report = sink.report
    columns = sink.columns
    header: list[str] | None = None
    header_line = 0
    for i, row in enumerate(reader if rows is None else rows):
        if row and any(cell.strip() for cell in row):
            header = [cell.strip().lstrip("\ufeff") for cell in row]
            header_line = reader.line_num if rows is None else i + 1
            break
    if header is None:
        report.add(shown, 1, "", "the file is empty; expected a header row naming the columns")
        return False
    exact = len(header) == len(columns) and header == list(columns)  # the usual case: nothing to check or pick
    missing = [] if exact else [c for c in columns if c not in header]
    doubled = [] if exact else sorted({c for c in columns if header.count(c) > 1})
    if missing:
        names = ", ".join(repr(c) for c in missing)
        found = ", ".join(repr(c) for c in header[:12])
        report.add(shown, header_line, "", f"the header lacks declared column(s) {names} (header: {found})")
        return False
    if doubled:
        report.add(shown, header_line, "", f"the header names {', '.join(map(repr, doubled))} more than once")
        return False
    width = len(header)
    idx = list(range(width)) if exact else [header.index(c) for c in columns]
    src_pi = idx[columns.index(sink.phone_column)]
    pick: Callable[[list[str]], Sequence[str]] | None = None
    if idx != list(range(width)):
        pick = operator.itemgetter(*idx) if len(idx) > 1 else (lambda r, i=idx[0]: (r[i],))
    builder = sink.builder
    builder.start_source(shown)
    seen = sink.seen
    join = UNIT.join
    get_phone = operator.itemgetter(src_pi)
    invalid = _Counter(report, shown, sink.phone_column, "error", "invalid")
    dups = 0
    widths = {width}

    def one_by_one(batch: list[list[str]], lines: Sequence[int]) -> tuple[list[list[str]], list[int]]:
        """The rows of a batch that the bulk check did not pass, checked and normalised one at a time.
        Values are kept as written (only the phone is normalised)."""
        kept: list[list[str]] = []
        kept_lines: list[int] = []
        for row, line in zip(batch, lines, strict=True):
            if len(row) != width:
                if row and any(c.strip() for c in row):
                    invalid.add(line, f"row has {len(row)} fields, the header has {width}; row dropped", "")
                continue
            phone = row[src_pi]
            normal = normalize_phone(phone)
            if normal is None:
                stripped = phone.strip()
                if stripped:
                    invalid.add(line, f"invalid phone {stripped!r}: expected {PHONE_RULE}; row dropped")
                elif any(c.strip() for c in row):
                    invalid.add(line, f"empty phone: expected {PHONE_RULE}; row dropped")
                continue  # (a blank row like ",," is skipped silently)
            row[src_pi] = normal
            kept.append(row)
            kept_lines.append(line)
        return kept, kept_lines

    def admit(batch: list[list[str]], lines: Sequence[int]) -> None:
        """Check a batch of rows with C-level bulk operations (every row the header's width, every phone
        a normal mobile or fixed-line number: one regex over them all); row by row only when needed."""
        nonlocal dups
        if not batch:
            return
        phones = list(map(get_phone, batch)) if set(map(len, batch)) == widths else None
        if phones is None or not _VALID_BLOCK.fullmatch("\n".join(phones) + "\n"):
            batch, lines = one_by_one(batch, lines)
            phones = list(map(get_phone, batch))
            if phones and not _VALID_BLOCK.fullmatch("\n".join(phones) + "\n"):
                keep = [i for i, phone in enumerate(phones) if is_valid_phone(phone)]
                kept = set(keep)
                for i, phone in enumerate(phones):
                    if i not in kept:
                        invalid.add(lines[i], f"invalid phone {phone!r}: expected {PHONE_RULE}; row dropped")
                batch = [batch[i] for i in keep]
                lines = [lines[i] for i in keep]
                phones = [phones[i] for i in keep]
        unique = set(phones)
        if len(unique) == len(phones) and seen.isdisjoint(unique):
            seen.update(unique)
        else:  # duplicates in this batch: first row wins, in file order
            keep = []
            for i, phone in enumerate(phones):
                if phone in seen:
                    dups += 1
                    if dups <= REPORT_CAP:
                        sink.dup_notes.append((shown, lines[i], sink.phone_column, phone, phone))
                else:
                    seen.add(phone)
                    keep.append(i)
            batch = [batch[i] for i in keep]
            lines = [lines[i] for i in keep]
            phones = [phones[i] for i in keep]
        records = list(map(join, batch if pick is None else map(pick, batch)))
        for position in builder.add_records(records, lines, phones):
            invalid.add(lines[position], "a value holds a control character (U+001E/U+001F); row dropped", "")

    step = BATCH
    if rows is not None:
        for start in range(header_line, len(rows), step):
            admit(rows[start : start + step], range(start + 1, min(start + step, len(rows)) + 1))
    else:
        batch: list[list[str]] = []
        lines: list[int] = []
        add_row, add_line = batch.append, lines.append
        try:
            for row in reader:  # as little Python per row as possible: the checks are admit()'s
                add_row(row)
                add_line(reader.line_num)
                if len(batch) >= step:
                    admit(batch, lines)
                    batch, lines = [], []
                    add_row, add_line = batch.append, lines.append
        finally:  # also when reading fails: the rows before it are checked (and reported) as if it had not
            admit(batch, lines)
    invalid.close()
    if dups > REPORT_CAP:
        report.add(shown, 0, sink.phone_column,
                   f"{dups} duplicate rows in this source; the first {REPORT_CAP} are listed, all were dropped",
                   "warning")
    return True
