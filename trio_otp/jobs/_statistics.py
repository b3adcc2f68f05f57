"""JobQueueStatistics: a snapshot of a queue's counters (``JobQueue.statistics``)."""

from __future__ import annotations

import attrs


@attrs.frozen
class JobQueueStatistics:
    """A snapshot of a queue (:meth:`JobQueue.statistics`).

    Attributes:
        queued: jobs accepted and waiting for a running slot.
        running: jobs whose task runs them.
        waiting: callers waiting for room in a full queue (``on_full="wait"``).
        done: jobs that returned a result, since the queue started.
        failed: jobs that failed for good (raised, timed out, worker lost).
        cancelled: jobs cancelled (by their handle or by the queue stopping).
        retries: runs again by the retry policy.
        restarts: runs again by the job supervisor (a crash of a transient job).
        max_running: the bound on ``running``: the queue's ``max_running``, or the
            executor's capacity if smaller. max_queued: the bound on ``queued``.
        delayed: later jobs of an in-memory queue not due yet (``submit(delay=…)``);
            they are admitted, and counted in ``queued``, when due.
    """

    queued: int
    running: int
    waiting: int
    done: int
    failed: int
    cancelled: int
    retries: int
    restarts: int
    max_running: int
    max_queued: int
    delayed: int = 0
