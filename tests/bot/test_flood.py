"""A person sending many messages at once (a flaky network resending, a stuck key, a
hostile user): nothing fails, nothing is stored twice, limits hold."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from bot.routers.cadre import ItemCB
from storage.models import Comment, OffListReport
from tests.bot.conftest import ITEMS, open_consultation
from tests.bot.test_cadre import _cadre, _item_id, _tap

CADRE = 7401


def _failed(h, caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] + \
        [t for t in h.api.texts() if "出了点问题" in t]


async def test_a_hundred_texts_at_once_in_the_comment_form_make_one_comment(harness, caplog):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h, CADRE)
    await h.feed(u.message("/list"))
    await h.feed(u.press(h.api.last(CADRE).message_id, ItemCB(c=c, i=await _item_id(h, ITEMS[0].name)).pack()))
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    caplog.set_level(logging.ERROR)
    await asyncio.gather(*(h.feed(u.message(f"意见 {n}")) for n in range(100)))
    assert not _failed(h, caplog)
    async with h.sessions() as s:
        comments = (await s.scalars(sa.select(Comment))).all()
    assert len(comments) == 1, [x.text for x in comments]


async def test_a_hundred_texts_at_once_at_the_reports_last_step_file_one_report(harness, caplog):
    h = harness
    await open_consultation(h)
    u = await _cadre(h, CADRE)
    await h.feed(u.message("/report"))
    for text in ("县住建局", "任务", "上周"):
        await h.feed(u.message(text))
    await _tap(h, u, "会议")
    caplog.set_level(logging.ERROR)
    await asyncio.gather(*(h.feed(u.message(f"细节 {n}")) for n in range(100)))
    assert not _failed(h, caplog)
    async with h.sessions() as s:
        n = await s.scalar(sa.select(sa.func.count()).select_from(OffListReport))
    assert n == 1


async def test_a_hundred_taps_at_once_on_the_missing_items_part_step_save_one_proposal(harness, caplog):
    h = harness
    await open_consultation(h)
    u = await _cadre(h, CADRE)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道巡查"))
    await _tap(h, u, "配合履职事项")
    await h.feed(u.message("交通运输"))
    await h.feed(u.message("《公路法》"))
    await h.feed(u.message("县交通运输局"))
    caplog.set_level(logging.ERROR)
    await asyncio.gather(*(h.feed(u.message(f"理由 {n}")) for n in range(100)))
    assert not _failed(h, caplog)
    async with h.sessions() as s:
        n = await s.scalar(sa.select(sa.func.count()).select_from(Comment))
    assert n == 1
