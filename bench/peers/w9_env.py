"""The W9 peers' own virtualenvs, created on demand under bench/.venvs/ (like triotp's).

procrastinate and oban-py bring their own psycopg pools and (oban) a newer Python:
each gets a venv of its own, so that neither touches the project's environment. The
releases are pinned (the newest on PyPI when W9 was written): procrastinate 3.10.0 on
the bench's own Python; oban 0.7.0 needs Python >= 3.12, found as ``python3.13`` /
``python3.12`` on PATH or in pyenv's versions (``$PYENV_ROOT/versions/3.1x.y``), or
named by ``W9_OBAN_PYTHON``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs

BENCH_DIR = Path(__file__).resolve().parent.parent
VENVS = BENCH_DIR / ".venvs"
PSYCOPG = ("psycopg[binary]==3.3.9", "psycopg-pool==3.3.3")


@attrs.frozen
class Peer:
    """One peer's venv: its name, the packages pinned in it, how to find its Python."""

    name: str
    requirements: tuple[str, ...]
    module: str  # imported to check the venv
    find_python: Callable[[], str | None]

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def installed_version(self) -> str | None:
        """``"<module> <version> (Python x.y.z)"``, or None if the venv is missing or broken."""
        if not self.python.exists():
            return None
        probe = subprocess.run(
            [
                str(self.python),
                "-c",
                f"import importlib.metadata as m, platform, {self.module};"
                f"print(m.version({self.module!r}), platform.python_version())",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            return None
        version, python = probe.stdout.split()
        return f"{self.module} {version} (Python {python})"

    def ensure(self, log: Callable[[str], object] = print) -> str:
        """Create the venv and install the peer if needed; return its version.

        Raises:
            RuntimeError: no suitable Python, or the install failed.
        """
        version = self.installed_version()
        if version is not None:
            return version
        base = self.find_python()
        if base is None:
            why = self.find_python.__doc__
            raise RuntimeError(f"{self.name}: no suitable Python found (looked for {why})")
        where = self.venv.relative_to(BENCH_DIR.parent)
        log(f"creating {where} and installing {' '.join(self.requirements)} …")
        VENVS.mkdir(parents=True, exist_ok=True)
        pip = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for cmd in ([base, "-m", "venv", "--clear", str(self.venv)], [*pip, *self.requirements]):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"{' '.join(cmd[:4])} … failed: " + " | ".join(tail))
        version = self.installed_version()
        if version is None:
            raise RuntimeError(f"{self.requirements[0]} installed but cannot be imported")
        return version


def _this_python() -> str:
    """the bench's own Python"""
    return sys.executable


def _python_312_or_newer() -> str | None:
    """W9_OBAN_PYTHON, python3.13/python3.12 on PATH, or pyenv's 3.13.x/3.12.x"""
    given = os.environ.get("W9_OBAN_PYTHON")
    if given:
        return given
    for name in ("python3.13", "python3.12"):
        found = shutil.which(name)
        if found and "shims" not in found:
            return found
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for minor in ("3.13", "3.12"):
        versions = sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python"))
        if versions:
            return versions[-1]
    return None


PROCRASTINATE = Peer(
    "procrastinate", ("procrastinate==3.10.0", *PSYCOPG), "procrastinate", _this_python
)
OBAN = Peer("oban", ("oban==0.7.0", *PSYCOPG), "oban", _python_312_or_newer)
