"""The broadcaster: pacing, Telegram errors, and sending nothing twice — on SQLite and
PostgreSQL, against a fake Bot API session and a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import BufferedInputFile, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.broadcaster import Broadcaster, Outgoing, mark_active
from storage.engine import make_sessionmaker
from storage.models import Delivery, Person

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
D = Delivery.__table__


class Killed(BaseException):
    """Stands for the process being killed in the middle of a broadcast."""


class FakeClock:
    """Monotonic time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.now += seconds
        await asyncio.sleep(0)


ErrorFactory = Callable[[TelegramMethod], BaseException]


@dataclass
class Call:
    at: float
    chat_id: int
    method: TelegramMethod
    delivered: bool


@dataclass
class FakeSession(BaseSession):
    """Answers like Telegram; `script[chat]` lists errors raised on that chat's next calls."""

    clock: Callable[[], float] = lambda: 0.0
    script: dict[int, list[ErrorFactory]] = field(default_factory=dict)
    kill_after: int | None = None  # raise Killed right after the n-th delivered message
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._next_id = 1

    @property
    def delivered(self) -> list[Call]:
        return [c for c in self.calls if c.delivered]

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:  # pragma: no cover
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        chat_id = int(method.chat_id)  # type: ignore[attr-defined]
        errors = self.script.get(chat_id)
        if errors:
            self.calls.append(Call(self.clock(), chat_id, method, False))
            raise errors.pop(0)(method)
        self.calls.append(Call(self.clock(), chat_id, method, True))
        message = Message(
            message_id=self._next_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            text=getattr(method, "text", None),
        )
        self._next_id += 1
        if self.kill_after is not None and len(self.delivered) == self.kill_after:
            raise Killed  # Telegram got it; we die before hearing back
        return message


def retry_after(seconds: int) -> ErrorFactory:
    return lambda m: TelegramRetryAfter(method=m, message="Too Many Requests", retry_after=seconds)


def network_error(m: TelegramMethod) -> BaseException:
    return TelegramNetworkError(method=m, message="Request timeout error")


def server_error(m: TelegramMethod) -> BaseException:
    return TelegramServerError(method=m, message="Bad Gateway")


def forbidden(m: TelegramMethod) -> BaseException:
    return TelegramForbiddenError(method=m, message="Forbidden: bot was blocked by the user")


def bad_request(m: TelegramMethod) -> BaseException:
    return TelegramBadRequest(method=m, message="Bad Request: chat not found")


def text(pid: int) -> Outgoing:
    return Outgoing(f"<b>提醒</b> {pid}")


@pytest.fixture
async def engine(database) -> AsyncIterator[Any]:
    engine = database.engine()
    yield engine
    await engine.dispose()


@dataclass
class Harness:
    engine: Any
    clock: FakeClock
    session: FakeSession
    bot: Bot

    def broadcaster(self, **kw: Any) -> Broadcaster:
        kw.setdefault("rate", 25)
        kw.setdefault("backoff", 1.0)
        return Broadcaster(self.bot, make_sessionmaker(self.engine), clock=self.clock, sleep=self.clock.sleep, **kw)

    async def statuses(self, key: str) -> dict[int, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(D.c.person_id, D.c.status).where(D.c.broadcast_key == key))
            return {r.person_id: r.status for r in rows}

    async def add_people(self, ids: list[int]) -> None:
        async with make_sessionmaker(self.engine)() as s:
            s.add_all([Person(id=i, first_name=f"p{i}") for i in ids])
            await s.commit()

    async def active(self, pid: int) -> bool:
        async with self.engine.connect() as conn:
            return bool(await conn.scalar(sa.select(Person.__table__.c.active).where(Person.__table__.c.id == pid)))


def harness(engine: Any, **session_kw: Any) -> Harness:
    clock = FakeClock()
    session = FakeSession(clock=clock, **session_kw)
    return Harness(engine, clock, session, Bot(TOKEN, session=session))


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def min_gap_per_chat(calls: list[Call]) -> float:
    last: dict[int, float] = {}
    gap = float("inf")
    for c in calls:
        if c.chat_id in last:
            gap = min(gap, c.at - last[c.chat_id])
        last[c.chat_id] = c.at
    return gap


