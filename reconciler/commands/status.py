"""`campaignctl status DIR`: per campaign and task, how far dialing got and how it went.

One bulk listing per profile (``engine.observe``), the state and the results
received; text or JSON, ``--html FILE`` for a static status page, ``--watch``
to repeat every ``--interval`` seconds until Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from reconciler.commands.output import atomic_output
from reconciler.commands.session import open_session
from reconciler.engine.observe import observe
from reconciler.errors import ExitCode
from reconciler.results.page import render_page
from reconciler.results.status import StatusReport, build_report
from reconciler.views.status import to_json, to_text

__all__ = ["run"]


def _write_html(path: Path, report: StatusReport, reload_s: int | None) -> None:
    with atomic_output(path) as fh:
        fh.write(render_page(report, live=False, reload_s=reload_s))


def run(directory: Path, *, fmt: str = "text", watch: bool = False, interval: float = 5.0,
        html: Path | None = None, iterations: int | None = None, environment: str | None = None) -> int:
    """Print the status (and write ``html``); with ``watch``, again every ``interval`` s
    (``iterations`` bounds the loop, for tests). ``environment``: its profiles and state."""
    done = 0
    with open_session(directory, allow_missing_state=True, environment=environment) as session:
        try:
            while True:
                observed = observe(session.providers)
                report = build_report(session.desired, session.store_or_none, observed.tasks, observed.errors,
                                      now=session.clock())
                if html is not None:
                    _write_html(html, report, max(1, int(interval)) if watch else None)
                text = to_json(report) if fmt == "json" else to_text(report)
                if watch and fmt == "text" and sys.stdout.isatty():
                    click.echo("\x1b[2J\x1b[H", nl=False)
                click.echo(text, nl=False)
                if session.state_missing and not watch:
                    click.echo(f"note: no state ({session.state_missing}): nothing is recorded as sent", err=True)
                done += 1
                if not watch or (iterations is not None and done >= iterations):
                    break
                time.sleep(max(0.1, interval))
        except KeyboardInterrupt:
            if not watch:
                raise
    return ExitCode.OK
