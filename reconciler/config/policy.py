"""The project's ``policy:`` and ``suppress:`` blocks, a campaign's narrowing ``policy:``.

Rules checked here (offline, every problem located as ``file:line``):

* ``hours``: weekday keys (``mon``, ``mon-fri``, ``sat,sun``), each day named
  once, windows like campaign windows (sorted, not overlapping, within
  00:00-24:00). Days left out allow no calls.
* ``blackout``: dates ``YYYY-MM-DD``, ranges ``YYYY-MM-DD..YYYY-MM-DD`` and
  ``{file: dates.txt}`` (one date or range per line; ``#`` comments; a CSV
  line's first field), relative to the YAML file naming them.
* ``suppress`` sources: ``{csv: FILE, column: NAME}``, ``{numbers: [...]}``,
  ``{sha256: FILE, form: national|e164|e164_digits}`` (one hex digest per
  line). Numbers are normalised like contacts; a value that is not a valid
  number suppresses nothing and is reported (by line, never by value).
* A campaign ``policy:`` may only narrow: its hours inside the project's for
  every day, its ``max_dials`` at most as many calls over at least as many
  days. Widening is an error naming both places.
* Campaign windows inside the policy: an xfyeta task dials inside its
  ``schedule.windows`` every day (it cannot know weekdays or holidays), so
  they must lie inside the hours of *every* day the policy allows calls; a
  direct campaign's windows inside the hours of at least one such day.
* Across campaigns (:func:`check_campaigns`): a number in two running
  campaigns is a warning with counts, an error with
  ``unique_across_campaigns: true``.
"""

from __future__ import annotations

import csv
import os
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.config.contacts import CODECS
from reconciler.config.phones import normalize_phone
from reconciler.config.report import Report, YamlFile, display_path, listed, where
from reconciler.config.table import LazyTable, campaign_digest, phones_of
from reconciler.config.yamlmarks import Path as DocPath
from reconciler.model import (
    DesiredCampaign,
    Mark,
    PhoneList,
    Project,
    Schedule,
    SharedNumbers,
    SourceDigest,
    canonical_json,
    digest,
)
from reconciler.policy import (
    DEFAULT_OPTOUT_KEYWORDS,
    DEFAULT_OPTOUT_OUTCOMES,
    DIGEST_FORMS,
    WEEKDAYS,
    CampaignPolicy,
    Capacity,
    FrequencyCap,
    Hours,
    OptOutRules,
    Policy,
    Suppression,
    Window,
    windows_text,
)

__all__ = ["PolicyResult", "build_campaign_policy", "build_policy", "check_campaigns", "parse_days"]

#: Problems listed per file before a summary line takes over.
REPORT_CAP = 20
#: Longest blackout range accepted (days).
MAX_RANGE = 366
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class PolicyResult:
    policy: Policy | None
    files: list[Path] = field(default_factory=list)  # files read (for the config digest)


def parse_days(spec: str) -> list[int] | str:
    """``"mon-fri"`` / ``"sat,sun"`` → weekday numbers (Monday 0), or what is wrong."""
    days: list[int] = []
    for part in spec.split(","):
        token = part.strip().lower()
        if "-" in token:
            first, _, last = (t.strip() for t in token.partition("-"))
            if first not in WEEKDAYS or last not in WEEKDAYS:
                return f"{spec!r}: day names are {', '.join(WEEKDAYS)} (ranges like mon-fri)"
            a, b = WEEKDAYS.index(first), WEEKDAYS.index(last)
            if a > b:
                return f"{spec!r}: a day range runs forward (like mon-fri); list days that wrap, e.g. sat,sun,mon"
            days.extend(range(a, b + 1))
        elif token in WEEKDAYS:
            days.append(WEEKDAYS.index(token))
        else:
            return f"{spec!r}: day names are {', '.join(WEEKDAYS)} (ranges like mon-fri, lists like sat,sun)"
    return days


