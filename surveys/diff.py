"""What changed between two versions of a duty list — the basis of the
"清单征求意见后调整情况" announcement after a consultation.

Items are matched by their normalised name (`DutyItem.key`): an item whose name
appears in both versions is the same item, whichever part it sits in. A
matched item in another part is "moved"; any matched item whose fields differ
(ignoring 序号 and where it sat in the file, and ignoring differences of white
space and full-width punctuation) is "changed". Of the items left unmatched, one
gone and one new in the same part are the same item "renamed" when their names
are much alike (difflib; a shared 序号 only decides between equally good
candidates, it does not make unrelated names a rename); the rest are
removed/added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from surveys.duty_list import ITEM_FIELDS, PART_FIELDS, PART_ORDER, DutyItem, Part, normalize
from surveys.i18n import gettext
from surveys.text import fit_plain, units

SUMMARY_LIMIT = 4000  # in Telegram's UTF-16 units (surveys.text.units): an emoji or 𠀀 in a name is two
RENAME_SIMILARITY = 0.6  # two names at least this alike (difflib's ratio) are one item renamed
_COMPARED_FIELDS: tuple[str, ...] = tuple(f for f in ITEM_FIELDS if f != "seq")


@dataclass(slots=True)
class Moved:
    name: str
    old_part: Part
    new_part: Part


@dataclass(slots=True)
class Changed:
    name: str
    part: Part
    fields: dict[str, tuple[Any, Any]]  # field → (old, new)


@dataclass(slots=True)
class Renamed:
    old_name: str
    new_name: str
    part: Part
    fields: dict[str, tuple[Any, Any]]  # other fields changed with the name: field → (old, new)


@dataclass(slots=True)
class ListDiff:
    added: list[DutyItem] = field(default_factory=list)
    removed: list[DutyItem] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.moved or self.changed or self.renamed)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        def item_json(item: DutyItem) -> dict[str, Any]:
            data: dict[str, Any] = {"part": item.part.value, "name": item.name}
            for f in ITEM_FIELDS:
                value = getattr(item, f)
                if f != "name" and value not in (None, ""):
                    data[f] = value
            return data

        return {
            "added": [item_json(i) for i in self.added],
            "removed": [item_json(i) for i in self.removed],
            "moved": [{"name": m.name, "from": m.old_part.value, "to": m.new_part.value} for m in self.moved],
            "changed": [
                {"name": c.name, "part": c.part.value,
                 "fields": {f: {"old": old, "new": new} for f, (old, new) in c.fields.items()}}
                for c in self.changed
            ],
            "renamed": [
                {"part": r.part.value, "old": r.old_name, "new": r.new_name,
                 "fields": {f: {"old": old, "new": new} for f, (old, new) in r.fields.items()}}
                for r in self.renamed
            ],
        }

    def summary(self, locale: str | None = None, limit: int = SUMMARY_LIMIT,
                compared: tuple[str, str] | None = None) -> str:
        """A readable announcement: the counts, then one line per kind of change
        naming the items; long lists are cut to "…等 N 项" to stay under `limit` (counted as
        Telegram counts, in UTF-16 units).
        `compared`: the names of two lists put side by side (`qingdan lists diff A B`), not
        the changes after a consultation."""
        if self.is_empty:
            if compared:
                return gettext("lists.diff.compared-no-change", locale, a=compared[0], b=compared[1])
            return gettext("lists.diff.no-change", locale)
        text = ""
        for cap in (None, 100, 50, 20, 10, 5, 3, 1, 0):
            text = self._summary(locale, cap, compared)
            if units(text) <= limit:
                return text
        return fit_plain(text, limit)

    def _summary(self, locale: str | None, cap: int | None, compared: tuple[str, str] | None = None) -> str:
        sep = gettext("lists.diff.list-sep", locale)

        def names(entries: list[str]) -> str:
            if cap is None or len(entries) <= cap:
                return sep.join(entries)
            shown = sep.join(entries[:cap])
            return gettext("lists.diff.and-more", locale, shown=shown, count=len(entries))

        def part_name(part: Part) -> str:
            return gettext(f"part.{part.value}", locale)

        heading = ("lists.diff.compared-heading-renamed" if self.renamed else "lists.diff.compared-heading") \
            if compared else "lists.diff.heading-renamed" if self.renamed else "lists.diff.heading"
        a, b = compared or ("", "")
        lines = [gettext(heading, locale, a=a, b=b,
                         added=len(self.added), removed=len(self.removed), moved=len(self.moved),
                         changed=len(self.changed), renamed=len(self.renamed))]
        if self.renamed:
            fsep = gettext("lists.diff.field-sep", locale)
            entries = [
                gettext("lists.diff.renamed-item", locale, old=r.old_name.strip(), new=r.new_name.strip())
                + (gettext("lists.diff.renamed-fields", locale,
                           fields=fsep.join(gettext(f"lists.field.{f}", locale) for f in r.fields))
                   if r.fields else "")
                for r in self.renamed
            ]
            lines.append(gettext("lists.diff.renamed", locale, count=len(self.renamed), names=names(entries)))
        if self.added:
            entries = [gettext("lists.diff.item-in-part", locale, name=i.name.strip(), part=part_name(i.part))
                       for i in self.added]
            lines.append(gettext("lists.diff.added", locale, count=len(self.added), names=names(entries)))
        if self.removed:
            entries = [gettext("lists.diff.item-in-part", locale, name=i.name.strip(), part=part_name(i.part))
                       for i in self.removed]
            lines.append(gettext("lists.diff.removed", locale, count=len(self.removed), names=names(entries)))
        groups: dict[tuple[Part, Part], list[str]] = {}
        for m in self.moved:
            groups.setdefault((m.old_part, m.new_part), []).append(m.name.strip())
        for (old, new), moved_names in sorted(groups.items(), key=lambda kv: (PART_ORDER.index(kv[0][1]),
                                                                               PART_ORDER.index(kv[0][0]))):
            lines.append(gettext("lists.diff.moved", locale, source=part_name(old), target=part_name(new),
                                 count=len(moved_names), names=names(moved_names)))
        if self.changed:
            fsep = gettext("lists.diff.field-sep", locale)
            entries = [
                gettext("lists.diff.changed-item", locale, name=c.name.strip(),
                        fields=fsep.join(gettext(f"lists.field.{f}", locale) for f in c.fields))
                for c in self.changed
            ]
            lines.append(gettext("lists.diff.changed", locale, count=len(self.changed), names=names(entries)))
        return "\n".join(lines)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return normalize(a) == normalize(b)
    return a == b


def _index(items: list[DutyItem]) -> dict[str, DutyItem]:
    index: dict[str, DutyItem] = {}
    for item in items:
        if item.key:
            index.setdefault(item.key, item)
    return index


def _ordered(items: list[DutyItem]) -> list[DutyItem]:
    return sorted(items, key=lambda i: PART_ORDER.index(i.part))  # stable: keeps list order within a part


def _changes(before: DutyItem, item: DutyItem, fields: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    return {f: (getattr(before, f), getattr(item, f)) for f in fields
            if not _same(getattr(before, f), getattr(item, f))}


def _pair_renames(removed: list[DutyItem], added: list[DutyItem]) -> list[tuple[DutyItem, DutyItem]]:
    """(old, new) pairs of one item renamed: in the same part and with names much alike (the
    most alike first; of as alike, the one with the same 序号). A shared 序号 alone is no
    rename: an item deleted and an unrelated one added in its place are removed + added."""
    alike = sorted(((SequenceMatcher(None, normalize(r.name), normalize(a.name)).ratio(),
                     r.seq is not None and r.seq == a.seq, i, j)
                    for i, r in enumerate(removed) for j, a in enumerate(added) if r.part == a.part),
                   key=lambda t: (-t[0], not t[1], t[2], t[3]))
    pairs: list[tuple[DutyItem, DutyItem]] = []
    taken_old: set[int] = set()
    taken_new: set[int] = set()
    for ratio, _same_seq, i, j in alike:
        if ratio >= RENAME_SIMILARITY and i not in taken_old and j not in taken_new:
            pairs.append((removed[i], added[j]))
            taken_old.add(i)
            taken_new.add(j)
    return pairs


def diff_lists(old: list[DutyItem], new: list[DutyItem]) -> ListDiff:
    """The changes that turn `old` into `new`."""
    old_by_key = _index(old)
    new_by_key = _index(new)
    result = ListDiff()
    for item in _ordered(list(new_by_key.values())):
        before = old_by_key.get(item.key)
        if before is None:
            result.added.append(item)
            continue
        fields = _COMPARED_FIELDS
        if before.part != item.part:
            result.moved.append(Moved(item.name, before.part, item.part))
            # a field only one of the two parts has changes with the move itself: not an edit
            fields = tuple(f for f in fields if f in PART_FIELDS[before.part] and f in PART_FIELDS[item.part])
        changes = _changes(before, item, fields)
        if changes:
            result.changed.append(Changed(item.name, item.part, changes))
    result.removed = [i for i in _ordered(list(old_by_key.values())) if i.key not in new_by_key]
    pairs = _pair_renames(result.removed, result.added)
    renamed_old = {id(before) for before, _ in pairs}
    renamed_new = {id(item) for _, item in pairs}
    result.renamed = [Renamed(before.name, item.name, item.part,
                              _changes(before, item, tuple(f for f in _COMPARED_FIELDS if f != "name")))
                      for before, item in sorted(pairs, key=lambda p: result.added.index(p[1]))]
    result.added = [i for i in result.added if id(i) not in renamed_new]
    result.removed = [i for i in result.removed if id(i) not in renamed_old]
    return result
