"""The `qingdan` command line. Each group lives with the code it drives; this
module only assembles them."""

from __future__ import annotations

import inspect

import typer
from sqlalchemy.exc import DBAPIError

from bot.config import EX_CONFIG, get_settings
from bot.db import ensure_schema, run_async  # noqa: F401  (re-exported: the commands' shared helpers)
from bot.texts import gettext


def _localize_help(command, locale: str, children: bool = True, ctx=None) -> None:  # type: ignore[no-untyped-def]
    """A command's help, its parameters' (--help's too, with `ctx`) and (for a group's list) its
    commands' in LOCALE: the English written in the code, and --help's, is the message id of
    bot/locales/*/LC_MESSAGES/clihelp.po. What typer and click print themselves (Usage,
    Options, their errors) stays theirs."""
    own = (command.get_help_option(ctx),) if ctx is not None else ()
    for obj in (command, *getattr(command, "params", ()), *own):
        if obj is None:
            continue
        english = obj.__dict__.setdefault("_help_en", getattr(obj, "help", None))
        if english:
            obj.help = gettext(english, locale)
    if children:
        for sub in getattr(command, "commands", {}).values():
            _localize_help(sub, locale, children=False)


class _LocalizedCommand(typer.core.TyperCommand):
    def format_help(self, ctx, formatter):  # type: ignore[no-untyped-def]
        _localize_help(self, _locale(), ctx=ctx)
        return super().format_help(ctx, formatter)


class _LocalizedGroup(typer.core.TyperGroup):
    def format_help(self, ctx, formatter):  # type: ignore[no-untyped-def]
        _localize_help(self, _locale(), ctx=ctx)
        return super().format_help(ctx, formatter)


app = typer.Typer(cls=_LocalizedGroup, help="清单征询 Qingdan — consult on township duty lists through Telegram.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _options(env_file: str = typer.Option(
        "", "--env-file", metavar="PATH",
        help="Read the settings from this file instead of .env (KEY=value lines, as systemd's EnvironmentFile= "
             "takes them; values as written, no shell quoting); also ENV_FILE=PATH. The environment still wins."
        )) -> None:
    import os
    from pathlib import Path

    from bot.config import ENV_FILE

    path = env_file or os.environ.get(ENV_FILE, "")
    if not path:
        return
    if not Path(path).is_file():  # (pydantic-settings would quietly read nothing)
        typer.echo(gettext("cli.env-file-missing", _locale(), path=path), err=True)
        raise typer.Exit(EX_CONFIG)
    os.environ[ENV_FILE] = os.path.abspath(path)  # for the processes a command starts (webhook workers)
    get_settings.cache_clear()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="The revision to upgrade to (head: the newest).")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from alembic.util import CommandError

    from bot.db import reachable, refuse_newer_schema
    from storage.migrate import passed, schema_state, upgrade

    with reachable(get_settings()):
        refuse_newer_schema(schema_state(get_settings().database_url))
        later = passed(get_settings().database_url, revision)
        if later:  # (alembic's upgrade to an earlier revision does nothing, and said "ok")
            typer.echo(gettext("cli.db-already-later", get_settings().locale, revision=revision,
                               current=", ".join(later)), err=True)
            raise typer.Exit(2)
        try:
            upgrade(get_settings().database_url, revision)
        except CommandError as exc:  # no such revision (a typo, or newer than this code)
            from alembic.script import ScriptDirectory

            from storage.migrate import alembic_config

            heads = ", ".join(ScriptDirectory.from_config(alembic_config(get_settings().database_url)).get_heads())
            typer.echo(gettext("cli.unknown-revision", get_settings().locale, revision=revision, head=heads,
                               error=exc), err=True)
            raise typer.Exit(2) from None
        except DBAPIError as exc:  # refused by the database (a server away is `reachable`'s)
            _migration_failed(exc)
        now = schema_state(get_settings().database_url).revisions
    typer.echo(gettext("cli.db-upgraded", get_settings().locale, revision=", ".join(now) or "—"))


