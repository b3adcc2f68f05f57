"""Pictures drawn at build time, offline, with no tool beyond Python (inline SVG).

* ``.. job-queue-tree::`` starts the tutorial's job queue (examples/job_queue.py) on a
  virtual clock, with two jobs in flight, and draws what :func:`trio_otp.render_tree`
  reports: each process a box, each supervisor's nursery a dashed frame around the
  processes that run in it. The picture is always the tree the code really builds.
* ``.. bench-summary::`` draws one bar per workload from bench/results/latest.json:
  trio_otp's speed relative to the raw-trio floor measured in the same run.

* ``.. bench-family:: W1 W2``: one chart per family of workloads, from the same
  file: each implementation's ratio to the floor (median as a dot, min-max as a
  line) on a log scale, times inverted so that right is always better.
* ``.. inline-svg:: layers`` puts ``docs/_diagrams/layers.svg`` (drawn by
  ``docs/_diagrams/make.py`` and committed) into the page, with a caption: inline,
  so that its ``currentColor`` follows the theme, which an ``<img>`` would not.

All return raw HTML (an ``<svg>`` element) and nothing for other builders; text uses
``currentColor`` so that the pictures follow furo's light and dark themes.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
FONT = 'font-family="system-ui, sans-serif" font-size="13"'
BOX_H, GAP, PAD, HEAD = 44, 18, 14, 22


# --------------------------------------------------------------------------------------
# The supervision tree and its nurseries
# --------------------------------------------------------------------------------------


@attrs.define
class Node:
    label: str
    children: list[Node] = attrs.field(factory=list)
    width: float = 0
    height: float = 0


def job_queue_tree() -> str:
    """render_tree of the tutorial's job queue with two slow jobs running."""
    spec = importlib.util.spec_from_file_location("_docs_job_queue", ROOT / "examples/job_queue.py")
    assert spec is not None
    assert spec.loader is not None
    jq = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = jq
    spec.loader.exec_module(jq)

    async def main() -> str:
        async with trio.open_nursery() as nursery:
            await jq.start_my_app(nursery)
            running = trio.Event()
            count = 0

            async def slow() -> str:
                nonlocal count
                count += 1
                if count == 2:
                    running.set()
                await trio.sleep(1)
                return "done"

            for _ in range(2):
                nursery.start_soon(jq.JobQueue.schedule_job, slow)
            await running.wait()
            tree: str = await jq.otp.render_tree("my_app_supervisor")
            nursery.cancel_scope.cancel()
        return tree

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def parse_tree(text: str) -> Node:
    """The nested structure of render_tree's text (4 columns per level)."""
    lines = text.splitlines()
    root = Node(lines[0])
    stack = [(0, root)]
    for line in lines[1:]:
        match = re.match(r"^((?:│   |    )*)(?:├── |└── )(.*)$", line)
        assert match, line
        depth = len(match.group(1)) // 4 + 1
        node = Node(match.group(2))
        while stack[-1][0] >= depth:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((depth, node))
    return root


def _label_parts(label: str) -> tuple[str, str]:
    name, _, pid = label.partition(" <")
    return name, "<" + pid if pid else ""


def measure(node: Node) -> None:
    name, pid = _label_parts(node.label)
    node.width = max(110, 7.5 * max(len(name), len(pid)) + 24)
    node.height = BOX_H
    if node.children:
        for child in node.children:
            measure(child)
        inner = sum(c.width for c in node.children) + GAP * (len(node.children) - 1)
        node.width = max(node.width, inner + 2 * PAD)
        node.height = BOX_H + GAP + HEAD + PAD + max(c.height for c in node.children) + PAD


