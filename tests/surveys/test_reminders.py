"""Reminder selection (surveys.reminders): who gets which reminder when — stages,
nudges, quiet hours, caps and gaps, people who finished or left — with an injected
clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from surveys.consultation import FollowUp
from surveys.reminders import (
    CADRE,
    NUDGE,
    RESIDENT,
    Due,
    PersonState,
    SentReminder,
    Timing,
    armed,
    counts,
    current_stage,
    due_reminders,
    group_by_kind,
    time_left,
)

TZ = "Asia/Shanghai"  # UTC+8
CLOSES = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)  # 18:00 local: before(h) is 18:00 - h local,
# so before(23) is 19:00 but before(20) is 22:00 — in the default quiet hours
OPENS = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
T = Timing(7, "open", OPENS, CLOSES, TZ)
S = FollowUp()


def before(hours: float) -> datetime:
    return CLOSES - timedelta(hours=hours)


def resident(pid: int, started: datetime, last: datetime | None = None, completed: datetime | None = None,
             active: bool = True) -> PersonState:
    return PersonState(pid, RESIDENT, started, last or started, completed, active, township_id=1)


def cadre(pid: int, active: bool = True) -> PersonState:
    return PersonState(pid, CADRE, active=active, township_id=1)


def sent(*items: tuple[str, datetime]) -> list[SentReminder]:
    return [SentReminder(k, at) for k, at in items]


def due(now: datetime, people: list[PersonState], log: dict | None = None, settings: FollowUp = S,
        timing: Timing = T) -> list[Due]:
    return due_reminders(now, timing, people, log or {}, settings)


def test_stages_follow_the_offsets() -> None:
    assert current_stage(before(100), CLOSES, [72, 24]) is None
    assert current_stage(before(72), CLOSES, [72, 24]) == 72
    assert current_stage(before(30), CLOSES, [72, 24]) == 72
    assert current_stage(before(24), CLOSES, [72, 24]) == 24
    assert current_stage(before(0.1), CLOSES, [24, 72]) == 24
    assert current_stage(CLOSES, CLOSES, [72, 24]) is None


def test_resident_gets_the_72h_then_the_24h_reminder() -> None:
    p = resident(1, started=before(200))
    assert due(before(82), [p]) == [Due(1, NUDGE)]  # idle since long before: the nudge first
    log = {1: sent((NUDGE, before(82)))}
    assert due(before(71), [p], log) == []  # 11 h after the nudge: the 12 h gap holds it back
    assert due(before(70), [p], log) == [Due(1, "deadline-72")]
    log[1] += sent(("deadline-72", before(70)))
    assert due(before(30), [p], log) == []  # stage 72 done, 24 not yet
    assert due(before(23), [p], log) == [Due(1, "deadline-24")]


def test_a_finished_resident_gets_nothing() -> None:
    done = resident(1, started=before(200), completed=before(100))
    assert due(before(23), [done]) == []


def test_someone_who_finished_in_between_drops_out() -> None:
    p = resident(1, started=before(200))
    assert due(before(71), [p]) == [Due(1, "deadline-72")]
    finished = resident(1, started=before(200), completed=before(60))
    assert due(before(23), [finished], {1: sent(("deadline-72", before(71)))}) == []


def test_missed_stage_is_replaced_not_sent_late() -> None:
    p = resident(1, started=before(200))
    # the scheduler was down through the whole 72 h stage: only the 24 h reminder goes
    assert due(before(23), [p]) == [Due(1, "deadline-24")]


def test_active_since_the_stage_began_or_very_recently_is_not_reminded() -> None:
    busy = resident(1, started=before(200), last=before(70))
    assert due(before(58), [busy]) == []  # active in the stage: they know
    recent = resident(2, started=before(58.5))
    assert due(before(58), [recent]) == []  # started half an hour ago: still at it
    idle = resident(3, started=before(80))
    assert due(before(58), [idle]) == [Due(3, "deadline-72")]


def test_nudge_after_hours_since_the_last_answer_once() -> None:
    p = resident(1, started=before(200), last=before(150))
    assert due(before(127), [p]) == []  # 23 h idle
    assert due(before(126), [p]) == [Due(1, NUDGE)]  # 24 h idle
    assert due(before(100), [p], {1: sent((NUDGE, before(126)))}) == []


def test_quiet_hours_send_nothing_then_the_reminder_comes_in_the_morning() -> None:
    p = resident(1, started=before(200))
    night = datetime(2026, 12, 9, 14, 0, tzinfo=UTC)  # 22:00 local, 44 h before the deadline
    assert due(night, [p]) == []
    assert due(datetime(2026, 12, 9, 23, 59, tzinfo=UTC), [p]) == []  # 07:59 local
    morning = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)  # 08:00 local
    assert due(morning, [p]) == [Due(1, "deadline-72")]


def test_custom_quiet_hours_within_one_day() -> None:
    settings = FollowUp(quiet_start="12:00", quiet_end="14:00")
    p = resident(1, started=before(200))
    assert due(datetime(2026, 12, 9, 4, 30, tzinfo=UTC), [p], settings=settings) == []  # 12:30 local
    assert due(datetime(2026, 12, 9, 6, 0, tzinfo=UTC), [p], settings=settings) == [Due(1, "deadline-72")]


def test_cap_and_gap() -> None:
    p = resident(1, started=before(300))
    capped = FollowUp(max_reminders=1)
    assert due(before(23), [p], {1: sent((NUDGE, before(100)))}, settings=capped) == []
    gap = FollowUp(min_gap_hours=12)
    log = {1: sent(("deadline-72", before(35)))}
    assert due(before(24), [p], log, settings=gap) == []  # 11 h since the last one
    assert due(before(23), [p], log, settings=gap) == [Due(1, "deadline-24")]


def test_inactive_and_deleted_people_get_nothing() -> None:
    blocked = resident(1, started=before(200), active=False)
    assert due(before(23), [blocked, cadre(5, active=False)]) == []
    # someone who deleted their data has no state at all; an old log entry changes nothing
    assert due(before(23), [], {9: sent((NUDGE, before(100)))}) == []


def test_cadres_get_the_window_reminders_not_nudges() -> None:
    c = cadre(5)
    assert due(before(100), [c]) == []
    assert due(before(71), [c]) == [Due(5, "cadre-72")]
    log = {5: sent(("cadre-72", before(71)))}
    assert due(before(60), [c], log) == []
    assert due(before(23), [c], log) == [Due(5, "cadre-24")]


def test_nothing_outside_the_open_window() -> None:
    p = resident(1, started=before(200))
    assert due(CLOSES + timedelta(minutes=1), [p]) == []
    assert due(before(23), [p], timing=Timing(7, "closed", OPENS, CLOSES, TZ)) == []
    assert due(before(23), [p], timing=Timing(7, "draft", OPENS, CLOSES, TZ)) == []


def test_one_per_person_and_grouping() -> None:
    people = [resident(1, started=before(200)), resident(2, started=before(200)), cadre(5), cadre(5)]
    result = due(before(23), people)
    assert result == [Due(1, "deadline-24"), Due(2, "deadline-24"), Due(5, "cadre-24")]
    assert group_by_kind(result) == {"deadline-24": [1, 2], "cadre-24": [5]}


def test_time_left_wording_units() -> None:
    assert time_left(CLOSES, before(72)) == (3, "days")
    assert time_left(CLOSES, before(71 + 50 / 60)) == (3, "days")  # the job ran ten minutes after the stage
    assert time_left(CLOSES, before(23 + 50 / 60)) == (24, "hours")
    assert time_left(CLOSES, before(48)) == (2, "days")


def test_time_left_is_never_said_as_less_than_it_is() -> None:
    """A 72-hour reminder sent an hour late (a downtime, the quiet hours) said "还有 2 天", with two
    days and 23 hours left: the time is rounded down only when it is within the job's tick of a
    whole day or hour, else said as "不到 N 天/小时" (less than N), N rounded up."""
    assert time_left(CLOSES, before(71)) == (3, "under-days")
    assert time_left(CLOSES, before(47.5)) == (2, "under-days")
    assert time_left(CLOSES, before(30)) == (2, "under-days")
    assert time_left(CLOSES, before(15.5)) == (16, "under-hours")
    assert time_left(CLOSES, before(0.2)) == (1, "under-hours")
    assert time_left(CLOSES, before(0)) == (1, "under-hours")


def test_a_deadline_given_as_a_date_alone_is_the_end_of_that_day() -> None:
    from surveys.consultation import format_local, parse_local

    tz = "Asia/Shanghai"
    assert format_local(parse_local("2026-12-10", tz, end_of_day=True), tz) == "2026-12-10 23:59"
    assert format_local(parse_local("2026/12/10", tz, end_of_day=True), tz) == "2026-12-10 23:59"
    assert format_local(parse_local("2026-12-10 18:00", tz, end_of_day=True), tz) == "2026-12-10 18:00"
    assert format_local(parse_local("2026-12-10", tz), tz) == "2026-12-10 00:00"  # a start: the day's beginning


def test_a_deadline_reminder_is_armed_again_only_for_a_deadline_later_by_its_lead_time() -> None:
    had = [SentReminder("deadline-24", before(20), CLOSES), SentReminder(NUDGE, before(40))]
    assert not armed("deadline-24", CLOSES, had)
    assert not armed("deadline-24", CLOSES + timedelta(hours=1), had)  # an hour later
    assert not armed("deadline-24", CLOSES - timedelta(days=1), had)  # earlier
    assert armed("deadline-24", CLOSES + timedelta(hours=24), had)
    assert armed("deadline-72", CLOSES + timedelta(hours=1), had)  # never had that one
    assert not armed("deadline-72", CLOSES + timedelta(hours=71), [SentReminder("deadline-72", before(70), CLOSES)])
    assert not armed(NUDGE, CLOSES + timedelta(days=30), had)  # the nudge stays once
    # the latest of several counts; one re-armed no longer counts against max_reminders
    again = [*had, SentReminder("deadline-24", CLOSES + timedelta(hours=4), CLOSES + timedelta(hours=24))]
    assert not armed("deadline-24", CLOSES + timedelta(hours=30), again)
    assert [counts(r, CLOSES + timedelta(hours=24)) for r in again] == [False, True, True]


def test_a_reminder_recorded_without_its_deadline_is_taken_as_for_the_latest_it_can_have_been_for() -> None:
    legacy = [SentReminder("deadline-24", before(20))]  # for a deadline at most 4 h after CLOSES
    assert not armed("deadline-24", CLOSES, legacy)
    assert not armed("deadline-24", CLOSES + timedelta(hours=27), legacy)
    assert armed("deadline-24", CLOSES + timedelta(hours=28), legacy)
    moved = Timing(7, "open", OPENS, CLOSES + timedelta(hours=2), TZ)
    assert due(before(8), [resident(1, before(100))], {1: legacy}, timing=moved) == [Due(1, NUDGE)]


def test_a_deadline_is_read_as_organizers_in_china_write_it() -> None:
    """Slash or dot dates without leading zeros, the Chinese 年月日 form with 时/点/分, and what a
    Chinese input method types (full-width digits and colon, extra spaces) all read the same
    deadline, in the configured zone; a wrong day or hour stays refused."""
    import pytest

    from surveys.consultation import format_local, parse_local

    tz = "Asia/Shanghai"
    for text, shown in [("2026/12/1", "2026-12-01 23:59"), ("2026-12-1 18:00", "2026-12-01 18:00"),
                        ("2026.12.1 9:30", "2026-12-01 09:30"), ("2026年12月1日", "2026-12-01 23:59"),
                        ("2026年12月1日 18:00", "2026-12-01 18:00"), ("2026年12月1日18时", "2026-12-01 18:00"),
                        ("2026年12月1号18点30分", "2026-12-01 18:30"), ("2026年12月1日18时30分", "2026-12-01 18:30"),
                        ("2026-12-01 18：00", "2026-12-01 18:00"), ("２０２６－１２－０１　１８：００", "2026-12-01 18:00"),
                        (" 2026-12-01   18:00 ", "2026-12-01 18:00")]:
        assert format_local(parse_local(text, tz, end_of_day=True), tz) == shown, text
    assert parse_local("2026-12-01T18:00+00:00", tz) == parse_local("2026-12-02 02:00", tz)  # an offset is kept
    assert format_local(parse_local("2026年12月1日", tz), tz) == "2026-12-01 00:00"  # a start: the day's beginning
    for bad in ("2026/2/30", "2026年12月1日25时", "2026-12-01 18:60", "12月1日18时", "明天", "2026年12月"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True)


def test_a_deadline_at_midnight_is_read_and_written_as_24_00_of_its_last_day() -> None:
    """"12月5日24时" (as official notices write a deadline) was refused as a wrong hour, and a
    deadline at midnight was written "2026-12-06 00:00", which reads as though the 6th were still
    open. 24:00 of a day is read as the midnight ending it, and a deadline then is written so."""
    import pytest

    from surveys.consultation import format_deadline, format_local, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    midnight = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # 2026-12-06 00:00 local
    for text in ("12月5日24时", "12月5日 24:00", "2026-12-05 24:00", "2026年12月5日24点", "Dec 5 24:00"):
        assert parse_local(text, tz, end_of_day=True, now=now) == midnight, text
    assert parse_local("2026-12-06 00:00", tz) == midnight  # the same instant, written the other way
    assert format_deadline(midnight, tz) == "2026-12-05 24:00"
    assert parse_local(format_deadline(midnight, tz), tz) == midnight  # copied back, it reads the same
    assert format_local(midnight, tz) == "2026-12-06 00:00"  # a start (opens) stays the day's beginning
    assert format_deadline(datetime(2026, 12, 5, 10, 0, tzinfo=UTC), tz) == "2026-12-05 18:00"
    for bad in ("12月5日 24:30", "12月5日25时", "2026-12-05 24:01"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)


def test_a_day_that_does_not_exist_is_refused_as_such_not_as_a_wrong_format() -> None:
    """"2月30日" was answered 日期格式不对 with examples of the very form typed; a day that does
    not exist is refused naming it, in the organizer's language."""
    import pytest

    from surveys.consultation import NoSuchDay, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    for text, zh, en in [("2月30日", "没有2月30日这一天", "There is no February 30"),
                         ("2026-02-29 18:00", "没有2026年2月29日这一天", "There is no February 29, 2026"),
                         ("Feb 30", "没有2月30日这一天", "There is no February 30"),
                         ("2026年13月1日", "没有13月", "There is no month 13")]:
        with pytest.raises(NoSuchDay) as refused:
            parse_local(text, tz, end_of_day=True, now=now)
        assert zh in refused.value.text("zh_CN"), text
        assert en in refused.value.text("en"), text
    assert parse_local("2月29日", tz, end_of_day=True, now=datetime(2027, 12, 1, tzinfo=UTC)).year == 2028  # a leap year's


