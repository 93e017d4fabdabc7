"""Answer path vs. the framework floor, in one run with one harness.

Feeds raw updates to aiogram's Dispatcher (`feed_raw_update`; a method the handler
returns is then called, as long polling does: bot.testing.feed) with a recording Bot
session — no network — and compares:

- echo: a bare aiogram Dispatcher whose one handler answers every message;
- press floor: a bare aiogram Dispatcher whose one handler does what any answer to a
  button press must (answer the press, edit the message to the next question with
  its keyboard of nine buttons) and nothing else — no database, no questionnaire;
  what aiogram's object model costs a press before any of our code runs;
- shared floor: the same, with one keyboard built once and shared by every press — what
  a design whose buttons carry nothing of the presser could reach (ours carry the
  response id, so each press builds its keyboard);
- write: the durable write of one answer alone (our group commit: update mark, response
  row at its version, answer row, COMMIT), no aiogram — at least what each answer adds;
- answer: residents answering questionnaire questions through the real routers,
  middlewares and database (each update stores one answer and edits the question).

Sequentially and with N users at once, on SQLite and (when reachable) PostgreSQL.
Prints updates/s of each, the floors' ratios to echo, `bound` — the ratio to echo of a
press that cost the shared floor plus the write and nothing else (1 / (1/shared + 1/write),
÷ echo: the most any durable answer path on aiogram could reach here) — the ratio
answer/echo, and the answer path's p50/p99 latency (best of --repeat interleaved runs of each; `stored` is the
fewest answers any run stored, which must equal the updates). Target: ratio ≥ 0.6.

    .venv/bin/python bench/answer_path.py [--updates 2400] [--concurrency 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiogram import Bot, Dispatcher, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_dispatcher, create_bot, tune_gc  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.routers.resident import QCB  # noqa: E402
from bot.testing import BOT_USERNAME, TEST_TOKEN, RecordingSession, feed  # noqa: E402
from bot.texts import gettext  # noqa: E402
from storage.answer_path import answer_path  # noqa: E402
from storage.consultations import create_consultation, set_status, start_response  # noqa: E402
from storage.engine import make_engine, make_sessionmaker  # noqa: E402
from storage.fsm import SQLStorage  # noqa: E402
from storage.lists import save_list  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Person, Response  # noqa: E402
from storage.responses import Change, ResponseState  # noqa: E402
from surveys.consultation import Status  # noqa: E402
from surveys.duty_list import DutyItem, Part  # noqa: E402

# A questionnaire of scale questions: every press answers one and shows the next.
QUESTIONS = 12
QUESTIONNAIRE = "id: bench\ntitle: 压测\nquestions:\n" + "".join(
    f"  - id: q{n}\n    type: scale\n    text: 第{n}题满意吗？\n" for n in range(QUESTIONS))


def message_update(update_id: int, user_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_790_000_000, "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": "U"},
        "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "zh-hans"}}}


def press_update(update_id: int, user_id: int, message_id: int, data: str) -> dict:
    return {"update_id": update_id, "callback_query": {
        "id": str(update_id), "chat_instance": "ci", "data": data,
        "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "zh-hans"},
        "message": {"message_id": message_id, "date": 1_790_000_000, "text": "…",
                    "chat": {"id": user_id, "type": "private", "first_name": "U"},
                    "from": {"id": 1, "is_bot": True, "first_name": "B"}}}}


async def drive(dp: Dispatcher, bot: Bot, updates: list[dict], concurrency: int) -> list[float]:
    """Feed the updates (at most `concurrency` at once, each user's updates in order);
    return per-update latencies in seconds."""
    latencies: list[float] = []
    if concurrency <= 1:
        for u in updates:
            t = time.perf_counter()
            await feed(dp, bot, u)
            latencies.append(time.perf_counter() - t)
        return latencies
    per_user: dict[int, list[dict]] = {}
    for u in updates:
        uid = (u.get("message") or u.get("callback_query"))["from"]["id"]
        per_user.setdefault(uid, []).append(u)
    sem = asyncio.Semaphore(concurrency)

    async def user(seq: list[dict]) -> None:
        async with sem:
            for u in seq:
                t = time.perf_counter()
                await feed(dp, bot, u)
                latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(user(seq) for seq in per_user.values()))
    return latencies


def figures(name: str, latencies: list[float], wall: float) -> dict:
    lat = sorted(latencies)
    return {"name": name, "n": len(lat), "rate": len(lat) / wall,
            "p50": lat[len(lat) // 2] * 1000, "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000}


async def echo_run(n: int, users: int, concurrency: int) -> dict:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TEST_TOKEN, session=RecordingSession(telegram_checks=False))
    await bot.me()
    updates = [message_update(i + 1, 10_000 + i % users, f"m{i}") for i in range(n)]
    t = time.perf_counter()
    lat = await drive(dp, bot, updates, concurrency)
    return figures("echo", lat, time.perf_counter() - t)


def keyboard_of(data: str) -> InlineKeyboardMarkup:
    """A scale question's nine buttons, their callback data starting with `data`."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=str(p), callback_data=f"{data}{p}") for p in range(1, 6)],
        [InlineKeyboardButton(text="说不清", callback_data=f"{data}u")],
        [InlineKeyboardButton(text=label, callback_data=f"{data}{a}") for a, label in
         (("b", "上一题"), ("s", "跳过"), ("z", "暂停"))]])


