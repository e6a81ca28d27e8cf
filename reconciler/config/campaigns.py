"""Campaign entries: the checks a schema cannot express, and the model values.

Which keys a campaign may use depends on its provider profile's type and on
its mode (DESIGN sections 1 and 2), so those rules are not in the schema:
the vendor's spec (``reconciler.vendors.<type>``) checks them, and builds
its own settings block. Here: what every campaign shares (schedule, recall,
voice, contacts, state), and one generic rule: a top-level key that another
vendor brings (xfyeta ``robot``, yccall's ``yccall:`` block, ...) is not
allowed on this vendor's campaigns.
"""

from __future__ import annotations

import functools
import pathlib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from reconciler import vendors
from reconciler.config.contacts import load_sources
from reconciler.config.policy import build_campaign_policy
from reconciler.config.report import YamlFile
from reconciler.config.yamlmarks import Path
from reconciler.model import (
    Contacts,
    DesiredCampaign,
    Lifecycle,
    Mark,
    Project,
    ProviderProfile,
    Recall,
    Schedule,
    TimeWindow,
    Voice,
)
from reconciler.vendors.base import Rules, VendorSpec, forbid, sub

__all__ = ["CampaignResult", "build_campaign", "parse_window"]

DAY = 24 * 3600


@dataclass
class CampaignResult:
    campaign: DesiredCampaign | None
    name: str | None
    files: list[pathlib.Path]  # contact files read


def _seconds(text: str) -> int | None:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        return None
    return h * 3600 + m * 60 + s


@functools.lru_cache(maxsize=4096)  # pure, and campaigns repeat the same few windows
def parse_window(text: str) -> tuple[int, int] | str:
    """``"09:00-12:00"`` → (32400, 43200) seconds, or a message saying what is wrong."""
    pieces = text.split("-")
    if len(pieces) != 2:
        return f"window {text!r} must be START-END, like 09:00-12:00"
    start, end = (_seconds(p.strip()) for p in pieces)
    for raw, value in zip(pieces, (start, end), strict=True):
        if value is None:
            return f"window {text!r}: {raw.strip()!r} is not a time of day between 00:00 and 24:00 (HH:MM or HH:MM:SS)"
    assert start is not None and end is not None
    if start >= end:
        return (
            f"window {text!r} does not end after it starts "
            "(a window cannot cross midnight: split it into two)"
        )
    return start, end


def _clock(seconds: int) -> time:
    if seconds >= DAY:
        return time(23, 59, 59)  # 24:00 is the end of the day; datetime.time stops at 23:59:59
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def _datetime(yf: Rules, path: Path, value: Any, tz: str) -> datetime | None:
    if not isinstance(value, str) or not yf.usable(path):
        return None
    parsed = _parse_datetime(value, tz)
    if isinstance(parsed, str):
        yf.error(path, f"{value!r} is not a valid date-time: {parsed}")
        return None
    return parsed


@functools.lru_cache(maxsize=4096)  # pure, and campaigns repeat the same few start times
def _parse_datetime(value: str, tz: str) -> datetime | str:
    """An ISO 8601 date-time (``Z`` allowed, no offset: ``tz``), or why it is not one."""
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        return str(exc)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return parsed


