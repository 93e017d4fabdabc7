"""A consultation read back for its reports, on SQLite and PostgreSQL: every answer,
comment and report in the snapshot, people only as pseudonyms, and the SQL GROUP BY
figures equal to those computed from the snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage import consultations, lists
from storage.engine import make_engine, make_sessionmaker
from storage.models import Comment, OffListReport, Response
from storage.reports import _Reads, load_consultation_data, plain_group_by_figures, stats
from surveys.duty_list import DutyItem, Part
from surveys.report import build_workbook, digest, feedback_report, headline_figures, pseudonym, summarize

KEY = "storage-test-key"
TZ = "Asia/Shanghai"
CLOSES = datetime(2026, 12, 10, 10, 0, tzinfo=UTC)

QUESTIONNAIRE = """\
id: t
title: 测试问卷
intro: 测试
questions:
  - id: aware
    type: single
    text: 您知道吗？
    options:
      - {id: "yes", text: 知道}
      - {id: "no", text: 不知道}
  - id: sat
    type: scale
    text: 您满意吗？
    allow_unsure: true
  - id: needs
    type: multi
    text: 最需要什么？
    options:
      - {id: a, text: 养老}
      - {id: b, text: 就医}
  - id: rate
    type: item_rating
    text: 打分
    max_items: 2
  - id: say
    type: text
    required: false
    text: 建议
