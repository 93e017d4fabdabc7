"""Driver connections of our own, beside SQLAlchemy's pool, for the few statements
of the answer path that run for every update (the group commit, the FSM state
read). Through the pool every statement costs a checkout, a ping, a thread hop per
call (aiosqlite) and SQLAlchemy's own work; here it costs the statement.

- SQLite: a stdlib sqlite3 connection used on the event loop's own thread with
  busy_timeout=0 — a point read or a batch of writes takes microseconds, less
  than a hop to a thread. When the database is busy (another writer holds the lock)
  the caller falls back to a second connection in a thread of its own, which waits
  (busy_timeout) without blocking the loop.
- PostgreSQL: one asyncpg connection per user (the writer, the reader), opened on
  first use and again after a failure. Point reads by key go through `KeyedReads`:
  the reads asked for while one query is on the wire share the next one; every kind
  of them takes turns on the one reader connection.

Both are closed when the engine is disposed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")


def _sqlite(path: str, busy_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (*PRAGMAS, f"busy_timeout={busy_ms}"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class SQLiteDirect:
    def __init__(self, path: str) -> None:
        self.path = path
        self._loop_conn: sqlite3.Connection | None = None
        self._wait_conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._reader: Connection | None = None

    @property
    def engine(self) -> Engine:
        """SQLAlchemy on the loop's thread (busy_timeout=0), for the answer path's reads."""
        if self._engine is None:
            self._engine = create_engine(f"sqlite:///{self.path}", poolclass=StaticPool,
                                         creator=lambda: _sqlite(self.path, 0))
        return self._engine

    @property
    def reader(self) -> Connection:
        """One SQLAlchemy connection of `engine`, kept for the loop's reads (a point read
        costs less than taking a connection from the pool and giving it back). In autocommit
        mode: each read is a snapshot of its own, nothing stays open between reads."""
        if self._reader is None or self._reader.closed or self._reader.invalidated:
            self._reader = self.engine.connect()
        return self._reader

    def drop_reader(self) -> None:
        """After an error: the next read takes a fresh connection."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()

    @property
    def now(self) -> sqlite3.Connection:
        """The connection for the loop's thread: never waits (busy_timeout=0)."""
        if self._loop_conn is None:
            self._loop_conn = _sqlite(self.path, 0)
        return self._loop_conn

    async def waiting(self, fn: Any, *args: Any) -> Any:
        """fn(connection, *args) on a connection that waits for the lock, in its own thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-direct")

        def run() -> Any:
            if self._wait_conn is None:
                self._wait_conn = _sqlite(self.path, 10_000)
            return fn(self._wait_conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def close(self) -> None:
        self.drop_reader()
        for conn in (self._loop_conn, self._wait_conn):
            if conn is not None:
                conn.close()
        self._loop_conn = self._wait_conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


class PostgresDirect:
    # A statement on these connections that takes longer has met a server or network
    # that stopped answering (a batch is at most a few hundred rows): it is abandoned
    # and the connection dropped, instead of every answer waiting on it for as long as
    # TCP takes to notice. A write abandoned so was acknowledged to no one: its press
    # fails (pressed again, or delivered again by Telegram; the update_id mark decides).
    COMMAND_TIMEOUT = 30.0

    def __init__(self, dsn: str, connect_timeout: float = 60.0) -> None:
        self.dsn = dsn
        self.command_timeout = self.COMMAND_TIMEOUT
        self.connect_timeout = connect_timeout
        self._conns: dict[str, Any] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    def turn(self, user: str) -> asyncio.Lock:
        """For users whose connection several tasks share: hold it while using it."""
        lock = self._turns.get(user)
        if lock is None:
            lock = self._turns[user] = asyncio.Lock()
        return lock

    async def connection(self, user: str) -> Any:
        """The asyncpg connection of `user` (one task at a time uses it)."""
        import asyncpg

        conn = self._conns.get(user)
        if conn is None or conn.is_closed():
            conn = self._conns[user] = await asyncpg.connect(self.dsn, command_timeout=self.command_timeout,
                                                                   timeout=self.connect_timeout)
        return conn

    def failed(self, user: str, exc: BaseException) -> None:
        """After an error on `user`'s connection: keep it for an error of SQL (the
        transaction was rolled back), else drop it (lost, or in an unknown state)."""
        import asyncpg

        conn = self._conns.get(user)
        if conn is None or conn.is_closed() or not isinstance(exc, asyncpg.PostgresError):
            self.drop(user)

    def drop(self, user: str) -> None:
        """Forget a connection after a failure (the next use opens a new one)."""
        conn = self._conns.pop(user, None)
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def close(self) -> None:
        for user in list(self._conns):
            self.drop(user)


def direct(engine: AsyncEngine) -> SQLiteDirect | PostgresDirect:
    """Direct connections to the engine's database, closed with `engine.dispose()`."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        result: SQLiteDirect | PostgresDirect = SQLiteDirect(url.database or ":memory:")
    else:
        from sqlalchemy.engine import make_url

        from storage.engine import connect_timeout, sync_url

        libpq = make_url(sync_url(url.render_as_string(hide_password=False))).set(drivername="postgresql")
        # asyncpg's DSN takes an unknown parameter for a server setting: its connect timeout is its own
        timeout = connect_timeout(libpq.render_as_string(hide_password=False))
        libpq = libpq.difference_update_query(["connect_timeout"])
        result = PostgresDirect(libpq.render_as_string(hide_password=False), connect_timeout=timeout)
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: result.close())
    return result


