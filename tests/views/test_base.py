"""get_view picks a renderer by --format; unknown formats are a user error."""

from __future__ import annotations

import pytest

from reconciler.errors import CampaignctlError
from reconciler.views.base import FORMATS, get_view
from reconciler.views.json import JsonView
from reconciler.views.markdown import MarkdownView
from reconciler.views.text import TextView
from tests.views.plans import full_plan


def test_formats() -> None:
    assert FORMATS == ("text", "json", "markdown")
    assert isinstance(get_view("text"), TextView)
    assert isinstance(get_view("json"), JsonView)
    assert isinstance(get_view("markdown"), MarkdownView)


def test_unknown_format() -> None:
    with pytest.raises(CampaignctlError, match="unknown output format 'yaml'"):
        get_view("yaml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_view_accepts_color_and_ends_with_newline(fmt: str) -> None:
    plan = full_plan()
    assert get_view(fmt).render_plan(plan, color=False).endswith("\n")
    if fmt != "text":  # colour is the text view's business only
        assert get_view(fmt).render_plan(plan, color=True) == get_view(fmt).render_plan(plan)
