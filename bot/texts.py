"""The bot's side of the locale catalog (bot/locales/*/LC_MESSAGES/*.po), registered
with surveys.i18n so one `gettext` serves every text."""

from __future__ import annotations

from pathlib import Path

from surveys.i18n import gettext, normalize_locale, register_catalog_dir

register_catalog_dir(Path(__file__).parent / "locales")

__all__ = ["gettext", "normalize_locale", "zone_name"]

# The zones that are Beijing time (China's one zone): named so; another by its IANA name.
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"})


def zone_name(tz: str, locale: str) -> str:
    """The zone deadlines are typed and shown in (TIMEZONE), as the organizer reads it."""
    return gettext("zone.beijing", locale) if tz in BEIJING_ZONES else tz