class KeyedReads:
    """Point reads by key on PostgreSQL, batched: every read asked for while a query is
    on the wire is answered by the next single query (`… WHERE key = ANY($1)`, the key
    its first column) on the `user` connection, which every KeyedReads shares in turns.
    Each read is answered by a query that started after it was asked, so it is as fresh
    as a query of its own;
    two hundred residents pressing at once cost a few queries instead of two hundred
    pool checkouts, pings and transactions. A read that finds the connection lost (the
    server restarted) is asked again once on a new connection — like the pool's
    pre-ping; an error of SQL reaches every read of the batch."""

    MAX_KEYS = 500

    def __init__(self, query: str, user: str = "reader") -> None:
        self.user = user
        self.query = query
        self._waiting: dict[Hashable, list[asyncio.Future[list[Any]]]] = {}
        self._running: asyncio.Task[None] | None = None
        self.queries = 0  # for tests and the benchmark

    async def get(self, key: Hashable, direct: PostgresDirect) -> list[Any]:
        """The rows (asyncpg records) whose first column is `key`."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._running is None:
            self._running = asyncio.create_task(self._read(direct))
        return await future

    async def _fetch(self, direct: PostgresDirect, keys: Sequence[Hashable]) -> list[Any]:
        import asyncpg

        for attempt in (1, 2):
            async with direct.turn(self.user):
                conn = await direct.connection(self.user)
                try:
                    self.queries += 1
                    return list(await conn.fetch(self.query, keys))
                except Exception as exc:
                    direct.failed(self.user, exc)
                    if attempt == 2 or isinstance(exc, asyncpg.PostgresError):
                        raise
        raise AssertionError("unreachable")

    async def _read(self, direct: PostgresDirect) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[: self.MAX_KEYS]
                batch = {k: self._waiting.pop(k) for k in keys}
                try:
                    records = await self._fetch(direct, keys)
                except Exception as exc:  # noqa: BLE001 — every waiter gets the error
                    for futures in batch.values():
                        for f in futures:
                            if not f.done():
                                f.set_exception(exc)
                    continue
                found: dict[Hashable, list[Any]] = {}
                for record in records:
                    found.setdefault(record[0], []).append(record)
                for k, futures in batch.items():
                    for f in futures:
                        if not f.done():
                            f.set_result(found.get(k, []))
        finally:
            self._running = None
