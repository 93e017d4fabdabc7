"""Consultations, their township links, and residents' responses and answers."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.followup import drop_stale_reminders, drop_unsent_reminders
from storage.models import (
    Answer,
    Consultation,
    ConsultationTownship,
    DutyListRow,
    OffListReport,
    Response,
    Township,
    utcnow,
)
from storage.sql import upsert, upsert_statement
from surveys.consultation import (
    DEADLINE_EDITABLE,
    DEADLINE_REOPENS,
    DeadlinePassed,
    DeadlineRefused,
    FollowUp,
    ListConflict,
    Status,
    TransitionError,
    VersionClash,
    check_new_deadline,
    check_transition,
    new_code,
)
from surveys.duty_list import ListStatus

MAX_TITLE = 300  # the title column's size (PostgreSQL refuses a longer one; SQLite stores it)


@dataclass
class Link:
    consultation_township_id: int
    township_id: int
    township: str
    list_id: int
    code: str


async def create_consultation(
    session: AsyncSession,
    *,
    title: str,
    questionnaire: str,
    closes_at: datetime,
    list_ids: Sequence[int],
    intro: str = "",
    opens_at: datetime | None = None,
    created_by: int | None = None,
    follow_up: FollowUp | None = None,
) -> Consultation:
    """A draft consultation on the given list versions (one per township)."""
    if not list_ids:
        raise ValueError("a consultation needs at least one township list")
    consultation = Consultation(
        title=title, intro=intro, questionnaire=questionnaire, opens_at=opens_at, closes_at=closes_at,
        created_by=created_by, settings=(follow_up or FollowUp()).to_dict(),
    )
    session.add(consultation)
    await session.flush()
    seen: set[int] = set()
    for list_id in list_ids:
        row = await session.get(DutyListRow, list_id)
        if row is None:
            raise LookupError(f"list {list_id}")
        if row.township_id in seen:
            raise ValueError("one list per township")
        seen.add(row.township_id)
        session.add(ConsultationTownship(consultation_id=consultation.id, township_id=row.township_id,
                                         list_id=list_id, code=await _unique_code(session)))
    await session.flush()
    return consultation


async def _unique_code(session: AsyncSession) -> str:
    while True:
        code = new_code()
        taken = (await session.scalars(select(ConsultationTownship.id).where(ConsultationTownship.code == code))).first()
        if taken is None:
            return code


def links_query(consultation_id: int) -> sa.Select[Any]:
    """The consultation's townships in order, as rows for `Link` (Core columns: the
    answer path runs it on its own loop-thread connection too)."""
    ct, t = ConsultationTownship.__table__.c, Township.__table__.c  # type: ignore[attr-defined]
    return (select(ct.id, ct.township_id, t.name, ct.list_id, ct.code)
            .join(Township.__table__, t.id == ct.township_id)
            .where(ct.consultation_id == consultation_id).order_by(ct.id))


async def links(session: AsyncSession, consultation_id: int) -> list[Link]:
    return [Link(*row) for row in (await session.execute(links_query(consultation_id))).all()]


async def link_for_township(session: AsyncSession, consultation_id: int, township_id: int) -> Link | None:
    for link in await links(session, consultation_id):
        if link.township_id == township_id:
            return link
    return None


async def version_clashes(session: AsyncSession, consulted: Sequence[tuple[int, int]],
                          exclude: int | None = None) -> list[VersionClash]:
    """For the (township id, list id) pairs a consultation consults: the other open
    consultations (not `exclude`) consulting one of those townships on another version of its
    list, and the townships whose list has had a newer version published since (imported after
    the one consulted). One township is consulted on one version at a time: several open
    consultations of a township on the same version are allowed (say, one for its residents'
    questionnaire and one for its cadres)."""
    if not consulted:
        return []
    own = dict(consulted)
    ct, c, dl, t = (ConsultationTownship.__table__.c, Consultation.__table__.c,  # type: ignore[attr-defined]
                    DutyListRow.__table__.c, Township.__table__.c)  # type: ignore[attr-defined]
    versions = dict((await session.execute(select(dl.id, dl.version).where(dl.id.in_(list(own.values()))))).all())
    names = dict((await session.execute(select(t.id, t.name).where(t.id.in_(list(own))))).all())
    query = (select(ct.consultation_id, c.title, ct.township_id, ct.list_id, dl.version)
             .join(Consultation.__table__, c.id == ct.consultation_id).join(DutyListRow.__table__, dl.id == ct.list_id)
             .where(ct.township_id.in_(list(own)), c.status == Status.OPEN.value)
             .order_by(ct.consultation_id, ct.id))
    if exclude is not None:
        query = query.where(ct.consultation_id != exclude)
    clashes = [VersionClash(names[tid], versions.get(own[tid], ""), version, list_id, cid, title)
               for cid, title, tid, list_id, version in (await session.execute(query)).all() if list_id != own[tid]]
    for tid, list_id in consulted:
        newer = (await session.execute(select(dl.id, dl.version).where(
            dl.township_id == tid, dl.id > list_id, dl.status == ListStatus.PUBLISHED.value)
            .order_by(dl.id.desc()).limit(1))).first()
        if newer is not None:
            clashes.append(VersionClash(names[tid], versions.get(list_id, ""), newer.version, newer.id))
    return clashes


async def hold_townships(session: AsyncSession, township_ids: Sequence[int]) -> None:
    """Hold these townships to the end of the session's transaction, so that the
    one-version-per-township checks (`version_clashes`, the publish checks) and the change they
    allow are one step: a second open or publish touching one of them at the same moment waits
    for this transaction and then reads what it changed, instead of both passing their checks.
    PostgreSQL: the townships' rows locked (in id order: two holders never wait on each other);
    SQLite: its write lock, taken by a write that changes nothing (storage.sqlite_gate queues it)."""
    ids = sorted(set(township_ids))
    if not ids:
        return
    table = Township.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(sa.update(table).where(table.c.id.in_(ids)).values(name=table.c.name)
                              .execution_options(synchronize_session=False))
    else:
        await session.execute(select(table.c.id).where(table.c.id.in_(ids)).order_by(table.c.id).with_for_update())


async def check_openable(session: AsyncSession, consultation: Consultation) -> None:
    """Raise ListConflict (`version_clashes`) when the consultation may not open (or reopen)
    now: a township of it is consulted by another open consultation on another version of its
    list, or has had a newer list published since."""
    clashes = await version_clashes(session, [(link.township_id, link.list_id)
                                              for link in await links(session, consultation.id)], consultation.id)
    if clashes:
        action = "reopen" if consultation.status == Status.CLOSED.value else "open"
        raise ListConflict(action, consultation.id, clashes)


async def set_status(session: AsyncSession, consultation: Consultation, target: Status,
                     now: datetime | None = None) -> None:
    """Move a consultation on (draft→open→closed→reported); the consulted lists follow.
    Opening one with no opening time set records `now` (default: the clock's) as its
    opening time — the start the reports give; a later opening time set in advance stays.
    Opening one also takes its townships' off-list reports that went with no consultation
    (filed before any of theirs opened), so its digests, /stats and reports show them.
    Raises TransitionError for a move the statuses do not allow, and DeadlinePassed when
    it would open with its deadline behind it, and ListConflict when one of its townships is
    consulted elsewhere on another version (`check_openable`) — in each case having changed
    nothing."""
    check_transition(consultation.status, target)
    now = now or utcnow()
    if target == Status.OPEN and consultation.closes_at <= now:  # before anything changes
        raise DeadlinePassed(consultation.id)
    if target == Status.OPEN:  # checked and opened in one step (another open or publish waits)
        await hold_townships(session, [link.township_id for link in await links(session, consultation.id)])
        await check_openable(session, consultation)
    # conditional on the status read: two workers handling two taps (/close, its button) at the same
    # instant both passed the check above; the second's update waits for the first's commit, then
    # finds the status moved on and changes nothing (TransitionError, as if it had read it so)
    table = Consultation.__table__
    moved = await session.execute(sa.update(table).where(table.c.id == consultation.id,
                                                         table.c.status == consultation.status)
                                  .values(status=target.value).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(consultation)
        raise TransitionError(Status(consultation.status), target)
    set_committed_value(consultation, "status", target.value)
    _forget_now_and_after_commit(session, consultation.id)
    if target == Status.OPEN and consultation.opens_at is None:
        consultation.opens_at = now
    if target == Status.OPEN:  # reopened: an earlier close is no longer when it ended
        consultation.closed_at = None
    if target == Status.CLOSED:
        consultation.closed_at = now
        await drop_unsent_reminders(session, consultation.id)  # (one under way stops: nothing left to claim)
    consulted = await links(session, consultation.id)
    list_ids = [link.list_id for link in consulted]
    if target == Status.OPEN and consulted:
        # off-list reports filed before any consultation of their township opened went with none
        # (no digest, /stats or report showed them): its first consultation takes them
        reports = OffListReport.__table__
        await session.execute(sa.update(reports).where(
            reports.c.consultation_id.is_(None), reports.c.township_id.in_([link.township_id for link in consulted]),
        ).values(consultation_id=consultation.id))
    # the lists follow: under consultation while it is open, consulted once it closes (a
    # published list stays published)
    moves = {Status.OPEN: ((ListStatus.DRAFT, ListStatus.CONSULTED), ListStatus.CONSULTING),
             Status.CLOSED: ((ListStatus.CONSULTING,), ListStatus.CONSULTED)}
    if target in moves and list_ids:
        sources, to = moves[target]
        table, link, other = DutyListRow.__table__, ConsultationTownship.__table__, Consultation.__table__
        where = [table.c.id.in_(list_ids), table.c.status.in_([s.value for s in sources])]
        if target == Status.CLOSED:  # not while another open consultation still consults it
            where.append(~sa.exists().where(link.c.list_id == table.c.id, link.c.consultation_id == other.c.id,
                                            other.c.id != consultation.id, other.c.status == Status.OPEN.value))
        await session.execute(sa.update(table).where(*where).values(status=to.value))
    await session.flush()


class DeadlineMoved(ValueError):
    """The deadline is no longer the one the change was asked against (another change won)."""

    def __init__(self, closes_at: datetime) -> None:
        super().__init__(closes_at.isoformat())
        self.closes_at = closes_at


def _forget_now_and_after_commit(session: AsyncSession, consultation_id: int) -> None:
    """Drop this process's cached copy of the consultation now and again once the change is
    committed: a read in between would cache the old values (for up to CONSULTATION_TTL)."""
    from storage.answer_path import forget_consultation

    forget_consultation(session.bind, consultation_id)
    bind = session.bind
    event.listen(session.sync_session, "after_commit", lambda _: forget_consultation(bind, consultation_id),
                 once=True)


async def superseded_townships(session: AsyncSession, consultation_id: int) -> list[str]:
    """The consultation's townships whose list has had a newer version (imported after the one
    it consults) published since — another consultation's revision."""
    ct, dl, t = ConsultationTownship.__table__.c, DutyListRow.__table__.c, Township.__table__.c  # type: ignore[attr-defined]
    newer = sa.exists().where(dl.township_id == ct.township_id, dl.id > ct.list_id,
                              dl.status == ListStatus.PUBLISHED.value)
    return list((await session.scalars(select(t.name).join(ConsultationTownship.__table__, t.id == ct.township_id)
                                       .where(ct.consultation_id == consultation_id, newer)
                                       .order_by(ct.id))).all())


