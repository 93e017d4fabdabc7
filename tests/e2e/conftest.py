"""End-to-end fixtures: the sandbox Bot API on a free port, a database seeded with
the sample list and an open consultation on the default questionnaire, and the
real bot (`python -m bot.cli run`) as a subprocess polling the sandbox over HTTP.
The bot can be killed with SIGKILL and started again on the same database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.demo import seed_sample
from bot.sandbox.client import SandboxUser
from bot.sandbox.server import RunningSandbox, running_sandbox
from storage.engine import make_engine, make_sessionmaker
from storage.models import Answer, Response
from tests.conftest import Database

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:e2e-token"
BOT_USERNAME = "qingdan_e2e_bot"
ORGANIZER_ID = 1001
TOWNSHIP = "青山镇"
START_TIMEOUT = 90.0  # seconds for the bot process to import (slow on a loaded machine), migrate, poll
STEP_TIMEOUT = 10.0  # seconds for the bot to answer one step


async def seed_consultation(url: str) -> str:
    """The sample draft list for 青山镇 and an open consultation on the default
    questionnaire (opened a minute ago, closing in 14 days); returns the link code."""
    seeded = await seed_sample(url, created_by=ORGANIZER_ID, township=TOWNSHIP)
    assert seeded is not None
    return seeded[2]


async def stored_answers(url: str, person_id: int) -> dict[str, Any]:
    """The person's answers as the database holds them (question id → value)."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rid = await s.scalar(sa.select(Response.id).where(Response.person_id == person_id))
            if rid is None:
                return {}
            rows = (await s.execute(sa.select(Answer.question_id, Answer.value)
                                    .where(Answer.response_id == rid))).all()
            return dict(rows)
    finally:
        await engine.dispose()


async def completed_at(url: str, person_id: int) -> datetime | None:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            return await s.scalar(sa.select(Response.completed_at).where(Response.person_id == person_id))
    finally:
        await engine.dispose()


class BotProcess:
    """`python -m bot.cli run` against the sandbox, as its own process."""

    def __init__(self, sandbox: RunningSandbox, database_url: str, log_path: Path) -> None:
        self.sandbox = sandbox
        self.log_path = log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TELEGRAM_"))},
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": sandbox.base_url,
            "DATABASE_URL": database_url,
            "ORGANIZER_IDS": str(ORGANIZER_ID),
            "BOT_USERNAME": BOT_USERNAME,
            "REDIS_URL": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the bot and wait until it long-polls the sandbox (a new getUpdates)."""
        assert self.proc is None or self.proc.poll() is not None, "the bot is already running"
        state = self.sandbox.sandbox.bot(TOKEN)
        generation = state.poll_generation
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            log.flush()
            # cwd is the log's directory so that no developer .env is read; Popen does not wait
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "bot.cli", "run"], env=self.env, cwd=self.log_path.parent, stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while state.poll_generation == generation:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot did not poll within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class E2E:
    """A running end-to-end setup: sandbox, seeded database, bot process, link code."""

    sandbox: RunningSandbox
    database: Database
    bot: BotProcess
    code: str

    def user(self, user_id: int, first_name: str = "居民") -> SandboxUser:
        return SandboxUser(self.sandbox.base_url, TOKEN, user_id, first_name=first_name, language_code="zh-hans",
                           timeout=STEP_TIMEOUT * 2)

    async def answers(self, user_id: int) -> dict[str, Any]:
        return await stored_answers(self.database.url, user_id)


@pytest.fixture
def bot_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "bot.log"
    yield path


@pytest.fixture
async def e2e(database: Database, bot_log: Path) -> AsyncIterator[E2E]:
    """Sandbox + seeded database + the bot process polling it (killed at the end, whatever happens)."""
    code = await seed_consultation(database.url)
    async with running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME, callback_wait=STEP_TIMEOUT) as sb:
        bot = BotProcess(sb, database.url, bot_log)
        try:
            await bot.start()
            yield E2E(sb, database, bot, code)
        finally:
            bot.kill()


async def seed_list_only(url: str) -> None:
    """Only the sample draft list for 青山镇 (imported, as `qingdan lists import` would):
    no consultation, so that an organizer can create one from the chat."""
    await seed_sample(url, consultation=False, township=TOWNSHIP)


@pytest.fixture
async def e2e_list_only(database: Database, bot_log: Path) -> AsyncIterator[E2E]:
    """Like `e2e`, but the database holds only the imported sample list, no consultation
    (`code` is empty)."""
    await seed_list_only(database.url)
    async with running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME, callback_wait=STEP_TIMEOUT) as sb:
        bot = BotProcess(sb, database.url, bot_log)
        try:
            await bot.start()
            yield E2E(sb, database, bot, "")
        finally:
            bot.kill()


# --- reading the chat (shared by the e2e tests) ------------------------------------------------------

Message = dict[str, Any]
Check = Callable[[Message], bool]


def has_text(fragment: str) -> Check:
    return lambda m: fragment in (m.get("text") or m.get("caption") or "")


def has_button(fragment: str) -> Check:
    return lambda m: any(fragment in b.get("text", "") for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                         for b in row)


async def wait_bot_message(user: SandboxUser, check: Check, *, message_id: int | None = None, after: int = 0,
                           timeout: float = STEP_TIMEOUT) -> Message:  # noqa: ASYNC109
    """The newest bot message (or message `message_id`; or one newer than message `after`)
    once `check` holds for it."""

    def find(msgs: list[Message]) -> Message | None:
        for m in reversed(msgs):
            if m["message_id"] <= after:
                return None
            if m["from_bot"] and (message_id is None or m["message_id"] == message_id):
                return m if check(m) else None
        return None

    msgs = await user.wait_for_messages(predicate=lambda ms: find(ms) is not None, timeout=timeout)
    found = find(msgs)
    assert found is not None
    return found
