"""Importing well-formed drafts: the layouts, encodings and header spellings that
drafters' workbooks and CSV files come in."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from surveys.duty_list import DutyItem, Part
from surveys.importer import ImportResult, header_field, part_from_text, read_duty_list
from surveys.lint import check_file, lint
from surveys.samples.make_samples import HERE, build_sample_items, write_csv, write_xlsx

SAMPLE_XLSX = HERE / "sample_draft.xlsx"
SAMPLE_CSV = HERE / "sample_draft_gbk.csv"


def _clean(result: ImportResult) -> ImportResult:
    assert result.ok, result.render()
    return result


def _few() -> list[DutyItem]:
    return [
        DutyItem(Part.BASIC, "矛盾纠纷排查化解与人民调解", seq=1, category="平安法治",
                 basis="《中华人民共和国人民调解法》", county_department="县司法局"),
        DutyItem(Part.BASIC, "组织适龄公民兵役登记及应征公民初审", seq=2, category="平安法治",
                 basis="《兵役法》《征兵工作条例》", county_department="县人武部"),
        DutyItem(Part.COOPERATING, "食品安全协管巡查与信息报告", seq=1, category="市场监管",
                 county_department="县市场监管局", basis="《食品安全法》"),
        DutyItem(Part.WITHDRAWN, "特种设备安全监管", seq=1, category="市场监管",
                 receiving_department="县市场监管局", working_mode="发现报告", basis="《特种设备安全法》"),
    ]


def _sheet(path: Path, rows: list[list[object]], title: str = "Sheet1") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


# --- the shipped samples -------------------------------------------------------


def test_sample_workbook_one_sheet_per_part_imports_every_item() -> None:
    result = _clean(read_duty_list(SAMPLE_XLSX))
    assert result.items == build_sample_items()
    counts = {p: sum(1 for i in result.items if i.part == p) for p in Part}
    assert counts == {Part.BASIC: 46, Part.COOPERATING: 35, Part.WITHDRAWN: 31}
    assert {i.sheet for i in result.items if i.part == Part.COOPERATING} == {"配合履职事项"}
    assert result.problems == []
    assert result.encoding == "xlsx"


def test_sample_workbook_title_row_is_skipped_and_rows_are_spreadsheet_rows() -> None:
    result = _clean(read_duty_list(SAMPLE_XLSX))
    first = result.items[0]
    assert first.row == 3  # row 1 the title, row 2 the header
    assert not any("征求意见稿" in i.name for i in result.items)


def test_sample_workbook_blank_row_is_skipped() -> None:
    wb = load_workbook(SAMPLE_XLSX)
    ws = wb["基本履职事项"]
    assert all(c.value is None for c in ws[13])  # the blank row the sample carries
    result = _clean(read_duty_list(SAMPLE_XLSX))
    basic = [i for i in result.items if i.part == Part.BASIC]
    assert [i.row for i in basic[9:12]] == [12, 14, 15]


def test_sample_workbook_merged_category_applies_to_every_row_it_covers() -> None:
    wb = load_workbook(SAMPLE_XLSX)
    assert "B3:B9" in {str(r) for r in wb["基本履职事项"].merged_cells.ranges}
    result = _clean(read_duty_list(SAMPLE_XLSX))
    assert [i.category for i in result.items[:7]] == ["党的建设"] * 7


def test_sample_files_lint_without_problems() -> None:
    assert lint(_clean(read_duty_list(SAMPLE_XLSX)).items) == []
    assert lint(_clean(read_duty_list(SAMPLE_CSV)).items) == []


def test_sample_gbk_csv_imports_the_same_items() -> None:
    result = _clean(read_duty_list(SAMPLE_CSV))
    assert result.encoding == "gb18030"  # GBK is read as its superset
    assert result.items == build_sample_items()


# --- workbook layouts ----------------------------------------------------------


def test_one_sheet_with_a_part_column(tmp_path: Path) -> None:
    path = write_xlsx(_few(), tmp_path / "one.xlsx", one_sheet=True)
    result = _clean(read_duty_list(path))
    assert [(i.part, i.name) for i in result.items] == [(i.part, i.name) for i in _few()]
    assert result.items[2].county_department == "县市场监管局"
    assert result.items[3].receiving_department == "县市场监管局"


@pytest.mark.parametrize("value,part", [
    ("基本", Part.BASIC), ("基本履职事项", Part.BASIC), ("配合", Part.COOPERATING),
    ("配合履职事项", Part.COOPERATING), ("收回", Part.WITHDRAWN), ("上级部门收回事项", Part.WITHDRAWN),
    ("收回事项", Part.WITHDRAWN), ("Basic", Part.BASIC), ("cooperating", Part.COOPERATING),
    ("Withdrawn", Part.WITHDRAWN),
])
def test_part_column_values(tmp_path: Path, value: str, part: Part) -> None:
    path = _sheet(tmp_path / "p.xlsx", [["清单类型", "事项名称", "对应上级部门"], [value, "某事项", "县某局"]])
    assert _clean(read_duty_list(path)).items[0].part == part


@pytest.mark.parametrize("sheet,part", [
    ("基本", Part.BASIC), ("一、基本履职事项", Part.BASIC), ("配合", Part.COOPERATING),
    ("收回", Part.WITHDRAWN), ("收回事项", Part.WITHDRAWN), ("basic", Part.BASIC),
    ("Cooperating duties", Part.COOPERATING), ("withdrawn", Part.WITHDRAWN),
])
def test_sheet_names_tell_the_part(tmp_path: Path, sheet: str, part: Part) -> None:
    path = _sheet(tmp_path / "s.xlsx", [["序号", "事项名称", "对应上级部门"], [1, "某事项", "县某局"]], title=sheet)
    assert _clean(read_duty_list(path)).items[0].part == part


def test_several_title_rows_above_the_header(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "t.xlsx", [
        ["青山镇履行职责事项清单（征求意见稿）"],
        ["填报单位：青山镇人民政府", None, "填报日期：2024年6月"],
        [],
        ["序号", "领域", "事项名称", "履职依据"],
        [1, "党的建设", "发展党员及党员教育管理监督服务", "《中国共产党发展党员工作细则》"],
    ], title="基本履职事项")
    result = _clean(read_duty_list(path))
    assert len(result.items) == 1
    assert result.items[0].row == 5
    assert result.items[0].basis == "《中国共产党发展党员工作细则》"


def test_title_row_can_name_the_part_of_an_unnamed_sheet(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "t.xlsx", [["青山镇配合履职事项清单"], ["序号", "事项名称", "牵头部门"],
                                        [1, "义务教育控辍保学", "县教育局"]])
    assert _clean(read_duty_list(path)).items[0].part == Part.COOPERATING


def test_one_sheet_with_section_rows_and_category_headings(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "sections.xlsx", [
        ["青山镇履行职责事项清单"],
        ["序号", "事项名称", "依据", "对应上级部门", "承接部门"],
        ["一、基本履职事项"],
        ["（一）党的建设（1项）"],
        [1, "发展党员及党员教育管理监督服务", "《中国共产党发展党员工作细则》"],
        ["二、配合履职事项"],
        ["序号", "事项名称", "依据", "对应上级部门", "承接部门"],
        [1, "义务教育控辍保学", "《义务教育法》", "县教育局"],
        ["三、上级部门收回事项"],
        [1, "特种设备安全监管", "《特种设备安全法》", None, "县市场监管局"],
    ])
    result = _clean(read_duty_list(path))
    assert [(i.part, i.name) for i in result.items] == [
        (Part.BASIC, "发展党员及党员教育管理监督服务"),
        (Part.COOPERATING, "义务教育控辍保学"),
        (Part.WITHDRAWN, "特种设备安全监管"),
    ]
    assert result.items[0].category == "党的建设"
    assert result.items[2].receiving_department == "县市场监管局"


def test_headings_numbered_in_the_seq_column_are_not_items(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "h.xlsx", [
        ["序号", "事项名称", "依据", "对应县级部门"],
        ["一", "基本履职事项"],
        ["（一）", "党的建设"],
        [1, "发展党员及党员教育管理监督服务", "《中国共产党发展党员工作细则》"],
        ["（二）", "民生服务（1项）"],
        [2, "临时救助的申请受理和调查审核", "《社会救助暂行办法》", "县民政局"],
        ["二、", "配合履职事项"],
        [1, "义务教育控辍保学", "《义务教育法》", "县教育局"],
    ])
    result = _clean(read_duty_list(path))
    assert [(i.part, i.category, i.name) for i in result.items] == [
        (Part.BASIC, "党的建设", "发展党员及党员教育管理监督服务"),
        (Part.BASIC, "民生服务", "临时救助的申请受理和调查审核"),
        (Part.COOPERATING, "", "义务教育控辍保学"),
    ]
    assert result.problems == []


def test_section_rows_in_the_name_column(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "n.xlsx", [
        ["事项名称", "依据", "承接部门"],
        ["一、基本履职事项（1项）"],
        ["信访事项受理和办理", "《信访工作条例》"],
        ["二、上级部门收回事项"],
        ["特种设备安全监管", "《特种设备安全法》", "县市场监管局"],
    ])
    result = _clean(read_duty_list(path))
    assert [(i.part, i.name) for i in result.items] == [
        (Part.BASIC, "信访事项受理和办理"), (Part.WITHDRAWN, "特种设备安全监管")]


def test_merged_department_cell_covers_each_row(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "配合履职事项"
    ws.append(["序号", "事项名称", "对应上级（县级）部门"])
    ws.append([1, "食品安全协管巡查与信息报告", "县市场监管局"])
    ws.append([2, "农村集体聚餐备案指导", None])
    ws.append([3, "药品安全宣传和协查", None])
    ws.append([4, "义务教育控辍保学", "县教育局"])
    ws.merge_cells("C2:C4")
    wb.save(tmp_path / "m.xlsx")
    result = _clean(read_duty_list(tmp_path / "m.xlsx"))
    assert [i.county_department for i in result.items] == ["县市场监管局"] * 3 + ["县教育局"]


def test_blank_and_pre_numbered_empty_rows_are_skipped(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "b.xlsx", [
        ["序号", "事项名称"], [1, "甲事项"], [None, None], ["  ", ""], [2, "乙事项"], [3, None], [4, None],
    ], title="基本")
    result = _clean(read_duty_list(path))
    assert [(i.seq, i.name, i.row) for i in result.items] == [(1, "甲事项", 2), (2, "乙事项", 5)]


def test_two_category_levels(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "c.xlsx", [["序号", "一级类别", "二级类别", "事项名称"],
                                        [1, "民生服务", "社会救助", "临时救助申请受理"]], title="基本")
    item = _clean(read_duty_list(path)).items[0]
    assert (item.category, item.subcategory) == ("民生服务", "社会救助")


def _with_cached_values(path: Path, values: dict[str, str]) -> None:
    """Give openpyxl-written formulas a cached value, as Excel does on save."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    xml = members["xl/worksheets/sheet1.xml"].decode()
    for ref, value in values.items():
        numeric = re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
        type_attr = "" if numeric else ' t="str"'
        xml, n = re.subn(
            rf'<c r="{ref}"( [^>]*)?><f>(.*?)</f><v\s*/>',
            lambda m, v=value, t=type_attr, r=ref: f'<c r="{r}"{t}><f>{m.group(2)}</f><v>{v}</v>',
            xml,
        )
        assert n == 1, ref
    members["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_formulas_are_read_as_their_cached_values(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "f.xlsx", [["序号", "事项名称", "履职依据"],
                                        ["=ROW()-1", '="信访事项"&"受理和办理"', "《信访工作条例》"]],
                  title="基本")
    _with_cached_values(path, {"A2": "1", "B2": "信访事项受理和办理"})
    result = _clean(read_duty_list(path))
    assert (result.items[0].seq, result.items[0].name) == (1, "信访事项受理和办理")
    assert not any("=" in i.name for i in result.items)


