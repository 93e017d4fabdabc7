"""Two processes on one SQLite file, as a small installation runs them: the bot
(`python -m bot run`, long polling the sandbox) and `python -m bot scheduler` sending a
deadline reminder to 100 residents, while 150 other residents answer through the bot.
Neither process meets "database is locked": every answer is stored once, every reminder
goes out once, and both logs are free of the error."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.sandbox.client import SandboxUser
from bot.sandbox.server import running_sandbox
from storage.consultations import links
from storage.engine import make_engine, make_sessionmaker
from storage.followup import remind_key
from storage.models import Consultation
from tests.conftest import Database
from tests.faults.conftest import (
    BOT_USERNAME,
    TOKEN,
    BotProc,
    SchedulerProc,
    answer_row_counts,
    stored_by_person,
)
from tests.faults.residents import FIRST_FOUR, Resident, plan_for, resident_session
from tests.faults.test_scheduler_kill import KIND, delivery_statuses, reminders_in_chats, seed, set_remind_run

pytestmark = [pytest.mark.slow, pytest.mark.faults]

ANSWERING = 150
FIRST_ANSWERING = 70_001
UNTIL = frozenset({FIRST_FOUR[3]})  # until the fourth question is on screen: three answers each


class BotAlone(BotProc):
    """`python -m bot run --no-scheduler`: the scheduler is the other process."""

    @property
    def args(self) -> list[str]:
        return [*super().args, "--no-scheduler"]


async def _code(url: str) -> str:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            import sqlalchemy as sa

            c = (await s.scalars(sa.select(Consultation))).one()
            return (await links(s, c.id))[0].code
    finally:
        await engine.dispose()


async def test_the_bot_and_the_scheduler_on_one_sqlite_file_under_load_never_meet_a_locked_database(
        sqlite_database: Database, tmp_path: Path) -> None:
    url = sqlite_database.url
    cid, deadline, unfinished, _finished = await seed(url)
    code = await _code(url)
    key = remind_key(cid, KIND, deadline)
    await asyncio.to_thread(set_remind_run, url, cid, datetime.now(UTC) - timedelta(minutes=5))
    plans = {uid: plan_for(uid) for uid in range(FIRST_ANSWERING, FIRST_ANSWERING + ANSWERING)}
    answered = FIRST_FOUR[:3]

    async with asyncio.timeout(240), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb, \
            resident_session() as http:
        for uid in unfinished:
            sb.sandbox.register_user(TOKEN, uid, f"居民{uid}", language_code="zh-hans")
        bot = BotAlone(sb, url, tmp_path / "bot.log")
        scheduler = SchedulerProc(sb, url, tmp_path / "scheduler.log")
        try:
            await bot.start()
            residents = [Resident(SandboxUser(sb.base_url, TOKEN, uid, session=http, first_name=f"居民{uid}",
                                              language_code="zh-hans"), code, plan, step_timeout=30)
                         for uid, plan in plans.items()]
            tasks = [asyncio.create_task(r.run(None, UNTIL)) for r in residents]
            await asyncio.sleep(0.5)  # the answers are under way when the reminders start
            await scheduler.start()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            assert not failures, f"{len(failures)} residents did not get through, e.g. {failures[:3]}"
            settle = time.monotonic() + 60
            while f"broadcast {key}: sent" not in scheduler.log_text():
                assert scheduler.alive(), scheduler.log_tail()
                assert time.monotonic() < settle, f"the reminders did not finish in 60 s:\n{scheduler.log_tail()}"
                await asyncio.sleep(0.1)
            assert bot.alive() and scheduler.alive()
        finally:
            bot.stop()
            scheduler.stop()
        for proc in (bot, scheduler):
            assert "database is locked" not in proc.log_text(), proc.log_tail(80)
            assert "Traceback" not in proc.log_text(), proc.log_tail(80)
        assert set(reminders_in_chats(sb, unfinished).values()) == {1}
    assert set((await delivery_statuses(url, key)).values()) == {"sent"}
    stored = await stored_by_person(url)
    assert {uid: stored.get(uid) for uid in plans} == {uid: {q: p[q] for q in answered} for uid, p in plans.items()}
    assert set((await answer_row_counts(url)).values()) == {1}