"""

ITEMS = [
    DutyItem(Part.BASIC, "最低生活保障申请受理", category="民生服务"),
    DutyItem(Part.BASIC, "矛盾纠纷排查化解", category="平安法治"),
    DutyItem(Part.COOPERATING, "违法建设整治", category="城乡建设", county_department="县自然资源局"),
]


async def seed(session: AsyncSession) -> int:
    """Two townships; five residents (three complete); comments incl. a hidden, a
    withdrawn and a missing-item one; one off-list report. Returns the consultation id."""
    a = await lists.save_list(session, "青山镇", ITEMS)
    b = await lists.save_list(session, "绿水镇", ITEMS)
    await lists.save_list(session, "白云乡", ITEMS)  # not consulted
    c = await consultations.create_consultation(session, title="青山县清单征求意见", questionnaire=QUESTIONNAIRE,
                                                closes_at=CLOSES, list_ids=[a.id, b.id], opens_at=CLOSES - timedelta(days=14))
    qs = (await lists.load_list(session, a.id)).items
    ls = (await lists.load_list(session, b.id)).items
    answers = [
        (1001, a.township_id, {"aware": "yes", "sat": 5, "needs": ["a", "b"], "rate": {str(qs[0].id): 4},
                               "say": "多办实事"}, True),
        (1002, a.township_id, {"aware": "no", "sat": "unsure", "needs": ["a"], "rate": {str(qs[0].id): 2},
                               "say": None}, True),
        (1003, a.township_id, {"aware": "yes"}, False),
        (1004, b.township_id, {"aware": "yes", "sat": 3, "needs": ["b"], "rate": {str(ls[0].id): 5},
                               "say": "=1+1"}, True),
        (1005, b.township_id, {}, False),
    ]
    for pid, tid, values, done in answers:
        rid = await consultations.start_response(session, c.id, pid, tid)
        if values:
            await consultations.save_answers(session, rid, values)
        if done:
            await consultations.set_completed(session, rid, True)
    t0 = CLOSES - timedelta(days=5)
    session.add_all([
        Comment(consultation_id=c.id, item_id=qs[0].id, person_id=2001, township_id=a.township_id, kind="basis",
                text="依据应补充", decision="adopted", reply="已补充", replied_at=t0 + timedelta(days=1),
                created_at=t0),
        Comment(consultation_id=c.id, item_id=ls[0].id, person_id=2002, township_id=b.township_id, kind="wording",
                text="表述不清", proposed_wording="新表述", created_at=t0 + timedelta(days=2)),
        Comment(consultation_id=c.id, item_id=ls[2].id, person_id=2002, township_id=b.township_id,
                kind="to_basic", text="应为基本事项", decision="rejected", reply="保持", created_at=t0),
        Comment(consultation_id=c.id, item_id=qs[1].id, person_id=2001, township_id=a.township_id, kind="wording",
                text="隐藏", hidden=True, created_at=t0),
        Comment(consultation_id=c.id, item_id=qs[1].id, person_id=2001, township_id=a.township_id, kind="other",
                text="撤回", status="withdrawn", created_at=t0),
        Comment(consultation_id=c.id, item_id=None, person_id=2002, township_id=b.township_id, kind="missing",
                text="河道巡查", missing={"name": "河道日常巡查", "part": "basic"}, created_at=t0),
        OffListReport(consultation_id=c.id, person_id=2001, township_id=a.township_id, department="县住建局",
                      task="自建房排查", assigned_on="2026-11-01", method="document", created_at=t0),
    ])
    await session.commit()
    return c.id


PERSON_IDS = (1001, 1002, 1003, 1004, 1005, 2001, 2002)


def _leaves(value: object):
    """Every value a snapshot holds, through its records, lists and mappings (keys too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(k)
            yield from _leaves(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _person_ids_in(data: object) -> list[object]:
    """The values of a snapshot that are, or spell out, a person's Telegram id. A timestamp
    is not looked into: its microseconds are digits too (…120015… holds "2001")."""
    spelled = re.compile(rf"(?<!\d)(?:{'|'.join(map(str, PERSON_IDS))})(?!\d)")
    found: list[object] = []
    for v in _leaves(data):
        if isinstance(v, datetime | date | bool | float | Enum) or v is None:
            continue
        if (isinstance(v, int) and v in PERSON_IDS) or spelled.search(v if isinstance(v, str) else repr(v)):
            found.append(v)
    return found


async def test_snapshot_holds_every_answer_comment_and_report(session_factory, monkeypatch) -> None:
    # responses are stamped with the clock: a time whose microseconds read …2001… (about one
    # run in a hundred drew one) made "2001" appear in repr(data), as if a person id had leaked
    monkeypatch.setattr(consultations, "utcnow", lambda: datetime(2026, 12, 1, 2, 0, 0, 120015, tzinfo=UTC))
    async with session_factory() as s:
        cid = await seed(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ, answers=True)
    assert data.consultation.title == "青山县清单征求意见"
    assert data.consultation.closes_at == CLOSES and data.consultation.timezone == TZ
    assert [t.name for t in data.townships] == ["青山镇", "绿水镇"]
    assert len(data.items) == 6 and {i.township for i in data.items} == {"青山镇", "绿水镇"}
    assert data.questionnaire is not None and data.questionnaire.id == "t"
    by_pseudonym = {r.pseudonym: r for r in data.responses}
    first = by_pseudonym[pseudonym(KEY, 1001)]
    item_id = data.items[0].id
    assert first.answers == {"aware": "yes", "sat": 5, "needs": ["a", "b"], "rate": {str(item_id): 4},
                             "say": "多办实事"}
    assert first.township == "青山镇" and first.completed_at is not None
    assert by_pseudonym[pseudonym(KEY, 1002)].answers["say"] is None
    assert by_pseudonym[pseudonym(KEY, 1003)].completed_at is None
    assert by_pseudonym[pseudonym(KEY, 1005)].answers == {}
    assert [c.kind for c in data.comments] == ["basis", "wording", "to_basic", "wording", "other", "missing"]
    first_comment = data.comments[0]
    assert (first_comment.item_name, first_comment.part, first_comment.township) == ("最低生活保障申请受理", "basic",
                                                                                     "青山镇")
    assert first_comment.pseudonym == pseudonym(KEY, 2001)
    assert data.comments[3].hidden and data.comments[4].status == "withdrawn"
    assert data.comments[5].missing == {"name": "河道日常巡查", "part": "basic"} and data.comments[5].item_id is None
    assert [(o.department, o.township, o.method) for o in data.offlist] == [("县住建局", "青山镇", "document")]
    assert first.started_at.microsecond == 120015
    assert _person_ids_in(data) == []  # people only as pseudonyms
    assert _person_ids_in([data.responses[0], {"by": "1001"}, ("x", 2002)]) == ["1001", 2002]  # (it finds them)


def _cells(xlsx: bytes) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


async def test_the_sql_summary_equals_the_summary_of_every_answer(session_factory) -> None:
    """GROUP BY in the database and one pass over the listed answers give the same summary."""
    async with session_factory() as s:
        cid = await seed(s)
        await s.execute(sa.update(Response.__table__).where(Response.person_id == 1004)
                        .values(started_at=CLOSES - timedelta(days=1)))
        await s.commit()
    window = (CLOSES - timedelta(days=2), CLOSES)
    async with session_factory() as s:
        rows = await load_consultation_data(s, cid, KEY, TZ, answers=True)
        summed = await load_consultation_data(s, cid, KEY, TZ, window=window)
    assert rows.summary is None and summed.responses == []
    assert summed.summary == summarize(rows, window)
    summary = summed.summary
    assert summary.window is not None and (summary.window.started, summary.window.completed) == (1, 0)
    by_id = {r.question.id: r for r in summary.questions}
    assert by_id["needs"].counts == {"a": 2, "b": 2}
    item_id = rows.items[0].id
    assert by_id["rate"].ratings == {item_id: {4: 1, 2: 1}, rows.items[3].id: {5: 1}}
    assert [(a.question_id, a.text, a.township, a.pseudonym) for a in summary.texts] == [
        ("say", "多办实事", "青山镇", pseudonym(KEY, 1001)), ("say", "=1+1", "绿水镇", pseudonym(KEY, 1004))]
    assert _cells(build_workbook(summed)) == _cells(build_workbook(rows))
    assert feedback_report(summed) == feedback_report(rows)
    assert digest(summed, *window).text() == digest(rows, *window).text()


async def test_group_by_figures_equal_the_figures_from_the_snapshot(session_factory) -> None:
    async with session_factory() as s:
        cid = await seed(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ)
        figures = await plain_group_by_figures(s, cid)
        counts = await stats(s, cid)
    assert figures == headline_figures(data)
    assert figures["townships"] == {"青山镇": {"started": 3, "completed": 2}, "绿水镇": {"started": 2, "completed": 1}}
    assert figures["comments_by_kind"] == {"basis": 1, "missing": 1, "wording": 1, "to_basic": 1}
    assert figures["comments_by_decision"] == {"adopted": 1, "partly": 0, "rejected": 1, "none": 2}
    assert figures["answered"] == {"aware": 4, "sat": 3, "needs": 3, "rate": 3, "say": 2}
    assert figures["distribution"] == {"aware": {"no": 1, "yes": 3}, "sat": {"3": 1, "5": 1, "unsure": 1}}
    assert counts["offlist"] == 1 and counts["townships"] == figures["townships"]


async def test_reports_build_from_the_stored_consultation(session_factory) -> None:
    async with session_factory() as s:
        cid = await seed(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ, window=(None, CLOSES - timedelta(days=1)))
    assert build_workbook(data)[:2] == b"PK"
    text = feedback_report(data)
    assert "共收到意见 4 条，其中采纳 1 条、部分采纳 0 条、不采纳 1 条，尚未答复 2 条" in text
    d = digest(data, None, CLOSES - timedelta(days=1))
    assert (d.total_started, d.total_completed, d.total_comments) == (5, 3, 4)


async def test_a_digest_is_loaded_without_reading_a_single_answer_row(session_factory) -> None:
    """The digest shows progress, comments and off-list reports, no question: loaded for
    it (results=False, texts=False) no statement reads the answer table — the GROUP BY
    over every answer is the report's costliest read — and the digest is the same."""
    async with session_factory() as s:
        cid = await seed(s)
    window = (CLOSES - timedelta(days=4), CLOSES - timedelta(days=1))
    engine = s.bind.sync_engine
    statements: dict[str, list[str]] = {"full": [], "light": []}
    current = ["full"]

    def seen(conn, cursor, statement, *args) -> None:
        statements[current[0]].append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        async with session_factory() as s:
            full = await load_consultation_data(s, cid, KEY, TZ, window=window)
        current[0] = "light"
        async with session_factory() as s:
            light = await load_consultation_data(s, cid, KEY, TZ, window=window, texts=False, results=False)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)

    def reads_answers(which: str) -> bool:
        return any(re.search(r"\banswer\b", x) for x in statements[which])

    assert reads_answers("full") and statements["light"] and not reads_answers("light")
    assert light.summary is not None and light.summary.questions == [] and light.summary.texts == []
    assert digest(light, *window) == digest(full, *window)
    assert digest(light, *window).text() == digest(full, *window).text()


async def test_responses_from_a_township_no_longer_linked_keep_its_name(session_factory) -> None:
    async with session_factory() as s:
        cid = await seed(s)
        other = await lists.get_township(s, "白云乡")
        await s.execute(sa.insert(Response.__table__).values(
            consultation_id=cid, person_id=1009, township_id=other.id, started_at=CLOSES, updated_at=CLOSES))
        await s.commit()
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ, answers=True)
        summed = await load_consultation_data(s, cid, KEY, TZ)
        figures = await plain_group_by_figures(s, cid)
    assert {r.township for r in data.responses} == {"青山镇", "绿水镇", "白云乡"}
    assert figures == headline_figures(data) == headline_figures(summed)
    assert [p.township for p in summed.summary.progress] == ["青山镇", "绿水镇", "白云乡"]


