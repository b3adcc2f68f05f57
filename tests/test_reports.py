"""Crash reports on stdlib logging (trio_otp/_reports.py).

OTP logs a ``GenServer X terminating`` report for abnormal exits only: normal,
shutdown and ``{:shutdown, x}`` exits are silent, and so is a kill.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

import trio_otp as otp


class Crashy(otp.GenServer[int]):
    """State is a counter; requests decide how the server ends."""

    async def handle_call(self, request: Any, from_: otp.From, state: int) -> Any:
        if request == "raise":
            raise ValueError("bad call")
        return otp.Reply(state, state)

    async def handle_cast(self, request: Any, state: int) -> Any:
        match request:
            case "inc":
                return otp.NoReply(state + 1)
            case ("stop", reason):
                return otp.Stop(reason, state)
            case ("raise", exc):
                raise exc
            case "bad":
                return "nonsense"
        raise AssertionError(request)  # pragma: no cover


class CrashingTerminate(Crashy):
    """terminate raises too."""

    async def terminate(self, reason: object, state: int) -> None:
        raise RuntimeError("terminate failed")


def _only(records: list[logging.LogRecord]) -> logging.LogRecord:
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.name == "trio_otp.gen_server"
    assert record.levelno == logging.ERROR
    return record


async def test_exception_crash_logs_one_error_report(autojump_clock, crash_reports):
    """A callback raising logs one ERROR report with reason, last message, state and exc_info."""
    bad = ValueError("bad cast")
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0, name="crashy")
            otp.cast(pid, "inc")
            otp.cast(pid, ("raise", bad))
    record = _only(crash_reports())
    message = record.getMessage()
    assert "terminating" in message
    assert "crashy" in message
    assert "ValueError" in message
    assert "bad cast" in message
    assert "Last message" in message
    assert "raise" in message
    assert "State: 1" in message
    assert record.exc_info is not None
    assert record.exc_info[1] is bad
    assert record.otp_pid is pid
    assert record.otp_reason is bad


async def test_abnormal_stop_logs_one_report_without_exc_info(autojump_clock, crash_reports):
    """Stop("boom") logs one report naming the reason 'boom', with no exc_info."""
    with pytest.RaisesGroup(otp.ProcessExit):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 5)
            otp.cast(pid, ("stop", "boom"))
    record = _only(crash_reports())
    message = record.getMessage()
    assert "terminating" in message
    assert "'boom'" in message
    assert "Last message" in message
    assert "State: 5" in message
    assert repr(pid) in message
    assert not record.exc_info
    assert record.otp_pid is pid
    assert record.otp_reason == "boom"


async def test_otp_stop_with_abnormal_reason_logs_one_report(autojump_clock, crash_reports):
    """otp.stop(pid, "boom") is a crash too: one report with reason 'boom'."""
    with pytest.RaisesGroup(otp.ProcessExit):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            await otp.stop(pid, "boom")
    record = _only(crash_reports())
    assert "'boom'" in record.getMessage()
    assert record.otp_reason == "boom"


async def test_crash_in_handle_call_report_names_the_call(autojump_clock, crash_reports):
    """A crash while handling a call reports the request as the last message."""
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            with pytest.raises(otp.CalleeExit):
                await otp.call(pid, "raise")
    message = _only(crash_reports()).getMessage()
    assert "Last message" in message
    assert "'raise'" in message
    assert "bad call" in message


async def test_bad_return_value_logs_one_report(autojump_clock, crash_reports):
    """A bad return value is a crash with BadReturnValue as the reason, logged once."""
    with pytest.RaisesGroup(otp.BadReturnValue):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            otp.cast(pid, "bad")
    record = _only(crash_reports())
    assert isinstance(record.otp_reason, otp.BadReturnValue)
    assert "nonsense" in record.getMessage()
    assert record.exc_info[1] is record.otp_reason
    assert record.otp_pid is pid


async def test_terminate_crash_after_a_crash_still_logs_once(autojump_clock, crash_reports):
    """A crash whose terminate also raises gives one report, with the terminate error."""
    with pytest.RaisesGroup(RuntimeError):
        async with trio.open_nursery() as nursery:
            pid = await CrashingTerminate.start(nursery, 0)
            otp.cast(pid, ("raise", ValueError("first")))
    record = _only(crash_reports())
    assert isinstance(record.otp_reason, RuntimeError)
    assert "terminate failed" in record.getMessage()


@pytest.mark.parametrize("reason", [otp.NORMAL, otp.SHUTDOWN, otp.Shutdown("done")])
async def test_normal_exits_via_stop_result_log_nothing(reason, autojump_clock, crash_reports):
    """Stop(normal | shutdown | Shutdown(x)) logs nothing at any level."""
    async with trio.open_nursery() as nursery:
        pid = await Crashy.start(nursery, 0)
        otp.cast(pid, ("stop", reason))
    assert pid.exit_reason == reason
    assert crash_reports() == []


@pytest.mark.parametrize("reason", [otp.NORMAL, otp.SHUTDOWN, otp.Shutdown("done")])
async def test_normal_exits_via_otp_stop_log_nothing(reason, autojump_clock, crash_reports):
    """otp.stop(pid, normal | shutdown | Shutdown(x)) logs nothing at any level."""
    async with trio.open_nursery() as nursery:
        pid = await Crashy.start(nursery, 0)
        await otp.stop(pid, reason)
    assert crash_reports() == []


async def test_killed_server_logs_nothing(autojump_clock, crash_reports):
    """A server cancelled by its nursery (killed) logs no crash report."""
    async with trio.open_nursery() as nursery:
        pid = await Crashy.start(nursery, 0)
        nursery.cancel_scope.cancel()
    assert pid.exit_reason == otp.KILLED
    assert crash_reports() == []


async def test_start_errors_are_not_logged_as_crashes(autojump_clock, crash_reports):
    """A failed start is reported to the starter by StartError, not as a running crash."""

    class BadInit(otp.GenServer[None]):
        async def init(self, arg: Any) -> Any:
            if arg == "raise":
                raise ValueError("no")
            return otp.Stop("bad_init")

    async with trio.open_nursery() as nursery:
        for how in ("raise", "stop"):
            with pytest.raises(otp.StartError):
                await BadInit.start(nursery, how)
    assert [r for r in crash_reports() if "terminating" in r.getMessage()] == []
