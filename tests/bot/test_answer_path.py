"""The answer path's guarantees under its caches and group commit: nothing is
acknowledged before it is committed, a duplicate update is handled once even when
both copies arrive together, and a bot process holding a stale copy of a response
(another process moved on) writes nothing wrong."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, EditMessageText

from bot.app import build_dispatcher
from bot.testing import TEST_TOKEN, RecordingSession, buttons, feed
from bot.texts import gettext
from storage.answer_path import answer_path
from storage.engine import make_engine, make_sessionmaker
from storage.fsm import SQLStorage
from storage.models import Answer, Response
from tests.bot.conftest import Harness, close_early, open_consultation
from tests.bot.test_resident_flow import USER, _begin, _data, _stored


async def test_a_press_is_acknowledged_only_after_its_answer_is_committed(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    seen: dict[str, dict] = {}
    record = h.api.make_request

    async def check(bot, method, timeout=None):
        # another connection sees what is committed, and only that
        seen[method.__api_method__] = await _stored(h)
        return await record(bot, method, timeout)

    h.api.make_request = check  # type: ignore[method-assign]
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    assert seen["answerCallbackQuery"] == {"aware": "well"}
    assert seen["editMessageText"] == {"aware": "well"}


async def test_a_press_is_answered_after_its_edit_and_at_once_when_the_edit_fails(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    calls = len(h.api.calls)
    result = await h.dp.feed_update(h.bot, u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    # the handler returns the press's answer (a webhook's reply; polling calls it next)
    assert isinstance(result, AnswerCallbackQuery) and result.callback_query_id
    assert [c.method for c in h.api.calls[calls:]] == ["editMessageText"]

    q2 = h.api.last(USER)
    h.api.fail_with["editMessageText"] = TelegramBadRequest(method=EditMessageText(text="x"), message="boom")
    calls = len(h.api.calls)
    await h.feed(u.press(q2.message_id, _data(q2.reply_markup, "3")))
    # answered at once; the failed edit is then apologized for (bot.errors)
    assert [c.method for c in h.api.calls[calls:]] == ["answerCallbackQuery", "sendMessage"]
    assert h.api.calls[-1].text == gettext("error.internal", "zh_CN")
    assert (await _stored(h))["aware"] == "well"


async def test_a_press_whose_edit_cannot_reach_telegram_says_so_in_its_pop_up_and_sends_nothing(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    q2 = h.api.last(USER)
    record, tried = h.api.make_request, []

    async def unreachable(bot, method, timeout=None):
        if method.__api_method__ == "editMessageText":
            tried.append(method)
            raise TelegramServerError(method=method, message="Bad Gateway")
        return await record(bot, method, timeout)

    h.api.make_request = unreachable  # type: ignore[method-assign]
    calls = len(h.api.calls)
    result = await h.dp.feed_update(h.bot, u.press(q2.message_id, _data(q2.reply_markup, "3")))
    # the edit was tried again (bot.retry) and failed every time: no apology message through the
    # failing API (a press would get one more message than the person sent), the pop-up says it
    assert len(tried) == 3 and h.api.calls[calls:] == []
    assert isinstance(result, AnswerCallbackQuery) and result.show_alert
    assert result.text == gettext("resident.screen-not-shown", "zh_CN")
    assert await _stored(h) == {"aware": "well", "sat_welfare": 3}  # the answer is kept
    # the next tap on the old screen goes on from there
    h.api.make_request = record  # type: ignore[method-assign]
    await h.feed(u.press(q2.message_id, _data(q2.reply_markup, "3")))
    assert h.api.last(USER).text != q2.text


async def test_presses_in_flight_together_share_one_commit(harness):
    h = harness
    _, code = await open_consultation(h)
    users = [5101, 5102, 5103, 5104]
    firsts = [await _begin(h, code, user=uid) for uid in users]
    writer = answer_path(h.sessions.kw["bind"]).writer
    before = writer.batches
    await asyncio.gather(*(h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚"))) for u, q in firsts))
    assert writer.batches - before < len(users)
    for uid in users:
        assert await _stored(h, uid) == {"aware": "well"}


async def test_the_same_update_twice_at_once_is_handled_once(harness):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    update = u.press(q.message_id, _data(q.reply_markup, "很清楚"))
    calls = len(h.api.calls)
    await asyncio.gather(h.feed(update), h.feed(update))
    assert [c.method for c in h.api.calls[calls:]] == ["editMessageText", "answerCallbackQuery"]
    assert await _stored(h) == {"aware": "well"}


def _second_process(h: Harness, database_url: str):
    """Another bot process on the same database: its own engine, caches and writer."""
    engine = make_engine(database_url)
    api = RecordingSession()
    dp = build_dispatcher(h.settings, make_sessionmaker(engine), SQLStorage(engine), h.clock)
    return engine, api, dp, Bot(TEST_TOKEN, session=api)


async def test_a_process_with_a_stale_copy_writes_nothing_wrong(harness, database):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    live = q.message_id
    scale = _data(q.reply_markup, "很清楚")
    await h.feed(u.press(live, scale))  # this process now caches the response at question 2
    q2 = h.api.last(USER)
    engine, api, dp, bot = _second_process(h, database.url)
    try:
        # the resident's next tap reaches the other process, which answers question 2
        await feed(dp, bot, u.press(live, _data(q2.reply_markup, "3")))
        assert (await _stored(h))["sat_welfare"] == 3
        # a double tap of another point on the same (now old) question reaches this process,
        # whose cached copy still says question 2 is on screen
        h.api.clear()
        await h.feed(u.press(live, _data(q2.reply_markup, "5")))
    finally:
        await engine.dispose()
    assert (await _stored(h))["sat_welfare"] == 3  # not overwritten from the stale copy
    assert [c.method for c in h.api.calls] == ["answerCallbackQuery"] and h.api.calls[0].call.show_alert
    async with h.sessions() as s:
        version = await s.scalar(sa.select(Response.version))
        count = await s.scalar(sa.select(sa.func.count()).select_from(Answer))
    assert version == 3 and count == 2  # begin, question 1, question 2: three writes, two answers


async def test_a_stale_copy_is_refreshed_and_the_press_goes_through(harness, database):
    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    live = q.message_id
    await h.feed(u.press(live, _data(q.reply_markup, "很清楚")))
    engine, api, dp, bot = _second_process(h, database.url)
    try:
        await feed(dp, bot, u.press(live, _data(h.api.last(USER).reply_markup, "3")))
        q3 = api.last(USER)
        assert "第 3/8 题" in q3.text
    finally:
        await engine.dispose()
    # this process still caches question 2 as current; the press on question 3 is not refused
    await h.feed(u.press(live, _data(q3.reply_markup, "4")))
    assert "第 4/8 题" in h.api.last(USER).text
    assert await _stored(h) == {"aware": "well", "sat_welfare": 3, "sat_safety": 4}
    assert buttons(h.api.last(USER).reply_markup)


def test_question_buttons_pack_their_data_exactly_as_the_callback_model_does():
    import pytest

    from bot.routers.resident import QCB, _qcb

    for r, q, a, v in [(1, "q1", "p", "3"), (987654321, "awareness", "b", ""), (5, "rate_x", "r", "12.unsure"),
                       (7, "pick", "k", "1024"), (3, "q", "o", "很满意")]:
        assert _qcb(r, q, a, v) == QCB(r=r, q=q, a=a, v=v).pack()
        assert QCB.unpack(_qcb(r, q, a, v)) == QCB(r=r, q=q, a=a, v=v)
    with pytest.raises(ValueError):
        _qcb(1, "q1", "o", "a:b")  # a separator inside a value is refused, as pack() refuses it
    with pytest.raises(ValueError):
        _qcb(1, "q" * 70, "o", "x")  # over Telegram's 64 bytes


async def test_a_press_whose_reads_hit_the_caches_opens_no_database_session(harness):
    from bot.middlewares import ContextMiddleware

    h = harness
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))  # warms the caches
    second = h.api.last(USER)
    middleware = next(m for m in h.dp.update.outer_middleware if isinstance(m, ContextMiddleware))
    opened: list[object] = []

    def counting():
        opened.append(True)
        return h.sessions()

    middleware.sessionmaker = counting  # type: ignore[assignment]
    try:
        await h.feed(u.press(second.message_id, _data(second.reply_markup, "3")))
    finally:
        middleware.sessionmaker = h.sessions  # type: ignore[assignment]
    assert opened == []
    assert h.api.last(USER).message_id == second.message_id  # the screen moved on in place
    assert len(await _stored(h)) == 2


async def _question_sent_anew(h):
    """A resident on question 2 who typed instead of pressing: the question is sent
    again as a new message, which becomes the live one. (user, that message)"""
    _, code = await open_consultation(h)
    u, q = await _begin(h, code)
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    await h.feed(u.message("随便说点"))
    sent = h.api.last(USER)
    assert sent.method == "sendMessage" and sent.message_id != q.message_id
    return u, sent


def _count_loads(monkeypatch) -> list[int]:
    """Every read of a response from the database, by the update's session or the
    answer path's (batched) reads."""
    import bot.routers.resident as resident
    from storage.answer_path import AnswerPath

    loads: list[int] = []
    real, real_path = resident.load_state, AnswerPath.response

    async def counting(session, response_id):
        loads.append(response_id)
        return await real(session, response_id)

    async def counting_path(self, session, response_id):
        loads.append(response_id)
        return await real_path(self, session, response_id)

    monkeypatch.setattr(resident, "load_state", counting)
    monkeypatch.setattr(AnswerPath, "response", counting_path)
    return loads


