"""The outbox: broadcasts a person started, kept until they are done.

An organizer's /announce, the cadres told of a moved deadline and the township's people
told what changed in a published list are sent in the background of the bot process that
took the press (or of `qingdan lists publish`). A stop (a restart, an upgrade) or a
crash in the middle used to leave the rest of the recipients without the message, silently:
the text lived only in that process. The handler now writes an `Outbox` row (what to send,
whom to tell how it went) and a pending Delivery row per recipient in its own transaction, so it is there as soon as the
organizer is told "sending". The process sending it holds a lease (`LEASE`, renewed while
it sends); the scheduler's sync job takes up a row whose lease ran out and that is not done
(`take_stale`) and sends it again under the same key — the Delivery rows of the key make
that resume skip everyone already sent (bot.broadcaster). The first to finish it (`finish`)
tells the organizer, once.

A demotion (`invites revoke --demote`, often from the command line, outside any bot
process) keeps a "menu" row too (`reset_menu`): no message, but the person's own command
menu to set back for their role now. The command sets it at once itself when it has the
bot's token and deletes the row; otherwise (or Telegram failing) the scheduler's sync job
does it (it holds the bot) and then deletes the row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BLOCKED, FAILED, PENDING, REFUSED, SENT, TODO, Delivery, Outbox, Person
from storage.sql import upsert

LEASE = timedelta(minutes=2)

_outbox: sa.Table = Outbox.__table__  # type: ignore[assignment]
_delivery: sa.Table = Delivery.__table__  # type: ignore[assignment]
_person: sa.Table = Person.__table__  # type: ignore[assignment]


async def put(session: AsyncSession, key: str, kind: str, payload: dict[str, Any], recipients: list[int],
              now: datetime) -> None:
    """Keep a broadcast to send (leased to the caller's process), and a pending Delivery row
    for each recipient (but those who blocked the bot, as bot.broadcaster does): the rows are
    who it goes to, so a person who erases their data meanwhile (/delete_me) is not sent it.
    The same key again is sent again under it: those already sent get nothing new (each
    confirmed deadline move has a key of its own, so a move back is told again)."""
    await upsert(session, _outbox, {"key": key, "kind": kind, "payload": payload, "created_at": now,
                                    "lease_until": now + LEASE, "done_at": None},
                 keys=("key",), update=("kind", "payload", "lease_until", "done_at"))
    inactive = set((await session.scalars(sa.select(_person.c.id).where(_person.c.active.is_(False)))).all())
    todo = [pid for pid in dict.fromkeys(recipients) if pid not in inactive]
    for i in range(0, len(todo), 5000):
        await upsert(session, _delivery, [{"broadcast_key": key, "person_id": pid, "status": PENDING, "attempts": 0,
                                           "created_at": now} for pid in todo[i:i + 5000]],
                     keys=("broadcast_key", "person_id"))


MENU = "menu"


def menu_key(person_id: int) -> str:
    return f"{MENU}:{person_id}"


def menu_person(key: str) -> int | None:
    """The person whose menu a "menu" row resets (None: another kind of row)."""
    kind, _, person = key.partition(":")
    return int(person) if kind == MENU and person.lstrip("-").isdigit() else None


async def reset_menu(session: AsyncSession, person_id: int, now: datetime) -> None:
    """Have the person's own command menu set back to their role's (they were demoted): due at
    once, so the next sync of whichever process runs the scheduler takes it (`take_stale`)."""
    await upsert(session, _outbox, {"key": menu_key(person_id), "kind": MENU, "payload": {}, "created_at": now,
                                    "lease_until": now, "done_at": None},
                 keys=("key",), update=("lease_until", "done_at"))


async def drop(session: AsyncSession, key: str) -> None:
    """Delete a row done with (a menu set: nothing of it is worth keeping, nor the person's id)."""
    await session.execute(sa.delete(_outbox).where(_outbox.c.key == key))


async def recipients(session: AsyncSession, key: str) -> list[int]:
    """Those the broadcast has still to reach."""
    return list((await session.scalars(sa.select(_delivery.c.person_id).where(
        _delivery.c.broadcast_key == key, _delivery.c.status.in_(TODO)).order_by(_delivery.c.id))).all())


async def renew(session: AsyncSession, key: str, now: datetime) -> None:
    await session.execute(sa.update(_outbox).where(_outbox.c.key == key, _outbox.c.done_at.is_(None))
                          .values(lease_until=now + LEASE))


async def take_stale(session: AsyncSession, now: datetime) -> list[str]:
    """The broadcasts not done whose sender stopped renewing their lease, leased now to the
    caller (a row another process takes at the same moment is left to it)."""
    keys = (await session.scalars(sa.select(_outbox.c.key).where(
        _outbox.c.done_at.is_(None), _outbox.c.lease_until <= now).order_by(_outbox.c.created_at))).all()
    taken = []
    for key in keys:
        result = await session.execute(
            sa.update(_outbox).where(_outbox.c.key == key, _outbox.c.done_at.is_(None), _outbox.c.lease_until <= now)
            .values(lease_until=now + LEASE))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            taken.append(key)
    return taken


async def finish(session: AsyncSession, key: str, now: datetime) -> bool:
    """Mark it done; True for the one call that did (it tells the organizer)."""
    result = await session.execute(sa.update(_outbox).where(_outbox.c.key == key, _outbox.c.done_at.is_(None))
                                   .values(done_at=now))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def totals(session: AsyncSession, key: str) -> dict[str, int]:
    """How the broadcast went, over all its runs: sent, blocked, failed (refused included)."""
    rows = (await session.execute(sa.select(_delivery.c.status, sa.func.count()).where(
        _delivery.c.broadcast_key == key).group_by(_delivery.c.status))).all()
    counts = {str(status): int(n) for status, n in rows}
    return {"sent": counts.get(SENT, 0), "blocked": counts.get(BLOCKED, 0),
            "failed": counts.get(FAILED, 0) + counts.get(REFUSED, 0)}


async def forget_person(session: AsyncSession, person_id: int) -> None:
    """A person erased their data (/delete_me): the broadcasts they started keep no id of theirs
    — the note of how it went, which would go to their chat, is dropped (the broadcast itself
    still reaches its recipients); a menu reset still due for them goes (/delete_me resets it)."""
    await drop(session, menu_key(person_id))
    rows = (await session.execute(sa.select(_outbox.c.key, _outbox.c.payload).where(
        sa.cast(_outbox.c.payload, sa.Text).contains(str(person_id))))).all()  # (candidates, checked below)
    for key, payload in rows:
        if not isinstance(payload, dict):
            continue
        note = payload.get("note")
        kept = {k: [x for x in v if x != person_id] if isinstance(v, list) else v  # ("changes": staff, silent)
                for k, v in payload.items() if not (k == "note" and isinstance(note, dict) and note.get("chat") == person_id)}
        if kept != payload:
            await session.execute(sa.update(_outbox).where(_outbox.c.key == key).values(payload=kept))
