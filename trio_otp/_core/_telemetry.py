"""Telemetry: named events with measurements and metadata (Elixir's ``:telemetry``).

A *handler* is a plain function attached under an id to one or more *event names*
(tuples of strings, like ``("trio_otp", "call", "stop")``). Emitting an event calls
every handler attached to that name, synchronously, in the emitting task, with
``(event, measurements, metadata, config)``: *measurements* are numbers (times in
seconds on trio's clock, counts), *metadata* says what the event was about (a pid, a
child id, a reason). A handler that raises is detached and logged on
``trio_otp.telemetry``; the task that emitted goes on as if nothing happened.

trio_otp emits the events listed in :data:`EVENTS` (a table in
docs/logging_testing.rst); applications may emit their own with
:func:`execute_telemetry`.

Cost when nobody listens: each place trio_otp emits from checks one module-level
boolean, :data:`listening`, which is true only while a handler is attached to some
``("trio_otp", ...)`` event. Nothing is built, timed or looked up otherwise.

Handlers are process-wide, like :mod:`logging`'s handlers and like ``:telemetry``'s
table on a BEAM node: attach them once at program start (they outlive ``trio.run``);
detach them by id (tests: in a ``finally`` or a fixture).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

import attrs
import trio
from trio.lowlevel import Abort, wait_task_rescheduled

from ._exceptions import TelemetryHandlerExistsError

#: An event name: a non-empty tuple of strings, e.g. ``("trio_otp", "process", "exit")``.
EventName: TypeAlias = tuple[str, ...]

#: A handler: ``function(event, measurements, metadata, config)``; its result is ignored.
HandlerFunction: TypeAlias = Callable[
    [EventName, Mapping[str, float], Mapping[str, Any], Any], object
]

PROCESS_START: Final = ("trio_otp", "process", "start")
PROCESS_EXIT: Final = ("trio_otp", "process", "exit")
CHILD_RESTART: Final = ("trio_otp", "supervisor", "restart")
GAVE_UP: Final = ("trio_otp", "supervisor", "gave_up")
CALL_START: Final = ("trio_otp", "call", "start")
CALL_STOP: Final = ("trio_otp", "call", "stop")
CALL_EXCEPTION: Final = ("trio_otp", "call", "exception")
# Emitted by the job system (trio_otp.jobs), named here so that the list is whole.
JOB_START: Final = ("trio_otp", "job", "start")
JOB_STOP: Final = ("trio_otp", "job", "stop")
JOB_EXCEPTION: Final = ("trio_otp", "job", "exception")
JOB_PROGRESS: Final = ("trio_otp", "job", "progress")

#: The events trio_otp emits.
EVENTS: Final = (
    PROCESS_START,
    PROCESS_EXIT,
    CHILD_RESTART,
    GAVE_UP,
    CALL_START,
    CALL_STOP,
    CALL_EXCEPTION,
    JOB_START,
    JOB_STOP,
    JOB_EXCEPTION,
    JOB_PROGRESS,
)

logger = logging.getLogger("trio_otp.telemetry")

#: True while a handler is attached to a ``("trio_otp", ...)`` event: the one check
#: trio_otp's hot paths make (read it as ``_telemetry.listening``, never import it).
listening = False


@attrs.frozen
class TelemetryHandler:
    """One attached handler, as :func:`list_telemetry_handlers` returns it.

    Attributes:
        id: the handler id given to :func:`attach_telemetry`.
        event: the event name it is attached to (one record per event name).
        function: called as ``function(event, measurements, metadata, config)``.
        config: passed to ``function`` as is.
    """

    id: object
    event: tuple[str, ...]
    function: Callable[[tuple[str, ...], Mapping[str, float], Mapping[str, Any], Any], object]
    config: object


# Event name -> its handlers (a tuple, replaced on change: emitting never copies).
_handlers: dict[EventName, tuple[TelemetryHandler, ...]] = {}
# Handler id -> the event names it is attached to.
_events_of: dict[object, tuple[EventName, ...]] = {}


def _event_name(event: Iterable[str]) -> EventName:
    if isinstance(event, str):
        raise TypeError(
            f"an event name is a tuple of strings such as ('my_app', 'job', 'done'), "
            f"not the string {event!r}"
        )
    name = tuple(event)
    if not name or not all(isinstance(part, str) for part in name):
        raise TypeError(
            f"an event name is a non-empty tuple of strings such as "
            f"('my_app', 'job', 'done'), got {event!r}"
        )
    return name


def _update_listening() -> None:
    global listening
    listening = any(event[0] == "trio_otp" for event in _handlers)


def attach_telemetry(
    handler_id: object, event: Iterable[str], function: HandlerFunction, config: object = None
) -> None:
    """Attach ``function`` to one event under ``handler_id`` (``:telemetry.attach/4``).

    ``function(event, measurements, metadata, config)`` then runs, synchronously and
    in the emitting task, each time ``event`` is emitted. Keep it short and
    non-blocking (it cannot await): count, record, or hand the data to a channel
    with ``send_nowait``. If it raises an :exc:`Exception`, it is detached (from
    every event of its id) and the error is logged on ``trio_otp.telemetry``.

    Args:
        handler_id: any hashable value, unique among attached handlers.
        event: the event name, a tuple of strings such as
            ``("trio_otp", "call", "stop")``.
        function: the handler.
        config: passed to ``function`` as its fourth argument. Default ``None``.

    Raises:
        TelemetryHandlerExistsError: a handler with this id is attached already.
        TypeError: ``event`` is not a non-empty tuple of strings, or ``function``
            is not callable.
    """
    attach_many_telemetry(handler_id, [event], function, config)


def attach_many_telemetry(
    handler_id: object,
    events: Iterable[Iterable[str]],
    function: HandlerFunction,
    config: object = None,
) -> None:
    """Attach ``function`` to several events under one id (``:telemetry.attach_many/4``).

    As :func:`attach_telemetry`; detaching the id (or a failure of the handler)
    detaches it from all of them.

    Raises:
        TelemetryHandlerExistsError: a handler with this id is attached already.
        TypeError: an event name is not a non-empty tuple of strings, or
            ``function`` is not callable.
    """
    if not callable(function):
        raise TypeError(f"a telemetry handler must be callable, got {function!r}")
    names = tuple(dict.fromkeys(_event_name(event) for event in events))
    if not names:
        raise TypeError("attach_many_telemetry needs at least one event name")
    if handler_id in _events_of:
        raise TelemetryHandlerExistsError(handler_id)
    _events_of[handler_id] = names
    for name in names:
        handler = TelemetryHandler(handler_id, name, function, config)
        _handlers[name] = (*_handlers.get(name, ()), handler)
    _update_listening()


def detach_telemetry(handler_id: object) -> bool:
    """Detach the handler ``handler_id`` from all its events (``:telemetry.detach/1``).

    Returns:
        ``True`` if it was attached, ``False`` if no handler has this id (OTP's
        ``{:error, :not_found}``).
    """
    names = _events_of.pop(handler_id, None)
    if names is None:
        return False
    for name in names:
        left = tuple(h for h in _handlers[name] if h.id != handler_id)
        if left:
            _handlers[name] = left
        else:
            del _handlers[name]
    _update_listening()
    return True


def list_telemetry_handlers(prefix: Iterable[str] = ()) -> list[TelemetryHandler]:
    """The handlers attached to events whose name starts with ``prefix``.

    ``:telemetry.list_handlers/1``; the default ``()`` lists them all, in the
    order they were attached per event name.
    """
    start = tuple(prefix)
    return [
        handler
        for name, handlers in _handlers.items()
        if name[: len(start)] == start
        for handler in handlers
    ]


def execute_telemetry(
    event: Iterable[str],
    measurements: Mapping[str, float],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Emit ``event``: call each handler attached to it (``:telemetry.execute/3``).

    Handlers run now, in this task, in the order they were attached. One that
    raises an :exc:`Exception` is detached and logged; the others still run and
    this function never raises because of a handler.

    Args:
        event: the event name, a tuple of strings.
        measurements: numbers, e.g. ``{"duration": 0.25}``.
        metadata: what the event is about. Default: empty.

    Raises:
        TypeError: ``event`` is not a non-empty tuple of strings.
    """
    name = event if type(event) is tuple else _event_name(event)
    handlers = _handlers.get(name)
    if handlers:
        _run(handlers, name, measurements, {} if metadata is None else metadata)


