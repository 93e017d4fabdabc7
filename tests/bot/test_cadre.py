"""The cadre's flow through the Dispatcher: invites, browsing and /find, item cards,
comments (create, edit, withdraw), missing-item proposals, off-list reports, and
every refusal: wrong role, forged buttons, too long, too many, too late."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.routers.cadre import CommentCB, ItemCB, ListCB, MineCB
from bot.testing import Updates, buttons
from storage.invites import create_invites, revoke
from storage.lists import get_township
from storage.models import Comment, DutyItemRow, Invite, OffListReport, Person
from surveys.duty_list import DutyItem, Part
from tests.bot.conftest import ITEMS, ORGANIZER, open_consultation

CADRE = 7001
OTHER_CADRE = 7002
RESIDENT = 7003


def _data(markup, startswith: str) -> str:
    for text, data in buttons(markup):
        if text.startswith(startswith):
            return data
    raise AssertionError(f"no button {startswith!r} in {buttons(markup)}")


async def _tap(h, u, label: str) -> None:
    last = h.api.last(u.user.id)
    await h.feed(u.press(last.message_id, _data(last.reply_markup, label)))


def _alert(h) -> str:
    answer = h.api.answers()[-1]
    return answer.text or ""


async def _invite(h, township="青山镇", role="cadre", expires=timedelta(days=7)) -> str:
    async with h.sessions() as s:
        t = await get_township(s, township)
        invite = (await create_invites(s, t.id, role, 1, h.clock.now + expires if expires else None, ORGANIZER))[0]
        await s.commit()
        return invite.code


async def _open_alongside(h, items):
    """A second consultation of 青山镇 open on a newer version of its list, as a database kept
    from before a township was consulted on one version at a time may hold (opening one so is
    refused now: storage.consultations.check_openable)."""
    from storage.models import Consultation
    from surveys.consultation import Status

    cid, _ = await open_consultation(h, items=items, status=Status.DRAFT)
    async with h.sessions() as s:
        await s.execute(sa.update(Consultation).where(Consultation.id == cid)
                        .values(status=Status.OPEN.value, opens_at=h.clock.now))
        await s.commit()
    return cid


async def _cadre(h, user=CADRE, township="青山镇"):
    code = await _invite(h, township)
    u = h.user(user)
    await h.feed(u.message(f"/start inv_{code}"))
    return u


async def _person(h, user) -> Person | None:
    async with h.sessions() as s:
        return await s.get(Person, user)


async def _comments(h) -> list[Comment]:
    async with h.sessions() as s:
        return list((await s.scalars(sa.select(Comment).order_by(Comment.id))).all())


async def _item_id(h, name: str, township="青山镇") -> int:
    async with h.sessions() as s:
        from storage.models import DutyListRow, Township

        return await s.scalar(sa.select(DutyItemRow.id).join(DutyListRow).join(Township)
                              .where(DutyItemRow.name == name, Township.name == township))


async def _open_card(h, u, c: int, name: str) -> None:
    i = await _item_id(h, name)
    await h.feed(u.message("/list"))
    await h.feed(u.press(h.api.last(u.user.id).message_id, ItemCB(c=c, i=i).pack()))


async def _comment(h, u, c: int, name: str, kind_label: str, text: str) -> None:
    await _open_card(h, u, c, name)
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, kind_label)
    await h.feed(u.message(text))


# --- invites ---------------------------------------------------------------------------------


async def test_invite_redeem_makes_the_person_a_cadre_of_the_township_and_says_what_they_can_do(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    text = h.api.last(CADRE).text
    assert "青山镇" in text and "干部" in text and "/list" in text and "/report" in text
    person = await _person(h, CADRE)
    async with h.sessions() as s:
        qingshan = await get_township(s, "青山镇")
        invite = (await s.scalars(sa.select(Invite))).one()
    assert person.role == "cadre" and person.township_id == qingshan.id
    assert invite.used_by == CADRE and invite.used_at == h.clock.now
    await h.feed(u.message("/help"))
    assert "/mycomments" in h.api.last(CADRE).text


async def test_an_invite_typed_in_capitals_is_taken_as_an_invite(harness):
    """The code is looked up whatever its case, but "/start INV_…" went to the residents' links
    and was told the link is invalid."""
    h = harness
    await open_consultation(h)
    for user, typed in ((CADRE, "INV_{}"), (OTHER_CADRE, "Inv_{}")):
        code = await _invite(h)
        await h.feed(h.user(user).message("/start " + typed.format(code.upper())))
        assert "欢迎！您已确认为<b>青山镇</b>的干部" in h.api.last(user).text, typed
        assert (await _person(h, user)).role == "cadre"
    await h.feed(h.user(OTHER_CADRE + 1).message("/start INV_NOSUCHCODE"))
    assert "这个邀请链接无效" in h.api.last(OTHER_CADRE + 1).text


async def test_invite_used_twice_is_refused_and_the_second_person_stays_a_resident(harness):
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))
    await h.feed(h.user(OTHER_CADRE).message(f"/start inv_{code}"))
    assert "已经被使用过" in h.api.last(OTHER_CADRE).text
    other = await _person(h, OTHER_CADRE)
    assert other.role == "resident" and other.township_id is None
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by == CADRE
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))  # the owner again: harmless
    assert "已经是<b>青山镇</b>的干部" in h.api.last(CADRE).text


async def test_a_refused_invite_and_a_resident_at_a_cadre_command_are_sent_to_whoever_runs_the_consultation(harness):
    """Not every county's consultation is run by its 县委编办 (the organization department runs some):
    the Chinese named that one office where the English says "the county organizer"."""
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    async with h.sessions() as s:
        assert (await revoke(s, code, h.clock.now))[1] == "ok"
        await s.commit()
    for text in (f"/start inv_{code}", "/start inv_NOSUCHCODE", "/mycomments"):
        await h.feed(h.user(CADRE).message(text))
        reply = h.api.last(CADRE).text
        assert "组织征询的县级部门" in reply and "编办" not in reply, (text, reply)
        await h.feed(h.user(CADRE, language_code="en").message(text))
        assert "county organizer" in h.api.last(CADRE).text, text


async def test_expired_invite_is_refused_and_changes_nothing(harness):
    h = harness
    await open_consultation(h)
    code = await _invite(h, expires=timedelta(hours=1))
    h.clock.advance(hours=2)
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))
    assert "已经过期" in h.api.last(CADRE).text
    assert (await _person(h, CADRE)).role == "resident"
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None


async def test_revoked_invite_is_refused_and_changes_nothing(harness):
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    async with h.sessions() as s:
        assert (await revoke(s, code, h.clock.now))[1] == "ok"
        await s.commit()
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))
    assert "已经作废" in h.api.last(CADRE).text
    assert (await _person(h, CADRE)).role == "resident"
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None


async def test_a_cadre_demoted_is_no_cadre_from_the_next_update_nor_told_one_by_their_old_invite(harness):
    """`invites revoke --demote` takes the role back: the next command is refused, and the old
    link tapped again says it is void — not "you are already a cadre" with the cadre's menu."""
    h = harness
    await open_consultation(h)
    await open_consultation(h, township="绿水乡")
    code = await _invite(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{code}"))
    async with h.sessions() as s:
        assert (await revoke(s, code, h.clock.now, demote=True))[1] == "demoted"
        await s.commit()
    await h.feed(u.message("/mycomments"))
    assert "只对经过邀请验证的乡镇（街道）干部开放" in h.api.last(CADRE).text
    h.api.clear()
    await h.feed(u.message(f"/start inv_{code}"))
    assert "已经作废" in h.api.last(CADRE).text and "已经是" not in h.api.last(CADRE).text
    assert [c.method for c in h.api.calls] == ["sendMessage"]  # no cadre's menu
    person = await _person(h, CADRE)
    assert person.role == "resident" and person.township_id is None
    # a link used before another one, whose revocation took the role: used, not a way back
    first, second = await _invite(h), await _invite(h, "绿水乡")
    await h.feed(u.message(f"/start inv_{first}"))
    await h.feed(u.message(f"/start inv_{second}"))
    await _tap(h, u, "改为绿水乡的干部")
    async with h.sessions() as s:
        assert (await revoke(s, second, h.clock.now, demote=True))[1] == "demoted"
        await s.commit()
    h.api.clear()
    await h.feed(u.message(f"/start inv_{first}"))
    assert "已经被使用过" in h.api.last(CADRE).text and [c.method for c in h.api.calls] == ["sendMessage"]
    assert (await _person(h, CADRE)).role == "resident"
    # an organizer's too
    organizer = await _invite(h, role="organizer")
    await h.feed(u.message(f"/start inv_{organizer}"))
    async with h.sessions() as s:
        assert (await revoke(s, organizer, h.clock.now, demote=True))[1] == "demoted"
        await s.commit()
    await h.feed(u.message(f"/start inv_{organizer}"))
    assert "已经作废" in h.api.last(CADRE).text and "欢迎" not in h.api.last(CADRE).text
    assert (await _person(h, CADRE)).role == "resident"


async def test_guessed_invite_code_is_refused_and_changes_nothing(harness):
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    for guess in ("inv_aaaaaaaaaaaa", "inv_", "inv_" + "x" * 60, f"inv_{code[:-1]}"):
        await h.feed(h.user(CADRE).message(f"/start {guess}"))
        assert "邀请链接无效" in h.api.last(CADRE).text, guess
    assert (await _person(h, CADRE)).role == "resident"
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None


# --- browsing and /find ---------------------------------------------------------------------------


MANY = [DutyItem(Part.BASIC, f"民生事项{n:02d}", seq=n, category="民生服务", content=f"内容{n}") for n in range(1, 21)] \
    + [DutyItem(Part.BASIC, "发展党员", seq=21, category="党的建设"),
       DutyItem(Part.COOPERATING, "食品安全协管巡查与信息报告", seq=1, category="市场监管",
                county_department="县市场监管局", basis="《食品安全法》"),
       DutyItem(Part.BASIC, "政务服务APP推广", seq=22, category="民生服务", basis="《电子政务办法》")]


async def test_browse_part_then_category_then_items_with_pages_edited_in_place(harness):
    h = harness
    await open_consultation(h, items=MANY)
    u = await _cadre(h)
    await h.feed(u.message("/list"))
    parts = h.api.last(CADRE)
    assert "青山镇履行职责事项清单" in parts.text
    labels = [t for t, _ in buttons(parts.reply_markup)]
    assert labels[:3] == ["基本履职事项（22项）", "配合履职事项（1项）", "上级部门收回事项（0项）"]
    assert "➕ 提出遗漏事项" in labels
    await _tap(h, u, "基本履职事项")
    cats = h.api.last(CADRE)
    assert cats.method == "editMessageText" and cats.message_id == parts.message_id
    assert [t for t, _ in buttons(cats.reply_markup)][:2] == ["民生服务（21项）", "党的建设（1项）"]
    await _tap(h, u, "民生服务")
    page1 = h.api.last(CADRE)
    names = [t for t, _ in buttons(page1.reply_markup)]
    assert "第 1/3 页" in page1.text and names[:8] == [f"{n}. 民生事项{n:02d}" for n in range(1, 9)]
    assert "›" in names and "‹" not in names
    await _tap(h, u, "›")
    page2 = h.api.last(CADRE)
    assert "第 2/3 页" in page2.text and buttons(page2.reply_markup)[0][0] == "9. 民生事项09"
    await _tap(h, u, "›")
    page3 = [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
    assert page3[:5] == ["17. 民生事项17", "18. 民生事项18", "19. 民生事项19", "20. 民生事项20", "22. 政务服务APP推广"]
    assert "›" not in page3
    await _tap(h, u, "18.")
    card = h.api.last(CADRE)
    assert "<b>民生事项18</b>" in card.text and "内容18" in card.text
    await _tap(h, u, "« 返回事项列表")
    assert "第 3/3 页" in h.api.last(CADRE).text  # back to the page the item is on


async def test_a_part_of_more_categories_than_a_keyboard_takes_is_browsed_in_pages(harness):
    """A draft whose 领域 column holds 120 different values (a first-pass inventory by department,
    say): the part's categories were a button each, past Telegram's 100 buttons, so tapping
    基本履职事项 showed nothing. They come in pages, and the last one is reached; back from its
    items returns to its page."""
    h = harness
    items = [DutyItem(Part.BASIC, f"事项{k:03d}", seq=k + 1, category=f"类别{k:03d}") for k in range(120)]
    await open_consultation(h, items=items)
    u = await _cadre(h)
    await h.feed(u.message("/list"))
    await _tap(h, u, "基本履职事项")
    cats = h.api.last(CADRE)
    assert cats.method == "editMessageText" and len(buttons(cats.reply_markup)) <= 100
    while not [t for t, _ in buttons(h.api.last(CADRE).reply_markup) if t.startswith("类别119")]:
        await _tap(h, u, "›")
    last_page = h.api.last(CADRE).text
    await _tap(h, u, "类别119")
    assert "事项119" in h.api.last(CADRE).text
    await _tap(h, u, "« ")
    assert h.api.last(CADRE).text == last_page


async def test_find_matches_name_content_and_basis_ignoring_case_and_width(harness):
    h = harness
    await open_consultation(h, items=MANY)
    u = await _cadre(h)
    await h.feed(u.message("/find ａｐｐ"))  # full-width, lower case
    hits = h.api.last(CADRE)
    assert "共 1 项" in hits.text and "政务服务APP推广" in hits.text
    await h.feed(u.message("/find 食品安全法"))  # only in the basis
    assert "食品安全协管巡查与信息报告" in h.api.last(CADRE).text
    await h.feed(u.message("/find 内容1"))  # content: 内容1, 内容10…内容19 → 11 hits, 2 pages
    hits = h.api.last(CADRE)
    assert "共 11 项" in hits.text and "第 1/2 页" in hits.text
    assert len([t for t, _ in buttons(hits.reply_markup) if ". " in t]) == 8
    await _tap(h, u, "›")
    assert "第 2/2 页" in h.api.last(CADRE).text
    await _tap(h, u, "9.")
    await _tap(h, u, "« 返回搜索结果")
    assert "第 2/2 页" in h.api.last(CADRE).text
    await h.feed(u.message("/find 没有这个词"))
    assert "没有找到" in h.api.last(CADRE).text
    await h.feed(u.message("/find"))
    assert "/find 消防" in h.api.last(CADRE).text


async def test_find_with_two_open_consultations_asks_which_list_to_search(harness):
    h = harness
    await open_consultation(h)  # the older one: ITEMS
    await _open_alongside(h, MANY)  # the newer one
    u = await _cadre(h)
    await h.feed(u.message("/find 消防"))  # only in the older list
    chooser = h.api.last(CADRE)
    assert "选择" in chooser.text and len(buttons(chooser.reply_markup)) == 2
    newer, older = (data for _, data in buttons(chooser.reply_markup))  # newest first, as /list
    await h.feed(u.press(chooser.message_id, older))
    hits = h.api.last(CADRE)
    assert "共 1 项" in hits.text and "消防安全检查与火灾隐患整治" in hits.text
    await h.feed(u.message("/find 食品"))  # only in the newer list
    chooser = h.api.last(CADRE)
    await h.feed(u.press(chooser.message_id, newer))
    assert "食品安全协管巡查与信息报告" in h.api.last(CADRE).text


async def test_item_card_shows_a_filled_field_its_part_does_not_list(harness):
    h = harness
    items = [*ITEMS[:4], DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, category="市场监管",
                                  receiving_department="县市场监管局", working_mode="发现报告",
                                  content="乡镇负责日常巡查，发现隐患及时报告")]
    c, _ = await open_consultation(h, items=items)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    card = h.api.last(CADRE).text
    assert "<b>具体内容</b>：乡镇负责日常巡查，发现隐患及时报告" in card
    assert "<b>承接部门</b>：县市场监管局" in card and "上级部门职责" not in card


async def test_item_card_shows_every_field_of_its_part_and_the_comment_button_for_cadres(harness):
    h = harness
    c, code = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "消防安全检查与火灾隐患整治")
    card = h.api.last(CADRE)
    for line in ("<b>消防安全检查与火灾隐患整治</b>", "<b>序号</b>：1", "<b>领域</b>：平安法治",
                 "<b>对应上级部门</b>：县消防救援大队", "<b>乡镇（街道）配合职责</b>：巡查发现报告",
                 "<b>依据</b>：《消防法》", "所属部分：配合履职事项"):
        assert line in card.text, line
    assert "已经提了" not in card.text  # (said only once they have)
    assert [t for t, _ in buttons(card.reply_markup)] == ["✍️ 提意见", "« 返回事项列表"]
    # a resident who came through the link sees the card read-only
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    await _tap(h, r, "开始答题")
    await _open_card(h, r, c, "特种设备安全监管")
    card = h.api.last(RESIDENT)
    assert "<b>承接部门</b>：县市场监管局" in card.text and "收回后工作方式" not in card.text
    assert [t for t, _ in buttons(card.reply_markup)] == ["« 返回事项列表"]


