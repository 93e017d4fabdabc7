"""bot.lazy_types: aiogram imported with its types' validators built on first use."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json
import bot  # imports aiogram the lazy way
import aiogram.methods as M
import aiogram.types as T
from pydantic import BaseModel

def models(module):
    return [getattr(module, n) for n in module.__all__
            if isinstance(getattr(module, n), type) and issubclass(getattr(module, n), BaseModel)]

names = [c.__name__ for c in models(T)]
before = sum(1 for n in names if getattr(T, n).__pydantic_complete__)
# how the session reads answers: Response[…] parametrized over types not built yet
from aiogram.methods.base import Response
sent = Response[T.Message].model_validate({"ok": True, "result": {
    "message_id": 7, "date": 1700000000, "chat": {"id": 9, "type": "private"}, "text": "hi"}})
assert sent.result.message_id == 7
polled = Response[list[T.Update]].model_validate({"ok": True, "result": [{"update_id": 1, "message": {
    "message_id": 8, "date": 1700000000, "chat": {"id": 9, "type": "private"}, "text": "/start"}}]})
assert polled.result[0].message.text == "/start"
update = T.Update.model_validate({
    "update_id": 2, "callback_query": {
        "id": "1", "chat_instance": "c", "from": {"id": 9, "is_bot": False, "first_name": "x"}, "data": "q:1",
        "message": {"message_id": 5, "date": 1700000000, "chat": {"id": 9, "type": "private"},
                    "from": {"id": 1, "is_bot": True, "first_name": "b"}, "text": "hi",
                    "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}}}})
button = update.callback_query.message.reply_markup.inline_keyboard[0][0]
# a model of ours built on aiogram's (bot.broadcaster), used before the types it holds
from bot.broadcaster import Outgoing
call = Outgoing("你好").message_to(42)
assert (call.chat_id, call.text, call.__api_method__) == (42, "你好", "sendMessage")
failed = []
# every method, then every type, builds on first use, its forward references resolved (a
# method first: it must resolve the types it holds, which are not built yet)
for cls in models(M) + models(T):
    try:
        # what a first use runs: a rebuild from the namespace the class was given, nothing else
        assert cls.model_rebuild(_types_namespace={}) is not False
        assert cls.__pydantic_complete__
    except Exception as e:
        failed.append(f"{cls.__name__}: {e.__class__.__name__}")
print(json.dumps({"types": len(names), "methods": len(models(M)), "built_at_import": before,
                  "button": button.callback_data, "failed": failed}))
"""


def test_types_are_built_on_first_use_and_every_one_of_them_builds() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["types"] > 300 and result["methods"] > 100
    assert result["built_at_import"] < result["types"] // 10, result  # deferred, not built at import
    assert result["button"] == "b"
    assert result["failed"] == []
