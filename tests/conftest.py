import sys
from pathlib import Path

# Make `tests/mpy.py` and friends importable as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
