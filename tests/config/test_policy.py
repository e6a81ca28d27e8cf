"""The project ``policy:`` / ``suppress:`` blocks and a campaign's narrowing ``policy:``."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from unittest.mock import patch

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.config import load
from reconciler.config import policy as config_policy
from reconciler.policy import FrequencyCap, mask_phone
from tests.config.fixtures import PROJECT, XF_TASK, errors, load_files, write

POLICY = """\
policy:
  hours:
    mon-fri: ["09:00-12:00", "13:30-20:00"]
    sat: ["10:00-18:00"]
  blackout:
    - "2027-10-01..2027-10-03"
    - "2027-05-01"
    - {file: holidays.txt}
  max_dials: {count: 2, days: 7}
  capacity:
    iflytek: {concurrent_calls: 10, average_call_seconds: 45, answer_rate: 0.4}
suppress:
  - csv: dnc.csv
    column: 号码
    name: national registry
  - numbers: ["19900000009", 13800000000]
  - sha256: hashed.txt
"""

DIRECT = """\
version: 1
campaigns:
  - name: survey
    provider: iflytek
    mode: direct
    robot: "719"
    lines: ["69101338"]
    schedule:
      windows: ["10:00-11:30"]
    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - rows: [["19900000001", "张先生"]]
"""


def task(windows: str = '["10:00-12:00", "13:30-18:00"]', extra: str = "", name: str = "spring",
         number: str = "19900000001") -> str:
    return f"""\
version: 1
campaigns:
  - name: {name}
    provider: iflytek
    robot: "719"
    lines: ["69101338"]
    schedule:
      begin: "2027-03-01T09:00:00+08:00"
      windows: {windows}
{extra}    contacts:
      columns: [客户手机号码, 姓名]
      phone_column: 客户手机号码
      sources:
        - rows: [["{number}", "张先生"]]
"""


def campaign_rows(name: str, numbers: list[int], state: str = "running") -> str:
    """A campaign of ``task`` (without the file's head) whose inline rows are 1990000000N for each N."""
    body = task(name=name).split("campaigns:\n", 1)[1]
    if state != "running":  # (the default: no line, so the lines below stay where they are)
        body = body.replace("    contacts:", f"    state: {state}\n    contacts:")
    cells = ", ".join(f'["1990000000{n}", "x"]' for n in numbers)
    return body.replace('[["19900000001", "张先生"]]', f"[{cells}]")


def files(**extra: str) -> dict[str, str | bytes]:
    digest = hashlib.sha256(b"19900000007").hexdigest()
    out: dict[str, str | bytes] = {
        "campaignctl.yaml": PROJECT + POLICY,
        "holidays.txt": "date,name\n2027-02-11  # spring festival\n2027-02-12,春节\n",
        "dnc.csv": "号码,备注\n199-0000-0008,x\n+86 199 0000 0006,y\n",
        "hashed.txt": f"{digest}\n",
    }
    out.update(extra)
    return out


def test_a_full_policy_is_read(tmp_path: Path) -> None:
    result = load_files(tmp_path, files(**{"c.yaml": task()}))
    assert not errors(result), result.problems
    assert result.state is not None
    policy = result.state.project.policy
    assert policy is not None and policy.timezone == "Asia/Shanghai"
    assert policy.hours is not None
    assert policy.hours.on(0) == ((9 * 3600, 12 * 3600), (13 * 3600 + 1800, 20 * 3600))
    assert policy.hours.on(5) == ((10 * 3600, 18 * 3600),) and policy.hours.on(6) == ()
    assert policy.hours.describe() == "mon-fri 09:00-12:00, 13:30-20:00; sat 10:00-18:00"
    assert policy.blackout == {date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3), date(2027, 5, 1),
                               date(2027, 2, 11), date(2027, 2, 12)}
    assert policy.max_dials == FrequencyCap(2, 7)
    assert policy.capacity["iflytek"].concurrent_calls == 10
    s = policy.suppress
    assert s.label("19900000008") == "national registry" and s.label("19900000006") == "national registry"
    assert s.label("13800000000") == s.label("19900000009") == "do-not-call numbers in campaignctl.yaml"
    assert s.label("19900000007") == "do-not-call digests hashed.txt"
    assert s.label("19900000001") is None
    assert dict(s.sources) == {"national registry": 2, "do-not-call numbers in campaignctl.yaml": 2,
                               "do-not-call digests hashed.txt": 1}
    # every file read counts for the config digest of saved plans
    assert {p.name for p in result.files} >= {"holidays.txt", "dnc.csv", "hashed.txt"}


