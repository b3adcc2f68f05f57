"""RetryPolicy: when and how soon a failed job runs again (exponential backoff, jitter)."""

from __future__ import annotations

import builtins
import math
import random
from collections.abc import Iterable
from typing import Final

import attrs

from ._exceptions import JobQueueError, WorkerLostError
from ._options import _check_int, _seconds


def _to_attempts(value: object) -> int:
    return _check_int("attempts", value, 1)


def _to_on(
    value: builtins.type[Exception] | Iterable[builtins.type[Exception]],
) -> tuple[builtins.type[Exception], ...]:
    raw: object = value
    if isinstance(raw, (str, bytes)) or not (isinstance(raw, type) or hasattr(raw, "__iter__")):
        raise TypeError(
            f"RetryPolicy.on must be an Exception class or a tuple of them, got {raw!r}: "
            "pass the class itself, e.g. on=ValueError or on=(ValueError, OSError)"
        )
    kinds: tuple[object, ...] = (value,) if isinstance(value, type) else tuple(value)
    if not kinds:
        raise ValueError(
            "RetryPolicy.on is empty, so nothing would be retried: name the Exception "
            "classes to retry, or use RetryPolicy(attempts=1) for no retry"
        )
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise ValueError(
                f"RetryPolicy.on must hold Exception subclasses, got {kind!r} in it: pass "
                "the classes themselves, e.g. on=(ValueError, OSError)"
            )
    return kinds  # type: ignore[return-value]


def _to_wait_initial(value: object) -> float:
    return _seconds("wait_initial", value)


def _to_wait_max(value: object) -> float:
    return _seconds("wait_max", value)


def _to_wait_exp_base(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
        raise ValueError(
            f"wait_exp_base is the growth factor of the wait per attempt, a number >= 1 "
            f"(1: the same wait each time), got {value!r}"
        )
    return float(value)


def _to_wait_jitter(value: object) -> float:
    return _seconds("wait_jitter", value)


@attrs.frozen
class RetryPolicy:
    """When and how soon a failed job runs again: exponential backoff with jitter.

    The parameters and the formula follow stamina's (the project's choices in
    docs/job_queue.rst say why the queue does not use stamina or tenacity itself).
    The wait before attempt ``n + 1`` is ``min(wait_max, wait_initial *
    wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``.

    Retries happen inside the job's task: they are not restarts, so they never count
    toward the job supervisor's restart intensity. Never retried, whatever ``on``
    says: :exc:`~trio_otp.WorkerLostError` (a crash reason, the supervisor's), a
    timeout, a cancellation.

    Attributes:
        attempts: runs in all, the first included. Default **3**; 1 means no retry.
        on: exception classes that are retried. Default **(Exception,)**.
        wait_initial: seconds before the 2nd attempt (before jitter). Default **0.1**.
        wait_max: the longest wait, in seconds. Default **5.0**.
        wait_exp_base: the growth factor per attempt. Default **2.0**.
        wait_jitter: at most this many seconds are added at random. Default **1.0**.
    """

    attempts: int = attrs.field(default=3, converter=_to_attempts)
    # builtins.type: in the docs, a bare "type" would point at ChildSpec.type.
    on: tuple[builtins.type[Exception], ...] = attrs.field(default=(Exception,), converter=_to_on)
    wait_initial: float = attrs.field(default=0.1, converter=_to_wait_initial)
    wait_max: float = attrs.field(default=5.0, converter=_to_wait_max)
    wait_exp_base: float = attrs.field(default=2.0, converter=_to_wait_exp_base)
    wait_jitter: float = attrs.field(default=1.0, converter=_to_wait_jitter)

    def retries(self, error: BaseException, attempt: int) -> bool:
        """Whether a job that raised ``error`` in attempt ``attempt`` runs again."""
        return (
            attempt < self.attempts
            and isinstance(error, self.on)
            and not isinstance(error, (WorkerLostError, JobQueueError))
        )

    def wait(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); capped at
        ``wait_max`` for any attempt count (the growth never overflows)."""
        if self.wait_initial == 0:
            base = 0.0
        else:
            try:
                base = self.wait_initial * self.wait_exp_base ** (attempt - 1)
            except OverflowError:  # 2.0 ** 1024 and beyond: past any cap
                base = math.inf
        jitter = rng.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        return min(self.wait_max, base + jitter)


def _check_retry(value: object) -> RetryPolicy:
    """A queue's or a job's ``retry`` option, checked."""
    if not isinstance(value, RetryPolicy):
        raise TypeError(
            f"retry must be a trio_otp.RetryPolicy, got {value!r}: e.g. RetryPolicy(attempts=3)"
        )
    return value


def stored_waits(retry: RetryPolicy) -> list[float]:
    """A policy's waits as a durable job stores them (JSON): ``RetryPolicy(1,
    (Exception,), *waits)`` makes the policy again."""
    return [retry.wait_initial, retry.wait_max, retry.wait_exp_base, retry.wait_jitter]


#: No retry: the default policy of a queue.
NO_RETRY: Final = RetryPolicy(attempts=1)
#: A durable queue's default: 20 attempts (Oban's), waits from 1 s up to 10 min.
DURABLE_RETRY: Final = RetryPolicy(attempts=20, wait_initial=1.0, wait_max=600.0)
