"""Saved plan files: exact round trip, row ranges, tamper detection, bad files, no phone numbers."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.diff import diff
from reconciler.engine.inputs import Observed, Recorded
from reconciler.engine.plan import Action, ActionKind, CampaignSummary, Convergence, Diagnostic, Plan, PlanMeta
from reconciler.engine.planfile import (
    PLANFILE_VERSION,
    SavedPlan,
    bind_rows,
    check_files,
    check_observed,
    check_state,
    dump_plan,
    from_ranges,
    index_rows,
    involved_of,
    load_plan,
    observed_digest,
    parse_plan,
    to_ranges,
)
from reconciler.errors import PlanError, StalePlan
from reconciler.model import ContactRow, Contacts, DesiredCampaign, DesiredState
from reconciler.providers.base import Phase
from tests.helpers.builders import (
    TRAITS,
    campaign,
    desired,
    observed,
    observed_task,
    phones,
    recorded,
    rows,
    sent,
    task_record,
)
from tests.views.plans import PHONES, full_plan

NOW = datetime(2027, 2, 1, tzinfo=UTC)


def _with_rows(c: DesiredCampaign, numbers: list[str] | tuple[str, ...], name: str = "张先生") -> DesiredCampaign:
    return replace(c, contacts=Contacts(c.contacts.columns, c.contacts.phone_column, rows(numbers, name)))


def views_desired() -> DesiredState:
    """The files behind tests/views/plans.full_plan (its phones are the campaigns' rows)."""
    return desired(
        _with_rows(campaign("spring-promo"), PHONES),
        _with_rows(campaign("autumn"), list(reversed(PHONES[:10]))),  # carried rows out of table order
        _with_rows(campaign("direct-1", mode="direct"), PHONES[90:110]),
        campaign("winter"),
    )


def diff_cases() -> dict[str, tuple[Plan, DesiredState, Recorded]]:
    """Representative plans made by the diff, each with the files and state it was made from."""
    out: dict[str, tuple[Plan, DesiredState, Recorded]] = {}

    def add(key: str, ds: DesiredState, obs: Observed, rec: Recorded, allow: tuple[str, ...] = ()) -> None:
        plan = diff(ds, obs, rec, TRAITS, now=NOW, allow_replace=allow)
        assert plan.has_changes and plan.applyable, key
        out[key] = (plan, ds, rec)

    add("new task and direct", desired(campaign(n=120), campaign("survey", n=60, mode="direct")), observed(),
        recorded())
    c = campaign(n=5)
    started = task_record(c, "101", started=True)
    add("follow-up wave", desired(campaign(n=8)),
        observed(observed_task("101", started.remote_name, Phase.RUNNING, count=5)),
        recorded(tasks=[started], contacts=sent(c, "101", phones(5))))
    old = task_record(c, "102", started=True, fingerprint="old-settings")
    add("replace allowed", desired(c), observed(observed_task("102", old.remote_name, Phase.PAUSED, count=5)),
        recorded(tasks=[old], contacts=sent(c, "102", phones(5))), allow=("spring",))
    yc_all = campaign(numbers=phones(6), provider="callcenter")
    yc_now = campaign(numbers=[*phones(2), *phones(3, 10)], provider="callcenter")
    yt = task_record(yc_all, "Y1", started=True)
    add("yccall remove and append", desired(yc_now),
        observed(observed_task("Y1", yt.remote_name, Phase.RUNNING, profile="callcenter", count=6)),
        recorded(tasks=[yt], contacts=sent(yc_all, "Y1", list(reversed(phones(6))))))
    return out


def roundtrip(plan: Plan, ds: DesiredState, rec: Recorded | None = None,
              tmp_path: Path | None = None) -> tuple[Plan, Plan, SavedPlan]:
    indexed = index_rows(plan, ds)
    involved = involved_of(indexed)
    indexed = replace(indexed, meta=replace(indexed.meta, involved=involved))
    text = dump_plan(indexed, involved, recorded=rec)
    if tmp_path is not None:
        (tmp_path / "p.plan").write_text(text, encoding="utf-8")
        saved = load_plan(tmp_path / "p.plan")
    else:
        saved = parse_plan(text)
    return indexed, bind_rows(saved, ds, rec), saved


# --- round trip ---------------------------------------------------------------------


def test_views_plan_round_trips_exactly(tmp_path: Path) -> None:
    plan, bound, saved = roundtrip(full_plan(), views_desired(), tmp_path=tmp_path)
    assert bound == plan
    assert [a.rows for a in bound.actions] == [a.rows for a in plan.actions]
    assert [a.phones for a in bound.actions] == [a.phones for a in full_plan().actions]
    assert saved.format_version == PLANFILE_VERSION and saved.path == str(tmp_path / "p.plan")
    assert saved.involved == plan.meta.involved


@pytest.mark.parametrize("key", list(diff_cases()))
def test_diff_plans_round_trip_exactly(key: str) -> None:
    plan, ds, rec = diff_cases()[key]
    indexed, bound, _ = roundtrip(plan, ds, rec)
    assert bound == indexed
    assert [a.phones for a in bound.actions] == [a.phones for a in plan.actions]
    assert [a.rows for a in bound.actions] == [a.rows for a in indexed.actions]
    for a in bound.actions:
        if a.kind is not ActionKind.REMOVE:
            c = ds.campaign(a.campaign)
            assert c is not None and [r.phone for r in a.rows] == list(a.phones)
            assert [c.contacts.rows[i] for i in a.row_index] == list(a.rows)


def test_convergence_comes_back_so_that_the_apply_of_the_file_writes_the_markers() -> None:
    # (Plan.converged is not compared by ==: checked here.) One that replays warnings is not saved.
    saved_some = False
    for plan, ds, rec in diff_cases().values():
        _, bound, _ = roundtrip(plan, ds, rec)
        assert bound.converged == plan.converged
        saved_some = saved_some or bool(plan.converged)
    assert saved_some
    plan, ds, rec = diff_cases()["new task and direct"]
    warned = Convergence("spring", "d" * 32, "s" * 32, now=True, warnings=(("a warning", "campaigns/a.yaml", 3),),
                         phases=(("101", "running"),), extra=2)
    standing = Convergence("survey", "e" * 32, "t" * 32, now=True, suppression="x", suppressed=(("opt-outs", 2),),
                           phases=(("102", "paused"),), extra=1)
    _, bound, _ = roundtrip(replace(plan, converged=(warned, standing)), ds, rec)
    assert bound.converged == (standing,)


@pytest.mark.parametrize(("field", "value"), [
    ("now", "yes"), ("extra", -1), ("suppressed", [["opt-outs"]]), ("phases", [["101", 3]]), ("digest", None)])
def test_a_malformed_convergence_is_named(field: str, value: Any) -> None:
    plan, ds, rec = diff_cases()["new task and direct"]
    indexed = index_rows(plan, ds)
    doc = json.loads(dump_plan(indexed, involved_of(indexed), recorded=rec))
    assert doc["converged"]
    doc["converged"][0][field] = value
    with pytest.raises(PlanError, match=rf"converged\[0\]\.{field}"):
        parse_plan(json.dumps(doc))
    del doc["converged"]  # a file written before convergence was saved: read, with none
    assert parse_plan(json.dumps(doc)).plan.converged == ()


def test_yccall_removal_comes_back_from_the_state() -> None:
    plan, ds, rec = diff_cases()["yccall remove and append"]
    _, bound, saved = roundtrip(plan, ds, rec)
    remove = next(a for a in bound.actions if a.kind is ActionKind.REMOVE)
    assert sorted(remove.phones) == phones(4, 2) and remove.row_index == ()
    unbound = next(a for a in saved.plan.actions if a.kind is ActionKind.REMOVE)
    assert unbound.phones == () and unbound.count == 4
    with pytest.raises(ValueError, match="recorded"):
        bind_rows(saved, ds)


def test_everything_a_view_shows_survives() -> None:
    summary = CampaignSummary("spring", "iflytek", "task", "running", "running", 120, 100, ("101", "102"), 80, None)
    plan = Plan(
        (Action(ActionKind.PAUSE, "spring", "iflytek", 2, "gitops-spring~2", "drifted [\n 3,\n 4\n] 中文",
                task_id="102", drift=True, calls=3, redial=4, fingerprint="fp", replaces=True),
         Action(ActionKind.ADOPT, "spring", "iflytek", 3, "gitops-spring~3", "interrupted create", task_id="103",
                calls=0)),
        diagnostics=(Diagnostic("error", "spring", "robot 42 is not published", "campaigns/spring.yaml", 3),
                     Diagnostic("warning", "", "中文 message")),
        campaigns=(summary,),
        meta=PlanMeta(created_at="2027-02-01T00:00:00+00:00", config_dir="/srv/cfg", config_digest="c",
                      state_lineage="L", state_serial=9, observed_digest="o", prune=True,
                      allow_replace=("a", "b"), state_missing=True,
                      involved=(("iflytek", "101"), ("iflytek", "102"), ("iflytek", "103"))),
        notes=("summer: finished",),
    )
    saved = parse_plan(dump_plan(plan, plan.meta.involved))
    assert bind_rows(saved, desired()) == plan == saved.plan


def test_involved_names_every_task_of_actions_and_summaries() -> None:
    plan = Plan(
        (Action(ActionKind.CREATE, "a", "iflytek", 1, "gitops-a", "new"),
         Action(ActionKind.DELETE, "b", "callcenter", 1, "gitops-b", "absent", task_id="Y9")),
        campaigns=(CampaignSummary("c", "iflytek", "task", "running", "running", 1, 1, ("7", "8")),),
    )
    assert involved_of(plan) == (("callcenter", "Y9"), ("iflytek", "7"), ("iflytek", "8"))
    meta = replace(plan.meta, involved=(("iflytek", "1"),))
    assert involved_of(replace(plan, meta=meta)) == (("iflytek", "1"),)


def test_observed_digest_covers_only_the_involved_tasks() -> None:
    obs = observed(observed_task("1", "gitops-a", Phase.RUNNING, count=3),
                   observed_task("2", "gitops-b", Phase.PAUSED),
                   observed_task("Y", "gitops-c", Phase.RUNNING, profile="callcenter"), errors={"other": "down"})
    digests = {observed_digest(obs, sorted(inv)) for inv in
               (set(), {("iflytek", "1")}, {("iflytek", "2"), ("callcenter", "Y")})}
    assert len(digests) == 3
    only = observed_digest(obs, [("iflytek", "1")])
    changed = observed(observed_task("1", "gitops-a", Phase.RUNNING, count=3),
                       observed_task("2", "gitops-b", Phase.RUNNING),
                       observed_task("Y", "gitops-c", Phase.RUNNING, profile="callcenter"), errors={"other": "down"})
    assert observed_digest(changed, [("iflytek", "1")]) == only
    assert observed_digest(changed, []) != observed_digest(obs, [])


# --- ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "ranges"), [
    ((), []),
    ((4,), [[4, 5]]),
    ((0, 1, 2, 5, 6, 9), [[0, 3], [5, 7], [9, 10]]),
    ((3, 4, 0, 1), [[3, 5], [0, 2]]),
    ((2, 1, 0), [[2, 3], [1, 2], [0, 1]]),
])
def test_ranges(index: tuple[int, ...], ranges: list[list[int]]) -> None:
    assert to_ranges(index) == ranges
    assert from_ranges(ranges) == index


