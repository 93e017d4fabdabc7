"""The resident questionnaire end to end: the real bot process (`python -m bot.cli run`)
polls the sandbox Bot API over HTTP; simulated residents open the deep link, tap
buttons and type, and the database is checked — on SQLite and on PostgreSQL.
One test kills the bot with SIGKILL mid-questionnaire and restarts it."""

from __future__ import annotations

import pytest

from bot.sandbox.client import SandboxUser
from tests.e2e.conftest import (
    E2E,
    STEP_TIMEOUT,
    Check,
    Message,
    completed_at,
    has_button,
    has_text,
    wait_bot_message,
)

pytestmark = pytest.mark.slow



async def tap(user: SandboxUser, message: Message, label: str, then: Check) -> Message:
    """Tap the button labelled `label` on `message`, and wait until the bot has put the
    next screen on that same message (edited in place)."""
    result = await user.press_button(message, label, wait=STEP_TIMEOUT)
    assert result["answered"], f"the bot did not answer the tap on {label!r}"
    assert not result.get("show_alert"), f"tap on {label!r} was refused: {result.get('text')}"
    return await wait_bot_message(user, then, message_id=message["message_id"])


async def begin(e2e: E2E, user: SandboxUser) -> Message:
    """/start <code> → the welcome → 开始答题 → question 1 (the live message)."""
    await user.send(f"/start {e2e.code}")
    welcome = await wait_bot_message(user, has_button("开始答题"))
    assert "青山镇" in welcome["text"] and "共 8 个问题" in welcome["text"]
    return await tap(user, welcome, "开始答题", has_text("第 1/8 题"))


async def answer_first_three(user: SandboxUser, live: Message) -> Message:
    live = await tap(user, live, "知道一些", has_text("第 2/8 题"))
    live = await tap(user, live, "4", has_text("第 3/8 题"))
    return await tap(user, live, "3", has_text("第 4/8 题"))


async def answer_rest_from_question_4(user: SandboxUser, live: Message) -> Message:
    """Questions 4–9 (emergency, needs, missing, missing_what typed, suggest typed, age): the summary."""
    assert "第 4/8 题" in live["text"]
    live = await tap(user, live, "5", has_text("第 5/8 题"))
    live = await tap(user, live, "☐ 养老", has_button("☑ 养老"))
    live = await tap(user, live, "☐ 看病", has_button("☑ 看病"))
    live = await tap(user, live, "完成", has_text("第 6/8 题"))
    await tap(user, live, "有", has_text("是什么事"))  # the conditional question appears: 第 7/9 题
    sent = await user.send("村里的路灯坏了没人管")
    await wait_bot_message(user, has_text("还有什么意见"), after=sent["message_id"])
    sent = await user.send("希望多开几个便民窗口")
    age = await wait_bot_message(user, has_text("您的年龄"), after=sent["message_id"])  # a new live message
    return await tap(user, age, "60–74", has_text("谢谢您参加"))


EXPECTED = {
    "aware": "some", "sat_welfare": 4, "sat_safety": 3, "sat_emergency": 5, "needs": ["elderly", "health"],
    "missing": "yes", "missing_what": "村里的路灯坏了没人管", "suggest": "希望多开几个便民窗口", "age": "a60_74",
}


async def test_resident_completes_default_questionnaire_from_deep_link_and_db_holds_exactly_the_answers(
        e2e: E2E) -> None:
    async with e2e.user(3101, "张大爷") as user:
        live = await begin(e2e, user)
        live = await answer_first_three(user, live)
        summary = await answer_rest_from_question_4(user, live)
        assert "村里的路灯坏了没人管" in summary["text"] and has_button("修改")(summary)
        assert await e2e.answers(3101) == EXPECTED
        assert await completed_at(e2e.database.url, 3101) is not None


async def test_bot_killed_with_sigkill_mid_questionnaire_resumes_at_question_4_with_answers_intact(
        e2e: E2E) -> None:
    async with e2e.user(3102, "李阿姨") as user:
        live = await begin(e2e, user)
        live = await answer_first_three(user, live)
        assert await e2e.answers(3102) == {"aware": "some", "sat_welfare": 4, "sat_safety": 3}

        e2e.bot.kill()
        assert e2e.bot.proc is not None and e2e.bot.proc.returncode == -9
        await e2e.bot.start()

        before = len(await user.bot_messages())
        sent = await user.send("/start")
        resumed = await wait_bot_message(user, has_text("第 4/8 题"), after=sent["message_id"])
        assert len(await user.bot_messages()) == before + 1  # only the question, sent again as the live message
        assert await e2e.answers(3102) == {"aware": "some", "sat_welfare": 4, "sat_safety": 3}

        await answer_rest_from_question_4(user, resumed)
        assert await e2e.answers(3102) == EXPECTED
        assert await completed_at(e2e.database.url, 3102) is not None


async def test_resident_changes_an_answer_from_the_summary_and_db_reflects_it(e2e: E2E) -> None:
    async with e2e.user(3103, "王大哥") as user:
        live = await begin(e2e, user)
        live = await answer_first_three(user, live)
        summary = await answer_rest_from_question_4(user, live)
        assert (await e2e.answers(3103))["sat_safety"] == 3

        menu = await tap(user, summary, "修改", has_text("要修改哪一题"))
        question = await tap(user, menu, "3.", has_text("调解矛盾纠纷"))
        assert has_button("●3")(question)  # the current answer is marked
        back = await tap(user, question, "1", has_text("谢谢您参加"))
        assert back["message_id"] == summary["message_id"]

        assert await e2e.answers(3103) == {**EXPECTED, "sat_safety": 1}
        assert await completed_at(e2e.database.url, 3103) is not None
