"""A resident's response as the answer path sees it: the row (with its screen state
and version) and its answers, loaded in one query, cached in the process, and
written back as one `Change` — either in the update's own session or through the
group commit (storage.group_commit).

The cache is safe with several bot processes on one database because every write
of a response names the version it was computed from (`UPDATE … WHERE version = ?`)
and bumps it: a process holding a stale copy writes nothing, gets `Stale`, drops
its copy and computes the press again from the database.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, Response, UTCDateTime, utcnow

_response: sa.Table = Response.__table__  # type: ignore[assignment]
_answer: sa.Table = Answer.__table__  # type: ignore[assignment]


class Stale(Exception):
    """The response changed since it was read (another process, or a concurrent update)."""


class AlreadyProcessed(Exception):
    """The update_id was already handled: nothing was written, nothing must be sent."""


@dataclass(frozen=True)
class ResponseState:
    """One response row and its answers (question id → value; None = skipped)."""

    id: int
    consultation_id: int
    person_id: int
    township_id: int
    message_id: int | None
    completed: bool
    version: int
    answers: dict[str, Any]
    screen: dict[str, Any]
    # What a caller derived from exactly this version (the bot keeps its FlowState
    # here, so a cached response is not re-validated on every press).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Change:
    """The writes of one update: its update_id mark (None when the update's own
    session carries it), the response row (new screen, live message, completion —
    only if still at `state.version`), answers to set and answers to drop, and the
    person row when it must be created or refreshed."""

    update_id: int | None = None
    state: ResponseState | None = None  # as read; the write checks its version
    screen: dict[str, Any] | None = None
    message_id: int | None = None
    completed: bool = False
    set_answers: dict[str, Any] = field(default_factory=dict)
    drop_answers: Sequence[str] = ()
    person: dict[str, Any] | None = None

    def after(self) -> ResponseState | None:
        """The response as it is once this change is committed."""
        if self.state is None:
            return None
        answers = {k: v for k, v in self.state.answers.items() if k not in self.drop_answers} | self.set_answers
        return replace(self.state, answers=answers, screen=self.screen if self.screen is not None else self.state.screen,
                       message_id=self.message_id, completed=self.completed, version=self.state.version + 1,
                       memo={})


load_query = (
    sa.select(_response.c.id, _response.c.consultation_id, _response.c.person_id, _response.c.township_id,
              _response.c.message_id, _response.c.completed_at, _response.c.version, _response.c.screen,
              _answer.c.question_id, _answer.c.value)
    .select_from(_response.outerjoin(_answer, _answer.c.response_id == _response.c.id))
)
_LOAD_ONE = load_query.where(_response.c.id == sa.bindparam("id"))


def state_of(rows: Sequence[Any]) -> ResponseState | None:
    """The response in the rows of `load_query` (one per answer, or one with no answer;
    the columns in its order, JSON decoded)."""
    if not rows:
        return None
    r = rows[0]
    answers = {row[8]: row[9] for row in rows if row[8] is not None}
    return ResponseState(r[0], r[1], r[2], r[3], r[4], r[5] is not None, r[6], answers, dict(r[7] or {}))


async def load_state(session: AsyncSession, response_id: int) -> ResponseState | None:
    """The response and its answers, in one query (no row lock: the write checks the
    version)."""
    return state_of((await session.execute(_LOAD_ONE, {"id": response_id})).all())


def _open(response: sa.Table) -> sa.ColumnElement[bool]:
    """The response's consultation is still open: answers change only then. Checked by the
    write itself, so a close committed between a handler's read and its write refuses it
    (as Stale: the handler computes again, and finds it closed)."""
    from storage.models import Consultation

    consultation: sa.Table = Consultation.__table__  # type: ignore[assignment]
    return sa.exists().where(consultation.c.id == response.c.consultation_id, consultation.c.status == "open")


def _save_statement(completed: bool) -> sa.Update:
    c = _response.c
    return (sa.update(_response)
            .where(c.id == sa.bindparam("b_id"), c.version == sa.bindparam("b_version"), _open(_response))
            .values(version=sa.bindparam("b_next"), screen=sa.bindparam("b_screen", type_=c.screen.type),
                    message_id=sa.bindparam("b_message_id"), updated_at=sa.bindparam("now", type_=UTCDateTime()),
                    completed_at=sa.func.coalesce(c.completed_at, sa.bindparam("now", type_=UTCDateTime()))
                    if completed else None))


# built once (SQLAlchemy then finds them compiled), by whether the change completes the response
_SAVE = {completed: _save_statement(completed) for completed in (False, True)}


async def save(session: AsyncSession, change: Change) -> None:
    """Write `change` in the caller's transaction (the update_id mark is the caller's).
    Raises Stale when the response moved on since `change.state` was read."""
    state = change.state
    assert state is not None and change.update_id is None
    now = utcnow()
    result = await session.execute(_SAVE[bool(change.completed)], {
        "b_id": state.id, "b_version": state.version, "b_next": state.version + 1, "now": now,
        "b_screen": change.screen if change.screen is not None else state.screen, "b_message_id": change.message_id})
    if result.rowcount != 1:
        raise Stale(state.id)
    if change.set_answers:
        from storage.sql import upsert

        await upsert(session, _answer, [{"response_id": state.id, "question_id": q, "value": v, "answered_at": now}
                                        for q, v in change.set_answers.items()],
                     keys=("response_id", "question_id"), update=("value", "answered_at"))
    if change.drop_answers:
        await session.execute(sa.delete(_answer).where(_answer.c.response_id == state.id,
                                                       _answer.c.question_id.in_(list(change.drop_answers))))


async def advance_live_message(session: AsyncSession, response_id: int, message_id: int) -> bool:
    """Make `message_id` the live question message, unless a newer one already is
    (Telegram's message ids grow within a chat). No version check: it only moves forward.
    Whether it did (the row's version went up by one)."""
    result = await session.execute(
        sa.update(_response)
        .where(_response.c.id == response_id,
               sa.or_(_response.c.message_id.is_(None), _response.c.message_id < message_id))
        .values(message_id=message_id, version=_response.c.version + 1))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StateCache:
    """Response states by id, most recently used kept (bounded). Only a hint: every
    write re-checks the version in the database."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._states: OrderedDict[int, ResponseState] = OrderedDict()

    def get(self, response_id: int) -> ResponseState | None:
        state = self._states.get(response_id)
        if state is not None:
            self._states.move_to_end(response_id)
        return state

    def put(self, state: ResponseState) -> None:
        current = self._states.get(state.id)
        if current is not None and current.version > state.version:
            return
        self._states[state.id] = state
        self._states.move_to_end(state.id)
        while len(self._states) > self.size:
            self._states.popitem(last=False)

    def forget(self, response_id: int) -> None:
        self._states.pop(response_id, None)


def naive_utc_text(value: datetime) -> str:
    """A timestamp the way SQLAlchemy stores it on SQLite (naive UTC)."""
    return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
