"""Command-line declarations only: options in, ``commands.<name>.run`` out.

Exit codes are decided once, in :func:`main`: a :class:`CampaignctlError`
prints its message and exits with its code (1), Ctrl-C exits 130, and any
other exception is a bug: a one-line message on stderr and the traceback in
the debug log (``CAMPAIGNCTL_DEBUG_LOG``; else ``debug.log`` in the project's state
directory when the command names a project that has one, else in the user's cache directory,
``$XDG_CACHE_HOME/campaignctl`` or ``~/.cache/campaignctl``; never the directory the user
happens to stand in).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import click

from reconciler import vendors
from reconciler.errors import CampaignctlError, ConfigError, ExitCode

FORMATS = click.Choice(["text", "json", "markdown"])

F = TypeVar("F", bound=Callable[..., Any])


class Seconds(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A duration: ``90``, ``1.5``, ``90s``, ``5m``, ``1h``; finite and not negative (NaN refused)."""

    name = "seconds"
    UNITS: ClassVar[dict[str, float]] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            text = str(value).strip().lower()
            scale = 1.0
            for unit in ("ms", "s", "m", "h"):
                if text.endswith(unit) and text[: -len(unit)].strip():
                    text, scale = text[: -len(unit)].strip(), self.UNITS[unit]
                    break
            try:
                number = float(text) * scale
            except ValueError:
                self.fail(f"{value!r} is not a duration (seconds, or with a unit: 90s, 5m, 1h)", param, ctx)
        if math.isnan(number) or math.isinf(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        if number < 0 or (self.positive and number == 0):
            self.fail(f"{value!r} must be {'more than' if self.positive else 'at least'} 0 seconds", param, ctx)
        return number


SECONDS = Seconds()


def lock_timeout_option(fn: F) -> F:
    return click.option("--lock-timeout", type=SECONDS, default=0.0, show_default=True, metavar="SECONDS",
                        help="How long to wait for the state lock (90, 90s, 5m; not negative).")(fn)


def env_option(fn: F) -> F:
    """``--env NAME``: an environment of the project file (``environments:``); default: the base settings."""
    return click.option("--env", "environment", default=None, metavar="NAME", envvar="CAMPAIGNCTL_ENV",
                        help="Use environment NAME of the project file (its profiles and state); "
                             "also $CAMPAIGNCTL_ENV.")(fn)


def target_option(fn: F) -> F:
    return click.option("--target", "targets", multiple=True, metavar="NAME",
                        help="Plan only campaign NAME (repeatable; globs like 'spring-*'). The rest is not "
                             "considered: nothing outside the target is created, changed, deleted or pruned.")(fn)


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


def examples(*lines: str) -> str:
    """An epilog of example command lines (kept as written by click's ``\\b``)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=examples("campaignctl validate campaigns/", "campaignctl state init campaigns/",
                             "campaignctl plan campaigns/ --out campaigns.plan",
                             "campaignctl apply campaigns.plan",
                             "Shell completion (bash): eval \"$(_CAMPAIGNCTL_COMPLETE=bash_source campaignctl)\""))
@click.version_option(package_name="campaign-reconciler", prog_name="campaignctl")
@click.option("--no-color", is_flag=True, help="No ANSI colour (also when $NO_COLOR is set).")
@click.pass_context
def cli(ctx: click.Context, no_color: bool) -> None:
    """Outbound phone-call campaigns as code: validate, plan and apply YAML campaigns."""
    if no_color or os.environ.get("NO_COLOR"):
        ctx.color = False


@cli.command(epilog=examples("campaignctl validate campaigns/",
                             "campaignctl validate campaigns/spring.yaml campaigns/renewal.yaml   # pre-commit",
                             "campaignctl validate --format json ."))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(paths: tuple[Path, ...], fmt: str) -> None:
    """Check config directories offline; print every problem as file:line: field: message.

    PATHS are config directories or files inside them (campaign YAML, contact
    CSV); each file's project is found by looking upwards for campaignctl.yaml.
    Default: the current directory.
    """
    from reconciler.commands import validate as cmd

    _exit(cmd.run_paths(list(paths) or [Path(".")], fmt=fmt))


@cli.command(epilog=examples("campaignctl plan campaigns/",
                             "campaignctl plan campaigns/ --out campaigns.plan --detailed-exitcode",
                             "campaignctl plan campaigns/ --format markdown > plan.md",
                             "campaignctl plan campaigns/ --env prod --target 'spring-*'"))
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for apply.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--prune/--no-prune", default=None, help="Delete owned tasks whose campaign left the files.")
@click.option("--allow-replace", "allow_replace", multiple=True, metavar="NAME",
              help="Allow replacing a started campaign's task (its contacts are dialed again).")
@click.option("--allow-redial", "allow_redial", multiple=True, metavar="NAME",
              help="Allow dialing again contacts the state records as already called for campaign NAME.")
@lock_timeout_option
@click.option("--lock/--no-lock", "lock", default=True, show_default=True,
              help="Hold the state lock while planning (without it, calls in flight are never taken as "
                   "interrupted).")
@env_option
@target_option
def plan(directory: Path, out: Path | None, fmt: str, detailed_exitcode: bool, prune: bool | None,
         allow_replace: tuple[str, ...], allow_redial: tuple[str, ...], lock_timeout: float, lock: bool,
         environment: str | None, targets: tuple[str, ...]) -> None:
    """Show the vendor calls that would bring the platforms in line with the files."""
    from reconciler.commands import plan as cmd

    _exit(cmd.run(directory, out=out, fmt=fmt, detailed_exitcode=detailed_exitcode, prune=prune,
                  allow_replace=allow_replace + allow_redial, lock_timeout=lock_timeout, lock=lock,
                  environment=environment, targets=targets))


@cli.command(epilog=examples("campaignctl apply campaigns.plan          # a saved plan, exactly as saved",
                             "campaignctl apply campaigns/ --auto-approve",
                             "campaignctl apply campaigns/ --env staging --target spring-promo"))
@click.argument("target", type=click.Path(path_type=Path), default=".")
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--prune/--no-prune", default=None, help="Delete owned tasks whose campaign left the files.")
@click.option("--allow-replace", "allow_replace", multiple=True, metavar="NAME",
              help="Allow replacing a started campaign's task (its contacts are dialed again).")
@click.option("--allow-redial", "allow_redial", multiple=True, metavar="NAME",
              help="Allow dialing again contacts the state records as already called for campaign NAME.")
@lock_timeout_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="With a saved plan: its config directory, when the checkout moved since the plan was made.")
@env_option
@target_option
def apply(target: Path, auto_approve: bool, parallelism: int, prune: bool | None,
          allow_replace: tuple[str, ...], allow_redial: tuple[str, ...], lock_timeout: float, fmt: str,
          directory: Path | None, environment: str | None, targets: tuple[str, ...]) -> None:
    """Make the vendor calls of a plan (a config directory or a saved plan file)."""
    from reconciler.commands import apply as cmd

    _exit(cmd.run(target, auto_approve=auto_approve, parallelism=parallelism, prune=prune,
                  allow_replace=allow_replace + allow_redial, lock_timeout=lock_timeout, fmt=fmt, directory=directory,
                  environment=environment, targets=targets))


@cli.command(epilog=examples("campaignctl show campaigns.plan", "campaignctl show campaigns.plan --format markdown"))
@click.argument("planfile", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def show(planfile: Path, fmt: str) -> None:
    """Render a saved plan (from `plan --out`), offline: no credentials, platform or state needed."""
    from reconciler.commands import show as cmd

    _exit(cmd.run(planfile, fmt=fmt))


@cli.command(name="import", epilog=examples("campaignctl import spring-promo 1002 campaigns/"))
@click.argument("name")
@click.argument("task_id")
@lock_timeout_option
@env_option
@project_dir
def import_(name: str, task_id: str, directory: Path, lock_timeout: float, environment: str | None) -> None:
    """Adopt an existing remote task as campaign NAME's task."""
    from reconciler.commands import import_ as cmd

    _exit(cmd.run(directory, name=name, task_id=task_id, lock_timeout=lock_timeout, environment=environment))


@cli.command(epilog=examples("campaignctl export --profile iflytek campaigns/",
                             "campaignctl export --profile callcenter --prefix gitops-spring campaigns/",
                             "campaignctl plan campaigns/      # right after: no changes"))
@click.option("--profile", required=True, metavar="PROFILE", help="The provider profile whose tasks to export.")
@click.option("--prefix", default=None, metavar="PREFIX",
              help="Export only tasks whose name starts with PREFIX (default: the profile's name_prefix).")
@click.option("--into", type=click.Path(path_type=Path), default=None, metavar="SUBDIR",
              help="Where to write the campaign files, relative to DIR (default: campaigns/exported).")
@lock_timeout_option
@env_option
@project_dir
def export(profile: str, prefix: str | None, into: Path | None, directory: Path, lock_timeout: float,
           environment: str | None) -> None:
    """Write campaign files for existing vendor tasks the state does not know, and adopt them."""
    from reconciler.commands import export as cmd

    _exit(cmd.run(directory, profile=profile, prefix=prefix, into=into, lock_timeout=lock_timeout,
                  environment=environment))


@cli.command(epilog=examples("campaignctl watch campaigns/ --interval 60s",
                             "campaignctl watch campaigns/ --interval 5m --log-format json --metrics-port 9464"))
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--interval", type=Seconds(positive=True), default=60.0, show_default=True, metavar="DURATION",
              help="Time between two reconcile cycles (60, 60s, 5m).")
