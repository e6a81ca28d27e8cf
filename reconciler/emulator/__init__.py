"""Local HTTP emulators of the vendor APIs and their shared harness.

Imports nothing from the rest of ``reconciler``: the emulators stand in for remote
vendors. An emulator is the module ``reconciler.emulator.<type>`` (the vendor's
type name) defining ``EMULATOR`` (the class) and ``CONFIG`` (its config, a
:class:`~reconciler.emulator.config.FileConfig`); this package finds them
itself, so adding one touches no list here.
``start_emulator`` is the one-liner the demo and the tests use.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from reconciler.emulator.faults import Clock, Fault, FaultPlan
from reconciler.emulator.server import Emulator, EmulatorRequest, EmulatorResponse, EmulatorServer

__all__ = [
    "Clock",
    "Emulator",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "Fault",
    "FaultPlan",
    "available",
    "build_emulator",
    "demo_credentials",
    "load_config",
    "start_emulator",
]

_HARNESS = frozenset({"config", "faults", "server"})


@functools.cache
def _modules() -> dict[str, ModuleType]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _HARNESS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "EMULATOR"):
            found[info.name] = module
    return found


def available() -> tuple[str, ...]:
    """The vendor types an emulator exists for, sorted."""
    return tuple(_modules())


def _module(provider: str) -> ModuleType:
    module = _modules().get(provider)
    if module is None:
        raise ValueError(f"unknown emulator provider {provider!r} (known: {', '.join(available())})")
    return module


def build_emulator(provider: str, **kwargs: Any) -> Emulator:
    """A new emulator for ``provider``; kwargs: ``config``, ``time_scale``, ``faults``, ``token``."""
    emulator: Emulator = _module(provider).EMULATOR(**kwargs)
    return emulator


def load_config(provider: str, path: Path) -> Any:
    """The emulator config in ``path`` (JSON or YAML); ``ValueError`` when unusable, ``OSError`` when unreadable."""
    return _module(provider).CONFIG.load(path)


def demo_credentials(provider: str) -> dict[str, str]:
    """Credential role → value that the emulator's default config accepts (for ``campaignctl demo``)."""
    return dict(_module(provider).CONFIG().credentials())


def start_emulator(provider: str, *, host: str = "127.0.0.1", port: int = 0,
                   **kwargs: Any) -> tuple[Emulator, EmulatorServer]:
    """Build the emulator and serve it on loopback in a daemon thread (call ``server.stop()`` when done)."""
    emulator = build_emulator(provider, **kwargs)
    server = EmulatorServer(emulator, host=host, port=port).start()
    return emulator, server