async def test_a_press_on_a_question_sent_anew_takes_the_response_from_the_cache(harness, monkeypatch):
    h = harness
    u, sent = await _question_sent_anew(h)
    loads = _count_loads(monkeypatch)
    await h.feed(u.press(sent.message_id, _data(sent.reply_markup, "3")))
    assert loads == []
    assert h.api.last(USER).message_id == sent.message_id  # the screen moved on in place
    assert await _stored(h) == {"aware": "well", "sat_welfare": 3}


async def test_a_press_on_a_question_sent_anew_is_right_when_the_response_moved_on_meanwhile(harness, monkeypatch,
                                                                                             caplog):
    # Another process wrote the response after the new message was sent: the cached copy
    # is a version behind, the press's write is refused as stale, and it is computed again.
    h = harness
    u, sent = await _question_sent_anew(h)
    async with h.sessions() as s:
        await s.execute(sa.update(Response).where(Response.person_id == USER).values(version=Response.version + 1))
        await s.commit()
    loads = _count_loads(monkeypatch)
    caplog.set_level("INFO", logger="bot.middlewares")
    await h.feed(u.press(sent.message_id, _data(sent.reply_markup, "3")))
    assert any("moved on; computing the press again" in r.getMessage() for r in caplog.records)
    assert len(loads) == 1  # read again once, after the stale write
    assert await _stored(h) == {"aware": "well", "sat_welfare": 3}
    assert h.api.last(USER).message_id == sent.message_id and "第 3/8 题" in h.api.last(USER).text


