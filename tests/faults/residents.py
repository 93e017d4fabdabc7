"""A simulated resident who answers the default questionnaire through the sandbox the
way a patient person would: tap the answer on the live question message and wait for
the bot to put the next screen there; when nothing happens in time (a lost update, a
failed edit, a dead bot), open the link again (`/start <code>`), which shows the first
unanswered question, and go on from there.

Which screen is shown is read from the chat itself (the question's text), never
assumed, so a resident copes with any point the bot resumes at. Many residents share
one aiohttp session (`resident_session`)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.sandbox.client import SandboxError, SandboxUser
from surveys.questionnaire import Question, load_default_questionnaire

Message = dict[str, Any]

QUESTIONNAIRE = load_default_questionnaire()
QUESTIONS: dict[str, Question] = {q.id: q for q in QUESTIONNAIRE.questions}
FIRST_FOUR = ("aware", "sat_welfare", "sat_safety", "sat_emergency")
PROGRESS = re.compile(r"第 (\d+)/(\d+) 题")
BEGIN = "开始答题"
THANKS = "谢谢您参加"
DONE = "完成"
MARKS = ("● ", "●", "☑ ", "☐ ")


def resident_session() -> aiohttp.ClientSession:
    """One HTTP session for hundreds of residents (no connection cap: each may hold a long poll)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                 timeout=aiohttp.ClientTimeout(total=120))


def plan_for(uid: int, full: bool = False) -> dict[str, Any]:
    """What resident `uid` answers (question id → the value the database must hold)."""
    aware = ("well", "some", "heard", "no")[uid % 4]
    plan: dict[str, Any] = {"aware": aware, "sat_welfare": 1 + uid % 5, "sat_safety": 1 + (uid + 1) % 5,
                            "sat_emergency": 1 + (uid + 2) % 5}
    if full:
        options = [o.id for o in QUESTIONS["needs"].options]
        plan |= {"needs": [options[i] for i in sorted({uid % 9, (uid + 4) % 9})], "missing": "yes",
                 "missing_what": f"村里的路灯坏了（{uid}）", "suggest": f"希望多开几个便民窗口（{uid}）",
                 "age": [o.id for o in QUESTIONS["age"].options][uid % 5]}
    return plan


def question_number(message: Message | None) -> int | None:
    """N of "第 N/M 题" on a message, or None."""
    m = PROGRESS.search((message or {}).get("text") or "")
    return int(m.group(1)) if m else None


