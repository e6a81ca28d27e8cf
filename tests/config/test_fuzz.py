"""Fuzz: random documents and random CSV bytes give Problems, never an exception."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import LoadResult, load
from reconciler.errors import Problem
from reconciler.model import DesiredState
from tests.config.fixtures import PROJECT, XF_TASK, YC_TASK, write

# Bounded so the suite stays fast; CAMPAIGNCTL_FUZZ_EXAMPLES=2000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("CAMPAIGNCTL_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = [
    "version", "campaigns", "name", "provider", "mode", "robot", "lines", "voice", "code", "speed", "schedule",
    "begin", "end", "windows", "recall", "count", "wait", "turbo", "contacts", "columns", "phone_column",
    "sources", "csv", "rows", "encoding", "delimiter", "after_start", "state", "lifecycle", "yccall", "assign",
    "type", "agent", "scale", "scale_mode", "concurrency", "caller_numbers", "providers", "base_url", "timezone",
    "app_key_env", "status_map", "assign_types", "backend", "path", "dsn_env", "prune", "<<", "1025",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["iflytek", "callcenter", "xfyeta", "yccall", "direct", "task", "09:00-12:00", "25:00-26:00",
                     "2027-03-01T09:00:00+08:00", "1:1", "客户手机号码", "姓名", "phone", "c.csv", "../c.csv",
                     "gbk", "utf-8", "19900000001", "+86 199 0000 0002", "", " ", "\x1f", "\x1e"]),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


def _load(files: dict[str, str | bytes], project: str | None = PROJECT) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        return load(write(Path(tmp), files, project=project))


def _check(result: LoadResult) -> None:
    assert all(isinstance(p, Problem) for p in result.problems)
    assert not any("internal error" in p.message for p in result.problems), result.problems
    assert result.state is None or isinstance(result.state, DesiredState)
    assert (result.state is None) == any(p.severity == "error" for p in result.problems)
    assert list(result.problems) == sorted(result.problems)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=None)


@FUZZ
@given(campaign=VALUES, project=VALUES)
def test_random_documents(campaign: Any, project: Any) -> None:
    _check(_load({"a.yaml": _dump(campaign)}, project=_dump(project)))
    _check(_load({"a.yaml": _dump({"version": 1, "campaigns": [campaign]})}))


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text(text: str) -> None:
    _check(_load({"a.yaml": text}))
    _check(_load({"a.yaml": "version: 1\n" + text}))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], tuple(rest), new)}
    copy = list(value)
    copy[head] = _replace(copy[head], tuple(rest), new)
    return copy


@FUZZ
@given(data=st.data(), base=st.sampled_from([XF_TASK, YC_TASK, PROJECT]))
def test_mutated_valid_documents(data: st.DataObject, base: str) -> None:
    doc = yaml.safe_load(base)
    path = data.draw(st.sampled_from(_paths(doc)))
    mutated = _dump(_replace(doc, path, data.draw(VALUES)))
    if base is PROJECT:
        _check(_load({"a.yaml": XF_TASK, "b.yaml": YC_TASK}, project=mutated))
    else:
        _check(_load({"a.yaml": mutated}))


CSV_CAMPAIGN = XF_TASK.replace('- rows: [["19900000001", "张先生"]]', "- csv: c.csv\n          encoding: {enc}")


@FUZZ
@given(raw=st.binary(max_size=400), enc=st.sampled_from(["utf-8", "gbk", "gb18030"]))
def test_random_csv_bytes(raw: bytes, enc: str) -> None:
    _check(_load({"a.yaml": CSV_CAMPAIGN.replace("{enc}", enc), "c.csv": raw}))
    header = "客户手机号码,姓名\n".encode("gbk" if enc != "utf-8" else "utf-8")
    _check(_load({"a.yaml": CSV_CAMPAIGN.replace("{enc}", enc), "c.csv": header + raw}))


CELLS = st.one_of(st.text(max_size=15), st.sampled_from(["19900000001", "+86 170 0000 0002", "010-12345678", ""]))


@FUZZ
@given(rows=st.lists(st.lists(CELLS, max_size=4), max_size=20), header=st.lists(CELLS, max_size=4))
def test_random_csv_rows(rows: list[list[str]], header: list[str]) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*header, "客户手机号码", "姓名"] if len(header) % 2 else header)
    writer.writerows(rows)
    _check(_load({"a.yaml": CSV_CAMPAIGN.replace("{enc}", "utf-8"), "c.csv": buf.getvalue()}))
