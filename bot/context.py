"""The per-update context handed to every handler as `ctx`: the database session,
the person, their language and role, the clock and the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.texts import gettext
from storage.models import Person


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

    async def commit(self) -> None:
        """Make the update's writes durable. Handlers call this before they
        acknowledge an answer to the user."""
        await self.session.commit()
        self.committed = True