async def test_an_in_memory_database_is_read_one_read_at_a_time() -> None:
    """Reports read on connections of their own, side by side — except where the pool
    has one connection for all (an in-memory SQLite database): there the reads go one
    after another through the caller's session, never two at once on the connection."""
    engine = make_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    out = [0]
    most = [0]

    def checkout(*_: object) -> None:
        out[0] += 1
        most[0] = max(most[0], out[0])

    def checkin(*_: object) -> None:
        out[0] -= 1

    sa.event.listen(engine.sync_engine.pool, "checkout", checkout)
    sa.event.listen(engine.sync_engine.pool, "checkin", checkin)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            cid = await seed(s)
        async with sessions() as s:
            rows = await load_consultation_data(s, cid, KEY, TZ, answers=True)
            most[0] = out[0]  # the session holds its connection
            summed = await load_consultation_data(s, cid, KEY, TZ)
    finally:
        await engine.dispose()
    assert most[0] == 1
    assert summed.summary is not None and summed.summary == summarize(rows)
    assert [p.started for p in summed.summary.progress] == [3, 2]
    assert len(summed.comments) == 6 and len(summed.offlist) == 1 and len(summed.summary.texts) == 2


async def test_a_failing_read_raises_its_own_error_and_stops_the_others(session_factory) -> None:
    """The report's reads run side by side; when one fails, its error comes out as it is
    (not wrapped), and the reads still running are stopped and give back their
    connections."""
    started = asyncio.Event()
    stopped: list[bool] = []

    async def slow(conn) -> None:
        await conn.execute(sa.text("select 1"))
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append(True)
            raise

    async def failing(conn) -> None:
        await started.wait()
        await conn.execute(sa.text("select * from no_such_table"))

    async with session_factory() as s:
        pool = s.bind.sync_engine.pool
        with pytest.raises(sa.exc.DBAPIError):
            await asyncio.wait_for(_Reads(s).all(slow, failing), 10)
        assert stopped == [True]
        assert pool.checkedout() == 0


