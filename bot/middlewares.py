"""Outer middlewares: one database transaction per update, update_id
de-duplication inside that transaction, the person and their language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.context import Ctx
from bot.texts import normalize_locale
from storage.fsm import current_session
from storage.models import ProcessedUpdate
from storage.people import touch_person
from storage.sql import insert_ignore

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


class ContextMiddleware(BaseMiddleware):
    """Opens the session, skips an update_id already processed (the mark is written in
    the same transaction as the handler's own writes, so a crash before the commit
    lets the redelivered update through), loads the person and builds `ctx`."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                 clock: Callable[[], datetime] = system_clock) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        async with self.sessionmaker() as session:
            fresh = await insert_ignore(session, ProcessedUpdate.__table__,
                                        {"update_id": event.update_id, "processed_at": self.clock()},
                                        keys=("update_id",))
            if not fresh:
                log.info("update %s already processed; skipped", event.update_id)
                return None
            if user is None or user.is_bot:
                await session.commit()
                return None
            person = await touch_person(session, user.id, user.first_name or "", user.language_code)
            locale = normalize_locale(person.language or user.language_code or self.settings.locale)
            bot = data.get("bot")
            username = ((await bot.me()).username or "") if bot is not None else ""
            ctx = Ctx(session=session, person=person, locale=locale, settings=self.settings, clock=self.clock,
                      bot_username=username)
            data["ctx"] = ctx
            token = current_session.set(session)
            try:
                result = await handler(event, data)
                await session.commit()
            finally:
                current_session.reset(token)
            return result
