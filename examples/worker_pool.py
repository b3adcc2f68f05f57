"""A supervised pool of workers, a dispatcher, and fan-out/fan-in with Task.async_nolink.

Run it::

    python examples/worker_pool.py [--fast]
    python examples/worker_pool.py --serve    # as a program, until SIGTERM or Ctrl-C

The tree::

    pool_app (one_for_one)
    ├── workers (Supervisor, one_for_one)
    │   ├── ("worker", 0) ... ("worker", 3)    GenServers, 0.1 s per job
    ├── Dispatcher                              hands out workers, round robin
    └── tasks (DynamicSupervisor)               one Task per job

What it teaches:

* Fan-out/fan-in: ``await Task.async_nolink("tasks", fn, x)`` starts ``fn(x)`` under a
  DynamicSupervisor and returns at once; ``await task.wait()`` collects the result.
  Eight 0.1 s jobs on four workers take 0.2 s, not 0.8 s.
* The dispatcher only hands out worker *names*; callers then call the worker
  directly, so the dispatcher never becomes a bottleneck (the job queue's lesson).
* A worker that crashes is restarted by its supervisor, under the same name, while
  the others keep serving. The job that crashed it fails (``otp.TaskExit``, caused by
  ``otp.CalleeExit``); every other job succeeds, including later ones on the new worker.
* ``async_nolink``: the crashed task is not linked to us. Its failure comes back as
  the result of ``wait()``, instead of tearing down the code that waits.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task

POOL_SIZE = 4
WorkerName = tuple[str, int]


class Worker(otp.GenServer[int]):
    """Squares numbers, 0.1 s each; its state counts the jobs it served."""

    async def handle_call(self, request: Any, from_: otp.From, served: int) -> otp.Reply[int]:
        _, x = request
        await trio.sleep(0.1)
        if x < 0:
            raise ValueError(f"cannot square poison {x}")
        return otp.Reply((x * x, self.pid.name, served + 1), served + 1)


def worker_spec(i: int) -> otp.ChildSpec:
    name = ("worker", i)
    return Worker.child_spec(0, name=name, id=name)


class Dispatcher(otp.GenServer[int]):
    """Hands out worker names, round robin; its state is the next index."""

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        return super().child_spec(0, name=cls, **overrides)

    async def handle_call(self, request: Any, from_: otp.From, i: int) -> otp.Reply[int]:
        return otp.Reply(("worker", i), (i + 1) % POOL_SIZE)


async def square(x: int) -> tuple[int, WorkerName, int]:
    """A job: ask the dispatcher for a worker, then call that worker."""
    worker = await otp.call(Dispatcher, "checkout")
    result: tuple[int, WorkerName, int] = await otp.call(worker, ("square", x))
    return result


async def fan_out(inputs: list[int]) -> dict[int, object]:
    """Square all inputs concurrently; print and return each result (or error)."""
    began = trio.current_time()
    # (Annotated by hand: async_nolink's type does not yet see through async functions.)
    tasks: list[otp.AsyncTask[Any]] = [await Task.async_nolink("tasks", square, x) for x in inputs]
    results: dict[int, object] = {}
    for x, task in zip(inputs, tasks, strict=True):
        try:
            value, worker, served = await task.wait()
        except otp.TaskExit as exc:
            results[x] = exc
            print(f"  square({x}) failed: {type(exc.__cause__).__name__}: {exc.__cause__}")
        else:
            results[x] = value
            print(f"  square({x}) = {value:<4} by {worker}, its job #{served}")
    took = trio.current_time() - began
    print(f"  {len(inputs)} jobs took {took:.2f} s on {POOL_SIZE} workers")
    return results


async def worker_pids() -> dict[object, otp.Pid | str | None]:
    """The pool's workers and their pids, in start order."""
    children = await Supervisor.which_children("workers")
    return {info.id: info.pid for info in reversed(children)}


async def main() -> list[dict[int, object]]:
    """Run three batches; return their results (for the tests)."""
    workers = [worker_spec(i) for i in range(POOL_SIZE)]
    children = [
        Supervisor.child_spec((Supervisor, {"children": workers, "name": "workers"})),
        Dispatcher,
        (DynamicSupervisor, {"name": "tasks"}),
    ]
    batches = []
    async with Supervisor.open(children, name="pool_app") as app:
        print(await otp.render_tree(app))

        print()
        print("--- batch 1: eight jobs, fanned out over the pool ---")
        batches.append(await fan_out([1, 2, 3, 4, 5, 6, 7, 8]))

        print()
        print("--- batch 2: one poisoned job crashes worker 2; the others keep serving ---")
        before = await worker_pids()
        batches.append(await fan_out([10, 20, -1, 30]))
        after = await worker_pids()
        for worker_id, pid in after.items():
            change = "restarted" if pid != before[worker_id] else "same process"
            print(f"  {worker_id}: {before[worker_id]} -> {pid}   {change}")

        print()
        print("--- batch 3: the restarted worker serves again (its job count started over) ---")
        batches.append(await fan_out([1, 2, 3, 4]))
    return batches


async def keep_busy() -> None:
    """Serve mode: a batch of jobs every second, for ever."""
    while True:
        await fan_out([1, 2, 3, 4])
        sys.stdout.flush()
        await trio.sleep(1)


class Reporter(otp.GenServer[None]):
    """Serve mode: says when the tree has started and when it shuts down."""

    async def init(self, arg: None) -> otp.Ok[None]:
        print("pool_app: serving", flush=True)
        return otp.Ok(None)

    async def terminate(self, reason: object, state: None) -> None:
        print(f"pool_app: terminate({reason!r})", flush=True)


def serve() -> int:
    """Run the pool through trio_otp.run_application until SIGTERM or Control-C."""
    workers = [worker_spec(i) for i in range(POOL_SIZE)]
    children = [
        Supervisor.child_spec((Supervisor, {"children": workers, "name": "workers"})),
        Dispatcher,
        (DynamicSupervisor, {"name": "tasks"}),
        Reporter,
        Supervisor.child_spec((Task, keep_busy), restart="permanent"),
    ]
    status: int = trio.run(functools.partial(otp.run_application, children, name="pool_app"))
    print(f"exit status {status}", flush=True)
    return status


class OneLineFormatter(logging.Formatter):
    """A crash report on one line: who crashed and why (no traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        return f"  [{record.levelname} {record.name}] {' '.join(lines[:2])}"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="run the pool as a program until SIGTERM/Control-C (exit status 0 if orderly)",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter())
    logging.basicConfig(handlers=[handler])
    if args.serve:
        return serve()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
