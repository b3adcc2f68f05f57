"""The connection side of :class:`~trio_otp.jobs.PostgresStore`: the pool and its worker
threads, one transaction per call retried through an outage (one warning per outage),
the schema check and migrations at open, and the ``LISTEN`` thread on its own
connection. ``_postgres`` builds the store's operations on it (see its docstring for
the decisions and their reasons)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar

import psycopg
import psycopg.conninfo
import trio
from psycopg_pool import ConnectionPool, PoolTimeout

from ._postgres_sql import (
    _LOCK_SPACE,
    _MIGRATION_LOCK,
    CHANNEL,
    MIGRATIONS,
    SCHEMA_VERSION,
    SQL_CREATE_SCHEMA,
    SQL_GET_LIMITS,
    SQL_HAS_SCHEMA,
    SQL_LOCK_MIGRATIONS,
    SQL_SET_LIMITS,
    SQL_SET_VERSION,
    SQL_VERSION,
    QueueLimits,
    StoreConnectionError,
    _fetch_one,
    describe_dsn,
)
from ._store import StoreError, StoreSchemaError

T = TypeVar("T")
logger = logging.getLogger("trio_otp.jobs.postgres")
_pool_numbers = itertools.count(1)
# Stores in an outage now. While any is, psycopg_pool's own warnings (one per failed
# reconnection attempt, per pool) are held back: the store's one warning says it all.
_in_outage: set[int] = set()


class _QuietDuringOutages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING or not _in_outage


_POOL_LOGGER = logging.getLogger("psycopg.pool")
if not any(isinstance(f, _QuietDuringOutages) for f in _POOL_LOGGER.filters):
    _POOL_LOGGER.addFilter(_QuietDuringOutages())


class PostgresLink:
    """What every :class:`~trio_otp.jobs.PostgresStore` holds to reach its database
    (its arguments are the store's: see there)."""

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
        self.description: str = describe_dsn(dsn)
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
        self.listen: bool = bool(listen)
        self.connect_timeout: float = float(connect_timeout)
        self.reconnect_timeout: float = float(reconnect_timeout)
        self.limits: dict[str, QueueLimits] = {}
        for queue, limit in (limits or {}).items():
            if not isinstance(limit, QueueLimits):
                raise TypeError(
                    f"limits[{queue!r}] must be a trio_otp.jobs.QueueLimits, got {limit!r}"
                )
            self.limits[queue] = limit
        self.migrate_on_open: bool = bool(migrate)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._limiter: trio.CapacityLimiter | None = None
        self._listener: threading.Thread | None = None
        self._stop_listening = threading.Event()
        self._listening = threading.Event()  # set once LISTEN took effect
        # Whether open() still waits for the first LISTEN (under _listen_lock): a LISTEN
        # that takes effect after open() stopped waiting is late, and wakes every queue.
        self._open_waits = False
        self._listen_lock = threading.Lock()
        # Test seam, on the real path: called on the listener thread just before each
        # LISTEN (the tests hold a LISTEN back with it to open the window it closes).
        self._before_listen: Callable[[], None] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._wakeups: dict[str, trio.Event] = {}
        # Wakeups that came while nobody waited for that queue (a waiter between two
        # waits, or not yet waiting): the next wait_for_jobs returns at once.
        self._missed: set[str] = set()
        self._missed_all = False
        self._any_wakeup = trio.Event()
        # Claims whose COMMIT broke: (queue, instance, attempted_at), handed back later.
        self._claims_in_doubt: list[tuple[str, str, float]] = []
        # Job ids reserved for one-job inserts (see PostgresStore._take_id).
        self._ids: collections.deque[int] = collections.deque()
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        # From an outage until the pool gives a connection again (see _connection).
        self._refilling = False
        self._limited: set[str] = set()
        #: Counters: reconnects seen, claims in doubt handed back, calls retried.
        self.reconnects: int = 0
        self.retried_calls: int = 0

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
        self._refilling = True
        with self._outage_lock:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                _in_outage.add(id(self))
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
                _in_outage.discard(id(self))
                self.reconnects += 1
                logger.info(
                    "%r reconnected to PostgreSQL after %.2f s", self, time.monotonic() - since
                )

    def _connection(
        self, pool: ConnectionPool[psycopg.Connection[Any]], deadline: float
    ) -> tuple[psycopg.Connection[Any], bool]:
        """A connection for one transaction, and whether it is the pool's (thread side).

        In an outage the pool's own reconnection backs off (1 s doubling, per
        psycopg_pool), so after a long outage it can stay empty for tens of seconds
        after the server is back. Then a connection is made directly (closed after
        its transaction): a server that is back is used at once, and the pool
        refills on its own meanwhile."""
        if not self._refilling:
            return pool.getconn(timeout=max(0.1, deadline - time.monotonic())), True
        with contextlib.suppress(PoolTimeout):
            conn = pool.getconn(timeout=0.05)
            self._refilling = False  # the pool gives connections again
            return conn, True
        timeout = max(1, min(int(self.connect_timeout), int(deadline - time.monotonic())))
        return psycopg.connect(self._dsn, autocommit=False, connect_timeout=timeout), False

    def _tx(
        self,
        fn: Callable[[psycopg.Connection[Any]], T],
        doing: str,
        on_doubt: Callable[[], None] | None = None,
        single: bool = False,
    ) -> T:
        """Run ``fn(conn)`` in one transaction on a pooled connection (thread side),
        retried while the server is unreachable (see the module's docstring).

        With ``single``, ``fn``'s statements run in autocommit instead, each its own
        transaction (no ``BEGIN`` and ``COMMIT`` round trips): for a call whose one
        statement is the whole change, or whose statements each stand alone. Then a
        break at any point of ``fn`` leaves its outcome unknown, as a break during
        ``COMMIT`` does otherwise: ``on_doubt`` is required.
        """
        assert on_doubt is not None or not single, "an autocommit call needs on_doubt"
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
                conn, pooled = self._connection(pool, deadline)
                try:
                    if single:
                        conn.autocommit = True
                        committing = True
                        result = fn(conn)
                    else:
                        result = fn(conn)
                        committing = True
                        conn.commit()
                except BaseException:
                    if not conn.broken and not conn.closed:
                        with contextlib.suppress(psycopg.Error):
                            conn.rollback()
                    raise
                finally:
                    if single and not conn.closed:
                        try:
                            conn.autocommit = False
                        except psycopg.Error:
                            conn.close()  # (broken) never back in the pool in autocommit
                    if pooled:
                        pool.putconn(conn)
                    else:
                        conn.close()
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
        *,
        single: bool = False,
    ) -> T:
        limiter = self._limiter
        if limiter is None:
            raise StoreError(
                self.description, "the store is not open: use `async with store.open()`"
            )
        result: T = await trio.to_thread.run_sync(
            self._tx, fn, doing, on_doubt, single, limiter=limiter, abandon_on_cancel=False
        )
        return result

    # -- schema ------------------------------------------------------------------------------

    def _check_schema(self, conn: psycopg.Connection[Any], *, migrate: bool) -> int:
        if migrate:
            conn.execute(SQL_LOCK_MIGRATIONS, (_LOCK_SPACE, _MIGRATION_LOCK))
            conn.execute(SQL_CREATE_SCHEMA)
        elif not _fetch_one(conn, SQL_HAS_SCHEMA):
            raise StoreSchemaError(
                self.description,
                f"it has no trio_otp schema (this trio_otp's is version {SCHEMA_VERSION}): "
                "run `trio-otp migrate` (or open the store with migrate=True)",
            )
        version: int = _fetch_one(conn, SQL_VERSION)
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
                conn.execute(SQL_SET_VERSION, (number,))
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
                        SQL_SET_LIMITS,
                        (queue, limit.global_max_running, limit.rate_limit, limit.rate_period),
                    )
                self._limited = {row[0] for row in conn.execute(SQL_GET_LIMITS)}
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
        _in_outage.discard(id(self))
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
                if self._before_listen is not None:
                    self._before_listen()
                conn.execute(f"LISTEN {CHANNEL}")
                with self._listen_lock:
                    # Listening again after an outage, or for the first time after
                    # open() stopped waiting (the queues' first claims ran already):
                    # anything committed before this LISTEN sent a NOTIFY nobody heard,
                    # so every queue looks once more (waiting or not).
                    late = self._listening.is_set() or not self._open_waits
                    self._listening.set()
                if late:
                    self._deliver(token, None)
                delay = 0.05
                while not stop.is_set():
                    # Each notification is delivered as it arrives; the timeout only
                    # bounds how long a stop waits for this thread.
                    for notify in conn.notifies(timeout=0.25):
                        self._deliver(token, {notify.payload})
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
            self._missed_all = True
        for name in names:
            event = self._wakeups.pop(name, None)
            if event is None or not event.statistics().tasks_waiting:
                # Nobody waits for it now (an event left by a waiter of several queues
                # woken by another one has no waiter either): the next wait returns.
                self._missed.add(name)
            if event is not None:
                event.set()
        self._any_wakeup.set()
        self._any_wakeup = trio.Event()

    # -- running it ------------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Self]:
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
                self._listening.clear()
                self._open_waits = True
                token = self._token = trio.lowlevel.current_trio_token()
                self._listener = threading.Thread(
                    target=self._listen,
                    args=(token,),
                    name=f"trio_otp PostgresStore listener {self.description}",
                    daemon=True,
                )
                self._listener.start()
                # Every commit after open() wakes this store: wait for LISTEN. If the
                # server is slow to accept it, carry on: the late LISTEN wakes every
                # queue once it takes effect (see _listen), polling covers until then.
                try:
                    await trio.to_thread.run_sync(
                        self._listening.wait, self.connect_timeout, abandon_on_cancel=True
                    )
                finally:
                    with self._listen_lock:
                        self._open_waits = False
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
            lambda conn: _fetch_one(conn, SQL_VERSION), "reading the version"
        )
        return version

    async def set_limits(self, queue: str, limits: QueueLimits | None) -> None:
        """Store ``queue``'s :class:`~trio_otp.jobs.QueueLimits` (``None``: no limits) for
        every host."""
        if limits is not None and not isinstance(limits, QueueLimits):
            raise TypeError(f"limits must be a trio_otp.jobs.QueueLimits or None, got {limits!r}")

        def run(conn: psycopg.Connection[Any]) -> set[str]:
            if limits is None:
                conn.execute("DELETE FROM trio_otp_queues WHERE name = %s", (queue,))
            else:
                conn.execute(
                    SQL_SET_LIMITS,
                    (queue, limits.global_max_running, limits.rate_limit, limits.rate_period),
                )
            return {row[0] for row in conn.execute(SQL_GET_LIMITS)}

        self._limited = await self._run(run, "setting queue limits")
