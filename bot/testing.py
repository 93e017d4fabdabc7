"""A recording Bot API session and update builders, for handler tests and the
in-process benchmarks: the Dispatcher runs for real, nothing goes over the network."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetMe, TelegramMethod
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from bot.broadcaster import SentMessage

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
    """Answers every Bot API call the way Telegram would and records it."""

    calls: list[Sent] = field(default_factory=list)
    fail_with: dict[str, Exception] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        return None

    async def stream_content(self, url: str, headers: dict | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:
        name = method.__api_method__
        if name in self.fail_with:
            raise self.fail_with.pop(name)
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

    def press(self, message_id: int, data: str, update_id: int | None = None) -> Update:
        msg = Message(message_id=message_id, date=datetime.now(UTC), chat=self.chat,
                      from_user=User(id=1, is_bot=True, first_name="Qingdan"), text="…")
        cq = CallbackQuery(id=str(next(self._counter)), from_user=self.user, chat_instance="ci", message=msg, data=data)
        return Update(update_id=update_id or self.next_id(), callback_query=cq)
