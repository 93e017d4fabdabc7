"""Consultations: the status machine, the answer window, deep-link codes and the
reminder/digest settings each consultation carries."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from surveys.text import drop_nul

# No 0/O/1/I/L: codes are read off posters and typed by hand.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 8

# The kinds of comment a cadre makes on an item, in the order their menu offers them, then
# an item the list leaves out (/missing): every count or list of comments by kind — the chat,
# the digest, the workbook, the chart, the 反馈情况说明 — follows this one order.
# decisions on a comment the 反馈情况说明 must give a reason for (采纳 needs none); ones recorded
# before reasons were required may lack it, and are flagged so rather than shown with nothing after them
NEEDS_REASON: tuple[str, ...] = ("partly", "rejected")
COMMENT_KINDS: tuple[str, ...] = ("to_cooperating", "to_basic", "withdraw", "basis", "wording", "other")
MISSING_KIND = "missing"
KIND_ORDER: tuple[str, ...] = (*COMMENT_KINDS, MISSING_KIND)


def in_kind_order(counts: Mapping[str, int]) -> dict[str, int]:
    """`counts` by kind of comment, in KIND_ORDER (a kind it does not know last, by name)."""
    rank = {k: n for n, k in enumerate(KIND_ORDER)}
    return {k: counts[k] for k in sorted(counts, key=lambda k: (rank.get(k, len(rank)), k))}


class Status(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    REPORTED = "reported"


TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.DRAFT: (Status.OPEN,),
    Status.OPEN: (Status.CLOSED,),
    Status.CLOSED: (Status.REPORTED, Status.OPEN),  # reopen: the deadline was extended
    Status.REPORTED: (),
}


class TransitionError(ValueError):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"{current.value} -> {target.value}")
        self.current = current
        self.target = target


class DeadlinePassed(ValueError):
    """A consultation cannot open (again) once its deadline has passed."""


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


class NoSuchDay(ValueError):
    """A date written in a form parse_local reads, but that does not exist: 2月30日, 13月1日,
    2026-02-29. `year` None: the organizer gave none (no year has that day near)."""

    def __init__(self, year: int | None, month: int, day: int) -> None:
        super().__init__(f"no such day: {year}-{month}-{day}")
        self.year, self.month, self.day = year, month, day

    def text(self, locale: str) -> str:
        from surveys.i18n import gettext, normalize_locale

        if not 1 <= self.month <= 12:
            return gettext("deadline.no-such-month", locale, month=self.month)
        # (the month as each language writes it: 2月, February)
        month_name = _MONTH_NAMES[self.month - 1] if normalize_locale(locale) == "en" else str(self.month)
        return gettext("deadline.no-such-day" if self.year is None else "deadline.no-such-day-of-year", locale,
                       year=self.year or 0, month=self.month, day=self.day, month_name=month_name)


class TimePassed(ValueError):
    """A time of day typed with no date ("18:00", 下午6点) is read as today's; this one has passed.
    `time`: it as HH:MM."""

    def __init__(self, time: str) -> None:
        super().__init__(f"{time} today has passed")
        self.time = time

    def text(self, locale: str) -> str:
        from surveys.i18n import gettext

        return gettext("deadline.time-passed", locale, time=self.time)


class DeadlineRefused(ValueError):
    """Why a consultation's deadline cannot move to the one asked for (see `check_new_deadline`).
    `reason`: not-editable (reported: its revised list is out), ended (open, its deadline
    reached: it is being closed), closed (closed, but reopening it was not what was asked),
    not-closed (reopening was asked, but it is no longer closed), past, before-start,
    unchanged, superseded (closed, but `townships` have had a newer version of their list
    published since, through another consultation: reopening would consult an outdated list)."""

    def __init__(self, reason: str, consultation_id: int | None, status: str, opens_at: datetime | None,
                 closes_at: datetime, townships: Sequence[str] = (), new: datetime | None = None) -> None:
        super().__init__(reason)
        self.new = new  # the deadline asked for (said when it is refused as past)
        self.reason = reason
        self.consultation_id = consultation_id
        self.status = status
        self.opens_at = opens_at
        self.closes_at = closes_at
        self.townships = list(townships)

    def text(self, locale: str, tz: str) -> str:
        """The refusal as the organizer reads it (the chat and the CLI say the same)."""
        from surveys.i18n import gettext

        return gettext(f"deadline.{self.reason}", locale, id=self.consultation_id,
                       status=gettext(f"status.{self.status}", locale),
                       opens=format_local(self.opens_at, tz), closes=format_deadline(self.closes_at, tz),
                       new=format_deadline(self.new, tz),
                       townships=gettext("report.list-sep", locale).join(self.townships))


@dataclass(frozen=True)
class VersionClash:
    """A township a consultation consults on `version` of its list, consulted at the same time
    on `other_version` by the open consultation `other_id` — or, `other_id` None, whose newer
    `other_version` has been published since."""

    township: str
    version: str
    other_version: str
    other_list_id: int
    other_id: int | None = None
    other_title: str = ""


class ListConflict(ValueError):
    """A consultation cannot open (`action` open, reopen, or new: the one being created), or a
    revised list cannot be published (publish), because a township of it is consulted elsewhere
    on another version of its list — one township is consulted on one version at a time — or,
    opening, because its list has been superseded by a published newer version."""

    def __init__(self, action: str, consultation_id: int | None, clashes: Sequence[VersionClash],
                 township: str = "") -> None:
        super().__init__(action)
        self.action = action
        self.consultation_id = consultation_id
        self.clashes = list(clashes)
        self.township = township

    def text(self, locale: str, markup: bool = False) -> str:
        """The refusal as the organizer reads it; `markup`: for the chat (HTML, names escaped)."""
        import html

        from surveys.i18n import gettext

        def esc(value: str) -> str:
            return html.escape(value) if markup else value

        lines = [gettext(f"conflict.{self.action}", locale, id=self.consultation_id, township=esc(self.township))]
        for c in self.clashes:
            key = ("conflict.published" if c.other_id is None
                   else "conflict.consulted" if self.action == "publish" else "conflict.consulted-vs")
            lines.append(gettext(key, locale, township=esc(c.township), version=c.version,
                                 other_version=c.other_version, other=c.other_id, title=esc(c.other_title)))
        others = list(dict.fromkeys(f"#{c.other_id}" for c in self.clashes if c.other_id is not None))
        if others:
            many = "-many" if len(others) > 1 else ""  # "consultations #2, #3 end" (它们), not "#2, #3 ends"
            lines.append(gettext(f"conflict.{self.action}-tail{many}", locale,
                                 others=gettext("report.list-sep", locale).join(others)))
        if self.action != "new":  # (a new one's confirmation stays, to save it as a draft or cancel)
            lines.append(gettext("conflict.nothing-changed", locale))
        return "\n".join(lines)


# A deadline moves as it is while a consultation is a draft or open; a closed one's new
# deadline reopens it (CLOSED → OPEN: "征求意见时间延长至…"); a reported one is history.
DEADLINE_EDITABLE = (Status.DRAFT.value, Status.OPEN.value)
DEADLINE_REOPENS = Status.CLOSED.value


def check_deadline_editable(consultation_id: int | None, status: str, opens_at: datetime | None,
                            closes_at: datetime, now: datetime) -> None:
    """Raise DeadlineRefused unless the deadline may move at all at `now`: a draft's (even one
    whose deadline passed: it needs a new one to open), an open consultation's before it is
    reached (at its deadline the scheduler is closing it), a closed one's (it reopens with
    it) — not a reported one's (its revised list is published)."""
    if status not in (*DEADLINE_EDITABLE, DEADLINE_REOPENS):
        raise DeadlineRefused("not-editable", consultation_id, status, opens_at, closes_at)
    if status == Status.OPEN.value and closes_at <= now:
        raise DeadlineRefused("ended", consultation_id, status, opens_at, closes_at)


