"""Messaging: call / reply / cast / send / stop (trio_otp/_core/_call.py).

Each test mirrors a row of otp-behaviour.md section E (GenServer.call) or F.
Virtual times are exact: ``autojump_clock`` starts at 0.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Scripted(otp.GenServer[list[Any]]):
    """A server whose behaviour is chosen by the request; its state is a record list."""

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        state.append(("call", request))
        match request:
            case ("sleep", seconds, answer):
                await trio.sleep(seconds)
                return otp.Reply(answer, state)
            case "noreply":
                return otp.NoReply(state)
            case ("keep", box):
                box.append(from_)
                return otp.NoReply(state)
            case ("stop", seconds, reason):
                await trio.sleep(seconds)
                return otp.Stop(reason, state)
            case ("stop_reply", reason, answer):
                return otp.Stop(reason, state, reply=answer)
            case ("raise", seconds, exc):
                await trio.sleep(seconds)
                raise exc
            case "call_self":
                return otp.Reply(await otp.call(self.pid, "ping"), state)
            case "stop_self":
                await otp.stop(self.pid)
                return otp.Reply("unreachable", state)
            case "ping":
                return otp.Reply("pong", state)
            case _:
                return otp.Reply(request, state)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        state.append(("cast", request))
        return otp.NoReply(state)

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        state.append(("info", message))
        return otp.NoReply(state)

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminate", reason, trio.current_time()))


class SlowTerminate(Scripted):
    """Takes 10 s to terminate."""

    async def terminate(self, reason: object, state: list[Any]) -> None:
        await trio.sleep(10)
        state.append(("terminate", reason, trio.current_time()))


class CrashingTerminate(Scripted):
    """Raises from terminate."""

    async def terminate(self, reason: object, state: list[Any]) -> None:
        raise RuntimeError("terminate failed")


# --------------------------------------------------------------------------------------
# call: deadlines
# --------------------------------------------------------------------------------------


async def test_call_default_timeout_fires_at_exactly_5_seconds(autojump_clock):
    """A call to a server that takes 6 s fails with CallTimeout after the default 5 s."""
    assert otp.DEFAULT_TIMEOUT == 5.0
    async with trio.open_nursery() as nursery:
        await Scripted.start(nursery, [], name="slow")
        with pytest.raises(otp.CallTimeout):
            await otp.call("slow", ("sleep", 6, "late"))
        assert trio.current_time() == 5.0
        await otp.stop("slow")


async def test_call_timeout_carries_server_request_and_timeout(autojump_clock):
    """CallTimeout says which server, which request and which timeout, like OTP's exit."""
    async with trio.open_nursery() as nursery:
        await Scripted.start(nursery, [], name="slow")
        with pytest.raises(otp.CallTimeout) as exc_info:
            await otp.call("slow", ("sleep", 6, "late"))
        err = exc_info.value
        assert isinstance(err, otp.CallError)
        assert err.server == "slow"
        assert err.request == ("sleep", 6, "late")
        assert err.timeout == 5.0
        message = str(err)
        assert "'slow'" in message
        assert "('sleep', 6, 'late')" in message
        assert "5" in message
        assert "timed out" in message
        await otp.stop("slow")


