"""The main screens of a resident, a cadre and an organizer, walked in English: no Chinese
character appears on them but the user data they show (the list's items, the township, the
consultation's title, what people typed). A label, a part's name, a unit or a date left in
Chinese fails here, wherever it comes from (the catalog or a literal in the code)."""

from __future__ import annotations

import re

from bot.testing import Updates, buttons
from tests.bot.conftest import ITEMS, ORGANIZER, Harness, open_consultation

CADRE = 7801
RESIDENT = 7802
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")  # (ideographs, CJK punctuation, full-width forms)
TITLE = "青山镇履职事项清单征求意见"
COMMENT, WORDING, SUGGESTION = "这项应由县消防救援大队牵头", "消防巡查发现报告", "多办实事"
REPORT = ("县住建局", "自建房安全排查", "2026年11月", "要求三天内完成")
MISSING = ("河道日常巡查", "《河长制》", "县水利局", "我们实际承担河道巡查")
# what the screens may show as it was given: the list, the township, the title, what people typed
USER_DATA = sorted({v for item in ITEMS for v in (item.name, item.category, item.basis, item.county_department,
                                                 item.content, item.receiving_department) if v}
                   | {"青山镇", "消防", TITLE, COMMENT, WORDING, SUGGESTION, *REPORT, *MISSING, "县消防救援大队", "测试"},
                   key=len, reverse=True)


# the one Chinese term the English catalog keeps on purpose, as a gloss: the official document
# the organizer has to publish ("Draft feedback report (反馈情况说明)")
GLOSSES = ("(反馈情况说明)",)


def _chinese_outside_user_data(text: str) -> str | None:
    # a name shortened to fit its button ("1. 消防安全检查与火灾隐患整…") is user data too
    shortened = re.fullmatch(r"(?:\d+\. )?(.+)…", text)
    if shortened and any(value.startswith(shortened[1]) for value in USER_DATA):
        return None
    for value in (*GLOSSES, *USER_DATA):
        text = text.replace(value, "")
    return text if CJK.search(text) else None


class Walk:
    """One English-speaking person's chat: what they do, and every text, button and alert the
    bot showed them."""

    def __init__(self, h: Harness, user_id: int) -> None:
        self.h, self.id, self.u = h, user_id, Updates(user_id, first_name="Ann", language_code="en")
        self.seen: list[str] = []
        self.last = None

    def _record(self) -> None:
        for call in self.h.api.calls:
            if call.chat_id == self.id or call.method == "answerCallbackQuery":
                self.seen += [call.text or "", *(label for label, _ in buttons(call.reply_markup))]
            if call.chat_id == self.id and call.method != "answerCallbackQuery" and buttons(call.reply_markup):
                self.last = call
        self.h.api.clear()

    async def send(self, text: str) -> None:
        await self.h.feed(self.u.message(text))
        self._record()

    async def tap(self, label: str) -> None:
        last = self.last
        assert last is not None, label
        found = [data for text, data in buttons(last.reply_markup) if text.startswith(label)]
        assert found, (label, buttons(last.reply_markup))
        data = found[0]
        await self.h.feed(self.u.press(last.message_id, data))
        self._record()

    def leaks(self) -> list[str]:
        return [text for text in self.seen if _chinese_outside_user_data(text)]


async def test_a_residents_cadres_and_organizers_main_screens_in_english_show_chinese_only_in_user_data(harness):
    h = harness
    cid, code = await open_consultation(h, title=TITLE)
    h.api.clear()

    resident = Walk(h, RESIDENT)
    await resident.send("/help")
    await resident.send(f"/start {code}")
    for label in ("Start", "I know some", "4", "Not sure", "2", "☐ Elderly", "☐ Jobs", "Done", "Yes"):
        await resident.tap(label)
    await resident.send(SUGGESTION)  # (what the list leaves out)
    await resident.send(SUGGESTION)  # (other suggestions)
    await resident.tap("60–74")
    await resident.tap("Change")
    await resident.tap("« Back")
    await resident.send("/list")
    await resident.tap("Basic duties")
    await resident.send("/find 消防")
    await resident.send("/mydata")

    organizer = Walk(h, ORGANIZER)
    await organizer.send("/invite")
    await organizer.tap("青山镇")
    await organizer.tap("1")
    invite = next(text for text in organizer.seen[::-1] if "start=inv_" in text)
    cadre = Walk(h, CADRE)
    await cadre.send("/start " + invite.rsplit("start=", 1)[1])
    await cadre.send("/help")
    await cadre.send("/list")
    await cadre.tap("Cooperating duties")
    await cadre.tap("平安法治")
    await cadre.tap("1. ")
    await cadre.tap("✍️ Comment")
    await cadre.tap("Should be basic")
    await cadre.send(COMMENT)
    await cadre.send(WORDING)
    await cadre.send("/missing")
    await cadre.send(MISSING[0])
    await cadre.tap("Basic duties")
    await cadre.tap("Skip")
    for text in MISSING[1:]:
        await cadre.send(text)
    await cadre.send("/mycomments")
    await cadre.send("/report")
    for text in REPORT[:3]:
        await cadre.send(text)
    await cadre.tap("Document")
    await cadre.send(REPORT[3])
    await cadre.send("/myreports")
    await cadre.send("/mydata")

    await organizer.send("/help")
    await organizer.send("/stats")
    await organizer.send("/digest")
    await organizer.send("/consultations")
    await organizer.send("/comments")
    await organizer.tap("Partly")
    await organizer.send("已部分采纳")
    await organizer.send("/deadline")
    await organizer.send("2026-12-20 18:00")
    await organizer.tap("✅ Change it")
    await organizer.send("/close")
    await organizer.tap("✅ Close")
    await organizer.send(f"/export {cid}")

    assert all(len(walk.seen) > 10 for walk in (resident, cadre, organizer))
    assert [(walk.id, leak) for walk in (resident, cadre, organizer) for leak in walk.leaks()] == []
    assert any("Thank you" in text for text in cadre.seen + resident.seen)
