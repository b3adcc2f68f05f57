"""The web observer: served on real sockets on 127.0.0.1, asked with a real HTTP client.

These tests run on trio's real clock (short intervals): the observer waits on sockets,
and the autojump clock would jump while it does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
from _http import first_events, request

import trio_otp as otp
from trio_otp import _core
from trio_otp.observer import Observer


class Counter(otp.GenServer[Any]):
    async def init(self, start: Any) -> otp.Ok[Any]:
        return otp.Ok(start)

    async def handle_call(self, request: Any, from_: otp.From, state: Any) -> otp.Reply[Any]:
        return otp.Reply(state, state)

    async def handle_cast(self, request: Any, state: Any) -> otp.NoReply[Any]:
        if request == "crash":
            raise RuntimeError("asked to crash")
        return otp.NoReply(state)

    def format_status(self, state: Any) -> object:
        if isinstance(state, dict):
            return {**state, "password": "***"}
        return state


def _children(**options: Any) -> list[Any]:
    return [
        Counter.child_spec(0, id="counter", name="counter"),
        Counter.child_spec({"password": "hunter2", "n": 1}, id="secret", name="secret"),
        (otp.JobQueue, {"name": "jobs"}),
        Observer.child_spec(interval=0.05, sample_every=0.2, sample_for=0.1, **options),
    ]


async def _snapshot(obs: Observer, **headers: str) -> dict[str, Any]:
    status, _, body = await request(obs.port, path="/api/snapshot", headers=headers)
    assert status == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


def _node(tree: list[dict[str, Any]], label: str) -> dict[str, Any]:
    for entry in tree:
        if entry["label"] == label:
            return entry
        try:
            return _node(entry["children"], label)
        except LookupError:
            pass
    raise LookupError(label)


def _row(view: dict[str, Any], label: str) -> dict[str, Any]:
    [row] = [p for p in view["processes"] if p["label"] == label]
    return row


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` on the real clock (the test's fail_after bounds it)."""
    while not await condition():  # noqa: ASYNC110 - a condition on another server's view
        await trio.sleep(0.02)


async def _csrf(port: int, **headers: str) -> str:
    status, _, page = await request(port, headers=headers)
    assert status == 200
    match = re.search(rb'name="observer-csrf" content="([^"]+)"', page)
    assert match is not None
    return match.group(1).decode()


async def test_the_tree_and_processes_show_with_names_restarts_and_redacted_state():
    with trio.fail_after(20):
        async with otp.Supervisor.open(_children(), name="app"):
            [obs] = Observer.running()
            view = await _snapshot(obs)
            app = _node(view["tree"], "app")
            assert app["strategy"] == "one_for_one"
            assert app["intensity"] == {"used": 0, "max": 3, "seconds": 5.0}
            labels = [c["label"] for c in app["children"]]
            assert labels[:3] == ["counter", "secret", "jobs"]
            assert _node(view["tree"], "counter")["restarts"] == 0
            secret = _row(view, "secret")
            assert "hunter2" not in secret["status"]
            assert "'password': [masked]" in secret["status"]  # masked by default too
            assert secret["class"] == "Counter"
            assert _row(view, "counter")["status"] == "0"

            otp.cast("counter", "crash")

            async def restarted() -> bool:
                nonlocal view
                view = await _snapshot(obs)
                return bool(_node(view["tree"], "counter")["restarts"] == 1)

            await _until(restarted)
            assert _node(view["tree"], "app")["intensity"]["used"] == 1
            assert _row(view, "counter")["restarts"] == 1
            for _ in range(3):
                await otp.call("counter", "get")

            async def charted() -> bool:  # counted once a second, without telemetry
                nonlocal view
                view = await _snapshot(obs)
                series = view["charts"]["series"]
                return bool(series["restarts"]) and sum(n for _, n in series["calls"]) >= 3

            await _until(charted)
            assert sum(n for _, n in view["charts"]["series"]["restarts"]) == 1


