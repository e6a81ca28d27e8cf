"""Local HTTP emulators of the vendor APIs (xfyeta, yccall) and their shared harness.

Imports nothing from the rest of ``reconciler``: the emulators stand in for remote
vendors. ``start_emulator`` is the one-liner the demo and the tests use.
"""

from __future__ import annotations

from typing import Any

from reconciler.emulator.faults import Clock, Fault, FaultPlan
from reconciler.emulator.server import Emulator, EmulatorRequest, EmulatorResponse, EmulatorServer

__all__ = [
    "PROVIDERS",
    "Clock",
    "Emulator",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "Fault",
    "FaultPlan",
    "build_emulator",
    "start_emulator",
]

PROVIDERS = ("xfyeta", "yccall")


def build_emulator(provider: str, **kwargs: Any) -> Emulator:
    """A new emulator for ``provider``; kwargs: ``config``, ``time_scale``, ``faults``, ``token``."""
    if provider == "xfyeta":
        from reconciler.emulator.xfyeta import XfyetaEmulator

        return XfyetaEmulator(**kwargs)
    if provider == "yccall":
        from reconciler.emulator.yccall import YccallEmulator  # type: ignore[import-not-found,unused-ignore]

        emulator: Emulator = YccallEmulator(**kwargs)
        return emulator
    raise ValueError(f"unknown emulator provider {provider!r} (known: {', '.join(PROVIDERS)})")


def start_emulator(provider: str, *, host: str = "127.0.0.1", port: int = 0,
                   **kwargs: Any) -> tuple[Emulator, EmulatorServer]:
    """Build the emulator and serve it on loopback in a daemon thread (call ``server.stop()`` when done)."""
    emulator = build_emulator(provider, **kwargs)
    server = EmulatorServer(emulator, host=host, port=port).start()
    return emulator, server