# --- a consultation built by hand, through the same calls the bot makes -----------------------------

HAND_QUESTIONNAIRE = """\
id: hand
title: 问卷
intro: 测试
questions:
  - id: aware
    type: single
    text: {zh_CN: 您知道吗？, en: "Do you know?"}
    options:
      - {id: "yes", text: {zh_CN: 知道, en: "Yes"}}
      - {id: "no", text: {zh_CN: 不知道, en: "No"}}
      - {id: "maybe", text: {zh_CN: 听说过, en: "Heard of it"}}
  - id: sat
    type: scale
    text: {zh_CN: 您满意吗？, en: "Satisfied?"}
    allow_unsure: true
  - id: say
    type: text
    required: false
    text: {zh_CN: 建议, en: "Suggestions"}
"""


async def hand_built(session: AsyncSession) -> tuple[int, datetime]:
    """Three townships (白云乡: nobody); six residents, one of whom edits two answers, one
    skips one, one stops halfway and one then deletes everything (/delete_me); nine cadres'
    comments: one of each decision, one unanswered, two withdrawn, one hidden, one by a cadre
    who deletes everything; three off-list reports, one withdrawn and one by that cadre.
    Returns the consultation id and the time of the digest."""
    from storage import comments as cm
    from storage.people import delete_person
    from surveys.consultation import Status

    a = await lists.save_list(session, "青山镇", ITEMS)
    b = await lists.save_list(session, "绿水镇", ITEMS)
    c_ = await lists.save_list(session, "白云乡", ITEMS)
    now = CLOSES - timedelta(days=3)
    c = await consultations.create_consultation(session, title="青山县清单征求意见", questionnaire=HAND_QUESTIONNAIRE,
                                                closes_at=CLOSES, list_ids=[a.id, b.id, c_.id],
                                                opens_at=CLOSES - timedelta(days=14))
    await consultations.set_status(session, c, Status.OPEN, now - timedelta(days=5))
    qa = (await lists.load_list(session, a.id)).items
    qb = (await lists.load_list(session, b.id)).items
    for pid, township, values, done in (
        (1, a, {"aware": "yes", "sat": 5, "say": '=HYPERLINK("http://x")'}, True),
        (2, a, {"aware": "no", "sat": None, "say": None}, True),  # skipped
        (3, a, {"aware": "yes", "sat": "unsure"}, True),
        (4, b, {"aware": "maybe", "sat": 2}, True),
        (5, b, {"aware": "yes"}, False),
        (6, b, {"aware": "no", "sat": 1, "say": "删掉我"}, True),  # /delete_me below
    ):
        rid = await consultations.start_response(session, c.id, pid, township.township_id)
        await consultations.save_answers(session, rid, values)
        if done:
            await consultations.set_completed(session, rid, True)
    rid = await consultations.start_response(session, c.id, 4, b.township_id)  # resident 4 changes two answers
    await consultations.save_answers(session, rid, {"aware": "yes", "sat": 4})
    k = {"consultation_id": c.id, "now": now}
    ids = [(await cm.add_comment(session, **k, **kw)).id for kw in (
        {"item_id": qa[0].id, "person_id": 101, "township_id": a.township_id, "kind": "basis", "text": "依据缺失"},
        {"item_id": qa[0].id, "person_id": 101, "township_id": a.township_id, "kind": "wording", "text": "-表述不清",
         "proposed_wording": "+新表述"},
        {"item_id": qb[1].id, "person_id": 102, "township_id": b.township_id, "kind": "to_basic", "text": "@应为基本"},
        {"item_id": qb[2].id, "person_id": 102, "township_id": b.township_id, "kind": "other", "text": "撤回的意见"},
        {"item_id": None, "person_id": 102, "township_id": b.township_id, "kind": "missing", "text": "河道巡查",
         "missing": {"name": "=河道日常巡查", "part": "basic"}},
        {"item_id": None, "person_id": 101, "township_id": a.township_id, "kind": "missing", "text": "撤回的遗漏",
         "missing": {"name": "撤回项", "part": "basic"}},
        {"item_id": qa[1].id, "person_id": 103, "township_id": a.township_id, "kind": "other", "text": "删除者的意见"},
        {"item_id": qa[1].id, "person_id": 101, "township_id": a.township_id, "kind": "other", "text": "隐藏的意见"},
        {"item_id": qb[0].id, "person_id": 102, "township_id": b.township_id, "kind": "withdraw", "text": "人手不足"},
    )]
    assert (await cm.withdraw_comment(session, ids[3], 102, now))[1] == "ok"
    assert (await cm.withdraw_comment(session, ids[5], 101, now))[1] == "ok"
    await cm.answer_comment(session, ids[0], "adopted", "已补充", 9, now)
    await cm.answer_comment(session, ids[1], "partly", "=部分修改", 9, now)
    await cm.answer_comment(session, ids[2], "rejected", "保持配合事项", 9, now)
    await cm.answer_comment(session, ids[4], "rejected", "不属于乡镇职责", 9, now)
    await cm.hide_comment(session, ids[7])
    report = {"consultation_id": c.id, "township_id": a.township_id, "assigned_on": "2026-11-01", "now": now}
    await cm.add_report(session, person_id=101, department="县住建局", task="=自建房排查", method="document",
                        details="-三天内完成", **report)
    withdrawn = await cm.add_report(session, person_id=101, department="县应急局", task="撤回的报告", method="phone",
                                    details="", **report)
    await cm.add_report(session, person_id=103, department="县应急局", task="删除者的报告", method="phone", details="",
                        **report)
    await session.commit()
    assert await cm.withdraw_report(session, str(withdrawn.id), 101) == "ok"
    await delete_person(session, 6)
    await delete_person(session, 103)
    await session.commit()
    return c.id, now + timedelta(hours=1)