def check_new_deadline(consultation_id: int | None, status: str, opens_at: datetime | None, closes_at: datetime,
                       new: datetime, now: datetime, reopen: bool = False) -> None:
    """Raise DeadlineRefused unless the deadline `closes_at` may become `new` at `now`: it
    may move at all (`check_deadline_editable`), and `new` is in the future, after the start
    and not the deadline already set. `reopen` says the change asked for extends a closed
    consultation and reopens it: it must be closed then, and a closed one moves only so
    (a move confirmed while it was open does not reopen it once it closed meanwhile)."""
    def refuse(reason: str) -> DeadlineRefused:
        return DeadlineRefused(reason, consultation_id, status, opens_at, closes_at, new=new)

    check_deadline_editable(consultation_id, status, opens_at, closes_at, now)
    if status == DEADLINE_REOPENS and not reopen:
        raise refuse("closed")
    if reopen and status != DEADLINE_REOPENS:
        raise refuse("not-closed")
    if new <= now:
        raise refuse("past")
    if opens_at is not None and new <= opens_at:
        raise refuse("before-start")
    if new == closes_at:
        raise refuse("unchanged")


def check_transition(current: str, target: Status) -> Status:
    cur = Status(current)
    if target not in TRANSITIONS[cur]:
        raise TransitionError(cur, target)
    return target


