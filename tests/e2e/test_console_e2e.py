"""The organizers' console and the cadre's side end to end (issue 5): the real bot
process (`python -m bot.cli run`) polls the sandbox Bot API over HTTP; an organizer
creates and opens a consultation from the chat (/new), invites a cadre (/invite);
the cadre redeems the link, finds an item (/find), comments on it, edits the comment
(/mycomments) and reports an off-list task (/report); the organizer answers the
comment (/comments), the cadre is told, and /export sends a workbook whose sheets
hold exactly those rows — on SQLite and on PostgreSQL. The database starts with only
the imported sample list."""

from __future__ import annotations

import asyncio
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.sandbox.client import SandboxUser
from storage.engine import make_engine
from storage.models import ProcessedUpdate
from tests.e2e.conftest import (
    BOT_USERNAME,
    E2E,
    ORGANIZER_ID,
    STEP_TIMEOUT,
    TOKEN,
    TOWNSHIP,
    Check,
    Message,
    has_button,
    has_text,
    wait_bot_message,
)

pytestmark = pytest.mark.slow


CADRE_ID = 7_365_104_829  # a Telegram-sized id: it must appear nowhere in the workbook
ITEM = "消防安全检查与火灾隐患整治"  # the only item of the sample list that /find 消防 hits
ITEM_BUTTON = "1. 消防安全检查"  # its button on /find (its name shortened to a phone's width there)
TITLE = "青山镇清单征询（组织者在聊天中创建）"
KIND = "依据缺失或有误"
FIRST_TEXT = "依据只写了《消防法》"
EDITED_TEXT = "依据只写了《消防法》，还应列明《浙江省消防条例》第十二条"
WORDING = "消防安全巡查、发现隐患及时报告"
REPLY = "已在依据中补充地方性法规，表述另行研究"
DEPARTMENT = "县住建局"
TASK = "自建房安全排查数据录入"
WHEN = "2026年11月"
METHOD = "文件"
DETAILS = "要求三天内完成，占用两名干部"
SHEETS = ["概况", "问卷结果", "事项评分", "文字意见", "意见", "遗漏事项", "清单外事项"]


def both(*checks: Check) -> Check:
    return lambda m: all(c(m) for c in checks)


async def wait_any_bot_message(user: SandboxUser, check: Check, *, after: int,
                               timeout: float = STEP_TIMEOUT) -> Message:  # noqa: ASYNC109
    """Some bot message newer than message `after` for which `check` holds (not
    necessarily the newest: the bot may have sent more after it)."""

    def find(msgs: list[Message]) -> Message | None:
        return next((m for m in msgs if m["from_bot"] and m["message_id"] > after and check(m)), None)

    msgs = await user.wait_for_messages(predicate=lambda ms: find(ms) is not None, timeout=timeout)
    found = find(msgs)
    assert found is not None
    return found


