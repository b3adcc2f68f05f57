"""Developer sessions (``python -m nox -l`` lists them; CONTRIBUTING.md explains each).

Every session installs what it needs from the package registries into its own
virtualenv, so a machine with Python and pip can run them all. ``tests`` runs on every
supported Python (3.11-3.13) that is installed (``.ci/run`` insists on 3.11). The
sessions that need one interpreter (demo, docs, lint, bench, ...) use the oldest
supported Python on PATH; ``lowest`` needs 3.11, the oldest supported. A session
whose Python is missing fails and says what to install: it never "skips" and exits 0
having done nothing.
"""

from __future__ import annotations

import functools
import pathlib
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.11", "3.12", "3.13"]
#: The supported Pythons nox will find: ``python3.X`` on PATH, or the one nox runs on.
INSTALLED = [
    v for v in PYTHONS if shutil.which(f"python{v}") or v == "{}.{}".format(*sys.version_info[:2])
]
#: The one Python of the single-interpreter sessions: the oldest supported one present.
PYTHON = INSTALLED[0] if INSTALLED else None
SUPPORTED = "Python " + ", ".join(PYTHONS[:-1]) + " or " + PYTHONS[-1]
ROOT = pathlib.Path(__file__).parent


def _missing(what: str, func: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    """A stand-in session for ``func`` that fails at once, saying what to install."""

    @functools.wraps(func)
    def fail(session: nox.Session) -> None:
        session.error(
            f"{func.__name__} needs {what} on PATH, and none was found: install one "
            "(python.org, your system's packages, pyenv or uv), then run it again"
        )

    return fail


def one_python(func: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    """A session on one interpreter: the oldest supported Python found, else a failure."""
    if PYTHON is None:
        return nox.session(python=False)(_missing(SUPPORTED, func))
    return nox.session(python=PYTHON)(func)


def all_pythons(func: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    """A session on every supported Python found (at least one, else a failure)."""
    if not INSTALLED:
        return nox.session(python=False)(_missing(SUPPORTED, func))
    return nox.session(python=INSTALLED)(func)


# Checked by mypy --strict and pyright: the library, what users copy, and what they see.
TYPED = ["trio_otp", "examples", "tests/typing", "build/readme_examples"]


@all_pythons
def tests(session: nox.Session) -> None:
    """Run the whole test suite (examples, the docs' code blocks, trio-parallel executor tests)."""
    # tests/test_docs_build.py runs Sphinx (the docs requirements); tests/test_noxfile.py
    # runs nox on this noxfile; the postgres extra for PostgresStore's light tests.
    session.install(
        "-e", ".[test,parallel,postgres,observer,testing]", "-r", "docs/requirements.txt", "nox"
    )
    session.run("pytest", *session.posargs)


def _lowest_python(func: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    if shutil.which(f"python{PYTHONS[0]}") is None:
        return nox.session(python=False)(_missing(f"Python {PYTHONS[0]}", func))
    return nox.session(python=PYTHONS[0], venv_backend="uv")(func)


@_lowest_python
def lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions pyproject.toml allows (trio, attrs, outcome,
    pytest, pytest-trio): proves the declared minimums."""
    session.install(
        "--resolution", "lowest-direct", "-e", ".[test,parallel,postgres,observer,testing]"
    )
    session.run("uv", "pip", "list", external=True, silent=False)
    session.run("pytest", *session.posargs)


@one_python
def ray(session: nox.Session) -> None:
    """The RayExecutor tests against a real local Ray and a simulated cluster (minutes)."""
    session.install("-e", ".[test,parallel,ray]")
    session.run("pytest", "tests/test_ray.py", *session.posargs)


@one_python
def browser(session: nox.Session) -> None:
    """The observer in a real browser: examples/observer_app.py driven through Debian's
    Chromium by Selenium (``apt-get install chromium chromium-driver`` first; ``.ci/run``
    does). ``TRIO_OTP_SCREENSHOTS=docs/_static`` refreshes the docs' screenshots."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not pathlib.Path(path).exists():
            session.error(f"{path} is missing: apt-get install -y chromium chromium-driver")
    session.install("-e", ".[test,observer]", "selenium>=4.20", "-r", "docs/requirements.txt")
    # tests/test_docs_tables.py (the From Elixir tables fit the column) needs the same
    # browser; the tests session skips it for want of Selenium, so it runs here.
    session.run(
        "pytest",
        "tests/browser",
        "tests/test_docs_tables.py",
        *session.posargs,
        env={"TRIO_OTP_BROWSER": "1"},
    )


@one_python
def postgres(session: nox.Session) -> None:
    """PostgresStore's heavy tests on a real server the tests start (Debian's
    ``postgresql`` package): 3 worker processes over 10,000 jobs, a node SIGKILLed, one
    frozen, the leader killed and frozen, ``pg_ctl restart`` mid-run, the server
    stopped for longer than a queue's reconnect_timeout, global and rate limits across
    nodes. Measured: 52-75 s on 2 busy cores, install included (.ci/run caps it at
    15 min). Also W9's benchmark at its smoke size (tests/test_bench_w9.py: about 35 s,
    plus about a minute the first time, to make the peers' venvs from PyPI)."""
    session.install("-e", ".[test,postgres]")
    session.run(
        "pytest",
        "-q",
        "-s",
        "tests/test_postgres_nodes.py",
        "tests/test_bench_w9.py",
        *session.posargs,
        env={"TRIO_OTP_POSTGRES_HEAVY": "1"},
    )


@one_python
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting check."""
    session.install("ruff")
    paths = ["trio_otp", "tests", "examples", "bench", "docs", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


def _readme_examples() -> list[str]:
    """Write README.md's complete Python examples (those that call ``trio.run``) to
    build/readme_examples/, one file each (for the type checkers)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    examples = [b for b in blocks if "trio.run(" in b]
    if not examples:
        raise ValueError("README.md has no complete Python example (one calling trio.run)")
    out = ROOT / "build" / "readme_examples"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    paths = []
    for n, example in enumerate(examples, 1):
        path = out / f"example_{n}.py"
        path.write_text(example)
        paths.append(str(path))
    return paths


@one_python
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright on the package, the README example, examples/ and
    tests/typing/; then ``pyright --verifytypes`` (every public name fully typed)."""
    # Installed, not editable: pyright --verifytypes reads the package as users get it.
    # Every extra whose modules are type-checked: PostgresStore needs psycopg's types.
    session.install(".[test,observer,testing,postgres]", "mypy", "pyright")
    _readme_examples()
    session.run("mypy", "--strict", *TYPED)
    session.run("pyright", *TYPED)
    session.run("pyright", "--verifytypes", "trio_otp", "--ignoreexternal")


@one_python
def docs(session: nox.Session) -> None:
    """Build the Sphinx HTML docs, warnings as errors, offline."""
    # autodoc imports what the API pages document: PostgresStore needs the postgres
    # extra, trio_otp.testing's Hypothesis state machine the testing extra.
    session.install("-e", ".[postgres,testing]", "-r", "docs/requirements.txt")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@one_python
def package(session: nox.Session) -> None:
    """Build sdist and wheel, check them (twine, check-manifest), then unpack the sdist
    and run its own test suite against the wheel."""
    session.install("build", "twine", "check-manifest")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build")
    session.run("twine", "check", "--strict", *map(str, dist.iterdir()))
    session.run("check-manifest")
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        [unpacked] = pathlib.Path(tmp).iterdir()
        session.install(f"{wheel}[test,parallel,postgres,observer,testing]")
        # The same version may be installed from a previous run: replace it.
        session.install("--force-reinstall", "--no-deps", str(wheel))
        session.chdir(unpacked)
        # The installed wheel is tested, not the sdist's source folder next to the tests.
        shutil.rmtree(unpacked / "trio_otp")
        session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@one_python
def changelog(session: nox.Session) -> None:
    """Preview CHANGELOG.rst from newsfragments/ (``-- --version X.Y.Z`` builds it)."""
    session.install("towncrier")
    if session.posargs:
        session.run("towncrier", "build", "--yes", *session.posargs)
    else:
        session.run("towncrier", "build", "--draft", "--version", "unreleased")


@one_python
def demo(session: nox.Session) -> None:
    """Run the Elixir chapter's demo: examples/job_queue.py."""
    session.install("-e", ".")
    session.run("python", "examples/job_queue.py", *session.posargs)


@one_python
def durable_demo(session: nox.Session) -> None:
    """Durable jobs' demo: examples/durable_jobs.py (a worker killed with SIGKILL halfway,
    another one finishing every job on the same SQLite file)."""
    session.install("-e", ".")
    session.run("python", "examples/durable_jobs.py", *session.posargs)


@one_python
def bench(session: nox.Session) -> None:
    """Benchmarks W1-W6, M1 (monitors), T1 (timers) against the raw-Trio floors, in one run.

    ``nox -s bench -- --quick`` finishes in about a minute.
    """
    session.install("-e", ".", "-r", "bench/requirements.txt")
    session.run("python", "-m", "bench", *session.posargs)


@one_python
def bench_instructions(session: nox.Session) -> None:
    """Instructions per unit (cachegrind, two sizes) against the floors; ``-- --check`` gates.

    Its own venv from ``bench/instructions.lock`` (no resolver: the counts move with
    trio's and attrs' releases). Needs valgrind on PATH. ``-- --update-baseline``
    refreshes ``bench/instructions_baseline.json`` (bench/README.md says when).
    """
    session.install("--no-deps", "-r", "bench/instructions.lock")
    session.install("--no-deps", "-e", ".")
    session.run("python", "-m", "bench", "--instructions", *session.posargs)


@one_python
def model(session: nox.Session) -> None:
    """Model-based supervisor tests, long profile (>= 10,000 steps; ``-- ci`` for CI's).

    ``nox -s model -- quick|ci|long`` picks the profile (default ``long``).
    """
    session.install("-e", ".[test]")
    profile = session.posargs[0] if session.posargs else "long"
    session.run(
        "pytest", "-q", "-s", "tests/test_model.py", env={"TRIO_OTP_MODEL_PROFILE": profile}
    )


@one_python
def soak(session: nox.Session) -> None:
    """Chaos soak under call load, bounded to 2 minutes, and the durable jobs' kill -9
    test at its larger size (real processes SIGKILLed at seeded points); prints counts.

    ``nox -s soak -- quick|ci|long`` picks the profile (default ``long``).
    """
    session.install("-e", ".[test]")
    profile = session.posargs[0] if session.posargs else "long"
    session.run(
        "pytest",
        "-q",
        "-s",
        "tests/test_soak.py",
        "tests/test_durable_kill.py",
        env={"TRIO_OTP_SOAK_PROFILE": profile},
    )
