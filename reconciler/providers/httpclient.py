"""An ``httpx`` transport over the standard library's ``http.client``: what
:class:`~reconciler.providers.http.HttpTransport` sends through unless a test
injects another (``httpx.MockTransport``).

Why not ``httpx.HTTPTransport``: parallel apply lanes share one interpreter
lock, and httpcore + h11 spend ~1 ms of it per call against ~0.2 ms for
``http.client`` (measured by ``benchmarks/apply_parallel.py`` and a 16-thread
loop of 768 POSTs: 1.03 s CPU against 0.13 s). Requests and responses stay
``httpx`` objects, and every failure is raised as the ``httpx`` exception
httpcore raises for it, so the retry policy above this module sees no change.

Where the line between "nothing was sent" and "the vendor may have acted" is
drawn (the one fact the retry policy needs):

- ``httpx.ConnectError`` / ``httpx.ConnectTimeout``: connecting (TCP, TLS)
  failed, nothing was written. An idle connection is never reused once its
  socket is readable (the server closed it, or sent something unasked), so a
  request is not written into a connection known to be dead.
- ``httpx.WriteError`` / ``WriteTimeout`` / ``ReadError`` / ``ReadTimeout`` /
  ``RemoteProtocolError``: some of the request may have been written.

Connections are kept alive per (scheme, host, port), one request at a time
each, at most ``max_idle`` idle; a response that says ``Connection: close``
(or an HTTP/1.0 one) closes its connection. Timeouts come from the request's
``timeout`` extension as in httpx (connect, write, read).
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["HttpClientTransport"]

DEFAULT_PORTS = {"http": 80, "https": 443}
Key = tuple[str, str, int]


class _Connection(http.client.HTTPConnection):
    """``http.client``'s connection, writing a request's head and body in one system call (it makes
    one per part: with a socket timeout, each is a poll and a send, and each lets go of the interpreter
    lock that parallel lanes share). Only ``send``, its public hook, is overridden."""

    _held: list[bytes] | None = None

    def send(self, data: Any) -> None:
        if self._held is not None and isinstance(data, bytes | bytearray | memoryview):
            self._held.append(bytes(data))
            return
        super().send(data)

    def write_request(self, body: bytes, chunked: bool) -> None:
        """End the headers put so far and send them with ``body``; nothing is written when building
        the request fails."""
        self._held = []
        try:
            self.endheaders([body] if chunked else (body or None), encode_chunked=chunked)
            held = self._held
        finally:
            self._held = None
        super().send(b"".join(held))


class _TLSConnection(_Connection, http.client.HTTPSConnection):
    pass


def _set_timeout(sock: Any, timeout: float | None) -> None:
    """Set a socket's timeout when it changes (each set is a system call)."""
    if sock.gettimeout() != timeout:
        sock.settimeout(timeout)


class HttpClientTransport(httpx.BaseTransport):
    """HTTP/1.1 with kept-alive ``http.client`` connections (see the module docstring)."""

    def __init__(self, *, verify: bool | ssl.SSLContext = True, max_idle: int = 64) -> None:
        self._verify = verify
        self._context: ssl.SSLContext | None = verify if isinstance(verify, ssl.SSLContext) else None
        self._max_idle = max_idle
        self._idle: dict[Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"the URL scheme {scheme!r} is not supported", request=request)
        key = (scheme, url.host, url.port or DEFAULT_PORTS[scheme])
        timeouts: Mapping[str, Any] = request.extensions.get("timeout") or {}
        body = request.read()
        conn = self._connection(key, timeouts.get("connect"), request)
        try:
            sock = conn.sock
            assert sock is not None
            _set_timeout(sock, timeouts.get("write"))
            try:  # only buffered so far: a refusal here sent nothing
                conn.putrequest(request.method, url.raw_path.decode("ascii"), skip_host=True,
                                skip_accept_encoding=True)
                for name, value in request.headers.raw:
                    conn.putheader(name, value)
            except (ValueError, UnicodeError, http.client.HTTPException) as exc:
                raise httpx.LocalProtocolError(f"the request cannot be sent: {exc}", request=request) from exc
            chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
            try:
                conn.write_request(body, chunked)
            except TimeoutError as exc:
                raise httpx.WriteTimeout(str(exc) or "timed out writing the request", request=request) from exc
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
            _set_timeout(sock, timeouts.get("read"))
            try:
                answer = conn.getresponse()
                content = answer.read()
            except TimeoutError as exc:
                raise httpx.ReadTimeout(str(exc) or "timed out reading the answer", request=request) from exc
            except http.client.RemoteDisconnected as exc:
                raise httpx.RemoteProtocolError("the server disconnected without sending a response",
                                                request=request) from exc
            except http.client.HTTPException as exc:
                raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}".rstrip(": "), request=request) from exc
            except OSError as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            conn.close()
            raise
        if answer.will_close:
            conn.close()
        else:
            self._put_back(key, conn)
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": b"HTTP/1.1" if answer.version == 11 else b"HTTP/1.0",
                        "reason_phrase": answer.reason.encode("latin-1", "replace")},
        )

    def _connection(self, key: Key, timeout: float | None, request: httpx.Request) -> _Connection:
        """An idle connection still good to write into, or a new one (connected here: a failure to
        connect is known to have sent nothing)."""
        while True:
            with self._lock:
                if self._closed:
                    raise httpx.ConnectError("the transport is closed", request=request)
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            if _usable(conn):
                return conn
            conn.close()
        scheme, host, port = key
        if scheme == "https":
            conn = _TLSConnection(host, port, timeout=timeout, context=self._ssl_context())
        else:
            conn = _Connection(host, port, timeout=timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except OSError as exc:  # refused, unreachable, no such host, a TLS handshake that failed
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = httpx.create_ssl_context(verify=bool(self._verify))
            return self._context

    def _put_back(self, key: Key, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()


def _usable(conn: _Connection) -> bool:
    """An idle connection is good to write into while its socket has nothing to read: readable means
    the server closed it (or sent something nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False

