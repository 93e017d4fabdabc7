"""Under a webhook, a resident's press costs one Bot API request: the bot edits the
question message over HTTP and answers the press in its HTTP reply to the delivery
(as Telegram allows), after the edit. The bot is a webhook worker process
(`python -m bot run --webhook --workers 1`) behind the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.faults.conftest import BOT_USERNAME, TOKEN, BotProc, free_port, stored_by_person
from tests.faults.residents import BEGIN, buttons, last_bot, question_number, resident_session

pytestmark = [pytest.mark.slow]

UID = 31_001


@asynccontextmanager
async def _at_the_welcome(database: Database, code: str, tmp_path: Path, uid: int, name: str):
    """The sandbox, a webhook worker process behind it, and a resident at the welcome to the
    questionnaire: (sandbox, worker, resident, welcome message, its start button)."""
    async with running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb, \
            resident_session() as http:
        worker = BotProc(sb, database.url, tmp_path / "worker.log", webhook_port=free_port(), register=True)
        try:
            await worker.start()
            user = sb.user(TOKEN, uid, session=http, first_name=name, language_code="zh-hans")
            await user.send(f"/start {code}")
            welcome = last_bot(await user.wait_for_messages(1, timeout=15))
            assert welcome is not None
            begin = next(b for b in buttons(welcome) if b["text"] == BEGIN)
            yield sb, worker, user, welcome, begin
        finally:
            worker.kill()


async def test_a_press_is_answered_in_the_webhook_reply_and_edited_over_http(seeded: tuple[Database, str],
                                                                             tmp_path: Path) -> None:
    database, code = seeded
    async with asyncio.timeout(90), _at_the_welcome(database, code, tmp_path, UID, "回执") as (sb, worker, user,
                                                                                               welcome, begin):
        calls = sb.sandbox.calls
        before = calls.copy()

        answered = await user.press(welcome["message_id"], begin["callback_data"], wait=15)
        assert answered["answered"] is True
        live = last_bot(sb.sandbox.chat_messages(TOKEN, UID))
        assert live is not None and question_number(live) == 1
        some = next(b for b in buttons(live) if b["text"].endswith("知道一些"))
        answered = await user.press(live["message_id"], some["callback_data"], wait=15)
        assert answered["answered"] is True
        assert question_number(last_bot(sb.sandbox.chat_messages(TOKEN, UID))) == 2

        new = calls - before
        assert new["webhook reply", "answerCallbackQuery"] == 2  # both presses answered in the reply
        assert new["request", "answerCallbackQuery"] == 0
        assert new["request", "editMessageText"] == 2  # the start button's screen and the next question
        assert (await stored_by_person(database.url)) == {UID: {"aware": "some"}}


async def test_a_stopped_worker_finishes_the_delivery_in_flight(seeded: tuple[Database, str],
                                                                tmp_path: Path) -> None:
    """SIGTERM (systemd's stop, the supervisor's) while a press is on the wire: the worker
    takes no new deliveries but finishes this one — edit and answer — before it exits."""
    import signal

    from bot.sandbox.limits import Faults

    database, code = seeded
    async with asyncio.timeout(90), _at_the_welcome(database, code, tmp_path, UID + 1, "停机") as (sb, worker, user,
                                                                                                   welcome, begin):
        try:
            sb.sandbox.faults = Faults(slow_rate=1.0, slow_seconds=2.0, methods=frozenset({"editmessagetext"}))
            press = asyncio.create_task(user.press(welcome["message_id"], begin["callback_data"], wait=20))
            await asyncio.sleep(0.8)  # the edit is on the wire
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGTERM)
            answered = await press
            code_ = await asyncio.to_thread(worker.proc.wait, 30)
            assert code_ == 0
            assert answered["answered"] is True  # in the HTTP reply, after the edit
            live = last_bot(sb.sandbox.chat_messages(TOKEN, UID + 1))
            assert live is not None and question_number(live) == 1
            assert "finishing those in flight" in worker.log_text()
        finally:
            sb.sandbox.faults = None
