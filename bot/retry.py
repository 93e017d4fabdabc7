"""Retrying the bot's own idempotent Bot API calls.

aiogram does not retry. A 5xx or a dropped connection on the edit that shows the next
question would leave the resident looking at the old one although the answer is
stored. Calls that are safe to repeat (editing a message, answering a button press,
deleting a message, settings) are retried a few times with backoff. Sending a new
message is not: a timeout can hide a message that did arrive, and a double message is
worse than a missing one (the resident gets the question again by writing anything).
429s are not handled here: the broadcaster paces and honours retry_after itself.

An edit Telegram refuses as "message is not modified" has nothing left to do: the
message shows that already (`AlreadyShown`); nor has the answer to a press Telegram
refuses as "query is too old" (`PressTooOld`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot
    from aiogram.methods import TelegramMethod

log = logging.getLogger(__name__)
T = TypeVar("T")

IDEMPOTENT = frozenset({
    "editMessageText", "editMessageReplyMarkup", "editMessageCaption", "answerCallbackQuery", "deleteMessage",
    "getMe", "getFile", "setMyCommands", "deleteMyCommands", "setWebhook", "deleteWebhook", "getWebhookInfo",
    "sendChatAction",
})


class RetryIdempotent(BaseRequestMiddleware):
    def __init__(self, attempts: int = 3, base_delay: float = 0.3) -> None:
        self.attempts = attempts
        self.base_delay = base_delay

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ not in IDEMPOTENT:
            return await make_request(bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except (TelegramServerError, TelegramNetworkError) as e:
                if attempt == self.attempts:
                    raise
                delay = self.base_delay * 2 ** (attempt - 1)
                log.info("%s failed (%s); retry %d in %.1f s", method.__api_method__, e, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


async def waiting_out_floods(call: Callable[[], Awaitable[T]], attempts: int = 5, max_wait: float = 60) -> T:
    """`call()`, and again after Telegram's flood wait each time it answers 429 (the request
    was not carried out, so any method may be repeated): for a handler's few messages in a
    row to one chat — QR codes, files — beyond the per-chat burst."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TelegramRetryAfter as e:
            if attempt == attempts or e.retry_after > max_wait:
                raise
            log.info("%s: flood wait of %s s", e.method.__api_method__, e.retry_after)
            await asyncio.sleep(e.retry_after)
    raise AssertionError("unreachable")


EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})
NOT_MODIFIED = "message is not modified"


class AlreadyShown(BaseRequestMiddleware):
    """An edit Telegram refuses with "Bad Request: message is not modified" succeeded: the
    message already shows that text and keyboard. It happens whenever a screen is put on a
    message again unchanged — the second tap of a double tap (start, pause, a page, a filter,
    a language), or a retried edit whose first attempt got through — and it raised out of
    the handler (a traceback; under a webhook a 500, and Telegram delivered the update again).
    Registered outside RetryIdempotent, so that it sees what a retry gets."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ not in EDITS:
            return await make_request(bot, method)
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as e:
            if NOT_MODIFIED not in e.message:
                raise
            log.debug("%s: the message shows that already", method.__api_method__)
            return True


TOO_OLD = "query is too old"  # "…and response timeout expired or query ID is invalid"


class PressTooOld(BaseRequestMiddleware):
    """answerCallbackQuery refused with "Bad Request: query is too old and response timeout
    expired or query ID is invalid" is left unanswered: the person's app stopped waiting for
    that answer long ago. Telegram refuses an answer that comes late — a press handled after
    a restart or in a backlog — or twice (a retried answer whose first attempt got through).
    It raised out of the handler, and most handlers answer a press before they do its work:
    the work was never done (a /delete_me confirmed, nothing deleted). The work goes on."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ != "answerCallbackQuery":
            return await make_request(bot, method)
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as e:
            if TOO_OLD not in e.message:
                raise
            log.info("a press answered too late for Telegram; its work goes on unanswered")
            return True
