"""The Alembic migrations build the schema the models describe, on both databases."""

import re

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.engine import make_engine


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


async def test_sqlite_connections_wait_for_the_lock_and_enforce_foreign_keys(sqlite_database):
    """Every connection of the engine: a busy timeout (another process's writer is waited
    for, not "database is locked" at once) and foreign keys checked (SQLite's default is off)."""
    from storage.sqlite_gate import BUSY_TIMEOUT

    engine = sqlite_database.engine()
    async with engine.connect() as conn:
        busy = (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar_one()
        fks = (await conn.execute(sa.text("PRAGMA foreign_keys"))).scalar_one()
        with pytest.raises(sa.exc.IntegrityError):
            await conn.execute(sa.text("INSERT INTO duty_list (township_id, version, status, source_file, "
                                       "created_at) VALUES (999, '1', 'draft', '', '2026-12-01 00:00:00')"))
    await engine.dispose()
    assert busy == BUSY_TIMEOUT * 1000 >= 5000 and fks == 1


async def test_migrations_build_exactly_the_models_schema(database):
    """Alembic finds nothing to change between the migrated database and the models (a new
    column in a model without its migration, or the reverse, fails here; so does a column
    whose type, length or server default changed in one and not the other)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def ours(obj, name, type_, reflected, compare_to):  # as storage/migrations/env.py's include_object
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) != "apscheduler_jobs"

    def json_default_differs(_context, _reflected, column, reflected_default, _default, rendered_default):
        # PostgreSQL cannot compare json values (alembic asks it `SELECT '{}'::json = '{}'`): as text
        if not isinstance(column.type, sa.JSON):
            return None  # alembic's own comparison

        def text(default):
            return None if default is None else re.sub(r"::jsonb?$", "", default).strip("'")
        return text(reflected_default) != text(rendered_default)

    def differences(conn):
        context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True,
                                                          "compare_server_default": json_default_differs})
        return compare_metadata(context, SQLModel.metadata)

    engine = database.engine()
    async with engine.connect() as conn:
        diff = await conn.run_sync(differences)
    await engine.dispose()
    assert diff == []


def test_0003_keeps_a_stored_language_as_chosen(tmp_path):
    """Before 0003 a stored language may have been chosen with /language: it stays the
    person's; people without one follow Telegram's."""
    import sqlite3

    from storage.migrate import downgrade, upgrade

    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url, "0002")
    with sqlite3.connect(tmp_path / "q.db") as db:
        db.execute("INSERT INTO person (id, first_name, language, role, active, created_at) "
                   "VALUES (1, 'a', 'en', 'resident', 1, '2026-11-01 00:00:00'), "
                   "(2, 'b', '', 'resident', 1, '2026-11-01 00:00:00')")
    upgrade(url)
    with sqlite3.connect(tmp_path / "q.db") as db:
        assert db.execute("SELECT id, language_chosen FROM person ORDER BY id").fetchall() == [(1, 1), (2, 0)]
    downgrade(url, "0002")
    with sqlite3.connect(tmp_path / "q.db") as db:
        assert "language_chosen" not in {row[1] for row in db.execute("PRAGMA table_info(person)")}


def test_the_postgres_tls_mode_reaches_each_driver_under_the_name_it_reads():
    """`?sslmode=` (libpq's spelling) or `?ssl=` (asyncpg's): `ssl` for the bot's asyncpg engine,
    `sslmode` for psycopg and for asyncpg's DSN (storage.direct)."""
    from storage.engine import async_url, sync_url

    base = "postgresql+asyncpg://q:pw@db.example:5432/qingdan"
    for given in ("ssl=require", "sslmode=require", "ssl=true"):
        assert sync_url(f"{base}?{given}") == \
            "postgresql+psycopg://q:pw@db.example:5432/qingdan?connect_timeout=10&sslmode=require"
        assert async_url(f"{base}?{given}") == f"{base}?ssl=require"
    assert sync_url(f"{base}?ssl=false").endswith("&sslmode=disable")
    # the connect timeout: libpq's connect_timeout (10 s unless given); asyncpg's is an argument
    assert sync_url(f"{base}?connect_timeout=3").endswith("?connect_timeout=3")
    assert async_url(f"{base}?connect_timeout=3") == base
    assert async_url(f"{base}?sslmode=verify-full&application_name=q").endswith("?application_name=q&ssl=verify-full")


@pytest.mark.parametrize("spelling", ["sslmode", "ssl"])
async def test_a_postgres_url_with_a_tls_mode_migrates_and_connects(postgres, spelling):
    """DATABASE_URL=postgresql+asyncpg://…?sslmode=… stopped the bot (asyncpg.connect() got an
    unexpected keyword argument 'sslmode'); …?ssl=… stopped the migrations and the scheduler
    (psycopg: invalid connection option "ssl") and the answer path's own connections."""
    from storage.direct import direct
    from storage.migrate import upgrade

    url = f"{postgres.url}?{spelling}=disable"
    upgrade(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
        conn = await direct(engine).connection("writer")
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await engine.dispose()


def _upgrade_in_step(barrier, urls, results) -> None:  # noqa: ANN001  (a spawned process)
    from storage.migrate import upgrade

    for url in urls:
        barrier.wait(timeout=60)
        try:
            upgrade(url)
            results.put("ok")
        except Exception as e:  # noqa: BLE001
            results.put(f"{type(e).__name__}: {str(e).splitlines()[0]}")


def _upgrade_twice_at_once(urls: list[str]) -> None:
    """Two processes upgrade each database at the same moment (`_upgrade_in_step`): every run
    succeeds and every database ends current."""
    import multiprocessing

    from storage.migrate import schema_state

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_upgrade_in_step, args=(barrier, urls, results)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * len(urls))]
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["ok"] * len(outcomes)
    assert all(schema_state(url).current for url in urls)