def build_campaign(
    yf: YamlFile,
    index: int,
    raw: Any,
    project: Project | None,
    broken_profiles: set[str],
    *,
    line: int | None = None,
) -> CampaignResult:
    """Check one ``campaigns[index]`` entry and build it (None when it has errors); ``line``: the entry's
    line when the caller knows it already."""
    path: Path = ("campaigns", index)
    if not isinstance(raw, dict):
        return CampaignResult(None, None, [])
    before = yf.report.errors
    name = raw.get("name") if isinstance(raw.get("name"), str) and yf.usable((*path, "name")) else None
    tz = project.timezone if project is not None else "Asia/Shanghai"

    profile: ProviderProfile | None = None
    provider = raw.get("provider")
    if isinstance(provider, str) and project is not None and yf.usable((*path, "provider")):
        profile = project.providers.get(provider)
        if profile is None and provider not in broken_profiles:
            known = ", ".join(sorted(project.providers)) or "none"
            yf.error((*path, "provider"), f"unknown provider profile {provider!r} (campaignctl.yaml defines: {known})")
    spec = vendors.get(profile.type) if profile is not None else None

    mode = raw.get("mode", "task")
    if mode not in ("task", "direct"):
        mode = "task"
    schedule_raw = sub(raw, "schedule")
    recall_raw = sub(raw, "recall")
    voice_raw = sub(raw, "voice")
    contacts_raw = sub(raw, "contacts")

    if spec is not None and profile is not None:
        _foreign_keys(yf, path, raw, spec, profile.name)
        spec.check_campaign(yf, path, raw, mode=mode, profile=profile)

    schedule = _schedule(yf, (*path, "schedule"), schedule_raw, tz)
    recall = Recall(
        count=recall_raw["count"] if isinstance(recall_raw.get("count"), int) else 0,
        wait=recall_raw["wait"] if isinstance(recall_raw.get("wait"), int) else 0,
        mode=recall_raw["mode"] if recall_raw.get("mode") in ("unanswered", "all") else "unanswered",
    )
    voice = None
    if "voice" in raw and voice_raw:
        code = voice_raw.get("code")
        speed = voice_raw.get("speed")
        voice = Voice(
            code=yf.text((*path, "voice", "code"), code) if isinstance(code, str | int) else None,
            speed=speed if isinstance(speed, int) and not isinstance(speed, bool) else None,
        )

    contacts, files = _contacts(yf, (*path, "contacts"), contacts_raw, raw.get("state"))
    if contacts is not None and profile is not None and spec is not None:
        spec.check_contacts(yf, (*path, "contacts"), len(contacts.rows), profile)

    policy = build_campaign_policy(yf, path, raw, project, profile.options.get("timezone") if profile else None,
                                   spec is not None and spec.capabilities.windows, mode, schedule, files)
    if yf.report.errors > before or name is None or profile is None or spec is None or contacts is None:
        return CampaignResult(None, name, files)
    robot = raw.get("robot")
    raw_lines = raw.get("lines")
    lines: list[Any] = raw_lines if isinstance(raw_lines, list) else []
    state = raw.get("state", "running")
    lifecycle = sub(raw, "lifecycle")
    turbo = raw.get("turbo", False)
    campaign = DesiredCampaign(
        name=name,
        provider=profile.name,
        provider_type=profile.type,
        mode=mode,
        contacts=contacts,
        robot=yf.text((*path, "robot"), robot) if robot is not None else None,
        lines=tuple(yf.text((*path, "lines", i), v) for i, v in enumerate(lines)),
        voice=voice,
        schedule=schedule,
        recall=recall,
        turbo=turbo if isinstance(turbo, bool) else False,
        state=state if state in ("running", "paused", "absent") else "running",
        lifecycle=Lifecycle(
            prevent_destroy=lifecycle.get("prevent_destroy", False) is True,
            allow_replace=lifecycle.get("allow_replace", False) is True,
        ),
        vendor=spec.settings(yf, path, raw),
        mark=Mark(yf.file, line if line is not None else yf.line(path)),
        watch_new_contacts=sub(raw, "watch").get("apply_new_contacts") if isinstance(
            sub(raw, "watch").get("apply_new_contacts"), bool) else None,
        policy=policy,
    )
    return CampaignResult(campaign, name, files)


def _foreign_keys(yf: YamlFile, path: Path, raw: dict[str, Any], spec: VendorSpec, pname: str) -> None:
    """A top-level campaign key another vendor brings is not allowed on this vendor's campaigns."""
    for key, other in _foreign(spec, vendors.all_specs()):
        if key not in raw:
            continue
        if key == other.settings_key:
            why = f"profile {pname!r} is {spec.type}; the {key} block is for {other.type} profiles"
        else:
            why = f"profile {pname!r} is {spec.type}, which has no such setting{spec.foreign_key_hint(key)}"
        forbid(yf, path, raw, key, why)


@functools.lru_cache(maxsize=64)  # worked out once per vendor, not for every campaign
def _foreign(spec: VendorSpec, specs: tuple[VendorSpec, ...]) -> tuple[tuple[str, VendorSpec], ...]:
    """The top-level campaign keys the other vendors of ``specs`` bring and ``spec`` does not, each with
    its vendor."""
    own = spec.campaign_properties()
    return tuple((key, other) for other in specs if other is not spec
                 for key in other.campaign_properties() if key not in own)


def _schedule(yf: YamlFile, path: Path, raw: dict[str, Any], tz: str) -> Schedule:
    """The schedule block; campaigns of a file mostly repeat a few, so one the schema found nothing in
    is built once (:func:`_clean_schedule`) and only one with a problem is checked here, to report it."""
    begin, end, windows = raw.get("begin"), raw.get("end"), raw.get("windows")
    if (not yf.bad and (begin is None or isinstance(begin, str)) and (end is None or isinstance(end, str))
            and (windows is None or (isinstance(windows, list) and all(isinstance(w, str) for w in windows)))):
        clean = _clean_schedule(begin, end, None if windows is None else tuple(windows), tz)
        if clean is not None:
            return clean
    return _checked_schedule(yf, path, raw, tz)


