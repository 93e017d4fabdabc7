"""The scheduler (`python -m bot scheduler`, its own process) killed with SIGKILL in the
middle of a reminder broadcast, then started again on the same database (SQLite and
PostgreSQL): nobody gets the reminder twice, and everyone whose delivery was not in
flight at the kill gets it exactly once.

Set-up, all relative to now (the subprocess has the real clock): an open consultation
closing in 71 h, so its 72 h deadline stage is current, with the quiet hours switched
off (the test must not depend on the time of day); RESIDENTS residents who started
the questionnaire 3 h ago and stopped 2 h ago (so the 72 h reminder is due to each),
and a few who finished (due nothing). The `remind:<id>` job is put into APScheduler's
job store with its run time 5 minutes in the past — the tick fell while the scheduler
was down — so the scheduler runs it at once on start (misfire grace 10 min, coalesce).

The sandbox answers every sendMessage after SLOW seconds, so the broadcast takes a few
seconds; the scheduler is killed once KILL_AFTER reminders have arrived. Before the
restart the job's stored next run time is moved to a minute ago: APScheduler had set it
10 minutes after the killed run, and the test does not wait for that tick (this stands
for "the next tick came"; a tick missed while down runs at start, as on the first start).

What is asserted, and why exactly this. The broadcaster is at most once per (key,
person) (bot/broadcaster.py): a row is claimed (`sending`, committed) before its HTTP
call and recorded `sent` in batches after it; a later run treats a leftover `sending`
row as possibly sent and never repeats it. So after a hard kill:

* nobody has more than one reminder in their chat — not even a resident whose row the
  kill left `sending` (those are not retried);
* every resident whose row was NOT `sending` at the kill (`sent`, or `pending`: claimed
  by nobody yet) has exactly one reminder once the restarted scheduler has run;
* a resident whose row was `sending` at the kill has, after the restart, exactly what
  they had at the kill (0 or 1): the restart sends them nothing. Those with 0 are the
  reminders the kill lost — at most `claim_window` of them (rows claimed ahead of the
  senders plus requests in flight) — counted and printed, not required to be 0;
* the database never says `sent` for a message the chat does not have, and no chat
  has a reminder whose row is still `pending` (the claim precedes the HTTP call);
* the kill fell inside the broadcast (some arrived, some rows still `pending`), and
  residents who finished got nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.broadcaster import Broadcaster
from bot.sandbox.limits import Faults
from bot.sandbox.server import running_sandbox
from storage.consultations import links
from storage.engine import make_engine, make_sessionmaker
from storage.followup import remind_key
from storage.models import Consultation, Delivery, Person, Response
from surveys.consultation import FollowUp
from tests.conftest import Database
from tests.faults.conftest import BOT_USERNAME, TOKEN, SchedulerProc, seed_consultation

pytestmark = [pytest.mark.slow, pytest.mark.faults]

RESIDENTS = 100  # well above the broadcaster's claim window (58 at the scheduler's defaults)
FINISHED = 5
FIRST_UID = 60_001
SLOW = 0.5  # seconds the sandbox takes for each sendMessage
KILL_AFTER = 30  # reminders arrived when the scheduler is killed
KIND = "deadline-72"
REMINDER_TEXT = "就截止了"  # in scheduler.remind-deadline (zh_CN)
TEST_TIMEOUT = 90.0


async def seed(url: str) -> tuple[int, datetime, list[int], list[int]]:
    """The consultation (72 h stage current, no quiet hours), residents who started but
    did not finish, residents who finished; returns (consultation id, deadline, unfinished,
    finished)."""
    await seed_consultation(url)
    now = datetime.now(UTC)
    unfinished = list(range(FIRST_UID, FIRST_UID + RESIDENTS))
    finished = list(range(FIRST_UID + RESIDENTS, FIRST_UID + RESIDENTS + FINISHED))
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            c = (await s.scalars(sa.select(Consultation))).one()
            c.opens_at = now - timedelta(days=1)
            c.closes_at = deadline = now + timedelta(hours=71)
            c.settings = FollowUp(quiet_start="00:00", quiet_end="00:00").to_dict()
            township = (await links(s, c.id))[0].township_id
            for pid in [*unfinished, *finished]:
                s.add(Person(id=pid, first_name=f"居民{pid}", language="zh-hans"))
            await s.flush()
            for pid in unfinished:
                s.add(Response(consultation_id=c.id, person_id=pid, township_id=township,
                               started_at=now - timedelta(hours=3), updated_at=now - timedelta(hours=2)))
            for pid in finished:
                s.add(Response(consultation_id=c.id, person_id=pid, township_id=township,
                               started_at=now - timedelta(hours=3), updated_at=now - timedelta(hours=2),
                               completed_at=now - timedelta(hours=2)))
            await s.commit()
            assert c.id is not None
            return c.id, deadline, unfinished, finished
    finally:
        await engine.dispose()


def set_remind_run(url: str, consultation_id: int, when: datetime) -> None:
    """Put the `remind:<id>` job into the job store as the scheduler itself makes it
    (every 10 min, grace 10 min, coalesce) with its next run at `when`, or move an
    existing one's next run there. Through the job store alone: no scheduler runs here
    (a started-but-paused one may still process due jobs on shutdown)."""
    from zoneinfo import ZoneInfo

    from apscheduler.job import Job
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from bot import scheduler as sched
    from bot.config import Settings

    tz = ZoneInfo(Settings().timezone)
    job_id = f"remind:{consultation_id}"
    every = int(sched.REMIND_EVERY.total_seconds())
    owner = BackgroundScheduler(timezone=tz)  # never started: the jobs' scheduler reference only
    store = SQLAlchemyJobStore(url=sched.jobstore_url(url), tablename="apscheduler_jobs")
    store.start(owner, "default")
    try:
        job = store.lookup_job(job_id)
        if job is None:
            job = Job(owner, id=job_id, func=sched.remind_job, trigger=IntervalTrigger(seconds=every, timezone=tz),
                      executor="default", args=(consultation_id,), kwargs={}, name="remind_job",
                      misfire_grace_time=every, coalesce=True, max_instances=1, next_run_time=when)
            store.add_job(job)
        else:
            job._modify(next_run_time=when)
            store.update_job(job)
        stored = store.lookup_job(job_id)
        assert stored is not None and stored.next_run_time == when, stored
    finally:
        store.shutdown()


async def delivery_statuses(url: str, key: str) -> dict[int, str]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = (await s.execute(sa.select(Delivery.person_id, Delivery.status)
                                    .where(Delivery.broadcast_key == key))).all()
    finally:
        await engine.dispose()
    return {int(p): st for p, st in rows}


def reminders_in_chats(sb, uids: list[int]) -> dict[int, int]:  # noqa: ANN001
    """How many messages the bot put in each chat (all must be the deadline reminder)."""
    out: dict[int, int] = {}
    for uid in uids:
        mine = [m for m in sb.sandbox.chat_messages(TOKEN, uid) if m["from_bot"]]
        assert all(REMINDER_TEXT in (m.get("text") or "") for m in mine), (uid, mine)
        out[uid] = len(mine)
    return out


async def test_scheduler_killed_mid_reminder_broadcast_sends_nobody_twice_and_everyone_not_in_flight_once(
        database: Database, tmp_path: Path) -> None:
    url = database.url
    cid, deadline, unfinished, finished = await seed(url)
    key = remind_key(cid, KIND, deadline)
    everyone = [*unfinished, *finished]
    await asyncio.to_thread(set_remind_run, url, cid, datetime.now(UTC) - timedelta(minutes=5))
    engine = make_engine(url)
    claim_window = Broadcaster(None, engine).claim_window  # type: ignore[arg-type]  # the scheduler's, by default
    await engine.dispose()

    slow = Faults(slow_rate=1.0, slow_seconds=SLOW, methods=frozenset({"sendMessage"}), seed=1)
    async with asyncio.timeout(TEST_TIMEOUT), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                              faults=slow) as sb:
        for uid in everyone:  # each resident has a chat with the bot (they opened the link once)
            sb.sandbox.register_user(TOKEN, uid, f"居民{uid}", language_code="zh-hans")
        scheduler = SchedulerProc(sb, url, tmp_path / "scheduler.log")
        try:
            started = time.monotonic()
            await scheduler.start()
            while sum(reminders_in_chats(sb, unfinished).values()) < KILL_AFTER:
                assert scheduler.alive(), f"the scheduler exited:\n{scheduler.log_tail()}"
                assert time.monotonic() - started < 40, (
                    f"fewer than {KILL_AFTER} reminders in 40 s:\n{scheduler.log_tail()}")
                await asyncio.sleep(0.02)
            scheduler.kill()
            assert scheduler.proc is not None and scheduler.proc.returncode == -9
            # sendMessage calls the dead process had on the wire finish (or not) at the sandbox
            await asyncio.sleep(SLOW + 1.0)

            at_kill = reminders_in_chats(sb, unfinished)
            rows = await delivery_statuses(url, key)
            statuses = Counter(rows.values())
            arrived = {uid for uid, n in at_kill.items() if n}
            print(f"at the kill: {len(arrived)} reminders arrived; rows {dict(statuses)}")
            assert max(at_kill.values()) <= 1
            assert 0 < len(arrived) < RESIDENTS and statuses["pending"] > 0, "the kill did not fall mid-broadcast"
            assert set(rows) == set(unfinished), "delivery rows for exactly the residents who did not finish"
            assert set(statuses) <= {"pending", "sending", "sent"}, statuses
            sent_rows = {uid for uid, st in rows.items() if st == "sent"}
            in_flight = {uid for uid, st in rows.items() if st == "sending"}
            assert sent_rows <= arrived, f"recorded sent but not in the chat: {sorted(sent_rows - arrived)}"
            assert arrived <= sent_rows | in_flight, (
                f"in the chat but never claimed: {sorted(arrived - sent_rows - in_flight)}")
            assert len(in_flight) <= claim_window, (len(in_flight), claim_window)

            # the next tick (see the module docstring), sends at full speed now
            sb.sandbox.faults = None
            await asyncio.to_thread(set_remind_run, url, cid, datetime.now(UTC) - timedelta(minutes=1))
            await scheduler.start()
            settle = time.monotonic() + 30
            while f"broadcast {key}: sent" not in (restart_log := scheduler.log_text().rsplit("--- start 2 ---", 1)[1]):
                assert scheduler.alive(), f"the restarted scheduler exited:\n{scheduler.log_tail()}"
                assert time.monotonic() < settle, f"the broadcast did not finish in 30 s:\n{scheduler.log_tail()}"
                await asyncio.sleep(0.1)
            rows = await delivery_statuses(url, key)
            await asyncio.sleep(0.5)  # nothing else may arrive
            after = reminders_in_chats(sb, everyone)
            scheduler.stop()
            assert scheduler.proc is not None and scheduler.proc.returncode == 0, scheduler.log_tail()

            twice = {uid: n for uid, n in after.items() if n > 1}
            assert not twice, f"reminded more than once: {twice}"
            missing = [uid for uid in unfinished if uid not in in_flight and after[uid] != 1]
            assert not missing, f"not in flight at the kill, yet no reminder: {missing}\n{scheduler.log_tail()}"
            changed = [uid for uid in in_flight if after[uid] != at_kill[uid]]
            assert not changed, f"in flight at the kill, yet sent again by the restart: {changed}"
            assert all(after[uid] == 0 for uid in finished), "a resident who finished was reminded"
            assert set(rows) == set(unfinished) and set(rows.values()) <= {"sent", "sending"}, Counter(rows.values())
            pending_at_kill = RESIDENTS - len(sent_rows) - len(in_flight)
            assert f"broadcast {key}: sent {pending_at_kill}, already done {len(sent_rows) + len(in_flight)}," \
                in restart_log, restart_log[-3000:]
            lost = [uid for uid in in_flight if after[uid] == 0]
            print(f"{len(in_flight)} in flight at the kill ({len(in_flight) - len(lost)} arrived, {len(lost)} lost "
                  f"— at most once); restart sent {pending_at_kill}; "
                  f"{sum(after.values())}/{RESIDENTS} reminded once, nobody twice")
        finally:
            scheduler.kill()
