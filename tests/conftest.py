import sys
from pathlib import Path

# Test helpers (naive.py, helpers.py, factories.py) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))
