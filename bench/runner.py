"""The benchmark run: repetitions x cases x implementations, interleaved.

For each repetition every implementation of every case runs once, each in a fresh
process (so memory figures and module state never leak between measurements) and a
fresh ``trio.run``. The order of implementations rotates from one repetition to the
next so that none always runs first. Peer failures are recorded, never fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _measure, check, report
from .peers import TRIOTP_CANNOT, TRIOTP_NOTES, elixir, triotp_env
from .plan import (
    ELIXIR,
    FULL,
    METRICS,
    OTP,
    PEERS,
    QUICK,
    TRIOTP,
    Case,
    Sizes,
    build_cases,
    build_checks,
    metrics_for,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
#: Repetitions of a --check run unless --reps says otherwise.
CHECK_REPS = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="trio_otp benchmarks (W1-W7, M1, T1) against the raw-Trio floor and peers, "
        "interleaved in one run (see bench/README.md).",
    )
    p.add_argument("--quick", action="store_true", help="small N, 2 repetitions (~1 minute)")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 5; quick 2)")
    p.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W2")
    p.add_argument("--no-peers", action="store_true", help="skip triotp and Elixir")
    p.add_argument("--big", action="store_true", help="add W3 with 1,000,000 children (once)")
    p.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    p.add_argument("--name", default="latest", help="basename of the outputs (default latest)")
    p.add_argument(
        "--check",
        action="store_true",
        help="regression gate: a quick run without peers, its ratios compared with "
        "bench/baseline.json; exit 1 if one is worse than the tolerance allows",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=check.TOLERANCE,
        help=f"--check: how much worse a ratio may be, relative (default {check.TOLERANCE})",
    )
    p.add_argument(
        "--update-baseline",
        action="store_true",
        help="--check: write bench/baseline.json from this run instead of comparing",
    )
    args = p.parse_args(argv)
    if args.update_baseline and not args.check:
        p.error("--update-baseline goes with --check")
    if args.check:
        # The gate measures what the baseline measured: the quick profile, no peers,
        # into its own outputs so that it never overwrites a full run's report.
        args.quick = True
        args.no_peers = True
        # The median of 3 drops one disturbed repetition; the quick profile's 2 do not
        # (docs/performance.rst, "Regression gate").
        args.reps = args.reps or CHECK_REPS
        if args.name == "latest":
            args.name = "check"
    if not 0 < args.tolerance < 1:
        p.error("--tolerance must be between 0 and 1 (0.15 means 15% worse)")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be >= 1")
    if args.only:
        wanted = {w.strip().upper() for w in args.only.split(",") if w.strip()}
        known = {w for w in METRICS if w != "W3mem"}
        bad = wanted - known
        if bad:
            p.error(f"--only: unknown workload(s) {sorted(bad)}; use {', '.join(sorted(known))}")
        args.only = wanted
    if args.check:
        gated = set(check.GATED_WORKLOADS)
        if args.only and args.only - gated:
            p.error(
                f"--check: {sorted(args.only - gated)} not gated (bench/check.py says why); "
                f"the gate runs {', '.join(check.GATED_WORKLOADS)}"
            )
        args.only = args.only or gated
    return args


def say(msg: str) -> None:
    print(msg, flush=True)


def _tail(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def measure(case: Case, impl: str, rep: int) -> dict[str, Any]:
    """Run one measurement; never raises (a failure is recorded in the result)."""
    base: dict[str, Any] = {"rep": rep, "case": case.key, "impl": impl, "ok": False}
    params = json.dumps(case.params)
    t0 = time.perf_counter()
    try:
        if impl == ELIXIR:
            result = elixir.run(case.workload, dict(case.params), case.timeout)
        else:
            if impl == TRIOTP:
                cmd = [
                    str(triotp_env.venv_python()),
                    "-m",
                    "bench.peers.triotp_worker",
                    case.workload,
                    params,
                ]
            else:
                cmd = [sys.executable, "-m", "bench.worker", impl, case.workload, params]
            done = subprocess.run(
                cmd,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=case.timeout,
                check=False,
            )
            parsed = _measure.parse_result(done.stdout)
            if done.returncode != 0 or parsed is None:
                base["error"] = f"exit {done.returncode}: {_tail(done.stderr or done.stdout)}"
                base["wall_s"] = time.perf_counter() - t0
                return base
            result = parsed
    except subprocess.TimeoutExpired:
        base["error"] = f"timeout after {case.timeout:.0f} s"
        base["wall_s"] = time.perf_counter() - t0
        return base
    except Exception as exc:  # a peer that cannot run: report, go on
        base["error"] = f"{type(exc).__name__}: {exc}"
        base["wall_s"] = time.perf_counter() - t0
        return base
    base.update(ok=True, metrics=result["metrics"], wall_s=time.perf_counter() - t0)
    for key in ("versions", "logging", "raw", "trio_otp_source"):
        if key in result:
            base[key] = result[key]
    return base


def _brief(case: Case, m: dict[str, Any]) -> str:
    if not m["ok"]:
        return f"FAILED ({m['error'][:200]})"
    shown = []
    for metric in metrics_for(case):
        v = m["metrics"].get(metric.key)
        if isinstance(v, (int, float)):
            shown.append(f"{metric.key}={report.fmt(v)}")
    return " ".join(shown)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--instructions" in argv:
        # The load-independent counts (cachegrind): their own options (bench/instructions.py).
        from . import instructions

        return instructions.main([a for a in argv if a != "--instructions"])
    args = parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    reps = args.reps or sizes.reps
    peers = not args.no_peers
    cases = build_cases(sizes, big=args.big, peers=peers)
    if args.only:
        cases = [c for c in cases if c.workload in args.only]
    checks = build_checks(cases)
    logging_note = _measure.silence_crash_reports()

    # Peers: prepare once; their failures are reported, never fatal.
    unavailable: dict[str, str] = {}
    peer_lines: list[str] = []
    if not peers:
        peer_lines.append("peers not run (--no-peers)")
    else:
        try:
            version = triotp_env.ensure(say)
            peer_lines.append(
                f"triotp: {version}, own venv {triotp_env.VENV.relative_to(REPO)}; "
                "logbook output dropped (NullHandler)"
            )
            for w, why in TRIOTP_NOTES.items():
                peer_lines.append(f"triotp {w}: {why}")
            for w, why in TRIOTP_CANNOT.items():
                peer_lines.append(f"triotp {w}: cannot express: {why}")
        except Exception as exc:
            unavailable[TRIOTP] = f"triotp unavailable: {exc}"
            peer_lines.append(unavailable[TRIOTP])
        why_not = elixir.available()
        if why_not is None:
            try:
                peer_lines.append(
                    f"Elixir: {elixir.version()}, one scheduler (+S 1), scripts in {elixir.EXS_DIR}"
                )
            except Exception as exc:
                why_not = f"elixir present but failed: {exc}"
        if why_not is not None:
            unavailable[ELIXIR] = why_not
            peer_lines.append(f"Elixir: {why_not}")

    say(
        f"trio_otp benchmarks: mode={'quick' if args.quick else 'full'} reps={reps} "
        f"cases={','.join(c.key for c in cases)} peers={'on' if peers else 'off'}"
    )
    say(f"crash-report logging silenced ({logging_note})")
    for line in peer_lines:
        say(f"  {line}")

    started = datetime.now(UTC)
    t_run = time.perf_counter()
    measurements: list[dict[str, Any]] = []
    for rep in range(1, reps + 1):
        for case in cases:
            impls = list(case.impls)
            shift = (rep - 1) % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                if impl in unavailable or impl in case.skipped:
                    continue
                if impl == TRIOTP and case.workload in TRIOTP_CANNOT:
                    if rep == 1:
                        measurements.append(
                            {
                                "rep": rep,
                                "case": case.key,
                                "impl": impl,
                                "ok": False,
                                "error": f"cannot express: {TRIOTP_CANNOT[case.workload]}",
                            }
                        )
                    continue
                if rep > case.max_reps.get(impl, reps):
                    continue
                m = measure(case, impl, rep)
                measurements.append(m)
                say(
                    f"[rep {rep}/{reps}] {case.key:<10} {impl:<15} {_brief(case, m)} "
                    f"({m['wall_s']:.1f} s)"
                )
    elapsed = time.perf_counter() - t_run

    summary = report.summarize(cases, checks, measurements, unavailable)
    meta = _meta(args, reps, started, elapsed, logging_note, peer_lines, cases)
    digests = sorted({m["trio_otp_source"] for m in measurements if "trio_otp_source" in m})
    meta["trio_otp_source"] = digests
    if len(digests) > 1:
        meta["warnings"] = [
            f"trio_otp's source changed during the run ({len(digests)} versions: "
            f"{', '.join(digests)}): the repetitions measured different code"
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "summary": summary, "measurements": measurements}
    json_path = args.out / f"{args.name}.json"
    md_path = args.out / f"{args.name}.md"
    png_path = args.out / ("ratios.png" if args.name == "latest" else f"{args.name}-ratios.png")
    _write(json_path, json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    md = report.render_markdown(summary, meta)
    chart_note = ""
    try:
        report.plot(summary, png_path)
        md += f"\n![ratios to the floor]({png_path.name})\n"
    except ImportError as exc:
        chart_note = f"chart skipped: {exc} (pip install -r bench/requirements.txt)"
    _write(md_path, md)
    say("")
    say(md)
    say(f"wrote {md_path}, {json_path}" + (f", {png_path}" if not chart_note else ""))
    if chart_note:
        say(chart_note)
    failed = [m for m in measurements if not m["ok"] and m["impl"] not in PEERS]
    if failed:
        say(f"{len(failed)} trio_otp/floor measurement(s) failed: see the report")
        return 1
    if args.check:
        return _gate(args, summary, meta)
    return 0


def _gate(args: argparse.Namespace, summary: dict[str, Any], meta: dict[str, Any]) -> int:
    if args.update_baseline:
        check.write_baseline(summary, meta)
        say(f"wrote {check.BASELINE.relative_to(REPO)}")
        return 0
    baseline = check.load_baseline()
    if args.only:
        baseline = {
            **baseline,
            "ratios": {
                k: v for k, v in baseline["ratios"].items() if check.workload(k) in args.only
            },
        }
    lines, failures = check.compare(summary, baseline, args.tolerance)
    say("")
    say(
        f"regression gate: ratios against {check.BASELINE.relative_to(REPO)}, "
        f"tolerance {args.tolerance:.0%}"
    )
    for line in lines:
        say(f"  {line}")
    if failures:
        say(f"{len(failures)} ratio(s) worse than the baseline allows")
        return 1
    say("no ratio worse than the baseline allows")
    return 0


def _meta(
    args: argparse.Namespace,
    reps: int,
    started: datetime,
    elapsed: float,
    logging_note: str,
    peer_lines: list[str],
    cases: list[Case],
) -> dict[str, Any]:
    import trio

    import trio_otp

    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = ["?"]
    return {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full" + (" + big" if args.big else ""),
        "reps": reps,
        "only": sorted(args.only) if args.only else None,
        "elapsed_s": elapsed,
        "loadavg": " ".join(load),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "trio": trio.__version__,
        "trio_otp": getattr(trio_otp, "__version__", "?"),
        "logging": logging_note,
        "peers": peer_lines,
        "case_titles": [c.title for c in cases],
        "implementation_of": {c.key: list(c.impls) for c in cases},
        "otp": OTP,
    }
