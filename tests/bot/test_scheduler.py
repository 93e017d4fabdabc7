"""The scheduler's jobs (bot.scheduler) on SQLite and PostgreSQL with an injected
clock and fake Bot API sessions — never a real sleep: reminders and their
idempotency, a crash in the middle, a misfire after downtime, digests, closing and
the final report, publishing the revised list, and one scheduler per database."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from aiogram import Bot

from bot import scheduler as sched
from bot.broadcaster import Broadcaster
from bot.routers.cadre import ListCB
from bot.routers.resident import BeginCB
from bot.testing import TEST_TOKEN, RecordingSession, buttons
from storage.consultations import create_consultation, link_for_township, links, set_status
from storage.followup import remind_key
from storage.lists import save_list
from storage.models import Answer, Comment, Consultation, Delivery, DutyListRow, Person, Response
from storage.people import delete_person
from surveys.consultation import Status
from surveys.duty_list import DutyItem, Part
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
from surveys.reminders import NUDGE
from tests.bot.conftest import ITEMS, ORGANIZER, Harness, close_early, open_consultation
from tests.bot.test_broadcaster import FakeClock, FakeSession, Killed

CADRE = 700001


@pytest.fixture(autouse=True)
def _clean_registry():
    yield
    sched.configure(None)


def follow(h: Harness, api: Any = None) -> sched.Services:
    """Services as a (re)started process has them: a new bot and broadcaster; the clock is the test's."""
    if api is None:
        bot = h.bot
    else:
        bot = Bot(TEST_TOKEN, session=api)
    fake = FakeClock()
    broadcaster = Broadcaster(bot, h.sessions, rate=1000, per_chat_interval=0, clock=fake, sleep=fake.sleep,
                              concurrency=1, claim_batch=5)
    s = sched.Services(bot, h.sessions, h.settings, broadcaster, h.clock)
    sched.configure(s)
    return s


async def closes_at(h: Harness, cid: int) -> datetime:
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        return c.closes_at


async def township_of(h: Harness, cid: int) -> int:
    async with h.sessions() as s:
        return (await links(s, cid))[0].township_id


async def add_resident(h: Harness, cid: int, pid: int, started: datetime, completed: datetime | None = None,
                       language: str = "") -> None:
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        s.add(Person(id=pid, first_name=f"r{pid}", language=language))
        await s.flush()
        s.add(Response(consultation_id=cid, person_id=pid, township_id=tid, started_at=started, updated_at=started,
                       completed_at=completed))
        await s.commit()


async def add_cadre(h: Harness, cid: int, pid: int = CADRE) -> None:
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        s.add(Person(id=pid, first_name="干部", role="cadre", township_id=tid))
        await s.commit()


def chats(api: RecordingSession, method: str | None = None) -> Counter[int]:
    return Counter(c.chat_id for c in api.calls if method is None or c.method == method)


# --- reminders -----------------------------------------------------------------------------------------


