"""Terraform-like human output for terminals and logs.

ANSI colour only when the command asks for it (it passes ``isatty()``);
reasons line up in one column, counting East Asian wide characters as two.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from reconciler.engine.plan import ApplyResult, Diagnostic, Plan, StepStatus
from reconciler.views._common import (
    SYMBOLS,
    PlanPhones,
    by_campaign,
    campaign_headline,
    collapse,
    deferred_word,
    describe,
    describe_deferred,
    describe_step,
    display_width,
    pad,
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

__all__ = ["TextView"]

# Descriptions longer than this do not set the reason column: one long line must not push every reason
# off-screen.
MAX_ALIGN = 56

_COLOURS: dict[str, str] = {
    "create": "green",
    "insert": "green",
    "delete": "red",
    "remove": "red",
    "replace": "yellow",
    "start": "yellow",
    "pause": "yellow",
    "dial": "cyan",
    "adopt": "cyan",
}

_STATUS: dict[StepStatus, tuple[str, str]] = {
    StepStatus.OK: ("ok", "green"),
    StepStatus.FAILED: ("FAILED", "red"),
    StepStatus.UNKNOWN: ("UNKNOWN", "yellow"),
    StepStatus.SKIPPED: ("skipped", "bright_black"),
}

Style = Callable[..., str]


def _styler(color: bool) -> Style:
    if color:
        return click.style

    def plain(text: str, **_: object) -> str:
        return text

    return plain


class TextView:
    """Human output; ``render_plan(plan, color=sys.stdout.isatty())``."""

    def render_plan(self, plan: Plan, *, color: bool = False) -> str:
        style = _styler(color)
        phones = phones_of(plan)
        items = collapse(plan.actions)
        lines: list[str] = []
        if items:
            lines.append("campaignctl will perform the following actions:")
            width = max((w for w in (display_width(describe(i)) for i in items) if w <= MAX_ALIGN), default=0)
            for campaign, group in by_campaign(items):
                profile = group[0].action.profile
                lines.append("")
                lines.append(style(f"  # {campaign} ({profile}) {campaign_headline(group)}", bold=True))
                for item in group:
                    symbol = SYMBOLS[item.word]
                    fg = _COLOURS[item.word]
                    text = f"  {style(f'{symbol:>3}', fg=fg, bold=True)} {pad(describe(item), width)}"
                    reason = scrub(item.action.reason, phones)
                    tail = style(f"  # {reason}", dim=True) if reason else ""
                    if item.drift:
                        tail += " " + style("(drift)", fg="yellow")
                    lines.append((text + tail).rstrip())
        lines.extend(_deferred(plan, style))
        lines.extend(_policy(plan))
        lines.extend(_diagnostics(plan, style, phones))
        if plan.notes:
            lines.append("")
            lines.extend(f"Note: {scrub(n, phones)}" for n in plan.notes)
        lines.append("")
        summary = plan_summary(plan)
        if plan.errors:
            lines.append(summary)
        else:
            lines.append(style(summary, bold=True, fg=None if plan.has_changes else "green"))
        if plan.errors:
            lines.append(style(f"The plan has {plural(len(plan.errors), 'error')}: apply refuses it until "
                               f"{'it is' if len(plan.errors) == 1 else 'they are'} fixed.", fg="red", bold=True))
        while lines and not lines[0]:
            lines.pop(0)
        return "\n".join(lines) + "\n"

    def render_result(self, plan: Plan, result: ApplyResult, *, color: bool = False,
                      list_steps: bool = True) -> str:
        style = _styler(color)
        phones = phones_of(plan)
        lines: list[str] = [""]  # apply prints this right after the plan
        if result.recovered:
            lines.extend(f"Recovered: {scrub(r, phones)}" for r in result.recovered)
            lines.append("")
        shown = [s for s in result.steps if list_steps or s.status is not StepStatus.OK]
        if shown:
            name_w = max(display_width(s.action.campaign) for s in shown)
            for step in shown:
                word, fg = ("waiting", "cyan") if step.deferred else _STATUS[step.status]
                symbol = SYMBOLS[step_word(step)]
                line = (f"  {style(f'{word:<7}', fg=fg, bold=step.status is not StepStatus.OK)} "
                        f"{pad(step.action.campaign, name_w)}  {symbol:>3} {describe_step(step)}")
                if step.detail and step.status is not StepStatus.OK:
                    line += style(f" -- {scrub(step.detail, phones)}", dim=step.status is StepStatus.SKIPPED)
                lines.append(line)
            lines.append("")
        for err in result.errors:
            lines.append(style("Error: ", fg="red", bold=True) + scrub(err, phones))
        if result.errors:
            lines.append("")
        for name in unknown_campaigns(result):
            lines.append(style("Warning: ", fg="yellow", bold=True)
                         + f"{name}: some contacts may or may not have been dialed; they will not be dialed "
                           f"again until settled with:")
            lines.append(f"  {resolve_hint(name)}")
            lines.append("")
        summary = result_summary(result)
        lines.append(style(summary, fg="green" if result.ok else "red", bold=True))
        return "\n".join(lines) + "\n"


def _deferred(plan: Plan, style: Style) -> list[str]:
    """What the dialing policy defers: shown like actions, under their own heading (apply does not do them)."""
    if not plan.deferred:
        return []
    lines = ["", "Deferred by the dialing policy (not done by this apply; a later plan does them once allowed):"]
    texts = [describe_deferred(d, plan) for d in plan.deferred]
    width = max((w for w in map(display_width, texts) if w <= MAX_ALIGN), default=0)
    current = None
    for d, text in zip(plan.deferred, texts, strict=True):
        if d.campaign != current:
            current = d.campaign
            lines.append("")
            lines.append(style(f"  # {d.campaign} ({d.profile})", bold=True))
        symbol = SYMBOLS[deferred_word(d)]
        lines.append(f"  {style(f'{symbol:>3}', dim=True)} {pad(text, width)}  " + style(f"# {d.reason}", dim=True))
    return lines


def _policy(plan: Plan) -> list[str]:
    found = policy_lines(plan)
    if not found:
        return []
    return ["", "Dialing policy:"] + [f"  {name}: {text}" for name, text in found]


def _diagnostics(plan: Plan, style: Style, phones: PlanPhones) -> list[str]:
    lines: list[str] = []
    for label, fg, diags in (("Warning", "yellow", plan.warnings), ("Error", "red", plan.errors)):
        for d in sorted(diags, key=_diag_order):
            lines.append("")
            who = f"{d.campaign}: " if d.campaign else ""
            lines.append(style(f"{label}: ", fg=fg, bold=True) + who + scrub(d.message, phones))
            if d.file:
                lines.append(f"  at {d.file}:{d.line}" if d.line else f"  at {d.file}")
    return lines


def _diag_order(d: Diagnostic) -> tuple[str, int, str, str]:
    """Sorted by file and line, like the validator; diagnostics without a file last."""
    return (d.file or "\uffff", d.line, d.campaign, d.message)
