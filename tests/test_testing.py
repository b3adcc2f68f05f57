"""trio_otp.testing: start_supervised, reports, assert_receive, faults, job helpers.

Every timed test runs on pytest-trio's ``autojump_clock`` (virtual time), except the
executor-worker test (real trio-parallel workers killed with a real SIGKILL, the real
clock bounded by ``fail_after``) and the durable-queue kill (a real SQLite file: its
thread would let autojump race, trio issue 456, so the real clock with short
intervals, and the store's POSIX clock is a virtual one the test moves by hand).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import attrs
import hypothesis
import hypothesis.stateful
import pytest
import trio

import trio_otp as otp
from trio_otp import testing
from trio_otp.jobs import JobQueue, JobState, ProcessExecutor, SQLiteStore
from trio_otp.testing import (
    ANY,
    InlineExecutor,
    ManualExecutor,
    UnexpectedCrash,
    assert_enqueued,
    assert_receive,
    capture_reports,
    drain,
    expect_crash,
    perform_job,
    refute_enqueued,
    refute_receive,
    start_supervised,
    supervised_test,
)


class Counter(otp.GenServer[int]):
    async def init(self, start: int) -> otp.Ok[int]:
        return otp.Ok(start)

    async def handle_call(self, request: Any, from_: otp.From, state: int) -> otp.Reply[int]:
        if request == "boom":
            raise RuntimeError("boom")
        return otp.Reply(state, state)

    async def handle_cast(self, request: Any, state: int) -> otp.NoReply[int]:
        if request == "boom":
            raise RuntimeError("boom")
        return otp.NoReply(state + request)


def counter(name: str = "counter", start: int = 0) -> otp.ChildSpec:
    return Counter.child_spec(start, name=name, id=name)


# -- start_supervised / expect_crash ---------------------------------------------------


async def test_start_supervised_stops_children_in_reverse_order_after_the_test() -> None:
    stopped: list[str] = []

    class Noted(Counter):
        label = ""

        async def init(self, start: int) -> otp.Ok[int]:
            otp.trap_exit(True)  # so that terminate runs when the supervisor stops it
            return otp.Ok(start)

        async def terminate(self, reason: object, state: int) -> None:
            stopped.append(self.label)

    class A(Noted):
        label = "a"

    class B(Noted):
        label = "b"

    async with supervised_test() as harness:
        a = await start_supervised(A.child_spec(0, name="a", id="a"))
        b = await start_supervised(B.child_spec(0, name="b", id="b"))
        assert a.alive
        assert b.alive
        assert await otp.call("a", "get") == 0
        assert harness.supervisor.alive
    assert stopped == ["b", "a"]
    assert not a.alive
    assert not b.alive


async def test_an_unexpected_crash_fails_the_test_with_its_report() -> None:
    crash = r"(?s)unexpected crash .*RuntimeError\) boom"
    with pytest.raises(UnexpectedCrash, match=crash) as info:  # noqa: PT012 (raised at exit)
        async with supervised_test():
            await start_supervised(counter())
            otp.cast("counter", "boom")
            await trio.testing.wait_all_tasks_blocked()
    assert "gen_server_terminating" in str(info.value)


async def test_expect_crash_covers_a_provoked_crash_and_the_restart_happens() -> None:
    async with supervised_test():
        first = await start_supervised(counter())
        expected = expect_crash("counter", RuntimeError)
        otp.cast("counter", "boom")
        await trio.testing.wait_all_tasks_blocked()
        assert [r.kind for r in expected.seen] == ["gen_server_terminating"]
        second = otp.whereis("counter")
        assert second is not None
        assert second is not first


async def test_an_expected_crash_that_never_comes_fails_the_test() -> None:
    with pytest.raises(UnexpectedCrash, match=r"expect_crash\('counter'.*0 matching"):  # noqa: PT012
        async with supervised_test():
            await start_supervised(counter())
            expect_crash("counter", RuntimeError)


async def test_start_supervised_without_a_harness_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="otp_supervisor"):
        await start_supervised(counter())


async def test_the_plugin_fixture(otp_supervisor: testing.Harness) -> None:
    pid = await start_supervised(counter(start=5))
    assert otp_supervisor.supervisor.alive
    assert await otp.call(pid, "get") == 5
    await testing.stop_supervised("counter")
    assert otp.whereis("counter") is None


# -- capture_reports -------------------------------------------------------------------


async def test_capture_reports_gives_records_with_kind_process_and_reason() -> None:
    with capture_reports() as reports:
        async with otp.Supervisor.open([counter()]):
            pid = otp.whereis("counter")
            otp.cast("counter", "boom")
            await trio.testing.wait_all_tasks_blocked()
    [crash] = reports.crashes()
    assert crash.kind == "gen_server_terminating"
    assert crash.process is pid
    assert isinstance(crash.reason, RuntimeError)
    assert reports.find("child_terminated", process="counter", reason=RuntimeError)
    # a restart after the crash: progress reports are captured too
    assert len(reports.of_kind("child_started")) == 2


# -- assert_receive / refute_receive: the three kinds of pattern -------------------------


@attrs.frozen
class Greeting:
    who: str
    times: int


async def test_assert_receive_with_a_class_a_predicate_and_a_template(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, ("noise", 1))
        otp.send(inbox.pid, Greeting("ada", 3))
        otp.send(inbox.pid, ("reply", 7, "ok"))
        otp.send(inbox.pid, {"event": "done", "n": 2, "extra": True})
        # a template: tuples element by element, ANY and classes inside
        assert await assert_receive(("reply", int, ANY)) == ("reply", 7, "ok")
        # a class
        assert await assert_receive(Greeting) == Greeting("ada", 3)
        # a predicate
        assert await assert_receive(lambda m: isinstance(m, dict) and m["n"] == 2)
        # an attrs template and a dict template (subset of keys)
        otp.send(inbox.pid, Greeting("bob", 1))
        assert (await assert_receive(Greeting("bob", ANY))).who == "bob"
        otp.send(inbox.pid, {"event": "x", "n": 9})
        assert await assert_receive({"event": "x"}) == {"event": "x", "n": 9}
        # what did not match stayed, in order
        assert await assert_receive() == ("noise", 1)


async def test_assert_receive_times_out_on_the_virtual_clock_and_lists_the_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, "other")
        start = trio.current_time()
        with pytest.raises(
            AssertionError, match=r"no message matching 'pong' within 30 s.*'other'"
        ):
            await assert_receive("pong", timeout=30)
        assert trio.current_time() - start == pytest.approx(30)


async def test_assert_receive_waits_for_a_message_sent_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with otp.mailbox() as inbox, trio.open_nursery() as nursery:

        async def later() -> None:
            await trio.sleep(5)
            otp.send(inbox.pid, ("pong", 1))

        nursery.start_soon(later)
        assert await assert_receive(("pong", ANY), timeout=10) == ("pong", 1)


async def test_refute_receive(autojump_clock: trio.testing.MockClock) -> None:
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, "unrelated")
        await refute_receive(("pong", ANY), timeout=1)
        with pytest.raises(AssertionError, match="received 'unrelated'"):
            await refute_receive(str)


async def test_a_monitor_down_by_template(autojump_clock: trio.testing.MockClock) -> None:
    async with supervised_test(), otp.mailbox():
        pid = await start_supervised(counter())
        ref = otp.monitor(pid)
        expect_crash(pid)
        testing.crash(pid, RuntimeError("injected"))
        down = await assert_receive(otp.Down(ref, pid, RuntimeError))
        assert str(down.reason) == "injected"


async def test_assert_receive_outside_a_mailbox_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"otp\.mailbox\(\)"):
        await assert_receive("x")


# -- fault injection -------------------------------------------------------------------


class Trapper(Counter):
    async def init(self, start: int) -> otp.Ok[int]:
        otp.trap_exit(True)
        return otp.Ok(start)


async def test_crash_cannot_be_trapped_and_kill_gives_killed() -> None:
    async with supervised_test(), otp.mailbox():
        pid = await start_supervised(Trapper.child_spec(0, name="t", id="t"))
        ref = otp.monitor(pid)
        expect_crash("t", ValueError)
        testing.crash("t", ValueError("bad"))
        await assert_receive(otp.Down(ref, pid, ValueError))
        await trio.testing.wait_all_tasks_blocked()  # the supervisor restarts it
        again = otp.whereis("t")
        assert again is not None
        assert again is not pid
        ref = otp.monitor(again)
        expect_crash("t", otp.KILLED)
        testing.kill("t")
        await assert_receive(otp.Down(ref, again, otp.KILLED))
    with pytest.raises(otp.NoProcessError):
        testing.crash("nobody", ValueError())


def _sleep(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
async def test_kill_workers_makes_a_running_job_lose_its_worker() -> None:
    executor = ProcessExecutor(max_workers=1)
    with trio.fail_after(60):
        async with JobQueue(executor).open() as queue:
            job = await queue.submit(_sleep, 30)
            while job.status != "running":  # noqa: ASYNC110 (a job has no such event)
                await trio.sleep(0.05)
            await trio.sleep(0.5)  # the worker has the job
            killed = testing.kill_workers(executor)
            assert killed
            with pytest.raises(otp.WorkerLostError):
                await job.wait()
            assert await queue.schedule(_sleep, 0) == 0  # a fresh worker runs the next


# -- the job helpers (Oban.Testing) ------------------------------------------------------


async def send_email(to: str, subject: str) -> str:
    return f"sent {subject} to {to}"


def unpicklable_args() -> None: ...


async def test_manual_mode_records_and_drain_runs(autojump_clock: trio.testing.MockClock) -> None:
    executor = ManualExecutor()
    async with JobQueue(executor).open() as queue:
        job = await queue.submit(send_email, "ada@example.com", "hi")
        await trio.testing.wait_all_tasks_blocked()
        found = assert_enqueued(queue, worker=send_email, args=("ada@example.com", ANY))
        assert found.args == ("ada@example.com", "hi")
        refute_enqueued(queue, worker=send_email, args=("bob@example.com", ANY))
        with pytest.raises(AssertionError, match="no job of"):
            assert_enqueued(queue, worker=len)
        assert not job.done()
        result = await drain(queue)
        assert result == testing.DrainResult(done=1, failed=0, cancelled=0, retries=0)
        assert await job.wait() == "sent hi to ada@example.com"
        refute_enqueued(queue)


async def test_drain_runs_retries_after_their_backoff_on_the_virtual_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "ok"

    retry = otp.RetryPolicy(attempts=3, wait_initial=10, wait_max=100, wait_jitter=0)
    async with JobQueue(ManualExecutor(), retry=retry).open() as queue:
        job = await queue.submit(flaky)
        result = await drain(queue)
        assert result.done == 1
        assert result.retries == 2
        assert await job.wait() == "ok"
        assert calls[1] - calls[0] >= 10  # waited its backoff: virtual seconds


async def test_inline_mode_runs_at_once_and_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    executor = InlineExecutor()
    async with JobQueue(executor).open() as queue:
        assert await queue.schedule(send_email, "ada", "x") == "sent x to ada"
        assert executor.performed == [testing.EnqueuedJob(send_email, ("ada", "x"))]
        refute_enqueued(queue)


async def test_both_modes_still_run_the_real_enqueue_checks() -> None:
    for executor in (ManualExecutor(ProcessExecutor()), InlineExecutor(ProcessExecutor())):
        async with JobQueue(executor).open() as queue:
            with pytest.raises(otp.JobNotPicklableError):
                await queue.submit(lambda: None)
            with pytest.raises(TypeError):
                await queue.submit("not a function")  # type: ignore[arg-type]


async def test_the_job_assertions_need_a_testing_executor() -> None:
    async with JobQueue().open() as queue:
        with pytest.raises(TypeError, match="ManualExecutor"):
            assert_enqueued(queue)


async def test_perform_job_runs_the_body_after_the_checks() -> None:
    assert await perform_job(send_email, "ada", "x") == "sent x to ada"
    with pytest.raises(otp.JobNotPicklableError):
        await perform_job(lambda: 1, checks=ProcessExecutor())


# -- a durable queue killed as a whole process ------------------------------------------


async def test_kill_durable_queue_leaves_the_store_as_a_kill_would(tmp_path: Any) -> None:
    """The killed instance neither acks nor releases: its job stays ``executing``; a
    new instance, once the dead one's heartbeat is older than ``rescue_after``,
    rescues it (the interrupted attempt counts) and runs it again."""
    from _durable_jobs import slow

    now = [1_000_000.0]
    path = tmp_path / "jobs.db"
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            first = JobQueue(
                store=SQLiteStore(path), jobs=[slow], clock=lambda: now[0], rescue_after=60
            )
            await nursery.start(first.serve)
            job = await first.enqueue(slow, 3600, "long")
            while (await job.refresh()).state is not JobState.EXECUTING:  # noqa: ASYNC110
                await trio.sleep(0.01)  # the store's row is the truth: poll it
            await testing.kill_durable_queue(first)
            assert first.statistics().running == 0
        async with SQLiteStore(path).open() as store:
            record = await store.get(job.id)
            assert record is not None
            assert (record.state, record.attempt) == (JobState.EXECUTING, 1)
            assert record.claimed_by is not None  # the dead instance's claim, unreleased
        now[0] += 120  # the dead instance's heartbeat is now older than rescue_after
        second = JobQueue(
            store=SQLiteStore(path),
            jobs=[slow],
            clock=lambda: now[0],
            rescue_after=60,
            shutdown=0.05,  # the rescued job runs again (for an hour): do not wait for it
        )
        async with second.open():
            record = await (await second.get_job(job.id)).refresh()
            assert record.rescued == 1
            assert "rescued" in record.errors[-1].error


# -- the Hypothesis state machine base --------------------------------------------------


class Registered(otp.GenServer[int]):
    """Registers a second name while it runs; a tick timer moves its count."""

    async def init(self, start: int) -> otp.Ok[int]:
        otp.send_after(otp.current_process(), "tick", 10)
        return otp.Ok(start)

    async def handle_call(self, request: Any, from_: otp.From, state: int) -> otp.Reply[int]:
        return otp.Reply(state, state)

    async def handle_info(self, message: Any, state: int) -> otp.NoReply[int]:
        otp.send_after(otp.current_process(), "tick", 10)
        return otp.NoReply(state + 1)


class TreeMachine(testing.OTPStateMachine):
    children = (
        Registered.child_spec(0, name="ticker", id="ticker"),
        Counter.child_spec(0, name="counter", id="counter"),
    )

    @hypothesis.stateful.rule()
    def call_the_ticker(self) -> None:
        before = self.clock.current_time()
        count = self.run(otp.call, "ticker", "get")
        assert count >= 0
        assert self.clock.current_time() == before  # a call takes no virtual time

    @hypothesis.stateful.invariant()
    def both_children_run(self) -> None:
        for name in ("ticker", "counter"):
            pid = self.run_sync(otp.whereis, name)
            assert pid is not None
            assert pid.alive


TreeMachine.TestCase.settings = hypothesis.settings(
    max_examples=15, stateful_step_count=12, deadline=None
)
TestTreeMachine = TreeMachine.TestCase


def test_the_state_machine_crashes_children_and_they_come_back() -> None:
    """One run by hand: a crash is reported and the child is back under its name."""
    machine = TreeMachine()
    try:
        first = machine.run_sync(otp.whereis, "counter")
        assert first is not None
        machine.crash(first)
        machine.crash(machine.run_sync(otp.whereis, "ticker"))
        machine.advance_clock(30)
        machine.registered_names_point_to_live_processes()
        machine.both_children_run()
        crashed = machine.reports.find("child_terminated", reason=testing.InjectedCrash)
        assert crashed
    finally:
        machine.teardown()
    assert not first.alive


class TemporaryMachine(testing.OTPStateMachine):
    """A temporary child is not restarted: the invariant below must be found false."""

    children = (Counter.child_spec(0, name="counter", id="counter", restart="temporary"),)

    @hypothesis.stateful.invariant()
    def counter_runs(self) -> None:
        assert self.run_sync(otp.whereis, "counter") is not None, "counter is gone"


def test_the_state_machine_finds_a_broken_invariant() -> None:
    settings = hypothesis.settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    with pytest.raises(AssertionError, match="counter is gone"):
        hypothesis.stateful.run_state_machine_as_test(TemporaryMachine, settings=settings)


def test_the_state_machine_without_hypothesis_says_which_extra_to_install() -> None:
    # A fresh interpreter where Hypothesis cannot be imported (this one has it loaded).
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import trio_otp.testing as t\n"
        "try:\n"
        "    t.OTPStateMachine\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("hypothesis |")
    assert "pip install 'trio_otp[testing]'" in out
