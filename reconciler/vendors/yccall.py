"""yccall (SIP call-center predictive dialer): the vendor spec.

Credential roles ``appid`` + ``accesskey`` (``App.Sip_Auth.Login``), option
defaults (where the vendor sources disagree, DESIGN section 1: assigntype
codes, status codes, body encoding), the campaign rules (no windows, robot,
lines, voice or turbo; a ``yccall:`` block), :class:`YccallSettings`, the
``customtaskid`` naming rule, capabilities and limits. The client is
``reconciler.providers.yccall``, the emulator ``reconciler.emulator.yccall``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from reconciler.model import ProviderProfile, VendorSettings, digest
from reconciler.vendors.base import Capabilities, Limits, Path, Rules, VendorSpec, forbid, sub

__all__ = ["COLUMNS", "CUSTOMTASKID_MAX", "MAX_RECALL", "SPEC", "YccallSettings", "YccallSpec"]

#: telphone fields a yccall contact may carry besides the phone.
COLUMNS = ("userid", "memberid", "customuuid", "ext")
MAX_RECALL = 10
CUSTOMTASKID_MAX = 64
ASSIGN_KINDS = ("extension", "queue", "group")
#: Defaults where the sources disagree (yccall.md "Gaps"): assigntype code per kind, TaskList status codes.
ASSIGN_TYPES = {"extension": 1, "queue": 2, "group": 3}
STATUS_MAP = {1025: "not-started", 1026: "running", 1027: "paused", 1028: "finished"}
LIST_STATUS_FILTER = {"not-started": 0, "running": 1, "paused": 2, "finished": 3}
PHASES = ("not-started", "running", "paused", "finished")


def _listed(mapping: Mapping[Any, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items())

_ID = {"$ref": "#/$defs/id"}


@dataclass(frozen=True)
class YccallSettings:
    """The campaign's ``yccall:`` block: who takes the answered calls, pacing, caller numbers."""

    key: ClassVar[str] = "yccall"

    assign_type: Literal["extension", "queue", "group"]
    agent: str
    scale: str = "1:1"
    scale_mode: Literal["auto", "manual"] | None = None
    concurrency: int | None = None
    caller_numbers: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        return {
            "assign_type": self.assign_type,
            "agent": self.agent,
            "scale": self.scale,
            "scale_mode": self.scale_mode,
            "concurrency": self.concurrency,
            "caller_numbers": list(self.caller_numbers),
        }


def custom_task_id(prefix: str, campaign: str, wave: int) -> str:
    """Stable ``customtaskid`` for a campaign's wave, at most :data:`CUSTOMTASKID_MAX` characters.

    The task naming rule with ``customtaskid_prefix``; when that exceeds the
    limit, a truncated id plus a 12-hex digest of the full one.
    """
    full = SPEC.task_name(prefix, campaign, wave)
    if len(full) <= CUSTOMTASKID_MAX:
        return full
    tail = "-" + digest(full, 6)
    return full[: CUSTOMTASKID_MAX - len(tail)] + tail


