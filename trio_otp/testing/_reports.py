"""Crash and supervisor reports as records to assert on, not log text to parse."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import attrs

from .._core._process import Pid
from ._patterns import matches

#: The report kinds that are crashes (a test fails on one it did not expect).
CRASH_KINDS: Final = frozenset(
    {"gen_server_terminating", "task_terminating", "reached_max_restart_intensity", "start_error"}
)


@attrs.frozen
class Report:
    """One crash or supervisor report, as trio_otp logged it.

    Attributes:
        kind: the record's ``otp_event``: ``"gen_server_terminating"``,
            ``"task_terminating"``, ``"child_terminated"``, ``"child_started"``,
            ``"reached_max_restart_intensity"``, ``"start_error"``,
            ``"shutdown_error"`` (the table in docs/logging_testing.rst).
        process: the process the report is about (a child, for a supervisor report).
        reason: the exit reason (an exception, or a reason term).
        supervisor: the supervisor, for a supervisor report.
        child_id: the child's id, for a supervisor report.
        level: the logging level.
        message: the formatted text (what a log would print).
    """

    kind: str
    process: Pid | None
    reason: object
    supervisor: Pid | None
    child_id: object
    level: int
    message: str = attrs.field(repr=False)

    @property
    def is_crash(self) -> bool:
        """A crash (a report a test fails on unless it expected it)."""
        return self.kind in CRASH_KINDS

    def about(self, process: object) -> bool:
        """Whether the report is about ``process`` (a handle, or a registered name)."""
        pid = self.process
        if process is None:
            return True
        if isinstance(process, Pid):
            return pid is process
        return pid is not None and pid.name == process


class Reports(list[Report]):
    """The reports captured so far, oldest first (a list), with filters."""

    def of_kind(self, kind: str) -> list[Report]:
        """The reports of one kind."""
        return [r for r in self if r.kind == kind]

    def crashes(self) -> list[Report]:
        """The crash reports."""
        return [r for r in self if r.is_crash]

    def find(
        self, kind: str | None = None, process: object = None, reason: object = None
    ) -> list[Report]:
        """The reports of ``kind`` about ``process`` whose reason matches ``reason``
        (a pattern: a class, a predicate, a template; ``None`` for any)."""
        return [
            r
            for r in self
            if (kind is None or r.kind == kind)
            and r.about(process)
            and (reason is None or matches(reason, r.reason))
        ]


class _Handler(logging.Handler):
    def __init__(self, reports: Reports) -> None:
        super().__init__(logging.DEBUG)
        self.reports = reports
        self.listeners: list[Any] = []

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "otp_event", None)
        if kind is None:
            return
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        report = Report(
            kind=kind,
            process=getattr(record, "otp_pid", None),
            reason=getattr(record, "otp_reason", None),
            supervisor=getattr(record, "otp_supervisor", None),
            child_id=getattr(record, "otp_child_id", None),
            level=record.levelno,
            message=message,
        )
        self.reports.append(report)
        for listener in self.listeners:
            listener(report)


_LOGGER: Final = logging.getLogger("trio_otp")
_SUPERVISOR: Final = logging.getLogger("trio_otp.supervisor")


@contextmanager
def capture_reports() -> Iterator[Reports]:
    """Capture trio_otp's crash and supervisor reports for the block.

    Example::

        with capture_reports() as reports:
            otp.cast(server, "crash")
            await server.wait_exited()
        [crash] = reports.crashes()
        assert crash.kind == "gen_server_terminating"
        assert isinstance(crash.reason, RuntimeError)

    Supervisor progress reports (INFO, off by default) are captured too: the block
    turns ``trio_otp.supervisor`` on at INFO and puts its level back after. Nothing
    else about logging changes (the reports still reach your handlers).
    """
    reports = Reports()
    with _capturing(reports):
        yield reports


@contextmanager
def _capturing(reports: Reports, listener: Any = None) -> Iterator[_Handler]:
    handler = _Handler(reports)
    if listener is not None:
        handler.listeners.append(listener)
    level = _SUPERVISOR.level
    if not _SUPERVISOR.isEnabledFor(logging.INFO):
        _SUPERVISOR.setLevel(logging.INFO)
    _LOGGER.addHandler(handler)
    try:
        yield handler
    finally:
        _LOGGER.removeHandler(handler)
        _SUPERVISOR.setLevel(level)
