"""The bot's Bot API session sends calls without files as JSON and uploads as multipart,
and both arrive intact (checked against the sandbox)."""

from __future__ import annotations

import gc
import json

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import GetMyDescription, GetMyShortDescription, SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox.server import running_sandbox
from bot.session import JsonAiohttpSession

TOKEN = "4242:session-test"


def test_payload_carries_the_fields_the_form_would_and_nests_objects():
    session = JsonAiohttpSession()
    bot = Bot(TOKEN, session=session)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="好", callback_data="q:1")]])
    payload, has_files = session.json_payload(bot, SendMessage(chat_id=7, text="你好", reply_markup=kb,
                                                               disable_notification=False))
    assert not has_files
    assert payload["chat_id"] == 7 and payload["text"] == "你好"
    assert payload["reply_markup"] == {"inline_keyboard": [[{"text": "好", "callback_data": "q:1"}]]}
    assert "disable_notification" not in payload  # left out, as aiogram's form does


async def test_messages_keyboards_edits_and_uploads_reach_the_sandbox():
    async with running_sandbox(port=0, tokens=[TOKEN]) as sb:
        sb.sandbox.register_user(TOKEN, 7, "测试")
        bot = Bot(TOKEN, session=JsonAiohttpSession(api=TelegramAPIServer.from_base(sb.base_url)))
        try:
            kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="好", callback_data="q:1")]])
            sent = await bot.send_message(7, "<b>第 1/8 题</b>", parse_mode="HTML", reply_markup=kb)
            await bot.edit_message_text("第 2/8 题", chat_id=7, message_id=sent.message_id)
            doc = await bot.send_document(7, BufferedInputFile(b"xlsx-bytes", "results.xlsx"), caption="结果")
            chat = sb.sandbox.chat_messages(TOKEN, 7)
        finally:
            await bot.session.close()
    first, second = chat[0], chat[1]
    assert first["text"] == "第 2/8 题" and first["edited"]
    assert sent.reply_markup is not None and sent.reply_markup.inline_keyboard[0][0].callback_data == "q:1"
    assert second["document"]["file_name"] == "results.xlsx" and doc.caption == "结果"


def test_a_broadcast_message_is_encoded_once_and_each_copy_carries_its_own_chat_id(monkeypatch):
    import json

    from bot.broadcaster import Outgoing

    session = JsonAiohttpSession()
    bot = Bot(TOKEN, session=session)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="继续", callback_data="q:1")]])
    out = Outgoing("<b>还有 1 天</b>", reply_markup=kb)
    encoded = []
    real = session.json_payload
    monkeypatch.setattr(session, "json_payload", lambda b, m: encoded.append(m) or real(b, m))
    bodies = {chat: json.loads(session.json_body(bot, out.message_to(chat)) or "") for chat in (7, 8, -100123)}
    assert len(encoded) == 1
    for chat, body in bodies.items():
        plain, _ = real(bot, SendMessage(chat_id=chat, text="<b>还有 1 天</b>", parse_mode="HTML", reply_markup=kb))
        assert body == plain and body["chat_id"] == chat


def test_the_answer_types_are_built_once_not_again_after_each_garbage_collection(monkeypatch):
    """aiogram parses each answer as `Response[<the method's type>]`, which pydantic keeps
    only weakly: aiogram's own session builds it again after the collector ran (≈ 70 ms);
    ours builds it once."""
    import pydantic.main

    built: list[str] = []
    real = pydantic.main._generics.create_generic_submodel

    def counting(name, *args, **kwargs):
        built.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(pydantic.main._generics, "create_generic_submodel", counting)
    bot = Bot(TOKEN)

    def answers(session, method, result) -> int:
        before = len(built)
        for _ in range(3):
            gc.collect()
            parsed = session.check_response(bot, method, 200, json.dumps({"ok": True, "result": result}))
            assert parsed.result.model_dump() == result
            del parsed  # which holds its type
        return len(built) - before

    # aiogram's session, on a type nothing else holds: built on every call after a collection
    assert answers(AiohttpSession(), GetMyDescription(), {"description": "清单"}) == 3
    assert answers(JsonAiohttpSession(), GetMyShortDescription(), {"short_description": "清单"}) <= 1


async def test_a_webhook_reply_is_one_json_object_and_a_reply_with_a_file_stays_a_form():
    from aiogram import Dispatcher
    from aiogram.methods import AnswerCallbackQuery, SendDocument
    from aiohttp.payload import JsonPayload

    from bot.webhook import JsonReplyRequestHandler

    bot = Bot(TOKEN, session=JsonAiohttpSession())
    handler = JsonReplyRequestHandler(dispatcher=Dispatcher(), bot=bot, handle_in_background=False)
    try:
        reply = handler._build_response_writer(bot, AnswerCallbackQuery(callback_query_id="42", text="好"))
        assert isinstance(reply, JsonPayload)
        assert json.loads(reply.decode()) == {"method": "answerCallbackQuery", "callback_query_id": "42",
                                              "text": "好"}
        upload = handler._build_response_writer(bot, SendDocument(
            chat_id=1, document=BufferedInputFile(b"x", filename="a.txt")))
        assert upload.content_type.startswith("multipart/form-data")
        assert json.loads(handler._build_response_writer(bot, None).decode()) == {}
    finally:
        await bot.session.close()


async def test_a_webhook_body_that_is_not_an_update_gets_400_and_reaches_no_handler(caplog):
    from aiogram import Dispatcher
    from aiohttp import ClientSession

    from tests.bot.conftest import webhook_served

    seen: list[int] = []
    dp = Dispatcher()

    @dp.message()
    async def note(message) -> None:
        seen.append(message.message_id)

    bot = Bot(TOKEN, session=JsonAiohttpSession())
    update = {"update_id": 1, "message": {"message_id": 5, "date": 0, "chat": {"id": 7, "type": "private"},
                                          "from": {"id": 7, "is_bot": False, "first_name": "A"}, "text": "hi"}}
    try:
        async with webhook_served(dp, bot) as (url, headers), ClientSession() as http:
            for body in (b"not json", b"[1, 2]", json.dumps({"update_id": "x"}).encode(), b""):
                async with http.post(url, data=body, headers=headers) as reply:
                    assert reply.status == 400, body
            async with http.post(url, json=update, headers=headers) as reply:
                assert reply.status == 200
    finally:
        await bot.session.close()
    assert seen == [5]  # only the real update reached the handler
    assert sum("not an update" in r.getMessage() for r in caplog.records) == 4
