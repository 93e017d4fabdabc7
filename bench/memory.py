"""Memory of the bot process as participants grow: 1k, 10k and 100k participants stored
(Person + Response + 2 Answer rows each, bulk-inserted with Core executemany into a
fresh SQLite database per size), the real bot (`python -m bot run`) polling the
sandbox, and a burst of updates from a random sample of them (default 2,000): each
sends `/start <code>` (the bot resumes the questionnaire on a new message) and
answers the current question with one tap (the bot stores it and edits the message).

Reports the bot process's VmRSS from /proc/<pid>/status when idle after start, after
the burst, and its peak (VmHWM). Target: under 200 MB and flat as participants grow —
a resident's state lives in the database (responses, answers, the SQL FSM storage),
not in the process.

    .venv/bin/python bench/memory.py [--sizes 1000,10000,100000] [--sample 2000] [--concurrency 100]
                                     [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BOT_USERNAME,
    TOKEN,
    bot_process,
    machine_line,
    proc_status,
    seed_consultation,
    seed_participants,
    temp_database,
)

from bot.sandbox.client import SandboxUser  # noqa: E402
from bot.sandbox.server import running_sandbox  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.models import Answer  # noqa: E402

FIRST_ID = 30_000_000
STORED = {"aware": "some", "sat_welfare": 4}  # so the current question is sat_safety (a scale)
STEP_TIMEOUT = 60.0


async def resume_and_answer(user: SandboxUser, code: str) -> None:
    await user.send(f"/start {code}")
    msgs = await user.wait_for_messages(1, timeout=STEP_TIMEOUT)
    live = [m for m in msgs if m["from_bot"]][-1]
    before = live["text"]
    result = await user.press_button(live, "3", wait=STEP_TIMEOUT)
    if not result["answered"] or result.get("show_alert"):
        raise RuntimeError(f"tap refused: {result}")
    await user.wait_for_messages(predicate=lambda ms: any(
        m["message_id"] == live["message_id"] and m["text"] != before for m in ms), timeout=STEP_TIMEOUT)


def mb(kb: int) -> float:
    return kb / 1024


async def one_size(db_kind: str, n: int, sample: int, concurrency: int) -> dict:
    ids = list(range(FIRST_ID, FIRST_ID + n))
    with temp_database(db_kind) as url, tempfile.TemporaryDirectory(prefix="qingdan-mem-") as tmp:
        cid, tid, code = await seed_consultation(url)
        t = time.perf_counter()
        await seed_participants(url, cid, tid, ids, STORED)
        seed_s = time.perf_counter() - t
        async with running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                   callback_wait=STEP_TIMEOUT) as sb:
            async with bot_process(sb, url, Path(tmp)) as bot:
                await asyncio.sleep(2)
                idle = proc_status(bot.pid)["VmRSS"]
                chosen = random.Random(n).sample(ids, min(sample, n))
                errors: list[str] = []
                connector = aiohttp.TCPConnector(limit=concurrency * 2 + 10)
                async with aiohttp.ClientSession(connector=connector) as http:
                    sem = asyncio.Semaphore(concurrency)

                    async def one(pid: int) -> None:
                        async with sem:
                            user = SandboxUser(sb.base_url, TOKEN, pid, session=http, first_name=f"r{pid}",
                                               language_code="zh-hans")
                            try:
                                await resume_and_answer(user, code)
                            except Exception as e:  # noqa: BLE001 - counted and reported
                                errors.append(f"{pid}: {type(e).__name__}: {e}"[:300])

                    t = time.perf_counter()
                    await asyncio.gather(*(one(pid) for pid in chosen))
                    burst_s = time.perf_counter() - t
                await asyncio.sleep(2)
                status = proc_status(bot.pid)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                answered = await conn.scalar(sa.select(sa.func.count()).select_from(Answer)
                                             .where(Answer.question_id == "sat_safety"))
        finally:
            await engine.dispose()
    return {"db": db_kind, "n": n, "seed_s": seed_s, "idle": idle, "after": status["VmRSS"],
            "peak": status["VmHWM"], "sample": len(chosen), "burst_rate": 2 * len(chosen) / burst_s,
            "answered": answered, "errors": errors}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--sample", type=int, default=2000, help="residents in the burst (2 updates each)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (127.0.0.1:5432)")
    args = parser.parse_args()
    print(f"# {machine_line()}; burst: {args.sample} random participants × (/start + 1 answer), "
          f"{args.concurrency} at once")
    print(f"{'db':<9}{'participants':>13}{'seed s':>8}{'RSS idle MB':>12}{'RSS after MB':>13}{'peak MB':>8}"
          f"{'burst upd/s':>12}{'answered':>10}")
    failed = False
    for db in ["sqlite"] + (["postgres"] if args.postgres else []):
        for n in (int(s) for s in args.sizes.split(",")):
            r = await one_size(db, n, args.sample, args.concurrency)
            print(f"{r['db']:<9}{r['n']:>13}{r['seed_s']:>8.1f}{mb(r['idle']):>12.1f}{mb(r['after']):>13.1f}"
                  f"{mb(r['peak']):>8.1f}{r['burst_rate']:>12.0f}{r['answered']:>6}/{r['sample']}", flush=True)
            if r["errors"]:
                failed = True
                print(f"#   {len(r['errors'])} residents did not finish, e.g. {r['errors'][0]}")
    print(f"# load average at the end: {machine_line()}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
