"""Suite-wide fixtures and guards.

Guards: no test may write the default state path of the working directory
or the debug log there, and no test may reach a non-loopback address.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DSN_DEFAULT = "postgresql://campaignctl:campaignctl@127.0.0.1:5432/campaignctl_test"


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CAMPAIGNCTL_DEBUG_LOG", str(tmp_path / "debug.log"))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise AssertionError(f"test tried to reach non-loopback address {host}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """DSN of the PostgreSQL server started by scripts/bootstrap (never skipped)."""
    return os.environ.get("CAMPAIGNCTL_TEST_PG_DSN", PG_DSN_DEFAULT)
