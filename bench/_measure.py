"""Measurement helpers shared by every benchmark worker.

Standard library only: this module is also imported by the triotp peer worker, which
runs in its own virtualenv (an old trio, no trio_otp).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

#: Prefix of the one line a worker prints with its figures (JSON after it).
RESULT_PREFIX = "RESULT "

#: What a W4/W6 job returns (the seed's "Job result").
JOB_RESULT = "Job result"

#: W6: probability that one attempt of a job raises.
FLAKY_P = 0.3

#: W6: seed of job ``i`` is ``FLAKY_SEED + i`` (each job has its own random.Random).
FLAKY_SEED = 20240601

now = time.perf_counter

#: ``python -m bench --instructions`` (bench/instructions.py): the label of the
#: :func:`mark` at which a worker ends its process, so that cachegrind counts a
#: workload's instructions up to that point only ("" never).
EXIT_AT = os.environ.get("BENCH_EXIT_AT", "")


def mark(label: str) -> None:
    """End the process here (``os._exit(0)``) if ``BENCH_EXIT_AT`` names this mark.

    The instruction counter measures a region of a workload (W3's starts without the
    stop, M1's timed part without its targets' starts) by counting the whole process
    up to the mark at its two sizes. Costs one comparison otherwise.
    """
    if label == EXIT_AT:
        sys.stdout.flush()
        os._exit(0)


class FlakyError(Exception):
    """Raised by a W6 job attempt (expected; never logged)."""


class FlakyJobs:
    """W6's jobs: job ``i`` owns ``random.Random(FLAKY_SEED + i)``; each attempt draws once.

    Every implementation therefore sees the same sequence of failures, and the
    restart count is the same everywhere (``expected_restarts``).
    """

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs
        self.attempts = 0

    def job(self, i: int) -> Callable[[], str]:
        rng = random.Random(FLAKY_SEED + i)

        def attempt() -> str:
            self.attempts += 1
            if rng.random() < FLAKY_P:
                raise FlakyError(f"job {i}: flaky")
            return JOB_RESULT

        return attempt

    @staticmethod
    def expected_restarts(n_jobs: int) -> int:
        total = 0
        for i in range(n_jobs):
            rng = random.Random(FLAKY_SEED + i)
            while rng.random() < FLAKY_P:
                total += 1
        return total


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    """Collect garbage (all generations) so memory figures compare like with like."""
    gc.collect()
    gc.collect()


class MemProbe:
    """Memory delta over a region: RSS, or tracemalloc's traced bytes when tracing."""

    def __init__(self) -> None:
        self.tracing = tracemalloc.is_tracing()
        settle()
        self.rss0 = rss_bytes()
        self.traced0 = tracemalloc.get_traced_memory()[0] if self.tracing else 0

    def delta(self) -> dict[str, int]:
        settle()
        out = {"rss_delta": rss_bytes() - self.rss0}
        if self.tracing:
            out["traced_delta"] = tracemalloc.get_traced_memory()[0] - self.traced0
        return out


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted values (the Elixir scripts' rule)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    return sorted_values[min(n - 1, int(p * n))]


def latency_stats(latencies_s: list[float]) -> dict[str, float]:
    """p50 / p99 / mean / max in microseconds."""
    s = sorted(latencies_s)
    n = len(s)
    return {
        "p50_us": percentile(s, 0.50) * 1e6,
        "p99_us": percentile(s, 0.99) * 1e6,
        "mean_us": (sum(s) / n) * 1e6 if n else math.nan,
        "max_us": s[-1] * 1e6 if n else math.nan,
    }


def silence_crash_reports() -> str:
    """Silence crash-report logging; return a sentence saying what was done."""
    for name in ("trio_otp", "trio_otp.gen_server", "trio_otp.task", "trio_otp.supervisor"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return "loggers trio_otp.gen_server/.task/.supervisor set to CRITICAL"


def emit(result: dict[str, Any]) -> None:
    """Print the worker's result line (the parent parses the last one)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The last RESULT line of a worker's output, or None."""
    found: dict[str, Any] | None = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            found = json.loads(line[len(RESULT_PREFIX) :])
    return found


def median_of_runs(run_once: Callable[[], dict[str, Any]], runs: int) -> dict[str, Any]:
    """Run a workload ``runs`` times back to back; each figure is the median of the runs.

    For the workloads whose single run lasts well under a second (W4, W5, W6 and the
    quick profile's), shorter than the swings of a shared host's CPU rate (one
    core's rate moves by up to ±25 % from one second to the next on the project's
    machine). Every implementation of a case gets the same number of runs, each in a
    fresh ``trio.run`` after a full collection. Non-numeric figures are the last run's.
    """
    results: list[dict[str, Any]] = []
    for _ in range(max(1, runs)):
        settle()
        results.append(run_once())
    out = dict(results[-1])
    for key, value in out.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in results)
    out["runs"] = len(results)
    return out


def start_tracing_if(flag: bool) -> None:
    if flag:
        tracemalloc.start()


def w3_metrics(n: int, t_start: float, t_stop: float, mem: dict[str, int]) -> dict[str, Any]:
    """W3's figures from the start time, stop time and memory delta of N children."""
    out: dict[str, Any] = {
        "n": n,
        "start_s": t_start,
        "children_per_s": n / t_start,
        "stop_s": t_stop,
        "rss_per_child_kb": mem["rss_delta"] / n / 1024,
    }
    if "traced_delta" in mem:
        out["traced_per_child_kb"] = mem["traced_delta"] / n / 1024
    return out