def test_direct_campaign_accepts_windows(tmp_path: Path) -> None:
    result = load_files(tmp_path, {"c.yaml": DIRECT})
    assert not errors(result), result.problems
    assert result.state is not None
    c = result.state.campaigns[0]
    assert [w.vendor() for w in c.schedule.windows] == ["10:00:00-11:30:00"]


def test_e164_digests_match_the_e164_spelling(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"+8619900000005").hexdigest().upper()
    project = PROJECT + "suppress:\n  - sha256: h.txt\n    form: e164\n"
    result = load_files(tmp_path, {"campaignctl.yaml": project, "h.txt": f"sha256\n{digest}\n", "c.yaml": XF_TASK})
    assert not errors(result), result.problems
    assert result.state is not None and result.state.project.policy is not None
    assert result.state.project.policy.suppress.label("19900000005") is not None


def _messages(result: object) -> list[str]:
    out = []
    for p in errors(result):  # type: ignore[arg-type]
        text = f"{Path(p.file).name}:{p.line}: {p.field}: {p.message}"
        out.append(re.sub(r"/\S*/(campaignctl\.yaml)", r"\1", text))  # other files are named by full path
    return out


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("policy:\n  hours: {mon-fry: [\"09:00-12:00\"]}\n", "campaignctl.yaml:15: policy.hours.mon-fry: key"),
        ("policy:\n  hours: {mon-fri: [\"09:00-12:00\"], fri: [\"13:00-14:00\"]}\n", "fri is given hours twice"),
        ("policy:\n  hours: {mon: [\"12:00-09:00\"]}\n", "does not end after it starts"),
        ("policy:\n  hours: {mon: [\"09:00-12:00\", \"11:00-13:00\"]}\n", "overlap"),
        ("policy:\n  blackout: [\"2027-02-30\"]\n", "campaignctl.yaml:15: policy.blackout[0]: '2027-02-30' is not"),
        ("policy:\n  blackout: [{file: nope.txt}]\n", "blackout file 'nope.txt' not found"),
        ("policy:\n  capacity: {nobody: {concurrent_calls: 1, average_call_seconds: 1, answer_rate: 1}}\n",
         "no provider profile 'nobody'"),
        ("policy:\n  max_dials: {count: 0, days: 7}\n", "policy.max_dials.count: must be at least 1"),
        ("policy:\n  timezone: Mars/Base\n", "unknown timezone"),
        ("suppress:\n  - csv: dnc.csv\n    column: phone\n", "column 'phone' is not in the header"),
        ("suppress:\n  - numbers: [\"12345\"]\n", "campaignctl.yaml:15: suppress[0].numbers[0]: not a valid phone"),
        ("suppress:\n  - csv: dnc.csv\n", "'column' is required together with 'csv'"),
        ("suppress:\n  - sha256: bad.txt\n", "bad.txt:2: : not a SHA-256 hex digest"),
    ],
)
def test_bad_project_policy_is_located(tmp_path: Path, policy: str, expected: str) -> None:
    extra: dict[str, str | bytes] = {
        "campaignctl.yaml": PROJECT + policy, "c.yaml": XF_TASK, "dnc.csv": "号码\n19900000001\n",
        "bad.txt": "0" * 64 + "\nnot-a-digest\n",
    }
    result = load_files(tmp_path, extra)
    assert result.state is None
    assert any(expected in m for m in _messages(result)), _messages(result)


