from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (configs/ lives there)."""
    return Path(__file__).resolve().parent.parent
