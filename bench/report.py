"""Turn measurements into medians, per-repetition ratios, target checks, and outputs.

Outputs: a markdown report, a JSON document (measurements + summary) and a PNG chart
of the ratios to the floor (matplotlib, Agg backend).
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .plan import IMPL_LABELS, OTP, Case, Check, metrics_for

Measurement = dict[str, Any]


def _values(ms: Iterable[Measurement], case: str, impl: str, metric: str) -> dict[int, float]:
    """rep -> value, for the successful measurements."""
    out: dict[int, float] = {}
    for m in ms:
        if m["case"] == case and m["impl"] == impl and m["ok"]:
            v = m["metrics"].get(metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[m["rep"]] = float(v)
    return out


def _stats(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _rep_ratios(
    ms: list[Measurement], case: str, impl: str, ref: str, metric: str
) -> dict[int, float]:
    """rep -> impl/ref, for the repetitions where both ran."""
    a = _values(ms, case, impl, metric)
    b = _values(ms, case, ref, metric)
    return {r: a[r] / b[r] for r in sorted(a) if r in b and b[r] != 0}


def _summary(per_rep: list[float]) -> dict[str, Any] | None:
    stats = _stats(per_rep)
    if stats is not None:
        stats["per_rep"] = per_rep
    return stats


def _ratios(
    ms: list[Measurement], case: str, impl: str, ref: str, metric: str
) -> dict[str, Any] | None:
    """Ratios impl/ref taken per repetition (only repetitions where both ran)."""
    return _summary(list(_rep_ratios(ms, case, impl, ref, metric).values()))


def _per_core(
    ms: list[Measurement], case: str, impl: str, ref: str, metric: str
) -> dict[str, Any] | None:
    """Each repetition's ratio impl/ref divided by the cores impl's run got in it."""
    ratios = _rep_ratios(ms, case, impl, ref, metric)
    cores = _values(ms, case, impl, "cores")
    host = os.cpu_count() or 1
    return _summary(
        [ratio / min(cores[r], host) for r, ratio in ratios.items() if cores.get(r, 0) > 0]
    )


def _errors(ms: list[Measurement], case: str, impl: str) -> list[str]:
    return [m["error"] for m in ms if m["case"] == case and m["impl"] == impl and not m["ok"]]


def summarize(
    cases: list[Case],
    checks: list[Check],
    ms: list[Measurement],
    unavailable: dict[str, str],
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for case in cases:
        for metric in metrics_for(case):
            for impl in case.impls:
                row: dict[str, Any] = {
                    "case": case.key,
                    "title": case.title,
                    "impl": impl,
                    "metric": metric.key,
                    "metric_label": metric.label,
                    "direction": metric.direction,
                    "floor": case.floor,
                }
                vals = _values(ms, case.key, impl, metric.key)
                row["value"] = _stats(list(vals.values()))
                if metric.direction != "info" and impl != case.floor:
                    row["ratio_to_floor"] = _ratios(ms, case.key, impl, case.floor, metric.key)
                errors = _errors(ms, case.key, impl)
                if impl in unavailable:
                    row["unavailable"] = unavailable[impl]
                elif impl in case.skipped:
                    row["unavailable"] = case.skipped[impl]
                elif errors:
                    row["errors"] = sorted(set(errors))
                rows.append(row)
    judged = [judge(check, ms) for check in checks]
    return {"rows": rows, "checks": judged}


def judge(check: Check, ms: list[Measurement]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "case": check.case,
        "metric": check.metric,
        "label": check.label,
        "op": check.op,
        "threshold": check.threshold,
        "reference": check.reference,
        "subject": check.subject,
    }
    if check.reference is None:
        stats = _stats(list(_values(ms, check.case, check.subject, check.metric).values()))
    elif check.per_core:
        stats = _per_core(ms, check.case, check.subject, check.reference, check.metric)
    else:
        stats = _ratios(ms, check.case, check.subject, check.reference, check.metric)
    out["observed"] = stats
    if stats is None:
        out["met"] = None
    else:
        med = stats["median"]
        out["met"] = med >= check.threshold if check.op == ">=" else med <= check.threshold
    return out


# -- formatting -----------------------------------------------------------------------------


def fmt(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 0.01:
        return f"{v:.3g}"
    return f"{v:.2g}"


def fmt_stats(s: dict[str, Any] | None, suffix: str = "") -> str:
    if s is None:
        return "\u2013"
    med = f"**{fmt(s['median'])}{suffix}**"
    if s["n"] == 1:
        return f"{med} (1 run)"
    return f"{med} ({fmt(s['min'])}\u2013{fmt(s['max'])}{suffix})"


def _met(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "**NO**")


def _check_cell(c: dict[str, Any]) -> tuple[str, str]:
    obs = c["observed"]
    if c["reference"] is None:
        got = "\u2013" if obs is None else fmt(obs["median"])
    else:
        got = "\u2013" if obs is None else f"{fmt(obs['median'])}\u00d7"
    return c["label"], f"{_met(c['met'])} ({got})"


def render_markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("# trio_otp benchmarks")
    add("")
    add(
        f"Run {meta['started']} · mode **{meta['mode']}** · {meta['reps']} repetitions, "
        f"interleaved (each measurement a fresh process and a fresh `trio.run`) · "
        f"{meta['elapsed_s']:.0f} s in all · loadavg {meta['loadavg']}"
    )
    add("")
    add(
        f"Machine: {meta['machine']} · Python {meta['python']} · trio {meta['trio']} · "
        f"trio_otp {meta['trio_otp']} (source digest "
        f"{', '.join(meta.get('trio_otp_source') or ['?'])})"
    )
    add("")
    add(f"Crash-report logging: **silenced** during the benchmarks ({meta['logging']}).")
    add("")
    for warning in meta.get("warnings", []):
        add(f"**Warning:** {warning}.")
        add("")
    add(
        "Medians over the repetitions with min\u2013max. *Ratio to floor* is taken per "
        "repetition (same run, same conditions) against the case's floor, then its "
        "median (min\u2013max) is shown: for a rate (calls/s, jobs/s, children/s) higher is "
        "better, for a time, a latency or memory lower is better. Absolute figures are "
        "noisy on this shared machine; only the same-run ratios count."
    )
    add("")
    add("## Peers")
    add("")
    for line in meta["peers"]:
        add(f"- {line}")
    add("")
    add("## Results")
    add("")
    add(
        "| workload | implementation | metric | median (min\u2013max) | ratio to floor "
        "| target | met? |"
    )
    add("|---|---|---|---|---|---|---|")
    checks_by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in summary["checks"]:
        checks_by.setdefault((c["case"], c["metric"]), []).append(c)
    said_unavailable: set[tuple[str, str]] = set()
    for row in summary["rows"]:
        impl = row["impl"]
        label = IMPL_LABELS.get(impl, impl)
        if "unavailable" in row:
            # once per case and implementation, not once per metric
            if (row["case"], impl) in said_unavailable:
                continue
            said_unavailable.add((row["case"], impl))
            value = f"not run: {row['unavailable']}"
        elif "errors" in row and row["value"] is None:
            value = "FAILED: " + "; ".join(e[:160] for e in row["errors"])
        else:
            value = fmt_stats(row["value"])
            if "errors" in row:
                value += f" ({len(row['errors'])} failed run(s): {row['errors'][0][:120]})"
        metric_label = row["metric_label"]
        if "unavailable" in row:
            metric_label = ratio = "\u2013"
        elif row["direction"] == "info":
            ratio = ""
        elif impl == row["floor"]:
            ratio = "1 (floor)"
        else:
            ratio = fmt_stats(row.get("ratio_to_floor"), "\u00d7")
        target = met = ""
        if impl == OTP or any(
            c.get("subject") == impl for c in checks_by.get((row["case"], row["metric"]), [])
        ):
            cells = [
                _check_cell(c)
                for c in checks_by.get((row["case"], row["metric"]), [])
                if c.get("subject", OTP) == impl
            ]
            target = "<br>".join(t for t, _ in cells)
            met = "<br>".join(m for _, m in cells)
        add(f"| {row['case']} | {label} | {metric_label} | {value} | {ratio} | {target} | {met} |")
    add("")
    add("## Targets (BENCHMARKS.md), judged on the median of the per-repetition ratios")
    add("")
    add("| workload | target | observed median (min\u2013max) | met? |")
    add("|---|---|---|---|")
    for c in summary["checks"]:
        suffix = "" if c["reference"] is None else "\u00d7"
        add(
            f"| {c['case']} | {c['label']} | {fmt_stats(c['observed'], suffix)} | "
            f"{_met(c['met'])} |"
        )
    add("")
    add("## Cases")
    add("")
    for title in meta["case_titles"]:
        add(f"- {title}")
    add("")
    add(
        "Notes: W3 memory per child is the RSS delta over the N starts divided by N, and in "
        "a separate pass the tracemalloc delta divided by N (tracemalloc slows everything "
        "down, so that pass is not timed). Elixir's W3 memory is `:erlang.memory(:total)` "
        "delta / N. triotp runs on its own pinned trio (see Peers), so its ratios compare "
        "across trio versions. W6's restart count is the same for every implementation "
        "(seeded per job); every caller's result is asserted."
    )
    add("")
    return "\n".join(lines)


# -- chart -----------------------------------------------------------------------------------

_COLORS = {OTP: "#1f77b4", "triotp": "#ff7f0e", "elixir": "#2ca02c"}


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    checks_by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in summary["checks"]:
        if c["reference"] is not None:
            checks_by.setdefault((c["case"], c["metric"]), []).append(c)
    bars: list[tuple[str, str, dict[str, Any], list[float]]] = []
    for row in summary["rows"]:
        r = row.get("ratio_to_floor")
        if r is None:
            continue
        arrow = "↑" if row["direction"] == "higher" else "↓"
        impl_label = IMPL_LABELS.get(row["impl"], row["impl"])
        label = f"{row['case']} {row['metric_label']} {arrow} \u2014 {impl_label}"
        targets = [
            c["threshold"]
            for c in checks_by.get((row["case"], row["metric"]), [])
            if row["impl"] == OTP and c["reference"] == row["floor"]
        ]
        bars.append((label, row["impl"], r, targets))
    if not bars:
        return
    height = max(4.0, 0.3 * len(bars) + 1.8)
    fig, ax = plt.subplots(figsize=(11, height))
    ys = list(range(len(bars)))[::-1]
    seen: set[str] = set()
    for y, (_label, impl, r, targets) in zip(ys, bars, strict=True):
        color = _COLORS.get(impl, "#8c8c8c")
        med = r["median"]
        name = impl if impl in _COLORS else "the other floor form"
        legend = None if name in seen else name
        seen.add(name)
        ax.errorbar(
            med,
            y,
            xerr=[[med - r["min"]], [r["max"] - med]],
            fmt="o",
            color=color,
            ecolor=color,
            capsize=3,
            markersize=6,
            linewidth=1.2,
            label=legend,
        )
        ax.text(r["max"] * 1.06, y, f"{med:.2f}\u00d7", va="center", fontsize=7)
        for t in targets:
            ax.plot([t, t], [y - 0.4, y + 0.4], color="red", linewidth=1.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([b[0] for b in bars], fontsize=7)
    ax.set_xscale("log")
    lo = min(min(b[2]["min"] for b in bars), 0.5)
    hi = max(max(b[2]["max"] for b in bars), 2.5)
    ax.set_xlim(lo / 1.3, hi * 1.6)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.grid(axis="x", which="both", alpha=0.25)
    ax.set_ylim(-0.8, len(bars) - 0.2)
    ax.set_xlabel(
        "ratio to the raw-Trio floor taken in the same repetition: median, bar = "
        "min\u2013max; red tick: target"
    )
    ax.set_title(
        "trio_otp (and peers) relative to the raw-Trio floor\n"
        "\u2191 rate: higher is better   \u2193 time / memory: lower is better",
        fontsize=9,
    )
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
