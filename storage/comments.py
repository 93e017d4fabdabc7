"""Cadres' comments on items, their proposals of missing items, and their reports of
off-list tasks (清单外事项) — writing them, and the queries the organizer's console
and the reports need.

Kinds of comment (`Comment.kind`): KINDS (on an item) and "missing" (item_id None,
`missing` = {"name", "part", "category", "basis", "department"}, `text` = why). A comment's status
for its author (`comment_status`): "open" (待答复), "adopted" (采纳), "partly" (部分采纳),
"rejected" (不采纳), "withdrawn" (已撤回) or "hidden" (不予答复: the organizer hid it as
improper before answering it — it would never leave 待答复 otherwise).

Writing (the caller checks the consultation's window; these check the rest):

- `check_text(text) -> (clean, problem | None)` — problem "empty" or "too-long" (> MAX_TEXT).
- `throttled(session, person_id, now) -> bool` — THROTTLE_COUNT comments per
  THROTTLE_WINDOW per person, counted in the database (holds across restarts).
- `add_comment(session, *, consultation_id, item_id, person_id, township_id, kind, text,
  proposed_wording="", missing=None, now) -> Comment` (ValueError on a bad kind or text).
- `set_proposed_wording(session, comment_id, person_id, wording, now) -> (Comment | None, reason)`.
- `edit_refusal(comment, person_id, consultation, now) -> reason | None` — "unknown",
  "not-yours", "withdrawn", "answered" (once answered a comment is frozen, so the
  answer always refers to what was said), "hidden" (the organizer hid it, 不予答复: frozen
  too — an edit would stay hidden and unread), "closed" (deadline passed), "not-yet" (the
  consultation's window has not opened: its opening time is in the future).
- `edit_missing(session, comment_id, person_id, field, value, now) -> (Comment | None, reason)` — a
  missing-item proposal's name, part (a move clears the category), category, basis or department.
- `edit_comment(session, comment_id, person_id, text, now) -> (Comment | None, reason)` and
  `withdraw_comment(session, comment_id, person_id, now) -> (Comment | None, reason)`:
  reason "ok" or one of edit_refusal's (plus "empty"/"too-long" for edits).

Reading, for the author:

- `get_comment(session, comment_id) -> Comment | None`
- `my_comments(session, person_id, item_id=None) -> list[Comment]` (newest first, withdrawn included)
- `my_counts_by_item(session, person_id, item_ids) -> dict[item_id, count]` (not withdrawn)

For the organizer (withdrawn comments are never included; hidden ones only on request):

- `comments_for(session, consultation_id, item_id=None, kind=None, township_id=None,
  unanswered=False, include_hidden=False) -> list[Comment]` (oldest first; `unanswered`: those
  awaiting the organizer — no decision yet, or 部分采纳/不采纳 decided without its reason)
- `answer_comment(session, comment_id, decision, reply, replied_by, now) -> Comment` —
  decision in DECISIONS; LookupError if unknown, ValueError if withdrawn or bad decision, or if
  the decision is in NEEDS_REASON (部分采纳, 不采纳) and the reply, its reason, is empty.
  Answering again replaces the answer. Answering a hidden comment brings it back: its author is
  told the answer, so the console and the reports count it too. `seen` (from `answer_seen`, taken
  when the organizer began the answer): AnsweredMeanwhile if another answer came in since, or the
  comment was hidden or unhidden since.
- `answer_seen(comment) -> list` — the answer as it stands (decision, reply, who, hidden), for `seen`.
- `hide_comment(session, comment_id, hidden=True) -> Comment | None` — hidden comments
  stay visible to their author but leave the console and the reports.
- `comment_counts_by_kind(session, consultation_id, township_id=None, include_hidden=False) -> dict[kind, n]`
- `comment_counts_by_township(session, consultation_id) -> dict[township id, n]` (active comments)
- `decision_counts(session, consultation_id, include_hidden=False) -> dict["open"|decision, n]`
- `most_commented_items(session, consultation_id, limit=10) -> list[(part, item name, count)]` (an item
  of every township's list counted together, as the digest does)

Off-list reports:

- `add_report(session, *, person_id, township_id, consultation_id, department, task,
  assigned_on, method, details, now) -> OffListReport` (method in REPORT_METHODS)
- `report_throttled(session, person_id, now) -> bool`
- `my_reports(session, person_id) -> list[OffListReport]` (newest first)
- `reports_for(session, consultation_id=None, township_id=None) -> list[OffListReport]`

Scope helpers for the chat:

- `open_consultations_for_township(session, township_id) -> list[(Consultation, list_id)]`
  (status "open", newest first)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Comment, Consultation, ConsultationTownship, DutyItemRow, OffListReport
from storage.sql import as_id
from surveys.consultation import (
    COMMENT_KINDS,
    MISSING_KIND,
    NEEDS_REASON,
    Status,
    Window,
    in_kind_order,
    window,
)
from surveys.duty_list import PART_ORDER
from surveys.text import drop_nul

KINDS = COMMENT_KINDS
_ALREADY = {"cooperating": "to_cooperating", "basic": "to_basic", "withdrawn": "withdraw"}


def kinds_for(part: str) -> tuple[str, ...]:
    """The kinds of comment that make sense on an item of `part`: not a move to the part
    it is already in."""
    return tuple(k for k in KINDS if k != _ALREADY.get(part))
MISSING = MISSING_KIND
DECISIONS: tuple[str, ...] = ("adopted", "partly", "rejected")
REPORT_METHODS: tuple[str, ...] = ("document", "meeting", "phone", "group", "other")
MAX_TEXT = 2000
MAX_SHORT = 200
THROTTLE_COUNT = 20
THROTTLE_WINDOW = timedelta(minutes=10)
REPORT_THROTTLE_COUNT = 10


def check_text(text: str | None, limit: int = MAX_TEXT) -> tuple[str, str | None]:
    clean = drop_nul(text).strip()
    if not "".join(ch for ch in clean if unicodedata.category(ch) != "Cf").strip():  # nothing visible
        return clean, "empty"
    if len(clean) > limit:
        return clean, "too-long"
    return clean, None


def comment_status(comment: Comment) -> str:
    if comment.status == "withdrawn":
        return "withdrawn"
    if comment.decision is None and comment.hidden:
        return "hidden"
    return comment.decision or "open"


async def _count_since(session: AsyncSession, model: Any, person_id: int, since: datetime) -> int:
    return (await session.scalar(select(sa.func.count()).select_from(model)
                                 .where(model.person_id == person_id, model.created_at > since))) or 0


async def throttled(session: AsyncSession, person_id: int, now: datetime, limit: int = THROTTLE_COUNT,
                    period: timedelta = THROTTLE_WINDOW) -> bool:
    return await _count_since(session, Comment, person_id, now - period) >= limit


async def report_throttled(session: AsyncSession, person_id: int, now: datetime,
                           limit: int = REPORT_THROTTLE_COUNT, period: timedelta = THROTTLE_WINDOW) -> bool:
    return await _count_since(session, OffListReport, person_id, now - period) >= limit


async def add_comment(session: AsyncSession, *, consultation_id: int, item_id: int | None, person_id: int,
                      township_id: int, kind: str, text: str, proposed_wording: str = "",
                      missing: dict[str, Any] | None = None, now: datetime) -> Comment:
    if kind not in KINDS and kind != MISSING:
        raise ValueError(f"unknown kind {kind!r}")
    if (kind == MISSING) != (item_id is None):
        raise ValueError("a missing-item proposal has no item; every other comment has one")
    clean, problem = check_text(text)
    if problem:
        raise ValueError(problem)
    comment = Comment(consultation_id=consultation_id, item_id=item_id, person_id=person_id,
                      township_id=township_id, kind=kind, text=clean, proposed_wording=drop_nul(proposed_wording).strip(),
                      missing=missing or {}, created_at=now, updated_at=now)
    session.add(comment)
    await session.flush()
    return comment


async def get_comment(session: AsyncSession, comment_id: int) -> Comment | None:
    return await session.get(Comment, comment_id, populate_existing=True)


def edit_refusal(comment: Comment | None, person_id: int, consultation: Consultation | None,
                 now: datetime) -> str | None:
    if comment is None or consultation is None:
        return "unknown"
    if comment.person_id != person_id:
        return "not-yours"
    if comment.status == "withdrawn":
        return "withdrawn"
    if comment.decision is not None:
        return "answered"
    if comment.hidden:
        return "hidden"
    w = window(consultation.status, consultation.opens_at, consultation.closes_at, now)
    if w == Window.NOT_YET:  # (its opening moved later): not "closed", it has not begun
        return "not-yet"
    if w != Window.OPEN:
        return "closed"
    return None


async def _editable(session: AsyncSession, comment_id: int, person_id: int,
                    now: datetime) -> tuple[Comment | None, str | None]:
    comment = await get_comment(session, comment_id)
    consultation = await session.get(Consultation, comment.consultation_id) if comment else None
    return comment, edit_refusal(comment, person_id, consultation, now)


async def _set_text(session: AsyncSession, comment_id: int, person_id: int, field: str, value: str,
                    now: datetime) -> tuple[Comment | None, str]:
    """Change the comment's `text` or `proposed_wording`, if its author may still edit it."""
    comment, refusal = await _editable(session, comment_id, person_id, now)
    if refusal:
        return (comment if refusal != "not-yours" else None), refusal
    assert comment is not None
    clean, problem = check_text(value)
    if problem:
        return comment, problem
    return await _change_if_still_editable(session, comment, person_id, now, **{field: clean})


