"""The scheduler: reminders, daily digests, closing at the deadline and the final
report — and the follow-up messages themselves (thanks, "what changed").

Running. One APScheduler 3 `AsyncIOScheduler` per database, its jobs in a
`SQLAlchemyJobStore` (through the sync driver, storage.engine.sync_url) — on
PostgreSQL in the project's database; on SQLite in a file beside it
(``<db>.jobs``, see `jobstore_url`: APScheduler writes its jobs synchronously on
the event loop's thread, and a sync writer waiting for SQLite's one write lock
while an async transaction of the same loop holds it would wait for a loop it
blocks). `qingdan run` and `qingdan demo` start it next to the
bot; `qingdan scheduler` runs it alone. Jobs are the module-level coroutine
functions below and take ids only; they reach the bot, the database and the
broadcaster through the module-level registry set by `configure`.

Jobs per open consultation (stable ids; rebuilt at start-up and reconciled by the
`sync` job every minute — that is also how a consultation created or opened in
another process gets its jobs, or its close moved to a new deadline; in this process
/open and /deadline call `schedule_consultation` at once through the organizer
console's hooks):

* ``close:<id>``  — at closes_at: status → closed, then the final report (a run that
  finds the deadline moved later closes nothing and puts itself at the new one). A
  closed consultation extended and reopened (/deadline) gets its jobs again and closes
  again at its new deadline: a second final report (``final:<id>:<closed-at>``), and
  thanks only to those the first close did not thank (``thanks:<id>`` is per person).
* ``remind:<id>`` — every 10 minutes: the reminders due now (surveys.reminders; after a
  deadline moved later by at least a reminder's lead time, that reminder goes again —
  ``armed`` there).
* ``digest:<id>`` — daily at FollowUp.digest_hour, local time: the organizers' digest (none
  once they stopped it, ``/digest ID 关闭``; ``/digest ID 18`` moves it).

Misfire policy. Every job has ``coalesce=True`` (a job that missed several run times
runs once) and ``max_instances=1``; each has its own ``misfire_grace_time``:

* remind: 10 minutes, one tick. A tick missed by more is dropped — the next tick
  does the same work, because reminders are selected from the state (a reminder
  whose stage is still current is still due after a downtime, one whose stage
  passed is replaced by the next stage's, nothing in the quiet hours).
* digest: 6 hours. Down at 09:00 and back by 15:00: the day's digest is sent once
  on start; later than that, or in the quiet hours, it waits for the next day.
* close: None — closing and the final report always happen, however late.
* sync: 60 s.
Rebuilding keeps a job whose trigger is unchanged (its stored next run time, i.e. a
missed run, survives the restart), and replaces it only when the consultation's
times changed. Whatever runs twice sends nothing twice: every message goes through
the Broadcaster under a key — ``remind:<id>:<kind>`` (a deadline kind's with its deadline,
``@<UTC stamp>``), ``digest:<id>:<local date>``,
``final:<id>:<closed-at>:<part>``, ``thanks:<id>``, ``changes:<old list id>:<new list id>`` —
and the Delivery table's unique (key, person) pair.

One scheduler per database. APScheduler 3 cannot share a job store, so:
PostgreSQL — a session-level advisory lock (`pg_try_advisory_lock`); a second
scheduler waits, polling, logging that it waits, and takes over when the first one's
connection ends. SQLite — an exclusive `flock` on a lock file next to the database
(``<db>.scheduler.lock``, released by the OS when the process dies); a second one
waits as a stand-by too, with one log line naming the holder's pid, and takes over
when the lock is free (checking every LOCK_POLL seconds). A stand-by stops at once
on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.broadcaster import Broadcaster, BroadcastResult, Outgoing
from bot.config import EX_CONFIG, Settings
from bot.limits import TEXT_LIMIT, fit_plain, visible_units
from bot.texts import gettext, normalize_locale, zone_name
from storage import followup
from storage.engine import is_sqlite, sync_url
from storage.fsm import drop_stale as drop_stale_fsm
from storage.models import Consultation, DutyListRow
from storage.sqlite_inline import inline_calls
from surveys.consultation import (
    FollowUp,
    Status,
    TransitionError,
    Window,
    format_deadline,
    format_local,
    window,
)
from surveys.reminders import (
    CADRE,
    MIN_IDLE,
    NUDGE,
    RESIDENT,
    Timing,
    due_reminders,
    group_by_kind,
    is_quiet,
    kind_hours,
    time_left,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

REMIND_EVERY = timedelta(minutes=10)
SYNC_EVERY = timedelta(seconds=60)
DIGEST_GRACE = timedelta(hours=6)
FINAL_WITHIN = timedelta(days=7)  # the sync job finishes final reports of consultations closed this recently
LOCK_KEY = 0x51_49_4E_47  # "QING": the advisory lock id on PostgreSQL
LOCK_POLL = 5.0
CHANGES_LIMIT = 3500


# --- the registry jobs reach the world through ----------------------------------------------------


@dataclass
class Services:
    bot: Bot
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    broadcaster: Broadcaster
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def locale_of(self, language: str | None) -> str:
        return normalize_locale(language) if language else self.settings.locale


_services: Services | None = None
_scheduler: AsyncIOScheduler | None = None
_background: set[asyncio.Task[Any]] = set()


def configure(services: Services | None) -> None:
    """Set (or, with None, clear) what jobs and hooks use."""
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError("bot.scheduler.configure() was not called")
    return _services


def _spawn(coro: Awaitable[Any]) -> None:
    with inline_calls(False):  # follow-up work reads long: its SQLite calls on their threads
        task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("follow-up task failed", exc_info=task.exception())


async def wait_idle() -> None:
    """For tests and shutdown: wait for follow-up work started by hooks."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


class _Lazy:
    """An async value computed once, on first use (renders run concurrently)."""

    def __init__(self, make: Callable[[], Awaitable[Any]]) -> None:
        self.make = make
        self.lock = asyncio.Lock()
        self.done = False
        self.value: Any = None

    async def get(self) -> Any:
        async with self.lock:
            if not self.done:
                self.value = await self.make()
                self.done = True
        return self.value


def _t(key: str, locale: str, **kw: Any) -> str:
    return gettext(f"scheduler.{key}", locale, **kw)


def _left(closes_at: datetime, now: datetime, locale: str) -> str:
    n, unit = time_left(closes_at, now)
    return _t(f"left-{unit}", locale, n=n)


# --- reminders -------------------------------------------------------------------------------------