def draw(node: Node, x: float, y: float, out: list[str]) -> None:
    name, pid = _label_parts(node.label)
    kind = "supervisor" if node.children else "worker"
    box_w = min(node.width, max(110, 7.5 * max(len(name), len(pid)) + 24))
    bx = x + (node.width - box_w) / 2
    fill = "#4a7bd8" if kind == "supervisor" else "#3aa676"
    out.append(
        f'<rect x="{bx}" y="{y}" width="{box_w}" height="{BOX_H}" rx="7" '
        f'fill="{fill}" fill-opacity="0.18" stroke="{fill}" stroke-width="1.5"/>'
    )
    out.append(
        f'<text x="{bx + box_w / 2}" y="{y + 18}" text-anchor="middle" font-weight="600" '
        f'fill="currentColor">{html.escape(name)}</text>'
    )
    out.append(
        f'<text x="{bx + box_w / 2}" y="{y + 35}" text-anchor="middle" font-size="11" '
        f'fill="currentColor" fill-opacity="0.75">{html.escape(pid)}</text>'
    )
    if not node.children:
        return
    ny = y + BOX_H + GAP
    out.append(
        f'<rect x="{x}" y="{ny}" width="{node.width}" height="{node.height - BOX_H - GAP}" '
        'rx="9" fill="none" stroke="currentColor" stroke-opacity="0.5" stroke-dasharray="5 4"/>'
    )
    out.append(
        f'<text x="{x + 8}" y="{ny + 15}" font-size="11" font-style="italic" '
        f'fill="currentColor" fill-opacity="0.75">{html.escape(name)}\'s nursery</text>'
    )
    inner = sum(c.width for c in node.children) + GAP * (len(node.children) - 1)
    cx = x + (node.width - inner) / 2
    cy = ny + HEAD + PAD
    for child in node.children:
        out.append(
            f'<line x1="{bx + box_w / 2}" y1="{y + BOX_H}" x2="{cx + child.width / 2}" '
            f'y2="{cy}" stroke="currentColor" stroke-opacity="0.6" stroke-width="1.2"/>'
        )
        draw(child, cx, cy, out)
        cx += child.width + GAP


def tree_svg(text: str, title: str) -> str:
    root = parse_tree(text)
    measure(root)
    out: list[str] = []
    m = 10
    # The caller's own nursery: `async with trio.open_nursery() as nursery:`.
    outer_w, outer_h = root.width + 2 * PAD, root.height + HEAD + 2 * PAD
    out.append(
        f'<rect x="{m}" y="{m}" width="{outer_w}" height="{outer_h}" rx="9" fill="none" '
        'stroke="currentColor" stroke-opacity="0.5" stroke-dasharray="5 4"/>'
    )
    out.append(
        f'<text x="{m + 8}" y="{m + 15}" font-size="11" font-style="italic" '
        'fill="currentColor" fill-opacity="0.75">your nursery: async with '
        "trio.open_nursery() as nursery</text>"
    )
    draw(root, m + PAD, m + HEAD + PAD, out)
    w, h = outer_w + 2 * m, outer_h + 2 * m
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
        f'style="max-width: {w}px; width: 100%" {FONT}><title>{html.escape(title)}</title>'
        + "".join(out)
        + "</svg>"
    )


