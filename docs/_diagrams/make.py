"""Write the design page's diagrams (layers.svg, call.svg, job.svg) beside this file.

Hand-laid SVG, committed; after a change: ``python docs/_diagrams/make.py``.
Strokes and text use ``currentColor`` and fills are translucent, so that the pictures,
inlined into the page by ``.. inline-svg::`` (docs/_ext/diagrams.py), follow furo's
light and dark themes.
"""

from __future__ import annotations

import html
from pathlib import Path

HERE = Path(__file__).resolve().parent
FONT = 'font-family="system-ui, sans-serif" font-size="13"'
ACCENTS = ["#4a7bd8", "#3aa676", "#d08a2c", "#a05cc8", "#c8505a", "#2c9fb0"]


def svg(w: float, h: float, title: str, body: list[str]) -> str:
    # One marker id per picture: the three share a page.
    arrow = "arrow-" + "".join(c for c in title.lower() if c.isalnum())[:24]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
        f'style="max-width: {w}px; width: 100%" {FONT}><title>{html.escape(title)}</title>'
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" '
        'fill="currentColor"/></marker></defs>'
    )
    return head + "".join(body).replace("url(#ARROW)", f"url(#{arrow})") + "</svg>\n"


def text(x: float, y: float, s: str, *, size: int = 13, anchor: str = "start", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="currentColor"{extra}>{html.escape(s)}</text>'
    )


def box(x: float, y: float, w: float, h: float, color: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="7" fill="{color}" '
        f'fill-opacity="0.16" stroke="{color}" stroke-width="1.3"/>'
    )


LAYERS = [
    ("trio_otp (the façade)", "import trio_otp as otp: every public name", ""),
    (
        "jobs/ · testing/ · observer/ · _cli/",
        "subsystems: the job system and its stores, test",
        "helpers, the observer, the command line",
    ),
    ("_behaviours/", "Agent, Task, TaskSupervisor, async_stream,", "Registry"),
    (
        "_supervision/",
        "Supervisor, DynamicSupervisor, PartitionSupervisor,",
        "run_application, render_tree",
    ),
    ("_server/", "ChildSpec, the supervised-child protocol,", "GenServer"),
    (
        "_core/",
        "processes, names, call, deadlines, messages, monitors,",
        "links, mailboxes, timers, reasons, reports, telemetry",
    ),
]


def layers() -> str:
    w, row, gap, top = 700, 52, 8, 30
    note = "imports point down only (tests/test_layers.py)"
    body = [text(10, 18, note, size=11, fill_opacity="0.75")]
    for i, (name, line1, line2) in enumerate(LAYERS):
        y = top + i * (row + gap)
        color = ACCENTS[i % len(ACCENTS)]
        body.append(box(10, y, w - 60, row, color))
        body.append(text(22, y + 31, name, font_weight="600"))
        body.append(text(290, y + 22 if line2 else y + 31, line1, size=12))
        if line2:
            body.append(text(290, y + 39, line2, size=12))
    y0, y1 = top + 10, top + len(LAYERS) * (row + gap) - gap - 10
    body.append(
        f'<line x1="{w - 28}" y1="{y0}" x2="{w - 28}" y2="{y1}" stroke="currentColor" '
        'stroke-width="1.5" marker-end="url(#ARROW)"/>'
    )
    body.append(
        f'<text x="{w - 14}" y="{(y0 + y1) / 2}" font-size="11" fill="currentColor" '
        f'text-anchor="middle" transform="rotate(90 {w - 14} {(y0 + y1) / 2})">imports</text>'
    )
    h = top + len(LAYERS) * (row + gap) + 4
    return svg(w, h, "trio_otp's layers, top to bottom", body)


def steps(lanes: list[str], rows: list[tuple[int, str, str]], title: str) -> str:
    """A path through lanes: one box per step, in its lane, joined by arrows."""
    lane_w, box_w, row_h, box_h, top = 250, 236, 62, 48, 44
    w = lane_w * len(lanes) + 20
    h = top + row_h * len(rows) + 10
    body: list[str] = []
    for i, lane in enumerate(lanes):
        cx = 10 + lane_w * i + lane_w / 2
        body.append(text(cx, 20, lane, anchor="middle", font_weight="600"))
        body.append(
            f'<line x1="{cx}" y1="{top - 14}" x2="{cx}" y2="{h - 6}" stroke="currentColor" '
            'stroke-opacity="0.35" stroke-dasharray="4 4"/>'
        )
    previous: tuple[float, float] | None = None
    for j, (lane, line1, line2) in enumerate(rows):
        x = 10 + lane_w * lane + (lane_w - box_w) / 2
        y = top + j * row_h
        body.append(box(x, y, box_w, box_h, ACCENTS[lane % len(ACCENTS)]))
        body.append(text(x + 8, y + 20, f"{j + 1}. {line1}", size=12))
        if line2:
            body.append(text(x + 8, y + 37, line2, size=12, fill_opacity="0.8"))
        if previous is not None:
            px, py = previous
            cx = x + box_w / 2
            if abs(px - cx) < 1:
                body.append(
                    f'<line x1="{cx}" y1="{py}" x2="{cx}" y2="{y - 1}" stroke="currentColor" '
                    'stroke-width="1.3" marker-end="url(#ARROW)"/>'
                )
            else:
                side = x if px < cx else x + box_w
                start = px + box_w / 2 if px < cx else px - box_w / 2
                body.append(
                    f'<path d="M{start} {py - box_h / 2}L{side} {y + box_h / 2}" fill="none" '
                    'stroke="currentColor" stroke-width="1.3" marker-end="url(#ARROW)"/>'
                )
        previous = (x + box_w / 2, y + box_h)
    return svg(w, h, title, body)


def call() -> str:
    lanes = ["caller's task", "_core (call, names, deadlines)", "server process (GenServer)"]
    rows = [
        (0, 'await otp.call("counter", "inc")', "the caller's code"),
        (1, "whereis: the name to a Pid", "a dict lookup; NoProcessError if none"),
        (1, "append (request, From) to the deque", "wake the server if parked; no await"),
        (1, "caller parks; its deadline", "enters the run's one deadline table"),
        (2, "the server takes the message", "in order, one callback at a time"),
        (2, "handle_call returns Reply(v, s)", "or NoReply: reply(from_, v) later"),
        (1, "reply: reschedule the caller", "once; a late reply is dropped"),
        (0, "call returns v", "its deadline left the table"),
    ]
    return steps(lanes, rows, "One call's path, from the caller to the server and back")


def job() -> str:
    lanes = ["caller's task", "queue server (GenServer)", "job's Task (DynamicSupervisor)"]
    rows = [
        (0, "await queue.schedule(fn, 21)", "a call to the queue server"),
        (1, "handle_call: admit the job", "or queue it, or QueueFullError"),
        (1, "start_child: a Task for the job", "returns NoReply: the Task answers"),
        (2, "attempt: fn(21) on the executor", "in-thread, trio-parallel or Ray"),
        (2, "timeout scope, RetryPolicy", "a crash retries, apart from intensity"),
        (2, "reply(from_, result)", "straight to the caller; an event"),
        (0, "schedule returns the result", "or raises the job's error"),
    ]
    return steps(lanes, rows, "One job's path through the queue's tree")


if __name__ == "__main__":
    for name, draw in (("layers", layers), ("call", call), ("job", job)):
        (HERE / f"{name}.svg").write_text(draw(), encoding="utf-8")
