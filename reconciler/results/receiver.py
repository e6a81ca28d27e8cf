"""The push receiver: a small ASGI app (served by uvicorn) for both vendors.

``POST /push/PROFILE/MODULE`` (or ``/push/SECRET/PROFILE/MODULE``) takes one
push of the profile's vendor (``results/pushes.py``) and answers ``success``
only once the push is durably in the state. Pushes are written by one writer
thread in *group commits*: every push that arrives while a batch is being
written goes into the next one, so a busy receiver writes many pushes per
transaction (one fsync) and each request still waits for its own write. A
write that fails or takes longer than ``answer_timeout`` is answered 503 (no
``success``), so the vendor retries; the store is idempotent on the vendor's
key, so a retry of something already written is answered ``success`` and
stored once.

- A body that cannot be read: 400 and one log line naming the field, never a
  value (bodies carry phone numbers); an unknown profile or module: 404; a
  missing or wrong secret: 403; a body over ``max_body``: 413.
- ``GET /``: the live status page; ``GET /?fragment=1`` its refreshing part;
  ``GET /status.json``: the same report as JSON; ``GET /healthz``: ``ok``.
  These show names and counts only.

The log carries profile, module, task id, the push's key digest, and
whether it was new; never a phone number.

Opt-outs: with ``ReceiverSettings.optout`` (the project's ``policy.optout``
rules) every push is asked ``engine.policy.optout_reason`` before it is
queued; a push that means "do not call me again" carries the reason into
the state, which lists the number of the contact row it joins in the same
write (``StateStore.put_results``): the next plan suppresses it in every
campaign, and a running apply leaves it out of its next batch.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.engine.policy import optout_reason
from reconciler.model import digest
from reconciler.policy import OptOutRules
from reconciler.results.page import render_campaigns, render_page
from reconciler.results.pushes import MODULES, BadPush, parse_push
from reconciler.results.status import StatusReport
from reconciler.state.base import ResultRecord, StateStore

__all__ = ["SECRET_HEADER", "BatchWriter", "ReceiverSettings", "ResultsApp"]

log = logging.getLogger("reconciler.results.receiver")

SECRET_HEADER = "x-campaignctl-secret"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Done = Callable[[bool | BaseException], None]


@dataclass(frozen=True)
class ReceiverSettings:
    """``profiles`` maps each profile name to its vendor type (``xfyeta``/``yccall``); ``optout``: the rules
    that make a push put its number on the opt-out list (None: pushes never do)."""

    profiles: Mapping[str, str]
    secret: str | None = None
    optout: OptOutRules | None = None
    max_body: int = 1 << 20
    answer_timeout: float = 2.5  # seconds; the vendors give up at 3
    max_batch: int = 500
    status_ttl: float = 2.0  # seconds a status report is reused by the page
    extra: Mapping[str, Any] = field(default_factory=dict)


class BatchWriter:
    """One thread writing queued results in batches (group commit); ``done`` is
    called with each record's "new" flag, or the exception its batch met."""

    def __init__(self, store: StateStore, max_batch: int = 500) -> None:
        self._store = store
        self._max = max(1, max_batch)
        self._queue: queue.SimpleQueue[tuple[ResultRecord, Done] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="results-writer", daemon=True)
                self._thread.start()

    def submit(self, record: ResultRecord, done: Done) -> None:
        self.start()
        self._queue.put((record, done))

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)

    def _write(self, batch: list[tuple[ResultRecord, Done]]) -> None:
        try:
            fresh = self._store.put_results([record for record, _ in batch])
        except Exception as exc:  # the vendor retries: nothing is answered "success"
            log.error("could not write %d result push(es) to the state: %s", len(batch), exc)
            for _, done in batch:
                done(exc)
            return
        self.batches += 1
        self.written += len(batch)
        for (_, done), new in zip(batch, fresh, strict=True):
            done(new)


