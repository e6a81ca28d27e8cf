"""Generic HTTP harness shared by the vendor emulators.

The emulators are stand-ins for remote vendors, so this module imports nothing
from the rest of ``reconciler``. A stdlib ``ThreadingHTTPServer`` serves an
``Emulator`` over loopback in a daemon thread; requests under ``/_emulator/``
go to ``control()``, everything else to ``handle()``. HTTP/1.1 keep-alive is
supported (every response carries Content-Length) so pooled httpx clients work.
A response with ``drop=True`` is never written: the socket is closed instead,
which is how "the change was applied but the answer was lost" is simulated.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

__all__ = ["CONTROL_PREFIX", "Emulator", "EmulatorRequest", "EmulatorResponse", "EmulatorServer", "json_response"]

CONTROL_PREFIX = "/_emulator/"


@dataclass(frozen=True)
class EmulatorRequest:
    """One HTTP request as the emulator sees it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON (``None`` when empty); raises ``ValueError`` when not JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class EmulatorResponse:
    """What to send back; ``drop=True`` closes the connection without any response."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def control_index(emulator: str, api: tuple[tuple[str, str, str], ...]) -> dict[str, object]:
    """``GET /_emulator/``: the control API of an emulator, as a list people and scripts can read."""
    return {"emulator": emulator, "control": [{"method": m, "path": p, "what": w} for m, p, w in api]}


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> EmulatorResponse:
    """A UTF-8 JSON response (Chinese kept readable, as the vendors send it)."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return EmulatorResponse(status=status, body=body, headers=all_headers)


class Emulator(Protocol):
    """What a vendor emulator offers to the server."""

    name: str

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """The vendor API."""
        ...

    def control(self, request: EmulatorRequest) -> EmulatorResponse:
        """Everything under ``/_emulator/`` (calls, reset, advance, faults, state, ...)."""
        ...

    def describe(self) -> list[str]:
        """Credentials it accepts and the catalogue it knows (printed by ``emulator serve``)."""
        ...

    def reset(self) -> None:
        """Forget all tasks, calls and faults."""
        ...


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out, killed) is normal here, not worth a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Translates HTTP to ``EmulatorRequest`` / ``EmulatorResponse``; quiet."""

    protocol_version = "HTTP/1.1"
    server_version = "campaignctl-emulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after a minute
    # A response's head and body go out in one write, as a web server in front of a vendor sends a small
    # answer (buffered; ``handle_one_request`` flushes after each request).
    wbufsize = -1
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # a body larger than the buffer goes out in a second write: without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to such a call
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.sockets_lock:
                self.server.open_sockets.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        request = EmulatorRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        emulator = self.server.emulator
        try:
            if request.path.startswith(CONTROL_PREFIX):
                response = emulator.control(request)
            else:
                response = emulator.handle(request)
        except Exception as exc:  # a bug in the emulator: answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            response = json_response({"code": -1, "message": f"emulator internal error: {type(exc).__name__}"}, 500)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        names = {k.lower() for k in response.headers}
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class EmulatorServer:
    """Serves one emulator on loopback; a context manager for tests."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` with the real port once bound."""
        if self._httpd is None:
            raise RuntimeError("emulator server not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def bind(self) -> _HTTPServer:
        """Bind the listening socket now (``base_url`` becomes valid); start/serve_forever do it if needed."""
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), self.emulator)
            self.port = int(self._httpd.server_address[1])
        return self._httpd

    def start(self) -> EmulatorServer:
        """Bind (port 0 picks a free port) and serve in a daemon thread."""
        if self._thread is not None:
            return self
        httpd = self.bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"{self.emulator.name}-emulator", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and every open connection."""
        httpd = self._httpd
        if httpd is None:
            return
        if self._thread is not None:
            httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        httpd.server_close()
        with httpd.sockets_lock:
            open_sockets = list(httpd.open_sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._httpd = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C (KeyboardInterrupt), then stop."""
        httpd = self.bind()
        try:
            httpd.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
            self._httpd = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