# -- pacing ----------------------------------------------------------------------


async def test_rate_limit_holds_in_every_second_across_concurrent_broadcasts(engine) -> None:
    h = harness(engine)
    b = h.broadcaster(rate=20, concurrency=8)
    start = h.clock()
    r1, r2 = await asyncio.gather(
        b.broadcast("announce:1", range(1, 121), text),
        b.broadcast("digest:1", range(1001, 1081), text),
    )
    assert r1.sent == 120 and r2.sent == 80
    times = [c.at for c in h.session.calls]
    assert max_in_window(times) <= 20
    elapsed = h.clock() - start
    assert 200 / 20 - 1 <= elapsed <= 200 / 20 * 1.1  # paced, not needlessly slow


async def test_high_rate_allows_a_small_burst_but_no_window_exceeds_rate(engine) -> None:
    h = harness(engine)
    b = h.broadcaster(rate=500, concurrency=64)
    result = await b.broadcast("big", range(1, 1501), text)
    assert result.sent == 1500
    assert max_in_window([c.at for c in h.session.calls]) <= 500
    assert h.clock() - 1000.0 <= 1500 / 500 * 1.1


async def test_two_messages_to_one_chat_are_per_chat_interval_apart(engine) -> None:
    h = harness(engine)
    b = h.broadcaster(rate=100, per_chat_interval=1.0)
    people = list(range(1, 11))
    await b.broadcast("first", people, text)  # ~0.1 s of sending
    await b.broadcast("second", people, text)  # the same chats again, at once
    for pid in people:
        await b.send_one(f"third:{pid}", pid, text(pid))
    assert len(h.session.calls) == 30
    assert min_gap_per_chat(h.session.calls) >= 1.0 - 1e-9


async def test_retry_after_pauses_everything_then_retries(engine) -> None:
    h = harness(engine, script={5: [retry_after(7)]})
    b = h.broadcaster(rate=25, concurrency=4)
    result = await b.broadcast("r", range(1, 21), text)
    assert result.sent == 20 and result.retried_429 == 1
    to_5 = [c for c in h.session.calls if c.chat_id == 5]
    assert [c.delivered for c in to_5] == [False, True]
    refused_at, retried_at = to_5[0].at, to_5[1].at
    assert retried_at - refused_at >= 7
    # nobody at all was sent anything during the pause
    assert not [c for c in h.session.calls if refused_at < c.at < refused_at + 7]
    assert (await h.statuses("r"))[5] == "sent"


# -- errors ----------------------------------------------------------------------


async def test_network_and_server_errors_are_retried_with_backoff(engine) -> None:
    h = harness(engine, script={3: [network_error, server_error]})
    b = h.broadcaster(max_attempts=5, backoff=2.0)
    result = await b.broadcast("net", [1, 2, 3, 4], text)
    assert result.sent == 4 and result.failed == 0
    to_3 = [c for c in h.session.calls if c.chat_id == 3]
    assert [c.delivered for c in to_3] == [False, False, True]
    assert to_3[1].at - to_3[0].at >= 2.0
    assert to_3[2].at - to_3[1].at >= 4.0  # exponential
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(D).where(D.c.person_id == 3))).one()
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.message_id is not None and row.sent_at is not None


async def test_persistent_network_error_fails_after_max_attempts(engine) -> None:
    h = harness(engine, script={2: [network_error] * 10})
    b = h.broadcaster(max_attempts=3)
    result = await b.broadcast("net", [1, 2], text)
    assert (result.sent, result.failed) == (1, 1)
    assert len([c for c in h.session.calls if c.chat_id == 2]) == 3
    assert (await h.statuses("net"))[2] == "failed"


async def test_bad_request_is_refused_for_good_and_a_rerun_leaves_it(engine) -> None:
    h = harness(engine, script={2: [bad_request]})
    b = h.broadcaster()
    result = await b.broadcast("bad", [1, 2, 3], text)
    assert (result.sent, result.failed) == (2, 1)
    assert len([c for c in h.session.calls if c.chat_id == 2]) == 1
    assert (await h.statuses("bad"))[2] == "refused"
    again = await b.broadcast("bad", [1, 2, 3], text)  # a definite refusal is not tried again
    assert again.sent == 0
    assert len([c for c in h.session.calls if c.chat_id == 2]) == 1
    assert Counter(c.chat_id for c in h.session.delivered) == {1: 1, 3: 1}


