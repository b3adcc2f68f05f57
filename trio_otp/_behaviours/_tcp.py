"""Supervised network connections: Elixir's ThousandIsland and Ranch, the trio way.

:func:`serve_tcp` returns the child spec of a *listener*: a small supervision tree
that accepts TCP (optionally TLS) connections and runs each one as a supervised
process, an instance of the user's :class:`TCPHandler` subclass::

    listener (Supervisor, rest_for_one)
    ├── "connections" (DynamicSupervisor): one TCPHandler process per connection
    └── "acceptor" (Task): accepts, waits for a free slot, starts the connection

A connection process is a :class:`~trio_otp.GenServer` that owns its stream: it
receives the bytes in ``handle_data``, the end of the stream in ``handle_close``,
writes with :meth:`TCPHandler.send`, and has a mailbox like any server
(``call``/``cast``/``send`` reach it, so do :class:`~trio_otp.Registry`
dispatches). One reader task per connection reads ahead by one chunk at most: a
connection whose handler is busy is not read from (TCP's own flow control then
slows the client), so nothing piles up in its mailbox.

``max_connections`` is back-pressure, not a limit that drops: when that many
connections are open the acceptor stops accepting until one closes (new clients
wait in the listen backlog). An orderly stop (the listener's supervisor shuts it
down: ``run_application`` on SIGTERM, ``Supervisor.stop``) stops accepting first
(the acceptor is stopped and the listening sockets closed), then asks every
connection to stop at once: each runs ``terminate`` within its ``shutdown`` budget
and is cancelled when the budget runs out. A peer that goes away is a normal end
(``handle_close``), not a crash; a handler that raises is reported once, as any
GenServer crash, and its connection closes; the others carry on.
"""

from __future__ import annotations

import errno
import functools
import inspect
import logging
import ssl
import weakref
from collections.abc import Awaitable, Coroutine
from typing import Any, ClassVar, Final, TypeVar

import attrs
import trio
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled

from .._core._call import DATA
from .._core._names import whereis
from .._core._process import Pid, current_process
from .._core._reasons import NORMAL, SHUTDOWN
from .._core._reports import short_repr
from .._server._child import direct_child, supervising
from .._server._child_spec import INFINITY, ChildSpec, ChildType, Restart, ShutdownValue
from .._server._gen_server import GenServer, NoReplyResult, Stop, _serve
from .._supervision._dynamic_supervisor import DynamicSupervisor, start_child_with_args
from .._supervision._supervisor import Supervisor
from ._task import Task as _Task

S = TypeVar("S")

tcp_logger = logging.getLogger("trio_otp.tcp")

#: Default of ``max_connections`` (ThousandIsland's ``num_connections``).
DEFAULT_MAX_CONNECTIONS: Final = 16_384

# accept() errors that mean "out of descriptors or memory for now": wait and retry,
# as trio.serve_listeners does, instead of crashing the acceptor.
_ACCEPT_CAPACITY_ERRORS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
)
_ACCEPT_RETRY_SECONDS: Final = 0.1


