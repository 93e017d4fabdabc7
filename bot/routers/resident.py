"""The resident's questionnaire in the chat: from the deep link (`/start <code>`) to
"thank you", one question at a time in one message edited in place, with back,
skip, pause (/cancel), resume on any message, and a summary with 修改 (change)
until the deadline.

Every answer is committed before the bot shows the next question. Where the person
is comes from the database (their answers) plus the question on screen, kept in
the FSM (persistent); if that is lost they resume at the first unanswered question.
Buttons carry ids only and are re-checked on every press: the response must be the
presser's, the message must be the live question message, and the consultation
must be open.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.context import Ctx
from bot.questionnaires import items_of, questionnaire_of
from storage import consultations as repo
from storage.models import Consultation, Response
from surveys.consultation import Window, format_local, normalize_code, window
from surveys.flow import FlowState, ItemRef, applicable, eligible_items, summary_lines
from surveys.questionnaire import SCALE_POINTS, UNSURE, Question, Questionnaire

router = Router(name="resident")
router.message.filter(F.chat.type == "private")

PICK_PAGE = 8
FSM_KEY = "rq"  # FSM data key holding the resident flow's screen state


class BeginCB(CallbackData, prefix="rb"):
    """Start (or resume) the questionnaire of the consultation behind a link."""

    c: int  # consultation id
    t: int  # township id


class QCB(CallbackData, prefix="q"):
    """A press on the question message. a: o=option, t=toggle, d=done, p=scale point,
    r=rate an item, k=pick an item, g=page, s=skip, b=back, z=pause."""

    r: int  # response id
    q: str  # question id
    a: str
    v: str = ""


class EditCB(CallbackData, prefix="qe"):
    """From the summary: q="" lists the questions, q=id asks that one again, q="!" shows the summary."""

    r: int
    q: str = ""


@dataclass
class Flow:
    """One resident's questionnaire, loaded for one update."""

    consultation: Consultation
    response: Response
    township: str
    q: Questionnaire
    items: tuple[ItemRef, ...]
    state: FlowState
    screen: dict[str, Any]  # FSM: current question, multi-select and rating drafts, page


# --- loading -----------------------------------------------------------------------------


async def _load(ctx: Ctx, fsm: FSMContext, response: Response, consultation: Consultation) -> Flow:
    link = await repo.link_for_township(ctx.session, consultation.id, response.township_id)
    items = await items_of(ctx.session, link.list_id) if link else ()
    q = questionnaire_of(consultation.questionnaire)
    data = await fsm.get_data()
    screen = data.get(FSM_KEY) or {}
    if screen.get("r") != response.id:
        screen = {"r": response.id}
    stored = await repo.answers(ctx.session, response.id)
    state = FlowState.from_stored(q, stored, items, current=screen.get("cur"))
    return Flow(consultation, response, link.township if link else "", q, items, state, screen)


async def _save_screen(fsm: FSMContext, flow: Flow) -> None:
    flow.screen["cur"] = flow.state.current
    await fsm.update_data({FSM_KEY: flow.screen})


def _window(ctx: Ctx, consultation: Consultation) -> Window:
    return window(consultation.status, consultation.opens_at, consultation.closes_at, ctx.now())


def _window_text(ctx: Ctx, consultation: Consultation, w: Window) -> str:
    tz = ctx.settings.timezone
    key = "resident.not-yet" if w == Window.NOT_YET else "resident.closed"
    return ctx.t(key, title=html.escape(consultation.title), opens=format_local(consultation.opens_at, tz),
                 closes=format_local(consultation.closes_at, tz))


# --- rendering -----------------------------------------------------------------------------


def _btn(text: str, data: CallbackData | str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data if isinstance(data, str) else data.pack())


