"""`campaignctl demo`: validate → plan → apply → plan against the built-in emulators,
then a day of simulated calls whose results the emulators push to an in-process
`results serve`, shown by `status` and written by `results export`.

The example directory is copied to a temporary folder whose project file
points every profile at a local emulator (started in-process on free
loopback ports) and keeps the state there, so the demo never touches a real
platform nor the user's state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.errors import CampaignctlError, ExitCode

__all__ = ["run"]

DEMO_EMULATORS: dict[str, Any] = {}  # the running demo's emulators by vendor type


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
        emulators: dict[str, Any] = {}
        env: dict[str, str] = {}
        for profile in (doc.get("providers") or {}).values():
            kind = profile.get("type")
            if kind not in available():
                continue
            if kind not in servers:
                emulators[kind], server = start_emulator(kind, time_scale=time_scale)
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
            DEMO_EMULATORS.clear()
            DEMO_EMULATORS.update(emulators)
            yield target
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run(directory: Path | None, *, time_scale: float) -> int:
    from reconciler.commands import state, validate

    source = directory or bundled_examples()
    if not (source / "campaignctl.yaml").is_file():
        raise CampaignctlError(f"--dir {source}: not a config directory (no campaignctl.yaml in it)")
    with demo_directory(source, time_scale) as target:
        _banner(f"campaignctl validate {source}")
        if validate.run(target) != ExitCode.OK:
            return ExitCode.ERROR
        _banner("campaignctl state init")
        if state.init(target) != ExitCode.OK:
            return ExitCode.ERROR
        with ExitStack() as results_stack:
            code = _run_steps(target, results_stack)
        return code
    return ExitCode.OK


def _start_results(target: Path, stack: ExitStack) -> list[Any]:
    """`results serve` in-process, and every demo emulator pushing its calls' results to it."""
    from reconciler.commands.results import receiver
    from reconciler.emulator.pushes import attach_pushes

    server = stack.enter_context(receiver(target, "127.0.0.1:0"))
    server.start()
    stack.callback(server.stop)
    click.echo(f"results receiver listening on {server.base_url} (status page at {server.base_url}/)")
    doc = yaml.safe_load((target / "campaignctl.yaml").read_text(encoding="utf-8"))
    pushes = []
    for name, profile in (doc.get("providers") or {}).items():
        emulator = DEMO_EMULATORS.get(profile.get("type"))
        if emulator is not None and getattr(emulator, "on_call", None) is None:
            p = attach_pushes(emulator, f"{server.base_url}/push/{name}/", seed=1)
            stack.callback(p.close)
            pushes.append(p)
    return pushes


def _simulate_calls(pushes: list[Any], target: Path) -> None:
    """Jump the emulators' clocks to a day after the earliest campaign start, then wait for the pushes."""
    from reconciler.config import load

    loaded = load(target)
    begins = [c.schedule.begin.timestamp() for c in (loaded.state.campaigns if loaded.state else ())
              if c.schedule.begin is not None]
    for emulator in DEMO_EMULATORS.values():
        now = emulator.clock.now_s()
        start = min(begins) if begins else now
        emulator.advance(max(0.0, start - now) + 86400.0)
    for p in pushes:
        p.flush(30)
    time.sleep(0.3)
    for p in pushes:
        p.flush(30)


def _run_steps(target: Path, stack: ExitStack) -> int:
    from reconciler.commands import apply, optout, plan, results, state, status

    pushes = _start_results(target, stack)
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
    _banner("(a day of simulated calls; the emulators push their results to results serve)")
    _simulate_calls(pushes, target)
    _banner("campaignctl status")
    status.run(target, fmt="text")
    _banner("campaignctl optout list   (the refusals among the results: never called again, by any campaign)")
    optout.run_list(target, fmt="text", include_removed=False)
    exports = target.parent / "exports"
    exports.mkdir(exist_ok=True)
    from reconciler.config import load

    loaded = load(target).state
    for name in [c.name for c in loaded.campaigns] if loaded is not None else []:
        out = exports / f"{name}.csv"
        _banner(f"campaignctl results export {name} --out {out}")
        results.export(target, name=name, fmt="csv", out=out)
        lines = out.read_text(encoding="utf-8").splitlines()
        click.echo("\n".join(lines[:4] + ([f"... ({len(lines) - 1} rows)"] if len(lines) > 4 else [])))
    click.echo("\nDemo complete: apply converged, the second plan has no changes, and the calls' results "
               "came back joined to their rows.")
    return ExitCode.OK


def _banner(text: str) -> None:
    click.echo("\n" + click.style(f"$ {text}", bold=True) + "\n")
