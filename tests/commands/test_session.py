"""session.config_digest: what the files say, not where the checkout lives or how it was spelled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.commands.session import config_digest


def _tree(root: Path) -> list[Path]:
    (root / "campaigns").mkdir(parents=True)
    (root / "contacts").mkdir()
    (root / "campaignctl.yaml").write_text("version: 1\n", encoding="utf-8")
    (root / "campaigns/a.yaml").write_text("version: 1\ncampaigns: []\n", encoding="utf-8")
    (root / "contacts/a.csv").write_text("phone\n19900000001\n", encoding="utf-8")
    return [root / "campaignctl.yaml", root / "campaigns/a.yaml", root / "campaigns/../contacts/a.csv"]


def test_digest_ignores_relative_or_absolute_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _tree(tmp_path / "cfg")
    absolute = config_digest(files, tmp_path / "cfg")
    monkeypatch.chdir(tmp_path)
    relative = config_digest([f.relative_to(tmp_path) for f in files], Path("cfg"))
    monkeypatch.chdir(tmp_path / "cfg")
    dot = config_digest([f.relative_to(tmp_path / "cfg") for f in files], Path("."))
    assert absolute == relative == dot


def test_digest_ignores_where_the_checkout_lives(tmp_path: Path) -> None:
    files = _tree(tmp_path / "one" / "cfg")
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    moved = [tmp_path / "two" / f.relative_to(tmp_path / "one") for f in files]
    assert config_digest(files, tmp_path / "one/cfg") == config_digest(moved, tmp_path / "two/cfg")


def test_digest_sees_renames_and_content(tmp_path: Path) -> None:
    files = _tree(tmp_path / "cfg")
    before = config_digest(files, tmp_path / "cfg")
    (tmp_path / "cfg/contacts/a.csv").write_text("phone\n19900000002\n", encoding="utf-8")
    assert config_digest(files, tmp_path / "cfg") != before
    (tmp_path / "cfg/contacts/a.csv").rename(tmp_path / "cfg/contacts/b.csv")
    renamed = [*files[:2], tmp_path / "cfg/contacts/b.csv"]
    assert config_digest(renamed, tmp_path / "cfg") != config_digest(files, tmp_path / "cfg")


def test_digest_is_of_the_bytes_load_read_and_reads_no_file_again(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's digest of the files is made of the digests load took of the bytes it read (it used to
    read and hash every contact file again: ~0.09 s of a no-op plan of 1,000 files), so it is of the
    bytes the plan was made from: a file that changes after load is not taken as planned."""
    from reconciler.config import load
    from tests.config.fixtures import XF_TASK, write

    d = tmp_path / "cfg"
    write(d, {"campaigns/c.yaml": XF_TASK.replace('        - rows: [["19900000001", "张先生"]]\n',
                                                  "        - csv: ../contacts/c.csv\n"),
              "contacts/c.csv": "客户手机号码,姓名\n19900000001,张先生\n"})
    result = load(d, cache={})  # as plan loads: with the state's parse cache
    assert result.state is not None, result.problems
    assert {str(f) for f in result.files} == set(result.file_digests)  # every file read has its digest
    read_again = config_digest(result.files, d)
    with monkeypatch.context() as m:
        m.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read again"))
        assert config_digest(result.files, d, result.file_digests) == read_again
    (d / "contacts/c.csv").write_text("客户手机号码,姓名\n19900000002,张先生\n", encoding="utf-8")
    assert config_digest(result.files, d, result.file_digests) == read_again != config_digest(result.files, d)
