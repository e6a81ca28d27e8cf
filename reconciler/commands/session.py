"""What plan, apply, import and state share: load, connect, observe, diff.

Kept here so each command module stays a thin function: options in, one
engine call, a view out, one exit code.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.config import load
from reconciler.engine.clock import policy_clock, system_clock
from reconciler.engine.diff import diff
from reconciler.engine.inputs import Observed, Recorded, missing_state, snapshot, traits_of
from reconciler.engine.observe import observe
from reconciler.engine.plan import ActionKind, Diagnostic, Plan, PlanMeta
from reconciler.errors import ConfigError, Problem, ProviderError, StateMissing
from reconciler.model import DesiredState
from reconciler.providers import build_provider
from reconciler.providers.base import Provider
from reconciler.state import open_store
from reconciler.state.base import StateStore

__all__ = ["Session", "config_digest", "make_plan", "open_session", "open_state_only", "use_color"]

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

    @property
    def store(self) -> StateStore:
        """The state; commands that change it never run without one."""
        if self.store_or_none is None:
            raise StateMissing(self.state_missing or "the state does not exist; create it with "
                                                     "`campaignctl state init DIR`")
        return self.store_or_none

    def recorded(self, *, in_flight: bool = False) -> Recorded:
        if self.store_or_none is None:
            return missing_state(self.state_missing)
        return snapshot(self.store_or_none, in_flight=in_flight)

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        if self.store_or_none is not None:
            self.store_or_none.close()


def config_digest(files: Iterable[Path], root: Path) -> str:
    """Digest of every file the config was read from: its path relative to ``root`` and its bytes.

    Paths are resolved and taken relative to the config directory in POSIX
    form, so the digest is the same whether the directory was given as
    ``.``, relative or absolute, and wherever the checkout lives.
    """
    base = root.resolve()
    named: dict[str, Path] = {}
    for path in files:
        named[_relative_name(path.resolve(), base)] = path
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(named):
        h.update(name.encode())
        h.update(b"\0")
        try:
            h.update(named[name].read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    return h.hexdigest()


def _relative_name(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows): no relative spelling exists
        return path.as_posix()


@contextmanager
def open_session(directory: Path, env: Mapping[str, str] | None = None, *,
                 allow_missing_state: bool = False, create_state: bool = False) -> Iterator[Session]:
    """The files, the state and one provider per profile in use.

    With ``allow_missing_state`` (plan, apply) a state that does not exist
    yet is not an error: the session has no store and the plan says so.
    ``create_state`` (``state rebuild`` only: it records every contact it
    cannot prove unsent as sent or unknown) creates a missing one. Every
    other command needs the state.
    """
    env = os.environ if env is None else env
    result = load(directory)
    if result.state is None:
        raise ConfigError(result.problems)
    desired = result.state
    providers: dict[str, Provider] = {}
    store: StateStore | None = None
    missing = ""
    try:
        try:
            store = open_store(desired.project.state, env, create=create_state)
        except StateMissing as exc:
            if not allow_missing_state:
                raise
            missing = f"{exc.location} {exc.missing}" if exc.location and exc.missing else str(exc)
        used = {c.provider for c in desired.campaigns}
        if store is not None:
            used |= {r.profile for r in store.tasks() if not r.deleted}
        for name, profile in desired.project.providers.items():
            if name in used:
                providers[name] = build_provider(profile, env, timezone=desired.project.timezone)
        session = Session(directory, desired, providers, store, config_digest(result.files, directory),
                          tuple(p for p in result.problems if p.severity == "warning"), missing,
                          policy_clock(env, timezone=desired.project.timezone))
        yield session
    finally:
        for provider in providers.values():
            provider.close()
        if store is not None:
            store.close()


def make_plan(session: Session, *, prune: bool | None, allow_replace: Iterable[str],
              recorded: Recorded | None = None, observed: Observed | None = None) -> tuple[Plan, Observed]:
    """Observe, diff, then check references of what the plan would use."""
    recorded = recorded if recorded is not None else session.recorded()
    observed = observed if observed is not None else observe(session.providers)
    traits = {name: traits_of(p) for name, p in session.providers.items()}
    meta = PlanMeta(config_dir=str(session.directory.resolve()), config_digest=session.config_digest)
    plan = diff(session.desired, observed, recorded, traits, now=datetime.now(UTC), prune=prune,
                allow_replace=allow_replace, meta=meta, at=session.clock())
    extra: list[Diagnostic] = []
    by_profile: dict[str, set[str]] = {}
    for action in plan.actions:
        if action.kind in NEEDS_CHECK:
            by_profile.setdefault(action.profile, set()).add(action.campaign)
    for profile, names in sorted(by_profile.items()):
        provider = session.providers[profile]
        campaigns = [c for c in session.desired.campaigns if c.name in names]
        try:
            problems = provider.check(campaigns)
        except ProviderError as exc:
            extra.append(Diagnostic("error", "", f"cannot check references on profile {profile!r}: {exc}"))
            continue
        for p in problems:
            owner = next((c.name for c in campaigns if c.mark.file == p.file), "")
            extra.append(Diagnostic(p.severity, owner, f"{p.field}: {p.message}" if p.field else p.message,
                                    p.file, p.line))
    for w in session.warnings:
        extra.append(Diagnostic("warning", "", f"{w.field}: {w.message}" if w.field else w.message, w.file, w.line))
    if extra:
        plan = replace(plan, diagnostics=tuple(plan.diagnostics) + tuple(extra))
    return plan, observed


def use_color(fmt: str) -> bool:
    """Colour only for the text view on a terminal."""
    return fmt == "text" and sys.stdout.isatty()


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@contextmanager
def open_state_only(directory: Path, env: Mapping[str, str] | None = None) -> Iterator[tuple[DesiredState,
                                                                                             StateStore]]:
    """The files and the state store, without any provider (no credentials needed)."""
    env = os.environ if env is None else env
    result = load(directory)
    if result.state is None:
        raise ConfigError(result.problems)
    store = open_store(result.state.project.state, env)
    try:
        yield result.state, store
    finally:
        store.close()
