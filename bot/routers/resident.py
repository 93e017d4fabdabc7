"""The resident's questionnaire in the chat: from the deep link (`/start <code>`) to
"thank you", one question at a time in one message edited in place, with back,
skip, pause (/cancel), resume on any message, and a summary with 修改 (change)
until the deadline.

Every answer is committed before the bot shows the next question (or answers the
press). Where the person is comes from the database: their answers plus the screen
(the question on screen, multi-select and rating drafts, the page), both in the
response row; if the screen is lost they resume at the first unanswered question.
Buttons carry ids only and are re-checked on every press: the response must be the
presser's, the message must be the live question message (or a newer one, whose
becoming live is being committed), and the consultation must be open.

Presses on the question message are the bot's hot path: their update is claimed and
their writes committed by the process's group commit (see bot.middlewares), and the
response is read from the process's cache — safe because every write checks the
response's version; a press computed from a stale copy is computed again.
"""

from __future__ import annotations

import copy
import html
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError
from aiogram.filters import CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.app import chosen_language, set_person_commands
from bot.context import Ctx, Num
from bot.limits import ANSWER_LIMIT, TEXT_LIMIT, fit_lines, fit_plain, fit_width, visible_units, width
from bot.middlewares import GROUPED_PRESSES, JOINING_PRESSES, GroupedPress
from bot.questionnaires import questionnaire_of
from bot.routers import first_of_album, not_text_note, starts
from storage import consultations as repo
from storage import invites
from storage.answer_path import ConsultationView
from storage.models import Township
from storage.responses import Change, ResponseState, Stale, advance_live_message, load_state
from surveys.consultation import Window, ended_at, format_deadline, format_local, normalize_code, window
from surveys.flow import (
    FlowState,
    ItemRef,
    answer_text,
    applicable,
    eligible_items,
    plain_number,
    question_count,
    summary_lines,
    typed_choice,
)
from surveys.questionnaire import OPTION_ROOM, SCALE_POINTS, UNSURE, Question, Questionnaire

router = Router(name="resident")
log = logging.getLogger(__name__)
router.message.filter(F.chat.type == "private")
router.edited_message.filter(F.chat.type == "private")

PICK_PAGE = 8
CHANGE_PAGE = 20  # questions per page of the change menu (修改)
CURRENT_ANSWER_CHARS = 500  # of a typed answer shown again under its question (answers go up to 4,000)
FSM_KEY = "rq"  # FSM data: the response in progress (so /cancel knows there is something to pause)
TYPED = "typed"  # on the screen: {question id: the message that typed its answer}
SEVERAL = "many"  # on the screen: another questionnaire of the person's is unfinished too (see `_open_flows`)


class BeginCB(CallbackData, prefix="rb"):
    """Start (or resume) the questionnaire of the consultation behind a link."""

    c: Num  # consultation id
    t: Num  # township id


class QCB(CallbackData, prefix="q"):
    """A press on the question message. a: o=option, +/-=tick/untick an option (multi) or an
    item (item pick), d=done, p=scale point, r=rate an item, g=page, s=skip, b=back (v: the
    item on screen, on an item-rating question), z=pause, n=next (keep the typed answer on
    screen); t and k, the toggles of keyboards sent before +/-, still work.

    A tick says which state it sets, not "toggle": both taps of a double tap carry the data
    of the keyboard tapped, and the second must not undo the first."""

    r: Num  # response id
    q: str  # question id
    a: str
    v: str = ""


class EditCB(CallbackData, prefix="qe"):
    """From the summary: q="" lists the questions (q="~n": page n of them), q=id asks that one
    again, q="!" shows the summary."""

    r: Num
    q: str = ""


@dataclass
class Flow:
    """One resident's questionnaire, loaded for one update, and what the update changes."""

    consultation: ConsultationView
    response: ResponseState  # as read; the commit checks it is still this version
    township: str
    q: Questionnaire
    items: tuple[ItemRef, ...]
    state: FlowState
    screen: dict[str, Any]  # current question, multi-select and rating drafts, page
    message_id: int | None = None  # the live question message
    set_answers: dict[str, Any] = field(default_factory=dict)
    drop_answers: list[str] = field(default_factory=list)
    completed: bool = False
    cached: bool = False  # the response came from the process's cache

    def change(self) -> Change:
        self.screen["cur"] = self.state.current
        return Change(state=self.response, screen=self.screen, message_id=self.message_id, completed=self.completed,
                      set_answers=self.set_answers, drop_answers=self.drop_answers)


# --- loading -----------------------------------------------------------------------------


async def _response(ctx: Ctx, response_id: int) -> tuple[ResponseState | None, bool]:
    """The response (and whether it came from the process's cache). Grouped presses
    may use the cache; everything else reads the database."""
    assert ctx.path is not None
    if ctx.grouped and (cached := ctx.path.responses.get(response_id)) is not None:
        return cached, True
    # a grouped press reads outside any transaction (batched on PostgreSQL); every
    # other update in its own session's
    loaded = await (ctx.path.response(ctx.session, response_id) if ctx.grouped
                    else load_state(ctx.session, response_id))
    if loaded is not None:
        ctx.path.responses.put(loaded)
    return loaded, False


async def _load(ctx: Ctx, response: ResponseState, consultation: ConsultationView) -> Flow:
    assert ctx.path is not None
    link = consultation.link(response.township_id)
    items = await ctx.path.items(ctx.session, link.list_id) if link else ()
    q = questionnaire_of(consultation.questionnaire)
    ctx.locale = q.locale_for(ctx.locale)  # (the questionnaire's own language where it has not the person's)
    state = response.memo.get("flow")
    if state is None:
        state = FlowState.from_stored(q, response.answers, items, current=response.screen.get("cur"))
    return Flow(consultation, response, link.township if link else "", q, items, state, _copy(response.screen),
                message_id=response.message_id, completed=response.completed)


def _copy(screen: dict[str, Any]) -> dict[str, Any]:
    """A copy the press may change (drafts are nested) without touching the cached one."""
    return copy.deepcopy(screen) if "sel" in screen or "rate" in screen or "was" in screen else dict(screen)


async def _consultation(ctx: Ctx, consultation_id: int) -> ConsultationView | None:
    assert ctx.path is not None
    return await ctx.path.consultation(ctx.session, consultation_id)