def test_dates_and_numbers_in_cells(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "d.xlsx", [
        ["序号", "事项名称", "备注", "履职依据"],
        [1.0, "防汛抗旱预警转移", dt.datetime(2024, 6, 1), 2024],
        ["2", "自然灾害救助", dt.date(2024, 7, 15), "《自然灾害救助条例》"],
    ], title="基本")
    items = _clean(read_duty_list(path)).items
    assert items[0].seq == 1 and isinstance(items[0].seq, int)
    assert items[0].remarks == "2024-06-01"
    assert items[0].basis == "2024"
    assert items[1].seq == 2
    assert items[1].remarks == "2024-07-15"


def test_twenty_thousand_rows_import(tmp_path: Path) -> None:
    items = [DutyItem(Part.BASIC, f"第{i}项事项", seq=i, category="民生服务", basis="《社会救助暂行办法》")
             for i in range(1, 20_001)]
    path = write_xlsx(items, tmp_path / "big.xlsx", blank_row_after=None)
    result = _clean(read_duty_list(path))
    assert len(result.items) == 20_000
    assert result.items[-1].name == "第20000项事项"
    assert result.items[-1].row == 20_002
    assert result.items[-1].category == "民生服务"  # from a 20,000-row merged cell


# --- CSV encodings -------------------------------------------------------------


