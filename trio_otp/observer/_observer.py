"""Observer: the web observer as a child of the program's own tree."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import itertools
import logging
import math
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, cast

import trio

from .._core._call import stop
from .._core._exceptions import ChildSpecError, OTPError
from .._core._process import Pid
from .._core._reasons import SHUTDOWN
from .._server._child_spec import ChildSpec, ChildType, Restart
from .._server._gen_server import GenServer, Ok
from ..jobs._queue import JobQueue
from . import _jobs, _probe
from ._app import App

logger = logging.getLogger("trio_otp.observer")

_OPTIONS = frozenset(
    {
        "host",
        "port",
        "token",
        "actions",
        "interval",
        "allowed_hosts",
        "job_sources",
        "chart_seconds",
        "sample_every",
        "sample_for",
        "name",
    }
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_running: weakref.WeakSet[Observer] = weakref.WeakSet()
_serials = itertools.count()


class _ObserverServer(GenServer["Observer"]):
    """The observer's process: its handle is the child's; asked to stop, it closes the
    web server through its shutdown trigger (hypercorn then ends cleanly)."""

    async def init(self, observer: Observer) -> Ok[Observer]:
        return Ok(observer)

    async def terminate(self, reason: object, observer: Observer) -> None:
        observer._closing.set()

    def format_status(self, state: Observer) -> object:
        return {"url": state.url, "actions": state.actions}


class Observer:
    """A live view of the running program in a browser, served by the program itself.

    Put it in a supervisor's children (``Observer.child_spec(port=8001)``) or run it
    with ``async with Observer(port=8001).open() as obs:``; open ``url``.

    Options:

    * ``host``: the address to listen on. Default **"127.0.0.1"**. Any address that
      is not a loopback one needs a ``token``.
    * ``port``: default **0** (any free port: read ``port`` once started).
    * ``token``: a secret every request must carry (``?token=`` once, then a cookie;
      or ``Authorization: Bearer``). Default **None** (allowed on loopback only).
    * ``actions``: allow killing processes and cancelling or retrying jobs from the
      page. Default **False** (read-only).
    * ``interval``: seconds between two pushed views. Default **1.0**.
    * ``allowed_hosts``: the host names the ``Host`` header may give. Default: the
      loopback names and ``host`` itself; for a wildcard ``host`` (``0.0.0.0``, ``::``)
      any (the token guards it).
    * ``job_sources``: extra :class:`JobSource` objects (durable stores); in-memory
      :class:`~trio_otp.JobQueue` processes are found on their own.
    * ``chart_seconds``: the charts' window. Default **300**.
    * ``sample_every`` / ``sample_for``: the scheduler instrument is installed for
      ``sample_for`` seconds every ``sample_every``. Default **10** / **1**.
    * ``name``: register the observer's process under this name. Default **None**.

    Raises:
        ValueError: a non-loopback ``host`` without a ``token``, or a bad option.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        actions: bool = False,
        interval: float = 1.0,
        allowed_hosts: Iterable[str] | None = None,
        job_sources: Iterable[_jobs.JobSource] = (),
        chart_seconds: int = 300,
        sample_every: float = 10.0,
        sample_for: float = 1.0,
        name: object = None,
    ) -> None:
        given: dict[str, object] = {"host": host, "port": port, "token": token}
        if not isinstance(given["host"], str) or not host:
            raise ValueError(f"host must be an address such as '127.0.0.1', got {host!r}")
        value = given["port"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        value = given["token"]
        if value is not None and (not isinstance(value, str) or len(value) < 16):
            raise ValueError(
                "token must be a string of at least 16 characters: use secrets.token_urlsafe()"
            )
        if token is None and not _is_loopback(host):
            raise ValueError(
                f"an observer listening on {host!r} (not a loopback address) needs a token: "
                "pass token=secrets.token_urlsafe() and open the URL it prints"
            )
        given["interval"] = interval
        value = given["interval"]
        if not (isinstance(value, (int, float)) and 0 < value < math.inf):
            raise ValueError(f"interval must be a number of seconds > 0, got {interval!r}")
        self.host = host
        self.port: int = port
        self.token = token
        self.actions: bool = bool(actions)
        self.interval: float = float(interval)
        if allowed_hosts is not None:
            self.allowed_hosts: frozenset[str] | None = frozenset(h.lower() for h in allowed_hosts)
        elif host in ("0.0.0.0", "::", ""):
            self.allowed_hosts = None
        else:
            self.allowed_hosts = frozenset({"127.0.0.1", "localhost", "::1", host.lower()})
        self.job_sources: list[_jobs.JobSource] = list(job_sources)
        for source in self.job_sources:
            if not isinstance(source, _jobs.JobSource):
                raise TypeError(f"job_sources takes JobSource objects, got {source!r}")
        self._probe = _probe.Probe(
            chart_seconds=chart_seconds, sample_every=sample_every, sample_for=sample_for
        )
        self.name = name
        self.pid: Pid | None = None
        self.url: str | None = None
        self._closing = trio.Event()
        self._state = "new"
        # The running queues' sources; a stopped queue's is closed and dropped (its
        # hooks go with it) at the next look.
        self._memory: dict[JobQueue, _jobs.JobSource] = {}
        self._app = App(self)
        self._serial = next(_serials)

    def __repr__(self) -> str:
        return f"<Observer {self.url or self.host} ({self._state})>"

    @staticmethod
    def running() -> list[Observer]:
        """The observers serving now in this program (oldest first)."""
        return sorted(_running, key=lambda o: o._serial)

    # -- as a child ------------------------------------------------------------------

    @staticmethod
    def child_spec(**options: Any) -> ChildSpec:
        """The observer as a child: ``Observer.child_spec(port=8001, actions=True)``.

        Each start makes a fresh observer with these options. Spec: id ``Observer``
        (or ``id=``), restart **permanent**, shutdown **10** seconds (``shutdown=``).

        Raises:
            ChildSpecError: an unknown option.
            ValueError: a bad option value (the constructor's errors).
        """
        spec_fields = {k: options.pop(k) for k in ("id", "restart", "shutdown") if k in options}
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ChildSpecError(
                f"unknown Observer option(s) {sorted(unknown)}; the options are {sorted(_OPTIONS)}"
            )
        Observer(**options)  # the constructor's checks, now
        spec = ChildSpec(
            id=spec_fields.pop("id", Observer),
            start=functools.partial(Observer._serve_new, **options),
            type=ChildType.WORKER,
            restart=Restart.PERMANENT,
            shutdown=10.0,
            modules=(Observer,),
        )
        return spec.replace(**spec_fields) if spec_fields else spec

    @staticmethod
    async def _serve_new(
        *, task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED, **options: Any
    ) -> None:
        await Observer(**options).serve(task_status=task_status)

    # -- running ---------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, and serve until stopped (``nursery.start``'s protocol: the
        observer's process handle is started)."""
        try:
            from hypercorn.config import Config
            from hypercorn.trio import serve
        except ImportError:  # pragma: no cover - the extra is not installed
            raise ImportError(
                "the observer is served by hypercorn: pip install 'trio_otp[observer]'"
            ) from None
        if self._state != "new":
            raise RuntimeError(f"{self!r} was started before: create a new Observer")
        self._state = "starting"
        config = Config()
        host = f"[{self.host}]" if ":" in self.host else self.host
        config.bind = [f"{host}:{self.port}"]
        config.accesslog = None
        config.errorlog = logger
        config.graceful_timeout = 2.0
        config.include_server_header = False
        error: list[BaseException] = []
        try:
            async with trio.open_nursery() as nursery:
                binds: list[str] = await nursery.start(
                    functools.partial(
                        serve, cast(Any, self._app), config, shutdown_trigger=self._closing.wait
                    )
                )
                self.port = int(binds[0].rsplit(":", 1)[1])
                shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else host
                self.url = f"http://{shown}:{self.port}/"
                self._probe.attach()
                nursery.start_soon(self._sample)
                try:
                    pid: Pid = await nursery.start(self._run_process, error)
                    self.pid = pid
                except BaseException:
                    self._closing.set()
                    raise
                self._state = "running"
                _running.add(self)
                logger.info("observer serving on %s", self.url)
                task_status.started(pid)
        finally:
            self._state = "stopped"
            _running.discard(self)
            self._closing.set()
            self._probe.detach()
            for source in self._memory.values():
                source.close()
            self._memory.clear()
        if error:
            raise error[0]

    async def _sample(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._probe.sample_scheduler)
            nursery.start_soon(self._probe.count_every_second)
            await self._closing.wait()
            nursery.cancel_scope.cancel()

    async def _run_process(
        self, error: list[BaseException], task_status: trio.TaskStatus[Pid]
    ) -> None:
        async def stop_when_closing(pid: Pid) -> None:
            await self._closing.wait()
            if pid.alive:
                with contextlib.suppress(OTPError):
                    await stop(pid, SHUTDOWN)

        try:
            async with trio.open_nursery() as nursery:
                pid: Pid = await nursery.start(
                    functools.partial(_ObserverServer.serve, self, name=self.name)
                )
                nursery.start_soon(stop_when_closing, pid)
                task_status.started(pid)
                await pid.wait_exited()
                nursery.cancel_scope.cancel()
        except Exception as exc:
            # Killed or crashed: stop the web server through its trigger (no
            # cancelled serve, no lifespan error), then raise it as the child's exit.
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]
            error.append(exc)
        finally:
            self._closing.set()

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Observer]:
        """``async with Observer().open() as obs:``: serve for the block, stop after."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.serve)
            try:
                yield self
            finally:
                self.stop()

    def stop(self) -> None:
        """Ask the observer to stop (its page streams end, the server closes)."""
        self._closing.set()

    # -- what the app asks -----------------------------------------------------------

    def _sources(self) -> list[_jobs.JobSource]:
        live = _probe.processes()
        for queue, source in list(self._memory.items()):
            if queue._state == "stopped":
                source.close()
                del self._memory[queue]
        for queue in _jobs.queues_in(live):
            if queue not in self._memory:
                key = f"{queue.name}" if queue.name is not None else f"queue{len(self._memory) + 1}"
                self._memory[queue] = _jobs.source_for(queue, key, self._probe.job_outcome)
        return [*self._memory.values(), *self.job_sources]

    def job_source(self, key: str) -> _jobs.JobSource | None:
        """The job source shown under ``key``."""
        for source in self._sources():
            if source.key == key:
                return source
        return None

    async def snapshot(self) -> dict[str, Any]:
        """The whole view, as the page and ``/api/snapshot`` get it."""
        view = self._probe.snapshot()
        view["observer"] = {"pid": self.pid._id if self.pid else None, "actions": self.actions}
        queues = []
        for source in self._sources():
            try:
                queues.append(await source.view())
            except Exception as exc:
                logger.warning("observer: job source %r failed: %r", source.key, exc)
        view["queues"] = queues
        return view
