"""``python -m trio_otp observe URL``: a real observer on 127.0.0.1, the command in a
real subprocess reading its event stream (the real clock: sockets and a process)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

import trio_otp as otp
from trio_otp._cli import main
from trio_otp._cli._observe import render
from trio_otp.observer import Observer

ROOT = Path(__file__).resolve().parent.parent


class Counter(otp.GenServer[int]):
    async def init(self, start: int) -> otp.Ok[int]:
        return otp.Ok(start)

    async def handle_cast(self, request: Any, state: int) -> otp.NoReply[int]:
        raise RuntimeError("asked to crash")


async def observe(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return await trio.run_process(
        [sys.executable, "-m", "trio_otp", "observe", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=environ,
    )


def children(**options: Any) -> list[Any]:
    return [
        Counter.child_spec(0, id="counter", name="counter"),
        (otp.JobQueue, {"name": "jobs"}),
        Observer.child_spec(interval=0.05, **options),
    ]


async def test_observe_prints_the_live_tree_with_strategies_and_restarts() -> None:
    with trio.fail_after(60):
        async with otp.Supervisor.open(children(), name="app"):
            [obs] = Observer.running()
            assert obs.url is not None
            done = await observe(obs.url, "--once", "--processes")
            out = done.stdout.decode()
            assert done.returncode == 0, done.stderr
            assert "app  Supervisor  one_for_one  restarts used 0/3 in 5.0 s" in out
            assert "├── counter  Counter" in out
            assert "queue <JobQueue 'jobs' InProcessExecutor() (running)>: queued 0" in out
            assert "mailbox" in out  # the process table

            otp.cast("counter", "boom")
            while (await otp.Supervisor.which_children("app"))[0].pid is None:  # noqa: ASYNC110
                await trio.sleep(0.01)  # the restart, seen from outside
            done = await observe(obs.url, "--count", "2")
            assert done.returncode == 0, done.stderr
            blocks = done.stdout.decode().strip().split("\n\n")
            assert len(blocks) == 2
            assert "counter  Counter  restarted 1x" in blocks[-1]


async def test_observe_needs_the_token_off_loopback() -> None:
    token = secrets.token_urlsafe(24)
    with trio.fail_after(60):
        async with otp.Supervisor.open(children(host="0.0.0.0", token=token)):
            [obs] = Observer.running()
            url = f"http://127.0.0.1:{obs.port}"
            refused = await observe(url, "--once")
            assert refused.returncode == 3
            assert b"answered 401" in refused.stderr
            done = await observe(url, "--once", env={"TRIO_OTP_OBSERVER_TOKEN": token})
            assert done.returncode == 0, done.stderr
            assert b"counter" in done.stdout


async def test_observe_says_what_is_wrong() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = await observe(f"http://127.0.0.1:{port}", "--once")
    assert done.returncode == 3
    assert b"cannot read the observer at" in done.stderr
    assert main(["observe", "ftp://example.com/", "--once"]) == 2


def test_render_bounds_and_marks_what_is_not_running() -> None:
    view = {
        "now": 13.0,
        "observed_since": 10.0,
        "process_count": 2,
        "tree": [
            {
                "label": "app",
                "kind": "Supervisor",
                "strategy": "rest_for_one",
                "intensity": {"used": 1, "max": 3, "seconds": 5.0},
                "children": [{"label": "db", "kind": None, "status": "restarting"}],
                "more": 7,
            }
        ],
        "queues": [],
    }
    text = render(view)
    assert text.startswith("trio_otp observer: 2 processes, observed for 3.0 s")
    assert "app  Supervisor  rest_for_one  restarts used 1/3 in 5.0 s" in text
    assert "db  [restarting]" in text
    assert "... 7 more" in text
