"""What an organizer gets as numbers and documents: the results workbook, the
digest, the draft 反馈情况说明 (feedback report) and the headline figures.

Pure: everything is computed from a `ConsultationData` snapshot of plain records
(storage.reports builds it from the database). Respondents and cadres appear only
under keyed pseudonyms (`pseudonym`), never under their Telegram ids.

Results are advisory. Townships are always listed in the consultation's own
order, never sorted by their figures: nothing here ranks townships.

Which comments count: a comment is *active* when it is neither hidden by the
organizer nor withdrawn by its author. Counts (by kind, by decision, per item)
are over active comments; the 意见 sheet lists every comment that is not hidden,
withdrawn ones with their status. A comment without an item and with a
`missing` proposal (or kind ``missing``) is a missing-item proposal.

Responses come in one of two forms. At scale storage.reports does not list them:
it computes a `ResponseSummary` with SQL GROUP BY (progress per township, a tally
per question, the counts in the digest's window) and lists only the text answers
row by row; the reports read nothing else of the responses. Given `ResponseRecord`s
instead (tests, small consultations), `summarize` computes the same summary here.

The workbook is written by PyExcelerate. Text is cleaned on the way in (`_clean`):
XML-illegal control characters removed, at most 32,767 characters, and, by OWASP's rule
against formula injection, text starting with =, +, -, @, tab or CR gets a single quote
"'" in front — PyExcelerate would write a string starting with "=" as a formula, and the
others become formulas when a cell is edited or the sheet saved as CSV.
"""

from __future__ import annotations

import base64
import hmac
import html
import io
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from pyexcelerate import Alignment, Format, Panes, Style, Workbook
from pyexcelerate.Writer import Writer

from surveys.consultation import (
    MISSING_KIND,
    NEEDS_REASON,
    Status,
    ended_at,
    format_deadline,
    format_local,
    in_kind_order,
)
from surveys.diff import ListDiff
from surveys.duty_list import PART_ORDER, normalize
from surveys.i18n import DEFAULT_LOCALE, gettext, has
from surveys.questionnaire import SCALE_POINTS, UNSURE, Question, Questionnaire
from surveys.text import cut, lines_within, mask_personal_numbers, units

DECISIONS: tuple[str, ...] = ("adopted", "partly", "rejected")
NO_DECISION = "none"  # the key under which unanswered comments are counted
WITHDRAWN = "withdrawn"
TELEGRAM_LIMIT = 4000  # the digest's room in a message, in Telegram's UTF-16 units (surveys.text.units)
EXCEL_CELL_LIMIT = 32767
GIST_CHARS = 120
NO_SHARE = "—"  # the share of nothing (nobody started, nobody answered): not 0.0%
TOP_ITEMS = 5
DIGEST_MAX_TOWNSHIPS = 40


# --- the snapshot ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsultationInfo:
    id: int
    title: str
    status: str
    opens_at: datetime | None
    closes_at: datetime
    timezone: str = "Asia/Shanghai"
    closed_at: datetime | None = None  # when it was closed (before the deadline if closed early)

    @property
    def ended_at(self) -> datetime:
        """When answers stopped: the deadline, or an earlier close."""
        return ended_at(self.closes_at, self.closed_at)


@dataclass(frozen=True, slots=True)
class TownshipRef:
    """A consulted township and the list version it is consulted on."""

    id: int
    name: str
    list_id: int


@dataclass(frozen=True, slots=True)
class ReportItem:
    """An item of a consulted list (like surveys.flow.ItemRef, plus its township)."""

    id: int
    part: str
    category: str
    name: str
    township: str = ""


@dataclass(slots=True)
class ResponseRecord:
    """One resident's questionnaire: answers as stored (None = skipped)."""

    pseudonym: str
    township: str
    started_at: datetime
    completed_at: datetime | None = None
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CommentRecord:
    id: int
    pseudonym: str
    township: str
    item_id: int | None
    item_name: str
    part: str
    kind: str
    text: str = ""
    proposed_wording: str = ""
    missing: dict[str, Any] = field(default_factory=dict)
    status: str = "open"
    decision: str | None = None
    reply: str = ""
    replied_at: datetime | None = None
    created_at: datetime | None = None
    hidden: bool = False
    replied_by: str = ""  # the name of the organizer who answered

    @property
    def active(self) -> bool:
        return not self.hidden and self.status != WITHDRAWN

    @property
    def is_missing_proposal(self) -> bool:
        return self.item_id is None and (bool(self.missing) or self.kind == MISSING_KIND)

    @property
    def decision_key(self) -> str:
        return self.decision if self.decision in DECISIONS else NO_DECISION


@dataclass(frozen=True, slots=True)
class Revision:
    """A consulted township's list as revised and published after the consultation: the
    version published and what changed against the version consulted on."""

    township: str
    version: str
    diff: ListDiff


@dataclass(slots=True)
class OffListRecord:
    """A cadre's report of a task pushed onto the township outside the list."""

    pseudonym: str
    township: str
    department: str
    task: str
    assigned_on: str = ""
    method: str = ""
    details: str = ""
    created_at: datetime | None = None
    consultation_id: int | None = None  # (read for `build_offlist_workbook`: None = no consultation)
    consultation_title: str = ""


@dataclass(slots=True)
class TextAnswer:
    """A non-empty text answer, listed row by row on the 文字意见 sheet."""

    question_id: str
    text: str
    township: str
    pseudonym: str


@dataclass(frozen=True, slots=True)
class ResponseWindow:
    """Questionnaires started and completed in (since, now] — the digest's "new" counts."""

    since: datetime | None
    now: datetime
    started: int
    completed: int


@dataclass(slots=True)
class ResponseSummary:
    """Everything the reports read of the responses: started/completed per township (the
    consultation's order, then townships no longer linked, by name), a tally per question
    (questionnaire order; none when loaded for a digest, which shows no question), the
    text answers (question order, then response order) and, optionally, the counts in
    one digest window."""

    progress: list[TownshipProgress]
    questions: list[QuestionResult]
    texts: list[TextAnswer]
    window: ResponseWindow | None = None


@dataclass(slots=True)
class ConsultationData:
    """The snapshot the reports are built from. `summary` (pre-aggregated by storage)
    stands for the responses when given; otherwise `responses` are summarized here."""

    consultation: ConsultationInfo
    townships: list[TownshipRef]
    items: list[ReportItem]
    questionnaire: Questionnaire | None
    responses: list[ResponseRecord]
    comments: list[CommentRecord]
    offlist: list[OffListRecord] = field(default_factory=list)
    summary: ResponseSummary | None = None
    revisions: list[Revision] = field(default_factory=list)  # the lists published since (what changed)

    @property
    def timezone(self) -> str:
        return self.consultation.timezone


# --- pseudonyms --------------------------------------------------------------------------


def pseudonym(key: str, person_id: int) -> str:
    """A short, stable, keyed pseudonym ("R-" + 10 base32 characters). Without the
    key nobody can go back from it to the Telegram id."""
    return Pseudonyms(key)(person_id)


class Pseudonyms:
    """`pseudonym(key, ·)` for the many people of a report: the keyed hash set up once
    and its state copied for each person (half the time of a fresh HMAC), each
    person's pseudonym computed once."""

    def __init__(self, key: str) -> None:
        self._keyed = hmac.new(key.encode("utf-8"), digestmod="sha256")
        self._known: dict[int, str] = {}

    def __call__(self, person_id: int) -> str:
        value = self._known.get(person_id)
        if value is None:
            keyed = self._keyed.copy()
            keyed.update(str(int(person_id)).encode("ascii"))
            # HMAC-SHA256 of the id, its first 50 bits as 10 base32 characters
            value = self._known[person_id] = "R-" + base64.b32encode(keyed.digest()[:7])[:10].decode("ascii")
        return value


# --- texts -------------------------------------------------------------------------------


def _t(key: str, locale: str, **kw: Any) -> str:
    return gettext(f"report.{key}", locale, **kw)


