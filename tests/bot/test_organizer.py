"""The organizers' console through the Dispatcher: /new, /open, /close, /deadline,
/links, /stats, /comments (answer, hide), /announce, /invite — and that nobody else
can reach any of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.routers.organizer import DeadlineCB, DecideCB, InviteCB, PickCB, wait_background
from bot.testing import buttons
from storage import comments as comments_repo
from storage.consultations import create_consultation, set_status
from storage.models import Comment, Consultation, DutyItemRow, DutyListRow, Invite, Outbox, Person, Township
from surveys.consultation import Status
from surveys.duty_list import DutyItem, Part
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
from tests.bot.conftest import ITEMS, ORGANIZER, close_early, open_consultation

RESIDENT = 5101
CADRE = 5201


def _press_label(markup, label: str) -> str:
    for text, data in buttons(markup):
        if label in text:
            return data
    raise AssertionError(f"no button {label!r} in {buttons(markup)}")


async def _new_until_confirm(h, o, title: str, deadline: str, townships: tuple[str, ...] = ("青山镇",)) -> None:
    """/new by organizer `o` up to its confirmation: the title, the townships ticked, 完成, the
    default questionnaire, the deadline typed (the screen answering it is h.api.last)."""
    await h.feed(o.message("/new"))
    await h.feed(o.message(title))
    screen = h.api.last(ORGANIZER)
    for township in townships:
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, township)))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "完成")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message(deadline))


async def _new_at_questionnaire(h):
    """An organizer in /new for 青山镇's list, at the questionnaire step: (their updates, the screen)."""
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("标题"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山镇")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "完成")))
    return o, screen


async def _upload_questionnaire(h, o, content: bytes, size: int | None = -1) -> list[int]:
    """The organizer sends a questionnaire file of `size` bytes as Telegram tells it (default: its
    length; None: not told). The recording session serves no files: the download is faked, as
    aiogram's streams it, in chunks into the destination given; returns the bytes it took."""
    import io

    from aiogram.types import Document

    taken = [0]

    async def fake_download(file, destination=None, **kw):
        destination = io.BytesIO() if destination is None else destination
        for at in range(0, len(content), 65536):
            destination.write(content[at:at + 65536])
            taken[0] += len(content[at:at + 65536])
        destination.seek(0)
        return destination

    h.bot.download = fake_download
    await h.feed(o.message(document=Document(file_id="f", file_unique_id="f", file_name="q.yaml",
                                             file_size=len(content) if size == -1 else size)))
    return taken


async def _statuses(h) -> list[str]:
    async with h.sessions() as s:
        return list((await s.scalars(sa.select(Consultation.status).order_by(Consultation.id))).all())


async def test_new_guides_the_organizer_to_an_open_consultation_with_qr_links(harness):
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await save_list(s, "绿水乡", ITEMS[:3])
        await s.commit()
    o = h.user(ORGANIZER)
    await _new_until_confirm(h, o, "两镇清单意见征询", "2020-01-01 10:00", townships=("青山镇", "绿水乡",))
    assert "将来" in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    assert "绿水乡、青山镇" in confirm.text and "2026-12-20 18:00" in confirm.text
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "创建并开始")))
    photos = [c for c in h.api.calls if c.method == "sendPhoto"]
    assert len(photos) == 2
    assert all("https://t.me/qingdan_test_bot?start=" in p.text for p in photos)
    assert await _statuses(h) == ["open"]


async def test_new_refuses_a_questionnaire_file_with_errors_naming_the_line(harness):
    h = harness


    o, screen = await _new_at_questionnaire(h)
    bad = b"id: x\ntitle: t\nquestions:\n  - id: a\n    type: nonsense\n    text: q\n"
    await _upload_questionnaire(h, o, bad)
    reply = h.api.last(ORGANIZER).text
    assert "有错误" in reply and "第 5 行" in reply
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Consultation)) == 0


async def test_new_refuses_a_questionnaire_whose_aliases_stand_for_too_many_values(harness, monkeypatch):
    import surveys.questionnaire as questionnaire
    from tests.surveys.test_questionnaire import _alias_bomb

    h = harness
    monkeypatch.setattr(questionnaire, "MAX_VALUES", 10_000)  # the bomb scaled down with the limit
    o, screen = await _new_at_questionnaire(h)
    await _upload_questionnaire(h, o, _alias_bomb(300).encode())
    reply = h.api.last(ORGANIZER).text
    assert "有错误" in reply and "别名" in reply and len(reply) < 300
    await _upload_questionnaire(h, o, DEFAULT_QUESTIONNAIRE_PATH.read_bytes())  # still at the questionnaire step
    assert "问卷检查通过" in h.api.last(ORGANIZER).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Consultation)) == 0


async def test_new_answers_a_questionnaire_nested_thousands_deep_with_a_message(harness):
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await _upload_questionnaire(h, o, b"id: x\ntitle: t\nquestions: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    reply = h.api.last(ORGANIZER).text
    assert "有错误" in reply and "嵌套" in reply
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Consultation)) == 0


async def test_new_stops_downloading_a_questionnaire_of_untold_size_at_the_limit(harness):
    from bot.routers.organizer import MAX_QUESTIONNAIRE_BYTES

    h = harness
    o, screen = await _new_at_questionnaire(h)
    taken = await _upload_questionnaire(h, o, b"#" * (50 * MAX_QUESTIONNAIRE_BYTES), size=None)
    assert h.api.last(ORGANIZER).text == "文件太大了，问卷文件不能超过 200 KB。"
    assert taken[0] <= MAX_QUESTIONNAIRE_BYTES
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Consultation)) == 0


async def test_residents_and_cadres_cannot_reach_organizer_commands(harness):
    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        await s.commit()
    for uid in (RESIDENT, CADRE):
        u = h.user(uid)
        for command in ("/new", f"/close {cid}", "/open", "/stats", "/links", "/announce", "/comments",
                        "/invite", "/consultations", "/deadline", f"/deadline {cid} 2026-12-20 18:00",
                        "/digest", f"/digest {cid} 关闭"):
            h.api.clear()
            await h.feed(u.message(command))
            [said] = h.api.texts(uid)
            assert said.startswith("只有组织者可以使用这个功能。"), command
            assert f"Telegram 编号 {uid}" in said and "ORGANIZER_IDS" in said, command
        for data in (PickCB(act="close", c=cid).pack(), InviteCB(t=township, r="organizer", n=5).pack(),
                     DecideCB(k=1, d="adopted").pack()):
            h.api.clear()
            await h.feed(u.press(1, data))
            assert h.api.answers()[-1].text == "只有组织者可以使用这个功能。"
        await h.feed(u.press(1, DeadlineCB(c=cid, a="save").pack()))  # no confirmation of theirs to press
        assert h.api.answers()[-1].text == "只有组织者可以使用这个功能。"
    assert await _statuses(h) == ["open"]
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Invite)) == 0
        assert (await s.get(Consultation, cid)).closes_at == h.clock.now + timedelta(days=10)
        assert (await s.get(Consultation, cid)).settings["digest_hour"] == 9  # (not stopped by them)


async def test_close_before_the_deadline_with_nobody_unfinished_says_nothing_of_unfinished_answers(harness):
    # it said 还有 0 份答卷开始了但没有完成 (English: "0 questionnaire(s) started are not finished")
    h = harness
    cid, _code = await open_consultation(h)
    for language, none in (("zh-hans", "份答卷开始了但没有完成"), ("en", "not finished")):
        await h.feed(h.user(ORGANIZER, language_code=language).message(f"/close {cid}"))
        confirm = h.api.last(ORGANIZER).text
        assert none not in confirm and ("还没有到" in confirm or "still ahead" in confirm), confirm
    assert await _statuses(h) == ["open"]


async def test_close_before_the_deadline_asks_first_saying_what_follows_and_cancel_keeps_it_open(harness):
    # /close closed at once, days before the deadline: the participants thanked and the final report
    # sent, which reopening cannot take back
    from storage.consultations import links, start_response

    h = harness
    cid, _code = await open_consultation(h)
    async with h.sessions() as s:
        await start_response(s, cid, 901, (await links(s, cid))[0].township_id)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/close {cid}"))
    confirm = h.api.last(ORGANIZER)
    assert await _statuses(h) == ["open"]
    assert "还没有到" in confirm.text and "感谢" in confirm.text and "结果报告" in confirm.text
    assert "还有 1 份答卷开始了但没有完成" in confirm.text
    labels = [label for label, _ in buttons(confirm.reply_markup)]
    assert labels == ["✅ 确认结束", "取消"]
    await h.feed(o.press(confirm.message_id, buttons(confirm.reply_markup)[1][1]))
    assert await _statuses(h) == ["open"] and "没有结束" in h.api.last(ORGANIZER).text
    await h.feed(o.press(confirm.message_id, buttons(confirm.reply_markup)[0][1]))  # the spent screen: nothing
    assert await _statuses(h) == ["open"]
    await h.feed(o.message(f"/close {cid}"))
    again = h.api.last(ORGANIZER)
    await h.feed(o.press(again.message_id, buttons(again.reply_markup)[0][1]))
    assert await _statuses(h) == ["closed"] and "已结束，不再接收" in h.api.last(ORGANIZER).text
    await h.feed(o.press(again.message_id, buttons(again.reply_markup)[0][1]))  # a double tap: closed once
    assert sum("已结束，不再接收" in t for t in h.api.texts(ORGANIZER)) == 1


async def test_a_text_typed_while_the_close_confirmation_waits_is_told_to_use_its_buttons(harness):
    h = harness
    cid, _code = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/close {cid}"))
    await h.feed(o.message("好的"))
    assert "请点上面消息里的按钮" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    assert await _statuses(h) == ["open"]


async def test_close_after_the_deadline_passed_closes_at_once(harness):
    h = harness
    cid, _code = await open_consultation(h)
    h.clock.advance(days=11)  # (the scheduler's close job not run yet)
    await h.feed(h.user(ORGANIZER).message(f"/close {cid}"))
    assert await _statuses(h) == ["closed"] and "已结束，不再接收" in h.api.last(ORGANIZER).text


async def test_close_by_command_then_answers_are_refused(harness):
    h = harness
    cid, code = await open_consultation(h)
    await close_early(h, str(cid))
    assert "已结束" in h.api.last(ORGANIZER).text
    await h.feed(h.user(RESIDENT).message(f"/start {code}"))
    assert "截止" in h.api.last(RESIDENT).text
    await h.feed(h.user(ORGANIZER).message(f"/close {cid}"))
    assert "已经是“已结束”了" in h.api.last(ORGANIZER).text
    assert await _statuses(h) == ["closed"]


async def test_open_with_several_candidates_asks_which(harness):
    h = harness
    await open_consultation(h, status=Status.DRAFT)
    await open_consultation(h, township="绿水乡", status=Status.DRAFT)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/open"))
    pick = h.api.last(ORGANIZER)
    await h.feed(o.press(pick.message_id, buttons(pick.reply_markup)[1][1]))
    assert await _statuses(h) == ["draft", "open"]


async def _seed_comment(h, cid: int, text: str = "这项应由县消防救援大队牵头") -> int:
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
        c = await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                            township_id=township, kind="to_cooperating", text=text,
                                            now=h.clock.now)
        await s.commit()
        return c.id


async def _comment_card(h):
    """An open consultation with one cadre's comment, and the organizer's /comments card of it:
    (consultation id, comment id, the organizer's updates, the card)."""
    cid, _ = await open_consultation(h)
    comment_id = await _seed_comment(h, cid)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    return cid, comment_id, o, h.api.last(ORGANIZER)


async def test_the_unanswered_filter_keeps_comments_partly_adopted_or_rejected_without_a_reason(harness):
    """Comments decided 部分采纳/不采纳 before a reason was required have none: the 反馈情况说明
    flags them and their card asks for the reason, but 未答复 (the organizer's queue) left them out."""
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid, "还没有答复的意见")
    ids = {}
    for text in ("采纳了的意见", "旧的不采纳意见", "有理由的部分采纳意见", "旧的部分采纳意见"):
        async with h.sessions() as s:
            item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
            township = await s.scalar(sa.select(Township.id))
            c = await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                                township_id=township, kind="wording", text=text, now=h.clock.now)
            await s.commit()
            ids[text] = c.id
    async with h.sessions() as s:
        await comments_repo.answer_comment(s, ids["采纳了的意见"], "adopted", "", ORGANIZER, h.clock.now)
        await comments_repo.answer_comment(s, ids["有理由的部分采纳意见"], "partly", "已部分修改", ORGANIZER, h.clock.now)
        for text, decision in (("旧的不采纳意见", "rejected"), ("旧的部分采纳意见", "partly")):  # (as stored before)
            await s.execute(sa.update(Comment).where(Comment.id == ids[text]).values(decision=decision, reply=""))
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    seen = []
    while True:
        card = h.api.last(ORGANIZER)
        seen.append(next(text for text in ("还没有答复的意见", *ids) if text in card.text))
        if not any(label == "›" for label, _ in buttons(card.reply_markup)):
            break
        await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "›")))
    assert seen == ["还没有答复的意见", "旧的不采纳意见", "旧的部分采纳意见"]
    assert "意见 3/3" in h.api.last(ORGANIZER).text and "未说明理由" in h.api.last(ORGANIZER).text


async def _seed_missing(h, cid: int, text: str, name: str = "河道巡查") -> int:
    """A missing-item proposal by the cadre of _seed_comment (which must have run)."""
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Person.township_id).where(Person.id == CADRE))
        c = await comments_repo.add_comment(s, consultation_id=cid, item_id=None, person_id=CADRE,
                                            township_id=township, kind="missing", text=text,
                                            missing={"name": name}, now=h.clock.now)
        await s.commit()
        return c.id


async def test_answering_a_comment_stores_it_and_tells_the_cadre(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    assert "这项应由县消防救援大队牵头" in card.text and "尚未答复" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "部分采纳")))
    await h.feed(o.message("已调整为配合事项，由县消防救援大队牵头"))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "partly" and c.reply == "已调整为配合事项，由县消防救援大队牵头"
        assert c.replied_by == ORGANIZER
    to_cadre = h.api.texts(CADRE)
    assert len(to_cadre) == 1 and "部分采纳" in to_cadre[0] and "县消防救援大队牵头" in to_cadre[0]


async def test_the_cadre_told_of_an_answer_sees_a_long_comment_cut_with_an_ellipsis(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid, "意见" * 400)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("已采纳"))
    [told] = h.api.texts(CADRE)
    assert "意见" * 149 + "意…" in told and "意见" * 151 not in told


async def _thirty_longest_titles(h, filler: str, closed_early: bool = False) -> None:
    """Thirty consultations titled "00…" to "29…" and 298 × `filler` (the longest title), on one
    list; closed a day after opening when `closed_early`."""
    from storage.consultations import create_consultation

    await open_consultation(h)
    async with h.sessions() as s:
        list_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_list")).limit(1))
        for n in range(30):
            c = await create_consultation(s, title=f"{n:02d}" + filler * 298, questionnaire="x",
                                          closes_at=h.clock.now + timedelta(days=10), list_ids=[list_id])
            if closed_early:
                await set_status(s, c, Status.OPEN, h.clock.now)
                await set_status(s, c, Status.CLOSED, h.clock.now + timedelta(days=1))
        await s.commit()


async def test_consultations_lists_thirty_of_the_longest_titles_in_one_message(harness):
    from bot.limits import visible_units

    h = harness
    await _thirty_longest_titles(h, "长")
    await h.feed(h.user(ORGANIZER).message("/consultations"))
    text = h.api.last(ORGANIZER).text
    assert visible_units(text) <= 4096 and "…" not in text[-5:]  # not cut by the length guard
    assert all(f"{n:02d}长" in text for n in range(30))


async def test_hidden_comment_is_kept_for_audit_and_left_out_of_counts(harness):
    h = harness
    cid, _ = await open_consultation(h)
    comment_id = await _seed_comment(h, cid, "骂人的话")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "隐藏")))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).hidden is True
        assert await comments_repo.comment_counts_by_kind(s, cid) == {}
        assert await comments_repo.comment_counts_by_kind(s, cid, include_hidden=True) == {"to_cooperating": 1}


async def test_stats_show_completion_by_township_and_comments(harness):
    h = harness
    cid, code = await open_consultation(h)
    await _seed_comment(h, cid)
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    w = h.api.last(RESIDENT)
    await h.feed(r.press(w.message_id, buttons(w.reply_markup)[0][1]))
    await h.feed(h.user(ORGANIZER).message("/stats"))
    text = h.api.last(ORGANIZER).text
    assert "青山镇：1 / 0 / 0.0%" in text
    assert "共 1 条" in text and "应调整为配合履职事项：1" in text


async def test_stats_give_each_townships_cadre_comments_beside_its_questionnaires(harness):
    """Per township, its active comments (a hidden and a withdrawn one left out, as in the total)."""
    from storage.consultations import links
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS) for name in ("青山镇", "绿水乡")]
        c = await create_consultation(s, title="两镇征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        cid = c.id
        qingshan, lvshui = [link.township_id for link in await links(s, cid)]
        item_id = await s.scalar(sa.select(DutyItemRow.id).where(DutyItemRow.list_id == rows[1].id).limit(1))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=lvshui))
        for n in range(4):
            made = await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                                   township_id=lvshui, kind="basis", text=f"依据{n}",
                                                   now=h.clock.now)
            made.hidden, made.status = n == 2, "withdrawn" if n == 3 else made.status
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert "  青山镇：0 / 0 / —；意见 0 条" in text and "  绿水乡：0 / 0 / —；意见 2 条" in text
    assert "共 2 条" in text
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/stats {cid}"))
    assert "  绿水乡: 0 / 0 / —; 2 comments" in h.api.last(ORGANIZER).text


async def test_stats_say_how_the_comments_were_handled_as_the_workbook_and_the_feedback_report_do(harness):
    """The workbook and the 反馈情况说明 give 采纳 / 部分采纳 / 不采纳 / 尚未答复; /stats gave only the
    kinds, so an organizer answering comments after the close could not see how many were left
    without exporting. It now gives the same split (active comments: hidden and withdrawn left out)."""
    from storage.consultations import links
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        row = await save_list(s, "青山镇", ITEMS)
        c = await create_consultation(s, title="征询", questionnaire="", list_ids=[row.id],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        cid = c.id
        township = (await links(s, cid))[0].township_id
        item_id = await s.scalar(sa.select(DutyItemRow.id).where(DutyItemRow.list_id == row.id).limit(1))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        made = [await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                                township_id=township, kind="basis", text=f"依据{n}", now=h.clock.now)
                for n in range(7)]
        await s.commit()
        for n, decision in ((0, "adopted"), (1, "rejected"), (2, "rejected"), (3, "partly")):
            await comments_repo.answer_comment(s, made[n].id, decision, "答复", ORGANIZER, h.clock.now)
        await comments_repo.hide_comment(s, made[4].id)
        await comments_repo.withdraw_comment(s, made[5].id, CADRE, h.clock.now)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert "共 5 条" in text and "<b>答复情况</b>：采纳 1 条、部分采纳 1 条、不采纳 2 条，尚未答复 1 条" in text, text
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/stats {cid}"))
    assert "1 adopted, 1 partly adopted, 2 not adopted and 1 unanswered" in h.api.last(ORGANIZER).text


async def test_stats_of_several_townships_end_with_the_countys_total(harness):
    from storage import consultations as repo
    from storage.consultations import links
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS) for name in ("青山镇", "绿水乡")]
        c = await create_consultation(s, title="两镇征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        cid = c.id
        for n, link in enumerate(await links(s, cid)):  # 青山镇 2 started, 1 completed; 绿水乡 1 started, 1 completed
            for pid in range(900 + 10 * n, 902 - n + 10 * n):
                rid = await repo.start_response(s, cid, pid, link.township_id)
                if pid % 10 == 0:
                    await repo.set_completed(s, rid, True)
        await s.commit()
    await _seed_comment(h, cid)
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert "  青山镇：2 / 1 / 50.0%；意见 1 条\n  绿水乡：1 / 1 / 100.0%；意见 0 条\n  <b>合计</b>：3 / 2 / 66.7%；意见 1 条" in text
    one, _ = await open_consultation(h, township="白云乡")
    await h.feed(h.user(ORGANIZER).message(f"/stats {one}"))
    assert "合计" not in h.api.last(ORGANIZER).text  # (one township: its line is the total)


async def test_stats_of_very_many_townships_keep_the_total_and_the_comments_within_one_message(harness):
    """Cut at Telegram's 4,096 characters, the total, the comments and the reports at the end were lost."""
    import re

    from storage.lists import save_list

    h = harness
    names = [f"第{n:03d}号示范区街道办事处" for n in range(150)]
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS[:1]) for name in names]
        c = await create_consultation(s, title="全市征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/stats {c.id}"))
    text = h.api.last(ORGANIZER).text
    shown = [ln for ln in text.splitlines() if "示范区街道办事处：" in ln]
    more = re.search(r"另有 (\d+) 个乡镇（街道），见 /export \d+ 结果表", text)
    assert shown and more and len(shown) + int(more[1]) == 150
    assert "<b>合计</b>：0 / 0 / —" in text and "干部意见" in text and "清单外事项报告" in text


