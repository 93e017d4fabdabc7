"""Who gets which reminder, and when: the pure selection behind the scheduler's
reminder job (bot.scheduler). No clock of its own, no database: the caller passes
`now`, the people's states and what was already sent.

The rules (settings: surveys.consultation.FollowUp, stored on the consultation):

* Nothing is sent unless the consultation's window is open at `now`, nor during the
  quiet hours (default 21:00–08:00 in the consultation's time zone). A reminder that
  fell into the quiet hours or into a scheduler downtime is simply due at the next
  run outside them — if it is still useful (see "stages").
* Residents are reminded only when they started the questionnaire and have not
  finished it; cadres of the consulted townships while the comment window is open.
  Inactive people (they blocked the bot) and people who deleted their data (no
  state at all) get nothing.
* Deadline stages: with offsets [72, 24] the 72 h stage runs from 72 h before the
  deadline to 24 h before it, then the 24 h stage until the deadline. A person gets
  the reminder of the *current* stage once; a stage missed entirely (downtime,
  quiet hours, the person started later) is not sent late — the next stage's
  reminder replaces it. A resident who touched the questionnaire after the stage
  began, or within the last `MIN_IDLE`, is not reminded (they are at it).
* Nudge (residents only): once, `nudge_after_hours` after their last answer.
* A moved deadline (an extension, a closed consultation reopened): a deadline reminder
  the person already had is armed again for the new deadline only when the new deadline
  is later than the deadline of their latest reminder of that kind by at least the
  kind's lead time (72 h for ``deadline-72``; see `armed`). An extension by days brings
  the 72 h and 24 h reminders once more; an hour later, or earlier, brings nothing
  twice (and `min_gap_hours` still keeps any two reminders apart). The nudge is not
  about the deadline and stays once per consultation.
* A resident or cadre thanked at a close (the consultation has ended) whose consultation was
  then extended and reopened is told so by the first reminder after it (bot.scheduler).
* At most one reminder per person per run, at most `max_reminders` per person and
  deadline (the nudge, and the deadline reminders not armed again, count), and at
  least `min_gap_hours` between two of them.

Kinds are short strings: ``nudge``, ``deadline-<h>`` (residents), ``cadre-<h>``
(cadres); the sender records each under the key ``remind:<consultation>:<kind>``,
a deadline kind with the deadline it was for (``…:deadline-24@20261211T020000Z``,
storage.followup.remind_key), which makes every (person, kind, deadline) at most once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from surveys.consultation import FollowUp, Window, window

NUDGE = "nudge"
RESIDENT, CADRE = "resident", "cadre"
MIN_IDLE = timedelta(hours=1)  # a resident active this recently is not reminded


@dataclass(frozen=True, slots=True)
class Timing:
    """What of the consultation the selection needs."""

    consultation_id: int
    status: str
    opens_at: datetime | None
    closes_at: datetime
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class PersonState:
    """One candidate: a resident with their response's times, or a cadre."""

    person_id: int
    role: str  # resident or cadre
    started_at: datetime | None = None
    last_activity: datetime | None = None  # the response's updated_at
    completed_at: datetime | None = None
    active: bool = True
    township_id: int | None = None
    language: str = ""


@dataclass(frozen=True, slots=True)
class SentReminder:
    """A reminder sent (or possibly sent): its kind, when it was queued, and for a
    deadline kind the deadline it was for (None for a nudge, and for a reminder recorded
    before keys held it — see `for_deadline`)."""

    kind: str
    at: datetime
    deadline: datetime | None = None


class Due(NamedTuple):
    person_id: int
    kind: str


def deadline_kind(role: str, hours: int) -> str:
    return f"{CADRE if role == CADRE else 'deadline'}-{hours}"


def kind_hours(kind: str) -> int | None:
    """The offset of a deadline/cadre kind (``deadline-24`` → 24), None for a nudge."""
    head, _, tail = kind.rpartition("-")
    return int(tail) if head in ("deadline", CADRE) and tail.isdecimal() else None


def for_deadline(s: SentReminder) -> datetime | None:
    """The deadline a deadline reminder was for. One recorded without it (keys before
    deadlines were moved) went out within its lead time of the deadline, so its deadline
    was at most `at` + the lead time: that latest one is taken, which never arms a
    reminder again too early."""
    hours = kind_hours(s.kind)
    if hours is None:
        return None
    return s.deadline if s.deadline is not None else s.at + timedelta(hours=hours)