# --- comments ------------------------------------------------------------------------------------------


async def test_comment_with_kind_text_and_proposed_wording_is_stored(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    kinds = [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
    # a basic item: no "should be basic"
    assert kinds[:5] == ["应调整为配合履职事项", "建议收回", "依据缺失或有误", "表述不清", "其他"]
    await _tap(h, u, "依据缺失或有误")
    assert "请直接输入您的意见" in h.api.last(CADRE).text
    await h.feed(u.message("还应列明《信访工作条例》"))
    assert "已保存" in h.api.last(CADRE).text
    await h.feed(u.message("矛盾纠纷排查化解、人民调解和信访工作"))
    assert "已保存建议的表述" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    async with h.sessions() as s:
        qingshan = await get_township(s, "青山镇")
    assert (comment.consultation_id, comment.item_id, comment.person_id, comment.township_id) == \
        (c, await _item_id(h, "矛盾纠纷排查化解与人民调解"), CADRE, qingshan.id)
    assert (comment.kind, comment.text, comment.proposed_wording) == \
        ("basis", "还应列明《信访工作条例》", "矛盾纠纷排查化解、人民调解和信访工作")
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    assert "已经提了 1 条意见" in h.api.last(CADRE).text
    assert "我对这个事项的意见（1条）" in [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]


async def test_skipping_the_proposed_wording_keeps_the_comment(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    assert "意见已保存" in h.api.last(CADRE).text
    await h.feed(u.message("随便说点什么"))  # no longer a wording
    [comment] = await _comments(h)
    assert comment.text == "同意收回" and comment.proposed_wording == ""


async def test_skipping_an_earlier_comments_wording_keeps_the_later_ones_prompt(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    first = h.api.last(CADRE)  # "saved; the proposed wording?" with its skip button
    await _comment(h, u, c, "矛盾纠纷排查化解与人民调解", "表述不清", "表述太笼统")
    await h.feed(u.press(first.message_id, _data(first.reply_markup, "跳过")))
    await h.feed(u.message("矛盾纠纷排查化解和人民调解工作"))  # the wording asked for the second comment
    assert "已保存建议的表述" in h.api.last(CADRE).text
    first_comment, second_comment = await _comments(h)
    assert first_comment.proposed_wording == "" and second_comment.proposed_wording == "矛盾纠纷排查化解和人民调解工作"


async def test_back_from_the_comment_text_prompt_drops_the_comment(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    assert "请直接输入您的意见" in h.api.last(CADRE).text
    await _tap(h, u, "« 返回事项")  # changed their mind
    await h.feed(u.message("好的，谢谢"))  # a later message is not a comment on that item
    assert await _comments(h) == []


async def test_moving_on_to_another_item_ends_the_proposed_wording_prompt(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    assert "表述" in h.api.last(CADRE).text  # asked for a proposed wording
    i = await _item_id(h, "矛盾纠纷排查化解与人民调解")
    await h.feed(u.press(1, ItemCB(c=c, i=i).pack()))  # moves on (a card from an earlier list) without answering
    await h.feed(u.message("这项没问题"))
    [comment] = await _comments(h)
    assert comment.proposed_wording == ""


async def test_back_from_editing_a_comment_keeps_its_text(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改")
    await _tap(h, u, "« 返回我的意见")  # changed their mind
    await h.feed(u.message("好的"))
    [comment] = await _comments(h)
    assert comment.text == "同意收回"


async def test_edit_and_withdraw_own_comment_from_mycomments(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "表述不清", "看不懂")
    await h.feed(u.message("/mycomments"))
    mine = h.api.last(CADRE)
    [comment] = await _comments(h)
    assert f"#{comment.id}" in mine.text and "[待答复] 表述不清" in mine.text and "看不懂" in mine.text
    await _tap(h, u, "修改 #")
    assert "原来的内容" in h.api.last(CADRE).text
    await h.feed(u.message("“特种设备”指哪些设备，应写清楚"))
    assert "已修改" in h.api.last(CADRE).text
    assert (await _comments(h))[0].text == "“特种设备”指哪些设备，应写清楚"
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "撤回 #")
    assert "确定撤回" in h.api.last(CADRE).text
    await _tap(h, u, "确定撤回")
    assert "[已撤回]" in h.api.last(CADRE).text
    assert not any(t.startswith("修改") for t, _ in buttons(h.api.last(CADRE).reply_markup))
    assert (await _comments(h))[0].status == "withdrawn"


async def test_answered_comment_shows_its_answer_and_can_no_longer_be_changed(harness):
    from storage.comments import answer_comment

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意")
    [comment] = await _comments(h)
    async with h.sessions() as s:
        await answer_comment(s, comment.id, "partly", "已在备注中说明", ORGANIZER, h.clock.now)
        await s.commit()
    await h.feed(u.message("/mycomments"))
    assert "[部分采纳]" in h.api.last(CADRE).text and "答复：已在备注中说明" in h.api.last(CADRE).text
    await h.feed(u.press(h.api.last(CADRE).message_id, MineCB(a="e", m=comment.id).pack()))
    assert "已经答复" in _alert(h)


async def test_missing_item_proposal_is_stored_with_name_part_category_basis_and_why(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    assert "第 1/6 步" in h.api.last(CADRE).text
    await h.feed(u.message("农村公路日常养护"))
    await _tap(h, u, "配合履职事项")
    assert "平安法治" in [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
    await h.feed(u.message("交通运输"))  # a category typed in
    await h.feed(u.message("《公路法》"))
    assert "第 5/6 步" in h.api.last(CADRE).text and "县级部门" in h.api.last(CADRE).text
    await h.feed(u.message("县交通运输局"))
    await h.feed(u.message("乡镇实际承担巡查和报告"))
    assert "已收到您提出的遗漏事项" in h.api.last(CADRE).text and "县级部门：县交通运输局" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert comment.kind == "missing" and comment.item_id is None and comment.consultation_id == c
    assert comment.missing == {"name": "农村公路日常养护", "part": "cooperating", "category": "交通运输",
                               "basis": "《公路法》", "department": "县交通运输局"}
    assert comment.text == "乡镇实际承担巡查和报告"


async def test_missing_items_category_step_of_a_part_with_very_many_categories_keeps_within_100_buttons(harness):
    """/missing's category step had a button per category of the part: a draft whose 领域 column
    holds 120 values made it 120 buttons, which Telegram refuses, and the cadre got no step 3.
    The first categories get buttons, the prompt says the rest can be typed, and one typed is taken."""
    h = harness
    items = [DutyItem(Part.BASIC, f"事项{k:03d}", seq=k + 1, category=f"类别{k:03d}") for k in range(120)]
    await open_consultation(h, items=items)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道日常巡查"))
    await _tap(h, u, "基本履职事项")
    step = h.api.last(CADRE)
    assert "第 3/6 步" in step.text and 0 < len(buttons(step.reply_markup)) <= 100
    await h.feed(u.message("类别119"))
    assert "第 4/6 步" in h.api.last(CADRE).text


async def test_missing_item_from_the_part_menu_button_with_category_button_and_skipped_basis(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/list"))
    await _tap(h, u, "➕ 提出遗漏事项")
    await h.feed(u.message("河湖巡查"))
    await h.feed(u.message("不清楚"))  # typed where a button is expected (and naming none)
    assert "请点下面的按钮" in h.api.last(CADRE).text
    await _tap(h, u, "基本履职事项")
    await _tap(h, u, "平安法治")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")  # the county department: not known
    await h.feed(u.message("河长制要求"))
    [comment] = await _comments(h)
    assert comment.missing == {"name": "河湖巡查", "part": "basic", "category": "平安法治", "basis": "",
                               "department": ""}


# --- off-list reports ------------------------------------------------------------------------------------


async def test_report_an_off_list_task_is_stored_with_the_open_consultation(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    assert "第 1/5 步" in h.api.last(CADRE).text
    await h.feed(u.message("县住建局"))
    await h.feed(u.message("自建房安全排查数据录入"))
    await h.feed(u.message("2026年11月"))
    await h.feed(u.message("打电话说的"))  # typed where a button is expected (and naming none)
    assert "请点下面的按钮" in h.api.last(CADRE).text
    await _tap(h, u, "工作群")
    await h.feed(u.message("要求三天内完成，占用两名干部"))
    assert "已收到您的报告" in h.api.last(CADRE).text
    async with h.sessions() as s:
        [report] = (await s.scalars(sa.select(OffListReport))).all()
        qingshan = await get_township(s, "青山镇")
    assert (report.consultation_id, report.person_id, report.township_id) == (c, CADRE, qingshan.id)
    assert (report.department, report.task, report.assigned_on, report.method, report.details) == \
        ("县住建局", "自建房安全排查数据录入", "2026年11月", "group", "要求三天内完成，占用两名干部")
    await h.feed(u.message("/myreports"))
    assert "自建房安全排查数据录入" in h.api.last(CADRE).text and "工作群" in h.api.last(CADRE).text


async def test_report_between_consultations_goes_with_the_townships_latest(harness):
    h = harness
    from surveys.consultation import Status

    cid, _ = await open_consultation(h, status=Status.CLOSED)  # none open: the latest takes it
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    for text in ("县应急局", "防汛值班", "上周"):
        await h.feed(u.message(text))
    await _tap(h, u, "会议")
    await _tap(h, u, "跳过")
    async with h.sessions() as s:
        [report] = (await s.scalars(sa.select(OffListReport))).all()
    assert report.consultation_id == cid and report.method == "meeting" and report.details == ""
    await h.feed(h.user(ORGANIZER).message(f"/stats {cid}"))  # where the organizers see it
    assert "清单外事项报告</b>：共 1 条" in h.api.last(ORGANIZER).text


async def test_a_report_filed_before_any_consultation_goes_with_the_townships_first_one(harness):
    """A report filed while no consultation of the township had opened was stored with none, and
    no digest, /stats or report ever showed it: the township's first consultation takes it when it
    opens (another township's stays where it is)."""
    h = harness
    from surveys.consultation import Status

    cid, _ = await open_consultation(h, status=Status.DRAFT)
    await open_consultation(h, township="绿水乡", status=Status.DRAFT)
    u = await _cadre(h)
    await _file_report(h, u, "防汛值班")
    other = await _cadre(h, user=CADRE + 1, township="绿水乡")
    await _file_report(h, other, "森林防火巡查")
    async with h.sessions() as s:
        assert [r.consultation_id for r in (await s.scalars(sa.select(OffListReport))).all()] == [None, None]
    org = h.user(ORGANIZER)
    await h.feed(org.message(f"/open {cid}"))
    async with h.sessions() as s:
        reports = {r.task: r.consultation_id for r in (await s.scalars(sa.select(OffListReport))).all()}
    assert reports == {"防汛值班": cid, "森林防火巡查": None}
    await h.feed(org.message(f"/stats {cid}"))
    assert "清单外事项报告</b>：共 1 条" in h.api.last(ORGANIZER).text
    await h.feed(org.message(f"/digest {cid}"))
    assert "新清单外事项报告 1 条" in h.api.last(ORGANIZER, "sendMessage").text


async def _file_report(h, u, task: str) -> None:
    await h.feed(u.message("/report"))
    for text in ("县应急局", task, "上周"):
        await h.feed(u.message(text))
    await _tap(h, u, "会议")
    await _tap(h, u, "跳过")


async def test_a_cadre_withdraws_their_own_off_list_report_after_confirming(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _file_report(h, u, "防汛值班")
    await _file_report(h, u, "森林防火巡查")
    await h.feed(u.message("/myreports"))
    async with h.sessions() as s:
        first, second = (await s.scalars(sa.select(OffListReport).order_by(OffListReport.id))).all()
    listing = h.api.last(CADRE)
    assert [t for t, _ in buttons(listing.reply_markup)] == [f"撤回 #{second.id}", f"撤回 #{first.id}"]
    await _tap(h, u, f"撤回 #{first.id}")
    assert "确定撤回报告" in h.api.last(CADRE).text and "防汛值班" in h.api.last(CADRE).text
    await _tap(h, u, "不撤回")  # changed their mind: the list again, nothing deleted
    assert "我报告的清单外事项" in h.api.last(CADRE).text
    async with h.sessions() as s:
        assert len((await s.scalars(sa.select(OffListReport))).all()) == 2
    await _tap(h, u, f"撤回 #{first.id}")
    confirm = h.api.last(CADRE)
    await _tap(h, u, "确定撤回")
    assert f"报告 #{first.id} 已撤回" in h.api.last(CADRE).text
    async with h.sessions() as s:
        assert [r.task for r in (await s.scalars(sa.select(OffListReport))).all()] == ["森林防火巡查"]
    # the confirmation pressed again (a double tap, a stale message): nothing more happens
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定撤回")))
    assert "找不到这条报告" in _alert(h)
    async with h.sessions() as s:
        assert len((await s.scalars(sa.select(OffListReport))).all()) == 1


async def test_an_off_list_report_cannot_be_withdrawn_by_another_cadre_or_after_its_consultation_closed(harness):
    from bot.routers.cadre import ReportCB
    from storage.consultations import set_status
    from storage.models import Consultation
    from surveys.consultation import Status

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    other = await _cadre(h, OTHER_CADRE)
    await _file_report(h, u, "防汛值班")
    async with h.sessions() as s:
        [report] = (await s.scalars(sa.select(OffListReport))).all()
    await h.feed(other.press(1, ReportCB(a="y", v=str(report.id)).pack()))  # forged: not theirs
    assert "这不是您的报告" in _alert(h)
    await h.feed(u.press(1, ReportCB(a="y", v="99999999999999999999").pack()))  # beyond any id
    assert "找不到这条报告" in _alert(h)
    h.clock.advance(hours=1)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, c), Status.CLOSED, h.clock.now)
        await s.commit()
    await h.feed(u.message("/myreports"))
    assert h.api.last(CADRE).reply_markup is None  # collected in the final report: no 撤回 button
    await h.feed(u.press(1, ReportCB(a="y", v=str(report.id)).pack()))
    assert "已经截止" in _alert(h)
    async with h.sessions() as s:
        assert len((await s.scalars(sa.select(OffListReport))).all()) == 1
    h.clock.advance(hours=1)
    await _file_report(h, u, "森林防火巡查")  # filed after the close, with the latest: still its author's to take back
    await h.feed(u.message("/myreports"))
    async with h.sessions() as s:
        late = (await s.scalars(sa.select(OffListReport).order_by(OffListReport.id.desc()))).first()
    assert late.consultation_id == c
    assert [t for t, _ in buttons(h.api.last(CADRE).reply_markup)] == [f"撤回 #{late.id}"]


# --- refusals ------------------------------------------------------------------------------------------


async def test_residents_and_unverified_people_get_only_cadres_for_cadre_commands(harness):
    h = harness
    await open_consultation(h)
    async with h.sessions() as s:  # claims the cadre role but was never bound to a township
        s.add(Person(id=OTHER_CADRE, role="cadre"))
        await s.commit()
    for user in (RESIDENT, OTHER_CADRE):
        u = h.user(user)
        for command in ("/mycomments", "/missing", "/report", "/myreports"):
            await h.feed(u.message(command))
            assert "只对经过邀请验证的乡镇（街道）干部开放" in h.api.last(user).text, (user, command)
        await h.feed(u.message("/list"))
        assert "您还没有参加意见征询" in h.api.last(user).text
    assert await _comments(h) == []
    async with h.sessions() as s:
        assert (await s.scalars(sa.select(OffListReport))).all() == []


async def test_resident_forging_a_comment_button_writes_nothing(harness):
    h = harness
    c, code = await open_consultation(h)
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    i = await _item_id(h, "特种设备安全监管")
    await h.feed(r.press(1, CommentCB(c=c, i=i, k="other").pack()))
    assert "只对经过邀请验证" in _alert(h)
    await h.feed(r.message("这是一条伪造的意见"))
    assert await _comments(h) == []


async def test_forged_buttons_naming_another_township_item_or_consultation_do_nothing(harness):
    h = harness
    c1, _ = await open_consultation(h)
    c2, _ = await open_consultation(h, township="绿水镇")
    u = await _cadre(h)
    other_item = await _item_id(h, "特种设备安全监管", township="绿水镇")
    for data in (ItemCB(c=c1, i=other_item), ItemCB(c=c2, i=other_item), ListCB(c=c2), ListCB(c=c2, p="basic"),
                 CommentCB(c=c1, i=other_item, k="other"), CommentCB(c=c2, i=other_item, k="other"),
                 CommentCB(c=c2, i=other_item), ListCB(c=9999)):
        h.api.clear()
        await h.feed(u.press(1, data.pack()))
        assert [call.method for call in h.api.calls] == ["answerCallbackQuery"], data
        assert "没有权限" in _alert(h), data
    await h.feed(u.message("伪造的意见"))
    assert await _comments(h) == []


async def test_forged_buttons_on_someone_elses_comment_do_nothing(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    other = await _cadre(h, user=OTHER_CADRE)
    await _comment(h, u, c, "特种设备安全监管", "其他", "我的意见")
    [comment] = await _comments(h)
    await h.feed(other.message("/mycomments"))
    assert "您还没有提过意见" in h.api.last(OTHER_CADRE).text  # cannot read others' comments
    for action in ("e", "w", "y", "s"):
        await h.feed(other.press(1, MineCB(a=action, m=comment.id).pack()))
        assert "没有权限" in _alert(h), action
    await h.feed(other.message("改掉别人的意见"))
    [after] = await _comments(h)
    assert (after.text, after.status, after.proposed_wording) == ("我的意见", "open", "")


async def test_a_10000_character_comment_is_refused_clearly_and_nothing_is_stored(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "长" * 10_000)
    text = h.api.last(CADRE).text
    assert "最多 2000 字" in text and "10000 字" in text and "没有保存" in text
    assert await _comments(h) == []
    await h.feed(u.message("短一点的意见"))  # still in the text step
    assert [x.text for x in await _comments(h)] == ["短一点的意见"]


async def test_a_flood_of_100_comments_in_a_minute_is_throttled_after_the_limit(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    i = await _item_id(h, "特种设备安全监管")
    for n in range(100):
        await h.feed(u.press(1, CommentCB(c=c, i=i, k="other").pack()))
        await h.feed(u.message(f"意见 {n}"))
        if n % 10 == 0:
            h.clock.advance(seconds=6)
    assert len(await _comments(h)) == 20
    assert "您提交得太快了" in _alert(h) and "10 分钟内最多提 20 条" in _alert(h)
    h.clock.advance(minutes=11)  # the window has passed: allowed again
    await h.feed(u.press(1, CommentCB(c=c, i=i, k="other").pack()))
    await h.feed(u.message("过了十分钟"))
    assert len(await _comments(h)) == 21


async def test_after_the_deadline_comments_edits_and_withdrawals_are_refused(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "截止前的意见")
    i = await _item_id(h, "特种设备安全监管")
    await h.feed(u.press(1, CommentCB(c=c, i=i, k="other").pack()))  # now typing a second one…
    h.clock.advance(days=11)  # …past the deadline
    await h.feed(u.message("截止后的意见"))
    assert "截止" in h.api.last(CADRE).text
    await h.feed(u.press(1, CommentCB(c=c, i=i, k="other").pack()))
    assert "已于" in _alert(h) and "截止" in _alert(h)
    [comment] = await _comments(h)
    for action in ("e", "w", "y"):
        await h.feed(u.press(1, MineCB(a=action, m=comment.id).pack()))
        assert "已经截止" in _alert(h), action
    await _open_card(h, u, c, "特种设备安全监管")
    assert "✍️ 提意见" not in [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
    await h.feed(u.message("/missing"))
    assert "截止" in h.api.last(CADRE).text
    [after] = await _comments(h)
    assert (after.text, after.status) == ("截止前的意见", "open")


def test_sample_items_are_the_shared_ones() -> None:
    assert ITEMS[3].name == "消防安全检查与火灾隐患整治"  # the card test relies on it


async def test_button_data_with_ids_too_large_for_the_database_is_a_stale_button(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    i = await _item_id(h, "特种设备安全监管")
    big = 10**25
    await h.feed(u.message("/list"))
    message_id = h.api.last(CADRE).message_id
    for data in (f"cl:{big}::-1:0", f"cl:{c}:basic:{big}:0", f"ci:{big}:{i}:0", f"ci:{c}:3000000000:0",
                 f"cf:{c}:{big}", f"cc:{c}:{big}:", f"cm:e:{big}:0:0", f"cm:y:{big}:0:0", f"cx:{big}::"):
        h.api.clear()
        await h.feed(u.press(message_id, data))
        assert [a.text for a in h.api.answers()] == ["这个按钮已经失效了。"], data
    assert await _comments(h) == []


async def test_delete_me_forgets_who_used_an_invite_and_the_invite_stays_used(harness):
    from storage.models import Invite

    h = harness
    await open_consultation(h)
    code = await _invite(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{code}"))
    assert (await _person(h, CADRE)).role == "cadre"
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(CADRE)
    h.api.clear()
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    async with h.sessions() as s:
        invite = await s.get(Invite, code)
        assert invite.used_by is None and invite.used_at is not None  # no Telegram id kept; still used
    menus = [c for c in h.api.calls if c.method == "setMyCommands"]
    # everybody's menu again, in each language and the default
    assert len(menus) == 3 and all("list" not in {x.command for x in c.call.commands} for c in menus)
    h.api.clear()
    await h.feed(u.message(f"/start inv_{code}"))  # the same link again: used, not "you are already a cadre"
    assert "已经被使用过" in h.api.last(CADRE).text
    assert (await _person(h, CADRE)).role == "resident"


async def test_no_telegram_name_is_kept_of_a_resident_or_a_cadre_but_an_organizers_is(harness):
    """Nothing the bot does needs a resident's or a cadre's name (reports use pseudonyms, /mydata the
    id): it kept every first name all the same, and renamed people's changes too; it keeps none now.
    An organizer's is kept: the other organizers read who answered a comment or moved a deadline."""
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    await h.feed(Updates(CADRE, first_name="李建国").message(f"/start inv_{code}"))
    await h.feed(Updates(CADRE, first_name="李建国（青山镇）").message("/mydata"))
    await h.feed(Updates(7101, first_name="张大爷").message("/start"))
    await h.feed(Updates(ORGANIZER, first_name="王主任").message("/mydata"))
    assert (await _person(h, CADRE)).role == "cadre"
    async with h.sessions() as s:
        names = dict((await s.execute(sa.select(Person.id, Person.first_name))).all())
    assert names == {CADRE: "", 7101: "", ORGANIZER: "王主任"}
    mydata = h.api.last(CADRE).text
    assert "李建国" not in mydata and str(CADRE) in mydata and "称呼" not in mydata


async def test_the_kinds_offered_leave_out_a_move_to_the_items_own_part(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    for name, absent in (("特种设备安全监管", "建议收回"), ("消防安全检查与火灾隐患整治", "应调整为配合履职事项")):
        await _open_card(h, u, c, name)
        await _tap(h, u, "✍️ 提意见")
        kinds = [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
        assert absent not in kinds and "其他" in kinds, (name, kinds)
    i = await _item_id(h, "特种设备安全监管")
    h.api.clear()
    await h.feed(u.press(1, CommentCB(c=c, i=i, k="withdraw").pack()))
    assert [a.text for a in h.api.answers()] == ["这个按钮已经失效了。"]  # a forged one is refused


async def test_an_organizer_tapping_a_cadre_invite_leaves_it_for_the_cadre(harness):
    from tests.bot.conftest import ORGANIZER

    h = harness
    await open_consultation(h)
    code = await _invite(h)
    await h.feed(h.user(ORGANIZER).message(f"/start inv_{code}"))
    assert "仍然有效" in h.api.last(ORGANIZER).text
    assert not [c for c in h.api.calls if c.method == "setMyCommands"]
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))
    assert (await _person(h, CADRE)).role == "cadre"


async def test_an_organizer_tapping_a_dead_cadre_invite_is_not_told_it_still_works(harness):
    from tests.bot.conftest import ORGANIZER

    h = harness
    await open_consultation(h)
    used = await _invite(h)
    await h.feed(h.user(CADRE).message(f"/start inv_{used}"))
    expired = await _invite(h, expires=timedelta(hours=1))
    revoked = await _invite(h)
    async with h.sessions() as s:
        await revoke(s, revoked, h.clock.now)
        await s.commit()
    h.clock.advance(hours=2)
    for code, status in ((used, "已使用"), (expired, "已过期"), (revoked, "已作废")):
        await h.feed(h.user(ORGANIZER).message(f"/start inv_{code}"))
        text = h.api.last(ORGANIZER).text
        assert "仍然有效" not in text and status in text and "/invite" in text, (status, text)
    assert (await _person(h, ORGANIZER)).role == "resident"  # (an organizer by ORGANIZER_IDS: nothing written)


async def test_an_invite_tapped_by_someone_who_already_holds_its_role_stays_unused(harness):
    from tests.bot.conftest import ORGANIZER

    h = harness
    await open_consultation(h)
    # an organizer checking the organizer invite they just made
    for_organizer = await _invite(h, role="organizer")
    await h.feed(h.user(ORGANIZER).message(f"/start inv_{for_organizer}"))
    assert "仍然有效" in h.api.last(ORGANIZER).text
    # a verified cadre of 青山镇 tapping another 青山镇 invite (one meant for a colleague)
    await _cadre(h)
    for_colleague = await _invite(h)
    await h.feed(h.user(CADRE).message(f"/start inv_{for_colleague}"))
    assert "已经是<b>青山镇</b>的干部" in h.api.last(CADRE).text and "仍然有效" in h.api.last(CADRE).text
    async with h.sessions() as s:
        assert (await s.get(Invite, for_organizer)).used_at is None
        assert (await s.get(Invite, for_colleague)).used_at is None
    await h.feed(h.user(OTHER_CADRE).message(f"/start inv_{for_colleague}"))
    assert (await _person(h, OTHER_CADRE)).role == "cadre"
    await h.feed(h.user(RESIDENT).message(f"/start inv_{for_organizer}"))
    assert (await _person(h, RESIDENT)).role == "organizer"


async def test_personal_data_commands_are_not_answered_in_a_group_chat(harness):
    """/delete_me, /mydata and the rest are one person's business: in a group the bot
    answers none of them, so nobody else there can press "delete" under another's prompt."""
    from datetime import UTC, datetime

    from aiogram.types import Chat, Message, MessageEntity, Update

    h = harness
    await open_consultation(h)
    await _cadre(h)
    other = await _cadre(h, OTHER_CADRE)
    group = Chat(id=-100123, type="supergroup", title="青山镇干部群")
    h.api.clear()
    for n, command in enumerate(("/delete_me", "/mydata", "/help", "/language", "/cancel", "/nonsense")):
        msg = Message(message_id=50 + n, date=datetime.now(UTC), chat=group, from_user=other.user, text=command,
                      entities=[MessageEntity(type="bot_command", offset=0, length=len(command))])
        await h.feed(Update(update_id=other.next_id(), message=msg))
    assert [c for c in h.api.calls if c.chat_id == group.id] == []
    assert (await _person(h, OTHER_CADRE)).role == "cadre"


async def test_a_group_chat_stores_nobody_and_wakes_nobody_who_blocked_the_bot(harness):
    """The bot added to a group sees its members' commands there: it answers none, and keeps
    nothing of them — nobody who never wrote to it is stored, and nobody who blocked it is
    taken as active again (a message in a group says nothing of their private chat)."""
    from datetime import UTC, datetime

    from aiogram.types import (
        Chat,
        ChatMemberLeft,
        ChatMemberMember,
        ChatMemberUpdated,
        Message,
        MessageEntity,
        Update,
        User,
    )

    from bot.testing import TEST_TOKEN

    h = harness
    _, code = await open_consultation(h)
    resident = h.user(RESIDENT)
    await h.feed(resident.message("/start"))  # (stored: a /start)
    await h.feed(resident.block())
    stranger = h.user(8001)
    group = Chat(id=-100123, type="supergroup", title="青山镇居民群")
    h.api.clear()
    me = User(id=int(TEST_TOKEN.split(":")[0]), is_bot=True, first_name="Qingdan")
    added = ChatMemberUpdated(chat=group, from_user=stranger.user, date=datetime.now(UTC),
                              old_chat_member=ChatMemberLeft(user=me), new_chat_member=ChatMemberMember(user=me))
    await h.feed(Update(update_id=stranger.next_id(), my_chat_member=added))  # the bot added to the group
    for n, (u, text) in enumerate(((stranger, f"/start@qingdan_test_bot {code}"), (stranger, "大家好"),
                                   (resident, "/help@qingdan_test_bot"), (resident, "有人填了问卷吗"))):
        entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))] \
            if text.startswith("/") else None
        msg = Message(message_id=60 + n, date=datetime.now(UTC), chat=group, from_user=u.user, text=text,
                      entities=entities)
        await h.feed(Update(update_id=u.next_id(), message=msg))
    assert h.api.calls == []
    assert await _person(h, 8001) is None
    assert (await _person(h, RESIDENT)).active is False


async def test_a_cadre_moved_to_another_township_is_not_told_they_are_still_a_cadre_of_the_old_one(harness):
    h = harness
    await open_consultation(h)
    await open_consultation(h, township="绿水乡")
    old = await _invite(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{old}"))
    await h.feed(u.message(f"/start inv_{await _invite(h, '绿水乡')}"))
    await _tap(h, u, "改为绿水乡的干部")
    assert "绿水乡" in h.api.last(CADRE).text
    await h.feed(u.message(f"/start inv_{old}"))  # the first link again
    text = h.api.last(CADRE).text
    assert "绿水乡" in text and "青山镇" not in text, text


async def test_cancel_in_a_comment_form_says_the_draft_was_dropped(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    await h.feed(u.message("/cancel"))
    assert "已取消" in h.api.last(CADRE).text and "没有保存" in h.api.last(CADRE).text
    await h.feed(u.message("/cancel"))
    assert "没有进行中" in h.api.last(CADRE).text
    assert await _comments(h) == []


async def test_text_of_invisible_characters_only_is_empty(harness):
    from storage.comments import check_text

    assert check_text("\u200b \u2060")[1] == "empty"
    assert check_text("\u200b意见")[1] is None


async def test_myreports_shows_ten_reports_of_the_longest_fields_in_one_message(harness):
    from datetime import timedelta

    from bot.limits import visible_units
    from storage.comments import add_report

    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    async with h.sessions() as s:
        person = await s.get(Person, CADRE)
        for n in range(10):
            await add_report(s, person_id=CADRE, township_id=person.township_id, consultation_id=None,
                             department="部" * 200, task="任" * 2000, assigned_on="时" * 100, method="meeting",
                             details="", now=h.clock.now + timedelta(minutes=n))
        await s.commit()
    await h.feed(u.message("/myreports"))
    text = h.api.last(CADRE).text
    assert visible_units(text) < 4096 and not text.endswith("…")  # fitted by the screen, not cut by the guard
    assert text.count("#") >= 10


async def _mycomments_of_five_answered(h, c: int, item: int, user: int, language: str,
                                      text: str, wording: str, answer: str) -> str:
    """A new cadre's five comments on `item`, each of the longest text, wording and answer
    (of those characters): their /mycomments page."""
    from storage.comments import MAX_TEXT, add_comment, answer_comment

    code = await _invite(h)
    u = h.user(user, language_code=language)
    await h.feed(u.message(f"/start inv_{code}"))
    async with h.sessions() as s:
        person = await s.get(Person, user)
        for n in range(5):
            k = await add_comment(s, consultation_id=c, item_id=item, person_id=user,
                                  township_id=person.township_id, kind="to_cooperating", text=text * MAX_TEXT,
                                  proposed_wording=wording * MAX_TEXT, now=h.clock.now + timedelta(minutes=n))
            await answer_comment(s, k.id, "partly", answer * MAX_TEXT, ORGANIZER, h.clock.now + timedelta(hours=1))
        await s.commit()
    await h.feed(u.message("/mycomments"))
    return h.api.last(user).text


async def test_mycomments_page_of_five_answered_comments_of_the_longest_fields_fits_one_message(harness):
    from bot.limits import visible_units

    h = harness
    long_name = "防汛抗旱、森林防灭火的预警转移和先期处置" * 6  # 120 characters
    c, _ = await open_consultation(h, items=[DutyItem(Part.BASIC, long_name, seq=1, category="应急管理")])
    item = await _item_id(h, long_name)
    for user, language, rule in ((CADRE, "zh-hans", "不能再修改或撤回"), (OTHER_CADRE, "en", "edited or withdrawn")):
        text = await _mycomments_of_five_answered(h, c, item, user, language, "意", "表", "答")
        assert visible_units(text) < 4096 and not text.endswith("…"), language  # fitted here, not cut by the guard
        assert text.count("答答答…") == 5 and rule in text, language  # every answer, shortened


async def test_moving_on_to_an_item_card_ends_the_edit_of_a_comment(harness):
    # 修改 on a comment, then on to an item's card (as back to /mycomments does): what is typed
    # there is not the comment's new text
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改")
    i = await _item_id(h, "矛盾纠纷排查化解与人民调解")
    await h.feed(u.press(1, ItemCB(c=c, i=i).pack()))
    await h.feed(u.message("这项没问题"))
    [comment] = await _comments(h)
    assert comment.text == "同意收回"


async def test_mycomments_page_fits_one_message_also_with_characters_telegram_counts_twice(harness):
    # Telegram counts UTF-16 units: an emoji (or a rare CJK character beyond the BMP) is two,
    # so fields shortened by characters let a page of five pass 4,096 and be cut
    from bot.limits import visible_units

    h = harness
    long_name = "𠀀" * 120
    c, _ = await open_consultation(h, items=[DutyItem(Part.BASIC, long_name, seq=1, category="应急管理")])
    item = await _item_id(h, long_name)
    text = await _mycomments_of_five_answered(h, c, item, CADRE, "zh-hans", "😀", "🙂", "👍")
    assert visible_units(text) < 4096 and not text.endswith("…")  # fitted here, not cut by the guard
    assert text.count("👍…") == 5 and "不能再修改或撤回" in text  # every answer, shortened (none can change)


async def test_find_chooser_lets_the_cadre_try_the_other_list_too(harness):
    # /find with two lists asks which one; a cadre who picked the list without the item goes
    # back to the chooser and picks the other (as with /list), and is not told to search again
    h = harness
    await open_consultation(h)  # the older one: ITEMS
    await _open_alongside(h, MANY)  # the newer one
    u = await _cadre(h)
    await h.feed(u.message("/find 消防"))  # only in the older list
    chooser = h.api.last(CADRE)
    newer, older = (data for _, data in buttons(chooser.reply_markup))
    await h.feed(u.press(chooser.message_id, newer))
    assert "消防安全检查与火灾隐患整治" not in h.api.last(CADRE).text
    await h.feed(u.press(chooser.message_id, older))
    assert h.api.answers()[-1].text is None  # not "search again"
    assert "消防安全检查与火灾隐患整治" in h.api.last(CADRE).text


async def test_english_find_and_card_follow_the_number(harness):
    h = harness
    cid, _ = await open_consultation(h)
    u = await _cadre(h)
    u = Updates(CADRE, language_code="en")
    await h.feed(u.message("/find 消防"))
    hits = h.api.last(CADRE).text
    assert "1 item(s)" not in hits and "“消防”: 1" in hits
    await _open_card(h, u, cid, "消防安全检查与火灾隐患整治")
    await _tap(h, u, "✍️ Comment")
    await _tap(h, u, "Other")
    await h.feed(u.message("这项应由县消防救援大队牵头"))
    await _open_card(h, u, cid, "消防安全检查与火灾隐患整治")
    assert "You have made 1 comment on this item." in h.api.last(CADRE).text


async def test_english_cadre_screens_call_a_category_what_the_workbook_calls_it(harness):
    # 领域 was "Area" in the chat but "Category" in the workbook, the import and lint messages
    from surveys.i18n import gettext

    h = harness
    cid, _ = await open_consultation(h)
    u = await _cadre(h)
    u = Updates(CADRE, language_code="en")
    category = gettext("report.col.category", "en")
    await _open_card(h, u, cid, "矛盾纠纷排查化解与人民调解")
    assert f"<b>{category}</b>: 平安法治" in h.api.last(CADRE).text
    await h.feed(u.message("/list"))
    await _tap(h, u, "Basic duties")
    assert f"Choose a {category.lower()}:" in h.api.last(CADRE).text
    await _tap(h, u, "平安法治")
    assert _data(h.api.last(CADRE).reply_markup, "« Back to the categories")


async def test_the_default_command_menu_is_in_the_bots_locale(harness):
    from bot.app import set_commands

    h = harness
    await set_commands(h.bot, (), "en")
    menus = {c.call.language_code: c.call.commands for c in h.api.calls if c.method == "setMyCommands"}
    assert set(menus) == {"zh", "en", None}
    assert menus[None] == menus["en"] and menus["zh"] != menus["en"]  # others get English, as they chat


async def test_delete_me_handled_too_late_to_answer_the_press_still_deletes(harness):
    # a press handled late (the bot restarting, a backlog) can no longer be answered: Telegram
    # refuses the answer as "query is too old", which stopped the handler before it deleted anything
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import AnswerCallbackQuery

    h = harness
    await open_consultation(h)
    code = await _invite(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{code}"))
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(CADRE)
    h.api.fail_with["answerCallbackQuery"] = TelegramBadRequest(
        AnswerCallbackQuery(callback_query_id="-"),
        "Bad Request: query is too old and response timeout expired or query ID is invalid")
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    assert not h.api.fail_with and "已删除关于您的全部信息" in h.api.last(CADRE).text
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None


async def test_a_nul_character_in_typed_texts_is_dropped_and_the_rest_stored(harness):
    """PostgreSQL refuses NUL in text: an invite code, a comment, its wording and an
    off-list report's fields typed with one (a paste, a client that sends it) are taken
    without it."""
    h = harness
    c, _ = await open_consultation(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{await _invite(h)}\x00"))
    assert (await _person(h, CADRE)).role == "cadre"
    await _comment(h, u, c, "矛盾纠纷排查化解与人民调解", "其他", "意见\x00文本")
    await h.feed(u.message("建议\x00表述"))
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("意见文本", "建议表述")
    await h.feed(u.message("/report"))
    for text in ("县\x00住建局", "填报\x00报表", "11\x00月"):
        await h.feed(u.message(text))
    await _tap(h, u, "工作群")
    await h.feed(u.message("每月\x00一次"))
    async with h.sessions() as s:
        report = await s.scalar(sa.select(OffListReport))
    assert (report.department, report.task, report.assigned_on, report.details) == \
        ("县住建局", "填报报表", "11月", "每月一次")


async def test_a_comment_edited_in_telegram_is_not_taken_as_its_proposed_wording(harness):
    """(The edit changes the comment itself: see the test of a comment message edited in Telegram.)"""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "依据缺失或有误")
    sent = u.message("还应列明《信访工作条例》")
    await h.feed(sent)
    await h.feed(u.edit(sent, "还应列明《信访工作条例》第十条"))
    assert "已按您修改后的消息更新" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("还应列明《信访工作条例》第十条", "")  # the wording prompt took nothing


async def test_skipping_a_reports_details_on_a_prompt_too_old_to_edit_saves_the_report(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    for text in ("县住建局", "自建房安全排查数据录入", "2026年11月"):
        await h.feed(u.message(text))
    await _tap(h, u, "工作群")
    prompt = h.api.last(CADRE)
    await h.feed(u.press(prompt.message_id, _data(prompt.reply_markup, "跳过"), old=True))
    assert "已收到您的报告" in h.api.last(CADRE).text
    async with h.sessions() as s:
        [report] = (await s.scalars(sa.select(OffListReport))).all()
    assert (report.task, report.details) == ("自建房安全排查数据录入", "")


async def test_an_album_sent_at_a_comment_prompt_is_asked_for_text_once(harness):
    from aiogram.types import PhotoSize

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "依据缺失或有误")
    h.api.clear()
    for n in range(4):
        await h.feed(u.message(photo=[PhotoSize(file_id=f"p{n}", file_unique_id=f"p{n}", width=1, height=1)],
                               media_group_id="album-1"))
    assert len(h.api.texts(CADRE)) == 1 and "需要输入文字" in h.api.texts(CADRE)[0]
    await h.feed(u.message("还应列明《信访工作条例》"))  # still at the prompt
    assert "已保存" in h.api.last(CADRE).text


async def test_a_photo_with_a_caption_at_a_comment_prompt_says_the_caption_was_not_taken_either(harness):
    from aiogram.types import PhotoSize

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "矛盾纠纷排查化解与人民调解")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "依据缺失或有误")
    await h.feed(u.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)],
                           caption="还应列明《信访工作条例》"))
    assert "需要输入文字" in h.api.last(CADRE).text and "请把文字单独发一次" in h.api.last(CADRE).text
    assert await _comments(h) == []


# --- 跳过 on a prompt moved on from, tapped twice, or of an earlier run ---------------------------------


async def _reports(h) -> list[OffListReport]:
    async with h.sessions() as s:
        return list((await s.scalars(sa.select(OffListReport).order_by(OffListReport.id))).all())


async def _report_to_details(h, u, task: str):
    """/report up to its details prompt (the one with 跳过); returns that prompt."""
    await h.feed(u.message("/report"))
    for text in ("县应急局", task, "上周"):
        await h.feed(u.message(text))
    await _tap(h, u, "会议")
    return h.api.last(CADRE)


async def test_a_double_tap_on_a_reports_skip_saves_it_once_and_says_so_without_an_alert(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    prompt = await _report_to_details(h, u, "防汛值班")
    skip = _data(prompt.reply_markup, "跳过")
    await h.feed(u.press(prompt.message_id, skip))
    await h.feed(u.press(prompt.message_id, skip))  # the second tap of a double tap
    answer = h.api.answers()[-1]
    assert answer.call.text == "这条报告已经保存了。" and not answer.call.show_alert
    assert [(r.task, r.details) for r in await _reports(h)] == [("防汛值班", "")]


async def test_the_skip_under_an_earlier_reports_details_prompt_does_not_save_a_later_report(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    first = await _report_to_details(h, u, "防汛值班")
    await h.feed(u.message("每周两次"))  # details typed: the prompt keeps its 跳过 button
    await _report_to_details(h, u, "自建房排查")
    await h.feed(u.press(first.message_id, _data(first.reply_markup, "跳过")))
    assert _alert(h) == "这条报告已经保存了。"
    assert [r.task for r in await _reports(h)] == ["防汛值班"]  # the second is still being written
    await h.feed(u.message("三天内完成"))
    assert [(r.task, r.details) for r in await _reports(h)] == [("防汛值班", "每周两次"), ("自建房排查", "三天内完成")]


async def _missing_to_basis(h, u, name: str):
    await h.feed(u.message("/missing"))
    await h.feed(u.message(name))
    await _tap(h, u, "基本履职事项")
    await _tap(h, u, "平安法治")
    return h.api.last(CADRE)


async def test_the_skip_under_an_earlier_proposals_basis_prompt_skips_nothing_of_a_later_one(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    first = await _missing_to_basis(h, u, "河湖巡查")
    await h.feed(u.message("《河长制工作规定》"))  # the basis typed: the prompt keeps its 跳过 button
    await h.feed(u.message("县水利局"))
    await h.feed(u.message("乡镇实际承担"))
    await _missing_to_basis(h, u, "山塘巡查")
    await h.feed(u.press(first.message_id, _data(first.reply_markup, "跳过")))
    # (a cadre's form, not the residents' questionnaire: no 请在最新的问题消息上作答)
    assert "之前的消息" in _alert(h) and "问题" not in _alert(h) and "最新那条消息" in _alert(h)
    await h.feed(u.message("《水库大坝安全管理条例》"))  # still the later proposal's basis
    await h.feed(u.message("县水利局"))
    await h.feed(u.message("汛期每天巡查"))
    assert [c.missing["basis"] for c in await _comments(h)] == ["《河长制工作规定》", "《水库大坝安全管理条例》"]


async def test_a_double_tap_on_a_proposals_part_category_or_skip_is_let_go_quietly(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河湖巡查"))
    for label in ("基本履职事项", "平安法治", "跳过", "跳过"):
        prompt = h.api.last(CADRE)
        data = _data(prompt.reply_markup, label)
        await h.feed(u.press(prompt.message_id, data))
        await h.feed(u.press(prompt.message_id, data))  # the second tap of a double tap
        answer = h.api.answers()[-1]
        assert answer.call.text is None and not answer.call.show_alert, label
    await h.feed(u.message("河长制要求"))
    [comment] = await _comments(h)
    assert comment.missing == {"name": "河湖巡查", "part": "basic", "category": "平安法治", "basis": "",
                               "department": ""}


async def test_skipping_the_wording_of_a_comment_withdrawn_since_does_not_say_it_is_saved(harness):
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    prompt = h.api.last(CADRE)
    [comment] = await _comments(h)
    await h.feed(u.press(h.api.last(CADRE).message_id, MineCB(a="w", m=comment.id).pack()))
    await h.feed(u.press(h.api.last(CADRE).message_id, MineCB(a="y", m=comment.id).pack()))
    await h.feed(u.press(prompt.message_id, _data(prompt.reply_markup, "跳过")))
    assert _alert(h) == "这条意见已经撤回了。"
    assert "意见已保存" not in h.api.last(CADRE).text


async def test_mycomments_names_the_consultation_of_each_comment_when_they_span_several(harness):
    from storage.consultations import set_status
    from storage.models import Consultation
    from surveys.consultation import Status

    h = harness
    first, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, first, "特种设备安全监管", "表述不清", "第一轮的意见")
    await h.feed(u.message("/mycomments"))
    assert "征询：" not in h.api.last(CADRE).text  # one consultation: nothing to tell apart
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, first), Status.CLOSED, h.clock.now)
        await s.commit()
    second, _ = await open_consultation(h)  # the second round, on the revised draft
    async with h.sessions() as s:
        await s.execute(sa.update(Consultation).where(Consultation.id == second).values(title="第二轮征求意见"))
        await s.commit()
    from storage.comments import add_comment
    from storage.consultations import links

    async with h.sessions() as s:  # the same item of the revised draft
        link = (await links(s, second))[0]
        item = await s.scalar(sa.select(DutyItemRow.id).where(DutyItemRow.list_id == link.list_id,
                                                               DutyItemRow.name == "特种设备安全监管"))
        await add_comment(s, consultation_id=second, item_id=item, person_id=CADRE, township_id=link.township_id,
                          kind="wording", text="第二轮的意见", now=h.clock.now)
        await s.commit()
    await h.feed(u.message("/mycomments"))
    blocks = h.api.last(CADRE).text.split("\n\n")
    mine = {b.split("意见：")[-1]: b for b in blocks if "意见：" in b}
    assert "征询：青山镇履职事项清单征求意见" in mine["第一轮的意见"], mine
    assert "征询：第二轮征求意见" in mine["第二轮的意见"], mine


async def test_an_invited_organizers_delete_me_voids_the_invites_they_made_and_nobody_used(harness):
    from storage.models import Invite

    h = harness
    await open_consultation(h)
    u = h.user(CADRE)
    await h.feed(u.message(f"/start inv_{await _invite(h, role='organizer')}"))
    assert (await _person(h, CADRE)).role == "organizer"
    async with h.sessions() as s:  # two cadre invites they made (as /invite does), one used since
        t = await get_township(s, "青山镇")
        made = [i.code for i in await create_invites(s, t.id, "cadre", 3, None, CADRE)]
        await s.commit()
    await h.feed(h.user(7002).message(f"/start inv_{made[0]}"))
    await h.feed(u.message("/delete_me"))
    confirm = h.api.last(CADRE)
    assert "2 个邀请链接" in confirm.text and "作废" in confirm.text  # said before, not after
    await h.feed(u.press(confirm.message_id, _data(confirm.reply_markup, "确定删除")))
    async with h.sessions() as s:
        invites = {code: await s.get(Invite, code) for code in made}
        assert invites[made[0]].revoked_at is None and invites[made[0]].used_at is not None
        assert all(invites[code].revoked_at is not None and invites[code].created_by is None for code in made[1:])
    await h.feed(h.user(7003).message(f"/start inv_{made[1]}"))
    assert "已经作废" in h.api.last(7003).text and (await _person(h, 7003)).role == "resident"
    # a resident's /delete_me (nothing made) is asked as before
    await h.feed(h.user(7003).message("/delete_me"))
    assert "邀请" not in h.api.last(7003).text


async def test_a_cadres_text_sticker_or_start_outside_any_form_says_what_a_cadre_can_do_not_the_residents_note(harness):
    """A cadre got the residents' 您现在没有进行中的问卷… (join through a township's link) for any
    text or sticker outside a form, and the residents' hello for a plain /start."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    for update in (u.message("你好"), u.message(sticker={"file_id": "s", "file_unique_id": "s", "type": "regular",
                                                         "width": 1, "height": 1, "is_animated": False,
                                                         "is_video": False})):
        await h.feed(update)
        said = h.api.last(CADRE).text
        assert "没有进行中的问卷" not in said and "/list" in said and "/report" in said, said
    await h.feed(u.message("/start"))
    said = h.api.last(CADRE).text
    assert "青山镇" in said and "干部" in said and "/list" in said and "二维码" not in said, said
    await h.feed(h.user(CADRE, language_code="en").message("hello"))
    said = h.api.last(CADRE).text
    assert "/list" in said and "questionnaire in progress" not in said, said
    await h.feed(h.user(RESIDENT).message("你好"))  # a resident still gets theirs
    assert "没有进行中的问卷" in h.api.last(RESIDENT).text


async def test_cancel_at_the_proposed_wording_says_the_comment_is_saved_and_during_an_edit_that_it_stays(harness):
    """/cancel after the comment was saved (at its 建议表述 prompt) said 已取消，刚才填写的内容没有保存,
    so the cadre thought the comment lost; an edit cancelled said the same of a comment that stays."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "乡镇没有执法力量")
    await h.feed(u.message("/cancel"))
    said = h.api.last(CADRE).text
    assert "已保存" in said and "没有保存" not in said, said
    [comment] = await _comments(h)
    assert comment.text == "乡镇没有执法力量" and comment.status != "withdrawn"
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改")
    await h.feed(u.message("/cancel"))
    said = h.api.last(CADRE).text
    assert "保持原样" in said and "没有保存" not in said, said
    assert (await _comments(h))[0].text == "乡镇没有执法力量"
    await _comment(h, u, c, "特种设备安全监管", "其他", "第二条")
    await h.feed(h.user(CADRE, language_code="en").message("/cancel"))
    assert "saved" in h.api.last(CADRE).text and "not saved" not in h.api.last(CADRE).text


async def test_cancel_before_anything_was_typed_does_not_speak_of_what_was_filled_in(harness):
    """/cancel at the comment-kind step (only 提意见 tapped) said 刚才填写的内容没有保存, of nothing typed;
    it says nothing was changed. Once something was typed, it still says that was not saved."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await h.feed(u.message("/cancel"))
    assert h.api.last(CADRE).text == "已取消，没有做任何更改。"
    assert await _comments(h) == []
    await h.feed(h.user(CADRE, language_code="en").message("/report"))
    await h.feed(h.user(CADRE, language_code="en").message("/cancel"))
    assert h.api.last(CADRE).text == "Cancelled; nothing was changed."
    await h.feed(u.message("/report"))
    await h.feed(u.message("县应急管理局"))
    await h.feed(u.message("/cancel"))
    assert h.api.last(CADRE).text == "已取消，刚才填写的内容没有保存。"
    assert await _reports(h) == []
    # English said "Stopped; …" here and "Cancelled; …" at a first step, where Chinese says 已取消 for both
    en = h.user(CADRE, language_code="en")
    await h.feed(en.message("/report"))
    await h.feed(en.message("County market regulator"))
    await h.feed(en.message("/cancel"))
    assert h.api.last(CADRE).text == "Cancelled; what you had filled in was not saved."


async def test_a_cadres_help_puts_the_cadres_commands_first_and_the_common_ones_after(harness):
    """A cadre's /help began with the residents' section (join by a township's link, /start 继续没答完的问卷,
    /cancel 暂停…), their own commands after it."""
    h = harness
    await open_consultation(h)
    await _cadre(h)
    for lang, head in (("zh-hans", "<b>干部</b>"), ("en", "<b>Cadres</b>")):
        await h.feed(h.user(CADRE, language_code=lang).message("/help"))
        said = h.api.last(CADRE).text
        assert said.startswith(head), said
        assert "/report" in said and "/cancel" in said and "/mydata" in said and "/language" in said
        assert "<b>群众</b>" not in said and "<b>Residents</b>" not in said


async def test_a_cadre_of_one_township_is_asked_before_an_invite_of_another_moves_them(harness):
    """A cadre of 青山镇 who opened an invite of 绿水乡 (a colleague's, forwarded by mistake) was
    moved at once: their own list gone, the colleague's link spent. They are now asked first,
    and the invite stays unused until they say so."""
    h = harness
    await open_consultation(h)
    await open_consultation(h, township="绿水乡")
    u = await _cadre(h)
    code = await _invite(h, "绿水乡")
    await h.feed(u.message(f"/start inv_{code}"))
    asked = h.api.last(CADRE)
    assert "青山镇" in asked.text and "绿水乡" in asked.text and "欢迎" not in asked.text
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None
    assert (await _person(h, CADRE)).township_id == (await _township_id(h, "青山镇"))
    await _tap(h, u, "不用")
    said = h.api.last(CADRE).text
    assert "仍是<b>青山镇</b>的干部" in said and "仍然有效" in said, said
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by is None
    await h.feed(h.user(OTHER_CADRE).message(f"/start inv_{code}"))  # the colleague it was meant for
    assert "欢迎！您已确认为<b>绿水乡</b>的干部" in h.api.last(OTHER_CADRE).text
    # and one who does move, in English too
    code = await _invite(h, "绿水乡")
    en = h.user(CADRE, language_code="en")
    await h.feed(en.message(f"/start inv_{code}"))
    assert "Become a cadre of 绿水乡" in [t for t, _ in buttons(h.api.last(CADRE).reply_markup)]
    await _tap(h, en, "Become a cadre of")
    assert "绿水乡" in h.api.last(CADRE).text and "/list" in h.api.last(CADRE).text
    assert (await _person(h, CADRE)).township_id == (await _township_id(h, "绿水乡"))
    async with h.sessions() as s:
        assert (await s.get(Invite, code)).used_by == CADRE


async def _township_id(h, name: str) -> int:
    async with h.sessions() as s:
        return (await get_township(s, name)).id


async def test_list_find_and_missing_after_the_townships_consultation_closed_say_it_closed(harness):
    """Once the consultation was closed, a cadre's /list, /find and /missing said only 您所在的乡镇现在没有
    正在征求意见的清单。开始征求意见后，这里就能看到 — as if none had been held; they now say it closed, and when."""
    from storage.consultations import set_status
    from storage.models import Consultation
    from surveys.consultation import Status

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    h.clock.advance(days=2)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, c), Status.CLOSED, h.clock.now)
        await s.commit()
    for command in ("/list", "/find 消防", "/missing"):
        await h.feed(u.message(command))
        said = h.api.last(CADRE).text
        assert "《青山镇履职事项清单征求意见》已于 2026-12-03 10:00 截止" in said, (command, said)
        assert "下一次征求意见开始后" in said, (command, said)
    await h.feed(h.user(CADRE, language_code="en").message("/list"))
    assert "closed on 2026-12-03 10:00" in h.api.last(CADRE).text
    await open_consultation(h, township="绿水乡", status=Status.DRAFT)  # not consulted yet
    await h.feed(h.user(OTHER_CADRE).message(f"/start inv_{await _invite(h, '绿水乡')}"))
    await h.feed(h.user(OTHER_CADRE).message("/list"))
    assert "现在没有正在征求意见的清单" in h.api.last(OTHER_CADRE).text


async def test_find_with_several_words_finds_the_items_holding_each_of_them(harness):
    """/find 消防 检查 found nothing (the words were run together into 消防检查, which no item holds),
    though 消防安全检查与火灾隐患整治 holds both; the words now each have to be found, anywhere."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/find 消防 检查"))
    said = h.api.last(CADRE).text
    assert "共 1 项" in said and "消防安全检查与火灾隐患整治" in said, said
    await h.feed(u.message("/find 人民调解　矛盾"))  # a full-width space; one word in the basis
    said = h.api.last(CADRE).text
    assert "共 1 项" in said and "矛盾纠纷排查化解与人民调解" in said, said
    await h.feed(u.message("/find 消防 低保"))  # no item holds both
    assert "没有找到" in h.api.last(CADRE).text


async def test_find_searches_the_county_departments_on_the_card_too(harness):
    """/find 市场监管局 found nothing though a cooperating item names it as its lead department and a
    withdrawn one as the department taking it over: only the name, content and basis were searched."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/find 市场监管局"))
    said = h.api.last(CADRE).text
    assert "共 1 项" in said and "特种设备安全监管" in said, said  # its 承接部门
    await h.feed(u.message("/find 消防救援大队"))
    said = h.api.last(CADRE).text
    assert "共 1 项" in said and "消防安全检查与火灾隐患整治" in said, said  # its 对应上级部门
    await h.feed(u.message("/find 民政局 低保"))  # (低保 is nowhere: nothing)
    assert "没有找到" in h.api.last(CADRE).text
    await h.feed(u.message("/find 民政局 救助"))
    assert "最低生活保障" in h.api.last(CADRE).text


async def test_the_examples_find_shows_find_something_in_a_list_as_drafts_word_it(harness):
    """/find alone answered 例如：/find 低保, which finds nothing: lists write 最低生活保障 (the sample
    list too), so a cadre who tried the example was told 没有找到."""
    import re

    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    for lang in ("zh-hans", "en"):
        await h.feed(h.user(CADRE, language_code=lang).message("/find"))
        examples = re.findall(r"(?:例如：|e\.g\. )(/find [^;；，,\n]+)", h.api.last(CADRE).text)
        assert examples, h.api.last(CADRE).text
        for example in examples:
            await h.feed(u.message(example.strip()))
            assert "没有找到" not in h.api.last(CADRE).text and "共 1 项" in h.api.last(CADRE).text, example


async def test_a_comment_typed_before_its_kind_is_chosen_is_asked_for_the_kind_not_told_nothing_waits(harness):
    """A cadre who, at 请选择意见类型, typed the comment straight away was told only that nothing was
    waiting for an answer (the residents' note before that): now they are told to choose the kind
    first, with its buttons again, and what they typed (kept, not to be typed again: it was dropped
    before) becomes the comment once the kind is chosen."""
    from aiogram.types import PhotoSize

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    typed = u.message("乡镇没有执法力量")
    await h.feed(typed)
    said = h.api.last(CADRE)
    assert "选择意见类型" in said.text and "先记下了" in said.text and "特种设备安全监管" in said.text
    await h.feed(u.message(photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)]))
    assert "选择意见类型" in h.api.last(CADRE).text  # (not 这里需要输入文字)
    assert "其他" in [t for t, _ in buttons(said.reply_markup)]
    assert await _comments(h) == []
    await _tap(h, u, "其他")  # what was typed is the comment: not asked for again
    assert "已作为“其他”意见保存" in h.api.last(CADRE).text and "乡镇没有执法力量" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert comment.kind == "other" and comment.text == "乡镇没有执法力量"
    await h.feed(u.message("特种设备安全监管由县市场监管局承担"))  # then its proposed wording, as ever
    await h.feed(u.edit(typed, "乡镇没有专业执法力量"))  # and an edit of the typed message follows
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("乡镇没有专业执法力量", "特种设备安全监管由县市场监管局承担")
    # back to the card from the kinds: typed text is not a comment any more
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "« 返回事项")
    await h.feed(u.message("随便说说"))
    assert "选择意见类型" not in h.api.last(CADRE).text
    # nor after browsing on from the kinds with the buttons of an earlier message
    await h.feed(u.message("/list"))
    parts = h.api.last(CADRE)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await h.feed(u.press(parts.message_id, _data(parts.reply_markup, "配合履职事项")))
    await h.feed(u.message("随便说说"))
    assert "选择意见类型" not in h.api.last(CADRE).text


async def test_the_cadres_welcome_names_off_list_tasks_without_reading_as_the_foreign_affairs_office(harness):
    """The welcome said /report 报告清单外交办的事项, which reads as 清单 · 外交办 (the foreign affairs
    office); it now uses the domain's term, 清单外事项, as /help and the report form do."""
    h = harness
    await open_consultation(h)
    await _cadre(h)
    said = h.api.last(CADRE).text
    assert "外交办" not in said and "/report 报告上级部门交办的清单外事项" in said, said


async def test_editing_a_comment_lets_its_proposed_wording_change_too(harness):
    """The proposed wording (建议表述) could be given only right after the comment: 修改 changed the
    comment's text and nothing else, so a wording with a mistake stayed. After the text the edit
    now asks for the wording (showing the one given), and 跳过 keeps it."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "表述不清", "看不懂")
    await h.feed(u.message("特种设备安全监察"))  # the wording, with a mistake
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await h.feed(u.message("“特种设备”指哪些设备，应写清楚"))
    said = h.api.last(CADRE).text
    assert "已修改" in said and "原来的建议表述：特种设备安全监察" in said, said
    await h.feed(u.message("特种设备安全监管（锅炉、电梯等）"))
    assert "已保存建议的表述" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("“特种设备”指哪些设备，应写清楚", "特种设备安全监管（锅炉、电梯等）")
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await h.feed(u.message("应写清楚设备种类"))
    await _tap(h, u, "跳过")
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("应写清楚设备种类", "特种设备安全监管（锅炉、电梯等）")


async def test_a_command_that_leaves_a_half_filled_report_or_missing_item_says_it_was_not_saved(harness):
    """/list (or /find, /mycomments, /missing, /report) in the middle of a /report or /missing dropped
    what had been typed into it without a word: the cadre who went to look an item up, then typed the
    next step's answer, was told only that nothing was waiting. Now the command says it was dropped."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    await h.feed(u.message("县住建局"))
    await h.feed(u.message("自建房安全排查"))
    h.api.clear()
    await h.feed(u.message("/find 消防"))
    said = h.api.texts(CADRE)
    assert len(said) == 2 and "清单外事项报告已取消，没有保存" in said[0] and "消防安全检查" in said[1], said
    assert await _reports(h) == []
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道巡查"))
    h.api.clear()
    await h.feed(u.message("/report"))
    said = h.api.texts(CADRE)
    assert len(said) == 2 and "遗漏事项已取消，没有保存" in said[0] and "第 1/5 步" in said[1], said
    h.api.clear()
    await h.feed(u.message("/list"))  # at the report's first step nothing was typed: nothing to say
    assert len(h.api.texts(CADRE)) == 1 and "没有保存" not in h.api.texts(CADRE)[0]


async def test_an_invite_link_or_code_pasted_into_the_chat_is_taken_as_the_invite(harness):
    """An invite forwarded by WeChat or SMS is often pasted into the chat instead of tapped (the
    t.me link does not always open the app with its payload): the link, or its inv_… code, got the
    residents' 您现在没有进行中的问卷 and nobody was made a cadre."""
    h = harness
    await open_consultation(h)
    for user, pasted in ((CADRE, "https://t.me/qingdan_test_bot?start=inv_{}"), (OTHER_CADRE, " INV_{} ")):
        code = await _invite(h)
        await h.feed(h.user(user).message(pasted.format(code)))
        assert "欢迎！您已确认为<b>青山镇</b>的干部" in h.api.last(user).text, pasted
        assert (await _person(h, user)).role == "cadre"
    await h.feed(h.user(RESIDENT).message("inv_nosuchcode1"))
    assert "这个邀请链接无效" in h.api.last(RESIDENT).text
    await h.feed(h.user(RESIDENT).message("我收到的邀请是 inv_abc，怎么用？"))  # a sentence: not an invite
    assert "邀请链接无效" not in h.api.last(RESIDENT).text


async def test_the_card_of_an_item_without_a_basis_asks_a_cadre_who_knows_it_to_supply_it(harness):
    """An item without a basis showed 履职依据：— and nothing else, though every basic item should cite
    one (法定职责必须为) and supplying it is what the consultation asks of cadres; the card now says
    so and which kind of comment adds it. Only while comments are taken, and not for items with one."""
    h = harness
    c, _ = await open_consultation(h, items=[*ITEMS, DutyItem(Part.BASIC, "村级财务监督", seq=4, category="综合保障")])
    u = await _cadre(h)
    await _open_card(h, u, c, "村级财务监督")
    said = h.api.last(CADRE).text
    assert "没有列出依据" in said and "“依据缺失或有误”" in said, said
    await _open_card(h, u, c, "消防安全检查与火灾隐患整治")
    assert "没有列出依据" not in h.api.last(CADRE).text
    h.clock.advance(days=11)
    await _open_card(h, u, c, "村级财务监督")
    assert "没有列出依据" not in h.api.last(CADRE).text and "截止" in h.api.last(CADRE).text


async def test_the_item_card_shows_what_a_cadre_needs_without_noise(harness):
    """The card repeated 事项名称 under the bold title, listed every empty field as "—", and told a
    withdrawn item (taken back by a county department) that it had no basis to supply — the rule
    that every item cites a basis is for basic items. Now the name is the title only, empty fields
    are left out, and what a part must have (a basic item's basis, a cooperating item's lead
    department, a withdrawn item's receiving department) is said to be missing when it is."""
    h = harness
    items = [*ITEMS[:3], DutyItem(Part.COOPERATING, "防汛抗旱", seq=1, category="应急管理", content="转移群众"),
             DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, category="市场监管"),
             DutyItem(Part.BASIC, "村级财务监督", seq=4, category="综合保障")]
    c, _ = await open_consultation(h, items=items)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    card = h.api.last(CADRE).text
    assert "事项名称" not in card and "—" not in card and "没有列出依据" not in card, card
    assert "<b>承接部门</b>：未列出" in card and "收回后工作方式" not in card, card
    await _open_card(h, u, c, "防汛抗旱")
    card = h.api.last(CADRE).text
    assert "<b>对应上级部门</b>：未列出" in card and "—" not in card and "没有列出依据" not in card, card
    await _open_card(h, u, c, "村级财务监督")
    card = h.api.last(CADRE).text
    assert "<b>履职依据</b>：未列出" in card and "没有列出依据" in card and "—" not in card, card
    assert "备注" not in card and "具体内容" not in card, card


async def test_an_option_typed_instead_of_tapped_is_taken_at_the_part_and_method_steps(harness):
    """At /missing's part step and /report's method step, typing what a button says (基本, 电话) was
    answered only 请点下面的按钮选择; the option a typed text names is now taken as if tapped,
    and anything else still gets the buttons again."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道巡查"))
    await h.feed(u.message("事项"))  # in all three labels: which one?
    assert "请点下面的按钮" in h.api.last(CADRE).text
    await h.feed(u.message("基本"))
    assert "第 3/6 步" in h.api.last(CADRE).text and "基本履职事项" in h.api.last(CADRE).text
    await h.feed(u.message("生态环境"))
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("汛期每天巡查"))
    [proposal] = await _comments(h)
    assert proposal.missing["part"] == "basic"
    await h.feed(u.message("/report"))
    for answer in ("县应急管理局", "每天填报安全生产日报表", "11月", "打电话说的"):
        await h.feed(u.message(answer))
    assert "请点下面的按钮" in h.api.last(CADRE).text
    await h.feed(u.message("电话"))
    assert "第 5/5 步" in h.api.last(CADRE).text and "交办方式：电话" in h.api.last(CADRE).text
    await _tap(h, u, "跳过")
    [report] = await _reports(h)
    assert report.method == "phone"


async def test_a_comment_message_edited_in_telegram_edits_the_comment_while_it_may_change(harness):
    """A cadre who fixed a typo by editing their sent message (Telegram's 编辑) was told the edit
    changes nothing and to use /mycomments; the comment (or its proposed wording) now follows the
    edit while it may still be edited, and says so; once answered it stays, and says that."""
    from storage.comments import answer_comment

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    sent = u.message("乡镇没有执法立量")
    await h.feed(sent)
    wording = u.message("特种设备安全监察")
    await h.feed(wording)
    await h.feed(u.edit(sent, "乡镇没有执法力量"))
    assert "已按您修改后的消息更新" in h.api.last(CADRE).text
    await h.feed(u.edit(wording, "特种设备安全监管"))
    assert "建议表述已按您修改后的消息更新" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert (comment.text, comment.proposed_wording) == ("乡镇没有执法力量", "特种设备安全监管")
    async with h.sessions() as s:
        await answer_comment(s, comment.id, "adopted", "", ORGANIZER, h.clock.now)
        await s.commit()
    await h.feed(u.edit(sent, "改了也没用"))
    said = h.api.last(CADRE).text
    assert "已经答复" in said and "保持原样" in said, said
    assert (await _comments(h))[0].text == "乡镇没有执法力量"
    other = u.message("随便说一句")
    await h.feed(other)
    await h.feed(u.edit(other, "随便说两句"))  # no comment's message: as before
    assert "不会改变已保存的内容" in h.api.last(CADRE).text


async def test_an_items_page_lists_each_items_full_name_above_its_buttons(harness):
    """A page of items showed their names only on buttons, which a phone cuts at a score of
    characters: two long names that begin alike (组织开展农村人居环境整治…) could not be told
    apart without opening each; the page's text now lists the names in full."""
    h = harness
    long_a = "组织开展农村人居环境整治和村庄清洁行动，督促落实农村生活垃圾分类收集和转运处理"
    long_b = "组织开展农村人居环境整治和村庄清洁行动，督促落实农村生活污水治理设施的日常运行维护"
    items = [*ITEMS, DutyItem(Part.BASIC, long_a, seq=4, category="乡村振兴"),
             DutyItem(Part.BASIC, long_b, seq=5, category="乡村振兴")]
    await open_consultation(h, items=items)
    u = await _cadre(h)
    await h.feed(u.message("/list"))
    await _tap(h, u, "基本履职事项")
    await _tap(h, u, "乡村振兴")
    page = h.api.last(CADRE)
    assert f"4. {long_a}" in page.text and f"5. {long_b}" in page.text, page.text
    labels = [t for t, _ in buttons(page.reply_markup)]
    assert labels[0].startswith("4. 组织开展") and labels[1].startswith("5. 组织开展")


async def test_the_welcome_says_a_comment_changes_only_until_it_is_answered(harness):
    """The welcome said 意见在截止前都可以修改, but an answered comment can no longer change
    (这条意见已经答复，不能再修改或撤回): it now says both limits, as /mycomments does."""
    h = harness
    await open_consultation(h)
    await _cadre(h)
    said = h.api.last(CADRE).text
    assert "截止前、组织者答复前都可以修改或撤回" in said, said


async def test_a_comment_typed_after_the_deadline_is_said_not_to_be_saved(harness):
    """A comment (or a missing item's step) typed after the deadline was answered 《…》已于…截止，不再
    接收意见。谢谢您的参与！ — which reads like a receipt; it now says what was sent was not saved."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道巡查"))
    await _tap(h, u, "基本履职事项")
    h.clock.advance(days=11)
    await h.feed(u.message("生态环境"))
    said = h.api.last(CADRE).text
    assert "截止" in said and "刚才发的内容没有保存" in said, said
    h.clock.advance(days=-11)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await _tap(h, u, "其他")
    h.clock.advance(days=11)
    await h.feed(u.message("乡镇没有执法力量"))
    said = h.api.last(CADRE).text
    assert "截止" in said and "刚才发的内容没有保存" in said, said
    assert await _comments(h) == []


async def test_mycomments_shows_a_hidden_unanswered_comment_as_not_answered_not_awaiting(harness):
    # a comment the organizer hid (不当言论) will never be answered: its author is not left
    # reading 待答复 forever
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    await _comment(h, u, c, "矛盾纠纷排查化解与人民调解", "其他", "这项没问题")
    await _tap(h, u, "跳过")
    hidden, kept = await _comments(h)
    async with h.sessions() as s:
        from storage.comments import hide_comment

        await hide_comment(s, hidden.id)
        await s.commit()
    await h.feed(u.message("/mycomments"))
    text = h.api.last(CADRE).text
    assert f"#{hidden.id}" in text and f"#{kept.id}" in text
    block_hidden = next(b for b in text.split("\n\n") if f"#{hidden.id}" in b)
    block_kept = next(b for b in text.split("\n\n") if f"#{kept.id}" in b)
    assert "不予答复" in block_hidden and "待答复" not in block_hidden
    assert "待答复" in block_kept
    # in English "not answered" beside "awaiting answer" read as not answered yet: it says 不予答复's "will not be"
    await h.feed(h.user(CADRE, language_code="en").message("/mycomments"))
    block_hidden = next(b for b in h.api.last(CADRE).text.split("\n\n") if f"#{hidden.id}" in b)
    assert "[will not be answered]" in block_hidden, block_hidden


async def test_after_the_revised_list_is_published_a_cadres_list_and_find_show_it_read_only(harness):
    """Between consultations a cadre's /list and /find said only that the consultation had closed:
    the list the county published in the end could not be seen in the bot. They now show the
    township's newest published list, to look at only; a forged press names no other list."""
    from bot import scheduler as sched
    from bot.routers.cadre import FindCB
    from storage.consultations import links, set_status
    from storage.lists import save_list
    from storage.lists import set_status as set_list_status
    from storage.models import Consultation
    from surveys.consultation import Status
    from surveys.duty_list import ListStatus
    from tests.bot.test_scheduler import follow

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, c), Status.CLOSED, h.clock.now)
        renamed = DutyItem(Part.COOPERATING, "消防安全隐患排查整治", seq=1, category="平安法治",
                           county_department="县消防救援大队", basis="《消防法》")
        revised = await save_list(s, "青山镇", [i for i in ITEMS if i.part != Part.COOPERATING] + [renamed])
        tid = (await links(s, c))[0].township_id
        other = await save_list(s, "绿水乡", ITEMS)  # another township's published list
        await set_list_status(s, other.id, ListStatus.PUBLISHED)
        await s.commit()
    await sched.publish_changes(follow(h), c, tid, revised.id)

    await h.feed(u.message("/list"))
    last = h.api.last(CADRE)
    assert "第 2 版（已公布）" in last.text and "青山镇" in last.text and "截止" not in last.text
    labels = [text for text, _ in buttons(last.reply_markup)]
    assert any(t.startswith("配合履职事项（1项）") for t in labels), labels
    assert not any("遗漏" in t for t in labels)
    await _tap(h, u, "配合履职事项")
    await _tap(h, u, "平安法治")
    assert "消防安全隐患排查整治" in h.api.last(CADRE).text
    await _tap(h, u, "1. 消防安全隐患排查整治")
    card = h.api.last(CADRE)
    assert "消防安全隐患排查整治" in card.text and "已公布" in card.text
    assert not any("提意见" in t for t, _ in buttons(card.reply_markup))

    await h.feed(u.message("/find 隐患排查"))
    hits = h.api.last(CADRE)
    assert "消防安全隐患排查整治" in hits.text and "第 2 版" in hits.text
    await _tap(h, u, "1. 消防安全隐患排查整治")
    card = h.api.last(CADRE)
    assert "已公布" in card.text and not any("提意见" in t for t, _ in buttons(card.reply_markup))
    await h.feed(u.press(card.message_id, FindCB(c=0).pack()))  # back to the hits
    assert "消防安全隐患排查整治" in h.api.last(CADRE).text

    # forged presses: no comment on the published list, nor a look at another township's
    new_item = await _item_id(h, "消防安全隐患排查整治")
    await h.feed(u.press(card.message_id, CommentCB(c=0, i=new_item).pack()))
    await h.feed(u.press(card.message_id, CommentCB(c=0, i=new_item, k="other").pack()))
    await h.feed(u.message("想提个意见"))
    assert await _comments(h) == []
    sent = len(h.api.texts(CADRE))
    await h.feed(u.press(card.message_id, ItemCB(c=0, i=await _item_id(h, "特种设备安全监管", "绿水乡")).pack()))
    assert "没有权限" in _alert(h), _alert(h)
    assert len(h.api.texts(CADRE)) == sent
    # a resident has no published list through c=0
    await h.feed(h.user(RESIDENT).press(1, ListCB(c=0).pack()))
    assert "没有权限" in _alert(h) and len(h.api.texts(RESIDENT)) == 0


async def test_a_residents_list_after_their_consultation_closed_says_it_closed_not_that_they_never_took_part(harness):
    """A resident who had answered the questionnaire was told, once it closed, 您还没有参加意见征询."""
    from storage.consultations import set_status
    from storage.models import Consultation
    from surveys.consultation import Status

    h = harness
    c, code = await open_consultation(h)
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    await _tap(h, r, "开始答题")
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, c), Status.CLOSED, h.clock.now)
        await s.commit()
    for command in ("/list", "/find 消防"):
        await h.feed(r.message(command))
        said = h.api.last(RESIDENT).text
        assert "《青山镇履职事项清单征求意见》已于" in said and "截止" in said, (command, said)
        assert "还没有参加" not in said, (command, said)
    await h.feed(h.user(OTHER_CADRE + 10).message("/list"))  # one who never took part: as before
    assert "您还没有参加意见征询" in h.api.last(OTHER_CADRE + 10).text


async def test_myreports_says_the_latest_shown_only_when_some_are_left_out(harness):
    """"(1, the latest 1 shown)" read oddly: all shown, the title gives the count alone."""
    from datetime import timedelta

    from storage.comments import add_report

    h = harness
    await open_consultation(h)
    await _cadre(h)
    u = h.user(CADRE, language_code="en")

    async def reports(n: int) -> None:
        async with h.sessions() as s:
            person = await s.get(Person, CADRE)
            for k in range(n):
                await add_report(s, person_id=CADRE, township_id=person.township_id, consultation_id=None,
                                 department="County market bureau", task="Shop checks", assigned_on="last week",
                                 method="phone", details="", now=h.clock.now + timedelta(minutes=k))
            await s.commit()

    await reports(1)
    await h.feed(u.message("/myreports"))
    assert h.api.last(CADRE).text.startswith("<b>My off-list task reports</b> (1)\n")
    await reports(10)
    await h.feed(u.message("/myreports"))
    assert h.api.last(CADRE).text.startswith("<b>My off-list task reports</b> (11, the latest 10 shown)\n")


async def test_an_english_report_names_how_the_task_was_assigned_not_by_whom(harness):
    """Step 1 asks which department assigned the task; after step 4 the English said "Assigned
    by: Phone", as if the phone had. It says how, as 交办方式 does."""
    h = harness
    await open_consultation(h)
    await _cadre(h)
    u = h.user(CADRE, language_code="en")
    await h.feed(u.message("/report"))
    for text in ("County market bureau", "Shop checks", "last week"):
        await h.feed(u.message(text))
    await _tap(h, u, "Phone")
    said = h.api.last(CADRE).text
    assert said.startswith("How it was assigned: Phone\n") and "Assigned by" not in said


async def test_a_hidden_comment_is_read_only_for_its_author_even_from_an_edit_begun_before_it_was_hidden(harness):
    """A comment the organizer hid (不予答复) could still be edited or withdrawn in /mycomments,
    and stayed hidden all the same. It is now frozen like an answered one: no 修改/撤回 buttons, a
    stale button says why, and an edit typed after the organizer hid it is refused at save time."""
    from storage.comments import hide_comment

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    [comment] = await _comments(h)
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")  # the edit begun while the comment could still be edited
    async with h.sessions() as s:
        await hide_comment(s, comment.id)
        await s.commit()
    await h.feed(u.message("改成：不同意收回"))
    assert "不予答复" in h.api.last(CADRE).text and "不能再修改" in h.api.last(CADRE).text
    await h.feed(u.message("/mycomments"))
    mine = h.api.last(CADRE)
    assert "不予答复" in mine.text
    assert not any(t.startswith(("修改", "撤回")) for t, _ in buttons(mine.reply_markup))
    for a in ("e", "w", "y"):  # stale buttons from an earlier screen, the confirm of a withdrawal too
        await h.feed(u.press(mine.message_id, MineCB(a=a, m=comment.id).pack()))
        assert "不予答复" in _alert(h)
    [after] = await _comments(h)
    assert (after.text, after.status, after.hidden) == ("同意收回", "open", True)


async def _published_while_another_is_open(h, resident, other, other_title: str | None = None) -> None:
    """青山镇's consultation, whose first question `resident` answered, closed and its revised list
    (the cooperating item renamed) published, while 绿水乡's is open and begun by `other` (the same
    resident, or another)."""
    from bot import scheduler as sched
    from storage.consultations import links, set_status
    from storage.lists import save_list
    from storage.models import Consultation
    from surveys.consultation import Status
    from tests.bot.test_scheduler import follow

    c, code = await open_consultation(h)
    _, other_code = await open_consultation(h, township="绿水乡", **({"title": other_title} if other_title else {}))
    await h.feed(resident.message(f"/start {code}"))
    await _tap(h, resident, "开始答题")
    await _tap(h, resident, "知道一些")
    await h.feed(other.message(f"/start {other_code}"))
    await _tap(h, other, "开始答题")
    async with h.sessions() as s:
        await set_status(s, await s.get(Consultation, c), Status.CLOSED, h.clock.now)
        renamed = DutyItem(Part.COOPERATING, "消防安全隐患排查整治", seq=1, category="平安法治",
                           county_department="县消防救援大队", basis="《消防法》")
        revised = await save_list(s, "青山镇", [i for i in ITEMS if i.part != Part.COOPERATING] + [renamed])
        tid = (await links(s, c))[0].township_id
        await s.commit()
    await sched.publish_changes(follow(h), c, tid, revised.id)

async def test_a_resident_who_took_part_reads_their_townships_published_list_and_is_told_how(harness):
    """A resident thanked for their answers when the revised list was published could not read
    that list in the bot (only cadres could, with /list and /find). Now one who took part in the
    township's consultation reads its newest published list, to look at only, and the message
    of its publication says how; one who took part elsewhere sees no other township's list."""
    from bot.routers.cadre import FindCB

    h = harness
    r, elsewhere = h.user(RESIDENT), h.user(RESIDENT + 1)
    await _published_while_another_is_open(h, r, elsewhere)
    told = h.api.last(RESIDENT)
    assert "已修改并公布" in told.text and "/list" in told.text

    await h.feed(r.message("/list"))
    last = h.api.last(RESIDENT)
    assert "第 2 版（已公布）" in last.text and "青山镇" in last.text and "只能查看" in last.text
    await _tap(h, r, "配合履职事项")
    await _tap(h, r, "平安法治")
    await _tap(h, r, "1. 消防安全隐患排查整治")
    card = h.api.last(RESIDENT)
    assert "已公布" in card.text and not any("提意见" in t for t, _ in buttons(card.reply_markup))
    await h.feed(r.message("/find 隐患排查"))
    assert "消防安全隐患排查整治" in h.api.last(RESIDENT).text
    await h.feed(r.press(card.message_id, CommentCB(c=0, i=await _item_id(h, "消防安全隐患排查整治")).pack()))
    assert await _comments(h) == []

    # one who took part in 绿水乡's (still open) consultation: its list, not 青山镇's published one
    await h.feed(elsewhere.press(1, ItemCB(c=0, i=await _item_id(h, "消防安全隐患排查整治")).pack()))
    assert "没有权限" in _alert(h)
    await h.feed(elsewhere.press(1, FindCB(c=0).pack()))
    assert len([t for t in h.api.texts(RESIDENT + 1) if "已公布" in t]) == 0


async def test_an_edit_before_the_consultations_opening_is_refused_as_not_begun_not_as_closed(harness):
    """The opening moved into the future after a comment was made: 修改/撤回 were refused with
    "已经截止" (the consultation had not even begun)."""
    from storage.models import Consultation

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "开始前的意见")
    [comment] = await _comments(h)
    async with h.sessions() as s:
        await s.execute(sa.update(Consultation).where(Consultation.id == c).values(opens_at=h.clock.now + timedelta(days=1)))
        await s.commit()
    for action in ("e", "w", "y"):
        await h.feed(u.press(1, MineCB(a=action, m=comment.id).pack()))
        assert "还没有开始" in _alert(h) and "截止" not in _alert(h), action
    await h.feed(h.user(CADRE, language_code="en").press(1, MineCB(a="e", m=comment.id).pack()))
    assert "not opened yet" in _alert(h)
    assert (await _comments(h))[0].status == "open"


async def test_mycomments_after_the_consultation_closed_or_was_reported_does_not_say_comments_can_change(harness):
    from storage.models import Consultation

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "一条意见")
    await h.feed(u.message("/mycomments"))
    assert "截止前、答复前可以修改或撤回" in h.api.last(CADRE).text
    h.clock.advance(days=11)
    await h.feed(u.message("/mycomments"))
    text = h.api.last(CADRE).text
    assert "截止前、答复前可以修改或撤回" not in text and "已经截止，意见不能再修改或撤回" in text
    async with h.sessions() as s:
        await s.execute(sa.update(Consultation).where(Consultation.id == c).values(status="reported"))
        await s.commit()
    await h.feed(h.user(CADRE, language_code="en").message("/mycomments"))
    text = h.api.last(CADRE).text
    assert "until the deadline" not in text and "has closed" in text


async def test_a_missing_items_county_department_is_asked_shown_on_the_organizers_card_and_exported(harness):
    """/missing never asked for the county department (对应县级部门), so the workbook's 遗漏事项
    sheet had that column always empty."""
    import io

    import openpyxl

    from bot.scheduler import workbook_for

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _missing_to_basis(h, u, "河湖巡查")
    await h.feed(u.message("《河长制工作规定》"))
    assert "对应哪个县级部门" in h.api.last(CADRE).text
    await h.feed(u.message("县水利局"))
    await h.feed(u.message("乡镇实际承担巡查"))
    assert "县级部门：县水利局" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert comment.missing["department"] == "县水利局"
    await h.feed(h.user(ORGANIZER).message("/comments"))
    assert "县级部门：县水利局" in h.api.last(ORGANIZER).text
    async with h.sessions() as s:
        content, _ = await workbook_for(s, h.settings, c, "zh_CN")
    sheet = openpyxl.load_workbook(io.BytesIO(content))["遗漏事项"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header = next(r for r in rows if "建议增加的事项" in r)
    [row] = [r for r in rows[rows.index(header) + 1:] if r[header.index("建议增加的事项")] == "河湖巡查"]
    department = next(k for k, v in enumerate(header) if v and "部门" in str(v))
    assert row[department] == "县水利局"


async def test_a_missing_items_name_part_basis_and_department_can_be_edited_while_it_may_change(harness):
    """/mycomments let a cadre change only the "why" of a proposed missing item, not its name, part,
    basis or county department; each can change now, until it is answered or hidden or the deadline."""
    from storage.comments import answer_comment

    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _missing_to_basis(h, u, "河湖巡查")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("乡镇实际承担"))
    [comment] = await _comments(h)
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    assert "请点要修改的内容" in h.api.last(CADRE).text
    for label, typed in (("事项名称", "河湖日常巡查"), ("依据", "《河长制工作规定》"), ("县级部门", "县水利局"),
                         ("理由", "每天都在巡查")):
        await _tap(h, u, label)
        await h.feed(u.message(typed))
        assert "已修改" in h.api.last(CADRE).text, label
        await h.feed(u.message("/mycomments"))
        await _tap(h, u, "修改 #")
    await _tap(h, u, "所属部分")
    await _tap(h, u, "配合履职事项")
    await _tap(h, u, "平安法治")  # the category of the new part
    [after] = await _comments(h)
    assert after.missing == {"name": "河湖日常巡查", "part": "cooperating", "category": "平安法治",
                             "basis": "《河长制工作规定》", "department": "县水利局"}
    assert after.text == "每天都在巡查"
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "县级部门")
    await h.feed(u.message("长" * 201))  # too long: refused, nothing changed, still asked
    assert "最多 200 字" in h.api.last(CADRE).text
    async with h.sessions() as s:  # answered while the cadre types: the edit is refused at save
        await answer_comment(s, comment.id, "adopted", "", ORGANIZER, h.clock.now)
        await s.commit()
    await h.feed(u.message("县应急管理局"))
    assert "已经答复" in h.api.last(CADRE).text
    await h.feed(u.press(1, MineCB(a="p", m=comment.id, n=0).pack()))
    assert "已经答复" in _alert(h)
    assert (await _comments(h))[0].missing == after.missing


async def test_the_withdraw_confirmation_names_the_item_or_the_proposed_missing_item(harness):
    """确定撤回意见 #n 吗？ showed the comment's text alone: a proposal's "why" (乡镇承担) or a short
    comment (同意) did not say which item the cadre was about to take it back from."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意")
    await _missing_to_basis(h, u, "河湖巡查")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("乡镇承担"))
    proposal, comment = sorted(await _comments(h), key=lambda x: x.item_id is not None)
    await h.feed(u.press(1, MineCB(a="w", m=proposal.id).pack()))
    assert "确定撤回" in h.api.last(CADRE).text and "遗漏事项：河湖巡查" in h.api.last(CADRE).text
    await h.feed(u.press(1, MineCB(a="w", m=comment.id).pack()))
    assert "事项：特种设备安全监管" in h.api.last(CADRE).text and "同意" in h.api.last(CADRE).text
    assert [x.status for x in await _comments(h)] == ["open", "open"]


async def test_moving_a_proposed_missing_item_to_another_part_asks_its_category_again(harness):
    """修改 → 所属部分 moved a proposal from 基本履职事项 to another part but kept the category chosen
    for the old part (平安法治 under 上级部门收回事项), and the export and the report showed it so;
    the category is now cleared with the move and asked for the new part (buttons or typed)."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _missing_to_basis(h, u, "河湖巡查")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("乡镇实际承担"))
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "所属部分")
    await _tap(h, u, "上级部门收回事项")
    asked = h.api.last(CADRE)
    assert "领域" in asked.text and "上级部门收回事项" in asked.text, asked.text
    [comment] = await _comments(h)
    assert comment.missing["part"] == "withdrawn" and comment.missing["category"] == ""
    await _tap(h, u, "市场监管")
    assert "已修改" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert (comment.missing["part"], comment.missing["category"]) == ("withdrawn", "市场监管")
    # moved again, the category typed instead of tapped; and 领域 alone can be changed too
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "所属部分")
    await _tap(h, u, "配合履职事项")
    await h.feed(u.message("生态环境"))
    assert "已修改" in h.api.last(CADRE).text
    [comment] = await _comments(h)
    assert (comment.missing["part"], comment.missing["category"]) == ("cooperating", "生态环境")
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "领域")
    await _tap(h, u, "平安法治")
    [comment] = await _comments(h)
    assert (comment.missing["part"], comment.missing["category"]) == ("cooperating", "平安法治")
    # the same part again changes nothing: the category stays
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "所属部分")
    await _tap(h, u, "配合履职事项")
    [comment] = await _comments(h)
    assert comment.missing["category"] == "平安法治"


async def test_a_proposals_name_category_basis_and_department_follow_their_messages_edited_in_telegram(harness):
    """Editing (in Telegram) the message that gave a proposed missing item's name, basis or county
    department changed nothing — only the "why" message followed its edit; each field follows now,
    and says so, before the proposal is sent (its draft) and after (the stored proposal)."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    name = u.message("河糊巡查")
    await h.feed(name)
    await _tap(h, u, "基本履职事项")
    category = u.message("水利")
    await h.feed(category)
    basis = u.message("《河长制工作规定》")
    await h.feed(basis)
    await h.feed(u.edit(name, "河湖巡查"))  # before it is sent: the draft follows
    assert "河湖巡查" in h.api.last(CADRE).text and "已按您修改后的消息" in h.api.last(CADRE).text
    department = u.message("县水力局")
    await h.feed(department)
    await h.feed(u.message("乡镇实际承担巡查"))
    [comment] = await _comments(h)
    assert comment.missing["name"] == "河湖巡查"
    for sent, typed, field in ((department, "县水利局", "department"), (basis, "《湖南省河长制工作规定》", "basis"),
                               (category, "水利建设", "category"), (name, "河湖日常巡查", "name")):
        await h.feed(u.edit(sent, typed))
        said = h.api.last(CADRE).text
        assert "已按您修改后的消息更新" in said and f"#{comment.id}" in said, said
        assert (await _comments(h))[0].missing[field] == typed
    await h.feed(u.edit(department, "长" * 201))  # too long: kept, and said
    assert "最多 200 字" in h.api.last(CADRE).text and "保持原样" in h.api.last(CADRE).text
    assert (await _comments(h))[0].missing["department"] == "县水利局"
    # a field changed in /mycomments by typing follows that message's edit too
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    await _tap(h, u, "事项名称")
    renamed = u.message("河湖巡查保洁")
    await h.feed(renamed)
    await h.feed(u.edit(renamed, "河湖巡查与保洁"))
    assert (await _comments(h))[0].missing["name"] == "河湖巡查与保洁"


async def test_a_proposals_typed_part_edited_in_telegram_moves_it_and_asks_the_new_parts_category(harness):
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河湖巡查"))
    part = u.message("基本")
    await h.feed(part)
    await _tap(h, u, "平安法治")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("乡镇实际承担"))
    await h.feed(u.edit(part, "收回"))
    said = h.api.last(CADRE)
    assert "已按您修改后的消息更新" in said.text and "领域" in said.text, said.text
    [comment] = await _comments(h)
    assert (comment.missing["part"], comment.missing["category"]) == ("withdrawn", "")
    await _tap(h, u, "市场监管")
    assert (await _comments(h))[0].missing["category"] == "市场监管"
    await h.feed(u.edit(part, "随便"))  # names no part: kept, and said
    assert "保持原样" in h.api.last(CADRE).text
    assert (await _comments(h))[0].missing["part"] == "withdrawn"


async def test_a_resident_in_another_open_consultation_is_shown_which_list_list_shows_and_the_published_one(harness):
    """The publication message says /list shows the published list, but a resident answering
    another township's open consultation got that consultation's draft from /list, with no word
    of it nor a way to the list just published; the draft's screen now offers the published list
    (and back), named by township and version."""
    h = harness
    r = h.user(RESIDENT)
    await _published_while_another_is_open(h, r, r, other_title="绿水乡履职事项清单征求意见")

    await h.feed(r.message("/list"))
    draft = h.api.last(RESIDENT)
    assert "绿水乡" in draft.text and "征求意见稿" in draft.text
    assert "青山镇" in draft.text and "已公布" in draft.text, draft.text
    await _tap(h, r, "📄 青山镇")
    published = h.api.last(RESIDENT)
    assert "青山镇" in published.text and "第 2 版（已公布）" in published.text, published.text
    assert "/find 搜索的是正在征求意见的清单" in published.text  # (/find searches 绿水乡's draft)
    await _tap(h, r, "配合履职事项")
    await _tap(h, r, "平安法治")
    assert "消防安全隐患排查整治" in h.api.last(RESIDENT).text
    await _tap(h, r, "« ")
    await _tap(h, r, "« ")
    await _tap(h, r, "📝 绿水乡")  # back to the draft being consulted on
    assert "征求意见稿" in h.api.last(RESIDENT).text and "绿水乡" in h.api.last(RESIDENT).text


async def test_an_off_list_report_cannot_be_withdrawn_once_the_deadline_has_passed(harness):
    """/myreports says reports can no longer be withdrawn once the consultation has ended, but
    between the deadline and the close (the scheduler's, or an organizer's) its 撤回 still
    deleted a report the final report was about to list."""
    from bot.routers.cadre import ReportCB

    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _report_to_details(h, u, "防汛值班")
    await _tap(h, u, "跳过")
    [report] = await _reports(h)
    h.clock.advance(days=11)  # past the deadline; the consultation not closed yet
    await h.feed(u.message("/myreports"))
    assert not any(t.startswith("撤回") for t, _ in buttons(h.api.last(CADRE).reply_markup))
    for a in ("w", "y"):
        await h.feed(u.press(1, ReportCB(a=a, v=str(report.id)).pack()))
        assert "不能撤回" in _alert(h), _alert(h)
    assert len(await _reports(h)) == 1


async def test_a_missing_items_confirmation_repeats_its_basis_with_the_other_fields(harness):
    """已收到您提出的遗漏事项 repeated the name, part, category and county department typed, but not
    the basis (依据), the field a drafter checks first (法定职责必须为)."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _missing_to_basis(h, u, "河湖巡查")
    await h.feed(u.message("《河长制工作规定》第十条"))
    await h.feed(u.message("县水利局"))
    await h.feed(u.message("乡镇实际承担巡查"))
    said = h.api.last(CADRE).text
    assert "依据：《河长制工作规定》第十条" in said and "县级部门：县水利局" in said, said
    await _missing_to_basis(h, u, "山塘巡查")
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("汛期巡查"))
    assert "依据：—" in h.api.last(CADRE).text