async def test_a_hand_built_consultation_reports_the_figures_worked_out_by_hand(session_factory) -> None:
    """青山镇 3 started, 3 completed; 绿水镇 2 and 1 (resident 6 deleted); 白云乡 none: 5 and 4,
    80.0%. aware: 知道 4 (resident 4's final answer), 不知道 1 of 5. sat: 5, unsure and 4 (2's
    skip not counted; 4's final 4, not 2): 3 answered, 100.0% of the 2 with an opinion
    satisfied, mean 4.50. Comments active: 1 adopted, 2 partly, 3 and 5 rejected, 9
    unanswered = 5 (4 and 6 withdrawn, 8 hidden, 7 deleted with its author); 青山镇 2, 绿水镇 3.
    Off-list: 1 (one withdrawn, one deleted with its author)."""
    async with session_factory() as s:
        cid, now = await hand_built(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ)
        light = await load_consultation_data(s, cid, KEY, TZ, window=(None, now), texts=False, results=False)
        figures = await plain_group_by_figures(s, cid)
    assert figures == headline_figures(data)
    assert figures["townships"] == {"青山镇": {"started": 3, "completed": 3}, "绿水镇": {"started": 2, "completed": 1},
                                    "白云乡": {"started": 0, "completed": 0}}
    assert figures["comments_by_decision"] == {"adopted": 1, "partly": 1, "rejected": 2, "none": 1}
    assert figures["comments_by_kind"] == {"basis": 1, "missing": 1, "to_basic": 1, "withdraw": 1, "wording": 1}
    assert figures["offlist"] == 1
    assert figures["distribution"] == {"aware": {"no": 1, "yes": 4}, "sat": {"4": 1, "5": 1, "unsure": 1}}

    book = _cells(build_workbook(data))
    summary = book["概况"]
    assert summary[6:11] == [("乡镇（街道）", "开始答卷人数", "完成答卷人数", "完成率", None, None), ("青山镇", 3, 3, 1, None, None),
                             ("绿水镇", 2, 1, 0.5, None, None), ("白云乡", 0, 0, None, None, None), ("合计", 5, 4, 0.8, None, None)]
    decided = summary[summary.index(("处理结果", "条数", None, None, None, None)) + 1:][:4]
    assert decided == [("采纳", 1, None, None, None, None), ("部分采纳", 1, None, None, None, None), ("不采纳", 2, None, None, None, None),
                       ("尚未答复", 1, None, None, None, None)]
    assert ("遗漏事项建议（条）", 1, None, None, None, None) in summary and ("清单外事项报告（条）", 1, None, None, None, None) in summary
    questions = book["问卷结果"]
    assert [r[3:6] for r in questions if r[0] == "aware"] == [("回答人数", 5, None), ("知道", 4, 0.8),
                                                              ("不知道", 1, 0.2), ("听说过", 0, 0)]
    sat = [r for r in questions if r[0] == "sat"]
    assert sat[0][3:5] == ("回答人数", 3) and [r[4] for r in sat[1:7]] == [0, 0, 0, 1, 1, 1]
    assert sat[-1][6] == 4.5
    assert book["文字意见"][1:] == [("say", "建议", "'=HYPERLINK(\"http://x\")", "青山镇", pseudonym(KEY, 1))]
    listed = book["意见"][1:]
    assert [r[7] for r in listed] == ["有效", "有效", "有效", "已撤回", "有效", "已撤回", "有效"]
    assert [r[8] for r in listed] == ["采纳", "部分采纳", "不采纳", None, "不采纳", None, "尚未答复"]
    assert [r[5] for r in listed][:3] == ["依据缺失", "'-表述不清", "'@应为基本"]
    assert [r[2] for r in book["遗漏事项"][1:]] == ["'=河道日常巡查"]
    assert book["清单外事项"][1:] == [("青山镇", "县住建局", "'=自建房排查", "2026-11-01", "文件", "'-三天内完成",
                                       pseudonym(KEY, 101), datetime(2026, 12, 7, 18, 0))]
    texts = [v for rows in book.values() for r in rows for v in r if isinstance(v, str)]
    assert not [v for v in texts if v[:1] in ("=", "+", "-", "@")]  # user text never read as a formula
    assert not {"删掉我", "删除者的意见", "删除者的报告", "隐藏的意见", "撤回的报告"} & set(texts)

    text = feedback_report(data)
    assert "共收到意见 5 条，其中采纳 1 条、部分采纳 1 条、不采纳 2 条，尚未答复 1 条。涉及具体事项的意见 4 条，" \
           "建议增加遗漏事项 1 条；另收到清单外事项报告 1 条。" in text
    assert "按乡镇（街道）分：\n青山镇：2 条，" in text and "\n绿水镇：3 条，" in text and "\n白云乡：未提出意见。" in text
    assert "共有 5 名群众参与问卷，完成 4 份（完成率 80.0%）。" in text
    assert "其中，青山镇 3 人参与、完成 3 份；绿水镇 2 人参与、完成 1 份；白云乡 0 人参与、完成 0 份。" in text
    assert "“您知道吗？”：5 人作答，“知道”占 80.0%、“不知道”占 20.0%。" in text
    assert "“您满意吗？”：3 人作答，其中 1 人表示不清楚；其余 2 人中表示满意（4–5 分）的占 100.0%，平均 4.50 分。" in text
    assert "1. 最低生活保障申请受理（3 条）" in text and "1. 县住建局：1 条（=自建房排查）" in text
    assert "撤回" not in text.replace("上级部门收回", "") and "删除者" not in text
    assert "组织者已隐藏 1 条意见，未计入以上统计。" in text and "隐藏" not in text.replace("组织者已隐藏 1 条意见", "")
    en = feedback_report(data, "en")
    assert "Comments received: 5 — 1 adopted, 1 partly adopted, 2 not adopted and 1 unanswered." in en
    assert "5 residents took part and 4 completed the questionnaire (80.0%)." in en

    d = digest(light, None, now)
    assert (d.total_started, d.total_completed, d.total_comments, d.new_offlist) == (5, 4, 5, 1)
    assert [(t.name, t.comments) for t in d.top_items] == [("最低生活保障申请受理", 3), ("矛盾纠纷排查化解", 1)]
    shown = d.text()
    assert "累计：开始答卷 5 人，完成 4 人（完成率 80.0%）；有效意见 5 条。" in shown
    assert "· 绿水镇：完成 1/2（50.0%）" in shown and "· 白云乡：完成 0/0（—）" in shown
    assert "In all: 5 started, 4 completed (80.0%); 5 comments." in d.text("en")


