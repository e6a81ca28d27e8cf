"""Apply progress on stderr: each step once, as it finishes; batch progress for large inserts and dials.

Every finished step is one line (``[3/10] ok      spring-promo: + create ...``),
on a terminal and in a log alike, so the summary printed after apply need
not list the steps again. An insert or dial of several batches also shows
its progress: on a terminal one line rewritten in place, in a log a line at
every tenth of the batches. Steps of different lanes finish on several
threads at once, so every write and every counter sits behind one lock.
Progress goes to stderr so that ``--format json`` keeps stdout a single
JSON document.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from reconciler.engine.plan import Action, ActionKind, ApplyHooks, StepResult, StepStatus
from reconciler.views._common import SYMBOLS, describe_step, step_word

__all__ = ["BATCH_PROGRESS_FROM", "ProgressHooks"]

_WORDS: dict[StepStatus, str] = {
    StepStatus.OK: "ok",
    StepStatus.FAILED: "FAILED",
    StepStatus.UNKNOWN: "UNKNOWN",
    StepStatus.SKIPPED: "skipped",
}

BATCH_PROGRESS_FROM = 3  # an insert or dial of at least this many calls shows batch progress


class ProgressHooks(ApplyHooks):
    """Listens to the applier; call :meth:`close` (or use ``with``) when apply returns."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream: TextIO = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._tty = tty if tty is not None else bool(isatty and isatty())
        self._lock = threading.Lock()
        self._total_steps = 0
        self._finished = 0
        self._calls = 0
        self._batches: dict[int, int] = {}  # id(action) → calls made so far
        self._transient = False  # a rewritten batch line is on screen

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
            self._write(f"Applying {total_steps} step{'s' if total_steps != 1 else ''} "
                        f"({total_calls} vendor call{'s' if total_calls != 1 else ''})...")

    def calls_made(self, action: Action, calls: int) -> None:
        with self._lock:
            self._calls += calls
            if action.kind not in (ActionKind.INSERT, ActionKind.DIAL) or action.calls < BATCH_PROGRESS_FROM:
                return
            done = self._batches.get(id(action), 0) + calls
            self._batches[id(action)] = done
            total = action.calls
            if self._tty:
                self._clear()
                self._stream.write(self._batch_line(action, done))
                self._stream.flush()
                self._transient = True
            elif done == total or (done * 10) // total != ((done - calls) * 10) // total:  # a line per tenth
                self._write(self._batch_line(action, done))

    @staticmethod
    def _batch_line(action: Action, done: int) -> str:
        total = action.calls
        contacts = min(action.count, round(action.count * done / total)) if total else action.count
        word = step_word(StepResult(action, StepStatus.OK))
        return f"      {action.campaign}: {word} {contacts}/{action.count} contacts (batch {done}/{total})"

    def step_finished(self, result: StepResult) -> None:
        with self._lock:
            self._finished += 1
            self._batches.pop(id(result.action), None)
            a = result.action
            word = "waiting" if result.deferred else _WORDS[result.status]  # stopped by the hours: due later
            self._write(f"[{self._finished}/{self._total_steps}] {word:<7} {a.campaign}: "
                        f"{SYMBOLS[step_word(result)]} {describe_step(result)}")

    def _clear(self) -> None:
        if self._transient:
            self._stream.write("\r\x1b[2K")
            self._transient = False

    def _write(self, line: str) -> None:
        self._clear()
        self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Clear a batch line left on screen (idempotent); the summary printed next starts on a clean line."""
        with self._lock:
            if self._transient:
                self._clear()
                self._stream.flush()

    def __enter__(self) -> ProgressHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