def _window(ctx: Ctx, consultation: Any) -> Window:
    return window(consultation.status, consultation.opens_at, consultation.closes_at, ctx.now())


def _window_text(ctx: Ctx, consultation: Any, w: Window, room: int = TEXT_LIMIT) -> str:
    """Why a consultation takes no answers now (HTML, like every text of the bot's: a
    press's pop-up gets it as plain text from bot.limits), its title shortened to leave the
    rest (when it opens or closed) within `room`: a pop-up has 200 of Telegram's units."""
    tz = ctx.settings.timezone
    key = "resident.closed"
    if w == Window.NOT_YET:  # a draft has no opening time yet (or one already past): it opens when opened
        scheduled = consultation.opens_at is not None and consultation.opens_at > ctx.now()
        key = "resident.not-yet" if scheduled else "resident.not-yet-unscheduled"

    def said(title: str) -> str:
        return ctx.t(key, title=title, opens=format_local(consultation.opens_at, tz),
                     closes=format_deadline(ended_at(consultation.closes_at, consultation.closed_at), tz))

    return said(html.escape(fit_plain(consultation.title, max(room - visible_units(said("")), 2))))


# --- rendering -----------------------------------------------------------------------------


_BUTTON = InlineKeyboardButton(text="-", callback_data="-")


def _qcb(r: int, q: str, a: str, v: str = "") -> str:
    """`QCB(r=r, q=q, a=a, v=v).pack()`, by string formatting: building and packing the
    model costs twice as much as the button it goes on. A value that pack() would refuse
    (a separator inside, over 64 bytes) goes through pack(), which raises."""
    sep = QCB.__separator__
    data = f"{QCB.__prefix__}{sep}{r}{sep}{q}{sep}{a}{sep}{v}"
    if data.count(sep) != 4 or len(data.encode()) > 64:
        return QCB(r=r, q=q, a=a, v=v).pack()
    return data


def _btn(text: str, data: CallbackData | str) -> InlineKeyboardButton:
    # A copy of a validated button is about twice as fast as validating a new one, and
    # a question has up to a dozen buttons on every press.
    return _BUTTON.model_copy(update={"text": text, "callback_data": data if isinstance(data, str) else data.pack()})


