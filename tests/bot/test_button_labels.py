"""Button labels fit a phone: Telegram shows a single inline button in about 28
half-width characters (a Chinese character or an emoji counts two) and cuts the rest
with an ellipsis; buttons sharing a row share its width. Checked on the keyboards whose
labels are the bot's own texts, in both languages, and where the bot shortens a title, a
question or an item name to fit (bot.limits.fit_width, whose width these tests use)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.limits import BUTTON_WIDTH, fit_width, width
from bot.testing import buttons
from storage import comments as comments_repo
from storage.consultations import set_status
from storage.models import Consultation, Person, Township
from surveys.consultation import Status
from tests.bot.conftest import ITEMS, ORGANIZER, open_consultation

CADRE = 7301
RESIDENT = 7302
ROW = {1: BUTTON_WIDTH, 2: 14, 3: 10, 4: 7}  # half-width characters a label has, by buttons in its row


def too_wide(markup) -> list[str]:
    return [button.text for row in (markup.inline_keyboard if markup else []) for button in row
            if width(button.text) > ROW[min(len(row), 4)]]


def _press(markup, label: str) -> str:
    return next(data for text, data in buttons(markup) if label in text)


async def _cadre(h) -> int:
    """A cadre of 青山镇: its township's id."""
    async with h.sessions() as s:
        township = await s.scalar(sa.select(Township.id).where(Township.name == "青山镇"))
        s.add(Person(id=CADRE, first_name="干部", role="cadre", township_id=township))
        await s.commit()
        return township


async def test_the_three_parts_and_the_missing_items_parts_fit_in_both_languages(harness):
    h = harness
    await open_consultation(h)
    await _cadre(h)
    for language in ("zh-hans", "en"):
        u = h.user(CADRE, language_code=language)
        await h.feed(u.message("/list"))
        parts = h.api.last(CADRE)
        assert len(buttons(parts.reply_markup)) == 4 and too_wide(parts.reply_markup) == [], language
        await h.feed(u.message("/missing"))
        await h.feed(u.message("河道巡查"))
        ask_part = h.api.last(CADRE)
        assert len(buttons(ask_part.reply_markup)) == 3 and too_wide(ask_part.reply_markup) == [], language
        await h.feed(u.message("/cancel"))


async def test_a_comment_cards_decisions_and_filters_fit_in_both_languages(harness):
    h = harness
    cid, _ = await open_consultation(h)
    township = await _cadre(h)
    async with h.sessions() as s:
        item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
        for _ in range(2):  # (two: the card has its ‹ › and 同一事项 row)
            await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                            township_id=township, kind="to_cooperating", text="应由县里牵头",
                                            now=h.clock.now)
        await s.commit()
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/comments"))
        card = h.api.last(ORGANIZER)
        assert len(buttons(card.reply_markup)) == 3 + 1 + 2 + 2 + 7
        assert too_wide(card.reply_markup) == [], language


async def test_the_announcement_send_button_fits_beside_cancel(harness):
    h = harness
    _, code = await open_consultation(h)
    r = h.user(RESIDENT)
    await h.feed(r.message(f"/start {code}"))
    welcome = h.api.last(RESIDENT)
    await h.feed(r.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/announce"))
        await h.feed(o.message("还有三天截止。"))
        preview = h.api.last(ORGANIZER)
        assert len(buttons(preview.reply_markup)) == 2 and too_wide(preview.reply_markup) == [], language
        await h.feed(o.message("/cancel"))


async def test_the_deadline_and_reopen_buttons_fit_in_both_languages(harness):
    h = harness
    cid, _ = await open_consultation(h)
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message(f"/deadline {cid} 2026-12-20 18:00"))
        confirm = h.api.last(ORGANIZER)
        assert len(buttons(confirm.reply_markup)) == 3 and too_wide(confirm.reply_markup) == [], language
        await h.feed(o.message("/cancel"))
    h.clock.advance(days=10, minutes=5)  # closed at its deadline: /deadline now reopens it
    async with h.sessions() as s:
        c = await s.get(Consultation, cid)
        await set_status(s, c, Status.CLOSED, h.clock.now)
        c.closed_at = c.closes_at
        await s.commit()
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message(f"/deadline {cid} 2026-12-30 18:00"))
        confirm = h.api.last(ORGANIZER)
        assert len(buttons(confirm.reply_markup)) == 3 and too_wide(confirm.reply_markup) == [], language
        await h.feed(o.message("/cancel"))


