"""The answer path's point reads (storage.answer_path.PointRead): the same rows on both
databases (on PostgreSQL they come through asyncpg, JSON and all), batched on
PostgreSQL — the reads in flight at once share one query per kind — asked again once
after the connection was lost, abandoned when the server does not answer in time, and
an error of SQL given to every read it fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa

from storage.answer_path import CONSULTATION, PERSON, RESPONSE, answer_path
from storage.consultations import create_consultation, start_response
from storage.direct import KeyedReads, PostgresDirect
from storage.engine import make_sessionmaker
from storage.lists import save_list
from storage.models import Answer, Person, Response
from storage.responses import load_state
from surveys.duty_list import DutyItem, Part

QUESTIONNAIRE = "id: t\ntitle: 测\nquestions:\n  - id: q0\n    type: scale\n    text: 满意吗？\n" \
                "  - id: q1\n    type: text\n    text: 说说？\n    required: false\n"


async def _setup(sessions, people: int) -> tuple[int, int, list[int]]:
    """A consultation of two townships; `people` residents each with a response (the
    first with answers). Returns (consultation id, first list id, response ids)."""
    now = datetime.now(UTC)
    async with sessions() as s:
        first = await save_list(s, "甲镇", [DutyItem(Part.BASIC, "甲一", basis="法"),
                                           DutyItem(Part.COOPERATING, "甲二", basis="法")])
        second = await save_list(s, "乙镇", [DutyItem(Part.BASIC, "乙一", basis="法")])
        c = await create_consultation(s, title="测一测", questionnaire=QUESTIONNAIRE,
                                      closes_at=now + timedelta(days=3), opens_at=now - timedelta(days=1),
                                      list_ids=[first.id, second.id])
        township = (await s.execute(sa.text("select township_id from duty_list where id=:i"),
                                    {"i": first.id})).scalar()
        ids = []
        for pid in range(1, people + 1):
            s.add(Person(id=10_000_000_000 + pid, first_name=f"人{pid}", role="resident", language="en"))
            await s.flush()
            ids.append(await start_response(s, c.id, 10_000_000_000 + pid, township))
        await s.execute(sa.update(Response).where(Response.id == ids[0])
                        .values(screen={"at": "q1", "sel": {"q9": ["a", "b"]}}, message_id=77))
        s.add(Answer(response_id=ids[0], question_id="q0", value=4))
        s.add(Answer(response_id=ids[0], question_id="q1", value=None))  # skipped
        await s.commit()
        return c.id, first.id, ids


async def test_point_reads_give_the_stored_rows_on_both_databases(database):
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        cid, list_id, ids = await _setup(sessions, 2)
        path = answer_path(engine)
        async with sessions() as s:
            stored = await load_state(s, ids[0])
            state = await path.response(s, ids[0])
            assert state == stored  # the same as through SQLAlchemy
            assert state is not None and state.answers == {"q0": 4, "q1": None}
            assert state.screen == {"at": "q1", "sel": {"q9": ["a", "b"]}} and state.message_id == 77
            bare = await path.response(s, ids[1])
            assert bare is not None and bare.answers == {} and bare.version == 0 and bare.screen == {}
            assert await path.response(s, 999_999) is None

            row = await path.person_row(s, 10_000_000_001)
            assert row is not None and tuple(row) == (10_000_000_001, "人1", "en", "resident", None, True, False)
            assert await path.person_row(s, 5) is None

            view = await path.consultation(s, cid)
            assert view is not None and view.title == "测一测" and view.status == "draft"
            assert view.closes_at.tzinfo is not None and view.closes_at > datetime.now(UTC)
            assert [link.township for link in view.links] == ["甲镇", "乙镇"]
            assert view.links[0].list_id == list_id
            assert await path.consultation(s, 999_999) is None

            assert [(i.name, i.part) for i in await path.items(s, list_id)] == [("甲一", "basic"),
                                                                                ("甲二", "cooperating")]

            codes = dict((await s.execute(sa.text("select township_id, code from consultation_township "
                                                  "where consultation_id=:c"), {"c": cid})).all())
            for township_id, code in codes.items():  # each share link's code: its consultation and township
                found = await path.link_by_code(s, code)
                assert found is not None
                assert found[0].id == cid and found[1].township_id == township_id
            assert {found[1].township for found in [await path.link_by_code(s, c) for c in codes.values()]} \
                == {"甲镇", "乙镇"}
            assert await path.link_by_code(s, "no-such-code") is None
    finally:
        await engine.dispose()


async def test_reads_in_flight_at_once_share_one_query_per_kind_on_postgresql(postgres):
    # (SQLite reads each key on the loop's thread: nothing to batch)
    engine = postgres.engine()
    sessions = make_sessionmaker(engine)
    try:
        cid, _, ids = await _setup(sessions, 60)
        path = answer_path(engine)
        people = [10_000_000_000 + n for n in range(1, 61)]
        async with sessions() as s:
            got = await asyncio.gather(*(path.response(s, rid) for rid in ids),
                                       *(path.person_row(s, pid) for pid in people),
                                       *(path.consultation(s, cid) for _ in range(60)),
                                       path.response(s, 999_999))
        responses, persons, views, missing = got[:60], got[60:120], got[120:180], got[180]
        assert [r.id for r in responses] == ids and [r.person_id for r in responses] == people
        assert [p[1] for p in persons] == [f"人{n}" for n in range(1, 61)]
        assert all(v is not None and v.id == cid for v in views) and missing is None
        reads = path._reads
        assert reads[RESPONSE.name].queries == 1  # 61 responses, one query
        assert reads[PERSON.name].queries == 1
        assert reads[CONSULTATION.name].queries == 1  # 60 loads of one consultation, one query
    finally:
        await engine.dispose()


async def test_a_read_on_a_lost_connection_is_asked_again_on_a_new_one(postgres, monkeypatch):
    engine = postgres.engine()
    sessions = make_sessionmaker(engine)
    try:
        _, _, ids = await _setup(sessions, 1)
        path = answer_path(engine)
        assert isinstance(path.direct, PostgresDirect)
        async with sessions() as s:
            assert (await path.response(s, ids[0])) is not None
            reader = await path.direct.connection("reader")
            await s.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": reader.get_server_pid()})
            await s.commit()
            for _ in range(100):  # until the client has seen its connection go
                if reader.is_closed():
                    break
                await asyncio.sleep(0.02)
            assert reader.is_closed()
            # the next read is handed that connection once, as if its loss were not yet seen
            # (after a server restart the client learns of it only on its next query)
            real = path.direct.connection
            handed: list[object] = [reader]

            async def connection(user):
                return handed.pop() if handed else await real(user)

            monkeypatch.setattr(path.direct, "connection", connection)
            state = await path.response(s, ids[0])
        assert state is not None and state.answers == {"q0": 4, "q1": None}
        assert path._reads[RESPONSE.name].queries == 3  # the first, the one that failed, and again
        assert (await path.direct.connection("reader")) is not reader and not handed
    finally:
        await engine.dispose()


async def test_an_error_of_sql_reaches_every_read_of_its_batch_and_the_next_reads_work(postgres):
    engine = postgres.engine()
    try:
        direct = answer_path(engine).direct
        assert isinstance(direct, PostgresDirect)
        broken = KeyedReads("SELECT id FROM no_such_table WHERE id = ANY($1::int[])")
        outcomes = await asyncio.gather(*(broken.get(n, direct) for n in range(5)), return_exceptions=True)
        assert all(isinstance(o, asyncpg.UndefinedTableError) for o in outcomes)
        assert broken.queries == 1  # an error of SQL is not asked again
        good = KeyedReads("SELECT n FROM generate_series(1, 3) AS n WHERE n = ANY($1::int[])")
        assert [[tuple(r) for r in await good.get(k, direct)] for k in (2, 7)] == [[(2,)], []]
    finally:
        await engine.dispose()


async def test_a_read_the_server_does_not_answer_in_time_is_abandoned_and_the_next_reads_work(postgres):
    engine = postgres.engine()
    try:
        direct = answer_path(engine).direct
        assert isinstance(direct, PostgresDirect)
        direct.command_timeout = 0.3  # before its connection opens
        stuck = KeyedReads("SELECT n FROM (SELECT 1 AS n, pg_sleep(30)) AS s WHERE n = ANY($1::int[])")
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncio.TimeoutError):
            await stuck.get(1, direct)
        assert asyncio.get_running_loop().time() - started < 10  # abandoned, not waited out
        assert stuck.queries == 2  # asked again once on a new connection, then given up
        good = KeyedReads("SELECT n FROM generate_series(1, 3) AS n WHERE n = ANY($1::int[])")
        assert [tuple(r) for r in await good.get(3, direct)] == [(3,)]
    finally:
        await engine.dispose()


async def test_sqlite_point_reads_on_the_kept_connection_see_every_commit_and_survive_an_error(sqlite_database):
    engine = sqlite_database.engine()
    sessions = make_sessionmaker(engine)
    try:
        path = answer_path(engine)
        async with sessions() as s:
            assert await path.person_row(s, 42) is None  # the loop's reader is open from here on
            async with sessions() as other:
                other.add(Person(id=42, first_name="新", role="resident"))
                await other.commit()
            assert (await path.person_row(s, 42))[1] == "新"  # no snapshot kept between reads
            async with sessions() as other:
                await other.execute(sa.update(Person).where(Person.id == 42).values(first_name="改"))
                await other.commit()
            assert (await path.person_row(s, 42))[1] == "改"
            with pytest.raises(sa.exc.OperationalError):
                await path.rows(s, sa.text("SELECT no_such_column FROM person"))
            assert (await path.person_row(s, 42))[1] == "改"  # a fresh connection after the error
    finally:
        await engine.dispose()


async def test_start_response_creates_the_response_once_and_gives_its_id_again(database):
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        cid, _list_id, ids = await _setup(sessions, 2)
        async with sessions() as s:
            township = (await s.execute(sa.select(Response.township_id).where(Response.id == ids[0]))).scalar_one()
            assert await start_response(s, cid, 10_000_000_001, township) == ids[0]  # there already
            await s.commit()
        async with sessions() as s:
            rows = (await s.execute(sa.select(Response.id, Response.person_id).where(Response.consultation_id == cid)
                                    .order_by(Response.id))).all()
        assert [tuple(r) for r in rows] == [(ids[0], 10_000_000_001), (ids[1], 10_000_000_002)]
        assert ids[0] != ids[1]
    finally:
        await engine.dispose()
