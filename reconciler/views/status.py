"""Renderers of a campaign status report (``campaignctl status``): text and JSON.

The JSON document carries ``"format_version": 1``; keys are only ever added
within a version. Phone numbers never appear: only names and counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.engine.policy import Progress
from reconciler.results.status import CampaignStatus, StatusReport, forecast_text
from reconciler.views._common import display_width, pad

__all__ = ["FORMAT_VERSION", "to_json", "to_text"]

FORMAT_VERSION = 1


def _rate(c: CampaignStatus) -> str:
    rate = c.connect_rate
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items())


def to_text(report: StatusReport) -> str:
    headers = ("campaign", "profile", "phase", "contacts", "sent", "dialed", "answered", "rate", "remaining")
    rows: list[tuple[str, ...]] = []
    for c in report.campaigns:
        rows.append((c.name, c.profile, c.phase, str(c.contacts), str(c.sent), str(c.dialed), str(c.answered),
                     _rate(c), "-" if c.remaining is None else str(c.remaining)))
    widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(pad(v, widths[i]) for i, v in enumerate(r)).rstrip() for r in rows]
    for c in report.campaigns:
        details: list[str] = []
        for t in c.tasks:
            parts = [f"task {t.task_id} (wave {t.wave}) {t.phase}"]
            for word, value in (("numbers", t.contacts), ("dialed", t.dialed), ("answered", t.answered),
                                ("remaining", t.remaining)):
                if value is not None:
                    parts.append(f"{word} {value}")
            details.append(", ".join(parts))
        if c.outcomes:
            details.append(f"outcomes: {_counts(c.outcomes)}")
        if c.intentions:
            details.append(f"intentions: {_counts(c.intentions)}")
        if c.schedule_end:
            details.append(f"must finish by {c.schedule_end}")
        if c.forecast is not None:
            details.append(forecast_text(c.forecast))
        if c.error:
            details.append(f"listing failed: {c.error}")
        if details:
            lines.append("")
            lines.append(f"{c.name}:")
            lines += [f"  {d}" for d in details]
    if report.unmatched:
        lines.append("")
        lines.append(f"{report.unmatched} result push(es) matched no contact row (kept in the state).")
    lines.append("")
    lines.append(f"(as of {report.generated_at}; dialed/answered from the platform listing where it reports them, "
                 "else from the results received)")
    return "\n".join(lines) + "\n"


def _campaign(c: CampaignStatus) -> dict[str, Any]:
    return {
        "name": c.name,
        "profile": c.profile,
        "provider_type": c.provider_type,
        "mode": c.mode,
        "desired": c.desired,
        "phase": c.phase,
        "contacts": c.contacts,
        "sent": c.sent,
        "dialed": c.dialed,
        "answered": c.answered,
        "connect_rate": None if c.connect_rate is None else round(c.connect_rate, 4),
        "remaining": c.remaining,
        "source": c.source,
        "with_results": c.with_results,
        "results_answered": c.results_answered,
        "outcomes": dict(c.outcomes),
        "intentions": dict(c.intentions),
        "schedule_end": c.schedule_end,
        "error": c.error,
        "forecast": _forecast(c.forecast),
        "tasks": [
            {"task_id": t.task_id, "wave": t.wave, "phase": t.phase, "status": t.status, "contacts": t.contacts,
             "dialed": t.dialed, "answered": t.answered, "remaining": t.remaining}
            for t in c.tasks
        ],
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _forecast(p: Progress | None) -> dict[str, Any] | None:
    """The capacity forecast against the progress (the plan's ``campaigns[].forecast`` keys for the rest)."""
    if p is None:
        return None
    fc = p.remaining
    return {
        "calls_per_hour": round(p.calls_per_hour, 1),
        "started": _iso(p.started),
        "expected": p.expected,
        "dialed": p.dialed,
        "total": p.total,
        "behind": p.behind,
        "remaining": None if fc is None else {
            "contacts": fc.contacts, "calls": fc.calls, "open_hours": round(fc.hours, 2), "start": _iso(fc.start),
            "finish": _iso(fc.finish), "end": _iso(fc.end), "late": fc.late,
        },
    }


def to_json(report: StatusReport) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "generated_at": report.generated_at,
        "live": report.live,
        "unmatched_results": report.unmatched,
        "campaigns": [_campaign(c) for c in report.campaigns],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