class YccallSpec(VendorSpec):
    type = "yccall"
    title = "yccall (SIP call-center predictive dialer)"
    credentials = (("appid", "accesskey"),)
    credential_help: ClassVar[Mapping[str, str]] = {
        "appid": "NAME of the env var holding the yccall appid.",
        "accesskey": "NAME of the env var holding the yccall accesskey.",
    }
    defaults: ClassVar[Mapping[str, Any]] = {
        "assign_types": ASSIGN_TYPES,
        "status_map": STATUS_MAP,
        "list_status_filter": LIST_STATUS_FILTER,
        "body_encoding": "form",
        "page_size": 100,
        "max_numbers_per_call": 10_000,
        "phone_as_number": False,
        "check_references": True,
        "customtaskid_prefix": None,  # None: the name_prefix
        "number_time": "omit",
    }
    option_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "assign_types": {
            "description": f"assigntype code per assignment kind (sources disagree; default "
                           f"{_listed(ASSIGN_TYPES)}). Replaces the default map.",
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {
                kind: {"type": "integer", "minimum": 0,
                       "description": f"assigntype code for assign.type: {kind} (default {code})."}
                for kind, code in ASSIGN_TYPES.items()
            },
        },
        "status_map": {
            "description": f"TaskList status code → phase (default {_listed(STATUS_MAP)}). Replaces the default "
                           "map.",
            "type": "object", "minProperties": 1,
            "propertyNames": {"pattern": "^[0-9]+$", "patternErrorMessage": "status codes are integers"},
            "additionalProperties": {"enum": list(PHASES)},
        },
        "list_status_filter": {
            "description": f"TaskList `status` filter code per phase (default {_listed(LIST_STATUS_FILTER)}). "
                           "Replaces the default map.",
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {
                phase: {"type": "integer", "minimum": 0,
                        "description": f"TaskList status filter code for {phase} tasks (default {code})."}
                for phase, code in LIST_STATUS_FILTER.items()
            },
        },
        "body_encoding": {"description": "How request fields are posted: form (urlencoded) or multipart.",
                          "enum": ["form", "multipart"]},
        "page_size": {"description": "TaskList itemsperpage.", "type": "integer", "minimum": 1, "maximum": 10000},
        "max_numbers_per_call": {"description": "Numbers per TaskCreat / TaskAdd call (vendor maximum 10000).",
                                 "type": "integer", "minimum": 1, "maximum": 10000},
        "phone_as_number": {"description": "Send telphone[].phone as a JSON number instead of a string.",
                            "type": "boolean"},
        "check_references": {"description": "plan checks extensions, queues and caller numbers with the lookup "
                                            "services (GetSipnumberInfo, GetQueueList, GetDisnumberInfo).",
                             "type": "boolean"},
        "customtaskid_prefix": {"description": "Prefix of the customtaskid derived from a campaign name (default: "
                                               "name_prefix).",
                                "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,20}$",
                                "patternErrorMessage": "1 to 20 letters, digits, '_', '.', '-'"},
        "number_time": {"description": "What each number's telphone[].time carries. The document: a preset call "
                                       "time, default now, 'past it the number is not dialled': a start time or a "
                                       "deadline, sources disagree. omit: none (the vendor's default); begin: "
                                       "schedule.begin (not dialed before it); end: schedule.end, the number's "
                                       "deadline (needed where an omitted time means 'now' as a deadline: every "
                                       "number would be skipped); a campaign then needs schedule.end.",
                        "enum": ["omit", "begin", "end"]},
    }
    capabilities = Capabilities(
        direct_callout=False,
        add_after_start=True,
        remove_contacts=True,
        delete_is_end=True,
        create_with_contacts=True,
        windows=False,
    )
    settings_key = "yccall"

    def derive(self, options: dict[str, Any]) -> None:
        if not options.get("customtaskid_prefix"):
            options["customtaskid_prefix"] = options["name_prefix"]
        status_map = options.get("status_map")
        if isinstance(status_map, dict):
            options["status_map"] = {int(k): v for k, v in status_map.items() if str(k).isdigit()}

    def limits(self, options: Mapping[str, Any]) -> Limits:
        batch = max(1, int(options["max_numbers_per_call"]))
        return Limits(add_batch=batch, create_batch=batch, callout_batch=0,
                      list_page=max(1, int(options["page_size"])), max_contacts_per_task=None)

    def custom_task_id(self, prefix: str, campaign: str, wave: int) -> str:
        return custom_task_id(prefix, campaign, wave)

    def check_campaign(self, rules: Rules, path: Path, raw: Mapping[str, Any], *, mode: str,
                       profile: ProviderProfile) -> None:
        pname = profile.name
        if "yccall" not in raw:
            rules.error((*path, "yccall"), "missing 'yccall': a yccall campaign needs a yccall block "
                        "(assign: {type: extension, agent: \"8001\"}, ...)", line=rules.key_line(path))
        if mode == "direct":
            rules.error((*path, "mode"), f"mode: direct is an xfyeta callout; profile {pname!r} is yccall")
        forbid(rules, (*path, "schedule"), sub(raw, "schedule"), "windows", f"profile {pname!r} is yccall, which "
               "has no time-of-day windows (schedule.begin/end become scheduledtime/pausedtime)")
        assign = sub(raw, "yccall").get("assign")
        if isinstance(assign, dict):
            atype = assign.get("type")
            types = profile.options.get("assign_types")
            if isinstance(atype, str) and isinstance(types, dict) and atype not in types \
                    and rules.usable((*path, "yccall", "assign", "type")):
                rules.error((*path, "yccall", "assign", "type"), f"profile {pname!r} has no assign_types code for "
                            f"{atype!r} (it knows: {', '.join(types)})")
        if profile.options.get("number_time") == "end" and "end" not in sub(raw, "schedule"):
            rules.error((*path, "schedule", "end"), f"profile {pname!r} sends each number's deadline "
                        "(number_time: end): the campaign needs schedule.end", line=rules.key_line(path))
        contacts = sub(raw, "contacts")
        columns = contacts.get("columns")
        phone = contacts.get("phone_column")
        if isinstance(columns, list):
            for i, column in enumerate(columns):
                if isinstance(column, str) and column != phone and column not in COLUMNS:
                    rules.error((*path, "contacts", "columns", i), f"yccall numbers carry only the phone and "
                                f"{', '.join(COLUMNS)}; {column!r} has nowhere to go")

    def foreign_key_hint(self, key: str) -> str:
        """Added to the "not allowed" message of another vendor's campaign key used on this vendor."""
        return " (caller numbers go in yccall.caller_numbers)" if key == "lines" else ""

    def settings(self, rules: Rules, path: Path, raw: Mapping[str, Any]) -> VendorSettings | None:
        block = sub(raw, "yccall")
        assign = sub(block, "assign")
        atype = assign.get("type")
        agent = assign.get("agent")
        if atype not in ASSIGN_KINDS or not isinstance(agent, str | int):
            return None
        numbers = block.get("caller_numbers") if isinstance(block.get("caller_numbers"), list) else []
        assert isinstance(numbers, list)
        scale_mode = block.get("scale_mode")
        concurrency = block.get("concurrency")
        scale = block.get("scale", "1:1")
        return YccallSettings(
            assign_type=atype,
            agent=rules.text((*path, "yccall", "assign", "agent"), agent),
            scale=scale if isinstance(scale, str) else "1:1",
            scale_mode=scale_mode if scale_mode in ("auto", "manual") else None,
            concurrency=concurrency if isinstance(concurrency, int) and not isinstance(concurrency, bool) else None,
            caller_numbers=tuple(rules.text((*path, "yccall", "caller_numbers", i), n) for i, n in enumerate(numbers)),
        )

    def campaign_properties(self) -> dict[str, Any]:
        return {
            "yccall": {
                "description": "yccall task settings (required for yccall campaigns, not allowed for xfyeta).",
                "type": "object", "additionalProperties": False, "required": ["assign"],
                "properties": {
                    "assign": {
                        "description": "Who takes the answered calls.",
                        "type": "object", "additionalProperties": False, "required": ["type", "agent"],
                        "properties": {
                            "type": {"description": "extension, queue or group (assigntype).",
                                     "enum": list(ASSIGN_KINDS)},
                            "agent": {"description": "Extension number, queue or group name (assignagent).", **_ID},
                        },
                    },
                    "scale": {"description": "Idle agents : calls, e.g. \"1:1\" (taskscale).", "type": "string",
                              "pattern": "^[1-9][0-9]*:[1-9][0-9]*$",
                              "patternErrorMessage": "must be a ratio like \"1:1\" or \"1:3\" (quote it)",
                              "default": "1:1"},
                    "scale_mode": {"description": "auto (computed) or manual (isscale).", "enum": ["auto", "manual"]},
                    "concurrency": {"description": "Maximum concurrent calls (concurrent).", "type": "integer",
                                    "minimum": 1},
                    "caller_numbers": {"description": "Caller numbers (disnumber); empty = the platform picks.",
                                       "type": "array", "uniqueItems": True, "items": _ID},
                },
            },
        }


SPEC = YccallSpec()
