"""Townships, duty lists and their items: storing an imported list and reading it back."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Consultation, ConsultationTownship, DutyItemRow, DutyListRow, Township
from surveys.duty_list import ITEM_FIELDS, DutyItem, DutyList, ListStatus, Part


class VersionExists(ValueError):
    """A list with this township and version is already stored."""


class ListKept(ValueError):
    """A list `delete_list` does not delete: consultations use it (`consultations`: their
    (id, status)), or it is no longer a draft (`status`)."""

    def __init__(self, status: str, consultations: list[tuple[int, str]]) -> None:
        super().__init__(status, consultations)
        self.status = status
        self.consultations = consultations


def township_name(name: str) -> str:
    """A township's name as stored and looked up: full-width forms folded, spaces trimmed
    and runs of them made one ("青山镇　" is 青山镇)."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


async def get_township(session: AsyncSession, name: str) -> Township | None:
    return (await session.scalars(select(Township).where(Township.name == township_name(name)))).first()


async def get_or_create_township(session: AsyncSession, name: str) -> Township:
    township = await get_township(session, name)
    if township is None:
        if not township_name(name):
            raise ValueError("a township needs a name")
        township = Township(name=township_name(name))
        session.add(township)
        await session.flush()
    return township


async def townships(session: AsyncSession) -> list[Township]:
    """Every township, by name in Unicode code-point order — sorted here, not by ORDER BY:
    PostgreSQL orders text by the database's collation (a zh_CN one by pinyin, C by code
    point), SQLite by code point, so the pickers would differ between the two. Code-point
    order is also the one the reports sort names in; a county has tens of townships."""
    return sorted((await session.scalars(select(Township))).all(), key=lambda t: (t.name, t.id))


async def next_version(session: AsyncSession, township_id: int) -> str:
    """The number after every version stored: after "1" and "2", "3"; after a named one
    ("2026征求意见稿") too, "2" — not "1", which read as older than the draft it revises."""
    versions = (await session.scalars(select(DutyListRow.version).where(DutyListRow.township_id == township_id))).all()
    numbers = [int(v) for v in versions if v.isdecimal()]
    return str(max(max(numbers, default=0), len(versions)) + 1)


async def save_list(
    session: AsyncSession,
    township_name: str,
    items: Sequence[DutyItem],
    version: str | None = None,
    source_file: str = "",
) -> DutyListRow:
    """Store a list as a new version of the township's list (in the caller's transaction)."""
    township = await get_or_create_township(session, township_name)
    assert township.id is not None
    if version is None:
        version = await next_version(session, township.id)
    exists = (
        await session.scalars(
            select(DutyListRow).where(DutyListRow.township_id == township.id, DutyListRow.version == version)
        )
    ).first()
    if exists is not None:
        raise VersionExists(version)
    row = DutyListRow(township_id=township.id, version=version, source_file=source_file)
    session.add(row)
    await session.flush()
    if items:
        await session.execute(
            sa.insert(DutyItemRow.__table__),
            [
                {"list_id": row.id, "position": n, "part": item.part.value, **{f: getattr(item, f) for f in ITEM_FIELDS}}
                for n, item in enumerate(items)
            ],
        )
    return row


def _item(row: DutyItemRow) -> DutyItem:
    return DutyItem(part=Part(row.part), id=row.id, **{f: getattr(row, f) for f in ITEM_FIELDS})


async def load_list(session: AsyncSession, list_id: int) -> DutyList:
    row = await session.get(DutyListRow, list_id)
    if row is None:
        raise LookupError(list_id)
    township = await session.get(Township, row.township_id)
    items = (
        await session.scalars(select(DutyItemRow).where(DutyItemRow.list_id == list_id).order_by(DutyItemRow.position))
    ).all()
    return DutyList(
        township=township.name if township else "",
        version=row.version,
        status=ListStatus(row.status),
        items=[_item(i) for i in items],
    )


async def find_list(session: AsyncSession, name: str, version: str | None = None) -> DutyListRow | None:
    """A township's list at `version`, or its newest version: the one imported last (a
    version's label — "2", "2026修订稿" — is only a name)."""
    query = select(DutyListRow).join(Township).where(Township.name == township_name(name))
    if version is not None:
        return (await session.scalars(query.where(DutyListRow.version == version))).first()
    return (await session.scalars(query.order_by(DutyListRow.id.desc()).limit(1))).first()


async def newest_published(session: AsyncSession, township_id: int) -> DutyListRow | None:
    """The township's published list imported last, if any has been published."""
    return (await session.scalars(select(DutyListRow).where(DutyListRow.township_id == township_id,
                                                           DutyListRow.status == ListStatus.PUBLISHED.value)
                                  .order_by(DutyListRow.id.desc()).limit(1))).first()


async def list_rows(session: AsyncSession, name: str | None = None) -> list[tuple[DutyListRow, str]]:
    query = select(DutyListRow, Township.name).join(Township)
    if name:
        query = query.where(Township.name == township_name(name))
    rows = (await session.execute(query)).all()
    return [(r, n) for r, n in sorted(rows, key=lambda rn: (rn[1], rn[0].id))]  # as townships()


async def set_status(session: AsyncSession, list_id: int, status: ListStatus) -> None:
    await session.execute(sa.update(DutyListRow.__table__).where(DutyListRow.id == list_id).values(status=status.value))


async def get_item(session: AsyncSession, item_id: int) -> DutyItem | None:
    row = await session.get(DutyItemRow, item_id)
    return _item(row) if row else None


async def why_kept(session: AsyncSession, row: DutyListRow) -> ListKept | None:
    """Why `delete_list` would not delete the list, or None: it may be deleted."""
    consultations = [(cid, status) for cid, status in (await session.execute(
        select(Consultation.id, Consultation.status).join(
            ConsultationTownship, ConsultationTownship.consultation_id == Consultation.id)
        .where(ConsultationTownship.list_id == row.id).order_by(Consultation.id))).all()]
    if consultations or row.status != ListStatus.DRAFT.value:
        return ListKept(row.status, consultations)
    return None


async def delete_list(session: AsyncSession, row: DutyListRow) -> None:
    """Delete a draft version that no consultation uses, with its items (in the caller's
    transaction), and its township when nothing else is left on it (a name imported by
    mistake leaves no empty township in the pickers). Raises ListKept otherwise."""
    kept = await why_kept(session, row)
    if kept is not None:
        raise kept
    await session.execute(sa.delete(DutyItemRow.__table__).where(DutyItemRow.list_id == row.id))
    await session.execute(sa.delete(DutyListRow.__table__).where(DutyListRow.id == row.id))
    township = Township.__table__
    on_it = [sa.exists().where(fk.parent == row.township_id)  # a row of any table naming the township
             for table in township.metadata.tables.values() for fk in table.foreign_keys
             if fk.column is township.c.id]
    await session.execute(sa.delete(township).where(township.c.id == row.township_id, ~sa.or_(*on_it)))