# --- found in a QA pass (2026-11-27) ----------------------------------------------------------


async def test_a_press_during_a_close_does_not_keep_the_consultation_open_in_the_cache(harness, monkeypatch):
    import storage.consultations as consultations
    from storage.models import Consultation
    from tests.bot.conftest import ORGANIZER

    h = harness
    cid, code = await open_consultation(h)
    u, q = await _begin(h, code)
    live = q.message_id
    original = consultations.links
    pressed: list[asyncio.Task] = []
    keyboard = q.reply_markup

    async def links(session, consultation_id):
        if not pressed:  # a resident's press lands while /close has set the status but not committed it
            pressed.append(asyncio.create_task(h.feed(u.press(live, _data(keyboard, "很清楚")))))
            await asyncio.sleep(0.2)  # it reads the consultation as open (what is committed) meanwhile
        return await original(session, consultation_id)

    monkeypatch.setattr(consultations, "links", links)
    await close_early(h, str(cid))
    await pressed[0]  # (on SQLite its write waited for the close's: the database's one write lock)
    assert "已结束" in [t for t in h.api.texts(ORGANIZER) if "征询" in t][-1]
    async with h.sessions() as s:
        assert await s.scalar(sa.select(Consultation.status)) == "closed"
    # the press in the middle of the close: its answer stored and the next question shown (it came
    # first: PostgreSQL), or refused as closed (its write waited for the close's: SQLite)
    second = h.api.last(USER)
    stored = await _stored(h)
    assert ("第 2/8 题" in (second.text or "")) == bool(stored) and set(stored) <= {"aware"}
    h.api.clear()
    await h.feed(u.press(live, _data(keyboard if not stored else second.reply_markup, "很清楚" if not stored else "3")))
    assert await _stored(h) == stored  # nothing more: the cache did not keep it open
    assert [a.call.show_alert for a in h.api.answers()] == [True]  # told it closed


