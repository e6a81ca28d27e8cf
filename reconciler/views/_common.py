"""What every view shares: the replace-pair collapse, counts, wording, widths.

Views never decide: everything here only reshapes what the plan says. The
one liberty taken is :func:`scrub`, which hides a plan's own phone numbers
should any free text (a vendor message, a diagnostic) quote one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.engine.plan import (
    ACTION_WORDS,
    Action,
    ActionKind,
    ApplyResult,
    CampaignSummary,
    Deferred,
    Plan,
    StepResult,
    StepStatus,
)
from reconciler.engine.policy import when_text

__all__ = [
    "SYMBOLS",
    "Item",
    "PlanCounts",
    "PlanPhones",
    "ResultCounts",
    "by_campaign",
    "campaign_headline",
    "collapse",
    "deferred_counts",
    "describe",
    "describe_deferred",
    "describe_step",
    "detail",
    "display_width",
    "pad",
    "phones_of",
    "plan_summary",
    "plural",
    "policy_lines",
    "resolve_hint",
    "result_summary",
    "scrub",
    "step_word",
    "unknown_campaigns",
]

# Words of the shared display vocabulary (the JSON view maps kinds on its own).
SYMBOLS: dict[str, str] = {
    "create": "+",
    "delete": "-",
    "replace": "-/+",
    "insert": "+",
    "remove": "-",
    "start": "~",
    "pause": "~",
    "dial": ">",
    "adopt": "=",
}


@dataclass(frozen=True)
class Item:
    """One displayed line of a plan: an action, or a DELETE+CREATE replace pair.

    ``action`` is the DELETE of a pair (it names the task being replaced),
    ``paired`` its CREATE.
    """

    word: str
    action: Action
    paired: Action | None = None

    @property
    def campaign(self) -> str:
        return self.action.campaign

    @property
    def contacts(self) -> int:
        """Contacts carried by this item (a replace counts those its CREATE carries)."""
        if self.paired is not None:
            return self.paired.count
        return self.action.count

    @property
    def calls(self) -> int:
        """Vendor calls planned; adopting is a state write, not a vendor call."""
        acts = (self.action,) if self.paired is None else (self.action, self.paired)
        return sum(a.calls for a in acts if a.kind.mutates_platform)

    @property
    def redial(self) -> int:
        return max(self.action.redial, self.paired.redial if self.paired else 0)

    @property
    def drift(self) -> bool:
        return self.action.drift or bool(self.paired and self.paired.drift)


def collapse(actions: Sequence[Action]) -> list[Item]:
    """Plan order, with each replacing DELETE and the first replacing CREATE of its lane merged.

    A replacing CREATE without its DELETE (the old task is already gone)
    stays a plain create; its ``redial`` is still shown.
    """
    used: set[int] = set()
    items: list[Item] = []
    for i, action in enumerate(actions):
        if i in used:
            continue
        if action.kind is ActionKind.DELETE and action.replaces:
            j = next(
                (j for j in range(i + 1, len(actions))
                 if j not in used and actions[j].kind is ActionKind.CREATE and actions[j].replaces
                 and actions[j].lane == action.lane),
                None,
            )
            if j is not None:
                used.add(j)
                items.append(Item("replace", action, actions[j]))
                continue
        items.append(Item(ACTION_WORDS[action.kind], action))
    return items


def by_campaign(items: Iterable[Item]) -> list[tuple[str, list[Item]]]:
    """Items grouped by campaign, campaigns in plan order."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.campaign, []).append(item)
    return list(groups.items())


