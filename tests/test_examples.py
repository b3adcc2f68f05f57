"""The runnable examples in ``examples/``: each one runs, tells its story and exits 0.

Two ways, so that none can rot: each example's ``main()`` runs under the test's own
``trio.run`` on the ``autojump_clock`` (exact virtual times, asserted), and each file
runs as a script (``python examples/x.py --fast``), checking its command line, its
logging setup and its exit code. The job queue demo is seeded, so its "random"
failures are the same on every run.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

import trio_otp as otp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TESTED = (
    "job_queue",
    "job_queue_scale",
    "strategies",
    "kv_store",
    "worker_pool",
    "escalation",
    "pubsub_rooms",
    "crawler_stream",
    "crawler",
    "chat_rooms",
    "connection_pool",
    "telemetry_counters",
    "chat_server",
    "durable_jobs",
)
#: Examples that serve until told to stop (no ``--fast`` run): each has its own test
#: below, and observer_app is also driven by a real browser (tests/browser/).
SERVERS = ("observer_app",)
HELLO = "Hello from a task spawned dynamically under a supervisor"


@functools.cache
def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (it is a script, not part of a package)."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"trio_otp_example_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``examples/<name>.py`` with ``args``; return its output (it must exit 0)."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert "Traceback" not in proc.stdout
    return proc.stdout


def test_every_example_has_a_test() -> None:
    """Each file in examples/ is listed here (and so run by the tests below)."""
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(TESTED + SERVERS)


@pytest.mark.parametrize("name", TESTED)
def test_example_runs_as_a_script_in_fast_mode(name: str) -> None:
    """``python examples/<name>.py --fast`` exits 0 and prints its story."""
    seed = ["--seed", "1"] if name == "job_queue" else []
    out = run_script(name, "--fast", *seed)
    assert len(out.splitlines()) > 10


@pytest.mark.parametrize("name", TESTED)
def test_example_has_a_docstring_and_a_main(name: str) -> None:
    """Each example explains its lesson in its docstring and has an async main()."""
    module = load(name)
    assert module.__doc__ is not None
    assert len(module.__doc__) > 200
    assert "Run it::" in module.__doc__
    assert callable(module.main)
    assert callable(module.cli)


# ----------------------------------------------------------------------------------------
# job_queue.py: the seed chapter
# ----------------------------------------------------------------------------------------


async def test_job_queue_tells_the_whole_story(
    autojump_clock: trio.abc.Clock,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every step of the chapter appears, with the call timeout at exactly 5 s."""
    began = trio.current_time()
    story = await load("job_queue").main(seed=1)
    out = capsys.readouterr().out
    assert trio.current_time() - began < 25  # the real-time demo stays under 30 s

    # 1. dynamic supervision: three hellos under a Supervisor, three under a DynamicSupervisor
    assert story.hello_tasks == 6
    assert out.count(HELLO) == 6
    assert "AlreadyStartedError: Task is already started" in out
    assert "ChildCounts(specs=2, active=2, supervisors=0, workers=2)" in out

    # 2. the job queue, started twice: the first my_app_supervisor stopped normally
    assert out.count(">>> await start_my_app(nursery)\n") == 2
    assert re.search(
        r"\(the first one, <Pid 0\.\d+ my_app_supervisor>, exited with reason 'normal'\)", out
    )

    # 3. the tree, drawn from the live supervisors, two slow jobs in flight
    tree = story.tree.splitlines()
    assert re.fullmatch(r"my_app_supervisor <Pid 0\.\d+>", tree[0])
    assert re.fullmatch(r"├── JobSupervisor <Pid 0\.\d+>", tree[1])
    assert re.fullmatch(r"│   ├── Task run_job <Pid 0\.\d+>", tree[2])
    assert re.fullmatch(r"│   └── Task run_job <Pid 0\.\d+>", tree[3])
    assert re.fullmatch(r"└── JobQueue <Pid 0\.\d+>", tree[4])
    assert story.tree in out
    assert "slow job 1 -> 'slow job 1 done'" in out
    assert "slow job 2 -> 'slow job 2 done'" in out

    # 4a. a job that works
    assert story.job_result == "Job result"
    assert re.search(r"<Pid 0\.\d+>: Running a job\n'Job result'   \(after 0\.10 s\)", out)

    # 4b. temporary: run until it fails; the caller times out after exactly 5 s
    assert story.temporary_runs == 2  # seed 1: the second run fails
    assert story.timeout_after == 5.0
    message = "call(JobQueue, ('schedule_job', flaky_job), 5): timed out after 5 s (no reply)"
    assert story.timeout_error == message
    assert f"otp.CallTimeout after 5.00 s: {message}" in out
    assert "ChildCounts(specs=0, active=0, supervisors=0, workers=0)" in out
    assert "restarted? no, same pids" in out
    reports = [r.getMessage() for r in caplog.records if r.name == "trio_otp.task"]
    assert "started from JobSupervisor terminating\n** (RuntimeError) Job failure" in reports[0]

    # 4c. transient: the same job is re-run after its crash and the caller gets the result
    assert story.transient_result == "Job result"
    assert story.transient_attempts == 2  # seed 1: one crash, one restart
    assert story.intensity_exceeded == 0
    assert "'Job result'   (2 attempt(s), 1 restart(s))" in out

    # 5. a job that always fails: 4 attempts, JobSupervisor gives up and is restarted
    assert story.doomed_attempts == 4
    assert story.doomed_timeout_after == 5.0
    assert story.job_supervisor_restarted
    assert "exited with reason 'shutdown'" in out
    assert out.rstrip().endswith("done after 10.80 s of virtual time")
    assert len(reports) == 1 + 1 + 4  # one crash report per failed attempt


