"""Queries behind the scheduler's follow-up (bot.scheduler): the candidates for
reminders and what was already sent to them, recipients and their languages,
and "job done" markers.

A job marker is a `Delivery` row with person_id 0 (no person has that id): the
same unique (key, person) pair that makes messages at-most-once makes a
"this follow-up is finished" record unique too — and a confirmation's press taken
once (`claim_once`), however many workers handle its taps at the same instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DONE,
    PENDING,
    SENT,
    SKIPPED,
    TODO,
    Consultation,
    ConsultationTownship,
    Delivery,
    Person,
    Response,
    utcnow,
)
from storage.sql import insert_ignore, upsert
from surveys.reminders import CADRE, RESIDENT, PersonState, SentReminder, kind_hours

JOB_PERSON = 0
_d = Delivery.__table__.c
_p = Person.__table__.c
_r = Response.__table__.c
_ct = ConsultationTownship.__table__.c



DEADLINE_STAMP = "%Y%m%dT%H%M%SZ"


def remind_key(consultation_id: int, kind: str, deadline: datetime | None = None) -> str:
    """``remind:<id>:<kind>``; a deadline kind's with the deadline it is for, in UTC
    (``remind:7:deadline-24@20261211T020000Z``): the same reminder for a deadline moved
    far enough (surveys.reminders.armed) is a new key, a rerun for the same one is not."""
    if deadline is None or kind_hours(kind) is None:
        return f"remind:{consultation_id}:{kind}"
    return f"remind:{consultation_id}:{kind}@{deadline.astimezone(UTC).strftime(DEADLINE_STAMP)}"


def parse_remind(rest: str, at: datetime) -> SentReminder:
    """A reminder's record from its key after ``remind:<id>:`` (a key without a deadline:
    one recorded before keys held it)."""
    kind, _, stamp = rest.partition("@")
    deadline = datetime.strptime(stamp, DEADLINE_STAMP).replace(tzinfo=UTC) if stamp else None
    return SentReminder(kind, at, deadline)


async def township_ids(session: AsyncSession, consultation_id: int) -> list[int]:
    return list((await session.scalars(sa.select(_ct.township_id).where(_ct.consultation_id == consultation_id)
                                       .order_by(_ct.id))).all())


async def reminder_candidates(session: AsyncSession, consultation_id: int) -> list[PersonState]:
    """Residents with an unfinished response (and a Person row: people who deleted their
    data have neither), then the cadres of the consulted townships."""
    residents = (await session.execute(
        sa.select(_r.person_id, _r.started_at, _r.updated_at, _r.completed_at, _r.township_id, _p.active,
                  _p.language)
        .join(Person.__table__, _p.id == _r.person_id)
        .where(_r.consultation_id == consultation_id, _r.completed_at.is_(None))
        .order_by(_r.id)
    )).all()
    out = [PersonState(pid, RESIDENT, started, updated, completed, bool(active), tid, lang or "")
           for pid, started, updated, completed, tid, active, lang in residents]
    towns = await township_ids(session, consultation_id)
    if towns:
        cadres = (await session.execute(
            sa.select(_p.id, _p.active, _p.township_id, _p.language)
            .where(_p.role == CADRE, _p.township_id.in_(towns)).order_by(_p.id)
        )).all()
        out += [PersonState(pid, CADRE, active=bool(active), township_id=tid, language=lang or "")
                for pid, active, tid, lang in cadres]
    return out


async def last_activity(session: AsyncSession, consultation_id: int, person_id: int) -> datetime | None:
    """When the resident last answered, while their questionnaire is there and not finished (None:
    finished, or gone) — read just before their reminder goes."""
    return await session.scalar(sa.select(_r.updated_at).where(  # type: ignore[no-any-return]
        _r.consultation_id == consultation_id, _r.person_id == person_id, _r.completed_at.is_(None)))


async def reminder_log(session: AsyncSession, consultation_id: int) -> dict[int, list[SentReminder]]:
    """The reminders of a consultation already sent (or possibly sent), per person, with
    the time they were queued (see `queue`) and the deadline they were for. One put off at its
    turn ("skipped": the resident was answering) is not among them: it is due again later."""
    prefix = remind_key(consultation_id, "")
    rows = (await session.execute(
        sa.select(_d.person_id, _d.broadcast_key, _d.sent_at, _d.created_at)
        .where(_d.broadcast_key.startswith(prefix, autoescape=True), _d.status.in_(DONE), _d.status != SKIPPED)
    )).all()
    log: dict[int, list[SentReminder]] = {}
    for pid, key, _sent_at, created_at in rows:
        log.setdefault(int(pid), []).append(parse_remind(key[len(prefix):], created_at))
    return log


async def comment_counts(session: AsyncSession, consultation_id: int, person_ids: Sequence[int]) -> dict[int, int]:
    """Of `person_ids`, those with comments kept on the consultation (not withdrawn, not hidden):
    person → how many. A cadre's reminder thanks them for those."""
    from storage.models import Comment

    c = Comment.__table__.c  # type: ignore[attr-defined]
    ids, out = list(person_ids), {}
    for i in range(0, len(ids), 5000):
        out.update({int(pid): int(n) for pid, n in (await session.execute(
            sa.select(c.person_id, sa.func.count()).where(
                c.consultation_id == consultation_id, c.person_id.in_(ids[i:i + 5000]), c.status != "withdrawn",
                sa.not_(c.hidden)).group_by(c.person_id))).all()})
    return out


