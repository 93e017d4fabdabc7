"""The Bot API misbehaving: the sandbox answers 10% of the bot's calls (getUpdates,
sendMessage, editMessageText, answerCallbackQuery…) with a 500, a slow answer or a
dropped connection (seeded). Residents complete the whole default questionnaire
(recovering as a person would: opening the link again when a screen does not come),
on SQLite and PostgreSQL: no answer is lost, and no message is sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.sandbox.client import SandboxUser
from bot.sandbox.limits import Faults
from bot.sandbox.server import running_sandbox
from tests.conftest import Database
from tests.faults.conftest import BOT_USERNAME, TOKEN, BotProc, answer_row_counts, stored_by_person
from tests.faults.residents import Resident, plan_for, resident_session, run_all

pytestmark = [pytest.mark.slow, pytest.mark.faults]

RESIDENTS = 20


class CountingFaults(Faults):
    """Faults that count what they injected."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.injected: Counter[str] = Counter()

    def decide(self) -> tuple[str | None, float]:
        outcome, delay = super().decide()
        self.injected[outcome or ("slow" if delay else "ok")] += 1
        return outcome, delay


async def test_residents_complete_questionnaire_through_500s_slow_answers_and_dropped_connections(
        seeded: tuple[Database, str], tmp_path: Path) -> None:
    database, code = seeded
    faults = CountingFaults(error_rate=0.04, slow_rate=0.03, slow_seconds=1.0, drop_rate=0.03, seed=20261126)
    plans = {uid: plan_for(uid, full=True) for uid in range(40_001, 40_001 + RESIDENTS)}
    async with asyncio.timeout(150), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME) as sb, \
            resident_session() as http:
        bot = BotProc(sb, database.url, tmp_path / "bot.log")
        try:
            await bot.start()
            sb.sandbox.faults = faults  # from now on (a fault in the start-up calls is its own test below)
            residents = [Resident(SandboxUser(sb.base_url, TOKEN, uid, session=http, first_name=f"居民{uid}",
                                              language_code="zh-hans"), code, plan, step_timeout=6)
                         for uid, plan in plans.items()]
            results = await run_all(residents)
            failures = [r for r in results if isinstance(r, BaseException)]
            assert not failures, f"{len(failures)} residents did not finish, e.g. {failures[:3]}\n{bot.log_tail()}"
            assert bot.alive()

            assert faults.injected["error"] and faults.injected["drop"] and faults.injected["slow"], faults.injected
            assert sum(r.recoveries for r in residents) > len(residents), "no resident ever had to recover"

            # no answer lost: the database holds each resident's whole plan, each answer once
            stored = await stored_by_person(database.url)
            diffs = {uid: {q: (stored.get(uid, {}).get(q), v) for q, v in plan.items()
                           if stored.get(uid, {}).get(q) != v} for uid, plan in plans.items()}
            diffs = {uid: d for uid, d in diffs.items() if d}
            assert not diffs, f"stored vs planned: {diffs}"
            assert stored.keys() == plans.keys()
            counts = await answer_row_counts(database.url)
            assert len(counts) == sum(len(p) for p in plans.values()) and set(counts.values()) == {1}

            # no message doubled: never the same bot message twice in a row, never more bot
            # messages than the resident sent messages
            for r in residents:
                msgs = sb.sandbox.chat_messages(TOKEN, r.uid)
                bot_msgs = [m for m in msgs if m["from_bot"]]
                assert len(bot_msgs) <= len(msgs) - len(bot_msgs), (
                    f"resident {r.uid}: more bot messages than sent: "
                    f"{[(m['from_bot'], m['text'][:40]) for m in msgs]}")
                for a, b in zip(msgs, msgs[1:], strict=False):
                    assert not (a["from_bot"] and b["from_bot"] and a["text"] == b["text"]), (
                        f"resident {r.uid}: the bot sent {a['text']!r} twice")
            print(f"injected {dict(faults.injected)}; {sum(r.recoveries for r in residents)} recoveries")
        finally:
            bot.kill()


class FailFirst(Faults):
    """A 500 on the first `n` calls of the chosen methods, then none."""

    def __init__(self, n: int, methods: frozenset[str]) -> None:
        super().__init__(methods=methods)
        self.left = n

    def decide(self) -> tuple[str | None, float]:
        if self.left > 0:
            self.left -= 1
            return "error", 0.0
        return None, 0.0


async def test_bot_start_survives_one_500_on_its_start_up_calls(sqlite_database: Database, tmp_path: Path) -> None:
    async with asyncio.timeout(60), running_sandbox(port=0, tokens=[TOKEN], bot_username=BOT_USERNAME,
                                                    faults=FailFirst(1, frozenset({"setMyCommands"}))) as sb:
        bot = BotProc(sb, sqlite_database.url, tmp_path / "bot.log")
        try:
            await bot.start()
            assert bot.alive()
        finally:
            bot.kill()
