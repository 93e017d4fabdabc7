"""`qingdan db upgrade` on a database made at each older revision (0001 to 0006) that
holds data — a list, an open consultation, a resident half-way, a cadre's comment and
report, an invite, deliveries, the FSM — reaches the newest schema with every row as it
was, and the bot goes on with it: the resident resumes where they were, the cadre sees
their comment. On SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import build_dispatcher, create_bot
from bot.broadcaster import Broadcaster
from bot.config import Settings
from bot.testing import TEST_TOKEN, RecordingSession
from storage.engine import make_engine, make_sessionmaker, sync_url
from storage.fsm import SQLStorage
from storage.migrate import schema_state, upgrade
from storage.models import FSMRecord
from surveys.consultation import FollowUp
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
from tests.bot.conftest import ORGANIZER, Clock, Harness

REPO = Path(__file__).resolve().parents[2]
RESIDENT, CADRE = 5001, 6001
CODE = "qsz2026a"
T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Rows as the newest schema has them; each revision gets the columns it has."""
    return {
        "township": [{"id": 1, "name": "青山镇", "created_at": T0}],
        "duty_list": [{"id": 1, "township_id": 1, "version": "1", "status": "draft", "source_file": "d.xlsx",
                       "created_at": T0}],
        "duty_item": [{"id": n, "list_id": 1, "position": n, "part": "basic", "seq": n, "category": "民生服务",
                       "subcategory": "", "name": name, "content": "", "basis": "《社会救助暂行办法》",
                       "county_department": "县民政局", "county_duty": "", "receiving_department": "",
                       "working_mode": "", "remarks": ""}
                      for n, name in ((1, "最低生活保障申请受理"), (2, "矛盾纠纷排查化解与人民调解"))],
        "person": [
            {"id": RESIDENT, "first_name": "张大爷", "language": "", "language_chosen": False, "role": "resident",
             "township_id": None, "active": True, "created_at": T0},
            {"id": CADRE, "first_name": "李干部", "language": "zh_CN", "language_chosen": True, "role": "cadre",
             "township_id": 1, "active": True, "created_at": T0},
            {"id": ORGANIZER, "first_name": "王主任", "language": "", "language_chosen": False, "role": "organizer",
             "township_id": None, "active": True, "created_at": T0},
        ],
        "consultation": [{"id": 1, "title": "青山镇履职事项清单征求意见", "intro": "",
                          "questionnaire": DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"), "opens_at": T0,
                          "closes_at": datetime(2026, 12, 11, 2, 0, tzinfo=UTC), "status": "open",
                          "settings": FollowUp().to_dict(), "created_by": ORGANIZER, "created_at": T0,
                          "closed_at": None, "last_digest_at": None}],
        "consultation_township": [{"id": 1, "consultation_id": 1, "township_id": 1, "list_id": 1, "code": CODE}],
        "response": [{"id": 1, "consultation_id": 1, "person_id": RESIDENT, "township_id": 1, "started_at": T0,
                      "updated_at": T0, "completed_at": None, "message_id": 77, "screen": {"cur": "sat_welfare"},
                      "version": 3}],
        "answer": [{"id": 1, "response_id": 1, "question_id": "aware", "value": "well", "answered_at": T0}],
        "processed_update": [{"update_id": 9_000_000_000, "processed_at": T0}],
        "comment": [{"id": 1, "consultation_id": 1, "item_id": 1, "person_id": CADRE, "township_id": 1,
                     "kind": "wording", "text": "表述不够具体", "proposed_wording": "最低生活保障的申请受理和入户调查",
                     "missing": {}, "status": "open", "decision": None, "reply": "", "replied_by": None,
                     "replied_at": None, "hidden": False, "created_at": T0, "updated_at": T0}],
        "offlist_report": [{"id": 1, "consultation_id": 1, "person_id": CADRE, "township_id": 1,
                            "department": "县住建局", "task": "农房安全排查台账", "assigned_on": "2026-10",
                            "method": "notice", "details": "", "created_at": T0}],
        "invite": [{"code": "INVITE-UNUSED", "township_id": 1, "role": "cadre", "created_by": ORGANIZER,
                    "created_at": T0, "expires_at": datetime(2027, 1, 1, tzinfo=UTC), "used_by": None,
                    "used_at": None, "revoked_at": None}],
        "delivery": [{"id": 1, "broadcast_key": "remind:1:nudge", "person_id": RESIDENT, "status": "sent",
                      "attempts": 1, "created_at": T0, "sent_at": T0, "message_id": 78}],
        "fsm_state": [{"key": f"qingdan:{CADRE}:{CADRE}", "state": None, "data": {"lang": "zh_CN"}}],
    }