@dataclass(frozen=True)
class PlanCounts:
    create: int = 0
    replace: int = 0
    delete: int = 0
    insert: int = 0
    remove: int = 0
    start: int = 0
    pause: int = 0
    dial: int = 0
    adopt: int = 0
    contacts_to_insert: int = 0  # inserted by INSERT actions and carried by CREATEs
    contacts_to_remove: int = 0
    contacts_to_dial: int = 0
    redial: int = 0  # contacts replacements will dial again
    calls: int = 0  # vendor calls planned

    @classmethod
    def of(cls, items: Sequence[Item]) -> PlanCounts:
        words = {w: sum(1 for i in items if i.word == w) for w in SYMBOLS}
        return cls(
            **words,
            contacts_to_insert=sum(i.contacts for i in items if i.word in ("insert", "create", "replace")),
            contacts_to_remove=sum(i.contacts for i in items if i.word == "remove"),
            contacts_to_dial=sum(i.contacts for i in items if i.word == "dial"),
            redial=sum(i.redial for i in items),
            calls=sum(i.calls for i in items),
        )


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def plan_summary(plan: Plan) -> str:
    """The one-line summary shared by the text and markdown views."""
    waiting = f"{len(plan.deferred)} deferred by the dialing policy" if plan.deferred else ""
    if not plan.has_changes:
        if plan.errors:
            return f"No changes can be planned: {plural(len(plan.errors), 'error')}."
        if waiting:
            return f"No changes now; {waiting} (done by a later plan once allowed)."
        return "No changes. The platforms match the files."
    c = PlanCounts.of(collapse(plan.actions))
    line = (f"Plan: {c.create} to create, {c.replace} to replace, {c.start} to start, {c.pause} to pause, "
            f"{c.delete} to delete; {c.contacts_to_insert} contacts to insert, {c.contacts_to_dial} to dial")
    if c.contacts_to_remove:
        line += f", {c.contacts_to_remove} to remove"
    if c.adopt:
        line += f"; {c.adopt} to adopt into the state"
    if waiting:
        line += f"; {waiting}"
    return line + "."


# --- the dialing policy --------------------------------------------------------------------

_DEFERRED_WORDS: dict[ActionKind, str] = {ActionKind.DIAL: "dial", ActionKind.START: "start",
                                          ActionKind.INSERT: "insert"}


