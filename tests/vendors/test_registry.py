"""The vendor registry: each vendor one spec module, read by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler import vendors
from reconciler.engine.inputs import traits_for
from reconciler.errors import AuthError
from reconciler.model import ProviderProfile, Secret
from reconciler.providers import client_class
from reconciler.providers.client import VendorClient
from reconciler.vendors.base import COMMON_DEFAULTS, Limits, VendorSpec, task_name, wave_of
from tests.config.fixtures import load_files


def test_registry_lists_each_vendor_module() -> None:
    assert vendors.types() == ("xfyeta", "yccall")
    for type_ in vendors.types():
        assert vendors.get(type_).type == type_
    with pytest.raises(vendors.UnknownVendor, match="known: xfyeta, yccall"):
        vendors.get("twilio")


def test_every_vendor_has_a_client_of_the_shared_shape() -> None:
    for type_ in vendors.types():
        cls = client_class(type_)
        assert isinstance(cls, type) and issubclass(cls, VendorClient)


def test_naming_rule_and_its_inverse() -> None:
    assert task_name("gitops-", "a", 1) == "gitops-a" and task_name("gitops-", "a", 3) == "gitops-a~3"
    assert wave_of("gitops-a", "gitops-", "a") == 1
    assert wave_of("gitops-a~3", "gitops-", "a") == 3
    assert wave_of("gitops-a-b", "gitops-", "a") is None
    assert wave_of("gitops-a~x", "gitops-", "a") is None
    assert wave_of("gitops-a~1", "gitops-", "a") is None
    assert wave_of("other-a", "gitops-", "a") is None


def test_defaults_have_one_source_for_config_and_providers(tmp_path: Path) -> None:
    """The options a loaded profile carries are exactly the spec's, so no layer keeps defaults of its own."""
    result = load_files(tmp_path, {})
    assert result.state is not None
    for profile in result.state.project.providers.values():
        spec = vendors.get(profile.type)
        assert profile.options == {**spec.options({}, profile.name_prefix), "timezone": "Asia/Shanghai"}
        assert set(profile.options) == {*COMMON_DEFAULTS, *spec.defaults, "timezone"}
        assert set(spec.option_schemas) == set(spec.defaults)


def test_traits_come_from_the_spec() -> None:
    tr = traits_for(ProviderProfile("callcenter", "yccall", "http://127.0.0.1:2", name_prefix="t-"))
    assert tr.capabilities == vendors.get("yccall").capabilities
    assert tr.limits.add_batch == 10_000 and tr.task_name("x", 2) == "t-x~2" and tr.wave_of("t-x~2", "x") == 2


def test_a_client_without_its_credentials_names_the_variable() -> None:
    profile = ProviderProfile("callcenter", "yccall", "http://127.0.0.1:2",
                              credentials_env={"appid": "YC_ID", "accesskey": "YC_KEY"})
    with pytest.raises(AuthError, match="YC_KEY") as info:
        client_class("yccall")(profile, credentials={"appid": Secret("id")})
    assert info.value.vendor_code == "" and "vendor error" not in str(info.value)


def test_every_vendor_has_an_emulator_whose_demo_credentials_fit_the_spec() -> None:
    from reconciler import emulator

    assert emulator.available() == vendors.types()
    for type_ in vendors.types():
        assert emulator.build_emulator(type_).name == type_
        roles = set(emulator.demo_credentials(type_))
        assert any(roles == set(role_set) for role_set in vendors.get(type_).credentials)


def test_the_cli_offers_every_registered_emulator() -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli

    result = CliRunner().invoke(cli, ["emulator", "serve", "--help"])
    assert result.exit_code == 0 and "xfyeta|yccall" in result.output


class _Fax(VendorSpec):
    """A third vendor, as small as a spec can be: what every layer then offers for it."""

    type = "faxline"
    title = "faxline (a test vendor)"
    credentials = (("api_key",),)
    credential_help: ClassVar[Mapping[str, str]] = {"api_key": "NAME of the env var holding the faxline api_key."}
    defaults: ClassVar[Mapping[str, Any]] = {"page_size": 20}
    option_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "page_size": {"description": "Listing page size.", "type": "integer", "minimum": 1}}
    capabilities = vendors.get("yccall").capabilities
    settings_key = "faxline"

    def limits(self, options: Mapping[str, Any]) -> Limits:
        return Limits(add_batch=10, create_batch=10, callout_batch=0, list_page=int(options["page_size"]))

    def campaign_properties(self) -> dict[str, Any]:
        return {"faxline": {"description": "faxline settings.", "type": "object"}}


def test_a_new_spec_module_is_enough_for_config_and_schemas(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from reconciler.config import schemas

    registry = {**{t: vendors.get(t) for t in vendors.types()}, "faxline": _Fax()}
    monkeypatch.setattr(vendors, "_registry", lambda: registry)
    project = schemas.project_schema()
    assert project["$defs"]["profileType"]["enum"] == ["xfyeta", "yccall", "faxline"]
    fax = project["$defs"]["faxlineProfile"]
    assert fax["required"] == ["api_key_env"] and fax["properties"]["page_size"]["default"] == 20
    assert "faxline" in schemas.campaign_schema()["$defs"]["campaign"]["properties"]
    result = load_files(tmp_path, {"campaigns/f.yaml": "version: 1\ncampaigns:\n  - name: f\n    provider: iflytek\n"
                                   "    faxline: {}\n"})
    assert any(p.field == "campaigns[0].faxline" and "faxline block is for faxline profiles" in p.message
               for p in result.problems)