def _snapshot(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """The seeded columns of every seeded table, as the database gives them back."""
    meta = sa.MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, rows in _rows().items():
            if name not in meta.tables:
                continue
            table = meta.tables[name]
            cols = [table.c[c] for c in rows[0] if c in table.c]
            out[name] = [dict(r._mapping) for r in conn.execute(sa.select(*cols).order_by(*table.primary_key.columns))]
    return out


def _seed(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = sa.create_engine(sync_url(url))
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for name, rows in _rows().items():
            table = meta.tables[name]
            conn.execute(table.insert(), [{k: v for k, v in r.items() if k in table.c} for r in rows])
        if engine.dialect.name == "postgresql":  # ids given: move the sequences past them, as a real database has
            for name in _rows():
                if "id" in meta.tables[name].c:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT max(id) FROM {name}))"))
    try:
        return _snapshot(engine)
    finally:
        engine.dispose()


def _db_upgrade(url: str, cwd: Path) -> subprocess.CompletedProcess:
    """`qingdan db upgrade`, as the README's upgrade step runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "LOCALE"))}
    env.update(DATABASE_URL=url, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("empty_postgres")


@pytest.mark.parametrize("revision", ["0001", "0002", "0003", "0004", "0005", "0006"])
async def test_an_older_database_with_data_upgrades_intact_and_the_bot_goes_on(empty_url: str, revision: str,
                                                                             tmp_path: Path) -> None:
    upgrade(empty_url, revision)
    before = _seed(empty_url)

    upgrading = datetime.now(UTC).replace(microsecond=0)
    done = _db_upgrade(empty_url, tmp_path)
    assert done.returncode == 0 and done.stdout.strip().startswith("数据库结构已是版本 "), done.stderr[-2000:]
    assert schema_state(empty_url).current

    engine = sa.create_engine(sync_url(empty_url))
    try:
        after = _snapshot(engine)
        with engine.connect() as conn:
            chosen = dict(conn.execute(sa.text("SELECT id, language_chosen FROM person")).all())
            written = conn.execute(sa.select(FSMRecord.updated_at)).scalars().all()
    finally:
        engine.dispose()
    for name, rows in before.items():  # the columns the old revision had, row for row
        if name == "person" and revision < "0005":  # (but residents' and cadres' Telegram names, erased by 0005)
            assert [r["first_name"] for r in after[name]] == ["", "", "王主任"]
            rows = [{**r, "first_name": "" if r["role"] != "organizer" else r["first_name"]} for r in rows]
        assert [{k: r[k] for k in rows[0]} for r in after[name]] == rows, name
    assert {k: bool(v) for k, v in chosen.items()} == {RESIDENT: False, CADRE: True, ORGANIZER: False}
    # an FSM row kept from before 0006 counts as written at the upgrade (kept FSM_TTL from then)
    assert len(written) == 1
    if revision < "0006":
        assert upgrading <= written[0] <= datetime.now(UTC), (upgrading, written)

    async_engine = make_engine(empty_url)
    sessions = make_sessionmaker(async_engine)
    settings = Settings(database_url=empty_url, organizer_ids=[ORGANIZER], bot_username="qingdan_test_bot",
                        _env_file=None)
    api = RecordingSession()
    bot = create_bot(settings, session=api, token=TEST_TOKEN)
    clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    dp = build_dispatcher(settings, sessions, SQLStorage(async_engine), clock)
    dp["broadcaster"] = Broadcaster(bot, sessions, rate=1000, per_chat_interval=0)
    h = Harness(dp, bot, api, sessions, settings, clock)
    try:
        resident = h.user(RESIDENT)
        await h.feed(resident.message(f"/start {CODE}"))
        shown = h.api.last(RESIDENT)
        assert "第 2/8 题" in shown.text, shown.text  # the answer given before the upgrade counts
        cadre = h.user(CADRE)
        await h.feed(cadre.message("/mycomments"))
        assert "最低生活保障申请受理" in h.api.last(CADRE).text
        await h.feed(h.user(ORGANIZER).message("/stats"))
        assert h.api.last(ORGANIZER).method == "sendMessage" and "青山镇" in h.api.last(ORGANIZER).text
    finally:
        await async_engine.dispose()
