"""The same update delivered twice is processed once (SQLite and PostgreSQL), with the
bot as a webhook worker process (`python -m bot run --webhook --workers 1`):

- the update JSON the sandbox made is posted twice to the worker's webhook URL
  (concurrently, then one after the other): one bot message, one stored answer;
- the sandbox's own retry: the worker's first answer comes after the sandbox's
  webhook timeout (the bot's sendMessage is slowed past it), so the sandbox delivers
  the update again while the first delivery is still being handled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import WEBHOOK_PATH
from bot.sandbox.limits import Faults
from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.faults.conftest import BOT_USERNAME, TOKEN, BotProc, answer_row_counts, free_port, stored_by_person
from tests.faults.residents import BEGIN, buttons, last_bot, question_number, screen_of

pytestmark = [pytest.mark.slow, pytest.mark.faults]

UID = 30_001


def _bot_messages(sb: Any) -> list[dict[str, Any]]:
    return [m for m in sb.sandbox.chat_messages(TOKEN, UID) if m["from_bot"]]


async def _settle(sb: Any, predicate: Any, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate(_bot_messages(sb)):  # noqa: ASYNC110 - polling in-process sandbox state
            await asyncio.sleep(0.05)


async def test_same_update_posted_twice_to_the_webhook_is_handled_once(seeded: tuple[Database, str],
                                                                      tmp_path: Path) -> None:
    database, code = seeded
    port = free_port()
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    async with asyncio.timeout(90), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb, \
            aiohttp.ClientSession() as http:
        worker = BotProc(sb, database.url, tmp_path / "worker.log", webhook_port=port, register=False)
        state = sb.sandbox.bot(TOKEN)
        try:
            await worker.start()
            user = sb.user(TOKEN, UID, session=http, first_name="重复", language_code="zh-hans")

            async def deliver_twice(concurrently: bool) -> int:
                """Take the update the sandbox queued (no webhook is set) and post it twice."""
                assert len(state.pending) == 1
                update = state.pending.popleft()
                if concurrently:
                    statuses = await asyncio.gather(*(_post(http, url, update) for _ in range(2)))
                else:
                    statuses = [await _post(http, url, update), await _post(http, url, update)]
                assert statuses == [200, 200]
                return int(update["update_id"])

            await user.send(f"/start {code}")
            first = await deliver_twice(concurrently=True)
            await _settle(sb, lambda ms: len(ms) >= 1)
            await asyncio.sleep(0.5)
            welcome = _bot_messages(sb)
            assert len(welcome) == 1 and screen_of(welcome[0]) == "welcome"

            begin = next(b for b in buttons(welcome[0]) if b["text"] == BEGIN)
            await user.press(welcome[0]["message_id"], begin["callback_data"], wait=0)
            await deliver_twice(concurrently=True)
            await _settle(sb, lambda ms: question_number(ms[-1]) == 1)

            live = last_bot(sb.sandbox.chat_messages(TOKEN, UID))
            assert live is not None
            some = next(b for b in buttons(live) if b["text"].endswith("知道一些"))
            await user.press(live["message_id"], some["callback_data"], wait=0)
            last = await deliver_twice(concurrently=False)
            await _settle(sb, lambda ms: question_number(ms[-1]) == 2)
            await asyncio.sleep(0.5)

            assert len(_bot_messages(sb)) == 1  # the welcome, edited in place; nothing sent twice
            assert question_number(_bot_messages(sb)[-1]) == 2  # one answer, not two steps
            assert (await stored_by_person(database.url)) == {UID: {"aware": "some"}}
            assert set((await answer_row_counts(database.url)).values()) == {1}
            log = worker.log_text()
            for update_id in (first, last):
                assert f"update {update_id} already processed; skipped" in log
        finally:
            worker.kill()


async def _post(http: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> int:
    async with http.post(url, json=update, timeout=aiohttp.ClientTimeout(total=30)) as resp:
        await resp.read()
        return resp.status


async def test_sandbox_retry_after_webhook_timeout_is_handled_once(seeded: tuple[Database, str],
                                                                  tmp_path: Path) -> None:
    database, code = seeded
    port = free_port()
    # every sendMessage takes 2.5 s; the sandbox gives up on a delivery after 1 s and retries
    faults = Faults(slow_rate=1.0, slow_seconds=2.5, methods=frozenset({"sendMessage"}), seed=1)
    async with asyncio.timeout(90), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                    faults=faults, webhook_timeout=1.0,
                                                    webhook_retry_base=0.1) as sb:
        worker = BotProc(sb, database.url, tmp_path / "worker.log", webhook_port=port, register=True)
        try:
            await worker.start()
            async with sb.user(TOKEN, UID, first_name="重试", language_code="zh-hans") as user:
                sent = await user.send(f"/start {code}")
                await _settle(sb, lambda ms: len(ms) >= 1)
                wh = sb.sandbox.bot(TOKEN).webhook
                assert wh is not None
                async with asyncio.timeout(20):  # the queue drains once a retry is answered 200
                    while wh.pending:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                await asyncio.sleep(3)  # a second handling would have sent its (slow) message by now
                msgs = _bot_messages(sb)
                assert len(msgs) == 1 and screen_of(msgs[0]) == "welcome", [m["text"] for m in msgs]
                assert wh.last_error_date, "the sandbox never timed out on a delivery: no retry happened"
                update_id = sb.sandbox.bot(TOKEN).next_update_id - 1
                assert f"update {update_id} already processed; skipped" in worker.log_text()
                assert sent["message_id"] < msgs[0]["message_id"]
        finally:
            worker.kill()
