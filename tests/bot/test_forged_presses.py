"""Hand-made button data, as a hostile or careless client can send: for every callback
prefix the bot uses, fields naming other people's, other consultations' and other
townships' things, out-of-range and malformed values. Nothing fails (no error is logged,
nobody is told something went wrong), and nobody without the right changes anything."""

from __future__ import annotations

import logging
import random

import sqlalchemy as sa

from bot.routers.cadre import ItemCB
from storage.models import Comment, Consultation, Invite, OffListReport, Person
from tests.bot.conftest import ITEMS, ORGANIZER, open_consultation
from tests.bot.test_cadre import _cadre, _item_id, _tap

CADRE_A = 7101
CADRE_B = 7102
RESIDENT = 7103
STRANGER = 7104

PREFIXES = {  # prefix: number of fields
    "lang": 1, "del": 1, "op": 2, "on": 2, "oc": 2, "oa": 3, "ot": 3, "ox": 3, "ok": 3, "od": 5,
    "oi": 3, "oh": 2, "ol": 2, "ow": 2, "ou": 5, "rb": 2, "q": 4, "qe": 2, "cl": 4, "ci": 3,
    "cf": 2, "cc": 3, "cm": 4, "cx": 3, "cr": 2, "cv": 2,
}
WORDS = ["", "0", "1", "2", "3", "-1", "-2", "-3", "1", "2", "4", "9", "2147483647", "2147483648",
         "9223372036854775807", "99999999999999999999999", "-99999999999999999999", "1.5", "1e3", "abc",
         "true", "false", "x" * 30, "%00", "<b>", "u", "a", "k0", "t1", "t-1", "i1", "i99999999999", "l", "e",
         "w", "y", "s", "f", "p", "g", "m", "o", "d", "b", "z", "n", "+", "-", "r", "adopted", "hide", "unhide",
         "noreply", "clear", "close", "cancel", "save", "tell", "open", "draft", "default", "create", "retype",
         "cadre", "organizer", "en", "zh_CN", "q1", "~1", "~-1", "~99999999999", "!", "basic", "withdrawn", "wording", "other", "to_cooperating"]


async def _comment(h, u, c: int, township: str, text: str) -> None:
    await h.feed(u.message("/list"))
    await h.feed(u.press(h.api.last(u.user.id).message_id, ItemCB(c=c, i=await _item_id(h, ITEMS[0].name, township)).pack()))
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    await h.feed(u.message(text))


async def _scene(h):
    a, _ = await open_consultation(h)
    b, _ = await open_consultation(h, township="白云镇", title="白云镇清单")
    ua = await _cadre(h, CADRE_A)
    ub = await _cadre(h, CADRE_B, township="白云镇")
    await _comment(h, ua, a, "青山镇", "甲的意见")
    await _comment(h, ub, b, "白云镇", "乙的意见")
    return a, b


async def _state(h):
    async with h.sessions() as s:
        # a cadre's own comment may change by their own presses; the others' and the decisions may not
        comments = [(c.id, c.person_id, c.decision, c.reply, c.hidden) + ((c.text, c.status) if c.person_id != CADRE_A else ())
                    for c in (await s.scalars(sa.select(Comment).order_by(Comment.id))).all()]
        consultations = [(c.id, c.status, c.closes_at) for c in (await s.scalars(sa.select(Consultation))).all()]
        people = [(p.id, p.role, p.township_id) for p in (await s.scalars(sa.select(Person).order_by(Person.id))).all()]
        invites = (await s.scalar(sa.select(sa.func.count()).select_from(Invite)))
        reports = (await s.scalar(sa.select(sa.func.count()).select_from(OffListReport)))
    return comments, consultations, people, invites, reports


def _forged(rng: random.Random, prefix: str, n: int, ids: list[str]) -> str:
    pool = WORDS + ids
    return ":".join([prefix, *(rng.choice(pool) for _ in range(n))])[:64]


async def test_forged_button_data_of_every_prefix_fails_nothing_and_changes_nothing_for_others(harness, caplog):
    h = harness
    a, b = await _scene(h)
    ids = [str(a), str(b), str(-a), str(-b), str(await _item_id(h, ITEMS[0].name, "白云镇"))]
    before = await _state(h)
    rng = random.Random(1)
    caplog.set_level(logging.ERROR)
    for who in (STRANGER, CADRE_A, RESIDENT):
        u = h.user(who)
        for prefix, n in PREFIXES.items():
            if prefix == "del":  # (erases the presser's own data: its own test)
                continue
            for _ in range(40):
                data = _forged(rng, prefix, n, ids)
                h.api.clear()
                await h.feed(u.press(1, data))
                errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
                assert not errors, (who, data, errors[0].getMessage())
                assert not any("出了点问题" in t for t in h.api.texts()), (who, data, h.api.texts())
    after = await _state(h)
    assert after[0] == before[0] and after[1] == before[1] and after[3] == before[3] and after[4] == before[4]


async def test_forged_button_data_pressed_by_the_organizer_fails_nothing(harness, caplog):
    h = harness
    a, b = await _scene(h)
    ids = [str(a), str(b), str(-a), str(-b), str(await _item_id(h, ITEMS[0].name, "白云镇"))]
    rng = random.Random(2)
    caplog.set_level(logging.ERROR)
    u = h.user(ORGANIZER)
    for prefix, n in PREFIXES.items():
        for _ in range(60):
            data = _forged(rng, prefix, n, ids)
            h.api.clear()
            await h.feed(u.press(1, data))
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, (data, errors[0].getMessage())
            assert not any("出了点问题" in t for t in h.api.texts()), (data, h.api.texts())


async def test_an_old_delete_me_confirmation_tapped_much_later_deletes_nothing(harness):
    """/delete_me asked and left unanswered: the person went on (a cadre now, with comments), and
    a tap on that old 确定删除 weeks later erased everything; it is refused as expired, and a
    hand-made del:1 (no time) deletes nothing either."""
    from tests.bot.test_cadre import _data

    h = harness
    a, b = await _scene(h)
    u = h.user(CADRE_A)
    await h.feed(u.message("/delete_me"))
    prompt = h.api.last(CADRE_A)
    yes = _data(prompt.reply_markup, "确定删除")
    h.clock.advance(days=20)
    await h.feed(u.press(prompt.message_id, yes))
    assert "过期" in (h.api.answers()[-1].text or "") and "/delete_me" in (h.api.answers()[-1].text or "")
    await h.feed(u.press(prompt.message_id, "del:1"))
    async with h.sessions() as s:
        assert (await s.get(Person, CADRE_A)).role == "cadre"
        assert await s.scalar(sa.select(sa.func.count()).select_from(Comment).where(Comment.person_id == CADRE_A)) == 1
    # a fresh confirmation still deletes, also tapped a few minutes later
    await h.feed(u.message("/delete_me"))
    prompt = h.api.last(CADRE_A)
    h.clock.advance(minutes=5)
    await h.feed(u.press(prompt.message_id, _data(prompt.reply_markup, "确定删除")))
    assert "已删除关于您的全部信息" in h.api.last(CADRE_A).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Comment).where(Comment.person_id == CADRE_A)) == 0
