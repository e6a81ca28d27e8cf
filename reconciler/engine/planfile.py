"""Saved plans, like Terraform's ``internal/plans/planfile``: what apply executes, nothing recomputed.

A plan file holds every field of every :class:`Action` except the phone
numbers: a contact is named by its position in the campaign's contact table
(``row_index``, stored as ``[start, stop)`` ranges) and the batch by a digest
of its rows' fingerprints, so that files that changed under the plan are
noticed instead of dialing someone else. Contacts a REMOVE takes off a task
have left the files; they are named by their position among the phones the
state records as sent to that task (sorted), which a saved plan's apply
finds unchanged since it checks the state serial first.

Besides the actions, the file holds what apply checks before executing
(config digest, state lineage and serial, the observed digest and the
``(profile, task_id)`` set it covers) and what ``show`` renders
(diagnostics, campaign summaries, notes). Phone numbers and secrets are
never written; free text quoting a planned phone is masked.

The format is this module's own (``kind: campaignctl-plan``,
``format_version`` :data:`PLANFILE_VERSION`); it is not the display JSON
of ``views/json.py``, whose version it does not follow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from reconciler.engine.inputs import Observed, Recorded
from reconciler.engine.plan import (
    ACTION_WORDS,
    Action,
    ActionKind,
    CampaignSummary,
    Convergence,
    Diagnostic,
    Plan,
    PlanMeta,
)
from reconciler.engine.policy import dump_policy, load_policy
from reconciler.errors import PlanError, StalePlan
from reconciler.model import ContactRow, DesiredState, canonical_json, digest

__all__ = [
    "PLANFILE_VERSION",
    "PLAN_KIND",
    "SavedContacts",
    "SavedPlan",
    "bind_rows",
    "check_files",
    "check_observed",
    "check_state",
    "dump_plan",
    "from_ranges",
    "index_rows",
    "involved_of",
    "load_plan",
    "observed_digest",
    "parse_plan",
    "prepare_plan",
    "to_ranges",
]

PLAN_KIND = "campaignctl-plan"
PLANFILE_VERSION = 2

_WORD_KINDS = {w: k for k, w in ACTION_WORDS.items()}

Source = Literal["files", "state"]
Involved = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SavedContacts:
    """Which contacts one saved action concerns, without their numbers.

    ``source`` "files": ``index`` are positions in the campaign's contact
    table (the action's ``row_index``); "state" (REMOVE only): positions in
    the sorted phones the state records as sent to the action's task.
    ``digest`` covers the fingerprints of those rows, in action order.
    """

    source: Source
    index: tuple[int, ...]
    digest: str


@dataclass(frozen=True)
class SavedPlan:
    """A plan read from a file, its actions unbound.

    ``plan`` has every action as saved with ``phones`` and ``rows`` empty;
    ``row_index`` holds the saved positions (for a REMOVE, the positions in
    the state, see :class:`SavedContacts`) so that views can count contacts.
    :func:`bind_rows` gives the executable plan. ``contacts`` runs parallel
    to ``plan.actions`` (None for actions without contacts). ``involved`` is
    the ``(profile, task_id)`` set ``plan.meta.observed_digest`` covers.
    """

    plan: Plan
    involved: Involved
    contacts: tuple[SavedContacts | None, ...]
    kind: str = PLAN_KIND
    format_version: int = PLANFILE_VERSION
    path: str = ""  # the file it was read from, "" when parsed from text


# --- what the observed digest covers -------------------------------------------------


def observed_digest(observed: Observed, involved: Iterable[tuple[str, str]]) -> str:
    """Digest of the observed tasks in ``involved`` (every owned task when it is empty) and of the
    profiles that could not be observed. The diff's algorithm; a saved plan's apply recomputes it
    over the saved set and refuses the plan when it differs."""
    wanted = set(involved)
    rows = []
    for profile, tasks in sorted(observed.tasks.items()):
        for t in tasks:
            if (profile, t.task_id) in wanted or not wanted:
                rows.append([profile, t.task_id, t.name, t.phase.value, t.deleted, t.contact_count])
    rows.sort()
    return digest(canonical_json({"tasks": rows, "errors": sorted(observed.errors)}))


def involved_of(plan: Plan) -> Involved:
    """The ``(profile, task_id)`` set a plan depends on, sorted.

    ``plan.meta.involved`` when the diff gave it; otherwise every task an
    action or a campaign summary of the plan names.
    """
    if plan.meta.involved:
        return tuple(sorted(set(plan.meta.involved)))
    pairs = {(a.profile, a.task_id) for a in plan.actions if a.task_id}
    pairs |= {(c.profile, t) for c in plan.campaigns for t in c.tasks if t}
    return tuple(sorted(pairs))


def prepare_plan(plan: Plan, desired: DesiredState, observed: Observed) -> Plan:
    """``plan`` ready to save: rows indexed (:func:`index_rows`), ``meta.involved`` set and
    ``meta.observed_digest`` recomputed over it, so that apply checks exactly what was saved."""
    plan = index_rows(plan, desired)
    involved = involved_of(plan)
    meta = replace(plan.meta, involved=involved, observed_digest=observed_digest(observed, involved))
    return replace(plan, meta=meta)


# --- row positions ---------------------------------------------------------------------


def to_ranges(index: Sequence[int]) -> list[list[int]]:
    """Runs of consecutive positions as ``[start, stop)`` pairs, order kept: (0,1,2,7) → [[0,3],[7,8]]."""
    out: list[list[int]] = []
    for i in index:
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def from_ranges(ranges: Iterable[Sequence[int]]) -> tuple[int, ...]:
    return tuple(i for start, stop in ranges for i in range(start, stop))


def _rows_digest(fingerprints: Iterable[str]) -> str:
    return digest("".join(fingerprints))


def _phone_positions(rows: Sequence[ContactRow]) -> dict[str, int]:
    pos: dict[str, int] = {}
    for i, row in enumerate(rows):
        pos.setdefault(row.phone, i)
    return pos


def index_rows(plan: Plan, desired: DesiredState) -> Plan:
    """Fill ``row_index`` and ``rows`` of the actions that carry phones but not yet their rows.

    What the diff will do itself; until then ``plan --out`` calls this on
    the plan the diff made from ``desired``. REMOVE actions are left alone
    (their contacts left the files). Raises ValueError when a phone is not
    in its campaign's table (the plan was not made from ``desired``).
    """
    positions: dict[str, dict[str, int]] = {}
    actions: list[Action] = []
    for a in plan.actions:
        complete = len(a.row_index) == len(a.rows) == len(a.phones)
        if not a.phones or a.kind is ActionKind.REMOVE or complete:
            actions.append(a)
            continue
        c = desired.campaign(a.campaign)
        if c is None:
            raise ValueError(f"{a.campaign}: the plan's campaign is not in the desired state")
        table = c.contacts.rows
        if len(a.row_index) == len(a.phones):
            index = a.row_index
        else:
            pos = positions.get(c.name)
            if pos is None:
                pos = positions[c.name] = _phone_positions(table)
            try:
                index = tuple(pos[p] for p in a.phones)
            except KeyError:
                raise ValueError(f"{a.campaign}: a planned phone is not in the campaign's contacts") from None
        actions.append(replace(a, row_index=index, rows=tuple(table[i] for i in index)))
    return replace(plan, actions=tuple(actions))


def _sent_table(recorded: Recorded, campaign: str, task_id: str) -> list[tuple[str, str]]:
    """(phone, fingerprint) the state records as sent to ``task_id``, sorted by phone."""
    sent = {r.phone: r.fingerprint for r in recorded.contacts.get(campaign, ()) if r.task_id == task_id}
    return sorted(sent.items())


# --- writing -------------------------------------------------------------------------------


_NUMBER = re.compile(r"\+?\d{5,}")
_PAIR = re.compile(r"\[\n\s*(\d+),\n\s*(\d+)\n\s*\]")  # an indented [start, stop] range


def _scrub(text: str, phones: frozenset[str]) -> str:
    if not phones or not text:
        return text
    return _NUMBER.sub(lambda m: "<phone>" if m.group(0) in phones else m.group(0), text)


def _contacts_of(a: Action, recorded: Recorded | None) -> dict[str, Any] | None:
    if not a.phones:
        if a.row_index:
            raise ValueError(f"{a.campaign}: an unbound action cannot be saved again; bind its rows first")
        return None
    if a.kind is ActionKind.REMOVE:
        if recorded is None:
            raise ValueError(f"{a.campaign}: a REMOVE names phones recorded in the state: pass recorded")
        table = _sent_table(recorded, a.campaign, a.task_id)
        pos = {phone: i for i, (phone, _) in enumerate(table)}
        try:
            index = tuple(pos[p] for p in a.phones)
        except KeyError:
            raise ValueError(f"{a.campaign}: a phone to remove is not recorded as sent to {a.task_id}") from None
        return {"source": "state", "rows": to_ranges(index), "count": len(index),
                "digest": _rows_digest(table[i][1] for i in index)}
    if not (len(a.row_index) == len(a.rows) == len(a.phones)) or any(
            r.phone != p for r, p in zip(a.rows, a.phones, strict=True)):
        raise ValueError(f"{a.campaign}: {a.kind.value} carries phones without their rows; call index_rows first")
    return {"source": "files", "rows": to_ranges(a.row_index), "count": len(a.row_index),
            "digest": _rows_digest(r.fingerprint for r in a.rows)}


def dump_plan(plan: Plan, involved: Iterable[tuple[str, str]], *, recorded: Recorded | None = None) -> str:
    """The plan file's text (JSON) for ``plan``.

    ``involved`` is the set ``plan.meta.observed_digest`` was computed over
    (see :func:`involved_of`, :func:`observed_digest`). Every action with
    phones must carry its ``rows`` and ``row_index`` (:func:`index_rows`);
    a REMOVE needs ``recorded``, the state snapshot the plan was made from.
    """
    phones = frozenset(p for a in plan.actions for p in a.phones)
    meta = plan.meta
    doc = {
        "kind": PLAN_KIND,
        "format_version": PLANFILE_VERSION,
        "meta": {
            "created_at": meta.created_at,
            "config_dir": meta.config_dir,
            "config_digest": meta.config_digest,
            "state_lineage": meta.state_lineage,
            "state_serial": meta.state_serial,
            "state_missing": meta.state_missing,
            "observed_digest": meta.observed_digest,
            "involved": [list(pair) for pair in sorted(set(involved))],
            "prune": meta.prune,
            "allow_replace": list(meta.allow_replace),
            "environment": meta.environment,
            "policy_at": meta.policy_at,
        },
        "actions": [
            {
                "kind": ACTION_WORDS[a.kind],
                "campaign": a.campaign,
                "profile": a.profile,
                "wave": a.wave,
                "remote_name": a.remote_name,
                "reason": _scrub(a.reason, phones),
                "task_id": a.task_id,
                "calls": a.calls,
                "replaces": a.replaces,
                "redial": a.redial,
                "drift": a.drift,
                "fingerprint": a.fingerprint,
                "contacts": _contacts_of(a, recorded),
            }
            for a in plan.actions
        ],
        "diagnostics": [
            {"severity": d.severity, "campaign": d.campaign, "message": _scrub(d.message, phones), "file": d.file,
             "line": d.line}
            for d in plan.diagnostics
        ],
        "campaigns": [
            {"name": c.name, "profile": c.profile, "mode": c.mode, "desired": c.desired, "observed": c.observed,
             "contacts": c.contacts, "sent": c.sent, "tasks": list(c.tasks), "called": c.called,
             "answered": c.answered}
            for c in plan.campaigns
        ],
        "notes": [_scrub(n, phones) for n in plan.notes],
        "policy": dump_policy(plan),  # display only: deferred entries, suppressed/held counts, forecast
        # For the state's convergence markers, written by the apply of this file (not shown). One that
        # replays warnings is left out: their text is the diff's, and the next plan writes that marker.
        "converged": [
            {"campaign": c.campaign, "digest": c.digest, "settings_fingerprint": c.settings_fingerprint, "now": c.now,
             "suppression": c.suppression, "suppressed": [list(pair) for pair in c.suppressed],
             "phases": [list(pair) for pair in c.phases], "extra": c.extra}
            for c in plan.converged if not c.warnings
        ],
    }
    # One line per [start, stop] pair (a JSON string holds no raw newline, so only ranges match).
    return _PAIR.sub(r"[\1, \2]", json.dumps(doc, ensure_ascii=False, indent=2)) + "\n"


# --- reading -------------------------------------------------------------------------------


class _Invalid(Exception):
    """A field of the file is missing or of the wrong type (the message names it)."""


T = TypeVar("T")


def _get(obj: Mapping[str, Any], key: str, kind: type[T], where: str) -> T:
    if key not in obj:
        raise _Invalid(f"{where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"{where}.{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(obj, key, int, where)
    if value < 0:
        raise _Invalid(f"{where}.{key} must not be negative")
    return value


def _maybe_count(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if obj.get(key, None) is None else _count(obj, key, where)


def _objects(obj: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = _get(obj, key, list, where)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Invalid(f"{where}.{key}[{i}] must be an object")
    return items


def _strings(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _get(obj, key, list, where)
    if not all(isinstance(s, str) for s in items):
        raise _Invalid(f"{where}.{key} must be a list of strings")
    return tuple(items)


def _pairs(obj: Mapping[str, Any], key: str, where: str, what: str = "[profile, task_id] pairs") -> Involved:
    items = _get(obj, key, list, where)
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in items):
        raise _Invalid(f"{where}.{key} must be a list of {what}")
    return tuple((p[0], p[1]) for p in items)


def _label_counts(obj: Mapping[str, Any], key: str, where: str) -> tuple[tuple[str, int], ...]:
    items = _get(obj, key, list, where)
    if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)
               and not isinstance(p[1], bool) and p[1] >= 0 for p in items):
        raise _Invalid(f"{where}.{key} must be a list of [label, count] pairs")
    return tuple((p[0], p[1]) for p in items)


def _convergence(obj: Mapping[str, Any], where: str) -> Convergence:
    return Convergence(
        campaign=_get(obj, "campaign", str, where),
        digest=_get(obj, "digest", str, where),
        settings_fingerprint=_get(obj, "settings_fingerprint", str, where),
        now=_get(obj, "now", bool, where),
        suppression=_get(obj, "suppression", str, where),
        suppressed=_label_counts(obj, "suppressed", where),
        phases=_pairs(obj, "phases", where, "[task_id, phase] pairs"),
        extra=_count(obj, "extra", where),
    )


def _ranges(obj: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    items = _get(obj, key, list, where)
    for r in items:
        ok = (isinstance(r, list) and len(r) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in r)
              and 0 <= r[0] < r[1])
        if not ok:
            raise _Invalid(f"{where}.{key} must be a list of [start, stop] ranges with 0 <= start < stop")
    return from_ranges(items)


def _meta(obj: Mapping[str, Any]) -> PlanMeta:
    w = "meta"
    return PlanMeta(
        created_at=_get(obj, "created_at", str, w),
        config_dir=_get(obj, "config_dir", str, w),
        config_digest=_get(obj, "config_digest", str, w),
        state_lineage=_get(obj, "state_lineage", str, w),
        state_serial=_count(obj, "state_serial", w),
        observed_digest=_get(obj, "observed_digest", str, w),
        prune=_get(obj, "prune", bool, w),
        allow_replace=_strings(obj, "allow_replace", w),
        state_missing=_get(obj, "state_missing", bool, w),
        involved=_pairs(obj, "involved", w),
        environment=_get(obj, "environment", str, w) if "environment" in obj else "",
        policy_at=obj["policy_at"] if isinstance(obj.get("policy_at"), str) else "",
    )


def _action(obj: Mapping[str, Any], where: str) -> tuple[Action, SavedContacts | None]:
    word = _get(obj, "kind", str, where)
    if word not in _WORD_KINDS:
        raise _Invalid(f"{where}.kind {word!r} is not one of {', '.join(_WORD_KINDS)}")
    kind = _WORD_KINDS[word]
    saved: SavedContacts | None = None
    if obj.get("contacts") is not None:
        c = _get(obj, "contacts", dict, where)
        cw = f"{where}.contacts"
        source = _get(c, "source", str, cw)
        if source not in ("files", "state") or (source == "state") != (kind is ActionKind.REMOVE):
            raise _Invalid(f"{cw}.source {source!r} does not fit a {word} action")
        index = _ranges(c, "rows", cw)
        if _count(c, "count", cw) != len(index):
            raise _Invalid(f"{cw}.count does not match its rows")
        saved = SavedContacts("state" if source == "state" else "files", index, _get(c, "digest", str, cw))
    action = Action(
        kind=kind,
        campaign=_get(obj, "campaign", str, where),
        profile=_get(obj, "profile", str, where),
        wave=_count(obj, "wave", where),
        remote_name=_get(obj, "remote_name", str, where),
        reason=_get(obj, "reason", str, where),
        task_id=_get(obj, "task_id", str, where),
        calls=_count(obj, "calls", where),
        replaces=_get(obj, "replaces", bool, where),
        redial=_count(obj, "redial", where),
        drift=_get(obj, "drift", bool, where),
        row_index=saved.index if saved else (),
        fingerprint=_get(obj, "fingerprint", str, where),
    )
    return action, saved


def _diagnostic(obj: Mapping[str, Any], where: str) -> Diagnostic:
    severity = _get(obj, "severity", str, where)
    if severity not in ("error", "warning"):
        raise _Invalid(f"{where}.severity must be error or warning")
    return Diagnostic(severity, _get(obj, "campaign", str, where), _get(obj, "message", str, where),
                      _get(obj, "file", str, where), _count(obj, "line", where))


def _summary(obj: Mapping[str, Any], where: str) -> CampaignSummary:
    return CampaignSummary(
        name=_get(obj, "name", str, where),
        profile=_get(obj, "profile", str, where),
        mode=_get(obj, "mode", str, where),
        desired=_get(obj, "desired", str, where),
        observed=_get(obj, "observed", str, where),
        contacts=_count(obj, "contacts", where),
        sent=_count(obj, "sent", where),
        tasks=_strings(obj, "tasks", where),
        called=_maybe_count(obj, "called", where),
        answered=_maybe_count(obj, "answered", where),
    )


def parse_plan(text: str, *, source: str = "") -> SavedPlan:
    """A plan file's text as a :class:`SavedPlan`; ``source`` names the file in messages."""
    name = source or "the plan"
    hint = "(make one with `campaignctl plan DIR --out FILE`)"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise PlanError(f"{name} is not a saved campaignctl plan {hint}") from None
    if not isinstance(doc, dict) or doc.get("kind") != PLAN_KIND:
        raise PlanError(f"{name} is not a saved campaignctl plan {hint}")
    version = doc.get("format_version")
    if version != PLANFILE_VERSION:
        raise PlanError(f"{name} has plan format {version}; this campaignctl reads format {PLANFILE_VERSION}: "
                        f"run `campaignctl plan DIR --out FILE` again")
    try:
        meta = _meta(_get(doc, "meta", dict, "plan"))
        pairs = [_action(a, f"actions[{i}]") for i, a in enumerate(_objects(doc, "actions", "plan"))]
        plan = Plan(
            actions=tuple(a for a, _ in pairs),
            diagnostics=tuple(_diagnostic(d, f"diagnostics[{i}]")
                              for i, d in enumerate(_objects(doc, "diagnostics", "plan"))),
            campaigns=tuple(_summary(c, f"campaigns[{i}]") for i, c in enumerate(_objects(doc, "campaigns", "plan"))),
            meta=meta,
            notes=_strings(doc, "notes", "plan"),
            # (absent from files written before it was saved: their apply writes no marker)
            converged=tuple(_convergence(c, f"converged[{i}]")
                            for i, c in enumerate(_objects(doc, "converged", "plan"))) if "converged" in doc else (),
        )
        plan = load_policy(plan, doc.get("policy"))
    except _Invalid as exc:
        raise PlanError(f"{name} is not a valid campaignctl plan: {exc}") from None
    return SavedPlan(plan, meta.involved, tuple(c for _, c in pairs), PLAN_KIND, PLANFILE_VERSION, source)


def load_plan(path: Path) -> SavedPlan:
    """Read a plan file; PlanError when it is missing, unreadable, not a plan, or of another format."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"the plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        raise PlanError(f"{path} is not a saved campaignctl plan ({why})") from exc
    return parse_plan(text, source=str(path))


# --- binding and checking ---------------------------------------------------------------


def _stale_rows(campaign: str, what: str) -> StalePlan:
    return StalePlan(f"{campaign}: {what} changed since the plan was made; run plan again")


def bind_rows(saved: SavedPlan, desired: DesiredState, recorded: Recorded | None = None) -> Plan:
    """The executable plan: each action's ``rows`` and ``phones`` filled from ``desired``.

    Rows come from ``desired.campaign(name).contacts.rows[i]`` for each saved
    position; a REMOVE's phones from ``recorded`` (required when the plan
    has one). StalePlan when a campaign is gone, a position is out of range
    or the rows' fingerprints differ from the saved digest.
    """
    actions: list[Action] = []
    for a, c in zip(saved.plan.actions, saved.contacts, strict=True):
        if c is None:
            actions.append(a)
        elif c.source == "state":
            if recorded is None:
                raise ValueError(f"{a.campaign}: the plan removes contacts recorded in the state: pass recorded")
            table = _sent_table(recorded, a.campaign, a.task_id)
            if any(i >= len(table) for i in c.index) or _rows_digest(table[i][1] for i in c.index) != c.digest:
                raise _stale_rows(a.campaign, f"the contacts recorded as sent to task {a.task_id}")
            actions.append(replace(a, phones=tuple(table[i][0] for i in c.index), rows=(), row_index=()))
        else:
            campaign = desired.campaign(a.campaign)
            if campaign is None:
                raise StalePlan(f"{a.campaign}: the campaign is no longer in the files; run plan again")
            table_rows = campaign.contacts.rows
            if any(i >= len(table_rows) for i in c.index):
                raise _stale_rows(a.campaign, "the contact table")
            rows = tuple(table_rows[i] for i in c.index)
            if _rows_digest(r.fingerprint for r in rows) != c.digest:
                raise _stale_rows(a.campaign, "the planned contact rows")
            actions.append(replace(a, rows=rows, phones=tuple(r.phone for r in rows), row_index=c.index))
    return replace(saved.plan, actions=tuple(actions))


def check_files(saved: SavedPlan, config_digest: str, directory: Path | str) -> None:
    if saved.plan.meta.config_digest != config_digest:
        raise StalePlan(f"the files in {directory} changed since the plan was made; run plan again")


def check_state(saved: SavedPlan, recorded: Recorded, recovered: Sequence[str] = ()) -> None:
    """StalePlan unless the state is the one the plan was made against and recovery settled nothing."""
    meta = saved.plan.meta
    if meta.state_lineage != recorded.lineage:
        raise StalePlan("the plan was made against another state store; run plan again")
    if recovered or meta.state_serial != recorded.serial:
        raise StalePlan("the state changed since the plan was made (another apply ran, or an interrupted one "
                        "was recovered); run plan again")


def check_observed(saved: SavedPlan, observed: Observed) -> None:
    if observed_digest(observed, saved.involved) != saved.plan.meta.observed_digest:
        raise StalePlan("the platform changed since the plan was made; run plan again")
