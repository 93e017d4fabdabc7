"""The residents' questionnaire: the YAML format organizers write, its data model,
and a loader that reports every mistake with the file and line it sits on.

A questionnaire file looks like this::

    id: residents
    title: {zh_CN: 乡镇职责群众问卷, en: Residents' questionnaire}
    intro: 大约 3 分钟，可以随时停下，下次接着答。
    estimated_minutes: 3
    questions:
      - id: aware
        type: single
        text: 您知道乡镇（街道）平时负责哪些事情吗？
        options:
          - {id: yes, text: 知道}
          - {id: no, text: 不知道}
      - id: why
        type: text
        required: false
        show_if: {question: aware, equals: no}
        text: {zh_CN: 您想了解哪些方面？, en: What would you like to know?}

Texts are a plain string (Chinese only) or a mapping ``{zh_CN: …, en: …}``. An English
speaker gets the questionnaire in English when every question has its ``en`` text, else
wholly in Chinese, buttons and hints included (`Questionnaire.locale_for`).
Ids (questionnaire, questions, options) are ``[a-z0-9_]``, at most 16 characters,
because they travel in Telegram callback data (64 bytes at most). Ids and
``show_if`` values are read as written: ``yes``, ``no`` and ``30_44`` stay
strings, whatever YAML 1.1 would make of them.
YAML anchors and aliases (``&sat`` … ``*sat``) may repeat options or labels; the
file may hold at most ``MAX_VALUES`` values, each alias counting as all it stands for.

Question types and their keys (besides ``id``, ``type``, ``text``, ``help``,
``required`` — default true — and ``show_if``):

==============  ==============================================================
``single``      ``options`` (2–12)
``multi``       ``options`` (2–12), ``min`` (default 1), ``max`` (default: all)
``scale``       1–5; ``labels: {1: 很不满意, 5: 很满意}``, ``allow_unsure``
``text``        ``max_length`` (default 500, at most 4000)
``number``      ``min``, ``max``, ``integer`` (default false)
``item_rating`` rate items of the consulted list 1–5: ``parts`` (default
                ``[basic]``), ``categories`` (default: all), ``max_items``
                (default 5, at most 10), ``allow_unsure``. The items rated are
                the first ``max_items`` items of the list, in list order, whose
                part and category match — the same for everybody, so the
                answers can be compared; nobody is asked to rate 300 items.
``item_pick``   choose up to ``max_picks`` (default 3, at most 10) items of the
                list: ``parts``, ``categories``, ``max_items`` (default: all
                matching items; set it to keep the choice short).
==============  ==============================================================

``show_if`` refers to an earlier question: ``{question: q1, equals: yes}``,
``{question: q1, in: [a, b]}``, ``{question: q1, not_equals: no}`` or
``{question: q1, answered: true}``. On a ``multi`` question ``equals`` means
"this option was among those chosen". ``text``, ``item_rating`` and
``item_pick`` questions can only be tested with ``answered``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from surveys.duty_list import Part
from surveys.i18n import DEFAULT_LOCALE, LOCALES, gettext, normalize_locale
from surveys.problems import Problem, Severity
from surveys.text import BUTTON_WIDTH, TEXT_LIMIT, units, width

QUESTION_TYPES: tuple[str, ...] = ("single", "multi", "scale", "text", "number", "item_rating", "item_pick")
CHOICE_TYPES: tuple[str, ...] = ("single", "multi")
ITEM_TYPES: tuple[str, ...] = ("item_rating", "item_pick")

ID_PATTERN = re.compile(r"^[a-z0-9_]{1,16}$")
MAX_ID_LENGTH = 16
MAX_OPTIONS = 12  # a Telegram keyboard beyond this is too long to read on a phone
MIN_OPTIONS = 2
SCALE_POINTS: tuple[int, ...] = (1, 2, 3, 4, 5)
UNSURE = "unsure"  # the answer value of "不清楚/说不清"
DEFAULT_MAX_LENGTH = 500
MAX_TEXT_LENGTH = 4000  # below Telegram's 4096-character message limit
DEFAULT_RATING_ITEMS = 5
MAX_RATING_ITEMS = 10
DEFAULT_MAX_PICKS = 3
MAX_PICKS = 10
RECOMMENDED_MAX_QUESTIONS = 10
# a text the bot will shorten on screen (warned of by the check): an introduction or a question
# (with its help) leaving less than 500 characters of one Telegram message for the screen's other
# lines (the welcome's title, deadline and counts; the question's progress, its options written
# out, how to answer), an option wider than its button beside its mark ("☑ ", bot.routers.resident)
SCREEN_TEXT_ROOM = TEXT_LIMIT - 500
OPTION_ROOM = BUTTON_WIDTH - width("☑ ")
MAX_QUESTIONS = 100  # no one answers more in a chat; checking thousands held the bot's loop for seconds
MAX_FILE_CHARS = 200_000
#: Values (YAML nodes) a file may hold, an alias (*name) counting as every value of what it
#: names: aliases let a few lines stand for millions of values ("billion laughs"), which the
#: checker would visit one by one. Ten questions hold a few hundred.
MAX_VALUES = 100_000

_COMMON_KEYS = ("id", "type", "text", "help", "required", "show_if")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "single": ("options",),
    "multi": ("options", "min", "max"),
    "scale": ("labels", "allow_unsure"),
    "text": ("max_length",),
    "number": ("min", "max", "integer"),
    "item_rating": ("parts", "categories", "max_items", "allow_unsure"),
    "item_pick": ("parts", "categories", "max_items", "max_picks"),
}
_TOP_KEYS = ("id", "title", "intro", "estimated_minutes", "questions")
_CONDITION_OPS = ("equals", "not_equals", "in", "answered")


class Text(Mapping[str, str]):
    """A text in several locales (locale → string); zh_CN is always present.
    `get(locale)` falls back to zh_CN."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | str) -> None:
        self._values: dict[str, str] = {DEFAULT_LOCALE: values} if isinstance(values, str) else dict(values)

    def __getitem__(self, locale: str) -> str:
        return self._values[locale]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Text({self._values!r})"

    def get(self, locale: str | None = None, default: str = "") -> str:  # type: ignore[override]
        loc = locale if locale in LOCALES else normalize_locale(locale)
        return self._values.get(loc) or self._values.get(DEFAULT_LOCALE) or default


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    text: Text


