"""Text people send, made fit to store. PostgreSQL's text cannot hold a NUL character
(SQLite's can): one typed or pasted into a message made the statement that stores or
looks up the text fail there. It is dropped before the text is checked, compared or
stored, on both databases alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence

NUL = "\x00"


def drop_nul(text: str | None) -> str:
    """`text` without NUL characters (None is "")."""
    return (text or "").replace(NUL, "")


def lines_within(lines: Sequence[str], room: int, more: Callable[[int], str], *, size: Callable[[str], int] = len,
                 sep: str = "\n", most: int | None = None) -> list[str]:
    """`lines` as many as fit in `room` characters (each counted with its `sep`, measured by
    `size`), at most `most` of them: all when they fit, else the first ones followed by
    more(n), which names the n left out (its room kept for it). A long message's lists give
    way this way to what follows them (the totals, the deadline, how to go on)."""
    if (most is None or len(lines) <= most) and sum(size(line) + len(sep) for line in lines) <= room:
        return list(lines)
    room -= size(more(len(lines))) + len(sep)
    shown = 0
    while (shown < len(lines) and (most is None or shown < most)
           and (need := size(lines[shown]) + len(sep)) <= room):
        room -= need
        shown += 1
    return [*lines[:shown], more(len(lines) - shown)]
