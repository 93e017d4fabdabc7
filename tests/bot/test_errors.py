"""What a person sees when handling their update fails (bot.errors): an apology in their
language for an error that will not be handled again, silence and a 500 for one a webhook
gets again from Telegram (the database out of reach)."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from aiogram import Bot
from aiohttp import ClientSession

from bot.app import build_dispatcher
from bot.routers.common import LangCB
from bot.texts import gettext
from storage import people
from storage.engine import make_engine, make_sessionmaker
from storage.models import Person
from tests.bot.conftest import webhook_served

USER = 4242

EN_SORRY = gettext("error.internal", "en")
ZH_SORRY = gettext("error.internal", "zh_CN")


def _break_set_language(monkeypatch) -> None:
    """`people.set_language` writes, then fails as a bug would."""
    real = people.set_language

    async def broken(session, person_id, language):
        await real(session, person_id, language)
        raise RuntimeError("a bug in set_language")

    monkeypatch.setattr(people, "set_language", broken)


async def _person(h, person_id: int) -> Person | None:
    async with h.sessions() as s:
        return await s.get(Person, person_id)


async def test_a_handler_that_raises_answers_the_person_once_in_their_language_and_changes_nothing(
        harness, monkeypatch, caplog):
    h = harness
    u = h.user(USER, language_code="en")
    await h.feed(u.message("/language"))
    choose = h.api.last(USER).message_id
    _break_set_language(monkeypatch)
    h.api.clear()
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await h.feed(u.press(choose, LangCB(code="zh_CN").pack()))
    sent = [c.text for c in h.api.calls if c.method == "sendMessage"]
    assert sent == [EN_SORRY]  # once, in English (the person's language), to the person
    assert h.api.last(USER, "sendMessage").chat_id == USER
    person = await _person(h, USER)
    assert person is not None and not person.language_chosen and person.language != "zh_CN"  # rolled back
    failed = [r for r in caplog.records if r.name == "bot.errors" and r.levelno == logging.ERROR]
    assert len(failed) == 1
    assert failed[0].exc_info is not None and isinstance(failed[0].exc_info[1], RuntimeError)
    assert "a bug in set_language" in caplog.text and "Traceback" in caplog.text


async def test_an_unreachable_database_under_polling_is_apologized_for_in_the_reported_language(harness):
    """Long polling does not get an update again: the person is told, in the language Telegram
    reports (no person could be read), to try again."""
    h = harness
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # nothing listens there
    try:
        dp = build_dispatcher(h.settings, make_sessionmaker(engine))
        await dp.feed_update(h.bot, h.user(USER, language_code="zh-hans").message("/help"))
    finally:
        await engine.dispose()
    assert [(c.method, c.chat_id, c.text) for c in h.api.calls] == [("sendMessage", USER, ZH_SORRY)]


async def _deliver(dp, bot: Bot, update: dict) -> tuple[int, bytes]:
    """POST one update to a webhook handler of `dp`, as Telegram delivers it: (status, body)."""
    async with webhook_served(dp, bot) as (url, headers), ClientSession() as http, \
            http.post(url, json=update, headers=headers) as reply:
        return reply.status, await reply.read()


def _as_json(update) -> dict:
    return json.loads(update.model_dump_json(exclude_none=True))


async def test_a_webhook_delivery_whose_database_is_unreachable_gets_500_and_no_apology(harness):
    h = harness
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        dp = build_dispatcher(h.settings, make_sessionmaker(engine))
        status, _ = await _deliver(dp, h.bot, _as_json(h.user(USER).message("/help")))
    finally:
        await engine.dispose()
    assert status == 500  # Telegram delivers it again, when the database may be back
    assert h.api.calls == []  # the person gets the real answer then, and no apology before it


async def test_a_webhook_delivery_that_fails_by_a_bug_is_apologized_for_once_and_not_delivered_again(
        harness, monkeypatch):
    h = harness
    u = h.user(USER)
    _break_set_language(monkeypatch)
    status, _ = await _deliver(h.dp, h.bot, _as_json(u.press(1, LangCB(code="en").pack())))
    assert status == 200  # a redelivery would fail the same way (and apologize again)
    assert [c.text for c in h.api.calls if c.method == "sendMessage"] == [ZH_SORRY]
    async with h.sessions() as s:
        chosen = await s.scalar(sa.select(Person.language_chosen).where(Person.id == USER))
    assert not chosen
