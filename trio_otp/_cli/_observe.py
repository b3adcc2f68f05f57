"""``trio-otp observe URL``: the live supervision tree of a running observer, in a terminal.

It reads the observer's own event stream (``/api/events``, the one the web page
reads) and prints the tree at each snapshot: on a terminal it redraws the screen, into
a pipe it prints one block per snapshot. Nothing here imports the observer's server
(hypercorn): the client is the standard library's ``http.client``, run in the
command's own process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any, Final, TextIO

from . import UsageError

HELP: Final = "print the live supervision tree of a program's trio_otp observer"
DESCRIPTION: Final = """\
Connect to a running trio_otp.observer.Observer (the URL it logs when it starts, e.g.
http://127.0.0.1:8123) and print its supervision tree, each supervisor with its
strategy and the restarts used in its window, each process with its class, mailbox
and restarts, then the job queues. The view is redrawn at every snapshot the observer
pushes (about once per second) until Ctrl-C, or --count snapshots.

An observer bound to an address other than loopback needs its token: --token, or the
TRIO_OTP_OBSERVER_TOKEN environment variable (sent as 'Authorization: Bearer').

exit status:
  0  done (--count reached, or --once); Ctrl-C ends it by SIGINT (130 in a shell)
  2  usage error (a bad URL)
  3  the observer could not be reached, or refused the request (the message says why)
"""

EXIT_OK: Final = 0
EXIT_UNREACHABLE: Final = 3
TOKEN_ENV: Final = "TRIO_OTP_OBSERVER_TOKEN"
#: Seconds without a byte from the observer before giving up (it pushes every second).
READ_TIMEOUT: Final = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="the observer's address, http://host:port")
    parser.add_argument(
        "--token",
        default=None,
        help=f"the observer's token (default: ${TOKEN_ENV}; needed off loopback only)",
    )
    parser.add_argument(
        "--once", action="store_true", help="print the tree once and exit (same as --count 1)"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        metavar="N",
        help="exit after N snapshots (default 0: until Ctrl-C)",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="also print the process table (mailbox, messages handled, uptime)",
    )


# -- rendering (a pure function of a snapshot: tested without a server) ----------------


def _node_line(entry: dict[str, Any]) -> str:
    parts = [str(entry.get("label") or "?")]
    kind = entry.get("kind")
    if kind and kind != entry.get("label"):
        parts.append(str(kind))
    if entry.get("status") not in (None, "running"):
        parts.append(f"[{entry['status']}]")
    if "strategy" in entry:
        parts.append(entry["strategy"])
        intensity = entry.get("intensity") or {}
        if intensity:
            parts.append(
                f"restarts used {intensity.get('used', 0)}/{intensity.get('max', '?')} "
                f"in {intensity.get('seconds', '?')} s"
            )
    if entry.get("restarts"):
        parts.append(f"restarted {entry['restarts']}x")
    return "  ".join(parts)


def _tree_lines(entries: list[dict[str, Any]], prefix: str = "") -> Iterator[str]:
    for i, entry in enumerate(entries):
        last = i == len(entries) - 1 and not entry.get("more")
        yield f"{prefix}{'└── ' if last else '├── '}{_node_line(entry)}"
        below = prefix + ("    " if last else "│   ")
        yield from _tree_lines(entry.get("children") or [], below)
        if entry.get("more"):
            yield f"{below}└── ... {entry['more']} more"


def render(view: dict[str, Any], *, processes: bool = False) -> str:
    """The text of one snapshot: the tree, then the job queues (and the table)."""
    count = view.get("process_count", 0)
    watched = float(view.get("now", 0)) - float(view.get("observed_since", view.get("now", 0)))
    lines = [f"trio_otp observer: {count} processes, observed for {watched:.1f} s"]
    roots = view.get("tree") or []
    lines.extend(_tree_lines(roots) if roots else ["(no processes)"])
    for queue in view.get("queues") or []:
        counts = queue.get("counts") or {}
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"queue {queue.get('title', queue.get('key'))}: {shown}")
        for failure in (queue.get("failures") or [])[:5]:
            lines.append(
                f"  failed #{failure.get('id')} {failure.get('name')} "
                f"(attempt {failure.get('attempt')}): {failure.get('error')}"
            )
    if processes:
        lines.append(f"{'pid':>6}  {'process':<28} {'mailbox':>7} {'handled':>8} {'uptime':>8}")
        for row in view.get("processes") or []:
            handled = "-" if row.get("handled") is None else row["handled"]
            lines.append(
                f"{row.get('pid')!s:>6}  {str(row.get('label'))[:28]:<28} "
                f"{row.get('mailbox', 0):>7} {handled!s:>8} {row.get('uptime', 0):>7.1f}s"
            )
    return "\n".join(lines)


# -- the client ------------------------------------------------------------------------


def _target(url: str) -> tuple[str, int, str]:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme != "http" or not parsed.hostname:
        raise UsageError(
            f"bad observer URL {url!r}: give http://host:port (the observer serves plain "
            "HTTP; put a TLS proxy in front of it for anything but loopback)"
        )
    try:
        port = parsed.port or 80
    except ValueError:
        raise UsageError(f"bad observer URL {url!r}: the port is not a number") from None
    return parsed.hostname, port, parsed.path.rstrip("/")


def _events(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """The ``snapshot`` events of a server-sent event stream, parsed."""
    event, data = "message", list[str]()
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if event == "snapshot" and data:
                yield json.loads("\n".join(data))
            elif event == "bye":
                return
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def observe(
    url: str,
    *,
    token: str | None = None,
    count: int = 0,
    processes: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Print the observer's tree at ``url`` at each snapshot; return the exit status."""
    host, port, base = _target(url)
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT)
    try:
        connection.request("GET", f"{base}/api/events", headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            text = response.read(2000).decode("utf-8", "replace").strip()
            print(f"trio-otp observe: {url} answered {response.status}: {text}", file=sys.stderr)
            return EXIT_UNREACHABLE
        redraw = out.isatty()
        for shown, view in enumerate(_events(response), 1):
            text = render(view, processes=processes)
            out.write(("\x1b[H\x1b[2J" + text + "\n") if redraw else (text + "\n\n"))
            out.flush()
            if count and shown >= count:
                break
        return EXIT_OK
    except OSError as exc:  # refused, reset, timed out: say where and what
        print(f"trio-otp observe: cannot read the observer at {url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        connection.close()


def run(args: argparse.Namespace) -> int:
    count = 1 if args.once else args.count
    if count < 0:
        raise UsageError(f"--count must be >= 0, got {count}")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    # Ctrl-C is how a live view ends: the default action (the process ends at once,
    # status 130 in a shell), not a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return observe(args.url, token=token, count=count, processes=args.processes)