@pytest.mark.parametrize("encoding,detected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"),
    ("utf-16", "utf-16"),
])
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str, detected: str) -> None:
    items = _few()
    path = write_csv(items, tmp_path / f"{encoding}.csv", encoding,
                     delimiter="\t" if encoding == "utf-16" else ",")
    result = _clean(read_duty_list(path))
    assert result.encoding == detected
    assert result.items == items


def test_gb18030_only_characters(tmp_path: Path) -> None:
    name = "㙟头村饮水工程管护"  # 㙟 is in GB18030 but not in GBK
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")
    items = [DutyItem(Part.BASIC, name, seq=1, basis="《中华人民共和国水法》")]
    result = _clean(read_duty_list(write_csv(items, tmp_path / "g.csv", "gb18030")))
    assert result.items[0].name == name


def test_csv_title_line_above_the_header(tmp_path: Path) -> None:
    path = write_csv(_few(), tmp_path / "t.csv", "utf-8-sig", title="青山镇履行职责事项清单（征求意见稿）")
    result = _clean(read_duty_list(path))
    assert len(result.items) == 4
    assert result.items[0].row == 3


def test_csv_of_merged_part_and_category_cells_fills_the_blanks_below() -> None:
    # Excel saves a merged cell to CSV as its value on the first row and blanks below it
    text = ("部分,序号,领域,二级类别,事项名称,对应县级部门\n"
            "基本履职事项,1,党的建设,组织建设,发展党员及党员教育管理监督服务,县委组织部\n"
            ",2,,,基层党组织建设,县委组织部\n"
            ",3,民生服务,,临时救助的申请受理和调查审核,县民政局\n"
            "配合履职事项,1,市场监管,,食品安全协管巡查与信息报告,县市场监管局\n"
            ",2,,,药品安全宣传和协查,县市场监管局\n")
    result = _clean(read_duty_list(text.encode("gbk"), filename="draft.csv"))
    assert [(i.part, i.category, i.subcategory, i.name) for i in result.items] == [
        (Part.BASIC, "党的建设", "组织建设", "发展党员及党员教育管理监督服务"),
        (Part.BASIC, "党的建设", "组织建设", "基层党组织建设"),
        (Part.BASIC, "民生服务", "", "临时救助的申请受理和调查审核"),
        (Part.COOPERATING, "市场监管", "", "食品安全协管巡查与信息报告"),
        (Part.COOPERATING, "市场监管", "", "药品安全宣传和协查"),
    ]


