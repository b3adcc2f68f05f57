"""GenServer: start, callbacks, continue, terminate and links (trio_otp/_server/_gen_server.py).

Rows of otp-behaviour.md sections E and F (start failures, names), plus the exit
rules (terminate, killed, links) the supervisors build on.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp.testing import capture_reports


class Recorder(otp.GenServer[list[Any]]):
    """Records every callback in its state list; requests pick the return value."""

    async def init(self, arg: Any) -> Any:
        record, how = arg
        record.append(("init", trio.current_time()))
        match how:
            case "ok":
                return otp.Ok(record)
            case ("sleep", seconds):
                await trio.sleep(seconds)
                return otp.Ok(record)
            case ("continue", value):
                return otp.Ok(record, otp.Continue(value))
            case "ignore":
                return otp.Ignore()
            case ("stop", reason):
                return otp.Stop(reason)
            case ("raise", exc):
                raise exc
            case ("return", value):
                return value
        raise AssertionError(how)  # pragma: no cover

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        state.append(("call", request))
        match request:
            case ("continue", value):
                return otp.Reply("ok", state, otp.Continue(value))
            case ("stop", reason):
                return otp.Stop(reason, state)
            case ("raise", exc):
                raise exc
            case ("return", value):
                return value
            case ("sleep", seconds):
                await trio.sleep(seconds)
        return otp.Reply(request, state)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        state.append(("cast", request))
        match request:
            case ("stop", reason):
                return otp.Stop(reason, state)
            case ("raise", exc):
                raise exc
            case ("return", value):
                return value
            case ("continue", value):
                return otp.NoReply(state, otp.Continue(value))
        return otp.NoReply(state)

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        state.append(("info", message))
        match message:
            case ("return", value):
                return value
        return otp.NoReply(state)

    async def handle_continue(self, arg: Any, state: list[Any]) -> Any:
        state.append(("continue", arg))
        match arg:
            case ("sleep", seconds, then):
                await trio.sleep(seconds)
                return otp.NoReply(state, then)
            case ("stop", reason):
                return otp.Stop(reason, state)
            case ("return", value):
                return value
        return otp.NoReply(state)

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminate", reason))


class SlowTerminate(Recorder):
    """Takes 10 s to terminate."""

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminating", reason))
        await trio.sleep(10)
        state.append(("terminated", reason))  # pragma: no cover - killed before


class CrashingTerminate(Recorder):
    """terminate raises RuntimeError."""

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminate", reason))
        raise RuntimeError("terminate failed")


class Interrupting(otp.GenServer[list[Any]]):
    """Raises KeyboardInterrupt from handle_cast."""

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        raise KeyboardInterrupt

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminate", reason))  # pragma: no cover - must not run


# --------------------------------------------------------------------------------------
# start / serve / init
# --------------------------------------------------------------------------------------


async def test_start_returns_the_pid_once_init_has_run(autojump_clock):
    """start() returns the server's handle after init finished (here at 1 s)."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, ("sleep", 1)))
        assert trio.current_time() == 1.0
        assert isinstance(pid, otp.Pid)
        assert pid.alive
        assert pid.kind == "GenServer"
        assert pid.name is None
        assert await otp.call(pid, "ping") == "ping"
        await otp.stop(pid)
    assert record == [("init", 0.0), ("call", "ping"), ("terminate", otp.NORMAL)]


async def test_serve_follows_the_nursery_start_protocol(autojump_clock):
    """nursery.start(partial(Cls.serve, arg, name=...)) returns the handle, like start()."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await nursery.start(functools.partial(Recorder.serve, (record, "ok"), name="srv"))
        assert otp.whereis("srv") is pid
        assert await otp.call("srv", "ping") == "ping"
        await otp.stop(pid)


async def test_default_init_uses_the_argument_as_state(autojump_clock):
    """Without an init override, the start argument becomes the state."""

    class Echo(otp.GenServer[int]):
        async def handle_call(self, request: Any, from_: otp.From, state: int) -> Any:
            return otp.Reply(state, state + request)

    async with trio.open_nursery() as nursery:
        pid = await Echo.start(nursery, 40)
        assert await otp.call(pid, 2) == 40
        assert await otp.call(pid, 0) == 42
        await otp.stop(pid)


async def test_init_stop_raises_start_error_with_that_reason(autojump_clock):
    """init returning Stop("bad_init") makes start raise StartError("bad_init")."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.StartError) as exc_info:
            await Recorder.start(nursery, (record, ("stop", "bad_init")), name="srv")
        assert exc_info.value.reason == "bad_init"
        assert "bad_init" in str(exc_info.value)
        assert otp.whereis("srv") is None
        # The owning nursery is not affected (OTP 26+: start_link returns {:error, r}).
        assert not nursery.cancel_scope.cancel_called
    assert record == [("init", 0.0)]  # terminate does not run when init fails


