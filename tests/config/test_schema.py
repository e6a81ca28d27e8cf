"""The shipped JSON Schemas: valid 2020-12, documented for editors, agreeing with the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from reconciler.config.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "campaigns"


@pytest.mark.parametrize("kind", ["project", "campaign"])
def test_schema_is_valid_2020_12(kind: str) -> None:
    schema = load_schema(kind)  # type: ignore[arg-type]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", ["project", "campaign"])
def test_top_level_schema_symlink_serves_the_same_file(kind: str) -> None:
    shipped = json.loads((ROOT / "reconciler" / "schema" / f"{kind}.schema.json").read_text(encoding="utf-8"))
    assert json.loads((ROOT / "schema" / f"{kind}.schema.json").read_text(encoding="utf-8")) == shipped


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.removeprefix("#/$defs/")]  # type: ignore[no-any-return]
    return node


def _undocumented(schema: dict[str, Any], node: Any, where: str) -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub and "description" not in _resolve(schema, sub):
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            if key not in ("if", "not"):  # conditions, not places an editor shows
                missing += _undocumented(schema, value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += _undocumented(schema, value, f"{where}[{i}]")
    return missing


@pytest.mark.parametrize("kind", ["project", "campaign"])
def test_every_property_has_a_description(kind: str) -> None:
    schema = dict(load_schema(kind))  # type: ignore[arg-type]
    assert _undocumented(schema, schema, kind) == []


def test_examples_validate_with_a_plain_jsonschema_validator() -> None:
    """What an editor does with the schema comment at the top of each example file."""
    project = Draft202012Validator(load_schema("project"))
    campaign = Draft202012Validator(load_schema("campaign"))
    assert list(project.iter_errors(yaml.safe_load((EXAMPLES / "campaignctl.yaml").read_text("utf-8")))) == []
    files = sorted((EXAMPLES / "campaigns").glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        assert list(campaign.iter_errors(yaml.safe_load(path.read_text("utf-8")))) == [], path


def test_provider_keys_are_checked_per_type() -> None:
    validator = Draft202012Validator(load_schema("project"))
    base = {"version": 1, "providers": {"p": {"type": "yccall", "base_url": "http://h", "appid_env": "A",
                                              "accesskey_env": "B", "line_separator": ";"}}}
    errors = list(validator.iter_errors(base))
    assert any(e.validator == "additionalProperties" for e in errors)
    base["providers"]["p"].update(type="xfyeta", app_key_env="K", app_secret_env="S")  # type: ignore[index]
    del base["providers"]["p"]["appid_env"], base["providers"]["p"]["accesskey_env"]  # type: ignore[index]
    assert list(validator.iter_errors(base)) == []


def test_shipped_schemas_are_generated_from_the_vendor_registry() -> None:
    """Edit a vendor spec, then run scripts/gen-schemas: the shipped files must be what it writes."""
    from reconciler.config.schemas import SCHEMA_DIR, campaign_schema, project_schema, render

    assert (SCHEMA_DIR / "project.schema.json").read_text(encoding="utf-8") == render(project_schema())
    assert (SCHEMA_DIR / "campaign.schema.json").read_text(encoding="utf-8") == render(campaign_schema())