def _label(prefix: str, value: str, locale: str) -> str:
    """A catalog label for a decision/status/part (`report.<prefix>.<value>`), or for the
    shared vocabulary of comment kinds and report methods (`comment.kind.*`,
    `offlist.method.*`, surveys/locales/*/comments.po); the raw value when unknown."""
    key = {"kind": f"comment.kind.{value}", "method": f"offlist.method.{value}"}.get(prefix,
                                                                                   f"report.{prefix}.{value}")
    return gettext(key, locale) if has(key, DEFAULT_LOCALE) else value


def part_label(part: str, locale: str) -> str:
    return _label("part", part, locale) if part else ""


def kind_label(kind: str, locale: str) -> str:
    return _label("kind", kind, locale)


def decision_label(decision: str | None, locale: str) -> str:
    return _label("decision", decision if decision in DECISIONS else NO_DECISION, locale)


def _local(value: datetime | None, tz: str) -> str:
    return format_local(value, tz) if value is not None else ""


def _local_time(value: datetime | None, tz: str) -> datetime | None:
    """An instant as a workbook cell holds it: the wall-clock time in the consultation's zone, as a
    real Excel date (sorted, filtered and computed with as dates), shown as DATE; to the minute, as the
    chat and the texts give times (a cell's seconds would not show)."""
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None, second=0, microsecond=0) if value is not None else None


def _end_cell(value: datetime, tz: str) -> datetime | str:
    """An end as a cell: a real date, except one at midnight, written as 24:00 of its last day
    (format_deadline: "2026-12-05 24:00", not 2026-12-06 00:00, which reads as the 6th still open)."""
    text = format_deadline(value, tz)
    return text if text.endswith(" 24:00") else _local_time(value, tz)  # type: ignore[return-value]


def _pct(n: int, total: int) -> float:
    return n / total if total else 0.0


def half_up(value: float | Decimal, places: int) -> Decimal:
    """`value` rounded half up (四舍五入) to `places` decimals, as Excel shows a number
    format: 6.25 → 6.3 and 4.125 → 4.13, where Python's round and format go half to even
    (6.2, 4.12). A float is taken at its shortest repr (4.125, not its binary value)."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not exact.is_finite():
        return exact
    with localcontext() as ctx:
        ctx.prec = 400  # every digit of the largest float (1e308) and the decimals
        return exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def percent_text(n: int, total: int, places: int = 1) -> str:
    """n of total as a percentage rounded half up, as the workbook's 0.0% cells show it."""
    return f"{half_up(Decimal(100 * n) / Decimal(total), places)}%"


def _mean_value(mean: float | None) -> float | None:
    """A mean as the workbook stores it: two decimals, rounded half up (as the text says it)."""
    return float(half_up(mean, 2)) if mean is not None else None


def _share(n: int, total: int) -> float | None:
    """A share as the workbook's cell holds it: the fraction (shown as 0.0%); of nothing, an empty
    cell — a "—" there was text in a column of numbers, which a clerk's formulas (SUM, AVERAGE,
    a sort) stumbled on."""
    return n / total if total else None


def _pct_text(n: int, total: int) -> str:
    """A share as text; "—" of nothing (no one started: not 0.0 %, as /stats says too)."""
    return percent_text(n, total) if total else NO_SHARE


def _one_line(text: str) -> str:
    """`text` on one line (a cadre's message may hold line breaks; the report's lines are numbered)."""
    return " ".join(text.split())


def _gist(text: str, limit: int = GIST_CHARS) -> str:
    """`text` on one line, cut at `limit` characters — for names in short messages only: the
    反馈情况说明 quotes comments, proposals and replies whole (a clerk answers the whole text)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _part_rank(part: str) -> int:
    values = [p.value for p in PART_ORDER]
    return values.index(part) if part in values else len(values)


# --- aggregates --------------------------------------------------------------------------


@dataclass(slots=True)
class TownshipProgress:
    township: str
    started: int
    completed: int

    @property
    def rate(self) -> float:
        return _pct(self.completed, self.started)


def township_progress(data: ConsultationData) -> list[TownshipProgress]:
    """Started/completed per consulted township, in the consultation's order (never ranked)."""
    return summary_of(data).progress


def _progress_of(data: ConsultationData) -> list[TownshipProgress]:
    started: Counter[str] = Counter()
    completed: Counter[str] = Counter()
    for r in data.responses:
        started[r.township] += 1
        if r.completed_at is not None:
            completed[r.township] += 1
    names = [t.name for t in data.townships]
    names += sorted(n for n in started if n not in set(names))
    return [TownshipProgress(n, started[n], completed[n]) for n in names]


def active_comments(data: ConsultationData) -> list[CommentRecord]:
    return [c for c in data.comments if c.active]


def comments_by_kind(comments: Iterable[CommentRecord]) -> dict[str, int]:
    return in_kind_order(Counter(c.kind for c in comments))


def comments_by_decision(comments: Iterable[CommentRecord]) -> dict[str, int]:
    counts = Counter(c.decision_key for c in comments)
    return {k: counts[k] for k in (*DECISIONS, NO_DECISION)}


@dataclass(slots=True)
class QuestionResult:
    """The tally of one question over every stored response.

    `counts`: option id (single, multi), scale point or "unsure" (scale), item id
    (item_pick) → number of answers; `numbers`: value → how many gave it (number);
    `ratings`: item id → Counter of points (item_rating)."""

    question: Question
    answered: int = 0
    counts: Counter[Any] = field(default_factory=Counter)
    numbers: Counter[float] = field(default_factory=Counter)
    ratings: dict[int, Counter[Any]] = field(default_factory=dict)

    def mean(self) -> float | None:
        """Scale: the mean of points 1–5 (not sure left out); number: the mean value."""
        if self.question.type == "number":
            n = sum(self.numbers.values())
            return sum(v * k for v, k in self.numbers.items()) / n if n else None
        points = sum(self.counts[p] for p in SCALE_POINTS)
        if not points:
            return None
        return sum(p * self.counts[p] for p in SCALE_POINTS) / points


def rating_mean(counts: Counter[Any]) -> float | None:
    n = sum(counts[p] for p in SCALE_POINTS)
    return sum(p * counts[p] for p in SCALE_POINTS) / n if n else None


def question_results(data: ConsultationData) -> list[QuestionResult]:
    """A result per question, in questionnaire order."""
    return summary_of(data).questions


def tally(question: Question, value: Any, n: int, result: QuestionResult) -> None:
    """Count `n` answers equal to `value` (as decoded from JSON, never None) into `result`;
    values of the wrong shape are answered but counted nowhere. storage.reports feeds
    this the groups of its GROUP BY, `summarize` single answers."""
    result.answered += n
    kind = question.type
    if kind in ("single", "scale"):
        if isinstance(value, str | int):
            result.counts[value] += n
    elif kind in ("multi", "item_pick"):
        if isinstance(value, list):
            for v in value:
                result.counts[v] += n
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            result.numbers[float(value)] += n
    elif kind == "item_rating" and isinstance(value, dict):
        for item, point in value.items():
            add_rating(result, item, point, n)


def add_rating(result: QuestionResult, item: Any, point: Any, n: int) -> None:
    """`n` ratings of `point` for item `item` (a JSON object key); keys that are not item
    ids are left out, an unhashable point leaves only the item's (empty) row."""
    try:
        item_id = int(item)
    except (TypeError, ValueError):
        return
    counts = result.ratings.get(item_id)
    if counts is None:
        counts = result.ratings[item_id] = Counter()
    try:
        counts[point] += n
    except TypeError:
        return


