"""The FSM storages: SQLStorage on both databases, Redis normal and degraded."""

from __future__ import annotations

import logging
import uuid

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import text

from storage.engine import make_sessionmaker
from storage.fsm import ResilientRedisStorage, SQLStorage, make_fsm_storage, make_redis_storage


class Form(StatesGroup):
    township = State()
    answer = State()


BOT = 42


def key(chat: int, user: int | None = None, destiny: str = "default") -> StorageKey:
    return StorageKey(bot_id=BOT, chat_id=chat, user_id=user if user is not None else chat, destiny=destiny)


async def test_round_trip_state_and_data(database) -> None:
    engine = database.engine()
    try:
        storage = SQLStorage(engine)
        k = key(1001)
        assert await storage.get_state(k) is None
        assert await storage.get_data(k) == {}

        await storage.set_state(k, Form.township)
        assert await storage.get_state(k) == "Form:township"
        await storage.set_data(k, {"township_id": 7, "名称": "城关镇", "items": [1, 2]})
        assert await storage.get_data(k) == {"township_id": 7, "名称": "城关镇", "items": [1, 2]}
        # setting the state leaves the data alone, and vice versa
        await storage.set_state(k, "Form:answer")
        assert await storage.get_data(k) == {"township_id": 7, "名称": "城关镇", "items": [1, 2]}
        await storage.set_data(k, {"x": 1})
        assert await storage.get_state(k) == "Form:answer"
        assert await storage.get_data(k) == {"x": 1}

        assert await storage.update_data(k, {"y": 2}) == {"x": 1, "y": 2}
        assert await storage.get_data(k) == {"x": 1, "y": 2}
        assert await storage.get_value(k, "y") == 2
    finally:
        await engine.dispose()


async def test_update_data_creates_the_row(database) -> None:
    engine = database.engine()
    try:
        storage = SQLStorage(make_sessionmaker(engine))  # a sessionmaker works as well as an engine
        k = key(5)
        assert await storage.update_data(k, {"a": 1}) == {"a": 1}
        assert await storage.get_data(k) == {"a": 1}
        assert await storage.get_state(k) is None
    finally:
        await engine.dispose()


async def test_keys_are_isolated_between_users_chats_bots_and_destinies(database) -> None:
    engine = database.engine()
    try:
        storage = SQLStorage(engine)
        keys = [
            key(1, 1),
            key(1, 2),  # another user in the same chat
            key(2, 1),  # the same user in another chat
            StorageKey(bot_id=BOT + 1, chat_id=1, user_id=1),  # another bot
            key(1, 1, destiny="scene"),
        ]
        for i, k in enumerate(keys):
            await storage.set_state(k, f"S:{i}")
            await storage.set_data(k, {"i": i})
        for i, k in enumerate(keys):
            assert await storage.get_state(k) == f"S:{i}"
            assert await storage.get_data(k) == {"i": i}
    finally:
        await engine.dispose()


async def test_clear_removes_state_and_data_and_the_row(database) -> None:
    engine = database.engine()
    try:
        storage = SQLStorage(engine)
        k, other = key(10), key(11)
        ctx = FSMContext(storage=storage, key=k)
        await ctx.set_state(Form.answer)
        await ctx.update_data(q=3)
        await storage.set_state(other, Form.township)

        await ctx.clear()
        assert await ctx.get_state() is None
        assert await ctx.get_data() == {}
        assert await storage.get_state(other) == "Form:township"
        async with engine.connect() as conn:
            keys = (await conn.execute(text("SELECT key FROM fsm_state"))).scalars().all()
        assert keys == [storage.key_builder.build(other)]
    finally:
        await engine.dispose()


async def test_empty_data_keeps_the_state(database) -> None:
    engine = database.engine()
    try:
        storage = SQLStorage(engine)
        k = key(12)
        await storage.set_state(k, Form.answer)
        await storage.set_data(k, {"a": 1})
        await storage.set_data(k, {})
        assert await storage.get_state(k) == "Form:answer"
        assert await storage.get_data(k) == {}
    finally:
        await engine.dispose()


async def test_state_survives_a_restart(database) -> None:
    engine = database.engine()
    k = key(20, 21)
    try:
        first = SQLStorage(engine)
        await first.set_state(k, Form.answer)
        await first.set_data(k, {"step": 4})
        await first.close()
    finally:
        await engine.dispose()

    engine = database.engine()  # a new process: new engine, new storage
    try:
        second = make_fsm_storage("", engine)
        assert isinstance(second, SQLStorage)
        assert await second.get_state(k) == "Form:answer"
        assert await second.get_data(k) == {"step": 4}
    finally:
        await engine.dispose()


