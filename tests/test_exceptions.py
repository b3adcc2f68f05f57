"""The exception hierarchy (trio_otp/_core/_exceptions.py)."""

from __future__ import annotations

import pytest

import trio_otp as otp

CALL_ERRORS = [otp.CallTimeout, otp.NoProcessError, otp.CalleeExit, otp.CallingSelfError]


def test_every_error_is_an_otp_error_and_an_exception():
    """All library errors derive from OTPError, an Exception: never a bare BaseException."""
    for cls in [
        *CALL_ERRORS,
        otp.CallError,
        otp.ProcessExit,
        otp.BadReturnValue,
        otp.StartError,
        otp.AlreadyStartedError,
        otp.ChildStartError,
        otp.ChildSpecError,
        otp.SupervisorError,
        otp.AlreadyPresentError,
        otp.ChildRunningError,
        otp.ChildNotFoundError,
        otp.MaxChildrenError,
        otp.RestartIntensityError,
        otp.TaskExit,
    ]:
        assert issubclass(cls, otp.OTPError), cls
    assert issubclass(otp.OTPError, Exception)


def test_hierarchy_groups_errors_by_operation():
    """Call errors share CallError; start errors share StartError; supervisor errors theirs."""
    for cls in CALL_ERRORS:
        assert issubclass(cls, otp.CallError)
    assert issubclass(otp.AlreadyStartedError, otp.StartError)
    assert issubclass(otp.ChildStartError, otp.StartError)
    for cls in [
        otp.AlreadyPresentError,
        otp.ChildRunningError,
        otp.ChildNotFoundError,
        otp.MaxChildrenError,
    ]:
        assert issubclass(cls, otp.SupervisorError)
    assert issubclass(otp.ChildSpecError, ValueError)
    assert issubclass(otp.ChildNotFoundError, LookupError)


@pytest.mark.parametrize(("timeout", "shown"), [(5.0, "5"), (0.1, "0.1"), (1, "1")])
def test_call_timeout_message_reads_like_otp(timeout, shown):
    """CallTimeout's message is call(server, request, timeout) plus what happened."""
    err = otp.CallTimeout("slow", ("sleep", 6), timeout)
    assert str(err).startswith(f"call('slow', ('sleep', 6), {shown}): ")
    assert "timed out" in str(err)


def test_no_deadline_shows_as_infinity():
    """A call without a deadline prints its timeout as infinity, like OTP's :infinity."""
    no_deadline = otp.NoProcessError("nobody", "x", None)
    assert str(no_deadline).startswith("call('nobody', 'x', infinity)")


class JobQueue:
    """Stands in for a server class used as its own name."""


def test_call_error_names_a_class_by_its_name():
    """A class used as a name prints as its name, not as <class ...>."""
    assert str(otp.NoProcessError(JobQueue, "x", 5.0)).startswith("call(JobQueue, 'x', 5)")


def test_callee_exit_message_formats_the_reason():
    """CalleeExit says the server exited and with which reason (an exception by type)."""
    assert "'oops'" in str(otp.CalleeExit("s", "x", 5.0, "oops"))
    message = str(otp.CalleeExit("s", "x", 5.0, ValueError("bad")))
    assert "ValueError" in message
    assert "bad" in message


def test_start_error_messages_carry_the_reason():
    """StartError and AlreadyStartedError say why the start failed."""
    assert "bad_init" in str(otp.StartError("bad_init"))
    err = otp.AlreadyStartedError("dup", "<holder>")
    assert (err.name, err.holder) == ("dup", "<holder>")
    assert "'dup'" in str(err)
    assert "<holder>" in str(err)
