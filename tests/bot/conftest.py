"""Handler-test harness: the real Dispatcher, middlewares and routers on a migrated
database, with a recording Bot API session and an adjustable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import build_dispatcher, create_bot
from bot.broadcaster import Broadcaster
from bot.config import Settings
from bot.testing import TEST_TOKEN, RecordingSession, Updates, feed
from storage.consultations import create_consultation, set_status
from storage.engine import make_engine, make_sessionmaker
from storage.fsm import SQLStorage
from storage.lists import save_list
from surveys.consultation import Status
from surveys.duty_list import DutyItem, Part

ORGANIZER = 900001

ITEMS = [
    DutyItem(Part.BASIC, "发展党员及党员教育管理监督服务", seq=1, category="党的建设", basis="《中国共产党发展党员工作细则》"),
    DutyItem(Part.BASIC, "最低生活保障、特困供养、临时救助的申请受理和调查审核", seq=2, category="民生服务",
             basis="《社会救助暂行办法》", county_department="县民政局"),
    DutyItem(Part.BASIC, "矛盾纠纷排查化解与人民调解", seq=3, category="平安法治", basis="《人民调解法》"),
    DutyItem(Part.COOPERATING, "消防安全检查与火灾隐患整治", seq=1, category="平安法治",
             county_department="县消防救援大队", content="巡查发现报告", basis="《消防法》"),
    DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, category="市场监管", receiving_department="县市场监管局"),
]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@dataclass
class Harness:
    dp: Dispatcher
    bot: Bot
    api: RecordingSession
    sessions: object
    settings: Settings
    clock: Clock

    async def feed(self, update: Update) -> None:
        await feed(self.dp, self.bot, update)

    def user(self, user_id: int, language_code: str | None = "zh-hans") -> Updates:
        return Updates(user_id, language_code=language_code)


@pytest.fixture
async def harness(database):
    engine = make_engine(database.url)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=database.url, organizer_ids=[ORGANIZER], bot_username="qingdan_test_bot")
    clock = Clock()
    api = RecordingSession()
    bot = create_bot(settings, session=api, token=TEST_TOKEN)  # the bot's own request middlewares
    dp = build_dispatcher(settings, sessions, SQLStorage(engine, clock=clock), clock)
    dp["broadcaster"] = Broadcaster(bot, sessions, rate=1000, per_chat_interval=0)
    yield Harness(dp, bot, api, sessions, settings, clock)
    await engine.dispose()


async def open_consultation(h: Harness, questionnaire: str | None = None, township: str = "青山镇",
                            items: list[DutyItem] | None = None, status: Status = Status.OPEN,
                            title: str = "青山镇履职事项清单征求意见") -> tuple[int, str]:
    """A consultation on a small list, open now and closing in ten days: (id, link code)."""
    from storage.consultations import links
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH

    text = questionnaire or DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8")
    async with h.sessions() as s:
        row = await save_list(s, township, items or ITEMS)
        c = await create_consultation(s, title=title, questionnaire=text,
                                      closes_at=h.clock.now + timedelta(days=10), list_ids=[row.id])
        if status != Status.DRAFT:
            await set_status(s, c, Status.OPEN, h.clock.now)
        if status == Status.CLOSED:
            await set_status(s, c, Status.CLOSED, h.clock.now)
        await s.commit()
        code = (await links(s, c.id))[0].code
        return c.id, code


async def close_early(h: Harness, arg: str = "", user: int = ORGANIZER, language_code: str = "zh-hans") -> None:
    """/close [arg] before the deadline, and its confirmation pressed (✅ 确认结束)."""
    from bot.testing import buttons

    who = h.user(user, language_code=language_code)
    await h.feed(who.message(f"/close {arg}".strip()))
    confirm = h.api.last(user)
    [(_label, data)] = [b for b in buttons(confirm.reply_markup) if b[1].startswith("ox:") and ":close:" in b[1]]
    await h.feed(who.press(confirm.message_id, data))


WEBHOOK_SECRET = "s3cret"


@asynccontextmanager
async def webhook_served(dp: Dispatcher, bot: Bot) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """`dp` behind the bot's webhook handler on a free local port, as Telegram reaches it:
    yields (url, headers with the secret token)."""
    from aiohttp import web

    from bot.webhook import JsonReplyRequestHandler

    app = web.Application()
    JsonReplyRequestHandler(dispatcher=dp, bot=bot, handle_in_background=False,
                            secret_token=WEBHOOK_SECRET).register(app, path="/hook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    finally:
        await runner.cleanup()
