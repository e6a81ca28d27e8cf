"""Text view: Terraform-like plan and result output."""

from __future__ import annotations

import re

from reconciler.engine.plan import Action, ActionKind, ApplyResult, Diagnostic, Plan
from reconciler.views._common import display_width
from reconciler.views.text import TextView
from tests.views.plans import error_plan, full_plan, mixed_result, ok_result, replace_pair

ANSI = re.compile(r"\x1b\[")


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_plan_symbols_headers_and_summary() -> None:
    out = TextView().render_plan(full_plan())
    lines = lines_of(out)
    assert "  # spring-promo (iflytek) will be created" in lines
    assert "  # autumn (yc) must be replaced" in lines
    assert "  # winter (iflytek) will be updated in place" in lines
    assert "  # direct-1 (iflytek) will dial 5 contacts" in lines
    assert "  # old (iflytek) will be deleted" in lines
    assert any(line.startswith("    + create gitops-spring-promo ") for line in lines)
    assert any(line.startswith("    + insert 170 contacts (2 calls) ") for line in lines)
    assert any(line.startswith("    ~ start gitops-spring-promo ") for line in lines)
    assert any(line.startswith("    ~ pause gitops-winter ") for line in lines)
    assert any(line.startswith("    > dial 5 contacts (1 call) ") for line in lines)
    assert any(line.startswith("    - delete gitops-old (task T-D) ") for line in lines)
    assert lines[-1] == ("Plan: 1 to create, 1 to replace, 2 to start, 1 to pause, 1 to delete; "
                         "173 contacts to insert, 5 to dial.")
    assert out.endswith("\n")


def test_campaigns_keep_plan_order() -> None:
    out = TextView().render_plan(full_plan())
    order = [out.index(f"# {name} (") for name in ("spring-promo", "autumn", "winter", "direct-1", "old")]
    assert order == sorted(order)


def test_replace_pair_is_one_line_with_redial() -> None:
    out = TextView().render_plan(Plan(replace_pair()))
    replace_lines = [line for line in lines_of(out) if "gitops-autumn" in line and "start" not in line]
    assert len(replace_lines) == 1
    assert replace_lines[0].startswith("  -/+ replace gitops-autumn")
    assert "(3 contacts will be dialed again)" in replace_lines[0]
    assert "- delete" not in out and "+ create" not in out
    assert "0 to create, 1 to replace, 1 to start" in out


def test_replace_without_redial_does_not_mention_dialing_again() -> None:
    out = TextView().render_plan(Plan(replace_pair(redial=0)))
    assert "dialed again)" not in out.split("#")[1]  # the action line, before the reason
    assert "-/+ replace gitops-autumn with 3 contacts" in out


def test_reason_and_drift_follow_each_action() -> None:
    out = TextView().render_plan(full_plan())
    pause = next(line for line in lines_of(out) if "~ pause" in line)
    assert pause.endswith("# started outside campaignctl; the files say paused (drift)")
    create = next(line for line in lines_of(out) if "+ create gitops-spring" in line)
    assert create.endswith("# not on the platform")
    assert "(drift)" not in create


def test_warnings_errors_with_location_and_notes() -> None:
    out = TextView().render_plan(full_plan())
    assert "Warning: winter: 2 contacts changed values after they were sent\n  at campaigns/winter.yaml:14" in out
    assert "Warning: gone: the campaign left the files" in out
    assert "Note: summer: task gitops-summer (T-S) has finished" in out
    err = TextView().render_plan(error_plan())
    assert "Error: spring-promo: robot 42 is not published\n  at campaigns/spring.yaml:3" in err
    assert "apply refuses it" in err
    # blocks come after the actions and before the summary
    assert err.index("+ create") < err.index("Error:") < err.index("Plan: ")


def test_no_changes() -> None:
    assert TextView().render_plan(Plan(())) == "No changes. The platforms match the files.\n"
    out = TextView().render_plan(Plan((), diagnostics=(Diagnostic("error", "x", "bad"),)))
    assert "No changes. The platforms match" not in out
    assert "Error: x: bad" in out


