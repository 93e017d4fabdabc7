"""Assembling the bot: the Bot object (Telegram, a self-hosted Bot API server or the
sandbox — all only an address), the Dispatcher with its middlewares and routers,
and running it by long polling or webhook."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import errors
from bot.broadcaster import Broadcaster
from bot.config import Settings
from bot.limits import FitTelegramLimits
from bot.middlewares import CommitBeforeSend, ContextMiddleware, PressAwareFSM, system_clock
from bot.retry import AlreadyShown, PressTooOld, RetryIdempotent
from bot.session import JsonAiohttpSession
from bot.texts import gettext, normalize_locale
from storage.engine import make_engine, make_sessionmaker
from storage.fsm import ResilientRedisStorage, make_fsm_storage

log = logging.getLogger(__name__)
T = TypeVar("T")

# Updates handled at once by one process (polling tasks; webhook connections Telegram may
# open). Below the database pool (storage.engine), so a backlog waits in line instead of
# timing out on a connection.
MAX_CONCURRENT_UPDATES = 24

# The commands shown in Telegram's menu, per audience (texts: catalog keys cmd.<name>).
PUBLIC_COMMANDS = ("start", "help", "mydata", "language", "cancel")
CADRE_COMMANDS = ("list", "find", "mycomments", "missing", "report", "myreports", *PUBLIC_COMMANDS)
ORGANIZER_COMMANDS = ("stats", "comments", "new", "consultations", "open", "close", "deadline", "links",
                      "invite", "announce", "export", "digest", "publish", *PUBLIC_COMMANDS)


def create_bot(settings: Settings, session: BaseSession | None = None, token: str | None = None) -> Bot:
    if session is None:
        session = JsonAiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))) \
            if settings.telegram_api_url else JsonAiohttpSession()
    session.middleware(CommitBeforeSend())
    session.middleware(FitTelegramLimits())
    session.middleware(AlreadyShown())
    session.middleware(PressTooOld())
    session.middleware(RetryIdempotent())
    return Bot(token or settings.bot_token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def build_dispatcher(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession],
                     storage: BaseStorage | None = None,
                     clock: Callable[[], datetime] = system_clock) -> Dispatcher:
    from bot.routers import all_routers

    # One update of a chat at a time: a handler's writes (its FSM step among them) are
    # committed when it returns, so the chat's next update must not start before that.
    isolation = SimpleEventIsolation()
    dp = Dispatcher(storage=storage, events_isolation=isolation) if storage is not None \
        else Dispatcher(events_isolation=isolation)
    PressAwareFSM.install(dp)
    errors.install(dp)  # a failed update: an apology, or a 500 for Telegram to deliver it again
    dp.update.outer_middleware(ContextMiddleware(sessionmaker, settings, clock))
    dp["settings"] = settings
    dp["sessionmaker"] = sessionmaker
    dp["clock"] = clock
    for router in all_routers():
        dp.include_router(router)
    return dp


def _menus(default_locale: str) -> tuple[tuple[str, str | None], ...]:
    """(locale, Telegram language code) of each menu: one per language the bot speaks, and the
    bot's LOCALE for everybody else (a Russian speaker chats in it, so the menu too)."""
    return (("zh_CN", "zh"), ("en", "en"), (normalize_locale(default_locale), None))


async def set_commands(bot: Bot, organizer_ids: list[int] | tuple[int, ...] = (), default_locale: str = "zh_CN",
                       chosen: dict[int, str] | None = None) -> None:
    """The public menu for everybody, and the organizers' menu in each organizer's chat (in
    the language they `chosen` with /language, if any)."""
    for locale, language_code in _menus(default_locale):
        await bot.set_my_commands(_menu(PUBLIC_COMMANDS, locale), scope=BotCommandScopeDefault(),
                                  language_code=language_code)
    for person_id in organizer_ids:
        try:
            await set_person_commands(bot, person_id, "organizer", default_locale,
                                      chosen=(chosen or {}).get(person_id, ""))
        except TelegramBadRequest as e:  # never wrote to the bot: no chat to give a menu (their /start does)
            if "chat not found" not in e.message:
                raise
            log.info("organizer %s has not written to the bot yet: their menu comes with their /start", person_id)


