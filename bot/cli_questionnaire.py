"""`qingdan questionnaire …`: commands for organizers' questionnaire files.

`check FILE` prints every problem as "file:line: [error] message" and exits 0 when
the questionnaire is valid (warnings allowed), 1 when it has errors, 2 when the
file cannot be read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from bot.texts import gettext
from surveys.questionnaire import load_questionnaire

app = typer.Typer(help="Residents' questionnaires (YAML): check a file before using it.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def questionnaire() -> None:
    """Residents' questionnaires (YAML): check a file before using it."""
    # A callback keeps `check` a subcommand (a one-command Typer app would collapse it).


@app.command("check")
def check(
    file: Path = typer.Argument(..., help="The questionnaire YAML file."),
    locale: str | None = typer.Option(None, "--locale", "-l", help="Language of the messages: zh_CN or en "
                                                                     "(default: LOCALE)."),
) -> None:
    """Check a questionnaire file: syntax, ids, types, options, show_if references."""
    if locale is None:
        from bot.config import get_settings

        locale = get_settings().locale
    text = read_questionnaire_file(file, locale)
    questionnaire, problems = load_questionnaire(text, file.name)
    for p in problems:
        where = f"{file}:{p.line}" if p.line is not None else str(file)
        typer.echo(f"{where}: [{gettext(f'severity.{p.severity.value}', locale)}] {p.message(locale)}")
    if questionnaire is None:
        errors = sum(1 for p in problems if p.is_error)
        typer.echo(gettext("cli.questionnaire.invalid", locale, file=str(file), errors=errors,
                           warnings=len(problems) - errors), err=True)
        raise typer.Exit(1)

    typer.echo(gettext("cli.questionnaire.valid", locale, file=str(file), title=questionnaire.title.get(locale),
                       count=len(questionnaire.questions), minutes=questionnaire.estimated_minutes))
    counts = Counter(q.type for q in questionnaire.questions)
    typer.echo(gettext("cli.questionnaire.types", locale, types=gettext("report.list-sep", locale).join(
        gettext("cli.questionnaire.type-count", locale, name=gettext(f"report.qtype.{t}", locale), type=t, n=n)
        for t, n in counts.items())))


def read_questionnaire_file(file: Path, locale: str) -> str:
    """The text of a questionnaire file, or exit 2 saying why it cannot be read (no traceback)."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        typer.echo(gettext("cli.file-missing", locale, file=str(file)), err=True)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        typer.echo(gettext("cli.questionnaire.unreadable", locale, file=str(file), reason=reason), err=True)
    raise typer.Exit(2)