def armed(kind: str, closes_at: datetime, sent: Sequence[SentReminder]) -> bool:
    """Whether a reminder of `kind` may go out for the deadline `closes_at`: never sent,
    or — a deadline kind — its latest one was for a deadline earlier than `closes_at` by
    at least the kind's lead time (so a small move never brings the same reminder twice)."""
    hours = kind_hours(kind)
    before = [s for s in sent if s.kind == kind]
    if not before:
        return True
    if hours is None:
        return False
    latest = max(d for s in before if (d := for_deadline(s)) is not None)
    return closes_at - latest >= timedelta(hours=hours)


def counts(s: SentReminder, closes_at: datetime) -> bool:
    """Whether a sent reminder counts against `max_reminders` for the deadline
    `closes_at`: the nudge always, a deadline reminder unless its kind is armed again."""
    return not (kind_hours(s.kind) is not None and armed(s.kind, closes_at, [s]))


def current_stage(now: datetime, closes_at: datetime, offsets: Sequence[int]) -> int | None:
    """The smallest offset whose time has come (None before the first one, or after the deadline)."""
    if now >= closes_at:
        return None
    passed = [h for h in offsets if h > 0 and now >= closes_at - timedelta(hours=h)]
    return min(passed) if passed else None


def is_quiet(now: datetime, settings: FollowUp, tz: str) -> bool:
    return settings.quiet(now.astimezone(ZoneInfo(tz)))


def due_reminders(
    now: datetime,
    consultation: Timing,
    people_states: Iterable[PersonState],
    sent_log: Mapping[int, Sequence[SentReminder]],
    settings: FollowUp,
) -> list[Due]:
    """The reminders to send at `now`: (person_id, kind) pairs, at most one per person,
    in the order the people were given."""
    c = consultation
    if window(c.status, c.opens_at, c.closes_at, now) != Window.OPEN or is_quiet(now, settings, c.timezone):
        return []
    stage = current_stage(now, c.closes_at, settings.reminder_offsets_hours)
    gap = timedelta(hours=settings.min_gap_hours)
    nudge_after = timedelta(hours=settings.nudge_after_hours)
    out: list[Due] = []
    seen: set[int] = set()
    for p in people_states:
        if p.person_id in seen or not p.active:
            continue
        seen.add(p.person_id)
        sent = sent_log.get(p.person_id, ())
        if sum(counts(s, c.closes_at) for s in sent) >= settings.max_reminders:
            continue
        if sent and now - max(s.at for s in sent) < gap:
            continue
        if p.role == CADRE:
            if stage is not None and armed(kind := deadline_kind(CADRE, stage), c.closes_at, sent):
                out.append(Due(p.person_id, kind))
            continue
        if p.role != RESIDENT or p.started_at is None or p.completed_at is not None:
            continue
        last = max(p.started_at, p.last_activity or p.started_at)
        if now - last < MIN_IDLE:
            continue
        if stage is not None and armed(kind := deadline_kind(RESIDENT, stage), c.closes_at, sent) \
                and last < c.closes_at - timedelta(hours=stage):
            out.append(Due(p.person_id, kind))
        elif armed(NUDGE, c.closes_at, sent) and now - last >= nudge_after:
            out.append(Due(p.person_id, NUDGE))
    return out


def group_by_kind(due: Iterable[Due]) -> dict[str, list[int]]:
    """kind → person ids, for one broadcast per kind."""
    groups: dict[str, list[int]] = {}
    for d in due:
        groups.setdefault(d.kind, []).append(d.person_id)
    return groups


_TICK = timedelta(minutes=15)  # the reminder job runs every ten minutes: a stage's reminder goes this late


def time_left(closes_at: datetime, now: datetime) -> tuple[int, str]:
    """How long until the deadline, for a reminder's wording, never said as less than it is:
    (n, "days") or (n, "hours") when it is within a quarter of an hour of n whole days (from two
    on) or hours (from two on) — the job runs every ten minutes, so the 72-hour reminder goes at
    71 h 50 min and says three days; else (n, "under-days") from a day on, (n, "under-hours")
    below, n rounded up: "还有不到 3 天" at 71 h, "不到 16 小时", "不到 1 小时"."""
    left = max(timedelta(0), closes_at - now)
    day, hour = timedelta(days=1), timedelta(hours=1)
    if (days := round(left / day)) >= 2 and abs(left - days * day) <= _TICK:
        return days, "days"
    if left > day + _TICK:
        return math.ceil(left / day), "under-days"
    if (hours := round(left / hour)) >= 2 and abs(left - hours * hour) <= _TICK:
        return hours, "hours"
    return max(1, math.ceil(left / hour)), "under-hours"
