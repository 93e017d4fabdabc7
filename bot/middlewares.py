"""Outer middlewares: one database transaction per update, update_id
de-duplication inside that transaction, the person and their language.

Presses on question messages (the answer path, the bot's hottest) take a faster
road: they go straight to their handler (see GroupedPress), no transaction is
opened for them up front, and their handler hands its writes to the process's
group commit (storage.group_commit), which writes the update_id mark in the same
transaction as the answers, commits many updates at once, and only then lets each
handler acknowledge.

Every other update's transaction is committed before the bot sends anything
(CommitBeforeSend): what the bot acknowledges is durable first, and no write lock
(SQLite) or row lock (PostgreSQL) is held across a Bot API call — 500 residents
writing "继续" at once would otherwise queue on the lock for the length of 500
HTTP round trips."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aiogram import BaseMiddleware, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.context import Ctx
from bot.texts import normalize_locale
from storage import sqlite_inline
from storage.answer_path import AnswerPath, answer_path
from storage.fsm import ResilientRedisStorage, current_session, deferred_writes
from storage.marks import PROCESSED, bind_update, marked
from storage.models import Person
from storage.people import needs_write, stored_name, touch_person
from storage.responses import AlreadyProcessed, Change, Stale

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod

log = logging.getLogger(__name__)

# The update being handled in this task: its session, and the task itself (a task the
# handler starts inherits the variable, but must not touch the handler's session).
_handling: ContextVar[tuple[AsyncSession, asyncio.Task[Any] | None] | None] = ContextVar("qingdan_handling",
                                                                                          default=None)


class CommitBeforeSend(BaseRequestMiddleware):
    """Commits the handled update's open transaction before each Bot API call the
    handler makes (its update_id mark and writes become durable before the user sees
    anything, and no lock is held while the request is on the wire)."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        handling = _handling.get()
        if handling is not None and handling[1] is asyncio.current_task() and (
                handling[0].in_transaction() or not marked(handling[0])):
            await handling[0].commit()
        return await make_request(bot, method)


@dataclass(frozen=True)
class GroupedPress:
    """A kind of press whose handler commits through the group commit (`ctx.commit()`
    then carries the update_id mark). Such a press is handed straight to its handler:
    aiogram's routing would try every router's filters first (six of them sync, each
    run in a thread), which costs more than the whole handler. Its router registers
    the handler too, for readers; no other router can match its callback prefix."""

    callback: type[CallbackData]
    handler: Callable[[CallbackQuery, Any, Ctx], Awaitable[Any]]


# bot.routers.resident registers its question presses here.
GROUPED_PRESSES: list[GroupedPress] = []
# Presses that start something as deliberately as /start does (a welcome's 开始答题): like
# /start, they may store a person the bot keeps nothing of (see ContextMiddleware._may_create).
JOINING_PRESSES: list[type[CallbackData]] = []
# Texts that join as /start does (an invite link pasted instead of tapped: bot.routers.cadre).
JOINING_TEXTS: list[re.Pattern[str]] = []

STALE_RETRIES = 5


def system_clock() -> datetime:
    return datetime.now(UTC)


def _reported_language(user: User) -> str:
    """The person's language as Telegram reports it, when it is one of ours; else "" (none, or
    one the bot does not speak: the bot's LOCALE applies, not Chinese by default)."""
    code = (user.language_code or "").replace("-", "_").lower()
    return normalize_locale(code) if code.startswith(("zh", "en")) else ""


def _grouped(event: Update) -> tuple[GroupedPress, CallbackData] | None:
    """The grouped press this update is, with its parsed callback data; else None."""
    query = event.callback_query
    if query is None or query.data is None:
        return None
    for press in GROUPED_PRESSES:
        if query.data.startswith(press.callback.__prefix__ + press.callback.__separator__):
            try:
                return press, press.callback.unpack(query.data)
            except (TypeError, ValueError):
                return None
    return None


_GROUPED = "qingdan_grouped_press"


class PressAwareFSM(FSMContextMiddleware):
    """aiogram's FSM middleware, except that a grouped press (a press on a question
    message) does not read the FSM state: its handler takes none, and the read is a
    database round trip on every press. It still runs under the chat's events-isolation
    lock, like every update; it carries its parsed press on to ContextMiddleware."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        grouped = _grouped(event) if isinstance(event, Update) else None
        if grouped is None:
            return await super().__call__(handler, event, data)
        data[_GROUPED] = grouped
        context = self.resolve_event_context(data["bot"], data)
        data["fsm_storage"] = self.storage
        if context is None:
            return await handler(event, data)
        async with self.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)

    @classmethod
    def install(cls, dp: Dispatcher) -> None:
        """Put this in the place of the Dispatcher's own FSM middleware."""
        old = dp.fsm
        new = cls(storage=old.storage, events_isolation=old.events_isolation, strategy=old.strategy)
        dp.update.outer_middleware.unregister(old)
        dp.update.outer_middleware.register(new)
        dp.fsm = new