def render_question(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup]:
    question = flow.state.question(flow.q)
    assert question is not None
    loc = ctx.locale
    shown = [x.id for x in _applicable(flow)]
    n = shown.index(question.id) + 1 if question.id in shown else len(shown)
    lines = [ctx.t("resident.progress", n=n, m=len(shown)), "", f"<b>{html.escape(question.text.get(loc))}</b>"]
    if flow.screen.get(SEVERAL):
        lines.insert(0, ctx.t("resident.which-questionnaire", title=html.escape(flow.consultation.title)))
    at = len(lines) - 1  # (the question's text, then its help: see _fit_question)
    if question.help:
        lines.append(f"<i>{html.escape(question.help.get(loc))}</i>")
    r, qid = flow.response.id, question.id
    rows: list[list[InlineKeyboardButton]] = []
    back = ""
    previous = flow.state.answers.get(qid)
    match question.type:
        case "single":
            labels = _option_labels(question, loc, lines)
            for o, label in zip(question.options, labels, strict=True):
                mark = "● " if previous == o.id else ""
                rows.append([_btn(mark + label, _qcb(r, qid, "o", o.id))])
        case "multi":
            chosen = set(flow.screen.get("sel", {}).get(qid, previous or []))
            high = question.max_choices or len(question.options)
            labels = _option_labels(question, loc, lines)
            lines.append(ctx.t("resident.hint-multi", min=question.min_choices, max=high))
            for o, label in zip(question.options, labels, strict=True):
                on = o.id in chosen
                rows.append([_btn(("☑ " if on else "☐ ") + label, _qcb(r, qid, "-" if on else "+", o.id))])
            rows.append([_btn(ctx.t("resident.btn-done", n=len(chosen)), _qcb(r, qid, "d"))])
        case "scale":
            labels = [f"{p} = {html.escape(lbl.get(loc))}" for p, lbl in question.labels]
            if labels:
                lines.append(ctx.t("resident.scale-labels", labels="；".join(labels) if loc != "en" else "; ".join(labels)))
            rows.append([_btn(("●" if previous == p else "") + str(p), _qcb(r, qid, "p", str(p)))
                         for p in SCALE_POINTS])
            if question.allow_unsure:
                mark = "● " if previous == UNSURE else ""
                rows.append([_btn(mark + ctx.t("resident.btn-unsure"), _qcb(r, qid, "p", UNSURE))])
        case "text":
            lines.append(ctx.t("resident.hint-text", max=question.max_length))
        case "number":
            lines.append(ctx.t("resident.hint-number", range=_number_range(ctx, question)))
        case "item_rating":
            item, k, total = _rating_item(flow, question)
            lines.append(ctx.t("resident.rating-item", k=k, n=total, name=html.escape(item.name)))
            # the score it has: given before « 上一题 came back to it, or stored
            was = flow.screen.get("was", {}).get(qid, {}).get(str(item.id), (previous or {}).get(str(item.id)))
            rows.append([_btn(("●" if was == p else "") + str(p), _qcb(r, qid, "r", f"{item.id}.{p}"))
                         for p in SCALE_POINTS])
            if question.allow_unsure:
                mark = "● " if was == UNSURE else ""
                rows.append([_btn(mark + ctx.t("resident.btn-unsure"), _qcb(r, qid, "r", f"{item.id}.{UNSURE}"))])
            back = str(item.id)  # « 上一题 goes to the item before this one; from the first, to the question before
        case "item_pick":
            chosen = set(flow.screen.get("sel", {}).get(qid, previous or []))
            choices = eligible_items(question, flow.items)
            page = int(flow.screen.get("page", 0))
            pages = max(1, -(-len(choices) // PICK_PAGE))
            page = min(page, pages - 1)
            on_page = choices[page * PICK_PAGE:(page + 1) * PICK_PAGE]
            labels = _written_out([i.name for i in on_page], lines, first=page * PICK_PAGE + 1)
            lines.append(ctx.t("resident.hint-pick", max=question.max_picks))
            for i, label in zip(on_page, labels, strict=True):
                on = i.id in chosen
                rows.append([_btn(fit_width(("☑ " if on else "☐ ") + label), _qcb(r, qid, "-" if on else "+", str(i.id)))])
            if pages > 1:
                nav = []
                if page > 0:
                    nav.append(_btn("‹", _qcb(r, qid, "g", str(page - 1))))
                nav.append(_btn(f"{page + 1}/{pages}", "noop"))
                if page < pages - 1:
                    nav.append(_btn("›", _qcb(r, qid, "g", str(page + 1))))
                rows.append(nav)
            rows.append([_btn(ctx.t("resident.btn-done", n=len(chosen)), _qcb(r, qid, "d"))])
    if previous is not None and question.type in ("text", "number"):
        lines.append(ctx.t("resident.current-answer", answer=html.escape(fit_plain(str(previous), CURRENT_ANSWER_CHARS))))
        # a typed answer has no button of its own to tap again: without this one, going on
        # meant typing it again, or 跳过, which erases it
        rows.append([_btn(ctx.t("resident.btn-keep"), _qcb(r, qid, "n"))])
    nav_row = []
    if (shown and shown[0] != qid) or _rated_before(flow, question):
        nav_row.append(_btn(ctx.t("resident.btn-back"), _qcb(r, qid, "b", back)))
    if not question.required:  # on an answered question it says that skipping clears the answer
        skip = "resident.btn-skip" if previous is None else "resident.btn-skip-clear"
        nav_row.append(_btn(ctx.t(skip), _qcb(r, qid, "s")))
    nav_row.append(_btn(ctx.t("resident.btn-pause"), _qcb(r, qid, "z")))
    rows.append(nav_row)
    return _fit_question(lines, at, question, loc), InlineKeyboardMarkup(inline_keyboard=rows)


def _fit_question(lines: list[str], at: int, question: Question, loc: str) -> str:
    """The question's screen; over Telegram's limit (a question may quote a notice at length),
    its text and help (lines[at], lines[at + 1]) give way to what follows them: the options
    written out, how to answer."""
    text = "\n".join(lines)
    if visible_units(text) <= TEXT_LIMIT:
        return text
    parts = [question.text.get(loc)] + ([question.help.get(loc)] if question.help else [])
    lines[at:at + len(parts)] = [""] * len(parts)
    fitted = fit_lines(parts, TEXT_LIMIT - visible_units("\n".join(lines)))
    lines[at] = f"<b>{html.escape(fitted[0])}</b>"
    if question.help:
        lines[at + 1] = f"<i>{html.escape(fitted[1])}</i>"
    return "\n".join(lines)


def _option_labels(question: Question, loc: str, lines: list[str]) -> list[str]:
    """The buttons' labels of a choice question's options (see _written_out)."""
    return _written_out([o.text.get(loc) for o in question.options], lines)


def _written_out(texts: list[str], lines: list[str], first: int = 1) -> list[str]:
    """The labels of buttons for `texts` (options, items): the texts; when one is wider than a
    button shows beside its mark (a phone cuts it, and two beginning alike look the same), every
    one is written out in full, numbered from `first`, on `lines`, and the buttons carry the
    numbers with the texts shortened."""
    room = OPTION_ROOM  # (what `qingdan questionnaire check` warns of)
    if all(width(text) <= room for text in texts):
        return texts
    lines.append("")
    lines += [f"{k}. {html.escape(text)}" for k, text in enumerate(texts, start=first)]
    return [fit_width(f"{k}. {text}", room) for k, text in enumerate(texts, start=first)]


def _rating_item(flow: Flow, question: Question) -> tuple[ItemRef, int, int]:
    """The item of an item-rating question on screen, its number and how many there are:
    the first not rated yet (the items are rated in order)."""
    rated = flow.screen.get("rate", {}).get(question.id, {})
    items = eligible_items(question, flow.items)
    todo = [i for i in items if str(i.id) not in rated]
    return (todo[0] if todo else items[-1]), len(items) - len(todo) + 1, len(items)


def _rated_before(flow: Flow, question: Question) -> str | None:
    """The item an item-rating question's « 上一题 goes back to: the last one rated before
    the one on screen (None on the first item, or another type of question)."""
    if question.type != "item_rating" or not (rated := flow.screen.get("rate", {}).get(question.id)):
        return None
    on_screen = _rating_item(flow, question)[0].id
    items = [str(i.id) for i in eligible_items(question, flow.items)]
    before = [i for i in items[:items.index(str(on_screen))] if i in rated]
    return before[-1] if before else None


def _applicable(flow: Flow) -> list[Question]:
    return applicable(flow.q, flow.state.stored(), flow.items)


def render_summary(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = summary_lines(flow.q, flow.state.stored(), flow.items, ctx.locale)
    deadline = format_deadline(flow.consultation.closes_at, ctx.settings.timezone)
    head = ctx.t("resident.thanks", title=html.escape(flow.consultation.title))
    foot = ctx.t("resident.can-change", deadline=deadline)
    lines = fit_lines(lines, TEXT_LIMIT - visible_units(head + "\n\n\n\n" + foot) - len(lines))
    text = "\n".join([head, "", *(html.escape(line) for line in lines), "", foot])
    if _window(ctx, flow.consultation) != Window.OPEN:
        return text, None
    kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("resident.btn-change"), EditCB(r=flow.response.id))]])
    return text, kb