def _windows(yf: YamlFile, path: DocPath, raw: Any) -> tuple[Window, ...] | None:
    from reconciler.config.campaigns import parse_window  # campaigns imports this module

    if not isinstance(raw, list) or not yf.usable(path):
        return None
    out: list[Window] = []
    ok = True
    for i, text in enumerate(raw):
        wpath = (*path, i)
        if not isinstance(text, str) or not yf.usable(wpath):
            ok = False
            continue
        parsed = parse_window(text)
        if isinstance(parsed, str):
            yf.error(wpath, parsed, line=yf.line(wpath))
            ok = False
            continue
        if out and parsed[0] < out[-1][1]:
            what = "starts before" if parsed[0] < out[-1][0] else "overlaps"
            yf.error(wpath, f"windows must be in order and not overlap: {text!r} {what} the window before",
                     line=yf.line(wpath))
            ok = False
            continue
        out.append(parsed)
    return tuple(out) if ok else None


def _hours(yf: YamlFile, path: DocPath, raw: Any) -> Hours | None:
    if not isinstance(raw, dict) or not yf.usable(path):
        return None
    days: list[tuple[Window, ...] | None] = [None] * 7
    ok = True
    for key, value in raw.items():
        kpath = (*path, key)
        parsed = parse_days(str(key))
        if isinstance(parsed, str):
            yf.error(kpath, parsed)
            ok = False
            continue
        windows = _windows(yf, kpath, value)
        if windows is None:
            ok = False
            continue
        for d in parsed:
            if days[d] is not None:
                yf.error(kpath, f"{WEEKDAYS[d]} is given hours twice; name each day once")
                ok = False
            days[d] = windows
    if not ok:
        return None
    return Hours(tuple(d or () for d in days))


def _parse_date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _date_item(text: str) -> list[date] | str:
    """A date or ``FROM..TO`` range → the dates, or what is wrong."""
    text = text.strip()
    if ".." in text:
        first, _, last = (t.strip() for t in text.partition(".."))
        a, b = _parse_date(first), _parse_date(last)
        if a is None or b is None:
            return f"{text!r} is not a date range like 2027-10-01..2027-10-07"
        if b < a:
            return f"{text!r}: the range ends before it starts"
        if (b - a).days >= MAX_RANGE:
            return f"{text!r}: a blackout range is at most {MAX_RANGE} days"
        return [a + timedelta(days=i) for i in range((b - a).days + 1)]
    d = _parse_date(text)
    if d is None:
        return f"{text!r} is not a date like 2027-10-01 (or a range 2027-10-01..2027-10-07)"
    return [d]


def _blackout(yf: YamlFile, path: DocPath, raw: Any, files: list[Path]) -> frozenset[date] | None:
    if not isinstance(raw, list) or not yf.usable(path):
        return None
    out: set[date] = set()
    ok = True
    for i, item in enumerate(raw):
        ipath = (*path, i)
        if not yf.usable(ipath):
            ok = False
            continue
        if isinstance(item, str):
            parsed = _date_item(item)
            if isinstance(parsed, str):
                yf.error(ipath, parsed, line=yf.line(ipath))
                ok = False
            else:
                out.update(parsed)
        elif isinstance(item, dict) and isinstance(item.get("file"), str):
            dates = _date_file(yf, (*ipath, "file"), item["file"], files)
            if dates is None:
                ok = False
            else:
                out.update(dates)
        else:
            ok = False  # the schema reported it
    return frozenset(out) if ok else None


def _resolve(yf: YamlFile, path: DocPath, given: str, what: str, files: list[Path]) -> Path | None:
    file = Path(os.path.normpath(Path(yf.file).parent / given))
    if not file.is_file():
        yf.error(path, f"{what} {given!r} not found (looked for {display_path(str(file))})")
        return None
    files.append(file)
    return file


def _lines(yf: YamlFile, path: DocPath, file: Path, encoding: str = "utf-8-sig") -> list[str] | None:
    try:
        return file.read_text(encoding=encoding).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not {encoding} text"
        yf.error(path, f"cannot read {display_path(str(file))}: {why}")
        return None


