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

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
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
# YAML 1.2 core words; none starts like a number (the empty null is tested apart)
_WORDS: dict[str, Any] = {**dict.fromkeys(_NULLS - {""}), **dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_NUMBER_START = frozenset("0123456789+-.")  # every int, octal, hex, float, .inf and .nan starts with one
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


class Document:
    """A parsed file: its value and where each part of it was written.

    ``line(path)`` is the line of the node at ``path`` (a tuple of keys and
    indexes), ``key_line(path)`` the line of the mapping key that introduced
    it, ``text(path, value)`` a scalar as written. Lines are looked up in the
    composed nodes only when asked for (a problem, a campaign's own line): a
    file without problems never pays for a line table.
    """

    __slots__ = ("_last_line", "_root", "raw", "value")

    def __init__(self, value: Any, root: Node | None = None, raw: Mapping[Path, str] | None = None,
                 last_line: int = 1 << 62) -> None:
        self.value = value
        self.raw: Mapping[Path, str] = raw if raw is not None else {}
        self._root = root
        self._last_line = last_line  # libyaml may mark an empty node at the end one line past the text

    def line(self, path: Path) -> int:
        """Line of the node at ``path``, or of its nearest known ancestor."""
        node, _, _ = _descend(self._root, tuple(path))
        return 1 if node is None else _line_of(node, self._last_line)

    def key_line(self, path: Path) -> int:
        """Line of the key naming ``path`` (falls back to the node's line)."""
        _, key, whole = _descend(self._root, tuple(path))
        if whole and key is not None:
            return int(key.start_mark.line) + 1
        return self.line(path)

    def item_lines(self, path: Path) -> list[int]:
        """The line of each item of the list at ``path`` (one lookup for a list read row by row)."""
        node, _, whole = _descend(self._root, tuple(path))
        if not whole or not isinstance(node, SequenceNode):
            return []
        return [_line_of(item, self._last_line) for item in node.value]

    def text(self, path: Path, value: Any) -> str:
        """A scalar as the text the user wrote (integers keep leading zeros)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return self.raw.get(tuple(path), str(value))
        return str(value)


def _line_of(node: Node, last_line: int) -> int:
    """The 1-based line a node starts on (libyaml may mark an empty node at the end one line past the text)."""
    return min(int(node.start_mark.line) + 1, last_line)


def _is_merge_key(node: Node) -> bool:
    """``<<`` written plain (or tagged ``!!merge``): a merge, not a key."""
    return node.__class__ is ScalarNode and node.value == "<<" and node.tag in (_PLAIN, _MERGE)


def _descend(root: Node | None, path: Path) -> tuple[Node | None, Node | None, bool]:
    """The node at ``path`` or its nearest ancestor, the key node that named it (``None`` for a
    list item or the root), and whether the whole path was found.

    Follows the same rules as :class:`_Walker`: the first of duplicate keys,
    explicit keys before merged ones, merge sources in order.
    """
    node, key = root, None
    for part in path:
        if isinstance(node, SequenceNode) and isinstance(part, int) and not isinstance(part, bool):
            if not 0 <= part < len(node.value):
                return node, key, False
            node, key = node.value[part], None
        elif isinstance(node, MappingNode) and isinstance(part, str):
            found = _find_key(node, part)
            if found is None:
                return node, key, False
            key, node = found
        else:
            return node, key, False
    return node, key, True


def _find_key(node: MappingNode, key: str, active: set[int] | None = None) -> tuple[Node, Node] | None:
    """(key node, value node) for ``key`` in a mapping, merges included, as the walker builds it.
    Every line lookup passes here: the usual mapping, without merge keys, is one plain loop."""
    merges: list[Node] | None = None
    for key_node, value_node in node.value:
        if key_node.__class__ is not ScalarNode:
            continue
        text = key_node.value
        if text == "<<" and key_node.tag in (_PLAIN, _MERGE):  # a merge key (see _is_merge_key)
            if merges is None:
                merges = []
            merges.append(value_node)
        elif text == key:
            return key_node, value_node
    if merges is None:
        return None
    if active is None:
        active = set()
    active.add(id(node))
    for value in merges:
        for source in value.value if isinstance(value, SequenceNode) else [value]:
            if isinstance(source, MappingNode) and id(source) not in active:
                found = _find_key(source, key, active)
                if found is not None:
                    return found
    return None


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
    """Marks plain scalars for core-schema resolution done in :func:`_scalar`.

    Exactly ``BaseResolver`` (no implicit and no path resolvers) with the
    plain mark, written out flat: the composer asks once per node, and
    :meth:`descend_resolver` / :meth:`ascend_resolver` (which only serve path
    resolvers) are C no-ops, a fifth of libyaml's composing time otherwise.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP

    descend_resolver = staticmethod(operator.is_)  # type: ignore[assignment]  # (parent, index) -> ignored
    ascend_resolver = staticmethod(tuple)  # type: ignore[assignment]  # () -> ignored


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
    """Nodes to values; lines are not copied out (:meth:`Document.line` looks them up when asked)."""

    def __init__(self, last_line: int = 1 << 62, *, aliased: bool = True) -> None:
        self.last_line = last_line  # libyaml may mark an empty node at the end one line past the text
        # False for a document with no anchor, hence no alias: no node is reached twice, so nothing is
        # kept to tell repeats and recursion apart (most files; a third of the walk otherwise)
        self.aliased = aliased
        self.raw: dict[Path, str] = {}
        self.issues: list[YamlIssue] = []
        self.active: set[int] = set()
        self.seen: set[int] = set()
        self.count = 0
        self.repeated = 0

    def walk(self, node: Node, path: Path) -> Any:
        if node.__class__ is ScalarNode:
            self.count += 1
            return node.value if node.tag == _STR else self.scalar(node, path)
        return self.container(node, path)

    def container(self, node: Node, path: Path) -> Any:
        """A list or mapping; scalars inside are turned into values inline (most nodes are scalars)."""
        children = len(node.value) if isinstance(node.value, list) else 0
        self.count += 1 + children
        if self.count > MAX_NODES:
            raise _TooLarge(f"the document has more than {MAX_NODES} nodes")
        aliased = self.aliased
        if aliased:
            ident = id(node)
            if ident in self.seen:  # walked before: through an alias; it and its items count as repeated
                self.repeated += 1 + children
                if self.repeated > MAX_ALIAS_NODES:
                    raise _TooLarge(f"aliases repeat more than {MAX_ALIAS_NODES} nodes (an alias bomb?)")
            else:
                self.seen.add(ident)
            if ident in self.active:
                self.issues.append(YamlIssue(self.at(node), "recursive alias: a node may not contain itself", path))
                return None
            self.active.add(ident)
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.issues.append(YamlIssue(self.at(node), f"unsupported YAML tag {node.tag!r}", path))
                return self.sequence(node, path)
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    self.issues.append(YamlIssue(self.at(node), f"unsupported YAML tag {node.tag!r}", path))
                return self.mapping(node, path)
        finally:
            if aliased:
                self.active.discard(ident)
        self.issues.append(YamlIssue(self.at(node), "unsupported YAML node", path))  # pragma: no cover
        return None

    def at(self, node: Node) -> int:
        return _line_of(node, self.last_line)

    def sequence(self, node: SequenceNode, path: Path) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for i, child in enumerate(node.value):
            if child.__class__ is ScalarNode:
                text = child.value
                if child.tag == _STR:
                    append(text)
                elif child.tag == _PLAIN and text and text[0] not in _NUMBER_START:  # a word: as plain() reads it
                    append(_WORDS.get(text, text))
                else:
                    append(self.scalar(child, (*path, i)))
            else:
                append(self.container(child, (*path, i)))
        return out

    def mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pairs: list[tuple[Node, Node]] = node.value
        merges = False
        for k, _ in pairs:  # a loop, not any() over a generator: every mapping of every file passes here
            if k.value == "<<" and _is_merge_key(k):  # (the cheap test first: almost no key is "<<")
                merges = True
                break
        if merges:
            explicit: list[tuple[Node, Node]] = []
            for key_node, value_node in pairs:
                if _is_merge_key(key_node):
                    self.merge(value_node, path, out)
                else:
                    explicit.append((key_node, value_node))
            pairs = explicit
        written: dict[str, Node] = {}
        for key_node, value_node in pairs:
            if key_node.__class__ is not ScalarNode:
                self.issues.append(YamlIssue(self.at(key_node),
                                             "mapping keys must be plain text, not lists or mappings", path))
                continue
            key = str(key_node.value)
            if key in written:
                self.issues.append(YamlIssue(self.at(key_node),
                                             f"duplicate key {key!r} (first at line {self.at(written[key])})",
                                             (*path, key)))
                continue
            written[key] = key_node
            # explicit keys win over merged ones
            if value_node.__class__ is ScalarNode:
                text = value_node.value
                if value_node.tag == _STR:
                    out[key] = text
                elif value_node.tag == _PLAIN and text and text[0] not in _NUMBER_START:  # a word (see plain())
                    out[key] = _WORDS.get(text, text)
                else:
                    out[key] = self.scalar(value_node, (*path, key))
            else:
                out[key] = self.container(value_node, (*path, key))
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

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        text = str(node.value)
        tag = node.tag
        try:
            return self._scalar(text, tag, path, node)
        except _BadNumber as exc:
            self.issues.append(YamlIssue(self.at(node), str(exc), path))
            return text  # a string: the schema then names the field as the wrong type, nothing reads it as a number

    def _scalar(self, text: str, tag: str, path: Path, node: ScalarNode) -> Any:
        if tag == _PLAIN:
            return self.plain(text, path)
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            value = self.plain(text, path)
            expected = {_INT: int, _FLOAT: float, _BOOL: bool, _NULL: type(None)}[tag]
            if tag == _FLOAT and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if type(value) is not expected:
                self.issues.append(YamlIssue(self.at(node), f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}",
                                             path))
            return value
        self.issues.append(YamlIssue(self.at(node), f"unsupported YAML tag {tag!r}; remove it", path))
        return text

    def plain(self, text: str, path: Path) -> Any:
        if not text:
            return None
        if text[0] not in _NUMBER_START:  # not a number: a null or boolean word, else a string
            return _WORDS.get(text, text)
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
        return Document(None), []
    last_line = text.count("\n") + 1
    # ``*name`` can only name an anchor (``&name``): without one, no node is reached twice
    walker = _Walker(last_line, aliased="&" in text)
    try:
        value = walker.walk(node, ())
    except _TooLarge as exc:
        return None, [YamlIssue(1, exc.message)]
    except RecursionError:
        return None, [YamlIssue(1, "the document is nested too deeply")]
    return Document(value, node, walker.raw, last_line), walker.issues
