"""The runtime's message records: fields, equality, hashing, reprs, immutability, match."""

from __future__ import annotations

import pytest

import trio_otp as otp
from trio_otp._core._messages import new_record


def test_fields_by_name_and_position_and_repr() -> None:
    down = otp.Down("ref", "pid", otp.NORMAL)
    assert (down.ref, down.pid, down.reason) == ("ref", "pid", otp.NORMAL)
    assert repr(down) == "Down(ref='ref', pid='pid', reason='normal')"
    assert repr(otp.Exit(None, "x")) == "Exit(pid=None, reason='x')"
    assert repr(otp.TaskReply("r", 1)) == "TaskReply(ref='r', result=1)"
    assert otp.Down(ref="r", pid="p", reason="x") == otp.Down("r", "p", "x")


def test_equal_only_to_the_same_record() -> None:
    assert otp.Down(1, 2, 3) == otp.Down(1, 2, 3)
    assert otp.Down(1, 2, 3) != otp.Down(1, 2, 4)
    # Never a plain tuple, nor another record with the same fields.
    assert otp.Down(1, 2, 3) != (1, 2, 3)
    assert not otp.Down(1, 2, 3) == (1, 2, 3)  # noqa: SIM201
    assert (1, 2, 3) != otp.Down(1, 2, 3)  # noqa: SIM300 (the reflected side)
    assert otp.Exit(1, 2) != otp.TaskReply(1, 2)
    assert hash(otp.Exit(1, 2)) == hash(otp.Exit(1, 2))
    assert {otp.TaskReply("r", 1): "x"}[otp.TaskReply("r", 1)] == "x"


def test_immutable() -> None:
    down = otp.Down(1, 2, 3)
    with pytest.raises(AttributeError):
        down.reason = "other"  # type: ignore[misc]


def test_the_runtime_builds_the_same_records() -> None:
    built = new_record(otp.Down, ("r", "p", "x"))
    assert type(built) is otp.Down
    assert built == otp.Down("r", "p", "x")
    match built:
        case otp.Down(ref="r", reason=reason):
            assert reason == "x"
        case _:  # pragma: no cover
            pytest.fail("no match")
    match otp.Exit("p", "why"):
        case otp.Exit(pid, why):
            assert (pid, why) == ("p", "why")