async def test_stats_show_the_completion_rate_to_one_decimal_half_up_as_the_digest(harness):
    """1 of 8 completed is 12.5%: the digest and the workbook show it; /stats said 13% (whole
    numbers), so the two messages an organizer reads side by side disagreed."""
    from storage import consultations as repo
    from storage.consultations import links

    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        tid = (await links(s, cid))[0].township_id
        for pid in range(900, 908):
            rid = await repo.start_response(s, cid, pid, tid)
            if pid == 900:
                await repo.set_completed(s, rid, True)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message("/stats"))
    assert "青山镇：8 / 1 / 12.5%" in h.api.last(ORGANIZER).text
    await h.feed(h.user(ORGANIZER).message(f"/digest {cid}"))
    assert "完成 1/8（12.5%）" in h.api.last(ORGANIZER, "sendMessage").text


async def test_announce_reaches_each_participant_once(harness):
    h = harness
    cid, code = await open_consultation(h)
    await _seed_comment(h, cid)  # makes CADRE a cadre of the township
    for uid in (RESIDENT, RESIDENT + 1):
        r = h.user(uid)
        await h.feed(r.message(f"/start {code}"))
        w = h.api.last(uid)
        await h.feed(r.press(w.message_id, buttons(w.reply_markup)[0][1]))
    o = h.user(ORGANIZER)
    await h.feed(o.message("/announce"))
    await h.feed(o.message("征询还有三天截止，请大家抓紧参与。"))
    preview = h.api.last(ORGANIZER)
    assert "3 位参与者" in preview.text
    send = _press_label(preview.reply_markup, "发送给 3 人")
    await h.feed(o.press(preview.message_id, send))
    await h.feed(o.press(preview.message_id, send))  # a second tap sends nothing more
    await wait_background()
    for uid in (RESIDENT, RESIDENT + 1, CADRE):
        assert h.api.texts(uid).count("征询还有三天截止，请大家抓紧参与。") == 1, uid
    assert "成功 3" in h.api.last(ORGANIZER).text


async def test_an_announcement_or_deadline_news_sent_in_the_quiet_hours_arrives_without_a_sound(harness):
    """An announcement sent at 22:30 (and the news of a moved deadline) rang every participant's phone
    in the quiet hours, when no reminder may go; it is delivered silently then (the organizer is told),
    and with a sound in the day."""
    h = harness
    cid, code = await open_consultation(h)
    await _seed_comment(h, cid)  # makes CADRE a cadre of the township
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    w = h.api.last(RESIDENT)
    await h.feed(r.press(w.message_id, buttons(w.reply_markup)[0][1]))
    o = h.user(ORGANIZER)

    async def announce(text: str) -> str:
        await h.feed(o.message("/announce"))
        await h.feed(o.message(text))
        preview = h.api.last(ORGANIZER)
        await h.feed(o.press(preview.message_id, _press_label(preview.reply_markup, "发送给 2 人")))
        said = h.api.last(ORGANIZER).text
        await wait_background()
        return said

    h.clock.now = h.clock.now.replace(hour=14, minute=30)  # 22:30 in Beijing
    said = await announce("明天上午村委会开会。")
    assert "免打扰" in said
    for uid in (RESIDENT, CADRE):
        [sent] = [c for c in h.api.calls if c.chat_id == uid and c.text == "明天上午村委会开会。"]
        assert sent.call.disable_notification, uid
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "✅ 确认修改并通知干部")))
    await wait_background()
    news = h.api.last(CADRE)
    assert "2026-12-20 18:00" in news.text and news.call.disable_notification

    h.clock.now = h.clock.now.replace(hour=2)  # 10:30 in Beijing
    said = await announce("下午两点开会。")
    assert "免打扰" not in said
    [sent] = [c for c in h.api.calls if c.chat_id == RESIDENT and c.text == "下午两点开会。"]
    assert not sent.call.disable_notification


async def test_invite_makes_single_use_links_for_a_township(harness):
    h = harness
    await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/invite"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山镇")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "5")))
    text = h.api.last(ORGANIZER).text
    assert text.count("https://t.me/qingdan_test_bot?start=inv_") == 5
    async with h.sessions() as s:
        invites = (await s.scalars(sa.select(Invite))).all()
    assert len(invites) == 5 and all(i.role == "cadre" and i.used_by is None for i in invites)
    assert all(i.expires_at - h.clock.now == timedelta(days=7) for i in invites)


async def test_one_invite_made_in_the_chat_is_announced_in_the_singular(harness):
    h = harness
    await open_consultation(h)
    for language, expected in (("en", "Created 1 cadre invite link for 青山镇, valid for 7 days; a link works only once:"),
                               ("zh-hans", "已为青山镇生成 1 个干部邀请链接，7 天内有效，一个链接只能用一次：")):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/invite"))
        screen = h.api.last(ORGANIZER)
        await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山镇")))
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "1")))
        text = h.api.last(ORGANIZER).text
        assert text.splitlines()[0] == expected and text.count("?start=inv_") == 1, text


async def test_an_organizer_demoted_cannot_come_back_through_invites_they_made_and_kept(harness):
    """`invites revoke --demote` on an invited organizer voids the invites they made that are
    still unused: one kept back for themselves is no way back to the role, nor to a cadre's."""
    import re

    from storage.invites import create_invites, revoke

    h = harness
    await open_consultation(h)
    async with h.sessions() as s:
        own = (await create_invites(s, None, "organizer", 1, h.clock.now + timedelta(days=7), ORGANIZER))[0].code
        await s.commit()
    invited = 900002
    o = h.user(invited)
    await h.feed(o.message(f"/start inv_{own}"))
    kept = []
    for label in ("青山镇", "组织者"):  # a cadre's invite and an organizer's, made in the chat
        await h.feed(o.message("/invite"))
        screen = h.api.last(invited)
        await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, label)))
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(invited).reply_markup, "1")))
        kept += re.findall(r"start=inv_([a-z0-9]+)", h.api.last(invited).text)
    assert len(kept) == 2
    async with h.sessions() as s:
        assert (await revoke(s, own, h.clock.now, demote=True))[1] == "demoted"
        await s.commit()
    for code in kept:
        await h.feed(o.message(f"/start inv_{code}"))
        assert "已经作废" in h.api.last(invited).text
    async with h.sessions() as s:
        person = await s.get(Person, invited)
        assert (person.role, person.township_id) == ("resident", None)
        assert [(await s.get(Invite, code)).used_by for code in kept] == [None, None]


async def test_a_chats_updates_arriving_together_are_handled_one_after_the_other(harness):
    """Polling hands several updates of one chat to the dispatcher at once (a phone back
    online, a paste): the title must be taken as the title of the /new just sent, not fall
    through because /new's step was not committed yet."""
    import asyncio

    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    await asyncio.gather(h.feed(o.message("/new")), h.feed(o.message("一起到达的标题")))
    assert "请选择参加征询的乡镇" in h.api.last(ORGANIZER).text


async def test_opening_after_the_deadline_is_refused_with_a_reply(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    await open_consultation(h, township="绿水乡", status=Status.CLOSED)
    h.clock.advance(days=11)  # both deadlines have passed
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/open {cid}"))
    assert f"征询 #{cid} 的截止时间已经过了" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/open"))  # the picker: the draft and the closed one
    pick = h.api.last(ORGANIZER)
    await h.feed(o.press(pick.message_id, buttons(pick.reply_markup)[1][1]))
    assert "截止时间已经过了" in h.api.last(ORGANIZER).text
    assert await _statuses(h) == ["draft", "closed"]


async def test_opening_records_when_it_opened(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    h.clock.advance(hours=3)
    await h.feed(h.user(ORGANIZER).message(f"/open {cid}"))
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).opens_at == h.clock.now


async def test_a_consultation_closed_early_then_reopened_shows_its_deadline_not_the_early_close(harness):
    import io

    import openpyxl

    h = harness
    cid, code = await open_consultation(h)  # deadline 2026-12-11 10:00 local
    o = h.user(ORGANIZER)
    h.clock.advance(hours=5)
    await close_early(h, str(cid))  # 15:00 local
    await wait_background()
    h.clock.advance(hours=1)
    await h.feed(o.message(f"/open {cid}"))
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).closed_at is None
    h.api.clear()
    await h.feed(o.message(f"/export {cid}"))
    wb = openpyxl.load_workbook(io.BytesIO(h.api.last(ORGANIZER, "sendDocument").call.document.data))
    rows = {r[0]: r[1] for r in wb.worksheets[0].iter_rows(values_only=True) if r and r[0]}
    assert rows["截止时间"] == datetime(2026, 12, 11, 10, 0)
    h.clock.advance(days=10)  # past the deadline, before the scheduler closed it
    await h.feed(h.user(500).message(f"/start {code}"))
    assert "已于 2026-12-11 10:00 截止" in h.api.last(500).text


async def test_a_number_too_large_for_an_id_names_no_consultation(harness):
    h = harness
    await open_consultation(h)
    for arg in ("99999999999999999999999", "3000000000", "²"):
        await h.feed(h.user(ORGANIZER).message(f"/close {arg}"))
        assert "找不到" in h.api.last(ORGANIZER).text, arg
    assert await _statuses(h) == ["open"]


async def test_new_confirmed_after_its_deadline_passed_asks_for_another(harness):
    h = harness

    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2026-12-01 11:00"))  # an hour from the clock's 10:00 in Shanghai
    confirm = h.api.last(ORGANIZER)
    h.clock.advance(hours=2)  # the button pressed two hours later
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "创建并开始")))
    assert "将来" in h.api.last(ORGANIZER).text
    assert await _statuses(h) == []
    await h.feed(o.message("2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "创建并开始")))
    assert await _statuses(h) == ["open"]


async def test_links_wait_out_telegrams_flood_limit(harness):
    from aiogram.exceptions import TelegramRetryAfter
    from aiogram.methods import SendPhoto

    h = harness
    cid, _ = await open_consultation(h)
    await open_consultation(h, township="绿水乡")  # (its own consultation: /links names ours)
    h.api.fail_with["sendPhoto"] = TelegramRetryAfter(SendPhoto(chat_id=ORGANIZER, photo="x"), "Too Many Requests",
                                                      retry_after=0)
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    photos = [c for c in h.api.calls if c.method == "sendPhoto"]
    assert len(photos) == 1 and "青山镇" in photos[0].text  # sent after the flood wait, not lost
    assert "sendPhoto" not in h.api.fail_with  # the 429 was met


def _qr_modules(png: bytes, scale: int = 8, border: int = 4) -> list[list[bool]]:
    """The dark modules of a QR code image (each module `scale` pixels, `border` modules of margin)."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    n = img.width // scale - 2 * border
    return [[img.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2)) < 128
             for x in range(n)] for y in range(n)]


async def test_links_are_ready_to_forward_in_chinese_with_the_deadline_and_a_qr_code_of_the_link(harness):
    """Each township's QR code comes under a caption addressed to the residents — the bot's language
    (LOCALE), not the English-speaking organizer's — with the deadline in TIMEZONE and the link, so it can
    be forwarded to the township's group as it is; a note before them says so to the organizer."""
    import re

    import segno

    from storage.consultations import links

    h = harness
    cid, _ = await open_consultation(h)
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/links {cid}"))
    note, photo = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert note.method == "sendMessage" and "forwarded" in note.text
    async with h.sessions() as s:
        code = (await links(s, cid))[0].code
    url = f"https://t.me/qingdan_test_bot?start={code}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)
    assert photo.method == "sendPhoto"
    assert "【青山镇】青山镇履职事项清单征求意见" in photo.text
    assert "截止时间：2026-12-11 10:00（北京时间）" in photo.text and photo.text.endswith(url)
    assert "公告栏" not in photo.text  # (what is said to the organizer is not in what residents get)
    expected = segno.make_qr(url, error="m").matrix
    assert _qr_modules(photo.call.photo.data) == [[bool(v) for v in row] for row in expected]


async def test_links_of_a_consultation_that_opens_later_give_its_opening_time(harness):
    """Opened with a start set ahead, a link says "not yet" until then: the text to forward says when."""
    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        c.opens_at = h.clock.now + timedelta(days=1)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    note, photo = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert "将于 2026-12-02 10:00（北京时间）开始接受意见" in note.text
    assert "征求意见时间：2026-12-02 10:00 至 2026-12-11 10:00（北京时间）" in photo.text


async def test_a_bot_username_setting_naming_another_bot_is_logged_and_the_chats_links_use_the_bots_own(
        harness, caplog):
    """BOT_USERNAME is what `qingdan links` prints posters with: naming another bot, they would open it."""
    h = harness
    h.settings.bot_username = "another_bot"
    cid, _ = await open_consultation(h)
    caplog.set_level("WARNING", logger="bot.middlewares")
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    warned = [r.getMessage() for r in caplog.records if "BOT_USERNAME" in r.getMessage()]
    assert len(warned) == 1 and "another_bot" in warned[0] and "@qingdan_test_bot" in warned[0]
    assert "https://t.me/qingdan_test_bot?start=" in h.api.last(ORGANIZER).text


async def test_links_of_a_draft_say_it_has_not_started(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    note = next(c for c in h.api.calls if c.chat_id == ORGANIZER)
    assert note.method == "sendMessage" and "还没有开始" in note.text and f"/open {cid}" in note.text


async def test_comments_can_be_filtered_by_every_township(harness):
    from storage.consultations import create_consultation, set_status
    from storage.lists import save_list

    h = harness
    names = ["青山镇", "绿水乡", "白云乡", "红旗镇", "东湖街道", "西湖乡"]
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS) for name in names]
        c = await create_consultation(s, title="六镇征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
    await _seed_comment(h, c.id)
    await h.feed(h.user(ORGANIZER).message(f"/comments {c.id}"))
    labels = [text for text, _ in buttons(h.api.last(ORGANIZER).reply_markup)]
    assert all(name in labels for name in names), labels


async def test_the_comment_card_of_a_consultation_over_100_townships_keeps_within_100_buttons(harness):
    """A button to filter by each township: a consultation over 100 townships made the comment
    card more than 100 buttons, which Telegram refuses ("reply markup is too long"), so /comments
    showed the organizer nothing. With too many for buttons, the townships that have comments
    get one, and the card is sent."""
    from storage.consultations import create_consultation, set_status
    from storage.lists import save_list

    h = harness
    names = [f"第{k:03d}镇" for k in range(100)]
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS[:1]) for name in names]
        c = await create_consultation(s, title="百镇征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
    await _seed_comment(h, c.id)  # (by a cadre of the first township)
    h.api.clear()
    await h.feed(h.user(ORGANIZER).message(f"/comments {c.id}"))
    card = h.api.last(ORGANIZER)
    labels = [text for text, _ in buttons(card.reply_markup)]
    assert "第000镇" in card.text and len(labels) <= 100
    assert "第000镇" in labels


async def test_a_missing_item_proposal_shows_its_part_category_and_basis(harness):
    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        await comments_repo.add_comment(s, consultation_id=cid, item_id=None, person_id=CADRE, township_id=township,
                                        kind="missing", text="村里常年要做", now=h.clock.now,
                                        missing={"name": "河道日常巡查", "part": "basic", "category": "生态环境",
                                                 "basis": "《河长制工作规定》"})
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/comments {cid}"))
    card = h.api.last(ORGANIZER).text
    assert "河道日常巡查" in card and "基本履职事项" in card and "生态环境" in card and "《河长制工作规定》" in card


async def _add_cadre(h, township: str = "青山镇") -> None:
    """A cadre of the township: somebody an announcement goes to."""
    async with h.sessions() as s:
        t = (await s.scalars(sa.select(Township.id).where(Township.name == township))).one()
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=t))
        await s.commit()


async def test_an_announcements_length_is_its_text_as_shown(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _add_cadre(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    text = "请注意<截止>&时间" * 300  # 3,000 characters as shown; escaped HTML is longer than 3,500
    await h.feed(o.message(text))
    preview = h.api.last(ORGANIZER)
    assert "3500" not in preview.text and "&lt;截止&gt;&amp;" in preview.text


async def test_a_whitespace_only_announcement_is_refused_and_the_next_text_is_still_asked_for(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # a cadre who would get the announcement
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    for blank in ("   ", "\n\n", " \u3000\n ", "\u200b\u200d"):
        await h.feed(o.message(blank))
        refused = h.api.last(ORGANIZER)
        assert "通知内容是空的" in refused.text and refused.reply_markup is None  # no preview, no send button
    await h.feed(o.message("座谈会改到周五"))
    preview = h.api.last(ORGANIZER)
    assert "座谈会改到周五" in preview.text
    await h.feed(o.press(preview.message_id, _press_label(preview.reply_markup, "发送给")))
    await wait_background()
    assert h.api.texts(CADRE) == ["座谈会改到周五"]


async def test_a_whitespace_only_reply_to_a_comment_is_refused_and_stores_nothing(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    for blank in (" \n \n ", "\u200b \u2060"):  # spaces and line breaks, zero-width marks
        await h.feed(o.message(blank))
        assert "答复是空的" in h.api.last(ORGANIZER).text
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision is None and c.reply in (None, "")
    assert h.api.texts(CADRE) == []
    await h.feed(o.message("已按意见修改"))  # still waiting for the answer
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == "已按意见修改"


async def test_a_reply_long_in_telegrams_count_and_with_html_characters_is_stored_and_shown_whole(harness):
    """An answer of the longest length, with <, > and &, to a comment as long as allowed, whose
    characters count two each in Telegram (emoji): stored as typed; the cadre's note holds it in
    full (the quotes give way), the card still shows it, /mycomments, the workbook and the
    反馈情况说明 hold it as typed."""
    import io

    import openpyxl

    from bot.limits import TEXT_LIMIT, fit_plain, plain_text, visible_units
    from bot.routers.organizer import CARD_FIELD
    from storage.comments import MAX_TEXT
    from storage.reports import load_consultation_data
    from surveys.report import build_workbook, feedback_report

    h = harness
    cid, _ = await open_consultation(h)
    comment_id = await _seed_comment(h, cid, "😀" * MAX_TEXT)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "部分采纳")))
    start = "<b>依据</b> & 《消防法》>第十条 "
    reply = start + "👍" * (MAX_TEXT - len(start))
    await h.feed(o.message(reply))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).reply == reply.strip()

    [note] = h.api.texts(CADRE)
    assert visible_units(note) <= TEXT_LIMIT and plain_text(note).endswith("答复：" + reply.strip())

    await h.feed(o.message("/comments"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    card = h.api.last(ORGANIZER).text
    assert visible_units(card) <= TEXT_LIMIT and "答复：" + fit_plain(reply.strip(), CARD_FIELD) in plain_text(card)

    await h.feed(h.user(CADRE).message("/mycomments"))
    assert "答复：" + start.strip() in plain_text(h.api.last(CADRE).text)

    async with h.sessions() as s:
        data = await load_consultation_data(s, cid, "k" * 32, "Asia/Shanghai")
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert reply.strip() in [cell for row in book["意见"].iter_rows(values_only=True) for cell in row]
    assert start.strip() in feedback_report(data)


async def test_new_says_how_many_more_errors_a_questionnaire_file_has(harness):

    from bot.limits import visible_units

    h = harness
    o, screen = await _new_at_questionnaire(h)
    bad = ("id: x\ntitle: t\nquestions:\n" + "".join(
        f"  - id: {'很长的中文标识' * 20}{n}\n    type: nonsense\n    text: q\n" for n in range(20))).encode()
    await _upload_questionnaire(h, o, bad)
    reply = h.api.last(ORGANIZER).text
    assert "有错误" in reply and "另有" in reply and visible_units(reply) <= 4096


async def test_no_reply_records_the_decision_and_tells_the_cadre(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt = h.api.last(ORGANIZER)
    await h.feed(o.press(prompt.message_id, _press_label(prompt.reply_markup, "不写答复")))
    assert h.api.answers()[-1].text is None  # not "this button is no longer valid"
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == ""
    to_cadre = h.api.texts(CADRE)
    assert len(to_cadre) == 1 and "采纳" in to_cadre[0]


async def test_the_no_reply_button_of_an_earlier_prompt_answers_no_other_comment(harness):
    h = harness
    cid, _ = await open_consultation(h)
    first = await _seed_comment(h, cid, "第一条意见")
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
        second = (await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                                  township_id=township, kind="basis", text="第二条意见",
                                                  now=h.clock.now)).id
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    assert "第一条意见" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt_first = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "›")))
    card2 = h.api.last(ORGANIZER)
    assert "第二条意见" in card2.text
    await h.feed(o.press(card2.message_id, _press_label(card2.reply_markup, "不采纳")))
    # back on the first comment's prompt: its "no reply" must not answer the second comment
    await h.feed(o.press(prompt_first.message_id, _press_label(prompt_first.reply_markup, "不写答复")))
    assert h.api.answers()[-1].text == "这个按钮已经失效了。"
    async with h.sessions() as s:
        assert (await s.get(Comment, second)).decision is None
        assert (await s.get(Comment, first)).decision is None
    assert h.api.texts(CADRE) == []


async def test_the_send_button_of_an_earlier_announcement_preview_does_not_send_a_later_text(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # CADRE: the one participant
    o = h.user(ORGANIZER)
    await h.feed(o.message("/announce"))
    await h.feed(o.message("第一稿：征询还有三天截止。"))
    first = h.api.last(ORGANIZER)
    await h.feed(o.message("/announce"))
    await h.feed(o.message("第二稿：征询延期一周。"))
    second = h.api.last(ORGANIZER)
    # the organizer taps "send" under the first preview: what it shows, or nothing, but never the second text
    await h.feed(o.press(first.message_id, _press_label(first.reply_markup, "发送给")))
    await wait_background()
    assert "第二稿：征询延期一周。" not in h.api.texts(CADRE)
    # the second preview still works
    await h.feed(o.press(second.message_id, _press_label(second.reply_markup, "发送给")))
    await wait_background()
    assert h.api.texts(CADRE).count("第二稿：征询延期一周。") == 1


async def test_an_organizer_who_blocked_the_bot_during_an_announcement_costs_only_the_note_logged(
        harness, caplog, monkeypatch):
    """The broadcast runs in the background; its closing "sent N" note to an organizer who has
    blocked the bot meanwhile (403) is one logged line, not an error left in the task."""
    import asyncio

    from aiogram.exceptions import TelegramForbiddenError
    from aiogram.methods import SendMessage

    from bot.routers import organizer

    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # CADRE: the one participant
    real = h.api.make_request
    started: list[asyncio.Task] = []  # every background task, also one done before we look

    class Kept(set):
        def add(self, task) -> None:
            started.append(task)
            super().add(task)

    monkeypatch.setattr(organizer, "_background", Kept())

    async def organizer_blocked(bot, method, timeout=None):
        if isinstance(method, SendMessage) and method.chat_id == ORGANIZER and "成功" in method.text:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user")
        return await real(bot, method, timeout)

    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    await h.feed(o.message("征询还有三天截止。"))
    preview = h.api.last(ORGANIZER)
    h.api.make_request = organizer_blocked
    caplog.set_level("WARNING", logger="bot.routers.organizer")
    await h.feed(o.press(preview.message_id, _press_label(preview.reply_markup, "发送给")))
    assert len(started) == 1
    await asyncio.gather(*started)  # raised the 403 before
    assert h.api.texts(CADRE) == ["征询还有三天截止。"]
    notes = [r.getMessage() for r in caplog.records if r.name == "bot.routers.organizer"]
    assert len(notes) == 1 and "blocked the bot" in notes[0] and str(ORGANIZER) in notes[0], notes

    # the same for the cadres told of a moved deadline
    caplog.clear()
    async with h.sessions() as s:
        s.add(Person(id=CADRE + 1, first_name="干部", role="cadre",
                     township_id=(await s.scalars(sa.select(Township.id))).first()))
        await s.commit()
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "通知干部")))
    assert len(started) == 2
    await asyncio.gather(*started)
    assert any("截止时间由" in t for t in h.api.texts(CADRE + 1))
    notes = [r.getMessage() for r in caplog.records if r.name == "bot.routers.organizer"]
    assert len(notes) == 1 and "blocked the bot" in notes[0], notes


async def test_the_create_button_of_an_earlier_new_does_not_create_the_later_one(harness):
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)

    async def to_confirm(title: str):
        await h.feed(o.message("/new"))
        await h.feed(o.message(title))
        screen = h.api.last(ORGANIZER)
        await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山镇")))
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "完成")))
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
        await h.feed(o.message("2026-12-20 18:00"))
        confirm = h.api.last(ORGANIZER)
        assert title in confirm.text
        return confirm

    first = await to_confirm("第一次的标题")
    second = await to_confirm("第二次的标题")
    await h.feed(o.press(first.message_id, _press_label(first.reply_markup, "创建并开始征询")))
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(Consultation.title))).all() == []
    await h.feed(o.press(second.message_id, _press_label(second.reply_markup, "创建并开始征询")))
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(Consultation.title))).all() == ["第二次的标题"]


async def test_a_reply_typed_after_moving_to_another_comment_does_not_answer_the_first(harness):
    h = harness
    cid, _ = await open_consultation(h)
    first = await _seed_comment(h, cid, "第一条意见")
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
        await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                        township_id=township, kind="basis", text="第二条意见", now=h.clock.now)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "›")))  # on to the second comment
    assert "第二条意见" in h.api.last(ORGANIZER).text
    await h.feed(o.message("依据已补充"))  # meant for the second comment, which has no decision chosen
    async with h.sessions() as s:
        c = await s.get(Comment, first)
        assert c.decision is None and c.reply == ""
    assert h.api.texts(CADRE) == []


async def test_a_comment_card_of_the_longest_fields_keeps_the_whole_comment_the_answer_and_the_hidden_mark(harness):
    from bot.limits import visible_units
    from storage.comments import MAX_TEXT

    h = harness
    long_name = "防汛抗旱、森林防灭火的预警转移和先期处置" * 10  # 200 characters, as imported drafts can hold
    cid, _ = await open_consultation(h, items=[*ITEMS, DutyItem(Part.BASIC, long_name, seq=9, category="应急管理")])
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        item_id = await s.scalar(sa.select(DutyItemRow.id).where(DutyItemRow.name == long_name))
        on_item = await comments_repo.add_comment(
            s, consultation_id=cid, item_id=item_id, person_id=CADRE, township_id=township, kind="wording",
            text="意" * (MAX_TEXT - 1) + "尾", proposed_wording="表" * MAX_TEXT, now=h.clock.now)
        missing = await comments_repo.add_comment(
            s, consultation_id=cid, item_id=None, person_id=CADRE, township_id=township, kind="missing",
            text="因" * (MAX_TEXT - 1) + "尾", now=h.clock.now,
            missing={"name": "河" * 200, "part": "basic", "category": "类" * 100, "basis": "据" * MAX_TEXT})
        for k in (on_item, missing):
            await comments_repo.answer_comment(s, k.id, "rejected", "答" * MAX_TEXT, ORGANIZER, h.clock.now)
        await comments_repo.hide_comment(s, on_item.id)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/comments {cid}"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    cards = [h.api.last(ORGANIZER).text]
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "›")))
    cards.append(h.api.last(ORGANIZER).text)
    for card in cards:
        assert visible_units(card) <= 4096 and "尾" in card and "答复：答答" in card  # the comment in full
    assert "已隐藏" in cards[0]


async def test_stats_count_an_item_of_every_townships_list_together_as_the_digest_does(harness):
    from storage.consultations import create_consultation, set_status
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS) for name in ("青山镇", "绿水乡")]
        c = await create_consultation(s, title="两镇征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        for n, (row, name) in enumerate([(rows[0], ITEMS[0].name), (rows[0], ITEMS[0].name),
                                         (rows[1], ITEMS[0].name), (rows[1], ITEMS[0].name),
                                         (rows[0], ITEMS[2].name), (rows[0], ITEMS[2].name),
                                         (rows[0], ITEMS[2].name)]):
            item_id = await s.scalar(sa.select(DutyItemRow.id).where(DutyItemRow.list_id == row.id,
                                                                     DutyItemRow.name == name))
            s.add(Person(id=CADRE + n, first_name="干部", role="cadre", township_id=row.township_id))
            await comments_repo.add_comment(s, consultation_id=c.id, item_id=item_id, person_id=CADRE + n,
                                            township_id=row.township_id, kind="basis", text="依据有误",
                                            now=h.clock.now)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/stats {c.id}"))
    stats = h.api.last(ORGANIZER).text
    await h.feed(o.message(f"/digest {c.id}"))
    digest = h.api.last(ORGANIZER, "sendMessage").text
    assert f"{ITEMS[0].name}：4 条" in digest and f"{ITEMS[2].name}：3 条" in digest
    top = stats[stats.index("意见最多的事项"):]
    assert f"{ITEMS[0].name}（4 条）" in top and f"{ITEMS[2].name}（3 条）" in top
    assert top.count(ITEMS[0].name) == 1 and top.index(ITEMS[0].name) < top.index(ITEMS[2].name)





async def test_answering_without_a_reply_stores_the_decision_and_tells_the_cadre(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    ask = h.api.last(ORGANIZER)
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "不写答复")))
    assert "失效" not in (h.api.answers()[-1].text or "")
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == "" and c.replied_by == ORGANIZER
    to_cadre = h.api.texts(CADRE)
    assert len(to_cadre) == 1 and "采纳" in to_cadre[0] and "答复：（无）" in to_cadre[0]
    assert any("已保存：采纳" in t for t in h.api.texts(ORGANIZER))


async def test_no_reply_on_the_prompt_of_a_comment_left_for_another_answers_neither(harness):
    h = harness
    cid, _ = await open_consultation(h)
    first = await _seed_comment(h, cid, "第一条")
    second = await _seed_missing(h, cid, "第二条")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    assert f"#{first}" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    first_prompt = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "›")))
    card = h.api.last(ORGANIZER)
    assert f"#{second}" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.press(first_prompt.message_id, _press_label(first_prompt.reply_markup, "不写答复")))
    assert "失效" in (h.api.answers()[-1].text or "")
    async with h.sessions() as s:
        assert (await s.get(Comment, first)).decision is None and (await s.get(Comment, second)).decision is None


async def test_a_hidden_comment_leaves_the_unanswered_queue_and_stays_under_all(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid, "骂人的话")
    await _seed_missing(h, cid, "村里常年要做")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    assert card.text.startswith("意见 1/2") and "骂人的话" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "隐藏")))
    card = h.api.last(ORGANIZER)
    assert card.text.startswith("意见 1/1") and "河道巡查" in card.text  # as many as the reports count unanswered
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    assert card.text.startswith("意见 1/2") and "骂人的话" in card.text and "已隐藏" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "取消隐藏")))
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "尚未答复")))
    assert h.api.last(ORGANIZER).text.startswith("意见 1/2")


async def test_moving_to_another_comment_drops_a_decision_waiting_for_its_answer(harness):
    h = harness
    cid, _ = await open_consultation(h)
    first = await _seed_comment(h, cid, "第一条")
    second = await _seed_missing(h, cid, "第二条")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "›")))
    assert "第二条" in h.api.last(ORGANIZER).text
    await h.feed(o.message("河道巡查已列入清单"))  # meant for the comment on the screen
    async with h.sessions() as s:
        assert (await s.get(Comment, first)).decision is None and (await s.get(Comment, second)).decision is None
    assert h.api.texts(CADRE) == []


async def test_comments_again_drops_a_decision_waiting_for_its_answer(harness):
    h = harness
    cid, _ = await open_consultation(h)
    first = await _seed_comment(h, cid, "第一条")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.message("/comments"))
    await h.feed(o.message("稍后再答"))
    async with h.sessions() as s:
        assert (await s.get(Comment, first)).decision is None
    assert h.api.texts(CADRE) == []


async def test_an_action_named_by_id_on_a_consultation_of_the_wrong_status_is_refused(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    await _seed_comment(h, cid)  # a cadre who would get the announcement
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    assert h.api.last(ORGANIZER).text == f"征询 #{cid} 现在是“草稿”状态，不能群发通知。"
    await h.feed(o.message("草稿的通知"))
    assert h.api.texts(CADRE) == []


async def test_another_command_drops_a_decision_waiting_for_its_answer(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("/stats"))
    await h.feed(o.message("这句话是写给别人的"))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision is None and c.reply in ("", None)
    assert h.api.texts(CADRE) == []


async def test_a_forged_invite_press_without_a_role_or_township_is_refused(harness):
    # "oi:0::5" (no township, no role yet) passed the checks as a cadre invite, and
    # create_invites raised: an error in the log and a press without an answer
    h = harness
    await open_consultation(h)
    o = h.user(ORGANIZER)
    for data in ("oi:0::5", "oi:0::0"):
        h.api.clear()
        await h.feed(o.press(1, data))
        assert h.api.answers()[-1].text == "这个按钮已经失效了。", data
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Invite)) == 0


async def test_the_deadline_prompt_gives_an_example_two_weeks_ahead_not_a_fixed_date(harness):
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    assert "例如 2026-12-15 18:00" in h.api.last(ORGANIZER).text  # the clock: 2026-12-01 10:00 local
    await h.feed(o.message("过几天"))
    assert "2026-12-15 18:00" in h.api.last(ORGANIZER).text
    h.clock.advance(days=30)
    await h.feed(o.message("还是不对"))
    assert "2027-01-14 18:00" in h.api.last(ORGANIZER).text


async def test_a_pick_pressed_after_the_consultation_changed_status_is_refused_as_a_named_one(harness):
    # /links listed two open consultations; the one picked was closed meanwhile: its links
    # are refused as /links <id> refuses them, not sent
    h = harness
    first, _ = await open_consultation(h)
    await open_consultation(h, township="白水镇")
    o = h.user(ORGANIZER)
    await h.feed(o.message("/links"))
    pick = h.api.last(ORGANIZER)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, first), Status.CLOSED, h.clock.now)
        await s.commit()
    sent = len(h.api.calls)
    await h.feed(o.press(pick.message_id, PickCB(act="links", c=first).pack()))
    assert not any(c.method == "sendPhoto" for c in h.api.calls[sent:])
    assert h.api.last(ORGANIZER).text == f"征询 #{first} 现在是“已结束”状态，不能分享链接。"


async def test_the_no_reply_button_of_an_earlier_prompt_records_no_other_decision(harness):
    # 采纳 asked "reply?", then 不采纳 on the same card asked again: the first prompt's
    # 不写答复 must not record 不采纳, which that prompt never showed
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt_adopted = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.press(prompt_adopted.message_id, _press_label(prompt_adopted.reply_markup, "不写答复")))
    assert h.api.answers()[-1].text == "这个按钮已经失效了。"
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).decision is None
    assert h.api.texts(CADRE) == []
    await h.feed(o.message("不属于乡镇职责"))  # the latest prompt still records its decision
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).decision == "rejected"


async def test_open_with_a_start_set_ahead_says_when_answers_start(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        c.opens_at = h.clock.now + timedelta(days=2)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/open {cid}"))
    reply = h.api.last(ORGANIZER).text
    assert "将于 2026-12-03 10:00 开始接受意见" in reply and "已开始" not in reply


async def test_questionnaire_errors_in_english_name_the_line_with_an_english_colon(harness):
    h = harness
    o, _ = await _new_at_questionnaire(h)
    o = h.user(ORGANIZER, language_code="en")
    bad = b"id: x\ntitle: t\nquestions:\n  - id: a\n    type: nonsense\n    text: q\n"
    await _upload_questionnaire(h, o, bad)
    reply = h.api.last(ORGANIZER).text
    assert "line 5: unknown question type" in reply and "：" not in reply


async def test_new_confirmation_in_english_lists_the_townships_with_commas(harness):
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "Qingshan", ITEMS)
        await save_list(s, "Lushui", ITEMS[:3])
        await s.commit()
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message("/new"))
    await h.feed(o.message("Two townships"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "Qingshan")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "Lushui")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "Done (2 chosen)")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "default")))
    await h.feed(o.message("2026-12-20 18:00"))
    assert "Townships: Lushui, Qingshan\n" in h.api.last(ORGANIZER).text


async def test_new_in_english_takes_back_the_deadline_as_the_bot_wrote_it_with_beijing_time(harness):
    """The prompt and the confirmation say "(Beijing time)"; a deadline copied with it is taken."""
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "Qingshan", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message("/new"))
    await h.feed(o.message("One township"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "Qingshan")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "Done (1 chosen)")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "default")))
    assert "(Beijing time)" in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-20 18:00 (Beijing time)"))
    assert "Closes: 2026-12-20 18:00 (Sunday, Beijing time)" in h.api.last(ORGANIZER).text


async def test_english_announcement_preview_to_one_participant_says_one_participant(harness):
    h = harness
    cid, code = await open_consultation(h)
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    w = h.api.last(RESIDENT)
    await h.feed(r.press(w.message_id, buttons(w.reply_markup)[0][1]))
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message("/announce"))
    await h.feed(o.message("Three days left."))
    assert h.api.last(ORGANIZER).text.startswith("This goes to 1 participant;")


async def test_organizer_invites_name_the_whole_county_not_a_dash(harness):
    h = harness
    await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/invite"))
    menu = h.api.last(ORGANIZER)
    await h.feed(o.press(menu.message_id, _press_label(menu.reply_markup, "邀请组织者")))
    count = h.api.last(ORGANIZER)
    await h.feed(o.press(count.message_id, _press_label(count.reply_markup, "1")))
    done = h.api.last(ORGANIZER).text
    assert "全县" in done and "（—" not in done


async def test_an_english_organizer_invite_asks_how_many_links_as_english_says_it(harness):
    # the township's name heads the question ("青山镇: how many invite links?"); for an organizer
    # invite the role stood in its place, lower-case: "organizer: how many invite links?"
    h = harness
    await open_consultation(h)
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message("/invite"))
    menu = h.api.last(ORGANIZER)
    await h.feed(o.press(menu.message_id, _press_label(menu.reply_markup, "Invite an organizer")))
    assert h.api.last(ORGANIZER).text == "How many organizer invite links?"
    await h.feed(o.press(menu.message_id, _press_label(menu.reply_markup, "青山镇")))
    assert h.api.last(ORGANIZER).text == "青山镇: how many invite links?"


async def test_a_deadline_typed_as_a_date_alone_closes_at_the_end_of_that_day(harness):
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2026-12-20"))
    assert "2026-12-20 23:59" in h.api.last(ORGANIZER).text



async def test_the_deadline_is_asked_and_confirmed_in_the_configured_zone_which_is_named(harness):
    # the server may run in UTC: what the organizer types and reads is in TIMEZONE, and says so
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    assert "（北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-20 18:00"))
    assert "截止：2026-12-20 18:00（星期日，北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "创建并开始")))
    async with h.sessions() as s:
        c = (await s.execute(sa.select(Consultation))).scalars().one()
    assert c.closes_at.isoformat() == "2026-12-20T10:00:00+00:00"
    await h.feed(o.message(f"/deadline {c.id}"))
    assert "（北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-21 18:00"))
    assert "→ <b>2026-12-21 18:00</b>（星期一，北京时间）" in h.api.last(ORGANIZER).text

    h.settings.timezone = "UTC"  # another zone: named as the IANA database names it
    await h.feed(o.message("/cancel"))
    await h.feed(o.message(f"/deadline {c.id}"))
    assert "（UTC）" in h.api.last(ORGANIZER).text and "北京时间" not in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-21 18:00"))
    assert "2026-12-20 10:00 → <b>2026-12-21 18:00</b>（星期一，UTC）" in h.api.last(ORGANIZER).text



async def test_a_deadline_typed_as_12yue20ri_or_mingtian_is_read_against_todays_local_date(harness):
    h = harness
    h.clock.now = h.clock.now.replace(hour=17)  # 2026-12-01 17:00 UTC: already 12-02 01:00 in Beijing
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("12月20日18时"))
    assert "截止：2026-12-20 18:00（星期日，北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    cid, _ = await open_consultation(h)
    await h.feed(o.message(f"/deadline {cid} 明天"))
    assert "→ <b>2026-12-03 23:59</b>" in h.api.last(ORGANIZER).text

# --- /deadline ---------------------------------------------------------------------------------------


async def _closes(h, cid: int) -> str:
    from surveys.consultation import format_local

    async with h.sessions() as s:
        return format_local((await s.get(Consultation, cid)).closes_at, h.settings.timezone)


async def test_deadline_asks_shows_old_and_new_and_moves_it_for_everyone_once_confirmed(harness):
    h = harness
    cid, code = await open_consultation(h)  # closes 2026-12-11 10:00 local; the clock: 2026-12-01 10:00
    await h.feed(h.user(RESIDENT).message(f"/start {code}"))  # a welcome read before: cached in this process
    assert "2026-12-11 10:00" in h.api.last(RESIDENT).text
    o = h.user(ORGANIZER)
    await h.feed(o.message("/deadline"))  # the only candidate: asked at once
    ask = h.api.last(ORGANIZER).text
    assert "2026-12-11 10:00" in ask and "例如 2026-12-15 18:00" in ask
    await h.feed(o.message("2026-12-20"))  # a date alone: the end of that day, as /new reads it
    confirm = h.api.last(ORGANIZER)
    assert "2026-12-11 10:00 → <b>2026-12-20 23:59</b>" in confirm.text
    assert await _closes(h, cid) == "2026-12-11 10:00"  # nothing changes before the button
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认修改")))
    assert await _closes(h, cid) == "2026-12-20 23:59"
    assert "已从 2026-12-11 10:00 改为 2026-12-20 23:59" in h.api.last(ORGANIZER).text
    await h.feed(h.user(RESIDENT + 1).message(f"/start {code}"))  # the cached copy was dropped
    assert "2026-12-20 23:59" in h.api.last(RESIDENT + 1).text
    await h.feed(o.message(f"/stats {cid}"))
    assert "2026-12-20 23:59" in h.api.last(ORGANIZER).text
    # the whole change in one command, to an earlier deadline
    await h.feed(o.message(f"/deadline {cid} 2026-12-05 18:00"))
    confirm = h.api.last(ORGANIZER)
    assert "2026-12-20 23:59 → <b>2026-12-05 18:00</b>" in confirm.text
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认修改")))
    assert await _closes(h, cid) == "2026-12-05 18:00"


async def test_a_deadline_at_midnight_is_typed_and_shown_as_24_00_of_its_last_day(harness):
    """"/deadline 12月20日24时" was refused as 日期格式不对, and a midnight deadline was confirmed and
    shown as "2026-12-21 00:00", as though the 21st were still open; it is read, and written
    "2026-12-20 24:00" to the organizer and the residents alike."""
    h = harness
    cid, code = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 12月20日24时"))
    confirm = h.api.last(ORGANIZER)
    assert "2026-12-11 10:00 → <b>2026-12-20 24:00</b>" in confirm.text
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认修改")))
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).closes_at == datetime(2026, 12, 20, 16, 0, tzinfo=UTC)
    assert "改为 2026-12-20 24:00" in h.api.last(ORGANIZER).text
    await h.feed(h.user(RESIDENT).message(f"/start {code}"))
    assert "2026-12-20 24:00" in h.api.last(RESIDENT).text and "12-21" not in h.api.last(RESIDENT).text