async def test_make_fsm_storage_picks_redis_when_configured(sqlite_database) -> None:
    engine = sqlite_database.engine()
    storage = make_fsm_storage("redis://127.0.0.1:6379/15", engine)
    try:
        assert isinstance(storage, ResilientRedisStorage)
        assert isinstance(storage, RedisStorage)
    finally:
        await storage.close()
        await engine.dispose()


async def test_redis_round_trip(redis_url: str) -> None:
    storage = make_redis_storage(redis_url)
    k = StorageKey(bot_id=BOT, chat_id=uuid.uuid4().int % 10**9, user_id=1)
    try:
        await storage.set_state(k, Form.township)
        await storage.set_data(k, {"t": "城关镇"})
        assert await storage.update_data(k, {"n": 1}) == {"t": "城关镇", "n": 1}
        assert await storage.get_state(k) == "Form:township"
        assert await storage.get_data(k) == {"t": "城关镇", "n": 1}
        assert not storage.degraded
        await FSMContext(storage=storage, key=k).clear()
        assert await storage.get_state(k) is None
        assert await storage.get_data(k) == {}
    finally:
        await storage.close()


async def test_redis_down_degrades_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    storage = make_redis_storage("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    k = key(30)
    try:
        with caplog.at_level(logging.DEBUG, logger="storage.fsm"):
            assert await storage.get_state(k) is None  # nothing known: empty, does not raise
            await storage.set_state(k, Form.answer)  # kept in the process until Redis is back
            await storage.set_data(k, {"a": 1})
            assert await storage.get_state(k) == "Form:answer"
            assert await storage.get_data(k) == {"a": 1}
            assert await storage.update_data(k, {"b": 2}) == {"a": 1, "b": 2}
            await FSMContext(storage=storage, key=k).clear()
            assert await storage.get_state(k) is None and await storage.get_data(k) == {}
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert "Redis unavailable, FSM state degraded" in warnings[0].getMessage()
        assert storage.degraded
    finally:
        await storage.close()


async def test_redis_recovery_is_logged_and_state_works_again(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Simulate an outage by pointing the storage's client at a dead port, then back."""
    from redis.asyncio import Redis

    storage = make_redis_storage(redis_url)
    healthy = storage.redis
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    k = StorageKey(bot_id=BOT, chat_id=uuid.uuid4().int % 10**9, user_id=2)
    try:
        with caplog.at_level(logging.WARNING, logger="storage.fsm"):
            storage.redis = dead
            assert await storage.get_state(k) is None
            await storage.set_state(k, Form.answer)
            storage.redis = healthy
            await storage.set_state(k, Form.answer)
            assert await storage.get_state(k) == "Form:answer"
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2
        assert messages[0].startswith("Redis unavailable, FSM state degraded")
        assert "reachable again" in messages[1]
        assert not storage.degraded
        await storage.set_state(k, None)
    finally:
        await dead.aclose()
        await storage.close()


async def test_writes_made_while_redis_is_down_are_applied_when_it_returns(redis_url: str) -> None:
    """A /cancel (or /delete_me) during an outage is not undone by the keys Redis still holds."""
    from redis.asyncio import Redis

    storage = make_redis_storage(redis_url)
    healthy = storage.redis
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    k = StorageKey(bot_id=BOT, chat_id=uuid.uuid4().int % 10**9, user_id=3)
    try:
        await storage.set_state(k, Form.answer)
        await storage.set_data(k, {"draft": "意见"})
        storage.redis = dead
        await FSMContext(storage=storage, key=k).clear()  # /cancel while Redis is down
        storage.redis = healthy
        assert await storage.get_state(k) is None  # the clear reached Redis on the first call back
        assert await healthy.get(storage.key_builder.build(k, "state")) is None
        assert await storage.get_data(k) == {}
        assert 0 < await healthy.ttl(storage.key_builder.build(k, "data")) or \
            await healthy.exists(storage.key_builder.build(k, "data")) == 0
    finally:
        await storage.set_state(k, None)
        await dead.aclose()
        await storage.close()


async def test_an_updates_writes_reach_redis_only_once_its_transaction_commits(redis_url: str) -> None:
    from storage.fsm import deferred_writes

    storage = make_redis_storage(redis_url)
    k = StorageKey(bot_id=BOT, chat_id=uuid.uuid4().int % 10**9, user_id=4)
    state_key = storage.key_builder.build(k, "state")
    try:
        with pytest.raises(RuntimeError):
            async with deferred_writes(storage):  # an update whose commit failed
                await storage.set_state(k, Form.answer)
                assert await storage.get_state(k) == "Form:answer"  # the update sees its own write
                raise RuntimeError("commit failed")
        assert await storage.redis.get(state_key) is None and await storage.get_state(k) is None
        async with deferred_writes(storage):  # one that committed
            await storage.set_state(k, Form.answer)
            assert await storage.redis.get(state_key) is None  # not before the commit
            await storage.commit_writes()
        assert await storage.get_state(k) == "Form:answer"
        assert 0 < await storage.redis.ttl(state_key) <= 30 * 24 * 3600  # abandoned forms expire
    finally:
        await storage.set_state(k, None)
        await storage.close()


async def test_a_hung_redis_is_waited_for_once_then_paused_until_it_answers_again(redis_url: str) -> None:
    """A Redis that accepts connections but never answers costs each call its socket
    timeout; after one timeout the storage answers from the process for `hung_pause`, then
    tries again — and recovers, writing what it kept."""
    import asyncio
    import time

    from redis.asyncio import Redis

    connections: list[int] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.read()  # never answers
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    storage = make_redis_storage(redis_url)
    storage.hung_pause = 60.0
    healthy = storage.redis
    hung = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.3, socket_timeout=0.3)
    k = StorageKey(bot_id=BOT, chat_id=uuid.uuid4().int % 10**9, user_id=4)
    try:
        storage.redis = hung
        assert await storage.get_state(k) is None  # waits its timeout once
        assert storage.degraded and len(connections) == 1
        for _ in range(5):  # paused: answered from the process, Redis not asked
            await storage.set_state(k, Form.answer)
            assert await storage.get_state(k) == "Form:answer"
        assert len(connections) == 1
        storage._paused_until = time.monotonic()  # the pause is over: the next call tries again
        storage.redis = healthy
        assert await storage.get_state(k) == "Form:answer"
        assert not storage.degraded
        assert await healthy.get(storage.key_builder.build(k, "state")) == b"Form:answer"  # the kept write
    finally:
        await storage.set_state(k, None)
        server.close()
        await hung.aclose()
        await storage.close()


async def test_a_redis_url_redis_refuses_stops_the_start_and_a_redis_down_is_one_warning(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """REDIS_URL naming a database number Redis does not have (/99 of its 16) or a user and
    password it refuses: the bot started, and every update that touched the FSM failed with
    the apology and a traceback. The start's check (`check`) now raises RedisRefused with
    Redis's reason; a Redis merely down at the start is the one degraded warning, and the
    bot starts (no crash loop under Restart=always)."""
    from redis.asyncio.connection import parse_url

    from storage.fsm import RedisRefused

    where = parse_url(redis_url)
    base = f"redis://{where.get('host', '127.0.0.1')}:{where.get('port', 6379)}"
    for url, reason in ((f"{base}/99", "DB index is out of range"),
                        (f"redis://nobody:wrong@{base.removeprefix('redis://')}/15", "password")):
        storage = make_redis_storage(url)
        try:
            with pytest.raises(RedisRefused, match=reason):
                await storage.check()
        finally:
            await storage.close()

    good = make_redis_storage(redis_url)
    try:
        await good.check()
        assert not good.degraded
    finally:
        await good.close()

    down = make_redis_storage("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with caplog.at_level(logging.WARNING, logger="storage.fsm"):
            await down.check()
            assert await down.get_state(key(31)) is None
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and warnings[0].startswith("Redis unavailable, FSM state degraded"), warnings
        assert down.degraded
    finally:
        await down.close()


async def test_a_redis_answering_an_error_of_the_moment_at_start_degrades_instead_of_stopping(
    caplog: pytest.LogCaptureFixture
) -> None:
    """Only what REDIS_URL itself gets wrong stops the start (exit 78: systemd does not restart
    it). A replica whose link to the master is down (MASTERDOWN) answers PING with an error that
    passes: that is the one degraded warning, and the bot starts and tries Redis again."""
    from redis.exceptions import ResponseError

    storage = make_redis_storage("redis://127.0.0.1:1/0")

    async def masterdown() -> None:
        raise ResponseError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")

    storage.redis.ping = masterdown  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, logger="storage.fsm"):
            await storage.check()
        assert storage.degraded
        assert [r.getMessage() for r in caplog.records][0].startswith("Redis unavailable, FSM state degraded")
    finally:
        await storage.close()