def thanks_key(consultation_id: int) -> str:
    """The thank-you at a consultation's close (once per person, whatever the closes)."""
    return f"thanks:{consultation_id}"


async def thanked_not_reminded_since(session: AsyncSession, consultation_id: int,
                                     person_ids: Sequence[int]) -> set[int]:
    """Of `person_ids`, those thanked at a close of the consultation ("it has ended") and sent
    no reminder of it since — the consultation was extended and reopened meanwhile. (Since: a
    later row, the rows' ids telling the order whatever clock stamped them.)"""
    thanks = Delivery.__table__.alias("thanks")
    later = sa.exists().where(_d.person_id == thanks.c.person_id, _d.id > thanks.c.id, _d.status.in_(DONE),
                              _d.broadcast_key.startswith(remind_key(consultation_id, ""), autoescape=True))
    ids, out = list(person_ids), set()
    for i in range(0, len(ids), 5000):
        out.update(int(pid) for pid in (await session.scalars(sa.select(thanks.c.person_id).where(
            thanks.c.broadcast_key == thanks_key(consultation_id), thanks.c.status.in_(DONE),
            thanks.c.person_id.in_(ids[i:i + 5000]), ~later))).all())
    return out


async def queue(session: AsyncSession, key: str, person_ids: Sequence[int], at: datetime) -> None:
    """Create the pending delivery rows of a reminder stamped with the job's clock (the
    time the reminder became due, which the gaps between reminders are measured from);
    rows that exist are left alone — but one put off at its turn (``skipped``), due again now, is
    pending again. The broadcaster then works through them."""
    for i in range(0, len(person_ids), 5000):
        chunk = person_ids[i:i + 5000]
        await upsert(session, Delivery.__table__,
                     [{"broadcast_key": key, "person_id": pid, "status": PENDING, "attempts": 0, "created_at": at}
                      for pid in chunk],
                     keys=("broadcast_key", "person_id"))
        await session.execute(sa.update(Delivery.__table__).where(
            _d.broadcast_key == key, _d.person_id.in_(chunk), _d.status == SKIPPED).values(status=PENDING,
                                                                                         created_at=at))


async def drop_unsent(session: AsyncSession, key: str, keep: Iterable[int]) -> int:
    """Forget pending/failed rows of `key` for people no longer due (they finished, left,
    or the moment passed), so resuming the key does not send them a stale message."""
    keep_ids = set(keep)
    todo = (_d.broadcast_key == key, _d.status.in_(TODO), _d.person_id != JOB_PERSON)
    # the rows to drop, found here: the people kept can be more than a statement takes
    # parameters (32,767 on PostgreSQL)
    waiting = (await session.scalars(sa.select(_d.person_id).where(*todo))).all()
    drop = [pid for pid in waiting if pid not in keep_ids]
    dropped = 0
    for i in range(0, len(drop), 5000):
        result = await session.execute(sa.delete(Delivery.__table__).where(*todo, _d.person_id.in_(drop[i:i + 5000])))
        dropped += int(result.rowcount or 0)
    return dropped


async def drop_stale_reminders(session: AsyncSession, consultation_id: int, closes_at: datetime) -> int:
    """Forget the consultation's deadline reminders not sent yet (pending/failed: a run cut
    off, a retry to come) that were queued for another deadline than `closes_at`: the deadline
    moved, and a key of an old deadline is never taken up again — they would wait for ever
    (and, were it moved back, say a time left that is no longer true)."""
    prefix = remind_key(consultation_id, "")
    current = remind_key(consultation_id, "x", closes_at).partition("@")[2]
    rows = (await session.execute(sa.select(_d.id, _d.broadcast_key).where(
        _d.broadcast_key.startswith(prefix, autoescape=True), _d.status.in_(TODO),
        _d.person_id != JOB_PERSON))).all()
    stale = [rid for rid, key in rows if (stamp := key.partition("@")[2]) and stamp != current]
    for i in range(0, len(stale), 5000):
        await session.execute(sa.delete(Delivery.__table__).where(_d.id.in_(stale[i:i + 5000]),
                                                                  _d.status.in_(TODO)))
    return len(stale)


async def drop_unsent_reminders(session: AsyncSession, consultation_id: int) -> int:
    """Forget every reminder of the consultation not sent yet (pending/failed): it has closed,
    and a reminder that still went out ("还有 … 就截止了", "接着填") would be untrue. A broadcast
    of a reminder under way when it closes finds no more rows to claim and stops."""
    result = await session.execute(sa.delete(Delivery.__table__).where(
        _d.broadcast_key.startswith(remind_key(consultation_id, ""), autoescape=True), _d.status.in_(TODO),
        _d.person_id != JOB_PERSON))
    return int(result.rowcount or 0)


