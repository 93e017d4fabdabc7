"""Old Excel 97–2003 workbooks (.xls) are read as .xlsx workbooks are (with python-calamine).

The .xls fixtures in tests/surveys/xls/ were generated once with xlwt (no maintained library
writes .xls, and LibreOffice is not at hand): `python tests/surveys/xls/make_fixtures.py`, with
xlwt installed, writes them again from the drafts that script holds. The tests build the same
drafts as .xlsx with openpyxl and compare.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from surveys.duty_list import Part
from surveys.importer import read_duty_list
from tests.surveys.xls.make_fixtures import ERRORS, MIXED, SAMPLE_XLSX, write_xlsx

XLS = Path(__file__).resolve().parent / "xls"


def _items(result) -> list[dict]:
    return [dataclasses.asdict(i) for i in result.items]


def test_the_sample_draft_as_xls_gives_the_same_items_as_the_xlsx() -> None:
    xlsx = read_duty_list(SAMPLE_XLSX)
    xls = read_duty_list(XLS / "sample_draft.xls")
    assert xls.ok, xls.render("en")
    assert len(xls.items) == 112
    assert _items(xls) == _items(xlsx)
    assert [p.rule for p in xls.problems] == [p.rule for p in xlsx.problems]
    assert xls.encoding == "xls"
    assert xls.columns == xlsx.columns


def test_dates_numbers_merged_cells_and_a_hidden_sheet_read_as_in_the_xlsx(tmp_path) -> None:
    write_xlsx(MIXED, tmp_path / "mixed.xlsx")
    xlsx = read_duty_list(tmp_path / "mixed.xlsx")
    xls = read_duty_list(XLS / "mixed.xls")
    assert _items(xls) == _items(xlsx)
    assert [(i.seq, i.category, i.remarks) for i in xls.items] == [
        (1, "党的建设", "2024-03-01"), (2, "党的建设", "2.5"), (3, "民生服务", "12"), (4, "平安法治", "第二十条")]
    assert [(p.rule, p.sheet) for p in xls.problems] == [("import.hidden-sheet-skipped", "旧稿")]
    assert [(p.rule, p.sheet) for p in xlsx.problems] == [("import.hidden-sheet-skipped", "旧稿")]


def test_an_xls_with_errors_imports_nothing_and_names_sheet_row_and_column(tmp_path) -> None:
    xls = read_duty_list(XLS / "errors.xls")
    assert not xls.ok and xls.items == []
    [error] = xls.errors
    assert (error.rule, error.sheet, error.row, error.column) == ("import.unknown-part", "清单", 4, "部分")
    assert xls.render("zh_CN")[0].startswith("[错误] 文件 errors.xls，工作表“清单”，第 4 行，列“部分”：“其他”不是")
    write_xlsx(ERRORS, tmp_path / "errors.xlsx")
    xlsx = read_duty_list(tmp_path / "errors.xlsx")
    assert [(p.rule, p.sheet, p.row, p.column) for p in xlsx.problems] == \
        [(p.rule, p.sheet, p.row, p.column) for p in xls.problems]


def test_a_corrupt_xls_is_told_so_with_the_steps_and_imports_nothing() -> None:
    data = (XLS / "sample_draft.xls").read_bytes()
    for broken in (data[: len(data) // 2], data[:512] + bytes(len(data) - 512),
                   b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)):
        result = read_duty_list(broken, filename="青山镇清单.xls")
        assert result.items == []
        assert [p.rule for p in result.problems] == ["import.xls-corrupt"], result.render("en")
        said, en = result.problems[0].message("zh_CN"), result.problems[0].message("en")
        assert "损坏或不完整" in said and "Excel 工作簿（*.xlsx）" in said
        assert "damaged or incomplete" in en and "Excel Workbook (*.xlsx)" in en


def test_an_xls_saved_under_an_xlsx_name_is_read_and_the_name_is_questioned() -> None:
    result = read_duty_list((XLS / "sample_draft.xls").read_bytes(), filename="清单.xlsx")
    assert len(result.items) == 112
    assert [p.rule for p in result.problems] == ["import.extension-mismatch"]
    assert ".xls" in result.problems[0].message("zh_CN")


def test_an_et_file_that_holds_an_xls_workbook_is_read() -> None:
    # WPS saves .et files of its own format, but an .xls renamed .et (or saved by WPS in the
    # Excel 97–2003 format under .et) is an .xls inside: read it; one calamine cannot read keeps
    # the advice to save it as .xlsx from WPS (tests/surveys/test_import_bad.py)
    result = read_duty_list((XLS / "sample_draft.xls").read_bytes(), filename="清单.et")
    assert result.ok and len(result.items) == 112 and result.encoding == "et"
    assert {i.part for i in result.items} == set(Part)
