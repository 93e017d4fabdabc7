"""bot.lazy_types: aiogram imported with its types' validators built on first use."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json
import bot  # imports aiogram the lazy way
import aiogram.types as T
from pydantic import BaseModel

names = [n for n in T.__all__ if isinstance(getattr(T, n), type) and issubclass(getattr(T, n), BaseModel)]
before = sum(1 for n in names if getattr(T, n).__pydantic_complete__)
update = T.Update.model_validate({
    "update_id": 2, "callback_query": {
        "id": "1", "chat_instance": "c", "from": {"id": 9, "is_bot": False, "first_name": "x"}, "data": "q:1",
        "message": {"message_id": 5, "date": 1700000000, "chat": {"id": 9, "type": "private"},
                    "from": {"id": 1, "is_bot": True, "first_name": "b"}, "text": "hi",
                    "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}}}})
button = update.callback_query.message.reply_markup.inline_keyboard[0][0]
failed = []
for n in names:  # every type builds on first use, its forward references resolved
    try:
        # what a first use runs: a rebuild from the namespace the type was given, nothing else
        assert getattr(T, n).model_rebuild(_types_namespace={}) is not False
        assert getattr(T, n).__pydantic_complete__
    except Exception as e:
        failed.append(f"{n}: {e.__class__.__name__}")
print(json.dumps({"types": len(names), "built_at_import": before, "button": button.callback_data, "failed": failed}))
"""


def test_types_are_built_on_first_use_and_every_one_of_them_builds() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["types"] > 300
    assert result["built_at_import"] < result["types"] // 10, result  # deferred, not built at import
    assert result["button"] == "b"
    assert result["failed"] == []