async def test_a_deadline_on_a_day_that_does_not_exist_is_refused_naming_it_in_new_and_deadline(harness):
    """"2月30日" was answered 日期格式不对，请写成…, as though the form were wrong; the reply names the
    day that does not exist, changes nothing, and the next text is another try."""
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2月30日 18:00"))
    assert h.api.last(ORGANIZER).text == "没有2月30日这一天，请检查日期。"
    await h.feed(o.message("2月28日 18:00"))  # another try: next February's
    assert "截止：2027-02-28 18:00" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    cid, _ = await open_consultation(h)
    await h.feed(o.message(f"/deadline {cid} 2026-11-31"))
    assert h.api.last(ORGANIZER).text == "没有2026年11月31日这一天，请检查日期。"
    await h.feed(o.message("12月20日"))
    assert "→ <b>2026-12-20 23:59</b>" in h.api.last(ORGANIZER).text


async def test_a_past_deadline_in_new_is_refused_saying_which_time_was_read(harness):
    """"11月30日" typed on 12月1日 was answered only 截止时间必须在将来。, not which day the bot had
    taken it for (this year's, gone); the refusal names it."""
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("11月30日"))
    assert h.api.last(ORGANIZER).text == "截止时间 2026-11-30 23:59 已经过去，请写一个将来的时间。"
    h.settings.locale = "en"
    await h.feed(h.user(ORGANIZER, language_code="en").message("Nov 30 6pm"))
    assert h.api.last(ORGANIZER).text == "The deadline 2026-11-30 18:00 has already passed: please give one in the future."


async def test_a_deadline_over_a_year_away_is_confirmed_with_a_word_to_check_the_year(harness):
    """"2027-12-20" typed for 2026-12-20 (a consultation runs about two weeks) was confirmed as any
    other; the confirmation asks to check the year (a deadline a year away is still taken)."""
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2027-12-20 18:00"))
    confirm = h.api.last(ORGANIZER).text
    assert "截止：2027-12-20 18:00" in confirm and "（一年以上），请核对年份" in confirm
    await h.feed(o.message("/cancel"))
    cid, _ = await open_consultation(h)
    await h.feed(o.message(f"/deadline {cid} 2027-12-20"))
    assert "（一年以上），请核对年份" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    await h.feed(o.message(f"/deadline {cid} 2026-12-20"))
    assert "核对年份" not in h.api.last(ORGANIZER).text


async def test_deadline_in_the_past_before_the_start_or_unreadable_is_refused_and_asked_again(harness):
    h = harness
    cid, _ = await open_consultation(h, status=Status.DRAFT)
    async with h.sessions() as s:
        (await s.get(Consultation, cid)).opens_at = h.clock.now + timedelta(days=2)  # 2026-12-03 10:00 local
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2020-01-01 10:00"))
    assert h.api.last(ORGANIZER).text == "新的截止时间 2020-01-01 10:00 已经过去，请写一个将来的时间。"
    await h.feed(o.message("2026-12-02"))  # (the next text is another try)
    assert h.api.last(ORGANIZER).text == "新的截止时间必须晚于开始时间 2026-12-03 10:00。"
    await h.feed(o.message("过几天"))
    assert h.api.last(ORGANIZER).text.startswith("日期格式不对，请写成“2026-12-15 18:00”")
    await h.feed(o.message("2026-12-11 10:00"))
    assert "本来就是 2026-12-11 10:00" in h.api.last(ORGANIZER).text
    assert not any(buttons(c.reply_markup) for c in h.api.calls if c.chat_id == ORGANIZER)
    assert await _closes(h, cid) == "2026-12-11 10:00"


async def test_deadline_of_a_reported_consultation_is_refused_with_the_reason(harness):
    h = harness
    reported, _ = await open_consultation(h, township="绿水乡", status=Status.CLOSED)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, reported), Status.REPORTED, h.clock.now)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {reported}"))
    assert h.api.last(ORGANIZER).text == (f"征询 #{reported} 现在是“已反馈”状态，截止时间不能再改：修改后的清单已经发布，"
                                          "不能再延长或重新开始。")
    await h.feed(o.message(f"/deadline {reported} 2026-12-20 18:00"))
    assert h.api.last(ORGANIZER).text.startswith(f"征询 #{reported} 现在是“已反馈”状态，截止时间不能再改")
    await h.feed(o.message("2026-12-20 18:00"))  # no deadline prompt was left behind
    await h.feed(o.message("/deadline"))  # (a closed one would be offered: a reported one is not)
    assert h.api.last(ORGANIZER).text == "现在没有可以修改截止时间的征询。"
    assert not any(buttons(c.reply_markup) for c in h.api.calls if c.chat_id == ORGANIZER)
    async with h.sessions() as s:
        assert (await s.get(Consultation, reported)).status == Status.REPORTED.value
    assert await _closes(h, reported) == "2026-12-11 10:00"


async def test_a_reported_consultation_is_called_feedback_given_in_english(harness):
    """'reported' was the English status word: read beside /report and /myreports (a cadre's off-list
    reports) it said nothing of 已反馈 — the revised list and its feedback are out."""
    h = harness
    reported, _ = await open_consultation(h, township="绿水乡", status=Status.CLOSED)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, reported), Status.REPORTED, h.clock.now)
        await s.commit()
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message(f"/deadline {reported}"))
    assert h.api.last(ORGANIZER).text.startswith(f"Consultation #{reported} is “feedback given”: its deadline")
    await h.feed(o.message("/consultations"))
    listing = h.api.last(ORGANIZER).text
    assert "feedback given" in listing and "reported" not in listing


async def test_an_open_consultation_past_its_deadline_is_closing_and_keeps_it(harness):
    h = harness
    cid, _ = await open_consultation(h)
    h.clock.advance(days=10, minutes=1)  # its deadline passed, the scheduler has not closed it yet
    await h.feed(h.user(ORGANIZER).message(f"/deadline {cid} 2026-12-20 18:00"))
    assert h.api.last(ORGANIZER).text == f"征询 #{cid} 已于 2026-12-11 10:00 截止，正在结束，截止时间不能再改。"
    assert await _closes(h, cid) == "2026-12-11 10:00"


async def test_the_confirm_button_of_an_earlier_deadline_or_after_a_change_meanwhile_changes_nothing(harness):
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    first = h.api.last(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-25 18:00"))
    second = h.api.last(ORGANIZER)
    await h.feed(o.press(first.message_id, _press_label(first.reply_markup, "确认修改")))
    assert h.api.answers()[-1].text == "这个按钮已经失效了。"
    assert await _closes(h, cid) == "2026-12-11 10:00"
    await h.feed(o.press(1, DeadlineCB(c=cid, a="save", m="forged").pack()))  # a forged mark
    assert h.api.answers()[-1].text == "这个按钮已经失效了。"
    # the deadline changed elsewhere (the CLI) after the screen showed the old one
    async with h.sessions() as s:
        (await s.get(Consultation, cid)).closes_at = h.clock.now + timedelta(days=20)
        await s.commit()
    await h.feed(o.press(second.message_id, _press_label(second.reply_markup, "确认修改")))
    assert "刚刚已被改为 2026-12-21 10:00" in h.api.last(ORGANIZER).text
    assert await _closes(h, cid) == "2026-12-21 10:00"
    await h.feed(o.press(second.message_id, _press_label(second.reply_markup, "确认修改")))  # again: quietly nothing
    assert not h.api.answers()[-1].text and await _closes(h, cid) == "2026-12-21 10:00"
    # closed between the screen and the press
    await h.feed(o.message(f"/deadline {cid} 2026-12-25 18:00"))
    third = h.api.last(ORGANIZER)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, cid), Status.CLOSED, h.clock.now)
        await s.commit()
    await h.feed(o.press(third.message_id, _press_label(third.reply_markup, "确认修改")))
    # a move confirmed while it was open does not reopen it
    assert h.api.last(ORGANIZER).text == (f"征询 #{cid} 刚刚已经结束，这次没有修改。要延长截止时间并重新开始征询，"
                                          f"请重新发送 /deadline {cid}。")
    assert await _closes(h, cid) == "2026-12-21 10:00"
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value


async def test_a_double_tap_on_a_deadline_confirm_button_is_quiet_and_moves_it_once(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # CADRE: told of the move
    o = h.user(ORGANIZER)
    for label, new in (("确认修改", "2026-12-20 18:00"), ("并通知", "2026-12-22 18:00"), ("取消", "2026-12-25 18:00")):
        await h.feed(o.message(f"/deadline {cid} {new}"))
        confirm = h.api.last(ORGANIZER)
        data = _press_label(confirm.reply_markup, label)
        await h.feed(o.press(confirm.message_id, data))
        await wait_background()
        before = (await _closes(h, cid), len([c for c in h.api.calls if c.method != "answerCallbackQuery"]))
        await h.feed(o.press(confirm.message_id, data))  # the second tap of a double tap
        await wait_background()
        answer = h.api.answers()[-1]
        assert not answer.call.show_alert and not answer.text  # no "button expired" pop-up
        assert (await _closes(h, cid), len([c for c in h.api.calls if c.method != "answerCallbackQuery"])) == before
    assert await _closes(h, cid) == "2026-12-22 18:00"
    assert len([t for t in h.api.texts(CADRE) if "2026-12-22 18:00" in t]) == 1  # told once


async def test_a_double_tap_on_an_announcements_send_button_is_quiet_and_sends_once(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # CADRE: the one participant
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    await h.feed(o.message("征询还有三天截止。"))
    preview = h.api.last(ORGANIZER)
    send = _press_label(preview.reply_markup, "发送给")
    await h.feed(o.press(preview.message_id, send))
    await h.feed(o.press(preview.message_id, send))  # the second tap of a double tap
    await wait_background()
    answer = h.api.answers()[-1]
    assert not answer.call.show_alert and not answer.text
    assert h.api.texts(CADRE).count("征询还有三天截止。") == 1


async def _closed_at_its_deadline(h, township: str = "青山镇") -> tuple[int, str]:
    """A consultation the scheduler closed at its deadline (2026-12-11 10:00 local); the clock
    five minutes later: (id, link code)."""
    cid, code = await open_consultation(h, township=township)
    h.clock.advance(days=10, minutes=5)
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        await set_status(s, c, Status.CLOSED, h.clock.now)
        c.closed_at = c.closes_at
        await s.commit()
    return cid, code


async def _list_status(h, cid: int) -> str:
    from storage.consultations import links

    async with h.sessions() as s:
        return (await s.get(DutyListRow, (await links(s, cid))[0].list_id)).status


async def test_a_closed_consultation_is_extended_and_reopened_once_the_organizer_confirms_what_follows(harness):
    h = harness
    cid, code = await _closed_at_its_deadline(h)
    await h.feed(h.user(RESIDENT).message(f"/start {code}"))  # read closed: cached in this process
    assert "截止" in h.api.last(RESIDENT).text
    assert await _list_status(h, cid) == "consulted"
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/open {cid}"))  # /open cannot: it says where to go
    assert h.api.last(ORGANIZER).text.endswith(f"请发送 /deadline {cid}。")
    await h.feed(o.message("/deadline"))  # the closed one is the only candidate
    assert h.api.last(ORGANIZER).text == (
        f"征询 #{cid}《青山镇履职事项清单征求意见》已于 2026-12-11 10:00 结束。如要延长征询时间并重新开始，"
        "请发送新的截止时间（北京时间），例如 2026-12-25 18:00（只写日期表示当天 23:59）。")
    await h.feed(o.message("2026-12-20"))
    confirm = h.api.last(ORGANIZER)
    assert "截止时间：2026-12-11 10:00 → <b>2026-12-20 23:59</b>" in confirm.text
    for said in ("<b>延长并重新开始</b>", "群众可以再次填写问卷（没有答完的可以接着答）", "干部可以继续提意见",
                 "到 2026-12-20 23:59 自动结束，并重新生成一份最终报告发给组织者", "已经收到过感谢消息的人不会再收到",
                 "还没填完的群众和干部会在新的截止时间前再收到截止提醒"):
        assert said in confirm.text
    assert [label for label, _ in buttons(confirm.reply_markup)] == ["✅ 延长并重新开始", "✅ 延长、重新开始并通知干部",
                                                                     "取消"]
    async with h.sessions() as s:  # nothing changes before the button
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "延长并重新开始")))
    assert h.api.last(ORGANIZER).text == (
        f"征询 #{cid}《青山镇履职事项清单征求意见》已重新开始，截止时间由 2026-12-11 10:00 延长到 2026-12-20 23:59。"
        "到时会自动结束，并重新发送最终报告。")
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        assert (c.status, c.closed_at) == (Status.OPEN.value, None)
    assert await _closes(h, cid) == "2026-12-20 23:59"
    assert await _list_status(h, cid) == "consulting"  # under consultation again
    await h.feed(h.user(RESIDENT + 1).message(f"/start {code}"))  # the cached closed copy was dropped
    welcome = h.api.last(RESIDENT + 1)
    assert "2026-12-20 23:59" in welcome.text and buttons(welcome.reply_markup)


async def _published_since(h, township: str = "青山镇") -> None:
    """Another consultation of the township closed and published its revised list (a newer version)."""
    from storage.lists import find_list, save_list
    from storage.lists import set_status as set_list_status
    from surveys.duty_list import ListStatus

    async with h.sessions() as s:
        consulted = await find_list(s, township)
        other = await create_consultation(s, title="第二轮征求意见", questionnaire="", list_ids=[consulted.id],
                                          closes_at=h.clock.now + timedelta(days=1))
        for status in (Status.OPEN, Status.CLOSED, Status.REPORTED):
            await set_status(s, other, status, h.clock.now)
        revised = await save_list(s, township, [DutyItem(Part.BASIC, "修订后的事项", basis="法")])
        await set_list_status(s, revised.id, ListStatus.PUBLISHED)
        await s.commit()


async def test_reopening_a_consultation_whose_township_has_since_a_newer_published_list_is_refused(harness):
    from storage.consultations import set_deadline
    from surveys.consultation import DeadlineRefused

    h = harness
    cid, _ = await _closed_at_its_deadline(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))  # a confirmation shown before…
    confirm = h.api.last(ORGANIZER)
    await _published_since(h)  # …青山镇's revised list is published by another consultation
    refused = (f"征询 #{cid} 不能延长或重新开始：青山镇的清单已经通过其他征询发布了更新的版本，"
               "这次征询的清单已经过时。如需再次征求意见，请用新版本的清单发起新的征询（/new）。")
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "延长并重新开始")))
    assert h.api.last(ORGANIZER).text == refused
    for command in (f"/deadline {cid}", f"/deadline {cid} 2026-12-20 18:00"):
        await h.feed(o.message(command))
        assert h.api.last(ORGANIZER).text == refused, command
    await h.feed(o.message("2026-12-20 18:00"))  # no deadline prompt was left behind
    assert h.api.last(ORGANIZER).text != refused
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        assert (c.status, await _closes(h, cid)) == (Status.CLOSED.value, "2026-12-11 10:00")
        try:
            await set_deadline(s, c, h.clock.now + timedelta(days=5), h.clock.now, reopen=True)
        except DeadlineRefused as e:
            assert e.reason == "superseded"
            assert e.text("en", h.settings.timezone).startswith(f"Consultation #{cid} cannot be extended")
        else:
            raise AssertionError("reopened")
    assert await _list_status(h, cid) == "consulted"


async def test_a_stale_or_forged_reopen_button_or_one_pressed_after_a_change_meanwhile_reopens_nothing(harness):
    h = harness
    cid, _ = await _closed_at_its_deadline(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    first = h.api.last(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-22 18:00"))
    second = h.api.last(ORGANIZER)
    mark = DeadlineCB.unpack(_press_label(second.reply_markup, "延长并重新开始")).m
    await h.feed(o.press(first.message_id, _press_label(first.reply_markup, "延长并重新开始")))  # an earlier screen's
    await h.feed(o.press(1, DeadlineCB(c=cid, a="save", m="forged").pack()))
    await h.feed(o.press(second.message_id, DeadlineCB(c=cid + 1, a="save", m=mark).pack()))  # another consultation
    await h.feed(o.press(second.message_id, DeadlineCB(c=cid, a="reopen", m=mark).pack()))  # no such action
    assert [a.text for a in h.api.answers()] == ["这个按钮已经失效了。"] * 4
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
        # reported between the screen and the press (its revised list was published)
        await set_status(s, await s.get(Consultation, cid), Status.REPORTED, h.clock.now)
        await s.commit()
    await h.feed(o.press(second.message_id, _press_label(second.reply_markup, "延长并重新开始")))
    assert h.api.last(ORGANIZER).text.startswith(f"征询 #{cid} 现在是“已反馈”状态，截止时间不能再改")
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.REPORTED.value
    assert await _closes(h, cid) == "2026-12-11 10:00"
    # closed early, then opened again by another organizer (/open) between the screen and the press
    early, _ = await open_consultation(h, township="绿水乡", status=Status.CLOSED)  # closes 2026-12-21 10:05
    await h.feed(o.message(f"/deadline {early} 2026-12-25 18:00"))
    third = h.api.last(ORGANIZER)
    assert "延长并重新开始" in third.text
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, early), Status.OPEN, h.clock.now)
        await s.commit()
    await h.feed(o.press(third.message_id, _press_label(third.reply_markup, "延长并重新开始")))
    assert h.api.last(ORGANIZER).text.startswith(f"征询 #{early} 现在是“征询中”状态，已经不是“已结束”了，这次没有修改")
    assert await _closes(h, early) == "2026-12-21 10:05"
    # cancel: nothing
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, early), Status.CLOSED, h.clock.now)
        await s.commit()
    await h.feed(o.message(f"/deadline {early} 2026-12-25 18:00"))
    fourth = h.api.last(ORGANIZER)
    await h.feed(o.press(fourth.message_id, _press_label(fourth.reply_markup, "取消")))
    assert h.api.last(ORGANIZER).text == "截止时间没有修改。"
    async with h.sessions() as s:
        assert (await s.get(Consultation, early)).status == Status.CLOSED.value


async def test_reopened_with_tell_the_cadres_hear_it_is_open_again(harness):
    h = harness
    cid, _ = await _closed_at_its_deadline(h)
    async with h.sessions() as s:
        s.add(Person(id=CADRE, first_name="干部", role="cadre",
                     township_id=await s.scalar(sa.select(Township.id))))
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "通知干部")))
    await wait_background()
    assert h.api.texts(CADRE) == ["《青山镇履职事项清单征求意见》意见征询的截止时间延长至 <b>2026-12-20 18:00</b>，"
                                  "现已重新开始。对清单事项有意见的，请在截止前提出。"]


async def test_an_organizer_demoted_before_confirming_a_deadline_changes_nothing(harness):
    h = harness
    cid, _ = await open_consultation(h)
    invited = 900002
    async with h.sessions() as s:
        s.add(Person(id=invited, first_name="组织者", role="organizer"))
        await s.commit()
    o = h.user(invited)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(invited)
    async with h.sessions() as s:
        (await s.get(Person, invited)).role = "resident"
        await s.commit()
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认修改")))
    assert h.api.answers()[-1].text == "只有组织者可以使用这个功能。"
    assert await _closes(h, cid) == "2026-12-11 10:00"


async def test_an_organizer_demoted_with_a_form_left_open_is_not_held_in_it(harness):
    """An organizer demoted with an /announce (or any form of theirs) left half-done: their
    next text is refused once and the form dropped, so what they type afterwards — answers to a
    questionnaire they take part in — goes where it would for anybody, not to "organizers only"."""
    h = harness
    cid, code = await open_consultation(h)
    await _add_cadre(h)
    invited = 900002
    async with h.sessions() as s:
        s.add(Person(id=invited, first_name="组织者", role="organizer"))
        await s.commit()
    o = h.user(invited)
    await h.feed(o.message(f"/announce {cid}"))
    async with h.sessions() as s:
        (await s.get(Person, invited)).role = "resident"
        await s.commit()
    await h.feed(o.message("各位好"))
    assert h.api.last(invited).text.startswith("只有组织者可以使用这个功能。")
    await h.feed(o.message("你好"))
    assert h.api.last(invited).text.startswith("您现在没有进行中的问卷")
    await h.feed(o.message(f"/start {code}"))
    assert "青山镇" in h.api.last(invited).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 0


async def test_deadline_cancel_changes_nothing(harness):
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "取消")))
    assert h.api.last(ORGANIZER).text == "截止时间没有修改。"
    assert await _closes(h, cid) == "2026-12-11 10:00"


async def test_deadline_moved_with_tell_reaches_each_cadre_of_its_townships_once_in_their_language(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await open_consultation(h, township="绿水乡")
    async with h.sessions() as s:
        ours, other = (await s.scalars(sa.select(Township.id).order_by(Township.id))).all()
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=ours))
        s.add(Person(id=CADRE + 1, first_name="cadre", role="cadre", township_id=ours, language="en"))
        s.add(Person(id=CADRE + 2, first_name="别的乡", role="cadre", township_id=other))
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "通知干部")))
    await wait_background()
    assert h.api.texts(CADRE) == ["《青山镇履职事项清单征求意见》意见征询的截止时间由 2026-12-11 10:00 改为 "
                                  "<b>2026-12-20 18:00</b>。对清单事项有意见的，请在截止前提出。"]
    assert "moved from 2026-12-11 10:00 to <b>2026-12-20 18:00</b>" in h.api.texts(CADRE + 1)[0]
    assert h.api.texts(CADRE + 2) == []
    assert "成功 2" in h.api.last(ORGANIZER).text
    draft, _ = await open_consultation(h, township="白水镇", status=Status.DRAFT)
    await h.feed(o.message(f"/deadline {draft} 2026-12-20 18:00"))  # a draft's cadres have nothing to do yet
    assert "通知干部" not in str(buttons(h.api.last(ORGANIZER).reply_markup))


