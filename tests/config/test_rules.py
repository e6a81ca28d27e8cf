"""Table-driven bad-input cases: each names the file, the line and the field of the fault.

A case's expected line is the line marked ``# <-`` in its file (so the table
stays readable), or an explicit number for non-YAML files.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.config.fixtures import PROJECT, XF_TASK, YC_TASK, errors, load_files, located

XF_HEAD = """\
version: 1
campaigns:
  - name: spring
    provider: iflytek
"""
CONTACTS = """\
    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - rows: [["19900000001", "张先生"]]
"""
XF_BODY = """\
    robot: "719"
    lines: ["69101338"]
"""
SCHEDULE = """\
    schedule:
      begin: "2027-03-01T09:00:00+08:00"
      windows: ["09:00-12:00"]
"""


def xf(extra: str = "", *, schedule: str = SCHEDULE, body: str = XF_BODY, contacts: str = CONTACTS,
       head: str = XF_HEAD) -> str:
    return head + body + schedule + extra + contacts


def yc(extra: str = "", *, contacts: str | None = None) -> str:
    base = YC_TASK if contacts is None else YC_TASK.split("    contacts:")[0] + contacts
    return base + extra


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]
    file: str
    field: str
    line: int | None = None  # None: the line marked "# <-" in `file`
    message: str = ""
    project: str | None = PROJECT
    extra: list[tuple[str, int, str]] = field(default_factory=list)


def marked_line(text: str) -> int:
    for number, line in enumerate(textwrap.dedent(text).splitlines(), 1):
        if "# <-" in line:
            return number
    raise AssertionError("no '# <-' marker in the case file")


CASES = [
    # --- YAML itself -------------------------------------------------------
    Case("malformed-yaml", {"c.yaml": "version: 1\ncampaigns:\n  - name: [spring\n    provider: x\n"},
         "c.yaml", "", 4, "malformed YAML"),
    Case("duplicate-key", {"c.yaml": xf("    robot: \"720\"  # <-\n")}, "c.yaml", "campaigns[0].robot",
         message="duplicate key 'robot'"),
    Case("not-utf8-yaml", {"c.yaml": b"version: 1\ncampaigns:\n  - name: \xb4\xba\n"}, "c.yaml", "", 3,
         "not valid UTF-8"),
    Case("empty-file", {"c.yaml": ""}, "c.yaml", "", 1, "empty"),
    Case("top-level-list", {"c.yaml": "- version: 1\n"}, "c.yaml", "", 1, "mapping"),
    Case("unsupported-tag", {"c.yaml": xf("    turbo: !!python/none x  # <-\n")}, "c.yaml", "campaigns[0].turbo",
         message="unsupported YAML tag"),
    # --- version first -----------------------------------------------------
    Case("version-2", {"c.yaml": "campaigns: []\nversion: 2  # <-\nbogus: 1\n"}, "c.yaml", "version",
         message="unsupported version 2"),
    Case("version-missing", {"c.yaml": "campaigns: []  # <-\n"}, "c.yaml", "version", message="missing 'version: 1'"),
    Case("project-version-string", {}, "campaignctl.yaml", "version", 1, "unsupported version",
         project='version: "one"\nproviders: {}\n'),
    # --- schema: types and unknown keys -------------------------------------
    Case("turbo-not-bool", {"c.yaml": xf("    turbo: yes  # <-\n")}, "c.yaml", "campaigns[0].turbo",
         message="expected true or false, got 'yes'"),
    Case("unknown-campaign-key", {"c.yaml": xf("    robott: 1  # <-\n")}, "c.yaml", "campaigns[0].robott",
         message="did you mean 'robot'"),
    Case("unknown-nested-key", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                      '      windows: ["09:00-12:00"]\n      begn: x  # <-\n')},
         "c.yaml", "campaigns[0].schedule.begn", message="unknown key 'begn'"),
    Case("unknown-top-key", {"c.yaml": "version: 1\ncampaign: []  # <-\n"}, "c.yaml", "campaign",
         message="unknown key 'campaign'"),
    Case("missing-contacts", {"c.yaml": XF_HEAD.replace("  - name", "  - name") + XF_BODY + SCHEDULE},
         "c.yaml", "campaigns[0].contacts", 3, "missing required key 'contacts'"),
    Case("campaigns-not-list", {"c.yaml": "version: 1\ncampaigns: {name: x}  # <-\n"}, "c.yaml", "campaigns",
         message="expected a list"),
    Case("bad-name", {"c.yaml": xf(head=XF_HEAD.replace("name: spring", "name: Spring_Promo  # <-"))}, "c.yaml",
         "campaigns[0].name", message="lowercase"),
    Case("bad-mode", {"c.yaml": xf("    mode: batch  # <-\n")}, "c.yaml", "campaigns[0].mode", message="one of"),
    Case("bad-state", {"c.yaml": xf("    state: stopped  # <-\n")}, "c.yaml", "campaigns[0].state"),
    Case("begin-not-date", {"c.yaml": xf(schedule='    schedule:\n      begin: "next monday"  # <-\n'
                                                  '      windows: ["09:00-12:00"]\n')},
         "c.yaml", "campaigns[0].schedule.begin", message="ISO 8601"),
    Case("begin-bad-month", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-13-01T09:00"  # <-\n'
                                                   '      windows: ["09:00-12:00"]\n')},
         "c.yaml", "campaigns[0].schedule.begin", message="not a valid date-time"),
    Case("source-both-csv-and-rows", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n',
        '        - {csv: a.csv, rows: []}  # <-\n'))}, "c.yaml", "campaigns[0].contacts.sources[0]",
         message="either csv"),
    Case("encoding-without-csv", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n',
        '        - rows: [["19900000001", "张先生"]]  # <-\n          encoding: gbk\n'))},
         "c.yaml", "campaigns[0].contacts.sources[0].csv", message="required together with 'encoding'"),
    Case("bad-encoding-name", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', '        - csv: a.csv\n          encoding: latin1  # <-\n')),
        "a.csv": "客户手机号码,姓名\n19900000001,张\n"}, "c.yaml", "campaigns[0].contacts.sources[0].encoding"),
    # --- time windows, dates, ranges ---------------------------------------
    Case("window-25h", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                              '      windows:\n        - "25:00-26:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[0]", message="not a time of day"),
    Case("window-reversed", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                   '      windows:\n        - "12:00-09:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[0]", message="does not end after it starts"),
    Case("window-overlap", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                  '      windows:\n        - "09:00-12:00"\n'
                                                  '        - "11:30-13:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[1]", message="overlaps"),
    Case("window-overlap-not-adjacent", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00"\n'
                                                               '      windows:\n        - "09:00-12:00"\n'
                                                               '        - "09:30-10:00"\n'
                                                               '        - "11:00-13:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[2]", message="overlaps '09:00-12:00'",
         extra=[("c.yaml", 11, "campaigns[0].schedule.windows[1]")]),
    Case("window-unsorted", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                   '      windows:\n        - "13:00-14:00"\n'
                                                   '        - "09:00-10:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[1]", message="in order"),
    Case("window-format", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                 '      windows:\n        - "9am-5pm"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[0]", message="window like 09:00-12:00"),
    Case("window-60-minutes", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                     '      windows:\n        - "09:60-10:00"  # <-\n')},
         "c.yaml", "campaigns[0].schedule.windows[0]", message="not a time of day"),
    Case("end-before-begin", {"c.yaml": xf(schedule='    schedule:\n      begin: "2027-03-01T09:00:00+08:00"\n'
                                                    '      end: "2027-03-01T08:00:00+08:00"  # <-\n'
                                                    '      windows: ["09:00-12:00"]\n')},
         "c.yaml", "campaigns[0].schedule.end", message="after begin"),
    Case("recall-count-5-xfyeta", {"c.yaml": xf("    recall:\n      count: 5  # <-\n")}, "c.yaml",
         "campaigns[0].recall.count", message="at most 3"),
    Case("recall-count-11-yccall", {"c.yaml": yc("    recall: {count: 11}  # <-\n")}, "c.yaml",
         "campaigns[0].recall.count", message="at most 10"),
    Case("recall-wait-negative", {"c.yaml": xf("    recall: {count: 1, wait: -5}  # <-\n")}, "c.yaml",
         "campaigns[0].recall.wait", message="at least 0"),
    Case("recall-mode-on-xfyeta", {"c.yaml": xf("    recall:\n      mode: all  # <-\n")}, "c.yaml",
         "campaigns[0].recall.mode", message="yccall setting"),
    Case("speed-out-of-range", {"c.yaml": xf("    voice: {speed: 600}  # <-\n", schedule="",
                                             head=XF_HEAD + "    mode: direct\n")},
         "c.yaml", "campaigns[0].voice.speed", message="at most 500"),
    # --- provider and mode rules -------------------------------------------
    Case("unknown-profile", {"c.yaml": xf(head=XF_HEAD.replace("provider: iflytek", "provider: ifly  # <-"))},
         "c.yaml", "campaigns[0].provider", message="unknown provider profile 'ifly'"),
    Case("xfyeta-needs-robot", {"c.yaml": xf(body='    lines: ["69101338"]\n',
                                             head=XF_HEAD.replace("  - name: spring", "  - name: spring  # <-"))},
         "c.yaml", "campaigns[0].robot", message="robot_id"),
    Case("xfyeta-needs-lines", {"c.yaml": xf(body='    robot: "719"\n',
                                             head=XF_HEAD.replace("  - name: spring", "  - name: spring  # <-"))},
         "c.yaml", "campaigns[0].lines", message="caller line"),
    Case("xfyeta-empty-lines", {"c.yaml": xf(body='    robot: "719"\n    lines: []  # <-\n')}, "c.yaml",
         "campaigns[0].lines", message="must not be empty"),
    Case("xfyeta-needs-windows", {"c.yaml": xf(schedule='    schedule:  # <-\n'
                                                        '      begin: "2027-03-01T09:00:00+08:00"\n')},
         "c.yaml", "campaigns[0].schedule.windows", message="windows"),
    Case("xfyeta-needs-schedule", {"c.yaml": xf(schedule="",
                                                head=XF_HEAD.replace("  - name: spring", "  - name: spring  # <-"))},
         "c.yaml", "campaigns[0].schedule.begin", message="start time"),
    Case("xfyeta-joined-lines", {"c.yaml": xf(body='    robot: "719"\n    lines:\n      - "1;2"  # <-\n')},
         "c.yaml", "campaigns[0].lines[0]", message="one line_num per item"),
    Case("xfyeta-task-voice-speed", {"c.yaml": xf("    voice:\n      code: \"60030\"\n      speed: 10  # <-\n")},
         "c.yaml", "campaigns[0].voice.speed", message="only works with mode: direct"),
    Case("xfyeta-phone-not-first", {"c.yaml": xf(contacts=CONTACTS.replace(
        "      columns: [客户手机号码, 姓名]", "      columns: [姓名, 客户手机号码]  # <-").replace(
        '[["19900000001", "张先生"]]', '[["张先生", "19900000001"]]'))},
         "c.yaml", "campaigns[0].contacts.columns", message="phone column"),
    Case("direct-with-turbo", {"c.yaml": xf("    turbo: false  # <-\n", schedule="",
                                            head=XF_HEAD + "    mode: direct\n")},
         "c.yaml", "campaigns[0].turbo", message="direct callout has no task"),
    Case("direct-with-recall", {"c.yaml": xf("    recall: {count: 1}  # <-\n", schedule="",
                                             head=XF_HEAD + "    mode: direct\n")},
         "c.yaml", "campaigns[0].recall", message="direct callout has no task"),
    Case("xfyeta-with-yccall-block", {"c.yaml": xf("    yccall:  # <-\n      assign: {type: group, agent: s}\n")},
         "c.yaml", "campaigns[0].yccall", message="yccall profiles"),
    Case("yccall-windows", {"c.yaml": yc("    schedule:\n      windows: [\"09:00-12:00\"]  # <-\n")}, "c.yaml",
         "campaigns[0].schedule.windows", message="no time-of-day windows"),
    Case("yccall-number-time-end-needs-end", {"c.yaml": yc().replace("  - name: follow", "  - name: follow  # <-")},
         "c.yaml", "campaigns[0].schedule.end", message="number_time: end",
         project=PROJECT + "    number_time: end\n"),
    Case("yccall-robot", {"c.yaml": yc("    robot: \"719\"  # <-\n")}, "c.yaml", "campaigns[0].robot"),
    Case("yccall-lines", {"c.yaml": yc("    lines: [\"1\"]  # <-\n")}, "c.yaml", "campaigns[0].lines"),
    Case("yccall-voice", {"c.yaml": yc("    voice: {code: \"1\"}  # <-\n")}, "c.yaml", "campaigns[0].voice"),
    Case("yccall-turbo", {"c.yaml": yc("    turbo: true  # <-\n")}, "c.yaml", "campaigns[0].turbo"),
    Case("yccall-direct", {"c.yaml": yc("    mode: direct  # <-\n")}, "c.yaml", "campaigns[0].mode"),
    Case("yccall-needs-block", {"c.yaml": "version: 1\ncampaigns:\n  - name: follow  # <-\n"
                                          "    provider: callcenter\n"
                                          "    contacts: {columns: [phone], phone_column: phone,"
                                          " sources: [{rows: [[\"17000000001\"]]}]}\n"},
         "c.yaml", "campaigns[0].yccall", message="needs a yccall block"),
    Case("yccall-bad-column", {"c.yaml": yc(contacts="    contacts:\n      columns:\n        - phone\n"
                                                     "        - 姓名  # <-\n      phone_column: phone\n"
                                                     "      sources: [{rows: [[\"17000000001\", \"a\"]]}]\n")},
         "c.yaml", "campaigns[0].contacts.columns[1]", message="nowhere to go"),
    Case("yccall-bad-scale", {"c.yaml": yc().replace('      assign: {type: extension, agent: "8001"}\n',
                                                      '      assign: {type: extension, agent: "8001"}\n'
                                                      '      scale: "1-1"  # <-\n')},
         "c.yaml", "campaigns[0].yccall.scale", message="ratio"),
    Case("yccall-bad-concurrency", {"c.yaml": yc().replace('      assign: {type: extension, agent: "8001"}\n',
                                                            '      assign: {type: extension, agent: "8001"}\n'
                                                            '      concurrency: 0  # <-\n')},
         "c.yaml", "campaigns[0].yccall.concurrency", message="at least 1"),
    Case("yccall-assign-type-unmapped", {"c.yaml": yc().replace(
        '      assign: {type: extension, agent: "8001"}\n',
        '      assign:\n        type: queue  # <-\n        agent: queue-1\n')},
        "c.yaml", "campaigns[0].yccall.assign.type", message="no assign_types code",
        project=PROJECT + "    assign_types: {extension: 1, group: 3}\n"),
    Case("yccall-missing-agent", {"c.yaml": yc().replace('      assign: {type: extension, agent: "8001"}\n',
                                                          '      assign:  # <-\n        type: group\n')},
         "c.yaml", "campaigns[0].yccall.assign.agent", message="missing required key 'agent'"),
    # --- names ----------------------------------------------------------------
    Case("duplicate-name-across-files", {"a.yaml": XF_TASK, "b/c.yaml": XF_TASK.replace("name: spring",
                                                                                        "name: spring  # <-")},
         "b/c.yaml", "campaigns[0].name", message="not unique", extra=[("a.yaml", 3, "campaigns[0].name")]),
    # --- contacts -------------------------------------------------------------
    Case("phone-column-not-in-columns", {"c.yaml": xf(contacts=CONTACTS.replace(
        "      phone_column: 客户手机号码", "      phone_column: 电话  # <-"))},
         "c.yaml", "campaigns[0].contacts.phone_column", message="not one of columns"),
    Case("missing-csv", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: nowhere.csv  # <-\n"))},
         "c.yaml", "campaigns[0].contacts.sources[0].csv", message="not found"),
    Case("csv-name-with-nul", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', '        - csv: "a\\0b.csv"  # <-\n'))},
         "c.yaml", "campaigns[0].contacts.sources[0].csv", message="not found"),
    Case("empty-csv", {"c.yaml": xf(contacts=CONTACTS.replace("    contacts:", "    contacts:  # <-").replace(
        'rows: [["19900000001", "张先生"]]', "csv: empty.csv")), "empty.csv": "客户手机号码,姓名\n"},
         "c.yaml", "campaigns[0].contacts", message="no contacts"),
    Case("all-rows-invalid", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', '        - rows:\n            - ["12345", "x"]  # <-\n'))},
         "c.yaml", "campaigns[0].contacts.sources[0].rows[0][0]", message="invalid phone '12345'",
         extra=[("c.yaml", 10, "campaigns[0].contacts")]),
    Case("inline-row-width", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n',
        '        - rows:\n            - ["19900000002", "a"]\n            - ["19900000001"]  # <-\n'))},
         "c.yaml", "campaigns[0].contacts.sources[0].rows[1]", message="row has 1 values"),
    Case("csv-missing-column", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")),
        "c.csv": "客户手机号码,名字\n19900000001,张\n"}, "c.csv", "", 1, "lacks declared column(s) '姓名'"),
    Case("csv-empty", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")), "c.csv": ""},
         "c.csv", "", 1, "empty", extra=[("c.yaml", 10, "campaigns[0].contacts")]),
    Case("csv-header-only", {"c.yaml": xf(contacts=CONTACTS.replace(
        "    contacts:", "    contacts:  # <-").replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")), "c.csv": "客户手机号码,姓名\n"},
         "c.yaml", "campaigns[0].contacts", message="no contacts"),
    Case("csv-invalid-phone", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")),
        "c.csv": "客户手机号码,姓名\n19900000001,张\n\n1234567,李\n"}, "c.csv", "客户手机号码", 4,
         "invalid phone '1234567'"),
    Case("csv-invalid-11-digits", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")),
        "c.csv": "客户手机号码,姓名\n19900000001,张\n12345678901,李\n00123456789,王\n"}, "c.csv", "客户手机号码", 3,
         "invalid phone '12345678901'", extra=[("c.csv", 4, "客户手机号码")]),
    Case("csv-wrong-field-count", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")),
        "c.csv": "客户手机号码,姓名\n19900000001,张\n19900000002,李,extra\n"}, "c.csv", "", 3,
         "row has 3 fields"),
    Case("csv-gbk-without-encoding", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n")),
        "c.csv": "客户手机号码,姓名\n19900000001,abc\n19900000002,张三\n".encode("gbk").replace(
            "客户手机号码,姓名".encode("gbk"), "客户手机号码,姓名".encode())},
         "c.csv", "", 3, "encoding: gbk"),
    Case("csv-not-gbk", {"c.yaml": xf(contacts=CONTACTS.replace(
        '        - rows: [["19900000001", "张先生"]]\n', "        - csv: c.csv\n          encoding: gbk\n")),
        "c.csv": "客户手机号码,姓名\n19900000001,abc\n".encode("gbk") + b"19900000002,\x81\x20\n"},
         "c.csv", "", 3, "cannot be decoded as gbk"),
    Case("too-many-contacts", {"c.yaml": xf(contacts=CONTACTS.replace("    contacts:", "    contacts:  # <-").replace(
        '[["19900000001", "张先生"]]', '[["19900000001", "a"], ["19900000002", "b"]]'))},
         "c.yaml", "campaigns[0].contacts", message="exceed max_contacts_per_task 1",
         project=PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n",
                                 "    app_secret_env: XFYETA_APP_SECRET\n    max_contacts_per_task: 1\n")),
    # --- project file -----------------------------------------------------------
    Case("project-missing", {"c.yaml": XF_TASK}, "campaignctl.yaml", "", 0, "not found", project=None),
    Case("project-base-url-scheme", {}, "campaignctl.yaml", "providers.iflytek.base_url", 6, "http",
         project=PROJECT.replace("https://www.xfyeta.com", "ftp://www.xfyeta.com")),
    Case("project-base-url-path", {}, "campaignctl.yaml", "providers.iflytek.base_url", 6, "host root",
         project=PROJECT.replace("https://www.xfyeta.com", "https://www.xfyeta.com/openapi/outbound/v1")),
    Case("project-literal-secret", {}, "campaignctl.yaml", "providers.iflytek.app_secret", 9, "app_secret_env",
         project=PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n",
                                 "    app_secret_env: XFYETA_APP_SECRET\n    app_secret: hunter2\n")),
    Case("project-secret-in-env-key", {}, "campaignctl.yaml", "providers.callcenter.accesskey_env", 13, "NAME",
         project=PROJECT.replace("accesskey_env: YCCALL_ACCESSKEY", "accesskey_env: 'sk-live 123'")),
    Case("project-no-credentials", {}, "campaignctl.yaml", "providers.iflytek", 4, "app_key_env",
         project=PROJECT.replace("    app_key_env: XFYETA_APP_KEY\n    app_secret_env: XFYETA_APP_SECRET\n", "")),
    Case("project-half-credentials", {}, "campaignctl.yaml", "providers.iflytek.app_secret_env", 4,
         "required together", project=PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n", "")),
    Case("project-yccall-missing-accesskey", {}, "campaignctl.yaml", "providers.callcenter.accesskey_env", 9,
         "missing required key", project=PROJECT.replace("    accesskey_env: YCCALL_ACCESSKEY\n", "")),
    Case("project-xfyeta-key-on-yccall", {}, "campaignctl.yaml", "providers.callcenter.line_separator", 14,
         "unknown key", project=PROJECT + "    line_separator: \";\"\n"),
    Case("project-bad-type", {}, "campaignctl.yaml", "providers.iflytek.type", 5, "one of",
         project=PROJECT.replace("type: xfyeta", "type: xfyeta2")),
    Case("project-bad-timezone", {}, "campaignctl.yaml", "timezone", 2, "unknown timezone",
         project=PROJECT.replace("Asia/Shanghai", "Mars/Olympus")),
    Case("project-postgres-without-dsn", {}, "campaignctl.yaml", "state.dsn_env", 14, "missing required key",
         project=PROJECT + "state:\n  backend: postgres\n"),
    Case("project-no-providers", {}, "campaignctl.yaml", "providers", 3, "must not be empty",
         project="version: 1\ntimezone: Asia/Shanghai\nproviders: {}\n"),
    Case("project-bad-prefix", {}, "campaignctl.yaml", "providers.iflytek.name_prefix", 9, "1 to 20",
         project=PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n",
                                 "    app_secret_env: XFYETA_APP_SECRET\n    name_prefix: \"has space\"\n")),
    Case("project-refresh-margin", {}, "campaignctl.yaml", "providers.iflytek.refresh_margin", 10, "token_ttl",
         project=PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n",
                                 "    app_secret_env: XFYETA_APP_SECRET\n    token_ttl: 100\n"
                                 "    refresh_margin: 100\n")),
    Case("project-status-map-key", {}, "campaignctl.yaml", "providers.callcenter.status_map.done", 14,
         "integers", project=PROJECT + "    status_map: {done: finished}\n"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_located(case: Case, tmp_path: Path) -> None:
    result = load_files(tmp_path, case.files, project=case.project)
    assert result.state is None
    line = case.line if case.line is not None else marked_line(str(case.files[case.file]))
    found = located(result, tmp_path)
    assert (case.file, line, case.field) in found, "\n".join(map(str, result.problems))
    messages = [p.message for p in errors(result) if p.file.endswith(case.file) and p.line == line]
    assert any(case.message in m for m in messages), messages
    for extra in case.extra:
        assert extra in found, found
    assert not any("internal error" in p.message for p in result.problems)


def test_every_case_id_is_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_declared_empty_rows_are_valid(tmp_path: Path) -> None:
    """`rows: []` says "no contacts" on purpose (an exported task's campaign): not an error."""
    result = load_files(tmp_path, {"c.yaml": xf(contacts=CONTACTS.replace('[["19900000001", "张先生"]]', "[]"))})
    assert result.state is not None, result.problems
    assert len(result.state.campaigns[0].contacts.rows) == 0


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_contact_source_that_is_not_a_regular_file_is_refused_without_reading_it(kind: str, tmp_path: Path) -> None:
    """Sources are opened directly (no exists/is_file first); a directory or a FIFO named as the CSV is
    still refused at its line, and a FIFO with no writer must not make validate wait forever."""
    import os

    from tests.faults.fuzzgen import CaseTimeout, alarm

    text = xf(contacts=CONTACTS.replace('        - rows: [["19900000001", "张先生"]]\n',
                                        "        - csv: c.csv  # <-\n"))
    target = tmp_path / "c.csv"
    if kind == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    try:
        with alarm(10):
            result = load_files(tmp_path, {"c.yaml": text})
    except CaseTimeout:
        pytest.fail("reading the contact source blocked")
    assert result.state is None
    found = [p for p in errors(result) if p.field == "campaigns[0].contacts.sources[0].csv"]
    assert [p.line for p in found] == [marked_line(text)] and "is not a file" in found[0].message, result.problems