async def test_init_raising_raises_start_error_with_the_cause(autojump_clock):
    """init raising ValueError makes start raise StartError whose reason and cause it is."""
    record: list[Any] = []
    bad = ValueError("bad")
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.StartError) as exc_info:
            await Recorder.start(nursery, (record, ("raise", bad)), name="srv")
        assert exc_info.value.reason is bad
        assert exc_info.value.__cause__ is bad
        assert otp.whereis("srv") is None
        assert not nursery.cancel_scope.cancel_called
    assert record == [("init", 0.0)]


async def test_init_ignore_returns_none_and_registers_nothing(autojump_clock):
    """init returning Ignore makes start return None; the name stays free."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        assert await Recorder.start(nursery, (record, "ignore"), name="srv") is None
        assert otp.whereis("srv") is None
        assert otp.registered() == {}
        pid = await Recorder.start(nursery, (record, "ok"), name="srv")
        assert otp.whereis("srv") is pid
        await otp.stop(pid)


async def test_init_bad_return_raises_start_error_with_bad_return_value(autojump_clock):
    """init returning something that is not Ok/Ignore/Stop fails the start."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.StartError) as exc_info:
            await Recorder.start(nursery, ([], ("return", "nonsense")))
    reason = exc_info.value.reason
    assert isinstance(reason, otp.BadReturnValue)
    assert reason.callback == "init"
    assert reason.value == "nonsense"
    assert exc_info.value.__cause__ is reason


async def test_init_keyboard_interrupt_is_not_a_start_error(autojump_clock):
    """A KeyboardInterrupt in init propagates untouched, never wrapped as StartError."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(KeyboardInterrupt):
            await Recorder.start(nursery, ([], ("raise", KeyboardInterrupt())))


async def test_self_pid_is_set_before_init_runs(autojump_clock):
    """self.pid is the server's handle already in init, and start returns that handle."""
    seen: list[otp.Pid] = []

    class Probe(otp.GenServer[None]):
        async def init(self, arg: None) -> otp.Ok[None]:
            seen.append(self.pid)
            return otp.Ok(None)

    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery)
        await otp.stop(pid)
    assert seen == [pid]


# --------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------


async def test_name_taken_raises_already_started_naming_the_holder(autojump_clock):
    """Starting a second server under a held name fails before its init runs."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        holder = await Recorder.start(nursery, (record, "ok"), name="dup")
        with pytest.raises(otp.AlreadyStartedError) as exc_info:
            await Recorder.start(nursery, (record, "ok"), name="dup")
        err = exc_info.value
        assert isinstance(err, otp.StartError)
        assert err.name == "dup"
        assert err.holder is holder
        assert err.reason == ("already_started", holder)
        assert "'dup'" in str(err)
        assert repr(holder) in str(err)
        assert otp.whereis("dup") is holder
        await otp.stop(holder)
    assert record == [("init", 0.0), ("terminate", otp.NORMAL)]


async def test_name_is_freed_at_exit_and_reusable(autojump_clock):
    """A crashed server's name is free again at once, for a successor to take."""
    record: list[Any] = []
    async with trio.open_nursery() as outer:
        with pytest.RaisesGroup(ValueError):
            async with trio.open_nursery() as nursery:
                first = await Recorder.start(nursery, (record, "ok"), name="srv")
                otp.cast("srv", ("raise", ValueError("crash")))
        assert otp.whereis("srv") is None
        second = await Recorder.start(outer, (record, "ok"), name="srv")
        assert second is not first
        assert otp.whereis("srv") is second
        await otp.stop("srv")
    assert otp.whereis("srv") is None


# --------------------------------------------------------------------------------------
# handle_continue
# --------------------------------------------------------------------------------------


