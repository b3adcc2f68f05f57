"""Executors: where a job's body runs (in the trio thread, on all cores, on many hosts).

One small protocol, three implementations. Supervision stays local: the
:class:`~trio_otp.JobQueue` always runs a job in a supervised *local* trio task, and
only the job's body goes to the executor. A remote failure comes back as an
exception in that task: the application's own exception type, or
:exc:`~trio_otp.WorkerLostError` when the worker or node died (a crash reason, left
to the supervisor's restart type). Engines' own retries are off: the one retry
policy is the queue's, and the one restart policy is the supervisor's.

* :class:`InProcessExecutor` (the default): the body runs in the task itself.
* :class:`ProcessExecutor`: trio-parallel worker processes, all cores of one host
  (extra ``trio_otp[parallel]``).
* :class:`RayExecutor`: a Ray cluster, local or by address (extra ``trio_otp[ray]``).

The engines are imported only when such an executor opens.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import io
import logging
import math
import os
import pickle
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, ClassVar, Final, Protocol, final, runtime_checkable

import trio

from ._exceptions import ExecutorStartError, JobNotPicklableError, WorkerLostError

logger = logging.getLogger("trio_otp.job_queue")

#: ids of the executors open now (removed when they close, so an id is never stale)
_OPEN: set[int] = set()


@contextmanager
def _in_use(executor: object) -> Iterator[None]:
    # An executor's open state (its worker pool, its Ray bridge) belongs to one
    # running queue: a second queue opening the same object would share and then
    # close it under the first one.
    key = id(executor)
    if key in _OPEN:
        raise ExecutorStartError(
            executor,
            None,
            "it is already open for another running JobQueue: give each queue (and each "
            "child spec that starts queues at once) its own executor object",
        )
    _OPEN.add(key)
    try:
        yield
    finally:
        _OPEN.discard(key)


@runtime_checkable
class Executor(Protocol):
    """Where a job's body runs: the protocol every executor implements.

    The queue calls :meth:`open` once for its lifetime (in the task that runs the
    queue), :meth:`check` for each job when it is scheduled, and for each attempt
    ``prepare`` then :meth:`run`, inside the job's supervised task. The queue
    runs at most ``capacity`` attempts at once (the rest stay queued), and a
    job's timeout and its ``started`` event begin after ``prepare``, when the
    body really starts: time spent waiting for a worker is never charged to a job.
    """

    @property
    def capacity(self) -> int | None:
        """Bodies this executor runs at once (an int >= 1), or ``None`` for no bound
        of its own.

        The queue admits at most ``min(max_running, capacity)`` jobs to run; a queue
        refuses, when it is made, an executor whose capacity is anything else."""
        ...

    #: True when :meth:`run` runs the body in the trio thread itself: the queue then
    #: calls a plain function directly (no await, no cancel scope).
    inline: ClassVar[bool]

    def open(self) -> AbstractAsyncContextManager[None]:
        """Start the engine for the queue's lifetime; stop it (and every worker) on exit.

        Raises:
            ExecutorStartError: the engine is missing or cannot start or be reached.
        """
        ...

    async def prepare(self) -> None:
        """Get a worker ready for one attempt (spawn it if need be), before the job's
        timeout begins. Cancellable; a no-op for executors that need nothing.

        Raises :exc:`~trio_otp.WorkerLostError` if the worker died meanwhile. Whatever
        it raises is the job's crash reason (the restart type decides)."""
        ...

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        """Refuse, at scheduling time, a job this executor cannot run.

        Raises:
            JobNotPicklableError: the job must be shipped and cannot be pickled.
            TypeError: the executor cannot run this kind of function.
        """
        ...

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run ``fn(*args)`` once and return its result.

        Raises the job's own exception, or :exc:`~trio_otp.WorkerLostError` if the
        worker died. When the caller's scope is cancelled, the body must stop too
        (killing its worker if need be) before this returns.
        """
        ...


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


@final
class InProcessExecutor:
    """Run the body in the job's own trio task (the default; no dependency).

    ``fn`` may be an async function (it runs concurrently with everything else) or a
    plain one (it runs inline and blocks the trio thread while it runs: keep such
    jobs short, or use :class:`ProcessExecutor`).
    """

    inline: ClassVar[bool] = True

    @property
    def capacity(self) -> None:
        return None  # the queue's max_running is the only bound

    def __repr__(self) -> str:
        return "InProcessExecutor()"

    async def prepare(self) -> None:
        await trio.lowlevel.checkpoint()

    def open(self) -> AbstractAsyncContextManager[None]:
        return _nothing()

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        if not callable(fn):
            raise TypeError(f"a job must be callable, got {fn!r}")

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result


def _check_shippable(
    executor: object, fn: Callable[..., Any], args: tuple[Any, ...], name: str, dumps: Any
) -> None:
    if not callable(fn):
        raise TypeError(f"a job must be callable, got {fn!r}")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"job {name} is an async function: {executor!r} runs plain functions in "
            "worker processes, which have no trio loop; pass a plain function"
        )
    try:
        dumps((fn, args))
    except Exception as exc:
        raise JobNotPicklableError(name, executor, exc) from exc


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


@final
class ProcessExecutor:
    """Run bodies in trio-parallel worker processes: all cores of one host.

    Needs the extra ``trio_otp[parallel]`` (trio-parallel). Jobs are plain functions
    defined at module level, with picklable arguments. A worker is spawned (~0.3 s)
    the first time it is needed and after one was killed or died, in
    ``prepare``: before the job's timeout begins. (A worker that trio-parallel
    retired after ``idle_timeout`` idle seconds is respawned inside the attempt.)

    * Application exceptions come back as their own type.
    * A worker that dies (``os._exit``, a signal, a segfault) raises
      :exc:`~trio_otp.WorkerLostError`: a crash reason; the next attempt gets a
      fresh worker.
    * Cancellation (the job's timeout, its handle, the queue stopping) kills the
      worker process (trio-parallel's ``kill_on_cancel``): nothing keeps running.
    * When the queue stops, the worker context closes: no worker outlives it.

    Args:
        max_workers: bodies running at once. Default **None**: ``os.cpu_count()``.
        idle_timeout: seconds an idle worker is kept. Default **600**.
        worker_type: trio-parallel's ``WorkerType`` name, ``"spawn"`` (default),
            ``"forkserver"`` or ``"fork"``.
    """

    inline: ClassVar[bool] = False

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        idle_timeout: float = 600.0,
        worker_type: str = "spawn",
    ) -> None:
        if max_workers is not None:
            _check_positive("max_workers", max_workers)
        idle: object = idle_timeout
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not idle >= 0:
            raise ValueError(f"idle_timeout must be a number of seconds >= 0, got {idle_timeout!r}")
        if worker_type not in _WORKER_TYPES:
            raise ValueError(
                f"worker_type must be 'spawn', 'forkserver' or 'fork', got {worker_type!r}"
            )
        self.max_workers: int = max_workers or os.cpu_count() or 1
        self.idle_timeout = idle_timeout
        self.worker_type = worker_type
        self._ctx: Any = None
        # Our own limit is the queue's (capacity): trio-parallel's default limiter
        # (cpu_count) must not add a second, hidden wait inside the job's timeout.
        self._limiter = trio.CapacityLimiter(math.inf)
        self._broken: type[BaseException] = RuntimeError
        self._busy = 0  # bodies running now
        self._warm = 0  # workers spawned and believed alive (idle or busy)

    @property
    def capacity(self) -> int:
        return self.max_workers

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        try:
            trio_parallel: Any = importlib.import_module("trio_parallel")
        except ImportError as exc:
            raise ExecutorStartError(
                self, None, "trio-parallel is not installed: pip install 'trio_otp[parallel]'"
            ) from exc
        worker_type = trio_parallel.WorkerType[self.worker_type.upper()]
        with _in_use(self):
            broken = self._broken = trio_parallel.BrokenWorkerError
            self._busy = self._warm = 0
            body_failed = False
            try:
                async with trio_parallel.open_worker_context(
                    idle_timeout=self.idle_timeout, worker_type=worker_type
                ) as ctx:
                    self._ctx = ctx
                    try:
                        yield
                    except BaseException:
                        body_failed = True
                        raise
                    finally:
                        self._ctx = None
            except broken:
                if body_failed:
                    raise
                # The context's close found a worker dead (an idle worker killed from
                # outside): every job was answered and nothing is left to stop, so a
                # dead worker is no error of the queue's stop.
                logger.debug("%r: a worker was found dead when closing; ignored", self)

    def open(self) -> AbstractAsyncContextManager[None]:
        return self._open()

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        if self.worker_type == "fork" or _main_file() is not None:
            _check_shippable(self, fn, args, name, pickle.dumps)
            return
        # The program has no file (python -c, a REPL, a notebook): a spawned worker
        # cannot import what ``__main__`` defines, and would fail with a raw
        # AttributeError. Refuse such a job now, while it is being scheduled.
        found: list[str] = []
        _check_shippable(self, fn, args, name, functools.partial(_dumps_noting_main, found))
        if found:
            raise TypeError(
                f"job {name} uses {found[0]}, defined in __main__ of a program that has "
                "no file (python -c, an interactive session, a notebook): "
                f"{self!r}'s worker processes import a job's functions and classes by "
                "module name and cannot find it there. Define it in a module (a .py "
                "file) and import it, or use ProcessExecutor(worker_type='fork')"
            )

    async def prepare(self) -> None:
        if self._ctx is None:
            raise RuntimeError(f"{self!r} is not open: run jobs through a JobQueue")
        if self._warm > self._busy:
            await trio.lowlevel.checkpoint()
            return
        # No idle worker: spawn one with an empty job; it goes back to the context's
        # pool, where the attempt's run_sync finds it. A worker that dies while it is
        # spawned is a crash reason, as in run.
        try:
            await self._ctx.run_sync(_noop, kill_on_cancel=True, limiter=self._limiter)
        except self._broken as exc:
            raise WorkerLostError(self, f"worker process died while starting ({exc})") from exc
        self._warm += 1

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._ctx is None:
            raise RuntimeError(f"{self!r} is not open: run jobs through a JobQueue")
        self._busy += 1
        lost = True  # killed on cancel, or died
        try:
            result = await self._ctx.run_sync(fn, *args, kill_on_cancel=True, limiter=self._limiter)
            lost = False
            return result
        except self._broken as exc:
            raise WorkerLostError(self, f"worker process died ({exc})") from exc
        except Exception:
            lost = False  # the job raised: its worker lives on
            raise
        finally:
            self._busy -= 1
            if lost:
                self._warm = max(0, self._warm - 1)


def _noop() -> None:
    """The empty job that spawns a worker ahead of an attempt."""


def _main_file() -> str | None:
    main = sys.modules.get("__main__")
    file: str | None = getattr(main, "__file__", None)
    return file


class _MainNoter(pickle.Pickler):
    """Pickles as pickle.dumps does, noting every function or class of ``__main__``."""

    def __init__(self, file: io.BytesIO, found: list[str]) -> None:
        super().__init__(file)
        self._found = found

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            self._found.append(f"__main__.{obj.__qualname__}")
        return NotImplemented


def _dumps_noting_main(found: list[str], obj: object) -> bytes:
    buffer = io.BytesIO()
    _MainNoter(buffer, found).dump(obj)
    return buffer.getvalue()


_WORKER_TYPES: Final = ("spawn", "forkserver", "fork")


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """The one Ray remote function: run a shipped job body."""
    return fn(*args)


_RAY_AUTH_MODE: Final = "RAY_AUTH_MODE"
_RAY_LOOPBACK: Final = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _token_configured() -> bool:
    """Whether this process would connect to Ray with a token (Ray's own sources, in
    its order: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)."""
    if os.environ.get(_RAY_AUTH_MODE, "").lower() != "token":
        return False
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    try:
        with open(path, encoding="utf-8") as file:
            return bool(file.read().strip())
    except OSError:
        return False


#: Ray's errors that mean the worker, node or object owner is gone: crash reasons.
_RAY_LOST: Final = (
    "WorkerCrashedError",
    "NodeDiedError",
    "LocalRayletDiedError",
    "ObjectLostError",
    "OwnerDiedError",
)


@final
class RayExecutor:
    """Run bodies on a Ray cluster: many hosts (extra ``trio_otp[ray]``).

    Connects to a running cluster by ``address``, or starts a local one (no
    dashboard). If Ray is already initialised in this process, that connection
    is used and left open at the end.

    * Every job is submitted with ``max_retries=0`` and no ``retry_exceptions``:
      restarts stay the supervisor's decision, retries the queue's policy.
    * Application errors keep their type (Ray's ``RayTaskError`` subclasses it).
    * Worker and node death (``WorkerCrashedError``, ``NodeDiedError``, ...) raise
      :exc:`~trio_otp.WorkerLostError`, a crash reason.
    * Cancellation calls ``ray.cancel(ref, force=True)``: the worker is killed.
    * At most ``max_in_flight`` jobs are submitted at once, each submission after a
      checkpoint, so that Ray's synchronous ``.remote()`` never stalls the loop.
    * The bridge has no thread of its own: ``ObjectRef.future()`` completes on
      Ray's thread and wakes the job's task with ``TrioToken.run_sync_soon``.

    Security (docs/job_queue.rst, "Cluster security", says more): jobs are pickled
    and run as code on the cluster, and results come back pickled, so anyone who
    can reach an open Ray cluster can run code on it. Ray's token authentication
    arrived in Ray 2.52 switched off; Ray 2.59 switched it on for local clusters
    started by ``ray.init()``; Ray 2.61 for every cluster. On the versions this
    extra allows (``ray>=2.60``), a cluster started with ``ray start --head`` is
    open unless a token already exists or ``RAY_AUTH_MODE=token`` is set, and it
    listens on every interface. Therefore:

    * a local cluster this executor starts listens on 127.0.0.1 only (it sets
      ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before importing Ray, which makes
      Ray 2.60 bind its servers to the loopback address, and checks the node's
      address once started; Ray reads the variable when it is imported, so it
      holds for the whole process) and runs with token authentication on (Ray 2.60
      turns it on for a new local cluster when ``RAY_AUTH_MODE`` is unset, and
      generates the token in ``~/.ray/auth_token`` if there is none; the
      executor refuses another ``RAY_AUTH_MODE`` and checks that it is on);
    * connecting to ``address`` needs a token configured: ``RAY_AUTH_MODE=token``
      and a token in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names,
      or ``~/.ray/auth_token``. Without one the start fails, unless
      ``allow_unauthenticated=True`` says that you know the cluster accepts any
      client that reaches it (a private network of your own, a test);
    * a connection made by ``ray.init`` before the queue opens is used as it is:
      its security is the caller's.

    Args:
        address: the cluster's address (``"host:port"`` or ``"ray://..."``).
            Default **None**: start a local cluster (``address="local"``; never a
            stray cluster left on the host), on 127.0.0.1 with token auth.
        max_in_flight: jobs submitted and not finished, at most. Default **64**.
        num_cpus: CPUs of a local cluster. Default **None**: all.
        connect_timeout: seconds to reach ``address`` before the start fails.
            Default **10**.
        init_options: more keyword arguments for ``ray.init``.
        allow_unauthenticated: default **False**. ``True`` connects to
            ``address`` without a token configured, and lets a local cluster start
            with ``RAY_AUTH_MODE=disabled`` if the environment says so: anyone
            who reaches that cluster can run code as you.
    """

    inline: ClassVar[bool] = False

    def __init__(
        self,
        address: str | None = None,
        *,
        max_in_flight: int = 64,
        num_cpus: int | None = None,
        connect_timeout: float = 10.0,
        init_options: dict[str, Any] | None = None,
        allow_unauthenticated: bool = False,
    ) -> None:
        _check_positive("max_in_flight", max_in_flight)
        if not isinstance(allow_unauthenticated, bool):
            raise TypeError(
                f"allow_unauthenticated must be True or False, got {allow_unauthenticated!r}"
            )
        self.allow_unauthenticated = allow_unauthenticated
        where: object = address
        if where is not None and (not isinstance(where, str) or not where):
            raise TypeError(
                f"address must be a cluster's address as a str ('host:port' or "
                f"'ray://host:port'), or None to start a local cluster; got {address!r}"
            )
        if num_cpus is not None:
            _check_positive("num_cpus", num_cpus)
        timeout: object = connect_timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < math.inf
        ):
            raise ValueError(
                f"connect_timeout must be a number of seconds > 0 (how long to try to "
                f"reach the cluster before the queue's start fails), got {connect_timeout!r}"
            )
        options: object = init_options
        if options is not None and not isinstance(options, dict):
            raise TypeError(
                f"init_options must be a dict of ray.init keyword arguments, got {init_options!r}"
            )
        self.address = address
        self.max_in_flight = max_in_flight
        self.num_cpus = num_cpus
        self.connect_timeout = connect_timeout
        self.init_options: dict[str, Any] = dict(init_options or {})
        self._ray: Any = None
        self._remote: Any = None
        self._limiter: trio.CapacityLimiter | None = None
        self._lost: tuple[type[BaseException], ...] = ()

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address or 'local'!r})"

    @property
    def capacity(self) -> int:
        return self.max_in_flight

    async def prepare(self) -> None:
        # Ray places and starts workers itself, inside the cluster.
        await trio.lowlevel.checkpoint()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        if self.address is None and "ray" not in sys.modules:
            # Read once, when Ray is imported: 0 makes Ray 2.60 use the loopback
            # address as the node's and bind its servers there (checked below).
            os.environ.setdefault(_RAY_LOOPBACK, "0")
        try:
            ray: Any = importlib.import_module("ray")
            importlib.import_module("ray.exceptions")
        except ImportError as exc:
            raise ExecutorStartError(
                self, self.address, "Ray is not installed: pip install 'trio_otp[ray]'"
            ) from exc
        with _in_use(self):
            async with self._session(ray):
                yield

    @asynccontextmanager
    async def _session(self, ray: Any) -> AsyncIterator[None]:
        ours = not ray.is_initialized()
        if ours and self.address is not None:
            self._require_token()
            await self._probe(self.address)
        elif ours:
            self._local_token_auth()
        if ours:
            options: dict[str, Any] = {
                "address": self.address or "local",
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.num_cpus is not None and self.address is None:
                options["num_cpus"] = self.num_cpus
            options.update(self.init_options)
            try:
                # ray.init blocks for seconds (it starts or dials the cluster); the
                # loop stalls at most this once (scale-out.md).
                await trio.to_thread.run_sync(lambda: ray.init(**options))
            except Exception as exc:
                raise ExecutorStartError(
                    self, self.address or "local", f"{type(exc).__name__}: {exc}"
                ) from exc
            if self.address is None:
                await self._check_loopback(ray)
        self._ray = ray
        self._lost = tuple(getattr(ray.exceptions, name) for name in _RAY_LOST)
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(_call)
        self._limiter = trio.CapacityLimiter(self.max_in_flight)
        try:
            yield
        finally:
            self._remote = None
            if ours:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(ray.shutdown)

    def _require_token(self) -> None:
        # Before dialling: an address without a token is refused unless opted out.
        if self.allow_unauthenticated or _token_configured():
            return
        raise ExecutorStartError(
            self,
            self.address,
            "no Ray token is configured, and Ray 2.60 connects to a cluster without "
            "authentication unless RAY_AUTH_MODE=token is set: set RAY_AUTH_MODE=token "
            "and the cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
            "~/.ray/auth_token; `ray get-auth-token` prints it on the head), or pass "
            "allow_unauthenticated=True if the cluster is deliberately open",
        )

    def _local_token_auth(self) -> None:
        # Ray >= 2.59 turns token auth on for a new local cluster when RAY_AUTH_MODE
        # is unset (and generates the token); an explicit other mode is refused.
        mode = os.environ.get(_RAY_AUTH_MODE)
        if mode is not None and mode.lower() != "token" and not self.allow_unauthenticated:
            raise ExecutorStartError(
                self,
                "local",
                f"{_RAY_AUTH_MODE}={mode} would start the local cluster without token "
                f"authentication: unset it (Ray then turns token auth on), or pass "
                "allow_unauthenticated=True",
            )

    async def _check_loopback(self, ray: Any) -> None:
        # Started by us: the node must be on the loopback address (Ray binds its
        # servers to the node's address), or the cluster is reachable from outside;
        # and token auth must be on (Ray sets RAY_AUTH_MODE=token when it turns it on).
        nodes = await trio.to_thread.run_sync(ray.nodes)
        where = {node.get("NodeManagerAddress") for node in nodes}
        problem = None
        if not where <= {"127.0.0.1", "::1"}:
            problem = (
                f"the local Ray cluster came up on {sorted(map(str, where))}, not "
                f"127.0.0.1: Ray was imported before the executor could set "
                f"{_RAY_LOOPBACK}=0. Set it in the environment before Ray is imported, "
                "or call ray.init yourself before the queue opens (the executor then "
                "uses that connection)"
            )
        elif not self.allow_unauthenticated and (
            os.environ.get(_RAY_AUTH_MODE, "").lower() != "token"
        ):
            problem = (
                "the local Ray cluster came up without token authentication (this Ray "
                "does not turn it on by default): set RAY_AUTH_MODE=token before Ray "
                "is imported, or pass allow_unauthenticated=True"
            )
        if problem is None:
            return
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(ray.shutdown)
        raise ExecutorStartError(self, "local", problem)

    async def _probe(self, address: str) -> None:
        # ray.init retries an unreachable address for minutes: dial it once first,
        # so that a wrong address fails the queue's start at once, saying why.
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            return  # "auto" and other forms: leave them to ray.init
        try:
            with trio.fail_after(self.connect_timeout):
                stream = await trio.open_tcp_stream(host, int(port))
            await stream.aclose()
        except (OSError, trio.TooSlowError) as exc:
            detail = f"nothing answers there ({type(exc).__name__}: {str(exc) or 'timed out'})"
            raise ExecutorStartError(self, address, detail) from exc

    def open(self) -> AbstractAsyncContextManager[None]:
        return self._open()

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        dumps: Any
        try:
            dumps = importlib.import_module("ray.cloudpickle").dumps
        except ImportError:  # not installed: open() says so
            dumps = pickle.dumps
        _check_shippable(self, fn, args, name, dumps)

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._remote is None or self._limiter is None:
            raise RuntimeError(f"{self!r} is not open: run jobs through a JobQueue")
        ray = self._ray
        async with self._limiter:
            await trio.lowlevel.checkpoint()
            ref = self._remote.remote(fn, *args)
            future = ref.future()
            token = trio.lowlevel.current_trio_token()
            done = trio.Event()

            def wake(_: object) -> None:
                # On Ray's thread: hand the wake-up to the trio loop.
                with contextlib.suppress(trio.RunFinishedError):  # the run is over
                    token.run_sync_soon(done.set)

            future.add_done_callback(wake)
            try:
                await done.wait()
            finally:
                if not done.is_set():
                    # Cancelled (timeout, handle, shutdown): kill the remote worker.
                    ray.cancel(ref, force=True)
        try:
            return future.result()
        except self._lost as exc:
            raise WorkerLostError(self, f"{type(exc).__name__}: {exc}") from exc