def test_csv_named_xlsx_is_read_by_content_with_a_warning(tmp_path: Path) -> None:
    data = write_csv(_few(), tmp_path / "x.csv", "gbk").read_bytes()
    result = read_duty_list(data, filename="清单.xlsx")
    assert result.ok
    assert len(result.items) == 4
    assert [p.rule for p in result.problems] == ["import.extension-mismatch"]


def test_csv_file_name_can_tell_the_part() -> None:
    result = _clean(read_duty_list("序号,事项名称,承接部门\n1,特种设备安全监管,县市场监管局\n".encode(),
                                   filename="上级部门收回事项.csv"))
    assert result.items[0].part == Part.WITHDRAWN


# --- header variants -----------------------------------------------------------


@pytest.mark.parametrize("header,field_name", [
    ("序号", "seq"), ("编号", "seq"), ("No.", "seq"), ("SEQ", "seq"),
    ("领域", "category"), ("类别", "category"), ("一级类别", "category"), ("Category", "category"),
    ("二级类别", "subcategory"), ("subcategory", "subcategory"),
    ("事项名称", "name"), ("名称", "name"), ("事 项 名 称", "name"), ("Item", "name"), ("NAME", "name"),
    ("具体内容", "content"), ("乡镇职责", "content"), ("乡镇（街道）职责", "content"),
    ("乡镇(街道)配合职责", "content"), ("配合职责", "content"), ("content", "content"),
    ("履职依据", "basis"), ("依据", "basis"), ("法律政策依据", "basis"), ("理由", "basis"),
    ("依据/理由", "basis"), ("Basis", "basis"),
    ("对应上级部门", "county_department"), ("县级部门", "county_department"),
    ("牵头部门", "county_department"), ("对应上级（县级）部门", "county_department"),
    ("County Department", "county_department"),
    ("上级部门职责", "county_duty"), ("县级部门职责", "county_duty"),
    ("承接部门", "receiving_department"), ("Receiving department", "receiving_department"),
    ("收回后工作方式", "working_mode"), ("工作方式", "working_mode"), ("Working Mode", "working_mode"),
    ("备注", "remarks"), ("Remarks", "remarks"),
    ("部分", "part"), ("类型", "part"), ("事项类型", "part"), ("清单类型", "part"),
    ("ＩＴＥＭ", "name"),  # full-width letters
])
def test_header_variants(header: str, field_name: str) -> None:
    assert header_field(header) == field_name


def test_english_headers_csv() -> None:
    text = ("No.,Part,Category,Item,Basis,County department,Receiving department,Working mode,Remarks\n"
            "1,basic,Livelihood,Minimum living allowance intake,Social Assistance Measures,,,,\n"
            "1,withdrawn,Market,Special equipment safety,,,County market regulator,report,\n")
    result = _clean(read_duty_list(text.encode(), filename="list.csv"))
    assert [(i.part, i.name) for i in result.items] == [
        (Part.BASIC, "Minimum living allowance intake"), (Part.WITHDRAWN, "Special equipment safety")]
    assert result.items[1].receiving_department == "County market regulator"
    assert result.items[1].working_mode == "report"


def test_unknown_column_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "u.xlsx", [["序号", "事项名称", "责任人"], [1, "甲事项", "张三"]], title="基本")
    result = read_duty_list(path)
    assert result.ok and len(result.items) == 1
    [problem] = result.problems
    assert (problem.rule, problem.column, problem.row) == ("import.unknown-column", "责任人", 1)


def test_part_from_text_rejects_unrelated_words() -> None:
    assert part_from_text("说明") is None
    assert part_from_text("") is None
    assert part_from_text(None) is None


def test_part_from_text_reads_the_leading_words_not_an_aside() -> None:
    # "（不含收回事项）" made a whole basic sheet the withdrawn part
    assert part_from_text("基本履职事项清单（不含收回事项）") is Part.BASIC
    assert part_from_text("基本履职事项(不含取消事项)") is Part.BASIC
    assert part_from_text("配合履职事项清单（不含上级部门收回事项）") is Part.COOPERATING
    assert part_from_text("基本履职事项及取消事项说明") is Part.BASIC
    assert part_from_text("附件3：上级部门收回事项清单") is Part.WITHDRAWN
    assert part_from_text("上级部门收回事项（原基本履职事项）") is Part.WITHDRAWN
    assert part_from_text("（三）上级部门收回事项") is Part.WITHDRAWN
    assert part_from_text("（收回事项）") is Part.WITHDRAWN
    assert part_from_text("乡镇配合履职事项") is Part.COOPERATING


def test_a_sequence_number_too_large_to_store_is_ignored_with_a_warning(tmp_path: Path) -> None:
    # 3000000000 (PostgreSQL) or 10**20 (SQLite) in 序号 passed the import and lint, then
    # `lists import` crashed storing it in the INTEGER column
    text = "序号,事项名称,履职依据\n1,发展党员,《细则》\n3000000000,人民调解,《人民调解法》\n"
    result = read_duty_list(text.encode(), filename="基本履职事项.csv")
    assert result.ok
    assert [i.seq for i in result.items] == [1, None]
    assert [(p.rule, p.row, p.column) for p in result.problems] == [("import.seq-too-large", 3, "序号")]
    assert "3000000000" in result.problems[0].message("zh_CN") and "too large" in result.problems[0].message("en")
    wb = Workbook()
    wb.active.title = "基本履职事项"
    for row in (["序号", "事项名称", "履职依据"], [1e20, "发展党员", "《细则》"], [-(2**40), "人民调解", "《法》"]):
        wb.active.append(row)
    wb.save(tmp_path / "big.xlsx")
    result = read_duty_list(tmp_path / "big.xlsx")
    assert result.ok and [i.seq for i in result.items] == [None, None]
    assert [p.rule for p in result.problems] == ["import.seq-too-large"] * 2


