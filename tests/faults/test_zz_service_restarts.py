"""PostgreSQL and Redis restarted under the running bot (`python -m bot run`, polling the
sandbox, its own process). Named to sort last: these stop services the rest of the
suite uses (CI runs the suite in one pytest process, so nothing else runs meanwhile),
and every test makes sure, in a `finally`, that the service runs again.

* PostgreSQL (`pg_ctlcluster … restart -m fast`: every connection is cut): the bot
  process lives on, and the residents' next taps are answered and stored, without
  anyone having to open the link again (the pool's pre-ping replaces dead connections).
* Redis (`redis-cli shutdown nosave`, later `redis-server` again, empty): while it is
  down the bot keeps answering — residents' answers are stored (their place is in the
  database), the organizer's /new wizard answers but cannot keep its step (FSM writes
  are skipped) — with ONE warning line in the log and no exit; once Redis is back the
  log says the state is restored and the wizard works again (its state in Redis).

Needs root and the Debian tools (pg_ctlcluster, redis-server, redis-cli): without them
the tests are skipped with the reason — in CI (CI=true) they fail instead."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.sandbox.client import SandboxUser
from bot.sandbox.server import running_sandbox
from tests.conftest import IN_CI, POSTGRES_URL, Database
from tests.e2e.conftest import ORGANIZER_ID
from tests.faults.conftest import (
    BOT_USERNAME,
    TOKEN,
    BotProc,
    answer_row_counts,
    forget_dead_postgres_connections,
    seed_consultation,
    stored_by_person,
)
from tests.faults.residents import FIRST_FOUR, Resident, plan_for, resident_session, screen_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SERVICE_TIMEOUT = 60.0  # seconds for PostgreSQL / Redis to stop or come back
RESIDENTS = 10
REDIS_PORT = 6379
REDIS_DB = 14  # a Redis database of this test's own
DEGRADED = "Redis unavailable, FSM state degraded"
RESTORED = "Redis is reachable again, FSM state restored"
NEW_TITLE = "新建征询"  # organizer.new-title
TOWNSHIPS = "请选择参加征询的乡镇"  # organizer.new-townships


def need_root_and(*tools: str) -> None:
    """Skip (in CI: fail) unless running as root with `tools` on the PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    reason = ""
    if missing:
        reason = f"needs {', '.join(missing)} (Debian's PostgreSQL/Redis server packages)"
    elif os.geteuid() != 0:
        reason = "restarts system services: needs root (as in CI)"
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI must provide it")
        pytest.skip(reason)