@click.option("--log-format", "log_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line per cycle, as text or as a JSON object.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Serve /healthz and Prometheus /metrics on this port (0 picks a free one).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
@click.option("--max-cycles", type=click.IntRange(1), default=None, help="Stop after this many cycles.")
@lock_timeout_option
@env_option
@target_option
def watch(directory: Path, interval: float, log_format: str, metrics_port: int | None, metrics_host: str,
          max_cycles: int | None, lock_timeout: float, environment: str | None, targets: tuple[str, ...]) -> None:
    """Reconcile continuously: plan every interval, apply only what is declared safe to self-heal.

    Self-healed: a task paused or started outside campaignctl (start/pause
    drift), a running task the dialing policy pauses outside the calling
    hours, and new contacts of campaigns that set `watch.apply_new_contacts:
    true` (or the project's `watch:` default). Everything else (creates,
    replacements, deletions, redials, dials) is reported, never applied.
    """
    from reconciler.commands import watch as cmd

    _exit(cmd.run(directory, interval=interval, log_format=log_format, metrics_port=metrics_port,
                  metrics_host=metrics_host, max_cycles=max_cycles, lock_timeout=lock_timeout,
                  environment=environment, targets=targets))


@cli.group(epilog=examples("campaignctl state init campaigns/", "campaignctl state list campaigns/",
                           "campaignctl state show spring-promo campaigns/"))
def state() -> None:
    """Read and repair the state store."""


@state.command(name="init", epilog=examples("campaignctl state init campaigns/",
                                            "campaignctl state init campaigns/ --env prod"))
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@env_option
def state_init(directory: Path, environment: str | None) -> None:
    """Create the state (like `terraform init`); plan and apply send nothing without one."""
    from reconciler.commands import state as cmd

    _exit(cmd.init(directory, environment=environment))


@state.command(name="mv", epilog=examples("campaignctl state mv spring-promo spring-2027 campaigns/"))
@click.argument("old")
@click.argument("new")
@lock_timeout_option
@env_option
@project_dir
def state_mv(old: str, new: str, directory: Path, lock_timeout: float, environment: str | None) -> None:
    """Rename campaign OLD to NEW in the state: its remote tasks and history follow it."""
    from reconciler.commands import state as cmd

    _exit(cmd.mv(directory, old=old, new=new, lock_timeout=lock_timeout, environment=environment))


@state.command(name="rm", epilog=examples("campaignctl state rm spring-promo campaigns/"))
@click.argument("name")
@lock_timeout_option
@env_option
@project_dir
def state_rm(name: str, directory: Path, lock_timeout: float, environment: str | None) -> None:
    """Forget campaign NAME in the state without touching the platform."""
    from reconciler.commands import state as cmd

    _exit(cmd.rm(directory, name=name, lock_timeout=lock_timeout, environment=environment))


@state.command(name="list", epilog=examples("campaignctl state list campaigns/",
                                            "campaignctl state list campaigns/ --format json"))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@env_option
@project_dir
def state_list(directory: Path, fmt: str, environment: str | None) -> None:
    """List the campaigns the state knows, with their tasks."""
    from reconciler.commands import state as cmd

    _exit(cmd.list_(directory, fmt=fmt, environment=environment))


@state.command(name="show", epilog=examples("campaignctl state show spring-promo campaigns/"))
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@env_option
@project_dir
def state_show(name: str, directory: Path, fmt: str, environment: str | None) -> None:
    """Show one campaign's tasks, contacts and journal."""
    from reconciler.commands import state as cmd

    _exit(cmd.show(directory, name=name, fmt=fmt, environment=environment))


@state.command(name="rebuild", epilog=examples("campaignctl state rebuild campaigns/"))
@lock_timeout_option
@env_option
@project_dir
def state_rebuild(directory: Path, lock_timeout: float, environment: str | None) -> None:
    """Rebuild lost state from what the platforms report."""
    from reconciler.commands import state as cmd

    _exit(cmd.rebuild(directory, lock_timeout=lock_timeout, environment=environment))


@state.command(name="resolve", epilog=examples("campaignctl state resolve survey-direct --dialed campaigns/"))
@click.argument("name")
@click.option("--dialed", "dialed", is_flag=True, help="They were dialed (inserts: they landed): never sent again.")
@click.option("--not-dialed", "not_dialed", is_flag=True, help="They were not dialed (inserts: did not land).")
@env_option
@project_dir
def state_resolve(name: str, dialed: bool, not_dialed: bool, directory: Path, environment: str | None) -> None:
    """Settle direct-callout rows and interrupted inserts whose outcome is unknown."""
    from reconciler.commands import state as cmd

    if dialed == not_dialed:
        raise click.UsageError("say exactly one of --dialed or --not-dialed")
    _exit(cmd.resolve(directory, name=name, dialed=dialed, environment=environment))


@state.command(name="unlock", epilog=examples("campaignctl state unlock 3f2a9c campaigns/"))
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Release it even though its holder is alive (dangerous).")
@env_option
@project_dir
def state_unlock(lock_id: str, directory: Path, force: bool, environment: str | None) -> None:
    """Release a lock left by a crashed apply (give the id the lock error printed)."""
    from reconciler.commands import state as cmd

    _exit(cmd.unlock(directory, lock_id=lock_id, force=force, environment=environment))


@cli.group(epilog=examples("campaignctl optout list campaigns/", "campaignctl optout add 13800000000 campaigns/",
                           "campaignctl optout remove 13800000000 --reason 'asked to be called' campaigns/"))
def optout() -> None:
    """The opt-out list: numbers never called again by any campaign (kept in the state)."""


@optout.command(name="list", epilog=examples("campaignctl optout list campaigns/",
                                             "campaignctl optout list campaigns/ --all --format json",
                                             "campaignctl optout list campaigns/ --env prod"))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "include_removed", is_flag=True, help="Also the numbers taken off the list, with why.")
