"""The organizers' console in the chat: create a consultation step by step (/new),
open and close it, move its deadline (/deadline), share its links and QR codes, watch
progress (/stats), answer comments (/comments), message every participant (/announce),
invite cadres (/invite), and take the results workbook (/export; once closed, with the
final report's charts and the draft 反馈情况说明 as it stands) or a digest (/digest) at any time.

Every handler and every press re-checks on the server that the person is an
organizer (`OrganizerOnly`); callback data carries ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import io
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
import sqlalchemy as sa
from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
)

from bot.broadcaster import Broadcaster, BroadcastResult, Outgoing, Render
from bot.context import Ctx, Num
from bot.limits import (
    BUTTON_WIDTH,
    BUTTONS_LIMIT,
    CAPTION_LIMIT,
    TEXT_LIMIT,
    fit_lines,
    fit_plain,
    fit_width,
    units,
    visible_units,
    width,
)
from bot.retry import waiting_out_floods
from bot.routers import edit_or_send, first_of_album, not_text_note
from bot.texts import gettext, zone_name
from storage import consultations as repo
from storage import lists as lists_repo
from storage import outbox
from storage.comments import MAX_TEXT, NEEDS_REASON, check_text
from storage.consultations import MAX_TITLE
from storage.models import Consultation, DutyListRow, OffListReport, Township
from storage.sql import as_id
from surveys.consultation import (
    KIND_ORDER,
    DeadlinePassed,
    DeadlineRefused,
    FollowUp,
    ListConflict,
    NoSuchDay,
    Status,
    TimePassed,
    TransitionError,
    bad_date_examples,
    check_deadline_editable,
    check_new_deadline,
    deadline_weekday,
    deep_link,
    ended_at,
    example_deadline,
    format_deadline,
    format_local,
    is_digest_setting,
    parse_digest_hour,
    parse_local,
)
from surveys.duty_list import ListStatus
from surveys.problems import tally
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH, load_questionnaire
from surveys.text import drop_nul, lines_within

log = logging.getLogger(__name__)

router = Router(name="organizer")
router.message.filter(F.chat.type == "private")

MAX_ANNOUNCEMENT = 3500
TOWNSHIP_BUTTONS = 40  # townships offered as buttons (/new, a draft's import); the rest are typed
MAX_QUESTIONNAIRE_BYTES = 200_000


def _organizer_form(raw_state: str | None) -> bool:
    """Whether an FSM state is a step of one of this router's forms."""
    forms = (NewConsultation, Announce, ChangeDeadline, ReplyComment, ImportList)
    return raw_state is not None and any(raw_state in form.__all_states_names__ for form in forms)


