"""`qingdan run --webhook --workers N`: the supervisor of the worker processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import EX_CONFIG

REPO = Path(__file__).resolve().parents[2]


def test_workers_failing_right_after_their_start_stop_the_supervisor(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "WEBHOOK_", "TELEGRAM_"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               TELEGRAM_API_URL="http://127.0.0.1:9", PYTHONPATH=str(REPO))
    with socket.socket() as taken:  # the port is held by another program: no worker can listen on it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # cwd: tmp_path, so no developer .env is read
        done = subprocess.run([sys.executable, "-m", "bot", "run", "--webhook", "--host", "127.0.0.1", "--port",
                               str(port), "--workers", "2", "--no-scheduler"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "failed 3 times in a row right after starting" in done.stderr
    assert done.stderr.count("starting it again") <= 4  # two restarts of each at most, then it gave up


@pytest.mark.postgres
def test_a_command_on_a_postgres_database_not_upgraded_says_run_db_upgrade(tmp_path: Path) -> None:
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, require_service

    require_service("postgres", POSTGRES_URL, 5432)
    name = f"qingdan_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BOT_", "LOCALE", "TELEGRAM_"))}
        env.update(DATABASE_URL=url, BOT_TOKEN="123456:test-token", BOT_USERNAME="qingdan_test_bot",
                   PSEUDONYM_KEY="a-long-random-test-key",
                   PYTHONPATH=str(REPO))
        for args in (["consultations", "list"], ["scheduler"]):
            done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, (args, done.stderr[-1500:])
            assert "qingdan db upgrade" in done.stderr and "Traceback" not in done.stderr
        upgraded = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)
        assert upgraded.returncode == 0, upgraded.stderr[-1500:]
        listed = subprocess.run([sys.executable, "-m", "bot", "consultations", "list", "--json"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed.stderr[-1500:]
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_placeholder_pseudonym_key_is_refused_against_telegram(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               PYTHONPATH=str(REPO))
    for args in (["run"], ["scheduler"]):
        done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == EX_CONFIG, (args, done.stderr[-1500:])
        assert "PSEUDONYM_KEY" in done.stderr and "change-me" in done.stderr


def test_a_webhook_without_a_secret_is_refused_against_telegram(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "WEBHOOK_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               PSEUDONYM_KEY="a-long-random-test-key", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--webhook", "--port", "18999"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == EX_CONFIG, done.stderr[-1500:]
    assert "WEBHOOK_SECRET" in done.stderr


def test_a_webhook_url_telegram_would_refuse_is_refused_before_start(tmp_path: Path) -> None:
    # Telegram's setWebhook takes only an HTTPS URL on port 443, 80, 88 or 8443: without
    # WEBHOOK_URL the worker registered http://127.0.0.1:8443/…, and died on the 400 with a traceback
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "WEBHOOK_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               PSEUDONYM_KEY="a-long-random-test-key", WEBHOOK_SECRET="s", PYTHONPATH=str(REPO))
    for url in ("", "http://bot.example.gov.cn/telegram/webhook", "https://bot.example.gov.cn:9443/telegram/webhook"):
        done = subprocess.run([sys.executable, "-m", "bot", "run", "--webhook", "--port", "18998", "--no-scheduler"],
                              env={**env, "WEBHOOK_URL": url}, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr, done.stderr[-1500:]
        assert "WEBHOOK_URL" in done.stderr and "https://" in done.stderr and "8443" in done.stderr


def test_a_port_held_by_another_program_is_named_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "WEBHOOK_", "TELEGRAM_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               TELEGRAM_API_URL="http://127.0.0.1:9", WEBHOOK_SECRET="s", PYTHONPATH=str(REPO))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        runs = [subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True,
                               text=True, timeout=120)
                for args in (["run", "--webhook", "--port", port, "--no-scheduler"], ["sandbox", "--port", port])]
    for done in runs:
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert f"127.0.0.1:{port} 已被占用" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "bot", "sandbox", "--port", port, "--faults", "errors=0.5"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "unknown fault setting 'errors'" in bad.stderr


async def test_a_token_the_bot_api_refuses_is_named_not_a_traceback(tmp_path: Path) -> None:
    """A token of the right shape that Telegram refuses (mistyped, or revoked at @BotFather):
    `qingdan run` says so in a line, exit 2, instead of a traceback and unclosed sessions;
    `qingdan scheduler` too, at its start (it ran on, each send failing in the log)."""
    import asyncio

    from aiohttp import web

    async def unauthorized(request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", unauthorized)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "WEBHOOK_", "TELEGRAM_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:revoked-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               TELEGRAM_API_URL=f"http://127.0.0.1:{port}", PSEUDONYM_KEY="a-long-random-test-key",
               WEBHOOK_SECRET="s", PYTHONPATH=str(REPO))
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = str(s.getsockname()[1])
        workers = ["run", "--webhook", "--port", free, "--workers", "2", "--no-scheduler"]  # the supervisor: 78 too
        for args, locale in ((["run", "--no-scheduler"], "zh_CN"), (["run"], "en"), (["scheduler"], "zh_CN"),
                             (["scheduler"], "en"), (workers, "en")):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, env={**env, "LOCALE": locale},
                                                        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                _, err = await asyncio.wait_for(proc.communicate(), 60)
            finally:
                if proc.returncode is None:  # still running: it did not stop at the refused token
                    proc.kill()
                    await proc.wait()
            stderr = err.decode()
            assert proc.returncode == EX_CONFIG, stderr[-2000:]
            assert "Traceback" not in stderr and "Unclosed" not in stderr, stderr[-2000:]
            said = "Telegram 不接受 BOT_TOKEN" if locale == "zh_CN" else "Telegram does not accept BOT_TOKEN"
            assert said in stderr and "revoked-token" not in stderr, stderr[-2000:]
    finally:
        await runner.cleanup()


def test_a_port_out_of_range_is_refused_as_a_usage_error() -> None:
    """--port 99999 (demo, sandbox, run --webhook) ended in an OverflowError traceback."""
    from typer.testing import CliRunner

    from bot.cli import app

    for args in (["demo", "--port", "99999"], ["sandbox", "--port", "70000"], ["run", "--webhook", "--port", "-1"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (args, result.output)
        assert "Invalid value for '--port'" in result.output, result.output


_SLOW_WORKER = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(time.monotonic()))
(out / f"ready-{sys.argv[2]}").touch()
while not stopped:
    time.sleep(0.05)
time.sleep(float(sys.argv[3]))  # finishing the deliveries in flight
(out / f"finished-{sys.argv[2]}").touch()
"""

