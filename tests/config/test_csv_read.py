"""A small CSV file is read whole and decoded at once; a large one is streamed. Both must read the
same rows and report the same problems at the same rows, whatever the bytes."""

from __future__ import annotations

import os
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


def _read(root: Path, data: bytes, encoding: str, small_file: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    extra = f"          encoding: {encoding}\n" if encoding != "utf-8" else ""
    write(root, {"c.yaml": CSV_CAMPAIGN.format(extra=extra), "c.csv": data})
    with monkeypatch.context() as m:
        m.setattr(contacts, "SMALL_FILE", small_file)
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
