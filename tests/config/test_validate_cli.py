"""`campaignctl validate`: exit codes, text and JSON output, GitHub annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.config.fixtures import XF_TASK, YC_TASK, write

BAD = XF_TASK.replace('windows: ["09:00-12:00", "13:30-20:00"]', 'windows: ["25:00-26:00"]')
DUP = XF_TASK.replace('[["19900000001", "张先生"]]', '[["19900000001", "张先生"], ["199-0000-0001", "李"]]')


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_valid_directory_exits_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"a.yaml": XF_TASK, "b.yaml": YC_TASK})
    monkeypatch.chdir(tmp_path)
    code, out = invoke(".")
    assert code == 0
    assert out.strip().splitlines() == ["2 campaigns, 2 contacts valid"]


def test_invalid_directory_prints_every_problem_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "cfg", {"campaigns/a.yaml": BAD, "campaigns/b.yaml": "version: 3\n"})
    monkeypatch.chdir(tmp_path)
    code, out = invoke(str(tmp_path / "cfg"))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines == [
        "cfg/campaigns/a.yaml:9: campaigns[0].schedule.windows[0]: window '25:00-26:00': '25:00' is not a time "
        "of day between 00:00 and 24:00 (HH:MM or HH:MM:SS)",
        "cfg/campaigns/b.yaml:1: version: unsupported version 3: this campaignctl reads version 1",
        "2 errors, 0 warnings",
    ]


def test_warnings_do_not_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"a.yaml": DUP})
    monkeypatch.chdir(tmp_path)
    code, out = invoke()
    assert code == 0
    assert out.splitlines()[0].startswith("a.yaml:14: campaigns[0].contacts.sources[0].rows[1][0]: warning: duplicate")
    assert out.splitlines()[-1] == "1 campaign, 1 contacts valid (1 warning)"


def test_github_actions_annotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"a.yaml": BAD, "b.yaml": DUP.replace("name: spring", "name: other")})
    monkeypatch.chdir(tmp_path)
    code, out = invoke(".", env={"GITHUB_ACTIONS": "true"})
    assert code == 1
    annotations = [line for line in out.splitlines() if line.startswith("::")]
    assert annotations == [
        "::error file=a.yaml,line=9::campaigns[0].schedule.windows[0]: window '25:00-26:00': '25:00' is not "
        "a time of day between 00:00 and 24:00 (HH:MM or HH:MM:SS)",
        "::warning file=b.yaml,line=14::campaigns[0].contacts.sources[0].rows[1][0]: duplicate phone number "
        "(first at line 14); row dropped, the first row wins",
    ]


def test_no_annotations_outside_github(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BAD})
    code, out = invoke(str(tmp_path))
    assert code == 1 and "::error" not in out


def test_annotation_escaping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file name with ``,`` ``:`` ``%`` is escaped as a property; the message's ``%`` as data; one line each."""
    write(tmp_path / "a,b:c%d", {"x.yaml": "version: 1\ncampaigns:\n  - name: [x\n"})
    monkeypatch.chdir(tmp_path)
    code, out = invoke("a,b:c%d", env={"GITHUB_ACTIONS": "true"})
    assert code == 1
    annotations = [x for x in out.splitlines() if x.startswith("::")]
    assert annotations == [
        "::error file=a%2Cb%3Ac%25d/x.yaml,line=4::malformed YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 3)"
    ]


def test_annotation_escapes_newlines_and_percent_in_messages() -> None:
    from reconciler.commands.validate import _annotation
    from reconciler.errors import Problem

    line = _annotation(Problem("d/a,b:c.yaml", 7, "campaigns[0].name", "100% wrong\nsecond line\r", "warning"))
    assert line == "::warning file=d/a%2Cb%3Ac.yaml,line=7::campaigns[0].name: 100%25 wrong%0Asecond line%0D"
    assert line.splitlines() == [line]


def test_json_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"a.yaml": DUP, "b.yaml": YC_TASK})
    monkeypatch.chdir(tmp_path)
    code, out = invoke(".", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["format_version"] == 1 and data["valid"] is True
    assert [(p["file"], p["line"], p["severity"]) for p in data["problems"]] == [("a.yaml", 14, "warning")]
    assert set(data["problems"][0]) == {"file", "line", "field", "message", "severity"}
    by_name = {c["name"]: c for c in data["campaigns"]}
    assert by_name["spring"]["provider"] == "iflytek" and by_name["spring"]["mode"] == "task"
    assert by_name["spring"]["contacts"] == 1 and by_name["follow"]["provider"] == "callcenter"


def test_json_format_invalid(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BAD})
    code, out = invoke(str(tmp_path), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["valid"] is False and data["campaigns"] == []
    assert data["problems"][0]["field"] == "campaigns[0].schedule.windows[0]"
    assert data["problems"][0]["line"] == 9


def test_missing_directory(tmp_path: Path) -> None:
    code, out = invoke(str(tmp_path / "missing"))
    assert code == 1 and "not found" in out


def test_main_entry_point_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli import main

    write(tmp_path, {"a.yaml": BAD})
    with pytest.raises(SystemExit) as caught:
        main(["validate", str(tmp_path)])
    assert caught.value.code == 1
    assert "Traceback" not in capsys.readouterr().err


def test_json_format_stays_parseable_in_github_actions(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BAD})
    result = CliRunner().invoke(cli, ["validate", str(tmp_path), "--format", "json"],
                                env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["valid"] is False
    assert result.stderr.startswith("::error file=")
