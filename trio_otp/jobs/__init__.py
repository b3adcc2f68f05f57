"""The job system: JobQueue, its retry policy, handles and executors.

A subsystem on top of the OTP layers (nothing in them imports it). The names here are
also exported by :mod:`trio_otp` itself.
"""

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
from ._registry import JobArgumentsError as JobArgumentsError
from ._registry import JobFunctionError as JobFunctionError
from ._registry import JobRegistry as JobRegistry
from ._sqlite import SQLiteStore as SQLiteStore
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