async def check_reopenable(session: AsyncSession, consultation: Consultation) -> None:
    """Raise DeadlineRefused ("superseded") when a township of the closed consultation has had
    a newer list published since: reopening it would ask for views on an outdated list; and
    ListConflict when another open consultation consults one of its townships on another
    version (`check_openable`)."""
    names = await superseded_townships(session, consultation.id) if consultation.id is not None else []
    if names:
        raise DeadlineRefused("superseded", consultation.id, consultation.status, consultation.opens_at,
                              consultation.closes_at, names)
    await check_openable(session, consultation)  # another open one on another version of a township's list


async def set_deadline(session: AsyncSession, consultation: Consultation, closes_at: datetime,
                       now: datetime | None = None, expected: datetime | None = None,
                       reopen: bool = False) -> datetime:
    """Move a draft's or an open consultation's deadline to `closes_at`; returns the old one.
    With `reopen` (the organizer confirmed it) a closed consultation's instead: it is extended
    and opened again (set_status: its lists are under consultation again, its early close is
    forgotten) — answers are taken until the new deadline, when it closes again.
    Raises DeadlineRefused (surveys.consultation.check_new_deadline; reopening, also
    `check_reopenable`, which raises ListConflict too) and, when `expected`
    (the deadline the organizer saw) is no longer the stored one, DeadlineMoved — in both
    cases having changed nothing. The update is conditional on the status and the old
    deadline, so a close, a reopening or another change committed meanwhile is never
    overwritten. The scheduler follows: bot.scheduler.schedule_consultation at once in the
    process that runs it, its sync job within a minute otherwise."""
    now = now or utcnow()
    old = consultation.closes_at
    if expected is not None and old != expected:
        raise DeadlineMoved(old)
    check_new_deadline(consultation.id, consultation.status, consultation.opens_at, old, closes_at, now, reopen)
    if reopen:  # checked and reopened in one step (townships held before the consultation: set_status's order)
        await hold_townships(session, [link.township_id for link in await links(session, consultation.id)])
        await check_reopenable(session, consultation)
    table = Consultation.__table__
    statuses = (DEADLINE_REOPENS,) if reopen else DEADLINE_EDITABLE
    result = await session.execute(
        sa.update(table).where(table.c.id == consultation.id, table.c.status.in_(statuses),
                               table.c.closes_at == old).values(closes_at=closes_at))
    if result.rowcount != 1:  # changed by another transaction since it was read: say what it is now
        await session.refresh(consultation)
        check_new_deadline(consultation.id, consultation.status, consultation.opens_at, consultation.closes_at,
                           closes_at, now, reopen)
        raise DeadlineMoved(consultation.closes_at)
    set_committed_value(consultation, "closes_at", closes_at)  # (written above: no second UPDATE)
    _forget_now_and_after_commit(session, consultation.id)
    await drop_stale_reminders(session, consultation.id, closes_at)  # the old deadline's unsent ones
    if reopen:  # (the row is still closed, and the update above holds its lock until the commit)
        await set_status(session, consultation, Status.OPEN, now)
    await session.flush()
    return old