async def test_messages_handled_mailbox_links_monitors_and_scheduler_share():
    with trio.fail_after(20):
        async with otp.Supervisor.open(_children(), name="app"):
            [obs] = Observer.running()
            await _snapshot(obs)  # the observer sees "counter": counting starts
            for _ in range(5):
                await otp.call("counter", "get")
            async with otp.mailbox():
                ref = otp.monitor("counter")
                view = await _snapshot(obs)
                counter = _row(view, "counter")
                assert counter["handled"] == 5
                assert counter["mailbox"] == 0
                me = otp.current_process()
                assert me is not None
                assert counter["monitored_by"] == [me._id]
                otp.demonitor(ref)

            async def sampled() -> bool:  # the instrument's first window (0.2 s)
                return any(p["steps"] for p in (await _snapshot(obs))["processes"])

            await _until(sampled)


async def test_host_and_origin_are_checked():
    async with Observer().open() as obs:
        status, _, body = await request(obs.port, headers={"host": "evil.example:80"})
        assert status == 421
        assert b"Host" in body
        status, _, _ = await request(obs.port, headers={"host": f"localhost:{obs.port}"})
        assert status == 200
        status, _, body = await request(
            obs.port, path="/api/snapshot", headers={"origin": "http://evil.example"}
        )
        assert status == 403
        assert b"cross-origin" in body
        status, _, _ = await request(
            obs.port, path="/api/snapshot", headers={"origin": f"http://127.0.0.1:{obs.port}"}
        )
        assert status == 200


def test_a_non_loopback_address_needs_a_token():
    with pytest.raises(ValueError, match="needs a token"):
        Observer(host="0.0.0.0")
    with pytest.raises(ValueError, match="at least 16"):
        Observer(host="0.0.0.0", token="short")
    with pytest.raises(otp.ChildSpecError, match="unknown Observer option"):
        Observer.child_spec(prot=80)


async def test_the_token_is_checked_on_every_request():
    token = "t" * 24
    async with Observer(host="0.0.0.0", token=token).open() as obs:
        for path in ("/", "/api/snapshot", "/api/events", "/static/observer.js"):
            status, _, body = await request(obs.port, path=path)
            assert status == 401, path
            assert b"token" in body
        status, _, _ = await request(obs.port, path="/api/snapshot?token=" + "x" * 24)
        assert status == 401
        status, _, _ = await request(
            obs.port, path="/api/snapshot", headers={"authorization": f"Bearer {token}"}
        )
        assert status == 200
        status, headers, _ = await request(obs.port, path=f"/?token={token}")
        assert status == 303
        assert headers["location"] == "/"
        cookie = headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in headers["set-cookie"]
        assert "SameSite=Strict" in headers["set-cookie"]
        status, _, _ = await request(obs.port, path="/api/snapshot", headers={"cookie": cookie})
        assert status == 200
        status, events = await first_events(obs.port, 1, {"cookie": cookie})
        assert status == 200
        assert events[0][0] == "snapshot"


async def test_actions_are_refused_while_off():
    async with otp.Supervisor.open(_children(), name="app"):
        [obs] = Observer.running()
        csrf = await _csrf(obs.port)
        counter = otp.whereis("counter")
        status, _, body = await request(
            obs.port,
            "POST",
            "/api/kill",
            {"content-type": "application/json", "x-observer-csrf": csrf},
            json.dumps({"pid": counter._id}).encode() if counter else b"",
        )
        assert status == 403
        assert b"actions are off" in body
        assert counter is not None
        assert counter.alive


