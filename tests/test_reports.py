"""Crash reports on stdlib logging (trio_otp/_core/_reports.py).

OTP logs a ``GenServer X terminating`` report for abnormal exits only: normal,
shutdown and ``{:shutdown, x}`` exits are silent, and so is a kill.
"""

from __future__ import annotations

import logging
import signal
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
    from trio_otp._core import _reports

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
        (Secretive, "State: {'count': 1, 'token': [masked]}"),
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


# ----------------------------------------------------------------------------------------
# Issue 12: structured fields on every record (otp_event, otp_pid, otp_reason, ...)
# ----------------------------------------------------------------------------------------


def _fields(record: logging.LogRecord, *names: str) -> dict[str, Any]:
    """The record's ``otp_*`` attributes named, plus the three every record carries."""
    return {name: getattr(record, name) for name in ("otp_event", "otp_pid", "otp_reason", *names)}


def _trio_otp_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("trio_otp")]


async def test_gen_server_crash_record_has_its_fields(autojump_clock, crash_reports):
    """A GenServer crash report carries otp_event 'gen_server_terminating', the pid,
    the reason and the state."""
    bad = ValueError("bad cast")
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 3)
            otp.cast(pid, ("raise", bad))
    record = _only(crash_reports())
    assert _fields(record, "otp_state") == {
        "otp_event": "gen_server_terminating",
        "otp_pid": pid,
        "otp_reason": bad,
        "otp_state": "3",
    }


async def test_unexpected_message_record_has_its_fields(autojump_clock, crash_reports):
    """The default handle_info's record carries otp_event 'unexpected_message', the pid
    and the message, with no reason."""
    async with trio.open_nursery() as nursery:
        pid = await Crashy.start(nursery, 0)
        otp.send(pid, "stray")
        await otp.stop(pid)
    record = _only(crash_reports())
    assert record.getMessage().endswith("received unexpected message in handle_info: 'stray'")
    assert _fields(record, "otp_message") == {
        "otp_event": "unexpected_message",
        "otp_pid": pid,
        "otp_reason": None,
        "otp_message": "'stray'",
    }