def test_ascii_single_quotes_in_a_csv_are_text_not_quoting() -> None:
    # the CSV reader guessed ' as the quote character from cells such as '枫桥经验': it dropped
    # those quotes, and cut a cell Excel had quoted with "…" at its comma (the rest was lost)
    import csv
    import io

    rows = [["序号", "事项名称", "具体内容", "履职依据"],
            [1, "推进改革", "'一网通办'服务", "《条例》"],
            [2, "发展党员", "发展党员，教育管理", "《中国共产党发展党员工作细则》, 第十条"],
            [3, "人民调解", "'枫桥经验'", "《人民调解法》"]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)  # as Excel saves it
    for encoding in ("gbk", "utf-8-sig"):
        result = _clean(read_duty_list(buf.getvalue().encode(encoding), filename="基本履职事项.csv"))
        assert [(i.content, i.basis) for i in result.items] == [(r[2], r[3]) for r in rows[1:]]
        assert result.problems == []


def test_a_csv_row_wider_than_its_header_is_an_error_not_shifted_cells() -> None:
    # an unquoted comma in a hand-edited CSV moved "教育管理" into 履职依据 and dropped the
    # real basis, and the import said nothing
    text = ("序号,事项名称,具体内容,履职依据\n1,推进改革,服务,《条例》\n"
            "2,发展党员,发展党员,教育管理,《中国共产党发展党员工作细则》\n3,人民调解,调解,《人民调解法》\n")
    result = read_duty_list(text.encode(), filename="基本履职事项.csv")
    assert not result.ok and result.items == []
    [p] = result.problems
    assert (p.rule, p.row, p.params["count"]) == ("import.extra-cells", 3, 1)
    assert "《中国共产党发展党员工作细则》" in p.message("zh_CN") and "more than the header" in p.message("en")


def test_csv_merged_part_cells_beat_a_title_that_names_parts() -> None:
    # a title above the header naming the parts ("…基本履职事项、配合履职事项和收回事项清单")
    # gave the blank cells under a merged part cell the title's part, not the one above them
    text = ("青山镇基本履职事项、配合履职事项和收回事项清单\n"
            "部分,序号,领域,事项名称,对应县级部门,履职依据\n"
            "基本履职事项,1,党的建设,发展党员及党员教育管理监督服务,县委组织部,党章\n"
            ",2,,基层党组织建设,县委组织部,党章\n"
            "配合履职事项,1,市场监管,食品安全协管巡查与信息报告,县市场监管局,食品安全法\n"
            ",2,,药品安全宣传和协查,县市场监管局,药品管理法\n")
    result = _clean(read_duty_list(text.encode("utf-8"), filename="draft.csv"))
    assert [(i.part, i.category, i.name) for i in result.items] == [
        (Part.BASIC, "党的建设", "发展党员及党员教育管理监督服务"),
        (Part.BASIC, "党的建设", "基层党组织建设"),
        (Part.COOPERATING, "市场监管", "食品安全协管巡查与信息报告"),
        (Part.COOPERATING, "市场监管", "药品安全宣传和协查"),
    ]


@pytest.mark.parametrize("sheet", ["取消", "取消事项", "三、取消事项"])
def test_a_sheet_of_cancelled_items_is_the_withdrawn_part(tmp_path: Path, sheet: str) -> None:
    # drafts circulate with their three sheets named 基本/配合/取消: the third was refused with
    # 看不出这张表属于哪一部分 and nothing of the workbook was imported
    path = _sheet(tmp_path / "c.xlsx", [["序号", "事项名称", "承接部门"], [1, "特种设备安全监管", "县市场监管局"]],
                  title=sheet)
    item = _clean(read_duty_list(path)).items[0]
    assert (item.part, item.receiving_department) == (Part.WITHDRAWN, "县市场监管局")


def test_a_part_column_and_section_rows_may_say_cancelled(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "p.xlsx", [["清单类型", "事项名称", "承接部门"], ["取消", "特种设备安全监管", "县市场监管局"]])
    assert _clean(read_duty_list(path)).items[0].part == Part.WITHDRAWN
    path = _sheet(tmp_path / "s.xlsx", [
        ["序号", "事项名称", "依据", "承接部门"],
        ["一、基本履职事项"],
        [1, "发展党员", "《细则》"],
        ["二、取消事项"],
        [1, "特种设备安全监管", "《特种设备安全法》", "县市场监管局"],
    ])
    assert [i.part for i in _clean(read_duty_list(path)).items] == [Part.BASIC, Part.WITHDRAWN]


