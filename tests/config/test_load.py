"""Good directories: discovery, the model values built, defaults, warnings that do not fail."""

from __future__ import annotations

import pickle
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reconciler.config import load, load_or_raise
from reconciler.config.contacts import REPORT_CAP
from reconciler.config.table import ContactTable
from reconciler.errors import ConfigError
from reconciler.model import ContactRow, TimeWindow
from reconciler.vendors.yccall import YccallSettings
from tests.config.fixtures import PROJECT, XF_TASK, YC_TASK, errors, load_files, write

CST = timezone(timedelta(hours=8))

CSV_CAMPAIGN = """\
version: 1
campaigns:
  - name: {name}
    provider: iflytek
    robot: "719"
    lines: ["69101338"]
    schedule:
      begin: "2027-03-01T09:00:00+08:00"
      windows: ["09:00-12:00"]
    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - csv: {csv}
{extra}"""


def csv_campaign(name: str = "spring", csv: str = "c.csv", extra: str = "") -> str:
    return CSV_CAMPAIGN.format(name=name, csv=csv, extra=extra)


def test_minimal_xfyeta_and_yccall_campaigns(tmp_path: Path) -> None:
    result = load_files(tmp_path, {"campaigns/a.yaml": XF_TASK, "campaigns/b.yml": YC_TASK})
    assert result.problems == ()
    state = result.state
    assert state is not None
    spring, follow = sorted(state.campaigns, key=lambda c: c.name != "spring")
    assert spring.provider_type == "xfyeta" and spring.mode == "task" and spring.state == "running"
    assert spring.robot == "719" and spring.lines == ("69101338",)
    assert spring.schedule.begin == datetime(2027, 3, 1, 9, tzinfo=CST)
    assert spring.schedule.windows == (TimeWindow(time(9), time(12)), TimeWindow(time(13, 30), time(20)))
    assert spring.mark.line == 3 and spring.mark.file.endswith("a.yaml")
    assert list(spring.contacts.rows) == [ContactRow("19900000001", ("19900000001", "张先生"),
                                                     spring.mark.file, 14)]
    assert follow.provider_type == "yccall" and isinstance(follow.vendor, YccallSettings)
    assert (follow.vendor.assign_type, follow.vendor.agent, follow.vendor.scale) == ("extension", "8001", "1:1")
    assert follow.recall.mode == "unanswered"
    assert set(result.files) == {tmp_path / "campaignctl.yaml", tmp_path / "campaigns/a.yaml",
                                 tmp_path / "campaigns/b.yml"}


def test_profile_options_have_every_default(tmp_path: Path) -> None:
    state = load_or_raise(write(tmp_path, {"a.yaml": XF_TASK}))
    xf = state.project.providers["iflytek"]
    yc = state.project.providers["callcenter"]
    assert xf.credentials_env == {"app_key": "XFYETA_APP_KEY", "app_secret": "XFYETA_APP_SECRET"}
    assert yc.credentials_env == {"appid": "YCCALL_APPID", "accesskey": "YCCALL_ACCESSKEY"}
    for key, value in {"name_prefix": "gitops-", "connect_timeout": 5, "read_timeout": 30, "retries": 4,
                       "rate_limit": None, "timezone": "Asia/Shanghai", "line_separator": ";", "token_ttl": 3600,
                       "refresh_margin": 300, "check_references": True, "max_contacts_per_task": None,
                       "list_deleted": True, "listing_parallelism": 4}.items():
        assert xf.options[key] == value, key
    assert yc.options["assign_types"] == {"extension": 1, "queue": 2, "group": 3}
    assert yc.options["status_map"] == {1025: "not-started", 1026: "running", 1027: "paused", 1028: "finished"}
    assert yc.options["list_status_filter"] == {"not-started": 0, "running": 1, "paused": 2, "finished": 3}
    assert (yc.options["body_encoding"], yc.options["page_size"], yc.options["max_numbers_per_call"]) == (
        "form", 100, 10000)
    assert yc.options["phone_as_number"] is False and yc.options["customtaskid_prefix"] == "gitops-"
    assert state.project.state.backend == "sqlite"
    assert state.project.state.path == (tmp_path / ".campaignctl/state.db").absolute()
    assert state.project.timezone == "Asia/Shanghai" and state.project.prune is False


