"""The old-Excel (.xls) fixtures of tests/surveys/test_import_xls.py, and the drafts they hold.

No maintained library writes .xls (LibreOffice is not at hand either), so the .xls files beside
this script were generated once with xlwt, which is not a dependency of the project:

    pip install xlwt==1.3.0 && python tests/surveys/xls/make_fixtures.py

The tests import the drafts below (and `write_xlsx`) to build the same draft as .xlsx.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SAMPLE_XLSX = HERE.parent.parent.parent / "surveys" / "samples" / "sample_draft.xlsx"

#: sheet name → (rows, merged ranges as (first row, first col, last row, last col) 0-based, hidden)
Draft = dict[str, tuple[list[list[Any]], list[tuple[int, int, int, int]], bool]]

#: Dates, numbers, a merged category, a merged title and a hidden sheet
MIXED: Draft = {
    "基本履职事项": ([
        ["青山镇履行职责事项清单（征求意见稿）", None, None, None, None],
        ["序号", "领域", "事项名称", "履职依据", "备注"],
        [1, "党的建设", "发展党员及党员教育管理监督服务", "《中国共产党发展党员工作细则》", dt.datetime(2024, 3, 1)],
        [2.0, None, "村（社区）党组织建设和换届工作指导", "《中国共产党农村基层组织工作条例》", 2.5],
        [3, "民生服务", "最低生活保障的申请受理和调查审核", "《社会救助暂行办法》", 12],
        [None, None, None, None, None],
        [4, "平安法治", "矛盾纠纷排查化解与人民调解", "《中华人民共和国人民调解法》", "第二十条"],
    ], [(0, 0, 0, 4), (2, 1, 3, 1)], False),
    "旧稿": ([["序号", "事项名称"], [1, "旧的事项"]], [], True),
}

#: A part column naming no part in row 4, and an item with no name in row 5
ERRORS: Draft = {
    "清单": ([
        ["序号", "部分", "事项名称", "对应上级部门", "承接部门"],
        [1, "基本", "发展党员及党员教育管理监督服务", None, None],
        [2, "配合", "消防安全检查与火灾隐患整治", "县消防救援大队", None],
        [3, "其他", "特种设备安全监管", None, "县市场监管局"],
    ], [], False),
}


def write_xlsx(draft: Draft, path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, (rows, merges, hidden) in draft.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for r0, c0, r1, c1 in merges:
            ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
        if hidden:
            ws.sheet_state = "hidden"
    wb.save(path)


def write_xls(draft: Draft, path: Path) -> None:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for name, (rows, merges, hidden) in draft.items():
        ws = wb.add_sheet(name)
        tops = {(r0, c0): (r1, c1) for r0, c0, r1, c1 in merges}
        covered = {(r, c) for r0, c0, r1, c1 in merges for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if (r, c) in tops:
                    r1, c1 = tops[(r, c)]
                    ws.write_merge(r, r1, c, c1, value)
                elif (r, c) in covered or value is None:
                    continue
                elif isinstance(value, dt.datetime):
                    ws.write(r, c, value, date)
                else:
                    ws.write(r, c, value)
        if hidden:
            ws.visibility = 1
    wb.save(str(path))


def sample_draft() -> Draft:
    """surveys/samples/sample_draft.xlsx as a Draft (values and merged ranges)."""
    import openpyxl

    wb = openpyxl.load_workbook(SAMPLE_XLSX)
    draft: Draft = {}
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        merges = [(m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1) for m in ws.merged_cells.ranges]
        draft[ws.title] = (rows, merges, ws.sheet_state != "visible")
    return draft


if __name__ == "__main__":
    write_xls(sample_draft(), HERE / "sample_draft.xls")
    write_xls(MIXED, HERE / "mixed.xls")
    write_xls(ERRORS, HERE / "errors.xls")
