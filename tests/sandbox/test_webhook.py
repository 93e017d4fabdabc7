"""Webhook mode: updates are POSTed to the bot's receiver with the secret header;
a failing receiver is retried with backoff; getUpdates meanwhile answers 409."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramConflictError
from aiohttp import web

from bot.sandbox.server import RunningSandbox, running_sandbox
from tests.sandbox.conftest import TOKEN, make_bot


async def test_webhook_delivery_with_secret_and_retries() -> None:
    received: list[tuple[int, str | None]] = []
    failures = {"left": 2}
    got_one = asyncio.Event()

    async def receiver(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.Response(status=500)
        got_one.set()
        if update.get("message", {}).get("text") == "reply please":
            return web.json_response({"method": "sendMessage", "chat_id": update["message"]["chat"]["id"],
                                      "text": "from the webhook answer"})
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    async with running_sandbox(webhook_retry_base=0.05) as sb:
        bot = make_bot(sb.base_url)
        user = sb.user(TOKEN, 701)
        try:
            assert await bot.set_webhook(hook_url, secret_token="s3cret_token") is True
            with pytest.raises(TelegramConflictError):
                await bot.get_updates(timeout=0)
            await user.send("hello")
            await asyncio.wait_for(got_one.wait(), 10)
            ids = [uid for uid, _ in received]
            assert len(ids) == 3 and len(set(ids)) == 1  # two failures, then the same update again
            assert all(secret == "s3cret_token" for _, secret in received)
            info = await bot.get_webhook_info()
            assert info.url == hook_url and info.pending_update_count == 0
            assert "500" in (info.last_error_message or "")

            await user.send("reply please")
            msgs = await user.wait_for_messages(1, timeout=5)
            assert msgs[-1]["text"] == "from the webhook answer"

            assert await bot.delete_webhook() is True
            await user.send("polled")
            assert [u.message.text for u in await bot.get_updates(timeout=1)] == ["polled"]
        finally:
            await bot.session.close()
            await user.close()
    await runner.cleanup()


async def test_pending_updates_survive_until_receiver_is_up(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 702)
    await user.send("queued")
    assert await tg.set_webhook("http://127.0.0.1:9/nowhere") is True
    await asyncio.sleep(0.3)
    info = await tg.get_webhook_info()
    assert info.pending_update_count == 1 and info.last_error_message
    assert await tg.delete_webhook() is True
    updates = await tg.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["queued"]
    assert json.loads((await tg.get_webhook_info()).model_dump_json())["url"] == ""
    await user.close()
