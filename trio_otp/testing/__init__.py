"""trio_otp.testing: test a trio_otp system the way Elixir and Oban users do.

* :func:`start_supervised` / :func:`expect_crash`: children under a supervisor per
  test, stopped in order after it; an unexpected crash fails the test.
* :func:`capture_reports`: crash and supervisor reports as records.
* :func:`assert_receive` / :func:`refute_receive` with patterns (:data:`ANY`, a
  class, a predicate, a template).
* :func:`crash`, :func:`kill`, :func:`kill_workers`, :func:`kill_durable_queue`:
  fault injection.
* :class:`ManualExecutor`, :class:`InlineExecutor`, :func:`assert_enqueued`,
  :func:`refute_enqueued`, :func:`drain`, :func:`perform_job`: job queue helpers.
* :class:`OTPStateMachine`: a Hypothesis state machine base for your own trees
  (imported on first use: it needs Hypothesis, in the ``testing`` extra).

The pytest plugin (``pytest_plugins = ["trio_otp.testing.pytest_plugin"]``) gives
the fixtures ``otp_supervisor`` and ``otp_reports``. See docs/testing.rst.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._faults import crash as crash
from ._faults import kill as kill
from ._faults import kill_durable_queue as kill_durable_queue
from ._faults import kill_workers as kill_workers
from ._jobs import DrainResult as DrainResult
from ._jobs import EnqueuedJob as EnqueuedJob
from ._jobs import InlineExecutor as InlineExecutor
from ._jobs import ManualExecutor as ManualExecutor
from ._jobs import assert_enqueued as assert_enqueued
from ._jobs import drain as drain
from ._jobs import perform_job as perform_job
from ._jobs import refute_enqueued as refute_enqueued
from ._patterns import ANY as ANY
from ._patterns import matches as matches
from ._receive import assert_receive as assert_receive
from ._receive import refute_receive as refute_receive
from ._reports import Report as Report
from ._reports import Reports as Reports
from ._reports import capture_reports as capture_reports
from ._supervised import CrashExpectation as CrashExpectation
from ._supervised import Harness as Harness
from ._supervised import UnexpectedCrash as UnexpectedCrash
from ._supervised import current_harness as current_harness
from ._supervised import expect_crash as expect_crash
from ._supervised import start_supervised as start_supervised
from ._supervised import stop_supervised as stop_supervised
from ._supervised import supervised_test as supervised_test

if _TYPE_CHECKING:  # at run time, imported on first use (module __getattr__ below)
    from ._statemachine import InjectedCrash as InjectedCrash
    from ._statemachine import OTPStateMachine as OTPStateMachine

__all__ = [
    "ANY",
    "CrashExpectation",
    "DrainResult",
    "EnqueuedJob",
    "Harness",
    "InjectedCrash",
    "InlineExecutor",
    "ManualExecutor",
    "OTPStateMachine",
    "Report",
    "Reports",
    "UnexpectedCrash",
    "assert_enqueued",
    "assert_receive",
    "capture_reports",
    "crash",
    "current_harness",
    "drain",
    "expect_crash",
    "kill",
    "kill_durable_queue",
    "kill_workers",
    "matches",
    "perform_job",
    "refute_enqueued",
    "refute_receive",
    "start_supervised",
    "stop_supervised",
    "supervised_test",
]


def __getattr__(name: str) -> _Any:
    # Hypothesis is imported only by a test that uses the state machine base.
    if name in ("OTPStateMachine", "InjectedCrash"):
        try:
            from . import _statemachine
        except ModuleNotFoundError as exc:
            if exc.name != "hypothesis":
                raise
            raise ModuleNotFoundError(
                f"trio_otp.testing.{name} is built on Hypothesis, which is not installed: "
                "pip install 'trio_otp[testing]'",
                name="hypothesis",
            ) from exc
        return getattr(_statemachine, name)
    raise AttributeError(f"module 'trio_otp.testing' has no attribute {name!r}")
