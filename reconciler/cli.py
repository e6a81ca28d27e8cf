"""Command-line declarations only: options in, ``commands.<name>.run`` out.

Exit codes are decided once, in :func:`main`: a :class:`CampaignctlError`
prints its message and exits with its code (1), Ctrl-C exits 130, and any
other exception is a bug: a one-line message on stderr and the traceback in
the debug log (``CAMPAIGNCTL_DEBUG_LOG``, default ``.campaignctl/debug.log``).
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from reconciler.errors import CampaignctlError, ConfigError, ExitCode

FORMATS = click.Choice(["text", "json", "markdown"])

F = TypeVar("F", bound=Callable[..., Any])


def project_dir(fn: F) -> F:
    """The config directory as an optional last argument ``[DIR]`` (like ``plan DIR``), ``--dir`` still accepted."""

    @functools.wraps(fn)
    def wrapper(*args: Any, dir_arg: Path | None = None, dir_opt: Path | None = None, **kwargs: Any) -> Any:
        if dir_arg is not None and dir_opt is not None and dir_arg != dir_opt:
            raise click.UsageError(f"two directories given: {dir_arg} and --dir {dir_opt}")
        return fn(*args, directory=dir_arg or dir_opt or Path("."), **kwargs)

    wrapped = click.argument("dir_arg", metavar="[DIR]", required=False, type=click.Path(path_type=Path))(wrapper)
    wrapped = click.option("--dir", "dir_opt", type=click.Path(path_type=Path), default=None,
                           help="The config directory (the same as DIR; default: .).")(wrapped)
    return cast(F, wrapped)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="campaign-reconciler", prog_name="campaignctl")
def cli() -> None:
    """Outbound phone-call campaigns as code: validate, plan and apply YAML campaigns."""


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(directory: Path, fmt: str) -> None:
    """Check a config directory offline; print every problem as file:line: field: message."""
    from reconciler.commands import validate as cmd

    _exit(cmd.run(directory, fmt=fmt))


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for apply.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--prune/--no-prune", default=None, help="Delete owned tasks whose campaign left the files.")
@click.option("--allow-replace", "allow_replace", multiple=True, metavar="NAME",
              help="Allow replacing a started campaign's task (its contacts are dialed again).")
@click.option("--allow-redial", "allow_redial", multiple=True, metavar="NAME",
              help="Allow dialing again contacts the state records as already called for campaign NAME.")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True, help="Seconds to wait for the state lock.")
@click.option("--lock/--no-lock", "lock", default=True, show_default=True,
              help="Hold the state lock while planning (without it, calls in flight are never taken as "
                   "interrupted).")
def plan(directory: Path, out: Path | None, fmt: str, detailed_exitcode: bool, prune: bool | None,
         allow_replace: tuple[str, ...], allow_redial: tuple[str, ...], lock_timeout: float, lock: bool) -> None:
    """Show the vendor calls that would bring the platforms in line with the files."""
    from reconciler.commands import plan as cmd

    _exit(cmd.run(directory, out=out, fmt=fmt, detailed_exitcode=detailed_exitcode, prune=prune,
                  allow_replace=allow_replace + allow_redial, lock_timeout=lock_timeout, lock=lock))


@cli.command()
@click.argument("target", type=click.Path(path_type=Path), default=".")
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--prune/--no-prune", default=None, help="Delete owned tasks whose campaign left the files.")
@click.option("--allow-replace", "allow_replace", multiple=True, metavar="NAME",
              help="Allow replacing a started campaign's task (its contacts are dialed again).")
@click.option("--allow-redial", "allow_redial", multiple=True, metavar="NAME",
              help="Allow dialing again contacts the state records as already called for campaign NAME.")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True, help="Seconds to wait for the state lock.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="With a saved plan: its config directory, when the checkout moved since the plan was made.")
def apply(target: Path, auto_approve: bool, parallelism: int, prune: bool | None,
          allow_replace: tuple[str, ...], allow_redial: tuple[str, ...], lock_timeout: float, fmt: str,
          directory: Path | None) -> None:
    """Make the vendor calls of a plan (a config directory or a saved plan file)."""
    from reconciler.commands import apply as cmd

    _exit(cmd.run(target, auto_approve=auto_approve, parallelism=parallelism, prune=prune,
                  allow_replace=allow_replace + allow_redial, lock_timeout=lock_timeout, fmt=fmt, directory=directory))


@cli.command()
@click.argument("planfile", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def show(planfile: Path, fmt: str) -> None:
    """Render a saved plan (from `plan --out`), offline: no credentials, platform or state needed."""
    from reconciler.commands import show as cmd

    _exit(cmd.run(planfile, fmt=fmt))


@cli.command(name="import")
@click.argument("name")
@click.argument("task_id")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True)
@project_dir
def import_(name: str, task_id: str, directory: Path, lock_timeout: float) -> None:
    """Adopt an existing remote task as campaign NAME's task."""
    from reconciler.commands import import_ as cmd

    _exit(cmd.run(directory, name=name, task_id=task_id, lock_timeout=lock_timeout))


@cli.group()
def state() -> None:
    """Read and repair the state store."""


@state.command(name="init")
@click.argument("directory", type=click.Path(path_type=Path), default=".")
def state_init(directory: Path) -> None:
    """Create the state (like `terraform init`); plan and apply send nothing without one."""
    from reconciler.commands import state as cmd

    _exit(cmd.init(directory))


@state.command(name="mv")
@click.argument("old")
@click.argument("new")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True)
@project_dir
def state_mv(old: str, new: str, directory: Path, lock_timeout: float) -> None:
    """Rename campaign OLD to NEW in the state: its remote tasks and history follow it."""
    from reconciler.commands import state as cmd

    _exit(cmd.mv(directory, old=old, new=new, lock_timeout=lock_timeout))


