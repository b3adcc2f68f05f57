"""Load a module of bench/ by its path (bench/ is not a package the tests install)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module; skips the test where bench/ is not in the tree."""
    path = BENCH / f"{name}.py"
    if not path.exists():  # pragma: no cover - an sdist without bench/
        pytest.skip("bench/ is not part of this tree")
    spec = importlib.util.spec_from_file_location(f"trio_otp_bench_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
