"""In-memory state of the sandbox: bots, their private chats with users, messages,
stored files, pending updates and webhook delivery queues. Plain data classes;
the behaviour lives in server.py."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.limits import TokenBucket

__all__ = ["BotState", "Chat", "StoredFile", "StoredMessage", "Webhook"]


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    kind: str  # "document" | "photo"
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    upload_name: str | None = None  # the name it was sent with (a photo's: the Bot API forgets it, the page offers it)

    @property
    def size(self) -> int:
        return len(self.data)

    def telegram(self) -> dict[str, Any] | list[dict[str, Any]]:
        """The Document object, or the PhotoSize list, as the Bot API shows it."""
        if self.kind == "photo":
            return [{"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size,
                     "width": self.width, "height": self.height}]
        d: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}
        if self.file_name:
            d["file_name"] = self.file_name
        if self.mime_type:
            d["mime_type"] = self.mime_type
        return d


@dataclass(slots=True)
class StoredMessage:
    message_id: int
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] | None = None
    reply_markup: dict[str, Any] | None = None  # inline keyboards only (what Telegram returns)
    file: StoredFile | None = None
    reply_to: int | None = None
    edit_date: int | None = None


@dataclass(eq=False)
class Chat:
    """A private chat: its id is the user's id."""

    user: dict[str, Any]
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_id: int = 1
    bot_count: int = 0
    version: int = 0
    blocked: bool = False
    reply_keyboard: dict[str, Any] | None = None
    listeners: set[asyncio.Queue] = field(default_factory=set)
    changed: asyncio.Event | None = None
    bucket: TokenBucket | None = None

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def chat_object(self) -> dict[str, Any]:
        c: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.user["first_name"]}
        if self.user.get("last_name"):
            c["last_name"] = self.user["last_name"]
        if self.user.get("username"):
            c["username"] = self.user["username"]
        return c

    def add(self, from_bot: bool, **kw: Any) -> StoredMessage:
        m = StoredMessage(self.next_id, from_bot, int(time.time()), **kw)
        self.next_id += 1
        self.messages[m.message_id] = m
        if from_bot:
            self.bot_count += 1
        return m

    def remove(self, message_id: int) -> StoredMessage | None:
        m = self.messages.pop(message_id, None)
        if m is not None and m.from_bot:
            self.bot_count -= 1
        return m

    def touch(self) -> None:
        self.version += 1
        if self.changed is not None:
            self.changed.set()
            self.changed = None

    async def wait_changed(self, timeout: float) -> None:  # noqa: ASYNC109
        if self.changed is None:
            self.changed = asyncio.Event()
        ev = self.changed
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except TimeoutError:
            pass


@dataclass(eq=False)
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    queues: list[deque] = field(default_factory=list)
    events: list[asyncio.Event] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    last_error_date: int | None = None
    last_error_message: str | None = None

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self.queues)

    def enqueue(self, update: dict[str, Any], chat_id: int) -> None:
        i = chat_id % len(self.queues)  # one queue per chat keeps each chat's order
        self.queues[i].append(update)
        self.events[i].set()


@dataclass(eq=False)
class BotState:
    token: str
    id: int
    first_name: str
    username: str
    chats: dict[int, Chat] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)  # by file_id
    files_by_unique: dict[str, StoredFile] = field(default_factory=dict)
    files_by_path: dict[str, StoredFile] = field(default_factory=dict)
    pending: deque = field(default_factory=deque)
    next_update_id: int = 1
    update_event: asyncio.Event = field(default_factory=asyncio.Event)
    poll_generation: int = 0
    allowed_updates: frozenset[str] | None = None
    webhook: Webhook | None = None
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    callbacks: dict[str, asyncio.Future] = field(default_factory=dict)
    pressed_at: dict[str, float] = field(default_factory=dict)  # callback query id → time.monotonic()
    properties: dict[str, Any] = field(default_factory=dict)
    bucket: TokenBucket | None = None
    file_counter: int = 0
    listeners: set[asyncio.Queue] = field(default_factory=set)  # the web chat's (its user list): every chat's news

    def user_object(self, full: bool = False) -> dict[str, Any]:
        u: dict[str, Any] = {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}
        if full:
            u.update(can_join_groups=True, can_read_all_group_messages=False, supports_inline_queries=False,
                     can_connect_to_business=False, has_main_web_app=False)
        return u

    def chat_instance(self, chat_id: int) -> str:
        digest = hashlib.blake2b(f"{self.id}:{chat_id}".encode(), digest_size=8).digest()
        return str(int.from_bytes(digest, "big") >> 1)

    def wake_pollers(self) -> None:
        self.update_event.set()
        self.update_event = asyncio.Event()
