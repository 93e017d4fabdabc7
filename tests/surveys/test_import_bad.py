"""Importing bad input: every broken or wrong file comes back as clear problems
that say where the trouble is, with no items, and nothing ever raises."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from surveys.duty_list import DutyItem, Part
from surveys.importer import MAX_CELL_CHARS, ImportResult, read_duty_list
from surveys.problems import Severity
from surveys.samples.make_samples import HERE, build_sample_items, write_xlsx

SAMPLE_XLSX = HERE / "sample_draft.xlsx"


def _only_error(result: ImportResult, rule: str) -> None:
    """The import failed with exactly one error, of `rule`, and gave no items."""
    assert not result.ok
    assert result.items == []
    errors = [p for p in result.problems if p.severity == Severity.ERROR]
    assert [p.rule for p in errors] == [rule], result.render()


def _sheet(path: Path, rows: list[list[object]], title: str = "基本履职事项") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "清单.xlsx"
    path.write_bytes(b"")
    result = read_duty_list(path)
    _only_error(result, "import.empty-file")
    assert result.problems[0].file == "清单.xlsx"
    assert "清单.xlsx" in result.problems[0].render()
    assert "空" in result.problems[0].message("zh_CN")
    assert "empty" in result.problems[0].message("en")


def test_whitespace_only_csv_is_empty() -> None:
    _only_error(read_duty_list(b"\xef\xbb\xbf \r\n\r\n", filename="a.csv"), "import.empty-file")


def test_docx_renamed_xlsx() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        zf.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    result = read_duty_list(buf.getvalue(), filename="清单.xlsx")
    # drafts often circulate as Word tables: "save it as .xlsx from Excel" is no way forward for a
    # .docx, which Excel does not open; the message says to copy the table into a sheet
    _only_error(result, "import.word-document")
    problem = result.problems[0]
    assert problem.file == "清单.xlsx"
    assert "Word" in problem.message("zh_CN") and "不是 Excel 工作簿或 CSV 文件" in problem.message("zh_CN")
    assert "复制" in problem.message("zh_CN") and "copy" in problem.message("en").lower()
    assert "not an Excel workbook or CSV file" in problem.message("en")


def test_plain_zip_renamed_xlsx() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("清单/说明.txt", "见附件")
    result = read_duty_list(buf.getvalue(), filename="a.xlsx")
    _only_error(result, "import.not-a-table")
    assert "ZIP" in result.problems[0].message()


def test_png_renamed_xlsx() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200)
    result = read_duty_list(png, filename="截图.xlsx")
    _only_error(result, "import.not-a-table")
    assert "PNG" in result.problems[0].message("zh_CN")
    assert result.problems[0].file == "截图.xlsx"


def test_an_ole_file_that_is_no_readable_xls() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    result = read_duty_list(ole, filename="清单.xls")
    _only_error(result, "import.xls-corrupt")
    assert ".xlsx" in result.problems[0].message("zh_CN")


def test_truncated_workbook() -> None:
    data = SAMPLE_XLSX.read_bytes()
    result = read_duty_list(data[: len(data) // 2], filename="下载一半.xlsx")
    _only_error(result, "import.corrupt-file")
    assert result.problems[0].file == "下载一半.xlsx"
    assert "损坏或不完整" in result.problems[0].message("zh_CN")
    assert "damaged or incomplete" in result.problems[0].message("en")


def test_corrupt_member_inside_workbook() -> None:
    data = bytearray(SAMPLE_XLSX.read_bytes())
    # Flip bytes in the middle of the first compressed member, leaving the zip structure intact.
    start = 30 + data[26] + (data[27] << 8) + data[28] + (data[29] << 8)
    for i in range(start + 10, start + 60):
        data[i] ^= 0xFF
    _only_error(read_duty_list(bytes(data), filename="坏.xlsx"), "import.corrupt-file")


def test_workbook_without_its_parts() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    _only_error(read_duty_list(buf.getvalue(), filename="a.xlsx"), "import.corrupt-file")


def _patched(data: bytes, member: str, change) -> bytes:
    """A copy of the workbook `data` with one part's XML changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info)
            zout.writestr(info.filename, change(part) if info.filename == member else part)
    return out.getvalue()


