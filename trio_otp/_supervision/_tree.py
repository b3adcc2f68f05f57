"""Render a live supervision tree as text, the way the Elixir chapter draws it."""

from __future__ import annotations

from .._core._call import _resolve
from .._core._process import Pid
from .._core._reports import label, user_class
from .._server._child_spec import ChildType
from ._supervisor import children_in_start_order


def _node(child_id: object, pid: Pid | str | None) -> str:
    # pid: a handle, None (not running) or RESTARTING (a failed restart will be retried).
    if isinstance(pid, Pid) and pid._name is not None:
        return f"{label(pid)} <Pid 0.{pid._id}>"
    state = f"({pid or 'not running'})"
    if child_id is not None:
        name = child_id.__qualname__ if isinstance(child_id, type) else str(child_id)
        return f"{name} {pid!r}" if isinstance(pid, Pid) else f"{name} {state}"
    if isinstance(pid, Pid):
        shown = user_class(pid)
        if shown is None:
            return f"{pid._kind} {pid!r}"
        # A GenServer by its class; a Task by its kind and the user's function.
        return f"Task {shown} {pid!r}" if pid._kind == "Task" else f"{shown} {pid!r}"
    return state


async def render_tree(sup: object) -> str:
    """Return the supervision tree under ``sup`` as indented text.

    Children are listed in start order; child supervisors are expanded. Works for
    any running Supervisor or DynamicSupervisor (handle or name)::

        my_app_supervisor <Pid 0.3>
        ├── JobSupervisor <Pid 0.4>
        │   ├── Task <Pid 0.7>
        │   └── Task <Pid 0.8>
        └── JobQueue <Pid 0.5>
    """
    pid = _resolve(sup)
    if pid is None:
        from .._core._exceptions import NoProcessError

        raise NoProcessError(sup, "render_tree", None)
    lines = [_node(None, pid)]

    async def walk(parent: Pid, prefix: str) -> None:
        children = await children_in_start_order(parent)
        for i, info in enumerate(children):
            last = i == len(children) - 1
            lines.append(prefix + ("└── " if last else "├── ") + _node(info.id, info.pid))
            if info.type is ChildType.SUPERVISOR and isinstance(info.pid, Pid) and info.pid.alive:
                await walk(info.pid, prefix + ("    " if last else "│   "))

    await walk(pid, "")
    return "\n".join(lines)