def test_ranges_round_trip_any_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        index = tuple(rng.sample(range(400), rng.randint(0, 60)))
        assert from_ranges(to_ranges(index)) == index
    assert to_ranges(tuple(range(100_000))) == [[0, 100_000]]


def test_a_large_table_is_stored_compactly() -> None:
    c = campaign(n=20_000)
    plan = diff(desired(c), observed(), recorded(), TRAITS, now=NOW)
    text = dump_plan(index_rows(plan, desired(c)), ())
    assert len(text) < 5_000
    assert json.loads(text)["actions"][1]["contacts"]["rows"] == [[0, 20_000]]


# --- tamper and staleness ----------------------------------------------------------


def _saved_views() -> tuple[Plan, SavedPlan]:
    plan = index_rows(full_plan(), views_desired())
    return plan, parse_plan(dump_plan(plan, involved_of(plan)))


def _desired_with(name: str, new_rows: tuple[ContactRow, ...]) -> DesiredState:
    ds = views_desired()
    c = ds.campaign(name)
    assert c is not None
    changed = replace(c, contacts=replace(c.contacts, rows=new_rows))
    return replace(ds, campaigns=tuple(changed if x.name == name else x for x in ds.campaigns))


def test_changed_values_of_a_planned_row_are_stale() -> None:
    _, saved = _saved_views()
    table = list(rows(PHONES))
    table[7] = ContactRow(PHONES[7], (PHONES[7], "李女士"), "contacts.csv", 9)
    with pytest.raises(StalePlan, match="spring-promo"):
        bind_rows(saved, _desired_with("spring-promo", tuple(table)))


