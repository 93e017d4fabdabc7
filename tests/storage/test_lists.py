"""Storing a duty list and reading it back, on SQLite and PostgreSQL."""

import pytest

from storage import lists
from surveys.duty_list import DutyItem, Part

ITEMS = [
    DutyItem(Part.BASIC, "发展党员及党员教育管理监督服务", seq=1, category="党的建设",
             basis="《中国共产党发展党员工作细则》"),
    DutyItem(Part.COOPERATING, "消防安全检查与火灾隐患整治", seq=1, category="平安法治",
             county_department="县消防救援大队", content="巡查发现报告", county_duty="监督检查与执法",
             basis="《消防法》"),
    DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, category="市场监管",
             receiving_department="县市场监管局", working_mode="发现报告", basis="《特种设备安全法》"),
]


async def test_saved_list_reads_back_every_field(session_factory):
    async with session_factory() as s:
        row = await lists.save_list(s, "青山镇", ITEMS, source_file="a.xlsx")
        await s.commit()
        list_id = row.id
    async with session_factory() as s:
        loaded = await lists.load_list(s, list_id)
    assert loaded.township == "青山镇"
    assert loaded.version == "1"
    assert [i.values() for i in loaded.items] == [i.values() for i in ITEMS]
    assert all(i.id for i in loaded.items)
    assert loaded.counts() == {"basic": 1, "cooperating": 1, "withdrawn": 1}


async def test_versions_increase_and_duplicates_are_refused(session_factory):
    async with session_factory() as s:
        await lists.save_list(s, "青山镇", ITEMS)
        second = await lists.save_list(s, "青山镇", ITEMS[:1])
        await s.commit()
        assert second.version == "2"
        newest = await lists.find_list(s, "青山镇")
        assert newest is not None and newest.id == second.id
        with pytest.raises(lists.VersionExists):
            await lists.save_list(s, "青山镇", ITEMS, version="2")



async def test_the_version_after_a_named_one_is_numbered_after_every_version_stored(session_factory):
    """After a draft imported as "2026征求意见稿", the revised list sent without a label was
    stored as version "1" — read as older than the draft it revises ("consulted on version
    2026征求意见稿; revised as version 1"). It is "2": the number after every version stored."""
    async with session_factory() as s:
        await lists.save_list(s, "青山镇", ITEMS, version="2026征求意见稿")
        revised = await lists.save_list(s, "青山镇", ITEMS[:2])
        assert revised.version == "2"
        await lists.save_list(s, "青山镇", ITEMS[:1], version="修订稿")
        assert (await lists.save_list(s, "青山镇", ITEMS[1:])).version == "4"
        assert (await lists.save_list(s, "白云乡", ITEMS)).version == "1"

async def test_a_list_is_consulting_while_its_consultation_is_open_and_consulted_once_it_closes(database):
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from storage.consultations import create_consultation, set_status
    from storage.engine import make_sessionmaker
    from storage.lists import save_list
    from storage.models import DutyListRow
    from surveys.consultation import Status
    from surveys.duty_list import DutyItem, ListStatus, Part

    engine = database.engine()
    now = datetime.now(UTC)
    try:
        async with make_sessionmaker(engine)() as s:
            row = await save_list(s, "青山镇", [DutyItem(Part.BASIC, "人民调解", seq=1, basis="《人民调解法》")])
            a = await create_consultation(s, title="A", questionnaire="x", closes_at=now + timedelta(days=9),
                                          list_ids=[row.id])
            b = await create_consultation(s, title="B", questionnaire="x", closes_at=now + timedelta(days=9),
                                          list_ids=[row.id])

            async def status() -> str:
                await s.flush()
                return await s.scalar(sa.select(DutyListRow.status).where(DutyListRow.id == row.id))

            assert await status() == ListStatus.DRAFT
            await set_status(s, a, Status.OPEN, now)
            await set_status(s, b, Status.OPEN, now)
            assert await status() == ListStatus.CONSULTING
            await set_status(s, a, Status.CLOSED, now)
            assert await status() == ListStatus.CONSULTING  # B still consults it
            await set_status(s, b, Status.CLOSED, now)
            assert await status() == ListStatus.CONSULTED
            await set_status(s, b, Status.OPEN, now)  # reopened
            assert await status() == ListStatus.CONSULTING
    finally:
        await engine.dispose()


async def test_townships_and_lists_come_in_one_order_whatever_the_databases_collation(session_factory, database):
    """The /new and /invite pickers and `qingdan lists show`: townships by name in code-point
    order on SQLite and on PostgreSQL alike, also when PostgreSQL's collation orders Chinese
    by pinyin (a zh_CN database: 大庄乡 before 东湖镇; by code point 东 U+4E1C comes first)."""
    import sqlalchemy as sa

    names = ["青山镇", "大庄乡", "东湖镇", "安乐镇"]
    async with session_factory() as s:
        if database.kind == "postgres":  # as in a database created with a Chinese collation (undone below)
            await s.execute(sa.text('ALTER TABLE township ALTER COLUMN name TYPE varchar(200) COLLATE "zh-x-icu"'))
        for name in names:
            await lists.save_list(s, name, ITEMS)
        await lists.save_list(s, "大庄乡", ITEMS[:1])
        try:
            assert [t.name for t in await lists.townships(s)] == ["东湖镇", "大庄乡", "安乐镇", "青山镇"]
            assert [(n, r.version) for r, n in await lists.list_rows(s)] == [
                ("东湖镇", "1"), ("大庄乡", "1"), ("大庄乡", "2"), ("安乐镇", "1"), ("青山镇", "1")]
        finally:
            await s.rollback()