def test_invalid_do_not_call_values_are_counted_never_shown(tmp_path: Path) -> None:
    project = PROJECT + "suppress:\n  - csv: dnc.csv\n    column: 号码\n"
    result = load_files(tmp_path, {"campaignctl.yaml": project, "c.yaml": XF_TASK,
                                   "dnc.csv": "号码\n19900000001\n12345678\n99999\n"})
    assert result.state is not None
    warning = next(p for p in result.problems if p.severity == "warning")
    assert "2 values are not valid phone numbers" in warning.message and "rows 3, 4" in warning.message
    assert "12345678" not in warning.message and "99999" not in warning.message


@pytest.mark.parametrize(
    ("windows", "extra", "expected"),
    [
        # Saturday allows only 10:00-18:00: a weekday-blind task may not dial at 09:00
        ('["09:00-12:00"]', "", "c.yaml:9: campaigns[0].schedule.windows: window(s) 09:00-12:00 leave the calling "
                                "hours of the policy (campaignctl.yaml:15)"),
        ('["10:00-12:00", "13:00-18:00"]', "", "inside the hours of every day that allows calls: 10:00-12:00, "
                                               "13:30-18:00 (allowed: mon-fri 09:00-12:00, 13:30-20:00; sat "
                                               "10:00-18:00)"),
        ('["10:00-12:00"]', "    policy:\n      hours: {mon-fri: [\"08:00-12:00\"]}\n",
         "c.yaml:11: campaigns[0].policy.hours: mon-fri 08:00-12:00 is outside the project's calling hours "
         "(mon-fri 09:00-12:00, 13:30-20:00; sat 10:00-18:00 (campaignctl.yaml:15)); a campaign policy may only "
         "narrow them"),
        ('["10:00-12:00"]', "    policy:\n      hours: {sun: [\"10:00-12:00\"]}\n",
         "sun 10:00-12:00 is outside the project's calling hours"),
        ('["10:00-12:00"]', "    policy:\n      max_dials: {count: 3, days: 7}\n",
         "campaigns[0].policy.max_dials: max_dials 3 per 7 days is looser than the project's 2 per 7 days"),
        ('["10:00-12:00"]', "    policy:\n      max_dials: {count: 2, days: 1}\n", "looser than"),
        ('["10:00-12:00"]', "    policy:\n      timezone: UTC\n", "campaigns[0].policy.timezone: unknown key"),
        # a campaign's own hours: its windows must fit them
        ('["10:00-12:00"]', "    policy:\n      hours: {mon-fri: [\"10:00-11:00\"]}\n",
         "c.yaml:9: campaigns[0].schedule.windows: window(s) 10:00-12:00 leave the calling hours of the policy "
         "(line 11)"),
    ],
)
def test_campaign_windows_and_narrowing(tmp_path: Path, windows: str, extra: str, expected: str) -> None:
    result = load_files(tmp_path, files(**{"c.yaml": task(windows, extra)}))
    assert result.state is None
    assert any(expected in m for m in _messages(result)), _messages(result)


def test_narrowing_is_allowed(tmp_path: Path) -> None:
    extra = ("    policy:\n      hours: {mon-wed: [\"10:00-11:00\"]}\n      blackout: [\"2027-03-08\"]\n"
             "      max_dials: {count: 1, days: 14}\n")
    result = load_files(tmp_path, files(**{"c.yaml": task('["10:00-11:00"]', extra)}))
    assert not errors(result), result.problems
    assert result.state is not None
    c = result.state.campaigns[0]
    assert c.policy is not None and c.policy.max_dials == FrequencyCap(1, 14)
    assert c.policy.hours is not None and c.policy.hours.allowed_days == (0, 1, 2)
    assert c.policy.blackout == {date(2027, 3, 8)}
    project = result.state.project.policy
    assert project is not None and project.caps(c.policy) == (FrequencyCap(2, 7), FrequencyCap(1, 14))
    effective = project.effective(c.policy)
    assert effective.hours == c.policy.hours and date(2027, 3, 8) in effective.blackout
    assert date(2027, 5, 1) in effective.blackout