async def test_the_default_questionnaire_button_fits(harness):
    h = harness
    from storage.lists import save_list

    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS)
        await s.commit()
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/new"))
        await h.feed(o.message("标题"))
        screen = h.api.last(ORGANIZER)
        await h.feed(o.press(screen.message_id, _press(screen.reply_markup, "青山镇")))
        done = "Done" if language == "en" else "完成"
        await h.feed(o.press(screen.message_id, _press(h.api.last(ORGANIZER).reply_markup, done)))
        ask = h.api.last(ORGANIZER)
        assert len(buttons(ask.reply_markup)) == 1 and too_wide(ask.reply_markup) == [], language
        await h.feed(o.message("/cancel"))


def test_the_default_questionnaires_options_fit_with_their_mark_in_both_languages():
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH, load_questionnaire

    q, problems = load_questionnaire(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))
    assert q is not None and not [p for p in problems if p.severity.value == "error"]
    options = [o.text.get(loc) for question in q.questions for o in question.options for loc in ("zh_CN", "en")]
    assert len(options) > 20
    # one option to a row, after "☑ " or "● " (see bot.routers.resident.render_question)
    assert [text for text in options if width("☑ " + text) > ROW[1]] == []


async def test_the_consultation_picker_keeps_the_status_of_a_long_chinese_title_on_the_button(harness):
    """Titles were cut at 40 characters whatever their width: 征询中 went off a phone's button."""
    h = harness
    from storage.consultations import create_consultation

    await open_consultation(h)
    async with h.sessions() as s:
        list_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_list")).limit(1))
        c = await create_consultation(s, title="关于征求青山镇履行职责事项清单（征求意见稿）意见的通知第二轮补充征询",
                                      questionnaire="x", closes_at=h.clock.now + timedelta(days=10), list_ids=[list_id])
        await set_status(s, c, Status.OPEN, h.clock.now)
        await s.commit()
    for language, status in (("zh-hans", "征询中"), ("en", "open")):
        await h.feed(h.user(ORGANIZER, language_code=language).message("/stats"))
        picker = h.api.last(ORGANIZER).reply_markup
        assert len(buttons(picker)) == 2 and too_wide(picker) == [], language
        assert all(text.endswith(status + ("）" if language == "zh-hans" else ")")) for text, _ in buttons(picker))


async def test_the_change_menu_labels_fit_in_both_languages(harness):
    """Question texts were cut at 28 characters, not by width: Telegram cut Chinese ones itself."""
    h = harness
    _, code = await open_consultation(h)
    for language, labels in (("zh-hans", ("知道一些", "3", "3", "3", "☐ 养老", "完成", "没有", "跳过", "跳过", "修改")),
                             ("en", ("know some", "3", "3", "3", "☐ Elderly", "Done", "No", "Skip", "Skip", "Change"))):
        u = h.user(RESIDENT, language_code=language)
        await h.feed(u.message(f"/start {code}"))
        welcome = h.api.last(RESIDENT)
        await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
        for label in labels:
            last = h.api.last(RESIDENT)
            await h.feed(u.press(last.message_id, _press(last.reply_markup, label)))
        menu = h.api.last(RESIDENT).reply_markup
        assert len(buttons(menu)) >= 8 and too_wide(menu) == [], (language, buttons(menu))
        assert any(text.endswith("…") for text, _ in buttons(menu)), language  # (some were long)
        async with h.sessions() as s:
            await s.execute(sa.text("DELETE FROM answer"))
            await s.execute(sa.text("DELETE FROM response"))
            await s.commit()


async def test_the_items_to_pick_from_fit_with_their_mark(harness):
    h = harness
    questionnaire = ("id: pick\ntitle: T\nquestions:\n  - id: need\n    type: item_pick\n"
                     "    text: {zh_CN: 最需要哪些, en: Which}\n    parts: [basic]\n")
    _, code = await open_consultation(h, questionnaire=questionnaire)
    u = h.user(RESIDENT)
    await h.feed(u.message(f"/start {code}"))
    welcome = h.api.last(RESIDENT)
    await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
    screen = h.api.last(RESIDENT).reply_markup
    items = [text for text, _ in buttons(screen) if text.startswith("☐")]
    assert len(items) == 3 and too_wide(screen) == [], buttons(screen)
    assert "☐ 2. 最低生活保障、特困供…" in items  # (in full above them, numbered)


def test_fit_width_counts_a_chinese_character_or_an_emoji_as_two():
    assert width("ab中文🙂") == 2 + 4 + 2 and width("❤️") == 2  # (the variation selector takes no room)
    assert fit_width("中" * 14) == "中" * 14  # exactly 28: kept whole
    assert fit_width("中" * 15) == "中" * 13 + "…"
    assert fit_width("a" + "中" * 20, 10) == "a中中中中…"
    assert fit_width("🙂" * 20, 7) == "🙂🙂🙂…"
    assert all(width(fit_width(t, 9)) <= 9 for t in ("x" * 30, "中" * 30, "a中" * 20, "🙂x" * 10))


