"""Invites: single-use, expiring codes that make a Telegram user a cadre of one
township (or an organizer).

A code is 12 characters from [a-z0-9] drawn with `secrets` (36¹² ≈ 4.7·10¹⁸, so
guessing one is hopeless); its deep link is `https://t.me/<bot>?start=inv_<code>`.

API (all in the caller's transaction):

- `create_invites(session, township_id, role, count, expires_at, created_by) -> list[Invite]`
  — `role` is "cadre" (township required) or "organizer" (township optional).
- `redeem(session, code, person_id, now) -> (Invite | None, reason)` — reason is
  "ok", or a refusal: "unknown", "used", "expired", "revoked", or "already" (this
  person already redeemed this very code; nothing changes). Only "ok" writes: the
  invite is claimed with one conditional UPDATE (two people pressing the same link
  at once cannot both win) and the person is bound (role, township).
- `invite_status(invite, now) -> "open" | "used" | "expired" | "revoked"`.
- `list_invites(session, township_id=None, role=None) -> list[tuple[Invite, str | None]]`
  — newest first, with the township's name.
- `get_invite(session, code) -> Invite | None`.
- `revoke(session, code, now, demote=False) -> (Invite | None, reason)` — reason "ok", "unknown",
  "used" (too late: revoking does not demote whoever used it), "revoked" (already), or with
  `demote` "demoted" (the role it gave taken back, the unused invites its user made revoked, and
  their command menu left to reset: storage.outbox.reset_menu).
- `open_invites_made_by(session, person_id, now) -> list[Invite]`.
- `payload(code) -> "inv_<code>"`, `invite_link(bot_username, code) -> URL`.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.models import Invite, Person, Township
from surveys.consultation import deep_link
from surveys.text import drop_nul

CODE_ALPHABET = string.ascii_lowercase + string.digits
CODE_LENGTH = 12
PREFIX = "inv_"
ROLES: tuple[str, ...] = ("cadre", "organizer")
MAX_COUNT = 500


def new_invite_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def payload(code: str) -> str:
    return f"{PREFIX}{code}"


def invite_link(bot_username: str, code: str) -> str:
    return deep_link(bot_username, payload(code))


def is_invite(payload: str | None) -> bool:
    """Whether a /start payload is an invite (`inv_…`, in any case: the code is looked up so)."""
    return drop_nul(payload or "").strip().lower().startswith(PREFIX)


def normalize_invite_code(text: str) -> str:
    """The code out of what a person sent: strips the `inv_` prefix, blanks and case."""
    text = drop_nul(text).strip().lower()
    return text[len(PREFIX):] if text.startswith(PREFIX) else text


def invite_status(invite: Invite, now: datetime) -> str:
    if invite.used_by is not None or invite.used_at is not None:  # (no used_by: its user deleted their data)
        return "used"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at is not None and now >= invite.expires_at:
        return "expired"
    return "open"


async def create_invites(session: AsyncSession, township_id: int | None, role: str, count: int,
                         expires_at: datetime | None, created_by: int | None) -> list[Invite]:
    """`count` fresh codes for one township and role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "cadre" and township_id is None:
        raise ValueError("a cadre invite needs a township")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be 1..{MAX_COUNT}")
    if township_id is not None and await session.get(Township, township_id) is None:
        raise LookupError(f"township {township_id}")
    invites: list[Invite] = []
    taken: set[str] = set()
    while len(invites) < count:
        code = new_invite_code()
        if code in taken or await session.get(Invite, code) is not None:
            continue
        taken.add(code)
        invites.append(Invite(code=code, township_id=township_id, role=role, expires_at=expires_at,
                              created_by=created_by))
    session.add_all(invites)
    await session.flush()
    return invites


async def get_invite(session: AsyncSession, code: str) -> Invite | None:
    code = normalize_invite_code(code)
    if not code or len(code) > 40:
        return None
    return await session.get(Invite, code, populate_existing=True)


