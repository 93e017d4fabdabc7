"""A recording Bot API session and update builders, for handler tests and the
in-process benchmarks: the Dispatcher runs for real, nothing goes over the network."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, GetMe, TelegramMethod
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Document,
    InaccessibleMessage,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from bot.broadcaster import SentMessage
from bot.sandbox.htmltext import ParseError, parse_html, strip_text, utf16len
from bot.sandbox.server import MAX_INLINE_BUTTONS, NOT_MODIFIED
from surveys.text import ANSWER_LIMIT, CAPTION_LIMIT, TEXT_LIMIT

TEST_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_USERNAME = "qingdan_test_bot"


@dataclass
class Sent:
    """A call the bot made, as the user would see its effect."""

    method: str
    chat_id: int | None
    text: str | None
    reply_markup: Any
    message_id: int | None
    call: TelegramMethod


@dataclass
class RecordingSession(BaseSession):
    """Answers every Bot API call the way Telegram would and records it. A call Telegram
    refuses is refused with Telegram's 400 (as the sandbox does; `telegram_checks`):
    HTML it cannot parse, a text or caption over its limit or empty, callback data outside
    1–64 bytes, a button without text, more than 100 buttons in a keyboard, a press's
    answer over 200 characters (every length in Telegram's UTF-16 units: an emoji is two),
    and an edit that changes nothing ("message is not modified") of a message this session
    sent."""

    calls: list[Sent] = field(default_factory=list)
    fail_with: dict[str, Exception] = field(default_factory=dict)
    telegram_checks: bool = True

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1000)
        self._shown: dict[tuple[int, int], tuple[Any, Any]] = {}  # (chat, message) → (content, markup)

    def _check(self, bot: Bot, method: TelegramMethod) -> tuple[Any, Any] | None:
        """Refuse, as Telegram does, what Telegram would refuse (see the class docstring);
        else what the message shows after the call: (text and entities, inline keyboard)."""
        def refuse(description: str) -> None:
            raise TelegramBadRequest(method=method, message=f"Bad Request: {description}")

        if isinstance(method, AnswerCallbackQuery):
            if method.text and utf16len(method.text) > ANSWER_LIMIT:
                refuse("MESSAGE_TOO_LONG")
            return None
        mode = getattr(method, "parse_mode", None)
        if isinstance(mode, Default):
            mode = bot.default[mode.name] if bot.default else None
        content = None
        for name, limit in (("text", TEXT_LIMIT), ("caption", CAPTION_LIMIT)):
            raw = getattr(method, name, None)
            if not isinstance(raw, str):
                continue
            try:
                shown, entities = strip_text(*parse_html(raw)) if (mode or "").lower() == "html" else (raw.strip(), [])
            except ParseError as e:
                refuse(f"can't parse entities: {e}")
            if name == "text" and not shown:
                refuse("message text is empty")
            if utf16len(shown) > limit:
                refuse("message is too long" if name == "text" else "message caption is too long")
            content = (shown, entities)
        markup = getattr(method, "reply_markup", None)
        rows = getattr(markup, "inline_keyboard", None) or []
        if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
            refuse("reply markup is too long")
        for row in rows:
            for button in row:
                if not button.text:
                    refuse("BUTTON_TEXT_EMPTY")
                if button.callback_data is not None and not 1 <= len(button.callback_data.encode()) <= 64:
                    refuse("BUTTON_DATA_INVALID")
        shown_now = (content, markup.model_dump(exclude_none=True) if rows else None)
        name = method.__api_method__
        chat_id, message_id = getattr(method, "chat_id", None), getattr(method, "message_id", None)
        if name.startswith("edit") and chat_id is not None and message_id is not None:
            before = self._shown.get((int(chat_id), int(message_id)))
            if before is not None and name == "editMessageReplyMarkup":
                shown_now = (before[0], shown_now[1])
            if before == shown_now:
                refuse(NOT_MODIFIED)
        return shown_now

    async def close(self) -> None:
        return None

    async def stream_content(self, url: str, headers: dict | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:
        name = method.__api_method__
        if name in self.fail_with:
            raise self.fail_with.pop(name)
        shown = self._check(bot, method) if self.telegram_checks else None
        chat_id = getattr(method, "chat_id", None)
        message_id = getattr(method, "message_id", None)
        text = getattr(method, "text", None) or getattr(method, "caption", None)
        if isinstance(method, GetMe):
            return User(id=bot.id, is_bot=True, first_name="Qingdan", username=BOT_USERNAME)
        returning = method.__returning__
        result: Any = True
        if returning in (Message, SentMessage) or (name.startswith("edit") and chat_id is not None):
            if message_id is None:
                message_id = next(self._ids)
            result = Message(
                message_id=message_id,
                date=datetime.now(UTC),
                chat=Chat(id=int(chat_id or 0), type="private"),
                from_user=User(id=bot.id, is_bot=True, first_name="Qingdan"),
                text=text if name not in ("sendDocument", "sendPhoto") else None,
                caption=text if name in ("sendDocument", "sendPhoto") else None,
                reply_markup=getattr(method, "reply_markup", None),
                document=Document(file_id="doc", file_unique_id="doc") if name == "sendDocument" else None,
                photo=[PhotoSize(file_id="ph", file_unique_id="ph", width=1, height=1)] if name == "sendPhoto" else None,
            )
        self.calls.append(Sent(name, int(chat_id) if chat_id is not None else None, text,
                               getattr(method, "reply_markup", None), message_id, method))
        if shown is not None and isinstance(result, Message):  # (an edit's result is the message too)
            self._shown[(result.chat.id, result.message_id)] = shown
        return result

    # --- helpers for assertions ---
    def texts(self, chat_id: int | None = None) -> list[str]:
        return [c.text or "" for c in self.calls if c.text is not None and (chat_id is None or c.chat_id == chat_id)]

    def last(self, chat_id: int | None = None, method: str | None = None) -> Sent:
        for c in reversed(self.calls):
            if (chat_id is None or c.chat_id == chat_id) and (method is None or c.method == method) \
                    and c.method != "answerCallbackQuery":
                return c
        raise AssertionError("no such call")

    def answers(self) -> list[Sent]:
        return [c for c in self.calls if c.method == "answerCallbackQuery"]

    def clear(self) -> None:
        self.calls.clear()


def buttons(markup: Any) -> list[tuple[str, str]]:
    """(text, callback_data) of every inline button in a markup."""
    if markup is None or not getattr(markup, "inline_keyboard", None):
        return []
    return [(b.text, b.callback_data or b.url or "") for row in markup.inline_keyboard for b in row]


async def feed(dp: Dispatcher, bot: Bot, update: Update | dict[str, Any]) -> Any:
    """Handle one update as long polling does: a Bot API method the handler returns (a
    press's answer, see bot.routers.resident.edited) is called once the handler is done
    (under a webhook it would go back in the HTTP reply)."""
    if isinstance(update, Update):
        result = await dp.feed_update(bot, update)
    else:
        result = await dp.feed_raw_update(bot, update)
    if isinstance(result, TelegramMethod):
        await bot(result)
    return result


class Updates:
    """Builds updates from one fake user, with increasing update_ids."""

    _counter = itertools.count(1)

    def __init__(self, user_id: int, first_name: str = "测试", language_code: str | None = "zh-hans") -> None:
        self.user = User(id=user_id, is_bot=False, first_name=first_name, language_code=language_code)
        self.chat = Chat(id=user_id, type="private", first_name=first_name)

    def next_id(self) -> int:
        return next(self._counter)

    def message(self, text: str | None = None, update_id: int | None = None, **extra: Any) -> Update:
        entities = None
        if text and text.startswith("/"):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        msg = Message(message_id=next(self._counter), date=datetime.now(UTC), chat=self.chat, from_user=self.user,
                      text=text, entities=entities, **extra)
        return Update(update_id=update_id or self.next_id(), message=msg)

    def edit(self, sent: Update, text: str, update_id: int | None = None) -> Update:
        """The person edits the text of a message they sent (`sent`, from `message`)."""
        assert sent.message is not None
        edited = sent.message.model_copy(update={"text": text, "edit_date": int(datetime.now(UTC).timestamp())})
        return Update(update_id=update_id or self.next_id(), edited_message=edited)

    def press(self, message_id: int, data: str, update_id: int | None = None, old: bool = False) -> Update:
        """A button tap; `old`: on a message too old for the bot to edit, as Telegram sends a
        tap on a message of days ago (an InaccessibleMessage: chat and id only, date 0)."""
        msg: Message | InaccessibleMessage = InaccessibleMessage(chat=self.chat, message_id=message_id, date=0) \
            if old else Message(message_id=message_id, date=datetime.now(UTC), chat=self.chat,
                                from_user=User(id=1, is_bot=True, first_name="Qingdan"), text="…")
        cq = CallbackQuery(id=str(next(self._counter)), from_user=self.user, chat_instance="ci", message=msg, data=data)
        return Update(update_id=update_id or self.next_id(), callback_query=cq)

    def block(self, blocked: bool = True, update_id: int | None = None) -> Update:
        """What Telegram sends when the person blocks the bot (or, `blocked=False`, unblocks it)."""
        me = User(id=int(TEST_TOKEN.split(":")[0]), is_bot=True, first_name="Qingdan")
        member, kicked = ChatMemberMember(user=me), ChatMemberBanned(user=me, until_date=0)
        change = ChatMemberUpdated(chat=self.chat, from_user=self.user, date=datetime.now(UTC),
                                   old_chat_member=member if blocked else kicked,
                                   new_chat_member=kicked if blocked else member)
        return Update(update_id=update_id or self.next_id(), my_chat_member=change)