async def test_reminders_go_to_unfinished_residents_and_cadres_with_a_one_tap_button(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    deadline = await closes_at(h, cid)  # 10:00 local
    start = h.clock.now
    await add_resident(h, cid, 11, start)  # started, never finished
    await add_resident(h, cid, 12, start, completed=start + timedelta(minutes=5))  # finished
    await add_resident(h, cid, 13, start)  # will delete their data
    await add_cadre(h, cid)
    async with h.sessions() as s:
        await delete_person(s, 13)
        await s.commit()
    s = follow(h)
    h.clock.now = deadline - timedelta(hours=71)  # 11:00 local, in the 72 h stage
    results = await sched.send_reminders(s, cid)
    assert {k: r.sent for k, r in results.items()} == {"deadline-72": 1, "cadre-72": 1}
    assert chats(h.api) == Counter({11: 1, CADRE: 1})
    tid = await township_of(h, cid)
    resident_msg = h.api.last(11)
    assert "截止" in (resident_msg.text or "")
    assert buttons(resident_msg.reply_markup) == [("▶ 继续填写", BeginCB(c=cid, t=tid).pack())]
    assert buttons(h.api.last(CADRE).reply_markup) == [("📋 查看清单", ListCB(c=cid).pack())]

    # one tap resumes the questionnaire in that very message
    user = h.user(11)
    h.api.clear()
    await h.feed(user.press(resident_msg.message_id, BeginCB(c=cid, t=tid).pack()))
    assert h.api.last(11).method == "editMessageText"
    assert h.api.last(11).message_id == resident_msg.message_id


async def test_a_reminder_an_hour_into_its_stage_says_less_than_three_days_not_two(harness: Harness) -> None:
    """The 72-hour reminder sent at 71 h said "还有 2 天就截止了" (English "closes in 2 days") with two
    days and 23 hours left; it says "还有不到 3 天" / "less than 3 days", beside the deadline itself."""
    h = harness
    cid, _ = await open_consultation(h)
    deadline = await closes_at(h, cid)
    await add_resident(h, cid, 11, h.clock.now)
    await add_resident(h, cid, 12, h.clock.now, language="en")
    s = follow(h)
    h.clock.now = deadline - timedelta(hours=71)
    await sched.send_reminders(s, cid)
    chinese, english = h.api.last(11).text or "", h.api.last(12).text or ""
    assert "还有不到 3 天就截止了" in chinese and "2 天" not in chinese
    assert "closes in less than 3 days" in english and "2 days" not in english


async def test_a_cadre_who_has_commented_is_thanked_for_it_in_the_reminder(harness: Harness) -> None:
    """Every cadre got the same reminder, "对清单事项有意见的，请在截止前提出", one who had sent
    several comments too, as if they had said nothing. One who has comments kept (not withdrawn,
    not hidden) is thanked for how many and asked only for any more."""
    h = harness
    cid, _ = await open_consultation(h)
    deadline = await closes_at(h, cid)
    await add_cadre(h, cid)  # commented
    await add_cadre(h, cid, CADRE + 1)  # has not (their one comment withdrawn, one hidden)
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        link = await link_for_township(s, cid, tid)
        item = (await s.scalars(sa.text("SELECT id FROM duty_item WHERE list_id = :l ORDER BY position"),
                                {"l": link.list_id})).first()
        for pid, status, hidden in ((CADRE, "open", False), (CADRE, "open", False), (CADRE, "withdrawn", False),
                                    (CADRE + 1, "withdrawn", False), (CADRE + 1, "open", True)):
            s.add(Comment(consultation_id=cid, item_id=item, person_id=pid, township_id=tid, kind="basis",
                          text="意见", status=status, hidden=hidden, created_at=h.clock.now))
        await s.commit()
    s = follow(h)
    h.clock.now = deadline - timedelta(hours=71)
    await sched.send_reminders(s, cid)
    commented, silent = h.api.last(CADRE).text, h.api.last(CADRE + 1).text
    assert "感谢您已提出的 2 条意见；还有其他意见的，请在截止前提出" in commented and "还有不到 3 天截止" in commented
    assert "感谢" not in silent and "对清单事项有意见的，请在截止前提出" in silent
    async with h.sessions() as s_:
        (await s_.get(Person, CADRE)).language = "en"
        await s_.commit()
    h.clock.now = deadline - timedelta(hours=23)
    await sched.send_reminders(s, cid)
    assert "Thank you for the 2 comments you have sent" in h.api.last(CADRE).text


async def test_the_same_reminder_job_twice_sends_once(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    for pid in range(20, 30):
        await add_resident(h, cid, pid, h.clock.now)
    h.clock.now = await closes_at(h, cid) - timedelta(hours=23)  # 11:00 local
    follow(h)
    await sched.remind_job(cid)
    await sched.remind_job(cid)
    follow(h)  # a restarted process
    await sched.remind_job(cid)
    assert chats(h.api) == Counter({pid: 1 for pid in range(20, 30)})


async def test_killed_in_the_middle_then_restarted_sends_the_rest_and_nobody_twice(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    people = list(range(100, 130))
    for pid in people:
        await add_resident(h, cid, pid, h.clock.now)
    h.clock.now = await closes_at(h, cid) - timedelta(hours=23)
    first = FakeSession(kill_after=7)
    with pytest.raises(Killed):
        follow(h, first)
        await sched.remind_job(cid)
    assert len(first.delivered) == 7

    second = FakeSession()
    follow(h, second)  # the restart
    await sched.remind_job(cid)
    total = Counter(c.chat_id for c in first.delivered + second.delivered)
    assert total == Counter(people)  # everyone once, nobody twice

    third = FakeSession()
    follow(h, third)
    await sched.remind_job(cid)
    assert third.calls == []


async def test_misfire_a_reminder_missed_while_down_is_sent_once_after_start(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 41, h.clock.now)
    deadline = await closes_at(h, cid)
    # down from before the 72 h mark until 50 h before the deadline (08:00 local)
    h.clock.now = deadline - timedelta(hours=50)
    follow(h)
    await sched.remind_job(cid)  # what the scheduler runs first after the restart
    await sched.remind_job(cid)  # and the next tick
    assert chats(h.api) == Counter({41: 1})
    async with h.sessions() as s:
        keys = (await s.scalars(sa.select(Delivery.broadcast_key).where(Delivery.person_id == 41))).all()
    assert keys == [remind_key(cid, "deadline-72", deadline)] == [f"remind:{cid}:deadline-72@20261211T020000Z"]


async def test_quiet_hours_hold_the_reminder_until_morning(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 42, h.clock.now)
    deadline = await closes_at(h, cid)
    follow(h)
    h.clock.now = deadline - timedelta(hours=37)  # 21:00 local
    await sched.remind_job(cid)
    assert h.api.calls == []
    h.clock.now = deadline - timedelta(hours=26)  # 08:00 local, still in the 72 h stage
    await sched.remind_job(cid)
    assert chats(h.api) == Counter({42: 1})


async def test_a_resident_who_finishes_between_runs_gets_no_further_reminder(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 43, h.clock.now)
    deadline = await closes_at(h, cid)
    follow(h)
    h.clock.now = deadline - timedelta(hours=71)
    await sched.remind_job(cid)
    async with h.sessions() as s:
        await s.execute(sa.update(Response.__table__).where(Response.person_id == 43)
                        .values(completed_at=h.clock.now))
        await s.commit()
    h.clock.now = deadline - timedelta(hours=23)
    await sched.remind_job(cid)
    assert chats(h.api) == Counter({43: 1})


# --- digests ----------------------------------------------------------------------------------------------


async def _known_answers(h: Harness, cid: int) -> None:
    start = h.clock.now
    await add_resident(h, cid, 51, start, completed=start + timedelta(minutes=10))
    await add_resident(h, cid, 52, start, completed=start + timedelta(minutes=20))
    await add_resident(h, cid, 53, start)
    await add_cadre(h, cid)
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        link = await link_for_township(s, cid, tid)
        item_ids = (await s.scalars(sa.text("SELECT id FROM duty_item WHERE list_id = :l ORDER BY position"),
                                    {"l": link.list_id})).all()
        for kind, item in (("to_cooperating", item_ids[0]), ("basis", item_ids[0]), ("basis", item_ids[1])):
            s.add(Comment(consultation_id=cid, item_id=item, person_id=CADRE, township_id=tid, kind=kind,
                          text="意见", created_at=start + timedelta(minutes=30)))
        await s.commit()
        # resident 51 rated each satisfaction question of the default questionnaire (each has a chart)
        rid = (await s.scalars(sa.select(Response.id).where(Response.consultation_id == cid,
                                                              Response.person_id == 51))).one()
        s.add_all([Answer(response_id=rid, question_id=q, value=4)
                   for q in ("sat_welfare", "sat_safety", "sat_emergency")])
        await s.commit()


async def test_daily_digest_holds_the_numbers_goes_once_a_day_and_moves_last_digest(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = h.clock.now + timedelta(hours=1)  # 11:00 local
    s = follow(h)
    result = await sched.send_digest(s, cid)
    assert result is not None and result.sent == 2  # text and chart to the one organizer
    text = h.api.last(ORGANIZER, "sendMessage").text or ""
    assert "3" in text and "2" in text
    from storage.reports import load_consultation_data
    from surveys.report import digest

    async with h.sessions() as session:
        data = await load_consultation_data(session, cid, h.settings.pseudonym_key, h.settings.timezone,
                                            window=(None, h.clock.now))
        c = await session.get(Consultation, cid)
    d = digest(data, None, h.clock.now)
    assert (d.new_started, d.new_completed, d.total_completed, d.new_comments) == (3, 2, 2, 3)
    assert d.comments_by_kind == {"basis": 2, "to_cooperating": 1}
    assert text == d.text("zh_CN") + f"\n\n<i>每天 9:00（北京时间）发送。改时间：/digest {cid} 18；停发：/digest {cid} 关闭</i>"
    assert c.last_digest_at == h.clock.now
    assert h.api.last(ORGANIZER).method == "sendPhoto"
    # one sound: the text's; its chart follows silently
    assert not h.api.last(ORGANIZER, "sendMessage").call.disable_notification
    assert h.api.last(ORGANIZER).call.disable_notification

    h.api.clear()
    h.clock.advance(hours=2)
    assert await sched.send_digest(s, cid) is None  # the same local date: already done
    assert h.api.calls == []


async def test_a_daily_digest_with_nothing_new_is_a_short_note_without_the_chart(harness: Harness) -> None:
    """A quiet day: the organizer is told in a few lines that nothing came in, with the totals and the
    time left — not the full digest of zeros and yesterday's chart again."""
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = h.clock.now + timedelta(hours=1)  # 11:00 local
    s = follow(h)
    await sched.send_digest(s, cid)
    h.api.clear()
    h.clock.advance(days=1)  # nothing happened meanwhile
    result = await sched.send_digest(s, cid)
    assert result is not None and result.sent == 1
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == ["sendMessage"]
    text = h.api.last(ORGANIZER).text or ""
    assert "没有新的答卷、干部意见和清单外事项报告" in text
    assert "累计：开始答卷 3 人，完成 2 人（完成率 66.7%）；有效意见 3 条" in text and "距截止还有 9 天" in text
    assert "各乡镇" not in text
    async with h.sessions() as session:
        assert (await session.get(Consultation, cid)).last_digest_at == h.clock.now

    h.api.clear()  # something new again: the full digest and its chart
    await add_resident(h, cid, 54, h.clock.now + timedelta(hours=1))
    h.clock.advance(days=1)
    await sched.send_digest(s, cid)
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == ["sendMessage", "sendPhoto"]
    assert "新开始答卷 1 人" in (h.api.last(ORGANIZER, "sendMessage").text or "")


async def test_an_organizer_moves_or_stops_the_daily_digest_in_the_chat(harness: Harness) -> None:
    """/digest ID 18 moves the daily digest to 18:00 local (its job follows at once); an hour in the
    quiet hours is refused with the hours allowed; /digest ID 关闭 stops it (no job, nothing sent by a
    run still due); 开启 brings it back at 9:00."""
    h = harness
    cid, _ = await open_consultation(h)
    s = follow(h)
    org = h.user(ORGANIZER)
    async with _paused_scheduler(h) as scheduler:
        await sched.schedule_consultation(cid)
        assert "hour='9'" in str(scheduler.get_job(f"digest:{cid}").trigger)
        await h.feed(org.message(f"/digest {cid} 18点"))
        assert "每日摘要改为每天 18:00（北京时间）" in h.api.last(ORGANIZER).text
        assert "hour='18'" in str(scheduler.get_job(f"digest:{cid}").trigger)
        await h.feed(org.message(f"/digest {cid} 23"))
        assert "8 到 20 点之间" in h.api.last(ORGANIZER).text
        assert "hour='18'" in str(scheduler.get_job(f"digest:{cid}").trigger)
        await h.feed(org.message(f"/digest {cid} 关闭"))
        assert "已停发" in h.api.last(ORGANIZER).text
        assert scheduler.get_job(f"digest:{cid}") is None and scheduler.get_job(f"close:{cid}") is not None
        h.clock.now = h.clock.now + timedelta(hours=1)  # 11:00 local
        h.api.clear()
        assert await sched.send_digest(s, cid) is None and h.api.calls == []
        await h.feed(org.message(f"/digest {cid} 开启"))
        assert "hour='9'" in str(scheduler.get_job(f"digest:{cid}").trigger)
    async with h.sessions() as session:
        assert (await session.get(Consultation, cid)).settings["digest_hour"] == 9


async def test_digest_setting_without_an_id_applies_to_the_open_consultation_or_asks_which(
        harness: Harness) -> None:
    """/digest 关闭 (18点, 开启) without a consultation's number: the one open consultation's daily
    digest, not "no consultation #关闭"; with several open, a button per consultation; a bare
    number naming a consultation is still its digest now."""
    h = harness
    org = h.user(ORGANIZER)

    async def hour(cid: int) -> int | None:
        async with h.sessions() as session:
            return (await session.get(Consultation, cid)).settings.get("digest_hour", 9)

    await h.feed(org.message("/digest 关闭"))
    assert "没有进行中的征询" in h.api.last(ORGANIZER).text
    cid, _ = await open_consultation(h)
    await h.feed(org.message("/digest 关闭"))
    assert "已停发" in h.api.last(ORGANIZER).text and f"#{cid}" in h.api.last(ORGANIZER).text
    assert await hour(cid) is None
    await h.feed(org.message("/digest 18"))  # a bare number is a consultation's: none is #18
    assert "找不到征询 #18" in h.api.last(ORGANIZER).text and await hour(cid) is None
    await h.feed(org.message("/digest 18点"))
    assert "每日摘要改为每天 18:00" in h.api.last(ORGANIZER).text and await hour(cid) == 18
    await h.feed(org.message("/digest 开启"))
    assert await hour(cid) == 9
    h.api.clear()
    await h.feed(org.message(f"/digest {cid}"))  # (its digest now, as before; nobody started: no chart)
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == ["sendMessage"]

    cid2, _ = await open_consultation(h, township="绿水乡")
    await h.feed(org.message("/digest 关闭"))
    picker = h.api.last(ORGANIZER)
    assert "用于哪次征询" in picker.text
    labelled = buttons(picker.reply_markup)
    assert [label.split()[0] for label, _ in labelled] == [f"#{cid}", f"#{cid2}"]
    assert await hour(cid) == 9 and await hour(cid2) == 9
    await h.feed(org.press(picker.message_id, labelled[1][1]))
    assert "已停发" in h.api.last(ORGANIZER).text and f"#{cid2}" in h.api.last(ORGANIZER).text
    assert await hour(cid) == 9 and await hour(cid2) is None
    await h.feed(org.message("/digest 23点"))  # in the quiet hours: refused once picked
    await h.feed(org.press(h.api.last(ORGANIZER).message_id, buttons(h.api.last(ORGANIZER).reply_markup)[0][1]))
    assert "8 到 20 点之间" in h.api.last(ORGANIZER).text and await hour(cid) == 9


async def test_no_daily_digest_past_the_deadline_before_the_close_job_ran(harness: Harness) -> None:
    """A scheduler back after a downtime that spanned the deadline: the digest due that morning
    does not go out beside the final report of the close it is about to make."""
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=30)  # 10:30 local, still "open" in the database
    assert await sched.send_digest(follow(h), cid) is None
    assert h.api.calls == []


async def test_a_closed_consultations_digest_hour_is_kept_and_the_organizer_told_none_goes_now(
        harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    await h.feed(h.user(ORGANIZER).message(f"/digest {cid} 18"))
    text = h.api.last(ORGANIZER).text
    assert "改为每天 18:00" in text and "结束后不再发送每日摘要" in text
    cid2, _ = await open_consultation(h, township="绿水乡")
    await h.feed(h.user(ORGANIZER).message(f"/digest {cid2} 18"))
    assert "结束后" not in h.api.last(ORGANIZER).text


async def test_digest_and_export_commands(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    org = h.user(ORGANIZER)
    await h.feed(org.message("/digest"))
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == ["sendMessage", "sendPhoto"]
    h.api.clear()
    await h.feed(org.message(f"/export {cid}"))
    doc = h.api.last(ORGANIZER, "sendDocument")
    wb = openpyxl.load_workbook(io.BytesIO(doc.call.document.data))
    assert _township_row(wb, "青山镇") == (3, 2)


async def test_the_digest_chart_of_300_townships_is_a_photo_telegram_takes(harness: Harness) -> None:
    """The chart grew one bar pair a township in one column: above ~180 townships the PNG was
    taller than Telegram takes (width + height 10,000 px), and the digest's photo was refused."""
    from tests.surveys.test_charts import _png_size, within_telegram_photo_limits

    h = harness
    async with h.sessions() as s:
        rows = [await save_list(s, f"第{n:03d}号示范区街道办事处", ITEMS[:1]) for n in range(300)]
        c = await create_consultation(s, title="全市征询", questionnaire="", list_ids=[r.id for r in rows],
                                      closes_at=h.clock.now + timedelta(days=5))
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
        cid = c.id
    for pid in range(60):
        await add_resident(h, cid, 9000 + pid, h.clock.now, completed=h.clock.now if pid % 2 else None)
    await h.feed(h.user(ORGANIZER).message(f"/digest {cid}"))
    png = h.api.last(ORGANIZER, "sendPhoto").call.photo.data
    assert within_telegram_photo_limits(png), (_png_size(png), len(png))
    h.clock.now = h.clock.now + timedelta(hours=1)
    h.api.clear()
    await sched.send_digest(follow(h), cid)  # the daily one
    png = h.api.last(ORGANIZER, "sendPhoto").call.photo.data
    assert within_telegram_photo_limits(png), (_png_size(png), len(png))


async def test_charts_are_drawn_off_the_event_loop_on_the_chart_thread(harness: Harness, monkeypatch) -> None:
    """A chart takes about a second on a slow host: drawn on the loop, every update waited."""
    import threading

    import surveys.charts

    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    drawn: list[str] = []
    real = surveys.charts.completion_chart

    def spy(*args: Any) -> bytes:
        drawn.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(surveys.charts, "completion_chart", spy)
    await h.feed(h.user(ORGANIZER).message("/digest"))  # the organizer's digest
    h.clock.now = h.clock.now + timedelta(hours=1)
    await sched.send_digest(follow(h), cid)  # the daily one
    assert h.api.last(ORGANIZER).method == "sendPhoto"
    assert len(drawn) == 2 and all(name.startswith("qingdan-charts") for name in drawn), drawn


def _township_row(wb: Any, township: str) -> tuple[int, int]:
    ws = wb.worksheets[0]
    for row in ws.iter_rows(values_only=True):
        if row and row[0] == township:
            return row[1], row[2]
    raise AssertionError("no township row")


def _kind_count(wb: Any, label: str) -> int:
    for row in wb.worksheets[0].iter_rows(values_only=True):
        if row and row[0] == label:
            return row[1]
    raise AssertionError(label)


# --- closing and the final report ------------------------------------------------------------------------


async def test_export_after_the_close_also_sends_the_feedback_report_with_the_answers_given_since(
        harness: Harness) -> None:
    """The 反馈情况说明 sent at the close has every comment 尚未答复: the organizer answers them
    after the window closes. /export of a closed consultation now sends, after the workbook,
    the draft as it stands (an open one's /export stays the workbook alone)."""
    from storage.comments import answer_comment

    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    org = h.user(ORGANIZER)
    h.api.clear()
    await h.feed(org.message(f"/export {cid}"))
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == ["sendDocument"]
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    at_close = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendDocument"][-1]
    assert at_close.call.document.data.startswith(b"\xef\xbb\xbf")  # a BOM: old Notepad reads it as UTF-8
    assert "尚未答复 3 条" in at_close.call.document.data.decode("utf-8-sig")
    async with h.sessions() as s:
        first = await s.scalar(sa.select(sa.func.min(Comment.id)).where(Comment.consultation_id == cid))
        await answer_comment(s, first, "adopted", "已按意见修改", ORGANIZER, h.clock.now)
        await s.commit()
    h.api.clear()
    await h.feed(org.message(f"/export {cid}"))
    workbook, feedback = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendDocument"]
    assert workbook.call.document.filename.endswith(".xlsx")
    assert feedback.call.document.filename == f"征询{cid}反馈情况说明.txt"
    assert feedback.call.document.data.startswith(b"\xef\xbb\xbf")
    text = feedback.call.document.data.decode("utf-8-sig")
    assert "共收到意见 3 条，其中采纳 1 条、部分采纳 0 条、不采纳 0 条，尚未答复 2 条" in text
    assert "说明：已按意见修改" in text


async def test_export_after_the_close_sends_the_final_reports_charts_silently(harness: Harness) -> None:
    """The final report and `qingdan report` have the charts; /export after the close sent the
    workbook and the feedback report only. It now sends the same charts (same captions, file
    names and pictures) between them, and all but the workbook without a sound; an open
    consultation's /export stays the workbook alone."""
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    org = h.user(ORGANIZER)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    final = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendPhoto"]
    assert len(final) == 5
    h.api.clear()
    await h.feed(org.message(f"/export {cid}"))
    sent = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert [c.method for c in sent] == ["sendDocument", *["sendPhoto"] * 5, "sendDocument"]
    assert [bool(c.call.disable_notification) for c in sent] == [False] + [True] * 6
    photos = [c.call for c in sent if c.method == "sendPhoto"]
    assert [p.photo.filename for p in photos] == [c.call.photo.filename for c in final]
    assert [p.caption for p in photos] == [c.call.caption for c in final]
    assert [p.photo.data for p in photos] == [c.call.photo.data for c in final]  # (nothing changed since)
    assert sent[0].call.document.filename.endswith(".xlsx") and sent[-1].call.document.filename.endswith(".txt")


async def test_the_final_report_of_a_consultation_closed_at_midnight_says_24_00_of_its_last_day(
        harness: Harness) -> None:
    """Closed at its deadline 12月10日24时, the organizers' final report began 《…》意见征询已于
    2026-12-11 00:00 结束, as though the 11th had been open too; it says 2026-12-10 24:00."""
    h = harness
    cid, _ = await open_consultation(h)
    midnight = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # 2026-12-11 00:00 in Beijing
    async with h.sessions() as s:
        (await s.get(Consultation, cid)).closes_at = midnight
        await s.commit()
    h.clock.now = midnight + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    head = h.api.last(ORGANIZER, "sendMessage").text or ""
    assert "已于 2026-12-10 24:00 结束" in head and "12-11" not in head


async def test_closes_at_the_deadline_and_sends_the_final_report_and_thanks_once(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)  # 10:03 local
    follow(h)
    await sched.close_job(cid)
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value
    sent = [c.method for c in h.api.calls if c.chat_id == ORGANIZER]
    # the message, the workbook, the completion and comments charts, a chart per satisfaction
    # question of the default questionnaire (three), the draft feedback report
    assert sent == ["sendMessage", "sendDocument", *["sendPhoto"] * 5, "sendDocument"]
    # one sound for the report (its first message); its files and charts follow silently
    assert [bool(c.call.disable_notification) for c in h.api.calls if c.chat_id == ORGANIZER] == [False] + [True] * 7
    workbook, feedback = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendDocument"]
    wb = openpyxl.load_workbook(io.BytesIO(workbook.call.document.data))
    assert _township_row(wb, "青山镇") == (3, 2)
    from surveys.report import kind_label

    assert _kind_count(wb, kind_label("basis", "zh_CN")) == 2
    assert _kind_count(wb, kind_label("to_cooperating", "zh_CN")) == 1
    assert feedback.call.document.filename.endswith(".txt")
    assert "3" in feedback.call.document.data.decode("utf-8-sig")
    thanked = {c.chat_id for c in h.api.calls if c.text and "征询已经结束" in c.text}
    assert thanked == {51, 52, 53, CADRE}

    before = len(h.api.calls)
    follow(h)
    await sched.close_job(cid)
    await sched.sync_job()
    assert len(h.api.calls) == before


@pytest.mark.parametrize("processes", [1, 2])
async def test_two_final_reports_started_at_once_arrive_in_order(harness: Harness, monkeypatch, processes: int) -> None:
    """The /close hook and the sync job both started the final report of one consultation: the
    second found the workbook being built by the first, went on and sent the charts before it.
    One run at a time per consultation in a process (1); and across processes (2: a bot's /close
    hook and a `qingdan scheduler` elsewhere, each process's lock its own — here none at all),
    by a hold on the database: the parts arrive in order, each once."""
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    s = follow(h)
    assert await sched.close_if_due(s, cid)

    @contextlib.asynccontextmanager
    async def own_process(consultation_id: int):  # each run as if alone in its process
        yield

    if processes == 2:
        monkeypatch.setattr(sched, "_one_final_at_a_time", own_process)
    await asyncio.gather(sched.after_close(s, cid), sched.after_close(s, cid))
    sent = [c.method for c in h.api.calls if c.chat_id == ORGANIZER]
    assert sent == ["sendMessage", "sendDocument", *["sendPhoto"] * 5, "sendDocument"], sent
    thanked = Counter(c.chat_id for c in h.api.calls if c.text and "征询已经结束" in c.text)
    assert set(thanked) == {51, 52, 53, CADRE} and set(thanked.values()) == {1}


async def test_a_final_report_whose_runner_died_is_taken_up_once_its_hold_runs_out(harness: Harness) -> None:
    """The process sending the final report died holding it: the sync job leaves it while the hold
    lasts, and sends what is missing once it has run out (and a run that finished gave it back)."""
    from storage import followup

    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    s = follow(h)
    assert await sched.close_if_due(s, cid)
    async with h.sessions() as session:
        closed_at = (await session.get(Consultation, cid)).closed_at
        key = f"final:{cid}:{int(closed_at.timestamp())}:run"
        assert await followup.claim_run(session, key, 7, h.clock.now)  # the one that died
        await session.commit()
    await sched.sync_job()
    assert not [c for c in h.api.calls if c.chat_id == ORGANIZER]
    h.clock.now += followup.RUN_LEASE
    await sched.sync_job()
    assert [c.method for c in h.api.calls if c.chat_id == ORGANIZER] == \
        ["sendMessage", "sendDocument", *["sendPhoto"] * 5, "sendDocument"]
    async with h.sessions() as session:  # given back at its end
        assert await followup.claim_run(session, key, 8, h.clock.now)


async def test_a_cadre_who_gave_nothing_is_not_told_their_views_went_to_the_organizers(harness: Harness) -> None:
    """Every cadre of the township was thanked at the close with 您的意见已经交给组织者, those who
    had commented on nothing (or withdrawn all they had) too; they are now thanked for following it."""
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)  # CADRE commented
    silent, withdrew = CADRE + 1, CADRE + 2
    await add_cadre(h, cid, silent)
    await add_cadre(h, cid, withdrew)
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        item = await s.scalar(sa.text("SELECT min(id) FROM duty_item"))
        s.add(Comment(consultation_id=cid, item_id=item, person_id=withdrew, township_id=tid, kind="other",
                      text="撤回了", status="withdrawn", created_at=h.clock.now))
        await s.commit()
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    told = {pid: [c.text for c in h.api.calls if c.chat_id == pid] for pid in (CADRE, silent, withdrew)}
    assert len(told[CADRE]) == 1 and "感谢您参与" in told[CADRE][0] and "交给组织者" in told[CADRE][0]
    for pid in (silent, withdrew):
        assert len(told[pid]) == 1 and "交给组织者" not in told[pid][0], told[pid]
        assert "征询已经结束" in told[pid][0] and "调整情况" in told[pid][0]


async def test_a_resident_who_did_not_finish_is_thanked_for_the_answers_they_gave(harness: Harness) -> None:
    """A resident who started the questionnaire and never finished was thanked at the close with
    您的意见已经交给组织者 as if they had answered it all. Their answers do count in the report
    (the tallies read every response, finished or not): they are thanked for the answers they gave,
    and one who answered nothing is not told their views went anywhere."""
    from storage.models import Answer

    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)  # 51 and 52 finished; 53 started, answered nothing
    await add_resident(h, cid, 54, h.clock.now)  # started, answered two questions, never finished
    async with h.sessions() as s:
        rid = await s.scalar(sa.select(Response.id).where(Response.person_id == 54))
        s.add_all([Answer(response_id=rid, question_id="q1", value="a"), Answer(response_id=rid, question_id="q2",
                                                                                value=None),
                   Answer(response_id=rid, question_id="q3", value=3)])
        await s.commit()
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    told = {pid: [c.text or "" for c in h.api.calls if c.chat_id == pid] for pid in (51, 53, 54)}
    assert len(told[51]) == 1 and "您的意见已经交给组织者" in told[51][0]
    assert len(told[54]) == 1 and "您的意见已经交给组织者" not in told[54][0], told[54]
    assert "没有填完" in told[54][0] and "2 道题" in told[54][0] and "计入" in told[54][0]
    assert len(told[53]) == 1 and "交给组织者" not in told[53][0] and "没有回答" in told[53][0], told[53]
    assert "征询已经结束" in told[53][0] and "调整情况" in told[53][0]


async def test_close_in_the_quiet_hours_thanks_in_the_morning(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 61, h.clock.now)
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        c.closes_at = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)  # 22:00 local
        await s.commit()
    h.clock.now = datetime(2026, 12, 5, 14, 1, tzinfo=UTC)
    follow(h)
    await sched.close_job(cid)
    # (the message, workbook, completion chart and feedback: no comments nor ratings to chart)
    assert 61 not in chats(h.api) and chats(h.api)[ORGANIZER] == 4
    assert all(c.call.disable_notification for c in h.api.calls if c.chat_id == ORGANIZER)  # no sound at 22:00
    h.clock.now = datetime(2026, 12, 6, 0, 1, tzinfo=UTC)  # 08:01 local: the sync job finishes it
    await sched.sync_job()
    assert chats(h.api)[61] == 1 and chats(h.api)[ORGANIZER] == 4


async def test_close_by_the_organizer_sends_the_final_report_through_the_hook(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 62, h.clock.now)
    follow(h)
    await close_early(h, str(cid))
    await sched.wait_idle()
    assert chats(h.api, "sendDocument")[ORGANIZER] == 2
    assert chats(h.api)[62] == 1


async def test_publishing_the_revised_list_tells_the_townships_participants_what_changed(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    await add_resident(h, cid, 71, h.clock.now)
    await add_cadre(h, cid)
    revised = [i for i in ITEMS if i.name != "特种设备安全监管"] + [
        DutyItem(Part.BASIC, "农村村民宅基地审核批准", seq=4, category="乡村振兴", basis="《土地管理法》")]
    async with h.sessions() as s:
        row = await save_list(s, "青山镇", revised)
        await s.commit()
    s = follow(h)
    tid = await township_of(h, cid)
    result = await sched.publish_changes(s, cid, tid, row.id)
    assert result.sent == 2
    text = h.api.last(71).text or ""
    assert "宅基地" in text and "特种设备" in text
    async with h.sessions() as session:
        assert (await session.get(Consultation, cid)).status == Status.REPORTED.value
    again = await sched.publish_changes(s, cid, tid, row.id)
    assert again.sent == 0 and chats(h.api) == Counter({71: 1, CADRE: 1})
    # the resident gave their views; the cadre commented on nothing: not thanked for comments
    assert "感谢您提出的意见" in text
    assert "宅基地" in h.api.last(CADRE).text and "感谢您提出的意见" not in h.api.last(CADRE).text
    # the cadre and the resident who answered for the township can read the published list in the
    # bot (/list): both are told
    assert "/list" in h.api.last(CADRE).text and "/list" in text


async def test_a_revision_published_for_two_consultations_on_one_list_tells_each_person_once(harness: Harness) -> None:
    h = harness
    first, _ = await open_consultation(h, status=Status.CLOSED)
    await add_resident(h, first, 71, h.clock.now)  # in both
    await add_resident(h, first, 72, h.clock.now)  # in the first only
    await add_cadre(h, first)
    tid = await township_of(h, first)
    async with h.sessions() as s:
        list_id = (await links(s, first))[0].list_id
        c = await create_consultation(s, title="第二次征求意见", questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(
            encoding="utf-8"), closes_at=h.clock.now + timedelta(days=10), list_ids=[list_id])
        await set_status(s, c, Status.OPEN, h.clock.now)
        await set_status(s, c, Status.CLOSED, h.clock.now)
        second = c.id
        s.add(Person(id=73, first_name="r73"))  # in the second only
        await s.flush()
        for pid in (71, 73):
            s.add(Response(consultation_id=second, person_id=pid, township_id=tid, started_at=h.clock.now,
                           updated_at=h.clock.now))
        row = await save_list(s, "青山镇", [i for i in ITEMS if i.name != "特种设备安全监管"])
        await s.commit()
    s = follow(h)
    assert (await sched.publish_changes(s, first, tid, row.id)).sent == 3
    assert (await sched.publish_changes(s, second, tid, row.id)).sent == 1  # 73 only
    assert chats(h.api) == Counter({71: 1, 72: 1, 73: 1, CADRE: 1})
    async with h.sessions() as session:
        assert (await session.get(Consultation, second)).status == Status.REPORTED.value



async def test_a_publish_at_the_moment_another_consultation_of_the_township_opens_waits_and_is_refused(
        harness: Harness) -> None:
    # the publish's checks (the organizer's press, the CLI) ran before; made again as it publishes,
    # with the township held: an open of another consultation on the old version, committing at the
    # same moment, makes it refused — it published over a list still under consultation
    h = harness
    first, _ = await open_consultation(h, status=Status.CLOSED)
    await add_resident(h, first, 71, h.clock.now)
    tid = await township_of(h, first)
    async with h.sessions() as s:
        list_id = (await links(s, first))[0].list_id
        other = await create_consultation(s, title="第二次征求意见", questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(
            encoding="utf-8"), closes_at=h.clock.now + timedelta(days=10), list_ids=[list_id])
        row = await save_list(s, "青山镇", [i for i in ITEMS if i.name != "特种设备安全监管"])
        await s.commit()
        second, row_id = other.id, row.id
    s = follow(h)
    async with h.sessions() as opener:
        await set_status(opener, await opener.get(Consultation, second), Status.OPEN, h.clock.now)  # not committed
        publishing = asyncio.create_task(sched.publish_changes(s, first, tid, row_id))
        await asyncio.sleep(0.3)
        assert not publishing.done()  # waits for the open's transaction
        await opener.commit()
    with pytest.raises(sched.NotPublishable) as refused:
        await publishing
    assert "第二次征求意见" in refused.value.reason
    assert all(c.chat_id != 71 for c in h.api.calls)  # nobody told of a revision
    async with h.sessions() as session:
        assert (await session.get(Consultation, first)).status == Status.CLOSED.value
        assert (await session.get(DutyListRow, row_id)).status == "draft"

# --- scheduling and the one-scheduler lock ------------------------------------------------------------------


async def test_jobs_are_rebuilt_idempotently_and_keep_a_missed_run(harness: Harness, database) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    s = follow(h)
    first = sched.create_scheduler(h.settings)
    first.start(paused=True)
    sched._scheduler = first
    try:
        await sched.schedule_consultation(cid)
        ids = {j.id for j in first.get_jobs()}
        assert ids == {f"close:{cid}", f"remind:{cid}", f"digest:{cid}"}
        digest_next = first.get_job(f"digest:{cid}").next_run_time
        await sched.schedule_consultation(cid)  # again: nothing replaced
        assert first.get_job(f"digest:{cid}").next_run_time == digest_next
    finally:
        first.shutdown(wait=False)
        sched._scheduler = None
    await asyncio.sleep(0)

    # a restart: the stored run time survives the rebuild (a missed run is still seen as missed)
    second = sched.create_scheduler(h.settings)
    second.start(paused=True)
    sched._scheduler = second
    try:
        await sched.schedule_consultation(cid)
        assert second.get_job(f"digest:{cid}").next_run_time == digest_next
        job = second.get_job(f"remind:{cid}")
        assert job.coalesce is True and job.misfire_grace_time == 600
        assert second.get_job(f"close:{cid}").misfire_grace_time is None
        async with h.sessions() as session:  # closed elsewhere: the sync job drops its jobs
            c = await session.get(Consultation, cid)
            c.status = Status.CLOSED.value
            c.closed_at = h.clock.now
            await session.commit()
        await sched.sync_job()
        assert {j.id for j in second.get_jobs()} == set()
    finally:
        second.shutdown(wait=False)
        sched._scheduler = None
        await sched.wait_idle()
    assert s is not None


def _counted_polls() -> tuple[list[float], asyncio.Event, Callable[[float], Awaitable[None]]]:
    """A stand-by lock's sleep that waits no time: the waits asked for, an event set at the
    third, and the sleep itself."""
    polls: list[float] = []
    three_polls = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) >= 3:
            three_polls.set()
        await asyncio.sleep(0)

    return polls, three_polls, fake_sleep


async def test_a_second_scheduler_on_the_same_sqlite_database_waits_until_the_first_stops(sqlite_database) -> None:
    import os

    polls, three_polls, fake_sleep = _counted_polls()

    first = sched.make_lock(sqlite_database.url)
    second = sched.make_lock(sqlite_database.url, poll=5.0, sleep=fake_sleep)
    assert isinstance(first, sched.FileLock) and isinstance(second, sched.FileLock)
    await first.acquire()
    try:
        with pytest.raises(sched.AlreadyRunning) as err:  # not waiting: refused, naming the holder
            await second.acquire(wait=False)
        assert err.value.pid == str(os.getpid())
        waiting = asyncio.create_task(second.acquire(wait=True))
        await asyncio.wait_for(three_polls.wait(), 10)
        assert not waiting.done() and second.fd is None
        message = sched._t("standby", "zh_CN", path=second.path, pid=os.getpid(), poll="5")
        assert "备用" in message and str(os.getpid()) in message
    finally:
        first.release()
    await asyncio.wait_for(waiting, 10)  # free again once the first one stops: taken over
    assert second.fd is not None and polls[0] == 5.0
    second.release()


async def test_a_second_scheduler_on_postgresql_waits_until_the_first_stops(postgres_database) -> None:
    polls, three_polls, fake_sleep = _counted_polls()

    key = 0x5EED
    first = sched.AdvisoryLock(postgres_database, key=key)
    second = sched.AdvisoryLock(postgres_database, key=key, poll=5.0, sleep=fake_sleep)
    assert first.try_acquire()
    try:
        waiting = asyncio.create_task(second.acquire(wait=True))
        await asyncio.wait_for(three_polls.wait(), 10)
        assert not waiting.done() and second.conn is None
    finally:
        first.release()
    await asyncio.wait_for(waiting, 10)
    assert second.conn is not None and polls[0] == 5.0
    second.release()


def test_sqlite_jobs_are_kept_beside_the_database_and_postgres_jobs_in_it():
    """APScheduler writes its jobs synchronously on the loop's thread: on SQLite they
    must not share the bot's file (a sync writer waiting on the write lock an async
    transaction holds would block the very loop that transaction needs)."""
    assert sched.jobstore_url("sqlite+aiosqlite:///data/qingdan.db") == "sqlite:///data/qingdan.db.jobs"
    assert sched.jobstore_url("postgresql+asyncpg://u@h/qd") == "postgresql+psycopg://u@h/qd?connect_timeout=10"


async def _publish(h: Harness, monkeypatch, cid: int, ref: str, items):
    import bot.app
    import bot.cli_lists as cli_lists
    from bot.testing import TEST_TOKEN

    settings = h.settings.model_copy(update={"bot_token": TEST_TOKEN})
    monkeypatch.setattr(cli_lists, "get_settings", lambda: settings)
    monkeypatch.setattr(bot.app, "create_bot", lambda _settings: h.bot)
    return await cli_lists._publish(cid, "青山镇", ref, items, ref if items is not None else "")


async def test_publishing_the_same_revised_file_twice_stores_and_tells_once(harness: Harness, monkeypatch) -> None:
    from storage.models import DutyListRow

    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    await add_resident(h, cid, 71, h.clock.now)
    await add_cadre(h, cid)
    revised = [i for i in ITEMS if i.name != "特种设备安全监管"]
    first = await _publish(h, monkeypatch, cid, "revised.xlsx", list(revised))
    again = await _publish(h, monkeypatch, cid, "revised.xlsx", list(revised))  # a re-run after a timeout
    assert first[0] == 0 and again[0] == 0
    assert chats(h.api) == Counter({71: 1, CADRE: 1})
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(DutyListRow)) == 2  # consulted + revised


async def test_a_version_older_than_the_consulted_one_is_not_published(harness: Harness, monkeypatch) -> None:
    h = harness
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS[:2], version="草稿")  # imported before the consulted version
        await s.commit()
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    code, message = await _publish(h, monkeypatch, cid, "草稿", None)
    assert code == 1 and "之前导入" in message
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.CLOSED.value


