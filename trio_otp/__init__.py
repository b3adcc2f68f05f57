"""trio_otp: Erlang/Elixir OTP supervision, rebuilt the Trio way.

The public façade: every name is defined in a private one-concept module and
re-exported here.
"""

import contextlib as _contextlib

from ._behaviours._agent import Agent as Agent
from ._behaviours._async_stream import AsyncStream as AsyncStream
from ._behaviours._async_stream import async_stream as async_stream
from ._behaviours._registry import Registry as Registry
from ._behaviours._registry import RegistryHandle as RegistryHandle
from ._behaviours._registry import Via as Via
from ._behaviours._task import AsyncTask as AsyncTask
from ._behaviours._task import Task as Task
from ._behaviours._task import TaskResult as TaskResult
from ._behaviours._task_supervisor import TaskSupervisor as TaskSupervisor
from ._behaviours._task_supervisor import await_many as await_many
from ._behaviours._task_supervisor import yield_many as yield_many
from ._behaviours._tcp import TCPHandler as TCPHandler
from ._behaviours._tcp import listener_addresses as listener_addresses
from ._behaviours._tcp import serve_tcp as serve_tcp
from ._core._call import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._core._call import From as From
from ._core._call import call as call
from ._core._call import cast as cast
from ._core._call import reply as reply
from ._core._call import send as send
from ._core._call import stop as stop
from ._core._exceptions import AlreadyPresentError as AlreadyPresentError
from ._core._exceptions import AlreadyRegisteredError as AlreadyRegisteredError
from ._core._exceptions import AlreadyStartedError as AlreadyStartedError
from ._core._exceptions import BadReturnValue as BadReturnValue
from ._core._exceptions import CalleeExit as CalleeExit
from ._core._exceptions import CallError as CallError
from ._core._exceptions import CallingSelfError as CallingSelfError
from ._core._exceptions import CallTimeout as CallTimeout
from ._core._exceptions import ChildNotFoundError as ChildNotFoundError
from ._core._exceptions import ChildRunningError as ChildRunningError
from ._core._exceptions import ChildSpecError as ChildSpecError
from ._core._exceptions import ChildStartError as ChildStartError
from ._core._exceptions import MaxChildrenError as MaxChildrenError
from ._core._exceptions import NoProcessError as NoProcessError
from ._core._exceptions import OTPError as OTPError
from ._core._exceptions import ProcessExit as ProcessExit
from ._core._exceptions import ReceiveTimeout as ReceiveTimeout
from ._core._exceptions import RestartIntensityError as RestartIntensityError
from ._core._exceptions import StartError as StartError
from ._core._exceptions import SupervisorError as SupervisorError
from ._core._exceptions import TaskExit as TaskExit
from ._core._exceptions import TaskTimeout as TaskTimeout
from ._core._exceptions import TelemetryHandlerExistsError as TelemetryHandlerExistsError
from ._core._exceptions import UnknownRegistryError as UnknownRegistryError
from ._core._mailbox import Mailbox as Mailbox
from ._core._mailbox import mailbox as mailbox
from ._core._messages import TIMEOUT as TIMEOUT
from ._core._messages import Down as Down
from ._core._messages import Exit as Exit
from ._core._messages import TaskReply as TaskReply
from ._core._monitors import demonitor as demonitor
from ._core._monitors import exit as exit
from ._core._monitors import link as link
from ._core._monitors import monitor as monitor
from ._core._monitors import trap_exit as trap_exit
from ._core._monitors import unlink as unlink
from ._core._names import registered as registered
from ._core._names import whereis as whereis
from ._core._process import Pid as Pid
from ._core._process import current_process as current_process
from ._core._reasons import KILL as KILL
from ._core._reasons import KILLED as KILLED
from ._core._reasons import NOPROC as NOPROC
from ._core._reasons import NORMAL as NORMAL
from ._core._reasons import SHUTDOWN as SHUTDOWN
from ._core._reasons import Shutdown as Shutdown
from ._core._reasons import is_normal_exit as is_normal_exit
from ._core._refs import Ref as Ref
from ._core._reports import DEFAULT_SECRET_KEYS as DEFAULT_SECRET_KEYS
from ._core._reports import add_secret_keys as add_secret_keys
from ._core._reports import secret_keys as secret_keys
from ._core._request import Request as Request
from ._core._telemetry import TelemetryHandler as TelemetryHandler
from ._core._telemetry import attach_many_telemetry as attach_many_telemetry
from ._core._telemetry import attach_telemetry as attach_telemetry
from ._core._telemetry import detach_telemetry as detach_telemetry
from ._core._telemetry import execute_telemetry as execute_telemetry
from ._core._telemetry import list_telemetry_handlers as list_telemetry_handlers
from ._core._timers import TimerRef as TimerRef
from ._core._timers import cancel_timer as cancel_timer
from ._core._timers import read_timer as read_timer
from ._core._timers import send_after as send_after
from ._server._child_spec import BRUTAL_KILL as BRUTAL_KILL
from ._server._child_spec import INFINITY as INFINITY
from ._server._child_spec import ChildSpec as ChildSpec
from ._server._child_spec import ChildType as ChildType
from ._server._child_spec import Restart as Restart
from ._server._child_spec import ShutdownValue as ShutdownValue
from ._server._gen_server import Continue as Continue
from ._server._gen_server import GenServer as GenServer
from ._server._gen_server import Ignore as Ignore
from ._server._gen_server import NoReply as NoReply
from ._server._gen_server import Ok as Ok
from ._server._gen_server import Reply as Reply
from ._server._gen_server import Status as Status
from ._server._gen_server import Stop as Stop
from ._supervision._application import run_application as run_application
from ._supervision._dynamic_supervisor import DynamicSupervisor as DynamicSupervisor
from ._supervision._partition_supervisor import PartitionSupervisor as PartitionSupervisor
from ._supervision._partition_supervisor import PartitionVia as PartitionVia
from ._supervision._supervisor import Supervisor as Supervisor
from ._supervision._supervisor_server import RESTARTING as RESTARTING
from ._supervision._supervisor_server import ChildCounts as ChildCounts
from ._supervision._supervisor_server import ChildInfo as ChildInfo
from ._supervision._supervisor_server import Strategy as Strategy
from ._supervision._tree import render_tree as render_tree
from ._version import __version__ as __version__
from .jobs import EventKind as EventKind
from .jobs import Executor as Executor
from .jobs import ExecutorStartError as ExecutorStartError
from .jobs import InProcessExecutor as InProcessExecutor
from .jobs import JobCancelledError as JobCancelledError
from .jobs import JobError as JobError
from .jobs import JobEvent as JobEvent
from .jobs import JobHandle as JobHandle
from .jobs import JobLostError as JobLostError
from .jobs import JobNotPicklableError as JobNotPicklableError
from .jobs import JobQueue as JobQueue
from .jobs import JobQueueError as JobQueueError
from .jobs import JobQueueStatistics as JobQueueStatistics
from .jobs import JobRefusedError as JobRefusedError
from .jobs import JobStatus as JobStatus
from .jobs import JobTimeoutError as JobTimeoutError
from .jobs import ProcessExecutor as ProcessExecutor
from .jobs import QueueFullError as QueueFullError
from .jobs import QueueStoppedError as QueueStoppedError
from .jobs import RayExecutor as RayExecutor
from .jobs import RetryPolicy as RetryPolicy
from .jobs import WorkerLostError as WorkerLostError

# Tracebacks and reprs say ``trio_otp.X``, not ``trio_otp._layer._module.X`` (as trio
# does); the job system's names too, though they live in the ``trio_otp.jobs`` package.
for _name, _obj in list(globals().items()):
    if not _name.startswith("_") and (
        getattr(_obj, "__module__", "").startswith(("trio_otp._", "trio_otp.jobs"))
    ):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj
