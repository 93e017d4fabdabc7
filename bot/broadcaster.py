"""The one way to send many messages: reminders, digests, announcements and final
reports all go through `Broadcaster.broadcast`.

Durability. A broadcast has a key (e.g. ``"reminder:12:2025-06-01"``). Before sending,
one `Delivery` row per recipient is inserted (insert-or-ignore on the unique
(broadcast_key, person_id) pair), so running the same key again — a job that fires
twice, a restart after a crash — works through the same rows: rows already
``sent`` or ``blocked`` are never sent again, ``pending`` and ``failed`` ones are
(re)tried.

The crash window, and the guarantee: **at most once** per (key, person). Rows are
claimed in small batches (status ``sending``, committed) before their HTTP call and
recorded (``sent`` with message_id and sent_at, or ``blocked``/``failed``) in batches
after it. If the process dies between the two, nobody can know whether Telegram got
the message, so a later run treats leftover ``sending`` rows as sent and never
repeats them: a resident may miss one reminder after a hard crash, but never gets
the same one twice (a double "please answer" or a double final report looks broken
and is worse than a missing one). The window is kept small:

* a row is claimed only shortly before it is sent (about a second of sending ahead,
  see `claim_batch`), and after an orderly stop — an exception, cancellation, or any
  BaseException raised through `broadcast` — rows that were claimed but never handed
  to the HTTP client go back to ``pending`` and outcomes already known are written,
  so an orderly stop can lose at most the requests that were on the wire when it
  came (`concurrency` of them: cancelled mid-request, they may or may not have
  arrived, so they stay ``sending``), and a hard kill (SIGKILL, power loss) at most
  `claim_window`;
* sent-but-unrecorded rows stay ``sending`` and so are correctly not re-sent.

One deliberate exception to at-most-once: a network error or a Telegram 5xx is
retried (exponential backoff, up to `max_attempts` tries), and a timeout can hide a
message that did arrive, so such a retry can, rarely, duplicate a message.

Pacing. Telegram allows about 30 messages/s overall and 1/s per chat, and answers
429 beyond that. No one-second window holds more than `rate` messages (a token
bucket spreads them, a log of the last second's sends enforces the bound), two messages to one chat are
at least `per_chat_interval` apart, and a 429 pauses *all* sending for
`retry_after` seconds before the message is retried. The pacer lives on the
Broadcaster, so broadcasts running at the same time share the limit.

Errors. 403 (blocked the bot, deactivated) → ``blocked`` and `Person.active` set to
False; inactive persons get no deliveries in later broadcasts until they write to
the bot again (`mark_active`). 400/404 and other definite refusals → ``refused``,
never retried (a later run of the same key leaves them too); a 5xx or network error
that outlasted its tries → ``failed``, which a later run of the key tries again. A render
that returns None (no longer due for that person: a reminder to one who finished meanwhile)
→ ``skipped``, nothing sent, never sent later under the key.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import BufferedInputFile, Message
from pydantic import BaseModel, PrivateAttr
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.lazy_types import like_aiogram
from bot.session import ChatTemplate
from storage.models import (
    BLOCKED,
    DONE,
    FAILED,
    PENDING,
    REFUSED,
    SENDING,
    SENT,
    SKIPPED,
    TODO,
    Delivery,
    Person,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_delivery: sa.Table = Delivery.__table__  # type: ignore[assignment]
_person: sa.Table = Person.__table__  # type: ignore[assignment]


MAX_RETRY_AFTER_ROUNDS = 20  # 429s for one message before giving up on it
MAX_BACKOFF = 60.0
_EPS = 1e-9  # float slack when comparing times


class SentMessage(BaseModel):
    """What the broadcaster keeps of a sent message (pydantic ignores the rest of it)."""

    message_id: int


@like_aiogram
class BroadcastMessage(SendMessage):
    """sendMessage, whose answer is read only as far as the broadcaster needs: building
    the whole Message (chat, sender, entities, keyboard — a dozen aiogram objects, each
    with its own post-init) cost more than the rest of the call. Errors are aiogram's own."""

    __returning__ = SentMessage
    # Shared with every copy (model_copy keeps private attributes): the session encodes
    # the body once per message, not once per recipient. So copies may differ only in
    # chat_id — `Outgoing.message_to` is the one place that makes them.
    _template: ChatTemplate = PrivateAttr(default_factory=ChatTemplate)

    @property
    def chat_template(self) -> ChatTemplate:
        return self._template


