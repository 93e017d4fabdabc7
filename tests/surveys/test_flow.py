"""The answer flow: what comes next, checking answers, skipping, going back,
changing an earlier answer, progress, the summary — and a stateful property test
that random residents never leave the flow in an invalid state."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from surveys import flow
from surveys.flow import FlowError, FlowState, ItemRef
from surveys.i18n import LOCALES, has
from surveys.questionnaire import Question, Questionnaire, load_default_questionnaire, load_questionnaire

FLOW_YAML = textwrap.dedent("""\
    id: f
    title: 测试
    questions:
      - id: q1
        type: single
        text: {zh_CN: 您了解吗？, en: "Do you know?"}
        options: [{id: yes, text: {zh_CN: 了解, en: "Yes"}}, {id: no, text: 不了解}]
      - id: q2
        type: single
        text: 哪一种？
        show_if: {question: q1, equals: yes}
        options: [{id: a, text: 甲}, {id: b, text: 乙}]
      - id: q3
        type: text
        text: 说说甲
        required: false
        max_length: 20
        show_if: {question: q2, equals: a}
      - id: q4
        type: scale
        text: 满意吗？
        labels: {4: 比较满意}
        allow_unsure: true
      - id: q5
        type: number
        text: 年龄
        required: false
        min: 18
        max: 120
        integer: true
      - id: q6
        type: item_rating
        text: 打分
        categories: [民生服务]
        max_items: 2
        allow_unsure: true
      - id: q7
        type: item_pick
        text: 最需要哪些
        max_picks: 2
        parts: [basic, cooperating]
      - id: q8
        type: multi
        text: 哪些方面
        required: false
        min: 1
        max: 2
        options: [{id: x, text: 甲}, {id: y, text: 乙}, {id: z, text: 丙}]
      - id: q9
        type: number
        text: 多少钱
        required: false
        min: 0
