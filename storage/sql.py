"""Small portable SQL helpers (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str, table: sa.Table):
    """INSERT for `dialect` ("postgresql" or "sqlite"), with its ON CONFLICT clauses."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def upsert(
    session: AsyncSession,
    table: sa.Table,
    rows: dict[str, Any] | Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update… (or DO NOTHING when `update` is empty)."""
    stmt = upsert_statement(session.bind.dialect.name, table, tuple(keys), tuple(update))
    await session.execute(stmt, rows if isinstance(rows, dict) else list(rows))


@functools.lru_cache(maxsize=256)
def upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """`upsert`'s statement, to execute with the rows as parameters; built once per shape
    (SQLAlchemy then finds it compiled in its cache)."""
    stmt = insert_for(dialect, table)
    if update:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in update})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


async def insert_ignore(session: AsyncSession, table: sa.Table, row: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert unless a row with the same keys exists; True when this call inserted it."""
    stmt = insert_for(session.bind.dialect.name, table).on_conflict_do_nothing(index_elements=list(keys))
    result = await session.execute(stmt, row)
    return bool(result.rowcount)


MAX_ID = 2**31 - 1  # the id columns are INTEGER (32-bit on PostgreSQL)


def as_id(text: str) -> int | None:
    """`text` as a row id — decimal digits within the id columns' range — else None (what
    the user typed names no row: a larger number would fail in the database, not just miss)."""
    return int(text) if text.isdecimal() and int(text) <= MAX_ID else None


def fits_id(number: int) -> bool:
    """Whether a number given as an id (a command's argument) may name a row: ids are
    positive and within MAX_ID. A larger one names none, and compared with an id column
    it fails the statement (PostgreSQL: beyond 32 bits; SQLite: beyond 64)."""
    return 0 < number <= MAX_ID