def render_change_menu(ctx: Ctx, flow: Flow, page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    """A button per question to change; past CHANGE_PAGE of them (a questionnaire may have 100,
    more buttons than Telegram takes), in pages: EditCB q="~<page>"."""
    r, questions = flow.response.id, _applicable(flow)
    pages = max(1, -(-len(questions) // CHANGE_PAGE))
    page = min(max(page, 0), pages - 1)
    first = page * CHANGE_PAGE
    rows = [[_btn(fit_width(f"{n}. {question.text.get(ctx.locale)}"), EditCB(r=r, q=question.id))]
            for n, question in enumerate(questions[first:first + CHANGE_PAGE], start=first + 1)]
    if pages > 1:
        nav = [_btn("‹", EditCB(r=r, q=f"~{page - 1}"))] if page > 0 else []
        nav.append(_btn(f"{page + 1}/{pages}", "noop"))
        if page < pages - 1:
            nav.append(_btn("›", EditCB(r=r, q=f"~{page + 1}")))
        rows.append(nav)
    rows.append([_btn(ctx.t("resident.btn-back-summary"), EditCB(r=r, q="!"))])
    return ctx.t("resident.change-which"), InlineKeyboardMarkup(inline_keyboard=rows)


def render_screen(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup | None]:
    if flow.state.current is None:
        return render_summary(ctx, flow)
    return render_question(ctx, flow)


async def show(ctx: Ctx, flow: Flow, query: CallbackQuery | None = None,
               message: Message | None = None, notice: str | None = None) -> AnswerCallbackQuery | None:
    """Commit the update's writes, then put the flow's current screen on the live
    message (edit in place; the press's answer, with `notice` as its pop-up, is
    returned, see `edited`), or send it as a new message that becomes the live one (the
    buttons of the one live before are taken off: they would only say it is an old message)."""
    flow.screen.pop("paused", None)
    text, kb = render_screen(ctx, flow)
    if query is not None and isinstance(query.message, Message):
        await _commit(ctx, flow)
        return await edited(ctx, query, text, kb, notice)
    # a press on a message Telegram no longer lets the bot edit (days old: an
    # InaccessibleMessage) gets the screen as a new message, which becomes the live one
    target = query.message if query is not None else message
    assert target is not None
    after = await _commit(ctx, flow)
    before = flow.response.message_id
    if query is None and before is not None:  # (a pressed one is too old to edit; one paused by its button
        await _take_buttons_off(target, before)  # has no buttons: Telegram's "not modified", bot.retry.AlreadyShown)
    sent = await target.answer(text, reply_markup=kb)
    # The new message becomes the live one: a second, small commit (the answers were
    # durable before anything was sent). A press on it that arrives meanwhile is
    # accepted all the same: it is newer than the stored live message.
    advanced = await advance_live_message(ctx.session, after.id, sent.message_id)
    await ctx.session.commit()
    assert ctx.path is not None
    if advanced:
        # The first press on the new message finds the response in the cache. If anyone
        # wrote it between the two commits, the database is a version ahead of this
        # copy, and that press's write is refused as stale and computed again.
        ctx.path.responses.put(replace(after, message_id=sent.message_id, version=after.version + 1))
    else:
        ctx.path.responses.forget(after.id)
    return query.answer(notice) if query is not None else None


async def _take_buttons_off(chat: Message, message_id: int) -> None:
    """Take the keyboard off a question message of the chat's whose buttons would only say it is
    old (the next screen comes below it) or closed (nothing is written by it: a failure here
    costs nothing but the tidying)."""
    assert chat.bot is not None
    try:
        await chat.bot.edit_message_reply_markup(chat_id=chat.chat.id, message_id=message_id, reply_markup=None)
    except TelegramAPIError as e:  # gone, or too old to edit (48 hours): its buttons still say it is old
        log.info("the buttons of message %s stay (%s)", message_id, e)


async def edited(ctx: Ctx, query: CallbackQuery, text: str, kb: InlineKeyboardMarkup | None,
                 notice: str | None = None) -> AnswerCallbackQuery:
    """Edit the pressed message, and return the press's answer for the handler to
    return: under a webhook it goes back in the HTTP reply to Telegram's delivery (no
    request of its own — a press costs one Bot API request, not two), under long
    polling aiogram calls it as soon as the handler returns. Either way it follows the
    edit, which follows the commit. If the edit fails, the press is answered at once. A
    message too old to edit (InaccessibleMessage) gets the text as a new message instead.

    An edit Telegram could not be reached for (bot.retry already tried again) leaves the
    old screen with the answer stored: the press's pop-up says so and to tap again, and no
    message is sent (an apology would be one more message through the failing API, and
    the next tap or text shows the current screen)."""
    if isinstance(query.message, InaccessibleMessage):
        await query.message.answer(text, reply_markup=kb)
        return query.answer()
    assert isinstance(query.message, Message)
    try:
        await query.message.edit_text(text, reply_markup=kb)
    except (TelegramNetworkError, TelegramServerError) as e:
        log.warning("press %s: the screen's edit failed (%s); the press says to tap again", query.id, e)
        return query.answer(ctx.t("resident.screen-not-shown"), show_alert=True)
    except TelegramAPIError:
        await query.answer()
        raise
    return query.answer(notice)


async def _commit(ctx: Ctx, flow: Flow) -> ResponseState:
    after = await ctx.commit(flow.change())
    assert after is not None
    _remember(after, flow)
    return after


def _remember(after: ResponseState | None, flow: Flow) -> None:
    """Keep the flow state derived from the response's new version with it."""
    if after is not None:
        after.memo["flow"] = flow.state


def _record(flow: Flow, new: FlowState, answered: str | None = None) -> None:
    """Note the difference between the old and the new state, and completion. The drafts
    of the question answered (by default the one on screen) are done with."""
    old, now = flow.state.stored(), new.stored()
    for k, v in now.items():
        if k not in old or old[k] != v:
            flow.set_answers[k] = v
            if k in flow.drop_answers:
                flow.drop_answers.remove(k)
    for k in old:
        if k not in now:
            flow.set_answers.pop(k, None)
            flow.drop_answers.append(k)
    done = new.current is None and new.is_complete(flow.q, flow.items)
    # A finished response stays finished while its answers are changed from the summary:
    # an answer that brings up an optional follow-up (有 → 是什么事？) left unanswered does
    # not make it unfinished again (dropped from the counts, nudged as "not filled in").
    flow.completed = done or (flow.completed and all(
        new.answers.get(x.id) is not None for x in applicable(flow.q, new.stored(), flow.items) if x.required))
    answered = answered or flow.state.current
    flow.state = new
    _drop_drafts(flow, answered)


def _drop_drafts(flow: Flow, *question_ids: str | None) -> None:
    """Forget the unsubmitted choices and ratings of these questions: one answered or
    skipped is done with, and one opened from the summary starts from its stored answer.
    A question left by « 上一题 or a pause keeps them: coming back, the resident finds
    the ticks they left."""
    for draft in ("sel", "rate", "was"):
        kept = flow.screen.get(draft)
        if kept:
            for qid in question_ids:
                kept.pop(qid or "", None)


async def _refuse(ctx: Ctx, query: CallbackQuery, text: str, cached: bool = False,
                  response: ResponseState | None = None) -> None:
    """Answer a press that does nothing. A refusal that rests on a cached response is
    checked against the database first (it may be our copy that is old)."""
    if cached and response is not None:
        raise Stale(response.id)
    await ctx.commit()
    await query.answer(text, show_alert=True)


# --- /start and the welcome ---------------------------------------------------------------------


@starts.message(CommandStart(deep_link=True, magic=~F.args.func(invites.is_invite)))  # invites: bot.routers.cadre
async def start_with_code(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext,
                          raw_state: str | None = None) -> None:
    assert ctx.path is not None
    found = await ctx.path.link_by_code(ctx.session, normalize_code(command.args or ""))
    if found is None:
        await message.answer(ctx.t("resident.bad-code"))
        return
    consultation, link = found
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        await message.answer(_window_text(ctx, consultation, w))
        return
    if raw_state is not None:  # the questionnaire takes the chat over from a form left open (a cadre's comment)
        await state.set_state(None)
    started = await repo.response_id_of(ctx.session, consultation.id, ctx.person.id)
    if started is not None:
        await _show_response(ctx, state, started, message, opened=link.township_id)
        return
    q = questionnaire_of(consultation.questionnaire)
    ctx.locale = q.locale_for(ctx.locale)
    # the count the progress starts from ("第 1/8 题"), and the follow-ups some answers add
    count, followups = question_count(q, await ctx.path.items(ctx.session, link.list_id))
    intro = consultation.intro or q.intro.get(ctx.locale)

    def welcome(intro: str) -> str:
        return ctx.t("resident.welcome", title=html.escape(consultation.title), township=html.escape(link.township),
                     deadline=format_deadline(consultation.closes_at, ctx.settings.timezone),
                     questions=count, followups=ctx.t("resident.followups", n=followups) if followups else "",
                     minutes=q.estimated_minutes, intro=html.escape(intro))
    # an introduction as long as a public notice gives way to what follows it (the deadline, what is kept)
    text = welcome(fit_plain(intro, max(TEXT_LIMIT - visible_units(welcome("")), 2)))
    text = re.sub(r"\n{3,}", "\n\n", text)  # no intro: one blank line, not three
    kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("resident.btn-start"),
                                                     BeginCB(c=consultation.id, t=link.township_id))]])
    await message.answer(text, reply_markup=kb)


