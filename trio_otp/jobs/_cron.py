"""Periodic jobs: cron expressions with a time zone, and plain intervals.

Why croniter, not cronsim: croniter (pallets-eco, maintained again since 2025) takes
time-zone-aware datetimes and steps both ways (``get_next`` and ``get_prev``: the
latest tick before a restart is needed for the missed-tick policy), knows the
``@hourly``-style aliases and seconds fields, and is the library the other Python job
queues use (procrastinate, rq-scheduler, Celery's crontab is its own). cronsim is
smaller and strict but goes forwards only and has no ``get_prev``.

The policy, for durable and in-memory queues alike:

* **Missed ticks run once.** Ticks that passed while nothing ran (the program was
  down) are not replayed one by one: the latest of them runs once, as soon as a queue
  instance is up; the older ones are skipped. A newly added entry does not run for a
  tick from before it existed.
* **Daylight-saving time.** Ticks are wall-clock times in the entry's time zone
  (default UTC). A time that does not exist (the hour skipped when clocks go forward)
  runs at the first instant after the gap (``30 2 * * *`` runs at 03:00 that day, as
  croniter computes it). A time that occurs twice (the hour repeated when clocks go
  back) runs once, at its first occurrence: the repeat is skipped.
* **Once per tick.** A durable queue records the last inserted tick per entry in the
  store, in the transaction that inserts the job, so a tick is inserted once across
  restarts and across every instance on the store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs


class Schedule(Protocol):
    """When a periodic job runs: ticks as POSIX seconds."""

    def next_after(self, t: float) -> float:
        """The first tick strictly after ``t``."""
        ...

    def latest(self, t: float) -> float:
        """The last tick at or before ``t``."""
        ...


def _croniter() -> Any:
    """croniter, imported when a Cron is first used (intervals need nothing)."""
    try:
        from croniter import croniter  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - installed with the cron extra
        raise ImportError("cron schedules need croniter: pip install 'trio_otp[cron]'") from exc
    return croniter


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None or tz == "UTC":
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {tz!r}: give an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from exc


@attrs.frozen
class Cron:
    """A cron expression (``"*/5 * * * *"``, ``"@daily"``, …) in a time zone.

    Attributes:
        expression: five fields (or six with seconds), or an ``@`` alias.
        tz: an IANA time zone name. Default **"UTC"**.
    """

    expression: str
    tz: str = "UTC"

    def __attrs_post_init__(self) -> None:
        croniter = _croniter()

        expression: object = self.expression
        if not isinstance(expression, str) or not croniter.is_valid(expression):
            raise ValueError(
                f"{self.expression!r} is not a cron expression: give five fields "
                "(minute hour day month weekday), e.g. '*/5 * * * *', or '@daily'"
            )
        _zone(self.tz)

    def _dt(self, t: float) -> datetime:
        zone = _zone(self.tz)
        return datetime.fromtimestamp(t, UTC if zone is None else zone)

    def _repeat(self, tick: datetime) -> bool:
        # The second occurrence of a wall time repeated when the clocks go back.
        if tick.tzinfo is None or tick.tzinfo is UTC:
            return False
        first = tick.replace(tzinfo=None).replace(tzinfo=tick.tzinfo, fold=0)
        return first.timestamp() != tick.timestamp()

    def next_after(self, t: float) -> float:
        croniter = _croniter()

        it = croniter(self.expression, self._dt(t))
        while True:
            tick: datetime = it.get_next(datetime)
            if tick.timestamp() > t and not self._repeat(tick):
                return tick.timestamp()

    def latest(self, t: float) -> float:
        croniter = _croniter()

        it = croniter(self.expression, self._dt(t + 1e-3))
        while True:
            tick: datetime = it.get_prev(datetime)
            if tick.timestamp() <= t and not self._repeat(tick):
                return tick.timestamp()


@attrs.frozen
class Every:
    """Every ``seconds`` seconds, on multiples of it since the epoch (so every
    instance agrees on the ticks). The simple case of :class:`Cron`."""

    seconds: float

    def __attrs_post_init__(self) -> None:
        s: object = self.seconds
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (0 < s < math.inf):
            raise ValueError(f"an interval must be a number of seconds > 0, got {s!r}")

    def next_after(self, t: float) -> float:
        return (math.floor(t / self.seconds) + 1) * self.seconds

    def latest(self, t: float) -> float:
        return math.floor(t / self.seconds) * self.seconds


def every(seconds: float) -> Every:
    """A schedule that ticks every ``seconds`` (the interval helper)."""
    return Every(seconds)


def to_schedule(value: object) -> Schedule:
    """A :class:`Cron` for a string, a schedule as itself."""
    if isinstance(value, str):
        return Cron(value)
    if isinstance(value, (Cron, Every)):
        return value
    raise TypeError(
        f"a periodic job's schedule is a cron string, Cron(expr, tz=...) or every(seconds), "
        f"got {value!r}"
    )