async def test_continue_from_init_runs_before_the_first_message(autojump_clock):
    """Ok(state, Continue(x)): handle_continue runs before a message sent meanwhile."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, ("continue", ("sleep", 2, None))))
        otp.cast(pid, "early")
        assert await otp.call(pid, "ping") == "ping"
        assert trio.current_time() == 2.0
        await otp.stop(pid)
    assert record == [
        ("init", 0.0),
        ("continue", ("sleep", 2, None)),
        ("cast", "early"),
        ("call", "ping"),
        ("terminate", otp.NORMAL),
    ]


async def test_continue_from_reply_runs_before_the_next_message(autojump_clock):
    """Reply(..., Continue(x)): the caller is answered, then handle_continue, then the rest."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, "ok"))
        assert await otp.call(pid, ("continue", ("sleep", 1, None))) == "ok"
        assert trio.current_time() == 0.0  # answered before the continue work
        otp.cast(pid, "next")
        assert await otp.call(pid, "ping") == "ping"
        assert trio.current_time() == 1.0
        await otp.stop(pid)
    assert record == [
        ("init", 0.0),
        ("call", ("continue", ("sleep", 1, None))),
        ("continue", ("sleep", 1, None)),
        ("cast", "next"),
        ("call", "ping"),
        ("terminate", otp.NORMAL),
    ]


async def test_continue_chains_and_comes_from_noreply_too(autojump_clock):
    """NoReply(state, Continue(x)) works, and a continue may ask for another continue."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, "ok"))
        otp.cast(pid, ("continue", ("sleep", 1, otp.Continue("second"))))
        otp.cast(pid, "after")
        await otp.call(pid, "sync")
        await otp.stop(pid)
    assert record[1:] == [
        ("cast", ("continue", ("sleep", 1, otp.Continue("second")))),
        ("continue", ("sleep", 1, otp.Continue("second"))),
        ("continue", "second"),
        ("cast", "after"),
        ("call", "sync"),
        ("terminate", otp.NORMAL),
    ]


async def test_continue_can_stop_the_server(autojump_clock):
    """handle_continue returning Stop(NORMAL) runs terminate and exits quietly."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, ("continue", ("stop", otp.NORMAL))))
        assert await pid.wait_exited() == otp.NORMAL
    assert record == [
        ("init", 0.0),
        ("continue", ("stop", otp.NORMAL)),
        ("terminate", otp.NORMAL),
    ]


async def test_continue_without_handle_continue_crashes(autojump_clock):
    """Asking for a Continue without implementing handle_continue crashes the server."""

    class NoContinue(otp.GenServer[None]):
        async def init(self, arg: None) -> otp.Ok[None]:
            return otp.Ok(None, otp.Continue("x"))

    with pytest.RaisesGroup(NotImplementedError):
        async with trio.open_nursery() as nursery:
            pid = await NoContinue.start(nursery)
    assert isinstance(pid.exit_reason, NotImplementedError)


# --------------------------------------------------------------------------------------
# bad return values
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("callback", "send"),
    [
        ("handle_call", lambda pid, v: otp.call(pid, ("return", v))),
        ("handle_cast", lambda pid, v: otp.cast(pid, ("return", v))),
        ("handle_info", lambda pid, v: otp.send(pid, ("return", v))),
        ("handle_continue", lambda pid, v: otp.cast(pid, ("continue", ("return", v)))),
    ],
)
async def test_bad_return_value_crashes_the_server(callback, send, autojump_clock):
    """A callback returning something else than its result types crashes with BadReturnValue."""
    record: list[Any] = []
    with pytest.RaisesGroup(otp.BadReturnValue) as group_info:
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, (record, "ok"))
            sent = send(pid, "nonsense")
            if sent is not None:
                with pytest.raises(otp.CalleeExit):
                    await sent
    (error,) = group_info.value.exceptions
    assert error.callback == callback
    assert error.value == "nonsense"
    assert "nonsense" in str(error)
    assert pid.exit_reason is error
    assert record[-1] == ("terminate", error)


@pytest.mark.parametrize(
    "result", [otp.Reply("x", None), otp.Ok(None), otp.Ignore(), None, ("noreply", None)]
)
async def test_cast_result_types_are_checked(result, autojump_clock):
    """handle_cast must return NoReply or Stop: Reply, Ok, Ignore, None or a tuple crash it."""
    with pytest.RaisesGroup(otp.BadReturnValue):
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, ([], "ok"))
            otp.cast(pid, ("return", result))
    assert pid.exit_reason.value == result


