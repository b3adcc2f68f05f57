"""The restart path's inline level test (_reports.TASK_VIEW / SUPERVISOR_VIEW).

A transient Task's crash is reported (task crash at ERROR, the supervisor's
``terminated`` at INFO) exactly when logging lets it through, whatever the state of
the logger's level cache, and not at all when the logger is disabled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

from trio_otp import DynamicSupervisor, Supervisor, Task
from trio_otp._core import _reports


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    task, sup = _reports.task_logger, _reports.supervisor_logger
    saved = [(lg, lg.level, lg.disabled) for lg in (task, sup)]
    yield task, sup
    for lg, level, disabled in saved:
        lg.setLevel(level)
        lg.disabled = disabled


async def _two_failed_attempts() -> None:
    runs: list[int] = []

    def job() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RuntimeError(f"attempt {len(runs)}")

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        spec = Supervisor.child_spec((Task, job), restart="transient")
        await DynamicSupervisor.start_child(ds, spec)
        await trio.testing.wait_all_tasks_blocked()
        assert len(runs) == 3
        await DynamicSupervisor.stop(ds)


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.name, r.otp_event)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name.startswith("trio_otp")
    ]


_BOTH = [
    ("trio_otp.task", _reports.EVENT_TASK_CRASH),
    ("trio_otp.supervisor", _reports.EVENT_CHILD_TERMINATED),
] * 2


@pytest.mark.parametrize("cached", [False, True])
async def test_reports_when_the_levels_let_them_through(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, loggers: Any, cached: bool
) -> None:
    """Both reports of each failed attempt, with a cold or a warm level cache."""
    caplog.set_level(logging.INFO, logger="trio_otp")
    task, sup = loggers
    if cached:
        assert task.isEnabledFor(logging.ERROR)
        assert sup.isEnabledFor(logging.INFO)
    else:
        task.manager._clear_cache()  # type: ignore[attr-defined]
    await _two_failed_attempts()
    assert _events(caplog) == _BOTH
    texts = [r.getMessage() for r in caplog.records if r.name == "trio_otp.task"]
    assert "** (RuntimeError) attempt 1" in texts[0]
    assert "** (RuntimeError) attempt 2" in texts[1]


async def test_no_reports_when_the_levels_keep_them_quiet(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, loggers: Any
) -> None:
    """CRITICAL on the task logger, WARNING on the supervisor's: nothing is logged."""
    caplog.set_level(logging.CRITICAL, logger="trio_otp.task")
    caplog.set_level(logging.WARNING, logger="trio_otp.supervisor")
    await _two_failed_attempts()
    assert _events(caplog) == []


async def test_no_reports_from_disabled_loggers(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, loggers: Any
) -> None:
    """A disabled logger says nothing, even with its level cache warm."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    task, sup = loggers
    assert task.isEnabledFor(logging.ERROR)
    assert sup.isEnabledFor(logging.INFO)
    task.disabled = sup.disabled = True
    await _two_failed_attempts()
    assert _events(caplog) == []


def test_a_logger_class_with_its_own_level_test_is_not_read_inline() -> None:
    """A logger whose class overrides isEnabledFor gets no inline view (always asked)."""

    class Picky(logging.Logger):
        def isEnabledFor(self, level: int) -> bool:
            return False

    assert _reports._inline_view(logging.Logger("plain")) is not None
    assert _reports._inline_view(Picky("picky")) is None
    assert _reports.TASK_VIEW is _reports.task_logger
    assert _reports.SUPERVISOR_VIEW is _reports.supervisor_logger
