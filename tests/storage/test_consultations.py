"""Moving a consultation's deadline (storage.consultations.set_deadline), on SQLite and
PostgreSQL: the change is made against the row as stored when it is written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.consultations import DeadlineMoved, create_consultation, set_deadline, set_status
from storage.lists import save_list
from storage.models import Consultation, DutyListRow
from surveys.consultation import DeadlineRefused, ListConflict, Status
from surveys.duty_list import DutyItem, Part

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def _open(session_factory) -> tuple[int, int]:
    """An open consultation closing in ten days: (its id, its list's id)."""
    async with session_factory() as s:
        row = await save_list(s, "青山镇", [DutyItem(Part.BASIC, "矛盾纠纷排查化解与人民调解", seq=1, category="平安法治")])
        c = await create_consultation(s, title="t", questionnaire="", closes_at=NOW + timedelta(days=10),
                                      list_ids=[row.id])
        await set_status(s, c, Status.OPEN, NOW)
        await s.commit()
        return c.id, row.id


async def test_a_close_or_another_change_committed_after_the_read_is_not_overwritten(session_factory):
    cid, _ = await _open(session_factory)
    async with session_factory() as mover:
        stale = await mover.get(Consultation, cid)  # read open, with its first deadline
        async with session_factory() as other:  # meanwhile: another change, committed
            await set_deadline(other, await other.get(Consultation, cid), NOW + timedelta(days=12), NOW)
            await other.commit()
        with pytest.raises(DeadlineMoved) as moved:
            await set_deadline(mover, stale, NOW + timedelta(days=20), NOW)
        assert moved.value.closes_at == NOW + timedelta(days=12)
        await mover.rollback()
        stale = await mover.get(Consultation, cid)
        async with session_factory() as other:  # meanwhile: closed (the scheduler, /close)
            await set_status(other, await other.get(Consultation, cid), Status.CLOSED, NOW)
            await other.commit()
        with pytest.raises(DeadlineRefused) as refused:
            await set_deadline(mover, stale, NOW + timedelta(days=20), NOW)
        assert refused.value.reason == "closed"  # a move was asked: closed meanwhile, it is not reopened
        await mover.commit()
    async with session_factory() as s:
        c = await s.get(Consultation, cid)
        assert (c.status, c.closes_at) == (Status.CLOSED.value, NOW + timedelta(days=12))


async def test_a_reopening_is_made_only_on_the_closed_row_it_was_asked_for(session_factory):
    cid, list_id = await _open(session_factory)
    later = NOW + timedelta(days=11)
    async with session_factory() as s:
        await set_status(s, await s.get(Consultation, cid), Status.CLOSED, NOW)
        await s.commit()
    async with session_factory() as mover:
        stale = await mover.get(Consultation, cid)  # read closed
        async with session_factory() as other:  # meanwhile: reopened (and extended) by someone else
            await set_deadline(other, await other.get(Consultation, cid), later, later - timedelta(days=1), reopen=True)
            await other.commit()
        with pytest.raises(DeadlineRefused) as refused:
            await set_deadline(mover, stale, NOW + timedelta(days=20), later - timedelta(days=1), reopen=True)
        assert refused.value.reason == "not-closed"
        await mover.rollback()
    async with session_factory() as s:
        c = await s.get(Consultation, cid)
        assert (c.status, c.closes_at, c.closed_at) == (Status.OPEN.value, later, None)
        assert (await s.get(DutyListRow, list_id)).status == "consulting"


async def test_the_deadline_seen_is_checked_and_a_draft_past_its_deadline_may_get_a_new_one(session_factory):
    cid, list_id = await _open(session_factory)
    async with session_factory() as s:
        c = await s.get(Consultation, cid)
        with pytest.raises(DeadlineMoved):  # the organizer saw another deadline than the stored one
            await set_deadline(s, c, NOW + timedelta(days=20), NOW, expected=NOW + timedelta(days=9))
        draft = await create_consultation(s, title="d", questionnaire="", closes_at=NOW - timedelta(days=1),
                                          list_ids=[list_id])
        old = await set_deadline(s, draft, NOW + timedelta(days=5), NOW)
        assert old == NOW - timedelta(days=1)
        await set_status(s, draft, Status.OPEN, NOW)  # (with its old deadline it could not open)
        await s.commit()


async def _drafts_on_two_versions(session_factory) -> tuple[int, int]:
    """Two draft consultations of 青山镇, one on each of two versions of its list: (ids)."""
    async with session_factory() as s:
        ids = []
        for version, name in (("v1", "矛盾纠纷排查化解与人民调解"), ("v2", "矛盾纠纷排查化解")):
            row = await save_list(s, "青山镇", [DutyItem(Part.BASIC, name, seq=1, category="平安法治")], version=version)
            c = await create_consultation(s, title=version, questionnaire="", closes_at=NOW + timedelta(days=10),
                                          list_ids=[row.id])
            ids.append(c.id)
        await s.commit()
        return ids[0], ids[1]


async def test_two_opens_of_one_township_on_two_versions_at_once_open_only_the_first(session_factory):
    # one township is consulted on one version at a time: two organizers opening a consultation
    # each, at the same moment, on two versions — the second's check waits for the first's open
    # and is refused (both passed their checks before, and both opened)
    first, second = await _drafts_on_two_versions(session_factory)
    async with session_factory() as a, session_factory() as b:
        await set_status(a, await a.get(Consultation, first), Status.OPEN, NOW)  # not committed yet
        other = await b.get(Consultation, second)
        racing = asyncio.create_task(set_status(b, other, Status.OPEN, NOW))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waits for the first open's transaction
        await a.commit()
        with pytest.raises(ListConflict) as refused:
            await racing
        assert [clash.other_id for clash in refused.value.clashes] == [first]
        await b.rollback()
    async with session_factory() as s:
        assert [(await s.get(Consultation, cid)).status for cid in (first, second)] == [Status.OPEN.value,
                                                                                      Status.DRAFT.value]
