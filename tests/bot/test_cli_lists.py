"""`qingdan lists …`, `qingdan consultations …` and `qingdan links` against a temporary
SQLite database: exit codes, the --json shapes the issue fixes, all-or-nothing import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import get_settings
from surveys.samples import make_samples

runner = CliRunner()
SAMPLE_XLSX = Path(make_samples.__file__).with_name("sample_draft.xlsx")
SAMPLE_CSV = Path(make_samples.__file__).with_name("sample_draft_gbk.csv")


@pytest.fixture(autouse=True)
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BOT_USERNAME", "qingdan_test_bot")
    monkeypatch.setenv("BOT_TOKEN", "")
    monkeypatch.setenv("LOCALE", "zh_CN")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _revised(tmp_path: Path) -> Path:
    """The sample less its last item: another version (the same file again is refused)."""
    return make_samples.write_xlsx(make_samples.build_sample_items()[:-1], tmp_path / "revised.xlsx")


def _broken_csv(tmp_path: Path) -> Path:
    path = tmp_path / "broken.csv"
    path.write_text("部分,序号,事项名称,对应上级部门\n配合,1,消防安全检查,\n", encoding="utf-8")
    return path


def test_lint_json_has_the_documented_shape_and_exit_0_for_the_sample():
    result = runner.invoke(app, ["lists", "lint", str(SAMPLE_XLSX), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["items"] == {"basic": 46, "cooperating": 35, "withdrawn": 31}
    assert data["problems"] == []


def test_lists_publish_without_a_token_says_nothing_was_published_and_what_to_set():
    # it printed the `qingdan run` text suggesting `qingdan demo`
    result = runner.invoke(app, ["lists", "publish", "--consultation", "1", "--township", "青山镇", "1"])
    assert result.exit_code == 2
    assert "没有发布" in result.output and "BOT_TOKEN" in result.output
    assert "qingdan demo" not in result.output
    # the exit codes the help lists say so of a missing setting
    for env, says in (({"LOCALE": "zh_CN"}, "2 用法错误、缺少设置（发布时没有 BOT_TOKEN）"),
                      ({"LOCALE": "en"}, "2 wrong usage, a setting missing (publish without BOT_TOKEN)")):
        shown = CliRunner().invoke(app, ["lists", "--help"], env={"COLUMNS": "400", **env})
        assert says in shown.output, (env, shown.output)


def test_consultations_close_help_says_what_follows_and_that_it_asks_before_the_deadline():
    said = " ".join(runner.invoke(app, ["consultations", "close", "--help"], env={"COLUMNS": "300"}).output.split())
    assert "感谢" in said and "最终结果报告" in said and "--yes" in said


def test_consultations_close_before_the_deadline_asks_first_as_the_chat_does():
    # it closed at once days before the deadline: thanks and the final report out, not undone by reopening
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10"])
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    declined = runner.invoke(app, ["consultations", "close", "1"], input="n\n")
    assert declined.exit_code == 1 and "还没有到" in declined.output and "感谢" in declined.output
    assert "没有结束" in declined.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]["status"] == "open"
    closed = runner.invoke(app, ["consultations", "close", "1"], input="y\n")
    assert closed.exit_code == 0, closed.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]["status"] == "closed"


def test_lint_exit_1_on_errors_with_located_problems(tmp_path):
    result = runner.invoke(app, ["lists", "lint", str(_broken_csv(tmp_path)), "--json"])
    assert result.exit_code == 1
    problem = json.loads(result.output)["problems"][0]
    assert set(problem) == {"severity", "rule", "part", "sheet", "row", "column", "message"}
    assert problem["rule"] == "lint.cooperating-without-department" and problem["severity"] == "error"
    assert problem["row"] == 2


def test_lint_exit_2_when_the_file_cannot_be_read(tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert runner.invoke(app, ["lists", "lint", str(empty)]).exit_code == 2
    assert runner.invoke(app, ["lists", "lint", str(tmp_path / "nope.xlsx")]).exit_code == 2


def test_a_readable_draft_with_errors_in_its_rows_is_exit_1_not_unreadable(tmp_path):
    # a workbook with an Excel error in one cell, or a row of no known part, was exit 2 ("unreadable")
    # like a photo or an empty file, though it was read and its problems name the rows to fix
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "基本"
    for row in (["序号", "事项名称", "履职依据"], [1, "发展党员", "《细则》"], [2, "人民调解", "#REF!"]):
        wb.active.append(row)
    wb.active["C3"].data_type = "e"
    wb.save(tmp_path / "ref.xlsx")
    path = tmp_path / "part.csv"
    path.write_text("部分,事项名称,承接部门\n收回,特种设备安全监管,县市场监管局\n其他,物业执法,县城管局\n",
                    encoding="utf-8")
    for name in ("ref.xlsx", "part.csv"):
        checked = runner.invoke(app, ["lists", "lint", str(tmp_path / name)])
        assert checked.exit_code == 1 and "第 3 行" in checked.output, checked.output
        assert "共 0 项" not in checked.output  # its items were read: the file is not empty
        imported = runner.invoke(app, ["lists", "import", str(tmp_path / name), "--township", "青山镇"])
        assert imported.exit_code == 1 and "未导入任何内容" in imported.output, imported.output


def test_import_stores_the_sample_and_show_lists_it():
    result = runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇"])
    assert result.exit_code == 0, result.output
    assert "第 1 版" in result.output
    shown = json.loads(runner.invoke(app, ["lists", "show", "--township", "青山镇", "--json"]).output)
    assert shown[0]["counts"] == {"basic": 46, "cooperating": 35, "withdrawn": 31}
    assert len(shown[0]["items"]) == 112
    part = json.loads(runner.invoke(app, ["lists", "show", "--part", "withdrawn", "--json"]).output)
    assert {i["part"] for i in part[0]["items"]} == {"withdrawn"}


def test_import_with_errors_stores_nothing(tmp_path):
    result = runner.invoke(app, ["lists", "import", str(_broken_csv(tmp_path)), "--township", "青山镇"])
    assert result.exit_code == 1
    assert "未导入" in result.output
    assert json.loads(runner.invoke(app, ["lists", "show", "--json"]).output) == []


def test_diff_between_a_file_and_a_stored_version(tmp_path):
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    items = make_samples.build_sample_items()
    moved = items[0]
    from surveys.duty_list import Part

    moved.part = Part.COOPERATING
    moved.county_department = "县委组织部"
    new = make_samples.write_xlsx(items[:-1], tmp_path / "v2.xlsx")
    result = runner.invoke(app, ["lists", "diff", "青山镇@1", str(new), "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [m["name"] for m in d["moved"]] == [moved.name]
    assert [r["name"] for r in d["removed"]] == [items[-1].name]


def test_consultation_create_open_list_json_and_links(tmp_path):
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    result = runner.invoke(app, ["consultations", "create", "--title", "青山镇清单征询", "--township", "青山镇",
                                 "--closes", "2099-12-10 18:00"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)
    assert listed[0]["status"] == "open" and listed[0]["closes_at"].startswith("2099-12-10T10:00")
    link = listed[0]["links"][0]
    assert set(listed[0]) == {"id", "title", "status", "opens_at", "closes_at", "links"}
    assert link["township"] == "青山镇" and link["url"] == f"https://t.me/qingdan_test_bot?start={link['code']}"
    assert link["version"] == "1"  # the list version the township is consulted on
    assert f"青山镇（第 1 版）：{link['url']}" in runner.invoke(app, ["consultations", "list"]).output  # not "）: "
    out = runner.invoke(app, ["links", "1", "--out", str(tmp_path / "qr")])
    assert out.exit_code == 0 and link["url"] in out.output
    png = next((tmp_path / "qr").glob("*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.name == f"征询1-青山镇-{link['code']}.png"  # which township's poster it is, in LOCALE
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 1  # already open



def test_qr_files_are_named_in_locale(tmp_path, monkeypatch):
    """`qingdan links` named its files consultation1-青山镇-….png in English whatever LOCALE said."""
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10 18:00"])
    code = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]["links"][0]["code"]
    assert runner.invoke(app, ["links", "1", "--out", str(tmp_path / "zh")]).exit_code == 0
    assert [p.name for p in (tmp_path / "zh").iterdir()] == [f"征询1-青山镇-{code}.png"]
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    assert runner.invoke(app, ["links", "1", "--out", str(tmp_path / "en")]).exit_code == 0
    assert [p.name for p in (tmp_path / "en").iterdir()] == [f"consultation1-青山镇-{code}.png"]


def test_links_of_a_closed_consultation_are_refused_as_in_the_chat(tmp_path):
    """Posters of a consultation that takes no more answers would lead residents to "it has ended"."""
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10"])
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0
    out = runner.invoke(app, ["links", "1", "--out", str(tmp_path / "qr")])
    assert out.exit_code == 1 and "征询 #1（已结束）不再接收回答" in out.output
    assert "https://t.me/" not in out.output and not list((tmp_path / "qr").glob("*.png"))


def test_consultation_create_says_the_deadline_as_read_and_its_zone(monkeypatch):
    # a date alone is 23:59 that day, read in TIMEZONE, not the server's zone: the operator sees both
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    made = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099/12/10"])
    assert made.exit_code == 0 and "截止时间：2099-12-10 23:59（星期四，北京时间）" in made.output
    monkeypatch.setenv("TIMEZONE", "UTC")
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    made = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099-12-10 18:00"])
    assert made.exit_code == 0 and "deadline 2099-12-10 18:00 (Thursday, UTC)" in made.output
    listed = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)
    assert [c["closes_at"][:16] for c in listed] == ["2099-12-10T15:59", "2099-12-10T18:00"]

def test_consultation_for_a_misspelt_township_names_the_close_one_with_a_list():
    # "青山" for 青山镇 only said 青山还没有导入清单, where the chat's import step asks "青山镇?"
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山",
                                 "--closes", "2099-12-10 18:00"])
    assert result.exit_code == 1
    assert "青山还没有导入清单" in result.output and "您是不是要找“青山镇”" in result.output
    assert "--township 青山镇" in result.output
    far = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "绿水乡",
                              "--closes", "2099-12-10 18:00"])
    assert far.exit_code == 1 and "您是不是要找" not in far.output


def test_consultation_for_a_township_without_a_list_is_refused(tmp_path):
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "无此镇",
                                 "--closes", "2099-12-10 18:00"])
    assert result.exit_code == 1
    assert "无此镇还没有导入清单" in result.output  # (no space after a Chinese name, as everywhere else)
    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇", "--version", "1"])
    again = runner.invoke(app, ["lists", "import", str(_revised(tmp_path)), "--township", "青山镇", "--version", "1"])
    assert "青山镇的第 1 版清单已存在，未导入。" in again.output, again.output


def test_consultation_with_a_past_deadline_is_refused():
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                 "--closes", "2020-01-01 10:00"])
    assert result.exit_code == 2 and "截止时间 2020-01-01 10:00 已经过去，请写一个将来的时间。" in result.output
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                 "--closes", "2099-12-10 18:00", "--opens", "2099-12-11 09:00"])
    assert result.exit_code == 2 and "开始时间必须早于截止时间" in result.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output) == []


def test_opening_after_the_deadline_is_refused_and_opening_records_the_start():
    import asyncio
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from bot.db import database
    from storage.models import Consultation

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    for _ in range(2):
        assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                   "--closes", "2099-12-10 18:00"]).exit_code == 0

    async def past_deadline() -> None:
        async with database() as sessions, sessions() as s:
            await s.execute(sa.update(Consultation).where(Consultation.id == 2)
                            .values(closes_at=datetime.now(UTC) - timedelta(hours=1)))
            await s.commit()

    asyncio.run(past_deadline())
    refused = runner.invoke(app, ["consultations", "open", "2"])
    assert refused.exit_code == 1 and "截止时间已经过了" in refused.output
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    listed = {c["id"]: c for c in json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)}
    assert listed[2]["status"] == "draft" and listed[2]["opens_at"] is None
    assert listed[1]["status"] == "open"
    opened = datetime.fromisoformat(listed[1]["opens_at"])
    assert abs((datetime.now(UTC) - opened).total_seconds()) < 60


def test_links_without_a_bot_username_or_token_say_what_to_set(monkeypatch):
    from bot.config import get_settings

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099-12-10 18:00"]).exit_code == 0
    monkeypatch.setenv("BOT_USERNAME", "")
    get_settings.cache_clear()
    for args in (["links", "1"], ["consultations", "list"], ["invites", "create", "--township", "青山镇"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "BOT_USERNAME" in result.output and "t.me" not in result.output, args


def test_the_newest_version_is_the_last_imported_whatever_its_label(tmp_path):
    items = make_samples.build_sample_items()
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    revised = make_samples.write_xlsx(items[:-1], tmp_path / "v2.xlsx")
    assert runner.invoke(app, ["lists", "import", str(revised), "--township", "青山镇",
                               "--version", "2026修订稿"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["lists", "show", "--township", "青山镇", "--json"]).output)
    assert [s["version"] for s in shown] == ["2026修订稿"]
    d = json.loads(runner.invoke(app, ["lists", "diff", "青山镇@1", "青山镇", "--json"]).output)
    assert [r["name"] for r in d["removed"]] == [items[-1].name]  # against the labelled version, not itself
    assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099-12-10 18:00"]).exit_code == 0
    import asyncio

    import sqlalchemy as sa

    from bot.db import database
    from storage.models import ConsultationTownship, DutyListRow

    async def consulted_version() -> str:
        async with database() as sessions, sessions() as s:
            return await s.scalar(sa.select(DutyListRow.version).join(
                ConsultationTownship, ConsultationTownship.list_id == DutyListRow.id))

    assert asyncio.run(consulted_version()) == "2026修订稿"  # the consultation takes the newest too


def test_township_names_are_trimmed_and_an_empty_one_refused(tmp_path):
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    revised = make_samples.write_xlsx(make_samples.build_sample_items()[:-1], tmp_path / "v2.xlsx")
    again = runner.invoke(app, ["lists", "import", str(revised), "--township", " 青山镇　"])
    assert again.exit_code == 0 and "已导入：青山镇，第 2 版" in again.output
    shown = json.loads(runner.invoke(app, ["lists", "show", "--json"]).output)
    assert [(s["township"], s["version"]) for s in shown] == [("青山镇", "2")]
    for name in ("", "　 "):
        refused = runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", name])
        assert refused.exit_code == 2 and "不能为空" in refused.output


def test_the_same_file_imported_again_is_refused_as_in_the_chat(tmp_path):
    """`lists import` of the same file again stored a new version, where the chat says the file is
    the same as version N and stores nothing: the CLI says so too, exit 1, with --version as well."""
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    for extra in ([], ["--version", "2026修订稿"]):
        again = runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇", *extra])
        assert again.exit_code == 1, again.output
        assert "这个文件和青山镇的第 1 版完全相同，没有再次导入" in again.output
    shown = json.loads(runner.invoke(app, ["lists", "show", "--township", "青山镇", "--all", "--json"]).output)
    assert [s["version"] for s in shown] == ["1"]
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "红石乡"]).exit_code == 0
    revised = make_samples.write_xlsx(make_samples.build_sample_items()[:-1], tmp_path / "v2.xlsx")
    assert runner.invoke(app, ["lists", "import", str(revised), "--township", "青山镇"]).exit_code == 0
    back = runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert back.exit_code == 0 and "第 3 版" in back.output  # only the newest version is compared, as the chat does


def test_diff_text_names_the_two_lists_not_a_consultation(tmp_path):
    """`lists diff A B` printed the participants' announcement ("征求意见后清单调整情况", "与上一版相比，
    清单没有变化") for any two lists, two drafts too: it names A and B."""
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    revised = _revised(tmp_path)
    result = runner.invoke(app, ["lists", "diff", "青山镇@1", str(revised)])
    assert result.exit_code == 0 and result.output.startswith(f"从 青山镇@1 到 {revised}：新增 0 项，删除 1 项，"), \
        result.output
    assert "征求意见" not in result.output
    same = runner.invoke(app, ["lists", "diff", "青山镇@1", str(SAMPLE_CSV)])
    assert same.exit_code == 0 and same.output.strip() == f"青山镇@1 和 {SAMPLE_CSV} 的事项相同。", same.output


