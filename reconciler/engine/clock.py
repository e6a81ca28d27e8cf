"""The time the dialing policy is read at: the wall clock, or ``CAMPAIGNCTL_NOW`` (a testing aid).

``CAMPAIGNCTL_NOW`` (ISO 8601, e.g. ``2027-03-02T20:59:00+08:00``; without an
offset it is in the project timezone) makes plan and apply — the plan's
policy decisions, the applier's check before every batch and the send times
recorded for frequency caps — run as if it were that time. The time then
moves on with the wall clock, ``CAMPAIGNCTL_TIME_SCALE`` (default 1) times
as fast. It is for rehearsing a policy against emulators or a test
platform ("what would an apply at 23:00 on a holiday do?"): never set it in
production. The journal and the settle windows keep the real clock.
"""

from __future__ import annotations

import os
import time
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from reconciler.errors import CampaignctlError

__all__ = ["NOW_ENV", "SCALE_ENV", "Clock", "policy_clock", "system_clock"]

NOW_ENV = "CAMPAIGNCTL_NOW"
SCALE_ENV = "CAMPAIGNCTL_TIME_SCALE"

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def policy_clock(env: Mapping[str, str] | None = None, *, timezone: str = "UTC") -> Clock:
    """The clock plan and apply read the dialing policy with (see the module docstring)."""
    env = os.environ if env is None else env
    raw = env.get(NOW_ENV, "").strip()
    if not raw:
        return system_clock
    text = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise CampaignctlError(f"{NOW_ENV}={raw!r} is not an ISO 8601 time like 2027-03-02T20:59:00+08:00") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    scale_text = env.get(SCALE_ENV, "1").strip() or "1"
    try:
        scale = float(scale_text)
    except ValueError:
        scale = -1.0
    if not scale >= 0:
        raise CampaignctlError(f"{SCALE_ENV}={scale_text!r} must be a number >= 0")
    origin = time.monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=(time.monotonic() - origin) * scale)

    return now