class JobQueueTree(SphinxDirective):
    """``.. job-queue-tree::``: the live job queue tree, drawn."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(ROOT / "examples/job_queue.py"))
        text = job_queue_tree()
        title = "The job queue's supervision tree and the nurseries its processes run in"
        svg = tree_svg(text, title)
        figure = f'<figure class="otp-diagram">{svg}<figcaption>{title}.</figcaption></figure>'
        return [nodes.raw("", figure, format="html")]


# --------------------------------------------------------------------------------------
# The benchmark summary
# --------------------------------------------------------------------------------------

# (case, metric, label): the first check of each against a raw-trio floor.
ROWS = [
    ("W1", "calls_per_s", "W1 sequential calls"),
    ("W2", "calls_per_s", "W2 concurrent calls"),
    ("W3-100k", "children_per_s", "W3 start 100k GenServers"),
    ("W3-100k", "stop_s", "W3 stop 100k GenServers"),
    ("W4", "jobs_per_s", "W4 job queue"),
    ("W5", "mean_us", "W5 crash → answer"),
    ("W6", "jobs_per_s", "W6 flaky jobs"),
]
TIMES = {"stop_s", "mean_us"}  # lower is better: drawn as floor / trio_otp


def bench_rows(path: Path) -> list[tuple[str, float]]:
    checks = json.loads(path.read_text(encoding="utf-8"))["summary"]["checks"]
    rows = []
    for case, metric, label in ROWS:
        [check] = [
            c
            for c in checks
            if c["case"] == case
            and c["metric"] == metric
            and str(c["reference"]).startswith("floor")
            and not c["label"].startswith("stretch")
        ]
        ratio = check["observed"]["median"]
        rows.append((label, 1 / ratio if metric in TIMES else ratio))
    return rows


def bench_svg(rows: list[tuple[str, float]]) -> str:
    left, bar_w, row_h, top = 190, 360, 26, 34
    top_value = max(3.0, max(v for _, v in rows))
    scale = bar_w / top_value
    h = top + row_h * len(rows) + 30
    w = left + bar_w + 70
    out = [
        '<text x="10" y="16" font-size="12" fill="currentColor" fill-opacity="0.8">'
        "trio_otp's speed ÷ the raw-trio floor's in the same run (median of 5; higher is better)"
        "</text>"
    ]
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        color = "#3aa676" if value >= 1 else "#4a7bd8"
        out.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="currentColor">'
            f"{html.escape(label)}</text>"
        )
        out.append(
            f'<rect x="{left}" y="{y + 3}" width="{value * scale:.1f}" height="{row_h - 8}" '
            f'rx="3" fill="{color}" fill-opacity="0.7"/>'
        )
        out.append(
            f'<text x="{left + value * scale + 6:.1f}" y="{y + 15}" fill="currentColor">'
            f"{value:.2f} ×</text>"  # noqa: RUF001
        )
    x1 = left + scale
    bottom = top + row_h * len(rows)
    out.append(
        f'<line x1="{x1}" y1="{top - 4}" x2="{x1}" y2="{bottom + 4}" stroke="currentColor" '
        'stroke-dasharray="4 3"/>'
    )
    out.append(
        f'<text x="{x1}" y="{bottom + 20}" text-anchor="middle" font-size="11" '
        'fill="currentColor">1 × = the floor</text>'  # noqa: RUF001
    )
    title = "Summary of the benchmark ratios to the raw-trio floor"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
        f'style="max-width: {w}px; width: 100%" {FONT}><title>{title}</title>'
        + "".join(out)
        + "</svg>"
    )


class BenchSummary(SphinxDirective):
    """``.. bench-summary::``: one bar per workload, from bench/results/latest.json."""

    def run(self) -> list[nodes.Node]:
        path = ROOT / "bench/results/latest.json"
        self.env.note_dependency(str(path))
        svg = bench_svg(bench_rows(path))
        return [nodes.raw("", f'<figure class="otp-diagram">{svg}</figure>', format="html")]


IMPLS = {
    "trio_otp": "trio_otp",
    "trio_otp-jq": "trio_otp JobQueue",
    "floor-lowlevel": "floor (low-level)",
    "floor-nowait": "floor (no wait)",
    "triotp": "triotp",
    "elixir": "Elixir (+S 1)",
}
IMPL_COLORS = {"trio_otp": "#3aa676", "trio_otp-jq": "#3aa676", "triotp": "#d08a2c"}
LOW, HIGH = 0.05, 20.0  # the log axis, in multiples of the floor


def family_rows(
    path: Path, cases: list[str]
) -> list[tuple[str, list[tuple[str, float, float, float]]]]:
    """(metric title, [(implementation, low, median, high)]) for the cases' metrics."""
    groups: dict[tuple[str, str], list[tuple[str, float, float, float]]] = {}
    titles: dict[tuple[str, str], str] = {}
    for row in json.loads(path.read_text(encoding="utf-8"))["summary"]["rows"]:
        ratio = row.get("ratio_to_floor")
        if row["case"] not in cases or not ratio or row["direction"] not in ("higher", "lower"):
            continue
        key = (row["case"], row["metric"])
        titles[key] = f"{row['case']} {row['metric_label']}"
        low, mid, high = ratio["min"], ratio["median"], ratio["max"]
        if row["direction"] == "lower":
            low, mid, high = 1 / high, 1 / mid, 1 / low
        groups.setdefault(key, []).append((IMPLS.get(row["impl"], row["impl"]), low, mid, high))
    return [(titles[key], groups[key]) for key in groups]