async def all_consultations(session: AsyncSession, status: str | None = None) -> list[Consultation]:
    query = select(Consultation).order_by(Consultation.id)
    if status:
        query = query.where(Consultation.status == status)
    return list((await session.scalars(query)).all())


# --- responses and answers -------------------------------------------------------------


_RESPONSE_OF = select(Response).where(Response.consultation_id == sa.bindparam("c"),
                                      Response.person_id == sa.bindparam("p"))  # built once (SQLAlchemy's cache)


async def get_response(session: AsyncSession, consultation_id: int, person_id: int) -> Response | None:
    return (await session.scalars(_RESPONSE_OF, {"c": consultation_id, "p": person_id})).first()


@functools.lru_cache(maxsize=4)
def _start_statement(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, built once per dialect."""
    table = Response.__table__
    return upsert_statement(dialect, table, ("consultation_id", "person_id"), ()).returning(table.c.id)


_RESPONSE_ID_OF = select(Response.__table__.c.id).where(Response.consultation_id == sa.bindparam("c"),
                                                        Response.person_id == sa.bindparam("p"))


async def start_response(session: AsyncSession, consultation_id: int, person_id: int, township_id: int) -> int:
    """The id of the person's response to the consultation, created on first use (one per
    person): one statement when it is new, a second read when it was there already."""
    now = utcnow()
    started = (await session.execute(_start_statement(session.bind.dialect.name), {
        "consultation_id": consultation_id, "person_id": person_id, "township_id": township_id,
        "started_at": now, "updated_at": now})).scalar()
    if started is None:
        started = await response_id_of(session, consultation_id, person_id)
    assert started is not None
    return int(started)


async def response_id_of(session: AsyncSession, consultation_id: int, person_id: int) -> int | None:
    """The id of the person's response to the consultation, if they started one."""
    return await session.scalar(_RESPONSE_ID_OF, {"c": consultation_id, "p": person_id})


