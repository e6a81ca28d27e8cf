"""Local emulator of the xfyeta (iFlytek Yeta) outbound robot API.

Behaves like the vendor API as documented in ``seeds/xfyeta-outbound-api.zh.md``
and ``providers/xfyeta.md``: token check, request validation with the vendor's
error codes, the task status machine with time-scaled dialing progress, and
fault injection. Task state is computed lazily from the ``Clock`` on every
request (no background thread); one lock guards everything.

Choices where the vendor documents are silent (see providers/xfyeta.md, "Gaps"):
- insert on a task that was ever started -> 10005 "task already started, data can
  no longer be submitted" (the seed only says it is not possible);
- duplicate phones inside one task are accepted and counted (``duplicates`` in state);
- query ``time_begin``/``time_end`` filter the task creation time, in ms;
- query ``task_name`` is an SQL-LIKE style match (``%name%``, case-insensitive,
  ``%`` and ``_`` act as wildcards), so callers must filter exact names themselves;
- deleted tasks stay listed with ``deleted: 1`` (``list_deleted``), their status frozen;
- default query order is ID DESC (newest first);
- windows and line working hours are read in ``timezone`` (Asia/Shanghai);
- every ``unanswered_every``-th number (3rd, 6th, ...) never answers, in every round;
- a new token does not revoke older ones; ``expire-token`` revokes all of them,
  the fixed ``--token`` included, until ``reset``.
- faults: ``status``/``429``/``error``/``malformed`` (html) do not apply the change;
  ``drop`` and ``malformed:truncated`` apply it and then lose / mangle the answer;
  ``partial:N[:STATUS]`` lands only the first N rows of ``call_list`` (insert,
  callout), then drops the answer or answers HTTP STATUS.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from reconciler.emulator.config import FileConfig, check_keys
from reconciler.emulator.faults import Clock, Fault, FaultPlan
from reconciler.emulator.server import EmulatorRequest, EmulatorResponse, control_index, json_response

__all__ = [
    "CONFIG",
    "EMULATOR",
    "MESSAGES",
    "XfyetaConfig",
    "XfyetaEmulator",
    "XfyetaLine",
    "XfyetaRobot",
    "XfyetaVoice",
    "load_config",
]

MESSAGES: dict[int, str] = {
    0: "ok",
    10001: "invalid token",
    10002: "token has no permission",
    10003: "bad app_id",
    10004: "service busy, please retry later",
    10005: "bad input parameters",
    10020: "API under maintenance",
    10021: "API disabled",
    200101: "wrong account or password",
    200200: "bad data relation",
    200201: "bad enterprise id",
    200202: "bad task id",
    200203: "bad outbound number",
    200204: "bad robot id",
    200205: "bad voice id",
    200206: "bad speed",
    200209: "balance too low",
    200212: "data does not match the robot's dynamic fields",
    200213: "uploaded data exceeds the limit",
    200222: "outside valid working hours",
    3030002: "number occupied",
    3010101: "task already finished",
    3010102: "task already deleted",
}

TOKEN_PATH = "/openapi/oauth/v1/token"
CONFIG_PATH = "/openapi/config/v1/query"
TASK_PREFIX = "/openapi/outbound/v1/task/"
PUSH_FAILED_PATH = "/openapi/download/v1/push/failed"

_RANGE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})-(\d{2}):(\d{2}):(\d{2})$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{9,11})$")
_SORT_NAMES = ("ID", "NAME", "CREATETIME", "STARTTIME", "ENDTIME")
_T0_MS = 1_700_000_000_000  # fixture creation times


# --------------------------------------------------------------------------- fixture data


@dataclass(frozen=True)
class XfyetaRobot:
    """A robot script as ``config/v1/query`` lists it."""

    robot_id: str
    robot_name: str
    call_column: tuple[str, ...]
    status: int = 4  # 1 in review, 2 rejected, 3 awaiting publish, 4 published
    type: int = 1
    deleted: int = 0
    time_create: int = _T0_MS
    time_update: int = _T0_MS

    def to_json(self) -> dict[str, Any]:
        return {"robot_id": self.robot_id, "robot_name": self.robot_name, "call_column": list(self.call_column),
                "status": self.status, "type": self.type, "deleted": self.deleted,
                "time_create": self.time_create, "time_update": self.time_update}


@dataclass(frozen=True)
class XfyetaLine:
    """A caller line as the 2022 document lists it.

    ``time_apply`` ms; ``time_expire`` a validity length in seconds (-1 =
    permanent); ``real_expiration_time`` the absolute expiry in ms (None:
    ``time_apply`` + ``time_expire``, or none for a permanent line, which then
    shows 0); ``status`` 0 idle, 1 in use by a task (fixture data: creating a
    task on it is not refused). ``expired`` is computed at query time.
    """

    line_num: str
    time_work: tuple[str, ...]
    concurrents: int = 10
    status: int = 0
    time_apply: int = _T0_MS
    time_expire: int = -1
    real_expiration_time: int | None = None

    @property
    def expires_ms(self) -> int | None:
        if self.real_expiration_time is not None:
            return self.real_expiration_time
        return None if self.time_expire < 0 else self.time_apply + self.time_expire * 1000

    def expired(self, now_ms: int) -> bool:
        until = self.expires_ms
        return until is not None and until <= now_ms

    def to_json(self, now_ms: int) -> dict[str, Any]:
        return {"line_num": self.line_num, "concurrents": self.concurrents, "time_work": list(self.time_work),
                "status": self.status, "time_apply": self.time_apply, "time_expire": self.time_expire,
                "expired": int(self.expired(now_ms)), "real_expiration_time": self.expires_ms or 0}


@dataclass(frozen=True)
class XfyetaVoice:
    """A voice; listed as ``code``/``name`` (``voice_keys: code``) or ``voice_code``/``voice_name``."""

    voice_code: str
    voice_name: str

    def to_json(self, keys: str = "code") -> dict[str, Any]:
        if keys == "voice_code":
            return {"voice_code": self.voice_code, "voice_name": self.voice_name}
        return {"code": self.voice_code, "name": self.voice_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XfyetaVoice:
        """Either spelling, as a config file may give it."""
        return cls(str(data.get("voice_code", data.get("code"))), str(data.get("voice_name", data.get("name", ""))))


def _default_robots() -> tuple[XfyetaRobot, ...]:
    return (
        XfyetaRobot("719", "春季促销", ("客户手机号码", "姓名")),
        XfyetaRobot("720", "续费提醒", ("客户手机号码", "姓名", "到期日")),
        XfyetaRobot("721", "回访问卷", ("客户手机号码",)),
        XfyetaRobot("799", "草稿话术", ("客户手机号码", "姓名"), status=1),
        # the seed document's examples: create uses robot 11, insert sends these three columns
        XfyetaRobot("11", "测试外呼", ("客户手机号码", "列2", "列3")),
    )


def _default_lines() -> tuple[XfyetaLine, ...]:
    return (
        XfyetaLine("69101338", ("08:00:00-21:00:00",)),
        XfyetaLine("055169101407", ("09:00:00-18:00:00",)),
        # applied 2020-08-14 for 30 days: expired since 2020-09-13
        XfyetaLine("01088880000", ("08:00:00-21:00:00",), time_apply=1_597_408_000_000, time_expire=2592000),
        # the 2022 document's example lines: 30 days applied in 2018, valid until 2029; the first one in use
        XfyetaLine("055169101408", ("08:00:00-20:00:00",), concurrents=100, time_apply=1527321492000,
                   time_expire=2592000, real_expiration_time=1877203200000),
        XfyetaLine("055169101409", ("09:00:00-12:00:00", "13:00:00-17:59:59"), status=1, time_apply=1527321492000,
                   time_expire=2592000, real_expiration_time=1877203200000),
        XfyetaLine("96866001", ("07:30:00-23:30:00",)),  # the seed's query example
    )


def _default_voices() -> tuple[XfyetaVoice, ...]:
    return (XfyetaVoice("60030", "小燕"), XfyetaVoice("60120", "小峰"))


def _default_urls() -> tuple[dict[str, str], ...]:
    return ({"url": "http://127.0.0.1:9/callback/record", "url_module": "receiveCallRecord"},)


@dataclass(frozen=True)
class XfyetaConfig(FileConfig):
    """Fixture data and behaviour knobs; ``load_config`` reads them from JSON/YAML."""

    section: ClassVar[str] = "xfyeta"

    app_key: str = "demo-app-key"
    app_secret: str = "demo-app-secret"
    token_ttl_s: int = 3600
    robots: tuple[XfyetaRobot, ...] = field(default_factory=_default_robots)
    lines: tuple[XfyetaLine, ...] = field(default_factory=_default_lines)
    voices: tuple[XfyetaVoice, ...] = field(default_factory=_default_voices)
    urls: tuple[dict[str, str], ...] = field(default_factory=_default_urls)
    line_separator: str = ";"
    voice_keys: str = "code"  # voices listed as code/name, or as voice_code/voice_name (the document's example)
    timezone: str = "Asia/Shanghai"
    dial_rate: float = 10.0  # numbers per simulated minute while a task runs
    unanswered_every: int = 3  # every n-th number never answers; 0 = all answer
    list_deleted: bool = True
    time_range_required: bool = True
    # a delete of a finished (or expired) task: "accept" (deleted) or "refuse" (3010101, task already finished);
    # the documents say neither
    delete_finished: str = "accept"
    first_task_id: int = 1001
    first_data_id: int = 100001
    max_rows: int = 50
    max_page_size: int = 50
    default_page_size: int = 20
    intention_push: tuple[str, ...] = ("A", "B")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XfyetaConfig:
        """Build from plain data; unknown keys are an error so typos do not pass silently."""
        check_keys(cls, data, "xfyeta")
        kwargs: dict[str, Any] = dict(data)
        if "robots" in data:
            kwargs["robots"] = tuple(
                XfyetaRobot(**{**r, "robot_id": str(r["robot_id"]), "call_column": tuple(r["call_column"])})
                for r in data["robots"])
        if "lines" in data:
            kwargs["lines"] = tuple(
                XfyetaLine(**{**ln, "line_num": str(ln["line_num"]), "time_work": tuple(ln["time_work"])})
                for ln in data["lines"])
        if "voices" in data:
            kwargs["voices"] = tuple(XfyetaVoice.from_dict(v) for v in data["voices"])
        if "urls" in data:
            kwargs["urls"] = tuple(dict(u) for u in data["urls"])
        if "intention_push" in data:
            kwargs["intention_push"] = tuple(data["intention_push"])
        config = cls(**kwargs)
        if config.dial_rate <= 0:
            raise ValueError("dial_rate must be positive")
        if config.voice_keys not in ("code", "voice_code"):
            raise ValueError("voice_keys must be 'code' or 'voice_code'")
        if config.delete_finished not in ("accept", "refuse"):
            raise ValueError("delete_finished must be 'accept' or 'refuse'")
        return config

    def credentials(self) -> dict[str, str]:
        return {"app_key": self.app_key, "app_secret": self.app_secret}


load_config = XfyetaConfig.load



# --------------------------------------------------------------------------- runtime state


class _VendorError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")

    @property
    def message(self) -> str:
        base = MESSAGES.get(self.code, "error")
        return f"{base}: {self.detail}" if self.detail else base


@dataclass
class _Number:
    data_id: int
    phone: str
    row: list[str]
    index: int
    answers: bool
    attempts: int = 0
    answered: bool = False
    last_dial_ms: int = 0


@dataclass
class _Task:
    task_id: str
    task_name: str
    line_num: str
    line_nums: list[str]
    robot_id: str
    robot_name: str
    time_range: list[str]
    windows: list[tuple[dtime, dtime]]
    time_begin: int
    time_end: int
    recall_count: int
    time_recall_wait: int
    voice_code: str
    trubo_mode: bool
    time_create: int
    numbers: list[_Number] = field(default_factory=list)
    phones: set[str] = field(default_factory=set)  # every phone in ``numbers``, kept as rows are added
    duplicates: int = 0
    deleted: int = 0
    frozen_status: int | None = None
    ever_started: bool = False
    active: bool = False  # started and not paused/deleted
    time_task_start: int = 0
    time_task_finish: int = 0
    # simulation
    sim_t: float = 0.0
    phase: str = "dialing"  # dialing | wait | done | expired
    round: int = 0
    round_list: list[int] | None = None  # indices still to dial in this round
    round_pos: int = 0
    credit: float = 0.0
    wait_until: float = 0.0
    count_recalled: int = 0
    process_count: int = 0
    process_tel_count: int = 0
    process_through_count: int = 0


def _parse_range(text: str) -> tuple[dtime, dtime] | None:
    m = _RANGE.match(text)
    if not m:
        return None
    h1, m1, s1, h2, m2, s2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or s1 > 59 or s2 > 59:
        return None
    start, end = dtime(h1, m1, s1), dtime(h2, m2, s2)
    return (start, end) if start < end else None


# --------------------------------------------------------------------------- field checks


def _req_str(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _VendorError(10005, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _VendorError(10005, f"{name} must be a string")
    if required and not value.strip():
        raise _VendorError(10005, f"{name} must not be empty")
    return value


def _req_int(body: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _VendorError(10005, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _VendorError(10005, f"{name} must be an integer")
    return value


def _req_bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _VendorError(10005, f"{name} must be a boolean")
    return value


def _req_str_list(body: Mapping[str, Any], name: str, *, required: bool = True) -> list[str] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _VendorError(10005, f"{name} is required")
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _VendorError(10005, f"{name} must be an array of strings")
    return value


def _req_rows(body: Mapping[str, Any], name: str = "call_list") -> list[list[str]]:
    value = body.get(name)
    if value is None:
        raise _VendorError(10005, f"{name} is required")
    if not isinstance(value, list) or not all(
            isinstance(row, list) and all(isinstance(c, str) for c in row) for row in value):
        raise _VendorError(10005, f"{name} must be an array of string arrays")
    return value


# --------------------------------------------------------------------------- the emulator


class XfyetaEmulator:
    """The xfyeta vendor API plus the ``/_emulator/`` control API."""

    name = "xfyeta"
    # Called with each simulated call (under the emulator lock); ``attach_pushes`` sets it.
    on_call: Callable[[dict[str, Any]], None] | None = None
    on_task_end: Callable[[dict[str, Any]], None] | None = None

    def __init__(self, config: XfyetaConfig | None = None, *, time_scale: float = 1.0,
                 faults: str | FaultPlan | None = None, token: str | None = None,
                 clock: Clock | None = None) -> None:
        self.config = config or XfyetaConfig()
        self.clock = clock or Clock(time_scale=time_scale)
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self.fixed_token = token
        self.tz = ZoneInfo(self.config.timezone)
        self._robots = {r.robot_id: r for r in self.config.robots}
        self._lines = {ln.line_num: ln for ln in self.config.lines}
        self._voices = {v.voice_code: v for v in self.config.voices}
        self._lock = threading.RLock()
        self._routes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            CONFIG_PATH: self._config_query,
            PUSH_FAILED_PATH: self._push_failed,
            TASK_PREFIX + "callout": self._callout,
            TASK_PREFIX + "create": self._create,
            TASK_PREFIX + "insert": self._insert,
            TASK_PREFIX + "start": self._start,
            TASK_PREFIX + "pause": self._pause,
            TASK_PREFIX + "delete": self._delete,
            TASK_PREFIX + "query": self._query,
        }
        self._init_state()

    def _init_state(self) -> None:
        self._tokens: dict[str, float] = {}
        self._fixed_token_valid = True
        self._tasks: dict[str, _Task] = {}
        self._next_task_id = self.config.first_task_id
        self._next_data_id = self.config.first_data_id
        self._dials: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._seq = 0

    # ------------------------------------------------------------------ python-side control

    def reset(self) -> None:
        """Forget tasks, dials, tokens, calls and faults (the clock keeps running)."""
        with self._lock:
            self._init_state()
            self.faults.clear()

    def advance(self, seconds: float) -> int:
        """Move simulated time forward; returns the new time in ms."""
        self.clock.advance(seconds)
        return self.clock.now_ms()

    def expire_tokens(self) -> None:
        """Every issued token (and the fixed one) becomes invalid."""
        with self._lock:
            self._tokens.clear()
            self._fixed_token_valid = False

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A copy of the call log (never containing a token or secret)."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def calls_to(self, op: str) -> list[dict[str, Any]]:
        """Logged calls whose path ends with ``op`` (``task/create``, ``oauth/v1/token``, a full path)."""
        return [c for c in self.calls if c["path"] == op or c["path"].endswith("/" + op.lstrip("/"))]

    def state(self) -> dict[str, Any]:
        """All tasks with their numbers, and the direct-callout dials."""
        with self._lock:
            now = self.clock.now_s()
            tasks = []
            for task in self._tasks.values():
                self._simulate(task, now)
                row = self._row(task, now, show_remaining=True)
                row["duplicates"] = task.duplicates
                row["trubo_mode"] = task.trubo_mode
                row["time_create"] = task.time_create
                row["numbers"] = [
                    {"task_data_id": n.data_id, "phone": n.phone, "row": list(n.row), "attempts": n.attempts,
                     "answered": n.answered, "last_dial_ms": n.last_dial_ms} for n in task.numbers]
                tasks.append(row)
            return {"now_ms": int(now * 1000), "tasks": tasks, "dials": [dict(d) for d in self._dials]}

    # ------------------------------------------------------------------ HTTP entry points

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Vendor API: faults first, then token check, validation and the operation."""
        path = request.path.rstrip("/") or "/"
        received = self.clock.now_ms()  # before any fault delays it: when a vendor's rate limit counts it
        applied: list[Fault] = self.faults.take_all(path)
        terminal = next((f for f in applied if f.kind not in ("latency", "expire-token")), None)
        for fault in applied:
            if fault.kind == "expire-token":
                self.expire_tokens()
        for fault in applied:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
        fault_text = ",".join(f.describe() for f in applied) or None
        body_for_log: Any = None
        try:
            parsed = request.json()
            body_for_log = _redact(parsed)
        except ValueError:
            parsed = _INVALID
            body_for_log = request.body[:200].decode("utf-8", "replace")

        partial = terminal is not None and terminal.kind == "partial"
        if partial and isinstance(parsed, dict) and isinstance(parsed.get("call_list"), list):
            # only the first N rows land (a vendor that failed halfway through the batch)
            assert terminal is not None
            parsed = {**parsed, "call_list": parsed["call_list"][: terminal.partial_rows]}
        if terminal is not None and not (terminal.kind in ("drop", "partial") or terminal.arg == "truncated"):
            response = _fault_response(terminal)
            code = terminal.vendor_code if terminal.kind == "error" else None
            self._log(path, body_for_log, response.status, code, fault_text, received)
            return response

        with self._lock:
            payload = self._dispatch(request, path, parsed)
            status = 404 if payload.get("code") == 404 else 200
            self._log(path, body_for_log, status, payload.get("code"), fault_text, received)
        response = json_response(payload, status=status)
        if terminal is not None and terminal.kind == "drop":
            return replace(response, drop=True)
        if terminal is not None and terminal.kind == "partial":
            if terminal.partial_status is None:
                return replace(response, drop=True)
            return _fault_response(Fault(terminal.match, "status", str(terminal.partial_status)))
        if terminal is not None:  # malformed:truncated, after the change was applied
            return replace(response, body=response.body[: max(1, len(response.body) // 2)])
        return response

    CONTROL_API: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("GET", "/_emulator/", "this index"),
        ("GET", "/_emulator/calls?since=N", "every API call received, in order (secrets redacted)"),
        ("GET", "/_emulator/state", "every task with its numbers, and the direct-callout dials"),
        ("POST", "/_emulator/reset", "forget all tasks, calls and faults"),
        ("POST", "/_emulator/advance", 'move the simulated clock forward: {"seconds": N}'),
        ("GET", "/_emulator/faults", "the faults still pending"),
        ("POST", "/_emulator/faults", 'add faults: {"spec": "task/create:drop:1,*:latency:0.2"}'),
        ("DELETE", "/_emulator/faults", "clear every pending fault"),
        ("POST", "/_emulator/expire-token", "expire every token issued so far"),
    )

    def describe(self) -> list[str]:
        """What this emulator accepts and knows, for people starting it by hand."""
        c = self.config
        out = [f"credentials: app_key={c.app_key} app_secret={c.app_secret} (tokens last {c.token_ttl_s} s)"]
        out += [f"robot {r.robot_id} {r.robot_name}: call_column {list(r.call_column)}"
                + ("" if r.status == 4 else f" (status {r.status}, not published)") for r in c.robots]
        out += [f"line {ln.line_num}: works {list(ln.time_work)}, {ln.concurrents} concurrent calls"
                + (", in use by a task" if ln.status == 1 else "") for ln in c.lines]
        out += [f"voice {v.voice_code} {v.voice_name}" for v in c.voices]
        return out

    def control(self, request: EmulatorRequest) -> EmulatorResponse:
        """``/_emulator/`` calls, reset, advance, faults, state, expire-token (``GET /_emulator/`` lists them)."""
        action = request.path[len("/_emulator/"):].strip("/")
        if action == "" and request.method == "GET":
            return json_response(control_index("xfyeta", self.CONTROL_API))
        try:
            body = request.json() or {}
        except ValueError:
            return json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return json_response({"error": "body must be a JSON object"}, status=400)
        if action == "calls" and request.method == "GET":
            since = int(request.query.get("since", "0") or 0)
            return json_response({"calls": [c for c in self.calls if c["seq"] > since]})
        if action == "reset" and request.method == "POST":
            self.reset()
            return json_response({"ok": True})
        if action == "advance" and request.method == "POST":
            seconds = body.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                return json_response({"error": "seconds must be a non-negative number"}, status=400)
            return json_response({"ok": True, "now_ms": self.advance(float(seconds))})
        if action == "faults":
            if request.method == "GET":
                return json_response({"faults": self.faults.pending()})
            if request.method == "DELETE" or body.get("clear") is True:
                self.faults.clear()
                return json_response({"ok": True, "faults": []})
            if request.method == "POST":
                spec = body.get("spec")
                if not isinstance(spec, str):
                    return json_response({"error": "spec must be a string"}, status=400)
                try:
                    added = self.faults.add(spec)
                except ValueError as exc:
                    return json_response({"error": str(exc)}, status=400)
                return json_response({"ok": True, "added": len(added), "faults": self.faults.pending()})
        if action == "state" and request.method == "GET":
            return json_response(self.state())
        if action == "expire-token" and request.method == "POST":
            self.expire_tokens()
            return json_response({"ok": True})
        return json_response({"error": f"unknown control call {request.method} /_emulator/{action}"}, status=404)

    # ------------------------------------------------------------------ internals

    def _log(self, path: str, body: Any, status: int, code: Any, fault: str | None,
             received_ms: int | None = None) -> None:
        with self._lock:
            self._seq += 1
            now = self.clock.now_ms()
            self._calls.append({"seq": self._seq, "path": path, "body": body, "status": status, "code": code,
                                "fault": fault, "at_ms": now,
                                "received_ms": now if received_ms is None else received_ms})

    def _dispatch(self, request: EmulatorRequest, path: str, parsed: Any) -> dict[str, Any]:
        if path == TOKEN_PATH:
            handler: Callable[[dict[str, Any]], dict[str, Any]] | None = self._token
        else:
            handler = self._routes.get(path)
        if handler is None:
            return {"code": 404, "message": f"no such API: {path}", "result": None}
        try:
            if request.method != "POST":
                raise _VendorError(10005, f"{request.method} not supported, use POST")
            if path != TOKEN_PATH:
                self._check_token(request.query.get("token"))
            if parsed is _INVALID or (parsed is not None and not isinstance(parsed, dict)):
                raise _VendorError(10005, "body must be a JSON object")
            result = handler(parsed or {})
        except _VendorError as exc:
            return {"code": exc.code, "message": exc.message, "result": None}
        return {"code": 0, "message": "ok", "result": result}

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise _VendorError(10001, "token missing")
        if self.fixed_token is not None and token == self.fixed_token and self._fixed_token_valid:
            return
        expiry = self._tokens.get(token)
        if expiry is None or self.clock.now_s() >= expiry:
            raise _VendorError(10001)

    # ------------------------------------------------------------------ token, config

    def _token(self, body: dict[str, Any]) -> dict[str, Any]:
        app_key = _req_str(body, "app_key")
        app_secret = _req_str(body, "app_secret")
        if not (secrets.compare_digest(str(app_key), self.config.app_key)
                and secrets.compare_digest(str(app_secret), self.config.app_secret)):
            raise _VendorError(200101)
        token = secrets.token_hex(16)
        self._tokens[token] = self.clock.now_s() + self.config.token_ttl_s
        return {"token": token, "time_expire": self.config.token_ttl_s}

    def _config_query(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = _req_int(body, "type", required=False) or 0
        if kind not in (0, 1, 2, 3, 4, 5):
            raise _VendorError(10005, "type must be 0..5")
        page_size = _req_int(body, "pageSize", required=False)
        page_index = _req_int(body, "pageIndex", required=False)
        page_index = 1 if page_index is None else page_index
        if (page_size is not None and page_size < 1) or page_index < 1:
            raise _VendorError(10005, "pageSize and pageIndex must be positive")
        robots = [r.to_json() for r in self.config.robots]
        result: dict[str, Any] = {}
        if kind in (0, 1):
            if page_size is not None:
                start = (page_index - 1) * page_size
                result["robots"] = robots[start:start + page_size]
            else:
                result["robots"] = robots
            result["robotTotal"] = len(robots)
        if kind in (0, 2):
            result["lines"] = [ln.to_json(self.clock.now_ms()) for ln in self.config.lines]
        if kind in (0, 3):
            result["urls"] = [dict(u) for u in self.config.urls]
        if kind in (0, 4):
            result["voices"] = [v.to_json(self.config.voice_keys) for v in self.config.voices]
        if kind == 5:  # the 2022 revision: deleted robots, listed apart
            result["deletedRobots"] = [{k: v for k, v in r.to_json().items() if k != "call_column"}
                                       for r in self.config.robots if r.deleted]
        return result

    def _push_failed(self, body: dict[str, Any]) -> dict[str, Any]:
        date = _req_str(body, "date")
        try:
            datetime.strptime(str(date), "%Y-%m-%d")
        except ValueError:
            raise _VendorError(10005, "date must be yyyy-MM-dd") from None
        return {"url": []}

    # ------------------------------------------------------------------ shared validation

    def _robot(self, robot_id: str) -> XfyetaRobot:
        robot = self._robots.get(robot_id)
        if robot is None or robot.deleted or robot.status != 4:
            raise _VendorError(200204, f"robot {robot_id} does not exist or is not published")
        return robot

    def _line(self, line_num: str) -> XfyetaLine:
        line = self._lines.get(line_num)
        if line is None:
            raise _VendorError(200203, f"line {line_num} does not exist")
        if line.expired(self.clock.now_ms()):
            raise _VendorError(200203, f"line {line_num} has expired")
        return line

    def _voice(self, voice_code: str | None) -> None:
        if voice_code is not None and voice_code not in self._voices:
            raise _VendorError(200205, f"voice {voice_code} does not exist")

    def _rows(self, body: dict[str, Any], robot: XfyetaRobot) -> tuple[list[str], list[list[str]]]:
        columns = _req_str_list(body, "call_column") or []
        rows = _req_rows(body)
        if tuple(columns) != robot.call_column:
            raise _VendorError(200212, f"call_column must be {list(robot.call_column)}")
        if not rows:
            raise _VendorError(10005, "call_list is empty")
        if len(rows) > self.config.max_rows:
            raise _VendorError(200213, f"at most {self.config.max_rows} rows per call")
        for number, row in enumerate(rows, start=1):
            if len(row) != len(columns):
                raise _VendorError(200212, f"row {number} has {len(row)} values, expected {len(columns)}")
            if not _PHONE.match(row[0]):
                raise _VendorError(10005, f"row {number}: {row[0]!r} is not a valid phone number")
        return columns, rows

    def _take_data_ids(self, count: int) -> list[int]:
        ids = list(range(self._next_data_id, self._next_data_id + count))
        self._next_data_id += count
        return ids

    # ------------------------------------------------------------------ callout

    def _callout(self, body: dict[str, Any]) -> dict[str, Any]:
        robot_id = str(_req_str(body, "robot_id"))
        line_num = str(_req_str(body, "line_num"))
        _req_str_list(body, "call_column")
        _req_rows(body)
        voice_code = _req_str(body, "voice_code", required=False)
        speed = body.get("robot_speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float)):
            raise _VendorError(10005, "robot_speed must be a number")
        robot = self._robot(robot_id)
        self._line(line_num)
        self._voice(voice_code)
        if speed is not None and not -500 <= speed <= 500:
            raise _VendorError(200206, "robot_speed must be within -500..500")
        _, rows = self._rows(body, robot)
        ids = self._take_data_ids(len(rows))
        at = self.clock.now_ms()
        every = self.config.unanswered_every
        for data_id, row in zip(ids, rows, strict=True):
            self._dials.append({"task_data_id": data_id, "phone": row[0], "row": list(row), "robot_id": robot_id,
                                "line_num": line_num, "voice_code": voice_code, "robot_speed": speed, "at_ms": at})
            if self.on_call is not None:  # callouts land in the app's default task ("0" here)
                self.on_call({"task_id": "0", "data_id": data_id, "phone": row[0], "row": list(row),
                              "columns": list(robot.call_column), "robot_id": robot_id, "line_num": line_num,
                              "index": len(self._dials) - 1, "attempt": 1,
                              "answered": not (every > 0 and len(self._dials) % every == 0), "at_ms": at,
                              "turbo": False})
        return {"total": len(rows), "task_data_ids": ids}

    # ------------------------------------------------------------------ task lifecycle

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        task_name = str(_req_str(body, "task_name"))
        line_num = str(_req_str(body, "line_num"))
        robot_id = str(_req_str(body, "robot_id"))
        time_range = _req_str_list(body, "time_range", required=self.config.time_range_required) or []
        time_begin = int(_req_int(body, "time_begin") or 0)
        recall_count = _req_int(body, "recall_count", required=False)
        time_recall_wait = _req_int(body, "time_recall_wait", required=False)
        time_end = _req_int(body, "time_end", required=False)
        voice_code = _req_str(body, "voice_code", required=False)
        trubo_mode = _req_bool(body, "trubo_mode")
        if recall_count is not None and not 0 <= recall_count <= 3:
            raise _VendorError(10005, "recall_count must be within 0..3")
        if time_recall_wait is not None and time_recall_wait < 0:
            raise _VendorError(10005, "time_recall_wait must not be negative")
        if time_begin <= 0:
            raise _VendorError(10005, "time_begin must be a positive ms timestamp")
        if time_end is not None and time_end <= time_begin:
            raise _VendorError(10005, "time_end must be after time_begin")
        windows: list[tuple[dtime, dtime]] = []
        for text in time_range:
            window = _parse_range(text)
            if window is None:
                raise _VendorError(10005, f"time_range {text!r} is not HH:MM:SS-HH:MM:SS")
            windows.append(window)
        robot = self._robot(robot_id)
        line_nums = line_num.split(self.config.line_separator)
        lines = [self._line(part.strip()) for part in line_nums]
        self._voice(voice_code)
        for line in lines:
            work = [w for w in (_parse_range(t) for t in line.time_work) if w is not None]
            for text, (start, end) in zip(time_range, windows, strict=True):
                if not any(ws <= start and end <= we for ws, we in work):
                    raise _VendorError(200222, f"{text} is outside line {line.line_num} working time "
                                               f"{list(line.time_work)}")
        task_id = str(self._next_task_id)
        self._next_task_id += 1
        now = self.clock.now_s()
        self._tasks[task_id] = _Task(
            task_id=task_id, task_name=task_name, line_num=line_num, line_nums=[p.strip() for p in line_nums],
            robot_id=robot_id, robot_name=robot.robot_name, time_range=list(time_range),
            windows=sorted(windows), time_begin=time_begin, time_end=time_end or 0,
            recall_count=recall_count or 0, time_recall_wait=time_recall_wait or 0, voice_code=voice_code or "",
            trubo_mode=bool(trubo_mode), time_create=int(now * 1000), sim_t=now)
        return {"task_id": task_id}

    def _task(self, body: dict[str, Any]) -> _Task:
        task_id = str(_req_str(body, "task_id"))
        task = self._tasks.get(task_id)
        if task is None:
            raise _VendorError(200202, f"task {task_id} does not exist")
        self._simulate(task, self.clock.now_s())
        return task

    def _insert(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        if task.deleted:
            raise _VendorError(3010102)
        if task.ever_started:
            raise _VendorError(10005, "task already started, data can no longer be submitted")
        _, rows = self._rows(body, self._robots[task.robot_id])
        ids = self._take_data_ids(len(rows))
        known = task.phones
        every = self.config.unanswered_every
        for data_id, row in zip(ids, rows, strict=True):
            if row[0] in known:
                task.duplicates += 1
            known.add(row[0])
            index = len(task.numbers)
            answers = not (every > 0 and (index + 1) % every == 0)
            task.numbers.append(_Number(data_id=data_id, phone=row[0], row=list(row), index=index, answers=answers))
        return {"total": len(rows), "task_data_ids": ids}

    def _start(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        if task.deleted:
            raise _VendorError(3010102)
        if task.phase in ("done", "expired"):
            raise _VendorError(3010101)
        if task.active:
            return {}
        now = self.clock.now_s()
        task.active = True
        task.ever_started = True
        task.sim_t = now
        if not task.time_task_start:
            task.time_task_start = int(now * 1000)
        return {}

    def _pause(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        if task.deleted:
            raise _VendorError(3010102)
        if task.phase in ("done", "expired"):
            raise _VendorError(3010101)
        if not task.ever_started:
            raise _VendorError(10005, "task has not been started")
        task.active = False
        return {}

    def _delete(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        if task.deleted:
            raise _VendorError(3010102)
        if self.config.delete_finished == "refuse" and task.phase in ("done", "expired"):
            raise _VendorError(3010101)
        now = self.clock.now_s()
        task.frozen_status = self._status(task, now)
        task.deleted = 1
        task.active = False
        return {}

    # ------------------------------------------------------------------ query

    def _query(self, body: dict[str, Any]) -> dict[str, Any]:
        task_id = _req_str(body, "task_id", required=False)
        task_name = _req_str(body, "task_name", required=False)
        time_begin = _req_int(body, "time_begin", required=False)
        time_end = _req_int(body, "time_end", required=False)
        statuses = body.get("task_status_list")
        if statuses is not None and (not isinstance(statuses, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in statuses)):
            raise _VendorError(10005, "task_status_list must be an array of integers")
        page_size = _req_int(body, "page_size", required=False)
        page_size = self.config.default_page_size if page_size is None else page_size
        if not 1 <= page_size <= self.config.max_page_size:
            raise _VendorError(10005, f"page_size must be within 1..{self.config.max_page_size}")
        page_index = _req_int(body, "page_index", required=False)
        page_index = 1 if page_index is None else page_index
        if page_index < 1:
            raise _VendorError(10005, "page_index starts at 1")
        sort_name = _req_str(body, "sort_name", required=False) or "ID"
        if sort_name.upper() not in _SORT_NAMES:
            raise _VendorError(10005, f"sort_name must be one of {', '.join(_SORT_NAMES)}")
        sort_order = _req_str(body, "sort_order", required=False) or "DESC"
        if sort_order.upper() not in ("ASC", "DESC"):
            raise _VendorError(10005, "sort_order must be ASC or DESC")
        show_remaining = bool(_req_bool(body, "show_remaining"))

        now = self.clock.now_s()
        name_match = _like(task_name) if task_name else None
        selected: list[tuple[_Task, int]] = []
        for task in self._tasks.values():
            if task.deleted and not self.config.list_deleted:
                continue
            if task_id is not None and task_id != "" and task.task_id != task_id:
                continue
            if name_match is not None and not name_match(task.task_name):
                continue
            if time_begin is not None and task.time_create < time_begin:
                continue
            if time_end is not None and task.time_create > time_end:
                continue
            self._simulate(task, now)
            status = self._status(task, now)
            if statuses and status not in statuses:
                continue
            selected.append((task, status))
        key = _sort_key(sort_name.upper())
        selected.sort(key=lambda pair: key(pair[0]), reverse=sort_order.upper() == "DESC")
        start = (page_index - 1) * page_size
        rows = [self._row(task, now, show_remaining) for task, _ in selected[start:start + page_size]]
        return {"total_rows": len(selected), "rows": rows}

    def _row(self, task: _Task, now: float, show_remaining: bool) -> dict[str, Any]:
        tel = len(task.numbers)
        rate = round(task.process_through_count / task.process_tel_count, 4) if task.process_tel_count else 0.0
        row: dict[str, Any] = {
            "task_id": task.task_id,
            "task_name": task.task_name,
            "status": self._status(task, now),
            "task_type": 0,
            "deleted": task.deleted,
            "time_task_start": task.time_task_start,
            "time_task_finish": task.time_task_finish,
            "count_total_task": tel,
            "count_tel": tel,
            "count_recalled": task.count_recalled,
            "time_task_estimate_begin": task.time_begin,
            "time_task_estimate_end": task.time_end,
            "line_num": task.line_num,
            "robot_id": task.robot_id,
            "robot_name": task.robot_name,
            "voice_code": task.voice_code,
            "voice_speed": 1,
            "count_max_recall": task.recall_count,
            "status_recall": json.dumps([1] * task.recall_count, separators=(",", ":")),
            "time_recall_wait": task.time_recall_wait,
            "time_range": json.dumps(task.time_range, ensure_ascii=False, separators=(",", ":")),
            "intention_push": json.dumps(list(self.config.intention_push), ensure_ascii=False,
                                         separators=(",", ":")),
            "process_count": task.process_count,
            "process_tel_count": task.process_tel_count,
            "process_through_count": task.process_through_count,
            "process_through_rate": rate,
        }
        if show_remaining:
            row["remaining"] = self._remaining(task)
        return row

    def _remaining(self, task: _Task) -> int:
        if task.phase in ("done", "expired") or task.deleted:
            return 0
        limit = task.recall_count + 1
        return sum(1 for n in task.numbers if not n.answered and n.attempts < limit)

    # ------------------------------------------------------------------ status machine

    def _status(self, task: _Task, now: float) -> int:
        if task.deleted and task.frozen_status is not None:
            return task.frozen_status
        if task.phase == "done":
            return 4
        if task.phase == "expired":
            return 7
        if not task.ever_started:
            return 0
        if not task.active:
            return 3
        if now * 1000 < task.time_begin:
            return 1
        if task.phase == "wait":
            return 5
        return 2 if self._in_window(task, now) else 6

    def _in_window(self, task: _Task, t: float) -> bool:
        window = self._next_window(task, t)
        return window[0] <= t < window[1]

    def _next_window(self, task: _Task, t: float) -> tuple[float, float]:
        """The window containing ``t`` or the next one (whole days when no windows are set)."""
        local = datetime.fromtimestamp(t, self.tz)
        windows = task.windows or [(dtime(0, 0, 0), dtime(23, 59, 59))]
        for day_offset in range(-1, 3):
            day = (local + timedelta(days=day_offset)).date()
            for start, end in windows:
                ws = datetime.combine(day, start, self.tz).timestamp()
                we = datetime.combine(day, end, self.tz).timestamp()
                if not task.windows:
                    we += 1.0  # 23:59:59 -> midnight
                if we > t:
                    return ws, we
        raise AssertionError("no window within three days")  # pragma: no cover - windows repeat daily

    def _simulate(self, task: _Task, t1: float) -> None:
        """Advance the task's dialing progress from its last simulated instant to ``t1``."""
        t = task.sim_t
        if t1 <= t:
            return
        if not task.active or task.deleted or task.phase in ("done", "expired"):
            task.sim_t = t1
            return
        end_s = task.time_end / 1000 if task.time_end else math.inf
        begin_s = task.time_begin / 1000
        per = 60.0 / self.config.dial_rate
        guard = 0
        while t < t1 and task.phase in ("dialing", "wait"):
            guard += 1
            if guard > 1_000_000:  # pragma: no cover - defensive
                break
            if t >= end_s:
                task.phase = "expired"
                task.time_task_finish = int(end_s * 1000)
                break
            if task.phase == "wait":
                target = min(task.wait_until, end_s)
                if target > t1:
                    t = t1
                    break
                t = target
                if t >= task.wait_until and t < end_s:
                    task.phase = "dialing"
                    task.round += 1
                    task.count_recalled += 1
                    task.round_pos = 0
                    task.credit = 0.0
                continue
            if task.round_list is None:
                task.round_list = [n.index for n in task.numbers]
            a0 = max(t, begin_s)
            if a0 >= t1:
                t = t1
                break
            ws, we = self._next_window(task, a0)
            a = max(a0, ws)
            if a >= end_s:
                t = end_s
                continue
            if a >= t1:
                t = t1
                break
            b = min(we, end_s, t1)
            if task.round_pos >= len(task.round_list):
                self._complete_round(task, a)
                t = a
                continue
            completed = False
            while task.round_pos < len(task.round_list):
                t_dial = a + (1.0 - task.credit) * per
                if t_dial > b:
                    task.credit += (b - a) / per
                    break
                self._dial(task, task.numbers[task.round_list[task.round_pos]], t_dial)
                task.round_pos += 1
                task.credit = 0.0
                a = t_dial
                if task.round_pos >= len(task.round_list):
                    self._complete_round(task, t_dial)
                    completed = True
                    break
            t = a if completed else b
        task.sim_t = max(task.sim_t, t1)

    def _dial(self, task: _Task, number: _Number, at: float) -> None:
        task.process_count += 1
        if number.attempts == 0:
            task.process_tel_count += 1
        number.attempts += 1
        number.last_dial_ms = int(at * 1000)
        if number.answers and not number.answered:
            number.answered = True
            task.process_through_count += 1
        if self.on_call is not None:  # result pushes (emulator/pushes.py)
            self.on_call({"task_id": task.task_id, "data_id": number.data_id, "phone": number.phone,
                          "row": list(number.row), "columns": list(self._robots[task.robot_id].call_column),
                          "robot_id": task.robot_id, "line_num": task.line_nums[0] if task.line_nums else "",
                          "index": number.index, "attempt": number.attempts, "answered": number.answers,
                          "at_ms": int(at * 1000), "turbo": task.trubo_mode})

    def tick(self) -> None:
        """Simulate every task up to now: its dialing progress and the result pushes it makes."""
        with self._lock:
            now = self.clock.now_s()
            for task in self._tasks.values():
                self._simulate(task, now)

    def _complete_round(self, task: _Task, at: float) -> None:
        unanswered = [n.index for n in task.numbers if not n.answered]
        if task.round < task.recall_count and unanswered:
            task.phase = "wait"
            task.wait_until = at + task.time_recall_wait
            task.round_list = unanswered
        else:
            task.phase = "done"
            task.time_task_finish = int(at * 1000)


EMULATOR = XfyetaEmulator
CONFIG = XfyetaConfig

# --------------------------------------------------------------------------- helpers

_INVALID = object()


def _redact(value: Any) -> Any:
    """Drop secrets from a logged body (the token never is in a body; app_secret is)."""
    if isinstance(value, dict):
        return {k: ("***" if k in ("app_secret", "token") else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _like(pattern: str) -> Callable[[str], bool]:
    """SQL ``LIKE '%pattern%'`` (case-insensitive; ``%`` and ``_`` are wildcards), like the vendor's fuzzy search."""
    parts = []
    for ch in pattern:
        if ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    regex = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
    return lambda name: regex.search(name) is not None


def _sort_key(sort_name: str) -> Callable[[_Task], tuple[Any, ...]]:
    def task_num(task: _Task) -> tuple[int, str]:
        return (int(task.task_id), task.task_id) if task.task_id.isdigit() else (0, task.task_id)

    if sort_name == "NAME":
        return lambda t: (t.task_name, task_num(t))
    if sort_name == "CREATETIME":
        return lambda t: (t.time_create, task_num(t))
    if sort_name == "STARTTIME":
        return lambda t: (t.time_task_start, task_num(t))
    if sort_name == "ENDTIME":
        return lambda t: (t.time_task_finish, task_num(t))
    return lambda t: (task_num(t),)


_HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                 504: "Gateway Timeout", 429: "Too Many Requests"}


def _fault_response(fault: Fault) -> EmulatorResponse:
    """The response of a fault that does not apply the change."""
    if fault.kind == "error":
        code = fault.vendor_code
        return json_response({"code": code, "message": MESSAGES.get(code, "injected error"), "result": None})
    if fault.kind == "429":
        seconds = fault.seconds
        retry_after = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        return json_response({"code": 10004, "message": MESSAGES[10004], "result": None}, status=429,
                             headers={"Retry-After": retry_after})
    if fault.kind == "status":
        status = fault.status_code
        reason = _HTTP_REASONS.get(status, "Error")
        page = f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1>" \
               f"</center><hr><center>nginx</center></body></html>"
        return EmulatorResponse(status=status, body=page.encode(), headers={"Content-Type": "text/html"})
    # malformed (html): a proxy page where JSON was expected
    page = "<!DOCTYPE html><html><head><title>系统维护</title></head><body><p>服务暂不可用</p></body></html>"
    return EmulatorResponse(status=200, body=page.encode("utf-8"), headers={"Content-Type": "text/html; charset=utf-8"})
