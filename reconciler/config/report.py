"""Collecting problems while loading: every fault is reported, not just the first."""

from __future__ import annotations

import hashlib
import itertools
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.yamlmarks import Document, Path, format_path
from reconciler.errors import Problem
from reconciler.model import PhoneList, SourceDigest

__all__ = ["PhoneLists", "Report", "YamlFile", "display_path", "where"]

#: Kept phone lists by table digest (from the state): those of ``digests`` it has, checked.
PhoneLists = Callable[[Sequence[str]], Mapping[str, PhoneList]]


def display_path(file: str) -> str:
    """``file`` relative to the current directory when it lies below it, else as given."""
    if not file:
        return file
    try:
        return str(pathlib.Path(file).resolve().relative_to(pathlib.Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return file


def where(file: str, line: int, current: str = "") -> str:
    """How a message names another location: ``line 7`` in the same file, else ``file:7``."""
    if file == current:
        return f"line {line}"
    return f"{display_path(file)}:{line}" if line else display_path(file)


#: Other places listed in one problem about many (a campaign name repeated, numbers shared with other
#: campaigns); the rest are counted. 3,000 campaigns of one name would otherwise list 9 million places.
LISTED_PLACES = 5


def listed(texts: Iterable[str], total: int, noun: str = "") -> str:
    """The first :data:`LISTED_PLACES` of ``texts`` (``total`` in all), then how many more there are."""
    shown = list(itertools.islice(texts, LISTED_PLACES))
    more = total - len(shown)
    return ", ".join(shown) + (f" and {more} more{noun}" if more > 0 else "")


def bytes_digest(data: bytes) -> str:
    """The digest of a file's bytes (of a contact source, and in the plan's digest of the files)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    # Earlier parses of contact sources by key (from the state), or None: parse everything now.
    cache: Mapping[str, SourceDigest] | None = None
    # Parses made now that may be cached (sources that gave no error).
    parsed: list[SourceDigest] = field(default_factory=list)
    # Kept phone lists of cached tables (from the state), or None: a table's numbers come from parsing it.
    phone_lists: PhoneLists | None = None
    # Phone lists of cached tables read now (by parsing), that the state does not keep yet.
    listed: list[PhoneList] = field(default_factory=list)
    # The digest (:func:`bytes_digest`) of each file read whole, by path: what the plan's digest of the
    # files is made of, from the bytes the plan was made from (no file read twice for it).
    file_digests: dict[str, str] = field(default_factory=dict)

    def add(self, file: str, line: int, field_: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(file, max(int(line), 0), field_, message, severity))

    # ``errors`` counts the problems added since it last counted (problems are only ever added:
    # ``add`` or extending ``problems``), so a check that asks before and after each campaign costs
    # nothing per problem already counted.
    _counted: int = field(default=0, init=False, repr=False, compare=False)
    _errors: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def errors(self) -> int:
        problems = self.problems
        if len(problems) < self._counted:  # (replaced from outside: count again)
            self._counted = self._errors = 0
        for i in range(self._counted, len(problems)):
            if problems[i].severity == "error":
                self._errors += 1
        self._counted = len(problems)
        return self._errors

    def sorted(self) -> tuple[Problem, ...]:
        return tuple(sorted(set(self.problems)))


@dataclass
class YamlFile:
    """One parsed YAML file: where problems about its values go."""

    file: str  # path as shown in problems
    doc: Document
    report: Report
    bad: set[Path] = field(default_factory=set)  # values the schema already reported

    def error(self, path: Path, message: str, *, line: int | None = None) -> None:
        self.report.add(self.file, self.doc.key_line(path) if line is None else line, format_path(path), message)

    def warning(self, path: Path, message: str, *, line: int | None = None) -> None:
        self.report.add(
            self.file, self.doc.key_line(path) if line is None else line, format_path(path), message, "warning"
        )

    def line(self, path: Path) -> int:
        return self.doc.line(path)

    def item_lines(self, path: Path) -> list[int]:
        return self.doc.item_lines(path)

    def key_line(self, path: Path) -> int:
        """The line of the key at ``path`` (where a problem about a missing or extra key is shown)."""
        return self.doc.key_line(path)

    def usable(self, path: Path) -> bool:
        """False when the schema already reported the value at ``path``."""
        return tuple(path) not in self.bad

    def text(self, path: Path, value: Any) -> str:
        return self.doc.text(path, value)