def render_question(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup]:
    question = flow.state.question(flow.q)
    assert question is not None
    loc = ctx.locale
    shown = [x.id for x in _applicable(flow)]
    n = shown.index(question.id) + 1 if question.id in shown else len(shown)
    lines = [ctx.t("resident.progress", n=n, m=len(shown)), "", f"<b>{html.escape(question.text.get(loc))}</b>"]
    if question.help:
        lines.append(f"<i>{html.escape(question.help.get(loc))}</i>")
    r, qid = flow.response.id, question.id
    rows: list[list[InlineKeyboardButton]] = []
    previous = flow.state.answers.get(qid)
    match question.type:
        case "single":
            for o in question.options:
                mark = "● " if previous == o.id else ""
                rows.append([_btn(mark + o.text.get(loc), QCB(r=r, q=qid, a="o", v=o.id))])
        case "multi":
            chosen = set(flow.screen.get("sel", {}).get(qid, previous or []))
            high = question.max_choices or len(question.options)
            lines.append(ctx.t("resident.hint-multi", min=question.min_choices, max=high))
            for o in question.options:
                mark = "☑ " if o.id in chosen else "☐ "
                rows.append([_btn(mark + o.text.get(loc), QCB(r=r, q=qid, a="t", v=o.id))])
            rows.append([_btn(ctx.t("resident.btn-done", n=len(chosen)), QCB(r=r, q=qid, a="d"))])
        case "scale":
            labels = [f"{p} = {html.escape(lbl.get(loc))}" for p, lbl in question.labels]
            if labels:
                lines.append(ctx.t("resident.scale-labels", labels="；".join(labels) if loc != "en" else "; ".join(labels)))
            rows.append([_btn(("●" if previous == p else "") + str(p), QCB(r=r, q=qid, a="p", v=str(p)))
                         for p in SCALE_POINTS])
            if question.allow_unsure:
                rows.append([_btn(ctx.t("resident.btn-unsure"), QCB(r=r, q=qid, a="p", v=UNSURE))])
        case "text":
            lines.append(ctx.t("resident.hint-text", max=question.max_length))
        case "number":
            lines.append(ctx.t("resident.hint-number"))
        case "item_rating":
            rated = flow.screen.get("rate", {}).get(qid, {})
            todo = [i for i in eligible_items(question, flow.items) if str(i.id) not in rated]
            item = todo[0] if todo else eligible_items(question, flow.items)[-1]
            total = len(eligible_items(question, flow.items))
            lines.append(ctx.t("resident.rating-item", k=total - len(todo) + 1, n=total, name=html.escape(item.name)))
            rows.append([_btn(str(p), QCB(r=r, q=qid, a="r", v=f"{item.id}.{p}")) for p in SCALE_POINTS])
            if question.allow_unsure:
                rows.append([_btn(ctx.t("resident.btn-unsure"), QCB(r=r, q=qid, a="r", v=f"{item.id}.{UNSURE}"))])
        case "item_pick":
            chosen = set(flow.screen.get("sel", {}).get(qid, previous or []))
            choices = eligible_items(question, flow.items)
            page = int(flow.screen.get("page", 0))
            pages = max(1, -(-len(choices) // PICK_PAGE))
            page = min(page, pages - 1)
            lines.append(ctx.t("resident.hint-pick", max=question.max_picks))
            for i in choices[page * PICK_PAGE:(page + 1) * PICK_PAGE]:
                mark = "☑ " if i.id in chosen else "☐ "
                rows.append([_btn(mark + i.name[:40], QCB(r=r, q=qid, a="k", v=str(i.id)))])
            if pages > 1:
                nav = []
                if page > 0:
                    nav.append(_btn("‹", QCB(r=r, q=qid, a="g", v=str(page - 1))))
                nav.append(_btn(f"{page + 1}/{pages}", "noop"))
                if page < pages - 1:
                    nav.append(_btn("›", QCB(r=r, q=qid, a="g", v=str(page + 1))))
                rows.append(nav)
            rows.append([_btn(ctx.t("resident.btn-done", n=len(chosen)), QCB(r=r, q=qid, a="d"))])
    if previous is not None and question.type in ("text", "number"):
        lines.append(ctx.t("resident.current-answer", answer=html.escape(str(previous))))
    nav_row = []
    if shown and shown[0] != qid:
        nav_row.append(_btn(ctx.t("resident.btn-back"), QCB(r=r, q=qid, a="b")))
    if not question.required:
        nav_row.append(_btn(ctx.t("resident.btn-skip"), QCB(r=r, q=qid, a="s")))
    nav_row.append(_btn(ctx.t("resident.btn-pause"), QCB(r=r, q=qid, a="z")))
    rows.append(nav_row)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _applicable(flow: Flow) -> list[Question]:
    return applicable(flow.q, flow.state.stored(), flow.items)


def render_summary(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = summary_lines(flow.q, flow.state.stored(), flow.items, ctx.locale)
    deadline = format_local(flow.consultation.closes_at, ctx.settings.timezone)
    text = "\n".join([ctx.t("resident.thanks", title=html.escape(flow.consultation.title)), "",
                      *(html.escape(line) for line in lines), "", ctx.t("resident.can-change", deadline=deadline)])
    if _window(ctx, flow.consultation) != Window.OPEN:
        return text, None
    kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("resident.btn-change"), EditCB(r=flow.response.id))]])
    return text, kb


