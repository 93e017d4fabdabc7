"""aiogram FSM storage: in our own database (`fsm_state`) by default, in Redis when
REDIS_URL is set.

`SQLStorage` keeps one row per FSM key (state and data together) and writes it
with a single upsert, on SQLite and PostgreSQL alike, so a conversation survives a
restart of the bot. `ResilientRedisStorage` is aiogram's RedisStorage that keeps the
bot answering while Redis is down: reads give "no state" / empty data (or what this
process wrote meanwhile), writes are kept in the process and made once Redis is back,
and ONE warning line says so; the redis client reconnects by itself, and the first
successful command logs that the state is whole again. A Redis that times out (hung,
not refusing) is left alone for `hung_pause` seconds, so it costs one call its socket
timeout, not every call. Conversations in progress during the outage on another
worker lose their place (the user starts the step again) — the price of not
crash-looping.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.direct import KeyedReads, SQLiteDirect, is_busy
from storage.models import FSMRecord
from storage.sql import upsert_statement

log = logging.getLogger(__name__)

T = TypeVar("T")

_table: sa.Table = FSMRecord.__table__  # type: ignore[assignment]
# built once, executed with {"key": …}: SQLAlchemy finds them compiled without building a cache key
_STATE = sa.select(_table.c.state).where(_table.c.key == sa.bindparam("key"))
_DATA = sa.select(_table.c.data).where(_table.c.key == sa.bindparam("key"))
_DATA_FOR_UPDATE = _DATA.with_for_update()


def default_key_builder() -> DefaultKeyBuilder:
    """Keys like `fsm:<bot_id>:<chat_id>:<user_id>:<destiny>` (shared by both storages)."""
    return DefaultKeyBuilder(with_bot_id=True, with_destiny=True)


def _engine_of(bind: AsyncEngine | async_sessionmaker[Any]) -> AsyncEngine:
    if isinstance(bind, AsyncEngine):
        return bind
    engine = bind.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("SQLStorage needs an AsyncEngine or an async_sessionmaker bound to one")
    return engine


def _state_str(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


# The session of the update being handled (set by the bot's context middleware). When
# set, SQLStorage reads and writes through it, so FSM changes commit atomically with
# the handler's own writes — and SQLite, which has one writer at a time, is not asked
# for a second write transaction while the update's transaction holds the lock.
current_session: ContextVar[AsyncSession | None] = ContextVar("qingdan_fsm_session", default=None)


class SQLStorage(BaseStorage):
    """FSM state and data in the `fsm_state` table (one row per key)."""

    def __init__(
        self,
        bind: AsyncEngine | async_sessionmaker[Any],
        key_builder: KeyBuilder | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = _engine_of(bind)
        self.clock = clock or (lambda: datetime.now(UTC))  # stamps each write (updated_at)
        self.key_builder = key_builder or default_key_builder()
        self.dialect = self.engine.dialect.name
        if self.dialect not in ("postgresql", "sqlite"):  # pragma: no cover - only the two databases we support
            raise NotImplementedError(f"SQLStorage has no upsert for {self.dialect!r}")
        # aiogram reads the FSM state of every update before any handler runs; on
        # PostgreSQL the reads in flight at one moment share one query (on SQLite a read
        # is a point query on the loop's thread, cheaper than any batching).
        self._states = KeyedReads("SELECT key, state FROM fsm_state WHERE key = ANY($1::text[])")

    @property
    def _direct(self) -> Any:
        from storage.answer_path import answer_path

        return answer_path(self.engine).direct

    def _key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    @asynccontextmanager
    async def _conn(self, write: bool = False) -> AsyncIterator[Any]:
        """The update's session when there is one (its commit covers these writes), else
        a connection of our own (a transaction when writing)."""
        session = current_session.get()
        if session is not None:
            yield session
            return
        async with (self.engine.begin() if write else self.engine.connect()) as conn:
            yield conn

    async def _upsert(self, conn: Any, key: str, **values: Any) -> None:
        """INSERT the row (absent columns get their neutral value) or UPDATE just `values`
        (and the time of the write)."""
        values = values | {"updated_at": self.clock()}
        stmt = upsert_statement(self.dialect, _table, ("key",), tuple(sorted(values)))
        await conn.execute(stmt, {"key": key, "state": None, "data": {}} | values)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        async with self._conn(write=True) as conn:
            await self._upsert(conn, self._key(key), state=_state_str(state))

    async def get_state(self, key: StorageKey) -> str | None:
        if current_session.get() is None:
            direct = self._direct
            if isinstance(direct, SQLiteDirect):
                try:
                    row = direct.now.execute("SELECT state FROM fsm_state WHERE key = ?", (self._key(key),)).fetchone()
                    return row[0] if row else None
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise
            else:
                rows = await self._states.get(self._key(key), direct)
                return rows[0][1] if rows else None
        async with self._conn() as conn:
            return await conn.scalar(_STATE, {"key": self._key(key)})

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
        k = self._key(key)
        async with self._conn(write=True) as conn:
            if data:
                await self._upsert(conn, k, data=data)
            else:
                # FSMContext.clear() sets the state to None, then the data to {}:
                # a row with neither is dropped rather than kept forever.
                await conn.execute(
                    sa.delete(_table).where(_table.c.key == k, _table.c.state.is_(None))
                )
                await conn.execute(sa.update(_table).where(_table.c.key == k)
                                   .values(data={}, updated_at=self.clock()))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._conn() as conn:
            data = await conn.scalar(_DATA, {"key": self._key(key)})
        return dict(data) if data else {}

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `data` into the stored data, read and write in one transaction."""
        k = self._key(key)
        async with self._conn(write=True) as conn:
            query = _DATA_FOR_UPDATE if self.dialect == "postgresql" else _DATA
            current = dict(await conn.scalar(query, {"key": k}) or {})
            current.update(data)
            await self._upsert(conn, k, data=current)
        return current.copy()

    async def close(self) -> None:
        """The engine belongs to the caller; nothing to close here."""


