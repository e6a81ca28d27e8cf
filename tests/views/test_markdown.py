"""Markdown view: pull-request comments."""

from __future__ import annotations

from reconciler.engine.plan import Action, ActionKind, Diagnostic, Plan
from reconciler.views.base import get_view
from reconciler.views.markdown import FOLD_OVER, escape
from tests.views.plans import error_plan, full_plan, mixed_result


def table_rows(md: str) -> list[str]:
    """Rows of the actions table (after the per-campaign summary table)."""
    lines = md.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("| Campaign | Action | ")
                and "Contacts" not in line)
    return [line for line in lines[start + 2:] if line.startswith("| ")]


def cells(row: str) -> list[str]:
    """Split a GFM table row the way GitHub does: on pipes not escaped by a backslash."""
    out, cur, prev = [], "", ""
    for ch in row.strip()[1:-1]:
        if ch == "|" and prev != "\\":
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        prev = ch
    out.append(cur.strip())
    return out


def test_heading_and_table() -> None:
    md = get_view("markdown").render_plan(full_plan())
    assert md.splitlines()[0] == ("### Plan: 1 to create, 1 to replace, 2 to start, 1 to pause, 1 to delete; "
                                  "173 contacts to insert, 5 to dial.")
    assert "| Campaign | Action | Detail | Reason |" in md
    rows = table_rows(md)
    assert len(rows) == 8  # the replace pair is one row
    assert cells(rows[3])[:3] == ["autumn", "`-/+` replace", "gitops-autumn with 3 contacts (3 contacts will be "
                                                             "dialed again)"]
    assert cells(rows[1])[2] == "170 contacts (2 calls)"
    assert cells(rows[5])[3].endswith("*(drift)*")
    assert "<details>" not in md


def test_warnings_errors_notes() -> None:
    md = get_view("markdown").render_plan(full_plan())
    assert "> [!WARNING]\n> Warning (campaigns/winter.yaml:14): **winter**: 2 contacts changed values" in md
    assert "- summer: task gitops-summer (T-S) has finished" in md
    err = get_view("markdown").render_plan(error_plan())
    assert "> [!CAUTION]\n> Error (campaigns/spring.yaml:3): **spring-promo**: robot 42 is not published" in err
    assert "apply refuses it" in err


def test_pipes_and_html_are_escaped_in_cells() -> None:
    plan = Plan(
        (Action(ActionKind.START, "a|b", "p", 1, "gitops-a|b", "column 姓名|电话 <script>x</script>\nline2"),),
        diagnostics=(Diagnostic("warning", "a|b", "uses <b>html</b> | pipes"),),
    )
    md = get_view("markdown").render_plan(plan)
    row = table_rows(md)[0]
    assert len(cells(row)) == 4
    assert cells(row)[0] == "a\\|b"
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "<b>" not in md
    assert "\nline2" not in md  # a newline would end the table row
    assert escape("a_b*c`d") == "a\\_b\\*c\\`d"


def test_long_tables_fold_into_details() -> None:
    def plan_of(n: int) -> Plan:
        return Plan(tuple(Action(ActionKind.START, f"c{i}", "p", 1, f"gitops-c{i}", "the files say running")
                          for i in range(n)))

    assert "<details>" not in get_view("markdown").render_plan(plan_of(FOLD_OVER))
    md = get_view("markdown").render_plan(plan_of(FOLD_OVER + 1))
    assert f"<details><summary>{FOLD_OVER + 1} actions</summary>" in md
    assert md.index("<details>") < md.index("| Campaign | Action | Detail") < md.index("</details>")
    assert len(table_rows(md)) == FOLD_OVER + 1


def test_no_changes() -> None:
    assert get_view("markdown").render_plan(Plan(())) == "### No changes. The platforms match the files.\n"


def test_result() -> None:
    plan = full_plan()
    md = get_view("markdown").render_result(plan, mixed_result(plan))
    assert md.startswith("### Apply failed: 4 calls made;")
    rows = table_rows(md)
    assert [cells(r)[2] for r in rows] == ["ok", "**failed**", "skipped", "**unknown**"]
    assert cells(rows[1])[3].endswith("vendor error 1002: rejected")
    assert "`campaignctl state resolve direct-1 --dialed|--not-dialed`" in md
    assert "- autumn: an interrupted create was found on the platform" in md


def test_summary_table_per_campaign() -> None:
    md = get_view("markdown").render_plan(full_plan())
    lines = md.splitlines()
    start = lines.index("| Campaign | Action | Contacts | Dials | Redials | Warnings |")
    rows = {}
    for r in lines[start + 2:]:
        if not r.startswith("| "):
            break
        rows[cells(r)[0]] = cells(r)
    assert rows["autumn"][4] == "**3**"
    assert rows["winter"][5] == "1"


def test_huge_plans_are_cut_under_the_comment_limit_with_a_note() -> None:
    from reconciler.views.markdown import MAX_CHARS

    plan = Plan(tuple(Action(ActionKind.START, f"campaign-{i:05d}", "p", 1, f"gitops-campaign-{i:05d}",
                             "the files say running " + "x" * 80) for i in range(3000)))
    md = get_view("markdown").render_plan(plan)
    assert len(md) <= MAX_CHARS < 65_536
    assert "not shown: the comment would pass GitHub's 65,536-character limit" in md
    assert md.count("<details>") == md.count("</details>") == 1
