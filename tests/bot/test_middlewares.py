"""ContextMiddleware and the person behind an update that is not a question press: a new
(or renamed) person is written at once in a transaction of its own, so the update's own
transaction holds no write lock while its handler runs — on SQLite every other update
would have to wait for it."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from aiogram.types import Update

from bot.config import Settings
from bot.middlewares import ContextMiddleware
from storage.engine import make_sessionmaker
from storage.models import Person, ProcessedUpdate


def _message(update_id: int, user_id: int, name: str) -> Update:
    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": 1, "date": 1_790_000_000, "text": "/start",  # (first contact: the Start button)
        "chat": {"id": user_id, "type": "private", "first_name": name},
        "from": {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}}})


async def test_a_new_persons_update_holds_no_write_lock_while_its_handler_runs(sqlite_database):
    engine = sqlite_database.engine()
    sessions = make_sessionmaker(engine)
    middleware = ContextMiddleware(sessions, Settings(database_url=sqlite_database.url, bot_username="qingdan_test_bot",
                                                      _env_file=None))
    seen: list[tuple] = []

    async def handler(event, data):
        ctx = data["ctx"]
        other = sqlite3.connect(engine.url.database, timeout=0)  # another writer: must not wait
        try:
            other.execute("BEGIN IMMEDIATE")
            row = other.execute("SELECT first_name, active FROM person WHERE id = ?", (ctx.person.id,)).fetchone()
            other.execute("COMMIT")
        finally:
            other.close()
        seen.append((ctx.person.first_name, row))
        return "handled"

    try:
        for update_id, name in ((1, "王五"), (2, "王五"), (3, "王小五")):
            update = _message(update_id, 55, name)
            result = await middleware(handler, update, {"event_from_user": update.message.from_user})
            assert result == "handled"
        # the person was stored before the handler ran (without their name: none is kept); the lock was free
        assert seen == [("", ("", 1)), ("", ("", 1)), ("", ("", 1))]
        async with sessions() as s:
            assert (await s.get(Person, 55)).first_name == ""
            marks = set((await s.scalars(sa.select(ProcessedUpdate.update_id))).all())
        assert marks == {1, 2, 3}  # each update still marked, by its own commit
    finally:
        await engine.dispose()
