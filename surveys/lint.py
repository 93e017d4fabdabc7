"""Checks a drafter applies to a duty list before it goes out for consultation.

Each rule has a stable id and a fixed severity (`LINT_RULES`). The rules follow
the drafting principles: an item belongs to exactly one part (既无重叠又无遗漏),
every basic item cites a basis (法定职责必须为), a cooperating item names the
county department that leads it, a withdrawn item names who takes it over.
Items are compared by `normalize`d name, so the same item typed with different
white space or full-width punctuation is still the same item.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from surveys.duty_list import PART_ORDER, REQUIRED_FIELD, DutyItem, Part, normalize
from surveys.i18n import LOCALES, gettext
from surveys.problems import Problem, Severity

LINT_RULES: dict[str, Severity] = {
    "lint.empty-name": Severity.ERROR,
    "lint.duplicate-in-part": Severity.ERROR,
    "lint.same-item-two-parts": Severity.ERROR,
    "lint.basic-without-basis": Severity.WARNING,
    "lint.cooperating-without-department": Severity.ERROR,
    "lint.withdrawn-without-receiver": Severity.ERROR,
    "lint.sequence-duplicate": Severity.WARNING,
    "lint.sequence-gap": Severity.WARNING,
}

#: The rule broken by an item that leaves blank what its part must name (REQUIRED_FIELD, the one
#: table of those fields, which the cadre's item card reads too).
REQUIRED_RULE: dict[Part, str] = {
    Part.BASIC: "lint.basic-without-basis",
    Part.COOPERATING: "lint.cooperating-without-department",
    Part.WITHDRAWN: "lint.withdrawn-without-receiver",
}


#: What drafters type in a cell they leave blank ("/", "无", "——"): no basis, no department.
_PLACEHOLDERS = frozenset(normalize(t) for t in (
    "/", "\\", "-", "--", "—", "——", "－", "_", "无", "暂无", "空", "待定", "待补充", "n/a", "na", "none", "…", "...",
))


def _blank(text: str) -> bool:
    """A cell with nothing in it, or only a placeholder."""
    key = normalize(text)
    return not key or key in _PLACEHOLDERS


def part_labels(part: Part | str) -> dict[str, str]:
    """A part's name in every locale, for use as a message parameter
    (templates pick theirs with "{other_part[zh_CN]}")."""
    return {loc: gettext(f"part.{Part(part).value}", loc) for loc in LOCALES}


def _at_row(other: DutyItem, item: DutyItem, key: str = "lists.lint.at-row") -> dict[str, str]:
    """Where `other` is, as seen from `item`: " (row 3)", or " (sheet “配合”, row 3)" when
    it is on another sheet, in every locale; "" when its row is not known."""
    if other.row is None:
        return {loc: "" for loc in LOCALES}
    if other.sheet and other.sheet != item.sheet:
        return {loc: gettext(f"{key}-sheet", loc, row=other.row, sheet=other.sheet) for loc in LOCALES}
    return {loc: gettext(key, loc, row=other.row) for loc in LOCALES}


#: The field whose cell a rule's problem is in (the required field's: REQUIRED_FIELD).
_RULE_FIELD: dict[str, str] = {
    "lint.empty-name": "name",
    "lint.duplicate-in-part": "name",
    "lint.same-item-two-parts": "name",
    "lint.sequence-duplicate": "seq",
    "lint.sequence-gap": "seq",
}


def lint(items: list[DutyItem], columns: dict[str | None, dict[str, str]] | None = None) -> list[Problem]:
    """Every problem found in `items`, in list order within each rule. `columns` (the import's
    ImportResult.columns: per sheet, each field's header as written) lets each problem name its
    column as the file heads it."""
    headers = columns or {}

    def _problem(rule: str, item: DutyItem, **params: Any) -> Problem:
        field = _RULE_FIELD.get(rule) or REQUIRED_FIELD[item.part]
        return Problem(LINT_RULES[rule], rule, params={"name": item.name.strip(), **params},
                       part=item.part.value, sheet=item.sheet, row=item.row,
                       column=headers.get(item.sheet, {}).get(field) or None)

    problems: list[Problem] = []

    # Per-item rules.
    for item in items:
        if not item.name.strip():
            problems.append(_problem("lint.empty-name", item))
            continue
        if _blank(getattr(item, REQUIRED_FIELD[item.part])):
            problems.append(_problem(REQUIRED_RULE[item.part], item))

    # One item, one part.
    first_in_part: dict[tuple[Part, str], DutyItem] = {}
    first_anywhere: dict[str, DutyItem] = {}
    for item in items:
        key = item.key
        if not key:
            continue
        earlier = first_in_part.get((item.part, key))
        if earlier is not None:
            problems.append(_problem("lint.duplicate-in-part", item, other_row=earlier.row,
                                     other_at=_at_row(earlier, item, "lists.lint.first-at-row")))
            continue
        first_in_part[(item.part, key)] = item
        other = first_anywhere.get(key)
        if other is not None and other.part != item.part:
            problems.append(_problem("lint.same-item-two-parts", item, other_part=part_labels(other.part),
                                     this_part=part_labels(item.part), other_row=other.row,
                                     other_at=_at_row(other, item)))
        else:
            first_anywhere.setdefault(key, item)

    # Numbering, per part — or per category when it starts again at 1 in each category
    # ("（一）党的建设" 1, 2, 3, "（二）民生服务" 1, 2 …).
    by_part: dict[Part, list[DutyItem]] = defaultdict(list)
    for item in items:
        if item.seq is not None:
            by_part[item.part].append(item)
    for part in PART_ORDER:
        numbered = by_part.get(part, [])
        by_category: dict[str, list[DutyItem]] = defaultdict(list)
        for item in numbered:
            by_category[item.category.strip()].append(item)
        if len(by_category) > 1 and all(group[0].seq == 1 for group in by_category.values()):
            for group in by_category.values():
                problems += _numbering(group, _problem)
        elif numbered:
            problems += _numbering(numbered, _problem)
    return problems


def _numbering(numbered: list[DutyItem], _problem: Any) -> list[Problem]:
    """Repeated and skipped numbers among `numbered` (one sequence)."""
    problems: list[Problem] = []
    first_by_seq: dict[int, DutyItem] = {}
    for item in numbered:
        assert item.seq is not None
        if item.seq in first_by_seq:
            problems.append(_problem("lint.sequence-duplicate", item, seq=item.seq,
                                     other_row=first_by_seq[item.seq].row,
                                     other_at=_at_row(first_by_seq[item.seq], item, "lists.lint.first-at-row")))
        else:
            first_by_seq[item.seq] = item
    previous = 0
    for seq in sorted(first_by_seq):
        if seq > previous + 1:
            # one run of numbers, written as its ends: a 序号 typed as 30000000 must not
            # build a list of thirty million numbers
            missing = str(seq - 1) if seq == previous + 2 else f"{previous + 1}–{seq - 1}"
            problems.append(_problem("lint.sequence-gap", first_by_seq[seq], seq=seq, missing=missing))
        previous = seq
    return problems


def check_file(source: Any, filename: str | None = None) -> tuple[Any, list[Problem]]:
    """A draft list file read (surveys.importer.read_duty_list: a path or the bytes) and, when
    items came out of it, linted: the import result and every problem, the import's first. The
    one check of `qingdan lists lint/import` and of a file sent in the chat."""
    from surveys.importer import capped, read_duty_list

    result = read_duty_list(source, filename=filename)
    found = lint(result.items, result.columns) if result.items else []
    for p in found:  # named where they are as the import's own are: file, sheet, row, column
        p.file = result.file
    return result, list(result.problems) + capped(found, result.file)