async def test_a_deadline_moved_back_to_one_told_before_is_told_again(harness):
    """11 → 20, 20 → 11, then 11 → 20 again: the cadres last heard 11, so the third move is news."""
    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=await s.scalar(sa.select(Township.id))))
        await s.commit()
    o = h.user(ORGANIZER)
    for new in ("2026-12-20 18:00", "2026-12-11 10:00", "2026-12-20 18:00"):
        await h.feed(o.message(f"/deadline {cid} {new}"))
        confirm = h.api.last(ORGANIZER)
        await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "通知干部")))
        await wait_background()
        assert "成功 1" in h.api.last(ORGANIZER).text
    told = h.api.texts(CADRE)
    assert len(told) == 3
    assert "由 2026-12-11 10:00 改为 <b>2026-12-20 18:00</b>" in told[2]


async def test_deadline_is_in_the_organizers_menu_and_help_in_both_languages(harness):
    from bot.app import set_person_commands

    h = harness
    await set_person_commands(h.bot, ORGANIZER, "organizer")
    menus = {c.call.language_code: {b.command: b.description for b in c.call.commands}
             for c in h.api.calls if c.method == "setMyCommands"}
    assert menus["zh"]["deadline"] == "修改截止时间" and menus["en"]["deadline"] == "Move a deadline"
    # an organizer's /start greets and says what they can do: there is no questionnaire to go on with
    assert "答题" not in menus["zh"]["start"] and "answer" not in menus["en"]["start"].lower()
    await h.feed(h.user(ORGANIZER).message("/help"))
    assert "/deadline 修改截止时间" in h.api.last(ORGANIZER).text
    await h.feed(h.user(ORGANIZER, language_code="en").message("/help"))
    assert "/deadline move the deadline" in h.api.last(ORGANIZER).text


async def test_the_organizers_help_says_how_to_move_or_stop_the_daily_digest(harness):
    h = harness
    await h.feed(h.user(ORGANIZER).message("/help"))
    assert "每日摘要改时间：/digest 编号 18；停发：/digest 编号 关闭" in h.api.last(ORGANIZER).text
    await h.feed(h.user(ORGANIZER, language_code="en").message("/help"))
    assert "/digest ID 18; stop it: /digest ID off" in h.api.last(ORGANIZER).text


async def test_pressing_the_filter_a_comment_card_shows_already_leaves_no_error(harness):
    # the card again, unchanged: Telegram refuses such an edit ("message is not modified"),
    # which raised out of the handler
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    h.api.clear()
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "尚未答复")))
    [answer] = h.api.answers()
    assert not answer.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部")))
    assert "这项应由县消防救援大队牵头" in h.api.last(ORGANIZER).text


async def test_a_nul_character_in_a_title_or_a_reply_is_dropped_and_the_rest_stored(harness):
    """PostgreSQL refuses NUL in text: a title and a reply typed with one are stored without it."""
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("两镇\x00意见征询"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "青山镇")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "完成")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "创建并开始")))
    async with h.sessions() as s:
        cid, title = (await s.execute(sa.select(Consultation.id, Consultation.title))).one()
    assert title == "两镇意见征询"
    comment_id = await _seed_comment(h, cid)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("已\x00调整"))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).reply == "已调整"


async def test_a_comment_card_and_an_invite_tapped_on_messages_too_old_to_edit_come_as_new_messages(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部"), old=True))
    again = h.api.last(ORGANIZER)
    assert again.method == "sendMessage" and "这项应由县消防救援大队牵头" in again.text
    await h.feed(o.message("/invite"))
    ask = h.api.last(ORGANIZER)
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇"), old=True))
    count = h.api.last(ORGANIZER)
    assert count.method == "sendMessage" and "要生成几个邀请链接" in count.text


async def test_a_deadline_confirmed_on_a_message_too_old_to_edit_moves_it_and_says_so_anew(harness):
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认修改"), old=True))
    assert await _closes(h, cid) == "2026-12-20 18:00"
    saved = h.api.last(ORGANIZER)
    assert saved.method == "sendMessage" and "已从 2026-12-11 10:00 改为 2026-12-20 18:00" in saved.text


async def test_a_filter_tapped_on_the_card_it_already_shows_is_no_error(harness):
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import EditMessageText

    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    h.api.fail_with["editMessageText"] = TelegramBadRequest(  # what Telegram says to the same text and buttons
        EditMessageText(text="x"), "Bad Request: message is not modified")
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "尚未答复")))
    assert h.api.answers()[-1].text is None  # answered, and nothing raised


async def test_a_sticker_or_a_photo_in_the_middle_of_new_or_announce_asks_for_what_the_step_needs_and_keeps_the_step(harness):
    from aiogram.types import PhotoSize, Sticker

    sticker = Sticker(file_id="s", file_unique_id="s", type="regular", width=1, height=1, is_animated=False,
                      is_video=False)
    photo = [PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)]
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.message(sticker=sticker))
    assert "默认问卷" in h.api.last(ORGANIZER).text  # the step's own question again
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER, "editMessageText").reply_markup, "默认")))
    await h.feed(o.message(photo=photo, caption="2026-12-20"))
    assert "需要发送文字" in h.api.last(ORGANIZER).text
    await h.feed(o.message("2026-12-20 18:00"))  # still at the deadline step
    confirm = h.api.last(ORGANIZER)
    assert "标题" in confirm.text and _press_label(confirm.reply_markup, "创建")
    await h.feed(o.message("好的"))
    assert "请点上面消息里的按钮" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))

    await h.feed(o.message("/new"))
    await h.feed(o.message(sticker=sticker))
    assert "需要发送文字" in h.api.last(ORGANIZER).text
    await h.feed(o.message("第二个标题"))
    assert "请选择参加征询的乡镇" in h.api.last(ORGANIZER).text
    await h.feed(o.message("青山镇"))  # a township's name typed: chosen, as its button would
    assert _press_label(h.api.last(ORGANIZER).reply_markup, "☑ 青山镇")
    assert await _statuses(h) == []


async def test_a_photo_sent_as_an_announcement_is_refused_and_nothing_is_sent(harness):
    from aiogram.types import PhotoSize

    h = harness
    await open_consultation(h)
    await _add_cadre(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/announce"))
    await h.feed(o.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)], caption="通知"))
    assert "需要发送文字" in h.api.last(ORGANIZER).text
    await h.feed(o.message("明天停水"))  # the step is kept: this is the announcement
    assert "预览" in h.api.last(ORGANIZER).text and "明天停水" in h.api.last(ORGANIZER).text


async def test_an_organizer_editing_the_title_sent_to_new_is_told_to_send_it_again(harness):
    h = harness
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    sent = o.message("青山镇意见征询")
    await h.feed(sent)
    await h.feed(o.edit(sent, "青山镇意见征询（第二轮）"))
    said = h.api.last(ORGANIZER).text
    assert "不会改变已保存的内容" in said and "重新发送" in said and "问卷" not in said  # nothing about questionnaires


async def test_stats_and_the_list_show_when_a_consultation_closed_early_and_the_deadline_it_had(harness):
    """Closed two days into a ten-day window: the workbook and the 反馈情况说明 say it ended then;
    /stats and /consultations said it closes at the deadline it never reached."""
    h = harness
    cid, _ = await open_consultation(h)  # 2026-12-01 10:00 Beijing, closing 2026-12-11 10:00
    h.clock.advance(days=2)
    o = h.user(ORGANIZER)
    await close_early(h, str(cid))
    await h.feed(o.message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert "2026-12-03 10:00 提前结束" in text and "原定 2026-12-11 10:00 截止" in text, text
    await h.feed(o.message("/consultations"))  # (a line each: the deadline it had is left to /stats)
    text = h.api.last(ORGANIZER).text
    assert "2026-12-03 10:00 提前结束" in text and "2026-12-11" not in text, text
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert "closed early on 2026-12-03 10:00" in text and "deadline was 2026-12-11 10:00" in text, text


async def test_consultations_lists_thirty_long_titles_closed_early_in_one_message_in_english(harness):
    from bot.limits import visible_units

    h = harness
    await _thirty_longest_titles(h, "x", closed_early=True)
    await h.feed(h.user(ORGANIZER, language_code="en").message("/consultations"))
    text = h.api.last(ORGANIZER).text
    assert visible_units(text) <= 4096 and "…" not in text[-5:]
    assert all(f"{n:02d}x" in text for n in range(30)) and text.count("ended early on") == 30


async def test_stats_of_an_open_consultation_still_show_its_deadline(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    assert "截止 2026-12-11 10:00" in h.api.last(ORGANIZER).text


async def test_stats_list_comment_types_in_the_menus_order(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _seed_comment(h, cid)  # to_cooperating
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Person.township_id).where(Person.id == CADRE))
        items = (await s.scalars(sa.select(sa.text("id")).select_from(sa.text("duty_item")))).all()
        for item_id, kind in zip(items[1:], ("other", "basis", "wording"), strict=False):
            await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                            township_id=township, kind=kind, text="意见", now=h.clock.now)
        await s.commit()
    await _seed_missing(h, cid, "我们实际承担河道巡查")
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    kinds = ["应调整为配合履职事项", "依据缺失或有误", "表述不清", "其他", "遗漏事项"]
    assert [text.index(f"  {k}：") for k in kinds] == sorted(text.index(f"  {k}：") for k in kinds), text
# --- one township, one list version consulted at a time (QA pass 2026-11-27) -------------------------


async def test_reopening_is_refused_while_another_consultation_of_the_township_is_open_on_a_newer_draft(harness):
    h = harness
    cid, _ = await _closed_at_its_deadline(h)  # 青山镇, version 1
    newer, _ = await open_consultation(h)  # 青山镇's new draft, version 2, consulted now
    o = h.user(ORGANIZER)
    refused = (f"征询 #{cid} 不能延长或重新开始，因为：\n"
               f"· 征询 #{newer}“青山镇履职事项清单征求意见”正在就青山镇的第 2 版征求意见，这次征询用的是第 1 版\n"
               f"同一个乡镇同一时间只能就一个版本的清单征求意见：请等征询 #{newer} 结束，或先结束它，再延长这次征询。\n"
               "没有做任何修改。")
    for command in (f"/deadline {cid}", f"/deadline {cid} 2026-12-20 18:00"):
        await h.feed(o.message(command))
        assert h.api.last(ORGANIZER).text == refused, command
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
    assert await _list_status(h, cid) == "consulted"
    # the other one closed: the first can be extended and reopened again
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, newer), Status.CLOSED, h.clock.now)
        await s.commit()
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    # …but a consultation on the newer draft opened between the screen and the press still stops it
    third, _ = await open_consultation(h)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "延长并重新开始")))
    assert h.api.last(ORGANIZER).text.startswith(f"征询 #{cid} 不能延长或重新开始，因为：\n· 征询 #{third}")
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
    assert await _closes(h, cid) == "2026-12-11 10:00"


async def test_open_is_refused_while_another_consultation_of_the_township_is_open_on_another_version(harness):
    h = harness
    first, _ = await open_consultation(h)  # 青山镇, version 1, open
    draft, _ = await open_consultation(h, status=Status.DRAFT)  # version 2
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.message("/language en"))
    await h.feed(o.message(f"/open {draft}"))
    text = h.api.last(ORGANIZER).text
    assert text.startswith(f"Consultation #{draft} was not opened:\n· consultation #{first} “青山镇履职事项清单征求意见” "
                           "is consulting on version 1 of the list of 青山镇; this one is on version 2"), text
    assert text.endswith("Nothing changed.")
    async with h.sessions() as s:
        assert (await s.get(Consultation, draft)).status == Status.DRAFT.value
        # a second consultation on the version the open one consults opens (one for cadres, one for residents…)
        from storage.lists import find_list

        same = await create_consultation(s, title="同一版本", questionnaire="", closes_at=h.clock.now + timedelta(days=3),
                                         list_ids=[(await find_list(s, "青山镇", "1")).id])
        await s.commit()
    await h.feed(o.message(f"/open {same.id}"))
    async with h.sessions() as s:
        assert (await s.get(Consultation, same.id)).status == Status.OPEN.value


async def test_opening_a_draft_whose_township_has_since_a_newer_published_list_is_refused(harness):
    h = harness
    draft, _ = await open_consultation(h, status=Status.DRAFT)
    await _published_since(h)
    await h.feed(h.user(ORGANIZER).message(f"/open {draft}"))
    assert h.api.last(ORGANIZER).text == (
        f"征询 #{draft} 没有开始，因为：\n· 青山镇已经发布了更新的第 2 版清单，这次征询用的第 1 版已经过时："
        "请用最新版本新建征询（/new）\n没有做任何修改。")
    async with h.sessions() as s:
        assert (await s.get(Consultation, draft)).status == Status.DRAFT.value


async def test_new_create_and_open_is_refused_while_the_township_is_consulted_on_another_version(harness):
    from storage.lists import save_list

    h = harness
    first, _ = await open_consultation(h)  # 青山镇, version 1, open
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS[:3])  # version 2, the newest: what /new consults on
        await s.commit()
    o = h.user(ORGANIZER)
    await _new_until_confirm(h, o, "第二版征询", "2026-12-20 18:00")
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "创建并开始")))
    assert h.api.last(ORGANIZER).text == (
        "这次征询不能马上开始，因为：\n"
        f"· 征询 #{first}“青山镇履职事项清单征求意见”正在就青山镇的第 1 版征求意见，这次征询用的是第 2 版\n"
        f"同一个乡镇同一时间只能就一个版本的清单征求意见：可以先“保存为草稿”，等征询 #{first} 结束后再用 /open 开始。")
    assert not [c for c in h.api.calls if c.method == "sendPhoto"]
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Consultation)) == 1
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "保存为草稿")))
    async with h.sessions() as s:
        statuses = (await s.scalars(sa.select(Consultation.status).order_by(Consultation.id))).all()
    assert statuses == ["open", "draft"]


async def test_open_does_not_reopen_one_closed_early_whose_township_has_since_a_newer_published_list(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await close_early(h, str(cid))  # closed early, its deadline still ahead
    await _published_since(h)
    await h.feed(h.user(ORGANIZER).message(f"/open {cid}"))
    assert h.api.last(ORGANIZER).text.startswith(
        f"征询 #{cid} 不能延长或重新开始，因为：\n· 青山镇已经发布了更新的第 2 版清单，这次征询用的第 1 版已经过时")
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
    assert await _list_status(h, cid) == "consulted"
SAMPLE_DRAFT = (Path(__file__).resolve().parents[2] / "surveys" / "samples" / "sample_draft.xlsx").read_bytes()
SAMPLE_XLS = (Path(__file__).resolve().parents[1] / "surveys" / "xls" / "sample_draft.xls").read_bytes()  # the same, .xls


def _broken_sample() -> bytes:
    """The sample draft with an item's name cleared (基本 sheet, row 5): an error."""
    import io

    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(SAMPLE_DRAFT))
    wb.worksheets[0]["C5"] = None
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def _send_list(h, o, content: bytes, name: str, caption: str | None = None) -> None:
    import io

    from aiogram.types import Document

    async def fake_download(file, destination=None, **kw):
        destination = io.BytesIO() if destination is None else destination
        destination.write(content)
        destination.seek(0)
        return destination

    h.bot.download = fake_download
    await h.feed(o.message(document=Document(file_id=name, file_unique_id=name, file_name=name,
                                             file_size=len(content)), caption=caption))


async def _stored_lists(h) -> list[tuple[str, str, int]]:
    async with h.sessions() as s:
        rows = (await s.execute(sa.select(Township.name, DutyListRow.version, sa.func.count(DutyItemRow.id))
                                .join(DutyListRow, DutyListRow.township_id == Township.id)
                                .join(DutyItemRow, DutyItemRow.list_id == DutyListRow.id)
                                .group_by(Township.name, DutyListRow.version))).all()
        return [tuple(r) for r in rows]


async def test_an_organizer_imports_a_draft_by_sending_it_fixing_what_the_check_names_first(harness):
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, _broken_sample(), "草稿.xlsx")
    said = h.api.last(ORGANIZER).text
    assert "第 5 行" in said and "事项名称为空" in said and "没有导入" in said
    assert await _stored_lists(h) == []
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")  # fixed
    ask = h.api.last(ORGANIZER)
    assert "共 112 项" in ask.text and "哪个乡镇" in ask.text
    assert await _stored_lists(h) == []
    await h.feed(o.message("青山镇"))  # a township not known yet: made once confirmed
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    assert "已导入" in h.api.last(ORGANIZER).text and "/new" in h.api.last(ORGANIZER).text
    assert await _stored_lists(h) == [("青山镇", "1", 112)]
    # a second version for the same township: its button
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")
    first_ask = h.api.last(ORGANIZER)
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")  # sent again: this one is asked about
    ask = h.api.last(ORGANIZER)
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇")))
    assert "第 2 版" in h.api.last(ORGANIZER).text
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇")))  # a double tap: nothing more
    assert not h.api.answers()[-1].call.show_alert and "第 2 版" in h.api.last(ORGANIZER).text
    await h.feed(o.press(first_ask.message_id, _press_label(first_ask.reply_markup, "青山镇")))  # an older file's
    assert h.api.answers()[-1].call.show_alert
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 112), ("青山镇", "2", 112)]
    await h.feed(o.message("/new"))
    await h.feed(o.message("青山镇意见征询"))
    assert _press_label(h.api.last(ORGANIZER).reply_markup, "青山镇（第 2 版）")


async def test_a_draft_sent_then_cancelled_or_from_a_non_organizer_stores_nothing(harness):
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("/cancel"))
    await h.feed(o.message("青山镇"))  # no longer a township's name
    resident = h.user(RESIDENT)
    await _send_list(h, resident, SAMPLE_DRAFT, "草稿.xlsx")
    assert "组织者" not in h.api.last(RESIDENT).text and "哪个乡镇" not in h.api.last(RESIDENT).text
    await h.feed(resident.message("青山镇"))
    assert await _stored_lists(h) == []


async def test_a_draft_with_hundreds_of_long_problems_is_answered_in_one_message_naming_the_rest(harness):
    h = harness
    o = h.user(ORGANIZER)
    long_name = "很长的事项名称" * 60
    rows = "".join(f"配合,{n},平安法治,{long_name}{n},《消防法》,\n" for n in range(1, 301))
    await _send_list(h, o, ("部分,序号,领域,事项名称,依据,对应上级部门\n" + rows).encode("utf-8-sig"), "草稿.csv")
    said = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendMessage"]
    assert len(said) == 1
    assert "300 个错误" in said[0].text and "另有" in said[0].text and "没有导入" in said[0].text
    assert await _stored_lists(h) == []


async def test_an_organizer_publishes_the_revised_list_in_the_chat_and_the_townships_people_are_told(harness):
    from storage.models import DutyListRow

    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("青山镇"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    await _new_until_confirm(h, o, "青山镇意见征询", "2026-12-20 18:00")
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "创建并开始")))
    async with h.sessions() as s:
        s.add(Person(id=CADRE, first_name="干部", role="cadre",
                     township_id=(await s.scalars(sa.select(Township.id))).one()))
        await s.commit()
    await h.feed(o.message("/publish"))
    assert "/close" in h.api.last(ORGANIZER).text  # still open: to be closed first
    await close_early(h)
    await h.feed(o.message("/publish"))
    said = h.api.last(ORGANIZER)
    assert "青山镇" in said.text and "还没有导入修改后的清单" in said.text and buttons(said.reply_markup) == []
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")
    await h.feed(o.press(h.api.last(ORGANIZER).message_id,
                         _press_label(h.api.last(ORGANIZER).reply_markup, "青山镇")))
    await h.feed(o.message("/publish"))
    said = h.api.last(ORGANIZER)
    assert "第 1 版" in said.text and "第 2 版" in said.text
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))
    confirm = h.api.last(ORGANIZER)
    assert "发展党员和党员教育管理服务" in confirm.text and "1 人" in confirm.text
    assert h.api.texts(CADRE) == [] and await _statuses(h) == ["closed"]
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))  # a double tap
    await wait_background()
    assert len([t for t in h.api.texts(ORGANIZER) if "正在发布" in t]) == 1
    assert len([t for t in h.api.texts(ORGANIZER) if "已发布青山镇的新清单" in t]) == 1
    [told] = h.api.texts(CADRE)
    assert "已修改并公布" in told and "发展党员和党员教育管理服务" in told
    assert "已发布" in h.api.last(ORGANIZER).text and await _statuses(h) == ["reported"]
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(DutyListRow.status).order_by(DutyListRow.id))).all()[-1] == "published"
    await h.feed(o.message("/publish"))
    said = h.api.last(ORGANIZER)
    assert "第 2 版已发布" in said.text
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))  # again: nobody twice
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))
    await wait_background()
    assert len(h.api.texts(CADRE)) == 1 and len([t for t in h.api.texts(ORGANIZER) if "已发布青山镇的新清单" in t]) == 2


async def test_a_forged_publish_press_for_a_version_older_than_the_consulted_one_publishes_nothing(harness):
    from bot.routers.organizer import PublishCB

    h = harness
    async with h.sessions() as s:
        from storage.lists import save_list

        older = await save_list(s, "青山镇", ITEMS)
        await s.commit()
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    o = h.user(ORGANIZER)
    await h.feed(o.press(1, PublishCB(c=cid, l=older.id, ok=True).pack()))
    assert h.api.answers()[-1].call.show_alert
    assert await _statuses(h) == ["closed"]