async def test_once_a_revised_list_is_published_the_feedback_report_says_what_changed(session_factory) -> None:
    """The draft 反馈情况说明 sent with /export after publishing ("修改后的清单已发布") said how
    each comment was handled but not what changed in the list. It now has a section with what
    changed in each township whose revised list was published (only those)."""
    from storage.models import Consultation
    from surveys.consultation import Status
    from surveys.duty_list import ListStatus

    async with session_factory() as s:
        cid = await seed(s)
    async with session_factory() as s:
        c = await s.get(Consultation, cid)
        await consultations.set_status(s, c, Status.OPEN, CLOSES - timedelta(days=10))
        await consultations.set_status(s, c, Status.CLOSED, CLOSES - timedelta(days=1))
        data = await load_consultation_data(s, cid, KEY, TZ)
        assert "清单修改情况" not in feedback_report(data)  # closed, nothing published yet
        revised = [ITEMS[0], DutyItem(Part.COOPERATING, "矛盾纠纷排查化解", category="平安法治",
                                      county_department="县司法局"), DutyItem(Part.BASIC, "河道日常巡查")]
        row = await lists.save_list(s, "青山镇", revised)
        await lists.set_status(s, row.id, ListStatus.PUBLISHED)
        await consultations.set_status(s, c, Status.REPORTED)
        await s.commit()
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ)
    text = feedback_report(data)
    section = text[text.index("五、清单修改情况"):text.index("六、群众问卷情况")]
    assert "1. 青山镇（第 2 版）" in section and "2. 绿水镇：修改后的清单尚未发布。" in section
    assert "新增 1 项：河道日常巡查（基本履职事项）。" in section
    assert "删除 1 项：违法建设整治（配合履职事项）。" in section
    assert "由基本履职事项移至配合履职事项 1 项：矛盾纠纷排查化解。" in section
    en = feedback_report(data, "en")
    assert "5. Changes made to the list\n1. 青山镇 (version 2)\n" in en


