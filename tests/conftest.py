"""Shared fixtures: a migrated database per test, on SQLite and (when reachable) on
PostgreSQL. Outside CI a missing PostgreSQL or Redis skips those tests with a
reason; in CI (CI=true) it fails them."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str, default_port: int) -> bool:
    u = make_url(url)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, port: int) -> None:
    """Skip (or, in CI, fail) when a service is not reachable."""
    if not _reachable(url, port):
        msg = f"{name} is not reachable at {url}"
        if IN_CI:
            pytest.fail(f"{msg}; .ci/run must start it")
        pytest.skip(f"{msg} (start it, or set TEST_{name.upper()}_URL)")


@dataclass
class Database:
    url: str
    kind: str

    def engine(self, **kw):
        return make_engine(self.url, **kw)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    require_service("postgres", POSTGRES_URL, 5432)
    name = f"qingdan_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)  # survives a restart
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new PostgreSQL database with nothing in it, dropped after the test: its URL."""
    require_service("postgres", POSTGRES_URL, 5432)
    name = f"qingdan_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401

    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # APScheduler's job table, when a test made one
        conn.execute(sa.text("DROP TABLE IF EXISTS apscheduler_jobs"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A freshly migrated, empty database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return Database(f"sqlite+aiosqlite:///{path}", "sqlite")
    url = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return Database(url, "postgres")


@pytest.fixture
def postgres(postgres_database: str) -> Database:
    """A freshly truncated PostgreSQL database, for tests of what only PostgreSQL does."""
    _truncate_postgres(postgres_database)
    return Database(postgres_database, "postgres")


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Database:
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return Database(f"sqlite+aiosqlite:///{path}", "sqlite")


@pytest.fixture
async def session_factory(database: Database) -> AsyncIterator:
    engine = database.engine()
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def redis_url() -> str:
    require_service("redis", REDIS_URL, 6379)
    return REDIS_URL
