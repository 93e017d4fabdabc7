"""aiogram parses every answer of the sandbox: each supported Bot API method is
called through a real aiogram Bot pointed at a running sandbox."""

from __future__ import annotations

import struct
import zlib

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from bot.sandbox.server import RunningSandbox
from tests.sandbox.conftest import TOKEN


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs])


async def test_get_me_describes_the_bot(tg: Bot) -> None:
    me = await tg.get_me()
    assert me.id == 123456789 and me.is_bot and me.username.endswith("bot")
    assert me.can_join_groups is True


async def test_a_bots_commands_are_tappable_as_in_telegram(tg: Bot, sandbox: RunningSandbox) -> None:
    """Telegram marks /commands in a bot's own messages as bot_command entities (the web
    chat makes them tappable) — not inside code or a link's text."""
    user = sandbox.user(TOKEN, 8, first_name="小红")
    await user.register()
    sent = await tg.send_message(8, "发送 /mycomments 查看，<code>/x</code> 不算，<a href=\"https://e.org\">/y</a>",
                                 parse_mode="HTML")
    types = [(e.type, sent.text[e.offset:e.offset + e.length]) for e in sent.entities]
    assert ("bot_command", "/mycomments") in types
    assert [t for t in types if t[0] == "bot_command"] == [("bot_command", "/mycomments")]
    assert ("code", "/x") in types and ("text_link", "/y") in types
    edited = await tg.edit_message_text("改为 /help", chat_id=8, message_id=sent.message_id)
    assert [(e.type, e.offset, e.length) for e in edited.entities] == [("bot_command", 3, 5)]


async def test_messages_edits_and_deletes_parse(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 7, first_name="小明", language_code="zh-hans")
    await user.register()
    sent = await tg.send_message(7, "<b>粗体</b> and <i>it</i> 😀 <a href=\"https://example.org\">link</a>",
                                 parse_mode="HTML", reply_markup=keyboard(("是", "yes"), ("否", "no")))
    assert sent.text == "粗体 and it 😀 link"
    types = [(e.type, e.offset, e.length) for e in sent.entities]
    assert ("bold", 0, 2) in types and ("italic", 7, 2) in types
    assert ("text_link", 13, 4) in types  # the emoji counts two UTF-16 units
    assert sent.chat.first_name == "小明" and sent.from_user.is_bot
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "yes"

    reply = await tg.send_message(7, "reply", reply_parameters=ReplyParameters(message_id=sent.message_id))
    assert reply.reply_to_message.message_id == sent.message_id

    edited = await tg.edit_message_text("changed", chat_id=7, message_id=sent.message_id,
                                        reply_markup=keyboard(("ok", "ok")))
    assert edited.text == "changed" and edited.edit_date is not None
    again = await tg.edit_message_reply_markup(chat_id=7, message_id=sent.message_id, reply_markup=None)
    assert again.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await tg.edit_message_text("changed", chat_id=7, message_id=sent.message_id)

    await tg.send_message(7, "kb", reply_markup=ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="甲"), KeyboardButton(text="乙")]], resize_keyboard=True))
    state = sandbox.sandbox.chat_state(TOKEN, 7)
    assert [b["text"] for b in state["reply_keyboard"]["keyboard"][0]] == ["甲", "乙"]
    await tg.send_message(7, "bye kb", reply_markup=ReplyKeyboardRemove())
    assert sandbox.sandbox.chat_state(TOKEN, 7)["reply_keyboard"] is None

    assert await tg.delete_message(7, reply.message_id) is True
    views = await user.messages()
    assert reply.message_id not in [m["message_id"] for m in views]
    assert any(m["edited"] and m["text"] == "changed" for m in views)
    assert await tg.send_chat_action(7, "typing") is True
    chat = await tg.get_chat(7)
    assert chat.id == 7 and chat.type == "private"
    await user.close()


