"""End to end over HTTP: an aiogram Dispatcher polling the sandbox answers /start,
edits its message on a button press and receives an upload; long polling returns
at once when an update arrives and after `timeout` when none does; offsets confirm
updates."""

from __future__ import annotations

import asyncio
import time

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

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
            await user.upload("清单 ok".encode(), "清单.txt")
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