# --- found in a QA pass (2026-11-27) -----------------------------------------------------------


async def test_a_reminder_is_in_the_language_the_person_chats_in(harness: Harness) -> None:
    h = harness
    h.settings.locale = "zh_CN"
    cid, code = await open_consultation(h)
    u = h.user(6001, language_code="en")  # never chose a language with /language
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(6001)
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    q = h.api.last(6001)
    await h.feed(u.press(q.message_id, buttons(q.reply_markup)[0][1]))
    async with h.sessions() as s:
        assert (await s.get(Person, 6001)).language == "en"  # as Telegram reports it
    s = follow(h)
    h.clock.now = await closes_at(h, cid) - timedelta(hours=23)
    await sched.send_reminders(s, cid)
    reminder = h.api.last(6001)
    assert "Continue" in buttons(reminder.reply_markup)[0][0]
    h.api.clear()
    await h.feed(u.message("/language"))  # a language chosen with /language wins over Telegram's
    menu = h.api.last(6001)
    await h.feed(u.press(menu.message_id, next(d for t, d in buttons(menu.reply_markup) if "中文" in t)))
    async with h.sessions() as s:
        assert (await s.get(Person, 6001)).language == "zh_CN"
    await h.feed(u.message("hello"))  # Telegram still says "en"
    async with h.sessions() as s:
        assert (await s.get(Person, 6001)).language == "zh_CN"


