"""`qingdan consultations …` and `qingdan links ID`: create, open, close and list
consultations, move a deadline; print their deep links and write a QR code per township."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.config import get_settings
from bot.db import ensure_schema, run_async
from bot.db import operator_text as _t
from surveys.consultation import (
    DeadlinePassed,
    DeadlineRefused,
    ListConflict,
    NoSuchDay,
    Status,
    TimePassed,
    TransitionError,
    bad_date_examples,
    deadline_weekday,
    deep_link,
    format_deadline,
    format_local,
    parse_local,
)
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH as DEFAULT_QUESTIONNAIRE

app = typer.Typer(help="Consultations: create, open, close, move a deadline, list.", no_args_is_help=True)


async def bot_username() -> str:
    """BOT_USERNAME, or the Bot API's answer to getMe. Without either the links would
    lead nowhere: the command stops and says what to set."""
    settings = get_settings()
    if settings.bot_username:
        return settings.bot_username
    if settings.bot_token:
        from aiogram.exceptions import TelegramAPIError

        from bot.app import create_bot

        bot = create_bot(settings)
        try:
            username = (await bot.me()).username or ""
        except TelegramAPIError as exc:
            typer.echo(_t("cli.bot-username-unknown", error=str(exc)[:200]), err=True)
            raise typer.Exit(2) from None
        finally:
            await bot.session.close()
        if username:
            return username
    typer.echo(_t("cli.bot-username-unknown", error="BOT_USERNAME, BOT_TOKEN"), err=True)
    raise typer.Exit(2)


@app.command("create")
def create(title: str = typer.Option(..., help="The title residents and cadres see."),
           township: list[str] = typer.Option(..., help="Repeat for each township, or separate them with commas."),
           closes: str = typer.Option(..., help='Deadline, e.g. "2026-12-10 18:00" (TIMEZONE).'),
           opens: str | None = typer.Option(None, help="When answers open (default: when opened)."),
           questionnaire: Path | None = typer.Option(None, help="YAML file (default: the shipped residents' one)."),
           intro: str = typer.Option("", help="A short introduction shown on the welcome message.")) -> None:
    """Create a draft consultation on the newest stored list of each township."""
    from bot.texts import zone_name
    from storage.consultations import MAX_TITLE
    from surveys.questionnaire import load_questionnaire

    settings = get_settings()
    title = title.strip()
    if not title or len(title) > MAX_TITLE:  # as the bot's /new
        typer.echo(_t("cli.title-bad", max=MAX_TITLE), err=True)
        raise typer.Exit(2)
    if questionnaire is None:
        questionnaire = DEFAULT_QUESTIONNAIRE
    from bot.cli_questionnaire import read_questionnaire_file

    text = read_questionnaire_file(questionnaire, settings.locale)
    parsed, problems = load_questionnaire(text, filename=questionnaire.name)
    if parsed is None:
        for p in problems:
            label = _t(f"severity.{p.severity.value}")  # (as `qingdan questionnaire check` says it)
            typer.echo(f"{questionnaire.name}:{p.line or 0}: [{label}] {p.message(settings.locale)}", err=True)
        raise typer.Exit(1)
    try:
        closes_at = parse_local(closes, settings.timezone, end_of_day=True, now=datetime.now(UTC))
        opens_at = parse_local(opens, settings.timezone, now=datetime.now(UTC)) if opens else None
    except ValueError as e:
        typer.echo(e.text(settings.locale) if isinstance(e, (NoSuchDay, TimePassed))
                   else _t("cli.bad-date", **bad_date_examples(datetime.now(UTC), settings.timezone, settings.locale)), err=True)
        raise typer.Exit(2) from None
    if closes_at <= datetime.now(UTC) or (opens_at is not None and opens_at >= closes_at):
        typer.echo(_t("cli.closes-past", when=format_deadline(closes_at, settings.timezone))
                   if closes_at <= datetime.now(UTC) else _t("cli.opens-after-closes"), err=True)
        raise typer.Exit(2)
    ensure_schema()
    from storage.lists import township_name

    # a township named twice: consulted once; "青山镇,绿水乡" (or 、，) in one option: two townships
    townships = list(dict.fromkeys(township_name(name) for t in township for name in re.split(r"[,，、]", t)
                                   if township_name(name)))
    if not townships:
        typer.echo(_t("cli.empty-name"), err=True)
        raise typer.Exit(2)
    result = run_async(_create(title, intro, text, townships, opens_at, closes_at))
    if isinstance(result, tuple):
        missing, close = result
        typer.echo(_t("cli.township-no-list", township=missing), err=True)
        if close:  # "青山" for 青山镇: as the chat's import step, the township meant is named
            typer.echo(_t("cli.township-close", township=missing, close=close), err=True)
        raise typer.Exit(1)
    typer.echo(_t("cli.consultation-created", id=result, closes=format_deadline(closes_at, settings.timezone),
                  weekday=deadline_weekday(closes_at, settings.timezone, settings.locale),
                  zone=zone_name(settings.timezone, settings.locale)))


async def _create(title, intro, text, townships, opens_at, closes_at):
    """The new consultation's id, or (the township without a list, a close name that has one or "")."""
    import difflib

    from bot.db import database
    from storage.consultations import create_consultation
    from storage.lists import find_list
    from storage.lists import townships as all_townships

    async with database() as sessions, sessions() as session:
        list_ids = []
        for name in townships:
            row = await find_list(session, name)
            if row is None:
                known = [t.name for t in await all_townships(session) if t.name != name]
                for close in difflib.get_close_matches(name, known, n=3, cutoff=0.6):
                    if await find_list(session, close) is not None:
                        return name, close
                return name, ""
            list_ids.append(row.id)
        c = await create_consultation(session, title=title, intro=intro, questionnaire=text, closes_at=closes_at,
                                      opens_at=opens_at, list_ids=list_ids)
        await session.commit()
        return c.id


