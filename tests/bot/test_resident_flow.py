"""The resident's questionnaire through the Dispatcher: deep link, answers, back,
skip, pause and resume, summary and change, and every kind of bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiogram.types import Message

from bot.routers.resident import QCB
from bot.testing import buttons
from storage.models import Answer, Response
from surveys.consultation import Status
from tests.bot.conftest import close_early, open_consultation

USER = 5001


def _data(markup, startswith: str) -> str:
    for text, data in buttons(markup):
        if text.startswith(startswith) or text.lstrip("●☑☐ ").startswith(startswith):
            return data
    raise AssertionError(f"no button {startswith!r} in {buttons(markup)}")


async def _stored(h, user=USER) -> dict:
    async with h.sessions() as s:
        rid = await s.scalar(sa.select(Response.id).where(Response.person_id == user))
        if rid is None:
            return {}
        rows = (await s.execute(sa.select(Answer.question_id, Answer.value).where(Answer.response_id == rid))).all()
        return dict(rows)


async def start(h, code, user=USER, check=None):
    """The person opens the link and taps the welcome's start button (`check` looks at the
    welcome first): their updates, and what the bot shows then."""
    u = h.user(user)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(user)
    if check is not None:
        check(welcome)
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    return u, h.api.last(user)


def _welcome_of_the_default_questionnaire(welcome) -> None:
    assert "青山镇" in welcome.text and "共 8 个问题（有的回答还会多问 1 个补充问题）" in welcome.text


async def _begin(h, code, user=USER):
    return await start(h, code, user, check=_welcome_of_the_default_questionnaire)


async def _finished(h, code):
    """The person finishes the default questionnaire (the optional questions skipped): their
    updates, and the summary."""
    u, q = await _begin(h, code)
    for label in ("知道一些", "3", "3", "3", "☐ 养老", "完成", "没有", "跳过", "跳过"):
        q = await _tap(h, u, label)
    return u, q


async def test_deep_link_welcome_names_consultation_township_deadline_and_count(harness):
    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    text = h.api.last(USER).text
    assert "青山镇履职事项清单征求意见" in text
    assert "2026-12-11 10:00" in text  # the deadline in Asia/Shanghai
    assert "大约 3 分钟" in text
    assert await _stored(h) == {}  # nothing written before the person starts


async def test_resident_completes_default_questionnaire_and_every_answer_is_stored(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    assert q.method == "editMessageText" and "第 1/8 题" in q.text
    live = q.message_id
    await h.feed(u.press(live, _data(q.reply_markup, "知道一些")))
    for _ in range(3):  # three satisfaction scales
        await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "4")))
    q = h.api.last(USER)
    await h.feed(u.press(live, _data(q.reply_markup, "☐ 养老")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "☐ 看病")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "完成")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "有")))
    assert "是什么事" in h.api.last(USER).text
    await h.feed(u.message("村里的路灯没人管"))
    q = h.api.last(USER)
    assert q.method == "sendMessage" and "还有什么意见" in q.text
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "跳过")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "60–74")))
    summary = h.api.last(USER)
    assert "谢谢您参加" in summary.text and "村里的路灯没人管" in summary.text
    assert await _stored(h) == {"aware": "some", "sat_welfare": 4, "sat_safety": 4, "sat_emergency": 4,
                                "needs": ["elderly", "health"], "missing": "yes", "missing_what": "村里的路灯没人管",
                                "suggest": None, "age": "a60_74"}
    async with h.sessions() as s:
        assert await s.scalar(sa.select(Response.completed_at)) is not None
    await h.feed(u.message("/mydata"))
    assert "共 8 个回答" in h.api.last(USER).text  # the skipped question is not an answer of theirs


async def test_back_shows_previous_question_and_a_new_answer_replaces_the_old(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "« 上一题")))
    assert "第 1/8 题" in h.api.last(USER).text
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "不知道")))
    assert "第 2/8 题" in h.api.last(USER).text
    assert (await _stored(h))["aware"] == "no"


async def test_required_question_has_no_skip_and_a_forged_skip_writes_nothing(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    assert not any(t == "跳过" for t, _ in buttons(q.reply_markup))
    rid = int(_data(q.reply_markup, "很清楚").split(":")[1])
    await h.feed(u.press(q.message_id, QCB(r=rid, q="aware", a="s").pack()))
    assert h.api.answers()[-1].call.show_alert and "不能跳过" in h.api.answers()[-1].text
    assert await _stored(h) == {}


async def test_pause_then_any_message_resumes_at_the_first_unanswered_question(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "5")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "暂停")))
    assert "已暂停" in h.api.last(USER).text
    await h.feed(u.message("你好"))
    resumed = h.api.last(USER)
    assert resumed.method == "sendMessage" and "第 3/8 题" in resumed.text
    assert await _stored(h) == {"aware": "well", "sat_welfare": 5}


_TEXT_SECOND = """id: r
title: 问卷
questions:
  - {id: aware, type: single, text: 知道吗, options: [{id: y, text: 知道}, {id: n, text: 不知道}]}
  - {id: suggest, type: text, required: false, text: 您还有什么建议？}
  - {id: age, type: single, text: 年龄, options: [{id: a, text: 青年}, {id: b, text: 老年}]}
"""


@pytest.mark.parametrize("how", ["button", "/cancel"])
async def test_the_message_that_resumes_after_a_pause_is_not_taken_as_the_answer(harness, how):
    # "send any message to go on": a paused resident's "我回来了" was stored as their answer
    # to the text question they were at, without it being on screen
    h = harness
    _, code = await open_consultation(h, questionnaire=_TEXT_SECOND)
    u, q = await start(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "知道")))
    if how == "button":
        await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "暂停")))
    else:
        await h.feed(u.message("/cancel"))
    assert "暂停" in h.api.last(USER).text
    await h.feed(u.message("我回来了"))
    resumed = h.api.last(USER)
    assert resumed.method == "sendMessage" and "第 2/3 题" in resumed.text and "建议" in resumed.text
    assert await _stored(h) == {"aware": "y"}
    await h.feed(u.message("希望办事更方便"))  # now on screen: this one is the answer
    assert "第 3/3 题" in h.api.last(USER).text
    assert await _stored(h) == {"aware": "y", "suggest": "希望办事更方便"}


async def test_after_cancel_a_press_on_the_questionnaire_puts_the_text_question_back_on_screen(harness):
    # /cancel pauses; pressing an answer on the questionnaire still in the chat goes on, and
    # the text question it shows is on screen: what is typed next is its answer (it was
    # dropped as "the message that resumes" because /cancel had cleared the FSM data)
    h = harness
    _, code = await open_consultation(h, questionnaire=_TEXT_SECOND)
    u, q = await start(h, code)
    await h.feed(u.message("/cancel"))
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "知道")))
    assert "第 2/3 题" in h.api.last(USER).text and "建议" in h.api.last(USER).text
    await h.feed(u.message("希望办事更方便"))
    assert "第 3/3 题" in h.api.last(USER).text
    assert await _stored(h) == {"aware": "y", "suggest": "希望办事更方便"}


async def test_cancel_then_link_again_resumes(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.message("/cancel"))
    assert "暂停" in h.api.last(USER).text
    await h.feed(u.message(f"/start {code}"))
    assert "第 2/8 题" in h.api.last(USER).text


async def test_change_from_summary_drops_answers_whose_condition_no_longer_holds(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    live = q.message_id
    for label in ("很清楚", "3", "3", "3"):
        await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, label)))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "☐ 低保")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "完成")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "有")))
    await h.feed(u.message("路灯"))
    live = h.api.last(USER).message_id
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "跳过")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "跳过")))
    assert "谢谢您参加" in h.api.last(USER).text
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "修改")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "6.")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "没有")))
    assert "谢谢您参加" in h.api.last(USER).text
    stored = await _stored(h)
    assert stored["missing"] == "no" and "missing_what" not in stored


async def test_text_where_a_button_is_expected_re_asks_gently_and_writes_nothing(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.message("知道"))
    texts = h.api.texts(USER)
    assert "请点下面问题里的按钮" in texts[-2] and "第 1/8 题" in texts[-1]
    assert await _stored(h) == {}


async def test_text_over_the_limit_is_refused(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    for label in ("很清楚", "3", "3", "3"):
        await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, label)))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "☐ 低保")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "完成")))
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "有")))
    await h.feed(u.message("长" * 501))
    assert "500" in h.api.last(USER).text
    await h.feed(u.message("长" * 5000))
    assert "missing_what" not in await _stored(h)


async def test_sticker_photo_voice_location_get_a_clear_note(harness):
    from aiogram.types import Location, PhotoSize, Sticker, Voice

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    kinds = {
        "sticker": Sticker(file_id="s", file_unique_id="s", type="regular", width=1, height=1, is_animated=False,
                           is_video=False),
        "photo": [PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)],
        "voice": Voice(file_id="v", file_unique_id="v", duration=1),
        "location": Location(latitude=30.0, longitude=120.0),
    }
    for kind, value in kinds.items():
        h.api.clear()
        await h.feed(u.message(**{kind: value}))
        assert "图片、语音" in h.api.texts(USER)[0], kind
        assert "第 1/8 题" in h.api.texts(USER)[1], kind
    assert await _stored(h) == {}


async def test_button_from_an_old_message_does_nothing(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.message("随便说点"))  # the question is sent again: a new live message
    await h.feed(u.press(q.message_id, _data(h.api.last(USER).reply_markup, "3")))
    assert "之前的消息" in h.api.answers()[-1].text
    assert await _stored(h) == {"aware": "well"}


async def test_forged_callback_for_someone_elses_response_is_refused(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    rid = int(_data(q.reply_markup, "很清楚").split(":")[1])
    mallory = h.user(6666)
    h.api.clear()
    await h.feed(mallory.press(q.message_id, QCB(r=rid, q="aware", a="o", v="no").pack()))
    await h.feed(mallory.press(q.message_id, "q:not:valid"))
    await h.feed(u.press(q.message_id, QCB(r=rid, q="aware", a="o", v="nonsense").pack()))
    await h.feed(u.press(q.message_id, QCB(r=rid, q="sat_safety", a="p", v="3").pack()))
    answers = h.api.answers()
    assert len(answers) == 4 and all(a.call.show_alert for a in answers)
    assert "失效" in answers[0].text and "失效" in answers[1].text
    assert [c for c in h.api.calls if c.method != "answerCallbackQuery"] == []
    assert await _stored(h) == {}


async def test_answers_after_the_deadline_are_refused_politely(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    h.clock.advance(days=11)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    assert "截止" in h.api.answers()[-1].text
    await h.feed(u.message(f"/start {code}"))
    assert "截止" in h.api.last(USER).text
    assert await _stored(h) == {}


async def test_before_opening_and_unknown_codes_get_clear_messages(harness):
    h = harness
    _, code = await open_consultation(h, status=Status.DRAFT)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    assert "还没有开始" in h.api.last(USER).text
    await h.feed(u.message("/start zzzzzzzz"))
    assert "无效" in h.api.last(USER).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Response)) == 0


async def test_a_link_before_opening_tells_the_opening_time_only_when_one_is_set_ahead(harness):
    from storage.answer_path import forget_consultation
    from storage.models import Consultation

    h = harness
    cid, code = await open_consultation(h, status=Status.DRAFT)  # a poster printed before /open
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    text = h.api.last(USER).text
    assert "还没有开始" in text and "2026-12-11 10:00 截止" in text and "—" not in text
    async with h.sessions() as s:  # an opening time set ahead that has passed, still a draft
        (await s.get(Consultation, cid)).opens_at = h.clock.now - timedelta(hours=1)
        await s.commit()
        forget_consultation(s.bind, cid)  # (this process's copy of it)
    await h.feed(u.message(f"/start {code}"))
    assert "还没有开始" in h.api.last(USER).text and "2026-12-01 09:00" not in h.api.last(USER).text
    async with h.sessions() as s:  # open, answers from tomorrow 08:00
        c = await s.get(Consultation, cid)
        c.status, c.opens_at = Status.OPEN.value, h.clock.now + timedelta(hours=22)
        await s.commit()
        forget_consultation(s.bind, cid)
    await h.feed(u.message(f"/start {code}"))
    assert "将于 2026-12-02 08:00 开始" in h.api.last(USER).text


async def test_same_update_twice_is_processed_once(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    update = u.press(q.message_id, _data(q.reply_markup, "很清楚"))
    await h.feed(update)
    calls = len(h.api.calls)
    await h.feed(update)
    assert len(h.api.calls) == calls
    assert await _stored(h) == {"aware": "well"}


async def test_english_speaker_gets_english(harness):
    h = harness
    _, code = await open_consultation(h)
    u = h.user(7001, language_code="en")
    await h.feed(u.message(f"/start {code}"))
    assert "8 questions (and 1 follow-up that only some answers bring up)" in h.api.last(7001).text


# a questionnaire whose first question asks a number (1–20, whole), for the tests of typed numbers
HOUSEHOLD = """
id: t
title: 测试
questions:
  - id: n
    type: number
    text: 您家有几口人？
    min: 1
    max: 20
    integer: true
