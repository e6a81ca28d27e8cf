"""Emulator config files, read the same way for every vendor emulator.

A config file is JSON, or YAML by suffix (``.yaml``/``.yml``); it holds one
emulator's keys at the top level, or under a sub-object named after the
emulator (``{"xfyeta": {...}, "yccall": {...}}``: one file for both).
Unknown keys are an error, so a typo does not pass silently. Every fault is
a ``ValueError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

__all__ = ["FileConfig", "check_keys", "load_config_file"]

C = TypeVar("C")


def check_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Refuse keys that are not fields of the config dataclass ``cls``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} emulator config key(s): {', '.join(unknown)}")


def load_config_file(path: str | Path, section: str, from_dict: Callable[[Mapping[str, Any]], C]) -> C:
    """Read ``path`` and build the config with ``from_dict`` (``section``: the emulator's name)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        if yaml_file:
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError or json.JSONDecodeError
        raise ValueError(f"{path}: not valid {'YAML' if yaml_file else 'JSON'}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get(section), dict):
        data = data[section]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object at the top level")
    try:
        return from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (TypeError, KeyError) as exc:
        raise ValueError(f"{path}: bad {section} emulator config: {exc}") from None


class FileConfig:
    """Base of an emulator's config dataclass: ``load(path)`` reads a config file.

    A subclass sets ``section`` (its emulator's name) and implements
    ``from_dict``, and says which credentials its defaults accept.
    """

    section: ClassVar[str]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a config file (JSON, or YAML by suffix); the ``section`` sub-object is used when present."""
        return load_config_file(path, cls.section, cls.from_dict)

    def credentials(self) -> dict[str, str]:
        """Credential role → the value this config accepts (``campaignctl demo`` sets them)."""
        raise NotImplementedError