async def test_forbidden_marks_blocked_and_inactive_and_later_broadcasts_skip(engine) -> None:
    h = harness(engine, script={2: [forbidden]})
    await h.add_people([1, 2, 3])
    b = h.broadcaster()
    result = await b.broadcast("a", [1, 2, 3], text)
    assert (result.sent, result.blocked) == (2, 1)
    assert (await h.statuses("a"))[2] == "blocked"
    assert not await h.active(2)
    assert await h.active(1)

    calls = len(h.session.calls)
    later = await b.broadcast("b", [1, 2, 3], text)
    assert (later.sent, later.skipped_inactive) == (2, 1)
    assert 2 not in [c.chat_id for c in h.session.calls[calls:]]
    assert 2 not in await h.statuses("b")  # no delivery created for them

    async with make_sessionmaker(engine)() as s:  # they wrote to the bot again
        await mark_active(s, 2)
        await s.commit()
    back = await b.broadcast("c", [1, 2, 3], text)
    assert back.sent == 3
    assert (await b.broadcast("a", [1, 2, 3], text)).sent == 0  # blocked stays done for its key


# -- sending nothing twice ----------------------------------------------------------


async def test_same_key_twice_sends_once(engine) -> None:
    h = harness(engine)
    b = h.broadcaster()
    first = await b.broadcast("reminder:1", range(1, 31), text)
    second = await h.broadcaster().broadcast("reminder:1", range(1, 31), text)
    assert first.sent == 30
    assert (second.sent, second.skipped_already_done) == (0, 30)
    more = await b.broadcast("reminder:1", range(1, 36), text)  # five more recipients
    assert (more.sent, more.skipped_already_done) == (5, 30)
    assert Counter(c.chat_id for c in h.session.delivered) == Counter(range(1, 36))


async def test_the_same_key_run_twice_at_once_sends_once(engine) -> None:
    h = harness(engine)
    b1, b2 = h.broadcaster(claim_batch=5), h.broadcaster(claim_batch=5)
    r1, r2 = await asyncio.gather(
        b1.broadcast("job", range(1, 61), text), b2.broadcast("job", range(1, 61), text)
    )
    assert r1.sent + r2.sent == 60
    assert Counter(c.chat_id for c in h.session.delivered) == Counter(range(1, 61))


async def test_crash_midway_then_resume_sends_the_rest_and_nobody_twice(database, engine) -> None:
    h = harness(engine, kill_after=17)
    with pytest.raises(Killed):
        await h.broadcaster(claim_batch=10, concurrency=4).broadcast("final", range(1, 51), text)
    assert len(h.session.delivered) == 17

    # a new process: new engine, new bot, new broadcaster, the same key
    engine2 = database.engine()
    try:
        h2 = harness(engine2)
        result = await h2.broadcaster(claim_batch=10, concurrency=4).broadcast("final", range(1, 51), text)
        statuses = await h2.statuses("final")
    finally:
        await engine2.dispose()
    total = Counter(c.chat_id for c in h.session.delivered + h2.session.delivered)
    assert total == Counter(range(1, 51))  # everyone once, nobody twice
    assert result.sent == 33 and result.skipped_already_done == 17
    # the one delivered just before the kill was never recorded: it stays "sending"
    assert Counter(statuses.values()) == {"sent": 49, "sending": 1}


