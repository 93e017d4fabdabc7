"""The rule for moving a consultation's deadline (surveys.consultation.check_new_deadline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from surveys.consultation import DeadlineRefused, check_new_deadline

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DEADLINE = NOW + timedelta(days=10)


def _reason(status: str, new: datetime, opens_at: datetime | None = None, closes_at: datetime = DEADLINE,
            now: datetime = NOW, reopen: bool = False) -> str | None:
    try:
        check_new_deadline(7, status, opens_at, closes_at, new, now, reopen)
    except DeadlineRefused as e:
        return e.reason
    return None


def test_a_drafts_or_an_open_consultations_deadline_moves_earlier_or_later():
    for status in ("draft", "open"):
        assert _reason(status, DEADLINE + timedelta(days=5)) is None
        assert _reason(status, NOW + timedelta(hours=1)) is None


@pytest.mark.parametrize(("status", "new", "opens_at", "closes_at", "reason"), [
    ("closed", DEADLINE + timedelta(days=5), None, DEADLINE, "closed"),  # a move, not a reopening, was asked
    ("reported", DEADLINE + timedelta(days=5), None, DEADLINE, "not-editable"),
    ("open", DEADLINE + timedelta(days=5), None, NOW, "ended"),  # reached: the scheduler is closing it
    ("open", NOW, None, DEADLINE, "past"),
    ("draft", NOW + timedelta(days=1), NOW + timedelta(days=2), DEADLINE, "before-start"),
    ("open", DEADLINE, None, DEADLINE, "unchanged"),
])
def test_refusals_name_their_reason(status, new, opens_at, closes_at, reason):
    assert _reason(status, new, opens_at, closes_at) == reason


def test_a_closed_consultation_is_extended_only_when_reopening_it_was_asked_and_never_a_reported_one():
    passed = NOW - timedelta(days=1)  # it closed at its deadline yesterday
    assert _reason("closed", NOW + timedelta(days=7), closes_at=passed, reopen=True) is None
    assert _reason("closed", NOW + timedelta(days=7), closes_at=passed) == "closed"
    assert _reason("closed", NOW - timedelta(hours=1), closes_at=passed - timedelta(days=1), reopen=True) == "past"
    assert _reason("reported", NOW + timedelta(days=7), closes_at=passed, reopen=True) == "not-editable"
    for status in ("open", "draft"):  # reopened (or never closed) since it was shown closed
        assert _reason(status, NOW + timedelta(days=7), reopen=True) == "not-closed"


def test_a_draft_whose_deadline_passed_may_get_a_new_one():
    assert _reason("draft", NOW + timedelta(days=3), closes_at=NOW - timedelta(days=1)) is None


def test_a_refusal_reads_the_same_in_both_languages_with_local_times():
    with pytest.raises(DeadlineRefused) as early:
        check_new_deadline(7, "draft", NOW + timedelta(days=2), DEADLINE, NOW + timedelta(days=1), NOW)
    assert early.value.text("zh_CN", "Asia/Shanghai") == "新的截止时间必须晚于开始时间 2026-12-03 10:00。"
    assert early.value.text("en", "Asia/Shanghai") == "The new deadline must come after the opening time, 2026-12-03 10:00."
    with pytest.raises(DeadlineRefused) as reported:
        check_new_deadline(7, "reported", None, DEADLINE, DEADLINE + timedelta(days=1), NOW, reopen=True)
    assert reported.value.text("en", "Asia/Shanghai").startswith("Consultation #7 is “feedback given”:")
    assert reported.value.text("zh_CN", "Asia/Shanghai").startswith("征询 #7 现在是“已反馈”状态，截止时间不能再改")


def test_the_daily_digests_hour_is_read_as_organizers_write_it_and_never_in_the_quiet_hours():
    import pytest

    from surveys.consultation import FollowUp, parse_digest_hour

    follow = FollowUp()  # quiet 21:00–08:00
    assert [parse_digest_hour(t, follow) for t in ("18", "18:00", "１８点", " 8时 ", "20")] == [18, 18, 18, 8, 20]
    assert parse_digest_hour("关闭", follow) is None and parse_digest_hour("OFF", follow) is None
    assert parse_digest_hour("开启", follow) == 9
    for bad in ("21", "7", "0", "24", "18:30", "明天", ""):
        with pytest.raises(ValueError):
            parse_digest_hour(bad, follow)


def test_an_english_organizers_twelve_hour_times_are_read_for_the_digest_and_the_deadline():
    """"6pm" is 18:00 to an English organizer: for the digest's hour and in a deadline."""
    from datetime import UTC, datetime

    import pytest

    from surveys.consultation import FollowUp, format_local, parse_digest_hour, parse_local

    follow = FollowUp()  # quiet 21:00–08:00
    assert [parse_digest_hour(t, follow) for t in ("6pm", "6 PM", "8am", "12pm", "8 a.m.")] == [18, 18, 8, 12, 8]
    for bad in ("7am", "11pm", "6:30pm", "13pm", "0am"):
        with pytest.raises(ValueError):
            parse_digest_hour(bad, follow)
    tz, now = "Asia/Shanghai", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    for text, shown in [("2026-12-20 6pm", "2026-12-20 18:00"), ("Dec 20 6:30 p.m.", "2026-12-20 18:30"),
                        ("tomorrow 9am", "2026-11-28 09:00"), ("2026/12/20 12am", "2026-12-20 00:00"),
                        ("Dec 20 12pm", "2026-12-20 12:00"), ("明天 6pm", "2026-11-28 18:00")]:
        assert format_local(parse_local(text, tz, end_of_day=True, now=now), tz) == shown, text
    for bad in ("Dec 20 13pm", "Dec 20 0am", "2026-12-20 6 o'clock"):
        with pytest.raises(ValueError):
            parse_local(bad, tz, end_of_day=True, now=now)


def test_a_conflict_with_several_consultations_names_them_in_the_plural():
    """'wait until consultation #2, #3 ends, or close it first' (请等征询 #2、#3 结束，或先结束它):
    several consultations in the way are now named in the plural, in both languages."""
    from surveys.consultation import ListConflict, VersionClash

    one = [VersionClash("青山镇", "1", "2", 7, other_id=2, other_title="甲")]
    two = [*one, VersionClash("绿水乡", "1", "2", 8, other_id=3, other_title="乙")]
    assert "wait until consultation #2 ends, or close it first" in ListConflict("open", 1, one).text("en")
    text = ListConflict("open", 1, two).text("en")
    assert "wait until consultations #2, #3 end, or close them first, then open this one." in text, text
    assert "Close consultations #2, #3 first" in ListConflict("publish", 1, two, "青山镇").text("en")
    assert "once consultations #2, #3 have ended" in ListConflict("new", None, two).text("en")
    assert "请等征询 #2、#3 都结束，或先结束它们，再延长这次征询。" in ListConflict("reopen", 1, two).text("zh_CN")
    assert "请等征询 #2 结束，或先结束它，再开始这次征询。" in ListConflict("open", 1, one).text("zh_CN")
