"""Developer sessions: ``nox -s tests lint typecheck docs demo bench``.

Every session installs what it needs from the package registries into its own
virtualenv, so a machine with only Python 3.11 and pip can run them all.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (examples included; trio-parallel executor tests too)."""
    session.install("-e", ".[test,parallel]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def ray(session: nox.Session) -> None:
    """The RayExecutor tests against a real local Ray and a simulated cluster (minutes)."""
    session.install("-e", ".[test,parallel,ray]")
    session.run("pytest", "tests/test_ray.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting check."""
    session.install("ruff")
    session.run("ruff", "check", "trio_otp", "tests", "examples", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "trio_otp", "tests", "examples", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (trio's own inline types; no trio-typing)."""
    session.install("-e", ".", "mypy")
    session.run("mypy", "--strict", "trio_otp")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the seed chapter: examples/job_queue.py."""
    session.install("-e", ".")
    session.run("python", "examples/job_queue.py", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx HTML docs, warnings as errors, offline."""
    session.install("-e", ".", "-r", "docs/requirements.txt")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks W1-W6, M1 (monitors), T1 (timers) against the raw-Trio floors, in one run.

    ``nox -s bench -- --quick`` finishes in about a minute.
    """
    session.install("-e", ".", "-r", "bench/requirements.txt")
    session.run("python", "-m", "bench", *session.posargs)