async def run(*args: str, timeout: float = SERVICE_TIMEOUT) -> None:  # noqa: ASYNC109
    """A command, off the event loop (the sandbox lives on it), bounded in time; it must succeed."""
    done = await asyncio.to_thread(subprocess.run, list(args), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} → {done.returncode}: {done.stdout}{done.stderr}"


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = SERVICE_TIMEOUT) -> float:  # noqa: ASYNC109
    """Poll `check` until true; the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


# --- PostgreSQL -----------------------------------------------------------------------------------------


def pg_cluster() -> tuple[str, str]:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        if IN_CI:
            pytest.fail("no cluster in /etc/postgresql")
        pytest.skip("no PostgreSQL cluster in /etc/postgresql")
    return versions[-1], "main"


def _pg_accepts_now() -> bool:
    engine = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1
    except Exception:  # noqa: BLE001 — down, starting up, shutting down
        return False
    finally:
        engine.dispose()


async def pg_accepts() -> bool:
    return await asyncio.to_thread(_pg_accepts_now)


async def pg_ctl(action: str, *extra: str) -> None:
    version, cluster = pg_cluster()
    await run("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, action, *extra)


async def ensure_postgres() -> None:
    """PostgreSQL runs and accepts connections (started if it is down); this process's
    pooled connections from before the restart are dropped."""
    forget_dead_postgres_connections()
    if await pg_accepts():
        return
    await asyncio.to_thread(subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster(), "start"],
                            capture_output=True, timeout=SERVICE_TIMEOUT)
    await wait_until(pg_accepts, "PostgreSQL accepting connections after a start")


async def test_postgres_restarted_under_the_bot_it_lives_on_and_the_next_answers_are_stored(
        own_postgres: Database, tmp_path: Path) -> None:
    need_root_and("pg_ctlcluster")
    pg_cluster()
    url = own_postgres.url
    code = await seed_consultation(url)
    plans = {uid: plan_for(uid) for uid in range(70_001, 70_001 + RESIDENTS)}
    before, after = FIRST_FOUR[:2], FIRST_FOUR
    async with asyncio.timeout(150), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                     callback_wait=15) as sb, resident_session() as http:
        bot = BotProc(sb, url, tmp_path / "bot.log")
        try:
            await bot.start()
            residents = [Resident(SandboxUser(sb.base_url, TOKEN, uid, session=http, first_name=f"居民{uid}",
                                              language_code="zh-hans"), code, plan, step_timeout=15)
                         for uid, plan in plans.items()]
            live = await asyncio.gather(*(r.run(None, frozenset({after[len(before)]})) for r in residents))
            assert await stored_by_person(url) == {uid: {q: p[q] for q in before} for uid, p in plans.items()}
            recoveries = sum(r.recoveries for r in residents)

            log_mark = len(bot.log_text())
            started = time.monotonic()
            await pg_ctl("restart", "-m", "fast")
            await wait_until(pg_accepts, "PostgreSQL accepting connections after the restart")
            down = time.monotonic() - started
            assert bot.alive(), f"the bot died with PostgreSQL:\n{bot.log_tail()}"

            # the next taps, on the question each resident was shown before the restart
            results = await asyncio.gather(*(r.run(m, frozenset({"needs"})) for r, m in zip(residents, live,
                                                                                          strict=True)),
                                           return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            assert not failures, f"{len(failures)} residents stuck, e.g. {failures[:3]}\n{bot.log_tail()}"
            assert all(screen_of(m) == "needs" for m in results)  # type: ignore[arg-type]
            assert bot.alive() and bot.starts == 1
            assert await stored_by_person(url) == {uid: {q: p[q] for q in after} for uid, p in plans.items()}
            counts = await answer_row_counts(url)
            assert len(counts) == RESIDENTS * len(after) and set(counts.values()) == {1}
            unanswered = sum(r.recoveries for r in residents) - recoveries
            assert unanswered == 0, (f"{unanswered} taps after the restart went unanswered (the resident had to "
                                     f"open the link again):\n{bot.log_text()[log_mark:][-4000:]}")
            print(f"PostgreSQL down and back in {down:.1f} s; every resident's next answers stored")
        finally:
            bot.kill()
            await ensure_postgres()


LOCK_HELD = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
                    "AND objid = :key AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())")


def _lock_held_now(url: str) -> bool:
    from bot.scheduler import LOCK_KEY

    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(LOCK_HELD, {"key": LOCK_KEY}).scalar())
    finally:
        engine.dispose()


async def test_postgres_restarted_under_the_scheduler_it_keeps_its_one_scheduler_lock_or_stops(
        own_postgres: Database, tmp_path: Path) -> None:
    """Correct: a scheduler running after PostgreSQL came back holds the lock again (or
    has stopped) — never one running without it, which lets a standby start beside it."""
    from bot.scheduler import LOCK_POLL
    from tests.faults.conftest import SchedulerProc

    need_root_and("pg_ctlcluster")
    pg_cluster()
    url = own_postgres.url
    await seed_consultation(url)
    async with asyncio.timeout(90), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb:
        scheduler = SchedulerProc(sb, url, tmp_path / "scheduler.log")
        try:
            await scheduler.start()
            assert await asyncio.to_thread(_lock_held_now, url)
            await pg_ctl("restart", "-m", "fast")
            await wait_until(pg_accepts, "PostgreSQL accepting connections after the restart")
            deadline = time.monotonic() + 2 * LOCK_POLL + 2  # time to notice and take the lock again
            while scheduler.alive() and not await asyncio.to_thread(_lock_held_now, url):
                assert time.monotonic() < deadline, (
                    f"the scheduler runs on without its lock {2 * LOCK_POLL + 2:.0f} s after PostgreSQL came back:"
                    f"\n{scheduler.log_tail()}")
                await asyncio.sleep(0.5)
        finally:
            scheduler.kill()
            await ensure_postgres()


# --- Redis ---------------------------------------------------------------------------------------------------


def _redis_answers_now() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def redis_answers() -> bool:
    return await asyncio.to_thread(_redis_answers_now)


async def redis_gone() -> bool:
    return not await redis_answers()


async def start_redis() -> None:
    await run("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(REDIS_PORT),
              "--save", "", "--appendonly", "no")
    await wait_until(redis_answers, "Redis answering PING after a start")


async def ensure_redis() -> None:
    if not await redis_answers():
        await start_redis()


class Organizer:
    """The organizer in the sandbox: sends a message, waits for the bot's answer to it."""

    def __init__(self, user: SandboxUser) -> None:
        self.user = user

    async def say(self, text: str, expect: str | None = None, timeout: float = 15.0) -> dict[str, Any]:  # noqa: ASYNC109
        sent = await self.user.send(text)

        def answered(msgs: list[dict[str, Any]]) -> bool:
            return any(m["from_bot"] and m["message_id"] > sent["message_id"]
                       and (expect is None or expect in (m.get("text") or "")) for m in msgs)

        msgs = await self.user.wait_for_messages(predicate=answered, timeout=timeout)
        return [m for m in msgs if m["from_bot"] and m["message_id"] > sent["message_id"]][-1]


