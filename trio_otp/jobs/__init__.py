"""The job system: JobQueue, its retry policy, handles, executors, stores and cron.

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
* ``_store``: the :class:`JobStore` protocol and its records; ``_sqlite`` (and
  ``_sqlite_sql``): :class:`SQLiteStore`, the embedded durable store; ``_postgres``:
  :class:`~trio_otp.jobs.PostgresStore` (with :class:`~trio_otp.jobs.QueueLimits`,
  :exc:`~trio_otp.jobs.StoreConnectionError`), the
  store shared by many hosts, imported on first use (it needs the ``postgres`` extra).
* ``_registry``: the registered job functions and their JSON-checked arguments.
* ``_cron``: cron and interval schedules.
* ``_durable``, ``_durable_api``, ``_durable_attempt``, ``_durable_job``: the durable
  engine under ``JobQueue(store=...)``, its methods, its attempts, its job handles.
"""

import contextlib as _contextlib
import typing as _typing

from ._cron import Cron as Cron
from ._cron import Every as Every
from ._cron import every as every
from ._durable_attempt import report_progress as report_progress
from ._durable_job import DurableJob as DurableJob
from ._durable_job import JobDiscardedError as JobDiscardedError
from ._durable_job import JobNotFoundError as JobNotFoundError
from ._durable_job import QueueCounts as QueueCounts
from ._durable_job import StoreStatistics as StoreStatistics
from ._durable_job import UniqueJob as UniqueJob
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
from ._registry import JobArgumentsError as JobArgumentsError
from ._registry import JobFunctionError as JobFunctionError
from ._registry import JobRegistry as JobRegistry
from ._retry import RetryPolicy as RetryPolicy
from ._sqlite import SQLiteStore as SQLiteStore
from ._statistics import JobQueueStatistics as JobQueueStatistics
from ._store import Ack as Ack
from ._store import AttemptError as AttemptError
from ._store import InsertResult as InsertResult
from ._store import JobRecord as JobRecord
from ._store import JobState as JobState
from ._store import JobStore as JobStore
from ._store import NewJob as NewJob
from ._store import Progress as Progress
from ._store import RescueReport as RescueReport
from ._store import StoreBusyError as StoreBusyError
from ._store import StoreCorruptError as StoreCorruptError
from ._store import StoreError as StoreError
from ._store import StoreFullError as StoreFullError
from ._store import StoreReadOnlyError as StoreReadOnlyError
from ._store import StoreSchemaError as StoreSchemaError
from ._store import Unique as Unique

# Reprs and tracebacks say ``trio_otp.jobs.X`` (``trio_otp`` re-exports some of these
# names and then says ``trio_otp.X`` for them, as it always has).
for _name, _obj in list(globals().items()):
    if not _name.startswith("_") and getattr(_obj, "__module__", "").startswith("trio_otp.jobs._"):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj


if _typing.TYPE_CHECKING:
    from ._postgres import PostgresStore as PostgresStore
    from ._postgres import QueueLimits as QueueLimits
    from ._postgres import StoreConnectionError as StoreConnectionError

_POSTGRES_NAMES = frozenset({"PostgresStore", "QueueLimits", "StoreConnectionError"})


def __getattr__(name: str) -> _typing.Any:
    # PostgresStore needs psycopg (the ``postgres`` extra): imported on first use only.
    if name in _POSTGRES_NAMES:
        from . import _postgres

        obj: _typing.Any = getattr(_postgres, name)
        with _contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = __name__
        globals()[name] = obj
        return obj
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