async def test_task_crash_record_has_its_fields(autojump_clock, caplog):
    """A Task crash report carries otp_event 'task_terminating', the pid and the reason."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    bad = KeyError("gone")

    def fail() -> None:
        raise bad

    with pytest.RaisesGroup(KeyError):
        async with trio.open_nursery() as nursery:
            pid = await otp.Task.start(nursery, fail)
    (record,) = _trio_otp_records(caplog)
    assert record.name == "trio_otp.task"
    assert record.getMessage().startswith(f"Task {pid!r} started from")
    assert _fields(record) == {"otp_event": "task_terminating", "otp_pid": pid, "otp_reason": bad}


def _supervisor_fields(record: logging.LogRecord) -> dict[str, Any]:
    return _fields(record, "otp_supervisor", "otp_child_id", "otp_severity")


async def test_progress_reports_have_their_fields(autojump_clock, caplog):
    """'started' and 'terminated' reports carry their event, the child's pid and id, the
    supervisor and the reason (None when started)."""
    caplog.set_level(logging.INFO, logger="trio_otp")
    bad = ValueError("boom")
    async with otp.Supervisor.open([Crashy.child_spec(0, id="c")], name="sup") as sup:
        [first] = await otp.Supervisor.which_children(sup)
        otp.cast(first.pid, ("raise", bad))
        await first.pid.wait_exited()
        [second] = await otp.Supervisor.which_children(sup)
    reports = [r for r in caplog.records if r.name == "trio_otp.supervisor"]
    assert [_supervisor_fields(r) for r in reports] == [
        {
            "otp_event": event,
            "otp_pid": pid,
            "otp_reason": reason,
            "otp_supervisor": sup,
            "otp_child_id": "c",
            "otp_severity": severity,
        }
        for event, pid, reason, severity in [
            ("child_started", first.pid, None, "info"),
            ("child_terminated", first.pid, bad, "error"),
            ("child_started", second.pid, None, "info"),
        ]
    ]
    assert reports[1].getMessage().startswith("Child 'c' of Supervisor sup terminated\n")


async def test_start_error_and_give_up_reports_have_their_fields(autojump_clock, caplog):
    """A restart whose start fails logs 'start_error' with the start's reason; giving up
    logs 'reached_max_restart_intensity'; both name the supervisor and the child."""
    starts = 0

    class FailsAfterFirst(Crashy):
        async def init(self, arg: Any) -> Any:
            nonlocal starts
            starts += 1
            return otp.Ok(arg) if starts == 1 else otp.Stop("no_more")

    with pytest.RaisesGroup(otp.RestartIntensityError):
        async with otp.Supervisor.open([FailsAfterFirst.child_spec(0, id="f")]) as sup:
            [child] = await otp.Supervisor.which_children(sup)
            otp.cast(child.pid, ("stop", "crash"))
            await sup.wait_exited()
    reports = [
        _supervisor_fields(r)
        for r in caplog.records
        if r.name == "trio_otp.supervisor" and r.levelno >= logging.WARNING
    ]
    start_error = {
        "otp_event": "start_error",
        "otp_pid": None,
        "otp_reason": "no_more",
        "otp_supervisor": sup,
        "otp_child_id": "f",
        "otp_severity": "error",
    }
    gave_up = "reached_max_restart_intensity"
    assert reports == [start_error] * 3 + [
        start_error | {"otp_event": gave_up, "otp_reason": gave_up}
    ]


async def test_shutdown_error_report_has_its_fields(autojump_clock, caplog):
    """A child killed after its shutdown budget logs 'shutdown_error' with reason 'killed'."""

    class Stubborn(Crashy):
        async def terminate(self, reason: object, state: int) -> None:
            await trio.sleep_forever()

    async with otp.Supervisor.open([Stubborn.child_spec(0, id="s", shutdown=1)]) as sup:
        [child] = await otp.Supervisor.which_children(sup)
    assert trio.current_time() == 1.0
    (record,) = [r for r in caplog.records if r.name == "trio_otp.supervisor"]
    assert record.levelno == logging.WARNING
    assert _supervisor_fields(record) == {
        "otp_event": "shutdown_error",
        "otp_pid": child.pid,
        "otp_reason": "killed",
        "otp_supervisor": sup,
        "otp_child_id": "s",
        "otp_severity": "error",
    }


class Refuses(otp.GenServer[None]):
    async def init(self, arg: Any) -> otp.Stop[None]:
        return otp.Stop("no")


async def _stop_top_after(seconds: float) -> None:
    await trio.sleep(seconds)
    me = otp.current_process()
    assert me is not None
    assert me.parent is not None
    await otp.stop(me.parent)


def _crash_now() -> None:
    raise RuntimeError("top crash")


async def test_application_records_have_their_fields(autojump_clock, caplog):
    """run_application's records carry 'application_start_failed', '..._crashed' and
    '..._stopped' with the top supervisor's pid (None if it never started) and reason."""
    caplog.set_level(logging.INFO, logger="trio_otp.application")
    assert await otp.run_application([Refuses], signals=()) == 1
    crasher = otp.Task.child_spec(_crash_now).replace(restart=otp.Restart.PERMANENT)
    assert await otp.run_application([crasher], max_restarts=0, signals=()) == 1
    assert await otp.run_application([otp.Task.child_spec(_stop_top_after, 1)], signals=()) == 0
    failed, crashed, stopped = [r for r in caplog.records if r.name == "trio_otp.application"]
    assert failed.otp_event == "application_start_failed"
    assert failed.otp_pid is None
    assert isinstance(failed.otp_reason, otp.ChildStartError)
    assert crashed.otp_event == "application_crashed"
    assert isinstance(crashed.otp_pid, otp.Pid)
    assert isinstance(crashed.otp_reason, otp.RestartIntensityError)
    assert crashed.otp_pid.exit_reason == "shutdown"
    assert _fields(stopped) == {
        "otp_event": "application_stopped",
        "otp_pid": stopped.otp_pid,
        "otp_reason": "normal",
    }
    assert stopped.otp_pid.exit_reason == "normal"