def _first_tokens(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, first token) of every line of a list file that is not blank or a ``#`` comment;
    a token ends at a comma, semicolon or white space (the rest of the line may name or describe it)."""
    for n, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield n, re.split(r"[,\s;]", text, maxsplit=1)[0]


def _date_file(yf: YamlFile, path: DocPath, given: str, files: list[Path]) -> set[date] | None:
    file = _resolve(yf, path, given, "blackout file", files)
    if file is None:
        return None
    lines = _lines(yf, path, file)
    if lines is None:
        return None
    out: set[date] = set()
    bad = 0
    shown = str(file)
    for n, token in _first_tokens(lines):
        parsed = _date_item(token)
        if isinstance(parsed, str):
            if n == 1 and not any(ch.isdigit() for ch in token):
                continue  # a header row such as "date,name"
            bad += 1
            if bad <= REPORT_CAP:
                yf.report.add(shown, n, "", parsed)
            continue
        out.update(parsed)
    if bad > REPORT_CAP:
        yf.report.add(shown, 0, "", f"{bad} lines are not dates; the first {REPORT_CAP} are listed")
    return out if not bad else None


def _cap(yf: YamlFile, path: DocPath, raw: Any) -> FrequencyCap | None:
    if not isinstance(raw, dict) or not yf.usable(path):
        return None
    count, days = raw.get("count"), raw.get("days")
    if not isinstance(count, int) or not isinstance(days, int) or isinstance(count, bool) or isinstance(days, bool):
        return None
    return FrequencyCap(count, days)


# --- suppress ---------------------------------------------------------------------------------


@dataclass
class _Suppress:
    phones: dict[str, str] = field(default_factory=dict)
    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: list[tuple[str, int]] = field(default_factory=list)


def _suppress(yf: YamlFile, path: DocPath, raw: Any, files: list[Path]) -> Suppression:
    acc = _Suppress()
    if not isinstance(raw, list) or not yf.usable(path):
        return Suppression()
    for i, source in enumerate(raw):
        spath = (*path, i)
        if not isinstance(source, dict) or not yf.usable(spath):
            continue
        name = source.get("name") if isinstance(source.get("name"), str) else None
        if isinstance(source.get("csv"), str):
            label = name or f"do-not-call list {source['csv']}"
            _suppress_csv(yf, spath, source, label, acc, files)
        elif isinstance(source.get("numbers"), list):
            label = name or "do-not-call numbers in campaignctl.yaml"
            before = len(acc.phones)
            for j, value in enumerate(source["numbers"]):
                npath = (*spath, "numbers", j)
                if not isinstance(value, str | int) or isinstance(value, bool):
                    continue
                phone = normalize_phone(yf.text(npath, value))
                if phone is None:
                    yf.error(npath, "not a valid phone number (mainland mobile or fixed line with area code)",
                             line=yf.line(npath))
                    continue
                acc.phones.setdefault(phone, label)
            acc.sources.append((label, len(acc.phones) - before))
        elif isinstance(source.get("sha256"), str):
            form = source.get("form", "national")
            if form not in DIGEST_FORMS:
                continue  # the schema reported it
            label = name or f"do-not-call digests {source['sha256']}"
            _suppress_digests(yf, spath, source["sha256"], str(form), label, acc, files)
    return Suppression(acc.phones, acc.digests, tuple(acc.sources))


def _suppress_csv(yf: YamlFile, spath: DocPath, source: dict[str, Any], label: str, acc: _Suppress,
                  files: list[Path]) -> None:
    column = source.get("column")
    if not isinstance(column, str):
        return  # the schema reported it
    codec = CODECS.get(str(source.get("encoding", "utf-8")).lower())
    delimiter = source.get("delimiter", ",")
    if codec is None or not isinstance(delimiter, str) or len(delimiter) != 1:
        return
    file = _resolve(yf, (*spath, "csv"), source["csv"], "do-not-call file", files)
    if file is None:
        return
    shown = str(file)
    before = len(acc.phones)
    invalid: list[int] = []
    try:
        with open(file, encoding=codec, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header: list[str] | None = None
            for row in reader:
                if row and any(c.strip() for c in row):
                    header = [c.strip().lstrip("\ufeff") for c in row]
                    break
            if header is None or column not in header:
                found = ", ".join(repr(c) for c in (header or [])[:12]) or "none"
                yf.error((*spath, "column"), f"column {column!r} is not in the header of {display_path(shown)} "
                         f"(header: {found})")
                return
            index = header.index(column)
            for row in reader:
                if len(row) <= index or not row[index].strip():
                    continue
                phone = normalize_phone(row[index])
                if phone is None:
                    invalid.append(reader.line_num)
                    continue
                acc.phones.setdefault(phone, label)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        yf.error((*spath, "csv"), f"cannot read do-not-call file {display_path(shown)}: {why}")
        return
    if invalid:
        rows = ", ".join(str(n) for n in invalid[:10]) + (", ..." if len(invalid) > 10 else "")
        yf.report.add(shown, invalid[0], column, f"{len(invalid)} values are not valid phone numbers and suppress "
                      f"nothing (rows {rows})", "warning")
    acc.sources.append((label, len(acc.phones) - before))


def _suppress_digests(yf: YamlFile, spath: DocPath, given: str, form: str, label: str, acc: _Suppress,
                      files: list[Path]) -> None:
    file = _resolve(yf, (*spath, "sha256"), given, "digest file", files)
    if file is None:
        return
    lines = _lines(yf, (*spath, "sha256"), file)
    if lines is None:
        return
    table = acc.digests.setdefault(form, {})
    before = len(table)
    bad = 0
    shown = str(file)
    for n, token in _first_tokens(lines):
        if not _HEX.fullmatch(token):
            if n == 1 and not all(ch in "0123456789abcdefABCDEF" for ch in token):
                continue  # a header row such as "sha256"
            bad += 1
            if bad <= REPORT_CAP:
                yf.report.add(shown, n, "", "not a SHA-256 hex digest (64 hex digits)")
            continue
        table.setdefault(token.lower(), label)
    if bad > REPORT_CAP:
        yf.report.add(shown, 0, "", f"{bad} lines are not SHA-256 digests; the first {REPORT_CAP} are listed")
    acc.sources.append((label, len(table) - before))


# --- project ----------------------------------------------------------------------------------


def build_policy(yf: YamlFile, doc: dict[str, Any], project_tz: str, profiles: Iterable[str]) -> PolicyResult:
    """The project's policy from ``policy:`` and ``suppress:`` (None when the file has neither)."""
    from reconciler.config.project import valid_timezone

    files: list[Path] = []
    raw = doc.get("policy")
    has_suppress = "suppress" in doc
    if raw is None and not has_suppress:
        return PolicyResult(None, files)
    pol: dict[str, Any] = raw if isinstance(raw, dict) and yf.usable(("policy",)) else {}
    tz = pol.get("timezone", project_tz)
    if not isinstance(tz, str) or not yf.usable(("policy", "timezone")):
        tz = project_tz
    elif not valid_timezone(tz):
        yf.error(("policy", "timezone"), f"unknown timezone {tz!r}; use an IANA name like Asia/Shanghai")
        tz = project_tz
    hours = _hours(yf, ("policy", "hours"), pol["hours"]) if "hours" in pol else None
    blackout = _blackout(yf, ("policy", "blackout"), pol.get("blackout", []), files) or frozenset()
    cap = _cap(yf, ("policy", "max_dials"), pol.get("max_dials"))
    unique = pol.get("unique_across_campaigns", False) is True
    known = set(profiles)
    capacity: dict[str, Capacity] = {}
    raw_capacity = pol.get("capacity")
    if isinstance(raw_capacity, dict) and yf.usable(("policy", "capacity")):
        for name, value in raw_capacity.items():
            cpath = ("policy", "capacity", name)
            if name not in known:
                yf.error(cpath, f"no provider profile {name!r} (campaignctl.yaml defines: "
                                f"{', '.join(sorted(known)) or 'none'})")
                continue
            if not isinstance(value, dict) or not yf.usable(cpath):
                continue
            calls, seconds, rate = (value.get(k) for k in ("concurrent_calls", "average_call_seconds", "answer_rate"))
            if isinstance(calls, int) and isinstance(seconds, int | float) and isinstance(rate, int | float):
                capacity[name] = Capacity(calls, float(seconds), float(rate))
    optout = OptOutRules()
    raw_optout = pol.get("optout")
    if isinstance(raw_optout, dict) and yf.usable(("policy", "optout")):
        keywords = raw_optout.get("keywords", list(DEFAULT_OPTOUT_KEYWORDS))
        outcomes = raw_optout.get("outcomes", list(DEFAULT_OPTOUT_OUTCOMES))
        optout = OptOutRules(
            enabled=raw_optout.get("from_results", True) is not False,
            keywords=tuple(str(k) for k in keywords if isinstance(k, str) and k.strip()) if isinstance(
                keywords, list) else DEFAULT_OPTOUT_KEYWORDS,
            outcomes=tuple(str(o) for o in outcomes if isinstance(o, str | int) and str(o).strip()) if isinstance(
                outcomes, list) else DEFAULT_OPTOUT_OUTCOMES,
        )
    suppress = _suppress(yf, ("suppress",), doc.get("suppress"), files)
    if hours is not None and not hours.allowed_days:
        yf.warning(("policy", "hours"), "the policy allows calls on no day: nothing will be dialed")
    policy = Policy(
        timezone=tz,
        hours=hours,
        blackout=blackout,
        max_dials=cap,
        unique_across_campaigns=unique,
        capacity=capacity,
        suppress=suppress,
        optout=optout,
        mark=Mark(yf.file, yf.doc.key_line(("policy", "hours")) if "hours" in pol else yf.doc.key_line(("policy",))),
    )
    return PolicyResult(policy, files)


