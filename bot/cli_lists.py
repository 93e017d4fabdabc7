"""`qingdan lists …`: lint, import, show, diff, delete and publish duty lists."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bot.config import get_settings
from bot.texts import gettext
from surveys.duty_list import PART_ORDER, DutyItem, Part
from surveys.problems import tally

app = typer.Typer(help="Duty lists: lint, import, show, diff, delete, publish.\n\n"
                       "Exit codes, the same for each of them: 0 done (warnings allowed); 1 refused: errors in the "
                       "file, a list, township or consultation not found, or not confirmed; 2 wrong usage, a "
                       "setting missing (publish without BOT_TOKEN), or a file that cannot be read at all.", no_args_is_help=True)


def _locale() -> str:
    return get_settings().locale


def _read(path: Path):
    from surveys.importer import read_duty_list

    return read_duty_list(path, filename=path.name, locale=_locale())


def _lint_all(path: Path):
    """Import problems and, when the file could be read, lint problems."""
    from surveys.lint import check_file

    return check_file(path, filename=path.name)


def _counts(items: list[DutyItem]) -> dict[str, int]:
    return {p.value: sum(1 for i in items if i.part == p) for p in PART_ORDER}


#: Import errors that mean the file itself could not be read, as against errors in its rows or sheets
_UNREADABLE_RULES = frozenset({
    "import.empty-file", "import.not-a-table", "import.word-document", "import.xls-corrupt",
    "import.wps-et", "import.encrypted-workbook",
    "import.corrupt-file", "import.unreadable", "import.file-too-large", "import.internal", "import.sheet-too-big",
    "import.workbook-too-complex", "import.csv-too-big", "import.csv-malformed", "import.unknown-encoding",
    "import.too-many-rows", "import.zip-bomb",
})


def _unreadable(result) -> bool:
    """Nothing could be read at all (not a workbook, empty, wrong encoding…): exit 2, where a file
    read with errors in its rows (an Excel error, a row of no known part) is exit 1."""
    return any(p.is_error and p.rule in _UNREADABLE_RULES for p in result.problems)


@app.command("lint")
def lint_cmd(file: Path = typer.Argument(..., help="The draft list: an Excel (.xlsx or .xls) or CSV file."),
             as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Check a draft list. Exit 0: no errors (warnings allowed); 1: errors; 2: unreadable."""
    loc = _locale()
    if not file.exists():
        typer.echo(gettext("cli.file-missing", loc, file=str(file)), err=True)
        raise typer.Exit(2)
    result, problems = _lint_all(file)
    if as_json:
        typer.echo(json.dumps({"items": _counts(result.items), "problems": [p.to_json(loc) for p in problems]},
                              ensure_ascii=False, indent=2))
    else:
        if result.items or not any(p.is_error for p in problems):  # not "共 0 项" for a file refused
            _print_summary(result.items, loc)
        for p in problems:
            typer.echo(p.render(loc))
        errors, warnings = tally(problems)  # those summarised in one line too
        typer.echo(gettext("cli.lint-total", loc, errors=errors, warnings=warnings))
    if _unreadable(result):
        raise typer.Exit(2)
    raise typer.Exit(1 if any(p.is_error for p in problems) else 0)


def _print_summary(items: list[DutyItem], loc: str) -> None:
    counts = _counts(items)
    typer.echo(gettext("cli.summary", loc, basic=counts["basic"], cooperating=counts["cooperating"],
                       withdrawn=counts["withdrawn"], total=len(items)))


@app.command("import")
def import_cmd(file: Path = typer.Argument(..., help="The draft list: an Excel (.xlsx or .xls) or CSV file."),
               township: str = typer.Option(..., help="The township the list belongs to."),
               version: str | None = typer.Option(None, help="Version label (default: the next number).")) -> None:
    """Lint and store a draft list; a file with errors, or the same as the township's newest version,
    stores nothing."""
    from bot.db import ensure_schema, run_async
    from storage.lists import township_name

    loc = _locale()
    if not file.exists():
        typer.echo(gettext("cli.file-missing", loc, file=str(file)), err=True)
        raise typer.Exit(2)
    if not township_name(township) or (version is not None and not version.strip()):
        typer.echo(gettext("cli.empty-name", loc), err=True)
        raise typer.Exit(2)
    if len(township_name(township)) > 200 or (version is not None and len(version) > 50):  # the columns' sizes
        typer.echo(gettext("cli.name-too-long", loc), err=True)
        raise typer.Exit(2)
    township = township_name(township)
    version = version.strip() if version is not None else None  # as the chat's caption: " 2 " is "2"
    result, problems = _lint_all(file)
    for p in problems:
        typer.echo(p.render(loc))
    if any(p.is_error for p in problems):
        typer.echo(gettext("cli.import-refused", loc), err=True)
        raise typer.Exit(2 if _unreadable(result) else 1)
    ensure_schema()
    row = run_async(_store(result.items, township, version, file.name))
    if row is None:
        typer.echo(gettext("cli.version-exists", loc, township=township, version=version), err=True)
        raise typer.Exit(1)
    if isinstance(row, str):  # as in the chat: the file is the township's newest version again
        typer.echo(gettext("cli.import-same", loc, township=township, version=row), err=True)
        raise typer.Exit(1)
    _print_summary(result.items, loc)
    typer.echo(gettext("cli.imported", loc, township=township, version=row[1], list_id=row[0]))
    if row[2]:  # a township made by this import beside others: a typo in --township would make one too
        typer.echo(gettext("cli.imported-new-township", loc, township=township, version=row[1],
                           others=gettext("report.list-sep", loc).join(row[2])))