def _plan_now(plan: Plan) -> datetime:
    try:
        return datetime.fromisoformat((plan.meta.policy_at or plan.meta.created_at).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def deferred_word(d: Deferred) -> str:
    return _DEFERRED_WORDS.get(d.kind, d.kind.value)


def describe_deferred(d: Deferred, plan: Plan) -> str:
    """``dial 40 contacts at 09:00 Tue``, ``start gitops-spring at 09:00 Tue``."""
    word = deferred_word(d)
    what = f"{word} {d.remote_name}" if d.kind is ActionKind.START else f"{word} {plural(d.contacts, 'contact')}"
    when = when_text(d.at, _plan_now(plan))
    return f"{what} at {when}" if d.at is not None else f"{what}: {when}"


@dataclass(frozen=True)
class DeferredCounts:
    deferred: int = 0
    contacts: int = 0  # contacts whose dial or insert is deferred


def deferred_counts(plan: Plan) -> DeferredCounts:
    return DeferredCounts(len(plan.deferred), sum(d.contacts for d in plan.deferred))


def _forecast_text(s: CampaignSummary) -> str:
    fc = s.forecast
    if fc is None:
        return ""
    done = f"done around {fc.finish:%Y-%m-%d %H:%M}" if fc.finish else "not done within a year"
    end = f", after schedule.end {fc.end:%Y-%m-%d %H:%M}" if fc.late and fc.end else ""
    return (f"forecast: {plural(fc.contacts, 'contact')} to dial (~{fc.calls} calls at ~{fc.calls_per_hour:.0f} "
            f"per open hour, ~{fc.hours:.1f} open hours), {done}{end}")


def policy_lines(plan: Plan) -> list[tuple[str, str]]:
    """(campaign, what the dialing policy did to it) for every campaign it touched."""
    out: list[tuple[str, str]] = []
    for s in plan.campaigns:
        parts = []
        if s.suppressed:
            by = ", ".join(f"{label} {n}" for label, n in s.suppressed_by)
            parts.append(f"{plural(s.suppressed, 'contact')} suppressed ({by})")
        if s.held:
            parts.append(f"{plural(s.held, 'contact')} held back by max_dials")
        if s.forecast is not None:
            parts.append(_forecast_text(s))
        if parts:
            out.append((s.name, "; ".join(parts)))
    return out


def campaign_headline(items: Sequence[Item]) -> str:
    """What happens to one campaign as a whole, Terraform's "will be created" line."""
    words = {i.word for i in items}
    if "replace" in words:
        return "must be replaced"
    if words == {"delete"}:
        return "will be deleted"
    if words == {"adopt"}:
        return "will be adopted into the state"
    if "dial" in words:
        dial = sum(i.contacts for i in items if i.word == "dial")
        return f"will dial {plural(dial, 'contact')}"
    touches_existing = any(i.action.task_id for i in items) or any(i.action.wave > 1 for i in items)
    if "create" in words and not touches_existing:
        return "will be created"
    return "will be updated in place"


def _calls(n: int) -> str:
    return plural(n, "call")


def describe(item: Item) -> str:
    """The action text after the symbol, e.g. ``insert 120 contacts (3 calls)``."""
    a = item.action
    word = item.word
    if word in ("create", "replace"):
        text = f"{word} {a.remote_name}"
        if item.contacts:
            text += f" with {plural(item.contacts, 'contact')}"
        if item.redial:
            text += f" ({plural(item.redial, 'contact')} will be dialed again)"
        return text
    if word == "delete":
        return f"delete {a.remote_name}" + (f" (task {a.task_id})" if a.task_id else "")
    if word == "insert":
        return f"insert {plural(item.contacts, 'contact')} ({_calls(item.calls)})"
    if word == "remove":
        return f"remove {plural(item.contacts, 'contact')}"
    if word == "dial":
        return f"dial {plural(item.contacts, 'contact')} ({_calls(item.calls)})"
    if word == "adopt":
        return f"adopt {a.task_id} as {a.remote_name} (state only)"
    return f"{word} {a.remote_name}"  # start, pause


def detail(item: Item) -> str:
    """:func:`describe` without the leading verb, for tables with an action column."""
    text = describe(item)
    return text[len(item.word) + 1:] if text.startswith(item.word + " ") else text


def step_word(step: StepResult) -> str:
    return ACTION_WORDS[step.action.kind]


def describe_step(step: StepResult) -> str:
    """A step of an apply: the planned action, what became of it, and the vendor's word on failure."""
    a = step.action
    word = step_word(step)
    if a.kind in (ActionKind.INSERT, ActionKind.DIAL):  # the calls made follow; the planned count would repeat it
        text = f"{word} {plural(a.count, 'contact')}"
    else:
        text = describe(Item(word, a))
    if a.replaces and a.kind in (ActionKind.CREATE, ActionKind.DELETE):
        text += " (replace)"
    facts = []
    if a.kind is ActionKind.CREATE and step.task_id:
        facts.append(f"task {step.task_id}")
    if a.kind in (ActionKind.INSERT, ActionKind.DIAL, ActionKind.CREATE) and step.done and step.done != a.count:
        facts.append(f"{step.done} done")
    if step.calls and step.status is not StepStatus.SKIPPED:
        facts.append(f"{_calls(step.calls)} made")
    if facts:
        text += ": " + ", ".join(facts)
    return text


@dataclass(frozen=True)
class ResultCounts:
    calls: int = 0
    created: int = 0
    replaced: int = 0
    deleted: int = 0
    started: int = 0
    paused: int = 0
    adopted: int = 0
    inserted: int = 0  # contacts
    removed: int = 0  # contacts
    dialed: int = 0  # contacts surely dialed (unknown outcomes excluded)
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0  # of the skipped: stopped by the calling hours, due later

    @classmethod
    def of(cls, result: ApplyResult) -> ResultCounts:
        ok = [s for s in result.steps if s.status is StepStatus.OK]

        def n(kind: ActionKind, replaces: bool | None = None) -> int:
            return sum(1 for s in ok if s.action.kind is kind and (replaces is None or s.action.replaces == replaces))

        def done(*kinds: ActionKind) -> int:
            return sum(s.done for s in result.steps if s.action.kind in kinds)

        return cls(
            calls=sum(s.calls for s in result.steps),
            created=n(ActionKind.CREATE, False),
            replaced=n(ActionKind.CREATE, True),
            deleted=n(ActionKind.DELETE, False),
            started=n(ActionKind.START),
            paused=n(ActionKind.PAUSE),
            adopted=n(ActionKind.ADOPT),
            inserted=done(ActionKind.INSERT, ActionKind.CREATE),
            removed=done(ActionKind.REMOVE),
            dialed=done(ActionKind.DIAL),
            failed=result.count(StepStatus.FAILED),
            unknown=result.count(StepStatus.UNKNOWN),
            skipped=result.count(StepStatus.SKIPPED),
            deferred=sum(1 for s in result.steps if s.deferred),
        )


def result_summary(result: ApplyResult) -> str:
    """``Apply complete: ...`` or ``Apply failed: ...``, one line."""
    c = ResultCounts.of(result)
    done = [
        f"{c.created} created" if c.created else "",
        f"{c.replaced} replaced" if c.replaced else "",
        f"{c.started} started" if c.started else "",
        f"{c.paused} paused" if c.paused else "",
        f"{c.deleted} deleted" if c.deleted else "",
        f"{c.adopted} adopted" if c.adopted else "",
        f"{plural(c.inserted, 'contact')} inserted" if c.inserted else "",
        f"{plural(c.removed, 'contact')} removed" if c.removed else "",
        f"{plural(c.dialed, 'contact')} dialed" if c.dialed else "",
    ]
    parts = [f"{plural(c.calls, 'call')} made", ", ".join(d for d in done if d) or "nothing changed"]
    bad = [
        f"{c.failed} failed" if c.failed else "",
        f"{c.unknown} with unknown outcome" if c.unknown else "",
        f"{c.skipped - c.deferred} skipped" if c.skipped - c.deferred else "",
        f"{c.deferred} deferred by the calling hours (due later)" if c.deferred else "",
        plural(len(result.errors), "error") if result.errors else "",
    ]
    if any(bad):
        parts.append(", ".join(b for b in bad if b))
    head = "Apply complete" if result.ok else "Apply failed"
    return f"{head}: " + "; ".join(parts) + "."


def unknown_campaigns(result: ApplyResult) -> list[str]:
    """Campaigns with a dial batch of unknown outcome, each needing ``state resolve``."""
    names: dict[str, None] = {}
    for s in result.steps:
        if s.status is StepStatus.UNKNOWN and s.action.kind is ActionKind.DIAL:
            names[s.action.campaign] = None
    return list(names)


def resolve_hint(campaign: str) -> str:
    return f"campaignctl state resolve {campaign} --dialed|--not-dialed"


# --- width and scrubbing ------------------------------------------------------------


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and fullwidth characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """Left-justify to ``width`` terminal columns (``str.ljust`` counts CJK as one)."""
    return text + " " * max(0, width - display_width(text))


_NUMBER = re.compile(r"\+?\d{5,}")


class PlanPhones:
    """The plan's own phone numbers, for :func:`scrub`: gathered the first time a text quotes a number
    (most texts quote none, and a first plan of a million contacts would gather them for nothing)."""

    __slots__ = ("_phones", "_plan")

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._phones: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return any(a.phones for a in self._plan.actions)

    def __contains__(self, phone: object) -> bool:
        if self._phones is None:
            self._phones = frozenset(p for a in self._plan.actions for p in a.phones)
        return phone in self._phones


def phones_of(plan: Plan) -> PlanPhones:
    return PlanPhones(plan)


def scrub(text: str, phones: PlanPhones) -> str:
    """Mask any of the plan's own phone numbers quoted in free text."""
    if not text or not phones:
        return text
    return _NUMBER.sub(lambda m: "<phone>" if m.group(0) in phones else m.group(0), text)