def summarize(data: ConsultationData, window: tuple[datetime | None, datetime] | None = None) -> ResponseSummary:
    """The `ResponseSummary` of `data.responses` (one pass over the answers)."""
    results: list[QuestionResult] = []
    texts: list[TextAnswer] = []
    if data.questionnaire is not None:
        questions = {q.id: q for q in data.questionnaire.questions}
        by_id = {qid: QuestionResult(q) for qid, q in questions.items()}
        for r in data.responses:
            for qid, value in r.answers.items():
                res = by_id.get(qid)
                if value is not None and res is not None:
                    tally(questions[qid], value, 1, res)
        results = list(by_id.values())
        for qid, q in questions.items():
            if q.type == "text":
                texts += [TextAnswer(qid, r.answers[qid], r.township, r.pseudonym)
                          for r in data.responses if isinstance(r.answers.get(qid), str) and r.answers[qid]]
    counted = None
    if window is not None:
        since, now = window
        counted = ResponseWindow(since, now, sum(1 for r in data.responses if _within(r.started_at, since, now)),
                                 sum(1 for r in data.responses if _within(r.completed_at, since, now)))
    return ResponseSummary(_progress_of(data), results, texts, counted)


def summary_of(data: ConsultationData) -> ResponseSummary:
    """The summary storage computed, else the one of the listed responses."""
    return data.summary if data.summary is not None else summarize(data)


ItemKey = tuple[str, str, str]  # (part, category, name): the same duty across townships' lists


def _item_keys(data: ConsultationData) -> tuple[dict[int, ItemKey], list[ItemKey]]:
    """Item id → (part, category, name), and the keys in list order (part, then position)."""
    by_id: dict[int, ItemKey] = {}
    order: dict[ItemKey, int] = {}
    for n, item in enumerate(data.items):
        key = (item.part, item.category, item.name)
        by_id[item.id] = key
        order.setdefault(key, n)
    keys = sorted(order, key=lambda k: (_part_rank(k[0]), order[k]))
    return by_id, keys


def headline_figures(data: ConsultationData) -> dict[str, Any]:
    """The figures storage.reports.plain_group_by_figures computes in SQL: started and
    completed per township, active comments by kind and decision, off-list reports,
    answers per question and the distribution of single and scale answers."""
    summary = summary_of(data)
    figures: dict[str, Any] = {
        "townships": {p.township: {"started": p.started, "completed": p.completed} for p in summary.progress},
    }
    active = active_comments(data)
    figures["comments_by_kind"] = comments_by_kind(active)
    figures["comments_by_decision"] = comments_by_decision(active)
    figures["offlist"] = len(data.offlist)
    results = summary.questions
    figures["answered"] = {r.question.id: r.answered for r in results}
    figures["distribution"] = {
        r.question.id: {str(k): v for k, v in sorted(r.counts.items(), key=lambda kv: str(kv[0]))}
        for r in results if r.question.type in ("single", "scale")
    }
    return figures


# --- the workbook ------------------------------------------------------------------------


def _clean(value: str) -> str:
    """User text as a cell can hold it: no XML-illegal control characters, never read
    as a formula (OWASP: a leading =, +, -, @, tab or CR gets a "'" in front), at most
    32,767 characters."""
    if not value.isprintable():  # cheap test first: the regex only for text with control characters
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value[:1] in _FORMULA_START:
        value = "'" + value
    if len(value) > EXCEL_CELL_LIMIT:
        value = value[: EXCEL_CELL_LIMIT - 1] + "…"
    return value


PCT = "0.0%"
MEAN = "0.00"
DATE = "yyyy-mm-dd hh:mm"
_FORMULA_START = frozenset("=+-@\t\r")
_TEXT_CACHE = 50_000


def _cell(value: Any) -> Any:
    """A value as PyExcelerate should write it: numbers and booleans as they are, text
    cleaned (`_clean`), empty text and None as no cell."""
    if value is None or value.__class__ in (int, float, bool):
        return value
    if isinstance(value, int | float | datetime):
        return value
    value = str(value)
    return _clean(value) if value else None


XML_CHUNK = 4096  # pieces of worksheet XML (a cell, a row tag …) per write to the zip


class _ChunkedTemplate:
    """PyExcelerate's worksheet template, its output joined into chunks of XML_CHUNK
    pieces: the template yields a string per cell, and PyExcelerate writes each to the
    zip on its own (a zlib call and a CRC update each). With `landscape` (sheet name → whether
    printed landscape), each sheet named there gets the page setup PyExcelerate has no setting
    for: fit to the page's width (as many pages down as it takes), A4, in that orientation."""

    def __init__(self, template: Any, landscape: dict[str, bool] | None = None) -> None:
        self.template = template
        self.landscape = landscape or {}

    def generate(self, context: Any) -> Iterator[str]:
        pieces = iter(self.template.generate(context))
        landscape = self.landscape.get(context["worksheet"].name)
        head = landscape is not None  # (user text is escaped: these tags are the template's own, once each)
        while batch := list(islice(pieces, XML_CHUNK)):
            chunk = "".join(batch)
            if head and "<sheetViews>" in chunk:  # (in the first chunk: before any cell)
                chunk, head = chunk.replace("<sheetViews>", _FIT_TO_PAGE + "<sheetViews>", 1), False
            if landscape is not None and _MARGINS_END in chunk:
                chunk = chunk.replace(_MARGINS_END, _MARGINS_END + _PAGE_SETUP.format(
                    "landscape" if landscape else "portrait"), 1)
            yield chunk


_FIT_TO_PAGE = '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
_MARGINS_END = 'footer="0.3" />'  # (the end of PyExcelerate's <pageMargins …/>, after which <pageSetup> goes)
_PAGE_SETUP = '<pageSetup paperSize="9" orientation="{}" fitToWidth="1" fitToHeight="0"/>'


class _PrintTitles:
    """PyExcelerate's workbook template, with each sheet named in `titles` printing its first row
    (the header) at the top of every page (Excel's 打印标题, the defined name _xlnm.Print_Titles)."""

    def __init__(self, template: Any, titles: list[str]) -> None:
        self.template, self.titles = template, titles

    def render(self, context: Any) -> str:
        text = self.template.render(context)
        names = [sheet.name for _, sheet in context["workbook"].get_xml_data()]
        defined = "".join(
            f'<definedName name="_xlnm.Print_Titles" localSheetId="{names.index(name)}">'
            f"{html.escape(chr(39) + name.replace(chr(39), chr(39) * 2) + chr(39))}!$1:$1</definedName>"
            for name in self.titles if name in names)
        return text.replace("</sheets>", f"</sheets><definedNames>{defined}</definedNames>", 1) if defined else text


class _Writer(Writer):
    """PyExcelerate's writer, for large workbooks: worksheet XML written in chunks
    (`_ChunkedTemplate`; the per-cell writes were a third of the save of a county's
    workbook of half a million cells), deflated at zlib's fastest level (about a third
    larger, a few MB at county scale, and a tenth less time)."""

    _worksheet_template = _ChunkedTemplate(Writer._worksheet_template)

    def print_setup(self, landscape: dict[str, bool], titles: list[str]) -> None:
        """Page setup for the sheets named (`_ChunkedTemplate`), header rows repeated on each page
        for those in `titles` (`_PrintTitles`)."""
        self._worksheet_template = _ChunkedTemplate(Writer._worksheet_template, landscape)
        self._workbook_template = _PrintTitles(Writer._workbook_template, titles)

    def save(self, file: Any, **kwargs: Any) -> None:
        kwargs.setdefault("compresslevel", 1)
        super().save(file, **kwargs)


