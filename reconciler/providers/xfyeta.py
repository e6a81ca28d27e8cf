"""xfyeta (iFlytek Yeta) outbound robot API client, for one provider profile.

Translates between the model and the vendor API (``providers/xfyeta.md``,
``seeds/xfyeta-outbound-api.zh.md``); knows nothing of plans or state.

- Every call is ``POST <base_url><path>?token=...`` with a JSON body and the
  envelope ``{code, message, result}``; ``code != 0`` is a :class:`VendorError`
  with a short English gloss of the known codes.
- Token: fetched with ``app_key``/``app_secret`` and cached; refreshed
  ``refresh_margin`` seconds before it expires and once more when a call is
  answered 10001 (the call is then re-sent once: safe even for mutating calls,
  since 10001 means the vendor refused it). A ready token (``token_env``)
  cannot be refreshed: 10001 is then an :class:`AuthError`. Thread-safe.
- Idempotent calls: token, config query, task query, start, pause, delete;
  10004 (service busy) is retried with the transport's backoff. create,
  insert and callout are never re-sent after they may have reached the vendor:
  :class:`OutcomeUnknown`.
- Listing is one paginated ``task/query`` on the name prefix (the vendor's
  name search is fuzzy, so owned names are filtered exactly client-side).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from reconciler.errors import AuthError, OutcomeUnknown, Problem, ProviderError, TransportError, VendorError
from reconciler.model import ContactRow, DesiredCampaign, ProviderProfile, Secret
from reconciler.providers import auth_error
from reconciler.providers.base import AddResult, Capabilities, CreateResult, Limits, ObservedTask, Phase
from reconciler.providers.http import CallEvent, HttpTransport, RetryPolicy

__all__ = ["CODES", "PATHS", "PHASES", "XfyetaProvider"]

TOKEN_CALL = "oauth/token"
PATHS: dict[str, str] = {
    TOKEN_CALL: "/openapi/oauth/v1/token",
    "config/query": "/openapi/config/v1/query",
    **{f"task/{op}": f"/openapi/outbound/v1/task/{op}"
       for op in ("callout", "create", "insert", "start", "pause", "delete", "query")},
}
IDEMPOTENT = frozenset({TOKEN_CALL, "config/query", "task/query", "task/start", "task/pause", "task/delete"})

# Short English glosses of the vendor codes (providers/xfyeta.md section 2).
CODES: dict[int, str] = {
    10001: "invalid or expired token",
    10002: "the token has no permission for this call",
    10003: "bad app_id",
    10004: "service busy, retry later",
    10005: "bad input parameters",
    10020: "API under maintenance",
    10021: "API disabled",
    200101: "wrong app_key or app_secret",
    200200: "bad data relation",
    200201: "bad enterprise id",
    200202: "bad task id",
    200203: "bad outbound line number",
    200204: "bad robot id (missing or not published)",
    200205: "bad voice code",
    200206: "bad speed",
    200209: "account balance too low",
    200212: "contact columns do not match the robot's call_column",
    200213: "uploaded data exceeds the limit",
    200222: "outside the valid working hours",
    3030002: "number occupied",
    3010101: "task already finished",
    3010102: "task already deleted",
}
INVALID_TOKEN = 10001
BUSY = 10004
ALREADY_DELETED = 3010102

PHASES: dict[int, Phase] = {
    0: Phase.NOT_STARTED,
    1: Phase.RUNNING,
    2: Phase.RUNNING,
    5: Phase.RUNNING,
    6: Phase.RUNNING,
    3: Phase.PAUSED,
    4: Phase.FINISHED,
    7: Phase.FINISHED,
}
ROBOT_STATUS = {1: "in review", 2: "rejected", 3: "awaiting publish", 4: "published"}
PAGE_SIZE = 50
ROBOT_PAGE_SIZE = 50
_MAX_PAGES = 10_000


def _int(value: Any, default: int | None = None) -> int | None:
    """Tolerant integer: vendors send numbers, numeric strings, null or nothing."""
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def _json_list(value: Any) -> list[Any]:
    """``time_range`` and friends arrive as JSON text (``"[\\"09:00:00-12:00:00\\"]"``)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return parsed if isinstance(parsed, list) else []
    return []


