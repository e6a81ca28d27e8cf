"""The project file: timezone, provider profiles (defaults filled), state store.

Profiles get every option of their type with its default, from the vendor's
spec (``reconciler.vendors``: the one source of defaults, credential roles
and profile rules). Credentials are environment variable *names* only.
"""

from __future__ import annotations

import os
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import vendors
from reconciler.config.policy import build_policy
from reconciler.config.report import YamlFile
from reconciler.model import Mark, Project, ProviderProfile, ResultsSettings, StateSettings
from reconciler.vendors.base import COMMON_DEFAULTS

__all__ = ["DEFAULT_TIMEZONE", "ProjectResult", "build_project", "valid_timezone"]

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_STATE_PATH = ".campaignctl/state.db"

@dataclass
class ProjectResult:
    project: Project
    broken_profiles: set[str] = field(default_factory=set)  # defined, but too broken to build
    files: list[Path] = field(default_factory=list)  # files read besides the YAML (policy, suppress sources)


def valid_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def build_project(yf: YamlFile, root: Path, file: Path) -> ProjectResult:
    """The project, best effort: faults are reported to ``yf`` and defaults used."""
    doc: dict[str, Any] = yf.doc.value if isinstance(yf.doc.value, dict) else {}
    tz = doc.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(tz, str) or not yf.usable(("timezone",)):
        tz = DEFAULT_TIMEZONE
    elif not valid_timezone(tz):
        yf.error(("timezone",), f"unknown timezone {tz!r}; use an IANA name like Asia/Shanghai")
        tz = DEFAULT_TIMEZONE
    profiles: dict[str, ProviderProfile] = {}
    broken: set[str] = set()
    raw_profiles = doc.get("providers")
    if isinstance(raw_profiles, dict):
        for name, raw in raw_profiles.items():
            profile = _profile(yf, name, raw, tz)
            if profile is None:
                broken.add(name)
            else:
                profiles[name] = profile
    prune = doc.get("prune", False)
    policy = build_policy(yf, doc, tz, raw_profiles if isinstance(raw_profiles, dict) else ())
    return ProjectResult(
        Project(
            root=root,
            file=file,
            version=1,
            timezone=tz,
            providers=profiles,
            state=_state(yf, doc.get("state"), root),
            prune=prune if isinstance(prune, bool) else False,
            watch_new_contacts=_watch_default(doc.get("watch")),
            results=_results(doc.get("results")),
            policy=policy.policy,
        ),
        broken,
        policy.files,
    )


def _watch_default(raw: Any) -> bool:
    """``watch.apply_new_contacts`` of the project file (default false)."""
    return isinstance(raw, dict) and raw.get("apply_new_contacts") is True


def _results(raw: Any) -> ResultsSettings:
    """``results:`` (the schema checked its shape; anything else falls back to the defaults)."""
    if not isinstance(raw, dict):
        return ResultsSettings()
    secret, listen = raw.get("secret_env"), raw.get("listen")
    return ResultsSettings(secret if isinstance(secret, str) else None, listen if isinstance(listen, str) else None)


def _state(yf: YamlFile, raw: Any, root: Path) -> StateSettings:
    if not isinstance(raw, dict):
        raw = {}
    backend = raw.get("backend", "sqlite")
    if backend not in ("sqlite", "postgres", "memory"):
        backend = "sqlite"
    if backend == "postgres":
        dsn = raw.get("dsn_env")
        schema = raw.get("schema")
        return StateSettings("postgres", None, dsn if isinstance(dsn, str) else None,
                             schema=schema if isinstance(schema, str) and schema else "campaignctl")
    if backend == "memory":
        return StateSettings("memory")
    path = raw.get("path", DEFAULT_STATE_PATH)
    if not isinstance(path, str) or not path:
        path = DEFAULT_STATE_PATH
    return StateSettings("sqlite", Path(os.path.abspath(root / path)))


def _profile(yf: YamlFile, name: str, raw: Any, project_tz: str) -> ProviderProfile | None:
    path = ("providers", name)
    if not isinstance(raw, dict):
        return None
    try:
        spec = vendors.get(raw.get("type"))
    except vendors.UnknownVendor:
        return None  # the schema reported it
    # A faulty base_url is reported, and the profile still built so that the
    # campaigns using it get their provider-specific checks.
    raw_url = raw.get("base_url")
    base_url = raw_url if isinstance(raw_url, str) else ""
    if isinstance(raw_url, str) and yf.usable((*path, "base_url")):
        base_url = _check_base_url(yf, (*path, "base_url"), raw_url, spec) or raw_url
    tz = raw.get("timezone", project_tz)
    if not isinstance(tz, str) or not yf.usable((*path, "timezone")):
        tz = project_tz
    elif not valid_timezone(tz):
        yf.error((*path, "timezone"), f"unknown timezone {tz!r}; use an IANA name like Asia/Shanghai")
        tz = project_tz
    given = {key: raw[key] for key in (*COMMON_DEFAULTS, *spec.defaults) if key in raw and yf.usable((*path, key))}
    options = spec.options(given)
    options["timezone"] = tz
    spec.check_profile(yf, path, options)
    credentials = {role: raw[key] for key, role in spec.credential_keys().items() if isinstance(raw.get(key), str)}
    prefix = options["name_prefix"]
    return ProviderProfile(
        name=name,
        type=spec.type,
        base_url=base_url,
        name_prefix=prefix if isinstance(prefix, str) else COMMON_DEFAULTS["name_prefix"],
        credentials_env=credentials,
        options=options,
        mark=Mark(yf.file, yf.line(path)),
    )


def _check_base_url(yf: YamlFile, path: tuple[str, ...], url: str, spec: vendors.VendorSpec) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        yf.error(path, f"not a valid URL: {exc}")
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        yf.error(path, "must be an http:// or https:// URL of the vendor host")
        return None
    if parts.query or parts.fragment:
        yf.error(path, "must not carry a query string or fragment")
        return None
    problem = spec.base_url_problem(parts.path)
    if problem is not None:
        yf.error(path, problem)
        return None
    return url.rstrip("/")
