"""Telegram's length limits, kept by the bot's session: a message's text is at most 4,096
characters and a caption at most 1,024, counted as Telegram counts them (UTF-16 code units
of the text as shown, after the HTML is parsed); a press's answer at most 200, plain text.
Over the limit, Telegram refuses the whole message — the resident would see nothing, the
organizer no card. Texts are built from questionnaires, duty lists and comments of any
length, so every message and caption is fitted on its way out: cut where the limit falls,
"…" added and the open HTML tags closed (a warning is logged); a press's answer gets the
bot's HTML text as shown. Screens that can grow long shorten their own fields first; this
is the guarantee behind them."""

from __future__ import annotations

import logging
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageText,
    SendAnimation,
    SendAudio,
    SendDocument,
    SendMessage,
    SendPhoto,
    SendVideo,
    SendVoice,
)

from surveys.text import (  # noqa: F401 (the bot's names for them)
    ANSWER_LIMIT,
    BUTTON_WIDTH,
    CAPTION_LIMIT,
    ELLIPSIS,
    TEXT_LIMIT,
    _char_width,
    cut,
    fit_plain,
    units,
    width,
)

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod

log = logging.getLogger(__name__)

BUTTONS_LIMIT = 100  # inline buttons in one keyboard: Telegram refuses more ("reply markup is too long")
_TEXT = (SendMessage, EditMessageText)
_CAPTION = (SendPhoto, SendDocument, SendAnimation, SendAudio, SendVideo, SendVoice, EditMessageCaption)


class _Fitter(HTMLParser):
    """Copies HTML until the visible text reaches the limit; then closes the open tags."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=False)
        self.room = limit - units(ELLIPSIS)
        self.out: list[str] = []
        self.open: list[str] = []
        self.cut = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.cut:
            self.out.append(self.get_starttag_text() or "")
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.cut:
            self.out.append(f"</{tag}>")
            if tag in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(tag)]

    def handle_data(self, data: str) -> None:
        if self.cut:
            return
        kept = cut(data, self.room)
        self.out.append(kept)
        self.room -= units(kept)
        if kept != data:
            self._stop()

    def _entity(self, raw: str) -> None:
        if self.cut:
            return
        if self.room < 1:
            self._stop()
            return
        self.out.append(raw)
        self.room -= 1

    def handle_entityref(self, name: str) -> None:
        self._entity(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._entity(f"&#{name};")

    def _stop(self) -> None:
        self.cut = True
        self.out.append(ELLIPSIS)

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def visible_units(html_text: str) -> int:
    """The length Telegram gives an HTML text: its characters as shown."""
    fitter = _Fitter(1 << 30)
    fitter.feed(html_text)
    fitter.result()
    return (1 << 30) - units(ELLIPSIS) - fitter.room


def fit_html(text: str, limit: int) -> str:
    """`text` (Telegram HTML) cut to `limit` characters as shown, with "…" and its open
    tags closed; unchanged when it fits."""
    if units(text) <= limit or visible_units(text) <= limit:  # (the markup only adds to the length)
        return text
    fitter = _Fitter(limit)
    fitter.feed(text)
    return fitter.result() if fitter.cut else text


def fit_lines(lines: list[str], room: int) -> list[str]:
    """`lines` (plain text) within `room` characters in all: unchanged when they fit, else the
    longest shortened alike (to the greatest length that fits, with "…"), so every line stays —
    answers naming many items of long names, an item's long fields outgrow a message."""
    if sum(units(line) for line in lines) <= room:
        return lines
    low, high = 1, max(units(line) for line in lines)
    while low < high:  # the greatest cap at which the lines fit
        cap = (low + high + 1) // 2
        if sum(min(units(line), cap) for line in lines) <= room:
            low = cap
        else:
            high = cap - 1
    return [fit_plain(line, max(low, 2)) for line in lines]


def fit_width(text: str, limit: int = BUTTON_WIDTH) -> str:
    """`text` at most `limit` half-width characters wide: cut, with "…", if it is wider."""
    if width(text) <= limit:
        return text
    room, end = limit - width(ELLIPSIS), 0
    while room - _char_width(text[end]) >= 0:
        room -= _char_width(text[end])
        end += 1
    return text[:end].rstrip() + ELLIPSIS


class _Plain(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html_text: str) -> str:
    """An HTML text as shown: tags dropped, entities decoded."""
    parser = _Plain()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.parts)


class FitTelegramLimits(BaseRequestMiddleware):
    """Fits the text of every message and the caption of every file to Telegram's limits;
    a press's answer (a pop-up or a toast: plain text, at most 200 characters) gets the
    bot's HTML text as shown."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        if isinstance(method, AnswerCallbackQuery) and method.text:
            method.text = fit_plain(plain_text(method.text), ANSWER_LIMIT)
        elif isinstance(method, _TEXT):
            self._fit(bot, method, "text", TEXT_LIMIT)
        elif isinstance(method, _CAPTION):
            self._fit(bot, method, "caption", CAPTION_LIMIT)
        return await make_request(bot, method)

    @staticmethod
    def _fit(bot: Bot, method: Any, field: str, limit: int) -> None:
        text = getattr(method, field, None)
        if not isinstance(text, str) or units(text) <= limit:
            return
        mode = method.parse_mode
        if isinstance(mode, Default):
            mode = bot.default[mode.name] if bot.default else None
        entities = getattr(method, "entities" if field == "text" else "caption_entities", None)
        if entities:  # explicit entities point into the text: leave it to Telegram
            return
        fitted = fit_html(text, limit) if (mode or "").lower() == "html" else fit_plain(text, limit)
        if fitted != text:
            log.warning("%s: %s of %d characters cut to Telegram's %d", method.__api_method__, field,
                        visible_units(text) if (mode or "").lower() == "html" else units(text), limit)
            setattr(method, field, fitted)
