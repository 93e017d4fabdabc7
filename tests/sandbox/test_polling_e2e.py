"""End to end over HTTP: an aiogram Dispatcher polling the sandbox answers /start,
edits its message on a button press and receives an upload; long polling returns
at once when an update arrives and after `timeout` when none does; offsets confirm
updates."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.sandbox.client import SandboxError
from bot.sandbox.server import RunningSandbox
from tests.sandbox.conftest import TOKEN, make_bot


def demo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="下一步", callback_data="next")]])
        await message.answer(f"欢迎 payload={command.args}", reply_markup=kb)

    @router.callback_query(F.data == "next")
    async def next_step(query: CallbackQuery) -> None:
        await query.message.edit_text("第二步")
        await query.answer("好的", show_alert=True)

    @router.message(F.document)
    async def got_document(message: Message, bot: Bot) -> None:
        data = await bot.download(message.document.file_id)
        await message.answer(f"收到 {message.document.file_name} {len(data.read())}")

    return router


async def test_dispatcher_bot_over_http(sandbox: RunningSandbox) -> None:
    bot = make_bot(sandbox.base_url)
    dp = Dispatcher()
    dp.include_router(demo_router())
    task = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
    user = sandbox.user(TOKEN, 601, first_name="居民", language_code="zh-hans")
    try:
        async with asyncio.timeout(20):
            await user.send("/start abc")
            first = await user.last_bot_message()
            assert first["text"] == "欢迎 payload=abc"
            answer = await user.press(first["message_id"], "next")
            assert answer == {**answer, "answered": True, "text": "好的", "show_alert": True}
            msgs = await user.wait_for_messages(predicate=lambda ms: ms[1]["text"] == "第二步")
            assert msgs[1]["edited"] and msgs[1]["reply_markup"] is None
            sent = await user.upload("清单 ok".encode(), "清单.txt", reply_to_message_id=first["message_id"])
            assert sent["reply_to_message_id"] == first["message_id"]  # (the web chat's ↩ before a file)
            msgs = await user.wait_for_messages(2)
            assert msgs[-1]["text"] == "收到 清单.txt 9"
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 10)
        await user.close()


async def test_long_polling_waits_and_wakes(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 602)
    await user.register()
    t0 = time.monotonic()
    assert await tg.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - t0 < 3

    async def later() -> None:
        await asyncio.sleep(0.2)
        await user.send("hi")

    sender = asyncio.create_task(later())
    t0 = time.monotonic()
    updates = await tg.get_updates(timeout=10)
    assert time.monotonic() - t0 < 2 and updates[0].message.text == "hi"
    await sender

    await user.send("second")
    again = await tg.get_updates(timeout=0)
    assert [u.message.text for u in again] == ["hi", "second"]  # nothing confirmed yet
    confirmed = await tg.get_updates(offset=again[0].update_id + 1, timeout=0)
    assert [u.message.text for u in confirmed] == ["second"]
    assert await tg.get_updates(offset=confirmed[-1].update_id + 1, timeout=0) == []
    await user.send("a")
    await user.send("b")
    limited = await tg.get_updates(limit=1, timeout=0)
    assert [u.message.text for u in limited] == ["a"]
    await user.close()


async def test_allowed_updates_filters_new_updates(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 603)
    await user.register()
    await tg.get_updates(allowed_updates=["callback_query"], timeout=0)
    await user.send("ignored")
    assert await tg.get_updates(timeout=0) == []
    await tg.get_updates(allowed_updates=[], timeout=0)
    await user.send("seen")
    assert [u.message.text for u in await tg.get_updates(timeout=0)] == ["seen"]
    await user.close()


async def test_a_user_edits_a_message_of_theirs_and_the_bot_gets_edited_message(sandbox: RunningSandbox) -> None:
    """The bot follows a typed answer edited in Telegram (an `edited_message` update), but the
    sandbox had no way for a user to edit a message: the web chat could not try it. A user's
    edit reaches the bot with the same message_id, the new text and an edit_date; the chat
    shows it edited; the same text again sends nothing; a bot's message is not theirs to edit."""
    bot = make_bot(sandbox.base_url)
    router = Router()

    @router.edited_message(F.text)
    async def edited(message: Message) -> None:
        await message.answer(f"改为 {message.text} #{message.message_id} {message.edit_date is not None}")

    @router.message(F.text)
    async def typed(message: Message) -> None:
        await message.answer(f"收到 {message.text}")

    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
    user = sandbox.user(TOKEN, 602, first_name="居民")
    try:
        async with asyncio.timeout(20):
            sent = await user.send("65")
            await user.wait_for_messages(1)
            view = await user.edit(sent["message_id"], "六十五")
            assert view["text"] == "六十五" and view["edited"]
            msgs = await user.wait_for_messages(2)
            assert msgs[-1]["text"] == f"改为 六十五 #{sent['message_id']} True"
            assert msgs[0]["text"] == "六十五" and msgs[0]["edited"]
            await user.edit(sent["message_id"], "六十五")  # unchanged: no update
            with pytest.raises(SandboxError) as refused:
                await user.edit(msgs[1]["message_id"], "改机器人的话")
            assert refused.value.status == 400
            with pytest.raises(SandboxError) as missing:
                await user.edit(999, "x")
            assert missing.value.status == 404
            await user.send("好")
            msgs = await user.wait_for_messages(3)
            assert [m["text"] for m in msgs[3:]] == ["好", "收到 好"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 10)