async def test_call_with_ok_result_crashes_the_server(autojump_clock):
    """handle_call returning Ok (an init result) is a bad return value."""
    with pytest.RaisesGroup(otp.BadReturnValue):
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, ([], "ok"))
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call(pid, ("return", otp.Ok(None)))
    assert isinstance(exc_info.value.reason, otp.BadReturnValue)


# --------------------------------------------------------------------------------------
# default callbacks
# --------------------------------------------------------------------------------------


async def test_missing_handle_call_crashes_the_server(autojump_clock):
    """A server without handle_call crashes on a call, as OTP's default does."""

    class Bare(otp.GenServer[None]):
        pass

    with pytest.RaisesGroup(NotImplementedError):
        async with trio.open_nursery() as nursery:
            pid = await Bare.start(nursery)
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call(pid, "x")
    assert isinstance(exc_info.value.reason, NotImplementedError)


async def test_missing_handle_cast_crashes_the_server(autojump_clock):
    """A server without handle_cast crashes on a cast."""

    class Bare(otp.GenServer[None]):
        pass

    with pytest.RaisesGroup(NotImplementedError):
        async with trio.open_nursery() as nursery:
            pid = await Bare.start(nursery)
            otp.cast(pid, "x")
    assert isinstance(pid.exit_reason, NotImplementedError)


async def test_default_handle_info_logs_and_carries_on(autojump_clock):
    """An unexpected message to a server without handle_info is logged; the server goes on."""

    class Bare(otp.GenServer[int]):
        async def handle_call(self, request: Any, from_: otp.From, state: int) -> Any:
            return otp.Reply(state, state)

    with capture_reports() as reports:
        async with trio.open_nursery() as nursery:
            pid = await Bare.start(nursery, 7)
            otp.send(pid, "stray")
            assert await otp.call(pid, "state") == 7
            await otp.stop(pid)
    assert reports.crashes() == []
    (report,) = reports.of_kind("unexpected_message")
    assert report.process is pid
    assert "unexpected message" in report.message
    assert "'stray'" in report.message


# --------------------------------------------------------------------------------------
# terminate
# --------------------------------------------------------------------------------------


async def test_terminate_runs_on_stop_with_the_reason_and_latest_state(autojump_clock):
    """A callback returning Stop(SHUTDOWN, state) runs terminate(SHUTDOWN, that state)."""
    seen: list[Any] = []

    class Counter(otp.GenServer[int]):
        async def handle_cast(self, request: Any, state: int) -> Any:
            if request == "stop":
                return otp.Stop(otp.SHUTDOWN, state * 10)
            return otp.NoReply(state + 1)

        async def terminate(self, reason: object, state: int) -> None:
            seen.append((reason, state))

    async with trio.open_nursery() as nursery:
        pid = await Counter.start(nursery, 0)
        otp.cast(pid, "inc")
        otp.cast(pid, "inc")
        otp.cast(pid, "stop")
    assert seen == [(otp.SHUTDOWN, 20)]
    assert pid.exit_reason == otp.SHUTDOWN


async def test_terminate_runs_on_crash_with_the_exception_as_reason(autojump_clock):
    """A callback that raises runs terminate(exception, state) before the server exits."""
    record: list[Any] = []
    bad = ValueError("bad")
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, check=lambda e: e is bad)):
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, (record, "ok"))
            otp.cast(pid, ("raise", bad))
    assert record == [("init", 0.0), ("cast", ("raise", bad)), ("terminate", bad)]
    assert pid.exit_reason is bad


async def test_terminate_runs_on_otp_stop(autojump_clock):
    """otp.stop(pid) runs terminate with the stop's reason."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, "ok"))
        await otp.stop(pid, otp.SHUTDOWN)
    assert record == [("init", 0.0), ("terminate", otp.SHUTDOWN)]


async def test_terminate_does_not_run_when_the_server_is_cancelled(autojump_clock):
    """Cancelling the server's nursery kills it: no terminate, exit reason KILLED."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, "ok"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert record == [("init", 0.0)]
    assert not pid.alive
    assert pid.exit_reason == otp.KILLED
    assert trio.current_time() == 1.0


