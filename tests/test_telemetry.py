"""Telemetry (trio_otp/_core/_telemetry.py): handlers attached by id, events trio_otp emits."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import trio

import trio_otp as otp
from trio_otp._core import _telemetry

Event = tuple[tuple[str, ...], dict[str, float], dict[str, Any]]


@pytest.fixture(autouse=True)
def _no_handlers_left() -> Iterator[None]:
    """Every test starts and ends with no handler attached (handlers are process-wide)."""
    assert otp.list_telemetry_handlers() == []
    yield
    for handler in otp.list_telemetry_handlers():
        otp.detach_telemetry(handler.id)
    assert not _telemetry.listening


@pytest.fixture
def events() -> Iterator[list[Event]]:
    """Every event trio_otp emits, recorded in order."""
    seen: list[Event] = []

    def record(
        event: tuple[str, ...],
        measurements: Mapping[str, float],
        metadata: Mapping[str, Any],
        _: Any,
    ) -> None:
        seen.append((event, dict(measurements), dict(metadata)))

    otp.attach_many_telemetry("recorder", _telemetry.EVENTS, record)
    yield seen
    otp.detach_telemetry("recorder")


def _named(seen: list[Event], *name: str) -> list[Event]:
    return [e for e in seen if e[0] == ("trio_otp", *name)]


class Echo(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        if request == "slow":
            await trio.sleep(2)
        if request == "silent":
            return otp.NoReply(state)
        return otp.Reply(request, state)

    async def handle_cast(self, request: Any, state: None) -> Any:
        raise RuntimeError(request)


# -- the API ------------------------------------------------------------------------------


def test_execute_calls_the_handler_with_event_measurements_metadata_and_config():
    """An attached handler gets (event, measurements, metadata, config) for its event only."""
    got: list[tuple[Any, ...]] = []
    otp.attach_telemetry("h", ("app", "job", "done"), lambda *args: got.append(args), config=7)
    otp.execute_telemetry(("app", "job", "done"), {"duration": 1.5}, {"job": 1})
    otp.execute_telemetry(("app", "job", "failed"), {"duration": 2.0}, {"job": 2})
    otp.execute_telemetry(["app", "job", "done"], {"duration": 3.0})
    assert got == [
        (("app", "job", "done"), {"duration": 1.5}, {"job": 1}, 7),
        (("app", "job", "done"), {"duration": 3.0}, {}, 7),
    ]


def test_handler_ids_are_unique_and_detach_says_whether_one_was_attached():
    """Attaching a taken id fails; detach returns True once, then False."""
    otp.attach_telemetry("h", ("app", "a"), print)
    with pytest.raises(otp.TelemetryHandlerExistsError, match="'h' is attached already"):
        otp.attach_telemetry("h", ("app", "b"), print)
    assert otp.detach_telemetry("h") is True
    assert otp.detach_telemetry("h") is False


def test_attach_many_and_list_handlers_by_prefix():
    """One id on several events: listed per event, filtered by prefix, detached at once."""
    otp.attach_many_telemetry("m", [("app", "a"), ("app", "b"), ("other", "c")], print, 1)
    otp.attach_telemetry("s", ("app", "a"), print)
    listed = [(h.id, h.event) for h in otp.list_telemetry_handlers(("app",))]
    assert listed == [("m", ("app", "a")), ("s", ("app", "a")), ("m", ("app", "b"))]
    assert otp.list_telemetry_handlers(("other",)) == [
        otp.TelemetryHandler("m", ("other", "c"), print, 1)
    ]
    otp.detach_telemetry("m")
    assert [h.id for h in otp.list_telemetry_handlers()] == ["s"]


@pytest.mark.parametrize(
    ("event", "match"),
    [("app.done", "not the string 'app.done'"), ((), "non-empty"), (("app", 1), "strings")],
)
def test_bad_event_names_are_rejected(event: Any, match: str):
    """An event name must be a non-empty tuple of strings, and a handler callable."""
    with pytest.raises(TypeError, match=match):
        otp.attach_telemetry("h", event, print)
    with pytest.raises(TypeError, match="must be callable"):
        otp.attach_telemetry("h", ("app",), "print")  # type: ignore[arg-type]
    assert otp.list_telemetry_handlers() == []


def test_only_handlers_of_trio_otp_events_switch_its_hooks_on():
    """trio_otp's hot paths listen only while a handler is attached to a trio_otp event."""
    otp.attach_telemetry("mine", ("app", "x"), print)
    assert not _telemetry.listening
    otp.attach_telemetry("call", ("trio_otp", "call", "stop"), print)
    assert _telemetry.listening
    otp.detach_telemetry("call")
    assert not _telemetry.listening


async def test_failing_handler_is_detached_and_logged_and_the_emitter_goes_on(
    autojump_clock, caplog
):
    """A handler that raises is detached and logged once; the other handlers still run
    and the call that emitted the event succeeds."""
    stops: list[float] = []

    def broken(*args: Any) -> None:
        raise ZeroDivisionError("bad handler")

    otp.attach_telemetry("broken", ("trio_otp", "call", "stop"), broken)
    otp.attach_telemetry("good", ("trio_otp", "call", "stop"), lambda e, m, md, c: stops.append(1))
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        assert await otp.call(server, "a") == "a"
        assert await otp.call(server, "b") == "b"
        await otp.stop(server)
    assert stops == [1, 1]
    assert [h.id for h in otp.list_telemetry_handlers()] == ["good"]
    (record,) = [r for r in caplog.records if r.name == "trio_otp.telemetry"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "Handler 'broken' has failed and has been detached. Event: ('trio_otp', 'call', 'stop')"
    )
    assert isinstance(record.exc_info[1], ZeroDivisionError)
    assert record.otp_event == "telemetry_handler_detached"
    assert record.otp_handler_id == "broken"
    assert record.otp_pid is server
    assert record.otp_reason is record.exc_info[1]


