"""The bundled example directory (used by `campaignctl demo`) must stay valid."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.config import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "campaigns"


def test_examples_load_without_problems() -> None:
    result = load(EXAMPLES)
    assert result.problems == ()
    assert result.state is not None
    by_name = {c.name: c for c in result.state.campaigns}
    assert set(by_name) >= {"spring-promo", "renewal-reminder", "survey-direct", "callcenter-followup"}
    assert {p.type for p in result.state.project.providers.values()} == {"xfyeta", "yccall"}
    assert by_name["survey-direct"].mode == "direct"
    assert by_name["renewal-reminder"].state == "paused"
    assert len(by_name["spring-promo"].contacts.rows) > 100  # shows insert batching by 50
    assert by_name["callcenter-followup"].vendor is not None
    # every contact file was read, GBK included
    assert any(f.name.endswith(".gbk.csv") for f in result.files)


def test_examples_validate_exit_zero() -> None:
    out = CliRunner().invoke(cli, ["validate", str(EXAMPLES)])
    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith("contacts valid")
