"""Telegram's length limits (bot.limits): every message text and caption the bot sends
fits — cut as shown, with its HTML still valid — checked with the sandbox's parser of
Telegram's HTML."""

from __future__ import annotations

import random

import pytest
from aiogram.methods import SendMessage, SendPhoto

from bot.limits import CAPTION_LIMIT, TEXT_LIMIT, fit_html, units, visible_units
from bot.sandbox.htmltext import parse_html
from bot.testing import buttons
from tests.bot.conftest import open_consultation
from tests.bot.test_resident_flow import start


def _random_html(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(1, 300)):
        r = rnd.random()
        if r < 0.2:
            parts.append("<b>" + "粗" * rnd.randint(0, 50) + "&amp;&lt;x&gt;</b>")
        elif r < 0.3:
            parts.append('<a href="https://e.example/?a=1&amp;b=2">链接' + "😀" * rnd.randint(0, 20) + "</a>")
        elif r < 0.4:
            parts.append("<i>" + "斜" * rnd.randint(0, 80) + "<b>嵌&quot;&#39;</b></i>")
        else:
            parts.append("文" * rnd.randint(0, 120) + "\n")
    return "".join(parts)


def test_fitted_html_parses_and_is_within_the_limit() -> None:
    rnd = random.Random(7)
    cut = 0
    for _ in range(400):
        text = _random_html(rnd)
        limit = rnd.choice([TEXT_LIMIT, CAPTION_LIMIT, 60, 3])
        fitted = fit_html(text, limit)
        shown, _ = parse_html(fitted)  # raises on invalid HTML
        assert units(shown) <= limit
        assert visible_units(fitted) == units(shown)
        if visible_units(text) <= limit:
            assert fitted == text
        else:
            cut += 1
            assert shown.endswith("…") and text.startswith(fitted[:len(fitted) // 2])
    assert cut > 50  # the cases are not all short


def test_html_exactly_at_the_limit_as_shown_is_left_whole() -> None:
    text = "<b>答复</b>：&lt;依据&gt; " + "文" * (TEXT_LIMIT - 8)  # the markup takes it over the limit
    assert visible_units(text) == TEXT_LIMIT and units(text) > TEXT_LIMIT
    assert fit_html(text, TEXT_LIMIT) == text
    assert fit_html(text + "文", TEXT_LIMIT).endswith("文…")


async def test_the_bot_session_fits_texts_and_captions(harness) -> None:
    h = harness
    long_text = "<b>标题</b>\n" + "意见&amp;建议" * 1000
    await h.bot(SendMessage(chat_id=1, text=long_text))
    await h.bot(SendPhoto(chat_id=1, photo="x", caption="<i>" + "图" * 2000 + "</i>"))
    text_call, photo_call = h.api.calls[-2:]
    shown, entities = parse_html(text_call.call.text)
    assert units(shown) == TEXT_LIMIT and shown.startswith("标题\n意见&建议") and entities[0]["type"] == "bold"
    shown, _ = parse_html(photo_call.call.caption)
    assert units(shown) == CAPTION_LIMIT and shown.endswith("…")
    await h.bot(SendMessage(chat_id=1, text="短<b>的</b>"))
    assert h.api.calls[-1].call.text == "短<b>的</b>"


LONG_TEXT_QUESTIONNAIRE = """
id: longq
title: {zh_CN: 长回答, en: Long answers}
questions:
  - id: first
    type: single
    text: {zh_CN: 第一题, en: First}
    options:
      - {id: a, text: {zh_CN: 甲, en: A}}
      - {id: b, text: {zh_CN: 乙, en: B}}
  - id: story
    type: text
    max_length: 4000
    text: {zh_CN: 请详细说说您的看法, en: Tell us more}
  - id: last
    type: single
    text: {zh_CN: 最后一题, en: Last}
    options:
      - {id: a, text: {zh_CN: 甲, en: A}}
      - {id: b, text: {zh_CN: 乙, en: B}}
"""


async def test_a_long_typed_answer_shown_again_fits_the_screen(harness) -> None:
    h = harness
    _, code = await open_consultation(h, questionnaire=LONG_TEXT_QUESTIONNAIRE)
    u, q = await start(h, code, 5001)
    await h.feed(u.press(q.message_id, buttons(q.reply_markup)[0][1]))
    await h.feed(u.message("很" * 4000))
    last = h.api.last(5001)
    back = next(data for text, data in buttons(last.reply_markup) if "上一题" in text)
    await h.feed(u.press(last.message_id, back))
    screen = h.api.last(5001)
    shown, _ = parse_html(screen.text)
    assert "请详细说说您的看法" in shown and "很" * 400 in shown and units(shown) < 1000  # the answer shortened


async def test_a_press_answer_is_plain_text_within_its_limit(harness) -> None:
    from aiogram.methods import AnswerCallbackQuery

    h = harness
    await h.bot(AnswerCallbackQuery(callback_query_id="1", text="《A&amp;B &lt;测试&gt;》<b>已截止</b>" + "。" * 300))
    text = h.api.calls[-1].call.text
    assert text.startswith("《A&B <测试>》已截止") and units(text) == 200 and text.endswith("…")


async def test_the_recording_session_refuses_a_keyboard_past_telegrams_100_buttons(harness) -> None:
    """As Telegram (and the sandbox): more than 100 inline buttons is "reply markup is too long"."""
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    def inline(n: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=str(k), callback_data=str(k))]
                                                     for k in range(n)])

    await harness.bot.send_message(1, "100 fit", reply_markup=inline(100))
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        await harness.bot.send_message(1, "x", reply_markup=inline(101))


async def test_the_recording_session_counts_telegrams_utf16_units_not_characters() -> None:
    """Telegram counts a text's length in UTF-16 code units, where an emoji or 𠀀 takes two:
    2,100 emoji are 4,200 units, over the 4,096 of a message; 150 are 300 of a press's
    answer's 200. The tests' recording session refuses them as Telegram does (a plain bot,
    without the bot's own fitting)."""
    from aiogram import Bot
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import AnswerCallbackQuery

    from bot.testing import TEST_TOKEN, RecordingSession

    bot = Bot(TEST_TOKEN, session=RecordingSession())
    assert len("😀" * 2100) == 2100 and units("😀" * 2100) == 4200
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "😀" * 2100)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(1, "file-id", caption="𠀀" * 600)
    await bot.send_message(1, "😀" * 2048)  # 4,096 units: fits
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot(AnswerCallbackQuery(callback_query_id="1", text="😀" * 150))
    await bot(AnswerCallbackQuery(callback_query_id="1", text="😀" * 100))  # 200 units: fits