async def press_floor_run(n: int, users: int, concurrency: int, shared: bool = False) -> dict:
    router = Router()
    one = keyboard_of("q:")

    @router.callback_query()
    async def press(query: CallbackQuery) -> None:
        data = query.data or ""
        keyboard = one if shared else keyboard_of(data)
        await query.answer()
        await query.message.edit_text(f"<b>{data}</b>", reply_markup=keyboard)  # type: ignore[union-attr]

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TEST_TOKEN, session=RecordingSession(telegram_checks=False))
    await bot.me()
    updates = [press_update(i + 1, 10_000 + i % users, 777, f"q:{i}:q{i % QUESTIONS}:p:") for i in range(n)]
    t = time.perf_counter()
    lat = await drive(dp, bot, updates, concurrency)
    return figures("shared" if shared else "floor", lat, time.perf_counter() - t)


_runs = iter(range(1, 1000))


async def seeded(url: str, users: int) -> tuple[Any, Any, int, dict[int, ResponseState]]:
    """A fresh open consultation of QUESTIONS scale questions with `users` residents who
    started it (their live message 777): engine, sessionmaker, consultation id and each
    user's response as stored."""
    base = 100_000 * next(_runs)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    async with sessions() as s:
        row = await save_list(s, f"镇{uuid.uuid4().hex[:6]}", [DutyItem(Part.BASIC, "事项", basis="法")])
        c = await create_consultation(s, title="压测", questionnaire=QUESTIONNAIRE, closes_at=now + timedelta(days=5),
                                      opens_at=now - timedelta(days=1), list_ids=[row.id])
        await set_status(s, c, Status.OPEN)
        township_id = (await s.execute(sa.text("select township_id from duty_list where id=:i"), {"i": row.id})).scalar()
        for k in range(users):
            uid = base + k
            s.add(Person(id=uid, first_name="U", role="resident"))
            await s.flush()
            await start_response(s, c.id, uid, township_id)
        await s.execute(sa.update(Response).where(Response.consultation_id == c.id).values(message_id=777))
        await s.commit()
        states = {uid: ResponseState(rid, c.id, uid, township_id, 777, False, version, {}, {})
                  for rid, uid, version in (await s.execute(
                      sa.select(Response.id, Response.person_id, Response.version)
                      .where(Response.consultation_id == c.id))).all()}
    return engine, sessions, c.id, states


