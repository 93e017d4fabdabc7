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
one set-based statement (unnest, data-modifying CTEs), so a batch is one round trip
whatever its size.
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
from storage.sqlite_gate import gate_for

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
                # SQLite: queue for the database's write lock with this process's other
                # writers (storage.sqlite_gate), and take the batch once it is ours
                gate = gate_for(self.direct.path) if isinstance(self.direct, SQLiteDirect) else None
                if gate is not None:
                    try:
                        await gate.acquire(self)
                    except sqlite3.OperationalError as exc:  # waited longer than the busy timeout
                        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                        for _, future in batch:
                            if not future.done():
                                future.set_exception(sqlite3.OperationalError(str(exc)))
                        continue
                try:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    await self._write_batch(batch)
                finally:
                    if gate is not None:
                        gate.release(self)
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
# only while the consultation is open (storage.responses._open): a close committed since the
# change was computed makes it stale
_RESPONSE = ("UPDATE response SET version = version + 1, screen = ?, message_id = ?, updated_at = ?, "
             "completed_at = CASE WHEN ? THEN COALESCE(completed_at, ?) END WHERE id = ? AND version = ? "
             "AND EXISTS (SELECT 1 FROM consultation AS c WHERE c.id = response.consultation_id AND c.status = 'open')")
_ANSWER = ("INSERT INTO answer (response_id, question_id, value, answered_at) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (response_id, question_id) DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at")
_DROP = "DELETE FROM answer WHERE response_id = ? AND question_id = ?"
# the language Telegram reports is stored for a person who chose none (/language): the
# scheduler's messages (reminders, digests, thanks) are then in the language they chat in
_PERSON = ("INSERT INTO person (id, first_name, language, role, active, created_at) VALUES (?, ?, ?, 'resident', 1, ?) "
           "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, active = 1, "
           "language = CASE WHEN person.language_chosen OR excluded.language = '' THEN person.language "
           "ELSE excluded.language END")


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
        conn.execute(_PERSON, (change.person["id"], change.person["first_name"], change.person.get("language", ""),
                               now))
    return Outcome.COMMITTED


# --- PostgreSQL -------------------------------------------------------------------------------

# The whole batch is one statement: one round trip and no BEGIN/COMMIT of its own (a
# single statement is its own transaction), where a transaction of five statements
# took five. The CTEs, all on one snapshot:
#   locked   the responses still at the version their change was computed from, locked (in id
#            order, so two processes' batches cannot deadlock); a row changed meanwhile by
#            another process is re-checked on its newest version, and left out if it moved on —
#            or if its consultation is no longer open (closed since the change was computed);
#   marked   the update_id marks of changes that are not stale (a conflict = already processed);
#   passing  the changes that go through: fresh mark (or none to write) and not stale;
#   then the response rows, the answers set and dropped of those changes, and the people.
# A stale change writes nothing, not even its mark (its press is computed again); a
# duplicate writes nothing either. People rows are harmless to refresh, so written for
# every change that carries one.
_PG_BATCH = """
WITH v AS (
    SELECT * FROM unnest($1::int[], $2::bigint[], $3::int[], $4::int[], $5::text[], $6::bigint[], $7::bool[])
        AS v(i, update_id, id, version, screen, message_id, completed)
), locked AS (
    SELECT r.id FROM response AS r JOIN v ON r.id = v.id AND r.version = v.version
        JOIN consultation AS c ON c.id = r.consultation_id AND c.status = 'open' ORDER BY r.id FOR UPDATE OF r
), marked AS (
    INSERT INTO processed_update (update_id, processed_at)
    SELECT v.update_id, $8::timestamptz FROM v
    WHERE v.update_id IS NOT NULL AND (v.id IS NULL OR v.id IN (SELECT id FROM locked))
    ON CONFLICT (update_id) DO NOTHING RETURNING update_id
), passing AS (
    SELECT * FROM v WHERE (v.update_id IS NULL OR v.update_id IN (SELECT update_id FROM marked))
        AND (v.id IS NULL OR v.id IN (SELECT id FROM locked))
), updated AS (
    UPDATE response AS r SET version = r.version + 1, screen = p.screen::json, message_id = p.message_id,
        updated_at = $8::timestamptz,
        completed_at = CASE WHEN p.completed THEN COALESCE(r.completed_at, $8::timestamptz) END
    FROM passing AS p WHERE r.id = p.id RETURNING r.id
), set_answers AS (
    INSERT INTO answer (response_id, question_id, value, answered_at)
    SELECT x.r, x.q, x.v::json, $8::timestamptz FROM unnest($9::int[], $10::int[], $11::text[], $12::text[]) AS x(i, r, q, v)
    WHERE x.i IN (SELECT i FROM passing)
    ON CONFLICT (response_id, question_id) DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at
), dropped AS (
    DELETE FROM answer AS an USING unnest($13::int[], $14::int[], $15::text[]) AS x(i, r, q)
    WHERE an.response_id = x.r AND an.question_id = x.q AND x.i IN (SELECT i FROM passing)
), people AS (
    INSERT INTO person (id, first_name, language, role, active, created_at)
    SELECT x.id, x.n, x.l, 'resident', true, $8::timestamptz
    FROM unnest($16::bigint[], $17::text[], $18::text[]) AS x(id, n, l)
    ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, active = true,
        language = CASE WHEN person.language_chosen OR excluded.language = '' THEN person.language
            ELSE excluded.language END
)
SELECT v.i, (v.id IS NOT NULL AND v.id NOT IN (SELECT id FROM locked)) AS stale, v.i IN (SELECT i FROM passing) AS ok
FROM v
"""


async def _write_postgres(conn: Any, changes: list[Change]) -> list[Outcome]:
    """The batch in one statement (_PG_BATCH)."""
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(changes)
    # Two changes of one response in one batch were computed from the same version:
    # the first may win, the others are stale already.
    seen_responses: set[int] = set()
    seen_updates: set[int] = set()
    cols: list[list[Any]] = [[] for _ in range(7)]
    sets: list[list[Any]] = [[], [], [], []]
    drops: list[list[Any]] = [[], [], []]
    people: dict[int, tuple[str, str]] = {}
    for i, c in enumerate(changes):
        if c.update_id is not None and c.update_id in seen_updates:
            outcomes[i] = Outcome.DUPLICATE
            continue
        if c.state is not None and c.state.id in seen_responses:
            outcomes[i] = Outcome.STALE
            continue
        if c.update_id is not None:
            seen_updates.add(c.update_id)
        if c.person is not None:
            people[c.person["id"]] = (c.person["first_name"], c.person.get("language", ""))
        state = c.state
        row = (i, c.update_id, None, None, None, None, False) if state is None else (
            i, c.update_id, state.id, state.version, dumps(c.screen if c.screen is not None else state.screen),
            c.message_id, c.completed)
        for col, value in zip(cols, row, strict=True):
            col.append(value)
        if state is not None:
            seen_responses.add(state.id)
            for q, value in c.set_answers.items():
                for col, x in zip(sets, (i, state.id, q, dumps(value)), strict=True):
                    col.append(x)
            for q in c.drop_answers:
                for col, x in zip(drops, (i, state.id, q), strict=True):
                    col.append(x)
    if cols[0]:
        names = [n for n, _ in people.values()]
        languages = [lang for _, lang in people.values()]
        for i, stale, ok in await conn.fetch(_PG_BATCH, *cols, now, *sets, *drops, list(people), names, languages):
            outcomes[i] = Outcome.COMMITTED if ok else Outcome.STALE if stale else Outcome.DUPLICATE
    return [o if o is not None else Outcome.COMMITTED for o in outcomes]
