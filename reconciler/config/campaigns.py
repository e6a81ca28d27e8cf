"""Campaign entries: the checks a schema cannot express, and the model values.

Which keys a campaign may use depends on its provider profile's type and on
its mode (DESIGN sections 1 and 2), so those rules live here, not in the
schema: an xfyeta task needs robot, lines, schedule.begin and
schedule.windows (always sent as time_range: no night dialing by default);
a direct callout dials at once (no schedule, recall, turbo); yccall has no
windows, robot, lines, voice or turbo and needs its ``yccall:`` block.
"""

from __future__ import annotations

import pathlib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

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
    YccallSettings,
)

__all__ = ["YCCALL_COLUMNS", "CampaignResult", "build_campaign", "parse_window"]

#: telphone fields a yccall contact may carry besides the phone.
YCCALL_COLUMNS = ("userid", "memberid", "customuuid", "ext")
XFYETA_MAX_RECALL = 3
YCCALL_MAX_RECALL = 10
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


def _datetime(yf: YamlFile, path: Path, value: Any, tz: str) -> datetime | None:
    if not isinstance(value, str) or not yf.usable(path):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        yf.error(path, f"{value!r} is not a valid date-time: {exc}")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return parsed


def _sub(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def build_campaign(
    yf: YamlFile,
    index: int,
    raw: Any,
    project: Project | None,
    broken_profiles: set[str],
) -> CampaignResult:
    """Check one ``campaigns[index]`` entry and build it (None when it has errors)."""
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
    ptype = profile.type if profile is not None else None

    mode = raw.get("mode", "task")
    if mode not in ("task", "direct"):
        mode = "task"
    schedule_raw = _sub(raw, "schedule")
    recall_raw = _sub(raw, "recall")
    voice_raw = _sub(raw, "voice")
    contacts_raw = _sub(raw, "contacts")
    yc_raw = _sub(raw, "yccall")

    if ptype == "xfyeta":
        _xfyeta_rules(yf, path, raw, mode, profile, schedule_raw, recall_raw, voice_raw, contacts_raw)
    elif ptype == "yccall":
        _yccall_rules(yf, path, raw, mode, profile, schedule_raw, contacts_raw, yc_raw)

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
    if contacts is not None and profile is not None and ptype == "xfyeta":
        limit = profile.options.get("max_contacts_per_task")
        if isinstance(limit, int) and len(contacts.rows) > limit:
            yf.error(
                (*path, "contacts"),
                f"{len(contacts.rows)} contacts exceed max_contacts_per_task {limit} of profile {profile.name!r}; "
                "split the contacts over several campaigns",
            )

    policy = build_campaign_policy(yf, path, raw, project, profile.options.get("timezone") if profile else None,
                                   ptype, mode, schedule, files)
    if yf.report.errors > before or name is None or profile is None or contacts is None:
        return CampaignResult(None, name, files)
    robot = raw.get("robot")
    raw_lines = raw.get("lines")
    lines: list[Any] = raw_lines if isinstance(raw_lines, list) else []
    state = raw.get("state", "running")
    lifecycle = _sub(raw, "lifecycle")
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
        yccall=_yccall_settings(yf, (*path, "yccall"), yc_raw) if ptype == "yccall" else None,
        mark=Mark(yf.file, yf.line(path)),
        policy=policy,
    )
    return CampaignResult(campaign, name, files)


def _require(yf: YamlFile, path: Path, raw: dict[str, Any], key: str, why: str) -> None:
    if key not in raw:
        yf.error((*path, key), f"missing {key!r}: {why}", line=yf.doc.key_line(path))


def _forbid(yf: YamlFile, path: Path, raw: dict[str, Any], key: str, why: str) -> None:
    if key in raw:
        yf.error((*path, key), f"{key!r} is not allowed here: {why}")


def _xfyeta_rules(
    yf: YamlFile,
    path: Path,
    raw: dict[str, Any],
    mode: str,
    profile: ProviderProfile | None,
    schedule: dict[str, Any],
    recall: dict[str, Any],
    voice: dict[str, Any],
    contacts: dict[str, Any],
) -> None:
    pname = profile.name if profile else "?"
    kind = "an xfyeta direct callout" if mode == "direct" else "an xfyeta task"
    _require(yf, path, raw, "robot", f"{kind} needs the robot_id")
    _require(yf, path, raw, "lines", f"{kind} needs at least one caller line (line_num)")
    if mode == "task":
        spath = (*path, "schedule")
        if "schedule" not in raw:
            yf.error((*spath, "begin"), "missing 'schedule.begin': an xfyeta task needs a start time",
                     line=yf.doc.key_line(path))
            yf.error((*spath, "windows"), "missing 'schedule.windows': an xfyeta task always sends its dialing "
                     "windows (no night dialing by default), e.g. [\"09:00-12:00\", \"14:00-20:00\"]",
                     line=yf.doc.key_line(path))
        elif isinstance(raw.get("schedule"), dict):
            _require(yf, spath, schedule, "begin", "an xfyeta task needs a start time (schedule.begin)")
            _require(yf, spath, schedule, "windows", "an xfyeta task always sends its dialing windows (no night "
                     "dialing by default), e.g. [\"09:00-12:00\", \"14:00-20:00\"]")
        if "speed" in voice:
            yf.error((*path, "voice", "speed"), "voice.speed only works with mode: direct "
                     "(xfyeta tasks have no speed setting)")
        count = recall.get("count")
        if isinstance(count, int) and not isinstance(count, bool) and count > XFYETA_MAX_RECALL \
                and yf.usable((*path, "recall", "count")):
            yf.error((*path, "recall", "count"), f"xfyeta allows at most {XFYETA_MAX_RECALL} recall rounds, "
                     f"got {count}")
    else:
        why = "a direct callout has no task: each contact is dialed once"
        for key in ("recall", "turbo"):
            _forbid(yf, path, raw, key, f"{why} (no {key} with mode: direct)")
    if "mode" in recall:
        yf.error((*path, "recall", "mode"), f"recall.mode is a yccall setting; profile {pname!r} is xfyeta")
    _forbid(yf, path, raw, "yccall", f"profile {pname!r} is xfyeta; the yccall block is for yccall profiles")
    lines = raw.get("lines")
    if isinstance(lines, list):
        for i, line in enumerate(lines):
            if isinstance(line, str) and any(sep in line for sep in ";,"):
                yf.error((*path, "lines", i), "one line_num per item (write a list, not a joined string)")
    columns = contacts.get("columns")
    phone = contacts.get("phone_column")
    if isinstance(columns, list) and columns and isinstance(phone, str) and phone in columns and columns[0] != phone:
        yf.error((*path, "contacts", "columns"), f"xfyeta expects the phone column {phone!r} first "
                 "(call_column order: phone, then the robot's fields)")


