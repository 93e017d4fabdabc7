"""The answer flow of a questionnaire: which question comes next, whether an answer
is acceptable, going back, skipping, changing an earlier answer, progress and the
closing summary.

Pure and stateless: everything is a function of the questionnaire, the consulted
list's items and the answers so far. Answers are a mapping
``{question_id: value}`` in which ``None`` means "skipped" — exactly what the bot
stores, one row per question — so ``FlowState.from_stored(questionnaire, rows)``
rebuilds a resident's place after a restart or a week's pause.

Answer values (JSON-friendly, as stored):

=============  ==============================================================
single         option id (``str``)
multi          list of option ids, in the questionnaire's option order
scale          ``int`` 1–5, or ``"unsure"`` (when ``allow_unsure``)
text           ``str`` (stripped, at most ``max_length`` characters)
number         ``int`` when ``integer`` or whole, else ``float``
item_rating    ``{str(item_id): int 1–5 | "unsure"}`` covering every rated item
item_pick      list of ``int`` item ids, in the order picked
=============  ==============================================================

Items: an item question applies to the items `eligible_items` selects (see
surveys.questionnaire). Functions that decide what is shown take
``items=None`` (item questions always shown) or the list's items (an item
question with nothing to rate or pick is left out). Pass the same value every
time for one resident.

Errors are `FlowError`s with stable keys (``flow.required``, ``flow.not-an-option``,
``flow.too-few``, ``flow.too-many``, ``flow.out-of-range``, ``flow.too-small``,
``flow.too-large``, ``flow.not-a-number``, ``flow.not-one-number``, ``flow.not-integer``, ``flow.too-long``,
``flow.empty``, ``flow.not-an-item``, ``flow.incomplete``, ``flow.no-items``,
``flow.not-applicable``, ``flow.unknown-question``) whose catalog text speaks to
the resident.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from surveys.duty_list import normalize
from surveys.i18n import LOCALES, gettext
from surveys.questionnaire import ITEM_TYPES, SCALE_POINTS, UNSURE, Question, Questionnaire
from surveys.text import TEXT_LIMIT, drop_nul

SUMMARY_TEXT_CHARS = 80
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_MAX_NUMBER_CHARS = 30
# A typed number as residents write it: "约 65", "65岁", "3个", "六十五", "两千元", "一九六〇",
# "about 65", "65 years". A leading "about" word and a trailing unit of CJK letters (岁, 个, 人, 次,
# 元, 左右 …) or of English words (years, yrs old) are dropped; a unit holds no numeral ("5千": 5 or
# 5,000? "三到四个": a range).
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_POWERS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
_ABOUT = re.compile(r"^(?:大约|大概|约莫|约|差不多|估计|about|around|approximately|approx\.?|roughly|circa)\s*",
                    re.IGNORECASE)
# what a resident says before the number: 我65岁, 今年65, 我今年大概65岁, I'm 65 (read past with _ABOUT)
_SAID_BEFORE = re.compile(r"^(?:我|今年|i\s*am\b|i['’]m\b)\s*", re.IGNORECASE)
# English number words, up to the hundreds: sixty-five, one hundred and five, a hundred
_EN_UNITS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * n for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_EN_WORD = re.compile(r"[\s-]*([A-Za-z]+)")
_EN_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join([*_EN_UNITS, *_EN_TENS, 'hundred'])})\b", re.IGNORECASE)
# and in English: "65 years", "65 yrs old", "3 people" (a unit of letters; "65+" is open-ended)
_WITH_UNIT = re.compile(
    rf"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)|[{_CN_NUMERAL}]+)\s*"
    rf"(?P<unit>(?:(?![{_CN_NUMERAL}])[\u3400-\u4dbf\u4e00-\u9fff])+|-?[A-Za-z][A-Za-z .'-]*|\+)?$")
# a unit that makes the number a bound or a range: 六十多岁 (60 to 69), 65以上, 60出头, 3个不到; 65 or
# more, 60-something, 65+
_OPEN_ENDED = re.compile(r"多|几|余|以上|以下|以内|之内|出头|不到|不止|开外|朝上|往上|^\+$|"
                         r"\b(?:or|more|less|fewer|over|under|above|below|plus|least|most|odd|something|upwards)\b",
                         re.IGNORECASE)
# …or a word before it: over 65, more than 60, at least 65
_BOUND_BEFORE = re.compile(r"^(?:over|under|above|below|(?:more|less|fewer) than|at (?:least|most)|up to)\s*",
                           re.IGNORECASE)
# English words after the number that change it (5k: 5 or 5,000? as 5千; 65 and a half, 12 point 5),
# or a unit of one letter (5 m)
_MULTIPLIER = re.compile(r"^[a-z]\b|\b(?:thousand|hundred|million|billion|grand|mil|mn|bn|k|and|point|half|"
                         r"quarter|dozen)\b", re.IGNORECASE)
# 1,200 and 12,345.5: thousands separated as on a bill (the separators are dropped)
_THOUSANDS = re.compile(r"^([+-]?\d{1,3}(?:,\d{3})+)(?=\.\d|[^\d,.]|$)")
# 一九六〇: a year (or any number) said digit by digit, as three or more digits side by side
_CN_DIGIT_BY_DIGIT = re.compile(r"^[零〇一二三四五六七八九]{3,}$")
# two numbers apart: "60-70", "65 70", "65岁或70岁", "三到四个"
_SEVERAL = re.compile(rf"[\d{_CN_NUMERAL}][^\d{_CN_NUMERAL}]*?"
                      rf"(?:[\s\-~～—–/、,，;；]|(?![{_CN_NUMERAL}])[\u3400-\u4dbf\u4e00-\u9fff])"
                      rf"[^\d{_CN_NUMERAL}]*?[\d{_CN_NUMERAL}]")

Answers = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What the flow needs to know about one item of the consulted list."""

    id: int
    part: str
    category: str
    name: str


