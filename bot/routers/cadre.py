"""The cadre's side: an invite (`/start inv_<code>`, or the link pasted as text) binds a
person to a township as a cadre (a cadre of another township is asked first: it moves
them); then they browse their township's consulted list (part → category → items →
card; residents may browse read-only too), search it (/find), comment on an
item (kind → text → optional proposed wording), propose a missing item (/missing),
review, edit and withdraw their comments (/mycomments), and report tasks pushed onto
the township outside the list (/report, /myreports).

Authorization is checked on the server on every message and every press; buttons
carry ids only. A person may see a list only through a consultation that has been
opened (/list offers the open ones; an old button of a closed one still shows the
list read-only) and that their township is in (cadres: the township they were
invited to; residents: the township of their response in that consultation) — or, a
cadre with no consultation of their township open, their township's newest published
list (c=0 on the buttons, looked up again on every press; read-only), and so, a resident with
none open, the newest published list of the township they last answered for; an
item only when it belongs to that list; a comment only when it is theirs. Writing needs a cadre and an open window
(surveys.consultation.window). Forged presses are answered with a short message
and write nothing. Every write is committed before it is acknowledged.

Multi-step inputs (comment text, proposed wording, edits, /missing, /report) are
FSM states; the data they collect is kept in the FSM data under one key per flow.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.app import chosen_language, set_person_commands
from bot.context import Ctx, Num
from bot.limits import (
    ANSWER_LIMIT,
    BUTTON_WIDTH,
    TEXT_LIMIT,
    fit_lines,
    fit_plain,
    fit_width,
    visible_units,
    width,
)
from bot.middlewares import JOINING_TEXTS
from bot.routers import edit_or_send, first_of_album, not_text_note, starts
from storage import comments as cm
from storage import consultations as repo
from storage import invites
from storage.lists import load_list, newest_published
from storage.models import Comment, Consultation, DutyItemRow, Township
from surveys.consultation import Status, Window, ended_at, format_deadline, format_local, window
from surveys.duty_list import (
    ITEM_FIELDS,
    PART_FIELDS,
    PART_ORDER,
    REQUIRED_FIELD,
    DutyItem,
    DutyList,
    Part,
    normalize,
)
from surveys.i18n import has, version_label

router = Router(name="cadre")
router.message.filter(F.chat.type == "private")
router.edited_message.filter(F.chat.type == "private")

PAGE = 8  # items and search hits per page
CATEGORY_PAGE = 20  # a part's categories per page (a list has about ten)
CATEGORY_BUTTONS = 40  # categories offered as buttons at /missing's category step
MY_PAGE = 5  # comments per page in /mycomments
REPORTS_SHOWN = 10
MAX_QUERY = 50
MAX_CATEGORY = cm.MAX_CATEGORY
MAX_WHEN = 100


# --- callback data (ids only) ----------------------------------------------------------------


class ListCB(CallbackData, prefix="cl"):
    """Browse consultation c's list (c=-t: township t's newest published list, read-only; c=0, on
    older buttons, the published list `_published_scope` finds): p="" the part menu; g=-1 the
    part's categories; else items page n."""

    c: Num
    p: str = ""
    g: Num = -1
    n: Num = 0


class ItemCB(CallbackData, prefix="ci"):
    """Item i's card in consultation c; f=1 when opened from /find (back returns there)."""

    c: Num
    i: Num
    f: Num = 0


class FindCB(CallbackData, prefix="cf"):
    """Page n of the /find hits (the query itself is in the FSM data)."""

    c: Num
    n: Num = 0


class CommentCB(CallbackData, prefix="cc"):
    """Comment on item i of consultation c: k="" chooses the kind, k=kind asks for the text."""

    c: Num
    i: Num
    k: str = ""


class MineCB(CallbackData, prefix="cm"):
    """/mycomments: a=l list page n (of item i's comments when i), e=edit m, w=withdraw m (ask),
    y=withdraw m (confirmed), s=skip the proposed wording of m; a missing-item proposal m's edit:
    f=edit its field n (MISSING_EDIT_FIELDS), p=move it to part n (PART_ORDER), g=category n of its
    part (-1: none)."""

    a: str
    m: Num = 0
    n: Num = 0
    i: Num = 0


class MissingCB(CallbackData, prefix="cx"):
    """The missing-item proposal in consultation c: a="" start, p=part v, g=category index v,
    k=skip the category, s=skip the basis, d=skip the county department, of the proposal whose mark
    is v (see _run_mark)."""

    c: Num
    a: str = ""
    v: str = ""


class ReportCB(CallbackData, prefix="cr"):
    """/report: a=m method v, a=s skip the details of the report whose mark is v (see _run_mark); /myreports: a=w withdraw report v (ask),
    a=y withdraw it (confirmed), a=l the list again."""

    a: str
    v: str = ""


class MoveCB(CallbackData, prefix="cv"):
    """A cadre of one township taking an invite of another: y=1 move (redeem invite v), y=0 stay."""

    v: str
    y: Num = 0


class CommentForm(StatesGroup):
    kind = State()
    text = State()
    wording = State()
    edit = State()


class MissingForm(StatesGroup):
    name = State()
    part = State()
    category = State()
    basis = State()
    department = State()
    why = State()


class ReportForm(StatesGroup):
    department = State()
    task = State()
    when = State()
    method = State()
    details = State()


# the cadre's forms: a move to another township drops the one in progress (see `invite_move`)
_CADRE_FORMS = (CommentForm.__full_group_name__ + ":", MissingForm.__full_group_name__ + ":",
                ReportForm.__full_group_name__ + ":")

# the steps of a form by which something typed is held unsaved: a command that leaves one says so
HALF_FILLED = frozenset(x.state for x in (MissingForm.part, MissingForm.category, MissingForm.basis,
                                          MissingForm.department, MissingForm.why,
                                          ReportForm.task, ReportForm.when, ReportForm.method, ReportForm.details))


async def _form_dropped_note(ctx: Ctx, state: FSMContext) -> str:
    """What the person loses when the form in progress is dropped: what they had typed into a
    /missing or /report, or a comment typed before its kind was chosen ("" when nothing)."""
    current = await state.get_state()
    if current in HALF_FILLED:
        form = "report" if current.startswith(ReportForm.__full_group_name__) else "missing"
        return ctx.t(f"cadre.form-dropped.{form}")
    if current == CommentForm.kind.state and ((await state.get_data()).get("cmt") or {}).get("t"):
        return ctx.t("cadre.form-dropped.comment")  # typed before its kind was chosen
    return ""


