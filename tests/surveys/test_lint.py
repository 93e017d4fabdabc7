"""Lint rules on a draft duty list: each rule's id, severity and the row it names."""

from __future__ import annotations

from surveys.duty_list import DutyItem, Part
from surveys.i18n import has
from surveys.lint import LINT_RULES, lint
from surveys.problems import Problem, Severity
from surveys.samples.make_samples import build_sample_items


def _basic(name: str, row: int, seq: int | None = None, **kw: object) -> DutyItem:
    kw.setdefault("basis", "《社会救助暂行办法》")
    return DutyItem(Part.BASIC, name, seq=seq, sheet="基本履职事项", row=row, **kw)  # type: ignore[arg-type]


def _coop(name: str, row: int, seq: int | None = None, **kw: object) -> DutyItem:
    kw.setdefault("county_department", "县市场监管局")
    return DutyItem(Part.COOPERATING, name, seq=seq, sheet="配合履职事项", row=row, **kw)  # type: ignore[arg-type]


def _withdrawn(name: str, row: int, seq: int | None = None, **kw: object) -> DutyItem:
    kw.setdefault("receiving_department", "县市场监管局")
    return DutyItem(Part.WITHDRAWN, name, seq=seq, sheet="上级部门收回事项", row=row, **kw)  # type: ignore[arg-type]


def _only(problems: list[Problem], rule: str) -> list[Problem]:
    assert {p.rule for p in problems} == {rule}, [p.render() for p in problems]
    return problems


def test_every_rule_is_listed_with_its_severity_and_has_texts() -> None:
    assert LINT_RULES == {
        "lint.empty-name": Severity.ERROR,
        "lint.duplicate-in-part": Severity.ERROR,
        "lint.same-item-two-parts": Severity.ERROR,
        "lint.basic-without-basis": Severity.WARNING,
        "lint.cooperating-without-department": Severity.ERROR,
        "lint.withdrawn-without-receiver": Severity.ERROR,
        "lint.sequence-duplicate": Severity.WARNING,
        "lint.sequence-gap": Severity.WARNING,
    }
    for rule in LINT_RULES:
        assert has(f"problem.{rule}", "zh_CN") and has(f"problem.{rule}", "en")


def test_clean_sample_has_no_problems() -> None:
    assert lint(build_sample_items()) == []


def test_empty_name() -> None:
    [p] = _only(lint([_basic("信访事项受理和办理", 3), _basic("  ", 4)]), "lint.empty-name")
    assert (p.severity, p.part, p.sheet, p.row) == (Severity.ERROR, "basic", "基本履职事项", 4)
    assert p.message("zh_CN") == "事项名称为空。"
    assert p.message("en") == "The item name is empty."


def test_duplicate_in_part() -> None:
    items = [_basic("矛盾纠纷排查化解与人民调解", 3), _basic("信访事项受理和办理", 4),
             _basic("矛盾纠纷排查化解 与 人民调解", 5)]
    [p] = _only(lint(items), "lint.duplicate-in-part")
    assert (p.severity, p.part, p.row) == (Severity.ERROR, "basic", 5)
    assert "第 3 行" in p.message("zh_CN")


def test_same_item_in_two_parts_after_normalising() -> None:
    items = [_basic("最低生活保障、特困供养的申请受理", 3),
             _coop("最低生活保障，特困供养的申请受理 ", 7)]  # full-width comma and a stray space
    [p] = _only(lint(items), "lint.same-item-two-parts")
    assert (p.severity, p.part, p.sheet, p.row) == (Severity.ERROR, "cooperating", "配合履职事项", 7)
    assert "基本履职事项" in p.message("zh_CN") and "配合履职事项" in p.message("zh_CN")
    assert "Basic duties" in p.message("en") and "row 3" in p.message("en")


def test_basic_without_basis() -> None:
    [p] = _only(lint([_basic("农村人居环境整治", 9, basis="")]), "lint.basic-without-basis")
    assert (p.severity, p.part, p.row) == (Severity.WARNING, "basic", 9)
    assert "农村人居环境整治" in p.message("zh_CN")


def test_cooperating_without_department() -> None:
    [p] = _only(lint([_coop("义务教育控辍保学", 12, county_department=" ")]),
                "lint.cooperating-without-department")
    assert (p.severity, p.part, p.sheet, p.row) == (Severity.ERROR, "cooperating", "配合履职事项", 12)


def test_withdrawn_without_receiver() -> None:
    [p] = _only(lint([_withdrawn("特种设备安全监管", 4, receiving_department="")]),
                "lint.withdrawn-without-receiver")
    assert (p.severity, p.part, p.row) == (Severity.ERROR, "withdrawn", 4)
    assert "承接部门" in p.message("zh_CN")