async def _change_if_still_editable(session: AsyncSession, comment: Comment, person_id: int, now: datetime,
                                    **values: Any) -> tuple[Comment | None, str]:
    """Write `values` only if, at the database, the comment is still neither withdrawn, answered nor
    hidden: an organizer answering or hiding it while its author types the edit wins (the edit is
    refused with the reason then, instead of landing on a frozen comment)."""
    done = await session.execute(
        sa.update(Comment)
        .where(Comment.id == comment.id, Comment.person_id == person_id, Comment.status != "withdrawn",
               Comment.decision.is_(None), Comment.hidden.is_(False))
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False))
    fresh = await get_comment(session, comment.id or 0)
    if done.rowcount != 1:
        consultation = await session.get(Consultation, fresh.consultation_id) if fresh else None
        return fresh, edit_refusal(fresh, person_id, consultation, now) or "unknown"
    return fresh, "ok"


async def edit_comment(session: AsyncSession, comment_id: int, person_id: int, text: str,
                       now: datetime) -> tuple[Comment | None, str]:
    return await _set_text(session, comment_id, person_id, "text", text, now)


async def set_proposed_wording(session: AsyncSession, comment_id: int, person_id: int, wording: str,
                               now: datetime) -> tuple[Comment | None, str]:
    return await _set_text(session, comment_id, person_id, "proposed_wording", wording, now)


