"""`qingdan … --help`: typer's rich help keeps a docstring's line breaks, so a paragraph
wrapped in the source broke mid-sentence in the help (and in a group's list of commands)."""

from __future__ import annotations

import inspect

import typer
from typer.testing import CliRunner

from bot.cli import app


def _commands(command, path: str):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_no_help_paragraph_breaks_mid_sentence():
    broken = [(path, paragraph) for path, command in _commands(typer.main.get_command(app), "qingdan")
              for paragraph in inspect.cleandoc(command.help or "").split("\n\n") if "\n" in paragraph]
    assert broken == []


def test_lists_help_shows_publish_in_one_flowing_sentence():
    shown = CliRunner().invoke(app, ["lists", "--help"], env={"COLUMNS": "200", "LOCALE": "en"})
    assert shown.exit_code == 0
    assert "the township's participants get what changed, and the consultation becomes" in shown.output


def test_report_help_names_the_files_in_both_languages_from_the_catalog():
    from bot.texts import gettext

    shown = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0
    text = " ".join(shown.output.replace("│", " ").split())
    for locale in ("zh_CN", "en"):
        for key in ("workbook", "feedback"):
            assert gettext(f"scheduler.file-{key}", locale, id="ID") in text, (locale, key, text)


def test_no_help_calls_a_consultation_reported():
    """The status 已反馈 is “feedback given” in English (the chat's and the catalog's word); the help of
    `consultations deadline` and `lists publish` still said `reported`."""
    said = [(path, command.help) for path, command in _commands(typer.main.get_command(app), "qingdan")
            if "reported" in (command.help or "")]
    assert said == []
    shown = CliRunner().invoke(app, ["lists", "publish", "--help"], env={"COLUMNS": "200", "LOCALE": "en"})
    assert "the consultation becomes “feedback given”" in shown.output


def test_help_follows_locale_chinese_by_default():
    """The commands' and options' help was English only; it follows LOCALE (zh_CN by default)
    through the catalog (clihelp.po). Typer's own words (Usage, Options) stay typer's."""
    for env, says in (({}, ("生成邀请链接，每行输出一个链接。", "有效期：7d、12h、30m、2w")),
                      ({"LOCALE": "zh_CN"}, ("生成邀请链接，每行输出一个链接。", "干部所属的乡镇（街道）。")),
                      ({"LOCALE": "en"}, ("Create invite links; prints one deep link per line.",
                                          "The township the cadres belong to."))):
        shown = CliRunner().invoke(app, ["invites", "create", "--help"], env={"COLUMNS": "200", **env})
        assert shown.exit_code == 0 and all(s in shown.output for s in says), (env, shown.output)
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "LOCALE": "zh_CN"}).output
    assert "履职清单：检查、导入、查看、比较、删除、发布。" in listing and "Duty lists:" not in listing


def test_the_help_options_own_help_follows_locale():
    for env, says in (({"LOCALE": "zh_CN"}, "显示本帮助并退出。"), ({"LOCALE": "en"}, "Show this message and exit.")):
        for args in (["--help"], ["lists", "--help"], ["report", "--help"]):
            shown = CliRunner().invoke(app, args, env={"COLUMNS": "200", **env}).output
            assert says in shown, (env, args, shown)


def test_every_help_text_has_a_chinese_translation():
    from bot.texts import gettext

    untranslated = []
    for path, command in _commands(typer.main.get_command(app), "qingdan"):
        for obj in (command, *command.params):
            english = getattr(obj, "help", None)
            if english and (gettext(english, "zh_CN") == english or gettext(english, "en") != english):
                untranslated.append((path, english))
    assert untranslated == []


def test_every_option_and_argument_says_what_it_is():
    """`lists show --help` listed --township, --part, --version and --json with nothing beside them
    (and `db upgrade`'s REVISION, `lists lint`'s FILE, the consultation ids, …)."""
    silent = [(path, param.name) for path, command in _commands(typer.main.get_command(app), "qingdan")
              for param in command.params if not getattr(param, "help", None)]
    assert silent == []


def test_a_consultation_id_argument_is_called_id_in_every_usage_line_as_in_readme():
    """`qingdan export --help` said `Usage: qingdan export [OPTIONS] {consultation_id}` where README
    (and links, report, consultations open/close/deadline) say ID."""
    named = [(path, param.metavar) for path, command in _commands(typer.main.get_command(app), "qingdan")
             for param in command.params if param.name == "consultation_id"]
    assert len(named) >= 6 and all(metavar == "ID" for _, metavar in named), named
    usage = CliRunner().invoke(app, ["export", "--help"], env={"LOCALE": "en", "COLUMNS": "200"}).output
    assert "export [OPTIONS] {ID}" in usage, usage