async def test_actions_need_post_the_page_token_and_json():
    async with otp.Supervisor.open(_children(actions=True), name="app"):
        [obs] = Observer.running()
        counter = otp.whereis("counter")
        assert counter is not None
        body = json.dumps({"pid": counter._id}).encode()
        plain = {"content-type": "application/json"}
        status, _, text = await request(obs.port, "POST", "/api/kill", plain, body)
        assert status == 403
        assert b"CSRF" in text
        wrong = {**plain, "x-observer-csrf": "nope"}
        status, _, _ = await request(obs.port, "POST", "/api/kill", wrong, body)
        assert status == 403
        csrf = await _csrf(obs.port)
        cross = {**plain, "x-observer-csrf": csrf, "origin": "http://evil.example"}
        status, _, _ = await request(obs.port, "POST", "/api/kill", cross, body)
        assert status == 403
        form = {"content-type": "text/plain", "x-observer-csrf": csrf}
        status, _, _ = await request(obs.port, "POST", "/api/kill", form, body)
        assert status == 415
        assert counter.alive
        good = {**plain, "x-observer-csrf": csrf, "origin": f"http://127.0.0.1:{obs.port}"}
        status, _, _ = await request(obs.port, "PUT", "/api/kill", good, body)
        assert status == 405
        status, _, text = await request(obs.port, "POST", "/api/kill", good, body)
        assert status == 200, text
        assert await counter.wait_exited() == otp.KILLED
        status, _, _ = await request(
            obs.port, "POST", "/api/kill", good, json.dumps({"pid": obs.pid._id}).encode()
        )
        assert status == 409


async def _fails(n: int) -> None:
    await trio.lowlevel.checkpoint()
    raise ValueError(f"job {n} cannot be done")


async def test_job_failures_history_cancel_and_retry():
    with trio.fail_after(20):
        async with otp.Supervisor.open(_children(actions=True), name="app"):
            [obs] = Observer.running()
            await _snapshot(obs)  # the observer hooks the queue's events
            queue = otp.JobQueue.lookup("jobs")
            failed = await queue.submit(_fails, 7)
            with pytest.raises(ValueError, match="job 7"):
                await failed.wait()
            slow = await queue.submit(trio.sleep_forever)
            view = await _snapshot(obs)
            [jobs] = view["queues"]
            assert jobs["key"] == "jobs"
            assert jobs["counts"]["failed"] == 1
            assert jobs["counts"]["running"] == 1
            [failure] = jobs["failures"]
            assert failure["id"] == failed.id
            assert "ValueError: job 7" in failure["error"]
            [running] = jobs["running"]
            assert running["id"] == slow.id
            assert running["attempt"] == 1

            status, _, body = await request(obs.port, path=f"/api/jobs/jobs/{failed.id}")
            assert status == 200
            kinds = [a["kind"] for a in json.loads(body)["attempts"]]
            assert kinds == ["queued", "started", "failed"]
            status, _, _ = await request(obs.port, path="/api/jobs/jobs/999")
            assert status == 404

            csrf = await _csrf(obs.port)
            post = {"content-type": "application/json", "x-observer-csrf": csrf}
            body = json.dumps({"queue": "jobs", "job": slow.id}).encode()
            status, _, _ = await request(obs.port, "POST", "/api/jobs/cancel", post, body)
            assert status == 200
            with pytest.raises(otp.JobCancelledError):
                await slow.wait()
            body = json.dumps({"queue": "jobs", "job": failed.id}).encode()
            status, _, _ = await request(obs.port, "POST", "/api/jobs/retry", post, body)
            assert status == 200

            async def failed_again() -> bool:  # the retried job ran (and failed again)
                return queue.statistics().failed == 2

            await _until(failed_again)
            view = await _snapshot(obs)
            assert view["charts"]["series"]["jobs_failed"]


async def test_the_page_streams_views_as_server_sent_events():
    async with otp.Supervisor.open(_children(), name="app"):
        [obs] = Observer.running()
        status, events = await first_events(obs.port, 3)
        assert status == 200
        assert [kind for kind, _ in events] == ["snapshot"] * 3
        labels = {p["label"] for p in json.loads(events[-1][1])["processes"]}
        assert {"app", "counter", "secret", "jobs"} <= labels
        status, _, page = await request(obs.port)
        assert b"/static/observer.js" in page
        status, headers, script = await request(obs.port, path="/static/observer.js")
        assert status == 200
        assert headers["content-type"].startswith("text/javascript")
        assert b"EventSource" in script