@dataclass(frozen=True, slots=True)
class Condition:
    """`show_if`: the question shows when the answer to `question` satisfies `op`.

    `values` holds the compared values, typed like that question's answers (option
    ids, scale points or "unsure", numbers); for `answered` it is (True,) or (False,).
    """

    question: str
    op: str  # one of equals, not_equals, in, answered
    values: tuple[Any, ...]

    def holds(self, answer: Any) -> bool:
        """Whether the condition holds for `answer`, the referenced question's answer
        (None when it was skipped, not reached or not shown)."""
        answered = answer is not None
        if self.op == "answered":
            return answered == bool(self.values[0])
        if not answered:
            return False
        if isinstance(answer, list | tuple | set | frozenset):
            matched = any(v in answer for v in self.values)
        else:
            matched = any(_same(answer, v) for v in self.values)
        return not matched if self.op == "not_equals" else matched


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class Question:
    """One question. Which fields matter depends on `type`:

    - multi: `min_choices`, `max_choices` (how many options may be ticked);
    - scale: `labels` ((point, text) pairs), `allow_unsure`;
    - text: `max_length`;
    - number: `min_value`, `max_value`, `integer`;
    - item_rating: `parts`, `categories`, `max_items`, `allow_unsure`;
    - item_pick: `parts`, `categories`, `max_items` (None: all), `max_picks`.
    """

    id: str
    type: str
    text: Text
    help: Text | None = None
    required: bool = True
    show_if: Condition | None = None
    options: tuple[Option, ...] = ()
    min_choices: int = 1
    max_choices: int | None = None
    labels: tuple[tuple[int, Text], ...] = ()
    allow_unsure: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    min_value: int | float | None = None
    max_value: int | float | None = None
    integer: bool = False
    parts: tuple[str, ...] = (Part.BASIC.value,)
    categories: tuple[str, ...] = ()
    max_items: int | None = None
    max_picks: int = DEFAULT_MAX_PICKS
    line: int | None = None

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)

    def label(self, point: int) -> Text | None:
        return next((t for p, t in self.labels if p == point), None)


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    title: Text
    intro: Text
    questions: tuple[Question, ...]
    estimated_minutes: int

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def locale_for(self, locale: str) -> str:
        """The language to put the questionnaire to a person of `locale` in: theirs when every
        question is written in it, else the questionnaire's own (zh_CN) — its screens, buttons
        and hints included, so that a Chinese-only questionnaire does not come with English
        buttons ("Pause", "Skip") around its Chinese questions."""
        loc = locale if locale in LOCALES else normalize_locale(locale)
        return loc if all(loc in q.text for q in self.questions) else DEFAULT_LOCALE

    def index(self, question_id: str) -> int:
        """Position of the question (0-based); ValueError when unknown."""
        for i, q in enumerate(self.questions):
            if q.id == question_id:
                return i
        raise ValueError(question_id)