async def test_an_off_list_reports_messages_edited_in_telegram_change_the_report(harness):
    """Editing (in Telegram) a message typed into /report changed nothing and was answered with
    advice about comments (要改意见，请用 /mycomments); the draft follows the edit before the report
    is sent, and the report after, while it may still be withdrawn."""
    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    department = u.message("县住建局")
    await h.feed(department)
    task = u.message("自建房排查")
    await h.feed(task)
    await h.feed(u.edit(department, "县住房和城乡建设局"))
    said = h.api.last(CADRE).text
    assert "县住房和城乡建设局" in said and "已按您修改后的消息" in said and "/mycomments" not in said, said
    await h.feed(u.message("上周"))
    await _tap(h, u, "文件")
    details = u.message("住建〔2026〕12号")
    await h.feed(details)
    [report] = await _reports(h)
    assert report.department == "县住房和城乡建设局"
    await h.feed(u.edit(task, "自建房安全专项排查并录入系统"))
    assert f"报告 #{report.id}" in h.api.last(CADRE).text and "已按您修改后的消息更新" in h.api.last(CADRE).text
    await h.feed(u.edit(details, "住建〔2026〕15号"))
    [report] = await _reports(h)
    assert (report.task, report.details) == ("自建房安全专项排查并录入系统", "住建〔2026〕15号")
    h.clock.advance(days=11)  # past the deadline: the report is kept, and that is said
    await h.feed(u.edit(task, "改了也没用"))
    assert "不能再修改" in h.api.last(CADRE).text and "保持原样" in h.api.last(CADRE).text
    assert (await _reports(h))[0].task == "自建房安全专项排查并录入系统"