def test_sequence_numbers_written_in_brackets_are_numbers(tmp_path: Path) -> None:
    # （1） and 2） are how many drafts number their items: they were ignored with 序号“(1)”不是整数
    # and the lint then said the numbering had gaps
    path = _sheet(tmp_path / "n.xlsx", [["序号", "事项名称", "履职依据"], ["（1）", "发展党员", "《细则》"],
                                        ["2）", "党员教育", "《细则》"], ["(3)", "人民调解", "《人民调解法》"]],
                  title="基本")
    result = _clean(read_duty_list(path))
    assert [i.seq for i in result.items] == [1, 2, 3]
    assert result.problems == [] and lint(result.items) == []


def test_notes_rows_under_or_within_the_table_are_neither_items_nor_categories(tmp_path: Path) -> None:
    # a "说明：…" row typed in the 事项名称 column became an item put to the consultation, and a
    # "注：…" row in the 序号 column became the category of every item after it
    path = _sheet(tmp_path / "notes.xlsx", [
        ["序号", "事项名称", "履职依据"],
        [1, "发展党员", "《细则》"],
        [None, "说明：以上事项按领域排列", None],
        ["注：第 3 项起为民生服务事项"],
        [2, "人民调解", "《人民调解法》"],
        ["注意事项: 依据以最新法律法规为准。"],
    ], title="基本")
    result = _clean(read_duty_list(path))
    assert [(i.name, i.category) for i in result.items] == [("发展党员", ""), ("人民调解", "")]
    assert [(p.rule, p.row) for p in result.problems] == [("import.note-row-skipped", 3)]
    assert "说明：以上事项按领域排列" in result.problems[0].message("zh_CN")
    assert "note" in result.problems[0].message("en")


def test_total_rows_are_neither_items_nor_categories(tmp_path: Path) -> None:
    # "小计" / "共 46 项" typed in a row of their own were read as a category heading, and every
    # later item without a category was filed under "小计"
    path = _sheet(tmp_path / "totals.xlsx", [
        ["序号", "类别", "事项名称", "履职依据"],
        ["（一）党的建设"],
        [1, None, "发展党员", "《细则》"],
        ["小计", None, None, 1],
        ["（二）平安建设"],
        [2, None, "人民调解", "《人民调解法》"],
        ["小计：1"],
        [3, None, "低保受理", "《条例》"],
        [4, None, "临时救助", "《办法》"],
        [None, None, "共 4 项"],
        ["合计"],
    ], title="基本")
    result = _clean(read_duty_list(path))
    assert [(i.name, i.category) for i in result.items] == [
        ("发展党员", "党的建设"), ("人民调解", "平安建设"), ("低保受理", "平安建设"), ("临时救助", "平安建设")]
    assert [(p.rule, p.row) for p in result.problems] == [
        ("import.total-row-skipped", 4), ("import.total-row-skipped", 7),
        ("import.total-row-skipped", 10), ("import.total-row-skipped", 11)]
    assert "共 4 项" in result.problems[2].message("zh_CN")
    assert "total" in result.problems[2].message("en")


def test_a_total_row_after_items_without_category_does_not_become_their_category(tmp_path: Path) -> None:
    text = "序号,事项名称,履职依据\n1,发展党员,《细则》\n共 46 项,,\n2,人民调解,《人民调解法》\n"
    result = _clean(read_duty_list(text.encode(), filename="基本履职事项.csv"))
    assert [(i.name, i.category) for i in result.items] == [("发展党员", ""), ("人民调解", "")]


def test_a_lone_gong_or_zongshu_is_no_total_row_but_with_its_count_it_is() -> None:
    # a one-cell row of just "共" or "总数" was skipped as a total row (with a warning saying so),
    # though no count says it totals anything: only a real total row is left out
    text = ("序号,类别,事项名称,履职依据\n1,党建,发展党员,《细则》\n,,共,\n2,,人民调解,《法》\n"
            "总数,,,46\n3,,低保受理,《条例》\n,,共 3 项,\n合计,,,\n")
    result = _clean(read_duty_list(text.encode(), filename="基本履职事项.csv"))
    assert [i.name for i in result.items] == ["发展党员", "共", "人民调解", "低保受理"]
    assert [(p.rule, p.row) for p in result.problems] == [
        ("import.total-row-skipped", 5), ("import.total-row-skipped", 7), ("import.total-row-skipped", 8)]
    heading = "序号,类别,事项名称,履职依据\n总数,,,\n1,,发展党员,《细则》\n"
    result = _clean(read_duty_list(heading.encode(), filename="基本履职事项.csv"))
    assert [(i.name, i.category) for i in result.items] == [("发展党员", "总数")]
    assert result.problems == []


@pytest.mark.parametrize("header,field_name", [
    ("牵头单位", "county_department"), ("县级牵头单位", "county_department"), ("责任单位", "county_department"),
    ("主管单位", "county_department"), ("收回后履职方式", "working_mode"), ("职责事项", "name"),
])
def test_unit_and_mode_header_variants(header: str, field_name: str) -> None:
    # 牵头单位/责任单位 head the department column of many cooperating lists: the column was
    # ignored as 不认识 and every item then refused as naming no county department
    assert header_field(header) == field_name


