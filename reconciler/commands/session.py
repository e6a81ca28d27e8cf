"""What plan, apply, import and state share: load, connect, observe, diff.

Kept here so each command module stays a thin function: options in, one
engine call, a view out, one exit code.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.config import LoadResult
from reconciler.config.environments import load_environment, load_project_environment
from reconciler.config.gcpause import paused_gc
from reconciler.config.report import PhoneLists, bytes_digest
from reconciler.engine.clock import policy_clock, system_clock
from reconciler.engine.diff import diff, targeted
from reconciler.engine.inputs import Observed, Recorded, missing_state, snapshot, traits_of
from reconciler.engine.observe import observe
from reconciler.engine.plan import ActionKind, ApplyResult, Diagnostic, Plan, PlanMeta, StepStatus
from reconciler.engine.policy import capped
from reconciler.errors import AuthError, ConfigError, Problem, ProviderError, StateError, StateMissing
from reconciler.model import DesiredState, PhoneList, SourceDigest
from reconciler.providers import build_provider
from reconciler.providers.base import Provider
from reconciler.providers.http import CallEvent
from reconciler.results.outcomes import StoredDials
from reconciler.state import open_store
from reconciler.state.base import Converged, StateStore

__all__ = ["Session", "build_providers", "config_digest", "config_plan", "load_config", "make_plan", "open_session",
           "open_state_only", "remember", "use_color"]

NEEDS_CHECK = {ActionKind.CREATE, ActionKind.INSERT, ActionKind.DIAL}


@dataclass
class Session:
    directory: Path
    desired: DesiredState
    providers: dict[str, Provider]
    store_or_none: StateStore | None  # None: the state does not exist (see ``state_missing``)
    config_digest: str
    warnings: tuple[Problem, ...]
    state_missing: str = ""  # why there is no state, when there is none
    clock: Callable[[], datetime] = system_clock  # the dialing policy's time (engine.clock: CAMPAIGNCTL_NOW)
    parsed: tuple[SourceDigest, ...] = ()  # contact sources parsed this run, for the state's cache
    listed: tuple[PhoneList, ...] = ()  # phone lists of cached tables read this run, for the state to keep

    @property
    def store(self) -> StateStore:
        """The state; commands that change it never run without one."""
        if self.store_or_none is None:
            raise StateMissing(self.state_missing or "the state does not exist; create it with "
                                                     "`campaignctl state init DIR`")
        return self.store_or_none

    def recorded(self, *, in_flight: bool = False) -> Recorded:
        """The state snapshot; with a frequency cap configured, also the dial attempts the results show
        (read when a capped campaign first has numbers to send)."""
        if self.store_or_none is None:
            return missing_state(self.state_missing)
        recorded = snapshot(self.store_or_none, in_flight=in_flight)
        if capped(self.desired):
            store = self.store_or_none
            recorded = replace(recorded, dials=StoredDials(lambda phones: store.results(None, phones)))
        return recorded

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        if self.store_or_none is not None:
            self.store_or_none.close()


def config_digest(files: Iterable[Path], root: Path, known: Mapping[str, str] | None = None) -> str:
    """Digest of every file the config was read from: its path relative to ``root`` and the digest of its
    bytes.

    ``known``: the digests of the files load read whole, by path (``LoadResult.file_digests``), so the
    digest is of the bytes the plan was made from and no file is read again; any other file is read
    now. Paths are made absolute (without resolving links: a system call per part of each path) and
    taken relative to the config directory in POSIX form, so the digest is the same whether the
    directory was given as ``.``, relative or absolute, and wherever the checkout lives.
    """
    base = os.path.abspath(root)
    named: dict[str, Path] = {}
    for path in files:
        named[_relative_name(os.path.abspath(path), base)] = path
    h = hashlib.blake2b(digest_size=16)
    h.update(b"config-digest 2\0")
    for name in sorted(named):
        path = named[name]
        h.update(name.encode())
        h.update(b"\0")
        found = known.get(str(path)) if known is not None else None
        if found is None:
            try:
                found = bytes_digest(path.read_bytes())
            except OSError:
                found = "<unreadable>"
        h.update(found.encode())
        h.update(b"\0")
    return h.hexdigest()


def _relative_name(path: str, base: str) -> str:
    try:
        return os.path.relpath(path, base).replace(os.sep, "/")
    except ValueError:  # another drive (Windows): no relative spelling exists
        return path.replace(os.sep, "/")


def load_config(directory: Path, environment: str | None = None,
                cache: Mapping[str, SourceDigest] | None = None, phone_lists: PhoneLists | None = None) -> LoadResult:
    """The files, with environment ``environment``'s overrides (None: the base settings);
    ``cache`` and ``phone_lists``: earlier parses of the contact sources (see ``config.load``)."""
    return load_environment(directory, environment, cache=cache, phone_lists=phone_lists)


def _missing_text(exc: StateMissing) -> str:
    """What a missing state lacks, for the plan's note."""
    return f"{exc.location} {exc.missing}" if exc.location and exc.missing else str(exc)