async def _to_needs(h, code):
    """A resident at the multi-choice question (at most 3 of the needs)."""
    u, q = await _begin(h, code)
    live = q.message_id
    await h.feed(u.press(live, _data(q.reply_markup, "很清楚")))
    for _ in range(3):
        await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "4")))
    assert "最多选 3 项" in h.api.last(USER).text
    return u, live


async def test_done_refused_on_an_old_cached_draft_is_checked_with_the_database(harness, database):
    h = harness
    _, code = await open_consultation(h)
    u, live = await _to_needs(h, code)  # this process caches the response with no choice made
    engine, api, dp, bot = _second_process(h, database.url)
    try:
        await feed(dp, bot, u.press(live, _data(h.api.last(USER).reply_markup, "☐ 养老")))
        await feed(dp, bot, u.press(live, _data(api.last(USER).reply_markup, "☐ 看病")))
        done = _data(api.last(USER).reply_markup, "完成")
        await h.feed(u.press(live, done))  # the 完成 press reaches this process
    finally:
        await engine.dispose()
    assert (await _stored(h)).get("needs") == ["elderly", "health"]
    assert not any(a.call.show_alert for a in h.api.answers())


async def test_too_many_refused_on_an_old_cached_draft_is_checked_with_the_database(harness, database):
    h = harness
    _, code = await open_consultation(h)
    u, live = await _to_needs(h, code)
    for option in ("☐ 养老", "☐ 看病", "☐ 低保"):
        await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, option)))
    three = h.api.last(USER)  # this process caches a draft of three ticks
    engine, api, dp, bot = _second_process(h, database.url)
    try:
        await feed(dp, bot, u.press(live, _data(three.reply_markup, "☑ 养老")))  # untick one elsewhere
        shown = api.last(USER)
        other = next(d for t, d in buttons(shown.reply_markup) if t.startswith("☐") and "养老" not in t)
        h.api.clear()
        await h.feed(u.press(live, other))  # a fourth option, with two ticked: allowed
    finally:
        await engine.dispose()
    assert not any(a.call.show_alert for a in h.api.answers())
    assert str(h.api.last(USER).reply_markup).count("☑") == 3


async def test_a_typed_answer_whose_response_moved_on_elsewhere_is_handled_again(harness, database, monkeypatch):
    import bot.context as context

    h = harness
    _, code = await open_consultation(h)
    u, live = await _to_needs(h, code)
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "☐ 养老")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "完成")))
    await h.feed(u.press(live, _data(h.api.last(USER).reply_markup, "有")))
    text_question = h.api.last(USER)
    assert "是什么事" in text_question.text
    engine, api, dp, bot = _second_process(h, database.url)
    original = context.responses.save
    moved = []

    async def save(session, change):
        if not moved:  # between this process's read and its write, the user's other device goes back
            moved.append(1)
            await feed(dp, bot, u.press(live, _data(text_question.reply_markup, "« 上一题")))
        return await original(session, change)

    monkeypatch.setattr(context.responses, "save", save)
    h.api.clear()
    try:
        await h.feed(u.message("村里的路灯没人管"))  # no exception: handled again from fresh data
    finally:
        await engine.dispose()
    assert moved
    assert "missing_what" not in await _stored(h)  # the question was no longer the current one
    assert h.api.calls and "有没有" in h.api.last(USER).text  # shown the question it is at now


async def test_a_close_committed_while_a_press_waits_for_its_write_refuses_the_press(harness, monkeypatch):
    from storage.models import Consultation

    h = harness
    cid, code = await open_consultation(h)
    u, q = await _begin(h, code)
    writer = answer_path(h.sessions.kw["bind"]).writer
    original = writer.commit
    closed = []

    async def commit(change):
        if change.set_answers and not closed:  # the close job commits while this press is queued
            closed.append(1)
            async with h.sessions() as s:
                c = await s.get(Consultation, cid)
                c.status, c.closed_at = "closed", c.closes_at
                await s.commit()
        return await original(change)

    monkeypatch.setattr(writer, "commit", commit)
    h.api.clear()
    await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
    assert closed and "aware" not in await _stored(h)
    # no next question: told it closed, and the buttons taken off
    assert [(c.method, c.reply_markup) for c in h.api.calls] == [("answerCallbackQuery", None),
                                                                 ("editMessageReplyMarkup", None)]
    assert h.api.answers()[0].call.show_alert and "截止" in h.api.answers()[0].text
