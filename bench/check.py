"""The regression gate: compare a run's ratios to the floor with a committed baseline.

``python -m bench --check`` runs the quick profile (no peers) and compares, for every
trio_otp metric that has a ratio to its floor, the median ratio with the one stored in
``bench/baseline.json``. A ratio that is worse than the baseline's by more than the
tolerance fails the gate (exit status 1). Only ratios taken in the same repetition as
their floor are compared, never absolute times: the machines are shared and noisy,
and a ratio cancels most of that noise.

``python -m bench --check --update-baseline`` writes the baseline from the run instead
of comparing (see bench/README.md, "Regression gate", for when to do that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent / "baseline.json"

#: The default tolerance: a ratio may be this much worse than the baseline's (relative)
#: before the gate fails. Set from the spread of quick runs on the project's 2-core
#: machine (bench/README.md says how it was measured).
TOLERANCE = 0.25

#: The library's own implementations, whose ratios the gate keeps: the chapter-shaped
#: workloads on trio_otp, and the JobQueue component on W4/W6 (bench/jobqueue.py).
GATED_IMPLS = ("trio_otp", "trio_otp-jq")

#: The workloads the gate runs. W7 is left out: it measures how CPU-bound jobs spread
#: over the host's cores (trio-parallel, Ray) against those same engines used raw,
#: which on a shared machine depends on what the other processes do with the cores,
#: not on trio_otp's hot paths; and Ray is an optional extra. W2 is left out too
#: (issue 22): a quick W2 lasts about 0.1 s, shorter than the host's swings, and
#: failed at 1.015 against a baseline of 1.658 with no change to the call path; the
#: instruction gate (``python -m bench --instructions --check``) judges W2 instead.
GATED_WORKLOADS = ("W1", "W3", "W4", "W5", "W6", "M1", "T1")

#: Metrics the gate leaves out: a quick run's p99 is the 10th-worst of ~1,000
#: latencies (W4) or the 3rd-worst of 300 (W5), set by the machine's hiccups: on the
#: merged tree its ratio moved from 0.70 to 1.67 between two runs of the same code.
#: Full runs report it; the gate keeps p50 and the means.
UNGATED_METRICS = ("p99_us",)


def _key(row: dict[str, Any]) -> str:
    impl = "" if row["impl"] == "trio_otp" else f" {row['impl']}"
    return f"{row['case']} {row['metric']}{impl} vs {row['floor']}"


def workload(key: str) -> str:
    """The workload a baseline key belongs to: ``"W3-10k calls_per_s vs ..."`` → ``"W3"``."""
    return key.split(" ", 1)[0].split("-", 1)[0]


def ratios(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows of the library's implementations that have a ratio to their floor.

    Keys name the implementation when it is not the chapter-shaped trio_otp one
    (``"W4 jobs_per_s trio_otp-jq vs floor"``); workloads outside
    :data:`GATED_WORKLOADS` are left out.

    Returns:
        ``{"W4 jobs_per_s vs floor": {"ratio": median, "direction": "higher"}, ...}``
    """
    out: dict[str, dict[str, Any]] = {}
    for row in summary["rows"]:
        stats = row.get("ratio_to_floor")
        if (
            row["impl"] not in GATED_IMPLS
            or workload(row["case"]) not in GATED_WORKLOADS
            or row["metric"] in UNGATED_METRICS
            or not stats
            or row["direction"] not in ("higher", "lower")
        ):
            continue
        out[_key(row)] = {"ratio": stats["median"], "direction": row["direction"]}
    return out


def write_baseline(summary: dict[str, Any], meta: dict[str, Any], path: Path = BASELINE) -> None:
    """Store the run's ratios as the new baseline."""
    doc = {
        "about": (
            "Ratios of trio_otp to the raw-trio floor (median over the repetitions of a "
            "quick run). Refresh with `python -m bench --check --update-baseline` on a "
            "quiet machine; see bench/README.md."
        ),
        "made": {k: meta.get(k) for k in ("started", "mode", "reps", "python", "trio", "loadavg")},
        "ratios": ratios(summary),
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def compare(
    summary: dict[str, Any], baseline: dict[str, Any], tolerance: float = TOLERANCE
) -> tuple[list[str], list[str]]:
    """Compare a run with a baseline.

    A ratio where higher is better fails when it is below ``base * (1 - tolerance)``;
    one where lower is better (times, memory) when it is above
    ``base * (1 + tolerance)``. A metric in the baseline that the run did not measure
    fails too (a workload that stopped working must not pass the gate silently).

    Returns:
        ``(lines, failures)``: one line per compared metric, and the failing ones.
    """
    now = ratios(summary)
    lines: list[str] = []
    failures: list[str] = []
    for key, base in sorted(baseline["ratios"].items()):
        if key not in now:
            line = f"FAIL  {key}: baseline {base['ratio']:.3f}, not measured in this run"
            lines.append(line)
            failures.append(line)
            continue
        ratio = now[key]["ratio"]
        if base["direction"] == "higher":
            limit = base["ratio"] * (1 - tolerance)
            bad = ratio < limit
        else:
            limit = base["ratio"] * (1 + tolerance)
            bad = ratio > limit
        change = (ratio / base["ratio"] - 1) * 100 if base["ratio"] else 0.0
        line = (
            f"{'FAIL' if bad else 'ok  '}  {key}: {ratio:.3f} (baseline {base['ratio']:.3f}, "
            f"{change:+.0f}%, limit {limit:.3f}, {base['direction']} is better)"
        )
        lines.append(line)
        if bad:
            failures.append(line)
    for key in sorted(set(now) - set(baseline["ratios"])):
        lines.append(f"new   {key}: {now[key]['ratio']:.3f} (not in the baseline)")
    return lines, failures


def load_baseline(path: Path = BASELINE) -> dict[str, Any]:
    """Read the committed baseline.

    Raises:
        SystemExit: if there is none yet, with the command that makes one.
    """
    if not path.exists():
        raise SystemExit(
            f"no baseline at {path}: make one on a quiet machine with "
            "`python -m bench --check --update-baseline`"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data