async def test_a_residents_reminder_is_in_the_language_their_questionnaire_is_put_in(harness: Harness) -> None:
    """A Chinese-only questionnaire is put to an English speaker in Chinese (resident.py): its
    reminder, which leads back to it, is in Chinese too; a bilingual one's stays English."""
    h = harness
    h.settings.locale = "zh_CN"
    chinese_only = ("id: t\ntitle: 测试\nquestions:\n  - id: s\n    type: single\n    text: 好吗？\n"
                    "    options: [{id: a, text: 好}, {id: b, text: 不好}]\n  - id: n\n    type: single\n"
                    "    text: 还好吗？\n    options: [{id: a, text: 好}, {id: b, text: 不好}]\n")
    for questionnaire, township, pid, continue_label in ((chinese_only, "青山镇", 6011, "继续填写"),
                                                          (None, "绿水乡", 6012, "Continue")):
        cid, code = await open_consultation(h, questionnaire=questionnaire, township=township)
        u = h.user(pid, language_code="en")
        await h.feed(u.message(f"/start {code}"))
        welcome = h.api.last(pid)
        await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
        q = h.api.last(pid)
        await h.feed(u.press(q.message_id, buttons(q.reply_markup)[0][1]))
        s = follow(h)
        h.clock.now = await closes_at(h, cid) - timedelta(hours=23)
        await sched.send_reminders(s, cid)
        reminder = h.api.last(pid)
        assert continue_label in buttons(reminder.reply_markup)[0][0], (township, reminder.text)
        h.clock.now = h.clock.now - timedelta(days=9, hours=1)