class Hangs(otp.GenServer[None]):
    async def terminate(self, reason: object, state: None) -> None:
        await trio.sleep_forever()


async def _signal_twice() -> None:
    for _ in range(2):
        await trio.sleep(1)
        signal.raise_signal(signal.SIGUSR1)
    await trio.sleep_forever()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
async def test_application_signal_records_have_their_fields(autojump_clock, caplog):
    """The first signal logs 'application_stopping', the second 'application_forced_stop',
    each with the top supervisor's pid and the signal number."""
    caplog.set_level(logging.INFO, logger="trio_otp.application")
    children = [(otp.Task, _signal_twice), Hangs.child_spec(None, shutdown=otp.INFINITY)]
    status = await otp.run_application(children, signals=[signal.SIGUSR1])
    assert status == 128 + signal.SIGUSR1
    stopping, forced = [r for r in caplog.records if r.name == "trio_otp.application"]
    assert _fields(stopping, "otp_signal") == {
        "otp_event": "application_stopping",
        "otp_pid": stopping.otp_pid,
        "otp_reason": None,
        "otp_signal": signal.SIGUSR1,
    }
    assert _fields(forced, "otp_signal") == {
        "otp_event": "application_forced_stop",
        "otp_pid": stopping.otp_pid,
        "otp_reason": None,
        "otp_signal": signal.SIGUSR1,
    }
    assert isinstance(stopping.otp_pid, otp.Pid)


# ----------------------------------------------------------------------------------------
# Issue 21: every report bounded (text and extra fields) and redactable
# ----------------------------------------------------------------------------------------

_BOUND = 3 * 2000 + 500  # a report's three terms at their cut, plus its fixed text


def _formatted(record: logging.LogRecord) -> str:
    """The record as a handler prints it (message and traceback)."""
    return logging.Formatter("%(message)s").format(record)


@pytest.fixture
def restore_secret_keys():
    from trio_otp._core import _reports

    saved = _reports._secret_keys
    yield
    _reports._secret_keys = saved
    _reports._secret_cache.clear()


async def test_unexpected_message_report_is_bounded(autojump_clock, crash_reports):
    """A 10,000-entry stray message: one line within the cut, and otp_message too."""
    async with trio.open_nursery() as nursery:
        pid = await Crashy.start(nursery, 0)
        otp.send(pid, {f"k{i}": "v" * 50 for i in range(10_000)})
        await otp.stop(pid)
    record = _only(crash_reports())
    assert len(_formatted(record)) < 2000 + 200
    assert len(record.otp_message) <= 2000 + 40  # type: ignore[attr-defined]


async def test_a_traceback_does_not_repeat_an_exception_text_past_the_cut(
    autojump_clock, crash_reports
):
    """The traceback's last line (the exception's text) is cut as the reason line is."""
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            otp.cast(pid, ("raise", ValueError("x" * 100_000)))
    record = _only(crash_reports())
    text = _formatted(record)
    assert "Traceback (most recent call last)" in text
    assert len(text) < _BOUND + 2000
    assert isinstance(record.exc_info[1], ValueError)  # type: ignore[index]  # still there


async def test_every_crash_report_field_is_bounded(autojump_clock, crash_reports):
    """otp_state and otp_message are the bounded text the report shows, not the objects."""
    state = {f"key{i}": list(range(100)) for i in range(10_000)}
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, state)
            otp.cast(pid, ("raise", ValueError("boom"), "m" * 100_000))
    record = _only(crash_reports())
    assert isinstance(record.otp_state, str)  # type: ignore[attr-defined]
    assert len(record.otp_state) <= 2040  # type: ignore[attr-defined]
    assert len(record.otp_message) <= 2040  # type: ignore[attr-defined]
    assert len(_formatted(record)) < _BOUND + 2000