async def send_reminders(s: Services, consultation_id: int) -> dict[str, BroadcastResult]:
    """Send the reminders due now for one consultation (one broadcast per kind)."""
    from bot.questionnaires import questionnaire_of
    from bot.routers.cadre import ListCB
    from bot.routers.resident import BeginCB

    now = s.clock()
    tz = s.settings.timezone
    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None:
            return {}
        settings = FollowUp.from_dict(c.settings)
        timing = Timing(consultation_id, c.status, c.opens_at, c.closes_at, tz)
        if window(c.status, c.opens_at, c.closes_at, now) != Window.OPEN or is_quiet(now, settings, tz):
            return {}
        people = await followup.reminder_candidates(session, consultation_id)
        sent = await followup.reminder_log(session, consultation_id)
        groups = group_by_kind(due_reminders(now, timing, people, sent, settings))
        title, closes_at, questionnaire = c.title, c.closes_at, c.questionnaire
        # (a move is followed at once — storage.consultations.set_deadline — but a tick that read
        # the old deadline may have queued under it meanwhile)
        await followup.drop_stale_reminders(session, consultation_id, closes_at)
        for kind, ids in groups.items():  # (a deadline kind's key holds the deadline it is for)
            await followup.drop_unsent(session, followup.remind_key(consultation_id, kind, closes_at), ids)
            await followup.queue(session, followup.remind_key(consultation_id, kind, closes_at), ids, now)
        due = [pid for ids in groups.values() for pid in ids]
        # thanked at a close ("it has ended"), then it was reopened: their first reminder since says so
        reopened = await followup.thanked_not_reminded_since(session, consultation_id, due) if due else set()
        await session.commit()
    # by person and role: a cadre who also answers the residents' questionnaire is both
    state = {(p.person_id, p.role): p for p in people}

    def render(kind: str) -> Callable[[int], Outgoing | Awaitable[Outgoing | None]]:
        role = CADRE if kind.startswith(f"{CADRE}-") else RESIDENT

        def one(pid: int, commented: int = 0) -> Outgoing:
            p = state[(pid, role)]
            loc = s.locale_of(p.language)
            kw = {"title": html.escape(title), "closes": format_deadline(closes_at, tz),
                  "left": _left(closes_at, s.clock(), loc)}
            if p.role == CADRE:
                button = InlineKeyboardButton(text=_t("btn-list", loc),
                                              callback_data=ListCB(c=consultation_id).pack())
                if pid in reopened:
                    text = _t("remind-cadre-reopened", loc, **kw)
                elif commented:  # thanked for their comments, not asked as if they had said nothing
                    text = _t("remind-cadre-commented", loc, n=commented, **kw)
                else:
                    text = _t("remind-cadre", loc, **kw)
            else:  # in the language the questionnaire it leads back to is put in (resident.py)
                loc = questionnaire_of(questionnaire).locale_for(loc) if questionnaire else loc
                button = InlineKeyboardButton(text=_t("btn-continue", loc),
                                              callback_data=BeginCB(c=consultation_id, t=p.township_id or 0).pack())
                text = _t("remind-reopened" if pid in reopened else "remind-nudge" if kind == NUDGE
                          else "remind-deadline", loc, **kw)
            return Outgoing(text=text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))
        if role == CADRE:
            async def with_their_comments(pid: int) -> Outgoing:
                counts = await just_before(lambda session: followup.comment_counts(session, consultation_id, [pid]))
                return one(pid, counts.get(pid, 0))
            return with_their_comments

        async def unless_finished(pid: int) -> Outgoing | None:
            # one who finished meanwhile is skipped, and one answering now is put off as the tick
            # would (MIN_IDLE; due again later) — a point read by the response's unique key
            last = await just_before(lambda session: followup.last_activity(session, consultation_id, pid))
            return one(pid) if last is not None and s.clock() - last >= MIN_IDLE else None
        return unless_finished

    async def just_before(read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        # a send works through its recipients at Telegram's pace, minutes after the tick read them:
        # what decides a recipient's message (finished? commented?) is read again just before it
        # goes, in this process: the answer and comment paths are not touched
        async with s.sessionmaker() as session:
            return await read(session)

    results: dict[str, BroadcastResult] = {}
    for kind, ids in sorted(groups.items(), key=lambda kv: kind_hours(kv[0]) or 0):
        results[kind] = await s.broadcaster.broadcast(followup.remind_key(consultation_id, kind, closes_at), ids,
                                                      render(kind))
    return results


# --- digests, workbook, charts ---------------------------------------------------------------------

# Charts are drawn off the event loop (a chart takes about a second on a slow host, and every
# update would wait for it), all on this one thread: matplotlib's rc settings are global.
_CHART_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qingdan-charts")


async def draw(make: Callable[..., bytes], *args: Any) -> bytes:
    """`make(*args)` (a chart of surveys.charts) on the chart thread."""
    return await asyncio.get_running_loop().run_in_executor(_CHART_THREAD, make, *args)



async def _data(session: AsyncSession, settings: Settings, consultation_id: int, **options: Any) -> Any:
    """The report snapshot (responses aggregated in SQL); `options` go to load_consultation_data
    (a digest passes its window, texts=False and results=False)."""
    from storage.reports import load_consultation_data

    return await load_consultation_data(session, consultation_id, settings.pseudonym_key, settings.timezone,
                                        **options)


async def digest_for(session: AsyncSession, settings: Settings, consultation_id: int, now: datetime,
                     locale: str) -> tuple[str, bytes | None]:
    """An on-demand digest (/digest): text and chart since the last daily digest (no chart, and
    the text says so, while nobody has started a questionnaire).
    It does not move last_digest_at (the daily one stays complete)."""
    from surveys.charts import completion_chart, completion_charted
    from surveys.report import digest

    c = await session.get(Consultation, consultation_id)
    if c is None:
        raise LookupError(consultation_id)
    data = await _data(session, settings, consultation_id, window=(c.last_digest_at, now), texts=False,
                       results=False)
    text = digest(data, c.last_digest_at, now).text(locale)
    if not completion_charted(data):  # nobody started anywhere: no picture of empty bars saying 暂无数据
        return text + "\n\n" + _t("digest-no-chart", locale), None
    return text, await draw(completion_chart, data, locale)


async def workbook_for(session: AsyncSession, settings: Settings, consultation_id: int,
                       locale: str) -> tuple[bytes, str]:
    """The results workbook (bytes, file name)."""
    from surveys.report import build_workbook

    data = await _data(session, settings, consultation_id)
    content = await asyncio.to_thread(build_workbook, data, locale)
    return content, _t("file-workbook", locale, id=consultation_id)


async def feedback_for(session: AsyncSession, settings: Settings, consultation_id: int,
                       locale: str) -> tuple[bytes, str]:
    """The draft 反馈情况说明 as it stands (bytes, file name): with the answers given since the close."""
    from surveys.report import feedback_file

    data = await _data(session, settings, consultation_id)
    return feedback_file(data, locale), _t("file-feedback", locale, id=consultation_id)


@dataclass(frozen=True)
class ReportChart:
    """One chart of the final report — and of /export once closed (`export_files`): the part
    of the final report it is (its Delivery key), how it is drawn (surveys.charts: data, locale →
    PNG), and its caption and file name (the scheduler catalog)."""

    part: str
    make: Callable[[Any, str], bytes]
    caption_key: str
    file_key: str
    shown: Callable[[Any], bool]  # whether it has something to show (data → bool): else it is left unsent
    question: Any = None  # a scale chart's question

    def caption(self, locale: str, title: str) -> str:
        extra = {"question": html.escape(self.question.text.get(locale))} if self.question is not None else {}
        return _t(self.caption_key, locale, title=html.escape(title), **extra)

    def file_name(self, locale: str, consultation_id: int) -> str:
        extra = {"question": self.question.id} if self.question is not None else {}
        return _t(self.file_key, locale, id=consultation_id, **extra)


def report_charts(questionnaire: Any) -> list[ReportChart]:
    """The final report's charts, in order: completion, comments, then one per satisfaction (scale)
    question of the residents' questionnaire (its text as stored, or parsed; None: none) — as
    /export and `qingdan report` give them too."""
    from bot.questionnaires import questionnaire_of
    from surveys.charts import (
        comments_chart,
        comments_charted,
        completion_chart,
        completion_charted,
        scale_chart,
        scale_charted,
    )

    def scale(q: Any) -> Callable[[Any, str], bytes]:
        return lambda data, locale: scale_chart(data, q.id, locale)

    def scale_shown(q: Any) -> Callable[[Any], bool]:
        return lambda data: scale_charted(data, q.id)

    if isinstance(questionnaire, str):
        questionnaire = questionnaire_of(questionnaire) if questionnaire else None
    scales = [q for q in questionnaire.questions if q.type == "scale"] if questionnaire is not None else []
    return [ReportChart("chart-completion", completion_chart, "final-chart-completion", "file-chart-completion",
                        completion_charted),
            ReportChart("chart-comments", comments_chart, "final-chart-comments", "file-chart-comments",
                        comments_charted),
            *(ReportChart(f"chart-scale-{q.id}", scale(q), "final-chart-scale", "file-chart-scale", scale_shown(q), q)
              for q in scales)]


def shown_charts(charts: list[ReportChart], data: Any, locale: str) -> tuple[list[ReportChart], str]:
    """The charts with something to show (an empty one is a picture saying 暂无数据), and a note
    saying once what was left out ("" when none was)."""
    shown = [ch for ch in charts if ch.shown(data)]
    if len(shown) == len(charts):
        return shown, ""
    return shown, _t("charts-none" if not shown else "charts-some-empty", locale)


async def export_files(session: AsyncSession, settings: Settings, c: Consultation, locale: str,
                       now: datetime) -> AsyncIterator[Outgoing]:
    """What /export sends, one at a time (the first goes while the next is built): the results
    workbook; once closed, the final report's charts and the draft 反馈情况说明 as they stand
    (the answers given since the close), without a sound each (the workbook made it)."""
    from surveys.report import build_workbook, feedback_file

    data = await _data(session, settings, c.id)
    title = c.title
    content = await asyncio.to_thread(build_workbook, data, locale)
    caption = _t("export-caption", locale, title=html.escape(title), now=format_local(now, settings.timezone))
    charts: list[ReportChart] = []
    if c.status != Status.OPEN.value:  # (the progress chart: /digest)
        charts, note = shown_charts(report_charts(c.questionnaire), data, locale)
        caption += "\n\n" + note if note else ""
    yield Outgoing(text=caption, document=(content, _t("file-workbook", locale, id=c.id)))
    if c.status == Status.OPEN.value:
        return
    for chart in charts:
        yield Outgoing(text=chart.caption(locale, title), photo=(await draw(chart.make, data, locale),
                                                                  chart.file_name(locale, c.id)), silent=True)
    # comments are mostly answered after the close: the draft sent then said 尚未答复 for each
    published = c.status == Status.REPORTED.value  # (no revised list to send nor to publish any more)
    yield Outgoing(text=_t("final-feedback-published" if published else "final-feedback", locale, id=c.id),
                   document=(feedback_file(data, locale), _t("file-feedback", locale, id=c.id)), silent=True)


async def send_digest(s: Services, consultation_id: int) -> BroadcastResult | None:
    """The daily digest to every organizer, once per local date; moves last_digest_at. Nothing
    new since the last one: a short note instead (no township figures, no chart)."""
    from storage.people import organizers
    from surveys.charts import completion_chart, completion_charted
    from surveys.report import digest

    now = s.clock()
    tz = s.settings.timezone
    key = f"digest:{consultation_id}:{now.astimezone(ZoneInfo(tz)).date().isoformat()}"
    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None or c.status != Status.OPEN.value or (c.opens_at is not None and c.opens_at > now) \
                or now >= c.closes_at:
            # (nothing to digest before the start set ahead; past the deadline, not closed yet by a
            # scheduler that was down, the final report is on its way and says it all)
            return None
        follow = FollowUp.from_dict(c.settings)
        if follow.digest_hour is None or is_quiet(now, follow, tz) or await followup.job_done(session, key):
            return None  # (stopped: a run that was due before it was stopped sends nothing)
        since, title, hour = c.last_digest_at, c.title, follow.digest_hour
        data = await _data(session, s.settings, consultation_id, window=(since, now), texts=False,
                           results=False)
        recipients = await organizers(session, s.settings.organizer_ids)
        langs = await followup.languages(session, recipients)
    d = digest(data, since, now)
    # a day with nothing new: a few lines saying so, without the chart (it is yesterday's)
    brief = d.nothing_new
    # nobody started anywhere yet: no picture of empty bars saying 暂无数据 (the text says so)
    charted = not brief and completion_charted(data)
    locales = {s.locale_of(langs.get(p)) for p in recipients}
    charts = {loc: await draw(completion_chart, data, loc) for loc in locales} if charted else {}

    def text(pid: int) -> Outgoing:
        loc = s.locale_of(langs.get(pid))  # (and how to move or stop it, under it)
        how = _t("digest-schedule", loc, id=consultation_id, hour=hour, zone=zone_name(tz, loc))
        body = d.brief_text(loc) if brief else d.text(loc)
        if not brief and not charted:
            body += "\n\n" + _t("digest-no-chart", loc)
        return Outgoing(text=body + "\n\n" + how)

    def chart(pid: int) -> Outgoing:
        loc = s.locale_of(langs.get(pid))
        return Outgoing(text=_t("digest-chart", loc, title=html.escape(title)),  # (the text made the sound)
                        photo=(charts[loc], _t("file-chart-progress", loc, id=consultation_id)), silent=True)

    result = await s.broadcaster.broadcast(key, recipients, text)
    if charted:
        result += await s.broadcaster.broadcast(f"{key}:chart", recipients, chart)
    async with s.sessionmaker() as session:
        await followup.set_last_digest(session, consultation_id, now)
        await followup.mark_job_done(session, key)
        await session.commit()
    return result


# --- closing, the final report, thanks ---------------------------------------------------------------


async def close_if_due(s: Services, consultation_id: int) -> bool:
    """Close an open consultation whose deadline has passed. True when this call closed it."""
    from storage.consultations import set_status

    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None or c.status != Status.OPEN.value or s.clock() < c.closes_at:
            return False
        try:
            await set_status(session, c, Status.CLOSED)
        except TransitionError:  # closed by an organizer's /close at the same instant
            return False
        c.closed_at = c.closes_at  # it closed at its deadline, whenever this job got to run
        await session.commit()
    log.info("consultation %s closed at its deadline", consultation_id)
    return True


def _hushed(render: Callable[[int], Awaitable[Outgoing]], silent: bool) -> Callable[[int], Awaitable[Outgoing]]:
    """`render`, its messages delivered without a sound when `silent`."""
    if not silent:
        return render

    async def hushed(pid: int) -> Outgoing:
        out = await render(pid)
        out.silent = True
        return out

    return hushed


# the final reports running in this process, by consultation: [its lock, how many runs hold or wait for it]
_finals: dict[int, list[Any]] = {}


@contextlib.asynccontextmanager
async def _one_final_at_a_time(consultation_id: int) -> AsyncIterator[None]:
    """One final report of a consultation at a time in this process: the /close hook and the sync
    job may both start it, and a second run going on while the first still builds a part would send
    the later parts before it (each part goes once either way: the Delivery rows)."""
    entry = _finals.setdefault(consultation_id, [asyncio.Lock(), 0])
    entry[1] += 1
    try:
        async with entry[0]:
            yield
    finally:
        entry[1] -= 1
        if entry[1] == 0:  # (a lock is bound to its event loop: none is left behind)
            del _finals[consultation_id]


async def after_close(s: Services, consultation_id: int) -> None:
    """The final report to every organizer (message, workbook, charts, draft 反馈情况说明)
    and, outside the quiet hours, the thank-you to every participant. Resumable: run it
    again and only what is missing goes out. One run at a time per consultation: in a process
    (`_one_final_at_a_time`), and across processes — a bot's /close hook and a `qingdan scheduler`
    elsewhere — by a hold on the database (`followup.claim_run`, renewed while it runs): a run
    that finds it held leaves the report to its holder (its parts would otherwise go out
    interleaved with the holder's), and the sync job takes it up if the holder dies."""
    async with _one_final_at_a_time(consultation_id):
        async with s.sessionmaker() as session:
            c = await session.get(Consultation, consultation_id)
            if c is None or c.status not in (Status.CLOSED.value, Status.REPORTED.value) or c.closed_at is None:
                return
            closed_at = c.closed_at
            base = _final_base(consultation_id, closed_at)
            if await followup.job_done(session, f"{base}:done"):
                return
            token = secrets.randbelow(2**31 - 2) + 1
            if not await followup.claim_run(session, f"{base}:run", token, s.clock()):
                log.info("consultation %s: its final report is being sent by another run", consultation_id)
                return
            await session.commit()
        keeper = asyncio.create_task(_hold_run(s, f"{base}:run", token))
        try:
            await _after_close(s, consultation_id, closed_at)
        finally:
            keeper.cancel()
            await asyncio.shield(_give_back_run(s, f"{base}:run", token))


def _final_base(consultation_id: int, closed_at: datetime) -> str:
    return f"final:{consultation_id}:{int(closed_at.timestamp())}"


async def _hold_run(s: Services, key: str, token: int) -> None:
    """Renew a run's hold while it runs (a workbook and a thanks broadcast can take minutes)."""
    while True:
        await asyncio.sleep(followup.RUN_LEASE.total_seconds() / 4)
        try:
            async with s.sessionmaker() as session:
                await followup.renew_run(session, key, token, s.clock() + followup.RUN_LEASE)
                await session.commit()
        except Exception as e:  # the database away a moment: the next try
            log.warning("%s: could not renew its hold: %s", key, e)


async def _give_back_run(s: Services, key: str, token: int) -> None:
    try:
        async with s.sessionmaker() as session:
            await followup.renew_run(session, key, token, s.clock() - timedelta(seconds=1))
            await session.commit()
    except Exception as e:  # it runs out by itself
        log.warning("%s: could not give its hold back (free once it runs out): %s", key, e)


async def _after_close(s: Services, consultation_id: int, closed_at: datetime) -> None:
    from storage.consultations import participants, silent_cadres, unfinished_answers
    from storage.people import organizers
    from surveys.report import build_workbook, feedback_file

    now = s.clock()
    tz = s.settings.timezone
    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None or c.status not in (Status.CLOSED.value, Status.REPORTED.value) or c.closed_at != closed_at:
            return  # (reopened, or closed again, since the hold was taken: the next run's)
        base = _final_base(consultation_id, closed_at)
        staff = await organizers(session, s.settings.organizer_ids)
        people = await participants(session, consultation_id)
        silent = await silent_cadres(session, consultation_id)  # no "your comments went to the organizers"
        unfinished = await unfinished_answers(session, consultation_id)  # thanked for the answers they gave
        langs = await followup.languages(session, [*staff, *people])
        title, closed_at, quiet = c.title, c.closed_at, is_quiet(now, FollowUp.from_dict(c.settings), tz)
        all_charts = report_charts(c.questionnaire)

    async def load() -> Any:
        async with s.sessionmaker() as session:
            return await _data(session, s.settings, consultation_id)

    data = _Lazy(load)
    cache: dict[tuple[str, str], Any] = {}
    # only the charts with something to show (an empty one is a picture saying 暂无数据); the
    # workbook's message says once what was left out
    charts, _ = shown_charts(all_charts, await data.get(), s.settings.locale)

    async def made(what: str, loc: str, make: Callable[[Any, str], T], thread: str = "") -> T:
        """One document per locale, built on first use (the workbook in a thread of its own,
        charts on the chart thread)."""
        if (what, loc) not in cache:
            value = await data.get()
            if thread == "any":
                cache[(what, loc)] = await asyncio.to_thread(make, value, loc)
            elif thread == "chart":
                cache[(what, loc)] = await draw(make, value, loc)  # type: ignore[arg-type]
            else:
                cache[(what, loc)] = make(value, loc)
        return cache[(what, loc)]

    def loc_of(pid: int) -> str:
        return s.locale_of(langs.get(pid))

    async def head(pid: int) -> Outgoing:
        loc = loc_of(pid)
        return Outgoing(text=_t("final-head", loc, title=html.escape(title), closed=format_deadline(closed_at, tz)))

    async def workbook(pid: int) -> Outgoing:
        loc = loc_of(pid)
        content = await made("workbook", loc, build_workbook, thread="any")
        _, note = shown_charts(all_charts, await data.get(), loc)
        return Outgoing(text=_t("final-workbook", loc) + ("\n\n" + note if note else ""), document=(content, _t("file-workbook", loc, id=consultation_id)))

    def chart(ch: ReportChart) -> Callable[[int], Awaitable[Outgoing]]:
        async def render(pid: int) -> Outgoing:
            loc = loc_of(pid)
            png = await made(ch.part, loc, ch.make, thread="chart")
            return Outgoing(text=ch.caption(loc, title), photo=(png, ch.file_name(loc, consultation_id)))
        return render

    async def feedback(pid: int) -> Outgoing:
        loc = loc_of(pid)
        content = await made("feedback", loc, feedback_file)
        return Outgoing(text=_t("final-feedback", loc, id=consultation_id),
                        document=(content, _t("file-feedback", loc, id=consultation_id)))

    async def thanks(pid: int) -> Outgoing:
        kw: dict[str, Any] = {"title": html.escape(title)}
        if pid in silent:
            key = "thanks-cadre-silent"
        elif pid in unfinished:
            key = "thanks-unfinished" if unfinished[pid] else "thanks-unanswered"
            kw["n"] = unfinished[pid]
        else:
            key = "thanks"
        return Outgoing(text=_t(key, loc_of(pid), **kw))

    parts: list[tuple[str, Callable[[int], Awaitable[Outgoing]]]] = [
        ("head", head), ("workbook", workbook), *((ch.part, chart(ch)) for ch in charts), ("feedback", feedback)]
    for part, render in parts:
        # one sound for the report, its first message (none in the quiet hours: a deadline given as
        # a date closes at 23:59); its files and charts follow without one each
        await s.broadcaster.broadcast(f"{base}:{part}", staff, _hushed(render, quiet or part != "head"))
    if quiet:
        log.info("consultation %s: thanks wait for the end of the quiet hours", consultation_id)
        return
    async with s.sessionmaker() as session:  # the report takes a while: reopened meanwhile (/deadline)?
        now_closed = await session.get(Consultation, consultation_id)
        if now_closed is None or now_closed.closed_at != closed_at:
            log.info("consultation %s was reopened during its final report: thanks wait for its next close",
                     consultation_id)
            return
    await s.broadcaster.broadcast(followup.thanks_key(consultation_id), people, thanks)
    async with s.sessionmaker() as session:
        await followup.mark_job_done(session, f"{base}:done")
        await session.commit()


async def on_closed(bot: Bot, consultation_id: int) -> None:
    """The organizer console's hook after /close: the final report, in the background."""
    if _services is None:
        log.info("no follow-up configured here; the scheduler's sync job sends the final report")
        return
    _spawn(after_close(_services, consultation_id))


async def on_opened(bot: Bot, consultation_id: int) -> None:
    """The organizer console's hook after /open: the consultation's jobs, now."""
    if _scheduler is not None and _scheduler.running:
        await schedule_consultation(consultation_id)


async def on_deadline_moved(bot: Bot, consultation_id: int) -> None:
    """The organizer console's hook after /deadline: the close moves to the new deadline now
    (reminders are chosen from the deadline on each tick; a reminder already sent under
    its key is not sent again)."""
    if _scheduler is not None and _scheduler.running:
        await schedule_consultation(consultation_id)


# --- publishing the revised list ------------------------------------------------------------------------


async def publish_refusal(session: AsyncSession, consultation_id: int, township_id: int, township: str,
                          consulted_list_id: int, row: Any, locale: str, markup: bool = False) -> str | None:
    """Why version `row` of a township may not be published as the revision of what
    consultation `consultation_id` consulted (its list `consulted_list_id`), in `locale`; None
    when it may. The same checks for `qingdan lists publish` and the chat's /publish
    (`markup`: HTML, names escaped)."""
    from storage.consultations import version_clashes
    from storage.lists import newest_published
    from surveys.consultation import ListConflict

    def esc(value: str) -> str:
        return html.escape(value) if markup else value

    if row.id == consulted_list_id:
        return gettext("scheduler.publish-same-list", locale)
    if row.id < consulted_list_id:  # imported before the consulted version: not its revision
        return gettext("scheduler.publish-older-list", locale, version=esc(row.version))
    newer = await newest_published(session, township_id)
    if newer is not None and newer.id > row.id:  # another consultation's revision is out already
        return gettext("scheduler.publish-superseded", locale, township=esc(township), version=esc(row.version),
                       newer=esc(newer.version), id=consultation_id)
    # another consultation of the township still open on an older version would go on taking
    # views on a list superseded by this one: it is closed first
    still_open = [clash for clash in await version_clashes(session, [(township_id, row.id)], consultation_id)
                  if clash.other_id is not None and clash.other_list_id < row.id]
    if still_open:
        return ListConflict("publish", consultation_id, still_open, township).text(locale, markup=markup)
    return None


class NotPublishable(ValueError):
    """The consultation is no longer closed or reported (reopened by a new deadline since the
    publish was asked for), or the version may no longer be published (`reason`: why, from
    `publish_refusal` — another consultation of the township opened or published meanwhile):
    nothing was published nor sent. `status`: the consultation's status now."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(reason or f"not closed: {status}")
        self.status = status
        self.reason = reason


async def publish_changes(s: Services, consultation_id: int, township_id: int, new_list_id: int,
                          note: dict[str, Any] | None = None, locale: str | None = None,
                          markup: bool = False) -> BroadcastResult:
    """The revised list of one township is published: the list is marked published, the
    consultation becomes `reported`, and the township's participants get what changed.

    `publish_refusal`'s checks are made again in the transaction that publishes, with the
    township held (storage.consultations.hold_townships): an open or another publish of the
    township at the same moment waits, or makes this one refused — NotPublishable with the
    reason in `locale` (default: the settings'), HTML when `markup`.

    What to send is kept (storage.outbox, kind "changes") in the transaction that publishes:
    a stop or crash in the middle of the send is resumed by the scheduler's sync job, for those
    not sent yet. `note` ({"chat", "locale", "text", "args"}) is whom to tell how it went, once,
    whichever run finishes it."""
    from bot.routers.organizer import send_kept
    from storage import lists, outbox
    from storage.consultations import cadres, hold_townships, link_for_township, set_status, silent_cadres
    from surveys.diff import diff_lists
    from surveys.duty_list import ListStatus
    from surveys.i18n import LOCALES

    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        if c is None:
            raise LookupError(f"consultation {consultation_id}")
        if c.status not in (Status.CLOSED.value, Status.REPORTED.value):
            raise NotPublishable(c.status)
        link = await link_for_township(session, consultation_id, township_id)
        if link is None:
            raise LookupError(f"township {township_id}")
        await hold_townships(session, [township_id])
        row = await session.get(DutyListRow, new_list_id)
        if row is None:
            raise LookupError(f"list {new_list_id}")
        refusal = await publish_refusal(session, consultation_id, township_id, link.township, link.list_id, row,
                                        locale or s.settings.locale, markup=markup)
        if refusal is not None:
            raise NotPublishable(c.status, refusal)
        old = await lists.load_list(session, link.list_id)
        new = await lists.load_list(session, new_list_id)
        diff = diff_lists(old.items, new.items)
        await lists.set_status(session, new_list_id, ListStatus.PUBLISHED)
        if c.status == Status.CLOSED.value:
            with contextlib.suppress(TransitionError):  # (reported by another worker's press meanwhile)
                await set_status(session, c, Status.REPORTED)
        recipients = await followup.township_participants(session, consultation_id, township_id)
        staff = set(await cadres(session, consultation_id))
        silent = await silent_cadres(session, consultation_id, staff)  # not thanked "for your comments"
        # keyed by the revision (the version consulted on → the one published), not the consultation:
        # one who took part in two consultations on that version is told of it once
        key = f"changes:{link.list_id}:{new_list_id}"
        payload: dict[str, Any] = {
            "title": c.title, "township": new.township, "version": new.version, "locale": s.settings.locale,
            "summary": {loc: _t("changes-none", loc) if diff.is_empty else diff.summary(loc, limit=CHANGES_LIMIT)
                        for loc in LOCALES},
            "silent": sorted(silent)}
        if note is not None:
            payload["note"] = note
        await outbox.put(session, key, "changes", payload, recipients, s.clock())
        await session.commit()
    return await send_kept(s.bot, s.broadcaster, key, s.clock) or BroadcastResult()


def changes_news(p: dict[str, Any], langs: dict[int, str]) -> Callable[[int], Outgoing]:
    """What changed in a township's published list, to each participant in their language (a
    kept broadcast's render: storage.outbox kind "changes", made by `publish_changes`)."""
    silent = set(p["silent"])
    title, township, version = html.escape(p["title"]), html.escape(p["township"]), html.escape(p["version"])

    def render(pid: int) -> Outgoing:
        loc = normalize_locale(langs[pid]) if langs.get(pid) else p["locale"]
        def text(summary: str) -> str:
            # every one of them (its cadres, the residents who answered for it) can read it with /list
            return _t("changes-cadre-silent" if pid in silent else "changes", loc, title=title, township=township,
                      version=version, summary=summary) + "\n" + _t("changes-list-hint", loc)

        # a summary of CHANGES_LIMIT beside a long title: the summary gives way to what follows it
        # (cut at Telegram's limit, the thanks and the /list hint were lost)
        summary = fit_plain(p["summary"][loc], TEXT_LIMIT - visible_units(text("")))
        return Outgoing(text=text(html.escape(summary)))

    return render


# --- jobs (module-level, ids only) ----------------------------------------------------------------------


async def remind_job(consultation_id: int) -> None:
    await send_reminders(services(), consultation_id)


async def digest_job(consultation_id: int) -> None:
    await send_digest(services(), consultation_id)


async def close_job(consultation_id: int) -> None:
    s = services()
    await close_if_due(s, consultation_id)
    await after_close(s, consultation_id)
    # closed: its jobs go; still open because its deadline was moved later (by a process
    # that does not run this scheduler): its jobs stay and the close moves to the new deadline
    await schedule_consultation(consultation_id)


async def sync_job() -> None:
    """Reconcile: jobs for every open consultation and none for the others; close the
    overdue ones; finish final reports left unfinished (a crash, the quiet hours) and
    broadcasts people started that were cut off (`resume_broadcasts`); forget the
    confirmations' double-tap claims older than a week (`followup.drop_old_claims`) and the
    database FSM's rows not written for 30 days (`storage.fsm.drop_stale`, as Redis expires them)."""
    s = services()
    now = s.clock()
    async with s.sessionmaker() as session:
        rows = (await session.execute(sa.select(Consultation.id, Consultation.status, Consultation.closed_at)
                                      .order_by(Consultation.id))).all()
    wanted: set[int] = set()
    for cid, status, closed_at in rows:
        if status == Status.OPEN.value:
            wanted.add(cid)
            if await close_if_due(s, cid):
                status, closed_at = Status.CLOSED.value, now
        if status in (Status.CLOSED.value, Status.REPORTED.value) and closed_at is not None \
                and now - closed_at <= FINAL_WITHIN:
            await after_close(s, cid)
    await resume_broadcasts(s)
    async with s.sessionmaker() as session:  # the confirmations' double-tap claims, once they are old
        dropped = await followup.drop_old_claims(session, now)
        dropped += await drop_stale_fsm(session, now)  # (none without the table's rows: Redis keeps the FSM then)
        if dropped:
            await session.commit()
    if _scheduler is not None:
        for cid in {*wanted, *_scheduled_ids()}:
            await schedule_consultation(cid)


async def resume_broadcasts(s: Services) -> list[str]:
    """Take up the broadcasts people started (/announce, a moved deadline told to the cadres)
    whose sender stopped before it was done — a restart, a crash (storage.outbox) — and send
    them, in the background, to those who have not had them yet."""
    from bot.routers.organizer import send_kept
    from storage import outbox

    async with s.sessionmaker() as session:
        keys = await outbox.take_stale(session, s.clock())
        await session.commit()
    for key in keys:
        person = outbox.menu_person(key)
        if person is not None:
            _spawn(reset_menu(s, key, person))
            continue
        log.info("broadcast %s was cut off before its end; resuming it", key)
        _spawn(send_kept(s.bot, s.broadcaster, key, s.clock))
    return keys


async def reset_menu(s: Services, key: str, person_id: int) -> bool:
    """A demoted person's own command menu set back to what they are now (storage.outbox's
    "menu" rows; read at sending, so one invited again meanwhile gets their new role's), in the
    language they chose with /language if they did. Telegram away: the row stays for the next sync
    (False). The process that demoted them calls it at once too (bot.cli_invites)."""
    from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

    from bot.app import chosen_language, set_person_commands
    from storage import outbox
    from storage.models import Person

    async with s.sessionmaker() as session:
        person = await session.get(Person, person_id)
        role = "organizer" if person_id in s.settings.organizer_ids else person.role if person else "resident"
        chosen = chosen_language(person) if person else ""
    try:
        await set_person_commands(s.bot, person_id, role, s.settings.locale, chosen=chosen)
    except (TelegramForbiddenError, TelegramBadRequest) as e:  # blocked the bot, no such chat: nothing to set
        log.info("menu of %s not reset: %s", person_id, e)
    except Exception as e:
        log.warning("menu of %s not reset (tried again at the next sync): %s", person_id, e)
        return False  # (taken up again once the lease take_stale gave it runs out)
    async with s.sessionmaker() as session:
        await outbox.drop(session, key)
        await session.commit()
    return True


# --- scheduling --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., Awaitable[None]]
    trigger: Any
    grace: int | None
    args: tuple[Any, ...] = ()


def job_specs(c: Consultation, settings: Settings) -> list[JobSpec]:
    """The jobs a consultation wants now (none unless it is open)."""
    if c.status != Status.OPEN.value or c.id is None:
        return []
    tz = ZoneInfo(settings.timezone)
    follow = FollowUp.from_dict(c.settings)
    specs = [
        JobSpec(f"close:{c.id}", close_job, DateTrigger(run_date=c.closes_at, timezone=tz), None, (c.id,)),
        JobSpec(f"remind:{c.id}", remind_job, IntervalTrigger(seconds=int(REMIND_EVERY.total_seconds()), timezone=tz),
                int(REMIND_EVERY.total_seconds()), (c.id,)),
    ]
    if follow.digest_hour is not None:  # (None: the organizers stopped it, /digest ID 关闭)
        specs.append(JobSpec(f"digest:{c.id}", digest_job, CronTrigger(hour=follow.digest_hour, minute=0, timezone=tz),
                             int(DIGEST_GRACE.total_seconds()), (c.id,)))
    return specs


def _same_trigger(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, DateTrigger):
        return bool(a.run_date == b.run_date)
    if isinstance(a, IntervalTrigger):
        return bool(a.interval == b.interval)
    return str(a) == str(b) and str(getattr(a, "timezone", "")) == str(getattr(b, "timezone", ""))


def apply_specs(scheduler: AsyncIOScheduler, prefix_ids: list[str], specs: list[JobSpec]) -> None:
    """Add or replace the jobs in `specs`, keep identical ones untouched (a missed run
    survives), remove those of `prefix_ids` not wanted any more."""
    wanted = {spec.id for spec in specs}
    for spec in specs:
        existing: Job | None = scheduler.get_job(spec.id)
        if existing is not None and _same_trigger(existing.trigger, spec.trigger) \
                and existing.misfire_grace_time == spec.grace:
            continue
        scheduler.add_job(spec.func, spec.trigger, args=spec.args, id=spec.id, replace_existing=True,
                          misfire_grace_time=spec.grace, coalesce=True, max_instances=1)
    for job_id in prefix_ids:
        if job_id not in wanted and scheduler.get_job(job_id) is not None:
            scheduler.remove_job(job_id)


def _job_ids(consultation_id: int) -> list[str]:
    return [f"{kind}:{consultation_id}" for kind in ("close", "remind", "digest")]


def _scheduled_ids() -> set[int]:
    if _scheduler is None:
        return set()
    out = set()
    for job in _scheduler.get_jobs():
        kind, _, rest = job.id.partition(":")
        if kind in ("close", "remind", "digest") and rest.isdecimal():
            out.add(int(rest))
    return out


async def schedule_consultation(consultation_id: int) -> None:
    """Bring the consultation's jobs in line with its status and times (idempotent)."""
    if _scheduler is None:
        return
    s = services()
    async with s.sessionmaker() as session:
        c = await session.get(Consultation, consultation_id)
        specs = job_specs(c, s.settings) if c is not None else []
    apply_specs(_scheduler, _job_ids(consultation_id), specs)


def jobstore_url(database_url: str) -> str:
    """Where the jobs are kept: the database itself (PostgreSQL), or `<db>.jobs` beside
    a SQLite file — never the SQLite file the bot writes (see the module's docstring)."""
    if is_sqlite(database_url):
        db = make_url(database_url).database
        if db and db != ":memory:":
            return f"sqlite:///{db}.jobs"
    return sync_url(database_url)


def create_scheduler(settings: Settings) -> AsyncIOScheduler:
    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=jobstore_url(settings.database_url), tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(SYNC_EVERY.total_seconds())},
        timezone=ZoneInfo(settings.timezone),
    )