def _transition(consultation_id: int, target: Status) -> None:
    ensure_schema()
    error, opens_at = run_async(_set_status(consultation_id, target))
    if error:
        typer.echo(error, err=True)
        raise typer.Exit(1)
    if target == Status.OPEN and opens_at is not None and opens_at > datetime.now(UTC):  # as the bot's /open
        typer.echo(_t("cli.consultation-open-later", id=consultation_id,
                      opens=format_local(opens_at, get_settings().timezone)))
        return
    typer.echo(_t(f"cli.consultation-{target.value}", id=consultation_id))


async def _set_status(consultation_id: int, target: Status) -> tuple[str | None, datetime | None]:
    """(why the change was refused, or None; the consultation's opening time)."""
    from bot.db import database
    from storage.consultations import set_status
    from storage.models import Consultation
    from storage.sql import fits_id

    async with database() as sessions, sessions() as session:
        c = await session.get(Consultation, consultation_id) if fits_id(consultation_id) else None
        if c is None:
            return _t("cli.consultation-not-found", id=consultation_id), None
        try:
            await set_status(session, c, target)
        except DeadlinePassed:  # as the bot's /open
            return _t("cli.deadline-passed", id=consultation_id), None
        except ListConflict as e:
            return e.text(get_settings().locale), None
        except TransitionError as e:
            if e.current == e.target:  # as the bot's /open and /close
                return _t("cli.already", id=consultation_id, status=_t(f"status.{e.current.value}")), None
            return _t("cli.bad-transition", current=_t(f"status.{e.current.value}"),
                      target=_t(f"status.{e.target.value}")), None
        opens_at = c.opens_at
        if target == Status.CLOSED and c.closes_at > datetime.now(UTC):  # (early: as the chat's /close)
            await _note_organizers_closed(session, c)
        await session.commit()
    return None, opens_at


async def _note_organizers_closed(session, c) -> None:  # type: ignore[no-untyped-def]
    """The organizers told, as the chat's /close tells the others, that the command line closed
    it and when: kept in the outbox, due at once (the scheduler's next sync sends it)."""
    import html

    from storage import outbox
    from storage.people import organizers

    settings = get_settings()
    now = datetime.now(UTC)
    to = await organizers(session, settings.organizer_ids)
    if not to:
        return
    key = f"closed:{c.id}:{int(now.timestamp())}:organizers"
    await outbox.put(session, key, "note", {"msgid": "organizer.closed-by-cli", "at": now.isoformat(),
                                            "tz": settings.timezone, "locale": settings.locale,
                                            "args": {"id": c.id, "title": html.escape(c.title)}}, to, now)
    await outbox.renew(session, key, now - outbox.LEASE)