def test_reordered_or_shorter_tables_are_stale() -> None:
    _, saved = _saved_views()
    with pytest.raises(StalePlan, match="spring-promo"):
        bind_rows(saved, _desired_with("spring-promo", rows(PHONES[:100])))
    with pytest.raises(StalePlan, match="spring-promo"):
        bind_rows(saved, _desired_with("spring-promo", rows((PHONES[1], PHONES[0], *PHONES[2:]))))


def test_a_campaign_gone_from_the_files_is_stale() -> None:
    _, saved = _saved_views()
    ds = views_desired()
    with pytest.raises(StalePlan, match="direct-1"):
        bind_rows(saved, replace(ds, campaigns=tuple(c for c in ds.campaigns if c.name != "direct-1")))


def test_rows_appended_after_the_plan_do_not_change_it() -> None:
    plan, saved = _saved_views()
    more = rows((*PHONES, "13900139000"))
    bound = bind_rows(saved, _desired_with("spring-promo", more))
    assert bound.actions == plan.actions  # exactly the planned rows; the new one waits for the next plan


def test_an_edited_digest_or_range_in_the_file_is_refused(tmp_path: Path) -> None:
    plan = index_rows(full_plan(), views_desired())
    doc = json.loads(dump_plan(plan, involved_of(plan)))
    doc["actions"][1]["contacts"]["digest"] = "0" * 32
    with pytest.raises(StalePlan):
        bind_rows(parse_plan(json.dumps(doc)), views_desired())
    doc = json.loads(dump_plan(plan, involved_of(plan)))
    doc["actions"][1]["contacts"]["rows"] = [[1, 171]]
    with pytest.raises(StalePlan):
        bind_rows(parse_plan(json.dumps(doc)), views_desired())