async def test_withdrawing_from_an_items_own_comments_stays_on_that_items_comments(harness):
    """From a card's 我对这个事项的意见, 撤回 (confirmed or not) went back to all the cadre's comments
    on every item, page 1: the page they were on, one item's comments, was lost."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "乡镇没有执法力量")
    await _tap(h, u, "跳过")
    await _comment(h, u, c, "特种设备安全监管", "表述不清", "监管范围不清")
    await _tap(h, u, "跳过")
    await _comment(h, u, c, "矛盾纠纷排查化解与人民调解", "其他", "同意")
    await _tap(h, u, "跳过")
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "我对这个事项的意见")
    assert "矛盾纠纷" not in h.api.last(CADRE).text
    await _tap(h, u, "撤回 #")
    await _tap(h, u, "不撤回")
    assert "矛盾纠纷" not in h.api.last(CADRE).text and "特种设备安全监管" in h.api.last(CADRE).text
    await _tap(h, u, "撤回 #")
    await _tap(h, u, "确定撤回")
    said = h.api.last(CADRE).text
    assert "已撤回" in said and "矛盾纠纷" not in said and "特种设备安全监管" in said, said
    await _tap(h, u, "修改 #")
    await _tap(h, u, "« 返回我的意见")
    assert "矛盾纠纷" not in h.api.last(CADRE).text


async def _answering_two(h):
    """A resident who began 青山镇's questionnaire, then 绿水乡's (the one touched last): the resident."""
    _, code = await open_consultation(h)
    _, other_code = await open_consultation(h, township="绿水乡", title="绿水乡履职事项清单征求意见")
    r = h.user(RESIDENT)
    for c in (code, other_code):
        await h.feed(r.message(f"/start {c}"))
        await _tap(h, r, "开始答题")
    return r

async def test_a_resident_in_two_open_consultations_is_offered_the_other_ones_draft_from_list(harness):
    """/list showed a resident answering two townships' questionnaires only the draft of the one
    touched last, with no word of the other's; it now offers the other draft by a button."""
    h = harness
    r = await _answering_two(h)
    await h.feed(r.message("/list"))
    shown = h.api.last(RESIDENT)
    assert "绿水乡" in shown.text and "青山镇履职事项清单征求意见（征求意见稿）" in shown.text, shown.text
    await _tap(h, r, "📝 青山镇")
    assert "青山镇履行职责事项清单（征求意见稿）" in h.api.last(RESIDENT).text