def _seconds_of_day(text: str) -> int | None:
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return None
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    if h > 24 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def _ranges(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Merged ``HH:MM:SS-HH:MM:SS`` ranges as seconds of day (a range past midnight is split)."""
    spans: list[tuple[int, int]] = []
    for text in texts:
        start_text, sep, end_text = str(text).partition("-")
        start, end = _seconds_of_day(start_text), _seconds_of_day(end_text)
        if not sep or start is None or end is None:
            continue
        if end >= start:
            spans.append((start, end))
        else:
            spans += [(start, 86400), (0, end)]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class XfyetaProvider:
    """The :class:`~reconciler.providers.base.Provider` for ``type: xfyeta`` profiles."""

    capabilities = Capabilities(
        direct_callout=True,
        add_after_start=False,
        remove_contacts=False,
        delete_is_end=False,
        create_with_contacts=False,
        windows=True,
    )

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        credentials: Mapping[str, Secret],
        transport: httpx.BaseTransport | None = None,
        timezone: str = "Asia/Shanghai",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
    ) -> None:
        self.profile = profile
        opts = profile.options
        self.prefix = profile.name_prefix
        self.separator = str(opts.get("line_separator") or ";")
        self.token_ttl = float(opts.get("token_ttl") or 3600)
        margin = opts.get("refresh_margin")
        self.refresh_margin = float(300 if margin is None else margin)
        self.check_references = bool(opts.get("check_references", True))
        max_contacts = _int(opts.get("max_contacts_per_task"))
        self.limits = Limits(add_batch=50, create_batch=0, callout_batch=50, list_page=PAGE_SIZE,
                             max_contacts_per_task=max_contacts)
        self.tz = ZoneInfo(timezone)
        self._clock = clock
        self._wall = wall
        self.http = HttpTransport(profile, transport=transport, sleep=sleep, retry=retry, clock=clock, wall=wall,
                                  on_event=on_event)
        self._app_key = credentials.get("app_key")
        self._app_secret = credentials.get("app_secret")
        self._fixed = credentials.get("token")
        if not ((self._app_key and self._app_secret) or self._fixed):
            raise auth_error("no credentials: need app_key and app_secret, or a token", profile.name)
        for secret in (self._app_key, self._app_secret, self._fixed):
            if secret:
                self.http.add_secret(secret.reveal())
        self._token_lock = threading.Lock()
        self._token: Secret | None = self._fixed  # a Secret, so no repr or vars() dump shows it
        self._expires_at = float("inf")  # monotonic; only meaningful for fetched tokens
        self._fetches = 0

    def __repr__(self) -> str:
        return f"XfyetaProvider(profile={self.profile.name!r}, base_url={self.http.redact(self.profile.base_url)!r})"

    # ------------------------------------------------------------------ names

    def task_name(self, campaign: str, wave: int) -> str:
        return f"{self.prefix}{campaign}" if wave <= 1 else f"{self.prefix}{campaign}~{wave}"

    def owns(self, task: ObservedTask) -> bool:
        return task.name.startswith(self.prefix)

    # ------------------------------------------------------------------ token

    @property
    def token_fetches(self) -> int:
        """How many tokens were fetched so far (for tests and debug output)."""
        return self._fetches

    def _current_token(self, call: str, campaign: str) -> str:
        with self._token_lock:
            if self._fixed is None and (self._token is None or self._clock() >= self._expires_at):
                self._fetch_token(call, campaign)
            assert self._token is not None
            return self._token.reveal()

    def _renew_after_refusal(self, stale: str, call: str, campaign: str) -> None:
        """The vendor refused ``stale`` (10001): fetch a new token unless another thread already did."""
        with self._token_lock:
            if self._fixed is not None:
                raise AuthError(
                    "the token from the environment was refused as invalid or expired; it cannot be refreshed: "
                    "set a fresh token, or configure app_key_env and app_secret_env",
                    vendor_code=str(INVALID_TOKEN), profile=self.profile.name, call=call, campaign=campaign,
                )
            if self._token is not None and self._token.reveal() == stale:
                self._fetch_token(call, campaign)

    def _fetch_token(self, call: str, campaign: str) -> None:
        """POST the token call (caller holds the lock). ``time_expire`` is a lifetime in seconds."""
        assert self._app_key is not None and self._app_secret is not None
        body = {"app_key": self._app_key.reveal(), "app_secret": self._app_secret.reveal()}
        response = self.http.post(TOKEN_CALL, PATHS[TOKEN_CALL], json=body, idempotent=True, campaign=campaign)
        payload = self.http.parse_json(response, TOKEN_CALL, idempotent=True, campaign=campaign)
        code = _int(payload.get("code"))
        if code != 0:
            raise self._vendor_error(TOKEN_CALL, -1 if code is None else code, payload.get("message"), campaign,
                                     auth=True)
        result = payload.get("result") if isinstance(payload.get("result"), dict) else {}
        token = result.get("token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            raise TransportError("the token answer carries no token", profile=self.profile.name, call=TOKEN_CALL,
                                 campaign=campaign)
        self.http.add_secret(token)
        ttl = self._ttl(result.get("time_expire") if isinstance(result, dict) else None)
        self._token = Secret(token)
        self._expires_at = self._clock() + max(0.0, ttl - self.refresh_margin)
        self._fetches += 1

    def _ttl(self, value: Any) -> float:
        """Lifetime in seconds; tolerate an absolute expiry in epoch seconds or ms."""
        number = _int(value)
        if number is None or number <= 0:
            return self.token_ttl
        if number > 10**12:  # epoch ms
            return number / 1000 - self._wall()
        if number > 10**9:  # epoch seconds
            return number - self._wall()
        return float(number)

    # ------------------------------------------------------------------ one vendor call

    def _call(self, call: str, body: Mapping[str, Any], *, campaign: str = "") -> Any:
        """POST ``call`` with the token; the envelope's ``result``, or a ``ProviderError``."""
        idempotent = call in IDEMPOTENT
        refreshed = False
        busy = 0
        while True:
            token = self._current_token(call, campaign)
            response = self.http.post(call, PATHS[call], params={"token": token}, json=dict(body),
                                      idempotent=idempotent, campaign=campaign)
            payload = self.http.parse_json(response, call, idempotent=idempotent, campaign=campaign)
            code = _int(payload.get("code"))
            if code == 0:
                return payload.get("result")
            if code is None:
                text = f"the answer has no usable code: {str(payload)[:120]}"
                if idempotent:
                    raise self.http.error(TransportError, text, call, campaign=campaign, retryable=True)
                raise self.http.error(OutcomeUnknown, text + "; the vendor may or may not have applied it", call,
                                      campaign=campaign)
            if code == INVALID_TOKEN and not refreshed:
                refreshed = True  # the vendor refused the call: safe to re-send once, even a mutating one
                self._renew_after_refusal(token, call, campaign)
                continue
            if code == BUSY and idempotent and busy + 1 < self.http.retry.attempts:
                busy += 1
                self.http.sleep(self.http.delay(busy))
                continue
            raise self._vendor_error(call, code, payload.get("message"), campaign)

    def _vendor_error(self, call: str, code: int, message: Any, campaign: str, *,
                      auth: bool = False) -> VendorError | AuthError:
        gloss = CODES.get(code, "unknown vendor code")
        said = str(message or "").strip()
        text = gloss if not said or said == gloss else f"{gloss} (vendor says: {said})"
        cls = AuthError if auth or code in (INVALID_TOKEN, 10002, 10003, 200101) else VendorError
        return cls(self.http.redact(text), vendor_code=str(code), profile=self.profile.name, call=call,
                   campaign=campaign, retryable=code == BUSY)

    # ------------------------------------------------------------------ reading

    def _observe(self, row: Mapping[str, Any]) -> ObservedTask:
        status = _int(row.get("status"), 0) or 0
        deleted = bool(_int(row.get("deleted"), 0))
        started_at = _int(row.get("time_task_start"), 0) or 0
        started = status != 0 or started_at > 0
        if deleted:
            phase = Phase.ABSENT
        elif status in PHASES:
            phase = PHASES[status]
        else:  # an undocumented status: never treat a possibly-dialing task as fresh
            phase = Phase.RUNNING if started else Phase.NOT_STARTED
        raw = dict(row)
        raw["time_range"] = _json_list(row.get("time_range"))
        return ObservedTask(
            profile=self.profile.name,
            task_id=str(row.get("task_id", "")),
            name=str(row.get("task_name") or ""),
            phase=phase,
            status=status,
            started=started,
            deleted=deleted,
            contact_count=_int(row.get("count_tel")),
            called=_int(row.get("process_tel_count")),
            answered=_int(row.get("process_through_count")),
            created_at=_int(row.get("time_create")) or _int(row.get("time_task_create")),
            raw=raw,
        )

    def _query_all(
        self, body: Mapping[str, Any], keep: Callable[[str], bool], campaign: str = ""
    ) -> list[ObservedTask]:
        """Every page of one ``task/query``, rows whose name passes ``keep`` (deduplicated by id)."""
        found: dict[str, ObservedTask] = {}
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            result = self._call("task/query", {**body, "page_size": PAGE_SIZE, "page_index": page},
                                campaign=campaign) or {}
            rows = result.get("rows") if isinstance(result, dict) else None
            rows = [r for r in rows or [] if isinstance(r, dict)]
            total = _int(result.get("total_rows") if isinstance(result, dict) else None, 0) or 0
            for row in rows:
                task = self._observe(row)
                if task.task_id and keep(task.name):
                    found.setdefault(task.task_id, task)
            seen += len(rows)
            if not rows or seen >= total:
                break
        return list(found.values())

    def list_tasks(self) -> list[ObservedTask]:
        body = {"task_name": self.prefix, "sort_name": "CREATETIME", "sort_order": "ASC"}
        return self._query_all(body, lambda name: name.startswith(self.prefix))

    def find_task(self, campaign: str, wave: int) -> ObservedTask | None:
        name = self.task_name(campaign, wave)
        body = {"task_name": name, "sort_name": "CREATETIME", "sort_order": "DESC"}
        matches = self._query_all(body, lambda n: n == name, campaign=campaign)
        if not matches:
            return None

        def newest(task: ObservedTask) -> tuple[int, int, str]:
            numeric = int(task.task_id) if task.task_id.isdigit() else -1
            return (task.created_at or 0, numeric, task.task_id)

        matches.sort(key=newest, reverse=True)
        live = [t for t in matches if not t.deleted]
        return (live or matches)[0]

    def get_task(self, task_id: str) -> ObservedTask | None:
        try:
            result = self._call("task/query", {"task_id": str(task_id), "page_size": PAGE_SIZE, "page_index": 1})
        except VendorError as exc:
            if exc.vendor_code == "200202":
                return None
            raise
        rows = result.get("rows") if isinstance(result, dict) else None
        for row in rows or []:
            if isinstance(row, dict) and str(row.get("task_id")) == str(task_id):
                return self._observe(row)
        return None

    def count_contacts(self, task_id: str) -> int:
        task = self.get_task(task_id)
        if task is None:
            raise VendorError(f"task {task_id} not found", vendor_code="200202", profile=self.profile.name,
                              call="task/query")
        return task.contact_count or 0

    # ------------------------------------------------------------------ references

    def _config(self) -> dict[str, Any]:
        """One ``config/v1/query`` (all parts); robots paged with ``type=1`` when the first answer is short."""
        result = self._call("config/query", {"type": 0})
        config = dict(result) if isinstance(result, dict) else {}
        robots = [r for r in config.get("robots") or [] if isinstance(r, dict)]
        total = _int(config.get("robotTotal"), len(robots)) or 0
        if total > len(robots):
            robots = []
            for page in range(1, _MAX_PAGES + 1):
                part = self._call("config/query", {"type": 1, "pageSize": ROBOT_PAGE_SIZE, "pageIndex": page})
                batch = [r for r in (part or {}).get("robots") or [] if isinstance(r, dict)]
                robots += batch
                if not batch or len(robots) >= total:
                    break
        config["robots"] = robots
        return config

    def check(self, campaigns: Sequence[DesiredCampaign]) -> list[Problem]:
        mine = [c for c in campaigns if c.provider == self.profile.name and c.provider_type == "xfyeta"]
        if not mine or not self.check_references:
            return []
        config = self._config()
        robots = {str(r.get("robot_id")): r for r in config.get("robots") or [] if isinstance(r, dict)}
        lines = {str(ln.get("line_num")): ln for ln in config.get("lines") or [] if isinstance(ln, dict)}
        voices = {str(v.get("voice_code")) for v in config.get("voices") or [] if isinstance(v, dict)}
        now = self._wall()
        problems: list[Problem] = []
        for c in mine:
            def add(field: str, message: str, c: DesiredCampaign = c) -> None:
                problems.append(Problem(c.mark.file, c.mark.line, field, f"campaign {c.name!r}: {message}"))

            self._check_robot(c, robots, add)
            self._check_lines(c, lines, now, add)
            if c.voice is not None and c.voice.code and c.voice.code not in voices:
                known = ", ".join(sorted(voices)) or "none"
                add("voice.code", f"voice {c.voice.code!r} does not exist on profile {self.profile.name!r} "
                                  f"(known: {known})")
        return sorted(problems)

    def _check_robot(self, c: DesiredCampaign, robots: Mapping[str, Mapping[str, Any]],
                     add: Callable[[str, str], None]) -> None:
        robot = robots.get(str(c.robot))
        if robot is None:
            add("robot", f"robot {c.robot!r} does not exist on profile {self.profile.name!r}")
            return
        label = f"robot {c.robot!r} ({robot.get('robot_name', '')})"
        if _int(robot.get("deleted"), 0):
            add("robot", f"{label} is deleted")
            return
        status = _int(robot.get("status"))
        if status != 4:
            add("robot", f"{label} is not published (status {status}: {ROBOT_STATUS.get(status or 0, 'unknown')})")
        expected = [str(x) for x in robot.get("call_column") or []]
        actual = list(c.contacts.columns)
        if expected != actual:
            add("contacts.columns", f"columns {actual} differ from {label} call_column {expected}: "
                                    + _column_difference(actual, expected))

    def _check_lines(self, c: DesiredCampaign, lines: Mapping[str, Mapping[str, Any]], now: float,
                     add: Callable[[str, str], None]) -> None:
        for num in c.lines:
            line = lines.get(num)
            if line is None:
                add("lines", f"line {num!r} does not exist on profile {self.profile.name!r}")
                continue
            expire = _int(line.get("time_expire"), -1)
            if expire is not None and expire != -1:
                expire_s = expire / 1000 if expire > 10**12 else expire
                if expire_s <= now:
                    when = datetime.fromtimestamp(expire_s, self.tz).strftime("%Y-%m-%d %H:%M")
                    add("lines", f"line {num!r} expired on {when}")
                    continue
            work_texts = [str(t) for t in line.get("time_work") or []]
            work = _ranges(work_texts)
            if not work:
                continue
            for window in c.schedule.windows:
                start = window.start.hour * 3600 + window.start.minute * 60 + window.start.second
                end = window.end.hour * 3600 + window.end.minute * 60 + window.end.second
                if not any(ws <= start and end <= we for ws, we in work):
                    add("schedule.windows", f"window {window.vendor()} is outside the working time "
                                            f"{work_texts} of line {num!r}")

    # ------------------------------------------------------------------ building requests

    def _ms(self, moment: datetime) -> int:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return int(moment.timestamp() * 1000)

    def _rows(self, campaign: DesiredCampaign, rows: Sequence[ContactRow], limit: int, what: str) -> list[list[str]]:
        if len(rows) > limit:
            raise ValueError(f"{what} takes at most {limit} rows per call, got {len(rows)}")
        width = len(campaign.contacts.columns)
        out = [list(r.values) for r in rows]
        for r in out:
            if len(r) != width:
                raise ValueError(f"a contact row has {len(r)} values for {width} columns")
        return out

    def create_body(self, campaign: DesiredCampaign, wave: int) -> dict[str, Any]:
        """The ``task/create`` body for a campaign's wave (public for plan previews and tests)."""
        sched = campaign.schedule
        if sched.begin is None:
            raise ValueError(f"campaign {campaign.name!r}: xfyeta tasks need schedule.begin")
        if not campaign.robot or not campaign.lines:
            raise ValueError(f"campaign {campaign.name!r}: xfyeta tasks need a robot and lines")
        body: dict[str, Any] = {
            "task_name": self.task_name(campaign.name, wave),
            "line_num": self.separator.join(campaign.lines),
            "robot_id": campaign.robot,
            "time_range": [w.vendor() for w in sched.windows],
            "time_begin": self._ms(sched.begin),
            "recall_count": campaign.recall.count,
            "time_recall_wait": campaign.recall.wait,
            "trubo_mode": bool(campaign.turbo),
        }
        if sched.end is not None:
            body["time_end"] = self._ms(sched.end)
        if campaign.voice is not None and campaign.voice.code:
            body["voice_code"] = campaign.voice.code
        return body

    # ------------------------------------------------------------------ mutating calls

    def create_task(self, campaign: DesiredCampaign, wave: int, rows: Sequence[ContactRow] = ()) -> CreateResult:
        if rows:
            raise ValueError("xfyeta create carries no contacts (create_batch is 0): insert them afterwards")
        result = self._call("task/create", self.create_body(campaign, wave), campaign=campaign.name)
        task_id = result.get("task_id") if isinstance(result, dict) else None
        if task_id in (None, ""):
            raise self.http.error(OutcomeUnknown, "task/create answered without a task_id", "task/create",
                                  campaign=campaign.name)
        return CreateResult(task_id=str(task_id))

    def _added(self, result: Any, sent: int) -> AddResult:
        result = result if isinstance(result, dict) else {}
        ids = [str(i) for i in result.get("task_data_ids") or [] if i is not None]
        total = _int(result.get("total"), len(ids) if ids else sent)
        accepted = sent if total is None else total
        data_ids: tuple[str | None, ...] = tuple(ids) if len(ids) == accepted else (None,) * accepted
        return AddResult(accepted=accepted, data_ids=data_ids)

    def add_contacts(self, task_id: str, campaign: DesiredCampaign, rows: Sequence[ContactRow]) -> AddResult:
        call_list = self._rows(campaign, rows, self.limits.add_batch, "task/insert")
        if not call_list:
            return AddResult(accepted=0)
        body = {"task_id": str(task_id), "call_column": list(campaign.contacts.columns), "call_list": call_list}
        return self._added(self._call("task/insert", body, campaign=campaign.name), len(call_list))

    def callout(self, campaign: DesiredCampaign, rows: Sequence[ContactRow]) -> AddResult:
        call_list = self._rows(campaign, rows, self.limits.callout_batch, "task/callout")
        if not call_list:
            return AddResult(accepted=0)
        if not campaign.robot or not campaign.lines:
            raise ValueError(f"campaign {campaign.name!r}: callout needs a robot and lines")
        body: dict[str, Any] = {
            "robot_id": campaign.robot,
            "line_num": self.separator.join(campaign.lines),
            "call_column": list(campaign.contacts.columns),
            "call_list": call_list,
        }
        if campaign.voice is not None:
            if campaign.voice.code:
                body["voice_code"] = campaign.voice.code
            if campaign.voice.speed is not None:
                body["robot_speed"] = campaign.voice.speed
        return self._added(self._call("task/callout", body, campaign=campaign.name), len(call_list))

    def remove_contacts(self, task_id: str, campaign: DesiredCampaign, phones: Sequence[str]) -> None:
        raise ProviderError("xfyeta has no call that removes numbers from a task", profile=self.profile.name,
                            call="task/remove", campaign=campaign.name)

    def start(self, task_id: str) -> None:
        self._call("task/start", {"task_id": str(task_id)})

    def pause(self, task_id: str) -> None:
        self._call("task/pause", {"task_id": str(task_id)})

    def delete(self, task_id: str) -> None:
        """Delete; "already deleted" (3010102) is success: a retried or repeated delete is done."""
        try:
            self._call("task/delete", {"task_id": str(task_id)})
        except VendorError as exc:
            if exc.vendor_code == str(ALREADY_DELETED) or "already deleted" in exc.detail.lower():
                return
            raise

    def close(self) -> None:
        self.http.close()


def _column_difference(actual: Sequence[str], expected: Sequence[str]) -> str:
    """Say which columns differ: missing, unexpected, or the same set in another order."""
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"not in the robot {extra}")
    if not parts:
        at = next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b), None)
        if at is None:
            parts.append(f"{len(actual)} columns given, the robot has {len(expected)}")
        else:
            parts.append(f"same columns in another order (position {at + 1}: {actual[at]!r}, "
                         f"robot expects {expected[at]!r})")
    return "; ".join(parts)
