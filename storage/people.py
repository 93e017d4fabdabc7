"""People: residents, cadres and organizers, keyed by Telegram user id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.answer_path import answer_path
from storage.models import (
    ANONYMOUS,
    Answer,
    Comment,
    Consultation,
    Delivery,
    FSMRecord,
    Invite,
    OffListReport,
    Person,
    Response,
)
from surveys.text import drop_nul

NAME_LENGTH = 200


def stored_name(first_name: str, organizer: bool = False) -> str:
    """A Telegram first name as stored: an organizer's without NUL characters (surveys.text), cut
    to NAME_LENGTH — other organizers read who answered a comment, moved a deadline or closed —
    and nobody else's at all (""): a resident's or a cadre's name serves nothing the bot does
    (reports name people by a pseudonym, /mydata by their id, replies go to the id), so, collecting
    no more than it needs, it keeps none (migration 0005 erased those kept before)."""
    return drop_nul(first_name)[:NAME_LENGTH] if organizer else ""


def needs_write(row: Sequence[Any] | None, name: str, language: str) -> bool:
    """Whether the person row (id, first_name, language, role, township_id, active,
    language_chosen) must be written for a contact with this (cut) name and the language
    Telegram reports: new, inactive, renamed, or Telegram reports another language than
    the stored one while the person chose none with /language."""
    return row is None or not row[5] or row[1] != name or bool(language and row[2] != language and not row[6])


def person_of(row: Sequence[Any]) -> Person:
    """A Person (not attached to any session) from its point-read row."""
    return Person(id=row[0], first_name=row[1], language=row[2], role=row[3], township_id=row[4], active=row[5],
                  language_chosen=bool(row[6]))


async def touch_person(session: AsyncSession, user_id: int, first_name: str,
                       write_apart: Callable[[dict[str, Any]], Awaitable[None]], language: str = "",
                       create: bool = True, organizer: bool = False) -> Person:
    """The person behind a Telegram user (a copy, not attached to the session), created
    on first contact; an incoming message also means they have not blocked the bot, so
    they are active again.

    Read first; a new or changed person ({"id", "first_name", "language"}, made active) is
    written by `write_apart` in a transaction of its own, before the handler runs. `language`
    (the one Telegram reports, normalized) is stored unless the person chose one with
    /language, so what the scheduler sends them is in the language they chat in now. On SQLite a
    transaction takes the database's one write lock at its first write and keeps it
    until it commits (before the update's first send): a write here, in the update's
    own transaction, made every update hold the lock through all of its handler.

    With `create` false someone not stored yet (never came, or erased themselves with
    /delete_me) stays unstored: they get a Person of this contact only, written nowhere."""
    path = answer_path(session.bind)
    # a point read (SQLite: on the loop's thread; PostgreSQL: batched with the others in
    # flight), not the ORM: ≈ 60 µs instead of ≈ 200 µs of CPU on PostgreSQL
    row = await path.person_row(session, user_id)  # id, first_name, language, role, township_id, active, language_chosen
    # (`organizer`: in ORGANIZER_IDS; one who joined by an organizer invite has the role)
    name = stored_name(first_name, organizer or (row is not None and row[3] == "organizer"))
    if row is None and not create:
        return Person(id=user_id, first_name=name, language=language)
    if needs_write(row, name, language):
        await write_apart({"id": user_id, "first_name": name, "language": language})
        row = await path.person_row(session, user_id)
        assert row is not None
    return person_of(row)


async def set_language(session: AsyncSession, person_id: int, language: str) -> None:
    await session.execute(sa.update(Person.__table__).where(Person.id == person_id)
                          .values(language=language, language_chosen=True))


async def organizers(session: AsyncSession, configured: list[int]) -> list[int]:
    """Organizer ids: the configured ones plus those invited as organizers."""
    invited = (await session.scalars(select(Person.id).where(Person.role == "organizer"))).all()
    return sorted(set(configured) | set(invited))


async def personal_data(session: AsyncSession, person_id: int) -> dict[str, int]:
    """Counts of what is stored about a person (for /mydata)."""
    responses = (await session.scalars(select(Response.id).where(Response.person_id == person_id))).all()
    answers = 0
    if responses:  # a skipped question is stored as None: not an answer of theirs
        values = (await session.scalars(select(Answer.value).where(Answer.response_id.in_(responses)))).all()
        answers = sum(v is not None for v in values)
    comments = (await session.scalar(select(sa.func.count()).select_from(Comment)
                                     .where(Comment.person_id == person_id))) or 0
    reports = (await session.scalar(select(sa.func.count()).select_from(OffListReport)
                                    .where(OffListReport.person_id == person_id))) or 0
    return {"responses": len(responses), "answers": answers, "comments": comments, "reports": reports}


async def delete_person(session: AsyncSession, person_id: int, now: datetime | None = None) -> None:
    """Erase everything stored about a person (/delete_me). The invites they made and nobody
    has used yet are revoked (at `now`), as a demotion revokes them: once their maker is
    forgotten nobody could take them back through the person, and what they would give (a
    cadre's or an organizer's role) should not outlive the one who answered for it."""
    from storage.invites import open_invites_made_by

    for made in await open_invites_made_by(session, person_id, now or datetime.now(UTC)):
        made.revoked_at = now or datetime.now(UTC)
    await session.flush()
    responses = (await session.scalars(select(Response.id).where(Response.person_id == person_id))).all()
    if responses:
        await session.execute(sa.delete(Answer.__table__).where(Answer.response_id.in_(responses)))
        await session.execute(sa.delete(Response.__table__).where(Response.id.in_(responses)))
    # a comment the organizers already decided on is part of the consultation's record (the
    # 反馈情况说明 counts and quotes it): it stays, under nobody (ANONYMOUS), as what the cadre
    # wrote in their township's name; one not answered yet goes with them
    await session.execute(sa.update(Comment.__table__)
                          .where(Comment.person_id == person_id, Comment.decision.is_not(None))
                          .values(person_id=ANONYMOUS))
    for table in (Comment.__table__, OffListReport.__table__, Delivery.__table__):
        await session.execute(sa.delete(table).where(table.c.person_id == person_id))
    await session.execute(sa.delete(FSMRecord.__table__).where(FSMRecord.key.contains(f":{person_id}:")))
    await outbox.forget_person(session, person_id)  # a broadcast they started: not who to tell how it went
    # an invite they used keeps its use (used_at: single use stays single) but not who used it;
    # what an organizer made or answered stays, without their id
    await session.execute(sa.update(Invite.__table__).where(Invite.used_by == person_id).values(used_by=None))
    await session.execute(sa.update(Invite.__table__).where(Invite.created_by == person_id).values(created_by=None))
    await session.execute(sa.update(Comment.__table__).where(Comment.replied_by == person_id).values(replied_by=None))
    await session.execute(sa.update(Comment.__table__).where(Comment.hidden_by == person_id).values(hidden_by=None))
    await session.execute(sa.update(Consultation.__table__).where(Consultation.created_by == person_id)
                          .values(created_by=None))
    await session.execute(sa.delete(Person.__table__).where(Person.id == person_id))
