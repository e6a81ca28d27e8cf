"""Environments: the same campaign files planned against staging and production.

The project file may carry::

    environments:
      staging:
        providers:
          iflytek: {base_url: https://staging.example, app_key_env: STAGING_XF_KEY,
                    app_secret_env: STAGING_XF_SECRET, name_prefix: "stg-"}
        state: {backend: sqlite, path: .campaignctl/staging.db}
      prod:
        providers:
          iflytek: {base_url: https://www.xfyeta.com}
        state: {backend: postgres, dsn_env: PROD_STATE_DSN}

``--env NAME`` selects one: its ``providers.<profile>`` keys (base URL,
credential variable names, name prefix) override the base profile of that
name, and its ``state`` replaces the base state. Without ``--env`` the base
settings are used. States and locks are per environment: an environment
without a ``state`` of its own gets one derived from the base (SQLite:
``<dir of state.path>/<env>/<file name>``; PostgreSQL: schema
``campaignctl_<env>``), so two environments never share a state.

The section is checked by the JSON Schema (``project.schema.json``) and by
:func:`check_environments` (profile names, keys of the profile's type), each
problem as ``file:line: field: message``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.config.report import PhoneLists, YamlFile
from reconciler.config.yamlmarks import parse
from reconciler.errors import Problem
from reconciler.model import DesiredState, Project, ProviderProfile, SourceDigest, StateSettings

if TYPE_CHECKING:
    from reconciler.config import LoadResult

__all__ = ["CREDENTIAL_KEYS", "OVERRIDABLE", "apply_environment", "check_environments", "environment_names",
           "load_environment", "load_project_environment"]

CREDENTIAL_KEYS: dict[str, dict[str, str]] = {
    "xfyeta": {"app_key_env": "app_key", "app_secret_env": "app_secret", "token_env": "token"},
    "yccall": {"appid_env": "appid", "accesskey_env": "accesskey"},
}
# Keys an environment may override on a profile (besides its type's credential keys).
OVERRIDABLE = ("base_url", "name_prefix", "customtaskid_prefix")


def check_environments(yf: YamlFile) -> None:
    """Semantic checks of ``environments:`` (the schema checked the shape): reported to ``yf``."""
    doc = yf.doc.value if isinstance(yf.doc.value, dict) else {}
    envs = doc.get("environments")
    if not isinstance(envs, dict):
        return
    raw_profiles = doc.get("providers")
    profiles: dict[str, Any] = raw_profiles if isinstance(raw_profiles, dict) else {}
    for env_name, env in envs.items():
        if not isinstance(env, dict) or not isinstance(env.get("providers"), dict):
            continue
        for pname, override in env["providers"].items():
            path = ("environments", env_name, "providers", pname)
            base = profiles.get(pname)
            if not isinstance(base, dict):
                known = ", ".join(sorted(str(p) for p in profiles)) or "none"
                yf.error(path, f"environment {env_name!r} overrides profile {pname!r}, which is not under "
                               f"providers: (profiles: {known})")
                continue
            if not isinstance(override, dict):
                continue
            ptype = base.get("type")
            allowed = set(OVERRIDABLE) | set(CREDENTIAL_KEYS.get(str(ptype), {}))
            for key in override:
                if key not in allowed:
                    yf.error((*path, key), f"{key!r} cannot be set per environment on a {ptype} profile (allowed: "
                                           f"{', '.join(sorted(allowed))})")


def environment_names(directory: Path) -> tuple[str, ...]:
    """The environments the project file defines (empty when none, or unreadable)."""
    raw = _raw_environments(directory)
    return tuple(raw) if raw else ()


def _project_file(directory: Path) -> Path | None:
    root = Path(directory)
    if root.is_file():
        return root
    for name in ("campaignctl.yaml", "campaignctl.yml"):
        if (root / name).is_file():
            return root / name
    return None


def _raw_environments(directory: Path) -> dict[str, Any] | None:
    file = _project_file(directory)
    if file is None:
        return None
    try:
        doc, _ = parse(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError):
        return None
    if doc is None or not isinstance(doc.value, dict):
        return None
    envs = doc.value.get("environments")
    return envs if isinstance(envs, dict) else None


def load_environment(directory: Path, name: str | None,
                     cache: Mapping[str, SourceDigest] | None = None,
                     phone_lists: PhoneLists | None = None) -> LoadResult:
    """:func:`reconciler.config.load` (with its contact source ``cache`` and ``phone_lists``), then
    environment ``name``'s overrides (None: the base settings).

    An unknown name is a problem of the project file (``state`` None), like
    any other configuration error.
    """
    from reconciler.config import LoadResult, load

    result = load(directory, cache=cache, phone_lists=phone_lists)
    if name is None or result.state is None:
        return result
    envs = _raw_environments(directory) or {}
    project = result.state.project
    if name not in envs:
        known = ", ".join(sorted(envs))
        hint = f"defined: {known}" if known else "the project file defines no environments:"
        problem = Problem(str(project.file), 0, "environments", f"unknown environment {name!r} ({hint})")
        return LoadResult(None, tuple(sorted((*result.problems, problem))), result.files)
    env = envs[name] if isinstance(envs[name], dict) else {}
    return replace(result, state=apply_environment(result.state, name, env))


def load_project_environment(directory: Path, name: str | None) -> Project | None:
    """Only the project file with environment ``name``'s overrides (where that
    environment's state is, before the campaigns are read); None when the file
    is not valid or does not define ``name``."""
    from reconciler.config import load_project

    project = load_project(directory)
    if project is None or name is None:
        return project
    envs = _raw_environments(directory) or {}
    if name not in envs:
        return None
    env = envs[name] if isinstance(envs[name], dict) else {}
    return replace(project, state=_state(project, name, env.get("state")), environment=name)


def apply_environment(desired: DesiredState, name: str, env: Mapping[str, Any]) -> DesiredState:
    """``desired`` with environment ``name``'s overrides applied (``env`` is its section, checked)."""
    project = desired.project
    raw = env.get("providers")
    overrides: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    profiles: dict[str, ProviderProfile] = {}
    for pname, profile in project.providers.items():
        override = overrides.get(pname)
        profiles[pname] = _profile(profile, override) if isinstance(override, dict) else profile
    state = _state(project, name, env.get("state"))
    new_project = replace(project, providers=profiles, state=state)
    return replace(desired, project=replace(new_project, environment=name))