@dataclass
class Outgoing:
    """One message. With `document` or `photo` ((bytes, filename)) the text is the caption.
    `silent`: delivered without a sound or vibration (Telegram's disable_notification)."""

    text: str
    reply_markup: Any = None
    parse_mode: str | None = "HTML"
    document: tuple[bytes, str] | None = None
    photo: tuple[bytes, str] | None = None
    silent: bool = False
    _template: BroadcastMessage | None = field(default=None, init=False, repr=False, compare=False)

    def message_to(self, chat_id: int) -> BroadcastMessage:
        """The sendMessage call to `chat_id`: validated once per Outgoing, copied per recipient."""
        if self._template is None:
            self._template = BroadcastMessage(chat_id=0, text=self.text, parse_mode=self.parse_mode,
                                              reply_markup=self.reply_markup, disable_notification=self.silent or None)
        return self._template.model_copy(update={"chat_id": chat_id})


# (None: no longer due for that person when its turn came — nothing is sent, the row is "skipped")
Render = Callable[[int], Awaitable[Outgoing | None] | Outgoing | None]


@dataclass
class BroadcastResult:
    sent: int = 0
    skipped_already_done: int = 0  # rows of this key already sent/blocked (or maybe sent) before this run
    blocked: int = 0
    failed: int = 0
    retried_429: int = 0
    skipped_inactive: int = 0  # recipients not given a delivery because they blocked the bot earlier
    skipped_not_due: int = 0  # the render said it was no longer due for them (see Render)

    def __iadd__(self, other: BroadcastResult) -> BroadcastResult:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


async def mark_active(session: AsyncSession, person_id: int, active: bool = True) -> None:
    """Set `Person.active` (handlers call this when a person writes to the bot again).
    Does not commit: the caller's unit of work does."""
    await session.execute(sa.update(_person).where(_person.c.id == person_id).values(active=active))


class Pacer:
    """At most `rate` sends in any one-second window, smoothly spread; `per_chat_interval`
    between two sends to one chat; a global pause after a 429.

    A token bucket (refilled at `rate`/s, holding up to 1/20 s worth) spreads the sends
    and lets a real event loop catch up after a stall (GC, a slow query); a log of the
    last second's send times makes the per-window bound exact. Only one waiter sleeps on
    them at a time (an asyncio.Lock), so hundreds of concurrent senders do not all
    wake up for every token."""

    def __init__(
        self,
        rate: float,
        per_chat_interval: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[Any]],
    ) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1 message/s")
        self.rate = rate
        self.window_cap = int(rate)
        self.burst = float(max(1, int(rate / 20)))
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self.sleep = sleep
        self.tokens = 1.0  # start smooth; credit builds only when senders fall behind
        self.updated = clock()
        self.recent: deque[float] = deque()  # send times within the last second
        self.paused_until = -math.inf
        self.chat_free_at: dict[int, float] = {}
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def _wait(self, now: float) -> float:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        recent = self.recent
        while recent and recent[0] <= now - 1.0 + _EPS:
            recent.popleft()
        wait = max(self.paused_until - now, (1.0 - self.tokens) / self.rate)
        if len(recent) >= self.window_cap and recent[0] + 1.0 - now > wait:
            # The window binds (after a catch-up burst): earn no credit while waiting
            # for it, or the burst would echo every second.
            free_at = recent[0] + 1.0
            self.tokens, self.updated = 0.0, free_at
            wait = free_at - now
        return wait

    async def acquire(self, chat_id: int) -> None:
        """Return when a message to `chat_id` may go out now. No await follows the
        final check, so the caller's request starts at the time the check saw."""
        while True:
            wait = self.chat_free_at.get(chat_id, -math.inf) - self.clock()
            if wait > 0:
                await self.sleep(wait)
                continue
            async with self._lock:
                while (wait := self._wait(now := self.clock())) > _EPS:
                    await self.sleep(wait)
                if self.chat_free_at.get(chat_id, -math.inf) > now:
                    continue  # another message to this chat got in meanwhile
                self.tokens = max(0.0, self.tokens - 1.0)
                self.recent.append(now)
                self.chat_free_at[chat_id] = now + self.per_chat_interval
                if len(self.chat_free_at) > 50_000:
                    self.chat_free_at = {c: t for c, t in self.chat_free_at.items() if t > now}
                return


