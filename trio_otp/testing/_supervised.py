"""``start_supervised``: Elixir's ``start_supervised!``, under a supervisor per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from trio.lowlevel import RunVar

from .._core._process import Pid
from .._core._reasons import is_normal_exit
from .._supervision._supervisor import Supervisor
from ._patterns import matches, show
from ._reports import Report, Reports, _capturing


@attrs.define
class CrashExpectation:
    """A crash a test provokes on purpose (made by :func:`expect_crash`).

    Attributes:
        process: the process (a handle or a registered name), or ``None`` for any.
        reason: a pattern the exit reason must match (a class, a predicate, a
            template), or ``None`` for any.
        at_least: the crashes that must come before the test ends.
        seen: the matching crash reports so far.
    """

    process: object
    reason: object
    at_least: int
    seen: list[Report] = attrs.field(factory=list)

    def accepts(self, report: Report) -> bool:
        return report.about(self.process) and (
            self.reason is None or matches(self.reason, report.reason)
        )

    def __repr__(self) -> str:
        what = "any process" if self.process is None else repr(self.process)
        reason = "" if self.reason is None else f" with a reason matching {show(self.reason)}"
        return f"expect_crash({what}{reason}, at_least={self.at_least})"


class UnexpectedCrash(AssertionError):
    """A process crashed during the test and no :func:`expect_crash` covered it."""


@attrs.define
class Harness:
    """A test's supervisor and its reports (:func:`supervised_test` makes one).

    Attributes:
        supervisor: the per-test supervisor (one_for_one).
        reports: every report logged during the test.
        expected: the crashes the test said it provokes.
    """

    supervisor: Pid
    reports: Reports
    expected: list[CrashExpectation] = attrs.field(factory=list)
    unexpected: list[Report] = attrs.field(factory=list)
    _crashed: set[Pid] = attrs.field(factory=set, repr=False)

    def _on_report(self, report: Report) -> None:
        if report.is_crash:
            if report.process is not None:
                self._crashed.add(report.process)
        elif not (
            # An abnormal exit with no crash report of its own (a kill, an injected
            # crash, a linked exit): the supervisor's report is the only trace of it.
            report.kind == "child_terminated"
            and report.process not in self._crashed
            and not is_normal_exit(report.reason)
        ):
            return
        for expectation in self.expected:
            if expectation.accepts(report):
                expectation.seen.append(report)
                return
        self.unexpected.append(report)

    def problems(self) -> list[str]:
        """What makes the test fail: unexpected crashes, expected ones that never came."""
        lines = [
            f"unexpected crash ({r.kind}) of {r.process!r}: {r.message}" for r in self.unexpected
        ]
        lines += [
            f"{e!r}: {len(e.seen)} matching crash(es) came"
            for e in self.expected
            if len(e.seen) < e.at_least
        ]
        return lines


_harness: RunVar[Harness] = RunVar("trio_otp.testing.harness")


def current_harness() -> Harness:
    """The running test's harness.

    Raises:
        RuntimeError: no :func:`supervised_test` (or plugin fixture) is active.
    """
    try:
        return _harness.get()
    except LookupError:
        raise RuntimeError(
            "no test supervisor is running: request the `otp_supervisor` fixture (with "
            'pytest_plugins = ["trio_otp.testing.pytest_plugin"]) or wrap the test in '
            "`async with trio_otp.testing.supervised_test():`"
        ) from None


@asynccontextmanager
async def supervised_test(
    *, max_restarts: int = 3, max_seconds: float = 5
) -> AsyncIterator[Harness]:
    """A supervisor for one test; its children stop in reverse start order after it.

    While the block runs, :func:`start_supervised` starts children under it and every
    crash report is recorded; when the block ends, the supervisor stops, then the
    block fails (:exc:`UnexpectedCrash`, with the reports) if a process crashed that
    no :func:`expect_crash` covered, or if an expected crash never came. The pytest
    plugin's ``otp_supervisor`` fixture is this block around a test.
    """
    reports = Reports()
    harness: Harness | None = None

    def listen(report: Report) -> None:
        if harness is not None:
            harness._on_report(report)

    with _capturing(reports, listen):
        async with Supervisor.open(
            [], strategy="one_for_one", max_restarts=max_restarts, max_seconds=max_seconds
        ) as sup:
            harness = Harness(sup, reports)
            _harness.set(harness)
            try:
                yield harness
            finally:
                # The children stop (reverse start order) while reports are still heard.
                await trio.lowlevel.checkpoint()
        problems = harness.problems()
    if problems:
        raise UnexpectedCrash("\n\n".join(problems))


async def start_supervised(child: Any) -> Pid:
    """Start ``child`` (any children-list form) under the test's supervisor.

    Elixir's ``start_supervised!``: the child is stopped when the test ends, before
    the next test starts, in reverse start order with the others; a crash of it that
    the test did not announce with :func:`expect_crash` fails the test.

    Returns:
        The child's handle.

    Raises:
        ChildStartError: the child did not start (its ``reason`` says why).
        RuntimeError: no test supervisor is running, or the child returned ``Ignore``.
    """
    harness = current_harness()
    pid = await Supervisor.start_child(harness.supervisor, child)
    if pid is None:
        raise RuntimeError(f"{child!r} returned Ignore from init: nothing was started")
    return pid


async def stop_supervised(child_id: object) -> None:
    """Stop a child started by :func:`start_supervised` (by its child id) and forget it."""
    harness = current_harness()
    await Supervisor.terminate_child(harness.supervisor, child_id)
    await Supervisor.delete_child(harness.supervisor, child_id)


def expect_crash(
    process: object = None, reason: object = None, *, at_least: int = 1
) -> CrashExpectation:
    """Announce a crash the test provokes: it does not fail the test; its absence does.

    Args:
        process: the process (handle or registered name) that will crash; ``None``:
            any.
        reason: a pattern its exit reason must match (e.g. ``RuntimeError``, or
            ``lambda r: "boom" in str(r)``); ``None``: any.
        at_least: how many matching crashes must come before the test ends.

    Returns:
        The expectation; its ``seen`` lists the matching reports.
    """
    expectation = CrashExpectation(process, reason, at_least)
    current_harness().expected.append(expectation)
    return expectation