def _run(
    handlers: tuple[TelemetryHandler, ...],
    event: EventName,
    measurements: Mapping[str, float],
    metadata: Mapping[str, Any],
) -> None:
    for handler in handlers:
        try:
            handler.function(event, measurements, metadata, handler.config)
        except Exception as exc:
            # As :telemetry does: a failing handler is detached, so that it cannot
            # fail every event after this one, and the failure is logged once.
            detach_telemetry(handler.id)
            logger.error(
                "Handler %r has failed and has been detached. Event: %r",
                handler.id,
                event,
                exc_info=exc,
                extra={
                    "otp_event": "telemetry_handler_detached",
                    "otp_pid": metadata.get("pid"),
                    "otp_reason": exc,
                    "otp_handler_id": handler.id,
                    "otp_telemetry_event": event,
                },
            )


def _emit(event: EventName, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
    handlers = _handlers.get(event)
    if handlers:
        _run(handlers, event, measurements, metadata)


# -- trio_otp's own events: called only when ``listening`` is true ----------------------


# The emitters take a process's handle and the fields they report, so that this
# module (below processes in the core) never needs the Pid class.


def process_started(pid: object, kind: str, name: object, parent: object) -> None:
    """A process got its handle (before its ``init`` runs)."""
    if PROCESS_START in _handlers:
        _emit(
            PROCESS_START,
            {"monotonic_time": trio.current_time()},
            {"pid": pid, "kind": kind, "name": name, "parent": parent},
        )


def process_exited(pid: object, kind: str, name: object, reason: object) -> None:
    """A process exited with ``reason``."""
    if PROCESS_EXIT in _handlers:
        _emit(
            PROCESS_EXIT,
            {"monotonic_time": trio.current_time()},
            {"pid": pid, "kind": kind, "name": name, "reason": reason},
        )


def child_restarted(
    supervisor: object, child_id: object, old: object, reason: object, restarts: int
) -> None:
    """A supervisor counted a restart of a child and is about to start it again."""
    if CHILD_RESTART in _handlers:
        _emit(
            CHILD_RESTART,
            {"monotonic_time": trio.current_time(), "restarts": restarts},
            {"supervisor": supervisor, "child_id": child_id, "pid": old, "reason": reason},
        )


def gave_up(
    supervisor: object,
    child_id: object,
    reason: object,
    restarts: int,
    max_restarts: int,
    max_seconds: float,
) -> None:
    """A supervisor reached its restart intensity and is shutting down."""
    if GAVE_UP in _handlers:
        _emit(
            GAVE_UP,
            {"monotonic_time": trio.current_time(), "restarts": restarts},
            {
                "supervisor": supervisor,
                "child_id": child_id,
                "reason": reason,
                "max_restarts": max_restarts,
                "max_seconds": max_seconds,
            },
        )


async def call_span(
    server: object,
    pid: object,
    request: object,
    call_timeout: float | None,
    abort: Callable[[Any], Abort],
) -> Any:
    """Wait for a call's reply as ``call`` does, between call start and stop events.

    ``call`` has queued the request; this emits ``start``, waits, then emits
    ``stop`` (with the duration) or ``exception`` (with the error: a timeout, the
    callee's exit, a cancellation), and returns or re-raises.
    """
    if not (CALL_START in _handlers or CALL_STOP in _handlers or CALL_EXCEPTION in _handlers):
        return await wait_task_rescheduled(abort)
    metadata = {"server": server, "pid": pid, "request": request, "timeout": call_timeout}
    start = trio.current_time()
    _emit(CALL_START, {"monotonic_time": start}, metadata)
    try:
        result = await wait_task_rescheduled(abort)
    except BaseException as exc:
        end = trio.current_time()
        _emit(
            CALL_EXCEPTION,
            {"duration": end - start, "monotonic_time": end},
            {**metadata, "kind": "error" if isinstance(exc, Exception) else "exit", "reason": exc},
        )
        raise
    end = trio.current_time()
    _emit(CALL_STOP, {"duration": end - start, "monotonic_time": end}, metadata)
    return result
