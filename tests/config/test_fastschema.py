"""The compiled yes/no schema check agrees with jsonschema: on the examples and on mutated documents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config.fastschema import compile_schema
from reconciler.config.schema import _validator, load_schema
from tests.config.fixtures import PROJECT, XF_TASK, YC_TASK
from tests.config.test_fuzz import VALUES, _paths, _replace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "campaigns").rglob("*.yaml"))
MANY = settings(max_examples=int(os.environ.get("CAMPAIGNCTL_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def agree(kind: Any, doc: Any) -> None:
    fast = compile_schema(load_schema(kind))
    assert fast is not None
    expected = not any(True for _ in _validator(kind).iter_errors(doc))
    assert fast(doc) is expected, doc


def test_both_schemas_compile() -> None:
    assert compile_schema(load_schema("campaign")) is not None
    assert compile_schema(load_schema("project")) is not None
    assert compile_schema({"type": "object", "unknownKeyword": 1}) is None  # then jsonschema alone decides


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    agree("project" if path.name == "campaignctl.yaml" else "campaign", yaml.safe_load(path.read_text("utf-8")))


def _drop(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _drop(value[head], tuple(rest))}
    copy = list(value)
    copy[head] = _drop(copy[head], tuple(rest))
    return copy


@MANY
@given(data=st.data(), base=st.sampled_from([XF_TASK, YC_TASK, PROJECT]), how=st.sampled_from(["set", "drop"]))
def test_mutated_documents(data: st.DataObject, base: str, how: str) -> None:
    doc = yaml.safe_load(base)
    kind = "project" if base is PROJECT else "campaign"
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths if how == "set" else paths[1:] or paths))
        if how == "set" or not path:
            doc = _replace(doc, path, data.draw(st.one_of(VALUES, st.sampled_from(
                [True, False, 0, 1, 1.0, -1, 3, 4, 1000, "", "x", "xfyeta", "yccall", "running", "09:00-12:00",
                 [], {}, None, ["a", "a"], [1, 1.0], [True, 1]]))))
        else:
            doc = _drop(doc, path)
    agree(kind, doc)


# Each shape compiled to one function of its own (``_Compiler.typed``), against jsonschema on values of
# every type, inside and at the edges of the bounds.
TYPED = [
    {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"},
    {"type": "string", "pattern": "b"},
    {"type": "integer", "minimum": 1, "maximum": 3},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 2.5},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2, "uniqueItems": True},
    {"type": "array", "minItems": 1},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}}, "patternProperties": {"^x": {"type": "boolean"}},
     "additionalProperties": {"type": "null"}},
]
EDGES = ["", "a", "ab", "abc", "abcd", "b", "xb", 0, 1, 2, 3, 4, 1.0, 2.5, 0.5, -1, True, False, None, [], [1],
         [1, 1], [1, 1.0], [1, 2], [1, 2, 3], [True], ["a"], {}, {"a": 1}, {"a": "s"}, {"a": 1, "b": None},
         {"b": 1}, {"a": 1, "x1": True}, {"x1": 1}, {"a": "s", "z": None}, {"a": "s", "z": 0}]


@pytest.mark.parametrize("schema", TYPED, ids=lambda s: f"{s['type']}-{'-'.join(sorted(s))}")
def test_each_typed_shape_agrees_with_jsonschema(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    fast = compile_schema(schema)
    assert fast is not None
    for value in EDGES:
        assert fast(value) is Draft202012Validator(schema).is_valid(value), value