def test_direct_windows_outside_every_day_are_refused(tmp_path: Path) -> None:
    result = load_files(tmp_path, files(**{"c.yaml": DIRECT.replace("10:00-11:30", "07:00-08:00")}))
    assert any("07:00-08:00 lie outside the calling hours of every day" in m for m in _messages(result))
    # inside Monday's hours (though not Saturday's): fine, campaignctl checks the day when it dials
    result = load_files(tmp_path / "ok", files(**{"c.yaml": DIRECT.replace("10:00-11:30", "09:00-10:00")}))
    assert not errors(result), result.problems


def test_numbers_in_two_running_campaigns_are_a_warning(tmp_path: Path) -> None:
    both = task(name="a") + task(name="b").split("campaigns:\n", 1)[1]
    result = load_files(tmp_path, files(**{"c.yaml": both}))
    assert result.state is not None
    warnings = [p for p in result.problems if p.severity == "warning" and "other running campaigns" in p.message]
    assert len(warnings) == 2
    assert "1 contacts are also in other running campaigns (1 with 'b' (line 15))" in warnings[0].message
    assert "19900000001" not in warnings[0].message


def test_a_number_in_several_running_campaigns_counts_against_the_first_that_has_it(tmp_path: Path) -> None:
    """a: 1 2 3, b: 2 3 4, c: 3 4 5 (and 8, which the do-not-call list holds: it counts for none).
    Each shared number is counted once per later campaign, against the first campaign that has it."""
    text = ("version: 1\ncampaigns:\n" + campaign_rows("a", [1, 2, 3, 8]) + campaign_rows("b", [2, 3, 4, 8])
            + campaign_rows("c", [3, 4, 5, 8]))
    result = load_files(tmp_path, files(**{"c.yaml": text}))
    assert result.state is not None, result.problems
    found = {p.line: p.message for p in result.problems if "other running campaigns" in p.message}
    assert [m.split(" contacts")[0] for _, m in sorted(found.items())] == ["3", "3", "2"]
    a, b, c = (found[line] for line in sorted(found))
    assert "(2 with 'b' (line 15), 1 with 'c' (line 27))" in a
    assert "(2 with 'a' (line 3), 1 with 'c' (line 27))" in b
    assert "(1 with 'a' (line 3), 1 with 'b' (line 15))" in c
    # the desired state says which numbers are in several tables (the do-not-call one too), for the caps,
    # while they are at most a quarter of all (here 4 of 12: more, so not kept)
    assert result.state.shared is None
    with patch.object(config_policy, "SHARED_KEPT", 0.5):
        kept = load(tmp_path)
    shared = kept.state.shared if kept.state is not None else None
    assert shared is not None and set(shared.tables) == {"a", "b", "c"}
    assert shared.numbers == {f"1990000000{n}" for n in (2, 3, 4, 8)}
    # findings replayed from the parse cache: not known
    first = load(tmp_path, cache={})
    again = load(tmp_path, cache={d.key: d for d in first.parsed})
    assert again.state is not None and again.problems == first.problems and again.state.shared is None


def test_numbers_in_two_running_campaigns_with_unique_are_an_error(tmp_path: Path) -> None:
    both = task(name="a") + task(name="b").split("campaigns:\n", 1)[1]
    project = PROJECT + POLICY.replace("policy:\n", "policy:\n  unique_across_campaigns: true\n")
    result = load_files(tmp_path, files(**{"campaignctl.yaml": project, "c.yaml": both}))
    assert result.state is None
    assert any("unique_across_campaigns is true" in m for m in _messages(result))
    # a suppressed number does not count: it is dialed by neither
    both = task(name="a", number="19900000008") + task(name="b", number="19900000008").split("campaigns:\n", 1)[1]
    result = load_files(tmp_path / "s", files(**{"campaignctl.yaml": project, "c.yaml": both}))
    assert result.state is not None, result.problems


def test_mask_phone() -> None:
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("01012345678") == "010****5678"