# -- the events trio_otp emits -------------------------------------------------------------


async def test_process_start_and_exit_events(autojump_clock, events):
    """Each process emits start when it gets its handle and exit with its reason."""
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery, name="echo")
        await trio.sleep(1)
        await otp.stop(server, otp.SHUTDOWN)
        task = await otp.Task.start(nursery, trio.sleep, 2)
    starts = _named(events, "process", "start")
    exits = _named(events, "process", "exit")
    assert [(m, md["pid"], md["kind"], md["name"]) for _, m, md in starts] == [
        ({"monotonic_time": 0.0}, server, "GenServer", "echo"),
        ({"monotonic_time": 1.0}, task, "Task", None),
    ]
    assert [(m, md["pid"], md["reason"]) for _, m, md in exits] == [
        ({"monotonic_time": 1.0}, server, "shutdown"),
        ({"monotonic_time": 3.0}, task, "normal"),
    ]


async def test_restart_and_gave_up_events(autojump_clock, events):
    """Each counted restart emits restart with the old pid and the reason; reaching the
    intensity emits gave_up."""
    with pytest.RaisesGroup(otp.RestartIntensityError):
        async with otp.Supervisor.open([Echo.child_spec(id="e")], max_restarts=1) as sup:
            [first] = await otp.Supervisor.which_children(sup)
            otp.cast(first.pid, "boom1")
            await first.pid.wait_exited()
            [second] = await otp.Supervisor.which_children(sup)
            otp.cast(second.pid, "boom2")
            await sup.wait_exited()
    [(_, measures, restart)] = _named(events, "supervisor", "restart")
    assert measures == {"monotonic_time": 0.0, "restarts": 1}
    assert restart["supervisor"] is sup
    assert restart["child_id"] == "e"
    assert restart["pid"] is first.pid
    assert repr(restart["reason"]) == "RuntimeError('boom1')"
    [(_, measures, gave_up)] = _named(events, "supervisor", "gave_up")
    assert measures == {"monotonic_time": 0.0, "restarts": 2}
    assert (gave_up["supervisor"], gave_up["child_id"]) == (sup, "e")
    assert (gave_up["max_restarts"], gave_up["max_seconds"]) == (1, 5)
    assert repr(gave_up["reason"]) == "RuntimeError('boom2')"


async def test_task_restart_under_one_for_one_emits_restart(autojump_clock, events):
    """A transient Task restarted in place (one_for_one) emits restart too."""
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ValueError("first run fails")

    spec = otp.Task.child_spec(flaky).replace(id="t", restart=otp.Restart.TRANSIENT)
    async with otp.Supervisor.open([spec]):
        await trio.sleep(1)
    assert runs == 2
    [(_, measures, restart)] = _named(events, "supervisor", "restart")
    assert measures == {"monotonic_time": 0.0, "restarts": 1}
    assert restart["child_id"] == "t"
    assert repr(restart["reason"]) == "ValueError('first run fails')"


async def test_call_span_events_time_each_call(autojump_clock, events):
    """A call emits start, then stop with its duration, or exception with the error."""
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery, name="echo")
        assert await otp.call("echo", "slow") == "slow"
        with pytest.raises(otp.CallTimeout):
            await otp.call(server, "silent", timeout=1)
        with trio.move_on_after(0.5):
            await otp.call(server, "silent")
        await otp.stop(server)
    calls = [e for e in events if e[0][:2] == ("trio_otp", "call")]
    assert [(e[0][2], e[1]) for e in calls] == [
        ("start", {"monotonic_time": 0.0}),
        ("stop", {"duration": 2.0, "monotonic_time": 2.0}),
        ("start", {"monotonic_time": 2.0}),
        ("exception", {"duration": 1.0, "monotonic_time": 3.0}),
        ("start", {"monotonic_time": 3.0}),
        ("exception", {"duration": 0.5, "monotonic_time": 3.5}),
    ]
    first = calls[0][2]
    assert first == {"server": "echo", "pid": server, "request": "slow", "timeout": 5.0}
    assert calls[1][2] == first
    timeout = calls[3][2]
    assert (timeout["kind"], type(timeout["reason"])) == ("error", otp.CallTimeout)
    cancelled = calls[5][2]
    assert (cancelled["kind"], type(cancelled["reason"])) == ("exit", trio.Cancelled)


async def test_no_call_events_without_a_call_handler(autojump_clock):
    """With handlers only on process events, a call emits nothing and is not timed."""
    seen: list[tuple[str, ...]] = []
    otp.attach_telemetry("exits", ("trio_otp", "process", "exit"), lambda e, *_: seen.append(e))
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        assert await otp.call(server, "x") == "x"
        await otp.stop(server)
    assert seen == [("trio_otp", "process", "exit")]