def render_change_menu(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup]:
    rows = []
    for n, question in enumerate(_applicable(flow), start=1):
        label = question.text.get(ctx.locale)
        label = label if len(label) <= 28 else label[:27] + "…"
        rows.append([_btn(f"{n}. {label}", EditCB(r=flow.response.id, q=question.id))])
    rows.append([_btn(ctx.t("resident.btn-back-summary"), EditCB(r=flow.response.id, q="!"))])
    return ctx.t("resident.change-which"), InlineKeyboardMarkup(inline_keyboard=rows)


def render_screen(ctx: Ctx, flow: Flow) -> tuple[str, InlineKeyboardMarkup | None]:
    if flow.state.current is None:
        return render_summary(ctx, flow)
    return render_question(ctx, flow)


async def show(ctx: Ctx, fsm: FSMContext, flow: Flow, query: CallbackQuery | None = None,
               message: Message | None = None) -> None:
    """Put the flow's current screen on the live message (edit in place), or send it
    as a new message that becomes the live one."""
    await _save_screen(fsm, flow)
    text, kb = render_screen(ctx, flow)
    if query is not None and isinstance(query.message, Message):
        await ctx.commit()
        await query.message.edit_text(text, reply_markup=kb)
        return
    target = message
    assert target is not None
    sent = await target.answer(text, reply_markup=kb)
    flow.response.message_id = sent.message_id
    await ctx.commit()


async def _record(ctx: Ctx, flow: Flow, new: FlowState) -> None:
    """Store the difference between the old and the new state, and completion."""
    old, now = flow.state.stored(), new.stored()
    changed = {k: v for k, v in now.items() if k not in old or old[k] != v}
    dropped = [k for k in old if k not in now]
    await repo.save_answers(ctx.session, flow.response.id, changed, dropped)
    complete = new.current is None and new.is_complete(flow.q, flow.items)
    if complete != (flow.response.completed_at is not None):
        await repo.set_completed(ctx.session, flow.response.id, complete)
        flow.response.completed_at = ctx.now() if complete else None
    flow.state = new
    for draft in ("sel", "rate"):
        flow.screen.get(draft, {}).pop(new.current or "", None)


# --- /start and the welcome ---------------------------------------------------------------------