async def test_call_explicit_timeout_fires_at_that_time(autojump_clock):
    """call(s, msg, timeout=0.1) fails with CallTimeout at exactly 0.1 s."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        with pytest.raises(otp.CallTimeout) as exc_info:
            await otp.call(pid, ("sleep", 1, "late"), timeout=0.1)
        assert trio.current_time() == 0.1
        assert exc_info.value.timeout == 0.1
        assert exc_info.value.server is pid
        await otp.stop(pid)


async def test_call_timeout_none_waits_as_long_as_it_takes(autojump_clock):
    """timeout=None (OTP's :infinity) waits for a reply that takes a minute."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        assert await otp.call(pid, ("sleep", 60, "done"), timeout=None) == "done"
        assert trio.current_time() == 60.0
        await otp.stop(pid)


async def test_call_timeout_inf_waits_like_none(autojump_clock):
    """timeout=math.inf is the same as None: no deadline of the call's own."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        assert await otp.call(pid, ("sleep", 60, "done"), timeout=math.inf) == "done"
        assert trio.current_time() == 60.0
        await otp.stop(pid)


async def test_call_enclosing_fail_after_still_applies(autojump_clock):
    """An enclosing trio.fail_after(1) cuts the call short at 1 s with TooSlowError."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(1):
                await otp.call(pid, ("sleep", 3, "late"))
        assert trio.current_time() == 1.0
        # The server is unaffected and goes on to the next request.
        assert await otp.call(pid, "ping") == "pong"
        assert trio.current_time() == 3.0
        await otp.stop(pid)


async def test_call_enclosing_fail_after_applies_with_timeout_none(autojump_clock):
    """With timeout=None the enclosing scope is the only deadline."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(7):
                await otp.call(pid, "noreply", timeout=None)
        assert trio.current_time() == 7.0
        await otp.stop(pid)


async def test_call_longer_enclosing_scope_does_not_extend_the_timeout(autojump_clock):
    """An enclosing move_on_after(10) does not lift the call's own 5 s deadline."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        with trio.move_on_after(10) as scope:
            with pytest.raises(otp.CallTimeout):
                await otp.call(pid, "noreply")
        assert not scope.cancelled_caught
        assert trio.current_time() == 5.0
        await otp.stop(pid)


async def test_call_noreply_that_never_replies_times_out(autojump_clock):
    """A handle_call returning NoReply and never replying makes the caller time out at 5 s."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        with pytest.raises(otp.CallTimeout):
            await otp.call(pid, "noreply")
        assert trio.current_time() == 5.0
        assert pid.alive
        await otp.stop(pid)
    assert record[0] == ("call", "noreply")


@pytest.mark.parametrize("bad", [-1, math.nan])
async def test_call_rejects_negative_or_nan_timeout(bad, autojump_clock):
    """A negative or NaN timeout is a ValueError, raised before anything is sent."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        with pytest.raises(ValueError, match="timeout"):
            await otp.call(pid, "ping", timeout=bad)
        await otp.stop(pid)
    assert record == [("terminate", otp.NORMAL, 0.0)]


@pytest.mark.parametrize("bad", [True, "5"])
async def test_call_rejects_non_number_timeout(bad):
    """A timeout that is not a number (a bool, a str) is a TypeError."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        with pytest.raises(TypeError, match="timeout"):
            await otp.call(pid, "ping", timeout=bad)
        await otp.stop(pid)


# --------------------------------------------------------------------------------------
# call: late replies
# --------------------------------------------------------------------------------------


async def test_call_late_server_reply_is_dropped_and_never_reaches_a_later_call(autojump_clock):
    """The server's reply after the caller timed out is dropped; the next call gets its own."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        with pytest.raises(otp.CallTimeout):
            await otp.call(pid, ("sleep", 6, "late"))
        assert trio.current_time() == 5.0
        # Queued behind the slow request: answered once it is done, at 6 s.
        assert await otp.call(pid, "ping") == "pong"
        assert trio.current_time() == 6.0
        assert pid.alive
        await otp.stop(pid)
    assert record == [
        ("call", ("sleep", 6, "late")),
        ("call", "ping"),
        ("terminate", otp.NORMAL, 6.0),
    ]


async def test_reply_from_another_task_after_timeout_is_dropped(autojump_clock):
    """otp.reply from another task after the caller timed out neither fails nor leaks."""
    froms: list[otp.From] = []
    replied: list[float] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])

        async def late_replier() -> None:
            await trio.testing.wait_all_tasks_blocked()  # the server holds the from_
            await trio.sleep(6)
            otp.reply(froms[0], "late")  # must not raise
            replied.append(trio.current_time())

        nursery.start_soon(late_replier)
        with pytest.raises(otp.CallTimeout):
            await otp.call(pid, ("keep", froms))
        assert trio.current_time() == 5.0
        assert froms[0].caller is None
        await trio.sleep(2)
        assert replied == [6.0]
        # The same task's next call gets its own answer, not "late".
        assert await otp.call(pid, "ping") == "pong"
        assert trio.current_time() == 7.0
        await otp.stop(pid)