async def save_answers(session: AsyncSession, response_id: int, values: dict[str, Any], drop: Sequence[str] = ()) -> None:
    """Write answers (None = skipped) and delete the ones in `drop`, in the caller's transaction."""
    now = utcnow()
    if values:
        await upsert(session, Answer.__table__,
                     [{"response_id": response_id, "question_id": q, "value": v, "answered_at": now}
                      for q, v in values.items()],
                     keys=("response_id", "question_id"), update=("value", "answered_at"))
    if drop:
        await session.execute(sa.delete(Answer.__table__).where(Answer.response_id == response_id,
                                                               Answer.question_id.in_(list(drop))))
    await session.execute(sa.update(Response.__table__).where(Response.id == response_id).values(updated_at=now))


async def set_completed(session: AsyncSession, response_id: int, completed: bool) -> None:
    await session.execute(sa.update(Response.__table__).where(Response.id == response_id)
                          .values(completed_at=utcnow() if completed else None))


async def open_response_of(session: AsyncSession, person_id: int) -> tuple[Response, Consultation] | None:
    """The person's most recent response in an open consultation (for resuming on any message)."""
    found = await open_responses_of(session, person_id)
    return found[0] if found else None


async def open_responses_of(session: AsyncSession, person_id: int) -> list[tuple[Response, Consultation]]:
    """The person's responses in open consultations, the one touched last first."""
    rows = (
        await session.execute(
            select(Response, Consultation)
            .join(Consultation, Consultation.id == Response.consultation_id)
            .where(Response.person_id == person_id, Consultation.status == Status.OPEN.value)
            .order_by(Response.updated_at.desc(), Response.id.desc())
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


async def response_townships(session: AsyncSession, person_id: int) -> list[int]:
    """The townships the person answered a questionnaire for, the one answered for last first."""
    rows = (await session.execute(select(Response.township_id, sa.func.max(Response.updated_at).label("last"))
                                  .where(Response.person_id == person_id).group_by(Response.township_id)
                                  .order_by(sa.desc("last")))).all()
    return [row[0] for row in rows]


async def last_response_of(session: AsyncSession, person_id: int) -> tuple[Response, Consultation] | None:
    """The person's most recent response in any consultation (open, closed or reported)."""
    row = (await session.execute(
        select(Response, Consultation).join(Consultation, Consultation.id == Response.consultation_id)
        .where(Response.person_id == person_id).order_by(Response.updated_at.desc()).limit(1)
    )).first()
    return (row[0], row[1]) if row else None


async def answered(session: AsyncSession, response_id: int) -> int:
    """How many questions a response answered (not skipped), as `unfinished_answers` counts them."""
    from storage.models import Answer

    return await session.scalar(select(sa.func.count(Answer.id)).where(
        Answer.response_id == response_id, Answer.value.is_not(None), sa.cast(Answer.value, sa.Text) != "null")) or 0


async def participants(session: AsyncSession, consultation_id: int) -> list[int]:
    """Everyone a consultation's announcements go to: residents who started its
    questionnaire and the cadres of its townships."""
    residents = (await session.scalars(select(Response.person_id)
                                       .where(Response.consultation_id == consultation_id))).all()
    return sorted(set(residents) | set(await cadres(session, consultation_id)))


async def cadres(session: AsyncSession, consultation_id: int) -> list[int]:
    """The cadres of the consultation's townships."""
    from storage.models import Person

    township_ids = [link.township_id for link in await links(session, consultation_id)]
    return list((await session.scalars(select(Person.id).where(Person.role == "cadre",
                                                               Person.township_id.in_(township_ids))
                                       .order_by(Person.id))).all())


async def unfinished_answers(session: AsyncSession, consultation_id: int) -> dict[int, int]:
    """Those who started the questionnaire and never finished it, and gave no comment or off-list
    report either: person → how many questions they answered (not skipped). Those answers count
    in the report (it reads every response, finished or not); the thanks at the close says so."""
    from storage.models import Answer, Comment, OffListReport

    started = (await session.execute(
        select(Response.person_id, sa.func.count(Answer.id))
        .select_from(Response)
        .outerjoin(Answer, sa.and_(Answer.response_id == Response.id, Answer.value.is_not(None),
                                   sa.cast(Answer.value, sa.Text) != "null"))
        .where(Response.consultation_id == consultation_id, Response.completed_at.is_(None))
        .group_by(Response.person_id))).all()
    gave = set((await session.scalars(select(Comment.person_id).where(
        Comment.consultation_id == consultation_id, Comment.status != "withdrawn"))).all())
    gave |= set((await session.scalars(select(OffListReport.person_id).where(
        OffListReport.consultation_id == consultation_id))).all())
    return {int(pid): int(n) for pid, n in started if pid not in gave}


async def set_digest_hour(session: AsyncSession, c: Consultation, hour: int | None) -> None:
    """The hour (local) of the consultation's daily digest; None stops it. The scheduler's jobs
    follow at its next sync (bot.scheduler.schedule_consultation at once in its own process)."""
    c.settings = {**(c.settings or {}), "digest_hour": hour}  # (a new dict: the JSON column sees the change)
    session.add(c)
    await session.flush()


async def silent_cadres(session: AsyncSession, consultation_id: int, among: set[int] | None = None) -> set[int]:
    """The cadres of the consultation's townships who gave it nothing: no comment kept (not
    withdrawn), no off-list report with it, no questionnaire started. `among`: those cadres,
    when the caller has read them already (`cadres`)."""
    from storage.models import Comment, OffListReport

    gave = set((await session.scalars(select(Comment.person_id).where(
        Comment.consultation_id == consultation_id, Comment.status != "withdrawn"))).all())
    gave |= set((await session.scalars(select(OffListReport.person_id).where(
        OffListReport.consultation_id == consultation_id))).all())
    gave |= set((await session.scalars(select(Response.person_id).where(
        Response.consultation_id == consultation_id))).all())
    return (among if among is not None else set(await cadres(session, consultation_id))) - gave


async def response_counts(session: AsyncSession, consultation_id: int) -> list[tuple[int, str, int, int]]:
    """(township id, township, started, completed) for each township of the consultation."""
    started = sa.func.count(Response.id)
    completed = sa.func.count(Response.completed_at)
    rows = (await session.execute(
        select(Township.id, Township.name, started, completed)
        .select_from(ConsultationTownship)
        .join(Township, Township.id == ConsultationTownship.township_id)
        .outerjoin(Response, (Response.consultation_id == ConsultationTownship.consultation_id)
                   & (Response.township_id == ConsultationTownship.township_id))
        .where(ConsultationTownship.consultation_id == consultation_id)
        .group_by(Township.id, Township.name, ConsultationTownship.id)
        .order_by(ConsultationTownship.id))).all()
    return [(tid, name, s, c) for tid, name, s, c in rows]
