"""GitHub-flavoured Markdown for pull-request comments.

Every piece of text from the files or the vendors is escaped: a ``|`` must
not split a table cell and a ``<`` must not open HTML in a comment. Long
tables fold into ``<details>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reconciler.engine.plan import ActionKind, ApplyResult, Diagnostic, Plan, StepStatus
from reconciler.views._common import (
    SYMBOLS,
    Item,
    PlanPhones,
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

__all__ = ["FOLD_OVER", "MAX_CHARS", "MarkdownView", "escape"]

FOLD_OVER = 20  # tables with more rows than this are folded
SUMMARY_ROWS = 200  # campaigns listed in the summary table at most
MAX_CHARS = 60_000  # under GitHub's 65,536-character comment limit, with room for a header

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
        head = [f"### {escape(plan_summary(plan))}", ""]
        if plan.errors:
            head += [f"**The plan has {plural(len(plan.errors), 'error')}: apply refuses it until "
                     f"{'it is' if len(plan.errors) == 1 else 'they are'} fixed.**", ""]
        head += _summary_table(plan, items)
        tail = _diagnostics(plan.errors, "CAUTION", "Error", phones)
        tail += _diagnostics(plan.warnings, "WARNING", "Warning", phones)
        if plan.notes:
            tail += ["**Notes**", ""] + [f"- {escape(scrub(n, phones))}" for n in plan.notes] + [""]
        rows = []
        for item in items:
            reason = escape(scrub(item.action.reason, phones))
            if item.drift:
                reason += " *(drift)*"
            rows.append(f"| {escape(item.campaign)} | {_code(SYMBOLS[item.word])} {item.word} "
                        f"| {escape(detail(item))} | {reason} |")
        deferred = []
        for d in plan.deferred:
            word = deferred_word(d)
            text = describe_deferred(d, plan)
            deferred.append(f"| {escape(d.campaign)} | {_code(SYMBOLS[word])} {word} "
                            f"| {escape(text[len(word) + 1:])} | {escape(scrub(d.reason, phones))} |")
        policy = [f"- {escape(name)}: {escape(text)}" for name, text in policy_lines(plan)]
        return _capped(head, [
            _Section(rows, "action", ["| Campaign | Action | Detail | Reason |", "|---|---|---|---|"]),
            _Section(deferred, "deferred action", ["| Campaign | Deferred | Detail | Reason |", "|---|---|---|---|"],
                     ["**Deferred by the dialing policy** (not done by this apply; a later plan does them once "
                      "allowed)", ""]),
            _Section(policy, "campaign the dialing policy touched", [], ["**Dialing policy**", ""]),
        ], tail)

    def render_result(self, plan: Plan, result: ApplyResult, *, color: bool = False,
                      list_steps: bool = True) -> str:
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
                            f"| {'waiting' if s.deferred else _STATUS[s.status]} | {text} |")
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


def _summary_table(plan: Plan, items: list[Item]) -> list[str]:
    """One row per campaign with changes, diagnostics or policy effects: actions, contacts, dials, redials,
    warnings; with a dialing policy at work also what it defers, suppresses and holds back."""
    names: dict[str, None] = {}
    for item in items:
        names[item.campaign] = None
    for d in plan.diagnostics:
        if d.campaign:
            names[d.campaign] = None
    for e in plan.deferred:
        names[e.campaign] = None
    touched = {name for name, _ in policy_lines(plan)}
    for s in plan.campaigns:
        if s.name in touched:
            names[s.name] = None
    if not names:
        return []
    policy = bool(plan.deferred or touched)
    if policy:
        out = ["| Campaign | Action | Contacts | Dials | Redials | Deferred | Suppressed | Held | Warnings |",
               "|---|---|--:|--:|--:|---|--:|--:|--:|"]
    else:
        out = ["| Campaign | Action | Contacts | Dials | Redials | Warnings |", "|---|---|--:|--:|--:|--:|"]
    summaries = {s.name: s for s in plan.campaigns}
    listed = list(names)
    more = len(listed) - SUMMARY_ROWS
    for name in listed[:SUMMARY_ROWS]:
        mine = [i for i in items if i.campaign == name]
        words = ", ".join(dict.fromkeys(f"{SYMBOLS[i.word]} {i.word}" for i in mine)) or "—"
        contacts = sum(i.contacts for i in mine if i.word in ("create", "replace", "insert"))
        dials = sum(i.contacts for i in mine if i.word == "dial")
        redials = sum(i.redial for i in mine)
        warnings = sum(1 for d in plan.warnings if d.campaign == name)
        errors = sum(1 for d in plan.errors if d.campaign == name)
        warn = f"{warnings}" + (f" (+{errors} error{'s' if errors != 1 else ''})" if errors else "")
        cells = f"| {escape(name)} | {escape(words)} | {contacts} | {dials} | {f'**{redials}**' if redials else 0} | "
        if policy:
            later = ", ".join(deferred_word(d) if d.kind is ActionKind.START else f"{deferred_word(d)} {d.contacts}"
                              for d in plan.deferred if d.campaign == name) or "—"
            known = summaries.get(name)
            cells += f"{escape(later)} | {known.suppressed if known else 0} | {known.held if known else 0} | "
        out.append(f"{cells}{warn} |")
    if more > 0:
        out += ["", f"*… and {plural(more, 'more campaign')} (see the actions below or `campaignctl show`).*"]
    return [*out, ""]


@dataclass(frozen=True)
class _Section:
    """Rows of the body (a table under ``header``, or a list), folded in <details> when long or cut."""

    rows: list[str]
    noun: str  # what one row is, for the fold's summary and the cut note
    header: list[str]
    intro: list[str] = field(default_factory=list)  # lines before it (a bold title)

    def build(self, kept: list[str]) -> list[str]:
        if not kept:
            return []
        if len(kept) == len(self.rows) and len(self.rows) <= FOLD_OVER:
            return [*self.intro, *self.header, *kept, ""]
        note: list[str] = []
        if len(kept) < len(self.rows):
            note = [f"*{plural(len(self.rows) - len(kept), self.noun)} of {len(self.rows)} not shown: the comment "
                    "would pass GitHub's 65,536-character limit. Run `campaignctl show PLANFILE` (or plan) for the "
                    "whole plan.*", ""]
        return [*self.intro, f"<details><summary>{plural(len(self.rows), self.noun)}</summary>", "", *self.header,
                *kept, "", *note, "</details>", ""]


def _capped(head: list[str], sections: list[_Section], tail: list[str]) -> str:
    """Head, the sections (actions, deferred entries, ...), tail; the longest section's rows cut (and said so)
    until the comment stays under MAX_CHARS."""

    def build(kept: list[list[str]]) -> str:
        body = [line for section, rows in zip(sections, kept, strict=True) for line in section.build(rows)]
        return "\n".join(head + body + tail).rstrip("\n") + "\n"

    kept = [list(s.rows) for s in sections]
    text = build(kept)
    while len(text) > MAX_CHARS and any(kept):
        longest = max(range(len(kept)), key=lambda i: len(kept[i]))
        rows = kept[longest]
        kept[longest] = rows[: max(0, len(rows) - max(1, len(rows) // 10))]
        text = build(kept)
    if len(text) > MAX_CHARS:  # the diagnostics alone are too long: cut them too
        text = text[: MAX_CHARS - 200].rsplit("\n", 1)[0] + (
            "\n\n*The rest of this plan was cut: the comment would pass GitHub's 65,536-character limit. Run "
            "`campaignctl show PLANFILE` for the whole plan.*\n")
    return text


def _fold(rows: list[str], count: int, label: str) -> list[str]:
    if count <= FOLD_OVER:
        return [*rows, ""]
    return [f"<details><summary>{label}</summary>", "", *rows, "", "</details>", ""]


def _diagnostics(diags: tuple[Diagnostic, ...], alert: str, label: str, phones: PlanPhones) -> list[str]:
    """Each diagnostic as a GitHub alert (a plain blockquote where alerts are not rendered)."""
    out: list[str] = []
    for d in sorted(diags, key=lambda d: (d.file or "\uffff", d.line, d.campaign, d.message)):
        where = f" ({escape(d.file)}:{d.line})" if d.file and d.line else (f" ({escape(d.file)})" if d.file else "")
        who = f"**{escape(d.campaign)}**: " if d.campaign else ""
        out += [f"> [!{alert}]", f"> {label}{where}: {who}{escape(scrub(d.message, phones))}", ""]
    return out
