"""Settings, read from the environment and `.env` (see .env.example), or from the file
named by `qingdan --env-file PATH` / ENV_FILE instead of `.env`."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///qingdan.db"
#: The published placeholder: pseudonyms keyed with it can be reversed by anyone (ids are
#: few enough to try them all), so the bot refuses it against Telegram itself.
DEFAULT_PSEUDONYM_KEY = "change-me"
#: The URL schemes storage.engine opens (async_url and sync_url pick the drivers).
DATABASE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite", "postgresql", "postgres",
                    "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}


_SHAPES = {  # setting → (its pattern, what is wrong otherwise)
    "bot_token": (r"\d+:[\w-]+", "not a bot token; it looks like 123456789:AAE… (from @BotFather)"),
    "bot_username": (r"[A-Za-z][A-Za-z0-9_]{4,31}", "not a bot username; e.g. qingdan_bot (5–32 letters, digits or _)"),
    "webhook_secret": (r"[A-Za-z0-9_-]{1,256}",
                       "1–256 characters, only letters A–Z and a–z, digits, _ and - (Telegram's rule)"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    bot_token: str = ""
    bot_username: str = ""
    telegram_api_url: str = ""
    organizer_ids: Annotated[list[int], NoDecode] = []
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_CN"
    redis_url: str = ""
    pseudonym_key: str = DEFAULT_PSEUDONYM_KEY
    webhook_url: str = ""
    webhook_secret: str = ""
    # PostgreSQL: connections each bot or scheduler process keeps in its pool, and how many
    # more it may open under load (closed again when returned)
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=20, ge=0)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            url = None
        # SQLite or PostgreSQL through a driver storage.engine knows; a SQLite file after three
        # slashes (sqlite://q.db names a host): anything else fails later with a traceback
        if url is None or url.drivername not in DATABASE_DRIVERS or (url.drivername.startswith("sqlite")
                                                                     and url.host):
            raise ValueError("not a SQLite or PostgreSQL database URL; e.g. sqlite+aiosqlite:///qingdan.db or "
                             "postgresql+asyncpg://user:password@host:5432/name")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        """A time zone of the IANA database (deadlines, reminders and digests use it)."""
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):  # not found: a KeyError; "Asia": a directory
            raise ValueError("not a time zone; e.g. Asia/Shanghai") from None
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        """One of the bot's languages (another one would quietly fall back to Chinese)."""
        from surveys.i18n import LOCALES, normalize_locale

        if not value.replace("-", "_").lower().startswith(("zh", "en")):
            raise ValueError(f"not a language of the bot; one of {', '.join(LOCALES)}")
        return normalize_locale(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        """Empty, or a URL the Redis client takes (checked here, not when the bot starts)."""
        from redis.asyncio.connection import parse_url

        if value:
            try:
                parse_url(value)
            except ValueError:
                raise ValueError("not a Redis URL; e.g. redis://127.0.0.1:6379/0") from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _telegram_api_url(cls, value: str) -> str:
        """Empty (Telegram itself), or an http(s) address: without its scheme the bot
        retried every call for ever ("NonHttpUrlClientError")."""
        from urllib.parse import urlsplit

        if value:
            try:
                parts = urlsplit(value.strip())
                parts.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("not a Bot API server address; e.g. http://127.0.0.1:8081")
        return value.strip()

    @field_validator("bot_username")
    @classmethod
    def _bot_username(cls, value: str) -> str:
        """As the links need it: "@qingdan_bot" (as Telegram shows it) is qingdan_bot."""
        value = value.strip()
        pattern, problem = _SHAPES["bot_username"]
        if value and not re.fullmatch(pattern, value := value.removeprefix("@")):
            raise ValueError(problem)
        return value

    @field_validator("bot_token", "webhook_secret")
    @classmethod
    def _shaped(cls, value: str, info: ValidationInfo) -> str:
        """A token or secret (when set) in the shape Telegram gives and accepts."""
        pattern, problem = _SHAPES[info.field_name or ""]
        if value and not re.fullmatch(pattern, value):
            raise ValueError(problem)
        return value

    @field_validator("organizer_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [v.strip() for v in value.replace(";", ",").replace(" ", ",").split(",") if v.strip()]
            if not all(re.fullmatch(r"\d{1,15}", v) for v in parts):
                raise ValueError("not a list of Telegram user ids (whole numbers, separated by commas)")
            return [int(v) for v in parts]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def weak_pseudonyms(self) -> bool:
        """PSEUDONYM_KEY left at its placeholder."""
        return self.pseudonym_key in ("", DEFAULT_PSEUDONYM_KEY)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def engine_options(self) -> dict[str, int]:
        """For storage.engine.make_engine in the long-running processes (bot, scheduler)."""
        if self.is_sqlite:
            return {}
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}


#: The environment variable naming the settings file read instead of `.env` (`qingdan
#: --env-file PATH` sets it, so that the processes a command starts read the same file).
ENV_FILE = "ENV_FILE"
# The exit status of a command stopped by its settings (sysexits.h's EX_CONFIG): starting it
# again changes nothing, so systemd's units say RestartPreventExitStatus=78; a database that
# is down (exit 2) is restarted.
EX_CONFIG = 78


def env_file() -> str:
    """The settings file: ENV_FILE's, else `.env` in the working folder."""
    return os.environ.get(ENV_FILE) or ".env"


class SettingsFileError(ValueError):
    """The settings file is there but cannot be read as UTF-8 text: the catalog key saying
    so, and its arguments."""

    def __init__(self, key: str, **kw: object) -> None:
        super().__init__(f"{key}: {kw}")
        self.key = key
        self.kw = kw


def check_settings_file(path: str) -> None:
    """Raise SettingsFileError for a settings file that cannot be read (no permission: a
    root-only /etc/qingdan/qingdan.env read with `sudo -u qingdan`) or is not UTF-8 (a Chinese
    Windows editor saves GBK); pydantic-settings would stop with a traceback. No file: nothing."""
    if not os.path.isfile(path):
        return
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsFileError("cli.env-file-unreadable", path=path, reason=exc.strerror or exc) from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsFileError("cli.env-file-not-utf8", path=path, line=raw[:exc.start].count(b"\n") + 1) from None


@lru_cache
def get_settings() -> Settings:
    # (pydantic-settings reads the file as dotenv: values are taken as written — "&", ";",
    # "$", spaces — where `sh`'s `.` would run them as shell)
    path = env_file()
    check_settings_file(path)
    return Settings(_env_file=path)


def settings_error(error: Exception, locale: str) -> str | None:
    """A settings ValidationError as lines an operator can act on: each setting by its
    environment name, what is wrong and the value found; None for other errors."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError) or error.title != Settings.__name__:
        return None
    from bot.texts import gettext

    lines = []
    for e in error.errors():
        name = "_".join(str(part) for part in e["loc"][:1]).upper() or "?"
        found = e.get("input")
        if name in ("DATABASE_URL", "REDIS_URL") and isinstance(found, str):
            found = _without_password(found)
        shown = f" ({found!r})" if isinstance(found, str | int) and name != "BOT_TOKEN" else ""
        what = gettext(f"cli.bad-{name.lower().replace('_', '-')}", locale) if name in _EXPLAINED \
            else e["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {what}{shown}")
    return "\n".join(lines)


def _without_password(url: str) -> str:
    """`url` with the password of its user part, if any, as ***: also in the mistyped URLs
    that are refused ("postgresql+asyncpg:/user:pw@db", "redis//:pw@host")."""
    head, at, tail = url.rpartition("@")  # (a password may hold "@" or "/")
    if not at:
        return url
    scheme = re.match(r"[A-Za-z][\w+.-]*:?/+", head)
    prefix, user_info = (head[:scheme.end()], head[scheme.end():]) if scheme else ("", head)
    if ":" not in user_info:
        return url
    return f"{prefix}{user_info.partition(':')[0]}:***@{tail}"


_EXPLAINED = {"DATABASE_URL", "BOT_TOKEN", "BOT_USERNAME", "WEBHOOK_SECRET", "TIMEZONE", "REDIS_URL",  # their messages
              "ORGANIZER_IDS", "LOCALE", "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW",  # are in the catalog
              "TELEGRAM_API_URL"}