async def test_a_secret_key_that_sorts_first_is_masked_by_default(autojump_clock, crash_reports):
    """Values of keys named like secrets are masked in state and message, at any depth."""
    state = {"a_password": "hunter2", "db": {"API-Key": "k-123", "host": "h"}, "n": 1}
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, state)
            otp.cast(pid, ("raise", ValueError("boom"), {"Authorization": "Bearer xyz"}))
    text = _formatted(_only(crash_reports()))
    for secret in ("hunter2", "k-123", "Bearer xyz"):
        assert secret not in text
    assert "'a_password': [masked]" in text
    assert "'host': 'h'" in text


async def test_add_secret_keys_extends_the_default_mask(
    autojump_clock, crash_reports, restore_secret_keys
):
    """add_secret_keys adds names; the defaults stay; a bad name is refused clearly."""
    otp.add_secret_keys("pin")
    assert set(otp.DEFAULT_SECRET_KEYS) < set(otp.secret_keys())
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, {"user_PIN": 1234, "token": "t0k"})
            otp.cast(pid, ("raise", ValueError("boom")))
    text = _formatted(_only(crash_reports()))
    assert "1234" not in text
    assert "t0k" not in text
    with pytest.raises(TypeError, match="non-empty str"):
        otp.add_secret_keys("")


async def test_format_report_redacts_state_message_and_reason(autojump_clock, crash_reports):
    """format_report (OTP 25's format_status/1) replaces what the report shows."""

    class Private(Crashy):
        def format_report(self, status: otp.Status) -> otp.Status:
            return otp.Status(state="<state>", message="<message>", reason="<reason>")

    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Private.start(nursery, {"card": "4111"})
            otp.cast(pid, ("raise", ValueError("card 4111 declined"), "4111"))
    record = _only(crash_reports())
    text = _formatted(record)
    assert "4111" not in text  # nor in the traceback: a replaced reason prints none
    assert "Last message: '<message>'" in text
    assert "State: '<state>'" in text
    assert record.otp_reason == "<reason>"  # type: ignore[attr-defined]


async def test_format_start_args_redacts_a_childs_start_arguments(autojump_clock, caplog):
    """The start call of start-error and give-up reports goes through the class's
    format_start_args; secret-named keys are masked in it by default."""
    starts = 0

    class Connects(Crashy):
        @classmethod
        def format_start_args(cls, args: tuple[Any, ...]) -> tuple[Any, ...]:
            return ("<dsn>",)

        async def init(self, arg: Any) -> Any:
            nonlocal starts
            starts += 1
            return otp.Ok(0) if starts == 1 else otp.Stop("no_more")

    class Plain(Connects):
        @classmethod
        def format_start_args(cls, args: tuple[Any, ...]) -> tuple[Any, ...]:
            return args

    for server, arg in [
        (Connects, "postgres://u:pw@h/db"),
        (Plain, {"password": "pw", "host": "h"}),
    ]:
        starts = 0
        caplog.clear()
        with pytest.RaisesGroup(otp.RestartIntensityError):
            async with otp.Supervisor.open([server.child_spec(arg, id="c")]) as sup:
                [child] = await otp.Supervisor.which_children(sup)
                otp.cast(child.pid, ("stop", "crash"))
                await sup.wait_exited()
        texts = [
            r.getMessage()
            for r in caplog.records
            if r.name == "trio_otp.supervisor" and r.levelno >= logging.ERROR
        ]
        assert texts
        assert all("Start Call: " in t and "pw" not in t for t in texts), texts


