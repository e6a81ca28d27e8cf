"""One interface for every plan/result renderer, like Terraform's ``views.Plan``.

Commands pick a view by ``--format`` and never format plans themselves;
views never decide anything, they render what the plan says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from reconciler.engine.plan import ApplyResult, Plan
from reconciler.errors import CampaignctlError

__all__ = ["FORMATS", "PlanView", "get_view"]


class PlanView(Protocol):
    """Renders a plan and an apply result as one string ending in a newline.

    ``color`` asks for ANSI styling; only the text view uses it, and only
    when the command found a terminal. ``list_steps=False`` (the text view;
    apply's progress has shown every step already) lists only the steps
    that did not succeed before the summary.
    """

    def render_plan(self, plan: Plan, *, color: bool = False) -> str: ...

    def render_result(self, plan: Plan, result: ApplyResult, *, color: bool = False,
                      list_steps: bool = True) -> str: ...


def _text() -> PlanView:
    from reconciler.views.text import TextView

    return TextView()


def _json() -> PlanView:
    from reconciler.views.json import JsonView

    return JsonView()


def _markdown() -> PlanView:
    from reconciler.views.markdown import MarkdownView

    return MarkdownView()


_FACTORIES: dict[str, Callable[[], PlanView]] = {"text": _text, "json": _json, "markdown": _markdown}
FORMATS: tuple[str, ...] = tuple(_FACTORIES)


def get_view(fmt: str) -> PlanView:
    """The view for ``--format``: ``text``, ``json`` or ``markdown``."""
    try:
        factory = _FACTORIES[fmt]
    except KeyError:
        raise CampaignctlError(f"unknown output format {fmt!r}; use one of: {', '.join(FORMATS)}") from None
    return factory()
