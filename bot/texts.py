"""The bot's side of the locale catalog (bot/locales/*/LC_MESSAGES/*.po), registered
with surveys.i18n so one `gettext` serves every text."""

from __future__ import annotations

from pathlib import Path

from surveys.i18n import gettext, normalize_locale, register_catalog_dir

register_catalog_dir(Path(__file__).parent / "locales")

__all__ = ["gettext", "normalize_locale"]
