"""Telegram's flood limits (token buckets answering 429 with retry_after) and
seeded fault injection (500s, slow answers, dropped connections) for the sandbox."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

__all__ = ["DEFAULT_LIMITED_METHODS", "Faults", "RateLimits", "TokenBucket"]

DEFAULT_LIMITED_METHODS = frozenset({
    "sendmessage", "senddocument", "sendphoto", "copymessage", "forwardmessage",
    "editmessagetext", "editmessagecaption", "editmessagereplymarkup",
})


@dataclass(frozen=True)
class RateLimits:
    """Numbers for the flood limits. Telegram: about 30 messages/s per bot and about
    1/s per chat, with a small burst; raise `per_second` for benchmarks."""

    per_second: float = 30.0
    burst: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: float = 3.0
    methods: frozenset[str] = DEFAULT_LIMITED_METHODS


class TokenBucket:
    """A token bucket; `delay()` says how long until one token is there."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def delay(self, now: float) -> float:
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else math.inf

    def take(self) -> None:
        self.tokens -= 1.0


def retry_after(seconds: float) -> int:
    """Telegram's retry_after: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


@dataclass
class Faults:
    """Fault injection on the bot side. Each request independently: dropped with
    probability `drop_rate`, else answered 500 with `error_rate`, and (if it
    survives) delayed `slow_seconds` with `slow_rate`. Seeded, so reproducible."""

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    drop_rate: float = 0.0
    seed: int | None = 0
    methods: frozenset[str] | None = None  # lower-case method names; None = every method
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        if self.methods is not None:
            self.methods = frozenset(m.lower() for m in self.methods)

    def applies(self, method: str) -> bool:
        return self.methods is None or method in self.methods

    def decide(self) -> tuple[str | None, float]:
        """("drop" | "error" | None, delay in seconds)."""
        rng = self.rng
        if self.drop_rate and rng.random() < self.drop_rate:
            return "drop", 0.0
        if self.error_rate and rng.random() < self.error_rate:
            return "error", 0.0
        if self.slow_rate and rng.random() < self.slow_rate:
            return None, self.slow_seconds
        return None, 0.0

    @classmethod
    def parse(cls, spec: str) -> Faults | None:
        """Parse "error=0.05,slow=0.1,delay=0.5,drop=0.01,seed=42,methods=sendMessage+getMe"."""
        spec = spec.strip()
        if not spec:
            return None
        kw: dict[str, object] = {}
        names = {"error": "error_rate", "slow": "slow_rate", "delay": "slow_seconds", "drop": "drop_rate",
                 "seed": "seed", "methods": "methods"}
        for part in spec.split(","):
            key, _, value = part.partition("=")
            key = key.strip().lower()
            if key not in names:
                raise ValueError(f"unknown fault setting {key!r}; use one of {', '.join(names)}")
            if key == "seed":
                kw["seed"] = int(value)
            elif key == "methods":
                kw["methods"] = frozenset(v.strip().lower() for v in value.split("+") if v.strip())
            else:
                kw[names[key]] = float(value)
        return cls(**kw)  # type: ignore[arg-type]