# --- campaign ---------------------------------------------------------------------------------


def _seconds_of(window: Any) -> Window:
    """A model TimeWindow as seconds (its 23:59:59 end stands for 24:00)."""
    s = window.start.hour * 3600 + window.start.minute * 60 + window.start.second
    e = window.end.hour * 3600 + window.end.minute * 60 + window.end.second
    return s, (86400 if e == 86399 else e)


def _offset(tz: str, at: datetime | None) -> timedelta | None:
    when = at or datetime(2027, 1, 1)
    moment = when.astimezone(zoneinfo.ZoneInfo(tz)) if when.tzinfo else when.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return moment.utcoffset()


def build_campaign_policy(
    yf: YamlFile,
    path: DocPath,
    raw: dict[str, Any],
    project: Project | None,
    profile_tz: str | None,
    windowed: bool,
    mode: str,
    schedule: Schedule,
    files: list[Path],
) -> CampaignPolicy | None:
    """A campaign's ``policy:`` block, checked against the project's; also its windows against the policy.

    Files it reads (blackout date files) are appended to ``files``.
    """
    ppath = (*path, "policy")
    base = project.policy if project is not None else None
    narrowed: CampaignPolicy | None = None
    block = raw.get("policy")
    if isinstance(block, dict) and yf.usable(ppath):
        hours = _hours(yf, (*ppath, "hours"), block["hours"]) if "hours" in block else None
        blackout = _blackout(yf, (*ppath, "blackout"), block.get("blackout", []), files) or frozenset()
        cap = _cap(yf, (*ppath, "max_dials"), block.get("max_dials"))
        narrowed = CampaignPolicy(hours, blackout, cap, Mark(yf.file, yf.doc.key_line((*ppath, "hours"))
                                                                 if "hours" in block else yf.doc.key_line(ppath)))
        if base is not None:
            _check_narrowing(yf, ppath, narrowed, base)
    if base is None and narrowed is None:
        return None
    policy = (base or Policy()).effective(narrowed)
    if policy.hours is not None and schedule.windows and profile_tz is not None:
        _check_windows(yf, path, policy, narrowed, profile_tz, windowed, mode, schedule)
    return narrowed


