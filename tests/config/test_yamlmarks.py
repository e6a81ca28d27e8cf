"""The line-marked YAML loader: YAML 1.2 core scalars, lines, and problems instead of exceptions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config.yamlmarks import MAX_ALIAS_NODES, format_path, parse


def test_core_schema_scalars_avoid_yaml11_surprises() -> None:
    doc, issues = parse("a: [13:30, on, yes, 2027-03-01, 0551, 1.5, ~, true, 0x1F, \"7\"]\n")
    assert issues == []
    assert doc is not None
    assert doc.value["a"] == ["13:30", "on", "yes", "2027-03-01", 551, 1.5, None, True, 31, "7"]
    # the source text of a plain integer is kept: leading zeros survive where a string is meant
    assert doc.text(("a", 4), 551) == "0551"


def test_lines_and_key_lines() -> None:
    text = "version: 1\ncampaigns:\n  - name: x\n    schedule:\n      begin: b\n"
    doc, _ = parse(text)
    assert doc is not None
    assert doc.line(("campaigns", 0)) == 3
    assert doc.line(("campaigns", 0, "schedule", "begin")) == 5
    assert doc.key_line(("campaigns", 0, "schedule")) == 4
    assert doc.line(("campaigns", 0, "schedule", "missing", 3)) == 5  # nearest known ancestor


def test_duplicate_keys_are_issues_first_wins() -> None:
    doc, issues = parse("a: 1\nb: 2\na: 3\n")
    assert doc is not None and doc.value == {"a": 1, "b": 2}
    assert [(i.line, i.path) for i in issues] == [(3, ("a",))]
    assert "first at line 1" in issues[0].message


def test_malformed_yaml_reports_parser_line() -> None:
    doc, issues = parse("a: 1\nb: [1, 2\nc: 3\n")
    assert doc is None
    assert issues[0].line == 3 and "malformed YAML" in issues[0].message


def test_control_characters_and_multiple_documents() -> None:
    assert parse("a: \x07\n")[1][0].message.startswith("unreadable YAML")
    _, issues = parse("a: 1\n---\nb: 2\n")
    assert issues[0].line == 2
    assert "expected a single document in the stream, but found another document" in issues[0].message


def test_recursive_alias_and_bombs_do_not_blow_up() -> None:
    doc, issues = parse("a: &x [1, *x]\n")
    assert doc is not None and "recursive" in issues[0].message
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 6):
        bomb += f"{'abcdefghij'[i]}: &{'abcdefghij'[i]} [" + ", ".join(f"*{'abcdefghij'[i - 1]}" for _ in range(10))
        bomb += "]\n"
    doc, issues = parse(bomb)
    assert doc is None and str(MAX_ALIAS_NODES) in issues[0].message


def test_tags_merge_keys_and_complex_keys() -> None:
    _, issues = parse("a: !custom 1\nb: !!int nope\n<<: [1]\n? [k]\n: v\n")
    messages = " | ".join(i.message for i in issues)
    assert "unsupported YAML tag" in messages
    assert "not a valid int" in messages
    assert "merge key (<<) takes a mapping" in messages
    assert "mapping keys must be plain text" in messages


def test_merge_keys_explicit_keys_win_and_lines_point_to_the_anchor() -> None:
    text = "defaults: &d\n  robot: '719'\n  lines: ['1']\nc:\n  <<: *d\n  lines: ['2']\n  name: x\n"
    doc, issues = parse(text)
    assert issues == [] and doc is not None
    assert doc.value["c"] == {"robot": "719", "lines": ["2"], "name": "x"}
    assert doc.line(("c", "robot")) == 2  # written in the anchored mapping
    assert doc.line(("c", "lines")) == 6
    _, dup = parse("a:\n  <<: {x: 1}\n  y: 1\n  y: 2\n")
    assert [i.line for i in dup] == [4]


def test_empty_document() -> None:
    doc, issues = parse("# only a comment\n")
    assert doc is not None and doc.value is None and issues == []


def test_format_path() -> None:
    assert format_path(("campaigns", 0, "schedule", "windows", 1)) == "campaigns[0].schedule.windows[1]"
    assert format_path(()) == ""


# --- libyaml and the pure-Python composer agree ----------------------------------------------

_TEXTS = st.text(alphabet=st.sampled_from([*list("ab: -[]{},#&*!<>|'\"\n\t 0123.~"), "é", "客"]), max_size=60)


@settings(max_examples=int(os.environ.get("CAMPAIGNCTL_FUZZ_EXAMPLES", "300")), deadline=None)
@given(_TEXTS)
def test_libyaml_and_the_pure_composer_give_the_same_document(text: str) -> None:
    from reconciler.config import yamlmarks

    fast = yamlmarks.parse(text)
    original = yamlmarks._Composer
    yamlmarks._Composer = yamlmarks._PyComposer
    try:
        slow = yamlmarks.parse(text)
    finally:
        yamlmarks._Composer = original
    # libyaml is a little more lenient in a few malformed corners ("0\t" is handled by taking tabbed
    # documents the reference way; a block scalar header such as ">#" is not): where the reference
    # accepts a document both give the same one, and where libyaml refuses one the reference's
    # words are reported.
    if slow[0] is not None or fast[0] is None:
        assert _described(*fast) == _described(*slow)


def _described(doc: Any, issues: list[Any]) -> tuple[Any, ...]:
    """Everything a caller can ask of a parse: the value, its raw integers, the issues, and the line and
    key line of every path in the value (lines are looked up lazily, so each is asked for)."""
    if doc is None:
        return None, issues

    def paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield path
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            yield from paths(item, (*path, key))

    lines = {p: (doc.line(p), doc.key_line(p)) for p in paths(doc.value)}
    for path in lines:
        value = doc.value
        for part in path:
            value = value[part]
        if isinstance(value, list):  # the one-lookup form a row reader uses agrees with line() item by item
            assert doc.item_lines(path) == [doc.line((*path, i)) for i in range(len(value))]
    return repr(doc.value), dict(doc.raw), issues, lines


def test_libyaml_is_used_when_present() -> None:
    from reconciler.config import yamlmarks

    assert yamlmarks._Composer is not yamlmarks._PyComposer


UNANCHORED = [
    "a: 1\nb: [x, {c: 2}]\n",
    "a: !!set {x}\nb: !!str 1\nc: !!int x\n",  # unsupported and mismatched tags
    "a: 1\na: 2\n? [x]\n: 3\n",  # a duplicate key, a key that is a list
    "<<: {a: 1, b: 2}\nb: 3\nc: [{<<: [{d: 4}, {d: 5}]}]\n",  # merges of mappings written in place
    "x: 1e999\ny: 0x" + "f" * 40 + "\n",  # numbers no setting takes
]
# the examples without an anchor (those with one take the full walker)
UNANCHORED_EXAMPLES = [text for p in sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))
                       if "&" not in (text := p.read_text("utf-8"))]


@pytest.mark.parametrize("text", UNANCHORED + UNANCHORED_EXAMPLES)
def test_a_document_without_anchors_walks_as_with_the_alias_bookkeeping(text: str) -> None:
    """parse() walks a document with no ``&`` without telling repeats apart (none can occur): the
    values, source texts and problems are those of the full walker."""
    from reconciler.config import yamlmarks

    assert "&" not in text
    node = yamlmarks._compose(yamlmarks._Composer, text)
    full, fast = yamlmarks._Walker(), yamlmarks._Walker(aliased=False)
    assert fast.walk(node, ()) == full.walk(node, ())
    assert (fast.raw, fast.issues, fast.count) == (full.raw, full.issues, full.count)
