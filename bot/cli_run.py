"""`qingdan demo` and `qingdan run`: running the bot."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import subprocess
import sys
from collections.abc import Coroutine
from typing import Any

import typer

from bot.config import EX_CONFIG, get_settings
from bot.texts import gettext

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def demo(port: int = typer.Option(8080, min=1, max=65535, help="Port of the sandbox and its web chat."),
         host: str = typer.Option("127.0.0.1", help="Address of the sandbox and its web chat."),
         fresh: bool = typer.Option(False, "--reset", help="Start from a new demo database.")) -> None:
    """Try the bot without Telegram: the local sandbox, its web chat, and the bot, on demo data."""
    from bot.demo import main

    main(get_settings(), port, host, fresh)


def run(webhook: bool = typer.Option(False, "--webhook", help="Receive updates by webhook instead of polling."),
        host: str = typer.Option("127.0.0.1", help="Webhook: address to listen on."),
        port: int = typer.Option(8443, min=1, max=65535, help="Webhook: port to listen on."),
        workers: int = typer.Option(1, min=1, max=64, help="Webhook: processes sharing the port (reuse-port)."),
        register: bool = typer.Option(True, help="Webhook: call setWebhook (WEBHOOK_URL) at start."),
        scheduler: bool = typer.Option(True, help="Run the scheduler next to the bot (one per database: "
                                                  "the others wait as stand-bys).")) -> None:
    """Run the bot against Telegram with BOT_TOKEN, or against TELEGRAM_API_URL: long polling,
    or webhook workers sharing one port; and the scheduler (reminders, digests, closing)."""
    from bot.app import build_runtime, run_polling
    from bot.db import ensure_schema

    settings = get_settings()
    if workers > 1 and not webhook:  # (one bot cannot be long-polled by several processes)
        typer.echo(gettext("cli.workers-need-webhook", settings.locale), err=True)
        raise typer.Exit(2)
    if not settings.bot_token:
        typer.echo(gettext("cli.run-needs-token", settings.locale), err=True)
        raise typer.Exit(EX_CONFIG)
    refuse_weak_pseudonyms(settings)
    if webhook and not settings.webhook_secret:
        # without it anyone who finds the URL can post updates as any user, organizers included
        typer.echo(gettext("cli.webhook-needs-secret", settings.locale), err=True)
        if not settings.telegram_api_url:  # Telegram itself: refuse; a local Bot API server: warn
            raise typer.Exit(EX_CONFIG)
    if webhook and register and not settings.telegram_api_url and not telegram_takes_webhook(settings.webhook_url):
        # (a local Bot API server, the sandbox among them, takes any URL: the default is for them)
        typer.echo(gettext("cli.webhook-needs-https-url", settings.locale, url=settings.webhook_url or "—",
                           ports=", ".join(map(str, WEBHOOK_PORTS))), err=True)
        raise typer.Exit(EX_CONFIG)
    ensure_schema()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if webhook and workers > 1:
        raise typer.Exit(_supervise(host, port, workers, register, scheduler))
    runtime = build_runtime(settings)
    serve = _until_stopped(runtime, host, port, register) if webhook else run_polling(runtime)
    from aiogram.exceptions import TelegramUnauthorizedError

    from storage.fsm import RedisRefused

    try:
        asyncio.run(_with_scheduler(runtime, serve) if scheduler else serve)
    except KeyboardInterrupt:
        pass
    except TelegramUnauthorizedError:  # a token of the right shape, mistyped or revoked at @BotFather
        typer.echo(gettext("cli.token-refused", settings.locale), err=True)
        raise typer.Exit(EX_CONFIG) from None
    except RedisRefused as e:  # a password or a database number Redis does not take: each update would fail
        from bot.config import _without_password

        typer.echo(gettext("cli.redis-refused", settings.locale, url=_without_password(settings.redis_url), error=e),
                   err=True)
        raise typer.Exit(EX_CONFIG) from None
    except OSError as e:  # the webhook's port held by another program (not a reuse-port sibling)
        if e.errno != errno.EADDRINUSE:
            raise
        typer.echo(gettext("cli.port-taken", settings.locale, host=host, port=port), err=True)
        raise typer.Exit(2) from None


WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram's setWebhook takes


def telegram_takes_webhook(url: str) -> bool:
    """Whether Telegram's setWebhook would take this URL: HTTPS, on one of WEBHOOK_PORTS."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and (port is None or port in WEBHOOK_PORTS)


