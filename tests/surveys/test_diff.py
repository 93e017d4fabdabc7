"""Diff of two versions of a duty list and the announcement built from it."""

from __future__ import annotations

import json

from surveys.diff import diff_lists
from surveys.duty_list import DutyItem, Part
from surveys.samples.make_samples import build_sample_items


def _item(part: Part, name: str, **kw: object) -> DutyItem:
    return DutyItem(part, name, **kw)  # type: ignore[arg-type]


OLD = [
    _item(Part.BASIC, "矛盾纠纷排查化解与人民调解", seq=1, basis="《人民调解法》", county_department="县司法局"),
    _item(Part.BASIC, "消防安全检查与火灾隐患整治", seq=2, basis="《消防法》"),
    _item(Part.COOPERATING, "食品安全协管巡查与信息报告", seq=1, county_department="县市场监管局"),
    _item(Part.WITHDRAWN, "公共场所卫生行政执法", seq=1, receiving_department="县卫生健康局"),
]


def test_identical_lists_have_an_empty_diff() -> None:
    diff = diff_lists(build_sample_items(), build_sample_items())
    assert diff.is_empty
    assert diff.to_json() == {"added": [], "removed": [], "moved": [], "changed": [], "renamed": []}
    assert diff.summary("zh_CN") == "与上一版相比，清单没有变化。"


def test_renumbering_and_source_position_are_not_changes() -> None:
    new = [_item(i.part, i.name, seq=(i.seq or 0) + 10, basis=i.basis, county_department=i.county_department,
                 receiving_department=i.receiving_department, sheet="x", row=99) for i in OLD]
    assert diff_lists(OLD, new).is_empty


def test_added_and_removed() -> None:
    new = OLD[:3] + [_item(Part.BASIC, "农村村民宅基地审核批准", basis="《土地管理法》第六十二条")]
    diff = diff_lists(OLD, new)
    data = diff.to_json()
    assert data["added"] == [{"part": "basic", "name": "农村村民宅基地审核批准",
                              "basis": "《土地管理法》第六十二条"}]
    assert [(r["part"], r["name"]) for r in data["removed"]] == [("withdrawn", "公共场所卫生行政执法")]
    assert data["moved"] == [] and data["changed"] == []
    assert not diff.is_empty


def test_moved_between_parts_with_its_changed_fields() -> None:
    moved = _item(Part.COOPERATING, "消防安全检查与火灾隐患整治", seq=2, basis="《消防法》",
                  county_department="县消防救援大队")
    diff = diff_lists(OLD, [OLD[0], moved, OLD[2], OLD[3]])
    data = diff.to_json()
    assert data["moved"] == [{"name": "消防安全检查与火灾隐患整治", "from": "basic", "to": "cooperating"}]
    assert data["changed"] == [{"name": "消防安全检查与火灾隐患整治", "part": "cooperating",
                                "fields": {"county_department": {"old": "", "new": "县消防救援大队"}}}]
    assert data["added"] == [] and data["removed"] == []


def test_a_move_does_not_count_the_fields_only_one_of_the_parts_has_as_edits() -> None:
    before = _item(Part.COOPERATING, "燃气安全检查", seq=1, basis="《城镇燃气管理条例》", county_department="县住建局",
                   county_duty="监管", content="巡查报告")
    after = _item(Part.WITHDRAWN, "燃气安全检查", seq=1, basis="《城镇燃气管理条例》", receiving_department="县住建局",
                  working_mode="部门直接承担")
    data = diff_lists([before], [after]).to_json()
    assert data["moved"] == [{"name": "燃气安全检查", "from": "cooperating", "to": "withdrawn"}]
    assert data["changed"] == []  # county_department, county_duty, content, receiving_department, working_mode
    edited = _item(Part.WITHDRAWN, "燃气安全检查", seq=1, basis="《燃气条例》", receiving_department="县住建局")
    assert [c["fields"] for c in diff_lists([before], [edited]).to_json()["changed"]] == [
        {"basis": {"old": "《城镇燃气管理条例》", "new": "《燃气条例》"}}]


def test_changed_fields_ignore_whitespace_and_full_width_punctuation() -> None:
    new = [
        _item(Part.BASIC, "矛盾纠纷排查化解与人民调解", seq=1, basis="《中华人民共和国人民调解法》",
              county_department="县司法局", remarks="新增村级调解"),
        _item(Part.BASIC, "消防安全检查与火灾隐患整治 ", seq=2, basis=" 《消防法》"),
        *OLD[2:],
    ]
    data = diff_lists(OLD, new).to_json()
    assert data["changed"] == [{
        "name": "矛盾纠纷排查化解与人民调解", "part": "basic",
        "fields": {"basis": {"old": "《人民调解法》", "new": "《中华人民共和国人民调解法》"},
                   "remarks": {"old": "", "new": "新增村级调解"}},
    }]
    json.dumps(data, ensure_ascii=False)  # plain data