async def test_reply_from_another_task_answers_the_caller(autojump_clock):
    """A from_ handed to another task can be answered from there (NoReply, then reply)."""
    froms: list[otp.From] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])

        async def replier() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await trio.sleep(2)
            assert froms[0].caller is not None
            otp.reply(froms[0], "from elsewhere")

        nursery.start_soon(replier)
        assert await otp.call(pid, ("keep", froms)) == "from elsewhere"
        assert trio.current_time() == 2.0
        await otp.stop(pid)


async def test_reply_twice_drops_the_second_reply(autojump_clock):
    """Only the first reply to a from_ counts; a second one is dropped silently."""
    froms: list[otp.From] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])

        async def replier() -> None:
            await trio.testing.wait_all_tasks_blocked()
            otp.reply(froms[0], "first")
            otp.reply(froms[0], "second")

        nursery.start_soon(replier)
        assert await otp.call(pid, ("keep", froms)) == "first"
        assert await otp.call(pid, "ping") == "pong"
        await otp.stop(pid)


# --------------------------------------------------------------------------------------
# call: ordering
# --------------------------------------------------------------------------------------


async def test_calls_are_handled_one_at_a_time_in_order(autojump_clock):
    """A call made behind a 3 s call is answered after it, at 3 + 1 s."""
    done: list[tuple[str, float]] = []
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)

        async def caller(label: str, seconds: float) -> None:
            assert await otp.call(pid, ("sleep", seconds, label)) == label
            done.append((label, trio.current_time()))

        nursery.start_soon(caller, "first", 3)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "second", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == 0.0
        await trio.sleep(10)
        await otp.stop(pid)
    assert done == [("first", 3.0), ("second", 4.0)]
    assert record[:2] == [("call", ("sleep", 3, "first")), ("call", ("sleep", 1, "second"))]


async def test_calls_casts_and_messages_share_one_mailbox_in_order(autojump_clock):
    """cast, send and call from one task reach the server in the order they were sent."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        otp.cast(pid, "a")
        otp.send(pid, "b")
        otp.cast(pid, "c")
        assert await otp.call(pid, "d") == "d"
        await otp.stop(pid)
    assert record == [
        ("cast", "a"),
        ("info", "b"),
        ("cast", "c"),
        ("call", "d"),
        ("terminate", otp.NORMAL, 0.0),
    ]


# --------------------------------------------------------------------------------------
# call: no process
# --------------------------------------------------------------------------------------


async def test_call_unregistered_name_raises_no_process_at_once(autojump_clock):
    """Calling a name nobody holds fails at once with NoProcessError (OTP's noproc)."""
    with pytest.raises(otp.NoProcessError) as exc_info:
        await otp.call("nobody", "x")
    assert trio.current_time() == 0.0
    err = exc_info.value
    assert isinstance(err, otp.CallError)
    assert (err.server, err.request, err.timeout) == ("nobody", "x", 5.0)
    assert "'nobody'" in str(err)
    assert "'x'" in str(err)


async def test_call_unregistered_name_is_a_checkpoint():
    """Even a call that fails at once is a checkpoint (trio's rule for async functions)."""
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await otp.call("nobody", "x")


async def test_call_dead_pid_raises_no_process(autojump_clock):
    """Calling the handle of a server that has exited fails at once with NoProcessError."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        await otp.stop(pid)
    start = trio.current_time()
    with pytest.raises(otp.NoProcessError) as exc_info:
        await otp.call(pid, "x")
    assert trio.current_time() == start
    assert exc_info.value.server is pid
    assert exc_info.value.request == "x"


async def test_call_by_class_name_reaches_the_server(autojump_clock):
    """A class is a valid name (the seed registers JobQueue under its class)."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [], name=Scripted)
        assert await otp.call(Scripted, "ping") == "pong"
        assert otp.whereis(Scripted) is pid
        await otp.stop(Scripted)
    with pytest.raises(otp.NoProcessError, match=r"call\(Scripted, 'ping', 5\)"):
        await otp.call(Scripted, "ping")


# --------------------------------------------------------------------------------------
# call: the server exits during the call
# --------------------------------------------------------------------------------------


async def test_call_server_stops_during_call_raises_callee_exit_at_once(autojump_clock):
    """Stop("oops") from handle_call makes the caller fail at once with CalleeExit("oops")."""
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "oops")):
        async with trio.open_nursery() as nursery:
            await Scripted.start(nursery, [], name="slow")
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call("slow", ("stop", 1, "oops"))
            assert trio.current_time() == 1.0
    err = exc_info.value
    assert err.reason == "oops"
    assert (err.server, err.request, err.timeout) == ("slow", ("stop", 1, "oops"), 5.0)
    assert "'oops'" in str(err)


