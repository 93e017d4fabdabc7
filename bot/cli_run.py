"""`qingdan demo`, `qingdan run` and `qingdan sandbox`: running the bot."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.config import get_settings
from bot.texts import gettext


def demo(port: int = typer.Option(8080, help="Port of the sandbox and its web chat."),
         host: str = typer.Option("127.0.0.1"),
         fresh: bool = typer.Option(False, "--reset", help="Start from a new demo database.")) -> None:
    """Try the bot without Telegram: the local sandbox, its web chat, and the bot, on demo data."""
    from bot.demo import main

    main(get_settings(), port, host, fresh)


def run() -> None:
    """Run the bot (long polling) against Telegram with BOT_TOKEN, or against TELEGRAM_API_URL."""
    from bot.app import build_runtime, run_polling
    from bot.db import ensure_schema

    settings = get_settings()
    if not settings.bot_token:
        typer.echo(gettext("cli.run-needs-token", settings.locale), err=True)
        raise typer.Exit(2)
    ensure_schema()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_run_with_scheduler(build_runtime(settings), run_polling))
    except KeyboardInterrupt:
        pass


async def _run_with_scheduler(runtime, run_polling) -> None:
    """The bot, and next to it the scheduler (bot.scheduler: one per database)."""
    from bot.scheduler import running

    async with running(runtime):
        await run_polling(runtime)
