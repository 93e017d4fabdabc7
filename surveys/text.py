"""Text people send, made fit to store. PostgreSQL's text cannot hold a NUL character
(SQLite's can): one typed or pasted into a message made the statement that stores or
looks up the text fail there. It is dropped before the text is checked, compared or
stored, on both databases alike. Also Telegram's limits as the bot keeps them (bot.limits),
for the checks that warn of texts the bot will have to shorten on screen."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

NUL = "\x00"

# Telegram's limits, as the bot keeps them (bot.limits) and the sandbox and the tests' recording
# session check them: a message's text is at most 4,096 characters, a file's caption 1,024 and a
# press's answer 200 — all counted in UTF-16 code units (`units`), where an emoji or a rare
# character such as 𠀀 takes two
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ANSWER_LIMIT = 200
ELLIPSIS = "…"


def drop_nul(text: str | None) -> str:
    """`text` without NUL characters (None is "")."""
    return (text or "").replace(NUL, "")


def units(text: str) -> int:
    """Telegram's length: UTF-16 code units (an emoji or 𠀀 is two, where len() says one).
    Every check of a text against a Telegram limit counts with this."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, room: int) -> str:
    """The longest start of `text` of at most `room` UTF-16 units."""
    if units(text) <= room:
        return text
    out, used = [], 0
    for ch in text:
        n = 2 if ord(ch) > 0xFFFF else 1
        if used + n > room:
            break
        out.append(ch)
        used += n
    return "".join(out)


def fit_plain(text: str, limit: int) -> str:
    """`text` (plain) at most `limit` UTF-16 units: cut, with "…", if it is longer."""
    return text if units(text) <= limit else cut(text, limit - units(ELLIPSIS)) + ELLIPSIS


def lines_within(lines: Sequence[str], room: int, more: Callable[[int], str], *,
                 size: Callable[[str], int] | None = None, sep: str = "\n", most: int | None = None) -> list[str]:
    """`lines` as many as fit in `room` characters (each counted with its `sep`, measured by
    `size`: by default `units`, as Telegram counts), at most `most` of them: all when they fit,
    else the first ones followed by more(n), which names the n left out (its room kept for it).
    A long message's lists give way this way to what follows them (the totals, the deadline,
    how to go on)."""
    size = size or units
    if (most is None or len(lines) <= most) and sum(size(line) + size(sep) for line in lines) <= room:
        return list(lines)
    room -= size(more(len(lines))) + size(sep)
    shown = 0
    while (shown < len(lines) and (most is None or shown < most)
           and (need := size(lines[shown]) + size(sep)) <= room):
        room -= need
        shown += 1
    return [*lines[:shown], more(len(lines) - shown)]


# A button's label, as a phone shows it: a single inline button in a row has room for about
# 28 half-width characters (a Chinese character or an emoji takes two); Telegram cuts the
# rest itself, with whatever followed the cut (a status, a count) lost.
BUTTON_WIDTH = 28


def _char_width(ch: str) -> int:
    if unicodedata.category(ch) in ("Mn", "Cf"):  # (an emoji's variation selector)
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") or unicodedata.category(ch) == "So" else 1


def width(text: str) -> int:
    """How wide `text` shows on a button, in half-width characters."""
    return sum(_char_width(ch) for ch in text)


# what a resident may type into a free-text answer and a report shared around a county office should
# not repeat: a mainland ID card number (18 characters, the last maybe X; or the old 15 digits) and
# a mobile number (11 digits from 13–19, maybe written 138 1234 5678 or 138-1234-5678)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}(?:\d{3}[0-9Xx]|\d))(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9A-Za-z])((?:\+?86[\s-]?)?1[3-9]\d)([\s-]?)(\d{4})([\s-]?)(\d{4})(?![0-9A-Za-z])")


def mask_personal_numbers(text: str) -> str:
    """`text` with ID card numbers (the first 6 digits kept: the place of registration) and
    mobile numbers (the first 3 and the last 4 kept, as is usual) starred out."""
    text = _ID_NUMBER.sub(lambda m: m[1] + "*" * len(m[2]), text)
    return _MOBILE.sub(lambda m: m[1] + m[2] + "****" + m[4] + m[5], text)