def test_show_version_without_township_is_refused():
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    result = runner.invoke(app, ["lists", "show", "--version", "1"])
    assert result.exit_code == 2 and "--township" in result.output


def test_a_township_named_twice_is_consulted_once():
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                 "--township", "青山镇　", "--closes", "2099-12-10 18:00"])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)
    assert [link["township"] for link in listed[0]["links"]] == ["青山镇"]


def test_names_longer_than_the_columns_are_refused_on_every_database():
    for args in (["--township", "镇" * 201], ["--township", "青山镇", "--version", "v" * 51]):
        result = runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), *args])
        assert result.exit_code == 2 and "最多" in result.output
    assert json.loads(runner.invoke(app, ["lists", "show", "--json"]).output) == []


def test_show_names_the_list_status_in_the_operators_language(monkeypatch):
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    assert runner.invoke(app, ["lists", "show"]).output.splitlines()[0] == "清单 1：青山镇，第 1 版（草稿）"
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    head = runner.invoke(app, ["lists", "show"]).output.splitlines()[0]
    assert "draft" in head and "草稿" not in head


def test_opening_or_closing_again_says_it_already_is(monkeypatch):
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "Qingshan"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "Qingshan",
                        "--closes", "2099-12-10 18:00"])
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    again = runner.invoke(app, ["consultations", "open", "1"])
    assert again.exit_code == 1 and again.output.strip() == "Consultation #1 is already open."
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0
    again = runner.invoke(app, ["consultations", "close", "1"])
    assert again.output.strip() == "Consultation #1 is already closed."


