"""Deep links in the web chat (headless Chromium): a tap on a link to the sandbox's own
bot — `https://t.me/<bot>?start=X` as an HTML link, as a bare URL in plain text, as a
URL button, or `tg://resolve?domain=<bot>&start=X` — asks who opens it, and sends
`/start X` as the current user, a new one or another one instead of leaving the page;
a link to another bot stays an ordinary link."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.sandbox.server import running_sandbox
from tests.sandbox.conftest import TOKEN, make_bot
from tests.sandbox.test_browser import ARGS, require_chromium

pytestmark = pytest.mark.browser

BOT = "qingdan_demo_bot"


def link_bot() -> Router:
    router = Router()

    @router.message(CommandStart(deep_link=True))
    async def with_payload(message: Message, command: CommandObject) -> None:
        await message.answer(f"收到参数：{command.args}")

    @router.message(CommandStart())
    async def plain(message: Message) -> None:
        kb = InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(text="按钮链接", url=f"https://t.me/{BOT}?start=btn77")],
            [InlineKeyboardButton(text="别的机器人", url="https://t.me/other_bot?start=zzz")],
        ])
        await message.answer(
            f'请<a href="https://t.me/{BOT.upper()}?start=html123">点这里参加</a>，'
            f"或打开 https://t.me/{BOT}?start=plain42 。\n"
            f'也可以<a href="tg://resolve?domain={BOT}&amp;start=tg5">用客户端打开</a>；'
            f'<a href="https://t.me/other_bot?start=zzz">别的机器人</a>',
            parse_mode="HTML", reply_markup=kb)

    return router


async def test_tapping_a_deep_link_to_this_bot_sends_start_with_its_parameter() -> None:
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], bot_username=BOT) as sb:
        bot = make_bot(sb.base_url)
        dp = Dispatcher()
        dp.include_router(link_bot())
        polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        try:
            async with async_playwright() as pw, asyncio.timeout(60):
                browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    context = await browser.new_context(viewport={"width": 900, "height": 760})
                    page = await context.new_page()
                    home = f"{sb.base_url}/?token={TOKEN}"
                    await page.goto(home)
                    await page.click('#user-list button[data-id="3001"]')
                    await page.fill("#input", "/start")
                    await page.click("#send")
                    links = page.locator(".msg.bot", has_text="点这里参加")
                    await links.wait_for(timeout=10000)

                    async def tap_and_expect(target, payload: str) -> None:
                        await target.click()
                        await page.click('#link-menu button[data-as="current"]')  # (the tap asks who opens it)
                        await page.locator(".msg.user", has_text=f"/start {payload}").wait_for(timeout=10000)
                        await page.locator(".msg.bot", has_text=f"收到参数：{payload}").wait_for(timeout=10000)

                    await tap_and_expect(links.locator("a", has_text="点这里参加"), "html123")  # username case differs
                    await tap_and_expect(links.locator("a", has_text=f"t.me/{BOT}?start=plain42"), "plain42")
                    # the sentence's punctuation is not part of the bare link
                    assert await links.locator("a", has_text="plain42").get_attribute("data-start") == "plain42"
                    await tap_and_expect(links.locator("a", has_text="用客户端打开"), "tg5")
                    await tap_and_expect(links.locator(".inline-kb a", has_text="按钮链接"), "btn77")

                    for other in (links.locator(".text a", has_text="别的机器人"),
                                  links.locator(".inline-kb a", has_text="别的机器人")):
                        assert await other.get_attribute("href") == "https://t.me/other_bot?start=zzz"
                        assert await other.get_attribute("target") == "_blank"
                        assert await other.get_attribute("data-start") is None
                    assert page.url == home and len(context.pages) == 1  # nothing navigated away
                    assert await page.locator(".msg.user", has_text="/start").count() == 5
                finally:
                    await browser.close()
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, 10)


async def test_a_deep_link_can_be_opened_as_a_new_user_from_the_tap() -> None:
    """To try an invite or a resident link as someone new, one had to copy it, make or switch
    to another user and paste it — and the page did not say so. A tap on a deep link now offers
    "open as a new user": a new user is made, shown, and sends /start X; the one who tapped
    sends nothing. Another listed user can open it too."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with running_sandbox(tokens=[TOKEN], bot_username=BOT, presets=[
            {"id": 1001, "first_name": "王主任", "role": "organizer"},
            {"id": 2001, "first_name": "李干部", "role": "cadre"}]) as sb:
        bot = make_bot(sb.base_url)
        dp = Dispatcher()
        dp.include_router(link_bot())
        polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        try:
            async with async_playwright() as pw, asyncio.timeout(60):
                browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 900, "height": 760})
                    await page.goto(f"{sb.base_url}/?token={TOKEN}")
                    await page.click('#user-list button[data-id="1001"]')
                    await page.fill("#input", "/start")
                    await page.click("#send")
                    links = page.locator(".msg.bot", has_text="点这里参加")
                    await links.wait_for(timeout=10000)
                    await links.locator("a", has_text="点这里参加").click()
                    menu = page.locator("#link-menu")
                    await menu.wait_for(state="visible")
                    assert "/start html123" in await menu.inner_text()
                    assert "以新用户打开" in await menu.inner_text() and "谁点链接就是谁打开" in await menu.inner_text()
                    await menu.locator('button[data-as="new"]').click()
                    await page.locator("#user-list button.active", has_text="新用户 5001").wait_for(timeout=10000)
                    await page.locator(".msg.bot", has_text="收到参数：html123").wait_for(timeout=10000)
                    assert await menu.is_hidden()
                    await page.click('#user-list button[data-id="1001"]')
                    await links.wait_for(timeout=10000)
                    await page.locator(".msg.user", has_text="/start").first.wait_for()
                    assert await page.locator(".msg.user", has_text="html123").count() == 0
                    await links.locator(".inline-kb a", has_text="按钮链接").click()
                    await menu.locator('button[data-as="user-2001"]').click()
                    await page.locator("#user-list button.active", has_text="李干部").wait_for(timeout=10000)
                    await page.locator(".msg.bot", has_text="收到参数：btn77").wait_for(timeout=10000)
                finally:
                    await browser.close()
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, 10)
    chats = {uid: [m["text"] for m in sb.sandbox.chat_messages(TOKEN, uid) if not m["from_bot"]]
             for uid in (1001, 2001, 5001)}
    assert chats == {1001: ["/start"], 2001: ["/start btn77"], 5001: ["/start html123"]}
    assert sb.sandbox.bot(TOKEN).chats[5001].user["first_name"] == "新用户 5001"
