"""Shared pieces of the process-level benchmarks (e2e_http, broadcast, memory): a temp
database (SQLite file or a throw-away PostgreSQL database), the seeded consultation
the e2e tests use, bulk seeding of participants with Core executemany, the real bot
(`python -m bot run`) as a subprocess against a sandbox, and /proc readings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.sandbox.server import RunningSandbox  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

TOKEN = "123456:bench-token"
BOT_USERNAME = "qingdan_bench_bot"
ORGANIZER_ID = 1001
TOWNSHIP = "青山镇"
START_TIMEOUT = 120.0  # the bot process imports slowly on a loaded machine
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- databases ---------------------------------------------------------------------------------


def postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def temp_database(kind: str):  # -> Iterator[str]
    """A migrated, empty database for one run: a SQLite file in a temp directory, or
    a PostgreSQL database created for the run and dropped afterwards."""
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="qingdan-bench-")
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        try:
            upgrade(url)
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    if not postgres_reachable():
        raise RuntimeError("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"qingdan_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def seed_consultation(url: str) -> tuple[int, int, str]:
    """The sample draft list for 青山镇 and an open consultation on the default
    questionnaire (as the demo and the e2e tests); returns (consultation id, township id, link code)."""
    from bot.demo import seed_sample

    seeded = await seed_sample(url, created_by=ORGANIZER_ID, township=TOWNSHIP)
    assert seeded is not None
    return seeded


async def seed_persons(url: str, ids: Sequence[int], chunk: int = 5000) -> None:
    """Resident Person rows, bulk-inserted (Core executemany)."""
    from storage.models import Person

    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for i in range(0, len(ids), chunk):
                await conn.execute(sa.insert(Person.__table__), [
                    {"id": pid, "first_name": f"r{pid}", "language": "", "role": "resident", "active": True,
                     "created_at": now} for pid in ids[i:i + chunk]])
    finally:
        await engine.dispose()


async def seed_participants(url: str, consultation_id: int, township_id: int, ids: Sequence[int],
                            answers: dict[str, object], chunk: int = 5000) -> None:
    """Persons, their responses to the consultation and `answers` each (question id → stored
    value), bulk-inserted (Core executemany)."""
    from storage.models import Answer, Person, Response

    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for i in range(0, len(ids), chunk):
                part = ids[i:i + chunk]
                await conn.execute(sa.insert(Person.__table__), [
                    {"id": pid, "first_name": f"r{pid}", "language": "", "role": "resident", "active": True,
                     "created_at": now} for pid in part])
                await conn.execute(sa.insert(Response.__table__), [
                    {"consultation_id": consultation_id, "person_id": pid, "township_id": township_id,
                     "started_at": now, "updated_at": now} for pid in part])
            rows = (await conn.execute(sa.select(Response.id).where(Response.consultation_id == consultation_id)
                                       )).scalars().all()
            batch: list[dict] = []
            for rid in rows:
                for qid, value in answers.items():
                    batch.append({"response_id": rid, "question_id": qid, "value": value, "answered_at": now})
                if len(batch) >= chunk:
                    await conn.execute(sa.insert(Answer.__table__), batch)
                    batch = []
            if batch:
                await conn.execute(sa.insert(Answer.__table__), batch)
    finally:
        await engine.dispose()


# --- the bot process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    """`python -m bot run` (polling, or `--webhook --port P`) against the sandbox."""

    def __init__(self, sandbox: RunningSandbox, database_url: str, log_path: Path, *,
                 webhook_port: int | None = None) -> None:
        self.sandbox = sandbox
        self.log_path = log_path
        self.webhook_port = webhook_port
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TELEGRAM_",
                                                                         "WEBHOOK_"))},
            "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": sandbox.base_url, "DATABASE_URL": database_url,
            "ORGANIZER_IDS": str(ORGANIZER_ID), "BOT_USERNAME": BOT_USERNAME, "REDIS_URL": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the bot; return once it long-polls the sandbox (or, by webhook, once the
        webhook is registered and its port accepts connections)."""
        state = self.sandbox.sandbox.bot(TOKEN)
        generation = state.poll_generation
        args = [sys.executable, "-m", "bot", "run"]
        if self.webhook_port is not None:
            args += ["--webhook", "--host", "127.0.0.1", "--port", str(self.webhook_port)]
        with self.log_path.open("ab") as log:
            # cwd: the log's directory, so no developer .env is read; Popen does not wait
            self.proc = subprocess.Popen(args, env=self.env, cwd=self.log_path.parent,  # noqa: ASYNC220
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready(state, generation):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot was not ready within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def _ready(self, state: object, generation: int) -> bool:
        if self.webhook_port is None:
            return state.poll_generation != generation  # type: ignore[attr-defined]
        if state.webhook is None:  # type: ignore[attr-defined]
            return False
        try:
            socket.create_connection(("127.0.0.1", self.webhook_port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@contextlib.asynccontextmanager
async def bot_process(sandbox: RunningSandbox, database_url: str, log_dir: Path, *,
                      webhook_port: int | None = None) -> AsyncIterator[BotProcess]:
    bot = BotProcess(sandbox, database_url, log_dir / "bot.log", webhook_port=webhook_port)
    try:
        await bot.start()
        yield bot
    finally:
        bot.stop()


# --- /proc readings and figures ----------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, … from /proc/<pid>/status, in kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith("Vm"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (default: this one), from /proc/<pid>/stat."""
    with open(f"/proc/{pid or os.getpid()}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def machine_line() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
