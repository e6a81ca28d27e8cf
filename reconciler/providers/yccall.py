"""Yccall (SIP call-center predictive dialer) provider.

Every call is one form POST to the profile's ``base_url`` with the field
``service = App.<Module>.<Action>`` (``body_encoding``: ``form`` urlencoded, or
``multipart``), through the shared :class:`~reconciler.providers.http.HttpTransport`.
The answer is the envelope ``{ret, data: {status, desc, result, errors: {code,
codemsg}}, msg}``: ``ret`` 200 with ``data.status`` 0 is success; anything else
becomes one :class:`VendorError` (``vendor_code`` = ``errors.code``, else ``ret``)
naming the profile, the service and the campaign.

Token: ``App.Sip_Auth.Login`` with appid/accesskey, cached for the run (shared
by threads, :class:`~reconciler.providers.client.Session`); ``ret`` 600 (token
invalid) and ``errors.code`` 1010 (extension changed: "log in again") log in
again and resend that call once — safe even for TaskCreat/TaskAdd, since both
mean the vendor refused the call before acting. The accesskey and every token
are registered as secrets.

Identity: a task carries ``taskname`` = :meth:`task_name` and ``customtaskid`` =
:meth:`custom_task_id` (the vendor spec's rule, ``reconciler.vendors.yccall``).
The vendor does not document customtaskid uniqueness, so a create whose answer
was lost is resolved by :meth:`find_task` (TaskList filtered by customtaskid,
then by taskname, exact match checked here, newest first) before anything is
sent again. The documented TaskList rows carry no ``customtaskid``, ``total``,
``called`` or ``answered``: without them a task is owned and found by its
name, and its number count comes from TaskInfo.

An unknown ``taskid`` is ``errors.code`` 1024 ("task does not exist"): a
lookup answers None, and a delete (TaskSet 3) of such a task is done.

Mapping of the vendor's open points to profile options (never guessed here):
``assign_types`` (assigntype codes), ``status_map`` (TaskList status -> phase;
an unmapped code is an error naming the option), ``body_encoding``,
``page_size``, ``max_numbers_per_call`` (per create/append call; no per-task
total is assumed), ``phone_as_number`` (phone as JSON number; numbers with a
leading 0 stay strings), ``customtaskid_prefix``, ``timezone`` (vendor local
time of ``yyyy-mm-dd hh:mm:ss`` fields), ``check_references`` (lookup services).
TaskList ``taskname`` filtering may be fuzzy, so listings are filtered here.

``telphone`` entries carry ``phone``, ``customuuid`` = :meth:`customuuid` (a
stable digest of campaign and phone, returned as the row's data id: the call
record callbacks carry it back, which is how results join their contact row;
a campaign column named ``customuuid`` is not sent), plus the contact columns
named ``userid``, ``memberid`` and ``ext`` when the campaign has them (TaskAdd
spells ``ext`` as ``chengshudu``, as its page does). ``invaliddata`` elements are
matched to rows by their ``phone`` (an element that is a bare value is taken as
the phone); the reason is the element's ``reason``/``msg``/``desc`` text.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.errors import AuthError, OutcomeUnknown, Problem, ProviderError, TransportError, VendorError
from reconciler.model import ContactRow, DesiredCampaign, digest
from reconciler.providers.base import AddResult, CreateResult, Gate, ObservedTask, Phase, TaskDescription
from reconciler.providers.client import Session, VendorClient, as_int, first_int, pages, snippet
from reconciler.vendors.yccall import COLUMNS, CUSTOMTASKID_MAX, YccallSettings, custom_task_id

__all__ = ["CLIENT", "CUSTOMTASKID_MAX", "SERVICES", "YccallProvider"]

log = logging.getLogger("reconciler.providers.yccall")

LOGIN = "App.Sip_Auth.Login"
CREATE = "App.Sip_Yccall.TaskCreat"
ADD = "App.Sip_Yccall.TaskAdd"
DEL_PHONE = "App.Sip_Yccall.taskDelPhone"
TASK_SET = "App.Sip_Yccall.TaskSet"
TASK_LIST = "App.Sip_Yccall.TaskList"
TASK_INFO = "App.Sip_Yccall.TaskInfo"
SIPNUMBERS = "App.Sip_Sipnum.GetSipnumberInfo"
QUEUES = "App.Sip_Queue.GetQueueList"
DISNUMBERS = "App.Sip_Disnum.GetDisnumberInfo"
SERVICES = (LOGIN, CREATE, ADD, DEL_PHONE, TASK_SET, TASK_LIST, TASK_INFO, SIPNUMBERS, QUEUES, DISNUMBERS)

TOKEN_INVALID = 600
EXTENSION_CHANGED = "1010"  # errors.code: the extension changed, log in again
TASK_ABSENT = "1024"  # errors.code: the task does not exist
AUTH_RETS = frozenset({600, 601, 602, 603, 604})
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

class YccallProvider(VendorClient):
    """The :class:`~reconciler.providers.base.Provider` for one yccall profile."""

    def _setup(self) -> Session:
        opts = self.options
        self._encoding = str(opts["body_encoding"])
        if self._encoding not in ("form", "multipart"):
            raise ProviderError(f"body_encoding must be 'form' or 'multipart', not {self._encoding!r}",
                                profile=self.profile.name)
        self._assign_types = {str(k): int(v) for k, v in dict(opts["assign_types"]).items()}
        self._status_map = {int(k): Phase(str(v)) for k, v in dict(opts["status_map"]).items()}
        self._not_started = {code for code, phase in self._status_map.items() if phase is Phase.NOT_STARTED}
        self._page_size = self.limits.list_page
        self._max_numbers = self.limits.add_batch
        self._phone_as_number = bool(opts["phone_as_number"])
        self._number_time = str(opts["number_time"])
        self._check_references = bool(opts["check_references"])
        self._cprefix = str(opts["customtaskid_prefix"])
        self._lookups: dict[str, set[str] | str] = {}
        self._lookups_lock = threading.Lock()
        return Session(self._login, clock=self._clock)

    # ------------------------------------------------------------------ identity
    def custom_task_id(self, campaign: str, wave: int) -> str:
        """Stable ``customtaskid`` for a campaign's wave, at most :data:`CUSTOMTASKID_MAX` characters."""
        return custom_task_id(self._cprefix, campaign, wave)

    @staticmethod
    def customuuid(campaign: str, phone: str) -> str:
        """The ``customuuid`` campaignctl sets on a number: 32 hex digits, stable per campaign and phone."""
        return digest(f"{campaign}\x1f{phone}", 16)

    def owns(self, task: ObservedTask) -> bool:
        if task.custom_id:
            return task.custom_id.startswith(self._cprefix)
        return task.name.startswith(self.prefix)

    # ------------------------------------------------------------------ transport
    def _post(self, service: str, fields: Mapping[str, str], *, idempotent: bool, campaign: str,
              gate: Gate | None = None) -> dict[str, Any]:
        form = {"service": service, **fields}
        if self._encoding == "multipart":
            response = self.http.post(service, "/", files={k: (None, v) for k, v in form.items()},
                                       idempotent=idempotent, campaign=campaign, gate=gate)
        else:
            response = self.http.post(service, "/", data=form, idempotent=idempotent, campaign=campaign, gate=gate)
        payload: dict[str, Any] = self.http.parse_json(response, service, idempotent=idempotent, campaign=campaign)
        return payload

    def _login(self, call: str, campaign: str) -> tuple[str, None]:
        """``App.Sip_Auth.Login``; the token (valid until the vendor refuses it)."""
        appid, accesskey = (self.credentials[role].reveal() for role in ("appid", "accesskey"))
        payload = self._post(LOGIN, {"appid": appid, "accesskey": accesskey}, idempotent=True, campaign=campaign)
        ret = payload.get("ret")
        data = payload.get("data")
        if ret != 200 or not isinstance(data, dict) or data.get("status") != 0:
            code, message = _failure(payload)
            raise self.http.error(AuthError, f"login refused: {message}", LOGIN, campaign=campaign,
                                  vendor_code=code)
        result = data.get("result")
        token = result.get("token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            raise self.http.error(TransportError, "login answer carries no token", LOGIN, campaign=campaign)
        self.http.add_secret(token)
        log.debug("%s: logged in", self.profile.name)
        return token, None

    def _call(self, service: str, fields: Mapping[str, str], *, idempotent: bool, campaign: str = "",
              gate: Gate | None = None) -> Any:
        """Send one service call with the token; a refused token (600, 1010) -> log in again, resend once."""

        def attempt(token: str) -> dict[str, Any]:
            return self._post(service, {**fields, "token": token}, idempotent=idempotent, campaign=campaign,
                              gate=gate)

        def refused(payload: dict[str, Any]) -> bool:
            if payload.get("ret") == TOKEN_INVALID or _failure(payload)[0] == EXTENSION_CHANGED:
                log.debug("%s %s: token refused (%s); logging in again", self.profile.name, service,
                          _failure(payload)[0])
                return True
            return False

        payload = self.session.send(attempt, refused, service, campaign)
        return self._unwrap(service, payload, idempotent=idempotent, campaign=campaign)

    def _unwrap(self, service: str, payload: Mapping[str, Any], *, idempotent: bool, campaign: str) -> Any:
        """``data.result`` of a successful envelope, else the matching ProviderError."""
        ret = payload.get("ret")
        data = payload.get("data")
        if isinstance(ret, bool) or not isinstance(ret, int):
            message = f"the answer is not a vendor envelope (no integer 'ret'): {snippet(payload)}"
            if idempotent:
                raise self.http.error(TransportError, message, service, campaign=campaign, retryable=True)
            raise self.http.error(OutcomeUnknown, f"{message}; the vendor may or may not have applied it",
                                   service, campaign=campaign)
        if ret == 200 and isinstance(data, dict) and data.get("status") == 0:
            return data.get("result")
        code, message = _failure(payload)
        if ret in AUTH_RETS or code == EXTENSION_CHANGED:  # still refused after a new login
            raise self.http.error(AuthError, message, service, campaign=campaign, vendor_code=code)
        if ret == 500 and not idempotent:
            raise self.http.error(OutcomeUnknown, f"vendor server error 500 ({message}); the vendor may or may "
                                   "not have applied it (not re-sent)", service, campaign=campaign)
        if ret == 200 and not isinstance(data, dict):
            if idempotent:
                raise self.http.error(TransportError, f"the answer has no data object: {snippet(payload)}",
                                       service, campaign=campaign, retryable=True)
            raise self.http.error(OutcomeUnknown, f"the answer has no data object: {snippet(payload)}; the "
                                   "vendor may or may not have applied it", service, campaign=campaign)
        raise self.http.error(VendorError, message, service, campaign=campaign, vendor_code=code,
                               retryable=ret == 500)

    # ------------------------------------------------------------------ observe
    def _phase(self, status: int, service: str) -> Phase:
        phase = self._status_map.get(status)
        if phase is None:
            raise self.http.error(
                TransportError,
                f"the vendor reports task status {status}, which the profile's status_map does not map "
                f"(known: {sorted(self._status_map)}); add it to providers.{self.profile.name}.status_map",
                service,
            )
        return phase

    def _observed(self, row: Mapping[str, Any]) -> ObservedTask:
        status = as_int(row.get("status"))
        if status is None:
            raise self.http.error(TransportError, f"TaskList row without an integer status: {snippet(row)}",
                                   TASK_LIST)
        phase = self._phase(status, TASK_LIST)
        called = as_int(row.get("called"))
        custom = row.get("customtaskid")
        return ObservedTask(
            profile=self.profile.name,
            task_id=str(row.get("taskid", "")),
            name=str(row.get("taskname") or ""),
            phase=phase,
            status=status,
            started=status not in self._not_started or bool(called),
            custom_id=str(custom) if custom not in (None, "") else None,
            contact_count=first_int(row, ("total", "totalnum", "total_numbers")),
            called=called,
            answered=as_int(row.get("answered")),
            created_at=self._from_vendor_time(row.get("createtime")),
            raw=dict(row),
        )

    def _from_vendor_time(self, value: Any) -> int | None:
        """A ``yyyy-mm-dd hh:mm:ss`` vendor-local time as ms epoch (None when absent or unreadable)."""
        if not isinstance(value, str) or not value:
            return None
        try:
            return int(datetime.strptime(value, TIME_FORMAT).replace(tzinfo=self.tz).timestamp() * 1000)
        except ValueError:
            return None

    def _list_page(self, filters: Mapping[str, str], page: int, campaign: str = "") -> tuple[list[Any], int]:
        fields = {**filters, "currentpage": str(page), "itemsperpage": str(self._page_size)}
        result = self._call(TASK_LIST, fields, idempotent=True, campaign=campaign)
        if not isinstance(result, dict):
            raise self.http.error(TransportError, f"TaskList result is not an object: {snippet(result)}",
                                   TASK_LIST, campaign=campaign)
        rows = result.get("task") or []
        if not isinstance(rows, list):
            raise self.http.error(TransportError, "TaskList 'task' is not a list", TASK_LIST, campaign=campaign)
        total = as_int(result.get("totalitems"))
        return [r for r in rows if isinstance(r, dict)], (len(rows) if total is None else total)

    def _list(self, filters: Mapping[str, str], campaign: str = "") -> list[ObservedTask]:
        seen: dict[str, ObservedTask] = {}
        for row in pages(lambda page: self._list_page(filters, page, campaign), ahead=self.listing_ahead):
            task = self._observed(row)
            seen.setdefault(task.task_id, task)  # pages can shift while tasks are created
        return list(seen.values())

    def list_tasks(self) -> list[ObservedTask]:
        return [t for t in self._list({}) if self.owns(t)]

    def find_task(self, campaign: str, wave: int) -> ObservedTask | None:
        """By ``customtaskid``, then by exact name: documented TaskList rows do not echo the customtaskid."""
        custom_id = self.custom_task_id(campaign, wave)
        name = self.task_name(campaign, wave)

        def mine(t: ObservedTask) -> bool:
            return t.custom_id == custom_id or (t.custom_id is None and t.name == name)

        found = [t for t in self._list({"customtaskid": custom_id}, campaign) if mine(t)]
        if not found:
            found = [t for t in self._list({"taskname": name}, campaign) if mine(t)]
        if not found:
            return None
        found.sort(key=lambda t: (t.created_at or 0, t.task_id), reverse=True)
        return found[0]

    def get_task(self, task_id: str) -> ObservedTask | None:
        try:
            rows, total = self._list_page({"taskid": task_id}, 1)
        except VendorError as exc:
            if exc.vendor_code == TASK_ABSENT:
                return None
            raise
        for row in rows:
            if str(row.get("taskid")) == task_id:
                return self._observed(row)
        if total > len(rows):  # the deployment ignored the taskid filter: look through every page
            return next((t for t in self._list({"taskid": task_id}) if t.task_id == task_id), None)
        return None

    def count_contacts(self, task_id: str) -> int:
        result = self._call(TASK_INFO, {"taskid": task_id, "currentpage": "1", "itemsperpage": "1"},
                            idempotent=True)
        total = as_int(result.get("totalitems")) if isinstance(result, dict) else None
        if total is None:
            raise self.http.error(TransportError, f"TaskInfo answer has no totalitems: {snippet(result)}",
                                   TASK_INFO)
        return total

    # ------------------------------------------------------------------ references
    def _lookup(self, service: str, fields: Mapping[str, str], key: str) -> set[str] | str:
        """Names a lookup service reports, or the reason it could not be asked (cached per run)."""
        with self._lookups_lock:
            return self._lookup_locked(service, fields, key)

    def _lookup_locked(self, service: str, fields: Mapping[str, str], key: str) -> set[str] | str:
        if service not in self._lookups:
            try:
                result = self._call(service, fields, idempotent=True)
            except VendorError as exc:
                self._lookups[service] = exc.detail
            else:
                items = result if isinstance(result, list) else []
                self._lookups[service] = {str(i[key]) for i in items if isinstance(i, dict) and key in i}
        return self._lookups[service]

    def references(self) -> object:
        """None: which lookups ``check`` makes depends on the campaigns' assignments."""
        return None

    def check(self, campaigns: Sequence[DesiredCampaign], *,
              creating: Collection[str] | None = None, references: object = None) -> list[Problem]:
        problems: list[Problem] = []
        mine = [(c, c.vendor) for c in campaigns
                if c.provider == self.profile.name and isinstance(c.vendor, YccallSettings)]
        for c, y in mine:
            if y.assign_type not in self._assign_types:
                problems.append(Problem(c.mark.file, c.mark.line, "yccall.assign.type",
                                        f"profile {self.profile.name!r} has no assign_types code for "
                                        f"{y.assign_type!r}"))
        if not self._check_references:
            return problems
        for c, y in mine:
            agents = [a.strip() for a in y.agent.split(",") if a.strip()]
            checks: list[tuple[str, str, Mapping[str, str], str, list[str], str]] = []
            if y.assign_type == "extension":
                checks.append(("yccall.assign.agent", SIPNUMBERS, {}, "extnumber", agents, "extension"))
            elif y.assign_type == "queue":
                checks.append(("yccall.assign.agent", QUEUES, {}, "queuename", agents, "queue"))
            # groups: the vendor offers no lookup service for extension groups
            if y.caller_numbers:
                checks.append(("yccall.caller_numbers", DISNUMBERS, {"autocall": "2"}, "disnumber",
                               list(y.caller_numbers), "caller number"))
            for field, service, fields, key, wanted, what in checks:
                known = self._lookup(service, fields, key)
                if isinstance(known, str):
                    problems.append(Problem(c.mark.file, c.mark.line, field,
                                            f"cannot check the {what}s: {service} failed ({known}); set "
                                            f"check_references: false on profile {self.profile.name!r} if the "
                                            "platform lacks this service", severity="warning"))
                    continue
                for value in wanted:
                    if value not in known:
                        listed = ", ".join(sorted(known)) or "none"
                        problems.append(Problem(c.mark.file, c.mark.line, field,
                                                f"{what} {value!r} does not exist on profile {self.profile.name!r} "
                                                f"(known: {listed})"))
        return problems

    # ------------------------------------------------------------------ mutate
    def _entries(self, campaign: DesiredCampaign, rows: Sequence[ContactRow], ext_key: str) -> str:
        columns = campaign.contacts.columns
        extras = [(name, columns.index(name)) for name in COLUMNS if name in columns and name != "customuuid"]
        if "ext" not in columns and "chengshudu" in columns:
            extras.append(("ext", columns.index("chengshudu")))
        when = {"begin": campaign.schedule.begin, "end": campaign.schedule.end}.get(self._number_time)
        at = int(when.timestamp()) if when is not None else None  # epoch seconds (number_time)
        entries: list[dict[str, Any]] = []
        for row in rows:
            phone: str | int = row.phone
            if self._phone_as_number and row.phone.isdigit() and not row.phone.startswith("0"):
                phone = int(row.phone)
            entry: dict[str, Any] = {"phone": phone, "customuuid": self.customuuid(campaign.name, row.phone)}
            if at is not None:
                entry["time"] = at
            for name, index in extras:
                value = row.values[index] if index < len(row.values) else ""
                if value != "":
                    entry[ext_key if name == "ext" else name] = value
            entries.append(entry)
        return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))

    def _check_batch(self, call: str, rows: Sequence[ContactRow], campaign: str) -> None:
        if len(rows) > self._max_numbers:
            raise ProviderError(f"{len(rows)} numbers in one call; the vendor takes at most {self._max_numbers} "
                                "(max_numbers_per_call): send the rest with TaskAdd",
                                profile=self.profile.name, call=call, campaign=campaign)

    def _added(self, campaign: str, rows: Sequence[ContactRow], result: Any, accepted_key: str | None) -> AddResult:
        invalid_raw = result.get("invaliddata") if isinstance(result, dict) else None
        invalid_items = invalid_raw if isinstance(invalid_raw, list) else []
        by_phone: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            by_phone.setdefault(row.phone, []).append(index)
        invalid: list[tuple[int, str]] = []
        for item in invalid_items:
            phone, reason = _invalid_item(item)
            indexes = by_phone.get(phone)
            if indexes:  # a repeated phone: the vendor keeps the first, so the last ones are the refused
                invalid.append((indexes.pop(), reason))
        invalid.sort()
        accepted = len(rows) - len(invalid)
        if accepted_key is not None and isinstance(result, dict):
            reported = as_int(result.get(accepted_key))
            if reported is not None:
                accepted = reported
        accepted = max(0, accepted)
        refused = {i for i, _ in invalid}
        ids = tuple(self.customuuid(campaign, row.phone) for i, row in enumerate(rows) if i not in refused)
        return AddResult(accepted=accepted, data_ids=ids, invalid=tuple(invalid))

    def _vendor_time(self, value: datetime) -> str:
        return value.astimezone(self.tz).strftime(TIME_FORMAT)

    def create_task(
        self, campaign: DesiredCampaign, wave: int, rows: Sequence[ContactRow] = ()
    ) -> CreateResult:
        y = campaign.vendor
        if not isinstance(y, YccallSettings):
            raise ProviderError("the campaign has no yccall block (assign, scale)", profile=self.profile.name,
                                call=CREATE, campaign=campaign.name)
        if not rows:
            raise ProviderError("TaskCreat needs at least one number", profile=self.profile.name, call=CREATE,
                                campaign=campaign.name)
        self._check_batch(CREATE, rows, campaign.name)
        if y.assign_type not in self._assign_types:
            raise ProviderError(f"profile has no assign_types code for {y.assign_type!r}",
                                profile=self.profile.name, call=CREATE, campaign=campaign.name)
        fields: dict[str, str] = {
            "assigntype": str(self._assign_types[y.assign_type]),
            "assignagent": y.agent,
            "telphone": self._entries(campaign, rows, "ext"),
            "taskscale": y.scale,
            "status": "0",  # the engine starts tasks with TaskSet: create and start stay separate steps
            "taskname": self.task_name(campaign.name, wave),
            "customtaskid": self.custom_task_id(campaign.name, wave),
        }
        if y.scale_mode:
            fields["isscale"] = y.scale_mode
        if y.concurrency is not None:
            fields["concurrent"] = str(y.concurrency)
        if y.caller_numbers:
            fields["disnumber"] = ",".join(y.caller_numbers)
        if campaign.schedule.begin is not None:
            fields["scheduledtime"] = self._vendor_time(campaign.schedule.begin)
        if campaign.schedule.end is not None:
            fields["pausedtime"] = self._vendor_time(campaign.schedule.end)
        recall = campaign.recall
        if recall.count > 0:
            fields.update({
                "is_multi_call": "1",
                "multi_call_type": "1" if recall.mode == "all" else "2",
                "multi_call_max_rounds": str(recall.count),
                "multi_call_interval": str(recall.wait),
            })
        else:
            fields["is_multi_call"] = "0"
        result = self._call(CREATE, fields, idempotent=False, campaign=campaign.name)
        task_id = result.get("taskid") if isinstance(result, dict) else None
        if task_id in (None, ""):
            raise self.http.error(OutcomeUnknown, f"TaskCreat succeeded without a taskid: {snippet(result)}; "
                                   "look the task up by customtaskid", CREATE, campaign=campaign.name)
        return CreateResult(task_id=str(task_id), added=self._added(campaign.name, rows, result, None))

    def add_contacts(self, task_id: str, campaign: DesiredCampaign, rows: Sequence[ContactRow], *,
                     gate: Gate | None = None) -> AddResult:
        if not rows:
            return AddResult(accepted=0)
        self._check_batch(ADD, rows, campaign.name)
        fields = {"taskid": task_id, "telphone": self._entries(campaign, rows, "chengshudu")}
        result = self._call(ADD, fields, idempotent=False, campaign=campaign.name, gate=gate)
        return self._added(campaign.name, rows, result, "success")

    def remove_contacts(self, task_id: str, campaign: DesiredCampaign, phones: Sequence[str]) -> None:
        for start in range(0, len(phones), self._max_numbers):
            chunk = phones[start : start + self._max_numbers]
            self._call(DEL_PHONE, {"taskid": task_id, "telphone": ",".join(chunk)}, idempotent=True,
                       campaign=campaign.name)

    def _set(self, task_id: str, action: int, gate: Gate | None = None) -> None:
        self._call(TASK_SET, {"taskid": task_id, "taskstatus": str(action)}, idempotent=True, gate=gate)

    def start(self, task_id: str, *, gate: Gate | None = None) -> None:
        self._set(task_id, 1, gate)

    def pause(self, task_id: str) -> None:
        self._set(task_id, 2)

    def delete(self, task_id: str) -> None:
        """TaskSet 3 (end); a task that has already ended, or does not exist (1024), counts as deleted."""
        try:
            self._set(task_id, 3)
        except VendorError as exc:
            if exc.vendor_code == TASK_ABSENT:
                return
            task = self.get_task(task_id)
            if task is not None and task.phase is Phase.FINISHED:
                return
            raise

    def callout(self, campaign: DesiredCampaign, rows: Sequence[ContactRow], *,
                gate: Gate | None = None) -> AddResult:
        raise ProviderError("yccall has no direct callout (mode: direct is xfyeta only)",
                            profile=self.profile.name, call="callout", campaign=campaign.name)



    # ------------------------------------------------------------------ export (onboarding)

    def list_all_tasks(self) -> list[ObservedTask]:
        """Every task of the account, owned or not (``campaignctl export`` picks from it)."""
        return self._list({})

    def describe_task(self, task: ObservedTask) -> TaskDescription:
        """The task's settings as far as ``TaskList`` reports them."""
        raw = task.raw
        unknown: list[str] = []
        kinds = {code: kind for kind, code in self._assign_types.items()}
        assign_code = as_int(raw.get("assigntype"))
        kind = kinds.get(assign_code) if assign_code is not None else None
        if kind is None:
            kind = "extension"
            unknown.append(f"yccall.assign.type (assigntype {raw.get('assigntype')!r} is not in assign_types; "
                           "extension written)")
        block: dict[str, Any] = {"assign": {"type": kind, "agent": str(raw.get("taskassign") or "")}}
        block["scale"] = str(raw.get("taskscale") or "1:1")
        if raw.get("isscale") in ("auto", "manual"):
            block["scale_mode"] = raw["isscale"]
        concurrent = as_int(raw.get("concurrent"))
        if concurrent is not None and concurrent > 0:
            block["concurrency"] = concurrent
        callers = [p for p in str(raw.get("disnumber") or "").split(",") if p]
        if callers:
            block["caller_numbers"] = callers
        settings: dict[str, Any] = {"yccall": block}
        schedule: dict[str, Any] = {}
        for key, field_name in (("begin", "scheduledtime"), ("end", "pausedtime")):
            ms = self._from_vendor_time(raw.get(field_name))
            if ms:
                schedule[key] = datetime.fromtimestamp(ms / 1000, self.tz).isoformat()
        if schedule:
            settings["schedule"] = schedule
        if as_int(raw.get("is_multi_call")):
            settings["recall"] = {"count": as_int(raw.get("multi_call_max_rounds")) or 0,
                                  "wait": as_int(raw.get("multi_call_interval")) or 0,
                                  "mode": "all" if str(raw.get("multi_call_type")) == "1" else "unanswered"}
        elif "is_multi_call" not in raw:
            unknown.append("recall (not reported; none written)")
        settings["columns"] = ["phone"]
        settings["phone_column"] = "phone"
        unknown.append("contacts.columns (TaskList does not report the optional columns; [phone] written)")
        return TaskDescription(settings, tuple(unknown))


# ---------------------------------------------------------------------- helpers
def _failure(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(vendor code, readable message) of a failed envelope."""
    ret = payload.get("ret")
    data = payload.get("data")
    errors = data.get("errors") if isinstance(data, dict) else None
    code = ""
    codemsg = ""
    if isinstance(errors, dict):
        code = str(errors.get("code") or "")
        codemsg = str(errors.get("codemsg") or "")
    desc = str(data.get("desc") or "") if isinstance(data, dict) else ""
    msg = str(payload.get("msg") or "")
    parts = [p for p in (desc, codemsg, msg) if p]
    message = "; ".join(dict.fromkeys(parts)) or f"ret {ret}"
    return (code or str(ret)), message


def _invalid_item(item: Any) -> tuple[str, str]:
    if isinstance(item, dict):
        phone = item.get("phone", item.get("telphone", ""))
        reason = item.get("reason") or item.get("msg") or item.get("desc") or "refused by the vendor"
        return str(phone).strip(), str(reason)
    return str(item).strip(), "refused by the vendor"


CLIENT = YccallProvider
