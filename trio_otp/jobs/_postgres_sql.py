"""PostgresStore's SQL (all of it, always parameterised), its schema migrations, and
the rows' conversions; also its two public records, :class:`~trio_otp.jobs.QueueLimits` (a row of
``trio_otp_queues``) and :exc:`~trio_otp.jobs.StoreConnectionError`. No connection handling here
(``_postgres_link``) and no store logic (``_postgres``)."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from typing import Any, Final, LiteralString

import attrs
import psycopg
import psycopg.conninfo

from ._store import AttemptError, JobRecord, JobState, Progress, StoreError

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
SQL_LOCK_MIGRATIONS: Final = "SELECT pg_advisory_xact_lock(%s, %s)"
SQL_HAS_SCHEMA: Final = "SELECT to_regclass('trio_otp_schema') IS NOT NULL"
SQL_CREATE_SCHEMA: Final = "CREATE TABLE IF NOT EXISTS trio_otp_schema (version integer NOT NULL)"
SQL_VERSION: Final = "SELECT coalesce(max(version), 0) FROM trio_otp_schema"
SQL_SET_VERSION: Final = "INSERT INTO trio_otp_schema (version) VALUES (%s)"
SQL_LOCK_KEYS: Final = "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k ORDER BY k"
SQL_FIND_UNIQUE: Final = (
    f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE unique_key = %s AND inserted_at >= %s "
    "AND state = ANY(%s) ORDER BY id LIMIT 1"
)
# Jobs with the ids the store reserved for them (SQL_NEXT_IDS): a row already there
# was inserted by an earlier try of the same call, whose outcome a broken connection
# left unknown; it is skipped here and read back (SQL_GET_MANY).
SQL_INSERT: Final = (
    "INSERT INTO trio_otp_jobs (id, worker, args, queue, state, priority, max_attempts, "
    "inserted_at, scheduled_at, unique_key, meta) "
    "SELECT v.id, v.worker, v.args::jsonb, v.queue, v.state, v.priority, v.max_attempts, "
    "%s, v.scheduled_at, v.unique_key, v.meta::jsonb FROM unnest(%s::bigint[], "
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::smallint[], %s::int[], "
    "%s::float8[], %s::text[], %s::text[]) WITH ORDINALITY AS v(id, worker, args, queue, "
    "state, priority, max_attempts, scheduled_at, unique_key, meta, n) ORDER BY v.n "
    f"ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}"
)
SQL_NOTIFY: Final = "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q"
# One job without a unique key, in one autocommit statement: its id is taken from a
# block the store reserved (SQL_NEXT_IDS), so a try whose outcome is unknown can be
# looked up by id, and a second try of the same id cannot insert it twice.
_INSERT_ONE: Final = (
    "INSERT INTO trio_otp_jobs (id, worker, args, queue, state, priority, max_attempts, "
    "inserted_at, scheduled_at, meta) VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, "
    f"%s::jsonb) RETURNING {_COLUMNS}"
)
SQL_INSERT_ONE: Final = _INSERT_ONE
#: As SQL_INSERT_ONE, and the notification in the same statement (its last column).
SQL_INSERT_ONE_NOTIFY: Final = (
    f"WITH j AS ({_INSERT_ONE}) SELECT j.*, pg_notify(%s, j.queue) FROM j"
)
SQL_NEXT_IDS: Final = (
    "SELECT nextval(pg_get_serial_sequence('trio_otp_jobs', 'id')) FROM generate_series(1, %s)"
)
SQL_CRON_ENSURE: Final = (
    "INSERT INTO trio_otp_cron (name, last_tick) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING "
    "RETURNING last_tick"
)
SQL_CRON_GET: Final = "SELECT last_tick FROM trio_otp_cron WHERE name = %s FOR UPDATE"
SQL_CRON_SET: Final = "UPDATE trio_otp_cron SET last_tick = %s WHERE name = %s"
SQL_STAGE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available' WHERE id IN (SELECT id FROM trio_otp_jobs "
    "WHERE state IN ('scheduled', 'retryable') AND queue = %s AND scheduled_at <= %s "
    "FOR UPDATE SKIP LOCKED)"
)
SQL_CLAIM: Final = (
    "UPDATE trio_otp_jobs j SET state = 'executing', attempt = j.attempt + 1, "
    "attempted_at = %s, claimed_by = %s, node = %s FROM (SELECT id FROM trio_otp_jobs "
    "WHERE state = 'available' AND queue = %s ORDER BY priority, scheduled_at, id "
    f"LIMIT %s FOR UPDATE SKIP LOCKED) c WHERE j.id = c.id RETURNING {_J_COLUMNS}"
)
SQL_UNCLAIM_IN_DOUBT: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', attempt = attempt - 1, claimed_by = NULL "
    "WHERE state = 'executing' AND claimed_by = %s AND attempted_at = %s AND queue = %s"
)
SQL_QUEUE_LIMITS: Final = (
    "SELECT global_max_running, rate_limit, rate_period, recent FROM trio_otp_queues "
    "WHERE name = %s FOR UPDATE"
)
SQL_RUNNING: Final = "SELECT count(*) FROM trio_otp_jobs WHERE state = 'executing' AND queue = %s"
SQL_SET_RECENT: Final = "UPDATE trio_otp_queues SET recent = %s WHERE name = %s"
SQL_SET_LIMITS: Final = (
    "INSERT INTO trio_otp_queues (name, global_max_running, rate_limit, rate_period) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET global_max_running = "
    "excluded.global_max_running, rate_limit = excluded.rate_limit, "
    "rate_period = excluded.rate_period"
)
SQL_GET_LIMITS: Final = (
    "SELECT name, global_max_running, rate_limit, rate_period FROM trio_otp_queues"
)
SQL_ACK: Final = (
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
SQL_ACK_DONE_ALREADY: Final = (
    "SELECT id FROM trio_otp_jobs j JOIN unnest(%s::bigint[], %s::int[], %s::text[]) "
    "AS v(id_, attempt_, state_) ON j.id = v.id_ "
    "WHERE j.attempt = v.attempt_ AND j.state = v.state_ AND j.claimed_by IS NULL"
)
_FENCE: Final = "WHERE id = %s AND attempt = %s AND claimed_by = %s AND state = 'executing'"
SQL_PROGRESS: Final = f"UPDATE trio_otp_jobs SET progress = %s {_FENCE}"
SQL_CANCEL_REQUESTS: Final = (
    "SELECT id FROM trio_otp_jobs WHERE state = 'executing' AND claimed_by = %s "
    "AND cancel_requested ORDER BY id"
)
SQL_HEARTBEAT: Final = (
    "INSERT INTO trio_otp_instances (id, node, queues, started_at, heartbeat_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET heartbeat_at = "
    "excluded.heartbeat_at"
)
SQL_DELETE_DEAD: Final = "DELETE FROM trio_otp_instances WHERE heartbeat_at < %s RETURNING id"
SQL_ORPHANS: Final = (
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
SQL_RESCUE_AVAILABLE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', rescued = rescued + 1, "
    f"errors = errors || {_RESCUE_ERROR}, claimed_by = NULL, cancel_requested = false "
    "WHERE id = ANY(%s) AND state = 'executing'"
)
SQL_RESCUE_DISCARDED: Final = (
    "UPDATE trio_otp_jobs SET state = 'discarded', rescued = rescued + 1, "
    f"discarded_at = %s, finished_at = %s, errors = errors || {_RESCUE_ERROR}, "
    "claimed_by = NULL, cancel_requested = false WHERE id = ANY(%s) AND state = 'executing'"
)
SQL_RELEASE: Final = (
    "UPDATE trio_otp_jobs SET "
    "state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END, "
    "cancelled_at = CASE WHEN cancel_requested THEN %s ELSE cancelled_at END, "
    "finished_at = CASE WHEN cancel_requested THEN %s ELSE finished_at END, "
    "attempt = CASE WHEN cancel_requested THEN attempt ELSE attempt - 1 END, "
    "claimed_by = NULL, cancel_requested = false "
    "WHERE state = 'executing' AND claimed_by = %s RETURNING state, queue"
)
SQL_DELETE_INSTANCE: Final = "DELETE FROM trio_otp_instances WHERE id = %s"
SQL_LEASE: Final = (
    "INSERT INTO trio_otp_leases (name, holder, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "expires_at = excluded.expires_at "
    "WHERE trio_otp_leases.holder = excluded.holder OR trio_otp_leases.expires_at < %s "
    "RETURNING holder"
)
SQL_GET: Final = f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE id = %s"
SQL_GET_MANY: Final = f"SELECT {_COLUMNS} FROM trio_otp_jobs WHERE id = ANY(%s)"
SQL_CANCEL_WAITING: Final = (
    "UPDATE trio_otp_jobs SET state = 'cancelled', cancelled_at = %s, finished_at = %s "
    "WHERE id = %s AND state IN ('available', 'scheduled', 'retryable')"
)
SQL_CANCEL_EXECUTING: Final = (
    "UPDATE trio_otp_jobs SET cancel_requested = true WHERE id = %s AND state = 'executing'"
)
SQL_RETRY_JOB: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', scheduled_at = %s, "
    "max_attempts = greatest(max_attempts, attempt + 1), discarded_at = NULL, "
    "cancelled_at = NULL, finished_at = NULL, cancel_requested = false "
    f"WHERE id = %s AND state IN ('discarded', 'cancelled') RETURNING {_COLUMNS}"
)
SQL_STATS: Final = "SELECT queue, state, count(*) FROM trio_otp_jobs GROUP BY queue, state"
SQL_PRUNE: Final = (
    "DELETE FROM trio_otp_jobs WHERE id IN (SELECT id FROM trio_otp_jobs "
    "WHERE finished_at < %s AND state = ANY(%s) LIMIT %s FOR UPDATE SKIP LOCKED)"
)

_FINISHED: Final = frozenset({JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED})
_ACK_STATES: Final = frozenset(
    {JobState.COMPLETED, JobState.RETRYABLE, JobState.DISCARDED, JobState.CANCELLED}
)


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


def _fetch_one(
    conn: psycopg.Connection[Any], sql: LiteralString, params: Sequence[Any] = ()
) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]
