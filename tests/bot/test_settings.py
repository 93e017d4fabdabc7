"""Settings: every one is documented in .env.example, and the PostgreSQL pool of the
long-running processes follows DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import build_runtime
from bot.config import Settings
from bot.testing import TEST_TOKEN

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))
    assert documented == {name.upper() for name in Settings.model_fields}
    for name in documented:  # each with a comment line right above it, or in the block above
        block = text[:text.index(f"\n{name}=")].rsplit("\n\n", 1)[-1]
        assert block.lstrip("\n").startswith("#"), name


async def test_the_bot_process_pool_follows_the_settings() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:5432/none", database_pool_size=3,
                        database_max_overflow=4, _env_file=None)
    runtime = build_runtime(settings, token=TEST_TOKEN)  # no connection is opened yet
    try:
        assert runtime.engine.dialect.name == "postgresql"
        assert runtime.engine.pool.size() == 3 and runtime.engine.pool._max_overflow == 4  # type: ignore[attr-defined]
    finally:
        await runtime.close()
    assert Settings(database_url="sqlite+aiosqlite:///x.db", database_pool_size=3, _env_file=None).engine_options() == {}