def test_no_ansi_without_colour_and_ansi_with_it() -> None:
    plan = full_plan()
    result = mixed_result(plan)
    assert not ANSI.search(TextView().render_plan(plan))
    assert not ANSI.search(TextView().render_result(plan, result))
    assert ANSI.search(TextView().render_plan(plan, color=True))
    assert ANSI.search(TextView().render_result(plan, result, color=True))
    stripped = ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m", "", TextView().render_plan(plan, color=True)))
    assert stripped == TextView().render_plan(plan)


def test_reasons_align_counting_cjk_as_two_columns() -> None:
    plan = Plan((
        Action(ActionKind.START, "a", "p", 1, "外呼任务-春季", "列 姓名 已变更"),
        Action(ActionKind.START, "b", "p", 1, "gitops-b", "the files say running"),
        Action(ActionKind.INSERT, "b", "p", 1, "gitops-b", "20 contacts", phones=("1",) * 20, calls=1),
    ))
    rows = [line for line in lines_of(TextView().render_plan(plan)) if line.startswith("    ")]
    assert len(rows) == 3
    columns = {display_width(row[: row.index("  # ")]) for row in rows}
    assert len(columns) == 1, rows
    # str.ljust would misalign: the CJK row has fewer characters before the reason
    assert len({row.index("  # ") for row in rows}) == 2


def test_no_phone_numbers_in_plan_text() -> None:
    out = TextView().render_plan(full_plan())
    assert not re.search(r"\d{7,}", out)


def test_result_lines_and_failed_summary() -> None:
    plan = full_plan()
    out = TextView().render_result(plan, mixed_result(plan))
    lines = lines_of(out)
    assert "Recovered: autumn: an interrupted create was found on the platform" in lines
    ok = next(line for line in lines if "+ create gitops-spring-promo" in line)
    assert ok.split()[0] == "ok" and "task T-NEW" in ok
    failed = next(line for line in lines if "+ insert" in line)
    assert failed.split()[0] == "FAILED" and failed.endswith("-- vendor error 1002: rejected")
    assert "100 done" in failed
    skipped = next(line for line in lines if "~ start" in line)
    assert skipped.split()[0] == "skipped"
    unknown = next(line for line in lines if "> dial" in line)
    assert unknown.split()[0] == "UNKNOWN"
    assert "  campaignctl state resolve direct-1 --dialed|--not-dialed" in lines
    assert lines[-1] == ("Apply failed: 4 calls made; 1 created, 100 contacts inserted; 1 failed, "
                         "1 with unknown outcome, 1 skipped.")
    assert all(ord(ch) < 128 for ch in out)  # ASCII-safe status words and symbols


def test_result_complete_summary() -> None:
    plan = full_plan()
    out = TextView().render_result(plan, ok_result(plan))
    assert lines_of(out)[-1] == ("Apply complete: 10 calls made; 1 created, 1 replaced, 2 started, 1 paused, "
                                 "1 deleted, 173 contacts inserted, 5 contacts dialed.")
    assert "(replace)" in out
    assert "state resolve" not in out


def test_result_errors_outside_steps_fail_the_apply() -> None:
    out = TextView().render_result(Plan(()), ApplyResult(errors=("cannot observe profile 'yc': timed out",)))
    assert "Error: cannot observe profile 'yc': timed out" in out
    assert lines_of(out)[-1] == "Apply failed: 0 calls made; nothing changed; 1 error."


def test_follow_up_wave_is_an_update_not_a_creation() -> None:
    plan = Plan((
        Action(ActionKind.CREATE, "spring", "p", 2, "gitops-spring~2", "10 contacts added after the task started"),
        Action(ActionKind.INSERT, "spring", "p", 2, "gitops-spring~2", "10 contacts", phones=("1",) * 10),
    ))
    assert "  # spring (p) will be updated in place" in TextView().render_plan(plan)


def test_adopt_only_campaign() -> None:
    plan = Plan((Action(ActionKind.ADOPT, "x", "p", 1, "gitops-x", "created by an interrupted apply",
                        task_id="777"),))
    out = TextView().render_plan(plan)
    assert "  # x (p) will be adopted into the state" in out
    assert "    = adopt 777 as gitops-x (state only)  # created by an interrupted apply" in out
    assert "; 1 to adopt into the state." in out
