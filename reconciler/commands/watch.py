"""`campaignctl watch DIR --interval 60s`: continuous reconcile, Flux-style.

Every interval: read the files again, plan (without the lock: nothing is
taken as interrupted while an apply may be running), and apply only what is
declared safe to self-heal:

* ``start`` / ``pause`` of a task paused or started *outside campaignctl*
  (the plan marks them as drift), and
* ``insert`` of new contacts into a campaign's existing task, when the
  campaign (``watch.apply_new_contacts``) or the project (``watch:``) allows
  it, and none of them was called before (``redial`` 0), and
* the dialing policy's ``pause`` of a running task while the policy allows
  no calls (outside the calling hours, a blackout date): it only stops
  dialing; the task is recorded as *held*, and once the hours open again
  its ``start`` is applied too (a task the files paused is never resumed);
* with ``watch.apply_new_contacts``, a direct campaign's ``dial`` of
  never-dialed contacts once its window opens (``redial`` 0).

Everything else (create, replace, delete, remove, other direct dials, adoption,
anything with a redial, campaigns with errors) is reported, never applied.
The state lock is held only while applying: the safe actions are planned
again under the lock and executed as a plan of their own.

One structured line per cycle (``--log-format json``); ``SIGTERM`` and
``SIGINT`` end the loop after the current cycle (exit 0). With
``--metrics-port`` a small HTTP server answers ``/healthz`` and Prometheus
``/metrics``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import click
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from reconciler.commands.session import Session, make_plan, open_session
from reconciler.engine.apply import Applier
from reconciler.engine.diff import RESUME
from reconciler.engine.plan import Action, ActionKind, ApplyHooks, Plan, StepStatus
from reconciler.engine.policy import policy_hold
from reconciler.engine.settle import recover
from reconciler.errors import CampaignctlError, ExitCode
from reconciler.views._common import collapse, describe, phones_of, scrub
from reconciler.views.base import get_view

__all__ = ["Cycle", "Metrics", "is_safe", "run", "split"]


@dataclass
class Cycle:
    """What one reconcile cycle did, for the log line and the metrics."""

    number: int
    started: float = field(default_factory=time.time)
    applied: list[str] = field(default_factory=list)  # "start spring-promo" ...
    failed: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)  # changes left for a person (plan + apply)
    errors: list[str] = field(default_factory=list)
    warnings: int = 0
    pending: dict[str, int] = field(default_factory=dict)  # campaign → contacts the plan would still send
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


def _allows_new_contacts(plan_campaign: str, session: Session) -> bool:
    c = session.desired.campaign(plan_campaign)
    if c is None:
        return False
    if c.watch_new_contacts is not None:
        return c.watch_new_contacts
    return session.desired.project.watch_new_contacts


def is_safe(action: Action, session: Session) -> bool:
    """Declared safe to self-heal: start/pause drift; new contacts into an existing task when allowed; the
    dialing policy's pause of a running task outside the calling hours (it only stops dialing)."""
    if action.redial or action.replaces:
        return False
    if policy_hold(action):
        return True
    if action.kind is ActionKind.START and action.reason == RESUME:
        return bool(action.task_id)  # the policy paused it; the hours are open again
    if action.kind in (ActionKind.START, ActionKind.PAUSE):
        return action.drift and bool(action.task_id)
    if action.kind is ActionKind.INSERT:
        return bool(action.task_id) and _allows_new_contacts(action.campaign, session)
    if action.kind is ActionKind.DIAL:  # a direct campaign's window opened: never-dialed contacts only
        return _allows_new_contacts(action.campaign, session)
    return False


def split(plan: Plan, session: Session) -> tuple[list[Action], list[Action]]:
    """(safe, reported): the safe actions of campaigns without errors; everything else is reported."""
    blocked = {d.campaign for d in plan.errors}
    if "" in blocked:  # an error of the whole plan (state missing, a bad target, ...): apply nothing
        return [], list(plan.actions)
    safe: list[Action] = []
    reported: list[Action] = []
    for a in plan.actions:
        (safe if a.campaign not in blocked and is_safe(a, session) else reported).append(a)
    return safe, reported


class Metrics:
    """The Prometheus metrics of one watch process (a registry of its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cycles = Counter("campaignctl_watch_cycles", "Reconcile cycles run, by result.", ["result"],
                              registry=self.registry)
        self.applied = Counter("campaignctl_watch_actions_applied", "Actions applied by watch, by action.",
                               ["action"], registry=self.registry)
        self.errors = Counter("campaignctl_watch_errors", "Errors met by watch (plan, vendor, state, failed steps).",
                              registry=self.registry)
        self.reported = Gauge("campaignctl_watch_changes_reported",
                              "Changes the last cycle left for a person (not safe to self-heal).",
                              registry=self.registry)
        self.pending = Gauge("campaignctl_watch_contacts_pending",
                             "Contacts the last plan would still send (insert, create, dial), per campaign.",
                             ["campaign"], registry=self.registry)
        self.last = Gauge("campaignctl_watch_last_cycle_timestamp_seconds", "When the last cycle ended.",
                          registry=self.registry)
        self.healthy = True
        for result in ("ok", "error"):
            self.cycles.labels(result=result)

    def record(self, cycle: Cycle) -> None:
        self.cycles.labels(result="ok" if cycle.ok else "error").inc()
        for item in cycle.applied:
            self.applied.labels(action=item.split(" ", 1)[0]).inc()
        if cycle.errors or cycle.failed:
            self.errors.inc(len(cycle.errors) + len(cycle.failed))
        self.reported.set(len(cycle.reported))
        self.pending.clear()
        for name, n in sorted(cycle.pending.items()):
            self.pending.labels(campaign=name).set(n)
        self.last.set(time.time())
        self.healthy = not cycle.errors

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@contextmanager
def serve_metrics(metrics: Metrics, host: str, port: int | None) -> Iterator[str | None]:
    """``/healthz`` and ``/metrics`` on ``host:port`` in a daemon thread; yields the base URL (None: no port)."""
    if port is None:
        yield None
        return

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                body = b"ok\n" if metrics.healthy else b"last cycle failed\n"
                self._send(200 if metrics.healthy else 503, body, "text/plain; charset=utf-8")
            elif path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found: try /healthz or /metrics\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise CampaignctlError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="campaignctl-metrics", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Stop:
    """SIGTERM / SIGINT end the loop after the current cycle."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal = ""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name
        self.event.set()


