"""A yes/no JSON Schema check compiled to closures: is this value valid, nothing more.

jsonschema's validator walks the schema for every value and builds error
objects it may not need (a 3,000-campaign file takes it most of a second);
almost every file is valid. :func:`compile_schema` turns a schema into one
function that answers "valid?" quickly; only a file it calls invalid goes
through jsonschema, for the messages (``config.schema``). It covers the
Draft 2020-12 keywords campaignctl's schemas use, with jsonschema's
semantics (a bool is not a number, ``1 == 1.0`` but ``True != 1`` in
``enum``/``const``/``uniqueItems``, ``pattern`` searches, ``format`` is an
annotation), and refuses (returns None, so jsonschema decides alone) a schema
with any other keyword. ``tests/config/test_fastschema.py`` holds it to
jsonschema on every example and on fuzzed documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

__all__ = ["Check", "compile_schema"]

Check = Callable[[Any], bool]

# Keywords that only annotate: they never make a value invalid.
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "format", "patternErrorMessage", "errorMessage", "markdownDescription", "$defs", "definitions",
})


_MEMBERS = ("properties", "patternProperties", "additionalProperties")


class _Unsupported(Exception):
    pass


def _is_int(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_int,
    "number": _is_num,
}


def _equal(a: Any, b: Any) -> bool:
    """jsonschema's equality: bools apart from numbers, containers item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def compile_schema(schema: Mapping[str, Any]) -> Check | None:
    """The schema as one yes/no function, or None when it uses a keyword this module does not know."""
    try:
        return _Compiler(schema).compile(schema)
    except _Unsupported:
        return None


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}
        self.compiling: set[str] = set()
        self.recursive: set[str] = set()

    def ref(self, pointer: str) -> Check:
        if not pointer.startswith("#"):
            raise _Unsupported(pointer)
        if pointer in self.refs:
            if pointer in self.compiling:
                self.recursive.add(pointer)  # reached again while it compiles: only a slot can stand for it
            return self.refs[pointer]
        slot: list[Check] = []
        self.refs[pointer] = partial(_deferred, slot)  # recursion through $ref
        self.compiling.add(pointer)
        node: Any = self.root
        for part in [p for p in pointer[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        compiled = self.compile(node)
        self.compiling.discard(pointer)
        slot.append(compiled)
        if pointer not in self.recursive:
            self.refs[pointer] = compiled  # not recursive: later uses call it directly, one call less per value
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _true
        if schema is False:
            return _false
        if not isinstance(schema, Mapping):
            raise _Unsupported(repr(schema))
        typed = self.typed(schema)
        if typed is not None:
            return typed
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in ("then", "else"):  # (then/else go with "if")
                continue
            if key == "$ref":
                checks.append(self.ref(value))
            elif key == "type":
                names = [value] if isinstance(value, str) else list(value)
                tests = tuple(_TYPES[n] for n in names)
                checks.append(tests[0] if len(tests) == 1 else partial(_type, tests))
            elif key == "enum":
                checks.append(partial(_enum, tuple(value)))
            elif key == "const":
                checks.append(partial(_equal, value))
            elif key == "pattern":
                checks.append(partial(_pattern, re.compile(value).search))
            elif key in _BOUNDS:
                checks.append(partial(_BOUNDS[key], value))
            elif key == "uniqueItems":
                if value:
                    checks.append(_unique)
            elif key == "items":
                checks.append(partial(_items, self.compile(value)))
            elif key == "required":
                checks.append(partial(_required, tuple(value)))
            elif key == "dependentRequired":
                checks.append(partial(_dependent, tuple((k, tuple(v)) for k, v in value.items())))
            elif key == "propertyNames":
                checks.append(partial(_names, self.compile(value)))
            elif key in _MEMBERS:
                if key == next(k for k in schema if k in _MEMBERS):  # the three together, once
                    checks.append(self.object_members(schema))
            elif key == "allOf":
                checks.append(partial(_all, tuple(self.compile(x) for x in value)))
            elif key == "anyOf":
                checks.append(partial(_any, tuple(self.compile(x) for x in value)))
            elif key == "oneOf":
                checks.append(partial(_one, tuple(self.compile(x) for x in value)))
            elif key == "not":
                checks.append(partial(_not, self.compile(value)))
            elif key == "if":
                checks.append(partial(_if, self.compile(value), self.compile(schema.get("then", True)),
                                      self.compile(schema.get("else", True))))
            else:
                raise _Unsupported(key)
        if not checks:
            return _true
        if len(checks) == 1:
            return checks[0]
        return partial(_all, tuple(checks))

    def typed(self, schema: Mapping[str, Any]) -> Check | None:
        """The usual leaf and object schemas, one ``type`` and the keywords of that type only, as one
        function: the value is tested for its type once, not again by each keyword (most of a valid
        file's values pass here), and there is one call per value instead of one per keyword."""
        kind = schema.get("type")
        if not isinstance(kind, str):
            return None
        keys = {k for k in schema if k not in _ANNOTATIONS}
        if kind == "string" and keys <= _STRING_KEYS:
            pattern = schema.get("pattern")
            return partial(_string, schema.get("minLength", 0), schema.get("maxLength"),
                           re.compile(pattern).search if pattern is not None else None)
        if kind in ("integer", "number") and keys <= _NUMBER_KEYS:
            bounds = tuple((_BOUNDS[k], schema[k]) for k in schema if k in _NUMBER_KEYS and k != "type")
            return partial(_number, _TYPES[kind], bounds)
        if kind == "object" and keys <= _OBJECT_KEYS:
            return self.object_members(schema, typed=True)
        if kind == "array" and keys <= _ARRAY_KEYS:
            return partial(_array, self.compile(schema.get("items", True)), schema.get("minItems", 0),
                           schema.get("maxItems"), bool(schema.get("uniqueItems")))
        return None

    def object_members(self, schema: Mapping[str, Any], typed: bool = False) -> Check:
        """properties, patternProperties and additionalProperties of one schema, as one check;
        ``typed``: also ``type: object`` and ``required``."""
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        patterns = [(re.compile(p).search, self.compile(s)) for p, s in (schema.get("patternProperties") or {}).items()]
        extra = self.compile(schema["additionalProperties"]) if "additionalProperties" in schema else None
        required = tuple(schema.get("required") or ()) if typed else ()

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return not typed
            for n in required:
                if n not in v:
                    return False
            for k, item in v.items():
                f = props.get(k)
                known = f is not None
                if f is not None and not f(item):
                    return False
                if patterns:  # (most objects have none: one lookup per key)
                    for search, g in patterns:
                        if search(k) is not None:
                            known = True
                            if not g(item):
                                return False
                if not known and extra is not None and not extra(item):
                    return False
            return True

        return check


_STRING_KEYS = frozenset({"type", "minLength", "maxLength", "pattern"})
_NUMBER_KEYS = frozenset({"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_OBJECT_KEYS = frozenset({"type", "required", *_MEMBERS})
_ARRAY_KEYS = frozenset({"type", "items", "minItems", "maxItems", "uniqueItems"})


# --- the checks (each returns True for a value the keyword does not apply to) -----------------


def _string(shortest: int, longest: int | None, search: Callable[[str], Any] | None, v: Any) -> bool:
    """``type: string`` with its length bounds and pattern."""
    if not isinstance(v, str):
        return False
    if len(v) < shortest or (longest is not None and len(v) > longest):
        return False
    return search is None or search(v) is not None


def _array(each: Check, shortest: int, longest: int | None, unique: bool, v: Any) -> bool:
    """``type: array`` with its items, length bounds and ``uniqueItems``."""
    if not isinstance(v, list):
        return False
    if len(v) < shortest or (longest is not None and len(v) > longest):
        return False
    for x in v:
        if not each(x):
            return False
    return not unique or _unique(v)


def _number(test: Check, bounds: tuple[tuple[Callable[[Any, Any], bool], Any], ...], v: Any) -> bool:
    """``type: integer`` / ``number`` with its bounds."""
    if not test(v):
        return False
    for bound, n in bounds:
        if not bound(n, v):
            return False
    return True


def _true(v: Any) -> bool:
    return True


def _false(v: Any) -> bool:
    return False


def _deferred(slot: list[Check], v: Any) -> bool:
    return slot[0](v)


def _type(tests: tuple[Check, ...], v: Any) -> bool:
    for f in tests:  # loops, not generators: these run for every value of every file
        if f(v):
            return True
    return False


def _enum(options: tuple[Any, ...], v: Any) -> bool:
    for o in options:
        if _equal(v, o):
            return True
    return False


def _pattern(search: Callable[[str], Any], v: Any) -> bool:
    return not isinstance(v, str) or search(v) is not None


def _min_length(n: int, v: Any) -> bool:
    return not isinstance(v, str) or len(v) >= n


def _max_length(n: int, v: Any) -> bool:
    return not isinstance(v, str) or len(v) <= n


def _minimum(n: float, v: Any) -> bool:
    return not _is_num(v) or v >= n


def _maximum(n: float, v: Any) -> bool:
    return not _is_num(v) or v <= n


def _exclusive_minimum(n: float, v: Any) -> bool:
    return not _is_num(v) or v > n


def _exclusive_maximum(n: float, v: Any) -> bool:
    return not _is_num(v) or v < n


def _min_items(n: int, v: Any) -> bool:
    return not isinstance(v, list) or len(v) >= n


def _max_items(n: int, v: Any) -> bool:
    return not isinstance(v, list) or len(v) <= n


def _min_properties(n: int, v: Any) -> bool:
    return not isinstance(v, dict) or len(v) >= n


def _max_properties(n: int, v: Any) -> bool:
    return not isinstance(v, dict) or len(v) <= n


_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "minLength": _min_length, "maxLength": _max_length, "minimum": _minimum, "maximum": _maximum,
    "exclusiveMinimum": _exclusive_minimum, "exclusiveMaximum": _exclusive_maximum, "minItems": _min_items,
    "maxItems": _max_items, "minProperties": _min_properties, "maxProperties": _max_properties,
}


def _unique(v: Any) -> bool:
    if not isinstance(v, list):
        return True
    for i, a in enumerate(v):
        for b in v[i + 1:]:
            if _equal(a, b):
                return False
    return True


def _items(f: Check, v: Any) -> bool:
    if isinstance(v, list):
        for x in v:
            if not f(x):
                return False
    return True


def _required(names: tuple[str, ...], v: Any) -> bool:
    if isinstance(v, dict):
        for n in names:
            if n not in v:
                return False
    return True


def _dependent(deps: tuple[tuple[str, tuple[str, ...]], ...], v: Any) -> bool:
    return not isinstance(v, dict) or all(all(n in v for n in names) for k, names in deps if k in v)


def _names(f: Check, v: Any) -> bool:
    if isinstance(v, dict):
        for k in v:
            if not f(k):
                return False
    return True


def _all(parts: tuple[Check, ...], v: Any) -> bool:
    for f in parts:
        if not f(v):
            return False
    return True


def _any(parts: tuple[Check, ...], v: Any) -> bool:
    for f in parts:
        if f(v):
            return True
    return False


def _one(parts: tuple[Check, ...], v: Any) -> bool:
    return sum(1 for f in parts if f(v)) == 1


def _not(f: Check, v: Any) -> bool:
    return not f(v)


def _if(cond: Check, then: Check, other: Check, v: Any) -> bool:
    return then(v) if cond(v) else other(v)