async def test_a_confirmation_whose_list_was_deleted_does_not_publish_another_list_given_the_same_id(harness):
    """SQLite gives a deleted draft's id to the next list stored: the old 确认发布 showed the
    deleted one's changes and must not publish the other."""
    from storage.lists import delete_list, save_list

    h = harness
    if not h.settings.is_sqlite:
        pytest.skip("PostgreSQL's sequences never give a deleted id again")
    await open_consultation(h, status=Status.CLOSED)
    async with h.sessions() as s:
        wrong = await save_list(s, "青山镇", ITEMS[:1])
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/publish"))
    said = h.api.last(ORGANIZER)
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))
    confirm = h.api.last(ORGANIZER)
    async with h.sessions() as s:
        await delete_list(s, await s.get(DutyListRow, wrong.id))
        await s.commit()
    async with h.sessions() as s:
        other = await save_list(s, "青山镇", ITEMS[1:])
        await s.commit()
    assert other.id == wrong.id  # (what makes the old button dangerous)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))
    await wait_background()
    assert h.api.answers()[-1].call.show_alert
    assert await _statuses(h) == ["closed"]
    async with h.sessions() as s:
        assert (await s.get(DutyListRow, other.id)).status == "draft"


async def test_publishing_in_the_chat_is_refused_while_another_consultation_still_consults_the_older_list(harness):
    """The chat's /publish checks what `qingdan lists publish` checks (bot.scheduler.publish_refusal):
    here another consultation of the township is still open on the version consulted."""
    from bot.routers.organizer import PublishCB
    from storage.lists import save_list
    from storage.models import DutyListRow

    h = harness
    async with h.sessions() as s:
        consulted = await save_list(s, "青山镇", ITEMS)
        a = await create_consultation(s, title="第一轮", questionnaire=None, closes_at=h.clock.now + timedelta(days=10),
                                      list_ids=[consulted.id])
        b = await create_consultation(s, title="第二轮", questionnaire=None, closes_at=h.clock.now + timedelta(days=10),
                                      list_ids=[consulted.id])
        for c, final in ((a, Status.CLOSED), (b, Status.OPEN)):
            await set_status(s, c, Status.OPEN, h.clock.now)
            if final == Status.CLOSED:
                await set_status(s, c, Status.CLOSED, h.clock.now)
        revised = await save_list(s, "青山镇", ITEMS[:-1])
        await s.commit()
        a_id, b_id, revised_id = a.id, b.id, revised.id
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/publish {a_id}"))
    said = h.api.last(ORGANIZER)
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))
    refused = h.api.last(ORGANIZER).text
    assert f"#{b_id}" in refused and "第二轮" in refused and not buttons(h.api.last(ORGANIZER).reply_markup)
    await h.feed(o.press(said.message_id, PublishCB(c=a_id, l=revised_id, ok=True, m="x").pack()))  # forged confirm
    await wait_background()
    assert h.api.last(ORGANIZER).text == refused
    assert sorted(await _statuses(h)) == ["closed", "open"]
    async with h.sessions() as s:
        assert (await s.get(DutyListRow, revised_id)).status != "published"


async def test_closing_promises_the_feedback_report_from_export_only_while_the_consultation_stays_closed(harness):
    """The close message said /export gives the draft 反馈情况说明 "at any time" (随时): reopened
    (its deadline extended), the consultation's /export sends the workbook alone."""
    h = harness
    cid, _ = await open_consultation(h)
    for language, promise in (("en", f"unless the consultation is reopened, /export {cid} gives the results "
                                     "workbook, the charts and the draft feedback report"),
                              ("zh-hans", f"此后只要征询没有重新开始，发送 /export {cid} 都可以获取")):
        if language == "en":
            await close_early(h, str(cid), language_code=language)
        else:
            async with h.sessions() as s:
                await set_status(s, await s.get(Consultation, cid), Status.OPEN, h.clock.now)
                await s.commit()
            await close_early(h, str(cid), language_code=language)
        said = h.api.last(ORGANIZER).text
        assert promise in said and "any time" not in said and "随时" not in said, said
    h.api.clear()
    await h.feed(h.user(ORGANIZER).message(f"/export {cid}"))
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER].count("sendDocument") == 2
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, cid), Status.OPEN, h.clock.now)
        await s.commit()
    h.api.clear()
    await h.feed(h.user(ORGANIZER).message(f"/export {cid}"))
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER].count("sendDocument") == 1


async def test_cancel_at_the_deadline_prompt_says_nothing_changed_not_that_a_typed_text_was_lost(harness):
    """/deadline ID then /cancel said 已取消，刚才填写的内容没有保存 with nothing typed."""
    h = harness
    cid, _ = await open_consultation(h)
    before = await _closes(h, cid)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid}"))
    await h.feed(o.message("/cancel"))
    assert h.api.last(ORGANIZER).text == "已取消，没有做任何更改。"
    await h.feed(o.message(f"/deadline {cid}"))
    await h.feed(o.message("明年某天"))  # refused: the prompt stays
    await h.feed(h.user(ORGANIZER, language_code="en").message("/cancel"))
    assert h.api.last(ORGANIZER).text == "Cancelled; nothing was changed."
    assert await _closes(h, cid) == before


async def test_closing_tells_the_organizer_where_the_results_are_and_how_to_publish(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await close_early(h, str(cid))
    said = h.api.last(ORGANIZER).text
    assert "已结束" in said and f"/export {cid}" in said and f"/publish {cid}" in said


async def test_a_draft_the_importer_cannot_read_is_answered_without_counts_of_nothing(harness):
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 100, "草稿.xls")
    said = h.api.last(ORGANIZER).text
    assert ".xlsx" in said and "没有导入" in said and "共 0 项" not in said


async def test_an_old_xls_draft_sent_in_the_chat_is_imported_as_its_xlsx_and_as_the_cli_reads_it(harness, tmp_path):
    """An .xls draft was answered 这是旧版 Excel 97–2003 工作簿（.xls），无法直接读取 and imported
    nothing: it is read now, in the chat as by `qingdan lists lint/import`, giving the items of the
    same draft as .xlsx; a damaged one is told so in both and imports nothing."""
    import json

    from typer.testing import CliRunner

    from bot.cli import app

    xls = SAMPLE_XLS
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, xls[: len(xls) // 2], "草稿.xls")
    said = h.api.last(ORGANIZER).text
    assert "已损坏或不完整" in said and "没有导入" in said
    assert await _stored_lists(h) == []
    await _send_list(h, o, xls, "草稿.xls")
    ask = h.api.last(ORGANIZER)
    assert "共 112 项" in ask.text and "哪个乡镇" in ask.text, ask.text
    await h.feed(o.message("青山镇"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    assert "已导入" in h.api.last(ORGANIZER).text
    assert await _stored_lists(h) == [("青山镇", "1", 112)]
    (tmp_path / "草稿.xls").write_bytes(xls)
    cli = CliRunner().invoke(app, ["lists", "lint", str(tmp_path / "草稿.xls"), "--json"], env={"LOCALE": "zh_CN"})
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["items"] == {"basic": 46, "cooperating": 35, "withdrawn": 31}
    (tmp_path / "坏.xls").write_bytes(xls[: len(xls) // 2])
    cli = CliRunner().invoke(app, ["lists", "lint", str(tmp_path / "坏.xls")], env={"LOCALE": "zh_CN"})
    assert cli.exit_code == 2 and "已损坏或不完整" in cli.output, cli.output


async def test_a_wps_et_draft_sent_in_the_chat_gets_the_same_answer_as_the_cli(harness, tmp_path):
    """A .et file (WPS 表格's own format) was called an old Excel file in the chat as in the CLI: both
    now say it is WPS's format and how to save it as .xlsx, and import nothing."""
    from typer.testing import CliRunner

    from bot.cli import app

    h = harness
    o = h.user(ORGANIZER)
    et = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    await _send_list(h, o, et, "草稿.et")
    said = h.api.last(ORGANIZER).text
    assert "WPS 表格自己的格式（.et）" in said and "没有导入" in said and "共 0 项" not in said
    (tmp_path / "草稿.et").write_bytes(et)
    cli = CliRunner().invoke(app, ["lists", "lint", str(tmp_path / "草稿.et")], env={"LOCALE": "zh_CN"})
    assert cli.exit_code == 2 and "WPS 表格自己的格式（.et）" in cli.output, cli.output


async def test_a_large_draft_with_a_column_empty_throughout_is_answered_with_the_true_totals(harness):
    """The lint's problems are now capped at 200 of a kind as the import's are (one line says how many
    more): the chat still counts every problem found, not the summary line as one."""
    h = harness
    o = h.user(ORGANIZER)
    lines = ["序号,事项名称,履职依据"] + [f"{i},事项{i % 5000}," for i in range(1, 10001)]
    await _send_list(h, o, "\n".join(lines).encode("gbk"), "基本履职事项.csv")
    said = h.api.last(ORGANIZER).text
    assert "检查发现 5000 个错误、10000 个提示" in said and "没有导入" in said, said


async def test_a_draft_with_warnings_only_says_they_do_not_stop_the_import(harness):
    import io

    import openpyxl

    h = harness
    o = h.user(ORGANIZER)
    wb = openpyxl.load_workbook(io.BytesIO(SAMPLE_DRAFT))
    wb.worksheets[0]["E6"] = None  # a basic item without its basis: a warning
    out = io.BytesIO()
    wb.save(out)
    await _send_list(h, o, out.getvalue(), "草稿.xlsx")
    said = h.api.last(ORGANIZER).text
    assert "0 个错误、1 个提示" in said and "第 6 行" in said and "不影响导入" in said
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    assert "不影响导入" not in h.api.last(ORGANIZER).text


async def test_an_organizers_first_start_says_where_to_begin_not_to_find_a_township_link(harness):
    h = harness
    await h.feed(h.user(ORGANIZER).message("/start"))
    said = h.api.last(ORGANIZER).text
    assert "二维码参加" not in said and "清单草稿" in said and "/new" in said and "/help" in said


async def test_a_double_tap_on_new_consultations_create_button_is_quiet_and_creates_one(harness):
    h = harness
    for label in ("创建并开始", "保存为草稿", "取消"):
        o, screen = await _new_at_questionnaire(h)
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
        await h.feed(o.message("2026-12-20 18:00"))
        confirm = h.api.last(ORGANIZER)
        data = _press_label(confirm.reply_markup, label)
        await h.feed(o.press(confirm.message_id, data))
        before = (await _statuses(h), len([c for c in h.api.calls if c.method != "answerCallbackQuery"]))
        await h.feed(o.press(confirm.message_id, data))  # the second tap of a double tap
        answer = h.api.answers()[-1]
        assert not answer.call.show_alert and not answer.text, label  # no "button expired" pop-up
        assert (await _statuses(h), len([c for c in h.api.calls if c.method != "answerCallbackQuery"])) == before
    assert await _statuses(h) == ["open", "draft"]


async def test_a_decision_tapped_by_mistake_can_be_taken_back_with_cancel_as_its_prompt_says(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    assert "/cancel" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    await h.feed(o.message("算了"))  # no longer an answer
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision is None and not c.reply and c.replied_at is None
    assert h.api.texts(CADRE) == []


async def test_new_without_any_list_ends_there_and_the_draft_it_asks_for_can_be_sent(harness):
    h = harness
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    assert "还没有导入任何清单" in h.api.last(ORGANIZER).text  # before a title is asked for nothing
    await h.feed(o.message("青山镇意见征询"))  # no step waiting for a title, nor for buttons that are not there
    assert "请选择参加征询的乡镇" not in h.api.last(ORGANIZER).text
    assert "请点上面消息里的按钮" not in h.api.last(ORGANIZER).text
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    assert "哪个乡镇" in h.api.last(ORGANIZER).text


def _revised_sample() -> bytes:
    """The sample draft revised after the consultation: its first basic item renamed."""
    import io

    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(SAMPLE_DRAFT))
    wb.worksheets[0]["C3"] = "发展党员和党员教育管理服务"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_not_adopted_and_partly_adopted_need_a_reason_which_the_feedback_report_then_gives(harness):
    from bot.scheduler import feedback_for

    h = harness
    cid, _ = await open_consultation(h)
    comment_id = await _seed_comment(h, cid)
    o = h.user(ORGANIZER)
    for label in ("部分采纳", "不采纳"):
        await h.feed(o.message("/comments"))
        card = h.api.last(ORGANIZER)
        await h.feed(o.press(card.message_id, _press_label(card.reply_markup, label)))
        prompt = h.api.last(ORGANIZER)
        assert "理由" in prompt.text and "/cancel" in prompt.text
        assert not any("不写答复" in text for text, _ in buttons(prompt.reply_markup))  # no way round the reason
        await h.feed(o.message("   "))  # an empty reason is no reason
        assert "理由" in h.api.last(ORGANIZER).text and "不写答复" not in h.api.last(ORGANIZER).text
        await h.feed(o.message("/cancel"))
        async with h.sessions() as s:
            assert (await s.get(Comment, comment_id)).decision is None
    # the "no reply" button of a prompt for 不采纳 (one sent before this change) records nothing either
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, DecideCB(k=comment_id, d="noreply", a="rejected").pack()))
    assert "理由" in (h.api.answers()[-1].text or "")
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).decision is None
    assert h.api.texts(CADRE) == []
    await h.feed(o.message("消防属于县级职责，乡镇只负责发现报告"))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "rejected" and c.reply == "消防属于县级职责，乡镇只负责发现报告"
        content, _ = await feedback_for(s, h.settings, cid, "zh_CN")
    report = content.decode()
    assert "不采纳" in report and "消防属于县级职责，乡镇只负责发现报告" in report


async def test_adopted_may_still_be_saved_without_a_reply(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt = h.api.last(ORGANIZER)
    await h.feed(o.press(prompt.message_id, _press_label(prompt.reply_markup, "不写答复")))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == ""
    assert len(h.api.texts(CADRE)) == 1


async def test_changing_a_decision_keeps_the_earlier_reply_unless_the_organizer_clears_it(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "部分采纳")))
    await h.feed(o.message("已调整为配合事项"))
    # the decision changed to 采纳 without a new text: the earlier reply stays
    await h.feed(o.message("/comments"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt = h.api.last(ORGANIZER)
    assert "保留原答复" in prompt.text and "清除原答复" in prompt.text
    await h.feed(o.press(prompt.message_id, _press_label(prompt.reply_markup, "保留原答复")))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == "已调整为配合事项"
    assert "已调整为配合事项" in h.api.texts(CADRE)[-1]
    # 不采纳 may keep it too, as its reason
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    prompt = h.api.last(ORGANIZER)
    assert not any("清除原答复" in text for text, _ in buttons(prompt.reply_markup))
    await h.feed(o.press(prompt.message_id, _press_label(prompt.reply_markup, "保留原答复")))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "rejected" and c.reply == "已调整为配合事项"
    # only the explicit button clears it
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    prompt = h.api.last(ORGANIZER)
    await h.feed(o.press(prompt.message_id, _press_label(prompt.reply_markup, "清除原答复")))
    async with h.sessions() as s:
        c = await s.get(Comment, comment_id)
        assert c.decision == "adopted" and c.reply == ""


async def test_each_change_of_a_decision_is_told_to_the_cadre_even_within_one_second(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("已按意见修改"))
    card = h.api.last(ORGANIZER)  # the clock has not moved: the same second
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.message("经复核，保持原清单"))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).decision == "rejected"
    to_cadre = h.api.texts(CADRE)
    assert len(to_cadre) == 2 and "已按意见修改" in to_cadre[0] and "经复核，保持原清单" in to_cadre[1]


async def test_consultations_say_which_list_version_each_township_is_consulted_on(harness):
    from bot.limits import visible_units
    from storage.consultations import create_consultation
    from storage.lists import save_list

    h = harness
    await open_consultation(h)  # 青山镇, version 1
    async with h.sessions() as s:
        second = await save_list(s, "青山镇", ITEMS)  # version 2
        other = await save_list(s, "白水镇", ITEMS)
        await create_consultation(s, title="第二轮", questionnaire="x", closes_at=h.clock.now + timedelta(days=10),
                                  list_ids=[second.id, other.id])
        await s.commit()
    await h.feed(h.user(ORGANIZER).message("/consultations"))
    text = h.api.last(ORGANIZER).text
    first_line, second_line = text.split("#2")
    assert "青山镇（第 1 版）" in first_line
    assert "青山镇（第 2 版）" in second_line and "白水镇（第 1 版）" in second_line
    # thirty long titles on ten townships each still fit one message
    async with h.sessions() as s:
        rows = [await save_list(s, f"乡镇{n:02d}" + "名" * 40, ITEMS, version="v" * 50) for n in range(10)]
        for n in range(30):
            await create_consultation(s, title=f"{n:02d}" + "长" * 298, questionnaire="x",
                                      closes_at=h.clock.now + timedelta(days=10), list_ids=[r.id for r in rows])
        await s.commit()
    await h.feed(h.user(ORGANIZER).message("/consultations"))
    text = h.api.last(ORGANIZER).text
    assert visible_units(text) <= 4096 and "#32 " in text
    assert all(f"{n:02d}长" in text for n in range(30)) and text.count("乡镇00") == 30


async def test_a_township_name_not_known_yet_is_confirmed_before_it_is_made_and_a_close_one_suggested(harness):
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("青山真"))  # mistyped
    ask = h.api.last(ORGANIZER)
    assert "青山真" in ask.text and "青山镇" in ask.text
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 5)]
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(Township.name))).all() == ["青山镇"]
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "重新输入")))
    assert "重新发送乡镇" in h.api.last(ORGANIZER).text
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "新建")))  # after re-type: spent
    assert h.api.answers()[-1].call.show_alert
    await h.feed(o.message("青山真"))
    ask = h.api.last(ORGANIZER)
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "导入到“青山镇”")))  # the suggestion
    assert "第 2 版" in h.api.last(ORGANIZER).text
    await _send_list(h, o, _revised_sample(), "白云乡.xlsx")
    await h.feed(o.message("白云乡"))  # really a new township: nothing close
    ask = h.api.last(ORGANIZER)
    assert "白云乡" in ask.text and "青山镇" not in ask.text
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "新建")))
    assert "已导入" in h.api.last(ORGANIZER).text
    assert sorted(await _stored_lists(h)) == [("白云乡", "1", 112), ("青山镇", "1", 5), ("青山镇", "2", 112)]


async def test_the_same_draft_sent_again_for_a_township_stores_no_identical_version(harness):
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    for name in ("草稿.xlsx", "草稿(1).xlsx"):
        await _send_list(h, o, SAMPLE_DRAFT, name)
        await h.feed(o.message("青山镇"))
    said = h.api.last(ORGANIZER).text
    assert "第 2 版" in said and "相同" in said and "已导入" not in said
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 5), ("青山镇", "2", 112)]


async def test_an_organizers_text_outside_any_form_says_what_they_can_do_not_the_residents_note(harness):
    h = harness
    o = h.user(ORGANIZER)
    await h.feed(o.message("你好"))
    said = h.api.last(ORGANIZER).text
    assert "没有进行中的问卷" not in said and "/new" in said and "/help" in said
    await h.feed(h.user(ORGANIZER, language_code="en").message("hello"))
    said = h.api.last(ORGANIZER).text
    assert "/new" in said and "/help" in said and "questionnaire in progress" not in said
    await h.feed(h.user(RESIDENT).message("你好"))  # a resident still gets theirs
    assert "没有进行中的问卷" in h.api.last(RESIDENT).text


async def test_an_organizers_help_puts_their_commands_first_without_the_residents_list_and_find(harness):
    h = harness
    for lang, head, other in (("zh-hans", "<b>组织者</b>", "/language"), ("en", "<b>Organizers</b>", "/language")):
        await h.feed(h.user(ORGANIZER, language_code=lang).message("/help"))
        said = h.api.last(ORGANIZER).text
        assert said.startswith(head) and other in said and "/mydata" in said
        assert "/list" not in said and "/find" not in said
    await h.feed(h.user(RESIDENT).message("/help"))  # a resident's is as it was
    said = h.api.last(RESIDENT).text
    assert said.startswith("<b>群众</b>") and "/list" in said and "/new" not in said


async def test_a_draft_file_sent_while_an_old_form_waits_for_text_drops_that_form_and_is_checked(harness):
    h = harness
    cid, _ = await open_consultation(h)
    await _add_cadre(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))  # abandoned at its text step
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    said = h.api.last(ORGANIZER).text
    assert "需要发送文字" not in said and "共 112 项" in said and "哪个乡镇" in said and "已取消" in said
    await h.feed(o.message("青山镇"))  # the township's name, not an announcement
    assert "已导入" in h.api.last(ORGANIZER).text
    async with h.sessions() as s:
        assert (await s.scalar(sa.select(sa.func.count()).select_from(Outbox))) == 0
    assert (("青山镇", "2", 112)) in await _stored_lists(h)
    # /new's questionnaire step takes a file too: a list file there is no questionnaire
    o, _screen = await _new_at_questionnaire(h)
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")
    said = h.api.last(ORGANIZER).text
    assert "共 112 项" in said and "哪个乡镇" in said and "已取消" in said


async def test_publish_while_the_consultation_is_still_open_says_to_close_it_first(harness):
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    for command in ("/publish", f"/publish {cid}"):
        await h.feed(o.message(command))
        said = h.api.last(ORGANIZER).text
        assert f"#{cid}" in said and f"/close {cid}" in said and "结束" in said, command
    assert await _statuses(h) == ["open"]
    await h.feed(h.user(ORGANIZER, language_code="en").message("/publish"))
    assert f"/close {cid}" in h.api.last(ORGANIZER).text