async def redeem(session: AsyncSession, code: str, person_id: int, now: datetime) -> tuple[Invite | None, str]:
    """Claim the invite for the person and bind them; see the module docstring for reasons."""
    invite = await get_invite(session, code)
    if invite is None:
        return None, "unknown"
    status = invite_status(invite, now)
    if status != "open":
        if status == "used" and invite.used_by == person_id:
            return invite, "already"
        return invite, status
    table = Invite.__table__
    claimed = await session.execute(
        sa.update(table)
        .where(table.c.code == invite.code, table.c.used_by.is_(None), table.c.used_at.is_(None),
               table.c.revoked_at.is_(None),
               sa.or_(table.c.expires_at.is_(None), table.c.expires_at > now))
        .values(used_by=person_id, used_at=now)
    )
    if claimed.rowcount != 1:  # somebody else won the race
        invite = await get_invite(session, code)
        assert invite is not None
        return invite, "already" if invite.used_by == person_id else invite_status(invite, now)
    values: dict[str, object] = {"role": invite.role}
    if invite.role == "cadre" or invite.township_id is not None:
        values["township_id"] = invite.township_id
    await session.execute(sa.update(Person.__table__).where(Person.id == person_id).values(**values))
    person = await session.get(Person, person_id)
    if person is not None:
        await session.refresh(person)
    invite = await get_invite(session, code)
    return invite, "ok"


async def list_invites(session: AsyncSession, township_id: int | None = None,
                       role: str | None = None) -> list[tuple[Invite, str | None]]:
    query = select(Invite, Township.name).outerjoin(Township, Township.id == Invite.township_id)
    if township_id is not None:
        query = query.where(Invite.township_id == township_id)
    if role is not None:
        query = query.where(Invite.role == role)
    rows = (await session.execute(query.order_by(Invite.created_at.desc(), Invite.code))).all()
    return [(invite, name) for invite, name in rows]


async def open_invites_made_by(session: AsyncSession, person_id: int, now: datetime) -> list[Invite]:
    """The invites this person made (an organizer, with /invite) that can still be used."""
    made = await session.scalars(select(Invite).where(Invite.created_by == person_id, Invite.used_by.is_(None),
                                                      Invite.used_at.is_(None), Invite.revoked_at.is_(None)))
    return [invite for invite in made if invite_status(invite, now) == "open"]


async def revoke(session: AsyncSession, code: str, now: datetime,
                 demote: bool = False) -> tuple[Invite | None, str]:
    """Revoke an unused invite. A used one is revoked only with `demote`, which also takes back
    the role it gave — if its user still holds it (the same role, and for a cadre the same
    township: one who moved on with another invite keeps that one): "demoted", and the invites
    that user made and are still unused are revoked too; "used" otherwise."""
    invite = await get_invite(session, code)
    if invite is None:
        return None, "unknown"
    if invite.used_by is not None or invite.used_at is not None:
        if not demote or invite.used_by is None:
            return invite, "used"
        person = Person.__table__
        held = [person.c.id == invite.used_by, person.c.role == invite.role]
        if invite.role == "cadre":
            held.append(person.c.township_id == invite.township_id)
        taken = await session.execute(sa.update(person).where(*held).values(role="resident", township_id=None))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return invite, "used"
        if invite.revoked_at is None:
            invite.revoked_at = now
        # the invites they made and kept unused would give a role back (theirs, or a cadre's)
        for made in await open_invites_made_by(session, invite.used_by, now):
            made.revoked_at = now
        # their chat's command menu is still the cadre's or the organizer's: the scheduler sets it
        # back (a demotion is mostly made from the command line, with no bot at hand)
        await outbox.reset_menu(session, invite.used_by, now)
        await session.flush()
        return invite, "demoted"
    if invite.revoked_at is not None:
        return invite, "revoked"
    invite.revoked_at = now
    await session.flush()
    return invite, "ok"
