"""The group commit's batch write (storage.group_commit) on both databases: in one
batch, each change gets its own outcome — committed, already processed, or stale —
and only the committed ones leave anything behind (rows, answers, their update mark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from storage.answer_path import answer_path
from storage.consultations import create_consultation, set_status, start_response
from storage.engine import make_sessionmaker
from storage.group_commit import Outcome
from storage.lists import save_list
from storage.models import Answer, Person, ProcessedUpdate, Response
from storage.responses import Change, load_state
from surveys.consultation import Status
from surveys.duty_list import DutyItem, Part

QUESTIONNAIRE = "id: t\ntitle: 测\nquestions:\n  - id: q0\n    type: scale\n    text: 满意吗？\n" \
                "  - id: q1\n    type: scale\n    text: 满意吗？\n"


async def test_one_batch_commits_refuses_duplicates_and_stale_changes_each_on_its_own(database):
    engine = database.engine()
    sessions = make_sessionmaker(engine)
    try:
        now = datetime.now(UTC)
        async with sessions() as s:
            row = await save_list(s, "甲镇", [DutyItem(Part.BASIC, "事项", basis="法")])
            c = await create_consultation(s, title="测", questionnaire=QUESTIONNAIRE, closes_at=now + timedelta(days=3),
                                          opens_at=now - timedelta(days=1), list_ids=[row.id])
            await set_status(s, c, Status.OPEN)
            township = (await s.execute(sa.text("select township_id from duty_list where id=:i"), {"i": row.id})).scalar()
            ids = []
            for pid in (11, 12, 13):
                s.add(Person(id=pid, first_name="U", role="resident"))
                await s.flush()
                ids.append(await start_response(s, c.id, pid, township))
            s.add(ProcessedUpdate(update_id=502))  # update 502 was handled before
            await s.commit()
            states = [await load_state(s, rid) for rid in ids]
        a, b, stale = states
        stale_old = type(stale)(**{**stale.__dict__, "version": stale.version - 1})  # a copy one version behind
        writer = answer_path(engine).writer
        changes = [
            Change(update_id=501, state=a, screen={"at": "q1"}, message_id=90, set_answers={"q0": 4},
                   person={"id": 11, "first_name": "新名字"}),
            Change(update_id=502, state=b, screen={"at": "q1"}, message_id=91, set_answers={"q0": 2}),
            Change(update_id=503, state=stale_old, screen={"at": "q1"}, message_id=92, set_answers={"q0": 5}),
            Change(update_id=504),  # a press refused: only its mark
            Change(update_id=501, state=a, set_answers={"q0": 1}),  # the same update again in the batch
        ]
        outcomes = await writer._write(changes)
        assert outcomes == [Outcome.COMMITTED, Outcome.DUPLICATE, Outcome.STALE, Outcome.COMMITTED, Outcome.DUPLICATE]

        async with sessions() as s:
            marks = set((await s.scalars(sa.select(ProcessedUpdate.update_id))).all())
            assert marks == {501, 502, 504}  # the stale change left no mark: its press is computed again
            answers = {(r, q): v for r, q, v in (await s.execute(
                sa.select(Answer.response_id, Answer.question_id, Answer.value))).all()}
            assert answers == {(a.id, "q0"): 4}
            versions = dict((await s.execute(sa.select(Response.id, Response.version))).all())
            assert versions == {a.id: a.version + 1, b.id: b.version, stale.id: stale.version}
            assert await s.scalar(sa.select(Response.message_id).where(Response.id == a.id)) == 90
            assert await s.scalar(sa.select(Person.first_name).where(Person.id == 11)) == "新名字"

        # the next change of the committed response drops an answer and completes it
        after = changes[0].after()
        assert after is not None
        assert await writer._write([Change(update_id=505, state=after, drop_answers=["q0"], set_answers={"q1": 3},
                                           completed=True)]) == [Outcome.COMMITTED]
        async with sessions() as s:
            answers = {q: v for q, v in (await s.execute(
                sa.select(Answer.question_id, Answer.value).where(Answer.response_id == a.id))).all()}
            assert answers == {"q1": 3}
            assert await s.scalar(sa.select(Response.completed_at).where(Response.id == a.id)) is not None
    finally:
        answer_path(engine).direct.close()
        await engine.dispose()