async def test_a_resident_in_two_open_consultations_is_told_which_list_find_searched_and_offered_the_other(
        harness):
    """/find for a resident answering two townships' questionnaires searched only the draft of the
    one touched last, without saying which; it now names the list it searched and offers the other
    by a button, whose results offer the first back."""
    h = harness
    r = await _answering_two(h)
    await h.feed(r.message("/find 消防"))
    shown = h.api.last(RESIDENT)
    assert "绿水乡履职事项清单征求意见" in shown.text and "消防安全检查" in shown.text, shown.text
    labels = [t for t, _ in buttons(shown.reply_markup)]
    assert any("青山镇" in t for t in labels), labels
    await _tap(h, r, "🔎 在《青山镇")
    shown = h.api.last(RESIDENT)
    assert "青山镇履职事项清单征求意见" in shown.text and "消防安全检查" in shown.text, shown.text
    assert any("绿水乡" in t for t, _ in buttons(shown.reply_markup))


async def test_a_missing_items_category_can_be_skipped_and_is_asked_without_buttons_when_there_are_none(harness):
    """/missing's category step could not be skipped (its basis and department can: a cadre may not
    know where the drafters would file it), and with no categories in that part it still said
    点下面的按钮 above no buttons."""
    h = harness
    items = [*ITEMS[:4], DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, receiving_department="县市场监管局")]
    await open_consultation(h, items=items)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河湖巡查"))
    await _tap(h, u, "上级部门收回事项")
    asked = h.api.last(CADRE)
    assert "点下面的按钮" not in asked.text and "跳过" in [t for t, _ in buttons(asked.reply_markup)], asked.text
    await h.feed(u.message("/missing"))
    await h.feed(u.message("山塘巡查"))
    await _tap(h, u, "基本履职事项")
    await _tap(h, u, "跳过")  # the category
    assert "依据" in h.api.last(CADRE).text
    await _tap(h, u, "跳过")
    await _tap(h, u, "跳过")
    await h.feed(u.message("汛期巡查"))
    [proposal] = await _comments(h)
    assert proposal.missing["name"] == "山塘巡查" and proposal.missing["category"] == ""