class TCPHandler(GenServer[S]):
    """Base class of a connection's process (ThousandIsland's ``Handler``).

    A :class:`~trio_otp.GenServer` whose process owns one accepted stream
    (:attr:`stream`: a :class:`trio.SocketStream`, or a :class:`trio.SSLStream`
    with TLS). ``init(arg)`` runs first (``arg`` is ``serve_tcp``'s ``arg``), then
    the bytes the peer sends arrive in :meth:`handle_data`, in order, one chunk at
    a time; ``handle_call``, ``handle_cast`` and ``handle_info`` serve the
    connection's mailbox in between, as in any GenServer. Return
    ``Stop(reason, state)`` to close the connection (``"normal"``: quietly).

    Example (an echo server)::

        class Echo(trio_otp.TCPHandler[None]):
            async def handle_data(self, data, state):
                await self.send(data)
                return trio_otp.NoReply(state)

        children = [trio_otp.serve_tcp(Echo, 7000)]
    """

    process_kind: ClassVar[str] = "TCPHandler"

    #: The most bytes one :meth:`handle_data` receives (one ``receive_some``).
    receive_size: ClassVar[int] = 65_536

    #: The connection's stream, owned by this process: closed when it exits.
    stream: trio.abc.Stream

    _reader: Task | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for callback in ("handle_data", "handle_close"):
            fn = cls.__dict__.get(callback)
            if callable(fn) and not _is_async(fn):
                raise TypeError(
                    f"{cls.__qualname__}.{callback} is a plain def, but TCPHandler callbacks "
                    f"are awaited: write it as 'async def {callback}(...)'"
                )

    async def handle_data(self, data: bytes, state: S, /) -> NoReplyResult[S]:
        """Handle bytes received from the peer. Default: crash, as OTP does.

        ``data`` is what one read returned (never empty): a stream has no message
        boundaries, so a line or a frame may arrive split across calls.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} received {len(data)} bytes but does not "
            "implement handle_data"
        )

    async def handle_close(self, state: S, /) -> NoReplyResult[S]:
        """The peer closed its side, or the connection broke. Default: stop, ``"normal"``.

        A reset connection or a failed TLS handshake ends here too: a peer that
        goes away is routine, not a crash. Return ``NoReply`` to keep the process
        (for instance to finish work for the peer first); nothing more is read.
        """
        return Stop(NORMAL, state)

    def send(self, data: bytes | bytearray | memoryview) -> Awaitable[None]:
        """Write ``data`` to the peer (the whole of it: ``send_all``): ``await self.send(data)``.

        It returns the stream's own ``send_all`` awaitable (no coroutine of its own
        in between: one frame less per write on a connection's hot path).
        """
        return self.stream.send_all(data)

    @property
    def peername(self) -> Any:
        """The peer's address (``socket.getpeername()``), ``None`` if unknown."""
        stream: Any = self.stream
        stream = getattr(stream, "transport_stream", stream)
        sock = getattr(stream, "socket", None)
        try:
            return None if sock is None else sock.getpeername()
        except OSError:
            return None

    @classmethod
    @direct_child
    def serve_connection(
        cls, listener: Any, ticket: Any, *, task_status: Any
    ) -> Coroutine[Any, Any, None]:
        """Run one accepted connection as a process of this class.

        The start function of a listener's connections (what supervisor reports
        print as the start call); :func:`serve_tcp` is how to use it.
        """
        return _serve_connection(cls, listener, ticket, task_status)

    # -- internal ----------------------------------------------------------------------

    def _taken(self) -> None:
        # The GenServer loop calls this once handle_data returned: the reader may
        # read the next chunk (one ahead at most). Woken after, not before, the
        # handler's work: a reader woken early only finds nothing to read yet.
        reader = self._reader
        if reader is not None:
            self._reader = None
            reschedule(reader)

    async def _handle_end(self, end: object, state: S) -> NoReplyResult[S]:
        # The reader's last message: None (the peer closed) or the read's error.
        if end is None:
            return await self.handle_close(state)
        raise end  # type: ignore[misc]  # the read failed unexpectedly

    def _abort_wait(self, raise_cancel: object) -> Abort:
        self._reader = None
        return Abort.SUCCEEDED


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn)


async def _read(server: TCPHandler[Any]) -> None:
    """The reader task of one connection: post each chunk, wait until it is taken."""
    stream = server.stream
    size = server.receive_size
    pid = server.pid
    me = current_task()
    abort = server._abort_wait
    end: object = None
    try:
        if isinstance(stream, trio.SSLStream):
            await stream.do_handshake()
        while True:
            data = await stream.receive_some(size)
            if not data or pid._mailbox is None:
                break
            pid._post((DATA, data, None))
            server._reader = me
            await wait_task_rescheduled(abort)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer went away (or the handler closed the stream): handle_close
    except Exception as exc:
        end = exc  # raised in the handler's process: a crash, reported there
    if pid._mailbox is not None:
        pid._post((DATA, end, None))


@attrs.frozen
class _Config:
    handler: type[TCPHandler[Any]]
    arg: Any
    port: int
    host: str | None
    max_connections: int
    ssl_context: ssl.SSLContext | None
    shutdown: ShutdownValue
    backlog: int | None
    name: object


class _Listener:
    """One running listener: its sockets, its free connection slots."""

    def __init__(self, config: _Config, listeners: list[trio.SocketListener]) -> None:
        self.config = config
        self.listeners = listeners
        self.slots = trio.Semaphore(config.max_connections)
        self.connection_spec = ChildSpec(
            id=config.handler,
            start=functools.partial(config.handler.serve_connection, self),
            restart=Restart.TEMPORARY,
            shutdown=config.shutdown,
            modules=(config.handler,),
        )

    def __repr__(self) -> str:
        return f"<listener {_label(self)}>"


class _Ticket:
    """An accepted stream on its way to its connection process (which takes it)."""

    __slots__ = ("stream", "taken")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.taken = False

    def __repr__(self) -> str:
        try:
            peer = self.stream.socket.getpeername()
        except OSError:
            peer = "a closed socket"
        return f"<connection from {peer}>"


# The running listeners by their supervisor's handle (for listener_addresses).
_by_supervisor: weakref.WeakKeyDictionary[Pid, _Listener] = weakref.WeakKeyDictionary()


