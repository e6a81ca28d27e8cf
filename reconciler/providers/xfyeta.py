"""xfyeta (iFlytek Yeta) outbound robot API client, for one provider profile.

Translates between the model and the vendor API (``providers/xfyeta.md``,
``seeds/xfyeta-outbound-api.zh.md``); knows nothing of plans or state.

- Every call is ``POST <base_url><path>?token=...`` with a JSON body and the
  envelope ``{code, message, result}``; ``code != 0`` is a :class:`VendorError`
  with a short English gloss of the known codes.
- Token: fetched with ``app_key``/``app_secret`` and cached; refreshed
  ``refresh_margin`` seconds before it expires and once more when a call is
  answered 10001 (the call is then re-sent once: safe even for mutating calls,
  since 10001 means the vendor refused it), by the shared
  :class:`~reconciler.providers.client.Session`. A ready token
  (``token_env``) cannot be refreshed: 10001 is then an :class:`AuthError`.
  Thread-safe.
- Idempotent calls: token, config query, task query, start, pause, delete;
  10004 (service busy) is retried with the transport's backoff. create,
  insert and callout are never re-sent after they may have reached the vendor:
  :class:`OutcomeUnknown`.
- Listing is one paginated ``task/query`` on the name prefix (the vendor's
  name search is fuzzy, so owned names are filtered exactly client-side).
- References (``config/v1/query``, 2022 protocol document): a line is
  expired when ``expired`` is 1, else when ``real_expiration_time`` (ms) has
  passed, else when ``time_apply`` + ``time_expire`` (a validity length in
  seconds, -1 = permanent) has; a line with ``status`` 1 is in use by a task
  (a warning for a campaign the plan creates a task for); voices come as
  ``voice_code``/``voice_name`` or ``code``/``name``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.errors import AuthError, OutcomeUnknown, Problem, ProviderError, TransportError, VendorError
from reconciler.model import ContactRow, DesiredCampaign
from reconciler.providers.base import AddResult, CreateResult, Gate, ObservedTask, Phase, TaskDescription
from reconciler.providers.client import Session, VendorClient, as_int, json_list, pages

__all__ = ["CLIENT", "CODES", "PATHS", "PHASES", "XfyetaProvider", "line_expiry"]

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
ALREADY_FINISHED = 3010101

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
LINE_IN_USE = 1  # lines[].status: 0 idle, 1 occupied by a task


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


class XfyetaProvider(VendorClient):
    """The :class:`~reconciler.providers.base.Provider` for ``type: xfyeta`` profiles."""

    def _setup(self) -> Session:
        opts = self.options
        self.separator = str(opts["line_separator"] or ";")
        self.token_ttl = float(opts["token_ttl"] or 3600)
        self.check_references = bool(opts["check_references"])
        fixed = self.credentials.get("token")
        return Session(None if fixed is not None else self._fetch_token, fixed=fixed, clock=self._clock,
                       refresh_margin=float(opts["refresh_margin"]), cannot_renew=self._fixed_token_refused)

    @property
    def token_fetches(self) -> int:
        """How many tokens were fetched so far (for tests and debug output)."""
        return self.logins

    # ------------------------------------------------------------------ token

    def _fixed_token_refused(self, call: str, campaign: str) -> AuthError:
        return AuthError(
            "the token from the environment was refused as invalid or expired; it cannot be refreshed: "
            "set a fresh token, or configure app_key_env and app_secret_env",
            vendor_code=str(INVALID_TOKEN), profile=self.profile.name, call=call, campaign=campaign,
        )

    def _fetch_token(self, call: str, campaign: str) -> tuple[str, float]:
        """POST the token call; the token and its lifetime (``time_expire`` seconds)."""
        body = {"app_key": self.credentials["app_key"].reveal(), "app_secret": self.credentials["app_secret"].reveal()}
        response = self.http.post(TOKEN_CALL, PATHS[TOKEN_CALL], json=body, idempotent=True, campaign=campaign)
        payload = self.http.parse_json(response, TOKEN_CALL, idempotent=True, campaign=campaign)
        code = as_int(payload.get("code"))
        if code != 0:
            raise self._vendor_error(TOKEN_CALL, -1 if code is None else code, payload.get("message"), campaign,
                                     auth=True)
        result = payload.get("result") if isinstance(payload.get("result"), dict) else {}
        token = result.get("token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            raise TransportError("the token answer carries no token", profile=self.profile.name, call=TOKEN_CALL,
                                 campaign=campaign)
        self.http.add_secret(token)
        return token, self._ttl(result.get("time_expire") if isinstance(result, dict) else None)

    def _ttl(self, value: Any) -> float:
        """Lifetime in seconds; tolerate an absolute expiry in epoch seconds or ms."""
        number = as_int(value)
        if number is None or number <= 0:
            return self.token_ttl
        if number > 10**12:  # epoch ms
            return number / 1000 - self._wall()
        if number > 10**9:  # epoch seconds
            return number - self._wall()
        return float(number)

    # ------------------------------------------------------------------ one vendor call

    def _call(self, call: str, body: Mapping[str, Any], *, campaign: str = "", gate: Gate | None = None) -> Any:
        """POST ``call`` with the token; the envelope's ``result``, or a ``ProviderError``."""
        idempotent = call in IDEMPOTENT

        def attempt(token: str) -> Any:
            response = self.http.post(call, PATHS[call], params={"token": token}, json=dict(body),
                                      idempotent=idempotent, campaign=campaign, gate=gate)
            return self.http.parse_json(response, call, idempotent=idempotent, campaign=campaign)

        busy = 0
        while True:
            payload = self.session.send(attempt, lambda p: as_int(p.get("code")) == INVALID_TOKEN, call, campaign)
            code = as_int(payload.get("code"))
            if code == 0:
                return payload.get("result")
            if code is None:
                text = f"the answer has no usable code: {str(payload)[:120]}"
                if idempotent:
                    raise self.http.error(TransportError, text, call, campaign=campaign, retryable=True)
                raise self.http.error(OutcomeUnknown, text + "; the vendor may or may not have applied it", call,
                                      campaign=campaign)
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
        cls: type[VendorError | AuthError] = (
            AuthError if auth or code in (INVALID_TOKEN, 10002, 10003, 200101) else VendorError)
        return cls(self.http.redact(text), vendor_code=str(code), profile=self.profile.name, call=call,
                   campaign=campaign, retryable=code == BUSY)

    # ------------------------------------------------------------------ reading

    def _observe(self, row: Mapping[str, Any]) -> ObservedTask:
        status = as_int(row.get("status"), 0) or 0
        deleted = bool(as_int(row.get("deleted"), 0))
        started_at = as_int(row.get("time_task_start"), 0) or 0
        started = status != 0 or started_at > 0
        if deleted:
            phase = Phase.ABSENT
        elif status in PHASES:
            phase = PHASES[status]
        else:  # an undocumented status: never treat a possibly-dialing task as fresh
            phase = Phase.RUNNING if started else Phase.NOT_STARTED
        raw = dict(row)
        raw["time_range"] = json_list(row.get("time_range"))
        return ObservedTask(
            profile=self.profile.name,
            task_id=str(row.get("task_id", "")),
            name=str(row.get("task_name") or ""),
            phase=phase,
            status=status,
            started=started,
            deleted=deleted,
            contact_count=as_int(row.get("count_tel")),
            called=as_int(row.get("process_tel_count")),
            answered=as_int(row.get("process_through_count")),
            created_at=as_int(row.get("time_create")) or as_int(row.get("time_task_create")),
            raw=raw,
        )

    def _query_all(
        self, body: Mapping[str, Any], keep: Callable[[str], bool], campaign: str = ""
    ) -> list[ObservedTask]:
        """Every page of one ``task/query``, rows whose name passes ``keep`` (deduplicated by id)."""
        def page(index: int) -> tuple[list[dict[str, Any]], int | None]:
            result = self._call("task/query", {**body, "page_size": PAGE_SIZE, "page_index": index},
                                campaign=campaign)
            result = result if isinstance(result, dict) else {}
            return [r for r in result.get("rows") or [] if isinstance(r, dict)], as_int(result.get("total_rows"))

        found: dict[str, ObservedTask] = {}
        for row in pages(page, ahead=self.listing_ahead):
            task = self._observe(row)
            if task.task_id and keep(task.name):
                found.setdefault(task.task_id, task)
        return list(found.values())

    def list_tasks(self) -> list[ObservedTask]:
        body = {"task_name": self.prefix, "sort_name": "CREATETIME", "sort_order": "ASC", "show_remaining": True}
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
        total = as_int(config.get("robotTotal"), len(robots)) or 0
        if total > len(robots):

            def page(index: int) -> tuple[list[dict[str, Any]], int | None]:
                part = self._call("config/query", {"type": 1, "pageSize": ROBOT_PAGE_SIZE, "pageIndex": index})
                part = part if isinstance(part, dict) else {}
                return [r for r in part.get("robots") or [] if isinstance(r, dict)], total

            robots = list(pages(page, ahead=self.listing_ahead))
        config["robots"] = robots
        return config

    def references(self) -> object:
        if not self.check_references:
            return None
        try:
            return self._config()
        except ProviderError as exc:
            return exc

    def check(self, campaigns: Sequence[DesiredCampaign], *,
              creating: Collection[str] | None = None, references: object = None) -> list[Problem]:
        mine = [c for c in campaigns if c.provider == self.profile.name and c.provider_type == self.spec.type]
        if not mine or not self.check_references:
            return []
        if isinstance(references, ProviderError):
            raise references
        config = references if isinstance(references, dict) else self._config()
        robots = {str(r.get("robot_id")): r for r in config.get("robots") or [] if isinstance(r, dict)}
        lines = {str(ln.get("line_num")): ln for ln in config.get("lines") or [] if isinstance(ln, dict)}
        voices = {_voice_code(v) for v in config.get("voices") or [] if isinstance(v, dict)} - {""}
        now_ms = int(self._wall() * 1000)
        problems: list[Problem] = []
        for c in mine:
            def add(field: str, message: str, severity: str = "error", c: DesiredCampaign = c) -> None:
                problems.append(Problem(c.mark.file, c.mark.line, field, f"campaign {c.name!r}: {message}", severity))

            self._check_robot(c, robots, add)
            self._check_lines(c, lines, now_ms, creating is None or c.name in creating, add)
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
        if as_int(robot.get("deleted"), 0):
            add("robot", f"{label} is deleted")
            return
        status = as_int(robot.get("status"))
        if status != 4:
            add("robot", f"{label} is not published (status {status}: {ROBOT_STATUS.get(status or 0, 'unknown')})")
        expected = [str(x) for x in robot.get("call_column") or []]
        actual = list(c.contacts.columns)
        if expected != actual:
            add("contacts.columns", f"columns {actual} differ from {label} call_column {expected}: "
                                    + _column_difference(actual, expected))

    def _check_lines(self, c: DesiredCampaign, lines: Mapping[str, Mapping[str, Any]], now_ms: int,
                     creates: bool, add: Callable[..., None]) -> None:
        for num in c.lines:
            line = lines.get(num)
            if line is None:
                add("lines", f"line {num!r} does not exist on profile {self.profile.name!r}")
                continue
            expired, until = line_expiry(line, now_ms)
            if expired:
                when = f" on {datetime.fromtimestamp(until / 1000, self.tz):%Y-%m-%d %H:%M}" if until else ""
                add("lines", f"line {num!r} expired{when}")
                continue
            if creates and c.mode == "task" and as_int(line.get("status")) == LINE_IN_USE:
                add("lines", f"line {num!r} is in use by a task (status 1); the vendor says a line in use cannot "
                             "be used to create another task, so creating this campaign's task may be refused",
                    "warning")
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

    def _to_ms(self, moment: datetime) -> int:
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
            "time_begin": self._to_ms(sched.begin),
            "recall_count": campaign.recall.count,
            "time_recall_wait": campaign.recall.wait,
            "trubo_mode": bool(campaign.turbo),
        }
        if sched.end is not None:
            body["time_end"] = self._to_ms(sched.end)
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
        total = as_int(result.get("total"), len(ids) if ids else sent)
        accepted = sent if total is None else total
        data_ids: tuple[str | None, ...] = tuple(ids) if len(ids) == accepted else (None,) * accepted
        return AddResult(accepted=accepted, data_ids=data_ids)

    def add_contacts(self, task_id: str, campaign: DesiredCampaign, rows: Sequence[ContactRow], *,
                     gate: Gate | None = None) -> AddResult:
        call_list = self._rows(campaign, rows, self.limits.add_batch, "task/insert")
        if not call_list:
            return AddResult(accepted=0)
        body = {"task_id": str(task_id), "call_column": list(campaign.contacts.columns), "call_list": call_list}
        return self._added(self._call("task/insert", body, campaign=campaign.name, gate=gate), len(call_list))

    def callout(self, campaign: DesiredCampaign, rows: Sequence[ContactRow], *,
                gate: Gate | None = None) -> AddResult:
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
        return self._added(self._call("task/callout", body, campaign=campaign.name, gate=gate), len(call_list))

    def remove_contacts(self, task_id: str, campaign: DesiredCampaign, phones: Sequence[str]) -> None:
        raise ProviderError("xfyeta has no call that removes numbers from a task", profile=self.profile.name,
                            call="task/remove", campaign=campaign.name)

    def start(self, task_id: str, *, gate: Gate | None = None) -> None:
        self._call("task/start", {"task_id": str(task_id)}, gate=gate)

    def pause(self, task_id: str) -> None:
        self._call("task/pause", {"task_id": str(task_id)})

    def delete(self, task_id: str) -> None:
        """Delete; "already deleted" (3010102) is success: a retried or repeated delete is done. So is
        "already finished" (3010101), which a platform may answer for a finished task: it dials nobody, nothing
        is left to do (the listing keeps showing it finished; the diff does not delete it again)."""
        try:
            self._call("task/delete", {"task_id": str(task_id)})
        except VendorError as exc:
            if exc.vendor_code in (str(ALREADY_DELETED), str(ALREADY_FINISHED)) or any(
                    words in exc.detail.lower() for words in ("already deleted", "already finished")):
                return
            raise

    # ------------------------------------------------------------------ export (onboarding)

    def list_all_tasks(self) -> list[ObservedTask]:
        """Every task of the account, owned or not (``campaignctl export`` picks from it)."""
        return self._query_all({"sort_name": "CREATETIME", "sort_order": "ASC"}, lambda name: True)

    def describe_task(self, task: ObservedTask) -> TaskDescription:
        """The task's settings as far as ``task/query`` and the robot's ``call_column`` report them."""
        raw = task.raw
        unknown: list[str] = []
        settings: dict[str, Any] = {}
        robot = str(raw.get("robot_id") or "")
        settings["robot"] = robot
        line_text = str(raw.get("line_num") or "")
        settings["lines"] = [p for p in line_text.replace(",", ";").split(";") if p]
        voice = str(raw.get("voice_code") or "")
        if voice:
            settings["voice"] = {"code": voice}
        schedule: dict[str, Any] = {}
        begin = as_int(raw.get("time_task_estimate_begin"), 0) or 0
        if begin > 0:
            schedule["begin"] = datetime.fromtimestamp(begin / 1000, self.tz).isoformat()
        else:
            created = task.created_at or int(self._wall() * 1000)
            schedule["begin"] = datetime.fromtimestamp(created / 1000, self.tz).isoformat()
            unknown.append("schedule.begin (not reported; the task's creation time was written)")
        end = as_int(raw.get("time_task_estimate_end"), 0) or 0
        if end > 0:
            schedule["end"] = datetime.fromtimestamp(end / 1000, self.tz).isoformat()
        windows = [str(w) for w in json_list(raw.get("time_range")) if isinstance(w, str)]
        if windows:
            schedule["windows"] = [_short_window(w) for w in windows]
        settings["schedule"] = schedule
        settings["recall"] = {"count": as_int(raw.get("count_max_recall"), 0) or 0,
                              "wait": as_int(raw.get("time_recall_wait"), 0) or 0}
        if "trubo_mode" in raw:
            settings["turbo"] = bool(raw.get("trubo_mode"))
        else:
            settings["turbo"] = False
            unknown.append("turbo (not reported; false assumed)")
        columns: list[str] = []
        try:
            config = self._config()
        except ProviderError:
            config = {}
        for r in config.get("robots") or []:
            if isinstance(r, dict) and str(r.get("robot_id")) == robot:
                columns = [str(c) for c in r.get("call_column") or []]
        if not columns:
            columns = ["phone"]
            unknown.append(f"contacts.columns (robot {robot!r} not found in config/query; [phone] written)")
        settings["columns"] = columns
        settings["phone_column"] = columns[0]
        return TaskDescription(settings, tuple(unknown))