def _migration_failed(exc: DBAPIError) -> None:
    """A migration the database refused (the database user may not create tables, a table of
    that name is there already): the reason, and the revision the database is left at."""
    from storage.migrate import schema_state

    settings = get_settings()
    reason = (str(exc.orig or exc).strip().splitlines() or ["?"])[0]
    try:
        at = ", ".join(schema_state(settings.database_url).revisions) or "—"
    except DBAPIError:
        at = "?"
    text = gettext("cli.migration-failed", settings.locale, error=reason, revision=at)
    if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient privilege
        text += "\n" + gettext("cli.migration-needs-owner", settings.locale)
    typer.echo(text, err=True)
    raise typer.Exit(2) from None


def _register() -> None:
    from bot import cli_consultations, cli_lists, cli_run

    app.add_typer(cli_lists.app, name="lists")
    app.add_typer(cli_consultations.app, name="consultations")
    app.command("links")(cli_consultations.links_command)
    app.command("demo")(cli_run.demo)
    app.command("run")(cli_run.run)

    from bot import scheduler

    app.command("scheduler")(scheduler.command)

    from bot import cli_questionnaire

    app.add_typer(cli_questionnaire.app, name="questionnaire")

    from bot import cli_invites

    app.add_typer(cli_invites.app, name="invites")

    from bot import cli_export

    app.command("export")(cli_export.export)
    app.command("report")(cli_export.report)
    app.command("offlist")(cli_export.offlist)

    from bot.sandbox import cli as sandbox_cli

    app.command("sandbox")(sandbox_cli.sandbox)
    _reflow_help(app)


def _reflow_help(group: typer.Typer) -> None:
    """Each command's help (its docstring) with every paragraph on one line: typer's rich help
    keeps the source's line breaks, so a docstring wrapped in the source broke mid-sentence
    on screen; the terminal wraps it instead."""
    for info in group.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))
        if info.cls in (None, typer.core.TyperCommand):  # (the help in LOCALE: _localize_help)
            info.cls = _LocalizedCommand
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            sub.typer_instance.info.cls = sub.typer_instance.info.cls or _LocalizedGroup
            _reflow_help(sub.typer_instance)


def main() -> None:
    """The `qingdan` command: settings that cannot be read are reported by name, with
    the value found, instead of as a traceback. `kill -USR1 <pid>` prints every thread's
    stack to stderr (for a process that seems stuck) — registered here, where both the
    `qingdan` console script and `python -m bot` start (its default action would kill it)."""
    import faulthandler
    import signal

    from bot.config import SettingsFileError, settings_error

    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    try:
        app()
    except SettingsFileError as exc:
        typer.echo(gettext(exc.key, _locale(), **exc.kw), err=True)
        raise SystemExit(EX_CONFIG) from None
    except Exception as exc:
        text = settings_error(exc, _locale())
        if text is None:
            raise
        from bot.config import env_file

        typer.echo(f"{gettext('cli.bad-settings', _locale(), file=env_file())}\n{text}", err=True)
        raise SystemExit(EX_CONFIG) from None


def _locale() -> str:
    """LOCALE from the environment or the settings file, read alone (the settings as a whole
    could not be)."""
    import os

    from dotenv import dotenv_values

    from bot.config import SettingsFileError, check_settings_file, env_file

    path = env_file()
    try:
        check_settings_file(path)
        found = dotenv_values(path).get("LOCALE") if os.path.isfile(path) else None
    except SettingsFileError:
        found = None
    return os.environ.get("LOCALE") or found or "zh_CN"


if __name__ == "__main__":
    # `python -m bot.cli`: run the module proper, so that command modules importing
    # bot.cli see one module, not this __main__ copy (that would import them twice).
    from bot.cli import main as _main

    _main()
else:
    _register()
