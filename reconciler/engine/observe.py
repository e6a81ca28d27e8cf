"""Observe the platforms: one bulk, paginated listing per provider profile."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from reconciler.engine.inputs import Observed
from reconciler.errors import ProviderError
from reconciler.providers.base import ObservedTask, Provider

__all__ = ["observe"]


def observe(providers: Mapping[str, Provider]) -> Observed:
    """List every owned task of every profile, profiles in parallel.

    A profile that cannot be listed is reported in ``Observed.errors``;
    the diff turns that into an error for its campaigns only.
    """
    if not providers:
        return Observed()

    def one(provider: Provider) -> tuple[str, tuple[ObservedTask, ...] | None, str]:
        try:
            return provider.profile.name, tuple(provider.list_tasks()), ""
        except ProviderError as exc:
            return provider.profile.name, None, str(exc)

    tasks: dict[str, tuple[ObservedTask, ...]] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=min(8, len(providers))) as pool:
        for name, listed, error in pool.map(one, providers.values()):
            if listed is None:
                errors[name] = error
            else:
                tasks[name] = listed
    return Observed(tasks=tasks, errors=errors)
