"""SQLite calls on the event loop's thread during an update (storage.sqlite_inline): a
session's statements run on the calling thread while `inline` is set and on the
connection's own thread otherwise; a database locked by another process's writer is
waited for on the connection's thread, the loop running on meanwhile; the bot's
middleware sets `inline` for residents' and cadres' updates, not for organizers'; a report's
reads never run inline."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from aiogram.types import Chat, Message, Update, User
from sqlalchemy import event

from bot.config import Settings
from bot.middlewares import ContextMiddleware
from storage.engine import make_sessionmaker
from storage.models import ProcessedUpdate
from storage.reports import load_consultation_data
from storage.sqlite_inline import inline, inline_calls

ORGANIZER = 900_001
RESIDENT = 900_002


def with_thread_function(engine):
    """`thread()` in SQL: the id of the thread running the statement."""
    @event.listens_for(engine.sync_engine, "connect")
    def _register(dbapi_conn, _record):
        dbapi_conn.create_function("thread", 0, threading.get_ident)
    return engine


async def test_an_inline_session_runs_its_statements_on_the_loop_thread_and_others_on_their_own(sqlite_database):
    engine = with_thread_function(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    here = threading.get_ident()
    try:
        async with sessions() as s:
            assert await s.scalar(sa.text("SELECT thread()")) != here
        with inline_calls():
            async with sessions() as s:
                assert await s.scalar(sa.text("SELECT thread()")) == here
                await s.execute(sa.insert(ProcessedUpdate.__table__).values(update_id=1,
                                                                            processed_at=datetime.now(UTC)))
                await s.commit()
        async with sessions() as s:  # the same pooled connection, back on its thread
            assert await s.scalar(sa.text("SELECT thread()")) != here
            assert (await s.scalars(sa.text("SELECT update_id FROM processed_update"))).all() == [1]
    finally:
        await engine.dispose()


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(sqlite_database):
    engine = with_thread_function(sqlite_database.engine())
    sessions = make_sessionmaker(engine)
    path = sqlite_database.url.split("///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, as SQLite sees it
    other.execute("PRAGMA journal_mode=WAL")  # as the bot's engines leave the file
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO processed_update (update_id, processed_at) VALUES (7, '2026-01-01')")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> int:
        with inline_calls():
            async with sessions() as s:
                await s.execute(sa.insert(ProcessedUpdate.__table__).values(update_id=8,
                                                                            processed_at=datetime.now(UTC)))
                thread = await s.scalar(sa.text("SELECT thread()"))
                await s.commit()
                return thread

    tick = asyncio.create_task(ticker())
    try:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writing.done()  # waiting for the other writer's lock ...
        assert ticks >= 20  # ... without holding up the loop
        other.execute("COMMIT")
        thread = await asyncio.wait_for(writing, 10)
        assert thread == threading.get_ident()  # once the lock was had, the next statement ran inline again
        async with sessions() as s:
            assert (await s.scalars(sa.text("SELECT update_id FROM processed_update ORDER BY update_id"))).all() \
                == [7, 8]
    finally:
        tick.cancel()
        other.close()
        await engine.dispose()


async def test_the_middleware_runs_residents_updates_inline_and_organizers_not(sqlite_database):
    engine = sqlite_database.engine()
    settings = Settings(database_url=sqlite_database.url, organizer_ids=[ORGANIZER], bot_username="qingdan_test_bot")
    middleware = ContextMiddleware(make_sessionmaker(engine), settings)
    seen: dict[int, bool] = {}

    async def handler(event, data):
        seen[data["ctx"].person.id] = inline.get()

    try:
        for n, uid in enumerate((RESIDENT, ORGANIZER), 1):
            user = User(id=uid, is_bot=False, first_name="某")
            update = Update(update_id=n, message=Message(message_id=n, date=datetime.now(UTC), text="hi",
                                                         chat=Chat(id=uid, type="private"), from_user=user))
            await middleware(handler, update, {"event_from_user": user})
        assert seen == {RESIDENT: True, ORGANIZER: False}
        assert inline.get() is False  # nothing left set after the update
    finally:
        await engine.dispose()


async def test_a_reports_reads_stay_on_their_threads_even_during_an_inline_update(sqlite_database):
    engine = sqlite_database.engine()
    threads: list[int] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _trace(dbapi_conn, _record):  # SQLite calls this on the thread that runs the statement
        dbapi_conn.driver_connection._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))

    sessions = make_sessionmaker(engine)
    try:
        with inline_calls():
            async with sessions() as s:
                await s.execute(sa.text("SELECT 1"))
                assert threads and set(threads) == {threading.get_ident()}
                threads.clear()
                with pytest.raises(LookupError):
                    await load_consultation_data(s, 424242, "key", "Asia/Shanghai")
                assert threads and threading.get_ident() not in threads
            assert inline.get() is True  # the caller's setting is back
    finally:
        await engine.dispose()