def test_opening_one_whose_start_is_set_ahead_says_when_it_starts(monkeypatch):
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "Qingshan"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "Qingshan",
                        "--opens", "2099-12-01 09:00", "--closes", "2099-12-10 18:00"])
    opened = runner.invoke(app, ["consultations", "open", "1"])
    assert opened.exit_code == 0
    assert opened.output.strip() == "Consultation #1 is set to open: it takes answers from 2099-12-01 09:00."


def test_consultation_deadline_moves_it_and_refuses_the_past_and_the_start():
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--opens", "2099-12-01 09:00", "--closes", "2099-12-10 18:00"]).exit_code == 0

    def closes_at() -> str:
        return json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]["closes_at"]

    moved = runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2099-12-20"])
    assert moved.exit_code == 0, moved.output
    assert moved.output.strip() == "征询 #1 的截止时间：2099-12-10 18:00 → 2099-12-20 23:59（星期日）。"
    assert closes_at().startswith("2099-12-20T15:59")  # a date alone: 23:59 that day, Shanghai time
    for closes, code, said in (("2020-01-01 10:00", 1, "新的截止时间 2020-01-01 10:00 已经过去，请写一个将来的时间。"),
                               ("2099-11-30 12:00", 1, "新的截止时间必须晚于开始时间 2099-12-01 09:00。"),
                               ("过几天", 2, "日期格式不对"),
                               ("过几天", 2, "“下周一”“周五 18:00”“5号”“3天后”"),  # the other forms it reads are named
                               ("2099-02-29", 2, "没有2099年2月29日这一天，请检查日期。"),
                               ("0:00", 2, "今天 00:00 已经过去了。如果指的是明天，请写“明天00:00”"),  # a time alone: today's
                               ("上周一", 1, "已经过去，请写一个将来的时间。"),
                               ("2099-12-20", 1, "征询 #1 的截止时间本来就是 2099-12-20 23:59，没有修改。")):
        refused = runner.invoke(app, ["consultations", "deadline", "1", "--closes", closes])
        assert refused.exit_code == code and said in refused.output, (closes, refused.output)
    missing = runner.invoke(app, ["consultations", "deadline", "9", "--closes", "2099-12-25"])
    assert missing.exit_code == 1 and "找不到征询 #9" in missing.output
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2099-12-22 18:00"]).exit_code == 0
    assert closes_at().startswith("2099-12-22T10:00")