def presses(states: dict[int, ResponseState], n: int) -> list[tuple[int, int, str, str]]:
    """(update_id, user, question, value) of n presses: each user answers questions in
    order, n / users presses each, q0, q1, …; update_ids unique per run (runs share a
    database and its processed_update marks)."""
    users = sorted(states)
    uid_base = users[0] * 100
    out: list[tuple[int, int, str, str]] = []
    for q in range(min(max(1, n // len(users)), QUESTIONS)):
        for k, uid in enumerate(users):
            out.append((uid_base + len(out), uid, f"q{q}", str(1 + (q + k) % 5)))
    return out


async def stored_answers(sessions: Any, consultation_id: int) -> int:
    async with sessions() as s:
        return await s.scalar(sa.text("select count(*) from answer a join response r on r.id=a.response_id "
                                      "where r.consultation_id=:c"), {"c": consultation_id})


async def write_run(url: str, n: int, users: int, concurrency: int) -> dict:
    """The durable write of each answer alone, through the bot's group commit: what the
    database costs an answer, without aiogram or any of the bot's other code."""
    engine, sessions, cid, states = await seeded(url, users)
    writer = answer_path(engine).writer
    per_user: dict[int, list[tuple[int, str, str]]] = {}
    for update_id, uid, q, v in presses(states, n):
        per_user.setdefault(uid, []).append((update_id, q, v))
    latencies: list[float] = []
    sem = asyncio.Semaphore(max(1, concurrency))

    async def user(uid: int) -> None:
        async with sem:
            for update_id, q, v in per_user[uid]:
                t = time.perf_counter()
                change = Change(update_id=update_id, state=states[uid], screen={}, message_id=777,
                                set_answers={q: int(v)})
                await writer.commit(change)
                states[uid] = change.after()  # type: ignore[assignment]
                latencies.append(time.perf_counter() - t)

    t = time.perf_counter()
    if concurrency <= 1:
        for uid in per_user:
            await user(uid)
    else:
        await asyncio.gather(*(user(uid) for uid in per_user))
    wall = time.perf_counter() - t
    result = figures("write", latencies, wall)
    result["stored"] = await stored_answers(sessions, cid)
    await engine.dispose()
    return result


async def answer_run(url: str, n: int, users: int, concurrency: int) -> dict:
    engine, sessions, cid, states = await seeded(url, users)
    settings = Settings(database_url=url, bot_username=BOT_USERNAME)  # (the recording session's getMe: no warning)
    api = RecordingSession(telegram_checks=False)
    bot = create_bot(settings, session=api, token=TEST_TOKEN)  # the production session's middlewares
    await bot.me()
    dp = build_dispatcher(settings, sessions, SQLStorage(engine))
    gettext("resident.progress", "zh_CN", n=1, m=1)  # the bot reads its locale catalog once per process
    updates = [press_update(update_id, uid, 777, QCB(r=states[uid].id, q=q, a="p", v=v).pack())
               for update_id, uid, q, v in presses(states, n)]
    t = time.perf_counter()
    lat = await drive(dp, bot, updates, concurrency)
    wall = time.perf_counter() - t
    stored = await stored_answers(sessions, cid)
    await engine.dispose()
    result = figures("answer", lat, wall)
    result["stored"] = stored
    return result


def postgres_url() -> str | None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"qingdan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=2400)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each (interleaved); the best of each is shown — the machine is shared")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--default-gc", action="store_true", help="leave the garbage collector as Python sets it")
    args = parser.parse_args()
    dbs: list[tuple[str, str]] = []
    tmp = tempfile.mkdtemp()
    sqlite_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    upgrade(sqlite_url)
    dbs.append(("sqlite", sqlite_url))
    pg = None if args.no_postgres else postgres_url()
    if pg:
        upgrade(pg)
        dbs.append(("postgres", pg))
    if not args.default_gc:
        tune_gc()  # what `qingdan run` does once started
    print(f"{'database':<10}{'mode':<14}{'echo/s':>9}{'floor/s':>9}{'÷echo':>7}{'shared/s':>10}{'÷echo':>7}"
          f"{'write/s':>9}{'bound':>7}{'answer/s':>10}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}{'stored':>8}")
    try:
        for name, url in dbs:
            for mode, users, conc in (("sequential", 200, 1), (f"{args.concurrency} users", args.concurrency,
                                                               args.concurrency)):
                runs: dict[str, list[dict]] = {"echo": [], "floor": [], "shared": [], "write": [], "answer": []}
                for _ in range(args.repeat):
                    runs["echo"].append(await echo_run(args.updates, users, conc))
                    runs["floor"].append(await press_floor_run(args.updates, users, conc))
                    runs["shared"].append(await press_floor_run(args.updates, users, conc, shared=True))
                    runs["write"].append(await write_run(url, args.updates, users, conc))
                    runs["answer"].append(await answer_run(url, args.updates, users, conc))
                echo, floor, shared, write, ans = (max(r, key=lambda x: x["rate"]) for r in runs.values())
                # every run must store every answer
                stored = min(r["stored"] for r in runs["answer"] + runs["write"])
                bound = 1 / (1 / shared["rate"] + 1 / write["rate"])
                e = echo["rate"]
                print(f"{name:<10}{mode:<14}{e:>9.0f}{floor['rate']:>9.0f}{floor['rate'] / e:>7.2f}"
                      f"{shared['rate']:>10.0f}{shared['rate'] / e:>7.2f}{write['rate']:>9.0f}{bound / e:>7.2f}"
                      f"{ans['rate']:>10.0f}{ans['rate'] / e:>7.2f}{ans['p50']:>8.2f}{ans['p99']:>8.2f}{stored:>8}")
    finally:
        if pg:
            drop_postgres(pg)


if __name__ == "__main__":
    asyncio.run(main())