# The FSM writes of the update being handled, kept until its database transaction commits
# (see ResilientRedisStorage): None outside an update.
_deferred: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("qingdan_fsm_deferred", default=None)

FSM_TTL = 30 * 24 * 3600  # seconds: a form left half-filled, or a resident's place, is forgotten after 30 days


async def drop_stale(session: AsyncSession, now: datetime, ttl: timedelta = timedelta(seconds=FSM_TTL)) -> int:
    """Delete the `fsm_state` rows not written for `ttl` (FSM_TTL, as Redis expires its keys):
    a draft comment or a half-filled form of someone who never came back. The scheduler's
    sync job calls it; one who comes back later starts afresh, as after a Redis expiry."""
    result = await session.execute(sa.delete(_table).where(_table.c.updated_at < now - ttl))
    return int(result.rowcount or 0)


@asynccontextmanager
async def deferred_writes(storage: BaseStorage) -> AsyncIterator[None]:
    """Within the block, a Redis FSM's writes are kept back; `commit_writes` (called by the
    block's owner once the update's database transaction committed) applies them. An update
    that fails, or whose commit does not happen, leaves the FSM as it was — as the SQL FSM,
    whose rows are written in that same transaction, does."""
    if not isinstance(storage, ResilientRedisStorage):
        yield
        return
    token = _deferred.set({})
    try:
        yield
    finally:
        _deferred.reset(token)


class RedisRefused(Exception):
    """Redis answers but refuses REDIS_URL: a user or password it does not take, a database
    number it does not have. A setting to fix: every FSM call would fail the same way."""