async def test_files_upload_reuse_and_download(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 8)
    await user.register()
    doc = await tg.send_document(8, BufferedInputFile("名单,1\n".encode(), filename="清单.csv"), caption="<b>表</b>",
                                 parse_mode="HTML")
    assert doc.document.file_name == "清单.csv" and doc.document.mime_type == "text/csv"
    assert doc.caption == "表" and doc.caption_entities[0].type == "bold"
    reused = await tg.send_document(8, doc.document.file_id)
    assert reused.document.file_unique_id == doc.document.file_unique_id
    photo = await tg.send_photo(8, BufferedInputFile(tiny_png(), filename="chart.png"))
    assert (photo.photo[-1].width, photo.photo[-1].height) == (3, 2)

    f = await tg.get_file(doc.document.file_id)
    assert f.file_path and f.file_size == len("名单,1\n".encode())
    data = await tg.download_file(f.file_path)
    assert data.read() == "名单,1\n".encode()

    views = await user.messages()
    assert views[-1]["photo"]["url"] and views[0]["document"]["file_name"] == "清单.csv"
    assert await user.download(views[0]["document"]["url"]) == "名单,1\n".encode()

    up = await user.upload(b"hello", "note.txt", caption="my file")
    assert up["document"]["file_name"] == "note.txt"
    updates = await tg.get_updates(timeout=1)
    got = updates[-1].message
    assert got.document.file_name == "note.txt" and got.caption == "my file"
    payload = await tg.download(got.document.file_id)
    assert payload.read() == b"hello"
    await user.close()


async def test_commands_and_callbacks(tg: Bot, sandbox: RunningSandbox) -> None:
    user = sandbox.user(TOKEN, 9, language_code="zh-hans")
    await user.register()
    assert await tg.set_my_commands([BotCommand(command="start", description="开始")]) is True
    assert await tg.set_my_commands([BotCommand(command="help", description="help")],
                                    scope=BotCommandScopeChat(chat_id=9), language_code="en") is True
    assert [c.command for c in await tg.get_my_commands()] == ["start"]
    assert await user.commands() == [{"command": "start", "description": "开始"}]
    assert await tg.delete_my_commands() is True
    assert await tg.get_my_commands() == []

    msg = await tg.send_message(9, "tap", reply_markup=keyboard(("go", "go:1")))
    await tg.get_updates(timeout=0)
    press = await sandbox.sandbox.user_press(TOKEN, 9, msg.message_id, "go:1", wait=0)
    updates = await tg.get_updates(offset=-1, timeout=1)
    query = updates[-1].callback_query
    assert query.data == "go:1" and query.chat_instance and query.message.message_id == msg.message_id
    assert query.id == press["callback_query_id"]
    assert await tg.answer_callback_query(query.id, text="done") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tg.answer_callback_query(query.id)
    await user.close()


async def test_a_press_answered_after_the_expiry_is_refused_as_too_old(tg: Bot, sandbox: RunningSandbox) -> None:
    sandbox.sandbox.callback_expiry = 0.0  # (Telegram's lasts longer, and documents no figure)
    user = sandbox.user(TOKEN, 9)
    await user.register()
    msg = await tg.send_message(9, "tap", reply_markup=keyboard(("go", "go:1")))
    press = await sandbox.sandbox.user_press(TOKEN, 9, msg.message_id, "go:1", wait=0)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tg.answer_callback_query(press["callback_query_id"])
    await user.close()


async def test_webhook_info_and_my_description(tg: Bot) -> None:
    info = await tg.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0
    assert await tg.set_my_description("描述") is True
    assert (await tg.get_my_description()).description == "描述"
    assert await tg.delete_webhook(drop_pending_updates=True) is True


async def test_unknown_method_answers_404(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{sandbox.base_url}/bot{TOKEN}/sendSpaceship") as r:
        assert r.status == 404
        assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with aiohttp.ClientSession() as s, s.get(f"{sandbox.base_url}/bot{TOKEN}/GETME") as r:
        body = await r.json()
        assert r.status == 200 and body["ok"] and body["result"]["id"] == 123456789
    async with aiohttp.ClientSession() as s, s.get(f"{sandbox.base_url}/botnot-a-token/getMe") as r:
        assert r.status == 404