"""


async def test_number_out_of_range_is_refused(harness):
    h = harness
    yaml_text = HOUSEHOLD + """\
  - id: s
    type: single
    text: 好吗？
    options: [{id: a, text: 好}, {id: b, text: 不好}]
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u, q = await start(h, code)
    assert "请直接发一个数字（1 到 20 之间，须为整数）。" in q.text  # the bounds said before the answer
    for bad in ("abc", "25", "2.5"):
        await h.feed(u.message(bad))
    assert await _stored(h) == {}
    await h.feed(u.message("３"))
    assert await _stored(h) == {"n": 3}


async def test_a_number_typed_with_a_unit_or_in_words_is_stored_and_said_back(harness):
    """"3口人" or "三口人" was refused as not a number; it is taken, and the bot says what it took.
    A range is refused with what to write instead."""
    h = harness
    yaml_text = HOUSEHOLD + """\
  - id: m
    type: number
    text: 一年去几次镇政府？
    required: false
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u, q = await start(h, code)
    await h.feed(u.message("两三个"))
    assert h.api.last(USER).text == "请只写一个数字，比如 10，不要写范围或几个数。"
    assert await _stored(h) == {}
    h.api.clear()
    typed = u.message("三口人")
    await h.feed(typed)
    assert await _stored(h) == {"n": 3}
    assert "好的，记为 3。" in h.api.texts(USER)
    h.api.clear()
    await h.feed(u.message("12"))  # a plain number: nothing said back
    assert await _stored(h) == {"n": 3, "m": 12}
    assert not any("记为" in t for t in h.api.texts(USER))
    h.api.clear()
    await h.feed(u.edit(typed, "四口人"))  # an edit in Telegram: stored as edited, and said back too
    assert await _stored(h) == {"n": 4, "m": 12}
    assert h.api.texts(USER)[0] == "好的，这个回答已改为：4。"  # one line, one 好的


async def test_delete_me_erases_the_response(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(USER)
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    assert await _stored(h) == {}
    h.clock.advance(minutes=1)
    q = (await _begin(h, code))[1]  # the person can start again later, from the first question
    assert "第 1/8 题" in q.text and await _stored(h) == {}


async def test_a_person_who_blocked_and_unblocked_the_bot_is_active_again_and_resumes(harness):
    from storage.models import Person

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    async with h.sessions() as s:  # what the broadcaster records on a 403
        await s.execute(sa.update(Person).where(Person.id == USER).values(active=False))
        await s.commit()
    await h.feed(u.message(f"/start {code}"))
    assert "第 2/8 题" in h.api.last(USER).text
    async with h.sessions() as s:
        assert (await s.get(Person, USER)).active is True


async def test_a_message_updates_writes_are_committed_before_the_bot_sends_anything(harness):
    """What the bot acknowledges is durable first, and no transaction (no SQLite write
    lock) stays open while a request is on the wire: at the moment the resident's
    "继续" is answered, another connection already sees the update's mark and the
    response's new state."""
    from aiogram.client.session.middlewares.base import BaseRequestMiddleware

    from storage.models import ProcessedUpdate

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    update = u.message("继续")
    seen: list[tuple[str, bool, int | None]] = []

    class Look(BaseRequestMiddleware):
        async def __call__(self, make_request, bot, method):
            async with h.sessions() as other:
                marked = await other.get(ProcessedUpdate, update.update_id) is not None
                version = await other.scalar(sa.select(Response.version).where(Response.person_id == USER))
            seen.append((method.__api_method__, marked, version))
            return await make_request(bot, method)

    async with h.sessions() as s:
        before = await s.scalar(sa.select(Response.version).where(Response.person_id == USER))
    h.api.middleware(Look())
    await h.feed(update)
    sends = [x for x in seen if x[0] == "sendMessage"]
    assert sends, seen
    # the note ("please use the buttons") and the question again: each sent after a commit
    assert all(marked for _, marked, _ in sends), seen
    assert sends[-1][2] is not None and sends[-1][2] > before, (before, seen)
    assert "第 1/8 题" in h.api.last(USER).text


# --- found in a QA pass (2026-11-27) ----------------------------------------------------------

ITEMS_QUESTIONNAIRE = """
id: itemsq
title: {zh_CN: 测试问卷, en: Test questionnaire}
questions:
  - id: first
    type: single
    text: {zh_CN: 第一题, en: First}
    options:
      - {id: a, text: {zh_CN: 甲, en: A}}
      - {id: b, text: {zh_CN: 乙, en: B}}
  - id: rate
    type: item_rating
    text: {zh_CN: 请给这些事项打分, en: Rate these}
    parts: [basic]
    max_items: 3
    allow_unsure: true
  - id: note
    type: text
    required: false
    text: {zh_CN: 备注, en: Note}
"""


async def _tap(h, u, label: str):
    last = h.api.last(USER)
    await h.feed(u.press(last.message_id, _data(last.reply_markup, label)))
    return h.api.last(USER)


async def _rated(h) -> tuple:
    _, code = await open_consultation(h, questionnaire=ITEMS_QUESTIONNAIRE)
    u, _ = await start(h, code)
    q = await _tap(h, u, "甲")
    assert "第 1/3 项" in q.text
    for point in ("1", "2", "3"):
        q = await _tap(h, u, point)
    assert "备注" in q.text
    return u, q


async def test_back_into_a_rated_question_rates_every_item_again(harness):
    h = harness
    u, _ = await _rated(h)
    q = await _tap(h, u, "« 上一题")
    assert "第 1/3 项" in q.text, q.text
    for point in ("5", "4", "3"):
        q = await _tap(h, u, point)
    assert "备注" in q.text
    assert sorted((await _stored(h))["rate"].values()) == [3, 4, 5]


async def test_changing_a_rated_question_from_the_summary_rates_every_item_again(harness):
    h = harness
    u, _ = await _rated(h)
    q = await _tap(h, u, "跳过")
    assert "谢谢" in q.text
    await _tap(h, u, "修改")
    q = await _tap(h, u, "2.")
    assert "第 1/3 项" in q.text, q.text
    for point in ("5", "5", "5"):
        q = await _tap(h, u, point)
    assert set((await _stored(h))["rate"].values()) == {5}


