"""Opening the configured database from commands (CLI, bot start-up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, get_settings
from storage.engine import make_engine, make_sessionmaker


@asynccontextmanager
async def database(settings: Settings | None = None) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine((settings or get_settings()).database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
