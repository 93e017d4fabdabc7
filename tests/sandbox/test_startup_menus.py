"""An organizer in ORGANIZER_IDS who has not written to the bot yet: Telegram refuses a menu for
their chat ("Bad Request: chat not found"), which the sandbox accepted, hiding a bot that could
not start."""

from __future__ import annotations

import asyncio

from aiogram.types import BotCommandScopeChat

from bot.app import build_runtime, run_polling
from bot.config import Settings
from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.sandbox.conftest import TOKEN, make_bot


async def test_a_menu_for_a_chat_that_does_not_exist_is_refused_as_telegram_refuses_it() -> None:
    import pytest
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.types import BotCommand

    async with running_sandbox(tokens=[TOKEN]) as sb:
        bot = make_bot(sb.base_url)
        try:
            menu = [BotCommand(command="stats", description="进度")]
            for call in (lambda: bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id=777)),
                         lambda: bot.get_my_commands(scope=BotCommandScopeChat(chat_id=777)),
                         lambda: bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=777))):
                with pytest.raises(TelegramBadRequest, match="chat not found"):
                    await call()
            sb.sandbox.user_send(TOKEN, 777, "/start")  # once they wrote, their chat has a menu of its own
            assert await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id=777))
            assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=777))] == ["stats"]
        finally:
            await bot.session.close()


async def test_the_bot_starts_with_an_organizer_who_never_wrote_and_gives_them_their_menu_at_start(
        sqlite_database: Database) -> None:
    """`qingdan run` set every organizer's menu at start and stopped on Telegram's "chat not
    found" for one who had not written to the bot yet (a new colleague added to ORGANIZER_IDS):
    no bot at all. It starts, the others get their menu, and that organizer gets theirs with
    their first /start."""
    settings = Settings(_env_file=None, database_url=sqlite_database.url, bot_token=TOKEN,
                        organizer_ids=[1001, 1002])
    async with running_sandbox(tokens=[TOKEN]) as sb:
        sb.sandbox.register_user(TOKEN, 1002, "老组织者", language_code="zh-hans")
        runtime = build_runtime(settings.model_copy(update={"telegram_api_url": sb.base_url}))
        polling = asyncio.create_task(run_polling(runtime, handle_signals=False))
        try:
            b = sb.sandbox.bots[TOKEN]
            user = sb.user(TOKEN, 1001, first_name="新组织者", language_code="zh-hans")
            async with asyncio.timeout(20):
                for _ in range(400):  # the bot's start-up calls
                    if polling.done() or "stats" in [c["command"] for c in
                                                      sb.sandbox.effective_commands(b, b.chats[1002])]:
                        break
                    await asyncio.sleep(0.05)
                assert not polling.done(), polling.exception()
                assert "stats" in [c["command"] for c in sb.sandbox.effective_commands(b, b.chats[1002])]
                await user.send("/start")
                await user.wait_for_messages(1)
                assert "stats" in [c["command"] for c in await user.commands()]
            await user.close()
        finally:
            await runtime.dp.stop_polling()
            await asyncio.wait_for(polling, 10)