# ----------------------------------------------------------------------------------------
# Issue 21: a group of one is reported as its exception
# ----------------------------------------------------------------------------------------


async def _raise_in_a_nursery(exc: BaseException) -> None:
    async def child() -> None:
        raise exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(child)


async def test_a_group_of_one_is_reported_as_its_exception(autojump_clock, caplog):
    """A Task whose nursery raised one exception: the report names that exception
    (not '(ExceptionGroup) ... 1 sub-exception'), notes the group, and prints its
    traceback."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    with pytest.RaisesGroup(pytest.RaisesGroup(trio.ClosedResourceError)):
        async with trio.open_nursery() as nursery:
            await otp.Task.start(nursery, _raise_in_a_nursery, trio.ClosedResourceError("gone"))
    (record,) = _trio_otp_records(caplog)
    text = _formatted(record)
    assert "** (ClosedResourceError) gone (raised in ExceptionGroup of one)" in text
    assert "sub-exception" not in text
    assert text.rstrip().endswith("trio.ClosedResourceError: gone")
    assert isinstance(record.otp_reason, ExceptionGroup)  # type: ignore[attr-defined]


async def test_a_gen_server_crash_in_a_nested_group_of_one_names_the_real_error(
    autojump_clock, crash_reports
):
    """Two groups of one deep: the real exception is named, the depth noted; a group
    of two stays a group."""

    class Nested(Crashy):
        async def handle_cast(self, request: Any, state: int) -> Any:
            if request == "two":
                raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])
            await _raise_in_a_nursery(ExceptionGroup("inner", [ValueError("deep")]))
            return otp.NoReply(state)  # pragma: no cover

    for request, headline in [
        ("one", "** (ValueError) deep (raised in ExceptionGroup of one, 2 deep)"),
        ("two", "** (ExceptionGroup) two (2 sub-exceptions)"),
    ]:
        try:
            async with trio.open_nursery() as nursery:
                pid = await Nested.start(nursery, 0)
                otp.cast(pid, request)
        except ExceptionGroup:
            pass
        else:  # pragma: no cover
            raise AssertionError("the server did not crash")
        assert headline in crash_reports()[-1].getMessage()


# ----------------------------------------------------------------------------------------
# Issue 21: routine start-up is one short INFO line per event, naming no private names
# ----------------------------------------------------------------------------------------

_PRIVATE = ("_QueueServer", "_serve_new", "_QueueSupervisor", "(starting)", "<locals>")


async def test_routine_start_up_is_one_short_info_line_per_event(autojump_clock, caplog):
    """Starting a job queue under a supervisor logs one line per child started, at
    INFO, each short, naming ids and names, never private classes or a queue's repr."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    async with otp.Supervisor.open([otp.JobQueue.child_spec(name="jobs")]) as sup:
        tree = await otp.render_tree(sup)
    records = _trio_otp_records(caplog)
    started = [r for r in records if getattr(r, "otp_event", None) == "child_started"]
    assert len(started) == 3  # the queue, its job supervisor, its server
    for record in started:
        text = record.getMessage()
        assert record.levelno == logging.INFO
        assert "\n" not in text, text
        assert len(text) < 120, text
        assert not any(p in text for p in _PRIVATE), text
    assert not any(p in tree for p in _PRIVATE), tree
    assert [line.split(" <Pid")[0] for line in tree.splitlines()] == [
        "Supervisor",
        "└── jobs",
        "    ├── jobs.jobs",
        "    └── server",
    ]


async def test_crash_reports_name_the_users_class_and_function(autojump_clock, caplog):
    """A crashed unnamed server is named by its class, a Task stopped mid-shutdown by
    its function; nothing private appears in the supervisor's reports."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Crashy.start(nursery, 0)
            otp.cast(pid, ("raise", ValueError("boom")))
    message = _trio_otp_records(caplog)[-1].getMessage()
    assert message.startswith(f"GenServer Crashy {pid!r} terminating")
