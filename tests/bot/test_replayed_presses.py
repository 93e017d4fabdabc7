"""Every button the bot ever showed, pressed again by somebody else (a forwarded or copied
keyboard) and by its owner after the consultation closed: nothing fails, and nothing of
anybody else's — nor anything after the close — changes."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from storage.consultations import set_status
from storage.models import Answer, Comment, Consultation, Invite, OffListReport, Person, Response
from surveys.consultation import Status
from tests.bot.conftest import ORGANIZER, open_consultation
from tests.bot.test_cadre import _cadre, _tap
from tests.bot.test_forged_presses import _comment
from tests.bot.test_resident_flow import start

CADRE_A = 7301
CADRE_B = 7302
RESIDENT = 7303


async def _scene(h):
    a, code = await open_consultation(h)
    b, _ = await open_consultation(h, township="白云镇", title="白云镇清单")
    ua = await _cadre(h, CADRE_A)
    ub = await _cadre(h, CADRE_B, township="白云镇")
    await _comment(h, ua, a, "青山镇", "甲的意见")
    await _comment(h, ub, b, "白云镇", "乙的意见")
    for u in (ua, ub):
        await h.feed(u.message("/mycomments"))
    await h.feed(ua.message("/report"))
    for text in ("县住建局", "数据录入", "上周"):
        await h.feed(ua.message(text))
    await _tap(h, ua, "会议")
    await _tap(h, ua, "跳过")
    await h.feed(ua.message("/myreports"))
    await h.feed(ua.message("/missing"))
    await h.feed(ua.message("河道巡查"))
    ur, q = await start(h, code, RESIDENT)
    await _tap(h, ur, "知道一些")
    o = h.user(ORGANIZER)
    for command in ("/consultations", f"/comments {a}", f"/comments {b}", "/invite", f"/digest {a}", "/publish",
                    f"/close {b}", "/delete_me", "/language"):
        await h.feed(o.message(command))
    return a, b


async def _state(h, skip: int | None = None):
    async with h.sessions() as s:
        comments = [(c.id, c.person_id, c.text, c.status, c.decision, c.reply, c.hidden, str(c.missing))
                    for c in (await s.scalars(sa.select(Comment).order_by(Comment.id))).all() if c.person_id != skip]
        consultations = [(c.id, c.status, c.closes_at) for c in (await s.scalars(sa.select(Consultation))).all()]
        people = [(p.id, p.role, p.township_id) for p in (await s.scalars(sa.select(Person).order_by(Person.id))).all()
                  if p.id != skip]
        invites = (await s.scalar(sa.select(sa.func.count()).select_from(Invite)))
        reports = [(r.id, r.person_id, r.task) for r in (await s.scalars(sa.select(OffListReport))).all()
                   if r.person_id != skip]
        answers = sorted((a.response_id, a.question_id, str(a.value)) for a in (await s.scalars(sa.select(Answer))).all())
        responses = [(r.id, r.person_id, r.completed_at) for r in (await s.scalars(sa.select(Response))).all()
                     if r.person_id != skip]
    return comments, consultations, people, invites, reports, answers if skip != RESIDENT else None, responses


def _shown(h) -> list[tuple[int, int, str]]:
    seen = []
    for call in h.api.calls:
        rows = getattr(call.reply_markup, "inline_keyboard", None) or []
        for row in rows:
            for button in row:
                if button.callback_data and call.chat_id is not None:
                    seen.append((call.chat_id, call.message_id or 1, button.callback_data))
    return list(dict.fromkeys(seen))


def _failed(h, caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] + \
        [t for t in h.api.texts() if "出了点问题" in t]


async def test_every_button_shown_pressed_by_somebody_else_fails_nothing_and_changes_nothing_of_theirs(harness, caplog):
    h = harness
    await _scene(h)
    shown = _shown(h)
    caplog.set_level(logging.ERROR)
    for presser in (CADRE_A, CADRE_B, RESIDENT, 7399):
        before = await _state(h, skip=presser)
        u = h.user(presser)
        for owner, message_id, data in shown:
            if owner == presser or data.startswith("del:"):
                continue
            await h.feed(u.press(message_id, data))
            assert not _failed(h, caplog), (presser, owner, data, _failed(h, caplog))
        assert await _state(h, skip=presser) == before, presser


async def test_every_button_shown_pressed_again_by_its_owner_after_the_close_changes_nothing(harness, caplog):
    h = harness
    a, b = await _scene(h)
    shown = _shown(h)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, a), Status.CLOSED, h.clock.now)
        await s.commit()
    before = await _state(h)
    caplog.set_level(logging.ERROR)
    for owner, message_id, data in shown:
        if owner == ORGANIZER or data.startswith("del:"):
            continue
        await h.feed(h.user(owner).press(message_id, data))
        assert not _failed(h, caplog), (owner, data, _failed(h, caplog))
    after = await _state(h)
    # 白云镇's consultation is still open: its cadre may still act on it
    assert [c for c in after[0] if c[1] != CADRE_B] == [c for c in before[0] if c[1] != CADRE_B]
    assert after[1:] == before[1:]
