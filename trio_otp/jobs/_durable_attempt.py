"""One attempt of a durable job: the Task body under the job supervisor, and
:func:`report_progress` for the job function to call."""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable
from typing import Any, Final, Protocol
from typing import cast as cast_type

import attrs
import trio

from .._behaviours._task import _PLAIN, Task
from .._core import _telemetry
from ._executors import Executor
from ._store import JobRecord, JobState, Progress


class _Engine(Protocol):
    """What an attempt uses of the durable engine (``_durable.py``)."""

    @property
    def executor(self) -> Executor: ...
    def _end(self, attempt: _Attempt, state: JobState, *, error: str | None = ...) -> None: ...
    def _failed(self, attempt: _Attempt, error: str, retryable: bool) -> None: ...
    def _completed(self, attempt: _Attempt, result: Any) -> None: ...
    def _retries(self, exc: Exception) -> bool: ...
    def _interrupted(self, attempt: _Attempt) -> None: ...
    def _telemetry(
        self, kind: str, attempt: _Attempt, measurements: dict[str, float], **more: Any
    ) -> None: ...


@attrs.define(eq=False)
class _Attempt:
    engine: _Engine
    queue: Any  # the engine's named queue
    record: JobRecord
    fn: Callable[..., Any] | None
    timeout: float | None
    scope: trio.CancelScope | None = None
    cancel_requested: bool = False
    ended: bool = False
    progress: Progress | None = None
    progress_dirty: bool = False
    started: float = 0.0

    def _task_exited(self, pid: object, reason: object) -> None:
        """Its Task exited (a process watcher): an attempt whose Task was killed before
        it ran has not ended, and without this its claim would stay held (renewed by
        every heartbeat) until the queue stops."""
        if not self.ended:
            self.engine._interrupted(self)


_CURRENT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "trio_otp_durable_attempt", default=None
)


def report_progress(fraction: float, message: str = "") -> None:
    """Report the running job's progress: ``fraction`` in [0, 1], a short message.

    Call it from the job function (sync or async, in-process executor). A durable
    job's progress is written to its row (at most once per ``poll_interval``; the last
    report of an attempt always) and shown by :attr:`DurableJob.progress`,
    :meth:`JobQueue.store_statistics` and the ``[trio_otp, job, progress]`` telemetry
    event. Never blocks.

    Raises:
        RuntimeError: not called from inside a durable job's attempt.
        ValueError: ``fraction`` outside [0, 1], or the message is not a str.
    """
    attempt = _CURRENT.get()
    if attempt is None:
        raise RuntimeError(
            "report_progress() is called from inside a durable job's function, while "
            "it runs on a JobQueue(store=...)"
        )
    value: object = fraction
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"progress must be a fraction in [0, 1], got {fraction!r}")
    if not isinstance(message, str):
        raise ValueError(f"a progress message is a str, got {message!r}")
    attempt.progress = Progress(float(value), message[:200])
    attempt.progress_dirty = True
    if _telemetry.listening:
        record = attempt.record
        _telemetry.execute_telemetry(
            ("trio_otp", "job", "progress"),
            {"fraction": float(value)},
            {"queue": record.queue, "worker": record.worker, "id": record.id, "message": message},
        )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__qualname__}: {exc}"
    return text if len(text) <= 2000 else text[:1997] + "..."


def _run_attempt(attempt: _Attempt) -> Any:
    """One attempt of a durable job: the body of its Task under the job supervisor.

    A plain function run in-process never awaits, so nothing can interrupt it: it
    runs right here, and the Task's body returns no awaitable (so the Task needs no
    kill switch and no coroutine is made: together about half a no-op job's time).
    Anything that awaits (an async job function, another executor) is finished by
    :func:`_await_attempt`, which the Task awaits.
    """
    engine = attempt.engine
    record = attempt.record
    attempt.started = trio.current_time()
    if _telemetry.listening:
        engine._telemetry("start", attempt, {"system_time": time.time()})
    if attempt.cancel_requested:  # asked before it began: it does not run
        engine._end(attempt, JobState.CANCELLED, error="cancelled by request")
        return None
    if not engine.executor.inline:
        return _await_attempt(attempt, None)
    fn = attempt.fn
    assert fn is not None
    token = _CURRENT.set(attempt)
    awaiting: Any = None
    try:
        result = fn(*record.args)
        if type(result) not in _PLAIN and hasattr(result, "__await__"):
            awaiting = result
        else:
            engine._completed(attempt, result)
    except Exception as exc:
        engine._failed(attempt, _describe(exc), engine._retries(exc))
    finally:
        _CURRENT.reset(token)
        if awaiting is None and not attempt.ended:
            engine._interrupted(attempt)  # a BaseException (KeyboardInterrupt) went by
    return None if awaiting is None else _await_attempt(attempt, awaiting)


async def _await_attempt(attempt: _Attempt, awaiting: Any) -> None:
    """The rest of an attempt that awaits: ``awaiting`` (an async job function's
    awaitable), or the executor's run when ``None``. One cancel scope serves both a
    cancel request and the attempt's timeout (its deadline); ``cancel_requested``
    tells them apart."""
    engine = attempt.engine
    record = attempt.record
    token = _CURRENT.set(attempt)
    timeout = attempt.timeout
    try:
        result: Any = None
        deadline = math.inf if timeout is None else attempt.started + timeout
        with trio.CancelScope(deadline=deadline) as scope:
            attempt.scope = scope
            if attempt.cancel_requested:
                scope.cancel()
            if awaiting is not None:
                result = await awaiting
            else:
                fn = attempt.fn
                assert fn is not None
                executor = engine.executor
                await executor.prepare()
                result = await executor.run(fn, tuple(record.args))
        attempt.scope = None
        if not scope.cancelled_caught:
            engine._completed(attempt, result)
        elif attempt.cancel_requested:
            engine._end(attempt, JobState.CANCELLED, error="cancelled by request")
        else:
            engine._failed(attempt, f"JobTimeoutError: the attempt ran past {timeout} s", True)
    except Exception as exc:
        attempt.scope = None
        engine._failed(attempt, _describe(exc), engine._retries(exc))
    finally:
        _CURRENT.reset(token)
        if not attempt.ended:
            engine._interrupted(attempt)


_NO_ATTEMPT: Final = cast_type(_Attempt, None)  # each start passes its own
_ATTEMPT_SPEC: Final = Task.child_spec(_run_attempt, _NO_ATTEMPT)
