"""PostgresStore: the durable job store shared by many hosts (PostgreSQL, psycopg 3).

How it talks to PostgreSQL, and why:

* **psycopg 3's sync API on worker threads, with a psycopg_pool.** psycopg's async
  API and asyncpg run on asyncio only. Each store call is one function, run with
  ``trio.to_thread.run_sync`` (not abandoned on cancel: a transaction runs to its
  end), on a connection borrowed from a thread-safe ``ConnectionPool``; the trio loop
  only waits. A :class:`trio.CapacityLimiter` as large as the pool keeps threads from
  queueing inside the pool. (Measured against one dedicated thread per connection, see
  ``docs/postgres.rst``: the figures decided it.)
* **One transaction per call, committed at a known point.** If the connection breaks
  before ``COMMIT`` was sent, nothing happened and the call is tried again; the store
  retries with exponential backoff (0.05 s doubling to 2 s, jittered) for up to
  ``reconnect_timeout`` seconds, logs **one** warning per outage on
  ``trio_otp.jobs.postgres`` and one line when it is back. A break *during* ``COMMIT``
  leaves the outcome unknown: a claim in doubt is handed back by the next claim (its
  rows are known by ``claimed_by`` and ``attempted_at``), an ack is tried again and
  counted done if the row is already in the acked state at that attempt, and an
  insert raises :exc:`StoreConnectionError` saying so (the jobs may exist).
* **Claims**: ``SELECT … ORDER BY priority, scheduled_at, id LIMIT n FOR UPDATE SKIP
  LOCKED`` inside the ``UPDATE`` that marks them ``executing``: concurrent claimers on
  any number of hosts never take the same row and never wait for each other.
* **Notifications**: an insert (and a rescue, a release, a retry) that makes jobs
  available sends ``NOTIFY trio_otp_jobs, '<queue>'`` in its transaction (delivered
  at commit). One dedicated connection *outside the pool*, on one thread of the
  store's own, ``LISTEN``\\ s and wakes the queues' producers; it waits with
  ``notifies(timeout=…)`` in a loop, so that it sees the store close and ends. If it
  loses its connection it reconnects with the same backoff and then wakes every
  queue (notifications sent meanwhile are lost). The engine also polls every
  ``poll_interval`` (default **1.0** s): the fallback when notifications are off
  (``listen=False``) or lost, and how jobs scheduled for later are seen.
* **Uniqueness across hosts**: each unique key is locked with a transaction-scoped
  advisory lock (``pg_advisory_xact_lock``, keys in sorted order: no deadlock between
  two batches) before it is looked up, so two concurrent inserts of one key serialise.
* **Global limits and rate limits** (:class:`QueueLimits`, kept in the database so
  every host obeys the same ones): a claim of a limited queue first locks that
  queue's row in ``trio_otp_queues`` (``FOR UPDATE``), so the claims of that queue
  serialise across hosts; it counts the queue's ``executing`` rows against
  ``global_max_running`` and the claim times kept in the row (a **sliding window**:
  at most ``rate_limit`` claims in any ``rate_period`` seconds) against the rate.
* **Leases** (the leader) are rows with an expiry, not session advisory locks: a host
  cut off keeps its TCP session and its locks until keepalive gives up (about 2 h by
  default); a lease simply runs out.
* **Schema**: tables prefixed ``trio_otp_`` in the connection's schema (its
  ``search_path``), a version in ``trio_otp_schema``, numbered migrations
  (:data:`MIGRATIONS`) applied in one transaction under an advisory lock (so that
  workers starting together migrate once), at open (``migrate=True``, default) or by
  ``trio-otp migrate``. With ``migrate=False`` the store only reads the version, so
  its role needs no ``CREATE`` privilege (see the docs for the least privileges).

Anything needing a session (``LISTEN``, session locks) uses its own connection: a
proxy in *transaction* pooling mode (PgBouncer's ``pool_mode=transaction``) breaks
``LISTEN``; point the store at PostgreSQL or at a session-mode pool.

Times are the engine's (each host's clock): keep the hosts' clocks in sync (NTP);
their skew must stay well under the heartbeat expiry and the lease time.

The DSN's password is never logged, shown in a repr or put in an error message.
All SQL is in this module, always parameterised.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import random
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import attrs
import psycopg
import psycopg.conninfo
import trio
from psycopg_pool import ConnectionPool, PoolTimeout

from ._store import (
    Ack,
    AttemptError,
    InsertResult,
    JobRecord,
    JobState,
    NewJob,
    Progress,
    RescueReport,
    StoreError,
    StoreSchemaError,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "QueueLimits", "StoreConnectionError"]

T = TypeVar("T")
logger = logging.getLogger("trio_otp.jobs.postgres")

#: The channel of the new-jobs notifications (payload: the queue's name).
CHANNEL: Final = "trio_otp_jobs"
# The first key of the two-key advisory locks this store takes ('trio' in ASCII).
_LOCK_SPACE: Final = 0x7472696F
_MIGRATION_LOCK: Final = 1

#: The schema, as numbered migrations: version N is reached by running MIGRATIONS[N-1].
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: jobs, instances (heartbeats), cron ticks, leases, queue limits.
    """
    CREATE TABLE trio_otp_jobs (
        id bigserial PRIMARY KEY,
        worker text NOT NULL,
        args jsonb NOT NULL,
        queue text NOT NULL,
        state text NOT NULL,
        priority smallint NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        inserted_at double precision NOT NULL,
        scheduled_at double precision NOT NULL,
        attempted_at double precision,
        completed_at double precision,
        discarded_at double precision,
        cancelled_at double precision,
        finished_at double precision,
        errors jsonb NOT NULL DEFAULT '[]',
        result jsonb,
        progress jsonb,
        claimed_by text,
        node text,
        rescued integer NOT NULL DEFAULT 0,
        cancel_requested boolean NOT NULL DEFAULT false,
        unique_key text,
        meta jsonb NOT NULL DEFAULT '{}',
        CONSTRAINT trio_otp_jobs_state CHECK (state IN ('available', 'scheduled',
            'executing', 'retryable', 'completed', 'discarded', 'cancelled')),
        CONSTRAINT trio_otp_jobs_priority CHECK (priority BETWEEN 0 AND 9)
    );
    CREATE INDEX trio_otp_jobs_claim ON trio_otp_jobs (queue, priority, scheduled_at, id)
        WHERE state = 'available';
    CREATE INDEX trio_otp_jobs_stage ON trio_otp_jobs (queue, scheduled_at)
        WHERE state IN ('scheduled', 'retryable');
    CREATE INDEX trio_otp_jobs_executing ON trio_otp_jobs (claimed_by, queue)
        WHERE state = 'executing';
    CREATE INDEX trio_otp_jobs_unique ON trio_otp_jobs (unique_key, inserted_at)
        WHERE unique_key IS NOT NULL;
    CREATE INDEX trio_otp_jobs_finished ON trio_otp_jobs (finished_at)
        WHERE finished_at IS NOT NULL;
    CREATE TABLE trio_otp_instances (
        id text PRIMARY KEY,
        node text NOT NULL,
        queues jsonb NOT NULL,
        started_at double precision NOT NULL,
        heartbeat_at double precision NOT NULL
    );
    CREATE TABLE trio_otp_cron (name text PRIMARY KEY, last_tick double precision NOT NULL);
    CREATE TABLE trio_otp_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        expires_at double precision NOT NULL
    );
    CREATE TABLE trio_otp_queues (
        name text PRIMARY KEY,
        global_max_running integer,
        rate_limit integer,
        rate_period double precision,
        recent double precision[] NOT NULL DEFAULT '{}'
    );
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

