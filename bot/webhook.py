"""The webhook's HTTP handler: aiogram's, except that a Bot API method returned by a
handler (a press's answer, see bot.routers.resident.edited) goes back in the reply as
one JSON object, as the Bot API allows, instead of aiogram's multipart form — the same
encoding the bot's own requests use (bot.session). A method with files to upload keeps
aiogram's form. A body that is not an update (not JSON, or JSON of another shape) gets a
400 and a log line, not a 500 with a traceback: Telegram never sends one, so it is a
misconfigured proxy or a stranger holding the secret, and nothing is worth retrying.

Its deliveries carry `bot.errors.REDELIVERED`: an update that fails because the database is
out of reach is answered 500 (Telegram delivers it again) instead of with an apology."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.payload import JsonPayload, Payload

from bot.errors import REDELIVERED
from bot.session import JsonAiohttpSession

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod


log = logging.getLogger(__name__)


class JsonReplyRequestHandler(SimpleRequestHandler):
    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        ok = super().verify_secret(telegram_secret_token, bot)
        if not ok:  # a rotated secret or a proxy dropping the header would otherwise be a silent outage
            log.warning("webhook delivery refused: %s secret token (check WEBHOOK_SECRET and the proxy)",
                        "a wrong" if telegram_secret_token else "no")
        return ok

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:  # pydantic's ValidationError and json's JSONDecodeError are both ValueErrors
            update = Update.model_validate(await request.json(loads=bot.session.json_loads), context={"bot": bot})
        except ValueError as e:
            log.warning("webhook delivery refused: the body is not an update (%s)", str(e).splitlines()[0][:200])
            return web.Response(status=400, text="Bad Request: not a Telegram update")
        # an error that handling it again may not meet (the database out of reach) answers 500:
        # Telegram delivers the update again; any other is answered by an apology (bot.errors)
        result = await self.dispatcher.feed_webhook_update(bot, update, **self.data, **{REDELIVERED: True})
        return web.Response(body=self._build_response_writer(bot=bot, result=result))

    def _build_response_writer(self, bot: Bot, result: TelegramMethod[Any] | None) -> Payload:
        session = bot.session
        if result and isinstance(session, JsonAiohttpSession):
            payload, has_files = session.json_payload(bot, result)
            if not has_files:
                return JsonPayload({"method": result.__api_method__, **payload}, dumps=session.json_dumps)
        return super()._build_response_writer(bot, result)
