"""JSON Schema validation with every error mapped to a file line.

The schemas (``reconciler/schema/*.json``, JSON Schema 2020-12) are the
reference for editors. jsonschema's own messages echo values (a literal
secret in a ``*_env`` key would be printed), so messages are written here,
per keyword; a schema may carry ``patternErrorMessage`` (understood by
editors as well) or ``errorMessage: {keyword: text}`` for friendlier words.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from reconciler.config.fastschema import Check, compile_schema
from reconciler.config.yamlmarks import Document, Path, format_path

if TYPE_CHECKING:  # jsonschema is loaded only to word the problems of an invalid file (~40 ms at start)
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

__all__ = ["SchemaIssue", "SchemaKind", "load_schema", "schema_issues"]

SchemaKind = Literal["project", "campaign"]

#: Keys that would hold a secret if written in a file: point to ``<key>_env``.
SECRET_KEYS = frozenset(
    {"app_key", "app_secret", "token", "appid", "accesskey", "access_key", "password", "secret", "dsn"}
)

# Validators whose failure means the value at the error path is unusable.
_OBJECT_LEVEL = frozenset({"required", "additionalProperties", "dependentRequired", "minProperties"})


SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema")


@dataclass(frozen=True)
class SchemaIssue:
    path: Path  # the offending value (or the missing / unknown key)
    line: int
    message: str


@functools.cache
def load_schema(kind: SchemaKind) -> Mapping[str, Any]:
    """The shipped schema document (``reconciler/schema/<kind>.schema.json``), read beside this package
    (not through ``importlib.resources``, whose import alone costs validate ~4 ms)."""
    with open(os.path.join(SCHEMA_DIR, f"{kind}.schema.json"), encoding="utf-8") as fh:
        text = fh.read()
    schema: Mapping[str, Any] = json.loads(text)
    return schema


@functools.cache
def _fast(kind: SchemaKind) -> Check | None:
    return compile_schema(load_schema(kind))


@functools.cache
def _validator(kind: SchemaKind) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(kind))


def schema_issues(doc: Document, kind: SchemaKind) -> tuple[list[SchemaIssue], set[Path]]:
    """Every schema violation of ``doc``, located; plus the paths of unusable values.

    The second result lets the semantic checks skip values the schema already
    reported, so one fault gives one message.
    """
    fast = _fast(kind)
    if fast is not None and fast(doc.value):
        return [], set()  # valid: jsonschema would find nothing (it is asked only for the messages)
    issues: list[SchemaIssue] = []
    bad: set[Path] = set()
    for error in _validator(kind).iter_errors(doc.value):
        path = tuple(error.absolute_path)
        if error.validator not in _OBJECT_LEVEL and "propertyNames" not in error.absolute_schema_path:
            bad.add(path)
        issues.extend(_describe(doc, error, path))
    unique = list(dict.fromkeys(issues))
    return unique, bad


def _custom(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "pattern" and "patternErrorMessage" in schema:
        return str(schema["patternErrorMessage"])
    messages = schema.get("errorMessage")
    if isinstance(messages, Mapping) and error.validator in messages:
        return str(messages[error.validator])
    return None


def _short(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (empty)"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _describe(doc: Document, error: ValidationError, path: Path) -> Iterator[SchemaIssue]:
    v = error.validator
    value = error.validator_value
    inst = error.instance
    custom = _custom(error)
    line = doc.key_line(path)

    if "propertyNames" in error.absolute_schema_path and isinstance(inst, str):
        key_path = (*path, inst)
        yield SchemaIssue(key_path, doc.key_line(key_path), f"key {inst!r}: {custom or 'is not allowed here'}")
        return
    if v == "required":
        for key in value:
            if isinstance(inst, dict) and key not in inst:
                yield SchemaIssue((*path, key), line, f"missing required key {key!r}")
        return
    if v == "dependentRequired":
        for key, needs in value.items():
            if isinstance(inst, dict) and key in inst:
                for need in needs:
                    if need not in inst:
                        yield SchemaIssue((*path, need), line, f"{need!r} is required together with {key!r}")
        return
    if v == "additionalProperties" and isinstance(inst, dict):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for key in inst:
            if key in known or any(p.search(key) for p in patterns):
                continue
            yield SchemaIssue((*path, key), doc.key_line((*path, key)), _unknown_key(key, known))
        return
    if v in ("anyOf", "oneOf") and custom is None:
        if error.context:
            from jsonschema.exceptions import best_match

            best = best_match(error.context)
            yield from _describe(doc, best, tuple(best.absolute_path))
            return
        custom = "matches more than one allowed form" if v == "oneOf" else "does not match any allowed form"
    yield SchemaIssue(path, line, custom or _message(error, path))


def _unknown_key(key: str, known: list[str]) -> str:
    if key in SECRET_KEYS:
        return (
            f"{key!r} would put a secret in the file: keep the secret in an environment variable "
            f"and name that variable with '{key}_env: NAME'"
        )
    hint = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    allowed = f"; did you mean {hint[0]!r}?" if hint else (f" (allowed: {', '.join(known)})" if known else "")
    return f"unknown key {key!r}{allowed}"


def _message(error: ValidationError, path: Path) -> str:
    v = error.validator
    value = error.validator_value
    inst = error.instance
    if v == "type":
        types = [value] if isinstance(value, str) else list(value)
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return f"expected {words}, got {_short(inst)}"
    if v == "enum":
        return f"must be one of {', '.join(json.dumps(x, ensure_ascii=False) for x in value)}; got {_short(inst)}"
    if v == "const":
        return f"must be {json.dumps(value, ensure_ascii=False)}; got {_short(inst)}"
    if v == "pattern":
        return f"{_short(inst)} does not match the pattern {value}"
    if v == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if v == "maxLength":
        return f"must be at most {value} characters long"
    if v == "minimum":
        return f"must be at least {value}, got {_short(inst)}"
    if v == "maximum":
        return f"must be at most {value}, got {_short(inst)}"
    if v == "exclusiveMinimum":
        return f"must be greater than {value}, got {_short(inst)}"
    if v == "exclusiveMaximum":
        return f"must be less than {value}, got {_short(inst)}"
    if v == "minItems":
        return "must not be empty" if value == 1 else f"must have at least {value} items"
    if v == "maxItems":
        return f"must have at most {value} items"
    if v == "uniqueItems" and isinstance(inst, list):
        seen: list[Any] = []
        for item in inst:
            if item in seen:
                return f"lists {_short(item)} twice"
            seen.append(item)
        return "items must be unique"
    if v == "minProperties":
        return "must not be empty" if value == 1 else f"must have at least {value} entries"
    if v == "not":
        return "is not allowed here"
    return f"is invalid ({v}) at {format_path(path) or 'the top level'}"
