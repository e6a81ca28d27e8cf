"""Frozen desired-side values: what the files say, validated and normalised.

Built by ``reconciler.config`` and read by the engine and the providers. No
I/O here. Secrets are never stored in these values: a profile names the
environment variables that hold them, and providers read those at run time
into :class:`Secret` values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from reconciler.policy import CampaignPolicy, Policy

from reconciler.errors import Problem

__all__ = [
    "ContactRow",
    "Contacts",
    "DesiredCampaign",
    "DesiredState",
    "Lifecycle",
    "Mark",
    "PhoneList",
    "Project",
    "ProviderProfile",
    "Recall",
    "Schedule",
    "Secret",
    "SharedNumbers",
    "SourceDigest",
    "StateSettings",
    "TimeWindow",
    "VendorSettings",
    "Voice",
    "canonical_json",
    "digest",
]

CampaignMode = Literal["task", "direct"]
DesiredRunState = Literal["running", "paused", "absent"]


def canonical_json(value: Any) -> str:
    """One JSON spelling per value, so fingerprints are stable across runs."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(text: str, size: int = 16) -> str:
    """Short stable hex digest used for fingerprints and derived ids."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).hexdigest()


class Secret:
    """A credential read from the environment; masked in every repr/str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, order=True)
class Mark:
    """Where a value was written: file path (as given) and 1-based line."""

    file: str
    line: int = 0


@dataclass(frozen=True)
class ProviderProfile:
    """One ``providers:`` entry of the project file.

    ``credentials_env`` maps a credential role (``app_key``, ``app_secret``,
    ``token``, ``appid``, ``accesskey``) to the *name* of the environment
    variable holding it. ``options`` holds the provider-specific settings
    with their defaults filled in by the config loader (line separator,
    status maps, assign-type map, timeouts, retries, rate limit, ...).
    """

    name: str
    type: str  # a vendor type of the registry (reconciler.vendors.types())
    base_url: str
    name_prefix: str = "gitops-"
    credentials_env: Mapping[str, str] = field(default_factory=dict, hash=False)
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    mark: Mark = Mark("")


@dataclass(frozen=True)
class StateSettings:
    backend: Literal["sqlite", "postgres", "memory"] = "sqlite"
    path: Path | None = None  # sqlite: absolute path (resolved against the project dir)
    dsn_env: str | None = None  # postgres: name of the env var holding the DSN
    schema: str = "campaignctl"  # postgres: the schema holding the tables (one per environment)


@dataclass(frozen=True)
class ResultsSettings:
    """``results:`` of the project file: the push receiver (``campaignctl results serve``).

    ``secret_env`` names the environment variable holding the shared secret a
    push must carry (in its URL path or the ``X-Campaignctl-Secret`` header);
    ``listen`` is the default ``HOST:PORT`` (loopback unless said otherwise).
    """

    secret_env: str | None = None
    listen: str | None = None


@dataclass(frozen=True)
class Project:
    root: Path  # the config directory
    file: Path  # its campaignctl.yaml
    version: int
    timezone: str  # IANA name, e.g. Asia/Shanghai
    providers: Mapping[str, ProviderProfile] = field(hash=False)
    state: StateSettings
    prune: bool = False
    environment: str = ""  # the --env the settings were taken from ("" = the base settings)
    watch_new_contacts: bool = False  # `watch:` may insert new contacts (campaigns may override)
    results: ResultsSettings = ResultsSettings()
    policy: Policy | None = field(default=None, hash=False)  # dialing policy (reconciler.policy); None: none


@dataclass(frozen=True, order=True)
class TimeWindow:
    start: time
    end: time

    def vendor(self) -> str:
        """``HH:MM:SS-HH:MM:SS`` as xfyeta spells a time range."""
        return f"{self.start:%H:%M:%S}-{self.end:%H:%M:%S}"


@dataclass(frozen=True)
class Schedule:
    begin: datetime | None = None  # timezone-aware
    end: datetime | None = None  # timezone-aware
    windows: tuple[TimeWindow, ...] = ()


@dataclass(frozen=True)
class Recall:
    count: int = 0  # extra rounds for unanswered numbers (xfyeta 0..3)
    wait: int = 0  # seconds between rounds
    mode: Literal["unanswered", "all"] = "unanswered"  # yccall only


@dataclass(frozen=True)
class Voice:
    code: str | None = None
    speed: int | None = None  # -500..500, direct mode only


@dataclass(frozen=True)
class Lifecycle:
    prevent_destroy: bool = False
    allow_replace: bool = False


