"""The per-update context handed to every handler as `ctx`: the database session,
the person, their language and role, the clock and the settings — and how the
update's writes are committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.texts import gettext
from storage import responses
from storage.answer_path import AnswerPath
from storage.models import Person
from storage.responses import Change, ResponseState
from storage.sql import MAX_ID

#: An int of a button's callback data: within the id columns' range, so forged data too
#: large for a column is refused when parsed (a stale button), not by the database.
Num = Annotated[int, Field(ge=-MAX_ID, le=MAX_ID)]


@dataclass
class Ctx:
    session: AsyncSession
    person: Person
    locale: str
    settings: Settings
    clock: Callable[[], datetime]
    bot_username: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    committed: bool = False
    # The process's answer path (writer and caches) for this database.
    path: AnswerPath | None = None
    # Set for presses on question messages: their writes, and the update_id mark,
    # go through the group commit instead of `session` (see bot.middlewares).
    update_id: int | None = None
    grouped: bool = False
    person_write: dict[str, Any] | None = None

    def t(self, key: str, /, **kwargs: Any) -> str:
        return gettext(key, self.locale, **kwargs)

    def now(self) -> datetime:
        return self.clock()

    @property
    def is_organizer(self) -> bool:
        return self.person.id in self.settings.organizer_ids or self.person.role == "organizer"

    @property
    def is_cadre(self) -> bool:
        return self.person.role == "cadre" and self.person.township_id is not None

    async def commit(self, change: Change | None = None) -> ResponseState | None:
        """Make the update's writes (and `change`, a response's new state) durable.
        Handlers call this before they acknowledge anything to the user. Raises
        storage.responses.Stale when the response moved on since it was read, and
        AlreadyProcessed when this update_id was handled already (grouped presses).
        Returns the response as committed, when `change` wrote one."""
        if self.grouped:
            assert self.path is not None
            change = change or Change()
            change.update_id, change.person = self.update_id, self.person_write
            if self.session.in_transaction():
                await self.session.close()  # hold no connection while waiting for the group's commit
            await self.path.writer.commit(change)
        else:
            if change is not None and change.state is not None:
                await responses.save(self.session, change)
            await self.session.commit()
        self.committed = True
        after = change.after() if change is not None else None
        if after is not None and self.path is not None:
            self.path.responses.put(after)
        return after
