"""A small async client for the sandbox's user side: a simulated Telegram user who
sends messages, taps inline buttons, uploads files and reads the chat. Used by
end-to-end tests and benchmarks (share one aiohttp session across many users)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["SandboxError", "SandboxUser"]

Messages = list[dict[str, Any]]


class SandboxError(Exception):
    """The sandbox refused a user-side request (status and its JSON answer)."""

    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(f"{status}: {payload}")
        self.status = status
        self.payload = payload


class SandboxUser:
    """One user talking to one bot (chat id = user id) through a sandbox at base_url."""

    def __init__(self, base_url: str, token: str, user_id: int, *, session: aiohttp.ClientSession | None = None,
                 first_name: str | None = None, language_code: str | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._registered = first_name is None and language_code is None

    @property
    def url(self) -> str:
        return f"{self.base_url}/sandbox/{self.token}"

    async def __aenter__(self) -> SandboxUser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def _request(self, method: str, path: str, **kw: Any) -> tuple[Any, Any]:
        if not self._registered:
            self._registered = True
            await self.register()
        async with self._http().request(method, self.url + path, **kw) as resp:
            payload = await resp.json(content_type=None)
            if resp.status >= 400:
                raise SandboxError(resp.status, payload)
            return payload, resp.headers

    async def register(self, first_name: str | None = None, *, last_name: str | None = None,
                       username: str | None = None, language_code: str | None = None) -> dict[str, Any]:
        """Create or update this user (name, language)."""
        self._registered = True
        body: dict[str, Any] = {"id": self.user_id}
        for key, value in (("first_name", first_name or self.first_name), ("last_name", last_name),
                           ("username", username), ("language_code", language_code or self.language_code)):
            if value:
                body[key] = value
        payload, _ = await self._request("POST", "/users", json=body)
        return payload

    async def send(self, text: str, *, reply_to_message_id: int | None = None) -> dict[str, Any]:
        """Send a text message; returns the message as created."""
        body: dict[str, Any] = {"text": text}
        if reply_to_message_id is not None:
            body["reply_to_message_id"] = reply_to_message_id
        payload, _ = await self._request("POST", f"/users/{self.user_id}/send", json=body)
        return payload

    async def edit(self, message_id: int, text: str) -> dict[str, Any]:
        """Edit a message of this user's (its text, or a file's caption): the bot gets an
        `edited_message` update; returns the message as edited."""
        payload, _ = await self._request("POST", f"/users/{self.user_id}/edit",
                                         json={"message_id": message_id, "text": text})
        return payload

    async def press(self, message_id: int, data: str, *, wait: float = 10.0) -> dict[str, Any]:
        """Tap an inline button; returns {"answered", "text", "show_alert", ...} once the bot answered
        (or after `wait` seconds)."""
        payload, _ = await self._request("POST", f"/users/{self.user_id}/press",
                                         json={"message_id": message_id, "data": data, "wait": wait})
        return payload

    async def press_button(self, message: dict[str, Any], text: str, *, wait: float = 10.0) -> dict[str, Any]:
        """Tap the inline button labelled `text` (or containing it) on a message view."""
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button.get("text") == text or text in button.get("text", ""):
                    return await self.press(message["message_id"], button["callback_data"], wait=wait)
        raise LookupError(f"no button {text!r} on message {message.get('message_id')}")

    async def upload(self, content: bytes | str | Path, file_name: str | None = None, *,
                     mime_type: str | None = None, caption: str | None = None, photo: bool = False,
                     reply_to_message_id: int | None = None) -> dict[str, Any]:
        """Send a document (or a photo) from bytes or a path (replying to a message, if given)."""
        if isinstance(content, str | Path):
            path = Path(content)
            file_name = file_name or path.name
            content = await asyncio.to_thread(path.read_bytes)
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("photo" if photo else "document", content, filename=file_name or "file",
                       content_type=mime_type or "application/octet-stream")
        if caption:
            form.add_field("caption", caption)
        if reply_to_message_id is not None:
            form.add_field("reply_to_message_id", str(reply_to_message_id))
        payload, _ = await self._request("POST", f"/users/{self.user_id}/upload", data=form)
        return payload

    async def set_blocked(self, blocked: bool = True) -> None:
        """Block (or unblock) the bot: the bot gets a my_chat_member update; its sends to a
        blocked user answer 403 Forbidden."""
        await self._request("POST", f"/users/{self.user_id}/block", json={"blocked": blocked})

    async def messages(self) -> Messages:
        """The chat as the user sees it now, oldest first."""
        payload, _ = await self._request("GET", f"/chats/{self.user_id}/messages")
        return payload

    async def bot_messages(self) -> Messages:
        return [m for m in await self.messages() if m["from_bot"]]

    async def wait_for_messages(self, count: int | None = None, *, predicate: Callable[[Messages], bool] | None = None,
                                timeout: float = 5.0) -> Messages:  # noqa: ASYNC109
        """Wait until the chat holds at least `count` bot messages and/or `predicate(messages)` holds.
        Raises TimeoutError (with the chat's content) when it does not happen in time."""
        if count is None and predicate is None:
            count = 1

        def done(msgs: Messages) -> bool:
            if count is not None and sum(1 for m in msgs if m["from_bot"]) < count:
                return False
            return predicate is None or predicate(msgs)

        deadline = time.monotonic() + timeout
        version: str | None = None
        while True:
            left = deadline - time.monotonic()
            params = {"timeout": f"{max(0.0, left):.3f}"}
            if version is not None:
                params["after_version"] = version
            msgs, headers = await self._request("GET", f"/chats/{self.user_id}/messages", params=params)
            if done(msgs):
                return msgs
            if left <= 0:
                texts = [(m["message_id"], m["text"] or m["caption"]) for m in msgs]
                raise TimeoutError(f"chat {self.user_id}: condition not met within {timeout}s; messages: {texts}")
            version = headers.get("X-Sandbox-Version", version)

    async def last_bot_message(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The newest bot message (waits for one)."""
        return [m for m in await self.wait_for_messages(1, timeout=timeout) if m["from_bot"]][-1]

    async def commands(self) -> list[dict[str, str]]:
        payload, _ = await self._request("GET", "/commands", params={"user_id": str(self.user_id)})
        return payload

    async def download(self, url: str) -> bytes:
        """Fetch a file a message view points to (document/photo url)."""
        async with self._http().get(url if url.startswith("http") else self.base_url + url) as resp:
            if resp.status >= 400:
                raise SandboxError(resp.status, await resp.text())
            return await resp.read()
