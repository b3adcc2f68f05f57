"""Instructions per unit: the load-independent figures and their gate (issue 22).

``python -m bench --instructions`` runs each workload's bench process (``python -m
bench.worker IMPL WORKLOAD PARAMS``) under ``valgrind --tool=cachegrind
--cache-sim=no`` at two sizes and reports ``(I_big - I_small) / (units_big -
units_small)``: start-up, imports, warm-up and teardown cancel out, and what is left is
the cost of one unit (a call, a start, a job, a lookup...). Counts do not move with the
machine's load, so the gate (``--check``) judges them, on a shared machine too.

A region (W3's starts without the stop, M1's timed part without its targets' starts)
is counted by ending the process at a mark (``bench._measure.mark``): the count up to
the end mark less the count up to the begin mark, at both sizes.

Every run pins what moves the counts: ``PYTHONHASHSEED=0``, trio's scheduler seeded
(``BENCH_TRIO_SEED``, bench/worker.py), byte code compiled beforehand. The rest of
the environment (interpreter, valgrind, the packages of ``bench/instructions.lock``)
is recorded with the results; the gate compares absolute counts only when it matches
the baseline's, and always compares the ratios ``floor ÷ trio_otp`` measured in the
same run. See bench/README.md, "Instructions per unit".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BASELINE = BENCH_DIR / "instructions_baseline.json"
LOCK = BENCH_DIR / "instructions.lock"
RESULTS = BENCH_DIR / "results"

#: A trio_otp count may rise this much (relative) over the baseline's before the
#: gate fails, when the environment is the baseline's (otherwise counts are not
#: compared, only ratios).
RISE = 0.03

#: A ratio's tolerance is this many times its measured spread (the larger of the
#: baseline's and this run's: max - min over the reruns) ...
SPREAD_FACTOR = 3.0
#: ... and never less than this fraction of the ratio (a spread of 0 over two reruns
#: does not mean that one more instruction is a regression).
MIN_TOLERANCE = 0.01

#: Reruns of every program unless --reps says otherwise.
REPS = 2

#: The pinned hash seed and trio scheduler seed of every run.
HASHSEED = "0"
TRIO_SEED = "0"


@dataclass(frozen=True)
class Workload:
    """One row: a workload, its floor and the trio_otp implementations measured on it.

    ``small``/``big``: the worker's parameters at the two sizes; ``units``: the units of
    work a parameter set does; ``region``: the (begin, end) marks of a counted region,
    begin ``None`` for "from the start of the process".
    """

    name: str
    workload: str
    floor: str
    impls: tuple[str, ...]
    small: dict[str, Any]
    big: dict[str, Any]
    units: Callable[[dict[str, Any]], int]
    unit: str
    region: tuple[str | None, str] | None = None
    #: Reference rows: measured and shown, never judged (W4's "limit").
    references: tuple[str, ...] = ()
    notes: str = ""


def _n(p: dict[str, Any]) -> int:
    return int(p["n"])


def _clients_x(key: str) -> Callable[[dict[str, Any]], int]:
    return lambda p: int(p["clients"]) * int(p[key])


WORKLOADS: tuple[Workload, ...] = (
    Workload("W1", "W1", "floor-public", ("trio_otp",), {"n": 1000, "warmup": 100},
             {"n": 5000, "warmup": 100}, _n, "call"),
    Workload("W2", "W2", "floor-public", ("trio_otp",),
             {"clients": 20, "calls": 50, "warmup": 100},
             {"clients": 20, "calls": 250, "warmup": 100}, _clients_x("calls"), "call"),
    Workload("W3", "W3", "floor-waited", ("trio_otp",), {"n": 500, "warmup": 100},
             {"n": 2500, "warmup": 100}, _n, "start", region=(None, "w3-started"),
             notes="starts only (the count ends after the last start_child)"),
    Workload("W4", "W4", "floor", ("trio_otp", "trio_otp-jq"),
             {"clients": 10, "jobs_each": 20, "warmup": 100},
             {"clients": 10, "jobs_each": 120, "warmup": 100}, _clients_x("jobs_each"), "job",
             references=("limit",)),
    Workload("W5", "W5", "floor", ("trio_otp",), {"n": 50, "warmup": 10},
             {"n": 250, "warmup": 10}, _n, "crash"),
    Workload("W6", "W6", "floor", ("trio_otp", "trio_otp-jq"),
             {"clients": 10, "jobs_each": 20}, {"clients": 10, "jobs_each": 120},
             _clients_x("jobs_each"), "job"),
    Workload("R1", "R1", "floor", ("trio_otp",), {"keys": 1000, "lookups": 20000},
             {"keys": 1000, "lookups": 100000}, lambda p: int(p["lookups"]), "lookup"),
    Workload("R2", "R2", "floor", ("trio_otp",), {"subscribers": 100, "messages": 20},
             {"subscribers": 100, "messages": 100},
             lambda p: int(p["subscribers"]) * int(p["messages"]), "delivery"),
    Workload("S1", "S1", "floor", ("trio_otp",), {"items": 1000, "max_concurrency": 100},
             {"items": 5000, "max_concurrency": 100}, lambda p: int(p["items"]), "item"),
    Workload("M1", "M1", "floor", ("trio_otp",), {"n": 1000, "warmup": 100},
             {"n": 5000, "warmup": 100}, _n, "monitor+Down", region=("m1-begin", "m1-end"),
             notes="the timed region: monitors and Downs, not the targets' starts"),
    Workload("T1", "T1", "floor", ("trio_otp",), {"n": 1000, "warmup": 100},
             {"n": 5000, "warmup": 100}, _n, "timer"),
)  # fmt: skip

BY_NAME = {w.name: w for w in WORKLOADS}

#: Issue 22's targets, floor ÷ trio_otp in the gate's own run (reported, not gated:
#: the gate judges against the baseline).
TARGETS: dict[str, float] = {
    "W1": 0.98, "W2": 1.45, "W3": 1.05, "W4": 1.0, "W5": 0.9, "W6": 0.9,
    "R1": 0.6, "R2": 1.0, "S1": 0.75, "M1": 0.8, "T1": 4.0,
}  # fmt: skip
#: The JobQueue component (trio_otp-jq) within 5 % of the chapter-shaped queue.
COMPONENT_TARGET = 0.95


# -- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """One process to count: an implementation of a workload at one size, up to a mark."""

    workload: str
    impl: str
    params: tuple[tuple[str, Any], ...]
    exit_at: str = ""

    def argv(self, python: str) -> list[str]:
        return [python, "-m", "bench.worker", self.impl, self.workload,
                json.dumps(dict(self.params))]  # fmt: skip


def programs(w: Workload, impl: str) -> dict[tuple[str, str], Program]:
    """The processes a row needs: ``(size, point)`` → program; point "begin"/"end"."""
    out: dict[tuple[str, str], Program] = {}
    for size, params in (("small", w.small), ("big", w.big)):
        frozen = tuple(sorted(params.items()))
        if w.region is None:
            out[(size, "end")] = Program(w.workload, impl, frozen)
        else:
            begin, end = w.region
            out[(size, "end")] = Program(w.workload, impl, frozen, end)
            if begin is not None:
                out[(size, "begin")] = Program(w.workload, impl, frozen, begin)
    return out


def valgrind() -> str:
    path = shutil.which("valgrind")
    if path is None:
        raise SystemExit(
            "valgrind is not installed: `apt-get install valgrind` (the instruction "
            "counts need cachegrind)"
        )
    return path


def count(program: Program, python: str, workdir: Path) -> int:
    """The instructions (cachegrind's ``Ir``) of one run of ``program``."""
    fd, out = tempfile.mkstemp(prefix="cg.", dir=workdir)
    os.close(fd)
    env = dict(os.environ)
    env.update(
        PYTHONHASHSEED=HASHSEED,
        BENCH_TRIO_SEED=TRIO_SEED,
        BENCH_EXIT_AT=program.exit_at,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    cmd = [valgrind(), "--tool=cachegrind", "--cache-sim=no",
           f"--cachegrind-out-file={out}", *program.argv(python)]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    try:
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-4:])
            raise RuntimeError(f"{program}: exit {done.returncode}: {tail}")
        if not program.exit_at and "RESULT " not in done.stdout:
            raise RuntimeError(f"{program}: no RESULT line")
        for line in Path(out).read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
        raise RuntimeError(f"{program}: no summary in cachegrind's output")
    finally:
        Path(out).unlink(missing_ok=True)


