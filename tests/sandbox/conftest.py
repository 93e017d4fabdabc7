"""Fixtures for the sandbox tests: a running sandbox on a free port and an aiogram
Bot pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.sandbox.server import RunningSandbox, running_sandbox

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def make_bot(base_url: str, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(port=0, callback_wait=5.0) as sb:
        yield sb


@pytest.fixture
async def tg(sandbox: RunningSandbox) -> AsyncIterator[Bot]:
    bot = make_bot(sandbox.base_url)
    yield bot
    await bot.session.close()