async def test_a_person_who_chose_no_language_follows_telegrams_when_it_changes(harness: Harness) -> None:
    from bot.testing import Updates

    h = harness
    h.settings.locale = "zh_CN"
    cid, code = await open_consultation(h)
    await h.feed(h.user(6002, language_code="en").message(f"/start {code}"))
    assert "Start" in buttons(h.api.last(6002).reply_markup)[0][0]
    now_zh = Updates(6002, language_code="zh-hans")  # the person switched Telegram to Chinese
    await h.feed(now_zh.message("/help"))
    assert "切换语言" in h.api.last(6002).text
    async with h.sessions() as s:
        assert (await s.get(Person, 6002)).language == "zh_CN"  # so the scheduler writes in Chinese too
    await h.feed(now_zh.message(f"/start {code}"))
    assert "开始" in buttons(h.api.last(6002).reply_markup)[0][0]


async def test_a_telegram_language_the_bot_does_not_speak_gets_the_bots_locale(harness: Harness) -> None:
    h = harness
    h.settings.locale = "en"
    cid, code = await open_consultation(h)
    await h.feed(h.user(6003, language_code="ru").message(f"/start {code}"))
    assert "Start" in buttons(h.api.last(6003).reply_markup)[0][0]  # not Chinese
    async with h.sessions() as s:
        assert (await s.get(Person, 6003)).language == ""  # the scheduler uses LOCALE too


async def test_a_cadre_who_answers_the_questionnaire_gets_the_residents_reminder(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_cadre(h, cid, 700001)
    tid = await township_of(h, cid)
    async with h.sessions() as s:
        s.add(Response(consultation_id=cid, person_id=700001, township_id=tid, started_at=h.clock.now,
                       updated_at=h.clock.now))
        await s.commit()
    s = follow(h)
    h.clock.now = await closes_at(h, cid) - timedelta(hours=23)
    await sched.send_reminders(s, cid)
    async with h.sessions() as session:
        keys = (await session.scalars(sa.select(Delivery.broadcast_key).where(Delivery.person_id == 700001))).all()
    reminder = h.api.last(700001)
    assert keys == [remind_key(cid, "deadline-24", await closes_at(h, cid))]
    assert "问卷" in reminder.text and BeginCB.__prefix__ in buttons(reminder.reply_markup)[0][1]


async def test_a_reminder_refused_for_good_is_not_sent_again(harness: Harness) -> None:
    from tests.bot.test_broadcaster import bad_request

    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 82, h.clock.now)
    api = FakeSession(script={82: [bad_request] * 100})
    follow(h, api)
    h.clock.now = await closes_at(h, cid) - timedelta(hours=71)
    for _ in range(30):  # five hours of the reminder job's ticks
        await sched.remind_job(cid)
        h.clock.advance(minutes=10)
    assert len([c for c in api.calls if c.chat_id == 82]) == 1