def _place(policy: Policy, narrowed: CampaignPolicy | None, current: str) -> str:
    mark = narrowed.mark if narrowed is not None and narrowed.hours is not None else policy.mark
    return f" ({where(mark.file, mark.line, current)})" if mark.file else ""


def _check_narrowing(yf: YamlFile, ppath: DocPath, narrowed: CampaignPolicy, base: Policy) -> None:
    at = _place(base, None, yf.file)
    if narrowed.hours is not None and base.hours is not None:
        outside = Hours(tuple(tuple(w for w in narrowed.hours.on(d) if not base.hours.contains(d, w))
                              for d in range(7)))
        if outside.allowed_days:
            yf.error((*ppath, "hours"), f"{outside.describe()} is outside the project's calling hours "
                     f"({base.hours.describe()}{at}); a campaign policy may only narrow them")
    if narrowed.max_dials is not None and base.max_dials is not None:
        mine, theirs = narrowed.max_dials, base.max_dials
        if mine.count > theirs.count or mine.days < theirs.days:
            yf.error((*ppath, "max_dials"), f"max_dials {mine.describe()} is looser than the project's "
                     f"{theirs.describe()}{at}; a campaign may only lower the count or lengthen the period")


def _check_windows(yf: YamlFile, path: DocPath, policy: Policy, narrowed: CampaignPolicy | None, profile_tz: str,
                   windowed: bool, mode: str, schedule: Schedule) -> None:
    hours = policy.hours
    assert hours is not None
    wpath = (*path, "schedule", "windows")
    at = _place(policy, narrowed, yf.file)
    allowed = hours.describe()
    task = mode == "task" and windowed  # a vendor task that dials inside its windows every day (xfyeta)
    if _offset(profile_tz, schedule.begin) != _offset(policy.timezone, schedule.begin) and task:
        yf.error(wpath, f"the windows are read in the profile's timezone {profile_tz} but the calling hours in "
                 f"{policy.timezone}; they cannot be checked against each other: use one timezone")
        return
    windows = [_seconds_of(w) for w in schedule.windows]
    if task:
        common = hours.common()
        outside = [w for w in windows if not any(s <= w[0] and w[1] <= e for s, e in common)]
        if outside:
            yf.error(wpath, f"window(s) {windows_text(outside)} leave the calling hours of the policy{at}: an "
                     "xfyeta task dials inside its windows on every day (it cannot know weekdays or holidays), so "
                     f"they must lie inside the hours of every day that allows calls: {windows_text(common)} "
                     f"(allowed: {allowed})", line=yf.doc.key_line(wpath))
    else:
        outside = [w for w in windows if not any(hours.contains(d, w) for d in hours.allowed_days)]
        if outside:
            yf.error(wpath, f"window(s) {windows_text(outside)} lie outside the calling hours of every day of the "
                     f"policy{at} (allowed: {allowed}): they could never be used", line=yf.doc.key_line(wpath))


