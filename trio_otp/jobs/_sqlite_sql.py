"""The SQL of :class:`~trio_otp.jobs.SQLiteStore`, all of it, in one place.

Every statement is parameterised (``?``); none is built from a user's value. The
schema is a numbered list of migrations (:data:`MIGRATIONS`): version N is reached by
running ``MIGRATIONS[N - 1]``; ``trio_otp_schema`` records the versions applied.
"""

from __future__ import annotations

from typing import Final

#: The schema, as numbered migrations: version N is reached by running MIGRATIONS[N-1].
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: jobs, instances (heartbeats), cron ticks, leases.
    """
    CREATE TABLE trio_otp_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        worker TEXT NOT NULL,
        args TEXT NOT NULL,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        inserted_at REAL NOT NULL,
        scheduled_at REAL NOT NULL,
        attempted_at REAL,
        completed_at REAL,
        discarded_at REAL,
        cancelled_at REAL,
        finished_at REAL,
        errors TEXT NOT NULL DEFAULT '[]',
        result TEXT,
        progress TEXT,
        claimed_by TEXT,
        node TEXT,
        rescued INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        unique_key TEXT,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX trio_otp_jobs_claim ON trio_otp_jobs (queue, priority, scheduled_at, id)
        WHERE state = 'available';
    CREATE INDEX trio_otp_jobs_stage ON trio_otp_jobs (scheduled_at)
        WHERE state IN ('scheduled', 'retryable');
    CREATE INDEX trio_otp_jobs_executing ON trio_otp_jobs (claimed_by)
        WHERE state = 'executing';
    CREATE INDEX trio_otp_jobs_unique ON trio_otp_jobs (unique_key, inserted_at)
        WHERE unique_key IS NOT NULL;
    CREATE INDEX trio_otp_jobs_finished ON trio_otp_jobs (finished_at)
        WHERE finished_at IS NOT NULL;
    CREATE TABLE trio_otp_instances (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        queues TEXT NOT NULL,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
    CREATE TABLE trio_otp_cron (name TEXT PRIMARY KEY, last_tick REAL NOT NULL);
    CREATE TABLE trio_otp_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

# -- the SQL (all of it) -----------------------------------------------------------------

COLUMNS: Final = (
    "id, worker, args, queue, state, priority, attempt, max_attempts, inserted_at, "
    "scheduled_at, attempted_at, completed_at, discarded_at, cancelled_at, errors, "
    "result, progress, claimed_by, node, rescued, cancel_requested, meta"
)
SQL_HAS_SCHEMA: Final = (
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'trio_otp_schema'"
)
SQL_CREATE_SCHEMA: Final = "CREATE TABLE trio_otp_schema (version INTEGER NOT NULL)"
SQL_VERSION: Final = "SELECT coalesce(max(version), 0) FROM trio_otp_schema"
# The write probe at open: a row inserted and deleted in the opening transaction.
SQL_PROBE_WRITE: Final = "CREATE TABLE IF NOT EXISTS trio_otp_probe (x INTEGER)"
SQL_PROBE_UNDO: Final = "DROP TABLE trio_otp_probe"
SQL_SET_VERSION: Final = "INSERT INTO trio_otp_schema (version) VALUES (?)"
SQL_FIND_UNIQUE: Final = (
    f"SELECT {COLUMNS} FROM trio_otp_jobs WHERE unique_key = ? AND inserted_at >= ? "
    "AND state IN (?, ?, ?, ?, ?, ?, ?) ORDER BY id LIMIT 1"
)
SQL_INSERT: Final = (
    "INSERT INTO trio_otp_jobs (worker, args, queue, state, priority, max_attempts, "
    "inserted_at, scheduled_at, unique_key, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"RETURNING {COLUMNS}"
)
SQL_CRON_GET: Final = "SELECT last_tick FROM trio_otp_cron WHERE name = ?"
SQL_CRON_SET: Final = (
    "INSERT INTO trio_otp_cron (name, last_tick) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick"
)
SQL_STAGE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available' "
    "WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= ?"
)
SQL_CLAIM: Final = (
    "UPDATE trio_otp_jobs SET state = 'executing', attempt = attempt + 1, "
    "attempted_at = ?, claimed_by = ?, node = ? WHERE id IN ("
    "SELECT id FROM trio_otp_jobs WHERE state = 'available' AND queue = ? "
    f"ORDER BY priority, scheduled_at, id LIMIT ?) RETURNING {COLUMNS}"
)
FENCE: Final = "WHERE id = ? AND attempt = ? AND claimed_by = ? AND state = 'executing'"
SQL_ACK_COMPLETED: Final = (
    "UPDATE trio_otp_jobs SET state = 'completed', completed_at = ?, finished_at = ?, "
    f"result = ?, claimed_by = NULL, cancel_requested = 0 {FENCE}"
)
SQL_ACK_RETRYABLE: Final = (
    "UPDATE trio_otp_jobs SET state = 'retryable', scheduled_at = ?, "
    "errors = json_insert(errors, '$[#]', json(?)), claimed_by = NULL, "
    f"cancel_requested = 0 {FENCE}"
)
SQL_ACK_DISCARDED: Final = (
    "UPDATE trio_otp_jobs SET state = 'discarded', discarded_at = ?, finished_at = ?, "
    "errors = json_insert(errors, '$[#]', json(?)), claimed_by = NULL, "
    f"cancel_requested = 0 {FENCE}"
)
SQL_ACK_CANCELLED: Final = (
    "UPDATE trio_otp_jobs SET state = 'cancelled', cancelled_at = ?, finished_at = ?, "
    "errors = json_insert(errors, '$[#]', json(?)), claimed_by = NULL, "
    f"cancel_requested = 0 {FENCE}"
)
SQL_PROGRESS: Final = f"UPDATE trio_otp_jobs SET progress = ? {FENCE}"
SQL_CANCEL_REQUESTS: Final = (
    "SELECT id FROM trio_otp_jobs WHERE state = 'executing' AND claimed_by = ? "
    "AND cancel_requested = 1"
)
SQL_HEARTBEAT: Final = (
    "INSERT INTO trio_otp_instances (id, node, queues, started_at, heartbeat_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
)
SQL_DEAD_INSTANCES: Final = "SELECT id FROM trio_otp_instances WHERE heartbeat_at < ?"
SQL_DELETE_DEAD: Final = "DELETE FROM trio_otp_instances WHERE heartbeat_at < ?"
SQL_ORPHANS: Final = (
    "SELECT id, attempt, max_attempts, claimed_by FROM trio_otp_jobs "
    "WHERE state = 'executing' AND (claimed_by IS NULL OR claimed_by NOT IN "
    "(SELECT id FROM trio_otp_instances))"
)
SQL_RESCUE_AVAILABLE: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', rescued = rescued + 1, "
    "errors = json_insert(errors, '$[#]', json(?)), claimed_by = NULL, "
    "cancel_requested = 0 WHERE id = ? AND state = 'executing'"
)
SQL_RESCUE_DISCARDED: Final = (
    "UPDATE trio_otp_jobs SET state = 'discarded', rescued = rescued + 1, "
    "discarded_at = ?, finished_at = ?, errors = json_insert(errors, '$[#]', json(?)), "
    "claimed_by = NULL, cancel_requested = 0 WHERE id = ? AND state = 'executing'"
)
SQL_RELEASE: Final = (
    "UPDATE trio_otp_jobs SET "
    "state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'available' END, "
    "cancelled_at = CASE WHEN cancel_requested = 1 THEN ? ELSE cancelled_at END, "
    "finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE finished_at END, "
    "attempt = CASE WHEN cancel_requested = 1 THEN attempt ELSE attempt - 1 END, "
    "claimed_by = NULL, cancel_requested = 0 "
    "WHERE state = 'executing' AND claimed_by = ?"
)
SQL_DELETE_INSTANCE: Final = "DELETE FROM trio_otp_instances WHERE id = ?"
SQL_LEASE: Final = (
    "INSERT INTO trio_otp_leases (name, holder, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "expires_at = excluded.expires_at "
    "WHERE trio_otp_leases.holder = excluded.holder OR trio_otp_leases.expires_at < ?"
)
SQL_LEASE_HOLDER: Final = "SELECT holder FROM trio_otp_leases WHERE name = ?"
SQL_GET: Final = f"SELECT {COLUMNS} FROM trio_otp_jobs WHERE id = ?"
SQL_GET_MANY: Final = (
    f"SELECT {COLUMNS} FROM trio_otp_jobs WHERE id IN (SELECT value FROM json_each(?))"
)
SQL_CANCEL_WAITING: Final = (
    "UPDATE trio_otp_jobs SET state = 'cancelled', cancelled_at = ?, finished_at = ? "
    "WHERE id = ? AND state IN ('available', 'scheduled', 'retryable')"
)
SQL_CANCEL_EXECUTING: Final = (
    "UPDATE trio_otp_jobs SET cancel_requested = 1 WHERE id = ? AND state = 'executing'"
)
SQL_RETRY_JOB: Final = (
    "UPDATE trio_otp_jobs SET state = 'available', scheduled_at = ?, "
    "max_attempts = max(max_attempts, attempt + 1), discarded_at = NULL, "
    "cancelled_at = NULL, finished_at = NULL, cancel_requested = 0 "
    "WHERE id = ? AND state IN ('discarded', 'cancelled')"
)
SQL_STATS: Final = "SELECT queue, state, count(*) FROM trio_otp_jobs GROUP BY queue, state"
SQL_PRUNE: Final = (
    "DELETE FROM trio_otp_jobs WHERE id IN (SELECT id FROM trio_otp_jobs "
    "WHERE finished_at < ? AND state IN (?, ?, ?) LIMIT ?)"
)