MAX_CATEGORY = 100
MISSING_FIELDS: dict[str, int] = {"name": MAX_SHORT, "category": MAX_CATEGORY, "basis": MAX_TEXT,
                                  "department": MAX_SHORT}


async def edit_missing(session: AsyncSession, comment_id: int, person_id: int, field: str, value: str,
                       now: datetime) -> tuple[Comment | None, str]:
    """Change a field of a missing-item proposal (`missing`: "part", one of PART_ORDER's values, or
    one of MISSING_FIELDS, a text within its limit), if its author may still edit it; reason as
    `edit_comment` ("unknown" also for a comment that is no proposal, or an unknown field or part).
    A move to another part clears the category: one chosen among the old part's (平安法治 under
    基本履职事项) would stand wrongly under the new one in the export and the report."""
    comment, refusal = await _editable(session, comment_id, person_id, now)
    if refusal:
        return (comment if refusal != "not-yours" else None), refusal
    assert comment is not None
    if comment.kind != MISSING or comment.item_id is not None:
        return comment, "unknown"
    if field == "part":
        if value not in {p.value for p in PART_ORDER}:
            return comment, "unknown"
        clean = value
    elif field in MISSING_FIELDS:
        clean, problem = check_text(value, MISSING_FIELDS[field])
        if problem:
            return comment, problem
    else:
        return comment, "unknown"
    missing = {**(comment.missing or {}), field: clean}
    if field == "part" and (comment.missing or {}).get("part") != clean:
        missing["category"] = ""
    return await _change_if_still_editable(session, comment, person_id, now, missing=missing)


async def withdraw_comment(session: AsyncSession, comment_id: int, person_id: int,
                           now: datetime) -> tuple[Comment | None, str]:
    comment, refusal = await _editable(session, comment_id, person_id, now)
    if refusal:
        return (comment if refusal != "not-yours" else None), refusal
    assert comment is not None
    return await _change_if_still_editable(session, comment, person_id, now, status="withdrawn")


