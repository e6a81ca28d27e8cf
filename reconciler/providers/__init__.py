"""Provider clients: one per vendor platform, all speaking through ``providers.http``.

``build_provider(profile, env, *, transport=None, timezone="Asia/Shanghai")``
reads the profile's credentials from ``env`` (``profile.credentials_env``
maps a role to an environment variable NAME) into :class:`Secret` values and
constructs the client of ``profile.type``: the class ``CLIENT`` of the module
``reconciler.providers.<type>``, imported lazily. Every client has the shape
of :class:`~reconciler.providers.client.VendorClient`::

    CLIENT(profile, *, credentials={role: Secret, ...}, transport=transport, timezone=timezone)

The vendor spec (``reconciler.vendors``) says which credential roles a type
takes, in sets preferred in order (xfyeta: ``app_key`` + ``app_secret``, from
which a token is fetched and refreshed, else a ready ``token``; yccall:
``appid`` + ``accesskey``): the first set that is configured and set in the
environment is used. A missing or empty variable is an :class:`AuthError`
naming the variable, never a value.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from reconciler import vendors
from reconciler.errors import AuthError, ConfigError, Problem
from reconciler.model import ProviderProfile, Secret
from reconciler.providers.base import Provider

if TYPE_CHECKING:  # httpx is imported with the first client: offline commands (validate) never load it
    import httpx

    from reconciler.providers.http import CallEvent

__all__ = ["build_provider", "client_class", "read_credentials"]


def _spec(profile: ProviderProfile) -> vendors.VendorSpec:
    try:
        return vendors.get(profile.type)
    except vendors.UnknownVendor as exc:
        mark = profile.mark
        raise ConfigError([Problem(mark.file, mark.line, "type", str(exc))]) from None


def read_credentials(profile: ProviderProfile, env: Mapping[str, str]) -> dict[str, Secret]:
    """The credentials this profile needs, by role, read from ``env``."""
    spec = _spec(profile)
    roles = profile.credentials_env
    configured = [role_set for role_set in spec.credentials if all(roles.get(role) for role in role_set)]
    if not configured:
        wanted = ", or ".join(" and ".join(f"{role}_env" for role in role_set) for role_set in spec.credentials)
        raise AuthError(f"no credentials configured: set {wanted}", profile=profile.name)
    chosen = next((s for s in configured if all(env.get(roles[role]) for role in s)), configured[0])
    missing = [roles[role] for role in chosen if not env.get(roles[role])]
    if missing:
        listed = ", ".join(f"${n}" for n in missing)
        raise AuthError(f"environment variable(s) {listed} not set (credentials of {profile.type} profile "
                        f"{profile.name!r})", profile=profile.name)
    return {role: Secret(env[roles[role]]) for role in chosen}


def client_class(type_: str) -> Callable[..., Provider]:
    """The client class of a vendor type (``CLIENT`` in ``reconciler.providers.<type>``)."""
    module = importlib.import_module(f"{__name__}.{vendors.get(type_).type}")
    return cast(Callable[..., Provider], module.CLIENT)


def build_provider(
    profile: ProviderProfile,
    env: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
    timezone: str = "Asia/Shanghai",
    on_event: Callable[[CallEvent], None] | None = None,
) -> Provider:
    """The provider client for ``profile``, credentials read from ``env``; ``on_event`` sees every attempt."""
    credentials = read_credentials(profile, env)
    zone = str(profile.options.get("timezone") or timezone)
    factory = client_class(profile.type)
    return factory(profile, credentials=credentials, transport=transport, timezone=zone, on_event=on_event)
