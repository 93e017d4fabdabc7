"""The questionnaire YAML format: parsing every question type, and every mistake
reported with its line."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.i18n import LOCALES, gettext, has, keys
from surveys.problems import Severity
from surveys.questionnaire import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_QUESTIONNAIRE_PATH,
    DEFAULT_RATING_ITEMS,
    MAX_TEXT_LENGTH,
    QUESTION_TYPES,
    Condition,
    Text,
    load_default_questionnaire,
    load_questionnaire,
)

ALL_TYPES = textwrap.dedent("""\
    id: t1
    title: {zh_CN: 测试问卷, en: Test}
    intro: 说明
    estimated_minutes: 4
    questions:
      - id: aware
        type: single
        text: {zh_CN: 了解吗？, en: "Do you know?"}
        help: 比如低保
        options:
          - {id: yes, text: 了解}
          - {id: no, text: {zh_CN: 不了解, en: "No"}}
      - id: areas
        type: multi
        text: 哪些方面？
        min: 1
        max: 2
        options:
          - {id: a, text: 甲}
          - {id: b, text: 乙}
          - {id: c, text: 丙}
      - id: sat
        type: scale
        text: 满意吗？
        labels: {1: 很不满意, 5: {zh_CN: 很满意, en: Very satisfied}}
        allow_unsure: true
        show_if: {question: aware, equals: yes}
      - id: why
        type: text
        required: false
        text: 为什么？
        max_length: 200
        show_if: {question: sat, in: [1, 2]}
      - id: age
        type: number
        text: 年龄
        min: 0
        max: 120
        integer: true
        required: false
      - id: rate
        type: item_rating
        text: 给这些事项打分
        parts: [basic, cooperating]
        categories: [民生服务]
        max_items: 3
        allow_unsure: true
      - id: pick
        type: item_pick
        text: 最需要哪些？
        max_picks: 2
        show_if: {question: areas, not_equals: c}
      - id: other
        type: text
        text: 其他
        show_if: {question: why, answered: true}