async def languages(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    ids = list(person_ids)
    out: dict[int, str] = {}
    for i in range(0, len(ids), 5000):
        rows = (await session.execute(sa.select(_p.id, _p.language).where(_p.id.in_(ids[i:i + 5000])))).all()
        out.update({int(pid): lang or "" for pid, lang in rows})
    return out


async def township_participants(session: AsyncSession, consultation_id: int, township_id: int) -> list[int]:
    """Residents who answered for the township, and its cadres."""
    residents = (await session.scalars(sa.select(_r.person_id).where(_r.consultation_id == consultation_id,
                                                                      _r.township_id == township_id))).all()
    cadres = (await session.scalars(sa.select(_p.id).where(_p.role == CADRE, _p.township_id == township_id))).all()
    return sorted(set(residents) | set(cadres))


async def job_done(session: AsyncSession, key: str) -> bool:
    found = await session.scalar(sa.select(_d.id).where(_d.broadcast_key == key, _d.person_id == JOB_PERSON))
    return found is not None


async def mark_job_done(session: AsyncSession, key: str) -> None:
    now = utcnow()
    await upsert(session, Delivery.__table__,
                 {"broadcast_key": key, "person_id": JOB_PERSON, "status": SENT, "attempts": 0,
                  "created_at": now, "sent_at": now},
                 keys=("broadcast_key", "person_id"))


async def claim_once(session: AsyncSession, key: str, now: datetime | None = None) -> bool:
    """Take the action named `key` (a confirmation's press: "new:<person>:<mark>"), in the caller's
    transaction: True for the one caller that did. The confirm buttons' double-tap guard is the
    chat's FSM state, read by each webhook worker on its own — two taps handled at the same
    instant both pass it; the unique (key, person) pair lets one through at the database (the
    other's insert waits for the first's commit, then inserts nothing)."""
    now = now or utcnow()
    return await insert_ignore(session, Delivery.__table__,  # type: ignore[arg-type]
                               {"broadcast_key": f"claim:{key}"[:120], "person_id": JOB_PERSON, "status": SENT,
                                "attempts": 0, "created_at": now, "sent_at": now},
                               keys=("broadcast_key", "person_id"))


RUN_LEASE = timedelta(minutes=2)


async def claim_run(session: AsyncSession, key: str, token: int, now: datetime, lease: timedelta = RUN_LEASE) -> bool:
    """Hold the run named `key` (a consultation's final report: "final:<id>:<closed-at>:run") for
    `lease`, in the caller's transaction (commit at once): True for the one caller, of any process,
    that holds it now. Its job-marker row (person 0) keeps the holder's `token` (in `attempts`) and
    when its hold ends (`sent_at`): a second caller inserts nothing, and takes it over only once
    that time has passed — the holder stopped renewing it (it died, or gave it back)."""
    row = {"broadcast_key": key, "person_id": JOB_PERSON, "status": SENT, "attempts": token, "created_at": now,
           "sent_at": now + lease}
    if await insert_ignore(session, Delivery.__table__, row, keys=("broadcast_key", "person_id")):  # type: ignore[arg-type]
        return True
    taken = await session.execute(sa.update(Delivery.__table__).where(
        _d.broadcast_key == key, _d.person_id == JOB_PERSON, _d.sent_at <= now).values(attempts=token,
                                                                                         sent_at=now + lease))
    return bool(taken.rowcount)  # type: ignore[attr-defined]


async def renew_run(session: AsyncSession, key: str, token: int, until: datetime) -> bool:
    """Hold the run `key` until `until` while it is still ours (a time in the past gives it back)."""
    result = await session.execute(sa.update(Delivery.__table__).where(
        _d.broadcast_key == key, _d.person_id == JOB_PERSON, _d.attempts == token).values(sent_at=until))
    return bool(result.rowcount)  # type: ignore[attr-defined]


CLAIM_KEPT = timedelta(days=7)


async def drop_old_claims(session: AsyncSession, now: datetime, kept: timedelta = CLAIM_KEPT) -> int:
    """Forget the confirmations' claims (`claim_once`) older than `kept`: a claim only has to
    outlive the double tap it guards (seconds); one row a confirmation would pile up for ever
    otherwise. A button that old is stale by the chat's FSM state anyway."""
    result = await session.execute(sa.delete(Delivery.__table__).where(
        _d.broadcast_key.startswith("claim:", autoescape=True), _d.person_id == JOB_PERSON,
        _d.created_at < now - kept))
    return int(result.rowcount or 0)


async def set_last_digest(session: AsyncSession, consultation_id: int, at: datetime) -> None:
    await session.execute(sa.update(Consultation.__table__).where(Consultation.__table__.c.id == consultation_id)
                          .values(last_digest_at=at))