async def _serve_connection(
    handler: type[TCPHandler[Any]], listener: _Listener, ticket: _Ticket, task_status: Any
) -> None:
    """The life of one connection's process: its GenServer loop plus its reader."""
    ticket.taken = True
    stream: trio.abc.Stream = ticket.stream
    config = listener.config
    try:
        if config.ssl_context is not None:
            stream = trio.SSLStream(stream, config.ssl_context, server_side=True)
        server = handler()
        server.stream = stream
        error: Exception | None = None
        async with trio.open_nursery() as nursery:
            # The reader runs once the server's handle exists (made before init's
            # first await): it belongs to this process (a task in its nursery).
            nursery.start_soon(_read_when_started, server)
            try:
                await _serve(server, config.arg, None, task_status, supervising(task_status))
            except Exception as exc:  # a start failure: raised below, not in a group
                error = exc
            nursery.cancel_scope.cancel()
        if error is not None:
            raise error
    finally:
        # Whatever happened, the stream is closed (what was sent has been written:
        # send_all returns once the bytes are with the kernel) and the slot freed.
        await trio.aclose_forcefully(stream)
        listener.slots.release()


async def _read_when_started(server: TCPHandler[Any]) -> None:
    if getattr(server, "pid", None) is None:  # pragma: no cover - made synchronously
        return
    await _read(server)


async def _serve_connections(
    listener: _Listener, *, task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED
) -> None:
    """The listener's DynamicSupervisor of connections."""
    sup = getattr(task_status, "sup", None)
    if sup is not None:
        _by_supervisor[sup.pid] = listener
    await DynamicSupervisor.serve(task_status=task_status)


async def _accept(listener: _Listener) -> None:
    """The acceptor: wait for a free slot, accept, hand the stream to a new process."""
    me = current_process()
    assert me is not None
    assert me.parent is not None
    connections = next(
        info.pid for info in await Supervisor.which_children(me.parent) if info.id == "connections"
    )
    try:
        if len(listener.listeners) == 1:
            await _accept_on(listener, listener.listeners[0], connections)
        else:
            async with trio.open_nursery() as nursery:
                for sock in listener.listeners:
                    nursery.start_soon(_accept_on, listener, sock, connections)
    finally:
        if me._cancel_reason == SHUTDOWN:
            # An orderly stop: accept no more (new clients are refused, not kept
            # waiting in the backlog while the connections finish).
            for sock in listener.listeners:
                await trio.aclose_forcefully(sock)


async def _accept_on(listener: _Listener, sock: trio.SocketListener, connections: Any) -> None:
    slots = listener.slots
    spec = listener.connection_spec
    while True:
        await slots.acquire()  # back-pressure: wait for a connection to close
        try:
            stream = await sock.accept()
        except OSError as exc:
            slots.release()
            if exc.errno not in _ACCEPT_CAPACITY_ERRORS:
                raise
            tcp_logger.error(
                "listener %s: accept() failed (%s); retrying in %s s",
                _label(listener),
                exc,
                _ACCEPT_RETRY_SECONDS,
                extra={"otp_event": "accept_failed", "otp_pid": None, "otp_reason": exc},
            )
            await trio.sleep(_ACCEPT_RETRY_SECONDS)
            continue
        except BaseException:
            slots.release()
            raise
        ticket = _Ticket(stream)
        try:
            await start_child_with_args(connections, spec, (ticket,))
        except Exception as exc:
            # The handler's init failed (or the listener is stopping): this client
            # is closed, the others and the listener carry on.
            tcp_logger.error(
                "listener %s: a connection's %s.init failed: %s",
                _label(listener),
                listener.config.handler.__qualname__,
                _short(exc),
                extra={"otp_event": "connection_start_failed", "otp_pid": None, "otp_reason": exc},
            )
        finally:
            if not ticket.taken:
                await trio.aclose_forcefully(stream)
                slots.release()


def _short(exc: BaseException) -> str:
    return short_repr(exc)


def _label(listener: _Listener) -> str:
    config = listener.config
    return f"{config.handler.__qualname__} on port {config.port}"


async def _serve_listener(
    config: _Config, *, task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED
) -> None:
    """The listener: open the sockets, then run its supervisor until it stops."""
    try:
        kwargs: dict[str, Any] = {"host": config.host}
        if config.backlog is not None:
            kwargs["backlog"] = config.backlog
        listeners = await trio.open_tcp_listeners(config.port, **kwargs)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"serve_tcp({config.handler.__qualname__}, port={config.port}, host={config.host!r}) "
            f"could not listen: {exc.strerror or exc}. Is another program on that port? Pass "
            "another port (0: any free port, see listener_addresses)",
        ) from exc
    listener = _Listener(config, listeners)
    children = [
        ChildSpec(
            id="connections",
            start=functools.partial(_serve_connections, listener),
            type=ChildType.SUPERVISOR,
            modules=(DynamicSupervisor, config.handler),
        ),
        _Task.child_spec(_accept, listener).replace(id="acceptor", restart=Restart.PERMANENT),
    ]
    try:
        await Supervisor.serve(
            children, strategy="rest_for_one", name=config.name, task_status=task_status
        )
    finally:
        for sock in listeners:
            await trio.aclose_forcefully(sock)