@env_option
@project_dir
def optout_list(directory: Path, fmt: str, include_removed: bool, environment: str | None) -> None:
    """Show the opt-out list: masked numbers, sources, times and reasons."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_list(directory, fmt=fmt, include_removed=include_removed, environment=environment))


@optout.command(name="add", epilog=examples("campaignctl optout add 13800000000 campaigns/",
                                            "campaignctl optout add 13800000000 --source hotline "
                                            "--reason 'asked on the phone' campaigns/"))
@click.argument("phone")
@click.option("--reason", default="", help="Why (kept in the state).")
@click.option("--source", default="manual", show_default=True, help="Where the opt-out came from.")
@env_option
@project_dir
def optout_add(phone: str, reason: str, source: str, directory: Path, environment: str | None) -> None:
    """Put PHONE on the opt-out list: every later plan suppresses it in every campaign."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_add(directory, phone, source=source, reason=reason, environment=environment))


@optout.command(name="remove", epilog=examples(
    "campaignctl optout remove 13800000000 --reason 'opted in again on 2027-03-01' campaigns/"))
@click.argument("phone")
@click.option("--reason", required=True, help="Why it may be called again (kept in the state).")
@env_option
@project_dir
def optout_remove(phone: str, reason: str, directory: Path, environment: str | None) -> None:
    """Take PHONE off the opt-out list (the state keeps the entry and the reason)."""
    from reconciler.commands import optout as cmd

    _exit(cmd.run_remove(directory, phone, reason=reason, environment=environment))