def _set_status(consultation_id: int, status) -> None:
    import asyncio

    from bot.db import database
    from storage.consultations import set_status
    from storage.models import Consultation

    async def run() -> None:
        async with database() as sessions, sessions() as s:
            await set_status(s, await s.get(Consultation, consultation_id), status)
            await s.commit()

    asyncio.run(run())


def _list_statuses() -> list[str]:
    import asyncio

    import sqlalchemy as sa

    from bot.db import database
    from storage.models import DutyListRow

    async def run() -> list[str]:
        async with database() as sessions, sessions() as s:
            return list((await s.scalars(sa.select(DutyListRow.status))).all())

    return asyncio.run(run())


def test_consultation_deadline_extends_and_reopens_a_closed_one_once_confirmed_never_a_reported_one(monkeypatch):
    from surveys.consultation import Status

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099-12-10 18:00"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0

    def listed() -> tuple[str, str]:
        c = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]
        return c["status"], c["closes_at"][:16]

    assert listed() == ("closed", "2099-12-10T10:00") and _list_statuses() == ["consulted"]
    extend = ["consultations", "deadline", "1", "--closes", "2099-12-25"]
    for answer in ("n\n", ""):  # declined, or no answer at all (stdin closed): nothing changes
        declined = runner.invoke(app, extend, input=answer)
        assert declined.exit_code == 1, declined.output
        assert "2099-12-10 18:00 → 2099-12-25 23:59" in declined.output
        for said in ("确认后，这次征询将延长并重新开始", "没有答完的可以接着答", "重新生成一份最终报告",
                     "延长并重新开始征询 #1 吗？", "没有修改，征询 #1 仍是“已结束”状态。"):
            assert said in declined.output, (said, declined.output)
        assert listed() == ("closed", "2099-12-10T10:00")
    reopened = runner.invoke(app, extend, input="y\n")
    assert reopened.exit_code == 0, reopened.output
    assert reopened.output.strip().endswith("征询 #1 已重新开始，截止时间：2099-12-10 18:00 → 2099-12-25 23:59（星期五）。"
                                            "调度程序会在一分钟内安排提醒和自动结束。")
    assert listed() == ("open", "2099-12-25T15:59") and _list_statuses() == ["consulting"]
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    again = runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2099-12-31 18:00", "--yes"])
    assert again.exit_code == 0 and "[y/N]" not in again.output, again.output
    assert "Consultation #1 is open again, deadline 2099-12-25 23:59 → 2099-12-31 18:00 (Thursday)." in again.output
    assert listed() == ("open", "2099-12-31T10:00")
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0
    _set_status(1, Status.REPORTED)  # (as `lists publish` leaves it)
    refused = runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2100-01-10", "--yes"])
    assert refused.exit_code == 1
    assert "Consultation #1 is “feedback given”: its deadline can no longer change" in refused.output
    assert listed() == ("reported", "2099-12-31T10:00")