def test_a_placeholder_is_no_basis_and_no_department() -> None:
    items = [_basic("农村人居环境整治", 9, basis="/"), _basic("信访事项受理和办理", 10, basis="无"),
             _coop("义务教育控辍保学", 12, county_department="——"),
             _withdrawn("特种设备安全监管", 4, receiving_department="－")]
    assert [(p.rule, p.row) for p in lint(items)] == [
        ("lint.basic-without-basis", 9), ("lint.basic-without-basis", 10),
        ("lint.cooperating-without-department", 12), ("lint.withdrawn-without-receiver", 4)]


def test_sequence_duplicate_per_part() -> None:
    items = [_basic("甲", 3, seq=1), _basic("乙", 4, seq=2), _basic("丙", 5, seq=2),
             _coop("丁", 3, seq=1)]  # 1 again, but in another part: fine
    [p] = _only(lint(items), "lint.sequence-duplicate")
    assert (p.severity, p.part, p.row, p.params["seq"]) == (Severity.WARNING, "basic", 5, 2)


def test_sequence_gap_per_part() -> None:
    items = [_withdrawn("甲", 3, seq=1), _withdrawn("乙", 4, seq=2), _withdrawn("丙", 5, seq=6),
             _basic("丁", 3, seq=1)]
    [p] = _only(lint(items), "lint.sequence-gap")
    assert (p.severity, p.part, p.row) == (Severity.WARNING, "withdrawn", 5)
    assert p.params["missing"] == "3–5"
    assert "3–5" in p.message("zh_CN") and "3–5" in p.message("en")


def test_numbering_that_starts_again_in_each_category_is_checked_per_category() -> None:
    items = [_basic("甲", 3, seq=1, category="党的建设"), _basic("乙", 4, seq=2, category="党的建设"),
             _basic("丙", 6, seq=1, category="民生服务"), _basic("丁", 7, seq=2, category="民生服务"),
             _basic("戊", 8, seq=2, category="民生服务"), _basic("己", 9, seq=4, category="民生服务")]
    assert [(p.rule, p.row) for p in lint(items)] == [("lint.sequence-duplicate", 8), ("lint.sequence-gap", 9)]
    # numbered through the part, a category starting at 3: one sequence, checked as one
    items = [_basic("甲", 3, seq=1, category="党的建设"), _basic("乙", 4, seq=2, category="党的建设"),
             _basic("丙", 6, seq=1, category="民生服务"), _basic("丁", 7, seq=3, category="应急管理")]
    assert [(p.rule, p.row) for p in lint(items)] == [("lint.sequence-duplicate", 6)]


def test_sequence_that_does_not_start_at_one() -> None:
    [p] = _only(lint([_basic("甲", 3, seq=3), _basic("乙", 4, seq=4)]), "lint.sequence-gap")
    assert (p.row, p.params["missing"]) == (3, "1–2")


def test_unnumbered_items_are_not_checked_for_numbering() -> None:
    assert lint([_basic("甲", 3), _basic("乙", 4)]) == []


def test_a_duplicate_on_another_sheet_names_that_sheet() -> None:
    items = [_basic("甲", 3, seq=1), _basic("乙", 4, seq=2),
             DutyItem(Part.BASIC, "乙", seq=2, basis="《办法》", sheet="基本履职事项（续）", row=2)]
    problems = lint(items)
    assert {p.rule for p in problems} == {"lint.duplicate-in-part", "lint.sequence-duplicate"}
    for p in problems:
        assert "工作表“基本履职事项”第 4 行" in p.message("zh_CN"), p.message("zh_CN")
        assert 'sheet "基本履职事项", row 4' in p.message("en")
    same_sheet = lint([_basic("甲", 3, seq=1), _basic("乙", 4, seq=1)])
    assert "（首次出现在第 3 行）" in same_sheet[0].message("zh_CN")


def test_a_huge_sequence_number_is_one_gap_found_at_once() -> None:
    # a 序号 typed as 3000000000 (an ID pasted into the wrong column) built a list of three
    # billion numbers: lint hung and ran out of memory, and a gap over 1,000 was named wrongly
    items = [_basic("甲", 3, seq=1), _basic("乙", 4, seq=3_000_000_000), _basic("丙", 5, seq=10**20)]
    problems = _only(lint(items), "lint.sequence-gap")
    assert [p.params["missing"] for p in problems] == ["2–2999999999", f"3000000001–{10**20 - 1}"]
    [p] = _only(lint([_basic("甲", 3, seq=1), _basic("乙", 4, seq=3)]), "lint.sequence-gap")
    assert p.params["missing"] == "2"