@starts.callback_query(BeginCB.filter())
async def begin(query: CallbackQuery, callback_data: BeginCB, ctx: Ctx, state: FSMContext,
                raw_state: str | None = None) -> AnswerCallbackQuery | None:
    consultation = await _consultation(ctx, callback_data.c)
    link = consultation.link(callback_data.t) if consultation else None
    if consultation is None or link is None or query.message is None:  # (None: no chat to show it in)
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        await query.answer(_window_text(ctx, consultation, w, ANSWER_LIMIT), show_alert=True)
        return
    started = await repo.start_response(ctx.session, consultation.id, ctx.person.id, link.township_id)
    response, _ = await _response(ctx, started)
    assert response is not None
    flow = await _load(ctx, response, consultation)
    pressed = query.message.message_id if isinstance(query.message, Message) else None
    if raw_state is not None:
        await state.set_state(None)
    await state.update_data({FSM_KEY: response.id})
    if response.message_id is not None and pressed is not None and pressed <= response.message_id:
        if pressed == response.message_id:  # this welcome became the questionnaire: a double tap
            return await _again(ctx, query, flow)
        # the start button of an older welcome: the questionnaire goes on below, where it was,
        # and the resident is told so (this message is not made the live one again). A newer
        # message's (a reminder's 继续填写) becomes the questionnaire, as it says it will.
        assert isinstance(query.message, Message)
        await show(ctx, flow, message=query.message)
        await query.answer(ctx.t("resident.resumed" if flow.state.current else "resident.resumed-finished"),
                           show_alert=True)
        return None
    flow.message_id = pressed
    if response.message_id is not None:  # one begun before, resumed here (from /start's list of them…)
        locale = ctx.locale
        several = any(f.screen.get(SEVERAL) for f in await _open_flows(ctx))
        ctx.locale = locale
        if several:
            flow.screen[SEVERAL] = True
        if isinstance(query.message, Message):  # the message it was on: its buttons would only say "old"
            await _take_buttons_off(query.message, response.message_id)
    if flow.state.current is None and not flow.completed and flow.state.is_complete(flow.q, flow.items):
        flow.completed = True  # no question applies (item questions on a list without such items)
    return await show(ctx, flow, query=query)


async def _show_response(ctx: Ctx, fsm: FSMContext, response_id: int, message: Message,
                         opened: int | None = None) -> bool:
    """Show a response's current screen as a new live message; False if it is gone. A
    link `opened` for another township than the response's is told whose it is (one
    response per person and consultation: it goes on counting for its township)."""
    response, _ = await _response(ctx, response_id)
    consultation = await _consultation(ctx, response.consultation_id) if response else None
    if response is None or consultation is None:
        return False
    flow = await _load(ctx, response, consultation)
    if opened is not None and opened != response.township_id and flow.township:
        await message.answer(ctx.t("resident.other-township", township=html.escape(flow.township)))
    await fsm.update_data({FSM_KEY: response.id})  # (its caller took the chat over from any form)
    await show(ctx, flow, message=message)
    return True


