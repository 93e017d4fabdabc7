"""The web chat in a real (headless) Chromium: send /start to a tiny aiogram bot
running against the sandbox, tap an inline button, see the message edited; and the
README's screenshot, taken of the real bot on demo data (SANDBOX_UPDATE_SCREENSHOT=1
writes it to bot/sandbox/static/screenshot.png)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.sandbox.conftest import TOKEN, make_bot
from tests.sandbox.test_aiogram_methods import tiny_png

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
README_SHOT = Path(__file__).resolve().parents[2] / "bot" / "sandbox" / "static" / "screenshot.png"


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed at /usr/bin/chromium; CI must provide it")
        pytest.skip("chromium is not installed (apt-get install chromium) — browser test skipped")
    return CHROMIUM


@contextlib.asynccontextmanager
async def chat_page(router: Router | None = None, user: int = 3001) -> AsyncIterator[tuple[Any, Bot, Page]]:
    """The sandbox, a bot on it (polling with `router`, if given), and the web chat open in
    headless Chromium as `user`: (the sandbox, the bot, the page)."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], bot_username="qingdan_demo_bot") as sb:
        bot = make_bot(sb.base_url)
        dp = Dispatcher()
        polling = None
        if router is not None:
            dp.include_router(router)
            polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        try:
            async with async_playwright() as pw, asyncio.timeout(60):
                browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 900, "height": 760})
                    await page.goto(f"{sb.base_url}/?token={TOKEN}")
                    await page.click(f'#user-list button[data-id="{user}"]')
                    yield sb, bot, page
                finally:
                    await browser.close()
        finally:
            if polling is not None:
                await dp.stop_polling()
            await bot.session.close()
            if polling is not None:
                await asyncio.wait_for(polling, 10)


def button_bot() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, bot: Bot) -> None:
        await bot.set_my_commands([BotCommand(command="start", description="开始征询")])
        await message.answer_photo(BufferedInputFile(tiny_png(24, 12), filename="chart.png"), caption="图表")
        kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="同意", callback_data="yes"),
                                                    InlineKeyboardButton(text="不同意", callback_data="no")]])
        await message.answer("请对第 <b>1</b> 项职责表态：\n<i>道路巡查</i>", parse_mode="HTML", reply_markup=kb)

    @router.callback_query(F.data.in_({"yes", "no"}))
    async def vote(query: CallbackQuery) -> None:
        word = "同意" if query.data == "yes" else "不同意"
        await query.message.edit_text(f"已记录：<b>{word}</b> ✅", parse_mode="HTML")
        await query.answer("谢谢！")
        await query.message.answer("还有意见吗？", reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="没有了"), KeyboardButton(text="/start")]], resize_keyboard=True))

    return router


async def test_web_chat_start_press_and_edit(tmp_path: Path) -> None:

    async with chat_page(button_bot()) as (_, _, page):
        await page.fill("#input", "/start")
        await page.click("#send")
        button = page.locator(".msg.bot .inline-kb button", has_text="同意").first
        await button.wait_for(timeout=10000)
        await page.locator(".msg.bot img").first.wait_for(timeout=10000)
        assert await page.locator(".msg.bot b", has_text="1").count() == 1
        await button.click()
        edited = page.locator(".msg.bot", has_text="已记录")
        await edited.wait_for(timeout=10000)
        assert await edited.locator("b").inner_text() == "同意"
        assert "已编辑" in await edited.inner_text()
        await page.locator("#reply-kb button", has_text="没有了").wait_for(timeout=10000)
        await page.locator("#toast", has_text="谢谢").wait_for(timeout=5000)
        await page.click("#lang-toggle")
        assert await page.locator("#send").inner_text() == "Send"
        assert "edited" in await edited.inner_text()


async def first_font(page: Page, selector: str) -> str:
    """The first family of the element's computed font-family."""
    family = await page.evaluate("(sel) => getComputedStyle(document.querySelector(sel)).fontFamily", selector)
    return family.split(",")[0].strip().strip('"')