@dataclass(frozen=True, slots=True)
class FlowError:
    """Why an answer was refused: a catalog key and its parameters."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, locale: str | None = None) -> str:
        return gettext(self.key, locale, **self.params)


def _error(key: str, **params: Any) -> FlowError:
    return FlowError(f"flow.{key}", params)


# --- what is shown --------------------------------------------------------------------


def eligible_items(question: Question, items: Sequence[ItemRef]) -> list[ItemRef]:
    """The items an item question is about: those of its parts and categories, in
    list order, cut to `max_items` (item_rating always has one)."""
    if question.type not in ITEM_TYPES:
        return []
    categories = {normalize(c) for c in question.categories}
    chosen = [
        i for i in items
        if str(i.part) in question.parts and (not categories or normalize(i.category) in categories)
    ]
    return chosen[: question.max_items] if question.max_items else chosen


def skipped_ids(answers: Answers, skipped: Collection[str] = frozenset()) -> frozenset[str]:
    """Questions skipped: those answered with None plus the `skipped` given."""
    return frozenset(skipped) | {k for k, v in answers.items() if v is None}


def applicable(q: Questionnaire, answers: Answers, items: Sequence[ItemRef] | None = None) -> list[Question]:
    """The questions shown, in order: those whose show_if holds on the answers to
    questions that are themselves shown (so hiding cascades)."""
    shown: list[Question] = []
    visible: dict[str, Any] = {}
    for question in q.questions:
        if items is not None and question.type in ITEM_TYPES and not eligible_items(question, items):
            continue
        cond = question.show_if
        if cond is None or cond.holds(visible.get(cond.question)):
            shown.append(question)
            if answers.get(question.id) is not None:
                visible[question.id] = answers[question.id]
    return shown


def _is_applicable(q: Questionnaire, answers: Answers, question_id: str, items: Sequence[ItemRef] | None) -> bool:
    return any(x.id == question_id for x in applicable(q, answers, items))


def next_question(
    q: Questionnaire,
    answers: Answers,
    skipped: Collection[str] = frozenset(),
    items: Sequence[ItemRef] | None = None,
) -> Question | None:
    """The first shown question neither answered nor skipped; None when complete."""
    gone = skipped_ids(answers, skipped)
    for question in applicable(q, answers, items):
        if question.id not in gone and answers.get(question.id) is None:
            return question
    return None


def is_complete(
    q: Questionnaire,
    answers: Answers,
    skipped: Collection[str] = frozenset(),
    items: Sequence[ItemRef] | None = None,
) -> bool:
    return next_question(q, answers, skipped, items) is None


def progress(
    q: Questionnaire,
    answers: Answers,
    skipped: Collection[str] = frozenset(),
    items: Sequence[ItemRef] | None = None,
) -> tuple[int, int]:
    """(questions answered or skipped, questions shown) — counting shown ones only."""
    gone = skipped_ids(answers, skipped)
    shown = applicable(q, answers, items)
    done = sum(1 for x in shown if x.id in gone or answers.get(x.id) is not None)
    return done, len(shown)


def question_count(q: Questionnaire, items: Sequence[ItemRef] | None = None) -> tuple[int, int]:
    """(questions shown before any answer, follow-ups shown only for some answers): the
    first is the total the progress shows at the first question ("第 1/8 题"); each
    follow-up that an answer brings up adds one to it."""
    first = {x.id for x in applicable(q, {}, items)}
    eligible = [x for x in q.questions
                if items is None or x.type not in ITEM_TYPES or eligible_items(x, items)]
    return len(first), sum(1 for x in eligible if x.id not in first)


def back(
    q: Questionnaire,
    answers: Answers,
    current: str | None,
    items: Sequence[ItemRef] | None = None,
) -> str | None:
    """The id of the shown question before `current` (the last one when `current`
    is None, i.e. at the end); None when `current` is the first."""
    position = len(q.questions) if current is None or q.question(current) is None else q.index(current)
    before = [x for x in applicable(q, answers, items) if q.index(x.id) < position]
    return before[-1].id if before else None


def prune(q: Questionnaire, answers: Answers, items: Sequence[ItemRef] | None = None) -> dict[str, Any]:
    """The answers to shown questions only, in questionnaire order (None = skipped kept)."""
    return {x.id: answers[x.id] for x in applicable(q, answers, items) if x.id in answers}


def change(
    q: Questionnaire,
    answers: Answers,
    question_id: str,
    value: Any,
    items: Sequence[ItemRef] | None = None,
) -> dict[str, Any]:
    """New answers with `question_id` set to `value` (None marks it skipped), dropping
    answers to questions no longer shown — transitively. The value is checked and
    put in its stored form (item answers only when `items` are given): KeyError for
    an unknown question, ValueError (with the error key) for an invalid value."""
    question = q.question(question_id)
    if question is None:
        raise KeyError(question_id)
    if value is not None and not (items is None and question.type in ITEM_TYPES):
        value, error = validate(question, value, items)
        if error is not None:
            raise ValueError(error.key)
    new = dict(answers)
    new[question_id] = value
    return prune(q, new, items)


def _shown_question(q: Questionnaire, answers: Answers, question_id: str,
                    items: Sequence[ItemRef] | None) -> tuple[Question | None, FlowError | None]:
    """The question, if it exists and is shown given the answers; else the error why not."""
    question = q.question(question_id)
    if question is None:
        return None, _error("unknown-question")
    if not _is_applicable(q, answers, question_id, items):
        return None, _error("not-applicable")
    return question, None


def answer(
    q: Questionnaire,
    answers: Answers,
    question_id: str,
    raw_value: Any,
    items: Sequence[ItemRef] | None = None,
) -> tuple[dict[str, Any], FlowError | None]:
    """Check `raw_value` and record it: (new answers, None), or (answers unchanged, error)."""
    question, error = _shown_question(q, answers, question_id, items)
    if question is None:
        return dict(answers), error
    value, error = validate(question, raw_value, items)
    if error is not None:
        return dict(answers), error
    return change(q, answers, question_id, value, items), None


def skip(
    q: Questionnaire,
    answers: Answers,
    question_id: str,
    items: Sequence[ItemRef] | None = None,
) -> tuple[dict[str, Any], FlowError | None]:
    """Skip an optional question (recorded as None); a required one gives flow.required."""
    question, error = _shown_question(q, answers, question_id, items)
    if question is None:
        return dict(answers), error
    if question.required:
        return dict(answers), _error("required")
    return change(q, answers, question_id, None, items), None


# --- checking one answer ----------------------------------------------------------------


def _clean(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _fmt(number: int | float | None) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _scale_point(raw: Any, allow_unsure: bool) -> tuple[int | str | None, FlowError | None]:
    if isinstance(raw, str):
        text = _clean(raw)
        if text == UNSURE:
            return (UNSURE, None) if allow_unsure else (None, _error("not-an-option"))
        if not re.fullmatch(r"[+-]?\d{1,9}", text):
            return None, _error("not-an-option")
        raw = int(text)
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None, _error("not-an-option")
    if raw not in SCALE_POINTS:
        return None, _error("out-of-range", min=SCALE_POINTS[0], max=SCALE_POINTS[-1])
    return raw, None


def _chinese_number(text: str) -> int | None:
    """六十五 → 65, 一百零五 → 105, 两千五 → 2500, 三万五千 → 35000, 十二 → 12; None for what is
    not one number written so ("三四": three or four; "五六十": fifty or sixty; "一九六〇", said
    digit by digit, is read by the caller)."""
    if "万" in text:
        head, _, tail = text.partition("万")
        high, low = _chinese_below_10000(head), _chinese_below_10000(tail, after=10_000) if tail else 0
        return None if high is None or low is None or high == 0 else high * 10_000 + low
    return _chinese_below_10000(text)


def _chinese_below_10000(text: str, after: int | None = None) -> int | None:
    """A Chinese numeral below 10,000; `after`: the power it follows (三万五: the 五 is 5,000)."""
    value, digit, last, zero = 0, None, after or 10_000, False
    for i, c in enumerate(text):
        if c in "零〇":
            if i == 0 and len(text) > 1 and after is None or zero or digit is not None:
                return None
            zero = True
        elif c in _CN_DIGITS:
            if digit is not None:  # two digits side by side
                return None
            digit = _CN_DIGITS[c]
        elif c in _CN_POWERS:
            power = _CN_POWERS[c]
            if power >= last or (digit is None and not (i == 0 and power == 10 and after is None)):
                return None
            value, digit, last = value + (1 if digit is None else digit) * power, None, power
        else:
            return None
    if digit is not None:  # 一百五 is 150 and 两千五 2,500, but 一百零五 is 105
        value += digit * (last // 10 if last > 10 and not zero and (value or after) else 1)
    return value


def _english_number(text: str) -> tuple[int | None, str]:
    """A number in English words at the start of `text`, up to the hundreds, and the rest of the
    text: ("sixty-five years", …) → (65, " years"); (None, text) when it starts with none. Words
    after it that are numbers too (sixty sixty) are left in the rest."""
    words: list[tuple[str, int]] = []  # (word, where it ends)
    pos = 0
    while (m := _EN_WORD.match(text, pos)) is not None:
        words.append((m[1].lower(), m.end()))
        pos = m.end()
    value, i, end = 0, 0, 0

    def word(k: int) -> str:
        return words[k][0] if k < len(words) else ""

    first = word(0)
    if (first == "a" or 1 <= _EN_UNITS.get(first, 0) <= 9) and word(1) == "hundred":
        value, i, end = 100 * (1 if first == "a" else _EN_UNITS[first]), 2, words[1][1]
        if word(2) == "and" and (word(3) in _EN_TENS or 1 <= _EN_UNITS.get(word(3), 0)):
            i = 3
    if word(i) in _EN_TENS:
        value, end, i = value + _EN_TENS[word(i)], words[i][1], i + 1
        if 1 <= _EN_UNITS.get(word(i), 0) <= 9:
            value, end = value + _EN_UNITS[word(i)], words[i][1]
    elif word(i) in _EN_UNITS and (i == 0 or _EN_UNITS[word(i)]):
        value, end = value + _EN_UNITS[word(i)], words[i][1]
    if end == 0:
        return None, text
    return value, text[end:]


def _read_number(text: str) -> tuple[int | float | None, bool]:
    """A typed number: (the number, or None), and whether it is several numbers or a range
    ("60-70", "3 4", "三四个"), which is refused as such rather than as not a number."""
    while True:  # 我今年大概65岁: what is said before the number, in any order
        shorter = _ABOUT.sub("", _SAID_BEFORE.sub("", text))
        if shorter == text:
            break
        text = shorter
    text = text.rstrip("。！!？?，,；;、 ")  # "65岁。"
    if text[:1].isalpha() and text[:1].isascii():  # sixty-five (years old)
        number, rest = _english_number(text)
        if number is not None:
            if _EN_NUMBER_WORD.search(rest):  # sixty to seventy, sixty sixty
                return None, True
            text = f"{number}{rest}"
    text = _THOUSANDS.sub(lambda m: m[1].replace(",", ""), text)
    bound = _BOUND_BEFORE.match(text)
    if bound:  # over 65: a range, when what follows is a number
        number, _ = _read_number(text[bound.end():])
        return None, number is not None
    match = _WITH_UNIT.match(text)
    if match is None:
        return None, bool(_SEVERAL.search(text))
    written, unit = match["number"], (match["unit"] or "").strip(" .")
    if unit and _OPEN_ENDED.search(unit):  # 六十多岁, 65以上, 65 or more: a range
        return None, True
    if unit and _MULTIPLIER.search(unit.lstrip("-")):
        return None, False
    if _CN_DIGIT_BY_DIGIT.match(written):
        return int("".join(str(_CN_DIGITS[c]) for c in written)), False
    if written[0] in _CN_NUMERAL:
        number = _chinese_number(written)
        if number is None:  # 三四 (three or four), 五六十 (fifty or sixty)
            return None, any(a in _CN_DIGITS and b in _CN_DIGITS and _CN_DIGITS[a] and _CN_DIGITS[b]
                             for a, b in zip(written, written[1:], strict=False))
        return number, False
    if re.fullmatch(r"[+-]?\d+", written):
        return int(written), False
    number = float(written)
    return (number if math.isfinite(number) else None), False


# "not sure" as residents type it on a scale that offers 不清楚 (besides the button's own words)
_UNSURE_WORDS = ("不清楚", "说不清", "说不清楚", "不知道", "not sure", "don't know", "dont know")


def _typed_key(text: str) -> str:
    return normalize(_clean(text).rstrip("。！!？?，,；;、.")).casefold()


def typed_choice(question: Question, raw: str) -> str | int | None:
    """The option id (single) or scale point (scale) a resident typed instead of tapping its
    button: the option's words in full, in any language of the questionnaire ("了解", "Yes"); on a
    scale a point's label ("比较满意"), the point itself ("4", "四", "4分"), or 不清楚 where it is
    offered. None for anything else (what could name several options is not guessed: "满意")."""
    typed = _typed_key(raw)
    if not typed:
        return None
    if question.type == "single":
        found = {o.id for o in question.options for loc in o.text if _typed_key(o.text[loc]) == typed}
        return found.pop() if len(found) == 1 else None
    if question.type != "scale":
        return None
    points = {p for p, label in question.labels for loc in label if _typed_key(label[loc]) == typed}
    if len(points) == 1:
        return points.pop()
    if question.allow_unsure and (typed in {_typed_key(w) for w in _UNSURE_WORDS}
                                  or typed in {_typed_key(gettext("flow.unsure", loc)) for loc in LOCALES}):
        return UNSURE
    number, _ = _read_number(typed.removesuffix("分"))
    return number if isinstance(number, int) and number in SCALE_POINTS else None


def plain_number(raw: str) -> bool:
    """Whether a typed answer is a number as stored (65, 12.5), not one read from words
    ("65岁", "约 65", "六十五"): the bot says what it understood from the others."""
    return bool(_NUMBER.match(_clean(raw)))


def _parse_number(raw: Any) -> tuple[int | float | None, bool]:
    """(the number, or None), and whether what was typed is several numbers or a range."""
    if isinstance(raw, bool):
        return None, False
    if isinstance(raw, int):
        return raw, False
    if isinstance(raw, float):
        return (raw if math.isfinite(raw) else None), False
    if not isinstance(raw, str):
        return None, False
    text = _clean(raw)
    if len(text) > _MAX_NUMBER_CHARS:
        return None, False
    return _read_number(text)


def _item_id(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\d{1,18}", _clean(raw)):
        return int(_clean(raw))
    return None


def validate(
    question: Question, raw_value: Any, items: Sequence[ItemRef] | None = None
) -> tuple[Any, FlowError | None]:
    """Parse and check an answer: (value, None) with the value as stored, or (None, error).

    Text typed by the resident (number and text questions) arrives as str; buttons
    give option ids, scale points, item ids. Valid stored values pass unchanged.
    """
    match question.type:
        case "single":
            if isinstance(raw_value, str) and question.option(_clean(raw_value)) is not None:
                return _clean(raw_value), None
            return None, _error("not-an-option")
        case "multi":
            return _validate_multi(question, raw_value)
        case "scale":
            return _scale_point(raw_value, question.allow_unsure)
        case "text":
            return _validate_text(question, raw_value)
        case "number":
            return _validate_number(question, raw_value)
        case "item_rating":
            return _validate_rating(question, raw_value, items)
        case "item_pick":
            return _validate_pick(question, raw_value, items)
    raise ValueError(f"unknown question type {question.type!r}")


def _validate_multi(question: Question, raw: Any) -> tuple[Any, FlowError | None]:
    if not isinstance(raw, list | tuple | set | frozenset):
        return None, _error("not-an-option")
    chosen: set[str] = set()
    for x in raw:
        if not isinstance(x, str) or question.option(_clean(x)) is None:
            return None, _error("not-an-option")
        chosen.add(_clean(x))
    high = question.max_choices if question.max_choices is not None else len(question.options)
    if len(chosen) < question.min_choices:
        return None, _error("too-few", min=question.min_choices)
    if len(chosen) > high:
        return None, _error("too-many", max=high)
    return [o.id for o in question.options if o.id in chosen], None


def _validate_text(question: Question, raw: Any) -> tuple[Any, FlowError | None]:
    if not isinstance(raw, str):
        return None, _error("empty")
    text = drop_nul(raw).strip()
    if not text:
        return None, _error("empty")
    limit = min(question.max_length, TEXT_LIMIT)  # (in characters, 字, as the resident is told)
    if len(text) > limit:
        return None, _error("too-long", max=limit, length=len(text))
    return text, None


def _validate_number(question: Question, raw: Any) -> tuple[Any, FlowError | None]:
    number, several = _parse_number(raw)
    if number is None:
        example = _fmt(_example_number(question))
        if several:  # 60-70, 两三个
            return None, _error("not-one-number", example=example)
        return None, _error("not-a-number", example=example)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if question.integer and not isinstance(number, int):
        return None, _error("not-integer")
    low, high = question.min_value, question.max_value
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            return None, _error("out-of-range", min=_fmt(low), max=_fmt(high))
        if low is not None:
            return None, _error("too-small", min=_fmt(low))
        return None, _error("too-large", max=_fmt(high))
    return number, None


def _example_number(question: Question) -> int | float:
    """A number to show as an example: 65 (an age), or one the question takes when it does not."""
    low, high = question.min_value, question.max_value
    if (low is None or low <= 65) and (high is None or 65 <= high):
        return 65
    if low is not None and high is not None:
        middle = (low + high) / 2
        return math.floor(middle) if question.integer or float(middle).is_integer() else middle
    return low if low is not None else high  # type: ignore[return-value]


def _validate_rating(
    question: Question, raw: Any, items: Sequence[ItemRef] | None
) -> tuple[Any, FlowError | None]:
    rated = eligible_items(question, items or ())
    if not rated:
        return None, _error("no-items")
    if not isinstance(raw, Mapping):
        return None, _error("not-an-option")
    allowed = {i.id for i in rated}
    scores: dict[int, int | str] = {}
    for key, score in raw.items():
        item_id = _item_id(key)
        if item_id is None or item_id not in allowed:
            return None, _error("not-an-item")
        point, error = _scale_point(score, question.allow_unsure)
        if error is not None:
            return None, error
        assert point is not None
        scores[item_id] = point
    missing = len(allowed - scores.keys())
    if missing:
        return None, _error("incomplete", missing=missing)
    return {str(i.id): scores[i.id] for i in rated}, None


def _validate_pick(
    question: Question, raw: Any, items: Sequence[ItemRef] | None
) -> tuple[Any, FlowError | None]:
    choices = eligible_items(question, items or ())
    if not choices:
        return None, _error("no-items")
    if not isinstance(raw, list | tuple):
        return None, _error("not-an-item")
    allowed = {i.id for i in choices}
    picked: list[int] = []
    for x in raw:
        item_id = _item_id(x)
        if item_id is None or item_id not in allowed:
            return None, _error("not-an-item")
        if item_id not in picked:
            picked.append(item_id)
    if not picked:
        return None, _error("too-few", min=1)
    if len(picked) > question.max_picks:
        return None, _error("too-many", max=question.max_picks)
    return picked, None


# --- the summary -------------------------------------------------------------------------


def scale_text(question: Question, point: int | str, locale: str | None = None) -> str:
    """"4（比较满意）", "4", or "不清楚" — a scale point as a resident reads it."""
    if point == UNSURE:
        return gettext("flow.unsure", locale)
    label = question.label(point) if isinstance(point, int) else None
    if label is None:
        return str(point)
    return gettext("flow.summary.scale", locale, point=point, label=label.get(locale))


def answer_text(question: Question, value: Any, items: Sequence[ItemRef] = (), locale: str | None = None) -> str:
    """An answer value in words."""
    if value is None:
        return gettext("flow.summary.skipped", locale)
    sep = gettext("flow.summary.sep", locale)
    names = {i.id: i.name for i in items}
    match question.type:
        case "single":
            option = question.option(value)
            return option.text.get(locale) if option else str(value)
        case "multi":
            return sep.join(o.text.get(locale) for o in question.options if o.id in value) \
                or gettext("flow.summary.none-chosen", locale)
        case "scale":
            return scale_text(question, value, locale)
        case "text":
            text = " ".join(str(value).split())
            return text if len(text) <= SUMMARY_TEXT_CHARS else text[: SUMMARY_TEXT_CHARS - 1] + "…"
        case "number":
            return _fmt(value)
        case "item_rating":
            return gettext("flow.summary.rating-sep", locale).join(
                gettext("flow.summary.rating", locale, name=names.get(int(k), f"#{k}"),
                        score=scale_text(question, v, locale))
                for k, v in value.items()
            )
        case "item_pick":
            return sep.join(names.get(int(i), f"#{i}") for i in value) or gettext("flow.summary.none-chosen", locale)
    return str(value)


def summary_lines(
    q: Questionnaire,
    answers: Answers,
    items: Sequence[ItemRef] | None = None,
    locale: str | None = None,
) -> list[str]:
    """One line per shown question answered or skipped: "1. 您知道… — 知道一些"."""
    lines = []
    for n, question in enumerate(applicable(q, answers, items), start=1):
        if question.id not in answers:
            continue
        lines.append(gettext(
            "flow.summary.line", locale, n=n, question=question.text.get(locale),
            answer=answer_text(question, answers[question.id], items or (), locale),
        ))
    return lines


# --- an immutable state for the bot --------------------------------------------------------


@dataclass(frozen=True)
class FlowState:
    """A resident's place in a questionnaire. `answers` holds given answers only;
    `skipped` the optional questions skipped; `current` the question on screen
    (None when complete). Methods return new states."""

    answers: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    skipped: frozenset[str] = frozenset()
    current: str | None = None

    @classmethod
    def _make(
        cls, q: Questionnaire, stored: Answers, items: Sequence[ItemRef] | None, current: str | None = None
    ) -> FlowState:
        stored = prune(q, stored, items)
        given = {k: v for k, v in stored.items() if v is not None}
        skipped = frozenset(k for k, v in stored.items() if v is None)
        shown = {x.id for x in applicable(q, stored, items)}
        if current is None or current not in shown:
            nxt = next_question(q, stored, (), items)
            current = nxt.id if nxt else None
        return cls(MappingProxyType(given), skipped, current)

    @classmethod
    def start(cls, q: Questionnaire, items: Sequence[ItemRef] | None = None) -> FlowState:
        return cls._make(q, {}, items)

    @classmethod
    def from_stored(
        cls,
        q: Questionnaire,
        stored: Answers,
        items: Sequence[ItemRef] | None = None,
        current: str | None = None,
    ) -> FlowState:
        """Rebuild from the rows {question_id: value or None}. Rows the questionnaire
        no longer accepts (unknown question, invalid value, None for a required
        question, answers to questions not shown) are dropped. With `items` None,
        item answers are kept unchecked."""
        clean: dict[str, Any] = {}
        for qid, value in stored.items():
            question = q.question(qid)
            if question is None:
                continue
            if value is None:
                if not question.required:
                    clean[qid] = None
                continue
            if items is None and question.type in ITEM_TYPES:
                clean[qid] = value
                continue
            checked, error = validate(question, value, items)
            if error is None:
                clean[qid] = checked
        return cls._make(q, clean, items, current)

    def stored(self) -> dict[str, Any]:
        """The rows to store: {question_id: value}, None for skipped."""
        return {**dict(self.answers), **dict.fromkeys(self.skipped)}

    def question(self, q: Questionnaire) -> Question | None:
        return q.question(self.current) if self.current else None

    def answer(
        self,
        q: Questionnaire,
        raw_value: Any,
        items: Sequence[ItemRef] | None = None,
        question_id: str | None = None,
    ) -> tuple[FlowState, FlowError | None]:
        """Answer the current question (or `question_id`, e.g. from an older message's
        button) and move on to the next unanswered one."""
        qid = question_id or self.current
        if qid is None:
            return self, _error("not-applicable")
        new, error = answer(q, self.stored(), qid, raw_value, items)
        return (self, error) if error else (self._make(q, new, items), None)

    def skip(
        self, q: Questionnaire, items: Sequence[ItemRef] | None = None, question_id: str | None = None
    ) -> tuple[FlowState, FlowError | None]:
        qid = question_id or self.current
        if qid is None:
            return self, _error("not-applicable")
        new, error = skip(q, self.stored(), qid, items)
        return (self, error) if error else (self._make(q, new, items), None)

    def change(
        self, q: Questionnaire, question_id: str, value: Any, items: Sequence[ItemRef] | None = None
    ) -> FlowState:
        """Set a value (None = skipped; see `change`) and move to the next unanswered."""
        return self._make(q, change(q, self.stored(), question_id, value, items), items)

    def back(self, q: Questionnaire, items: Sequence[ItemRef] | None = None) -> FlowState:
        """Show the previous question again (its answer stays until replaced); at the
        first question the state is unchanged."""
        previous = back(q, self.stored(), self.current, items)
        if previous is None:
            return self
        return FlowState(self.answers, self.skipped, previous)

    def progress(self, q: Questionnaire, items: Sequence[ItemRef] | None = None) -> tuple[int, int]:
        return progress(q, self.stored(), (), items)

    def is_complete(self, q: Questionnaire, items: Sequence[ItemRef] | None = None) -> bool:
        return is_complete(q, self.stored(), (), items)

    def next_question(self, q: Questionnaire, items: Sequence[ItemRef] | None = None) -> Question | None:
        return next_question(q, self.stored(), (), items)
