"""surveys.text: the one count of Telegram's length (UTF-16 units) and the helpers that
fit texts to Telegram's limits with it."""

from __future__ import annotations

from surveys.text import cut, fit_plain, lines_within, units


def test_units_count_an_emoji_or_a_rare_character_as_two() -> None:
    assert units("abc") == 3 and units("中文") == 2
    assert units("😀") == 2 and units("𠀀𡈽") == 4 and len("𠀀𡈽") == 2
    assert cut("a😀b", 2) == "a" and cut("a😀b", 3) == "a😀"
    assert fit_plain("😀" * 10, 9) == "😀" * 4 + "…" and units(fit_plain("😀" * 10, 9)) == 9


def test_lines_within_counts_as_telegram_counts_unless_told_otherwise() -> None:
    """Its callers fit a message to Telegram's limit; counted by len(), ten lines of 100
    emoji (2,000 units) "fit" a room of 1,100."""
    lines = ["😀" * 100] * 10
    shown = lines_within(lines, 1100, lambda n: f"… {n} more")
    assert shown[-1] == "… 5 more" and shown[:-1] == ["😀" * 100] * 5
    assert sum(units(line) + 1 for line in shown) <= 1100
    assert lines_within(lines, 1100, lambda n: f"… {n} more", size=len) == lines  # (a caller's own count)