async def my_comments(session: AsyncSession, person_id: int, item_id: int | None = None) -> list[Comment]:
    query = select(Comment).where(Comment.person_id == person_id)
    if item_id is not None:
        query = query.where(Comment.item_id == item_id)
    return list((await session.scalars(query.order_by(Comment.created_at.desc(), Comment.id.desc()))).all())


async def my_counts_by_item(session: AsyncSession, person_id: int, item_ids: Iterable[int]) -> dict[int, int]:
    ids = list(item_ids)
    if not ids:
        return {}
    rows = (await session.execute(
        select(Comment.item_id, sa.func.count()).where(Comment.person_id == person_id, Comment.item_id.in_(ids),
                                                       Comment.status != "withdrawn")
        .group_by(Comment.item_id))).all()
    return {item_id: n for item_id, n in rows}


# --- the organizer's side ------------------------------------------------------------------


def _visible(query: Any, include_hidden: bool) -> Any:
    query = query.where(Comment.status != "withdrawn")
    return query if include_hidden else query.where(Comment.hidden.is_(False))


async def comments_for(session: AsyncSession, consultation_id: int, item_id: int | None = None,
                       kind: str | None = None, township_id: int | None = None, unanswered: bool = False,
                       include_hidden: bool = False) -> list[Comment]:
    query = _visible(select(Comment).where(Comment.consultation_id == consultation_id), include_hidden)
    if item_id is not None:
        query = query.where(Comment.item_id == item_id)
    if kind is not None:
        query = query.where(Comment.kind == kind)
    if township_id is not None:
        query = query.where(Comment.township_id == township_id)
    if unanswered:  # awaiting the organizer: no decision, or 部分采纳/不采纳 without its reason (older ones)
        no_reason = sa.func.trim(sa.func.coalesce(Comment.reply, "")) == ""
        query = query.where(sa.or_(Comment.decision.is_(None),
                                   sa.and_(Comment.decision.in_(NEEDS_REASON), no_reason)))
    return list((await session.scalars(query.order_by(Comment.created_at, Comment.id))).all())


class AnsweredMeanwhile(Exception):
    """Another organizer answered the comment after this one began answering it."""

    def __init__(self, comment: Comment) -> None:
        super().__init__(comment.id)
        self.comment = comment


def answer_seen(comment: Comment) -> list[Any]:
    """The answer an organizer sees when beginning theirs (JSON-able, to keep in a form)."""
    return [comment.decision, comment.reply or "", comment.replied_by, bool(comment.hidden)]


