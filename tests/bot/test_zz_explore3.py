from __future__ import annotations

import logging

from tests.bot.conftest import ORGANIZER, open_consultation

ARGS = ["", "1", "2", "0", "-1", "99999999999999999999", "1.5", "abc", "#1", "1 2", "1 25", "1 -1", "1 关闭", "1 off",
        "1 2026-13-45", "1 1970-01-01", "1 9999-12-31 23:59", "1 2026-12-01 01:00", "\u200b1", "１", "<b>", "1 " + "x" * 5000]
CMDS = ["open", "close", "deadline", "links", "stats", "announce", "comments", "digest", "export", "publish",
        "consultations", "invite", "new", "cancel"]


async def test_explore(harness, caplog):
    h = harness
    caplog.set_level(logging.ERROR)
    c, code = await open_consultation(h)
    await open_consultation(h, township="白云镇", title="白云")
    o = h.user(ORGANIZER)
    bad = []
    for cmd in CMDS:
        for arg in ARGS:
            h.api.clear()
            await h.feed(o.message(f"/{cmd} {arg}".strip()))
            await h.feed(o.message("/cancel"))
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            caplog.clear()
            texts = h.api.texts(ORGANIZER)
            if errors or not texts:
                bad.append((cmd, arg[:30], errors[:1], texts[:1]))
    for b in bad:
        print(b)