@state.command(name="rm")
@click.argument("name")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True)
@project_dir
def state_rm(name: str, directory: Path, lock_timeout: float) -> None:
    """Forget campaign NAME in the state without touching the platform."""
    from reconciler.commands import state as cmd

    _exit(cmd.rm(directory, name=name, lock_timeout=lock_timeout))


@state.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@project_dir
def state_list(directory: Path, fmt: str) -> None:
    """List the campaigns the state knows, with their tasks."""
    from reconciler.commands import state as cmd

    _exit(cmd.list_(directory, fmt=fmt))


@state.command(name="show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@project_dir
def state_show(name: str, directory: Path, fmt: str) -> None:
    """Show one campaign's tasks, contacts and journal."""
    from reconciler.commands import state as cmd

    _exit(cmd.show(directory, name=name, fmt=fmt))


@state.command(name="rebuild")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True)
@project_dir
def state_rebuild(directory: Path, lock_timeout: float) -> None:
    """Rebuild lost state from what the platforms report."""
    from reconciler.commands import state as cmd

    _exit(cmd.rebuild(directory, lock_timeout=lock_timeout))


@state.command(name="resolve")
@click.argument("name")
@click.option("--dialed", "dialed", is_flag=True, help="They were dialed (inserts: they landed): never sent again.")
@click.option("--not-dialed", "not_dialed", is_flag=True, help="They were not dialed (inserts: did not land).")
@project_dir
def state_resolve(name: str, dialed: bool, not_dialed: bool, directory: Path) -> None:
    """Settle direct-callout rows and interrupted inserts whose outcome is unknown."""
    from reconciler.commands import state as cmd

    if dialed == not_dialed:
        raise click.UsageError("say exactly one of --dialed or --not-dialed")
    _exit(cmd.resolve(directory, name=name, dialed=dialed))


@state.command(name="unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Release it even though its holder is alive (dangerous).")
@project_dir
def state_unlock(lock_id: str, directory: Path, force: bool) -> None:
    """Release a lock left by a crashed apply (give the id the lock error printed)."""
    from reconciler.commands import state as cmd

    _exit(cmd.unlock(directory, lock_id=lock_id, force=force))


@cli.group()
def optout() -> None:
    """The opt-out list: numbers never called again by any campaign (kept in the state)."""


@optout.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "include_removed", is_flag=True, help="Also the numbers taken off the list, with why.")
@project_dir
def optout_list(directory: Path, fmt: str, include_removed: bool) -> None:
    """Show the opt-out list: masked numbers, sources, times and reasons."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_list(directory, fmt=fmt, include_removed=include_removed))


@optout.command(name="add")
@click.argument("phone")
@click.option("--reason", default="", help="Why (kept in the state).")
@click.option("--source", default="manual", show_default=True, help="Where the opt-out came from.")
@project_dir
def optout_add(phone: str, reason: str, source: str, directory: Path) -> None:
    """Put PHONE on the opt-out list: every later plan suppresses it in every campaign."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_add(directory, phone, source=source, reason=reason))


@optout.command(name="remove")
@click.argument("phone")
@click.option("--reason", required=True, help="Why it may be called again (kept in the state).")
@project_dir
def optout_remove(phone: str, reason: str, directory: Path) -> None:
    """Take PHONE off the opt-out list (the state keeps the entry and the reason)."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_remove(directory, phone, reason=reason))


@cli.group()
def emulator() -> None:
    """Local emulators of the vendor APIs."""


@emulator.command(name="serve")
@click.option("--provider", type=click.Choice(["xfyeta", "yccall"]), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--token", default=None, help="Fixed token to accept (xfyeta) / issue (yccall).")
@click.option("--faults", default=None, help="Fault spec, e.g. 'task/create:drop:1,*:latency:0.2'.")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="Simulated seconds per real second.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="JSON/YAML file with robots, lines, voices, credentials.")
def emulator_serve(provider: str, host: str, port: int, token: str | None, faults: str | None,
                   time_scale: float, config_file: Path | None) -> None:
    """Run a vendor API emulator over HTTP until interrupted."""
    from reconciler.commands import emulator as cmd

    _exit(cmd.serve(provider=provider, host=host, port=port, token=token, faults=faults,
                    time_scale=time_scale, config_file=config_file))


@cli.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Config directory (default: the bundled examples/campaigns).")
@click.option("--time-scale", type=float, default=600.0, show_default=True)
def demo(directory: Path | None, time_scale: float) -> None:
    """Run validate, plan, apply, plan against the built-in emulators."""
    from reconciler.commands import demo as cmd

    _exit(cmd.run(directory, time_scale=time_scale))


def _exit(code: int) -> None:
    raise SystemExit(int(code))


def _debug_log() -> Path:
    return Path(os.environ.get("CAMPAIGNCTL_DEBUG_LOG", ".campaignctl/debug.log"))


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="campaignctl", standalone_mode=False)
    except SystemExit:
        raise
    except ConfigError as exc:
        from reconciler.commands.validate import print_problems

        print_problems(exc.problems, err=True)
        click.echo(f"Error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except CampaignctlError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.ERROR))
    except Exception:  # a bug: keep the traceback out of the user's face
        log = _debug_log()
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(traceback.format_exc())
            where = f"; details in {log}"
        except OSError:
            where = ""
        click.echo(f"Error: internal error in campaignctl{where}", err=True)
        sys.exit(int(ExitCode.INTERNAL))
