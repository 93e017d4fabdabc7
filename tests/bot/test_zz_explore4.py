from __future__ import annotations

import logging

import sqlalchemy as sa

from storage.models import Comment, OffListReport, Township
from tests.bot.conftest import open_consultation
from tests.bot.test_cadre import _cadre, _invite, _tap


async def test_explore(harness, caplog):
    h = harness
    caplog.set_level(logging.ERROR)
    a, _ = await open_consultation(h)
    b, _ = await open_consultation(h, township="白云镇", title="白云")
    u = await _cadre(h, 7701)
    await h.feed(u.message("/report"))
    for text in ("县住建局", "青山镇的任务", "上周"):
        await h.feed(u.message(text))
    code = await _invite(h, "白云镇")
    await h.feed(u.message(f"/start inv_{code}"))
    await _tap(h, u, "改为")
    print("after move:", h.api.last(7701).text)
    from bot.testing import buttons
    m = [c for c in h.api.calls if any(t == "会议" for t, _ in buttons(c.reply_markup))][-1]
    await h.feed(u.press(m.message_id, [d for t, d in buttons(m.reply_markup) if t == "会议"][0]))
    await _tap(h, u, "跳过")
    await h.feed(u.message("/missing"))
    await h.feed(u.message("白云镇的遗漏"))
    await _tap(h, u, "配合履职事项")
    code = await _invite(h, "青山镇")
    await h.feed(u.message(f"/start inv_{code}"))
    await _tap(h, u, "改为")
    for text in ("交通运输", "《公路法》", "县交通运输局", "理由"):
        await h.feed(u.message(text))
    async with h.sessions() as s:
        for r in (await s.scalars(sa.select(OffListReport))).all():
            print("report", r.task, r.township_id, r.consultation_id, (await s.get(Township, r.township_id)).name)
        for c in (await s.scalars(sa.select(Comment))).all():
            print("comment", c.missing, c.township_id, c.consultation_id)
    for call in h.api.calls:
        if call.method != "answerCallbackQuery" and call.method != "setMyCommands":
            print("----", call.method, (call.text or "")[:200])