def per_unit(w: Workload, counts: dict[tuple[str, str], int]) -> float:
    """``(I_big - I_small) / (units_big - units_small)``, regions subtracted."""

    def at(size: str) -> int:
        return counts[(size, "end")] - counts.get((size, "begin"), 0)

    return (at("big") - at("small")) / (w.units(w.big) - w.units(w.small))


def environment(python: str) -> dict[str, Any]:
    """What the counts depend on, recorded with them (the gate compares it)."""
    probe = (
        "import json, sys, platform, importlib.metadata as m\n"
        "d = {}\n"
        "for p in ('trio', 'attrs', 'outcome', 'sniffio', 'sortedcontainers', 'idna'):\n"
        "    try: d[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: d[p] = None\n"
        "print(json.dumps([sys.version.split()[0], platform.python_implementation(), d]))"
    )
    got = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    version, implementation, packages = json.loads(got.stdout)
    vg = subprocess.run([valgrind(), "--version"], capture_output=True, text=True, check=True)
    return {
        "python": version,
        "implementation": implementation,
        "machine": platform.machine(),
        "valgrind": vg.stdout.strip(),
        "packages": packages,
        "lock": hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16] if LOCK.exists() else None,
        "PYTHONHASHSEED": HASHSEED,
        "trio_seed": TRIO_SEED,
    }