async def test_server_cancelled_during_a_callback_exits_killed(autojump_clock):
    """A server cancelled in the middle of handle_call exits KILLED; its caller learns at once."""
    record: list[Any] = []
    async with trio.open_nursery() as outer:

        async def host(task_status: trio.TaskStatus[Any]) -> None:
            async with trio.open_nursery() as inner:
                pid = await Recorder.start(inner, (record, "ok"))
                task_status.started((pid, inner.cancel_scope))

        pid, scope = await outer.start(host)

        async def killer() -> None:
            await trio.sleep(1)
            scope.cancel()

        outer.start_soon(killer)
        with pytest.raises(otp.CalleeExit) as exc_info:
            await otp.call(pid, ("sleep", 3))
        assert trio.current_time() == 1.0
    assert exc_info.value.reason == otp.KILLED
    assert pid.exit_reason == otp.KILLED
    assert record == [("init", 0.0), ("call", ("sleep", 3))]


async def test_server_cancelled_during_terminate_exits_killed(autojump_clock):
    """A server killed while its terminate runs exits KILLED (OTP: DOWN reason :killed)."""
    record: list[Any] = []
    async with trio.open_nursery() as outer:

        async def host(task_status: trio.TaskStatus[Any]) -> None:
            async with trio.open_nursery() as inner:
                pid = await SlowTerminate.start(inner, (record, "ok"))
                task_status.started((pid, inner.cancel_scope))

        pid, scope = await outer.start(host)
        otp.cast(pid, ("stop", otp.SHUTDOWN))
        await trio.sleep(2)
        assert record[-1] == ("terminating", otp.SHUTDOWN)
        scope.cancel()
        assert await pid.wait_exited() == otp.KILLED
        assert trio.current_time() == 2.0


async def test_terminate_crash_becomes_the_exit_reason(autojump_clock):
    """If terminate raises after a crash, its error is the exit reason, chained to the crash."""
    bad = ValueError("bad")
    with pytest.RaisesGroup(
        pytest.RaisesExc(RuntimeError, check=lambda e: e.__context__ is bad)
    ) as group_info:
        async with trio.open_nursery() as nursery:
            pid = await CrashingTerminate.start(nursery, ([], "ok"))
            otp.cast(pid, ("raise", bad))
    assert pid.exit_reason is group_info.value.exceptions[0]


async def test_terminate_crash_after_a_normal_stop_is_a_crash(autojump_clock):
    """terminate raising after Stop(NORMAL) turns the normal exit into a crash."""
    with pytest.RaisesGroup(RuntimeError):
        async with trio.open_nursery() as nursery:
            pid = await CrashingTerminate.start(nursery, ([], "ok"))
            otp.cast(pid, ("stop", otp.NORMAL))
    assert isinstance(pid.exit_reason, RuntimeError)


# --------------------------------------------------------------------------------------
# links: what an unsupervised server raises into its nursery
# --------------------------------------------------------------------------------------


async def test_unsupervised_crash_raises_the_exception_into_the_nursery(autojump_clock):
    """An unsupervised server that raises ValueError raises that very error into its nursery."""
    bad = ValueError("bad")
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, check=lambda e: e is bad)):
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, ([], "ok"))
            otp.cast(pid, ("raise", bad))
            await trio.sleep_forever()


async def test_unsupervised_abnormal_stop_raises_process_exit(autojump_clock):
    """Stop("boom") of an unsupervised server raises ProcessExit(pid, "boom") into its nursery."""
    with pytest.RaisesGroup(otp.ProcessExit) as group_info:
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, ([], "ok"))
            otp.cast(pid, ("stop", "boom"))
            await trio.sleep_forever()
    (error,) = group_info.value.exceptions
    assert error.pid is pid
    assert error.reason == "boom"
    assert repr(pid) in str(error)
    assert "'boom'" in str(error)


async def test_unsupervised_killed_reason_via_stop_raises_process_exit(autojump_clock):
    """otp.stop(pid, KILLED) is an abnormal exit: ProcessExit reaches the nursery."""
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == otp.KILLED)
    ):
        async with trio.open_nursery() as nursery:
            pid = await Recorder.start(nursery, ([], "ok"))
            await otp.stop(pid, otp.KILLED)


