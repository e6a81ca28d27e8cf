"""What every vendor spec is made of: the shape of :class:`VendorSpec`, and what vendors share.

A vendor spec is the one place that knows a vendor's type name, credential
roles, option defaults, campaign rules, settings block, naming rule,
capabilities and limits. It is pure: no I/O, no HTTP, and it imports only
``reconciler.model`` and ``reconciler.errors`` (the layers below it). The
config loader, the providers, the engine, the CLI and the schema generator
read it through the registry in ``reconciler.vendors``.

Campaign and profile rules report problems through :class:`Rules`, a small
protocol the config loader's ``YamlFile`` satisfies, so vendors never import
``reconciler.config``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from reconciler.model import ProviderProfile, VendorSettings

__all__ = [
    "COMMON_DEFAULTS",
    "Capabilities",
    "Limits",
    "Path",
    "Rules",
    "VendorSpec",
    "forbid",
    "require",
    "sub",
    "task_name",
    "wave_of",
]

#: A location in a YAML document: keys and list indexes from the root.
Path = tuple[str | int, ...]

#: Options every profile has, whatever its type (``/profile-options``).
COMMON_DEFAULTS: Mapping[str, Any] = {
    "name_prefix": "gitops-",
    "connect_timeout": 5,
    "read_timeout": 30,
    "retries": 4,
    "rate_limit": None,
    "listing_parallelism": 4,  # listing pages in flight at once (after the first, which gives the total)
    "settle_window": None,  # None: derived from read_timeout (engine.settle.settle_window)
}


@dataclass(frozen=True)
class Capabilities:
    """What a vendor platform can do; the diff plans by these, never by the vendor's name."""

    direct_callout: bool  # mode: direct supported
    add_after_start: bool  # numbers accepted by a started (running/paused) task
    remove_contacts: bool  # numbers can be removed from a task
    delete_is_end: bool  # "delete" ends the task; it stays listed as finished
    create_with_contacts: bool  # create must carry the first contacts (yccall telphone)
    windows: bool  # time-of-day dialing windows supported


@dataclass(frozen=True)
class Limits:
    add_batch: int  # rows per insert/append call (xfyeta 50, yccall 10,000)
    create_batch: int  # rows carried by create (0 when create takes none)
    callout_batch: int  # rows per direct callout (xfyeta 50; 0 = unsupported)
    list_page: int  # rows per listing page
    max_contacts_per_task: int | None = None  # None: not documented


class Rules(Protocol):
    """Where a vendor's rules report problems (the config loader's ``YamlFile`` is one).

    ``path`` locates the offending value; ``line`` overrides the line the
    problem is reported at (default: the line of the key at ``path``).
    """

    def error(self, path: Path, message: str, *, line: int | None = None) -> None: ...

    def usable(self, path: Path) -> bool:
        """False when the schema already reported the value at ``path`` (one fault, one message)."""
        ...

    def key_line(self, path: Path) -> int: ...

    def line(self, path: Path) -> int: ...

    def text(self, path: Path, value: Any) -> str:
        """A scalar as written in the file (keeps leading zeros of numbers written unquoted)."""
        ...


