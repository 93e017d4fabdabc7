"""Group commit: one writer per process (per engine) that takes the writes of every
update in flight and commits them in one transaction.

A handler hands its `Change` (update_id mark, response row, answers) to `commit()`
and waits; the writer drains everything queued, writes it in one transaction and
commits, then wakes each handler with its own outcome:

- committed: the handler may now acknowledge (edit the message, answer the press);
- `AlreadyProcessed`: the update_id mark was already there — nothing of this
  change was written, and the handler must send nothing;
- `Stale`: the response row was not at the version the change was computed from —
  nothing of it was written; the handler recomputes from the database.

Nobody is woken before the COMMIT returned, so an acknowledged answer is durable
(SQLite in WAL mode with synchronous=NORMAL survives a crash of the process).

SQLite: the batch is written through a stdlib sqlite3 connection of its own
(storage.direct) — on the loop's thread when the lock is free at once, else in a
thread that waits for it. PostgreSQL: an asyncpg connection of its own and
set-based statements (unnest) with RETURNING, so a batch is a handful of round
trips whatever its size.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.direct import PostgresDirect, SQLiteDirect, is_busy
from storage.models import utcnow
from storage.responses import AlreadyProcessed, Change, Stale, dumps, naive_utc_text

log = logging.getLogger(__name__)

MAX_BATCH = 500


class Outcome(Enum):
    COMMITTED = "committed"
    DUPLICATE = "duplicate"
    STALE = "stale"


class GroupCommit:
    """The process's writer for one engine (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, connections: SQLiteDirect | PostgresDirect) -> None:
        self.dialect = engine.dialect.name
        self.direct = connections
        self._queue: list[tuple[Change, asyncio.Future[Outcome]]] = []
        self._running: asyncio.Task[None] | None = None
        self.batches = 0  # for the benchmark and tests

    async def commit(self, change: Change) -> None:
        """Write `change` in the next group transaction; return once it is committed."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((change, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        outcome = await asyncio.shield(future)
        if outcome is Outcome.DUPLICATE:
            raise AlreadyProcessed(change.update_id)
        if outcome is Outcome.STALE:
            raise Stale(change.state.id if change.state else None)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._write_batch(batch)
        finally:
            self._running = None

    async def _write_batch(self, batch: list[tuple[Change, asyncio.Future[Outcome]]]) -> None:
        changes = [c for c, _ in batch]
        try:
            outcomes = await self._write(changes)
        except Exception as exc:  # noqa: BLE001 — one bad change must not fail the others
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            log.warning("group commit of %d changes failed (%s); writing them one by one", len(batch), exc)
            for item in batch:
                await self._write_batch([item])
            return
        self.batches += 1
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _write(self, changes: list[Change]) -> list[Outcome]:
        if isinstance(self.direct, SQLiteDirect):
            try:
                return _write_sqlite(self.direct.now, changes)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
            return await self.direct.waiting(_write_sqlite, changes)
        conn = await self.direct.connection("writer")
        try:
            return await _write_postgres(conn, changes)
        except Exception as exc:
            self.direct.failed("writer", exc)
            raise


# --- SQLite ----------------------------------------------------------------------------------

_MARK = "INSERT INTO processed_update (update_id, processed_at) VALUES (?, ?) ON CONFLICT (update_id) DO NOTHING"
_UNMARK = "DELETE FROM processed_update WHERE update_id = ?"
_RESPONSE = ("UPDATE response SET version = version + 1, screen = ?, message_id = ?, updated_at = ?, "
             "completed_at = CASE WHEN ? THEN COALESCE(completed_at, ?) END WHERE id = ? AND version = ?")
_ANSWER = ("INSERT INTO answer (response_id, question_id, value, answered_at) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (response_id, question_id) DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at")
_DROP = "DELETE FROM answer WHERE response_id = ? AND question_id = ?"
_PERSON = ("INSERT INTO person (id, first_name, language, role, active, created_at) VALUES (?, ?, '', 'resident', 1, ?) "
           "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, active = 1")


def _write_sqlite(conn: sqlite3.Connection, changes: list[Change]) -> list[Outcome]:
    now = naive_utc_text(utcnow())
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes = [_write_sqlite_one(conn, change, now) for change in changes]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return outcomes


def _write_sqlite_one(conn: sqlite3.Connection, change: Change, now: str) -> Outcome:
    if change.update_id is not None and conn.execute(_MARK, (change.update_id, now)).rowcount != 1:
        return Outcome.DUPLICATE
    state = change.state
    if state is not None:
        screen = change.screen if change.screen is not None else state.screen
        row = (dumps(screen), change.message_id, now, change.completed, now, state.id, state.version)
        if conn.execute(_RESPONSE, row).rowcount != 1:
            if change.update_id is not None:
                conn.execute(_UNMARK, (change.update_id,))
            return Outcome.STALE
        if change.set_answers:
            conn.executemany(_ANSWER, [(state.id, q, dumps(v), now) for q, v in change.set_answers.items()])
        if change.drop_answers:
            conn.executemany(_DROP, [(state.id, q) for q in change.drop_answers])
    if change.person is not None:
        conn.execute(_PERSON, (change.person["id"], change.person["first_name"], now))
    return Outcome.COMMITTED


# --- PostgreSQL -------------------------------------------------------------------------------

_PG_MARK = ("INSERT INTO processed_update (update_id, processed_at) SELECT u, $2::timestamptz FROM unnest($1::bigint[]) AS u "
            "ON CONFLICT (update_id) DO NOTHING RETURNING update_id")
_PG_UNMARK = "DELETE FROM processed_update WHERE update_id = ANY($1::bigint[])"
_PG_RESPONSE = (
    "UPDATE response AS r SET version = r.version + 1, screen = v.screen::json, message_id = v.message_id, "
    "updated_at = $1::timestamptz, completed_at = CASE WHEN v.completed THEN COALESCE(r.completed_at, $1::timestamptz) END "
    "FROM unnest($2::int[], $3::int[], $4::text[], $5::int[], $6::bool[]) AS v(id, version, screen, message_id, completed) "
    "WHERE r.id = v.id AND r.version = v.version RETURNING r.id")
_PG_ANSWER = (
    "INSERT INTO answer (response_id, question_id, value, answered_at) "
    "SELECT r, q, v::json, $4::timestamptz FROM unnest($1::int[], $2::text[], $3::text[]) AS a(r, q, v) "
    "ON CONFLICT (response_id, question_id) DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at")
_PG_DROP = ("DELETE FROM answer AS a USING unnest($1::int[], $2::text[]) AS d(r, q) "
            "WHERE a.response_id = d.r AND a.question_id = d.q")
_PG_PERSON = (
    "INSERT INTO person (id, first_name, language, role, active, created_at) "
    "SELECT i, n, '', 'resident', true, $3::timestamptz FROM unnest($1::bigint[], $2::text[]) AS p(i, n) "
    "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, active = true")


async def _write_postgres(conn: Any, changes: list[Change]) -> list[Outcome]:
    """The batch as set-based statements in one transaction."""
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(changes)
    # Two changes of one response in one batch were computed from the same version:
    # the first may win, the others are stale already.
    seen_responses: set[int] = set()
    seen_updates: set[int] = set()
    live: list[int] = []
    for i, c in enumerate(changes):
        if c.update_id is not None and c.update_id in seen_updates:
            outcomes[i] = Outcome.DUPLICATE
        elif c.state is not None and c.state.id in seen_responses:
            outcomes[i] = Outcome.STALE
        else:
            live.append(i)
            if c.update_id is not None:
                seen_updates.add(c.update_id)
            if c.state is not None:
                seen_responses.add(c.state.id)
    async with conn.transaction():
        marked = [changes[i].update_id for i in live if changes[i].update_id is not None]
        fresh = {r[0] for r in await conn.fetch(_PG_MARK, marked, now)} if marked else set()
        for i in list(live):
            if changes[i].update_id is not None and changes[i].update_id not in fresh:
                outcomes[i] = Outcome.DUPLICATE
                live.remove(i)
        writes = [i for i in live if changes[i].state is not None]
        if writes:
            cols: list[list[Any]] = [[], [], [], [], []]
            for i in writes:
                c = changes[i]
                assert c.state is not None
                for col, value in zip(cols, (c.state.id, c.state.version,
                                             dumps(c.screen if c.screen is not None else c.state.screen),
                                             c.message_id, c.completed), strict=True):
                    col.append(value)
            ok = {r[0] for r in await conn.fetch(_PG_RESPONSE, now, *cols)}
            stale = [i for i in writes if changes[i].state.id not in ok]  # type: ignore[union-attr]
            for i in stale:
                outcomes[i] = Outcome.STALE
                live.remove(i)
            unmark = [changes[i].update_id for i in stale if changes[i].update_id is not None]
            if unmark:
                await conn.execute(_PG_UNMARK, unmark)
        rs, qs, vs, drop_r, drop_q = [], [], [], [], []
        people: dict[int, str] = {}
        for i in live:
            c = changes[i]
            if c.state is not None:
                for q, v in c.set_answers.items():
                    rs.append(c.state.id), qs.append(q), vs.append(dumps(v))
                for q in c.drop_answers:
                    drop_r.append(c.state.id), drop_q.append(q)
            if c.person is not None:
                people[c.person["id"]] = c.person["first_name"]
        if rs:
            await conn.execute(_PG_ANSWER, rs, qs, vs, now)
        if drop_r:
            await conn.execute(_PG_DROP, drop_r, drop_q)
        if people:
            await conn.execute(_PG_PERSON, list(people), list(people.values()), now)
    return [o if o is not None else Outcome.COMMITTED for o in outcomes]
