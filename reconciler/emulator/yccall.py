"""Yccall predictive-dialer API emulator (``App.Sip_*`` services on one URL).

Behaves like the vendor as documented in ``seeds/yccall-predictive-task-create.zh.html``
(TaskCreat, which wins) and ``providers/yccall.md`` (the other services): one URL,
POST form fields (``application/x-www-form-urlencoded`` or ``multipart/form-data``),
the field ``service`` picks the action, every answer is the envelope
``{ret, data: {status, desc, result, errors: {code, codemsg}, reqtime, rsptime}, msg}``.

- ``ret`` 200 handled; 400 illegal request (missing/ill-formed parameter, unknown
  service; ``data`` is ``[]`` and ``msg`` names the field); 600 token invalid;
  601 appid unknown. A business failure is ``ret`` 200 with ``data.status`` 1 and
  ``errors.code`` 1002 (validation), 1003 (operation refused), 1012 (no such
  extension) or 1024 (no such task).
- ``invaliddata`` elements (shape not documented by the vendor; this emulator's
  choice): ``{"phone": "<number as text>", "reason": "<why>"}``. Invalid entries are
  not added; duplicates (inside the request or already in the task) are invalid.
- ``customtaskid`` is NOT unique (not documented): a second create with the same id
  creates a second task, which is why clients must look it up before re-creating.
- Status machine on the scaled :class:`Clock`: 1025 not started -> 1026 running
  (TaskSet 1 or create with status 1; dials only from ``scheduledtime``) <-> 1027
  paused; 1028 ended when every number was dialed in every round (endtype
  ``over``), at ``pausedtime`` (the run deadline, endtype ``timeout``), or on
  TaskSet 3. Ended is final: TaskSet, TaskAdd and taskDelPhone on it are business
  errors 1003. Dialing: ``concurrent`` numbers per ``call_seconds`` of simulated
  time, in the order added; a number's ``time`` (epoch seconds) is its deadline:
  past it the number is skipped (``answertype`` ``expired``). Whether a number is
  answered is a stable hash of (task, phone, round) against ``answer_ratio``.
  Multi-call: after a round, wait ``multi_call_interval`` s, then redial all
  numbers (type 1) or the unanswered (type 2), ``multi_call_max_rounds`` times.
- TaskList: ``taskname`` matches as a substring (the vendor's exactness is
  unknown, clients must filter exactly); ``itemsperpage`` defaults to 20 and is
  clamped to ``max_page_size`` (the clamped value is returned); newest first;
  ended tasks are listed. ``tasklist_rows: extended`` (default) rows also carry
  ``customtaskid``, ``total``, ``called``, ``answered`` and the settings;
  ``documented`` rows carry only the documented fields (taskid, taskname,
  taskassign, starttime, createtime, taskscale, nowscale, disnumber, status).
- An unknown ``taskid`` is business error 1024 (task does not exist); a TaskList
  filtered by one lists nothing. Logout takes only the ``token`` and ends it.
  ``change_extension()`` (``POST /_emulator/change-extension``): every token
  issued before answers business error 1010 ("log in again") until a new login.
- Every dial leaves a call record shaped as the vendor's call-record callback
  posts it, a JSON body (2025 revision): ``taskid``, ``round``, ``callmethod``
  (5 predictive), ``customuuid``, ``ext``/``chengshudu``, ``hangupcause``,
  ``hangupdirection``, ``recordurl``, ``recordfilename``, ``downloadip``; plus
  ``telphone`` (not in the readable part of the page). :meth:`call_records`
  and ``GET /_emulator/call-records`` list them, for a pusher to POST as JSON.

Faults (shared :class:`FaultPlan`, matched on the service name): ``latency`` sleeps
first; ``expire-token`` invalidates every token before handling; ``status``/``429``/
``error`` and ``malformed`` (an HTML proxy page) answer without applying anything;
``drop`` and ``malformed:truncated`` apply the change, then lose / cut the answer
(as the xfyeta emulator does); ``partial:N[:STATUS]`` lands only the first N
entries of ``telphone`` (TaskCreat, TaskAdd), then drops the answer or answers HTTP
STATUS. ``error:<code>`` with a code in 400..604 sets ``ret``; any other code is a
business error with that ``errors.code``.

Imports nothing from the rest of ``reconciler`` (it stands in for a remote vendor).
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from reconciler.emulator.config import FileConfig, check_keys
from reconciler.emulator.faults import Clock, Fault, FaultPlan
from reconciler.emulator.server import EmulatorRequest, EmulatorResponse, control_index, json_response

__all__ = [
    "CONFIG",
    "EMULATOR",
    "ENDED",
    "NOT_STARTED",
    "PAUSED",
    "RUNNING",
    "YccallConfig",
    "YccallEmulator",
    "load_config",
    "parse_form",
]

NOT_STARTED, RUNNING, PAUSED, ENDED = 1025, 1026, 1027, 1028
NUMBER_NOT_CALLED, NUMBER_CALLED = 1035, 1036
_FILTER_CODES = {"0": NOT_STARTED, "1": RUNNING, "2": PAUSED, "3": ENDED}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_SCALE_RE = re.compile(r"^\d+:\d+$")
_INT_RE = re.compile(r"^-?\d+$")
_PHONE_RE = re.compile(r"^\d{3,20}$")
_OPTIONAL_TEXT = ("userid", "memberid", "customuuid", "ext")
_SECRET_FIELDS = ("token", "accesskey")


@dataclass(frozen=True)
class YccallConfig(FileConfig):
    """Fixture data and knobs; ``load`` reads the same keys from a JSON file."""

    section: ClassVar[str] = "yccall"

    appid: str = "demo-appid"
    accesskey: str = "demo-accesskey"
    companycode: str = "demo-company"
    companyname: str = "演示公司"
    token_ttl: float = 12 * 3600.0  # seconds of simulated time
    extensions: tuple[str, ...] = ("8001", "8002")
    queues: tuple[str, ...] = ("queue-1",)
    groups: tuple[str, ...] = ("sales",)
    caller_numbers: tuple[str, ...] = ("02160000001", "02160000002")
    assign_types: Mapping[str, int] = field(default_factory=lambda: {"extension": 1, "queue": 2, "group": 3})
    max_numbers_per_call: int = 10_000
    max_page_size: int = 100
    default_page_size: int = 20
    max_customtaskid: int = 64
    max_taskname: int = 100
    call_seconds: float = 60.0  # one dial per concurrency slot per this many simulated seconds
    answer_ratio: float = 0.6
    timezone: str = "Asia/Shanghai"  # server local time of yyyy-mm-dd hh:mm:ss fields
    tasklist_rows: str = "extended"  # "documented": TaskList rows without customtaskid, total, called, answered
    # a number sent without ``time``: "none" (no deadline) or "now" (the document's "默认当前时间戳": its
    # deadline is the moment it was added, so it is never dialed; what ``number_time: end`` guards against)
    omitted_time: str = "none"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> YccallConfig:
        """Build from JSON-like data; unknown keys are an error (typos must not pass)."""
        check_keys(cls, data, "yccall")
        values: dict[str, Any] = {}
        try:
            for key, value in data.items():
                if key in ("extensions", "queues", "groups", "caller_numbers"):
                    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
                        raise ValueError(f"{key} must be a list")
                    values[key] = tuple(str(v) for v in value)
                elif key == "assign_types":
                    values[key] = {str(k): int(v) for k, v in dict(value).items()}
                else:
                    values[key] = value
            config = cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad yccall emulator config: {exc}") from None
        if not config.call_seconds > 0 or not 0 <= config.answer_ratio <= 1 or config.token_ttl <= 0:
            raise ValueError("call_seconds and token_ttl must be positive and answer_ratio within 0..1")
        if config.tasklist_rows not in ("extended", "documented"):
            raise ValueError("tasklist_rows must be 'extended' or 'documented'")
        if config.omitted_time not in ("none", "now"):
            raise ValueError("omitted_time must be 'none' or 'now'")
        if min(config.max_page_size, config.default_page_size, config.max_numbers_per_call) < 1:
            raise ValueError("page sizes and max_numbers_per_call must be at least 1")
        try:
            ZoneInfo(config.timezone)
        except (KeyError, ValueError, OSError):
            raise ValueError(f"unknown timezone {config.timezone!r}") from None
        return config

    def credentials(self) -> dict[str, str]:
        return {"appid": self.appid, "accesskey": self.accesskey}


load_config = YccallConfig.load



def parse_form(request: EmulatorRequest) -> dict[str, str]:
    """Form fields of a POST: urlencoded or multipart/form-data (query string as fallback)."""
    ctype = request.headers.get("content-type", "")
    out: dict[str, str] = dict(request.query)
    if ctype.lower().startswith("multipart/form-data"):
        raw = b"Content-Type: " + ctype.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + request.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        if not message.is_multipart():
            raise ValueError("malformed multipart body")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            charset = part.get_content_charset() or "utf-8"
            out[name] = data.decode(charset)
    elif request.body:
        text = request.body.decode("utf-8")
        out.update(parse_qsl(text, keep_blank_values=True, strict_parsing=False))
    return out


class _Refused(Exception):
    """Answer with ``ret`` != 200 (400 illegal request, 600 token invalid, ...)."""

    def __init__(self, ret: int, msg: str) -> None:
        super().__init__(msg)
        self.ret = ret
        self.msg = msg


class _Business(Exception):
    """Answer ``ret`` 200, ``data.status`` 1, with an ``errors.code``."""

    def __init__(self, code: int, desc: str) -> None:
        super().__init__(desc)
        self.code = code
        self.desc = desc


_CODE_MESSAGES = {
    1001: "服务器连接失败",
    1002: "操作异常",
    1003: "操作失败",
    1010: "分机异常",
    1011: "分机不属于该公司",
    1012: "分机不存在",
    1024: "任务不存在",
}
_DOCUMENTED_ROW = ("taskid", "taskname", "taskassign", "starttime", "createtime", "taskscale", "nowscale",
                   "disnumber", "status")


@dataclass
class _Number:
    phone: str
    deadline: int | None
    userid: str = ""
    memberid: str = ""
    customuuid: str = ""
    ext: str = ""
    status: int = NUMBER_NOT_CALLED
    pending: bool = True  # to be dialed in the current round
    answered: int | None = None
    answertype: str | None = None
    extnumber: str | None = None
    dials: int = 0
    called_at: float | None = None

    def view(self, taskid: str) -> dict[str, Any]:
        return {
            "taskid": taskid, "telphone": self.phone, "userid": self.userid, "memberid": self.memberid,
            "chengshudu": self.ext, "customuuid": self.customuuid, "status": self.status,
            "extnumber": self.extnumber, "answered": self.answered, "answertype": self.answertype,
            "dials": self.dials,
        }


@dataclass
class _Task:
    taskid: str
    taskname: str
    customtaskid: str
    assigntype: int
    assignagent: str
    taskscale: str
    concurrent: int
    scheduledtime: float | None
    pausedtime: float | None
    isscale: str
    disnumber: str
    multi_call: bool
    multi_call_type: int
    multi_call_max_rounds: int
    multi_call_interval: int
    createtime: float
    numbers: dict[str, _Number] = field(default_factory=dict)
    status: int = NOT_STARTED
    starttime: float | None = None
    endtime: float | None = None
    endtype: str | None = None
    round: int = 1
    next_round_at: float | None = None
    credit: float = 0.0
    last_tick: float = 0.0


class YccallEmulator:
    """The yccall vendor API in memory; thread-safe (one lock around all state)."""

    name = "yccall"
    # Called with each simulated dial and each task that ends by itself (under the emulator lock);
    # ``emulator/pushes.attach_pushes`` sets them.
    on_call: Callable[[dict[str, Any]], None] | None = None
    on_task_end: Callable[[dict[str, Any]], None] | None = None

    def __init__(
        self,
        config: YccallConfig | None = None,
        time_scale: float = 1.0,
        faults: str | FaultPlan | None = None,
        token: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or YccallConfig()
        self.clock = clock or Clock(time_scale)
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self._ready_token = token
        self._tz = ZoneInfo(self.config.timezone)
        self._lock = threading.RLock()
        self._tasks: dict[str, _Task] = {}
        self._tokens: dict[str, float] = {}
        self._calls: list[dict[str, Any]] = []
        self._seq = 0
        self._task_seq = 0
        self._token_seq = 0
        self._records: list[dict[str, Any]] = []
        self._stale_tokens: set[str] = set()  # tokens from before an extension change: 1010
        self._init_tokens()

    # ----------------------------------------------------------------- plumbing
    def _init_tokens(self) -> None:
        self._tokens = {}
        if self._ready_token:
            self._tokens[self._ready_token] = float("inf")

    def reset(self) -> None:
        """Forget all tasks, tokens (except a ready token), calls and faults."""
        with self._lock:
            self._tasks.clear()
            self._calls.clear()
            self._records.clear()
            self._stale_tokens.clear()
            self._seq = 0
            self._init_tokens()
            self.faults.clear()

    def advance(self, seconds: float) -> float:
        """Jump the simulated clock forward and let running tasks dial meanwhile."""
        with self._lock:
            now = self.clock.advance(seconds)
            self._tick(now)
            return now

    def expire_tokens(self) -> None:
        """Every issued token (the ready one too) becomes invalid."""
        with self._lock:
            self._tokens.clear()

    def change_extension(self) -> None:
        """The account's extension changed: calls with a token issued before answer 1010 until a new login."""
        with self._lock:
            self._stale_tokens |= set(self._tokens)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A copy of the call log (never holds a token or an access key)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def calls_to(self, service: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["service"] == service]

    def call_records(self, since: int = 0) -> list[dict[str, Any]]:
        """The call-record callback bodies (JSON objects) of every dial so far, from index ``since``."""
        with self._lock:
            self._tick(self.clock.now_s())
            return copy.deepcopy(self._records[since:])

    def state(self) -> dict[str, Any]:
        """Every task with its numbers (control API ``GET /_emulator/state``)."""
        with self._lock:
            now = self.clock.now_s()
            self._tick(now)
            tasks = []
            for task in self._tasks.values():
                row = self._task_row(task)
                row["numbers"] = [n.view(task.taskid) for n in task.numbers.values()]
                row["round"] = task.round
                row["endtype"] = task.endtype
                tasks.append(row)
            return {"now": now, "now_ms": int(now * 1000), "tasks": tasks, "faults": self.faults.pending()}

    def _fmt(self, at: float | None) -> str:
        if at is None:
            return ""
        return datetime.fromtimestamp(at, self._tz).strftime(_TIME_FORMAT)

    def _parse_time(self, name: str, value: str) -> float:
        if not _TIME_RE.match(value):
            raise _Refused(400, f"非法请求:参数{name}格式应为yyyy-mm-dd hh:mm:ss")
        try:
            return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=self._tz).timestamp()
        except ValueError:
            raise _Refused(400, f"非法请求:参数{name}不是有效时间") from None

    def _envelope(self, now: float, desc: str, result: Any, status: int = 0, code: int | None = None) -> dict[str, Any]:
        errors = {"code": "", "codemsg": ""} if code is None else {
            "code": str(code), "codemsg": _CODE_MESSAGES.get(code, "操作失败")}
        return {
            "ret": 200,
            "data": {"status": status, "desc": desc, "result": result, "errors": errors,
                     "reqtime": int(now), "rsptime": int(self.clock.now_s())},
            "msg": "",
        }

    # ---------------------------------------------------------------- vendor API
    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """One vendor call: parse the form, apply faults, dispatch on ``service``."""
        try:
            form = parse_form(request) if request.method == "POST" else dict(request.query)
        except (ValueError, UnicodeDecodeError):
            form = {}
        service = form.get("service", "")
        taken = self.faults.take_all(service or request.path)
        fault_text = ",".join(f.describe() for f in taken) or None
        for fault in taken:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
        if any(f.kind == "expire-token" for f in taken):
            self.expire_tokens()
        terminal: Fault | None = next((f for f in taken if f.kind not in ("latency", "expire-token")), None)
        with self._lock:
            now = self.clock.now_s()
            self._tick(now)
            if terminal is not None and (terminal.kind in ("status", "429", "error")
                                         or (terminal.kind == "malformed" and terminal.arg != "truncated")):
                response = self._fault_response(terminal, now)
            else:
                if terminal is not None and terminal.kind == "partial":
                    form = _first_numbers(form, terminal.partial_rows)
                response = self._dispatch(request, form, service, now)
                if terminal is not None and terminal.kind == "partial":
                    if terminal.partial_status is None:
                        response = EmulatorResponse(status=response.status, body=response.body,
                                                    headers=response.headers, drop=True)
                    else:
                        response = self._fault_response(Fault(terminal.match, "status",
                                                              str(terminal.partial_status)), now)
                elif terminal is not None and terminal.kind == "drop":
                    response = EmulatorResponse(status=response.status, body=response.body,
                                                headers=response.headers, drop=True)
                elif terminal is not None:  # malformed:truncated, after the change was applied
                    response = EmulatorResponse(status=response.status,
                                                body=response.body[: max(1, len(response.body) // 2)],
                                                headers=response.headers)
            self._record(service, form, response, fault_text, now)
            return response

    def _fault_response(self, fault: Fault, now: float) -> EmulatorResponse:
        if fault.kind == "status":
            code = fault.status_code
            return EmulatorResponse(status=code, body=f"<html><body>{code}</body></html>".encode(),
                                    headers={"Content-Type": "text/html"})
        if fault.kind == "429":
            seconds = fault.seconds
            retry_after = str(int(seconds)) if seconds == int(seconds) else str(seconds)
            return EmulatorResponse(status=429, body=b"Too Many Requests",
                                    headers={"Retry-After": retry_after, "Content-Type": "text/plain"})
        if fault.kind == "malformed":  # an HTML page from a proxy where JSON was expected
            page = "<!DOCTYPE html><html><head><title>系统维护</title></head><body><p>服务暂不可用</p></body></html>"
            return EmulatorResponse(status=200, body=page.encode("utf-8"),
                                    headers={"Content-Type": "text/html; charset=utf-8"})
        code = fault.vendor_code
        if 400 <= code <= 604:
            return json_response({"ret": code, "data": [], "msg": f"injected error {code}"})
        return json_response(self._envelope(now, f"injected error {code}", [], status=1, code=code))

    def _record(self, service: str, form: Mapping[str, str], response: EmulatorResponse,
                fault: str | None, now: float) -> None:
        self._seq += 1
        body = {k: v for k, v in form.items() if k not in _SECRET_FIELDS}
        ret: int | None = None
        if not response.drop and response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                ret = int(json.loads(response.body)["ret"])
            except (ValueError, KeyError, TypeError):
                ret = None
        self._calls.append({
            "seq": self._seq, "service": service, "body": body,
            "status": None if response.drop else response.status, "ret": ret,
            "fault": fault, "at_ms": int(now * 1000),
        })

    def _dispatch(self, request: EmulatorRequest, form: dict[str, str], service: str, now: float) -> EmulatorResponse:
        handlers = {
            "App.Sip_Auth.Login": self._login,
            "App.Sip_Auth.Logout": self._logout,
            "App.Sip_Yccall.TaskCreat": self._task_create,
            "App.Sip_Yccall.TaskAdd": self._task_add,
            "App.Sip_Yccall.taskDelPhone": self._task_del_phone,
            "App.Sip_Yccall.TaskSet": self._task_set,
            "App.Sip_Yccall.TaskList": self._task_list,
            "App.Sip_Yccall.TaskInfo": self._task_info,
            "App.Sip_Sipnum.GetSipnumberInfo": self._sipnumber_info,
            "App.Sip_Queue.GetQueueList": self._queue_list,
            "App.Sip_Disnum.GetDisnumberInfo": self._disnumber_info,
        }
        try:
            if request.method != "POST":
                raise _Refused(400, "非法请求:仅支持POST")
            if not service:
                raise _Refused(400, "非法请求:缺少必要参数service")
            handler = handlers.get(service)
            if handler is None:
                raise _Refused(400, f"非法请求:接口服务{service}不存在")
            if service not in ("App.Sip_Auth.Login", "App.Sip_Auth.Logout"):
                self._check_token(form.get("token", ""), now)
            desc, result = handler(form, now)
            return json_response(self._envelope(now, desc, result))
        except _Refused as exc:
            return json_response({"ret": exc.ret, "data": [], "msg": exc.msg})
        except _Business as exc:
            return json_response(self._envelope(now, exc.desc, [], status=1, code=exc.code))

    def _check_token(self, token: str, now: float) -> None:
        if not token:
            raise _Refused(400, "非法请求:缺少必要参数token")
        expiry = self._tokens.get(token)
        if expiry is None or expiry <= now:
            self._tokens.pop(token, None)
            raise _Refused(600, "token无效或已过期,请重新授权")
        if token in self._stale_tokens:
            raise _Business(1010, "分机异常,请重新登录")

    # ----------------------------------------------------------------- services
    def _login(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        appid, accesskey = _required(form, "appid"), _required(form, "accesskey")
        if appid != self.config.appid:
            raise _Refused(601, "appid未授权")
        if accesskey != self.config.accesskey:
            raise _Business(1003, "授权失败:accesskey错误")
        self._token_seq += 1
        token = hashlib.sha256(f"{appid}:{self._token_seq}:{now}:{id(self)}".encode()).hexdigest()[:32]
        self._tokens[token] = now + self.config.token_ttl
        return "授权成功", {
            "token": token, "companycode": self.config.companycode, "companyname": self.config.companyname,
            "authtime": self._fmt(now), "authmodel": "yccall",
        }

    def _logout(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        token = form.get("token", "")
        self._check_token(token, now)
        if token != self._ready_token:
            self._tokens.pop(token, None)
        return "退出成功", []

    def _agents_for(self, assigntype: int) -> tuple[str, tuple[str, ...]]:
        kinds = {v: k for k, v in self.config.assign_types.items()}
        kind = kinds.get(assigntype)
        if kind is None:
            raise _Refused(400, f"非法请求:参数assigntype取值无效({assigntype})")
        known = {"extension": self.config.extensions, "queue": self.config.queues,
                 "group": self.config.groups}.get(kind, ())
        return kind, known

    def _task_create(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        assigntype = _int_field(form, "assigntype", required=True)
        assert assigntype is not None
        assignagent = _required(form, "assignagent")
        entries = _telphone(form, self.config.max_numbers_per_call)
        taskscale = _required(form, "taskscale")
        if not _SCALE_RE.match(taskscale):
            raise _Refused(400, "非法请求:参数taskscale格式应为 空闲坐席:呼叫数,如1:1")
        concurrent = _int_field(form, "concurrent", default=100, minimum=1)
        scheduled = self._parse_time("scheduledtime", form["scheduledtime"]) if form.get("scheduledtime") else None
        paused = self._parse_time("pausedtime", form["pausedtime"]) if form.get("pausedtime") else None
        isscale = form.get("isscale", "") or "auto"
        if isscale not in ("auto", "manual"):
            raise _Refused(400, "非法请求:参数isscale只能是auto或manual")
        disnumber = form.get("disnumber", "")
        taskname = form.get("taskname", "")
        if len(taskname) > self.config.max_taskname:
            raise _Refused(400, f"非法请求:参数taskname长度不能超过{self.config.max_taskname}")
        status = form.get("status", "") or "0"
        if status not in ("0", "1"):
            raise _Refused(400, "非法请求:参数status只能是0或1")
        customtaskid = form.get("customtaskid", "")
        if len(customtaskid) > self.config.max_customtaskid:
            raise _Refused(400, f"非法请求:参数customtaskid长度不能超过{self.config.max_customtaskid}")
        is_multi = _int_field(form, "is_multi_call", default=0)
        if is_multi not in (0, 1):
            raise _Refused(400, "非法请求:参数is_multi_call只能是0或1")
        multi_type = _int_field(form, "multi_call_type", default=2)
        if multi_type not in (1, 2):
            raise _Refused(400, "非法请求:参数multi_call_type只能是1或2")
        rounds = _int_field(form, "multi_call_max_rounds", default=1, minimum=1)
        interval = _int_field(form, "multi_call_interval", default=3600, minimum=0)
        # business checks (the request is well-formed)
        if len(entries) > self.config.max_numbers_per_call:
            raise _Business(1002, f"号码数不能超过{self.config.max_numbers_per_call}个,请通过追加接口提交")
        kind, known = self._agents_for(assigntype)
        for agent in (a.strip() for a in assignagent.split(",")):
            if agent not in known:
                if kind == "extension":
                    raise _Business(1012, f"分机{agent}不存在")
                raise _Business(1002, f"{'队列' if kind == 'queue' else '分机组'}{agent}不存在")
        for number in (d.strip() for d in disnumber.split(",") if d.strip()):
            if number not in self.config.caller_numbers:
                raise _Business(1002, f"主叫号码{number}不存在")
        if scheduled is not None and paused is not None and paused <= scheduled:
            raise _Business(1002, "任务运行截止时间必须晚于计划执行时间")
        self._task_seq += 1
        stamp = datetime.fromtimestamp(now, self._tz).strftime("%Y%m%d%H%M%S")
        taskid = f"{stamp}{self._task_seq % 1_000_000:06d}"
        task = _Task(
            taskid=taskid, taskname=taskname, customtaskid=customtaskid, assigntype=assigntype,
            assignagent=assignagent, taskscale=taskscale, concurrent=concurrent or 100,
            scheduledtime=scheduled, pausedtime=paused, isscale=isscale, disnumber=disnumber,
            multi_call=is_multi == 1, multi_call_type=multi_type or 2, multi_call_max_rounds=rounds or 1,
            multi_call_interval=interval if interval is not None else 3600, createtime=now, last_tick=now,
        )
        invalid = self._add_numbers(task, entries, now)
        self._tasks[taskid] = task
        if status == "1":
            self._set_status(task, 1, now)
        return "创建成功", {"taskid": taskid, "invaliddata": invalid}

    def _add_numbers(self, task: _Task, entries: list[Any], now: float) -> list[dict[str, str]]:
        invalid: list[dict[str, str]] = []
        for entry in entries:
            number, reason = _number_from(entry)
            if number is None:
                invalid.append({"phone": _phone_text(entry), "reason": reason})
            elif number.phone in task.numbers:
                invalid.append({"phone": number.phone, "reason": "重复号码"})
            else:
                if number.deadline is None and self.config.omitted_time == "now":
                    number.deadline = int(now)
                task.numbers[number.phone] = number
        return invalid

    def _task(self, form: Mapping[str, str]) -> _Task:
        taskid = _required(form, "taskid")
        task = self._tasks.get(taskid)
        if task is None:
            raise _Business(1024, f"任务{taskid}不存在")
        return task

    def _task_add(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        task = self._task(form)
        entries = _telphone(form, self.config.max_numbers_per_call)
        if len(entries) > self.config.max_numbers_per_call:
            raise _Business(1002, f"号码数不能超过{self.config.max_numbers_per_call}个")
        if task.status == ENDED:
            raise _Business(1003, "任务已结束,不能追加号码")
        before = len(task.numbers)
        invalid = self._add_numbers(task, entries, now)
        return "追加成功", {"success": len(task.numbers) - before, "invaliddata": invalid}

    def _task_del_phone(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        task = self._task(form)
        phones = [p.strip() for p in _required(form, "telphone").split(",") if p.strip()]
        if not phones:
            raise _Refused(400, "非法请求:参数telphone不能为空")
        if task.status == ENDED:
            raise _Business(1003, "任务已结束,不能删除号码")
        removed = 0
        for phone in phones:
            if task.numbers.pop(phone, None) is not None:
                removed += 1
        return f"删除成功,共删除{removed}个号码", []

    def _task_set(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        task = self._task(form)
        action = _int_field(form, "taskstatus", required=True)
        if action not in (1, 2, 3):
            raise _Refused(400, "非法请求:参数taskstatus只能是1、2或3")
        if task.status == ENDED:
            raise _Business(1003, "任务已结束,不能修改状态")
        self._set_status(task, action, now)
        return "设置成功", []

    def _set_status(self, task: _Task, action: int | None, now: float) -> None:
        self._run(task, now)
        if task.status == ENDED:
            return
        if action == 1 and task.status != RUNNING:
            task.status = RUNNING
            task.last_tick = now
            if task.starttime is None:
                task.starttime = now
            self._run(task, now)
        elif action == 2 and task.status == RUNNING:
            task.status = PAUSED
        elif action == 3:
            task.status, task.endtime, task.endtype = ENDED, now, "cancel"

    def _task_row(self, task: _Task) -> dict[str, Any]:
        called = sum(1 for n in task.numbers.values() if n.status == NUMBER_CALLED)
        answered = sum(1 for n in task.numbers.values() if n.answered == 1)
        return {
            "taskid": task.taskid, "taskname": task.taskname, "customtaskid": task.customtaskid,
            "taskassign": task.assignagent, "assigntype": task.assigntype,
            "starttime": self._fmt(task.starttime), "createtime": self._fmt(task.createtime),
            "endtime": self._fmt(task.endtime), "scheduledtime": self._fmt(task.scheduledtime),
            "pausedtime": self._fmt(task.pausedtime), "taskscale": task.taskscale,
            "nowscale": task.taskscale if task.isscale == "manual" else "1:1", "isscale": task.isscale,
            "concurrent": task.concurrent, "disnumber": task.disnumber, "status": task.status,
            "total": len(task.numbers), "called": called, "answered": answered,
            "is_multi_call": int(task.multi_call), "multi_call_type": task.multi_call_type,
            "multi_call_max_rounds": task.multi_call_max_rounds, "multi_call_interval": task.multi_call_interval,
        }

    def _page(self, form: Mapping[str, str]) -> tuple[int, int]:
        page = _int_field(form, "currentpage", default=1, minimum=1) or 1
        size = _int_field(form, "itemsperpage", default=self.config.default_page_size, minimum=1)
        return page, min(size or self.config.default_page_size, self.config.max_page_size)

    def _task_list(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        tasks = list(self._tasks.values())
        if form.get("createtime"):
            since = self._parse_time("createtime", form["createtime"])
            tasks = [t for t in tasks if t.createtime >= since]
        if form.get("endtime"):
            until = self._parse_time("endtime", form["endtime"])
            tasks = [t for t in tasks if t.createtime <= until]
        if form.get("taskid"):
            wanted = {t.strip() for t in form["taskid"].split(",") if t.strip()}
            tasks = [t for t in tasks if t.taskid in wanted]
        if form.get("taskname"):
            tasks = [t for t in tasks if form["taskname"] in t.taskname]
        if form.get("status", "") != "":
            code = _FILTER_CODES.get(form["status"])
            if code is None:
                raise _Refused(400, "非法请求:参数status只能是0、1、2或3")
            tasks = [t for t in tasks if t.status == code]
        if form.get("customtaskid"):
            tasks = [t for t in tasks if t.customtaskid == form["customtaskid"]]
        tasks.sort(key=lambda t: (t.createtime, t.taskid), reverse=True)
        page, size = self._page(form)
        chunk = tasks[(page - 1) * size: page * size]
        rows = [self._task_row(t) for t in chunk]
        if self.config.tasklist_rows == "documented":
            rows = [{key: row[key] for key in _DOCUMENTED_ROW} for row in rows]
        return "获取成功", {"totalitems": len(tasks), "currentpage": page, "itemsperpage": size, "task": rows}

    def _task_info(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        task = self._task(form)
        page, size = self._page(form)
        numbers = list(task.numbers.values())
        chunk = numbers[(page - 1) * size: page * size]
        return "获取成功", {"totalitems": len(numbers), "currentpage": page, "itemsperpage": size,
                           "result": [n.view(task.taskid) for n in chunk]}

    def _sipnumber_info(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        return "获取成功", [{"extnumber": e, "status": "1"} for e in self.config.extensions]

    def _queue_list(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        return "获取成功", [{"queuename": q} for q in self.config.queues]

    def _disnumber_info(self, form: Mapping[str, str], now: float) -> tuple[str, Any]:
        return "获取成功", [{"disnumber": d, "autocall": "2"} for d in self.config.caller_numbers]

    # ---------------------------------------------------------------- dialing
    def _tick(self, now: float) -> None:
        for task in self._tasks.values():
            self._run(task, now)

    def tick(self) -> None:
        """Let every running task dial up to now (and push the results of those calls)."""
        with self._lock:
            self._tick(self.clock.now_s())

    def _ended(self, task: _Task) -> None:
        if self.on_task_end is not None:
            self.on_task_end({"taskid": task.taskid, "endtype": task.endtype})

    def _answered(self, task: _Task, phone: str) -> bool:
        h = hashlib.blake2b(f"{task.taskid}:{phone}:{task.round}".encode(), digest_size=2).digest()
        return int.from_bytes(h, "big") / 65536.0 < self.config.answer_ratio

    def _run(self, task: _Task, now: float) -> None:
        """Dial what a running task dials between its last tick and ``now``."""
        start = task.last_tick
        task.last_tick = max(task.last_tick, now)
        if task.status != RUNNING:
            return
        limit = now if task.pausedtime is None else min(now, task.pausedtime)
        t = start if task.scheduledtime is None else max(start, task.scheduledtime)
        rate = task.concurrent / self.config.call_seconds
        while t <= limit:
            if task.next_round_at is not None:
                if task.next_round_at > limit:
                    break
                t = max(t, task.next_round_at)
                task.next_round_at = None
                task.round += 1
                for n in task.numbers.values():
                    n.pending = task.multi_call_type == 1 or n.answered != 1
            pending = [n for n in task.numbers.values() if n.pending]
            if not pending:
                if task.multi_call and task.round <= task.multi_call_max_rounds:
                    task.next_round_at = t + task.multi_call_interval
                    continue
                task.status, task.endtime, task.endtype = ENDED, t, "over"
                self._ended(task)
                return
            budget = task.credit + (limit - t) * rate
            k = min(len(pending), int(budget))
            if k < len(pending):
                at = limit
                task.credit = budget - k
            else:
                at = t + max(0.0, (k - task.credit) / rate)
                task.credit = 0.0
            for n in pending[:k]:
                self._dial(task, n, at)
            if k < len(pending):
                break
            t = at
        if task.pausedtime is not None and now >= task.pausedtime and task.status == RUNNING:
            task.status, task.endtime, task.endtype = ENDED, task.pausedtime, "timeout"
            self._ended(task)

    def _dial(self, task: _Task, number: _Number, at: float) -> None:
        number.pending = False
        if number.deadline is not None and at > number.deadline:
            number.answertype = "expired"
            return
        number.dials += 1
        number.status = NUMBER_CALLED
        number.called_at = at
        if self._answered(task, number.phone):
            number.answered, number.answertype = 1, "connected"
            agents = [a for a in task.assignagent.split(",") if a in self.config.extensions]
            agents = agents or list(self.config.extensions)  # a queue or group: one of its extensions
            number.extnumber = agents[int(number.phone[-1]) % len(agents)] if agents else None
        else:
            number.answered, number.answertype, number.extnumber = 0, "callee", None
        self._records.append(self._call_record(task, number, at))
        if self.on_call is not None:
            self.on_call({"taskid": task.taskid, "phone": number.phone, "customuuid": number.customuuid,
                          "userid": number.userid, "memberid": number.memberid, "ext": number.ext,
                          "round": task.round, "answered": number.answered == 1, "at": at,
                          "disnumber": task.disnumber.split(",")[0] if task.disnumber else "",
                          "extnumber": number.extnumber})

    def _call_record(self, task: _Task, number: _Number, at: float) -> dict[str, Any]:
        """One call-record callback body, as the vendor posts it: JSON, not a form field."""
        stamp = datetime.fromtimestamp(at, self._tz).strftime("%Y%m%d%H%M%S")
        answered = number.answered == 1
        filename = f"{task.taskid}-{number.phone}-{stamp}.wav" if answered else ""
        return {
            "taskid": task.taskid, "round": task.round, "callmethod": 5, "telphone": number.phone,
            "customuuid": number.customuuid, "ext": number.ext, "chengshudu": number.ext,
            "hangupcause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
            "hangupdirection": "caller" if answered else "callee",
            "recordurl": f"/recordings/{filename}" if answered else "", "recordfilename": filename,
            "downloadip": "127.0.0.1" if answered else "",
        }

    # ---------------------------------------------------------------- control API
    CONTROL_API: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("GET", "/_emulator/", "this index"),
        ("GET", "/_emulator/calls?since=N", "every API call received, in order (secrets redacted)"),
        ("GET", "/_emulator/state", "every task with its numbers"),
        ("GET", "/_emulator/call-records?since=N", "the call-record callback bodies of every simulated dial"),
        ("POST", "/_emulator/reset", "forget all tasks, calls and faults"),
        ("POST", "/_emulator/advance", 'move the simulated clock forward: {"seconds": N}'),
        ("GET", "/_emulator/faults", "the faults still pending"),
        ("POST", "/_emulator/faults", 'add faults: {"spec": "App.Sip_Yccall.TaskCreat:drop:1"}, or {"clear": true}'),
        ("DELETE", "/_emulator/faults", "clear every pending fault"),
        ("POST", "/_emulator/change-extension", "make the next call answer 1010 (extension changed: log in again)"),
        ("POST", "/_emulator/expire-token", "expire every token issued so far"),
    )

    def describe(self) -> list[str]:
        """What this emulator accepts and knows, for people starting it by hand."""
        c = self.config
        return [
            f"credentials: appid={c.appid} accesskey={c.accesskey} (company {c.companycode})",
            f"extensions: {', '.join(c.extensions) or '-'}; queues: {', '.join(c.queues) or '-'}; "
            f"groups: {', '.join(c.groups) or '-'}",
            f"caller numbers: {', '.join(c.caller_numbers) or '-'}",
            f"assign types: {dict(c.assign_types)}; TaskList rows: {c.tasklist_rows}",
        ]

    def control(self, request: EmulatorRequest) -> EmulatorResponse:
        """``/_emulator/{calls,reset,advance,faults,state,call-records,expire-token,change-extension}``."""
        action = request.path[len("/_emulator/"):].strip("/")
        if action == "" and request.method == "GET":
            return json_response(control_index("yccall", self.CONTROL_API))
        try:
            payload = request.json()
        except ValueError:
            return json_response({"error": "body is not JSON"}, 400)
        body = payload if isinstance(payload, dict) else {}
        if action == "calls" and request.method == "GET":
            try:
                since = int(request.query.get("since", "0") or 0)
            except ValueError:
                return json_response({"error": "since must be an integer"}, 400)
            return json_response({"calls": [c for c in self.calls if c["seq"] > since]})
        if action == "faults" and request.method == "GET":
            return json_response({"faults": self.faults.pending()})
        if action == "faults" and request.method == "DELETE":
            self.faults.clear()
            return json_response({"ok": True, "faults": []})
        if action == "state" and request.method == "GET":
            return json_response(self.state())
        if action == "call-records" and request.method == "GET":
            try:
                since = int(request.query.get("since", "0") or 0)
            except ValueError:
                return json_response({"error": "since must be an integer"}, 400)
            return json_response({"records": self.call_records(since)})
        if request.method != "POST":
            return json_response({"error": f"unknown control {request.method} {request.path}"}, 404)
        if action == "reset":
            self.reset()
            return json_response({"ok": True})
        if action == "advance":
            seconds = body.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                return json_response({"error": "seconds must be a non-negative number"}, 400)
            now = self.advance(float(seconds))
            return json_response({"ok": True, "now": now, "now_ms": int(now * 1000)})
        if action == "faults":
            if body.get("clear") is True:
                self.faults.clear()
                return json_response({"ok": True, "faults": []})
            spec = body.get("spec")
            if not isinstance(spec, str):
                return json_response({"error": "spec must be a string"}, 400)
            try:
                added = self.faults.add(spec)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response({"ok": True, "added": len(added), "faults": self.faults.pending()})
        if action == "change-extension":
            self.change_extension()
            return json_response({"ok": True})
        if action == "expire-token":
            self.expire_tokens()
            return json_response({"ok": True})
        return json_response({"error": f"unknown control {request.method} {request.path}"}, 404)


EMULATOR = YccallEmulator
CONFIG = YccallConfig


# -------------------------------------------------------------------- helpers
def _first_numbers(form: dict[str, str], count: int) -> dict[str, str]:
    """The form with only the first ``count`` entries of ``telphone`` (the ``partial`` fault)."""
    try:
        entries = json.loads(form.get("telphone", ""))
    except ValueError:
        return form
    if not isinstance(entries, list):
        return form
    return {**form, "telphone": json.dumps(entries[:count], ensure_ascii=False)}


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if value == "":
        raise _Refused(400, f"非法请求:缺少必要参数{name}")
    return value


def _int_field(form: Mapping[str, str], name: str, *, required: bool = False, default: int | None = None,
               minimum: int | None = None) -> int | None:
    raw = form.get(name, "").strip()
    if raw == "":
        if required:
            raise _Refused(400, f"非法请求:缺少必要参数{name}")
        return default
    if not _INT_RE.match(raw):
        raise _Refused(400, f"非法请求:参数{name}应为整数")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise _Refused(400, f"非法请求:参数{name}不能小于{minimum}")
    return value


def _telphone(form: Mapping[str, str], limit: int) -> list[Any]:
    raw = _required(form, "telphone")
    try:
        entries = json.loads(raw)
    except ValueError:
        raise _Refused(400, "非法请求:参数telphone应为JSON数组") from None
    if not isinstance(entries, list):
        raise _Refused(400, "非法请求:参数telphone应为JSON数组")
    if not entries:
        raise _Refused(400, "非法请求:参数telphone不能为空")
    return entries


def _phone_text(entry: Any) -> str:
    if isinstance(entry, dict):
        phone = entry.get("phone")
        return "" if phone is None else str(phone)
    return str(entry)


def _number_from(entry: Any) -> tuple[_Number | None, str]:
    """One telphone element -> a number, or None and the reason it is invalid."""
    if not isinstance(entry, dict):
        return None, "号码格式错误:应为对象"
    phone = entry.get("phone")
    if isinstance(phone, bool) or not isinstance(phone, (str, int)):
        return None, "缺少号码或号码类型错误"
    text = str(phone).strip()
    if not _PHONE_RE.match(text):
        return None, "号码格式错误"
    deadline: int | None = None
    raw_time = entry.get("time")
    if raw_time not in (None, ""):
        if isinstance(raw_time, bool) or not (isinstance(raw_time, int) or
                                              (isinstance(raw_time, str) and _INT_RE.match(raw_time))):
            return None, "time应为时间戳(秒)"
        deadline = int(raw_time) or None
    extras: dict[str, str] = {}
    for key in _OPTIONAL_TEXT:
        value = entry.get(key, entry.get("chengshudu") if key == "ext" else None)
        if value is None:
            extras[key] = ""
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            extras[key] = str(value)
        else:
            return None, f"{key}类型错误"
    return _Number(phone=text, deadline=deadline, userid=extras["userid"], memberid=extras["memberid"],
                   customuuid=extras["customuuid"], ext=extras["ext"]), ""
