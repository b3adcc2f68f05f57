"""The benchmark regression gate's comparison (bench/check.py), on made-up summaries.

The gate itself runs benchmarks and is never part of the test suite; what is tested
here is its verdict: which ratios pass, which fail, in which direction.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import _bench
import pytest


@pytest.fixture(scope="module")
def check() -> ModuleType:
    return _bench.load("check")


def row(case: str, metric: str, direction: str, ratio: float | None, impl: str = "trio_otp"):
    out: dict[str, Any] = {
        "case": case,
        "metric": metric,
        "direction": direction,
        "floor": "floor",
        "impl": impl,
    }
    if ratio is not None:
        out["ratio_to_floor"] = {"median": ratio}
    return out


def summary(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"rows": list(rows), "checks": []}


BASE = {
    "ratios": {
        "W4 jobs_per_s vs floor": {"ratio": 0.60, "direction": "higher"},
        "W5 mean_us vs floor": {"ratio": 1.40, "direction": "lower"},
    }
}


def test_ratios_keep_only_trio_otp_rows_with_a_ratio(check: ModuleType) -> None:
    """Floors, peers, info metrics and rows without a ratio are not part of a baseline."""
    got = check.ratios(
        summary(
            row("W4", "jobs_per_s", "higher", 0.6),
            row("W4", "jobs_per_s", "higher", 0.1, impl="triotp"),
            row("W4", "restarts", "info", 1.0),
            row("W5", "mean_us", "lower", None),
        )
    )
    assert got == {"W4 jobs_per_s vs floor": {"ratio": 0.6, "direction": "higher"}}


def test_within_tolerance_passes_in_both_directions(check: ModuleType) -> None:
    """A rate 10% lower and a latency 10% higher pass a 15% tolerance."""
    run = summary(row("W4", "jobs_per_s", "higher", 0.54), row("W5", "mean_us", "lower", 1.54))
    lines, failures = check.compare(run, BASE, 0.15)
    assert failures == []
    assert len(lines) == 2


def test_worse_than_tolerance_fails_in_the_right_direction(check: ModuleType) -> None:
    """A rate 20% lower fails; a latency 20% lower (better) passes."""
    run = summary(row("W4", "jobs_per_s", "higher", 0.48), row("W5", "mean_us", "lower", 1.12))
    _, failures = check.compare(run, BASE, 0.15)
    assert [f.split(":")[0] for f in failures] == ["FAIL  W4 jobs_per_s vs floor"]


def test_a_latency_that_grew_fails(check: ModuleType) -> None:
    """Lower is better for times: a 20% higher ratio fails."""
    run = summary(row("W4", "jobs_per_s", "higher", 0.6), row("W5", "mean_us", "lower", 1.68))
    _, failures = check.compare(run, BASE, 0.15)
    assert [f.split(":")[0] for f in failures] == ["FAIL  W5 mean_us vs floor"]


def test_a_metric_missing_from_the_run_fails(check: ModuleType) -> None:
    """A workload that stopped measuring cannot pass the gate silently."""
    _, failures = check.compare(summary(row("W4", "jobs_per_s", "higher", 0.6)), BASE, 0.15)
    assert failures == ["FAIL  W5 mean_us vs floor: baseline 1.400, not measured in this run"]


def test_new_metrics_are_listed_not_judged(check: ModuleType) -> None:
    """A ratio the baseline does not have yet is shown as new."""
    run = summary(
        row("W4", "jobs_per_s", "higher", 0.6),
        row("W5", "mean_us", "lower", 1.4),
        row("M1", "downs_per_s", "higher", 0.9),
    )
    lines, failures = check.compare(run, BASE, 0.15)
    assert failures == []
    assert lines[-1] == "new   M1 downs_per_s vs floor: 0.900 (not in the baseline)"


def test_the_job_queue_component_is_gated_under_its_own_key(check: ModuleType) -> None:
    """The JobQueue component's ratios are kept beside the chapter-shaped queue's."""
    got = check.ratios(
        summary(
            row("W4", "jobs_per_s", "higher", 0.6),
            row("W4", "jobs_per_s", "higher", 0.55, impl="trio_otp-jq"),
        )
    )
    assert got == {
        "W4 jobs_per_s vs floor": {"ratio": 0.6, "direction": "higher"},
        "W4 jobs_per_s trio_otp-jq vs floor": {"ratio": 0.55, "direction": "higher"},
    }


def test_tail_latencies_are_not_gated(check: ModuleType) -> None:
    """A quick run's p99 is a handful of samples, so the gate keeps p50 and leaves p99 out."""
    got = check.ratios(
        summary(row("W4", "p50_us", "lower", 1.2), row("W4", "p99_us", "lower", 1.7))
    )
    assert got == {"W4 p50_us vs floor": {"ratio": 1.2, "direction": "lower"}}


