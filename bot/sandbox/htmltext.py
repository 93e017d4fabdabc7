"""Telegram's text formatting, as the Bot API applies it: `parse_mode=HTML` turned
into plain text plus entities (offsets in UTF-16 code units), Telegram-worded
errors for bad markup, whitespace trimming, and `bot_command` entities for what
users type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# one count of Telegram's length (UTF-16 units) for the bot, the sandbox and the tests
from surveys.text import units as utf16len

__all__ = ["ParseError", "bot_command_entities", "parse_html", "parse_markdown", "strip_text", "utf16len"]


class ParseError(ValueError):
    """The markup cannot be parsed; the message is Telegram's wording after
    "Bad Request: can't parse entities: "."""


_SIMPLE = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SPECIAL = {"a", "span", "tg-emoji", "tg-time"}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9-]*)(.*)$", re.S)
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_PLAIN_END = re.compile(r"[<&]")


def _unescape(value: str) -> str:
    return _ENTITY_RE.sub(lambda m: _decode_entity(m.group(1)), value)


def _decode_entity(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return "\ufffd"


@dataclass
class _Open:
    name: str
    offset: int
    entity: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


def _attrs(src: str, rest: str, at: int) -> dict[str, str]:
    out: dict[str, str] = {}
    rest = rest.strip().rstrip("/").strip()
    pos = 0
    while pos < len(rest):
        m = _ATTR_RE.match(rest, pos)
        if not m or m.end() == pos:
            raise ParseError(f"Expected equal sign in declaration of an attribute of the tag at byte offset "
                             f"{_byte_offset(src, at)}")
        value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
        out[m.group(1).lower()] = _unescape(value or "")
        pos = m.end()
    return out


def parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into (text, entities). Raises ParseError."""
    pieces: list[str] = []
    pos16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "<":
            j = src.find(">", i)
            if j < 0:
                raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
            inner = src[i + 1:j]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise ParseError(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
                top = stack.pop()
                if name != top.name:
                    raise ParseError(f'Unmatched end tag at byte offset {_byte_offset(src, i)}, '
                                     f'expected "</{top.name}>", found "</{name}>"')
                if top.entity is not None and pos16 > top.offset:
                    top.entity["offset"] = top.offset
                    top.entity["length"] = pos16 - top.offset
                    if top.extra.get("language"):
                        top.entity["language"] = top.extra["language"]
                    entities.append(top.entity)
            else:
                m = _TAG_RE.match(inner)
                if not m:
                    raise ParseError(f'Unsupported start tag "{inner[:20]}" at byte offset {_byte_offset(src, i)}')
                name = m.group(1).lower()
                if name not in _SIMPLE and name not in _SPECIAL:
                    raise ParseError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, i)}')
                attrs = _attrs(src, m.group(2), i)
                entity: dict[str, Any] | None
                if name == "a":
                    href = attrs.get("href", "")
                    if href.startswith("tg://user?id="):
                        entity = {"type": "text_mention", "user": {"id": int(re.sub(r"\D", "", href) or 0),
                                                                   "is_bot": False, "first_name": ""}}
                    elif href:
                        entity = {"type": "text_link", "url": href}
                    else:
                        entity = None
                elif name == "span":
                    if attrs.get("class") != "tg-spoiler":
                        raise ParseError('Tag "span" must have class "tg-spoiler" at byte offset '
                                         f"{_byte_offset(src, i)}")
                    entity = {"type": "spoiler"}
                elif name == "tg-emoji":
                    entity = {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
                elif name == "tg-time":
                    entity = {"type": "date_time", "unix_time": int(attrs.get("unix", "0") or 0)}
                elif name == "blockquote" and "expandable" in attrs:
                    entity = {"type": "expandable_blockquote"}
                elif name == "code" and stack and stack[-1].name == "pre" and attrs.get("class", "").startswith(
                        "language-"):
                    stack[-1].extra["language"] = attrs["class"][len("language-"):]
                    entity = None
                else:
                    entity = {"type": _SIMPLE[name]}
                if not inner.rstrip().endswith("/"):
                    stack.append(_Open(name, pos16, entity))
            i = j + 1
        elif c == "&":
            m = _ENTITY_RE.match(src, i)
            if m:
                ch = _decode_entity(m.group(1))
                i = m.end()
            else:
                ch = "&"
                i += 1
            pieces.append(ch)
            pos16 += utf16len(ch)
        else:
            m = _PLAIN_END.search(src, i)
            j = m.start() if m else n
            chunk = src[i:j]
            pieces.append(chunk)
            pos16 += utf16len(chunk)
            i = j
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(pieces), entities


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    lead = utf16len(text[: len(text) - len(text.lstrip())])
    total = utf16len(stripped)
    out = []
    for e in entities:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] + e["length"] - lead)
        if end > start:
            out.append({**e, "offset": start, "length": end - start})
    return stripped, out


_COMMAND_RE = re.compile(r"(?:(?<=\s)|^)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])")


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The `bot_command` entities Telegram attaches to a user's text."""
    if "/" not in text:
        return []
    out = []
    for m in _COMMAND_RE.finditer(text):
        out.append({"type": "bot_command", "offset": utf16len(text[: m.start()]), "length": utf16len(m.group(0))})
    return out