def serve_tcp(
    handler: type[TCPHandler[Any]],
    port: int,
    arg: Any = None,
    *,
    host: str | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ssl_context: ssl.SSLContext | None = None,
    shutdown: ShutdownValue = 5.0,
    backlog: int | None = None,
    name: object = None,
    id: object = None,
) -> ChildSpec:
    """The child spec of a supervised TCP listener (ThousandIsland / Ranch).

    Put it in a children list: ``Supervisor.open([serve_tcp(Echo, 7000)])``,
    ``run_application([..., serve_tcp(Chat, 4040, max_connections=1000)])``.
    Each accepted connection runs as a new ``handler`` process (see
    :class:`TCPHandler` and the module documentation for the tree).

    Args:
        handler: the :class:`TCPHandler` subclass run per connection.
        port: the TCP port; ``0`` picks a free one (see :func:`listener_addresses`).
        arg: passed to each connection's ``init``. Default ``None``.
        host: the address to listen on, as :func:`trio.open_tcp_listeners` takes it.
            Default ``None``: every interface (as :func:`trio.serve_tcp`); give
            ``"127.0.0.1"`` to accept local clients only.
        max_connections: connections open at once. Default **16,384**. At the
            limit the listener stops accepting until one closes (back-pressure:
            no client is dropped; waiting clients queue in the listen backlog).
        ssl_context: serve TLS: each stream is wrapped in a
            :class:`trio.SSLStream` (server side; the handshake runs in the
            connection's own process, and a failed one is a ``handle_close``).
        shutdown: each connection's ``shutdown`` budget in seconds (default
            **5**), :data:`~trio_otp.BRUTAL_KILL` or :data:`~trio_otp.INFINITY`.
        backlog: the listen backlog (default: trio's, the system's maximum).
        name: register the listener's supervisor under this name.
        id: the child id. Default: ``handler``.

    Raises:
        TypeError, ValueError: a bad argument (checked here, not at start).
    """
    _check_arguments(handler, port, max_connections, ssl_context, backlog)
    # The shutdown value is checked as any child's (ChildSpec's converter).
    shutdown = ChildSpec(id=0, start=_serve_listener, shutdown=shutdown).shutdown
    config = _Config(
        handler, arg, port, host, max_connections, ssl_context, shutdown, backlog, name
    )
    return ChildSpec(
        id=handler if id is None else id,
        start=functools.partial(_serve_listener, config),
        type=ChildType.SUPERVISOR,
        shutdown=INFINITY,
        modules=(handler,),
    )


def _check_arguments(
    handler: object, port: object, max_connections: object, ssl_context: object, backlog: object
) -> None:
    if not (isinstance(handler, type) and issubclass(handler, TCPHandler)):
        raise TypeError(
            f"serve_tcp needs a TCPHandler subclass to run per connection, got {handler!r}: "
            "write 'class MyHandler(trio_otp.TCPHandler): async def handle_data(...)'"
        )
    if not _is_int(port) or not 0 <= port <= 65535:  # type: ignore[operator]
        raise ValueError(
            f"serve_tcp port must be an int in 0..65535 (0: any free port), got {port!r}"
        )
    if not _is_int(max_connections) or max_connections < 1:  # type: ignore[operator]
        raise ValueError(f"serve_tcp max_connections must be an int >= 1, got {max_connections!r}")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(
            "serve_tcp ssl_context must be an ssl.SSLContext (e.g. "
            "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) with a certificate "
            f"loaded), got {ssl_context!r}"
        )
    if backlog is not None and (not _is_int(backlog) or backlog < 1):  # type: ignore[operator]
        raise ValueError(f"serve_tcp backlog must be an int >= 1 or None, got {backlog!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def listener_addresses(listener: object) -> list[Any]:
    """The addresses a running listener accepts on (``socket.getsockname()`` each).

    ``listener`` is the listener's handle or registered name (``serve_tcp``'s
    ``name``). With ``port=0``, this is how to learn the port:
    ``listener_addresses("echo")[0][1]``.

    Raises:
        LookupError: ``listener`` is not a running listener.
    """
    pid = listener if isinstance(listener, Pid) else whereis(listener)
    state = _by_supervisor.get(pid) if pid is not None else None
    if state is None or pid is None or not pid.alive:
        raise LookupError(
            f"{listener!r} is not a running listener: pass the handle or name of the "
            "supervisor serve_tcp's child spec started"
        )
    return [sock.socket.getsockname() for sock in state.listeners]
