"""`pip install .` (not editable) into a fresh venv, then `campaignctl demo` from another directory."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.packaging.wheel import Installed

pytestmark = pytest.mark.wheel


def test_wheel_ships_examples_and_schemas(wheel_install: Installed) -> None:
    names = set(zipfile.ZipFile(wheel_install.wheel).namelist())
    assert "reconciler/examples/campaigns/campaignctl.yaml" in names
    assert "reconciler/examples/campaigns/contacts/spring-promo.csv" in names
    assert "reconciler/schema/project.schema.json" in names
    assert "reconciler/py.typed" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)


def test_demo_runs_from_the_installed_wheel_in_another_directory(wheel_install: Installed, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([str(wheel_install.campaignctl), "demo"], cwd=elsewhere, capture_output=True, text=True,
                          env=wheel_install.env(NO_COLOR="1"), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Demo complete" in proc.stdout
    # the package ran from the venv, not from this checkout
    where = subprocess.run([str(wheel_install.bin / "python"), "-c", "import reconciler; print(reconciler.__file__)"],
                           cwd=elsewhere, capture_output=True, text=True, env=wheel_install.env(), check=True)
    assert str(wheel_install.venv) in where.stdout
    assert not (elsewhere / ".campaignctl").exists()


def test_installed_help_and_version(wheel_install: Installed, tmp_path: Path) -> None:
    proc = subprocess.run([str(wheel_install.campaignctl), "--version"], cwd=tmp_path, capture_output=True, text=True,
                          env=wheel_install.env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "campaignctl" in proc.stdout
