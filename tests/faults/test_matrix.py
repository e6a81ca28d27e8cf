"""The fault matrix: every mutating call of both vendors x every fault, each followed by a clean re-apply.

Per cell: a project on both emulators (loopback, in-process) is brought to
the state the call needs, the files are changed so that the next apply makes
that call, the fault is armed on it, and apply runs; then the fault is
cleared and apply runs again (twice at most: the first may only settle what
the fault left). Every cell asserts:

- no duplicate task, no phone twice in a task, no second dial;
- nothing lost: every contact in the files ends up in its task (or dialed
  once), or is reported for ``state resolve`` (a direct callout or a batch of
  unknown outcome);
- a one-line reason for every step that did not finish, exit 0/1, no traceback;
- the faulted call was never blindly sent again.

Each cell's outcome is recorded (``CAMPAIGNCTL_RESULTS_DIR``) for
``benchmarks/reliability.py``, which renders the table in RELIABILITY.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Result, campaigns, phones, run_cli, write_csv, xf_direct, xf_task, yc_task
from tests.faults.support import (
    LATE,
    clean_output,
    duplicates,
    emulators,
    fast_project,
    record,
    xf_counts,
    xf_live,
    yc_counts,
    yc_live,
)

N = 51  # contacts: one full batch of 50 and a last batch of one


@dataclass(frozen=True)
class Call:
    vendor: str  # xfyeta | yccall
    name: str  # the vendor's name of the call
    match: str  # the fault rule's match key
    before: Callable[[Path], None] | None  # files applied cleanly first (None: nothing)
    now: Callable[[Path], None]  # the files whose apply makes the call
    check: Callable[[Any, Any, Result], str]  # the end state: "" when right, else what is wrong
    counted: str  # the emulator call counter key


def _xf(d: Path, n: int = N, state: str = "running") -> None:
    write_csv(d / "contacts/a.csv", phones(n))
    campaigns(d, xf_task("spring", "../contacts/a.csv", state=state))


def _direct(d: Path) -> None:
    write_csv(d / "contacts/d.csv", phones(N, 8000))
    campaigns(d, xf_direct("survey", "../contacts/d.csv"))


def _yc(d: Path, n: int = 40, start: int = 3000) -> None:
    write_csv(d / "contacts/y.csv", phones(n, start), columns=("phone",))
    campaigns(d, yc_task("follow", "../contacts/y.csv"))


def _xf_task_is(n: int, statuses: set[int] | None) -> Callable[[Any, Any, Result], str]:
    def check(xf: Any, yc: Any, plan: Result) -> str:
        live = xf_live(xf)
        if len(live) != 1:
            return f"{len(live)} live tasks"
        numbers = {x["phone"] for x in live[0]["numbers"]}
        missing = set(phones(n)) - numbers
        if missing and "state resolve spring" not in plan.output:
            return f"{len(missing)} contacts lost (not in the task, not reported for state resolve)"
        if statuses is not None and live[0]["status"] not in statuses and "state resolve spring" not in plan.output:
            return f"task status {live[0]['status']}, expected one of {sorted(statuses)}"
        return ""

    return check


def _xf_deleted(xf: Any, yc: Any, plan: Result) -> str:
    return "" if not xf_live(xf) else f"{len(xf_live(xf))} live tasks left"


def _dialed_once_or_unknown(xf: Any, yc: Any, plan: Result) -> str:
    dialed = {x["phone"] for x in xf.state()["dials"]}
    if dialed == set(phones(N, 8000)):
        return ""
    if "state resolve survey" in plan.output:  # the rest are reported as unknown, never dialed again
        return ""
    return f"{N - len(dialed)} contacts neither dialed nor reported for state resolve"


def _yc_task_is(numbers: list[str], statuses: set[int]) -> Callable[[Any, Any, Result], str]:
    def check(xf: Any, yc: Any, plan: Result) -> str:
        live = yc_live(yc)
        if len(live) != 1:
            return f"{len(live)} live yccall tasks"
        held = {x["telphone"] for x in live[0]["numbers"]}
        missing = set(numbers) - held
        if missing and "state resolve follow" not in plan.output:
            return f"{len(missing)} contacts lost"
        extra = held - set(numbers)
        if extra:
            return f"{len(extra)} removed contacts still in the task"
        if live[0]["status"] not in statuses and "state resolve follow" not in plan.output:
            return f"task status {live[0]['status']}"
        return ""

    return check


RUNNING = {1, 2, 5, 6}
CALLS = [
    Call("xfyeta", "create", "task/create", None, _xf, _xf_task_is(N, RUNNING), "task/create"),
    Call("xfyeta", "insert", "task/insert", None, _xf, _xf_task_is(N, RUNNING), "task/insert"),
    Call("xfyeta", "start", "task/start", None, _xf, _xf_task_is(N, RUNNING), "task/start"),
    Call("xfyeta", "pause", "task/pause", _xf, lambda d: _xf(d, state="paused"), _xf_task_is(N, {3}), "task/pause"),
    Call("xfyeta", "delete", "task/delete", _xf, lambda d: _xf(d, state="absent"), _xf_deleted, "task/delete"),
    Call("xfyeta", "callout", "task/callout", None, _direct, _dialed_once_or_unknown, "task/callout"),
    Call("yccall", "TaskCreat", "TaskCreat", None, lambda d: _yc(d, 60), _yc_task_is(phones(60, 3000), {1026}),
         "App.Sip_Yccall.TaskCreat"),
    Call("yccall", "TaskAdd", "TaskAdd", _yc, lambda d: _yc(d, 60), _yc_task_is(phones(60, 3000), {1026}),
         "App.Sip_Yccall.TaskAdd"),
    Call("yccall", "TaskSet", "TaskSet", None, _yc, _yc_task_is(phones(40, 3000), {1026}), "App.Sip_Yccall.TaskSet"),
    Call("yccall", "taskDelPhone", "taskDelPhone", lambda d: _yc(d, 60), lambda d: _yc(d, 40, 3020),
         _yc_task_is(phones(40, 3020), {1026}), "App.Sip_Yccall.taskDelPhone"),
]

VENDOR_ERROR = {"xfyeta": "10020", "yccall": "1003"}  # API under maintenance / operation refused
FAULTS: dict[str, Callable[[Call], str]] = {
    "timeout-late": lambda c: f"{c.match}:latency:{LATE}",  # answered after the read timeout; applied late
    "lost-after-commit": lambda c: f"{c.match}:drop",
    "5xx-once": lambda c: f"{c.match}:status:503",
    "5xx-always": lambda c: f"{c.match}:status:503*inf",
    "429-retry-after": lambda c: f"{c.match}:429:0.3",
    "html-body": lambda c: f"{c.match}:malformed",
    "truncated-body": lambda c: f"{c.match}:malformed:truncated",
    "vendor-error": lambda c: f"{c.match}:error:{VENDOR_ERROR[c.vendor]}",
    "expired-token": lambda c: f"{c.match}:expire-token",
    "partial-landing": lambda c: f"{c.match}:partial:7",  # 7 rows of the batch land, the answer is lost
}
PARTIAL_CALLS = {"insert", "callout", "TaskCreat", "TaskAdd"}  # the calls that carry rows
NOT_IDEMPOTENT = {"create", "insert", "callout", "TaskCreat", "TaskAdd"}

CELLS = [pytest.param(call, fault, id=f"{call.vendor}-{call.name}-{fault}")
         for call in CALLS for fault in FAULTS if fault != "partial-landing" or call.name in PARTIAL_CALLS]


def _reasons_are_one_line(res: Result) -> str:
    for line in res.output.splitlines():
        stripped = line.strip()
        if stripped.startswith(("FAILED", "UNKNOWN")) and " -- " not in line:
            return f"a step without its reason: {line!r}"
        if stripped.startswith(("FAILED", "UNKNOWN")) and len(line.split(" -- ", 1)[1].strip()) < 10:
            return f"a reason too short to help: {line!r}"
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    if len(errors) > 1:
        return f"{len(errors)} Error: lines"
    return ""


def _count(call: Call, xf: Any, yc: Any) -> int:
    return xf_counts(xf)[call.counted] if call.vendor == "xfyeta" else yc_counts(yc)[call.counted]


def _faulted(call: Call, xf: Any, yc: Any) -> int:
    """Attempts of the call that met the fault (the emulators log the fault with the call)."""
    if call.vendor == "xfyeta":
        return sum(1 for c in xf.calls if c["path"].endswith("/" + call.counted) and c["fault"])
    return sum(1 for c in yc.calls if c["service"] == call.counted and c["fault"])


@pytest.mark.parametrize(("call", "fault"), CELLS)
def test_fault_then_clean_reapply(tmp_path: Path, call: Call, fault: str) -> None:
    started = time.monotonic()
    with emulators() as (xf, yc):
        d = fast_project(tmp_path, xf_url=xf.base_url, yc_url=yc.base_url)
        if call.before is not None:
            call.before(d)
            assert run_cli("apply", str(d), "--auto-approve").exit_code == 0
        call.now(d)
        before = _count(call, xf, yc)
        emu = xf if call.vendor == "xfyeta" else yc
        emu.faults.add(FAULTS[fault](call))
        first_started = time.monotonic()
        first = run_cli("apply", str(d), "--auto-approve")
        emu.faults.clear()
        problems = [p for p in (clean_output(first), _reasons_are_one_line(first)) if p]
        reapplies: list[int] = []
        last = first
        for _ in range(2):
            if last.exit_code == 0 and reapplies:
                break
            last = run_cli("apply", str(d), "--auto-approve")
            reapplies.append(last.exit_code)
            problems += [p for p in (clean_output(last), _reasons_are_one_line(last)) if p]
        # a late vendor finishes the faulted call LATE seconds after it came: look only once it has
        time.sleep(max(0.0, first_started + LATE + 0.3 - time.monotonic()))
        plan = run_cli("plan", str(d), "--detailed-exitcode")
        problems += [p for p in (clean_output(plan),) if p]
        faulted_attempts = _faulted(call, xf, yc)
        sent = _count(call, xf, yc) - before  # the faulted apply and the re-applies together
        dup = duplicates(xf, yc)
        wrong = call.check(xf, yc, plan)
        resolve = "state resolve" in plan.output
        if plan.exit_code not in (0,) and not (plan.exit_code == 1 and resolve):
            problems.append(f"the final plan exits {plan.exit_code}: {plan.output.strip()[-300:]}")
        if wrong:
            problems.append(wrong)
        if any(dup.values()):
            problems.append(f"duplicates: {dup}")
        if resolve:
            outcome = "left for state resolve"
        else:
            outcome = "absorbed" if first.exit_code == 0 else "failed, converged on re-apply"
        record("matrix", f"{call.vendor}-{call.name}-{fault}", {
            "vendor": call.vendor, "call": call.name, "fault": fault, "first_exit": first.exit_code,
            "reapply_exits": reapplies, "final_plan_exit": plan.exit_code, "outcome": outcome,
            "faulted_attempts": faulted_attempts, "sent": sent, "resolve": resolve, "problems": problems, **dup,
            "seconds": round(time.monotonic() - started, 2),
            "reason": next((ln.strip() for ln in first.output.splitlines()
                            if ln.strip().startswith(("FAILED", "UNKNOWN", "Error:"))), ""),
        })
        assert not problems, (problems, first.output, last.output, plan.output)
        # never blindly again: a call that carries rows or makes a task meets even an "always" fault once, since
        # it is never retried after it may have reached the vendor (a 429 or an expired token is a refusal:
        # sending it again then is right)
        if fault not in ("429-retry-after", "expired-token") and call.name in NOT_IDEMPOTENT:
            assert faulted_attempts == 1, faulted_attempts