def compile_bytecode(python: str) -> None:
    """Compile trio_otp and bench once, so that no counted run compiles a module.

    Not bench/.venvs: W9's peers' virtual environments (another Python's packages,
    made by ``nox -s postgres``) are none of the gate's code."""
    subprocess.run([python, "-m", "compileall", "-q", "-x", r"[/\\]\.venvs[/\\]",
                    str(REPO / "trio_otp"), str(REPO / "bench")],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([python, "-c", "import bench.worker, bench.otp, bench.floor, bench.jobqueue"],
                   cwd=REPO, check=True, capture_output=True)  # fmt: skip


@dataclass
class Measured:
    """Per-unit counts of one implementation of one workload, one per rerun."""

    workload: str
    impl: str
    per_unit: list[float] = field(default_factory=list)


def measure(
    selected: Iterable[Workload],
    *,
    reps: int,
    jobs: int,
    python: str,
    say: Callable[[str], None] = print,
) -> dict[tuple[str, str], Measured]:
    """Count every program of the selected workloads ``reps`` times."""
    rows: list[tuple[Workload, str]] = []
    for w in selected:
        for impl in (w.floor, *w.impls, *w.references):
            rows.append((w, impl))
    tasks: list[tuple[int, Workload, str, tuple[str, str], Program]] = []
    for rep in range(reps):
        for w, impl in rows:
            for key, prog in programs(w, impl).items():
                tasks.append((rep, w, impl, key, prog))
    say(f"counting {len(tasks)} runs under cachegrind, {jobs} at a time")
    workdir = Path(tempfile.mkdtemp(prefix="bench-instr."))
    results: dict[tuple[int, str, str], dict[tuple[str, str], int]] = {}
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [
                (rep, w, impl, key, pool.submit(count, prog, python, workdir))
                for rep, w, impl, key, prog in tasks
            ]
            for i, (rep, w, impl, key, fut) in enumerate(futures, 1):
                results.setdefault((rep, w.name, impl), {})[key] = fut.result()
                if i % 10 == 0 or i == len(futures):
                    say(f"  {i}/{len(futures)} runs, {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out: dict[tuple[str, str], Measured] = {}
    for (_rep, name, impl), counts in sorted(results.items()):
        m = out.setdefault((name, impl), Measured(name, impl))
        m.per_unit.append(per_unit(BY_NAME[name], counts))
    return out


# -- the table ------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summarize(measured: dict[tuple[str, str], Measured]) -> dict[str, dict[str, Any]]:
    """The gate's rows: ``"W4 trio_otp"`` → per-unit counts, the floor's, the ratio.

    A row's ratio is ``floor ÷ implementation`` per rerun (the floor of the same
    rerun), then the median; ``ratio_spread`` is max - min over the reruns.
    """
    rows: dict[str, dict[str, Any]] = {}
    for w in WORKLOADS:
        floor = measured.get((w.name, w.floor))
        if floor is None:
            continue
        for impl in (*w.impls, *w.references):
            m = measured.get((w.name, impl))
            if m is None:
                continue
            ratios = [f / v for f, v in zip(floor.per_unit, m.per_unit, strict=True)]
            rows[f"{w.name} {impl}"] = {
                "workload": w.name,
                "impl": impl,
                "floor": w.floor,
                "unit": w.unit,
                "gated": impl not in w.references,
                "per_unit": _median(m.per_unit),
                "per_unit_spread": max(m.per_unit) - min(m.per_unit),
                "floor_per_unit": _median(floor.per_unit),
                "floor_spread": max(floor.per_unit) - min(floor.per_unit),
                "ratio": _median(ratios),
                "ratio_spread": max(ratios) - min(ratios),
                "reruns": len(ratios),
            }
    return rows


def targets(rows: dict[str, dict[str, Any]]) -> list[tuple[str, float, float, bool]]:
    """Issue 22's targets against this run: (what, target, value, met)."""
    out: list[tuple[str, float, float, bool]] = []
    for name, target in TARGETS.items():
        row = rows.get(f"{name} trio_otp")
        if row is not None:
            out.append((f"{name} floor ÷ trio_otp", target, row["ratio"], row["ratio"] >= target))
    for name in ("W4", "W6"):
        chapter, jq = rows.get(f"{name} trio_otp"), rows.get(f"{name} trio_otp-jq")
        if chapter and jq:
            value = chapter["per_unit"] / jq["per_unit"]
            out.append((f"{name} chapter ÷ JobQueue component", COMPONENT_TARGET, value,
                        value >= COMPONENT_TARGET))  # fmt: skip
    return out


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| workload | impl | instr/unit | floor | floor instr/unit | floor ÷ impl | spread |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in rows.values():
        lines.append(
            f"| {r['workload']} ({r['unit']}) | {r['impl']} | {r['per_unit']:,.0f} | {r['floor']} "
            f"| {r['floor_per_unit']:,.0f} | {r['ratio']:.3f} | {r['ratio_spread']:.4f} |"
        )
    found = targets(rows)
    if found:
        lines += ["", "| target (issue 22) | target | this run | |", "|---|---:|---:|---|"]
        for what, target, value, met in found:
            lines.append(f"| {what} | ≥ {target} | {value:.3f} | {'met' if met else 'NOT met'} |")
    return "\n".join(lines)


# -- the gate -------------------------------------------------------------------------------------


def tolerance(base: dict[str, Any], now: dict[str, Any]) -> float:
    """How far a ratio may fall below the baseline's: its measured spread, widened.

    ``SPREAD_FACTOR`` times the larger of the baseline's and this run's spread of the
    ratio over reruns, and at least ``MIN_TOLERANCE`` of the baseline's ratio.
    """
    spread = max(float(base.get("ratio_spread", 0.0)), float(now.get("ratio_spread", 0.0)))
    return max(SPREAD_FACTOR * spread, MIN_TOLERANCE * float(base["ratio"]))


def same_environment(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys in which two recorded environments differ (empty: the same)."""
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k)]


def compare(
    rows: dict[str, dict[str, Any]],
    env: dict[str, Any],
    baseline: dict[str, Any],
    rise: float = RISE,
    only: Iterable[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Judge a run against the baseline.

    Fails, for every gated row of the baseline: a row the run did not measure; a
    ratio ``floor ÷ impl`` below ``baseline - tolerance`` (:func:`tolerance`); and,
    when the run's environment is the baseline's, an implementation's count above
    ``baseline * (1 + rise)``. Reference rows (W4's limit) are shown, never judged;
    with ``only`` (``--only``), the other workloads' rows are left out.

    Returns:
        ``(lines, failures)``.
    """
    lines: list[str] = []
    failures: list[str] = []
    differs = same_environment(env, baseline.get("env", {}))
    if differs:
        lines.append(
            "note  environment differs from the baseline's in "
            f"{', '.join(differs)}: counts not compared, only ratios"
        )

    def fail(line: str) -> None:
        lines.append(line)
        failures.append(line)

    wanted = None if only is None else set(only)
    for key, base in sorted(baseline["rows"].items()):
        if not base.get("gated", True):
            continue
        if wanted is not None and key.split(" ", 1)[0] not in wanted:
            continue
        now = rows.get(key)
        if now is None:
            fail(f"FAIL  {key}: not measured in this run")
            continue
        tol = tolerance(base, now)
        limit = base["ratio"] - tol
        bad_ratio = now["ratio"] < limit
        line = (
            f"{'FAIL' if bad_ratio else 'ok  '}  {key}: floor ÷ impl {now['ratio']:.3f} "
            f"(baseline {base['ratio']:.3f}, limit {limit:.3f})"
        )
        (fail if bad_ratio else lines.append)(line)
        if not differs:
            cap = base["per_unit"] * (1 + rise)
            bad_count = now["per_unit"] > cap
            line = (
                f"{'FAIL' if bad_count else 'ok  '}  {key}: {now['per_unit']:,.0f} instr/"
                f"{now['unit']} (baseline {base['per_unit']:,.0f}, limit {cap:,.0f}, "
                f"+{rise:.0%})"
            )
            (fail if bad_count else lines.append)(line)
    for key in sorted(set(rows) - set(baseline["rows"])):
        lines.append(f"new   {key}: floor ÷ impl {rows[key]['ratio']:.3f} (not in the baseline)")
    return lines, failures


def load_baseline(path: Path = BASELINE) -> dict[str, Any]:
    if not path.exists():
        raise SystemExit(
            f"no baseline at {path}: make one with `nox -s bench_instructions -- --update-baseline`"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_baseline(
    rows: dict[str, dict[str, Any]], env: dict[str, Any], meta: dict[str, Any], path: Path
) -> None:
    doc = {
        "about": (
            "Instructions per unit (cachegrind, two sizes) of trio_otp and its floors, "
            "and floor ÷ trio_otp. Refresh with `nox -s bench_instructions -- "
            "--update-baseline` (bench/README.md, 'Instructions per unit')."
        ),
        "made": meta,
        "env": env,
        "rows": rows,
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


# -- command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench --instructions",
        description="Instructions per unit under cachegrind at two sizes, trio_otp against "
        "its floors; --check judges them against bench/instructions_baseline.json.",
    )
    p.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W4")
    p.add_argument("--reps", type=int, default=REPS, help=f"reruns of each (default {REPS})")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="runs at once (default: 2, or 1 on one core)")  # fmt: skip
    p.add_argument("--check", action="store_true", help="judge against the baseline; exit 1")
    p.add_argument("--update-baseline", action="store_true", help="write the baseline")
    p.add_argument("--baseline", type=Path, default=BASELINE, help=argparse.SUPPRESS)
    p.add_argument("--rise", type=float, default=RISE,
                   help=f"--check: how much a count may rise (default {RISE})")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    args = p.parse_args(argv)
    if args.reps < 1 or args.jobs < 1:
        p.error("--reps and --jobs must be >= 1")
    if args.update_baseline and args.reps < 2:
        p.error("--update-baseline needs --reps >= 2: the baseline records the spread")
    if args.only:
        wanted = [w.strip().upper() for w in args.only.split(",") if w.strip()]
        bad = sorted(set(wanted) - set(BY_NAME))
        if bad:
            p.error(f"--only: unknown workload(s) {bad}; use {', '.join(BY_NAME)}")
        args.only = wanted
    if args.update_baseline and args.only:
        p.error("--update-baseline measures every workload (no --only)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = sys.executable
    selected = [w for w in WORKLOADS if not args.only or w.name in args.only]
    compile_bytecode(python)
    env = environment(python)
    t0 = time.perf_counter()
    measured = measure(selected, reps=args.reps, jobs=args.jobs, python=python)
    seconds = time.perf_counter() - t0
    rows = summarize(measured)
    meta = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "reps": args.reps,
        "jobs": args.jobs,
        "seconds": round(seconds),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "platform": platform.platform(),
    }
    text = table(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "instructions.md").write_text(text + "\n")
    doc = {"made": meta, "env": env, "rows": rows}
    (args.out / "instructions.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    print(f"\n{seconds:.0f} s; results in {args.out / 'instructions.md'} and .json")
    if args.update_baseline:
        write_baseline(rows, env, meta, args.baseline)
        print(f"baseline written: {args.baseline}")
        return 0
    if args.check:
        baseline = load_baseline(args.baseline)
        lines, failures = compare(rows, env, baseline, args.rise, args.only)
        print("\n".join(["", "instruction gate:", *lines]))
        print(f"\n{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
        return 1 if failures else 0
    return 0
