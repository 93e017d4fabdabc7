"""The broadcaster as its own process, for bench/broadcast.py (which may SIGKILL it):
builds a Bot against the Bot API at --api, and broadcasts one short message with
--key to every resident Person in --db at --rate messages/s. Prints one JSON line
with the BroadcastResult and timings on stdout when done.

    .venv/bin/python bench/broadcast_worker.py --api http://127.0.0.1:PORT --db URL --key K --rate 2940

With BROADCAST_PROFILE=FILE in the environment it writes cProfile stats of the broadcast there.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import TOKEN  # noqa: E402

from bot.app import create_bot, tune_gc  # noqa: E402
from bot.broadcaster import Broadcaster, Outgoing  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage.engine import make_engine, make_sessionmaker  # noqa: E402
from storage.models import Person  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(args.db)
    settings = Settings(database_url=args.db, bot_token=TOKEN, telegram_api_url=args.api)
    bot = create_bot(settings)
    try:
        async with engine.connect() as conn:
            ids = (await conn.execute(sa.select(Person.id).where(Person.role == "resident")
                                      .order_by(Person.id))).scalars().all()
        broadcaster = Broadcaster(bot, make_sessionmaker(engine), rate=args.rate)
        tune_gc()  # as a started `qingdan run` / `qingdan scheduler` does
        out = Outgoing("青山镇履职事项清单征求意见：还有 24 小时截止，欢迎点按钮回答。")
        print(json.dumps({"event": "start", "recipients": len(ids), "claim_window": broadcaster.claim_window}),
              flush=True)
        profile = cProfile.Profile() if os.environ.get("BROADCAST_PROFILE") else None
        t, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        result = await broadcaster.broadcast(args.key, ids, lambda _pid: out)
        seconds = time.perf_counter() - t
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.environ["BROADCAST_PROFILE"])
        print(json.dumps({"event": "done", "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
                          **dataclasses.asdict(result)}), flush=True)
    finally:
        await bot.session.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