def _files_and_state(directory: Path, environment: str | None, env: Mapping[str, str], *, create: bool,
                     allow_missing: bool) -> tuple[LoadResult, StateStore | None, str]:
    """The files (``result.state`` set) and the state store, opened first: its place is in the project
    file, and it caches earlier parses of the contact sources, so that unchanged files are not parsed
    again. With ``allow_missing`` a state that does not exist gives no store and what is missing;
    otherwise it is raised, after the files' own problems. The caller closes the store."""
    store: StateStore | None = None
    missing = ""
    try:
        project = load_project_environment(directory, environment)
        refused: StateMissing | None = None  # raised after the files are checked: their problems come first
        if project is not None:
            try:
                store = open_store(project.state, env, create=create)
            except StateMissing as exc:
                refused = exc
                missing = _missing_text(exc)
        with paused_gc(keep=True):
            result = load_config(directory, environment, cache=store.source_digests() if store is not None else None,
                                 phone_lists=store.phone_lists if store is not None else None)
        if result.state is None:
            raise ConfigError(result.problems)
        if refused is not None and not allow_missing:
            raise refused
        desired = result.state
        if project is not None and project.state != desired.project.state:  # (the project file changed in between)
            if store is not None:
                store.close()
            store, project, refused, missing = None, None, None, ""
        if store is None and project is None and not missing:
            try:
                store = open_store(desired.project.state, env, create=create)
            except StateMissing as exc:
                if not allow_missing:
                    raise
                missing = _missing_text(exc)
        return result, store, missing
    except BaseException:
        if store is not None:
            store.close()
        raise


@contextmanager
def open_session(directory: Path, env: Mapping[str, str] | None = None, *,
                 allow_missing_state: bool = False, create_state: bool = False,
                 environment: str | None = None) -> Iterator[Session]:
    """The files, the state and one provider per profile in use.

    With ``allow_missing_state`` (plan, apply) a state that does not exist
    yet is not an error: the session has no store and the plan says so.
    ``create_state`` (``state rebuild`` only: it records every contact it
    cannot prove unsent as sent or unknown) creates a missing one. Every
    other command needs the state.
    """
    env = os.environ if env is None else env
    providers: dict[str, Provider] = {}
    store: StateStore | None = None
    try:
        result, store, missing = _files_and_state(directory, environment, env, create=create_state,
                                                  allow_missing=allow_missing_state)
        desired = result.state
        assert desired is not None
        used = {c.provider for c in desired.campaigns}
        if store is not None:
            used |= {r.profile for r in store.tasks() if not r.deleted}
        providers.update(build_providers(desired, used, env))
        digest = config_digest(result.files, directory, result.file_digests)
        session = Session(directory, desired, providers, store, digest,
                          tuple(p for p in result.problems if p.severity == "warning"), missing,
                          policy_clock(env, timezone=desired.project.timezone), result.parsed, result.listed)
        yield session
    finally:
        for provider in providers.values():
            provider.close()
        if store is not None:
            store.close()


def remember(session: Session, plan: Plan, result: ApplyResult | None = None) -> None:
    """Write what this run learned that makes the next plan cheaper; only under the state lock.

    The contact sources parsed now (source digests), and a convergence
    marker for each campaign the plan found converged (``Convergence.now``)
    or, after ``result``, whose every step succeeded in full. Neither bumps
    the state serial. A failure to write them costs speed, never safety:
    it is ignored.
    """
    store = session.store_or_none
    if store is None:
        return
    marks: list[Converged] = []
    if result is None:
        have = store.converged()
        for conv in plan.converged:
            mark = conv.marker()
            if conv.now and have.get(conv.campaign) != mark:
                marks.append(mark)
    else:
        done: dict[str, bool] = {}
        for step in result.steps:
            a = step.action
            full = step.status is StepStatus.OK and (
                a.kind not in (ActionKind.CREATE, ActionKind.INSERT, ActionKind.DIAL) or step.done == a.count)
            done[a.campaign] = done.get(a.campaign, True) and full
        have = store.converged()
        for conv in plan.converged:
            mark = conv.marker()
            if done.get(conv.campaign, conv.now) and (conv.campaign in done or have.get(conv.campaign) != mark):
                marks.append(mark)
    try:
        store.put_source_digests(session.parsed)
        store.put_phone_lists(session.listed)
        store.put_converged(marks)
    except StateError:
        pass


def config_plan(problems: Iterable[Problem], directory: Path) -> Plan:
    """A plan of no actions carrying the configuration's problems as diagnostics (not applyable)."""
    diags = tuple(Diagnostic(p.severity if p.severity == "error" else "warning", "",
                             f"{p.field}: {p.message}" if p.field else p.message, p.file, p.line)
                  for p in sorted(problems))
    if not any(d.severity == "error" for d in diags):
        diags += (Diagnostic("error", "", "the configuration is not valid"),)
    return Plan(actions=(), diagnostics=diags, meta=PlanMeta(config_dir=str(Path(directory).resolve())))