def _profile(profile: ProviderProfile, override: Mapping[str, Any]) -> ProviderProfile:
    options = dict(profile.options)
    credentials = dict(profile.credentials_env)
    for key, role in CREDENTIAL_KEYS.get(profile.type, {}).items():
        if isinstance(override.get(key), str):
            credentials[role] = override[key]
    base_url = profile.base_url
    if isinstance(override.get("base_url"), str):
        base_url = override["base_url"].rstrip("/")
    prefix = profile.name_prefix
    if isinstance(override.get("name_prefix"), str):
        if profile.type == "yccall" and options.get("customtaskid_prefix") == prefix:
            options["customtaskid_prefix"] = override["name_prefix"]  # it followed the base name_prefix
        prefix = override["name_prefix"]
        options["name_prefix"] = prefix
    if profile.type == "yccall" and isinstance(override.get("customtaskid_prefix"), str):
        options["customtaskid_prefix"] = override["customtaskid_prefix"]
    return replace(profile, base_url=base_url, name_prefix=prefix, credentials_env=credentials, options=options)


def _state(project: Project, name: str, raw: Any) -> StateSettings:
    base = project.state
    if isinstance(raw, dict):
        backend = raw.get("backend", "sqlite")
        if backend == "postgres":
            schema = raw.get("schema")
            return _pg(str(raw.get("dsn_env") or ""), schema if isinstance(schema, str) else f"campaignctl_{name}")
        if backend == "memory":
            return StateSettings("memory")
        path = raw.get("path")
        if isinstance(path, str) and path:
            return StateSettings("sqlite", Path(os.path.abspath(project.root / path)))
        return StateSettings("sqlite", _derived_path(project, name))
    # No state of its own: one derived from the base, never the base itself.
    if base.backend == "postgres":
        return _pg(base.dsn_env or "", f"campaignctl_{_schema_part(name)}")
    if base.backend == "memory":
        return base
    return StateSettings("sqlite", _derived_path(project, name, base.path))


def _derived_path(project: Project, name: str, base: Path | None = None) -> Path:
    base = base or Path(os.path.abspath(project.root / ".campaignctl" / "state.db"))
    return base.parent / name / base.name


def _schema_part(name: str) -> str:
    return name.lower().replace("-", "_")


def _pg(dsn_env: str, schema: str) -> StateSettings:
    return StateSettings("postgres", None, dsn_env, schema=_schema_part(schema))
