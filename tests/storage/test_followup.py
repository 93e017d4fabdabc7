"""storage.followup: what the reminder job reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from storage import followup
from storage.engine import make_sessionmaker
from storage.models import Delivery

KEY = "remind:1:deadline-24"


async def test_dropping_stale_reminders_while_more_people_are_due_than_a_statement_takes(database):
    """40,000 residents due the same reminder: more than PostgreSQL takes parameters in one
    statement (32,767); the job failed on every tick, and nobody was reminded."""
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    due = list(range(1, 40_001))
    try:
        async with sessions() as s:
            await followup.queue(s, KEY, [*due[:3], 50_000], datetime(2026, 12, 1, tzinfo=UTC))
            await s.commit()
        async with sessions() as s:
            assert await followup.drop_unsent(s, KEY, due) == 1  # 50,000 finished meanwhile
            await s.commit()
        async with sessions() as s:
            left = (await s.scalars(sa.select(Delivery.person_id).where(Delivery.broadcast_key == KEY)
                                    .order_by(Delivery.person_id))).all()
        assert left == due[:3]
    finally:
        await engine.dispose()


async def test_a_run_is_held_by_one_caller_until_its_hold_runs_out_or_is_given_back(session_factory):
    """The final report's hold across processes (`claim_run`): one holder at a time, on SQLite and
    PostgreSQL; renewing or giving it back works only for its holder."""
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    key = "final:1:1796000000:run"
    async with session_factory() as s:
        assert await followup.claim_run(s, key, 1, now)
        await s.commit()
    async with session_factory() as s:
        assert not await followup.claim_run(s, key, 2, now + timedelta(minutes=1))
        assert not await followup.renew_run(s, key, 2, now)  # not its holder: nothing given back
        assert not await followup.claim_run(s, key, 2, now + timedelta(minutes=1))
        assert await followup.renew_run(s, key, 1, now + timedelta(minutes=5))  # the holder renews
        assert not await followup.claim_run(s, key, 2, now + timedelta(minutes=4))
        assert await followup.claim_run(s, key, 2, now + timedelta(minutes=5))  # ran out: taken over
        assert not await followup.renew_run(s, key, 1, now + timedelta(minutes=9))  # the old holder's is gone
        assert await followup.renew_run(s, key, 2, now)  # given back
        assert await followup.claim_run(s, key, 3, now)
        await s.commit()