async def test_a_typed_answer_after_the_deadline_is_told_the_questionnaire_closed(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    h.clock.advance(days=11)  # past the deadline; the scheduler has not closed it yet
    await h.feed(u.message("村里的路灯没人管"))
    assert "已于" in h.api.last(USER).text and "截止" in h.api.last(USER).text
    assert "已保存" not in h.api.last(USER).text  # nothing answered: nothing said kept
    assert await _stored(h) == {}


async def test_a_typed_message_after_the_close_mid_questionnaire_says_the_answers_given_are_kept(harness):
    """As a press does: one who had answered some questions reads that they are kept, not only that
    the questionnaire closed."""
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await _tap(h, u, "知道一些")
    h.clock.advance(days=11)
    await h.feed(u.message("村里的路灯没人管"))
    text = h.api.last(USER).text
    assert "不再接收回答" in text and "您已经回答的 1 道题都已保存，会计入结果" in text
    assert len(await _stored(h)) == 1


async def test_an_unknown_command_is_answered(harness):
    h = harness
    _, code = await open_consultation(h)
    u, _ = await _begin(h, code)
    for text in ("/foo", "/路灯坏了", "/foo@qingdan_test_bot"):
        h.api.clear()
        await h.feed(u.message(text))
        assert [c.method for c in h.api.calls] == ["sendMessage"], text
        assert "没有这个命令" in h.api.calls[0].text and "/help" in h.api.calls[0].text


async def test_button_data_with_ids_too_large_for_the_database_is_a_stale_button(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    big = 10**25
    for data in (f"q:{big}:aware:o:well", "q:3000000000:aware:o:well", f"qe:{big}:", f"rb:{big}:1",
                 f"rb:1:{big}"):
        h.api.clear()
        await h.feed(u.press(q.message_id, data))
        assert [c.text for c in h.api.answers()] == ["这个按钮已经失效了。"], data
    assert await _stored(h) == {}


async def test_a_cadre_form_left_open_does_not_take_the_questionnaires_text_answer(harness):
    from tests.bot.test_cadre import _cadre, _comments, _open_card
    from tests.bot.test_cadre import _tap as _cadre_tap

    h = harness
    c, code = await open_consultation(h)
    u = await _cadre(h, user=USER)
    await _open_card(h, u, c, "特种设备安全监管")
    await _cadre_tap(h, u, "✍️ 提意见")
    await _cadre_tap(h, u, "其他")  # asked for the comment's text; the cadre goes elsewhere
    await h.feed(u.message(f"/start {code}"))
    await _cadre_tap(h, u, "开始答题")
    for label in ("知道一些", "4", "4", "4", "☐ 养老", "完成", "有"):
        await _cadre_tap(h, u, label)
    assert "是什么事" in h.api.last(USER).text
    await h.feed(u.message("村里的路灯没人管"))
    assert (await _stored(h)).get("missing_what") == "村里的路灯没人管"
    assert await _comments(h) == []


async def test_a_questionnaire_with_no_applicable_question_is_complete_at_once(harness):
    from storage.models import Response

    only_items = ("id: onlyitems\ntitle: T\nquestions:\n  - id: rate\n    type: item_rating\n"
                  "    categories: [不存在的类别]\n    text: 请评分\n")
    h = harness
    _, code = await open_consultation(h, questionnaire=only_items)
    await start(h, code)
    assert "谢谢" in h.api.last(USER).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(Response.completed_at)) is not None  # counted as finished, not nudged


def test_a_multi_answer_with_nothing_chosen_reads_none() -> None:
    from surveys.flow import answer_text
    from surveys.questionnaire import load_questionnaire

    q, _ = load_questionnaire("id: m\ntitle: T\nquestions:\n  - id: m\n    type: multi\n    min: 0\n    text: 多选\n"
                              "    options:\n      - {id: a, text: 甲}\n      - {id: b, text: 乙}\n")
    assert q is not None
    assert answer_text(q.questions[0], [], locale="zh_CN") == "（都不选）"
    assert answer_text(q.questions[0], ["b"], locale="en") == "乙"


async def test_a_press_after_an_early_close_is_told_when_it_closed_in_plain_text(harness):
    from storage.models import Consultation

    h = harness
    cid, code = await open_consultation(h)
    async with h.sessions() as s:
        (await s.get(Consultation, cid)).title = "A&B <测试>"
        await s.commit()
    u, q = await _begin(h, code)
    h.clock.advance(days=2)
    await close_early(h, str(cid))
    h.api.clear()
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    [alert] = h.api.answers()
    assert "A&B <测试>" in alert.text and "2026-12-03 10:00" in alert.text  # when it closed, not the deadline


async def test_a_press_after_a_close_mid_questionnaire_says_the_answers_given_are_kept(harness):
    """A resident half-way through when the organizer closed it tapped the next answer and read only
    "已于…截止，不再接收回答。感谢您的关注！", not whether the questions they had answered count (the
    thanks saying so may wait for the morning: quiet hours). The pop-up says they are kept."""
    h = harness
    cid, code = await open_consultation(h)
    u, q = await _begin(h, code)
    q = await _tap(h, u, "知道一些")
    q = await _tap(h, u, "3")
    await close_early(h, str(cid))
    h.api.clear()
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "3")))
    [alert] = h.api.answers()
    assert "不再接收回答" in alert.text and "您已经回答的 2 道题都已保存，会计入结果" in alert.text
    assert len(await _stored(h)) == 2  # and nothing more was taken


async def test_a_person_who_blocked_the_bot_is_active_again_after_a_refused_press(harness):
    from storage.models import Person

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    async with h.sessions() as s:  # what the broadcaster records on a 403
        await s.execute(sa.update(Person).where(Person.id == USER).values(active=False))
        await s.commit()
    await h.feed(u.press(q.message_id - 5, _data(q.reply_markup, "很清楚")))  # on an old message: refused
    async with h.sessions() as s:
        assert (await s.get(Person, USER)).active is True


async def _at_missing_what(h, code):
    u, q = await _begin(h, code)
    for label in ("很清楚", "3", "3", "3", "☐ 低保", "完成", "有"):
        q = await _tap(h, u, label)
    assert "是什么事" in q.text
    return u


async def test_back_to_a_typed_answer_goes_on_keeping_it(harness):
    # back on a text question showed "当前回答：…" with only « 上一题, 跳过 and 暂停: going on
    # meant typing it again, and 跳过 (the one way forward) erased it, unseen until the summary
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    await h.feed(u.message("村里的路灯没人管"))
    q = await _tap(h, u, "« 上一题")
    assert "当前回答：村里的路灯没人管" in q.text
    q = await _tap(h, u, "下一题（保留当前回答）")
    assert "第 8/9 题" in q.text and "还有什么意见" in q.text
    assert (await _stored(h))["missing_what"] == "村里的路灯没人管"
    q = await _tap(h, u, "跳过")  # an unanswered text question offers no such button
    assert not any("保留" in t for t, _ in buttons(q.reply_markup))
    await _tap(h, u, "跳过")
    await _tap(h, u, "修改")
    q = await _tap(h, u, "7.")  # from the summary: look at it, and leave it as it is
    q = await _tap(h, u, "下一题（保留当前回答）")
    assert "谢谢您参加" in q.text and "村里的路灯没人管" in q.text


async def test_skipping_a_question_answered_before_says_it_clears_the_answer(harness):
    # 跳过 on a question answered before (back with « 上一题, or 修改 from the summary) erased
    # the answer without a word: the button now says 清除并跳过, and the pop-up that it did
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    await h.feed(u.message("村里的路灯没人管"))
    q = await _tap(h, u, "« 上一题")
    labels = [t for t, _ in buttons(q.reply_markup)]
    assert "清除并跳过" in labels and "跳过" not in labels
    q = await _tap(h, u, "清除并跳过")
    assert h.api.answers()[-1].text == "已清除原来的回答。" and not h.api.answers()[-1].call.show_alert
    assert "还有什么意见" in q.text and "清除并跳过" not in [t for t, _ in buttons(q.reply_markup)]
    assert (await _stored(h))["missing_what"] is None
    await _tap(h, u, "跳过")  # not answered: skipped as before, without a pop-up
    assert not h.api.answers()[-1].text
    await _tap(h, u, "60–74")
    await _tap(h, u, "修改")
    q = await _tap(h, u, "9.")  # the age, from the summary
    assert "清除并跳过" in [t for t, _ in buttons(q.reply_markup)]
    await _tap(h, u, "清除并跳过")
    assert h.api.answers()[-1].text == "已清除原来的回答。"
    assert (await _stored(h))["age"] is None


async def test_back_to_a_scale_answered_unsure_marks_unsure(harness):
    # a point answered shows ●4 when the resident goes back; 不清楚 showed no mark, as if unanswered
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await _tap(h, u, "很清楚")
    await _tap(h, u, "不清楚")
    q = await _tap(h, u, "« 上一题")
    assert "第 2/8 题" in q.text
    labels = [t for t, _ in buttons(q.reply_markup)]
    assert "● 不清楚 / 说不清" in labels and not any(t.startswith("●") for t in labels if t[-1].isdigit())
    assert (await _stored(h))["sat_welfare"] == "unsure"