def test_profile_overrides(tmp_path: Path) -> None:
    project = PROJECT.replace("    app_key_env: XFYETA_APP_KEY\n    app_secret_env: XFYETA_APP_SECRET\n",
                              "    token_env: XFYETA_TOKEN\n    line_separator: \",\"\n    timezone: UTC\n"
                              "    name_prefix: team-a.\n    rate_limit: 2.5\n")
    project += "    status_map: {1: running, 2: finished}\n    customtaskid_prefix: cc-\n"
    project += "state:\n  backend: postgres\n  dsn_env: CAMPAIGNCTL_PG_DSN\nprune: true\n"
    state = load_or_raise(write(tmp_path, {"a.yaml": XF_TASK}, project=project))
    xf = state.project.providers["iflytek"]
    assert xf.credentials_env == {"token": "XFYETA_TOKEN"}
    assert (xf.name_prefix, xf.options["line_separator"], xf.options["timezone"], xf.options["rate_limit"]) == (
        "team-a.", ",", "UTC", 2.5)
    yc = state.project.providers["callcenter"].options
    assert yc["status_map"] == {1: "running", 2: "finished"} and yc["customtaskid_prefix"] == "cc-"
    assert state.project.state.backend == "postgres" and state.project.state.dsn_env == "CAMPAIGNCTL_PG_DSN"
    assert state.project.prune is True


def test_csv_sources_encodings_and_normalisation(tmp_path: Path) -> None:
    rows = ("客户手机号码,姓名,备注\r\n139-1234-5678,张三,x\r\n+86 170 0000 0001,李四,\r\n"
            "\r\n,,\r\n0551-69101407,王五,\r\n")
    files: dict[str, str | bytes] = {
        "utf8bom/a.yaml": csv_campaign("bom"),
        "utf8bom/c.csv": b"\xef\xbb\xbf" + rows.encode("utf-8"),
        "gbk/a.yaml": csv_campaign("gbk", extra="          encoding: gbk\n"),
        "gbk/c.csv": rows.encode("gbk"),
        "gb18030/a.yaml": csv_campaign("gb18030", extra="          encoding: GB18030\n"),
        "gb18030/c.csv": rows.replace("王五", "王𠀀").encode("gb18030"),
        "semi/a.yaml": csv_campaign("semi", extra="          delimiter: \";\"\n"),
        "semi/c.csv": rows.replace(",", ";").encode("utf-8"),
    }
    result = load_files(tmp_path, files)
    assert result.problems == ()
    assert result.state is not None
    for c in result.state.campaigns:
        assert [r.values for r in c.contacts.rows][:2] == [("13912345678", "张三"), ("17000000001", "李四")], c.name
        assert [r.row for r in c.contacts.rows] == [2, 3, 6]  # physical lines; blank rows skipped
        assert c.contacts.rows[2].phone in ("055169101407",)
        assert c.contacts.rows[0].source.endswith("c.csv")
    assert result.state.campaign("gb18030").contacts.rows[2].values[1] == "王𠀀"  # type: ignore[union-attr]
    assert sum(1 for f in result.files if f.name == "c.csv") == 4


def test_csv_columns_are_picked_by_header_name(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"a.yaml": csv_campaign(), "c.csv": "备注,姓名,客户手机号码\nx,张三,13912345678\n"}
    state = load_or_raise(write(tmp_path, files))
    assert state.campaigns[0].contacts.rows[0].values == ("13912345678", "张三")