def _yccall_rules(
    yf: YamlFile,
    path: Path,
    raw: dict[str, Any],
    mode: str,
    profile: ProviderProfile | None,
    schedule: dict[str, Any],
    contacts: dict[str, Any],
    yc: dict[str, Any],
) -> None:
    pname = profile.name if profile else "?"
    if "yccall" not in raw:
        yf.error((*path, "yccall"), "missing 'yccall': a yccall campaign needs a yccall block "
                 "(assign: {type: extension, agent: \"8001\"}, ...)", line=yf.doc.key_line(path))
    if mode == "direct":
        yf.error((*path, "mode"), f"mode: direct is an xfyeta callout; profile {pname!r} is yccall")
    why = f"profile {pname!r} is yccall, which has no such setting"
    _forbid(yf, path, raw, "robot", why)
    _forbid(yf, path, raw, "lines", f"{why} (caller numbers go in yccall.caller_numbers)")
    _forbid(yf, path, raw, "voice", why)
    _forbid(yf, path, raw, "turbo", why)
    _forbid(yf, (*path, "schedule"), schedule, "windows", f"profile {pname!r} is yccall, which has no "
            "time-of-day windows (schedule.begin/end become scheduledtime/pausedtime)")
    assign = yc.get("assign")
    if isinstance(assign, dict) and profile is not None:
        atype = assign.get("type")
        types = profile.options.get("assign_types")
        if isinstance(atype, str) and isinstance(types, dict) and atype not in types \
                and yf.usable((*path, "yccall", "assign", "type")):
            yf.error((*path, "yccall", "assign", "type"), f"profile {pname!r} has no assign_types code for "
                     f"{atype!r} (it knows: {', '.join(types)})")
    columns = contacts.get("columns")
    phone = contacts.get("phone_column")
    if isinstance(columns, list):
        for i, column in enumerate(columns):
            if isinstance(column, str) and column != phone and column not in YCCALL_COLUMNS:
                yf.error((*path, "contacts", "columns", i), f"yccall numbers carry only the phone and "
                         f"{', '.join(YCCALL_COLUMNS)}; {column!r} has nowhere to go")


def _schedule(yf: YamlFile, path: Path, raw: dict[str, Any], tz: str) -> Schedule:
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
    if not result.table and state != "absent" and raw.get("sources"):
        yf.error(path, "no contacts: the sources hold no valid rows (after dropping invalid and duplicate rows)")
    after = raw.get("after_start", "new_wave")
    contacts = Contacts(
        columns=tuple(columns),
        phone_column=phone,
        rows=result.table,
        after_start=after if after in ("new_wave", "error") else "new_wave",
    )
    return contacts, list(result.files)


def _yccall_settings(yf: YamlFile, path: Path, raw: dict[str, Any]) -> YccallSettings | None:
    assign = raw.get("assign") if isinstance(raw.get("assign"), dict) else {}
    assert isinstance(assign, dict)
    atype = assign.get("type")
    agent = assign.get("agent")
    if atype not in ("extension", "queue", "group") or not isinstance(agent, str | int):
        return None
    numbers = raw.get("caller_numbers") if isinstance(raw.get("caller_numbers"), list) else []
    assert isinstance(numbers, list)
    scale_mode = raw.get("scale_mode")
    concurrency = raw.get("concurrency")
    scale = raw.get("scale", "1:1")
    return YccallSettings(
        assign_type=atype,
        agent=yf.text((*path, "assign", "agent"), agent),
        scale=scale if isinstance(scale, str) else "1:1",
        scale_mode=scale_mode if scale_mode in ("auto", "manual") else None,
        concurrency=concurrency if isinstance(concurrency, int) and not isinstance(concurrency, bool) else None,
        caller_numbers=tuple(yf.text((*path, "caller_numbers", i), n) for i, n in enumerate(numbers)),
    )
