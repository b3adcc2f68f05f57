"""One measurement in a fresh process: ``python -m bench.worker IMPL WORKLOAD PARAMS_JSON``.

Runs one workload of one implementation (trio_otp or a raw-Trio floor) in one fresh
``trio.run`` and prints a ``RESULT {json}`` line. A failure is a non-zero exit with
the traceback on stderr; the runner reports it.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._measure import emit, median_of_runs, now, silence_crash_reports

#: (implementation, workload) -> (module, function, fixed keyword arguments)
TABLE: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {
    ("trio_otp", "W1"): ("bench.otp", "w1", {}),
    ("trio_otp", "W2"): ("bench.otp", "w2", {}),
    ("trio_otp", "W3"): ("bench.otp", "w3", {}),
    ("trio_otp", "W4"): ("bench.otp", "w4", {}),
    # issue 20: W4 with an observer running (not gated: bench/observer_cost.py)
    ("trio_otp-observed", "W4"): ("bench.otp", "w4_observed", {}),
    ("trio_otp-observed-page", "W4"): ("bench.otp", "w4_observed", {"page": True}),
    ("trio_otp", "W5"): ("bench.otp", "w5", {}),
    ("trio_otp", "W6"): ("bench.otp", "w6", {}),
    ("trio_otp", "M1"): ("bench.otp", "m1", {}),
    ("trio_otp", "T1"): ("bench.otp", "t1", {}),
    ("floor-public", "W1"): ("bench.floor", "w1", {"form": "public"}),
    ("floor-lowlevel", "W1"): ("bench.floor", "w1", {"form": "lowlevel"}),
    ("floor-public", "W2"): ("bench.floor", "w2", {"form": "public"}),
    ("floor-lowlevel", "W2"): ("bench.floor", "w2", {"form": "lowlevel"}),
    ("floor-nowait", "W3"): ("bench.floor", "w3", {"form": "nowait"}),
    ("floor-waited", "W3"): ("bench.floor", "w3", {"form": "waited"}),
    ("trio_otp-jq", "W4"): ("bench.jobqueue", "w4", {}),
    ("trio_otp-jq", "W6"): ("bench.jobqueue", "w6", {}),
    ("jq-inproc", "W7"): ("bench.jobqueue", "w7", {"engine": "inproc"}),
    ("jq-parallel", "W7"): ("bench.jobqueue", "w7", {"engine": "parallel"}),
    ("jq-ray", "W7"): ("bench.jobqueue", "w7", {"engine": "ray"}),
    ("floor-parallel", "W7"): ("bench.jobqueue", "w7", {"engine": "parallel", "floor": True}),
    ("floor-ray", "W7"): ("bench.jobqueue", "w7", {"engine": "ray", "floor": True}),
    ("floor", "W4"): ("bench.floor", "w4", {}),
    ("limit", "W4"): ("bench.floor", "w4_limit", {}),
    ("floor", "W5"): ("bench.floor", "w5", {}),
    ("floor", "W6"): ("bench.floor", "w6", {}),
    ("floor", "M1"): ("bench.floor", "m1", {}),
    ("floor", "T1"): ("bench.floor", "t1", {}),
    # issue 10: Registry, async_stream, PartitionSupervisor
    ("trio_otp", "R1"): ("bench.otp", "r1", {}),
    ("floor", "R1"): ("bench.floor", "r1", {}),
    ("trio_otp", "R2"): ("bench.otp", "r2", {}),
    ("floor", "R2"): ("bench.floor", "r2", {}),
    ("trio_otp", "S1"): ("bench.otp", "s1", {}),
    ("floor", "S1"): ("bench.floor", "s1", {}),
    ("trio_otp", "P3"): ("bench.otp", "p3", {"partitions": 0}),
    ("partitions-4", "P3"): ("bench.otp", "p3", {"partitions": 4}),
    ("trio_otp", "P4"): ("bench.otp", "p4", {"partitions": 0}),
    ("partitions-4", "P4"): ("bench.otp", "p4", {"partitions": 4}),
    # issue 21: supervised TCP connections
    ("trio_otp", "W10"): ("bench.otp", "w10", {}),
    ("floor", "W10"): ("bench.floor", "w10", {}),
}


def resolve(impl: str, workload: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    module, name, fixed = TABLE[(impl, workload)]
    fn = getattr(importlib.import_module(module), name)
    return functools.partial(fn, **fixed)


def source_digest() -> str:
    """A short digest of trio_otp's source: shows whether it changed during a run."""
    import hashlib
    from pathlib import Path

    import trio_otp

    h = hashlib.sha1()
    for path in sorted(Path(trio_otp.__file__).parent.rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def seed_scheduler() -> None:
    """Seed trio's scheduler (``BENCH_TRIO_SEED``) so that its batch order repeats.

    trio shuffles or reverses each batch of runnable tasks with a private
    ``random.Random``; the instruction counter (bench/instructions.py) seeds it so
    that two runs of the same program schedule alike and count alike.
    """
    seed = os.environ.get("BENCH_TRIO_SEED")
    if seed is not None:
        import trio._core._run as run

        run._r.seed(int(seed))


def main(argv: list[str]) -> int:
    impl, workload, params = argv[0], argv[1], json.loads(argv[2])
    seed_scheduler()
    logging_note = silence_crash_reports()
    tracing = bool(params.pop("tracemalloc", False))
    runs = int(params.pop("runs", 1))
    fn = resolve(impl, workload)
    if tracing:
        tracemalloc.start()
    t0 = now()
    metrics = median_of_runs(lambda: trio.run(functools.partial(fn, **params)), runs)
    emit(
        {
            "impl": impl,
            "workload": workload,
            "params": params,
            "tracemalloc": tracing,
            "metrics": metrics,
            "wall_s": now() - t0,
            "logging": logging_note,
            "versions": {"python": sys.version.split()[0], "trio": trio.__version__},
            "trio_otp_source": source_digest(),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
