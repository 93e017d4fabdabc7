"""The bot's idempotent Bot API calls are retried on 5xx and network errors; new
messages are not (a retry could double them)."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.methods import EditMessageText, SendMessage

from bot.retry import RetryIdempotent
from bot.testing import TEST_TOKEN, RecordingSession


def _failing(errors: list[Exception]):
    calls: list[str] = []

    async def make_request(bot, method):
        calls.append(method.__api_method__)
        if errors:
            raise errors.pop(0)
        return "ok"

    return make_request, calls


async def test_an_edit_is_retried_until_it_goes_through():
    bot = Bot(TEST_TOKEN, session=RecordingSession())
    method = EditMessageText(chat_id=1, message_id=2, text="第 2/8 题")
    make_request, calls = _failing([TelegramServerError(method, "Internal Server Error"),
                                    TelegramNetworkError(method, "connection dropped")])
    assert await RetryIdempotent(base_delay=0)(make_request, bot, method) == "ok"
    assert calls == ["editMessageText"] * 3


async def test_a_new_message_is_not_retried():
    bot = Bot(TEST_TOKEN, session=RecordingSession())
    method = SendMessage(chat_id=1, text="hi")
    make_request, calls = _failing([TelegramNetworkError(method, "timeout")])
    with pytest.raises(TelegramNetworkError):
        await RetryIdempotent(base_delay=0)(make_request, bot, method)
    assert calls == ["sendMessage"]


async def test_retries_are_bounded():
    bot = Bot(TEST_TOKEN, session=RecordingSession())
    method = EditMessageText(chat_id=1, message_id=2, text="x")
    make_request, calls = _failing([TelegramServerError(method, "e") for _ in range(5)])
    with pytest.raises(TelegramServerError):
        await RetryIdempotent(attempts=3, base_delay=0)(make_request, bot, method)
    assert len(calls) == 3
