"""Several bot processes: two webhook workers (`python -m bot run --webhook --workers 1`,
reuse-port on one port) sharing PostgreSQL and Redis (FSM), behind the sandbox's
webhook. 500 residents answer; one worker is killed with SIGKILL halfway. Updates it
was handling get no HTTP answer, so the sandbox delivers them again (to the survivor):
every answer is stored exactly once and every resident finishes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.sandbox.client import SandboxUser
from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.faults.conftest import (
    BOT_USERNAME,
    TOKEN,
    BotProc,
    answer_row_counts,
    free_port,
    seed_consultation,
    stored_by_person,
)
from tests.faults.residents import FIRST_FOUR, Resident, plan_for, resident_session

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.postgres, pytest.mark.redis]

RESIDENTS = 500
ANSWERED = FIRST_FOUR[:2]
UNTIL = frozenset({FIRST_FOUR[2]})
STEPS_EACH = 2 + len(ANSWERED)


async def test_two_webhook_workers_one_killed_halfway_every_answer_once_everyone_finishes(
        own_postgres: Database, redis_url: str, tmp_path: Path) -> None:
    code = await seed_consultation(own_postgres.url)
    port = free_port()
    redis = redis_url.rsplit("/", 1)[0] + "/12"  # a Redis database of its own
    client = aioredis.from_url(redis)
    await client.flushdb()
    await client.aclose()
    plans = {uid: plan_for(uid) for uid in range(50_001, 50_001 + RESIDENTS)}
    steps = 0

    def step(_screen: str) -> None:
        nonlocal steps
        steps += 1

    async with asyncio.timeout(200), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                     webhook_timeout=60.0) as sb, resident_session() as http:
        workers = [BotProc(sb, own_postgres.url, tmp_path / f"worker{n}.log", redis_url=redis, webhook_port=port,
                           register=n == 0) for n in range(2)]
        try:
            for w in workers:
                await w.start()
            residents = [Resident(SandboxUser(sb.base_url, TOKEN, uid, session=http, first_name=f"居民{uid}",
                                              language_code="zh-hans"), code, plan, step_timeout=30, on_step=step)
                         for uid, plan in plans.items()]
            tasks = [asyncio.create_task(r.run(None, UNTIL)) for r in residents]
            started = time.monotonic()
            while steps < 0.5 * RESIDENTS * STEPS_EACH:
                assert not all(t.done() for t in tasks), "the residents finished before the kill"
                assert time.monotonic() - started < 120, f"only {steps} steps in 120 s"
                await asyncio.sleep(0.02)
            workers[1].kill()
            killed_at = steps
            results = await asyncio.gather(*tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            assert not failures, (f"{len(failures)} residents did not finish, e.g. {failures[:3]}\n"
                                  f"{workers[0].log_tail()}")
            assert workers[0].alive() and not workers[1].alive()
            assert "is handled" in workers[1].log_text(), "the killed worker never handled an update"

            stored = await stored_by_person(own_postgres.url)
            assert stored == {uid: {q: plan[q] for q in ANSWERED} for uid, plan in plans.items()}
            counts = await answer_row_counts(own_postgres.url)
            assert len(counts) == RESIDENTS * len(ANSWERED) and set(counts.values()) == {1}
            print(f"worker killed after {killed_at} steps; {sum(r.recoveries for r in residents) - RESIDENTS} "
                  "recoveries")
        finally:
            for w in workers:
                w.kill()
