"""Provider clients: one per vendor platform, all speaking through ``providers.http``.

``build_provider(profile, env, *, transport=None, timezone="Asia/Shanghai")``
reads the profile's credentials from ``env`` (``profile.credentials_env``
maps a role to an environment variable NAME) into :class:`Secret` values and
constructs the client for ``profile.type``, imported lazily::

    XfyetaProvider(profile, credentials={"app_key": Secret, "app_secret": Secret} | {"token": Secret},
                   transport=transport, timezone=timezone)
    YccallProvider(profile, credentials={"appid": Secret, "accesskey": Secret},
                   transport=transport, timezone=timezone)

A missing or empty variable is an :class:`AuthError` naming the variable,
never a value. xfyeta takes ``app_key`` + ``app_secret`` (a token is fetched
and refreshed) when both are configured and set, else a ready ``token``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from reconciler.errors import AuthError, ConfigError, Problem, ProviderError
from reconciler.model import ProviderProfile, Secret
from reconciler.providers.base import Provider
from reconciler.providers.http import CallEvent

__all__ = ["auth_error", "build_provider", "read_credentials"]


def auth_error(message: str, profile: str) -> AuthError:
    """An ``AuthError`` raised before any vendor answered (no "vendor error" prefix in its text)."""
    err = AuthError(message, vendor_code="", profile=profile)
    ProviderError.__init__(err, message, profile=profile)
    return err


def _missing(profile: ProviderProfile, names: list[str], why: str) -> AuthError:
    listed = ", ".join(f"${n}" for n in names)
    return auth_error(f"environment variable(s) {listed} not set ({why})", profile.name)


def read_credentials(profile: ProviderProfile, env: Mapping[str, str]) -> dict[str, Secret]:
    """The credentials this profile needs, by role, read from ``env``."""
    roles = profile.credentials_env

    def take(*wanted: str) -> dict[str, Secret] | None:
        if not all(roles.get(role) for role in wanted):
            return None
        missing = [roles[role] for role in wanted if not env.get(roles[role])]
        if missing:
            raise _missing(profile, missing, f"credentials of {profile.type} profile {profile.name!r}")
        return {role: Secret(env[roles[role]]) for role in wanted}

    if profile.type == "xfyeta":
        has_pair = bool(roles.get("app_key") and roles.get("app_secret"))
        has_token = bool(roles.get("token"))
        if has_pair and has_token:  # both configured: use whichever is set, the refreshable pair first
            pair_set = all(env.get(roles[r]) for r in ("app_key", "app_secret"))
            if pair_set or not env.get(roles["token"]):
                return take("app_key", "app_secret") or {}
            return take("token") or {}
        found = take("app_key", "app_secret") if has_pair else take("token") if has_token else None
        if found is None:
            raise auth_error("no credentials configured: set app_key_env and app_secret_env, or token_env",
                             profile.name)
        return found
    if profile.type == "yccall":
        found = take("appid", "accesskey")
        if found is None:
            raise auth_error("no credentials configured: set appid_env and accesskey_env", profile.name)
        return found
    mark = profile.mark
    raise ConfigError([Problem(mark.file, mark.line, "type", f"unknown provider type {profile.type!r}")])


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
    if profile.type == "xfyeta":
        from reconciler.providers.xfyeta import XfyetaProvider

        return XfyetaProvider(profile, credentials=credentials, transport=transport, timezone=zone, on_event=on_event)
    from reconciler.providers.yccall import YccallProvider  # type: ignore[import-not-found,unused-ignore]

    provider: Provider = YccallProvider(profile, credentials=credentials, transport=transport, timezone=zone,
                                        on_event=on_event)
    return provider
