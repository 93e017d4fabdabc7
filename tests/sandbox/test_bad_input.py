"""Bad input is answered as Telegram would, and the sandbox keeps running."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge, TelegramForbiddenError
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.sandbox.server import RunningSandbox
from tests.sandbox.conftest import TOKEN

MB = 1024 * 1024


async def _raw(sandbox: RunningSandbox, method: str, **kw: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(f"{sandbox.base_url}/bot{TOKEN}/{method}", **kw) as r:
        return r.status, await r.json()


async def test_malformed_requests(sandbox: RunningSandbox, tg: Bot) -> None:
    sandbox.sandbox.register_user(TOKEN, 5)
    status, body = await _raw(sandbox, "sendMessage", data=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert status == 400 and body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: can't parse JSON")
    status, body = await _raw(sandbox, "sendMessage", json={"text": "hi"})
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    status, body = await _raw(sandbox, "sendMessage", data={"chat_id": "5", "text": "form works"})
    assert status == 200 and body["result"]["text"] == "form works"
    status, body = await _raw(sandbox, "sendMessage", json={"chat_id": 999, "text": "hi"})
    assert body["description"] == "Bad Request: chat not found"

    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await tg.send_message(5, "   ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await tg.send_message(5, "长" * 4097)
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Unsupported start tag \"div\""):
        await tg.send_message(5, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end tag"):
        await tg.send_message(5, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await tg.edit_message_text("x", chat_id=5, message_id=4242)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await tg.delete_message(5, 4242)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await tg.send_message(5, "x", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x" * 65)]]))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await tg.send_document(5, "no-such-file-id")
    assert (await tg.get_me()).id == 123456789


async def test_callback_on_deleted_message_and_blocked_user(sandbox: RunningSandbox, tg: Bot) -> None:
    user = sandbox.user(TOKEN, 6)
    await user.register()
    msg = await tg.send_message(6, "x", reply_markup=InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x")]]))
    await tg.delete_message(6, msg.message_id)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{user.url}/users/6/press", json={"message_id": msg.message_id, "data": "x"}) as r:
            assert r.status == 404
        async with s.post(f"{user.url}/users/6/send", data=b"{oops") as r:
            assert r.status == 400
    await user.set_blocked(True)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await tg.send_message(6, "hello?")
    await user.send("I'm back")
    assert (await tg.send_message(6, "welcome back")).text == "welcome back"
    await user.close()


async def test_blocking_and_unblocking_tell_the_bot_with_my_chat_member(sandbox: RunningSandbox, tg: Bot) -> None:
    """As Telegram: a my_chat_member update (the bot "member" → "kicked") when the user blocks
    the bot, the reverse when they unblock it or write to it again, nothing for a repeat."""
    user = sandbox.user(TOKEN, 8)
    await user.register()

    async def changes() -> list[tuple[str, str]]:
        updates = await tg.get_updates(timeout=0)
        if updates:
            await tg.get_updates(offset=updates[-1].update_id + 1, timeout=0)  # confirm them
        out = []
        for u in updates:
            if u.my_chat_member is not None:
                ch = u.my_chat_member
                assert (ch.chat.id, ch.from_user.id, ch.new_chat_member.user.id) == (8, 8, tg.id)
                out.append((ch.old_chat_member.status, ch.new_chat_member.status))
            else:
                out.append(("message", u.message.text))
        return out

    await user.set_blocked(True)
    await user.set_blocked(True)
    assert await changes() == [("member", "kicked")]
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await tg.send_message(8, "hello?")
    await user.set_blocked(False)
    assert await changes() == [("kicked", "member")]
    assert (await tg.send_message(8, "welcome back")).text == "welcome back"
    await user.set_blocked(True)
    await user.send("/start")
    assert await changes() == [("member", "kicked"), ("kicked", "member"), ("message", "/start")]
    await user.close()


async def test_uploads_over_the_limits(sandbox: RunningSandbox, tg: Bot) -> None:
    user = sandbox.user(TOKEN, 7)
    await user.register()
    with pytest.raises(TelegramEntityTooLarge):
        await tg.send_document(7, BufferedInputFile(b"\0" * (60 * MB), filename="big.bin"))
    with pytest.raises(Exception) as err:
        await user.upload(b"\0" * (51 * MB), "big.bin")
    assert getattr(err.value, "status", None) == 413
    big = await user.upload(b"\1" * (21 * MB), "21mb.bin")
    assert big["document"]["file_size"] == 21 * MB
    update = (await tg.get_updates(timeout=0))[-1]
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await tg.get_file(update.message.document.file_id)
    assert (await tg.get_me()).is_bot
    await user.close()


async def test_keyboards_past_telegrams_button_limits_are_refused(sandbox: RunningSandbox, tg: Bot) -> None:
    """Telegram refuses an inline keyboard of more than 100 buttons (a reply keyboard: 300) as
    "reply markup is too long", and a button without text; the sandbox too, so a screen that
    grows with the data (a county's townships) is caught before a real chat gets nothing."""
    sandbox.sandbox.register_user(TOKEN, 5)

    def inline(n: int, per_row: int = 1) -> InlineKeyboardMarkup:
        cells = [InlineKeyboardButton(text=str(k), callback_data=str(k)) for k in range(n)]
        return InlineKeyboardMarkup(inline_keyboard=[cells[i:i + per_row] for i in range(0, n, per_row)])

    await tg.send_message(5, "100 fit", reply_markup=inline(100, 5))
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        await tg.send_message(5, "x", reply_markup=inline(101))
    sent = await tg.send_message(5, "x", reply_markup=inline(1))
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        await tg.edit_message_reply_markup(chat_id=5, message_id=sent.message_id, reply_markup=inline(101, 8))
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        await tg.send_message(5, "x", reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=str(k))] for k in range(301)]))
    with pytest.raises(TelegramBadRequest, match="BUTTON_TEXT_EMPTY"):
        await tg.send_message(5, "x", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="", callback_data="x")]]))


