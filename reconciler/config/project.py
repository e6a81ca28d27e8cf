"""The project file: timezone, provider profiles (defaults filled), state store.

Profiles get every option of their type with its default
(``/profile-options``), so providers read ``profile.options[key]`` without
defaults of their own. Credentials are environment variable *names* only.
"""

from __future__ import annotations

import os
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.policy import build_policy
from reconciler.config.report import YamlFile
from reconciler.model import Mark, Project, ProviderProfile, StateSettings

__all__ = ["DEFAULT_TIMEZONE", "ProjectResult", "build_project", "valid_timezone"]

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_STATE_PATH = ".campaignctl/state.db"

COMMON_DEFAULTS: dict[str, Any] = {
    "name_prefix": "gitops-",
    "connect_timeout": 5,
    "read_timeout": 30,
    "retries": 4,
    "rate_limit": None,
    "settle_window": None,  # None: derived from read_timeout (engine.settle.settle_window)
}
XFYETA_DEFAULTS: dict[str, Any] = {
    "line_separator": ";",
    "token_ttl": 3600,
    "refresh_margin": 300,
    "check_references": True,
    "max_contacts_per_task": None,
    "list_deleted": True,
}
YCCALL_DEFAULTS: dict[str, Any] = {
    "assign_types": {"extension": 1, "queue": 2, "group": 3},
    "status_map": {1025: "not-started", 1026: "running", 1027: "paused", 1028: "finished"},
    "list_status_filter": {"not-started": 0, "running": 1, "paused": 2, "finished": 3},
    "body_encoding": "form",
    "page_size": 100,
    "max_numbers_per_call": 10000,
    "phone_as_number": False,
}
CREDENTIALS = {
    "xfyeta": {"app_key_env": "app_key", "app_secret_env": "app_secret", "token_env": "token"},
    "yccall": {"appid_env": "appid", "accesskey_env": "accesskey"},
}


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
            policy=policy.policy,
        ),
        broken,
        policy.files,
    )


def _state(yf: YamlFile, raw: Any, root: Path) -> StateSettings:
    if not isinstance(raw, dict):
        raw = {}
    backend = raw.get("backend", "sqlite")
    if backend not in ("sqlite", "postgres", "memory"):
        backend = "sqlite"
    if backend == "postgres":
        dsn = raw.get("dsn_env")
        return StateSettings("postgres", None, dsn if isinstance(dsn, str) else None)
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
    ptype = raw.get("type")
    if ptype not in ("xfyeta", "yccall"):
        return None
    # A faulty base_url is reported, and the profile still built so that the
    # campaigns using it get their provider-specific checks.
    raw_url = raw.get("base_url")
    base_url = raw_url if isinstance(raw_url, str) else ""
    if isinstance(raw_url, str) and yf.usable((*path, "base_url")):
        base_url = _check_base_url(yf, (*path, "base_url"), raw_url, ptype) or raw_url
    tz = raw.get("timezone", project_tz)
    if not isinstance(tz, str) or not yf.usable((*path, "timezone")):
        tz = project_tz
    elif not valid_timezone(tz):
        yf.error((*path, "timezone"), f"unknown timezone {tz!r}; use an IANA name like Asia/Shanghai")
        tz = project_tz
    defaults = {**COMMON_DEFAULTS, **(XFYETA_DEFAULTS if ptype == "xfyeta" else YCCALL_DEFAULTS)}
    options: dict[str, Any] = {}
    for key, default in defaults.items():
        value = raw.get(key, default)
        if key in raw and not yf.usable((*path, key)):
            value = default
        options[key] = value
    options["timezone"] = tz
    if ptype == "yccall":
        options["customtaskid_prefix"] = raw.get("customtaskid_prefix", options["name_prefix"])
        status_map = options["status_map"]
        if isinstance(status_map, dict):
            options["status_map"] = {int(k): v for k, v in status_map.items() if str(k).isdigit()}
    else:
        ttl, margin = options["token_ttl"], options["refresh_margin"]
        if isinstance(ttl, int) and isinstance(margin, int) and margin >= ttl:
            yf.error((*path, "refresh_margin"), f"must be less than token_ttl ({ttl} s), got {margin}")
    credentials = {role: raw[key] for key, role in CREDENTIALS[ptype].items() if isinstance(raw.get(key), str)}
    prefix = options["name_prefix"]
    return ProviderProfile(
        name=name,
        type=ptype,
        base_url=base_url,
        name_prefix=prefix if isinstance(prefix, str) else "gitops-",
        credentials_env=credentials,
        options=options,
        mark=Mark(yf.file, yf.line(path)),
    )


def _check_base_url(yf: YamlFile, path: tuple[str, ...], url: str, ptype: str) -> str | None:
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
    if ptype == "xfyeta" and "/openapi" in parts.path:
        yf.error(path, "must be the host root (e.g. https://www.xfyeta.com): the client adds the /openapi/... paths")
        return None
    return url.rstrip("/")