async def test_call_server_crash_raises_callee_exit_with_the_exception(autojump_clock):
    """A handle_call that raises makes the caller fail at once; reason and cause are the error."""
    bad = ValueError("bad")
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, check=lambda e: e is bad)):
        async with trio.open_nursery() as nursery:
            pid = await Scripted.start(nursery, [])
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call(pid, ("raise", 2, bad))
            assert trio.current_time() == 2.0
    assert exc_info.value.reason is bad
    assert exc_info.value.__cause__ is bad
    assert "ValueError" in str(exc_info.value)


async def test_call_server_stop_normal_without_reply_raises_callee_exit(autojump_clock):
    """Stop(NORMAL) without a reply: the caller fails with CalleeExit("normal"), nothing raised."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        with pytest.raises(otp.CalleeExit) as exc_info:
            await otp.call(pid, ("stop", 0, otp.NORMAL))
        assert trio.current_time() == 0.0
    assert exc_info.value.reason == otp.NORMAL
    assert exc_info.value.__cause__ is None
    assert pid.exit_reason == otp.NORMAL


async def test_call_stop_with_reply_returns_the_reply_then_stops(autojump_clock):
    """Stop(NORMAL, reply="bye"): the caller gets "bye", then the server is gone."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        assert await otp.call(pid, ("stop_reply", otp.NORMAL, "bye")) == "bye"
        assert await pid.wait_exited() == otp.NORMAL
    assert record == [
        ("call", ("stop_reply", otp.NORMAL, "bye")),
        ("terminate", otp.NORMAL, 0.0),
    ]


async def test_call_abnormal_stop_with_reply_still_returns_the_reply(autojump_clock):
    """Stop("boom", reply="bye"): the caller gets "bye"; the crash goes to the nursery."""
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Scripted.start(nursery, [])
            assert await otp.call(pid, ("stop_reply", "boom", "bye")) == "bye"
    assert pid.exit_reason == "boom"


async def test_queued_callers_fail_at_once_when_the_server_stops(autojump_clock):
    """Callers still queued behind the call that stops the server fail with its reason."""
    errors: list[tuple[str, object, float]] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])

        async def caller(request: Any) -> None:
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call(pid, request)
            errors.append((repr(request), exc_info.value.reason, trio.current_time()))

        nursery.start_soon(caller, ("stop", 2, otp.SHUTDOWN))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "ping")
        await trio.testing.wait_all_tasks_blocked()
    assert sorted(errors) == sorted(
        [
            (repr(("stop", 2, otp.SHUTDOWN)), otp.SHUTDOWN, 2.0),
            (repr("ping"), otp.SHUTDOWN, 2.0),
        ]
    )


