"""The instruction gate's judging logic (bench/instructions.py), on made-up counts.

The gate itself runs cachegrind and is never part of the test suite; what is tested
here is its arithmetic and its verdict: the two-size difference, regions, ratios
against the floor of the same rerun, the spread-based tolerance, the count rise
that only counts in the baseline's environment, and the process-ending mark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType
from typing import Any

import _bench
import pytest

ENV = {"python": "3.11.7", "valgrind": "valgrind-3.19.0", "lock": "abc"}


@pytest.fixture(scope="module")
def instr() -> ModuleType:
    return _bench.load("instructions")


def measured(instr: ModuleType, workload: str, impls: dict[str, list[float]]) -> dict[Any, Any]:
    return {(workload, impl): instr.Measured(workload, impl, v) for impl, v in impls.items()}


def row(ratio: float, per_unit: float, spread: float = 0.0, gated: bool = True) -> dict[str, Any]:
    return {
        "ratio": ratio,
        "ratio_spread": spread,
        "per_unit": per_unit,
        "unit": "job",
        "gated": gated,
    }


def test_per_unit_is_the_difference_over_the_units(instr: ModuleType) -> None:
    """(I_big - I_small) / (units_big - units_small): start-up and warm-up cancel out."""
    w1 = instr.BY_NAME["W1"]
    startup = 1_400_000_000
    counts = {
        ("small", "end"): startup + 100_000 * w1.small["n"],
        ("big", "end"): startup + 100_000 * w1.big["n"],
    }
    assert instr.per_unit(w1, counts) == 100_000


def test_a_region_subtracts_its_begin_mark_at_both_sizes(instr: ModuleType) -> None:
    """M1 counts monitors and Downs only: the targets' starts before the region cancel."""
    m1 = instr.BY_NAME["M1"]
    progs = instr.programs(m1, "trio_otp")
    assert set(progs) == {("small", "begin"), ("small", "end"), ("big", "begin"), ("big", "end")}
    assert progs[("big", "begin")].exit_at == "m1-begin"
    assert progs[("big", "end")].exit_at == "m1-end"

    def at(n: int, point: str) -> int:
        before = 1_000 + 300_000 * n  # the targets' starts: not part of the region
        return before + (120_000 * n if point == "end" else 0)

    counts = {
        (size, point): at(getattr(m1, size)["n"], point)
        for size in ("small", "big")
        for point in ("begin", "end")
    }
    assert instr.per_unit(m1, counts) == 120_000
    # W3's region starts at the process start: one mark, at the end.
    assert set(instr.programs(instr.BY_NAME["W3"], "trio_otp")) == {
        ("small", "end"),
        ("big", "end"),
    }


def test_ratios_are_floor_over_impl_per_rerun_then_median(instr: ModuleType) -> None:
    """Each rerun's ratio uses the floor of the same rerun; the spread is max - min."""
    data = measured(
        instr,
        "W4",
        {
            "floor": [120.0, 121.0, 119.0],
            "trio_otp": [150.0, 150.0, 150.0],
            "trio_otp-jq": [160.0, 160.0, 160.0],
            "limit": [75.0, 75.0, 75.0],
        },
    )
    rows = instr.summarize(data)
    assert set(rows) == {"W4 trio_otp", "W4 trio_otp-jq", "W4 limit"}
    r = rows["W4 trio_otp"]
    assert r["ratio"] == pytest.approx(120 / 150)
    assert r["ratio_spread"] == pytest.approx((121 - 119) / 150)
    assert r["floor_per_unit"] == 120.0
    assert r["gated"] is True
    assert rows["W4 limit"]["gated"] is False  # a reference row


def test_targets_report_the_component_against_the_chapter(instr: ModuleType) -> None:
    data = measured(instr, "W4", {"floor": [120.0], "trio_otp": [150.0], "trio_otp-jq": [156.0]})
    found = {what: (t, value, met) for what, t, value, met in instr.targets(instr.summarize(data))}
    assert found["W4 floor ÷ trio_otp"] == (1.0, pytest.approx(0.8), False)
    _target, value, met = found["W4 chapter ÷ JobQueue component"]
    assert value == pytest.approx(150 / 156)
    assert met  # within 5 %


def test_tolerance_is_the_measured_spread_widened_with_a_minimum(instr: ModuleType) -> None:
    """SPREAD_FACTOR times the larger spread (baseline's or this run's), at least MIN_TOLERANCE."""
    assert instr.tolerance(row(1.0, 1, spread=0.0), row(1.0, 1, spread=0.0)) == pytest.approx(
        instr.MIN_TOLERANCE
    )
    wide = instr.tolerance(row(1.0, 1, spread=0.01), row(1.0, 1, spread=0.02))
    assert wide == pytest.approx(instr.SPREAD_FACTOR * 0.02)