async def test_readme_screenshot_resident_at_a_question_of_the_demo(tmp_path: Path, sqlite_database: Database) -> None:
    """The real bot (in-process, polling the sandbox) on the demo seed: a resident opens the deep
    link, starts, answers question 1 and sees question 2 with its buttons. Every label puts the
    CJK font first (after system-ui, Chromium kept the empty boxes it drew before the webfont had
    loaded), and the picture is taken once the fonts are ready."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    from bot.app import build_runtime, run_polling
    from bot.config import Settings
    from bot.demo import DEMO_BOT_USERNAME, DEMO_TOKEN, ORGANIZER_ID, PRESETS, RESIDENT_ID, seed

    settings = Settings(_env_file=None, database_url=sqlite_database.url, bot_token=DEMO_TOKEN,
                        bot_username=DEMO_BOT_USERNAME, organizer_ids=[ORGANIZER_ID])
    code = await seed(settings)
    async with running_sandbox(presets=PRESETS, tokens=[DEMO_TOKEN], bot_username=DEMO_BOT_USERNAME,
                               bot_first_name="清单征询") as sb:
        runtime = build_runtime(settings.model_copy(update={"telegram_api_url": sb.base_url}))
        polling = asyncio.create_task(run_polling(runtime, handle_signals=False))
        try:
            async with async_playwright() as pw, asyncio.timeout(60):
                browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 900, "height": 760})
                    await page.goto(f"{sb.base_url}/?token={DEMO_TOKEN}&user={RESIDENT_ID}")
                    await page.locator(f'#user-list button.active[data-id="{RESIDENT_ID}"]').wait_for(timeout=10000)
                    await page.fill("#input", f"/start {code}")
                    await page.click("#send")
                    start = page.locator(".msg.bot .inline-kb button", has_text="开始答题")
                    await start.wait_for(timeout=10000)
                    await start.click()
                    await page.locator(".msg.bot", has_text="第 1/8 题").wait_for(timeout=10000)
                    await page.locator(".msg.bot .inline-kb button", has_text="知道一些").click()
                    question = page.locator(".msg.bot", has_text="第 2/8 题")
                    await question.wait_for(timeout=10000)
                    assert await question.locator(".inline-kb button").count() >= 7  # 1–5, unsure, back, pause
                    await page.evaluate("document.fonts.ready.then(() => true)")
                    await page.wait_for_timeout(300)
                    shot = tmp_path / "web-chat.png"
                    await page.screenshot(path=str(shot))
                    assert shot.stat().st_size > 1000
                    if os.environ.get("SANDBOX_UPDATE_SCREENSHOT"):
                        shutil.copy(shot, README_SHOT)
                    assert await page.evaluate("document.fonts.check('15px \"Sandbox CJK\"', '清单征询')")
                    for selector in ("#side h1", "#side h2", "#send", "#input", "#new-user button",
                                     ".msg.bot .text b", ".msg.bot .inline-kb button"):
                        assert await first_font(page, selector) == "Sandbox CJK", selector
                finally:
                    await browser.close()
        finally:
            await runtime.dp.stop_polling()
            await asyncio.wait_for(polling, 10)


async def test_web_chat_keeps_a_documents_size_as_more_messages_come() -> None:
    """A document shows its size beside its name, and keeps it when later messages arrive
    (each new message used to remove the first ".hint" in the chat — the size of the first
    document — instead of only the "no messages yet" line)."""

    async with chat_page() as (_, bot, page):
        await page.locator("#messages .hint", has_text="还没有消息").wait_for(timeout=10000)
        await bot.send_document(3001, BufferedInputFile(b"x" * 2048, filename="结果.xlsx"))
        size = page.locator(".msg.bot .doc .hint")
        await size.wait_for(timeout=10000)
        assert await size.inner_text() == "2.0 KB"
        assert await page.locator("#messages > .hint").count() == 0  # "no messages yet" went
        await page.fill("#input", "谢谢")
        await page.click("#send")
        await bot.send_message(3001, "不客气")
        await page.locator(".msg.bot", has_text="不客气").wait_for(timeout=10000)
        assert await page.locator(".msg.user", has_text="谢谢").count() == 1
        assert await size.count() == 1 and await size.inner_text() == "2.0 KB"


async def test_web_chat_starts_in_the_language_the_sandbox_was_given() -> None:
    """`LOCALE=en qingdan demo` printed its banner in English and opened a Chinese page: the
    page now starts in the sandbox's language (the demo passes LOCALE), until the visitor
    picks one with the toggle (kept in the browser)."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], language="en") as sb, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 760})
            await page.goto(f"{sb.base_url}/?token={TOKEN}")
            await page.locator('#user-list button[data-id="3001"]').wait_for(timeout=10000)
            assert await page.locator("#send").inner_text() == "Send"
            assert await page.evaluate("document.documentElement.lang") == "en"
            await page.click("#lang-toggle")  # the visitor's choice wins from now on
            await page.reload()
            await page.locator('#user-list button[data-id="3001"]').wait_for(timeout=10000)
            assert await page.locator("#send").inner_text() == "发送"
        finally:
            await browser.close()
    from bot.sandbox.server import Sandbox

    assert Sandbox().language == "zh" and Sandbox(language="en_US").language == "en"


