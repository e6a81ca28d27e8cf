"""The http.client transport (providers.httpclient) against a scripted loopback server: what it reuses, and
where it draws the line between "nothing was sent" (connect errors) and "the vendor may have acted"."""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from reconciler.errors import OutcomeUnknown, TransportError
from reconciler.model import ProviderProfile
from reconciler.providers import httpclient
from reconciler.providers.http import HttpTransport, RetryPolicy
from reconciler.providers.httpclient import HttpClientTransport
from tests.helpers.net import free_port

Reply = Callable[[socket.socket, bytes], bool]  # answers one request; False closes the connection
TIMEOUTS = {"connect": 2.0, "read": 5.0, "write": 5.0, "pool": 5.0}


def ok(body: bytes = b'{"code":0}', extra: str = "") -> Reply:
    def reply(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return True
    return reply


def drop(conn: socket.socket, request: bytes) -> bool:
    return False  # read the request, answer nothing


class Server:
    """Accepts connections; each request (read whole, by Content-Length or chunked) gets the next reply."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                lines = [line.lower() for line in head.split(b"\r\n")]
                if b"transfer-encoding: chunked" in lines:
                    while not rest.endswith(b"0\r\n\r\n"):
                        rest += conn.recv(65536)
                    request, buf = head + b"\r\n\r\n" + rest, b""
                else:
                    length = next((int(line.split(b":")[1]) for line in lines
                                   if line.startswith(b"content-length:")), 0)
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    request, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.requests.append(request)
                reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
                if not reply(conn, request):
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(*replies: Reply) -> Server:
        made.append(Server(*replies))
        return made[-1]

    yield make
    for server in made:
        server.close()


def post(t: HttpClientTransport, url: str, body: bytes = b"{}", **timeouts: float) -> httpx.Response:
    request = httpx.Request("POST", url + "/x?token=t", content=body, headers={"Content-Type": "application/json"},
                            extensions={"timeout": {**TIMEOUTS, **timeouts}})
    response = t.handle_request(request)
    response.read()
    return response


def test_one_kept_alive_connection_serves_many_requests(serve: Callable[..., Server]) -> None:
    server = serve(ok())
    t = HttpClientTransport()
    assert [(r.status_code, r.content) for r in (post(t, server.url) for _ in range(5))] == [(200, b'{"code":0}')] * 5
    assert server.accepted == 1 and len(server.requests) == 5
    first = server.requests[0]
    assert first.startswith(b"POST /x?token=t HTTP/1.1\r\n") and b"\r\nContent-Length: 2\r\n" in first
    assert first.lower().count(b"\r\nhost: ") == 1 and b"accept-encoding: identity" not in first.lower()
    t.close()


def test_a_request_goes_out_in_one_write_and_a_timeout_is_set_only_when_it_changes(
        serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch) -> None:
    """http.client writes a request's head and its body apart; each write (with a socket timeout: a poll
    and a send) and each timeout set is a system call that lets go of the interpreter lock the lanes share."""
    calls: list[tuple[str, object]] = []

    class Counted:
        def __init__(self, sock: socket.socket) -> None:
            self._sock = sock

        def sendall(self, data: bytes) -> None:
            calls.append(("sendall", bytes(data)))
            self._sock.sendall(data)

        def settimeout(self, value: float | None) -> None:
            calls.append(("settimeout", value))
            self._sock.settimeout(value)

        def __getattr__(self, name: str) -> object:
            return getattr(self._sock, name)

    connect = httpclient._Connection.connect

    def counted(self: httpclient._Connection) -> None:
        connect(self)
        self.sock = Counted(self.sock)  # type: ignore[assignment]

    monkeypatch.setattr(httpclient._Connection, "connect", counted)
    server = serve(ok())
    t = HttpClientTransport()
    body = json.dumps({"call_list": [["13800000000", "张三"]] * 50}).encode()
    assert post(t, server.url, body).status_code == 200
    assert post(t, server.url, body, read=7.0).status_code == 200
    writes = [value for name, value in calls if name == "sendall"]
    assert writes == server.requests and writes[0].endswith(body)
    # connected with the connect timeout (2 s): set to 5 s for the first write; then only for the second read (7 s)
    assert [value for name, value in calls if name == "settimeout"] == [5.0, 7.0]
    t.close()


def test_parallel_requests_each_get_their_own_connection_and_all_are_kept(serve: Callable[..., Server]) -> None:
    gate = threading.Barrier(4)

    def together(conn: socket.socket, request: bytes) -> bool:
        gate.wait(5)  # all four are in flight at once: four connections
        return ok()(conn, request)

    server = serve(together)
    t = HttpClientTransport()
    threads = [threading.Thread(target=post, args=(t, server.url)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert server.accepted == 4 and len(t._idle[("http", "127.0.0.1", int(server.url.rsplit(":", 1)[1]))]) == 4
    t.close()
    assert not t._idle


def test_a_connection_the_server_closed_is_not_written_into(serve: Callable[..., Server]) -> None:
    closed = threading.Event()

    def answer_then_close(conn: socket.socket, request: bytes) -> bool:
        ok()(conn, request)
        conn.shutdown(socket.SHUT_RDWR)  # without saying so: the idle socket turns readable (EOF)
        closed.set()
        return False

    server = serve(answer_then_close)
    t = HttpClientTransport()
    assert post(t, server.url).status_code == 200
    (idle,) = t._idle.values()
    assert closed.wait(5) and idle[0].sock is not None and select.select([idle[0].sock], [], [], 5)[0]
    assert post(t, server.url).status_code == 200  # on a new connection, not an error
    assert server.accepted == 2 and len(server.requests) == 2


def test_connection_close_is_honoured(serve: Callable[..., Server]) -> None:
    server = serve(ok(extra="Connection: close\r\n"))
    t = HttpClientTransport()
    post(t, server.url)
    post(t, server.url)
    assert server.accepted == 2 and not any(t._idle.values())


def test_connect_refused_is_a_connect_error() -> None:
    with pytest.raises(httpx.ConnectError):
        post(HttpClientTransport(), f"http://127.0.0.1:{free_port()}")


def test_a_dropped_answer_is_a_protocol_error_after_sending(serve: Callable[..., Server]) -> None:
    server = serve(drop)
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected without sending a response"):
        post(HttpClientTransport(), server.url)
    assert len(server.requests) == 1


def test_a_garbled_answer_is_a_protocol_error(serve: Callable[..., Server]) -> None:
    def garbled(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"SPDY/9 what\r\n\r\n")
        return False

    with pytest.raises(httpx.RemoteProtocolError):
        post(HttpClientTransport(), serve(garbled).url)


def test_a_slow_answer_is_a_read_timeout(serve: Callable[..., Server]) -> None:
    gate = threading.Event()

    def slow(conn: socket.socket, request: bytes) -> bool:
        gate.wait(5)
        return False

    server = serve(slow)
    t = HttpClientTransport()
    with pytest.raises(httpx.ReadTimeout):
        post(t, server.url, read=0.2)
    gate.set()
    assert len(server.requests) == 1 and not any(t._idle.values())  # a timed-out connection is not kept


def test_chunked_gzip_and_until_close_answers_are_read_whole(serve: Callable[..., Server]) -> None:
    packed = gzip.compress(b'{"code":0,"result":"zipped"}')

    def chunked(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n")
        for i in range(0, len(packed), 7):
            part = packed[i : i + 7]
            conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
        return True

    def until_close(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 3\r\n\r\nbusy")
        return False

    server = serve(chunked, until_close)
    t = HttpClientTransport()
    response = post(t, server.url)
    assert response.json() == {"code": 0, "result": "zipped"}
    response = post(t, server.url)
    assert (response.status_code, response.reason_phrase, response.text) == (503, "Service Unavailable", "busy")
    assert response.headers.get("retry-after") == "3" and response.http_version == "HTTP/1.0"
    assert server.accepted == 1 and not any(t._idle.values())


def test_a_streamed_request_body_goes_chunked(serve: Callable[..., Server]) -> None:
    server = serve(ok())
    t = HttpClientTransport()
    request = httpx.Request("POST", server.url + "/x", content=iter([b'{"a":', b"1}"]),
                            extensions={"timeout": TIMEOUTS})
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert t.handle_request(request).status_code == 200
    assert server.requests[0].partition(b"\r\n\r\n")[2] == b'7\r\n{"a":1}\r\n0\r\n\r\n'


def test_a_request_http_client_refuses_is_a_local_error_and_keeps_nothing_open(serve: Callable[..., Server]) -> None:
    server = serve(ok())
    t = HttpClientTransport()
    request = httpx.Request("POST", server.url + "/x", content=b"{}", extensions={"timeout": TIMEOUTS})
    request.headers["X-Bad"] = "a\rb"  # a bare CR: httpx takes it, http.client will not put it on the wire
    with pytest.raises(httpx.LocalProtocolError, match="cannot be sent"):
        t.handle_request(request)
    assert server.requests == [] and not any(t._idle.values())
    assert post(t, server.url).status_code == 200  # the transport goes on


def test_an_unknown_scheme_and_a_closed_transport_send_nothing() -> None:
    t = HttpClientTransport()
    with pytest.raises(httpx.UnsupportedProtocol):
        post(t, "ftp://127.0.0.1:1")
    t.close()
    with pytest.raises(httpx.ConnectError, match="closed"):
        post(t, "http://127.0.0.1:1")


# -- through the transport's retry policy ------------------------------------------------------


def transport(url: str) -> HttpTransport:
    profile = ProviderProfile(name="iflytek", type="xfyeta", base_url=url, options={"read_timeout": 5})
    return HttpTransport(profile, retry=RetryPolicy(attempts=3), sleep=lambda s: None)


def test_mutating_call_whose_answer_is_lost_is_unknown_and_never_sent_again(serve: Callable[..., Server]) -> None:
    server = serve(drop, ok())
    http = transport(server.url)
    with pytest.raises(OutcomeUnknown):
        http.post("task/insert", "/i", json={"call_list": [["1"]]}, idempotent=False)
    assert len(server.requests) == 1
    assert http.post("task/query", "/q", json={}, idempotent=True).status_code == 200  # the next call goes on
    http.close()


def test_idempotent_call_whose_answer_is_lost_is_sent_again(serve: Callable[..., Server]) -> None:
    server = serve(drop, ok())
    http = transport(server.url)
    payload = http.parse_json(http.post("task/query", "/q", json={}, idempotent=True), "task/query", idempotent=True)
    assert payload == {"code": 0} and len(server.requests) == 2
    http.close()


def test_mutating_call_that_cannot_connect_is_tried_again_not_unknown() -> None:
    http = transport(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError) as info:
        http.post("task/create", "/c", json={}, idempotent=False)
    assert not isinstance(info.value, OutcomeUnknown) and "cannot connect" in str(info.value)
    assert "3 attempt" in str(info.value)


def test_request_carries_the_token_query_and_json_body(serve: Callable[..., Server]) -> None:
    server = serve(ok())
    http = transport(server.url + "/base/")
    http.post("task/query", "/openapi/q", params={"token": "tok en"}, json={"a": [1], "名": "春"}, idempotent=True)
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /base/openapi/q?token=tok+en HTTP/1.1\r\n")
    assert json.loads(body) == {"a": [1], "名": "春"}
    assert f"Host: 127.0.0.1:{server.url.rsplit(':', 1)[1]}".encode() in head
    http.close()


def test_an_https_base_url_verifies_the_server_certificate() -> None:
    sock = socket.create_server(("127.0.0.1", 0))  # answers a TLS hello with plain HTTP: the handshake fails
    seen: list[bytes] = []

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = sock.accept()
                with conn:
                    seen.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    http = transport(f"https://127.0.0.1:{sock.getsockname()[1]}")
    with pytest.raises(TransportError, match="cannot connect") as info:
        http.post("task/create", "/c", json={}, idempotent=False)
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(seen) == 3 and all(hello.startswith(b"\x16\x03") for hello in seen)  # TLS hellos, no request
    context = http._transport._context  # type: ignore[attr-defined]
    assert context is not None and context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    http.close()
    sock.close()
