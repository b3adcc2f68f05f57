"""Issue 21, point 4: ``demonitor(ref)`` by a process that does not own the monitor.

OTP (monitor_SUITE): only the monitoring process can remove its monitor; a
demonitor of someone else's reference is a no-op, so the owner still gets its
``DOWN``.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp.testing import assert_receive, refute_receive


class Idle(otp.GenServer[None]):
    pass


class Meddler(otp.GenServer[None]):
    """Calls demonitor on a reference it is handed."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.Reply[None]:
        ref, flush = request
        return otp.Reply(otp.demonitor(ref, flush=flush), state)


async def test_demonitor_by_another_process_is_a_no_op():
    async with trio.open_nursery() as nursery, otp.mailbox():
        target = await Idle.start(nursery)
        meddler = await Meddler.start(nursery)
        ref = otp.monitor(target)
        assert await otp.call(meddler, (ref, False)) is False
        assert await otp.call(meddler, (ref, True)) is False
        await otp.stop(target, otp.Shutdown("bye"))
        await assert_receive(otp.Down(ref, target, otp.Shutdown("bye")))
        await otp.stop(meddler)


async def test_demonitor_flush_by_another_process_keeps_a_queued_down():
    async with trio.open_nursery() as nursery, otp.mailbox():
        target = await Idle.start(nursery)
        meddler = await Meddler.start(nursery)
        ref = otp.monitor(target)
        await otp.stop(target)
        assert await otp.call(meddler, (ref, True)) is False  # the Down is queued
        await assert_receive(otp.Down(ref, target, otp.NORMAL))
        await otp.stop(meddler)


async def test_demonitor_from_plain_trio_code_is_a_no_op():
    refs: list[otp.Ref] = []
    async with trio.open_nursery() as nursery:
        target = await Idle.start(nursery)

        async def owner(task_status: trio.TaskStatus[None]) -> None:
            async with otp.mailbox():
                refs.append(otp.monitor(target))
                task_status.started()
                await assert_receive(otp.Down(refs[0], target, otp.NORMAL))

        await nursery.start(owner)
        assert otp.demonitor(refs[0], flush=True) is False  # not a process at all
        await otp.stop(target)


async def test_the_owner_can_still_demonitor():
    async with trio.open_nursery() as nursery, otp.mailbox():
        target = await Idle.start(nursery)
        ref = otp.monitor(target)
        assert otp.demonitor(ref) is True
        assert otp.demonitor(ref) is False
        await otp.stop(target)
        await trio.testing.wait_all_tasks_blocked()
        await refute_receive(otp.Down, timeout=0)
