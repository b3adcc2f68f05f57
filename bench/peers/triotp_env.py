"""triotp's own virtualenv, created on demand under bench/.venvs/triotp.

triotp pins an old trio (0.19) and brings tenacity, trio-util and logbook: it gets a
venv of its own so that it never touches the project's environment. The release is
pinned: 0.2.1 is the newest on PyPI and installs on Python 3.11 (checked with
``pip index versions triotp`` and a ``pip install`` into this venv).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TRIOTP_REQUIREMENT = "triotp==0.2.1"

BENCH_DIR = Path(__file__).resolve().parent.parent
VENV = BENCH_DIR / ".venvs" / "triotp"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def installed_version() -> str | None:
    """triotp's version in the venv, or None if the venv is missing or broken."""
    python = venv_python()
    if not python.exists():
        return None
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, triotp.gen_server, triotp.dynamic_supervisor;"
            "print(m.version('triotp'), m.version('trio'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return None
    triotp_version, trio_version = probe.stdout.split()
    return f"triotp {triotp_version} (trio {trio_version})"


def ensure(log: object = print) -> str:
    """Create the venv and install triotp if needed; return the installed version.

    Raises:
        RuntimeError: the venv could not be created or triotp not installed.
    """
    version = installed_version()
    if version is not None:
        return version
    say = log if callable(log) else print
    say(f"creating {VENV.relative_to(BENCH_DIR.parent)} and installing {TRIOTP_REQUIREMENT} …")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [
            str(venv_python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            TRIOTP_REQUIREMENT,
        ],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"{' '.join(cmd[:4])} … failed: " + " | ".join(tail))
    version = installed_version()
    if version is None:
        raise RuntimeError(f"{TRIOTP_REQUIREMENT} installed but cannot be imported")
    return version