def _small_list(tmp_path: Path) -> bytes:
    return _sheet(tmp_path / "l.xlsx", [["序号", "事项名称", "履职依据"], [1, "发展党员", "《细则》"]]).read_bytes()


def test_a_stray_cell_far_from_the_list_is_refused_before_the_workbook_is_built(tmp_path, monkeypatch) -> None:
    # In Excel's last cell, XFD1048576, it made openpyxl build 17 billion cells from a 5 KB file.
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_CELLS", 10_000)
    data = _patched(_small_list(tmp_path), "xl/worksheets/sheet1.xml", lambda x: x.replace(
        b"</sheetData>", b'<row r="2000"><c r="Z2000" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'))
    result = read_duty_list(data, filename="清单.xlsx")
    _only_error(result, "import.sheet-too-big")
    assert result.problems[0].params == {"cell": "Z2000", "limit": 10_000}
    assert "Z2000" in result.problems[0].message("zh_CN") and "Ctrl+End" in result.problems[0].message("en")


def test_a_merged_range_far_beyond_the_list_is_refused(tmp_path, monkeypatch) -> None:
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_CELLS", 10_000)
    data = _patched(_small_list(tmp_path), "xl/worksheets/sheet1.xml", lambda x: x.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="D1:Z2000"/></mergeCells>'))
    result = read_duty_list(data, filename="清单.xlsx")
    _only_error(result, "import.sheet-too-big")
    assert result.problems[0].params["cell"] == "Z2000"


def test_one_sheet_listed_many_times_counts_each_time(tmp_path, monkeypatch) -> None:
    import re

    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_CELLS", 10_000)
    rows = [["序号", "事项名称", "履职依据"]] + [[i, f"事项{i}", "《细则》"] for i in range(1, 1001)]
    data = _sheet(tmp_path / "l.xlsx", rows).read_bytes()  # 3,003 cells, listed 4 times: 12,012

    def listed_four_times(xml: bytes) -> bytes:
        entry = re.search(rb"<sheet [^>]*?/>", xml).group(0)
        return xml.replace(entry, b"".join(entry.replace(b'name="', b'name="%d' % k, 1)
                                           .replace(b'sheetId="1"', b'sheetId="%d"' % (k + 1)) for k in range(4)))

    result = read_duty_list(_patched(data, "xl/workbook.xml", listed_four_times), filename="清单.xlsx")
    _only_error(result, "import.workbook-too-complex")
    assert result.problems[0].params == {"member": "xl/workbook.xml", "limit": 10_000}


def test_styles_of_too_many_elements_are_refused_before_openpyxl_builds_them(tmp_path, monkeypatch) -> None:
    # 3,000,000 cell formats (136 KB zipped) took openpyxl 81 s and 2.3 GB.
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_PART_ELEMENTS", 5_000)
    data = _patched(_small_list(tmp_path), "xl/styles.xml",
                    lambda x: x.replace(b"</cellXfs>", b'<xf numFmtId="0"/>' * 6_000 + b"</cellXfs>"))
    result = read_duty_list(data, filename="清单.xlsx")
    _only_error(result, "import.workbook-too-complex")
    assert result.problems[0].params == {"member": "xl/styles.xml", "limit": 5_000}
    assert "工作簿" in result.problems[0].message("zh_CN") and "too complex" in result.problems[0].message("en")


def test_entity_expansion_in_a_workbook_part_is_refused_not_expanded(tmp_path) -> None:
    lol = b'<!DOCTYPE l [<!ENTITY l0 "lollollollollollollollollollol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10)) + b"]>"
    data = _patched(_small_list(tmp_path), "xl/worksheets/sheet1.xml",
                    lambda x: lol + x.replace("发展党员".encode(), b"&l9;", 1))
    _only_error(read_duty_list(data, filename="清单.xlsx"), "import.corrupt-file")


def test_csv_in_utf16_without_bom() -> None:
    data = "序号,事项名称,部分\n1,信访事项受理和办理,基本\n".encode("utf-16-le")
    result = read_duty_list(data, filename="清单.csv")
    _only_error(result, "import.unknown-encoding")
    assert "编码" in result.problems[0].message("zh_CN")
    assert "encoding" in result.problems[0].message("en")
    assert result.problems[0].file == "清单.csv"


def test_csv_of_random_high_bytes() -> None:
    data = bytes(b for b in range(0x80, 0x100)) * 8
    _only_error(read_duty_list(data, filename="清单.csv"), "import.unknown-encoding")


def test_text_without_a_header() -> None:
    result = read_duty_list("各村：\n请于6月底前报送。\n".encode(), filename="通知.csv")
    _only_error(result, "import.no-header")


def test_missing_required_column(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "m.xlsx", [["青山镇基本履职事项"], ["序号", "领域", "履职依据"],
                                        [1, "党的建设", "《中国共产党发展党员工作细则》"]])
    result = read_duty_list(path)
    _only_error(result, "import.missing-column")
    problem = result.problems[0]
    assert (problem.sheet, problem.row) == ("基本履职事项", 2)
    assert "事项名称" in problem.message("zh_CN") and "事项名称" in problem.message("en")
    assert "工作表“基本履职事项”" in problem.render("zh_CN")


def test_duplicate_header(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "d.xlsx", [["序号", "事项名称", "履职依据", "履职依据"],
                                        [1, "信访事项受理和办理", "《信访工作条例》", ""]], title="基本")
    result = read_duty_list(path)
    _only_error(result, "import.duplicate-column")
    problem = result.problems[0]
    assert (problem.sheet, problem.row, problem.column) == ("基本", 1, "履职依据")
    assert "履职依据" in problem.message("zh_CN") and "履职依据" in problem.message("en")


def test_two_headers_meaning_the_same_column(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "d.xlsx", [["序号", "事项名称", "依据", "理由"], [1, "甲事项", "a", "b"]])
    result = read_duty_list(path)
    _only_error(result, "import.conflicting-columns")
    assert result.problems[0].column == "理由"
    assert "依据" in result.problems[0].message()


def test_cell_of_a_hundred_thousand_characters(tmp_path: Path) -> None:
    items = build_sample_items()[:5]
    path = write_xlsx(items, tmp_path / "long.xlsx", blank_row_after=None)
    wb = load_workbook(path)
    wb["基本履职事项"]["E5"] = "依" * 100_000  # 履职依据 of the third basic item
    wb.save(path)
    result = read_duty_list(path)
    _only_error(result, "import.cell-too-long")
    problem = result.problems[0]
    assert (problem.sheet, problem.row, problem.column) == ("基本履职事项", 5, "履职依据")
    # openpyxl keeps at most Excel's 32,767 characters of a cell; still far over the limit.
    assert problem.params["length"] >= 32_767 and problem.params["limit"] == MAX_CELL_CHARS
    assert str(problem.params["length"]) in problem.message("zh_CN")
    assert str(MAX_CELL_CHARS) in problem.message("en")
    assert "第 5 行" in problem.render("zh_CN") and "列“履职依据”" in problem.render("zh_CN")


def test_cell_of_a_hundred_thousand_characters_in_csv() -> None:
    text = "序号,事项名称,部分\n1,信访事项受理和办理,基本\n2," + "长" * 100_000 + ",基本\n"
    result = read_duty_list(text.encode(), filename="a.csv")
    _only_error(result, "import.cell-too-long")
    problem = result.problems[0]
    assert (problem.row, problem.column, problem.params["length"]) == (3, "事项名称", 100_000)
    assert "100000" in problem.message("zh_CN") and "100000" in problem.message("en")


def test_formula_without_a_cached_value(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "f.xlsx", [["序号", "事项名称", "履职依据"],
                                        [1, '=CONCATENATE("信访","事项")', "《信访工作条例》"]])
    result = read_duty_list(path)
    _only_error(result, "import.formula-without-value")
    problem = result.problems[0]
    assert (problem.sheet, problem.row, problem.column) == ("基本履职事项", 2, "事项名称")
    assert "CONCATENATE" in problem.message("zh_CN")
    assert "Excel" in problem.message("en")


def test_unknown_value_in_the_part_column(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "p.xlsx", [["部分", "事项名称"], ["基本", "甲事项"], ["其他", "乙事项"]],
                  title="清单")
    result = read_duty_list(path)
    _only_error(result, "import.unknown-part")
    problem = result.problems[0]
    assert (problem.row, problem.column, problem.params["value"]) == (3, "部分", "其他")


def test_sheet_that_does_not_say_its_part(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "s.xlsx", [["序号", "事项名称"], [1, "甲事项"]], title="Sheet1")
    result = read_duty_list(path)
    _only_error(result, "import.unknown-sheet-part")
    assert result.problems[0].sheet == "Sheet1"
    assert "部分" in result.problems[0].message("zh_CN")


def test_notes_sheet_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write_xlsx(build_sample_items()[:3], tmp_path / "n.xlsx")
    wb = load_workbook(path)
    wb.create_sheet("填表说明").append(["请按县委编办要求填写。"])
    wb.save(path)
    result = read_duty_list(path)
    assert result.ok and len(result.items) == 3
    assert [(p.rule, p.sheet) for p in result.problems] == [("import.sheet-skipped", "填表说明")]


def test_workbook_with_header_but_no_items(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "e.xlsx", [["序号", "事项名称"]])
    _only_error(read_duty_list(path), "import.no-items")


def test_missing_path_is_reported_not_raised(tmp_path: Path) -> None:
    _only_error(read_duty_list(tmp_path / "nope.xlsx"), "import.unreadable")


def test_errors_across_rows_are_all_reported(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "p.xlsx", [["部分", "事项名称"], ["其他", "甲"], ["基本", "乙"], ["？", "丙"]],
                  title="清单")
    result = read_duty_list(path)
    assert result.items == []
    assert [p.row for p in result.errors] == [2, 4]


def test_twenty_thousand_rows_with_one_bad_cell_names_it(tmp_path: Path) -> None:
    items = [DutyItem(Part.BASIC, f"第{i}项", seq=i, basis="《依据》") for i in range(1, 20_001)]
    items[15_000].remarks = "注" * (MAX_CELL_CHARS + 1)
    path = write_xlsx(items, tmp_path / "big.xlsx", blank_row_after=None)
    result = read_duty_list(path)
    _only_error(result, "import.cell-too-long")
    assert (result.problems[0].row, result.problems[0].column) == (15_003, "备注")


def test_more_errors_of_one_kind_than_are_listed_are_counted(monkeypatch) -> None:
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_PROBLEMS", 20)
    rows = ["序号,事项名称,履职依据"] + [f"{n},事项{n},依据{n},多余{n}" for n in range(1, 26)]
    result = read_duty_list("\r\n".join(rows).encode("utf-8"), filename="基本履职事项.csv")
    assert result.items == []
    assert [p.rule for p in result.errors] == ["import.extra-cells"] * 20 + ["import.more-problems"]
    more = result.errors[-1]
    assert (more.params["rule"], more.params["count"]) == ("import.extra-cells", 5)
    assert "5" in more.message("zh_CN") and "5 more" in more.message("en")
    # the kind named as the organizer read it above, not by the rule's id ("import.extra-cells")
    assert "import." not in more.message("zh_CN") and "import." not in more.message("en")
    assert "与“这一行比表头多出 1 个单元格" in more.message("zh_CN")
    assert "as “The row has 1 cell more than the header" in more.message("en")


def test_more_warnings_of_one_kind_than_are_listed_do_not_stop_the_import(monkeypatch) -> None:
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_PROBLEMS", 20)
    header = ",".join(["序号", "事项名称", "履职依据"] + [f"说明{i}" for i in range(25)])
    result = read_duty_list(f"{header}\r\n1,事项1,依据1\r\n".encode(), filename="基本履职事项.csv")
    assert result.ok and [i.name for i in result.items] == ["事项1"]
    assert [(p.rule, p.severity) for p in result.problems[-2:]] == [
        ("import.unknown-column", Severity.WARNING), ("import.more-problems", Severity.WARNING)]


def test_csv_of_millions_of_blank_lines_is_refused_before_it_is_read(monkeypatch) -> None:
    # 40 MB of line breaks made 40 million blank rows: 37 s and 2.9 GB before a MemoryError
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_CELLS", 1_000)
    data = "序号,事项名称,履职依据\r\n1,事项1,依据1\r\n".encode() + b"\r\n" * 2_000
    result = read_duty_list(data, filename="基本履职事项.csv")
    _only_error(result, "import.csv-too-big")
    assert "1000" in result.problems[0].message("zh_CN") and "1000 cells" in result.problems[0].message("en")


def test_csv_line_of_millions_of_cells_is_refused_before_it_is_read(monkeypatch) -> None:
    # one 50 MB line of 24 million one-letter cells: 112 s and 930 MB
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_CELLS", 1_000)
    data = "序号,事项名称,履职依据\r\n1,事项1,".encode() + b"a," * 2_000
    _only_error(read_duty_list(data, filename="基本履职事项.csv"), "import.csv-too-big")


# --- never raises --------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), name=st.sampled_from(["a.xlsx", "a.csv", "a", "清单.xls"]))
def test_random_bytes_never_raise(data: bytes, name: str) -> None:
    result = read_duty_list(data, filename=name)
    assert isinstance(result, ImportResult)
    assert result.problems or result.items
    if not result.ok:
        assert result.items == []


_CELL = st.one_of(
    st.sampled_from(["序号", "事项名称", "名称", "履职依据", "部分", "基本", "配合", "收回", "领域", "", "1",
                     "承接部门", "县民政局", '"', ",", "\n", "一、基本履职事项"]),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(_CELL, max_size=6), max_size=12),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
       sep=st.sampled_from([",", "\t", ";"]))


