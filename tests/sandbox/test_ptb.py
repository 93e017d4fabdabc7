"""An unmodified python-telegram-bot Application runs against the sandbox: it
answers a command, edits its message after a button press and sends a document."""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox.server import RunningSandbox
from tests.sandbox.conftest import TOKEN


async def test_ptb_application_talks_to_the_sandbox(sandbox: RunningSandbox) -> None:
    url = sandbox.base_url

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="confirm")]])
        await update.message.reply_html(f"你好 <b>{update.effective_user.first_name}</b>", reply_markup=markup)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("收到")
        await update.callback_query.edit_message_text("已确认")

    async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        f = await update.message.document.get_file()
        data = await f.download_as_bytearray()
        await update.message.reply_document(bytes(data).upper(), filename="echo.txt", caption=f"{len(data)} bytes")

    app = (Application.builder().token(TOKEN).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot").build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.Document.ALL, document))
    user = sandbox.user(TOKEN, 501, first_name="Lin")
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            async with asyncio.timeout(20):
                await user.send("/start")
                greeting = await user.last_bot_message()
                assert greeting["text"] == "你好 Lin"
                assert greeting["entities"][0]["type"] == "bold"
                answer = await user.press_button(greeting, "确认")
                assert answer["answered"] and answer["text"] == "收到"
                msgs = await user.wait_for_messages(predicate=lambda ms: any(m["text"] == "已确认" for m in ms))
                assert [m for m in msgs if m["message_id"] == greeting["message_id"]][0]["edited"]

                await user.upload(b"abc", "in.txt")
                msgs = await user.wait_for_messages(2)
                doc = [m for m in msgs if m["from_bot"]][-1]
                assert doc["document"]["file_name"] == "echo.txt" and doc["caption"] == "3 bytes"
                assert await user.download(doc["document"]["url"]) == b"ABC"
        finally:
            await app.updater.stop()
            await app.stop()
            await user.close()