_SUPERVISOR = """
import itertools, subprocess, sys
import bot.cli_run as cli_run
real, n = subprocess.Popen, itertools.count()
worker, out, takes = sys.argv[1:4]
subprocess.Popen = lambda args, **kw: real([sys.executable, "-c", worker, out, str(next(n)), takes], **kw)
sys.exit(cli_run._supervise("127.0.0.1", 8443, 2, False, False))
"""


def test_a_stop_lets_every_worker_finish_within_its_own_shutdown_budget(tmp_path: Path) -> None:
    # a worker stopping finishes its deliveries for up to WEBHOOK_SHUTDOWN_TIMEOUT (25 s), but
    # the supervisor killed the first one 10 s after the stop
    import signal
    import time

    from bot.app import WEBHOOK_SHUTDOWN_TIMEOUT
    from bot.cli_run import STOP_GRACE

    assert WEBHOOK_SHUTDOWN_TIMEOUT < STOP_GRACE < 30  # the README's unit: TimeoutStopSec=30
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sup = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, _SLOW_WORKER, str(tmp_path), "12"], env=env,
                           cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        ready = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 2:
            assert sup.poll() is None and time.monotonic() < ready, sup.stderr.read() if sup.stderr else ""
            time.sleep(0.1)
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=60) == 0
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sorted(p.name for p in tmp_path.glob("finished-*")) == ["finished-0", "finished-1"]


