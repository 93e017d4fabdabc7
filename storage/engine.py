"""The async engine factory: SQLite in WAL mode by default (aiosqlite), PostgreSQL
through asyncpg when DATABASE_URL says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_gate

#: Seconds a new PostgreSQL connection waits for the server to answer (libpq's connect_timeout,
#: asyncpg's timeout), unless DATABASE_URL sets `?connect_timeout=`: where something accepts
#: the connection but never speaks PostgreSQL (a mistyped port, a server that hangs), libpq
#: waited for ever, and every command with it, without a word.
CONNECT_TIMEOUT = 10


def async_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    if u.drivername.startswith("postgres"):
        u = _ssl(u, "ssl")
        u = u.difference_update_query(["connect_timeout"])  # libpq's: make_engine hands it to asyncpg
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The same database through a sync driver (Alembic, APScheduler's job store); for
    PostgreSQL a URL libpq reads too (storage.direct's asyncpg DSN)."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        u = u.set(drivername="sqlite")
    elif u.drivername.startswith("postgres"):
        u = _ssl(u.set(drivername="postgresql+psycopg"), "sslmode")
        if "connect_timeout" not in u.query:
            u = u.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
    return u.render_as_string(hide_password=False)


def _ssl(u: URL, key: str) -> URL:
    """The TLS mode of a PostgreSQL URL, written `?sslmode=require` (libpq's) or `?ssl=require`
    (asyncpg's; also true/false), under the name the driver reads: `ssl` for SQLAlchemy's
    asyncpg dialect (which hands `sslmode` to asyncpg.connect, which refuses it), `sslmode`
    for psycopg (migrations, the scheduler's job store and lock) and for asyncpg's DSN
    (storage.direct; it takes an unknown `ssl` for a server setting)."""
    given = [name for name in ("ssl", "sslmode") if name in u.query]
    if not given:
        return u
    value = u.query[given[-1]]
    value = (value[-1] if isinstance(value, tuple) else value).lower()
    mode = {"true": "require", "1": "require", "false": "disable", "0": "disable"}.get(value, value)
    return u.difference_update_query(given).update_query_dict({key: mode})


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()  # the busy timeout is the connection's own (storage.sqlite_inline.connect)


def connect_timeout(url: str) -> float:
    """DATABASE_URL's `?connect_timeout=` (seconds, as libpq reads it), else CONNECT_TIMEOUT."""
    given = make_url(url).query.get("connect_timeout")
    return float((given[-1] if isinstance(given, tuple) else given) or CONNECT_TIMEOUT)


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    given, url = url, async_url(url)
    # a statement that fails names its parameters in the error, which the log prints (bot.errors):
    # what people typed — an answer, a comment, a phone number in it — stays out of the log
    kw.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # aiosqlite, its write transactions queued at the database's gate (storage.sqlite_gate)
        engine = create_async_engine(sqlite_gate.gated_url(make_url(url)), **kw)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        sqlite_gate.install(engine.sync_engine)
    else:
        kw.setdefault("pool_pre_ping", True)
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 20)
        kw["connect_args"] = {"timeout": connect_timeout(given), **kw.get("connect_args", {})}
        engine = create_async_engine(url, **kw)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Plain SQLAlchemy sessions (SQLModel tables work with them; use `select(...)`
    with `session.scalars()` / `session.execute()`)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
