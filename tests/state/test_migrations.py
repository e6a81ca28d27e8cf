"""The two dialects' schema lists: the same versions, and released ones never edited."""

from __future__ import annotations

import hashlib

from reconciler.state import migrations

# sha256 of each released migration's text, as released; append, never change.
RELEASED = {
    "sqlite": {1: "924de9773f686a0ab2f6adac44c7323800616f3314a2dc12aec0edc89317d9c9"},
    "postgres": {1: "8ef657b98a939dc395f2eb1582ccf9d0084bd12d1f7a399bf51fe4299723de69"},
}


def test_both_dialects_have_the_same_versions_in_order() -> None:
    sqlite = [v for v, _ in migrations.SQLITE]
    assert sqlite == [v for v, _ in migrations.POSTGRES]
    assert sqlite == list(range(1, len(sqlite) + 1))


def test_released_migrations_are_unchanged() -> None:
    for name, scripts in (("sqlite", migrations.SQLITE), ("postgres", migrations.POSTGRES)):
        texts = dict(scripts)
        for version, digest in RELEASED[name].items():
            assert hashlib.sha256(texts[version].encode()).hexdigest() == digest, f"{name} migration {version}"
