"""trio_otp: Erlang/Elixir OTP supervision, rebuilt the Trio way.

The public façade: every name is defined in a private one-concept module and
re-exported here.
"""

import contextlib as _contextlib

from ._agent import Agent as Agent
from ._application import run_application as run_application
from ._async_stream import AsyncStream as AsyncStream
from ._async_stream import async_stream as async_stream
from ._call import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._call import From as From
from ._call import call as call
from ._call import cast as cast
from ._call import reply as reply
from ._call import send as send
from ._call import stop as stop
from ._child_spec import BRUTAL_KILL as BRUTAL_KILL
from ._child_spec import INFINITY as INFINITY
from ._child_spec import ChildSpec as ChildSpec
from ._child_spec import ChildType as ChildType
from ._child_spec import Restart as Restart
from ._child_spec import ShutdownValue as ShutdownValue
from ._dynamic_supervisor import DynamicSupervisor as DynamicSupervisor
from ._exceptions import AlreadyPresentError as AlreadyPresentError
from ._exceptions import AlreadyRegisteredError as AlreadyRegisteredError
from ._exceptions import AlreadyStartedError as AlreadyStartedError
from ._exceptions import BadReturnValue as BadReturnValue
from ._exceptions import CalleeExit as CalleeExit
from ._exceptions import CallError as CallError
from ._exceptions import CallingSelfError as CallingSelfError
from ._exceptions import CallTimeout as CallTimeout
from ._exceptions import ChildNotFoundError as ChildNotFoundError
from ._exceptions import ChildRunningError as ChildRunningError
from ._exceptions import ChildSpecError as ChildSpecError
from ._exceptions import ChildStartError as ChildStartError
from ._exceptions import ExecutorStartError as ExecutorStartError
from ._exceptions import JobCancelledError as JobCancelledError
from ._exceptions import JobError as JobError
from ._exceptions import JobLostError as JobLostError
from ._exceptions import JobNotPicklableError as JobNotPicklableError
from ._exceptions import JobQueueError as JobQueueError
from ._exceptions import JobTimeoutError as JobTimeoutError
from ._exceptions import MaxChildrenError as MaxChildrenError
from ._exceptions import NoProcessError as NoProcessError
from ._exceptions import OTPError as OTPError
from ._exceptions import ProcessExit as ProcessExit
from ._exceptions import QueueFullError as QueueFullError
from ._exceptions import QueueStoppedError as QueueStoppedError
from ._exceptions import ReceiveTimeout as ReceiveTimeout
from ._exceptions import RestartIntensityError as RestartIntensityError
from ._exceptions import StartError as StartError
from ._exceptions import SupervisorError as SupervisorError
from ._exceptions import TaskExit as TaskExit
from ._exceptions import TaskTimeout as TaskTimeout
from ._exceptions import TelemetryHandlerExistsError as TelemetryHandlerExistsError
from ._exceptions import UnknownRegistryError as UnknownRegistryError
from ._exceptions import WorkerLostError as WorkerLostError
from ._executors import Executor as Executor
from ._executors import InProcessExecutor as InProcessExecutor
from ._executors import ProcessExecutor as ProcessExecutor
from ._executors import RayExecutor as RayExecutor
from ._gen_server import Continue as Continue
from ._gen_server import GenServer as GenServer
from ._gen_server import Ignore as Ignore
from ._gen_server import NoReply as NoReply
from ._gen_server import Ok as Ok
from ._gen_server import Reply as Reply
from ._gen_server import Stop as Stop
from ._job_queue import EventKind as EventKind
from ._job_queue import JobEvent as JobEvent
from ._job_queue import JobHandle as JobHandle
from ._job_queue import JobQueue as JobQueue
from ._job_queue import JobQueueStatistics as JobQueueStatistics
from ._job_queue import JobStatus as JobStatus
from ._job_queue import RetryPolicy as RetryPolicy
from ._key_registry import Registry as Registry
from ._key_registry import Via as Via
from ._mailbox import Mailbox as Mailbox
from ._mailbox import mailbox as mailbox
from ._messages import TIMEOUT as TIMEOUT
from ._messages import Down as Down
from ._messages import Exit as Exit
from ._messages import TaskReply as TaskReply
from ._monitors import Ref as Ref
from ._monitors import demonitor as demonitor
from ._monitors import exit as exit
from ._monitors import link as link
from ._monitors import monitor as monitor
from ._monitors import trap_exit as trap_exit
from ._monitors import unlink as unlink
from ._partition_supervisor import PartitionSupervisor as PartitionSupervisor
from ._partition_supervisor import PartitionVia as PartitionVia
from ._process import Pid as Pid
from ._process import current_process as current_process
from ._reasons import KILL as KILL
from ._reasons import KILLED as KILLED
from ._reasons import NOPROC as NOPROC
from ._reasons import NORMAL as NORMAL
from ._reasons import SHUTDOWN as SHUTDOWN
from ._reasons import Shutdown as Shutdown
from ._reasons import is_normal_exit as is_normal_exit
from ._registry import registered as registered
from ._registry import whereis as whereis
from ._request import Request as Request
from ._supervisor import RESTARTING as RESTARTING
from ._supervisor import ChildCounts as ChildCounts
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import Strategy as Strategy
from ._supervisor import Supervisor as Supervisor
from ._task import AsyncTask as AsyncTask
from ._task import Task as Task
from ._task import TaskResult as TaskResult
from ._task_supervisor import TaskSupervisor as TaskSupervisor
from ._task_supervisor import await_many as await_many
from ._task_supervisor import yield_many as yield_many
from ._telemetry import TelemetryHandler as TelemetryHandler
from ._telemetry import attach_many_telemetry as attach_many_telemetry
from ._telemetry import attach_telemetry as attach_telemetry
from ._telemetry import detach_telemetry as detach_telemetry
from ._telemetry import execute_telemetry as execute_telemetry
from ._telemetry import list_telemetry_handlers as list_telemetry_handlers
from ._timers import TimerRef as TimerRef
from ._timers import cancel_timer as cancel_timer
from ._timers import read_timer as read_timer
from ._timers import send_after as send_after
from ._tree import render_tree as render_tree
from ._version import __version__ as __version__

# Tracebacks and reprs say ``trio_otp.X``, not ``trio_otp._module.X`` (as trio does).
for _name, _obj in list(globals().items()):
    if not _name.startswith("_") and getattr(_obj, "__module__", "").startswith("trio_otp._"):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj
