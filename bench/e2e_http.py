"""End to end over HTTP: the real bot process (`python -m bot run`) against the sandbox
Bot API, by long polling and by webhook (`--webhook --port P`, the sandbox delivering
to it after the bot's setWebhook), on SQLite (and PostgreSQL with --postgres).

After `--warmup` residents (default 20, not measured), N residents (default 1,000), at most `--concurrency` at a time, each: sends
`/start <code>`, taps 开始答题, and answers the first `--answers` questions (default 3) —
so 2 + answers updates each. Measured from the user's side: updates/s over the run,
and latency from the send/press to the bot's reply arriving in the chat (for /start the
welcome message, for a tap the edit of the question message — the press itself
returns at answerCallbackQuery, reported as "ack"). Also the CPU the bot process and
this process (sandbox + simulated users) used, to show which side was the bottleneck.

    .venv/bin/python bench/e2e_http.py [--residents 1000] [--concurrency 100] [--answers 3]
                                       [--modes polling,webhook] [--postgres | --databases postgres]

Target: none fixed; the figures are the baseline for the end-to-end path (compare
bench/answer_path.py for the in-process floor). Every resident must finish (checked).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BOT_USERNAME,
    TOKEN,
    bot_process,
    cpu_seconds,
    free_port,
    machine_line,
    percentile,
    seed_consultation,
    temp_database,
)

from bot.sandbox.client import SandboxUser  # noqa: E402
from bot.sandbox.server import running_sandbox  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.models import Answer  # noqa: E402

# labels tapped, in order: begin, then answers to aware (single) and three scale questions
TAPS = ("开始答题", "知道一些", "4", "3", "5")
STEP_TIMEOUT = 60.0
USER_BASE = 5_000_000


@dataclass
class Figures:
    start: list[float] = field(default_factory=list)  # /start → welcome
    edit: list[float] = field(default_factory=list)  # press → the edit arrives
    ack: list[float] = field(default_factory=list)  # press → answerCallbackQuery
    errors: list[str] = field(default_factory=list)


async def resident(user: SandboxUser, code: str, taps: tuple[str, ...], fig: Figures) -> None:
    t = time.perf_counter()
    await user.send(f"/start {code}")
    msgs = await user.wait_for_messages(1, timeout=STEP_TIMEOUT)
    fig.start.append(time.perf_counter() - t)
    live = [m for m in msgs if m["from_bot"]][-1]
    for label in taps:
        before = live["text"]
        mid = live["message_id"]
        t = time.perf_counter()
        result = await user.press_button(live, label, wait=STEP_TIMEOUT)
        fig.ack.append(time.perf_counter() - t)
        if not result["answered"] or result.get("show_alert"):
            raise RuntimeError(f"tap {label!r} refused: {result}")

        def edited(ms: list[dict], mid: int = mid, before: str = before) -> bool:
            return any(m["message_id"] == mid and m["text"] != before for m in ms)

        msgs = await user.wait_for_messages(predicate=edited, timeout=STEP_TIMEOUT)
        fig.edit.append(time.perf_counter() - t)
        live = next(m for m in msgs if m["message_id"] == mid)


async def run_mode(db_kind: str, mode: str, n: int, concurrency: int, answers: int, warmup: int) -> dict:
    taps = TAPS[:1 + answers]
    with temp_database(db_kind) as url, tempfile.TemporaryDirectory(prefix="qingdan-e2e-") as tmp:
        _, _, code = await seed_consultation(url)
        async with running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                   callback_wait=STEP_TIMEOUT) as sb:
            port = free_port() if mode == "webhook" else None
            async with bot_process(sb, url, Path(tmp), webhook_port=port) as bot:
                fig = Figures()
                connector = aiohttp.TCPConnector(limit=concurrency * 2 + 10)
                async with aiohttp.ClientSession(connector=connector,
                                                 timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT * 2)) as http:
                    users = [SandboxUser(sb.base_url, TOKEN, USER_BASE + i, session=http, first_name=f"居民{i}",
                                         language_code="zh-hans") for i in range(n)]
                    sem = asyncio.Semaphore(concurrency)

                    async def one(u: SandboxUser) -> None:
                        async with sem:
                            try:
                                await resident(u, code, taps, fig)
                            except Exception as e:  # noqa: BLE001 - counted and reported
                                fig.errors.append(f"{u.user_id}: {type(e).__name__}: {e}"[:300])

                    # warm-up residents (not counted): first queries, imports, connection pools
                    warm = [SandboxUser(sb.base_url, TOKEN, USER_BASE - 1 - i, session=http, first_name="热身",
                                        language_code="zh-hans") for i in range(warmup)]
                    await asyncio.gather(*(resident(u, code, taps, Figures()) for u in warm))
                    cpu_bot, cpu_me = cpu_seconds(bot.pid), cpu_seconds()
                    t0 = time.perf_counter()
                    await asyncio.gather(*(one(u) for u in users))
                    wall = time.perf_counter() - t0
                    cpu_bot, cpu_me = cpu_seconds(bot.pid) - cpu_bot, cpu_seconds() - cpu_me
        if fig.errors:  # keep the bot's log for the report
            kept = Path(tempfile.gettempdir()) / f"qingdan-e2e-{db_kind}-{mode}-bot.log"
            shutil.copy(Path(tmp) / "bot.log", kept)
            fig.errors.insert(0, f"bot log kept at {kept}")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                stored = await conn.scalar(sa.select(sa.func.count()).select_from(Answer))
        finally:
            await engine.dispose()
    updates = len(fig.start) + len(fig.ack)
    return {"db": db_kind, "mode": mode, "n": n, "updates": updates, "wall": wall, "rate": updates / wall,
            "start50": percentile(fig.start, 0.5), "start99": percentile(fig.start, 0.99),
            "ack50": percentile(fig.ack, 0.5), "edit50": percentile(fig.edit, 0.5),
            "edit99": percentile(fig.edit, 0.99), "cpu_bot": cpu_bot / wall, "cpu_me": cpu_me / wall,
            "stored": stored, "expected": (n + warmup) * answers, "errors": fig.errors}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100, help="residents in flight at once")
    parser.add_argument("--answers", type=int, default=3, choices=range(1, len(TAPS)))
    parser.add_argument("--warmup", type=int, default=20, help="residents run first, not measured")
    parser.add_argument("--modes", default="polling,webhook")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (127.0.0.1:5432)")
    parser.add_argument("--databases", default=None, help="comma-separated: sqlite,postgres (overrides --postgres)")
    args = parser.parse_args()
    print(f"# {machine_line()}; {args.residents} residents, {args.concurrency} at once, "
          f"{2 + args.answers} updates each")
    print(f"{'db':<9}{'mode':<9}{'updates':>8}{'wall s':>8}{'upd/s':>7}{'start p50':>10}{'p99':>7}"
          f"{'ack p50':>8}{'edit p50':>9}{'p99':>7}{'bot CPU':>8}{'us CPU':>7}{'answers':>9}  (latencies in ms)")
    failures: list[str] = []
    databases = args.databases.split(",") if args.databases else ["sqlite"] + (["postgres"] if args.postgres else [])
    for db in databases:
        for mode in args.modes.split(","):
            r = await run_mode(db, mode, args.residents, args.concurrency, args.answers, args.warmup)
            print(f"{r['db']:<9}{r['mode']:<9}{r['updates']:>8}{r['wall']:>8.1f}{r['rate']:>7.0f}"
                  f"{r['start50'] * 1e3:>10.0f}{r['start99'] * 1e3:>7.0f}{r['ack50'] * 1e3:>8.0f}"
                  f"{r['edit50'] * 1e3:>9.0f}{r['edit99'] * 1e3:>7.0f}{r['cpu_bot']:>8.0%}{r['cpu_me']:>7.0%}"
                  f"{r['stored']:>5}/{r['expected']}", flush=True)
            failures += [f"{db}/{mode}: {e}" for e in r["errors"]]
    print(f"# load average at the end: {machine_line()}")
    if failures:
        print(f"{len(failures)} residents did not finish; first ones:")
        for f in failures[:5]:
            print("  ", f)
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