def sub(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``raw[key]`` when it is a mapping, else an empty one."""
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def require(rules: Rules, path: Path, raw: Mapping[str, Any], key: str, why: str) -> None:
    if key not in raw:
        rules.error((*path, key), f"missing {key!r}: {why}", line=rules.key_line(path))


def forbid(rules: Rules, path: Path, raw: Mapping[str, Any], key: str, why: str) -> None:
    if key in raw:
        rules.error((*path, key), f"{key!r} is not allowed here: {why}")


# --- the naming rule -------------------------------------------------------------------------------


def task_name(prefix: str, campaign: str, wave: int) -> str:
    """``<prefix><campaign>`` for wave 1, ``<prefix><campaign>~<wave>`` from wave 2 (DESIGN sections 3, 4)."""
    base = f"{prefix}{campaign}"
    return base if wave <= 1 else f"{base}~{wave}"


def wave_of(remote_name: str, prefix: str, campaign: str) -> int | None:
    """The wave :func:`task_name` gave ``remote_name`` for this campaign, else None (the inverse)."""
    base = f"{prefix}{campaign}"
    if remote_name == base:
        return 1
    head, sep, tail = remote_name.rpartition("~")
    if sep and head == base and tail.isascii() and tail.isdigit() and int(tail) >= 2:
        return int(tail)
    return None


class VendorSpec:
    """One vendor, as every layer needs to know it. Subclass per vendor; ``SPEC`` is its instance.

    Class attributes a vendor sets:

    - ``type``: the profile ``type:`` (also the module name in ``vendors/``,
      ``providers/`` and ``emulator/``); ``title``: how the schema names it.
    - ``credentials``: credential role sets, preferred first; a profile names
      the environment variable of role ``r`` with the key ``r_env``.
    - ``credential_help``: the schema description of each ``r_env`` key.
    - ``defaults``: every vendor option with its default (the one source:
      the config loader and the provider both read it through :meth:`options`).
    - ``option_schemas``: the JSON Schema of each option in ``defaults``
      (a scalar default is added to it by the schema generator).
    - ``capabilities``; ``settings_key``: the campaign block holding the
      vendor's own settings (``yccall:``), or None.
    """

    type: ClassVar[str]
    title: ClassVar[str]
    credentials: ClassVar[tuple[tuple[str, ...], ...]]
    credential_help: ClassVar[Mapping[str, str]]
    defaults: ClassVar[Mapping[str, Any]]
    option_schemas: ClassVar[Mapping[str, Mapping[str, Any]]]
    capabilities: ClassVar[Capabilities]
    settings_key: ClassVar[str | None] = None

    def __repr__(self) -> str:
        return f"<vendor {self.type}>"

    # --- profile -------------------------------------------------------------------------------------

    def credential_keys(self) -> dict[str, str]:
        """Profile key → credential role, e.g. ``{"appid_env": "appid", ...}``."""
        return {f"{role}_env": role for roles in self.credentials for role in roles}

    def options(self, given: Mapping[str, Any], name_prefix: str = "") -> dict[str, Any]:
        """Every option of this type: ``given`` (a None value means "the default") over the defaults."""
        out: dict[str, Any] = copy.deepcopy({**COMMON_DEFAULTS, **self.defaults})
        out.update({k: v for k, v in given.items() if v is not None})
        if name_prefix:
            out["name_prefix"] = name_prefix
        self.derive(out)
        return out

    def derive(self, options: dict[str, Any]) -> None:
        """Fill options whose default depends on other options (in place)."""

    def check_profile(self, rules: Rules, path: Path, options: dict[str, Any]) -> None:
        """Check and normalise a profile's options (in place); faults go to ``rules``."""

    def base_url_problem(self, url_path: str) -> str | None:
        """What is wrong with the path part of a profile's ``base_url``, or None."""
        return None

    def limits(self, options: Mapping[str, Any]) -> Limits:
        raise NotImplementedError

    # --- campaigns -----------------------------------------------------------------------------------

    def check_campaign(self, rules: Rules, path: Path, raw: Mapping[str, Any], *, mode: str,
                       profile: ProviderProfile) -> None:
        """The keys this vendor requires or cannot honour, for one campaign entry ``raw``."""

    def check_contacts(self, rules: Rules, path: Path, count: int, profile: ProviderProfile) -> None:
        """Limits on the number of contacts of one campaign."""

    def settings(self, rules: Rules, path: Path, raw: Mapping[str, Any]) -> VendorSettings | None:
        """The vendor's own settings from the campaign's ``settings_key`` block (None when it has none)."""
        return None

    def foreign_key_hint(self, key: str) -> str:
        """Added to the message when a campaign of this vendor uses ``key``, a key of another vendor."""
        return ""

    # --- naming --------------------------------------------------------------------------------------

    def task_name(self, prefix: str, campaign: str, wave: int) -> str:
        return task_name(prefix, campaign, wave)

    def wave_of(self, remote_name: str, prefix: str, campaign: str) -> int | None:
        return wave_of(remote_name, prefix, campaign)

    def suffix_naming(self) -> bool:
        """True when this vendor keeps the shared naming rule (:func:`task_name`, :func:`wave_of`:
        ``<prefix><campaign>`` then ``~<wave>``), so a campaign's tasks can be found by name in an
        index of the listing; a vendor with a rule of its own is asked about every listed task."""
        return type(self).task_name is VendorSpec.task_name and type(self).wave_of is VendorSpec.wave_of

    # --- schema --------------------------------------------------------------------------------------

    def profile_schema(self) -> dict[str, Any]:
        """Constraints of a profile of this type beyond its properties (required credentials...)."""
        sets = [[f"{role}_env" for role in roles] for roles in self.credentials]
        if len(sets) == 1:
            return {"required": sets[0]}
        dependent = {key: [k for k in keys if k != key] for keys in sets if len(keys) > 1 for key in keys}
        first, *rest = (" and ".join(keys) for keys in sets)
        return {
            **({"dependentRequired": dependent} if dependent else {}),
            "anyOf": [{"required": keys} for keys in sets],
            "errorMessage": {"anyOf": f"{self.type} credentials missing: give {first} (or {' or '.join(rest)})"},
        }

    def campaign_properties(self) -> dict[str, Any]:
        """Top-level campaign keys this vendor brings (the JSON Schema of each)."""
        return {}
