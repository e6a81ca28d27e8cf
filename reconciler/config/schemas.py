"""The JSON Schemas of the two file kinds, generated from the vendor registry.

``reconciler/schema/project.schema.json`` and ``campaign.schema.json`` (JSON
Schema 2020-12, complete, for editors and for ``config.schema``) are written
by ``scripts/gen-schemas`` from this module: what every file shares is here,
what a vendor brings (its profile type, credential keys, options with their
defaults, its campaign keys) comes from its spec in ``reconciler.vendors``.
``tests/config/test_schema.py`` checks that the shipped files equal what this
module generates, so a vendor added or changed is one spec module plus a run
of the script.

    python3 -m reconciler.config.schemas            # write the files
    python3 -m reconciler.config.schemas --check    # exit 1 when they are stale
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler import vendors
from reconciler.policy import DEFAULT_OPTOUT_KEYWORDS, DEFAULT_OPTOUT_OUTCOMES, DIGEST_FORMS
from reconciler.vendors.base import COMMON_DEFAULTS, VendorSpec

__all__ = ["SCHEMA_DIR", "campaign_schema", "main", "project_schema", "render"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"

#: Common profile options: the key in a profile, its definition in ``$defs`` (its default from COMMON_DEFAULTS).
_COMMON_OPTIONS = {
    "name_prefix": "namePrefix",
    "connect_timeout": "connectTimeout",
    "read_timeout": "readTimeout",
    "retries": "retries",
    "rate_limit": "rateLimit",
    "listing_parallelism": "listingParallelism",
    "settle_window": "settleWindow",
}

# fmt: off
_PROJECT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://campaignctl.dev/schema/project.schema.json",
    "title": "campaignctl project file (campaignctl.yaml)",
    "description": ("The one project file at the root of a campaignctl config directory: format version, "
                    "timezone, provider profiles and the state store. Secrets never go here: profiles name the "
                    "environment variables that hold them."),
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "providers"],
    "properties": {
        "version": {"description": "Format version of this file. Only 1 exists.", "const": 1},
        "timezone": {
            "description": ("IANA timezone (e.g. Asia/Shanghai) for campaign times written without an offset, "
                            "and the default vendor-local timezone of every profile."),
            "type": "string",
            "minLength": 1,
            "default": "Asia/Shanghai",
            "examples": ["Asia/Shanghai"],
        },
        "providers": {
            "description": "Provider profiles by name. Campaigns refer to a profile with `provider: <name>`.",
            "type": "object",
            "minProperties": 1,
            "propertyNames": {
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
                "patternErrorMessage": ("a profile name is letters, digits, '_', '.', '-' (at most 63, starting "
                                        "with a letter or digit)"),
            },
            "additionalProperties": {"$ref": "#/$defs/profile"},
        },
        "state": {
            "description": "Where campaignctl records what it created (task ids, contacts sent, journal).",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "backend": {
                    "description": ("sqlite (embedded, default), postgres (shared by a team / CI runners) or "
                                    "memory (tests: nothing is kept)."),
                    "enum": ["sqlite", "postgres", "memory"],
                    "default": "sqlite",
                },
                "path": {
                    "description": "sqlite: database file, relative to the project directory.",
                    "type": "string",
                    "minLength": 1,
                    "default": ".campaignctl/state.db",
                },
                "dsn_env": {
                    "description": ("postgres: NAME of the environment variable holding the connection string "
                                    "(never the DSN itself)."),
                    "$ref": "#/$defs/envName",
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"backend": {"const": "postgres"}}, "required": ["backend"]},
                    "then": {"required": ["dsn_env"], "not": {"required": ["path"]}},
                    "errorMessage": {"not": "path is for the sqlite backend; postgres takes dsn_env"},
                },
                {
                    "if": {"not": {"properties": {"backend": {"const": "postgres"}}, "required": ["backend"]}},
                    "then": {"not": {"required": ["dsn_env"]}},
                    "errorMessage": {"not": "dsn_env is for the postgres backend"},
                },
            ],
        },
        "prune": {
            "description": "Delete owned remote tasks whose campaign left the files (also --prune / --no-prune).",
            "type": "boolean",
            "default": False,
        },
    },
}
_PROJECT_DEFS: dict[str, Any] = {
    "envName": {
        "description": ("NAME of an environment variable (the secret itself is read from the environment at run "
                        "time)."),
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "patternErrorMessage": ("must be the NAME of an environment variable (letters, digits, '_'), not the "
                                "secret itself"),
    },
    "positiveNumber": {"type": "number", "exclusiveMinimum": 0},
    "baseUrl": {
        "description": ("Host root of the vendor API, http or https (the paths are the vendor's), e.g. "
                        "https://www.xfyeta.com."),
        "type": "string",
        "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+(/[^\\s?#]*)?$",
        "patternErrorMessage": "must be an http:// or https:// URL of the vendor host",
    },
    "namePrefix": {
        "description": ("Ownership marker: remote tasks are named <name_prefix><campaign>; tasks without it are "
                        "never touched."),
        "type": "string",
        "pattern": "^[A-Za-z0-9_.-]{1,20}$",
        "patternErrorMessage": "1 to 20 letters, digits, '_', '.', '-'",
    },
    "connectTimeout": {
        "description": "Seconds to wait for a connection (at most 600).",
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 600,
    },
    "readTimeout": {
        "description": "Seconds to wait for an answer (at most 3600).",
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 3600,
    },
    "retries": {
        "description": "Tries for idempotent calls (query, start, pause, delete).",
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
    },
    "settleWindow": {
        "description": ("Seconds after sending during which a create or insert whose answer was lost may still "
                        "land; until then it is never taken as not landed (and never re-sent). null = three read "
                        "timeouts, at least 15."),
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 3600,
    },
    "rateLimit": {
        "description": ("Requests per second to this vendor (0.1 to 10000): attempts are spaced so that no second "
                        "at the vendor holds more, also when one reaches it up to 40 ms late (about 96 % of the "
                        "limit is used); null = unlimited."),
        "type": ["number", "null"],
        "minimum": 0.1,
        "maximum": 10000,
    },
    "listingParallelism": {
        "description": ("Pages of a task listing asked for at once (1 to 16), after the first, which gives the "
                        "total: the same calls in fewer round trips. 1 = one page at a time."),
        "type": "integer",
        "minimum": 1,
        "maximum": 16,
    },
    "profileTimezone": {
        "description": "IANA timezone of the vendor's local times (default: the project timezone).",
        "type": "string",
        "minLength": 1,
    },
}
_CAMPAIGN: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://campaignctl.dev/schema/campaign.schema.json",
    "title": "campaignctl campaign file",
    "description": ("Any *.yaml / *.yml file of a campaignctl config directory other than campaignctl.yaml. Keys "
                    "a provider or mode cannot honour (windows on yccall, voice.speed on an xfyeta task, ...) "
                    "are checked by `campaignctl validate` once the campaign's provider profile is known."),
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "campaigns"],
    "properties": {
        "version": {"description": "Format version of this file. Only 1 exists.", "const": 1},
        "campaigns": {
            "description": "The campaigns of this file.",
            "type": "array",
            "items": {"$ref": "#/$defs/campaign"},
        },
    },
}
_CAMPAIGN_DEFS: dict[str, Any] = {
    "id": {
        "description": "An identifier the vendor gave out (quote it so YAML keeps leading zeros).",
        "type": ["string", "integer"],
        "minLength": 1,
        "pattern": "^\\S+$",
        "patternErrorMessage": "must not be empty or contain spaces",
    },
    "dateTime": {
        "description": ("ISO 8601 date-time, e.g. 2027-03-01T09:00:00+08:00; without an offset it is in the "
                        "project timezone."),
        "type": "string",
        "pattern": ("^[0-9]{4}-[0-9]{2}-[0-9]{2}([T "
                    "][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?$"),
        "patternErrorMessage": "must be an ISO 8601 date-time like 2027-03-01T09:00:00+08:00",
    },
    "window": {
        "description": ("Daily dialing window HH:MM-HH:MM (or HH:MM:SS-HH:MM:SS), start before end, within "
                        "00:00-24:00."),
        "type": "string",
        "pattern": "^[0-9]{2}:[0-9]{2}(:[0-9]{2})?-[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        "patternErrorMessage": "must be a window like 09:00-12:00 (HH:MM-HH:MM or HH:MM:SS-HH:MM:SS)",
    },
    "cell": {"type": ["string", "integer"]},
    "source": {
        "description": "One contact source: a CSV file (header row naming the columns) or inline rows.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "csv": {
                "description": ("CSV file, relative to this YAML file. Its header row must contain every "
                                "declared column."),
                "type": "string",
                "minLength": 1,
            },
            "encoding": {
                "description": ("CSV encoding: utf-8 (default; a BOM is fine), or gbk / gb18030 for files "
                                "exported from Excel in China."),
                "enum": [
                    "utf-8",
                    "UTF-8",
                    "utf8",
                    "utf-8-sig",
                    "gbk",
                    "GBK",
                    "gb2312",
                    "GB2312",
                    "gb18030",
                    "GB18030",
                ],
                "default": "utf-8",
            },
            "delimiter": {"description": "CSV field separator.", "enum": [",", ";", "\t", "|"], "default": ","},
            "rows": {
                "description": "Inline rows, each a list of values in the order of columns.",
                "type": "array",
                "items": {"type": "array", "items": {"$ref": "#/$defs/cell"}},
            },
        },
        "oneOf": [{"required": ["csv"]}, {"required": ["rows"]}],
        "dependentRequired": {"encoding": ["csv"], "delimiter": ["csv"]},
        "errorMessage": {"oneOf": "a source is either csv: FILE or rows: [...] (exactly one of them)"},
    },
}
_CAMPAIGN_PROPERTIES: dict[str, Any] = {
    "name": {
        "description": ("Identity of the campaign, unique in the directory. The remote task is named "
                        "<name_prefix><name>."),
        "type": "string",
        "pattern": "^[a-z0-9][a-z0-9-]{0,62}$",
        "patternErrorMessage": "must be 1-63 lowercase letters, digits or '-', starting with a letter or digit",
    },
    "provider": {
        "description": "Name of a provider profile in campaignctl.yaml.",
        "type": "string",
        "minLength": 1,
    },
    "mode": {
        "description": ("task (default): a vendor task with schedule and windows. direct: xfyeta immediate "
                        "callout, each contact dialed at most once, at once."),
        "enum": ["task", "direct"],
        "default": "task",
    },
    "schedule": {
        "description": "When the task may dial (not with mode: direct, which dials at once).",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "begin": {
                "description": ("Start of dialing (xfyeta time_begin, required for xfyeta tasks; yccall "
                                "scheduledtime)."),
                "$ref": "#/$defs/dateTime",
            },
            "end": {
                "description": "End of dialing (xfyeta time_end; yccall pausedtime). Must be after begin.",
                "$ref": "#/$defs/dateTime",
            },
            "windows": {
                "description": ("Daily dialing windows, sorted, not overlapping (xfyeta time_range; required for "
                                "xfyeta tasks so nobody is called at night by default; not allowed on yccall)."),
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/window"},
            },
        },
    },
    "recall": {
        "description": "Redial rounds for unanswered numbers (not with mode: direct).",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "count": {
                "description": "Extra rounds: 0..3 on xfyeta, 0..10 on yccall.",
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "default": 0,
            },
            "wait": {"description": "Seconds between rounds.", "type": "integer", "minimum": 0, "default": 0},
            "mode": {
                "description": "yccall only: redial unanswered numbers (default) or all numbers.",
                "enum": ["unanswered", "all"],
            },
        },
    },
    "contacts": {
        "description": "Whom to call: declared columns and where the rows come from.",
        "type": "object",
        "additionalProperties": False,
        "required": ["columns", "phone_column", "sources"],
        "properties": {
            "columns": {
                "description": ("Column names in order (xfyeta call_column: the phone column first, then the "
                                "robot's dynamic fields; yccall: phone plus userid, memberid, customuuid, ext)."),
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "minLength": 1},
            },
            "phone_column": {
                "description": "The column holding the phone number; it must be one of columns.",
                "type": "string",
                "minLength": 1,
            },
            "sources": {
                "description": ("Where the rows come from, read in order; the first row with a phone wins over "
                                "later duplicates."),
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/source"},
            },
            "after_start": {
                "description": ("Contacts added after the task started: new_wave (a follow-up task <name>~2) or "
                                "error."),
                "enum": ["new_wave", "error"],
                "default": "new_wave",
            },
        },
    },
    "state": {
        "description": "Desired run state: running (default), paused, or absent (delete the remote task).",
        "enum": ["running", "paused", "absent"],
        "default": "running",
    },
    "lifecycle": {
        "description": "Safety switches.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "prevent_destroy": {
                "description": "Turn any plan that deletes this campaign's task into an error.",
                "type": "boolean",
                "default": False,
            },
            "allow_replace": {
                "description": "Allow replacing a task that already started (its contacts are dialed again).",
                "type": "boolean",
                "default": False,
            },
        },
    },
}
_CAMPAIGN_ENTRY: dict[str, Any] = {
    "description": "One campaign: identity, provider settings, contacts and the desired run state.",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "provider", "contacts"],
}

# fmt: on


# --- project sections that belong to no vendor (environments, watch, results) ---------------------
# fmt: off
_PROJECT["properties"]["state"]["properties"]["schema"] = {'description': 'postgres: the schema holding the tables (default campaignctl); one per project or '  # noqa: E501
                'environment sharing a database.',
 'type': 'string',
 'pattern': '^[a-z_][a-z0-9_]{0,62}$',
 'patternErrorMessage': 'a lower-case SQL identifier'}
_PROJECT["properties"].update({'results': {'description': 'The result receiver (`campaignctl results serve`): where the vendors push call '  # noqa: E501
                            'results.',
             'type': 'object',
             'additionalProperties': False,
             'properties': {'secret_env': {'description': 'NAME of the environment variable holding a shared '
                                                          'secret every push must carry, in its URL '
                                                          '(/push/SECRET/PROFILE/MODULE) or the '
                                                          'X-Campaignctl-Secret header. Unset: no secret is '
                                                          'asked for.',
                                           '$ref': '#/$defs/envName'},
                            'listen': {'description': 'Default HOST:PORT to listen on (--listen overrides '
                                                      'it). Loopback by default: put a TLS reverse proxy in '
                                                      'front.',
                                       'type': 'string',
                                       'pattern': '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
                                       'default': '127.0.0.1:8900'}}},
 'environments': {'description': 'Named environments (e.g. staging, prod) that plan the same campaign files '
                                 'against other accounts: `--env NAME` applies one. Each overrides, per '
                                 'provider profile, the base URL, the credential variable names and the name '
                                 'prefix, and has a state of its own (derived from the base state when not '
                                 'given).',
                  'type': 'object',
                  'minProperties': 1,
                  'propertyNames': {'pattern': '^[a-z0-9][a-z0-9_-]{0,30}$',
                                    'patternErrorMessage': 'an environment name is lower-case letters, '
                                                           "digits, '_', '-' (at most 31, starting with a "
                                                           'letter or digit)'},
                  'additionalProperties': {'$ref': '#/$defs/environment'}},
 'watch': {'description': 'Project default for every campaign: What `campaignctl watch` may apply by itself '
                          '(it always self-heals start/pause drift and never creates, replaces, deletes or '
                          'redials).',
           'type': 'object',
           'additionalProperties': False,
           'properties': {'apply_new_contacts': {'description': 'Insert contacts added to the files into the '
                                                                "campaign's existing task (never contacts "
                                                                'already called; never a new task or wave).',
                                                 'type': 'boolean',
                                                 'default': False}}}})
_PROJECT_DEFS.update({'environment': {'description': 'One environment: profile overrides and its own state.',
                 'type': 'object',
                 'additionalProperties': False,
                 'properties': {'providers': {'description': 'Overrides by profile name (the profile must '
                                                             'exist under providers:).',
                                              'type': 'object',
                                              'additionalProperties': {'$ref': '#/$defs/environmentProfile'}},
                                'state': {'$ref': '#/$defs/environmentState'}}},
 'environmentProfile': {'description': 'What an environment may change on a profile; everything else is the '
                                       "base profile's.",
                        'type': 'object',
                        'additionalProperties': False,
                        'properties': {'base_url': {'$ref': '#/$defs/baseUrl'},
                                       'name_prefix': {'$ref': '#/$defs/namePrefix'},
                                       'customtaskid_prefix': {'description': 'yccall: prefix of the derived '
                                                                              'customtaskid (default: the '
                                                                              "environment's name_prefix).",
                                                               'type': 'string',
                                                               'pattern': '^[A-Za-z0-9_.-]{1,20}$',
                                                               'patternErrorMessage': '1 to 20 letters, '
                                                                                      "digits, '_', '.', "
                                                                                      "'-'"},
                                       'app_key_env': {'$ref': '#/$defs/envName'},
                                       'app_secret_env': {'$ref': '#/$defs/envName'},
                                       'token_env': {'$ref': '#/$defs/envName'},
                                       'appid_env': {'$ref': '#/$defs/envName'},
                                       'accesskey_env': {'$ref': '#/$defs/envName'}}},
 'environmentState': {'description': "The environment's own state (default: derived from the base state: "
                                     'sqlite <dir>/<env>/state.db, postgres schema campaignctl_<env>).',
                      'type': 'object',
                      'additionalProperties': False,
                      'properties': {'backend': {'description': 'sqlite (embedded, default), postgres '
                                                                '(shared by a team / CI runners) or memory '
                                                                '(tests: nothing is kept).',
                                                 'enum': ['sqlite', 'postgres', 'memory'],
                                                 'default': 'sqlite'},
                                     'path': {'description': 'sqlite: database file, relative to the project '
                                                             'directory.',
                                              'type': 'string',
                                              'minLength': 1,
                                              'default': '.campaignctl/state.db'},
                                     'dsn_env': {'description': 'postgres: NAME of the environment variable '
                                                                'holding the connection string (never the '
                                                                'DSN itself).',
                                                 '$ref': '#/$defs/envName'},
                                     'schema': {'description': 'postgres: the schema holding this '
                                                               "environment's tables (default "
                                                               'campaignctl_<env>).',
                                                'type': 'string',
                                                'pattern': '^[a-z_][a-z0-9_]{0,62}$',
                                                'patternErrorMessage': 'a lower-case SQL identifier'}},
                      'allOf': [{'if': {'properties': {'backend': {'const': 'postgres'}},
                                        'required': ['backend']},
                                 'then': {'required': ['dsn_env'], 'not': {'required': ['path']}},
                                 'errorMessage': {'not': 'path is for the sqlite backend; postgres takes '
                                                         'dsn_env'}},
                                {'if': {'not': {'properties': {'backend': {'const': 'postgres'}},
                                                'required': ['backend']}},
                                 'then': {'not': {'required': ['dsn_env']}},
                                 'errorMessage': {'not': 'dsn_env is for the postgres backend'}}]}})
_CAMPAIGN_PROPERTIES["watch"] = {'description': 'What `campaignctl watch` may apply by itself for this campaign (it always self-heals '  # noqa: E501
                'start/pause drift; it never creates, replaces, deletes, dials directly or redials). '
                "Default: the project's watch block.",
 'type': 'object',
 'additionalProperties': False,
 'properties': {'apply_new_contacts': {'description': 'Insert contacts added to the files into the '
                                                      "campaign's existing task (never contacts already "
                                                      'called; never a new task or wave).',
                                       'type': 'boolean'}}}
# fmt: on


# --- the dialing policy: `policy:` and `suppress:` of the project, a campaign's narrowing `policy:` ------------
_DAY = "(mon|tue|wed|thu|fri|sat|sun)"
_DAYS = f"{_DAY}(\\s*-\\s*{_DAY})?"


def _hours(without: str, where: str) -> dict[str, Any]:
    return {
        "description": (f"Allowed calling hours per day of week, read in {where}. Keys name days: mon, tue, wed, "
                        "thu, fri, sat, sun, ranges (mon-fri) or lists (sat,sun); each day at most once. Values: "
                        "sorted, non-overlapping windows; [] means no calls that day. Days left out allow no calls. "
                        f"Without `hours` {without}."),
        "type": "object",
        "propertyNames": {
            "pattern": f"^\\s*{_DAYS}(\\s*,\\s*{_DAYS})*\\s*$",
            "patternErrorMessage": ("days are mon, tue, wed, thu, fri, sat, sun, ranges like mon-fri or lists like "
                                    "sat,sun"),
        },
        "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/window"}},
        "examples": [{"mon-fri": ["09:00-12:00", "13:30-20:00"], "sat": ["10:00-18:00"]}],
    }


# fmt: off
_POLICY_DEFS: dict[str, Any] = {
    "blackout": {
        "description": ("Days without any call (holidays), read in policy.timezone: dates YYYY-MM-DD, ranges "
                        "YYYY-MM-DD..YYYY-MM-DD, or {file: PATH} naming a file with one date or range per line ('#' "
                        "comments; in a CSV line the first field), relative to this YAML file."),
        "type": "array",
        "items": {
            "oneOf": [
                {"type": "string",
                 "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}(\\s*\\.\\.\\s*[0-9]{4}-[0-9]{2}-[0-9]{2})?$",
                 "patternErrorMessage": "must be a date like 2027-10-01 or a range 2027-10-01..2027-10-07"},
                {"type": "object", "additionalProperties": False, "required": ["file"],
                 "properties": {"file": {"description": "A file of dates, one per line.", "type": "string",
                                         "minLength": 1}}},
            ],
            "errorMessage": {"oneOf": "a blackout entry is a date, a range FROM..TO, or {file: PATH}"},
        },
    },
    "maxDials": {
        "description": ("Frequency cap across all campaigns of the project: a number already sent or dialed `count` "
                        "times in the last `days` days (state history and call results) is held back, counted in "
                        "the plan, and sent once the cap allows (shown deferred with the date)."),
        "type": "object",
        "additionalProperties": False,
        "required": ["count", "days"],
        "properties": {
            "count": {"description": "Sends or dials allowed in the period.", "type": "integer", "minimum": 1},
            "days": {"description": "Length of the period in days.", "type": "integer", "minimum": 1,
                     "maximum": 3660},
        },
    },
}
_PROJECT["description"] = ("The one project file at the root of a campaignctl config directory: format version, "
                           "timezone, provider profiles, the state store, the dialing policy and do-not-call lists. "
                           "Secrets never go here: profiles name the environment variables that hold them.")
_PROJECT["properties"].update({
    "policy": {"$ref": "#/$defs/policy"},
    "suppress": {
        "description": ("Do-not-call sources applied to every campaign: a number they hold is never sent or dialed "
                        "(plans count it per campaign; one already queued in a started task is removed where the "
                        "platform can, yccall taskDelPhone, and warned about where it cannot, xfyeta). Opt-outs "
                        "kept in the state (`campaignctl optout`) are suppressed the same way."),
        "type": "array",
        "items": {"$ref": "#/$defs/suppressSource"},
    },
})
_PROJECT_DEFS.update({
    "window": {
        "description": "Daily window HH:MM-HH:MM (or HH:MM:SS-HH:MM:SS), start before end, within 00:00-24:00.",
        "type": "string",
        "pattern": "^[0-9]{2}:[0-9]{2}(:[0-9]{2})?-[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        "patternErrorMessage": "must be a window like 09:00-12:00 (HH:MM-HH:MM or HH:MM:SS-HH:MM:SS)",
    },
    "hours": _hours("the policy does not limit the time of day", "policy.timezone"),
    **copy.deepcopy(_POLICY_DEFS),
    "capacity": {
        "description": ("What one provider profile can dial, for the plan's forecast of when each campaign will have "
                        "dialed everyone (recall rounds included). Campaigns of a profile running at once share "
                        "it."),
        "type": "object",
        "additionalProperties": False,
        "required": ["concurrent_calls", "average_call_seconds", "answer_rate"],
        "properties": {
            "concurrent_calls": {"description": "Calls the profile places at the same time.", "type": "integer",
                                 "minimum": 1},
            "average_call_seconds": {"description": ("Average seconds one call attempt occupies a line (ringing and "
                                                     "talking)."),
                                     "type": "number", "exclusiveMinimum": 0},
            "answer_rate": {"description": ("Share of attempts answered, 0 < rate <= 1 (unanswered numbers are "
                                            "redialed by recall rounds)."),
                            "type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
    },
    "optout": {
        "description": ("Which call results put their number on the opt-out list (the results receiver asks "
                        "reconciler.policy.optout_reason as it stores each push). A result matches when an "
                        "intention tag or outcome text contains one of `keywords`, or an outcome code equals one of "
                        "`outcomes`."),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "from_results": {"description": "Learn opt-outs from call results at all.", "type": "boolean",
                             "default": True},
            "keywords": {"description": ("Substrings (case-insensitive) of intention tags / outcome texts meaning "
                                         "'do not call me again'. Replaces the default list."),
                         "type": "array", "items": {"type": "string", "minLength": 1},
                         "default": list(DEFAULT_OPTOUT_KEYWORDS)},
            "outcomes": {"description": ("Outcome codes (exact, case-insensitive) meaning the same. Replaces the "
                                         "default list."),
                         "type": "array", "items": {"type": ["string", "integer"]},
                         "default": list(DEFAULT_OPTOUT_OUTCOMES)},
        },
    },
    "policy": {
        "description": ("The dialing policy bounding every campaign: calling hours per weekday, blackout dates, a "
                        "frequency cap, duplicate numbers across campaigns, capacity for the forecast, opt-outs from "
                        "results. Campaigns may narrow it with their own `policy:` block, never widen it. Outside "
                        "the hours (or on a blackout date) plans pause running tasks, defer starts and direct dials; "
                        "direct callouts are checked again before every batch."),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "timezone": {"description": ("IANA timezone the hours and blackout dates are read in (default: the "
                                         "project timezone)."),
                         "type": "string", "minLength": 1},
            "hours": {"$ref": "#/$defs/hours"},
            "blackout": {"$ref": "#/$defs/blackout"},
            "max_dials": {"$ref": "#/$defs/maxDials"},
            "unique_across_campaigns": {"description": ("A number in two running campaigns is an error (default "
                                                        "false: a warning with counts)."),
                                        "type": "boolean", "default": False},
            "capacity": {"description": "Capacity per provider profile name, for the forecast.", "type": "object",
                         "additionalProperties": {"$ref": "#/$defs/capacity"}},
            "optout": {"$ref": "#/$defs/optout"},
        },
    },
    "suppressSource": {
        "description": ("One do-not-call source: a CSV file with a named phone column, inline numbers, or a file of "
                        "SHA-256 hex digests (registries delivered hashed). Numbers are normalised like contacts "
                        "before matching."),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"description": "Label shown in plan counts (default: the file name).", "type": "string",
                     "minLength": 1},
            "csv": {"description": "CSV file (header row), relative to campaignctl.yaml.", "type": "string",
                    "minLength": 1},
            "column": {"description": "csv: the header name of the phone column.", "type": "string",
                       "minLength": 1},
            "encoding": {"description": "csv: utf-8 (default), gbk or gb18030.",
                         "enum": copy.deepcopy(_CAMPAIGN_DEFS["source"]["properties"]["encoding"]["enum"]),
                         "default": "utf-8"},
            "delimiter": {"description": "csv: field separator.", "enum": [",", ";", "\t", "|"], "default": ","},
            "numbers": {"description": "Inline numbers.", "type": "array", "items": {"type": ["string", "integer"]}},
            "sha256": {"description": ("File of SHA-256 hex digests, one per line ('#' comments), relative to "
                                       "campaignctl.yaml."),
                       "type": "string", "minLength": 1},
            "form": {"description": ("sha256: how the registry wrote a number before hashing: national "
                                     "(13800000000, the normalised number; default), e164 (+8613800000000) or "
                                     "e164_digits (8613800000000)."),
                     "enum": list(DIGEST_FORMS), "default": "national"},
        },
        "oneOf": [{"required": ["csv"]}, {"required": ["numbers"]}, {"required": ["sha256"]}],
        "dependentRequired": {"csv": ["column"], "encoding": ["csv"], "delimiter": ["csv"], "form": ["sha256"],
                              "column": ["csv"]},
        "errorMessage": {"oneOf": "a suppress source is exactly one of csv: FILE (with column:), numbers: [...] or "
                                  "sha256: FILE"},
    },
})
_CAMPAIGN_DEFS.update({
    "hours": _hours("the campaign keeps the project's", "the project's policy.timezone"),
    **copy.deepcopy(_POLICY_DEFS),
})
_CAMPAIGN_PROPERTIES["mode"]["description"] = (
    "task (default): a vendor task with schedule and windows. direct: xfyeta immediate callout, each contact dialed "
    "at most once, only inside schedule.windows/begin/end and the policy hours (deferred otherwise).")
_CAMPAIGN_PROPERTIES["schedule"]["description"] = (
    "When the campaign may dial. xfyeta tasks need begin and windows (time_begin, time_range); yccall takes "
    "begin/end (scheduledtime/pausedtime), no windows; a direct callout may set all three: campaignctl dials only "
    "inside them (checked again before every batch), never outside the project policy hours.")
_CAMPAIGN_PROPERTIES["schedule"]["properties"]["windows"]["description"] = (
    "Daily dialing windows, sorted, not overlapping, read in the profile timezone (xfyeta time_range; required for "
    "xfyeta tasks so nobody is called at night by default; optional for direct callouts; not allowed on yccall). "
    "With a policy, an xfyeta task's windows must lie inside the hours of every day the policy allows calls.")
_CAMPAIGN_PROPERTIES["policy"] = {
    "description": ("Narrows the project's dialing policy for this campaign, never widens it (widening is a "
                    "validation error): hours replace the project's and must lie inside them day by day (days left "
                    "out: no calls), blackout dates are added, max_dials may only lower the count or lengthen the "
                    "period (both caps apply). The timezone and do-not-call lists are the project's."),
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "hours": {"$ref": "#/$defs/hours"},
        "blackout": {"$ref": "#/$defs/blackout"},
        "max_dials": {"$ref": "#/$defs/maxDials"},
    },
}
# fmt: on


def _with_default(schema: Mapping[str, Any], default: Any) -> dict[str, Any]:
    """``schema`` with ``default`` added, when the default is a JSON scalar the schema allows (null only if typed)."""
    out = dict(schema)
    if "default" in out or isinstance(default, Mapping | list):
        return out
    types = out.get("type")
    nullable = types == "null" or (isinstance(types, list) and "null" in types)
    if default is not None or nullable:
        out["default"] = default
    return out


def _either(titles: Sequence[str]) -> str:
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} or {titles[-1]}"


def _profile_def(spec: VendorSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "type": {"$ref": "#/$defs/profileType"},
        "base_url": {"$ref": "#/$defs/baseUrl"},
        **{key: {"$ref": f"#/$defs/{name}"} for key, name in _COMMON_OPTIONS.items()},
        "timezone": {"$ref": "#/$defs/profileTimezone"},
    }
    for key, role in spec.credential_keys().items():
        properties[key] = {"description": spec.credential_help[role], "$ref": "#/$defs/envName"}
    for key, default in spec.defaults.items():
        properties[key] = _with_default(spec.option_schemas[key], default)
    return {"type": "object", "additionalProperties": False, "properties": properties, **spec.profile_schema()}


def project_schema() -> dict[str, Any]:
    """The project file schema (``campaignctl.yaml``)."""
    specs = vendors.all_specs()
    types = [s.type for s in specs]
    described = _either([s.title for s in specs]) + "."
    defs = copy.deepcopy(_PROJECT_DEFS)
    for key, name in _COMMON_OPTIONS.items():
        defs[name] = _with_default(defs[name], COMMON_DEFAULTS[key])
    profile = {
        "description": "One vendor account. `type` selects which keys are allowed.",
        "type": "object",
        "required": ["type", "base_url"],
        "properties": {"type": {"description": described, "enum": types}},
        "allOf": [
            {"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
             "then": {"$ref": f"#/$defs/{t}Profile"}}
            for t in types
        ],
    }
    ordered = {"envName": defs.pop("envName"), "positiveNumber": defs.pop("positiveNumber"), "profile": profile,
               "profileType": {"enum": types, "description": described}, **defs}
    ordered.update({f"{s.type}Profile": _profile_def(s) for s in specs})
    return {**copy.deepcopy(_PROJECT), "$defs": ordered}


def campaign_schema() -> dict[str, Any]:
    """The campaign file schema (every other ``*.yaml``)."""
    properties = copy.deepcopy(_CAMPAIGN_PROPERTIES)
    owner: dict[str, str] = {}
    for spec in vendors.all_specs():
        for key, schema in spec.campaign_properties().items():
            if key in properties and properties[key] != schema:
                raise ValueError(f"campaign key {key!r} of vendor {spec.type!r} is also defined by "
                                 f"{owner.get(key, 'the common campaign schema')} with another schema")
            properties[key] = schema
            owner[key] = repr(spec.type)
    campaign = {**copy.deepcopy(_CAMPAIGN_ENTRY), "properties": properties}
    return {**copy.deepcopy(_CAMPAIGN), "$defs": {**copy.deepcopy(_CAMPAIGN_DEFS), "campaign": campaign}}


def render(schema: Mapping[str, Any]) -> str:
    """The file text of a schema: two-space JSON, UTF-8 unescaped, newline at the end."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _documents() -> dict[Path, str]:
    return {SCHEMA_DIR / "project.schema.json": render(project_schema()),
            SCHEMA_DIR / "campaign.schema.json": render(campaign_schema())}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stale = [path for path, text in _documents().items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if "--check" in args:
        for path in stale:
            print(f"{path} is not what the vendor registry generates; run scripts/gen-schemas", file=sys.stderr)
        return 1 if stale else 0
    for path, text in _documents().items():
        if path in stale:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
