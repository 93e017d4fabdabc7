"""SQLite statements of an update's handler run on the event loop's thread.

aiosqlite runs every call on a connection's own thread: a SQLAlchemy session's statement
is four such calls (cursor, execute, fetch, close), each a queue put, a thread wake-up and
a wake-up of the event loop. Measured on this project's 2-core machine: ≈ 260 µs of CPU
per statement through a session, against ≈ 13 µs for the same point read on the loop's
thread — the start button under the welcome (ten statements) spent most of its ≈ 3 ms
there. A statement of an update's handler is a point read or a small write: far shorter
than the hop.

So the engine's aiosqlite connections are `InlineConnection`s: while `inline` is set
(bot.middlewares sets it for the updates of residents and cadres), a call runs at once
on the calling thread, with SQLite's busy wait off — the loop never sleeps in it. A call
that finds the database locked (only another process's writer can hold the lock: this
process's writers queue at storage.sqlite_gate first) is run again on the connection's
own thread, which waits for the lock as before. Everything else — reports, the
scheduler, the broadcaster, organizers' updates, CLI commands — keeps the thread: a
report's GROUP BY takes a second, and there the thread lets the loop go on (and lets
several reads run at once)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite

from storage.direct import is_busy

# Whether this task's SQLite calls may run on its own (the event loop's) thread.
inline: ContextVar[bool] = ContextVar("qingdan_sqlite_inline", default=False)


@contextmanager
def inline_calls(on: bool = True) -> Iterator[None]:
    token = inline.set(on)
    try:
        yield
    finally:
        inline.reset(token)


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, its calls run on the caller's thread while `inline` is
    set (see the module docstring). Calls on one connection never overlap: SQLAlchemy
    awaits each before the next, and a connection belongs to one session at a time."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_ms: int) -> None:
        super().__init__(connector, 64)
        self._busy_ms = busy_ms
        self._waits = True  # the connection's busy timeout is busy_ms (else 0)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if inline.get() and conn is not None and self._running:
            if self._waits:
                conn.execute("PRAGMA busy_timeout=0")
                self._waits = False
            began = conn.in_transaction
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
                # Another process holds the lock: wait for it on the connection's thread.
                # The transaction the failed write began (sqlite3 opens one before a write)
                # is ended first: SQLite would not wait to upgrade its read to a write.
                if conn.in_transaction and not began:
                    conn.rollback()
        if not self._waits and conn is not None:
            await super()._execute(conn.execute, f"PRAGMA busy_timeout={self._busy_ms}")
            self._waits = True
        return await super()._execute(fn, *args, **kwargs)


def connect(database: str, busy_ms: int, **kwargs: Any) -> InlineConnection:
    """Like aiosqlite.connect, for an InlineConnection (used from the loop's thread and
    its own, so the sqlite3 connection does not check which thread calls it). Its busy
    timeout is `busy_ms`, set here and switched only by the connection itself: a
    `PRAGMA busy_timeout` run through it would leave it unaware of the change."""
    kwargs["check_same_thread"] = False
    kwargs["timeout"] = busy_ms / 1000  # SQLite's busy timeout, in seconds
    connection = InlineConnection(lambda: sqlite3.connect(database, **kwargs), busy_ms)
    getattr(connection, "_thread", connection).daemon = True  # aiosqlite < 0.22: the connection is the thread
    return connection
