"""Makes the simulation harness (raft_sim.py, beside this file) importable by the tests here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