def test_consultation_deadline_refuses_to_reopen_one_whose_township_has_a_newer_published_list():
    import asyncio

    from surveys.consultation import Status

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    for n in (1, 2):  # two consultations on 青山镇's list, both closed
        assert runner.invoke(app, ["consultations", "create", "--title", f"t{n}", "--township", "青山镇",
                                   "--closes", "2099-12-10 18:00"]).exit_code == 0
        assert runner.invoke(app, ["consultations", "open", str(n)]).exit_code == 0
        assert runner.invoke(app, ["consultations", "close", str(n), "--yes"]).exit_code == 0

    async def publish_revision() -> None:  # the second one's revised list published (as `lists publish` does)
        from bot.db import database
        from storage.lists import save_list, set_status
        from surveys.duty_list import DutyItem, ListStatus, Part

        async with database() as sessions, sessions() as s:
            row = await save_list(s, "青山镇", [DutyItem(Part.BASIC, "修订后的事项", basis="法")])
            await set_status(s, row.id, ListStatus.PUBLISHED)
            await s.commit()

    asyncio.run(publish_revision())
    _set_status(2, Status.REPORTED)
    refused = runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2099-12-25"], input="y\n")
    assert refused.exit_code == 1 and "[y/N]" not in refused.output, refused.output  # refused before asking
    assert "征询 #1 不能延长或重新开始：青山镇的清单已经通过其他征询发布了更新的版本" in refused.output
    c = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]
    assert (c["status"], c["closes_at"][:16]) == ("closed", "2099-12-10T10:00")


def test_ids_beyond_the_id_columns_name_no_consultation_on_every_database(database, monkeypatch):
    """open, close, export, report and publish with an id no row can have (beyond 32 bits
    failed the statement on PostgreSQL, beyond 64 on SQLite) say it names no consultation."""
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("PSEUDONYM_KEY", "k" * 40)
    get_settings.cache_clear()
    for big in ("3000000000", str(10**20)):
        for args in (["consultations", "open", big], ["consultations", "close", big],
                     ["export", big, "--out", "x.xlsx"], ["report", big, "out"],
                     ["consultations", "deadline", big, "--closes", "2099-12-25"]):
            result = runner.invoke(app, args)
            assert result.exit_code == 1 and f"找不到征询 #{big}" in result.output, (args, result.output)
        result = runner.invoke(app, ["lists", "publish", "--consultation", big, "--township", "青山镇", "1"])
        assert result.exit_code == 1 and f"#{big}" in result.output, result.output


def test_a_title_longer_than_its_column_or_empty_is_refused_on_every_database(database, monkeypatch):
    """A title over 300 characters was stored on SQLite and failed the insert on PostgreSQL."""
    monkeypatch.setenv("DATABASE_URL", database.url)
    get_settings.cache_clear()
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    for title in ("长" * 301, "  "):
        result = runner.invoke(app, ["consultations", "create", "--title", title, "--township", "青山镇",
                                     "--closes", "2099-12-10 18:00"])
        assert result.exit_code == 2 and "标题不能为空，也不能超过 300 个字" in result.output, result.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output) == []
    result = runner.invoke(app, ["consultations", "create", "--title", " " + "长" * 300 + " ", "--township", "青山镇",
                                 "--closes", "2099-12-10 18:00"])
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[0]["title"] == "长" * 300


def test_consultation_with_a_broken_questionnaire_names_each_problems_place_once(tmp_path):
    # it said "q.yaml:4: [错误] 文件 q.yaml，第 4 行：…": the file and line twice
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    q = tmp_path / "q.yaml"
    q.write_text("id: d\ntitle: 问卷\nquestions:\n  - just a string\n", encoding="utf-8")
    result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                 "--closes", "2099-12-10 18:00", "--questionnaire", str(q)])
    assert result.exit_code == 1
    assert "q.yaml:4: [错误] 每个问题应写成“名称: 值”的形式" in result.output
    assert result.output.count("q.yaml") == 1


def test_a_questionnaire_file_that_cannot_be_read_is_named_not_a_traceback(tmp_path):
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    missing = tmp_path / "no-such.yaml"
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("id: 问卷\n".encode("gbk"))
    for path, said in ((missing, f"找不到文件：{missing}"), (gbk, f"无法读取 {gbk}：")):
        result = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                                     "--closes", "2099-12-10 18:00", "--questionnaire", str(path)])
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith(said), result.output
    assert json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output) == []
    checked = runner.invoke(app, ["questionnaire", "check", str(missing)])
    assert checked.exit_code == 2 and checked.output.strip() == f"找不到文件：{missing}"


def test_show_of_a_township_or_version_not_stored_says_which_not_that_nothing_was_imported():
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    for args, ref in ((["--township", "青山镇", "--version", "9"], "青山镇@9"), (["--township", "绿水镇"], "绿水镇")):
        result = runner.invoke(app, ["lists", "show", *args])
        assert result.exit_code == 1 and result.output.strip() == f"找不到清单：{ref}", result.output
        as_json = runner.invoke(app, ["lists", "show", *args, "--json"])  # as the text: nothing on stdout
        assert as_json.exit_code == 1 and as_json.stdout == "" and as_json.stderr.strip() == f"找不到清单：{ref}"
    assert runner.invoke(app, ["lists", "show", "--township", "青山镇", "--version", "1"]).exit_code == 0


