"""The checks that keep the tree honest run with the tests: ruff, mypy (strict for the shared
cores) and import-linter (DESIGN.md's import direction)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["mypy"],  # files and strictness come from pyproject.toml
        ["lint-imports"],
    ],
    ids=lambda command: command[0],
)
def test_static_check_passes(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
