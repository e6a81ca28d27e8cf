"""What the stored pushes say about each contact: one outcome per contact row.

Pure functions over :class:`ResultRecord` values (no I/O). A *call* is every
push sharing a call key (xfyeta: the basic and the outbound call record, the
dialog and the recording of one ``call_uuid``; yccall: one call record). A
contact's outcome is taken from one call: the latest answered call when any
was answered, else the latest call with a call record, else the latest call;
``tries`` counts the calls (or the vendor's own try counter when higher),
``intention`` and ``recording_url`` come from the chosen call, else from the
latest call that has one. "Latest" orders by the vendor's dial time, then by
arrival.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.state.base import ResultRecord

__all__ = [
    "XFYETA_ANSWERED_CODES",
    "XFYETA_RESULTS",
    "CallResult",
    "ContactOutcome",
    "StoredDials",
    "call_results",
    "dial_history",
    "outcome_label",
    "summarize",
]

# task_result -> task_result_desc, as the vendor's push document lists them.
XFYETA_RESULTS: Mapping[str, str] = {
    "-1": "超时", "0": "成功", "2": "正在通话中", "3": "无法接通", "4": "关机", "5": "用户正忙", "6": "空号",
    "7": "号码错误", "8": "用户拒接", "9": "停机", "15": "客户接听后并主动挂机", "16": "客户掉线", "18": "接通",
    "19": "转人工", "20": "用户未接", "22": "来电提醒", "23": "呼入限制", "25": "呼叫转移", "26": "网络故障",
    "27": "呼出受限", "28": "线路故障",
}
# Codes that mean the callee picked up; used only when a record lacks time_answer.
XFYETA_ANSWERED_CODES = frozenset({"0", "15", "16", "18", "19"})
CALL_MODULES = frozenset({"receiveCallRecord", "callrecord"})


@dataclass(frozen=True)
class CallResult:
    """One call, from all the pushes about it."""

    call: str
    order: int  # arrival of its first push
    at: int  # the vendor's dial (or hangup) time in ms, 0 when unknown
    has_record: bool  # a call record arrived (not only a dialog or a recording)
    result_code: str = ""
    result: str = ""
    answered: bool | None = None
    duration_ring: int | None = None
    duration_call: int | None = None
    tries: int | None = None  # the vendor's try counter (1 = first try), when it sends one
    intention: str = ""
    intention_desc: str = ""
    recording_url: str = ""


@dataclass(frozen=True)
class ContactOutcome:
    """The outcome columns of one contact row; ``calls == 0``: no result yet (``answered`` None)."""

    result_code: str = ""
    result: str = ""
    answered: bool | None = None
    duration_ring: int | None = None
    duration_call: int | None = None
    tries: int = 0
    intention: str = ""
    recording_url: str = ""
    calls: int = 0

    @property
    def dialed(self) -> bool:
        return self.calls > 0


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text)) if text else None
        except ValueError:
            return None
    return None


def _set(value: Any) -> bool:
    """A timestamp field "set": present, not empty, not zero."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        value = value.strip()
        return value not in ("", "0", "null", "0000-00-00 00:00:00")
    return bool(value)


#: Below this a push time is in seconds: the push document calls its times "unix_time" and its samples are
#: milliseconds; 1e11 ms is 1973, 1e11 s the year 5138, so no real time reads as both.
SECONDS_BELOW = 100_000_000_000


def _epoch_ms(value: int) -> int:
    """A push time in ms, whether the platform sent seconds or milliseconds."""
    return value * 1000 if value < SECONDS_BELOW else value


def _intention(body: Mapping[str, Any]) -> tuple[str, str]:
    """The dialog's intention: the last tag in dialog order, else ``tag_max``."""
    dialog = body.get("dialog")
    nodes = [d for d in dialog if isinstance(d, dict)] if isinstance(dialog, list) else []
    indexed = sorted(enumerate(nodes), key=lambda p: (_int(p[1].get("seq")) or 0, p[0]))
    for _, node in reversed(indexed):
        tag = node.get("tag_name")
        if isinstance(tag, str) and tag.strip():
            desc = node.get("tag_desc")
            return tag.strip(), desc.strip() if isinstance(desc, str) else ""
    tag = body.get("tag_max")
    return (tag.strip(), "") if isinstance(tag, str) and tag.strip() else ("", "")


