"""Job bodies for the executor tests: module-level, so worker processes can import them."""

from __future__ import annotations

import os
import pathlib
import signal
import time


def square(x: int) -> int:
    return x * x


def raise_key_error(key: str) -> None:
    raise KeyError(key)


def exit_once(marker: str) -> str:
    """Kill the worker (``os._exit``) the first time; succeed once the marker exists."""
    path = pathlib.Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(7)
    return f"ran in {os.getpid()}"


def wait_to_be_killed(pidfile: str, marker: str) -> str:
    """Write our pid and wait (to be SIGKILLed from outside) unless the marker exists."""
    if pathlib.Path(marker).exists():
        return "second run"
    _write_atomically(pidfile, str(os.getpid()))
    time.sleep(60)
    return "not killed"


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` so that a reader polling for ``path`` never sees it empty or
    half written (write_text creates the file first, then writes: a test that saw
    the file and read it at once read an empty pid in a CI run)."""
    partial = pathlib.Path(path + ".partial")
    partial.write_text(text)
    partial.replace(path)


def heartbeat(path: str, seconds: float) -> str:
    """Write a growing counter to ``path`` every 20 ms: the job's liveness file."""
    _write_atomically(path + ".pid", str(os.getpid()))
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        count += 1
        _write_atomically(path, str(count))
        time.sleep(0.02)
    return "finished"


def burn(ms: float) -> int:
    """Pure-Python CPU work for about ``ms`` milliseconds (no sleeping)."""
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def node_id_then_sleep(path: str, seconds: float) -> str:
    """Write the Ray node this runs on to ``path``, then sleep (a Ray job)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if pathlib.Path(path).exists():
        return f"done on {node}"
    pathlib.Path(path).write_text(node)
    time.sleep(seconds)
    return f"done on {node}"


def sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` from the process table (/proc), except
    multiprocessing's resource tracker."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # multiprocessing's resource tracker is its own helper, not a worker.
            if b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
    return found


def nap(seconds: float) -> float:
    """Sleep ``seconds`` in the worker and return them."""
    time.sleep(seconds)
    return seconds
