"""What the resident flow needs per consultation, cached in the process: the parsed
questionnaire (keyed by its text) and the consulted list's items (stored lists never
change, so a list id is a safe key)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DutyItemRow
from surveys.flow import ItemRef
from surveys.questionnaire import Questionnaire, load_questionnaire

_items: dict[int, tuple[ItemRef, ...]] = {}


@lru_cache(maxsize=256)
def _parse(digest: str, text: str) -> Questionnaire:
    parsed, problems = load_questionnaire(text)
    if parsed is None:
        raise ValueError(f"stored questionnaire is invalid: {[p.rule for p in problems]}")
    return parsed


def questionnaire_of(text: str) -> Questionnaire:
    return _parse(hashlib.sha1(text.encode()).hexdigest(), text)


async def items_of(session: AsyncSession, list_id: int) -> tuple[ItemRef, ...]:
    cached = _items.get(list_id)
    if cached is None:
        rows = (await session.execute(
            select(DutyItemRow.id, DutyItemRow.part, DutyItemRow.category, DutyItemRow.name)
            .where(DutyItemRow.list_id == list_id).order_by(DutyItemRow.position))).all()
        cached = tuple(ItemRef(id=r.id, part=r.part, category=r.category, name=r.name) for r in rows)
        _items[list_id] = cached
    return cached
