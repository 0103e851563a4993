import sys
from pathlib import Path

# Test helpers (naive.py, helpers.py, factories.py) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's soffice program. In CI (CI=true) it must be there: a missing one fails the test
    rather than skipping it, so the recalculation tier can never pass by not running."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("LibreOffice (soffice) is required in CI but is not installed")
    pytest.skip("LibreOffice (soffice) is not installed; install libreoffice-calc to run this test")
