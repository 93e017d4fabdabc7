"""A second scheduler on a database whose scheduler runs already (`qingdan scheduler`
started beside `qingdan run`, which runs its own): real processes, on SQLite and
PostgreSQL alike. It does not exit (under systemd's Restart=always an exit is a restart
loop): it logs one line that it waits as a stand-by, takes over once the first one
stops, and a stand-by stops at once, with status 0, on SIGTERM (systemctl stop)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.faults.conftest import BOT_USERNAME, TOKEN, BotProc, SchedulerProc

pytestmark = [pytest.mark.slow, pytest.mark.faults]

STANDBY = b"waits as a stand-by"  # scheduler.standby / standby-postgres (en)
RUNNING = b"scheduler running ("


class StandbyProc(SchedulerProc):
    """`python -m bot scheduler`, ready once it says it waits as a stand-by."""

    def _ready(self, state: Any, generation: int) -> bool:
        return STANDBY in self._since_start()

    def _since_start(self) -> bytes:
        with self.log_path.open("rb") as log:
            log.seek(self._log_from)
            return log.read()


async def _until(condition, seconds: float) -> bool:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


async def test_a_second_scheduler_waits_as_a_stand_by_takes_over_and_stops_on_sigterm(
        database: Database, tmp_path: Path) -> None:
    en = {"LOCALE": "en"}
    async with asyncio.timeout(150), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb:
        bot = BotProc(sb, database.url, tmp_path / "bot.log", env=en)  # `qingdan run`: its scheduler built in
        standby = StandbyProc(sb, database.url, tmp_path / "standby.log", env=en)
        other = StandbyProc(sb, database.url, tmp_path / "other.log", env=en)
        try:
            await bot.start()
            assert await _until(lambda: RUNNING in bot.log_text().encode(), 30), bot.log_tail()
            await standby.start()  # waits as a stand-by (it raised TimeoutError or exited before)
            await asyncio.sleep(2)
            assert standby.alive(), standby.log_tail()
            assert standby._since_start().count(STANDBY) == 1  # one line, not one per poll
            assert RUNNING not in standby._since_start()

            bot.stop()  # the first scheduler goes: the stand-by takes over
            assert await _until(lambda: RUNNING in standby._since_start(), 30), standby.log_tail()

            await other.start()  # a stand-by behind the new holder
            assert other.proc is not None
            other.proc.terminate()
            stopped = time.monotonic()
            assert await _until(lambda: not other.alive(), 8), other.log_tail()
            assert other.proc.returncode == 0 and time.monotonic() - stopped < 8
            assert RUNNING not in other._since_start()

            assert standby.proc is not None
            standby.proc.terminate()
            assert await _until(lambda: not standby.alive(), 20), standby.log_tail()
            assert standby.proc.returncode == 0
        finally:
            for proc in (other, standby, bot):
                proc.kill()