async def test_stopping_logs_no_error_and_leaves_nothing_behind(caplog):
    caplog.set_level(logging.DEBUG)
    threads = threading.active_count()
    handlers = len(otp.list_telemetry_handlers())
    async with trio.open_nursery() as nursery, otp.Supervisor.open(_children(), name="app"):
        [obs] = Observer.running()
        # a client streaming when the observer stops
        nursery.start_soon(first_events, obs.port, 1000)
        await _snapshot(obs)
        # no telemetry handler: the program's calls emit nothing for the observer
        assert len(otp.list_telemetry_handlers()) == handlers
        counter = otp.whereis("counter")
        assert counter is not None
        assert "handle_call" in counter._impl.__dict__
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert threading.active_count() == threads
    assert len(otp.list_telemetry_handlers()) == handlers
    assert not _core._telemetry.listening or handlers
    assert "handle_call" not in counter._impl.__dict__  # the counting wrappers are gone
    assert Observer.running() == []


async def test_a_killed_observer_is_restarted_by_its_supervisor(caplog):
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(20):
        async with otp.Supervisor.open(_children(), name="app"):
            [obs] = Observer.running()
            assert obs.pid is not None
            otp.exit(obs.pid, otp.KILL)

            async def restarted() -> bool:
                return bool(Observer.running()) and Observer.running()[0] is not obs

            await _until(restarted)
            [again] = Observer.running()
            assert (await _snapshot(again))["tree"]
    assert not [
        r for r in caplog.records if r.name == "hypercorn.error" and r.levelno >= logging.ERROR
    ]


async def test_a_durable_queue_shows_store_counts_failures_and_history_from_the_store(
    tmp_path: Any,
) -> None:
    """A durable queue (a real SQLite file) is found on its own; its history is read
    from the store's row, its actions go through the store."""
    from _durable_jobs import fail, slow

    from trio_otp.jobs import JobState, SQLiteStore

    store = SQLiteStore(tmp_path / "jobs.db")
    children = [
        (otp.JobQueue, {"name": "durable", "store": store, "jobs": [fail, slow]}),
        Observer.child_spec(interval=0.05, actions=True),
    ]
    with trio.fail_after(30):
        async with otp.Supervisor.open(children, name="app"):
            [obs] = Observer.running()
            await _snapshot(obs)  # the observer attaches the queue's source
            queue = otp.JobQueue.lookup("durable")
            failed = await queue.enqueue(fail, "bad row", max_attempts=1)
            with pytest.raises(otp.JobError):
                await failed.wait()
            running = await queue.enqueue(slow, 3600, "long")
            while (await running.refresh()).state is not JobState.EXECUTING:  # noqa: ASYNC110
                await trio.sleep(0.01)  # the store's row is the truth: poll it

            view = await _snapshot(obs)
            # The store's counts may be a reused count (up to ten times as old as
            # the count took): look again until they show both jobs.
            while view["queues"][0]["counts"]["executing"] != 1:
                await trio.sleep(0.05)
                view = await _snapshot(obs)
            [jobs] = view["queues"]
            assert jobs["key"] == "durable"
            assert "SQLiteStore" in jobs["title"]
            assert jobs["counts"]["discarded"] == 1
            assert jobs["counts"]["executing"] == 1
            assert jobs["counts"]["running here"] == 1
            [row] = jobs["running"]
            assert (row["id"], row["name"], row["attempt"]) == (running.id, "_durable_jobs:slow", 1)
            [failure] = jobs["failures"]
            assert failure["id"] == failed.id
            assert "ValueError: bad row" in failure["error"]

            status, _, body = await request(obs.port, path=f"/api/jobs/durable/{failed.id}")
            assert status == 200
            attempts = json.loads(body)["attempts"]
            assert [a["kind"] for a in attempts] == ["queued", "failed attempt", "discarded"]
            assert "ValueError: bad row" in attempts[1]["error"]
            now = view["now"]
            assert all(now - 30 < a["at"] <= now + 1 for a in attempts)  # the page's clock

            csrf = await _csrf(obs.port)
            post = {"content-type": "application/json", "x-observer-csrf": csrf}
            body = json.dumps({"queue": "durable", "job": running.id}).encode()
            status, _, _ = await request(obs.port, "POST", "/api/jobs/cancel", post, body)
            assert status == 200
            while (await running.refresh()).state is not JobState.CANCELLED:  # noqa: ASYNC110
                await trio.sleep(0.01)
            body = json.dumps({"queue": "durable", "job": failed.id}).encode()
            status, _, _ = await request(obs.port, "POST", "/api/jobs/retry", post, body)
            assert status == 200
            while len((await failed.refresh()).errors) < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)  # the retried job ran again (and failed again)
            engine = queue._engine
            assert engine is not None
            assert "_end" in engine.__dict__  # the source's recorder, chained in front
        assert "_end" not in engine.__dict__  # put back when the observer stopped