def test_the_fields_each_part_must_name_are_read_from_required_field_alone(monkeypatch) -> None:
    """The lint kept its own per-part checks (basis, county_department, receiving_department)
    beside surveys.duty_list.REQUIRED_FIELD, which the cadre's item card reads: the two could
    drift apart. The lint now asks REQUIRED_FIELD which field each part must name."""
    import surveys.lint as lint_module
    from surveys.duty_list import REQUIRED_FIELD

    items = [_basic("发展党员", 2, basis="", content="组织发展党员"),
             _coop("食品安全协管", 3, county_department="", county_duty="监督检查"),
             _withdrawn("特种设备安全监管", 4, receiving_department="", working_mode="发现报告")]
    assert [(p.rule, p.row) for p in lint(items)] == [
        ("lint.basic-without-basis", 2), ("lint.cooperating-without-department", 3),
        ("lint.withdrawn-without-receiver", 4)]
    assert lint_module.REQUIRED_RULE == {
        Part.BASIC: "lint.basic-without-basis", Part.COOPERATING: "lint.cooperating-without-department",
        Part.WITHDRAWN: "lint.withdrawn-without-receiver"}
    # the one table decides: a part made to require another field is checked on that field
    monkeypatch.setitem(REQUIRED_FIELD, Part.BASIC, "content")
    monkeypatch.setitem(REQUIRED_FIELD, Part.COOPERATING, "county_duty")
    monkeypatch.setitem(REQUIRED_FIELD, Part.WITHDRAWN, "working_mode")
    assert lint(items) == []


def test_a_lint_problem_names_its_column_by_the_header_the_organizer_wrote(tmp_path) -> None:
    """Lint problems named the sheet and row but not the column, where the import's name the
    column by its header: “第 3 行：没有填写履职依据” left the drafter to find which column that is
    in a sheet headed 法律政策依据. Each sheet's own header is named."""
    from openpyxl import Workbook

    from surveys.lint import check_file

    wb = Workbook()
    basic = wb.active
    basic.title = "基本"
    for row in (["编号", "名称", "法律政策依据"], [1, "发展党员", "《细则》"], [3, "人民调解", ""],
                [4, "发展党员", "《细则》"]):
        basic.append(row)
    coop = wb.create_sheet("配合")
    for row in (["序号", "履职事项名称", "牵头单位"], [1, "消防安全检查", "  "]):
        coop.append(row)
    withdrawn = wb.create_sheet("收回")
    for row in (["序号", "事项名称", "上级部门"], [1, "特种设备安全监管", "无"]):  # its only department column
        withdrawn.append(row)
    wb.save(tmp_path / "draft.xlsx")
    result, problems = check_file(tmp_path / "draft.xlsx")
    assert result.ok
    assert sorted((p.sheet, p.row, p.rule, p.column) for p in problems) == [
        ("基本", 3, "lint.basic-without-basis", "法律政策依据"), ("基本", 3, "lint.sequence-gap", "编号"),
        ("基本", 4, "lint.duplicate-in-part", "名称"),
        ("收回", 2, "lint.withdrawn-without-receiver", "上级部门"),
        ("配合", 2, "lint.cooperating-without-department", "牵头单位")]
    said = next(p for p in problems if p.rule == "lint.basic-without-basis")
    assert "工作表“基本”，第 3 行，列“法律政策依据”：" in said.render("zh_CN"), said.render("zh_CN")
    assert 'column "法律政策依据"' in said.render("en")
    # without the headers (items not read from a file) nothing is made up
    assert {p.column for p in lint(result.items)} == {None}


def test_a_lint_problem_names_the_file_as_the_import_problems_beside_it_do() -> None:
    """In one answer the import's problems began 文件 基本履职事项.csv，第 2 行 and the lint's 第 3 行:
    the file of a CSV, which has no sheet, was named by half of the lines."""
    from surveys.lint import check_file

    text = "序号,事项名称,履职依据,责任科室\n1,发展党员,《细则》,党建办\n2,人民调解,,综治办\n"
    _, problems = check_file(text.encode("gbk"), "基本履职事项.csv")
    assert [(p.rule, p.file) for p in problems] == [
        ("import.unknown-column", "基本履职事项.csv"), ("lint.basic-without-basis", "基本履职事项.csv")]
    assert problems[1].render("zh_CN").startswith("[提示] 文件 基本履职事项.csv，第 3 行，列“履职依据”：")
