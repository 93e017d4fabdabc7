"""Opening the configured database from commands (CLI, bot start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

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


T = TypeVar("T")


def ensure_schema() -> None:
    """Commands that touch the database call this: on the embedded SQLite default the
    schema is brought up to date automatically; PostgreSQL is left to `qingdan db upgrade`,
    and a command on a PostgreSQL database that is not up to date stops with that advice."""
    from storage.migrate import is_current, upgrade

    settings = get_settings()
    if settings.is_sqlite:
        upgrade(settings.database_url)
    elif not is_current(settings.database_url):
        import typer

        from bot.texts import gettext

        typer.echo(gettext("cli.db-not-upgraded", settings.locale), err=True)
        raise typer.Exit(2)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
