"""touch_person: the person behind each update — created on first contact (without their
Telegram name: none is kept), made active again when that changed (written apart, through the group commit, as the bot does),
and otherwise only read (on SQLite a write in the update's own transaction would take
the database's one write lock for the whole of its handler)."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from storage.answer_path import answer_path
from storage.engine import make_sessionmaker
from storage.models import Person
from storage.people import touch_person
from storage.responses import Change


def _apart(engine):
    """What the bot's middleware passes: the person written by the group commit."""
    return lambda row: answer_path(engine).writer.commit(Change(person=row))


async def _row(sessions, pid: int) -> tuple:
    async with sessions() as s:
        return tuple((await s.execute(sa.select(Person.first_name, Person.active, Person.role)
                                      .where(Person.id == pid))).one())


async def test_first_contact_creates_and_a_change_is_written_apart(database):
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            person = await touch_person(s, 42, "张三", _apart(engine))
            assert (person.id, person.first_name, person.role, person.active) == (42, "", "resident", True)
            await s.commit()
        assert await _row(sessions, 42) == ("", True, "resident")

        async with sessions() as s:  # blocked the bot once, and renamed since (a name not kept either)
            await s.execute(sa.update(Person).where(Person.id == 42).values(active=False, role="cadre"))
            await s.commit()
        async with sessions() as s:
            person = await touch_person(s, 42, "张三丰", _apart(engine))
            assert (person.first_name, person.active, person.role) == ("", True, "cadre")
            await s.commit()
        assert await _row(sessions, 42) == ("", True, "cadre")

        async with sessions() as s:
            await s.execute(sa.update(Person).where(Person.id == 42).values(active=False))
            await s.commit()
        async with sessions() as s:  # written apart: stays when the update's transaction does not
            await touch_person(s, 42, "别名", _apart(engine))
            assert not s.dirty and not s.new  # nothing left for the update's own commit
            await s.rollback()
        assert await _row(sessions, 42) == ("", True, "cadre")
    finally:
        await engine.dispose()


async def test_a_known_unchanged_person_takes_no_write_lock_on_sqlite(sqlite_database):
    engine = sqlite_database.engine()
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            await touch_person(s, 7, "李四", _apart(engine))
            await s.commit()
        path = engine.url.database
        async with sessions() as s:
            person = await touch_person(s, 7, "李四", _apart(engine))
            assert person.first_name == ""
            other = sqlite3.connect(path, timeout=0)  # another writer, which must not have to wait
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("UPDATE person SET language = 'en' WHERE id = 7")
                other.execute("COMMIT")
            finally:
                other.close()
            await s.commit()
        async with sessions() as s:
            assert (await s.get(Person, 7)).language == "en"
    finally:
        await engine.dispose()


async def test_delete_person_leaves_no_id_of_theirs_in_what_they_made_or_answered(database):
    from datetime import UTC, datetime, timedelta

    from storage.comments import add_comment
    from storage.consultations import create_consultation
    from storage.invites import create_invites
    from storage.lists import save_list
    from storage.models import Comment, Consultation, Invite
    from storage.people import delete_person
    from surveys.duty_list import DutyItem, Part

    engine = database.engine()
    try:
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        async with sessions() as s:
            row = await save_list(s, "甲镇", [DutyItem(Part.BASIC, "事项", basis="法")])
            c = await create_consultation(s, title="测", questionnaire="", closes_at=now + timedelta(days=3),
                                          list_ids=[row.id], created_by=9001)
            await create_invites(s, row.township_id, "cadre", 1, None, 9001)
            s.add_all([Person(id=9001, first_name="组织者", role="organizer"), Person(id=9002, first_name="干部")])
            await s.flush()
            item_id = await s.scalar(sa.text("SELECT id FROM duty_item LIMIT 1"))
            comment = await add_comment(s, consultation_id=c.id, item_id=item_id, person_id=9002,
                                        township_id=row.township_id, kind="other", text="意见", now=now)
            comment.replied_by = 9001
            await s.commit()
            await delete_person(s, 9001)
            await s.commit()
            assert await s.scalar(sa.select(Consultation.created_by)) is None
            assert await s.scalar(sa.select(Invite.created_by)) is None
            assert await s.scalar(sa.select(Comment.replied_by)) is None
            assert await s.scalar(sa.select(sa.func.count()).select_from(Comment)) == 1  # the comment stays
    finally:
        await engine.dispose()


async def test_a_failing_statement_does_not_put_what_a_person_typed_into_the_error_the_log_prints(database):
    """bot.errors logs a failed update's exception (its first line, and its traceback): SQLAlchemy's
    errors listed the statement's parameters, i.e. the text of an answer or a comment, with any
    phone number in it. The engine hides them."""
    import pytest

    from storage.models import Township

    engine = database.engine()
    try:
        async with make_sessionmaker(engine)() as s:
            s.add(Township(name="张三 13812345678"))
            await s.commit()
            s.add(Township(name="张三 13812345678"))
            with pytest.raises(sa.exc.IntegrityError) as failed:
                await s.commit()
        assert "13812345678" not in str(failed.value) and "张三" not in str(failed.value)
    finally:
        await engine.dispose()
