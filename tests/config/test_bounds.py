"""Numbers no setting can take are located problems (exit 1), never a crash later (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import campaigns, phones, project, run_cli, write_csv, xf_task


@pytest.mark.parametrize(("option", "word"), [
    ("connect_timeout: .nan", "finite"),
    ("connect_timeout: 1e30", "at most"),
    ("read_timeout: .inf", "finite"),
    ("rate_limit: 1e-9", "at least"),
    ("rate_limit: .nan", "finite"),
    ("refresh_margin: 1e30", "at most"),
    ("token_ttl: 1e30", "at most"),
    ("settle_window: .nan", "finite"),
    ("max_contacts_per_task: 1e30", ""),
    ("retries: " + "9" * 5000, "digits"),
    ("listing_parallelism: 0", "at least"),
    ("listing_parallelism: 17", "at most"),
    ("listing_parallelism: 2.5", "integer"),
])
def test_unbounded_profile_options_are_refused_at_their_line(tmp_path: Path, option: str, word: str) -> None:
    d = project(tmp_path, init=False)
    f = d / "campaignctl.yaml"
    key = option.split(":")[0]
    lines = [ln for ln in f.read_text(encoding="utf-8").splitlines() if not ln.startswith(f"    {key}:")]
    text = "\n".join(lines) + "\n"
    f.write_text(text.replace('name_prefix: "gitops-"\n', f'name_prefix: "gitops-"\n    {option}\n', 1),
                 encoding="utf-8")
    write_csv(d / "contacts/a.csv", phones(3))
    campaigns(d, xf_task("spring", "../contacts/a.csv"))
    for cmd in ("validate", "plan"):
        res = run_cli(cmd, str(d))
        assert res.exit_code == 1, (cmd, res.output)
        assert "campaignctl.yaml:" in res.output and key in res.output and word in res.output, res.output
        assert "Traceback" not in res.output and "internal error" not in res.output


def test_a_huge_integer_in_a_campaign_is_a_located_problem(tmp_path: Path) -> None:
    d = project(tmp_path, init=False)
    write_csv(d / "contacts/a.csv", phones(3))
    campaigns(d, xf_task("spring", "../contacts/a.csv").replace("count: 1,", "count: " + "9" * 5000 + ","))
    res = run_cli("validate", str(d))
    assert res.exit_code == 1 and "main.yaml:" in res.output and "recall.count" in res.output, res.output