class _OverLimit(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """A download's destination that stops it once more than `limit` bytes arrived: Telegram
    may leave a document's size out, and a local Bot API server serves files of up to 2 GB."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise _OverLimit
        return super().write(data)


class OrganizerOnly(BaseMiddleware):
    """Runs after a handler of this router matched: non-organizers are told so and stop here."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        ctx: Ctx | None = data.get("ctx")
        if ctx is None or not ctx.is_organizer:
            state: FSMContext | None = data.get("state")
            if state is not None and _organizer_form(data.get("raw_state")):
                # an organizer demoted with a form of theirs left open: dropped, or every text they
                # send (a questionnaire's answers among them) would be taken by it and refused here
                await state.clear()
            text = ctx.t("organizer.only") if ctx else "—"
            if isinstance(event, CallbackQuery):
                await event.answer(text, show_alert=True)
            elif isinstance(event, Message):
                if ctx is not None and event.from_user is not None:  # how an organizer-to-be gets in
                    text += "\n" + ctx.t("organizer.only-how", user_id=event.from_user.id)
                await event.answer(text)
            return None
        return await handler(event, data)


router.message.middleware(OrganizerOnly())
router.callback_query.middleware(OrganizerOnly())


class PickCB(CallbackData, prefix="op"):
    """Which consultation an action is for (when the command named none)."""

    act: str
    c: Num


class NewTownCB(CallbackData, prefix="on"):
    t: Num  # township id; 0 = done
    m: str = ""  # the /new it belongs to (its mark in the FSM data): an earlier /new's buttons do nothing


def _new_mark() -> str:
    return uuid.uuid4().hex[:8]


class NewCB(CallbackData, prefix="oc"):
    act: str  # default (questionnaire), open, draft, cancel
    m: str = ""  # as NewTownCB.m


class AnnounceCB(CallbackData, prefix="oa"):
    c: Num
    send: bool
    k: str = ""  # the preview's own mark (the end of its broadcast key): an older preview's buttons do nothing


class DeadlineCB(CallbackData, prefix="ot"):
    c: Num
    a: str  # save, tell (save, then tell the cadres), cancel
    m: str = ""  # the confirmation's mark (in the FSM data): an earlier one's buttons do nothing


class CloseCB(CallbackData, prefix="ox"):
    c: Num
    a: str  # close, cancel
    m: str = ""  # the confirmation's mark (in the FSM data): an earlier one's buttons do nothing


class CloseEarly(StatesGroup):
    confirm = State()


class NewConsultation(StatesGroup):
    title = State()
    townships = State()
    questionnaire = State()
    deadline = State()
    confirm = State()


class Announce(StatesGroup):
    text = State()
    confirm = State()


class ChangeDeadline(StatesGroup):
    value = State()
    confirm = State()


def _zone(ctx: Ctx) -> str:
    return zone_name(ctx.settings.timezone, ctx.locale)


def _new_deadline_ask(ctx: Ctx) -> str:
    return ctx.t("organizer.new-deadline", example=example_deadline(ctx.now(), ctx.settings.timezone), zone=_zone(ctx))


def _bad_date(ctx: Ctx) -> str:
    """An unreadable deadline: a few of the forms parse_local takes, on the example's day."""
    return ctx.t("organizer.bad-date", **bad_date_examples(ctx.now(), ctx.settings.timezone, ctx.locale))


def _btn(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


# --- choosing the consultation an action is about -------------------------------------------

# action → the statuses a consultation may have for it
ACTION_STATUSES: dict[str, tuple[str, ...]] = {
    "open": (Status.DRAFT.value, Status.CLOSED.value),
    "close": (Status.OPEN.value,),
    "deadline": (Status.DRAFT.value, Status.OPEN.value, Status.CLOSED.value),  # a closed one: extend, reopen
    "links": (Status.DRAFT.value, Status.OPEN.value),
    "stats": (Status.OPEN.value, Status.CLOSED.value, Status.REPORTED.value),
    "announce": (Status.OPEN.value, Status.CLOSED.value, Status.REPORTED.value),
    "export": (Status.OPEN.value, Status.CLOSED.value, Status.REPORTED.value),
    "digest": (Status.OPEN.value, Status.CLOSED.value),
    "comments": (Status.OPEN.value, Status.CLOSED.value, Status.REPORTED.value),
    "publish": (Status.CLOSED.value, Status.REPORTED.value),
}
ACTIONS: dict[str, Callable[..., Awaitable[None]]] = {}


def action(name: str):
    def register(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        ACTIONS[name] = fn
        return fn
    return register


async def _choose(message: Message, command: CommandObject | None, ctx: Ctx, act: str,
                  state: FSMContext) -> None:
    """Run `act` on the consultation named in the command, the only candidate, or the one picked."""
    await _drop_pending_answer(state)  # another command: a text typed next answers no comment
    allowed = ACTION_STATUSES[act]
    arg = (command.args or "").strip() if command else ""
    if arg:
        cid = as_id(arg)
        c = await ctx.session.get(Consultation, cid) if cid is not None else None
        if c is None:
            await message.answer(ctx.t("organizer.no-such", id=html.escape(arg)))
            return
        await _run(message, ctx, act, c, state)
        return
    everything = await repo.all_consultations(ctx.session)
    candidates = [c for c in everything if c.status in allowed]
    still_open = [c for c in everything if c.status == Status.OPEN.value]
    if not candidates and act == "publish" and still_open:  # what to do first, not only "none"
        await message.answer("\n".join(_publish_close_first(ctx, c) for c in still_open[-10:]))
        return
    if not candidates:
        await message.answer(ctx.t("organizer.none-for", action=ctx.t(f"organizer.act.{act}")))
        return
    if len(candidates) == 1:
        await ACTIONS[act](message, ctx, candidates[0], state)
        return
    rows = [[_btn(_pick_line(ctx, c), PickCB(act=act, c=c.id))] for c in candidates[-10:]]
    await message.answer(ctx.t("organizer.pick", action=ctx.t(f"organizer.act.{act}")),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def _pick_line(ctx: Ctx, c: Consultation) -> str:
    """"#3 <title> (open)": the title shortened to leave the status on a phone's button."""
    status = ctx.t("status." + c.status)
    room = BUTTON_WIDTH - width(ctx.t("organizer.pick-line", id=c.id, title="", status=status))
    return ctx.t("organizer.pick-line", id=c.id, title=fit_width(c.title, max(room, 4)), status=status)


@router.callback_query(PickCB.filter())
async def picked(query: CallbackQuery, callback_data: PickCB, ctx: Ctx, state: FSMContext) -> None:
    c = await ctx.session.get(Consultation, callback_data.c)
    if callback_data.act not in ACTIONS or c is None or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await query.answer()
    await _run(query.message, ctx, callback_data.act, c, state)  # (its status may have changed since the list)


async def _run(message: Message | InaccessibleMessage, ctx: Ctx, act: str, c: Consultation, state: FSMContext) -> None:
    """`act` on a consultation named by id or picked from a list: refused with the reason when its
    status does not allow it (/open, /close and /deadline say themselves why a status does not
    allow them)."""
    if act == "publish" and c.status == Status.OPEN.value:
        await message.answer(_publish_close_first(ctx, c))
        return
    if c.status not in ACTION_STATUSES[act] and act not in ("open", "close", "deadline"):
        await message.answer(ctx.t("organizer.wrong-status", id=c.id, status=ctx.t("status." + c.status),
                                   action=ctx.t(f"organizer.act.{act}")))
        return
    await ACTIONS[act](message, ctx, c, state)


def _publish_close_first(ctx: Ctx, c: Consultation) -> str:
    return ctx.t("organizer.publish-close-first", id=c.id, title=html.escape(fit_plain(c.title, 80)))


def _make_command(name: str):
    async def handler(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
        await _choose(message, command, ctx, name, state)
    handler.__name__ = f"{name}_cmd"
    return handler


# --- /consultations ---------------------------------------------------------------------------


@router.message(Command("consultations"))
async def consultations_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    await _drop_pending_answer(state)
    items = await repo.all_consultations(ctx.session)
    if not items:
        await message.answer(ctx.t("organizer.none-yet"))
        return
    # titles shortened: thirty of the longest (300 characters) would pass Telegram's 4,096
    shown = items[-30:]
    lines = [ctx.t("organizer.list-line", id=c.id, title=html.escape(fit_plain(c.title, 80)),
                   status=ctx.t("status." + c.status), when=_when(ctx, c, brief=True)) for c in shown]
    # the older ones counted, with how to reach them (they were left out without a word)
    older = items[:-len(shown)]
    tail = [ctx.t("organizer.list-older", n=len(older), first=older[0].id, last=older[-1].id)] if older else []
    # under each, the list version each township is consulted on, in the room the lines leave
    room = (TEXT_LIMIT - visible_units("\n".join([*lines, *tail]))) // len(shown) - 1  # (its line break)
    out = []
    for line, c in zip(lines, shown, strict=True):
        out.append(line)
        versions = []
        for link in await repo.links(ctx.session, c.id):
            row = await ctx.session.get(DutyListRow, link.list_id)
            versions.append(ctx.t("organizer.township-version", township=link.township,
                                  version=row.version if row else "?"))
        prefix = ctx.t("organizer.list-versions", versions="")
        if versions and room - units(prefix) > 1:
            out.append(html.escape(prefix + fit_plain(ctx.t("report.list-sep").join(versions), room - units(prefix))))
    await message.answer("\n".join([*out, *tail]))


def _when(ctx: Ctx, c: Consultation, brief: bool = False) -> str:
    """Its deadline; once closed, when it ended (and, closed early, the deadline it had; `brief`:
    only that it was early) — as the workbook and the 反馈情况说明 tell it."""
    tz = ctx.settings.timezone
    closes = format_deadline(c.closes_at, tz)
    if c.status not in (Status.CLOSED.value, Status.REPORTED.value):
        return ctx.t("organizer.when-closes", closes=closes)
    ended = ended_at(c.closes_at, c.closed_at)
    if ended < c.closes_at and brief:
        return ctx.t("organizer.when-ended-early", ended=format_deadline(ended, tz))
    if ended < c.closes_at:
        return ctx.t("organizer.when-closed-early", ended=format_deadline(ended, tz), closes=closes)
    return ctx.t("organizer.when-ended", ended=format_deadline(ended, tz))


# --- open, close ------------------------------------------------------------------------------


async def _transition(message: Message, ctx: Ctx, c: Consultation, target: Status) -> bool:
    """Whether the status changed (else the organizer was told why not)."""
    try:
        await repo.set_status(ctx.session, c, target, ctx.now())
    except DeadlinePassed:
        await message.answer(ctx.t("organizer.deadline-passed", id=c.id))
        return False
    except ListConflict as e:  # another open consultation of a township on another version
        await message.answer(e.text(ctx.locale, markup=True))
        return False
    except TransitionError as e:
        if e.current == e.target:
            await message.answer(ctx.t("organizer.already", id=c.id, status=ctx.t("status." + e.current.value)))
            return False
        await message.answer(ctx.t("organizer.bad-transition", id=c.id, current=ctx.t("status." + e.current.value),
                                   target=ctx.t("status." + e.target.value)))
        return False
    await ctx.commit()
    tz = ctx.settings.timezone
    # opened with a start set ahead: residents are told it has not started until then, so is the organizer
    key = "organizer.now-open-later" if target == Status.OPEN and c.opens_at and c.opens_at > ctx.now() \
        else f"organizer.now-{target.value}"
    await message.answer(ctx.t(key, id=c.id, title=html.escape(c.title), closes=format_deadline(c.closes_at, tz),
                               opens=format_local(c.opens_at, tz)))
    hook = _status_hooks.get(target)
    if hook is not None and message.bot is not None:
        await hook(message.bot, c.id)
    return True


# Called after a consultation changed status (the scheduler registers the final report here).
_status_hooks: dict[Status, Callable[[Bot, int], Awaitable[None]]] = {}


def on_status(target: Status, hook: Callable[[Bot, int], Awaitable[None]]) -> None:
    _status_hooks[target] = hook


@action("open")
async def do_open(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    await _transition(message, ctx, c, Status.OPEN)


@action("close")
async def do_close(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    """Closed at once when its deadline has passed (or it is not open: told why); before its
    deadline, what follows and cannot be undone by reopening it (the participants thanked, the
    final report sent) is shown first, to be confirmed."""
    if c.status != Status.OPEN.value or c.closes_at <= ctx.now():
        await _transition(message, ctx, c, Status.CLOSED)
        return
    counts = await repo.response_counts(ctx.session, c.id)
    unfinished = sum(started - completed for _tid, _name, started, completed in counts)
    mark = _new_mark()
    await state.set_state(CloseEarly.confirm)
    await state.set_data({"c": c.id, "m": mark})
    rows = [[_btn(ctx.t("organizer.btn-close-confirm"), CloseCB(c=c.id, a="close", m=mark)),
             _btn(ctx.t("organizer.btn-cancel"), CloseCB(c=c.id, a="cancel", m=mark))]]
    await message.answer(ctx.t("organizer.close-confirm", id=c.id, title=html.escape(c.title),
                               closes=format_deadline(c.closes_at, ctx.settings.timezone),
                               unfinished=ctx.t("organizer.close-unfinished", n=unfinished) if unfinished else ""),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(CloseEarly.confirm, CloseCB.filter())
async def close_confirm(query: CallbackQuery, callback_data: CloseCB, ctx: Ctx, state: FSMContext,
                        broadcaster: Broadcaster) -> None:
    data = await state.get_data()
    if data.get("m") != callback_data.m or data.get("c") != callback_data.c \
            or callback_data.a not in ("close", "cancel") or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await _taken(state, "close", callback_data.m)
    await query.answer()
    if callback_data.a == "cancel":
        await edit_or_send(query, ctx.t("organizer.close-cancelled", id=callback_data.c))
        return
    if not await _first_press(ctx, "close", callback_data.m, _message_id(query)):  # (another worker's tap closes it)
        return
    c = await ctx.session.get(Consultation, callback_data.c)
    if c is None:
        await edit_or_send(query, ctx.t("organizer.no-such", id=callback_data.c))
        return
    if isinstance(query.message, Message):  # the confirmation's buttons spent: what happened is said below
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=None)
    if await _transition(query.message, ctx, c, Status.CLOSED):  # (closed meanwhile: says it already is)
        await _tell_other_organizers(ctx, broadcaster, f"closed:{c.id}:{int(ctx.now().timestamp())}:organizers",
                                     "organizer.closed-by", id=c.id, title=html.escape(c.title), at=ctx.now())


@router.callback_query(CloseCB.filter())
async def close_pressed_again(query: CallbackQuery, callback_data: CloseCB, ctx: Ctx, state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "close", callback_data.m)


# --- /deadline: moving a deadline -------------------------------------------------------------
# `/deadline [ID]` asks for the new deadline, `/deadline ID 2026-12-20 18:00` takes it at once;
# either way old → new is shown to confirm. A closed consultation's new deadline extends and
# reopens it: the confirmation says so, and what follows (answers taken again, the final report
# made again at the new close). The rule is surveys.consultation.check_new_deadline, the change
# storage.consultations.set_deadline; the scheduler follows through `on_deadline`.


async def _named_consultation(message: Message, ctx: Ctx, word: str, state: FSMContext) -> Consultation | None:
    """The consultation a command's first word names (a pending question of an earlier command
    dropped); None, once the organizer is told there is no such consultation."""
    await _drop_pending_answer(state)
    cid = as_id(word)
    c = await ctx.session.get(Consultation, cid) if cid is not None else None
    if c is None:
        await message.answer(ctx.t("organizer.no-such", id=html.escape(word)))
    return c


@router.message(Command("deadline"))
async def deadline_cmd(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
    parts = (command.args or "").split(maxsplit=1)
    if len(parts) < 2:  # no deadline given: the consultation named, the only one, or the one picked
        await _choose(message, command, ctx, "deadline", state)
        return
    c = await _named_consultation(message, ctx, parts[0], state)
    if c is None:
        return
    if await _deadline_editable(message, ctx, c, state):
        await _deadline_typed(message, ctx, c, state, parts[1])


def _deadline_ask(ctx: Ctx, c: Consultation) -> str:
    tz = ctx.settings.timezone
    if c.status == Status.CLOSED.value:
        return ctx.t("organizer.reopen-ask", id=c.id, title=html.escape(c.title),
                     ended=format_deadline(ended_at(c.closes_at, c.closed_at), tz),
                     example=example_deadline(ctx.now(), tz), zone=_zone(ctx))
    return ctx.t("organizer.deadline-ask", id=c.id, title=html.escape(c.title), closes=format_deadline(c.closes_at, tz),
                 example=example_deadline(ctx.now(), tz), zone=_zone(ctx))


async def _deadline_editable(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> bool:
    """Whether `c`'s deadline may move at all; if not the organizer is told why."""
    try:
        check_deadline_editable(c.id, c.status, c.opens_at, c.closes_at, ctx.now())
        if c.status == Status.CLOSED.value:  # (its new deadline would reopen it)
            await repo.check_reopenable(ctx.session, c)
    except DeadlineRefused as e:
        await state.clear()
        await message.answer(e.text(ctx.locale, ctx.settings.timezone))
        return False
    except ListConflict as e:
        await state.clear()
        await message.answer(e.text(ctx.locale, markup=True))
        return False
    return True


@action("deadline")
async def do_deadline(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    if not await _deadline_editable(message, ctx, c, state):
        return
    await state.set_state(ChangeDeadline.value)
    await state.set_data({"c": c.id})
    await message.answer(_deadline_ask(ctx, c))


@router.message(ChangeDeadline.value, F.text & ~F.text.startswith("/"))
async def deadline_value(message: Message, ctx: Ctx, state: FSMContext) -> None:
    cid = (await state.get_data()).get("c")
    c = await ctx.session.get(Consultation, cid) if isinstance(cid, int) else None
    if c is None:
        await state.clear()
        await message.answer(ctx.t("organizer.no-such", id=html.escape(str(cid))))
        return
    if await _deadline_editable(message, ctx, c, state):
        await _deadline_typed(message, ctx, c, state, message.text or "")


async def _deadline_typed(message: Message, ctx: Ctx, c: Consultation, state: FSMContext, text: str) -> None:
    """The new deadline as typed (as /new reads one: a date alone is that day's 23:59): refused
    with the reason — the next text is read as another try — or shown old → new to confirm."""
    tz = ctx.settings.timezone
    reopen = c.status == Status.CLOSED.value
    try:
        new = parse_local(text, tz, end_of_day=True, now=ctx.now())
        check_new_deadline(c.id, c.status, c.opens_at, c.closes_at, new, ctx.now(), reopen)
    except (ValueError, DeadlineRefused) as e:
        await state.set_state(ChangeDeadline.value)
        await state.set_data({"c": c.id})
        await message.answer(e.text(ctx.locale, tz) if isinstance(e, DeadlineRefused)
                             else e.text(ctx.locale) if isinstance(e, (NoSuchDay, TimePassed)) else _bad_date(ctx))
        return
    mark = _new_mark()
    await state.set_state(ChangeDeadline.confirm)
    # whether it reopens is kept here, not in the button: a forged press cannot reopen anything
    await state.set_data({"c": c.id, "m": mark, "old": c.closes_at.isoformat(), "new": new.isoformat(),
                          "reopen": reopen})
    save, tell, confirm = (("organizer.btn-reopen-save", "organizer.btn-reopen-tell", "organizer.reopen-confirm")
                           if reopen else
                           ("organizer.btn-deadline-save", "organizer.btn-deadline-tell", "organizer.deadline-confirm"))
    rows = [[_btn(ctx.t(save), DeadlineCB(c=c.id, a="save", m=mark))]]
    if c.status != Status.DRAFT.value:  # a draft's cadres have nothing to comment on yet
        rows.append([_btn(ctx.t(tell), DeadlineCB(c=c.id, a="tell", m=mark))])
    rows.append([_btn(ctx.t("organizer.btn-cancel"), DeadlineCB(c=c.id, a="cancel", m=mark))])
    await message.answer(ctx.t(confirm, id=c.id, title=html.escape(c.title),
                               ended=format_deadline(ended_at(c.closes_at, c.closed_at), tz),
                               old=format_deadline(c.closes_at, tz), new=format_deadline(new, tz),
                               weekday=deadline_weekday(new, tz, ctx.locale), zone=_zone(ctx))
                         + _far_note(ctx, new), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(ChangeDeadline.confirm, DeadlineCB.filter())
async def deadline_confirm(query: CallbackQuery, callback_data: DeadlineCB, ctx: Ctx, state: FSMContext,
                           broadcaster: Broadcaster) -> None:
    data = await state.get_data()
    if data.get("m") != callback_data.m or data.get("c") != callback_data.c \
            or callback_data.a not in ("save", "tell", "cancel") or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await _taken(state, "deadline", callback_data.m)
    await query.answer()
    chat_id = query.message.chat.id  # (an InaccessibleMessage too: a confirm of days ago answers anew)
    if callback_data.a == "cancel":
        await edit_or_send(query, ctx.t("organizer.deadline-cancelled"))
        return
    if not await _first_press(ctx, "deadline", callback_data.m, _message_id(query)):  # (another worker's tap moved it, and says so)
        return
    c = await ctx.session.get(Consultation, callback_data.c)
    if c is None:
        await edit_or_send(query, ctx.t("organizer.no-such", id=callback_data.c))
        return
    tz = ctx.settings.timezone
    old, new = datetime.fromisoformat(data["old"]), datetime.fromisoformat(data["new"])
    reopen = data.get("reopen") is True
    try:
        await repo.set_deadline(ctx.session, c, new, ctx.now(), expected=old, reopen=reopen)
    except repo.DeadlineMoved as e:  # changed meanwhile (another organizer, the CLI): shown anew
        await edit_or_send(query, ctx.t("organizer.deadline-moved-meanwhile", id=c.id,
                                        closes=format_deadline(e.closes_at, tz)))
        return
    except DeadlineRefused as e:
        text = e.text(ctx.locale, tz)
        if e.reason in ("past", "before-start", "unchanged"):  # (time passed since): ask for another
            await state.set_state(ChangeDeadline.value)
            await state.update_data(c=c.id)
            text += "\n\n" + _deadline_ask(ctx, c)
        await edit_or_send(query, text)
        return
    except ListConflict as e:  # another consultation of a township opened meanwhile on another version
        await edit_or_send(query, e.text(ctx.locale, markup=True))
        return
    cadres = await repo.cadres(ctx.session, c.id) if callback_data.a == "tell" else []
    # each confirmed move told once: its own key (a move back to a deadline told before is news again)
    key = f"deadline:{c.id}:{int(old.timestamp())}:{int(new.timestamp())}:{data['m']}"
    if callback_data.a == "tell":  # kept with the new deadline: a stop or crash while sending resumes it
        await outbox.put(ctx.session, key, "deadline", {
            "c": c.id, "title": c.title, "old": old.isoformat(), "new": new.isoformat(),
            "tz": tz, "locale": ctx.settings.locale,
            "news": "organizer.reopen-news" if reopen else "organizer.deadline-news",
            "silent": bool(quiet := _quiet_note(ctx, c)),
            "note": {"chat": chat_id, "locale": ctx.locale, "text": "deadline-told"}}, cadres, ctx.now())
    await ctx.commit()
    await edit_or_send(query, ctx.t("organizer.reopen-saved" if reopen else "organizer.deadline-saved", id=c.id,
                                    title=html.escape(c.title), old=format_deadline(old, tz), new=format_deadline(new, tz))
                       + (quiet if callback_data.a == "tell" else ""))
    for hook in _deadline_hooks if query.bot is not None else ():  # (reopened: its jobs come back)
        await hook(query.bot, c.id)
    await _tell_other_organizers(ctx, broadcaster, f"{key}:organizers",
                                 "organizer.reopened-by" if reopen else "organizer.deadline-moved-by",
                                 id=c.id, title=html.escape(c.title), old_at=old, new_at=new)
    if callback_data.a == "tell":
        _in_background(send_kept(query.bot, broadcaster, key, ctx.clock), key)


async def _tell_other_organizers(ctx: Ctx, broadcaster: Broadcaster, key: str, msgid: str, *,
                                 old_at: datetime | None = None, new_at: datetime | None = None,
                                 at: datetime | None = None, **kw: Any) -> None:
    """A short note to every other organizer of what this one did (they share the consultations),
    each in their language; sent once per key."""
    note = await _note_for_others(ctx, msgid, old_at=old_at, new_at=new_at, at=at, **kw)
    if note is not None:
        await broadcaster.broadcast(key, *note)


async def _note_for_others(ctx: Ctx, msgid: str, *, old_at: datetime | None = None, new_at: datetime | None = None,
                           at: datetime | None = None, **kw: Any) -> tuple[list[int], Render] | None:
    """(the other organizers, their note) for `_tell_other_organizers`, read now (in the handler's
    session) to be sent later too; None: no other organizer."""
    from bot.texts import gettext
    from storage.models import Person
    from storage.people import organizers

    others = [p for p in await organizers(ctx.session, ctx.settings.organizer_ids) if p != ctx.person.id]
    if not others:
        return None
    tz = ctx.settings.timezone
    langs = {p.id: p.language for p in (await ctx.session.scalars(sa.select(Person).where(Person.id.in_(others)))).all()}
    name = html.escape(fit_plain(ctx.person.first_name, 60)) if ctx.person.first_name else str(ctx.person.id)

    times = {k: format_deadline(v, tz) for k, v in (("old", old_at), ("new", new_at), ("at", at)) if v is not None}

    def render(pid: int) -> Outgoing:
        return Outgoing(text=gettext(msgid, langs.get(pid) or ctx.settings.locale, name=name, **times, **kw))

    return others, render


async def _taken(state: FSMContext, form: str, mark: str) -> None:
    """A confirmation screen's press taken: the form is done, and remembers which screen it
    was, so that a second tap of a double tap on it is let go quietly (`_tapped_again`)."""
    await state.clear()
    await state.set_data({"taken": f"{form}:{mark}"})


async def _tapped_again(query: CallbackQuery, ctx: Ctx, state: FSMContext, form: str, mark: str) -> None:
    """A press on a confirmation screen no longer waiting for one: the second tap of a double
    tap on the screen whose press was taken changes nothing, quietly; an older screen's says
    it is spent."""
    if mark and (await state.get_data()).get("taken") == f"{form}:{mark}":
        await query.answer()
        return
    await query.answer(ctx.t("error.stale-button"), show_alert=True)


async def _first_press(ctx: Ctx, form: str, mark: str, where: object) -> bool:
    """Whether this is the one press of a confirmation `mark` (of `form`) that acts: `_taken` and
    `_tapped_again` guard a double tap through the chat's FSM state, which two webhook workers
    handling the two taps at the same instant both read before either writes — the second one's
    claim waits at the database for the first's commit and then finds it taken (it then does
    nothing: the first press answers the organizer). `where` (the confirmation message's id, the
    file's) keeps two organizers' marks that happen to be alike apart; no person's id goes into
    the key, which /delete_me could not find to erase."""
    from storage.followup import claim_once

    return await claim_once(ctx.session, f"{form}:{mark}:{where}", ctx.now())


def _message_id(query: CallbackQuery) -> int:
    return query.message.message_id if query.message is not None else 0


async def _spend_buttons(query: CallbackQuery) -> None:
    """A question answered: its buttons go (a later tap would only be told it is spent)."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=None)


@router.callback_query(DeadlineCB.filter())
async def deadline_pressed_again(query: CallbackQuery, callback_data: DeadlineCB, ctx: Ctx,
                                 state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "deadline", callback_data.m)


FAR = timedelta(days=366)  # a deadline further away than this is more likely a wrong year than meant


def _far_note(ctx: Ctx, closes: datetime) -> str:
    """Under a deadline's confirmation: a word to check the year when it is over a year away."""
    if closes - ctx.now() <= FAR:
        return ""
    return "\n\n" + ctx.t("organizer.deadline-far", days=(closes - ctx.now()).days)


def _quiet_note(ctx: Ctx, c: Consultation | None) -> str:
    """In the consultation's quiet hours (when no reminder goes): what the organizer is told of
    the messages they send now — delivered silently (the payload's "silent") — else ""."""
    follow = FollowUp.from_dict(c.settings if c is not None else None)
    if not follow.quiet(ctx.now().astimezone(ZoneInfo(ctx.settings.timezone))):
        return ""
    return "\n" + ctx.t("organizer.sent-silently", start=follow.quiet_start, end=follow.quiet_end)


def _deadline_news(p: dict[str, Any], langs: dict[int, str]) -> Render:
    """The new deadline to the consultation's cadres, each in their language, with the list one
    tap away."""
    from bot.routers.cadre import ListCB
    from bot.texts import gettext, normalize_locale

    tz, cid, title = p["tz"], p["c"], p["title"]
    old, new = datetime.fromisoformat(p["old"]), datetime.fromisoformat(p["new"])
    news = p.get("news", "organizer.deadline-news")  # the reopened one's text when it was reopened

    def render(pid: int) -> Outgoing:
        loc = normalize_locale(langs[pid]) if langs.get(pid) else p["locale"]
        button = InlineKeyboardButton(text=gettext("scheduler.btn-list", loc), callback_data=ListCB(c=cid).pack())
        return Outgoing(text=gettext(news, loc, title=html.escape(title),
                                     old=format_deadline(old, tz), new=format_deadline(new, tz)),
                        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]), silent=p.get("silent") is True)

    return render


def _announcement(p: dict[str, Any], _langs: dict[int, str]) -> Render:
    outgoing = Outgoing(text=p["text"], silent=p.get("silent") is True)  # one message for all: encoded once
    return lambda _pid: outgoing


def _changes_news(p: dict[str, Any], langs: dict[int, str]) -> Render:
    from bot.scheduler import changes_news

    return changes_news(p, langs)


def _organizer_note(p: dict[str, Any], langs: dict[int, str]) -> Render:
    """A note to the organizers of what was done outside the chat (`qingdan consultations close`)."""
    from bot.texts import gettext, normalize_locale

    at = format_deadline(datetime.fromisoformat(p["at"]), p["tz"])

    def render(pid: int) -> Outgoing:
        loc = normalize_locale(langs[pid]) if langs.get(pid) else p["locale"]
        return Outgoing(text=gettext(p["msgid"], loc, at=at, **p.get("args", {})))

    return render


# the kinds of kept broadcasts (storage.outbox): how each one's messages are made from its payload
_RENDERS: dict[str, Callable[[dict[str, Any], dict[int, str]], Render]] = {
    "announce": _announcement, "deadline": _deadline_news, "changes": _changes_news, "note": _organizer_note}


async def send_kept(bot: Bot | None, broadcaster: Broadcaster, key: str,
                    clock: Callable[[], datetime]) -> BroadcastResult | None:
    """Send the kept broadcast `key` (storage.outbox) to whoever has not got it yet, holding its
    lease meanwhile, then tell the organizer how it went — once, whichever run finishes it.
    The handler that took the press runs it; the scheduler's sync job runs it again when its
    sender stopped (bot.scheduler.resume_broadcasts). Cut off by a stop, it gives its lease
    back, so the next start takes it up at once. Returns this run's counts (None: nothing to
    send, it was done)."""
    from storage.engine import make_sessionmaker
    from storage.followup import languages
    from storage.models import Outbox

    sessions = make_sessionmaker(broadcaster.engine)
    async with sessions() as session:
        row = await session.get(Outbox, key)
        if row is None or row.done_at is not None:
            return None
        kind, payload = row.kind, dict(row.payload)
        to = await outbox.recipients(session, key)
        langs = await languages(session, to) if to else {}
    keeper = asyncio.create_task(_keep_lease(sessions, key, clock))
    try:
        result = await broadcaster.broadcast(key, (), _RENDERS[kind](payload, langs))  # to its pending rows
    except BaseException:
        keeper.cancel()
        await asyncio.shield(_give_back(sessions, key, clock))
        raise
    keeper.cancel()
    async with sessions() as session:
        first = await outbox.finish(session, key, clock())
        counts = await outbox.totals(session, key)
        await session.commit()
    note = payload.get("note")
    if first and note:
        from bot.texts import gettext

        await _tell_organizer(bot, note["chat"], key, gettext(f"organizer.{note['text']}", note["locale"],
                                                              **counts, **note.get("args", {})))
    return result


async def _keep_lease(sessions: Any, key: str, clock: Callable[[], datetime]) -> None:
    while True:
        await asyncio.sleep(outbox.LEASE.total_seconds() / 4)
        try:
            async with sessions() as session:
                await outbox.renew(session, key, clock())
                await session.commit()
        except Exception as e:  # the database away a moment: the next try, or the scheduler resumes it
            log.warning("%s: could not renew its lease: %s", key, e)


async def _give_back(sessions: Any, key: str, clock: Callable[[], datetime]) -> None:
    try:
        async with sessions() as session:
            await outbox.renew(session, key, clock() - outbox.LEASE)
            await session.commit()
        log.info("%s: stopped before every recipient had it; the scheduler resumes it", key)
    except Exception as e:
        log.warning("%s: stopped before every recipient had it; resumed once its lease runs out (%s)", key, e)


# Called after a deadline moved (the scheduler registers moving the close job here).
_deadline_hooks: list[Callable[[Bot, int], Awaitable[None]]] = []


def on_deadline(hook: Callable[[Bot, int], Awaitable[None]]) -> None:
    if hook not in _deadline_hooks:
        _deadline_hooks.append(hook)


# --- links and QR codes ------------------------------------------------------------------------


def qr_png(url: str) -> bytes:
    import io

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


@action("links")
async def do_links(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    """A note to the organizer, then per township its QR code under a caption addressed to the
    residents, ready to forward as it is to the township's group: in the bot's language (LOCALE,
    the residents'), not the organizer's own, with the deadline in TIMEZONE and the link."""
    tz = ctx.settings.timezone
    township_links = await repo.links(ctx.session, c.id)
    later = c.opens_at is not None and c.opens_at > ctx.now()  # (a start set ahead: the link says "not yet")
    opens, closes = format_local(c.opens_at, tz), format_deadline(c.closes_at, tz)
    note = "organizer.links-head-draft" if c.status == Status.DRAFT.value \
        else "organizer.links-head-later" if later else "organizer.links-head"
    await message.answer(ctx.t(note, id=c.id, title=html.escape(c.title), n=len(township_links), opens=opens,
                               zone=_zone(ctx)))
    share = ctx.settings.locale
    when = gettext("organizer.link-when-later" if later else "organizer.link-when", share, opens=opens,
                   closes=closes, zone=zone_name(tz, share))
    for link in township_links:
        url = deep_link(ctx.bot_username, link.code)

        def caption_of(township: str, title: str, url: str = url) -> str:
            return gettext("organizer.link-caption", share, township=html.escape(township),
                           title=html.escape(title), when=when, url=url)

        # a caption holds 1,024 of Telegram's UTF-16 units: a long title and township name (an emoji
        # or 𠀀 is two) are shortened alike so that the link at its end stays (cut, it was lost)
        caption = caption_of(*fit_lines([link.township, c.title], CAPTION_LIMIT - visible_units(caption_of("", ""))))
        png = BufferedInputFile(qr_png(url), f"qr-{link.code}.png")
        await waiting_out_floods(lambda png=png, caption=caption: message.answer_photo(png, caption=caption))


# --- /stats ---------------------------------------------------------------------------------------


@action("stats")
async def do_stats(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    from storage.comments import comment_counts_by_township
    from surveys.report import percent_text  # (the report code loads only when used)

    lines = [ctx.t("organizer.stats-head", id=c.id, title=html.escape(c.title), status=ctx.t("status." + c.status),
                   when=_when(ctx, c))]
    comments = await comment_counts_by_township(ctx.session, c.id)
    counts = await repo.response_counts(ctx.session, c.id)
    townships = []
    for tid, township, started, completed in counts:
        rate = percent_text(completed, started) if started else "—"  # 四舍五入 to 0.1, as the digest and workbook
        townships.append(ctx.t("organizer.stats-township", township=html.escape(township), started=started,
                               completed=completed, rate=rate, comments=comments.get(tid, 0)))
    total = []
    if len(counts) > 1:  # the county's figures under the townships'
        started, completed = sum(row[2] for row in counts), sum(row[3] for row in counts)
        total.append(ctx.t("organizer.stats-total", started=started, completed=completed,
                           rate=percent_text(completed, started) if started else "—",
                           comments=sum(comments.get(row[0], 0) for row in counts)))
    rest = await _comment_stats(ctx, c.id)
    offlist = await ctx.session.scalar(sa.select(sa.func.count()).select_from(OffListReport)
                                       .where(OffListReport.consultation_id == c.id))
    rest.append(ctx.t("organizer.stats-offlist", n=offlist or 0))
    # a county of many townships: as many lines as leave room for the total, the comments and the
    # reports (cut at Telegram's limit they were lost), then how many more the workbook has
    lines += lines_within(townships, TEXT_LIMIT - visible_units("\n".join([*lines, *total, *rest])),
                          lambda n: ctx.t("organizer.stats-more", n=n, id=c.id), size=visible_units)
    await message.answer("\n".join([*lines, *total, *rest]))


async def _comment_stats(ctx: Ctx, consultation_id: int) -> list[str]:
    from storage import comments as comments_repo

    by_kind = await comments_repo.comment_counts_by_kind(ctx.session, consultation_id)
    lines = [ctx.t("organizer.stats-comments", total=sum(by_kind.values()))]
    lines += [ctx.t("organizer.stats-kind", kind=ctx.t(f"comment.kind.{k}"), n=n) for k, n in by_kind.items() if n]
    if by_kind:  # how they were handled, as the workbook and the 反馈情况说明 split them
        handled = await comments_repo.decision_counts(ctx.session, consultation_id)
        lines.append(ctx.t("organizer.stats-decisions", adopted=handled.get("adopted", 0),
                           partly=handled.get("partly", 0), rejected=handled.get("rejected", 0),
                           unanswered=sum(n for k, n in handled.items() if k not in ("adopted", "partly", "rejected"))))
    top = await comments_repo.most_commented_items(ctx.session, consultation_id, limit=5)
    if top:
        lines.append(ctx.t("organizer.stats-top"))
        # shortened as the digest's (a list's names are of any length: five of a thousand 𠀀 ran the
        # message past Telegram's limit, losing the reports' count after them)
        lines += [ctx.t("organizer.stats-top-item", name=html.escape(fit_plain(name, 120)), n=n) for _, name, n in top]
    return lines


# --- /new: creating a consultation step by step ------------------------------------------------------


@router.message(Command("new"))
async def new_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not await _townships_with_lists(ctx):  # nothing to consult on: no form to fill (and the file it asks for is taken)
        await state.clear()
        await message.answer(ctx.t("organizer.new-no-lists"))
        return
    await state.set_state(NewConsultation.title)
    await state.set_data({"m": _new_mark()})
    await message.answer(ctx.t("organizer.new-title"))


@router.message(NewConsultation.title, F.text & ~F.text.startswith("/"))
async def new_title(message: Message, ctx: Ctx, state: FSMContext) -> None:
    title = drop_nul(message.text).strip()
    if not title or len(title) > MAX_TITLE:
        await message.answer(ctx.t("organizer.new-title-bad", max=MAX_TITLE))
        return
    await state.update_data(title=title, townships=[])
    await state.set_state(NewConsultation.townships)
    text, kb = await _townships_screen(ctx, [], (await state.get_data()).get("m", ""))
    await message.answer(text, reply_markup=kb)


async def _townships_with_lists(ctx: Ctx) -> list[tuple[Township, DutyListRow]]:
    """Each township with its newest stored list."""
    out = []
    for township in await lists_repo.townships(ctx.session):
        row = await lists_repo.find_list(ctx.session, township.name)
        if row is not None:
            out.append((township, row))
    return out


async def _townships_screen(ctx: Ctx, chosen: list[int], mark: str) -> tuple[str, InlineKeyboardMarkup | None]:
    options = await _townships_with_lists(ctx)
    if not options:
        return ctx.t("organizer.new-no-lists"), None
    # (a button each for the first 40, and for those chosen past them, typed: see new_township_typed,
    # as many as Telegram's 100 buttons leave room for beside 完成)
    extra = [(t, row) for t, row in options[TOWNSHIP_BUTTONS:] if t.id in chosen]
    room = BUTTONS_LIMIT - 1 - min(len(options), TOWNSHIP_BUTTONS)
    shown = options[:TOWNSHIP_BUTTONS] + extra[:room]
    rows, cut = [], []
    for t, row in shown:
        label = ("☑ " if t.id in chosen else "☐ ") + ctx.t("organizer.township-version", township=t.name,
                                                            version=row.version)
        if width(label) > BUTTON_WIDTH:  # a long version label: a phone cuts it, so it is written out below
            cut.append("· " + html.escape(ctx.t("organizer.township-version", township=t.name, version=row.version)))
        rows.append([_btn(fit_width(label), NewTownCB(t=t.id, m=mark))])
    rows.append([_btn(ctx.t("organizer.btn-done", n=len(chosen)), NewTownCB(t=0, m=mark))])
    lines = [ctx.t("organizer.new-townships")]
    hints = []
    if len(options) > TOWNSHIP_BUTTONS:
        hints.append(ctx.t("organizer.new-townships-more", n=len(options) - TOWNSHIP_BUTTONS))
    if len(extra) > room:
        hints.append(ctx.t("organizer.new-townships-chosen-unshown", n=len(extra) - room, chosen=len(chosen)))
    if cut:  # (as many as leave room for what to do next)
        lines += ["", ctx.t("organizer.new-townships-versions")]
        lines += lines_within(cut, TEXT_LIMIT - visible_units("\n".join([*lines, *hints])),
                              lambda n: ctx.t("organizer.new-townships-versions-more", n=n), size=visible_units)
    text = "\n".join([*lines, *hints])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(NewConsultation.townships, F.text & ~F.text.startswith("/"))
async def new_township_typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """A township's name typed at the townships step (those past the buttons): chosen, or unchosen."""
    name = lists_repo.township_name(drop_nul(message.text))
    found = next((t for t, _ in await _townships_with_lists(ctx) if t.name == name), None)
    if found is None:
        await message.answer(ctx.t("organizer.new-township-unknown", township=html.escape(fit_plain(name, 100))))
        return
    data = await state.get_data()
    chosen: list[int] = list(data.get("townships", []))
    if found.id in chosen:
        chosen.remove(found.id)
    else:
        chosen.append(found.id)
    await state.update_data(townships=chosen)
    text, kb = await _townships_screen(ctx, chosen, data.get("m", ""))
    await message.answer(text, reply_markup=kb)


async def _same_new(query: CallbackQuery, ctx: Ctx, data: dict[str, Any], mark: str) -> bool:
    """Whether a press is on the screens of the /new in progress (else it is refused)."""
    if data.get("m", "") == mark:
        return True
    await query.answer(ctx.t("error.stale-button"), show_alert=True)
    return False


@router.callback_query(NewConsultation.townships, NewTownCB.filter())
async def new_township(query: CallbackQuery, callback_data: NewTownCB, ctx: Ctx, state: FSMContext) -> None:
    data = await state.get_data()
    if not await _same_new(query, ctx, data, callback_data.m):
        return
    chosen: list[int] = list(data.get("townships", []))
    if callback_data.t == 0:
        if not chosen:
            await query.answer(ctx.t("organizer.new-pick-one"), show_alert=True)
            return
        await query.answer()
        await state.set_state(NewConsultation.questionnaire)
        kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("organizer.btn-default-q"), NewCB(act="default", m=callback_data.m))]])
        await edit_or_send(query, ctx.t("organizer.new-questionnaire"), reply_markup=kb)
        return
    if callback_data.t not in {t.id for t, _ in await _townships_with_lists(ctx)}:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if callback_data.t in chosen:
        chosen.remove(callback_data.t)
    else:
        chosen.append(callback_data.t)
    await state.update_data(townships=chosen)
    await query.answer()
    text, kb = await _townships_screen(ctx, chosen, callback_data.m)
    await edit_or_send(query, text, reply_markup=kb)


@router.callback_query(NewConsultation.questionnaire, NewCB.filter(F.act == "default"))
async def new_default_questionnaire(query: CallbackQuery, callback_data: NewCB, ctx: Ctx, state: FSMContext) -> None:
    if not await _same_new(query, ctx, await state.get_data(), callback_data.m):
        return
    await state.update_data(questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))
    await state.set_state(NewConsultation.deadline)
    await query.answer()
    await edit_or_send(query, _new_deadline_ask(ctx))


@router.message(NewConsultation.questionnaire, F.document)
async def new_questionnaire_file(message: Message, ctx: Ctx, state: FSMContext, bot: Bot) -> None:
    if _is_list_file(message):  # a draft list, not a questionnaire: imported (this form dropped)
        await list_file_in_form(message, ctx, state, bot)
        return
    doc = message.document
    assert doc is not None
    if (doc.file_size or 0) > MAX_QUESTIONNAIRE_BYTES:
        await message.answer(ctx.t("organizer.q-too-big"))
        return
    try:
        buf = await bot.download(doc, destination=_CappedBuffer(MAX_QUESTIONNAIRE_BYTES))
    except _OverLimit:
        await message.answer(ctx.t("organizer.q-too-big"))
        return
    try:
        text = buf.read().decode("utf-8-sig") if buf else ""
    except UnicodeDecodeError:
        await message.answer(ctx.t("organizer.q-not-utf8"))
        return
    parsed, problems = load_questionnaire(text, filename=doc.file_name)
    if parsed is None:
        errors = [p for p in problems if p.is_error]
        lines = [ctx.t("organizer.q-error-at", line=p.line, error=html.escape(fit_plain(p.message(ctx.locale), 200)))
                 if p.line else html.escape(fit_plain(p.message(ctx.locale), 200)) for p in errors[:15]]
        if len(errors) > 15:
            lines.append(ctx.t("organizer.q-more-errors", n=len(errors) - 15))
        await message.answer(ctx.t("organizer.q-invalid") + "\n" + "\n".join(lines))
        return
    await state.update_data(questionnaire=text)
    await state.set_state(NewConsultation.deadline)
    # what `qingdan questionnaire check` warns of (texts the bot will shorten on a phone, too many
    # questions), said here too: an organizer who uploads it in the chat never ran the check
    lines = [ctx.t("organizer.q-ok", n=len(parsed.questions))]
    warnings = [ctx.t("organizer.q-error-at", line=p.line, error=html.escape(fit_plain(p.message(ctx.locale), 200)))
                if p.line else html.escape(fit_plain(p.message(ctx.locale), 200)) for p in problems if not p.is_error]
    if warnings:
        lines += [ctx.t("organizer.q-warnings"), *lines_within(
            warnings, 2000, lambda n: ctx.t("organizer.q-more-warnings", n=n), size=visible_units, most=15)]
    await message.answer("\n".join(lines) + "\n\n" + _new_deadline_ask(ctx))


@router.message(NewConsultation.questionnaire, F.text & ~F.text.startswith("/"))
async def new_questionnaire_text(message: Message, ctx: Ctx) -> None:
    await message.answer(ctx.t("organizer.new-questionnaire"))


@router.message(NewConsultation.deadline, F.text & ~F.text.startswith("/"))
async def new_deadline(message: Message, ctx: Ctx, state: FSMContext) -> None:
    try:
        closes = parse_local(message.text or "", ctx.settings.timezone, end_of_day=True, now=ctx.now())
    except ValueError as e:
        await message.answer(e.text(ctx.locale) if isinstance(e, (NoSuchDay, TimePassed)) else _bad_date(ctx))
        return
    if closes <= ctx.now():
        await message.answer(ctx.t("organizer.date-past", when=format_deadline(closes, ctx.settings.timezone)))
        return
    await state.update_data(closes=closes.isoformat())
    await state.set_state(NewConsultation.confirm)
    data = await state.get_data()
    names = [t.name for t, _ in await _townships_with_lists(ctx) if t.id in data["townships"]]
    kb = InlineKeyboardMarkup(inline_keyboard=[
        [_btn(ctx.t("organizer.btn-create-open"), NewCB(act="open", m=data.get("m", "")))],
        [_btn(ctx.t("organizer.btn-create-draft"), NewCB(act="draft", m=data.get("m", ""))),
         _btn(ctx.t("organizer.btn-cancel"), NewCB(act="cancel", m=data.get("m", "")))],
    ])
    def confirm(townships: str) -> str:
        return ctx.t("organizer.new-confirm", title=html.escape(data["title"]), townships=townships,
                     closes=format_deadline(closes, ctx.settings.timezone),
                     weekday=deadline_weekday(closes, ctx.settings.timezone, ctx.locale), zone=_zone(ctx))

    # very many townships of long names: the first ones, then how many more (cut at Telegram's
    # limit, the deadline after them was lost)
    sep = ctx.t("report.list-sep")
    escaped = [html.escape(n) for n in names]
    shown = lines_within(escaped, TEXT_LIMIT - visible_units(confirm("")) + len(sep),
                         lambda n: ctx.t("organizer.new-confirm-more", n=n), size=visible_units, sep=sep)
    more = "" if shown == escaped else shown.pop()
    await message.answer(confirm(sep.join(shown) + more) + _far_note(ctx, closes), reply_markup=kb)


@router.callback_query(NewConsultation.confirm, NewCB.filter())
async def new_confirm(query: CallbackQuery, callback_data: NewCB, ctx: Ctx, state: FSMContext) -> None:
    data = await state.get_data()
    if not await _same_new(query, ctx, data, callback_data.m):
        return
    if callback_data.act == "open":  # refused before anything is made: saving it as a draft stays possible
        chosen = [(t.id, row.id) for t, row in await _townships_with_lists(ctx) if t.id in data.get("townships", [])]
        clashes = await repo.version_clashes(ctx.session, chosen)
        if clashes:
            await query.answer()
            if query.message is not None:
                await query.message.answer(ListConflict("new", None, clashes).text(ctx.locale, markup=True))
            return
    await _taken(state, "new", callback_data.m)
    if callback_data.act == "cancel":
        await query.answer()
        await edit_or_send(query, ctx.t("organizer.new-cancelled"))
        return
    list_ids = [row.id for t, row in await _townships_with_lists(ctx) if t.id in data.get("townships", [])]
    if not list_ids or "questionnaire" not in data or "closes" not in data:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    closes = datetime.fromisoformat(data.pop("closes"))
    if closes <= ctx.now():  # the deadline typed earlier has passed meanwhile: ask for another
        await state.set_state(NewConsultation.deadline)
        await state.set_data(data)
        await query.answer()
        await edit_or_send(
            query, ctx.t("organizer.date-past") + "\n\n" + _new_deadline_ask(ctx))
        return
    if not await _first_press(ctx, "new", callback_data.m, _message_id(query)):  # (another worker's tap made it)
        await query.answer()
        return
    c = await repo.create_consultation(ctx.session, title=data["title"], questionnaire=data["questionnaire"],
                                       closes_at=closes, list_ids=list_ids,
                                       created_by=ctx.person.id)
    if callback_data.act == "open":
        await repo.set_status(ctx.session, c, Status.OPEN, ctx.now())
    await ctx.commit()
    await query.answer()
    key = "organizer.created-open" if callback_data.act == "open" else "organizer.created-draft"
    await edit_or_send(query, ctx.t(key, id=c.id, title=html.escape(c.title))
                       + (await _also_open_note(ctx, c.id, data.get("townships", [])) if callback_data.act == "open"
                          else ""))
    if callback_data.act == "open" and query.message is not None:
        await do_links(query.message, ctx, c, state)  # (an InaccessibleMessage too: it answers in the chat)


async def _also_open_note(ctx: Ctx, consultation_id: int, township_ids: list[int]) -> str:
    """Other consultations open for the townships of the one just opened (another organizer's,
    made at the same moment, or one's own forgotten): named, so that a duplicate is seen and closed."""
    from storage.comments import open_consultations_for_township

    lines = []
    for t, _row in await _townships_with_lists(ctx):
        if t.id not in township_ids:
            continue
        others = [c for c, _ in await open_consultations_for_township(ctx.session, t.id) if c.id != consultation_id]
        if others:
            lines.append(ctx.t("organizer.also-open-line", township=html.escape(fit_plain(t.name, 40)),
                               consultations=ctx.t("report.list-sep").join(
                                   f"#{c.id}《{html.escape(fit_plain(c.title, 40))}》" for c in others[:3])))
    if not lines:
        return ""
    more = ctx.t("organizer.new-confirm-more", n=len(lines) - 10) if len(lines) > 10 else ""
    return "\n\n" + ctx.t("organizer.also-open", lines="\n".join(lines[:10]) + more, id=consultation_id)


@router.callback_query(NewCB.filter())
async def new_pressed_again(query: CallbackQuery, callback_data: NewCB, ctx: Ctx, state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "new", callback_data.m)


# --- /announce ---------------------------------------------------------------------------------------


@action("announce")
async def do_announce(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    if not await repo.participants(ctx.session, c.id):  # nobody to send to: no text asked for
        await message.answer(ctx.t("organizer.announce-nobody", id=c.id, title=html.escape(c.title)))
        return
    await state.set_state(Announce.text)
    await state.set_data({"c": c.id})
    await message.answer(ctx.t("organizer.announce-ask", title=html.escape(c.title)))


@router.message(Announce.text, F.text & ~F.text.startswith("/"))
async def announce_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    text = (message.html_text or "").strip()
    if check_text(message.text)[1] == "empty":  # nothing visible: nothing to show, nor to send
        await message.answer(ctx.t("organizer.announce-empty"))
        return
    if visible_units(text) > MAX_ANNOUNCEMENT:  # as shown: the markup and escapes do not count
        await message.answer(ctx.t("organizer.announce-too-long", max=MAX_ANNOUNCEMENT))
        return
    data = await state.get_data()
    count = len(await repo.participants(ctx.session, data["c"]))
    if not count:  # (those there were when asked have since deleted themselves)
        await state.clear()
        c = await ctx.session.get(Consultation, data["c"])
        await message.answer(ctx.t("organizer.announce-nobody", id=data["c"], title=html.escape(c.title if c else "")))
        return
    mark = uuid.uuid4().hex[:12]
    await state.update_data(text=text, key=f"announce:{data['c']}:{mark}")
    await state.set_state(Announce.confirm)
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        _btn(ctx.t("organizer.btn-send", n=count), AnnounceCB(c=data["c"], send=True, k=mark)),
        _btn(ctx.t("organizer.btn-cancel"), AnnounceCB(c=data["c"], send=False, k=mark))]])
    await message.answer(ctx.t("organizer.announce-preview", n=count) + "\n\n" + text, reply_markup=kb)


@router.callback_query(Announce.confirm, AnnounceCB.filter())
async def announce_confirm(query: CallbackQuery, callback_data: AnnounceCB, ctx: Ctx, state: FSMContext,
                           broadcaster: Broadcaster) -> None:
    data = await state.get_data()
    if not str(data.get("key", "")).endswith(f":{callback_data.k}"):  # an earlier preview's: the newer one stays
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await _taken(state, "announce", callback_data.k)
    await query.answer()
    if not callback_data.send or data.get("c") != callback_data.c or "text" not in data:
        await edit_or_send(query, ctx.t("organizer.announce-cancelled"))
        return
    if not await _first_press(ctx, "announce", callback_data.k, _message_id(query)):  # (another worker's tap sends it)
        return
    recipients = await repo.participants(ctx.session, callback_data.c)
    c = await ctx.session.get(Consultation, callback_data.c)
    quiet = _quiet_note(ctx, c)
    # kept with the press: a stop or crash while sending resumes it (storage.outbox)
    await outbox.put(ctx.session, data["key"], "announce", {
        "text": data["text"], "silent": bool(quiet),
        "note": {"chat": query.from_user.id, "locale": ctx.locale, "text": "announce-done"}}, recipients, ctx.now())
    await ctx.commit()
    await edit_or_send(query, ctx.t("organizer.announce-sending", n=len(recipients)) + quiet)
    _in_background(send_kept(query.bot, broadcaster, data["key"], ctx.clock), data["key"])


@router.callback_query(AnnounceCB.filter())
async def announce_pressed_again(query: CallbackQuery, callback_data: AnnounceCB, ctx: Ctx,
                                 state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "announce", callback_data.k)


_background: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None], what: str) -> None:
    """Run a broadcast and its note to the organizer after the press is answered; kept (an
    unreferenced task may be collected mid-run) and never failing unseen: its error is logged."""
    async def run() -> None:
        try:
            await work
        except Exception:
            log.exception("%s: sending in the background failed", what)

    task = asyncio.create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _tell_organizer(bot: Bot | None, chat_id: int, what: str, text: str) -> None:
    """The "sent N" note after a broadcast. The broadcast is done and recorded whatever happens
    here; an organizer who blocked the bot, or an API error, costs only the note (logged)."""
    if bot is None:
        return
    try:
        await bot.send_message(chat_id, text)
    except TelegramForbiddenError:
        log.warning("%s: done, but organizer %s has blocked the bot and was not told how it went", what, chat_id)
    except TelegramAPIError as e:
        log.warning("%s: done, but telling organizer %s how it went failed: %s", what, chat_id, e)


async def wait_background() -> None:
    """For tests and shutdown: wait until background sends are done."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


# --- /comments: reading and answering cadres' comments -------------------------------------------


class CommentsCB(CallbackData, prefix="ok"):
    """A comment card: consultation, filter (u=unanswered, a=all, k<kind>, t<township id>,
    i<item id>), position in the filtered list."""

    c: Num
    f: str = "u"
    i: Num = 0


class DecideCB(CallbackData, prefix="od"):
    k: Num  # comment id
    d: str  # adopted, partly, rejected, hide, unhide, noreply (keeps an earlier reply), clear (erases it)
    f: str = "u"
    i: Num = 0
    a: str = ""  # on a noreply button: the decision its prompt asked about
    v: str = ""  # on a card's decision: what the comment said then (_comment_mark): rewritten since, refused


CARD_NAME = 200  # an item's or proposal's name, a category, on a comment card
CARD_FIELD = 600  # a proposed wording, a basis, the answer


class ReplyComment(StatesGroup):
    text = State()


async def _filtered(ctx: Ctx, c: int, f: str) -> list[Any]:
    from storage import comments as comments_repo

    kw: dict[str, Any] = {}
    if f == "u":
        kw["unanswered"] = True
    elif f.startswith("k"):
        kw["kind"] = f[1:]
    elif f.startswith("t") and as_id(f[1:]) is not None:
        kw["township_id"] = int(f[1:])
    elif f.startswith("i") and as_id(f[1:]) is not None:
        kw["item_id"] = int(f[1:])
    # Hidden comments stay within reach for audit (and to unhide them), but not in the queue of
    # those to answer: the reports count them nowhere, nor among the unanswered.
    return await comments_repo.comments_for(ctx.session, c, include_hidden=f != "u", **kw)


async def _comment_card(ctx: Ctx, c: int, f: str, i: int) -> tuple[str, InlineKeyboardMarkup]:
    from storage.models import DutyItemRow

    items = await _filtered(ctx, c, f)
    filters = [[_btn(ctx.t("organizer.f-unanswered"), CommentsCB(c=c, f="u")),
                _btn(ctx.t("organizer.f-all"), CommentsCB(c=c, f="a"))],
               [_btn(ctx.t(f"organizer.f-kind.{k}"), CommentsCB(c=c, f="k" + k)) for k in KIND_ORDER[:3]],
               [_btn(ctx.t(f"organizer.f-kind.{k}"), CommentsCB(c=c, f="k" + k)) for k in KIND_ORDER[3:]]]
    links = await repo.links(ctx.session, c)
    if len(links) > 1:  # every township; past Telegram's 100 buttons, those with comments (and the one chosen)
        room = BUTTONS_LIMIT - 7 - sum(len(row) for row in filters)  # (7: 3 decisions, hide, ‹ same item ›)
        if len(links) > room:
            from storage.comments import comment_counts_by_township

            with_comments = await comment_counts_by_township(ctx.session, c)
            links = [link for link in links if link.township_id in with_comments or f == f"t{link.township_id}"]
        township_buttons = [_btn(link.township, CommentsCB(c=c, f=f"t{link.township_id}")) for link in links[:room]]
        filters.extend(township_buttons[n:n + 4] for n in range(0, len(township_buttons), 4))
    if not items:
        text = ctx.t("organizer.no-comments")
        if f == "u":  # the first screen: none came yet, or all answered — each says what next
            every = await _filtered(ctx, c, "a")
            text = ctx.t("organizer.all-answered", n=len(every)) if every else ctx.t("organizer.no-comments-yet")
        return text, InlineKeyboardMarkup(inline_keyboard=filters)
    i = max(0, min(i, len(items) - 1))
    k = items[i]
    item = await ctx.session.get(DutyItemRow, k.item_id) if k.item_id else None
    township = await ctx.session.get(Township, k.township_id)
    # The comment's own text in full; what surrounds it shortened, so the card of the
    # longest fields fits one message with its answer and hidden mark.
    if item is not None:
        subject = ctx.t("organizer.comment-item", part=ctx.t(f"part.{item.part}"),
                        name=html.escape(fit_plain(item.name, CARD_NAME)))
    else:
        m = k.missing or {}
        subject = ctx.t("organizer.comment-missing", name=html.escape(fit_plain(str(m.get("name", "")), CARD_NAME)))
        part = ctx.t(f"part.{m['part']}") if m.get("part") in ("basic", "cooperating", "withdrawn") else "—"
        subject += "\n" + ctx.t("organizer.comment-missing-details", part=part,
                                 category=html.escape(fit_plain(str(m.get("category") or "—"), CARD_NAME)),
                                 basis=html.escape(fit_plain(str(m.get("basis") or "—"), CARD_FIELD)),
                                 department=html.escape(fit_plain(str(m.get("department") or "—"), CARD_NAME)))
    status = ctx.t(f"comment.decision.{k.decision}") if k.decision else ctx.t("comment.decision.open")
    lines = [ctx.t("organizer.comment-head", n=i + 1, total=len(items), id=k.id), subject,
             ctx.t("organizer.comment-meta", township=html.escape(township.name if township else ""),
                   kind=ctx.t(f"comment.kind.{k.kind}"), status=status),
             "", ""]  # the comment's text, below
    if k.proposed_wording:
        lines.append(ctx.t("organizer.comment-wording", text=html.escape(fit_plain(k.proposed_wording, CARD_FIELD))))
    if k.reply:
        lines.append(ctx.t("organizer.comment-reply", text=html.escape(fit_plain(k.reply, CARD_FIELD))))
    elif k.decision in NEEDS_REASON:  # decided before a reason was required: the report flags it too
        lines.append(ctx.t("organizer.comment-reason-missing", decision=ctx.t(f"organizer.btn-decide.{k.decision}")))
    if k.decision and k.replied_by:  # which organizer answered (several may answer one consultation's comments)
        lines.append(ctx.t("organizer.comment-replied-by", name=await _named_organizer(ctx, k.replied_by)))
    if k.hidden:
        lines.append(ctx.t("organizer.comment-hidden"))
        if k.hidden_by:  # (unknown for those hidden before it was kept)
            lines.append(ctx.t("organizer.comment-hidden-by", name=await _named_organizer(ctx, k.hidden_by)))
    # The text in full, unless it is long in Telegram's count (an emoji counts two): then it gives
    # way, so that the answer and the hidden mark below it are not the part cut off.
    lines[4] = html.escape(fit_plain(k.text, TEXT_LIMIT - visible_units("\n".join(lines))))
    rows = [[_btn(ctx.t(f"organizer.btn-decide.{d}"), DecideCB(k=k.id, d=d, f=f, i=i, v=_comment_mark(k)[:8]))
             for d in ("adopted", "partly", "rejected")],
            # (hide/unhide: the card's own mark, its press taken once; the state it shows is in `d`)
            [_btn(ctx.t("organizer.btn-unhide" if k.hidden else "organizer.btn-hide"),
                  DecideCB(k=k.id, d="unhide" if k.hidden else "hide", f=f, i=i, v=_new_mark()))]]
    nav = []
    if i > 0:
        nav.append(_btn("‹", CommentsCB(c=c, f=f, i=i - 1)))
    if k.item_id:
        nav.append(_btn(ctx.t("organizer.btn-same-item"), CommentsCB(c=c, f=f"i{k.item_id}")))
    if i < len(items) - 1:
        nav.append(_btn("›", CommentsCB(c=c, f=f, i=i + 1)))
    rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows + filters)


async def _named_organizer(ctx: Ctx, person_id: int) -> str:
    """An organizer's first name as the others read it (their id when it is not known), escaped."""
    from storage.models import Person

    who = await ctx.session.get(Person, person_id)
    return html.escape(fit_plain(who.first_name, 60)) if who is not None and who.first_name else str(person_id)


@action("comments")
async def do_comments(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    await _drop_pending_answer(state)
    text, kb = await _comment_card(ctx, c.id, "u", 0)
    await message.answer(text, reply_markup=kb)


async def _drop_pending_answer(state: FSMContext) -> None:
    """Moving to another card drops a decision still waiting for its answer: a text typed now
    would be read as the answer to the comment left, not to the one on the screen (and another
    command drops a draft list's question "which township?": the text is no township's name)."""
    if await state.get_state() in (ReplyComment.text.state, ImportList.township.state):
        await state.clear()


@router.callback_query(CommentsCB.filter())
async def comments_nav(query: CallbackQuery, callback_data: CommentsCB, ctx: Ctx, state: FSMContext) -> None:
    if await ctx.session.get(Consultation, callback_data.c) is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await _drop_pending_answer(state)
    await query.answer()
    text, kb = await _comment_card(ctx, callback_data.c, callback_data.f, callback_data.i)
    await edit_or_send(query, text, reply_markup=kb)


# Before comments_decide, which takes every other DecideCB press.
@router.callback_query(ReplyComment.text, DecideCB.filter(F.d.in_({"noreply", "clear"})))
async def comments_no_reply(query: CallbackQuery, callback_data: DecideCB, ctx: Ctx, state: FSMContext,
                            broadcaster: Broadcaster) -> None:
    from storage import comments as comments_repo

    data = await state.get_data()
    # the prompt of a comment no longer being answered, or of a decision since changed
    if data.get("k") != callback_data.k or (callback_data.a and data.get("d") != callback_data.a):
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    # no new text keeps the reply already given (as it stands now); only "clear" erases it
    comment = await comments_repo.get_comment(ctx.session, callback_data.k)
    reply = comment.reply if comment is not None and callback_data.d == "noreply" else ""
    if data.get("d") in NEEDS_REASON and not reply:  # (e.g. a button of a prompt sent before reasons were asked)
        await query.answer(ctx.t("organizer.reason-needed"), show_alert=True)
        return
    await query.answer()
    prompt = query.message.message_id if query.message is not None else 0
    if not await _first_press(ctx, "reply", str(callback_data.k), prompt):  # (the cadre is told once)
        return
    await _record_decision(query.message, ctx, state, reply, broadcaster)  # type: ignore[arg-type]


@router.callback_query(DecideCB.filter())
async def comments_decide(query: CallbackQuery, callback_data: DecideCB, ctx: Ctx, state: FSMContext) -> None:
    from storage import comments as comments_repo

    comment = await comments_repo.get_comment(ctx.session, callback_data.k)
    if comment is None or comment.status == "withdrawn":
        await query.answer(ctx.t("organizer.comment-gone"), show_alert=True)
        return
    d = callback_data.d
    if d in ("hide", "unhide"):
        # a card shown before another organizer's change (already as asked), a card without its
        # mark, or this card's button pressed again (a double tap, or once hidden and unhidden since)
        if comment.hidden == (d == "hide") or not callback_data.v \
                or not await _first_press(ctx, "hide", callback_data.v, f"{comment.id}:{_message_id(query)}"):
            await query.answer(ctx.t("organizer.hide-stale"), show_alert=True)
            text, kb = await _comment_card(ctx, comment.consultation_id, callback_data.f, callback_data.i)
            await edit_or_send(query, text, reply_markup=kb)
            return
        await comments_repo.hide_comment(ctx.session, comment.id, hidden=d == "hide", by=ctx.person.id)
        await ctx.commit()
        await query.answer(ctx.t(f"organizer.{d}-done"))
        text, kb = await _comment_card(ctx, comment.consultation_id, callback_data.f, callback_data.i)
        await edit_or_send(query, text, reply_markup=kb)
        return
    if d not in comments_repo.DECISIONS:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if callback_data.v and callback_data.v != _comment_mark(comment)[:8]:  # rewritten since the card was read
        await query.answer(fit_plain(ctx.t("organizer.comment-changed-card"), 200), show_alert=True)
        text, kb = await _comment_card(ctx, comment.consultation_id, callback_data.f, callback_data.i)
        await edit_or_send(query, text, reply_markup=kb)
        return
    await state.set_state(ReplyComment.text)
    await state.set_data({"k": comment.id, "d": d, "f": callback_data.f, "i": callback_data.i,
                          "v": _comment_mark(comment), "seen": comments_repo.answer_seen(comment)})
    await query.answer()
    # An earlier reply is kept unless the organizer says to clear it; 部分采纳 and 不采纳 need a
    # reason (the 反馈情况说明 says why): they may keep the earlier reply, not go without one.
    earlier = bool(comment.reply)
    row = [_btn(ctx.t("organizer.btn-keep-reply"), DecideCB(k=comment.id, d="noreply", a=d))] if earlier else []
    if d not in NEEDS_REASON:
        row.append(_btn(ctx.t("organizer.btn-clear-reply" if earlier else "organizer.btn-no-reply"),
                        DecideCB(k=comment.id, d="clear" if earlier else "noreply", a=d)))
    ask = ("organizer.reason-ask" if d in NEEDS_REASON else "organizer.reply-ask") + ("-earlier" if earlier else "")
    text = ctx.t(ask, decision=ctx.t(f"comment.decision.{d}"))
    if comment.decision and comment.replied_by and comment.replied_by != ctx.person.id:
        # another organizer's answer (perhaps given since this card was shown): what would be replaced
        text = await _answered_by_other(ctx, comment) + "\n\n" + text
    await query.message.answer(text,  # type: ignore[union-attr]
                               reply_markup=InlineKeyboardMarkup(inline_keyboard=[row]) if row else None)


@router.message(ReplyComment.text, F.text & ~F.text.startswith("/"))
async def comments_reply(message: Message, ctx: Ctx, state: FSMContext, broadcaster: Broadcaster) -> None:
    reply, problem = check_text(message.text, MAX_TEXT)
    if problem == "empty":  # nothing visible (spaces, line breaks, zero-width marks): not an answer, nor "no reply"
        needs_reason = (await state.get_data()).get("d") in NEEDS_REASON
        await message.answer(ctx.t("organizer.reason-empty" if needs_reason else "organizer.reply-empty"))
        return
    if problem == "too-long":
        await message.answer(ctx.t("organizer.reply-too-long", max=MAX_TEXT))
        return
    await _record_decision(message, ctx, state, reply, broadcaster)


async def _record_decision(message: Message, ctx: Ctx, state: FSMContext, reply: str,
                           broadcaster: Broadcaster) -> None:
    """Store the answer, then tell the cadre who wrote the comment (through the broadcaster)."""
    from storage import comments as comments_repo
    from storage.models import DutyItemRow, Person

    data = await state.get_data()
    await state.clear()
    current = await comments_repo.get_comment(ctx.session, data.get("k", 0))
    if current is not None and current.status != "withdrawn" and data.get("v") \
            and _comment_mark(current) != data["v"]:
        # its cadre changed it since the organizer chose the answer: not answered unseen
        card, kb = await _comment_card(ctx, current.consultation_id, data.get("f", "u"), data.get("i", 0))
        await message.answer(ctx.t("organizer.comment-changed"))
        await message.answer(card, reply_markup=kb)
        return
    try:
        comment = await comments_repo.answer_comment(ctx.session, data["k"], data["d"], reply, ctx.person.id,
                                                     ctx.now(), seen=data.get("seen"))
    except comments_repo.AnsweredMeanwhile as meanwhile:  # another organizer's answer stands, not overwritten
        seen = data.get("seen") or []
        if len(seen) > 3 and bool(seen[3]) != bool(meanwhile.comment.hidden):
            hider = meanwhile.comment.hidden_by if meanwhile.comment.hidden else None
            await message.answer(ctx.t("organizer.hidden-meanwhile-by", name=await _named_organizer(ctx, hider))
                                 if hider else ctx.t("organizer.hidden-meanwhile" if meanwhile.comment.hidden
                                                     else "organizer.unhidden-meanwhile"))
        else:
            await message.answer(await _answered_meanwhile(ctx, meanwhile.comment))
        card, kb = await _comment_card(ctx, meanwhile.comment.consultation_id, data.get("f", "u"), data.get("i", 0))
        await message.answer(card, reply_markup=kb)
        return
    except (LookupError, ValueError, KeyError):
        await message.answer(ctx.t("organizer.comment-gone"))
        return
    await ctx.commit()
    await message.answer(ctx.t("organizer.reply-saved", decision=ctx.t(f"comment.decision.{comment.decision}")))
    author = await ctx.session.get(Person, comment.person_id)
    if author is not None:  # (none: its writer erased their data with /delete_me — nobody to tell)
        item = await ctx.session.get(DutyItemRow, comment.item_id) if comment.item_id else None
        loc = author.language if author.language else ctx.settings.locale
        name = item.name if item else str((comment.missing or {}).get("name", ""))
        text = _reply_note(loc, name, comment, reply)
        # one note per change, however close two changes come (the clock's second or tick may be the
        # same); the key still keeps the broadcaster's retries of this one note to a single message
        key = f"reply:{comment.id}:{uuid.uuid4().hex}"
        await broadcaster.send_one(key, comment.person_id, Outgoing(text=text))
    card, kb = await _comment_card(ctx, comment.consultation_id, data.get("f", "u"), data.get("i", 0))
    await message.answer(card, reply_markup=kb)


def _comment_mark(comment: Any) -> str:
    """A short mark of what a comment says (kind, text, wording, proposal): an answer chosen on
    one reading is not stored on a comment its cadre has rewritten since."""
    said = [comment.kind, comment.item_id, comment.text, comment.proposed_wording, comment.missing or {}]
    return hashlib.sha256(json.dumps(said, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:12]


async def _answered_meanwhile(ctx: Ctx, comment: Any, msgid: str = "organizer.answered-meanwhile") -> str:
    """What an organizer is told whose answer came after another organizer's: who answered, and what."""
    from storage.models import Person

    who = await ctx.session.get(Person, comment.replied_by) if comment.replied_by else None
    name = html.escape(fit_plain(who.first_name, 60)) if who is not None and who.first_name else \
        ctx.t("organizer.another-organizer")
    decision = ctx.t(f"comment.decision.{comment.decision}") if comment.decision else ctx.t("comment.decision.open")
    reply = html.escape(fit_plain(comment.reply, CARD_FIELD)) if comment.reply else ctx.t("organizer.reply-none")
    return ctx.t(msgid, name=name, decision=decision, reply=reply)


async def _answered_by_other(ctx: Ctx, comment: Any) -> str:
    return await _answered_meanwhile(ctx, comment, "organizer.answered-by-other")


def _reply_note(loc: str, name: str, comment: Any, reply: str) -> str:
    """What the cadre is told of the answer: the answer in full (it is theirs only here: /mycomments
    shows its start), the item's name and their comment quoted short; an answer long in Telegram's
    count (an emoji counts two) shortens the quotes further, down to "…", so that it stays whole."""
    from bot.texts import gettext

    def note(name_room: int, comment_room: int) -> str:
        return gettext("organizer.reply-to-cadre", loc, name=html.escape(fit_plain(name, name_room)),
                       decision=gettext(f"comment.decision.{comment.decision}", loc),
                       comment=html.escape(fit_plain(comment.text, comment_room)),
                       reply=html.escape(reply) if reply else gettext("organizer.reply-none", loc))

    name_room, comment_room = units(fit_plain(name, 200)), units(fit_plain(comment.text, 300))
    over = visible_units(note(name_room, comment_room)) - TEXT_LIMIT
    if over <= 0:
        return note(name_room, comment_room)
    cut = min(over, comment_room - 1)
    return note(max(1, name_room - (over - cut)), comment_room - cut)


# --- /invite ----------------------------------------------------------------------------------------


class InviteCB(CallbackData, prefix="oi"):
    t: Num  # township id (0: none, for organizers)
    r: str = ""  # role, once chosen
    n: Num = 0  # how many, once chosen
    m: str = ""  # (on a count) the count screen's own mark: its batch is made once, however often it is tapped


INVITE_DAYS = 7


@router.message(Command("invite"))
async def invite_cmd(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
    """A button per township (the first 40) and one for organizers; a township past them is
    named after the command (/invite 名称), which goes straight to its count step."""
    await _drop_pending_answer(state)
    named = lists_repo.township_name(drop_nul(command.args or ""))
    if named:
        township = await lists_repo.get_township(ctx.session, named)
        if township is None:
            await message.answer(ctx.t("organizer.invite-township-unknown",
                                       township=html.escape(fit_plain(named, 100))))
            return
        text, kb = _invite_count_screen(ctx, township, "cadre")
        await message.answer(text, reply_markup=kb)
        return
    options = await lists_repo.townships(ctx.session)
    rows = [[_btn(fit_width(t.name), InviteCB(t=t.id))] for t in options[:TOWNSHIP_BUTTONS]]  # (as /new's)
    rows.append([_btn(ctx.t("organizer.invite-organizer"), InviteCB(t=0, r="organizer"))])
    text = ctx.t("organizer.invite-township")
    if len(options) > TOWNSHIP_BUTTONS:
        text += "\n" + ctx.t("organizer.invite-townships-more", n=len(options) - TOWNSHIP_BUTTONS)
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def _invite_count_screen(ctx: Ctx, township: Township | None, r: str) -> tuple[str, InlineKeyboardMarkup]:
    t = township.id if township else 0
    mark = _new_mark()
    rows = [[_btn(str(k), InviteCB(t=t, r=r, n=k, m=mark)) for k in (1, 5, 10, 20)]]
    text = ctx.t("organizer.invite-count", township=html.escape(township.name)) if township \
        else ctx.t("organizer.invite-count-organizer")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(InviteCB.filter())
async def invite_step(query: CallbackQuery, callback_data: InviteCB, ctx: Ctx) -> None:
    from datetime import timedelta

    from storage import invites

    t, r, n = callback_data.t, callback_data.r or "cadre", callback_data.n  # a township's button: cadres
    township = await ctx.session.get(Township, t) if t else None
    if (t and township is None) or r not in ("cadre", "organizer") or (r == "cadre" and township is None) \
            or not 0 <= n <= 50 or (n and not callback_data.m):
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if n and not await _first_press(ctx, "invite", callback_data.m, _message_id(query)):
        await query.answer(ctx.t("organizer.invite-made-already"), show_alert=True)  # a second tap, or a late one
        return
    await query.answer()
    if n == 0:
        text, kb = _invite_count_screen(ctx, township, r)
        await edit_or_send(query, text, reply_markup=kb)
        return
    created = await invites.create_invites(ctx.session, township.id if township else None, r, n,
                                           ctx.now() + timedelta(days=INVITE_DAYS), ctx.person.id)
    await ctx.commit()
    links = "\n".join(invites.invite_link(ctx.bot_username, inv.code) for inv in created)
    await edit_or_send(query, ctx.t("organizer.invite-done", n=len(created), role=ctx.t(f"role.{r}"),
                                    township=html.escape(township.name) if township
                                    else ctx.t("invites.whole-county"),
                                    days=INVITE_DAYS, links=links))


# --- /digest, /export and the follow-up hooks (bot.scheduler) ----------------------------------------


class DigestHourCB(CallbackData, prefix="oh"):
    """`/digest 关闭` (or an hour) with no consultation named, several open: the one it is for."""

    c: Num
    h: int  # the hour; -1: stop the daily digest


@router.message(Command("digest"))
async def digest_cmd(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
    """`/digest [ID]`: the digest now; `/digest ID 18` moves the daily one to 18:00 (TIMEZONE),
    `/digest ID 关闭` stops it (`开启` brings it back at the default hour). Without the ID
    (`/digest 关闭`, `/digest 18点`) the setting is for the one open consultation, or the one picked;
    a bare number that names a consultation stays that consultation's digest."""
    parts = (command.args or "").split(maxsplit=1)
    if len(parts) == 1 and await _digest_setting_without_id(message, ctx, parts[0], state):
        return
    if len(parts) < 2:
        await _choose(message, command, ctx, "digest", state)
        return
    c = await _named_consultation(message, ctx, parts[0], state)
    if c is None:
        return
    await _set_digest_hour(message, ctx, c, parts[1])


async def _digest_setting_without_id(message: Message, ctx: Ctx, text: str, state: FSMContext) -> bool:
    """`/digest 关闭`, `/digest 18点`: applied to the only open consultation, or a picker when several
    are open. False when `text` is no setting, or a bare number: that is a consultation's number
    (its digest now) — a mistyped one must not move an open consultation's digest instead."""
    if not is_digest_setting(text) or as_id(text) is not None:
        return False
    await _drop_pending_answer(state)
    candidates = [c for c in await repo.all_consultations(ctx.session) if c.status == Status.OPEN.value]
    if not candidates:
        await message.answer(ctx.t("organizer.digest-setting-none", text=html.escape(fit_plain(text, 40))))
        return True
    if len(candidates) == 1:
        await _set_digest_hour(message, ctx, candidates[0], text)
        return True
    try:
        hour = parse_digest_hour(text, FollowUp(quiet_start="00:00", quiet_end="00:00"))  # (checked when picked)
    except ValueError:  # (not an hour of the day: said with the first one's allowed hours)
        await _set_digest_hour(message, ctx, candidates[-1], text)
        return True
    h = -1 if hour is None else hour
    rows = [[_btn(_pick_line(ctx, c), DigestHourCB(c=c.id, h=h))] for c in candidates[-10:]]
    await message.answer(ctx.t("organizer.digest-setting-pick", text=html.escape(fit_plain(text, 40))),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    return True


@router.callback_query(DigestHourCB.filter())
async def digest_hour_picked(query: CallbackQuery, callback_data: DigestHourCB, ctx: Ctx, state: FSMContext) -> None:
    c = await ctx.session.get(Consultation, callback_data.c)
    if c is None or query.message is None or not -1 <= callback_data.h <= 23:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await query.answer()
    await _drop_pending_answer(state)
    await _set_digest_hour(query.message, ctx, c, "off" if callback_data.h < 0 else str(callback_data.h))


async def _set_digest_hour(message: Message | InaccessibleMessage, ctx: Ctx, c: Consultation, text: str) -> None:
    """`c`'s daily digest at the hour `text` says, or stopped; refused with the hours allowed."""
    follow = FollowUp.from_dict(c.settings)
    try:
        hour = parse_digest_hour(text, follow)
    except ValueError:
        allowed = [h for h in range(24) if not follow.quiet(datetime(2000, 1, 1, h))]
        await message.answer(ctx.t("organizer.digest-hour-bad", id=c.id, text=html.escape(fit_plain(text, 40)),
                                   first=allowed[0] if allowed else 0, last=allowed[-1] if allowed else 23,
                                   zone=_zone(ctx)))
        return
    await repo.set_digest_hour(ctx.session, c, hour)
    await ctx.commit()
    if hour is None:
        text = ctx.t("organizer.digest-off", id=c.id, title=html.escape(c.title), hour=FollowUp().digest_hour)
    else:
        text = ctx.t("organizer.digest-hour-set", id=c.id, title=html.escape(c.title), hour=hour, zone=_zone(ctx))
        if c.status in (Status.CLOSED.value, Status.REPORTED.value):  # (kept: a reopened one goes by it)
            text += "\n" + ctx.t("organizer.digest-ended-note")
    await message.answer(text)
    from bot import scheduler

    await scheduler.schedule_consultation(c.id)  # (this process's scheduler at once; another's at its sync)


@action("digest")
async def do_digest(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    """The digest since the last daily one, to this organizer only (the daily one is not moved)."""
    from bot import scheduler

    text, chart = await scheduler.digest_for(ctx.session, ctx.settings, c.id, ctx.now(), ctx.locale)
    await message.answer(text)
    if chart is None:  # nobody started yet: the text says there is nothing to chart
        return
    await message.answer_photo(BufferedInputFile(chart, ctx.t("scheduler.file-chart-progress", id=c.id)),
                               caption=ctx.t("scheduler.digest-chart", title=html.escape(c.title)))


@action("export")
async def do_export(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    """The results workbook; once closed, also the final report's charts and the draft 反馈情况说明
    as they stand, silently (bot.scheduler.export_files)."""
    from bot import scheduler

    async for out in scheduler.export_files(ctx.session, ctx.settings, c, ctx.locale, ctx.now()):
        if out.photo is not None:
            await message.answer_photo(BufferedInputFile(*out.photo), caption=out.text,
                                       disable_notification=out.silent or None)
        elif out.document is not None:
            await message.answer_document(BufferedInputFile(*out.document), caption=out.text,
                                          disable_notification=out.silent or None)


def _follow_up_hooks() -> None:
    from bot import scheduler

    on_status(Status.CLOSED, scheduler.on_closed)  # the final report and the thanks
    on_status(Status.OPEN, scheduler.on_opened)  # the consultation's jobs, at once
    on_deadline(scheduler.on_deadline_moved)  # the close at the new deadline, at once


_follow_up_hooks()


# `/open [ID]`, `/close [ID]`, … : one command per action defined above (/deadline, which
# may take the deadline too, and /digest, which may take the digest's hour, have their own).
for _name in ACTIONS:
    if _name not in ("deadline", "digest"):
        router.message.register(_make_command(_name), Command(_name))


# --- importing a draft list sent in the chat --------------------------------------------------------
# An organizer sends the draft (Excel or CSV) outside any form: it is read and checked as
# `qingdan lists import` does (surveys.importer, surveys.lint) and the problems are listed
# with where they are; a draft without errors is stored, once the organizer has said which
# township's it is, as that township's next version (what /new offers). The file is read
# again then (by its Telegram file id): the FSM keeps no list.

MAX_LIST_BYTES = 20_000_000  # (a bot downloads files of up to 20 MB; a 1,500-row draft is under 1 MB)
LIST_PROBLEMS_SHOWN = 20
LIST_CHECK_ROOM = 3300  # of Telegram's 4,096: the "more" line and the verdict follow


class ImportList(StatesGroup):
    township = State()


class ImportCB(CallbackData, prefix="ol"):
    t: Num  # township id
    m: str  # the check it answers (its mark in the FSM data): an earlier file's buttons do nothing


async def _sender_is_organizer(message: Message, ctx: Ctx) -> bool:
    return ctx.is_organizer


async def _read_list_file(bot: Bot, file_id: str, name: str) -> tuple[Any, list[Any]] | None:
    """The import result and every problem (import, then lint), or None when it is too big."""
    from surveys.lint import check_file

    try:
        buf = await bot.download(file_id, destination=_CappedBuffer(MAX_LIST_BYTES))
    except _OverLimit:
        return None
    return await asyncio.to_thread(check_file, buf.read() if buf else b"", name)


def _list_check_text(ctx: Ctx, name: str, items: list[Any], problems: list[Any]) -> str:
    from surveys.duty_list import Part

    counts = {p.value: sum(1 for i in items if i.part == p) for p in Part}
    errors, warnings = tally(problems)  # those summarised in one line too
    lines = [ctx.t("organizer.import-head" if items else "organizer.import-head-empty",
                   file=html.escape(fit_plain(name, 100)), total=len(items), **counts)]
    if problems:
        lines.append(ctx.t("organizer.import-problems", errors=errors, warnings=warnings))
        shown = 0
        for p in sorted(problems, key=lambda p: not p.is_error)[:LIST_PROBLEMS_SHOWN]:  # errors first
            line = html.escape(fit_plain(p.render(ctx.locale), 300))
            if visible_units("\n".join([*lines, line])) > LIST_CHECK_ROOM:  # one phone message, with what follows
                break
            lines.append(line)
            shown += 1
        if len(problems) > shown:
            lines.append(ctx.t("organizer.import-more", n=len(problems) - shown))
    return "\n".join(lines)


LIST_FILE_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".ett", ".csv", ".tsv")
MAX_VERSION = 50  # a version label's characters (its column's size), as `qingdan lists import --version`
_VERSION_PREFIX = re.compile(r"^\s*(?:版本|version)\s*[:：=]?\s*", re.IGNORECASE)


def version_label(caption: str | None) -> tuple[str | None, bool]:
    """The version label the organizer wrote as the file's caption ("2026修订稿", "版本：2026修订稿",
    "version: v2"), and whether it is fit to store: (None, True) without a caption (the next
    number then), (label, False) when it is empty after its "版本：" or longer than MAX_VERSION, or
    spans lines."""
    text = drop_nul(caption or "").strip()
    if not text:
        return None, True
    label = _VERSION_PREFIX.sub("", text, count=1).strip()
    return label, bool(label) and len(label) <= MAX_VERSION and "\n" not in label and "\r" not in label


def _is_list_file(message: Message) -> bool:
    return message.document is not None and (message.document.file_name or "").lower().endswith(LIST_FILE_SUFFIXES)


@router.message(StateFilter(None, ImportList.township), F.document, _sender_is_organizer)
async def list_file(message: Message, ctx: Ctx, state: FSMContext, bot: Bot) -> None:
    await _check_list_file(message, ctx, state, bot)


@router.message(StateFilter(NewConsultation, Announce, ChangeDeadline, ReplyComment), _is_list_file)
async def list_file_in_form(message: Message, ctx: Ctx, state: FSMContext, bot: Bot) -> None:
    """A draft list sent while an older form still waits (an /announce left at its text): nothing
    of a form is stored before its last step, so the form is dropped, as /cancel would, and said so."""
    await state.clear()
    await _check_list_file(message, ctx, state, bot, note=ctx.t("organizer.import-form-dropped"))


async def _check_list_file(message: Message, ctx: Ctx, state: FSMContext, bot: Bot, note: str = "") -> None:
    doc = message.document
    assert doc is not None

    async def answer(text: str, **kw: Any) -> None:
        await message.answer(note + "\n\n" + text if note else text, **kw)

    name = doc.file_name or "upload"
    if name.lower().endswith((".yaml", ".yml")):  # a questionnaire: it belongs to /new's step
        await answer(ctx.t("organizer.import-questionnaire"))
        return
    if (doc.file_size or 0) > MAX_LIST_BYTES:
        await answer(ctx.t("organizer.import-too-big", mb=MAX_LIST_BYTES // 1_000_000))
        return
    await state.clear()  # (a file sent before, still waiting for its township: this one replaces it)
    read = await _read_list_file(bot, doc.file_id, name)
    if read is None:
        await answer(ctx.t("organizer.import-too-big", mb=MAX_LIST_BYTES // 1_000_000))
        return
    result, problems = read
    text = _list_check_text(ctx, name, result.items, problems)
    if any(p.is_error for p in problems) or not result.items:
        await answer(text + "\n\n" + ctx.t("organizer.import-refused"))
        return
    caption = drop_nul(message.caption or "").strip()
    if caption.startswith("/"):  # "/cancel" sent with the file: a command, not the version's name
        command = caption.split()[0]
        await answer(text + "\n\n" + ctx.t("organizer.import-version-command", command=html.escape(fit_plain(command, 40))))
        return
    version, fit = version_label(message.caption)
    if not fit:  # refused before the township is asked: the file is sent again with a better caption
        await answer(text + "\n\n" + ctx.t("organizer.import-version-bad", max=MAX_VERSION))
        return
    options = await lists_repo.townships(ctx.session)
    named = lists_repo.township_name(version) if version else ""
    if named and named in {t.name for t in options}:  # the caption names the township: not a version label
        version = None
    else:
        named = ""
    mark = _new_mark()
    await state.set_state(ImportList.township)
    await state.set_data({"file": doc.file_id, "name": name, "m": mark, "v": version})
    rows = [[_btn(fit_width(t.name), ImportCB(t=t.id, m=mark))] for t in options[:TOWNSHIP_BUTTONS]]  # (as /new's)
    ask = ctx.t("organizer.import-ask-township-warned" if problems else "organizer.import-ask-township")  # (warnings)
    ask += "\n" + (ctx.t("organizer.import-version-given", version=html.escape(version)) if version
                   else ctx.t("organizer.import-version-township", township=html.escape(named)) if named
                   else ctx.t("organizer.import-version-hint"))
    if len(options) > TOWNSHIP_BUTTONS:
        ask += "\n" + ctx.t("organizer.import-townships-more", n=len(options) - TOWNSHIP_BUTTONS)
    await answer(text + "\n\n" + ask, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None)


@router.callback_query(ImportList.township, ImportCB.filter())
async def list_township_pressed(query: CallbackQuery, callback_data: ImportCB, ctx: Ctx, state: FSMContext,
                                bot: Bot) -> None:
    data = await state.get_data()
    township = await ctx.session.get(Township, callback_data.t)
    if data.get("m") != callback_data.m or township is None or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await query.answer()
    await _spend_buttons(query)
    await _store_list_file(query.message, ctx, state, bot, township.name)  # type: ignore[arg-type]


@router.callback_query(ImportCB.filter())
async def list_township_pressed_again(query: CallbackQuery, callback_data: ImportCB, ctx: Ctx,
                                      state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "import", callback_data.m)


class ImportNameCB(CallbackData, prefix="ow"):
    a: str  # create (the township typed), retype
    m: str  # as ImportCB.m


@router.message(ImportList.township, F.text & ~F.text.startswith("/"))
async def list_township_typed(message: Message, ctx: Ctx, state: FSMContext, bot: Bot) -> None:
    name = lists_repo.township_name(drop_nul(message.text))
    if not name or len(name) > 200:  # (the column's size)
        await message.answer(ctx.t("organizer.import-township-bad", max=200))
        return
    if await lists_repo.get_township(ctx.session, name) is None:  # a typo must not make a township: asked first
        await _confirm_new_township(message, ctx, state, name)
        return
    await _store_list_file(message, ctx, state, bot, name)


async def _confirm_new_township(message: Message, ctx: Ctx, state: FSMContext, name: str) -> None:
    import difflib

    mark = (await state.get_data()).get("m", "")
    await state.update_data(typed=name)
    known = {t.name: t for t in await lists_repo.townships(ctx.session)}
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    rows = [[_btn(ctx.t("organizer.btn-import-create", township=fit_width(name, BUTTON_WIDTH - 8)),
                  ImportNameCB(a="create", m=mark))],
            [_btn(ctx.t("organizer.btn-import-retype"), ImportNameCB(a="retype", m=mark))]]
    if close:
        rows.insert(0, [_btn(ctx.t("organizer.btn-import-use", township=fit_width(close[0], BUTTON_WIDTH - 8)),
                             ImportCB(t=known[close[0]].id, m=mark))])
        text = ctx.t("organizer.import-new-township-close", township=html.escape(name), close=html.escape(close[0]))
    else:
        text = ctx.t("organizer.import-new-township", township=html.escape(name))
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(ImportList.township, ImportNameCB.filter())
async def list_township_confirmed(query: CallbackQuery, callback_data: ImportNameCB, ctx: Ctx, state: FSMContext,
                                  bot: Bot) -> None:
    data = await state.get_data()
    if data.get("m") != callback_data.m or not data.get("typed") or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    await query.answer()
    await _spend_buttons(query)
    if callback_data.a == "create":
        await _store_list_file(query.message, ctx, state, bot, data["typed"])  # type: ignore[arg-type]
        return
    await state.update_data(typed=None)
    await query.message.answer(ctx.t("organizer.import-retype"))


@router.callback_query(ImportNameCB.filter())
async def list_township_confirmed_again(query: CallbackQuery, callback_data: ImportNameCB, ctx: Ctx,
                                        state: FSMContext) -> None:
    await _tapped_again(query, ctx, state, "import", callback_data.m)


async def _store_list_file(message: Message, ctx: Ctx, state: FSMContext, bot: Bot, township: str) -> None:
    data = await state.get_data()
    await _taken(state, "import", data.get("m", ""))
    read = await _read_list_file(bot, data["file"], data["name"])
    if read is None or any(p.is_error for p in read[1]) or not read[0].items:
        await message.answer(ctx.t("organizer.import-failed"))
        return
    items = read[0].items
    newest = await lists_repo.find_list(ctx.session, township)
    if newest is not None and (await lists_repo.load_list(ctx.session, newest.id)).items == list(items):
        await message.answer(ctx.t("organizer.import-same", township=html.escape(township),
                                   version=html.escape(newest.version)))
        return
    version = data.get("v") or None
    if version is not None and await lists_repo.find_list(ctx.session, township, version) is not None:
        # (as `qingdan lists import --version`: a label names one version of the township's list)
        await message.answer(ctx.t("organizer.import-version-exists", township=html.escape(township),
                                   version=html.escape(version)))
        return
    if not await _first_press(ctx, "import", data.get("m", ""), data["file"]):  # (another worker's tap stored it)
        return
    row = await lists_repo.save_list(ctx.session, township, items, version=version, source_file=data["name"])
    await ctx.commit()
    # after a consultation of the township closed, the file sent is its revised list: /publish, not /new
    closed = [c.id for c in await repo.all_consultations(ctx.session, Status.CLOSED.value)
              if any(link.township == township for link in await repo.links(ctx.session, c.id))]
    await message.answer(ctx.t("organizer.import-done-revised" if closed else "organizer.import-done",
                               township=html.escape(township), version=html.escape(row.version), total=len(items),
                               id=closed[-1] if closed else 0))


# --- /publish: the revised list, once the consultation has closed ---------------------------------------
# Each township of the consultation with the newest version imported after the consulted one
# (a file sent in the chat, see above): "发布" shows what changed and who will be told, and
# "确认发布" publishes it (bot.scheduler.publish_changes, as `qingdan lists publish` does): the
# township's participants get what changed, the consultation becomes 已反馈. Pressed again it
# sends only to whoever has not had it (the broadcast's key).


class PublishCB(CallbackData, prefix="ou"):
    c: Num
    l: Num  # the revised list's id  # noqa: E741
    ok: bool = False  # the confirmation's button
    m: str = ""  # (on it) the confirmation's own mark: the second tap of a double tap publishes nothing more
    v: str = ""  # (on it) the list shown (_list_mark): another list stored since under the same id is not published


def _list_mark(row: DutyListRow) -> str:
    """A short mark of one stored list version: a draft deleted (`qingdan lists delete`) and another
    imported may get the same id on SQLite, and a confirmation showing the first must not publish the second."""
    return hashlib.blake2s(f"{row.version}|{row.created_at.isoformat()}|{row.source_file}".encode(),
                           digest_size=4).hexdigest()


async def _revised(ctx: Ctx, c: Consultation) -> list[tuple[Any, DutyListRow | None]]:
    """Each township's link with the newest version imported after the consulted one (or None)."""
    out = []
    for link in await repo.links(ctx.session, c.id):
        row = await ctx.session.scalar(sa.select(DutyListRow).where(
            DutyListRow.township_id == link.township_id, DutyListRow.id > link.list_id)
            .order_by(DutyListRow.id.desc()).limit(1))
        out.append((link, row))
    return out


@action("publish")
async def do_publish(message: Message, ctx: Ctx, c: Consultation, state: FSMContext) -> None:
    lines = [ctx.t("organizer.publish-head", id=c.id, title=html.escape(c.title))]
    rows, townships = [], []
    # (a button each for 40 townships at most: those with a revised list to publish first, then
    # those published, then those without one; the rest are counted)
    revised = sorted(await _revised(ctx, c), key=lambda lr: 2 if lr[1] is None
                     else 1 if lr[1].status == ListStatus.PUBLISHED.value else 0)
    for link, row in revised[:TOWNSHIP_BUTTONS]:
        consulted = await ctx.session.get(DutyListRow, link.list_id)
        old = consulted.version if consulted else "—"
        if row is None:
            townships.append(ctx.t("organizer.publish-none", township=html.escape(link.township), old=html.escape(old)))
            continue
        done = row.status == ListStatus.PUBLISHED.value
        townships.append(ctx.t("organizer.publish-done-line" if done else "organizer.publish-line",
                               township=html.escape(link.township), old=html.escape(old), new=html.escape(row.version)))
        # (a long version label cut to the button's width, not by the phone: it is in full on its line,
        # and on the confirmation the button brings)
        rows.append([_btn(fit_width(ctx.t("organizer.btn-publish", township=link.township, version=row.version)),
                          PublishCB(c=c.id, l=row.id))])
    # long names and version labels: as many lines as leave room for how to go on (cut at Telegram's
    # limit, it was lost), then how many more
    unlisted = len(revised) - len(townships)

    def more(n: int) -> str:
        return ctx.t("organizer.publish-more", n=n + unlisted)

    how = ctx.t("organizer.publish-how")
    fixed = [*lines, *([more(0)] if unlisted else []), how]
    shown = lines_within(townships, TEXT_LIMIT - visible_units("\n".join(fixed)), more, size=visible_units)
    lines += shown + ([more(0)] if unlisted and shown == townships else []) + [how]
    await message.answer("\n".join(lines),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None)


@router.callback_query(PublishCB.filter())
async def publish_pressed(query: CallbackQuery, callback_data: PublishCB, ctx: Ctx, state: FSMContext,
                          broadcaster: Broadcaster, sessionmaker: Any) -> None:
    from bot import scheduler
    from storage.followup import township_participants
    from storage.lists import load_list
    from surveys.diff import diff_lists

    c = await ctx.session.get(Consultation, callback_data.c)
    row = await ctx.session.get(DutyListRow, callback_data.l)
    link = await repo.link_for_township(ctx.session, c.id, row.township_id) if c and row else None
    if c is None or link is None or row is None or row.id <= link.list_id \
            or c.status not in ACTION_STATUSES["publish"] or query.message is None:
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if callback_data.ok and callback_data.v != _list_mark(row):  # the list shown is gone; another has its id
        await query.answer(ctx.t("error.stale-button"), show_alert=True)
        return
    if callback_data.ok and (await state.get_data()).get("taken") == f"publish:{callback_data.m}":
        await query.answer()  # the second tap of a double tap
        return
    refusal = await scheduler.publish_refusal(ctx.session, c.id, link.township_id, link.township, link.list_id, row,
                                              ctx.locale, markup=True)
    if refusal is not None:  # checked on both presses: another consultation may have moved meanwhile
        await query.answer()
        await query.message.answer(refusal)
        return
    if not callback_data.ok:
        await query.answer()
        diff = diff_lists((await load_list(ctx.session, link.list_id)).items, (await load_list(ctx.session, row.id)).items)
        people = len(await township_participants(ctx.session, c.id, link.township_id))
        summary = ctx.t("organizer.publish-no-change") if diff.is_empty else diff.summary(ctx.locale, limit=2500)
        kb = InlineKeyboardMarkup(inline_keyboard=[[_btn(ctx.t("organizer.btn-publish-confirm"),
                                                         PublishCB(c=c.id, l=row.id, ok=True, m=_new_mark(),
                                                                   v=_list_mark(row)))]])
        await query.message.answer(ctx.t("organizer.publish-confirm", township=html.escape(link.township),
                                         version=html.escape(row.version), summary=html.escape(summary), n=people),
                                   reply_markup=kb)
        return
    await _taken(state, "publish", callback_data.m)
    if not await _first_press(ctx, "publish", callback_data.m, _message_id(query)):  # (another worker's tap publishes
        await query.answer(ctx.t("error.stale-button"), show_alert=True)  # it; or a late tap, after another action)
        return
    await query.answer()
    await _spend_buttons(query)
    await ctx.commit()
    services = scheduler.Services(query.bot, sessionmaker, ctx.settings, broadcaster, ctx.clock)  # type: ignore[arg-type]
    chat_id, township, version, loc = query.message.chat.id, link.township, row.version, ctx.locale

    cid, title, township_id, row_id = c.id, c.title, link.township_id, row.id
    others = await _note_for_others(ctx, "organizer.published-by", id=cid, title=html.escape(title),
                                    township=html.escape(township), version=html.escape(version))

    async def publish() -> None:
        from bot.texts import gettext

        what = f"publish:{cid}:{row_id}"

        def stopped(key: str, **kw: Any) -> str:
            return gettext(f"organizer.publish-stopped{key}", loc, township=html.escape(township), id=cid,
                           title=html.escape(fit_plain(title, 80)), **kw)

        # checked at the press, but this runs after it: a /deadline may have reopened the
        # consultation, or another consultation of the township moved, in between — publish_changes
        # checks again in the transaction that publishes
        try:
            # how it went is told by whichever run finishes the send (a restart resumes it)
            await scheduler.publish_changes(services, cid, township_id, row_id, note={
                "chat": chat_id, "locale": loc, "text": "publish-done",
                "args": {"township": html.escape(township), "version": html.escape(version), "list_id": row_id,
                         "id": cid}}, locale=loc, markup=True)
            if others is not None:
                await broadcaster.broadcast(f"{what}:organizers", *others)
        except scheduler.NotPublishable as e:
            text = stopped("", reason=e.reason) if e.reason is not None else \
                stopped("-open") if e.status == Status.OPEN.value else \
                stopped("-status", status=gettext(f"status.{e.status}", loc))
            log.info("%s: not published: %s", what, e)
            await _tell_organizer(query.bot, chat_id, what, text)

    await query.message.answer(ctx.t("organizer.publish-sending", township=html.escape(township)))
    _in_background(publish(), f"publish:{cid}:{row_id}")


router.message.register(_make_command("publish"), Command("publish"))  # (defined after the loop above)


# --- anything else in the middle of a form ---------------------------------------------------------------
# (last: after every form's own handler and every command, which it leaves alone)

_BUTTON_STEPS = StateFilter(NewConsultation.townships, NewConsultation.confirm, Announce.confirm,
                            ChangeDeadline.confirm, CloseEarly.confirm)


@router.message(StateFilter(NewConsultation.questionnaire), ~F.text.startswith("/"))
async def new_questionnaire_other(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """A sticker, a photo…: the step takes the default questionnaire's button or a YAML file."""
    if await first_of_album(message, state):
        await message.answer(ctx.t("organizer.new-questionnaire"))


@router.message(_BUTTON_STEPS, ~F.text.startswith("/"))
async def form_buttons_please(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if await first_of_album(message, state):
        await message.answer(ctx.t("organizer.use-buttons"))


@router.message(StateFilter(NewConsultation, Announce, ReplyComment, ChangeDeadline, CloseEarly, ImportList), ~F.text)
async def form_text_please(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if await first_of_album(message, state):
        await message.answer(not_text_note(message, ctx.t("organizer.text-please"), ctx.t))