def test_a_cooperating_sheet_with_a_lead_unit_column_imports(tmp_path: Path) -> None:
    path = _sheet(tmp_path / "u.xlsx", [["序号", "事项名称", "县级牵头单位", "乡镇配合职责"],
                                        [1, "义务教育控辍保学", "县教育局", "劝返复学"]], title="配合")
    result = _clean(read_duty_list(path))
    assert result.items[0].county_department == "县教育局" and result.problems == []
    assert lint(result.items) == []


def test_rows_hidden_in_excel_are_imported_with_a_warning_naming_them(tmp_path: Path) -> None:
    # a drafter hides the rows of items left out (or filters the sheet) and sees a list without
    # them: they were put to the consultation without a word
    wb = Workbook()
    ws = wb.active
    ws.title = "基本"
    for row in (["序号", "事项名称", "履职依据"], [1, "发展党员", "《细则》"], [2, "暂不列入的事项", "《法》"],
                [3, "人民调解", "《人民调解法》"], [4, "另一个暂不列入", "《法》"]):
        ws.append(row)
    ws.row_dimensions[3].hidden = True
    ws.row_dimensions[5].hidden = True
    wb.save(tmp_path / "h.xlsx")
    result = _clean(read_duty_list(tmp_path / "h.xlsx"))
    assert len(result.items) == 4
    [problem] = result.problems
    assert (problem.rule, problem.sheet) == ("import.hidden-rows", "基本")
    assert "3、5" in problem.message("zh_CN") and "隐藏" in problem.message("zh_CN")
    assert "hidden" in problem.message("en")


def test_a_sequence_number_written_as_a_float_in_a_csv_is_that_number() -> None:
    # "1.0", "2.0" (a number column saved by a script or an older export as floats' text) were each
    # warned about as 序号“1.0”不是整数，已忽略, and the lint then said numbers were missing
    text = "序号,事项名称,履职依据\n1.0,发展党员,《细则》\n2.00,人民调解,《人民调解法》\n3.5,低保受理,《条例》\n"
    result = _clean(read_duty_list(text.encode("gbk"), filename="基本履职事项.csv"))
    assert [i.seq for i in result.items] == [1, 2, None]
    assert [(p.rule, p.row) for p in result.problems] == [("import.bad-seq", 4)]


def test_a_line_break_typed_in_a_name_cell_is_not_kept_in_the_name_but_in_a_text_it_is(tmp_path: Path) -> None:
    # a long name wrapped in its cell with Alt+Enter came in as "矛盾纠纷排查化解\n与人民调解", and
    # the cadres' and residents' screens showed the item's name broken over two lines
    path = _sheet(tmp_path / "wrapped.xlsx", [
        ["序号", "事项名称", "对应上级部门", "乡镇（街道）配合职责", "依据"],
        [1, "矛盾纠纷排查化解\n与人民调解", "县司法局\n", "1.排查\n2.调解", "《人民调解法》\n《信访工作条例》"],
        [2, "Fire safety\r\ninspection", "县消防\n救援大队", "巡查", "《消防法》"],
    ], title="配合")
    result = _clean(read_duty_list(path))
    assert [(i.name, i.county_department) for i in result.items] == [
        ("矛盾纠纷排查化解与人民调解", "县司法局"), ("Fire safety inspection", "县消防救援大队")]
    assert result.items[0].content == "1.排查\n2.调解"
    assert result.items[0].basis == "《人民调解法》\n《信访工作条例》"


def test_a_line_break_inside_a_csv_cell_is_one_line_feed_whether_written_crlf_or_cr() -> None:
    # a cell written "1.巡查\r\n2.报告" (CRLF inside the quotes, as Windows tools save it) kept the
    # "\r": stored unlike the same cell read from an .xlsx ("\n"), and a bare "\r" was no line break
    text = ("序号,事项名称,对应上级部门,乡镇（街道）配合职责\r\n"
            "1,消防安全检查,县消防救援大队,\"1.巡查\r\n2.报告\"\r\n2,禁毒宣传,县公安局,\"1.宣传\r2.排查\"\r\n")
    result = _clean(read_duty_list(text.encode("gbk"), filename="配合履职事项.csv"))
    assert [i.content for i in result.items] == ["1.巡查\n2.报告", "1.宣传\n2.排查"]


def test_rows_left_for_items_to_come_under_a_merged_category_are_blank_rows(tmp_path: Path) -> None:
    # a template's numbered rows after the last item, its category merged down over them, were each
    # refused as 事项名称为空 — the same rows without the merge are skipped as blank
    wb = Workbook()
    ws = wb.active
    ws.title = "基本履职事项"
    for row in (["序号", "领域", "事项名称", "履职依据"], [1, "党的建设", "发展党员", "《细则》"],
                [2, None, "党组织建设", "《条例》"], [3, None, None, None], [None, None, None, None],
                [3, "民生服务", None, "《办法》"]):  # (the 3 typed ahead was left for it)
        ws.append(row)
    ws.merge_cells("B2:B5")
    wb.save(tmp_path / "template.xlsx")
    result, problems = check_file(tmp_path / "template.xlsx")
    assert [(i.row, i.name, i.category) for i in result.items] == [
        (2, "发展党员", "党的建设"), (3, "党组织建设", "党的建设"), (6, "", "民生服务")]
    # a row with something of its own but no name is still an item without a name
    assert [(p.rule, p.row) for p in problems] == [("lint.empty-name", 6)]


