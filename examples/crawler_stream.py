"""A crawler on ``async_stream``: bounded concurrency, back-pressure, no hang, early stop.

Run it::

    python examples/crawler_stream.py [--fast]

What it teaches:

* ``TaskSupervisor.async_stream_nolink(sup, urls, fetch, max_concurrency=3)`` fetches
  at most three pages at a time, under a task supervisor, and hands back each result
  in input order as ``("ok", page)`` or ``("exit", reason)``. A page that raises or
  that runs past ``timeout`` (with ``on_timeout="kill_task"``) is an ``exit`` for that
  page only; the crawl goes on. ``zip_input_on_exit=True`` says which URL it was.
* The input is read lazily: a new URL is taken only when a slot is free, so a huge
  (or endless) frontier is never read ahead.
* The stream is an ``async with`` block: leaving it early (``break`` once the page we
  look for is found) cancels the fetches still running. None outlives the block.
* The anti-pattern it replaces: ``DynamicSupervisor.start_child`` at
  ``max_children`` raises ``MaxChildrenError`` at once (as OTP does), so a producer
  that loops on ``start_child`` must handle it; bounding the producer with the stream
  (or a bounded memory channel in front of the supervisor) is the back-pressure idiom.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, TaskSupervisor

#: The pretend web: url -> (seconds to fetch, links). "broken" raises; "slow" hangs.
WEB: dict[str, tuple[float, list[str]]] = {
    "/": (1, ["/a", "/b", "/c", "/broken"]),
    "/a": (2, ["/a/1", "/a/2", "/slow"]),
    "/b": (1, ["/b/1", "/"]),
    "/c": (3, ["/c/needle"]),
    "/a/1": (1, []),
    "/a/2": (1, ["/b/1"]),
    "/b/1": (2, []),
    "/c/needle": (1, []),
    "/slow": (60, []),
}


@dataclass
class Stats:
    """Observed while crawling, for the tests."""

    running: int = 0
    peak: int = 0
    fetched: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


@dataclass
class Story:
    """What happened, for the tests."""

    pages: list[str] = field(default_factory=list)
    exits: list[tuple[str, str]] = field(default_factory=list)
    peak: int = 0
    crawl_time: float = 0.0
    read_ahead: list[int] = field(default_factory=list)
    found_at: float = 0.0
    cancelled_on_break: list[str] = field(default_factory=list)
    max_children_error: str = ""


def make_fetch(stats: Stats) -> Any:
    async def fetch(url: str) -> tuple[str, list[str]]:
        """Fetch one page: wait its time, then return its links."""
        stats.running += 1
        stats.peak = max(stats.peak, stats.running)
        try:
            if url == "/broken":
                await trio.sleep(0.5)
                raise ConnectionError(f"{url}: connection reset")
            delay, links = WEB[url]
            await trio.sleep(delay)
            stats.fetched.append(url)
            return url, links
        except trio.Cancelled:
            stats.cancelled.append(url)
            raise
        finally:
            stats.running -= 1

    return fetch


async def crawl(sup: otp.Pid, stats: Stats, story: Story) -> None:
    """Breadth first, one async_stream per level, at most 3 fetches at a time."""
    seen = {"/"}
    frontier = ["/"]
    began = trio.current_time()
    while frontier:
        next_level: list[str] = []
        async with TaskSupervisor.async_stream_nolink(
            sup,
            frontier,
            make_fetch(stats),
            max_concurrency=3,
            timeout=5,
            on_timeout="kill_task",
            zip_input_on_exit=True,
        ) as results:
            async for status, value in results:
                if status == "ok":
                    url, links = value
                    story.pages.append(url)
                    next_level += [link for link in links if link not in seen]
                    seen.update(links)
                else:
                    url, reason = value
                    story.exits.append(
                        (url, "normal" if otp.is_normal_exit(reason) else repr(reason))
                    )
                    print(f"  {url}: exit {reason!r}")
        frontier = next_level
    story.crawl_time = trio.current_time() - began
    story.peak = stats.peak


async def main() -> Story:
    """Crawl the pretend web, then show back-pressure, an early stop and max_children."""
    story = Story()
    children = [(TaskSupervisor, {"name": "fetchers"})]
    async with Supervisor.open(children, name="crawler") as app:
        sup = otp.whereis("fetchers")
        assert sup is not None

        print("--- crawl: at most 3 fetches at once, exits are per page ---")
        stats = Stats()
        await crawl(sup, stats, story)
        print(f"  pages: {story.pages}")
        print(f"  peak concurrency {story.peak}, {story.crawl_time:g} s of (virtual) time")

        print()
        print("--- back-pressure: the input is read only as slots free up ---")
        read: list[int] = []

        def endless() -> Iterator[int]:
            n = 0
            while True:
                read.append(n)
                yield n
                n += 1

        async def square(n: int) -> int:
            await trio.sleep(1)
            return n * n

        async with otp.async_stream(endless(), square, max_concurrency=3) as squares:
            async for _, value in squares:
                story.read_ahead.append(len(read))
                if value >= 16:
                    break
        print(f"  items read when each result arrived: {story.read_ahead}")

        print()
        print("--- stop early: break out once the needle is found; the rest is cancelled ---")
        stats = Stats()
        began = trio.current_time()
        async with otp.async_stream(
            ["/a", "/b/1", "/c/needle", "/slow"],
            make_fetch(stats),
            max_concurrency=4,
            ordered=False,
        ) as pages:
            async for _, (url, _links) in pages:
                if url.endswith("needle"):
                    story.found_at = trio.current_time() - began
                    break
        await trio.testing.wait_all_tasks_blocked()
        story.cancelled_on_break = sorted(stats.cancelled)
        print(f"  found after {story.found_at:g} s; cancelled: {story.cancelled_on_break}")

        print()
        print("--- the anti-pattern: start_child at max_children raises, it never waits ---")
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery, max_children=2)
            try:
                for url in ["/a", "/b", "/c"]:
                    await DynamicSupervisor.start_child(ds, otp.Task.child_spec(trio.sleep, 10))
                    print(f"  started a fetcher for {url}")
            except otp.MaxChildrenError as exc:
                story.max_children_error = str(exc)
                print(f"  {type(exc).__name__}: {exc}  -> bound the producer instead")
            await DynamicSupervisor.stop(ds)
        print()
        print(await otp.render_tree(app))
    return story


class OneLineFormatter(logging.Formatter):
    """A crash report on one line: who crashed and why (no traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        return f"  [{record.levelname} {record.name}] {' '.join(lines[:2])}"


def cli(argv: list[str] | None = None) -> int:
    """Parse the command line and run :func:`main`."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter())
    logging.basicConfig(handlers=[handler])
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