async def test_new_shows_a_long_version_label_in_full_in_the_text_and_fits_its_button(harness):
    """A version label (up to 50 characters, set from a file's caption) made /new's township
    button wider than a phone shows: the version was cut, and shown nowhere else on the screen."""
    from storage.lists import save_list

    h = harness
    version = "2026年11月县委编办审核后第二次修订征求意见稿"
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS, version=version)
        await save_list(s, "绿水乡", ITEMS, version="3")
        await s.commit()
    o = h.user(ORGANIZER)
    await h.feed(o.message("/new"))
    await h.feed(o.message("标题"))
    screen = h.api.last(ORGANIZER)
    assert too_wide(screen.reply_markup) == []
    assert f"青山镇（“{version}”）" in screen.text and "绿水乡（第 3 版）" not in screen.text
    assert "☐ 绿水乡（第 3 版）" in [text for text, _ in buttons(screen.reply_markup)]
    await h.feed(o.press(screen.message_id, _press(screen.reply_markup, "青山镇")))
    again = h.api.last(ORGANIZER)
    assert too_wide(again.reply_markup) == [] and f"青山镇（“{version}”）" in again.text
    assert any(text.startswith("☑ 青山镇（“2026") for text, _ in buttons(again.reply_markup))


async def test_publish_button_of_a_long_version_label_fits_and_the_line_names_it_in_full(harness):
    from storage.lists import save_list

    h = harness
    version = "2026年11月县委编办审核后第二次修订稿"
    await open_consultation(h, status=Status.CLOSED)
    async with h.sessions() as s:
        await save_list(s, "青山镇", ITEMS[:3], version=version)
        await s.commit()
    for language in ("zh-hans", "en"):
        await h.feed(h.user(ORGANIZER, language_code=language).message("/publish"))
        said = h.api.last(ORGANIZER)
        assert len(buttons(said.reply_markup)) == 1 and too_wide(said.reply_markup) == [], language
        assert version in said.text and "青山镇" in buttons(said.reply_markup)[0][0]


async def test_the_close_now_confirmation_fits_beside_cancel_in_both_languages(harness):
    """"✅ Close it now" shared its row with "Cancel" and was wider than half a phone's row."""
    h = harness
    await open_consultation(h)
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/close"))
        confirm = h.api.last(ORGANIZER)
        assert len(buttons(confirm.reply_markup)) == 2 and too_wide(confirm.reply_markup) == [], language
        await h.feed(o.message("/cancel"))


async def test_keeping_or_clearing_an_earlier_reply_fits_in_one_row_in_both_languages(harness):
    """A decision changed on a comment already answered asks for a new reply under two buttons
    in one row; "Keep earlier reply" and "Clear earlier reply" were each wider than half of it."""
    from bot.routers.organizer import DecideCB
    from storage.models import Comment

    h = harness
    cid, _ = await open_consultation(h)
    township = await _cadre(h)
    async with h.sessions() as s:
        item_id = await s.scalar(sa.select(sa.text("id")).select_from(sa.text("duty_item")).limit(1))
        comment = await comments_repo.add_comment(s, consultation_id=cid, item_id=item_id, person_id=CADRE,
                                                  township_id=township, kind="wording", text="表述不清",
                                                  now=h.clock.now)
        await s.execute(sa.update(Comment).where(Comment.id == comment.id)
                        .values(decision="partly", reply="已部分修改", replied_by=ORGANIZER, replied_at=h.clock.now))
        await s.commit()
    for language in ("zh-hans", "en"):
        o = h.user(ORGANIZER, language_code=language)
        await h.feed(o.message("/comments"))
        card = h.api.last(ORGANIZER)
        await h.feed(o.press(card.message_id, DecideCB(k=comment.id, d="adopted").pack()))
        prompt = h.api.last(ORGANIZER)
        assert len(buttons(prompt.reply_markup)) == 2 and too_wide(prompt.reply_markup) == [], language
        await h.feed(o.message("/cancel"))


async def test_how_an_off_list_task_was_assigned_fits_two_to_a_row_in_both_languages(harness):
    """"Messaging group" shared its row with "Other" and was wider than half of it."""
    h = harness
    await open_consultation(h)
    await _cadre(h)
    for language in ("zh-hans", "en"):
        u = h.user(CADRE, language_code=language)
        await h.feed(u.message("/report"))
        for text in ("县住建局", "自建房安全排查", "2026年11月"):
            await h.feed(u.message(text))
        methods = h.api.last(CADRE)
        assert len(buttons(methods.reply_markup)) == 5 and too_wide(methods.reply_markup) == [], language
        await h.feed(u.message("/cancel"))


