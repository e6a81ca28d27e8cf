"""`campaignctl results serve|export`: receive the vendors' result pushes; export rows with outcomes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click

from reconciler.commands.output import atomic_output
from reconciler.commands.session import open_state_only
from reconciler.config.environments import load_environment
from reconciler.errors import CampaignctlError, ConfigError, ExitCode
from reconciler.model import DesiredState
from reconciler.policy import OptOutRules
from reconciler.results.export import export as export_rows
from reconciler.results.receiver import BatchWriter, ReceiverServer, ReceiverSettings, ResultsApp
from reconciler.results.status import StatusReport, build_report
from reconciler.state import open_store
from reconciler.state.base import StateStore
from reconciler.views.status import to_json

__all__ = ["DEFAULT_LISTEN", "build_app", "export", "parse_listen", "serve"]

DEFAULT_LISTEN = "127.0.0.1:8900"


class ResultsError(CampaignctlError):
    """The receiver cannot start, or an export cannot be written."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ResultsError(f"--listen must be HOST:PORT (e.g. {DEFAULT_LISTEN}), not {text!r}")
    return host, int(port)


def _desired(directory: Path, environment: str | None = None) -> DesiredState:
    result = load_environment(directory, environment)
    if result.state is None:
        raise ConfigError(result.problems)
    return result.state


def _secret(desired: DesiredState, env: Mapping[str, str]) -> str | None:
    name = desired.project.results.secret_env
    if not name:
        return None
    value = env.get(name, "")
    if not value.strip():
        raise ResultsError(f"results.secret_env names {name}, which is not set: the receiver will not run "
                           "without the shared secret it was told to ask for")
    return value


def build_app(desired: DesiredState, store: StateStore, read_store: StateStore, *, secret: str | None,
              answer_timeout: float = 2.5) -> ResultsApp:
    """The receiver for the project's profiles: writes through ``store``, reads the page from ``read_store``.

    Pushes that mean "do not call me again" by the project's ``policy.optout`` rules (the defaults without a
    policy; ``from_results: false`` turns it off) put their number on the opt-out list.
    """
    policy = desired.project.policy
    rules = policy.optout if policy is not None else OptOutRules()
    settings = ReceiverSettings(profiles={n: p.type for n, p in desired.project.providers.items()},
                                secret=secret, answer_timeout=answer_timeout,
                                optout=rules if rules.enabled else None)

    def report() -> StatusReport:
        return build_report(desired, read_store, None)

    return ResultsApp(settings, BatchWriter(store, settings.max_batch), report, to_json)


@contextmanager
def receiver(directory: Path, listen: str | None = None, env: Mapping[str, str] | None = None,
             answer_timeout: float = 2.5, environment: str | None = None) -> Iterator[ReceiverServer]:
    """A bound (not yet serving) receiver for ``directory`` (``environment``: its profiles, results settings
    and state, so that what the pushes say, opt-outs included, reaches the state that environment dials
    from), its stores closed afterwards."""
    env = os.environ if env is None else env
    desired = _desired(directory, environment)
    host, port = parse_listen(listen or desired.project.results.listen or DEFAULT_LISTEN)
    secret = _secret(desired, env)
    store = open_store(desired.project.state, env)
    try:
        read = store if desired.project.state.backend == "memory" else open_store(desired.project.state, env)
        try:
            app = build_app(desired, store, read, secret=secret, answer_timeout=answer_timeout)
            try:
                server = ReceiverServer(app, host, port)
            except OSError as exc:
                raise ResultsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
            yield server
        finally:
            if read is not store:
                read.close()
    finally:
        store.close()


def serve(directory: Path, *, listen: str | None, environment: str | None = None) -> int:
    root = logging.getLogger("reconciler")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    with receiver(directory, listen, environment=environment) as server:
        click.echo(f"results receiver listening on {server.base_url} "
                   f"(POST /push/PROFILE/MODULE; status page at /)")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    click.echo("results receiver stopped", err=True)
    return ExitCode.OK


@contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    """stdout, or ``out`` written to a temporary file beside it and renamed when complete."""
    if out is None:
        try:
            yield sys.stdout
        finally:
            sys.stdout.flush()
        return
    with atomic_output(out, newline="") as fh:
        yield fh


def export(directory: Path, *, name: str, fmt: str, out: Path | None, environment: str | None = None) -> int:
    with open_state_only(directory, environment=environment) as (desired, store):
        campaign = desired.campaign(name)
        if campaign is None:
            known = ", ".join(c.name for c in desired.campaigns) or "none"
            raise ResultsError(f"no campaign {name!r} in {directory} (campaigns: {known})")
        with _output(out) as fh:
            count = export_rows(campaign, store, fh, fmt)
    if out is not None:
        click.echo(f"wrote {count} rows of {name} to {out}", err=True)
    return ExitCode.OK
