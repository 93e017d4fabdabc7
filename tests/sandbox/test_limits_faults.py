"""Flood limits (429 with retry_after, which aiogram raises as TelegramRetryAfter)
and seeded fault injection."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bot.sandbox.limits import Faults, RateLimits
from bot.sandbox.server import running_sandbox
from tests.sandbox.conftest import TOKEN, make_bot


async def test_per_chat_limit_answers_429_with_retry_after() -> None:
    limits = RateLimits(per_second=1000, burst=1000, per_chat_per_second=1, per_chat_burst=3)
    async with running_sandbox(rate_limits=limits) as sb:
        sb.sandbox.register_user(TOKEN, 1)
        sb.sandbox.register_user(TOKEN, 2)
        bot = make_bot(sb.base_url)
        try:
            for i in range(3):
                await bot.send_message(1, f"m{i}")
            with pytest.raises(TelegramRetryAfter) as err:
                await bot.send_message(1, "one too many")
            assert err.value.retry_after >= 1
            assert "Too Many Requests: retry after" in err.value.message
            await bot.send_message(2, "another chat is fine")
        finally:
            await bot.session.close()


async def test_global_limit_and_raising_it_for_benchmarks() -> None:
    async with running_sandbox(rate_limits=RateLimits(per_second=5, burst=5, per_chat_burst=100)) as sb:
        for uid in range(10):
            sb.sandbox.register_user(TOKEN, uid + 1)
        bot = make_bot(sb.base_url)
        try:
            for uid in range(5):
                await bot.send_message(uid + 1, "x")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(6, "x")
        finally:
            await bot.session.close()
    fast = RateLimits(per_second=3000, burst=3000, per_chat_per_second=1000, per_chat_burst=1000)
    async with running_sandbox(rate_limits=fast) as sb:
        for uid in range(200):
            sb.sandbox.register_user(TOKEN, uid + 1)
        bot = make_bot(sb.base_url)
        try:
            await asyncio.gather(*(bot.send_message(uid + 1, "fast") for uid in range(200)))
        finally:
            await bot.session.close()
        assert sb.sandbox.stats["messages"] == 200


async def _error_pattern(seed: int) -> list[bool]:
    async with running_sandbox(faults=Faults(error_rate=0.5, seed=seed)) as sb:
        bot = make_bot(sb.base_url)
        out = []
        try:
            for _ in range(12):
                try:
                    await bot.get_me()
                    out.append(True)
                except TelegramServerError:
                    out.append(False)
        finally:
            await bot.session.close()
        return out


async def test_injected_errors_are_reproducible_with_a_seed() -> None:
    first, second = await _error_pattern(7), await _error_pattern(7)
    assert first == second and True in first and False in first


async def test_dropped_connections_and_slow_answers() -> None:
    async with running_sandbox(faults="drop=1,methods=getMe") as sb:
        bot = make_bot(sb.base_url)
        try:
            with pytest.raises(TelegramNetworkError):
                await bot.get_me()
            assert await bot.get_my_commands() == []  # other methods unaffected
        finally:
            await bot.session.close()
    async with running_sandbox(faults=Faults(slow_rate=1.0, slow_seconds=0.3)) as sb:
        bot = make_bot(sb.base_url)
        try:
            t0 = time.monotonic()
            await bot.get_me()
            assert time.monotonic() - t0 >= 0.3
        finally:
            await bot.session.close()