async def test_back_skip_and_pause_on_an_answered_question_fit_three_to_a_row_in_both_languages(harness):
    """Back on an optional question already answered shows « Back, skip-and-clear and Pause in one
    row; "Clear & skip" was wider than a third of it."""
    h = harness
    questionnaire = ("id: t\ntitle: T\nquestions:\n"
                     "  - id: a\n    type: single\n    text: {zh_CN: 知道吗, en: Know it}\n"
                     "    options:\n      - {id: y, text: {zh_CN: 知道, en: 'Yes'}}\n"
                     "      - {id: n, text: {zh_CN: 不知道, en: 'No'}}\n"
                     "  - id: b\n    type: text\n    required: false\n    text: {zh_CN: 建议, en: Ideas}\n"
                     "  - id: c\n    type: single\n    text: {zh_CN: 满意吗, en: Happy}\n"
                     "    options:\n      - {id: y, text: {zh_CN: 满意, en: 'Yes'}}\n"
                     "      - {id: n, text: {zh_CN: 不满意, en: 'No'}}\n")
    _, code = await open_consultation(h, questionnaire=questionnaire)
    for user, language in ((RESIDENT, "zh-hans"), (RESIDENT + 1, "en")):
        u = h.user(user, language_code=language)
        await h.feed(u.message(f"/start {code}"))
        welcome = h.api.last(user)
        await h.feed(u.press(welcome.message_id, buttons(welcome.reply_markup)[0][1]))
        first = h.api.last(user)
        await h.feed(u.press(first.message_id, buttons(first.reply_markup)[0][1]))
        await h.feed(u.message("多办实事"))
        third = h.api.last(user)
        await h.feed(u.press(third.message_id, _press(third.reply_markup, "«")))
        again = h.api.last(user).reply_markup
        assert len(again.inline_keyboard[-1]) == 3 and too_wide(again) == [], (language, buttons(again))


async def test_a_long_category_is_shortened_on_its_button_and_its_count_stays(harness):
    """/list's category buttons (and /missing's) gave a long 领域 whole: a phone cut it, and the
    count after it (（3项）) with it. The category is shortened to leave the count its room."""
    from surveys.duty_list import DutyItem, Part

    h = harness
    long = "乡村振兴与农业农村现代化发展促进"  # 16 Chinese characters: 32 half-width
    items = [DutyItem(Part.BASIC, f"事项{k}", seq=k, category=long) for k in range(1, 4)]
    await open_consultation(h, items=items)
    await _cadre(h)
    u = h.user(CADRE)
    await h.feed(u.message("/list"))
    parts = h.api.last(CADRE)
    await h.feed(u.press(parts.message_id, _press(parts.reply_markup, "基本")))
    cats = h.api.last(CADRE).reply_markup
    [label] = [text for text, _ in buttons(cats) if text.startswith("乡村振兴")]
    assert label.endswith("…（3项）") and too_wide(cats) == [], buttons(cats)
    await h.feed(u.message("/missing"))
    await h.feed(u.message("河道巡查"))
    await h.feed(u.press(h.api.last(CADRE).message_id, _press(h.api.last(CADRE).reply_markup, "基本")))
    ask = h.api.last(CADRE).reply_markup
    assert any(text.startswith("乡村振兴") for text, _ in buttons(ask)) and too_wide(ask) == [], buttons(ask)


async def test_list_and_find_item_buttons_of_long_names_fit_a_phone(harness):
    """/list's and /find's item buttons were cut at 60 UTF-16 units, twice what a phone shows
    of a button of Chinese names; they are shortened to its width (the names stand in full
    above them), and a tap still opens the item."""
    from surveys.duty_list import DutyItem, Part

    h = harness
    items = [DutyItem(Part.BASIC, f"消防检查{k}" + "很长的事项名称" * 6, seq=k, category="平安法治") for k in range(1, 4)]
    c, _ = await open_consultation(h, items=items)
    await _cadre(h)
    u = h.user(CADRE)
    await h.feed(u.message("/find 消防检查"))
    hits = h.api.last(CADRE)
    assert [t for t, _ in buttons(hits.reply_markup)][0].startswith("1. 消防检查1很长")
    assert too_wide(hits.reply_markup) == [], buttons(hits.reply_markup)
    await h.feed(u.press(hits.message_id, _press(hits.reply_markup, "2. 消防检查2")))
    assert "消防检查2很长的事项名称" in h.api.last(CADRE).text
    await h.feed(u.message("/list"))
    parts = h.api.last(CADRE)
    await h.feed(u.press(parts.message_id, _press(parts.reply_markup, "基本")))
    cats = h.api.last(CADRE)
    await h.feed(u.press(cats.message_id, _press(cats.reply_markup, "平安法治")))
    page = h.api.last(CADRE).reply_markup
    assert len([t for t, _ in buttons(page) if t.startswith(("1. ", "2. ", "3. "))]) == 3
    assert too_wide(page) == [], buttons(page)