# --- one scheduler per database --------------------------------------------------------------------------


class AlreadyRunning(RuntimeError):
    """Another scheduler holds the database's scheduler lock."""

    def __init__(self, path: str, pid: str) -> None:
        super().__init__(f"another scheduler (pid {pid or '?'}) holds {path}")
        self.path = path
        self.pid = pid


class FileLock:
    """SQLite: an exclusive flock on `<database>.scheduler.lock` (the OS drops it with the process).
    A second scheduler waits as a stand-by, as on PostgreSQL, and takes over when it is free."""

    def __init__(self, path: Path, poll: float = LOCK_POLL, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 locale: str = "zh_CN") -> None:
        self.path = path
        self.fd: int | None = None
        self.poll = poll
        self.sleep = sleep
        self.locale = locale

    def try_acquire(self) -> str | None:
        """None once the lock is ours, else the pid its holder wrote (or "")."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self.fd = fd
        return None

    async def acquire(self, wait: bool = False) -> None:
        logged = False
        while (holder := self.try_acquire()) is not None:
            if not wait:
                raise AlreadyRunning(str(self.path), holder)
            if not logged:  # one line, then quiet until the lock is ours
                log.warning(_t("standby", self.locale, path=self.path, pid=holder or "?", poll=f"{self.poll:.0f}"))
                logged = True
            await self.sleep(self.poll)
        if logged:
            log.info("the scheduler lock is ours now")

    def held(self) -> bool:
        return True  # the OS holds a file lock until the process ends

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock held by one open connection."""

    def __init__(self, url: str, key: int = LOCK_KEY, poll: float = LOCK_POLL,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, locale: str = "zh_CN") -> None:
        self.locale = locale
        self.engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        self.key = key
        self.poll = poll
        self.sleep = sleep
        self.conn: sa.Connection | None = None
        self.unreachable = False  # the last try could not connect

    def try_acquire(self) -> bool:
        was_unreachable, self.unreachable = self.unreachable, False
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as e:  # PostgreSQL down or restarting: not ours yet, try again later
            if not was_unreachable:  # once per outage, not at every poll
                log.warning("cannot reach the database for the scheduler lock (%s); trying again every %.0f s",
                            e.__class__.__name__, self.poll)
            self.unreachable = True
            return False
        if was_unreachable:
            log.info("the database is reachable again")
        try:
            if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar():
                self.conn = conn
                return True
        except sa.exc.DBAPIError:
            pass
        conn.close()
        return False

    def held(self) -> bool:
        """Whether the lock's connection is still alive (a PostgreSQL restart ends the
        session, and with it the lock)."""
        if self.conn is None:
            return False
        try:
            self.conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.DBAPIError:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
            return False

    async def acquire(self, wait: bool = True) -> None:
        logged = False
        while not self.try_acquire():
            if not wait:
                raise AlreadyRunning(f"pg_advisory_lock({self.key})", "")
            if not logged and not self.unreachable:  # (an unreachable database was logged as such)
                log.warning(_t("standby-postgres", self.locale, lock=self.key, poll=f"{self.poll:.0f}"))
                logged = True
            await self.sleep(self.poll)
        if logged:
            log.info("the scheduler lock is ours now")

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.close()
            self.conn = None
        self.engine.dispose()