class Window(StrEnum):
    NOT_YET = "not_yet"
    OPEN = "open"
    CLOSED = "closed"


def window(status: str, opens_at: datetime | None, closes_at: datetime, now: datetime) -> Window:
    """Whether answers and comments are accepted at `now`."""
    if status in (Status.CLOSED, Status.REPORTED) or now >= closes_at:
        return Window.CLOSED
    if status == Status.DRAFT or (opens_at is not None and now < opens_at):
        return Window.NOT_YET
    return Window.OPEN


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    return drop_nul(text).strip().lower()


def deep_link(bot_username: str, payload: str) -> str:
    """The t.me link that opens the bot with /start <payload>; the username as Telegram
    shows it or as typed in BOT_USERNAME ("@qingdan_bot" and "qingdan_bot" alike)."""
    return f"https://t.me/{bot_username.strip().removeprefix('@')}?start={payload}"


# A date as organizers in China write it: 2026-12-01, 2026/12/1, 2026.12.1 or 2026年12月1日
# (号 for 日), 12月1日 (the year: see `_year_for`) or 今天/明天/后天 (today/tomorrow); then optionally a time:
# 18:00, 18时, 18点30分.
_LOCAL_DATE = re.compile(r"(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})[日号])"
                         r"|(\d{1,2})月(\d{1,2})[日号]|(今天|明天|后天|today|tomorrow)", re.I)
_LOCAL_CLOCK = re.compile(r"(\d{1,2})(?:[时点](?:(\d{1,2})分)?|:(\d{2}))")
# an English organizer's time of day: 6pm, 6:30 p.m., 11 am (12am is midnight, 12pm noon)
_TWELVE_HOUR = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\.?", re.I)


def _twelve_hour(text: str) -> tuple[int, int] | None:
    """(hour, minute) on the 24-hour clock of "6pm" or "6:30 a.m."; None if it is not such a time."""
    found = _TWELVE_HOUR.fullmatch(text)
    if found is None or not 1 <= int(found[1]) <= 12:
        return None
    return int(found[1]) % 12 + (12 if found[3].lower() == "p" else 0), int(found[2] or 0)


# the part of the day before a Chinese time: 下午6点 is 18:00, 上午9点 09:00
_DAY_PART = re.compile(r"(上午|早上|中午|下午|晚上)\s*")


def _time_of_day(text: str) -> tuple[int, int] | None:
    """(hour, minute) of "18:00", 18点30分, 6pm or 下午6点 (24 for 24时); None if `text` is not
    a time of day alone."""
    part = _DAY_PART.match(text)
    rest = text[part.end():] if part else text
    if (clock := _LOCAL_CLOCK.fullmatch(rest)) is not None:
        hour, minute = int(clock[1]), int(clock[2] or clock[3] or 0)
    elif part is None and (twelve := _twelve_hour(rest)) is not None:
        hour, minute = twelve
    else:
        return None
    if part is None:
        return hour, minute
    if part[1] in ("上午", "早上"):
        return (hour, minute) if hour <= 12 else None  # 上午18点: no such time
    if part[1] == "晚上" and hour == 12:
        return 24, minute  # 晚上12点: the midnight ending the day
    if (part[1] in ("下午", "晚上") and 1 <= hour < 12) or (part[1] == "中午" and 1 <= hour < 3):
        hour += 12  # 下午6点, 中午1点
    return hour, minute