def test_two_processes_upgrading_one_sqlite_file_at_once_both_succeed(tmp_path):
    """Every command upgrades a SQLite database first: the bot and `qingdan scheduler` started
    together after an update both ran migration 0002, and one died on "duplicate column"."""

    from storage.migrate import upgrade

    urls = [f"sqlite:///{tmp_path / f'q{n}.db'}" for n in range(4)]
    for url in urls:
        upgrade(url, "0001")
    _upgrade_twice_at_once(urls)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_later_change_to_the_models_types_does_not_change_what_the_migrations_build(kind, tmp_path, monkeypatch,
                                                                                       request):
    """The migrations are history: they name their column types themselves (no import from
    storage.models, nor sqlmodel's), so a later change of a model type — here UTCDateTime
    and sqlmodel's AutoString becoming something else — leaves what they create unchanged."""
    import sqlmodel.sql.sqltypes

    from storage.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'q.db'}"
    else:
        url = request.getfixturevalue("empty_postgres")
    monkeypatch.setattr(storage.models.UTCDateTime, "impl", sa.Integer())
    monkeypatch.setattr(sqlmodel.sql.sqltypes.AutoString, "impl", sa.Text())
    monkeypatch.setattr(sqlmodel.sql.sqltypes.AutoString, "load_dialect_impl",
                        lambda self, dialect: dialect.type_descriptor(sa.Text()))
    upgrade(url)
    from storage.engine import sync_url

    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("outbox")}
        consultation = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("consultation")}
    finally:
        engine.dispose()
    for column in (columns["created_at"], columns["done_at"], consultation["closes_at"]):
        assert isinstance(column, sa.DateTime), column
    assert isinstance(columns["key"], sa.String) and columns["key"].length == 120
    assert consultation["title"].length == 300


@pytest.mark.postgres
def test_two_processes_upgrading_one_postgres_database_at_once_both_succeed():
    """`qingdan db upgrade` run twice at once on PostgreSQL (a deployment that runs it on each
    host): both created the same tables and one died on "already exists" (or a duplicate
    pg_type row), leaving the operator a failed upgrade to puzzle over; now the second waits
    for the first and finds nothing left to do."""
    import uuid

    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, require_service

    require_service("postgres", POSTGRES_URL, 5432)
    admin = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    names = [f"qingdan_test_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        urls = [make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False) for name in names]
        _upgrade_twice_at_once(urls)
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