@dataclass
class _Outcome:
    id: int
    person_id: int
    status: str
    attempts: int
    message_id: int | None = None
    sent_at: datetime | None = None


@dataclass
class _Run:
    key: str
    render: Render
    result: BroadcastResult
    queue: asyncio.Queue[tuple[int, int] | None]
    unstarted: dict[int, int] = field(default_factory=dict)  # claimed, HTTP call not begun: id -> person
    outcomes: list[_Outcome] = field(default_factory=list)
    after_id: int = 0
    hungry: asyncio.Event = field(default_factory=asyncio.Event)  # the queue wants more rows
    writes: set[asyncio.Task[Any]] = field(default_factory=set)

    async def guarded(self, coro: Awaitable[T]) -> T:
        """Run a database write to its end even if the caller is cancelled: a write cut
        off halfway can leave rows claimed but unknown, or (SQLite) the file locked."""
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        self.writes.add(task)
        task.add_done_callback(self.writes.discard)
        return await asyncio.shield(task)


class Broadcaster:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[Any] | AsyncEngine,
        rate: float = 25,
        per_chat_interval: float = 1.0,
        max_attempts: int = 5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        *,
        backoff: float = 1.0,
        concurrency: int | None = None,
        claim_batch: int | None = None,
        flush_every: int | None = None,
    ) -> None:
        """`concurrency`: requests in flight (default grows with rate); `claim_batch`:
        rows claimed at a time (default about one second of sending); `flush_every`:
        outcomes written per batch UPDATE."""
        self.bot = bot
        self.engine = sessionmaker if isinstance(sessionmaker, AsyncEngine) else sessionmaker.kw["bind"]
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.clock = clock
        self.sleep = sleep
        self.pacer = Pacer(rate, per_chat_interval, clock, sleep)
        self.concurrency = concurrency or max(8, min(512, int(rate / 4)))
        self.claim_batch = claim_batch or max(1, min(2000, math.ceil(rate)))
        self.flush_every = flush_every or max(1, min(1000, self.claim_batch))
        dialect = self.engine.dialect.name
        self._insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._postgres = dialect == "postgresql"

    @property
    def claim_window(self) -> int:
        """The most messages a hard kill can lose (claimed, not yet sent)."""
        return 2 * self.claim_batch + self.concurrency

    # -- public API -------------------------------------------------------------

    async def send_one(self, key: str, person_id: int, outgoing: Outgoing) -> BroadcastResult:
        """One message under the same guarantees (sent once per key, paced, retried)."""
        return await self.broadcast(key, [person_id], lambda _pid: outgoing)

    async def broadcast(self, key: str, recipients: Iterable[int], render: Render) -> BroadcastResult:
        """Send `render(person_id)` to every recipient not yet done under `key`.

        Also resumes rows of `key` left `pending`/`failed` by an earlier run. Returns the
        counts of this run."""
        result = BroadcastResult()
        await self._create_deliveries(key, recipients, result)
        run = _Run(key=key, render=render, result=result, queue=asyncio.Queue())
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(self.concurrency):
                    tg.create_task(self._worker(run))
                tg.create_task(self._feeder(run))
        except BaseException as exc:
            await asyncio.shield(self._abandon(run))
            if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                raise exc.exceptions[0] from exc
            raise
        await self._flush(run)
        log.info(
            "broadcast %s: sent %d, already done %d, blocked %d, failed %d, 429s %d, inactive skipped %d, "
            "no longer due %d", key, result.sent, result.skipped_already_done, result.blocked, result.failed,
            result.retried_429, result.skipped_inactive, result.skipped_not_due,
        )
        return result

    # -- database ---------------------------------------------------------------

    async def _create_deliveries(self, key: str, recipients: Iterable[int], result: BroadcastResult) -> None:
        ids = list(dict.fromkeys(int(r) for r in recipients))
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            inactive = set(
                (await conn.execute(sa.select(_person.c.id).where(_person.c.active.is_(False)))).scalars()
            )
            todo = [pid for pid in ids if pid not in inactive]
            result.skipped_inactive = len(ids) - len(todo)
            stmt = self._insert(_delivery).on_conflict_do_nothing(
                index_elements=[_delivery.c.broadcast_key, _delivery.c.person_id]
            )
            for i in range(0, len(todo), 5000):
                rows = [
                    {"broadcast_key": key, "person_id": pid, "status": PENDING, "attempts": 0, "created_at": now}
                    for pid in todo[i : i + 5000]
                ]
                await conn.execute(stmt, rows)
            result.skipped_already_done = (
                await conn.scalar(
                    sa.select(sa.func.count()).where(
                        _delivery.c.broadcast_key == key, _delivery.c.status.in_(DONE)
                    )
                )
                or 0
            )

    async def _claim(self, run: _Run) -> list[tuple[int, int]]:
        d = _delivery
        inactive = sa.exists().where(_person.c.id == d.c.person_id, _person.c.active.is_(False))
        pick = (
            sa.select(d.c.id)
            .where(d.c.broadcast_key == run.key, d.c.status.in_(TODO), d.c.id > run.after_id, ~inactive)
            .order_by(d.c.id)
            .limit(self.claim_batch)
        )
        if self._postgres:
            pick = pick.with_for_update(skip_locked=True, of=d)
        stmt = (
            sa.update(d)
            .where(d.c.id.in_(pick.scalar_subquery()), d.c.status.in_(TODO))
            .values(status=SENDING)
            .returning(d.c.id, d.c.person_id)
        )
        async with self.engine.begin() as conn:
            rows = sorted((int(r.id), int(r.person_id)) for r in await conn.execute(stmt))
            if not rows:
                # nothing claimable; any rows of ours above after_id were taken by a parallel run
                return []
        run.after_id = rows[-1][0]
        run.unstarted.update(rows)
        return rows

    async def _flush(self, run: _Run) -> None:
        if not run.outcomes:
            return
        outcomes, run.outcomes = run.outcomes, []

        async def write() -> None:
            try:
                await self._write(outcomes)
            except BaseException:
                run.outcomes[:0] = outcomes  # not written: _abandon or the next flush retries
                raise

        await run.guarded(write())

    async def _write(self, outcomes: list[_Outcome]) -> None:
        d = _delivery
        sent = [
            {"b_id": o.id, "b_n": o.attempts, "b_mid": o.message_id, "b_at": o.sent_at}
            for o in outcomes
            if o.status == SENT
        ]
        other = [{"b_id": o.id, "b_n": o.attempts, "b_status": o.status} for o in outcomes if o.status != SENT]
        blocked = [o.person_id for o in outcomes if o.status == BLOCKED]
        async with self.engine.begin() as conn:
            if sent:
                await conn.execute(
                    sa.update(d)
                    .where(d.c.id == sa.bindparam("b_id"))
                    .values(
                        status=SENT,
                        attempts=d.c.attempts + sa.bindparam("b_n"),
                        message_id=sa.bindparam("b_mid"),
                        sent_at=sa.bindparam("b_at"),
                    ),
                    sent,
                )
            if other:
                await conn.execute(
                    sa.update(d)
                    .where(d.c.id == sa.bindparam("b_id"))
                    .values(status=sa.bindparam("b_status"), attempts=d.c.attempts + sa.bindparam("b_n")),
                    other,
                )
            if blocked:
                await conn.execute(
                    sa.update(_person).where(_person.c.id.in_(blocked)).values(active=False)
                )

    async def _abandon(self, run: _Run) -> None:
        """After an orderly stop: record what is known, give back what was never tried."""
        try:
            if run.writes:  # let interrupted claims and flushes finish first
                await asyncio.gather(*run.writes, return_exceptions=True)
            unstarted = list(run.unstarted)
            run.unstarted.clear()
            await self._flush(run)
            if unstarted:
                async with self.engine.begin() as conn:
                    for i in range(0, len(unstarted), 5000):
                        await conn.execute(
                            sa.update(_delivery)
                            .where(_delivery.c.id.in_(unstarted[i : i + 5000]), _delivery.c.status == SENDING)
                            .values(status=PENDING)
                        )
        except Exception:
            log.exception("broadcast %s: could not record its state after stopping", run.key)

    # -- sending ----------------------------------------------------------------

    async def _feeder(self, run: _Run) -> None:
        """Claims rows about a batch ahead of the senders, flushing outcomes as it goes."""
        try:
            while True:
                if run.queue.qsize() > self.claim_batch // 2:
                    run.hungry.clear()
                    await run.hungry.wait()
                    continue
                if len(run.outcomes) >= self.flush_every:
                    await self._flush(run)
                rows = await run.guarded(self._claim(run))
                if not rows:
                    break
                for row in rows:
                    run.queue.put_nowait(row)
        finally:
            for _ in range(self.concurrency):
                run.queue.put_nowait(None)

    async def _worker(self, run: _Run) -> None:
        while True:
            row = await run.queue.get()
            if run.queue.qsize() <= self.claim_batch // 2:
                run.hungry.set()
            if row is None:
                return
            outcome = await self._deliver(run, *row)
            run.unstarted.pop(outcome.id, None)
            run.outcomes.append(outcome)
            res = run.result
            if outcome.status == SENT:
                res.sent += 1
            elif outcome.status == BLOCKED:
                res.blocked += 1
            elif outcome.status == SKIPPED:
                res.skipped_not_due += 1
            else:
                res.failed += 1
            if len(run.outcomes) >= self.flush_every:
                await self._flush(run)

    async def _deliver(self, run: _Run, delivery_id: int, person_id: int) -> _Outcome:
        try:
            outgoing = run.render(person_id)
            if inspect.isawaitable(outgoing):
                outgoing = await outgoing
        except Exception:
            log.exception("broadcast %s: rendering for %s failed", run.key, person_id)
            return _Outcome(delivery_id, person_id, FAILED, 0)
        if outgoing is None:
            return _Outcome(delivery_id, person_id, SKIPPED, 0)
        attempts = rounds_429 = 0
        while True:
            await self.pacer.acquire(person_id)
            attempts += 1
            run.unstarted.pop(delivery_id, None)  # from here on it may arrive
            try:
                message = await self._send(person_id, outgoing)
            except TelegramRetryAfter as e:
                attempts -= 1
                rounds_429 += 1
                run.result.retried_429 += 1
                self.pacer.pause(e.retry_after)
                log.warning("broadcast %s: 429, pausing all sending for %ss", run.key, e.retry_after)
                if rounds_429 > MAX_RETRY_AFTER_ROUNDS:
                    return _Outcome(delivery_id, person_id, FAILED, attempts)
                continue
            except TelegramForbiddenError:
                return _Outcome(delivery_id, person_id, BLOCKED, attempts)
            except TelegramUnauthorizedError:
                run.unstarted[delivery_id] = person_id  # certainly not delivered: give it back
                raise
            except TelegramEntityTooLarge as e:
                log.warning("broadcast %s to %s: %s", run.key, person_id, e)
                return _Outcome(delivery_id, person_id, REFUSED, attempts)
            except (TelegramNetworkError, TelegramServerError) as e:
                if attempts >= self.max_attempts:
                    log.warning("broadcast %s to %s failed after %d tries: %s", run.key, person_id, attempts, e)
                    return _Outcome(delivery_id, person_id, FAILED, attempts)
                await self.sleep(min(MAX_BACKOFF, self.backoff * 2 ** (attempts - 1)))
                continue
            except TelegramAPIError as e:  # 400 chat not found, 404, migrated...: no retry, in no later run
                log.warning("broadcast %s to %s refused: %s", run.key, person_id, e)
                return _Outcome(delivery_id, person_id, REFUSED, attempts)
            except Exception:
                log.exception("broadcast %s to %s: unexpected error", run.key, person_id)
                return _Outcome(delivery_id, person_id, FAILED, attempts)
            return _Outcome(
                delivery_id, person_id, SENT, attempts,
                message_id=getattr(message, "message_id", None), sent_at=datetime.now(UTC),
            )

    async def _send(self, chat_id: int, out: Outgoing) -> Message | SentMessage:
        if out.document is not None:
            data, filename = out.document
            return await self.bot.send_document(
                chat_id, BufferedInputFile(data, filename), caption=out.text or None,
                parse_mode=out.parse_mode, reply_markup=out.reply_markup, disable_notification=out.silent or None,
            )
        if out.photo is not None:
            data, filename = out.photo
            return await self.bot.send_photo(
                chat_id, BufferedInputFile(data, filename), caption=out.text or None,
                parse_mode=out.parse_mode, reply_markup=out.reply_markup, disable_notification=out.silent or None,
            )
        return await self.bot(out.message_to(chat_id))