""")


def load_ok(text: str):
    q, problems = load_questionnaire(text, "t.yaml")
    assert q is not None, [p.render("en") for p in problems]
    return q


def test_every_question_type_parses_with_its_settings() -> None:
    q = load_ok(ALL_TYPES)
    assert q.id == "t1" and q.title.get("en") == "Test" and q.intro.get("zh_CN") == "说明"
    assert q.estimated_minutes == 4
    assert [x.type for x in q.questions] == ["single", "multi", "scale", "text", "number",
                                            "item_rating", "item_pick", "text"]
    assert set(QUESTION_TYPES) == {x.type for x in q.questions}
    aware, areas, sat, why, age, rate, pick, other = q.questions
    assert aware.option_ids == ("yes", "no") and aware.help is not None and aware.help.get() == "比如低保"
    assert aware.required is True and aware.line == 6
    assert areas.min_choices == 1 and areas.max_choices == 2
    assert sat.allow_unsure and sat.label(1) == Text("很不满意") and sat.label(5).get("en") == "Very satisfied"
    assert sat.label(3) is None
    assert sat.show_if == Condition("aware", "equals", ("yes",))
    assert why.required is False and why.max_length == 200
    assert why.show_if == Condition("sat", "in", (1, 2))
    assert age.min_value == 0 and age.max_value == 120 and age.integer
    assert rate.parts == ("basic", "cooperating") and rate.categories == ("民生服务",) and rate.max_items == 3
    assert rate.allow_unsure
    assert pick.max_picks == 2 and pick.max_items is None and pick.parts == ("basic",)
    assert pick.show_if == Condition("areas", "not_equals", ("c",))
    assert other.show_if == Condition("why", "answered", (True,))


def test_defaults_for_omitted_settings() -> None:
    q = load_ok(textwrap.dedent("""\
        id: d
        title: 问卷
        questions:
          - {id: t, type: text, text: 说说}
          - {id: r, type: item_rating, text: 打分}
          - {id: m, type: multi, text: 选, options: [{id: a, text: 甲}, {id: b, text: 乙}]}
    """))
    t, r, m = q.questions
    assert t.required and t.max_length == DEFAULT_MAX_LENGTH
    assert r.max_items == DEFAULT_RATING_ITEMS and r.parts == ("basic",) and r.categories == ()
    assert (m.min_choices, m.max_choices) == (1, 2)
    assert q.intro.get() == "" and q.estimated_minutes == 1


def test_ids_like_yes_no_and_30_44_stay_strings() -> None:
    q = load_ok(textwrap.dedent("""\
        id: d
        title: 问卷
        questions:
          - id: q1
            type: single
            text: 年龄
            options: [{id: 30_44, text: 30–44}, {id: no, text: 否}, {id: on, text: 开}]
          - {id: q2, type: text, text: 说说, show_if: {question: q1, equals: no}}
    """))
    assert q.questions[0].option_ids == ("30_44", "no", "on")
    assert q.questions[1].show_if == Condition("q1", "equals", ("no",))


def test_text_falls_back_to_chinese() -> None:
    text = Text({"zh_CN": "你好", "en": "Hello"})
    assert text.get("en") == "Hello" and text.get("en_US") == "Hello"
    assert text.get("fr") == "你好" and text.get(None) == "你好"
    assert Text("只有中文").get("en") == "只有中文"
    assert dict(text) == {"zh_CN": "你好", "en": "Hello"}


HEAD = "id: d\ntitle: 问卷\nquestions:\n"
CHOICE = "    options: [{id: a, text: 甲}, {id: b, text: 乙}]\n"

# (file text, expected rule, expected line)
BROKEN: list[tuple[str, str, int]] = [
    ("id: d\ntitle: [unclosed\nquestions: []\n", "questionnaire.yaml-syntax", 3),
    ("id: d\n  title: x\n", "questionnaire.yaml-syntax", 2),
    (HEAD + "  - {id: q1, type: slider, text: 你好}\n", "questionnaire.unknown-type", 4),
    (HEAD + "  - {id: q1, type: text, text: 你好}\n  - {id: q1, type: text, text: 再见}\n",
     "questionnaire.duplicate-question", 5),
    (HEAD + "  - id: q1\n    type: text\n", "questionnaire.missing-text", 4),
    (HEAD + "  - {id: q1, type: text, text: ''}\n", "questionnaire.missing-text", 4),
    (HEAD + "  - id: q1\n    type: text\n    text: {en: Hello}\n", "questionnaire.missing-zh", 6),
    (HEAD + "  - id: q1\n    type: text\n    text: {zh_CN: 你好, fr: Bonjour}\n", "questionnaire.unknown-locale", 6),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n    options:\n      - {id: a, text: 甲}\n"
     "      - {id: a, text: 乙}\n", "questionnaire.duplicate-option", 9),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n    options: []\n", "questionnaire.no-options", 7),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n", "questionnaire.no-options", 4),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n    options:\n"
     + "".join(f"      - {{id: o{i}, text: 选项{i}}}\n" for i in range(13)), "questionnaire.too-many-options", 8),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n    options: [{id: a, text: 甲}]\n",
     "questionnaire.too-few-options", 7),
    (HEAD + "  - id: q1\n    type: multi\n    text: 选\n    min: 2\n    max: 1\n" + CHOICE,
     "questionnaire.min-greater-than-max", 7),
    (HEAD + "  - id: q1\n    type: number\n    text: 数\n    min: 10\n    max: 5\n",
     "questionnaire.min-greater-than-max", 7),
    (HEAD + "  - id: q1\n    type: number\n    text: 数\n    min: 0.5\n    max: 0.7\n    integer: true\n",
     "questionnaire.no-whole-number", 7),
    (HEAD + "  - id: Q-1\n    type: text\n    text: 说\n", "questionnaire.bad-id", 4),
    (HEAD + "  - id: a_very_long_question_id\n    type: text\n    text: 说\n", "questionnaire.bad-id", 4),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n    options: [{id: 是, text: 是}, {id: b, text: 否}]\n",
     "questionnaire.bad-id", 7),
    (HEAD + "  - {id: q1, type: text, text: 说, show_if: {question: q9, answered: true}}\n",
     "questionnaire.show-if-unknown-question", 4),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    show_if:\n      question: q2\n      answered: true\n"
     "  - {id: q2, type: text, text: 再说}\n", "questionnaire.show-if-later-question", 8),
    (HEAD + "  - {id: q1, type: text, text: 说, show_if: {question: q1, answered: true}}\n",
     "questionnaire.show-if-self", 4),
    (HEAD + "  - id: q1\n    type: single\n    text: 选\n" + CHOICE
     + "  - id: q2\n    type: text\n    text: 说\n    show_if:\n      question: q1\n      in: [a, z]\n",
     "questionnaire.show-if-unknown-option", 13),
    (HEAD + "  - {id: q1, type: scale, text: 满意吗}\n  - {id: q2, type: text, text: 说, "
     "show_if: {question: q1, equals: unsure}}\n", "questionnaire.show-if-unknown-option", 5),
    (HEAD + "  - {id: q1, type: text, text: 说}\n  - {id: q2, type: text, text: 再说, "
     "show_if: {question: q1, equals: x}}\n", "questionnaire.show-if-unsupported", 5),
    (HEAD + "  - {id: q1, type: text, text: 说}\n  - {id: q2, type: text, text: 再说, "
     "show_if: {question: q1}}\n", "questionnaire.show-if-bad", 5),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    requird: false\n", "questionnaire.unknown-key", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    options: []\n", "questionnaire.key-not-for-type", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    max_length: 5000\n", "questionnaire.out-of-bounds", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    required: maybe\n", "questionnaire.bad-value", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    text: 再说\n", "questionnaire.duplicate-key", 7),
    (HEAD + "  - id: q1\n    type: item_pick\n    text: 选\n    parts: [basic, other]\n", "questionnaire.bad-part", 7),
    (HEAD + "  - id: q1\n    type: item_pick\n    text: 选\n    max_items: 2\n    max_picks: 3\n",
     "questionnaire.picks-above-items", 8),
    (HEAD + "  - id: q1\n    type: scale\n    text: 满意吗\n    labels: {0: 差, 5: 好}\n",
     "questionnaire.bad-scale-label", 7),
    (HEAD + "  - just a string\n", "questionnaire.not-a-mapping", 4),
    # values YAML cannot build (an impossible date, a wrongly tagged value) raised ValueError,
    # KeyError or AttributeError out of the checker
    (HEAD + "  - id: q1\n    type: number\n    text: 几口人\n    max: 2026-02-30\n", "questionnaire.bad-value", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    required: !!bool 1\n", "questionnaire.bad-value", 7),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    max_length: !!int 1O\n", "questionnaire.bad-value", 7),
    (HEAD + "  - id: q1\n    type: number\n    text: 数\n    min: !!timestamp x\n", "questionnaire.bad-value", 7),
    (HEAD + "  - id: q1\n    type: scale\n    text: 满意吗\n    labels: {!!float x: 差}\n",
     "questionnaire.bad-scale-label", 7),
    ("id: d\ntitle: 问卷\nquestions: []\n", "questionnaire.no-questions", 3),
    ("title: 问卷\nquestions:\n  - {id: q1, type: text, text: 说}\n", "questionnaire.missing-key", 1),
]


@pytest.mark.parametrize(("text", "rule", "line"), BROKEN, ids=[f"{r}@{n}" for _, r, n in BROKEN])
def test_each_mistake_is_reported_with_its_line(text: str, rule: str, line: int) -> None:
    q, problems = load_questionnaire(text, "bad.yaml")
    assert q is None
    found = [(p.rule, p.line) for p in problems]
    assert (rule, line) in found, found
    assert all(p.file == "bad.yaml" for p in problems)


@pytest.mark.parametrize(("text", "rule", "line"), BROKEN, ids=[f"{r}@{n}" for _, r, n in BROKEN])
def test_every_problem_has_a_catalog_message_in_both_languages(text: str, rule: str, line: int) -> None:
    _, problems = load_questionnaire(text, "bad.yaml")
    for p in problems:
        for locale in LOCALES:
            assert has(f"problem.{p.rule}", locale)
            message = p.message(locale)
            assert message and "{" not in message
        assert p.render("zh_CN").startswith("[错误]")


def test_loading_never_raises_on_odd_input() -> None:
    for text in ["", "[]", "42", "questions: {a: 1}", "id: d\ntitle: 问卷\nquestions: [1, [2], {}]",
                 "? [a]\n: b\n", "id: !!int abc\n", "\t\x00"]:
        q, problems = load_questionnaire(text)
        assert q is None and problems and all(p.is_error for p in problems)


_DEFAULT_TEXT = DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(at=st.integers(min_value=0, max_value=len(_DEFAULT_TEXT)),
       typed=st.one_of(st.sampled_from(["!!int ", "!!bool ", "!!float ", "!!timestamp ", "2026-02-30", "!!binary ",
                                        "0x", "\n  - ", ": ", "{", "~"]), st.text(max_size=6)),
       cut=st.integers(min_value=0, max_value=len(_DEFAULT_TEXT)))
def test_a_damaged_questionnaire_never_raises(at: int, typed: str, cut: int) -> None:
    text = (_DEFAULT_TEXT[:at] + typed + _DEFAULT_TEXT[at:])[: max(cut, 40)]
    q, problems = load_questionnaire(text, "q.yaml")
    assert (q is None) == any(p.is_error for p in problems)
    for p in problems:
        assert p.render("zh_CN") and p.render("en")


def test_show_if_on_a_broken_earlier_question_blames_only_that_question() -> None:
    text = HEAD + "  - {id: q1, type: slider, text: 说}\n" \
        "  - {id: q2, type: text, text: 说, show_if: {question: q1, answered: true}}\n"
    _, problems = load_questionnaire(text)
    assert [(p.rule, p.line) for p in problems] == [("questionnaire.unknown-type", 4)]


def test_more_than_ten_questions_is_a_warning_only() -> None:
    text = HEAD + "".join(f"  - {{id: q{i}, type: text, text: 问题{i}}}\n" for i in range(12))
    q, problems = load_questionnaire(text)
    assert q is not None and len(q.questions) == 12
    assert [(p.rule, p.severity, p.line) for p in problems] == [
        ("questionnaire.too-many-questions", Severity.WARNING, 4)
    ]


def test_more_than_a_hundred_questions_are_refused_without_checking_each() -> None:
    # a 5,000-question file fits the size limit and took seconds to check on the bot's loop
    text = HEAD + "".join(f"  - {{id: q{i}, type: text, text: 问题{i}}}\n" for i in range(101))
    q, problems = load_questionnaire(text)
    assert q is None
    assert [(p.rule, p.severity, p.line) for p in problems] == [
        ("questionnaire.over-max-questions", Severity.ERROR, 4)
    ]
    assert "101" in problems[0].message("zh_CN") and "100" in problems[0].message("en")
    q, problems = load_questionnaire(HEAD + "".join(f"  - {{id: q{i}, type: text, text: 问题{i}}}\n"
                                                    for i in range(100)))
    assert q is not None and len(q.questions) == 100


def test_several_mistakes_are_all_reported() -> None:
    text = HEAD + "  - {id: q1, type: slider, text: 说}\n  - {id: Q2, type: text, text: 说}\n"
    _, problems = load_questionnaire(text)
    assert [(p.rule, p.line) for p in problems] == [
        ("questionnaire.unknown-type", 4), ("questionnaire.bad-id", 5)
    ]


def _alias_bomb(n: int) -> str:
    """One question of `n` options that are one option, then `n - 1` more questions that are
    that question: a few kilobytes standing for n × n options."""
    options = "&o {id: a, text: 甲}, " + ", ".join(["*o"] * (n - 1))
    return HEAD + f"  - &q {{id: q1, type: single, text: 选, options: [{options}]}}\n" + "  - *q\n" * (n - 1)


def test_aliases_standing_for_too_many_values_are_refused_before_checking(monkeypatch) -> None:
    import surveys.questionnaire as questionnaire

    monkeypatch.setattr(questionnaire, "MAX_VALUES", 10_000)
    text = _alias_bomb(300)  # 90,000 options to check, each one a problem: checked one by one before
    assert len(text) < 4_000
    q, problems = load_questionnaire(text, "bomb.yaml")
    assert q is None
    assert [(p.rule, p.params) for p in problems] == [("questionnaire.too-many-values", {"max": 10_000})]
    assert "别名" in problems[0].message("zh_CN") and "alias" in problems[0].message("en")


def test_an_alias_inside_what_it_names_is_refused() -> None:
    q, problems = load_questionnaire(HEAD + "  - &q {id: q1, type: text, text: 说, help: [*q]}\n")
    assert q is None and [p.rule for p in problems] == ["questionnaire.too-many-values"]


def test_anchors_reused_a_few_times_still_load() -> None:
    text = HEAD + "".join(f"  - {{id: q{i}, type: single, text: 选{i}, options: {opts}}}\n" for i, opts in
                          enumerate(["&o [{id: a, text: 甲}, {id: b, text: 乙}]"] + ["*o"] * 9))
    q, problems = load_questionnaire(text)
    assert q is not None and problems == [] and len(q.questions) == 10


@pytest.mark.parametrize("nested", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "b" + "}" * 5000])
def test_values_nested_thousands_deep_are_refused_not_raised(nested: str) -> None:
    q, problems = load_questionnaire(HEAD + f"  - {{id: q1, type: text, text: {nested}}}\n", "deep.yaml")
    assert q is None
    assert [(p.rule, p.file) for p in problems] == [("questionnaire.too-deep", "deep.yaml")]
    assert "嵌套" in problems[0].message("zh_CN") and "nested" in problems[0].message("en")


def test_default_questionnaire_loads_cleanly_and_is_short() -> None:
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH

    q, problems = load_questionnaire(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"), "default.yaml")
    assert problems == []
    assert q is not None and 6 <= len(q.questions) <= 10
    assert q == load_default_questionnaire()


def test_default_questionnaire_speaks_chinese_and_english_everywhere() -> None:
    q = load_default_questionnaire()
    texts = [q.title, q.intro]
    for question in q.questions:
        texts.append(question.text)
        texts.extend(o.text for o in question.options)
        texts.extend(t for _, t in question.labels)
        if question.help:
            texts.append(question.help)
    assert all(set(t) == {"zh_CN", "en"} for t in texts)


def test_default_questionnaire_has_the_intended_questions() -> None:
    q = load_default_questionnaire()
    assert [(x.id, x.type, x.required) for x in q.questions] == [
        ("aware", "single", True),
        ("sat_welfare", "scale", True),
        ("sat_safety", "scale", True),
        ("sat_emergency", "scale", True),
        ("needs", "multi", True),
        ("missing", "single", True),
        ("missing_what", "text", False),
        ("suggest", "text", False),
        ("age", "single", False),
    ]
    assert all(x.allow_unsure for x in q.questions if x.type == "scale")
    assert q.question("needs").max_choices == 3
    assert q.question("missing_what").show_if == Condition("missing", "equals", ("yes",))


def test_questionnaire_catalog_has_the_same_keys_in_both_languages() -> None:
    ours = {k for k in keys("zh_CN") if k.startswith(("flow.", "problem.questionnaire.", "cli.questionnaire."))}
    assert ours == {k for k in keys("en") if k.startswith(("flow.", "problem.questionnaire.", "cli.questionnaire."))}
    assert gettext("flow.not-an-option", "zh_CN") == "请点下面的按钮选择。"


@pytest.mark.parametrize(("text", "zh", "en"), [
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    required: maybe\n",
     "“required”的值不对，应为：true 或 false", 'the value of "required" is wrong; expected: true or false'),
    (HEAD + "  - id: q1\n    type: number\n    text: 数\n    min: many\n",
     "“min”的值不对，应为：一个数字", 'the value of "min" is wrong; expected: a number'),
    (HEAD + "  - id: q1\n    type: text\n    text: 说\n    max_length: lots\n",
     f"“max_length”的值不对，应为：1–{MAX_TEXT_LENGTH} 之间的整数", f"expected: a whole number from 1 to {MAX_TEXT_LENGTH}"),
    (HEAD + "  - just a string\n", "每个问题应写成“名称: 值”的形式", 'each question must be written as "key: value" pairs'),
    (HEAD + "  - {id: q1, type: text, text: 说, [a]: 1}\n", "这里的名称应是一段文字，不能是列表", "a key must be plain text, not a list"),
])
def test_a_problems_words_are_in_the_language_of_its_message(text, zh, en):
    # the Chinese said "应为：true/false", "应为：number", "不能是list", "question 应写成…": the
    # words the message is about came in English whatever the language
    _, problems = load_questionnaire(text)
    assert any(zh in p.message("zh_CN") for p in problems), [p.message("zh_CN") for p in problems]
    assert any(en in p.message("en") for p in problems), [p.message("en") for p in problems]


def test_the_default_questionnaires_chinese_has_no_stray_spaces() -> None:
    """YAML folds a `>-` block's lines with a space: the shipped intro showed every resident
    "…要办哪些事。 都是小问题…" with a space between two Chinese sentences."""
    import re

    import yaml

    def texts(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "zh_CN" and isinstance(value, str):
                    yield value
                else:
                    yield from texts(value)
        elif isinstance(node, list):
            for value in node:
                yield from texts(value)

    cjk = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
    found = list(texts(yaml.safe_load(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))))
    assert len(found) > 20
    assert [t for t in found if re.search(rf"[。，；：！？、）] +{cjk}", t)] == []  # after a Chinese mark
    assert load_default_questionnaire().intro.get("zh_CN").startswith("乡镇（街道）正在征求")


def test_a_questionnaire_partly_in_english_is_warned_of_at_its_first_untranslated_question() -> None:
    """English speakers get it in English only when every question is (Questionnaire.locale_for):
    one written in English but for a question is told so; all Chinese or all English is fine."""

    partly = ("id: p\ntitle: {zh_CN: 问卷, en: Q}\nquestions:\n"
              "  - {id: a, type: text, text: {zh_CN: 说, en: Say}}\n"
              "  - {id: b, type: text, text: 说说}\n"
              "  - {id: c, type: text, text: 再说}\n")
    q, problems = load_questionnaire(partly)
    assert q is not None and q.locale_for("en") == "zh_CN"
    assert [(p.rule, p.severity, p.line) for p in problems] == [
        ("questionnaire.partly-english", Severity.WARNING, 5)]
    assert "“b”" in problems[0].message("zh_CN") and "2 without" in problems[0].message("en")
    assert gettext("problem.questionnaire.partly-english", "en", question="b", n=2).count("Chinese") == 1
    for whole in (partly.replace("text: 说说", "text: {zh_CN: 说说, en: Say more}")
                  .replace("text: 再说", "text: {zh_CN: 再说, en: Again}"),
                  "id: z\ntitle: 问卷\nquestions:\n  - {id: a, type: text, text: 说}\n  - {id: b, type: text, text: 说说}\n"):
        q, problems = load_questionnaire(whole)
        assert q is not None and problems == []
    assert load_questionnaire(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))[1] == []


def test_more_picks_than_items_names_the_items_in_the_singular_or_plural() -> None:
    for items, words in ((1, "the 1 item offered"), (2, "the 2 items offered")):
        text = (HEAD + f"  - id: q1\n    type: item_pick\n    text: 选\n    max_items: {items}\n"
                "    max_picks: 3\n")
        _, problems = load_questionnaire(text, "bad.yaml")
        found = [p for p in problems if p.rule == "questionnaire.picks-above-items"]
        assert found and f"max_picks 3 is more than {words} (max_items)" == found[0].message("en")
        assert found[0].message("zh_CN") == f"最多可选 3 项，但只列出 {items} 项"
