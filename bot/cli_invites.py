"""`qingdan invites …`: create single-use invite links for cadres (bound to one
township) or organizers, list them with their status, and revoke unused ones."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import typer

from bot.config import get_settings
from bot.db import ensure_schema, run_async
from bot.db import operator_text as _t
from surveys.consultation import format_local

app = typer.Typer(help="Invite links for cadres and organizers: create, list, revoke.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """"7d", "12h", "30m", "2w" → a timedelta; "0"/"never" → None (no expiry). Raises ValueError."""
    if text.strip().lower() in ("0", "never", "none"):
        return None
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(text)
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@app.command("create")
def create(township: str | None = typer.Option(None, help="The township the cadres belong to."),
           count: int = typer.Option(1, help="How many single-use links."),
           expires: str = typer.Option("7d", help='Validity: 7d, 12h, 30m, 2w, or "never".'),
           role: str = typer.Option("cadre", help="cadre or organizer.")) -> None:
    """Create invite links; prints one deep link per line."""
    from storage.invites import MAX_COUNT, ROLES

    if role not in ROLES:
        _fail(_t("invites.cli.bad-role"), 2)
    if role == "cadre" and not township:
        _fail(_t("invites.cli.township-required"), 2)
    if not 1 <= count <= MAX_COUNT:
        _fail(_t("invites.cli.bad-count", max=MAX_COUNT), 2)
    try:
        validity = parse_duration(expires)
    except ValueError:
        _fail(_t("invites.cli.bad-expires"), 2)
        return
    expires_at = datetime.now(UTC) + validity if validity else None
    ensure_schema()
    result = run_async(_create(township, role, count, expires_at))
    if result is None:
        _fail(_t("invites.cli.no-township", township=township))
        return
    username, codes = result
    from storage.invites import invite_link

    validity = _t("invites.cli.valid-until", expires=format_local(expires_at, get_settings().timezone)) \
        if expires_at else _t("invites.cli.valid-forever")
    typer.echo(_t("invites.cli.created", township=township or _t("invites.whole-county"), count=len(codes),
                  role=_t(f"invites.cli.role.{role}"), validity=validity), err=True)
    for code in codes:
        typer.echo(invite_link(username, code))


async def _create(township: str | None, role: str, count: int,
                  expires_at: datetime | None) -> tuple[str, list[str]] | None:
    from bot.cli_consultations import bot_username
    from bot.db import database
    from storage.invites import create_invites
    from storage.lists import get_township

    username = await bot_username()
    async with database() as sessions, sessions() as session:
        township_id = None
        if township:
            row = await get_township(session, township)
            if row is None:
                return None
            township_id = row.id
        created = await create_invites(session, township_id, role, count, expires_at, None)
        codes = [invite.code for invite in created]
        await session.commit()
        return username, codes


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
          township: str | None = typer.Option(None, help="Only this township's invites.")) -> None:
    """All invites, newest first, with their status."""
    ensure_schema()
    data = run_async(_list(township))
    if data is None:
        _fail(_t("invites.cli.no-township", township=township))
        return
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not data:
        typer.echo(_t("invites.cli.none"))
        return
    tz = get_settings().timezone
    for row in data:
        expires = format_local(datetime.fromisoformat(row["expires_at"]), tz) if row["expires_at"] \
            else _t("invites.cli.no-expiry")
        typer.echo(f"{row['code']}\t{_t('invites.cli.role.' + row['role'])}\t{row['township'] or '—'}\t"
                   f"{_t('invites.cli.status.' + row['status'])}\t{expires}\t{row['url']}")


async def _list(township: str | None) -> list[dict] | None:
    """The invites (of the township, when named), or None when no township has that name."""
    from bot.cli_consultations import bot_username
    from bot.db import database
    from storage.invites import invite_link, invite_status, list_invites
    from storage.lists import get_township

    username = await bot_username()
    now = datetime.now(UTC)
    async with database() as sessions, sessions() as session:
        township_id = None
        if township:
            row = await get_township(session, township)
            if row is None:
                return None
            township_id = row.id
        return [{
            "code": invite.code, "role": invite.role, "township": name, "status": invite_status(invite, now),
            "created_at": invite.created_at.isoformat(),
            "expires_at": invite.expires_at.isoformat() if invite.expires_at else None,
            "used_by": invite.used_by, "used_at": invite.used_at.isoformat() if invite.used_at else None,
            "url": invite_link(username, invite.code),
        } for invite, name in await list_invites(session, township_id)]


@app.command("revoke")
def revoke(code: str = typer.Argument(..., help="The code (or the whole inv_… payload)."),
           demote: bool = typer.Option(False, "--demote",
                                       help="For a used invite: take back the role it gave (a cadre who left, "
                                            "an organizer no longer in charge); they become a resident.")) -> None:
    """Revoke an unused invite so that its link no longer works (with --demote, a used one too)."""
    ensure_schema()
    reason, person, made = run_async(_revoke(code, demote))
    messages = {"ok": "invites.cli.revoked", "unknown": "invites.cli.revoke-unknown",
                "used": "invites.cli.revoke-used-demote" if demote else "invites.cli.revoke-used",
                "revoked": "invites.cli.revoke-again", "demoted": "invites.cli.revoke-demoted"}
    text = _t(messages[reason], code=code, person=person)
    if reason == "demoted" and made:
        text += "\n" + _t("invites.cli.revoke-demoted-made", n=made)
    if reason == "demoted":
        reset = person is not None and run_async(_reset_menu_now(person))
        text += "\n" + _t("invites.cli.revoke-demoted-menu-done" if reset else "invites.cli.revoke-demoted-menu")
    if reason in ("ok", "revoked", "demoted"):
        typer.echo(text)
        return
    _fail(text)


async def _revoke(code: str, demote: bool) -> tuple[str, int | None, int]:
    """The outcome, the invite's user, and how many unused invites they made were revoked with them."""
    from bot.db import database
    from storage.invites import get_invite, open_invites_made_by
    from storage.invites import revoke as revoke_invite

    now = datetime.now(UTC)
    async with database() as sessions, sessions() as session:
        found = await get_invite(session, code)
        made = await open_invites_made_by(session, found.used_by, now) if demote and found and found.used_by else []
        invite, reason = await revoke_invite(session, code, now, demote=demote)
        await session.commit()
        return reason, invite.used_by if invite else None, len(made) if reason == "demoted" else 0


MENU_RESET_TIMEOUT = 20.0  # seconds: Telegram slow or away, the scheduler's sync does it later


async def _reset_menu_now(person_id: int) -> bool:
    """The demoted person's chat command menu set back right away, through the Bot API (BOT_TOKEN):
    without it the menu waited for a running scheduler's sync — and stayed a cadre's or an
    organizer's when none ran. False (the outbox row left to that sync) with no token, or when
    Telegram did not take it."""
    import asyncio

    settings = get_settings()
    if not settings.bot_token:
        return False
    from bot.app import create_bot
    from bot.broadcaster import Broadcaster
    from bot.db import database
    from bot.scheduler import Services, reset_menu
    from storage.outbox import menu_key

    bot = create_bot(settings)
    try:
        async with database(settings) as sessions:
            services = Services(bot, sessions, settings, Broadcaster(bot, sessions))
            return await asyncio.wait_for(reset_menu(services, menu_key(person_id), person_id), MENU_RESET_TIMEOUT)
    except TimeoutError:
        return False
    finally:
        await bot.session.close()