def test_kill_usr1_prints_the_stacks_of_the_qingdan_command_and_does_not_kill_it(tmp_path: Path) -> None:
    """README: `kill -USR1 <pid>` makes a bot process print every thread's stack. Under
    systemd the process is the `qingdan` console script (not `python -m bot`, which alone
    registered it): the signal's default action killed the bot instead."""
    import signal
    import time

    qingdan = Path(sys.executable).parent / "qingdan"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "err.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([str(qingdan), "sandbox", "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        ends = time.monotonic() + 60
        while time.monotonic() < ends:  # up: it answers on its port
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGUSR1)
        ends = time.monotonic() + 10
        while "most recent call first" not in log.read_text() and time.monotonic() < ends:
            time.sleep(0.1)
        assert proc.poll() is None, f"killed by SIGUSR1 ({proc.returncode})"
        assert "most recent call first" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_workers_without_webhook_are_refused_not_ignored(tmp_path: Path) -> None:
    """`qingdan run --workers 4` (no --webhook) ran one polling process and said nothing: several
    processes cannot poll one bot (Telegram answers the second getUpdates with a conflict)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "WEBHOOK_", "TELEGRAM_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db",
               TELEGRAM_API_URL="http://127.0.0.1:9", PYTHONPATH=str(REPO), LOCALE="en")
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--workers", "4"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == "--workers needs --webhook: only webhook workers can share a bot; " \
                                  "long polling runs one process."
    assert not (tmp_path / "q.db").exists()  # refused before anything was done


def test_a_settings_error_exits_78_so_systemd_stops_restarting_while_a_database_down_exits_2(tmp_path: Path) -> None:
    """Under README's Restart=always, a settings error (exit 2, as a database down) was started
    again every few seconds for ever: it exits 78 (EX_CONFIG), which the units name in
    RestartPreventExitStatus=, while a database that is down still exits 2 and is restarted."""
    with socket.socket() as s:  # a port nothing listens on: PostgreSQL is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "WEBHOOK_", "LOCALE",
                                "TIMEZONE", "ENV_FILE"))}
    env.update(BOT_TOKEN="123456:test-token", PSEUDONYM_KEY="a-long-random-test-key",
               DATABASE_URL=f"postgresql+asyncpg://qingdan:SECRET@127.0.0.1:{port}/qingdan", PYTHONPATH=str(REPO))
    for args in (["scheduler"], ["run", "--no-scheduler"]):
        down = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert down.returncode == 2 and "无法打开数据库" in down.stderr, (args, down.stderr[-1500:])
        bad = subprocess.run([sys.executable, "-m", "bot", *args], env={**env, "TIMEZONE": "Beijing"}, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 78 and "TIMEZONE" in bad.stderr, (args, bad.stderr[-1500:])
        no_token = subprocess.run([sys.executable, "-m", "bot", *args], env={**env, "BOT_TOKEN": ""}, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)
        assert no_token.returncode == 78 and "BOT_TOKEN" in no_token.stderr, (args, no_token.stderr[-1500:])
    assert EX_CONFIG == 78
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    units = re.findall(r"```ini\n(# /etc/systemd/system/.*?)```", readme, re.S)
    assert len(units) == 2 and all("Restart=always" in u and "RestartPreventExitStatus=78" in u for u in units)


def test_the_scheduler_logs_with_the_process_id_as_run_does(tmp_path: Path) -> None:
    """`qingdan scheduler`'s log lines had no process id, unlike `qingdan run`'s (LOG_FORMAT)."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "WEBHOOK_", "LOCALE"))}
    env.update(BOT_TOKEN="123456:test-token", PSEUDONYM_KEY="a-long-random-test-key",
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db", TELEGRAM_API_URL="http://127.0.0.1:9",
               PYTHONPATH=str(REPO))
    with open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            ends = time.monotonic() + 60
            while "getMe failed at start" not in (tmp_path / "err").read_text() and time.monotonic() < ends:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    line = next(x for x in (tmp_path / "err").read_text().splitlines() if "getMe failed at start" in x)
    assert re.match(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} {proc.pid} WARNING bot\.scheduler: ", line), line


@pytest.mark.parametrize("workers", [1, 2])
def test_a_redis_url_redis_refuses_stops_run_with_exit_78_and_one_line(tmp_path: Path, workers: int) -> None:
    """REDIS_URL=redis://…/99 (Redis has databases 0–15) or a password Redis does not take:
    `qingdan run` started, and every update that touched the FSM failed with the apology and
    a traceback. It now stops at the start, saying so in the operator's language without the
    password, with 78 (the units' RestartPreventExitStatus: no restart loop) — the webhook
    workers' supervisor too."""
    from redis.asyncio.connection import parse_url

    from tests.conftest import REDIS_URL, require_service

    require_service("redis", REDIS_URL, 6379)
    where = parse_url(REDIS_URL)
    with socket.socket() as s:  # a Bot API nobody answers: the check comes before any call to it
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "PSEUDONYM_", "TELEGRAM_", "WEBHOOK_", "LOCALE",
                                "ENV_FILE"))}
    env.update(BOT_TOKEN="123456:test-token", PSEUDONYM_KEY="a-long-random-test-key", WEBHOOK_SECRET="s",
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/q.db", TELEGRAM_API_URL=f"http://127.0.0.1:{free}",
               PYTHONPATH=str(REPO))
    host = f"{where.get('host', '127.0.0.1')}:{where.get('port', 6379)}"
    args = ["run", "--no-scheduler"] if workers == 1 else \
        ["run", "--webhook", "--port", str(free), "--workers", str(workers), "--no-scheduler"]
    for url, said in ((f"redis://{host}/99", "Redis 不接受 REDIS_URL redis://"),
                      (f"redis://nobody:hunter2@{host}/15", "Redis 不接受 REDIS_URL redis://nobody:***@")):
        proc = subprocess.run([sys.executable, "-m", "bot", *args], env={**env, "REDIS_URL": url}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=90)
        assert proc.returncode == EX_CONFIG, proc.stderr[-2000:]
        assert said in proc.stderr and "hunter2" not in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "Unclosed" not in proc.stderr, proc.stderr[-2000:]