class _NoLock:
    async def acquire(self, wait: bool = False) -> None:
        return None

    def held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def make_lock(database_url: str, locale: str = "zh_CN", **kw: Any) -> FileLock | AdvisoryLock | _NoLock:
    if is_sqlite(database_url):
        db = make_url(database_url).database
        if not db or db == ":memory:":
            return _NoLock()
        return FileLock(Path(f"{db}.scheduler.lock"), locale=locale, **kw)
    return AdvisoryLock(database_url, locale=locale, **kw)


class Runner:
    """Takes the lock (waiting on PostgreSQL), starts APScheduler, rebuilds the jobs."""

    def __init__(self, s: Services, **lock_kw: Any) -> None:
        self.services = s
        self.lock = make_lock(s.settings.database_url, s.settings.locale, **lock_kw)
        self.scheduler: AsyncIOScheduler | None = None
        self.watchdog: asyncio.Task[None] | None = None

    async def start(self, wait: bool = True) -> None:
        await self.lock.acquire(wait=wait)
        await self._start_scheduler()
        self.watchdog = asyncio.create_task(self._watch_lock())

    async def _watch_lock(self) -> None:
        """If the lock is lost (the database restarted and ended its session), stop
        scheduling at once — another scheduler may take over — and wait for the lock again."""
        poll = getattr(self.lock, "poll", LOCK_POLL)
        while True:
            await asyncio.sleep(poll)
            if self.lock.held():
                continue
            log.error("the scheduler lock was lost (the database connection ended); "
                      "scheduling stops until the lock is ours again")
            self._stop_scheduler()
            await self.lock.acquire(wait=True)
            await self._start_scheduler()

    async def _start_scheduler(self) -> None:
        global _scheduler
        configure(self.services)
        scheduler = create_scheduler(self.services.settings)
        scheduler.start()
        self.scheduler = _scheduler = scheduler
        apply_specs(scheduler, ["sync"], [JobSpec("sync", sync_job, IntervalTrigger(
            seconds=int(SYNC_EVERY.total_seconds()), timezone=ZoneInfo(self.services.settings.timezone)),
            int(SYNC_EVERY.total_seconds()))])
        await sync_job()
        log.info("scheduler running (%d jobs)", len(scheduler.get_jobs()))

    def _stop_scheduler(self) -> None:
        global _scheduler
        if self.scheduler is not None:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            if _scheduler is self.scheduler:
                _scheduler = None
            self.scheduler = None

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self._stop_scheduler()
        self.lock.release()