async def _until_stopped(runtime: Any, host: str, port: int, register: bool) -> None:
    """A webhook worker until SIGTERM or SIGINT (systemd's stop, the supervisor's): it
    then takes no new deliveries and finishes those in flight before it exits."""
    from bot.app import serve_webhook

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_webhook(runtime, host, port, register=register, reuse_port=True, stop=stop)


async def _with_scheduler(runtime: Any, serve: Coroutine[Any, Any, None]) -> None:
    """The bot, and next to it the scheduler (bot.scheduler: one per database)."""
    from bot.scheduler import running

    async with running(runtime):
        await serve


#: A worker that exits sooner than this after its start failed to start (bad settings, a
#: database that is not there): after FAILED_STARTS such exits in a row the supervisor
#: stops, rather than restart it twice a second for ever while systemd shows it running.
STARTUP_GRACE = 30.0  # generous: a loaded host takes seconds just to import the bot
FAILED_STARTS = 3
#: At a stop, how long the supervisor lets its workers finish before it kills them: a
#: worker's own budget (bot.app.WEBHOOK_SHUTDOWN_TIMEOUT, 25 s) and a little to exit.
STOP_GRACE = 28.0


def _supervise(host: str, port: int, workers: int, register: bool, scheduler: bool) -> int:
    """Start `workers` webhook processes on one port (the first registers the webhook)
    and stop them all on SIGINT/SIGTERM; a worker that dies is started again (in the
    first one's place registering the webhook again: setWebhook keeps pending updates).
    Returns 1 when a worker keeps failing right after its start, else 0."""
    import time

    log = logging.getLogger(__name__)

    def start(n: int) -> subprocess.Popen:
        args = [sys.executable, "-m", "bot", "run", "--webhook", "--host", host, "--port", str(port),
                "--workers", "1", "--register" if register and n == 0 else "--no-register",
                "--scheduler" if scheduler else "--no-scheduler"]
        started[n] = time.monotonic()
        return subprocess.Popen(args)

    started = [0.0] * workers
    failed = [0] * workers  # exits right after the start, in a row
    procs = [start(n) for n in range(workers)]
    stopping = False
    code = 0

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for n, p in enumerate(procs):
            if p.poll() is None or stopping:
                continue
            failed[n] = failed[n] + 1 if time.monotonic() - started[n] < STARTUP_GRACE else 0
            if p.returncode == EX_CONFIG:  # its settings (a token Telegram refuses): the same again each time
                log.error("worker %s stopped on its settings; stopping all workers — see the errors above", n)
                code = EX_CONFIG
                stop()
                break
            if failed[n] >= FAILED_STARTS:
                log.error("worker %s failed %s times in a row right after starting (exit code %s); stopping all "
                          "workers — see the errors above", n, failed[n], p.returncode)
                code = 1
                stop()
                break
            log.warning("worker %s exited with %s; starting it again", p.pid, p.returncode)
            procs[n] = start(n)
        time.sleep(0.5)
    # the workers stop together, each finishing its deliveries for up to WEBHOOK_SHUTDOWN_TIMEOUT:
    # killed only after that (and before systemd's TimeoutStopSec=30 kills everything)
    ends = time.monotonic() + STOP_GRACE
    for p in procs:
        try:
            p.wait(timeout=max(0.0, ends - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %s still running %.0f s after the stop; killing it", p.pid, STOP_GRACE)
            p.kill()
            p.wait()
    return code


def refuse_weak_pseudonyms(settings: Any) -> None:
    """Against Telegram itself (no TELEGRAM_API_URL: real people), refuse PSEUDONYM_KEY's
    published placeholder — the reports' pseudonyms could be turned back into Telegram
    ids; against a local Bot API server (the sandbox, tests) only warn."""
    if not settings.weak_pseudonyms:
        return
    text = gettext("cli.weak-pseudonym-key", settings.locale)
    typer.echo(text, err=True)
    if not settings.telegram_api_url:
        raise typer.Exit(EX_CONFIG)
