"""`qingdan sandbox`: run the local Bot API sandbox and its web chat."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def sandbox(
    port: int = typer.Option(8081, min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    rate_limits: bool = typer.Option(False, help="Answer 429 past Telegram's flood limits."),
    rate: float = typer.Option(30.0, help="Messages per second per bot (with --rate-limits)."),
    chat_rate: float = typer.Option(1.0, help="Messages per second per chat (with --rate-limits)."),
    faults: str = typer.Option("", help='Fault injection, e.g. "error=0.05,slow=0.1,delay=0.5,drop=0.01,seed=1".'),
    presets: str = typer.Option("", help="JSON file with the web chat's preset users."),
    token: list[str] = typer.Option([], help="Bot token(s) to create up front."),
    bot_username: str = typer.Option("", help="Username the bots report (default sandbox<ID>_bot)."),
) -> None:
    """Run the local Telegram Bot API sandbox with its web chat at http://HOST:PORT/."""
    from aiohttp import web

    from bot.config import get_settings
    from bot.demo import port_taken
    from bot.sandbox.limits import Faults, RateLimits
    from bot.sandbox.server import RunningSandbox, Sandbox, create_app
    from bot.texts import gettext

    limits = RateLimits(per_second=rate, burst=max(1.0, rate), per_chat_per_second=chat_rate) if rate_limits else False
    try:
        fault_spec = Faults.parse(faults)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--faults") from None
    try:
        preset_list = json.loads(Path(presets).read_text(encoding="utf-8")) if presets else None
    except (OSError, ValueError) as e:
        raise typer.BadParameter(str(e), param_hint="--presets") from None
    if port_taken(host, port):
        typer.echo(gettext("cli.port-taken", get_settings().locale, host=host, port=port), err=True)
        raise typer.Exit(2)
    sb = Sandbox(rate_limits=limits, faults=fault_spec, presets=preset_list, tokens=token,
                 bot_username=bot_username or None, language=get_settings().locale)
    url = RunningSandbox(sb, host, port).base_url  # (IPv6 in brackets; 0.0.0.0 and :: as the loopback)
    typer.echo(f"Bot API: {url}  (aiogram: TelegramAPIServer.from_base(\"{url}\"))")
    typer.echo(f"Web chat: {url}/")
    web.run_app(create_app(sb), host=host, port=port, access_log=None, print=None, shutdown_timeout=2.0)