def services_for(runtime: Any, clock: Callable[[], datetime] | None = None) -> Services:
    """Services from a bot.app.Runtime."""
    return Services(runtime.bot, runtime.sessionmaker, runtime.settings, runtime.dp["broadcaster"],
                    clock or runtime.dp["clock"])


@contextlib.asynccontextmanager
async def running(runtime: Any) -> AsyncIterator[Runner]:
    """Next to the bot (`qingdan run`, `qingdan demo`): hooks work at once; the scheduler
    starts when the lock is ours (while another scheduler holds it, this one waits in the
    background as a stand-by, on PostgreSQL and SQLite alike)."""
    s = services_for(runtime)
    configure(s)
    runner = Runner(s)

    task = asyncio.create_task(runner.start(wait=True))
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        runner.stop()
        if _services is s:
            configure(None)


# --- `qingdan scheduler` ------------------------------------------------------------------------------------


def command() -> None:
    """Run the scheduler alone (reminders, digests, closing, final reports) — one per database: a
    second one waits as a stand-by and takes over when the first stops."""
    import typer

    from bot.config import get_settings
    from bot.db import ensure_schema

    settings = get_settings()
    if not settings.bot_token:
        typer.echo(gettext("cli.run-needs-token", settings.locale), err=True)
        raise typer.Exit(EX_CONFIG)
    from bot.cli_run import LOG_FORMAT, refuse_weak_pseudonyms

    refuse_weak_pseudonyms(settings)
    ensure_schema()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # as `qingdan run`'s: with the process id
    try:
        code = asyncio.run(_alone(settings))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


