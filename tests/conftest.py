import sys
from pathlib import Path

# Test helpers (naive.py, helpers.py, factories.py) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))

import os
import shutil

import pytest
from hypothesis import settings

# In CI, hypothesis draws the same examples every run, so that CI on any day tests what the last commit
# tested; locally it explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


def _required_program(names: tuple[str, ...], what: str, package: str) -> str:
    """The first of ``names`` on the PATH. In CI (CI=true) it must be there: a missing one fails the test
    rather than skipping it, so the recalculation tiers can never pass by not running."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} ({names[0]}) is required in CI but is not installed")
    pytest.skip(f"{what} ({names[0]}) is not installed; install {package} to run this test")


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's soffice program (the first recalculation tier)."""
    return _required_program(("soffice", "libreoffice"), "LibreOffice", "libreoffice-calc")


@pytest.fixture(scope="session")
def ssconvert() -> str:
    """Gnumeric's ssconvert program (the second, independent recalculation tier)."""
    return _required_program(("ssconvert",), "Gnumeric", "gnumeric")