class OnDemandSession:
    """A press's database session, opened on first use. A press on a question message
    reads through a session only when a cache misses and the read cannot take SQLite's
    loop-thread connection (busy, or the database is PostgreSQL); most presses never
    open one, and opening and closing an AsyncSession costs ≈ 40 µs — a tenth of a press."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._sessionmaker()
        return getattr(self._session, name)

    def in_transaction(self) -> bool:
        return self._session is not None and self._session.in_transaction()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> OnDemandSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ContextMiddleware(BaseMiddleware):
    """Opens the session, skips an update_id already processed (the mark is written by
    the session's first commit, in the same transaction as the handler's own writes, so
    a crash before the commit lets the redelivered update through; see storage.marks),
    loads the person and builds `ctx`."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                 clock: Callable[[], datetime] = system_clock) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock
        self.path: AnswerPath = answer_path(sessionmaker.kw["bind"])
        self._username: str | None = None

    async def _bot_username(self, data: dict[str, Any]) -> str:
        """The bot's username as Telegram has it (the chat's links use it); a BOT_USERNAME that
        names another bot is logged once: the links and QR posters `qingdan links` makes with it
        would open that other bot."""
        if self._username is None:
            bot = data.get("bot")
            self._username = ((await bot.me()).username or "") if bot is not None else ""
            configured = self.settings.bot_username
            if configured and self._username and configured.lower() != self._username.lower():
                log.warning("BOT_USERNAME is %s but this bot is @%s: the links `qingdan links` and "
                            "`qingdan invites` print with it lead to another bot; set BOT_USERNAME=%s",
                            configured, self._username, self._username)
        return self._username

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        # SQLite: the update's statements run on the loop's thread (storage.sqlite_inline),
        # except an organizer's, whose reports read for seconds
        with sqlite_inline.inline_calls():
            return await self._handle(handler, event, data)

    async def _handle(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                      event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        grouped = data.pop(_GROUPED, None)  # parsed by PressAwareFSM, which runs first
        if user is None or user.is_bot:
            grouped = None
        if grouped is not None:
            assert user is not None
            press, callback_data = grouped
            return await self._grouped_press(press, callback_data, event, data, user)
        for _attempt in range(STALE_RETRIES):
            try:
                return await self._in_session(handler, event, data, user)
            except Stale as stale:
                # a response the handler wrote moved on since it was read (another process,
                # or our cached copy was old): nothing of this update was committed — its
                # messages follow the commit — so it is handled again from fresh data
                log.info("update %s: response %s moved on; handling the update again", event.update_id,
                         stale.args[0] if stale.args else None)
                if stale.args and stale.args[0] is not None:
                    self.path.forget_stale(stale.args[0])
        raise RuntimeError(f"update {event.update_id}: response kept moving on; gave up")

    async def _in_session(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                          event: Update, data: dict[str, Any], user: User | None) -> Any:
        """The update handled in a session of its own, its writes committed together."""
        async with self.sessionmaker() as session:
            if await self.path.rows(session, PROCESSED, {"update_id": event.update_id}):
                log.info("update %s already processed; skipped", event.update_id)
                return None
            bind_update(session, event.update_id)  # the first commit writes the mark (storage.marks)
            chat: Chat | None = data.get("event_chat")
            if user is None or user.is_bot or (chat is not None and chat.type != "private"
                                               and event.callback_query is None) \
                    or (event.my_chat_member is not None and await self.path.person_row(session, user.id) is None):
                # (someone the bot keeps nothing of — never wrote, or erased their data with
                # /delete_me — blocking or unblocking it: nothing to record, no row made for it;
                # a group's messages, and the bot added to one: no handler takes them (each is one
                # person's business), and its members, who may never have written to the bot,
                # are neither stored nor, having blocked it, taken as active again)
                await session.commit()
                return None
            # a new or changed person is written at once, in a transaction of its own (the
            # group commit's): the update's transaction then takes SQLite's write lock only at
            # its own first write, not for the whole of its handler (see touch_person)
            person = await touch_person(session, user.id, user.first_name or "",
                                        write_apart=lambda row: self.path.writer.commit(Change(person=row)),
                                        language=_reported_language(user),
                                        create=self._may_create(event, user),
                                        organizer=user.id in self.settings.organizer_ids)
            locale = self._locale(person, user)
            ctx = Ctx(session=session, person=person, locale=locale, settings=self.settings, clock=self.clock,
                      bot_username=await self._bot_username(data), path=self.path)
            data["ctx"] = ctx
            if ctx.is_organizer:
                sqlite_inline.inline.set(False)
            token = current_session.set(session)
            handling = _handling.set((session, asyncio.current_task()))
            storage = data.get("fsm_storage")
            try:
                # a Redis FSM's writes wait for this commit (the SQL FSM's are in it)
                async with deferred_writes(storage):
                    result = await handler(event, data)
                    await session.commit()
                    if isinstance(storage, ResilientRedisStorage):
                        await storage.commit_writes()
            except AlreadyProcessed:
                log.info("update %s handled meanwhile elsewhere; nothing committed or sent", event.update_id)
                return None
            finally:
                _handling.reset(handling)
                current_session.reset(token)
                self.path.forget_person(user.id)  # the handler may have changed them
            return result

    async def _grouped_press(self, press: GroupedPress, callback_data: CallbackData, event: Update,
                             data: dict[str, Any], user: User) -> Any:
        """A press on a question message: the person from the cache (or one read), and
        the handler run again from fresh data if its response moved on meanwhile."""
        query = event.callback_query
        assert query is not None
        for _attempt in range(STALE_RETRIES):
            async with OnDemandSession(self.sessionmaker) as on_demand:
                session = cast(AsyncSession, on_demand)
                person, write = await self._person(session, user)
                locale = self._locale(person, user)
                ctx = Ctx(session=session, person=person, locale=locale, settings=self.settings,
                          clock=self.clock, bot_username=await self._bot_username(data), path=self.path,
                          update_id=event.update_id, grouped=True, person_write=write)
                try:
                    return await press.handler(query, callback_data, ctx)
                except AlreadyProcessed:
                    log.info("update %s already processed; skipped", event.update_id)
                    return None
                except Stale as stale:
                    log.info("update %s: response %s moved on; computing the press again", event.update_id,
                             stale.args[0])
                    if stale.args and stale.args[0] is not None:
                        self.path.forget_stale(stale.args[0])
                    if write is not None:  # the person's row went unwritten: the next attempt writes it
                        self.path.forget_person(user.id)
        raise RuntimeError(f"update {event.update_id}: response kept moving on; gave up")

    def _may_create(self, event: Update, user: User) -> bool:
        """Whether this update may store a person not stored yet: a /start (a join link, an
        invite, or the Start button), a /language (a choice to keep), or a configured organizer.
        Anything else from someone the bot keeps nothing of — above all an old button's press
        or a text after /delete_me — is answered without storing their id and name again."""
        if user.id in self.settings.organizer_ids:
            return True
        data = event.callback_query.data if event.callback_query is not None else None
        if data is not None:
            return any(data.startswith(cb.__prefix__ + cb.__separator__) for cb in JOINING_PRESSES)
        text = event.message.text if event.message is not None else None
        command = (text or "").split(maxsplit=1)[0].split("@", 1)[0] if text else ""
        return command in ("/start", "/language") or any(p.fullmatch(text or "") for p in JOINING_TEXTS)

    def _locale(self, person: Person, user: User) -> str:
        """The language the bot answers in: the person's /language choice, else the one
        Telegram reports now (if the bot speaks it), else the one stored, else the bot's LOCALE."""
        chosen = person.language if person.language_chosen else ""
        return normalize_locale(chosen or _reported_language(user) or person.language or self.settings.locale)

    async def _person(self, session: AsyncSession, user: User) -> tuple[Person, dict[str, Any] | None]:
        """The presser, and the person row to write with the press when it is new or changed."""
        organizer = user.id in self.settings.organizer_ids
        person = self.path.person(user.id)
        if person is not None and person.active \
                and person.first_name == stored_name(user.first_name or "", organizer or person.role == "organizer"):
            return person, None
        row = await self.path.person_row(session, user.id)  # id, first_name, language, role, township_id, active, language_chosen
        name = stored_name(user.first_name or "", organizer or (row is not None and row[3] == "organizer"))
        reported = _reported_language(user)
        if row is None and user.id not in self.settings.organizer_ids:
            # someone the bot keeps nothing of (erased with /delete_me) pressing an old question
            # button: the press is refused, and nothing about them is stored nor cached
            return Person(id=user.id, first_name=name, language=reported), None
        write = {"id": user.id, "first_name": name, "language": reported} if needs_write(row, name, reported) else None
        person = Person(id=user.id, first_name=name, language=row[2] if row else "",
                        role=row[3] if row else "resident", township_id=row[4] if row else None, active=True,
                        language_chosen=bool(row[6]) if row else False)
        self.path.keep_person(person)
        return person, write
