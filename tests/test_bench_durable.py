"""W8's benchmark (bench/durable.py) runs: each implementation at a tiny size.

Never a speed assertion (speed targets live in bench/): this only keeps the benchmark
from rotting. Real SQLite files and the real clock, as the benchmark itself.
"""

from __future__ import annotations

from pathlib import Path

import _bench
import pytest


@pytest.mark.parametrize("impl", ["store", "memory", "floor"])
@pytest.mark.parametrize("batch", [1, 100])
def test_w8_runs_each_implementation_at_a_tiny_size(impl: str, batch: int, tmp_path: Path) -> None:
    """200 jobs through the store, the in-memory queue and the plain-sqlite3 floor:
    every figure of the table is there."""
    durable = _bench.load("durable")
    result = durable.worker(impl, 200, batch, tmp_path / "jobs.db")
    assert set(result) == {"enqueue_s", "process_s", "lag_p99_ms", "rss_mb", "wal_mb"}
    assert result["enqueue_s"] > 0
    assert result["process_s"] > 0
    assert result["rss_mb"] > 0
    if impl != "memory":
        assert (tmp_path / "jobs.db").exists()