@cli.group(epilog=examples("campaignctl emulator serve --provider xfyeta --port 8081"))
def emulator() -> None:
    """Local emulators of the vendor APIs."""


@emulator.command(name="serve", epilog=examples(
    "campaignctl emulator serve --provider xfyeta --port 8081",
    "campaignctl emulator serve --provider yccall --port 8082 --faults 'App.Sip_Yccall.TaskCreat:drop:1'",
    "curl http://127.0.0.1:8081/_emulator/        # the control API's index"))
@click.option("--provider", type=click.Choice(vendors.types()), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option("--token", default=None, help="Fixed token to accept (xfyeta) / issue (yccall).")
@click.option("--faults", default=None, help="Fault spec, e.g. 'task/create:drop:1,*:latency:0.2'.")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="Simulated seconds per real second.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="JSON/YAML file with robots, lines, voices, credentials (format: README, 'Emulators').")
@click.option("--push-url", default=None, metavar="URL",
              help="Push each simulated call's results to URL/MODULE, e.g. http://127.0.0.1:8900/push/iflytek/.")
@click.option("--push-seed", type=int, default=0, show_default=True, help="Seed of the simulated outcomes.")
def emulator_serve(provider: str, host: str, port: int, token: str | None, faults: str | None,
                   time_scale: float, config_file: Path | None, push_url: str | None, push_seed: int) -> None:
    """Run a vendor API emulator over HTTP until interrupted."""
    from reconciler.commands import emulator as cmd

    _exit(cmd.serve(provider=provider, host=host, port=port, token=token, faults=faults,
                    time_scale=time_scale, config_file=config_file, push_url=push_url, push_seed=push_seed))


@cli.command(epilog=examples("campaignctl demo", "campaignctl demo --dir my-campaigns/"))
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Config directory (default: the bundled examples/campaigns).")
@click.option("--time-scale", type=float, default=600.0, show_default=True)
def demo(directory: Path | None, time_scale: float) -> None:
    """Run validate, plan, apply, plan against the built-in emulators."""
    from reconciler.commands import demo as cmd

    _exit(cmd.run(directory, time_scale=time_scale))


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--watch", is_flag=True, help="Repeat every --interval seconds until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=5.0, show_default=True,
              help="Seconds between two --watch rounds.")