def test_the_cpu_bound_executor_workload_is_not_gated(check: ModuleType) -> None:
    """W7's executor ratios depend on the host's free cores, so the gate leaves them out."""
    got = check.ratios(
        summary(
            row("W7", "jobs_per_s", "higher", 1.7, impl="jq-parallel"),
            row("W7", "jobs_per_s", "higher", 0.9, impl="trio_otp-jq"),
            row("W1", "calls_per_s", "higher", 0.9),
        )
    )
    assert got == {"W1 calls_per_s vs floor": {"ratio": 0.9, "direction": "higher"}}
    assert "W7" not in check.GATED_WORKLOADS


def test_workload_of_a_key(check: ModuleType) -> None:
    """Keys of sized cases (W3-10k) belong to their workload (W3) for --only."""
    assert check.workload("W3-10k children_per_s vs floor-waited") == "W3"
    assert check.workload("W4 jobs_per_s vs floor") == "W4"


def test_missing_baseline_says_how_to_make_one(check: ModuleType, tmp_path: Path) -> None:
    """Without a baseline the gate stops with the command that writes one."""
    with pytest.raises(SystemExit, match="--update-baseline"):
        check.load_baseline(tmp_path / "baseline.json")


@pytest.fixture(scope="module")
def report() -> ModuleType:
    if not (_bench.BENCH / "check.py").exists():  # pragma: no cover - an sdist without bench/
        pytest.skip("bench/ is not part of this tree")
    root = str(_bench.BENCH.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("bench.report")


def test_speed_up_is_judged_per_core_of_the_same_repetition(report: ModuleType) -> None:
    """W7's speed-up is each repetition's ratio divided by the cores that repetition got."""
    plan = importlib.import_module("bench.plan")

    def m(rep: int, impl: str, jobs: float, cores: float) -> dict[str, Any]:
        metrics = {"jobs_per_s": jobs, "cores": cores}
        return {"case": "W7", "impl": impl, "rep": rep, "ok": True, "metrics": metrics}

    ms = [
        m(1, "jq-inproc", 50.0, 1.9),
        m(1, "jq-parallel", 90.0, 1.8),  # 1.8x on 1.8 cores: 1.0 per core
        m(2, "jq-inproc", 50.0, 2.0),
        m(2, "jq-parallel", 80.0, 5.0),  # a check above the host's count counts as the host's
        m(3, "jq-inproc", 50.0, 2.0),
        m(3, "jq-parallel", 60.0, 0.0),  # no check: the repetition is not judged
    ]
    host = min(5.0, os.cpu_count() or 1)
    c = plan.Check("W7", "jobs_per_s", "x", ">=", 0.85, "jq-inproc", "jq-parallel", per_core=True)
    judged = report.judge(c, ms)
    assert judged["observed"]["per_rep"] == [1.0, 1.6 / host]
    assert judged["observed"]["n"] == 2


def test_a_measurement_is_the_median_of_its_runs(report: ModuleType) -> None:
    """Each numeric figure of a multi-run measurement is the median of its runs; flags
    and texts are the last run's; the run count is recorded."""
    measure = importlib.import_module("bench._measure")
    figures = iter(
        [
            {"jobs_per_s": 10.0, "p99_us": 5, "ok": True},
            {"jobs_per_s": 30.0, "p99_us": 1, "ok": True},
            {"jobs_per_s": 20.0, "p99_us": 9, "ok": False},
        ]
    )
    got = measure.median_of_runs(lambda: next(figures), 3)
    assert got == {"jobs_per_s": 20.0, "p99_us": 5, "ok": False, "runs": 3}
