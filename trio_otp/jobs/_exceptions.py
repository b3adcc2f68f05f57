"""The exceptions of the job system: what a job's caller or a queue's user can meet.

All derive from :class:`~trio_otp.JobQueueError`, an :class:`~trio_otp.OTPError`; each
class says who raises it, when, and what to do about it.
"""

from __future__ import annotations

from .._core._exceptions import OTPError

# --------------------------------------------------------------------------------------
# The job queue (trio_otp.JobQueue) and its executors
# --------------------------------------------------------------------------------------


class JobQueueError(OTPError):
    """Base class of the errors a :class:`~trio_otp.JobQueue` raises on purpose."""


class QueueFullError(JobQueueError):
    """Raised by ``JobQueue.schedule``/``submit`` with ``on_full="fail"`` when the
    queue is full: ``max_running`` jobs run and ``max_queued`` wait already.

    Nothing was queued. Back off and try again later, shed the work, or raise the
    bounds (the queue's options ``max_running`` and ``max_queued``).
    """

    def __init__(self, queue: object, max_running: int, max_queued: int) -> None:
        super().__init__(queue, max_running, max_queued)
        self.queue = queue
        self.max_running = max_running
        self.max_queued = max_queued

    def __str__(self) -> str:
        return (
            f"{self.queue!r} is full: {self.max_running} jobs running and "
            f"{self.max_queued} queued; try again later or raise max_running/max_queued"
        )


class QueueStoppedError(JobQueueError):
    """Raised to a caller of a :class:`~trio_otp.JobQueue` that is stopping or stopped.

    Scheduling was refused (nothing was queued), or a caller waiting for room in a
    full queue was turned away when the queue began to stop.
    """

    def __init__(self, queue: object) -> None:
        super().__init__(queue)
        self.queue = queue

    def __str__(self) -> str:
        return f"{self.queue!r} is stopping or stopped: it accepts no more jobs"


class JobError(JobQueueError):
    """Base class of the errors a job's caller gets when the job gave no result.

    Attributes:
        job: the job's handle (:class:`~trio_otp.JobHandle`): its ``name``, ``id``,
            ``attempts`` and ``status`` say which job and how far it got.
    """

    def __init__(self, job: object) -> None:
        super().__init__(job)
        self.job = job


class JobTimeoutError(JobError):
    """Raised to the caller of a job that ran longer than its ``timeout``.

    The attempt's cancel scope expired: the job was cancelled (an in-process job)
    or its worker killed (trio-parallel, Ray). It is not retried.

    Attributes:
        timeout: the job's timeout in seconds.
    """

    def __init__(self, job: object, timeout: float) -> None:
        super().__init__(job)
        self.timeout = timeout

    def __str__(self) -> str:
        return f"{self.job!r} did not finish within its timeout of {self.timeout:g} s"


class JobCancelledError(JobError):
    """Raised to the caller of a job that was cancelled before it finished.

    ``JobHandle.cancel()`` was called, or the queue stopped while the job was
    queued, or its ``shutdown`` budget ran out while the queue stopped.

    Attributes:
        reason: why: ``"cancelled"`` (by its handle) or ``"shutdown"`` (the queue).
    """

    def __init__(self, job: object, reason: str) -> None:
        super().__init__(job)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.job!r} was cancelled ({self.reason})"


class JobLostError(JobError):
    """Raised to the caller of a job whose supervisor gave up (restart intensity).

    The job's task crashed (a worker or node died, see :exc:`WorkerLostError`) and
    its restart was refused, or the job supervisor itself was restarted. The
    ``__cause__`` is the last crash reason, when known. Schedule the job again, or
    look at why its workers die.
    """

    def __str__(self) -> str:
        cause = f": {self.__cause__!r}" if self.__cause__ is not None else ""
        return f"{self.job!r} was lost: its job supervisor gave up{cause}"


class JobRefusedError(JobError):
    """A job that was never admitted: it never ran. No longer raised by trio_otp.

    It was raised when the queue's server restarted (after the job supervisor gave
    up) while a request to schedule the job waited for it; since issue 18 such a
    request is admitted by the restarted server instead. Kept so that code catching
    it still imports.
    """

    def __str__(self) -> str:
        return (
            f"{self.job!r} was not admitted (the queue's server restarted before admitting "
            "it): it never ran, so scheduling it again is safe"
        )


class WorkerLostError(JobQueueError):
    """Raised by an executor when the worker running a job died: a crash reason.

    A trio-parallel worker process exited (``os._exit``, a signal, a segfault), or
    a Ray worker or node died (``WorkerCrashedError``, ``NodeDiedError``, ...). The
    engine's own error is the ``__cause__``. The job's supervised task crashes with
    it: a *transient* job runs again in a fresh worker; a *temporary* job's caller
    gets this error. The retry policy never retries it (it is the supervisor's).

    Attributes:
        executor: the executor that ran the job.
    """

    def __init__(self, executor: object, detail: str) -> None:
        super().__init__(executor, detail)
        self.executor = executor
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.executor!r} lost the worker running the job: {self.detail}"


class JobNotPicklableError(JobQueueError, TypeError):
    """Raised by ``JobQueue.schedule``/``submit`` when a job cannot be shipped.

    Process and Ray executors pickle each job (function and arguments) to send it
    to another process; this one cannot be pickled. Nothing was queued. Define the
    function at module level (trio-parallel) and pass picklable arguments.
    """

    def __init__(self, job: object, executor: object, cause: BaseException) -> None:
        super().__init__(job, executor, cause)
        self.job = job
        self.executor = executor
        self.cause = cause

    def __str__(self) -> str:
        return (
            f"job {self.job} cannot be sent to {self.executor!r}: it is not picklable "
            f"({type(self.cause).__name__}: {self.cause}); define the function at module "
            "level and pass picklable arguments"
        )


class ExecutorStartError(JobQueueError):
    """Raised when a :class:`~trio_otp.JobQueue` cannot start its executor.

    The engine is not installed, could not be started or reached (a Ray address
    nobody answers at), or the executor object is already open for another running
    queue (give each queue its own). The queue did not start. The engine's error is the
    ``__cause__``.

    Attributes:
        executor: the executor; ``address``: where it tried to connect (or ``None``).
    """

    def __init__(self, executor: object, address: str | None, detail: str) -> None:
        super().__init__(executor, address, detail)
        self.executor = executor
        self.address = address
        self.detail = detail

    def __str__(self) -> str:
        where = f" at {self.address}" if self.address else ""
        return f"{self.executor!r} could not start{where}: {self.detail}"