def test_a_ratio_that_falls_by_more_than_its_tolerance_fails(instr: ModuleType) -> None:
    base = {"env": ENV, "rows": {"W4 trio_otp": row(0.80, 150_000)}}
    _, failures = instr.compare({"W4 trio_otp": row(0.795, 150_000)}, ENV, base)
    assert failures == []  # within 1 % of 0.80
    _lines, failures = instr.compare({"W4 trio_otp": row(0.78, 150_000)}, ENV, base)
    assert len(failures) == 1
    assert "floor ÷ impl 0.780" in failures[0]
    assert failures[0].startswith("FAIL")


def test_a_better_ratio_passes(instr: ModuleType) -> None:
    base = {"env": ENV, "rows": {"W4 trio_otp": row(0.80, 150_000)}}
    _, failures = instr.compare({"W4 trio_otp": row(1.05, 110_000)}, ENV, base)
    assert failures == []


def test_a_count_that_rises_fails_only_in_the_baselines_environment(instr: ModuleType) -> None:
    """The floor may rise with the code it stands for; an implementation's own count
    rising by more than RISE fails even when its ratio holds, if the counts compare."""
    base = {"env": ENV, "rows": {"W4 trio_otp": row(0.80, 150_000)}}
    risen = {"W4 trio_otp": row(0.80, 150_000 * (1 + instr.RISE) + 1)}
    _, failures = instr.compare(risen, ENV, base)
    assert len(failures) == 1
    assert "instr/job" in failures[0]
    other = ENV | {"python": "3.11.9"}
    lines, failures = instr.compare(risen, other, base)
    assert failures == []
    assert lines[0].startswith("note")
    assert "python" in lines[0]
    assert instr.same_environment(ENV, other) == ["python"]


def test_a_row_the_run_did_not_measure_fails_and_references_are_not_judged(
    instr: ModuleType,
) -> None:
    base = {
        "env": ENV,
        "rows": {"W4 trio_otp": row(0.80, 150_000), "W4 limit": row(1.6, 75_000, gated=False)},
    }
    _lines, failures = instr.compare({"W4 limit": row(0.1, 1_000_000, gated=False)}, ENV, base)
    assert failures == ["FAIL  W4 trio_otp: not measured in this run"]
    _, failures = instr.compare({"W4 trio_otp": row(0.80, 150_000)}, ENV, base)
    assert failures == []


def test_only_leaves_the_other_workloads_out(instr: ModuleType) -> None:
    base = {"env": ENV, "rows": {"W4 trio_otp": row(0.80, 150_000), "S1 trio_otp": row(0.5, 1)}}
    lines, failures = instr.compare({"W4 trio_otp": row(0.80, 150_000)}, ENV, base, only=["W4"])
    assert failures == []
    assert not any("S1" in line for line in lines)


def test_new_rows_are_reported_not_judged(instr: ModuleType) -> None:
    base = {"env": ENV, "rows": {}}
    lines, failures = instr.compare({"S1 trio_otp": row(0.5, 200_000)}, ENV, base)
    assert failures == []
    assert lines == ["new   S1 trio_otp: floor ÷ impl 0.500 (not in the baseline)"]


def test_options_are_checked(instr: ModuleType) -> None:
    with pytest.raises(SystemExit):
        instr.parse_args(["--only", "W9"])
    with pytest.raises(SystemExit):
        instr.parse_args(["--update-baseline", "--reps", "1"])
    with pytest.raises(SystemExit):
        instr.parse_args(["--update-baseline", "--only", "W1"])
    args = instr.parse_args(["--only", "w1,m1", "--check"])
    assert args.only == ["W1", "M1"]
    assert args.check


def test_every_workload_has_a_target_and_distinct_sizes(instr: ModuleType) -> None:
    for w in instr.WORKLOADS:
        assert w.units(w.big) > w.units(w.small), w.name
        assert w.name in instr.TARGETS


@pytest.mark.parametrize(("label", "ends"), [("w3-started", True), ("m1-end", False)])
def test_mark_ends_the_process_only_at_its_label(label: str, ends: bool) -> None:
    """``bench._measure.mark`` ends the process there: cachegrind counts up to it."""
    code = (
        "from bench._measure import mark\n"
        "print('before', flush=True)\n"
        "mark('w3-started')\n"
        "print('after')\n"
    )
    env = dict(os.environ, BENCH_EXIT_AT=label, PYTHONPATH=str(_bench.BENCH.parent))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == (["before"] if ends else ["before", "after"])