def build_providers(desired: DesiredState, used: Iterable[str], env: Mapping[str, str]) -> dict[str, Provider]:
    """One provider per profile in ``used``; every missing credential variable is reported at once."""
    wanted = set(used)
    built: dict[str, Provider] = {}
    failures: list[str] = []
    for name, profile in desired.project.providers.items():
        if name not in wanted:
            continue
        try:
            built[name] = build_provider(profile, env, timezone=desired.project.timezone, on_event=retry_note)
        except AuthError as exc:
            failures.append(exc.detail if exc.profile else str(exc))
    if failures:
        for provider in built.values():
            provider.close()
        if len(failures) == 1:
            raise AuthError(failures[0])
        raise AuthError("missing credentials:\n  " + "\n  ".join(failures))
    return built


def make_plan(session: Session, *, prune: bool | None, allow_replace: Iterable[str],
              recorded: Recorded | None = None, observed: Observed | None = None,
              targets: Sequence[str] = ()) -> tuple[Plan, Observed]:
    """Observe, diff, then check references of what the plan would use."""
    recorded = recorded if recorded is not None else session.recorded()
    # A campaign the state has never seen is created (or adopted) by this plan, so its profile's
    # references will be checked: they are fetched beside the listing, not after the diff.
    early = sorted({c.provider for c in session.desired.campaigns if c.provider in session.providers
                    and c.name not in recorded.campaigns and targeted(c.name, targets)}) if observed is None else []
    with ThreadPoolExecutor(max_workers=max(1, len(early))) as pool:
        fetching = {name: pool.submit(session.providers[name].references) for name in early}
        observed = observed if observed is not None else observe(session.providers)
        references = {name: future.result() for name, future in fetching.items()}
    traits = {name: traits_of(p) for name, p in session.providers.items()}
    meta = PlanMeta(config_dir=str(session.directory.resolve()), config_digest=session.config_digest,
                    environment=session.desired.project.environment)
    with paused_gc(keep=True):
        plan = diff(session.desired, observed, recorded, traits, now=datetime.now(UTC), prune=prune,
                    allow_replace=allow_replace, meta=meta, targets=targets, at=session.clock())
    extra: list[Diagnostic] = []
    by_profile: dict[str, set[str]] = {}
    for action in plan.actions:
        if action.kind in NEEDS_CHECK:
            by_profile.setdefault(action.profile, set()).add(action.campaign)
    creating = {a.campaign for a in plan.actions if a.kind is ActionKind.CREATE}
    for profile, names in sorted(by_profile.items()):
        provider = session.providers[profile]
        campaigns = [c for c in session.desired.campaigns if c.name in names]
        try:
            problems = provider.check(campaigns, creating=creating, references=references.get(profile))
        except ProviderError as exc:
            extra.append(Diagnostic("error", "", f"cannot check references on profile {profile!r}: {exc}"))
            continue
        for p in problems:  # a provider marks a campaign's problem at the campaign's own line
            same_file = [c.name for c in campaigns if c.mark.file == p.file]
            owner = next((c.name for c in campaigns if (c.mark.file, c.mark.line) == (p.file, p.line)),
                         same_file[0] if len(same_file) == 1 else "")  # never a neighbour of the same file
            extra.append(Diagnostic(p.severity, owner, f"{p.field}: {p.message}" if p.field else p.message,
                                    p.file, p.line))
    for w in session.warnings:
        extra.append(Diagnostic("warning", "", f"{w.field}: {w.message}" if w.field else w.message, w.file, w.line))
    if extra:
        plan = replace(plan, diagnostics=tuple(plan.diagnostics) + tuple(extra))
    return plan, observed


def retry_note(event: CallEvent) -> None:
    """A visible note on stderr each time a call is tried again (after a timeout, a 5xx, a 429)."""
    if event.retry_in is None or not event.error:
        return
    who = f" ({event.campaign})" if event.campaign else ""
    click.echo(f"Note: {event.profile} {event.call}{who}: {event.error}; trying again in {event.retry_in:.1f} s "
               f"(attempt {event.attempt + 1} of {event.attempts})", err=True)


def color_allowed() -> bool:
    """False with ``--no-color`` or a non-empty ``NO_COLOR`` (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    ctx = click.get_current_context(silent=True)
    return not (ctx is not None and ctx.find_root().color is False)


def use_color(fmt: str) -> bool:
    """Colour only for the text view on a terminal, unless NO_COLOR or --no-color."""
    return fmt == "text" and sys.stdout.isatty() and color_allowed()


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@contextmanager
def open_state_only(directory: Path, env: Mapping[str, str] | None = None, *,
                    environment: str | None = None) -> Iterator[tuple[DesiredState, StateStore]]:
    """The files and the state store, without any provider (no credentials needed). As in
    :func:`open_session`, the state is opened first: its parse cache spares the unchanged contact files."""
    env = os.environ if env is None else env
    result, store, _ = _files_and_state(directory, environment, env, create=False, allow_missing=False)
    assert result.state is not None and store is not None
    try:
        yield result.state, store
    finally:
        store.close()