async def _store(items, township, version, source):
    """(list id, version, the other townships' names when this township is new, else None); the
    newest version's label when the file is that version again; None when the version exists."""
    from bot.db import database
    from storage.lists import VersionExists, find_list, get_township, load_list, save_list, townships

    async with database() as sessions, sessions() as session:
        newest = await find_list(session, township)
        if newest is not None and (await load_list(session, newest.id)).items == list(items):
            return newest.version  # stored already: nothing is imported (the chat's organizer.import-same)
        others = None if await get_township(session, township) else [t.name for t in await townships(session)]
        try:
            row = await save_list(session, township, items, version=version, source_file=source)
        except VersionExists:
            return None
        await session.commit()
        return row.id, row.version, others


@app.command("show")
def show_cmd(township: str | None = typer.Option(None, help="Only this township's lists."),
             part: Part | None = typer.Option(None, help="Only this part of each list."),
             version: str | None = typer.Option(None, help="This version of the township's list (with --township)."),
             every: bool = typer.Option(False, "--all", help="Every stored version (oldest first), with the "
                                                            "consultations on it; its items with --json only."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """Show stored lists (the newest version of each township unless --version or --all)."""
    from bot.db import ensure_schema, run_async

    if version is not None and not township:
        typer.echo(gettext("cli.version-needs-township", _locale()), err=True)
        raise typer.Exit(2)
    ensure_schema()
    lists = run_async(_load_lists(township, version, every and version is None))
    loc = _locale()
    if not lists and township:  # a township or version not stored: say which, not "nothing imported"
        ref = f"{township.strip()}@{version}" if version is not None else township.strip()
        typer.echo(gettext("cli.list-not-found", loc, ref=ref), err=True)
        raise typer.Exit(1)
    if as_json:
        out = []
        for list_id, dl, consulted_by in lists:
            items = [i for i in dl.items if part is None or i.part == part]
            out.append({"id": list_id, "township": dl.township, "version": dl.version, "status": dl.status.value,
                        "counts": dl.counts(), "consultations": [cid for cid, _ in consulted_by],
                        "items": [{"id": i.id, "part": i.part.value, **i.values()} for i in items]})
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not lists:
        typer.echo(gettext("cli.no-lists", loc))
    for list_id, dl, consulted_by in lists:
        typer.echo(gettext("cli.list-head", loc, list_id=list_id, township=dl.township, version=dl.version,
                           status=gettext(f"cli.list-status.{dl.status.value}", loc)))
        _print_summary(dl.items, loc)
        if consulted_by:
            typer.echo(gettext("cli.list-consulted-by", loc, consultations=gettext("report.list-sep", loc).join(
                gettext("cli.list-consultation", loc, id=cid, status=gettext(f"status.{status}", loc))
                for cid, status in consulted_by)))
        if every and version is None:  # an overview of the versions: one's items with --version
            continue
        for p in PART_ORDER:
            if part is not None and p != part:
                continue
            typer.echo(f"== {gettext(f'part.{p.value}', loc)}")
            for i in dl.part(p):
                category = f"[{i.category}] " if i.category else ""
                typer.echo(f"  {i.seq or '-':>4}  {category}{i.name}")


async def _load_lists(township: str | None, version: str | None, every: bool = False):
    """(list id, list, [(consultation id, status) of the consultations on it]) of each list shown."""
    from sqlalchemy import select

    from bot.db import database
    from storage.lists import find_list, list_rows, load_list
    from storage.models import Consultation, ConsultationTownship

    async with database() as sessions, sessions() as session:
        if version is not None and township:
            row = await find_list(session, township, version)
            rows = [row] if row else []
        elif every:
            rows = [row for row, _ in await list_rows(session, township)]
        else:
            newest: dict[str, object] = {}
            for row, name in await list_rows(session, township):
                newest[name] = row  # ordered by id: the last one is the newest
            rows = list(newest.values())
        out = []
        for r in rows:
            consulted_by = (await session.execute(
                select(Consultation.id, Consultation.status).join(
                    ConsultationTownship, ConsultationTownship.consultation_id == Consultation.id)
                .where(ConsultationTownship.list_id == r.id).order_by(Consultation.id))).all()
            out.append((r.id, await load_list(session, r.id), [(cid, status) for cid, status in consulted_by]))
        return out


def _items_of(ref: str) -> list[DutyItem]:
    """A file path, a stored list id, or TOWNSHIP@VERSION."""
    path = Path(ref)
    if path.exists():
        result = _read(path)
        if not result.ok:
            for p in result.problems:
                typer.echo(p.render(_locale()), err=True)
            raise typer.Exit(2 if _unreadable(result) else 1)  # as `lists lint` says of the same file
        return result.items
    from bot.db import ensure_schema, run_async

    ensure_schema()
    items = run_async(_stored_items(ref))
    if items is None:
        typer.echo(gettext("cli.list-not-found", _locale(), ref=ref), err=True)
        raise typer.Exit(1)  # as `lists show` and `lists delete` of a list not stored
    return items


async def _stored_items(ref: str) -> list[DutyItem] | None:
    from bot.db import database
    from storage.lists import find_list, load_list
    from storage.sql import as_id

    async with database() as sessions, sessions() as session:
        if as_id(ref) is not None:
            try:
                return (await load_list(session, int(ref))).items
            except LookupError:
                return None
        township, _, version = ref.partition("@")
        row = await find_list(session, township, version or None)
        return (await load_list(session, row.id)).items if row else None


@app.command("diff")
def diff_cmd(a: str = typer.Argument(..., help="File, list id, or TOWNSHIP@VERSION"),
             b: str = typer.Argument(..., help="File, list id, or TOWNSHIP@VERSION"),
             as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """What changed from list A to list B."""
    from surveys.diff import diff_lists

    d = diff_lists(_items_of(a), _items_of(b))
    if as_json:
        typer.echo(json.dumps(d.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(d.summary(_locale(), compared=(a, b)))  # (not "after the consultation": any two lists)


@app.command("delete")
def delete_cmd(township: str = typer.Option(..., help="The township whose list it is."),
               version: str = typer.Option(..., help="The version to delete."),
               yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking.")) -> None:
    """Delete a draft version imported by mistake (no consultation may use it), once confirmed."""
    from bot.db import ensure_schema, run_async

    loc = _locale()
    ensure_schema()
    found = run_async(_delete(township, version))
    if isinstance(found, str):
        typer.echo(found, err=True)
        raise typer.Exit(1)
    list_id, name, count = found
    try:
        confirmed = yes or typer.confirm(gettext("cli.delete-ask", loc, township=name, version=version,
                                                 list_id=list_id, n=count), default=False)
    except typer.Abort:  # no answer (stdin closed)
        confirmed = False
    if not confirmed:
        typer.echo(gettext("cli.delete-declined", loc), err=True)
        raise typer.Exit(1)
    done = run_async(_delete(township, version, confirmed=list_id))
    if isinstance(done, str):  # changed meanwhile (a consultation created on it…)
        typer.echo(done, err=True)
        raise typer.Exit(1)
    typer.echo(gettext("cli.deleted", loc, township=name, version=version, list_id=list_id))


async def _delete(township: str, version: str, confirmed: int | None = None) -> tuple[int, str, int] | str:
    """(list id, township, items) of the version that would be deleted, or why not; given
    the list id `confirmed` (that of the answer before), it is deleted."""
    from sqlalchemy import func, select

    from bot.db import database
    from storage.lists import delete_list, find_list, township_name, why_kept
    from storage.models import DutyItemRow

    loc = _locale()
    async with database() as sessions, sessions() as session:
        row = await find_list(session, township, version)
        if row is None or confirmed not in (None, row.id):
            return gettext("cli.list-not-found", loc, ref=f"{township_name(township)}@{version}")
        name = township_name(township)
        count = await session.scalar(select(func.count()).select_from(DutyItemRow).where(DutyItemRow.list_id == row.id))
        found = row.id, name, count or 0
        kept = await why_kept(session, row)
        if kept is not None and kept.consultations:
            key = "cli.delete-used" if len(kept.consultations) == 1 else "cli.delete-used-many"
            return gettext(key, loc, township=name, version=version, consultations=gettext(
                "report.list-sep", loc).join(gettext("cli.list-consultation", loc, id=cid,
                                                     status=gettext(f"status.{status}", loc))
                                             for cid, status in kept.consultations))
        if kept is not None:
            return gettext("cli.delete-not-draft", loc, township=name, version=version,
                           status=gettext(f"cli.list-status.{kept.status}", loc))
        if confirmed is not None:
            await delete_list(session, row)
            await session.commit()
        return found


@app.command("publish")
def publish_cmd(ref: str = typer.Argument(..., help="The revised list: a file, or a stored version of the township."),
                consultation: int = typer.Option(..., "--consultation", help="The consultation it answers."),
                township: str = typer.Option(..., help="The township whose list it is.")) -> None:
    """Publish a township's revised list after a consultation: the township's participants
    get what changed, and the consultation becomes “feedback given”."""
    from bot.db import ensure_schema, run_async

    loc = _locale()
    settings = get_settings()
    if not settings.bot_token:
        typer.echo(gettext("cli.publish-needs-token", loc), err=True)
        raise typer.Exit(2)
    path = Path(ref)
    items = None
    if path.exists():
        result, problems = _lint_all(path)
        for p in problems:
            typer.echo(p.render(loc))
        if any(p.is_error for p in problems):
            typer.echo(gettext("cli.import-refused", loc), err=True)
            raise typer.Exit(2 if _unreadable(result) else 1)
        items = result.items
    ensure_schema()
    code, message = run_async(_publish(consultation, township, ref, items, path.name if items is not None else ""))
    typer.echo(message, err=code != 0)
    raise typer.Exit(code)


async def _stored_since(session, township_id: int, consulted_id: int, items: list[DutyItem]):
    """A version of the township imported after the consulted one with exactly `items`."""
    from sqlalchemy import select

    from storage.lists import load_list
    from storage.models import DutyListRow

    for row in (await session.scalars(select(DutyListRow).where(
            DutyListRow.township_id == township_id, DutyListRow.id > consulted_id)
            .order_by(DutyListRow.id.desc()))).all():
        if (await load_list(session, row.id)).items == list(items):
            return row
    return None


async def _publish(consultation_id: int, township: str, ref: str, items: list[DutyItem] | None,
                   source: str) -> tuple[int, str]:
    """Store the revised list (from a file) or find the stored version, then publish it."""
    from bot.app import create_bot
    from bot.broadcaster import Broadcaster
    from bot.db import database
    from bot.scheduler import NotPublishable, Services, publish_changes, publish_refusal
    from storage.consultations import link_for_township
    from storage.lists import find_list, get_township, save_list
    from storage.models import Consultation
    from storage.sql import as_id, fits_id
    from surveys.consultation import Status

    settings = get_settings()
    loc = settings.locale
    async with database(settings) as sessions:
        async with sessions() as session:
            c = await session.get(Consultation, consultation_id) if fits_id(consultation_id) else None
            if c is None:
                return 1, gettext("scheduler.publish-no-consultation", loc, id=consultation_id)
            if c.status not in (Status.CLOSED.value, Status.REPORTED.value):
                return 1, gettext("scheduler.publish-not-closed", loc, id=consultation_id)
            town = await get_township(session, township)
            link = await link_for_township(session, consultation_id, town.id) if town and town.id else None
            if town is None or link is None:
                return 1, gettext("scheduler.publish-no-township", loc, id=consultation_id, township=township)
            if items is not None:  # the same file published again finds the version it stored
                row = await _stored_since(session, town.id, link.list_id, items) \
                    or await save_list(session, township, items, source_file=source)
            else:
                row = await find_list(session, township, ref)
                if row is None and as_id(ref) is not None:
                    from storage.models import DutyListRow

                    row = await session.get(DutyListRow, int(ref))
                    row = row if row is not None and row.township_id == town.id else None
                if row is None:
                    return 1, gettext("cli.list-not-found", loc, ref=ref)
            refusal = await publish_refusal(session, consultation_id, town.id, town.name, link.list_id, row, loc)
            if refusal is not None:
                return 1, refusal
            list_id, version, township_id = row.id, row.version, town.id
            await session.commit()
        bot = create_bot(settings)
        try:
            services = Services(bot, sessions, settings, Broadcaster(bot, sessions))
            try:  # (checked again as it publishes: another consultation may have moved meanwhile)
                result = await publish_changes(services, consultation_id, township_id, list_id, locale=loc)
            except NotPublishable as e:
                return 1, e.reason or gettext("scheduler.publish-not-closed", loc, id=consultation_id)
        finally:
            await bot.session.close()
    return 0, gettext("scheduler.publish-done", loc, township=township, version=version, list_id=list_id,
                      sent=result.sent, already=result.skipped_already_done, failed=result.failed + result.blocked,
                      id=consultation_id)
