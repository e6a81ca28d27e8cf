"""A small CSV file is read whole and decoded at once; a large one is streamed. Both must read the
same rows and report the same problems at the same rows, whatever the bytes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import contacts, load
from tests.config.fixtures import XF_TASK, write

CSV_CAMPAIGN = XF_TASK.replace('        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n{extra}")

CELLS = st.sampled_from(["19900000001", "19900000002", "1990000000", "+86 199 0000 0003", "", " ", "张三", "a,b",
                         '"q"', '"a\nb"', "x\r", "\ufeff", "客户手机号码", "姓名", "\x00", "\u2028", "\x1e"])
LINES = st.lists(st.lists(CELLS, min_size=0, max_size=4).map(",".join), max_size=8)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def _read(root: Path, data: bytes, encoding: str, small_file: int, monkeypatch: pytest.MonkeyPatch,
          batch: int = contacts.BATCH, row_by_row: bool = False) -> Any:
    extra = f"          encoding: {encoding}\n" if encoding != "utf-8" else ""
    write(root, {"c.yaml": CSV_CAMPAIGN.format(extra=extra), "c.csv": data})
    with monkeypatch.context() as m:
        m.setattr(contacts, "SMALL_FILE", small_file)
        m.setattr(contacts, "BATCH", batch)
        if row_by_row:  # the bulk check never passes: every row is checked on its own
            m.setattr(contacts, "_VALID_BLOCK", re.compile(r"(?!)"))
        result = load(root)
    rows = [list(c.contacts.rows) for c in result.state.campaigns] if result.state is not None else None
    return [(p.severity, Path(p.file).name, p.line, p.field, p.message) for p in result.problems], rows


@settings(max_examples=int(os.environ.get("CAMPAIGNCTL_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, ending=ENDINGS, encoding=st.sampled_from(["utf-8", "gbk"]), bad=st.integers(-1, 200),
       tail=st.booleans())
def test_a_file_read_whole_reads_as_the_same_file_streamed(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, lines: list[str], ending: str,
    encoding: str, bad: int, tail: bool,
) -> None:
    text = ending.join(["客户手机号码,姓名", *lines]) + (ending if tail else "")
    data = text.encode("utf-8" if encoding == "utf-8" else "gb18030", errors="replace")
    if 0 <= bad < len(data):  # a byte that decodes in neither codec, somewhere in the file
        data = data[:bad] + b"\xff" + data[bad:]
    root = tmp_path_factory.mktemp("csv")
    whole = _read(root, data, encoding, 1 << 20, monkeypatch)
    streamed = _read(root, data, encoding, -1, monkeypatch)
    assert whole == streamed
    # Rows are checked in bulk a batch at a time, and one by one only in a batch the bulk check fails:
    # the same rows and problems as when every row is checked on its own, whatever the batch size.
    for batch in (1, 3):
        assert _read(root, data, encoding, 1 << 20, monkeypatch, batch) == whole
    assert _read(root, data, encoding, 1 << 20, monkeypatch, 2, row_by_row=True) == whole
    assert _read(root, data, encoding, -1, monkeypatch, 2, row_by_row=True) == whole


def test_the_whole_read_takes_what_a_file_grew_or_shrank_by(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"x" * 200_000)
    for stated in (0, 10, 199_999, 200_000, 300_000):  # the size fstat gave, before the file changed
        fd = os.open(path, os.O_RDONLY)
        try:
            assert contacts._read_whole(fd, stated) == b"x" * 200_000
        finally:
            os.close(fd)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_pipe_named_as_a_source_is_refused_without_waiting_for_a_writer_when_a_cache_is_given(
    tmp_path: Path,
) -> None:
    """``plan`` loads with the state's cache of parses, which reads every source's bytes first: a
    named pipe there used to block that read until something wrote into it (for ever, in CI)."""
    import subprocess
    import sys

    write(tmp_path, {"c.yaml": CSV_CAMPAIGN.format(extra="")})
    os.mkfifo(tmp_path / "c.csv")
    code = ("import sys; from pathlib import Path; from reconciler.config import load; "
            "print('\\n'.join(p.message for p in load(Path(sys.argv[1]), cache={}).problems))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert f"contact source {tmp_path / 'c.csv'} is not a file" in done.stdout


def test_the_whole_read_goes_on_after_a_short_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system may answer a read with fewer bytes than asked before the end (FUSE, network
    mounts): the read goes on until a read finds the end, so no row is dropped."""
    path = tmp_path / "c.csv"
    path.write_bytes(b"0123456789" * 1000)
    real = os.read
    monkeypatch.setattr(contacts.os, "read", lambda fd, n: real(fd, min(n, 7)))  # at most 7 bytes a read
    fd = os.open(path, os.O_RDONLY)
    try:
        assert contacts._read_whole(fd, 10_000) == b"0123456789" * 1000
    finally:
        os.close(fd)


@pytest.mark.parametrize("small_file", [1 << 20, -1], ids=["read whole", "streamed"])
def test_a_row_is_normalised_on_its_own_only_in_a_batch_the_bulk_check_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_file: int,
) -> None:
    """Rows are checked a batch at a time: one regex over the batch's phones passes a batch whose every
    phone is already normal (fixed lines of 12 digits included), so the per-row normaliser runs only for
    the batch with a number to normalise; that number is still normalised and kept."""
    calls: list[str] = []
    real = contacts.normalize_phone
    monkeypatch.setattr(contacts, "normalize_phone", lambda raw: calls.append(raw) or real(raw))
    batch = 100
    monkeypatch.setattr(contacts, "BATCH", batch)
    numbers = [f"07558{i:07d}" for i in range(1000)]  # fixed lines, 12 digits: normal as written
    numbers[450] = "+86 199 0000 0003"
    body = "".join(f"{n},客户{i}\n" for i, n in enumerate(numbers))
    monkeypatch.setattr(contacts, "SMALL_FILE", small_file)
    write(tmp_path, {"c.yaml": CSV_CAMPAIGN.format(extra=""), "c.csv": "客户手机号码,姓名\n" + body})
    result = load(tmp_path)
    assert result.state is not None and not result.problems
    rows = list(result.state.campaigns[0].contacts.rows)
    assert [r.phone for r in rows] == [*numbers[:450], "19900000003", *numbers[451:]]
    assert [r.row for r in rows] == list(range(2, 1002))
    assert sorted(calls) == sorted(numbers[400:500])  # the batch of rows 400-499, and no other row