# --- across campaigns ---------------------------------------------------------------------------


def check_campaigns(report: Report, project: Project,
                    campaigns: Sequence[DesiredCampaign]) -> SharedNumbers | None:
    """Numbers in more than one running campaign: a warning per campaign (an error when they must be unique).

    It needs every running campaign's numbers, so with the parse cache (``report.cache``) its findings
    are kept beside the parsed sources, keyed by what they depend on (:func:`_overlaps_key`): while no
    table, list or rule changed they are replayed, and no table is parsed for them.

    Returns the numbers it found in more than one of the tables it compared, for the plan's frequency caps
    (None when it did not look: no policy, or findings replayed from the cache that do not say the running
    tables share no number). Those are the running campaigns' tables and, when they are parsed already,
    those of the other campaigns that may send (:func:`_may_send`), which only its first look takes in."""
    policy = project.policy
    running = [c for c in campaigns if c.state == "running"]
    if policy is None:
        return None  # without a policy: no opinion
    others = _may_send(policy, campaigns)
    also = others if all(_parsed(c.contacts.rows) for c in others) else []  # (no table read for it alone)
    if len(running) < 2:  # no warning to give: only the first look, when there is more to compare
        if not also or not all(_parsed(c.contacts.rows) for c in running):  # (no table read for it alone)
            return SharedNumbers({c.name: campaign_digest(c) for c in running}, frozenset())
        return _check_overlaps(report, policy, running, also)
    cache = report.cache
    key = _overlaps_key(policy, running) if cache is not None else ""
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        report.problems.extend(hit.problems)
        if cache is None or key + APART not in cache:
            return None
        # no two of these tables shared a number; nor of these and the others that may send, when so kept
        every = [*running, *others]
        apart = running if not others or _overlaps_key(policy, every) + APART not in cache else every
        return SharedNumbers({c.name: campaign_digest(c) for c in apart}, frozenset())
    before = len(report.problems)
    shared = _check_overlaps(report, policy, running, also)
    found = tuple(report.problems[before:])
    if key and all(p.severity != "error" for p in found):
        report.parsed.append(SourceDigest(key, "", 0, found))
        if shared is not None and not shared.numbers:
            report.parsed.append(SourceDigest(key + APART, "", 0))
            if also and all(c.name in shared.tables for c in also):
                report.parsed.append(SourceDigest(_overlaps_key(policy, [*running, *also]) + APART, "", 0))
    return shared