@router.message(CommandStart())
async def start_plain(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if ctx.person.id in ctx.settings.organizer_ids and message.bot is not None:
        # their menu: set at the bot's start only for a chat there was (see bot.app.set_commands)
        await set_person_commands(message.bot, ctx.person.id, "organizer", ctx.settings.locale,
                                  chosen=chosen_language(ctx.person))
    locale = ctx.locale
    unfinished = [f for f in await _open_flows(ctx) if f.state.current is not None]
    # in their questionnaires' language when they share one (a Chinese-only one is put in Chinese)
    languages = {f.q.locale_for(locale) for f in unfinished}
    ctx.locale = languages.pop() if len(languages) == 1 else locale
    if len(unfinished) > 1:  # which one to go on with: each button resumes one (see `begin`)
        rows = [[_btn(fit_width(ctx.t("resident.btn-questionnaire", title=f.consultation.title,
                                      township=f.township)),
                      BeginCB(c=f.consultation.id, t=f.response.township_id))] for f in unfinished]
        await message.answer(ctx.t("resident.choose-questionnaire", n=len(unfinished)),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
        return
    if not await resume(message, ctx, state):  # (the menu's "开始 / 继续答题")
        # an organizer's first message: where their work begins, not a township's link to find
        await message.answer(await _closed_note(ctx) or await _hello(ctx))


# --- presses on the question message ------------------------------------------------------------


async def _flow_for_press(query: CallbackQuery, response_id: int, ctx: Ctx) -> Flow | None:
    """The presser's own response, pressed on its live message, in an open consultation; else None
    (and the press is answered with why)."""
    response, cached = await _response(ctx, response_id)
    if response is None or response.person_id != ctx.person.id:
        await _refuse(ctx, query, ctx.t("error.stale-button"), cached, response)
        return None
    consultation = await _consultation(ctx, response.consultation_id)
    assert consultation is not None
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        kept = ""  # closed while they were at it: what they answered counts (the thanks may come only later)
        if w == Window.CLOSED and not response.completed \
                and (answered := sum(v is not None for v in response.answers.values())):
            kept = "\n" + ctx.t("resident.closed-kept", n=answered)
        await _refuse(ctx, query, _window_text(ctx, consultation, w, ANSWER_LIMIT - visible_units(kept)) + kept)
        if w == Window.CLOSED and isinstance(query.message, Message) and \
                query.message.message_id >= (response.message_id or 0):  # its buttons do nothing any more
            await _take_buttons_off(query.message, query.message.message_id)
        return None
    # (a live message too old for the bot to edit still takes its presses: the next screen is sent anew)
    if query.message is None or (response.message_id is not None
                                 and query.message.message_id < response.message_id):
        await _refuse(ctx, query, ctx.t("error.old-message"), cached, response)
        return None
    flow = await _load(ctx, response, consultation)
    flow.message_id = query.message.message_id  # the live one, or a newer one just sent
    flow.cached = cached
    return flow


@router.callback_query(QCB.filter())
async def press(query: CallbackQuery, callback_data: QCB, ctx: Ctx) -> AnswerCallbackQuery | None:
    flow = await _flow_for_press(query, callback_data.r, ctx)
    if flow is None:
        return
    question = flow.q.question(callback_data.q)
    if question is not None and callback_data.q != flow.state.current and _repeats(flow, callback_data):
        return await _again(ctx, query, flow)
    if question is None or callback_data.q != flow.state.current:
        await _refuse(ctx, query, ctx.t("error.old-message"), flow.cached, flow.response)
        return
    action, value = callback_data.a, callback_data.v
    qid = question.id
    new: FlowState | None = None
    error = None
    notice: str | None = None
    if action == "o":
        new, error = flow.state.answer(flow.q, value, flow.items)
    elif action == "p":
        new, error = flow.state.answer(flow.q, int(value) if value.isdecimal() else value, flow.items)
    elif action in ("+", "-", "t", "k") and question.type in ("multi", "item_pick"):
        multi = question.type == "multi"
        chosen = list(flow.screen.get("sel", {}).get(qid, flow.state.answers.get(qid) or []))
        key: Any = value if multi else (int(value) if value.isdecimal() else -1)
        valid = question.option(value) is not None if multi else \
            any(i.id == key for i in eligible_items(question, flow.items))
        if not valid or (action in ("t", "k") and action != ("t" if multi else "k")):
            await _refuse(ctx, query, ctx.t("error.stale-button"))
            return
        on = key not in chosen if action in ("t", "k") else action == "+"
        if on == (key in chosen):  # ticked (or unticked) already: the second tap of a double tap
            return await _again(ctx, query, flow)
        if on:
            high = question.max_choices or len(question.options) if multi else question.max_picks
            if len(chosen) >= high:
                await _refuse(ctx, query, ctx.t("flow.too-many", max=high), flow.cached, flow.response)
                return
            chosen.append(key)
        else:
            chosen.remove(key)
        flow.screen.setdefault("sel", {})[qid] = chosen
    elif action == "d":
        chosen = flow.screen.get("sel", {}).get(qid, flow.state.answers.get(qid) or [])
        new, error = flow.state.answer(flow.q, list(chosen), flow.items)
    elif action == "r":
        item, _, point = value.partition(".")
        rate = flow.screen.setdefault("rate", {}).setdefault(qid, {})
        allowed = {str(i.id) for i in eligible_items(question, flow.items)}
        if item not in allowed or not (point == UNSURE or (point.isdecimal() and int(point) in SCALE_POINTS)):
            await _refuse(ctx, query, ctx.t("error.stale-button"))
            return
        if item in rate and item != str(_rating_item(flow, question)[0].id):
            # rated, and the next item on screen: the second tap of a double tap (or a tap
            # on the buttons before they changed) — nothing to do
            return await _again(ctx, query, flow)
        rate[item] = int(point) if point.isdecimal() else point
        flow.screen.get("was", {}).get(qid, {}).pop(item, None)
        if allowed <= rate.keys():
            new, error = flow.state.answer(flow.q, dict(rate), flow.items)
    elif action == "g":
        flow.screen["page"] = int(value) if value.isdecimal() else 0
    elif action == "s":
        new, error = flow.state.skip(flow.q, flow.items)
        if qid in flow.state.answers:  # an answer given before (« 上一题 or 修改): said when it goes
            notice = ctx.t("resident.skip-cleared")
    elif action == "n":
        kept = flow.state.answers.get(qid)
        if kept is None:
            await _refuse(ctx, query, ctx.t("error.old-message"), flow.cached, flow.response)
            return
        new, error = flow.state.answer(flow.q, kept, flow.items)
    elif action == "b" and question.type == "item_rating" and value and \
            value != str(_rating_item(flow, question)[0].id):  # pressed on another item than the one on screen:
        return await _again(ctx, query, flow)  # the second tap of a double tap, once back, not twice
    elif action == "b" and (earlier := _rated_before(flow, question)):
        # an item-rating question goes back item by item: the one before, its score shown, to give again
        flow.screen.setdefault("was", {}).setdefault(qid, {})[earlier] = flow.screen["rate"][qid].pop(earlier)
    elif action == "b":  # the ticks and ratings not yet submitted stay for when they come back
        flow.state = flow.state.back(flow.q, flow.items)
        flow.screen.pop("page", None)
    elif action == "z":
        flow.screen["paused"] = True  # the next message resumes, it answers nothing (see `typed`)
        await _commit(ctx, flow)
        return await edited(ctx, query, ctx.t("resident.paused"), None)
    else:
        await _refuse(ctx, query, ctx.t("error.stale-button"))
        return
    if error is not None:  # (the refusal rests on the answers so far: a cached copy is checked first)
        await _refuse(ctx, query, error.message(ctx.locale), flow.cached, flow.response)
        return
    if new is not None:
        _record(flow, new)
        flow.screen.pop("page", None)
    return await show(ctx, flow, query=query, notice=notice)


def _number_range(ctx: Ctx, question: Any) -> str:
    """The bounds a number answer must keep (and "whole number"), said before it is typed."""
    low, high = question.min_value, question.max_value
    kind = ctx.t("resident.whole-number") if question.integer else ""
    if low is None and high is None:
        return ctx.t("resident.range-whole") if kind else ""
    key = "resident.range-between" if low is not None and high is not None else \
        "resident.range-at-least" if low is not None else "resident.range-at-most"
    return ctx.t(key, min=f"{low:g}" if low is not None else "", max=f"{high:g}" if high is not None else "",
                 kind=kind)


def _repeats(flow: Flow, cb: QCB) -> bool:
    """Whether a press for a question the live message no longer shows repeats the press
    that moved it on: the second tap of a double tap (the same answer or score, tick, done, skip,
    keep or back)."""
    stored = flow.state.stored()
    if cb.a in ("o", "p"):
        return cb.q in stored and str(stored[cb.q]) == cb.v
    if cb.a in ("+", "-"):  # a tick's second tap that came after 完成
        return isinstance(stored.get(cb.q), list) and (cb.v in map(str, stored[cb.q])) == (cb.a == "+")
    if cb.a == "r":  # the last item's score, which submitted the rating
        item, _, point = cb.v.partition(".")
        return isinstance(stored.get(cb.q), dict) and str(stored[cb.q].get(item)) == point
    return cb.a == "b" or (cb.a in ("d", "s", "n") and cb.q in stored)


async def _again(ctx: Ctx, query: CallbackQuery, flow: Flow) -> AnswerCallbackQuery:
    """The second tap of a double tap: not an "old message" to warn about in a pop-up. The
    current screen is put on the message again (unchanged: nothing to do), quietly."""
    if flow.cached:
        raise Stale(flow.response.id)
    if not isinstance(query.message, Message):  # too old to edit: the current screen comes anew
        return await show(ctx, flow, query=query)  # type: ignore[return-value]
    await ctx.commit()
    text, kb = render_screen(ctx, flow)
    return await edited(ctx, query, text, kb)  # (Telegram's "not modified": bot.retry.AlreadyShown)


@router.callback_query(EditCB.filter())
async def change_answer(query: CallbackQuery, callback_data: EditCB, ctx: Ctx) -> AnswerCallbackQuery | None:
    flow = await _flow_for_press(query, callback_data.r, ctx)
    if flow is None:
        return
    if callback_data.q == "" or (callback_data.q[:1] == "~" and callback_data.q[1:].isdecimal()):
        text, kb = render_change_menu(ctx, flow, int(callback_data.q[1:] or 0))
        await _commit(ctx, flow)
        return await edited(ctx, query, text, kb)
    if callback_data.q != "!":
        if callback_data.q not in {x.id for x in _applicable(flow)}:
            await _refuse(ctx, query, ctx.t("error.stale-button"))
            return
        flow.state = FlowState(flow.state.answers, flow.state.skipped, callback_data.q)
        _drop_drafts(flow, callback_data.q)
    return await show(ctx, flow, query=query)


# Presses on the question message go straight to these two handlers, and commit with
# the process's group commit (bot.middlewares.GroupedPress).
GROUPED_PRESSES.extend([GroupedPress(QCB, press), GroupedPress(EditCB, change_answer)])
JOINING_PRESSES.append(BeginCB)  # a welcome's 开始答题: a new start, as its /start was


# --- typed answers, and anything else --------------------------------------------------------------


async def _open_flows(ctx: Ctx) -> list[Flow]:
    """The person's questionnaires that take answers now, the one touched last first; their
    screens name them (SEVERAL) while more than one of them is unfinished."""
    locale, flows = ctx.locale, []
    for found, consultation in await repo.open_responses_of(ctx.session, ctx.person.id):
        response, _ = await _response(ctx, found.id)  # type: ignore[arg-type]
        view = await _consultation(ctx, consultation.id)  # type: ignore[arg-type]
        if response is not None and view is not None and _window(ctx, view) == Window.OPEN:
            ctx.locale = locale  # (each is loaded in the person's language, or its own)
            flows.append(await _load(ctx, response, view))
    several = sum(f.state.current is not None for f in flows) > 1
    for f in flows:  # kept on the screen (written with the next change): their presses need not look again
        if several:
            f.screen[SEVERAL] = True
        else:
            f.screen.pop(SEVERAL, None)
    return flows


async def _active_flow(ctx: Ctx, reply_to: Message | None = None) -> Flow | None:
    """The questionnaire a message goes to: the one whose question message it replies to, else
    the one with a question on screen touched last (a finished one takes no answer), else the
    finished one touched last."""
    locale, flows = ctx.locale, await _open_flows(ctx)
    if not flows:
        return None
    chosen = next((f for f in flows if reply_to is not None and f.message_id == reply_to.message_id), None) \
        or next((f for f in flows if f.state.current is not None), flows[0])
    ctx.locale = chosen.q.locale_for(locale)
    return chosen


async def _no_questionnaire(ctx: Ctx) -> str:
    """Why a message finds no questionnaire to go on with: the person's latest one has
    closed (or not opened yet), or they have none (an organizer or a cadre: what they can do here)."""
    key = "organizer.idle" if ctx.is_organizer else "cadre.idle" if ctx.is_cadre else "resident.no-consultation"
    return await _closed_note(ctx) or ctx.t(key)


async def _hello(ctx: Ctx) -> str:
    """/start without a link: where the person's work begins (a cadre: their township's list)."""
    if ctx.is_organizer:
        return ctx.t("organizer.hello")
    if ctx.is_cadre and ctx.person.township_id is not None:
        township = await ctx.session.get(Township, ctx.person.township_id)
        if township is not None:
            return ctx.t("cadre.hello", township=html.escape(township.name)) + "\n\n" + ctx.t("cadre.what-you-can-do")
    return ctx.t("resident.hello")


async def _closed_note(ctx: Ctx) -> str | None:
    """That the person's latest questionnaire has closed (or not opened yet), if it has."""
    found = await repo.last_response_of(ctx.session, ctx.person.id)
    if found is not None:
        w = _window(ctx, found[1])
        if w != Window.OPEN:
            text = _window_text(ctx, found[1], w)
            # closed while they were at it: what they answered counts (as a press is told)
            if w == Window.CLOSED and found[0].completed_at is None and found[0].id is not None \
                    and (n := await repo.answered(ctx.session, found[0].id)):
                text += "\n" + ctx.t("resident.closed-kept", n=n)
            return text
    return None


async def resume(message: Message, ctx: Ctx, state: FSMContext, note: str | None = None) -> bool:
    """Show the person's open questionnaire again (as a new live message); False when there is none."""
    flow = await _active_flow(ctx)
    if flow is None:
        return False
    if note and flow.state.current is None:  # finished: there is no question below to answer
        note = ctx.t("resident.finished-not-saved")
    if note:
        await message.answer(note)
    await state.update_data({FSM_KEY: flow.response.id})
    await show(ctx, flow, message=message)
    return True


async def pause(ctx: Ctx) -> bool:
    """/cancel: the person's questionnaire with a question on screen (in progress, or a
    finished one's answer being changed) is paused, as with its pause button (the next
    message resumes it and answers nothing). Whether there was one."""
    flow = await _active_flow(ctx)
    if flow is None or flow.state.current is None:
        return False
    if not flow.screen.get("paused"):
        flow.screen["paused"] = True
        await _commit(ctx, flow)
    return True


@router.message(F.text & ~F.text.startswith("/"))
async def typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    flow = await _active_flow(ctx, reply_to=message.reply_to_message)
    if flow is None:
        await message.answer(await _no_questionnaire(ctx))
        return
    question = flow.state.question(flow.q)
    # After a pause (the pause button, or /cancel: see `pause`) the question is off the
    # screen: "send any message to go on" must not store that message as its answer. (The
    # mark is on the screen, which any press that shows the questionnaire again drops, not
    # in the FSM data: that costs every typed answer a read, and a press after /cancel put
    # the question back on screen without restoring it.)
    paused = bool(flow.screen.get("paused"))
    chosen = typed_choice(question, message.text or "") if question is not None and not paused else None
    if chosen is not None and question is not None:  # an option's words typed instead of tapped
        new, error = flow.state.answer(flow.q, chosen, flow.items)
        if error is None:
            _record(flow, new)
            await message.answer(ctx.t("resident.choice-understood",
                                       answer=html.escape(answer_text(question, chosen, flow.items, ctx.locale))))
            flow.screen[TYPED] = {**flow.screen.get(TYPED, {}), question.id: message.message_id}  # (an edit follows)
            await state.update_data({FSM_KEY: flow.response.id})
            await show(ctx, flow, message=message)
            return
    if paused or question is None or question.type not in ("text", "number"):
        note = None
        if question is None:  # finished: what they wrote goes nowhere, and they are told so
            note = ctx.t("resident.finished-not-saved")
        elif not paused:
            note = ctx.t("resident.use-buttons")
        if note:
            await message.answer(note)
        await state.update_data({FSM_KEY: flow.response.id})
        await show(ctx, flow, message=message)
        return
    new, error = flow.state.answer(flow.q, message.text or "", flow.items)
    if error is not None:
        await message.answer(error.message(ctx.locale))
        return
    _record(flow, new)
    if question.type == "number" and not plain_number(message.text or ""):  # "65岁", "约 65", "六十五"
        await message.answer(ctx.t("resident.number-understood", number=new.answers[question.id]))
    # which message gave the answer, so an edit of it changes the answer (see `typed_edited`)
    flow.screen[TYPED] = {**flow.screen.get(TYPED, {}), question.id: message.message_id}
    await show(ctx, flow, message=message)


@router.edited_message(F.text & ~F.text.startswith("/"))
async def typed_edited(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """A typed answer edited in Telegram: the stored answer follows the edit while the
    questionnaire takes answers (the new text checked as a typed answer is), and the
    screen comes again; an edit of any other message changes nothing, and says so."""
    locale, flows = ctx.locale, await _open_flows(ctx)
    flow = next((f for f in flows if message.message_id in f.screen.get(TYPED, {}).values()),
                flows[0] if flows else None)
    if flow is not None:
        ctx.locale = flow.q.locale_for(locale)
    qid = next((q for q, m in flow.screen.get(TYPED, {}).items() if m == message.message_id), None) \
        if flow is not None else None
    question = flow.q.question(qid) if flow is not None and qid is not None else None
    if flow is None or question is None or flow.state.answers.get(question.id) is None \
            or question.id not in {x.id for x in _applicable(flow)}:
        closed = await _closed_note(ctx) if flow is None else None
        role = "organizer" if ctx.is_organizer else "cadre" if ctx.is_cadre else "resident"
        await message.answer(closed or ctx.t(f"{role}.edit-ignored"))
        return
    typed_value: Any = message.text or ""
    if question.type in ("single", "scale"):  # an option's words typed (比较满意), edited to another's
        typed_value = typed_choice(question, typed_value)
        if typed_value is None:
            await message.answer(ctx.t("resident.use-buttons") + "\n" + ctx.t("resident.edit-kept"))
            return
    new, error = flow.state.answer(flow.q, typed_value, flow.items, question_id=question.id)
    if error is not None:
        await message.answer(error.message(ctx.locale) + "\n" + ctx.t("resident.edit-kept"))
        return
    # the same screen as before: only that answer changed (the ticks left on the one on screen stay)
    _record(flow, FlowState.from_stored(flow.q, new.stored(), flow.items, current=flow.state.current),
            answered=question.id)
    saved = ctx.t("resident.edit-saved")  # one line: what was read, where it isn't the words typed
    if question.type == "number" and not plain_number(message.text or ""):
        saved = ctx.t("resident.edit-saved-as", answer=new.answers[question.id])
    elif question.type in ("single", "scale"):
        saved = ctx.t("resident.edit-saved-as",
                      answer=html.escape(answer_text(question, typed_value, flow.items, ctx.locale)))
    await message.answer(saved)
    await state.update_data({FSM_KEY: flow.response.id})
    await show(ctx, flow, message=message)


@router.message(~F.text)
async def not_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """Stickers, photos, voice notes, locations…: say what we need, and show the question again."""
    if not await first_of_album(message, state):
        return
    if not await resume(message, ctx, state, note=not_text_note(message, ctx.t("resident.not-text"), ctx.t)):
        await message.answer(await _no_questionnaire(ctx))
