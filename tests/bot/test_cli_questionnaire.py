"""`qingdan questionnaire check FILE`: problems with file and line, and exit codes
0 (valid), 1 (invalid), 2 (unreadable)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli_questionnaire import app
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH

runner = CliRunner()


def test_check_accepts_the_default_questionnaire_and_summarises_it() -> None:
    result = runner.invoke(app, ["check", str(DEFAULT_QUESTIONNAIRE_PATH), "--locale", "en"])
    assert result.exit_code == 0, result.output
    assert "9 questions" in result.output
    assert "Single choice (single) ×3, Scale (scale) ×3, Multiple choice (multi) ×1" in result.output
    assert "[error]" not in result.output


def test_check_names_the_question_types_in_chinese_too() -> None:
    """题型：single ×3, scale ×3 … gave the YAML ids only, joined by an English comma."""
    result = runner.invoke(app, ["check", str(DEFAULT_QUESTIONNAIRE_PATH), "--locale", "zh_CN"])
    assert result.exit_code == 0, result.output
    assert "题型：单选（single）×3、评分（scale）×3、多选（multi）×1、文字（text）×2" in result.output


def test_check_prints_each_problem_with_file_and_line_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: d\ntitle: 问卷\nquestions:\n  - {id: q1, type: slider, text: 你好}\n"
                    "  - {id: q1, type: text, text: 再见}\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--locale", "en"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{path}:4: [error] unknown question type \"slider\"" in lines[0]
    assert lines[1].startswith(f"{path}:5: [error] duplicate question id \"q1\"")


def test_check_speaks_the_locale_setting_chinese_by_default(tmp_path: Path, monkeypatch) -> None:
    from bot.config import get_settings

    path = tmp_path / "bad.yaml"
    path.write_text("id: d\ntitle: [\n", encoding="utf-8")
    monkeypatch.delenv("LOCALE", raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env
    get_settings.cache_clear()
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: [错误] YAML 格式有误" in result.output
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    result = runner.invoke(app, ["check", str(path)])
    assert f"{path}:3: [error] " in result.output and "YAML 格式有误" not in result.output
    get_settings.cache_clear()


def test_check_reports_warnings_but_still_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("id: d\ntitle: 问卷\nquestions:\n"
                    + "".join(f"  - {{id: q{i}, type: text, text: 问题{i}}}\n" for i in range(11)),
                    encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "-l", "en"])
    assert result.exit_code == 0
    assert f"{path}:4: [warning] 11 questions" in result.output


def test_check_exits_2_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["check", str(tmp_path / "nope.yaml"), "-l", "en"])
    assert missing.exit_code == 2 and missing.output.strip() == f"File not found: {tmp_path / 'nope.yaml'}"
    binary = tmp_path / "gbk.yaml"
    binary.write_bytes("标题: 问卷".encode("gbk"))
    assert runner.invoke(app, ["check", str(binary)]).exit_code == 2
    assert runner.invoke(app, ["check", str(tmp_path)]).exit_code == 2


def test_check_is_registered_under_qingdan_questionnaire() -> None:
    from bot.cli import app as qingdan

    result = runner.invoke(qingdan, ["questionnaire", "check", str(DEFAULT_QUESTIONNAIRE_PATH)])
    assert result.exit_code == 0, result.output
    assert "共 9 个问题" in result.output


def test_check_warns_of_texts_the_bot_will_shorten_on_screen(tmp_path: Path) -> None:
    """No length was checked: an intro or a question longer than a message leaves room for, or
    an option wider than its button, passed; the bot then shortened them on the phone."""
    path = tmp_path / "long.yaml"
    option = "本乡镇对于这一事项的职责划分完全合理"  # 18 Chinese characters: 36 wide, a button shows 25 beside "☑ "
    path.write_text(f"id: d\ntitle: 问卷\nintro: {'说明' * 1900}\nquestions:\n"
                    f"  - {{id: q1, type: text, text: {'问题' * 1900}}}\n"
                    f"  - {{id: q2, type: single, text: 短, options: [{{id: a, text: {option}}}, "
                    f"{{id: b, text: 不合理}}]}}\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--locale", "en"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{path}:3: [warning] the intro (zh_CN) is 3800 characters, over 3596" in out
    assert f"{path}:5: [warning] question \"q1\" (zh_CN) with its help is 3800 characters, over 3596" in out
    assert f"{path}:6: [warning] option \"a\" of question \"q2\" (zh_CN) is 36 wide, a button shows 25" in out
    assert "option \"b\"" not in out
    default = runner.invoke(app, ["check", str(DEFAULT_QUESTIONNAIRE_PATH), "--locale", "en"])
    assert "[warning]" not in default.output
