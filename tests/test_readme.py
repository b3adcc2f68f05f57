"""README.md's Python examples run as written (so the first thing users copy works)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples() -> None:
    """The README shows at least one complete Python example."""
    assert any("trio.run(" in block for block in BLOCKS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if "trio.run(" in b])
def test_readme_example_runs(block: str) -> None:
    """Each complete README example runs to completion with exit status 0."""
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