async def test_a_second_townships_link_says_the_answers_count_for_the_first(harness):
    # one response per person and consultation: 绿水镇's link resumed the questionnaire begun
    # on 青山镇's without a word, so the resident took their answers to count for 绿水镇
    from storage.consultations import create_consultation, links, set_status
    from storage.lists import save_list
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
    from tests.bot.conftest import ITEMS

    h = harness
    async with h.sessions() as s:
        ids = [(await save_list(s, name, ITEMS)).id for name in ("青山镇", "绿水镇")]
        c = await create_consultation(s, title="全县征求意见", list_ids=ids, closes_at=h.clock.now + timedelta(days=10),
                                      questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
        codes = {link.township: link.code for link in await links(s, c.id)}
    u, q = await start(h, codes["青山镇"])
    await _tap(h, u, "知道一些")
    h.api.clear()
    await h.feed(u.message(f"/start {codes['绿水镇']}"))
    note, question = h.api.texts(USER)
    assert "青山镇" in note and "第 2/8 题" in question
    h.api.clear()
    await h.feed(u.message(f"/start {codes['青山镇']}"))  # its own township's link: no note
    assert len(h.api.texts(USER)) == 1 and "第 2/8 题" in h.api.texts(USER)[0]


async def test_a_finished_response_changed_to_show_an_optional_follow_up_stays_finished(harness):
    # 修改 6 → 有 brings up the optional 是什么事？; a resident who left it there was counted
    # as not finished again (completed_at cleared) and nudged that the questionnaire was unfilled
    h = harness
    _, code = await open_consultation(h)
    u, q = await _finished(h, code)
    assert "谢谢您参加" in q.text
    async with h.sessions() as s:
        finished = await s.scalar(sa.select(Response.completed_at))
    assert finished is not None
    await _tap(h, u, "修改")
    await _tap(h, u, "6.")
    q = await _tap(h, u, "有")
    assert "是什么事" in q.text
    await h.feed(u.message("/cancel"))
    async with h.sessions() as s:
        assert await s.scalar(sa.select(Response.completed_at)) == finished


async def test_cancel_while_changing_a_typed_answer_pauses_and_the_next_message_keeps_it(harness):
    # a finished resident who opened a text question from 修改 and sent /cancel was told
    # "nothing in progress"; their next message ("好的") then replaced their suggestion
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    for label in ("知道一些", "3", "3", "3", "☐ 养老", "完成", "没有"):
        q = await _tap(h, u, label)
    await h.feed(u.message("希望路灯晚上能亮"))
    await _tap(h, u, "跳过")
    await _tap(h, u, "修改")
    q = await _tap(h, u, "7.")
    assert "当前回答：希望路灯晚上能亮" in q.text
    await h.feed(u.message("/cancel"))
    assert "已暂停" in h.api.last(USER).text
    await h.feed(u.message("好的"))
    assert "当前回答：希望路灯晚上能亮" in h.api.last(USER).text  # the question again, unchanged
    assert (await _stored(h))["suggest"] == "希望路灯晚上能亮"





async def test_a_link_to_a_consultation_not_opened_yet_gives_no_opening_date_it_does_not_have(harness):
    # links and QR codes go out before the consultation opens; one created without --opens said
    # "还没有开始，将于 — 开始"
    from storage.consultations import create_consultation, links
    from storage.lists import save_list
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
    from tests.bot.conftest import ITEMS

    h = harness
    _, code = await open_consultation(h, status=Status.DRAFT)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    text = h.api.last(USER).text
    assert "还没有开始" in text and "—" not in text and "2026-12-11 10:00" in text
    async with h.sessions() as s:  # one with an opening date: it is given
        row = await save_list(s, "绿水镇", ITEMS)
        c = await create_consultation(s, title="绿水镇征求意见", list_ids=[row.id],
                                      questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"),
                                      opens_at=h.clock.now + timedelta(days=1), closes_at=h.clock.now + timedelta(days=10))
        await s.commit()
        dated = (await links(s, c.id))[0].code
    await h.feed(u.message(f"/start {dated}"))
    assert "将于 2026-12-02 10:00 开始" in h.api.last(USER).text


async def test_a_message_typed_after_finishing_is_said_not_to_be_saved(harness):
    # a finished resident who wrote one more opinion got the summary back without a word, as if
    # it had been taken; it is stored nowhere
    h = harness
    _, code = await open_consultation(h)
    u, q = await _finished(h, code)
    assert "谢谢您参加" in q.text
    before = await _stored(h)
    h.api.clear()
    await h.feed(u.message("还有一件事：村口的桥该修了"))
    note, summary = h.api.texts(USER)
    assert "没有保存" in note and "修改" in note
    assert "谢谢您参加" in summary and _data(h.api.last(USER).reply_markup, "修改")
    assert await _stored(h) == before


async def test_a_sticker_after_finishing_is_not_told_to_answer_the_question_below(harness):
    # 👍 after the thank-you got "请按下面的问题作答" above the summary, which has no question
    from aiogram.types import Sticker

    h = harness
    _, code = await open_consultation(h)
    u, _ = await _finished(h, code)
    h.api.clear()
    await h.feed(u.message(sticker=Sticker(file_id="s", file_unique_id="s", type="regular", width=1, height=1,
                                           is_animated=False, is_video=False)))
    note, summary = h.api.texts(USER)
    assert "下面的问题" not in note and "填完" in note and "谢谢您参加" in summary


async def test_a_double_tap_on_an_answer_is_not_told_it_is_on_an_old_message(harness):
    # the second tap of a double tap (common on a phone) carries the question the first one
    # answered: it popped up "这是之前的消息，请在最新的问题消息上作答", on the newest message
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import EditMessageText

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    q = await _tap(h, u, "知道一些")
    five = _data(q.reply_markup, "5")
    await h.feed(u.press(q.message_id, five))
    third = h.api.last(USER)
    assert "第 3/8 题" in third.text
    h.api.fail_with["editMessageText"] = TelegramBadRequest(  # Telegram: the screen is that already
        EditMessageText(text="-", chat_id=USER, message_id=q.message_id),
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same")
    h.api.clear()
    await h.feed(u.press(q.message_id, five))
    [answer] = h.api.answers()
    assert not answer.call.show_alert and not answer.text and not h.api.fail_with
    await h.feed(u.press(q.message_id, five))  # (the session refuses the unchanged edit itself, as Telegram)
    assert not h.api.answers()[-1].text
    back = _data(third.reply_markup, "« 上一题")
    await h.feed(u.press(q.message_id, back))
    await h.feed(u.press(q.message_id, back))  # once back, not twice, and no pop-up
    assert "第 2/8 题" in h.api.last(USER).text and not h.api.answers()[-1].text
    assert await _stored(h) == {"aware": "some", "sat_welfare": 5}


async def test_english_welcome_of_a_one_question_questionnaire_says_one_question_one_minute(harness):
    h = harness
    yaml_text = """
id: t
title: {zh_CN: 测试, en: Test}
estimated_minutes: 1
questions:
  - id: a
    type: single
    text: {zh_CN: 知道吗, en: Do you know}
    options:
      - {id: y, text: {zh_CN: 知道, en: "Yes"}}
      - {id: n, text: {zh_CN: 不知道, en: "No"}}
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u = h.user(7001, language_code="en")
    await h.feed(u.message(f"/start {code}"))
    assert "1 question, about 1 minute;" in h.api.last(7001).text


async def test_a_welcome_without_an_intro_has_no_run_of_blank_lines(harness):
    h = harness
    yaml_text = """
id: t
title: 测试
questions:
  - id: s
    type: single
    text: 好吗？
    options: [{id: a, text: 好}, {id: b, text: 不好}]
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    await h.feed(h.user(USER).message(f"/start {code}"))
    welcome = h.api.last(USER).text
    assert "\n\n\n" not in welcome and "共 1 个问题" in welcome


async def test_a_double_tap_on_pause_or_on_start_leaves_no_error_and_answers_the_press(harness):
    # the second tap puts the same screen on the message again: Telegram refuses such an edit
    # ("message is not modified"); it raised out of the handler, a traceback for every double tap
    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(USER)
    begin = buttons(welcome.reply_markup)[0][1]
    await h.feed(u.press(welcome.message_id, begin))
    await h.feed(u.press(welcome.message_id, begin))  # the welcome's start button, twice
    q = h.api.last(USER)
    assert "第 1/8 题" in q.text
    pause = _data(q.reply_markup, "暂停")
    await h.feed(u.press(q.message_id, pause))
    h.api.clear()
    await h.feed(u.press(q.message_id, pause))  # pause, twice
    [answer] = h.api.answers()
    assert not answer.text and not answer.call.show_alert
    await h.feed(u.message("继续"))
    assert "第 1/8 题" in h.api.last(USER).text


# --- found in a QA pass (qflow) ------------------------------------------------------------------


async def test_the_welcome_counts_the_questions_as_the_progress_counts_them(harness):
    # the welcome said "共 9 个问题" (and the intro "一共 9 个小问题") while the first question said
    # "第 1/8 题": the ninth is a follow-up asked only after 有; and an item question with no
    # item of the list to rate was counted though it is never asked
    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(USER)
    assert "共 8 个问题（有的回答还会多问 1 个补充问题）" in welcome.text and "9 个" not in welcome.text
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    assert "第 1/8 题" in h.api.last(USER).text
    for label in ("知道一些", "3", "3", "3", "☐ 养老", "完成"):
        await _tap(h, u, label)
    assert "第 7/9 题" in (await _tap(h, u, "有")).text  # the follow-up, as announced

    from surveys.duty_list import Part
    from tests.bot.conftest import ITEMS
    no_basic = [i for i in ITEMS if i.part != Part.BASIC]  # nothing for the rating question to rate
    _, code = await open_consultation(h, questionnaire=ITEMS_QUESTIONNAIRE, township="绿水镇", items=no_basic)
    other = 5002
    u = h.user(other)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(other)
    assert "共 2 个问题，" in welcome.text
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    assert "第 1/2 题" in h.api.last(other).text


def _ticked(markup) -> list[str]:
    return [t.removeprefix("☑ ") for t, _ in buttons(markup) if t.startswith("☑")]


async def test_ticks_not_yet_submitted_are_still_there_after_back_and_after_a_pause(harness):
    # two services ticked on 您最希望乡镇做好哪些事？, then « 上一题 to look at the question before,
    # and forward again: the ticks were gone, the resident had to find and tick them again
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    for label in ("知道一些", "3", "3", "3", "☐ 养老", "☐ 看病"):
        q = await _tap(h, u, label)
    await _tap(h, u, "« 上一题")
    q = await _tap(h, u, "3")  # the question before answered again: on to the multi question
    assert "第 5/8 题" in q.text and _ticked(q.reply_markup) == ["养老和助老服务", "看病就医、医保"]
    assert "完成（已选 2 项）" in [t for t, _ in buttons(q.reply_markup)]
    await _tap(h, u, "« 上一题")
    await _tap(h, u, "暂停")
    await h.feed(u.message("我回来了"))
    assert "第 4/8 题" in h.api.last(USER).text
    q = await _tap(h, u, "●3")  # (kept as it was)
    assert _ticked(q.reply_markup) == ["养老和助老服务", "看病就医、医保"]
    await _tap(h, u, "完成")
    assert (await _stored(h))["needs"] == ["elderly", "health"]


async def test_back_on_an_item_rating_goes_to_the_item_before_with_its_score(harness):
    # rating three duty items one by one, « 上一题 on the third left the whole question for the
    # one before it, and the two scores given were lost
    h = harness
    _, code = await open_consultation(h, questionnaire=ITEMS_QUESTIONNAIRE)
    u, _ = await start(h, code)
    await _tap(h, u, "甲")
    await _tap(h, u, "2")
    q = await _tap(h, u, "不清楚")
    assert "第 3/3 项" in q.text
    back = _data(q.reply_markup, "« 上一题")
    await h.feed(u.press(q.message_id, back))
    await h.feed(u.press(q.message_id, back))  # a double tap goes back once
    q = h.api.last(USER)
    assert "第 2/3 项" in q.text and "● 不清楚 / 说不清" in [t for t, _ in buttons(q.reply_markup)]
    assert not any(a.call.show_alert for a in h.api.answers())
    q = await _tap(h, u, "« 上一题")
    assert "第 1/3 项" in q.text and "●2" in [t for t, _ in buttons(q.reply_markup)]
    q = await _tap(h, u, "« 上一题")  # from the first item: the question before
    assert "第一题" in q.text
    q = await _tap(h, u, "甲")
    assert "第 1/3 项" in q.text and "●2" in [t for t, _ in buttons(q.reply_markup)]
    for point, then in (("4", "第 2/3 项"), ("5", "第 3/3 项"), ("3", "备注")):
        q = await _tap(h, u, point)
        assert then in q.text
    assert (await _stored(h))["rate"] == {"1": 4, "2": 5, "3": 3}


async def test_the_start_button_of_an_older_welcome_says_the_questionnaire_goes_on(harness):
    # 开始答题 on a welcome from earlier turned that old message into the question, with not a
    # word that this was the questionnaire begun before, going on where it was
    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    older = h.api.last(USER)
    u, q = await _begin(h, code)
    start_again = buttons(older.reply_markup)[0][1]
    await h.feed(u.press(q.message_id, start_again))  # a double tap on the welcome that began it: quiet
    assert "第 1/8 题" in h.api.last(USER).text and not h.api.answers()[-1].text
    await _tap(h, u, "知道一些")
    h.api.clear()
    await h.feed(u.press(older.message_id, start_again))
    [alert] = h.api.answers()
    assert alert.call.show_alert and "接着上次答到的地方继续" in alert.text
    # the questionnaire comes again below, and the message it was on keeps no buttons
    calls = [c for c in h.api.calls if c.method != "answerCallbackQuery"]
    assert [(c.method, c.message_id) for c in calls[:1]] == [("editMessageReplyMarkup", q.message_id)]
    assert [c.method for c in calls[1:]] == ["sendMessage"]
    live = h.api.last(USER)
    assert "第 2/8 题" in live.text
    await _tap(h, u, "4")
    assert "第 3/8 题" in h.api.last(USER).text and h.api.last(USER).message_id == live.message_id
    reminder = live.message_id + 1  # a newer message's start button (a reminder's 继续填写): in that message
    h.api.clear()
    await h.feed(u.press(reminder, start_again))
    assert h.api.last(USER).message_id == reminder and "第 3/8 题" in h.api.last(USER).text
    assert not h.api.answers()[-1].text
    # the message it was on keeps no buttons
    assert [c.reply_markup for c in h.api.calls if c.message_id == live.message_id] == [None]
    for label in ("3", "3", "☐ 养老", "完成", "没有", "跳过", "跳过"):
        await _tap(h, u, label)
    h.api.clear()
    await h.feed(u.press(older.message_id, start_again))
    [alert] = h.api.answers()
    assert "已经填完" in alert.text and "谢谢您参加" in h.api.last(USER).text


async def test_a_double_tap_on_a_rating_score_rates_once_and_pops_nothing_up(harness):
    # the second tap of a double tap on an item's score re-drew the same screen (Telegram:
    # "message is not modified", raised out of the handler), and on the last item it popped up
    # "这是之前的消息" on the newest message
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import EditMessageText

    h = harness
    _, code = await open_consultation(h, questionnaire=ITEMS_QUESTIONNAIRE)
    u, _ = await start(h, code)
    q = await _tap(h, u, "甲")
    three = _data(q.reply_markup, "3")
    await h.feed(u.press(q.message_id, three))
    assert "第 2/3 项" in h.api.last(USER).text
    h.api.fail_with["editMessageText"] = TelegramBadRequest(  # Telegram: the screen is that already
        EditMessageText(text="-", chat_id=USER, message_id=q.message_id),
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same")
    await h.feed(u.press(q.message_id, three))
    answer = h.api.answers()[-1]
    assert not answer.call.show_alert and not answer.text and not h.api.fail_with
    q = await _tap(h, u, "4")
    last = _data(q.reply_markup, "5")
    await h.feed(u.press(q.message_id, last))
    assert "备注" in h.api.last(USER).text
    await h.feed(u.press(q.message_id, last))
    assert "备注" in h.api.last(USER).text and not h.api.answers()[-1].text
    assert (await _stored(h))["rate"] == {"1": 3, "2": 4, "3": 5}


async def test_start_from_the_menu_after_the_deadline_says_the_questionnaire_closed(harness):
    # /start (the menu's 开始 / 继续答题) after the deadline greeted the resident as a newcomer,
    # "请通过乡镇发布的链接或二维码参加", where any other message said it had closed
    h = harness
    _, code = await open_consultation(h)
    u, _ = await _begin(h, code)
    await _tap(h, u, "知道一些")
    h.clock.advance(days=11)
    await h.feed(u.message("/start"))
    text = h.api.last(USER).text
    assert "已于 2026-12-11 10:00 截止" in text and "链接" not in text
    assert await _stored(h) == {"aware": "some"}
    await h.feed(h.user(5002).message("/start"))  # someone who never joined: the greeting
    assert "请通过乡镇发布的链接或二维码参加" in h.api.last(5002).text


async def test_a_nul_character_in_a_link_code_or_a_name_is_dropped(harness):
    """PostgreSQL refuses NUL in text: a /start code and a Telegram name with one (a
    client that sends it) find the consultation (and the name is not stored at all)."""
    from bot.testing import Updates
    from storage.models import Person

    h = harness
    _, code = await open_consultation(h)
    u = Updates(USER, first_name="张\x00三")
    await h.feed(u.message(f"/start {code}\x00"))
    assert "青山镇履职事项清单征求意见" in h.api.last(USER).text
    async with h.sessions() as s:
        assert (await s.get(Person, USER)).first_name == ""


async def test_start_tapped_on_a_welcome_too_old_to_edit_sends_the_first_question_anew(harness):
    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(USER)
    h.api.clear()
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1], old=True))
    q = h.api.last(USER)
    assert q.method == "sendMessage" and "第 1/8 题" in q.text
    assert h.api.answers() and not h.api.answers()[-1].text  # the press answered, quietly
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))  # the new message is the live one
    assert "第 2/8 题" in h.api.last(USER).text
    assert await _stored(h) == {"aware": "well"}