@dataclass
class Actor:
    """A simulated person in the chat, who acts again only once the bot has finished
    with their last update (see `settled`)."""

    user: SandboxUser
    e2e: E2E
    engine: AsyncEngine

    async def settled(self, timeout: float = STEP_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until every update the sandbox has handed the bot is committed (its
        processed_update mark is written in the same transaction as the handler's
        writes and FSM state). The bot sends its answer before that commit, so a reply
        typed at machine speed could otherwise arrive before the state it needs (see
        the race reported with this test); a person takes longer than this wait."""
        last = self.e2e.sandbox.sandbox.bot(TOKEN).next_update_id - 1
        deadline = time.monotonic() + timeout
        while True:
            async with self.engine.connect() as conn:
                done = await conn.scalar(sa.select(sa.func.max(ProcessedUpdate.update_id)))
            if done is not None and done >= last:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"update {last} not committed within {timeout}s (done: {done}):\n"
                                   f"{self.e2e.bot.log_tail()}")
            await asyncio.sleep(0.02)


async def say(a: Actor, text: str, then: Check) -> Message:
    """Send `text`, and wait for the bot's answer (a new message) for which `then` holds."""
    sent = await a.user.send(text)
    found = await wait_bot_message(a.user, then, after=sent["message_id"])
    await a.settled()
    return found


async def _press(a: Actor, message: Message, label: str) -> None:
    result = await a.user.press_button(message, label, wait=STEP_TIMEOUT)
    assert result["answered"], f"the bot did not answer the tap on {label!r}"
    assert not result.get("show_alert"), f"tap on {label!r} was refused: {result.get('text')}"


async def tap(a: Actor, message: Message, label: str, then: Check) -> Message:
    """Tap the button labelled `label` on `message`, and wait until the bot has put the
    next screen on that same message (edited in place)."""
    await _press(a, message, label)
    found = await wait_bot_message(a.user, then, message_id=message["message_id"])
    await a.settled()
    return found


async def tap_for_new(a: Actor, message: Message, label: str, then: Check) -> Message:
    """Tap the button labelled `label` on `message`; the bot answers with a new message."""
    before = max(m["message_id"] for m in await a.user.messages())
    await _press(a, message, label)
    found = await wait_any_bot_message(a.user, then, after=before)
    await a.settled()
    return found


# --- the organizer ----------------------------------------------------------------------------------


async def create_and_open(organizer: Actor) -> None:
    """/new: title → 青山镇 → 完成 → default questionnaire → deadline → 创建并开始征询."""
    await say(organizer, "/new", has_text("新建征询"))
    screen = await say(organizer, TITLE, both(has_text("请选择参加征询的乡镇"), has_button(f"☐ {TOWNSHIP}")))
    screen = await tap(organizer, screen, TOWNSHIP, both(has_button(f"☑ {TOWNSHIP}"), has_button("完成（已选 1 个）")))
    screen = await tap(organizer, screen, "完成", has_button("使用默认群众问卷"))
    await tap(organizer, screen, "使用默认群众问卷", has_text("请发送截止时间"))
    deadline = (datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%d 18:00")
    confirm = await say(organizer, deadline, has_button("创建并开始征询"))
    assert TITLE in confirm["text"] and TOWNSHIP in confirm["text"] and deadline in confirm["text"]
    before = confirm["message_id"]
    await tap(organizer, confirm, "创建并开始征询", has_text("已创建并开始征询"))
    qr = await wait_any_bot_message(organizer.user, lambda m: m.get("photo") is not None, after=before)
    assert f"https://t.me/{BOT_USERNAME}?start=" in qr["caption"] and TOWNSHIP in qr["caption"]


async def invite_one_cadre(organizer: Actor) -> str:
    """/invite → 青山镇 → 1: the invite code, from the link in the message text."""
    screen = await say(organizer, "/invite", both(has_text("邀请哪个乡镇的干部"), has_button(TOWNSHIP)))
    screen = await tap(organizer, screen, TOWNSHIP, both(has_text("要生成几个邀请链接"), has_button("20")))
    done = await tap(organizer, screen, "1", has_text("生成 1 个干部邀请链接"))
    links = re.findall(rf"https://t\.me/{BOT_USERNAME}\?start=inv_([A-Za-z0-9_-]+)", done["text"])
    assert len(links) == 1, done["text"]
    return links[0]


async def answer_the_comment(organizer: Actor) -> None:
    """/comments → 部分采纳 → the reply."""
    card = await say(organizer, "/comments", both(has_text("意见 1/1"), has_button("部分采纳")))
    assert EDITED_TEXT in card["text"] and WORDING in card["text"] and KIND in card["text"]
    assert "尚未答复" in card["text"]
    ask = await tap_for_new(organizer, card, "部分采纳", has_text("处理结果：部分采纳。请发送理由"))
    # the answer is stored; then the unanswered comments again: none left
    left = await say(organizer, REPLY, both(has_text("1 条意见都已答复"), has_button("全部")))
    assert any("已保存：部分采纳，并已通知提意见的干部" in (m["text"] or "")
               for m in await organizer.user.bot_messages() if ask["message_id"] < m["message_id"] < left["message_id"])
    answered = await tap(organizer, left, "全部", has_text("意见 1/1"))
    assert f"答复：{REPLY}" in answered["text"] and "部分采纳" in answered["text"]


async def export_workbook(organizer: Actor) -> openpyxl.Workbook:
    sent = await organizer.user.send("/export")
    doc = await wait_bot_message(organizer.user, lambda m: m.get("document") is not None, after=sent["message_id"],
                                 timeout=STEP_TIMEOUT * 3)
    assert doc["document"]["file_name"].endswith(".xlsx")
    content = await organizer.user.download(doc["document"]["url"])
    return openpyxl.load_workbook(io.BytesIO(content), read_only=False)


# --- the cadre ----------------------------------------------------------------------------------------


async def comment_and_edit(cadre: Actor) -> None:
    """/find 消防 → the card → 提意见 → kind → text → proposed wording; /mycomments → 修改 → new text."""
    hits = await say(cadre, "/find 消防", both(has_text("含有“消防”的事项共 1 项"), has_button(ITEM_BUTTON)))
    card = await tap(cadre, hits, ITEM_BUTTON, both(has_text("所属部分：配合履职事项"), has_button("✍️ 提意见")))
    assert ITEM in card["text"] and "配合履职事项" in card["text"]
    kinds = await tap(cadre, card, "✍️ 提意见", both(has_text("请选择意见类型"), has_button(KIND)))
    await tap(cadre, kinds, KIND, has_text("请直接输入您的意见"))
    await say(cadre, FIRST_TEXT, both(has_text(f"已保存您对“{ITEM}”的意见"), has_button("跳过")))
    await say(cadre, WORDING, has_text("已保存建议的表述"))

    mine = await say(cadre, "/mycomments", both(has_text("共 1 条"), has_button("修改 #")))
    assert f"[待答复] {KIND}" in mine["text"] and FIRST_TEXT in mine["text"] and WORDING in mine["text"]
    await tap(cadre, mine, "修改 #", has_text("原来的内容"))
    await say(cadre, EDITED_TEXT, has_text("已修改"))
    mine = await say(cadre, "/mycomments", has_text("共 1 条"))
    assert EDITED_TEXT in mine["text"]


async def report_off_list(cadre: Actor) -> None:
    """/report: department → task → when → method (button) → details."""
    await say(cadre, "/report", has_text("第 1/5 步"))
    await say(cadre, DEPARTMENT, has_text("第 2/5 步"))
    await say(cadre, TASK, has_text("第 3/5 步"))
    methods = await say(cadre, WHEN, both(has_text("第 4/5 步"), has_button(METHOD)))
    await tap(cadre, methods, METHOD, has_text("第 5/5 步"))
    saved = await say(cadre, DETAILS, has_text("已收到您的报告"))
    assert DEPARTMENT in saved["text"] and TASK in saved["text"] and METHOD in saved["text"]


# --- the workbook -------------------------------------------------------------------------------------


def data_rows(ws: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The header, and each non-empty row below it as header → value."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows, f"sheet {ws.title} is empty, not even a header"
    header = [str(h) if h is not None else "" for h in rows[0]]
    body = [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v not in (None, "") for v in r)]
    return header, body


def all_cells(wb: openpyxl.Workbook) -> list[Any]:
    return [v for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]


PSEUDONYM = re.compile(r"^R-[A-Z2-7]{10}$")


def check_workbook(wb: openpyxl.Workbook) -> None:
    assert wb.sheetnames == SHEETS

    _, comments = data_rows(wb["意见"])
    assert len(comments) == 1, comments
    [c] = comments
    assert c["乡镇（街道）"] == TOWNSHIP and c["事项名称"] == ITEM and c["所属部分"] == "配合履职事项"
    assert c["意见内容"] == EDITED_TEXT and c["建议表述"] == WORDING
    assert c["意见类型"] == KIND and c["处理结果"] == "部分采纳" and c["答复"] == REPLY
    assert c["答复时间"] and c["提出时间"]
    assert PSEUDONYM.match(str(c["提出人（化名）"])), c

    header, missing = data_rows(wb["遗漏事项"])
    assert "建议增加的事项" in header and missing == []

    _, offlist = data_rows(wb["清单外事项"])
    assert len(offlist) == 1, offlist
    [o] = offlist
    assert o["乡镇（街道）"] == TOWNSHIP and o["相关部门"] == DEPARTMENT and o["交办事项"] == TASK
    assert o["交办时间"] == WHEN and o["交办方式"] == METHOD and o["情况说明"] == DETAILS
    assert o["提出人（化名）"] == c["提出人（化名）"]  # the same cadre, the same pseudonym

    cells = all_cells(wb)
    assert not [v for v in cells if str(CADRE_ID) in str(v)], "the cadre's Telegram id is in the workbook"
    assert not [v for v in cells if str(v) == str(ORGANIZER_ID)], "the organizer's Telegram id is in the workbook"


# --- the scenario -----------------------------------------------------------------------------------------


async def test_organizer_creates_invites_answers_and_exports_what_the_cadre_wrote(e2e_list_only: E2E) -> None:
    e2e = e2e_list_only
    engine = make_engine(e2e.database.url)
    try:
        async with e2e.user(ORGANIZER_ID, "编办") as o, e2e.user(CADRE_ID, "王干部") as c:
            organizer, cadre = Actor(o, e2e, engine), Actor(c, e2e, engine)
            await create_and_open(organizer)
            code = await invite_one_cadre(organizer)

            await say(cadre, f"/start inv_{code}", has_text(f"您已确认为{TOWNSHIP}的干部"))
            await comment_and_edit(cadre)
            await report_off_list(cadre)

            last_cadre = max(m["message_id"] for m in await c.messages())
            await answer_the_comment(organizer)
            told = await wait_any_bot_message(c, has_text(REPLY), after=last_cadre, timeout=STEP_TIMEOUT * 2)
            assert f"您对“{ITEM}”提的意见已答复：部分采纳" in told["text"] and EDITED_TEXT in told["text"]

            check_workbook(await export_workbook(organizer))
    finally:
        await engine.dispose()