@click.option("--html", "html", type=click.Path(path_type=Path), default=None,
              help="Also write a self-contained status page to this file.")
@env_option
def status(directory: Path, fmt: str, watch: bool, interval: float, html: Path | None,
           environment: str | None) -> None:
    """Per campaign and task: phase, sent, dialed, answered, connect rate, remaining, outcomes."""
    from reconciler.commands import status as cmd

    _exit(cmd.run(directory, fmt=fmt, watch=watch, interval=interval, html=html, environment=environment))


@cli.group()
def results() -> None:
    """Receive the vendors' result pushes; export rows with their outcomes."""


@results.command(name="serve")
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where to listen (default: results.listen of the project file, else 127.0.0.1:8900).")
@env_option
def results_serve(directory: Path, listen: str | None, environment: str | None) -> None:
    """Receive result pushes at POST /push/PROFILE/MODULE; a live status page at /."""
    from reconciler.commands import results as cmd

    _exit(cmd.serve(directory, listen=listen, environment=environment))


@results.command(name="export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Write here instead of stdout.")
@env_option
def results_export(directory: Path, name: str, fmt: str, out: Path | None, environment: str | None) -> None:
    """Campaign NAME's rows (its columns, in file order) followed by the outcome columns."""
    from reconciler.commands import results as cmd

    _exit(cmd.export(directory, name=name, fmt=fmt, out=out, environment=environment))


def _exit(code: int) -> None:
    raise SystemExit(int(code))


def _state_dir(argv: list[str]) -> Path | None:
    """The state directory of the project the command names (an argument or ``--dir``, else the
    current directory), when that project exists and its SQLite state directory is there."""
    for arg in [*argv, "."]:
        with contextlib.suppress(OSError, ValueError):
            project = Path(arg) / "campaignctl.yaml"
            if not project.is_file():
                continue
            import yaml

            path = ".campaignctl/state.db"
            with contextlib.suppress(Exception):  # the crash may be in reading the files: never fail here
                data = yaml.safe_load(project.read_text(encoding="utf-8")[:100_000])
                state = data.get("state") if isinstance(data, dict) else None
                if isinstance(state, dict) and state.get("backend", "sqlite") == "sqlite":
                    path = str(state.get("path") or path)
            folder = (project.parent / path).parent
            return folder if folder.is_dir() else None
    return None


def _debug_log(argv: list[str] | None = None) -> Path:
    explicit = os.environ.get("CAMPAIGNCTL_DEBUG_LOG")
    if explicit:
        return Path(explicit)
    folder = _state_dir(list(sys.argv[1:] if argv is None else argv))
    if folder is None:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(cache) / "campaignctl"
    return folder / "debug.log"


def _write_debug_log(log: Path, text: str) -> None:
    """Append ``text`` to the log, made 0600 in a 0700 directory (a traceback may quote contact data)."""
    if not log.parent.is_dir():
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(text)


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
        log = _debug_log(argv)
        try:
            import traceback  # only here: a bug (its import is a fair part of validate's start-up)

            _write_debug_log(log, traceback.format_exc())
            where = f"; details in {log}"
        except OSError:
            where = ""
        click.echo(f"Error: internal error in campaignctl{where}", err=True)
        sys.exit(int(ExitCode.INTERNAL))
