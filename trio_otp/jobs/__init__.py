"""The job system: JobQueue, its retry policy, handles, executors and exceptions.

A subsystem on top of the OTP layers (nothing in them imports it). This package is
its public face: ``from trio_otp.jobs import JobQueue`` and ``from trio_otp import
JobQueue`` give the same class (reprs and tracebacks say ``trio_otp.JobQueue``).
One concept per module:

* ``_queue``: :class:`JobQueue`, the façade users meet (options, running, scheduling).
* ``_server``: the queue's tree, its server and its book-keeping.
* ``_attempt``: a job's supervised task (attempts, retries, crash reasons).
* ``_handle``: :class:`JobHandle`, :class:`JobStatus`, :class:`JobEvent`, :class:`EventKind`.
* ``_retry``: :class:`RetryPolicy`. ``_statistics``: :class:`JobQueueStatistics`.
* ``_options``: the checks of the queue's and each job's options.
* ``_executors``: where a job's body runs. ``_exceptions``: what a caller can meet.
"""

from ._exceptions import ExecutorStartError as ExecutorStartError
from ._exceptions import JobCancelledError as JobCancelledError
from ._exceptions import JobError as JobError
from ._exceptions import JobLostError as JobLostError
from ._exceptions import JobNotPicklableError as JobNotPicklableError
from ._exceptions import JobQueueError as JobQueueError
from ._exceptions import JobRefusedError as JobRefusedError
from ._exceptions import JobTimeoutError as JobTimeoutError
from ._exceptions import QueueFullError as QueueFullError
from ._exceptions import QueueStoppedError as QueueStoppedError
from ._exceptions import WorkerLostError as WorkerLostError
from ._executors import Executor as Executor
from ._executors import InProcessExecutor as InProcessExecutor
from ._executors import ProcessExecutor as ProcessExecutor
from ._executors import RayExecutor as RayExecutor
from ._handle import EventKind as EventKind
from ._handle import JobEvent as JobEvent
from ._handle import JobHandle as JobHandle
from ._handle import JobStatus as JobStatus
from ._queue import JobQueue as JobQueue
from ._retry import RetryPolicy as RetryPolicy
from ._statistics import JobQueueStatistics as JobQueueStatistics
