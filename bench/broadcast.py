"""Broadcast vs. the flood limit: one message to 100,000 residents (configurable) through
the sandbox Bot API with its limit raised to 3,000 messages/s (1/s per chat), sent by
the real Broadcaster running in its own process (bench/broadcast_worker.py).

1. clean: one run. Reports the achieved sending rate as the sandbox saw it (first to
   last message), its ratio to the limit (target ≥ 0.95), the busiest one-second
   window, 429s answered, and — counting the bot's messages in every chat — lost
   (chats with none) and doubled (chats with more than one); target 0 and 0.
2. killed: the same with the worker SIGKILLed when about half the messages are out,
   then started again with the same key. The broadcaster is at-most-once: rows claimed
   (status "sending") but not yet sent when the process dies are treated as maybe-sent
   and never repeated, so up to `claim_window` messages may be lost, and none doubled.

The sandbox runs in this process (recipients' chats are registered through its Python
API: a Bot API sendMessage to an unknown chat is "chat not found"), so this process's
CPU is the Bot API server's; on a 2-core machine the two processes compete for CPU.

    .venv/bin/python bench/broadcast.py [--recipients 100000] [--limit 3000] [--rate 2940]
                                        [--burst 300] [--parts clean,killed] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, TOKEN, cpu_seconds, machine_line, seed_persons, temp_database  # noqa: E402

from bot.app import tune_gc  # noqa: E402
from bot.sandbox.limits import RateLimits  # noqa: E402
from bot.sandbox.server import ApiError, Sandbox, running_sandbox  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.models import Delivery  # noqa: E402

WORKER = Path(__file__).resolve().with_name("broadcast_worker.py")
FIRST_ID = 20_000_000


class CountingSandbox(Sandbox):
    """The sandbox, also noting when each message went out and every 429 it answered."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sent_at: list[float] = []
        self.answered_429 = 0

    def _flood(self, b: Any, chat: Any, method: str) -> None:
        try:
            super()._flood(b, chat, method)
        except ApiError as e:
            if e.code == 429:
                self.answered_429 += 1
            raise

    async def m_sendmessage(self, b: Any, p: Any) -> Any:
        result = await super().m_sendmessage(b, p)
        self.sent_at.append(time.monotonic())
        return result


def busiest_second(times: list[float]) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


class Worker:
    """bench/broadcast_worker.py as a subprocess (asyncio, so the sandbox keeps serving)."""

    def __init__(self, api: str, db: str, key: str, rate: float, log: Path) -> None:
        self.args = [sys.executable, str(WORKER), "--api", api, "--db", db, "--key", key, "--rate", str(rate)]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict] = []
        self.reader: asyncio.Task | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(*self.args, env=env, cwd=self.log.parent,
                                                             stdout=asyncio.subprocess.PIPE, stderr=err)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            if line.startswith(b"{"):
                self.events.append(json.loads(line))

    async def wait(self) -> dict:
        assert self.proc is not None and self.reader is not None
        await self.reader
        if await self.proc.wait() != 0:
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        return self.events[-1]

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def reap(self) -> None:
        if self.proc is not None:
            self.kill()
            await self.proc.wait()
        if self.reader is not None:
            await asyncio.wait([self.reader], timeout=5)