def test_a_deadline_as_a_weekday_a_day_of_the_month_or_days_from_now_is_read_from_today() -> None:
    """下周一, 周五, 5号, 3天后 and "in 3 days" were refused as 日期格式不对; they are read against
    today's date in the configured zone (Friday 2026-11-27 there), a time after them as with 明天."""
    import pytest

    from surveys.consultation import NoSuchDay, format_local, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 10:00 in Beijing
    for text, shown in [("下周一", "2026-11-30 23:59"), ("下周五 18:00", "2026-12-04 18:00"),
                        ("下星期三", "2026-12-02 23:59"), ("周五", "2026-11-27 23:59"), ("星期日18点", "2026-11-29 18:00"),
                        ("本周六", "2026-11-28 23:59"), ("这周日", "2026-11-29 23:59"), ("周一", "2026-11-30 23:59"),
                        ("5号", "2026-12-05 23:59"), ("28日 18:00", "2026-11-28 18:00"), ("27号18时", "2026-11-27 18:00"),
                        ("3天后", "2026-11-30 23:59"), ("in 3 days", "2026-11-30 23:59"), ("in 1 day 6pm", "2026-11-28 18:00")]:
        assert format_local(parse_local(text, tz, end_of_day=True, now=now), tz) == shown, text
    with pytest.raises(NoSuchDay):  # 31号 typed in November: December's is not what it says
        parse_local("31号", tz, end_of_day=True, now=datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    for bad in ("周八", "过几天"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)
    with pytest.raises(ValueError):  # no today to count from
        parse_local("下周一", tz, end_of_day=True)


def test_a_deadline_without_a_year_or_as_tomorrow_is_read_from_today_in_the_configured_zone() -> None:
    """12月1日 and 明天 are read against today's date where the organizer is (TIMEZONE), not the
    server's UTC date; a month and day already past this year mean next year's only when that
    is near (the turn of the year), else they stay this year's — and are refused as past."""
    import pytest

    from surveys.consultation import format_local, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # already 2026-11-28 01:00 in Beijing
    for text, shown in [("12月1日", "2026-12-01 23:59"), ("12月1日18时", "2026-12-01 18:00"),
                        ("12月1号 18:30", "2026-12-01 18:30"), ("1月5日", "2027-01-05 23:59"),
                        ("今天", "2026-11-28 23:59"), ("明天", "2026-11-29 23:59"), ("明天18点", "2026-11-29 18:00"),
                        ("后天 9:00", "2026-11-30 09:00"), ("11月28日", "2026-11-28 23:59")]:
        assert format_local(parse_local(text, tz, end_of_day=True, now=now), tz) == shown, text
    assert parse_local("11月20日", tz, end_of_day=True, now=now) < now  # a slip: past, not a year ahead
    assert format_local(parse_local("明天", tz, now=now), tz) == "2026-11-29 00:00"  # a start
    for bad in ("2月30日", "13月1日", "大后天"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)
    with pytest.raises(ValueError):  # no today to read it against
        parse_local("12月1日", tz, end_of_day=True)


def test_a_deadline_copied_with_the_zone_the_bot_names_is_read_in_beijing_time() -> None:
    """The bot confirms "2026-12-20 18:00（北京时间）": typed back so, it is read as Beijing time
    whatever TIMEZONE is; another zone's name stays refused."""
    import pytest

    from surveys.consultation import parse_local

    for tz in ("Asia/Shanghai", "UTC"):
        for text in ("2026-12-20 18:00（北京时间）", "2026-12-20 18:00 北京时间", "2026年12月20日18时(北京时间)"):
            assert parse_local(text, tz, end_of_day=True) == datetime(2026, 12, 20, 10, 0, tzinfo=UTC), (tz, text)
    assert parse_local("2026-12-20（北京时间）", "UTC", end_of_day=True) == datetime(2026, 12, 20, 15, 59, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_local("2026-12-20 18:00（东京时间）", "Asia/Shanghai", end_of_day=True)


def test_a_deadline_copied_with_the_zone_named_in_english_is_read_in_beijing_time() -> None:
    """To an English organizer the bot names the zone "(Beijing time)": typed back so, it is
    read as Beijing time too, as "（北京时间）" is."""
    from surveys.consultation import parse_local

    for tz in ("Asia/Shanghai", "UTC"):
        for text in ("2026-12-20 18:00 (Beijing time)", "2026-12-20 18:00 (beijing time)", "2026/12/20 18:00 Beijing Time"):
            assert parse_local(text, tz, end_of_day=True) == datetime(2026, 12, 20, 10, 0, tzinfo=UTC), (tz, text)
    assert parse_local("2026-12-20 (Beijing time)", "UTC", end_of_day=True) == datetime(2026, 12, 20, 15, 59, tzinfo=UTC)


def test_a_deadline_written_the_english_way_is_read_as_its_chinese_forms_are() -> None:
    """An English organizer writes "Dec 1", "1 December 2026 18:00" or "tomorrow 18:00": read as
    12月1日, 2026年12月1日18时 and 明天 18:00 are; a month name alone or a made-up one stays refused."""
    import pytest

    from surveys.consultation import format_local, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # already 2026-11-28 01:00 in Beijing
    for text, shown in [("Dec 1", "2026-12-01 23:59"), ("dec 1 18:00", "2026-12-01 18:00"),
                        ("December 1, 2026", "2026-12-01 23:59"), ("1 Dec 2026 9:30", "2026-12-01 09:30"),
                        ("1st of December 18:00", "2026-12-01 18:00"), ("Dec 1, 18:00", "2026-12-01 18:00"),
                        ("Jan 5", "2027-01-05 23:59"), ("Sept 30 2027", "2027-09-30 23:59"),
                        ("today", "2026-11-28 23:59"), ("Tomorrow 18:00", "2026-11-29 18:00"),
                        ("Dec 1 18:00 (Beijing time)", "2026-12-01 18:00")]:
        assert format_local(parse_local(text, tz, end_of_day=True, now=now), tz) == shown, text
    for bad in ("Dec", "Dec 32", "Decx 1", "mayday 2", "Dec 2026", "next fortnight"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)


def test_a_time_alone_last_or_the_week_after_next_s_weekday_and_an_english_weekday_are_read() -> None:
    """"18:00", 18点, 下午6点 with no date were refused as 日期格式不对: they are today's time if it is
    still ahead, else refused saying that time today has passed (suggesting 明天18:00); 下下周一 is
    the Monday after next, 上周一 last week's (past: refused as such by the callers); "next Monday",
    "Friday 18:00" are read as 下周一, 周五 18:00."""
    import pytest

    from surveys.consultation import TimePassed, format_local, parse_local

    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 10:00 in Beijing
    for text, shown in [("18:00", "2026-11-27 18:00"), ("18点", "2026-11-27 18:00"), ("下午6点", "2026-11-27 18:00"),
                        ("晚上8点30分", "2026-11-27 20:30"), ("6pm", "2026-11-27 18:00"), ("24时", "2026-11-28 00:00"),
                        ("明天下午6点", "2026-11-28 18:00"), ("12月5日下午3点", "2026-12-05 15:00"),
                        ("下下周一", "2026-12-07 23:59"), ("下下周五 18:00", "2026-12-11 18:00"),
                        ("上周一", "2026-11-16 23:59"),
                        ("next Monday", "2026-11-30 23:59"), ("Friday 18:00", "2026-11-27 18:00"),
                        ("this sat", "2026-11-28 23:59"), ("next fri 6pm", "2026-12-04 18:00"),
                        ("明天晚上12点", "2026-11-29 00:00"), ("中午1点", "2026-11-27 13:00"),
                        ("明天上午10点", "2026-11-28 10:00")]:
        assert format_local(parse_local(text, tz, end_of_day=True, now=now), tz) == shown, text
    for passed in ("9:00", "上午9点", "9am"):
        with pytest.raises(TimePassed) as e:
            parse_local(passed, tz, end_of_day=True, now=now)
        assert e.value.time == "09:00"
        assert e.value.text("zh_CN") == "今天 09:00 已经过去了。如果指的是明天，请写“明天09:00”；其他日子请写上日期，例如“下周一 09:00”。"
        assert "tomorrow 09:00" in e.value.text("en")
    assert format_local(parse_local("明天09:00", tz, end_of_day=True, now=now), tz) == "2026-11-28 09:00"  # as suggested
    for bad in ("25:00", "下午", "next", "明天上午18点"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)
