"""The generic emulator harness over real loopback HTTP."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from reconciler.emulator.server import (
    EmulatorRequest,
    EmulatorResponse,
    EmulatorServer,
    json_response,
)


class EchoEmulator:
    """Echoes what it saw; ``/drop`` drops the answer after counting it."""

    name = "echo"

    def __init__(self) -> None:
        self.seen: list[EmulatorRequest] = []
        self.lock = threading.Lock()

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        with self.lock:
            self.seen.append(request)
        if request.path == "/drop":
            return EmulatorResponse(status=200, body=b"never sent", drop=True)
        if request.path == "/boom":
            raise RuntimeError("bug")
        return json_response({
            "method": request.method, "path": request.path, "query": request.query,
            "body": request.body.decode("utf-8"), "ua": request.headers.get("user-agent", ""),
        }, headers={"X-Echo": "1"})

    def control(self, request: EmulatorRequest) -> EmulatorResponse:
        return json_response({"control": request.path}, status=201)

    def reset(self) -> None:
        self.seen.clear()


def test_routes_vendor_and_control_requests() -> None:
    emu = EchoEmulator()
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.port > 0
        r = client.post("/openapi/x?token=abc&a=1", json={"k": "值"})
        assert r.status_code == 200
        assert r.headers["x-echo"] == "1"
        data = r.json()
        assert data["method"] == "POST"
        assert data["path"] == "/openapi/x"
        assert data["query"] == {"token": "abc", "a": "1"}
        assert json.loads(data["body"]) == {"k": "值"}
        assert data["ua"].startswith("python-httpx")
        c = client.get("/_emulator/calls")
        assert c.status_code == 201
        assert c.json() == {"control": "/_emulator/calls"}
        assert len(emu.seen) == 1


def test_keep_alive_reuses_one_connection() -> None:
    emu = EchoEmulator()
    connections: list[object] = []
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        for i in range(5):
            r = client.post("/p", content=f"body-{i}".encode())
            assert r.json()["body"] == f"body-{i}"
            connections.append(r.extensions["network_stream"])
    assert len({id(c) for c in connections}) == 1


def test_drop_closes_without_response_but_request_was_handled() -> None:
    emu = EchoEmulator()
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/drop", json={})
        assert [r.path for r in emu.seen] == ["/drop"]
        # the server keeps serving after a drop
        assert client.get("/after").status_code == 200


def test_emulator_bug_answers_500_and_keeps_serving(capsys: pytest.CaptureFixture[str]) -> None:
    emu = EchoEmulator()
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        r = client.get("/boom")
        assert r.status_code == 500
        assert r.json()["code"] == -1
        assert client.get("/ok").status_code == 200
    assert "RuntimeError" in capsys.readouterr().err


def test_concurrent_requests_are_served() -> None:
    emu = EchoEmulator()
    errors: list[BaseException] = []
    with EmulatorServer(emu) as server:
        def worker(n: int) -> None:
            try:
                with httpx.Client(base_url=server.base_url) as client:
                    for i in range(10):
                        assert client.get(f"/w{n}/{i}").status_code == 200
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(emu.seen) == 40


def test_stop_frees_the_port_and_closes_connections() -> None:
    emu = EchoEmulator()
    server = EmulatorServer(emu).start()
    url = server.base_url
    client = httpx.Client(base_url=url)
    assert client.get("/x").status_code == 200
    server.stop()
    with pytest.raises(httpx.TransportError):
        client.get("/y")
    client.close()
    with pytest.raises(RuntimeError):
        _ = server.base_url


def test_two_servers_get_distinct_free_ports() -> None:
    with EmulatorServer(EchoEmulator()) as a, EmulatorServer(EchoEmulator()) as b:
        assert a.port != b.port
