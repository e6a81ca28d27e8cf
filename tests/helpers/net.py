"""Loopback network helpers shared by the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port nothing listens on now: bound once, then released (a connect to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
