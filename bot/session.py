"""aiogram's aiohttp session, sending a Bot API call without files as one JSON body.

aiogram posts every call as multipart form data, building a FormData with a random
boundary and JSON-encoding each nested field separately. The Bot API takes JSON bodies
as well, and for the bot's answers and for every broadcast message that is the cheaper
encoding (≈ 0.1 ms less per call on both ends, measured with bench/broadcast.py). Calls
that upload files still go as multipart, through aiogram's own code. A broadcast
message is encoded once, not once per recipient (`ChatTemplate`).

Every answer of the Bot API is parsed as `Response[method.__returning__]`, a pydantic
generic model that pydantic caches only weakly: once the garbage collector frees it,
the next call builds it again, schema and all — about 70 ms for a Message, during which
the event loop stands still. In a run of bench/e2e_http.py (7,500 updates) that happened
25 times: 1.7 s of the bot's 38 s of CPU. The session holds each such type for the life
of the process (`check_response`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientError

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod

JSON_HEADERS = {"Content-Type": "application/json"}

# The answer types parsed so far (see the module docstring), kept alive.
_RESPONSE_TYPES: dict[Any, type[Any]] = {}


class ChatTemplate:
    """Held by a call and all its copies that differ only in chat_id: the JSON body's
    part after chat_id, encoded by the first copy sent."""

    __slots__ = ("bot", "tail")

    def __init__(self) -> None:
        self.bot: Bot | None = None
        self.tail: str | None = None


class JsonAiohttpSession(AiohttpSession):
    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    def json_payload(self, bot: Bot, method: TelegramMethod[Any]) -> tuple[dict[str, Any], bool]:
        """The call's parameters as one JSON object (the same fields aiogram's form would
        carry), and whether it has files to upload."""
        files: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared:  # aiogram's form leaves out empty and false values too
                payload[key] = prepared
        return payload, bool(files)

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> str | None:
        """The call as a JSON body; None when it uploads files. A call that shares its
        body with copies sent to other chats (`ChatTemplate`, one per broadcast message)
        is encoded once, and each copy only puts its chat_id in front."""
        shared: ChatTemplate | None = getattr(method, "chat_template", None)
        if shared is None:
            payload, has_files = self.json_payload(bot, method)
            return None if has_files else self.json_dumps(payload)
        if shared.bot is not bot or shared.tail is None:
            payload, has_files = self.json_payload(bot, method)
            if has_files:
                return None
            payload.pop("chat_id", None)
            rest = self.json_dumps(payload)
            shared.bot, shared.tail = bot, ("," + rest[1:] if len(payload) else "}")
        return '{"chat_id":' + self.json_dumps(method.chat_id) + shared.tail  # type: ignore[attr-defined]

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(url, data=body, headers=JSON_HEADERS,
                                    timeout=self.timeout if timeout is None else timeout) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(TelegramType, response.result)