def test_validate_shows_suppression_and_the_forecast(tmp_path: Path) -> None:
    rows = '        - rows: [["19900000008", "张先生"], ["19900000002", "李"]]'
    two = task(number="19900000008").replace('        - rows: [["19900000008", "张先生"]]', rows)
    two = two.replace("      windows:", '      end: "2027-03-01T09:30:00+08:00"\n      windows:')
    root = write(tmp_path / "cfg", files(**{"c.yaml": two}))
    env = {"CAMPAIGNCTL_NOW": "2027-03-01T08:00:00+08:00"}
    result = CliRunner().invoke(cli, ["validate", str(root)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "spring: 1 contact suppressed (national registry 1); forecast: 1 contact to dial" in result.output
    assert "after schedule.end 2027-03-01 09:30" in result.output  # a late forecast is a warning
    assert "19900000008" not in result.output
    result = CliRunner().invoke(cli, ["validate", str(root), "--format", "json"], env=env, catch_exceptions=False)
    [c] = json.loads(result.output)["campaigns"]
    assert c["suppressed"] == 1 and c["suppressed_by"] == {"national registry": 1}
    assert c["forecast"]["contacts"] == 1 and c["forecast"]["start"] == "2027-03-01T09:00:00+08:00"


def test_task_windows_in_another_timezone_than_the_hours_are_refused(tmp_path: Path) -> None:
    project = PROJECT.replace("    app_secret_env: XFYETA_APP_SECRET\n",
                              "    app_secret_env: XFYETA_APP_SECRET\n    timezone: Europe/Berlin\n", 1)
    result = load_files(tmp_path, files(**{"campaignctl.yaml": project + POLICY, "c.yaml": task()}))
    assert any("read in the profile's timezone Europe/Berlin but the calling hours in Asia/Shanghai" in m
               for m in _messages(result)), _messages(result)


@pytest.mark.parametrize("apart", [True, False])
def test_findings_replayed_from_the_cache_still_say_when_the_running_tables_share_no_number(
        tmp_path: Path, apart: bool) -> None:
    """The check across running campaigns is replayed from the parse cache while nothing it depends on
    changed; beside its findings it keeps whether the tables share no number at all (no warning does not
    say that: a shared do-not-call number gives none), so the plan's caps need not look every number up."""
    dnc = [] if apart else [8]  # on the do-not-call list (dnc.csv)
    text = "version: 1\ncampaigns:\n" + campaign_rows("a", [1, 2, 3, *dnc]) + campaign_rows("b", [4, 5, 9, *dnc])
    result = load_files(tmp_path, files(**{"c.yaml": text}))
    assert result.state is not None and not [p for p in result.problems if "other running" in p.message]
    assert result.state.shared is not None
    assert result.state.shared.numbers == ({"19900000008"} if dnc else set())
    first = load(tmp_path, cache={})
    assert first.state is not None and first.state.shared == result.state.shared
    cache = {d.key: d for d in first.parsed}
    again = load(tmp_path, cache=cache)
    assert again.state is not None and again.problems == first.problems
    if apart:
        assert again.state.shared == first.state.shared
        assert again.state.shared is not None and set(again.state.shared.tables) == {"a", "b"}
        # a cache an earlier build wrote keeps the findings only
        old = {k: d for k, d in cache.items() if not k.endswith(config_policy.APART)}
        assert len(old) == len(cache) - 1
        assert load(tmp_path, cache=old).state.shared is None  # type: ignore[union-attr]
    else:
        assert again.state.shared is None


@pytest.mark.parametrize("sharing", [False, True])
def test_replayed_findings_cover_a_paused_campaign_only_when_it_was_found_apart(tmp_path: Path,
                                                                                sharing: bool) -> None:
    text = ("version: 1\ncampaigns:\n" + campaign_rows("a", [1, 2, 3]) + campaign_rows("b", [4, 5, 9])
            + campaign_rows("p", [3 if sharing else 0], state="paused"))
    first = load_files(tmp_path, files(**{"c.yaml": text}))
    assert first.state is not None and [c.state for c in first.state.campaigns] == ["running", "running", "paused"]
    fresh = load(tmp_path, cache={})
    cache = {d.key: d for d in fresh.parsed}
    again = load(tmp_path, cache=cache)
    for result in (first, fresh, again):
        shared = result.state.shared if result.state is not None else None
        assert shared is not None and not shared.numbers
        assert set(shared.tables) == ({"a", "b"} if sharing else {"a", "b", "p"})