@app.command("open")
def open_(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id.")) -> None:
    """Open a consultation for answers and comments."""
    _transition(consultation_id, Status.OPEN)


@app.command("close")
def close(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id."),
          yes: bool = typer.Option(False, "--yes", "-y", help="Before the deadline: close it without asking.")) -> None:
    """Close a consultation now: the participants are thanked and the final report goes out,
    which reopening it does not undo. Before its deadline, once confirmed (or with --yes)."""
    ensure_schema()
    seen = None if yes else run_async(_read(consultation_id))
    if seen is not None and seen[0] == Status.OPEN.value and seen[2] > datetime.now(UTC):  # as the chat's /close
        tz = get_settings().timezone
        typer.echo(_t("cli.close-explain", id=consultation_id, closes=format_deadline(seen[2], tz)))
        try:
            confirmed = typer.confirm(_t("cli.close-ask", id=consultation_id), default=False)
        except typer.Abort:  # no answer (stdin closed)
            confirmed = False
        if not confirmed:
            typer.echo(_t("cli.close-declined", id=consultation_id), err=True)
            raise typer.Exit(1)
    _transition(consultation_id, Status.CLOSED)


@app.command("deadline")
def deadline(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id."),
             closes: str = typer.Option(..., help='The new deadline, e.g. "2026-12-20 18:00" (TIMEZONE); '
                                                  'a date alone means 23:59 that day.'),
             yes: bool = typer.Option(False, "--yes", "-y", help="A closed consultation: extend and reopen it "
                                                                 "without asking.")) -> None:
    """Move a draft's or an open consultation's deadline (earlier or later); the scheduler's
    reminders and close follow it. A closed consultation's new deadline extends and reopens
    it, once confirmed (or with --yes); once its revised list is published (“feedback given”)
    it cannot change."""
    from surveys.consultation import check_new_deadline, ended_at

    settings = get_settings()
    tz = settings.timezone
    try:
        closes_at = parse_local(closes, tz, end_of_day=True, now=datetime.now(UTC))
    except ValueError as e:
        typer.echo(e.text(settings.locale) if isinstance(e, (NoSuchDay, TimePassed))
                   else _t("cli.bad-date", **bad_date_examples(datetime.now(UTC), tz, settings.locale)), err=True)
        raise typer.Exit(2) from None
    ensure_schema()
    seen = run_async(_read(consultation_id))
    if seen is None:
        typer.echo(_t("cli.consultation-not-found", id=consultation_id), err=True)
        raise typer.Exit(1)
    status, opens_at, old, closed_at, superseded, conflict = seen
    reopen = status == Status.CLOSED.value
    try:  # refused before anything is asked
        check_new_deadline(consultation_id, status, opens_at, old, closes_at, datetime.now(UTC), reopen)
        if reopen and superseded:  # (as storage.consultations.check_reopenable)
            raise DeadlineRefused("superseded", consultation_id, status, opens_at, old, superseded)
        if reopen and conflict is not None:
            raise conflict
    except DeadlineRefused as e:
        typer.echo(e.text(settings.locale, tz), err=True)
        raise typer.Exit(1) from None
    except ListConflict as e:
        typer.echo(e.text(settings.locale), err=True)
        raise typer.Exit(1) from None
    if reopen:
        typer.echo(_t("cli.reopen-explain", id=consultation_id, ended=format_deadline(ended_at(old, closed_at), tz),
                      old=format_deadline(old, tz), new=format_deadline(closes_at, tz),
                      weekday=deadline_weekday(closes_at, tz, settings.locale)))
        try:
            confirmed = yes or typer.confirm(_t("cli.reopen-ask", id=consultation_id), default=False)
        except typer.Abort:  # no answer (stdin closed)
            confirmed = False
        if not confirmed:
            typer.echo(_t("cli.reopen-declined", id=consultation_id), err=True)
            raise typer.Exit(1)
    error = run_async(_set_deadline(consultation_id, closes_at, old, reopen))
    if error:
        typer.echo(error, err=True)
        raise typer.Exit(1)
    typer.echo(_t("cli.reopened" if reopen else "cli.deadline-moved", id=consultation_id,
                  old=format_deadline(old, tz), new=format_deadline(closes_at, tz),
                  weekday=deadline_weekday(closes_at, tz, settings.locale)))


async def _read(consultation_id: int) -> tuple[str, datetime | None, datetime, datetime | None, list[str],
                                               ListConflict | None] | None:
    """(status, opening time, deadline, early close, townships with a newer list published since,
    why it could not open now — storage.consultations.check_openable) of the consultation, or None."""
    from bot.db import database
    from storage.consultations import check_openable, superseded_townships
    from storage.models import Consultation
    from storage.sql import fits_id

    async with database() as sessions, sessions() as session:
        c = await session.get(Consultation, consultation_id) if fits_id(consultation_id) else None
        if c is None:
            return None
        try:
            await check_openable(session, c)
            conflict = None
        except ListConflict as e:
            conflict = e
        return (c.status, c.opens_at, c.closes_at, c.closed_at, await superseded_townships(session, consultation_id),
                conflict)


async def _set_deadline(consultation_id: int, closes_at: datetime, expected: datetime, reopen: bool) -> str | None:
    """Why the change was refused, or None. It is made only if the consultation still has the
    deadline shown (`expected`) and, with `reopen`, is still closed. The bot's processes see the
    new one within seconds (their cached copies expire), the scheduler moves its close — or,
    reopened, schedules its jobs again — within a minute."""
    from bot.db import database
    from storage.consultations import DeadlineMoved, set_deadline
    from storage.models import Consultation

    settings = get_settings()
    async with database() as sessions, sessions() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None:
            return _t("cli.consultation-not-found", id=consultation_id)
        try:
            await set_deadline(session, c, closes_at, expected=expected, reopen=reopen)
        except DeadlineRefused as e:  # as the bot's /deadline
            return e.text(settings.locale, settings.timezone)
        except ListConflict as e:
            return e.text(settings.locale)
        except DeadlineMoved as e:  # another change committed between the read and the write
            return _t("cli.deadline-moved-meanwhile", id=consultation_id,
                      closes=format_deadline(e.closes_at, settings.timezone))
        await session.commit()
    return None


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """All consultations with their links."""
    ensure_schema()
    data = run_async(_list())
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    tz = get_settings().timezone
    for c in data:
        typer.echo(f"#{c['id']} [{_t('status.' + c['status'])}] {c['title']} — "
                   f"{_t('cli.closes', when=format_deadline(_parse(c['closes_at']), tz))}")
        for link in c["links"]:
            typer.echo("    " + _t("cli.township-version", township=link["township"], version=link["version"],
                                       url=link["url"]))  # (Chinese puts a full-width colon after its ）)


def _parse(iso: str | None):
    from datetime import datetime

    return datetime.fromisoformat(iso) if iso else None


async def _list() -> list[dict]:
    from bot.db import database
    from storage.consultations import all_consultations, links
    from storage.models import DutyListRow

    username = await bot_username()
    async with database() as sessions, sessions() as session:
        out = []
        for c in await all_consultations(session):
            township_links = []
            for link in await links(session, c.id):
                row = await session.get(DutyListRow, link.list_id)  # the list version consulted on
                township_links.append({"township": link.township, "version": row.version if row else None,
                                       "code": link.code, "url": deep_link(username, link.code)})
            out.append({
                "id": c.id, "title": c.title, "status": c.status,
                "opens_at": c.opens_at.isoformat() if c.opens_at else None,
                "closes_at": c.closes_at.isoformat(),
                "links": township_links,
            })
        return out


def links_command(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id."),
                  out: Path = typer.Option(Path("qr"), help="Folder for the QR code PNGs.")) -> None:
    """Print each township's deep link and write its QR code (PNG) for posters."""
    import segno

    ensure_schema()
    data = [c for c in run_async(_list()) if c["id"] == consultation_id]
    if not data:
        typer.echo(_t("cli.consultation-not-found", id=consultation_id), err=True)
        raise typer.Exit(1)
    if data[0]["status"] not in (Status.DRAFT.value, Status.OPEN.value):  # as the chat's /links: no poster
        typer.echo(_t("cli.links-ended", id=consultation_id, status=_t("status." + data[0]["status"])), err=True)
        raise typer.Exit(1)
    from bot.cli_export import writing

    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    for link in data[0]["links"]:
        # the township in the name: a folder of posters is sorted out by it, not by the random codes
        township = re.sub(r'[\\/:*?"<>|\s\x00-\x1f]+', "_", link["township"]).strip("._")[:60]
        path = out / _t("cli.qr-file", id=consultation_id, township=township, code=link["code"])  # in LOCALE
        with writing(path):
            segno.make(link["url"], error="m").save(str(path), scale=10, border=4)
        typer.echo(f"{link['township']}\t{link['url']}\t{path}")