@router.message(CommandStart(deep_link=True))
async def start_with_code(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
    found = await repo.link_by_code(ctx.session, normalize_code(command.args or ""))
    if found is None:
        await message.answer(ctx.t("resident.bad-code"))
        return
    consultation, link = found
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        await message.answer(_window_text(ctx, consultation, w))
        return
    response = await repo.get_response(ctx.session, consultation.id, ctx.person.id)
    if response is not None:
        flow = await _load(ctx, state, response, consultation)
        await show(ctx, state, flow, message=message)
        return
    q = questionnaire_of(consultation.questionnaire)
    count = len(q.questions)
    intro = consultation.intro or q.intro.get(ctx.locale)
    text = ctx.t("resident.welcome", title=html.escape(consultation.title), township=html.escape(link.township),
                 deadline=format_local(consultation.closes_at, ctx.settings.timezone),
                 questions=count, minutes=q.estimated_minutes, intro=html.escape(intro))
    kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("resident.btn-start"),
                                                     BeginCB(c=consultation.id, t=link.township_id))]])
    await message.answer(text, reply_markup=kb)


@router.callback_query(BeginCB.filter())
async def begin(query: CallbackQuery, callback_data: BeginCB, ctx: Ctx, state: FSMContext) -> None:
    consultation = await ctx.session.get(Consultation, callback_data.c)
    link = await repo.link_for_township(ctx.session, callback_data.c, callback_data.t) if consultation else None
    if consultation is None or link is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        await query.answer(_window_text(ctx, consultation, w), show_alert=True)
        return
    response = await repo.start_response(ctx.session, consultation.id, ctx.person.id, link.township_id)
    if isinstance(query.message, Message):
        response.message_id = query.message.message_id
    flow = await _load(ctx, state, response, consultation)
    await query.answer()
    await show(ctx, state, flow, query=query)


