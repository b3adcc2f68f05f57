"""The chapter's job queue, scaled out: the same JobQueue on one core, all cores, and Ray.

Run it::

    python examples/job_queue_scale.py            # 200 CPU-bound jobs: in-process, all cores, Ray
    python examples/job_queue_scale.py --fast     # 24 short jobs, in-process and all cores only
    python examples/job_queue_scale.py --no-ray   # skip Ray even if it is installed

What it shows. ``examples/job_queue.py`` tells the Elixir chapter: a JobQueue
GenServer hands each job to a supervised Task that answers the caller. The chapter's
jobs sleep; real jobs often compute, and a CPU-bound job run in the trio thread
stalls every other process. :class:`trio_otp.JobQueue` keeps the chapter's shape
(the supervised task stays local) and ships only the job's *body* to an executor:

1. ``InProcessExecutor`` (the default): the body runs in the trio thread, one job
   at a time in effect.
2. ``ProcessExecutor``: trio-parallel worker processes, all cores of this host
   (``pip install 'trio_otp[parallel]'``).
3. ``RayExecutor``: a local Ray cluster here; a cluster address in production
   (``pip install 'trio_otp[ray]'``). Skipped if Ray is not installed.

The same jobs run through each; the results must match; the speed-up over
in-process is printed. A progress bar shows the jobs finishing (tqdm, if installed:
``pip install tqdm``, chosen over rich because it is one small package with no
dependencies; otherwise a plain counter). On a shared or small machine the
speed-up is at most the number of free cores.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

import trio_otp as otp

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def count_primes(limit: int) -> int:
    """A CPU-bound job in pure Python: the number of primes below ``limit``."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


class Progress:
    """A tqdm bar if tqdm is installed, else a line per tenth of the jobs."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.armed = False  # the warm-up jobs are not counted
        try:
            # Imported by name: tqdm is optional and ships no type information.
            tqdm: Any = importlib.import_module("tqdm").tqdm
        except ImportError:
            self.bar: Any = None
        else:
            self.bar = tqdm(total=total, desc=f"{label:>12}", unit="job", file=sys.stdout)

    def __call__(self, event: otp.JobEvent) -> None:
        if not self.armed or event.kind is not otp.EventKind.FINISHED:
            return
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.done % max(1, self.total // 10) == 0 or self.done == self.total:
            print(f"{self.label:>12}: {self.done}/{self.total} jobs done")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def run_all(
    label: str, executor: otp.Executor | None, jobs: list[int]
) -> tuple[list[int], float]:
    """Run every job through a JobQueue on ``executor``; return results and seconds."""
    progress = Progress(len(jobs), label)
    results: list[int] = [0] * len(jobs)
    queue = otp.JobQueue(executor, on_event=progress)
    async with queue.open():
        # Warm the engine up (worker processes, Ray workers): start-up is not work.
        async with trio.open_nursery() as nursery:
            for _ in range(os.cpu_count() or 1):
                nursery.start_soon(queue.schedule, count_primes, 10)
        progress.armed = True
        began = time.perf_counter()

        async def one(i: int) -> None:
            results[i] = await queue.schedule(count_primes, jobs[i])

        async with trio.open_nursery() as nursery:
            for i in range(len(jobs)):
                nursery.start_soon(one, i)
        elapsed = time.perf_counter() - began
    progress.close()
    return results, elapsed


async def main(n_jobs: int = 200, limit: int = 20_000, use_ray: bool = True) -> dict[str, float]:
    """Run the jobs on each executor; print and return the seconds each took."""
    jobs = [limit + i for i in range(n_jobs)]
    cores = os.cpu_count() or 1
    print(f"trio_otp {otp.__version__}: {n_jobs} CPU-bound jobs (primes below ~{limit:,})")
    print(f"this machine has {cores} cores")
    runs: list[tuple[str, Callable[[], otp.Executor | None]]] = [
        ("in-process", lambda: None),
        ("all cores", lambda: otp.ProcessExecutor()),
    ]
    if use_ray:
        if importlib.util.find_spec("ray") is None:
            print("(Ray is not installed: pip install 'trio_otp[ray]' to run it too)")
        else:
            runs.append(("local Ray", lambda: otp.RayExecutor(num_cpus=cores)))
    seconds: dict[str, float] = {}
    expected: list[int] | None = None
    for label, make in runs:
        results, elapsed = await run_all(label, make(), jobs)
        if expected is None:
            expected = results
        assert results == expected, f"{label} computed different results"
        seconds[label] = elapsed
    print()
    base = seconds["in-process"]
    for label, elapsed in seconds.items():
        print(f"{label:>12}: {elapsed:6.2f} s   speed-up x{base / elapsed:4.2f}")
    print(f"all results agree ({len(jobs)} jobs, {sum(expected or [])} primes in all)")
    return seconds


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="24 short jobs, no Ray")
    parser.add_argument("--no-ray", action="store_true", help="skip Ray")
    parser.add_argument("--jobs", type=int, default=None, help="number of jobs (default 200)")
    args = parser.parse_args(argv)
    n_jobs = args.jobs or (24 if args.fast else 200)
    limit = 3_000 if args.fast else 20_000
    trio.run(main, n_jobs, limit, not (args.fast or args.no_ray))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