async def test_the_changes_section_describes_the_list_published_after_this_consultation_not_a_later_one(
        session_factory) -> None:
    """清单修改情况 took each township's newest published list: once a later consultation on the
    revised list had its own revision published, the first consultation's 反馈情况说明 described
    that later list (第 3 版), not the one its comments led to (第 2 版). It describes the list
    published as this consultation's outcome, and says of a township whose revised list is not
    published yet that it is not."""
    from storage.models import Consultation
    from surveys.consultation import Status
    from surveys.duty_list import ListStatus

    async with session_factory() as s:
        cid = await seed(s)
    async with session_factory() as s:
        c = await s.get(Consultation, cid)
        await consultations.set_status(s, c, Status.OPEN, CLOSES - timedelta(days=10))
        await consultations.set_status(s, c, Status.CLOSED, CLOSES - timedelta(days=1))
        second = [ITEMS[0], ITEMS[1], DutyItem(Part.BASIC, "河道日常巡查")]
        v2 = await lists.save_list(s, "青山镇", second)
        await lists.set_status(s, v2.id, ListStatus.PUBLISHED)
        await consultations.set_status(s, c, Status.REPORTED)
        later = await consultations.create_consultation(s, title="青山镇清单再次征求意见", questionnaire=QUESTIONNAIRE,
                                                        closes_at=CLOSES + timedelta(days=60), list_ids=[v2.id],
                                                        opens_at=CLOSES + timedelta(days=40))
        v3 = await lists.save_list(s, "青山镇", [*second, DutyItem(Part.BASIC, "农村公路日常养护")])
        await lists.set_status(s, v3.id, ListStatus.PUBLISHED)
        await s.commit()
    async with session_factory() as s:
        first = feedback_report(await load_consultation_data(s, cid, KEY, TZ))
        then = feedback_report(await load_consultation_data(s, later.id, KEY, TZ))
    section = first[first.index("五、清单修改情况"):first.index("六、群众问卷情况")]
    assert "1. 青山镇（第 2 版）" in section and "第 3 版" not in section
    assert "新增 1 项：河道日常巡查（基本履职事项）。" in section and "农村公路日常养护" not in section
    assert "2. 绿水镇：修改后的清单尚未发布。" in section
    assert "第 3 版" not in then  # (the later consultation was never reported: no section yet)