def buttons(message: Message) -> list[dict[str, str]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _label(text: str) -> str:
    for mark in MARKS:
        if text.startswith(mark):
            return text[len(mark):]
    return text


def screen_of(message: Message | None) -> str | None:
    """"welcome", "summary", a question id, or None (not a questionnaire screen)."""
    if message is None:
        return None
    text = message.get("text") or ""
    if any(b.get("text") == BEGIN for b in buttons(message)):
        return "welcome"
    if THANKS in text:
        return "summary"
    for q in QUESTIONNAIRE.questions:
        if q.text.get("zh_CN") in text:
            return q.id
    return None


def last_bot(messages: list[Message]) -> Message | None:
    return next((m for m in reversed(messages) if m["from_bot"]), None)


def _fingerprint(message: Message | None) -> tuple[Any, ...]:
    if message is None:
        return (None,)
    return message["message_id"], message.get("text"), repr(message.get("reply_markup"))


class Stuck(Exception):
    """The resident gave up: too many actions or recoveries without finishing."""


@dataclass
class Resident:
    user: SandboxUser
    code: str
    plan: dict[str, Any]
    step_timeout: float = 10.0
    max_actions: int = 80
    actions: int = 0
    recoveries: int = 0
    sent: list[str] = field(default_factory=list)
    on_step: Callable[[str], None] | None = None  # called with the screen reached after each change

    @property
    def uid(self) -> int:
        return self.user.user_id

    async def chat(self) -> list[Message]:
        return await self.user.messages()

    async def _wait_change(self, before: tuple[Any, ...], after_id: int = 0) -> Message | None:
        """The new live message once the chat's last bot message differs from `before`
        (and is newer than message `after_id`, when given); None on timeout."""

        def changed(msgs: list[Message]) -> bool:
            live = last_bot(msgs)
            return live is not None and _fingerprint(live) != before and live["message_id"] > after_id

        try:
            msgs = await self.user.wait_for_messages(predicate=changed, timeout=self.step_timeout)
        except TimeoutError:
            return None
        live = last_bot(msgs)
        if self.on_step is not None:
            self.on_step(screen_of(live) or "")
        return live

    async def send(self, text: str, before: Message | None = None,
                   expect: Callable[[Message], bool] | None = None) -> Message | None:
        """Send a message; the newest bot message after it once there is one (satisfying `expect`)."""
        self.actions += 1
        sent = await self.user.send(text)
        self.sent.append(text)

        def ok(msgs: list[Message]) -> bool:
            newer = [m for m in msgs if m["from_bot"] and m["message_id"] > sent["message_id"]]
            return bool(newer) and (expect is None or any(expect(m) for m in newer))

        try:
            msgs = await self.user.wait_for_messages(predicate=ok, timeout=self.step_timeout)
        except TimeoutError:
            return None
        newer = [m for m in msgs if m["from_bot"] and m["message_id"] > sent["message_id"]]
        found = [m for m in newer if expect is None or expect(m)]
        live = found[-1]
        if self.on_step is not None:
            self.on_step(screen_of(live) or "")
        return live

    async def tap(self, message: Message, label: str) -> Message | None:
        """Tap the button labelled `label` (ignoring ●/☑/☐ marks); the changed live message, or None."""
        data = next((b["callback_data"] for b in buttons(message) if _label(b.get("text", "")) == label
                     or b.get("text", "").startswith(label)), None)
        if data is None:
            raise LookupError(f"resident {self.uid}: no button {label!r} on {message.get('text')!r}")
        self.actions += 1
        before = _fingerprint(message)
        try:
            result = await self.user.press(message["message_id"], data, wait=self.step_timeout)
        except SandboxError:
            return None
        if result.get("show_alert"):
            return None  # refused (e.g. a stale screen): recover
        return await self._wait_change(before)

    async def recover(self) -> Message | None:
        """Open the link again: the bot shows the first unanswered question (or the welcome)."""
        self.recoveries += 1
        return await self.send(f"/start {self.code}",
                               expect=lambda m: screen_of(m) is not None)

    async def act(self, live: Message) -> Message | None:
        """One step on the screen `live` shows; the next live message, or None when nothing came."""
        screen = screen_of(live)
        if screen == "welcome":
            return await self.tap(live, BEGIN)
        assert screen in QUESTIONS, f"resident {self.uid}: unexpected screen {live.get('text')!r}"
        q = QUESTIONS[screen]
        want = self.plan[screen]
        match q.type:
            case "single":
                option = q.option(want)
                assert option is not None
                return await self.tap(live, option.text.get("zh_CN"))
            case "scale":
                return await self.tap(live, str(want))
            case "multi":
                checked = {_label(b["text"]) for b in buttons(live) if b["text"].startswith("☑")}
                wanted = {o.text.get("zh_CN") for o in q.options if o.id in want}
                for o in q.options:
                    label = o.text.get("zh_CN")
                    if (label in wanted) != (label in checked):
                        return await self.tap(live, label)
                return await self.tap(live, DONE)
            case "text":
                return await self.send(str(want), expect=lambda m: screen_of(m) is not None)
        raise AssertionError(f"no plan for question type {q.type}")

    async def run(self, live: Message | None = None, until: frozenset[str] = frozenset({"summary"})) -> Message:
        """Answer from `live` (or from opening the link) until a screen in `until` shows."""
        deadline = time.monotonic() + self.max_actions * self.step_timeout
        if live is None:
            live = await self.recover()
        while True:
            if live is not None and screen_of(live) in until:
                return live
            if self.actions >= self.max_actions or time.monotonic() > deadline:
                raise Stuck(f"resident {self.uid}: {self.actions} actions, {self.recoveries} recoveries; "
                            f"last screen {screen_of(live)!r}")
            nxt = await self.act(live) if live is not None and screen_of(live) is not None else None
            live = nxt if nxt is not None else await self.recover()


async def run_all(residents: list[Resident], until: frozenset[str] = frozenset({"summary"}),
                  live: dict[int, Message] | None = None) -> list[BaseException | Message]:
    """Run residents concurrently; each one's final live message or its exception."""
    live = live or {}
    return await asyncio.gather(*(r.run(live.get(r.uid), until) for r in residents), return_exceptions=True)


def bot_messages_between_user_messages(messages: list[Message]) -> list[int]:
    """For each message the user sent, how many bot messages came before the next one
    (in the flows these tests drive, the bot answers a message with at most one message)."""
    counts: list[int] = []
    for m in messages:
        if not m["from_bot"]:
            counts.append(0)
        elif counts:
            counts[-1] += 1
    return counts