async def test_change_tapped_on_a_summary_too_old_to_edit_offers_the_questions_anew(harness):
    h = harness
    _, code = await open_consultation(h)
    u, summary = await _finished(h, code)
    h.api.clear()
    await h.feed(u.press(summary.message_id, _data(summary.reply_markup, "修改"), old=True))
    menu = h.api.last(USER)
    assert menu.method == "sendMessage" and "要修改哪一题" in menu.text
    assert "之前的消息" not in (h.api.answers()[-1].text or "")
    await h.feed(u.press(menu.message_id, _data(menu.reply_markup, "1.")))
    await h.feed(u.press(menu.message_id, _data(h.api.last(USER).reply_markup, "不知道")))
    assert (await _stored(h))["aware"] == "no"


async def test_an_answer_tapped_on_a_question_too_old_to_edit_is_stored_and_the_next_comes_anew(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚"), old=True))
    nxt = h.api.last(USER)
    assert nxt.method == "sendMessage" and "第 2/8 题" in nxt.text
    assert await _stored(h) == {"aware": "well"}
    await h.feed(u.press(q.message_id, _data(nxt.reply_markup, "4"), old=True))  # the older one: refused
    assert "之前的消息" in h.api.answers()[-1].text
    assert await _stored(h) == {"aware": "well"}


async def test_a_language_chosen_on_a_message_too_old_to_edit_is_confirmed_in_a_new_message(harness):
    h = harness
    u = h.user(USER)
    await h.feed(u.message("/language"))
    menu = h.api.last(USER)
    await h.feed(u.press(menu.message_id, _data(menu.reply_markup, "English"), old=True))
    said = h.api.last(USER)
    assert said.method == "sendMessage" and "English" in said.text


async def test_blocking_the_bot_makes_the_person_inactive_at_once_and_unblocking_active_again(harness):
    from storage.models import Person

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    h.api.clear()
    await h.feed(u.block())
    assert h.api.calls == []  # nothing said to someone who blocked the bot
    async with h.sessions() as s:
        assert (await s.get(Person, USER)).active is False  # announcements and reminders skip them
    await h.feed(u.block(blocked=False))
    async with h.sessions() as s:
        assert (await s.get(Person, USER)).active is True
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    assert await _stored(h) == {"aware": "well"}


async def test_blocking_the_bot_after_delete_me_stores_nothing_about_the_person_again(harness):
    from storage.models import Person

    h = harness
    _, code = await open_consultation(h)
    u, _ = await _begin(h, code)
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(USER)
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    await h.feed(u.block())  # erased, then gone: Telegram tells the bot
    await h.feed(u.block(blocked=False))  # and back without a word: still nothing to keep
    async with h.sessions() as s:
        assert await s.get(Person, USER) is None


def test_the_bot_asks_telegram_for_the_block_and_unblock_updates():
    from bot.app import build_dispatcher
    from bot.config import Settings
    from storage.engine import make_engine, make_sessionmaker

    engine = make_engine("sqlite+aiosqlite:///:memory:")
    dp = build_dispatcher(Settings(database_url="sqlite+aiosqlite:///:memory:"), make_sessionmaker(engine))
    assert "my_chat_member" in dp.resolve_used_update_types()  # polling's and the webhook's allowed_updates


async def test_a_typed_answer_edited_in_telegram_is_stored_as_edited(harness):
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    sent = u.message("村里的路灯没人管")
    await h.feed(sent)
    assert "还有什么意见" in h.api.last(USER).text
    h.api.clear()
    await h.feed(u.edit(sent, "村里的路灯和水管没人管"))
    assert (await _stored(h))["missing_what"] == "村里的路灯和水管没人管"
    said = h.api.texts(USER)
    assert "已按您改过的内容保存" in said[0] and "还有什么意见" in said[1]  # the same question, again
    await _tap(h, u, "跳过")
    await _tap(h, u, "60–74")
    assert "村里的路灯和水管没人管" in h.api.last(USER).text  # the summary


async def test_an_edit_of_a_typed_answer_keeps_the_ticks_on_the_question_on_screen(harness):
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    sent = u.message("村里的路灯没人管")
    await h.feed(sent)
    for label in ("« 上一题", "« 上一题", "« 上一题"):  # back to the multi-choice question
        q = await _tap(h, u, label)
    assert "最希望" in q.text
    q = await _tap(h, u, "☐ 养老")  # ticked, not yet submitted
    assert "☑ 养老和助老服务" in str(buttons(q.reply_markup))
    await h.feed(u.edit(sent, "村里的路灯和水管没人管"))
    assert (await _stored(h))["missing_what"] == "村里的路灯和水管没人管"
    again = h.api.last(USER)
    assert "最希望" in again.text
    shown = str(buttons(again.reply_markup))
    assert "☑ 养老和助老服务" in shown and "☑ 低保和困难救助" in shown  # the tick left, and the one stored


async def test_an_edit_that_is_no_valid_answer_keeps_the_answer_and_says_why(harness):
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    sent = u.message("村里的路灯没人管")
    await h.feed(sent)
    await h.feed(u.edit(sent, "长" * 501))
    assert "500" in h.api.last(USER).text and "原来的回答不变" in h.api.last(USER).text
    assert (await _stored(h))["missing_what"] == "村里的路灯没人管"


async def test_an_edit_of_a_message_that_answered_nothing_changes_nothing_and_says_so(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    chat = u.message("你好")  # at a question with buttons: not an answer
    await h.feed(chat)
    await h.feed(u.press(h.api.last(USER).message_id, _data(h.api.last(USER).reply_markup, "很清楚")))
    await h.feed(u.edit(chat, "不知道"))
    assert "不会改变已保存的内容" in h.api.last(USER).text
    assert await _stored(h) == {"aware": "well"}


async def test_an_edit_after_the_deadline_changes_nothing_and_says_it_closed(harness):
    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    sent = u.message("村里的路灯没人管")
    await h.feed(sent)
    h.clock.advance(days=11)
    await h.feed(u.edit(sent, "改了"))
    assert "截止，不再接收回答" in h.api.last(USER).text
    assert (await _stored(h))["missing_what"] == "村里的路灯没人管"


async def test_an_album_of_photos_gets_one_note_and_one_question_not_one_per_photo(harness):
    from aiogram.types import PhotoSize

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    h.api.clear()
    for n in range(3):  # Telegram delivers an album as one message per photo, with one media_group_id
        await h.feed(u.message(photo=[PhotoSize(file_id=f"p{n}", file_unique_id=f"p{n}", width=1, height=1)],
                               media_group_id="album-1"))
    said = h.api.texts(USER)
    assert len(said) == 2 and "图片、语音" in said[0] and "第 1/8 题" in said[1]
    await h.feed(u.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)],
                           media_group_id="album-2"))  # another album: answered again
    assert len(h.api.texts(USER)) == 4
    await h.feed(u.press(h.api.last(USER).message_id, _data(h.api.last(USER).reply_markup, "很清楚")))
    assert await _stored(h) == {"aware": "well"}