def _label(a: Action) -> str:
    items = collapse([a])
    return f"{items[0].word} {a.campaign}" + (f" ({describe(items[0])})" if items else "")


def _pending(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {c.name: 0 for c in plan.campaigns}
    for a in plan.actions:
        if a.kind in (ActionKind.CREATE, ActionKind.INSERT, ActionKind.DIAL):
            out[a.campaign] = out.get(a.campaign, 0) + a.count
    return out


def cycle_once(number: int, directory: Path, *, lock_timeout: float, environment: str | None,
               targets: Sequence[str]) -> Cycle:
    """One cycle: plan, apply the safe part under the lock, report the rest. Never raises a CampaignctlError."""
    cycle = Cycle(number)
    try:
        with open_session(directory, allow_missing_state=True, environment=environment) as session:
            recorded = session.recorded(in_flight=True)
            plan, _ = make_plan(session, prune=None, allow_replace=(), recorded=recorded, targets=targets)
            safe, _ = split(plan, session)
            if safe and session.store_or_none is not None:
                with session.store.lock("watch", lock_timeout):
                    recovered = recover(session.store, session.providers, session.desired)
                    plan, observed = make_plan(session, prune=None, allow_replace=(), recorded=session.recorded(),
                                               targets=targets)
                    safe, _ = split(plan, session)
                    if recovered:
                        cycle.reported += [f"recovered: {r}" for r in recovered]
                    if safe:
                        applier = Applier(session.desired, session.providers, session.store, observed,
                                          hooks=ApplyHooks(), parallelism=4, now=session.clock)
                        result = applier.execute(replace(plan, actions=tuple(safe)))
                        phones = phones_of(plan)
                        for step in result.steps:
                            what = _label(step.action)
                            if step.status is StepStatus.OK:
                                cycle.applied.append(what)
                            else:
                                cycle.failed.append(f"{what}: {step.status.value} {scrub(step.detail, phones)}")
                        cycle.errors += list(result.errors)
                        # What is left: plan again, read-only.
                        plan, _ = make_plan(session, prune=None, allow_replace=(), recorded=session.recorded(),
                                            targets=targets)
            _, reported = split(plan, session)
            phones = phones_of(plan)
            cycle.reported += [_label(a) for a in reported]
            cycle.errors += [scrub(str(d), phones) for d in plan.errors]
            cycle.warnings = len(plan.warnings)
            cycle.pending = _pending(plan)
    except CampaignctlError as exc:
        cycle.errors.append(str(exc))
    cycle.duration = time.time() - cycle.started
    return cycle


def log_line(cycle: Cycle, fmt: str) -> str:
    when = datetime.fromtimestamp(cycle.started, UTC).isoformat(timespec="seconds")
    if fmt == "json":
        return json.dumps({
            "ts": when, "cycle": cycle.number, "ok": cycle.ok, "applied": cycle.applied, "failed": cycle.failed,
            "reported": cycle.reported, "errors": cycle.errors, "warnings": cycle.warnings,
            "contacts_pending": cycle.pending, "duration_s": round(cycle.duration, 3),
        }, ensure_ascii=False)
    parts = [f"{len(cycle.applied)} applied", f"{len(cycle.reported)} reported", f"{len(cycle.errors)} errors"]
    if cycle.failed:
        parts.append(f"{len(cycle.failed)} failed")
    line = f"{when} cycle {cycle.number}: " + ", ".join(parts) + f" ({cycle.duration:.1f}s)"
    details = ([f"applied: {x}" for x in cycle.applied] + [f"failed: {x}" for x in cycle.failed]
               + [f"reported: {x}" for x in cycle.reported] + [f"error: {x}" for x in cycle.errors])
    return line + "".join(f"\n  {d}" for d in details)


def run(directory: Path, *, interval: float, log_format: str, metrics_port: int | None, metrics_host: str,
        max_cycles: int | None, lock_timeout: float, environment: str | None = None,
        targets: Sequence[str] = ()) -> int:
    get_view("text")  # fail fast on a broken install, before any signal handler is set
    stop = _Stop()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for s in previous:
            signal.signal(s, stop)
    metrics = Metrics()
    try:
        with serve_metrics(metrics, metrics_host, metrics_port) as url:
            if url is not None:
                click.echo(f"watch: /healthz and /metrics on {url}", err=True)
            number = 0
            while not stop.event.is_set():
                number += 1
                cycle = cycle_once(number, directory, lock_timeout=lock_timeout, environment=environment,
                                   targets=targets)
                metrics.record(cycle)
                click.echo(log_line(cycle, log_format))
                if max_cycles is not None and number >= max_cycles:
                    break
                stop.event.wait(interval)
    finally:
        if in_main:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if stop.signal:
        click.echo(f"watch: stopped by {stop.signal}", err=True)
    return ExitCode.OK
