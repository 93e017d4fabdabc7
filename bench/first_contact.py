"""A new resident's first contact, update by update: the CPU the bot spends on a share
link's `/start <code>`, on the start button under the welcome, and on each of the first
answers — in-process, one update at a time, through the real routers, middlewares and
database (the demo's consultation), with a recording Bot session (no network).

End to end (bench/e2e_http.py) a resident sends these updates and little else: /start and
the start button each cost several times an answer, so they bound how many new residents
a process takes in a burst (a share link shown at a village meeting).

    .venv/bin/python bench/first_contact.py [--residents 800] [--repeat 3] [--postgres]

Prints, per kind of update, the CPU per update (`time.process_time`, all threads) and
the wall time, best of --repeat runs (the machine is shared; compare within one run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import seed_consultation, temp_database  # noqa: E402
from answer_path import message_update, press_update  # noqa: E402

from bot.app import build_dispatcher, create_bot, tune_gc  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.testing import BOT_USERNAME, TEST_TOKEN, RecordingSession, feed  # noqa: E402
from storage.engine import make_engine, make_sessionmaker  # noqa: E402
from storage.fsm import SQLStorage  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

KINDS = ("/start <code>", "start button", "answer")
ANSWERS = 3


async def run(url: str, code: str, residents: int, first_user: int) -> dict[str, tuple[float, float]]:
    """(CPU µs, wall µs) per update of each kind, for `residents` new residents."""
    engine = make_engine(url)
    settings = Settings(database_url=url, bot_username=BOT_USERNAME)  # (the recording session's getMe: no warning)
    api = RecordingSession(telegram_checks=False)
    bot = create_bot(settings, session=api, token=TEST_TOKEN)  # the production session's middlewares
    await bot.me()
    dp = build_dispatcher(settings, make_sessionmaker(engine), SQLStorage(engine))
    cpu = dict.fromkeys(KINDS, 0.0)
    wall = dict.fromkeys(KINDS, 0.0)
    update_id = 10_000_000 * (1 + first_user // 100_000)  # runs share the database and its update marks

    async def timed(kind: str, update: dict) -> None:
        t, c = time.perf_counter(), time.process_time()
        await feed(dp, bot, update)
        wall[kind] += time.perf_counter() - t
        cpu[kind] += time.process_time() - c

    for k in range(residents):
        uid = 7_000_000 + first_user + k
        api.calls.clear()
        update_id += 1
        await timed(KINDS[0], message_update(update_id, uid, f"/start {code}"))
        welcome = api.calls[-1]
        update_id += 1
        await timed(KINDS[1], press_update(update_id, uid, welcome.message_id or 1,
                                          welcome.reply_markup.inline_keyboard[0][0].callback_data))
        question = api.last(uid)  # the edit, not the press's answer
        for _ in range(ANSWERS):
            api.calls.clear()
            update_id += 1
            await timed(KINDS[2], press_update(update_id, uid, question.message_id,
                                              question.reply_markup.inline_keyboard[0][0].callback_data))
            edits = [c for c in api.calls if c.method != "answerCallbackQuery"]
            question = edits[-1] if edits else question
    await engine.dispose()
    counts = {KINDS[0]: residents, KINDS[1]: residents, KINDS[2]: residents * ANSWERS}
    return {kind: (cpu[kind] / counts[kind] * 1e6, wall[kind] / counts[kind] * 1e6) for kind in KINDS}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=800)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with temp_database("postgres" if args.postgres else "sqlite") as url:
        upgrade(url)
        _, _, code = await seed_consultation(url)
        tune_gc()  # what `qingdan run` does once started
        runs = [await run(url, code, args.residents, n * 100_000) for n in range(args.repeat)]
    print(f"{'update':<16}{'CPU µs':>10}{'wall µs':>10}   ({'postgres' if args.postgres else 'sqlite'}, "
          f"{args.residents} new residents, best of {args.repeat})")
    for kind in KINDS:
        print(f"{kind:<16}{min(r[kind][0] for r in runs):>10.0f}{min(r[kind][1] for r in runs):>10.0f}")


if __name__ == "__main__":
    asyncio.run(main())
