"""Per-run state read in one step (trio_otp/_core/_runlocal.py) agrees with RunVar.get."""

from __future__ import annotations

import pytest
import trio
from trio.lowlevel import RunVar

import trio_otp as otp
from trio_otp._core import _process
from trio_otp._core._runlocal import RUN


async def test_this_trio_takes_the_one_step_path() -> None:
    # The instruction gate counts on it: a trio that moved its runner makes every
    # read fall back to RunVar.get (correct, slower) and this test says so.
    var: RunVar[int] = RunVar("trio_otp.test_runlocal")
    var.set(7)
    assert RUN.runner._locals[var] == var.get() == 7


async def test_reads_match_the_runvars() -> None:
    async with otp.mailbox(name="runlocal") as inbox:
        assert otp.whereis("runlocal") is inbox.pid
        assert _process.name_table() is _process._names.get()
        assert _process._table() is _process._by_task.get()
        assert otp.current_process() is inbox.pid


def test_outside_a_run_the_errors_are_the_runvars() -> None:
    with pytest.raises(RuntimeError, match=r"outside trio\.run"):
        otp.whereis("anything")
    with pytest.raises(RuntimeError, match="outside of a run context"):
        otp.current_process()


def test_a_new_run_starts_empty() -> None:
    async def register() -> None:
        async with otp.mailbox(name="first-run"):
            assert otp.whereis("first-run") is not None

    async def look() -> None:
        assert otp.whereis("first-run") is None
        assert otp.registered() == {}

    trio.run(register)
    trio.run(look)
