"""Reading a consultation for its reports: a `ConsultationData` snapshot built with
Core selects (plain tuples, no ORM objects), and the headline figures computed by SQL
GROUP BY alone (`stats`, `plain_group_by_figures`).

The responses are aggregated in the database: started/completed per township, the
answers grouped by question and stored JSON value (item ratings through
json_each), the counts in the digest's window. Only what the workbook lists row by
row is read row by row: text answers, comments, off-list reports. The answers are
never loaded one by one, except with `answers=True` (the reference path: every
answer as a `ResponseRecord`, summarized in Python)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from storage.models import (
    ANONYMOUS,
    Answer,
    Comment,
    Consultation,
    ConsultationTownship,
    DutyItemRow,
    DutyListRow,
    OffListReport,
    Person,
    Response,
    Township,
)
from storage.sql import fits_id
from storage.sqlite_inline import inline_calls
from surveys.consultation import Status, in_kind_order
from surveys.diff import diff_lists
from surveys.duty_list import ListStatus
from surveys.questionnaire import Questionnaire, load_questionnaire
from surveys.report import (
    DECISIONS,
    NO_DECISION,
    WITHDRAWN,
    CommentRecord,
    ConsultationData,
    ConsultationInfo,
    OffListRecord,
    Pseudonyms,
    QuestionResult,
    ReportItem,
    ResponseRecord,
    ResponseSummary,
    ResponseWindow,
    Revision,
    TextAnswer,
    TownshipProgress,
    TownshipRef,
    tally,
)

PARTITION = 20_000

_r = Response.__table__.c
_a = Answer.__table__.c
_cm = Comment.__table__.c
_ct = ConsultationTownship.__table__.c
_t = Township.__table__.c
_i = DutyItemRow.__table__.c
_o = OffListReport.__table__.c
_c = Consultation.__table__.c
_rp = Person.__table__.alias("replier")  # the organizer who answered a comment


def _questionnaire(text: str) -> Questionnaire | None:
    if not text.strip():
        return None
    questionnaire, _problems = load_questionnaire(text)
    return questionnaire


class _JSONDecoder:
    """json.loads with a cache for the small immutable values most answers are
    ("3", "\\"well\\"", "null"); lists and dicts are decoded afresh every time."""

    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}

    def __call__(self, raw: Any) -> Any:
        if raw is None or not isinstance(raw, str):
            return raw
        try:
            return self.cache[raw]
        except KeyError:
            value = json.loads(raw)
            if not isinstance(value, list | dict) and len(raw) <= 64 and len(self.cache) < 100_000:
                self.cache[raw] = value
            return value


def _raw_value(dialect: str) -> sa.ColumnElement[Any]:
    """The answer's JSON as stored text, decoded by `_JSONDecoder` rather than per row by
    the driver (PostgreSQL: cast in SQL, since asyncpg would decode json itself; SQLite:
    the text as it is, numbers coming back as numbers)."""
    if dialect == "postgresql":
        return sa.cast(_a.value, sa.Text)
    return sa.type_coerce(_a.value, sa.Text)


Reader = AsyncSession | AsyncConnection
T = TypeVar("T")


class _Reads:
    """The report's reads, each on a connection of its own and all at once, where the
    database allows: PostgreSQL runs them in separate backends, and SQLite in WAL mode
    lets readers run side by side (each aiosqlite connection in its own thread, and
    sqlite3 lets go of the GIL while a query runs) — the long GROUP BY over the answers
    no longer waits for, nor makes wait, the text answers, comments and the rest, and
    the rows of one are turned into records while another runs. Where every connection
    is the same one (an in-memory SQLite database's pool) or the session is bound to a
    connection: one read after another on the caller's session. The reads are separate
    snapshots: a report taken while answers still arrive may count one that its list
    does not show yet."""

    def __init__(self, session: AsyncSession) -> None:
        bind = session.bind
        self.session = session
        self.dialect = bind.dialect.name
        shared = isinstance(bind, AsyncEngine) and isinstance(bind.pool, StaticPool | SingletonThreadPool)
        self.engine = bind if isinstance(bind, AsyncEngine) and not shared else None

    async def _run(self, engine: AsyncEngine, job: Callable[[Reader], Awaitable[T]]) -> T:
        async with engine.connect() as conn:
            return await job(conn)

    async def all(self, *jobs: Callable[[Reader], Awaitable[Any]]) -> list[Any]:
        """Each job's result, in order. A failing job's exception is raised as it is
        (callers tell a lost database connection from other errors) once the other
        jobs are cancelled and their connections returned."""
        if self.engine is None:
            return [await job(self.session) for job in jobs]
        tasks = [asyncio.ensure_future(self._run(self.engine, job)) for job in jobs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


Window = tuple[datetime | None, datetime]


async def load_consultation_data(
    session: AsyncSession, consultation_id: int, pseudonym_key: str, timezone: str, *,
    window: Window | None = None, texts: bool = True, results: bool = True, answers: bool = False,
) -> ConsultationData:
    """Everything the reports need about one consultation; people only as pseudonyms.

    The responses come as a `ResponseSummary` computed in SQL, with the counts of the
    digest `window` (since, now] when one is given, the text answers unless
    `texts=False`, and the tally per question unless `results=False` (the digest needs
    neither: without them no answer row is read). `answers=True` lists every response
    and answer instead (no summary: surveys.report summarizes them). Its reads run on
    their connections' threads even when called during an update (storage.sqlite_inline):
    they take seconds at county scale."""
    with inline_calls(False):
        return await _load(session, consultation_id, pseudonym_key, timezone, window=window, texts=texts,
                           results=results, answers=answers)


async def _load(
    session: AsyncSession, consultation_id: int, pseudonym_key: str, timezone: str, *,
    window: Window | None, texts: bool, results: bool, answers: bool,
) -> ConsultationData:
    if not fits_id(consultation_id):
        raise LookupError(f"consultation {consultation_id}")
    row = (await session.execute(
        sa.select(_c.id, _c.title, _c.status, _c.opens_at, _c.closes_at, _c.questionnaire, _c.closed_at)
        .where(_c.id == consultation_id)
    )).first()
    if row is None:
        raise LookupError(f"consultation {consultation_id}")
    info = ConsultationInfo(row.id, row.title, row.status, row.opens_at, row.closes_at, timezone, row.closed_at)
    questionnaire = _questionnaire(row.questionnaire or "")
    names = Pseudonyms(pseudonym_key)

    township_rows = (await session.execute(
        sa.select(_ct.township_id, _t.name, _ct.list_id).join(Township.__table__, _t.id == _ct.township_id)
        .where(_ct.consultation_id == consultation_id).order_by(_ct.id)
    )).all()
    townships = [TownshipRef(tid, name, list_id) for tid, name, list_id in township_rows]
    township_name = {t.id: t.name for t in townships}
    list_township = {t.list_id: t.name for t in townships}
    unnamed: list[tuple[Any, int]] = []  # (record, township id) outside the consultation's list

    items: list[ReportItem] = []
    if list_township:
        for iid, list_id, part, category, name in (await session.execute(
            sa.select(_i.id, _i.list_id, _i.part, _i.category, _i.name)
            .where(_i.list_id.in_(list(list_township))).order_by(_i.list_id, _i.position, _i.id)
        )).all():
            items.append(ReportItem(iid, part, category, name, list_township[list_id]))

    reads = _Reads(session)

    async def comment_rows(conn: Reader) -> list[CommentRecord]:
        comments: list[CommentRecord] = []
        for r in (await conn.execute(
            sa.select(_cm.id, _cm.person_id, _cm.township_id, _cm.item_id, _i.name, _i.part, _cm.kind, _cm.text,
                      _cm.proposed_wording, _cm.missing, _cm.status, _cm.decision, _cm.reply, _cm.replied_at,
                      _cm.created_at, _cm.hidden, _cm.replied_by, _rp.c.first_name.label("replier"))
            .select_from(Comment.__table__.outerjoin(DutyItemRow.__table__, _i.id == _cm.item_id)
                         .outerjoin(_rp, _rp.c.id == _cm.replied_by))
            .where(_cm.consultation_id == consultation_id).order_by(_cm.id)
        )).all():
            comments.append(CommentRecord(
                # (kept of a cadre who erased their data: under nobody, not a pseudonym shared by all such)
                id=r.id, pseudonym=names(r.person_id) if r.person_id != ANONYMOUS else "",
                township=township_name.get(r.township_id, ""),
                item_id=r.item_id, item_name=r.name or "", part=r.part or "", kind=r.kind, text=r.text or "",
                proposed_wording=r.proposed_wording or "", missing=dict(r.missing or {}), status=r.status,
                decision=r.decision, reply=r.reply or "", replied_at=r.replied_at, created_at=r.created_at,
                hidden=bool(r.hidden),
                replied_by=(r.replier or str(r.replied_by)) if r.decision and r.replied_by else "",
            ))
            if r.township_id not in township_name:
                unnamed.append((comments[-1], r.township_id))
        return comments

    async def offlist_rows(conn: Reader) -> list[OffListRecord]:
        offlist: list[OffListRecord] = []
        for r in (await conn.execute(
            sa.select(_o.person_id, _o.township_id, _o.department, _o.task, _o.assigned_on, _o.method,
                      _o.details, _o.created_at).where(_o.consultation_id == consultation_id).order_by(_o.id)
        )).all():
            offlist.append(OffListRecord(names(r.person_id), township_name.get(r.township_id, ""), r.department,
                                         r.task, r.assigned_on, r.method, r.details, r.created_at))
            if r.township_id not in township_name:
                unnamed.append((offlist[-1], r.township_id))
        return offlist

    responses: list[ResponseRecord] = []
    summary: ResponseSummary | None = None
    if answers:
        responses = await _responses(session, consultation_id, names, township_name, unnamed)
        comments, offlist = await reads.all(comment_rows, offlist_rows)
    else:
        jobs = _summary_reads(reads.dialect, consultation_id, questionnaire, townships, names, window, texts,
                              results, unnamed)
        *found, comments, offlist = await reads.all(*jobs.values(), comment_rows, offlist_rows)
        parts = dict(zip(jobs, found, strict=True))
        summary = _summary(townships, window, unnamed, parts["progress"], parts.get("grouped"), parts.get("listed"))

    if unnamed:  # rows from a township no longer linked to the consultation: name it anyway
        extra = dict((await session.execute(
            sa.select(_t.id, _t.name).where(_t.id.in_({tid for _, tid in unnamed}))
        )).all())
        for rec, tid in unnamed:
            rec.township = extra.get(tid, "")
    if summary is not None and len(summary.progress) > len(townships):
        # like surveys.report: townships no longer linked after the consulted ones, by name
        extra_counts: dict[str, TownshipProgress] = {}
        for p in summary.progress[len(townships):]:
            merged = extra_counts.setdefault(p.township, TownshipProgress(p.township, 0, 0))
            merged.started += p.started
            merged.completed += p.completed
        summary.progress[len(townships):] = [extra_counts[n] for n in sorted(extra_counts)]

    revisions = await _revisions(session, townships) if info.status == Status.REPORTED.value else []
    return ConsultationData(info, townships, items, questionnaire, responses, comments, offlist, summary, revisions)


async def _revisions(session: AsyncSession, townships: list[TownshipRef]) -> list[Revision]:
    """Each consulted township's list as published as this consultation's outcome, with what
    changed: its newest published version imported after the one consulted on and not after a
    version a later consultation consulted on (that one's revisions are its own — the newest
    published of all described a later consultation's outcome). Townships without one are left out."""
    from storage.lists import load_list

    out: list[Revision] = []
    for t in townships:
        later = await session.scalar(  # the first version consulted on since (by another consultation)
            sa.select(sa.func.min(_ct.list_id)).where(_ct.township_id == t.id, _ct.list_id > t.list_id))
        newer = await session.scalar(
            sa.select(DutyListRow.id).where(DutyListRow.township_id == t.id, DutyListRow.id > t.list_id,
                                            DutyListRow.status == ListStatus.PUBLISHED.value,
                                            *([DutyListRow.id <= later] if later is not None else []))
            .order_by(DutyListRow.id.desc()).limit(1))
        if newer is None:
            continue
        old, new = await load_list(session, t.list_id), await load_list(session, newer)
        out.append(Revision(t.name, new.version, diff_lists(old.items, new.items)))
    return out


async def _responses(session: AsyncSession, consultation_id: int, names: Pseudonyms,
                     township_name: dict[int, str], unnamed: list[tuple[Any, int]]) -> list[ResponseRecord]:
    """Every response with every answer (streamed in partitions)."""
    responses: dict[int, ResponseRecord] = {}
    result = await session.stream(
        sa.select(_r.id, _r.person_id, _r.township_id, _r.started_at, _r.completed_at)
        .where(_r.consultation_id == consultation_id).order_by(_r.id)
    )
    async for part in result.partitions(PARTITION):
        for rid, pid, tid, started, completed in part:
            record = responses[rid] = ResponseRecord(names(pid), township_name.get(tid, ""), started, completed, {})
            if tid not in township_name:
                unnamed.append((record, tid))

    decode = _JSONDecoder()
    result = await session.stream(
        sa.select(_a.response_id, _a.question_id, _raw_value(session.bind.dialect.name))
        .select_from(Answer.__table__.join(Response.__table__, _r.id == _a.response_id))
        .where(_r.consultation_id == consultation_id)
    )
    async for part in result.partitions(PARTITION):
        for rid, qid, raw in part:
            record = responses.get(rid)
            if record is not None:
                record.answers[qid] = decode(raw)
    return list(responses.values())


def _summary_reads(dialect: str, consultation_id: int, questionnaire: Questionnaire | None,
                   townships: list[TownshipRef], names: Pseudonyms, window: Window | None, texts: bool,
                   results: bool, unnamed: list[tuple[Any, int]]) -> dict[str, Callable[[Reader], Awaitable[Any]]]:
    """The reads of the responses' summary, by name: started/completed per township
    (with the window's counts), the answers grouped by question and value unless
    `results` is False, and the text answers listed unless `texts` is False. `_summary`
    puts their results together."""
    of_consultation = _r.consultation_id == consultation_id
    since, now = window if window is not None else (None, None)

    def within(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        if window is None:
            return sa.literal(0)
        cond = column <= now if since is None else sa.and_(column > since, column <= now)
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    async def progress(conn: Reader) -> list[Any]:
        return list((await conn.execute(
            sa.select(_r.township_id, sa.func.count(), sa.func.count(_r.completed_at), within(_r.started_at),
                      within(_r.completed_at)).where(of_consultation).group_by(_r.township_id)
        )).all())

    questions = {q.id: q for q in questionnaire.questions} if questionnaire else {}

    async def grouped(conn: Reader) -> list[QuestionResult]:
        # The answers grouped by question and stored JSON text — the very GROUP BY of
        # plain_group_by_figures: no filter or expression on the grouped rows, which
        # SQLite makes markedly slower. Item ratings are grouped on their JSON object
        # and split here (far cheaper than json_each in SQL); text answers only counted.
        results = {qid: QuestionResult(q) for qid, q in questions.items()}  # questionnaire order
        if not questions:
            return []
        raw = _raw_value(dialect)
        answers = Answer.__table__.join(Response.__table__, _r.id == _a.response_id)
        decode = _JSONDecoder()
        # Executed, not streamed: PostgreSQL plans a server-side cursor (what stream()
        # opens) for a fast start, without parallel workers — twice the time here.
        for qid, value, n in (await conn.execute(
            sa.select(_a.question_id, raw, sa.func.count()).select_from(answers)
            .where(of_consultation, _a.value.is_not(None)).group_by(_a.question_id, raw)
        )).all():
            res = results.get(qid)
            if res is None or value is None or value == "null":
                continue
            if res.question.type == "text":
                res.answered += n
            else:
                tally(res.question, decode(value), n, res)
        return list(results.values())

    jobs: dict[str, Callable[[Reader], Awaitable[Any]]] = {"progress": progress}
    if results:
        jobs["grouped"] = grouped
    text_ids = [qid for qid, q in questions.items() if q.type == "text"]
    if texts and text_ids:
        township_name = {t.id: t.name for t in townships}

        async def listed(conn: Reader) -> list[TextAnswer]:
            return await _texts(conn, dialect, of_consultation, text_ids, names, township_name, unnamed)

        jobs["listed"] = listed
    return jobs


def _summary(townships: list[TownshipRef], window: Window | None, unnamed: list[tuple[Any, int]],
             counted: list[Any], results: list[QuestionResult] | None,
             listed: list[TextAnswer] | None) -> ResponseSummary:
    """The responses' summary from the results of `_summary_reads` (no tally per
    question when `results` is None)."""
    counts: dict[int, tuple[int, int]] = {}
    new_started = new_completed = 0
    for tid, started, completed, new_s, new_c in counted:
        counts[tid] = (started, completed)
        new_started += int(new_s)
        new_completed += int(new_c)
    township_name = {t.id: t.name for t in townships}
    progress = [TownshipProgress(t.name, *counts.get(t.id, (0, 0))) for t in townships]
    for tid in counts.keys() - township_name.keys():
        record = TownshipProgress("", *counts[tid])
        progress.append(record)
        unnamed.append((record, tid))
    since, now = window if window is not None else (None, None)
    in_window = ResponseWindow(since, now, new_started, new_completed) if window is not None else None
    return ResponseSummary(progress, results or [], listed or [], in_window)


async def _texts(conn: Reader, dialect: str, of_consultation: sa.ColumnElement[bool], question_ids: list[str],
                 names: Pseudonyms, township_name: dict[int, str],
                 unnamed: list[tuple[Any, int]]) -> list[TextAnswer]:
    """The non-empty text answers, in question order and then response order."""
    order = {qid: n for n, qid in enumerate(question_ids)}
    listed: list[tuple[int, int, TextAnswer]] = []
    decode = _JSONDecoder()
    raw = _raw_value(dialect)
    for qid, rid, pid, tid, stored in (await conn.execute(
        sa.select(_a.question_id, _r.id, _r.person_id, _r.township_id, raw)
        .select_from(Answer.__table__.join(Response.__table__, _r.id == _a.response_id))
        .where(of_consultation, _a.question_id.in_(question_ids), raw != "null")
    )).all():
        value = decode(stored)
        if isinstance(value, str) and value:
            record = TextAnswer(qid, value, township_name.get(tid, ""), names(pid))
            listed.append((order[qid], rid, record))
            if tid not in township_name:
                unnamed.append((record, tid))
    listed.sort(key=lambda row: row[:2])
    return [record for _, _, record in listed]


async def offlist_records(session: AsyncSession, pseudonym_key: str,
                          township_id: int | None = None) -> list[OffListRecord]:
    """Every off-list report (of one township, or all), oldest first, with the consultation
    it went with — None for a township never consulted, whose reports no consultation's
    report shows; people only as pseudonyms."""
    names = Pseudonyms(pseudonym_key)
    query = (sa.select(_o.person_id, _t.name, _o.department, _o.task, _o.assigned_on, _o.method, _o.details,
                       _o.created_at, _o.consultation_id, _c.title)
             .join(Township.__table__, _t.id == _o.township_id)
             .outerjoin(Consultation.__table__, _c.id == _o.consultation_id)
             .order_by(_o.created_at, _o.id))
    if township_id is not None:
        query = query.where(_o.township_id == township_id)
    return [OffListRecord(names(r.person_id), r.name, r.department, r.task, r.assigned_on, r.method, r.details,
                          r.created_at, r.consultation_id, r.title or "")
            for r in (await session.execute(query)).all()]


async def stats(session: AsyncSession, consultation_id: int) -> dict[str, Any]:
    """Plain GROUP BY counts: responses started and completed per township (every
    consulted township, in the consultation's order), active comments (not hidden, not
    withdrawn) by kind and by decision, and off-list reports."""
    townships = (await session.execute(
        sa.select(_t.id, _t.name).join(ConsultationTownship.__table__, _ct.township_id == _t.id)
        .where(_ct.consultation_id == consultation_id).order_by(_ct.id)
    )).all()
    counts = {tid: (0, 0) for tid, _ in townships}
    for tid, started, completed in (await session.execute(
        sa.select(_r.township_id, sa.func.count(), sa.func.count(_r.completed_at))
        .where(_r.consultation_id == consultation_id).group_by(_r.township_id)
    )).all():
        counts[tid] = (started, completed)
    names = dict(townships)
    unknown = [tid for tid in counts if tid not in names]
    if unknown:
        names.update(dict((await session.execute(sa.select(_t.id, _t.name).where(_t.id.in_(unknown)))).all()))
    by_township = {names[tid]: {"started": s, "completed": c} for tid, (s, c) in counts.items()}

    active = sa.and_(_cm.consultation_id == consultation_id, sa.not_(_cm.hidden), _cm.status != WITHDRAWN)
    by_kind = in_kind_order(dict((await session.execute(
        sa.select(_cm.kind, sa.func.count()).where(active).group_by(_cm.kind)
    )).all()))
    decided = dict((await session.execute(
        sa.select(_cm.decision, sa.func.count()).where(active).group_by(_cm.decision)
    )).all())
    by_decision = {d: int(decided.get(d, 0)) for d in DECISIONS}
    by_decision[NO_DECISION] = sum(int(n) for d, n in decided.items() if d not in DECISIONS)
    offlist = (await session.scalar(
        sa.select(sa.func.count()).select_from(OffListReport.__table__).where(_o.consultation_id == consultation_id)
    )) or 0
    return {"townships": by_township, "comments_by_kind": by_kind, "comments_by_decision": by_decision,
            "offlist": int(offlist)}


async def plain_group_by_figures(session: AsyncSession, consultation_id: int) -> dict[str, Any]:
    """The same headline figures as surveys.report.headline_figures, by SQL GROUP BY
    only: `stats` plus answers per question and the distribution of single and scale
    answers (grouped on the stored JSON text)."""
    figures = await stats(session, consultation_id)
    text = await session.scalar(sa.select(_c.questionnaire).where(_c.id == consultation_id))
    questionnaire = _questionnaire(text or "")
    questions = {q.id: q for q in questionnaire.questions} if questionnaire else {}
    raw = _raw_value(session.bind.dialect.name)
    rows = (await session.execute(
        sa.select(_a.question_id, raw, sa.func.count())
        .select_from(Answer.__table__.join(Response.__table__, _r.id == _a.response_id))
        .where(_r.consultation_id == consultation_id, _a.value.is_not(None))
        .group_by(_a.question_id, raw)
    )).all()
    answered = {qid: 0 for qid in questions}
    distribution: dict[str, dict[str, int]] = {
        qid: {} for qid, q in questions.items() if q.type in ("single", "scale")
    }
    for qid, value, n in rows:
        if qid not in questions or value is None or value == "null":
            continue
        answered[qid] += n
        if qid in distribution:
            # SQLite gives numbers back as numbers (the JSON column has numeric affinity)
            key = str(json.loads(value) if isinstance(value, str) else value)
            distribution[qid][key] = distribution[qid].get(key, 0) + n
    figures["answered"] = answered
    figures["distribution"] = {qid: dict(sorted(d.items())) for qid, d in distribution.items()}
    return figures