async def test_a_photo_with_a_caption_at_a_typed_question_says_the_caption_was_not_taken_either(harness):
    from aiogram.types import PhotoSize

    h = harness
    _, code = await open_consultation(h)
    u = await _at_missing_what(h, code)
    h.api.clear()
    await h.feed(u.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)], caption="路灯坏了"))
    note, question = h.api.texts(USER)
    assert "图片、语音" in note and "请把文字单独发一次" in note and "是什么事" in question
    assert "missing_what" not in await _stored(h)
    await h.feed(u.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)]))
    assert "单独发" not in h.api.texts(USER)[2]  # no caption: nothing to say about one


async def test_a_language_chosen_with_language_gives_the_command_menu_in_it_too(harness):
    # the menu followed the Telegram app's language only: English chosen in a Chinese app
    # left every command described in Chinese
    h = harness
    u = h.user(USER)  # a Chinese Telegram app
    await h.feed(u.message("/language"))
    menu = h.api.last(USER)
    h.api.clear()
    await h.feed(u.press(menu.message_id, _data(menu.reply_markup, "English")))
    menus = {c.call.language_code: c.call.commands for c in h.api.calls if c.method == "setMyCommands"}
    assert all(c.call.scope.chat_id == USER for c in h.api.calls if c.method == "setMyCommands")
    assert set(menus) == {"zh", "en", None}  # whatever the app's language
    for commands in menus.values():
        described = {x.command: x.description for x in commands}
        assert described["language"] == "Change language" and described["help"] == "What I can do"
        assert "list" not in described  # a resident's menu


async def test_a_cadre_who_chose_a_language_gets_the_cadres_menu_in_it(harness):
    from storage.invites import create_invites
    from storage.lists import get_township

    h = harness
    await open_consultation(h)
    u = h.user(USER, language_code="en")  # an English app, Chinese chosen
    await h.feed(u.message("/language"))
    await h.feed(u.press(h.api.last(USER).message_id, _data(h.api.last(USER).reply_markup, "中文")))
    async with h.sessions() as s:
        t = await get_township(s, "青山镇")
        code = (await create_invites(s, t.id, "cadre", 1, None, None))[0].code
        await s.commit()
    h.api.clear()
    await h.feed(u.message(f"/start inv_{code}"))
    menus = {c.call.language_code: c.call.commands for c in h.api.calls if c.method == "setMyCommands"}
    assert set(menus) == {"zh", "en", None}
    for commands in menus.values():
        assert {x.command: x.description for x in commands}["list"] == "浏览清单"


async def test_delete_me_takes_back_the_menu_of_a_language_chosen_before(harness):
    h = harness
    u = h.user(USER)  # a Chinese Telegram app, English chosen: an English menu of its own
    await h.feed(u.message("/language"))
    await h.feed(u.press(h.api.last(USER).message_id, _data(h.api.last(USER).reply_markup, "English")))
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(USER)
    h.api.clear()
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "Yes, delete")))
    menus = {c.call.language_code: c.call.commands for c in h.api.calls if c.method == "setMyCommands"}
    assert set(menus) == {"zh", "en", None}  # the choice is deleted: each app language's menu again
    assert {x.command: x.description for x in menus["zh"]}["language"] == "切换语言"


async def test_an_organizers_chosen_language_survives_a_restart_of_the_bot(harness):
    # every start set each configured organizer's menu again per app language, undoing a choice
    from bot.app import Runtime, set_startup_commands
    from tests.bot.conftest import ORGANIZER

    h = harness
    o = h.user(ORGANIZER)  # a Chinese Telegram app, English chosen
    await h.feed(o.message("/language"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _data(h.api.last(ORGANIZER).reply_markup, "English")))
    h.api.clear()
    await set_startup_commands(Runtime(h.settings, None, h.sessions, h.bot, h.dp))
    mine = {c.call.language_code: c.call.commands for c in h.api.calls
            if c.method == "setMyCommands" and getattr(c.call.scope, "chat_id", None) == ORGANIZER}
    assert set(mine) == {"zh", "en", None}
    for commands in mine.values():
        assert {x.command: x.description for x in commands}["stats"] == "Progress"
    everybody = {c.call.language_code: c.call.commands for c in h.api.calls
                 if c.method == "setMyCommands" and c.call.scope.type == "default"}
    assert {x.command: x.description for x in everybody["zh"]}["help"] == "能做什么"  # others' menus as before


async def test_after_delete_me_an_old_button_or_a_text_stores_nothing_until_a_new_start(harness):
    from storage.models import FSMRecord, Person

    async def kept() -> tuple:
        async with h.sessions() as s:
            return (await s.get(Person, USER), (await s.scalars(sa.select(FSMRecord.key))).all())

    h = harness
    _, code = await open_consultation(h)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    begin = buttons(h.api.last(USER).reply_markup)[0][1]  # the welcome's 开始答题
    await h.feed(u.press(h.api.last(USER).message_id, begin))
    q = h.api.last(USER)
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(USER)
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    assert await kept() == (None, [])
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))  # the old question's button
    assert h.api.answers()[-1].text  # refused, with a word why
    await h.feed(u.message("你好"))
    await h.feed(u.message("/help"))
    await h.feed(u.press(q.message_id, "x:1"))  # a press nobody knows
    assert await kept() == (None, []) and await _stored(h) == {}
    # a welcome's 开始答题 is a new start, as deliberate as /start: stored again, from question 1
    await h.feed(u.press(q.message_id + 100, begin))
    assert (await kept())[0] is not None and "第 1/8 题" in h.api.last(USER).text


async def test_an_english_speaker_gets_a_chinese_only_questionnaire_all_in_chinese(harness):
    """A questionnaire written only in Chinese (Telegram has no Chinese of its own: many
    Chinese residents' apps say "en") is put wholly in Chinese — the welcome, the progress and
    the buttons — not as Chinese questions between "Question 1/2" and "Pause"; one written in
    English too is put in English."""
    h = harness
    yaml_text = """
id: t
title: 测试
questions:
  - id: s
    type: single
    text: 好吗？
    options: [{id: a, text: 好}, {id: b, text: 不好}]
  - id: t
    type: text
    text: 还有什么建议？
    required: false
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u = h.user(7001, language_code="en")
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(7001)
    assert "共 2 个问题" in welcome.text and "questions" not in welcome.text
    assert [t for t, _ in buttons(welcome.reply_markup)] == ["开始答题"]
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    first = h.api.last(7001)
    labels = [t for t, _ in buttons(first.reply_markup)]
    assert "好吗？" in first.text and "Question" not in first.text and "Pause" not in labels and "暂停" in labels
    await h.feed(u.press(first.message_id, buttons(first.reply_markup)[0][1]))
    second = h.api.last(7001)
    assert "还有什么建议？" in second.text and "Type your answer" not in second.text
    assert not {"Skip", "« Back"} & {t for t, _ in buttons(second.reply_markup)}


# --- found in a QA pass (residents, qa_res) -------------------------------------------------------

PICK_QUESTIONNAIRE = """
id: pickq
title: 测试
questions:
  - id: pick
    type: item_pick
    text: 哪些事项最要紧？
    parts: [basic]
    max_picks: 2
  - id: age
    type: single
    text: 年龄
    options: [{id: a, text: 青年}, {id: b, text: 老年}]
"""


async def test_a_double_tap_on_a_tick_ticks_once_and_a_double_tap_on_the_tick_unticks_once(harness):
    # Telegram delivers both taps of a double tap with the data of the keyboard tapped, before
    # the bot has edited it: the second tap un-ticked the option the first had ticked
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    for label in ("知道一些", "3", "3", "3"):
        q = await _tap(h, u, label)
    tick = _data(q.reply_markup, "☐ 养老")
    await h.feed(u.press(q.message_id, tick))
    await h.feed(u.press(q.message_id, tick))
    q = h.api.last(USER)
    assert _ticked(q.reply_markup) == ["养老和助老服务"] and not h.api.answers()[-1].call.show_alert
    untick = _data(q.reply_markup, "☑ 养老")
    await h.feed(u.press(q.message_id, untick))
    await h.feed(u.press(q.message_id, untick))
    q = h.api.last(USER)
    assert _ticked(q.reply_markup) == [] and not h.api.answers()[-1].call.show_alert
    rid = int(untick.split(":")[1])
    await h.feed(u.press(q.message_id, QCB(r=rid, q="needs", a="t", v="elderly").pack()))  # a keyboard of before
    assert _ticked(h.api.last(USER).reply_markup) == ["养老和助老服务"]  # (its toggle still toggles)
    for label in ("☐ 看病", "完成"):
        q = await _tap(h, u, label)
    assert (await _stored(h))["needs"] == ["elderly", "health"]

    _, code = await open_consultation(h, questionnaire=PICK_QUESTIONNAIRE, township="绿水镇")
    other = 5002
    u = h.user(other)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(other)
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    q = h.api.last(other)
    pick = _data(q.reply_markup, "☐ 3. 矛盾纠纷")  # (the names written out above: numbered)
    await h.feed(u.press(q.message_id, pick))
    await h.feed(u.press(q.message_id, pick))
    q = h.api.last(other)
    assert [t[:7] for t in _ticked(q.reply_markup)] == ["3. 矛盾纠纷"]
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "完成")))
    await h.feed(u.press(q.message_id, pick))  # a late second tap once the question moved on: quiet
    assert not h.api.answers()[-1].text and "年龄" in h.api.last(other).text
    async with h.sessions() as s:
        rows = (await s.execute(sa.select(Answer.value).join(Response).where(Response.person_id == other))).all()
    assert len(rows) == 1 and len(rows[0][0]) == 1


def _keyboard_left_on(h, message_id: int):
    """The inline keyboard the chat shows now under one of the bot's messages."""
    shown = None
    for c in h.api.calls:
        if c.message_id == message_id and c.method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            shown = c.reply_markup
    return buttons(shown)


async def test_a_typed_answer_leaves_no_live_buttons_on_the_question_it_answered(harness):
    # after a typed answer the next question comes as a new message, and the one answered kept
    # its 跳过 / 暂停 buttons, which then only popped up "这是之前的消息"
    h = harness
    _, code = await open_consultation(h, questionnaire=_TEXT_SECOND)
    u, q = await start(h, code)
    q = await _tap(h, u, "知道")
    assert "建议" in q.text and _keyboard_left_on(h, q.message_id)
    await h.feed(u.message("希望办事更方便"))
    nxt = h.api.last(USER)
    assert "第 3/3 题" in nxt.text and nxt.message_id != q.message_id
    assert _keyboard_left_on(h, q.message_id) == [] and _keyboard_left_on(h, nxt.message_id)
    await h.feed(u.message("我六十多了"))  # typed where a button is expected: the question comes again, below
    again = h.api.last(USER)
    assert again.message_id != nxt.message_id and "第 3/3 题" in again.text
    assert _keyboard_left_on(h, nxt.message_id) == [] and _keyboard_left_on(h, again.message_id)
    await h.feed(u.press(again.message_id, _data(again.reply_markup, "老年")))
    assert await _stored(h) == {"aware": "y", "suggest": "希望办事更方便", "age": "b"}