# -- the SQL (all of it) -----------------------------------------------------------------

_COLUMNS: Final = (
    "id, worker, args, queue, state, priority, attempt, max_attempts, inserted_at, "
    "scheduled_at, attempted_at, completed_at, discarded_at, cancelled_at, errors, "
    "result, progress, claimed_by, node, rescued, cancel_requested, meta"
)
_J_COLUMNS: Final = ", ".join(f"j.{c.strip()}" for c in _COLUMNS.split(","))
_SQL_LOCK_MIGRATIONS: Final = "SELECT pg_advisory_xact_lock(%s, %s)"
_SQL_HAS_SCHEMA: Final = "SELECT to_regclass('trio_otp_schema') IS NOT NULL"
_SQL_CREATE_SCHEMA: Final = "CREATE TABLE IF NOT EXISTS trio_otp_schema (version integer NOT NULL)"
_SQL_VERSION: Final = "SELECT coalesce(max(version), 0) FROM trio_otp_schema"
_SQL_SET_VERSION: Final = "INSERT INTO trio_otp_schema (version) VALUES (%s)"
_SQL_LOCK_KEYS: Final = "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k ORDER BY k"
_SQL_FIND_UNIQUE: Final = (
    f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE unique_key = %s AND inserted_at >= %s "
    "AND state = ANY(%s) ORDER BY id LIMIT 1"
)
_SQL_INSERT: Final = (
    "INSERT INTO trio_otp_jobs (worker, args, queue, state, priority, max_attempts, "
    "inserted_at, scheduled_at, unique_key, meta) "
    "SELECT v.worker, v.args::jsonb, v.queue, v.state, v.priority, v.max_attempts, %s, "
    "v.scheduled_at, v.unique_key, v.meta::jsonb FROM unnest(%s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::smallint[], %s::int[], %s::float8[], %s::text[], "
    "%s::text[]) WITH ORDINALITY AS v(worker, args, queue, state, priority, max_attempts, "
    f"scheduled_at, unique_key, meta, n) ORDER BY v.n RETURNING {_COLUMNS}"
)
_SQL_NOTIFY: Final = "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q"
_SQL_CRON_ENSURE: Final = (
    "INSERT INTO trio_otp_cron (name, last_tick) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING "
    "RETURNING last_tick"
)
_SQL_CRON_GET: Final = "SELECT last_tick FROM trio_otp_cron WHERE name = %s FOR UPDATE"
_SQL_CRON_SET: Final = "UPDATE trio_otp_cron SET last_tick = %s WHERE name = %s"
_SQL_STAGE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available' WHERE id IN (SELECT id FROM trio_otp_jobs "
    "WHERE state IN ('scheduled', 'retryable') AND queue = %s AND scheduled_at <= %s "
    "FOR UPDATE SKIP LOCKED)"
)
_SQL_CLAIM: Final = (
    "UPDATE trio_otp_jobs j SET state = 'executing', attempt = j.attempt + 1, "
    "attempted_at = %s, claimed_by = %s, node = %s FROM (SELECT id FROM trio_otp_jobs "
    "WHERE state = 'available' AND queue = %s ORDER BY priority, scheduled_at, id "
    f"LIMIT %s FOR UPDATE SKIP LOCKED) c WHERE j.id = c.id RETURNING {_J_COLUMNS}"
)
_SQL_UNCLAIM_IN_DOUBT: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', attempt = attempt - 1, claimed_by = NULL "
    "WHERE state = 'executing' AND claimed_by = %s AND attempted_at = %s AND queue = %s"
)
_SQL_QUEUE_LIMITS: Final = (
    "SELECT global_max_running, rate_limit, rate_period, recent FROM trio_otp_queues "
    "WHERE name = %s FOR UPDATE"
)
_SQL_RUNNING: Final = "SELECT count(*) FROM trio_otp_jobs WHERE state = 'executing' AND queue = %s"
_SQL_SET_RECENT: Final = "UPDATE trio_otp_queues SET recent = %s WHERE name = %s"
_SQL_SET_LIMITS: Final = (
    "INSERT INTO trio_otp_queues (name, global_max_running, rate_limit, rate_period) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET global_max_running = "
    "excluded.global_max_running, rate_limit = excluded.rate_limit, "
    "rate_period = excluded.rate_period"
)
_SQL_GET_LIMITS: Final = (
    "SELECT name, global_max_running, rate_limit, rate_period FROM trio_otp_queues"
)
_SQL_ACK: Final = (
    "UPDATE trio_otp_jobs j SET state = v.state, "
    "completed_at = CASE WHEN v.state = 'completed' THEN %(now)s ELSE j.completed_at END, "
    "discarded_at = CASE WHEN v.state = 'discarded' THEN %(now)s ELSE j.discarded_at END, "
    "cancelled_at = CASE WHEN v.state = 'cancelled' THEN %(now)s ELSE j.cancelled_at END, "
    "finished_at = CASE WHEN v.state = 'retryable' THEN j.finished_at ELSE %(now)s END, "
    "scheduled_at = CASE WHEN v.state = 'retryable' THEN v.scheduled_at "
    "ELSE j.scheduled_at END, "
    "result = CASE WHEN v.state = 'completed' THEN v.result::jsonb ELSE j.result END, "
    "errors = CASE WHEN v.error IS NULL THEN j.errors "
    "ELSE j.errors || jsonb_build_array(v.error::jsonb) END, "
    "claimed_by = NULL, cancel_requested = false "
    "FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(holders)s::text[], "
    "%(states)s::text[], %(results)s::text[], %(errors)s::text[], %(at)s::float8[]) "
    "AS v(id, attempt, holder, state, result, error, scheduled_at) "
    "WHERE j.id = v.id AND j.attempt = v.attempt AND j.claimed_by = v.holder "
    "AND j.state = 'executing' RETURNING j.id, j.state, j.queue"
)
_SQL_ACK_DONE_ALREADY: Final = (
    "SELECT id FROM trio_otp_jobs j JOIN unnest(%s::bigint[], %s::int[], %s::text[]) "
    "AS v(id_, attempt_, state_) ON j.id = v.id_ "
    "WHERE j.attempt = v.attempt_ AND j.state = v.state_ AND j.claimed_by IS NULL"
)
_FENCE: Final = "WHERE id = %s AND attempt = %s AND claimed_by = %s AND state = 'executing'"
_SQL_PROGRESS: Final = f"UPDATE trio_otp_jobs SET progress = %s {_FENCE}"
_SQL_CANCEL_REQUESTS: Final = (
    "SELECT id FROM trio_otp_jobs WHERE state = 'executing' AND claimed_by = %s "
    "AND cancel_requested ORDER BY id"
)
_SQL_HEARTBEAT: Final = (
    "INSERT INTO trio_otp_instances (id, node, queues, started_at, heartbeat_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET heartbeat_at = "
    "excluded.heartbeat_at"
)
_SQL_DELETE_DEAD: Final = "DELETE FROM trio_otp_instances WHERE heartbeat_at < %s RETURNING id"
_SQL_ORPHANS: Final = (
    "SELECT id, attempt, max_attempts, claimed_by, queue FROM trio_otp_jobs j "
    "WHERE state = 'executing' AND (claimed_by IS NULL OR NOT EXISTS "
    "(SELECT 1 FROM trio_otp_instances i WHERE i.id = j.claimed_by)) "
    "ORDER BY id FOR UPDATE SKIP LOCKED"
)
_RESCUE_ERROR: Final = (
    "jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', %s::float8, 'error', "
    "'rescued: queue instance ' || coalesce(claimed_by, '?') || ' stopped its heartbeat "
    "during attempt ' || attempt))"
)
_SQL_RESCUE_AVAILABLE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', rescued = rescued + 1, "
    f"errors = errors || {_RESCUE_ERROR}, claimed_by = NULL, cancel_requested = false "
    "WHERE id = ANY(%s) AND state = 'executing'"
)
_SQL_RESCUE_DISCARDED: Final = (
    "UPDATE trio_otp_jobs SET state = 'discarded', rescued = rescued + 1, "
    f"discarded_at = %s, finished_at = %s, errors = errors || {_RESCUE_ERROR}, "
    "claimed_by = NULL, cancel_requested = false WHERE id = ANY(%s) AND state = 'executing'"
)
_SQL_RELEASE: Final = (
    "UPDATE trio_otp_jobs SET "
    "state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END, "
    "cancelled_at = CASE WHEN cancel_requested THEN %s ELSE cancelled_at END, "
    "finished_at = CASE WHEN cancel_requested THEN %s ELSE finished_at END, "
    "attempt = CASE WHEN cancel_requested THEN attempt ELSE attempt - 1 END, "
    "claimed_by = NULL, cancel_requested = false "
    "WHERE state = 'executing' AND claimed_by = %s RETURNING state, queue"
)
_SQL_DELETE_INSTANCE: Final = "DELETE FROM trio_otp_instances WHERE id = %s"
_SQL_LEASE: Final = (
    "INSERT INTO trio_otp_leases (name, holder, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "expires_at = excluded.expires_at "
    "WHERE trio_otp_leases.holder = excluded.holder OR trio_otp_leases.expires_at < %s "
    "RETURNING holder"
)
_SQL_GET: Final = f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE id = %s"
_SQL_GET_MANY: Final = f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE id = ANY(%s)"
_SQL_CANCEL_WAITING: Final = (
    "UPDATE trio_otp_jobs SET state = 'cancelled', cancelled_at = %s, finished_at = %s "
    "WHERE id = %s AND state IN ('available', 'scheduled', 'retryable')"
)
_SQL_CANCEL_EXECUTING: Final = (
    "UPDATE trio_otp_jobs SET cancel_requested = true WHERE id = %s AND state = 'executing'"
)
_SQL_RETRY_JOB: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', scheduled_at = %s, "
    "max_attempts = greatest(max_attempts, attempt + 1), discarded_at = NULL, "
    "cancelled_at = NULL, finished_at = NULL, cancel_requested = false "
    f"WHERE id = %s AND state IN ('discarded', 'cancelled') RETURNING {_COLUMNS}"
)
_SQL_STATS: Final = "SELECT queue, state, count(*) FROM trio_otp_jobs GROUP BY queue, state"
_SQL_PRUNE: Final = (
    "DELETE FROM trio_otp_jobs WHERE id IN (SELECT id FROM trio_otp_jobs "
    "WHERE finished_at < %s AND state = ANY(%s) LIMIT %s FOR UPDATE SKIP LOCKED)"
)

