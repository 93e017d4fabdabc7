"""What a person sees when handling their update fails: the Dispatcher's errors handler.

An exception out of a handler or the middlewares (a bug, a refusal the code did not
expect, a database out of reach) left the person without a word. Whether to tell them
depends on whether the update will be handled again:

* **It will**: under a webhook (bot.webhook marks its deliveries with `REDELIVERED`) an
  error that the database's absence explains — a connection refused or lost, the pool
  exhausted, SQLite's write lock held too long (`database_unreachable`). It is raised on:
  the delivery answers 500, Telegram delivers the update again, and as nothing of it was
  committed the processed-update mark (storage.marks) lets the redelivery through. The
  person gets the real answer then; an apology now would come before it.
* **It will not**: any error under long polling (aiogram logs it and takes the next
  update: this one is gone), and under a webhook any other error (a bug fails the same
  way on every redelivery). The person is told once, in their language, that something
  went wrong and to try again later; the traceback is logged; the update counts as
  handled (a webhook answers 200, so Telegram does not deliver it again).

The handler's writes were rolled back with its session (ContextMiddleware), except those
committed before a message it sent (CommitBeforeSend), as with any update."""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError

from bot.texts import gettext, normalize_locale

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher
    from aiogram.types import Chat, ErrorEvent, User

log = logging.getLogger(__name__)

# set in a webhook delivery's data (bot.webhook): an update whose handling raises is delivered again
REDELIVERED = "qingdan_redelivered_on_error"

# updates a person sends: the apology answers them (not e.g. a my_chat_member of a person who left)
_APOLOGIZE_FOR = frozenset({"message", "edited_message", "callback_query"})

# SQLSTATE classes of a database that is not there for now: connection exception (08),
# insufficient resources (53: too many connections), operator intervention (57P: shutting
# down, starting up)
_TRANSIENT_SQLSTATES = ("08", "53", "57P")
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) says the database is out of reach
    for now — an error that handling the update again later may not meet."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, sa.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, (sa.exc.InterfaceError, sa.exc.TimeoutError, ConnectionError, TimeoutError)):
            return True
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES):
            return True
        if isinstance(e, sqlite3.OperationalError) and any(m in str(e).lower() for m in _SQLITE_TRANSIENT):
            return True
        e = e.__cause__ or (e.orig if isinstance(e, sa.exc.DBAPIError) else None)
    return False


def _locale(data: dict[str, Any], user: User | None) -> str:
    from bot.middlewares import _reported_language

    ctx = data.get("ctx")
    if ctx is not None:
        return str(ctx.locale)
    reported = _reported_language(user) if user is not None else ""
    settings = data.get("settings")
    return normalize_locale(reported or (settings.locale if settings is not None else "zh_CN"))


async def on_error(event: ErrorEvent, bot: Bot, **data: Any) -> None:
    update, exc = event.update, event.exception
    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if data.get(REDELIVERED) and database_unreachable(exc):
        log.warning("update %s: the database is out of reach (%s); answered 500, Telegram delivers it again",
                    update.update_id, what)
        raise SkipHandler  # no handler takes it: aiogram raises it on, the webhook answers 500
    user: User | None = data.get("event_from_user")
    chat: Chat | None = data.get("event_chat")
    tell = update.event_type in _APOLOGIZE_FOR and user is not None and not user.is_bot and chat is not None
    log.error("update %s (%s) failed: %s; %s", update.update_id, update.event_type, what,
              "the person is told to try again later" if tell else "nobody to tell", exc_info=exc)
    if not tell:
        return
    assert chat is not None
    try:
        await bot.send_message(chat.id, gettext("error.internal", _locale(data, user)))
    except TelegramAPIError as e:
        log.warning("update %s: telling %s that it failed failed too: %s", update.update_id, chat.id, e)


def install(dp: Dispatcher) -> None:
    dp.errors.register(on_error)
