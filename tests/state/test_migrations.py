"""The two dialects' schema lists: the same versions, and released ones never edited."""

from __future__ import annotations

import hashlib

from reconciler.state import migrations

# sha256 of each released migration's text, as released; append, never change.
RELEASED = {
    "sqlite": {
        1: "924de9773f686a0ab2f6adac44c7323800616f3314a2dc12aec0edc89317d9c9",
        2: "11829e80e96221c7e463dc74adaa2594ac460555139551403130c5a39c3a3547",
        3: "561073bccc2f3077ac5f436205841da3f16b0b24f31f441b1e14927150111f85",
        4: "62adaf2c283f17d268f99066d067b04c23f2c91d92b2d6f99efc626bf85bbd65",
        5: "80effffcc6e93217bf96c13abdbe08e459db2558dd3de99ea5a782859e9cdad5",
        6: "a4e894cdbdead158d37f1bc8221e3f87c91fbd69e2c6b705809688963e043392",
        7: "140020c36e69df50b2dbc69bc843bde4f0ffeb9b5f35fa78c23cfbacffc061f2",
    },
    "postgres": {
        1: "8ef657b98a939dc395f2eb1582ccf9d0084bd12d1f7a399bf51fe4299723de69",
        2: "2a9cbf6d8bcd4ce8c5f443a17f283c813be636c1e7a3f7aa74c5f8a10775edd4",
        3: "e97a579584429f21759efe8b369b3051c1c051b0c2e5f0cb736e6d34eecc69dc",
        4: "ab0374dac921de9913055ea4c258439e85eb08be8e7a9d89276162b8e4670566",
        5: "ac8636099823332c69bfc507d7cc7928598b05c28d172390b00ab6762ba49dde",
        6: "856b005b36a1773481cb3d57d69b64a68bb89dc9ec4de2aeb47fa442df9bf963",
        7: "027effc49740e050fe98e0f5b1953169d328a43e26f4ee2ebfdd3dcb96a6aaf5",
    },
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
