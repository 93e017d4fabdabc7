"""storage.followup: what the reminder job reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime

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
