"""YAML to plain values, keeping the line of every node.

Why not ``yaml.safe_load``: validation must say *where* a value was written,
and YAML 1.1 resolution bites campaign files (``13:30`` is the integer 810,
``on`` is ``True``, a ``2027-03-01`` is a date object, ``0551...`` may lose its
leading zero). So the document is composed into nodes with PyYAML and turned
into JSON-like values here, with YAML 1.2 core-schema rules: only
``true``/``false`` are booleans, no timestamps, no sexagesimal numbers.
Plain integers also keep their source text (:attr:`Document.raw`) so an
unquoted ``02160000001`` keeps its zero where a string is meant.

Composed with libyaml (PyYAML's C parser, the same resolver) when PyYAML
has it; a document libyaml refuses is composed again by the pure-Python
composer, so problems read exactly the same either way.

Anchors, aliases and merge keys (``<<: *defaults``) work; a merged value
keeps the line where it was written. Duplicate keys, unsupported tags,
recursive aliases and alias bombs are reported as :class:`YamlIssue`
values, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["Document", "Path", "YamlIssue", "format_path", "parse"]

Path = tuple[str | int, ...]

_PLAIN = "tag:campaignctl:plain"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT_RE = re.compile(r"[-+]?[0-9]+")
_OCT_RE = re.compile(r"0o[0-7]+")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF_RE = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN_RE = re.compile(r"\.(nan|NaN|NAN)")

#: Upper bound on nodes visited, so a huge document cannot exhaust memory.
MAX_NODES = 2_000_000
#: Upper bound on nodes visited again through aliases (a "billion laughs" bomb).
MAX_ALIAS_NODES = 50_000


@dataclass(frozen=True)
class YamlIssue:
    line: int
    message: str
    path: Path = ()


@dataclass(frozen=True)
class Document:
    """A parsed file: its value and where each part of it was written.

    ``lines[path]`` is the line of the node at ``path`` (a tuple of keys and
    indexes); ``key_lines[path]`` the line of the mapping key that introduced
    it; ``raw[path]`` the source text of a plain integer scalar.
    """

    value: Any
    lines: Mapping[Path, int] = field(default_factory=dict)
    key_lines: Mapping[Path, int] = field(default_factory=dict)
    raw: Mapping[Path, str] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """Line of the node at ``path``, or of its nearest known ancestor."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def key_line(self, path: Path) -> int:
        """Line of the key naming ``path`` (falls back to the node's line)."""
        p = tuple(path)
        return self.key_lines.get(p) or self.line(p)

    def text(self, path: Path, value: Any) -> str:
        """A scalar as the text the user wrote (integers keep leading zeros)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return self.raw.get(tuple(path), str(value))
        return str(value)


def format_path(path: Path) -> str:
    """``("campaigns", 0, "schedule")`` → ``campaigns[0].schedule``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Resolver(yaml.resolver.BaseResolver):
    """Marks plain scalars for core-schema resolution done in :func:`_scalar`."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _PyComposer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Resolver,
):
    """The pure-Python composer: the reference, and the fallback without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver.__init__(self)


