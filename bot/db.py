"""Opening the configured database from commands (CLI, bot start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
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


def operator_text(key: str, **kw: object) -> str:
    """A catalog text for the CLI's operator, in the configured LOCALE."""
    from bot.texts import gettext

    return gettext(key, get_settings().locale, **kw)


@contextmanager
def reachable(settings: Settings) -> Iterator[None]:
    """A command's first touch of the database: one it cannot open (a server that is down,
    a database or password that is wrong, a SQLite folder that is not there or not
    writable) stops the command with DATABASE_URL, its password hidden, and the driver's
    reason — not a page of traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as exc:
        import typer

        from bot.texts import gettext

        reason = (str(exc.orig or exc).strip().splitlines() or ["?"])[0]
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        typer.echo(gettext("cli.db-unreachable", settings.locale, url=url, error=reason), err=True)
        raise typer.Exit(2) from None


def ensure_schema() -> None:
    """Commands that touch the database call this: on the embedded SQLite default the
    schema is brought up to date automatically; PostgreSQL is left to `qingdan db upgrade`,
    and a command on a PostgreSQL database that is not up to date stops with that advice."""
    from storage.migrate import is_current, upgrade

    settings = get_settings()
    with reachable(settings):
        if settings.is_sqlite:
            upgrade(settings.database_url)
            return
        current = is_current(settings.database_url)
    if not current:
        import typer

        from bot.texts import gettext

        typer.echo(gettext("cli.db-not-upgraded", settings.locale), err=True)
        raise typer.Exit(2)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