async def answer_comment(session: AsyncSession, comment_id: int, decision: str, reply: str, replied_by: int | None,
                         now: datetime, seen: list[Any] | None = None) -> Comment:
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if decision in NEEDS_REASON and not drop_nul(reply).strip():
        raise ValueError(f"{decision!r} needs a reason")
    comment = await get_comment(session, comment_id)
    if comment is None:
        raise LookupError(comment_id)
    if comment.status == "withdrawn":
        raise ValueError("the comment was withdrawn")
    # conditional: its author withdrawing it at the same moment wins (they would be told the
    # answer to a comment they took back, and it would count nowhere)
    query = sa.update(Comment).where(Comment.id == comment_id, Comment.status != "withdrawn")
    if seen is not None:  # and nobody else answered since this answer was begun (two organizers at once)
        query = query.where(Comment.decision.is_not_distinct_from(seen[0]),
                            sa.func.coalesce(Comment.reply, "") == seen[1],
                            Comment.replied_by.is_not_distinct_from(seen[2]))
        if len(seen) > 3:  # nor hid it (an answer would bring it back, and tell its author)
            query = query.where(Comment.hidden == bool(seen[3]))
    done = await session.execute(
        query.values(decision=decision, reply=drop_nul(reply).strip(), replied_by=replied_by, replied_at=now,
                hidden=False)  # (answered: no longer 不予答复 for its author, nor left out of the report)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        now_stored = await get_comment(session, comment_id)
        if now_stored is not None and now_stored.status != "withdrawn" and seen is not None:
            raise AnsweredMeanwhile(now_stored)
        raise ValueError("the comment was withdrawn")
    answered = await get_comment(session, comment_id)
    assert answered is not None
    return answered


async def hide_comment(session: AsyncSession, comment_id: int, hidden: bool = True,
                       by: int | None = None) -> Comment | None:
    """Hide (or unhide) a comment; `by`: the organizer who hid it (kept while it is hidden)."""
    comment = await get_comment(session, comment_id)
    if comment is not None:
        comment.hidden = hidden
        comment.hidden_by = by if hidden else None
        await session.flush()
    return comment


async def comment_counts_by_kind(session: AsyncSession, consultation_id: int, township_id: int | None = None,
                                 include_hidden: bool = False) -> dict[str, int]:
    query = _visible(select(Comment.kind, sa.func.count()).where(Comment.consultation_id == consultation_id),
                     include_hidden)
    if township_id is not None:
        query = query.where(Comment.township_id == township_id)
    rows = (await session.execute(query.group_by(Comment.kind))).all()
    return in_kind_order({kind: n for kind, n in rows})


async def comment_counts_by_township(session: AsyncSession, consultation_id: int) -> dict[int, int]:
    """Active comments (neither withdrawn nor hidden) per township id; townships without any left out."""
    query = _visible(select(Comment.township_id, sa.func.count()).where(Comment.consultation_id == consultation_id),
                     False)
    return {tid: n for tid, n in (await session.execute(query.group_by(Comment.township_id))).all()}


async def decision_counts(session: AsyncSession, consultation_id: int, include_hidden: bool = False) -> dict[str, int]:
    query = _visible(select(Comment.decision, sa.func.count()).where(Comment.consultation_id == consultation_id),
                     include_hidden)
    rows = (await session.execute(query.group_by(Comment.decision))).all()
    return {(decision or "open"): n for decision, n in rows}


async def most_commented_items(session: AsyncSession, consultation_id: int,
                               limit: int = 10) -> list[tuple[str, str, int]]:
    """The items with most active comments, an item of every township's list counted together
    (by part and name, as the digest and the reports do; ties in part order, then by name)."""
    n = sa.func.count(Comment.id).label("n")
    query = _visible(select(DutyItemRow.part, DutyItemRow.name, n)
                     .join(DutyItemRow, DutyItemRow.id == Comment.item_id)
                     .where(Comment.consultation_id == consultation_id), False)
    rows = (await session.execute(query.group_by(DutyItemRow.part, DutyItemRow.name))).all()
    parts = [p.value for p in PART_ORDER]
    ranked = sorted(rows, key=lambda r: (-r.n, parts.index(r.part) if r.part in parts else len(parts), r.name))
    return [(part, name, count) for part, name, count in ranked[:limit]]


# --- off-list reports ----------------------------------------------------------------------


async def add_report(session: AsyncSession, *, person_id: int, township_id: int, consultation_id: int | None,
                     department: str, task: str, assigned_on: str, method: str, details: str,
                     now: datetime) -> OffListReport:
    if method not in REPORT_METHODS:
        raise ValueError(f"unknown method {method!r}")
    report = OffListReport(person_id=person_id, township_id=township_id, consultation_id=consultation_id,
                           department=department.strip(), task=task.strip(), assigned_on=assigned_on.strip(),
                           method=method, details=details.strip(), created_at=now)
    session.add(report)
    await session.flush()
    return report


async def my_reports(session: AsyncSession, person_id: int) -> list[OffListReport]:
    query = select(OffListReport).where(OffListReport.person_id == person_id)
    return list((await session.scalars(query.order_by(OffListReport.created_at.desc(),
                                                      OffListReport.id.desc()))).all())


async def get_report(session: AsyncSession, report_id: str) -> OffListReport | None:
    """The off-list report of that id (`report_id` as text, from a button), or None."""
    rid = as_id(report_id)
    return await session.get(OffListReport, rid) if rid is not None else None


def report_refusal(report: OffListReport | None, person_id: int, consultation: Consultation | None,
                   now: datetime | None = None) -> str | None:
    """Why the cadre may not withdraw this off-list report, or None: only their own, and not
    once the consultation it went with has closed after it was filed (the final report
    listed it; a report filed after the close, with the township's latest consultation,
    may still be taken back) — nor, at `now`, once its deadline has passed after it was filed
    (the close that lists it may come any moment)."""
    if report is None:
        return "unknown"
    if report.person_id != person_id:
        return "not-yours"
    if consultation is not None and consultation.status in (Status.CLOSED, Status.REPORTED):
        closed = consultation.closed_at or consultation.closes_at
        if closed is None or closed >= report.created_at:
            return "closed"
    if consultation is not None and now is not None and consultation.status == Status.OPEN.value \
            and consultation.closes_at <= now and consultation.closes_at >= report.created_at:
        return "closed"
    return None


async def withdrawable_report(session: AsyncSession, report_id: str, person_id: int,
                              now: datetime | None = None) -> tuple[OffListReport | None, str | None]:
    """The off-list report of that id, and why its author may not withdraw it, or None."""
    report = await get_report(session, report_id)
    consultation = await session.get(Consultation, report.consultation_id) \
        if report is not None and report.consultation_id is not None else None
    return report, report_refusal(report, person_id, consultation, now)


# what of an off-list report its author may change (the message that gave it edited in Telegram)
REPORT_FIELDS: dict[str, int] = {"department": MAX_SHORT, "task": MAX_TEXT, "assigned_on": 100, "details": MAX_TEXT}


async def edit_report(session: AsyncSession, report_id: int, person_id: int, field: str, value: str,
                      now: datetime) -> tuple[OffListReport | None, str]:
    """Change a field of the cadre's own off-list report (REPORT_FIELDS, a text within its limit)
    while they may still withdraw it: reason "ok", one of `report_refusal`'s, "empty" or "too-long"."""
    report, refusal = await withdrawable_report(session, str(report_id), person_id, now)
    if refusal:
        return (report if refusal != "not-yours" else None), refusal
    assert report is not None
    if field not in REPORT_FIELDS:
        return report, "unknown"
    clean, problem = check_text(value, REPORT_FIELDS[field])
    if problem:
        return report, problem
    setattr(report, field, clean)
    await session.flush()
    return report, "ok"


async def withdraw_report(session: AsyncSession, report_id: str, person_id: int, now: datetime | None = None) -> str:
    """Delete the cadre's own off-list report ("ok"), or say why not (`report_refusal`)."""
    report, refusal = await withdrawable_report(session, report_id, person_id, now)
    if refusal:
        return refusal
    await session.delete(report)
    await session.flush()
    return "ok"


async def report_consultations(session: AsyncSession, reports: Iterable[OffListReport]) -> dict[int, Consultation]:
    ids = {r.consultation_id for r in reports if r.consultation_id is not None}
    if not ids:
        return {}
    return {c.id: c for c in (await session.scalars(select(Consultation).where(Consultation.id.in_(ids)))).all()}


async def reports_for(session: AsyncSession, consultation_id: int | None = None,
                      township_id: int | None = None) -> list[OffListReport]:
    query = select(OffListReport)
    if consultation_id is not None:
        query = query.where(OffListReport.consultation_id == consultation_id)
    if township_id is not None:
        query = query.where(OffListReport.township_id == township_id)
    return list((await session.scalars(query.order_by(OffListReport.created_at, OffListReport.id))).all())


# --- scope ---------------------------------------------------------------------------------


async def latest_consultation_for_township(session: AsyncSession, township_id: int) -> Consultation | None:
    """The township's open consultation, else its most recent one that opened (an off-list
    report filed between consultations goes with it: the organizers see it there)."""
    return (await session.scalars(
        select(Consultation).join(ConsultationTownship, ConsultationTownship.consultation_id == Consultation.id)
        .where(ConsultationTownship.township_id == township_id, Consultation.status != Status.DRAFT.value)
        .order_by((Consultation.status == Status.OPEN.value).desc(), Consultation.id.desc()).limit(1))).first()


async def open_consultations_for_township(session: AsyncSession,
                                         township_id: int) -> list[tuple[Consultation, int]]:
    rows = (await session.execute(
        select(Consultation, ConsultationTownship.list_id)
        .join(ConsultationTownship, ConsultationTownship.consultation_id == Consultation.id)
        .where(ConsultationTownship.township_id == township_id, Consultation.status == Status.OPEN.value)
        .order_by(Consultation.id.desc()))).all()
    return [(c, list_id) for c, list_id in rows]
