"""render_tree: a live supervision tree as indented text (trio_otp/_supervision/_tree.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task


class JobQueue(otp.GenServer[None]):
    """Registered under its class, as in the seed chapter."""

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        return super().child_spec(arg, name=cls, **overrides)


class Idle(otp.GenServer[None]):
    async def init(self, arg: Any) -> Any:
        return otp.Ignore() if arg == "ignore" else otp.Ok(None)


def unnamed(pid: object) -> str:
    """A named process is drawn as its name then its bare handle: ``jobs <Pid 0.7>``."""
    return re.sub(r" [^ ]+>$", ">", repr(pid))


async def test_renders_the_seed_tree_in_start_order():
    """my_app_supervisor with JobSupervisor (two tasks) and JobQueue renders in start order."""
    children = [(DynamicSupervisor, {"name": "JobSupervisor"}), JobQueue]
    async with Supervisor.open(children, name="my_app_supervisor") as sup:
        jobs = otp.whereis("JobSupervisor")
        t1 = await DynamicSupervisor.start_child(jobs, (Task, trio.sleep_forever))
        t2 = await DynamicSupervisor.start_child(jobs, (Task, trio.sleep_forever))
        queue = otp.whereis(JobQueue)
        assert await otp.render_tree(sup) == "\n".join(
            [
                f"my_app_supervisor {unnamed(sup)}",
                f"├── JobSupervisor {unnamed(jobs)}",
                f"│   ├── Task sleep_forever {t1!r}",
                f"│   └── Task sleep_forever {t2!r}",
                f"└── JobQueue {unnamed(queue)}",
            ]
        )
        assert await otp.render_tree("my_app_supervisor") == await otp.render_tree(sup)


async def test_renders_anonymous_nested_and_stopped_children():
    """Anonymous nodes show their id or kind; nested supervisors expand; stopped children say so."""
    children = [
        otp.ChildSpec(id="a", start=Idle.serve),
        Supervisor.child_spec(
            (Supervisor, {"children": [Idle.child_spec(id="leaf")], "id": "inner"})
        ),
        Idle.child_spec("ignore", id="ignored"),
    ]
    async with Supervisor.open(children) as sup:
        infos = {i.id: i.pid for i in await Supervisor.which_children(sup)}
        inner = infos["inner"]
        leaf = (await Supervisor.which_children(inner))[0].pid
        assert await otp.render_tree(sup) == "\n".join(
            [
                f"Supervisor {sup!r}",
                f"├── a {infos['a']!r}",
                f"├── inner {inner!r}",
                f"│   └── leaf {leaf!r}",
                "└── ignored (not running)",
            ]
        )


async def test_renders_an_empty_dynamic_supervisor():
    """A DynamicSupervisor with no children renders as one line."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, name="jobs")
        assert await otp.render_tree(ds) == f"jobs {unnamed(ds)}"
        await DynamicSupervisor.stop(ds)


async def test_unknown_name_is_no_process_error():
    """render_tree of a name nobody holds raises NoProcessError."""
    with pytest.raises(otp.NoProcessError):
        await otp.render_tree("nobody")


def test_a_child_waiting_for_its_restart_is_drawn_as_restarting() -> None:
    """A child whose failed restart waits to be retried shows (restarting), no handle."""
    from trio_otp._supervision._tree import _node

    assert _node("db", otp.RESTARTING) == "db (restarting)"
    assert _node("db", None) == "db (not running)"
    assert _node(None, otp.RESTARTING) == "(restarting)"