@pytest.mark.parametrize("header", [["牵头部门", "配合部门"], ["配合部门", "县级牵头单位"], ["对应上级部门", "协助部门"]])
def test_a_column_of_assisting_departments_beside_the_lead_one_is_not_read_and_stops_nothing(header) -> None:
    # a cooperating list with 牵头部门 and 配合部门 was refused: 列“配合部门”与列“牵头部门”表示同一项内容，
    # 请只保留一列 — asking the drafter to delete the assisting departments to get the list in
    lead = 0 if "配合" not in header[0] and "协办" not in header[0] else 1
    values = ["县应急管理局", "县应急管理局"]
    values[lead] = "县消防救援大队"
    text = f"序号,事项名称,{header[0]},{header[1]},乡镇配合职责\n1,消防安全检查,{values[0]},{values[1]},巡查\n"
    result = _clean(read_duty_list(text.encode("gbk"), filename="配合履职事项.csv"))
    assert [i.county_department for i in result.items] == ["县消防救援大队"]
    [warning] = result.problems
    assert (warning.rule, warning.column) == ("import.assisting-departments-column", header[1 - lead])
    assert f"牵头部门（列“{header[lead]}”）" in warning.message("zh_CN") and "assisting" in warning.message("en")
    # alone, the column is the department the township works with
    alone = f"序号,事项名称,{header[1 - lead]}\n1,消防安全检查,县消防救援大队\n"
    assert [i.county_department for i in _clean(read_duty_list(alone.encode("gbk"),
                                                                 filename="配合履职事项.csv")).items] == ["县消防救援大队"]


def test_a_heading_row_inside_a_merged_category_range_is_a_heading_not_an_item_with_no_name(tmp_path):
    """"（二）民生服务" in the 序号 column of a row that a category merged over B3:B6 covers was read as
    an item with no name (its only other cell was the merged category): a heading is told by the
    cells typed in its row."""
    wb = Workbook()
    ws = wb.active
    ws.title = "基本履职事项"
    for row in (["序号", "领域", "事项名称", "履职依据"], ["（一）党的建设", None, None, None],
                [1, "党的建设", "发展党员", "《细则》"], [2, None, "党组织建设", "《条例》"],
                ["（二）民生服务", None, None, None], [3, None, "低保审核", "《办法》"]):
        ws.append(row)
    ws.merge_cells("B3:B6")
    wb.save(tmp_path / "d.xlsx")
    result = read_duty_list(tmp_path / "d.xlsx")
    assert result.problems == []
    assert [(i.row, i.name) for i in result.items] == [(3, "发展党员"), (4, "党组织建设"), (6, "低保审核")]


def test_a_column_of_earlier_numbers_beside_the_seq_column_is_not_read_and_said_so(tmp_path):
    """A 原序号 column (the items' numbers in the earlier draft) beside 序号 was refused as a column
    meaning the same thing, importing nothing: it is not read, and a warning says so."""
    for header in (["原序号", "序号", "事项名称", "履职依据"], ["序号", "原序号", "事项名称", "履职依据"]):
        seq, old = header.index("序号"), header.index("原序号")
        row: list[object] = [None] * 4
        row[seq], row[old], row[2], row[3] = 1, 7, "发展党员", "《细则》"
        path = _sheet(tmp_path / "d.xlsx", [header, row], title="基本履职事项")
        result = read_duty_list(path)
        assert result.ok, result.render()
        assert [(i.seq, i.name) for i in result.items] == [(1, "发展党员")]
        assert [(p.rule, p.column, p.row) for p in result.problems] == [("import.old-number-column", "原序号", 1)]
        said = result.problems[0].message("zh_CN")
        assert "原序号" in said and "不会导入" in said and "“序号”" in said
        assert "earlier numbers" in result.problems[0].message("en")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_blank_category_under_a_heading_is_the_one_named_above_it_since_the_heading(tmp_path, suffix):
    """Under （一）党的建设, rows that name their category (组织建设) and rows left blank below them: a
    blank took the heading's 党的建设 even right under a row naming 组织建设. The category is typed
    once per group (as a merged cell saved unmerged, or in CSV, looks): a blank cell now takes the
    category named above it since the last heading, and the heading's only before any is named."""
    rows = [["序号", "领域", "事项名称", "履职依据"], ["（一）党的建设", None, None, None],
            [1, None, "发展党员", "《细则》"], [2, "组织建设", "党组织建设", "《条例》"],
            [3, None, "述职评议", "《条例》"], ["（二）民生服务", None, None, None],
            [4, None, "低保审核", "《办法》"], [5, "社会救助", "临时救助", "《办法》"], [6, None, "特困供养", "《办法》"]]
    if suffix == ".xlsx":
        path = _sheet(tmp_path / "基本履职事项.xlsx", rows, title="基本履职事项")
    else:
        path = tmp_path / "基本履职事项.csv"
        path.write_text("\n".join(",".join("" if v is None else str(v) for v in r) for r in rows), encoding="utf-8")
    result = read_duty_list(path)
    assert result.ok, result.render()
    assert [(i.seq, i.category) for i in result.items] == [
        (1, "党的建设"), (2, "组织建设"), (3, "组织建设"), (4, "民生服务"), (5, "社会救助"), (6, "社会救助")]
