"""Frozen dialing-policy values: what ``policy:`` and ``suppress:`` say, validated.

Model layer (like :mod:`reconciler.model`, which refers to these values):
built by :mod:`reconciler.config.policy`, read by the pure rules of
:mod:`reconciler.engine.policy` and by the applier's per-batch check. No I/O.

Times of day are seconds since midnight (``[start, end)``, ``end`` may be
86400), read in :attr:`Policy.timezone`. A weekday without hours allows no
calls; ``hours=None`` means the policy does not limit the time of day.
Phone numbers are normalised (``config.phones``); a policy never puts one in
a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from reconciler.model import Mark, digest

__all__ = [
    "DEFAULT_OPTOUT_KEYWORDS",
    "DEFAULT_OPTOUT_OUTCOMES",
    "DIGEST_FORMS",
    "OPT_OUT_LABEL",
    "WEEKDAYS",
    "CampaignPolicy",
    "Capacity",
    "FrequencyCap",
    "Hours",
    "OptOutRules",
    "Policy",
    "Suppression",
    "Window",
    "clock_text",
    "digest_of",
    "mask_phone",
]

NO_MARK = Mark("")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400
#: The label opt-outs kept in the state carry in suppression counts.
OPT_OUT_LABEL = "opt-out"

Window = tuple[int, int]  # [start, end) seconds since midnight

#: How a hashed registry spelled the number before hashing it (SHA-256 hex).
DIGEST_FORMS: Mapping[str, str] = {
    "national": "13800000000 (the normalised number)",
    "e164": "+8613800000000",
    "e164_digits": "8613800000000",
}

#: Intention tags / outcome texts that mean "do not call me again" (substring, case-insensitive).
DEFAULT_OPTOUT_KEYWORDS = ("拒绝", "投诉", "勿扰", "不要再打", "别再打", "不要打", "免打扰", "do_not_call",
                           "do-not-call", "do not call")
#: Outcome codes that mean the same (exact match, after trimming, case-insensitive).
DEFAULT_OPTOUT_OUTCOMES = ("do_not_call", "dnc", "optout", "opt_out", "opt-out")


def clock_text(seconds: int) -> str:
    """``HH:MM`` (``HH:MM:SS`` when the seconds are not zero); 86400 is ``24:00``."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if s else f"{h:02d}:{m:02d}"


def mask_phone(phone: str) -> str:
    """A number as it may be shown: ``138****0000`` (the first three and last four digits)."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def digest_of(phone: str, form: str = "national") -> str:
    """SHA-256 hex digest of a normalised number written the way ``form`` says (DIGEST_FORMS)."""
    if form == "e164":
        text = "+86" + (phone[1:] if phone.startswith("0") else phone)
    elif form == "e164_digits":
        text = "86" + (phone[1:] if phone.startswith("0") else phone)
    else:
        text = phone
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Hours:
    """Allowed calling hours per weekday, Monday first: sorted, non-overlapping windows."""

    days: tuple[tuple[Window, ...], ...]  # 7 entries

    def on(self, weekday: int) -> tuple[Window, ...]:
        return self.days[weekday]

    @property
    def allowed_days(self) -> tuple[int, ...]:
        return tuple(d for d in range(7) if self.days[d])

    def common(self) -> tuple[Window, ...]:
        """The hours shared by every day that allows calls (what a weekday-blind task may use)."""
        days = [self.days[d] for d in self.allowed_days]
        if not days:
            return ()
        out = list(days[0])
        for other in days[1:]:
            out = intersect(out, other)
        return tuple(out)

    def contains(self, weekday: int, window: Window) -> bool:
        return any(s <= window[0] and window[1] <= e for s, e in self.days[weekday])

    def describe(self) -> str:
        """``mon-fri 09:00-12:00, 13:30-20:00; sat 10:00-18:00`` (days without hours left out)."""
        if not self.allowed_days:
            return "no day (no calls at all)"
        parts: list[str] = []
        d = 0
        while d < 7:
            if not self.days[d]:
                d += 1
                continue
            e = d
            while e + 1 < 7 and self.days[e + 1] == self.days[d]:
                e += 1
            days = WEEKDAYS[d] if e == d else f"{WEEKDAYS[d]}-{WEEKDAYS[e]}"
            parts.append(f"{days} {windows_text(self.days[d])}")
            d = e + 1
        return "; ".join(parts)


def windows_text(windows: Iterable[Window]) -> str:
    return ", ".join(f"{clock_text(s)}-{clock_text(e)}" for s, e in windows) or "none"


def intersect(a: Iterable[Window], b: Iterable[Window]) -> list[Window]:
    """The time both window lists cover."""
    out: list[Window] = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``count`` sends or dials of one number in any ``days`` days, across all campaigns."""

    count: int
    days: int

    def describe(self) -> str:
        return f"{self.count} per {self.days} day{'s' if self.days != 1 else ''}"