async def test_new_users_language_follows_the_page_and_no_request_fails() -> None:
    """An English page offered 中文 for a new user (and went back to it after each one made);
    the page asked for a /favicon.ico that was not there (a 404 in the console)."""
    executable = require_chromium()
    import aiohttp
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], language="en") as sb, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 760})
            failed: list[str] = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            await page.goto(f"{sb.base_url}/?token={TOKEN}")
            await page.locator('#user-list button[data-id="3001"]').wait_for(timeout=10000)
            assert await page.input_value("#new-lang") == "en"
            await page.fill("#new-id", "4242")
            await page.fill("#new-name", "Sam")
            await page.click("#new-user button[type=submit]")
            await page.locator('#user-list button[data-id="4242"]').wait_for(timeout=10000)
            assert await page.input_value("#new-lang") == "en"  # the form's reset keeps the page's language
            await page.click("#lang-toggle")
            assert await page.input_value("#new-lang") == "zh-hans"
            await page.wait_for_load_state("networkidle")
            assert failed == []
        finally:
            await browser.close()
        async with aiohttp.ClientSession() as http, http.get(f"{sb.base_url}/favicon.ico") as r:
            assert r.status in (200, 204)


async def test_a_user_edits_a_message_of_theirs_in_the_web_chat() -> None:
    """The bot follows a typed answer edited in Telegram, which the web chat could not do: a
    user's own message has an edit button (✎) that puts its text in the input; sending sends
    the edit (the bot gets an `edited_message`) and the message shows the new text, edited;
    ✕ leaves editing without a change."""

    router = Router()

    @router.edited_message(F.text)
    async def edited(message: Message) -> None:
        await message.answer(f"已按修改保存：{message.text}")

    @router.message(F.text)
    async def typed(message: Message) -> None:
        await message.answer(f"收到：{message.text}")

    async with chat_page(router) as (_, _, page):
        await page.fill("#input", "65")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="收到：65").wait_for(timeout=10000)
        assert await page.locator("#compose-context").is_hidden()
        assert await page.locator(".msg.bot .act.edit").count() == 0  # the bot's are not the user's
        mine = page.locator(".msg.user", has_text="65")
        await mine.locator(".act.edit").click()
        assert await page.input_value("#input") == "65"
        assert "65" in await page.locator("#compose-context").inner_text()
        await page.locator("#compose-context button").click()  # ✕: nothing changes
        assert await page.input_value("#input") == ""
        await mine.locator(".act.edit").click()
        await page.fill("#input", "六十五")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="已按修改保存：六十五").wait_for(timeout=10000)
        first = page.locator(".msg.user").first
        assert "六十五" in await first.inner_text() and "已编辑" in await first.inner_text()
        assert await page.locator(".msg.user").count() == 1  # an edit, not a new message
        assert await page.locator("#compose-context").is_hidden()


