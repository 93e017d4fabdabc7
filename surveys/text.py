"""Text people send, made fit to store. PostgreSQL's text cannot hold a NUL character
(SQLite's can): one typed or pasted into a message made the statement that stores or
looks up the text fail there. It is dropped before the text is checked, compared or
stored, on both databases alike."""

from __future__ import annotations

NUL = "\x00"


def drop_nul(text: str | None) -> str:
    """`text` without NUL characters (None is "")."""
    return (text or "").replace(NUL, "")
