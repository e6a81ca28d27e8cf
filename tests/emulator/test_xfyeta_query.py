"""task/query: filters, fuzzy names, paging, sorting, deleted tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulator.xfyeta import XfyetaConfig

from .xfyeta_support import Xf, rows, running


@pytest.fixture
def xf() -> Iterator[Xf]:
    with running() as xf:
        yield xf


def names(result: dict[str, Any]) -> list[str]:
    return [r["task_name"] for r in result["rows"]]


def test_pages_cover_every_task_once(xf: Xf) -> None:
    ids = [xf.create(task_name=f"gitops-c{i:03d}") for i in range(73)]
    seen: list[str] = []
    page = 1
    while True:
        result = xf.ok("task/query", {"page_size": 50, "page_index": page, "sort_name": "CREATETIME",
                                      "sort_order": "ASC"})
        assert result["total_rows"] == 73
        seen += [r["task_id"] for r in result["rows"]]
        if page * 50 >= result["total_rows"]:
            break
        page += 1
    assert seen == ids
    assert xf.ok("task/query", {"page_size": 50, "page_index": 3})["rows"] == []


def test_default_page_size_is_20_and_newest_first(xf: Xf) -> None:
    ids = [xf.create(task_name=f"t{i}") for i in range(25)]
    result = xf.ok("task/query", {})
    assert result["total_rows"] == 25
    assert [r["task_id"] for r in result["rows"]] == list(reversed(ids))[:20]


@pytest.mark.parametrize("body", [
    {"page_size": 51}, {"page_size": 0}, {"page_index": 0}, {"sort_name": "SIZE"}, {"sort_order": "UP"},
    {"task_status_list": "0"}, {"task_status_list": [True]}, {"task_id": 1001}, {"show_remaining": 1},
    {"time_begin": "0"},
])
def test_bad_query_input(xf: Xf, body: dict[str, Any]) -> None:
    assert xf.code("task/query", body) == 10005


def test_page_size_50_is_allowed(xf: Xf) -> None:
    assert xf.ok("task/query", {"page_size": 50})["total_rows"] == 0


def test_fuzzy_name_search_is_substring_and_case_insensitive(xf: Xf) -> None:
    for name in ("gitops-spring", "gitops-spring~2", "GitOps-autumn", "manual-spring", "other"):
        xf.create(task_name=name)
    assert sorted(names(xf.ok("task/query", {"task_name": "gitops-"}))) == [
        "GitOps-autumn", "gitops-spring", "gitops-spring~2"]
    assert sorted(names(xf.ok("task/query", {"task_name": "spring"}))) == [
        "gitops-spring", "gitops-spring~2", "manual-spring"]
    assert names(xf.ok("task/query", {"task_name": "gitops-spring~2"})) == ["gitops-spring~2"]
    assert xf.ok("task/query", {"task_name": "nothing"})["total_rows"] == 0


def test_fuzzy_name_search_treats_like_wildcards_as_wildcards(xf: Xf) -> None:
    xf.create(task_name="gitops-a_b")
    xf.create(task_name="gitops-axb")
    xf.create(task_name="gitops-a%b")
    assert sorted(names(xf.ok("task/query", {"task_name": "a_b"}))) == ["gitops-a%b", "gitops-a_b", "gitops-axb"]
    assert xf.ok("task/query", {"task_name": "gitops-%b"})["total_rows"] == 3


def test_filter_by_id_status_and_creation_time(xf: Xf) -> None:
    first = xf.create(task_name="a")
    xf.advance(60)
    second = xf.create(task_name="b")
    xf.insert(second, rows(1))
    xf.ok("task/start", {"task_id": second})
    xf.advance(60)
    third = xf.create(task_name="c")
    assert [r["task_id"] for r in xf.ok("task/query", {"task_id": second})["rows"]] == [second]
    assert xf.ok("task/query", {"task_id": "77777"})["total_rows"] == 0
    assert {r["task_id"] for r in xf.ok("task/query", {"task_status_list": [0]})["rows"]} == {first, third}
    assert {r["task_id"] for r in xf.ok("task/query", {"task_status_list": [1, 2, 5, 6]})["rows"]} == {second}
    assert xf.ok("task/query", {"task_status_list": []})["total_rows"] == 3
    state = {t["task_id"]: t for t in xf.emu.state()["tasks"]}
    created = {tid: state[tid]["time_create"] for tid in (first, second, third)}
    after_first = xf.ok("task/query", {"time_begin": created[second]})
    assert {r["task_id"] for r in after_first["rows"]} == {second, third}
    up_to_second = xf.ok("task/query", {"time_end": created[second]})
    assert {r["task_id"] for r in up_to_second["rows"]} == {first, second}
    only_second = xf.ok("task/query", {"time_begin": created[second], "time_end": created[second]})
    assert [r["task_id"] for r in only_second["rows"]] == [second]


@pytest.mark.parametrize(("sort_name", "order"), [
    ("ID", ["1001", "1002", "1003"]),
    ("NAME", ["1002", "1003", "1001"]),
    ("CREATETIME", ["1001", "1002", "1003"]),
    ("STARTTIME", ["1001", "1003", "1002"]),
    ("ENDTIME", ["1001", "1002", "1003"]),
])
def test_sorting(xf: Xf, sort_name: str, order: list[str]) -> None:
    a = xf.create(task_name="zeta")
    b = xf.create(task_name="alpha")
    c = xf.create(task_name="beta")
    xf.advance(1)
    xf.insert(c, rows(1))
    xf.ok("task/start", {"task_id": c})
    xf.advance(1)
    xf.insert(b, rows(1))
    xf.ok("task/start", {"task_id": b})
    assert [a, b, c] == ["1001", "1002", "1003"]
    asc = xf.ok("task/query", {"sort_name": sort_name, "sort_order": "ASC"})
    assert [r["task_id"] for r in asc["rows"]] == order
    desc = xf.ok("task/query", {"sort_name": sort_name, "sort_order": "DESC"})
    if sort_name != "ENDTIME":  # ENDTIME ties (none finished) break on id in both directions
        assert [r["task_id"] for r in desc["rows"]] == list(reversed(order))


def test_show_remaining_only_when_asked(xf: Xf) -> None:
    task_id = xf.create()
    xf.insert(task_id, rows(4))
    plain = xf.ok("task/query", {"task_id": task_id})["rows"][0]
    assert "remaining" not in plain
    assert xf.ok("task/query", {"task_id": task_id, "show_remaining": True})["rows"][0]["remaining"] == 4


def test_deleted_tasks_are_listed_with_flag(xf: Xf) -> None:
    kept = xf.create(task_name="gitops-kept")
    gone = xf.create(task_name="gitops-gone")
    xf.ok("task/delete", {"task_id": gone})
    result = xf.ok("task/query", {"task_name": "gitops-"})
    assert {r["task_id"]: r["deleted"] for r in result["rows"]} == {kept: 0, gone: 1}


def test_deleted_tasks_can_be_hidden_by_config() -> None:
    with running(XfyetaConfig(list_deleted=False)) as xf:
        kept = xf.create()
        gone = xf.create()
        xf.ok("task/delete", {"task_id": gone})
        result = xf.ok("task/query", {})
        assert [r["task_id"] for r in result["rows"]] == [kept]
        assert xf.code("task/start", {"task_id": gone}) == 3010102