async def test_leaving_a_comment_typed_before_its_kind_says_it_was_not_saved(harness):
    """What a cadre typed before choosing the kind of comment is kept until they choose it; /cancel
    then said 已取消，没有做任何更改 and /list said nothing, though the typed comment went."""
    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await h.feed(u.message("乡镇没有执法力量"))
    await h.feed(u.message("/cancel"))
    assert h.api.last(CADRE).text == "已取消，刚才填写的内容没有保存。"
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await h.feed(u.message("/cancel"))  # nothing typed: nothing lost
    assert h.api.last(CADRE).text == "已取消，没有做任何更改。"
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ 提意见")
    await h.feed(u.message("乡镇没有执法力量"))
    await h.feed(u.message("/list"))
    assert any("意见没有保存" in t for t in h.api.texts(CADRE)[-2:]), h.api.texts(CADRE)[-2:]
    assert await _comments(h) == []


async def test_mycomments_does_not_say_comments_can_change_when_none_on_the_page_can(harness):
    """With every comment on the page answered or withdrawn (no 修改/撤回 buttons), /mycomments
    still ended with 截止前、答复前可以修改或撤回, as if they could."""
    from storage.comments import answer_comment

    h = harness
    c, _ = await open_consultation(h)
    u = await _cadre(h)
    await _comment(h, u, c, "特种设备安全监管", "其他", "同意收回")
    await _tap(h, u, "跳过")
    [comment] = await _comments(h)
    async with h.sessions() as s:
        await answer_comment(s, comment.id, "adopted", "", ORGANIZER, h.clock.now)
        await s.commit()
    await h.feed(u.message("/mycomments"))
    said = h.api.last(CADRE)
    assert "截止前、答复前可以修改或撤回" not in said.text and "不能再修改或撤回" in said.text, said.text
    assert said.reply_markup is None