#: Beside the cached findings (same key and this suffix): the running tables share no number, not even
#: one on a do-not-call list (findings without a warning do not say that). The same suffix on the key of
#: the running tables and the others that may send: none of those shares a number either.
APART = " apart"


def _may_send(policy: Policy, campaigns: Sequence[DesiredCampaign]) -> list[DesiredCampaign]:
    """The campaigns besides the running ones that may send (``DesiredCampaign.may_send``), when a frequency
    cap is set (only the caps ask whether their numbers are in other tables). The
    check's first look takes them in when their tables are parsed already (a first plan)."""
    if not policy.caps_any(c.policy for c in campaigns):
        return []
    return [c for c in campaigns if c.may_send and c.state != "running"]


def _overlaps_key(policy: Policy, running: Sequence[DesiredCampaign]) -> str:
    """Everything the findings of :func:`_check_overlaps` depend on: each running campaign (name, where
    it is declared, its table's digest), the do-not-call lists, the rule, and the directory that paths
    in the messages are relative to."""
    doc = {
        "check": "numbers in more than one running campaign",
        "version": 1,
        "unique": policy.unique_across_campaigns,
        "suppress": policy.suppress.fingerprint,
        "cwd": os.getcwd(),
        "campaigns": [[c.name, c.mark.file, c.mark.line, campaign_digest(c)] for c in running],
    }
    return "overlaps " + digest(canonical_json(doc))


#: The most numbers in several tables the check keeps for the plan's caps, as a share of all the numbers it
#: compared. More are not kept: the plan then looks every number up, which costs no more than keeping them.
SHARED_KEPT = 0.25

#: Tables whose kept phone lists are asked for at once (bounds what is held in memory beside ``first``).
_LIST_CHUNK = 64


def _numbers_of(report: Report, running: Sequence[DesiredCampaign], *,
                offer: bool = True) -> Iterator[Sequence[str]]:
    """Each running campaign's phone numbers, in order. A table from the parse cache (its CSV files are
    unchanged) is not parsed when the state keeps its list (``report.phone_lists``, by table digest);
    a cached table's list that had to be read by parsing is offered for the state to keep
    (``report.listed``; ``offer``: False when the lists are read a second time)."""
    cached = {e.digest for e in report.parsed}  # parsed now, cached from now on
    for start in range(0, len(running), _LIST_CHUNK):
        chunk = running[start:start + _LIST_CHUNK]
        digests = [_cached_digest(c, cached) for c in chunk]
        wanted = [d for d in digests if d]
        kept = report.phone_lists(wanted) if report.phone_lists is not None and wanted else {}
        for c, known in zip(chunk, digests, strict=True):
            if known and known in kept and not _parsed(c.contacts.rows):
                yield kept[known].phones()
                continue
            numbers = phones_of(c.contacts.rows)
            if offer and known and report.phone_lists is not None and known not in kept:
                report.listed.append(PhoneList.of(known, numbers))
            yield numbers