# as the bot names the zone, in Chinese or in English
_BEIJING_TIME = re.compile(r"\s*\(?(?:北京时间|beijing time)\)?$", re.I)
BEIJING = "Asia/Shanghai"
_DAYS_AHEAD = {"今天": 0, "明天": 1, "后天": 2, "today": 0, "tomorrow": 1}
# An English organizer's date: "Dec 20", "December 20, 2026", "20 Dec 2026" (the year optional,
# as in 12月20日): rewritten in the Chinese form above before it is read.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?")
_ENGLISH_DATE = re.compile(rf"(?:(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?{_MONTH}|{_MONTH}\s*(\d{{1,2}})(?:st|nd|rd|th)?)"
                           r"(?:,?\s*(\d{4}))?"
                           r"(?![\w:])\s*,?", re.I)
_NEXT_YEAR_WITHIN = timedelta(days=183)
# A day counted from today: 下周一 (下下周一: the Monday after; 上周一: last week's, refused as past), (本/这)周五, 星期日, 礼拜三; 5号/5日 (this month's, or next month's once
# past); 3天后, "in 3 days" — rewritten as 年月日 before it is read.
_RELATIVE_DAY = re.compile(r"(?:(上|本|这|下下|下)?(?:周|星期|礼拜)([一二三四五六日天])|(\d{1,2})[日号]"
                           r"|(\d{1,3})\s*天(?:之)?后|in\s+(\d{1,3})\s+days?\b)", re.I)
_WEEKDAYS = "一二三四五六日"
# An English organizer's weekday: "Friday", "next Monday" (下周一), "this Sat" — rewritten as the Chinese.
_ENGLISH_WEEKDAY = re.compile(r"(?:(next|this|last)\s+)?(mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?"
                              r"|thu(?:rs(?:day)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)\b\.?", re.I)


def _relative_day(found: re.Match[str], today: date) -> date:
    """The day `found` (a _RELATIVE_DAY match) names, seen from `today`. A week starts on Monday:
    下周一 is next week's Monday, 本周五 this week's Friday (past or not), 周五 the next Friday
    from today on (today's, if it is one)."""
    if found[2]:
        weekday = _WEEKDAYS.index(found[2].replace("天", "日"))
        monday = today - timedelta(days=today.weekday())
        if found[1] in ("上", "下", "下下"):
            return monday + timedelta(days={"上": -7, "下": 7, "下下": 14}[found[1]] + weekday)
        if found[1]:
            return monday + timedelta(days=weekday)
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    if found[3]:
        day_of_month = int(found[3])
        month_start = today.replace(day=1)
        for start in (month_start, (month_start + timedelta(days=32)).replace(day=1)):
            try:
                day = date(start.year, start.month, day_of_month)
            except ValueError:
                raise NoSuchDay(None, start.month, day_of_month) from None
            if day >= today:
                return day
    return today + timedelta(days=int(found[4] or found[5]))


def _year_for(month: int, day: int, today: date) -> date:
    """12月1日 typed `today`: this year's, or next year's when this year's has passed and next
    year's is near (1月5日 typed in December) — a day just past stays this year's, and is
    refused as past rather than taken as a deadline a year away."""
    try:
        this = date(today.year, month, day)
    except ValueError:  # 2月29日 typed in a year without one: next year's, if it has one and is near
        try:
            following = date(today.year + 1, month, day)
        except ValueError:
            raise NoSuchDay(None, month, day) from None
        if following - today <= _NEXT_YEAR_WITHIN:
            return following
        raise NoSuchDay(None, month, day) from None
    if this >= today:
        return this
    try:
        following = date(today.year + 1, month, day)
    except ValueError:  # 2月29日 of a leap year
        return this
    return following if following - today <= _NEXT_YEAR_WITHIN else this


