"""`campaignctl show PLANFILE`: render a saved plan, offline.

Reads only the plan file: no credentials, no platform, no state store. The
views count contacts from the saved row positions (the file holds no phone
numbers).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.session import use_color
from reconciler.engine.planfile import load_plan
from reconciler.errors import ExitCode
from reconciler.views.base import get_view

__all__ = ["run"]


def run(path: Path, *, fmt: str) -> int:
    saved = load_plan(path)
    click.echo(get_view(fmt).render_plan(saved.plan, color=use_color(fmt)), nl=False)
    return ExitCode.OK
