"""GitHub-flavoured Markdown for pull-request comments.

Every piece of text from the files or the vendors is escaped: a ``|`` must
not split a table cell and a ``<`` must not open HTML in a comment. Long
tables fold into ``<details>``.
"""

from __future__ import annotations

import re

from reconciler.engine.plan import ApplyResult, Diagnostic, Plan, StepStatus
from reconciler.views._common import (
    SYMBOLS,
    collapse,
    deferred_word,
    describe_deferred,
    describe_step,
    detail,
    phones_of,
    plan_summary,
    plural,
    policy_lines,
    resolve_hint,
    result_summary,
    scrub,
    step_word,
    unknown_campaigns,
)

__all__ = ["FOLD_OVER", "MarkdownView", "escape"]

FOLD_OVER = 20  # tables with more rows than this are folded

_SPECIAL = re.compile(r"([\\`*_\[\]~#|])")


def escape(text: str) -> str:
    """Text safe inside a table cell or a paragraph: no HTML, no formatting, no cell breaks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


def _code(text: str) -> str:
    """An inline code span for our own symbols (they contain no backticks or pipes)."""
    return f"`{text}`"


_STATUS: dict[StepStatus, str] = {
    StepStatus.OK: "ok",
    StepStatus.FAILED: "**failed**",
    StepStatus.UNKNOWN: "**unknown**",
    StepStatus.SKIPPED: "skipped",
}


class MarkdownView:
    """Plan and apply summaries for a pull-request comment."""

    def render_plan(self, plan: Plan, *, color: bool = False) -> str:
        phones = phones_of(plan)
        items = collapse(plan.actions)
        out = [f"### {escape(plan_summary(plan))}", ""]
        if plan.errors:
            out += [f"**The plan has {plural(len(plan.errors), 'error')}: apply refuses it until "
                    f"{'it is' if len(plan.errors) == 1 else 'they are'} fixed.**", ""]
        if items:
            rows = ["| Campaign | Action | Detail | Reason |", "|---|---|---|---|"]
            for item in items:
                reason = escape(scrub(item.action.reason, phones))
                if item.drift:
                    reason += " *(drift)*"
                rows.append(f"| {escape(item.campaign)} | {_code(SYMBOLS[item.word])} {item.word} "
                            f"| {escape(detail(item))} | {reason} |")
            out += _fold(rows, len(items), plural(len(items), "action"))
        if plan.deferred:
            rows = ["| Campaign | Deferred | Detail | Reason |", "|---|---|---|---|"]
            for d in plan.deferred:
                word = deferred_word(d)
                text = describe_deferred(d, plan)
                rows.append(f"| {escape(d.campaign)} | {_code(SYMBOLS[word])} {word} "
                            f"| {escape(text[len(word) + 1:])} | {escape(d.reason)} |")
            out += ["**Deferred by the dialing policy** (not done by this apply; a later plan does them once "
                    "allowed)", ""]
            out += _fold(rows, len(plan.deferred), plural(len(plan.deferred), "deferred action"))
        found = policy_lines(plan)
        if found:
            out += ["**Dialing policy**", ""] + [f"- {escape(name)}: {escape(text)}" for name, text in found] + [""]
        out += _diagnostics(plan.errors, "CAUTION", "Error", phones)
        out += _diagnostics(plan.warnings, "WARNING", "Warning", phones)
        if plan.notes:
            out += ["**Notes**", ""] + [f"- {escape(scrub(n, phones))}" for n in plan.notes] + [""]
        return "\n".join(out).rstrip("\n") + "\n"

    def render_result(self, plan: Plan, result: ApplyResult, *, color: bool = False) -> str:
        phones = phones_of(plan)
        out = [f"### {escape(result_summary(result))}", ""]
        if result.steps:
            rows = ["| Campaign | Action | Status | Detail |", "|---|---|---|---|"]
            for s in result.steps:
                word = step_word(s)
                text = describe_step(s)
                text = escape(text[len(word) + 1:] if text.startswith(word + " ") else text)
                if s.detail and s.status is not StepStatus.OK:
                    text += f": {escape(scrub(s.detail, phones))}"
                rows.append(f"| {escape(s.action.campaign)} | {_code(SYMBOLS[word])} {word} "
                            f"| {_STATUS[s.status]} | {text} |")
            out += _fold(rows, len(result.steps), plural(len(result.steps), "step"))
        for name in unknown_campaigns(result):
            out += ["> [!WARNING]",
                    f"> {escape(name)}: some contacts may or may not have been dialed; settle them with "
                    f"`{resolve_hint(name)}`", ""]
        if result.errors:
            out += ["**Errors**", ""] + [f"- {escape(scrub(e, phones))}" for e in result.errors] + [""]
        if result.recovered:
            out += ["**Recovered**", ""] + [f"- {escape(scrub(r, phones))}" for r in result.recovered] + [""]
        return "\n".join(out).rstrip("\n") + "\n"


def _fold(rows: list[str], count: int, label: str) -> list[str]:
    if count <= FOLD_OVER:
        return [*rows, ""]
    return [f"<details><summary>{label}</summary>", "", *rows, "", "</details>", ""]


def _diagnostics(diags: tuple[Diagnostic, ...], alert: str, label: str, phones: frozenset[str]) -> list[str]:
    """Each diagnostic as a GitHub alert (a plain blockquote where alerts are not rendered)."""
    out: list[str] = []
    for d in sorted(diags, key=lambda d: (d.file or "\uffff", d.line, d.campaign, d.message)):
        where = f" ({escape(d.file)}:{d.line})" if d.file and d.line else (f" ({escape(d.file)})" if d.file else "")
        who = f"**{escape(d.campaign)}**: " if d.campaign else ""
        out += [f"> [!{alert}]", f"> {label}{where}: {who}{escape(scrub(d.message, phones))}", ""]
    return out