async def set_startup_commands(runtime: Runtime) -> None:
    """set_commands at the start of the bot, keeping the languages organizers chose."""
    import sqlalchemy as sa

    from storage.models import Person

    ids = list(runtime.settings.organizer_ids)
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(sa.select(Person.id, Person.language)
                                      .where(Person.id.in_(ids), Person.language_chosen))).all() if ids else []
    chosen = {int(person_id): str(language) for person_id, language in rows}
    await with_retry(lambda: set_commands(runtime.bot, ids, runtime.settings.locale, chosen), "setMyCommands")


def _menu(commands: tuple[str, ...], locale: str) -> list[BotCommand]:
    # /start of a cadre's or organizer's menu: their greeting and what they can do, not "continue answering"
    staff = commands is not PUBLIC_COMMANDS
    return [BotCommand(command=c, description=gettext("cmd.start-staff" if staff and c == "start" else f"cmd.{c}",
                                                      locale)) for c in commands]


async def set_person_commands(bot: Bot, person_id: int, role: str, default_locale: str = "zh_CN",
                              chosen: str = "") -> None:
    """A person's own command menu (chat scope, every language): for their role, and in the
    language they `chosen` with /language whatever their Telegram app's language (Telegram
    picks the menu by the app's)."""
    commands = ORGANIZER_COMMANDS if role == "organizer" else CADRE_COMMANDS if role == "cadre" else PUBLIC_COMMANDS
    for locale, language_code in _menus(default_locale):
        await bot.set_my_commands(_menu(commands, normalize_locale(chosen) if chosen else locale),
                                  scope=BotCommandScopeChat(chat_id=person_id), language_code=language_code)


def chosen_language(person: Any) -> str:
    """The language a person chose with /language ("" when they chose none)."""
    return person.language if person.language_chosen else ""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bot: Bot
    dp: Dispatcher

    async def close(self, grace: float | None = None) -> None:
        """Stop: the sends still running in the background get up to `grace` seconds
        (BACKGROUND_GRACE by default) before the bot's session closes under them."""
        await finish_background(BACKGROUND_GRACE if grace is None else grace)
        await self.dp.storage.close()
        await self.bot.session.close()
        await self.engine.dispose()


BACKGROUND_GRACE = 20.0  # at a stop, for broadcasts running in the background to finish


def _background_tasks() -> set[asyncio.Task[Any]]:
    from bot import scheduler
    from bot.routers import organizer

    return {t for t in (*organizer._background, *scheduler._background) if not t.done()}


async def finish_background(grace: float) -> None:
    """At a stop: wait up to `grace` seconds for the work running in the background —
    broadcasts an organizer started (/announce, a moved deadline told to the cadres), final
    reports — then stop what is left. A stopped broadcast records what it sent and gives back
    what it did not; the scheduler resumes it after the restart (storage.outbox; final reports
    by its sync job), to those who have not had it, once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    tasks = _background_tasks()
    if tasks:
        log.info("stopping: waiting up to %.0f s for %d message send(s) running in the background", grace, len(tasks))
    while tasks:  # (a handler finishing meanwhile may start another)
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.wait(tasks, timeout=remaining)
        tasks = _background_tasks()
    if tasks:
        log.warning("stopping: %d message send(s) still running after %.0f s are stopped; what they have not "
                    "sent goes out after the restart", len(tasks), grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def tune_gc() -> None:
    """Once start-up is done: move everything loaded so far (modules, catalogs, routers)
    out of the collector's sight, and collect young objects less often. Each update
    allocates thousands of short-lived objects (pydantic models, dicts); with the default
    thresholds the collector ran dozens of times a second and walked every long-lived
    object each full pass — measured at about 40% of the answer path's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def build_runtime(settings: Settings, token: str | None = None,
                  clock: Callable[[], datetime] = system_clock) -> Runtime:
    engine = make_engine(settings.database_url, **settings.engine_options())
    sessionmaker = make_sessionmaker(engine)
    storage = make_fsm_storage(settings.redis_url or None, engine)
    bot = create_bot(settings, token=token)
    dp = build_dispatcher(settings, sessionmaker, storage, clock)
    dp["broadcaster"] = Broadcaster(bot, sessionmaker)
    return Runtime(settings, engine, sessionmaker, bot, dp)


