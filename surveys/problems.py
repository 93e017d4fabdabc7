"""A problem found in an organizer's file (a duty list, a questionnaire): where it
is, how bad it is, and a message in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from surveys.i18n import gettext


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(slots=True)
class Problem:
    """`rule` is a stable id (e.g. "lint.duplicate-in-part", "import.missing-column");
    the message is the catalog text under the key `problem.<rule>`, formatted with
    `params`. Location fields are None where they do not apply."""

    severity: Severity
    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    part: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    file: str | None = None
    line: int | None = None  # for text files such as questionnaires

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def message(self, locale: str | None = None) -> str:
        return gettext(f"problem.{self.rule}", locale, **self.params)

    def where(self, locale: str | None = None) -> str:
        """"文件 a.xlsx，工作表 基本，第 5 行，列 依据" — only the parts that are known."""
        bits = []
        if self.file:
            bits.append(gettext("where.file", locale, file=self.file))
        if self.sheet:
            bits.append(gettext("where.sheet", locale, sheet=self.sheet))
        if self.row is not None:
            bits.append(gettext("where.row", locale, row=self.row))
        if self.line is not None:
            bits.append(gettext("where.line", locale, line=self.line))
        if self.column:
            bits.append(gettext("where.column", locale, column=self.column))
        return gettext("where.sep", locale).join(bits)

    def render(self, locale: str | None = None) -> str:
        label = gettext(f"severity.{self.severity.value}", locale)
        where = self.where(locale)
        if not where:
            return f"[{label}] {self.message(locale)}"
        return f"[{label}] {where}{gettext('where.end', locale)}{self.message(locale)}"

    def to_json(self, locale: str | None = None) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "rule": self.rule,
            "part": self.part,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "message": self.message(locale),
        }


def has_errors(problems: list[Problem]) -> bool:
    return any(p.is_error for p in problems)


def tally(problems: list[Problem]) -> tuple[int, int]:
    """(errors, warnings) found, a line summarising problems not listed ("import.more-problems")
    counting as the problems it stands for."""
    errors = warnings = 0
    for p in problems:
        n = int(p.params.get("count", 0)) if p.rule == "import.more-problems" else 1
        if p.is_error:
            errors += n
        else:
            warnings += n
    return errors, warnings
