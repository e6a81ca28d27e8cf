"""`campaignctl demo`: validate → plan → apply → plan against the built-in emulators.

The example directory is copied to a temporary folder whose project file
points every profile at a local emulator (started in-process on free
loopback ports) and keeps the state there, so the demo never touches a real
platform nor the user's state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.errors import CampaignctlError, ExitCode

__all__ = ["run"]


def bundled_examples() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "examples" / "campaigns", here / "examples" / "campaigns"):
        if (candidate / "campaignctl.yaml").is_file():
            return candidate
    raise CampaignctlError("the bundled examples/campaigns directory was not found; pass --dir DIR")


@contextmanager
def demo_directory(source: Path, time_scale: float) -> Iterator[Path]:
    """A temporary copy of ``source`` wired to fresh emulators and a fresh state."""
    from reconciler.emulator import available, demo_credentials, start_emulator

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaignctl-demo-")))
        target = tmp / "campaigns"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".campaignctl"))
        project_file = target / "campaignctl.yaml"
        doc: dict[str, Any] = yaml.safe_load(project_file.read_text(encoding="utf-8"))
        servers: dict[str, str] = {}
        env: dict[str, str] = {}
        for profile in (doc.get("providers") or {}).values():
            kind = profile.get("type")
            if kind not in available():
                continue
            if kind not in servers:
                _, server = start_emulator(kind, time_scale=time_scale)
                stack.callback(server.stop)
                servers[kind] = server.base_url
            profile["base_url"] = servers[kind]
            for role, value in demo_credentials(kind).items():
                if f"{role}_env" in profile:
                    env[profile[f"{role}_env"]] = value
        doc["state"] = {"backend": "sqlite", "path": str(tmp / "state.db")}
        project_file.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for kind, url in servers.items():
                click.echo(f"{kind} emulator listening on {url}")
            yield target
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run(directory: Path | None, *, time_scale: float) -> int:
    from reconciler.commands import apply, plan, state, validate

    source = directory or bundled_examples()
    with demo_directory(source, time_scale) as target:
        _banner(f"campaignctl validate {source}")
        if validate.run(target) != ExitCode.OK:
            return ExitCode.ERROR
        _banner("campaignctl state init")
        if state.init(target) != ExitCode.OK:
            return ExitCode.ERROR
        _banner("campaignctl plan")
        first = plan.run(target, out=None, fmt="text", detailed_exitcode=True, prune=None, allow_replace=(),
                         lock_timeout=0)
        if first == ExitCode.ERROR:
            return ExitCode.ERROR
        _banner("campaignctl apply --auto-approve")
        if apply.run(target, auto_approve=True, parallelism=4, prune=None, allow_replace=(), lock_timeout=10,
                     fmt="text") != ExitCode.OK:
            return ExitCode.ERROR
        _banner("campaignctl plan   (again: the platforms now match the files)")
        second = plan.run(target, out=None, fmt="text", detailed_exitcode=True, prune=None, allow_replace=(),
                          lock_timeout=0)
        _banner("campaignctl state list")
        state.list_(target, fmt="text")
        if second != ExitCode.OK:
            click.echo("\nDemo failed: the second plan still has changes.", err=True)
            return ExitCode.ERROR
        click.echo("\nDemo complete: apply converged and the second plan has no changes.")
    return ExitCode.OK


def _banner(text: str) -> None:
    click.echo("\n" + click.style(f"$ {text}", bold=True) + "\n")