def test_random_csv_text_never_raises(rows: list[list[str]], encoding: str, sep: str) -> None:
    text = "\n".join(sep.join(row) for row in rows)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # lone surrogates from st.text
        data = text.encode(encoding, errors="replace")
    result = read_duty_list(data, filename="随机.csv")
    assert result.problems or result.items
    assert result.ok or result.items == []
    for item in result.items:
        assert isinstance(item.part, Part)
        assert item.row is not None and item.row >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=20_000), flip=st.integers(min_value=0, max_value=20_000))
def test_damaged_workbooks_never_raise(cut: int, flip: int) -> None:
    data = bytearray(SAMPLE_XLSX.read_bytes())
    if flip < len(data):
        data[flip] ^= 0x5A
    result = read_duty_list(bytes(data[: max(cut, 1) if cut < len(data) else len(data)]), filename="a.xlsx")
    assert result.problems or result.items
    assert result.ok or result.items == []


def _with_error_cells(path: Path, cells: dict[str, tuple[str, str]]) -> bytes:
    """The workbook at `path` with each named cell of its first sheet turned into a
    failed formula: (formula, Excel error code), as Excel saves one."""
    import re

    out = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                for ref, (formula, code) in cells.items():
                    text = re.sub(rf'<c r="{ref}"[^>]*>.*?</c>',
                                  f'<c r="{ref}" t="e"><f>{formula}</f><v>{code}</v></c>', text)
                data = text.encode()
            zout.writestr(info, data)
    return out.getvalue()


