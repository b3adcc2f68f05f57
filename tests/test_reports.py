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
            case ("raise", exc) | ("raise", exc, _):
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


# ----------------------------------------------------------------------------------------
# Issue 8 and issue 13 defect 2: bounded, never-raising reports; format_status
# ----------------------------------------------------------------------------------------


class BadStr(Exception):
    """An exception whose ``__str__`` raises (a common bug in user code)."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


class Unreprable:
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


async def test_exception_with_failing_str_does_not_take_the_tree_down(autojump_clock, caplog):
    """Issue 13 defect 2: a child crashing with an exception whose __str__ raises is
    reported with a fixed text and restarted; its sibling and the supervisor live on."""
    async with otp.Supervisor.open(
        [Crashy.child_spec(0, id="bad"), Crashy.child_spec(0, id="sibling")]
    ) as sup:
        before = {c.id: c.pid for c in await otp.Supervisor.which_children(sup)}
        otp.cast(before["bad"], ("raise", BadStr()))
        await before["bad"].wait_exited()
        after = {c.id: c.pid for c in await otp.Supervisor.which_children(sup)}
        assert after["bad"] not in (before["bad"], None)
        assert after["sibling"] is before["sibling"]
        assert sup.alive
    (report,) = [r for r in caplog.records if r.name == "trio_otp.gen_server"]
    assert "** (BadStr) <BadStr: str() failed>" in report.getMessage()


async def test_crash_report_truncates_a_large_state_and_last_message(autojump_clock, crash_reports):
    """A 10,000-entry state and a huge message are cut to the documented bounds, so a
    secret deep in the state does not reach the log."""
    state = {f"key{i}": i for i in range(10_000)}
    state["zz_secret"] = "hunter2"
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, state)
            otp.cast(pid, ("raise", ValueError("x" * 100_000)))
    message = _only(crash_reports()).getMessage()
    assert "hunter2" not in message
    state_line = message.split("\nState: ")[1]
    assert state_line.startswith("{'key0': 0, 'key1': 1,")
    assert state_line.count(": ") == otp_max_items()
    assert len(message) < 3 * 2000 + 500


def otp_max_items() -> int:
    from trio_otp import _reports

    return _reports.MAX_ITEMS


async def test_format_status_decides_how_the_state_appears(autojump_clock, crash_reports):
    """A GenServer's format_status shapes its state in crash reports; if it raises, the
    report says so instead of failing."""

    class Secretive(Crashy):
        def format_status(self, state: Any) -> object:
            return {"count": state["count"], "token": "<redacted>"}

    class Broken(Crashy):
        def format_status(self, state: Any) -> object:
            raise KeyError("oops")

    for server, shown in [
        (Secretive, "State: {'count': 1, 'token': '<redacted>'}"),
        (Broken, "State: '<format_status raised KeyError>'"),
    ]:
        with pytest.RaisesGroup(ValueError):
            async with trio.open_nursery() as nursery:
                pid = await server.start(nursery, {"count": 1, "token": "s3cr3t"})
                otp.cast(pid, ("raise", ValueError("boom")))
        message = crash_reports()[-1].getMessage()
        assert shown in message
        assert "s3cr3t" not in message


async def test_unreprable_last_message_is_reported_with_a_fixed_text(autojump_clock, crash_reports):
    """A last message whose repr raises is printed as a fixed description."""
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            otp.cast(pid, ("raise", ValueError("boom"), Unreprable()))
    message = _only(crash_reports()).getMessage()
    assert "Last message: ('$gen_cast', ('raise', ValueError('boom'), <Unreprable instance at" in (
        message
    )