def test_summary_in_chinese_and_english() -> None:
    new = [
        _item(Part.BASIC, "矛盾纠纷排查化解与人民调解", basis="《中华人民共和国人民调解法》",
              county_department="县司法局"),
        _item(Part.COOPERATING, "消防安全检查与火灾隐患整治", basis="《消防法》", county_department="县消防救援大队"),
        OLD[2],
        _item(Part.BASIC, "农村村民宅基地审核批准", basis="《土地管理法》"),
    ]
    diff = diff_lists(OLD, new)
    zh = diff.summary("zh_CN")
    assert zh.splitlines()[0] == "征求意见后清单调整情况：新增 1 项，删除 1 项，调整所属部分 1 项，修改内容 2 项。"
    assert "新增 1 项：农村村民宅基地审核批准（基本履职事项）。" in zh
    assert "删除 1 项：公共场所卫生行政执法（上级部门收回事项）。" in zh
    assert "由基本履职事项移至配合履职事项 1 项：消防安全检查与火灾隐患整治。" in zh
    assert "矛盾纠纷排查化解与人民调解（履职依据）" in zh
    en = diff.summary("en")
    assert en.splitlines()[0].startswith("Changes to the list after the consultation: 1 added, 1 removed")
    assert "Moved from Basic duties to Cooperating duties (1)" in en


def test_long_summary_is_cut_with_a_count() -> None:
    old = build_sample_items()
    new = old + [_item(Part.BASIC, f"新增事项第{i}号：" + "很长的事项名称" * 5, basis="《依据》")
                 for i in range(400)]
    text = diff_lists(old, new).summary("zh_CN")
    assert len(text) <= 4000
    assert "…等 400 项" in text
    assert text.splitlines()[0].startswith("征求意见后清单调整情况：新增 400 项")


def test_a_renamed_item_is_one_rename_not_a_removal_and_an_addition() -> None:
    # 消防 renamed in place (same part and 序号); 食品 renamed and renumbered; both names close
    renamed_in_place = _item(Part.BASIC, "消防安全检查和火灾隐患排查整治", seq=2, basis="《消防法》")
    renamed_alike = _item(Part.COOPERATING, "食品安全协管巡查及信息报告", seq=5, county_department="县市场监管局")
    new = [OLD[0], renamed_in_place, renamed_alike, OLD[3], _item(Part.BASIC, "农村村民宅基地审核批准", seq=3)]
    diff = diff_lists(OLD, new)
    data = diff.to_json()
    assert data["renamed"] == [
        {"part": "basic", "old": "消防安全检查与火灾隐患整治", "new": "消防安全检查和火灾隐患排查整治", "fields": {}},
        {"part": "cooperating", "old": "食品安全协管巡查与信息报告", "new": "食品安全协管巡查及信息报告", "fields": {}},
    ]
    assert [r["name"] for r in data["added"]] == ["农村村民宅基地审核批准"] and data["removed"] == []
    zh = diff.summary("zh_CN")
    assert ("更名 2 项：消防安全检查与火灾隐患整治 → 消防安全检查和火灾隐患排查整治；"
            "食品安全协管巡查与信息报告 → 食品安全协管巡查及信息报告。") in zh
    assert "删除" not in zh.splitlines()[-1] and "更名 2 项" in zh.splitlines()[0]
    assert "Renamed (2): 消防安全检查与火灾隐患整治 → 消防安全检查和火灾隐患排查整治" in diff.summary("en")


def test_unrelated_items_in_other_places_are_not_taken_for_a_rename() -> None:
    new = OLD[:3] + [_item(Part.WITHDRAWN, "农村村民宅基地审核批准", seq=2)]
    data = diff_lists(OLD, new).to_json()
    assert data["renamed"] == []
    assert [r["name"] for r in data["removed"]] == ["公共场所卫生行政执法"]
    assert [r["name"] for r in data["added"]] == ["农村村民宅基地审核批准"]


def test_an_unrelated_item_in_the_same_place_is_removed_and_added_not_renamed() -> None:
    # 消防 deleted and 宅基地 added as basic item 2: same part and 序号, but nothing alike in the names
    new = [OLD[0], _item(Part.BASIC, "农村村民宅基地审核批准", seq=2, basis="《土地管理法》"), OLD[2], OLD[3]]
    diff = diff_lists(OLD, new)
    data = diff.to_json()
    assert data["renamed"] == []
    assert [r["name"] for r in data["removed"]] == ["消防安全检查与火灾隐患整治"]
    assert [r["name"] for r in data["added"]] == ["农村村民宅基地审核批准"]
    zh = diff.summary("zh_CN")
    assert "更名" not in zh and "→" not in zh


def test_of_two_equally_alike_names_the_one_with_the_same_seq_is_the_rename() -> None:
    old = [_item(Part.WITHDRAWN, "渔业行政执法", seq=1), _item(Part.WITHDRAWN, "林业行政执法", seq=2)]
    new = [_item(Part.WITHDRAWN, "畜牧行政执法", seq=2)]
    data = diff_lists(old, new).to_json()
    assert [(r["old"], r["new"]) for r in data["renamed"]] == [("林业行政执法", "畜牧行政执法")]
    assert [r["name"] for r in data["removed"]] == ["渔业行政执法"]


def test_a_summary_of_names_full_of_two_unit_characters_keeps_within_its_limit_as_telegram_counts() -> None:
    """Names of rare characters (𠀀, 𡈽) or emoji take two UTF-16 units each, Telegram's unit:
    counted as one, a summary of 2,500 "characters" was up to 5,000 units — the publish
    confirmation it stands in was cut by Telegram's limit, its question lost."""
    from surveys.text import units

    old = build_sample_items()
    new = old + [_item(Part.BASIC, f"新增事项第{i}号" + "𠀀𡈽" * 10, basis="《依据》") for i in range(100)]
    text = diff_lists(old, new).summary("zh_CN", limit=2500)
    assert units(text) <= 2500
    assert "…等 100 项" in text  # the names shortened by the count, not cut off at the end