class _Silent:
    """Rules that only note whether anything was wrong (for :func:`_clean_schedule`)."""

    def __init__(self) -> None:
        self.wrong = False

    def error(self, path: Path, message: str, *, line: int | None = None) -> None:
        self.wrong = True

    def usable(self, path: Path) -> bool:
        return True

    def key_line(self, path: Path) -> int:
        return 0

    def line(self, path: Path) -> int:
        return 0

    def text(self, path: Path, value: Any) -> str:
        return str(value)


@functools.lru_cache(maxsize=1024)
def _clean_schedule(begin: str | None, end: str | None, windows: tuple[str, ...] | None, tz: str) -> Schedule | None:
    """The schedule of these values, or None when checking it finds a problem (then it is checked where
    it is written, to report it)."""
    raw: dict[str, Any] = {k: v for k, v in (("begin", begin), ("end", end)) if v is not None}
    if windows is not None:
        raw["windows"] = list(windows)
    rules = _Silent()
    schedule = _checked_schedule(rules, (), raw, tz)
    return None if rules.wrong else schedule


def _checked_schedule(yf: Rules, path: Path, raw: dict[str, Any], tz: str) -> Schedule:
    begin = _datetime(yf, (*path, "begin"), raw.get("begin"), tz)
    end = _datetime(yf, (*path, "end"), raw.get("end"), tz)
    if begin is not None and end is not None and not begin < end:
        yf.error((*path, "end"), f"end ({raw.get('end')}) must be after begin ({raw.get('begin')})")
    windows: list[TimeWindow] = []
    raw_windows = raw.get("windows")
    if isinstance(raw_windows, list) and yf.usable((*path, "windows")):
        previous: tuple[int, str] | None = None  # start of the window before
        latest: tuple[int, str] | None = None  # the window reaching furthest so far
        for i, text in enumerate(raw_windows):
            wpath = (*path, "windows", i)
            if not isinstance(text, str) or not yf.usable(wpath):
                continue
            parsed = parse_window(text)
            if isinstance(parsed, str):
                yf.error(wpath, parsed, line=yf.line(wpath))
                continue
            start, stop = parsed
            if previous is not None and start < previous[0]:
                yf.error(wpath, f"windows must be in order: {text!r} starts before {previous[1]!r}",
                         line=yf.line(wpath))
            elif latest is not None and start < latest[0]:
                yf.error(wpath, f"window {text!r} overlaps {latest[1]!r}", line=yf.line(wpath))
            previous = (start, text)
            if latest is None or stop > latest[0]:
                latest = (stop, text)
            windows.append(TimeWindow(_clock(start), _clock(stop)))
    return Schedule(begin=begin, end=end, windows=tuple(windows))


def _declared_empty(sources: Any) -> bool:
    """Every source is a literal ``rows: []``: no contacts on purpose (an exported task's campaign)."""
    return isinstance(sources, list) and all(isinstance(s, dict) and s.get("rows") == [] and "csv" not in s
                                             for s in sources)


def _contacts(
    yf: YamlFile, path: Path, raw: dict[str, Any], state: Any
) -> tuple[Contacts | None, list[pathlib.Path]]:
    columns = raw.get("columns")
    phone = raw.get("phone_column")
    if not (isinstance(columns, list) and columns and all(isinstance(c, str) and c for c in columns)):
        return None, []
    if not yf.usable((*path, "columns")) or not isinstance(phone, str) or not yf.usable((*path, "phone_column")):
        return None, []
    if phone not in columns:
        yf.error((*path, "phone_column"), f"{phone!r} is not one of columns ({', '.join(columns)})")
        return None, []
    if len(set(columns)) != len(columns):
        return None, []
    result = load_sources(yf, path, raw, tuple(columns), phone)
    if not result.table and state != "absent" and raw.get("sources") and not _declared_empty(raw["sources"]):
        yf.error(path, "no contacts: the sources hold no valid rows (after dropping invalid and duplicate rows)")
    after = raw.get("after_start", "new_wave")
    contacts = Contacts(
        columns=tuple(columns),
        phone_column=phone,
        rows=result.table,
        after_start=after if after in ("new_wave", "error") else "new_wave",
    )
    return contacts, list(result.files)