@pytest.mark.parametrize("reason", [otp.NORMAL, otp.SHUTDOWN, otp.Shutdown("done")])
async def test_unsupervised_normal_exit_raises_nothing(reason, autojump_clock):
    """Normal, shutdown and Shutdown(x) exits end the server quietly: the nursery just exits."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Recorder.start(nursery, (record, "ok"))
        otp.cast(pid, ("stop", reason))
    assert pid.exit_reason == reason
    assert record[-1] == ("terminate", reason)


# --------------------------------------------------------------------------------------
# BaseException is never a crash
# --------------------------------------------------------------------------------------


async def test_keyboard_interrupt_in_a_handler_propagates_and_is_not_a_crash(autojump_clock):
    """KeyboardInterrupt from a callback escapes the nursery untouched; no crash report."""
    record: list[Any] = []
    with capture_reports() as reports, pytest.RaisesGroup(KeyboardInterrupt):
        async with trio.open_nursery() as nursery:
            pid = await Interrupting.start(nursery, record)
            otp.cast(pid, "x")
    assert not pid.alive
    assert record == []  # not a crash: terminate does not run
    assert list(reports) == []


async def test_keyboard_interrupt_in_handle_call_fails_the_caller_at_once(autojump_clock):
    """A caller of a server hit by KeyboardInterrupt does not hang until its deadline."""

    class Interrupt(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            raise KeyboardInterrupt

    results: list[Any] = []
    with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
        async with trio.open_nursery() as outer:

            async def host(task_status: trio.TaskStatus[otp.Pid]) -> None:
                async with trio.open_nursery() as inner:
                    task_status.started(await Interrupt.start(inner))

            pid = await outer.start(host)
            try:
                await otp.call(pid, "x")
            except otp.CalleeExit as exc:
                results.append((exc.reason, trio.current_time()))
            except trio.Cancelled:
                results.append(("cancelled", trio.current_time()))
                raise
    # It learns at once (CalleeExit, or cancelled with its nursery), never at the deadline.
    assert [t for _, t in results] == [0.0]


# --------------------------------------------------------------------------------------
# Timeouts on callback results (OTP's {:noreply, state, timeout})
# --------------------------------------------------------------------------------------


class Idle(otp.GenServer[list[Any]]):
    """Sets a 5 s timeout after every callback; records when handle_info sees what."""

    async def init(self, record: list[Any]) -> Any:
        return otp.Ok(record, timeout=5)

    async def handle_call(self, request: Any, from_: otp.From, record: list[Any]) -> Any:
        if request == "no timeout":
            return otp.Reply("ok", record)
        return otp.Reply("ok", record, timeout=5)

    async def handle_cast(self, request: Any, record: list[Any]) -> Any:
        return otp.NoReply(record, timeout=request)

    async def handle_info(self, message: Any, record: list[Any]) -> Any:
        record.append((message, trio.current_time()))
        if message == otp.TIMEOUT and len(record) >= 2:
            return otp.Stop(otp.NORMAL, record)
        return otp.NoReply(record, timeout=5)


async def test_gen_server_timeout_sends_timeout_when_idle(autojump_clock):
    """A result's timeout delivers TIMEOUT to handle_info after that long without messages."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        server = await Idle.start(nursery, record)
        assert await server.wait_exited() == otp.NORMAL
    assert record == [(otp.TIMEOUT, 5.0), (otp.TIMEOUT, 10.0)]