_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_MARKS = {"__": "underline", "||": "spoiler", "*": "bold", "_": "italic", "~": "strikethrough"}
_V2_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
             "spoiler": "Spoiler", "text_link": "TextUrl"}


def parse_markdown(src: str, v2: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """`parse_mode=Markdown` (`v2=False`: *bold*, _italic_, `code`, ```pre```, [text](url), no
    nesting; `\\` escapes _ * ` [ outside entities) or `MarkdownV2` (also __underline__, ~strike~,
    ||spoiler||, `>` quoted lines, nesting; every one of _*[]()~`>#+-=|{}.! outside an entity's
    syntax must be escaped with `\\`) → plain text and entities, offsets in UTF-16 units.
    Raises ParseError with Telegram's wording."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int]] = []  # (mark, start in UTF-16 units, source byte offset)
    pos16 = 0
    quote: int | None = None  # where an open MarkdownV2 blockquote began
    n, i = len(src), 0

    def emit(s: str) -> None:
        nonlocal pos16
        out.append(s)
        pos16 += utf16len(s)

    def byte_at(k: int) -> int:
        return len(src[:k].encode("utf-8"))

    def until(closing: str, k: int, what: str, start: int) -> tuple[str, int]:
        """The text from k up to the unescaped `closing`, unescaped, and the index after it."""
        buf: list[str] = []
        while k < n:
            if v2 and src[k] == "\\" and k + 1 < n:
                buf.append(src[k + 1])
                k += 2
            elif src.startswith(closing, k):
                return "".join(buf), k + len(closing)
            else:
                buf.append(src[k])
                k += 1
        raise ParseError(f"Can't find end of {what} entity at byte offset {byte_at(start)}" if v2 else
                         f"Can't find end of the entity starting at byte offset {byte_at(start)}")

    while i < n:
        c = src[i]
        if v2 and (i == 0 or src[i - 1] == "\n"):  # a line starting with > is quoted; the quote runs on while they do
            if c == ">":
                if quote is None:
                    quote = pos16
                i += 1
                continue
            if quote is not None:
                if pos16 > quote:
                    entities.append({"type": "blockquote", "offset": quote, "length": pos16 - quote - 1})
                quote = None
        if c == "\\" and i + 1 < n and (src[i + 1] in _V2_RESERVED or src[i + 1] == "\\" if v2
                                        else src[i + 1] in "_*`["):
            emit(src[i + 1])
            i += 2
        elif c == "`":
            if src.startswith("```", i):
                body, j = until("```", i + 3, "Pre", i)
                language = None
                first, nl, rest = body.partition("\n")
                if nl and first and not any(ch.isspace() for ch in first):
                    language, body = first, rest
                elif body.startswith("\n"):
                    body = body[1:]
                entity: dict[str, Any] = {"type": "pre", "offset": pos16, "length": utf16len(body)}
                if language:
                    entity["language"] = language
            else:
                body, j = until("`", i + 1, "Code", i)
                entity = {"type": "code", "offset": pos16, "length": utf16len(body)}
            if body:
                entities.append(entity)
            emit(body)
            i = j
        elif c == "[" and (v2 or not stack):
            stack.append(("[", pos16, byte_at(i)))
            i += 1
        elif c == "]" and stack and stack[-1][0] == "[":
            _, start, at = stack.pop()
            if not src.startswith("(", i + 1):
                raise ParseError(f"Can't find end of TextUrl entity at byte offset {at}" if v2 else
                                 f"Can't find end of the entity starting at byte offset {at}")
            k = i + 2
            url_chars: list[str] = []
            while k < n and src[k] != ")":
                if v2 and src[k] == "\\" and k + 1 < n:
                    k += 1
                url_chars.append(src[k])
                k += 1
            if k >= n:
                raise ParseError(f"Can't find end of TextUrl entity at byte offset {at}" if v2 else
                                 f"Can't find end of the entity starting at byte offset {at}")
            url = "".join(url_chars).strip()
            if pos16 > start and url:
                entities.append({"type": "text_link", "offset": start, "length": pos16 - start, "url": url})
            i = k + 1
        else:
            mark = next((m for m in (("__", "||", "*", "_", "~") if v2 else ("*", "_")) if src.startswith(m, i)), None)
            if mark is not None:
                open_at = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == mark), None)
                if open_at is not None:
                    _, start, _ = stack.pop(open_at)
                    if pos16 > start:
                        entities.append({"type": _V2_MARKS[mark] if v2 else
                                         {"*": "bold", "_": "italic"}[mark], "offset": start, "length": pos16 - start})
                elif v2 or not stack:
                    stack.append((mark, pos16, byte_at(i)))
                else:
                    emit(mark)
                i += len(mark)
            elif v2 and c in _V2_RESERVED:
                raise ParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            else:
                emit(c)
                i += 1
    if stack:
        mark, _, at = stack[-1]
        if v2:
            raise ParseError(f"Can't find end of {_V2_NAMES.get(_V2_MARKS.get(mark, 'text_link'), 'TextUrl')} "
                             f"entity at byte offset {at}")
        raise ParseError(f"Can't find end of the entity starting at byte offset {at}")
    if quote is not None and pos16 > quote:
        entities.append({"type": "blockquote", "offset": quote, "length": pos16 - quote})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
