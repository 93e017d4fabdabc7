"""The local Bot API sandbox: an aiohttp server that speaks the Telegram Bot API
over HTTP (`/bot<TOKEN>/<method>`, `/file/bot<TOKEN>/<path>`) as Telegram does,
plus a user side (`/sandbox/<TOKEN>/...`) for the web chat, tests and benches.

State is in memory (`Sandbox`); `create_app` builds the web application and
`running_sandbox` runs one on a port for tests. A bot needs no sandbox-specific
code: point aiogram at it with `TelegramAPIServer.from_base(base_url)`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import logging
import mimetypes
import re
import secrets
import struct
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox.htmltext import (
    ParseError,
    bot_command_entities,
    parse_html,
    parse_markdown,
    strip_text,
    utf16len,
)
from bot.sandbox.limits import Faults, RateLimits, TokenBucket, retry_after
from bot.sandbox.state import BotState, Chat, StoredFile, StoredMessage, Webhook
from surveys.text import ANSWER_LIMIT, CAPTION_LIMIT, TEXT_LIMIT

__all__ = ["DEFAULT_PRESETS", "ApiError", "RunningSandbox", "Sandbox", "connectable_host", "create_app", "running_sandbox"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
TOKEN_RE = re.compile(r"^([0-9]{1,20}):([A-Za-z0-9_-]{1,128})$")
MB = 1024 * 1024
SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sandbox")

DEFAULT_PRESETS: list[dict[str, Any]] = [
    {"id": 1001, "first_name": "王主任", "username": "organizer_wang", "language_code": "zh-hans",
     "role": "organizer"},
    {"id": 2001, "first_name": "李干部", "username": "cadre_li", "language_code": "zh-hans", "role": "cadre"},
    {"id": 3001, "first_name": "张居民", "username": "resident_zhang", "language_code": "zh-hans",
     "role": "resident"},
]

CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
# Buttons Telegram takes in one keyboard (it documents no figure; past these it answers "reply
# markup is too long")
MAX_INLINE_BUTTONS = 100
MAX_REPLY_BUTTONS = 300
BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                  "callback_game", "pay")
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")



_NO_COMMANDS = frozenset({"code", "pre", "url", "text_link", "email", "text_mention", "custom_emoji"})


def _with_commands(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A bot's message gets Telegram's `bot_command` entities too (the client makes /help
    tappable), except inside code, pre and links."""
    found = bot_command_entities(text)
    if not found:
        return entities
    taken = [(e["offset"], e["offset"] + e["length"]) for e in entities if e.get("type") in _NO_COMMANDS]
    extra = [c for c in found if not any(a < c["offset"] + c["length"] and c["offset"] < b for a, b in taken)]
    return sorted(entities + extra, key=lambda e: (e["offset"], -e["length"])) if extra else entities

