"""The database FSM forgets, as Redis does: each `fsm_state` row records when it was last
written, and the scheduler's sync job deletes the rows not written for FSM_TTL (30 days, the
Redis keys' expiry) — a comment a cadre began and never sent, a form left half-filled. One
who comes back afterwards starts afresh. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from aiogram.fsm.storage.base import StorageKey

from bot import scheduler as sched
from bot.broadcaster import Broadcaster
from storage.fsm import FSM_TTL, SQLStorage
from storage.models import Comment, Consultation, FSMRecord
from tests.bot.conftest import Harness, open_consultation
from tests.bot.test_cadre import CADRE, _cadre, _open_card, _tap


def _services(h: Harness) -> sched.Services:
    s = sched.Services(h.bot, h.sessions, h.settings, Broadcaster(h.bot, h.sessions, rate=1000, per_chat_interval=0),
                       h.clock)
    sched.configure(s)
    return s


async def _keys(h: Harness) -> dict[str, object]:
    async with h.sessions() as s:
        return dict((await s.execute(sa.select(FSMRecord.key, FSMRecord.updated_at))).all())


async def test_the_sync_job_deletes_fsm_rows_not_written_for_30_days_and_keeps_recent_ones(harness):
    h = harness
    _services(h)
    assert FSM_TTL == 30 * 24 * 3600  # (the Redis keys' expiry: one figure for both)
    storage = SQLStorage(h.sessions, clock=h.clock)
    old, recent, touched = (StorageKey(bot_id=1, chat_id=n, user_id=n) for n in (1, 2, 3))
    start = h.clock.now
    await storage.set_state(old, "CommentForm:text")
    await storage.update_data(old, {"item": 1})
    await storage.set_state(touched, "ReportForm:task")
    h.clock.now = start + timedelta(days=20)
    await storage.update_data(touched, {"department": "县住建局"})  # a later write keeps it
    h.clock.now = start + timedelta(days=30)
    await storage.set_state(recent, "MissingForm:name")
    try:
        h.clock.now = start + timedelta(days=31)
        await sched.sync_job()
        assert await storage.get_state(old) is None and await storage.get_data(old) == {}
        assert await storage.get_state(recent) == "MissingForm:name"
        assert await storage.get_state(touched) == "ReportForm:task"
        assert await storage.get_data(touched) == {"department": "县住建局"}
        assert len(await _keys(h)) == 2
        h.clock.now = start + timedelta(days=50, seconds=1)  # 30 days after the last write of `touched`
        await sched.sync_job()
        assert len(await _keys(h)) == 1 and await storage.get_state(touched) is None
    finally:
        sched.configure(None)


async def test_a_cadre_back_after_their_unsent_comment_was_forgotten_starts_afresh(harness):
    h = harness
    c, _ = await open_consultation(h)
    async with h.sessions() as s:  # (still open when they come back)
        await s.execute(sa.update(Consultation).where(Consultation.id == c)
                        .values(closes_at=h.clock.now + timedelta(days=90)))
        await s.commit()
    u = await _cadre(h)
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "依据缺失或有误")
    assert "请直接输入您的意见" in h.api.last(CADRE).text
    assert any(k.endswith(f":{CADRE}:{CADRE}:default") for k in await _keys(h))

    _services(h)
    try:
        h.clock.advance(days=31)
        await sched.sync_job()
        assert not [k for k in await _keys(h) if f":{CADRE}:{CADRE}:" in k]
    finally:
        sched.configure(None)

    await h.feed(u.message("还应列明《信访工作条例》"))  # the comment they would have sent
    reply = h.api.last(CADRE)
    # told there is no step waiting and where to start, not a crash nor a half-comment saved
    assert reply.method == "sendMessage" and "现在没有等待填写的步骤" in reply.text and "/list" in reply.text, reply.text
    assert await _comments_count(h) == 0
    # and the bot works for them as before
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "依据缺失或有误")
    await h.feed(u.message("还应列明《信访工作条例》"))
    assert "已保存" in h.api.last(CADRE).text and await _comments_count(h) == 1


async def _comments_count(h: Harness) -> int:
    async with h.sessions() as s:
        return await s.scalar(sa.select(sa.func.count()).select_from(Comment))