async def test_a_user_replies_to_a_message_in_the_web_chat() -> None:
    """A typed answer that replies to a question goes to that question's questionnaire (two
    consultations at once), but the web chat could not reply: every message has ↩ (reply);
    what is sent next replies to it (the bot gets reply_to_message), the sent message quotes
    it, and ✕ sends the next one as a plain message again."""

    router = Router()

    @router.message(F.text)
    async def typed(message: Message) -> None:
        replied = message.reply_to_message
        await message.answer(f"回复的是：{replied.text}" if replied is not None else f"没有回复：{message.text}")

    async with chat_page(router) as (_, bot, page):
        await page.locator("#messages .hint", has_text="还没有消息").wait_for(timeout=10000)
        await bot.send_message(3001, "问卷甲：您的年龄？")
        await bot.send_message(3001, "问卷乙：您的年龄？")
        first = page.locator(".msg.bot", has_text="问卷甲")
        await first.wait_for(timeout=10000)
        await page.locator(".msg.bot", has_text="问卷乙").wait_for(timeout=10000)
        await first.locator(".act.reply").click()
        assert "问卷甲" in await page.locator("#compose-context").inner_text()
        await page.fill("#input", "65")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="回复的是：问卷甲：您的年龄？").wait_for(timeout=10000)
        assert "问卷甲" in await page.locator(".msg.user .quote").inner_text()
        assert await page.locator("#compose-context").is_hidden()
        await page.locator(".msg.bot", has_text="问卷乙").locator(".act.reply").click()
        await page.locator("#compose-context button").click()  # ✕
        await page.fill("#input", "70")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="没有回复：70").wait_for(timeout=10000)


async def test_messages_to_the_users_not_on_screen_show_as_unread_beside_their_names() -> None:
    """With several users in the page, what the bot sent to another one (the organizer's
    answer reaching the cadre, a reminder to a resident) went unseen until one happened to open
    that chat: a user not on screen shows how many messages came since (as Telegram's chat list
    does), cleared once opened; a user who first wrote meanwhile (a test, another tab) is listed."""

    async with chat_page(user=1001) as (sb, bot, page):
        await page.locator("#messages .hint", has_text="还没有消息").wait_for(timeout=10000)
        sb.sandbox.register_user(TOKEN, 2001)
        await bot.send_message(2001, "您的意见已采纳")
        await bot.send_message(2001, "谢谢")
        await bot.send_message(1001, "给组织者")  # the chat on screen: no badge
        await page.locator(".msg.bot", has_text="给组织者").wait_for(timeout=10000)
        badge = page.locator('#user-list button[data-id="2001"] .unread')
        await badge.wait_for(timeout=10000)
        assert await badge.inner_text() == "2"
        assert await page.locator('#user-list button[data-id="1001"] .unread').count() == 0
        sb.sandbox.user_send(TOKEN, 5005, "你好")  # someone new writes
        await page.locator('#user-list button[data-id="5005"]').wait_for(timeout=10000)
        await page.click('#user-list button[data-id="2001"]')
        await page.locator(".msg.bot", has_text="您的意见已采纳").wait_for(timeout=10000)
        assert await badge.count() == 0


