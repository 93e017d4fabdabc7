"""The Alembic migrations build the schema the models describe, on both databases."""

import sqlalchemy as sa
from sqlmodel import SQLModel

import storage.models  # noqa: F401


async def test_migrated_schema_has_every_table(database):
    engine = database.engine()
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    await engine.dispose()
    assert set(SQLModel.metadata.tables) <= names
    assert "alembic_version" in names


async def test_sqlite_runs_in_wal_mode(sqlite_database):
    engine = sqlite_database.engine()
    async with engine.connect() as conn:
        mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar_one()
    await engine.dispose()
    assert mode.lower() == "wal"