async def one_part(part: str, db_kind: str, n: int, limits: RateLimits, rate: float) -> dict:
    ids = list(range(FIRST_ID, FIRST_ID + n))
    key = f"bench:{part}"
    with temp_database(db_kind) as url, tempfile.TemporaryDirectory(prefix="qingdan-bcast-") as tmp:
        await seed_persons(url, ids)
        sandbox = CountingSandbox(rate_limits=limits, tokens=[TOKEN])
        for pid in ids:
            sandbox.register_user(TOKEN, pid)
        # This process stands in for Telegram's servers and must not stall on its own:
        # with the collector's default thresholds a full pass over the 100,000 chats
        # held up request handling for 0.1–0.2 s, after which the queued requests met
        # a bucket refilled only to its burst and got 429s (each pausing the sender
        # for a whole second). The same tuning a started `qingdan run` applies.
        tune_gc()
        out: dict[str, Any] = {"part": part, "db": db_kind, "n": n}
        async with running_sandbox(sandbox=sandbox) as sb:
            log = Path(tmp) / "worker.log"
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            worker = Worker(sb.base_url, url, key, rate, log)
            try:
                await worker.start()
                if part == "killed":
                    while len(sandbox.sent_at) < n // 2:
                        if worker.proc is not None and worker.proc.returncode is not None:
                            raise RuntimeError(f"worker ended early:\n{log.read_text()[-3000:]}")
                        await asyncio.sleep(0.01)
                    worker.kill()
                    out["at_kill"] = len(sandbox.sent_at)
                    await worker.reap()
                    out["claim_window"] = next(e["claim_window"] for e in worker.events if e["event"] == "start")
                    await asyncio.sleep(0.5)  # requests already on the wire arrive
                    out["after_kill"] = len(sandbox.sent_at)
                    worker = Worker(sb.base_url, url, key, rate, log)
                    await worker.start()
                done = await worker.wait()
            finally:
                await worker.reap()
            out["wall"] = time.perf_counter() - t0
            out["cpu_sandbox"] = (cpu_seconds() - cpu0) / out["wall"]
            out["result"] = done
            times = sandbox.sent_at
            out["messages"] = len(times)
            out["send_rate"] = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
            out["busiest"] = busiest_second(times)
            out["answered_429"] = sandbox.answered_429
            per_chat = Counter(sandbox.bots[TOKEN].chats[pid].bot_count for pid in ids)
            out["lost"] = per_chat[0]
            out["doubled"] = sum(c for k, c in per_chat.items() if k > 1)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                out["statuses"] = dict(Counter((await conn.execute(
                    sa.select(Delivery.status).where(Delivery.broadcast_key == key))).scalars()))
        finally:
            await engine.dispose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=3000, help="the sandbox's messages/s")
    parser.add_argument("--burst", type=float, default=300, help="the sandbox's bucket size (messages)")
    parser.add_argument("--rate", type=float, default=None, help="the broadcaster's rate (default 0.98 × limit)")
    parser.add_argument("--parts", default="clean,killed")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (127.0.0.1:5432)")
    args = parser.parse_args()
    rate = args.rate or args.limit * 0.98
    limits = RateLimits(per_second=args.limit, burst=args.burst, per_chat_per_second=1, per_chat_burst=1)
    print(f"# {machine_line()}; {args.recipients} recipients, sandbox limit {args.limit:.0f}/s "
          f"(burst {args.burst:.0f}, 1/s per chat), broadcaster rate {rate:.0f}/s")
    print(f"{'db':<9}{'part':<8}{'wall s':>7}{'send/s':>8}{'÷limit':>7}{'max 1s':>7}{'429s':>6}{'lost':>6}"
          f"{'doubled':>8}{'at kill':>8}{'window':>7}{'sandbox CPU':>12}  delivery rows")
    for db in ["sqlite"] + (["postgres"] if args.postgres else []):
        for part in args.parts.split(","):
            r = await one_part(part, db, args.recipients, limits, rate)
            rate_cols = (f"{r['send_rate']:>8.0f}{r['send_rate'] / args.limit:>7.3f}" if r["part"] == "clean"
                         else f"{'-':>8}{'-':>7}")  # killed: two processes and a restart in between
            print(f"{r['db']:<9}{r['part']:<8}{r['wall']:>7.1f}{rate_cols}"
                  f"{r['busiest']:>7}{r['answered_429']:>6}{r['lost']:>6}"
                  f"{r['doubled']:>8}{r.get('at_kill', '-'):>8}{r.get('claim_window', '-'):>7}"
                  f"{r['cpu_sandbox']:>12.0%}  {r['statuses']}", flush=True)
            res = r["result"]
            print(f"#   last worker run: sent {res['sent']}, already done {res['skipped_already_done']}, "
                  f"429s retried {res['retried_429']}, failed {res['failed']}, {res['seconds']:.1f} s, "
                  f"worker CPU {res['cpu_seconds'] / res['seconds']:.0%} "
                  f"({res['cpu_seconds'] * 1e3 / max(1, res['sent']):.2f} ms per message sent)"
                  + (f"; messages on the wire after the kill: {r['after_kill'] - r['at_kill']}"
                     if "at_kill" in r else ""))
    print(f"# load average at the end: {machine_line()}")


if __name__ == "__main__":
    asyncio.run(main())