def _cached_digest(c: DesiredCampaign, parsed_now: set[str]) -> str:
    """The table's digest when its sources are in the parse cache (taken from it, or parsed now), else ""."""
    rows = c.contacts.rows
    if isinstance(rows, LazyTable):
        return rows.digest
    known = campaign_digest(c)
    return known if known in parsed_now else ""


def _parsed(rows: Sequence[Any]) -> bool:
    return not isinstance(rows, LazyTable) or rows.parsed


def _check_overlaps(report: Report, policy: Policy, running: Sequence[DesiredCampaign],
                    also: Sequence[DesiredCampaign] = ()) -> SharedNumbers | None:
    """Warn of numbers in more than one of ``running``'s tables (do-not-call numbers aside); returns every
    number in more than one of them (do-not-call numbers included; None when they are more than
    :data:`SHARED_KEPT` of all), or, when none is and none is either once ``also``'s tables are added,
    that none of all those tables shares a number."""
    # First, whether any number is in two tables at all (the usual case: none is), a table at a time and by
    # the numbers' hashes: neither the tables' numbers nor a set of them all (~90 MB for a million) are
    # held meanwhile. Distinct hashes mean distinct numbers; two numbers that only share a hash lead to
    # the exact check below, which finds no overlap for them.
    seen: set[int] = set()
    total = 0
    for numbers in _numbers_of(report, running):
        seen.update(map(hash, numbers))
        total += len(numbers)
    tables_seen = {c.name: campaign_digest(c) for c in running}
    if len(seen) == total:  # (a table's numbers are unique) none is
        for numbers in _numbers_of(report, also, offer=False):
            seen.update(map(hash, numbers))
            total += len(numbers)
        if also and len(seen) == total:
            tables_seen.update((c.name, campaign_digest(c)) for c in also)
        return SharedNumbers(tables_seen, frozenset())
    del seen
    tables = list(_numbers_of(report, running, offer=False))
    suppress = policy.suppress
    first: dict[str, int] = {}
    overlaps: dict[tuple[int, int], int] = {}
    keep_at_most = int(total * SHARED_KEPT)
    in_several: set[str] | None = set()
    for i, numbers in enumerate(tables):
        mine = set(numbers)  # (a table's numbers are unique)
        both = first.keys() & mine  # set operations: no Python loop over a million numbers
        if both:
            if in_several is not None:
                in_several.update(both)
                if len(in_several) > keep_at_most:
                    in_several = None
            held = suppress.labels(both) if suppress else {}
            for phone in both.difference(held) if held else both:
                j = first[phone]
                overlaps[(j, i)] = overlaps.get((j, i), 0) + 1
        first.update(dict.fromkeys(mine.difference(both) if both else mine, i))
    shared = SharedNumbers(tables_seen, frozenset(in_several)) if in_several is not None else None
    if not overlaps:
        return shared
    unique = policy.unique_across_campaigns
    severity = "error" if unique else "warning"
    paired: dict[int, list[tuple[DesiredCampaign, int]]] = {}  # each campaign's overlaps, in pair order
    for (a, b), n in sorted(overlaps.items()):
        paired.setdefault(a, []).append((running[b], n))
        paired.setdefault(b, []).append((running[a], n))
    for i, c in enumerate(running):
        others = paired.get(i)
        if not others:
            continue
        named = listed((f"{n} with {o.name!r} ({where(o.mark.file, o.mark.line, c.mark.file)})" for o, n in others),
                       len(others), " campaigns")
        total = sum(n for _, n in others)
        tail = ("policy.unique_across_campaigns is true: each number may be in one running campaign only"
                if unique else "they may be called once per campaign (set policy.max_dials to cap it, or "
                "policy.unique_across_campaigns: true to refuse it)")
        report.add(c.mark.file, c.mark.line, "contacts", f"{total} contacts are also in other running campaigns "
                   f"({named}); {tail}", severity)
    return shared
