"""What everybody can do: /help, /language, /mydata, /delete_me and /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import KICKED, ChatMemberUpdatedFilter, Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.app import set_person_commands
from bot.broadcaster import mark_active
from bot.context import Ctx
from bot.routers import edit_or_send
from storage import people
from surveys.i18n import LOCALES

router = Router(name="common")
# one person's business (their data, its deletion, their language): never in a group, where
# anybody could press the buttons under somebody else's /delete_me
router.message.filter(F.chat.type == "private")


class LangCB(CallbackData, prefix="lang"):
    code: str


class DeleteCB(CallbackData, prefix="del"):
    confirm: bool
    t: int = 0  # when the confirmation was asked (Unix seconds): a tap long after erases nothing


# how long a /delete_me confirmation may be tapped: one left unanswered and tapped by chance weeks
# later, the person having gone on (a questionnaire, a cadre's comments), would erase all that
DELETE_CONFIRM_VALID = 3600


@router.message(Command("help"))
async def help_cmd(message: Message, ctx: Ctx) -> None:
    if ctx.is_organizer:  # their own commands first; of the residents' only what works for them
        parts = [ctx.t("help.organizer"), *([ctx.t("help.cadre")] if ctx.is_cadre else []),
                 ctx.t("help.organizer-other")]
    elif ctx.is_cadre:  # theirs, then the common ones (the residents' are about answering a questionnaire)
        parts = [ctx.t("help.cadre"), ctx.t("help.organizer-other")]
    else:
        parts = [ctx.t("help.resident")]
    await message.answer("\n\n".join(parts))


@router.message(Command("language"))
async def language_cmd(message: Message, ctx: Ctx) -> None:
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=ctx.t(f"language.name.{code}"), callback_data=LangCB(code=code).pack())
        for code in LOCALES
    ]])
    await message.answer(ctx.t("language.choose"), reply_markup=kb)


@router.callback_query(LangCB.filter())
async def language_set(query: CallbackQuery, callback_data: LangCB, ctx: Ctx) -> None:
    if callback_data.code not in LOCALES:
        await query.answer(ctx.t("error.stale-button"))
        return
    await people.set_language(ctx.session, ctx.person.id, callback_data.code)
    await ctx.commit()
    ctx.locale = callback_data.code
    await query.answer()
    await edit_or_send(query, ctx.t("language.set"))
    if query.bot is not None:  # the command menu in it too
        role = "organizer" if ctx.is_organizer else "cadre" if ctx.is_cadre else "resident"
        await set_person_commands(query.bot, ctx.person.id, role, ctx.settings.locale, chosen=callback_data.code)


@router.message(Command("mydata"))
async def mydata_cmd(message: Message, ctx: Ctx) -> None:
    counts = await people.personal_data(ctx.session, ctx.person.id)
    role = ctx.t(f"role.{'organizer' if ctx.is_organizer else ctx.person.role}")
    await message.answer(ctx.t("mydata.text", user_id=ctx.person.id, role=role,
                               language=ctx.t(f"language.name.{ctx.locale}"), **counts))


@router.message(Command("delete_me"))
async def delete_me_cmd(message: Message, ctx: Ctx) -> None:
    from storage.invites import open_invites_made_by

    asked = int(ctx.now().timestamp())
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=ctx.t("delete.yes"), callback_data=DeleteCB(confirm=True, t=asked).pack()),
        InlineKeyboardButton(text=ctx.t("delete.no"), callback_data=DeleteCB(confirm=False).pack()),
    ]])
    text = ctx.t("delete.confirm")
    made = len(await open_invites_made_by(ctx.session, ctx.person.id, ctx.now()))
    if made:  # an organizer's invites go with them (storage.people.delete_person): said before, not after
        text += "\n\n" + ctx.t("delete.invites-void", n=made)
    await message.answer(text, reply_markup=kb)


@router.callback_query(DeleteCB.filter())
async def delete_me_confirm(query: CallbackQuery, callback_data: DeleteCB, ctx: Ctx, state: FSMContext) -> None:
    if callback_data.confirm and not 0 <= ctx.now().timestamp() - callback_data.t <= DELETE_CONFIRM_VALID:
        await query.answer(ctx.t("delete.expired"), show_alert=True)
        return
    await query.answer()
    if not callback_data.confirm:
        await edit_or_send(query, ctx.t("delete.kept"))
        return
    configured = ctx.person.id in ctx.settings.organizer_ids
    # a menu of their own, from an invite or in a language they chose
    had_menu = (ctx.person.role in ("cadre", "organizer") and not configured) or ctx.person.language_chosen
    await people.delete_person(ctx.session, ctx.person.id, ctx.now())
    await ctx.commit()
    await state.clear()
    await edit_or_send(query, ctx.t("delete.done"))
    if had_menu and query.bot is not None:  # back to everybody's menu (or the organizers', in every language)
        await set_person_commands(query.bot, ctx.person.id, "organizer" if configured else "resident",
                                  ctx.settings.locale)


@router.message(Command("cancel"))
async def cancel_cmd(message: Message, ctx: Ctx, state: FSMContext) -> None:
    """Pauses whatever is in progress; the questionnaire resumes at the next message."""
    from bot.routers.cadre import CommentForm, MissingForm, ReportForm
    from bot.routers.organizer import Announce, ChangeDeadline, NewConsultation, ReplyComment
    from bot.routers.resident import pause

    form = await state.get_state()  # a form left half-filled (a comment, a report, a new consultation…)
    typed_first = bool(((await state.get_data()).get("cmt") or {}).get("t"))  # (a comment typed before its kind)
    await state.clear()
    paused = await pause(ctx)  # the next message resumes the questionnaire and answers nothing
    if form == CommentForm.wording.state:  # the comment itself was saved before its wording was asked
        await message.answer(ctx.t("cadre.saved-no-wording"))
        return
    if form == CommentForm.edit.state:
        await message.answer(ctx.t("cadre.edit-cancelled"))
        return
    if form == CommentForm.kind.state and typed_first:
        await message.answer(ctx.t("cancel.stopped"))
        return
    if form in (CommentForm.kind.state, MissingForm.name.state, ReportForm.department.state,
                NewConsultation.title.state, Announce.text.state,  # a form's first step: nothing given yet
                ChangeDeadline.value.state, ReplyComment.text.state):  # (a date or reply refused is not kept)
        await message.answer(ctx.t("cancel.stopped-empty"))
        return
    if form is not None:
        await message.answer(ctx.t("cancel.stopped"))
        return
    await message.answer(ctx.t("cancel.paused" if paused else "cancel.nothing"))


@router.my_chat_member(F.chat.type == "private", ChatMemberUpdatedFilter(member_status_changed=KICKED))
async def blocked_bot(event: ChatMemberUpdated, ctx: Ctx) -> None:
    """The person blocked the bot (Telegram says so at once): announcements and reminders
    skip them from now on instead of each learning it from a refused send. Unblocking, or
    writing to the bot again, makes them active again (the middleware's touch_person)."""
    await mark_active(ctx.session, ctx.person.id, active=False)
    await ctx.commit()


@router.callback_query(F.data == "noop")
async def noop(query: CallbackQuery) -> None:
    await query.answer()


# Included after every other router: presses nobody recognised (forged or from an old
# version of the bot) get a short answer instead of a spinning button.
fallback = Router(name="fallback")
fallback.message.filter(F.chat.type == "private")  # (a group's commands are mostly for others)


@fallback.callback_query()
async def unknown_press(query: CallbackQuery, ctx: Ctx) -> None:
    await query.answer(ctx.t("error.stale-button"), show_alert=True)


@fallback.message(F.text.startswith("/"))
async def unknown_command(message: Message, ctx: Ctx) -> None:
    """A command nobody handles (mistyped, or another role's): say so, and where to look."""
    await message.answer(ctx.t("error.unknown-command"))