async def test_the_attach_button_says_the_typed_text_goes_with_the_file_as_its_caption(tmp_path: Path) -> None:
    """An organizer names a draft's version in the file's caption (版本：2026修订稿), but the web
    chat's 📎 said only 发送文件: nothing told that what is typed in the input goes with the file as
    its caption (Telegram asks for one when a file is attached). Its hint says so, and it does."""

    router = Router()

    @router.message(F.document)
    async def got(message: Message) -> None:
        await message.answer(f"文件 {message.document.file_name}，说明：{message.caption}")

    draft = tmp_path / "清单.csv"
    draft.write_text("部分,事项\n基本,道路巡查\n", encoding="utf-8")
    async with chat_page(router, user=1001) as (_, _, page):
        assert "文件说明" in await page.get_attribute("#attach-btn", "title")
        await page.fill("#input", "版本：2026修订稿")
        await page.set_input_files("#file-input", str(draft))
        await page.locator(".msg.bot", has_text="文件 清单.csv，说明：版本：2026修订稿").wait_for(timeout=10000)
        assert await page.input_value("#input") == ""
        await page.click("#lang-toggle")
        assert "caption" in await page.get_attribute("#attach-btn", "title")


async def test_a_user_blocks_and_unblocks_the_bot_from_the_web_chat() -> None:
    """Announcements skip a resident who blocked the bot until they unblock it, but the web chat
    had no way to block it (only the HTTP endpoint): the chat's header has 屏蔽机器人, which tells
    the bot (my_chat_member: kicked) and says the bot is blocked; 解除屏蔽 — or writing to the bot,
    as in Telegram — unblocks it."""
    from aiogram.types import ChatMemberUpdated

    seen: asyncio.Queue[str] = asyncio.Queue()
    router = Router()

    @router.my_chat_member()
    async def member(update: ChatMemberUpdated) -> None:
        seen.put_nowait(update.new_chat_member.status)

    @router.message(F.text)
    async def typed(message: Message) -> None:
        await message.answer(f"收到：{message.text}")

    async with chat_page(router) as (sb, _, page):
        toggle = page.locator("#block-btn")
        await toggle.wait_for(timeout=10000)
        assert await toggle.inner_text() == "屏蔽机器人"
        await toggle.click()
        await page.locator("#block-btn", has_text="解除屏蔽").wait_for(timeout=10000)
        assert "已屏蔽机器人" in await page.locator("#chat-status").inner_text()
        assert await seen.get() == "kicked" and sb.sandbox.bots[TOKEN].chats[3001].blocked
        await page.locator("#block-btn").click()
        await page.locator("#block-btn", has_text="屏蔽机器人").wait_for(timeout=10000)
        assert await seen.get() == "member"
        assert "已屏蔽" not in await page.locator("#chat-status").inner_text()
        await page.locator("#block-btn").click()  # blocked again; writing unblocks it
        await page.locator("#block-btn", has_text="解除屏蔽").wait_for(timeout=10000)
        await page.fill("#input", "你好")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="收到：你好").wait_for(timeout=10000)
        assert await toggle.inner_text() == "屏蔽机器人"