""")

ITEMS = [
    ItemRef(1, "basic", "党的建设", "发展党员"),
    ItemRef(2, "basic", "民生服务", "最低生活保障审核"),
    ItemRef(3, "basic", "民生服务", "临时救助"),
    ItemRef(4, "basic", "民生服务", "养老服务"),
    ItemRef(5, "cooperating", "平安法治", "消防安全检查"),
    ItemRef(6, "withdrawn", "市场监管", "特种设备安全监管"),
]


def _load() -> Questionnaire:
    q, problems = load_questionnaire(FLOW_YAML)
    assert q is not None, problems
    return q


Q = _load()


def question(qid: str) -> Question:
    found = Q.question(qid)
    assert found is not None
    return found


def ok(question_id: str, raw: Any, items=ITEMS) -> Any:
    value, error = flow.validate(question(question_id), raw, items)
    assert error is None, error
    return value


def err(question_id: str, raw: Any, items=ITEMS) -> str:
    value, error = flow.validate(question(question_id), raw, items)
    assert value is None and error is not None
    return error.key


# --- next, applicable, progress ---------------------------------------------------------


def test_first_question_comes_first_and_show_if_hides_followups() -> None:
    assert flow.next_question(Q, {}).id == "q1"
    assert [x.id for x in flow.applicable(Q, {})] == ["q1", "q4", "q5", "q6", "q7", "q8", "q9"]
    assert [x.id for x in flow.applicable(Q, {"q1": "yes"})][:3] == ["q1", "q2", "q4"]
    assert [x.id for x in flow.applicable(Q, {"q1": "yes", "q2": "a"})][:4] == ["q1", "q2", "q3", "q4"]


def test_next_question_skips_answered_and_skipped_ones() -> None:
    assert flow.next_question(Q, {"q1": "no"}).id == "q4"
    assert flow.next_question(Q, {"q1": "no", "q4": 3, "q5": None}).id == "q6"
    assert flow.next_question(Q, {"q1": "no", "q4": 3}, skipped={"q5"}).id == "q6"


def test_item_questions_without_items_to_show_are_left_out() -> None:
    only_party = [ItemRef(1, "basic", "党的建设", "发展党员")]
    shown = [x.id for x in flow.applicable(Q, {}, only_party)]
    assert "q6" not in shown and "q7" in shown
    assert "q7" not in [x.id for x in flow.applicable(Q, {}, [])]
    assert "q6" in [x.id for x in flow.applicable(Q, {}, None)]


def test_progress_counts_only_shown_questions() -> None:
    assert flow.progress(Q, {}, items=ITEMS) == (0, 7)
    assert flow.progress(Q, {"q1": "yes"}, items=ITEMS) == (1, 8)
    assert flow.progress(Q, {"q1": "yes", "q2": "a", "q3": None}, items=ITEMS) == (3, 9)
    assert flow.progress(Q, {"q1": "no", "q4": 5}, skipped={"q5"}, items=ITEMS) == (3, 7)


def test_question_count_is_the_progress_total_at_the_start_and_the_follow_ups() -> None:
    assert flow.question_count(Q, ITEMS) == (7, 2)  # q2 and q3 come only after some answers
    assert flow.question_count(Q, ITEMS)[0] == flow.progress(Q, {}, items=ITEMS)[1]
    only_party = [ItemRef(1, "basic", "党的建设", "发展党员")]
    assert flow.question_count(Q, only_party) == (6, 2)  # nothing for q6 to rate: never asked


def complete_answers() -> dict[str, Any]:
    return {"q1": "yes", "q2": "a", "q3": "很好", "q4": 4, "q5": 66,
            "q6": {"2": 5, "3": "unsure"}, "q7": [5], "q8": None, "q9": None}


def test_complete_when_every_shown_question_is_answered_or_skipped() -> None:
    answers = complete_answers()
    assert flow.is_complete(Q, answers, items=ITEMS)
    assert flow.next_question(Q, answers, items=ITEMS) is None
    assert flow.progress(Q, answers, items=ITEMS) == (9, 9)
    del answers["q9"]
    assert not flow.is_complete(Q, answers, items=ITEMS)


# --- answer, skip, back, change ------------------------------------------------------------


def test_answer_records_the_checked_value() -> None:
    answers, error = flow.answer(Q, {}, "q1", " yes ")
    assert error is None and answers == {"q1": "yes"}


def test_answer_refuses_invalid_values_and_leaves_answers_unchanged() -> None:
    answers, error = flow.answer(Q, {"q1": "no"}, "q4", "7")
    assert answers == {"q1": "no"} and error == FlowError("flow.out-of-range", {"min": 1, "max": 5})


def test_answer_to_a_hidden_or_unknown_question_is_refused() -> None:
    assert flow.answer(Q, {"q1": "no"}, "q2", "a")[1].key == "flow.not-applicable"
    assert flow.answer(Q, {}, "nope", "a")[1].key == "flow.unknown-question"


def test_skip_is_only_for_optional_questions() -> None:
    answers, error = flow.skip(Q, {"q1": "no", "q4": 1}, "q5")
    assert error is None and answers == {"q1": "no", "q4": 1, "q5": None}
    answers, error = flow.skip(Q, {"q1": "no"}, "q4")
    assert error is not None and error.key == "flow.required" and answers == {"q1": "no"}


def test_back_returns_the_previous_shown_question() -> None:
    answers = {"q1": "no", "q4": 2}
    assert flow.back(Q, answers, "q5") == "q4"
    assert flow.back(Q, answers, "q4") == "q1"  # q2 and q3 are hidden
    assert flow.back(Q, answers, "q1") is None
    assert flow.back(Q, complete_answers(), None, ITEMS) == "q9"


def test_change_drops_answers_whose_show_if_no_longer_holds_transitively() -> None:
    answers = {"q1": "yes", "q2": "a", "q3": "好", "q4": 3}
    assert flow.change(Q, answers, "q1", "no") == {"q1": "no", "q4": 3}
    assert flow.change(Q, answers, "q2", "b") == {"q1": "yes", "q2": "b", "q4": 3}
    assert flow.change(Q, answers, "q4", None) == {"q1": "yes", "q2": "a", "q3": "好", "q4": None}
    with pytest.raises(KeyError):
        flow.change(Q, answers, "nope", 1)


def test_change_stores_values_in_their_checked_form_and_refuses_invalid_ones() -> None:
    assert flow.change(Q, {"q1": "no"}, "q8", ["y", "x"])["q8"] == ["x", "y"]
    assert flow.change(Q, {"q1": "no"}, "q5", "６６")["q5"] == 66
    with pytest.raises(ValueError, match="flow.out-of-range"):
        flow.change(Q, {"q1": "no"}, "q4", 9)


def test_changing_an_answer_back_reopens_the_followup_as_unanswered() -> None:
    answers = flow.change(Q, {"q1": "yes", "q2": "a", "q4": 3}, "q1", "no")
    answers = flow.change(Q, answers, "q1", "yes")
    assert flow.next_question(Q, answers).id == "q2"


def test_conditions_not_equals_in_and_answered() -> None:
    q, problems = load_questionnaire(textwrap.dedent("""\
        id: c
        title: 测试
        questions:
          - {id: m, type: multi, text: 选, options: [{id: a, text: 甲}, {id: b, text: 乙}, {id: c, text: 丙}]}
          - {id: n1, type: text, text: 一, required: false, show_if: {question: m, not_equals: a}}
          - {id: n2, type: text, text: 二, required: false, show_if: {question: m, in: [b, c]}}
          - {id: n3, type: text, text: 三, required: false, show_if: {question: n2, answered: true}}
          - {id: n4, type: text, text: 四, required: false, show_if: {question: n2, answered: false}}
    """))
    assert q is not None, problems

    def shown(answers: dict[str, Any]) -> list[str]:
        return [x.id for x in flow.applicable(q, answers)]

    assert shown({}) == ["m", "n4"]
    assert shown({"m": ["a", "b"]}) == ["m", "n2", "n4"]
    assert shown({"m": ["c"]}) == ["m", "n1", "n2", "n4"]
    assert shown({"m": ["c"], "n2": "说"}) == ["m", "n1", "n2", "n3"]
    assert shown({"m": ["c"], "n2": None}) == ["m", "n1", "n2", "n4"]


# --- validation of each type ---------------------------------------------------------------


def test_single_accepts_only_its_options() -> None:
    assert ok("q1", "no") == "no"
    assert err("q1", "maybe") == "flow.not-an-option"
    assert err("q1", 1) == "flow.not-an-option"


def test_multi_checks_options_and_counts_and_orders_the_choice() -> None:
    assert ok("q8", ["z", "x", "z"]) == ["x", "z"]
    assert err("q8", ["x", "w"]) == "flow.not-an-option"
    assert err("q8", []) == "flow.too-few"
    assert err("q8", ["x", "y", "z"]) == "flow.too-many"
    assert err("q8", "x") == "flow.not-an-option"


def test_scale_takes_points_one_to_five_and_unsure_when_allowed() -> None:
    assert [ok("q4", p) for p in (1, "3", "５", "unsure")] == [1, 3, 5, "unsure"]
    assert err("q4", 0) == "flow.out-of-range" and err("q4", "6") == "flow.out-of-range"
    assert err("q4", "good") == "flow.not-an-option" and err("q4", True) == "flow.not-an-option"
    no_unsure = Question(id="s", type="scale", text=question("q4").text)
    assert flow.validate(no_unsure, "unsure")[1].key == "flow.not-an-option"


def test_text_is_stripped_and_limited_to_max_length_and_telegram_size() -> None:
    assert ok("q3", "  路灯坏了\x00 ") == "路灯坏了"
    assert ok("q3", "字" * 20) == "字" * 20
    value, error = flow.validate(question("q3"), "字" * 21)
    assert value is None and error == FlowError("flow.too-long", {"max": 20, "length": 21})
    assert err("q3", "   ") == "flow.empty" and err("q3", 5) == "flow.empty"
    huge = Question(id="t", type="text", text=question("q3").text, max_length=10_000)
    value, error = flow.validate(huge, "字" * 4097)
    assert error == FlowError("flow.too-long", {"max": 4096, "length": 4097})


def test_number_parsing_and_range() -> None:
    assert ok("q5", "65") == 65 and ok("q5", "３５") == 35 and ok("q5", " 70 ") == 70 and ok("q5", "70.0") == 70
    assert ok("q5", 40) == 40
    assert err("q5", "abc") == "flow.not-a-number"
    assert err("q5", "nan") == "flow.not-a-number" and err("q5", "1e3") == "flow.not-a-number"
    assert err("q5", "5.5") == "flow.not-integer"
    assert err("q5", True) == "flow.not-a-number"
    value, error = flow.validate(question("q5"), "17")
    assert error == FlowError("flow.out-of-range", {"min": "18", "max": "120"})
    assert err("q9", "-1") == "flow.too-small"
    assert ok("q9", "12.5") == 12.5 and ok("q9", "１２．５") == 12.5
    capped = Question(id="n", type="number", text=question("q9").text, max_value=10)
    assert flow.validate(capped, "11")[1].key == "flow.too-large"


def test_a_number_with_a_unit_or_in_chinese_numerals_is_read() -> None:
    """"65岁", "3个", "约 65" and "六十五" were refused as not a number."""
    assert [ok("q5", t) for t in ("65岁", "约 65", "约65岁", "65 岁左右", "六十五", "六十五岁", "七十", "十八岁")] \
        == [65, 65, 65, 65, 65, 65, 70, 18]
    assert ok("q5", "65岁。") == 65 and ok("q5", "六十五！") == 65 and ok("q9", "12.5。") == 12.5  # a full stop after it
    assert [ok("q9", t) for t in ("3个", "两个", "一百零五元", "一百五", "两千五", "三万五千", "１２．５元", "零")] \
        == [3, 2, 105, 150, 2500, 35000, 12.5, 0]
    assert err("q5", "一百三十岁") == "flow.out-of-range" and err("q5", "十七岁") == "flow.out-of-range"
    assert err("q5", "65.5岁") == "flow.not-integer"
    assert err("q9", "5千") == "flow.not-a-number"  # 5 or 5,000: said again as a number


def test_a_number_written_the_english_way_or_chinese_digit_by_digit_is_read() -> None:
    """"65 years", "about 65" and "65 yrs" were refused as not a number while 65岁 and 约 65 were
    read; and 一九六〇 (a year said digit by digit) was refused as several numbers."""
    assert [ok("q5", t) for t in ("65 years", "about 65", "65 yrs", "65yrs", "65 years old", "Around 65",
                                  "approx. 65 years", "roughly 65.", "65 Years")] == [65] * 9
    assert [ok("q9", t) for t in ("3 people", "12.5 yuan", "about 2 times")] == [3, 12.5, 2]
    assert [ok("q9", t) for t in ("一九六〇", "一九六〇年", "二〇二四", "一九五八")] == [1960, 1960, 2024, 1958]
    assert err("q5", "65.5 years") == "flow.not-integer"
    assert err("q9", "5k") == "flow.not-a-number" and err("q9", "5 thousand") == "flow.not-a-number"
    assert [err("q9", t) for t in ("65 and a half years", "12 and a half", "5 thousand yuan", "2 dozen")] \
        == ["flow.not-a-number"] * 4  # words that change the number: not read as the one before them
    assert err("q5", "years") == "flow.not-a-number"


def test_a_number_said_as_a_sentence_or_in_english_words_is_read() -> None:
    """"我65岁", "今年65", "今年65岁了" and "sixty-five" were refused as not a number. A leading
    我/今年/大概 and a trailing 了 are read past, and English number words up to the hundreds are
    read; ranges and several numbers are still refused as such."""
    assert [ok("q5", t) for t in ("我65岁", "今年65", "今年65岁了", "我今年65岁", "我今年大概65岁", "我六十五",
                                  "今年六十五岁了", "大概65")] == [65] * 8
    assert [ok("q5", t) for t in ("sixty-five", "Sixty five", "sixty-five years old", "about sixty-five",
                                  "I am 65", "I'm sixty-five", "65")] == [65] * 7
    assert [ok("q9", t) for t in ("twelve", "one hundred and five", "a hundred", "two hundred thirty", "zero",
                                  "three people", "ninety-nine")] == [12, 105, 100, 230, 0, 3, 99]
    assert [err("q5", t) for t in ("我60-70岁", "今年六七十", "sixty or seventy", "sixty to seventy",
                                    "我65岁，他70岁", "sixty sixty", "over sixty", "我六十多岁")] \
        == ["flow.not-one-number"] * 8
    assert [err("q9", t) for t in ("我", "今年", "I am", "sixty-five thousand", "hundred and", "five hundred five hundred")] \
        == ["flow.not-a-number", "flow.not-a-number", "flow.not-a-number", "flow.not-a-number", "flow.not-a-number",
            "flow.not-one-number"]


def test_a_number_with_thousands_separators_is_read_as_one_number() -> None:
    """"1,200元" (a sum as written on a bill) was refused as several numbers."""
    assert [ok("q9", t) for t in ("1,200", "1,200元", "１，２００元", "12,345.5", "1,000,000", "about 2,500 yuan")] \
        == [1200, 1200, 1200, 12345.5, 1_000_000, 2500]
    assert flow.validate(question("q9"), "1,2")[1].key == "flow.not-one-number"
    assert flow.validate(question("q9"), "12,34")[1].key == "flow.not-one-number"


@pytest.mark.parametrize("typed", ["60-70", "60~70", "65 70", "65岁或70岁", "两三个", "三四十岁", "三到四个",
                                   "六十多岁", "65岁以上", "60出头", "七十几", "65 or 70", "60 to 70 years",
                                   "over 65", "more than 60", "at least 65", "65 or more", "65+", "60-something",
                                   "三四"])
def test_a_range_or_several_numbers_is_refused_as_such(typed: str) -> None:
    value, error = flow.validate(question("q5"), typed)
    assert value is None and error is not None and error.key == "flow.not-one-number"
    assert error.message("zh_CN") == "请只写一个数字，比如 65，不要写范围或几个数。"
    assert error.message("en") == "Please send just one number, for example 65, not a range or several numbers."


def test_item_rating_needs_every_selected_item_of_the_list() -> None:
    rated = flow.eligible_items(question("q6"), ITEMS)
    assert [i.id for i in rated] == [2, 3]  # the first two 民生服务 items of the basic part
    assert ok("q6", {2: 5, "3": "unsure"}) == {"2": 5, "3": "unsure"}
    assert err("q6", {"2": 5}) == "flow.incomplete"
    assert err("q6", {"2": 5, "3": 4, "4": 1}) == "flow.not-an-item"  # the third is beyond max_items
    assert err("q6", {"2": 6, "3": 4}) == "flow.out-of-range"
    assert err("q6", [2, 3]) == "flow.not-an-option"
    assert err("q6", {"2": 5}, items=[]) == "flow.no-items"
    assert err("q6", {"2": 5}, items=None) == "flow.no-items"


def test_item_pick_takes_up_to_n_items_of_the_allowed_parts() -> None:
    assert ok("q7", [5, "2", 5]) == [5, 2]
    assert err("q7", [6]) == "flow.not-an-item"  # withdrawn items are not offered
    assert err("q7", [99]) == "flow.not-an-item"
    assert err("q7", []) == "flow.too-few"
    assert err("q7", [1, 2, 3]) == "flow.too-many"


def test_valid_values_pass_validation_unchanged() -> None:
    for qid, value in complete_answers().items():
        if value is not None:
            assert ok(qid, value) == value


@pytest.mark.parametrize("key", ["required", "not-an-option", "too-few", "too-many", "out-of-range",
                                 "too-small", "too-large", "not-a-number", "not-one-number", "not-integer", "too-long",
                                 "empty", "not-an-item", "incomplete", "no-items", "not-applicable",
                                 "unknown-question"])
def test_every_error_key_has_a_message_in_both_languages(key: str) -> None:
    for locale in LOCALES:
        assert has(f"flow.{key}", locale)
    error = FlowError(f"flow.{key}", {"min": 1, "max": 5, "length": 9, "missing": 2, "example": 3})
    assert "{" not in error.message("zh_CN") and "{" not in error.message("en")


# --- summary -----------------------------------------------------------------------------


def test_summary_lines_read_like_the_answers() -> None:
    lines = flow.summary_lines(Q, complete_answers(), ITEMS, "zh_CN")
    assert lines[0] == "1. 您了解吗？ — 了解"
    assert lines[2] == "3. 说说甲 — 很好"
    assert lines[3] == "4. 满意吗？ — 4（比较满意）"
    assert lines[5] == "6. 打分 — 最低生活保障审核：5；临时救助：不清楚"
    assert lines[6] == "7. 最需要哪些 — 消防安全检查"
    assert lines[7] == "8. 哪些方面 — （未回答）"
    assert len(lines) == 9
    assert flow.summary_lines(Q, complete_answers(), ITEMS, "en")[0] == "1. Do you know? — Yes"


def test_summary_leaves_out_unanswered_and_hidden_questions() -> None:
    lines = flow.summary_lines(Q, {"q1": "no", "q2": "a", "q4": "unsure"}, ITEMS, "en")
    assert lines == ["1. Do you know? — 不了解", "2. 满意吗？ — Not sure"]


# --- FlowState -----------------------------------------------------------------------------


def test_flow_state_walks_through_the_default_questionnaire() -> None:
    q = load_default_questionnaire()
    state = FlowState.start(q)
    assert state.current == "aware" and state.progress(q) == (0, 8)
    for raw in ["some", 4, "unsure", "3", ["welfare", "roads"], "yes", "路灯不亮"]:
        state, error = state.answer(q, raw)
        assert error is None
    assert state.current == "suggest"
    state, error = state.skip(q)
    assert error is None and state.current == "age" and "suggest" in state.skipped
    state, error = state.answer(q, "a60_74")
    assert error is None and state.current is None and state.is_complete(q)
    assert state.progress(q) == (9, 9)
    summary = flow.summary_lines(q, state.stored(), None, "zh_CN")
    assert summary[0] == "1. 您知道乡镇（街道）平时负责办哪些事吗？ — 知道一些"
    assert summary[4] == "5. 您最希望乡镇做好哪些事？（最多选 3 项） — 低保和困难救助、道路、饮水等基础设施"


def test_flow_state_back_then_answer_changes_and_returns_to_the_first_unanswered() -> None:
    state = FlowState.from_stored(Q, {"q1": "yes", "q2": "a", "q3": "好"}, ITEMS)
    assert state.current == "q4"
    state = state.back(Q, ITEMS)
    assert state.current == "q3"
    state = state.back(Q, ITEMS).back(Q, ITEMS)
    assert state.current == "q1" and state.back(Q, ITEMS).current == "q1"
    state, error = state.answer(Q, "no", ITEMS)
    assert error is None and dict(state.answers) == {"q1": "no"} and state.current == "q4"


def test_flow_state_refuses_skipping_a_required_question() -> None:
    state = FlowState.start(Q, ITEMS)
    same, error = state.skip(Q, ITEMS)
    assert same is state and error is not None and error.key == "flow.required"


def test_flow_state_rebuilds_from_stored_rows_alone() -> None:
    rows = complete_answers()
    state = FlowState.from_stored(Q, rows, ITEMS)
    assert state.stored() == rows and state.skipped == {"q8", "q9"} and state.current is None
    assert FlowState.from_stored(Q, state.stored(), ITEMS) == state


def test_from_stored_drops_rows_the_questionnaire_does_not_accept() -> None:
    rows = {"q1": "no", "q2": "a", "q4": None, "q5": "abc", "gone": 1, "q9": 3}
    state = FlowState.from_stored(Q, rows, ITEMS)
    assert state.stored() == {"q1": "no", "q9": 3}
    assert state.current == "q4"


def test_from_stored_without_items_keeps_item_answers_unchecked() -> None:
    state = FlowState.from_stored(Q, {"q1": "no", "q6": {"2": 5, "3": 4}})
    assert dict(state.answers) == {"q1": "no", "q6": {"2": 5, "3": 4}}


# --- a stateful property test ----------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 200), st.floats(allow_nan=True), st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=3), st.integers(-2, 8)), max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=2), st.integers(0, 8)), st.integers(-1, 7), max_size=4),
    st.sampled_from(["unsure", "yes", "a", "x", "３", "5.5", "abc", "99"]),
)


def valid_value(question: Question) -> st.SearchStrategy[Any]:
    """Values a resident could legitimately give."""
    match question.type:
        case "single":
            return st.sampled_from(question.option_ids)
        case "multi":
            return st.lists(st.sampled_from(question.option_ids), min_size=question.min_choices,
                            max_size=question.max_choices, unique=True)
        case "scale":
            return st.sampled_from([1, 2, 3, 4, 5, "unsure"])
        case "text":
            return st.text(alphabet="路灯坏了好 ab", min_size=1, max_size=question.max_length).filter(str.strip)
        case "number":
            return st.integers(int(question.min_value or 0), int(question.max_value or 10_000))
        case "item_rating":
            ids = [i.id for i in flow.eligible_items(question, ITEMS)]
            return st.fixed_dictionaries({str(i): st.sampled_from([1, 2, 3, 4, 5, "unsure"]) for i in ids})
        case "item_pick":
            ids = [i.id for i in flow.eligible_items(question, ITEMS)]
            return st.lists(st.sampled_from(ids), min_size=1, max_size=question.max_picks, unique=True)
    raise AssertionError(question.type)


QUESTION_IDS = st.sampled_from([x.id for x in Q.questions])


class Resident(RuleBasedStateMachine):
    """A resident tapping, typing, skipping, going back and changing answers at random."""

    def __init__(self) -> None:
        super().__init__()
        self.state = FlowState.start(Q, ITEMS)

    @precondition(lambda self: self.state.current is not None)
    @rule(data=st.data(), valid=st.booleans())
    def answer_current(self, data: st.DataObject, valid: bool) -> None:
        current = self.state.question(Q)
        raw = data.draw(valid_value(current) if valid else JUNK)
        new, error = self.state.answer(Q, raw, ITEMS)
        if valid:
            assert error is None
        if error is not None:
            assert new is self.state

    @rule(qid=QUESTION_IDS, raw=JUNK)
    def answer_any_question_with_anything(self, qid: str, raw: Any) -> None:
        new, error = self.state.answer(Q, raw, ITEMS, question_id=qid)
        if error is None:
            self.state = new
        else:
            assert new is self.state

    @precondition(lambda self: self.state.current is not None)
    @rule()
    def skip_current(self) -> None:
        new, error = self.state.skip(Q, ITEMS)
        assert (error is None) == (not self.state.question(Q).required)
        self.state = new

    @rule()
    def go_back(self) -> None:
        self.state = self.state.back(Q, ITEMS)

    @rule(data=st.data(), qid=QUESTION_IDS, skip=st.booleans())
    def change_any(self, data: st.DataObject, qid: str, skip: bool) -> None:
        question = Q.question(qid)
        value = None if skip and not question.required else data.draw(valid_value(question))
        self.state = self.state.change(Q, qid, value, ITEMS)

    @rule()
    def restart_from_database(self) -> None:
        rebuilt = FlowState.from_stored(Q, self.state.stored(), ITEMS, current=self.state.current)
        assert rebuilt == self.state
        self.state = rebuilt

    @invariant()
    def answers_are_valid_and_only_for_shown_questions(self) -> None:
        shown = {x.id: x for x in flow.applicable(Q, self.state.stored(), ITEMS)}
        for qid, value in self.state.answers.items():
            assert qid in shown
            assert flow.validate(shown[qid], value, ITEMS) == (value, None)
        for qid in self.state.skipped:
            assert qid in shown and not shown[qid].required
        assert not set(self.state.answers) & self.state.skipped

    @invariant()
    def progress_never_exceeds_the_total(self) -> None:
        done, total = self.state.progress(Q, ITEMS)
        assert 0 <= done <= total <= len(Q.questions)

    @invariant()
    def either_complete_or_resumable(self) -> None:
        stored = self.state.stored()
        nxt = flow.next_question(Q, stored, items=ITEMS)
        assert (nxt is None) == self.state.is_complete(Q, ITEMS)
        done, total = self.state.progress(Q, ITEMS)
        assert (nxt is None) == (done == total)
        if nxt is not None:
            assert nxt.id in {x.id for x in flow.applicable(Q, stored, ITEMS)}
            assert nxt.id not in stored
            assert FlowState.from_stored(Q, stored, ITEMS).current == nxt.id
        if self.state.current is None:
            assert nxt is None
        else:
            assert self.state.current in {x.id for x in flow.applicable(Q, stored, ITEMS)}


Resident.TestCase.settings = settings(max_examples=120, stateful_step_count=50, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
test_a_random_resident_never_breaks_the_flow = Resident.TestCase


def test_a_number_that_is_not_one_is_answered_with_an_example_the_question_takes() -> None:
    """"for example 65" to a question that takes 1 to 20 showed a number it would refuse."""
    def said(bounds: str, locale: str) -> str:
        q, _ = load_questionnaire("id: n\ntitle: T\nquestions:\n  - id: n\n    type: number\n    text: 几口人\n"
                                  + bounds)
        assert q is not None
        _, error = flow.validate(q.questions[0], "lots")  # ("three" is read as 3 since)
        assert error is not None and error.key == "flow.not-a-number"
        return error.message(locale)

    assert said("    min: 1\n    max: 20\n    integer: true\n", "en") == "Please send just a number, for example 10."
    assert said("    min: 1\n    max: 20\n    integer: true\n", "zh_CN") == "请只写数字，比如 10。"
    assert said("    min: 0\n    max: 120\n", "en").endswith("for example 65.")
    assert said("", "en").endswith("for example 65.")
    assert said("    min: 100\n", "en").endswith("for example 100.")


def test_too_few_names_the_done_button_in_curly_quotes_as_every_chat_text_does() -> None:
    """flow.too-few said tap "Done" in straight quotes, where the question's own hint (and every
    other chat text) says “Done”."""
    assert FlowError("flow.too-few", {"min": 2}).message("en") == "Please choose at least 2, then tap “Done”."
    assert FlowError("flow.too-few", {"min": 2}).message("zh_CN") == "请至少选 2 项，选好后点“完成”。"


def test_an_option_or_scale_point_typed_as_its_label_is_read_exactly() -> None:
    """A resident who typed an option's words (了解) or a scale point (比较满意, 4, 不清楚) instead of
    tapping was only told to use the buttons; what names one option exactly is read, in either
    language; what could name several is not guessed."""
    q1, q4 = question("q1"), question("q4")
    assert [flow.typed_choice(q1, t) for t in ("了解", " 了解。", "yes", "Yes", "不了解")] == ["yes"] * 4 + ["no"]
    assert flow.typed_choice(q1, "了") is None and flow.typed_choice(q1, "了解一点") is None
    assert [flow.typed_choice(q4, t) for t in ("比较满意", "4", "４", "4分", "四", "不清楚", "说不清", "Not sure")] \
        == [4, 4, 4, 4, 4, "unsure", "unsure", "unsure"]
    assert flow.typed_choice(q4, "满意") is None and flow.typed_choice(q4, "6") is None
    assert flow.typed_choice(question("q3"), "甲") is None  # (a text question: its answer is the text)