@router.message(CommandStart())
async def start_plain(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not await resume(message, ctx, state):
        await message.answer(ctx.t("resident.hello"))


# --- presses on the question message ------------------------------------------------------------


async def _flow_for_press(query: CallbackQuery, response_id: int, ctx: Ctx, state: FSMContext) -> Flow | None:
    """The presser's own response, pressed on its live message, in an open consultation; else None
    (and the press is answered with why)."""
    response = await ctx.session.get(Response, response_id)
    if response is None or response.person_id != ctx.person.id:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return None
    consultation = await ctx.session.get(Consultation, response.consultation_id)
    assert consultation is not None
    w = _window(ctx, consultation)
    if w != Window.OPEN:
        await query.answer(_window_text(ctx, consultation, w), show_alert=True)
        return None
    if not isinstance(query.message, Message) or (response.message_id is not None
                                                   and query.message.message_id != response.message_id):
        await query.answer(ctx.t("error.old-message"), show_alert=True)
        return None
    return await _load(ctx, state, response, consultation)


@router.callback_query(QCB.filter())
async def press(query: CallbackQuery, callback_data: QCB, ctx: Ctx, state: FSMContext) -> None:
    flow = await _flow_for_press(query, callback_data.r, ctx, state)
    if flow is None:
        return
    question = flow.q.question(callback_data.q)
    if question is None or callback_data.q != flow.state.current:
        await query.answer(ctx.t("error.old-message"), show_alert=True)
        return
    action, value = callback_data.a, callback_data.v
    qid = question.id
    new: FlowState | None = None
    error = None
    if action == "o":
        new, error = flow.state.answer(flow.q, value, flow.items)
    elif action == "p":
        new, error = flow.state.answer(flow.q, int(value) if value.isdigit() else value, flow.items)
    elif action in ("t", "k"):
        sel = flow.screen.setdefault("sel", {})
        chosen = list(sel.get(qid, flow.state.answers.get(qid) or []))
        key: Any = value if action == "t" else (int(value) if value.isdigit() else -1)
        valid = question.option(value) is not None if action == "t" else \
            any(i.id == key for i in eligible_items(question, flow.items))
        if not valid:
            await query.answer(ctx.t("error.stale-button"), show_alert=True)
            return
        if key in chosen:
            chosen.remove(key)
        else:
            high = question.max_choices or len(question.options) if action == "t" else question.max_picks
            if len(chosen) >= high:
                await query.answer(ctx.t("flow.too-many", max=high), show_alert=True)
                return
            chosen.append(key)
        sel[qid] = chosen
    elif action == "d":
        chosen = flow.screen.get("sel", {}).get(qid, flow.state.answers.get(qid) or [])
        new, error = flow.state.answer(flow.q, list(chosen), flow.items)
    elif action == "r":
        item, _, point = value.partition(".")
        rate = flow.screen.setdefault("rate", {}).setdefault(qid, {})
        allowed = {str(i.id) for i in eligible_items(question, flow.items)}
        if item not in allowed or not (point == UNSURE or (point.isdigit() and int(point) in SCALE_POINTS)):
            await query.answer(ctx.t("error.stale-button"), show_alert=True)
            return
        rate[item] = int(point) if point.isdigit() else point
        if allowed <= rate.keys():
            new, error = flow.state.answer(flow.q, dict(rate), flow.items)
    elif action == "g":
        flow.screen["page"] = int(value) if value.isdigit() else 0
    elif action == "s":
        new, error = flow.state.skip(flow.q, flow.items)
    elif action == "b":
        flow.state = flow.state.back(flow.q, flow.items)
        flow.screen.pop("page", None)
    elif action == "z":
        await _save_screen(state, flow)
        await ctx.commit()
        await query.answer()
        await query.message.edit_text(ctx.t("resident.paused"), reply_markup=None)  # type: ignore[union-attr]
        return
    else:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if error is not None:
        await query.answer(error.message(ctx.locale), show_alert=True)
        return
    if new is not None:
        await _record(ctx, flow, new)
        flow.screen.pop("page", None)
    await query.answer()
    await show(ctx, state, flow, query=query)


@router.callback_query(EditCB.filter())
async def change_answer(query: CallbackQuery, callback_data: EditCB, ctx: Ctx, state: FSMContext) -> None:
    flow = await _flow_for_press(query, callback_data.r, ctx, state)
    if flow is None:
        return
    await query.answer()
    if callback_data.q == "":
        text, kb = render_change_menu(ctx, flow)
        await query.message.edit_text(text, reply_markup=kb)  # type: ignore[union-attr]
        return
    if callback_data.q != "!":
        if callback_data.q not in {x.id for x in _applicable(flow)}:
            await query.answer(ctx.t("error.stale-button"), show_alert=True)
            return
        flow.state = FlowState(flow.state.answers, flow.state.skipped, callback_data.q)
    await show(ctx, state, flow, query=query)


# --- typed answers, and anything else --------------------------------------------------------------


async def _active_flow(ctx: Ctx, state: FSMContext) -> Flow | None:
    found = await repo.open_response_of(ctx.session, ctx.person.id)
    if found is None:
        return None
    response, consultation = found
    if _window(ctx, consultation) != Window.OPEN:
        return None
    return await _load(ctx, state, response, consultation)


async def resume(message: Message, ctx: Ctx, state: FSMContext, note: str | None = None) -> bool:
    """Show the person's open questionnaire again (as a new live message); False when there is none."""
    flow = await _active_flow(ctx, state)
    if flow is None:
        return False
    if note:
        await message.answer(note)
    await show(ctx, state, flow, message=message)
    return True


@router.message(F.text & ~F.text.startswith("/"))
async def typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    flow = await _active_flow(ctx, state)
    if flow is None:
        await message.answer(ctx.t("resident.no-consultation"))
        return
    question = flow.state.question(flow.q)
    if question is None or question.type not in ("text", "number"):
        note = ctx.t("resident.use-buttons") if question is not None else None
        if note:
            await message.answer(note)
        await show(ctx, state, flow, message=message)
        return
    new, error = flow.state.answer(flow.q, message.text or "", flow.items)
    if error is not None:
        await message.answer(error.message(ctx.locale))
        return
    await _record(ctx, flow, new)
    await show(ctx, state, flow, message=message)


@router.message(~F.text)
async def not_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """Stickers, photos, voice notes, locations…: say what we need, and show the question again."""
    if not await resume(message, ctx, state, note=ctx.t("resident.not-text")):
        await message.answer(ctx.t("resident.no-consultation"))