def test_a_removed_phone_gone_from_the_state_is_stale() -> None:
    plan, ds, rec = diff_cases()["yccall remove and append"]
    indexed = index_rows(plan, ds)
    saved = parse_plan(dump_plan(indexed, involved_of(indexed), recorded=rec))
    fewer = replace(rec, contacts={k: v[1:] for k, v in rec.contacts.items()})
    with pytest.raises(StalePlan, match="spring"):
        bind_rows(saved, ds, fewer)


def test_checks_before_apply() -> None:
    obs = observed(observed_task("T-W", "gitops-winter", Phase.RUNNING), observed_task("T-X", "other", Phase.PAUSED))
    plan = index_rows(full_plan(), views_desired())
    involved = involved_of(plan)
    meta = replace(plan.meta, observed_digest=observed_digest(obs, involved), state_lineage="L", state_serial=4)
    saved = parse_plan(dump_plan(replace(plan, meta=meta), involved))
    check_files(saved, "abc", "cfg")
    with pytest.raises(StalePlan, match="the files in cfg changed"):
        check_files(saved, "abd", "cfg")
    check_state(saved, Recorded("L", 4))
    with pytest.raises(StalePlan, match="another state store"):
        check_state(saved, Recorded("M", 4))
    with pytest.raises(StalePlan, match="the state changed"):
        check_state(saved, Recorded("L", 5))
    with pytest.raises(StalePlan, match="recovered"):
        check_state(saved, Recorded("L", 4), ["spring: an interrupted insert was found"])
    check_observed(saved, obs)
    # a task the plan does not involve may change; an involved one may not
    check_observed(saved, observed(observed_task("T-W", "gitops-winter", Phase.RUNNING)))
    with pytest.raises(StalePlan, match="the platform changed"):
        check_observed(saved, observed(observed_task("T-W", "gitops-winter", Phase.PAUSED)))
    with pytest.raises(StalePlan, match="the platform changed"):
        check_observed(saved, observed(observed_task("T-W", "gitops-winter", Phase.RUNNING), errors={"yc": "down"}))


# --- bad files -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"the plan file .*nope\.plan does not exist"):
        load_plan(tmp_path / "nope.plan")


@pytest.mark.parametrize(("content", "match"), [
    ("not json at all", "is not a saved campaignctl plan"),
    (b"\xff\xfe\x00", "is not a saved campaignctl plan"),
    ("[1, 2]", "is not a saved campaignctl plan"),
    ('{"kind": "terraform-plan", "format_version": 2}', "is not a saved campaignctl plan"),
    ('{"kind": "campaignctl-plan", "format_version": 1, "digest": "x"}', "plan format 1; this campaignctl reads"),
    ('{"kind": "campaignctl-plan", "format_version": 3}', "plan format 3; this campaignctl reads"),
    ('{"kind": "campaignctl-plan", "format_version": 2}', "is not a valid campaignctl plan"),
])
def test_invalid_files(tmp_path: Path, content: str | bytes, match: str) -> None:
    path = tmp_path / "bad.plan"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PlanError, match=match):
        load_plan(path)