async def fsm_keys(redis_url: str) -> list[bytes]:
    client = aioredis.from_url(redis_url)
    try:
        return [k async for k in client.scan_iter(match=f"fsm:*:{ORGANIZER_ID}:{ORGANIZER_ID}:*")]
    finally:
        await client.aclose()


async def test_redis_restarted_under_the_bot_it_keeps_answering_degrades_once_and_restores_the_fsm(
        sqlite_database: Database, tmp_path: Path) -> None:
    need_root_and("redis-server", "redis-cli")
    if not await redis_answers():
        if IN_CI:
            pytest.fail(f"Redis is not running on 127.0.0.1:{REDIS_PORT}")
        pytest.skip(f"Redis is not running on 127.0.0.1:{REDIS_PORT}")
    url = sqlite_database.url
    redis_url = f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    code = await seed_consultation(url)
    plans = {uid: plan_for(uid) for uid in range(71_001, 71_001 + RESIDENTS)}
    async with asyncio.timeout(150), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                     callback_wait=15) as sb, resident_session() as http:
        bot = BotProc(sb, url, tmp_path / "bot.log", redis_url=redis_url)
        try:
            await bot.start()
            organizer = Organizer(SandboxUser(sb.base_url, TOKEN, ORGANIZER_ID, session=http, first_name="组织者",
                                              language_code="zh-hans"))
            residents = [Resident(SandboxUser(sb.base_url, TOKEN, uid, session=http, first_name=f"居民{uid}",
                                              language_code="zh-hans"), code, plan, step_timeout=15)
                         for uid, plan in plans.items()]

            async def answer_up_to(n: int, live: list[Any] | None) -> list[Any]:
                """Residents answer the first n questions (from `live`, or opening the link)."""
                until = frozenset({FIRST_FOUR[n]})
                got = await asyncio.gather(*(r.run(m, until) for r, m in zip(residents, live or [None] * RESIDENTS,
                                                                            strict=True)), return_exceptions=True)
                failures = [g for g in got if isinstance(g, BaseException)]
                assert not failures, f"{len(failures)} residents stuck, e.g. {failures[:3]}\n{bot.log_tail()}"
                stored = await stored_by_person(url)
                assert stored == {uid: {q: p[q] for q in FIRST_FOUR[:n]} for uid, p in plans.items()}, stored
                return got

            # Redis up: the wizard keeps its step in Redis
            await organizer.say("/new", NEW_TITLE)
            await organizer.say("停机前的征询", TOWNSHIPS)
            assert await fsm_keys(redis_url), "no FSM key of the organizer in Redis"
            live = await answer_up_to(1, None)

            # Redis down
            await run("redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave")
            await wait_until(redis_gone, "Redis stopped")
            reply = await organizer.say("/new", NEW_TITLE)  # answered; the step kept in the process
            reply = await organizer.say("停机中的征询")
            assert TOWNSHIPS in (reply.get("text") or ""), "the wizard lost its step while Redis was down"
            live = await answer_up_to(2, live)  # the residents' place is in the database
            assert bot.alive(), f"the bot exited with Redis down:\n{bot.log_tail()}"
            assert bot.log_text().count(DEGRADED) == 1, bot.log_tail()
            assert RESTORED not in bot.log_text()

            # Redis back (empty)
            await start_redis()
            await organizer.say("/new", NEW_TITLE)
            await organizer.say("恢复后的征询", TOWNSHIPS)
            assert await fsm_keys(redis_url), "no FSM key of the organizer in Redis after it came back"
            await answer_up_to(3, live)
            log = bot.log_text()
            assert log.count(DEGRADED) == 1 and log.count(RESTORED) == 1, bot.log_tail()
            assert log.index(DEGRADED) < log.index(RESTORED)
            assert bot.alive() and bot.starts == 1
            counts = await answer_row_counts(url)
            assert len(counts) == RESIDENTS * 3 and set(counts.values()) == {1}
        finally:
            bot.kill()
            await ensure_redis()