def family_svg(title: str, groups: list[tuple[str, list[tuple[str, float, float, float]]]]) -> str:
    import math

    left, plot_w, row_h, head_h, top = 170, 470, 19, 24, 40

    def x(v: float) -> float:
        v = min(max(v, LOW), HIGH)
        return left + plot_w * math.log(v / LOW) / math.log(HIGH / LOW)

    rows = sum(len(impls) for _, impls in groups)
    h = top + rows * row_h + len(groups) * head_h + 30
    w = left + plot_w + 60
    out = [
        '<text x="10" y="16" font-size="12" fill="currentColor" fill-opacity="0.8">'
        f"{html.escape(title)}: × the raw-trio floor (log scale; right is better)</text>"  # noqa: RUF001
    ]
    for tick in (0.1, 0.3, 1, 3, 10):
        tx = x(tick)
        dash = "" if tick == 1 else ' stroke-dasharray="2 4" stroke-opacity="0.35"'
        out.append(
            f'<line x1="{tx:.1f}" y1="{top - 10}" x2="{tx:.1f}" y2="{h - 24}" '
            f'stroke="currentColor"{dash}/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{h - 8}" text-anchor="middle" font-size="11" '
            f'fill="currentColor">{tick:g} ×</text>'  # noqa: RUF001
        )
    y = top
    for name, impls in groups:
        out.append(
            f'<text x="10" y="{y + 15}" font-weight="600" fill="currentColor">'
            f"{html.escape(name)}</text>"
        )
        y += head_h
        for impl, low, mid, high in impls:
            color = IMPL_COLORS.get(next((k for k, v in IMPLS.items() if v == impl), ""), "#4a7bd8")
            cy = y + row_h / 2
            out.append(
                f'<text x="{left - 10}" y="{cy + 4}" text-anchor="end" fill="currentColor">'
                f"{html.escape(impl)}</text>"
            )
            out.append(
                f'<line x1="{x(low):.1f}" y1="{cy}" x2="{x(high):.1f}" y2="{cy}" '
                f'stroke="{color}" stroke-width="3" stroke-opacity="0.55"/>'
            )
            out.append(f'<circle cx="{x(mid):.1f}" cy="{cy}" r="5" fill="{color}"/>')
            out.append(
                f'<text x="{x(high) + 8:.1f}" y="{cy + 4}" font-size="11" fill="currentColor">'
                f"{mid:.2f}</text>"
            )
            y += row_h
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
        f'style="max-width: {w}px; width: 100%" {FONT}><title>{html.escape(title)}</title>'
        + "".join(out)
        + "</svg>"
    )


class BenchFamily(SphinxDirective):
    """``.. bench-family:: W1 W2``: a family's ratios to the floor, from latest.json.

    An optional title follows a ``|``: ``.. bench-family:: W1 W2 | Calls``.
    """

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        path = ROOT / "bench/results/latest.json"
        self.env.note_dependency(str(path))
        cases, _, title = self.arguments[0].partition("|")
        groups = family_rows(path, cases.split())
        if not groups:
            raise self.error(f"no rows with a ratio to the floor for {cases.strip()}")
        svg = family_svg(title.strip() or cases.strip(), groups)
        return [nodes.raw("", f'<figure class="otp-diagram">{svg}</figure>', format="html")]


class InlineSvg(SphinxDirective):
    """``.. inline-svg:: NAME``: docs/_diagrams/NAME.svg inline, captioned by its title."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = ROOT / "docs" / "_diagrams" / f"{self.arguments[0]}.svg"
        self.env.note_dependency(str(path))
        try:
            svg = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise self.error(f"cannot read {path}: {exc} (run docs/_diagrams/make.py)") from None
        title = re.search(r"<title>(.*?)</title>", svg)
        caption = f"<figcaption>{title.group(1)}.</figcaption>" if title else ""
        figure = f'<figure class="otp-diagram">{svg}{caption}</figure>'
        return [nodes.raw("", figure, format="html")]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("inline-svg", InlineSvg)
    app.add_directive("bench-family", BenchFamily)
    app.add_directive("job-queue-tree", JobQueueTree)
    app.add_directive("bench-summary", BenchSummary)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