def parse_local(text: str, tz: str, end_of_day: bool = False, now: datetime | None = None) -> datetime:
    """"2026-12-10 18:00" (or ISO with an offset) in the consultation's time zone; also
    2026/12/10, 2026.12.10 and 2026年12月10日 18时30分, with the full-width digits and colon of
    a Chinese input method, and — given `now` — 12月10日 and 今天/明天/后天 (an English organizer's
    Dec 10, 10 December 2026, today and tomorrow too), read against
    today's date in that zone; a time alone ("18:00", 下午6点) is today's, refused as TimePassed once
    past; one ending "（北京时间）" or "(Beijing time)" (as the bot names China's zone) is read
    in that zone. A date alone is its start, or with `end_of_day` (a deadline: "截止 12 月 10
    日" means through that day) its last minute, 23:59. ValueError otherwise."""
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if (beijing := _BEIJING_TIME.search(text)) is not None:  # as the bot names the zone: copied back
        text, tz = text[:beijing.start()], BEIJING
    if (english := _ENGLISH_DATE.match(text)) is not None:
        day_of_month, month = english[1] or english[4], _MONTHS.index((english[2] or english[3])[:3].lower()) + 1
        year = f"{english[5]}年" if english[5] else ""
        text = f"{year}{month}月{int(day_of_month)}日 {text[english.end():].strip()}".strip()
    if (weekday := _ENGLISH_WEEKDAY.match(text)) is not None:
        which = {"next": "下", "this": "本", "last": "上", None: ""}[weekday[1] and weekday[1].lower()]
        day_name = _WEEKDAYS[("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(weekday[2][:3].lower())]
        text = f"{which}周{day_name} {text[weekday.end():].strip()}".strip()
    if (now is not None and _LOCAL_DATE.match(text) is None and _RELATIVE_DAY.match(text) is None
            and _time_of_day(text) is not None):  # a time alone: today's, if it is still ahead
        today = now.astimezone(ZoneInfo(tz)).date()
        value = parse_local(f"{today.year}年{today.month}月{today.day}日 {text}", tz, end_of_day, now)
        if value <= now:
            raise TimePassed(format_local(value, tz)[-5:])
        return value
    if _LOCAL_DATE.match(text) is None and (relative := _RELATIVE_DAY.match(text)) is not None:
        if now is None:
            raise ValueError("a day counted from today needs today's")
        day = _relative_day(relative, now.astimezone(ZoneInfo(tz)).date())
        text = f"{day.year}年{day.month}月{day.day}日 {text[relative.end():].strip()}".strip()
    if (found := _LOCAL_DATE.match(text)) is not None:  # written by hand: rewritten as ISO
        if found[1] is not None:
            year, month, day_of_month = int(found[1]), int(found[2] or found[4]), int(found[3] or found[5])
            try:
                day = date(year, month, day_of_month)
            except ValueError:
                raise NoSuchDay(year, month, day_of_month) from None
        elif now is None:
            raise ValueError("a date without a year needs today's")
        else:
            today = now.astimezone(ZoneInfo(tz)).date()
            day = _year_for(int(found[6]), int(found[7]), today) if found[6] \
                else today + timedelta(days=_DAYS_AHEAD[found[8].lower()])
        rest = text[found.end():].strip()
        clock = _time_of_day(rest) if rest else None
        if clock == (24, 0):
            day, rest = day + timedelta(days=1), " 00:00"  # 12月5日24时: the midnight ending the 5th
        elif clock is not None:
            rest = f" {clock[0]:02d}:{clock[1]:02d}"
        else:  # seconds, an offset: as ISO reads them
            rest = text[found.end():] if found[1] is not None else (" " + rest if rest else "")
        text = day.isoformat() + rest
    value = datetime.fromisoformat(text)
    if end_of_day and len(text) <= 10:  # a date, no time
        value = value.replace(hour=23, minute=59)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value


def format_local(value: datetime | None, tz: str) -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def format_deadline(value: datetime | None, tz: str) -> str:
    """A deadline (an end) as format_local writes it, except one at midnight: as 24:00 of the day
    it ends ("2026-12-05 24:00", as notices write 12月5日24时), not "2026-12-06 00:00", which reads as
    though the 6th were still open. parse_local reads it back as the same instant."""
    if value is not None and (local := value.astimezone(ZoneInfo(tz))).time() == time(0):
        return f"{(local - timedelta(days=1)).strftime('%Y-%m-%d')} 24:00"
    return format_local(value, tz)


def deadline_weekday(value: datetime, tz: str, locale: str) -> str:
    """The weekday of the day a deadline ends, as format_deadline writes that day (星期一, or Monday
    in English): how an organizer checks what 下周一 became. Shown where a deadline is confirmed."""
    from babel.dates import format_date

    from surveys.i18n import normalize_locale

    day = value.astimezone(ZoneInfo(tz))
    if day.time() == time(0):  # 24:00 of the day before
        day -= timedelta(days=1)
    return format_date(day.date(), "EEEE", locale="en" if normalize_locale(locale) == "en" else "zh_CN")


def example_deadline(now: datetime, tz: str) -> str:
    """A deadline to show as an example of the format: two weeks from `now`, 18:00 local (a
    fixed date in a prompt would soon be in the past)."""
    return (now.astimezone(ZoneInfo(tz)) + timedelta(days=14)).strftime("%Y-%m-%d 18:00")


def bad_date_examples(now: datetime, tz: str, locale: str) -> dict[str, str]:
    """The concrete examples an "unrecognised date" message names, on example_deadline's day:
    `example` ("2026-12-15 18:00") and `monthday`, the day alone as the organizer writes it
    (12月15日, or Dec 15 in English); the message adds the relative forms (下周一, 3天后…)."""
    from babel.dates import format_skeleton

    from surveys.i18n import normalize_locale

    example = example_deadline(now, tz)
    day = datetime.strptime(example, "%Y-%m-%d %H:%M")
    english = normalize_locale(locale) == "en"
    return {"example": example, "monthday": format_skeleton("MMMd", day, locale="en" if english else "zh_CN")}


@dataclass
class FollowUp:
    """Per-consultation reminder and digest settings (stored as JSON on the consultation)."""

    reminder_offsets_hours: list[int] = field(default_factory=lambda: [72, 24])
    nudge_after_hours: int = 24
    max_reminders: int = 3
    min_gap_hours: int = 12
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    digest_hour: int | None = 9  # local time; None: no daily digest (the organizers stopped it)

    @classmethod
    def from_dict(cls, data: dict | None) -> FollowUp:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)

    def quiet(self, local: datetime) -> bool:
        start, end = time.fromisoformat(self.quiet_start), time.fromisoformat(self.quiet_end)
        t = local.timetz().replace(tzinfo=None)
        return (start <= t or t < end) if start > end else (start <= t < end)

    def next_allowed(self, local: datetime) -> datetime:
        """`local` itself, or the end of the quiet hours it falls in."""
        if not self.quiet(local):
            return local
        end = time.fromisoformat(self.quiet_end)
        candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate


DIGEST_OFF = frozenset({"off", "stop", "no", "关", "关闭", "停", "停止", "停发", "不发", "取消"})
DIGEST_ON = frozenset({"on", "开", "开启", "打开", "恢复"})
_DIGEST_HOUR = re.compile(r"(\d{1,2})(?::00|点|时)?(?:整|钟)?")


def is_digest_setting(text: str) -> bool:
    """Whether `text` reads as what parse_digest_hour takes ("关闭", "开启", "18点", "18" …), valid
    or not in the quiet hours: `/digest 关闭` with no consultation named means the setting."""
    value = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    return value in DIGEST_OFF or value in DIGEST_ON or _DIGEST_HOUR.fullmatch(value) is not None


def parse_digest_hour(text: str, settings: FollowUp) -> int | None:
    """The daily digest's new hour (local time, 24-hour clock) as an organizer typed it: "18",
    "18:00", "18点", "18时", "6pm"; None for "关闭"/"off" (no digest); "开启"/"on" brings back the default
    hour. ValueError when it cannot be read, or falls in the quiet hours of `settings` (it would
    never be sent)."""
    value = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    if value in DIGEST_OFF:
        return None
    if value in DIGEST_ON:
        return FollowUp().digest_hour
    found = _DIGEST_HOUR.fullmatch(value)
    twelve = _twelve_hour(value) if found is None else None
    if twelve is not None and twelve[1] == 0:  # "6pm"
        hour = twelve[0]
    elif found is None or not 0 <= int(found[1]) <= 23:
        raise ValueError(text)
    else:
        hour = int(found[1])
    if settings.quiet(datetime(2000, 1, 1, hour)):
        raise ValueError(text)
    return hour


def ended_at(closes_at: datetime, closed_at: datetime | None) -> datetime:
    """When a consultation stopped taking answers: its deadline, or an earlier close."""
    return closed_at if closed_at is not None and closed_at < closes_at else closes_at