class ResilientRedisStorage(RedisStorage):
    """RedisStorage that degrades instead of raising while Redis is unreachable, keeps an
    update's writes until its database transaction committed (`deferred_writes`), and
    applies writes it could not make once Redis is back (a /cancel or /delete_me made during
    an outage is not undone by the old keys)."""

    degraded: bool = False
    # after a call timed out (a hung Redis, or packets dropped on the way: each call would
    # wait its socket timeout), calls answer at once from the process for this long, while
    # one call at a time tries Redis again; a refused connection fails fast and is retried
    # on every call
    hung_pause: float = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unwritten: dict[tuple[str, str], tuple[StorageKey, Any]] = {}
        self._paused_until = 0.0
        self._probing = False

    async def _guard(self, op: Callable[[], Awaitable[T]], fallback: T) -> T:
        probe = bool(self._paused_until)
        if probe:
            if self._probing or time.monotonic() < self._paused_until:
                return fallback
            self._probing = True
        try:
            if self._unwritten:
                await self._replay()
            result = await op()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._paused_until = time.monotonic() + self.hung_pause \
                if isinstance(exc, (RedisTimeoutError, TimeoutError)) else 0.0
            if not self.degraded:
                self.degraded = True
                log.warning(
                    "Redis unavailable, FSM state degraded (kept in this process until it returns): %s",
                    exc,
                )
            else:
                log.debug("Redis still unavailable: %s", exc)
            return fallback
        finally:
            if probe:
                self._probing = False
        self._paused_until = 0.0
        if self.degraded:
            self.degraded = False
            log.warning("Redis is reachable again, FSM state restored")
        return result

    async def check(self) -> None:
        """At the start: a Redis that refuses REDIS_URL raises RedisRefused (with Redis's
        reason); one out of reach is the one degraded warning, and the bot starts and uses
        Redis once it is back."""
        async def ping() -> None:
            try:
                await self.redis.ping()
            except (AuthenticationError, AuthorizationError, NoPermissionError) as exc:
                raise RedisRefused(str(exc)) from None
            except ResponseError as exc:
                if "db index" in str(exc).lower():  # a database number past the server's `databases`
                    raise RedisRefused(str(exc)) from None
                raise RedisConnectionError(str(exc)) from exc  # (MASTERDOWN, LOADING…: it passes)

        await self._guard(ping, None)

    async def _replay(self) -> None:
        for (key_text, part), (key, value) in list(self._unwritten.items()):
            if part == "state":
                await super().set_state(key, value)
            else:
                await super().set_data(key, value)
            del self._unwritten[(key_text, part)]

    async def _write(self, key: StorageKey, part: str, value: Any) -> None:
        ident = (self.key_builder.build(key, "state"), part)
        pending = _deferred.get()
        if pending is not None:
            pending[ident] = (key, value)
            return
        self._unwritten[ident] = (key, value)  # until it is written (now, or once Redis is back)
        await self._guard(self._replay, None)

    async def commit_writes(self) -> None:
        """Apply the writes `deferred_writes` kept back (the update's transaction committed)."""
        pending = _deferred.get()
        if pending:
            self._unwritten.update(pending)
            pending.clear()
            await self._guard(self._replay, None)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(key, "state", state)

    async def get_state(self, key: StorageKey) -> str | None:
        kept = await self._kept(key, "state")
        if kept is not None:
            value = kept[1]
            return value.state if isinstance(value, State) else value
        return await self._guard(lambda: super(ResilientRedisStorage, self).get_state(key), None)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, "data", dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        kept = await self._kept(key, "data")
        if kept is not None:
            return dict(kept[1] or {})
        return await self._guard(lambda: super(ResilientRedisStorage, self).get_data(key), {})

    async def _kept(self, key: StorageKey, part: str) -> tuple[StorageKey, Any] | None:
        """A write of this key not yet in Redis (this update's, or one Redis is still down for;
        writes it was down for are made first if it is back)."""
        if self._unwritten:
            await self._guard(self._replay, None)
        ident = (self.key_builder.build(key, "state"), part)
        pending = _deferred.get()
        if pending is not None and ident in pending:
            return pending[ident]
        return self._unwritten.get(ident)


# Short socket timeouts: a handler waits at most this long for a sick Redis.
REDIS_CONNECTION_KWARGS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}


def make_redis_storage(redis_url: str, **connection_kwargs: Any) -> ResilientRedisStorage:
    kwargs = REDIS_CONNECTION_KWARGS | connection_kwargs
    return ResilientRedisStorage.from_url(redis_url, connection_kwargs=kwargs, key_builder=default_key_builder(),
                                          state_ttl=FSM_TTL, data_ttl=FSM_TTL)


def make_fsm_storage(redis_url: str | None, engine: AsyncEngine | async_sessionmaker[Any]) -> BaseStorage:
    """Redis when `redis_url` is set (degrading gracefully when it is down), else the database."""
    if redis_url:
        return make_redis_storage(redis_url)
    return SQLStorage(engine)
