"""SCRATCH: import, publish with nasty names; refusals recorded."""
import io

import openpyxl
from aiogram.exceptions import TelegramBadRequest

from bot.testing import buttons
from tests.bot.conftest import ORGANIZER
from tests.bot.test_organizer import SAMPLE_DRAFT, _new_until_confirm, _press_label, _send_list


def _nasty(draft: bytes) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(draft))
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=3):
            for cell in row:
                if isinstance(cell.value, str) and len(cell.value) > 3:
                    cell.value = "<x>&" + cell.value + "<b>"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_import(harness):
    h = harness
    refused = []
    orig = h.api._check

    def check(bot, method):
        try:
            return orig(bot, method)
        except TelegramBadRequest as e:
            refused.append(f"{method.__api_method__}: {e} :: {str(getattr(method, 'text', '') or getattr(method, 'caption', ''))[:300]}")
            raise
    h.api._check = check
    o = h.user(ORGANIZER)
    await _send_list(h, o, _nasty(SAMPLE_DRAFT), "<x>&草稿<b>.xlsx", caption="<b>v1&")
    print(h.api.last(ORGANIZER).text[:500])
    await h.feed(o.message("青山<x>&镇"))
    print(h.api.last(ORGANIZER).text[:300], buttons(h.api.last(ORGANIZER).reply_markup))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    print(h.api.last(ORGANIZER).text[:300])
    await _new_until_confirm(h, o, "<x>标题&", "2026-12-20 18:00", townships=("青山<x>&镇",))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "创建并开始")))
    for cmd in ["/consultations", "/links", "/stats", "/close", "/publish", "/export", "/comments", "/list", "/find 草稿"]:
        await h.feed(o.message(cmd))
    await _send_list(h, o, _nasty(SAMPLE_DRAFT), "<x>&修改<b>.xlsx", caption="<i>v2&")
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "青山")))
    await h.feed(o.message("/publish"))
    print(h.api.last(ORGANIZER).text[:600], buttons(h.api.last(ORGANIZER).reply_markup))
    bs = buttons(h.api.last(ORGANIZER).reply_markup)
    if bs:
        await h.feed(o.press(h.api.last(ORGANIZER).message_id, bs[0][1]))
        print(h.api.last(ORGANIZER).text[:600])
        bs = buttons(h.api.last(ORGANIZER).reply_markup)
        await h.feed(o.press(h.api.last(ORGANIZER).message_id, bs[0][1]))
    for c in h.api.calls[-6:]:
        print("--", c.method, (c.text or "")[:300])
    print("REFUSED", refused)
