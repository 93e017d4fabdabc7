"""The update_id mark (storage.marks): written by the first commit of the session
handling the update, with the handler's writes; a second handling of the same
update commits nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage.engine import make_sessionmaker
from storage.marks import bind_update, marked
from storage.models import ProcessedUpdate, Township
from storage.responses import AlreadyProcessed


async def _count(sessions, model, *where) -> int:
    async with sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


async def test_first_commit_writes_the_mark_with_the_handlers_writes_and_a_second_handling_commits_nothing(database):
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        first, second = sessions(), sessions()
        bind_update(first, 77)
        bind_update(second, 77)
        # both read, as two processes handling a redelivered update would, before either commits
        for s in (first, second):
            assert (await s.execute(sa.select(ProcessedUpdate).where(ProcessedUpdate.update_id == 77))).first() is None
        first.add(Township(name="甲镇"))
        await first.commit()
        assert marked(first)
        assert await _count(sessions, ProcessedUpdate, ProcessedUpdate.update_id == 77) == 1
        assert await _count(sessions, Township, Township.name == "甲镇") == 1

        second.add(Township(name="乙镇"))
        with pytest.raises(AlreadyProcessed):
            await second.commit()
        await second.rollback()
        assert not marked(second)
        assert await _count(sessions, Township, Township.name == "乙镇") == 0

        # later commits of the first session write no second mark and raise nothing
        first.add(Township(name="丙镇"))
        await first.commit()
        assert await _count(sessions, ProcessedUpdate) == 1
        assert await _count(sessions, Township, Township.name == "丙镇") == 1
        await first.close()
        await second.close()
    finally:
        await engine.dispose()


async def test_a_failed_commit_leaves_the_update_unmarked(database):
    """The mark goes with the transaction: when that fails, the redelivered update is let through."""
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            s.add(Township(name="丁镇"))
            await s.commit()
        s = sessions()
        bind_update(s, 78)
        s.add(Township(name="丁镇"))  # violates the unique township name
        with pytest.raises(sa.exc.IntegrityError):
            await s.commit()
        await s.rollback()
        assert not marked(s)
        await s.close()
        assert await _count(sessions, ProcessedUpdate, ProcessedUpdate.update_id == 78) == 0
        s = sessions()
        bind_update(s, 78)
        await s.commit()
        assert marked(s)
        await s.close()
        assert await _count(sessions, ProcessedUpdate, ProcessedUpdate.update_id == 78) == 1
    finally:
        await engine.dispose()
