"""Telemetry (trio_otp/_core/_telemetry.py): handlers attached by id, events trio_otp emits."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import _durable_jobs as jobs
import pytest
import trio

import trio_otp as otp
from trio_otp._core import _telemetry
from trio_otp.jobs import SQLiteStore

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


# -- job events (trio_otp.jobs) ----------------------------------------------------------


def _job_events(seen: list[Event]) -> list[tuple[str, dict[str, float], dict[str, Any]]]:
    return [(e[0][2], e[1], e[2]) for e in seen if e[0][:2] == ("trio_otp", "job")]


async def test_job_events_are_a_span_per_attempt_of_an_in_memory_job(autojump_clock, events):
    """An in-memory queue emits start, then stop (returned) or exception (retried,
    failed, cancelled) per attempt, with the attempt's duration on the virtual clock;
    a job cancelled while queued emits nothing."""
    tries = 0

    async def flaky() -> str:
        nonlocal tries
        tries += 1
        await trio.sleep(1)
        if tries == 1:
            raise OSError("first try fails")
        return "ok"

    async def doomed() -> None:
        await trio.sleep(2)
        raise ValueError("always")

    retry = otp.RetryPolicy(attempts=2, on=OSError, wait_initial=0.5, wait_jitter=0)
    async with otp.JobQueue(max_running=1).open() as queue:
        assert await queue.schedule(flaky, retry=retry, name="flaky") == "ok"
        with pytest.raises(ValueError, match="always"):
            await queue.schedule(doomed)
        running = await queue.submit(trio.sleep, 10)
        queued = await queue.submit(trio.sleep, 10)
        queued.cancel()
        await trio.sleep(1)
        running.cancel()
        with pytest.raises(otp.JobCancelledError):
            await running.wait()
    jobs = _job_events(events)
    assert [(kind, m.get("duration")) for kind, m, _ in jobs] == [
        ("start", None),
        ("exception", 1.0),  # flaky's first attempt: retried
        ("start", None),
        ("stop", 1.0),
        ("start", None),
        ("exception", 2.0),  # doomed: failed for good
        ("start", None),
        ("exception", 1.0),  # running: cancelled; the queued one never started
    ]
    assert all(m["system_time"] > 0 for kind, m, _ in jobs if kind == "start")
    ends = [meta for kind, _, meta in jobs if kind != "start"]
    assert [(m["worker"], m["attempt"], m["state"]) for m in ends] == [
        ("flaky", 1, "retrying"),
        ("flaky", 2, "done"),
        ("test_job_events_are_a_span_per_attempt_of_an_in_memory_job.<locals>.doomed", 1, "failed"),
        ("sleep", 1, "cancelled"),
    ]
    assert [type(m["error"]) for m in ends] == [
        OSError,
        type(None),
        ValueError,
        otp.JobCancelledError,
    ]
    assert {m["job_queue"] for m in ends} == {queue}
    assert [m["id"] for m in ends] == [1, 1, 2, 3]


async def test_no_job_events_and_no_timing_without_a_handler(autojump_clock):
    """With no handler attached, a job is not timed (nothing is stored on its handle)."""
    async with otp.JobQueue().open() as queue:
        job = await queue.submit(trio.sleep, 1)
        await job.wait()
    assert not hasattr(job, "_began")


async def test_job_events_of_a_durable_job(events, tmp_path):
    """A durable queue emits the same spans (state as stored: completed, discarded)
    and progress events. A real SQLite file, so the real clock (short jobs)."""
    queue = otp.JobQueue(
        store=SQLiteStore(tmp_path / "jobs.db", poll_interval=0.02),
        jobs=[jobs.add, jobs.fail, jobs.progress],
    )
    async with queue.open():
        assert await (await queue.enqueue(jobs.add, 1, 2)).wait() == 3
        failing = await queue.enqueue(jobs.fail, "no", max_attempts=1)
        with pytest.raises(otp.JobError):
            await failing.wait()
        assert await (await queue.enqueue(jobs.progress, 2, 0.0)).wait() == 2
    seen = _job_events(events)
    assert [kind for kind, _, _ in seen] == [
        "start",
        "stop",
        "start",
        "exception",
        "start",
        "progress",
        "progress",
        "stop",
    ]
    ends = [
        (meta["worker"], meta["state"], meta["attempt"])
        for kind, _, meta in seen
        if kind in ("stop", "exception")
    ]
    assert ends == [
        ("_durable_jobs:add", "completed", 1),
        ("_durable_jobs:fail", "discarded", 1),
        ("_durable_jobs:progress", "completed", 1),
    ]
    assert all(m["duration"] >= 0 for kind, m, _ in seen if kind in ("stop", "exception"))
    assert [m["fraction"] for kind, m, _ in seen if kind == "progress"] == [0.5, 1.0]
    assert [meta["message"] for kind, _, meta in seen if kind == "progress"] == [
        "step 1/2",
        "step 2/2",
    ]
    assert {meta["queue"] for kind, _, meta in seen if kind != "progress"} == {"default"}
