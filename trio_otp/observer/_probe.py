"""What an observer reads and keeps while it runs: the tree, the processes, the charts.

Everything here is read *synchronously* from the run's own records (the task table,
each supervisor's children, each server's suspended frame), from the observer's task:
no call is made to a process, so looking never changes what is looked at (a stuck
server is shown, not waited for).

Counters that the runtime does not keep are kept only while an observer runs, so a
program with no observer pays nothing for them:

* *messages handled*: while an observer runs, each GenServer it has seen gets
  counting wrappers as instance attributes over its ``handle_call``/``handle_cast``/
  ``handle_info`` (the server loop looks them up on the instance); they are removed
  when the observer stops. Counted from when the observer first saw the server.
* *start time*: the first snapshot that saw a process (``uptime`` is then "at least");
  a child's restarts are the supervisor's own start count of that child.
* *share of the scheduler*: a :class:`trio.abc.Instrument` installed for
  ``sample_for`` seconds every ``sample_every`` seconds (sampling keeps its cost to a
  tenth of what a permanent instrument costs); the last window is shown.
* *charts*: once a second, the calls handled (from the counting wrappers, put on
  every GenServer then) and the restarts (each supervisor's start count of its
  children) since the last second, and the job outcomes the queues' sources hear,
  over the last ``chart_seconds``. No telemetry handler is attached: one would make
  every call of the program build and emit its events (W4: 15 % more instructions
  per job, bench/observer_cost.py).
"""

from __future__ import annotations

import collections
import math
import time
import weakref
from collections.abc import Iterator
from typing import Any, Final

import trio

from .._core._process import Pid, _by_task, _process_of
from .._core._refs import Ref
from .._core._reports import label, term_repr
from .._server._child import _Child
from .._server._gen_server import GenServer, _serve
from .._supervision._dynamic_supervisor import _DynamicSupervisorServer
from .._supervision._supervisor import _StaticSupervisor
from .._supervision._supervisor_server import _SupervisorServer
from ..jobs._queue import JobQueue

#: Children listed per supervisor in a snapshot (the rest are counted).
MAX_CHILDREN: Final = 50
#: Process rows in a snapshot (supervisors and servers first, then the others).
MAX_PROCESSES: Final = 300

_SERVE_CODE: Final = _serve.__code__
_HANDLERS: Final = ("handle_call", "handle_cast", "handle_info")


def processes() -> list[Pid]:
    """The live processes of this run, oldest first."""
    try:
        table = _by_task.get()
    except LookupError:
        return []
    return sorted(set(table.values()))


def find(pid_id: int) -> Pid | None:
    """The live process whose handle prints as ``<Pid 0.pid_id>``."""
    for pid in processes():
        if pid._id == pid_id:
            return pid
    return None


def server_state(pid: Pid) -> tuple[bool, object]:
    """``(True, state)`` of a GenServer, read from its suspended server loop."""
    task = pid._task
    if task is None:
        return False, None
    coro: Any = task.coro
    for _ in range(64):
        if coro is None:
            break
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None and frame.f_code is _SERVE_CODE:
            return True, frame.f_locals.get("state")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return False, None


def status_summary(pid: Pid) -> str | None:
    """A GenServer's state as its ``format_status`` shows it, bounded as reports are."""
    impl = pid._impl
    if not isinstance(impl, GenServer) or isinstance(impl, _SupervisorServer):
        return None  # a supervisor's state is its children: the tree shows them
    found, state = server_state(pid)
    if not found:
        return None
    try:
        shown = impl.format_status(state)
    except Exception as exc:
        return f"<format_status raised {type(exc).__name__}>"
    return term_repr(shown)


def _children(impl: _SupervisorServer) -> list[_Child]:
    if isinstance(impl, _StaticSupervisor):
        return list(impl._children)
    if isinstance(impl, _DynamicSupervisorServer):
        return list(impl._children.values())
    return list(getattr(impl, "_children", ()))


def _intensity(impl: _SupervisorServer, now: float) -> dict[str, Any]:
    second = math.floor(now)
    used = sum(1 for stamp in impl._restarts if second <= stamp + impl.max_seconds)
    return {"used": used, "max": impl.max_restarts, "seconds": impl.max_seconds}


def _show_id(child_id: object) -> str | None:
    if child_id is None:
        return None
    return child_id.__qualname__ if isinstance(child_id, type) else str(child_id)


