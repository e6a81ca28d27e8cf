"""xfyeta (iFlytek Yeta outbound robot): the vendor spec.

Everything campaignctl knows about the vendor that is not HTTP: credential
roles (``app_key`` + ``app_secret``, from which a token is fetched and
refreshed, or a ready ``token``), option defaults, the campaign rules of
DESIGN sections 1 and 2 (an xfyeta task needs robot, lines, schedule.begin
and schedule.windows, always sent as time_range: no night dialing by
default; a direct callout has no task: no recall, turbo; its schedule is
campaignctl's, checked before every batch), capabilities and limits. The
client is ``reconciler.providers.xfyeta``, the emulator
``reconciler.emulator.xfyeta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from reconciler.model import ProviderProfile
from reconciler.vendors.base import Capabilities, Limits, Path, Rules, VendorSpec, forbid, require, sub

__all__ = ["BATCH", "LIST_PAGE", "MAX_RECALL", "SPEC", "XfyetaSpec"]

MAX_RECALL = 3  # recall_count: "最大3次"
BATCH = 50  # call_list rows per insert / callout: "单次上限50条"
LIST_PAGE = 50  # task/query page_size: "最大值50"

_ID = {"$ref": "#/$defs/id"}


class XfyetaSpec(VendorSpec):
    type = "xfyeta"
    title = "xfyeta (iFlytek Yeta outbound robot)"
    credentials = (("app_key", "app_secret"), ("token",))
    credential_help: ClassVar[Mapping[str, str]] = {
        "app_key": "NAME of the env var holding the xfyeta app_key (token fetched and refreshed).",
        "app_secret": "NAME of the env var holding the xfyeta app_secret.",
        "token": "Alternative to app_key_env/app_secret_env: NAME of the env var holding a ready token.",
    }
    defaults: ClassVar[Mapping[str, Any]] = {
        "line_separator": ";",
        "token_ttl": 3600,
        "refresh_margin": 300,
        "check_references": True,
        "max_contacts_per_task": None,
        "list_deleted": True,
        "callout_margin": 0,
    }
    option_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "line_separator": {"description": "How several line_num values are joined: ';' (seed document) or ','.",
                           "enum": [";", ","]},
        "token_ttl": {"description": "Token lifetime in seconds when the vendor does not say.",
                      "type": "integer", "minimum": 1, "maximum": 2592000},
        "refresh_margin": {"description": "Seconds before expiry at which the token is refreshed.",
                           "type": "integer", "minimum": 0, "maximum": 86400},
        "check_references": {"description": "plan checks robots, lines and voices with config/v1/query.",
                             "type": "boolean"},
        "max_contacts_per_task": {"description": "Refuse campaigns with more contacts than this (null = no "
                                                 "documented limit).", "type": ["integer", "null"], "minimum": 1,
                                  "maximum": 100000000},
        "list_deleted": {"description": "Whether the vendor's task listing shows deleted tasks (deleted: 1).",
                         "type": "boolean"},
        "callout_margin": {"description": "Seconds before the calling hours or a direct campaign's windows (or "
                                          "schedule.end) close after which no more direct callout batches are "
                                          "sent: the vendor dials a batch at once, but how long its calls take "
                                          "to ring is not documented. 0 = send until the close.",
                           "type": "integer", "minimum": 0, "maximum": 3600},
    }
    capabilities = Capabilities(
        direct_callout=True,
        add_after_start=False,
        remove_contacts=False,
        delete_is_end=False,
        create_with_contacts=False,
        windows=True,
    )

    def limits(self, options: Mapping[str, Any]) -> Limits:
        limit = options.get("max_contacts_per_task")
        return Limits(add_batch=BATCH, create_batch=0, callout_batch=BATCH, list_page=LIST_PAGE,
                      max_contacts_per_task=limit if isinstance(limit, int) and not isinstance(limit, bool)
                      else None)

    def check_profile(self, rules: Rules, path: Path, options: dict[str, Any]) -> None:
        ttl, margin = options["token_ttl"], options["refresh_margin"]
        if isinstance(ttl, int) and isinstance(margin, int) and margin >= ttl:
            rules.error((*path, "refresh_margin"), f"must be less than token_ttl ({ttl} s), got {margin}")

    def base_url_problem(self, url_path: str) -> str | None:
        if "/openapi" in url_path:
            return "must be the host root (e.g. https://www.xfyeta.com): the client adds the /openapi/... paths"
        return None

    def check_campaign(self, rules: Rules, path: Path, raw: Mapping[str, Any], *, mode: str,
                       profile: ProviderProfile) -> None:
        pname = profile.name
        kind = "an xfyeta direct callout" if mode == "direct" else "an xfyeta task"
        recall, voice, contacts = sub(raw, "recall"), sub(raw, "voice"), sub(raw, "contacts")
        require(rules, path, raw, "robot", f"{kind} needs the robot_id")
        require(rules, path, raw, "lines", f"{kind} needs at least one caller line (line_num)")
        if mode == "task":
            spath = (*path, "schedule")
            windows_why = ("an xfyeta task always sends its dialing windows (no night dialing by default), "
                           "e.g. [\"09:00-12:00\", \"14:00-20:00\"]")
            if "schedule" not in raw:
                rules.error((*spath, "begin"), "missing 'schedule.begin': an xfyeta task needs a start time",
                            line=rules.key_line(path))
                rules.error((*spath, "windows"), f"missing 'schedule.windows': {windows_why}",
                            line=rules.key_line(path))
            elif isinstance(raw.get("schedule"), dict):
                schedule = sub(raw, "schedule")
                require(rules, spath, schedule, "begin", "an xfyeta task needs a start time (schedule.begin)")
                require(rules, spath, schedule, "windows", windows_why)
            if "speed" in voice:
                rules.error((*path, "voice", "speed"), "voice.speed only works with mode: direct "
                            "(xfyeta tasks have no speed setting)")
            count = recall.get("count")
            if isinstance(count, int) and not isinstance(count, bool) and count > MAX_RECALL \
                    and rules.usable((*path, "recall", "count")):
                rules.error((*path, "recall", "count"), f"xfyeta allows at most {MAX_RECALL} recall rounds, "
                            f"got {count}")
        else:
            why = "a direct callout has no task: each contact is dialed once"
            for key in ("recall", "turbo"):
                forbid(rules, path, raw, key, f"{why} (no {key} with mode: direct)")
        if "mode" in recall:
            rules.error((*path, "recall", "mode"), f"recall.mode is a yccall setting; profile {pname!r} is xfyeta")
        lines = raw.get("lines")
        if isinstance(lines, list):
            for i, line in enumerate(lines):
                if isinstance(line, str) and any(sep in line for sep in ";,"):
                    rules.error((*path, "lines", i), "one line_num per item (write a list, not a joined string)")
        columns = contacts.get("columns")
        phone = contacts.get("phone_column")
        if isinstance(columns, list) and columns and isinstance(phone, str) and phone in columns \
                and columns[0] != phone:
            rules.error((*path, "contacts", "columns"), f"xfyeta expects the phone column {phone!r} first "
                        "(call_column order: phone, then the robot's fields)")

    def check_contacts(self, rules: Rules, path: Path, count: int, profile: ProviderProfile) -> None:
        limit = profile.options.get("max_contacts_per_task")
        if isinstance(limit, int) and count > limit:
            rules.error(path, f"{count} contacts exceed max_contacts_per_task {limit} of profile "
                        f"{profile.name!r}; split the contacts over several campaigns")

    def campaign_properties(self) -> dict[str, Any]:
        return {
            "robot": {"description": "xfyeta robot_id (required for xfyeta; not allowed on yccall).", **_ID},
            "lines": {
                "description": "xfyeta caller lines (line_num), at least one (required for xfyeta; not allowed on "
                               "yccall).",
                "type": "array", "minItems": 1, "uniqueItems": True, "items": _ID,
            },
            "voice": {
                "description": "xfyeta voice (not allowed on yccall).",
                "type": "object", "additionalProperties": False,
                "properties": {
                    "code": {"description": "xfyeta voice_code.", **_ID},
                    "speed": {"description": "Speaking speed -500..500, 0 = normal. Only with mode: direct (tasks "
                                             "have no speed setting).",
                              "type": "integer", "minimum": -500, "maximum": 500},
                },
            },
            "turbo": {"description": "xfyeta turbo mode (trubo_mode; no call recordings). Not with mode: direct, "
                                     "not on yccall.", "type": "boolean", "default": False},
        }


SPEC = XfyetaSpec()
