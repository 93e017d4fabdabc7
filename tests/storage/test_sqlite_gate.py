"""SQLite's write lock, queued for in the process (storage.sqlite_gate): the write
transactions of sessions and the group commit's batches take SQLite's one write lock in
the order they asked for it, without waiting in SQLite's busy handler; a transaction
lets the gate go when it commits, rolls back, fails or is given back; and a writer that
waits longer than the busy timeout gets SQLite's own error, never a hang.

These tests turn SQLite's busy wait off (busy_timeout=0): a writer that reached SQLite
while another held the lock would fail at once with "database is locked"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from storage import sqlite_gate
from storage.answer_path import answer_path
from storage.engine import make_sessionmaker
from storage.models import Person, ProcessedUpdate
from storage.responses import Change

MARKS = ProcessedUpdate.__table__


def no_busy_wait(engine):
    @event.listens_for(engine.sync_engine, "connect")
    def _pragma(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=0")
        cur.close()
    return engine


def mark(n: int):
    return sa.insert(MARKS).values(update_id=n, processed_at=datetime.now(UTC))


async def written(sessions) -> list[int]:
    async with sessions() as s:
        return list((await s.scalars(sa.text("SELECT update_id FROM processed_update ORDER BY rowid"))).all())


async def settle() -> None:
    """Let every started task run up to where it waits."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_writers_queued_behind_an_open_write_transaction_all_commit_in_the_order_they_asked(sqlite_database):
    engine = no_busy_wait(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    try:
        async def writer(n: int) -> None:
            async with sessions() as s:
                await s.execute(mark(n))
                await s.commit()

        async with sessions() as first:
            await first.execute(mark(1))  # holds SQLite's write lock until it commits
            tasks = []
            for n in range(2, 12):
                tasks.append(asyncio.create_task(writer(n)))
                await settle()  # this one asks (reaches its first write) before the next starts
            assert not any(t.done() for t in tasks)  # all waiting, none failed with "database is locked"
            await first.commit()
        await asyncio.gather(*tasks)
        assert await written(sessions) == list(range(1, 12))
    finally:
        await engine.dispose()


async def test_the_group_commit_waits_its_turn_at_the_gate_not_in_sqlites_busy_wait(sqlite_database, monkeypatch):
    engine = no_busy_wait(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    path = answer_path(engine)

    async def busy_wait(*_args):
        raise AssertionError("the group commit reached SQLite while a session held the lock")

    monkeypatch.setattr(path.direct, "waiting", busy_wait)
    try:
        async with sessions() as s:
            await s.execute(mark(1))
            press = asyncio.create_task(path.writer.commit(Change(update_id=2)))
            await settle()
            assert not press.done()
            await s.commit()
        await press
        async with sessions() as s:
            await s.execute(mark(3))  # and a session after the group commit
            press = asyncio.create_task(path.writer.commit(Change(update_id=4)))
            await settle()
            await s.commit()
        await press
        assert await written(sessions) == [1, 2, 3, 4]
    finally:
        await engine.dispose()


async def test_the_gate_is_let_go_on_rollback_on_a_failed_statement_and_when_the_session_closes(sqlite_database):
    engine = no_busy_wait(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    try:
        gate = sqlite_gate.gate_for(engine.url.database)
        async with sessions() as s:
            await s.execute(mark(1))
            assert gate.holder is not None
            await s.rollback()
            assert gate.holder is None
        async with sessions() as s:
            await s.execute(mark(2))
            await s.commit()
            with pytest.raises(sa.exc.IntegrityError):
                await s.execute(mark(2))
            await s.rollback()
        assert gate.holder is None
        async with sessions() as s:  # closed without commit or rollback
            await s.execute(mark(3))
            assert gate.holder is not None
        assert gate.holder is None
        async with engine.begin() as conn:  # a connection's own transaction
            await conn.execute(mark(4))
        assert gate.holder is None
        async with sessions() as s:  # reads take no gate
            await s.scalar(sa.select(sa.func.count()).select_from(MARKS))
            assert gate.holder is None
        assert await written(sessions) == [2, 4]
    finally:
        await engine.dispose()


async def test_a_writer_waiting_longer_than_the_busy_timeout_gets_sqlites_error_and_writes_nothing(
        sqlite_database, monkeypatch):
    monkeypatch.setattr(sqlite_gate, "BUSY_TIMEOUT", 0.2)
    engine = no_busy_wait(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as first:
            await first.execute(mark(1))
            # e.g. a handler that opened a write transaction and then waits for another write
            async with sessions() as second:
                with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                    await second.execute(mark(2))
            with pytest.raises(Exception, match="database is locked"):
                await answer_path(engine).writer.commit(Change(update_id=3))
            first.add(Person(id=7, first_name="甲", role="resident"))
            await first.commit()
        async with sessions() as s:
            await s.execute(mark(4))
            await s.commit()
        assert await written(sessions) == [1, 4]
    finally:
        await engine.dispose()


def test_one_gate_per_database_file_and_loop_and_none_in_memory(tmp_path):
    async def gates():
        return (sqlite_gate.gate_for(str(tmp_path / "a.db")),
                sqlite_gate.gate_for(str(tmp_path / "x" / ".." / "a.db")),
                sqlite_gate.gate_for(str(tmp_path / "b.db")),
                sqlite_gate.gate_for(":memory:"))

    a, a_again, b, memory = asyncio.run(gates())
    assert a is a_again and a is not b and memory is None
    other_loop, *_ = asyncio.run(gates())
    assert other_loop is not a
    assert sqlite_gate.gate_for(str(tmp_path / "a.db")) is None  # outside a loop
