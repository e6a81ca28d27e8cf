"""``campaignctl validate DIR``: offline checks, every problem as ``file:line: field: message``.

Exit 0 when the directory is valid (warnings allowed), 1 otherwise. With
``GITHUB_ACTIONS=true`` each problem is also printed as a workflow command
(``::error file=...,line=...::message``) so it shows on the pull request
(on stderr with ``--format json``, so stdout stays one JSON document).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.config import LoadResult, load
from reconciler.config.discovery import PROJECT_FILES
from reconciler.config.gcpause import paused_gc
from reconciler.config.report import display_path
from reconciler.errors import ExitCode, Problem

if TYPE_CHECKING:  # the policy's engine and views are imported only for a project that declares a policy
    from reconciler.engine.plan import CampaignSummary, Diagnostic

__all__ = ["FORMAT_VERSION", "display_path", "find_project", "print_problems", "run", "run_paths"]

FORMAT_VERSION = 1


def _policy(result: LoadResult) -> tuple[tuple[CampaignSummary, ...], list[Diagnostic]]:
    """The dialing policy's offline view (engine.policy.offline_summaries): counts, forecast, late warnings."""
    if result.state is None or result.state.project.policy is None:
        return (), []
    from reconciler.engine.clock import policy_clock
    from reconciler.engine.policy import offline_summaries

    now = policy_clock(os.environ, timezone=result.state.project.timezone)()
    return offline_summaries(result.state, now)


def _checked(directory: Path) -> tuple[LoadResult, tuple[CampaignSummary, ...]]:
    """The directory loaded, with the policy's late-forecast warnings among its problems, and its summaries."""
    with paused_gc(keep=True):
        result = load(Path(directory))
    summaries, late = _policy(result)
    if late:
        extra = [Problem(d.file, d.line, "", f"{d.campaign}: {d.message}", "warning") for d in late]
        result = LoadResult(result.state, tuple(sorted(result.problems + tuple(extra))), result.files)
    return result, summaries


def run(directory: Path, *, fmt: str = "text") -> int:
    result, summaries = _checked(directory)
    if fmt == "json":
        click.echo(json.dumps(_json(result, summaries), ensure_ascii=False, indent=2))
        _annotate(result)
    else:
        print_problems(result.problems)
        if summaries:
            from reconciler.engine.plan import Plan
            from reconciler.views._common import policy_lines

            for name, text in policy_lines(Plan((), campaigns=summaries)):
                click.echo(f"{name}: {text}")
        click.echo(_summary(result))
    return int(ExitCode.OK if result.state is not None else ExitCode.ERROR)


def find_project(path: Path) -> Path | None:
    """The config directory a file belongs to: the nearest directory upwards holding campaignctl.yaml."""
    start = path if path.is_dir() else path.parent
    for candidate in (start.resolve(), *start.resolve().parents):
        if any((candidate / name).is_file() for name in PROJECT_FILES):
            return candidate
    return None


def run_paths(paths: list[Path], *, fmt: str = "text") -> int:
    """Validate each directory given, and the project of each file given (pre-commit passes changed files).

    A directory is validated as given; a file is validated as part of the
    project found upwards from it (every project once). A file inside no
    project is skipped with a note.
    """
    projects: dict[Path, Path] = {}  # resolved → as given / found
    for path in paths:
        if path.is_dir() or (not path.exists() and not path.suffix):
            projects.setdefault(path.resolve(), path)
            continue
        if path.name in PROJECT_FILES:
            projects.setdefault(path.parent.resolve(), path.parent)
            continue
        root = find_project(path)
        if root is None:
            click.echo(f"note: {path} is not inside a campaignctl project (no campaignctl.yaml above it); skipped",
                       err=True)
            continue
        projects.setdefault(root, Path(os.path.relpath(root)) if _below_cwd(root) else root)
    if (len(projects) <= 1 and fmt == "text") or len(projects) == 1:
        codes = [run(d, fmt=fmt) for d in projects.values()]
        return max(codes, default=int(ExitCode.OK))
    if fmt == "json":
        docs = []
        for directory in projects.values():
            result, summaries = _checked(directory)
            docs.append(_json(result, summaries))
            _annotate(result)
        click.echo(json.dumps({"format_version": FORMAT_VERSION, "valid": all(d["valid"] for d in docs),
                               "projects": docs}, ensure_ascii=False, indent=2))
        return int(ExitCode.OK if all(d["valid"] for d in docs) else ExitCode.ERROR)
    codes = []
    for directory in projects.values():
        click.echo(f"{display_path(str(directory)) or '.'}:")
        codes.append(run(directory, fmt=fmt))
    return max(codes, default=int(ExitCode.OK))


def _below_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd().resolve())
    except ValueError:
        return False
    return True


def _annotate(result: LoadResult) -> None:
    if os.environ.get("GITHUB_ACTIONS", "").lower() == "true":
        for problem in result.problems:  # on stderr: stdout stays one JSON document
            click.echo(_annotation(problem), err=True)


def print_problems(problems: Iterable[Problem], *, err: bool = False) -> None:
    """Each problem as ``file:line: field: message`` (and a GitHub annotation in Actions)."""
    problems = list(problems)
    for problem in problems:
        click.echo(_text(problem), err=err)
    if os.environ.get("GITHUB_ACTIONS", "").lower() == "true":
        for problem in problems:
            click.echo(_annotation(problem), err=err)


def _located(problem: Problem) -> Problem:
    return Problem(display_path(problem.file), problem.line, problem.field, problem.message, problem.severity)


def _text(problem: Problem) -> str:
    return str(_located(problem))


def _summary(result: LoadResult) -> str:
    errors = len(result.errors)
    warnings = len(result.warnings)
    if result.state is None:
        return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    campaigns = len(result.state.campaigns)
    contacts = sum(len(c.contacts.rows) for c in result.state.campaigns)
    tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    return f"{campaigns} campaign{'s' if campaigns != 1 else ''}, {contacts} contacts valid{tail}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command for one problem."""
    located = _located(problem)
    kind = "error" if problem.severity == "error" else "warning"
    props = f"file={_escape_property(located.file)}"
    if located.line > 0:
        props += f",line={located.line}"
    message = f"{located.field}: {located.message}" if located.field else located.message
    return f"::{kind} {props}::{_escape_data(message)}"


def _json(result: LoadResult, summaries: tuple[CampaignSummary, ...] = ()) -> dict[str, object]:
    from reconciler.views.json import forecast_document

    campaigns = []
    policy = {s.name: s for s in summaries}
    if result.state is not None:
        for c in result.state.campaigns:
            s = policy.get(c.name)
            campaigns.append(
                {
                    "name": c.name,
                    "provider": c.provider,
                    "provider_type": c.provider_type,
                    "mode": c.mode,
                    "state": c.state,
                    "contacts": len(c.contacts.rows),
                    "file": display_path(c.mark.file),
                    "line": c.mark.line,
                    # the dialing policy, offline: do-not-call sources only (opt-outs are in the state)
                    "suppressed": s.suppressed if s else 0,
                    "suppressed_by": dict(s.suppressed_by) if s else {},
                    "forecast": forecast_document(s.forecast) if s else None,
                }
            )
    return {
        "format_version": FORMAT_VERSION,
        "valid": result.state is not None,
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "field": p.field,
                "message": p.message,
                "severity": p.severity,
            }
            for p in map(_located, result.problems)
        ],
        "campaigns": campaigns,
    }
