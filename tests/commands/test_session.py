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