async def test_a_users_message_and_caption_are_measured_in_utf16_units_as_telegram_does(sandbox: RunningSandbox) -> None:
    """The user side let through 2,100 emoji (4,200 UTF-16 units, over Telegram's 4,096) because
    it counted Python characters; a message and a file's caption are now measured as Telegram
    and the sandbox's bot side measure them, and one over the limit changes nothing."""
    base = f"{sandbox.base_url}/sandbox/{TOKEN}/users/7"
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/send", json={"text": "😀" * 2049}) as r:
            assert r.status == 400 and "too long" in (await r.json())["error"]
        async with s.post(f"{base}/send", json={"text": "😀" * 2048}) as r:
            assert r.status == 200  # exactly 4,096 units
        form = aiohttp.FormData()
        form.add_field("document", b"a,b\n", filename="a.csv")
        form.add_field("caption", "😀" * 513)
        async with s.post(f"{base}/upload", data=form) as r:
            assert r.status == 400 and "too long" in (await r.json())["error"]
        async with s.get(f"{sandbox.base_url}/sandbox/{TOKEN}/chats/7/messages") as r:
            kept = await r.json()
    assert [m["text"] for m in kept] == ["😀" * 2048]


async def test_lengths_are_counted_in_utf16_units_as_telegram_counts_them(sandbox: RunningSandbox, tg: Bot) -> None:
    """An emoji (or 𠀀) is two UTF-16 units, the unit of all Telegram's limits: 2,100 of them
    are 4,200, too long for a message; 150 are too long for a press's answer (200)."""
    user = sandbox.user(TOKEN, 9)
    await user.register()
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await tg.send_message(9, "😀" * 2100)
    await tg.send_message(9, "😀" * 2048)
    with pytest.raises(ValueError, match="message is too long"):  # what a user types: Telegram's app refuses it too
        sandbox.sandbox.user_send(TOKEN, 9, "𠀀" * 2100)
    msg = await tg.send_message(9, "tap", reply_markup=InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="go", callback_data="go")]]))
    press = await sandbox.sandbox.user_press(TOKEN, 9, msg.message_id, "go", wait=0)
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await tg.answer_callback_query(press["callback_query_id"], text="😀" * 150)
    press = await sandbox.sandbox.user_press(TOKEN, 9, msg.message_id, "go", wait=0)
    assert await tg.answer_callback_query(press["callback_query_id"], text="😀" * 100) is True
    await user.close()


async def test_markdown_parse_modes_give_entities_and_refuse_bad_markup_as_telegram_does(
        sandbox: RunningSandbox, tg: Bot) -> None:
    """parse_mode=Markdown or MarkdownV2 only dropped the escapes: the web chat showed `*粗体*`
    unformatted as plain text, no entity came back, and markup Telegram refuses went through.
    Both now give Telegram's entities (UTF-16 offsets), and bad MarkdownV2 is refused in its words."""
    sandbox.sandbox.register_user(TOKEN, 5)
    v2 = await tg.send_message(5, "*粗体* _斜体_ __下划线__ ~删除~ ||剧透|| `代码` [链接](https://example.org/a\\)b) 😀 *粗 _斜_* 1\\.",
                               parse_mode="MarkdownV2")
    assert v2.text == "粗体 斜体 下划线 删除 剧透 代码 链接 😀 粗 斜 1."
    got = [(e.type, v2.text.encode("utf-16-le")[2 * e.offset:2 * (e.offset + e.length)].decode("utf-16-le"))
           for e in v2.entities]
    assert got == [("bold", "粗体"), ("italic", "斜体"), ("underline", "下划线"), ("strikethrough", "删除"),
                   ("spoiler", "剧透"), ("code", "代码"), ("text_link", "链接"), ("bold", "粗 斜"), ("italic", "斜")]
    assert v2.entities[6].url == "https://example.org/a)b"
    legacy = await tg.send_message(5, "*粗体* _斜体_ `x_y` [链接](https://example.org) a\\_b", parse_mode="Markdown")
    assert legacy.text == "粗体 斜体 x_y 链接 a_b"
    assert [e.type for e in legacy.entities] == ["bold", "italic", "code", "text_link"]
    view = sandbox.sandbox.chat_messages(TOKEN, 5)[-2]  # (what the web chat renders)
    assert view["text"] == v2.text and view["entities"][0] == {"type": "bold", "offset": 0, "length": 2}
    with pytest.raises(TelegramBadRequest, match=r"can't parse entities: Character '\.' is reserved"):
        await tg.send_message(5, "结束了.", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end of Bold entity at byte offset 0"):
        await tg.send_message(5, "*未闭合", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end of the entity starting at byte offset 7"):  # (粗体 is 6 bytes)
        await tg.send_message(5, "粗体 _open", parse_mode="Markdown")
    assert len(sandbox.sandbox.chat_messages(TOKEN, 5)) == 2  # nothing refused was stored
