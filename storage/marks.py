"""The update_id mark (`processed_update`): an update is handled once.

A session that handles an update is bound to its update_id (`bind_update`). The
session's first commit writes the mark in the same transaction as the handler's
writes (a `before_commit` listener), and raises AlreadyProcessed — committing
nothing — when the mark is there already (the same update handled meanwhile by
another process, or a moment ago by this one). So the mark costs no write lock
until the handler commits: on SQLite, which has one writer at a time, an update
that only reads (or reads for a while before it writes) never makes the others
wait. Presses on question messages write their mark through the group commit
instead (storage.group_commit)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from storage.models import ProcessedUpdate, utcnow
from storage.responses import AlreadyProcessed
from storage.sql import insert_for

_mark = ProcessedUpdate.__table__  # type: ignore[attr-defined]
UPDATE = "qingdan.update_id"  # session.info: the update this session handles
PENDING = "qingdan.mark_pending"  # the mark is written in the transaction being committed
MARKED = "qingdan.marked"  # the mark is committed


def bind_update(session: AsyncSession, update_id: int) -> None:
    session.info[UPDATE] = update_id
    session.info[MARKED] = False


def marked(session: AsyncSession) -> bool:
    return bool(session.info.get(MARKED))


# whether an update was handled already: execute with {"update_id": …}
PROCESSED = sa.select(_mark.c.update_id).where(_mark.c.update_id == sa.bindparam("update_id"))


@event.listens_for(Session, "before_commit")
def _write_mark(session: Session) -> None:
    update_id = session.info.get(UPDATE)
    if update_id is None or session.info.get(MARKED):
        return
    stmt = (insert_for(session.get_bind().dialect.name, _mark)
            .values(update_id=update_id, processed_at=utcnow())
            .on_conflict_do_nothing(index_elements=["update_id"]))
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyProcessed(update_id)
    session.info[PENDING] = True


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    if session.info.pop(PENDING, False):
        session.info[MARKED] = True


@event.listens_for(Session, "after_soft_rollback")
def _mark_rolled_back(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(PENDING, None)
