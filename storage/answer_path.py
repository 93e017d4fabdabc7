"""The answer path's per-process state for one database: the group-commit writer and
what it caches.

What is cached, and why it is safe with several bot processes on one database:

- response states (storage.responses.StateCache): every write re-checks the row's
  version, so a stale copy is caught before anything is written or acknowledged;
- consultations with their township links: title, texts and links do not change
  once a consultation is open; status and dates are re-read after
  CONSULTATION_TTL seconds (and at once in this process after `set_status` or
  `set_deadline`);
- list items: a stored list version never changes;
- people, only for presses on question messages (language; PERSON_TTL): those
  presses are authorized by owning the response, not by role. Every other update
  reads the person fresh, so organizer and cadre checks stay DB-fresh.
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, any_, bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.direct import KeyedReads, SQLiteDirect, direct, is_busy
from storage.group_commit import GroupCommit
from storage.models import Consultation, ConsultationTownship, DutyItemRow, Person, Township
from storage.responses import ResponseState, StateCache, load_query, state_of
from surveys.flow import ItemRef

CONSULTATION_TTL = 5.0
PERSON_TTL = 60.0


def _json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


class PointRead:
    """One kind of the answer path's point reads: `statement`'s rows whose first column
    equals a key. SQLite: the statement for that key, on the loop's thread (see
    AnswerPath.rows). PostgreSQL: batched with every read of the same kind in flight
    (storage.direct.KeyedReads) on the process's reader connection — the reads of two hundred
    residents' first presses at once cost a few queries, not two hundred pool checkouts,
    pings and transactions, and two hundred loads of one consultation cost one."""

    def __init__(self, name: str, statement: Any, key_type: Any) -> None:
        from sqlalchemy.dialects.postgresql import ARRAY
        from sqlalchemy.dialects.postgresql.asyncpg import dialect

        self.name = name
        self.statement = statement
        self.key = statement.selected_columns[0]
        # built once: SQLAlchemy then finds it compiled in its cache without building a key
        self.by_key = statement.where(self.key == bindparam("key"))
        keyed = statement.where(self.key == any_(bindparam("keys", type_=ARRAY(key_type))))
        self.pg_query = str(keyed.compile(dialect=dialect()))

    def reads(self) -> KeyedReads:
        return KeyedReads(self.pg_query)


_person = Person.__table__.c  # type: ignore[attr-defined]
_consultation = Consultation.__table__.c  # type: ignore[attr-defined]
_link, _township = ConsultationTownship.__table__.c, Township.__table__.c  # type: ignore[attr-defined]
_item = DutyItemRow.__table__.c  # type: ignore[attr-defined]

PERSON = PointRead("person", select(_person.id, _person.first_name, _person.language, _person.role,
                                    _person.township_id, _person.active, _person.language_chosen), BigInteger)
# the screen (column 7) and the answer (9) are JSON: asyncpg gives their text
RESPONSE = PointRead("response", load_query, Integer)
CONSULTATION = PointRead("consultation", select(_consultation.id, _consultation.title, _consultation.intro,
                                                _consultation.questionnaire, _consultation.status,
                                                _consultation.opens_at, _consultation.closes_at,
                                                _consultation.closed_at), Integer)
LINKS = PointRead("links", select(_link.consultation_id, _link.township_id, _township.name, _link.list_id)
                  .join(Township.__table__, _township.id == _link.township_id).order_by(_link.id), Integer)
# a share link's code: the consultation and township behind it (the view then from the cache)
CODE = PointRead("code", select(_link.code, _link.consultation_id, _link.township_id), String)
ITEMS = PointRead("items", select(_item.list_id, _item.id, _item.part, _item.category, _item.name)
                  .order_by(_item.position), Integer)


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
    closed_at: datetime | None
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
        self._reads = {point.name: point.reads() for point in (PERSON, RESPONSE, CONSULTATION, LINKS, ITEMS, CODE)}

    async def rows(self, session: AsyncSession, statement: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows of a read. On SQLite straight on the loop's thread (a point read
        takes microseconds; a thread hop and a pooled connection take far longer),
        through the session when the database is busy or on PostgreSQL."""
        if isinstance(self.direct, SQLiteDirect):
            try:
                return list(self.direct.reader.execute(statement, params).all())
            except Exception as exc:
                self.direct.drop_reader()
                if not (isinstance(exc, OperationalError) and is_busy(exc.orig)):  # type: ignore[arg-type]
                    raise
        return list((await session.execute(statement, params)).all())

    async def point(self, session: AsyncSession, point: PointRead, key: Any) -> list[Any]:
        """The rows of `point` for `key` as stored now (see PointRead)."""
        if isinstance(self.direct, SQLiteDirect):
            return await self.rows(session, point.by_key, {"key": key})
        return await self._reads[point.name].get(key, self.direct)

    async def person_row(self, session: AsyncSession, person_id: int) -> Any | None:
        """The person row (id, first_name, language, role, township_id, active, language_chosen),
        or None."""
        found = await self.point(session, PERSON, person_id)
        return found[0] if found else None

    async def response(self, session: AsyncSession, response_id: int) -> ResponseState | None:
        """The response and its answers as stored now (not from the cache)."""
        rows = await self.point(session, RESPONSE, response_id)
        if not isinstance(self.direct, SQLiteDirect):
            rows = [(*r[:7], _json(r[7]), r[8], _json(r[9])) for r in rows]
        return state_of(rows)

    async def consultation(self, session: AsyncSession, consultation_id: int) -> ConsultationView | None:
        """The consultation, from this process's copy while it is fresh. Never read
        through another update's session: on SQLite a caller that holds the write lock
        must not wait for a load that waits for a pooled connection, while the pool's
        connections all wait for that lock."""
        cached = self._consultations.get(consultation_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self.point(session, CONSULTATION, consultation_id)
        if not found:
            return None
        links = await self.point(session, LINKS, consultation_id)
        view = ConsultationView(*found[0], tuple(TownshipLink(*row[1:]) for row in links))
        self._consultations[consultation_id] = (time.monotonic() + CONSULTATION_TTL, view)
        return view

    async def link_by_code(self, session: AsyncSession, code: str) -> tuple[ConsultationView, TownshipLink] | None:
        """The consultation and township a share link's code stands for (the code read as
        stored now, the consultation from this process's copy while it is fresh)."""
        found = await self.point(session, CODE, code)
        if not found:
            return None
        _, consultation_id, township_id = found[0]
        view = await self.consultation(session, consultation_id)
        link = view.link(township_id) if view is not None else None
        if view is None or link is None:
            return None
        return view, link

    def forget_consultation(self, consultation_id: int) -> None:
        self._consultations.pop(consultation_id, None)

    def forget_stale(self, response_id: int) -> None:
        """A write found this response moved on, or its consultation no longer open: drop
        this process's copies of both, so the update is computed again from the database."""
        state = self.responses.get(response_id)
        if state is not None:
            self.forget_consultation(state.consultation_id)
        self.responses.forget(response_id)

    async def items(self, session: AsyncSession, list_id: int) -> tuple[ItemRef, ...]:
        cached = self._items.get(list_id)
        if cached is None:
            rows = await self.point(session, ITEMS, list_id)
            cached = tuple(ItemRef(id=r[1], part=r[2], category=r[3], name=r[4]) for r in rows)
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
