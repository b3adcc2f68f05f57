"""The checks of the job queue's options: one error style for the queue's and each job's.

Every option a :class:`~trio_otp.JobQueue` takes, and every per-job option of
``schedule``/``submit``, goes through these, so a bad value gets the same clear
error wherever it is given.
"""

from __future__ import annotations

import math
from typing import Literal

from .._server._child_spec import Restart, _to_restart

OnFull = Literal["wait", "fail"]


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


def _optional_seconds(name: str, value: object) -> float | None:
    return None if value is None else _seconds(name, value)


def _check_restart(value: object) -> Restart:
    # Any value at run time: _to_restart raises ChildSpecError for a bad one.
    restart = _to_restart(value)  # type: ignore[arg-type]
    if restart is Restart.PERMANENT:
        raise ValueError(
            "a job's restart must be 'temporary' or 'transient': a permanent job would "
            "run again after it succeeded"
        )
    return restart