async def test_no_daily_digest_before_a_start_set_ahead(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        c.opens_at = h.clock.now + timedelta(days=1)
        await s.commit()
    h.clock.now = h.clock.now + timedelta(hours=1)  # 11:00 local, not quiet
    assert await sched.send_digest(follow(h), cid) is None
    assert h.api.calls == []
    h.clock.advance(days=1)  # started
    result = await sched.send_digest(follow(h), cid)
    assert result is not None and result.sent == 1  # (nobody answered yet: the short note)


# --- a moved deadline -----------------------------------------------------------------------------------------


async def _move_deadline(h: Harness, cid: int, new: datetime) -> None:
    """The deadline moved as /deadline and `qingdan consultations deadline` move it."""
    from storage.consultations import set_deadline

    async with h.sessions() as s:
        await set_deadline(s, await s.get(Consultation, cid), new, h.clock.now)
        await s.commit()


async def _keys(h: Harness, pid: int) -> list[str]:
    async with h.sessions() as s:
        return list((await s.scalars(sa.select(Delivery.broadcast_key).where(Delivery.person_id == pid)
                                     .order_by(Delivery.id))).all())


@contextlib.asynccontextmanager
async def _paused_scheduler(h: Harness):
    """A scheduler of this process (paused: its jobs are looked at, not run)."""
    scheduler = sched.create_scheduler(h.settings)
    scheduler.start(paused=True)
    sched._scheduler = scheduler
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        sched._scheduler = None
        await sched.wait_idle()
        await asyncio.sleep(0)


async def test_reminders_follow_a_later_deadline_and_an_extension_by_days_brings_them_again(
        harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_cadre(h, cid)
    old = await closes_at(h, cid)  # 2026-12-11 10:00 local
    follow(h)
    h.clock.now = old - timedelta(hours=71)
    await sched.remind_job(cid)  # the old deadline's 72 h reminder
    assert "2026-12-11 10:00" in h.api.last(CADRE).text
    new = old + timedelta(days=3)  # 2026-12-14 10:00 local
    await _move_deadline(h, cid, new)
    for before_old in (23, 1):  # the old deadline's 24 h stage: nothing, the new one is days away
        h.clock.now = old - timedelta(hours=before_old)
        await sched.remind_job(cid)
    assert chats(h.api) == Counter({CADRE: 1})
    for before_new in (71, 23):  # the new deadline's stages: its reminders, once each
        h.clock.now = new - timedelta(hours=before_new)
        await sched.remind_job(cid)
        await sched.remind_job(cid)
        assert "2026-12-14 10:00" in h.api.last(CADRE).text
    assert chats(h.api) == Counter({CADRE: 3})
    assert await _keys(h, CADRE) == [remind_key(cid, "cadre-72", old), remind_key(cid, "cadre-72", new),
                                     remind_key(cid, "cadre-24", new)]


async def _ticks(h: Harness, cid: int, start: datetime, end: datetime, every: timedelta) -> None:
    """The reminder job from `start` to `end` (inclusive) every `every`, each tick run twice."""
    h.clock.now = start
    while h.clock.now <= end:
        await sched.remind_job(cid)
        await sched.remind_job(cid)
        h.clock.now += every


async def test_an_extension_by_days_reminds_those_not_finished_again_once_before_the_new_deadline(
        harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    old = await closes_at(h, cid)  # 2026-12-11 10:00 local
    await add_resident(h, cid, 51, h.clock.now)  # never finishes
    await add_resident(h, cid, 52, h.clock.now)  # finishes after the extension
    await add_resident(h, cid, 53, h.clock.now, completed=h.clock.now + timedelta(minutes=5))
    follow(h)
    every = timedelta(hours=6)  # (ticks at 11:00 and 17:00 local; 23:00 and 05:00 are quiet)
    await _ticks(h, cid, old - timedelta(hours=71), old - timedelta(hours=23), every)
    first = [remind_key(cid, "deadline-72", old), remind_key(cid, NUDGE), remind_key(cid, "deadline-24", old)]
    assert await _keys(h, 51) == await _keys(h, 52) == first
    h.clock.now = old - timedelta(hours=22)
    new = old + timedelta(days=5)  # 2026-12-16 10:00 local: too few answered
    await _move_deadline(h, cid, new)
    async with h.sessions() as s:
        await s.execute(sa.update(Response).where(Response.person_id == 52).values(completed_at=h.clock.now))
        await s.commit()
    await _ticks(h, cid, old - timedelta(hours=17), new - timedelta(hours=5), every)
    assert await _keys(h, 51) == [*first, remind_key(cid, "deadline-72", new), remind_key(cid, "deadline-24", new)]
    assert chats(h.api) == Counter({51: 5, 52: 3})  # each once; none to those who finished
    assert "2026-12-16 10:00" in h.api.last(51).text


async def test_a_deadline_moved_an_hour_later_sends_no_reminder_twice(harness: Harness) -> None:
    from surveys.consultation import FollowUp

    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:  # no cap on the number: the gaps alone must keep the rule
        c = await s.get(Consultation, cid)
        c.settings = {**FollowUp.from_dict(c.settings).to_dict(), "max_reminders": 50}
        await s.commit()
    old = await closes_at(h, cid)
    await add_resident(h, cid, 61, h.clock.now)
    await add_cadre(h, cid)
    follow(h)
    h.clock.now = old - timedelta(hours=71)
    await sched.remind_job(cid)  # the 72 h reminders
    assert chats(h.api) == Counter({61: 1, CADRE: 1})
    first = old + timedelta(hours=1)
    await _move_deadline(h, cid, first)
    await _ticks(h, cid, old - timedelta(hours=70), old - timedelta(hours=23), timedelta(hours=1))
    second = old + timedelta(hours=2)
    await _move_deadline(h, cid, second)
    await _ticks(h, cid, old - timedelta(hours=22), second - timedelta(minutes=10), timedelta(hours=1))
    assert await _keys(h, 61) == [remind_key(cid, "deadline-72", old), remind_key(cid, NUDGE),
                                  remind_key(cid, "deadline-24", first)]
    assert await _keys(h, CADRE) == [remind_key(cid, "cadre-72", old), remind_key(cid, "cadre-24", first)]
    assert chats(h.api) == Counter({61: 3, CADRE: 2})


async def test_a_closed_consultation_extended_and_reopened_reminds_those_not_finished(harness: Harness) -> None:
    from storage.consultations import set_deadline

    h = harness
    cid, _ = await open_consultation(h)
    old = await closes_at(h, cid)
    await add_resident(h, cid, 71, h.clock.now)
    await add_resident(h, cid, 72, h.clock.now, completed=h.clock.now + timedelta(minutes=5))
    await add_resident(h, cid, 73, h.clock.now, language="en")
    await add_cadre(h, cid)
    follow(h)
    for before in (71, 23):
        h.clock.now = old - timedelta(hours=before)
        await sched.remind_job(cid)
    h.clock.now = old + timedelta(minutes=1)
    await sched.close_job(cid)
    h.clock.now = old + timedelta(days=1)
    new = old + timedelta(days=7)  # 2026-12-18 10:00 local
    async with h.sessions() as s:
        await set_deadline(s, await s.get(Consultation, cid), new, h.clock.now, reopen=True)
        await s.commit()
    for before in (71, 23):
        h.clock.now = new - timedelta(hours=before)
        await sched.remind_job(cid)
        await sched.remind_job(cid)
        assert "2026-12-18 10:00" in h.api.last(71).text
    reminded = [k for k in await _keys(h, 71) if k.startswith("remind:")]
    assert reminded == [remind_key(cid, "deadline-72", old), remind_key(cid, "deadline-24", old),
                        remind_key(cid, "deadline-72", new), remind_key(cid, "deadline-24", new)]
    assert [k for k in await _keys(h, 72) if k.startswith("remind:")] == []
    assert [c.text for c in h.api.calls if c.chat_id == 72 and "截止" in (c.text or "")] == []
    texts = [c.text or "" for c in h.api.calls if c.chat_id == 71]
    kinds = ["thanks" if "感谢" in t else "reopened" if "延长" in t else "remind" if "就截止了" in t else t
             for t in texts]
    # thanked at the first close ("征询已经结束"): the first reminder after it says the consultation
    # was extended and reopened, the next is the ordinary one
    assert kinds == ["remind", "remind", "thanks", "reopened", "remind"]
    reopened = texts[3]
    assert "延长至 2026-12-18 10:00" in reopened and "接着填" in reopened
    english = [c.text or "" for c in h.api.calls if c.chat_id == 73]
    assert "Thank you" in english[-3] and "closes in" in english[-1]
    assert "extended" in english[-2] and "2026-12-18 10:00" in english[-2]
    cadre = [c.text or "" for c in h.api.calls if c.chat_id == CADRE]  # the same for the cadres
    assert ["thanks" if "感谢" in t else "reopened" if "延长" in t else "remind" if "截止" in t else t
            for t in cadre] == ["remind", "remind", "thanks", "reopened", "remind"]
    assert "延长至 2026-12-18 10:00" in cadre[3] and "提出" in cadre[3]
    assert "closes in" in english[-1]


async def test_reminders_left_unsent_under_a_deadline_that_moved_are_dropped_not_left_pending(
        harness: Harness) -> None:
    from storage.models import TODO

    h = harness
    cid, _ = await open_consultation(h)
    people = list(range(140, 150))
    for pid in people:
        await add_resident(h, cid, pid, h.clock.now)
    old = await closes_at(h, cid)
    h.clock.now = old - timedelta(hours=23)
    first = FakeSession(kill_after=3)
    with pytest.raises(Killed):  # cut off: the old deadline's 24 h reminder reached three of ten
        follow(h, first)
        await sched.remind_job(cid)
    new = old + timedelta(days=5)
    await _move_deadline(h, cid, new)
    async with h.sessions() as s:  # dropped with the move, not left for a tick to find
        assert await s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.broadcast_key == remind_key(cid, "deadline-24", old), Delivery.status.in_(TODO))) == 0
    second = FakeSession()
    follow(h, second)
    await _ticks(h, cid, old - timedelta(hours=22, minutes=50), new - timedelta(hours=1), timedelta(hours=6))
    async with h.sessions() as s:
        left = (await s.execute(sa.select(Delivery.broadcast_key, Delivery.status).where(
            Delivery.broadcast_key == remind_key(cid, "deadline-24", old)))).all()
        todo = (await s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.broadcast_key.startswith(f"remind:{cid}:"), Delivery.status.in_(TODO))))
    assert sorted(status for _, status in left) == ["sending", "sent", "sent"]  # the three sent stay on record
    assert todo == 0  # nothing waits for ever under the old deadline
    assert all("2026-12-11 10:00" not in (c.method.text or "") for c in second.delivered)  # never sent late


async def test_reminders_not_yet_sent_when_the_consultation_closes_are_not_sent_after_it(
        harness: Harness) -> None:
    """A reminder going out to many when the consultation closed (the organizer's /close, or the
    deadline with a nudge under way) went on to the rest: "还有 … 就截止了" after it had closed.
    Closing forgets the reminders not sent yet, so the broadcast working through them stops."""
    from bot.broadcaster import Outgoing
    from storage.consultations import set_status
    from storage.models import TODO

    h = harness
    cid, _ = await open_consultation(h)
    for pid in range(150, 160):
        await add_resident(h, cid, pid, h.clock.now)
    deadline = await closes_at(h, cid)
    h.clock.now = deadline - timedelta(hours=23)
    with pytest.raises(Killed):  # three of ten reached: seven wait for the broadcast to get to them
        follow(h, FakeSession(kill_after=3))
        await sched.remind_job(cid)
    key = remind_key(cid, "deadline-24", deadline)
    async with h.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.broadcast_key == key, Delivery.status.in_(TODO))) == 7
        await set_status(s, await s.get(Consultation, cid), Status.CLOSED, h.clock.now)  # /close
        await s.commit()
    later = FakeSession()
    s_ = follow(h, later)
    result = await s_.broadcaster.broadcast(key, [], lambda pid: Outgoing(text="还有 23 小时就截止了"))
    assert result.sent == 0 and later.delivered == []
    async with h.sessions() as s:
        assert sorted((await s.scalars(sa.select(Delivery.status).where(Delivery.broadcast_key == key))).all()) \
            == ["sending", "sent", "sent"]  # the three sent stay on record


def meanwhile(after: int, act: Callable[[FakeSession], Awaitable[None]]) -> FakeSession:
    """A recording API that does `act` once its `after`-th message has gone: something that
    happens while a send is under way (a resident finishing, a cadre commenting)."""

    class Meanwhile(FakeSession):
        async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
            answer = await super().make_request(bot, method, timeout)
            if len(self.delivered) == after:
                await act(self)
            return answer

    return Meanwhile()

async def test_a_resident_who_finishes_while_the_reminders_go_out_is_not_reminded(harness: Harness) -> None:
    """The tick read who had not finished, then worked through them at Telegram's pace: one who
    finished meanwhile still got "还没填完 … 接着填". Each resident's completion is read again
    just before their reminder goes; those who finished are skipped (and not reminded later)."""
    h = harness
    cid, _ = await open_consultation(h)
    for pid in range(150, 156):
        await add_resident(h, cid, pid, h.clock.now)
    deadline = await closes_at(h, cid)
    h.clock.now = deadline - timedelta(hours=23)

    async def finish(_api: FakeSession) -> None:  # two reminded: three more finish now
        async with h.sessions() as s:
            await s.execute(sa.update(Response).where(Response.consultation_id == cid,
                                                      Response.person_id.in_([152, 154, 155]))
                            .values(completed_at=h.clock.now))
            await s.commit()

    api = meanwhile(2, finish)
    results = await sched.send_reminders(follow(h, api), cid)
    assert sorted(int(c.chat_id) for c in api.delivered) == [150, 151, 153]
    assert results["deadline-24"].sent == 3
    h.clock.now += timedelta(minutes=10)  # the next tick: the finished are not candidates, the rest done
    assert not [r for r in (await sched.send_reminders(follow(h, api), cid)).values() if r.sent]
    assert sorted(int(c.chat_id) for c in api.delivered) == [150, 151, 153]


async def test_a_cadre_who_comments_while_the_reminders_go_out_is_thanked_not_asked(harness: Harness) -> None:
    """The tick read who of the cadres had commented, then worked through them at Telegram's pace:
    one who commented meanwhile still got the reminder written for a cadre who had said nothing.
    Each cadre's comments are counted again just before their reminder goes."""
    h = harness
    cid, _ = await open_consultation(h)
    cadres = [CADRE, CADRE + 1, CADRE + 2]
    for pid in cadres:
        await add_cadre(h, cid, pid)
    tid = await township_of(h, cid)
    deadline = await closes_at(h, cid)
    h.clock.now = deadline - timedelta(hours=71)

    async def comment(api: FakeSession) -> None:  # one reminded: the others comment now
        async with h.sessions() as s:
            item = await s.scalar(sa.text("SELECT min(id) FROM duty_item"))
            for pid in cadres:
                if pid != int(api.delivered[0].chat_id):
                    s.add(Comment(consultation_id=cid, item_id=item, person_id=pid, township_id=tid,
                                  kind="other", text="意见", created_at=h.clock.now))
            await s.commit()

    api = meanwhile(1, comment)
    await sched.send_reminders(follow(h, api), cid)
    first, *rest = api.delivered
    assert "感谢您已提出" not in first.method.text
    assert len(rest) == 2
    for c in rest:
        assert "感谢您已提出的 1 条意见" in c.method.text, c.method.text


