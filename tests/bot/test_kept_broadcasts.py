"""Broadcasts an organizer starts (/announce, a moved deadline told to the cadres) are kept
(storage.outbox): a stop waits a while for them (bot.app.finish_background), and one cut
off halfway is resumed by the scheduler after the restart — everyone gets it once."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from bot import scheduler as sched
from bot.app import finish_background
from bot.broadcaster import Broadcaster
from storage.models import Outbox
from storage.people import delete_person
from tests.bot.conftest import ORGANIZER, open_consultation
from tests.bot.test_broadcaster import FakeClock
from tests.bot.test_organizer import _press_label
from tests.bot.test_scheduler import add_resident, follow

TEXT = "征询还有三天截止，请大家抓紧参与。"
PEOPLE = list(range(100, 110))


@pytest.fixture(autouse=True)
def _clean_registry():
    yield
    sched.configure(None)


class Gate(FakeClock):
    """The broadcaster's clock: `passes` pacing waits go by, then the next one waits until
    `open` is set — a broadcast held up by Telegram's rate limit."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.passes = passes
        self.open = asyncio.Event()
        self.reached = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if self.passes <= 0:
            self.reached.set()
            await self.open.wait()
        self.passes -= 1
        await super().sleep(seconds)


async def _announce(h, passes: int) -> Gate:
    """Ten residents, and an organizer's announcement to them sending in the background, held
    up after `passes` + 1 messages (one a second: each further one waits for the pacer)."""
    cid, _ = await open_consultation(h)
    for pid in PEOPLE:
        await add_resident(h, cid, pid, h.clock.now)
    gate = Gate(passes)
    h.dp["broadcaster"] = Broadcaster(h.bot, h.sessions, rate=1, per_chat_interval=0, clock=gate,
                                      sleep=gate.sleep, concurrency=1, claim_batch=3)
    o = h.user(ORGANIZER)
    await h.feed(o.message(f"/announce {cid}"))
    await h.feed(o.message(TEXT))
    preview = h.api.last(ORGANIZER)
    await h.feed(o.press(preview.message_id, _press_label(preview.reply_markup, "发送给")))
    await asyncio.wait_for(gate.reached.wait(), 60)  # the background send is held up there
    return gate


def _received(h) -> Counter:
    return Counter(c.chat_id for c in h.api.calls if c.method == "sendMessage" and c.text == TEXT)


def _notes(h) -> list[str]:
    return [t for t in h.api.texts(ORGANIZER) if "成功" in t]


async def test_an_announcement_cut_off_by_a_stop_is_resumed_after_the_restart_and_reaches_everyone_once(
        harness, caplog):
    h = harness
    await _announce(h, passes=3)
    with caplog.at_level(logging.INFO, logger="bot.app"):
        await finish_background(0)  # the stop: no time left to finish it
    first = _received(h)
    assert sum(first.values()) == 4 and set(first.values()) == {1}  # cut off after four of ten
    assert _notes(h) == []  # not done: the organizer is not told it is
    assert "still running after 0 s are stopped" in caplog.text

    gone = next(pid for pid in PEOPLE if pid not in first)
    async with h.sessions() as session:  # one of the six not reached erases their data meanwhile
        await delete_person(session, gone)
        await session.commit()

    s = follow(h)  # the restart: another process, whose scheduler syncs
    await sched.sync_job()
    await sched.wait_idle()
    assert _received(h) == Counter(pid for pid in PEOPLE if pid != gone)  # the other five; nobody twice
    assert len(_notes(h)) == 1 and "成功 9" in _notes(h)[0]  # the total, told once

    await sched.sync_job()  # and once done, nothing more
    await sched.wait_idle()
    assert await sched.resume_broadcasts(s) == []
    assert sum(_received(h).values()) == 9 and len(_notes(h)) == 1


async def test_a_stop_waits_for_a_broadcast_running_in_the_background_to_finish(harness, caplog):
    h = harness
    gate = await _announce(h, passes=3)
    with caplog.at_level(logging.INFO, logger="bot.app"):
        stopping = asyncio.create_task(finish_background(60))
        await asyncio.sleep(0)
        assert not stopping.done()  # waiting for the announcement
        gate.open.set()
        await stopping
    assert _received(h) == Counter(PEOPLE)
    assert len(_notes(h)) == 1 and "成功 10" in _notes(h)[0]
    assert "waiting up to 60 s for 1 message send(s)" in caplog.text and "stopped" not in caplog.text
    async with h.sessions() as session:
        assert (await session.get(Outbox, next(iter(await _keys(session))))).done_at is not None


async def test_a_broadcast_whose_sender_still_holds_its_lease_is_not_taken_up_by_the_scheduler(harness):
    h = harness
    gate = await _announce(h, passes=1)
    s = follow(h)
    assert await sched.resume_broadcasts(s) == []  # the sending process is alive: left to it
    gate.open.set()
    await finish_background(60)
    assert _received(h) == Counter(PEOPLE)