async def test_job_queue_seed_replays_the_same_failures(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same seed gives the same runs, attempts and timings."""
    main = load("job_queue").main
    first, second = await main(seed=7), await main(seed=7)
    fields = ("temporary_runs", "timeout_after", "transient_attempts", "doomed_attempts")
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]


async def test_job_queue_survives_an_unlucky_streak(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seed 5: the transient job crashes 4 times in a row; JobSupervisor gives up, is
    restarted, and the story goes on to a retried job that succeeds."""
    story = await load("job_queue").main(seed=5)
    out = capsys.readouterr().out
    assert story.intensity_exceeded == 1
    assert "JobSupervisor gave up and my_app_supervisor restarted it" in out
    assert story.transient_result == "Job result"
    assert story.transient_attempts == 2
    assert story.doomed_attempts == 4


def test_job_queue_reads_seed_and_fast_mode_from_the_environment() -> None:
    """TRIO_OTP_DEMO_SEED and TRIO_OTP_DEMO_FAST work like --seed and --fast."""
    out = run_script("job_queue", env={"TRIO_OTP_DEMO_SEED": "1", "TRIO_OTP_DEMO_FAST": "1"})
    assert "(seed 1; --seed 1 replays it)" in out
    assert "done after 10.80 s of virtual time" in out
    # logging goes to stdout, in order, compact: the line that raised, not the traceback
    assert "ERROR trio_otp.task: Task <Pid" in out
    assert re.search(r"\(raised at job_queue\.py:\d+ in __call__\)", out)


# ----------------------------------------------------------------------------------------
# The other examples
# ----------------------------------------------------------------------------------------


async def test_strategies_restart_as_otp_does(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """otp-behaviour.md section B: who is terminated and restarted, in which order."""
    outcomes = await load("strategies").main()
    crash = ["b crashes", "terminate b (RuntimeError)"]
    assert outcomes["one_for_one"].events == [*crash, "start b"]
    assert outcomes["one_for_one"].restarted == ["b"]
    assert outcomes["one_for_all"].events == [
        *crash,
        "terminate c (shutdown)",
        "terminate a (shutdown)",
        "start a",
        "start b",
        "start c",
    ]
    assert outcomes["one_for_all"].restarted == ["a", "b", "c"]
    assert outcomes["rest_for_one"].events == [
        *crash,
        "terminate c (shutdown)",
        "start b",
        "start c",
    ]
    assert outcomes["rest_for_one"].restarted == ["b", "c"]
    for outcome in outcomes.values():
        assert outcome.shutdown == [f"terminate {n} (shutdown)" for n in "cba"]
    out = capsys.readouterr().out
    assert "new pids: a, b, c; same pids: -" in out
    assert "new pids: b, c; same pids: a" in out
    assert trio.current_time() == 0


async def test_kv_store(autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]) -> None:
    """Casts, calls, expiry by handle_info, a call timeout, stop, crash and restart."""
    facts: dict[str, Any] = await load("kv_store").main()
    assert facts["get_a"] == 1
    assert facts["get_b_expired"] is None
    assert facts["timeout_after"] == 0.5
    assert facts["queued_get_after"] == 1.5
    assert facts["restarted_after_stop"] is True
    assert facts["get_c_after_restart"] is None
    assert facts["callee_exit_after"] == 0
    assert facts["whereis_after_terminate"] is None
    assert "no process" in facts["no_process"]
    out = capsys.readouterr().out
    assert "sweep: expired ['b']" in out
    assert "a send_after timer" in out
    assert "terminate('normal') with 2 key(s)" in out
    assert "terminate(ValueError(" in out
    assert "terminate('shutdown') with 1 key(s)" in out
    assert "otp.CallTimeout after 0.50 s" in out
    assert "otp.CalleeExit after 0.00 s" in out


async def test_worker_pool(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fan-out over four workers; a poisoned job crashes one, which is restarted."""
    batch1, batch2, batch3 = await load("worker_pool").main()
    assert batch1 == {x: x * x for x in range(1, 9)}
    poisoned = batch2.pop(-1)
    assert isinstance(poisoned, otp.TaskExit)
    assert isinstance(poisoned.__cause__, otp.CalleeExit)
    assert isinstance(poisoned.__cause__.reason, ValueError)
    assert batch2 == {10: 100, 20: 400, 30: 900}
    assert batch3 == {1: 1, 2: 4, 3: 9, 4: 16}
    out = capsys.readouterr().out
    assert "8 jobs took 0.20 s on 4 workers" in out
    assert out.count("4 jobs took 0.10 s on 4 workers") == 2
    worker2 = r"<Pid 0\.\d+ \('worker', 2\)>"
    assert re.search(rf"\('worker', 2\): {worker2} -> {worker2}   restarted", out)
    assert out.count("same process") == 3
    assert "square(3) = 9    by ('worker', 2), its job #1" in out


async def test_escalation(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """inner gives up after 4 crashes, outer restarts it twice, then gives up itself."""
    log = await load("escalation").main()
    assert log.crashes == 12
    assert len(log.inner_pids) == 3
    assert all(pid.exit_reason == otp.SHUTDOWN for pid in log.inner_pids)
    caught = [line for line in log.lines if "caught RestartIntensityError" in line]
    assert len(caught) == 1
    assert caught[0].startswith("[t=1.20]")
    assert "reached max restart intensity (2 restarts in 5 s): child 'inner'" in caught[0]
    out = capsys.readouterr().out
    assert out.count("outer restarted inner") == 2
    assert re.search(r"Steady <Pid 0\.\d+> terminate\('shutdown'\)", out)


# ----------------------------------------------------------------------------------------
# job_queue_scale.py: the same JobQueue on all cores (and Ray, in the ray session)
# ----------------------------------------------------------------------------------------


def test_job_queue_scale_runs_the_same_jobs_everywhere() -> None:
    """The scale-out example computes the same results in-process and on all cores
    (worker processes import the script's job function, so it runs as a script)."""
    pytest.importorskip("trio_parallel")
    out = run_script("job_queue_scale", "--fast", "--jobs", "8")
    assert "all results agree (8 jobs" in out
    assert re.search(r"in-process: +[0-9.]+ s +speed-up x1\.00", out)
    assert re.search(r"all cores: +[0-9.]+ s +speed-up x[0-9.]+", out)


async def test_crawler_retries_on_timers_and_gives_up_after_three_attempts(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Results arrive as TaskReply/Down messages; failed fetches are retried by timers."""
    facts = await load("crawler").main()
    assert facts["pages"] == {
        "/": 0.1,
        "/docs": 0.3,
        "/docs/api": 0.4,
        "/blog": 1.2,  # failed once at 0.4, retried 0.5 s later
        "/blog/1": 1.4,
        "/blog/2": 1.4,
        "/docs/tutorial": 2.1,  # failed at 0.4 and 1.0; retried after 0.5 s, then 1 s
    }
    assert sorted(facts["failed"]) == ["/missing", "/shop"]
    assert facts["attempts"] == {
        "/": 1, "/docs": 1, "/blog": 2, "/shop": 3, "/docs/api": 1,
        "/docs/tutorial": 3, "/blog/1": 1, "/blog/2": 1, "/missing": 3,
    }  # fmt: skip
    out = capsys.readouterr().out
    assert "[t=0.25] progress: 1 page(s) done, 2 fetch(es) running" in out
    assert "[t=1.90] /shop: connection reset (attempt 3) -> giving up on /shop" in out


async def test_chat_rooms_start_on_demand_watch_members_and_close_when_idle(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A room starts on first join, learns of a dropped member by Down, closes 30 s idle."""
    facts = await load("chat_rooms").main()
    heard = facts["heard"]
    assert heard["bob"] == [("said", "lobby", "alice", "hi all")]
    assert heard["carol"] == [
        ("joined", "lobby", "bob"),
        ("said", "lobby", "alice", "hi all"),
        ("left", "lobby", "bob", "disconnected"),
    ]
    assert heard["alice"] == [
        ("left", "lobby", "bob", "disconnected"),
        ("left", "lobby", "carol", "bye"),
        ("joined", "lobby", "carol"),
        ("joined", "lobby", "bob"),
    ]
    assert facts["closed_after"] == (otp.NORMAL, 31.0)
    assert facts["rejoin"] == ["dave"]
    assert facts["new_room"] is True
    out = capsys.readouterr().out
    assert "bob's block ended with ConnectionResetError" in out


async def test_connection_pool_reclaims_from_crashed_and_forgetful_clients(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pool monitors borrowers: a crash and a forgotten checkin both give it back."""
    facts = await load("connection_pool").main()
    assert facts["stats"] == {
        "free": [1, 2],
        "out": 0,
        "reclaimed": [
            (2, "RuntimeError('bo lost its mind')"),
            (2, "left without checking in"),
        ],
        "skipped": 1,
    }
    assert facts["timeline"] == [
        "[t=0.00] ann got connection 1",
        "[t=0.05] bo got connection 2",
        "[t=0.30] cy gave up waiting after 0.2 s",
        "[t=0.55] di got connection 2, and will forget to check it in",
        "[t=1.00] ann checked connection 1 in",
        "[t=1.00] ed got connection 1",
        "[t=1.50] ed checked connection 1 in",
    ]


# ----------------------------------------------------------------------------------------
# Registry, async_stream (issue 10)
# ----------------------------------------------------------------------------------------


async def test_pubsub_rooms_by_id_and_dispatch(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rooms are found by id, posts reach exactly the members, a crashed member is gone."""
    story = await load("pubsub_rooms").main()
    out = capsys.readouterr().out
    assert story.duplicate_holder_named
    assert "via('rooms', 'lobby') is already started: held by <Pid" in out
    assert story.delivered == {"lobby": 2, "trio": 2}
    assert story.inboxes == {
        "alice": ["[lobby] alice: hi all"],
        "bob": ["[lobby] alice: hi all", "[trio] carol: nurseries!"],
        "carol": ["[trio] carol: nurseries!"],
    }
    assert story.after_crash == ["bob"]
    assert not story.empty_room_dispatched
    assert "delivered to 0 members" in out
    assert story.room_restarted


async def test_crawler_stream_bounds_and_cancels(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The crawl never runs more than 3 fetches, reports per-page exits, stops early cleanly."""
    story = await load("crawler_stream").main()
    out = capsys.readouterr().out
    assert story.pages == ["/", "/a", "/b", "/c", "/a/1", "/a/2", "/b/1", "/c/needle"]
    assert story.peak == 3
    assert story.exits == [("/broken", "ConnectionError('/broken: connection reset')"),
                           ("/slow", "'timeout'")]  # fmt: skip
    assert story.crawl_time == 9
    # Never more than 3 items read beyond the results consumed (when trio schedules the
    # reader is its business, the bound is ours).
    assert len(story.read_ahead) == 5
    assert all(3 <= read <= taken + 3 for taken, read in enumerate(story.read_ahead))
    assert story.found_at == 1
    assert story.cancelled_on_break == ["/a", "/b/1", "/slow"]
    assert "max_children=2" in story.max_children_error
    assert "MaxChildrenError" in out


# ----------------------------------------------------------------------------------------
# telemetry_counters.py: telemetry handlers exporting counters (issue 12)
# ----------------------------------------------------------------------------------------


async def test_telemetry_counters_counts_starts_exits_restarts_and_calls(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The handler counts every process start and exit, both restarts, 15 calls (0.25 s
    in all) and the timeout, and is detached at the end."""
    m = await load("telemetry_counters").main()
    assert m.value("trio_otp_process_starts_total", kind="GenServer") == 3
    assert m.value("trio_otp_process_starts_total", kind="Supervisor") == 2
    assert m.value("trio_otp_process_starts_total", kind="Task") == 5
    assert m.value("trio_otp_process_exits_total", kind="GenServer", reason="RuntimeError") == 2
    assert m.value("trio_otp_process_exits_total", kind="GenServer", reason="shutdown") == 1
    assert m.value("trio_otp_process_exits_total", kind="Task", reason="normal") == 5
    assert m.value("trio_otp_child_restarts_total", child="Counter") == 2
    assert m.value("trio_otp_supervisor_gave_up_total") == 0
    assert m.value("trio_otp_call_duration_seconds_count") == 15
    assert m.value("trio_otp_call_duration_seconds_sum") == 0.25
    assert m.max_call_seconds == 0.25
    assert m.value("trio_otp_call_exceptions_total", error="CallTimeout") == 1
    assert otp.list_telemetry_handlers() == []
    out = capsys.readouterr().out
    assert 'trio_otp_child_restarts_total{child="Counter"} 2' in out


# ----------------------------------------------------------------------------------------
# The examples' pages (docs/examples/NAME.rst) show each example's real output
# ----------------------------------------------------------------------------------------

PAGES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _pages_module() -> ModuleType:
    pytest.importorskip("sphinx", reason="the docs requirements are not installed")
    sys.path.insert(0, str(PAGES.parent / "_ext"))
    import example_pages

    return example_pages


def test_every_example_has_a_page() -> None:
    """Each examples/NAME.py has its page docs/examples/NAME.rst, and no page is stale."""
    assert sorted(p.stem for p in PAGES.glob("*.rst")) == sorted(TESTED)


@pytest.mark.parametrize("name", TESTED)
def test_the_page_shows_the_examples_real_output(name: str) -> None:
    """The output shown on the example's page is what its command prints today (line
    for line, or the same lines in another order, or with other numbers, as the page
    says), and the page shows what the example is, how to run it, then its code."""
    pages = _pages_module()
    page = PAGES / f"{name}.rst"
    [(command, compare, shown)] = pages.shown_outputs(page)
    assert command.startswith(f"python examples/{name}.py")
    printed = pages.run(command)
    assert pages.normalized(printed, compare) == pages.normalized(shown, compare)
    text = page.read_text(encoding="utf-8")
    order = [f".. moduledoc:: ../../examples/{name}.py", ".. example-output::"]
    order.append(".. literalinclude::")
    assert [text.index(part) for part in order] == sorted(text.index(part) for part in order)


# ----------------------------------------------------------------------------------------
# chat_server.py: serve_tcp, one TCPHandler process per connection (issue 21)
# ----------------------------------------------------------------------------------------


async def test_chat_server_broadcasts_survives_a_handler_crash_and_says_goodbye(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Real sockets on 127.0.0.1, so the real clock (autojump would jump while the
    kernel moves the bytes): every client hears the others, a crashing handler is
    reported once and closes its own connection only, and the stop tells the rest."""
    facts = await load("chat_server").main()
    assert facts["heard"] == ["user0: hello, everyone"] * 4
    assert facts["after_crash"] == ["user2: still here?"] * 3
    assert facts["told"] == 3
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(crashes) == 1
    assert "user1 found a bug" in crashes[0].getMessage()
    tree = facts["tree"].splitlines()
    assert re.fullmatch(r"    ├── connections <Pid 0\.\d+>", tree[3])
    assert len([line for line in tree if "ChatHandler" in line]) == 3


# ----------------------------------------------------------------------------------------
# durable_jobs.py: a worker killed with SIGKILL, another one finishing on the same file
# ----------------------------------------------------------------------------------------


async def test_durable_jobs_demo_loses_nothing_to_kill_9(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The worker SIGKILLs itself halfway; a new one on the same file rescues its jobs
    and finishes them all: none lost, and only jobs executing at the kill ran twice.
    Real clock, real worker processes (that is the point)."""
    story = await load("durable_jobs").main(fast=True)
    out = capfd.readouterr().out  # the workers write to the file descriptor
    assert story.runs == [-9, 0]
    assert story.jobs == 120
    assert story.completed == 120
    assert story.lost == 0
    assert story.twice <= story.executing_at_kill
    assert "sending myself SIGKILL now, mid-run" in out
    rescued = len(story.executing_at_kill)  # at most 8: the worker runs 8 at once
    assert 0 < rescued <= 8
    assert f"rescued {rescued} job(s) of dead queue instance(s)" in out
    assert "120/120 done" in out
    assert f"this worker rescued {rescued} of them" in out
    assert "120 of 120 jobs ran; lost: 0" in out
    assert "all of them executing at the kill" in out


# ----------------------------------------------------------------------------------------
# observer_app.py: an application with the observer in its tree (the browser session,
# tests/browser/, drives it in Chromium; here: it serves, takes commands, stops cleanly)
# ----------------------------------------------------------------------------------------


def test_observer_app_serves_its_page_and_stops_on_quit() -> None:
    """A real process on a free port: it prints its URL, serves the page over a real
    socket, restarts a crashed server on command, and exits 0 on ``quit``."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "observer_app.py"), "--port", "0", "--commands"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        first = proc.stdout.readline()
        assert first.startswith("observer: http://127.0.0.1:"), first
        url = first.split()[1]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "<html" in response.read().decode().lower()
        proc.stdin.write("crash counter\nquit\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "ok: crash counter" in out
    assert "ok: quit" in out
    # The one crash asked for is reported (with its traceback); nothing else is.
    assert err.count("Traceback (most recent call last)") == 1, err
    assert "RuntimeError" in err or "crash" in err