def _xfyeta_call(call: str, order: int, records: Sequence[ResultRecord]) -> CallResult:
    call_records = [r for r in records if r.module == "receiveCallRecord"]
    # the outbound record holds every field of the basic one: it wins where both say something
    call_records.sort(key=lambda r: (r.key.endswith("#outbound"), r.id))
    merged: dict[str, Any] = {}
    for r in call_records:
        merged.update({k: v for k, v in r.body.items() if v is not None})
    code = str(merged["task_result"]).strip() if merged.get("task_result") not in (None, "") else ""
    desc = merged.get("task_result_desc")
    result = desc.strip() if isinstance(desc, str) and desc.strip() else XFYETA_RESULTS.get(code, "")
    answered: bool | None
    if "time_answer" in merged:
        answered = _set(merged.get("time_answer"))
    elif code:
        answered = code in XFYETA_ANSWERED_CODES
    else:
        answered = None
    tries = _int(merged.get("task_tries"))
    intention = ("", "")
    url = ""
    for r in records:
        if r.module == "receiveDialog":
            found = _intention(r.body)
            if found[0]:
                intention = found
        elif r.module == "receiveVoice" and isinstance(r.body.get("url"), str):
            url = r.body["url"].strip() or url
    at = next((_epoch_ms(v) for v in (_int(merged.get(k)) for k in ("time_dial", "time_ring", "time_hangup"))
               if v and v > 0), 0)
    return CallResult(
        call=call, order=order, at=at, has_record=bool(call_records), result_code=code, result=result,
        answered=answered if call_records else None, duration_ring=_int(merged.get("duration_ring")),
        duration_call=_int(merged.get("duration_call")), tries=None if tries is None else tries + 1,
        intention=intention[0], intention_desc=intention[1], recording_url=url,
    )


def _yccall_call(call: str, order: int, records: Sequence[ResultRecord]) -> CallResult:
    record = next((r for r in records if r.module == "callrecord"), None)
    body: Mapping[str, Any] = record.body if record is not None else {}
    code = str(body["hangupcause"]).strip() if body.get("hangupcause") not in (None, "") else ""
    if "answertime" in body:
        answered = _set(body.get("answertime"))
    elif "billsec" in body:
        answered = (_int(body.get("billsec")) or 0) > 0
    elif "answered" in body:
        answered = str(body.get("answered")).strip().lower() in ("1", "true")
    else:
        answered = None
    url = body.get("recordurl")
    return CallResult(
        call=call, order=order, at=0, has_record=record is not None, result_code=code, result="",
        answered=answered if record is not None else None, duration_ring=_int(body.get("duration")),
        duration_call=_int(body.get("billsec")), tries=None,
        recording_url=url.strip() if isinstance(url, str) else "",
    )


def call_results(records: Iterable[ResultRecord]) -> list[CallResult]:
    """The calls the records describe (task-level pushes left out), in arrival order."""
    groups: dict[str, list[ResultRecord]] = {}
    for r in records:
        if not r.call:
            continue
        groups.setdefault(f"{r.profile}\x1f{r.call}", []).append(r)
    calls: list[CallResult] = []
    for key, members in groups.items():
        members.sort(key=lambda r: r.id)
        call = key.split("\x1f", 1)[1]
        yccall = any(r.module in ("callrecord", "taskstatus") for r in members)
        build = _yccall_call if yccall else _xfyeta_call
        calls.append(build(call, members[0].id, members))
    calls.sort(key=lambda c: c.order)
    return calls


