"""W9's benchmark (bench/postgres_w9.py) runs end to end: ``--smoke`` (60 jobs).

Never a speed assertion (speed targets live in bench/): this keeps the benchmark and
its peers' drivers from rotting. It needs PostgreSQL's server binaries and, the first
time, PyPI (it makes procrastinate's and oban-py's venvs under bench/.venvs/, about a
minute), and Python >= 3.12 for oban-py: it runs in the ``postgres`` nox session only
(``TRIO_OTP_POSTGRES_HEAVY=1``), like the other heavy PostgreSQL tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _postgres import find_binaries, unavailable

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRIO_OTP_POSTGRES_HEAVY"),
    reason="W9's smoke run makes venvs from PyPI: `nox -s postgres` runs it "
    "(TRIO_OTP_POSTGRES_HEAVY=1)",
)


def test_w9_smoke_prints_every_systems_figures() -> None:
    """Every system enqueues, processes with 1 and 3 workers and reports latency:
    the table has a figure in each cell, and every job ran exactly once."""
    if find_binaries() is None:
        unavailable("PostgreSQL's server binaries are absent")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "postgres_w9.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].split(" | ")[1:5] == ["floor", "trio_otp", "procrastinate", "oban"]
    assert len(table) == 7  # the header, 5 metrics, the 3 workers' shares
    for row in table[1:6]:
        cells = row.strip("| ").split(" | ")[1:5]
        assert all(cell and cell[0].isdigit() for cell in cells), row
    ran = next(line for line in done.stdout.splitlines() if line.startswith("- jobs run"))
    assert ran.count("'60/60'") == 4, ran
