"""The nox sessions pick a Python that is there, or fail saying what to install.

Each test runs nox on a chosen interpreter (a virtualenv of it with nox installed from
the package index, made once per test run) with a PATH that holds only the
interpreters the test chooses, as symlinks: the way a machine with only Python 3.12
(say) looks to nox, which finds ``python3.X`` on PATH or runs on one itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("nox", reason="nox is not installed beside this Python")

ROOT = Path(__file__).resolve().parent.parent
PINNED = [
    "demo",
    "durable_demo",
    "docs",
    "lint",
    "typecheck",
    "bench",
    "package",
    "changelog",
    "model",
    "soak",
]


def _real_python(version: str) -> str | None:
    """The real executable of ``python{version}`` (not a pyenv shim), if one runs: from
    PATH, else from pyenv's versions (whose shims answer only for the active ones)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}"), *sorted(pyenv.glob(f"{version}.*/bin"))]
    for candidate in candidates:
        if candidate is None:
            continue
        exe = Path(candidate) / f"python{version}" if Path(candidate).is_dir() else candidate
        done = subprocess.run(
            [exe, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def _path_with(tmp_path: Path, *versions: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for version in versions:
        real = _real_python(version)
        assert real is not None
        (bin_dir / f"python{version}").symlink_to(real)
    return str(bin_dir)


@pytest.fixture(scope="module")
def nox_on(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """The Python of a virtualenv of Python ``version`` with nox in it."""
    made: dict[str, str] = {}

    def make(version: str) -> str:
        if version not in made:
            if version == "{}.{}".format(*sys.version_info[:2]):
                made[version] = sys.executable
            else:
                real = _real_python(version)
                if real is None:
                    pytest.skip(f"Python {version} is not installed")
                venv = tmp_path_factory.mktemp(f"nox{version}")
                subprocess.run([real, "-m", "venv", venv], check=True, timeout=120)
                subprocess.run(
                    [venv / "bin" / "python", "-m", "pip", "install", "-q", "nox"],
                    check=True,
                    timeout=300,
                    capture_output=True,
                )
                made[version] = str(venv / "bin" / "python")
        return made[version]

    return make


def _nox(python: str, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PATH": path},
        check=False,
    )


def _listed(python: str, path: str) -> dict[str, object]:
    done = _nox(python, path, "-l", "--json", "-s", "tests", "lowest", "ray", *PINNED)
    assert done.returncode == 0, done.stderr
    return {s["session"]: s["python"] for s in json.loads(done.stdout)}


NEWER = next((v for v in ("3.12", "3.13") if _real_python(v)), None)
needs_newer = pytest.mark.skipif(NEWER is None, reason="needs Python 3.12 or 3.13 installed")


@needs_newer
def test_with_only_a_newer_python_every_pinned_session_uses_it(
    tmp_path: Path, nox_on: Callable[[str], str]
) -> None:
    """On a machine with only 3.12 (or 3.13), demo, docs, lint, ... run on it."""
    assert NEWER is not None
    listed = _listed(nox_on(NEWER), _path_with(tmp_path, NEWER))
    sessions = [*PINNED, "ray", f"tests-{NEWER}"]
    assert {name: listed[name] for name in sessions} == dict.fromkeys(sessions, NEWER)


@needs_newer
def test_a_pinned_session_really_runs_on_the_python_found(
    tmp_path: Path, nox_on: Callable[[str], str]
) -> None:
    """``nox -s changelog`` on a machine with only 3.12 (or 3.13) runs and succeeds."""
    assert NEWER is not None
    path = _path_with(tmp_path, NEWER)
    done = _nox(nox_on(NEWER), path, "-s", "changelog", "--envdir", str(tmp_path / "envs"))
    assert done.returncode == 0, done.stderr
    assert "skipped" not in done.stderr
    assert "Features" in done.stdout  # towncrier's draft of the next release
    assert list((tmp_path / "envs").glob(f"*/lib/python{NEWER}/site-packages/towncrier"))


@needs_newer
def test_lowest_without_311_fails_saying_so(tmp_path: Path, nox_on: Callable[[str], str]) -> None:
    """``lowest`` stays on 3.11, the oldest supported Python: without it, it fails."""
    assert NEWER is not None
    done = _nox(nox_on(NEWER), _path_with(tmp_path, NEWER), "-s", "lowest")
    assert done.returncode == 1
    assert "lowest needs Python 3.11 on PATH" in done.stderr


def test_the_oldest_supported_python_present_is_the_one_used(
    tmp_path: Path, nox_on: Callable[[str], str]
) -> None:
    """With 3.11 present (CI insists on it), the pinned sessions keep using 3.11."""
    if _real_python("3.11") is None:
        pytest.skip("Python 3.11 is not installed")
    others = [v for v in ("3.12", "3.13") if _real_python(v)]
    listed = _listed(nox_on("3.11"), _path_with(tmp_path, "3.11", *others))
    assert {listed[name] for name in PINNED} == {"3.11"}
    assert listed["lowest"] == "3.11"


@pytest.mark.parametrize("session", ["demo", "docs", "tests"])
def test_no_supported_python_fails_loudly(
    tmp_path: Path, nox_on: Callable[[str], str], session: str
) -> None:
    """With no supported Python (nox itself on 3.10), a session fails (exit 1) and says
    what to install (it used to print "skipped: Python interpreter 3.11 not found" and
    exit 0)."""
    done = _nox(nox_on("3.10"), _path_with(tmp_path, "3.10"), "-s", session)
    assert done.returncode == 1
    assert f"{session} needs Python 3.11, 3.12 or 3.13 on PATH" in done.stderr
    assert "install one" in done.stderr
    assert "skipped" not in done.stderr
