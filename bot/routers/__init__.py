"""One router per flow: common (help, language, privacy), resident (the
questionnaire), cadre (items, comments, off-list reports), organizer (the console)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

# What most of a consultation's traffic is made of — a share link's /start and the start
# button under its welcome — is seen first: aiogram tries every handler's filters in
# order until one matches, and dozens of commands and forms come before the resident's.
# Only these handlers are here, each matching what no other handler would take.
starts = Router(name="starts")
starts.message.filter(F.chat.type == "private")


async def edit_or_send(query: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Put a screen on the message whose button was pressed: edited in place, or sent anew
    when Telegram no longer lets the bot edit it (a tap on a message of days ago comes with
    an InaccessibleMessage: its chat and id only). The same screen again is no error."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=reply_markup)
        except TelegramBadRequest as e:
            if "not modified" not in str(e):
                raise
        return
    if query.message is not None:
        await query.message.answer(text, reply_markup=reply_markup)


ALBUM = "album"  # FSM data: the album (media group) last answered


async def first_of_album(message: Message, state: FSMContext) -> bool:
    """Whether a message wants an answer of its own: an album (photos or files sent together)
    arrives as one message each, and only the first of them is answered (not one "please send
    text" and one copy of the question per photo)."""
    if message.media_group_id is None:
        return True
    if (await state.get_data()).get(ALBUM) == message.media_group_id:
        return False
    await state.update_data({ALBUM: message.media_group_id})
    return True


def not_text_note(message: Message, note: str, t: Callable[[str], str]) -> str:
    """What a message that is not text is told: `note`, and, when the photo or file came
    with a caption (the answer, often), that the caption was not taken either."""
    return note + "\n" + t("error.caption-not-saved") if (message.caption or "").strip() else note


def all_routers() -> list[Router]:
    """The routers in the order they see updates. Routers are module singletons; a
    process normally builds one Dispatcher, but tests build many, so a router is
    detached from the Dispatcher it was attached to before."""
    from bot.routers import cadre, common, organizer, resident

    # resident last: it resumes the questionnaire on any message nobody else took
    routers = [starts, common.router, organizer.router, cadre.router, resident.router, common.fallback]
    for router in routers:
        router._parent_router = None  # noqa: SLF001 — see the docstring
        inline_sync_filters(router)
    return routers


def inline_sync_filters(router: Router) -> None:
    """aiogram runs a filter that is not a coroutine — every magic `F…` filter and every
    `State` used as a filter — through `asyncio.to_thread`: a thread hop per filter per
    update, which cost more than most handlers. Ours are pure and take microseconds, so
    they are run inline instead (same arguments, same result)."""
    for observer in router.observers.values():
        filter_lists = [observer._handler.filters or []]  # noqa: SLF001 — the observer's own filters
        filter_lists += [handler.filters or [] for handler in observer.handlers]
        for filters in filter_lists:
            for f in filters:
                _inline(f)


def _inline(f: FilterObject) -> None:
    if f.awaitable:
        return
    sync = f.callback

    async def inline(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    f.callback = inline
    f.awaitable = True
