"""The observer's cost by the instruction method (issue 20): W4 with and without one.

``python -m bench.observer_cost`` counts W4's instructions per job (cachegrind, two
sizes, as ``python -m bench --instructions`` does) for trio_otp alone, with an
observer running (``trio_otp-observed``: telemetry handlers attached, counting
wrappers on the servers it has seen, the scheduler instrument sampled) and with a
page open too (``trio_otp-observed-page``: a snapshot every second), and prints each
against trio_otp alone. The target: observed ÷ alone ≤ 1.1. Needs hypercorn (the
``observer`` extra), so it is not in the gated rows (whose environment is
bench/instructions.lock). Under cachegrind a second of wall time holds far fewer jobs
than a real run, so the page's per-second snapshots weigh more per job here than in
production: the page row is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import sys

from .instructions import Workload, _clients_x, _median, compile_bytecode, measure

TARGET = 1.1

W4_OBSERVED = Workload(
    "W4",
    "W4",
    "trio_otp",  # the row everything is compared with: trio_otp alone
    ("trio_otp-observed", "trio_otp-observed-page"),
    {"clients": 10, "jobs_each": 20, "warmup": 100},
    {"clients": 10, "jobs_each": 120, "warmup": 100},
    _clients_x("jobs_each"),
    "job",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observer_cost", description=__doc__)
    parser.add_argument("--reps", type=int, default=1, help="reruns of each (default 1)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    python = sys.executable
    compile_bytecode(python)
    measured = measure([W4_OBSERVED], reps=args.reps, jobs=args.jobs, python=python)
    alone = _median(measured[("W4", "trio_otp")].per_unit)
    print(f"W4 instructions per job, trio_otp alone: {alone:,.0f}")
    ratios = {}
    for impl in W4_OBSERVED.impls:
        per_unit = _median(measured[("W4", impl)].per_unit)
        ratios[impl] = per_unit / alone
        print(f"  {impl}: {per_unit:,.0f} ({ratios[impl]:.3f} x alone)")
    met = ratios["trio_otp-observed"] <= TARGET
    print(
        f"target: an observer running costs at most {TARGET} x alone: {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
