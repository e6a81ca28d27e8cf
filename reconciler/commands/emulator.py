"""`campaignctl emulator serve`: run a vendor API emulator on a local port until Ctrl-C."""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.errors import CampaignctlError

__all__ = ["serve"]


class EmulatorSetupError(CampaignctlError):
    """The emulator could not be built or bound (bad fault spec, config file or port)."""


def _load_config(provider: str, config_file: Path) -> Any:
    from reconciler.emulator import load_config

    try:
        return load_config(provider, config_file)
    except OSError as exc:
        raise EmulatorSetupError(f"cannot read emulator config {config_file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise EmulatorSetupError(f"bad emulator config {config_file}: {exc}") from None


def serve(*, provider: str, host: str, port: int, token: str | None, faults: str | None,
          time_scale: float, config_file: Path | None, push_url: str | None = None, push_seed: int = 0) -> int:
    """Build the emulator, print where it listens, serve until interrupted; returns the exit code."""
    from reconciler.emulator import build_emulator
    from reconciler.emulator.server import EmulatorServer

    if not math.isfinite(time_scale) or not 0 < time_scale <= 1e6:
        raise EmulatorSetupError("--time-scale must be a positive number up to 1000000")
    config = _load_config(provider, config_file) if config_file is not None else None
    try:
        emulator = build_emulator(provider, config=config, time_scale=time_scale, faults=faults, token=token)
    except ValueError as exc:
        raise EmulatorSetupError(f"cannot start the {provider} emulator: {exc}") from None
    server = EmulatorServer(emulator, host=host, port=port)
    try:
        server.bind()
    except OSError as exc:
        raise EmulatorSetupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    pushes = None
    if push_url:
        from reconciler.emulator.pushes import attach_pushes

        pushes = attach_pushes(emulator, push_url, seed=push_seed)
        click.echo(f"{provider} emulator pushes call results to {push_url.rstrip('/')}/MODULE")
    click.echo(f"{provider} emulator listening on {server.base_url}")
    for line in emulator.describe():
        click.echo(f"  {line}")
    click.echo(f"  control API: GET {server.base_url}/_emulator/ lists it")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # serve_forever handles the first Ctrl-C itself
        server.serve_forever()
    if pushes is not None:
        pushes.close()
    click.echo(f"{provider} emulator stopped", err=True)
    return 0