def test_consultations_open_and_reopen_are_refused_while_the_township_is_consulted_on_another_version(tmp_path):
    from surveys.consultation import Status

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    create = ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10 18:00"]
    assert runner.invoke(app, create).exit_code == 0  # #1 on version 1
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    runner.invoke(app, ["lists", "import", str(_revised(tmp_path)), "--township", "青山镇"])  # version 2
    assert runner.invoke(app, create).exit_code == 0  # #2 on version 2
    refused = runner.invoke(app, ["consultations", "open", "2"])
    assert refused.exit_code == 1
    assert "征询 #2 没有开始，因为：\n· 征询 #1“t”正在就青山镇的第 1 版征求意见，这次征询用的是第 2 版" in refused.output
    assert "请等征询 #1 结束" in refused.output
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "open", "2"]).exit_code == 0  # #1 closed: #2 opens
    refused = runner.invoke(app, ["consultations", "deadline", "1", "--closes", "2099-12-25"], input="y\n")
    assert refused.exit_code == 1 and "[y/N]" not in refused.output, refused.output  # refused before asking
    assert "征询 #1 不能延长或重新开始，因为：\n· 征询 #2“t”正在就青山镇的第 2 版征求意见，这次征询用的是第 1 版" \
        in refused.output
    statuses = [c["status"] for c in json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)]
    assert statuses == [Status.CLOSED.value, Status.OPEN.value]


def test_show_all_lists_every_version_with_its_status_and_the_consultations_on_it(tmp_path):
    items = make_samples.build_sample_items()
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["lists", "import", str(make_samples.write_xlsx(items[:-1], tmp_path / "v2.xlsx")),
                        "--township", "青山镇", "--version", "修订稿"])
    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "绿水乡"])
    create = ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10 18:00"]
    assert runner.invoke(app, create).exit_code == 0  # on 修订稿
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    shown = runner.invoke(app, ["lists", "show", "--all"])
    assert shown.exit_code == 0, shown.output
    heads = [line for line in shown.output.splitlines() if line.startswith("清单 ")]
    assert heads == ["清单 3：绿水乡，第 1 版（草稿）", "清单 1：青山镇，第 1 版（草稿）", "清单 2：青山镇，“修订稿”（征询中）"]
    assert "  征询：#1（征询中）" in shown.output and "== " not in shown.output  # versions, not their items
    one = json.loads(runner.invoke(app, ["lists", "show", "--all", "--township", "青山镇", "--json"]).output)
    assert [(s["version"], s["consultations"]) for s in one] == [("1", []), ("修订稿", [1])]
    assert len(one[1]["items"]) == len(items) - 1


def test_lists_delete_removes_an_unused_draft_once_confirmed_and_refuses_a_used_or_published_one(monkeypatch,
                                                                                                   tmp_path):
    import asyncio

    from surveys.duty_list import ListStatus

    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])  # version 1, consulted below
    runner.invoke(app, ["lists", "import", str(_revised(tmp_path)), "--township", "青山镇"])  # version 2, a wrong import
    assert runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇",
                               "--closes", "2099-12-10 18:00"]).exit_code == 0  # #1 on version 2
    used = runner.invoke(app, ["lists", "delete", "--township", "青山镇", "--version", "2", "--yes"])
    assert used.exit_code == 1 and "不能删除青山镇的第 2 版：征询 #1（草稿）用的是这一版" in used.output, used.output

    def versions() -> list[str]:
        shown = json.loads(runner.invoke(app, ["lists", "show", "--all", "--json"]).output)
        return [f"{s['township']}@{s['version']}" for s in shown]

    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山真"])  # a typo township
    delete = ["lists", "delete", "--township", "青山真", "--version", "1"]
    for answer in ("n\n", ""):  # declined, or no answer (stdin closed): nothing deleted
        declined = runner.invoke(app, delete, input=answer)
        assert declined.exit_code == 1 and "删除青山真的第 1 版（清单编号 3，112 项）吗？" in declined.output
        assert "没有删除" in declined.output
        assert versions() == ["青山真@1", "青山镇@1", "青山镇@2"]
    deleted = runner.invoke(app, delete, input="y\n")
    assert deleted.exit_code == 0 and "已删除：青山真，第 1 版（清单编号 3）。" in deleted.output, deleted.output
    assert versions() == ["青山镇@1", "青山镇@2"]

    async def township_names() -> list[str]:
        from bot.db import database
        from storage.lists import townships

        async with database() as sessions, sessions() as s:
            return [t.name for t in await townships(s)]

    assert asyncio.run(township_names()) == ["青山镇"]  # no list left and nothing else on it: gone from the pickers
    again = runner.invoke(app, [*delete, "--yes"])
    assert again.exit_code == 1 and "找不到清单：青山真@1" in again.output

    async def publish(list_id: int) -> None:
        from bot.db import database
        from storage.lists import set_status

        async with database() as sessions, sessions() as s:
            await set_status(s, list_id, ListStatus.PUBLISHED)
            await s.commit()

    asyncio.run(publish(1))
    published = runner.invoke(app, ["lists", "delete", "--township", "青山镇", "--version", "1", "--yes"])
    assert published.exit_code == 1 and "不能删除青山镇的第 1 版：它的状态是“已发布”，只能删除草稿" in published.output
    assert versions() == ["青山镇@1", "青山镇@2"]
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇", "--version", "x"])
    en = runner.invoke(app, ["lists", "delete", "--township", "青山镇", "--version", "x", "--yes"])
    assert en.exit_code == 0 and "[y/N]" not in en.output and "Deleted: 青山镇, “x” (list id " in en.output
    assert versions() == ["青山镇@1", "青山镇@2"]