async def test_announce_with_nobody_taking_part_yet_says_so_and_asks_for_no_text(harness):
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    said = h.api.last(ORGANIZER)
    assert "还没有参与者" in said.text and "请发送要通知" not in said.text
    await h.feed(o.message("明天截止，请抓紧"))  # no form waits for it: no "send to 0" preview
    assert "发送给 0" not in h.api.last(ORGANIZER).text and not buttons(h.api.last(ORGANIZER).reply_markup)
    async with h.sessions() as s:
        assert (await s.scalar(sa.select(sa.func.count()).select_from(Outbox))) == 0
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/announce {cid}"))
    assert "nobody" in h.api.last(ORGANIZER).text.lower()


async def test_an_unreadable_deadline_is_answered_with_several_of_the_forms_that_are_accepted(harness):
    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("过几天"))
    said = h.api.last(ORGANIZER).text
    for form in ("2026-12-15 18:00", "12月15日18时", "12月15日24时", "明天 18:00", "“18:00”", "下周一", "周五 18:00",
                 "5号", "3天后"):
        assert form in said, form
    for form in ("12月15日18时", "12月15日24时", "明天 18:00", "18:00", "下周一", "周五 18:00", "5号", "3天后"):  # each one shown is one taken
        await h.feed(o.message(form))
        assert "创建并开始" in str(buttons(h.api.last(ORGANIZER).reply_markup)), form
        await h.feed(o.message("/cancel"))
        o, screen = await _new_at_questionnaire(h)
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(h.user(ORGANIZER, language_code="en").message("some day"))
    said = h.api.last(ORGANIZER).text
    assert "“next Monday”" in said and "tomorrow" in said


async def test_an_english_organizer_is_shown_english_date_forms_and_each_is_taken(harness):
    """To an English organizer the forms named are English ("Dec 15", "tomorrow 18:00"; no
    12月15日 nor 明天 in an English message), and the bot takes each, and the ones like them."""
    h = harness
    o, screen = await _new_at_questionnaire(h)
    o = h.user(ORGANIZER, language_code="en")
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("some day"))
    said = h.api.last(ORGANIZER).text
    assert "“Dec 15 6pm”" in said and "“tomorrow 18:00”" in said and "月" not in said and "明天" not in said
    for form, closes in (("Dec 15", "2026-12-15 23:59"), ("tomorrow 18:00", "2026-12-02 18:00"),
                         ("15 December 2026 18:00", "2026-12-15 18:00"), ("December 15, 2026", "2026-12-15 23:59"),
                         ("Tomorrow", "2026-12-02 23:59"), ("Dec 15 6pm", "2026-12-15 18:00"),
                         ("18:00", "2026-12-01 18:00"), ("next Monday", "2026-12-07 23:59"),
                         ("Friday 18:00", "2026-12-04 18:00"), ("in 3 days", "2026-12-04 23:59")):
        await h.feed(o.message(form))
        confirm = h.api.last(ORGANIZER)
        weekday = datetime.fromisoformat(closes).strftime("%A")
        assert f"Closes: {closes} ({weekday}, Beijing time)" in confirm.text, (form, confirm.text)
        await h.feed(o.message("/cancel"))
        zh, screen = await _new_at_questionnaire(h)
        await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))


async def test_townships_past_the_forty_buttons_are_counted_and_can_be_typed(harness):
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        for n in range(1, 46):
            await save_list(s, f"乡镇{n:02d}", ITEMS[:2])
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("标题"))
    screen = h.api.last(ORGANIZER)
    assert "另有 5 个" in screen.text and len(buttons(screen.reply_markup)) == 41  # and 完成
    await h.feed(o.message("乡镇45"))  # one without a button: typed
    shown = h.api.last(ORGANIZER)
    assert any("☑" in text and "乡镇45" in text for text, _ in buttons(shown.reply_markup))
    await h.feed(o.message("乡镇99"))
    assert "乡镇99" in h.api.last(ORGANIZER).text and "没有" in h.api.last(ORGANIZER).text
    await h.feed(o.press(shown.message_id, _press_label(shown.reply_markup, "完成")))
    assert "问卷" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    ask = h.api.last(ORGANIZER)
    assert "另有 5 个" in ask.text and len(buttons(ask.reply_markup)) == 40
    await h.feed(o.message("乡镇45"))
    assert "已导入" in h.api.last(ORGANIZER).text


async def test_a_comment_rejected_before_reasons_were_required_shows_the_reason_missing(harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    async with h.sessions() as s:  # decided with no reason, as the bot allowed before
        c = await s.get(Comment, comment_id)
        c.decision, c.reply, c.replied_at = "rejected", "", h.clock.now
        await s.commit()
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    assert "不采纳" in card.text and "未说明理由" in card.text and "补写理由" in card.text
    # given the reason through the same button, the mark goes
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.message("该事项属于乡镇基本职责"))
    await h.feed(o.message("/comments"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    assert "该事项属于乡镇基本职责" in card.text and "未说明理由" not in card.text


async def test_a_publish_whose_consultation_was_reopened_before_it_ran_tells_the_organizer(harness, monkeypatch):
    import bot.routers.organizer as organizer
    from storage.consultations import set_deadline
    from storage.lists import save_list

    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    async with h.sessions() as s:
        revised = await save_list(s, "青山镇", ITEMS[:-1])
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=revised.township_id))
        await s.commit()
        revised_id = revised.id
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/publish {cid}"))
    said = h.api.last(ORGANIZER)
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))
    confirm = h.api.last(ORGANIZER)
    held = []
    monkeypatch.setattr(organizer, "_in_background", lambda work, what: held.append(work))
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确认发布")))
    assert "正在发布" in h.api.last(ORGANIZER).text
    async with h.sessions() as s:  # a /deadline reopens it before the background run starts
        c = await s.get(Consultation, cid)
        await set_deadline(s, c, h.clock.now + timedelta(days=7), h.clock.now, reopen=True)
        await s.commit()
    [work] = held
    await work
    told = h.api.last(ORGANIZER).text
    assert "没有发布" in told and "重新开放" in told and f"/publish {cid}" in told and f"/close {cid}" in told
    assert await _statuses(h) == ["open"] and h.api.texts(CADRE) == []
    async with h.sessions() as s:
        assert (await s.get(DutyListRow, revised_id)).status != "published"


async def test_export_after_publishing_does_not_ask_for_the_revised_list_again(harness):
    """/export of a consultation whose revised list is published sent the feedback report under
    "once the list is revised, send me the file, then /publish": done already."""
    from storage.consultations import set_status

    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    for language, closed_says in (("en", "/publish"), ("zh-hans", "/publish")):
        await h.feed(h.user(ORGANIZER, language_code=language).message(f"/export {cid}"))
        assert closed_says in h.api.last(ORGANIZER, "sendDocument").text
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, cid), Status.REPORTED, h.clock.now)
        await s.commit()
    for language, published in (("en", "the revised list is published"), ("zh-hans", "修改后的清单已发布")):
        await h.feed(h.user(ORGANIZER, language_code=language).message(f"/export {cid}"))
        caption = h.api.last(ORGANIZER, "sendDocument").text
        assert published in caption and "/publish" not in caption


async def test_a_list_sent_after_the_townships_consultation_closed_is_pointed_to_publish(harness):
    """The revised list, sent once the consultation closed, was answered "send /new to open a
    consultation on it"; it now names /publish ID of that consultation (and /new as the other way)."""
    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    o = h.user(ORGANIZER, language_code="en")
    await _send_list(h, o, SAMPLE_DRAFT, "revised.xlsx")
    await h.feed(o.message("青山镇"))
    said = h.api.last(ORGANIZER).text
    assert said.startswith("Imported: 青山镇, version 2, 112 items.") and f"/publish {cid}" in said
    await h.feed(h.user(ORGANIZER).message(f"/publish {cid}"))
    assert _press_label(h.api.last(ORGANIZER).reply_markup, "青山镇")  # what it points to is there
    await _send_list(h, h.user(ORGANIZER), _revised_sample(), "修改稿.xlsx")
    await h.feed(h.user(ORGANIZER).message("青山镇"))
    assert f"/publish {cid}" in h.api.last(ORGANIZER).text and "已导入" in h.api.last(ORGANIZER).text


async def test_a_draft_sent_with_a_caption_is_stored_under_that_version_label_as_the_cli_does(harness):
    """The chat's import always took the next number, where `lists import --version` names the
    version: the file's caption now does (its "版本：" optional), with the CLI's rules — a label
    already stored for the township, an empty or too long one, are refused and store nothing."""
    from storage.lists import save_list

    h = harness
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")  # no caption: told how to name it, numbered
    assert "文件说明" in h.api.last(ORGANIZER).text
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx", caption="版本：2026征求意见稿")
    assert "将存为“2026征求意见稿”（取自文件说明）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("青山镇"))
    assert "已导入：青山镇，“2026征求意见稿”，共" in h.api.last(ORGANIZER).text
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 5), ("青山镇", "2026征求意见稿", 112)]
    for bad in ("版本：", "长" * 51, "第一行\n第二行"):
        await _send_list(h, o, _revised_sample(), "修改稿.xlsx", caption=bad)
        said = h.api.last(ORGANIZER).text
        assert "版本名" in said and "没有导入" in said and "哪个乡镇" not in said, (bad, said)
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx", caption="1")  # taken by the first version
    await h.feed(o.message("青山镇"))
    said = h.api.last(ORGANIZER).text
    assert "已经有第 1 版" in said and "没有导入" in said
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 5), ("青山镇", "2026征求意见稿", 112)]
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")  # no caption: the number after both versions
    await h.feed(o.message("青山镇"))
    assert "第 3 版" in h.api.last(ORGANIZER).text


async def test_the_version_caption_rule_in_english(harness):
    h = harness
    o = h.user(ORGANIZER, language_code="en")
    await _send_list(h, o, SAMPLE_DRAFT, "draft.xlsx", caption="version: rev 2")
    assert "stored as “rev 2”" in h.api.last(ORGANIZER).text
    await _send_list(h, o, SAMPLE_DRAFT, "draft.xlsx", caption="x" * 51)
    assert "caption is the version's name" in h.api.last(ORGANIZER).text


async def _second_worker(h):
    """Another webhook worker on the same database: its own Dispatcher, sessions and FSM storage
    (and so its own per-chat lock), sending through the same recording Bot API."""
    from bot.app import build_dispatcher
    from bot.broadcaster import Broadcaster
    from storage.engine import make_engine, make_sessionmaker
    from storage.fsm import SQLStorage

    engine = make_engine(h.settings.database_url)
    sessions = make_sessionmaker(engine)
    dp = build_dispatcher(h.settings, sessions, SQLStorage(engine), h.clock)
    dp["broadcaster"] = Broadcaster(h.bot, sessions, rate=1000, per_chat_interval=0)
    return dp, engine


def _meeting_at(monkeypatch, module, name: str):
    """`module.name` made to wait, once per caller, until two callers reached it: two taps handled
    by two workers at the same instant, each past its own double-tap check before either acts."""
    import asyncio

    real = getattr(module, name)
    barrier = asyncio.Barrier(2)

    async def meet(*args, **kw):
        await asyncio.wait_for(barrier.wait(), 10)
        return await real(*args, **kw)

    monkeypatch.setattr(module, name, meet)


async def test_two_workers_handling_two_creates_of_one_new_consultation_at_once_make_one(harness, monkeypatch):
    """The double-tap guard of /new's confirmation is the chat's FSM state: two webhook workers
    handling the two taps at the same instant both passed it and made two consultations."""
    import asyncio

    from bot.routers import organizer
    from bot.testing import feed

    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    data = _press_label(confirm.reply_markup, "保存为草稿")
    dp2, engine2 = await _second_worker(h)
    try:
        _meeting_at(monkeypatch, organizer, "_same_new")
        await asyncio.gather(h.feed(o.press(confirm.message_id, data)),
                             feed(dp2, h.bot, o.press(confirm.message_id, data)))
    finally:
        await engine2.dispose()
    assert await _statuses(h) == ["draft"]
    assert sum("已创建征询" in t for t in h.api.texts(ORGANIZER)) == 1


async def test_two_workers_handling_two_closes_at_once_close_once_and_the_second_says_already(harness, monkeypatch):
    import asyncio

    from bot.testing import feed
    from storage import consultations

    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    h.clock.advance(days=11)  # its deadline passed: /close closes at once, with no confirmation
    dp2, engine2 = await _second_worker(h)
    try:
        _meeting_at(monkeypatch, consultations, "set_status")
        await asyncio.gather(h.feed(o.message(f"/close {cid}")), feed(dp2, h.bot, o.message(f"/close {cid}")))
    finally:
        await engine2.dispose()
    said = h.api.texts(ORGANIZER)
    assert sum("已结束，不再接收" in t for t in said) == 1, said
    assert sum("已经是“已结束”了" in t for t in said) == 1, said
    assert await _statuses(h) == ["closed"]


async def test_two_workers_handling_two_taps_on_a_close_confirmation_close_once_and_say_so_once(harness,
                                                                                               monkeypatch):
    import asyncio

    from bot.routers import organizer
    from bot.testing import feed

    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/close {cid}"))
    confirm = h.api.last(ORGANIZER)
    data = buttons(confirm.reply_markup)[0][1]  # ✅ 确认结束
    dp2, engine2 = await _second_worker(h)
    try:
        _meeting_at(monkeypatch, organizer, "_taken")
        await asyncio.gather(h.feed(o.press(confirm.message_id, data)),
                             feed(dp2, h.bot, o.press(confirm.message_id, data)))
    finally:
        await engine2.dispose()
    said = h.api.texts(ORGANIZER)
    assert sum("已结束，不再接收" in t for t in said) == 1, said
    assert not any("已经是“已结束”了" in t for t in said), said  # the second tap: nothing
    assert await _statuses(h) == ["closed"]


async def test_two_workers_handling_two_taps_on_a_deadline_confirmation_move_it_once_and_say_so_once(harness,
                                                                                                  monkeypatch):
    """The second of two taps handled at once by two workers found the deadline already moved by
    the first and replaced the organizer's "moved" screen with "it was changed meanwhile"."""
    import asyncio

    from bot.routers import organizer
    from bot.testing import feed

    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    data = buttons(confirm.reply_markup)[0][1]  # ✅ 确认修改 (not 并通知干部)
    dp2, engine2 = await _second_worker(h)
    try:
        _meeting_at(monkeypatch, organizer, "_taken")
        await asyncio.gather(h.feed(o.press(confirm.message_id, data)),
                             feed(dp2, h.bot, o.press(confirm.message_id, data)))
    finally:
        await engine2.dispose()
    edits = [c.text or "" for c in h.api.calls if c.method == "editMessageText" and c.chat_id == ORGANIZER]
    assert len(edits) == 1 and "2026-12-20 18:00" in edits[0], edits


async def test_a_confirmation_taken_keeps_no_id_of_the_organizer_who_pressed_it(harness):
    """The mark that a confirmation's press was taken (so that another worker's tap does nothing)
    was keyed by the organizer's Telegram id, which /delete_me then could not find to erase."""
    from storage.models import Delivery

    h = harness
    o, screen = await _new_at_questionnaire(h)
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("2026-12-20 18:00"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "保存为草稿")))
    assert await _statuses(h) == ["draft"]
    await h.feed(o.message("/delete_me"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "删除")))
    async with h.sessions() as s:
        keys = (await s.scalars(sa.select(Delivery.broadcast_key))).all()
    assert keys and not [k for k in keys if str(ORGANIZER) in k], keys


async def test_a_list_file_captioned_with_a_command_is_not_stored_under_the_command_as_its_version(harness):
    """A draft sent with a command as its caption that no handler takes ("/import", "/list 2026")
    went on to be stored as the version "/import"; "/cancel" is taken as /cancel, storing nothing."""
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx", caption="/cancel")
    assert "将存为" not in h.api.last(ORGANIZER).text
    for caption in ("/import", "/list 2026", "/foo"):
        await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx", caption=caption)
        said = h.api.last(ORGANIZER).text
        assert "是一个命令" in said and "没有导入" in said and "哪个乡镇" not in said, (caption, said)
        await h.feed(o.message("青山镇"))  # a township typed after it imports nothing
    assert await _stored_lists(h) == []
    await _send_list(h, h.user(ORGANIZER, language_code="en"), SAMPLE_DRAFT, "draft.xlsx", caption="/import")
    assert "is a command" in h.api.last(ORGANIZER).text
    assert await _stored_lists(h) == []


async def test_new_with_many_townships_typed_past_the_buttons_keeps_its_screen_within_100_buttons(harness):
    """A county of 101 townships: past the first 40 (buttons) the organizer types the names of
    the other 61. Each chosen one became a button of its own too, and the 61st made the screen
    101 buttons, which Telegram refuses ("reply markup is too long"): the organizer got no
    screen and no 完成 button. The screen stays within 100 buttons and counts every choice."""
    from storage.lists import save_list

    h = harness
    names = [f"第{k:03d}镇" for k in range(101)]
    async with h.sessions() as s:
        for name in names:
            await save_list(s, name, ITEMS[:1])
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("多镇征询"))
    for name in names[40:]:
        h.api.clear()
        await h.feed(o.message(name))
        screen = h.api.last(ORGANIZER)
        assert screen.reply_markup is not None, name
    shown = buttons(screen.reply_markup)
    assert len(shown) <= 100
    assert any("完成" in text and "61" in text for text, _ in shown)
    assert "61" in screen.text  # the chosen ones without a button are said


async def test_invite_reaches_a_township_past_the_first_40_buttons_by_its_name(harness):
    """/invite offered buttons for the first 40 townships only and said nothing of the others:
    a county's 41st township could get no cadre invite in the chat. The screen says how many
    are left out and how to name one (/invite 名称), which goes to that township's count step."""
    from storage.lists import save_list

    h = harness
    names = [f"第{k:02d}镇" for k in range(45)]
    async with h.sessions() as s:
        for name in names:
            await save_list(s, name, ITEMS[:1])
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/invite"))
    screen = h.api.last(ORGANIZER)
    assert "第44镇" not in {text for text, _ in buttons(screen.reply_markup)}
    assert "5" in screen.text and "/invite" in screen.text
    await h.feed(o.message("/invite 第44镇"))
    count = h.api.last(ORGANIZER)
    assert "第44镇" in count.text
    await h.feed(o.press(count.message_id, _press_label(count.reply_markup, "1")))
    assert "已为第44镇生成 1 个干部邀请链接" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/invite 第99镇"))
    assert "第99镇" in h.api.last(ORGANIZER).text and not buttons(h.api.last(ORGANIZER).reply_markup)


async def test_publish_offers_a_revised_list_of_a_township_past_the_first_40(harness):
    """A consultation of 45 townships whose 45th has its revised list imported: /publish listed
    the first 40 townships only (none of them revised), so it showed no 发布 button and did not
    say that five were left out. The townships with a list to publish come first, and the screen
    says how many it does not show."""
    from storage.consultations import create_consultation, set_status
    from storage.lists import save_list

    h = harness
    names = [f"第{k:02d}镇" for k in range(45)]
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS[:2]) for name in names]
        c = await create_consultation(s, title="全县征询", questionnaire=None,
                                      closes_at=h.clock.now + timedelta(days=10), list_ids=[r.id for r in rows])
        await set_status(s, c, Status.OPEN, h.clock.now)
        await set_status(s, c, Status.CLOSED, h.clock.now)
        await save_list(s, "第44镇", ITEMS[:1])
        await s.commit()
        cid = c.id
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/publish {cid}"))
    said = h.api.last(ORGANIZER)
    assert [text for text, _ in buttons(said.reply_markup) if "第44镇" in text]
    assert "第44镇" in said.text.splitlines()[1]
    assert "5" in said.text.splitlines()[-2] or "5" in said.text.splitlines()[-1]


async def test_comments_says_none_came_yet_or_all_are_answered_not_only_none_match(harness):
    # /comments answered 没有符合条件的意见 both before any comment came and once every one was
    # answered: neither said which, nor what to do
    h = harness
    cid, _ = await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/comments"))
    said = h.api.last(ORGANIZER).text
    assert "还没有" in said and "/invite" in said
    await _seed_comment(h, cid)
    await h.feed(o.message("/comments"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("已采纳"))
    said = h.api.last(ORGANIZER).text
    assert "1 条意见都已答复" in said and "全部" in said


async def test_a_caption_naming_the_township_is_not_taken_as_the_version_label(harness):
    # an organizer who wrote the township's name as the file's caption had their list stored as
    # 青山镇，第“青山镇”版 (the caption is the version label)
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("青山镇"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx", caption="青山镇 ")
    ask = h.api.last(ORGANIZER)
    assert "版本名" in ask.text and "第“青山镇”版" not in ask.text and "乡镇名称" in ask.text
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇")))
    assert "青山镇，第 2 版" in h.api.last(ORGANIZER).text
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 112), ("青山镇", "2", 112)]


async def test_new_confirmation_of_very_many_long_named_townships_keeps_the_deadline(harness):
    """/new's confirmation names the chosen townships before the deadline: 150 long names took it
    past Telegram's 4,096 characters and the cut removed the deadline. The names give way
    (the first ones, then how many more); the deadline stays."""
    import re

    from aiogram.fsm.storage.base import StorageKey

    from bot.limits import visible_units
    from storage.lists import save_list

    h = harness
    names = [f"第{n:03d}号国家级高新技术产业开发区管理委员会街道办事处" for n in range(150)]
    async with h.sessions() as s:
        ids = [(await save_list(s, name, ITEMS[:1])).township_id for name in names]
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("全县征询"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "第000号")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "完成")))
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    key = StorageKey(bot_id=h.bot.id, chat_id=ORGANIZER, user_id=ORGANIZER)
    await h.dp.fsm.storage.update_data(key, {"townships": ids})  # all 150 chosen (typed, past the buttons)
    await h.feed(o.message("2026-12-20"))
    text = h.api.last(ORGANIZER).text
    assert visible_units(text) <= 4096 and text.startswith("请确认")
    assert re.search(r"截止：2026-12-20 23:59", text)
    more = re.search(r"……另有 (\d+) 个乡镇（街道）", text)
    assert more and text.count("管理委员会街道办事处") + int(more[1]) == 150