class _Book:
    """The workbook, written by PyExcelerate: cells as inline strings or numbers, two
    number formats (PCT, MEAN), column widths. PyExcelerate keeps a sheet's values in
    memory until `close` writes the xlsx; the values are those of the data already
    loaded (text shared, one list per row), so the extra memory is the row lists."""

    def __init__(self) -> None:
        self.book = Workbook()
        self.book._writer = _Writer(self.book)  # type: ignore[attr-defined]
        self.styles = {PCT: Style(format=Format(PCT)), MEAN: Style(format=Format(MEAN)), DATE: Style(format=Format(DATE))}
        self.open: _Sheet | None = None
        # how each sheet prints: landscape (tables) or portrait (概况), fit to the page's width;
        # a table's header row on every page
        self.landscape: dict[str, bool] = {}
        self.titles: list[str] = []

    def sheet(self, name: str, widths: Sequence[int] = (), table: bool = True, wrap: Sequence[int] = (),
              dates: Sequence[int] = ()) -> _Sheet:
        """A new sheet; a `table` (a header row, then a row per record) has its header row frozen
        and an autofilter on its columns, as a clerk sorting and filtering hundreds of rows needs.
        The columns `wrap` (1-based) hold long texts (comments, replies): wrapped in their width;
        the columns `dates` hold times (`_local_time`), shown as DATE."""
        if self.open is not None:
            self.open.close()
        self.open = _Sheet(self, name[:31], widths, table, wrap, dates)  # Excel's limit on a sheet name
        return self.open

    def close(self) -> bytes:
        if self.open is not None:
            self.open.close()
            self.open = None
        self.book._writer.print_setup(self.landscape, self.titles)  # type: ignore[attr-defined]
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()


