"""Apply progress on stderr: a bar of vendor calls on a terminal, one line per step otherwise.

Steps of different lanes finish on several threads at once, so every
write and every counter sits behind one lock. Progress goes to stderr so
that ``--format json`` keeps stdout a single JSON document.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

import click

from reconciler.engine.plan import Action, ApplyHooks, StepResult, StepStatus
from reconciler.views._common import SYMBOLS, describe_step, step_word

__all__ = ["ProgressHooks"]

_WORDS: dict[StepStatus, str] = {
    StepStatus.OK: "ok",
    StepStatus.FAILED: "FAILED",
    StepStatus.UNKNOWN: "UNKNOWN",
    StepStatus.SKIPPED: "skipped",
}


class ProgressHooks(ApplyHooks):
    """Listens to the applier; call :meth:`close` (or use ``with``) when apply returns."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream: TextIO = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._tty = tty if tty is not None else bool(isatty and isatty())
        self._lock = threading.Lock()
        self._bar: Any = None  # click's ProgressBar; its type is private to click
        self._total_steps = 0
        self._finished = 0
        self._calls = 0

    @property
    def calls(self) -> int:
        """Vendor calls reported so far."""
        return self._calls

    @property
    def finished(self) -> int:
        """Steps finished so far."""
        return self._finished

    def plan_started(self, total_steps: int, total_calls: int) -> None:
        with self._lock:
            self._total_steps = total_steps
            if self._tty and self._bar is None:
                bar = click.progressbar(length=max(total_calls, 1), label="Applying", file=self._stream,
                                        show_pos=True, show_eta=False)
                self._bar = bar.__enter__()

    def calls_made(self, action: Action, calls: int) -> None:
        with self._lock:
            self._calls += calls
            if self._bar is not None:
                self._bar.update(calls)

    def step_finished(self, result: StepResult) -> None:
        with self._lock:
            self._finished += 1
            if self._bar is not None:
                return
            a = result.action
            line = (f"[{self._finished}/{self._total_steps}] {_WORDS[result.status]:<7} {a.campaign}: "
                    f"{SYMBOLS[step_word(result)]} {describe_step(result)}")
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Finish the bar (idempotent); the summary printed next starts on a clean line."""
        with self._lock:
            if self._bar is not None:
                self._bar.__exit__(None, None, None)
                self._bar = None

    def __enter__(self) -> ProgressHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