async def test_an_item_card_of_very_long_fields_keeps_what_follows_it(harness):
    """An item whose basis quotes a law's articles in full (and a long content) passed Telegram's
    4,096 characters: the cut removed what follows the card (here, that the consultation has
    closed). The fields give way, shortened alike; the name and every field's label stay."""
    from bot.limits import visible_units
    from surveys.consultation import Status

    h = harness
    long_item = DutyItem(Part.BASIC, "农村集体经济组织财务监督管理", seq=9, category="民生服务",
                         basis="《中华人民共和国村民委员会组织法》第三十二条规定：" + "村民委员会应当实行村务公开制度。" * 200,
                         content="负责指导农村集体经济组织财务管理。" * 80)
    c, _ = await open_consultation(h, items=[*ITEMS, long_item], status=Status.CLOSED)
    u = await _cadre(h)
    await _open_card(h, u, c, ITEMS[0].name)
    ending = h.api.last(CADRE).text.split("\n\n")[-1]
    await _open_card(h, u, c, long_item.name)
    card = h.api.last(CADRE).text
    assert visible_units(card) <= 4096 and card.endswith("\n\n" + ending)
    assert "<b>农村集体经济组织财务监督管理</b>" in card and "《中华人民共和国村民委员会组织法》第三十二条" in card


async def test_editing_a_comment_of_2000_emoji_keeps_the_prompts_last_line(harness):
    """A comment may be 2,000 characters; 2,000 emoji are 4,000 of the UTF-16 units Telegram
    counts. Quoted whole, the English edit prompt ran past Telegram's 4,096 and its last line
    (what to send, /cancel) was cut off; the quote is shortened to leave the prompt its room."""
    from bot.limits import TEXT_LIMIT, visible_units

    h = harness
    c, _ = await open_consultation(h)
    code = await _invite(h)
    u = h.user(CADRE, language_code="en")
    await h.feed(u.message(f"/start inv_{code}"))
    await _open_card(h, u, c, "特种设备安全监管")
    await _tap(h, u, "✍️ Comment")
    await _tap(h, u, "Unclear wording")
    await h.feed(u.message("😀" * 2000))
    assert (await _comments(h))[0].text == "😀" * 2000
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "Edit #")
    prompt = h.api.last(CADRE).text
    assert prompt.startswith("Editing comment #") and "😀" * 100 in prompt
    assert "Send /cancel to keep it." in prompt and visible_units(prompt) <= TEXT_LIMIT


async def test_a_proposal_of_long_rare_character_fields_keeps_its_edit_screens_last_lines(harness):
    """A proposal's name may be 200 characters and its basis 2,000: of 𠀀 (two UTF-16 units
    each, as Telegram counts), its edit screen ran past Telegram's 4,096 and lost its last
    line (the why); the basis is shortened there as on the saved screen, and quoted within
    the room its edit prompt leaves."""
    from bot.limits import TEXT_LIMIT, visible_units

    h = harness
    await open_consultation(h)
    u = await _cadre(h)
    await _missing_to_basis(h, u, "𠀀" * 200)
    await h.feed(u.message("𡈽" * 2000))
    await _tap(h, u, "跳过")
    await h.feed(u.message("乡镇实际承担"))
    [comment] = await _comments(h)
    assert comment.missing["basis"] == "𡈽" * 2000
    await h.feed(u.message("/mycomments"))
    await _tap(h, u, "修改 #")
    screen = h.api.last(CADRE).text
    assert "理由：乡镇实际承担" in screen and visible_units(screen) <= TEXT_LIMIT
    await _tap(h, u, "依据")
    prompt = h.api.last(CADRE).text
    assert "𡈽" * 100 in prompt and "不改了，发送 /cancel" in prompt and visible_units(prompt) <= TEXT_LIMIT


async def test_a_find_page_of_long_names_in_rare_characters_lists_every_hit_within_telegrams_limit(harness):
    """/list shortens an item's name on its page; /find gave the names whole: eight hits of
    names of 600 𠀀 (1,200 of Telegram's UTF-16 units each) ran past its 4,096, and the screen
    was cut after the third. Each name is shortened as on /list, and all eight are listed."""
    from bot.limits import TEXT_LIMIT, visible_units
    from surveys.duty_list import DutyItem, Part

    h = harness
    items = [DutyItem(Part.BASIC, f"消防检查{k}" + "𠀀" * 600, seq=k, category="平安法治" + "𡈽" * 300)
             for k in range(1, 10)]
    await open_consultation(h, items=items)
    u = await _cadre(h)
    await h.feed(u.message("/find 消防检查"))
    hits = h.api.last(CADRE).text
    assert "共 9 项" in hits and visible_units(hits) <= TEXT_LIMIT
    assert all(f"{k}. [基本履职事项 · 平安法治" in hits for k in range(1, 9))
    assert "消防检查8𠀀" in hits


async def test_a_comment_press_after_the_deadline_of_a_long_emoji_title_still_says_it_closed(harness):
    """A press's pop-up holds 200 of Telegram's UTF-16 units: a title of 100 emoji filled it,
    and "closed on …" was cut off; the title is shortened to leave the rest its room."""
    from bot.limits import ANSWER_LIMIT, units

    h = harness
    c, _ = await open_consultation(h, title="😀" * 100)
    u = await _cadre(h)
    await _open_card(h, u, c, "特种设备安全监管")
    h.clock.advance(days=11)
    await _tap(h, u, "✍️ 提意见")
    alert = h.api.answers()[-1]
    assert alert.call.show_alert and alert.text.startswith("《😀")
    assert "截止，不再接收意见" in alert.text and units(alert.text) <= ANSWER_LIMIT


async def test_a_missing_item_press_after_the_deadline_of_a_long_emoji_title_still_says_it_closed(harness):
    """As the comment's press: /missing's buttons tapped after the deadline popped up a title of
    100 emoji (all the pop-up's 200 UTF-16 units) and not that it closed."""
    from bot.limits import ANSWER_LIMIT, units

    h = harness
    await open_consultation(h, title="😀" * 100)
    u = await _cadre(h)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河湖巡查"))
    h.clock.advance(days=11)
    await _tap(h, u, "基本履职事项")
    alert = h.api.answers()[-1]
    assert alert.call.show_alert and alert.text.startswith("《😀")
    assert "截止，不再接收意见" in alert.text and units(alert.text) <= ANSWER_LIMIT


async def test_a_report_or_proposal_begun_for_one_township_is_not_saved_for_the_township_moved_to(harness):
    """A cadre of 青山镇 half-way through /report (青山镇's task typed) took a 白云镇 invite and moved:
    finishing the report filed 青山镇's task as 白云镇's. Moving now drops the unfinished form and
    says so; the next text files nothing."""
    h = harness
    await open_consultation(h)
    await open_consultation(h, township="白云镇", title="白云镇清单")
    u = await _cadre(h)
    await h.feed(u.message("/report"))
    for text in ("县住建局", "青山镇的自建房排查"):
        await h.feed(u.message(text))
    await h.feed(u.message(f"/start inv_{await _invite(h, '白云镇')}"))
    await _tap(h, u, "改为")
    moved = h.api.last(CADRE).text
    assert "白云镇" in moved and "清单外事项报告已取消" in moved
    await h.feed(u.message("上周"))
    assert "现在没有等待填写的步骤" in h.api.last(CADRE).text
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(OffListReport)) == 0
    # the same with a missing item's proposal begun for the other township
    await h.feed(u.message("/missing"))
    await h.feed(u.message("白云镇的河道巡查"))
    await _tap(h, u, "配合履职事项")
    await h.feed(u.message(f"/start inv_{await _invite(h)}"))
    await _tap(h, u, "改为")
    moved = h.api.last(CADRE).text
    assert "青山镇" in moved and "遗漏事项已取消" in moved
    await h.feed(u.message("交通运输"))
    assert "现在没有等待填写的步骤" in h.api.last(CADRE).text


async def test_a_cadres_welcome_says_who_sees_their_comments_and_how_to_erase_what_is_kept(harness):
    """A resident's welcome says what is kept and who sees it; a cadre, verified by an invite, was
    told what they can do but not that their comments go to the county under their township's name
    and a pseudonym, nor of /mydata and /delete_me."""
    h = harness
    await open_consultation(h)
    code = await _invite(h)
    await h.feed(h.user(CADRE).message(f"/start inv_{code}"))
    said = h.api.last(CADRE).text
    assert "以本乡镇的名义交给县里的组织者" in said and "不显示您的名字和 Telegram 编号" in said
    assert "/mydata" in said and "/delete_me" in said
    code = await _invite(h)
    await h.feed(h.user(OTHER_CADRE, language_code="en").message(f"/start inv_{code}"))
    said = h.api.last(OTHER_CADRE).text
    assert "in your township's name" in said and "never your name or Telegram id" in said and "/delete_me" in said