def test_duplicates_are_warnings_first_wins(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "a.yaml": csv_campaign(extra="        - rows:\n            - [\"139 1234 5678\", 重复]\n"),
        "c.csv": "客户手机号码,姓名\n13912345678,张三\n13912345678,李四\n",
    }
    result = load_files(tmp_path, files)
    assert result.state is not None
    assert errors(result) == []
    warnings = [(Path(p.file).name, p.line) for p in result.warnings]
    assert warnings == [("a.yaml", 16), ("c.csv", 3)]
    assert all("c.csv:2)" in p.message or "first at line 2" in p.message for p in result.warnings)
    assert [r.values for r in result.state.campaigns[0].contacts.rows] == [("13912345678", "张三")]


def test_invalid_rows_are_capped_per_source(tmp_path: Path) -> None:
    lines = ["客户手机号码,姓名"] + [f"12{i:09d},x" for i in range(REPORT_CAP + 25)] + ["13912345678,ok"]
    result = load_files(tmp_path, {"a.yaml": csv_campaign(), "c.csv": "\n".join(lines) + "\n"})
    assert result.state is None
    csv_errors = [p for p in errors(result) if p.file.endswith("c.csv")]
    assert len(csv_errors) == REPORT_CAP + 1
    summary = [p for p in csv_errors if p.line == 0]
    assert summary and f"{REPORT_CAP + 25} invalid rows" in summary[0].message
    assert [p.line for p in csv_errors if p.line][:3] == [2, 3, 4]


