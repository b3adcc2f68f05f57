"""The Elixir versions of the workloads (shared/reference/elixir/w*.exs), when installed.

Run with one scheduler (``--erl "+S 1"``), as the anchors in BENCHMARKS.md: trio runs
on one thread. Their ``RESULT key=value …`` line is mapped onto this suite's metric
names (W3's memory is ``:erlang.memory(:total)`` delta / N, not RSS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
#: Overrides where the scripts are looked for.
EXS_DIR_ENV = "BENCH_ELIXIR_SCRIPTS"


def _main_checkout(repo: Path) -> Path:
    """The main checkout of ``repo``: itself, or, in a ``git worktree``, the one it came from.

    A worktree's ``.git`` is a file naming ``<main>/.git/worktrees/<name>``.
    """
    dot_git = repo / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.removeprefix("gitdir:").strip())
            if gitdir.parent.name == "worktrees":
                return gitdir.parent.parent.parent
    return repo


def scripts_dir(repo: Path = REPO, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the reference scripts are: ``$BENCH_ELIXIR_SCRIPTS``, else ../shared/reference/elixir.

    ``..`` is taken from the main checkout, so that a ``git worktree`` (which lives
    elsewhere) finds the same scripts as the checkout it came from.
    """
    if environ.get(EXS_DIR_ENV):
        return Path(environ[EXS_DIR_ENV]).resolve()
    for base in (repo, _main_checkout(repo)):
        candidate = (base / ".." / "shared" / "reference" / "elixir").resolve()
        if candidate.is_dir():
            return candidate
    return (repo / ".." / "shared" / "reference" / "elixir").resolve()


#: The repository-relative location named in the brief: ../shared/reference/elixir.
EXS_DIR = scripts_dir()

SCRIPTS = {
    "W1": "w1_call_roundtrip.exs",
    "W2": "w2_concurrent_calls.exs",
    "W3": "w3_spawn.exs",
    "W4": "w4_job_queue.exs",
    "W5": "w5_restart_latency.exs",
    "W6": "w6_flaky_jobs.exs",
}


def available() -> str | None:
    """None if Elixir can run here, else why not."""
    if shutil.which("elixir") is None:
        return "elixir not installed (no `elixir` on PATH)"
    if not EXS_DIR.is_dir():
        return f"{EXS_DIR} not found"
    return None


def version() -> str:
    done = subprocess.run(
        ["elixir", "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return " / ".join(lines[-2:]) if lines else "unknown"


def _args(workload: str, params: dict[str, Any]) -> list[str]:
    match workload:
        case "W1" | "W5":
            return [str(params["n"])]
        case "W2":
            return [str(params["clients"]), str(params["calls"])]
        case "W3":
            return [str(params["n"]), "genserver"]
        case "W4" | "W6":
            return [str(params["clients"]), str(params["jobs_each"])]
    raise ValueError(workload)


def _metrics(workload: str, kv: dict[str, str]) -> dict[str, Any]:
    f = {k: float(v) for k, v in kv.items() if _is_number(v)}
    match workload:
        case "W1":
            return {k: f[k] for k in ("seconds", "calls_per_s", "us_per_call")}
        case "W2":
            return {k: f[k] for k in ("seconds", "calls_per_s")}
        case "W3":
            return {
                "n": f["n"],
                "start_s": f["start_s"],
                "children_per_s": f["children_per_s"],
                "stop_s": f["stop_s"],
                "rss_per_child_kb": f["bytes_per_child"] / 1024,
            }
        case "W4":
            return {k: f[k] for k in ("seconds", "jobs_per_s", "p50_us", "p99_us", "mean_us")}
        case "W5":
            keys = ("seconds", "mean_us", "p50_us", "p99_us", "failed_pings_per_restart")
            return {k: f[k] for k in keys}
        case "W6":
            return {
                "seconds": f["seconds"],
                "jobs_per_s": f["jobs_per_s"],
                "restarts": f["restarts"],
                "attempts": f["attempts"],
            }
    raise ValueError(workload)


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def run(workload: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one script; return a worker-style result dict.

    Raises:
        RuntimeError: the script failed or printed no RESULT line.
        subprocess.TimeoutExpired: it ran longer than ``timeout``.
    """
    if params.get("tracemalloc"):
        raise RuntimeError("no tracemalloc pass for Elixir")
    cmd = ["elixir", "--erl", "+S 1", SCRIPTS[workload], *_args(workload, params)]
    done = subprocess.run(
        cmd, cwd=EXS_DIR, capture_output=True, text=True, check=False, timeout=timeout
    )
    out = done.stdout + "\n" + done.stderr  # W5/W6 print their RESULT on stderr
    lines = [line for line in out.splitlines() if line.startswith("RESULT")]
    if done.returncode != 0 or not lines:
        tail = " | ".join(out.strip().splitlines()[-3:])
        raise RuntimeError(f"exit {done.returncode}: {tail}")
    kv = dict(p.split("=", 1) for p in lines[-1].split()[2:] if "=" in p)
    return {
        "impl": "elixir",
        "workload": workload,
        "params": params,
        "metrics": _metrics(workload, kv),
        "raw": lines[-1],
    }