async def _keys(session) -> list[str]:
    import sqlalchemy as sa

    return list((await session.scalars(sa.select(Outbox.key))).all())



async def test_an_organizer_who_erases_their_data_mid_broadcast_leaves_no_id_in_it_and_gets_no_note(harness):
    import sqlalchemy as sa

    h = harness
    await _announce(h, passes=3)
    await finish_background(0)  # cut off: kept in the outbox, with whom to tell how it went
    o = h.user(ORGANIZER)
    await h.feed(o.message("/delete_me"))
    confirm = h.api.last(ORGANIZER)
    await h.feed(o.press(confirm.message_id, _press_label(confirm.reply_markup, "确定删除")))
    async with h.sessions() as session:
        payloads = (await session.scalars(sa.select(Outbox.payload))).all()
    assert payloads and all(str(ORGANIZER) not in str(p) for p in payloads)

    follow(h)  # the restart: the rest is sent, nobody is told (nobody to tell)
    before = len(h.api.texts(ORGANIZER))
    await sched.sync_job()
    await sched.wait_idle()
    assert _received(h) == Counter(PEOPLE)
    assert len(h.api.texts(ORGANIZER)) == before


async def test_a_publish_cut_off_by_a_stop_is_resumed_after_the_restart_and_tells_everyone_once(harness):
    """What changed in a published list goes to the township's participants in the background:
    cut off halfway (a stop, a crash), the rest is sent by the restarted scheduler — nobody twice —
    and the organizer is told how it went once, when it is done."""
    from storage.lists import save_list
    from surveys.consultation import Status
    from tests.bot.conftest import ITEMS
    from tests.bot.test_scheduler import township_of

    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    for pid in PEOPLE:
        await add_resident(h, cid, pid, h.clock.now)
    async with h.sessions() as session:
        row = await save_list(session, "青山镇", [i for i in ITEMS if i.name != "特种设备安全监管"])
        await session.commit()
    tid = await township_of(h, cid)
    gate = Gate(passes=3)
    s = sched.Services(h.bot, h.sessions, h.settings, Broadcaster(
        h.bot, h.sessions, rate=1, per_chat_interval=0, clock=gate, sleep=gate.sleep, concurrency=1,
        claim_batch=3), h.clock)
    note = {"chat": ORGANIZER, "locale": "zh_CN", "text": "publish-done",
            "args": {"township": "青山镇", "version": row.version, "list_id": row.id, "id": cid}}
    sending = asyncio.create_task(sched.publish_changes(s, cid, tid, row.id, note=note))
    await asyncio.wait_for(gate.reached.wait(), 60)
    sending.cancel()  # the stop, halfway
    with pytest.raises(asyncio.CancelledError):
        await sending

    def told() -> Counter:
        return Counter(c.chat_id for c in h.api.calls if c.method == "sendMessage" and "特种设备" in (c.text or ""))

    def notes() -> list[str]:
        return [t for t in h.api.texts(ORGANIZER) if "已发布青山镇的新清单" in t]

    first = told()
    assert sum(first.values()) == 4 and set(first.values()) == {1} and notes() == []

    follow(h)  # the restart: another process, whose scheduler syncs
    await sched.sync_job()
    await sched.wait_idle()
    assert told() == Counter(PEOPLE)  # the other six; nobody twice
    assert len(notes()) == 1 and "已发送 10 人" in notes()[0] and f"征询 #{cid}" in notes()[0]
    await sched.sync_job()  # done: nothing more
    await sched.wait_idle()
    assert told() == Counter(PEOPLE) and len(notes()) == 1


async def test_a_published_lists_kept_send_keeps_no_id_of_a_cadre_who_erased_their_data(harness):
    import sqlalchemy as sa

    from storage.lists import save_list
    from surveys.consultation import Status
    from tests.bot.conftest import ITEMS
    from tests.bot.test_scheduler import CADRE, add_cadre, township_of

    h = harness
    cid, _ = await open_consultation(h, status=Status.CLOSED)
    await add_cadre(h, cid)
    async with h.sessions() as session:
        row = await save_list(session, "青山镇", [i for i in ITEMS if i.name != "特种设备安全监管"])
        await session.commit()
    await sched.publish_changes(follow(h), cid, await township_of(h, cid), row.id)
    async with h.sessions() as session:
        [payload] = (await session.scalars(sa.select(Outbox.payload).where(Outbox.kind == "changes"))).all()
        assert CADRE in payload["silent"]  # commented nothing: not thanked for comments
        await delete_person(session, CADRE)
        await session.commit()
        [payload] = (await session.scalars(sa.select(Outbox.payload).where(Outbox.kind == "changes"))).all()
    assert CADRE not in payload["silent"] and str(CADRE) not in str(payload)