class _Sheet:
    def __init__(self, book: _Book, name: str, widths: Sequence[int], table: bool = True,
                 wrap: Sequence[int] = (), dates: Sequence[int] = ()) -> None:
        self.book, self.name, self.widths, self.table, self.wrap = book, name, widths, table, set(wrap)
        self.dates = set(dates)
        self.data: list[list[Any]] = []
        self.styled: list[tuple[int, int, str]] = []  # (row, column, format), 1-based

    def row(self, *values: Any, formats: dict[int, str] | None = None) -> None:
        """One row; `formats`: column → PCT, MEAN or DATE."""
        cells = [_cell(v) for v in values]
        self.data.append(cells)
        if formats:
            r = len(self.data)
            self.styled.extend((r, c + 1, f) for c, f in formats.items()
                               if c < len(cells) and cells[c].__class__ in (int, float, datetime))

    def rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Many rows of plain values (str, int or None). A cell's cleaned text is kept
        per distinct string (labels, townships and repeated answers recur across
        thousands of rows)."""
        append, texts = self.data.append, {}
        for row in rows:
            cells = []
            for value in row:
                if value.__class__ is str:
                    if value:
                        text = texts.get(value)
                        if text is None:
                            text = _clean(value)
                            if len(texts) < _TEXT_CACHE:
                                texts[value] = text
                        cells.append(text)
                    else:
                        cells.append(None)
                else:
                    cells.append(_cell(value))
            append(cells)

    def close(self) -> None:
        ws = self.book.book.new_sheet(self.name, data=self.data)
        self.data = []  # the worksheet holds its own copy of each row
        if self.table:  # the header row stays in view and filters the columns below it
            ws.panes = Panes(y=1)
            ws.auto_filter = True
            self.book.titles.append(self.name)
        self.book.landscape[self.name] = self.table
        for n, width in enumerate(self.widths, 1):
            ws.set_col_style(n, Style(size=width, alignment=Alignment(vertical="top", wrap_text=True))
                             if n in self.wrap else Style(size=width, format=Format(DATE))
                             if n in self.dates else Style(size=width))
        styles = self.book.styles
        for r, c, f in self.styled:
            ws.set_cell_style(r, c, styles[f])


def _headers(locale: str, *keys: str) -> list[str]:
    return [_t(f"col.{k}", locale) for k in keys]


def build_workbook(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> bytes:
    """The results workbook (xlsx bytes): 概况, 问卷结果, 事项评分, 文字意见, 意见,
    遗漏事项, 清单外事项, and once revised lists are published 清单修改."""
    book = _Book()
    summary = summary_of(data)
    _summary_sheet(book, data, summary.progress, locale)
    _questions_sheet(book, summary.questions, locale)
    _items_sheet(book, data, summary.questions, locale)
    _texts_sheet(book, summary, locale)
    _comments_sheet(book, data, locale)
    _missing_sheet(book, data, locale)
    _offlist_sheet(book, data, locale)
    if data.revisions:
        _changes_sheet(book, data, locale)
    return book.close()


def _changes_sheet(book: _Book, data: ConsultationData, locale: str) -> None:
    """What changed in each township's list published as the consultation's outcome, a row per
    change (the 反馈情况说明's 清单修改情况, item by item)."""
    from surveys.i18n import version_label

    s = book.sheet(_t("sheet.changes", locale), (14, 14, 16, 40, 18, 18, 60), wrap=(4, 7))
    s.row(*_headers(locale, "township", "version", "change", "item", "old_part", "new_part", "edits"))
    fsep = _t("edit-sep", locale)

    def edits(fields: dict[str, tuple[Any, Any]]) -> str:
        return fsep.join(_t("edit", locale, field=gettext(f"lists.field.{f}", locale), old=old if old not in (None, "") else "—",
                            new=new if new not in (None, "") else "—") for f, (old, new) in fields.items())

    for r in data.revisions:
        head = (r.township, version_label(r.version, locale))
        d = r.diff
        for item in d.added:
            s.row(*head, _t("change.added", locale), item.name, None, part_label(item.part.value, locale))
        for item in d.removed:
            s.row(*head, _t("change.removed", locale), item.name, part_label(item.part.value, locale))
        for m in d.moved:
            s.row(*head, _t("change.moved", locale), m.name, part_label(m.old_part.value, locale),
                  part_label(m.new_part.value, locale))
        for c in d.changed:
            s.row(*head, _t("change.changed", locale), c.name, part_label(c.part.value, locale),
                  part_label(c.part.value, locale), edits(c.fields))
        for n in d.renamed:
            s.row(*head, _t("change.renamed", locale), n.new_name, part_label(n.part.value, locale),
                  part_label(n.part.value, locale), edits({"name": (n.old_name, n.new_name), **n.fields}))


def _summary_sheet(book: _Book, data: ConsultationData, progress: list[TownshipProgress], locale: str) -> None:
    s = book.sheet(_t("sheet.summary", locale), (32, 18, 16, 12, 12, 12), table=False)
    c, tz = data.consultation, data.timezone
    s.row(_t("summary.title", locale), c.title)
    s.row(_t("summary.status", locale), _label("status", c.status, locale))
    s.row(_t("summary.opens", locale), _local_time(c.opens_at, tz), formats={1: DATE})
    s.row(_t("summary.closes", locale), _end_cell(c.closes_at, tz), formats={1: DATE})
    if c.ended_at < c.closes_at:  # closed early: the deadline as planned, and when it actually closed
        s.row(_t("summary.closed-early", locale), _end_cell(c.ended_at, tz), formats={1: DATE})
    s.row(_t("summary.note", locale))
    s.row()
    s.row(*_headers(locale, "township", "started", "completed", "rate"))
    for p in progress:
        s.row(p.township, p.started, p.completed, _share(p.completed, p.started), formats={3: PCT})
    started = sum(p.started for p in progress)
    completed = sum(p.completed for p in progress)
    s.row(_t("total", locale), started, completed, _share(completed, started), formats={3: PCT})
    s.row()
    active = active_comments(data)
    s.row(*_headers(locale, "kind", "count"))
    for kind, n in comments_by_kind(active).items():
        s.row(kind_label(kind, locale), n)
    s.row(_t("total", locale), len(active))
    s.row()
    s.row(*_headers(locale, "decision", "count"))
    for decision, n in comments_by_decision(active).items():
        s.row(decision_label(decision, locale), n)
    s.row()
    s.row(_t("summary.missing", locale), sum(1 for c in active if c.is_missing_proposal))
    s.row(_t("summary.offlist", locale), len(data.offlist))
    # hidden by the organizer: in no count above nor on the 意见 sheet — said, so the totals add up
    s.row(_t("summary.hidden", locale), sum(1 for c in data.comments if c.hidden))
    # the comments of each township, as /stats and the digest give them (active ones; the 意见
    # sheet lists the withdrawn too), every consulted township in the consultation's order, and
    # how they were handled — the 反馈情况说明's split, adding up to the county's above
    s.row()
    keys = (*DECISIONS, NO_DECISION)
    s.row(_t("col.township", locale), _t("col.comments", locale), *(decision_label(k, locale) for k in keys))
    per_township = Counter(c.township for c in active)
    by_decision: dict[str, Counter[str]] = defaultdict(Counter)
    for c in active:
        by_decision[c.township][c.decision_key] += 1
    names = [t.name for t in data.townships]
    names += sorted(n for n in per_township if n not in set(names))
    for name in names:
        s.row(name, per_township[name], *(by_decision[name][k] for k in keys))
    totals = comments_by_decision(active)
    s.row(_t("total", locale), len(active), *(totals[k] for k in keys))


def _questions_sheet(book: _Book, results: list[QuestionResult], locale: str) -> None:
    s = book.sheet(_t("sheet.questions", locale), (12, 40, 10, 28, 10, 10, 12), wrap=(2,))
    s.row(*_headers(locale, "qid", "question", "qtype", "value", "count", "share", "stat"))
    for res in results:
        q = res.question
        if q.type in ("item_rating", "item_pick"):
            continue
        text = q.text.get(locale)
        head = (q.id, text, _label("qtype", q.type, locale))
        s.row(*head, _t("stat.answered", locale), res.answered)
        if q.type in ("single", "multi"):
            for option in q.options:
                n = res.counts[option.id]
                s.row(*head, option.text.get(locale), n, _share(n, res.answered), formats={5: PCT})
        elif q.type == "scale":
            for point in SCALE_POINTS:
                label = q.label(point)
                n = res.counts[point]
                s.row(*head, f"{point} {label.get(locale)}" if label else str(point), n,
                      _share(n, res.answered), formats={5: PCT})
            n = res.counts[UNSURE]
            s.row(*head, _t("stat.unsure", locale), n, _share(n, res.answered), formats={5: PCT})
            mean = res.mean()
            s.row(*head, _t("stat.mean-scale", locale), None, None,
                  _mean_value(mean), formats={6: MEAN})
        elif q.type == "number":
            nums = res.numbers
            mean = res.mean()
            s.row(*head, _t("stat.mean", locale), None, None, _mean_value(mean),
                  formats={6: MEAN})
            s.row(*head, _t("stat.min", locale), None, None, min(nums) if nums else None)
            s.row(*head, _t("stat.max", locale), None, None, max(nums) if nums else None)
        elif q.type == "text":
            s.row(*head, _t("stat.see-texts", locale))


def _items_sheet(book: _Book, data: ConsultationData, results: list[QuestionResult], locale: str) -> None:
    s = book.sheet(_t("sheet.items", locale), (12, 18, 14, 40, 10, 10, 8, 8, 8, 8, 8, 8, 10, 10), wrap=(4,))
    s.row(*_headers(locale, "qid", "part", "category", "item", "raters", "mean"),
          "1", "2", "3", "4", "5", _t("stat.unsure", locale), *_headers(locale, "picked", "share"))
    by_id, order = _item_keys(data)
    for res in results:
        q = res.question
        if q.type == "item_rating":
            merged: dict[ItemKey, Counter[Any]] = defaultdict(Counter)
            for item_id, counts in res.ratings.items():
                merged[by_id.get(item_id, ("", "", f"#{item_id}"))].update(counts)
            for key in _ordered(merged, order):
                counts = merged[key]
                mean = rating_mean(counts)
                s.row(q.id, part_label(key[0], locale), key[1], key[2], sum(counts.values()),
                      _mean_value(mean),
                      *(counts[p] for p in SCALE_POINTS), counts[UNSURE], formats={5: MEAN})
        elif q.type == "item_pick":
            picked: Counter[ItemKey] = Counter()
            for item_id, n in res.counts.items():
                picked[by_id.get(item_id, ("", "", f"#{item_id}"))] += n
            for key in _ordered(picked, order):
                s.row(q.id, part_label(key[0], locale), key[1], key[2], *([None] * 8), picked[key],
                      _share(picked[key], res.answered), formats={13: PCT})


def _ordered(keys: Iterable[ItemKey], order: list[ItemKey]) -> list[ItemKey]:
    present = set(keys)
    known = [k for k in order if k in present]
    return known + sorted(present - set(known))


def _texts_sheet(book: _Book, summary: ResponseSummary, locale: str) -> None:
    s = book.sheet(_t("sheet.texts", locale), (12, 40, 80, 16, 16), wrap=(2, 3))
    s.row(*_headers(locale, "qid", "question", "answer", "township", "pseudonym"))
    questions = {r.question.id: r.question.text.get(locale) for r in summary.questions}
    # (an ID card or mobile number a resident typed into an answer is starred out: the workbook goes round)
    s.rows((a.question_id, questions.get(a.question_id, ""), mask_personal_numbers(a.text), a.township, a.pseudonym)
           for a in summary.texts)


def _comments_sheet(book: _Book, data: ConsultationData, locale: str) -> None:
    s = book.sheet(_t("sheet.comments", locale), (8, 14, 18, 36, 22, 50, 36, 10, 12, 40, 18, 16, 18, 14),
                   wrap=(4, 6, 7, 10), dates=(11, 13))
    s.row(*_headers(locale, "id", "township", "part", "item", "kind", "text", "proposed", "status", "decision",
                    "reply", "replied_at", "pseudonym", "created_at", "replied_by"))
    tz = data.timezone
    parts = {p: part_label(p, locale) for p in {_part_of(c) for c in data.comments}}
    kinds = {k: kind_label(k, locale) for k in {c.kind for c in data.comments}}
    statuses = {k: _label("comment-status", k, locale) for k in {c.status for c in data.comments}}
    # a withdrawn comment awaits no answer: no decision, so the rows 未答复 are those the summary counts
    decisions = {k: decision_label(k, locale) for k in (*DECISIONS, NO_DECISION)}
    local = _LocalTimes(tz)
    s.rows(
        (c.id, c.township, parts[_part_of(c)], c.item_name or _missing_name(c), kinds[c.kind],
         mask_personal_numbers(c.text), c.proposed_wording, statuses[c.status],
         decisions[c.decision_key] if c.status != WITHDRAWN else None, c.reply,
         local(c.replied_at), c.pseudonym, local(c.created_at), c.replied_by)
        for c in data.comments if not c.hidden
    )


class _LocalTimes:
    """`_local_time` for many timestamps: the zone looked up once, the same instant converted once."""

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self.cache: dict[datetime, datetime] = {}

    def __call__(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        local = self.cache.get(value)
        if local is None:
            local = self.cache[value] = value.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        return local


def _part_of(c: CommentRecord) -> str:
    """The comment's part: its item's, or the one a missing-item proposal names."""
    return c.part or (str(c.missing.get("part", "")) if c.missing else "")


def _missing_name(c: CommentRecord) -> str:
    return str(c.missing.get("name", "")) if c.missing else ""


_MISSING_KNOWN = ("name", "part", "category", "basis", "department")


def _missing_sheet(book: _Book, data: ConsultationData, locale: str) -> None:
    s = book.sheet(_t("sheet.missing", locale), (8, 14, 36, 18, 14, 30, 20, 50, 30, 12, 40, 16, 18),
                   wrap=(3, 6, 7, 8, 9, 11), dates=(13,))
    s.row(*_headers(locale, "id", "township", "proposed_item", "part", "category", "basis", "department", "text",
                    "other", "decision", "reply", "pseudonym", "created_at"))
    tz = data.timezone
    for c in data.comments:
        if c.hidden or not c.is_missing_proposal or c.status == "withdrawn":  # as the summary counts them
            continue
        m = c.missing or {}
        other = "；".join(f"{k}: {v}" for k, v in m.items() if k not in _MISSING_KNOWN and v not in (None, ""))
        s.row(c.id, c.township, str(m.get("name", "")), part_label(str(m.get("part", "")), locale),
              str(m.get("category", "")), str(m.get("basis", "")), str(m.get("department", "")),
              mask_personal_numbers(c.text), other,
              decision_label(c.decision, locale), c.reply, c.pseudonym, _local_time(c.created_at, tz))


def _offlist_sheet(book: _Book, data: ConsultationData, locale: str) -> None:
    s = book.sheet(_t("sheet.offlist", locale), (14, 20, 40, 14, 14, 50, 16, 18), wrap=(2, 3, 6), dates=(8,))
    s.row(*_headers(locale, "township", "department", "task", "assigned_on", "method", "details", "pseudonym",
                    "created_at"))
    tz = data.timezone
    s.rows(
        (o.township, o.department, o.task, o.assigned_on, _label("method", o.method, locale) if o.method else "",
         mask_personal_numbers(o.details), o.pseudonym, _local_time(o.created_at, tz))
        for o in data.offlist
    )


def build_offlist_workbook(reports: Sequence[OffListRecord], timezone: str, locale: str = DEFAULT_LOCALE) -> bytes:
    """Every off-list report given (xlsx bytes, one 清单外事项 sheet), each with the
    consultation it went with — or none: a township never consulted has its reports only here."""
    book = _Book()
    s = book.sheet(_t("sheet.offlist", locale), (30, 14, 20, 40, 14, 14, 50, 16, 18), wrap=(1, 3, 4, 7),
                   dates=(9,))
    s.row(*_headers(locale, "consultation", "township", "department", "task", "assigned_on", "method", "details",
                    "pseudonym", "created_at"))
    s.rows(
        (_t("offlist-consultation", locale, id=o.consultation_id, title=o.consultation_title)
         if o.consultation_id is not None else _t("offlist-no-consultation", locale),
         o.township, o.department, o.task, o.assigned_on, _label("method", o.method, locale) if o.method else "",
         o.details, o.pseudonym, _local_time(o.created_at, timezone))
        for o in reports
    )
    return book.close()


# --- the digest --------------------------------------------------------------------------


@dataclass(slots=True)
class TopItem:
    part: str
    name: str
    comments: int


@dataclass(slots=True)
class Digest:
    """What happened since the last digest (`since`; None = since the start), in the
    window (since, now], plus where the consultation stands."""

    consultation_id: int
    title: str
    timezone: str
    since: datetime | None
    now: datetime
    closes_at: datetime
    new_started: int
    new_completed: int
    new_comments: int
    new_offlist: int
    total_started: int
    total_completed: int
    total_comments: int
    townships: list[TownshipProgress]
    comments_by_kind: dict[str, int]
    new_comments_by_kind: dict[str, int]
    top_items: list[TopItem]
    days_left: int
    status: str = "open"
    ended_at: datetime | None = None  # closed early: when (else the deadline)
    comments_by_township: dict[str, int] = field(default_factory=dict)  # active comments, by township name
    new_comments_by_township: dict[str, int] = field(default_factory=dict)
    comments_by_decision: dict[str, int] = field(default_factory=dict)  # active comments, as the workbook's

    def __post_init__(self) -> None:
        if self.ended_at is None:
            self.ended_at = self.closes_at

    @property
    def nothing_new(self) -> bool:
        """No questionnaire started or completed, no comment and no off-list report in the window."""
        return not (self.new_started or self.new_completed or self.new_comments or self.new_offlist)

    def _opening(self, locale: str) -> list[str]:
        e = html.escape
        lines = [_t("digest.head", locale, title=e(self.title))]
        if self.since is None:
            lines.append(_t("digest.since-start", locale))
        else:
            lines.append(_t("digest.since", locale, since=e(format_local(self.since, self.timezone))))
        return lines

    def _totals(self, locale: str) -> str:
        return _t("digest.totals", locale, started=self.total_started, completed=self.total_completed,
                  rate=_pct_text(self.total_completed, self.total_started), comments=self.total_comments)

    def _ending(self, locale: str) -> str:
        closes = format_deadline(self.closes_at, self.timezone)
        if self.days_left > 0:
            return _t("digest.days-left", locale, days=self.days_left, closes=closes)
        if self.now < self.closes_at and self.status == "open":
            return _t("digest.closes-today", locale, closes=closes)
        if self.ended_at is not None and self.ended_at < self.closes_at:  # closed early: not "截止" at that time
            return _t("digest.closed-early", locale, ended=format_local(self.ended_at, self.timezone), closes=closes)
        return _t("digest.closed", locale, closes=format_deadline(self.ended_at, self.timezone))

    def brief_text(self, locale: str = DEFAULT_LOCALE) -> str:
        """The daily digest of a window in which nothing happened: that said, the totals and the
        time left, in a few lines (the townships' figures and the items are as the day before)."""
        return "\n".join([*self._opening(locale), _t("digest.nothing-new", locale), self._totals(locale), "",
                          self._ending(locale)])

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        """Telegram HTML (every user-given text escaped), under 4,000 characters as Telegram counts
        them (UTF-16 units)."""
        e = html.escape
        lines = self._opening(locale)
        lines.append(_t("digest.new", locale, started=self.new_started, completed=self.new_completed,
                        comments=self.new_comments, offlist=self.new_offlist))
        lines.append(self._totals(locale))
        townships = []
        for p in self.townships:
            new = self.new_comments_by_township.get(p.township, 0)  # (said only when there are new ones)
            townships.append(_t("digest.township-new" if new else "digest.township", locale,
                                township=e(_gist(p.township, 30)), started=p.started, completed=p.completed,
                                rate=_pct_text(p.completed, p.started),
                                comments=self.comments_by_township.get(p.township, 0), new=new))
        rest: list[str] = []
        if self.comments_by_kind:
            rest.append("")
            rest.append(_t("digest.kinds", locale))
            for kind, n in self.comments_by_kind.items():
                new = self.new_comments_by_kind.get(kind, 0)
                rest.append(_t("digest.kind-new" if new else "digest.kind", locale,  # (as the townships')
                               kind=e(kind_label(kind, locale)), n=n, new=new))
            if self.comments_by_decision:  # how they were handled, as the workbook and /stats split them
                d = self.comments_by_decision
                rest.append("")
                rest.append(_t("digest.decisions", locale, adopted=d.get("adopted", 0), partly=d.get("partly", 0),
                               rejected=d.get("rejected", 0), unanswered=d.get(NO_DECISION, 0)))
        if self.top_items:
            rest.append("")
            rest.append(_t("digest.top-items", locale))
            for n, item in enumerate(self.top_items, 1):
                rest.append(_t("digest.top-item", locale, n=n, part=e(part_label(item.part, locale)),
                               item=e(_gist(item.name, 60)), comments=item.comments))
        rest.append("")
        rest.append(self._ending(locale))
        if townships:  # as many as leave room for the comments, the items and the days left (as /stats)
            lines += ["", _t("digest.townships", locale)]
            # counted as Telegram counts (a township's 𠀀 or emoji is two), with the markup: never less
            lines += lines_within(townships, TELEGRAM_LIMIT - units("\n".join([*lines, *rest])),
                                  lambda n: _t("digest.more-townships", locale, n=n), size=units,
                                  most=DIGEST_MAX_TOWNSHIPS)
        lines += rest
        text = "\n".join(lines)
        if units(text) > TELEGRAM_LIMIT:
            start = cut(text, TELEGRAM_LIMIT - 2)
            text = text[: start.rfind("\n")] + "\n…"
        return text


def _within(t: datetime | None, since: datetime | None, now: datetime) -> bool:
    return t is not None and (since is None or t > since) and t <= now


def top_items(comments: Iterable[CommentRecord], limit: int = TOP_ITEMS) -> list[TopItem]:
    """The items with most active comments, the same item across townships counted together
    (ties in part order, then by name)."""
    counts: Counter[tuple[str, str]] = Counter(
        (c.part, c.item_name) for c in comments if c.active and c.item_id is not None
    )
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _part_rank(kv[0][0]), kv[0][1]))
    return [TopItem(part, name, n) for (part, name), n in ranked[:limit]]