async def test_a_resident_answering_when_their_reminder_comes_up_gets_it_only_once_idle_again(
        harness: Harness) -> None:
    """A resident back at their questionnaire while the reminders went out got "还没填完 … 接着填"
    in the middle of answering (the tick's rule — no reminder within an hour of an answer — was
    read at the tick, minutes before). Their reminder is put off, not used up: the nudge comes
    once they have left it alone long enough again."""
    h = harness
    cid, _ = await open_consultation(h)
    for pid in range(150, 154):
        await add_resident(h, cid, pid, h.clock.now)
    h.clock.now += timedelta(hours=25)  # idle a day: nudged (the deadline days away)

    async def answer(_api: FakeSession) -> None:  # one reminded: 152 answers a question now
        async with h.sessions() as s:
            await s.execute(sa.update(Response).where(Response.consultation_id == cid, Response.person_id == 152)
                            .values(updated_at=h.clock.now))
            await s.commit()

    api = meanwhile(1, answer)
    assert list(await sched.send_reminders(follow(h, api), cid)) == [NUDGE]
    assert sorted(int(c.chat_id) for c in api.delivered) == [150, 151, 153]
    h.clock.now += timedelta(hours=2)  # not idle long enough for a nudge yet: nothing
    await sched.send_reminders(follow(h, api), cid)
    assert sorted(int(c.chat_id) for c in api.delivered) == [150, 151, 153]
    h.clock.now += timedelta(hours=22)  # idle a day again: their nudge now, once
    await sched.send_reminders(follow(h, api), cid)
    h.clock.now += timedelta(minutes=10)
    await sched.send_reminders(follow(h, api), cid)
    assert sorted(int(c.chat_id) for c in api.delivered) == [150, 151, 152, 153]


async def test_an_earlier_deadline_brings_its_reminder_at_the_next_tick(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await add_cadre(h, cid)
    follow(h)
    h.clock.advance(hours=2)  # 12:00 local, the deadline ten days away
    await sched.remind_job(cid)
    assert h.api.calls == []
    new = h.clock.now + timedelta(hours=40)  # 2026-12-03 04:00 local
    await _move_deadline(h, cid, new)
    h.clock.advance(minutes=10)
    await sched.remind_job(cid)
    assert chats(h.api) == Counter({CADRE: 1})
    assert "2026-12-03 04:00" in h.api.last(CADRE).text
    assert await _keys(h, CADRE) == [remind_key(cid, "cadre-72", new)]


async def test_the_close_job_moves_with_the_deadline_set_in_the_chat(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    old = await closes_at(h, cid)
    follow(h)
    o = h.user(ORGANIZER)
    async with _paused_scheduler(h) as scheduler:
        await sched.schedule_consultation(cid)
        assert scheduler.get_job(f"close:{cid}").next_run_time == old
        for new in (old - timedelta(days=5), old + timedelta(days=5)):  # earlier, then later
            await h.feed(o.message(f"/deadline {cid} {new.isoformat()}"))
            confirm = h.api.last(ORGANIZER)
            await h.feed(o.press(confirm.message_id, buttons(confirm.reply_markup)[0][1]))
            assert await closes_at(h, cid) == new
            assert scheduler.get_job(f"close:{cid}").next_run_time == new
            assert {j.id for j in scheduler.get_jobs()} == {f"close:{cid}", f"remind:{cid}", f"digest:{cid}"}


async def test_a_deadline_moved_by_another_process_moves_the_close_and_an_old_run_closes_nothing(
        harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    old = await closes_at(h, cid)
    follow(h)
    async with _paused_scheduler(h) as scheduler:
        await sched.schedule_consultation(cid)
        earlier = old - timedelta(days=2)
        await _move_deadline(h, cid, earlier)  # (the CLI: no hook in this process)
        await sched.sync_job()
        assert scheduler.get_job(f"close:{cid}").next_run_time == earlier  # none left at the old time
        later = old + timedelta(days=3)
        await _move_deadline(h, cid, later)
        h.clock.now = earlier + timedelta(minutes=1)  # the close job's run came before the sync job saw it
        await sched.close_job(cid)
        async with h.sessions() as s:
            assert (await s.get(Consultation, cid)).status == Status.OPEN.value
        assert {j.id for j in scheduler.get_jobs()} == {f"close:{cid}", f"remind:{cid}", f"digest:{cid}"}
        assert scheduler.get_job(f"close:{cid}").next_run_time == later
        assert chats(h.api) == Counter()  # no final report, no thanks


# --- a closed consultation extended and reopened -----------------------------------------------------------


async def test_a_closed_consultation_reopened_takes_answers_again_and_closes_at_the_new_deadline_thanking_once(
        harness: Harness) -> None:
    from tests.bot.test_resident_flow import USER, _begin, _data, _stored

    h = harness
    cid, code = await open_consultation(h)
    deadline = await closes_at(h, cid)
    follow(h)
    o = h.user(ORGANIZER)
    async with _paused_scheduler(h) as scheduler:
        await sched.schedule_consultation(cid)
        u, q = await _begin(h, code)  # a resident starts, then stops at the first question
        await add_resident(h, cid, 81, h.clock.now, completed=h.clock.now)  # one who finished
        h.clock.now = deadline + timedelta(minutes=1)
        await sched.close_job(cid)  # closed at the deadline: final report, thanks
        assert scheduler.get_jobs() == []
        thanked = Counter(c.chat_id for c in h.api.calls if c.text and "征询已经结束" in c.text)
        assert thanked == Counter({USER: 1, 81: 1})
        await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))
        assert "截止" in h.api.answers()[-1].text and await _stored(h) == {}

        new = deadline + timedelta(days=7)
        await h.feed(o.message(f"/deadline {cid} {new.isoformat()}"))
        confirm = h.api.last(ORGANIZER)
        await h.feed(o.press(confirm.message_id, buttons(confirm.reply_markup)[0][1]))
        assert {j.id for j in scheduler.get_jobs()} == {f"close:{cid}", f"remind:{cid}", f"digest:{cid}"}
        assert scheduler.get_job(f"close:{cid}").next_run_time == new

        await h.feed(u.press(q.message_id, _data(q.reply_markup, "很清楚")))  # the same button: taken now
        assert await _stored(h) == {"aware": "well"}
        await _begin(h, code, user=USER + 1)  # and a newcomer begins
        assert await _stored(h, USER + 1) == {}
        async with h.sessions() as s:
            assert await s.scalar(sa.select(sa.func.count()).select_from(Response)
                                  .where(Response.person_id == USER + 1)) == 1

        h.clock.now = new + timedelta(minutes=1)
        await sched.close_job(cid)  # (the job as the scheduler runs it at the new deadline)
        async with h.sessions() as s:
            c = await s.get(Consultation, cid)
            assert (c.status, c.closed_at) == (Status.CLOSED.value, new)
        assert scheduler.get_jobs() == []
    heads = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.text and "意见征询已于" in c.text]
    assert len(heads) == 2  # the final report again, at the new close
    assert "已于 2026-12-11 10:00 结束" in heads[0].text and "已于 2026-12-18 10:00 结束" in heads[1].text
    thanked = Counter(c.chat_id for c in h.api.calls if c.text and "征询已经结束" in c.text)
    assert thanked == Counter({USER: 1, 81: 1, USER + 1: 1})  # nobody twice; the newcomer too
    before = len(h.api.calls)
    await sched.sync_job()  # the sync job finds nothing left to send
    assert len(h.api.calls) == before


async def test_a_consultation_reopened_while_its_final_report_goes_out_thanks_nobody_until_it_closes_again(
        harness: Harness) -> None:
    from storage.consultations import set_deadline

    h = harness
    cid, _ = await open_consultation(h)
    await add_resident(h, cid, 91, h.clock.now, completed=h.clock.now)
    deadline = await closes_at(h, cid)
    new = deadline + timedelta(days=7)

    class ReopenedMidReport(RecordingSession):
        """The organizer extends and reopens it while the report's documents go out."""
        reopened = False

        async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:
            result = await super().make_request(bot, method, timeout)
            if method.__api_method__ == "sendDocument" and not self.reopened:
                self.reopened = True
                async with h.sessions() as s:
                    await set_deadline(s, await s.get(Consultation, cid), new, h.clock.now, reopen=True)
                    await s.commit()
            return result

    api = ReopenedMidReport()
    follow(h, api)
    h.clock.now = deadline + timedelta(minutes=1)
    await sched.close_job(cid)
    assert api.reopened and chats(api)[91] == 0  # "征询已经结束" would be wrong now
    async with h.sessions() as s:
        assert (await s.get(Consultation, cid)).status == Status.OPEN.value
    await sched.sync_job()
    assert chats(api)[91] == 0
    h.clock.now = new + timedelta(minutes=1)
    await sched.close_job(cid)
    assert chats(api)[91] == 1 and "感谢您参与" in api.last(91).text


# --- several consultations of one township (QA pass 2026-11-27) ------------------------------------


async def _two_on_one_list(h: Harness, second: Status = Status.CLOSED) -> tuple[int, int]:
    """Two consultations of 青山镇 on its one list: the first closed, the second `second`."""
    from storage.consultations import create_consultation, set_status
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH

    async with h.sessions() as s:
        row = await save_list(s, "青山镇", ITEMS)
        ids = []
        for title, status in (("第一次征询", Status.CLOSED), ("第二次征询", second)):
            c = await create_consultation(s, title=title, questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text("utf-8"),
                                          closes_at=h.clock.now + timedelta(days=10), list_ids=[row.id])
            await set_status(s, c, Status.OPEN, h.clock.now)
            if status == Status.CLOSED:
                await set_status(s, c, Status.CLOSED, h.clock.now)
            ids.append(c.id)
        await s.commit()
    return ids[0], ids[1]


async def test_a_version_older_than_one_published_through_another_consultation_is_not_published(
        harness: Harness, monkeypatch) -> None:
    from storage.models import DutyListRow

    h = harness
    first, second = await _two_on_one_list(h)
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS[:4], version="修订稿")
        await save_list(s, "青山镇", ITEMS[:3], version="定稿")
        await s.commit()
    assert (await _publish(h, monkeypatch, second, "定稿", None))[0] == 0
    await add_resident(h, first, 81, h.clock.now)
    h.api.clear()
    code, message = await _publish(h, monkeypatch, first, "修订稿", None)
    assert code == 1
    assert "青山镇已经发布了更新的“定稿”清单" in message and "不能再发布较旧的“修订稿”" in message, message
    assert "请发布“定稿”" in message
    async with h.sessions() as s:
        assert (await s.get(Consultation, first)).status == Status.CLOSED.value
        statuses = dict((await s.execute(sa.select(DutyListRow.version, DutyListRow.status))).all())
    assert statuses["修订稿"] == "draft" and statuses["定稿"] == "published"
    assert chats(h.api) == Counter()  # nobody told of the older version
    # the version published through the other consultation answers this one too
    assert (await _publish(h, monkeypatch, first, "定稿", None))[0] == 0
    assert chats(h.api)[81] == 1


