"""Reminders through the sandbox Bot API over HTTP with its flood limits on: 2,000
residents reminded with nothing lost and nothing doubled (limits raised so it takes
seconds, the broadcaster just below them), and ~100 at Telegram's real 30/s with a
broadcaster pushing faster, so 429s happen and are handled."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from bot import scheduler as sched
from bot.app import create_bot
from bot.broadcaster import Broadcaster
from bot.config import Settings
from bot.sandbox.limits import RateLimits
from bot.sandbox.server import running_sandbox
from storage.consultations import create_consultation, links, set_status
from storage.engine import make_engine, make_sessionmaker
from storage.lists import save_list
from storage.models import Delivery, Person, Response
from surveys.consultation import Status
from tests.bot.conftest import ITEMS, Clock

TOKEN = "123456:e2e-broadcast-token"


async def _seed(sessions, clock: Clock, n: int) -> int:
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH

    async with sessions() as s:
        row = await save_list(s, "青山镇", ITEMS)
        c = await create_consultation(s, title="青山镇履职事项清单征求意见",
                                      questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"),
                                      closes_at=clock.now + timedelta(days=10), list_ids=[row.id])
        await set_status(s, c, Status.OPEN)
        tid = (await links(s, c.id))[0].township_id
        await s.execute(sa.insert(Person.__table__),
                        [{"id": 10_000 + i, "first_name": f"r{i}", "language": "", "role": "resident",
                          "active": True, "created_at": clock.now} for i in range(n)])
        await s.execute(sa.insert(Response.__table__),
                        [{"consultation_id": c.id, "person_id": 10_000 + i, "township_id": tid,
                          "started_at": clock.now, "updated_at": clock.now} for i in range(n)])
        await s.commit()
        return c.id


async def _remind_through_sandbox(url: str, n: int, limits: RateLimits, rate: float) -> tuple[dict, object]:
    clock = Clock()
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        cid = await _seed(sessions, clock, n)
        async with running_sandbox(rate_limits=limits) as sb:
            for i in range(n):
                sb.sandbox.register_user(TOKEN, 10_000 + i)
            settings = Settings(database_url=url, bot_token=TOKEN, telegram_api_url=sb.base_url)
            bot = create_bot(settings)
            try:
                broadcaster = Broadcaster(bot, sessions, rate=rate)
                s = sched.Services(bot, sessions, settings, broadcaster, clock)
                clock.now = clock.now + timedelta(days=9, hours=1)  # 23 h before the deadline, 11:00 local
                results = await sched.send_reminders(s, cid)
            finally:
                await bot.session.close()
            per_chat = Counter({10_000 + i: len(sb.sandbox.chat_messages(TOKEN, 10_000 + i)) for i in range(n)})
            stats = dict(sb.sandbox.stats)
        async with engine.connect() as conn:
            statuses = Counter((await conn.execute(sa.select(Delivery.status))).scalars())
    finally:
        await engine.dispose()
    assert list(results) == ["deadline-24"]
    return {"per_chat": per_chat, "stats": stats, "statuses": statuses}, results["deadline-24"]


async def test_reminder_to_2000_residents_nothing_lost_nothing_doubled(sqlite_database) -> None:
    limits = RateLimits(per_second=1000, burst=100, per_chat_per_second=1, per_chat_burst=1)
    out, result = await _remind_through_sandbox(sqlite_database.url, 2000, limits, rate=900)
    assert result.sent == 2000 and result.failed == 0 and result.blocked == 0
    assert set(out["per_chat"].values()) == {1}  # everyone exactly one message
    assert out["stats"]["messages"] == 2000
    assert out["statuses"] == Counter({"sent": 2000})


async def test_at_telegrams_real_limit_429s_are_handled(sqlite_database) -> None:
    out, result = await _remind_through_sandbox(sqlite_database.url, 100, RateLimits(), rate=60)
    assert result.retried_429 > 0  # the broadcaster pushed past 30/s and was told to wait
    assert result.sent == 100 and result.failed == 0
    assert set(out["per_chat"].values()) == {1}
    assert out["stats"]["messages"] == 100