#: How the library's own private process classes are shown.
_CLASS_LABELS: Final = {
    "_QueueSupervisor": "JobQueue",
    "_QueueServer": "JobQueue server",
    "_ObserverServer": "Observer",
}


def _class_of(pid: Pid) -> str:
    impl = pid._impl
    if impl is None or isinstance(impl, (str, int, float)):
        return pid._kind
    name = type(impl).__qualname__
    if name in _CLASS_LABELS:
        return _CLASS_LABELS[name]
    if isinstance(impl, _SupervisorServer):
        return impl.kind_label
    return name


def _label(pid: Pid, child: _Child | None) -> str:
    """A process's name as the page shows it: its registered name, else its child id."""
    name = pid._name
    if type(name) is tuple and len(name) == 2 and isinstance(name[0], JobQueue):
        queue = name[0].name
        return f"{label_of(queue)} job supervisor" if queue is not None else "job supervisor"
    if name is None and child is not None and child.spec.id is not None:
        child_id = child.spec.id
        if isinstance(child_id, type) and child_id.__qualname__ in _CLASS_LABELS:
            return _CLASS_LABELS[child_id.__qualname__]
        shown = _show_id(child_id)
        if shown is not None:
            return shown
    return label(pid)


def label_of(name: object) -> str:
    """A registered name as text."""
    if isinstance(name, type):
        return name.__qualname__
    return name if isinstance(name, str) else repr(name)


def _relations(pid: Pid) -> tuple[list[int], list[int], list[int]]:
    links: list[int] = []
    monitors: list[int] = []
    monitored_by: list[int] = []
    watchers = pid._watchers
    if not watchers:
        return links, monitors, monitored_by
    for key in list(watchers):
        if type(key) is tuple and len(key) == 2 and key[0] == "link" and type(key[1]) is Pid:
            links.append(key[1]._id)
        elif isinstance(key, Ref):
            target, watcher = key._target, key._watcher
            if target is pid and watcher is not None:
                monitored_by.append(watcher._id)
            elif watcher is pid and target is not None:
                monitors.append(target._id)
    return sorted(links), sorted(monitors), sorted(monitored_by)