def test_a_list_of_one_item_is_one_item_in_english(tmp_path: Path, monkeypatch):
    """English counts the list's items as it counts errors: "1 item", not "1 items"."""
    from surveys.i18n import gettext

    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    one = tmp_path / "one.csv"
    one.write_text("部分,序号,事项名称,履职依据\n基本履职事项,1,人民调解,《人民调解法》\n", encoding="utf-8")
    linted = runner.invoke(app, ["lists", "lint", str(one)])
    assert linted.exit_code == 0 and "1 item: 1 basic, 0 cooperating, 0 withdrawn." in linted.output
    assert "112 items: 46 basic" in runner.invoke(app, ["lists", "lint", str(SAMPLE_XLSX)]).output
    # the same count as the chat gives it, when the organizer sends the file and when it is stored
    assert gettext("organizer.import-head", "en", file="f", total=1, basic=1, cooperating=0,
                   withdrawn=0).startswith("List file “f”: 1 item (")
    assert "version 2, 1 item." in gettext("organizer.import-done", "en", township="t", version="2", total=1)


def test_lists_delete_of_a_version_two_consultations_use_names_them_in_the_plural(monkeypatch):
    """'consultation #1 (draft), #2 (draft) uses it': the refusal now agrees with how many use it."""
    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇"])
    create = ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10 18:00"]
    assert runner.invoke(app, create).exit_code == 0
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    delete = ["lists", "delete", "--township", "青山镇", "--version", "1", "--yes"]
    one = runner.invoke(app, delete)
    assert one.exit_code == 1 and "Cannot delete 青山镇 version 1: consultation #1 (draft) uses it." in one.output
    assert runner.invoke(app, create).exit_code == 0
    two = runner.invoke(app, delete)
    assert two.exit_code == 1, two.output
    assert "Cannot delete 青山镇 version 1: consultations #1 (draft), #2 (draft) use it." in two.output, two.output
    monkeypatch.setenv("LOCALE", "zh_CN")
    get_settings.cache_clear()
    assert "征询 #1（草稿）、#2（草稿）用的都是这一版" in runner.invoke(app, delete).output


def test_a_version_label_is_stored_without_the_spaces_around_it_as_in_the_chat(tmp_path):
    """`--version " 2026修订稿 "` was stored with its spaces (the chat's caption is trimmed):
    `lists show --version 2026修订稿` then found nothing, and " 1 " could sit beside "1"."""
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert runner.invoke(app, ["lists", "import", str(_revised(tmp_path)), "--township", "青山镇",
                               "--version", " 2026修订稿 "]).exit_code == 0
    shown = runner.invoke(app, ["lists", "show", "--township", "青山镇", "--version", "2026修订稿", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)[0]["version"] == "2026修订稿"
    again = runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇", "--version", " 1 "])
    assert again.exit_code == 1 and "已存在" in again.output


def test_show_leaves_out_the_brackets_of_an_item_without_a_category(tmp_path):
    # a cooperating sheet without a 领域 column was shown as "1  [] 消防安全检查…"
    path = tmp_path / "配合履职事项.csv"
    path.write_text("序号,事项名称,对应上级部门\n1,消防安全检查与火灾隐患整治,县消防救援大队\n", encoding="utf-8")
    assert runner.invoke(app, ["lists", "import", str(path), "--township", "青山镇"]).exit_code == 0
    shown = runner.invoke(app, ["lists", "show", "--township", "青山镇"]).output
    assert "     1  消防安全检查与火灾隐患整治" in shown.splitlines() and "[]" not in shown


def test_consultations_open_and_close_say_what_to_do_next():
    # `consultations open` said only 征询 #1 已开始。 and `close` 征询 #1 已结束。: not where the links
    # are, nor how the report and the revised list follow
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10"])
    opened = runner.invoke(app, ["consultations", "open", "1"])
    assert opened.exit_code == 0 and "qingdan links 1" in opened.output
    closed = runner.invoke(app, ["consultations", "close", "1", "--yes"])
    assert closed.exit_code == 0 and "qingdan report 1" in closed.output
    assert "qingdan lists publish --consultation 1" in closed.output


def test_consultations_create_takes_townships_written_in_one_option_separated_by_commas():
    # --township "青山镇,绿水乡" was looked up as one township named 青山镇,绿水乡 and refused
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "绿水乡"])
    for n, value in enumerate(("青山镇,绿水乡", "青山镇、绿水乡", "青山镇，绿水乡 ")):
        result = runner.invoke(app, ["consultations", "create", "--title", "两镇", "--township", value,
                                     "--closes", "2099-12-10"])
        assert result.exit_code == 0, result.output
        listed = json.loads(runner.invoke(app, ["consultations", "list", "--json"]).output)[n]
        assert sorted(link["township"] for link in listed["links"]) == ["绿水乡", "青山镇"]
    refused = runner.invoke(app, ["consultations", "create", "--title", "t", "--township", " , ", "--closes", "2099-12-10"])
    assert refused.exit_code == 2 and "不能为空" in refused.output