class VendorSettings(Protocol):
    """A vendor's own campaign settings (its block in the campaign file, e.g. ``yccall:``).

    Defined by the vendor spec (``reconciler.vendors.<type>``); frozen and
    hashable. ``key`` names the block; ``settings()`` is what the settings
    fingerprint covers (plain JSON values).
    """

    @property
    def key(self) -> str: ...

    def settings(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One contact, its values in the campaign's column order.

    ``phone`` is the normalised number (also present in ``values`` at the
    phone column). A contact's identity within a campaign is its phone:
    that is what "never dial twice" is about. ``fingerprint`` covers every
    value, so a changed name on an already-sent contact can be reported.
    """

    phone: str
    values: tuple[str, ...]
    source: str  # file the row came from (or the campaign file for inline rows)
    row: int  # 1-based row number in that source (CSV: header is row 1)

    @property
    def fingerprint(self) -> str:
        return digest("\x1f".join(self.values))


@dataclass(frozen=True)
class Contacts:
    columns: tuple[str, ...]
    phone_column: str
    # A tuple, or the loader's compact ``ContactTable`` (a Sequence that builds
    # ContactRow values on access, so a million rows fit in little memory).
    rows: Sequence[ContactRow] = field(default=(), repr=False)
    after_start: Literal["new_wave", "error"] = "new_wave"

    @property
    def phone_index(self) -> int:
        return self.columns.index(self.phone_column)


@dataclass(frozen=True)
class DesiredCampaign:
    """One campaign as the files describe it, validated and normalised."""

    name: str
    provider: str  # profile name
    provider_type: str  # the profile's vendor type
    mode: CampaignMode
    contacts: Contacts
    robot: str | None = None  # xfyeta robot_id
    lines: tuple[str, ...] = ()  # xfyeta line_num values
    voice: Voice | None = None
    schedule: Schedule = Schedule()
    recall: Recall = Recall()
    turbo: bool = False
    state: DesiredRunState = "running"
    lifecycle: Lifecycle = Lifecycle()
    vendor: VendorSettings | None = None  # the vendor's own block (yccall: ...), built by its spec
    mark: Mark = Mark("")
    # `watch.apply_new_contacts`: may `campaignctl watch` insert new contacts (None: the project's default)?
    # Not a setting of the remote task: no part of settings() or the fingerprint.
    watch_new_contacts: bool | None = None
    policy: CampaignPolicy | None = None  # narrows the project's; not a platform setting

    def settings(self) -> dict[str, Any]:
        """The settings a platform fixes at create time (no update call exists).

        A change in any of them means the remote task must be replaced.
        Contacts, run state and lifecycle are not settings.
        """
        sched = self.schedule
        out: dict[str, Any] = {
            "provider": self.provider,
            "mode": self.mode,
            "robot": self.robot,
            "lines": list(self.lines),
            "voice": None
            if self.voice is None
            else {"code": self.voice.code, "speed": self.voice.speed},
            "begin": sched.begin.isoformat() if sched.begin else None,
            "end": sched.end.isoformat() if sched.end else None,
            "windows": [w.vendor() for w in sched.windows],
            "recall": {"count": self.recall.count, "wait": self.recall.wait, "mode": self.recall.mode},
            "turbo": self.turbo,
            "columns": list(self.contacts.columns),
        }
        if self.vendor is not None:
            out[self.vendor.key] = self.vendor.settings()
        return out

    def settings_fingerprint(self) -> str:
        return digest(canonical_json(self.settings()))

    @property
    def may_send(self) -> bool:
        """Whether a plan may send this campaign's numbers: in any state but absent (a paused task is
        created and filled too; it dials once it runs)."""
        return self.state != "absent"


@dataclass(frozen=True)
class SharedNumbers:
    """The numbers in the contact tables of more than one of some campaigns, as the load's check across
    campaigns found them (``config.policy.check_campaigns``: the running ones, and the others that may
    send when their tables are parsed or were found apart before).

    ``tables``: each campaign compared, by name, with its table's digest (``config.table.table_digest``);
    ``numbers``: every number in two or more of those tables (do-not-call numbers included). A frequency cap
    asks what other campaigns of the plan send only for these (``engine.policy.PlanPolicy``): a number in
    one table alone is sent by its own campaign only. Read only while every campaign that may send is among
    ``tables`` with the same digest.
    """

    tables: Mapping[str, str]
    numbers: frozenset[str]


@dataclass(frozen=True)
class DesiredState:
    """Everything a config directory says, ready for the engine."""

    project: Project
    campaigns: tuple[DesiredCampaign, ...]
    # What the load found of numbers in several tables (None: not known, e.g. no policy, or too many shared).
    shared: SharedNumbers | None = field(default=None, compare=False, repr=False)

    def campaign(self, name: str) -> DesiredCampaign | None:
        for c in self.campaigns:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True)
class SourceDigest:
    """What parsing one campaign's contact sources gave, cached by the digest of its inputs.

    ``key`` digests everything the table depends on (the sources' bytes and
    paths, columns, phone column, encodings, the normaliser version);
    ``digest`` is the table's own digest (``reconciler.config.table.table_digest``),
    ``rows`` its length, ``problems`` the warnings the sources gave (only
    tables whose sources gave no error are cached). Derived data: writing it
    never bumps ``serial``.
    """

    key: str
    digest: str
    rows: int
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class PhoneList:
    """The phone numbers of one contact table, in order, kept by the table's digest.

    What the check for numbers in more than one running campaign reads for a
    table that is not parsed (``config.policy.check_campaigns``), so that one
    changed file of many does not parse the others. ``text``: one number per
    line ("" when none), ~12 bytes a number where a tuple of strings takes ~70.
    Content-addressed (the digest covers every phone), derived data: never
    bumps ``serial``.
    """

    digest: str
    text: str

    @classmethod
    def of(cls, digest: str, phones: Iterable[str]) -> PhoneList:
        return cls(digest, "\n".join(phones))

    def phones(self) -> list[str]:
        return self.text.split("\n") if self.text else []

    def size(self) -> int:
        """How many numbers (without splitting the text)."""
        return self.text.count("\n") + 1 if self.text else 0