async def _alone(settings: Settings) -> int:
    import signal
    import sys

    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    from bot.app import create_bot, tune_gc
    from storage.engine import make_engine, make_sessionmaker

    bot = create_bot(settings)
    try:  # a token Telegram refuses (mistyped, revoked) is said now, as `qingdan run` does, not in each send's log
        await bot.me()
    except TelegramUnauthorizedError:
        await bot.session.close()
        print(gettext("cli.token-refused", settings.locale), file=sys.stderr, flush=True)
        return EX_CONFIG
    except TelegramAPIError as e:  # Telegram out of reach for now: the jobs wait for it
        log.warning("getMe failed at start (%s); starting anyway", e)
    engine = make_engine(settings.database_url, **settings.engine_options())
    sessions = make_sessionmaker(engine)
    s = Services(bot, sessions, settings, Broadcaster(bot, sessions))
    runner = Runner(s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        # a stand-by waits for the lock until it is ours or it is stopped (SIGTERM: systemctl stop)
        starting = asyncio.create_task(runner.start(wait=True))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        stopping.cancel()
        starting.result()
        print(_t("started", settings.locale), flush=True)
        tune_gc()
        await stop.wait()
        return 0
    finally:
        runner.stop()
        from bot.app import BACKGROUND_GRACE, finish_background

        await finish_background(BACKGROUND_GRACE)
        configure(None)
        await bot.session.close()
        await engine.dispose()
