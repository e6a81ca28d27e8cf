"""Delivery both ways: the emulators' retries, the shared secret, a receiver crash between write and answer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from reconciler.commands.results import ResultsError, receiver
from reconciler.emulator.pushes import PushSender
from reconciler.state.sqlite import SqliteStore
from tests.helpers.net import free_port
from tests.results.conftest import REPO, XF_PHONES, call_record, make_project


class Flaky(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.seen.append(self.rfile.read(int(self.headers["Content-Length"])))
        status, body = self.answers.pop(0) if self.answers else (200, b"success")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("answers", "delivered", "attempts"), [
    ([(200, b"fail"), (503, b"busy")], 1, 3),  # no "success" twice, then success: delivered once
    ([(200, b"no")] * 4, 0, 4),  # never: 1 + 3 retries, then kept as failed
])
def test_emulator_retries_a_push_not_answered_success(answers: list[tuple[int, bytes]], delivered: int,
                                                      attempts: int) -> None:
    Flaky.answers, Flaky.seen = list(answers), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sender = PushSender({"receiveCallRecord": f"http://127.0.0.1:{server.server_port}/push/x/receiveCallRecord"},
                            retry_delay=0.01)
        sender.send("receiveCallRecord", {"call_uuid": "u"})
        assert sender.flush(10)
        sender.close()
    finally:
        server.shutdown()
    assert len(sender.delivered) == delivered and len(sender.failed) == 1 - delivered
    assert sender.attempts["receiveCallRecord"] == attempts == len(Flaky.seen)


SECRET = """
results:
  secret_env: PUSH_SECRET
"""


def test_shared_secret_in_path_or_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = make_project(tmp_path, extra=SECRET)
    monkeypatch.delenv("PUSH_SECRET", raising=False)
    with pytest.raises(ResultsError, match="PUSH_SECRET"), receiver(directory, "127.0.0.1:0"):
        pass
    monkeypatch.setenv("PUSH_SECRET", "s3cr3t-value")
    with receiver(directory, "127.0.0.1:0") as server:
        server.start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=10) as client:
                body = call_record("u-s", "100001", XF_PHONES[0])
                assert client.post("/push/iflytek/receiveCallRecord", json=body).status_code == 403
                assert client.post("/push/wrong/iflytek/receiveCallRecord", json=body).status_code == 403
                assert client.post("/push/iflytek/receiveCallRecord", json=body,
                                   headers={"X-Campaignctl-Secret": "nope"}).status_code == 403
                assert client.post("/push/s3cr3t-value/iflytek/receiveCallRecord", json=body).text == "success"
                assert client.post("/push/iflytek/receiveCallRecord", json=body,
                                   headers={"X-Campaignctl-Secret": "s3cr3t-value"}).text == "success"
        finally:
            server.stop()
    with SqliteStore(tmp_path / "state.db") as store:
        assert [r.key for r in store.results()] == ["u-s#outbound"]


CRASHING = """
import os, sys
from pathlib import Path
from typing import ClassVar
import reconciler.results.receiver as receiver_module
from reconciler.commands.results import receiver

def write_then_die(self, batch):
    self._store.put_results([record for record, _ in batch])  # durable...
    os._exit(9)  # ...and the process dies before anyone is answered

receiver_module.BatchWriter._write = write_then_die
with receiver(Path(sys.argv[1]), "127.0.0.1:" + sys.argv[2]) as server:
    print("ready", flush=True)
    server.serve_forever()
"""


def test_a_crash_between_the_durable_write_and_the_answer_loses_nothing(tmp_path: Path) -> None:
    directory = make_project(tmp_path)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CRASHING, str(directory), str(port)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        body = call_record("u-crash", "100002", XF_PHONES[1])
        with pytest.raises(httpx.TransportError):  # no answer: the vendor will retry
            httpx.post(f"http://127.0.0.1:{port}/push/iflytek/receiveCallRecord", json=body, timeout=10)
        assert child.wait(10) == 9
    finally:
        if child.poll() is None:
            child.kill()
    with SqliteStore(tmp_path / "state.db") as store:
        assert [r.key for r in store.results()] == ["u-crash#outbound"]
    with receiver(directory, f"127.0.0.1:{port}") as server:  # restarted; the vendor's retry arrives
        server.start()
        try:
            for _ in range(2):
                answer = httpx.post(f"{server.base_url}/push/iflytek/receiveCallRecord", json=body, timeout=10)
                assert answer.text == "success"
        finally:
            server.stop()
    with SqliteStore(tmp_path / "state.db") as store:
        (only,) = store.results()
        assert (only.key, only.campaign, only.phone) == ("u-crash#outbound", "promo", XF_PHONES[1])