class ApiError(Exception):
    """An answer `{"ok": false, ...}` with Telegram's code and description."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            d["parameters"] = self.parameters
        return d


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


class _Drop(Exception):
    """Fault injection: close the connection without answering."""


@dataclass(slots=True)
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """A method's parameters from a query string, JSON, a form or multipart; values
    from forms are strings, so getters convert (JSON-typed ones are JSON-decoded)."""

    __slots__ = ("files", "values")

    def __init__(self, values: dict[str, Any], files: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.files = files or {}

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def str(self, name: str) -> str | None:
        v = self.values.get(name)
        if v is None:
            return None
        return v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict | list) else str(v)

    def int(self, name: str, error: str | None = None) -> int | None:
        v = self.values.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        try:
            return int(str(v).strip())
        except ValueError:
            try:
                f = float(str(v))
            except ValueError:
                raise bad_request(error or f"invalid {name} specified") from None
            return int(f)

    def float(self, name: str) -> float | None:
        v = self.values.get(name)
        if v is None or v == "":
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def bool(self, name: str) -> bool:
        v = self.values.get(name)
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        return str(v).strip().lower() in ("true", "1", "yes", "on")

    def json(self, name: str, what: str | None = None) -> Any:
        v = self.values.get(name)
        if isinstance(v, str):
            if not v.strip():
                return None
            try:
                return json.loads(v)
            except ValueError:
                raise bad_request(f"can't parse {what or name} JSON object") from None
        return v


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 1, 1
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            seg = struct.unpack(">H", data[i + 2:i + 4])[0]
            i += 2 + seg
        return 1, 1
    return None


class Sandbox:
    """All sandbox state and behaviour. Options:

    - rate_limits: False (off), True (Telegram-like defaults) or a RateLimits.
    - faults: None, a Faults, or a spec string for Faults.parse.
    - presets: users offered by the web chat (dicts with id, first_name, role, ...).
    - tokens: bot tokens to create up front (others appear on first use).
    - bot_username / bot_first_name: the bots' profile (default username "sandbox<ID>_bot").
    - max_upload_mb (50), max_download_mb (20, getFile), callback_wait (10 s default for presses).
    - callback_expiry: seconds after a press that answerCallbackQuery is refused as "query is
      too old", as Telegram refuses a late answer (it documents no figure; bots see it from
      seconds to minutes after the press, typically when they handle a backlog); None: never.
    - webhook_retry_base / webhook_retry_max / webhook_timeout: seconds for webhook delivery.
    - first_update_id: the first update_id each bot gets.
    - first_message_id: the first message_id of each chat (a bot that keeps message ids
      from an earlier run — its live question messages — sees the new ones as newer).
    """

    def __init__(self, *, rate_limits: bool | RateLimits = False, faults: Faults | str | None = None,
                 presets: list[dict[str, Any]] | None = None, tokens: list[str] | tuple[str, ...] = (),
                 bot_username: str | None = None, bot_first_name: str = "清单征询",
                 max_upload_mb: float = 50, max_download_mb: float = 20, callback_wait: float = 10.0,
                 callback_expiry: float | None = 900.0,
                 webhook_retry_base: float = 0.1, webhook_retry_max: float = 5.0, webhook_timeout: float = 30.0,
                 first_update_id: int = 1, first_message_id: int = 1, language: str = "zh") -> None:
        self.rate_limits: RateLimits | None = (RateLimits() if rate_limits is True else
                                               rate_limits if isinstance(rate_limits, RateLimits) else None)
        self.faults: Faults | None = Faults.parse(faults) if isinstance(faults, str) else faults
        self.presets = list(DEFAULT_PRESETS if presets is None else presets)
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.max_upload = int(max_upload_mb * MB)
        self.max_download = int(max_download_mb * MB)
        self.callback_wait = callback_wait
        self.callback_expiry = callback_expiry
        self.webhook_retry_base = webhook_retry_base
        self.webhook_retry_max = webhook_retry_max
        self.webhook_timeout = webhook_timeout
        self.first_update_id = first_update_id
        self.first_message_id = first_message_id
        # the web chat's language until the visitor picks one: "zh" or "en" (from a locale such as en_US)
        self.language = "en" if language.lower().startswith("en") else "zh"
        self.bots: dict[str, BotState] = {}
        self._callback_ids = itertools.count(4_000_000_000_000_000_000 + secrets.randbelow(10**15))
        self._http: aiohttp.ClientSession | None = None
        self.closing = False
        self.stats: dict[str, int] = {"requests": 0, "webhook_replies": 0, "updates": 0, "messages": 0}
        # Bot API calls by ("request" | "webhook reply", method name as the bot spelled it)
        self.calls: Counter[tuple[str, str]] = Counter()
        for token in tokens:
            self.bot(token)

    # ----------------------------------------------------------------- bots & chats
    def bot(self, token: str) -> BotState:
        """The bot for a token, created on first use. Raises ApiError(404) for a malformed token."""
        b = self.bots.get(token)
        if b is not None:
            return b
        m = TOKEN_RE.match(token)
        if not m:
            raise ApiError(404, "Not Found")
        bot_id = int(m.group(1))
        b = BotState(token=token, id=bot_id, first_name=self.bot_first_name,
                     username=self.bot_username or f"sandbox{bot_id}_bot", next_update_id=self.first_update_id)
        if self.rate_limits:
            b.bucket = TokenBucket(self.rate_limits.per_second, self.rate_limits.burst)
        self.bots[token] = b
        return b

    def register_user(self, token: str, user_id: int, first_name: str | None = None, *,
                      last_name: str | None = None, username: str | None = None,
                      language_code: str | None = None) -> Chat:
        """Create or update a user (and the private chat with the bot)."""
        b = self.bot(token)
        chat = b.chats.get(user_id)
        if chat is None:
            preset = next((p for p in self.presets if p.get("id") == user_id), {})
            user: dict[str, Any] = {"id": user_id, "is_bot": False,
                                    "first_name": first_name or preset.get("first_name") or f"User {user_id}"}
            for key, value in (("last_name", last_name or preset.get("last_name")),
                               ("username", username or preset.get("username")),
                               ("language_code", language_code or preset.get("language_code"))):
                if value:
                    user[key] = value
            chat = Chat(user=user, next_id=self.first_message_id)
            if self.rate_limits:
                chat.bucket = TokenBucket(self.rate_limits.per_chat_per_second, self.rate_limits.per_chat_burst)
            b.chats[user_id] = chat
            self._bot_event(b, lambda: {"type": "user", "user": chat.user})
        else:
            for key, value in (("first_name", first_name), ("last_name", last_name), ("username", username),
                               ("language_code", language_code)):
                if value:
                    chat.user[key] = value
        return chat

    def _chat(self, b: BotState, p: Params, *, for_send: bool = True) -> Chat:
        raw = p.values.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = b.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if for_send and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    # ----------------------------------------------------------------- events
    def _changed(self, chat: Chat, event: Callable[[], dict[str, Any]] | None = None) -> None:
        chat.touch()
        if chat.listeners and event is not None:
            ev = event()
            for q in list(chat.listeners):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(ev)

    @staticmethod
    def _bot_event(b: BotState, event: Callable[[], dict[str, Any]]) -> None:
        """News of any chat for the web chat's user list (a new user, a bot message)."""
        if b.listeners:
            ev = event()
            for q in list(b.listeners):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(ev)

    def _push_update(self, b: BotState, kind: str, payload: dict[str, Any], chat_id: int) -> int | None:
        if b.allowed_updates is not None and kind not in b.allowed_updates:
            return None
        update_id = b.next_update_id
        b.next_update_id += 1
        update = {"update_id": update_id, kind: payload}
        self.stats["updates"] += 1
        if b.webhook is not None:
            b.webhook.enqueue(update, chat_id)
        else:
            b.pending.append(update)
            b.wake_pollers()
        return update_id

    # ----------------------------------------------------------------- views
    def message_object(self, b: BotState, chat: Chat, m: StoredMessage, with_reply: bool = True) -> dict[str, Any]:
        """A Message object as the Bot API shows it."""
        d: dict[str, Any] = {"message_id": m.message_id,
                             "from": b.user_object() if m.from_bot else chat.user,
                             "chat": chat.chat_object(), "date": m.date}
        if m.edit_date is not None:
            d["edit_date"] = m.edit_date
        if with_reply and m.reply_to is not None:
            replied = chat.messages.get(m.reply_to)
            if replied is not None:
                d["reply_to_message"] = self.message_object(b, chat, replied, with_reply=False)
        if m.text is not None:
            d["text"] = m.text
            if m.entities:
                d["entities"] = m.entities
        if m.file is not None:
            d[m.file.kind] = m.file.telegram()
        if m.caption is not None:
            d["caption"] = m.caption
            if m.caption_entities:
                d["caption_entities"] = m.caption_entities
        if m.reply_markup is not None and m.reply_markup.get("inline_keyboard"):
            d["reply_markup"] = m.reply_markup
        return d

    def message_view(self, b: BotState, m: StoredMessage) -> dict[str, Any]:
        """A message as the user sees it (the web chat's and tests' shape)."""
        d: dict[str, Any] = {"message_id": m.message_id, "from_bot": m.from_bot, "date": m.date, "text": m.text,
                             "entities": m.entities or [], "caption": m.caption,
                             "caption_entities": m.caption_entities or [], "reply_markup": m.reply_markup,
                             "edited": m.edit_date is not None, "edit_date": m.edit_date,
                             "reply_to_message_id": m.reply_to, "document": None, "photo": None}
        f = m.file
        if f is not None:
            url = f"/sandbox/{b.token}/files/{f.file_unique_id}"
            if f.kind == "photo":
                d["photo"] = {"url": url, "width": f.width, "height": f.height, "file_size": f.size,
                              "file_name": f.upload_name or f"photo_{m.message_id}{Path(f.file_path).suffix}"}
            else:
                d["document"] = {"file_name": f.file_name, "mime_type": f.mime_type, "file_size": f.size, "url": url}
        return d

    def chat_messages(self, token: str, user_id: int) -> list[dict[str, Any]]:
        b = self.bot(token)
        chat = b.chats.get(user_id)
        if chat is None:
            return []
        return [self.message_view(b, m) for m in chat.messages.values()]

    def chat_state(self, token: str, user_id: int) -> dict[str, Any]:
        b = self.bot(token)
        chat = self.register_user(token, user_id)
        return {"bot": b.user_object(), "user": chat.user, "version": chat.version, "blocked": chat.blocked,
                "messages": [self.message_view(b, m) for m in chat.messages.values()],
                "reply_keyboard": chat.reply_keyboard, "commands": self.effective_commands(b, chat)}

    # ----------------------------------------------------------------- files
    def _store_file(self, b: BotState, up: Upload, kind: str) -> StoredFile:
        if not up.data:
            raise bad_request("file must be non-empty")
        width = height = 0
        if kind == "photo":
            size = _png_size(up.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
        b.file_counter += 1
        n = b.file_counter
        name = up.filename or ("photo.jpg" if kind == "photo" else "document")
        mime = mimetypes.guess_type(name)[0] or (up.content_type if up.content_type not in (None, "") else None)
        if kind == "photo":
            path = f"photos/file_{n}{Path(name).suffix or '.jpg'}"
        else:
            path = f"documents/file_{n}{Path(name).suffix}"
        prefix = b"\x05" if kind == "document" else b"\x02"
        file_id = base64.urlsafe_b64encode(prefix + struct.pack(">QI", b.id, n) + secrets.token_bytes(18)).decode()
        unique = base64.urlsafe_b64encode(struct.pack(">IQ", n, b.id)[:8] + secrets.token_bytes(4)).decode()
        f = StoredFile(file_id=file_id.rstrip("="), file_unique_id=unique.rstrip("="), data=up.data, kind=kind,
                       file_path=path, file_name=name if kind == "document" else None, mime_type=mime,
                       width=width, height=height, upload_name=up.filename or None)
        b.files[f.file_id] = f
        b.files_by_unique[f.file_unique_id] = f
        b.files_by_path[f.file_path] = f
        return f

    def _input_file(self, b: BotState, p: Params, field: str, kind: str) -> StoredFile:
        up = p.files.get(field)
        raw = p.values.get(field)
        if up is None and isinstance(raw, str) and raw.startswith("attach://"):
            up = p.files.get(raw[len("attach://"):])
            if up is None:
                raise bad_request(f"there is no {field} in the request")
        if up is not None:
            return self._store_file(b, up, kind)
        if not raw or not isinstance(raw, str):
            raise bad_request(f"there is no {field} in the request")
        if raw.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        f = b.files.get(raw)
        if f is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if f.kind != kind:
            raise bad_request(f"can't use file of type {f.kind.capitalize()} as {kind.capitalize()}")
        return f

    # ----------------------------------------------------------------- formatting & markup
    def _format(self, text: str, parse_mode: str | None, entities: Any, what: str = "text") -> tuple[str, list]:
        mode = (parse_mode or "").strip()
        if mode and entities:
            entities = None
        if mode.lower() == "html":
            try:
                text, ents = parse_html(text)
            except ParseError as e:
                raise bad_request(f"can't parse entities: {e}") from None
        elif mode.lower() in ("markdown", "markdownv2"):
            try:
                text, ents = parse_markdown(text, v2=mode.lower() == "markdownv2")
            except ParseError as e:
                raise bad_request(f"can't parse entities: {e}") from None
        elif mode:
            raise bad_request("unsupported parse_mode")
        else:
            ents = []
            if entities:
                if not isinstance(entities, list):
                    raise bad_request(f"can't parse {what} entities JSON object")
                for e in entities:
                    if not isinstance(e, dict) or "type" not in e or "offset" not in e or "length" not in e:
                        raise bad_request(f"can't parse {what} entities JSON object")
                    ents.append({**e, "offset": int(e["offset"]), "length": int(e["length"])})
        text, ents = strip_text(text, ents)
        return text, _with_commands(text, ents)

    def _markup(self, p: Params) -> dict[str, Any] | None:
        markup = p.json("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
            if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
                raise bad_request("reply markup is too long")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise bad_request("can't parse inline keyboard button: Text must be a String")
                    if not button["text"]:
                        raise bad_request("BUTTON_TEXT_EMPTY")
                    actions = [a for a in BUTTON_ACTIONS if a in button]
                    if not actions:
                        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the "
                                          "inline keyboard")
                    if "callback_data" in button:
                        data = str(button["callback_data"])
                        if not 1 <= len(data.encode()) <= 64:
                            raise bad_request("BUTTON_DATA_INVALID")
                    if "url" in button and not re.match(r"^(https?|tg)://", str(button["url"])):
                        raise bad_request("BUTTON_URL_INVALID")
            return {"inline_keyboard": rows}
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"keyboard\" of the ReplyKeyboardMarkup must be an Array of Arrays")
            if sum(len(row) for row in rows) > MAX_REPLY_BUTTONS:
                raise bad_request("reply markup is too long")
            norm = [[b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in rows]
            return {**markup, "keyboard": norm}
        if markup.get("remove_keyboard") or "force_reply" in markup:
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: Chat, p: Params) -> int | None:
        mid = p.int("reply_to_message_id")
        allow = p.bool("allow_sending_without_reply")
        params = p.json("reply_parameters")
        if isinstance(params, dict) and params.get("message_id") is not None:
            mid = int(params["message_id"])
            allow = allow or bool(params.get("allow_sending_without_reply"))
        if mid is None:
            return None
        if mid not in chat.messages:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return mid

    def _apply_keyboard(self, chat: Chat, markup: dict[str, Any] | None) -> None:
        if markup is None:
            return
        if "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        else:
            return
        if chat.listeners:
            self._changed(chat, lambda: {"type": "keyboard", "reply_keyboard": chat.reply_keyboard})

    def _flood(self, b: BotState, chat: Chat | None, method: str) -> None:
        rl = self.rate_limits
        if rl is None or method not in rl.methods:
            return
        now = time.monotonic()
        wait = b.bucket.delay(now) if b.bucket else 0.0
        if chat is not None and chat.bucket is not None:
            wait = max(wait, chat.bucket.delay(now))
        if wait > 0:
            after = retry_after(wait)
            raise ApiError(429, f"Too Many Requests: retry after {after}", {"retry_after": after})
        if b.bucket:
            b.bucket.take()
        if chat is not None and chat.bucket is not None:
            chat.bucket.take()

    def _bot_message(self, b: BotState, chat: Chat, m: StoredMessage, reply_markup: dict | None) -> dict[str, Any]:
        self.stats["messages"] += 1
        self._apply_keyboard(chat, reply_markup)
        self._changed(chat, lambda: {"type": "message", "message": self.message_view(b, m)})
        self._bot_event(b, lambda: {"type": "message", "user_id": chat.id, "message_id": m.message_id})
        return self.message_object(b, chat, m)

    # ----------------------------------------------------------------- Bot API methods
    async def m_getme(self, b: BotState, p: Params) -> Any:
        return b.user_object(full=True)

    async def m_logout(self, b: BotState, p: Params) -> Any:
        return True

    m_close = m_logout

    async def m_getupdates(self, b: BotState, p: Params) -> Any:
        if b.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                                "to delete the webhook first")
        offset = p.int("offset") or 0
        limit = p.int("limit") or 100
        limit = min(100, max(1, limit))
        timeout = max(0.0, min(float(p.int("timeout") or 0), 300.0))
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            b.allowed_updates = frozenset(allowed) if allowed else None
        pending = b.pending
        if offset > 0:
            while pending and pending[0]["update_id"] < offset:
                pending.popleft()
        elif offset < 0:
            while len(pending) > -offset:
                pending.popleft()
        b.poll_generation += 1
        generation = b.poll_generation
        b.wake_pollers()  # a newer getUpdates ends an older one, as on Telegram
        if not pending and timeout > 0 and not self.closing:
            ev = b.update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout)
            if b.poll_generation != generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one "
                                    "bot instance is running")
            if b.webhook is not None:
                return []
        return list(itertools.islice(pending, limit))

    async def m_setwebhook(self, b: BotState, p: Params) -> Any:
        url = p.str("url") or ""
        if not url:
            return await self.m_deletewebhook(b, p)
        if not re.match(r"^https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.str("secret_token")
        if secret and not SECRET_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        max_conn = min(100, max(1, p.int("max_connections") or 40))
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            b.allowed_updates = frozenset(allowed) if allowed else None
        drop = p.bool("drop_pending_updates")
        carried = self._stop_webhook(b)
        carried.extend(b.pending)
        b.pending.clear()
        b.wake_pollers()
        wh = Webhook(url=url, secret_token=secret or None, max_connections=max_conn)
        workers = min(max_conn, 16)
        wh.queues = [deque() for _ in range(workers)]
        wh.events = [asyncio.Event() for _ in range(workers)]
        b.webhook = wh
        if not drop:
            for update in sorted(carried, key=lambda u: u["update_id"]):
                wh.enqueue(update, self._update_chat_id(update))
        wh.tasks = [asyncio.create_task(self._webhook_worker(b, wh, i)) for i in range(workers)]
        return _Described(True, "Webhook was set")

    async def m_deletewebhook(self, b: BotState, p: Params) -> Any:
        had = b.webhook is not None
        carried = self._stop_webhook(b)
        if p.bool("drop_pending_updates"):
            b.pending.clear()
        else:
            merged = sorted([*b.pending, *carried], key=lambda u: u["update_id"])
            b.pending = deque(merged)
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def m_getwebhookinfo(self, b: BotState, p: Params) -> Any:
        wh = b.webhook
        if wh is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(b.pending)}
        d: dict[str, Any] = {"url": wh.url, "has_custom_certificate": False, "pending_update_count": wh.pending,
                             "max_connections": wh.max_connections, "ip_address": "127.0.0.1"}
        if wh.last_error_date:
            d["last_error_date"] = wh.last_error_date
            d["last_error_message"] = wh.last_error_message
        if b.allowed_updates is not None:
            d["allowed_updates"] = sorted(b.allowed_updates)
        return d

    def _message_text(self, p: Params, too_long: str) -> tuple[str, list]:
        """The `text` parameter as plain text and entities, refused as Telegram does when
        empty or over 4,096 UTF-16 units (sendMessage and editMessageText word the latter
        differently)."""
        raw = p.str("text")
        if raw is None or not raw.strip():
            raise bad_request("message text is empty")
        text, entities = self._format(raw, p.str("parse_mode"), p.json("entities"))
        if not text:
            raise bad_request("message text is empty")
        if utf16len(text) > TEXT_LIMIT:
            raise bad_request(too_long)
        return text, entities

    async def m_sendmessage(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p)
        text, entities = self._message_text(p, "message is too long")
        markup = self._markup(p)
        reply_to = self._reply_to(chat, p)
        self._flood(b, chat, "sendmessage")
        m = chat.add(True, text=text, entities=entities or None, reply_to=reply_to,
                     reply_markup=markup if markup and "inline_keyboard" in markup else None)
        return self._bot_message(b, chat, m, markup)

    async def _send_file(self, b: BotState, p: Params, field: str, method: str) -> Any:
        chat = self._chat(b, p)
        f = self._input_file(b, p, field, field)
        caption = entities = None
        raw = p.str("caption")
        if raw:
            caption, entities = self._format(raw, p.str("parse_mode"), p.json("caption_entities"), "caption")
            if utf16len(caption) > CAPTION_LIMIT:
                raise bad_request("message caption is too long")
            caption = caption or None
        markup = self._markup(p)
        reply_to = self._reply_to(chat, p)
        self._flood(b, chat, method)
        m = chat.add(True, file=f, caption=caption, caption_entities=entities or None, reply_to=reply_to,
                     reply_markup=markup if markup and "inline_keyboard" in markup else None)
        return self._bot_message(b, chat, m, markup)

    async def m_senddocument(self, b: BotState, p: Params) -> Any:
        return await self._send_file(b, p, "document", "senddocument")

    async def m_sendphoto(self, b: BotState, p: Params) -> Any:
        return await self._send_file(b, p, "photo", "sendphoto")

    def _editable(self, b: BotState, p: Params) -> tuple[Chat, StoredMessage]:
        if p.has("inline_message_id") and not p.has("chat_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat(b, p)
        mid = p.int("message_id", "message identifier is not specified")
        if mid is None:
            raise bad_request("message identifier is not specified")
        m = chat.messages.get(mid)
        if m is None:
            raise bad_request("message to edit not found")
        if not m.from_bot:
            raise bad_request("message can't be edited")
        return chat, m

    def _inline_markup(self, p: Params) -> dict[str, Any] | None:
        markup = self._markup(p)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        if markup is not None and not markup["inline_keyboard"]:
            return None
        return markup

    def _edited(self, b: BotState, chat: Chat, m: StoredMessage) -> dict[str, Any]:
        m.edit_date = max(int(time.time()), m.date)
        self._changed(chat, lambda: {"type": "edit", "message": self.message_view(b, m)})
        return self.message_object(b, chat, m)

    async def m_editmessagetext(self, b: BotState, p: Params) -> Any:
        chat, m = self._editable(b, p)
        text, entities = self._message_text(p, "MESSAGE_TOO_LONG")
        markup = self._inline_markup(p)
        if m.text is None:
            raise bad_request("there is no text in the message to edit")
        if m.text == text and (m.entities or []) == entities and m.reply_markup == markup:
            raise bad_request(NOT_MODIFIED)
        self._flood(b, chat, "editmessagetext")
        m.text, m.entities, m.reply_markup = text, entities or None, markup
        return self._edited(b, chat, m)

    async def m_editmessagecaption(self, b: BotState, p: Params) -> Any:
        chat, m = self._editable(b, p)
        if m.file is None:
            raise bad_request("there is no caption in the message to edit")
        raw = p.str("caption") or ""
        caption, entities = self._format(raw, p.str("parse_mode"), p.json("caption_entities"), "caption")
        if utf16len(caption) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        markup = self._inline_markup(p)
        if (m.caption or "") == caption and (m.caption_entities or []) == entities and m.reply_markup == markup:
            raise bad_request(NOT_MODIFIED)
        self._flood(b, chat, "editmessagecaption")
        m.caption, m.caption_entities, m.reply_markup = caption or None, entities or None, markup
        return self._edited(b, chat, m)

    async def m_editmessagereplymarkup(self, b: BotState, p: Params) -> Any:
        chat, m = self._editable(b, p)
        markup = self._inline_markup(p)
        if m.reply_markup == markup:
            raise bad_request(NOT_MODIFIED)
        self._flood(b, chat, "editmessagereplymarkup")
        m.reply_markup = markup
        return self._edited(b, chat, m)

    async def m_deletemessage(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p, for_send=False)
        mid = p.int("message_id", "message identifier is not specified")
        if mid is None:
            raise bad_request("message identifier is not specified")
        if chat.remove(mid) is None:
            raise bad_request("message to delete not found")
        self._changed(chat, lambda: {"type": "delete", "message_id": mid})
        return True

    async def m_deletemessages(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p, for_send=False)
        ids = p.json("message_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        for mid in ids:
            if chat.remove(int(mid)) is not None:
                self._changed(chat, lambda mid=mid: {"type": "delete", "message_id": int(mid)})
        return True

    async def m_answercallbackquery(self, b: BotState, p: Params) -> Any:
        qid = p.str("callback_query_id")
        if not qid:
            raise bad_request("query ID is empty")
        fut = b.callbacks.pop(qid, None)
        pressed = b.pressed_at.pop(qid, None)
        if fut is None or (self.callback_expiry is not None and pressed is not None
                           and time.monotonic() - pressed > self.callback_expiry):
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = p.str("text")
        if text and utf16len(text) > ANSWER_LIMIT:  # (UTF-16 units, as every limit)
            raise bad_request("MESSAGE_TOO_LONG")
        if not fut.done():
            fut.set_result({"answered": True, "callback_query_id": qid, "text": text,
                            "show_alert": p.bool("show_alert"), "url": p.str("url")})
        return True

    async def m_sendchataction(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p)
        action = p.str("action")
        if not action:
            raise bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        if chat.listeners:
            self._changed(chat, lambda: {"type": "action", "action": action})
        return True

    async def m_getfile(self, b: BotState, p: Params) -> Any:
        file_id = p.str("file_id")
        if not file_id:
            raise bad_request("file_id is empty")
        f = b.files.get(file_id)
        if f is None:
            raise bad_request("invalid file_id")
        if f.size > self.max_download:
            raise bad_request("file is too big")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size,
                "file_path": f.file_path}

    @staticmethod
    def _scope_key(scope: Any, b: BotState | None = None) -> str:
        """A command scope as a key; with `b`, a chat scope for a chat the bot does not have (a
        user who never wrote to it) is refused "chat not found", as Telegram refuses it."""
        if not scope:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        scope = dict(scope)
        if "chat_id" in scope:
            try:
                scope["chat_id"] = int(scope["chat_id"])
            except (TypeError, ValueError):
                raise bad_request("chat not found") from None
            if b is not None and scope["chat_id"] > 0 and scope["chat_id"] not in b.chats:
                raise bad_request("chat not found")
        return json.dumps(scope, sort_keys=True, ensure_ascii=False)

    async def m_setmycommands(self, b: BotState, p: Params) -> Any:
        commands = p.json("commands")
        if commands is None:
            raise bad_request("commands must be non-empty")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        clean = []
        for c in commands:
            if not isinstance(c, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command = str(c.get("command", "")).lstrip("/")
            description = str(c.get("description", ""))
            if not COMMAND_RE.match(command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("command description must be non-empty" if not description
                                  else "BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = (self._scope_key(p.json("scope"), b), p.str("language_code") or "")
        if clean:
            b.commands[key] = clean
        else:
            b.commands.pop(key, None)
        self._commands_changed(b)
        return True

    async def m_getmycommands(self, b: BotState, p: Params) -> Any:
        return b.commands.get((self._scope_key(p.json("scope"), b), p.str("language_code") or ""), [])

    async def m_deletemycommands(self, b: BotState, p: Params) -> Any:
        b.commands.pop((self._scope_key(p.json("scope"), b), p.str("language_code") or ""), None)
        self._commands_changed(b)
        return True

    def _commands_changed(self, b: BotState) -> None:
        for chat in b.chats.values():
            if chat.listeners:
                self._changed(chat, lambda chat=chat: {"type": "commands",
                                                       "commands": self.effective_commands(b, chat)})

    def effective_commands(self, b: BotState, chat: Chat | None, language_code: str | None = None) -> list:
        """The command menu a user sees: the narrowest scope set, language first (Telegram's rules)."""
        lang = language_code if language_code is not None else (chat.user.get("language_code", "") if chat else "")
        scopes = []
        if chat is not None:
            scopes.append(self._scope_key({"type": "chat", "chat_id": chat.id}))
            scopes.append(self._scope_key({"type": "all_private_chats"}))
        scopes.append(self._scope_key({"type": "default"}))
        for scope in scopes:
            for code in dict.fromkeys([lang or "", (lang or "").split("-")[0], ""]):
                if (scope, code) in b.commands:
                    return b.commands[(scope, code)]
        return []

    async def m_getchat(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p, for_send=False)
        return {**chat.chat_object(), "accent_color_id": chat.id % 7, "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True,
                                        "premium_subscription": True, "gifts_from_channels": True}}

    async def _set_property(self, b: BotState, p: Params, name: str) -> Any:
        b.properties[(name, p.str("language_code") or "")] = p.str(name) or ""
        return True

    async def m_setmydescription(self, b: BotState, p: Params) -> Any:
        return await self._set_property(b, p, "description")

    async def m_setmyshortdescription(self, b: BotState, p: Params) -> Any:
        return await self._set_property(b, p, "short_description")

    async def m_setmyname(self, b: BotState, p: Params) -> Any:
        return await self._set_property(b, p, "name")

    async def m_getmydescription(self, b: BotState, p: Params) -> Any:
        return {"description": b.properties.get(("description", p.str("language_code") or ""), "")}

    async def m_getmyshortdescription(self, b: BotState, p: Params) -> Any:
        return {"short_description": b.properties.get(("short_description", p.str("language_code") or ""), "")}

    async def m_getmyname(self, b: BotState, p: Params) -> Any:
        return {"name": b.properties.get(("name", p.str("language_code") or "")) or b.first_name}

    async def m_setchatmenubutton(self, b: BotState, p: Params) -> Any:
        b.properties[("menu_button", p.str("chat_id") or "")] = p.json("menu_button") or {"type": "default"}
        return True

    async def m_getchatmenubutton(self, b: BotState, p: Params) -> Any:
        return b.properties.get(("menu_button", p.str("chat_id") or ""), {"type": "commands"})

    async def m_pinchatmessage(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p)
        if p.int("message_id") not in chat.messages:
            raise bad_request("message to pin not found")
        return True

    async def m_unpinchatmessage(self, b: BotState, p: Params) -> Any:
        self._chat(b, p)
        return True

    m_unpinallchatmessages = m_unpinchatmessage

    async def m_setmessagereaction(self, b: BotState, p: Params) -> Any:
        chat = self._chat(b, p)
        if p.int("message_id") not in chat.messages:
            raise bad_request("message to react not found")
        return True

    async def call(self, token: str, method: str, p: Params, *, webhook_reply: bool = False) -> Any:
        """Run one Bot API method (an HTTP request, or the method a webhook answered an
        update's delivery with); returns the result or raises ApiError."""
        handler = getattr(self, "m_" + method.lower(), None) if method.isalnum() else None
        if handler is None:
            raise ApiError(404, "Not Found")
        b = self.bot(token)
        self.stats["webhook_replies" if webhook_reply else "requests"] += 1
        self.calls["webhook reply" if webhook_reply else "request", method] += 1
        return await handler(b, p)

    # ----------------------------------------------------------------- webhook delivery
    @staticmethod
    def _update_chat_id(update: dict[str, Any]) -> int:
        for key, value in update.items():
            if key == "update_id" or not isinstance(value, dict):
                continue
            if "chat" in value:
                return int(value["chat"]["id"])
            if "from" in value:
                return int(value["from"]["id"])
        return 0

    def _stop_webhook(self, b: BotState) -> list[dict[str, Any]]:
        wh = b.webhook
        if wh is None:
            return []
        b.webhook = None
        for t in wh.tasks:
            t.cancel()
        carried = [u for q in wh.queues for u in q]
        carried.sort(key=lambda u: u["update_id"])
        return carried

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.webhook_timeout))
        return self._http

    async def _webhook_worker(self, b: BotState, wh: Webhook, index: int) -> None:
        queue, event = wh.queues[index], wh.events[index]
        while True:
            while not queue:
                event.clear()
                await event.wait()
            update = queue[0]
            attempt = 0
            while not await self._deliver(b, wh, update):
                delay = min(self.webhook_retry_max, self.webhook_retry_base * (2 ** attempt))
                attempt += 1
                await asyncio.sleep(delay)
            if queue and queue[0] is update:
                queue.popleft()

    async def _deliver(self, b: BotState, wh: Webhook, update: dict[str, Any]) -> bool:
        headers = {"Content-Type": "application/json"}
        if wh.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = wh.secret_token
        try:
            async with self._http_session().post(wh.url, data=json.dumps(update, ensure_ascii=False).encode(),
                                                 headers=headers) as resp:
                if resp.status >= 300:
                    wh.last_error_date = int(time.time())
                    wh.last_error_message = f"Wrong response from the webhook: {resp.status} {resp.reason}"
                    return False
                await self._webhook_reply(b, resp)
                return True
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            wh.last_error_date = int(time.time())
            wh.last_error_message = "Connection refused" if isinstance(e, aiohttp.ClientConnectorError) else (
                str(e) or type(e).__name__)
            return False

    async def _webhook_reply(self, b: BotState, resp: aiohttp.ClientResponse) -> None:
        """A webhook may answer with a method call in its response body, as Telegram allows."""
        values: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        try:
            if resp.content_type == "application/json":
                body = await resp.json(content_type=None)
                if isinstance(body, dict):
                    values = body
            elif resp.content_type == "multipart/form-data":
                reader = aiohttp.MultipartReader.from_response(resp)
                while (part := await reader.next()) is not None:
                    if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                        continue
                    if part.filename is not None:
                        files[part.name] = Upload(part.filename, part.headers.get("Content-Type"), await part.read())
                    else:
                        values[part.name] = await part.text()
            else:
                return
        except (ValueError, aiohttp.ClientError):
            return
        method = values.pop("method", None)
        if isinstance(method, str) and method:
            try:
                await self.call(b.token, method, Params(values, files), webhook_reply=True)
            except ApiError as e:
                log.info("webhook reply %s failed: %s", method, e.description)

    # ----------------------------------------------------------------- the user side
    def user_send(self, token: str, user_id: int, text: str, *, reply_to_message_id: int | None = None,
                  file: Upload | None = None, kind: str = "document") -> dict[str, Any]:
        """A user's message in the private chat; returns its view. Raises ValueError for bad input."""
        b = self.bot(token)
        chat = self.register_user(token, user_id)
        if chat.blocked:  # writing to the bot again unblocks it, as in Telegram (which says so first)
            self.set_blocked(token, user_id, False)
        stored = self._store_file(b, file, kind) if file is not None else None
        text = text or ""
        if stored is None and not text.strip():
            raise ValueError("message text is empty")
        if utf16len(text) > (CAPTION_LIMIT if stored else TEXT_LIMIT):
            raise ValueError("message is too long")
        if reply_to_message_id is not None and reply_to_message_id not in chat.messages:
            reply_to_message_id = None
        if stored is None:
            m = chat.add(False, text=text, entities=bot_command_entities(text) or None,
                         reply_to=reply_to_message_id)
        else:
            m = chat.add(False, file=stored, caption=text or None, reply_to=reply_to_message_id,
                         caption_entities=bot_command_entities(text) or None)
        kb = chat.reply_keyboard
        if kb is not None and kb.get("one_time_keyboard") and stored is None and any(
                btn.get("text") == text for row in kb.get("keyboard", []) for btn in row):
            chat.reply_keyboard = None
            self._changed(chat, lambda: {"type": "keyboard", "reply_keyboard": None})
        self._changed(chat, lambda: {"type": "message", "message": self.message_view(b, m)})
        self._push_update(b, "message", self.message_object(b, chat, m), chat.id)
        return self.message_view(b, m)

    def user_edit(self, token: str, user_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The user edits a message of theirs (its text, or a file's caption): an
        `edited_message` update, as Telegram sends; the same text again sends nothing.
        Raises LookupError when the message does not exist, ValueError for bad input."""
        b = self.bot(token)
        chat = self.register_user(token, user_id)
        m = chat.messages.get(message_id)
        if m is None:
            raise LookupError("message not found")
        if m.from_bot:
            raise ValueError("only the user's own messages can be edited")
        text = text or ""
        if m.file is None and not text.strip():
            raise ValueError("message text is empty")
        if utf16len(text) > (CAPTION_LIMIT if m.file is not None else TEXT_LIMIT):
            raise ValueError("message is too long")
        if (m.text if m.file is None else m.caption or "") == text:
            return self.message_view(b, m)
        if m.file is None:
            m.text, m.entities = text, bot_command_entities(text) or None
        else:
            m.caption, m.caption_entities = text or None, bot_command_entities(text) or None
        m.edit_date = max(int(time.time()), m.date)
        self._changed(chat, lambda: {"type": "edit", "message": self.message_view(b, m)})
        self._push_update(b, "edited_message", self.message_object(b, chat, m), chat.id)
        return self.message_view(b, m)

    async def user_press(self, token: str, user_id: int, message_id: int, data: str,
                         wait: float | None = None) -> dict[str, Any]:
        """A tap on an inline button: a callback_query update; waits (bounded) for answerCallbackQuery.
        Raises LookupError when the message does not exist, ValueError for bad data."""
        b = self.bot(token)
        chat = self.register_user(token, user_id)
        m = chat.messages.get(message_id)
        if m is None:
            raise LookupError("message not found")
        if not m.from_bot:
            raise ValueError("not a bot message")
        if not data or len(data.encode()) > 64:
            raise ValueError("callback data must be 1-64 bytes")
        qid = str(next(self._callback_ids))
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        b.callbacks[qid] = fut
        b.pressed_at[qid] = time.monotonic()
        if len(b.callbacks) > 20000:  # forget the oldest unanswered queries
            for old in list(itertools.islice(b.callbacks, 5000)):
                b.callbacks.pop(old).cancel()
                b.pressed_at.pop(old, None)
        query = {"id": qid, "from": chat.user, "message": self.message_object(b, chat, m),
                 "chat_instance": b.chat_instance(chat.id), "data": data}
        update_id = self._push_update(b, "callback_query", query, chat.id)
        wait = self.callback_wait if wait is None else max(0.0, min(wait, 60.0))
        result: dict[str, Any] = {"answered": False, "callback_query_id": qid, "update_id": update_id,
                                  "text": None, "show_alert": False, "url": None}
        if wait > 0:
            try:
                result.update(await asyncio.wait_for(asyncio.shield(fut), wait))
            except (TimeoutError, asyncio.CancelledError):
                pass
        return result

    def set_blocked(self, token: str, user_id: int, blocked: bool) -> None:
        """The user blocks (or unblocks) the bot: as Telegram, a `my_chat_member` update tells the
        bot at once (the bot's status in the chat goes "member" → "kicked", or back); the bot's
        sends to a blocked user answer 403. Blocking a blocked bot again tells it nothing."""
        b = self.bot(token)
        chat = self.register_user(token, user_id)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        self._changed(chat, lambda: {"type": "blocked", "blocked": blocked})
        member: dict[str, Any] = {"user": b.user_object(), "status": "member"}
        kicked: dict[str, Any] = {"user": b.user_object(), "status": "kicked", "until_date": 0}
        change = {"chat": chat.chat_object(), "from": chat.user, "date": int(time.time()),
                  "old_chat_member": member if blocked else kicked,
                  "new_chat_member": kicked if blocked else member}
        self._push_update(b, "my_chat_member", change, chat.id)

    async def close(self) -> None:
        self.closing = True
        for b in self.bots.values():
            self._stop_webhook(b)
            b.wake_pollers()
            for fut in b.callbacks.values():
                fut.cancel()
            for q in list(b.listeners):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)
            for chat in b.chats.values():
                for q in list(chat.listeners):
                    with contextlib.suppress(asyncio.QueueFull):
                        q.put_nowait(None)
        if self._http is not None:
            await self._http.close()


@dataclass(slots=True)
class _Described:
    """A result with Telegram's extra `description` (setWebhook/deleteWebhook)."""

    result: Any
    description: str


# --------------------------------------------------------------------- HTTP layer
def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(), status=status,
                        content_type="application/json", headers=headers)


def _api_answer(result: Any) -> web.Response:
    if isinstance(result, _Described):
        return _json_response({"ok": True, "result": result.result, "description": result.description})
    return _json_response({"ok": True, "result": result})


def _api_error(e: ApiError) -> web.Response:
    return _json_response(e.payload(), status=e.code)


async def _read_multipart(request: web.Request, limit: int) -> tuple[dict[str, Any], dict[str, Upload]]:
    values: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
            continue
        if part.filename is None:
            values[part.name] = await part.text()
            continue
        buf = io.BytesIO()
        while chunk := await part.read_chunk(1 << 16):
            total += len(chunk)
            if total > limit:
                await request.release()  # drain, so the client reads our answer
                raise ApiError(413, "Request Entity Too Large")
            buf.write(chunk)
        files[part.name] = Upload(part.filename, part.headers.get("Content-Type"), buf.getvalue())
    return values, files


async def _read_params(request: web.Request, limit: int) -> Params:
    values: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.method == "POST" and request.body_exists:
        ctype = request.content_type
        if ctype == "multipart/form-data":
            v, files = await _read_multipart(request, limit)
            values.update(v)
        elif ctype == "application/json":
            try:
                body = json.loads(await request.read() or b"{}")
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "Request Entity Too Large") from None
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            values.update(body)
        else:
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "Request Entity Too Large") from None
            values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return Params(values, files)


def create_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp application serving the Bot API, the user side and the web chat."""
    app = web.Application(client_max_size=16 * MB)
    app[SANDBOX_KEY] = sandbox
    sb = sandbox

    async def bot_api(request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            sb.bot(token)
            faults = sb.faults
            if faults is not None and faults.applies(method.lower()):
                outcome, delay = faults.decide()
                if outcome == "drop":
                    raise _Drop
                if outcome == "error":
                    await request.release()
                    raise ApiError(500, "Internal Server Error")
                if delay:
                    await asyncio.sleep(delay)
            params = await _read_params(request, sb.max_upload)
            return _api_answer(await sb.call(token, method, params))
        except ApiError as e:
            return _api_error(e)
        except _Drop:
            if request.transport is not None:
                request.transport.abort() if hasattr(request.transport, "abort") else request.transport.close()
            raise web.HTTPInternalServerError() from None

    async def file_download(request: web.Request) -> web.StreamResponse:
        try:
            b = sb.bot(request.match_info["token"])
        except ApiError as e:
            return _api_error(e)
        f = b.files_by_path.get(request.match_info["path"])
        if f is None:
            return _api_error(ApiError(404, "Not Found"))
        return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream")

    # -- user side
    def _uid(request: web.Request) -> int:
        try:
            return int(request.match_info["user_id"])
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "bad user id"}), content_type="application/json") \
                from None

    def _err(status: int, text: str) -> web.Response:
        return _json_response({"ok": False, "error": text}, status=status)

    def _message_id(data: dict[str, Any]) -> int:
        """The body's message_id (an edit's, a press's); a 400 without one."""
        try:
            return int(data["message_id"])
        except (KeyError, TypeError, ValueError):
            raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "message_id is required"}),
                                     content_type="application/json") from None

    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "malformed JSON"}),
                                     content_type="application/json") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "expected a JSON object"}),
                                     content_type="application/json")
        return data

    def _token(request: web.Request) -> str:
        token = request.match_info["token"]
        if not TOKEN_RE.match(token):
            raise web.HTTPNotFound(text=json.dumps({"ok": False, "error": "bad token"}),
                                   content_type="application/json")
        return token

    async def users_post(request: web.Request) -> web.Response:
        token = _token(request)
        data = await _body(request)
        try:
            uid = int(data["id"])
        except (KeyError, TypeError, ValueError):
            return _err(400, "id is required")
        chat = sb.register_user(token, uid, data.get("first_name"), last_name=data.get("last_name"),
                                username=data.get("username"), language_code=data.get("language_code"))
        return _json_response(chat.user)

    async def users_get(request: web.Request) -> web.Response:
        b = sb.bot(_token(request))
        return _json_response([c.user for c in b.chats.values()])

    async def user_send(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        data = await _body(request)
        try:
            view = sb.user_send(token, uid, str(data.get("text") or ""),
                                reply_to_message_id=data.get("reply_to_message_id"))
        except ValueError as e:
            return _err(400, str(e))
        return _json_response(view)

    async def user_edit(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        data = await _body(request)
        mid = _message_id(data)
        try:
            view = sb.user_edit(token, uid, mid, str(data.get("text") or ""))
        except LookupError as e:
            return _err(404, str(e))
        except ValueError as e:
            return _err(400, str(e))
        return _json_response(view)

    async def user_press(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        data = await _body(request)
        mid = _message_id(data)
        wait = data.get("wait", request.query.get("wait"))
        try:
            result = await sb.user_press(token, uid, mid, str(data.get("data") or ""),
                                         None if wait is None else float(wait))
        except LookupError as e:
            return _err(404, str(e))
        except ValueError as e:
            return _err(400, str(e))
        return _json_response(result)

    async def user_upload(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        if request.content_type != "multipart/form-data":
            return _err(400, "multipart/form-data expected")
        try:
            values, files = await _read_multipart(request, sb.max_upload)
        except ApiError:
            return _err(413, "Request Entity Too Large: files over "
                             f"{sb.max_upload // MB} MB cannot be sent to a bot")
        kind = "photo" if "photo" in files else "document"
        up = files.get(kind)
        if up is None:
            return _err(400, "field 'document' (or 'photo') is required")
        try:
            reply_to = values.get("reply_to_message_id")
            view = sb.user_send(token, uid, values.get("caption", ""), file=up, kind=kind,
                                reply_to_message_id=int(reply_to) if reply_to and reply_to.isdecimal() else None)
        except ApiError as e:
            return _err(400, e.description)
        except ValueError as e:
            return _err(400, str(e))
        return _json_response(view)

    async def user_block(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        data = await _body(request)
        sb.set_blocked(token, uid, bool(data.get("blocked", True)))
        return _json_response({"ok": True, "blocked": bool(data.get("blocked", True))})

    async def chat_messages(request: web.Request) -> web.Response:
        token, uid = _token(request), _uid(request)
        b = sb.bot(token)
        chat = sb.register_user(token, uid)
        q = request.query
        try:
            timeout = min(60.0, float(q.get("timeout", "5")))
            wait_for = int(q["wait_for"]) if "wait_for" in q else None
            after = int(q["after_version"]) if "after_version" in q else None
        except ValueError:
            return _err(400, "bad query parameters")
        deadline = time.monotonic() + timeout
        while True:
            if wait_for is not None and chat.bot_count >= wait_for:
                break
            if after is not None and chat.version > after:
                break
            if wait_for is None and after is None:
                break
            left = deadline - time.monotonic()
            if left <= 0 or sb.closing:
                break
            await chat.wait_changed(left)
        views = [sb.message_view(b, m) for m in chat.messages.values()]
        return _json_response(views, headers={"X-Sandbox-Version": str(chat.version)})

    async def chat_state(request: web.Request) -> web.Response:
        return _json_response(sb.chat_state(_token(request), _uid(request)))

    async def _event_stream(request: web.Request, listeners: set[asyncio.Queue],
                            first: Callable[[], dict[str, Any]] | None) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(maxsize=10000)
        listeners.add(queue)
        try:
            if first is not None:
                await resp.write(f"data: {json.dumps(first(), ensure_ascii=False)}\n\n".encode())
            while not sb.closing:
                try:
                    ev = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    await resp.write(b": ping\n\n")
                    continue
                if ev is None:
                    break
                await resp.write(f"data: {json.dumps(ev, ensure_ascii=False)}\n\n".encode())
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            listeners.discard(queue)
        return resp

    async def chat_events(request: web.Request) -> web.StreamResponse:
        token, uid = _token(request), _uid(request)
        chat = sb.register_user(token, uid)
        return await _event_stream(request, chat.listeners, lambda: {"type": "snapshot", **sb.chat_state(token, uid)})

    async def bot_events(request: web.Request) -> web.StreamResponse:
        """Every chat's news for the page's user list: a new user, a bot message (to count unread)."""
        b = sb.bot(_token(request))
        return await _event_stream(request, b.listeners, None)

    async def commands(request: web.Request) -> web.Response:
        token = _token(request)
        b = sb.bot(token)
        uid = request.query.get("user_id")
        chat = b.chats.get(int(uid)) if uid and uid.lstrip("-").isdecimal() else None
        return _json_response(sb.effective_commands(b, chat, request.query.get("language_code")))

    async def file_view(request: web.Request) -> web.StreamResponse:
        b = sb.bot(_token(request))
        f = b.files_by_unique.get(request.match_info["unique"])
        if f is None:
            return _err(404, "file not found")
        headers = {}
        if f.kind == "document" or "download" in request.query:  # (a photo: shown in the page, saved on asking)
            from urllib.parse import quote
            name = f.file_name or f.upload_name or f.file_path.rsplit("/", 1)[-1]
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream", headers=headers)

    async def config(request: web.Request) -> web.Response:
        bots = [{"token": b.token, **b.user_object()} for b in sb.bots.values()]
        return _json_response({"bots": bots, "presets": sb.presets, "language": sb.language})

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def favicon(request: web.Request) -> web.StreamResponse:
        """No icon file (the page carries its own inline): nothing, rather than a 404 in the log."""
        return web.Response(status=204)

    async def cjk_font(request: web.Request) -> web.StreamResponse:
        """A CJK font for machines without one (the web chat falls back to it); from mplfonts."""
        try:
            import mplfonts
        except ImportError:
            raise web.HTTPNotFound() from None
        path = Path(mplfonts.__file__).with_name("fonts") / "NotoSansCJKsc-Regular.otf"
        if not path.exists():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "max-age=86400", "Content-Type": "font/otf"})

    async def on_shutdown(app: web.Application) -> None:
        await sb.close()

    app.on_shutdown.append(on_shutdown)
    r = app.router
    r.add_route("*", "/bot{token}/{method}", bot_api)
    r.add_get("/file/bot{token}/{path:.+}", file_download)
    r.add_get("/", index)
    r.add_get("/favicon.ico", favicon)
    r.add_static("/static/", STATIC_DIR)
    r.add_get("/sandbox/config", config)
    r.add_get("/sandbox/font/cjk.otf", cjk_font)
    r.add_post("/sandbox/{token}/users", users_post)
    r.add_get("/sandbox/{token}/users", users_get)
    r.add_post("/sandbox/{token}/users/{user_id}/send", user_send)
    r.add_post("/sandbox/{token}/users/{user_id}/edit", user_edit)
    r.add_post("/sandbox/{token}/users/{user_id}/press", user_press)
    r.add_post("/sandbox/{token}/users/{user_id}/upload", user_upload)
    r.add_post("/sandbox/{token}/users/{user_id}/block", user_block)
    r.add_get("/sandbox/{token}/chats/{user_id}", chat_state)
    r.add_get("/sandbox/{token}/chats/{user_id}/messages", chat_messages)
    r.add_get("/sandbox/{token}/chats/{user_id}/events", chat_events)
    r.add_get("/sandbox/{token}/events", bot_events)
    r.add_get("/sandbox/{token}/commands", commands)
    r.add_get("/sandbox/{token}/files/{unique}", file_view)
    return app


# --------------------------------------------------------------------- running it
def connectable_host(host: str) -> str:
    """The address a client connects to for a server listening on `host`."""
    host = host.strip("[]")
    return "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host


@dataclass
class RunningSandbox:
    """A sandbox served on a port: `base_url` is what a bot uses as its API server."""

    sandbox: Sandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The address to reach it at: IPv6 in brackets, and a host that listens on every
        address (0.0.0.0, ::) as the loopback, which a browser opens (0.0.0.0 is no address to go to)."""
        host = connectable_host(self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def user(self, token: str, user_id: int, **kw: Any):  # -> SandboxUser
        from bot.sandbox.client import SandboxUser

        return SandboxUser(self.base_url, token, user_id, **kw)


@contextlib.asynccontextmanager
async def running_sandbox(port: int = 0, host: str = "127.0.0.1", *, rate_limits: bool | RateLimits = False,
                          faults: Faults | str | None = None, presets: list[dict[str, Any]] | None = None,
                          sandbox: Sandbox | None = None, **options: Any) -> AsyncIterator[RunningSandbox]:
    """Run a sandbox on host:port (0 = a free port) for the duration of the block."""
    sb = sandbox or Sandbox(rate_limits=rate_limits, faults=faults, presets=presets, **options)
    runner = web.AppRunner(create_app(sb), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual = runner.addresses[0][1]
    try:
        yield RunningSandbox(sb, host, actual)
    finally:
        await runner.cleanup()