def test_times_without_offset_use_project_timezone(tmp_path: Path) -> None:
    text = XF_TASK.replace('begin: "2027-03-01T09:00:00+08:00"', 'begin: "2027-03-01 09:00"\n      end: 2027-03-02')
    text = text.replace('windows: ["09:00-12:00", "13:30-20:00"]', 'windows: ["00:00-08:00:30", "20:00-24:00"]')
    project = PROJECT.replace("Asia/Shanghai", "Europe/Berlin")
    state = load_or_raise(write(tmp_path, {"a.yaml": text}, project=project))
    sched = state.campaigns[0].schedule
    assert sched.begin == datetime(2027, 3, 1, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert sched.end == datetime(2027, 3, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    assert [w.vendor() for w in sched.windows] == ["00:00:00-08:00:30", "20:00:00-23:59:59"]


def test_direct_mode_and_voice(tmp_path: Path) -> None:
    text = """\
    version: 1
    campaigns:
      - name: survey
        provider: iflytek
        mode: direct
        robot: 721
        lines: [055169101407]
        voice: {code: 60120, speed: -120}
        state: paused
        lifecycle: {prevent_destroy: true}
        contacts:
          columns: [客户手机号码]
          phone_column: 客户手机号码
          after_start: error
          sources:
            - rows: [[19900000001], ["0086 199 0000 0002"]]
    """
    state = load_or_raise(write(tmp_path, {"a.yaml": text}))
    c = state.campaigns[0]
    assert (c.mode, c.robot, c.lines, c.state) == ("direct", "721", ("055169101407",), "paused")
    assert c.voice is not None and (c.voice.code, c.voice.speed) == ("60120", -120)
    assert c.lifecycle.prevent_destroy and not c.lifecycle.allow_replace
    assert c.contacts.after_start == "error"
    assert [r.phone for r in c.contacts.rows] == ["19900000001", "19900000002"]
    assert c.schedule.begin is None and c.schedule.windows == ()


def test_discovery_skips_hidden_and_state_dirs(tmp_path: Path) -> None:
    garbage = "this: is: not: yaml: ["
    files: dict[str, str | bytes] = {
        "a.yaml": XF_TASK,
        ".campaignctl/junk.yaml": garbage,
        ".git/x.yml": garbage,
        "sub/.hidden.yaml": garbage,
        ".pre-commit-config.yaml": garbage,
        "notes.txt": garbage,
        "contacts/readme.md": garbage,
    }
    result = load_files(tmp_path, files)
    assert result.problems == () and result.state is not None


def test_directory_and_project_file_problems(tmp_path: Path) -> None:
    missing = load(tmp_path / "nope")
    assert missing.state is None and "not found" in missing.problems[0].message
    write(tmp_path / "d", {"a.yaml": XF_TASK})
    by_file = load(tmp_path / "d" / "campaignctl.yaml")  # the project file itself is accepted
    assert by_file.state is not None
    (tmp_path / "d" / "campaignctl.yml").write_text(PROJECT, encoding="utf-8")
    both = load(tmp_path / "d")
    assert both.state is None and "keep one" in both.problems[0].message


def test_load_or_raise_carries_all_problems(tmp_path: Path) -> None:
    bad = XF_TASK.replace('"719"', "[719]") + "  - name: other\n"
    write(tmp_path, {"a.yaml": bad})
    with pytest.raises(ConfigError) as caught:
        load_or_raise(tmp_path)
    assert len(caught.value.problems) >= 3
    assert list(caught.value.problems) == sorted(caught.value.problems)


def test_absent_campaign_may_have_no_rows(tmp_path: Path) -> None:
    text = XF_TASK.replace('- rows: [["19900000001", "张先生"]]', "- rows: []") + "    state: absent\n"
    state = load_or_raise(write(tmp_path, {"a.yaml": text}))
    assert state.campaigns[0].state == "absent" and len(state.campaigns[0].contacts.rows) == 0


def test_contact_table_behaves_like_a_tuple(tmp_path: Path) -> None:
    n = 2600  # more than two chunks
    lines = ["客户手机号码,姓名"] + [f"1990{i:07d},名{i}" for i in range(n)]
    files: dict[str, str | bytes] = {
        "a.yaml": csv_campaign(extra="        - rows: [[\"17000000001\", 尾]]\n"),
        "c.csv": "\n".join(lines) + "\n",
    }
    state = load_or_raise(write(tmp_path, files))
    table = state.campaigns[0].contacts.rows
    assert isinstance(table, ContactTable)
    as_tuple = tuple(table)
    assert len(table) == len(as_tuple) == n + 1
    assert table[0] == as_tuple[0] and table[-1] == as_tuple[-1] and table[1500] == as_tuple[1500]
    assert table[-1].source.endswith("a.yaml") and table[-2].source.endswith("c.csv")
    assert table[1024:1030] == as_tuple[1024:1030]
    assert table == as_tuple and as_tuple == tuple(table)
    assert list(table.phones())[:2] == ["19900000000", "19900000001"]
    assert pickle.loads(pickle.dumps(table)) == table
    assert hash(table) == hash(pickle.loads(pickle.dumps(table)))
    assert table[5].fingerprint == ContactRow("x", table[5].values, "y", 0).fingerprint
    with pytest.raises(IndexError):
        table[n + 1]


def test_fingerprints_are_stable_across_loads(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": XF_TASK})
    first = [r.fingerprint for r in load_or_raise(tmp_path).campaigns[0].contacts.rows]
    second = [r.fingerprint for r in load_or_raise(tmp_path).campaigns[0].contacts.rows]
    assert first == second and len(first[0]) == 32
    assert load_or_raise(tmp_path).campaigns[0].settings_fingerprint() == \
        load_or_raise(tmp_path).campaigns[0].settings_fingerprint()


def test_duplicates_across_batches_keep_file_order(tmp_path: Path) -> None:
    phones = [f"1990{i:07d}" for i in range(5000)]
    phones[4500] = phones[10]  # a repeat in a later batch
    phones[20] = "+86 199 0000 0011"  # normalises to phones[11]
    body = "\n".join(f"{p},n{i}" for i, p in enumerate(phones))
    result = load_files(tmp_path, {"a.yaml": csv_campaign(), "c.csv": "客户手机号码,姓名\n" + body + "\n"})
    assert result.state is not None
    assert [(p.line, p.severity) for p in result.problems] == [(22, "warning"), (4502, "warning")]
    rows = result.state.campaigns[0].contacts.rows
    assert len(rows) == 4998
    assert rows[10].values == ("19900000010", "n10") and rows[10].row == 12


@pytest.mark.parametrize(("windows", "begin", "message"), [
    ('["09:00-12:00", "11:00-13:00"]', "2027-03-01T09:00:00+08:00", "overlaps"),
    ('["13:00-14:00", "09:00-12:00"]', "2027-03-01T09:00:00+08:00", "must be in order"),
    ('["09:00-25:00"]', "2027-03-01T09:00:00+08:00", "is not a time of day"),
    ('["09:00-12:00"]', "2027-02-30T09:00:00", "is not a valid date-time"),
])
def test_a_schedule_repeated_by_many_campaigns_is_reported_at_each(tmp_path: Path, windows: str, begin: str,
                                                                   message: str) -> None:
    """Campaigns that repeat one schedule share its check (built once); a faulty one is still reported
    at every campaign that has it, and a campaign with a good one next to them is built."""
    good = XF_TASK.split("campaigns:\n", 1)[1]
    bad = good.replace('windows: ["09:00-12:00", "13:30-20:00"]', f"windows: {windows}").replace(
        '"2027-03-01T09:00:00+08:00"', f'"{begin}"')
    assert bad != good
    body = "version: 1\ncampaigns:\n" + "".join(
        text.replace("name: spring", f"name: c{i}").replace("19900000001", f"1990000000{i}")
        for i, text in enumerate([good, bad, good, bad]))
    result = load_files(tmp_path, {"campaigns/c.yaml": body})
    found = [p for p in errors(result) if message in p.message]
    assert [p.field.split(".")[0] for p in found] == ["campaigns[1]", "campaigns[3]"]
    assert len({p.line for p in found}) == 2
    clean = load_files(tmp_path / "clean", {"campaigns/c.yaml": "version: 1\ncampaigns:\n" + "".join(
        good.replace("name: spring", f"name: c{i}").replace("19900000001", f"1990000000{i}") for i in range(2))})
    assert clean.state is not None
    first, second = clean.state.campaigns
    assert first.schedule == second.schedule and first.schedule.windows[1] == TimeWindow(time(13, 30), time(20))


def test_a_name_repeated_by_many_campaigns_lists_a_few_of_the_others_at_each(tmp_path: Path) -> None:
    """A generated file that gives 3,000 campaigns one name used to list the 2,999 others at each: 9 million
    locations, 106 MB of output and 10 s. Each now names the first few and counts the rest."""
    good = XF_TASK.split("campaigns:\n", 1)[1]
    count = 400
    body = "version: 1\ncampaigns:\n" + "".join(good.replace("19900000001", f"199{i:08d}") for i in range(count))
    result = load_files(tmp_path, {"campaigns/c.yaml": body})
    found = [p for p in errors(result) if "is not unique" in p.message]
    assert len(found) == count and len({p.line for p in found}) == count
    for p in found:
        assert p.message.count("line ") == 5, p.message
        assert p.message.endswith(f" and {count - 1 - 5} more)"), p.message
        assert f"line {p.line}," not in p.message and not p.message.endswith(f"line {p.line})")  # never itself
    # two or a few: every other one, and nothing counted
    few = load_files(tmp_path / "few", {"campaigns/c.yaml": "version: 1\ncampaigns:\n" + good + good.replace(
        "19900000001", "19900000002")})
    pair = [p.message for p in errors(few) if "is not unique" in p.message]
    assert len(pair) == 2 and all("more" not in m and m.count("line ") == 1 for m in pair)


def test_each_campaign_is_marked_at_its_own_line(tmp_path: Path) -> None:
    """The campaigns' lines are looked up once per file (``item_lines``), each at its entry."""
    good = XF_TASK.split("campaigns:\n", 1)[1]
    body = "version: 1\ncampaigns:\n\n  # a comment\n" + "".join(
        good.replace("name: spring", f"name: c{i}").replace("19900000001", f"1990000000{i}") + "\n" * i
        for i in range(4))
    result = load_files(tmp_path, {"campaigns/c.yaml": body})
    assert result.state is not None
    expected = [n for n, text in enumerate(body.splitlines(), start=1) if text.startswith("  - name: c")]
    assert [c.mark.line for c in result.state.campaigns] == expected and len(expected) == 4
