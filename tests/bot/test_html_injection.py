"""Every text a user typed (or a file brought in) that the bot shows to somebody, under
parse_mode HTML: a `<b>`, an `&` or an `<a href>` in it is shown literally, never breaks
the message (Telegram refuses bad HTML) nor turns into formatting or a link."""

from __future__ import annotations

import logging

from bot.testing import buttons
from surveys.duty_list import DutyItem, Part
from tests.bot.conftest import ORGANIZER, open_consultation
from tests.bot.test_cadre import _cadre, _item_id, _tap

HOSTILE = '<b>粗 & <a href="http://evil.example/">点我</a> <i>'
CADRE = 7201


def _no_markup_from_users(h) -> None:
    for call in h.api.calls:
        text = call.text or ""
        assert "http://evil.example" not in text or '<a href="http://evil.example' not in text, text
        assert "<b>粗" not in text and "<i>" not in text.replace("&lt;i&gt;", ""), text


async def _walk_cards(h, u, user: int) -> None:
    """Every › of the message shown last, until there is none."""
    for _ in range(10):
        card = h.api.last(user)
        nxt = [data for label, data in buttons(card.reply_markup) if label == "›"]
        if not nxt:
            return
        await h.feed(u.press(card.message_id, nxt[0]))


async def test_typed_and_imported_texts_with_html_are_shown_literally_everywhere(harness, caplog):
    h = harness
    caplog.set_level(logging.ERROR)
    township = "青山镇" + HOSTILE
    items = [DutyItem(Part.BASIC, "事项" + HOSTILE, seq=1, category="类别" + HOSTILE, basis="依据" + HOSTILE,
                      county_department="县局" + HOSTILE)]
    c, _ = await open_consultation(h, township=township, items=items, title="标题" + HOSTILE)
    u = await _cadre(h, CADRE, township=township)
    u = h.user(CADRE)
    u.user = u.user.model_copy(update={"first_name": "名字" + HOSTILE})
    # a comment on the item
    await h.feed(u.message("/list"))
    from bot.routers.cadre import ItemCB

    await h.feed(u.press(h.api.last(CADRE).message_id, ItemCB(c=c, i=await _item_id(h, items[0].name, township)).pack()))
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    await h.feed(u.message("意见" + HOSTILE))
    # a missing item
    await h.feed(u.message("/missing"))
    await h.feed(u.message("遗漏" + HOSTILE))
    await _tap(h, u, "配合履职事项")
    for text in ("类" + HOSTILE, "据" + HOSTILE, "部门" + HOSTILE, "理由" + HOSTILE):
        await h.feed(u.message(text))
    # an off-list report
    await h.feed(u.message("/report"))
    for text in ("县局" + HOSTILE, "任务" + HOSTILE, "时间" + HOSTILE):
        await h.feed(u.message(text))
    await _tap(h, u, "会议")
    await h.feed(u.message("细节" + HOSTILE))
    for command in ("/list", "/mycomments", "/myreports", "/mydata", "/find 事项", "/find " + HOSTILE):
        await h.feed(u.message(command))
    await _walk_cards(h, u, CADRE)
    o = h.user(ORGANIZER)
    for command in ("/consultations", f"/stats {c}", f"/links {c}", f"/digest {c}", f"/comments {c}", "/invite",
                    "/publish", f"/deadline {c}", "/cancel", f"/announce {c}"):
        await h.feed(o.message(command))
    await h.feed(o.message(f"/comments {c}"))
    await _walk_cards(h, o, ORGANIZER)
    await h.feed(o.message("/comments " + HOSTILE))
    await h.feed(o.message("/stats " + HOSTILE))
    await h.feed(o.message("/invite " + HOSTILE))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    assert not any("出了点问题" in t for t in h.api.texts())
    _no_markup_from_users(h)