async def test_publish_of_forty_townships_with_long_version_labels_keeps_how_to_go_on(harness):
    """40 townships' lines, each naming two version labels of up to 50 characters, passed Telegram's
    4,096 characters: the cut removed how to import and publish. The lines give way."""
    import re

    from bot.limits import visible_units
    from storage.lists import save_list

    h = harness
    names = [f"第{n:02d}号经济开发区街道" for n in range(40)]
    old = "2026年9月县委编办会同县司法局初审后形成的第一次征求意见稿（含乡镇补充事项）"  # 40 characters
    new = "2026年11月吸收群众和干部意见后经县委编办复核形成的第二次修订稿（报县政府审定）"
    async with h.sessions() as s:
        rows = [await save_list(s, name, ITEMS[:1], version=old) for name in names]
        c = await create_consultation(s, title="全县征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await set_status(s, c, Status.CLOSED, h.clock.now)
        for name in names:
            await save_list(s, name, ITEMS[:2], version=new)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/publish {c.id}"))
    said = h.api.last(ORGANIZER)
    assert visible_units(said.text) <= 4096 and len(buttons(said.reply_markup)) == 40
    assert said.text.splitlines()[-1].startswith("把修改后的清单文件发给我即可导入新版本")
    more = re.search(r"另有 (\d+) 个乡镇没有列出", said.text)
    assert more and said.text.count("经济开发区街道：") + int(more[1]) == 40


async def test_new_says_what_the_questionnaire_check_warns_of_when_the_file_is_uploaded(harness):
    """A questionnaire uploaded in /new was only said to have passed: its options too wide for
    their buttons (and the other warnings `qingdan questionnaire check` gives) went unsaid."""
    h = harness
    o, _ = await _new_at_questionnaire(h)
    wide = "本乡镇对于这一事项的职责划分完全合理"
    await _upload_questionnaire(h, o, ("id: d\ntitle: 问卷\nquestions:\n"
                                       f"  - {{id: q1, type: single, text: 短, options: [{{id: a, text: {wide}}}, "
                                       "{id: b, text: 不合理}]}\n").encode())
    said = h.api.last(ORGANIZER).text
    assert said.startswith("问卷检查通过，共 1 个问题。") and "截止" in said
    assert "第 4 行：问题“q1”的选项“a”" in said and "选项“b”" not in said


async def test_consultations_past_thirty_says_how_many_older_are_not_listed_and_how_to_reach_them(harness):
    """Thirty are listed (more long titles would pass Telegram's 4,096): the older ones were left
    out without a word, as if they were gone."""
    from bot.limits import visible_units

    h = harness
    await _thirty_longest_titles(h, "长")  # (after the one open_consultation made: #1, the oldest)
    await h.feed(h.user(ORGANIZER).message("/consultations"))
    text = h.api.last(ORGANIZER).text
    assert visible_units(text) <= 4096 and "#1 青山镇" not in text
    assert text.splitlines()[-1] == "……另有 1 个更早的征询没有列出（#1–#1）：在命令后写编号即可，如 /stats 1"


async def test_the_invite_and_import_township_buttons_of_a_long_name_fit_a_phone(harness):
    """/new's township buttons are shortened to a phone's width (bot.limits.fit_width); /invite's
    and a draft's import's gave a township's name whole — a name of 70 characters (or 𠀀) ran far
    past the button. They are shortened as /new's, and a tap still picks that township."""
    from storage.lists import save_list
    from tests.bot.test_button_labels import too_wide

    h = harness
    long = "青山县" + "𠀀" * 60 + "镇"
    async with h.sessions() as s:
        await save_list(s, long, ITEMS[:1])
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/invite"))
    screen = h.api.last(ORGANIZER)
    assert too_wide(screen.reply_markup) == [], buttons(screen.reply_markup)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山县𠀀")))
    assert long in h.api.last(ORGANIZER).text  # the count step names it in full
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    ask = h.api.last(ORGANIZER)
    assert any(text.startswith("青山县𠀀") for text, _ in buttons(ask.reply_markup))
    assert too_wide(ask.reply_markup) == [], buttons(ask.reply_markup)


async def test_a_links_caption_of_a_long_emoji_title_and_township_keeps_its_link(harness):
    """A caption holds 1,024 of Telegram's UTF-16 units. A title of 300 emoji (600 units) and a
    township of 150 𠀀 (300) ran the QR's caption past it, and the link at its end was cut off —
    the very thing to forward. The two are shortened alike to leave the rest its room."""
    from bot.limits import CAPTION_LIMIT, visible_units
    from storage.consultations import links

    h = harness
    township = "𠀀" * 150
    cid, _ = await open_consultation(h, township=township, title="😀" * 300)
    await h.feed(h.user(ORGANIZER).message(f"/links {cid}"))
    [photo] = [c for c in h.api.calls if c.method == "sendPhoto"]
    async with h.sessions() as s:
        code = (await links(s, cid))[0].code
    assert photo.text.endswith(f"https://t.me/qingdan_test_bot?start={code}")
    assert visible_units(photo.text) <= CAPTION_LIMIT and "【𠀀𠀀" in photo.text and "😀😀" in photo.text


async def test_stats_of_items_named_in_a_thousand_rare_characters_keep_the_reports_count(harness):
    """/stats named its most commented items whole: five names of 1,000 𠀀 (2,000 of Telegram's
    UTF-16 units each) ran the message past Telegram's limit, and what followed them (the
    off-list reports' count) was cut off. The names are shortened as the digest's are."""
    from bot.limits import TEXT_LIMIT, visible_units
    from storage.consultations import links
    from storage.lists import save_list
    from surveys.duty_list import DutyItem, Part

    h = harness
    items = [DutyItem(Part.BASIC, f"事项{k}" + "𠀀" * 1000, seq=k, category="平安法治") for k in range(1, 6)]
    async with h.sessions() as s:
        row = await save_list(s, "青山镇", items)
        c = await create_consultation(s, title="征询", questionnaire="", list_ids=[row.id],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        cid = c.id
        township = (await links(s, cid))[0].township_id
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        for item_id in (await s.scalars(sa.select(DutyItemRow.id).where(DutyItemRow.list_id == row.id))).all():
            await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                            township_id=township, kind="basis", text="依据", now=h.clock.now)
        await s.commit()
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))
    text = h.api.last(ORGANIZER).text
    assert all(f"事项{k}𠀀" in text for k in range(1, 6)) and visible_units(text) <= TEXT_LIMIT
    assert "清单外事项报告" in text.splitlines()[-1], text[-200:]


async def test_a_comment_edited_while_the_organizer_types_the_reason_is_not_answered_unseen(harness):
    """The organizer read a comment, pressed 不采纳, and while they typed the reason its cadre
    rewrote it: the 不采纳 and the reason were stored on the new text, which the organizer never
    saw, and the cadre was told so. The reason is now not saved; the organizer is told the comment
    changed and shown it again."""
    from tests.bot.test_cadre import _cadre, _tap
    from tests.bot.test_forged_presses import _comment

    h = harness
    cid, _ = await open_consultation(h)
    u = await _cadre(h, 7801)
    await _comment(h, u, cid, "青山镇", "原来的意见")
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/comments {cid}"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改")
    await h.feed(u.message("完全不同的新意见"))
    h.api.clear()
    await h.feed(o.message("理由：原来的意见不成立"))
    told = h.api.texts(ORGANIZER)
    assert any("修改" in t and "没有保存" in t for t in told), told
    assert "完全不同的新意见" in h.api.last(ORGANIZER).text  # the card again, as it reads now
    assert not h.api.texts(7801)  # the cadre is told nothing
    async with h.sessions() as s:
        comment = (await s.scalars(sa.select(Comment))).one()
    assert (comment.text, comment.decision, comment.reply) == ("完全不同的新意见", None, "")
    # answered again from the new card, it is saved
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "不采纳")))
    await h.feed(o.message("理由：新意见也不成立"))
    async with h.sessions() as s:
        comment = (await s.scalars(sa.select(Comment))).one()
    assert (comment.decision, comment.reply) == ("rejected", "理由：新意见也不成立")


async def test_delete_me_keeps_an_answered_comment_under_nobody_and_erases_the_unanswered_one(harness):
    """A cadre's /delete_me after the organizer answered one of their comments: the answered one is
    part of the 反馈情况说明 (counted, quoted), so it stays with its township but without the cadre's
    id or pseudonym; the unanswered one goes; a later change of the answer tells nobody."""
    from storage.models import ANONYMOUS
    from storage.reports import load_consultation_data

    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    open_id = await _seed_missing(h, cid, "还没答复的提议")
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "部分采纳")))
    await h.feed(o.message("已调整为配合事项"))
    u = h.user(CADRE)
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(CADRE)
    assert "已经答复的意见" in confirm.text and "不再与您关联" in confirm.text
    await h.feed(u.press(confirm.message_id, _press_label(confirm.reply_markup, "确定删除")))
    async with h.sessions() as s:
        kept = await s.get(Comment, comment_id)
        assert kept is not None and kept.person_id == ANONYMOUS and kept.decision == "partly"
        assert kept.text == "这项应由县消防救援大队牵头" and kept.reply == "已调整为配合事项"
        assert await s.get(Comment, open_id) is None
        assert await s.get(Person, CADRE) is None
        data = await load_consultation_data(s, cid, "key", "Asia/Shanghai")
    assert [(c.id, c.pseudonym, c.township) for c in data.comments] == [(comment_id, "", "青山镇")]
    h.api.clear()
    await h.feed(o.message("/comments"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "全部")))
    card = h.api.last(ORGANIZER)
    assert "这项应由县消防救援大队牵头" in card.text
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("全部采纳"))
    async with h.sessions() as s:
        assert (await s.get(Comment, comment_id)).decision == "adopted"
    sent_to = {c.call.chat_id for c in h.api.calls if c.method == "sendMessage"}
    assert sent_to == {ORGANIZER}  # not the erased cadre, nor a chat "0"


async def test_a_decision_pressed_on_a_card_of_a_comment_rewritten_since_is_not_taken(harness):
    """The card read said one thing; the cadre rewrote the comment; 采纳 pressed on the old card
    would adopt the new text unseen. The press is refused with the comment shown as it reads now."""
    from tests.bot.test_cadre import _cadre, _tap
    from tests.bot.test_forged_presses import _comment

    h = harness
    cid, _ = await open_consultation(h)
    u = await _cadre(h, 7801)
    await _comment(h, u, cid, "青山镇", "原来的意见")
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/comments {cid}"))
    card = h.api.last(ORGANIZER)
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改")
    await h.feed(u.message("完全不同的新意见"))
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    assert "修改" in (h.api.answers()[-1].text or "")
    card = h.api.last(ORGANIZER)
    assert "完全不同的新意见" in card.text
    await h.feed(o.message("同意"))  # (no answer is being asked for)
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(Comment))).one().decision is None
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "采纳")))
    await h.feed(o.message("同意"))
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(Comment))).one().decision == "adopted"


def _markup_taken_off(h, message_id: int) -> bool:
    return any(c.method == "editMessageReplyMarkup" and c.message_id == message_id and not buttons(c.reply_markup)
               for c in h.api.calls)


async def test_a_drafts_township_buttons_go_once_used_and_a_late_tap_imports_nothing_more(harness):
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("青山镇"))  # not known yet: 新建 / 重新输入 asked
    question = h.api.last(ORGANIZER)
    await h.feed(o.press(question.message_id, _press_label(question.reply_markup, "重新输入")))
    assert _markup_taken_off(h, question.message_id)  # answered: its buttons go
    await h.feed(o.press(question.message_id, _press_label(question.reply_markup, "新建")))  # a late tap
    assert h.api.answers()[-1].call.show_alert and await _stored_lists(h) == []
    await h.feed(o.message("青山镇"))
    question = h.api.last(ORGANIZER)
    await h.feed(o.press(question.message_id, _press_label(question.reply_markup, "新建")))
    assert _markup_taken_off(h, question.message_id)
    await h.feed(o.press(question.message_id, _press_label(question.reply_markup, "新建")))  # a double tap
    assert await _stored_lists(h) == [("青山镇", "1", 112)]
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")
    ask = h.api.last(ORGANIZER)
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇")))
    assert _markup_taken_off(h, ask.message_id)
    await h.feed(o.message("/cancel"))
    await h.feed(o.press(ask.message_id, _press_label(ask.reply_markup, "青山镇")))  # a late tap, after /cancel
    assert h.api.answers()[-1].call.show_alert
    assert sorted(await _stored_lists(h)) == [("青山镇", "1", 112), ("青山镇", "2", 112)]


async def test_an_invite_count_tapped_twice_or_late_makes_one_batch_and_says_so(harness):
    h = harness
    await open_consultation(h)
    o = h.user(ORGANIZER)
    await h.feed(o.message("/invite"))
    screen = h.api.last(ORGANIZER)
    await h.feed(o.press(screen.message_id, _press_label(screen.reply_markup, "青山镇")))
    five = _press_label(h.api.last(ORGANIZER).reply_markup, "5")
    await h.feed(o.press(screen.message_id, five))
    assert h.api.last(ORGANIZER).text.count("?start=inv_") == 5 and not buttons(h.api.last(ORGANIZER).reply_markup)
    h.api.clear()
    await h.feed(o.press(screen.message_id, five))  # the second tap of a double tap
    await h.feed(o.press(screen.message_id, five, old=True))  # the same button days later
    await h.feed(o.press(screen.message_id, InviteCB(t=InviteCB.unpack(five).t, r="cadre", n=5).pack()))  # no mark
    assert [c.method for c in h.api.calls] == ["answerCallbackQuery"] * 3
    assert all(a.call.text == "这批邀请链接已经生成过了，没有再生成。如需更多，请再发 /invite。"
               for a in h.api.answers()[:2])
    assert h.api.answers()[2].call.show_alert
    async with h.sessions() as s:
        assert len((await s.scalars(sa.select(Invite))).all()) == 5


async def _hidden(h, comment_id: int) -> bool:
    async with h.sessions() as s:
        return (await s.get(Comment, comment_id)).hidden


async def _another_organizer_hides(h, comment_id: int, hidden: bool) -> None:
    async with h.sessions() as s:
        await comments_repo.hide_comment(s, comment_id, hidden=hidden)
        await s.commit()


async def test_a_hide_or_unhide_tapped_twice_or_on_a_card_older_than_another_organizers_change_changes_nothing(
        harness):
    h = harness
    cid, comment_id, o, card = await _comment_card(h)
    hide = _press_label(card.reply_markup, "隐藏")
    await h.feed(o.press(card.message_id, hide))
    assert await _hidden(h, comment_id)
    await _another_organizer_hides(h, comment_id, False)  # another organizer's unhide
    await h.feed(o.press(card.message_id, hide))  # the first card's hide again: a second or late tap
    said = h.api.answers()[-1].call
    assert said.show_alert and "未作改动" in said.text and not await _hidden(h, comment_id)
    await h.feed(o.message(f"/comments {cid}"))
    card = h.api.last(ORGANIZER)
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "全部")))  # (hidden ones too)
    card = h.api.last(ORGANIZER)  # read while visible: a hide button
    await _another_organizer_hides(h, comment_id, True)
    await _another_organizer_hides(h, comment_id, False)
    await _another_organizer_hides(h, comment_id, True)  # hidden since by another organizer
    await h.feed(o.press(card.message_id, _press_label(card.reply_markup, "隐藏")))
    assert h.api.answers()[-1].call.show_alert and await _hidden(h, comment_id)
    shown = h.api.last(ORGANIZER)  # the card as it is now: its unhide button
    assert shown.message_id == card.message_id and _press_label(shown.reply_markup, "取消隐藏")
    await _another_organizer_hides(h, comment_id, False)
    await h.feed(o.press(card.message_id, _press_label(shown.reply_markup, "取消隐藏")))
    assert h.api.answers()[-1].call.show_alert and not await _hidden(h, comment_id)


async def test_a_time_alone_last_and_the_week_after_next_s_monday_in_new_and_deadline(harness):
    """"18:00" typed alone in /new was refused as 日期格式不对: it is today's 18:00; a time already
    past today is refused saying so and suggesting tomorrow's; 上周一 is refused as past, naming
    the day; /deadline 下下周一 is the Monday after next."""
    h = harness
    o, screen = await _new_at_questionnaire(h)  # Tuesday 2026-12-01 10:00 local
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("9:00"))
    assert h.api.last(ORGANIZER).text == ("今天 09:00 已经过去了。如果指的是明天，请写“明天09:00”；"
                                          "其他日子请写上日期，例如“下周一 09:00”。")
    await h.feed(o.message("上周一"))
    assert h.api.last(ORGANIZER).text == "截止时间 2026-11-23 23:59 已经过去，请写一个将来的时间。"
    await h.feed(o.message("下午6点"))
    assert "截止：2026-12-01 18:00" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    cid, _ = await open_consultation(h)
    await h.feed(o.message(f"/deadline {cid} 下下周一 18:00"))
    assert "→ <b>2026-12-14 18:00</b>" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    h.settings.locale = "en"
    en = h.user(ORGANIZER, language_code="en")
    await h.feed(en.message(f"/deadline {cid} 9am"))
    assert h.api.last(ORGANIZER).text.startswith("09:00 today has already passed. If you mean tomorrow, write “tomorrow 09:00”")


async def test_an_unreadable_deadline_names_the_forms_now_understood_with_a_date_from_now(harness):
    """日期格式不对 named only 2026-12-15 18:00, 2026/12/15 18:00, 12月15日 and 明天 18:00 — not
    下周一, 周五, 5号, 3天后, 24时, a time alone or "next Monday"; it names them, on a day from now."""
    h = harness
    cid, _ = await open_consultation(h)  # today: 2026-12-01
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/deadline {cid} 过几天"))
    assert h.api.last(ORGANIZER).text == (
        "日期格式不对，请写成“2026-12-15 18:00”。也可以写：“12月15日18时”“12月15日24时”“明天 18:00”“18:00”（今天）"
        "“下周一”“周五 18:00”“5号”“3天后”。只写日期表示当天 23:59。")
    await h.feed(o.message("/cancel"))
    h.settings.locale = "en"
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/deadline {cid} some day"))
    assert h.api.last(ORGANIZER).text == (
        "Unrecognised date; write it like “2026-12-15 18:00”. Also understood: “Dec 15 6pm”, “tomorrow 18:00”, "
        "“18:00” (today), “next Monday”, “Friday 18:00”, “in 3 days”. A date alone means 23:59 that day.")


async def test_a_publish_confirmations_button_goes_once_pressed_and_a_late_tap_says_it_is_spent(harness):
    h = harness
    o = h.user(ORGANIZER)
    await _send_list(h, o, SAMPLE_DRAFT, "草稿.xlsx")
    await h.feed(o.message("青山镇"))
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "新建")))
    await _new_until_confirm(h, o, "青山镇意见征询", "2026-12-20 18:00")
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "创建并开始")))
    await close_early(h)
    await _send_list(h, o, _revised_sample(), "修改稿.xlsx")
    await h.feed(o.press(h.api.last(ORGANIZER).message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "青山镇")))
    await h.feed(o.message("/publish"))
    said = h.api.last(ORGANIZER)
    await h.feed(o.press(said.message_id, _press_label(said.reply_markup, "发布")))
    confirm = h.api.last(ORGANIZER)
    publish = _press_label(confirm.reply_markup, "确认发布")
    await h.feed(o.press(confirm.message_id, publish))
    await wait_background()
    assert _markup_taken_off(h, confirm.message_id)
    await h.feed(o.message("/cancel"))  # another action since
    await h.feed(o.press(confirm.message_id, publish))  # a late tap on the old confirmation
    assert h.api.answers()[-1].call.show_alert
    await wait_background()
    assert len([t for t in h.api.texts(ORGANIZER) if "正在发布" in t]) == 1


async def test_a_deadline_is_confirmed_with_its_weekday_as_the_organizer_checks_what_xia_zhou_yi_became(harness):
    """/new and /deadline confirmed "下周一" as 2026-12-07 23:59 with no weekday, so the organizer
    could not see at a glance it was the Monday meant; the confirmation names it (星期一 / Monday),
    a midnight deadline the weekday of the day it ends; the stored deadline elsewhere is shown as before."""
    h = harness
    o, screen = await _new_at_questionnaire(h)  # Tuesday 2026-12-01
    await h.feed(o.press(screen.message_id, _press_label(h.api.last(ORGANIZER).reply_markup, "默认")))
    await h.feed(o.message("下周一"))
    assert "截止：2026-12-07 23:59（星期一，北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    cid, _ = await open_consultation(h)
    await h.feed(o.message(f"/deadline {cid} 12月20日24时"))
    assert "2026-12-11 10:00 → <b>2026-12-20 24:00</b>（星期日，北京时间）" in h.api.last(ORGANIZER).text
    await h.feed(o.message("/cancel"))
    h.settings.locale = "en"
    await h.feed(h.user(ORGANIZER, language_code="en").message(f"/deadline {cid} next Friday 6pm"))
    assert "→ <b>2026-12-11 18:00</b> (Friday, Beijing time)" in h.api.last(ORGANIZER).text
