"""`qingdan export` and `qingdan report` on a SQLite file named by DATABASE_URL: the
workbook, the charts and the feedback report are written, people only as pseudonyms."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from bot.config import get_settings
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade
from surveys.charts import PNG_SIGNATURE
from surveys.report import pseudonym
from tests.storage.test_reports import seed

runner = CliRunner()
KEY = "cli-export-key"


async def _seed(url: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await seed(session)
    finally:
        await engine.dispose()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, str], int]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    consultation_id = asyncio.run(_seed(url))
    environment = {"DATABASE_URL": url, "PSEUDONYM_KEY": KEY, "TIMEZONE": "Asia/Shanghai", "LOCALE": "zh_CN"}
    for k, v in environment.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    get_settings.cache_clear()
    yield environment, consultation_id
    get_settings.cache_clear()


def test_export_writes_the_workbook(env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    from bot.cli import app

    environment, cid = env
    out = tmp_path / "out" / "results.xlsx"
    result = runner.invoke(app, ["export", str(cid), "--out", str(out)], env=environment)
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(io.BytesIO(out.read_bytes()))
    assert wb.sheetnames[:2] == ["概况", "问卷结果"]
    texts = list(wb["文字意见"].iter_rows(values_only=True))
    assert ("say", "建议", "多办实事", "青山镇", pseudonym(KEY, 1001)) in texts
    cells = {str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert not cells & {"1001", "1002", "2001", "2002"}


def test_report_writes_workbook_charts_and_feedback(env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    from bot.cli import app

    environment, cid = env
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", str(cid), str(out)], env=environment)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    # the workbook and the 反馈情况说明 named as /export sends them in the chat (not consultation-N.xlsx
    # beside a translated name), the charts in the same language
    assert {f"征询{cid}结果汇总.xlsx", f"征询{cid}问卷填写情况.png", f"征询{cid}意见处理情况.png",
            f"征询{cid}评分题sat.png", f"征询{cid}反馈情况说明.txt"} <= names
    assert not [name for name in names if name.isascii()]
    assert (out / f"征询{cid}问卷填写情况.png").read_bytes().startswith(PNG_SIGNATURE)
    assert openpyxl.load_workbook(out / f"征询{cid}结果汇总.xlsx").sheetnames[0] == "概况"
    raw = (out / f"征询{cid}反馈情况说明.txt").read_bytes()
    # a byte-order mark and CRLF: Notepad before Windows 10 (1809/1903) shows plain UTF-8 as GBK
    # mojibake and LF-only text on one line
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    text = raw.decode("utf-8-sig")
    assert "共收到意见 4 条，其中采纳 1 条、部分采纳 0 条、不采纳 1 条，尚未答复 2 条" in text


def test_an_unknown_consultation_exits_1(env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    from bot.cli import app

    environment, _ = env
    result = runner.invoke(app, ["export", "999", "--out", str(tmp_path / "x.xlsx")], env=environment)
    assert result.exit_code == 1 and "找不到征询 #999" in result.output
    assert not (tmp_path / "x.xlsx").exists()


def test_report_in_english_names_every_file_in_english(env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    from bot.cli import app

    environment, cid = env
    out = tmp_path / "report-en"
    result = runner.invoke(app, ["report", str(cid), str(out)], env={**environment, "LOCALE": "en"})
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {f"consultation-{cid}-results.xlsx", f"consultation-{cid}-feedback.txt",
            f"consultation-{cid}-completion.png", f"consultation-{cid}-comments.png",
            f"consultation-{cid}-scale-sat.png"} <= names
    assert not [name for name in names if "征询" in name]
    text = (out / f"consultation-{cid}-feedback.txt").read_text(encoding="utf-8-sig")
    assert text.startswith("Feedback report on the consultation")


def test_a_place_that_cannot_be_written_is_named_not_a_traceback(env: tuple[dict[str, str], int], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """--out naming a folder, or a report folder that is a file: the path and why, exit 2."""
    from bot.cli import app

    environment, cid = env
    folder = tmp_path / "results"
    folder.mkdir()
    exported = runner.invoke(app, ["export", str(cid), "--out", str(folder)], env=environment)
    a_file = tmp_path / "report.txt"
    a_file.write_text("x", encoding="utf-8")
    reported = runner.invoke(app, ["report", str(cid), str(a_file)], env=environment)
    for result, path in ((exported, folder), (reported, a_file)):
        assert result.exit_code == 2 and not isinstance(result.exception, OSError), result.output
        assert result.output.strip().startswith(f"无法写入 {path}："), result.output
    assert list(folder.iterdir()) == [] and a_file.read_text(encoding="utf-8") == "x"
    monkeypatch.setenv("BOT_USERNAME", "qingdan_test_bot")
    get_settings.cache_clear()
    qr = runner.invoke(app, ["links", str(cid), "--out", str(a_file)])
    assert qr.exit_code == 2 and qr.output.strip().startswith(f"无法写入 {a_file}："), qr.output


async def _report_of_a_township_never_consulted(url: str) -> None:
    from datetime import UTC, datetime

    from storage.comments import add_report
    from storage.models import Township

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            town = Township(name="黄石镇")
            session.add(town)
            await session.flush()
            await add_report(session, person_id=3001, township_id=town.id, consultation_id=None,
                             department="县文旅局", task="代办景区门票核验", assigned_on="2026-11-02", method="phone",
                             details="电话通知，无文件", now=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
            await session.commit()
    finally:
        await engine.dispose()


def test_offlist_writes_every_report_those_of_a_township_never_consulted_too(
        env: tuple[dict[str, str], int], tmp_path: Path) -> None:
    """A report filed in a township no consultation ever covered goes with none: neither
    /export nor `qingdan export`/`report` shows it; `qingdan offlist` does."""
    from bot.cli import app

    environment, cid = env
    asyncio.run(_report_of_a_township_never_consulted(environment["DATABASE_URL"]))
    out = tmp_path / "offlist.xlsx"
    result = runner.invoke(app, ["offlist", "--out", str(out)], env=environment)
    assert result.exit_code == 0, result.output
    rows = list(openpyxl.load_workbook(out)["清单外事项"].iter_rows(values_only=True))
    assert rows[0][:3] == ("所属征询", "乡镇（街道）", "相关部门")
    never = [r for r in rows if r[1] == "黄石镇"]
    assert never == [("无（该乡镇尚未开始征询）", "黄石镇", "县文旅局", "代办景区门票核验", "2026-11-02", "电话",
                      "电话通知，无文件", pseudonym(KEY, 3001), datetime(2026, 11, 3, 10, 0))]
    consulted = [r for r in rows[1:] if r[1] != "黄石镇"]
    assert consulted and all(str(r[0]).startswith(f"#{cid}《") for r in consulted)
    assert "3001" not in {str(c) for r in rows for c in r}

    only = tmp_path / "only.xlsx"
    result = runner.invoke(app, ["offlist", "--out", str(only), "--township", "黄石镇"], env=environment)
    assert result.exit_code == 0, result.output
    assert [r[1] for r in openpyxl.load_workbook(only)["清单外事项"].iter_rows(min_row=2, values_only=True)] == ["黄石镇"]

    unknown = tmp_path / "unknown.xlsx"
    result = runner.invoke(app, ["offlist", "--out", str(unknown), "--township", "黑石镇"], env=environment)
    assert result.exit_code == 1 and "找不到乡镇“黑石镇”" in result.output
    assert not unknown.exists()