class _Scheduler(trio.abc.Instrument):
    """Trio steps and seconds per task over one sampling window."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}
        self.seconds: dict[trio.lowlevel.Task, float] = {}
        self._t0 = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._t0 = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        dt = time.perf_counter() - self._t0
        steps = self.steps
        steps[task] = steps.get(task, 0) + 1
        seconds = self.seconds
        seconds[task] = seconds.get(task, 0.0) + dt


class _Series:
    """Counts per second over the last ``seconds`` (a bounded ring)."""

    __slots__ = ("points",)

    def __init__(self, seconds: int) -> None:
        self.points: collections.deque[list[int]] = collections.deque(maxlen=seconds)

    def add(self, now: float, count: int = 1) -> None:
        second = int(now)
        points = self.points
        if points and points[-1][0] == second:
            points[-1][1] += count
        else:
            points.append([second, count])

    def since(self, start: float) -> list[list[int]]:
        return [list(p) for p in self.points if p[0] >= start]


#: The charts an observer draws, in order.
SERIES: Final = ("calls", "restarts", "jobs_done", "jobs_failed")


class Probe:
    """The observer's book-keeping; :meth:`attach` on start, :meth:`detach` on stop."""

    def __init__(
        self,
        *,
        chart_seconds: int = 300,
        sample_every: float = 10.0,
        sample_for: float = 1.0,
    ) -> None:
        if not 0 < sample_for <= sample_every:
            raise ValueError(
                f"need 0 < sample_for <= sample_every, got sample_for={sample_for!r}, "
                f"sample_every={sample_every!r}"
            )
        self.chart_seconds = int(chart_seconds)
        self.sample_every = sample_every
        self.sample_for = sample_for
        self.series = {name: _Series(self.chart_seconds) for name in SERIES}
        self.first_seen: weakref.WeakKeyDictionary[Pid, float] = weakref.WeakKeyDictionary()
        self.started_at = 0.0
        self._handled: weakref.WeakKeyDictionary[GenServer[Any], list[int]] = (
            weakref.WeakKeyDictionary()
        )
        self._attached = False
        self._last_totals: tuple[int, int] | None = None
        # the last scheduler window: pid id -> (steps, seconds); and its totals
        self.shares: dict[int, tuple[int, float]] = {}
        self.share_window: tuple[float, float] | None = None
        self.share_total = 0.0
        self.share_other = 0.0

    # -- life -----------------------------------------------------------------------

    def attach(self) -> None:
        """Start counting (the counters below start from here)."""
        self.started_at = trio.current_time()
        self._attached = True

    def detach(self) -> None:
        """Stop counting: remove the counting wrappers."""
        self._attached = False
        for server in list(self._handled):
            for name in _HANDLERS:
                server.__dict__.pop(name, None)
        self._handled.clear()

    def tick(self) -> None:
        """Once a second: count the calls and restarts since the last tick.

        No telemetry handler is attached (one would make every call of the program
        build and emit its events): the calls are read from the counting wrappers,
        put on every GenServer seen here, and the restarts from each supervisor's
        own start count of its children.
        """
        now = trio.current_time()
        calls = restarts = 0
        for pid in processes():
            impl = pid._impl
            if isinstance(impl, GenServer):
                counter = self._count_messages(impl)
                if counter is not None:
                    calls += counter[1]
            if isinstance(impl, _SupervisorServer):
                restarts += sum(max(child.gen - 1, 0) for child in _children(impl))
        if self._last_totals is not None:
            last_calls, last_restarts = self._last_totals
            # a total falls when a counted server or a restarted child is gone
            if calls > last_calls:
                self.series["calls"].add(now, calls - last_calls)
            if restarts > last_restarts:
                self.series["restarts"].add(now, restarts - last_restarts)
        self._last_totals = (calls, restarts)

    async def count_every_second(self) -> None:
        """Forever: :meth:`tick` once a second."""
        while True:
            self.tick()
            await trio.sleep(1.0)

    def job_outcome(self, failed: bool, now: float) -> None:
        """A job finished (or failed for good): count it on the job charts."""
        self.series["jobs_failed" if failed else "jobs_done"].add(now)

    async def sample_scheduler(self) -> None:
        """Forever: install the instrument for a window, then show that window."""
        while True:
            await trio.sleep(self.sample_every - self.sample_for)
            instrument = _Scheduler()
            start = trio.current_time()
            trio.lowlevel.add_instrument(instrument)
            try:
                await trio.sleep(self.sample_for)
            finally:
                trio.lowlevel.remove_instrument(instrument)
            self._aggregate(instrument, start, trio.current_time())

    def _aggregate(self, instrument: _Scheduler, start: float, end: float) -> None:
        try:
            table = _by_task.get()
        except LookupError:
            table = {}  # type: ignore[assignment]
        shares: dict[int, tuple[int, float]] = {}
        total = other = 0.0
        for task, steps in instrument.steps.items():
            seconds = instrument.seconds[task]
            total += seconds
            pid = _process_of(task, table) if table else None
            if pid is None:
                other += seconds
                continue
            old = shares.get(pid._id, (0, 0.0))
            shares[pid._id] = (old[0] + steps, old[1] + seconds)
        self.shares = shares
        self.share_window = (start, end)
        self.share_total = total
        self.share_other = other

    # -- counting wrappers ----------------------------------------------------------

    def _count_messages(self, server: GenServer[Any]) -> list[int] | None:
        counter = self._handled.get(server)
        if counter is not None:
            return counter
        try:
            slots = server.__dict__
        except AttributeError:
            return None  # a server with __slots__ and no __dict__: not counted
        counter = [0, 0]  # messages handled, of which calls
        for name in _HANDLERS:
            method = getattr(type(server), name).__get__(server)
            slots[name] = _counting(method, counter, name == "handle_call")
        self._handled[server] = counter
        return counter

    # -- the snapshot ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The tree and the process table, as JSON-ready data."""
        now = trio.current_time()
        live = processes()
        by_parent: dict[Pid | None, list[Pid]] = collections.defaultdict(list)
        alive = set(live)
        for pid in live:
            self.first_seen.setdefault(pid, now)
            by_parent[pid._parent if pid._parent in alive else None].append(pid)
        restarts: dict[Pid, int] = {}
        labels: dict[Pid, str] = {}
        placed: set[Pid] = set()

        def node(pid: Pid | None, child: _Child | None, depth: int) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "pid": None,
                "label": None,
                "child_id": _show_id(child.spec.id) if child is not None else None,
                "kind": None,
                "restarts": max(child.gen - 1, 0) if child is not None else 0,
                "children": [],
                "more": 0,
            }
            if child is not None:
                entry["type"] = child.spec.type.value
                entry["restart"] = child.spec.restart.value
            if pid is None:
                assert child is not None
                entry["status"] = "restarting" if child.restarting else "not running"
                entry["label"] = entry["child_id"] or "(child)"
                return entry
            placed.add(pid)
            if child is not None:
                restarts[pid] = entry["restarts"]
            labels[pid] = _label(pid, child)
            entry.update(pid=pid._id, label=labels[pid], kind=_class_of(pid), status="running")
            impl = pid._impl
            kids: list[tuple[Pid | None, _Child | None]] = []
            if isinstance(impl, _SupervisorServer):
                entry["strategy"] = impl.strategy.value
                entry["intensity"] = _intensity(impl, now)
                for record in _children(impl):
                    running = record.running and type(record.handle) is Pid
                    kids.append((record.handle if running else None, record))
            known = {k for k, _ in kids if k is not None}
            kids.extend((p, None) for p in by_parent.get(pid, ()) if p not in known)
            if depth > 32:
                entry["more"] = len(kids)
                return entry
            for i, (kid, kid_child) in enumerate(kids):
                if i >= MAX_CHILDREN:
                    entry["more"] = len(kids) - MAX_CHILDREN
                    break
                if kid is not None and (kid in placed or not kid.alive):
                    continue
                entry["children"].append(node(kid, kid_child, depth + 1))
            return entry

        tree = [node(pid, None, 0) for pid in by_parent.get(None, ())]
        # The table: supervisors and servers first, then the rest, bounded.
        ordered = sorted(live, key=lambda p: (not isinstance(p._impl, GenServer), p._id))
        rows = [
            self._row(pid, now, restarts.get(pid, 0), labels.get(pid) or label(pid))
            for pid in ordered[:MAX_PROCESSES]
        ]
        return {
            "now": now,
            "observed_since": self.started_at,
            "tree": tree,
            "processes": rows,
            "process_count": len(live),
            "charts": self.charts(now),
            "scheduler": self._scheduler_view(),
        }

    def _row(self, pid: Pid, now: float, restarts: int, shown: str) -> dict[str, Any]:
        impl = pid._impl
        handled: int | None = None
        if isinstance(impl, GenServer):
            counter = self._count_messages(impl)
            handled = None if counter is None else counter[0]
        mailbox = pid._mailbox
        links, monitors, monitored_by = _relations(pid)
        seen = self.first_seen.get(pid, now)
        share = self.shares.get(pid._id)
        total = self.share_total
        return {
            "pid": pid._id,
            "repr": repr(pid),
            "name": shown if pid._name is not None else None,
            "label": shown,
            "kind": pid._kind,
            "class": _class_of(pid),
            "parent": pid._parent._id if pid._parent is not None else None,
            "status": status_summary(pid),
            "mailbox": len(mailbox) if mailbox else 0,
            "handled": handled,
            "restarts": restarts,
            "uptime": now - seen,
            # seen before the observer's first look: the uptime is a lower bound
            "uptime_at_least": seen <= self.started_at + 1e-9,
            "links": links,
            "monitors": monitors,
            "monitored_by": monitored_by,
            "steps": share[0] if share else 0,
            "cpu_share": (share[1] / total) if share and total > 0 else 0.0,
        }

    def _scheduler_view(self) -> dict[str, Any]:
        return {
            "window": self.share_window,
            "seconds": self.share_total,
            "other_share": (self.share_other / self.share_total) if self.share_total else 0.0,
            "sample_every": self.sample_every,
            "sample_for": self.sample_for,
        }

    def charts(self, now: float) -> dict[str, Any]:
        """Each series' counts per second over the chart window."""
        start = now - self.chart_seconds
        return {
            "seconds": self.chart_seconds,
            "now": int(now),
            "series": {name: self.series[name].since(start) for name in SERIES},
        }


def _counting(method: Any, counter: list[int], call: bool) -> Any:
    if call:

        async def counted(*args: Any) -> Any:
            counter[0] += 1
            counter[1] += 1
            return await method(*args)

    else:

        async def counted(*args: Any) -> Any:
            counter[0] += 1
            return await method(*args)

    counted.__wrapped__ = method  # type: ignore[attr-defined]
    return counted


def walk(tree: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every node of a snapshot's tree, depth first."""
    for entry in tree:
        yield entry
        yield from walk(entry["children"])
