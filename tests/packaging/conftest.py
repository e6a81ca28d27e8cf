from __future__ import annotations

import pytest

from tests.packaging.wheel import Installed, installed_wheel


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """campaign-reconciler built as a wheel and pip-installed (not editable) into a temporary venv."""
    return installed_wheel(tmp_path_factory)