async def test_gen_server_timeout_is_cancelled_by_a_message(autojump_clock):
    """Any message before the timeout cancels it; the next result's timeout starts anew."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        server = await Idle.start(nursery, record)
        await trio.sleep(4)
        assert await otp.call(server, "no timeout") == "ok"  # cancels the init timeout
        await trio.sleep(20)
        assert record == []
        await otp.call(server, "again")  # timeout 5 s from t=24
        await trio.sleep(3)
        otp.send(server, "hello")  # at t=27: cancels it, handle_info re-arms 5 s
        assert await server.wait_exited() == otp.NORMAL
    assert record == [("hello", 27.0), (otp.TIMEOUT, 32.0)]


async def test_gen_server_zero_timeout_fires_only_if_the_mailbox_is_empty(autojump_clock):
    """Timeout 0 delivers TIMEOUT at once, unless a message is already queued."""

    async def run(queue_one: bool) -> list[Any]:
        record: list[Any] = []
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            server = await Idle.start(nursery, record)
            otp.cast(server, 0)
            if queue_one:
                otp.send(server, "queued")
            assert await server.wait_exited() == otp.NORMAL
        return [(message, at - start) for message, at in record]

    assert await run(queue_one=False) == [(otp.TIMEOUT, 0.0), (otp.TIMEOUT, 5.0)]
    assert await run(queue_one=True) == [("queued", 0.0), (otp.TIMEOUT, 5.0)]


@pytest.mark.parametrize(
    ("bad", "error"),
    [(-1, ValueError), (float("nan"), ValueError), ("5", TypeError), (True, TypeError)],
)
async def test_gen_server_bad_timeout_crashes_the_server_with_an_error_naming_the_result(
    autojump_clock: Any, bad: object, error: type[Exception]
) -> None:
    """A bad timeout on a result crashes the server when it would wait, naming result and fix."""
    expected = (
        f"Idle returned NoReply(..., timeout={bad!r}): a GenServer timeout is a number"
        " of seconds >= 0, or None (the default) for none"
    )
    reasons: list[object] = []
    with pytest.RaisesGroup(pytest.RaisesExc(error, check=lambda e: str(e) == expected)):
        async with trio.open_nursery() as nursery:
            server = await Idle.start(nursery, [])
            otp.cast(server, bad)
            reasons.append(await server.wait_exited())
    assert trio.current_time() == 0.0
    assert type(reasons[0]) is error


# -- the mailbox of an idle server (issue 14: it keeps no queue while idle) -----------------


class Collector(otp.GenServer[list[Any]]):
    """Sends itself a message from init; records every message it gets, in order."""

    async def init(self, arg: Any) -> Any:
        otp.send(self.pid, "from init")
        return otp.Ok([])

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        state.append(message)
        return otp.NoReply(state)

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        return otp.Reply(list(state), state)


async def test_messages_sent_before_the_server_first_waited_come_in_order(autojump_clock):
    """Messages queued during init, and after a long idle time, are handled in send order."""
    async with trio.open_nursery() as nursery:
        pid = await Collector.start(nursery)
        otp.send(pid, 1)
        otp.send(pid, 2)
        assert await otp.call(pid, "seen") == ["from init", 1, 2]
        await trio.sleep(3600)  # idle: nothing queued
        otp.send(pid, 3)
        assert await otp.call(pid, "seen") == ["from init", 1, 2, 3]
        await otp.stop(pid)


async def test_an_idle_server_keeps_nothing_of_its_last_message():
    """Once handled, a message and the callback's result are not kept alive by an idle server."""

    class Payload:
        pass

    class Sink(otp.GenServer[None]):
        async def handle_cast(self, request: Any, state: None) -> Any:
            return otp.NoReply(None)

    async with trio.open_nursery() as nursery:
        pid = await Sink.start(nursery)
        payload = Payload()
        ref = weakref.ref(payload)
        otp.cast(pid, payload)
        del payload
        await trio.testing.wait_all_tasks_blocked()
        assert ref() is None
        await otp.stop(pid)


async def test_an_idle_server_is_monitored_linked_and_killed_while_it_waits(autojump_clock):
    """A never-messaged server (default init) still gets Down, exit signals and late sends."""

    class Idle(otp.GenServer[None]):
        trap_exit = False

    async with trio.open_nursery() as nursery:
        sup = await otp.DynamicSupervisor.start(nursery)
        pid = await otp.DynamicSupervisor.start_child(sup, Idle)
        assert pid is not None
        async with otp.mailbox(trap_exit=True) as inbox:
            ref = otp.monitor(pid)
            otp.link(pid)
            await trio.sleep(10)
            otp.exit(pid, "kill")
            down = await inbox.receive(lambda m: isinstance(m, otp.Down))
            exit_ = await inbox.receive(lambda m: isinstance(m, otp.Exit))
        assert (down.ref, down.reason) == (ref, otp.KILLED)
        assert (exit_.pid, exit_.reason) == (pid, otp.KILLED)
        assert not pid.alive
        otp.send(pid, "late")  # dropped silently: the mailbox is gone
        await otp.DynamicSupervisor.stop(sup)


def test_the_bare_class_spec_is_made_once_per_class():
    """Class.child_spec() returns one spec per class; a subclass gets its own, with its id."""

    class Base(otp.GenServer[None]):
        pass

    class Derived(Base):
        pass

    assert Base.child_spec() is Base.child_spec()
    assert Derived.child_spec().id is Derived
    assert Derived.child_spec() is Derived.child_spec()
    assert Base.child_spec().id is Base
    assert Base.child_spec(3).args == (3,)
    assert Base.child_spec(restart="transient").restart is otp.Restart.TRANSIENT