async def test_hard_kill_loses_at_most_the_claim_window_and_repeats_nobody(database, engine, monkeypatch) -> None:
    """A SIGKILL runs no cleanup: claimed-but-unsent rows stay "sending" and are skipped."""

    async def no_cleanup(self: Broadcaster, run: Any) -> None:
        return None

    h = harness(engine, kill_after=12)
    crashing = h.broadcaster(claim_batch=5, concurrency=2)
    monkeypatch.setattr(Broadcaster, "_abandon", no_cleanup)
    with pytest.raises(Killed):
        await crashing.broadcast("final", range(1, 61), text)
    monkeypatch.undo()

    engine2 = database.engine()
    try:
        h2 = harness(engine2)
        result = await h2.broadcaster(claim_batch=5, concurrency=2).broadcast("final", range(1, 61), text)
    finally:
        await engine2.dispose()
    total = Counter(c.chat_id for c in h.session.delivered + h2.session.delivered)
    assert max(total.values()) == 1  # nobody twice
    lost = 60 - len(total)
    assert 0 <= lost <= crashing.claim_window
    assert result.skipped_already_done == 60 - result.sent


async def test_bad_token_stops_the_broadcast_and_gives_unsent_rows_back(engine) -> None:
    unauthorized: ErrorFactory = lambda m: TelegramUnauthorizedError(method=m, message="Unauthorized")  # noqa: E731
    h = harness(engine, script={3: [unauthorized]})
    with pytest.raises(TelegramUnauthorizedError):
        await h.broadcaster(concurrency=1, claim_batch=4).broadcast("k", range(1, 21), text)
    statuses = await h.statuses("k")
    assert sorted(p for p, st in statuses.items() if st == "sent") == [1, 2]
    assert set(statuses.values()) == {"sent", "pending"}  # 3 was refused, the rest never tried
    again = await h.broadcaster().broadcast("k", range(1, 21), text)
    assert again.sent == 18
    assert Counter(c.chat_id for c in h.session.delivered) == Counter(range(1, 21))


async def test_leftover_sending_rows_count_as_sent(engine) -> None:
    h = harness(engine)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(D),
            [
                {"broadcast_key": "k", "person_id": 1, "status": "sending", "attempts": 1,
                 "created_at": datetime.now(UTC)},
                {"broadcast_key": "k", "person_id": 2, "status": "pending", "attempts": 0,
                 "created_at": datetime.now(UTC)},
            ],
        )
    result = await h.broadcaster().broadcast("k", [1, 2, 3], text)
    assert (result.sent, result.skipped_already_done) == (2, 1)
    assert sorted(c.chat_id for c in h.session.delivered) == [2, 3]


# -- what is sent ------------------------------------------------------------------


async def test_documents_photos_markup_and_async_render(engine) -> None:
    h = harness(engine)
    b = h.broadcaster()
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="打开", callback_data="c:1")]])

    async def render(pid: int) -> Outgoing:
        await asyncio.sleep(0)
        if pid == 1:
            return Outgoing("报告", document=(b"%PDF-1.4", "report.pdf"))
        if pid == 2:
            return Outgoing("图表", photo=(b"\x89PNG", "chart.png"), parse_mode=None)
        return Outgoing("请填写问卷", reply_markup=kb)

    result = await b.broadcast("mixed", [1, 2, 3], render)
    assert result.sent == 3
    by_chat = {c.chat_id: c.method for c in h.session.calls}
    doc, photo, msg = by_chat[1], by_chat[2], by_chat[3]
    assert isinstance(doc, SendDocument) and doc.caption == "报告"
    assert isinstance(doc.document, BufferedInputFile) and doc.document.filename == "report.pdf"
    assert doc.document.data == b"%PDF-1.4"
    assert isinstance(photo, SendPhoto) and photo.caption == "图表" and photo.parse_mode is None
    assert isinstance(photo.photo, BufferedInputFile) and photo.photo.filename == "chart.png"
    assert isinstance(msg, SendMessage) and msg.text == "请填写问卷" and msg.parse_mode == "HTML"
    assert msg.reply_markup == kb
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(D.c.message_id).where(D.c.broadcast_key == "mixed"))).scalars()
        assert sorted(ids) == [1, 2, 3]


async def test_send_one(engine) -> None:
    h = harness(engine)
    b = h.broadcaster()
    assert (await b.send_one("welcome:9", 9, Outgoing("欢迎"))).sent == 1
    assert (await b.send_one("welcome:9", 9, Outgoing("欢迎"))).sent == 0
    assert [c.chat_id for c in h.session.calls] == [9]
