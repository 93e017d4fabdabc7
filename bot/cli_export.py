"""`qingdan export ID --out FILE.xlsx` (the results workbook), `qingdan report ID
OUT_DIR` (workbook, charts and the draft 反馈情况说明) and `qingdan offlist --out
FILE.xlsx` (every off-list report, those of townships never consulted too): respondents
appear only under pseudonyms keyed with PSEUDONYM_KEY, times in TIMEZONE, texts in LOCALE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.config import get_settings
from bot.db import ensure_schema, run_async

if TYPE_CHECKING:  # the report code (and its xlsx writer) loads only when a command uses it
    from surveys.report import ConsultationData


async def _load(consultation_id: int) -> ConsultationData | None:
    from bot.db import database
    from storage.reports import load_consultation_data

    settings = get_settings()
    async with database() as sessions, sessions() as session:
        try:
            return await load_consultation_data(session, consultation_id, settings.pseudonym_key,
                                                settings.timezone)
        except LookupError:
            return None


def _data(consultation_id: int) -> ConsultationData:
    settings = get_settings()
    if settings.weak_pseudonyms:  # a warning: the files may be only for the organizer's own eyes
        from bot.texts import gettext

        typer.echo(gettext("cli.weak-pseudonym-key", settings.locale), err=True)
    ensure_schema()
    data = run_async(_load(consultation_id))
    if data is None:
        from bot.texts import gettext

        typer.echo(gettext("cli.consultation-not-found", get_settings().locale, id=consultation_id), err=True)
        raise typer.Exit(1)
    return data


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Around writing files under `path`: a place that cannot be written (a folder where a
    file is meant, a file where a folder is, no permission, a full disk) is named with the
    reason, exit 2, instead of a traceback."""
    try:
        yield
    except OSError as exc:
        from bot.texts import gettext

        typer.echo(gettext("cli.cannot-write", get_settings().locale, path=exc.filename or path,
                           reason=exc.strerror or exc), err=True)
        raise typer.Exit(2) from None


def export(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id."),
           out: Path = typer.Option(..., "--out", help="The .xlsx file to write.")) -> None:
    """Write the results workbook of a consultation."""
    from surveys.report import build_workbook

    data = _data(consultation_id)
    content = build_workbook(data, get_settings().locale)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    typer.echo(str(out))


def report(consultation_id: int = typer.Argument(..., metavar="ID", help="The consultation's id."),
           out_dir: Path = typer.Argument(..., metavar="OUT_DIR",
                                          help="The folder to write into (created if missing).")) -> None:
    from bot.scheduler import report_charts, shown_charts
    from bot.texts import gettext
    from surveys.report import build_workbook, feedback_file

    locale = get_settings().locale
    data = _data(consultation_id)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    charts, note = shown_charts(report_charts(data.questionnaire), data, locale)  # (none saying 暂无数据)
    written = {  # the final report's files, in its order (bot.scheduler.after_close)
        gettext("scheduler.file-workbook", locale, id=consultation_id): build_workbook(data, locale),
        **{chart.file_name(locale, consultation_id): chart.make(data, locale) for chart in charts},
        gettext("scheduler.file-feedback", locale, id=consultation_id): feedback_file(data, locale),
    }
    for name, content in written.items():
        with writing(out_dir / name):
            (out_dir / name).write_bytes(content)
        typer.echo(str(out_dir / name))
    if note:
        typer.echo(note, err=True)


def _report_help() -> str:
    """`report`'s help: the files' names come from the catalog in both languages (LOCALE picks one)."""
    from bot.texts import gettext

    def names(locale: str) -> str:
        return ", ".join(gettext(f"scheduler.file-{key}", locale, id="ID")
                         for key in ("workbook", "chart-completion", "chart-comments", "feedback"))

    return ("Write the workbook, the charts and the draft feedback report (反馈情况说明) of consultation ID "
            "into OUT_DIR, named as /export sends them in the language of LOCALE — zh_CN: "
            f"{names('zh_CN')}; en: {names('en')}; plus one chart per scale question.")


report.__doc__ = _report_help()


def offlist(out: Path = typer.Option(..., "--out", help="The .xlsx file to write."),
            township: str | None = typer.Option(None, help="Only this township's reports.")) -> None:
    """Write every off-list report (清单外事项) cadres filed, with the consultation each went
    with — a township never consulted has its reports only here."""
    from bot.texts import gettext
    from surveys.report import build_offlist_workbook

    settings = get_settings()
    if settings.weak_pseudonyms:
        typer.echo(gettext("cli.weak-pseudonym-key", settings.locale), err=True)
    ensure_schema()
    reports = run_async(_offlist(township.strip() if township is not None else None))
    if reports is None:
        typer.echo(gettext("cli.township-not-found", settings.locale, township=(township or "").strip()), err=True)
        raise typer.Exit(1)
    content = build_offlist_workbook(reports, settings.timezone, settings.locale)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    typer.echo(gettext("cli.offlist-written", settings.locale, n=len(reports), path=out))


async def _offlist(township: str | None):
    """The reports (of `township` when named); None for a township not stored."""
    from sqlalchemy import select

    from bot.db import database
    from storage.models import Township
    from storage.reports import offlist_records

    settings = get_settings()
    async with database() as sessions, sessions() as session:
        township_id = None
        if township is not None:
            township_id = await session.scalar(select(Township.id).where(Township.name == township))
            if township_id is None:
                return None
        return await offlist_records(session, settings.pseudonym_key, township_id)