def test_excel_error_values_are_refused_not_imported(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "e.xlsx", [["序号", "事项名称", "履职依据"], [1, "发展党员", "《细则》"],
                                        [2, "最低生活保障", "《社会救助暂行办法》"]])
    result = read_duty_list(_with_error_cells(path, {"B3": ("VLOOKUP(A3,Sheet2!A:B,2,0)", "#N/A"),
                                                     "C3": ("Sheet2!#REF!", "#REF!")}), filename="e.xlsx")
    assert not result.ok and result.items == []
    errors = [(p.rule, p.row, p.column, p.params["value"]) for p in result.errors]
    assert errors == [("import.excel-error", 3, "事项名称", "#N/A"), ("import.excel-error", 3, "履职依据", "#REF!")]
    assert "#N/A" in result.errors[0].message("zh_CN") and "Excel" in result.errors[0].message("en")


def test_hidden_sheet_is_skipped_with_a_warning(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "基本履职事项"
    for row in ([["序号", "事项名称", "履职依据"], [1, "发展党员", "《细则》"]]):
        ws.append(row)
    old = wb.create_sheet("基本履职事项（旧版）")
    for row in ([["序号", "事项名称", "履职依据"], [1, "旧事项", "《旧细则》"]]):
        old.append(row)
    old.sheet_state = "hidden"
    wb.save(tmp_path / "h.xlsx")
    result = read_duty_list(tmp_path / "h.xlsx")
    assert result.ok
    assert [i.name for i in result.items] == ["发展党员"]
    assert [(p.rule, p.sheet) for p in result.problems] == [("import.hidden-sheet-skipped", "基本履职事项（旧版）")]


def test_item_over_rows_with_merged_name_is_one_item(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "基本履职事项"
    for row in (["序号", "领域", "事项名称", "具体内容", "履职依据"],
                [1, "党的建设", "发展党员", "发展党员", "《细则》"],
                [None, None, None, "党员教育管理", None],
                [2, None, "人民调解", "调解民间纠纷", "《人民调解法》"]):
        ws.append(row)
    for rng in ("A2:A3", "B2:B4", "C2:C3", "E2:E3"):  # the category is merged over two items
        ws.merge_cells(rng)
    wb.save(tmp_path / "m.xlsx")
    result = read_duty_list(tmp_path / "m.xlsx")
    assert result.ok, result.render()
    assert [(i.seq, i.category, i.name, i.content, i.basis) for i in result.items] == [
        (1, "党的建设", "发展党员", "发展党员\n党员教育管理", "《细则》"),
        (2, "党的建设", "人民调解", "调解民间纠纷", "《人民调解法》")]


def test_withdrawn_part_reads_its_department_column_as_the_receiving_one(tmp_path: Path) -> None:
    for header in ("收回部门", "上级部门", "对应上级部门"):
        path = _sheet(tmp_path / "w.xlsx", [["序号", "上级部门收回事项名称", header, "收回后工作方式"],
                                            [1, "特种设备安全监管", "县市场监管局", "发现报告"]],
                      title="上级部门收回事项")
        result = read_duty_list(path)
        assert result.ok, (header, result.render())
        item = result.items[0]
        assert (item.name, item.receiving_department, item.county_department) == \
            ("特种设备安全监管", "县市场监管局", ""), header


def test_blank_rows_do_not_cut_a_csv_short(monkeypatch) -> None:
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_DATA_ROWS", 2000)
    # 1,900 items, each followed by an empty row (as Excel exports formatted rows): 3,800 lines
    rows = ["序号,事项名称,履职依据"] + [f"{n},事项{n},依据{n}\r\n,," for n in range(1, 1901)]
    result = read_duty_list("\r\n".join(rows).encode("utf-8"), filename="基本履职事项.csv")
    assert result.ok and len(result.items) == 1900
    assert result.items[-1].name == "事项1900"


def test_csv_over_the_row_limit_imports_nothing(monkeypatch) -> None:
    import surveys.importer as importer

    monkeypatch.setattr(importer, "MAX_DATA_ROWS", 100)
    rows = ["序号,事项名称,履职依据"] + [f"{n},事项{n},依据{n}" for n in range(1, 1200)]
    result = read_duty_list("\r\n".join(rows).encode("utf-8"), filename="基本履职事项.csv")
    _only_error(result, "import.too-many-rows")


def test_a_problem_reads_with_the_colon_of_its_language() -> None:
    # the Chinese line had an English colon after where it is: "第 2 行，列“序号”: 序号…"
    result = read_duty_list("序号,事项名称,履职依据\r\nx,事项1,依据1\r\n".encode(), filename="基本履职事项.csv")
    [problem] = [p for p in result.problems if p.rule == "import.bad-seq"]
    zh, en = problem.render("zh_CN"), problem.render("en")
    assert zh.startswith("[提示] 文件 基本履职事项.csv，") and "：序号“x”不是整数" in zh and ": " not in zh
    assert en.startswith("[warning] file 基本履职事项.csv, ") and ': The number "x"' in en


def test_a_cooperating_sheet_without_a_department_column_is_one_error_naming_the_column(tmp_path: Path) -> None:
    # a 配合 sheet with no department column at all was refused with one error per item
    # (40 lines of 没有填写对应的上级（县级）牵头部门) and never said the column was missing
    from surveys.lint import check_file

    wb = Workbook()
    wb.active.title = "配合"
    wb.active.append(["序号", "事项名称", "县直单位", "依据"])
    for n in range(1, 41):
        wb.active.append([n, f"配合事项{n}", "县教育局", "《义务教育法》"])
    ws = wb.create_sheet("收回")
    ws.append(["序号", "事项名称", "工作方式"])
    ws.append([1, "特种设备安全监管", "发现报告"])
    wb.save(tmp_path / "d.xlsx")
    result, problems = check_file(tmp_path / "d.xlsx")
    errors = [p for p in problems if p.is_error]
    assert [(p.rule, p.sheet, p.row) for p in errors] == [
        ("import.department-column-missing", "配合", 1), ("import.receiver-column-missing", "收回", 1)]
    assert "40" in errors[0].message("zh_CN") and "对应上级部门" in errors[0].message("zh_CN")
    assert "承接部门" in errors[1].message("zh_CN") and "column" in errors[1].message("en")
    assert [p.column for p in problems if not p.is_error] == ["县直单位"]  # the column it did not know


def test_an_old_word_document_is_not_called_an_old_excel_file() -> None:
    # a .doc (Word 97–2003, the same container as .xls) was answered 这是旧版 Excel（.xls）文件
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    _only_error(read_duty_list(ole, filename="青山镇清单.doc"), "import.word-document")
    _only_error(read_duty_list(ole, filename="青山镇清单.xls"), "import.xls-corrupt")


def test_a_wps_et_file_and_a_password_protected_workbook_each_say_what_to_do() -> None:
    """A WPS 表格 .et file was answered 这是旧版 Excel（.xls）文件或加了密码的工作簿, naming neither
    WPS's format nor how to save it; a workbook with a password to open it was told the same as an
    .xls. Each now gets its own steps; an .xls still its own."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    et = read_duty_list(ole + b"W\x00o\x00r\x00k\x00b\x00o\x00o\x00k\x00", filename="青山镇清单.et")
    _only_error(et, "import.wps-et")
    assert "WPS" in et.problems[0].message("zh_CN") and "另存为" in et.problems[0].message("zh_CN")
    assert "Save As" in et.problems[0].message("en") and ".xlsx" in et.problems[0].message("en")
    encrypted = ole + "EncryptedPackage".encode("utf-16-le") + bytes(64)
    for name in ("青山镇清单.xlsx", "青山镇清单.et"):
        locked = read_duty_list(encrypted, filename=name)
        _only_error(locked, "import.encrypted-workbook")
        assert "密码" in locked.problems[0].message("zh_CN") and "password" in locked.problems[0].message("en")
    _only_error(read_duty_list(ole, filename="青山镇清单.xls"), "import.xls-corrupt")


def test_a_csv_file_that_does_not_say_its_part_is_told_to_name_the_file_not_a_sheet() -> None:
    # a CSV file has no sheets, yet it was told 请把工作表命名为“基本履职事项”…
    text = "序号,事项名称,履职依据\n1,发展党员,《细则》\n"
    result = read_duty_list(text.encode("gbk"), filename="青山镇清单.csv")
    _only_error(result, "import.unknown-file-part")
    said = result.problems[0].message("zh_CN")
    assert "基本履职事项.csv" in said and "工作表命名" not in said and "部分" in said
    assert "Name the file" in result.problems[0].message("en")
    # named so, the same file is read
    assert [i.part for i in read_duty_list(text.encode("gbk"), filename="基本履职事项.csv").items] == [Part.BASIC]


def test_an_old_xls_file_it_cannot_read_is_told_the_steps_to_save_it_as_xlsx() -> None:
    # it was told 请在 Excel 或 WPS 中取消密码并另存为 .xlsx: to remove a password it does not have.
    # .xls files are read now (tests/surveys/test_import_xls.py); one that cannot be read is told
    # it is damaged, and how to save it as .xlsx
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "Workbook".encode("utf-16-le")
    result = read_duty_list(ole, filename="青山镇清单.xls")
    _only_error(result, "import.xls-corrupt")
    said, en = result.problems[0].message("zh_CN"), result.problems[0].message("en")
    assert "文件 → 另存为" in said and "Excel 工作簿（*.xlsx）" in said and not said.count("取消密码并")
    assert "File → Save As" in en and "Excel Workbook (*.xlsx)" in en


def _padded(path: Path, member: str, padding: int) -> bytes:
    """The workbook at `path` with `padding` spaces inside `member`'s sheetData: a few hundred KB
    that inflate to hundreds of MB (a zip bomb within the size limits)."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == member:
                at = data.index(b"<sheetData>") + len(b"<sheetData>")
                data = data[:at] + b" " * padding + data[at:]
            dst.writestr(info.filename, data)
    return out.getvalue()


def test_a_workbook_that_inflates_a_thousandfold_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 60 KB .xlsx whose sheet inflates to 60 MB of blanks was read in full (a 386 KB one took
    20 s and 400 MB); a member that inflates over 100-fold (Apache POI's zip-bomb rule; real
    workbooks: 4–25-fold) is refused, and the file named."""
    path = write_xlsx(build_sample_items(), tmp_path / "draft.xlsx")
    data = _padded(path, "xl/worksheets/sheet1.xml", 60_000_000)
    assert len(data) < 200_000
    result = read_duty_list(data, filename="炸弹.xlsx")
    _only_error(result, "import.zip-bomb")
    message = result.problems[0].message("zh_CN")
    assert "sheet1.xml" in message and "压缩" in message
    assert "inflate" in result.problems[0].message("en")
    # the same sheet without the padding, or with a little, is read as before
    assert read_duty_list(_padded(path, "xl/worksheets/sheet1.xml", 10_000), filename="draft.xlsx").ok


def test_a_workbook_of_many_small_parts_that_together_inflate_a_thousandfold_is_refused(tmp_path: Path) -> None:
    """The bomb split into parts under 1 MB each, which the per-part rule lets through: the whole
    archive inflating over 100-fold is refused too."""
    path = write_xlsx(build_sample_items(), tmp_path / "draft.xlsx")
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        for n in range(60):
            dst.writestr(f"xl/media/pad{n}.xml", b" " * 1_000_000)
    result = read_duty_list(out.getvalue(), filename="炸弹.xlsx")
    _only_error(result, "import.zip-bomb")
