"""Reading the vendors' result pushes: one body in, one :class:`ResultRecord` out.

Only vendor knowledge lives here: which modules exist, which field is a
push's identity (its idempotency key), which fields are the join hints the
state store matches against contact rows (``results/NOTES.md``). Nothing is
stored or logged here; a body that cannot be read raises :class:`BadPush`,
whose message never quotes a value from the body (bodies carry phone
numbers).

- xfyeta ``receiveCallRecord``: key ``<call_uuid>#basic`` or
  ``<call_uuid>#outbound`` (the platform may push the basic record and the
  outbound one, which carries ``task_row_index``, in any order: both are kept,
  each once); hints ``task_id``, ``task_data_id`` (string or number), ``callee``.
- xfyeta ``receiveDialog`` / ``receiveVoice``: key ``<call_uuid>``; they join
  through their call (``call_uuid``) or their own ``task_data_id``.
- yccall ``callrecord``: key the call ``uuid`` (else the record ``id``, else
  ``taskid/customuuid/round``); hints ``taskid``, ``customuuid`` (the data id
  campaignctl set per number), ``destnumber``.
- yccall ``taskstatus``: key ``<taskid>/<status>/<endtype>``; joins the campaign.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from reconciler.config.phones import normalize_phone
from reconciler.model import canonical_json, digest
from reconciler.state.base import ResultRecord

__all__ = ["MODULES", "BadPush", "parse_push"]

MODULES: Mapping[str, tuple[str, ...]] = {
    "xfyeta": ("receiveCallRecord", "receiveDialog", "receiveVoice"),
    "yccall": ("callrecord", "taskstatus"),
}
MAX_FIELD = 200  # characters of an identifier field; longer is not an id


class BadPush(ValueError):
    """A push body campaignctl cannot read; the message names fields, never values."""


def _text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """An identifier field as text: strings and integers (ids come as both); None/absent is ""."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadPush(f"field {name!r} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadPush(f"field {name!r} must be a string or an integer")
    text = str(value).strip()
    if len(text) > MAX_FIELD or "\x00" in text:
        raise BadPush(f"field {name!r} is not an identifier")
    if required and not text:
        raise BadPush(f"field {name!r} is required")
    return text


def _number(body: Mapping[str, Any], name: str) -> None:
    """Check an optional numeric field (integer, numeric string, empty or null)."""
    value = body.get(name)
    if value is None or value == "":
        return
    if isinstance(value, bool):
        raise BadPush(f"field {name!r} must be a number")
    if isinstance(value, int | float):
        return
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return
    raise BadPush(f"field {name!r} must be a number")


def _callee(body: Mapping[str, Any], *names: str) -> str:
    for name in names:
        raw = _text(body, name)
        if raw:
            return normalize_phone(raw) or raw
    return ""


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPush("the body is not UTF-8") from None
    if "x-www-form-urlencoded" in content_type.lower() and not text.lstrip().startswith(("{", "[")):
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "data" in form and len(form) == 1:  # some deployments wrap the JSON in one form field
            text = form["data"]
        else:
            return form
    try:
        value = json.loads(text)
    except ValueError:
        raise BadPush("the body is not JSON") from None
    if isinstance(value, dict) and set(value) >= {"data", "module"} and isinstance(value["data"], dict):
        value = value["data"]  # the vendor's failed-push file wraps each push as {data, module, ...}
    if not isinstance(value, dict):
        raise BadPush("the body is not a JSON object")
    return value


def parse_push(vendor: str, profile: str, module: str, raw: bytes, content_type: str = "") -> ResultRecord:
    """The record of one push of ``module`` to ``profile`` (a ``vendor`` profile); raises BadPush."""
    modules = MODULES.get(vendor)
    if modules is None:
        raise BadPush(f"profile {profile!r} is of type {vendor!r}, which pushes no results")
    if module not in modules:
        raise BadPush(f"unknown push module {module!r} for {vendor} (known: {', '.join(modules)})")
    body = _decode(raw, content_type)
    if vendor == "xfyeta":
        return _xfyeta(profile, module, body)
    return _yccall(profile, module, body)


def _xfyeta(profile: str, module: str, body: dict[str, Any]) -> ResultRecord:
    uuid = _text(body, "call_uuid", required=True)
    task_id = _text(body, "task_id")
    data_id = _text(body, "task_data_id")
    for name in ("direction", "time_dial", "time_ring", "time_answer", "time_hangup", "duration_ring",
                 "duration_call", "task_tries", "task_row_index", "size", "duration", "time_begin", "time_end"):
        _number(body, name)
    _text(body, "task_result")
    if task_id == "0":  # the vendor's example of an inbound call: no task
        task_id = ""
    if module == "receiveCallRecord":
        variant = "outbound" if body.get("task_row_index") not in (None, "") else "basic"
        for name in ("task_row_head", "task_row_value"):
            if body.get(name) is not None and not isinstance(body[name], list):
                raise BadPush(f"field {name!r} must be an array")
        return ResultRecord(profile, module, f"{uuid}#{variant}", uuid, task_id, data_id,
                            _callee(body, "callee"), body)
    if module == "receiveDialog":
        dialog = body.get("dialog")
        if not isinstance(dialog, list) or not all(isinstance(d, dict) for d in dialog):
            raise BadPush("field 'dialog' must be an array of objects")
        return ResultRecord(profile, module, uuid, uuid, task_id, data_id, "", body)
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise BadPush("field 'url' is required")
    return ResultRecord(profile, module, uuid, uuid, task_id, data_id, "", body)


def _yccall(profile: str, module: str, body: dict[str, Any]) -> ResultRecord:
    task_id = _text(body, "taskid")
    if module == "taskstatus":
        task_id = _text(body, "taskid", required=True)
        status = _text(body, "status", required=True)
        endtype = _text(body, "endtype")
        return ResultRecord(profile, module, f"{task_id}/{status}/{endtype}", "", task_id, "", "", body)
    for name in ("duration", "billsec", "hangupcause", "hangupdirection", "callmethod", "round", "id"):
        _number(body, name)
    custom = _text(body, "customuuid")
    uuid = _text(body, "uuid")
    record_id = _text(body, "id")
    round_ = _text(body, "round")
    callee = _callee(body, "destnumber", "telphone", "phone")
    if uuid:
        key = uuid
    elif record_id:
        key = f"id:{record_id}"
    elif custom or callee:  # never a phone number in a key: keys are logged
        key = f"{task_id}/{custom or 'p' + digest(callee, 8)}/{round_}"
    else:
        key = "body:" + digest(canonical_json(body))
    return ResultRecord(profile, module, key, key, task_id, custom, callee, body)
