"""GitHub Actions workflow commands for plan diagnostics and config problems.

With ``GITHUB_ACTIONS=true`` every error and warning is also printed, on
stderr (stdout stays the plan document), as ``::error file=F,line=N::msg``
so it shows on the pull request's changed files. Paths are made relative
to the workspace (``GITHUB_WORKSPACE``, else the current directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.engine.plan import Diagnostic, Plan
from reconciler.errors import Problem
from reconciler.views._common import phones_of, scrub

__all__ = ["annotation", "enabled", "plan_annotations", "problem_annotations"]


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(file: str, env: Mapping[str, str]) -> str:
    if not file:
        return ""
    base = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        return Path(file).resolve().relative_to(base.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return file


def annotation(severity: str, message: str, file: str = "", line: int = 0, *, title: str = "",
               env: Mapping[str, str] | None = None) -> str:
    """One workflow command: ``::error file=...,line=...,title=...::message``."""
    env = os.environ if env is None else env
    kind = "error" if severity == "error" else "warning"
    props = []
    shown = _relative(file, env)
    if shown:
        props.append(f"file={_escape_property(shown)}")
        if line > 0:
            props.append(f"line={line}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{kind} {','.join(props)}" if props else f"::{kind}"
    return f"{head}::{_escape_data(message)}"


def plan_annotations(plan: Plan, env: Mapping[str, str] | None = None) -> list[str]:
    """One line per plan error and warning, errors first, each sorted by file and line."""
    phones = phones_of(plan)

    def one(d: Diagnostic) -> str:
        who = f"{d.campaign}: " if d.campaign else ""
        return annotation(d.severity, who + scrub(d.message, phones), d.file, d.line, title="campaignctl plan",
                          env=env)

    order = sorted(plan.diagnostics, key=lambda d: (d.severity != "error", d.file or "\uffff", d.line, d.message))
    return [one(d) for d in order]


def problem_annotations(problems: Iterable[Problem], env: Mapping[str, str] | None = None) -> list[str]:
    out = []
    for p in problems:
        message = f"{p.field}: {p.message}" if p.field else p.message
        out.append(annotation(p.severity, message, p.file, p.line, env=env))
    return out
