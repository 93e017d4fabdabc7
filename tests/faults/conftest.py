"""Fault-test fixtures: the real bot as subprocesses (`python -m bot run`, polling the
sandbox or serving its webhook), each killable with SIGKILL and restartable on the
same database; a PostgreSQL database of the test's own; helpers to read what the
database holds for many residents at once.

Reuses the end-to-end seed (tests/e2e/conftest.py): the sample list for 青山镇 and
an open consultation on the default questionnaire."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.sandbox.server import RunningSandbox
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Answer, Response
from tests.conftest import POSTGRES_URL, Database, require_service
from tests.e2e.conftest import BOT_USERNAME, ORGANIZER_ID, REPO, TOKEN, seed_consultation

__all__ = ["BOT_USERNAME", "TOKEN", "BotProc", "SchedulerProc", "free_port", "own_postgres", "seed_consultation",
           "stored_by_person"]

START_TIMEOUT = 40.0  # seconds for a bot process to import, migrate and poll (or listen)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault-injection tests (kill -9, retries, service restarts)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class BotProc:
    """`python -m bot run` against the sandbox as its own process: long polling, or one
    webhook worker (`--webhook --workers 1 --port P`, reuse-port, so several such
    processes can share P)."""

    def __init__(self, sandbox: RunningSandbox, database_url: str, log_path: Path, *, redis_url: str = "",
                 webhook_port: int | None = None, register: bool = True,
                 env: dict[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.log_path = log_path
        self.webhook_port = webhook_port
        self.register = register
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TELEGRAM_",
                                                                        "WEBHOOK_", "BOT_"))},
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": sandbox.base_url,
            "DATABASE_URL": database_url,
            "ORGANIZER_IDS": str(ORGANIZER_ID),
            "BOT_USERNAME": BOT_USERNAME,
            "REDIS_URL": redis_url,
            "WEBHOOK_URL": "",
            "WEBHOOK_SECRET": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_from = 0

    @property
    def args(self) -> list[str]:
        args = [sys.executable, "-m", "bot", "run"]
        if self.webhook_port is not None:
            args += ["--webhook", "--host", "127.0.0.1", "--port", str(self.webhook_port), "--workers", "1",
                     "--register" if self.register else "--no-register"]
        return args

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the process and wait until it polls the sandbox (a new getUpdates) or,
        as a webhook worker, listens on its port (and, registering, has set the webhook)."""
        assert not self.alive(), "the bot is already running"
        state = self.sandbox.sandbox.bot(TOKEN)
        generation = state.poll_generation
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            log.flush()
            self._log_from = log.tell()
            # cwd: the log's directory, so no developer .env is read
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.log_path.parent,  # noqa: ASYNC220
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready(state, generation):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"the bot was not ready within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def _ready(self, state: Any, generation: int) -> bool:
        if self.webhook_port is None:
            return state.poll_generation != generation
        # its own socket, not just the port (another worker may hold the port already)
        with self.log_path.open("rb") as log:
            log.seek(self._log_from)
            listening = b"webhook worker listening on" in log.read()
        if not listening or not _accepts(self.webhook_port):
            return False
        return not self.register or state.webhook is not None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine dies."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


async def stored_by_person(url: str) -> dict[int, dict[str, Any]]:
    """Every person's stored answers (question id → value), in one query."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = (await s.execute(sa.select(Response.person_id, Answer.question_id, Answer.value)
                                    .join(Answer, Answer.response_id == Response.id))).all()
    finally:
        await engine.dispose()
    out: dict[int, dict[str, Any]] = {}
    for person, qid, value in rows:
        out.setdefault(int(person), {})[qid] = value
    return out


async def answer_row_counts(url: str) -> dict[tuple[int, str], int]:
    """How many answer rows each (person, question) has — exactly-once means all 1."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = (await s.execute(sa.select(Response.person_id, Answer.question_id, sa.func.count())
                                    .join(Answer, Answer.response_id == Response.id)
                                    .group_by(Response.person_id, Answer.question_id))).all()
    finally:
        await engine.dispose()
    return {(int(p), q): int(n) for p, q, n in rows}


async def persons_with_response(url: str) -> set[int]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            return {int(p) for p in (await s.scalars(sa.select(Response.person_id))).all()}
    finally:
        await engine.dispose()


def _admin() -> sa.Engine:
    return sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                            isolation_level="AUTOCOMMIT")


def create_own_postgres(prefix: str = "qingdan_fault") -> str:
    """A new, migrated PostgreSQL database for one test; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_own_postgres(url: str) -> None:
    name = make_url(url).database
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def own_postgres() -> Iterator[Database]:
    """A PostgreSQL database of this test's own (dropped at the end)."""
    require_service("postgres", POSTGRES_URL, 5432)
    url = create_own_postgres()
    try:
        yield Database(url, "postgres")
    finally:
        drop_own_postgres(url)


@pytest.fixture
async def seeded(database: Database) -> AsyncIterator[tuple[Database, str]]:
    """The `database` fixture (SQLite, then PostgreSQL) seeded with the open consultation; its link code."""
    yield database, await seed_consultation(database.url)


class SchedulerProc(BotProc):
    """`python -m bot scheduler` (reminders, digests, closing) as its own process, with
    the same environment as the bot; ready once it logs that it runs."""

    @property
    def args(self) -> list[str]:
        return [sys.executable, "-m", "bot", "scheduler"]

    def _ready(self, state: Any, generation: int) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(self._log_from)
            return b"scheduler running (" in log.read()


def forget_dead_postgres_connections() -> int:
    """After PostgreSQL was restarted: close the idle pooled connections of this process's
    sync PostgreSQL engines (e.g. the session-wide admin engine of tests/conftest.py, which
    would otherwise drop its database at the end on a dead connection). Returns how many
    engines it cleaned."""
    import gc

    engines = [o for o in gc.get_objects()
               if isinstance(o, sa.engine.Engine) and o.dialect.name == "postgresql" and not o.dialect.is_async]
    for engine in engines:
        engine.pool.dispose()
    return len(engines)
