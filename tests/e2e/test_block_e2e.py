"""Blocking the bot end to end: the real bot process polls the sandbox over HTTP; a resident
who started the questionnaire blocks the bot (the sandbox sends Telegram's my_chat_member
update), is marked inactive at once and skipped by the organizer's /announce; once they
unblock it they are active again and the next announcement reaches them — on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from bot.sandbox.client import SandboxUser
from storage.engine import make_engine
from storage.models import Person
from tests.e2e.conftest import (
    E2E,
    ORGANIZER_ID,
    STEP_TIMEOUT,
    TOKEN,
    has_button,
    has_text,
    wait_bot_message,
)
from tests.e2e.test_resident_e2e import begin

pytestmark = pytest.mark.slow

RESIDENT_ID = 3001


async def wait_active(url: str, person_id: int, active: bool) -> None:
    """Until the database holds `active` for the person (the bot handles the update meanwhile)."""
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            async with engine.connect() as conn:
                now = await conn.scalar(sa.select(Person.active).where(Person.id == person_id))
            if now is active:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"person {person_id} is still active={now}, expected {active}")
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def announce(organizer: SandboxUser, text: str) -> str:
    """/announce → the text → 发送给 … : the organizer's closing note (sent, blocked, failed)."""
    sent = await organizer.send("/announce")
    await wait_bot_message(organizer, has_text("请发送要通知"), after=sent["message_id"])
    sent = await organizer.send(text)
    preview = await wait_bot_message(organizer, has_button("发送给"), after=sent["message_id"])
    result = await organizer.press_button(preview, "发送给", wait=STEP_TIMEOUT)
    assert result["answered"] and not result.get("show_alert"), result
    done = await wait_bot_message(organizer, has_text("通知已发送"), after=preview["message_id"])
    return done["text"]


async def test_a_resident_who_blocks_the_bot_is_skipped_by_announcements_until_they_unblock_it(e2e: E2E) -> None:
    sandbox = e2e.sandbox.sandbox
    async with e2e.user(RESIDENT_ID, "张大爷") as resident, e2e.user(ORGANIZER_ID, "编办") as organizer:
        await begin(e2e, resident)  # a participant now (their questionnaire is started)
        await wait_active(e2e.database.url, RESIDENT_ID, True)

        await resident.set_blocked(True)
        await wait_active(e2e.database.url, RESIDENT_ID, False)  # told by my_chat_member, not by a failed send
        before = len(sandbox.chat_messages(TOKEN, RESIDENT_ID))
        note = await announce(organizer, "座谈会改到周五下午三点")
        assert "成功 0，已屏蔽机器人 0，失败 0" in note  # skipped: no send was even tried
        assert len(sandbox.chat_messages(TOKEN, RESIDENT_ID)) == before

        await resident.set_blocked(False)
        await wait_active(e2e.database.url, RESIDENT_ID, True)
        note = await announce(organizer, "征询延长到下周一")
        assert "成功 1，已屏蔽机器人 0，失败 0" in note
        got = await wait_bot_message(resident, has_text("征询延长到下周一"))
        assert "座谈会改到周五" not in " ".join(m.get("text") or "" for m in await resident.messages())
        assert got["from_bot"]