def test_import_says_when_it_made_a_new_township_and_how_to_undo_a_typo(tmp_path):
    # `--township 青山` (for 青山镇) made a second township without a word: the revised list then
    # sat beside the consulted one, and `consultations create --township 青山镇` used the old list
    first = runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    assert first.exit_code == 0 and "新乡镇" not in first.output  # the first of all: nothing to mistake it for
    typo = runner.invoke(app, ["lists", "import", str(_revised(tmp_path)), "--township", "青山"])
    assert typo.exit_code == 0
    assert "新乡镇" in typo.output and "青山镇" in typo.output  # the townships there were
    assert "qingdan lists delete --township 青山 --version 1" in typo.output
    again = runner.invoke(app, ["lists", "import", str(SAMPLE_CSV), "--township", "青山镇"])
    assert again.exit_code == 1 or "新乡镇" not in again.output  # (the same list again: refused)
    second = runner.invoke(app, ["lists", "import", str(make_samples.write_xlsx(
        make_samples.build_sample_items()[:-2], tmp_path / "r2.xlsx")), "--township", "青山镇"])
    assert second.exit_code == 0 and "新乡镇" not in second.output


def test_a_list_not_found_exits_1_in_diff_and_publish_as_in_show_and_delete_and_the_help_says_so(tmp_path,
                                                                                                  monkeypatch):
    """`lists diff` exited 2 for a list not stored (and for a file with errors in its rows) where
    `lists show`/`lists delete` exit 1; `lists publish` exited 2 for a consultation, township or
    version not found. Exit codes: 1 refused or not found, 2 wrong usage or unreadable."""
    assert runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"]).exit_code == 0
    for args in (["diff", "青山镇@1", "青山镇@9"], ["diff", "绿水镇", "青山镇@1"], ["show", "--township", "绿水镇"],
                 ["delete", "--township", "青山镇", "--version", "9", "--yes"]):
        result = runner.invoke(app, ["lists", *args])
        assert result.exit_code == 1 and "找不到清单" in result.output, (args, result.output)
    unknown_part = tmp_path / "unknown_part.csv"
    unknown_part.write_text("部分,序号,事项名称\n杂项,1,某事项\n", encoding="utf-8")
    for command in ("diff", "lint"):  # a file with an error in a row: the same exit code from both
        args = ["diff", "青山镇@1", str(unknown_part)] if command == "diff" else ["lint", str(unknown_part)]
        result = runner.invoke(app, ["lists", *args])
        assert result.exit_code == 1 and "杂项" in result.output, (command, result.output)
    word = tmp_path / "draft.xlsx"
    word.write_bytes(b"%PDF-1.4 not a table")
    assert runner.invoke(app, ["lists", "diff", "青山镇@1", str(word)]).exit_code == 2
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST")
    get_settings.cache_clear()
    for args in (["--consultation", "7", "--township", "青山镇", "1"],):
        result = runner.invoke(app, ["lists", "publish", *args])
        assert result.exit_code == 1 and "找不到征询 #7" in result.output, result.output
    for env, says in (({"LOCALE": "zh_CN"}, "1 被拒绝：文件有错误，找不到清单"),
                      ({"LOCALE": "en"}, "1 refused: errors in the file, a list, township or consultation not found")):
        shown = CliRunner().invoke(app, ["lists", "--help"], env={"COLUMNS": "400", **env})
        assert says in shown.output, (env, shown.output)


def test_a_large_list_with_one_column_empty_throughout_is_one_screen_with_the_true_totals(tmp_path):
    """10,000 items without a basis, half of them twice: `lists lint` printed 15,000 lines (the
    import's own problems were capped at 200 of a kind, the lint's not), and where the import's were
    capped the totals counted the summary line as one problem. Now both are capped alike and the
    totals count every problem."""
    from surveys.importer import MAX_PROBLEMS

    path = tmp_path / "基本履职事项.csv"
    lines = ["序号,事项名称,履职依据"] + [f"{i},事项{i % 5000},," for i in range(1, 10001)]
    path.write_bytes("\n".join(lines).encode("gbk"))
    result = runner.invoke(app, ["lists", "lint", str(path)])
    assert result.exit_code == 1
    out = result.output.splitlines()
    assert len(out) == 2 * MAX_PROBLEMS + 4, len(out)  # the summary, 200 + 200 problems, 2 "还有", the totals
    assert "还有 9800 处" in result.output and "还有 4800 处" in result.output
    assert out[-1] == "检查完毕：5000 个错误，10000 个提示。"
    data = json.loads(runner.invoke(app, ["lists", "lint", str(path), "--json"]).output)
    assert len(data["problems"]) == 2 * MAX_PROBLEMS + 2


def test_consultations_close_leaves_the_organizers_a_note_that_the_command_line_closed_it(monkeypatch):
    import asyncio

    from bot.db import database
    from bot.routers.organizer import _RENDERS
    from storage.models import Delivery, Outbox

    monkeypatch.setenv("ORGANIZER_IDS", "900001,900002")
    get_settings.cache_clear()
    runner.invoke(app, ["lists", "import", str(SAMPLE_XLSX), "--township", "青山镇"])
    runner.invoke(app, ["consultations", "create", "--title", "t", "--township", "青山镇", "--closes", "2099-12-10"])
    assert runner.invoke(app, ["consultations", "open", "1"]).exit_code == 0
    assert runner.invoke(app, ["consultations", "close", "1", "--yes"]).exit_code == 0

    async def kept():
        import sqlalchemy as sa

        async with database() as sessions, sessions() as s:
            [row] = (await s.scalars(sa.select(Outbox))).all()
            to = sorted((await s.scalars(sa.select(Delivery.person_id))).all())
            return row.kind, dict(row.payload), to

    kind, payload, to = asyncio.run(kept())
    assert to == [900001, 900002]
    zh = _RENDERS[kind](payload, {})(900001).text
    en = _RENDERS[kind](payload, {900002: "en"})(900002).text
    assert "命令行" in zh and "#1" in zh and "提前结束" in zh
    assert "command line" in en and "#1" in en