try:  # libyaml's parser and composer, with the same resolver: ~5x faster on large files
    from yaml._yaml import CParser as _CParser

    class _CComposer(_CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _Composer: Any = _CComposer
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Composer = _PyComposer


class _TooLarge(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Walker:
    def __init__(self, last_line: int = 1 << 62) -> None:
        self.last_line = last_line  # libyaml may mark an empty node at the end one line past the text
        self.lines: dict[Path, int] = {}
        self.key_lines: dict[Path, int] = {}
        self.raw: dict[Path, str] = {}
        self.issues: list[YamlIssue] = []
        self.active: set[int] = set()
        self.seen: set[int] = set()
        self.count = 0
        self.repeated = 0

    def walk(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(f"the document has more than {MAX_NODES} nodes")
        if id(node) in self.seen:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_NODES:
                raise _TooLarge(f"aliases repeat more than {MAX_ALIAS_NODES} nodes (an alias bomb?)")
        else:
            self.seen.add(id(node))
        line = min(node.start_mark.line + 1, self.last_line)
        self.lines[path] = line
        if isinstance(node, ScalarNode):
            return self.scalar(node, path, line)
        if id(node) in self.active:
            self.issues.append(YamlIssue(line, "recursive alias: a node may not contain itself", path))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.issues.append(YamlIssue(line, f"unsupported YAML tag {node.tag!r}", path))
                return [self.walk(child, (*path, i)) for i, child in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    self.issues.append(YamlIssue(line, f"unsupported YAML tag {node.tag!r}", path))
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
        self.issues.append(YamlIssue(line, "unsupported YAML node", path))  # pragma: no cover
        return None

    def mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        explicit: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "<<" and key_node.tag in (_PLAIN, _MERGE):
                self.merge(value_node, path, out)
            else:
                explicit.append((key_node, value_node))
        written: set[str] = set()
        for key_node, value_node in explicit:
            kline = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.issues.append(YamlIssue(kline, "mapping keys must be plain text, not lists or mappings", path))
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in written:
                first = self.key_lines.get(child, 0)
                self.issues.append(YamlIssue(kline, f"duplicate key {key!r} (first at line {first})", child))
                continue
            written.add(key)
            self.key_lines[child] = kline
            out[key] = self.walk(value_node, child)  # explicit keys win over merged ones
        return out

    def merge(self, value: Node, path: Path, out: dict[str, Any]) -> None:
        """``<<: *defaults`` (or a list of aliases): keys not already merged are added."""
        sources = value.value if isinstance(value, SequenceNode) else [value]
        for source in sources:
            line = source.start_mark.line + 1
            if not isinstance(source, MappingNode):
                self.issues.append(YamlIssue(line, "a merge key (<<) takes a mapping or a list of mappings", path))
                continue
            if id(source) in self.active:
                self.issues.append(YamlIssue(line, "recursive alias: a node may not contain itself", path))
                continue
            self.active.add(id(source))
            try:
                for key, item in self.mapping(source, path).items():
                    out.setdefault(key, item)
            finally:
                self.active.discard(id(source))

    def scalar(self, node: ScalarNode, path: Path, line: int) -> Any:
        text = str(node.value)
        tag = node.tag
        if tag == _STR:
            return text
        try:
            return self._scalar(text, tag, path, line)
        except _BadNumber as exc:
            self.issues.append(YamlIssue(line, str(exc), path))
            return text  # a string: the schema then names the field as the wrong type, nothing reads it as a number

    def _scalar(self, text: str, tag: str, path: Path, line: int) -> Any:
        if tag == _PLAIN:
            return self.plain(text, path)
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            value = self.plain(text, path)
            expected = {_INT: int, _FLOAT: float, _BOOL: bool, _NULL: type(None)}[tag]
            if tag == _FLOAT and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if type(value) is not expected:
                self.issues.append(YamlIssue(line, f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}", path))
            return value
        self.issues.append(YamlIssue(line, f"unsupported YAML tag {tag!r}; remove it", path))
        return text

    def plain(self, text: str, path: Path) -> Any:
        if text in _NULLS:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if _INT_RE.fullmatch(text):
            self.raw[path] = text
            if len(text.lstrip("+-")) > MAX_DIGITS:
                raise _BadNumber(f"an integer of {len(text.lstrip('+-'))} digits is far out of any range here")
            return int(text)
        if (_OCT_RE.fullmatch(text) or _HEX_RE.fullmatch(text)) and len(text) - 2 > MAX_DIGITS:
            raise _BadNumber(f"an integer of {len(text) - 2} digits is far out of any range here")
        if _OCT_RE.fullmatch(text):
            return int(text[2:], 8)
        if _HEX_RE.fullmatch(text):
            return int(text[2:], 16)
        if _FLOAT_RE.fullmatch(text):
            number = float(text)
            if number != number or number in (float("inf"), float("-inf")):
                raise _BadNumber(f"{text!r} is not a finite number")
            return number
        if _INF_RE.fullmatch(text) or _NAN_RE.fullmatch(text):
            raise _BadNumber(f"{text!r} is not a finite number; no setting takes infinity or NaN")
        return text


MAX_DIGITS = 30  # no setting takes a number this long; Python refuses int() past 4,300 digits anyway


class _BadNumber(ValueError):
    """A number no setting can take (too many digits, infinite, NaN): reported at its line."""


def _line_of_position(text: str, position: int) -> int:
    return text.count("\n", 0, max(position, 0)) + 1


def _compose(cls: Any, text: str) -> Node | None:
    composer = cls(text)
    try:
        node: Node | None = composer.get_single_node()
        return node
    finally:
        composer.dispose()


def parse(text: str) -> tuple[Document | None, list[YamlIssue]]:
    """Parse one YAML document. ``None`` with issues when it cannot be read.

    An empty document parses to ``Document(None)``; the caller decides
    whether that is acceptable.
    """
    node: Node | None = None
    # Tabs and tags: libyaml takes some of them differently ("0\t", a bare "!"); such documents
    # (campaign files have neither, as a rule) take the reference path.
    fast = _Composer is not _PyComposer and "\t" not in text and "!" not in text
    if fast:
        try:
            node = _compose(_Composer, text)
        except Exception:  # any fault: the reference composer says what it is, in its own words
            fast = False
    try:
        if not fast:
            node = _compose(_PyComposer, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or "cannot parse"
        if exc.context and what.startswith("but "):
            what = f"{exc.context}, {what}"
        elif exc.context:
            ctx_mark = exc.context_mark
            where = f" at line {ctx_mark.line + 1}" if ctx_mark is not None and ctx_mark is not mark else ""
            what = f"{what} ({exc.context}{where})"
        return None, [YamlIssue(line, f"malformed YAML: {what}")]
    except yaml.reader.ReaderError as exc:
        line = _line_of_position(text, exc.position)
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        return None, [YamlIssue(line, f"unreadable YAML: control character {char!r} is not allowed")]
    except yaml.YAMLError as exc:
        return None, [YamlIssue(1, f"malformed YAML: {exc}")]
    except RecursionError:
        return None, [YamlIssue(1, "malformed YAML: the document is nested too deeply")]
    if node is None:
        return Document(None, {(): 1}), []
    walker = _Walker(text.count("\n") + 1)
    try:
        value = walker.walk(node, ())
    except _TooLarge as exc:
        return None, [YamlIssue(1, exc.message)]
    except RecursionError:
        return None, [YamlIssue(1, "the document is nested too deeply")]
    return Document(value, walker.lines, walker.key_lines, walker.raw), walker.issues
