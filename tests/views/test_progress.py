"""Progress hooks: each step once as it finishes, batch progress for large inserts; safe across threads."""

from __future__ import annotations

import io
import re
import threading

from reconciler.engine.plan import StepResult, StepStatus
from reconciler.views.progress import ProgressHooks
from tests.views.plans import full_plan


class TtyIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_non_tty_prints_one_line_per_finished_step() -> None:
    plan = full_plan()
    stream = io.StringIO()
    hooks = ProgressHooks(stream)
    hooks.plan_started(len(plan.actions), sum(a.calls for a in plan.actions))
    for a in plan.actions[:3]:
        hooks.step_started(a)
        hooks.calls_made(a, a.calls)
    hooks.step_finished(StepResult(plan.actions[0], StepStatus.OK, calls=1, task_id="T-1"))
    hooks.step_finished(StepResult(plan.actions[1], StepStatus.FAILED, "no", calls=2))
    hooks.close()
    assert stream.getvalue().splitlines()[1:] == [
        "[1/9] ok      spring-promo: + create gitops-spring-promo: task T-1, 1 call made",
        "[2/9] FAILED  spring-promo: + insert 170 contacts: 2 calls made",
    ]
    assert hooks.calls == 4
    assert "\x1b[" not in stream.getvalue() and "\r" not in stream.getvalue()


def test_tty_shows_each_step_once_and_rewrites_batch_progress_in_place() -> None:
    plan = full_plan()
    stream = TtyIO()
    with ProgressHooks(stream) as hooks:
        hooks.plan_started(len(plan.actions), 10)
        for a in plan.actions:
            for _ in range(a.calls):
                hooks.calls_made(a, 1)
            hooks.step_finished(StepResult(a, StepStatus.OK, calls=a.calls))
    out = stream.getvalue()
    assert out.startswith("Applying 9 steps")
    step_lines = [line for line in out.replace("\r\x1b[2K", "\n").splitlines() if line.startswith("[")]
    assert len(step_lines) == len(plan.actions)  # each step exactly once
    assert out.endswith("\n")  # closed: the summary starts on its own line
    hooks.close()  # idempotent


def test_large_insert_shows_batch_progress_in_a_log() -> None:
    from dataclasses import replace

    from reconciler.engine.plan import ActionKind

    plan = full_plan()
    insert = next(a for a in plan.actions if a.kind is ActionKind.INSERT)
    big = replace(insert, calls=20, row_index=tuple(range(1000)))
    stream = io.StringIO()
    hooks = ProgressHooks(stream)
    hooks.plan_started(1, 20)
    for _ in range(20):
        hooks.calls_made(big, 1)
    hooks.step_finished(StepResult(big, StepStatus.OK, calls=20, done=1000))
    lines = stream.getvalue().splitlines()
    batches = [line for line in lines if "(batch " in line]
    assert len(batches) == 10  # a line every tenth of the batches, not one per call
    assert batches[0].strip() == "spring-promo: insert 100/1000 contacts (batch 2/20)"
    assert batches[-1].strip() == "spring-promo: insert 1000/1000 contacts (batch 20/20)"
    assert lines[-1].startswith("[1/1] ok      spring-promo: + insert 1000 contacts")


def test_steps_from_many_threads_are_counted_once_and_lines_never_interleave() -> None:
    plan = full_plan()
    stream = io.StringIO()
    hooks = ProgressHooks(stream, tty=False)
    workers, per = 8, 50
    hooks.plan_started(workers * per, workers * per)
    barrier = threading.Barrier(workers)

    def work(n: int) -> None:
        barrier.wait()
        for _ in range(per):
            a = plan.actions[n % len(plan.actions)]
            hooks.calls_made(a, 1)
            hooks.step_finished(StepResult(a, StepStatus.OK, calls=1))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()[1:]
    assert hooks.calls == workers * per and hooks.finished == workers * per
    assert len(lines) == workers * per
    assert all(re.match(r"\[\d+/400\] ok      \S+: ", line) for line in lines)
    assert sorted(int(line[1:line.index("/")]) for line in lines) == list(range(1, workers * per + 1))


def test_default_stream_is_stderr(capsys: object) -> None:
    plan = full_plan()
    hooks = ProgressHooks()
    hooks.plan_started(1, 1)
    hooks.step_finished(StepResult(plan.actions[0], StepStatus.OK, calls=1))
    hooks.close()
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert captured.out == ""
    assert "+ create gitops-spring-promo" in captured.err