# --- loading -------------------------------------------------------------------------


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind(node: Node) -> dict[str, str]:
    if isinstance(node, MappingNode):
        return _words("mapping")
    if isinstance(node, SequenceNode):
        return _words("list")
    return _words("scalar")


def _words(key: str, **kw: Any) -> dict[str, str]:
    """A word a problem's message names, in every locale (the message takes its own:
    {expected[zh_CN]}), so that a Chinese message does not say "应为：number"."""
    return {loc: gettext(f"questionnaire.word.{key}", loc, **kw) for loc in LOCALES}


class _Parser:
    """Walks the composed YAML nodes; collects Problems instead of raising."""

    def __init__(self, filename: str | None) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self.all_ids: tuple[str, ...] = ()  # every question id written, to tell "later" from "unknown"
        self.position = 0  # index of the question being read

    def report(self, rule: str, line: int | None, severity: Severity = Severity.ERROR, **params: Any) -> None:
        self.problems.append(Problem(severity, f"questionnaire.{rule}", params, file=self.filename, line=line))

    def error(self, rule: str, node: Node, **params: Any) -> None:
        self.report(rule, _line(node), **params)

    # -- generic shapes

    def mapping(self, node: Node, allowed: tuple[str, ...], what: str) -> dict[str, Node] | None:
        """The keys of a mapping node (key → value node); reports non-mappings,
        duplicate keys and keys that are not in `allowed`."""
        if not isinstance(node, MappingNode):
            self.error("not-a-mapping", node, what=_words(what))
            return None
        result: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error("bad-key", key_node, key=_kind(key_node))
                continue
            key = str(key_node.value)
            if key in result:
                self.error("duplicate-key", key_node, key=key)
                continue
            if key not in allowed:
                self.error("unknown-key", key_node, key=key, allowed=", ".join(dict.fromkeys(allowed)))
                continue
            result[key] = value_node
        return result

    def scalar(self, node: Node) -> Any:
        """The YAML value of a scalar node (None for non-scalars, which are reported, and
        for values YAML cannot build, such as the date 2026-02-30 or `!!int x`: the caller
        reports them as values of the wrong kind)."""
        try:
            return SafeConstructor().construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception:  # noqa: BLE001 — PyYAML's constructors raise ValueError, KeyError, AttributeError…
            return None

    def raw_string(self, node: Node, key: str) -> str | None:
        """A scalar as written (so `yes` stays "yes")."""
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.error("bad-value", node, key=key, expected=_words("text"))
            return None
        return str(node.value).strip()

    def ident(self, node: Node, key: str = "id") -> str | None:
        value = self.raw_string(node, key)
        if value is None:
            return None
        if not ID_PATTERN.match(value):
            self.error("bad-id", node, id=value, max=MAX_ID_LENGTH)
            return None
        return value

    def boolean(self, node: Node, key: str) -> bool | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.error("bad-value", node, key=key, expected=_words("true-false"))
            return None
        return value

    def integer(self, node: Node, key: str, low: int, high: int) -> int | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error("bad-value", node, key=key, expected=_words("whole-between", low=low, high=high))
            return None
        if not low <= value <= high:
            self.error("out-of-bounds", node, key=key, value=value, min=low, max=high)
            return None
        return value

    def number(self, node: Node, key: str) -> int | float | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.error("bad-value", node, key=key, expected=_words("number"))
            return None
        return value

    def text(self, node: Node, key: str) -> Text | None:
        if isinstance(node, ScalarNode) and node.tag != "tag:yaml.org,2002:null":
            value = str(node.value).strip()
            if not value:
                self.error("missing-text", node, key=key)
                return None
            return Text(value)
        if isinstance(node, MappingNode):
            values: dict[str, str] = {}
            written: set[str] = set()
            for key_node, value_node in node.value:
                locale = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                written.add(locale)
                if locale not in LOCALES:
                    self.error("unknown-locale", key_node, locale=locale, locales=", ".join(LOCALES))
                    continue
                if locale in values:
                    self.error("duplicate-key", key_node, key=locale)
                    continue
                if not isinstance(value_node, ScalarNode) or not str(value_node.value).strip() \
                        or value_node.tag == "tag:yaml.org,2002:null":
                    self.error("missing-text", value_node, key=f"{key}.{locale}")
                    continue
                values[locale] = str(value_node.value).strip()
            if DEFAULT_LOCALE not in values:
                if DEFAULT_LOCALE not in written:
                    self.error("missing-zh", node, key=key)
                return None
            return Text(values)
        self.error("missing-text", node, key=key)
        return None

    def string_list(self, node: Node, key: str) -> tuple[str, ...] | None:
        items = node.value if isinstance(node, SequenceNode) else [node]
        out: list[str] = []
        for item in items:
            value = self.raw_string(item, key)
            if value is None:
                return None
            out.append(value)
        return tuple(out)

    # -- the document

    def document(self, root: Node) -> Questionnaire | None:
        top = self.mapping(root, _TOP_KEYS, "questionnaire")
        if top is None:
            return None
        qid = self.ident(top["id"]) if "id" in top else None
        if "id" not in top:
            self.error("missing-key", root, key="id")
        title = self.text(top["title"], "title") if "title" in top else None
        if "title" not in top:
            self.error("missing-key", root, key="title")
        intro = self.text(top["intro"], "intro") if "intro" in top else Text("")
        minutes: int | None = None
        if "estimated_minutes" in top:
            minutes = self.integer(top["estimated_minutes"], "estimated_minutes", 1, 60)
        questions: list[Question] = []
        if "questions" not in top:
            self.error("missing-key", root, key="questions")
        else:
            node = top["questions"]
            if not isinstance(node, SequenceNode) or not node.value:
                self.error("no-questions", node)
            elif len(node.value) > MAX_QUESTIONS:
                self.error("over-max-questions", node, count=len(node.value), max=MAX_QUESTIONS)
            else:
                questions = self.questions(node)
                if len(node.value) > RECOMMENDED_MAX_QUESTIONS:
                    self.report("too-many-questions", _line(node), Severity.WARNING,
                                count=len(node.value), max=RECOMMENDED_MAX_QUESTIONS)
                # English speakers get it in English only when every question is (locale_for)
                untranslated = [q for q in questions if "en" not in q.text]
                if untranslated and len(untranslated) < len(questions):
                    self.report("partly-english", untranslated[0].line, Severity.WARNING,
                                question=untranslated[0].id, n=len(untranslated))
        if any(p.is_error for p in self.problems) or qid is None or title is None or intro is None:
            return None
        self.screen_lengths(intro, _line(top["intro"]) if "intro" in top else None, questions)
        return Questionnaire(
            id=qid,
            title=title,
            intro=intro,
            questions=tuple(questions),
            estimated_minutes=minutes or max(1, math.ceil(len(questions) / 3)),
        )

    def screen_lengths(self, intro: Text, intro_line: int | None, questions: list[Question]) -> None:
        """Warnings (not errors) of texts the bot will have to shorten on a phone's screen: an
        introduction or a question (with its help) too long for one message beside the
        screen's other lines, an option wider than its button."""
        for locale in intro:
            if units(intro[locale]) > SCREEN_TEXT_ROOM:
                self.report("long-intro", intro_line, Severity.WARNING, locale=locale,
                            length=units(intro[locale]), max=SCREEN_TEXT_ROOM)
        for q in questions:
            for locale in q.text:
                length = units(q.text[locale]) + (units(q.help.get(locale)) if q.help else 0)
                if length > SCREEN_TEXT_ROOM:
                    self.report("long-question", q.line, Severity.WARNING, question=q.id, locale=locale,
                                length=length, max=SCREEN_TEXT_ROOM)
            for o in q.options:
                for locale in o.text:
                    if width(o.text[locale]) > OPTION_ROOM:
                        self.report("long-option", q.line, Severity.WARNING, question=q.id, option=o.id,
                                    locale=locale, width=width(o.text[locale]), max=OPTION_ROOM)

    def questions(self, seq: SequenceNode) -> list[Question]:
        out: list[Question] = []
        first_line: dict[str, int] = {}
        earlier: dict[str, Question] = {}
        for position, node in enumerate(seq.value):
            self.position = position
            question = self.question(node, first_line, earlier)
            if question is not None:
                out.append(question)
                earlier[question.id] = question
        return out

    def question(self, node: Node, first_line: dict[str, int], earlier: dict[str, Question]) -> Question | None:
        raw = self.mapping(node, _COMMON_KEYS + tuple(k for ks in _TYPE_KEYS.values() for k in ks), "question")
        if raw is None:
            return None
        before = len(self.problems)
        qid: str | None = None
        if "id" not in raw:
            self.error("missing-key", node, key="id")
        else:
            qid = self.ident(raw["id"])
            if qid is not None and qid in first_line:
                self.error("duplicate-question", raw["id"], id=qid, first_line=first_line[qid])
                qid = None
            elif qid is not None:
                first_line[qid] = _line(raw["id"])

        qtype: str | None = None
        if "type" not in raw:
            self.error("missing-key", node, key="type")
        else:
            qtype = self.raw_string(raw["type"], "type")
            if qtype is not None and qtype not in QUESTION_TYPES:
                self.error("unknown-type", raw["type"], type=qtype, types=", ".join(QUESTION_TYPES))
                qtype = None

        text = None
        if "text" not in raw:
            self.error("missing-text", node, key="text")
        else:
            text = self.text(raw["text"], "text")
        help_text = self.text(raw["help"], "help") if "help" in raw else None
        required = True
        if "required" in raw:
            required = bool(self.boolean(raw["required"], "required"))

        fields: dict[str, Any] = {}
        if qtype is not None:
            for key in raw:
                if key not in _COMMON_KEYS and key not in _TYPE_KEYS[qtype]:
                    self.error("key-not-for-type", raw[key], key=key, type=qtype,
                               allowed=", ".join(_TYPE_KEYS[qtype]))
            fields = self.type_fields(qtype, raw, node)

        show_if = None
        if "show_if" in raw:
            show_if = self.condition(raw["show_if"], qid, earlier)

        if len(self.problems) > before and any(p.is_error for p in self.problems[before:]):
            return None
        assert qid is not None and qtype is not None and text is not None
        return Question(id=qid, type=qtype, text=text, help=help_text, required=required,
                        show_if=show_if, line=_line(node), **fields)

    def type_fields(self, qtype: str, raw: dict[str, Node], node: Node) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if qtype in CHOICE_TYPES:
            options = self.options(raw["options"]) if "options" in raw else None
            if "options" not in raw:
                self.error("no-options", node)
            if options is not None:
                fields["options"] = options
            if qtype == "multi" and options is not None:
                n = len(options)
                low = self.integer(raw["min"], "min", 0, n) if "min" in raw else 1
                high = self.integer(raw["max"], "max", 1, n) if "max" in raw else n
                if low is not None and high is not None:
                    if low > high:
                        self.error("min-greater-than-max", raw.get("min", node), min=low, max=high)
                    fields["min_choices"] = low
                    fields["max_choices"] = high
        elif qtype == "scale":
            if "labels" in raw:
                fields["labels"] = self.labels(raw["labels"])
            if "allow_unsure" in raw:
                fields["allow_unsure"] = bool(self.boolean(raw["allow_unsure"], "allow_unsure"))
        elif qtype == "text":
            if "max_length" in raw:
                fields["max_length"] = self.integer(raw["max_length"], "max_length", 1, MAX_TEXT_LENGTH)
        elif qtype == "number":
            low = self.number(raw["min"], "min") if "min" in raw else None
            high = self.number(raw["max"], "max") if "max" in raw else None
            if low is not None and high is not None and low > high:
                self.error("min-greater-than-max", raw["min"], min=low, max=high)
            integer = bool(self.boolean(raw["integer"], "integer")) if "integer" in raw else False
            if integer and low is not None and high is not None and low <= high and math.ceil(low) > math.floor(high):
                # no whole number between them: the question could never be answered
                self.error("no-whole-number", raw["min"], min=low, max=high)
            fields.update(min_value=low, max_value=high, integer=integer)
        else:  # item questions
            if "parts" in raw:
                parts = self.string_list(raw["parts"], "parts")
                valid = {p.value for p in Part}
                for part in parts or ():
                    if part not in valid:
                        self.error("bad-part", raw["parts"], part=part, parts=", ".join(sorted(valid)))
                if parts is not None:
                    if not parts:
                        self.error("bad-part", raw["parts"], part="", parts=", ".join(sorted(valid)))
                    fields["parts"] = parts
            if "categories" in raw:
                categories = self.string_list(raw["categories"], "categories")
                if categories is not None:
                    fields["categories"] = categories
            if qtype == "item_rating":
                fields["max_items"] = (self.integer(raw["max_items"], "max_items", 1, MAX_RATING_ITEMS)
                                       if "max_items" in raw else DEFAULT_RATING_ITEMS)
                if "allow_unsure" in raw:
                    fields["allow_unsure"] = bool(self.boolean(raw["allow_unsure"], "allow_unsure"))
            else:
                if "max_items" in raw:
                    fields["max_items"] = self.integer(raw["max_items"], "max_items", 1, 1000)
                if "max_picks" in raw:
                    fields["max_picks"] = self.integer(raw["max_picks"], "max_picks", 1, MAX_PICKS)
                if fields.get("max_items") and fields.get("max_picks") \
                        and fields["max_picks"] > fields["max_items"]:
                    self.error("picks-above-items", raw["max_picks"],
                               picks=fields["max_picks"], items=fields["max_items"])
        return {k: v for k, v in fields.items() if v is not None}

    def options(self, node: Node) -> tuple[Option, ...] | None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.error("no-options", node)
            return None
        if len(node.value) > MAX_OPTIONS:
            self.error("too-many-options", node, count=len(node.value), max=MAX_OPTIONS)
        if len(node.value) < MIN_OPTIONS:
            self.error("too-few-options", node, count=len(node.value), min=MIN_OPTIONS)
        out: list[Option] = []
        seen: dict[str, int] = {}
        for item in node.value:
            raw = self.mapping(item, ("id", "text"), "option")
            if raw is None:
                continue
            oid = self.ident(raw["id"]) if "id" in raw else None
            if "id" not in raw:
                self.error("missing-key", item, key="id")
            if oid is not None and oid in seen:
                self.error("duplicate-option", raw["id"], id=oid, first_line=seen[oid])
                oid = None
            elif oid is not None:
                seen[oid] = _line(raw["id"])
            text = self.text(raw["text"], "text") if "text" in raw else None
            if "text" not in raw:
                self.error("missing-text", item, key="text")
            if oid is not None and text is not None:
                out.append(Option(oid, text))
        return tuple(out)

    def labels(self, node: Node) -> tuple[tuple[int, Text], ...]:
        if not isinstance(node, MappingNode):
            self.error("not-a-mapping", node, what=_words("labels"))
            return ()
        out: dict[int, Text] = {}
        for key_node, value_node in node.value:
            point = self.scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if isinstance(point, bool) or point not in SCALE_POINTS:
                self.error("bad-scale-label", key_node, point=getattr(key_node, "value", "?"))
                continue
            text = self.text(value_node, f"labels.{point}")
            if text is not None:
                out[point] = text
        return tuple(sorted(out.items()))

    def condition(self, node: Node, own_id: str | None, earlier: dict[str, Question]) -> Condition | None:
        raw = self.mapping(node, ("question",) + _CONDITION_OPS, "show_if")
        if raw is None:
            return None
        ops = [op for op in _CONDITION_OPS if op in raw]
        if "question" not in raw or len(ops) != 1:
            self.error("show-if-bad", node, ops=", ".join(_CONDITION_OPS))
            return None
        ref = self.raw_string(raw["question"], "question")
        if ref is None:
            return None
        target = earlier.get(ref)
        if target is None:
            if ref == own_id:
                self.error("show-if-self", raw["question"], question=ref)
            elif ref in self.all_ids[: self.position]:
                pass  # an earlier question with errors of its own, already reported
            elif ref in self.all_ids:
                self.error("show-if-later-question", raw["question"], question=ref)
            else:
                self.error("show-if-unknown-question", raw["question"], question=ref)
            return None
        op = ops[0]
        value_node = raw[op]
        if op == "answered":
            flag = self.boolean(value_node, "answered")
            return None if flag is None else Condition(ref, op, (flag,))
        if target.type in ("text",) + ITEM_TYPES:
            self.error("show-if-unsupported", value_node, question=ref, type=target.type)
            return None
        if op == "in":
            if not isinstance(value_node, SequenceNode) or not value_node.value:
                self.error("bad-value", value_node, key="in", expected=_words("list"))
                return None
            value_nodes = list(value_node.value)
        else:
            value_nodes = [value_node]
        values: list[Any] = []
        for vn in value_nodes:
            value = self.condition_value(vn, target)
            if value is None:
                return None
            values.append(value)
        return Condition(ref, op, tuple(values))

    def condition_value(self, node: Node, target: Question) -> Any:
        raw = self.raw_string(node, "show_if")
        if raw is None:
            return None
        if target.type in CHOICE_TYPES:
            if target.option(raw) is None:
                self.error("show-if-unknown-option", node, question=target.id, value=raw,
                           options=", ".join(target.option_ids))
                return None
            return raw
        if target.type == "scale":
            if raw == UNSURE and target.allow_unsure:
                return UNSURE
            if raw.isdecimal() and int(raw) in SCALE_POINTS:
                return int(raw)
            self.error("show-if-unknown-option", node, question=target.id, value=raw,
                       options="1, 2, 3, 4, 5" + (", unsure" if target.allow_unsure else ""))
            return None
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error("bad-value", node, key="show_if", expected=_words("number"))
            return None
        return value