CLIENT = XfyetaProvider


def line_expiry(line: Mapping[str, Any], now_ms: int) -> tuple[bool, int | None]:
    """Whether a ``config/v1/query`` line has expired, and when it does (ms epoch, None when unknown).

    As the 2022 document has it: ``expired`` 0/1 is the platform's verdict and
    ``real_expiration_time`` (ms) the absolute expiry; either one saying so is
    enough. Without both, ``time_apply`` (ms) + ``time_expire`` (a validity
    length in seconds, -1 = permanent). A line that says nothing is not taken
    as expired.
    """
    real = as_int(line.get("real_expiration_time"))
    until = real if real is not None and real > 0 else None
    flag = as_int(line.get("expired"))
    if flag is not None or until is not None:
        return flag == 1 or (until is not None and until <= now_ms), until
    length = as_int(line.get("time_expire"))
    applied = as_int(line.get("time_apply"))
    if length is None or length < 0 or not applied:
        return False, None
    until = applied + length * 1000
    return until <= now_ms, until


def _voice_code(voice: Mapping[str, Any]) -> str:
    """A voice's code: ``voice_code`` as the document spells it, or ``code`` as some deployments do."""
    for key in ("voice_code", "code"):
        value = voice.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def _short_window(window: str) -> str:
    """``09:00:00-12:00:00`` as ``09:00-12:00`` when the seconds are zero (the files' usual spelling)."""
    parts = window.split("-")
    if len(parts) == 2 and all(p.endswith(":00") and p.count(":") == 2 for p in parts):
        return "-".join(p[:-3] for p in parts)
    return window


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
