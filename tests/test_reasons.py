"""Exit reasons (trio_otp/_core/_reasons.py)."""

from __future__ import annotations

import attrs
import pytest

import trio_otp as otp


@pytest.mark.parametrize(
    "reason", [otp.NORMAL, otp.SHUTDOWN, otp.Shutdown("x"), otp.Shutdown(None), "normal"]
)
def test_normal_exits(reason):
    """normal, shutdown and Shutdown(x) are normal exits, as in OTP."""
    assert otp.is_normal_exit(reason)


@pytest.mark.parametrize(
    "reason",
    [otp.KILLED, "boom", None, ValueError("normal"), ("shutdown", "x"), "Normal", 0],
)
def test_abnormal_exits(reason):
    """killed, exceptions and any other value are abnormal exits (crashes)."""
    assert not otp.is_normal_exit(reason)


def test_shutdown_is_a_frozen_value():
    """Shutdown(x) compares and hashes by its payload and cannot be changed."""
    assert otp.Shutdown("x") == otp.Shutdown("x")
    assert otp.Shutdown("x") != otp.Shutdown("y")
    assert hash(otp.Shutdown("x")) == hash(otp.Shutdown("x"))
    assert otp.Shutdown("x").payload == "x"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        otp.Shutdown("x").payload = "y"  # type: ignore[misc]