def test_a_directory_is_not_a_plan(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="is not a saved campaignctl plan"):
        load_plan(tmp_path)


@pytest.mark.parametrize(("path", "value"), [
    (("actions", 0, "kind"), "explode"),
    (("actions", 0, "wave"), "1"),
    (("actions", 1, "contacts", "rows"), [[5, 2]]),
    (("actions", 1, "contacts", "source"), "elsewhere"),
    (("meta", "state_serial"), None),
    (("meta", "involved"), [["iflytek"]]),
    (("campaigns", 0, "called"), "many"),
    (("diagnostics", 0, "severity"), "fatal"),
])
def test_malformed_fields_are_named(path: tuple[Any, ...], value: Any) -> None:
    plan = index_rows(full_plan(), views_desired())
    doc = json.loads(dump_plan(plan, involved_of(plan)))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(PlanError, match="is not a valid campaignctl plan"):
        parse_plan(json.dumps(doc))


# --- what is never written ------------------------------------------------------------


def test_no_phone_number_is_written() -> None:
    cases = [(index_rows(full_plan(), views_desired()), views_desired(), None)]
    cases += [(index_rows(p, ds), ds, rec) for p, ds, rec in diff_cases().values()]
    for plan, ds, rec in cases:
        text = dump_plan(plan, involved_of(plan), recorded=rec)
        numbers = {r.phone for c in ds.campaigns for r in c.contacts.rows}
        numbers |= {r.phone for recs in (rec.contacts.values() if rec else ()) for r in recs}
        assert numbers
        for number in numbers:
            assert number not in text
            assert number[-8:] not in text


def test_free_text_quoting_a_planned_phone_is_scrubbed() -> None:
    plan = index_rows(full_plan(), views_desired())
    quoted = replace(plan, diagnostics=(Diagnostic("warning", "x", f"vendor said {PHONES[3]} is invalid"),),
                     notes=(f"{PHONES[101]} skipped",),
                     actions=(replace(plan.actions[1], reason=f"because {PHONES[5]}"), *plan.actions[2:]))
    text = dump_plan(quoted, ())
    assert PHONES[3] not in text and PHONES[101] not in text and PHONES[5] not in text
    assert "<phone>" in text


def test_unindexed_actions_cannot_be_dumped() -> None:
    with pytest.raises(ValueError, match="index_rows"):
        dump_plan(full_plan(), ())
    plan, ds, _ = diff_cases()["yccall remove and append"]
    with pytest.raises(ValueError, match="recorded"):
        dump_plan(index_rows(plan, ds), ())


def test_index_rows_keeps_what_the_diff_set() -> None:
    plan = index_rows(full_plan(), views_desired())
    assert index_rows(plan, views_desired()) == plan
    insert = plan.actions[1]
    assert insert.row_index == tuple(range(170)) and len(insert.rows) == 170
    autumn = plan.actions[4]
    assert autumn.campaign == "autumn" and autumn.row_index == (9, 8, 7)


def test_file_layout() -> None:
    plan = index_rows(full_plan(), views_desired())
    doc = json.loads(dump_plan(plan, involved_of(plan)))
    assert doc["kind"] == "campaignctl-plan" and doc["format_version"] == 2
    assert set(doc["meta"]) == {"created_at", "config_dir", "config_digest", "state_lineage", "state_serial",
                                "observed_digest", "involved", "prune", "allow_replace", "state_missing",
                                "environment", "policy_at"}
    assert set(doc["actions"][1]) == {"kind", "campaign", "profile", "wave", "remote_name", "reason", "task_id",
                                      "calls", "replaces", "redial", "drift", "fingerprint", "contacts"}
    assert doc["actions"][1]["contacts"] == {"source": "files", "rows": [[0, 170]], "count": 170,
                                             "digest": doc["actions"][1]["contacts"]["digest"]}
    assert doc["actions"][0]["contacts"] is None
    assert {"diagnostics", "campaigns", "notes"} <= set(doc)