async def test_a_resident_in_two_questionnaires_chooses_with_start_and_a_reply_files_the_typed_answer(harness):
    # in two open consultations, /start and typed messages went to whichever was touched last,
    # with nothing on screen to say which questionnaire a question belonged to: an answer typed
    # under the other one's text question was stored as an answer to this one's
    h = harness
    _, code_a = await open_consultation(h, questionnaire=_TEXT_SECOND, title="青山镇征求意见")
    _, code_b = await open_consultation(h, questionnaire=_TEXT_SECOND, township="绿水镇", title="绿水镇征求意见")
    u, qa = await start(h, code_a)
    qa = await _tap(h, u, "知道")  # 青山镇's: at its text question
    assert "建议" in qa.text
    _, qb = await start(h, code_b)
    qb = await _tap(h, u, "不知道")  # 绿水镇's: at its text question too, touched last
    h.api.clear()
    await h.feed(u.message("/start"))
    chooser = h.api.last(USER)
    labels = [t for t, _ in buttons(chooser.reply_markup)]
    assert "2" in chooser.text and len(labels) == 2
    assert "绿水镇征求意见" in labels[0] and "青山镇征求意见" in labels[1]
    await h.feed(u.press(chooser.message_id, _data(chooser.reply_markup, labels[1])))
    shown = h.api.last(USER)
    assert shown.message_id == chooser.message_id and "青山镇征求意见" in shown.text and "第 2/3 题" in shown.text
    typed = u.message("路灯要修")
    await h.feed(typed)  # goes to the one chosen
    nxt = h.api.last(USER)
    assert "青山镇征求意见" in nxt.text and "第 3/3 题" in nxt.text
    reply_to = Message(message_id=qb.message_id, date=0, chat=u.chat, text="…")
    await h.feed(u.message("多办实事", reply_to_message=reply_to))  # a reply to 绿水镇's question: its answer
    assert "绿水镇征求意见" in h.api.last(USER).text and "第 3/3 题" in h.api.last(USER).text
    await h.feed(u.edit(typed, "路灯要早点修"))  # an edit follows the answer to the questionnaire it went to
    assert "青山镇征求意见" in h.api.last(USER).text
    async with h.sessions() as s:
        rows = (await s.execute(sa.select(Response.township_id, Answer.question_id, Answer.value)
                                .join(Answer, Answer.response_id == Response.id)
                                .where(Answer.question_id == "suggest").order_by(Response.id))).all()
    assert [r[2] for r in rows] == ["路灯要早点修", "多办实事"]


async def test_a_finished_questionnaire_touched_last_does_not_take_start_or_the_answer_for_an_unfinished_one(harness):
    # one questionnaire finished (its summary looked at last), another at its text question:
    # /start showed the finished one's summary, and the answer typed for the other was "not saved"
    h = harness
    _, code_a = await open_consultation(h, questionnaire=_TEXT_SECOND, title="青山镇征求意见")
    _, code_b = await open_consultation(h, questionnaire=_TEXT_SECOND, township="绿水镇", title="绿水镇征求意见")
    u, _ = await start(h, code_b)
    await _tap(h, u, "知道")  # 绿水镇's: at its text question
    _, _ = await start(h, code_a)
    for label in ("知道", "跳过", "青年"):
        summary = await _tap(h, u, label)
    assert "谢谢您参加" in summary.text
    await _tap(h, u, "修改")
    await _tap(h, u, "« ")  # back to the summary: 青山镇's touched last
    assert "谢谢您参加" in h.api.last(USER).text
    await h.feed(u.message("/start"))
    shown = h.api.last(USER)
    assert "建议" in shown.text and "第 2/3 题" in shown.text
    await h.feed(u.message("多办实事"))
    assert "第 3/3 题" in h.api.last(USER).text
    async with h.sessions() as s:
        rows = (await s.execute(sa.select(Answer.value).where(Answer.question_id == "suggest")
                                .order_by(Answer.response_id))).all()
    assert [r[0] for r in rows] == ["多办实事", None]


async def test_the_list_of_unfinished_questionnaires_is_in_their_language(harness):
    # an English app with two Chinese-only questionnaires: the list to choose from came in English
    h = harness
    _, code_a = await open_consultation(h, questionnaire=_TEXT_SECOND, title="青山镇征求意见")
    _, code_b = await open_consultation(h, questionnaire=_TEXT_SECOND, township="绿水镇", title="绿水镇征求意见")
    u = h.user(USER, language_code="en")
    for code in (code_a, code_b):
        await h.feed(u.message(f"/start {code}"))
        welcome = h.api.last(USER)
        await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    await h.feed(u.message("/start"))
    chooser = h.api.last(USER)
    assert "份问卷还没有填完" in chooser.text and "questionnaires" not in chooser.text
    assert [t for t, _ in buttons(chooser.reply_markup)] == ["绿水镇：绿水镇征求意见", "青山镇：青山镇征求意见"]


async def test_a_press_after_the_deadline_takes_the_buttons_off_the_question(harness):
    # after the deadline every tap on the question (or on the summary's 修改) popped up "closed",
    # and the buttons stayed, to be tapped again and again
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    q = await _tap(h, u, "很清楚")
    h.clock.advance(days=11)
    h.api.clear()
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "3")))
    [alert] = h.api.answers()
    assert alert.call.show_alert and "截止" in alert.text
    assert [(c.method, c.message_id, c.reply_markup) for c in h.api.calls if c.method != "answerCallbackQuery"] \
        == [("editMessageReplyMarkup", q.message_id, None)]
    assert await _stored(h) == {"aware": "well"}


async def test_after_cancel_the_question_coming_again_below_leaves_no_live_buttons_above(harness):
    # /cancel pauses without touching the question message; the message that resumes brings the
    # question again below, and the one above kept its buttons, which then only said "old message"
    h = harness
    _, code = await open_consultation(h, questionnaire=_TEXT_SECOND)
    u, q = await start(h, code)
    await h.feed(u.message("/cancel"))
    await h.feed(u.message("我回来了"))
    again = h.api.last(USER)
    assert again.message_id != q.message_id and "第 1/3 题" in again.text
    assert _keyboard_left_on(h, q.message_id) == [] and _keyboard_left_on(h, again.message_id)


async def test_the_list_of_unfinished_questionnaires_names_the_township_first(harness):
    # two long titles alike but for the township: a phone cut each button after the title's first
    # score of characters, and the township named after the title never showed
    h = harness
    title = "某某县2026年乡镇（街道）履行职责事项清单征求意见（第二轮）"
    _, code_a = await open_consultation(h, questionnaire=_TEXT_SECOND, title=title)
    _, code_b = await open_consultation(h, questionnaire=_TEXT_SECOND, township="绿水镇", title=title)
    u = h.user(USER)
    for code in (code_a, code_b):
        await start(h, code)
    await h.feed(u.message("/start"))
    labels = [t for t, _ in buttons(h.api.last(USER).reply_markup)]
    assert [t[:3] for t in labels] == ["绿水镇", "青山镇"], labels


async def test_an_option_typed_as_its_words_is_taken_and_said_back(harness):
    """A resident who typed 好 (an option's words) or 比较满意 / 4 (a scale point) instead of
    tapping was told only to use the buttons; what names one option exactly is taken, and the
    bot says what it recorded. What names none (满意: which one?) is still pointed to the buttons."""
    h = harness
    yaml_text = HOUSEHOLD + """\
  - id: s
    type: single
    text: 好吗？
    options: [{id: a, text: 好}, {id: b, text: 不好}]
  - id: sat
    type: scale
    text: 满意吗？
    labels: {1: 很不满意, 2: 不太满意, 3: 一般, 4: 比较满意, 5: 很满意}
    allow_unsure: true
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u, q = await start(h, code)
    await h.feed(u.message("3"))
    h.api.clear()
    await h.feed(u.message("不好"))
    assert await _stored(h) == {"n": 3, "s": "b"}
    assert "好的，记为：不好。" in h.api.texts(USER)
    h.api.clear()
    await h.feed(u.message("满意"))
    assert await _stored(h) == {"n": 3, "s": "b"}
    assert "请点下面问题里的按钮来回答。" in h.api.texts(USER)
    await h.feed(u.message("比较满意"))
    assert (await _stored(h))["sat"] == 4


async def test_a_typed_choice_edited_in_telegram_is_followed_like_other_typed_answers(harness):
    """A resident who typed 比较满意 (a scale point) or 好 (an option) and then edited it in Telegram
    to 不太满意 was told the edit changes nothing; the answer follows the edit while the question is
    still answerable, and an edit that names no option keeps the answer and says why."""
    h = harness
    yaml_text = HOUSEHOLD + """\
  - id: s
    type: single
    text: 好吗？
    options: [{id: a, text: 好}, {id: b, text: 不好}]
  - id: sat
    type: scale
    text: 满意吗？
    labels: {1: 很不满意, 2: 不太满意, 3: 一般, 4: 比较满意, 5: 很满意}
    allow_unsure: true
"""
    _, code = await open_consultation(h, questionnaire=yaml_text)
    u, q = await start(h, code)
    await h.feed(u.message("3"))
    good = u.message("好")
    await h.feed(good)
    sat = u.message("比较满意")
    await h.feed(sat)
    assert await _stored(h) == {"n": 3, "s": "a", "sat": 4}
    h.api.clear()
    await h.feed(u.edit(sat, "不太满意"))
    assert (await _stored(h))["sat"] == 2
    said = "\n".join(h.api.texts(USER))
    assert "不会改变" not in said and "不太满意" in said, said
    assert h.api.texts(USER)[0] == "好的，这个回答已改为：2（不太满意）。"  # one line, one 好的
    await h.feed(u.edit(good, "不好"))
    assert await _stored(h) == {"n": 3, "s": "b", "sat": 2}
    h.api.clear()
    await h.feed(u.edit(sat, "满意"))  # which one? the answer stays
    assert (await _stored(h))["sat"] == 2
    assert "原来的回答不变" in "\n".join(h.api.texts(USER))


def _long_questionnaire(n: int) -> str:
    questions = "".join(f"""
  - id: q{k}
    type: single
    text: {{zh_CN: 第{k}个问题：您对这项工作满意吗, en: Question {k}}}
    options:
      - id: y
        text: {{zh_CN: 满意, en: Yes}}
      - id: n
        text: {{zh_CN: 不满意, en: No}}