async def with_retry(call: Callable[[], Awaitable[T]], what: str, attempts: int = 8) -> T:
    """A start-up call to the Bot API, retried with backoff on 5xx, 429 and network
    errors (a Bot API hiccup at start must not stop the bot)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TelegramRetryAfter as e:
            delay: float = e.retry_after
        except (TelegramServerError, TelegramNetworkError) as e:
            if attempt == attempts:
                raise
            delay = min(30.0, 0.5 * 2 ** (attempt - 1))
            log.warning("%s failed (%s); retrying in %.1f s", what, e, delay)
        await asyncio.sleep(delay)
    return await call()


async def check_fsm_storage(runtime: Runtime) -> None:
    """At the start: a Redis that refuses REDIS_URL stops the bot (storage.fsm.RedisRefused);
    one that is down is a warning line, and the bot starts."""
    storage = runtime.dp.storage
    if isinstance(storage, ResilientRedisStorage):
        await storage.check()


async def run_polling(runtime: Runtime, handle_signals: bool = True) -> None:
    try:  # (the start-up calls too: a token refused there still closes the runtime)
        await check_fsm_storage(runtime)
        await set_startup_commands(runtime)
        await with_retry(lambda: runtime.bot.delete_webhook(drop_pending_updates=False), "deleteWebhook")
        me = await with_retry(runtime.bot.me, "getMe")
        tune_gc()
        log.info("bot @%s polling", me.username)
        await runtime.dp.start_polling(runtime.bot, handle_signals=handle_signals, close_bot_session=False,
                                       polling_timeout=25, tasks_concurrency_limit=MAX_CONCURRENT_UPDATES)
    finally:
        await runtime.close()


WEBHOOK_PATH = "/telegram/webhook"


WEBHOOK_UPDATE_TIMEOUT = 24 * 3600.0  # in effect none: see serve_webhook
WEBHOOK_SHUTDOWN_TIMEOUT = 25.0  # below the systemd unit's TimeoutStopSec=30 (README)


async def serve_webhook(runtime: Runtime, host: str, port: int, path: str = WEBHOOK_PATH,
                        register: bool = True, reuse_port: bool = False,
                        stop: asyncio.Event | None = None) -> None:
    """Receive updates by webhook on host:port/path until `stop` is set (or forever).

    Updates are handled before the HTTP answer (not in the background): if this
    process dies mid-update, Telegram gets no 200 and delivers the update again, and
    the update_id mark makes a second delivery harmless. With `reuse_port` several
    processes share the port (the kernel spreads connections between them)."""
    from aiohttp import web

    from bot.webhook import JsonReplyRequestHandler

    try:
        await check_fsm_storage(runtime)
    except BaseException:
        await runtime.close()
        raise
    settings = runtime.settings
    secret = settings.webhook_secret or None
    app = web.Application()
    # no time limit before the HTTP answer: aiogram's default hands an update that runs over
    # 55 s to the background and answers 200 — a process dying then would lose it
    JsonReplyRequestHandler(dispatcher=runtime.dp, bot=runtime.bot, handle_in_background=False,
                            secret_token=secret, _timeout=WEBHOOK_UPDATE_TIMEOUT).register(app, path=path)
    # aiogram's shutdown hook closes the bot's session; aiohttp runs shutdown hooks before
    # it waits for the requests in flight, whose handlers still call the Bot API: the
    # session is closed after them (runtime.close, below) instead
    app.on_shutdown.clear()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=WEBHOOK_SHUTDOWN_TIMEOUT)
    await runner.setup()
    tune_gc()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
    await site.start()
    log.info("webhook worker listening on %s:%s%s", host, port, path)
    if register:  # only once listening, so the first deliveries find the port open
        await set_startup_commands(runtime)
        url = settings.webhook_url or f"http://{host}:{port}{path}"
        # the update types the routers handle (as polling asks for them): my_chat_member among them
        await with_retry(lambda: runtime.bot.set_webhook(url, secret_token=secret, drop_pending_updates=False,
                                                         max_connections=MAX_CONCURRENT_UPDATES,
                                                         allowed_updates=runtime.dp.resolve_used_update_types()),
                         "setWebhook")
        log.info("webhook set to %s", url)
    try:
        await (stop or asyncio.Event()).wait()
        log.info("webhook worker stopping: no new deliveries; finishing those in flight (up to %s s)",
                 WEBHOOK_SHUTDOWN_TIMEOUT)
    finally:
        # one budget for both: the deliveries in flight, then the sends they left in the background
        ends = asyncio.get_running_loop().time() + WEBHOOK_SHUTDOWN_TIMEOUT
        await runner.cleanup()
        await runtime.close(grace=max(0.0, ends - asyncio.get_running_loop().time()))