async def test_the_web_chat_fits_a_phone_width_window() -> None:
    """On a phone-width window (390 px) the 420 px phone frame overflowed it sideways, and the
    chat sat below a screenful of user list: the page now fits the width, and picking a user
    brings the whole chat — its messages and its input — onto the screen."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], bot_username="qingdan_demo_bot") as sb:
        async with async_playwright() as pw, asyncio.timeout(60):
            browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 800})
                await page.goto(f"{sb.base_url}/?token={TOKEN}")
                await page.click('#user-list button[data-id="3001"]')
                await page.fill("#input", "你好")
                await page.click("#send")
                await page.locator(".msg.user", has_text="你好").wait_for(timeout=10000)
                widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert widths[0] <= widths[1], widths
                for part in ("#chat-header", "#messages", "#input", "#send"):
                    box = await page.locator(part).bounding_box()
                    assert box is not None
                    top = box["y"]  # (relative to the viewport)
                    assert 0 <= top and top + box["height"] <= 800 and box["x"] + box["width"] <= 390, (part, box)
            finally:
                await browser.close()


async def test_a_photo_the_bot_sent_can_be_saved_from_the_page() -> None:
    """A photo (the QR code of a township's link, to print) showed in the web chat with no way
    to save it but the browser's own context menu, and nameless; it now has 下载 (Download),
    which saves it under the name the bot sent it with, and a tap opens it full size."""
    async with chat_page(button_bot()) as (_, _, page):
        await page.fill("#input", "/start")
        await page.click("#send")
        photo = page.locator(".msg.bot", has_text="图表")
        await photo.locator("img").wait_for(timeout=10000)
        save = photo.locator("a.save")
        assert "下载" in await save.inner_text()
        async with page.expect_download() as info:
            await save.click()
        download = await info.value
        assert download.suggested_filename == "chart.png"
        saved = await download.path()
        assert await asyncio.to_thread(Path(saved).read_bytes) == tiny_png(24, 12)
        assert await photo.locator("a:has(img)").get_attribute("target") == "_blank"


async def test_a_user_made_in_the_page_keeps_their_name_across_a_sandbox_restart() -> None:
    """A user made in the web chat came back after a restart of the demo as "User 6001": the
    restarted sandbox starts empty, the open page's chat stream made them anew without a name,
    and the bot was told that name. The page now gives the name back to the sandbox as the
    stream comes back, and a reloaded page lists them again under their name."""
    import socket

    executable = require_chromium()
    from playwright.async_api import async_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with async_playwright() as pw, asyncio.timeout(90):
        browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 760})
            async with running_sandbox(port=port, tokens=[TOKEN], bot_username="qingdan_demo_bot") as first:
                await page.goto(f"{first.base_url}/?token={TOKEN}")
                await page.fill("#new-id", "6001")
                await page.fill("#new-name", "钱干部")
                await page.click("#new-user button[type=submit]")
                await page.locator("#user-list button.active", has_text="钱干部").wait_for(timeout=10000)
            async with running_sandbox(port=port, tokens=[TOKEN], bot_username="qingdan_demo_bot") as again:
                chats = again.sandbox.bot(TOKEN).chats
                for _ in range(150):  # (the page's stream reconnects within seconds)
                    if 6001 in chats and chats[6001].user["first_name"] == "钱干部":
                        break
                    await asyncio.sleep(0.2)
                await page.fill("#input", "你好")
                await page.click("#send")
                await page.locator(".msg.user", has_text="你好").wait_for(timeout=10000)
                assert chats[6001].user["first_name"] == "钱干部"
            async with running_sandbox(port=port, tokens=[TOKEN], bot_username="qingdan_demo_bot") as third:
                await page.reload()
                await page.locator('#user-list button[data-id="6001"]', has_text="钱干部").click()
                await page.locator("#chat-title", has_text="qingdan_demo_bot").wait_for(timeout=10000)
                chats = third.sandbox.bot(TOKEN).chats
                for _ in range(50):
                    if 6001 in chats:
                        break
                    await asyncio.sleep(0.2)
                assert chats[6001].user["first_name"] == "钱干部"
        finally:
            await browser.close()


async def test_the_chat_stays_at_the_newest_message_when_a_photo_loads() -> None:
    """After /links the QR code loaded once the chat had scrolled to the bottom, and pushed the
    township's text and link below the fold: an image now takes its size before it loads."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        for n in range(8):  # (enough for the chat to scroll)
            await message.answer(f"第 {n + 1} 条\n" + "说明文字。" * 20)
        await message.answer_photo(BufferedInputFile(tiny_png(328, 328), filename="qr.png"), caption="二维码")
        await message.answer("最后一条：链接在这里")

    async with chat_page(router) as (_, _, page):
        await page.fill("#input", "/start")
        await page.click("#send")
        await page.locator(".msg.bot", has_text="最后一条").wait_for(timeout=10000)
        await page.wait_for_function("[...document.querySelectorAll('.msg img')].every((i) => i.complete)")
        await page.wait_for_timeout(300)
        gap = await page.evaluate("(() => { const b = document.querySelector('#messages');"
                                  " return b.scrollHeight - b.scrollTop - b.clientHeight; })()")
        assert gap <= 2, f"the newest message is {gap}px below the bottom of the chat"


async def test_a_message_of_several_lines_is_typed_with_shift_enter() -> None:
    """The web chat's one-line input could not send what a Telegram user sends every day: an
    announcement or a comment of several lines. Shift+Enter now starts a new line, Enter sends."""
    async with chat_page() as (sb, _, page):
        await page.click("#input")
        await page.keyboard.type("第一行")
        await page.keyboard.press("Shift+Enter")
        await page.keyboard.type("第二行")
        await page.keyboard.press("Enter")
        await page.locator(".msg.user", has_text="第二行").wait_for(timeout=10000)
        assert [m["text"] for m in sb.sandbox.chat_messages(TOKEN, 3001)] == ["第一行\n第二行"]
        assert await page.input_value("#input") == ""


async def test_a_chat_at_its_newest_message_stays_there_when_the_question_is_edited_taller() -> None:
    """A resident's next question is the same message edited in place: when it came taller
    (more answer buttons), its lower buttons were left below the bottom of the chat, out of
    sight on a phone; a chat that was at its newest message now stays there."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        for n in range(8):
            await message.answer(f"第 {n + 1} 条\\n" + "说明文字。" * 20)
        await message.answer("第 1 题", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="下一题", callback_data="next")]]))

    @router.callback_query(F.data == "next")
    async def next_question(query: CallbackQuery) -> None:
        await query.message.edit_text("第 2 题\\n" + "题目说明。" * 30, reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=f"选项 {n}", callback_data=f"o{n}")] for n in range(9)]))
        await query.answer()

    async with chat_page(router) as (_, _, page):
        await page.fill("#input", "/start")
        await page.click("#send")
        await page.locator(".msg.bot .inline-kb button", has_text="下一题").click(timeout=10000)
        await page.locator(".msg.bot .inline-kb button", has_text="选项 8").wait_for(timeout=10000)
        await page.wait_for_timeout(300)
        gap = await page.evaluate("(() => { const b = document.querySelector('#messages');"
                                  " return b.scrollHeight - b.scrollTop - b.clientHeight; })()")
        assert gap <= 2, f"the edited question's last buttons are {gap}px below the bottom of the chat"


async def test_the_attach_button_is_drawn_by_the_page_not_an_emoji_font() -> None:
    """The only way to send a draft list from the page, the 📎 button, was an emoji: on a
    machine without an emoji font (a plain Debian with chromium) it showed as an empty box a
    newcomer could not tell for a button. Its paperclip is now drawn by the page itself."""
    async with chat_page() as (_, _, page):
        icon = page.locator("#attach-btn svg")
        box = await icon.bounding_box()
        assert box is not None and box["width"] >= 16 and box["height"] >= 16
        assert "📎" not in await page.locator("#attach-btn").inner_text()


async def test_a_documents_icon_is_drawn_by_the_page_not_an_emoji_font() -> None:
    """A document (the results workbook) was named after a 📄 emoji, an empty box on a machine
    without an emoji font; its icon is now drawn by the page, and replying to it quotes its name."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer_document(BufferedInputFile(b"a,b\n", filename="征询1结果汇总.csv"))

    async with chat_page(router) as (_, _, page):
        await page.fill("#input", "/start")
        await page.click("#send")
        link = page.locator(".msg.bot .doc a")
        await link.wait_for(timeout=10000)
        assert (await link.inner_text()).strip() == "征询1结果汇总.csv"
        box = await link.locator("svg").bounding_box()
        assert box is not None and box["width"] >= 12
        await page.locator(".msg.bot .act.reply").click()
        quoted = await page.locator("#compose-context .what").inner_text()
        assert "征询1结果汇总.csv" in quoted and "📄" not in quoted