async def test_the_workbook_gives_each_townships_comments_as_stats_and_the_digest_do(session_factory) -> None:
    """/stats and the digest say "青山镇 … 意见 2 条"; the workbook had no such figure, and
    counting 青山镇's rows of its 意见 sheet gave 4 (the withdrawn are listed there too). Its
    概况 sheet now has the comments of each township (answered and not), every consulted
    township in order, with the same numbers."""
    from storage.comments import comment_counts_by_township

    async with session_factory() as s:
        cid, now = await hand_built(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ)
        light = await load_consultation_data(s, cid, KEY, TZ, window=(None, now), texts=False, results=False)
        by_id = await comment_counts_by_township(s, cid)
    summary = _cells(build_workbook(data))["概况"]
    head = summary.index(("乡镇（街道）", "意见条数", "采纳", "部分采纳", "不采纳", "尚未答复"))
    table = summary[head + 1:head + 5]
    assert table == [("青山镇", 2, 1, 1, 0, 0), ("绿水镇", 3, 0, 0, 2, 1), ("白云乡", 0, 0, 0, 0, 0),
                     ("合计", 5, 1, 1, 2, 1)]
    stats = {t.name: by_id.get(t.id, 0) for t in data.townships}  # what /stats shows
    assert {row[0]: row[1] for row in table[:-1]} == stats
    d = digest(light, None, now)
    assert {row[0]: row[1] for row in table[:-1] if row[1]} == d.comments_by_township
    assert ("Township", "Comments", "Adopted", "Partly adopted", "Not adopted", "Unanswered") \
        in _cells(build_workbook(data, "en"))["Summary"]


async def test_the_workbook_splits_each_townships_comments_as_the_feedback_report_does(session_factory) -> None:
    """The 反馈情况说明 says of each township 采纳 / 部分采纳 / 不采纳 / 尚未答复; the workbook's 概况
    gave only 已答复 / 未答复 there, so the organizer pasting figures from both could not match
    them. Its township table now has the same four columns, with the same numbers."""
    async with session_factory() as s:
        cid, _ = await hand_built(s)
    async with session_factory() as s:
        data = await load_consultation_data(s, cid, KEY, TZ)
    summary = _cells(build_workbook(data))["概况"]
    head = summary.index(("乡镇（街道）", "意见条数", "采纳", "部分采纳", "不采纳", "尚未答复"))
    text = feedback_report(data)
    said = re.findall(r"^(\S+)：(\d+) 条，其中采纳 (\d+) 条、部分采纳 (\d+) 条、不采纳 (\d+) 条，尚未答复 (\d+) 条。$",
                      text, re.M)
    assert said and [(name, *map(int, n)) for name, *n in said] == \
        [row for row in summary[head + 1:head + 1 + len(said)]]
