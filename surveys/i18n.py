"""The locale catalog: every user-visible text, keyed by a message id, in zh_CN
(the default) and en.

Catalogs are gettext .po files, one per domain, under `<package>/locales/<locale>/
LC_MESSAGES/<domain>.po`; they are read with Babel when first needed, so no
compiled .mo files are kept in the tree. A message id is a dotted key
("resident.welcome"); its msgstr is a `str.format` template.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "zh_CN"
LOCALES: tuple[str, ...] = ("zh_CN", "en")

_catalog_dirs: list[Path] = [Path(__file__).parent / "locales"]
_messages: dict[str, dict[str, str]] | None = None


def register_catalog_dir(path: Path) -> None:
    """Add another package's locales/ folder (bot/ registers its own)."""
    global _messages
    if path not in _catalog_dirs:
        _catalog_dirs.append(path)
        _messages = None


def _load() -> dict[str, dict[str, str]]:
    global _messages
    if _messages is None:
        messages: dict[str, dict[str, str]] = {loc: {} for loc in LOCALES}
        for base in _catalog_dirs:
            for loc in LOCALES:
                for po in sorted((base / loc / "LC_MESSAGES").glob("*.po")):
                    with po.open("rb") as fh:
                        catalog = read_po(fh, locale=loc)
                    for msg in catalog:
                        if msg.id and msg.string:
                            messages[loc][str(msg.id)] = str(msg.string)
        _messages = messages
    return _messages


def normalize_locale(code: str | None) -> str:
    """Map a Telegram language_code or a setting to one of LOCALES (Chinese by default)."""
    if not code:
        return DEFAULT_LOCALE
    code = code.replace("-", "_").lower()
    if code.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def gettext(key: str, locale: str | None = None, /, **kwargs: object) -> str:
    """The text for `key` in `locale`, formatted with kwargs. Falls back to zh_CN,
    then to the key itself (which a test forbids for shipped keys)."""
    messages = _load()
    loc = normalize_locale(locale) if locale not in LOCALES else locale
    template = messages.get(loc, {}).get(key) or messages[DEFAULT_LOCALE].get(key) or key
    if not kwargs:
        return template
    # a list version `version` also comes as `version_v`, read as the locale says it (version_label)
    labels = {f"{k}_v": version_label(v, loc) for k, v in kwargs.items()} if "_v}" in template else {}
    # English plurals: each whole-number argument `n` also comes as `n_s` ("" for 1, else "s"),
    # so a template can say "{n} item{n_s}"
    if "_s}" not in template:
        return template.format(**labels, **kwargs)
    plurals = {f"{k}_s": "" if v == 1 else "s" for k, v in kwargs.items() if type(v) is int}
    return template.format(**plurals, **labels, **kwargs)


def version_label(version: object, locale: str = DEFAULT_LOCALE) -> str:
    """A list version as a text says it: a number as 第 2 版 / version 2, a name (修订稿,
    2026修订稿) as itself in quotes — "第 修订稿 版" read badly."""
    text = str(version).strip()
    if text.isdigit():
        return gettext("version.number", locale, n=text)
    # (a name ending in 版/稿/本 says what it is; another gets 版 after it in Chinese)
    return gettext("version.named" if not text.endswith(("版", "稿", "本")) else "version.named-plain", locale,
                   name=text)


def has(key: str, locale: str = DEFAULT_LOCALE) -> bool:
    return key in _load().get(locale, {})


def keys(locale: str = DEFAULT_LOCALE) -> Iterable[str]:
    return _load()[locale].keys()


_ = gettext
