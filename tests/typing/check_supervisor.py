"""Supervisors: Pid from start, string literals for choices, ChildInfo.pid."""

# pyright: reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import Literal, assert_type

import trio

import trio_otp as otp


async def users(nursery: trio.Nursery) -> None:
    # A supervisor's start cannot give None: its handle is a Pid.
    sup = await otp.Supervisor.start(nursery, [], strategy="one_for_all")
    assert_type(sup, otp.Pid)
    ds = await otp.DynamicSupervisor.start(nursery, name="jobs")
    assert_type(ds, otp.Pid)

    # Strategies and restart types: the enum or its string literal; a typo is an error.
    await otp.Supervisor.start(nursery, [], strategy=otp.Strategy.REST_FOR_ONE)
    await otp.Supervisor.start(nursery, [], strategy="rest_for_one")
    await otp.Supervisor.start(nursery, [], strategy="one_for_none")  # type: ignore[arg-type]
    otp.ChildSpec(id="a", start=otp.Task.serve, restart="transient")
    otp.ChildSpec(id="a", start=otp.Task.serve, restart=otp.Restart.PERMANENT)
    otp.ChildSpec(id="a", start=otp.Task.serve, restart="forever")  # type: ignore[arg-type]

    # which_children: a child that is not running has no pid; one whose restart failed
    # and waits to be tried again has RESTARTING (OTP's :restarting).
    for child in await otp.Supervisor.which_children(sup):
        assert_type(child, otp.ChildInfo)
        assert_type(child.pid, otp.Pid | Literal["restarting"] | None)
        if child.pid is not None and child.pid != otp.RESTARTING:
            assert_type(child.pid, otp.Pid)
        assert_type(child.type, otp.ChildType)

    # start_child: None when the child's init returned Ignore.
    assert_type(await otp.Supervisor.start_child(sup, (otp.Task, print)), otp.Pid | None)

    async with otp.Supervisor.open([], strategy="one_for_one") as opened:
        assert_type(opened, otp.Pid)
        assert_type(await otp.render_tree(opened), str)