async def _leave_form(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """Drop any form in progress (a command takes the person elsewhere), telling them when what
    they had typed into a /missing or /report goes with it."""
    note = await _form_dropped_note(ctx, state)
    if note:
        await message.answer(note)
    await state.set_state(None)


TYPED = "ctyped"  # FSM data: which comment (and field) each of the cadre's last messages became
TYPED_KEPT = 20


async def _remember_typed(state: FSMContext, message: Message | int, comment_id: int | None, field: str) -> None:
    """That this message's text became the comment's `field` ("text", "wording", or a missing-item
    proposal's "missing.<field>": name, part, category, basis, department): an edit of the message
    in Telegram then edits the comment (see `comment_message_edited`)."""
    typed = dict((await state.get_data()).get(TYPED) or {})
    typed[str(message if isinstance(message, int) else message.message_id)] = [comment_id or 0, field]
    await state.update_data({TYPED: dict(list(typed.items())[-TYPED_KEPT:])})


# --- scope -------------------------------------------------------------------------------------


@dataclass
class Scope:
    """What the person may see in one consultation: their township's link (list) — or, with no
    consultation, their township's newest published list (`version`), read-only."""

    consultation: Consultation | None
    link: repo.Link
    cadre: bool
    window: Window
    version: str = ""

    @property
    def c(self) -> int:
        """The consultation id the buttons carry: minus the township's id for its published list."""
        return (self.consultation.id or 0) if self.consultation is not None else -self.link.township_id

    @property
    def can_comment(self) -> bool:
        return self.consultation is not None and self.cadre and self.window == Window.OPEN


def _window(ctx: Ctx, consultation: Consultation) -> Window:
    return window(consultation.status, consultation.opens_at, consultation.closes_at, ctx.now())


async def _scope(ctx: Ctx, consultation_id: int) -> Scope | None:
    """The person's view of a consultation, or None when they may not see it."""
    consultation = await ctx.session.get(Consultation, consultation_id)
    if consultation is None or consultation.status == Status.DRAFT.value:
        return None
    if ctx.is_cadre:
        township_id = ctx.person.township_id
    else:
        response = await repo.get_response(ctx.session, consultation_id, ctx.person.id)
        if response is None:
            return None
        township_id = response.township_id
    assert township_id is not None
    link = await repo.link_for_township(ctx.session, consultation_id, township_id)
    if link is None:
        return None
    return Scope(consultation, link, ctx.is_cadre, _window(ctx, consultation))


async def _published_scope(ctx: Ctx, township_id: int = 0) -> Scope | None:
    """The view of a township's newest published list (c=-township on the buttons) a cadre has
    of their township's, and a resident of the townships they answered a questionnaire for —
    `township_id`'s, or else of the one answered for last that has one; None when there is none
    (or the person may not see that township's). Looked up again on every press: a button names a
    township, checked again, never a list."""
    scopes = await _published_scopes(ctx, first_only=not township_id)
    return next((x for x in scopes if not township_id or x.link.township_id == township_id), None)


async def _published_scopes(ctx: Ctx, first_only: bool = False) -> list[Scope]:
    """The views of the newest published lists of the person's townships (see `_published_scope`),
    the township answered for last first."""
    if ctx.is_cadre:
        townships = [ctx.person.township_id] if ctx.person.township_id is not None else []
    else:
        townships = await repo.response_townships(ctx.session, ctx.person.id)
    scopes = []
    for township_id in townships:
        row = await newest_published(ctx.session, township_id)
        if row is not None:
            scopes.append(await _published_view(ctx, row))
            if first_only:
                break
    return scopes


async def _published_view(ctx: Ctx, row: Any) -> Scope:
    township = await ctx.session.get(Township, row.township_id)
    link = repo.Link(consultation_township_id=0, township_id=row.township_id,
                     township=township.name if township else "", list_id=row.id or 0, code="")
    return Scope(None, link, ctx.is_cadre, Window.CLOSED, version=row.version)


async def _browse_scope(ctx: Ctx, consultation_id: int) -> Scope | None:
    """What a browsing button (list, card, /find page) may show: c<=0 a published list."""
    return await _scope(ctx, consultation_id) if consultation_id > 0 else \
        await _published_scope(ctx, -consultation_id)


def _published_version(ctx: Ctx, scope: Scope) -> str:
    """第 2 版, “2026修订稿” (surveys.i18n.version_label), HTML-escaped."""
    return html.escape(version_label(scope.version, ctx.locale))


async def _visible_consultations(ctx: Ctx) -> list[Consultation]:
    """The open consultations whose list the person may browse, newest first."""
    if ctx.is_cadre:
        assert ctx.person.township_id is not None
        return [c for c, _ in await cm.open_consultations_for_township(ctx.session, ctx.person.township_id)]
    found = await repo.open_response_of(ctx.session, ctx.person.id)
    return [found[1]] if found else []


async def _no_list_text(ctx: Ctx) -> str:
    """Why /list (/find, /missing) has no list to show: for a cadre whose township's consultation
    has ended, that it has (not "when one starts, you will see it here" alone)."""
    if not ctx.is_cadre:
        # one who took part in a consultation since closed is told so, not that they never took part
        last = await repo.last_response_of(ctx.session, ctx.person.id)
        if last is None or last[1].status == Status.OPEN.value:
            return ctx.t("cadre.no-list-resident")
        return _window_text(ctx, last[1], Window.CLOSED)
    assert ctx.person.township_id is not None
    latest = await cm.latest_consultation_for_township(ctx.session, ctx.person.township_id)
    if latest is None:
        return ctx.t("cadre.no-list-cadre")
    return _window_text(ctx, latest, Window.CLOSED) + "\n" + ctx.t("cadre.no-list-next")


async def _item_in_scope(ctx: Ctx, consultation_id: int, item_id: int,
                         browse: bool = False) -> tuple[Scope, DutyItemRow] | None:
    """The item in the person's scope; `browse`: c=0 may name the published list (to look, never to write)."""
    scope = await (_browse_scope if browse else _scope)(ctx, consultation_id)
    if scope is None:
        return None
    row = await ctx.session.get(DutyItemRow, item_id)
    if row is None or row.list_id != scope.link.list_id:
        return None
    return scope, row


def _window_text(ctx: Ctx, consultation: Consultation, w: Window, room: int = TEXT_LIMIT) -> str:
    """Why the consultation takes no comments now, its title shortened to leave the rest (when it
    opens or closed) within `room`: a press's pop-up has 200 of Telegram's units (ANSWER_LIMIT)."""
    tz = ctx.settings.timezone

    def said(title: str) -> str:
        return ctx.t("cadre.not-yet" if w == Window.NOT_YET else "cadre.closed",
                     title=title, opens=format_local(consultation.opens_at, tz),
                     closes=format_deadline(ended_at(consultation.closes_at, consultation.closed_at), tz))

    return said(html.escape(fit_plain(consultation.title, max(room - visible_units(said("")), 2))))


async def _deny_press(query: CallbackQuery, ctx: Ctx, key: str = "error.not-allowed") -> None:
    await query.answer(ctx.t(key), show_alert=True)


# --- rendering helpers ---------------------------------------------------------------------------


def _btn(text: str, data: CallbackData | str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data if isinstance(data, str) else data.pack())


def _kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _short(text: str, limit: int = 40) -> str:
    return fit_plain(text, limit)  # Telegram counts UTF-16 units


def _quoting(ctx: Ctx, key: str, text: str, **kw: Any) -> str:
    """The prompt `key` quoting `text` (plain, as typed: a comment of 2,000 emoji is 4,000 of
    Telegram's UTF-16 units) shortened to the room the rest of the prompt leaves, so the
    prompt's last line (what to send, /cancel) is never cut off."""
    room = TEXT_LIMIT - visible_units(ctx.t(key, text="", **kw))
    return ctx.t(key, text=html.escape(fit_plain(text, max(room, 2))), **kw)


def _nav(page: int, pages: int, make: Any) -> list[InlineKeyboardButton]:
    nav = []
    if page > 0:
        nav.append(_btn("‹", make(page - 1)))
    nav.append(_btn(f"{page + 1}/{pages}", "noop"))
    if page < pages - 1:
        nav.append(_btn("›", make(page + 1)))
    return nav


def _pages(count: int, size: int) -> int:
    return max(1, -(-count // size))


def _category_label(ctx: Ctx, category: str) -> str:
    return category or ctx.t("cadre.no-category")


def _field_label(ctx: Ctx, part: Part, field: str) -> str:
    key = f"cadre.field.{part.value}.{field}"
    return ctx.t(key) if has(key, ctx.locale) or has(key) else ctx.t(f"cadre.field.{field}")


def _parts_screen(ctx: Ctx, scope: Scope, dl: DutyList,
                  others: tuple[list[Consultation], list[Scope]] = ([], [])) -> tuple[str, InlineKeyboardMarkup]:
    """The part menu of a list; `others`: the person's other lists (open consultations' drafts,
    published lists), each offered by a button under it, so /list says which one this is and how
    to see the others."""
    counts = dl.counts()
    c = scope.consultation
    if c is None:  # the published list: to look at only
        lines = [ctx.t("cadre.published-title", township=html.escape(scope.link.township),
                       version=_published_version(ctx, scope)),
                 ctx.t("cadre.published-hint-open" if others[0] else  # (/find searches the draft then)
                       "cadre.published-hint" if scope.cadre else "cadre.published-hint-resident")]
    else:
        lines = [ctx.t("cadre.parts-title", title=html.escape(c.title), township=html.escape(scope.link.township),
                       deadline=format_deadline(c.closes_at, ctx.settings.timezone))]
        if scope.can_comment:
            lines.append(ctx.t("cadre.parts-hint-cadre"))
        elif scope.cadre:
            lines.append(_window_text(ctx, c, scope.window))
        else:
            lines.append(ctx.t("cadre.parts-hint-resident"))
    rows = [[_btn(ctx.t("cadre.btn-part", part=ctx.t(f"part.{p.value}"), n=counts[p.value]),
                  ListCB(c=scope.c, p=p.value))] for p in PART_ORDER]
    if scope.can_comment:
        rows.append([_btn(ctx.t("cadre.btn-missing"), MissingCB(c=scope.c))])
    drafts = [x for x in others[0] if x.id != scope.c]
    published = [x for x in others[1] if x.c != scope.c]
    labels = [(ctx.t("cadre.btn-other-draft", title=x.title), x.id or 0) for x in drafts] + \
        [(ctx.t("cadre.btn-other-published", township=x.link.township, version=_version_plain(ctx, x)), x.c)
         for x in published]
    if labels:  # named in full above the buttons (a phone cuts a button's text)
        lines.append("\n".join([ctx.t("cadre.other-lists"), *(html.escape(label) for label, _ in labels)]))
    rows += [[_btn(_short(label, 60), ListCB(c=c))] for label, c in labels]
    return "\n\n".join(lines), _kb(rows)


async def _other_lists(ctx: Ctx) -> tuple[list[Consultation], list[Scope]]:
    """The lists the person may browse: open consultations' drafts (a resident's: of every
    questionnaire they answer, not only the one touched last), and published lists."""
    return await _open_drafts(ctx), await _published_scopes(ctx)


async def _open_drafts(ctx: Ctx) -> list[Consultation]:
    if ctx.is_cadre:
        return await _visible_consultations(ctx)
    found = [c for _, c in await repo.open_responses_of(ctx.session, ctx.person.id)]
    return [c for n, c in enumerate(found) if c.id not in {x.id for x in found[:n]}]


def _version_plain(ctx: Ctx, scope: Scope) -> str:
    return version_label(scope.version, ctx.locale)


def _categories_screen(ctx: Ctx, scope: Scope, dl: DutyList, part: Part,
                       page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    """A button per category of the part; past CATEGORY_PAGE (a draft's 领域 column may hold
    a hundred values, more buttons than Telegram takes), in pages."""
    c = scope.c
    cats = dl.categories(part)
    items = dl.part(part)
    pages = _pages(len(cats), CATEGORY_PAGE)
    page = min(max(page, 0), pages - 1)
    first = page * CATEGORY_PAGE
    def label(cat: str) -> str:  # a long category shortened to a phone's width: the count after it stays
        n = sum(1 for i in items if (i.category or "") == cat)
        room = BUTTON_WIDTH - width(ctx.t("cadre.btn-category", category="", n=n))
        return ctx.t("cadre.btn-category", category=fit_width(_category_label(ctx, cat), max(room, 4)), n=n)

    rows = [[_btn(label(cat), ListCB(c=c, p=part.value, g=g))]
            for g, cat in enumerate(cats[first:first + CATEGORY_PAGE], start=first)]
    if pages > 1:
        rows.append(_nav(page, pages, lambda n: ListCB(c=c, p=part.value, n=n)))
    rows.append([_btn(ctx.t("cadre.btn-back-parts"), ListCB(c=c))])
    key = "cadre.categories" if cats else "cadre.part-empty"
    return ctx.t(key, part=ctx.t(f"part.{part.value}"), n=len(items)), _kb(rows)


def _items_screen(ctx: Ctx, scope: Scope, dl: DutyList, part: Part, g: int,
                  page: int) -> tuple[str, InlineKeyboardMarkup]:
    c = scope.c
    category = dl.categories(part)[g]
    items = [i for i in dl.part(part) if (i.category or "") == category]
    pages = _pages(len(items), PAGE)
    page = min(max(page, 0), pages - 1)
    shown = items[page * PAGE:(page + 1) * PAGE]
    labels = [f"{i.seq}. {i.name}" if i.seq is not None else i.name for i in shown]
    # (to a phone's width, as the resident's item buttons: the names are in full above them)
    rows = [[_btn(fit_width(label), ItemCB(c=c, i=i.id or 0))] for label, i in zip(labels, shown, strict=True)]
    if pages > 1:
        rows.append(_nav(page, pages, lambda n: ListCB(c=c, p=part.value, g=g, n=n)))
    rows.append([_btn(ctx.t("cadre.btn-back-categories"), ListCB(c=c, p=part.value, n=g // CATEGORY_PAGE))])
    text = ctx.t("cadre.items", part=ctx.t(f"part.{part.value}"), category=html.escape(_category_label(ctx, category)),
                 n=len(items), page=page + 1, pages=pages)
    # the names in full above the buttons: a phone cuts a button's text at a score of characters,
    # and two long names that begin alike could not be told apart
    return "\n".join([text, *(html.escape(fit_plain(label, 200)) for label in labels)]), _kb(rows)


def _item_text(ctx: Ctx, item: DutyItem, room: int = TEXT_LIMIT) -> str:
    """The item's card in at most `room` characters. The name is the title; then the part's
    fields and whatever else the drafter filled in (a withdrawn item's 具体内容, say): nothing
    imported is hidden; an empty field is left out, but for what the part must name
    (REQUIRED_FIELD), which is said to be missing. Fields as long as a law's articles quoted in
    full are shortened alike (see fit_lines), so what follows the card still fits."""
    head = [f"<b>{html.escape(item.name)}</b>", ctx.t("cadre.card-part", part=ctx.t(f"part.{item.part.value}"))]
    shown_fields = PART_FIELDS[item.part]
    fields: list[str] = []
    values: list[str | None] = []  # (None: the required field, empty)
    for field in shown_fields + tuple(f for f in ITEM_FIELDS if f not in shown_fields):
        value = getattr(item, field)
        if field == "name":
            continue
        if value is None or not str(value).strip():
            if field == REQUIRED_FIELD[item.part]:
                fields.append(field)
                values.append(None)
            continue
        fields.append(field)
        values.append(str(value))

    def lines(shown: list[str | None]) -> list[str]:
        return head + [ctx.t("cadre.card-field", label=_field_label(ctx, item.part, field),
                             value=ctx.t("cadre.card-not-listed") if value is None else html.escape(value))
                       for field, value in zip(fields, shown, strict=True)]

    fixed = visible_units("\n".join(lines([None if v is None else "" for v in values])))
    fitted = iter(fit_lines([v for v in values if v is not None], room - fixed))
    return "\n".join(lines([None if v is None else next(fitted) for v in values]))


async def _card_screen(ctx: Ctx, scope: Scope, row: DutyItemRow, from_find: bool,
                       find_page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    dl = await load_list(ctx.session, scope.link.list_id)
    item = next(i for i in dl.items if i.id == row.id)
    c = scope.c
    text = ""  # (what follows the card: its fields give way to it)
    rows: list[list[InlineKeyboardButton]] = []
    if scope.consultation is None:  # the published list: to look at only
        text += "\n\n" + ctx.t("cadre.published-note", version=_published_version(ctx, scope))
    elif scope.cadre:
        mine = (await cm.my_counts_by_item(ctx.session, ctx.person.id, [row.id or 0])).get(row.id or 0, 0)
        if scope.can_comment:
            # "法定职责必须为" (basic items): what the consultation is there to fill in
            if item.part == Part.BASIC and not (item.basis or "").strip():
                text += "\n\n" + ctx.t("cadre.card-no-basis", kind=ctx.t("comment.kind.basis"))
            if mine:
                text += "\n\n" + ctx.t("cadre.card-mine", n=mine)
            rows.append([_btn(ctx.t("cadre.btn-comment"), CommentCB(c=c, i=row.id or 0))])
        else:
            text += "\n\n" + _window_text(ctx, scope.consultation, scope.window)
        if mine:
            rows.append([_btn(ctx.t("cadre.btn-mine-on-item", n=mine), MineCB(a="l", i=row.id or 0))])
    if from_find:
        rows.append([_btn(ctx.t("cadre.btn-back-find"), FindCB(c=c, n=find_page))])
    else:
        part = item.part
        cats = dl.categories(part)
        g = cats.index(item.category or "")
        same = [i for i in dl.part(part) if (i.category or "") == (item.category or "")]
        page = next(k for k, i in enumerate(same) if i.id == item.id) // PAGE
        rows.append([_btn(ctx.t("cadre.btn-back-items"), ListCB(c=c, p=part.value, g=g, n=page))])
    return _item_text(ctx, item, TEXT_LIMIT - visible_units(text)) + text, _kb(rows)


# --- invites -------------------------------------------------------------------------------------


# An invite link (or its inv_… code) pasted into the chat as text, not tapped: forwarded by
# WeChat or SMS, where a t.me link often does not open the app with its payload.
PASTED_INVITE = re.compile(r"\s*(?:(?:https?://)?(?:t\.me|telegram\.me)/\w+/?\?start=)?(inv_[a-z0-9]{1,40})\s*",
                           re.IGNORECASE)
JOINING_TEXTS.append(PASTED_INVITE)  # someone not stored yet may be stored by it, as by /start inv_…


@starts.message(CommandStart(deep_link=True, magic=F.args.func(invites.is_invite)))
async def start_invite(message: Message, command: CommandObject, ctx: Ctx) -> None:
    await _invite(message, command.args or "", ctx)


@starts.message(F.text.func(lambda text: PASTED_INVITE.fullmatch(text) is not None))
async def pasted_invite(message: Message, ctx: Ctx) -> None:
    found = PASTED_INVITE.fullmatch(message.text or "")
    await _invite(message, found.group(1) if found else "", ctx)


async def _invite(message: Message, args: str, ctx: Ctx) -> None:
    found = await invites.get_invite(ctx.session, args)
    status = invites.invite_status(found, ctx.now()) if found is not None else "unknown"
    if found is not None and ctx.is_organizer and found.role != "organizer":
        # (say, one who tapped the link they just made): it stays unused for the cadre
        await message.answer(ctx.t("cadre.invite-organizer-keeps") if status == "open" else
                             ctx.t("cadre.invite-organizer-dead", status=ctx.t(f"invites.cli.status.{status}")))
        return
    if found is not None and status == "open" and _holds(ctx, found.role, found.township_id):
        # it would change nothing: it stays unused for whoever it was meant for
        township = await ctx.session.get(Township, found.township_id) if found.township_id else None
        already = ctx.t("cadre.invite-organizer-already") if found.role == "organizer" else \
            ctx.t("cadre.invite-already", township=html.escape(township.name) if township else "")
        await message.answer(already + "\n\n" + ctx.t("cadre.invite-kept"))
        return
    if found is not None and status == "open" and found.role == "cadre" and ctx.is_cadre:
        # a cadre of another township: moving loses their own township's list, and a link meant
        # for somebody else would be spent — asked first, the invite unused until they say so
        text, kb = await _move_question(ctx, found.code, found.township_id)
        await message.answer(text, reply_markup=kb)
        return
    await message.answer(await _redeem(ctx, message.bot, args))


async def _move_question(ctx: Ctx, code: str, township_id: int | None) -> tuple[str, InlineKeyboardMarkup]:
    now = await ctx.session.get(Township, ctx.person.township_id) if ctx.person.township_id else None
    new = await ctx.session.get(Township, township_id) if township_id else None
    names = {"township": now.name if now else "", "new": new.name if new else ""}  # (buttons: plain text)
    return ctx.t("cadre.invite-move-ask", **{k: html.escape(v) for k, v in names.items()}), _kb([
        [_btn(_short(ctx.t("cadre.btn-move-yes", **names), 60), MoveCB(v=code, y=1))],
        [_btn(_short(ctx.t("cadre.btn-move-no", **names), 60), MoveCB(v=code, y=0))]])


@router.callback_query(MoveCB.filter())
async def invite_move(query: CallbackQuery, callback_data: MoveCB, ctx: Ctx, state: FSMContext) -> None:
    found = await invites.get_invite(ctx.session, callback_data.v)
    if found is None or found.role != "cadre":
        await _deny_press(query, ctx, "error.stale-button")
        return
    await query.answer()
    if callback_data.y and found.used_by == ctx.person.id and _holds(ctx, "cadre", found.township_id):
        return  # a double tap: the first one moved them (and said so)
    if not callback_data.y:
        township = await ctx.session.get(Township, ctx.person.township_id) if ctx.person.township_id else None
        text = ctx.t("cadre.invite-stay", township=html.escape(township.name) if township else "") \
            if ctx.is_cadre else ""
        if invites.invite_status(found, ctx.now()) == "open":
            text += ("\n\n" if text else "") + ctx.t("cadre.invite-kept")
        await edit_or_send(query, text or ctx.t("cadre.invite-used"))
        return
    unused = found.used_by is None
    text = await _redeem(ctx, query.bot, callback_data.v)
    current = await state.get_state()
    redeemed = await invites.get_invite(ctx.session, callback_data.v)
    if unused and redeemed is not None and redeemed.used_by == ctx.person.id and current is not None \
            and current.startswith(_CADRE_FORMS):
        # moved: a comment, proposal or report begun for the old township is not the new one's
        note = await _form_dropped_note(ctx, state)
        await state.set_state(None)
        text += "\n\n" + note if note else ""
    await edit_or_send(query, text)


async def _redeem(ctx: Ctx, bot: Bot | None, code: str) -> str:
    """Use the invite for the person: what it made them, or why it could not."""
    invite, reason = await invites.redeem(ctx.session, code, ctx.person.id, ctx.now())
    if reason == "already" and invite is not None and not (ctx.is_organizer if invite.role == "organizer"
                                                           else ctx.is_cadre):
        # used by this person, whose role was taken back since (`invites revoke --demote`): the
        # link is spent, not a way back, and they are not told they still hold the role
        reason = "revoked" if invite.revoked_at is not None else "used"
    if invite is None or reason not in ("ok", "already"):
        return ctx.t(f"cadre.invite-{reason}")
    await ctx.commit()
    if bot is not None:
        await set_person_commands(bot, ctx.person.id, invite.role, ctx.settings.locale,
                                  chosen=chosen_language(ctx.person))
    # "already": this person used this invite before, and may have moved to another township since
    township_id = ctx.person.township_id if reason == "already" and ctx.is_cadre else invite.township_id
    township = await ctx.session.get(Township, township_id) if township_id else None
    name = html.escape(township.name) if township else ""
    if invite.role == "organizer":
        return ctx.t("cadre.invite-welcome-organizer")
    text = ctx.t("cadre.invite-welcome" if reason == "ok" else "cadre.invite-already", township=name)
    return text + "\n\n" + ctx.t("cadre.what-you-can-do")


def _holds(ctx: Ctx, role: str, township_id: int | None) -> bool:
    """Whether the person already is what an invite of this role and township would make them."""
    if role == "organizer":
        return ctx.is_organizer
    return ctx.is_cadre and ctx.person.township_id == township_id


# --- /list: browsing -------------------------------------------------------------------------------


@router.message(Command("list"))
async def list_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    await _leave_form(message, ctx, state)
    found = await _visible_consultations(ctx)
    published = await _published_scopes(ctx)
    if not found:
        # between consultations a cadre sees their township's list as last published, if any
        if published:
            text, kb = _parts_screen(ctx, published[0], await load_list(ctx.session, published[0].link.list_id),
                                     ([], published))
            await message.answer(text, reply_markup=kb)
            return
        await message.answer(await _no_list_text(ctx))
        return
    if len(found) > 1:
        rows = [[_btn(_short(c.title, 50), ListCB(c=c.id or 0))] for c in found]
        await message.answer(ctx.t("cadre.choose-consultation"), reply_markup=_kb(rows))
        return
    scope = await _scope(ctx, found[0].id or 0)
    assert scope is not None
    text, kb = _parts_screen(ctx, scope, await load_list(ctx.session, scope.link.list_id),
                             (await _open_drafts(ctx), published))
    await message.answer(text, reply_markup=kb)


@router.callback_query(ListCB.filter())
async def browse(query: CallbackQuery, callback_data: ListCB, ctx: Ctx, state: FSMContext) -> None:
    scope = await _browse_scope(ctx, callback_data.c)
    if scope is None:
        await _deny_press(query, ctx)
        return
    if await state.get_state() == CommentForm.kind.state:  # browsed on from the kinds: no comment begun
        await state.set_state(None)
    dl = await load_list(ctx.session, scope.link.list_id)
    if callback_data.p == "":
        text, kb = _parts_screen(ctx, scope, dl, await _other_lists(ctx))
    else:
        try:
            part = Part(callback_data.p)
        except ValueError:
            await _deny_press(query, ctx, "error.stale-button")
            return
        if callback_data.g < 0:
            text, kb = _categories_screen(ctx, scope, dl, part, callback_data.n)
        elif callback_data.g < len(dl.categories(part)):
            text, kb = _items_screen(ctx, scope, dl, part, callback_data.g, callback_data.n)
        else:
            await _deny_press(query, ctx, "error.stale-button")
            return
    await query.answer()
    await edit_or_send(query, text, kb)


@router.callback_query(ItemCB.filter())
async def item_card(query: CallbackQuery, callback_data: ItemCB, ctx: Ctx, state: FSMContext) -> None:
    found = await _item_in_scope(ctx, callback_data.c, callback_data.i, browse=True)
    if found is None:
        await _deny_press(query, ctx)
        return
    if await state.get_state() in (CommentForm.kind.state, CommentForm.text.state, CommentForm.wording.state,
                                   CommentForm.edit.state):
        # back from a comment's text (it is dropped), on past its proposed wording (it is saved
        # without), or away from an edit (the comment stays as it was)
        await state.set_state(None)
        await state.update_data(cmt={})
    find = (await state.get_data()).get("cfind") or {}
    text, kb = await _card_screen(ctx, *found, from_find=bool(callback_data.f), find_page=int(find.get("n", 0)))
    await query.answer()
    await edit_or_send(query, text, kb)


# --- /find -------------------------------------------------------------------------------------------


SEARCHED_FIELDS = tuple(f for f in ITEM_FIELDS if f != "seq")


def _hits(dl: DutyList, query: str) -> list[DutyItem]:
    """The items holding every word of the query (as typed into a search box: "消防 检查" finds
    消防安全检查…), each word anywhere on the item's card but its number: the name, content,
    basis, the county departments (/find 民政局), the category, the remarks."""
    words = [w for w in (normalize(part) for part in query.split()) if w]

    def holds(item: DutyItem) -> bool:
        text = "\n".join(normalize(str(getattr(item, f) or "")) for f in SEARCHED_FIELDS)
        return all(w in text for w in words)

    return [i for i in dl.items if holds(i)]


def _find_screen(ctx: Ctx, scope: Scope, dl: DutyList, query: str, page: int,
                 others: Sequence[Consultation] = ()) -> tuple[str, InlineKeyboardMarkup | None]:
    """The items found; `others`: the person's other open consultations, whose lists the query
    may be searched in too (a button each), and then the screen says which list it searched."""
    hits = _hits(dl, query)
    searched = [ctx.t("cadre.find-in", title=html.escape(scope.consultation.title))] \
        if others and scope.consultation is not None else []
    elsewhere = [[_btn(_short(ctx.t("cadre.btn-find-in", title=o.title), 60), FindCB(c=o.id or 0))] for o in others]
    if not hits:
        return "\n".join([*searched, ctx.t("cadre.find-none", query=html.escape(query))]), \
            (_kb(elsewhere) if elsewhere else None)
    c = scope.c
    pages = _pages(len(hits), PAGE)
    page = min(max(page, 0), pages - 1)
    shown = hits[page * PAGE:(page + 1) * PAGE]
    lines = [ctx.t("cadre.find-hits", query=html.escape(query), n=len(hits), page=page + 1, pages=pages)]
    if scope.consultation is None:
        lines.insert(0, ctx.t("cadre.published-note", version=_published_version(ctx, scope)))
    rows = []
    for k, item in enumerate(shown, start=page * PAGE + 1):
        # shortened as /list's names (a list's names and categories are of any length): a page of long
        # names (𠀀 and emoji two of Telegram's units each) ran past its limit and lost the later hits
        lines.append(ctx.t("cadre.find-line", k=k, part=ctx.t(f"part.{item.part.value}"),
                           category=html.escape(_short(_category_label(ctx, item.category), 60)),
                           name=html.escape(fit_plain(item.name, 200))))
        rows.append([_btn(fit_width(f"{k}. {item.name}"), ItemCB(c=c, i=item.id or 0, f=1))])  # (as /list's)
    if pages > 1:
        rows.append(_nav(page, pages, lambda n: FindCB(c=c, n=n)))
    return "\n".join([*searched, *lines]), _kb(rows + elsewhere)


@router.message(Command("find"))
async def find_cmd(message: Message, command: CommandObject, ctx: Ctx, state: FSMContext) -> None:
    await _leave_form(message, ctx, state)
    query = (command.args or "").strip()[:MAX_QUERY]
    if not normalize(query):
        await message.answer(ctx.t("cadre.find-usage"))
        return
    found = await _visible_consultations(ctx)
    if len(found) > 1:  # as /list: the person says which list to search (c=0 until they do)
        # "of": the lists offered, any of which the chooser's buttons may pick (again) later
        await state.update_data(cfind={"c": 0, "q": query, "n": 0, "of": [c.id for c in found]})
        rows = [[_btn(_short(c.title, 50), FindCB(c=c.id or 0))] for c in found]
        await message.answer(ctx.t("cadre.choose-consultation"), reply_markup=_kb(rows))
        return
    # between consultations a cadre searches their township's list as last published, if any
    scope = await _scope(ctx, found[0].id or 0) if found else await _published_scope(ctx)
    if scope is None:
        await message.answer(await _no_list_text(ctx))
        return
    # a resident answering two townships' questionnaires: the one touched last is searched, and
    # the screen says so and offers the others
    others = [] if ctx.is_cadre or not found else [c for c in await _open_drafts(ctx) if c.id != scope.c]
    await state.update_data(cfind={"c": scope.c, "q": query, "n": 0,
                                   **({"of": [scope.c, *(o.id for o in others)]} if others else {})})
    text, kb = _find_screen(ctx, scope, await load_list(ctx.session, scope.link.list_id), query, 0, others)
    await message.answer(text, reply_markup=kb)


async def _find_others(ctx: Ctx, find: dict[str, Any], c: int) -> list[Consultation]:
    """The other lists a search (`cfind`) was offered in, still open to the person, but `c`."""
    of = find.get("of") or []
    return [o for o in await _open_drafts(ctx) if o.id in of and o.id != c] if len(of) > 1 else []


@router.callback_query(FindCB.filter())
async def find_page(query: CallbackQuery, callback_data: FindCB, ctx: Ctx, state: FSMContext) -> None:
    scope = await _browse_scope(ctx, callback_data.c)
    if scope is None:
        await _deny_press(query, ctx)
        return
    find = (await state.get_data()).get("cfind") or {}
    if (find.get("c") not in (callback_data.c, 0) and callback_data.c not in find.get("of", ())) \
            or not find.get("q"):
        await query.answer(ctx.t("cadre.find-again"), show_alert=True)
        return
    find["c"], find["n"] = callback_data.c, callback_data.n
    await state.update_data(cfind=find)
    text, kb = _find_screen(ctx, scope, await load_list(ctx.session, scope.link.list_id), find["q"], callback_data.n,
                            await _find_others(ctx, find, callback_data.c))
    await query.answer()
    await edit_or_send(query, text, kb)


# --- comments on an item ----------------------------------------------------------------------------


async def _comment_target(ctx: Ctx, consultation_id: int, item_id: int) -> tuple[tuple[Scope, DutyItemRow] | None, str]:
    """The item a cadre may comment on now, or None and the catalog key saying why not."""
    if not ctx.is_cadre:
        return None, "cadre.only-cadres"
    found = await _item_in_scope(ctx, consultation_id, item_id)
    if found is None:
        return None, "error.not-allowed"
    if found[0].window != Window.OPEN:
        return None, ""  # the window text
    return found, ""


async def _refuse_target(ctx: Ctx, key: str, consultation_id: int, room: int = TEXT_LIMIT) -> str:
    if key:
        return ctx.t(key)
    consultation = await ctx.session.get(Consultation, consultation_id)
    assert consultation is not None
    return _window_text(ctx, consultation, _window(ctx, consultation), room)


def _throttle_text(ctx: Ctx) -> str:
    return ctx.t("cadre.throttled", n=cm.THROTTLE_COUNT, minutes=int(cm.THROTTLE_WINDOW.total_seconds() // 60))


@router.callback_query(CommentCB.filter())
async def comment_start(query: CallbackQuery, callback_data: CommentCB, ctx: Ctx, state: FSMContext) -> None:
    c, i, k = callback_data.c, callback_data.i, callback_data.k
    found, why = await _comment_target(ctx, c, i)
    if found is None:
        await query.answer(await _refuse_target(ctx, why, c, ANSWER_LIMIT), show_alert=True)
        return
    _, row = found
    if k == "":
        # the kind is asked: a comment typed now is answered so (not "nothing is waiting here")
        await state.set_state(CommentForm.kind)
        await state.update_data(cmt={"c": c, "i": i})
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.choose-kind", name=html.escape(row.name)), _kinds_kb(ctx, c, row))
        return
    if k not in cm.kinds_for(row.part):
        await _deny_press(query, ctx, "error.stale-button")
        return
    if await cm.throttled(ctx.session, ctx.person.id, ctx.now()):
        await query.answer(_throttle_text(ctx), show_alert=True)
        return
    draft = (await state.get_data()).get("cmt") or {}
    if await state.get_state() == CommentForm.kind.state and (draft.get("c"), draft.get("i")) == (c, i) \
            and draft.get("t"):  # typed before the kind was chosen: that is the comment
        comment = await _save_comment(ctx, state, found[0], row, k, str(draft["t"]), draft.get("tm") or [])
        await query.answer()
        text, kb = _ask_wording(ctx, row, comment)
        await edit_or_send(query, ctx.t("cadre.saved-typed", kind=ctx.t(f"comment.kind.{k}"),
                                        text=html.escape(_short(comment.text, 300))) + "\n" + text, kb)
        return
    await state.set_state(CommentForm.text)
    await state.update_data(cmt={"c": c, "i": i, "k": k})
    await query.answer()
    await edit_or_send(query, ctx.t("cadre.ask-text", name=html.escape(row.name), kind=ctx.t(f"comment.kind.{k}"),
                                    max=cm.MAX_TEXT), _kb([[_btn(ctx.t("cadre.btn-back-card"), ItemCB(c=c, i=i))]]))


def _kinds_kb(ctx: Ctx, c: int, row: DutyItemRow) -> InlineKeyboardMarkup:
    i = row.id or 0
    rows = [[_btn(ctx.t(f"comment.kind.{kind}"), CommentCB(c=c, i=i, k=kind))] for kind in cm.kinds_for(row.part)]
    rows.append([_btn(ctx.t("cadre.btn-back-card"), ItemCB(c=c, i=i))])
    return _kb(rows)


async def _kind_first(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """Something sent while the kind of a comment is asked: the kind comes first (the buttons
    again); a text is kept, and becomes the comment once the kind is chosen (several texts, one
    after the other, within the limit)."""
    draft = (await state.get_data()).get("cmt") or {}
    c, i = int(draft.get("c", 0)), int(draft.get("i", 0))
    found, why = await _comment_target(ctx, c, i)
    if found is None:
        await state.set_state(None)
        await message.answer(await _refuse_target(ctx, why, c) + ("\n" + ctx.t("cadre.typed-not-saved")
                                                                   if message.text else ""))
        return
    name = html.escape(found[1].name)
    if not message.text:
        await message.answer(ctx.t("cadre.choose-kind-first", name=name), reply_markup=_kinds_kb(ctx, c, found[1]))
        return
    kept = "\n".join(x for x in (str(draft.get("t") or ""), message.text) if x)
    clean, problem = cm.check_text(kept)
    if problem:
        await message.answer((_too_long(ctx, clean) if problem == "too-long" else ctx.t("cadre.empty")) + "\n"
                             + ctx.t("cadre.choose-kind-first", name=name), reply_markup=_kinds_kb(ctx, c, found[1]))
        return
    await state.update_data(cmt={**draft, "t": clean, "tm": [*(draft.get("tm") or []), message.message_id]})
    await message.answer(ctx.t("cadre.choose-kind-kept", name=name), reply_markup=_kinds_kb(ctx, c, found[1]))


@router.message(CommentForm.kind, F.text & ~F.text.startswith("/"))
async def comment_kind_typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    await _kind_first(message, ctx, state)


def _too_long(ctx: Ctx, text: str, limit: int = cm.MAX_TEXT) -> str:
    return ctx.t("cadre.too-long", max=limit, n=len(text.strip()))


@router.message(CommentForm.text, F.text & ~F.text.startswith("/"))
async def comment_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    draft = (await state.get_data()).get("cmt") or {}
    c, i, k = int(draft.get("c", 0)), int(draft.get("i", 0)), str(draft.get("k", ""))
    found, why = await _comment_target(ctx, c, i)
    if found is None or k not in cm.kinds_for(found[1].part):
        await state.set_state(None)
        why_not = await _refuse_target(ctx, why, c) if found is None else ctx.t("error.stale-button")
        await message.answer(why_not + "\n" + ctx.t("cadre.typed-not-saved"))  # ("谢谢您的参与" is no receipt)
        return
    clean, problem = cm.check_text(message.text)
    if problem:
        await message.answer(_too_long(ctx, clean) if problem == "too-long" else ctx.t("cadre.empty"))
        return
    if await cm.throttled(ctx.session, ctx.person.id, ctx.now()):
        await state.set_state(None)
        await message.answer(_throttle_text(ctx))
        return
    scope, row = found
    comment = await _save_comment(ctx, state, scope, row, k, clean, [message.message_id])
    text, kb = _ask_wording(ctx, row, comment)
    await message.answer(text, reply_markup=kb)


async def _save_comment(ctx: Ctx, state: FSMContext, scope: Scope, row: DutyItemRow, kind: str, clean: str,
                        message_ids: list[int]) -> Comment:
    """Store the comment (committed) and ask its proposed wording; the message that gave its text
    (when one did) is remembered, so that an edit of it edits the comment."""
    comment = await cm.add_comment(ctx.session, consultation_id=scope.c, item_id=row.id, person_id=ctx.person.id,
                                   township_id=scope.link.township_id, kind=kind, text=clean, now=ctx.now())
    await state.set_state(CommentForm.wording)
    await state.update_data(cmt={}, cw=comment.id)
    if len(message_ids) == 1:  # (a text sent in several messages: an edit of one is no edit of the whole)
        await _remember_typed(state, int(message_ids[0]), comment.id, "text")
    await ctx.commit()
    return comment


def _ask_wording(ctx: Ctx, row: DutyItemRow, comment: Comment) -> tuple[str, InlineKeyboardMarkup]:
    kb = _kb([[_btn(ctx.t("cadre.btn-skip-wording"), MineCB(a="s", m=comment.id or 0))]])
    return ctx.t("cadre.saved-ask-wording", name=html.escape(row.name)), kb


def _after_comment_kb(ctx: Ctx, comment: Comment) -> InlineKeyboardMarkup:
    rows = []
    if comment.item_id is not None:
        rows.append([_btn(ctx.t("cadre.btn-back-card"), ItemCB(c=comment.consultation_id, i=comment.item_id))])
    rows.append([_btn(ctx.t("cadre.btn-mycomments"), MineCB(a="l"))])
    return _kb(rows)


_REFUSALS = ("not-yours", "withdrawn", "answered", "hidden", "closed", "not-yet", "empty")


def _refusal_text(ctx: Ctx, reason: str) -> str:
    if reason == "too-long":
        return ctx.t("cadre.too-long-short", max=cm.MAX_TEXT)
    return ctx.t(f"cadre.refused.{reason}") if reason in _REFUSALS else ctx.t("error.not-allowed")


@router.message(CommentForm.wording, F.text & ~F.text.startswith("/"))
async def comment_wording(message: Message, ctx: Ctx, state: FSMContext) -> None:
    comment_id = int((await state.get_data()).get("cw") or 0)
    if not ctx.is_cadre:
        await state.set_state(None)
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    comment, reason = await cm.set_proposed_wording(ctx.session, comment_id, ctx.person.id, message.text or "",
                                                    ctx.now())
    if reason in ("too-long", "empty"):
        await message.answer(_too_long(ctx, message.text or "") if reason == "too-long" else ctx.t("cadre.empty"))
        return
    await state.set_state(None)
    if reason != "ok" or comment is None:
        await message.answer(_refusal_text(ctx, reason))
        return
    await _remember_typed(state, message, comment.id, "wording")
    await ctx.commit()
    await message.answer(ctx.t("cadre.wording-saved"), reply_markup=_after_comment_kb(ctx, comment))


# --- /mycomments -------------------------------------------------------------------------------------


async def _mine_screen(ctx: Ctx, page: int, item_id: int = 0) -> tuple[str, InlineKeyboardMarkup | None]:
    comments = await cm.my_comments(ctx.session, ctx.person.id, item_id=item_id or None)
    if not comments:
        return ctx.t("cadre.mine-none"), None
    pages = _pages(len(comments), MY_PAGE)
    page = min(max(page, 0), pages - 1)
    shown = comments[page * MY_PAGE:(page + 1) * MY_PAGE]
    names: dict[int, str] = {}
    consultations: dict[int, Consultation | None] = {}
    for comment in shown:
        if comment.item_id is not None and comment.item_id not in names:
            row = await ctx.session.get(DutyItemRow, comment.item_id)
            names[comment.item_id] = row.name if row else "?"
        if comment.consultation_id not in consultations:
            consultations[comment.consultation_id] = await ctx.session.get(Consultation, comment.consultation_id)
    # Every field shortened (in the UTF-16 units Telegram counts: an emoji is two), so a page of
    # the longest comments, wordings and answers fits one message (the answer in full reached
    # the cadre in a message of its own).
    # comments made in several consultations (a second round on a revised draft, two at once):
    # each says which one it went to, the item's name shortened to make room
    several = len({comment.consultation_id for comment in comments}) > 1
    name_room = 40 if several else 80
    blocks = [ctx.t("cadre.mine-title", n=len(comments), page=page + 1, pages=pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for comment in shown:
        if comment.item_id is not None:
            target = ctx.t("cadre.mine-item", name=html.escape(fit_plain(names[comment.item_id], name_room)))
        else:
            target = ctx.t("cadre.mine-missing",
                           name=html.escape(fit_plain(str(comment.missing.get("name", "")), name_room)))
        lines = [ctx.t("cadre.mine-head", id=comment.id, status=ctx.t(f"cadre.status.{cm.comment_status(comment)}"),
                       kind=ctx.t(f"comment.kind.{comment.kind}")), target]
        consultation = consultations[comment.consultation_id]
        if several and consultation is not None:
            lines.append(ctx.t("cadre.mine-consultation", title=html.escape(fit_plain(consultation.title, 24))))
        lines.append(ctx.t("cadre.mine-text", text=html.escape(fit_plain(comment.text, 250))))
        if comment.proposed_wording:
            lines.append(ctx.t("cadre.mine-wording", text=html.escape(fit_plain(comment.proposed_wording, 150))))
        if comment.decision is not None:
            lines.append(ctx.t("cadre.mine-reply", text=html.escape(fit_plain(comment.reply, 200) or "—")))
        blocks.append("\n".join(lines))
        if cm.edit_refusal(comment, ctx.person.id, consultations[comment.consultation_id], ctx.now()) is None:
            # (i: the page of one item's comments, to come back to)
            rows.append([_btn(ctx.t("cadre.btn-edit", id=comment.id), MineCB(a="e", m=comment.id or 0, i=item_id)),
                         _btn(ctx.t("cadre.btn-withdraw", id=comment.id), MineCB(a="w", m=comment.id or 0, i=item_id))])
    if pages > 1:
        rows.append(_nav(page, pages, lambda n: MineCB(a="l", n=n, i=item_id)))
    rule = _mine_rule(ctx, [c for c in consultations.values() if c is not None])
    if rule == "cadre.mine-rule" and not rows:  # (none of this page's can change: answered, withdrawn…)
        rule = "cadre.mine-rule-none-here"
    blocks.append(ctx.t(rule))
    return "\n\n".join(blocks), _kb(rows) if rows else None


def _mine_rule(ctx: Ctx, consultations: list[Consultation]) -> str:
    """The footer of /mycomments: that comments change until the deadline and the answer while a
    consultation of the page is open; once all of them have closed (or not begun), that instead."""
    windows = {_window(ctx, c) for c in consultations}
    if not windows or Window.OPEN in windows:
        return "cadre.mine-rule"
    return "cadre.mine-rule-not-yet" if Window.NOT_YET in windows else "cadre.mine-rule-closed"


@router.message(Command("mycomments"))
async def mycomments_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    await _leave_form(message, ctx, state)
    text, kb = await _mine_screen(ctx, 0)
    await message.answer(text, reply_markup=kb)


@router.callback_query(MineCB.filter())
async def mine_press(query: CallbackQuery, callback_data: MineCB, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await _deny_press(query, ctx, "cadre.only-cadres")
        return
    a, m = callback_data.a, callback_data.m
    if a == "l":
        if await state.get_state() == CommentForm.edit.state:  # back from an edit: the comment stays as it was
            await state.set_state(None)
        text, kb = await _mine_screen(ctx, callback_data.n, callback_data.i)
        await query.answer()
        await edit_or_send(query, text, kb)
        return
    if a not in ("e", "w", "y", "s", "f", "p", "g"):
        await _deny_press(query, ctx, "error.stale-button")
        return
    comment = await cm.get_comment(ctx.session, m)
    if comment is None or comment.person_id != ctx.person.id:
        await _deny_press(query, ctx)
        return
    if a == "s":  # no proposed wording: the comment is already saved
        if comment.status == "withdrawn":  # (withdrawn since: not "saved")
            await query.answer(_refusal_text(ctx, "withdrawn"), show_alert=True)
            return
        asked = int((await state.get_data()).get("cw") or 0)
        if await state.get_state() == CommentForm.wording.state and asked == comment.id:  # (not a later one's)
            await state.set_state(None)
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.saved-no-wording"), _after_comment_kb(ctx, comment))
        return
    consultation = await ctx.session.get(Consultation, comment.consultation_id)
    refusal = cm.edit_refusal(comment, ctx.person.id, consultation, ctx.now())
    if refusal is not None:
        await query.answer(_refusal_text(ctx, refusal), show_alert=True)
        return
    if a in ("f", "p", "g") and comment.item_id is not None:  # (forged: a comment on an item has no such fields)
        await _deny_press(query, ctx, "error.stale-button")
        return
    if a in ("f", "p", "g") or (a == "e" and comment.item_id is None):
        await _edit_missing_press(query, ctx, state, comment, a, callback_data.n)
        return
    if a == "e":
        await state.set_state(CommentForm.edit)
        await state.update_data(ce=comment.id, cf="text")
        await query.answer()
        await edit_or_send(query, _quoting(ctx, "cadre.ask-edit", comment.text, id=comment.id, max=cm.MAX_TEXT),
                           _kb([[_btn(ctx.t("cadre.btn-back-mine"), MineCB(a="l", i=callback_data.i))]]))
    elif a == "w":
        kb = _kb([[_btn(ctx.t("cadre.btn-withdraw-yes"), MineCB(a="y", m=comment.id or 0, i=callback_data.i)),
                   _btn(ctx.t("cadre.btn-withdraw-no"), MineCB(a="l", i=callback_data.i))]])
        # which item it is on (or proposes): a comment's text alone may not say (its /mycomments page is gone)
        if comment.item_id is not None:
            row = await ctx.session.get(DutyItemRow, comment.item_id)
            target = ctx.t("cadre.mine-item", name=html.escape(_short(row.name if row else "?", 80)))
        else:
            target = ctx.t("cadre.mine-missing", name=html.escape(_short(str(comment.missing.get("name", "")), 80)))
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.withdraw-confirm", id=comment.id,
                                        text=target + "\n" + html.escape(_short(comment.text, 300))), kb)
    else:
        _, reason = await cm.withdraw_comment(ctx.session, comment.id or 0, ctx.person.id, ctx.now())
        if reason != "ok":
            await query.answer(_refusal_text(ctx, reason), show_alert=True)
            return
        await ctx.commit()
        await query.answer(ctx.t("cadre.withdrawn"))
        text, kb2 = await _mine_screen(ctx, 0, callback_data.i)
        await edit_or_send(query, ctx.t("cadre.withdrawn") + "\n\n" + text, kb2)


# what of a missing-item proposal 修改 offers to change (MineCB(a="f").n: an old button keeps its
# field), and the order of its buttons
MISSING_EDIT_FIELDS = ("name", "part", "basis", "department", "text", "category")
MISSING_EDIT_SHOWN = ("name", "part", "category", "basis", "department", "text")


def _missing_edit_screen(ctx: Ctx, comment: Comment) -> tuple[str, InlineKeyboardMarkup]:
    m = comment.missing or {}
    part = ctx.t(f"part.{m['part']}") if m.get("part") in {p.value for p in PART_ORDER} else "—"
    text = ctx.t("cadre.missing-edit-choose", id=comment.id, name=html.escape(str(m.get("name") or "—")), part=part,
                 category=html.escape(str(m.get("category") or "—")),
                 basis=html.escape(_short(str(m.get("basis") or "—"), 300)),  # (up to 2,000 typed: as when saved)
                 department=html.escape(str(m.get("department") or "—")), text=html.escape(_short(comment.text, 300)))
    rows = [[_btn(ctx.t(f"cadre.missing-field.{f}"), MineCB(a="f", m=comment.id or 0, n=MISSING_EDIT_FIELDS.index(f)))]
            for f in MISSING_EDIT_SHOWN]
    rows.append([_btn(ctx.t("cadre.btn-back-mine"), MineCB(a="l"))])
    return text, _kb(rows)


async def _edit_missing_press(query: CallbackQuery, ctx: Ctx, state: FSMContext, comment: Comment, a: str,
                              n: int) -> None:
    """修改 on a missing-item proposal (its author's, editable: checked by the caller): which field
    (e), a field chosen (f: its text asked, or the parts or categories offered), a part chosen (p:
    saved, and the new part's category asked), a category chosen (g: saved)."""
    if await state.get_state() == CommentForm.edit.state:  # (another field chosen: the earlier one is left)
        await state.set_state(None)
    if a == "e":
        await query.answer()
        await edit_or_send(query, *_missing_edit_screen(ctx, comment))
        return
    if a == "p":
        if not 0 <= n < len(PART_ORDER):
            await _deny_press(query, ctx, "error.stale-button")
            return
        moved = (comment.missing or {}).get("part") != PART_ORDER[n].value
        edited, reason = await cm.edit_missing(ctx.session, comment.id or 0, ctx.person.id, "part",
                                               PART_ORDER[n].value, ctx.now())
        if reason != "ok" or edited is None:
            await query.answer(_refusal_text(ctx, reason), show_alert=True)
            return
        await ctx.commit()
        await query.answer(ctx.t("cadre.edited", id=edited.id))
        if moved:  # its category was the old part's (cleared with the move): the new part's is asked
            await _ask_missing_category(query, ctx, state, edited, moved=True)
            return
        await edit_or_send(query, ctx.t("cadre.edited", id=edited.id), _after_comment_kb(ctx, edited))
        return
    if a == "g":
        cats = await _proposal_categories(ctx, comment)
        if not -1 <= n < len(cats):
            await _deny_press(query, ctx, "error.stale-button")
            return
        if n < 0:  # 跳过: the proposal as it now is
            await query.answer()
            await edit_or_send(query, *_missing_edit_screen(ctx, comment))
            return
        edited, reason = await cm.edit_missing(ctx.session, comment.id or 0, ctx.person.id, "category", cats[n],
                                               ctx.now())
        if reason != "ok" or edited is None:
            await query.answer(_refusal_text(ctx, reason), show_alert=True)
            return
        await ctx.commit()
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.edited", id=edited.id), _after_comment_kb(ctx, edited))
        return
    if not 0 <= n < len(MISSING_EDIT_FIELDS):
        await _deny_press(query, ctx, "error.stale-button")
        return
    field = MISSING_EDIT_FIELDS[n]
    back = [_btn(ctx.t("cadre.btn-back-mine"), MineCB(a="l"))]
    await query.answer()
    if field == "part":
        rows = [[_btn(ctx.t(f"part.{p.value}"), MineCB(a="p", m=comment.id or 0, n=k))] for k, p in enumerate(PART_ORDER)]
        await edit_or_send(query, ctx.t("cadre.missing-edit-part", id=comment.id), _kb([*rows, back]))
        return
    if field == "category":
        await _ask_missing_category(query, ctx, state, comment, moved=False)
        return
    old = comment.text if field == "text" else str((comment.missing or {}).get(field) or "—")
    limit = cm.MAX_TEXT if field == "text" else cm.MISSING_FIELDS[field]
    await state.set_state(CommentForm.edit)
    await state.update_data(ce=comment.id, cf=field)
    await edit_or_send(query, _quoting(ctx, "cadre.missing-edit-ask", old, id=comment.id,
                                       field=ctx.t(f"cadre.missing-field.{field}"), max=limit), _kb([back]))


async def _proposal_categories(ctx: Ctx, comment: Comment) -> list[str]:
    """The categories of the proposal's part in the list its consultation consults the township on."""
    part = str((comment.missing or {}).get("part") or "")
    link = await repo.link_for_township(ctx.session, comment.consultation_id, comment.township_id)
    if link is None or part not in {p.value for p in PART_ORDER}:
        return []
    return [cat for cat in (await load_list(ctx.session, link.list_id)).categories(Part(part)) if cat]


async def _ask_missing_category(query: CallbackQuery, ctx: Ctx, state: FSMContext, comment: Comment,
                                moved: bool) -> None:
    """The category of a proposal's part: a button for each of the list's, or typed; 跳过 leaves it
    as it is (empty after a move)."""
    m = comment.missing or {}
    part = ctx.t(f"part.{m['part']}") if m.get("part") in {p.value for p in PART_ORDER} else "—"
    cats = await _proposal_categories(ctx, comment)
    rows = [[_btn(fit_width(cat), MineCB(a="g", m=comment.id or 0, n=g))] for g, cat in enumerate(cats)]
    rows.append([_btn(ctx.t("cadre.btn-skip"), MineCB(a="g", m=comment.id or 0, n=-1))])
    await state.set_state(CommentForm.edit)
    await state.update_data(ce=comment.id, cf="category")
    text = ctx.t("cadre.missing-edit-category", id=comment.id, part=part,
                 category=html.escape(str(m.get("category") or "—")), max=MAX_CATEGORY)
    if moved:
        text = ctx.t("cadre.missing-edit-moved", id=comment.id, part=part) + "\n" + text
    await edit_or_send(query, text, _kb(rows))


@router.message(CommentForm.edit, F.text & ~F.text.startswith("/"))
async def comment_edit_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    data = await state.get_data()
    comment_id = int(data.get("ce") or 0)
    if not ctx.is_cadre:
        await state.set_state(None)
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    field = str(data.get("cf") or "text")
    if field in cm.MISSING_FIELDS:  # a missing-item proposal's name, basis or department
        edited, reason = await cm.edit_missing(ctx.session, comment_id, ctx.person.id, field, message.text or "",
                                               ctx.now())
        if reason in ("too-long", "empty"):
            limit = cm.MISSING_FIELDS[field]
            await message.answer(_too_long(ctx, message.text or "", limit) if reason == "too-long"
                                 else ctx.t("cadre.empty"))
            return
        await state.set_state(None)
        if reason != "ok" or edited is None:
            await message.answer(_refusal_text(ctx, reason))
            return
        await _remember_typed(state, message, edited.id, f"missing.{field}")
        await ctx.commit()
        await message.answer(ctx.t("cadre.edited", id=edited.id), reply_markup=_after_comment_kb(ctx, edited))
        return
    comment, reason = await cm.edit_comment(ctx.session, comment_id, ctx.person.id, message.text or "", ctx.now())
    if reason in ("too-long", "empty"):
        await message.answer(_too_long(ctx, message.text or "") if reason == "too-long" else ctx.t("cadre.empty"))
        return
    await state.set_state(None)
    if reason != "ok" or comment is None:
        await message.answer(_refusal_text(ctx, reason))
        return
    await _remember_typed(state, message, comment.id, "text")
    await ctx.commit()
    if comment.item_id is None:  # a missing item's proposal has no proposed wording
        await message.answer(ctx.t("cadre.edited", id=comment.id), reply_markup=_after_comment_kb(ctx, comment))
        return
    # its proposed wording could be given only once, right after the comment: it may change here too
    await state.set_state(CommentForm.wording)
    await state.update_data(cw=comment.id)
    now = ctx.t("cadre.edited-wording-now", text=html.escape(_short(comment.proposed_wording, 300))) \
        if comment.proposed_wording else ""
    kb = _kb([[_btn(ctx.t("cadre.btn-skip-wording"), MineCB(a="s", m=comment.id or 0))]])
    await message.answer("\n".join(x for x in (ctx.t("cadre.edited", id=comment.id), now,
                                                 ctx.t("cadre.edited-ask-wording")) if x), reply_markup=kb)


# --- /missing: an item the list leaves out ---------------------------------------------------------------


async def _cadre_consultations(ctx: Ctx) -> list[Consultation]:
    assert ctx.person.township_id is not None
    return [c for c, _ in await cm.open_consultations_for_township(ctx.session, ctx.person.township_id)]


async def _missing_allowed(ctx: Ctx, consultation_id: int, room: int = TEXT_LIMIT) -> tuple[Scope | None, str]:
    """The scope for a proposal in this consultation now, or None and the text saying why not
    (within `room`: ANSWER_LIMIT for a press's pop-up)."""
    if not ctx.is_cadre:
        return None, ctx.t("cadre.only-cadres")
    scope = await _scope(ctx, consultation_id)
    if scope is None:
        return None, ctx.t("error.not-allowed")
    if scope.window != Window.OPEN:
        return None, _window_text(ctx, scope.consultation, scope.window, room)
    return scope, ""


@router.message(Command("missing"))
async def missing_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    await _leave_form(message, ctx, state)
    found = await _cadre_consultations(ctx)
    if not found:
        await message.answer(await _no_list_text(ctx))
        return
    if len(found) > 1:
        rows = [[_btn(_short(c.title, 50), MissingCB(c=c.id or 0))] for c in found]
        await message.answer(ctx.t("cadre.choose-consultation"), reply_markup=_kb(rows))
        return
    scope, why = await _missing_allowed(ctx, found[0].id or 0)
    if scope is None:
        await message.answer(why)
        return
    if await cm.throttled(ctx.session, ctx.person.id, ctx.now()):
        await message.answer(_throttle_text(ctx))
        return
    await state.set_state(MissingForm.name)
    await state.update_data(mis={"c": scope.consultation.id, "k": _run_mark()})
    await message.answer(ctx.t("cadre.missing-ask-name", max=cm.MAX_SHORT))


def _missing_parts_kb(ctx: Ctx, c: int) -> InlineKeyboardMarkup:
    return _kb([[_btn(ctx.t(f"part.{p.value}"), MissingCB(c=c, a="p", v=p.value))] for p in PART_ORDER])


async def _missing_category_prompt(ctx: Ctx, scope: Scope, part: Part, mark: str) -> tuple[str, InlineKeyboardMarkup]:
    """The category of the part chosen: a button for each of the list's, typed, or skipped (跳过)."""
    dl = await load_list(ctx.session, scope.link.list_id)
    cats = [cat for cat in dl.categories(part) if cat]
    c = scope.c
    # (a button for each of the first CATEGORY_BUTTONS: a draft's 领域 column may hold more values
    # than Telegram takes buttons; the prompt says a category may be typed)
    rows = [[_btn(fit_width(cat), MissingCB(c=c, a="g", v=str(g)))] for g, cat in enumerate(cats[:CATEGORY_BUTTONS])]
    rows.append([_btn(ctx.t("cadre.btn-skip"), MissingCB(c=c, a="k", v=mark))])
    key = "cadre.missing-ask-category" if cats else "cadre.missing-ask-category-typed"
    return ctx.t(key, part=ctx.t(f"part.{part.value}"), max=MAX_CATEGORY), _kb(rows)


def _run_mark() -> str:
    """A mark for one run of a form (a proposal, a report), carried by its 跳过 button: the
    button of an earlier run, still under a prompt answered by typing, skips nothing of a later one."""
    return secrets.token_hex(4)


def _basis_prompt(ctx: Ctx, c: int, mark: str) -> tuple[str, InlineKeyboardMarkup]:
    return ctx.t("cadre.missing-ask-basis"), _kb([[_btn(ctx.t("cadre.btn-skip"), MissingCB(c=c, a="s", v=mark))]])


def _department_prompt(ctx: Ctx, c: int, mark: str) -> tuple[str, InlineKeyboardMarkup]:
    """The county department the item goes with (对应县级部门, a column of the 遗漏事项 sheet): skippable."""
    return (ctx.t("cadre.missing-ask-department", max=cm.MAX_SHORT),
            _kb([[_btn(ctx.t("cadre.btn-skip"), MissingCB(c=c, a="d", v=mark))]]))


@router.callback_query(MissingCB.filter())
async def missing_press(query: CallbackQuery, callback_data: MissingCB, ctx: Ctx, state: FSMContext) -> None:
    c, a, v = callback_data.c, callback_data.a, callback_data.v
    scope, why = await _missing_allowed(ctx, c, ANSWER_LIMIT)
    if scope is None:
        await query.answer(why, show_alert=True)
        return
    if a == "":
        if await cm.throttled(ctx.session, ctx.person.id, ctx.now()):
            await query.answer(_throttle_text(ctx), show_alert=True)
            return
        await state.set_state(MissingForm.name)
        await state.update_data(mis={"c": c, "k": _run_mark()})
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.missing-ask-name", max=cm.MAX_SHORT), None)
        return
    draft = (await state.get_data()).get("mis") or {}
    current = await state.get_state()
    if draft.get("c") != c:
        await _deny_press(query, ctx, "error.stale-button")
        return
    if _missing_double_tap(a, v, current, draft):  # its first tap moved the prompt on: leave it
        await query.answer()
        return
    if a == "p" and current == MissingForm.part.state and v in {p.value for p in PART_ORDER}:
        draft["part"] = v
        await state.update_data(mis=draft)
        await state.set_state(MissingForm.category)
        text, kb = await _missing_category_prompt(ctx, scope, Part(v), str(draft.get("k", "")))
    elif a == "g" and current == MissingForm.category.state and v.isdecimal():
        cats = [cat for cat in (await load_list(ctx.session, scope.link.list_id)).categories(Part(draft.get("part") or "basic")) if cat]
        if int(v) >= len(cats):
            await _deny_press(query, ctx, "error.stale-button")
            return
        draft["category"], draft["gi"] = cats[int(v)], v
        await state.update_data(mis=draft)
        await state.set_state(MissingForm.basis)
        text, kb = _basis_prompt(ctx, c, str(draft.get("k", "")))
    elif a == "k" and current == MissingForm.category.state and v == draft.get("k", ""):
        draft["category"], draft["gi"] = "", ""
        await state.update_data(mis=draft)
        await state.set_state(MissingForm.basis)
        text, kb = _basis_prompt(ctx, c, str(draft.get("k", "")))
    elif a == "s" and current == MissingForm.basis.state and v == draft.get("k", ""):
        draft["basis"] = ""
        await state.update_data(mis=draft)
        await state.set_state(MissingForm.department)
        text, kb = _department_prompt(ctx, c, str(draft.get("k", "")))
    elif a == "d" and current == MissingForm.department.state and v == draft.get("k", ""):
        draft["department"] = ""
        await state.update_data(mis=draft)
        await state.set_state(MissingForm.why)
        text, kb = ctx.t("cadre.missing-ask-why", max=cm.MAX_TEXT), None
    else:
        await _deny_press(query, ctx, "cadre.old-message")
        return
    await query.answer()
    await edit_or_send(query, text, kb)


def _missing_double_tap(a: str, v: str, current: str | None, draft: dict[str, Any]) -> bool:
    """A second tap of a button whose first tap was taken (the prompt it was on now asks the next
    step): a part or category chosen the same, or this proposal's basis skipped already."""
    if a == "p":
        return current == MissingForm.category.state and draft.get("part") == v
    if a == "g":
        return current == MissingForm.basis.state and draft.get("gi") == v
    if a == "k":
        return current == MissingForm.basis.state and draft.get("gi") == "" and v == draft.get("k", "")
    if a == "s":
        return current == MissingForm.department.state and draft.get("basis") == "" and v == draft.get("k", "")
    if a == "d":
        return current == MissingForm.why.state and draft.get("department") == "" and v == draft.get("k", "")
    return False


@router.message(StateFilter(MissingForm.name, MissingForm.category, MissingForm.basis, MissingForm.department,
                            MissingForm.why),
                F.text & ~F.text.startswith("/"))
async def missing_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    draft = (await state.get_data()).get("mis") or {}
    c = int(draft.get("c", 0))
    scope, why = await _missing_allowed(ctx, c)
    if scope is None:
        await state.set_state(None)
        await message.answer(why + "\n" + ctx.t("cadre.typed-not-saved"))
        return
    current = await state.get_state()
    limits = {MissingForm.name.state: cm.MAX_SHORT, MissingForm.category.state: MAX_CATEGORY,
              MissingForm.basis.state: cm.MAX_TEXT, MissingForm.department.state: cm.MAX_SHORT,
              MissingForm.why.state: cm.MAX_TEXT}
    limit = limits[current or ""]
    clean, problem = cm.check_text(message.text, limit)
    if problem:
        await message.answer(_too_long(ctx, clean, limit) if problem == "too-long" else ctx.t("cadre.empty"))
        return
    # the typed steps before the last: the field it fills, the step after it and that step's prompt
    steps: dict[str | None, tuple[str, State, Callable[[], tuple[str, InlineKeyboardMarkup | None]]]] = {
        MissingForm.name.state: ("name", MissingForm.part,
                                 lambda: (ctx.t("cadre.missing-ask-part"), _missing_parts_kb(ctx, c))),
        MissingForm.category.state: ("category", MissingForm.basis,
                                     lambda: _basis_prompt(ctx, c, str(draft.get("k", "")))),
        MissingForm.basis.state: ("basis", MissingForm.department,
                                  lambda: _department_prompt(ctx, c, str(draft.get("k", "")))),
        MissingForm.department.state: ("department", MissingForm.why,
                                       lambda: (ctx.t("cadre.missing-ask-why", max=cm.MAX_TEXT), None))}
    if current in steps:
        field, after, prompt = steps[current]
        draft[field] = clean
        draft.setdefault("tm", {})[str(message.message_id)] = field  # (an edit of it follows: see _draft_edited)
        await state.update_data(mis=draft)
        await state.set_state(after)
        text, kb = prompt()
        await message.answer(text, reply_markup=kb)
        return
    if await cm.throttled(ctx.session, ctx.person.id, ctx.now()):
        await state.set_state(None)
        await message.answer(_throttle_text(ctx))
        return
    missing = {"name": draft.get("name", ""), "part": draft.get("part", ""), "category": draft.get("category", ""),
               "basis": draft.get("basis", ""), "department": draft.get("department", "")}
    comment = await cm.add_comment(ctx.session, consultation_id=c, item_id=None, person_id=ctx.person.id,
                                   township_id=scope.link.township_id, kind=cm.MISSING, text=clean, missing=missing,
                                   now=ctx.now())
    await state.set_state(None)
    await state.update_data(mis={})
    for message_id, field in (draft.get("tm") or {}).items():
        await _remember_typed(state, int(message_id), comment.id, f"missing.{field}")
    await _remember_typed(state, message, comment.id, "text")
    await ctx.commit()
    part = ctx.t(f"part.{missing['part']}") if missing["part"] else "—"
    await message.answer(ctx.t("cadre.missing-saved", name=html.escape(missing["name"]), part=part,
                               category=html.escape(missing["category"] or "—"),
                               basis=html.escape(_short(missing["basis"], 300) or "—"),
                               department=html.escape(missing["department"] or "—")),
                         reply_markup=_after_comment_kb(ctx, comment))


def _typed_choice(text: str | None, labels: dict[str, str]) -> str | None:
    """The option a typed text names, when it names one button's label (in full, or a part of
    only that one: 基本 for 基本履职事项) — people type what the button says instead of tapping it."""
    typed = normalize(text or "")
    if not typed:
        return None
    exact = [value for value, label in labels.items() if normalize(label) == typed]
    if exact:
        return exact[0]
    within = [value for value, label in labels.items() if len(typed) >= 2 and typed in normalize(label)]
    return within[0] if len(within) == 1 else None


@router.message(MissingForm.part, F.text & ~F.text.startswith("/"))
async def missing_part_typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    draft = (await state.get_data()).get("mis") or {}
    c = int(draft.get("c", 0))
    part = _typed_choice(message.text, {p.value: ctx.t(f"part.{p.value}") for p in PART_ORDER})
    if part is None:
        await message.answer(ctx.t("cadre.use-buttons"), reply_markup=_missing_parts_kb(ctx, c))
        return
    scope, why = await _missing_allowed(ctx, c)
    if scope is None:
        await state.set_state(None)
        await message.answer(why)
        return
    draft["part"] = part
    draft.setdefault("tm", {})[str(message.message_id)] = "part"
    await state.update_data(mis=draft)
    await state.set_state(MissingForm.category)
    text, kb = await _missing_category_prompt(ctx, scope, Part(part), str(draft.get("k", "")))
    await message.answer(text, reply_markup=kb)


# --- /report: tasks outside the list --------------------------------------------------------------------


REPORT_STEPS = (
    (ReportForm.department, "department", cm.MAX_SHORT),
    (ReportForm.task, "task", cm.MAX_TEXT),
    (ReportForm.when, "when", MAX_WHEN),
)


@router.message(Command("report"))
async def report_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    if await cm.report_throttled(ctx.session, ctx.person.id, ctx.now()):
        await message.answer(ctx.t("cadre.report-throttled", n=cm.REPORT_THROTTLE_COUNT,
                                   minutes=int(cm.THROTTLE_WINDOW.total_seconds() // 60)))
        return
    await _leave_form(message, ctx, state)
    await state.set_state(ReportForm.department)
    await state.update_data(rep={"k": _run_mark()})
    await message.answer(ctx.t("cadre.report-intro") + "\n\n" + ctx.t("cadre.report-ask-department",
                                                                       max=cm.MAX_SHORT))


def _methods_kb(ctx: Ctx) -> InlineKeyboardMarkup:
    methods = [_btn(ctx.t(f"offlist.method.{m}"), ReportCB(a="m", v=m)) for m in cm.REPORT_METHODS]
    return _kb([methods[:3], methods[3:]])


@router.message(StateFilter(ReportForm.department, ReportForm.task, ReportForm.when, ReportForm.details),
                F.text & ~F.text.startswith("/"))
async def report_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await state.set_state(None)
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    current = await state.get_state()
    draft = (await state.get_data()).get("rep") or {}
    for n, (step, key, limit) in enumerate(REPORT_STEPS):
        if current != step.state:
            continue
        clean, problem = cm.check_text(message.text, limit)
        if problem:
            await message.answer(_too_long(ctx, clean, limit) if problem == "too-long" else ctx.t("cadre.empty"))
            return
        draft[key] = clean
        draft.setdefault("tm", {})[str(message.message_id)] = key  # (an edit of it follows: see _report_edited)
        await state.update_data(rep=draft)
        if n + 1 < len(REPORT_STEPS):
            next_step, next_key, next_limit = REPORT_STEPS[n + 1]
            await state.set_state(next_step)
            await message.answer(ctx.t(f"cadre.report-ask-{next_key}", max=next_limit))
        else:
            await state.set_state(ReportForm.method)
            await message.answer(ctx.t("cadre.report-ask-method"), reply_markup=_methods_kb(ctx))
        return
    clean, problem = cm.check_text(message.text)  # the details
    if problem:
        await message.answer(_too_long(ctx, clean) if problem == "too-long" else ctx.t("cadre.empty"))
        return
    draft.setdefault("tm", {})[str(message.message_id)] = "details"
    await _save_report(ctx, state, draft, clean, message)


# a report's fields by the keys of its draft (and of REPORT_STEPS)
REPORT_DRAFT_FIELDS = {"department": "department", "task": "task", "when": "assigned_on", "details": "details"}
REPORT_TYPED = "rtyped"  # FSM data: {message id: [report id, draft key]} of the cadre's last reports' messages


async def _save_report(ctx: Ctx, state: FSMContext, draft: dict[str, Any], details: str,
                       target: Message | InaccessibleMessage) -> None:
    if not all(draft.get(k) for k in ("department", "task", "when", "method")):
        await state.set_state(None)
        await target.answer(ctx.t("cadre.report-lost"))
        return
    if await cm.report_throttled(ctx.session, ctx.person.id, ctx.now()):
        await state.set_state(None)
        await target.answer(ctx.t("cadre.report-throttled", n=cm.REPORT_THROTTLE_COUNT,
                                  minutes=int(cm.THROTTLE_WINDOW.total_seconds() // 60)))
        return
    assert ctx.person.township_id is not None
    # with the open consultation, or else the township's latest: where the organizers look
    latest = await cm.latest_consultation_for_township(ctx.session, ctx.person.township_id)
    report = await cm.add_report(ctx.session, person_id=ctx.person.id, township_id=ctx.person.township_id,
                                  consultation_id=latest.id if latest is not None else None,
                                  department=draft["department"], task=draft["task"], assigned_on=draft["when"],
                                  method=draft["method"], details=details, now=ctx.now())
    await state.set_state(None)
    typed = dict((await state.get_data()).get(REPORT_TYPED) or {})
    typed.update({mid: [report.id, key] for mid, key in (draft.get("tm") or {}).items()})
    await state.update_data({"rep": {}, "rep_done": draft.get("k", ""),  # its prompt's 跳过, tapped again, saves nothing
                             REPORT_TYPED: dict(list(typed.items())[-TYPED_KEPT:])})
    await ctx.commit()
    await target.answer(ctx.t("cadre.report-saved", id=report.id, department=html.escape(report.department),
                              task=html.escape(_short(report.task, 200)), when=html.escape(report.assigned_on),
                              method=ctx.t(f"offlist.method.{report.method}")))


@router.callback_query(ReportCB.filter())
async def report_press(query: CallbackQuery, callback_data: ReportCB, ctx: Ctx, state: FSMContext) -> None:
    if not ctx.is_cadre:
        await _deny_press(query, ctx, "cadre.only-cadres")
        return
    current = await state.get_state()
    draft = (await state.get_data()).get("rep") or {}
    if callback_data.a == "m" and current == ReportForm.method.state and callback_data.v in cm.REPORT_METHODS:
        draft = await _chosen_method(state, callback_data.v)
        await query.answer()
        await edit_or_send(query, *_details_prompt(ctx, callback_data.v, draft))
        return
    if callback_data.a == "s" and current == ReportForm.details.state and callback_data.v == draft.get("k", ""):
        await query.answer()
        if query.message is not None:  # (an InaccessibleMessage too: a prompt of days ago, answered in the chat)
            await _save_report(ctx, state, draft, "", query.message)
        return
    if callback_data.a == "s" and callback_data.v and callback_data.v == (await state.get_data()).get("rep_done"):
        await query.answer(ctx.t("cadre.report-already-saved"))  # a double tap, or details typed: nothing to skip
        return
    if callback_data.a in ("w", "y", "l"):
        await _myreports_press(query, callback_data, ctx)
        return
    await _deny_press(query, ctx, "cadre.old-message")


@router.message(ReportForm.method, F.text & ~F.text.startswith("/"))
async def report_method_typed(message: Message, ctx: Ctx, state: FSMContext) -> None:
    method = _typed_choice(message.text, {m: ctx.t(f"offlist.method.{m}") for m in cm.REPORT_METHODS})
    if method is None or not ctx.is_cadre:
        await message.answer(ctx.t("cadre.use-buttons"), reply_markup=_methods_kb(ctx))
        return
    text, kb = _details_prompt(ctx, method, await _chosen_method(state, method))
    await message.answer(text, reply_markup=kb)


async def _chosen_method(state: FSMContext, method: str) -> dict[str, Any]:
    draft = (await state.get_data()).get("rep") or {}
    draft["method"] = method
    await state.update_data(rep=draft)
    await state.set_state(ReportForm.details)
    return draft


def _details_prompt(ctx: Ctx, method: str, draft: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup]:
    return (ctx.t("cadre.report-ask-details", method=ctx.t(f"offlist.method.{method}"), max=cm.MAX_TEXT),
            _kb([[_btn(ctx.t("cadre.btn-skip"), ReportCB(a="s", v=str(draft.get("k", ""))))]]))


@router.message(Command("myreports"))
async def myreports_cmd(message: Message, ctx: Ctx) -> None:
    if not ctx.is_cadre:
        await message.answer(ctx.t("cadre.only-cadres"))
        return
    text, kb = await _myreports_screen(ctx)
    await message.answer(text, reply_markup=kb)


async def _myreports_screen(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup | None]:
    """The cadre's latest off-list reports, with a 撤回 button for each they may still take back."""
    reports = await cm.my_reports(ctx.session, ctx.person.id)
    if not reports:
        return ctx.t("cadre.myreports-none"), None
    shown = reports[:REPORTS_SHOWN]
    consultations = await cm.report_consultations(ctx.session, shown)
    tz = ctx.settings.timezone
    blocks = [ctx.t("cadre.myreports-title", n=len(reports), shown=len(shown)) if len(shown) < len(reports)
              else ctx.t("cadre.myreports-title-all", n=len(reports))]  # (not "1, the latest 1 shown")
    buttons = []
    for r in shown:
        # each field shortened: ten reports of the longest fields still fit one message
        blocks.append(ctx.t("cadre.myreports-line", id=r.id, created=format_local(r.created_at, tz),
                            department=html.escape(_short(r.department, 60)), task=html.escape(_short(r.task, 150)),
                            when=html.escape(_short(r.assigned_on, 40)), method=ctx.t(f"offlist.method.{r.method}")))
        if cm.report_refusal(r, ctx.person.id, consultations.get(r.consultation_id or 0), ctx.now()) is None:
            buttons.append(_btn(ctx.t("cadre.btn-withdraw", id=r.id), ReportCB(a="w", v=str(r.id))))
    if buttons:
        blocks.append(ctx.t("cadre.myreports-rule"))
    rows = [buttons[n:n + 2] for n in range(0, len(buttons), 2)]
    return "\n\n".join(blocks), _kb(rows) if rows else None


async def _myreports_press(query: CallbackQuery, callback_data: ReportCB, ctx: Ctx) -> None:
    """撤回 on /myreports: ask, then delete the report (its author's own, see cm.report_refusal)."""
    if callback_data.a == "l":
        await query.answer()
        await edit_or_send(query, *await _myreports_screen(ctx))
        return
    report_id = callback_data.v
    if callback_data.a == "w":
        report, refusal = await cm.withdrawable_report(ctx.session, report_id, ctx.person.id, ctx.now())
        if refusal:
            await _deny_press(query, ctx, _report_refusal_key(refusal))
            return
        assert report is not None
        await query.answer()
        await edit_or_send(query, ctx.t("cadre.report-withdraw-confirm", id=report.id,
                                        task=html.escape(_short(report.task, 300))),
                           _kb([[_btn(ctx.t("cadre.btn-withdraw-yes"), ReportCB(a="y", v=str(report.id))),
                                 _btn(ctx.t("cadre.btn-withdraw-no"), ReportCB(a="l"))]]))
        return
    refusal = await cm.withdraw_report(ctx.session, report_id, ctx.person.id, ctx.now())
    if refusal != "ok":
        await _deny_press(query, ctx, _report_refusal_key(refusal))
        return
    await ctx.commit()
    await query.answer(ctx.t("cadre.report-withdrawn", id=report_id))
    text, kb = await _myreports_screen(ctx)
    await edit_or_send(query, ctx.t("cadre.report-withdrawn", id=report_id) + "\n\n" + text, kb)


def _report_refusal_key(refusal: str) -> str:
    return {"not-yours": "cadre.report-refused.not-yours", "closed": "cadre.report-refused.closed"}.get(
        refusal, "cadre.report-refused.unknown")


# --- a comment's message edited in Telegram -------------------------------------------------------------


@router.edited_message(F.text & ~F.text.startswith("/"))
async def comment_message_edited(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """The cadre edited (in Telegram) a message that became a comment or its proposed wording: the
    comment follows the edit while it may still be edited, as with 修改 in /mycomments. Any other
    edited message goes on to the residents' handler (a typed answer of the questionnaire)."""
    data = await state.get_data()
    found = (data.get(TYPED) or {}).get(str(message.message_id))
    if not ctx.is_cadre:
        raise SkipHandler
    if not found:
        if not await _draft_edited(message, ctx, state, data.get("mis") or {}) \
                and not await _report_edited(message, ctx, state, data):
            raise SkipHandler
        return
    comment_id, field = int(found[0]), str(found[1])
    if field.startswith("missing."):
        await _proposal_message_edited(message, ctx, state, comment_id, field.removeprefix("missing."))
        return
    change = cm.set_proposed_wording if field == "wording" else cm.edit_comment
    comment, reason = await change(ctx.session, comment_id, ctx.person.id, message.text or "", ctx.now())
    if reason in ("too-long", "empty"):
        problem = _too_long(ctx, message.text or "") if reason == "too-long" else ctx.t("cadre.empty")
        await message.answer(problem + "\n" + ctx.t("cadre.edit-followed-kept", id=comment_id))
        return
    if reason != "ok" or comment is None:
        await message.answer(_refusal_text(ctx, reason) + "\n" + ctx.t("cadre.edit-followed-kept", id=comment_id))
        return
    await ctx.commit()
    await message.answer(ctx.t("cadre.edit-followed-wording" if field == "wording" else "cadre.edit-followed",
                               id=comment.id))


def _missing_parts(ctx: Ctx) -> dict[str, str]:
    return {p.value: ctx.t(f"part.{p.value}") for p in PART_ORDER}


async def _draft_edited(message: Message, ctx: Ctx, state: FSMContext, draft: dict[str, Any]) -> bool:
    """A message typed into the /missing in progress (its name, part, category, basis or
    department), edited in Telegram before the proposal was sent: the draft follows, and says so.
    False when the message is none of them."""
    field = (draft.get("tm") or {}).get(str(message.message_id))
    current = await state.get_state()
    if not field or current is None or not current.startswith(MissingForm.__full_group_name__):
        return False
    if field == "part":
        value = _typed_choice(message.text, _missing_parts(ctx))
        if value is None:
            await message.answer(ctx.t("cadre.edit-part-unknown") + "\n" + ctx.t("cadre.edit-draft-kept"))
            return True
        if value != draft.get("part") and current != MissingForm.category.state:
            draft["category"] = ""  # the old part's: asked again in /mycomments once it is sent
        shown = ctx.t(f"part.{value}")
    else:
        value, problem = cm.check_text(message.text, cm.MISSING_FIELDS[field])
        if problem:
            limit = cm.MISSING_FIELDS[field]
            await message.answer((_too_long(ctx, value, limit) if problem == "too-long" else ctx.t("cadre.empty"))
                                 + "\n" + ctx.t("cadre.edit-draft-kept"))
            return True
        shown = html.escape(_short(value, 300))
    moved = field == "part" and value != draft.get("part")
    draft[field] = value
    await state.update_data(mis=draft)
    text = ctx.t("cadre.edit-followed-draft", field=ctx.t(f"cadre.missing-field.{field}"), value=shown)
    if moved and current == MissingForm.category.state:  # its category is being asked: of the new part
        scope, _ = await _missing_allowed(ctx, int(draft.get("c", 0)))
        if scope is not None:
            prompt, kb = await _missing_category_prompt(ctx, scope, Part(value), str(draft.get("k", "")))
            await message.answer(text + "\n\n" + prompt, reply_markup=kb)
            return True
    elif moved:
        text += "\n" + ctx.t("cadre.edit-draft-category-cleared")
    await message.answer(text)
    return True


async def _proposal_message_edited(message: Message, ctx: Ctx, state: FSMContext, comment_id: int,
                                   field: str) -> None:
    """The message that gave a sent proposal's `field` edited in Telegram: the proposal follows, as
    with 修改 in /mycomments (a move to another part asks the new part's category)."""
    kept = ctx.t("cadre.edit-followed-kept", id=comment_id)
    value = _typed_choice(message.text, _missing_parts(ctx)) if field == "part" else message.text or ""
    if value is None:
        await message.answer(ctx.t("cadre.edit-part-unknown") + "\n" + kept)
        return
    before = await cm.get_comment(ctx.session, comment_id)
    moved = field == "part" and before is not None and (before.missing or {}).get("part") != value
    edited, reason = await cm.edit_missing(ctx.session, comment_id, ctx.person.id, field, value, ctx.now())
    if reason in ("too-long", "empty"):
        limit = cm.MISSING_FIELDS.get(field, cm.MAX_SHORT)
        await message.answer((_too_long(ctx, value, limit) if reason == "too-long" else ctx.t("cadre.empty"))
                             + "\n" + kept)
        return
    if reason != "ok" or edited is None:
        await message.answer(_refusal_text(ctx, reason) + "\n" + kept)
        return
    await ctx.commit()
    text = ctx.t("cadre.edit-followed-missing", id=edited.id, field=ctx.t(f"cadre.missing-field.{field}"))
    if not moved:
        await message.answer(text, reply_markup=_after_comment_kb(ctx, edited))
        return
    m = edited.missing or {}
    cats = await _proposal_categories(ctx, edited)
    rows = [[_btn(fit_width(cat), MineCB(a="g", m=edited.id or 0, n=g))] for g, cat in enumerate(cats)]
    rows.append([_btn(ctx.t("cadre.btn-skip"), MineCB(a="g", m=edited.id or 0, n=-1))])
    if await state.get_state() is None:  # (not in the middle of another form: its typing is not taken)
        await state.set_state(CommentForm.edit)
        await state.update_data(ce=edited.id, cf="category")
    part = ctx.t(f"part.{m.get('part')}")
    await message.answer("\n".join([text, ctx.t("cadre.missing-edit-moved", id=edited.id, part=part),
                                     ctx.t("cadre.missing-edit-category", id=edited.id, part=part, category="—",
                                           max=MAX_CATEGORY)]), reply_markup=_kb(rows))


async def _report_edited(message: Message, ctx: Ctx, state: FSMContext, data: dict[str, Any]) -> bool:
    """A message typed into /report, edited in Telegram: the draft follows before the report is
    sent, the report after (while it may still be withdrawn); False when the message is none of them."""
    key = ((data.get("rep") or {}).get("tm") or {}).get(str(message.message_id))
    current = await state.get_state()
    if key and current is not None and current.startswith(ReportForm.__full_group_name__):
        draft = dict(data.get("rep") or {})
        limit = cm.REPORT_FIELDS[REPORT_DRAFT_FIELDS[key]]
        clean, problem = cm.check_text(message.text, limit)
        if problem:
            await message.answer((_too_long(ctx, clean, limit) if problem == "too-long" else ctx.t("cadre.empty"))
                                 + "\n" + ctx.t("cadre.edit-report-draft-kept"))
            return True
        draft[key] = clean
        await state.update_data(rep=draft)
        await message.answer(ctx.t("cadre.edit-followed-report-draft", field=ctx.t(f"cadre.report-field.{key}"),
                                   value=html.escape(_short(clean, 300))))
        return True
    saved = (data.get(REPORT_TYPED) or {}).get(str(message.message_id))
    if not saved:
        return False
    report_id, key = int(saved[0]), str(saved[1])
    field = REPORT_DRAFT_FIELDS.get(key, "")
    kept = ctx.t("cadre.edit-report-kept", id=report_id)
    report, reason = await cm.edit_report(ctx.session, report_id, ctx.person.id, field, message.text or "",
                                          ctx.now())
    if reason in ("too-long", "empty"):
        limit = cm.REPORT_FIELDS.get(field, cm.MAX_TEXT)
        await message.answer((_too_long(ctx, message.text or "", limit) if reason == "too-long"
                              else ctx.t("cadre.empty")) + "\n" + kept)
        return True
    if reason != "ok" or report is None:
        refused = ctx.t("cadre.report-edit-closed") if reason == "closed" else ctx.t(_report_refusal_key(reason))
        await message.answer(refused + "\n" + kept)
        return True
    await ctx.commit()
    await message.answer(ctx.t("cadre.edit-followed-report", id=report.id, field=ctx.t(f"cadre.report-field.{key}")))
    return True


# --- anything but text in the middle of a form ------------------------------------------------------------


@router.message(StateFilter(CommentForm, MissingForm, ReportForm), ~F.text)
async def form_not_text(message: Message, ctx: Ctx, state: FSMContext) -> None:
    if await state.get_state() == CommentForm.kind.state:
        if await first_of_album(message, state):
            await _kind_first(message, ctx, state)
        return
    if await first_of_album(message, state):
        await message.answer(not_text_note(message, ctx.t("cadre.text-please"), ctx.t))