def _question_ids(root: Node) -> tuple[str, ...]:
    """Every question id written in the file (for telling "later" from "unknown")."""
    if not isinstance(root, MappingNode):
        return ()
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "questions" and isinstance(value, SequenceNode):
            ids = []
            for q in value.value:
                if isinstance(q, MappingNode):
                    for k, v in q.value:
                        if isinstance(k, ScalarNode) and k.value == "id" and isinstance(v, ScalarNode):
                            ids.append(str(v.value).strip())
            return tuple(ids)
    return ()


def _too_many_values(root: Node) -> bool:
    """Whether `root` holds more than MAX_VALUES values with its aliases expanded (an alias
    inside what it names expands without end). Stops counting there: at most MAX_VALUES steps."""
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return True
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, SequenceNode):
            stack += node.value
    return False


def load_questionnaire(text: str, filename: str | None = None) -> tuple[Questionnaire | None, list[Problem]]:
    """Parse and check a questionnaire. Never raises: returns (None, problems) when
    any problem is an error, else (questionnaire, warnings)."""
    parser = _Parser(filename)
    if len(text) > MAX_FILE_CHARS:
        parser.report("too-large", None, max=MAX_FILE_CHARS)
        return None, parser.problems
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and _too_many_values(root):
            parser.report("too-many-values", None, max=MAX_VALUES)
            return None, parser.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(str(s) for s in (exc.context, exc.problem) if s)
        parser.report("yaml-syntax", mark.line + 1 if mark else None, detail=detail)
        return None, parser.problems
    except yaml.YAMLError as exc:
        parser.report("yaml-syntax", None, detail=str(exc))
        return None, parser.problems
    except RecursionError:  # PyYAML composes nested lists and mappings recursively: [[[[…]]]]
        parser.report("too-deep", None)
        return None, parser.problems
    if root is None:
        parser.report("empty", 1)
        return None, parser.problems
    parser.all_ids = _question_ids(root)
    try:
        questionnaire = parser.document(root)
    except yaml.YAMLError as exc:  # e.g. a malformed !!int tag met while constructing a scalar
        mark = getattr(exc, "problem_mark", None)
        parser.report("yaml-syntax", mark.line + 1 if mark else None, detail=str(exc))
        return None, parser.problems
    if any(p.is_error for p in parser.problems):
        return None, parser.problems
    return questionnaire, parser.problems


QUESTIONNAIRE_DIR = Path(__file__).parent / "questionnaires"
DEFAULT_QUESTIONNAIRE_PATH = QUESTIONNAIRE_DIR / "default_residents.yaml"


def load_default_questionnaire() -> Questionnaire:
    """The residents' questionnaire shipped with Qingdan (raises if it is broken,
    which a test forbids)."""
    questionnaire, problems = load_questionnaire(
        DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"), DEFAULT_QUESTIONNAIRE_PATH.name
    )
    if questionnaire is None:
        raise ValueError("; ".join(p.render("en") for p in problems))
    return questionnaire