""" for k in range(n))
    return f"id: long\ntitle: {{zh_CN: 长问卷, en: Long}}\nquestions:{questions}"


async def test_the_change_menu_of_a_100_question_questionnaire_is_shown_in_pages(harness):
    """A questionnaire may have 100 questions: 修改 listed a button for each plus « 返回, 101
    buttons, which Telegram refuses, so the resident who tapped 修改 got 'something went wrong'
    and could change nothing. The menu comes in pages, and the last question can be changed."""
    h = harness
    _, code = await open_consultation(h, questionnaire=_long_questionnaire(100))
    u, q = await start(h, code)
    for _ in range(100):
        q = await _tap(h, u, "满意")
    assert "谢谢您参加" in q.text
    menu = await _tap(h, u, "修改")
    assert "谢谢您参加" not in menu.text and 0 < len(buttons(menu.reply_markup)) <= 100
    while not any(text.startswith("100.") for text, _ in buttons(h.api.last(USER).reply_markup)):
        await _tap(h, u, "›")
    q = await _tap(h, u, "100.")
    assert "第99个问题" in q.text
    q = await _tap(h, u, "不满意")
    assert "谢谢您参加" in q.text


LONG_OPTIONS = """
id: long_options
title: {zh_CN: 问卷, en: Questionnaire}
questions:
  - id: aware
    type: single
    text: {zh_CN: 您知道乡镇负责办哪些事吗？, en: Do you know what your township does}
    options:
      - id: some
        text: {zh_CN: 知道一些乡镇平时负责办的事情，比如低保和调解纠纷, en: Some}
      - id: heard
        text: {zh_CN: 知道一些乡镇平时负责办的事情，但是说不清具体有哪些, en: Heard}
  - id: need
    type: multi
    text: {zh_CN: 您最需要哪些服务？, en: Which services}
    options:
      - id: a
        text: {zh_CN: 社会救助和养老服务等民生方面的事情（低保、特困、临时救助）, en: A}
      - id: b
        text: {zh_CN: 社会救助和养老服务等民生方面的事情（居家养老、助餐）, en: B}
"""


async def test_options_too_long_for_a_button_are_written_out_in_full_above_the_buttons(harness):
    """A questionnaire's option longer than a phone shows on a button was cut by Telegram after
    a score of characters: two options beginning alike could not be told apart. Such a question
    now writes its options out in full, numbered, and the buttons carry the numbers."""
    from bot.limits import BUTTON_WIDTH, width

    h = harness
    _, code = await open_consultation(h, questionnaire=LONG_OPTIONS)
    u, q = await start(h, code)
    for screen in range(2):
        for option in ("知道一些乡镇平时负责办的事情，比如低保和调解纠纷", "知道一些乡镇平时负责办的事情，但是说不清具体有哪些") \
                if screen == 0 else ("社会救助和养老服务等民生方面的事情（低保、特困、临时救助）",
                                     "社会救助和养老服务等民生方面的事情（居家养老、助餐）"):
            assert option in q.text
        labels = [text for text, _ in buttons(q.reply_markup)]
        assert all(width(text) <= BUTTON_WIDTH for text in labels), labels
        q = await _tap(h, u, "2.") if screen == 0 else await _tap(h, u, "☐ 1.")
    assert (await _stored(h))["aware"] == "heard"


async def test_the_summary_of_answers_on_items_of_long_names_keeps_its_deadline_line(harness):
    """Ten items rated and ten picked, of names of 200 characters (a first-pass inventory's): the
    summary repeated every name in full, past Telegram's 4,096 characters, and the cut at the
    limit took the last answers and the line saying until when they may be changed. The
    answers' lines are shortened to fit, every question stays, and the deadline line too."""
    from bot.limits import TEXT_LIMIT
    from bot.sandbox.htmltext import parse_html
    from surveys.duty_list import DutyItem, Part

    h = harness
    items = [DutyItem(Part.BASIC, f"事项{k:02d}" + "长" * 196, seq=k + 1, category="民生服务", basis="《办法》")
             for k in range(10)]
    questionnaire = """
id: items
title: {zh_CN: 事项问卷, en: Items}
questions:
  - id: rate
    type: item_rating
    text: {zh_CN: 请给这些事项打分, en: Rate these}
    max_items: 10
  - id: pick
    type: item_pick
    text: {zh_CN: 请选出最需要的事项, en: Pick}
    max_picks: 10
"""
    _, code = await open_consultation(h, questionnaire=questionnaire, items=items)
    u, q = await start(h, code)
    for _ in range(10):
        q = await _tap(h, u, "5")
    for k in range(10):
        if not [t for t, _ in buttons(q.reply_markup) if t.startswith(f"☐ {k + 1}. 事项{k:02d}")]:
            q = await _tap(h, u, "›")
        q = await _tap(h, u, f"☐ {k + 1}. 事项{k:02d}")
    q = await _tap(h, u, "完成")
    shown = parse_html(q.text)[0]
    assert "谢谢您参加" in shown and len(shown) <= TEXT_LIMIT
    assert shown.rstrip().endswith("之前都可以点“修改”更改回答。")
    assert "1. 请给这些事项打分" in shown and "2. 请选出最需要的事项" in shown


async def test_a_welcome_with_a_long_introduction_keeps_the_deadline_and_what_is_kept(harness):
    """An introduction as long as a public notice (征求意见公告, a few thousand characters) pushed
    the welcome past Telegram's 4,096 characters, and the cut at the limit took what follows
    the introduction: how many questions, the deadline, and what the bot keeps of the resident.
    The introduction is shortened to leave them."""
    from bot.limits import TEXT_LIMIT
    from bot.sandbox.htmltext import parse_html

    h = harness
    notice = "为进一步厘清乡镇（街道）职责边界，现就履行职责事项清单公开征求意见。" * 130
    questionnaire = ITEMS_QUESTIONNAIRE.replace("title: {zh_CN: 测试问卷, en: Test questionnaire}",
                                                f"title: {{zh_CN: 测试问卷, en: Test questionnaire}}\nintro: {notice}")
    _, code = await open_consultation(h, questionnaire=questionnaire)
    u = h.user(USER)
    await h.feed(u.message(f"/start {code}"))
    shown = parse_html(h.api.last(USER).text)[0]
    assert len(shown) <= TEXT_LIMIT and "为进一步厘清乡镇" in shown
    assert "截止时间" in shown and shown.rstrip().endswith("发送 /delete_me 随时删除您的全部信息。")


async def test_a_question_of_a_very_long_text_keeps_how_to_answer_it(harness):
    """A question may be any length: one quoting a notice at length passed Telegram's 4,096
    characters with its help, and the cut took what follows, here how to answer it (type it,
    up to how many characters). The question's text and help give way instead."""
    from bot.limits import TEXT_LIMIT
    from bot.sandbox.htmltext import parse_html

    h = harness
    long_text = "根据《中华人民共和国民法典》有关规定，" * 250
    questionnaire = f"""
id: longq
title: {{zh_CN: 问卷, en: Questionnaire}}
questions:
  - id: say
    type: text
    text: {{zh_CN: "{long_text}您有什么意见？", en: Say}}
    help: {{zh_CN: "{long_text}", en: Help}}
"""
    _, code = await open_consultation(h, questionnaire=questionnaire)
    u, q = await start(h, code)
    shown = parse_html(q.text)[0]
    assert len(shown) <= TEXT_LIMIT and shown.startswith("第 1/1 题")
    assert shown.splitlines()[-1].startswith("请直接发文字回答"), shown[-200:]


async def test_an_item_pick_page_writes_out_names_too_long_for_a_button(harness):
    """Item names as published are long and often begin alike (最低生活保障…的申请受理 /
    …的调查审核): on the pick buttons, cut to a phone's width, they looked the same. A page
    with such a name writes the names out in full, numbered, and the buttons carry the numbers."""
    from surveys.duty_list import DutyItem, Part

    h = harness
    items = [DutyItem(Part.BASIC, "最低生活保障、特困人员救助供养、临时救助的申请受理", seq=1, category="民生服务"),
             DutyItem(Part.BASIC, "最低生活保障、特困人员救助供养、临时救助的调查审核", seq=2, category="民生服务"),
             DutyItem(Part.BASIC, "矛盾纠纷排查", seq=3, category="平安法治")]
    questionnaire = """
id: pick
title: {zh_CN: 事项问卷, en: Items}
questions:
  - id: pick
    type: item_pick
    text: {zh_CN: 请选出最需要的事项, en: Pick}
"""
    _, code = await open_consultation(h, questionnaire=questionnaire, items=items)
    u, q = await start(h, code)
    assert "1. 最低生活保障、特困人员救助供养、临时救助的申请受理" in q.text
    assert "2. 最低生活保障、特困人员救助供养、临时救助的调查审核" in q.text
    q = await _tap(h, u, "☐ 2.")
    assert [t for t, _ in buttons(q.reply_markup) if t.startswith("☑ 2.")]
    q = await _tap(h, u, "完成")
    assert "临时救助的调查审核" in q.text and "临时救助的申请受理" not in q.text


async def test_a_press_after_the_deadline_of_a_long_emoji_title_still_says_it_closed_and_when(harness):
    """A press's pop-up holds 200 of Telegram's UTF-16 units; a title of 100 emoji (200 units)
    filled it, cut before "已于 … 截止" — the resident saw the title and not why nothing
    happened. The title is shortened to leave the rest its room."""
    from bot.limits import ANSWER_LIMIT, units

    h = harness
    _, code = await open_consultation(h, title="😀" * 100)
    u, q = await _begin(h, code)
    h.clock.advance(days=11)
    h.api.clear()
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    [alert] = h.api.answers()
    assert alert.call.show_alert and alert.text.startswith("《😀")
    assert "截止，不再接收回答" in alert.text and units(alert.text) <= ANSWER_LIMIT


async def test_welcome_says_what_is_kept_who_sees_it_and_how_to_delete_it_before_the_first_answer(harness):
    h = harness
    _, code = await open_consultation(h)
    await h.feed(h.user(USER).message(f"/start {code}"))
    welcome = h.api.last(USER)
    assert "Telegram 编号和回答（不保存您的名字）" in welcome.text
    assert "只有县里组织这次征询的工作人员能看到回答" in welcome.text
    assert "/mydata" in welcome.text and "/delete_me" in welcome.text
    assert await _stored(h) == {}  # told before anything of theirs is kept
    await h.feed(h.user(USER + 1, language_code="en").message(f"/start {code}"))
    english = h.api.last(USER + 1).text
    assert "only the county staff running this consultation see the answers" in english
    assert "/delete_me to erase all of it" in english