def summarize(records: Iterable[ResultRecord]) -> ContactOutcome:
    """The outcome of one contact from every result joined to it."""
    calls = call_results(records)
    if not calls:
        return ContactOutcome()
    latest = sorted(calls, key=lambda c: (c.at, c.order))
    answered = [c for c in latest if c.answered]
    with_record = [c for c in latest if c.has_record]
    chosen = (answered or with_record or latest)[-1]
    counted = len(with_record) or len(calls)
    tries = max([counted, *(c.tries for c in calls if c.tries is not None)])
    intention = chosen.intention or next((c.intention for c in reversed(latest) if c.intention), "")
    url = chosen.recording_url or next((c.recording_url for c in reversed(latest) if c.recording_url), "")
    any_answered: bool | None = True if answered else (False if with_record else None)
    return ContactOutcome(
        result_code=chosen.result_code, result=chosen.result, answered=any_answered,
        duration_ring=chosen.duration_ring, duration_call=chosen.duration_call, tries=tries,
        intention=intention, recording_url=url, calls=len(calls),
    )


def outcome_label(outcome: ContactOutcome) -> str:
    """How an outcome is counted in a breakdown: the vendor's words, else its code."""
    if not outcome.dialed:
        return "not dialed"
    if outcome.result:
        return f"{outcome.result_code} {outcome.result}".strip()
    if outcome.result_code:
        state = "answered" if outcome.answered else "not answered"
        return f"{outcome.result_code} ({state})"
    if outcome.answered is None:
        return "unknown"
    return "answered" if outcome.answered else "not answered"


def _received(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class StoredDials(Mapping[str, tuple[tuple[str, datetime], ...]]):
    """:func:`dial_history` of the results the state holds, read when asked for: of some phones
    (:meth:`of`: their results only, read each time; the caller keeps what it read) or of all of them
    (the mapping: every result, read once and kept). A plan with a frequency cap reads the history of the
    numbers it would send, not every result."""

    def __init__(self, read: Callable[[Sequence[str] | None], Iterable[ResultRecord]]) -> None:
        self._read = read  # None: every result; else the results joined to these phones
        self._history: dict[str, tuple[tuple[str, datetime], ...]] | None = None
        self._lock = threading.Lock()

    def of(self, phones: Sequence[str]) -> dict[str, tuple[tuple[str, datetime], ...]]:
        """The history of ``phones`` (those with any call)."""
        history = self._history
        if history is not None:
            return {p: history[p] for p in phones if p in history}
        return dial_history(self._read(phones))  # a call's pushes all carry its contact's phone

    def _get(self) -> dict[str, tuple[tuple[str, datetime], ...]]:
        with self._lock:
            if self._history is None:
                self._history = dial_history(self._read(None))
            return self._history

    def __getitem__(self, phone: str) -> tuple[tuple[str, datetime], ...]:
        return self._get()[phone]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def dial_history(records: Iterable[ResultRecord]) -> dict[str, tuple[tuple[str, datetime], ...]]:
    """Phone → (campaign, when) of every call the records show to a contact row (one per call: every push
    sharing a call key; recall rounds are calls of their own). When: the vendor's dial time (xfyeta
    ``time_dial``/``time_ring``/``time_hangup``), else when the call's first push arrived. Pushes not joined
    to a contact row, and task-level ones, are left out. For the frequency caps of the dialing policy."""
    groups: dict[tuple[str, str], list[ResultRecord]] = {}
    for r in records:
        if r.call and r.phone and r.campaign:
            groups.setdefault((r.profile, r.call), []).append(r)
    out: dict[str, list[tuple[str, datetime]]] = {}
    for (_, call), members in groups.items():
        members.sort(key=lambda r: r.id)
        first = members[0]
        yccall = any(r.module in ("callrecord", "taskstatus") for r in members)
        at_ms = 0 if yccall else _xfyeta_call(call, first.id, members).at
        when = datetime.fromtimestamp(at_ms / 1000, UTC) if at_ms > 0 else None
        if when is None:
            arrivals = [t for t in (_received(r.received_at) for r in members) if t is not None]
            when = min(arrivals) if arrivals else None
        if when is not None:
            out.setdefault(first.phone, []).append((first.campaign, when))
    return {phone: tuple(sorted(calls, key=lambda c: c[1])) for phone, calls in out.items()}
