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
    writable, a file that is not a SQLite database) stops the command with DATABASE_URL,
    its password hidden, and the driver's reason — not a page of traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DatabaseError, OperationalError

    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        if not isinstance(exc, OperationalError) and type(exc) is not DatabaseError:
            raise  # a statement refused (ProgrammingError, IntegrityError…): a bug to see whole
        import typer

        from bot.texts import gettext

        reason = (str(exc.orig or exc).strip().splitlines() or ["?"])[0]
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        typer.echo(gettext("cli.db-unreachable", settings.locale, url=url, error=reason), err=True)
        raise typer.Exit(2) from None


def ensure_schema() -> None:
    """Commands that touch the database call this: on the embedded SQLite default the
    schema is brought up to date automatically; PostgreSQL is left to `qingdan db upgrade`,
    and a command on a PostgreSQL database that is empty or not up to date stops with that
    advice. A database a newer version of Qingdan migrated stops every command (SQLite's
    too): this code does not know its schema."""
    from storage.migrate import schema_state, upgrade

    settings = get_settings()
    with reachable(settings):
        state = schema_state(settings.database_url)
        refuse_newer_schema(state)
        if settings.is_sqlite:
            upgrade(settings.database_url)
            return
    if not state.current:
        import typer

        key = "cli.db-empty" if state.empty else "cli.db-behind"
        typer.echo(operator_text(key, revision=", ".join(state.revisions), head=", ".join(state.heads)), err=True)
        raise typer.Exit(2)


def refuse_newer_schema(state: Any) -> None:
    """Stop (exit 2) on a database a newer version of Qingdan migrated (storage.migrate.SchemaState.ahead)."""
    if state.ahead:
        import typer

        typer.echo(operator_text("cli.db-ahead", revision=", ".join(state.revisions), head=", ".join(state.heads)),
                   err=True)
        raise typer.Exit(2)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
