from __future__ import annotations

import pytest

from tests.e2e.conftest import xfyeta, yccall  # noqa: F401 - the emulator fixtures
from tests.packaging.wheel import Installed, installed_wheel


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return installed_wheel(tmp_path_factory)
