"""storage.comments and storage.invites on SQLite and PostgreSQL: writing comments
with their limits, the author's edit rules, the organizer's queries, off-list
reports, and invites' create/redeem/revoke with every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import comments as cm
from storage import invites
from storage.consultations import create_consultation, set_status
from storage.lists import save_list
from storage.models import Consultation, Invite, Person
from surveys.consultation import Status
from surveys.duty_list import DutyItem, Part

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ALICE, BOB = 8001, 8002


async def _setup(s) -> tuple[Consultation, int, list[int]]:
    row = await save_list(s, "青山镇", [DutyItem(Part.BASIC, "甲", category="民生服务"),
                                      DutyItem(Part.BASIC, "乙", category="民生服务"),
                                      DutyItem(Part.WITHDRAWN, "丙", category="市场监管")])
    c = await create_consultation(s, title="征求意见", questionnaire="", closes_at=NOW + timedelta(days=10),
                                  list_ids=[row.id])
    await set_status(s, c, Status.OPEN, NOW)
    from storage.lists import load_list

    items = [i.id for i in (await load_list(s, row.id)).items]
    s.add_all([Person(id=ALICE, role="cadre", township_id=row.township_id),
               Person(id=BOB, role="cadre", township_id=row.township_id)])
    await s.flush()
    return c, row.township_id, items


async def _add(s, c, t, item, person=ALICE, kind="other", text="意见", now=NOW):
    return await cm.add_comment(s, consultation_id=c.id, item_id=item, person_id=person, township_id=t, kind=kind,
                                text=text, now=now)


async def test_add_comment_checks_kind_text_and_item(session_factory):
    async with session_factory() as s:
        c, t, items = await _setup(s)
        comment = await _add(s, c, t, items[0], text="  依据有误  ")
        assert comment.text == "依据有误" and comment.status == "open" and cm.comment_status(comment) == "open"
        for kind, item, text in (("bogus", items[0], "x"), ("other", items[0], ""), ("other", items[0], "长" * 2001),
                                 ("missing", items[0], "x"), ("other", None, "x")):
            with pytest.raises(ValueError):
                await _add(s, c, t, item, kind=kind, text=text)
        assert cm.check_text("长" * 2000) == ("长" * 2000, None)
        assert cm.check_text("长" * 10_000)[1] == "too-long"


async def test_throttle_counts_comments_in_the_last_ten_minutes(session_factory):
    async with session_factory() as s:
        c, t, items = await _setup(s)
        for n in range(cm.THROTTLE_COUNT):
            await _add(s, c, t, items[0], now=NOW + timedelta(seconds=n))
        assert await cm.throttled(s, ALICE, NOW + timedelta(minutes=1))
        assert not await cm.throttled(s, BOB, NOW + timedelta(minutes=1))
        assert not await cm.throttled(s, ALICE, NOW + timedelta(minutes=11))


async def test_edit_and_withdraw_only_own_open_unanswered_comments_before_the_deadline(session_factory):
    async with session_factory() as s:
        c, t, items = await _setup(s)
        mine = await _add(s, c, t, items[0])
        assert (await cm.edit_comment(s, mine.id, BOB, "改", NOW))[1] == "not-yours"
        assert (await cm.edit_comment(s, mine.id, ALICE, "长" * 2001, NOW))[1] == "too-long"
        edited, reason = await cm.edit_comment(s, mine.id, ALICE, "改好了", NOW + timedelta(hours=1))
        assert reason == "ok" and edited.text == "改好了" and edited.updated_at == NOW + timedelta(hours=1)
        assert (await cm.edit_comment(s, mine.id, ALICE, "太晚", NOW + timedelta(days=11)))[1] == "closed"
        assert (await cm.withdraw_comment(s, 999_999, ALICE, NOW))[1] == "unknown"
        answered = await _add(s, c, t, items[1])
        await cm.answer_comment(s, answered.id, "adopted", "已采纳", 1, NOW)
        assert (await cm.withdraw_comment(s, answered.id, ALICE, NOW))[1] == "answered"
        assert (await cm.withdraw_comment(s, mine.id, ALICE, NOW))[1] == "ok"
        assert cm.comment_status(await cm.get_comment(s, mine.id)) == "withdrawn"
        assert (await cm.edit_comment(s, mine.id, ALICE, "再改", NOW))[1] == "withdrawn"
        assert [x.id for x in await cm.my_comments(s, ALICE)] == [answered.id, mine.id]  # newest first
        assert await cm.my_counts_by_item(s, ALICE, items) == {items[1]: 1}


async def test_organizer_queries_filter_answer_hide_and_count(session_factory):
    async with session_factory() as s:
        c, t, items = await _setup(s)
        a = await _add(s, c, t, items[0], kind="basis")
        b = await _add(s, c, t, items[0], person=BOB, kind="wording", now=NOW + timedelta(seconds=1))
        d = await _add(s, c, t, items[1], kind="basis", now=NOW + timedelta(seconds=2))
        gone = await _add(s, c, t, items[2], now=NOW + timedelta(seconds=3))
        await cm.withdraw_comment(s, gone.id, ALICE, NOW)
        missing = await cm.add_comment(s, consultation_id=c.id, item_id=None, person_id=BOB, township_id=t,
                                       kind="missing", text="漏了", missing={"name": "丁"}, now=NOW)
        assert [x.id for x in await cm.comments_for(s, c.id)] == [a.id, missing.id, b.id, d.id]
        assert [x.id for x in await cm.comments_for(s, c.id, item_id=items[0])] == [a.id, b.id]
        assert [x.id for x in await cm.comments_for(s, c.id, kind="basis")] == [a.id, d.id]
        assert await cm.comments_for(s, c.id, township_id=t + 1) == []
        await cm.answer_comment(s, a.id, "partly", "部分采纳", 1, NOW)
        assert a.id not in [x.id for x in await cm.comments_for(s, c.id, unanswered=True)]
        b.decision, b.reply = "rejected", " "  # decided before a reason was required: still awaits one
        await s.flush()
        assert [x.id for x in await cm.comments_for(s, c.id, unanswered=True)] == [missing.id, b.id, d.id]
        b.decision, b.reply = None, ""
        await s.flush()
        await cm.hide_comment(s, d.id)
        assert d.id not in [x.id for x in await cm.comments_for(s, c.id)]
        assert d.id in [x.id for x in await cm.comments_for(s, c.id, include_hidden=True)]
        assert await cm.comment_counts_by_kind(s, c.id) == {"basis": 1, "wording": 1, "missing": 1}
        assert await cm.comment_counts_by_kind(s, c.id, include_hidden=True) == {"basis": 2, "wording": 1,
                                                                                 "missing": 1}
        assert await cm.decision_counts(s, c.id) == {"partly": 1, "open": 2}
        assert await cm.most_commented_items(s, c.id, limit=5) == [("basic", "甲", 2)]
        with pytest.raises(ValueError):
            await cm.answer_comment(s, gone.id, "adopted", "", 1, NOW)
        with pytest.raises(ValueError):
            await cm.answer_comment(s, b.id, "maybe", "", 1, NOW)
        with pytest.raises(LookupError):
            await cm.answer_comment(s, 999_999, "adopted", "", 1, NOW)
        for decision in ("partly", "rejected"):  # the 反馈情况说明 must say why
            with pytest.raises(ValueError):
                await cm.answer_comment(s, b.id, decision, " \n", 1, NOW)
        assert (await cm.get_comment(s, b.id)).decision is None
        assert (await cm.answer_comment(s, b.id, "adopted", "", 1, NOW)).decision == "adopted"


async def test_off_list_reports_are_stored_and_listed(session_factory):
    async with session_factory() as s:
        c, t, _ = await _setup(s)
        first = await cm.add_report(s, person_id=ALICE, township_id=t, consultation_id=c.id, department="县住建局",
                                    task="排查", assigned_on="11月", method="phone", details="", now=NOW)
        second = await cm.add_report(s, person_id=ALICE, township_id=t, consultation_id=None, department="县应急局",
                                     task="值班", assigned_on="上周", method="meeting", details="",
                                     now=NOW + timedelta(minutes=1))
        with pytest.raises(ValueError):
            await cm.add_report(s, person_id=ALICE, township_id=t, consultation_id=None, department="x", task="x",
                                assigned_on="x", method="pigeon", details="", now=NOW)
        assert [r.id for r in await cm.my_reports(s, ALICE)] == [second.id, first.id]
        assert [r.id for r in await cm.reports_for(s, consultation_id=c.id)] == [first.id]
        assert [r.id for r in await cm.reports_for(s, township_id=t)] == [first.id, second.id]
        assert not await cm.report_throttled(s, ALICE, NOW)


async def test_invites_redeem_once_and_refuse_used_expired_revoked_and_unknown(session_factory):
    async with session_factory() as s:
        _, t, _ = await _setup(s)
        s.add_all([Person(id=9001), Person(id=9002)])
        await s.flush()
        good, late, cancelled = await invites.create_invites(s, t, "cadre", 3, NOW + timedelta(days=1), 1)
        assert len({good.code, late.code, cancelled.code}) == 3
        assert all(len(x.code) >= 10 and x.code.isalnum() and x.code.islower() for x in (good, late, cancelled))
        assert (await invites.revoke(s, cancelled.code, NOW))[1] == "ok"
        assert (await invites.revoke(s, cancelled.code, NOW))[1] == "revoked"
        invite, reason = await invites.redeem(s, f"INV_{good.code.upper()}", 9001, NOW)
        assert reason == "ok" and invite.used_by == 9001
        person = await s.get(Person, 9001)
        assert (person.role, person.township_id) == ("cadre", t)
        assert (await invites.redeem(s, good.code, 9002, NOW))[1] == "used"
        assert (await invites.redeem(s, good.code, 9001, NOW))[1] == "already"
        assert (await invites.redeem(s, late.code, 9002, NOW + timedelta(days=2)))[1] == "expired"
        assert (await invites.redeem(s, cancelled.code, 9002, NOW))[1] == "revoked"
        assert (await invites.redeem(s, "zzzzzzzzzzzz", 9002, NOW)) == (None, "unknown")
        assert (await s.get(Person, 9002)).role == "resident"
        assert (await invites.revoke(s, good.code, NOW))[1] == "used"
        assert (await invites.revoke(s, "nope", NOW))[1] == "unknown"
        listed = await invites.list_invites(s, township_id=t)
        assert {(i.code, name) for i, name in listed} == {(x.code, "青山镇") for x in (good, late, cancelled)}
        assert {invites.invite_status(i, NOW) for i, _ in listed} == {"used", "open", "revoked"}
        assert invites.invite_link("@bot", good.code) == f"https://t.me/bot?start=inv_{good.code}"


async def test_organizer_invite_needs_no_township_and_cadre_invite_does(session_factory):
    async with session_factory() as s:
        await _setup(s)
        s.add(Person(id=9003))
        await s.flush()
        with pytest.raises(ValueError):
            await invites.create_invites(s, None, "cadre", 1, None, 1)
        with pytest.raises(ValueError):
            await invites.create_invites(s, None, "king", 1, None, 1)
        [org] = await invites.create_invites(s, None, "organizer", 1, None, 1)
        assert (await invites.redeem(s, org.code, 9003, NOW + timedelta(days=3650)))[1] == "ok"
        assert (await s.get(Person, 9003)).role == "organizer"
        assert (await s.get(Invite, org.code)).expires_at is None


async def test_answering_a_hidden_comment_brings_it_back_into_the_console_and_the_counts(session_factory):
    """A hidden comment's card still offers 采纳/部分采纳/不采纳: answering it told its author
    the answer while the comment stayed hidden — left out of the unanswered queue, the counts and
    the 反馈情况说明 that the answer was for. The answer now unhides it."""
    async with session_factory() as s:
        c, t, items = await _setup(s)
        k = await _add(s, c, t, items[0], kind="basis")
        await cm.hide_comment(s, k.id)
        assert cm.comment_status(await cm.get_comment(s, k.id)) == "hidden"
        await cm.answer_comment(s, k.id, "adopted", "已补充依据", 1, NOW)
        answered = await cm.get_comment(s, k.id)
        assert not answered.hidden and cm.comment_status(answered) == "adopted"
        assert [x.id for x in await cm.comments_for(s, c.id)] == [k.id]
        assert await cm.decision_counts(s, c.id) == {"adopted": 1}


async def test_an_answer_given_while_its_author_withdraws_the_comment_is_refused(session_factory, monkeypatch):
    """The organizer's answer read the comment, then wrote the decision whatever happened in
    between: a withdrawal committed meanwhile left a withdrawn comment with an answer (and its
    author told it). The answer is now written only to a comment still not withdrawn."""
    async with session_factory() as s:
        c, t, items = await _setup(s)
        k = await _add(s, c, t, items[0])
        await s.commit()
        k_id = k.id
    real = cm.get_comment

    async def read_then_withdrawn_elsewhere(session, comment_id):
        comment = await real(session, comment_id)
        monkeypatch.setattr(cm, "get_comment", real)
        async with session_factory() as other:  # the author's withdrawal, in another worker
            assert (await cm.withdraw_comment(other, comment_id, ALICE, NOW))[1] == "ok"
            await other.commit()
        return comment

    async with session_factory() as s:
        monkeypatch.setattr(cm, "get_comment", read_then_withdrawn_elsewhere)
        with pytest.raises(ValueError):
            await cm.answer_comment(s, k_id, "adopted", "已采纳", 1, NOW)
        await s.commit()
    async with session_factory() as s:
        after = await cm.get_comment(s, k_id)
        assert after.status == "withdrawn" and after.decision is None and after.reply == ""