def test_a_program_without_an_observer_imports_none_of_it() -> None:
    """``import trio_otp`` loads neither the observer nor its web server nor the
    testing helpers: a program that runs no observer pays nothing for it."""
    import subprocess
    import sys

    probe = (
        "import sys, trio_otp, trio_otp.jobs\n"
        "print(sorted(m for m in sys.modules if m.startswith(('trio_otp.observer', "
        "'trio_otp.testing', 'trio_otp._cli', 'hypercorn', 'hypothesis'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_a_durable_queues_counts_are_reused_for_ten_times_as_long_as_they_took(
    tmp_path: Any, mock_clock: trio.testing.MockClock
) -> None:
    """A count of a large store is a scan (0.7 s at a million SQLite rows): the view
    reuses the last one for ten times as long as it took, so a browser left open
    keeps the store counting a tenth of the time at most; this instance's own
    figures (what runs here) are current in every view. The clock stands still (no
    autojump: it would jump while the store's thread works); each count is made to
    take half a second of it."""
    from _durable_jobs import slow

    from trio_otp.jobs import SQLiteStore
    from trio_otp.observer._jobs import DurableJobSource

    queue = otp.JobQueue(store=SQLiteStore(tmp_path / "jobs.db"), jobs=[slow])
    async with queue.open():
        count = queue.store_statistics
        began: list[float] = []

        async def half_a_second_count() -> Any:
            began.append(trio.current_time())
            stats = await count()
            mock_clock.jump(0.5)
            return stats

        queue.store_statistics = half_a_second_count  # type: ignore[method-assign]
        source = DurableJobSource(queue, "durable")
        try:
            first = await source.view()
            assert (len(began), first["counts"]["available"], first["counts"]["running here"]) == (
                1,
                0,
                0,
            )
            engine = queue._engine
            assert engine is not None
            long = await queue.enqueue(slow, 3600, "long")
            while not any(q.running for q in engine.queues.values()):
                await trio.to_thread.run_sync(lambda: None)  # the claim is the store's work
            mock_clock.jump(4.5)  # 4.5 s after the count ended (at 0.5): 10 x 0.5 s not over
            reused = await source.view()
            assert len(began) == 1
            assert reused["counts"]["executing"] == 0  # as counted
            assert reused["counts"]["running here"] == 1  # as it is
            mock_clock.jump(0.5)
            fresh = await source.view()
            assert len(began) == 2
            assert fresh["counts"]["executing"] == 1
            await long.cancel()  # the clock stands still: the stop would wait for it
        finally:
            source.close()