async def test_publishing_while_another_consultation_of_the_township_is_open_on_the_older_list_is_refused(
        harness: Harness, monkeypatch) -> None:
    from storage.models import DutyListRow

    h = harness
    first, second = await _two_on_one_list(h, second=Status.OPEN)
    await add_resident(h, first, 82, h.clock.now)
    h.api.clear()
    revised = [i for i in ITEMS if i.name != "特种设备安全监管"]
    code, message = await _publish(h, monkeypatch, first, "revised.xlsx", list(revised))
    assert code == 1
    assert "现在不能发布青山镇的修订后清单" in message, message
    assert f"征询 #{second}“第二次征询”仍在就青山镇的第 1 版征求意见" in message, message
    assert f"请先结束征询 #{second}" in message
    async with h.sessions() as s:  # nothing stored, nothing published, nobody told
        assert await s.scalar(sa.select(sa.func.count()).select_from(DutyListRow)) == 1
        assert (await s.get(Consultation, first)).status == Status.CLOSED.value
    assert chats(h.api) == Counter()
    async with h.sessions() as s:  # the other consultation closed: the revision goes out
        from storage.consultations import set_status

        await set_status(s, await s.get(Consultation, second), Status.CLOSED, h.clock.now)
        await s.commit()
    code, message = await _publish(h, monkeypatch, first, "revised.xlsx", list(revised))
    assert code == 0, message
    assert chats(h.api)[82] == 1


async def test_the_final_reports_draft_feedback_says_how_to_update_it_and_publish_the_revised_list(
        harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)  # closed at its deadline: no /close answer told the organizer anything
    feedback = [c for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendDocument"][-1]
    assert "/comments" in feedback.text and f"/export {cid}" in feedback.text and f"/publish {cid}" in feedback.text


async def test_the_final_reports_charts_say_what_they_show_under_file_names_as_the_cli_gives(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    async with h.sessions() as s:  # an invited organizer who reads English
        s.add(Person(id=77, first_name="Wang", role="organizer", language="en", language_chosen=True))
        await s.commit()
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    async with h.sessions() as s:
        title = (await s.get(Consultation, cid)).title
    zh = [c.call for c in h.api.calls if c.chat_id == ORGANIZER and c.method == "sendPhoto"]
    # and, as `qingdan report` writes them, the chart of each satisfaction (scale) question: the
    # final report in the chat had only the first two, the residents' satisfaction none
    scales = ("sat_welfare", "sat_safety", "sat_emergency")
    assert [p.photo.filename for p in zh] == [f"征询{cid}问卷填写情况.png", f"征询{cid}意见处理情况.png",
                                              *(f"征询{cid}评分题{q}.png" for q in scales)]
    assert all(f"《{title}》" in p.caption for p in zh)
    assert "开始答卷和完成答卷的人数" in zh[0].caption and "采纳、部分采纳、不采纳和尚未答复" in zh[1].caption
    assert "“您对乡镇办理低保、救助、养老、就业等民生服务满意吗？”的回答情况" in zh[2].caption
    en = [c.call for c in h.api.calls if c.chat_id == 77 and c.method == "sendPhoto"]
    assert [p.photo.filename for p in en] == [f"consultation-{cid}-completion.png", f"consultation-{cid}-comments.png",
                                              *(f"consultation-{cid}-scale-{q}.png" for q in scales)]
    assert "started and completed in each township" in en[0].caption and "how many of each type" in en[1].caption
    assert "“How satisfied are you with settling disputes and keeping the peace?”" in en[3].caption


async def test_a_consultation_nobody_answered_gets_no_charts_saying_no_data_but_a_note_once(harness: Harness) -> None:
    """Nobody answered: the final report and /export after the close sent the completion and
    comments charts and one per scale question, each a picture saying 暂无数据, and /digest a
    progress chart of empty bars. Only charts with something to show are sent now; the
    workbook's message (the digest's text) says once that there is nothing to chart yet."""
    h = harness
    cid, _ = await open_consultation(h)
    org = h.user(ORGANIZER)
    await h.feed(org.message("/digest"))
    sent = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert [c.method for c in sent] == ["sendMessage"]
    assert "还没有人开始答卷，暂无进度图。" in (sent[0].text or "")
    h.api.clear()
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    sent = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert [c.method for c in sent] == ["sendMessage", "sendDocument", "sendDocument"]
    note = "暂无可绘制的图表：还没有人开始答卷或提出意见，因此未附图表。"
    assert note in (sent[1].call.caption or "")
    assert sum(note in (c.text or c.call.caption or "") for c in sent) == 1
    h.api.clear()
    await h.feed(org.message(f"/export {cid}"))
    sent = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert [c.method for c in sent] == ["sendDocument", "sendDocument"]
    assert note in (sent[0].call.caption or "")


async def test_a_scale_question_nobody_rated_gets_no_chart_and_the_workbooks_message_says_so(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    async with h.sessions() as s:
        await s.execute(sa.delete(Answer).where(Answer.question_id == "sat_safety"))
        await s.commit()
    h.clock.now = await closes_at(h, cid) + timedelta(minutes=3)
    follow(h)
    await sched.close_job(cid)
    sent = [c for c in h.api.calls if c.chat_id == ORGANIZER]
    assert [c.method for c in sent] == ["sendMessage", "sendDocument", *["sendPhoto"] * 4, "sendDocument"]
    assert "sat_safety" not in " ".join(c.call.photo.filename for c in sent if c.method == "sendPhoto")
    assert "其余图表暂无数据（还没有人作答），未发送。" in (sent[1].call.caption or "")


async def test_a_digest_chart_has_a_file_name_in_the_organizers_language(harness: Harness) -> None:
    h = harness
    cid, _ = await open_consultation(h)
    await _known_answers(h, cid)
    await h.feed(h.user(ORGANIZER).message("/digest"))
    assert h.api.last(ORGANIZER, "sendPhoto").call.photo.filename == f"征询{cid}填写进度.png"
    h.clock.now = h.clock.now + timedelta(hours=1)
    await sched.send_digest(follow(h), cid)  # the daily one
    assert h.api.last(ORGANIZER, "sendPhoto").call.photo.filename == f"征询{cid}填写进度.png"


async def test_a_demoted_cadres_menu_is_set_back_by_the_scheduler_in_the_language_they_chose(harness: Harness) -> None:
    from storage.invites import create_invites, redeem
    from storage.invites import revoke as revoke_invite
    from storage.models import Outbox

    h = harness
    cid, _ = await open_consultation(h)
    async with h.sessions() as s:
        code = (await create_invites(s, await township_of(h, cid), "cadre", 1, None, ORGANIZER))[0].code
        s.add(Person(id=4242, first_name="干部", language="en", language_chosen=True))
        await s.flush()
        await redeem(s, code, 4242, h.clock.now)
        await s.commit()
    s = follow(h)
    assert await sched.resume_broadcasts(s) == []  # nothing to do while they are a cadre
    async with h.sessions() as session:  # demoted (`qingdan invites revoke CODE --demote`, another process)
        assert (await revoke_invite(session, code, h.clock.now, demote=True))[1] == "demoted"
        await session.commit()
    h.api.clear()
    assert await sched.resume_broadcasts(s) == ["menu:4242"]
    await sched.wait_idle()
    menus = [c.call for c in h.api.calls if c.method == "setMyCommands"]
    assert menus and all(m.scope.chat_id == 4242 for m in menus)
    for m in menus:  # everybody's menu, in English whatever the app's language
        commands = {x.command: x.description for x in m.commands}
        assert set(commands) == {"start", "help", "mydata", "language", "cancel"}
        assert all(d.isascii() for d in commands.values())
    async with h.sessions() as session:
        assert await session.get(Outbox, "menu:4242") is None  # done: no id of theirs kept
    h.api.clear()
    assert await sched.resume_broadcasts(s) == [] and h.api.calls == []


async def test_a_scheduler_waiting_for_an_unreachable_postgresql_says_so_once_not_every_poll(caplog) -> None:
    """While PostgreSQL is down, a scheduler waiting for its lock tries every LOCK_POLL seconds:
    it logged a warning at each try (720 lines an hour, in every worker); now once."""
    import logging
    import socket

    with socket.socket() as s:  # a port nothing listens on: PostgreSQL is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    polls: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) >= 4:
            raise asyncio.CancelledError

    lock = sched.AdvisoryLock(f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none", poll=5.0, sleep=fake_sleep)
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"), pytest.raises(asyncio.CancelledError):
        await lock.acquire(wait=True)
    lock.release()
    said = [r for r in caplog.records if "cannot reach the database" in r.getMessage()]
    assert len(polls) == 4 and len(said) == 1


async def test_the_sync_job_forgets_confirmation_claims_older_than_a_week_and_nothing_else(harness: Harness) -> None:
    """Every confirmation's double-tap guard (`claim_once`) left a row in `delivery` for ever."""
    from storage.followup import claim_once, mark_job_done

    h = harness
    follow(h)
    async with h.sessions() as s:
        assert await claim_once(s, "new:old:1", h.clock.now - timedelta(days=8))
        assert await claim_once(s, "new:recent:2", h.clock.now - timedelta(days=6))
        await mark_job_done(s, "digest:1:old")  # a job marker: kept, however old
        await s.execute(sa.update(Delivery).where(Delivery.broadcast_key == "digest:1:old")
                        .values(created_at=h.clock.now - timedelta(days=30)))
        s.add(Delivery(broadcast_key="announce:1", person_id=CADRE, status="sent",
                       created_at=h.clock.now - timedelta(days=30)))
        await s.commit()
    await sched.sync_job()
    async with h.sessions() as s:
        keys = sorted((await s.scalars(sa.select(Delivery.broadcast_key))).all())
        assert keys == ["announce:1", "claim:new:recent:2", "digest:1:old"]
        assert not await claim_once(s, "new:recent:2", h.clock.now)  # still guards its double tap


def test_the_revised_list_notice_of_a_long_summary_and_title_keeps_the_list_hint():
    """A summary of CHANGES_LIMIT (3,500) beside a title of 300 characters passed Telegram's 4,096:
    the cut removed the thanks and the closing /list hint (the summary's limit counts characters,
    Telegram UTF-16 units). The summary gives way."""
    from bot.limits import visible_units

    # item names with rare characters (two UTF-16 units each, as Telegram counts; one in CHANGES_LIMIT)
    line = "· 新增：" + "、".join(f"𡐓家村第{n}项农村集体经济组织财务监督管理" for n in range(20))
    summary = "\n".join([line] * 20)[:sched.CHANGES_LIMIT]
    p = {"title": "题" * 300, "township": "青山经济技术开发区管理委员会", "version": "2026年第二次修订稿", "locale": "zh_CN",
         "summary": {"zh_CN": summary, "en": summary}, "silent": [7]}
    for pid, lang in ((5, "zh-hans"), (6, "en"), (7, "zh-hans")):
        text = sched.changes_news(p, {5: lang, 6: lang, 7: lang})(pid).text
        assert visible_units(text) <= 4096, pid
        assert "/list" in text.splitlines()[-1], pid
    assert "感谢您提出的意见" in sched.changes_news(p, {})(5).text