class ResultsApp:
    """The ASGI application; ``report`` builds a status report (called off the event loop, cached)."""

    def __init__(self, settings: ReceiverSettings, writer: BatchWriter,
                 report: Callable[[], StatusReport] | None = None,
                 report_json: Callable[[StatusReport], str] | None = None) -> None:
        self.settings = settings
        self.writer = writer
        self._report = report
        self._report_json = report_json
        self._cached: tuple[float, StatusReport] | None = None
        self._report_lock = threading.Lock()
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        method = scope["method"]
        path: str = scope["path"]
        if path.startswith("/push/"):
            if method != "POST":
                await _answer(send, 405, "use POST\n", headers=[(b"allow", b"POST")])
                return
            await self._push(scope, receive, send, path)
            return
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, "method not allowed\n")
            return
        if path == "/healthz":
            await _answer(send, 200, "ok\n")
        elif path == "/" and self._report is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            report = await asyncio.to_thread(self._current_report)
            if "fragment=1" in query:
                await _answer(send, 200, render_campaigns(report), "text/html; charset=utf-8")
            else:
                await _answer(send, 200, render_page(report, live=True), "text/html; charset=utf-8")
        elif path == "/status.json" and self._report is not None and self._report_json is not None:
            report = await asyncio.to_thread(self._current_report)
            await _answer(send, 200, self._report_json(report), "application/json; charset=utf-8")
        else:
            await _answer(send, 404, "not found\n")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.writer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.writer.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _current_report(self) -> StatusReport:
        assert self._report is not None
        with self._report_lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.settings.status_ttl:
                return self._cached[1]
            report = self._report()
            self._cached = (now, report)
            return report

    def _secret_ok(self, scope: Scope, given_in_path: str | None) -> bool:
        secret = self.settings.secret
        if not secret:
            return given_in_path is None
        candidates = [given_in_path] if given_in_path is not None else []
        for name, value in scope.get("headers", []):
            if name.decode("latin-1").lower() == SECRET_HEADER:
                candidates.append(value.decode("latin-1"))
        return any(c is not None and hmac.compare_digest(c.encode(), secret.encode()) for c in candidates)

    async def _push(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        parts = [p for p in path[len("/push/"):].split("/") if p]
        given: str | None = None
        if len(parts) == 3:
            given, parts = parts[0], parts[1:]
        if len(parts) != 2:
            await _drain(receive)
            await _answer(send, 404, "use POST /push/PROFILE/MODULE\n")
            return
        profile, module = parts
        if not self._secret_ok(scope, given):
            await _drain(receive)
            log.warning("push refused: missing or wrong secret (profile %r, module %r)", profile[:64], module[:64])
            await _answer(send, 403, "forbidden\n")
            return
        vendor = self.settings.profiles.get(profile)
        if vendor is None or module not in MODULES.get(vendor, ()):
            await _drain(receive)
            log.warning("push refused: unknown profile or module (%r, %r)", profile[:64], module[:64])
            await _answer(send, 404, "unknown profile or module\n")
            return
        body = await _read_body(receive, self.settings.max_body)
        if body is None:
            log.warning("push refused: %s/%s body larger than %d bytes", profile, module, self.settings.max_body)
            await _answer(send, 413, "body too large\n")
            return
        content_type = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-type":
                content_type = value.decode("latin-1")
        try:
            record = parse_push(vendor, profile, module, body, content_type)
        except BadPush as exc:
            log.warning("push refused: %s/%s: %s (%d bytes)", profile, module, exc, len(body))
            await _answer(send, 400, f"bad push: {exc}\n")
            return
        if self.settings.optout is not None:
            reason = optout_reason(record.body, self.settings.optout)
            if reason:
                record = replace(record, optout=reason)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | BaseException] = loop.create_future()

        def done(value: bool | BaseException) -> None:
            loop.call_soon_threadsafe(_resolve, future, value)

        self.writer.submit(record, done)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future), self.settings.answer_timeout)
        except TimeoutError:
            log.error("push %s/%s %s: the state write took longer than %.1fs; answered 503 (the vendor retries)",
                      profile, module, digest(record.key, 6), self.settings.answer_timeout)
            await _answer(send, 503, "not stored yet, retry\n")
            return
        if isinstance(outcome, BaseException):
            await _answer(send, 503, "not stored, retry\n")
            return
        log.debug("push %s/%s task %s key %s: %s%s", profile, module, record.task_id or "-", digest(record.key, 6),
                  "stored" if outcome else "duplicate (already stored)",
                  "; it means do not call again (opt-out)" if outcome and record.optout else "")
        self.answered += 1
        await _answer(send, 200, "success")


def _resolve(future: asyncio.Future[bool | BaseException], value: bool | BaseException) -> None:
    if not future.done():
        future.set_result(value)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    too_big = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_big = True
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return None if too_big else b"".join(chunks)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, text: str, content_type: str = "text/plain; charset=utf-8",
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})



class ReceiverServer:
    """``app`` served by uvicorn on ``host:port`` (0: a free port), in this thread or a daemon one."""

    def __init__(self, app: ResultsApp, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then (without it a
        # response written in two parts waits ~40 ms for a delayed ACK)
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(2048)
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        self.app = app
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_keep_alive=30,
                                backlog=2048)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn's handlers); queued pushes are written before it returns."""
        self._server.run(sockets=[self.socket])

    def start(self) -> ReceiverServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.socket]},
                                        name="results-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()
