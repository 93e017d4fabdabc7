"""One writer at a time per SQLite database file in this process, in the order they came.

SQLite lets one connection write at a time. A connection that finds the lock taken
waits in SQLite's busy handler, which sleeps between tries — 1, 2, 5, 10 … up to 100 ms —
so under load a waiting writer often sleeps on long after the lock came free, while a
writer that came later takes it: answers that waited seconds behind others that came
after them. Here the writers of one process queue for the lock in an asyncio lock
first (first come, first served): the write transactions of SQLAlchemy sessions and
connections on our engines (from their first INSERT/UPDATE/DELETE to their commit or
rollback) and the group commit's batches. A writer that holds the gate finds SQLite's
lock free unless another process holds it (a CLI command, say), and only then waits in
SQLite's busy handler as before.

A writer that waits for the gate longer than SQLite's busy timeout gets the error SQLite
would give ("database is locked"): a handler that opened a write transaction and then
waits for another write of its own fails as it did before, instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import weakref
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.util.concurrency import await_, in_greenlet

from storage import sqlite_inline

DRIVER = "aiosqlite_gated"
BUSY_TIMEOUT = 10.0  # seconds; the engines' connections' busy timeout
# The statements with which Python's sqlite3 module opens a transaction (and SQLite then
# takes its write lock): the first keyword INSERT, UPDATE, DELETE or REPLACE.
_DML = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriteGate:
    """The write lock of one database file, for the writers on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float | None = None) -> None:
        self.loop = loop
        self.timeout = BUSY_TIMEOUT if timeout is None else timeout
        self.holder: object | None = None
        self._lock = asyncio.Lock()

    async def acquire(self, holder: object) -> None:
        """Wait for the gate (at once if `holder` has it already)."""
        if self.holder is holder:
            return
        try:
            if self._lock.locked():
                async with asyncio.timeout(self.timeout):
                    await self._lock.acquire()
            else:
                await self._lock.acquire()  # free: taken at once, without a timer
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self.holder = holder
        _held[id(holder)] = self

    def release(self, holder: object) -> None:
        if self.holder is not holder:
            return
        self.holder = None
        _held.pop(id(holder), None)
        self._lock.release()


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriteGate]] = weakref.WeakKeyDictionary()
_held: dict[int, WriteGate] = {}  # id(holder) -> the gate it holds


def gate_for(database: str | None) -> WriteGate | None:
    """The gate of a database file on the running loop; None for an in-memory database
    (one connection, nothing to queue for) or outside an event loop."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    gates = _gates.get(loop)
    if gates is None:
        gates = _gates[loop] = {}
    gate = gates.get(database)
    if gate is None:  # one gate for every name of the file
        path = os.path.realpath(database)
        gate = gates.get(path)
        if gate is None:
            gate = gates[path] = WriteGate(loop)
        gates[database] = gate
    return gate


def _release(connection: Any) -> None:
    """Let the gate go if this driver connection holds it (from any thread)."""
    dbapi = getattr(connection, "dbapi_connection", connection)
    gate = _held.get(id(dbapi))
    if gate is None or gate.holder is not dbapi:
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is gate.loop:
        gate.release(dbapi)
    elif not gate.loop.is_closed():
        gate.loop.call_soon_threadsafe(gate.release, dbapi)


class GatedSQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite, with each write transaction holding its database's `WriteGate` from its
    first write statement (`_gate_writes`) to its commit, rollback or close."""

    supports_statement_cache = True

    def connect(self, *arg: Any, **kw: Any) -> Any:
        # connections whose calls run on the loop's thread during an update (storage.sqlite_inline)
        kw["async_creator_fn"] = partial(sqlite_inline.connect, busy_ms=int(BUSY_TIMEOUT * 1000))
        return super().connect(*arg, **kw)

    def do_commit(self, dbapi_connection: Any) -> None:
        try:
            super().do_commit(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        try:
            super().do_rollback(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def do_close(self, dbapi_connection: Any) -> None:
        try:
            super().do_close(dbapi_connection)
        finally:
            _release(dbapi_connection)


registry.register(f"sqlite.{DRIVER}", __name__, "GatedSQLiteDialect")


def gated_url(url: URL) -> URL:
    return url.set(drivername=f"sqlite+{DRIVER}")


def install(engine: Engine) -> None:
    """Queue the write transactions of `engine` (the sync engine of an AsyncEngine made
    with `gated_url`) at their database's gate."""
    database = engine.url.database

    @event.listens_for(engine, "before_cursor_execute")
    def _gate_writes(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
                     _many: bool) -> None:
        if not _DML.match(statement) or not in_greenlet():
            return
        gate = gate_for(database)
        dbapi = conn.connection.dbapi_connection
        if gate is not None and gate.holder is not dbapi:
            await_(gate.acquire(dbapi))

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, _record: Any) -> None:
        _release(dbapi_connection)  # a connection given back without commit or rollback

    @event.listens_for(engine, "close")
    def _closed(dbapi_connection: Any, _record: Any) -> None:
        _release(dbapi_connection)