def days_left(closes_at: datetime, now: datetime, tz: str) -> int:
    """Calendar days until the day the deadline ends, in the consultation's time zone (0 on that
    day, and once passed): a deadline at midnight ends the day before it (12月5日24时 is the 5th's)."""
    if now >= closes_at:
        return 0
    zone = ZoneInfo(tz)
    last_day = (closes_at - timedelta(microseconds=1)).astimezone(zone).date()
    return (last_day - now.astimezone(zone).date()).days


def digest(data: ConsultationData, since: datetime | None, now: datetime) -> Digest:
    """The digest of the window (since, now]. Pre-aggregated data must carry the counts
    of that very window (storage.reports.load_consultation_data(window=...))."""
    c = data.consultation
    active = active_comments(data)
    new = [x for x in active if _within(x.created_at, since, now)]
    summary = data.summary if data.summary is not None else summarize(data, (since, now))
    window = summary.window
    if window is None or (window.since, window.now) != (since, now):
        raise ValueError(f"the summary holds no counts for the window ({since}, {now}]")
    progress = summary.progress
    return Digest(
        consultation_id=c.id,
        title=c.title,
        timezone=c.timezone,
        since=since,
        now=now,
        closes_at=c.closes_at,
        new_started=window.started,
        new_completed=window.completed,
        new_comments=len(new),
        new_offlist=sum(1 for o in data.offlist if _within(o.created_at, since, now)),
        total_started=sum(p.started for p in progress),
        total_completed=sum(p.completed for p in progress),
        total_comments=len(active),
        townships=progress,
        comments_by_kind=comments_by_kind(active),
        new_comments_by_kind=comments_by_kind(new),
        top_items=top_items(active),
        days_left=days_left(c.closes_at, now, c.timezone) if c.status == "open" else 0,
        status=c.status,
        ended_at=c.ended_at,
        comments_by_township=dict(Counter(x.township for x in active)),
        new_comments_by_township=dict(Counter(x.township for x in new)),
        comments_by_decision=comments_by_decision(active) if active else {},
    )