_FINISHED: Final = frozenset({JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED})
_ACK_STATES: Final = frozenset(
    {JobState.COMPLETED, JobState.RETRYABLE, JobState.DISCARDED, JobState.CANCELLED}
)
_pool_numbers = itertools.count(1)


class StoreConnectionError(StoreError):
    """PostgreSQL could not be reached for longer than the store's
    ``reconnect_timeout`` (or the connection broke while a ``COMMIT`` was on its way,
    so whether an insert happened is unknown): check the server and the network; the
    store keeps trying on the next call."""


@attrs.frozen
class QueueLimits:
    """Limits on one queue over every instance on every host (kept in the database).

    Attributes:
        global_max_running: at most this many jobs of the queue ``executing`` at once,
            over all instances (each instance's own ``max_running`` still applies).
            Default **None** (no global limit).
        rate_limit: at most this many jobs of the queue *start* (are claimed) in any
            window of ``rate_period`` seconds, over all instances: a **sliding
            window** (the claim times of the last ``rate_period`` seconds are kept).
            Default **None** (no rate limit).
        rate_period: the window, seconds. Default **1.0**.
    """

    global_max_running: int | None = None
    rate_limit: int | None = None
    rate_period: float = 1.0

    def __attrs_post_init__(self) -> None:
        for name in ("global_max_running", "rate_limit"):
            value: object = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be an int >= 1 or None, got {value!r}")
        period: object = self.rate_period
        if not (isinstance(period, (int, float)) and 0 < period < math.inf):
            raise ValueError(f"rate_period must be seconds > 0, got {self.rate_period!r}")


