"""Settings, read from the environment and `.env` (see .env.example)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///qingdan.db"


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
    pseudonym_key: str = "change-me"
    webhook_url: str = ""
    webhook_secret: str = ""
    # PostgreSQL: connections each bot or scheduler process keeps in its pool, and how many
    # more it may open under load (closed again when returned)
    database_pool_size: int = 10
    database_max_overflow: int = 20

    @field_validator("organizer_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.replace(";", ",").replace(" ", ",").split(",") if v.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def engine_options(self) -> dict[str, int]:
        """For storage.engine.make_engine in the long-running processes (bot, scheduler)."""
        if self.is_sqlite:
            return {}
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}


@lru_cache
def get_settings() -> Settings:
    return Settings()