# --- the feedback report (反馈情况说明) ----------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五, 100 → 一百 (up to 999)."""
    if n < 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _CN_DIGITS[n // 10] + "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + chinese_number(rest) if rest < 10 else
                                 (_CN_DIGITS[1] if rest < 20 else "") + chinese_number(rest))
    return _CN_DIGITS[n // 100] + "百" + tail


def _section(n: int, locale: str) -> str:
    return f"{chinese_number(n)}、" if locale != "en" else f"{n}. "


def _subsection(n: int, locale: str) -> str:
    return f"（{chinese_number(n)}）" if locale != "en" else f"({chr(ord('a') + (n - 1) % 26)}) "


def feedback_report(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> str:
    """A draft 反馈情况说明, plain text with Chinese numbering, ready to paste."""
    c, tz = data.consultation, data.timezone
    active = active_comments(data)
    on_items = [x for x in active if not x.is_missing_proposal]
    missing = [x for x in active if x.is_missing_proposal]
    decisions = comments_by_decision(active)
    out: list[str] = [_t("feedback.title", locale, title=c.title), ""]
    # never opened (a draft): it has not started, and "— 至 …" said nothing; a start not recorded
    # (opened before the start was kept): only the end
    intro = "feedback.intro-draft" if c.status == Status.DRAFT else \
        "feedback.intro-until" if c.opens_at is None else "feedback.intro"
    out.append(_t(intro + ("-one" if len(data.townships) == 1 else ""), locale, title=c.title,
                  opens=_local(c.opens_at, tz), closes=format_deadline(c.ended_at, tz), townships=len(data.townships)))
    out.append("")

    n = 1
    out.append(_section(n, locale) + _t("feedback.overview", locale))
    out.append(_t("feedback.counts" if active else "feedback.counts-none" if data.offlist else "feedback.counts-nothing",
                  locale, total=len(active), adopted=decisions["adopted"],
                  partly=decisions["partly"], rejected=decisions["rejected"], unanswered=decisions[NO_DECISION],
                  items=len(on_items), missing=len(missing), offlist=len(data.offlist)))
    hidden = sum(1 for x in data.comments if x.hidden)
    if hidden:  # (in no count here nor on the workbook's 意见 sheet: said, not left out silently)
        out.append(_t("feedback.hidden", locale, n=hidden))
    if active:  # how many spoke, not only how much was said (counts only: no names, no ranking)
        out.append(_t("feedback.commenters", locale, cadres=len({x.pseudonym for x in active}),
                      townships=len({x.township for x in active})))
    kinds = comments_by_kind(active)
    if kinds:
        out.append(_t("feedback.by-kind", locale, kinds=_t("list-sep", locale).join(
            _t("feedback.kind-count", locale, kind=kind_label(k, locale), n=v) for k, v in kinds.items())))
    if data.townships and active:  # every consulted township in the consultation's order (zeros too: no ranking)
        per_township = Counter(x.township for x in active)
        names = [t.name for t in data.townships]
        names += sorted(n for n in per_township if n not in set(names))
        if len(names) == 1:  # (how they were handled: the totals above)
            out.append(_t("feedback.by-township", locale, townships=_t("feedback.township-count", locale,
                                                                         township=names[0], n=per_township[names[0]])))
        else:  # how many came from each township and how they were handled: they add up to the totals above
            handled = {name: comments_by_decision(x for x in active if x.township == name) for name in names}
            out.append(_t("feedback.handled-by-township", locale))
            for name in names:
                d = handled[name]
                out.append(_t("feedback.township-handled", locale, township=name, total=per_township[name],
                              adopted=d["adopted"], partly=d["partly"], rejected=d["rejected"],
                              unanswered=d[NO_DECISION]) if per_township[name] else
                           _t("feedback.township-handled-none", locale, township=name))
    out.append("")

    n += 1
    out.append(_section(n, locale) + _t("feedback.items", locale))
    if not on_items:
        out.append(_t("feedback.none", locale))
    grouped: dict[str, dict[str, list[CommentRecord]]] = defaultdict(lambda: defaultdict(list))
    for x in on_items:
        grouped[x.part][x.item_name].append(x)
    _, item_order = _item_keys(data)
    name_rank: dict[tuple[str, str], int] = {}
    for rank, (part, _cat, name) in enumerate(item_order):
        name_rank.setdefault((part, name), rank)
    for sub, part in enumerate(sorted(grouped, key=_part_rank), 1):
        out.append(_subsection(sub, locale) + (part_label(part, locale) or _t("feedback.no-part", locale)))
        names = sorted(grouped[part], key=lambda nm: (name_rank.get((part, nm), len(name_rank)), nm))
        for i, name in enumerate(names, 1):
            comments = sorted(grouped[part][name], key=lambda x: (x.created_at or c.closes_at, x.id))
            out.append(_t("feedback.item", locale, n=i, item=name, count=len(comments)))
            for j, x in enumerate(comments, 1):
                out.append(_comment_line(j, x, locale))
    out.append("")

    n += 1
    out.append(_section(n, locale) + _t("feedback.missing", locale))
    if not missing:
        out.append(_t("feedback.none", locale))
    for j, x in enumerate(sorted(missing, key=lambda x: x.id), 1):
        name = _one_line(_missing_name(x)) or _gist(x.text, 40)
        part = str((x.missing or {}).get("part", ""))
        department = _one_line(str((x.missing or {}).get("department", "") or ""))
        part_text = (part_label(part, locale) or "—") + (
            _t("feedback.missing-department", locale, department=department) if department else "")
        line = _t("feedback.missing-item", locale, n=j, item=name, township=x.township, part=part_text,
                  gist=_one_line(mask_personal_numbers(x.text)) or "—")
        out.append(_join([_sentence(line, locale), _decision_text(x, locale)], locale))
    out.append("")

    n += 1
    out.append(_section(n, locale) + _t("feedback.offlist", locale))
    if not data.offlist:
        out.append(_t("feedback.none", locale))
    else:
        # one department typed two ways (full-width brackets, spaces) counts once, under its
        # most frequent spelling
        by_key: dict[str, list[OffListRecord]] = {}
        for o in data.offlist:
            by_key.setdefault(normalize(o.department) or "—", []).append(o)
        departments = {Counter(o.department or "—" for o in group).most_common(1)[0][0]: group
                       for group in by_key.values()}
        out.append(_t("feedback.offlist-count", locale, n=len(data.offlist), departments=len(departments)))
        for j, (dept, group) in enumerate(sorted(departments.items(), key=lambda kv: (-len(kv[1]), kv[0])), 1):
            count = len(group)
            # the tasks reported most first (ties by name), one typed two ways once: in name order the
            # five named were the first by their characters ("任务10" before "任务2"), not the ones that weigh
            spellings: dict[str, Counter[str]] = {}
            for o in group:
                spellings.setdefault(normalize(o.task) or "—", Counter())[_gist(o.task, 40)] += 1
            tally = sorted(((sum(v.values()), v.most_common(1)[0][0]) for v in spellings.values()),
                           key=lambda t: (-t[0], t[1]))
            tasks = [name for _, name in tally]
            out.append(_t("feedback.offlist-dept", locale, n=j, department=_one_line(dept), count=count,
                          tasks=_t("list-sep", locale).join(tasks[:5]) + (_t("etc", locale) if len(tasks) > 5 else "")))
    out.append("")

    if data.revisions:  # the revised lists published since: what changed after the comments
        n += 1
        out.append(_section(n, locale) + _t("feedback.changes", locale))
        published = {r.township: r for r in data.revisions}
        names = [t.name for t in data.townships]  # each consulted township, those not published yet too
        names += [r.township for r in data.revisions if r.township not in set(names)]
        for j, name in enumerate(names, 1):
            r = published.get(name)
            if r is None:
                out.append(_t("feedback.changes-not-yet", locale, n=j, township=name))
                continue
            out.append(_t("feedback.changes-township", locale, n=j, township=r.township, version=r.version))
            # every change named: the file has no message's length limit (a big revision read "…等 120 项")
            out.extend(r.diff.summary(locale, limit=sys.maxsize).splitlines())
        out.append("")

    n += 1
    out.append(_section(n, locale) + _t("feedback.residents", locale))
    out.extend(_resident_headlines(data, locale))
    out.append("")
    out.append(_t("feedback.advisory", locale))
    return "\n".join(out).rstrip() + "\n"


_STOPS = "。！？；….!?;"


def _sentence(text: str, locale: str) -> str:
    """`text` ending with a full stop (so the next sentence can follow it directly)."""
    text = text.rstrip().rstrip("，,、：:")  # a gist cut after a comma ends with the stop, not "，。"
    return text if not text or text[-1] in _STOPS else text + ("." if locale == "en" else "。")


def _join(parts: Sequence[str], locale: str) -> str:
    return (" " if locale == "en" else "").join(parts)


def _decision_text(x: CommentRecord, locale: str) -> str:
    no_reason = x.decision in NEEDS_REASON and not x.reply.strip()
    parts = [_t("feedback.decision-no-reason" if no_reason else "feedback.decision", locale,
                decision=decision_label(x.decision, locale))]
    if x.reply.strip():
        parts.append(_sentence(_t("feedback.reply", locale, reply=_one_line(x.reply)), locale))
    return _join(parts, locale)


def _comment_line(j: int, x: CommentRecord, locale: str) -> str:
    parts = [_sentence(_t("feedback.comment", locale, n=j, kind=kind_label(x.kind, locale), township=x.township,
                          gist=_one_line(mask_personal_numbers(x.text)) or "—"), locale)]
    if x.proposed_wording.strip():
        parts.append(_t("feedback.proposed", locale, wording=_one_line(x.proposed_wording)))
    parts.append(_decision_text(x, locale))
    return _join(parts, locale)


def _resident_headlines(data: ConsultationData, locale: str) -> list[str]:
    summary = summary_of(data)
    progress = summary.progress
    started = sum(p.started for p in progress)
    completed = sum(p.completed for p in progress)
    lines = [_t("feedback.respondents", locale, started=started, completed=completed,
                rate=_pct_text(completed, started)) if started else _t("feedback.respondents-none", locale)]
    by_id, keys = _item_keys(data)
    order = {key: rank for rank, key in enumerate(keys)}
    if started:  # (nobody at all: no line of zeros)
        lines.append(_t("feedback.respondents-by-township", locale, townships=_t("township-sep", locale).join(
            _t("feedback.township-respondents", locale, township=p.township, started=p.started,
               completed=p.completed) for p in progress)))
    for res in summary.questions:
        q = res.question
        text = q.text.get(locale)
        if q.type == "scale" and res.answered:
            # the share and the mean are of those with an opinion; the unsure are among those who answered
            opinion = sum(res.counts[p] for p in SCALE_POINTS)
            satisfied = res.counts[4] + res.counts[5]
            mean = res.mean()
            key = ("feedback.scale-all-unsure" if not opinion else
                   "feedback.scale" if res.counts[UNSURE] else "feedback.scale-all-sure")
            lines.append(_t(key, locale, question=text, n=res.answered, opinion=opinion,
                            satisfied=_pct_text(satisfied, opinion),
                            mean=str(half_up(mean, 2)) if mean is not None else "—",
                            unsure=res.counts[UNSURE]))
        elif q.type in ("single", "multi") and res.answered:
            top = sorted(q.options, key=lambda o: -res.counts[o.id])[:3]
            shares = _t("list-sep", locale).join(
                _t("feedback.option-share", locale, option=o.text.get(locale),
                   share=_pct_text(res.counts[o.id], res.answered)) for o in top if res.counts[o.id])
            lines.append(_t("feedback.choice", locale, question=text, n=res.answered, shares=shares))
        elif q.type == "text" and res.answered:
            lines.append(_t("feedback.text", locale, question=text, n=res.answered))
        elif q.type == "number" and res.answered and (mean := res.mean()) is not None:
            lines.append(_t("feedback.number", locale, question=text, n=res.answered, mean=str(half_up(mean, 2))))
        elif q.type == "item_rating" and res.answered:  # (the items' figures: the workbook's sheet)
            rated = {by_id.get(item, ("", "", f"#{item}")) for item, counts in res.ratings.items() if counts}
            lines.append(_t("feedback.rating", locale, question=text, n=res.answered, items=len(rated),
                            sheet=_t("sheet.items", locale)))
        elif q.type == "item_pick" and res.answered:  # the same duty across townships' lists counted together
            picked: Counter[ItemKey] = Counter()
            for item, n in res.counts.items():
                picked[by_id.get(item, ("", "", f"#{item}"))] += n
            top = sorted(picked, key=lambda k: (-picked[k], order.get(k, len(order))))[:3]
            shares = _t("list-sep", locale).join(
                _t("feedback.option-share", locale, option=key[2], share=_pct_text(picked[key], res.answered))
                for key in top)
            lines.append(_t("feedback.choice", locale, question=text, n=res.answered, shares=shares))
    return lines


def feedback_file(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> bytes:
    """The draft 反馈情况说明 as the .txt file written and sent: UTF-8 with a byte-order mark
    and CRLF line ends — Notepad before Windows 10 (1809/1903) and some office software read
    plain UTF-8 as the local code page (GBK mojibake) and LF-only text as one long line."""
    return feedback_report(data, locale).replace("\n", "\r\n").encode("utf-8-sig")


__all__ = [
    "ConsultationData", "ConsultationInfo", "TownshipRef", "ReportItem", "ResponseRecord", "CommentRecord",
    "OffListRecord", "Revision", "Digest", "TopItem", "TownshipProgress", "QuestionResult", "build_workbook", "digest",
    "feedback_file", "feedback_report", "headline_figures", "pseudonym", "question_results", "township_progress",
    "ResponseSummary", "ResponseWindow", "TextAnswer", "summarize", "summary_of", "tally", "add_rating",
    "chinese_number", "days_left", "top_items", "half_up", "percent_text",
]

