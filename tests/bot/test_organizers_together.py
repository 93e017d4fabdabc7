"""Two organizers (both in ORGANIZER_IDS) at work on the same consultations at once, through the
Dispatcher: what one did is not silently undone by the other, and stale screens say why."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.testing import Updates, buttons
from storage.models import Comment
from tests.bot.conftest import ORGANIZER
from tests.bot.test_organizer import CADRE, _comment_card, _press_label

SECOND = 900002


@pytest.fixture
def two(harness):
    """The harness with a second organizer, 李四 (the first is 张三)."""
    harness.settings.organizer_ids.append(SECOND)
    return harness


def _people() -> tuple[Updates, Updates]:
    return Updates(ORGANIZER, first_name="张三"), Updates(SECOND, first_name="李四")


REASON = "县里统一安排，不作调整"


async def _second_presses_while_the_first_types(h, a: Updates, b: Updates, label: str) -> None:
    """Both open /comments; 张三 presses 采纳 (and is to type the answer); then 李四 presses `label`."""
    await h.feed(a.message("/comments"))
    card_a = h.api.last(ORGANIZER)
    await h.feed(b.message("/comments"))
    card_b = h.api.last(SECOND)
    await h.feed(a.press(card_a.message_id, _press_label(card_a.reply_markup, "采纳")))
    await h.feed(b.press(card_b.message_id, _press_label(card_b.reply_markup, label)))


async def _rejected_by_the_second(h, b: Updates) -> None:
    """李四 opens /comments and answers the comment on it 不采纳, with REASON."""
    await h.feed(b.message("/comments"))
    card_b = h.api.last(SECOND)
    await h.feed(b.press(card_b.message_id, _press_label(card_b.reply_markup, "不采纳")))
    await h.feed(b.message(REASON))


async def test_an_answer_typed_after_another_organizer_answered_meanwhile_is_not_saved_over_it(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await _second_presses_while_the_first_types(h, a, b, "不采纳")
    await h.feed(b.message("县里统一安排，不作调整"))
    await h.feed(a.message("已采纳，改为配合事项"))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert (c.decision, c.reply, c.replied_by) == ("rejected", "县里统一安排，不作调整", SECOND)
    told = "\n".join(h.api.texts(ORGANIZER)[-2:])
    assert "李四" in told and "不采纳" in told and "县里统一安排，不作调整" in told and "未保存" in told
    assert len(h.api.texts(CADRE)) == 1  # the cadre was told once, of the answer kept


async def test_an_answer_typed_after_another_organizer_hid_the_comment_neither_unhides_it_nor_tells_the_cadre(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await _second_presses_while_the_first_types(h, a, b, "隐藏")
    await h.feed(a.message("已采纳"))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.hidden and c.decision is None
    told = "\n".join(h.api.texts(ORGANIZER)[-2:])
    assert "隐藏" in told and "未保存" in told
    assert h.api.texts(CADRE) == []


async def test_the_comment_card_says_which_organizer_answered(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await _rejected_by_the_second(h, b)
    await h.feed(a.message("/comments"))
    card_a = h.api.last(ORGANIZER)
    await h.feed(a.press(card_a.message_id, _press_label(card_a.reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    assert "县里统一安排，不作调整" in card.text and "答复人：李四" in card.text


async def test_the_workbooks_comments_sheet_says_which_organizer_answered(two):
    import io

    import openpyxl

    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await _rejected_by_the_second(h, b)
    await h.feed(a.message(f"/export {cid}"))
    wb = openpyxl.load_workbook(io.BytesIO(h.api.last(ORGANIZER, "sendDocument").call.document.data))
    rows = [[cell.value for cell in row] for row in wb["意见"].iter_rows()]
    header = next(r for r in rows if "答复" in r)
    row = next(r for r in rows if "县里统一安排，不作调整" in r)
    assert row[header.index("答复人")] == "李四"


async def test_a_deadline_confirmed_after_another_organizer_closed_the_consultation_does_not_reopen_it(two):
    from storage.models import Consultation
    from tests.bot.conftest import close_early, open_consultation

    h = two
    cid, _ = await open_consultation(h)
    a, _b = _people()
    await h.feed(a.message(f"/deadline {cid}"))
    await h.feed(a.message("2026-12-25 18:00"))
    confirm = h.api.last(ORGANIZER)
    await close_early(h, str(cid), user=SECOND)
    save = next(data for _label, data in buttons(confirm.reply_markup) if "save" in data.split(":"))
    await h.feed(a.press(confirm.message_id, save))
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == "closed"
    assert "已经结束" in h.api.texts(ORGANIZER)[-1] and f"/deadline {cid}" in h.api.texts(ORGANIZER)[-1]


async def test_every_command_on_a_consultation_asks_which_when_three_are_open(two):
    """One organizer with three consultations open for three townships: each command that takes
    a consultation asks which (or takes the id), and never acts on one of its own choosing."""
    from tests.bot.conftest import open_consultation

    h = two
    ids = [(await open_consultation(h, township=t, title=f"{t}征求意见"))[0] for t in ("青山镇", "绿水乡", "白云镇")]
    a, _b = _people()
    for command in ("/stats", "/comments", "/close", "/deadline", "/links", "/export", "/digest", "/announce"):
        before = len(h.api.calls)
        await h.feed(a.message(command))
        reply = h.api.last(ORGANIZER)
        assert "选择" in reply.text or "哪" in reply.text, (command, reply.text)
        assert sorted(data.split(":")[-1] for _label, data in buttons(reply.reply_markup)) == \
            sorted(str(i) for i in ids), command
        assert [c.method for c in h.api.calls[before:]] == ["sendMessage"], command
    await h.feed(a.message(f"/stats {ids[1]}"))
    assert "绿水乡" in h.api.last(ORGANIZER).text and "白云镇" not in h.api.last(ORGANIZER).text


async def test_the_other_organizers_are_told_who_moved_a_deadline(two):
    from tests.bot.conftest import open_consultation

    h = two
    cid, _ = await open_consultation(h)
    a, b = _people()
    await h.feed(b.message("/start"))  # 李四 has used the bot
    told_before = len(h.api.texts(SECOND))
    await h.feed(a.message(f"/deadline {cid}"))
    await h.feed(a.message("2026-12-25 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(a.press(confirm.message_id, next(d for _l, d in buttons(confirm.reply_markup) if "save" in d.split(":"))))
    news = h.api.texts(SECOND)[told_before:]
    assert len(news) == 1 and "张三" in news[0] and f"#{cid}" in news[0] and "2026-12-25 18:00" in news[0]
    assert not any("张三" in t for t in h.api.texts(ORGANIZER))  # (not told of their own change)


async def test_two_organizers_opening_a_consultation_for_the_same_township_at_once_are_told_of_the_other(two):
    from storage.lists import save_list
    from tests.bot.conftest import ITEMS
    from tests.bot.test_organizer import _new_until_confirm

    h = two
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await save_list(s, "绿水乡", ITEMS)
        await s.commit()
    a, b = _people()
    await _new_until_confirm(h, a, "青山镇清单征求意见", "2026-12-20 18:00")
    confirm_a = h.api.last(ORGANIZER)
    await h.feed(b.message("/new"))  # 李四, at the same time, for 青山镇 and 绿水乡
    await h.feed(b.message("两镇清单征求意见"))
    screen = h.api.last(SECOND)
    for label in ("青山镇", "绿水乡", "完成", "默认"):
        await h.feed(b.press(screen.message_id, _press_label(h.api.last(SECOND).reply_markup, label)))
    await h.feed(b.message("2026-12-20 18:00"))
    confirm_b = h.api.last(SECOND)
    await h.feed(a.press(confirm_a.message_id, _press_label(confirm_a.reply_markup, "创建并开始")))
    assert not any("其他进行中的征询" in t for t in h.api.texts(ORGANIZER))  # the first: nothing else open
    await h.feed(b.press(confirm_b.message_id, _press_label(confirm_b.reply_markup, "创建并开始")))
    created = next(t for t in h.api.texts(SECOND) if "已创建并开始征询 #2" in t)
    assert "其他进行中的征询" in created and "青山镇：#1《青山镇清单征求意见》" in created and "/close 2" in created
    assert "绿水乡：" not in created


async def test_a_decision_pressed_on_a_card_left_open_names_the_answer_another_organizer_gave_since(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await h.feed(a.message("/comments"))
    card_a = h.api.last(ORGANIZER)  # 张三's card: 尚未答复
    await _rejected_by_the_second(h, b)
    await h.feed(a.press(card_a.message_id, _press_label(card_a.reply_markup, "采纳")))  # on the stale card
    prompt = h.api.last(ORGANIZER).text
    assert "李四" in prompt and "不采纳" in prompt and "县里统一安排，不作调整" in prompt


async def test_an_organizer_removed_from_organizer_ids_with_a_card_and_an_answer_open_changes_nothing(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    _a, b = _people()
    await h.feed(b.message("/comments"))
    card_b = h.api.last(SECOND)
    await h.feed(b.press(card_b.message_id, _press_label(card_b.reply_markup, "采纳")))  # answer begun
    h.settings.organizer_ids.remove(SECOND)  # then removed from ORGANIZER_IDS
    await h.feed(b.message("已采纳"))
    await h.feed(b.press(card_b.message_id, _press_label(card_b.reply_markup, "隐藏")))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision is None and not c.hidden
    assert h.api.texts(CADRE) == []
    alerts = [c for c in h.api.calls if c.method == "answerCallbackQuery" and c.chat_id in (None, SECOND)]
    assert "组织者" in (getattr(alerts[-1].call, "text", "") or "")


async def test_the_other_organizers_are_told_who_closed_a_consultation_early_and_when(two):
    from tests.bot.conftest import open_consultation

    h = two
    cid, _ = await open_consultation(h)
    a, b = _people()
    await h.feed(b.message("/start"))  # 李四 has used the bot
    told_before = len(h.api.texts(SECOND))
    await h.feed(a.message(f"/close {cid}"))  # 张三 closes it before its deadline
    confirm = h.api.last(ORGANIZER)
    await h.feed(a.press(confirm.message_id, _press_label(confirm.reply_markup, "确认")))
    news = [t for t in h.api.texts(SECOND)[told_before:] if "张三" in t]
    when = h.clock.now.astimezone(ZoneInfo(h.settings.timezone)).strftime("%Y-%m-%d %H:%M")
    assert len(news) == 1 and f"#{cid}" in news[0] and "提前结束" in news[0] and when in news[0]
    assert not any("张三" in t for t in h.api.texts(ORGANIZER))  # (not told of their own close)


async def test_the_other_organizers_are_told_who_published_a_revised_list(two):
    from bot.routers.organizer import wait_background
    from storage.lists import save_list
    from surveys.consultation import Status
    from tests.bot.conftest import ITEMS, open_consultation

    h = two
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS[1:])  # the revised list
        await s.commit()
    a, b = _people()
    await h.feed(b.message("/start"))  # 李四 has used the bot
    told_before = len(h.api.texts(SECOND))
    await h.feed(a.message(f"/publish {cid}"))
    said = h.api.last(ORGANIZER)
    await h.feed(a.press(said.message_id, _press_label(said.reply_markup, "发布")))
    confirm = h.api.last(ORGANIZER)
    await h.feed(a.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))
    await wait_background()
    assert any("已发布青山镇的新清单" in t for t in h.api.texts(ORGANIZER))
    news = [t for t in h.api.texts(SECOND)[told_before:] if "张三" in t]
    assert len(news) == 1 and f"#{cid}" in news[0] and "青山镇" in news[0] and "发布" in news[0]
    assert not any("张三" in t for t in h.api.texts(ORGANIZER))  # (not told of their own publishing)


async def test_who_hid_a_comment_is_kept_shown_on_the_card_and_named_to_the_organizer_whose_answer_it_stopped(two):
    h = two
    cid, comment_id, _o, _card = await _comment_card(h)
    a, b = _people()
    await _second_presses_while_the_first_types(h, a, b, "隐藏")
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).hidden_by == SECOND
    await h.feed(a.message("已采纳"))
    refused = h.api.texts(ORGANIZER)[-2]
    assert "李四" in refused and "隐藏" in refused and "未保存" in refused
    await h.feed(a.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    assert "隐藏人：李四" in h.api.last(ORGANIZER).text
    await h.feed(a.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "取消隐藏")))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).hidden_by is None