def _record(row: Sequence[Any]) -> JobRecord:
    progress = None if row[16] is None else Progress(*row[16])
    return JobRecord(
        id=row[0],
        worker=row[1],
        args=row[2],
        queue=row[3],
        state=JobState(row[4]),
        priority=row[5],
        attempt=row[6],
        max_attempts=row[7],
        inserted_at=row[8],
        scheduled_at=row[9],
        attempted_at=row[10],
        completed_at=row[11],
        discarded_at=row[12],
        cancelled_at=row[13],
        errors=tuple(AttemptError(e["attempt"], e["at"], e["error"]) for e in row[14]),
        result=row[15],
        progress=progress,
        claimed_by=row[17],
        node=row[18],
        rescued=row[19],
        cancel_requested=bool(row[20]),
        meta=row[21],
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _error_json(error: AttemptError) -> str:
    return _dumps({"attempt": error.attempt, "at": error.at, "error": error.error})


def _lock_key(key: str) -> int:
    """A signed 32-bit advisory lock key for a unique key (collisions only serialise)."""
    value = zlib.crc32(key.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def describe_dsn(dsn: str) -> str:
    """The DSN without its password (or anything secret), for reprs and messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<an unparsable DSN>"
    shown = [
        f"{key}={params[key]}"
        for key in ("host", "hostaddr", "port", "dbname", "user")
        if params.get(key) not in (None, "")
    ]
    return " ".join(shown) or "<libpq defaults>"


class _Doubt(Exception):
    """The connection broke while COMMIT was on its way: the outcome is unknown."""


class PostgresStore:
    """The durable job store for several hosts: one PostgreSQL database shared by any
    number of queue instances on any number of hosts.

    Args:
        dsn: a libpq connection string (``"host=db dbname=app user=jobs"``) or URI
            (``"postgresql://jobs@db/app"``). Give the password through ``PGPASSWORD``
            or ``~/.pgpass`` if you can; one in the DSN is never shown or logged.
        min_connections / max_connections: the pool's size. Default **1** / **4** (one
            more, outside the pool, listens).
        poll_interval: seconds between two looks for jobs when no notification came (the
            fallback, and how jobs scheduled for later are seen). Default **1.0**.
        listen: wake idle queues through ``LISTEN``/``NOTIFY``. Default **True**.
            ``False`` for a server reached through a transaction-pooling proxy.
        connect_timeout: seconds to wait for a connection at open. Default **10.0**.
        reconnect_timeout: seconds a call keeps retrying while the server is
            unreachable before :exc:`StoreConnectionError`. Default **30.0**.
        limits: :class:`QueueLimits` per queue name, written to the database at open
            (every host then obeys them; last writer wins). Default: none written
            (the stored ones apply).
        migrate: apply missing schema migrations at open (default **True**); with
            ``False`` an older schema is a :exc:`StoreSchemaError` and the role needs
            no ``CREATE`` privilege.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_connections: int = 1,
        max_connections: int = 4,
        poll_interval: float = 1.0,
        listen: bool = True,
        connect_timeout: float = 10.0,
        reconnect_timeout: float = 30.0,
        limits: Mapping[str, QueueLimits] | None = None,
        migrate: bool = True,
    ) -> None:
        given: object = dsn
        if not isinstance(given, str):
            raise TypeError(f"dsn must be a libpq connection string or URI, got {type(dsn)!r}")
        try:
            psycopg.conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ValueError(
                f"dsn is not a libpq connection string or URI ({describe_dsn(dsn)}): {exc}"
            ) from None
        self._dsn = dsn
        self.description = describe_dsn(dsn)
        low: object = min_connections
        high: object = max_connections
        if not (isinstance(low, int) and low >= 1):
            raise ValueError(f"min_connections must be an int >= 1, got {min_connections!r}")
        if not (isinstance(high, int) and high >= min_connections):
            raise ValueError(
                f"max_connections must be an int >= min_connections ({min_connections}), "
                f"got {max_connections!r}"
            )
        self.min_connections = min_connections
        self.max_connections = max_connections
        for name, value in (
            ("poll_interval", poll_interval),
            ("connect_timeout", connect_timeout),
            ("reconnect_timeout", reconnect_timeout),
        ):
            seconds: object = value
            if not (isinstance(seconds, (int, float)) and 0 < seconds < math.inf):
                raise ValueError(f"{name} must be seconds > 0, got {value!r}")
        self.poll_interval: float = float(poll_interval)
        self.listen = bool(listen)
        self.connect_timeout = float(connect_timeout)
        self.reconnect_timeout = float(reconnect_timeout)
        self.limits: dict[str, QueueLimits] = {}
        for queue, limit in (limits or {}).items():
            if not isinstance(limit, QueueLimits):
                raise TypeError(
                    f"limits[{queue!r}] must be a trio_otp.jobs.QueueLimits, got {limit!r}"
                )
            self.limits[queue] = limit
        self.migrate_on_open = bool(migrate)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._limiter: trio.CapacityLimiter | None = None
        self._listener: threading.Thread | None = None
        self._stop_listening = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._wakeups: dict[str, trio.Event] = {}
        self._any_wakeup = trio.Event()
        # Claims whose COMMIT broke: (queue, instance, attempted_at), handed back later.
        self._claims_in_doubt: list[tuple[str, str, float]] = []
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._limited: set[str] = set()
        #: Counters: reconnects seen, claims in doubt handed back, calls retried.
        self.reconnects = 0
        self.retried_calls = 0

    def __repr__(self) -> str:
        return f"PostgresStore({self.description!r})"

    # -- the threads' side -----------------------------------------------------------

    def _secret_free(self, text: str) -> str:
        try:
            password = psycopg.conninfo.conninfo_to_dict(self._dsn).get("password")
        except psycopg.ProgrammingError:  # pragma: no cover - checked in __init__
            password = None
        if password:
            text = text.replace(str(password), "***")
        return text

    def _error(self, exc: BaseException, doing: str) -> StoreError:
        text = self._secret_free(f"{type(exc).__name__}: {exc}".strip())
        return StoreError(self.description, f"{doing} failed: {text}")

    def _outage(self, exc: BaseException) -> None:
        with self._outage_lock:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                logger.warning(
                    "%r lost its connection to PostgreSQL (%s): retrying with backoff for up "
                    "to %g s; committed jobs are safe",
                    self,
                    self._secret_free(str(exc).strip().splitlines()[0] if str(exc) else ""),
                    self.reconnect_timeout,
                )
        pool = self._pool
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.check()  # drop the broken idle connections at once

    def _recovered(self) -> None:
        with self._outage_lock:
            since = self._outage_since
            if since is not None:
                self._outage_since = None
                self.reconnects += 1
                logger.info(
                    "%r reconnected to PostgreSQL after %.2f s", self, time.monotonic() - since
                )

    def _tx(
        self,
        fn: Callable[[psycopg.Connection[Any]], T],
        doing: str,
        on_doubt: Callable[[], None] | None = None,
    ) -> T:
        """Run ``fn(conn)`` in one transaction on a pooled connection (thread side),
        retried while the server is unreachable (see the module's docstring)."""
        pool = self._pool
        if pool is None:
            raise StoreError(
                self.description, "the store is not open: use `async with store.open()`"
            )
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            committing = False
            try:
                conn = pool.getconn(timeout=max(0.1, deadline - time.monotonic()))
                try:
                    result = fn(conn)
                    committing = True
                    conn.commit()
                except BaseException:
                    if not conn.broken and not conn.closed:
                        with contextlib.suppress(psycopg.Error):
                            conn.rollback()
                    raise
                finally:
                    pool.putconn(conn)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if isinstance(exc, psycopg.errors.QueryCanceled):
                    raise self._error(exc, doing) from exc
                if not isinstance(exc, psycopg.errors.TransactionRollback):
                    self._outage(exc)
                if committing:
                    if on_doubt is None:
                        raise StoreConnectionError(
                            self.description,
                            f"{doing}: the connection broke while COMMIT was on its way, so "
                            "whether it happened is unknown; look before doing it again",
                        ) from exc
                    on_doubt()
                if time.monotonic() + delay > deadline:
                    raise StoreConnectionError(
                        self.description,
                        f"{doing}: PostgreSQL stayed unreachable for {self.reconnect_timeout:g} s "
                        f"({self._secret_free(str(exc).strip())}): check the server and the "
                        "network",
                    ) from exc
                self.retried_calls += 1
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
                continue
            except StoreError:
                raise
            except psycopg.Error as exc:
                raise self._error(exc, doing) from exc
            self._recovered()
            return result

    async def _run(
        self,
        fn: Callable[[psycopg.Connection[Any]], T],
        doing: str,
        on_doubt: Callable[[], None] | None = None,
    ) -> T:
        limiter = self._limiter
        if limiter is None:
            raise StoreError(
                self.description, "the store is not open: use `async with store.open()`"
            )
        result: T = await trio.to_thread.run_sync(
            self._tx, fn, doing, on_doubt, limiter=limiter, abandon_on_cancel=False
        )
        return result

    # -- schema ------------------------------------------------------------------------------

    def _check_schema(self, conn: psycopg.Connection[Any], *, migrate: bool) -> int:
        if migrate:
            conn.execute(_SQL_LOCK_MIGRATIONS, (_LOCK_SPACE, _MIGRATION_LOCK))
            conn.execute(_SQL_CREATE_SCHEMA)
        elif not _fetch_one(conn, _SQL_HAS_SCHEMA):
            raise StoreSchemaError(
                self.description,
                f"it has no trio_otp schema (this trio_otp's is version {SCHEMA_VERSION}): "
                "run `trio-otp migrate` (or open the store with migrate=True)",
            )
        version: int = _fetch_one(conn, _SQL_VERSION)
        if version > SCHEMA_VERSION:
            raise StoreSchemaError(
                self.description,
                f"its schema is version {version}, newer than this trio_otp knows "
                f"({SCHEMA_VERSION}): upgrade trio_otp",
            )
        if version < SCHEMA_VERSION:
            if not migrate:
                raise StoreSchemaError(
                    self.description,
                    f"its schema is version {version}, older than this trio_otp's "
                    f"({SCHEMA_VERSION}): run `trio-otp migrate` (or open the store with "
                    "migrate=True)",
                )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[number - 1].encode())  # several statements, no params
                conn.execute(_SQL_SET_VERSION, (number,))
        return SCHEMA_VERSION if migrate else version

    def _connect_once(self) -> None:
        """Connect directly (a clear error for a wrong DSN), check or migrate the schema,
        write the configured limits; then open the pool (thread side)."""
        try:
            conn = psycopg.connect(self._dsn, connect_timeout=max(1, int(self.connect_timeout)))
        except psycopg.Error as exc:
            raise StoreConnectionError(
                self.description,
                f"cannot connect: {self._secret_free(str(exc).strip())}: check the DSN, the "
                "server and the role's password",
            ) from exc
        try:
            with conn.transaction():
                self._check_schema(conn, migrate=self.migrate_on_open)
                for queue, limit in self.limits.items():
                    conn.execute(
                        _SQL_SET_LIMITS,
                        (queue, limit.global_max_running, limit.rate_limit, limit.rate_period),
                    )
                self._limited = {row[0] for row in conn.execute(_SQL_GET_LIMITS)}
        except StoreError:
            raise
        except psycopg.Error as exc:
            raise self._error(exc, "checking the schema") from exc
        finally:
            conn.close()
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self._dsn,
            min_size=self.min_connections,
            max_size=self.max_connections,
            open=False,
            name=f"trio_otp-pg-{next(_pool_numbers)}",
            kwargs={"autocommit": False},
            timeout=self.connect_timeout,
            reconnect_timeout=max(self.reconnect_timeout, 60.0),
            num_workers=1,
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except PoolTimeout as exc:
            pool.close()
            raise StoreConnectionError(
                self.description, f"the connection pool did not fill in time: {exc}"
            ) from exc
        self._pool = pool

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=5.0)

    # -- the listener --------------------------------------------------------------------

    def _listen(self, token: trio.lowlevel.TrioToken) -> None:
        """The listener thread: LISTEN on its own connection, wake the queues."""
        delay = 0.05
        stop = self._stop_listening
        while not stop.is_set():
            try:
                conn = psycopg.connect(
                    self._dsn, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
                )
            except psycopg.Error as exc:
                self._outage(exc)
                stop.wait(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                delay = 0.05
                self._deliver(token, None)  # anything sent while we were away
                while not stop.is_set():
                    names = {n.payload for n in conn.notifies(timeout=0.25)}
                    if names:
                        self._deliver(token, names)
            except psycopg.Error as exc:
                if stop.is_set():
                    break
                self._outage(exc)
                stop.wait(delay)
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def _deliver(self, token: trio.lowlevel.TrioToken, names: set[str] | None) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(self._wake, names)

    def _wake(self, names: Collection[str] | None) -> None:
        """Wake the waiters of ``names`` (every waiter for ``None``); trio side."""
        if names is None:
            names = list(self._wakeups)
        for name in names:
            event = self._wakeups.pop(name, None)
            if event is not None:
                event.set()
        self._any_wakeup.set()
        self._any_wakeup = trio.Event()

    # -- running it ------------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[PostgresStore]:
        """Connect, check or migrate the schema, open the pool and start the listener;
        stop and close them all (every thread joined) after the block.

        Raises:
            StoreConnectionError: the server cannot be reached (or refuses the role).
            StoreSchemaError: the schema is newer, or older and ``migrate=False``.
            StoreError: another failure, said.
        """
        if self._limiter is not None:
            raise RuntimeError(f"{self!r} is open already: a store object opens once at a time")
        self._limiter = trio.CapacityLimiter(self.max_connections)
        try:
            await trio.to_thread.run_sync(self._connect_once, abandon_on_cancel=False)
            if self.listen:
                self._stop_listening.clear()
                token = self._token = trio.lowlevel.current_trio_token()
                self._listener = threading.Thread(
                    target=self._listen,
                    args=(token,),
                    name=f"trio_otp PostgresStore listener {self.description}",
                    daemon=True,
                )
                self._listener.start()
            yield self
        finally:
            with trio.CancelScope(shield=True):
                listener, self._listener = self._listener, None
                if listener is not None:
                    self._stop_listening.set()
                    await trio.to_thread.run_sync(listener.join)
                await trio.to_thread.run_sync(self._close_pool)
                self._limiter = None
                self._wake(None)

    async def migrate(self) -> int:
        """Apply the missing schema migrations now (the store must be open). Returns
        the schema's version."""
        return await self._run(lambda conn: self._check_schema(conn, migrate=True), "migrating")

    async def schema_version(self) -> int:
        """The schema version of the open database."""
        version: int = await self._run(
            lambda conn: _fetch_one(conn, _SQL_VERSION), "reading the version"
        )
        return version

    async def set_limits(self, queue: str, limits: QueueLimits | None) -> None:
        """Store ``queue``'s :class:`QueueLimits` (``None``: no limits) for every host."""
        if limits is not None and not isinstance(limits, QueueLimits):
            raise TypeError(f"limits must be a trio_otp.jobs.QueueLimits or None, got {limits!r}")

        def run(conn: psycopg.Connection[Any]) -> set[str]:
            if limits is None:
                conn.execute("DELETE FROM trio_otp_queues WHERE name = %s", (queue,))
            else:
                conn.execute(
                    _SQL_SET_LIMITS,
                    (queue, limits.global_max_running, limits.rate_limit, limits.rate_period),
                )
            return {row[0] for row in conn.execute(_SQL_GET_LIMITS)}

        self._limited = await self._run(run, "setting queue limits")

    # -- inserting ---------------------------------------------------------------------------

    def insert_with(
        self, conn: psycopg.Connection[Any], jobs: Sequence[NewJob], now: float
    ) -> list[InsertResult]:
        """Insert jobs with **your** sync psycopg connection, inside your transaction:
        they are committed, or rolled back, with your own rows (transactional enqueue).

        Sync, on the thread that uses ``conn``; it does not commit. Make the jobs with
        the queue's ``new_job`` (which checks the function and the arguments), e.g.::

            def transfer(conn, job):
                with conn.transaction():
                    conn.execute("UPDATE accounts SET ...", (...))
                    store.insert_with(conn, [job], time.time())

            job = queue.new_job(send_receipt, account_id)
            await trio.to_thread.run_sync(transfer, conn, job)

        Idle queues on every host are woken when your transaction commits.
        """
        if not isinstance(conn, psycopg.Connection):
            raise TypeError(
                f"insert_with takes a sync psycopg.Connection, got {type(conn).__name__}"
            )
        return self._insert(conn, jobs, now)

    def _insert(
        self, conn: psycopg.Connection[Any], jobs: Sequence[NewJob], now: float
    ) -> list[InsertResult]:
        results: list[InsertResult | None] = [None] * len(jobs)
        keys = sorted({_lock_key(j.unique.key) for j in jobs if j.unique is not None})
        if keys:
            conn.execute(_SQL_LOCK_KEYS, (_LOCK_SPACE, keys))
        to_insert: list[int] = []
        earlier: dict[str, int] = {}  # unique key → index of its first job in the batch
        duplicate_of: dict[int, int] = {}
        for i, job in enumerate(jobs):
            unique = job.unique
            if unique is not None:
                if unique.key in earlier:
                    duplicate_of[i] = earlier[unique.key]
                    continue
                row = conn.execute(
                    _SQL_FIND_UNIQUE,
                    (unique.key, now - unique.period, [str(s) for s in unique.states]),
                ).fetchone()
                if row is not None:
                    results[i] = InsertResult(_record(row), conflict=True)
                    continue
                earlier[unique.key] = i
            to_insert.append(i)
        if to_insert:
            chosen = [jobs[i] for i in to_insert]
            states = [
                str(JobState.AVAILABLE if j.scheduled_at <= now else JobState.SCHEDULED)
                for j in chosen
            ]
            rows = conn.execute(
                _SQL_INSERT,
                (
                    now,
                    [j.worker for j in chosen],
                    [_dumps(j.args) for j in chosen],
                    [j.queue for j in chosen],
                    states,
                    [j.priority for j in chosen],
                    [j.max_attempts for j in chosen],
                    [
                        max(j.scheduled_at, now) if s == "scheduled" else now
                        for j, s in zip(chosen, states, strict=True)
                    ],
                    [None if j.unique is None else j.unique.key for j in chosen],
                    [_dumps(dict(j.meta)) for j in chosen],
                ),
            ).fetchall()
            records = sorted((_record(row) for row in rows), key=lambda r: r.id)
            for i, record in zip(to_insert, records, strict=True):
                results[i] = InsertResult(record)
            woken = sorted({r.queue for r in records if r.state is JobState.AVAILABLE})
            if woken and self.listen:
                conn.execute(_SQL_NOTIFY, (CHANNEL, woken))
        for i, first in duplicate_of.items():
            found = results[first]
            assert found is not None
            results[i] = InsertResult(found.job, conflict=True)
        return [r for r in results if r is not None]

    async def insert(self, jobs: Sequence[NewJob], now: float) -> list[InsertResult]:
        if not jobs:
            return []
        results = await self._run(lambda conn: self._insert(conn, jobs, now), "inserting jobs")
        self._wake({r.job.queue for r in results if not r.conflict})
        return results

    async def insert_cron(
        self, name: str, tick: float, job: NewJob, now: float, *, first: bool
    ) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            created = conn.execute(_SQL_CRON_ENSURE, (name, tick)).fetchone()
            if created is not None:
                # No tick was recorded: this one is now.
                if first:
                    return None
            else:
                last = _fetch_one(conn, _SQL_CRON_GET, (name,))
                if last >= tick:
                    return None
                conn.execute(_SQL_CRON_SET, (tick, name))
            plain = attrs.evolve(job, scheduled_at=now, unique=None)
            [result] = self._insert(conn, [plain], now)
            return result.job

        record = await self._run(run, "inserting a periodic job")
        if record is not None:
            self._wake({record.queue})
        return record

    # -- running -----------------------------------------------------------------------------

    def _claim(
        self,
        conn: psycopg.Connection[Any],
        queue: str,
        limit: int,
        instance: str,
        node: str,
        now: float,
    ) -> list[JobRecord]:
        while self._claims_in_doubt:
            doubt_queue, holder, at = self._claims_in_doubt[0]
            conn.execute(_SQL_UNCLAIM_IN_DOUBT, (holder, at, doubt_queue))
            self._claims_in_doubt.pop(0)
        conn.execute(_SQL_STAGE, (queue, now))
        recent: list[float] | None = None
        if queue in self._limited:
            row = conn.execute(_SQL_QUEUE_LIMITS, (queue,)).fetchone()
            if row is not None:
                global_max, rate, period, kept = row
                if global_max is not None:
                    running: int = _fetch_one(conn, _SQL_RUNNING, (queue,))
                    limit = min(limit, global_max - running)
                if rate is not None:
                    recent = [t for t in kept if t > now - period]
                    limit = min(limit, rate - len(recent))
        if limit <= 0:
            return []
        rows = conn.execute(_SQL_CLAIM, (now, instance, node, queue, limit)).fetchall()
        if recent is not None and rows:
            conn.execute(_SQL_SET_RECENT, (recent + [now] * len(rows), queue))
        records = [_record(row) for row in rows]
        records.sort(key=lambda r: (r.priority, r.scheduled_at, r.id))
        return records

    async def claim(
        self, queue: str, limit: int, instance: str, node: str, now: float
    ) -> list[JobRecord]:
        if limit <= 0:
            return []

        def doubt() -> None:
            # Its rows (if it committed) are ours at `now`: handed back by the next try.
            self._claims_in_doubt.append((queue, instance, now))

        return await self._run(
            lambda conn: self._claim(conn, queue, limit, instance, node, now),
            f"claiming jobs of {queue!r}",
            doubt,
        )

    async def ack(self, acks: Sequence[Ack], now: float) -> list[bool]:
        if not acks:
            return []
        for ack in acks:
            if ack.state not in _ACK_STATES:
                raise ValueError(f"an ack cannot set the state {ack.state!r}")
        params = {
            "now": now,
            "ids": [a.id for a in acks],
            "attempts": [a.attempt for a in acks],
            "holders": [a.claimed_by for a in acks],
            "states": [str(a.state) for a in acks],
            "results": [
                None if a.state is not JobState.COMPLETED or a.result is None else _dumps(a.result)
                for a in acks
            ],
            "errors": [
                None
                if a.state is JobState.COMPLETED and a.error is None
                else _error_json(
                    a.error or AttemptError(a.attempt, now, f"{a.state} without a reason")
                )
                for a in acks
            ],
            "at": [
                (now if a.scheduled_at is None else a.scheduled_at)
                if a.state is JobState.RETRYABLE
                else None
                for a in acks
            ],
        }
        in_doubt = False

        def doubt() -> None:
            nonlocal in_doubt
            in_doubt = True

        def run(conn: psycopg.Connection[Any]) -> tuple[set[int], set[str]]:
            rows = conn.execute(_SQL_ACK, params).fetchall()
            done = {row[0] for row in rows}
            if in_doubt and len(done) < len(acks):
                # The first try may have committed: those rows are in their acked state.
                missing = [a for a in acks if a.id not in done]
                done |= {
                    row[0]
                    for row in conn.execute(
                        _SQL_ACK_DONE_ALREADY,
                        (
                            [a.id for a in missing],
                            [a.attempt for a in missing],
                            [str(a.state) for a in missing],
                        ),
                    )
                }
            woken = sorted({row[2] for row in rows if row[1] == "retryable"})
            return done, set(woken)

        done, _ = await self._run(run, "acking jobs", doubt)
        return [a.id in done for a in acks]

    async def report_progress(
        self, job_id: int, attempt: int, instance: str, progress: Progress
    ) -> bool:
        value = _dumps([progress.fraction, progress.message])

        def run(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute(_SQL_PROGRESS, (value, job_id, attempt, instance)).rowcount == 1

        return await self._run(run, "storing progress", lambda: None)

    async def cancel_requests(self, instance: str) -> list[int]:
        def run(conn: psycopg.Connection[Any]) -> list[int]:
            return [row[0] for row in conn.execute(_SQL_CANCEL_REQUESTS, (instance,))]

        return await self._run(run, "reading cancel requests", lambda: None)

    async def wait_for_jobs(self, queues: Collection[str]) -> None:
        if not queues:
            await self._any_wakeup.wait()
            return
        events = [self._wakeups.setdefault(q, trio.Event()) for q in queues]
        if len(events) == 1:
            await events[0].wait()
            return
        async with trio.open_nursery() as nursery:

            async def one(event: trio.Event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            for event in events:
                nursery.start_soon(one, event)

    # -- liveness ------------------------------------------------------------------------------

    async def heartbeat(
        self, instance: str, node: str, queues: Collection[str], now: float
    ) -> None:
        names = _dumps(sorted(queues))

        def run(conn: psycopg.Connection[Any]) -> None:
            conn.execute(_SQL_HEARTBEAT, (instance, node, names, now, now))

        await self._run(run, "renewing a heartbeat", lambda: None)

    async def rescue(self, expired_before: float, now: float) -> RescueReport:
        def run(conn: psycopg.Connection[Any]) -> tuple[RescueReport, set[str]]:
            dead = tuple(row[0] for row in conn.execute(_SQL_DELETE_DEAD, (expired_before,)))
            available, discarded, queues = [], [], set()
            for job_id, attempt, max_attempts, _holder, queue in conn.execute(_SQL_ORPHANS):
                if attempt >= max_attempts:
                    discarded.append(job_id)
                else:
                    available.append(job_id)
                    queues.add(queue)
            if available:
                conn.execute(_SQL_RESCUE_AVAILABLE, (now, available))
                if self.listen:
                    conn.execute(_SQL_NOTIFY, (CHANNEL, sorted(queues)))
            if discarded:
                conn.execute(_SQL_RESCUE_DISCARDED, (now, now, now, discarded))
            return RescueReport(tuple(available), tuple(discarded), dead), queues

        report, queues = await self._run(run, "rescuing jobs", lambda: None)
        if queues:
            self._wake(queues)
        return report

    async def release(self, instance: str, now: float) -> int:
        def run(conn: psycopg.Connection[Any]) -> int:
            rows = conn.execute(_SQL_RELEASE, (now, now, instance)).fetchall()
            conn.execute(_SQL_DELETE_INSTANCE, (instance,))
            woken = sorted({queue for state, queue in rows if state == "available"})
            if woken and self.listen:
                conn.execute(_SQL_NOTIFY, (CHANNEL, woken))
            return len(rows)

        return await self._run(run, "releasing claims", lambda: None)

    async def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool:
        def run(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute(_SQL_LEASE, (name, holder, now + ttl, now)).fetchone() is not None

        return await self._run(run, f"taking the lease {name!r}", lambda: None)

    # -- looking and acting ----------------------------------------------------------------------

    async def get(self, job_id: int) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            row = conn.execute(_SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._run(run, "reading a job", lambda: None)

    async def get_many(self, job_ids: Collection[int]) -> dict[int, JobRecord]:
        ids = [int(i) for i in job_ids]

        def run(conn: psycopg.Connection[Any]) -> dict[int, JobRecord]:
            records = (_record(row) for row in conn.execute(_SQL_GET_MANY, (ids,)))
            return {r.id: r for r in records}

        return await self._run(run, "reading jobs", lambda: None)

    async def request_cancel(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            if conn.execute(_SQL_CANCEL_WAITING, (now, now, job_id)).rowcount == 0:
                conn.execute(_SQL_CANCEL_EXECUTING, (job_id,))
            row = conn.execute(_SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._run(run, "cancelling a job", lambda: None)

    async def retry_job(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            row = conn.execute(_SQL_RETRY_JOB, (now, job_id)).fetchone()
            if row is None:
                row = conn.execute(_SQL_GET, (job_id,)).fetchone()
                return None if row is None else _record(row)
            record = _record(row)
            if self.listen:
                conn.execute(_SQL_NOTIFY, (CHANNEL, [record.queue]))
            return record

        record = await self._run(run, "retrying a job", lambda: None)
        if record is not None and record.state is JobState.AVAILABLE:
            self._wake({record.queue})
        return record

    async def stats(self) -> dict[str, dict[JobState, int]]:
        def run(conn: psycopg.Connection[Any]) -> dict[str, dict[JobState, int]]:
            out: dict[str, dict[JobState, int]] = {}
            for queue, state, count in conn.execute(_SQL_STATS):
                out.setdefault(queue, {})[JobState(state)] = count
            return out

        return await self._run(run, "counting jobs", lambda: None)

    async def prune(self, before: float, states: Collection[JobState], limit: int) -> int:
        chosen = [str(s) for s in states if s in _FINISHED]
        if not chosen or limit <= 0:
            return 0

        def run(conn: psycopg.Connection[Any]) -> int:
            return conn.execute(_SQL_PRUNE, (before, chosen, limit)).rowcount

        return await self._run(run, "pruning jobs", lambda: None)


def _fetch_one(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]