@dataclass(frozen=True)
class Capacity:
    """What one provider profile can dial, for the forecast."""

    concurrent_calls: int
    average_call_seconds: float
    answer_rate: float  # 0 < rate <= 1

    @property
    def calls_per_hour(self) -> float:
        return self.concurrent_calls * 3600.0 / self.average_call_seconds


@dataclass(frozen=True)
class OptOutRules:
    """What a call result must show to put its number on the opt-out list (``engine.policy.optout_reason``)."""

    enabled: bool = True
    keywords: tuple[str, ...] = DEFAULT_OPTOUT_KEYWORDS
    outcomes: tuple[str, ...] = DEFAULT_OPTOUT_OUTCOMES


@dataclass(frozen=True)
class Suppression:
    """Do-not-call numbers from ``suppress:`` sources: plain numbers, and SHA-256 digests per form.

    ``phones`` maps a normalised number to the label of its source;
    ``digests`` maps a form (DIGEST_FORMS) to digest → label. ``sources``
    lists every source label with how many entries it holds.
    """

    phones: Mapping[str, str] = field(default_factory=dict, hash=False)
    digests: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    sources: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.phones) or any(self.digests.values())

    @cached_property
    def fingerprint(self) -> str:
        """Digest of every entry with its source's label ("" for none): what a cached finding or a
        convergence marker made under these lists is valid for."""
        if not self:
            return ""
        lines = [f"p\t{phone}\t{label}" for phone, label in self.phones.items()]
        lines += [f"d\t{form}\t{hashed}\t{label}"
                  for form, table in sorted(self.digests.items()) for hashed, label in table.items()]
        return digest("\n".join(lines))

    def label(self, phone: str) -> str | None:
        """The source that suppresses ``phone``, or None."""
        found = self.phones.get(phone)
        if found is not None:
            return found
        for form, table in self.digests.items():
            if table:
                hit = table.get(digest_of(phone, form))
                if hit is not None:
                    return hit
        return None

    def labels(self, phones: Iterable[str]) -> dict[str, str]:
        """Phone → source label for every suppressed one of ``phones`` (one pass)."""
        if not self:
            return {}
        out: dict[str, str] = {}
        plain = self.phones
        forms = [(form, table) for form, table in self.digests.items() if table]
        for phone in phones:
            hit = plain.get(phone)
            if hit is None:
                for form, table in forms:
                    hit = table.get(digest_of(phone, form))
                    if hit is not None:
                        break
            if hit is not None:
                out[phone] = hit
        return out


@dataclass(frozen=True)
class CampaignPolicy:
    """A campaign's ``policy:`` block: it only narrows the project's (checked when loading)."""

    hours: Hours | None = None  # None: the project's hours
    blackout: frozenset[date] = frozenset()
    max_dials: FrequencyCap | None = None
    mark: Mark = NO_MARK


@dataclass(frozen=True)
class Policy:
    """The project's dialing policy; the default limits nothing.

    ``hours``/``blackout`` are read in ``timezone``; ``capacity`` is keyed
    by provider profile name. ``effective(campaign_policy)`` is what binds
    one campaign.
    """

    timezone: str = "Asia/Shanghai"
    hours: Hours | None = None
    blackout: frozenset[date] = frozenset()
    max_dials: FrequencyCap | None = None
    unique_across_campaigns: bool = False
    capacity: Mapping[str, Capacity] = field(default_factory=dict, hash=False)
    suppress: Suppression = field(default_factory=Suppression, hash=False)
    optout: OptOutRules = OptOutRules()
    mark: Mark = NO_MARK

    def effective(self, narrowed: CampaignPolicy | None) -> Policy:
        """This policy narrowed by a campaign's block (hours replaced, blackout added; caps are kept apart)."""
        if narrowed is None:
            return self
        return Policy(
            timezone=self.timezone,
            hours=narrowed.hours if narrowed.hours is not None else self.hours,
            blackout=self.blackout | narrowed.blackout,
            max_dials=self.max_dials,
            unique_across_campaigns=self.unique_across_campaigns,
            capacity=self.capacity,
            suppress=self.suppress,
            optout=self.optout,
            mark=narrowed.mark if narrowed.hours is not None else self.mark,
        )

    def caps(self, narrowed: CampaignPolicy | None) -> tuple[FrequencyCap, ...]:
        """Every frequency cap binding a campaign (the project's and its own)."""
        caps = [c for c in (self.max_dials, narrowed.max_dials if narrowed else None) if c is not None]
        return tuple(dict.fromkeys(caps))

    def caps_any(self, narrowed: Iterable[CampaignPolicy | None]) -> bool:
        """Whether a frequency cap binds any of the campaigns whose own blocks are ``narrowed``."""
        return self.max_dials is not None or any(n is not None and n.max_dials is not None for n in narrowed)
