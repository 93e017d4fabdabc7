"""The answer path's per-process state for one database: the group-commit writer and
what it caches.

What is cached, and why it is safe with several bot processes on one database:

- response states (storage.responses.StateCache): every write re-checks the row's
  version, so a stale copy is caught before anything is written or acknowledged;
- consultations with their township links: title, texts and links do not change
  once a consultation is open; status and dates are re-read after
  CONSULTATION_TTL seconds (and at once in this process after `set_status`);
- list items: a stored list version never changes;
- people, only for presses on question messages (language; PERSON_TTL): those
  presses are authorized by owning the response, not by role. Every other update
  reads the person fresh, so organizer and cadre checks stay DB-fresh.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.consultations import Link, links_query
from storage.direct import SQLiteDirect, direct, is_busy
from storage.group_commit import GroupCommit
from storage.models import Consultation, DutyItemRow, Person
from storage.responses import StateCache
from surveys.flow import ItemRef

CONSULTATION_TTL = 5.0
PERSON_TTL = 60.0


@dataclass(frozen=True)
class TownshipLink:
    township_id: int
    township: str
    list_id: int


@dataclass(frozen=True)
class ConsultationView:
    """What the resident flow needs of a consultation (a snapshot)."""

    id: int
    title: str
    intro: str
    questionnaire: str
    status: str
    opens_at: datetime | None
    closes_at: datetime
    links: tuple[TownshipLink, ...]

    def link(self, township_id: int) -> TownshipLink | None:
        return next((link for link in self.links if link.township_id == township_id), None)


class AnswerPath:
    def __init__(self, engine: AsyncEngine) -> None:
        self.direct = direct(engine)
        self.writer = GroupCommit(engine, self.direct)
        self.responses = StateCache()
        self._consultations: dict[int, tuple[float, ConsultationView]] = {}
        self._items: dict[int, tuple[ItemRef, ...]] = {}
        self._people: dict[int, tuple[float, Person]] = {}

    async def rows(self, session: AsyncSession, statement: Any) -> list[Any]:
        """The rows of a read. On SQLite straight on the loop's thread (a point read
        takes microseconds; a thread hop and a pooled connection take far longer),
        through the session when the database is busy or on PostgreSQL."""
        if isinstance(self.direct, SQLiteDirect):
            try:
                with self.direct.engine.connect() as conn:
                    return list(conn.execute(statement).all())
            except OperationalError as exc:
                if not is_busy(exc.orig):  # type: ignore[arg-type]
                    raise
        return list((await session.execute(statement)).all())

    async def consultation(self, session: AsyncSession, consultation_id: int) -> ConsultationView | None:
        """The consultation, from this process's copy while it is fresh. Loaded by each
        caller with its own session, never through another update's: a caller that
        holds SQLite's write lock must not wait for a load that waits for a pooled
        connection, while the pool's connections all wait for that lock."""
        cached = self._consultations.get(consultation_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        c = Consultation.__table__.c  # type: ignore[attr-defined]
        found = await self.rows(session, select(c.id, c.title, c.intro, c.questionnaire, c.status, c.opens_at,
                                                c.closes_at).where(c.id == consultation_id))
        if not found:
            return None
        links = [Link(*row) for row in await self.rows(session, links_query(consultation_id))]
        view = ConsultationView(*found[0], tuple(TownshipLink(link.township_id, link.township, link.list_id)
                                                 for link in links))
        self._consultations[consultation_id] = (time.monotonic() + CONSULTATION_TTL, view)
        return view

    def forget_consultation(self, consultation_id: int) -> None:
        self._consultations.pop(consultation_id, None)

    async def items(self, session: AsyncSession, list_id: int) -> tuple[ItemRef, ...]:
        cached = self._items.get(list_id)
        if cached is None:
            rows = await self.rows(session, select(DutyItemRow.id, DutyItemRow.part, DutyItemRow.category,
                                                   DutyItemRow.name)
                                   .where(DutyItemRow.list_id == list_id).order_by(DutyItemRow.position))
            cached = tuple(ItemRef(id=r.id, part=r.part, category=r.category, name=r.name) for r in rows)
            self._items[list_id] = cached
        return cached

    def person(self, person_id: int) -> Person | None:
        cached = self._people.get(person_id)
        if cached is None or cached[0] < time.monotonic():
            return None
        return cached[1]

    def keep_person(self, person: Person) -> None:
        if len(self._people) > 100_000:
            self._people.clear()
        self._people[person.id] = (time.monotonic() + PERSON_TTL, person)

    def forget_person(self, person_id: int) -> None:
        self._people.pop(person_id, None)


_paths: weakref.WeakKeyDictionary[AsyncEngine, AnswerPath] = weakref.WeakKeyDictionary()


def answer_path(engine: AsyncEngine) -> AnswerPath:
    """The one AnswerPath of this process for `engine`."""
    path = _paths.get(engine)
    if path is None:
        path = _paths[engine] = AnswerPath(engine)
    return path


def forget_consultation(bind: object, consultation_id: int) -> None:
    """Drop this process's copy of a consultation (its status or dates change)."""
    path = _paths.get(bind) if isinstance(bind, AsyncEngine) else None
    if path is not None:
        path.forget_consultation(consultation_id)