async def test_call_self_raises_calling_self_error(autojump_clock):
    """A server calling itself fails with CallingSelfError instead of deadlocking."""
    bad: list[BaseException] = []

    class SelfCaller(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            try:
                await otp.call(self.pid, "ping")
            except otp.CallingSelfError as exc:
                bad.append(exc)
            return otp.Reply("survived", state)

    async with trio.open_nursery() as nursery:
        pid = await SelfCaller.start(nursery)
        assert await otp.call(pid, "go") == "survived"
        await otp.stop(pid)
    assert trio.current_time() == 0.0
    assert len(bad) == 1
    assert isinstance(bad[0], otp.CallError)
    assert bad[0].server is pid
    assert bad[0].request == "ping"


async def test_call_self_uncaught_crashes_the_server(autojump_clock):
    """An uncaught CallingSelfError crashes the server; its caller gets CalleeExit."""
    with pytest.RaisesGroup(otp.CallingSelfError):
        async with trio.open_nursery() as nursery:
            pid = await Scripted.start(nursery, [])
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.call(pid, "call_self")
    assert isinstance(exc_info.value.reason, otp.CallingSelfError)
    assert trio.current_time() == 0.0


# --------------------------------------------------------------------------------------
# cast
# --------------------------------------------------------------------------------------


async def test_cast_is_sync_and_never_blocks(autojump_clock):
    """cast returns None at once, without a checkpoint, even while the server is busy."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        nursery.start_soon(otp.call, pid, ("sleep", 3, "busy"))
        await trio.testing.wait_all_tasks_blocked()
        with trio.testing.assert_no_checkpoints():
            for i in range(100):
                assert otp.cast(pid, i) is None
        assert trio.current_time() == 0.0
        await otp.stop(pid)
    assert record[1:101] == [("cast", i) for i in range(100)]
    assert trio.current_time() == 3.0


async def test_cast_to_unknown_name_is_dropped_silently():
    """A cast to a name nobody holds is dropped without an error (OTP's cast)."""
    assert otp.cast("nobody", "x") is None


async def test_cast_to_dead_pid_is_dropped_silently(autojump_clock):
    """A cast to a server that has exited is dropped without an error."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        await otp.stop(pid)
    otp.cast(pid, "late")
    assert record == [("terminate", otp.NORMAL, 0.0)]


# --------------------------------------------------------------------------------------
# send
# --------------------------------------------------------------------------------------


async def test_send_reaches_handle_info(autojump_clock):
    """otp.send(pid, msg) delivers msg to handle_info, by handle or by name."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record, name="srv")
        with trio.testing.assert_no_checkpoints():
            otp.send(pid, "by pid")
            otp.send("srv", "by name")
        await otp.stop(pid)
    assert record == [
        ("info", "by pid"),
        ("info", "by name"),
        ("terminate", otp.NORMAL, 0.0),
    ]


async def test_send_to_unknown_name_raises_no_process():
    """otp.send to a name nobody holds raises NoProcessError (OTP raises badarg)."""
    with pytest.raises(otp.NoProcessError) as exc_info:
        otp.send("nobody", "x")
    assert exc_info.value.server == "nobody"


async def test_send_to_dead_pid_is_dropped_silently(autojump_clock):
    """otp.send to the handle of an exited process is dropped without an error."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        await otp.stop(pid)
    otp.send(pid, "late")
    assert record == [("terminate", otp.NORMAL, 0.0)]


# --------------------------------------------------------------------------------------
# stop
# --------------------------------------------------------------------------------------


async def test_stop_returns_after_terminate_ran_and_the_name_is_free(autojump_clock):
    """stop() returns once terminate has finished and the name can be taken again."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await SlowTerminate.start(nursery, record, name="srv")
        assert await otp.stop("srv") is None
        assert trio.current_time() == 10.0
        assert record == [("terminate", otp.NORMAL, 10.0)]
        assert not pid.alive
        assert pid.exit_reason == otp.NORMAL
        assert otp.whereis("srv") is None
        again = await SlowTerminate.start(nursery, [], name="srv")
        assert again is not pid
        await otp.stop(again)


async def test_stop_again_raises_no_process(autojump_clock):
    """A second stop() of the same server fails with NoProcessError naming the stop."""
    async with trio.open_nursery() as nursery:
        await Scripted.start(nursery, [], name="slow")
        await otp.stop("slow")
    with pytest.raises(otp.NoProcessError) as exc_info:
        await otp.stop("slow")
    assert trio.current_time() == 0.0
    err = exc_info.value
    assert err.server == "slow"
    assert err.operation == "stop"
    assert err.request == otp.NORMAL
    assert err.timeout is None
    assert str(err).startswith("stop('slow', 'normal', infinity)")


async def test_stop_dead_pid_raises_no_process(autojump_clock):
    """stop() of a handle whose process has exited fails with NoProcessError."""
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, [])
        await otp.stop(pid)
    with pytest.raises(otp.NoProcessError):
        await otp.stop(pid)


async def test_stop_is_queued_behind_earlier_messages(autojump_clock):
    """stop() waits for the messages already in the mailbox to be handled first."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        nursery.start_soon(otp.call, pid, ("sleep", 2, "first"))
        await trio.testing.wait_all_tasks_blocked()
        otp.cast(pid, "second")
        await otp.stop(pid)
        assert trio.current_time() == 2.0
    assert record == [
        ("call", ("sleep", 2, "first")),
        ("cast", "second"),
        ("terminate", otp.NORMAL, 2.0),
    ]


async def test_stop_with_a_reason_passes_it_to_terminate(autojump_clock):
    """stop(pid, Shutdown(x)) runs terminate with that reason, which is a normal exit."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Scripted.start(nursery, record)
        await otp.stop(pid, otp.Shutdown("bye"))
    assert record == [("terminate", otp.Shutdown("bye"), 0.0)]
    assert pid.exit_reason == otp.Shutdown("bye")


async def test_stop_with_an_abnormal_reason_returns_and_links_the_exit(autojump_clock):
    """stop(pid, "boom") returns normally; the server's abnormal exit reaches its nursery."""
    returned: list[float] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Scripted.start(nursery, [])
            assert await otp.stop(pid, "boom") is None
            returned.append(trio.current_time())
    assert returned == [0.0]
    assert pid.exit_reason == "boom"


async def test_stop_timeout_raises_call_timeout_and_the_server_goes_on(autojump_clock):
    """stop(pid, timeout=1) on a 10 s terminate fails with CallTimeout at 1 s."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await SlowTerminate.start(nursery, record)
        with pytest.raises(otp.CallTimeout) as exc_info:
            await otp.stop(pid, timeout=1)
        assert trio.current_time() == 1.0
        assert exc_info.value.timeout == 1
        assert pid.alive
        assert await pid.wait_exited() == otp.NORMAL
        assert trio.current_time() == 10.0


async def test_stop_when_terminate_crashes_raises_callee_exit(autojump_clock):
    """If terminate raises, stop() fails with CalleeExit carrying that error."""
    with pytest.RaisesGroup(RuntimeError):
        async with trio.open_nursery() as nursery:
            pid = await CrashingTerminate.start(nursery, [])
            with pytest.raises(otp.CalleeExit) as exc_info:
                await otp.stop(pid)
    assert isinstance(exc_info.value.reason, RuntimeError)
    assert exc_info.value.__cause__ is exc_info.value.reason
    assert pid.exit_reason is exc_info.value.reason


async def test_stop_self_raises_calling_self_error(autojump_clock):
    """A server stopping itself with otp.stop fails with CallingSelfError (return Stop)."""
    with pytest.RaisesGroup(otp.CallingSelfError):
        async with trio.open_nursery() as nursery:
            pid = await Scripted.start(nursery, [])
            with pytest.raises(otp.CalleeExit):
                await otp.call(pid, "stop_self")


async def test_send_to_unknown_name_says_send():
    """send() to a name nobody holds raises NoProcessError that names the send, not a call."""
    with pytest.raises(otp.NoProcessError) as exc_info:
        otp.send("nobody", "hello")
    assert exc_info.value.operation == "send"
    assert str(exc_info.value).startswith("send('nobody', 'hello'): no process")


# -- other threads and other runs (issue 13, defect 3) ----------------------------------


class Keeper(otp.GenServer[list[Any]]):
    """Replies to "get" with its casts so far; keeps the From of "hold" calls."""

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        if request == "hold":
            state.append(from_)
            return otp.NoReply(state)
        return otp.Reply([s for s in state if not isinstance(s, otp.From)], state)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        state.append(request)
        return otp.NoReply(state)

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        state.append(("info", message))
        return otp.NoReply(state)


def _in_thread(fn: Any, *args: Any) -> BaseException | None:
    try:
        fn(*args)
    except BaseException as exc:
        return exc
    return None


async def test_cast_from_a_worker_thread_is_refused_and_the_server_keeps_serving() -> None:
    """A cast from a worker thread raises at once, sends nothing, and leaves the server awake."""
    async with trio.open_nursery() as nursery:
        server = await Keeper.start(nursery, [])
        await trio.testing.wait_all_tasks_blocked()  # the server is parked
        for fn, args in [(otp.cast, (server, "x")), (otp.send, (server, "y"))]:
            error = await trio.to_thread.run_sync(_in_thread, fn, *args)
            assert isinstance(error, RuntimeError)
            assert "outside trio.run" in str(error)
            assert "trio.from_thread.run_sync" in str(error)
        assert await otp.call(server, "get", timeout=None) == []
        # The documented way works: hand the cast to trio's thread.
        await trio.to_thread.run_sync(trio.from_thread.run_sync, otp.cast, server, "z")
        assert await otp.call(server, "get", timeout=None) == ["z"]
        nursery.cancel_scope.cancel()


async def test_call_from_a_worker_thread_through_from_thread_run_gets_its_reply() -> None:
    """trio.from_thread.run(trio_otp.call, ...) in a worker thread returns the server's reply."""
    async with trio.open_nursery() as nursery:
        server = await Keeper.start(nursery, ["a"])
        got = await trio.to_thread.run_sync(trio.from_thread.run, otp.call, server, "get")
        assert got == ["a"]
        nursery.cancel_scope.cancel()


async def test_reply_from_a_worker_thread_is_refused_without_spending_the_from() -> None:
    """A refused reply from a thread leaves the From pending: a proper reply still arrives."""
    state: list[Any] = []  # shared with the server: it keeps held Froms here
    async with trio.open_nursery() as nursery:
        server = await Keeper.start(nursery, state)
        got: list[Any] = []

        async def caller() -> None:
            got.append(await otp.call(server, "hold", timeout=None))

        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        (slot,) = state
        error = await trio.to_thread.run_sync(_in_thread, otp.reply, slot, "wrong way")
        assert isinstance(error, RuntimeError)
        assert "trio.from_thread.run_sync(trio_otp.reply" in str(error)
        assert slot.caller is not None  # not spent
        await trio.to_thread.run_sync(trio.from_thread.run_sync, otp.reply, slot, "right way")
        await trio.testing.wait_all_tasks_blocked()
        assert got == ["right way"]
        nursery.cancel_scope.cancel()


async def test_messaging_from_another_trio_run_is_refused_and_names_trio_token() -> None:
    """cast/send/reply/call from a second trio.run raise before touching the first run's state."""
    state: list[Any] = []
    async with trio.open_nursery() as nursery:
        server = await Keeper.start(nursery, state)
        assert server is not None
        token = trio.lowlevel.current_trio_token()
        got: list[Any] = []

        async def caller() -> None:
            got.append(await otp.call(server, "hold"))

        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        (slot,) = state
        errors: list[BaseException | None] = []

        async def other_run() -> None:
            errors.append(_in_thread(otp.cast, server, "c"))
            errors.append(_in_thread(otp.send, server, "s"))
            errors.append(_in_thread(otp.reply, slot, "r"))
            try:
                await otp.call(server, "get")
            except RuntimeError as exc:
                errors.append(exc)
            # The documented way: hand it to the server's run through its token.
            token.run_sync_soon(otp.reply, slot, "via token")

        await trio.to_thread.run_sync(trio.run, other_run)
        assert len(errors) == 4
        for error in errors:
            assert isinstance(error, RuntimeError)
            assert "another trio.run" in str(error)
            assert "trio.lowlevel.current_trio_token()" in str(error)
        await trio.testing.wait_all_tasks_blocked()
        assert got == ["via token"]
        assert await otp.call(server, "get") == []  # nothing from the other run arrived
        nursery.cancel_scope.cancel()


async def test_reply_with_something_that_is_not_a_from_says_what_to_pass() -> None:
    """reply("not a From", 1) raises TypeError naming the From that handle_call received."""
    with pytest.raises(TypeError, match="needs the From that handle_call received"):
        otp.reply("not a From", 1)  # type: ignore[arg-type]


class _WhoCalls(otp.GenServer[None]):
    """Answers a call with the caller's pid; relays a call to another server."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        if request == "who":
            return otp.Reply(from_.pid, state)
        return otp.Reply(await otp.call(request, "who"), state)


async def test_from_pid_is_the_calling_process():
    """from_.pid is the calling GenServer's pid (OTP's {pid, tag}); None from plain code."""
    async with trio.open_nursery() as nursery:
        a = await _WhoCalls.start(nursery)
        b = await _WhoCalls.start(nursery)
        assert await otp.call(a, b) is a
        assert await otp.call(a, "who") is None
        await otp.stop(a)
        await otp.stop(b)


class _KeepsFrom(otp.GenServer[list[otp.From]]):
    """Keeps every From it is called with, without reading from_.pid."""

    async def handle_call(self, request: Any, from_: otp.From, kept: list[otp.From]) -> Any:
        kept.append(from_)
        return otp.Reply(None, kept)


async def test_from_pid_read_after_the_caller_exited_is_none_not_its_supervisor():
    """from_.pid first read after the call is over is None, never the caller's supervisor."""
    kept: list[otp.From] = []
    async with trio.open_nursery() as nursery:
        keeper = await _KeepsFrom.start(nursery, kept)
        tasks = await otp.DynamicSupervisor.start(nursery)

        async def caller() -> otp.Pid | None:
            await otp.call(keeper, "hi")
            return otp.current_process()

        task = await otp.Task.async_nolink(tasks, caller)
        me = await task.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert me is not None
        assert not me.alive
        assert kept[0].caller is None
        assert kept[0].pid is None
        await otp.DynamicSupervisor.stop(tasks)
        await otp.stop(keeper)


async def test_from_pid_read_while_pending_stays_the_caller_after_the_call():
    """from_.pid read while the call is pending keeps naming the caller after it is over."""
    seen: list[otp.Pid | None] = []

    class Reads(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            seen.append(from_.pid)
            otp.reply(from_, None)
            seen.append(from_.pid)
            return otp.NoReply(state)

    async with trio.open_nursery() as nursery:
        server = await Reads.start(nursery)
        relay = await _WhoCalls.start(nursery)
        await otp.call(relay, server)
        assert seen == [relay, relay]
        await otp.stop(server)
        await otp.stop(relay)
