"""A crawler: a coordinator that never blocks, fed by task results and retry timers.

Run it::

    python examples/crawler.py [--fast]

What it teaches:

* A GenServer that runs work in tasks does not wait for them. ``Task.async_nolink``
  from inside the coordinator starts a fetch under a DynamicSupervisor, and the
  result comes back as a *message*: ``otp.TaskReply(ref, page)`` when the fetch
  returns, ``otp.Down(ref, pid, reason)`` when it crashes. Elixir's Task.Supervisor
  docs recommend exactly this for OTP behaviours; the coordinator stays free to
  answer calls while fetches run.
* Retries are timers: a failed fetch is tried again after a back-off with
  ``otp.send_after(self.pid, ("retry", url), delay)``; no task sleeps for it. After
  ``MAX_ATTEMPTS`` the URL is given up on.
* The crawl is one ``otp.call`` whose ``from_`` the coordinator keeps
  (``NoReply``) and answers with ``otp.reply`` when nothing is left in flight.
* At most ``MAX_IN_FLIGHT`` fetches run at once; the others wait in a queue.

The web is simulated (a dictionary of pages with latencies and flaky servers), so
the story is the same on every run.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import sys
from typing import Any

import attrs
import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Task

MAX_IN_FLIGHT = 3
MAX_ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the first retry; doubled for each further one

#: url -> (latency in seconds, failures before it answers, links on the page)
WEB: dict[str, tuple[float, int, tuple[str, ...]]] = {
    "/": (0.1, 0, ("/docs", "/blog", "/shop")),
    "/docs": (0.2, 0, ("/docs/api", "/docs/tutorial", "/")),
    "/blog": (0.3, 1, ("/blog/1", "/blog/2")),  # fails once, then answers
    "/shop": (0.1, 9, ()),  # always fails: given up after MAX_ATTEMPTS
    "/docs/api": (0.1, 0, ()),
    "/docs/tutorial": (0.1, 2, ("/docs/api",)),  # fails twice
    "/blog/1": (0.2, 0, ()),
    "/blog/2": (0.2, 0, ("/missing",)),
}


class FakeWeb:
    """Counts attempts per URL, so that flaky pages fail a set number of times."""

    def __init__(self) -> None:
        self.attempts: collections.Counter[str] = collections.Counter()

    async def fetch(self, url: str) -> tuple[str, ...]:
        """Fetch ``url``: its links. Raises ``ConnectionError`` while the server is flaky."""
        self.attempts[url] += 1
        latency, failures, links = WEB.get(url, (0.05, 99, ()))
        await trio.sleep(latency)
        if self.attempts[url] <= failures:
            raise ConnectionError(f"{url}: connection reset (attempt {self.attempts[url]})")
        return links


@attrs.define
class Crawl:
    """The coordinator's state."""

    web: FakeWeb
    fetchers: otp.Pid
    start: float = 0.0
    caller: otp.From | None = None
    queue: collections.deque[str] = attrs.field(factory=collections.deque)
    in_flight: dict[otp.Ref, str] = attrs.field(factory=dict)
    retrying: int = 0
    attempts: collections.Counter[str] = attrs.field(factory=collections.Counter)
    seen: set[str] = attrs.field(factory=set)
    pages: dict[str, float] = attrs.field(factory=dict)  # url -> when it was crawled
    failed: dict[str, str] = attrs.field(factory=dict)  # url -> last error
    log: list[str] = attrs.field(factory=list)


class Coordinator(otp.GenServer[Crawl]):
    async def init(self, arg: tuple[FakeWeb, otp.Pid]) -> otp.Ok[Crawl]:
        web, fetchers = arg
        return otp.Ok(Crawl(web, fetchers))

    async def handle_call(self, request: Any, from_: otp.From, crawl: Crawl) -> Any:
        match request:
            case ("crawl", url):
                crawl.caller, crawl.start = from_, trio.current_time()
                self._discover(url, crawl)
                await self._dispatch(crawl)
                return otp.NoReply(crawl)  # answered with otp.reply when done
            case "progress":  # answered at once, even while fetches run
                return otp.Reply((len(crawl.pages), len(crawl.in_flight)), crawl)
        raise ValueError(f"unknown request {request!r}")

    async def handle_info(self, message: Any, crawl: Crawl) -> otp.NoReply[Crawl]:
        match message:
            case otp.TaskReply(ref=ref, result=tuple() as links):
                url = crawl.in_flight.pop(ref)
                crawl.pages[url] = round(trio.current_time() - crawl.start, 3)
                self._note(crawl, f"crawled {url} ({len(links)} link(s))")
                for link in links:
                    self._discover(link, crawl)
            case otp.Down(ref=ref, reason=reason):
                url = crawl.in_flight.pop(ref)
                if crawl.attempts[url] < MAX_ATTEMPTS:
                    delay = BACKOFF * 2 ** (crawl.attempts[url] - 1)
                    crawl.retrying += 1
                    otp.send_after(self.pid, ("retry", url), delay)
                    self._note(crawl, f"{reason} -> retry in {delay:g} s")
                else:
                    crawl.failed[url] = str(reason)
                    self._note(crawl, f"{reason} -> giving up on {url}")
            case ("retry", url):
                crawl.retrying -= 1
                crawl.queue.append(url)
        await self._dispatch(crawl)
        return otp.NoReply(crawl)

    def _discover(self, url: str, crawl: Crawl) -> None:
        if url not in crawl.seen:
            crawl.seen.add(url)
            crawl.queue.append(url)

    def _note(self, crawl: Crawl, line: str) -> None:
        line = f"[t={trio.current_time() - crawl.start:4.2f}] {line}"
        crawl.log.append(line)
        print(f"  {line}")

    async def _dispatch(self, crawl: Crawl) -> None:
        while crawl.queue and len(crawl.in_flight) < MAX_IN_FLIGHT:
            url = crawl.queue.popleft()
            crawl.attempts[url] += 1
            task = await Task.async_nolink(crawl.fetchers, crawl.web.fetch, url)
            assert task.ref is not None  # started from a process: results are messages
            crawl.in_flight[task.ref] = url
        if crawl.caller is not None and not (crawl.queue or crawl.in_flight or crawl.retrying):
            otp.reply(crawl.caller, (dict(crawl.pages), dict(crawl.failed)))
            crawl.caller = None


async def main() -> dict[str, Any]:
    """Crawl the simulated web; return what happened, for the tests."""
    web = FakeWeb()
    async with trio.open_nursery() as nursery:
        fetchers = await DynamicSupervisor.start(nursery, name="fetchers")
        coordinator = await Coordinator.start(nursery, (web, fetchers))
        print("crawl('/'): at most 3 fetches at once, 3 attempts per page")
        async with trio.open_nursery() as watchers:

            async def peek() -> None:
                await trio.sleep(0.25)
                done, running = await otp.call(coordinator, "progress")
                print(f"  [t=0.25] progress: {done} page(s) done, {running} fetch(es) running")

            watchers.start_soon(peek)
            pages, failed = await otp.call(coordinator, ("crawl", "/"), timeout=30)
        print(f"crawled {len(pages)} pages; gave up on {sorted(failed)}")
        await otp.stop(coordinator)
        await DynamicSupervisor.stop(fetchers)
    return {"pages": pages, "failed": failed, "attempts": dict(web.attempts)}


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    # Each failed fetch is a task crash, reported on trio_otp.task; the coordinator
    # already prints one line per failure, so keep the reports quiet here.
    logging.getLogger("trio_otp.task").setLevel(logging.CRITICAL)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
