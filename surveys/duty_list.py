"""The duty list (乡镇(街道)履行职责事项清单): its three parts, its items and its versions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields
from enum import StrEnum


class Part(StrEnum):
    """The three parts of a duty list, in their published order."""

    BASIC = "basic"  # 基本履职事项
    COOPERATING = "cooperating"  # 配合履职事项
    WITHDRAWN = "withdrawn"  # 上级部门收回事项


PART_ORDER: tuple[Part, ...] = (Part.BASIC, Part.COOPERATING, Part.WITHDRAWN)


class ListStatus(StrEnum):
    DRAFT = "draft"
    CONSULTING = "consulting"
    CONSULTED = "consulted"  # its consultation closed (it is under consultation again if that reopens)
    PUBLISHED = "published"


# The fields an item carries; which of them a part shows is PART_FIELDS.
ITEM_FIELDS: tuple[str, ...] = (
    "seq",
    "category",
    "subcategory",
    "name",
    "content",
    "basis",
    "county_department",
    "county_duty",
    "receiving_department",
    "working_mode",
    "remarks",
)

PART_FIELDS: dict[Part, tuple[str, ...]] = {
    Part.BASIC: ("seq", "category", "subcategory", "name", "content", "basis", "county_department", "remarks"),
    Part.COOPERATING: (
        "seq",
        "category",
        "subcategory",
        "name",
        "county_department",
        "county_duty",
        "content",
        "basis",
        "remarks",
    ),
    Part.WITHDRAWN: (
        "seq",
        "category",
        "subcategory",
        "name",
        "receiving_department",
        "working_mode",
        "basis",
        "remarks",
    ),
}


# What each part's items must name (the drafters' rules, surveys.lint): a basic item its basis
# (法定职责必须为), a cooperating item the county department that leads it, a withdrawn item
# the department that takes it over.
REQUIRED_FIELD: dict[Part, str] = {
    Part.BASIC: "basis",
    Part.COOPERATING: "county_department",
    Part.WITHDRAWN: "receiving_department",
}

@dataclass(slots=True)
class DutyItem:
    """One row of a duty list.

    `content` is 具体内容/乡镇职责 for a basic item and 乡镇(街道)配合职责 for a
    cooperating one; `county_duty` is 上级部门职责; `working_mode` is 收回后工作方式.
    `sheet` and `row` say where an imported item came from (for problem reports);
    `id` is the database id once the item is stored.
    """

    part: Part
    name: str
    seq: int | None = None
    category: str = ""
    subcategory: str = ""
    content: str = ""
    basis: str = ""
    county_department: str = ""
    county_duty: str = ""
    receiving_department: str = ""
    working_mode: str = ""
    remarks: str = ""
    sheet: str | None = field(default=None, compare=False)
    row: int | None = field(default=None, compare=False)
    id: int | None = field(default=None, compare=False)  # the stored item's id, once stored

    @property
    def key(self) -> str:
        """Identity of the item across parts and versions: its normalised name."""
        return normalize(self.name)

    def values(self) -> dict[str, object]:
        """The item's data fields (not its source position)."""
        return {f: getattr(self, f) for f in ITEM_FIELDS}


@dataclass(slots=True)
class DutyList:
    """A township's list at one version."""

    township: str
    version: str = "1"
    status: ListStatus = ListStatus.DRAFT
    items: list[DutyItem] = field(default_factory=list)

    def part(self, part: Part) -> list[DutyItem]:
        return [i for i in self.items if i.part == part]

    def counts(self) -> dict[str, int]:
        return {p.value: sum(1 for i in self.items if i.part == p) for p in PART_ORDER}

    def categories(self, part: Part) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.items:
            if item.part == part:
                seen.setdefault(item.category or "", None)
        return list(seen)


_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold full-width punctuation and letters (NFKC), drop all white space, and
    unify the Chinese/ASCII variants of common punctuation, so that the same
    item typed two ways compares equal."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.replace("、", ",").replace("，", ",").replace("。", ".").replace("；", ";")
    text = text.replace("《", "<").replace("》", ">").replace("“", '"').replace("”", '"')
    return _SPACE.sub("", text).lower()


def item_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(DutyItem) if f.name not in ("sheet", "row", "id"))
