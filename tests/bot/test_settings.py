"""Settings: every one is documented in .env.example, and the PostgreSQL pool of the
long-running processes follows DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.app import build_runtime
from bot.config import EX_CONFIG, Settings
from bot.testing import TEST_TOKEN

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))
    assert documented == {name.upper() for name in Settings.model_fields}
    for name in documented:  # each with a comment line right above it, or in the block above
        block = text[:text.index(f"\n{name}=")].rsplit("\n\n", 1)[-1]
        assert block.lstrip("\n").startswith("#"), name



def test_env_example_says_where_redis_keeps_the_fsm_and_for_how_long() -> None:
    """An operator sharing a Redis with other applications found in .env.example only
    "REDIS_URL=": not the URL's password and database number, nor which keys are Qingdan's,
    nor that a resident who never comes back leaves none for ever (they expire)."""
    from storage.fsm import FSM_TTL, default_key_builder

    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    block = text[:text.index("\nREDIS_URL=")].rsplit("\n\n", 1)[-1]
    assert f"{default_key_builder().prefix}:<bot id>:" in block, block
    assert f"{FSM_TTL // 86400} days" in block, block
    assert "redis://:PASSWORD@" in block and "/1" in block, block


def test_env_example_shows_how_a_password_with_special_characters_is_written() -> None:
    """A password chosen at `createuser --pwprompt` with an @ or a / in it, pasted into
    DATABASE_URL as it is, sent the bot to a host named after the rest of the password
    ("failed to resolve host 'ss'"); .env.example now shows it percent-encoded, and that
    spelling gives the password back whole."""
    from sqlalchemy.engine import make_url

    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    block = text[:text.index("\nDATABASE_URL=")].rsplit("\n\n", 1)[-1]
    found = re.search(r"(\S+) is written\s*#?\s*(postgresql\+asyncpg://\S+)", block)
    assert found is not None, block
    password, url = found.groups()
    assert set(password) & set("@/#%") and make_url(url).password == password
    assert make_url(url).host == "127.0.0.1" and make_url(url).database == "qingdan"

def test_env_example_gives_each_setting_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied to .env unchanged, .env.example changes nothing: each value it shows is the default."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert Settings(_env_file=ENV_EXAMPLE) == Settings(_env_file=None)


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


def test_settings_that_cannot_be_read_are_named_not_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BOT_", "WEBHOOK_", "LOCALE"))}
    env.update(PYTHONPATH=str(ENV_EXAMPLE.parent), DATABASE_URL="notaurl", BOT_TOKEN="notatoken",
               WEBHOOK_SECRET="a b", DATABASE_POOL_SIZE="10   # per process")  # as systemd reads "X=10 # …"
    done = subprocess.run([sys.executable, "-m", "bot", "consultations", "list"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == EX_CONFIG
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("设置有误") and "Traceback" not in done.stderr
    assert {line.split(":")[0] for line in lines[1:]} == {"DATABASE_URL", "BOT_TOKEN", "WEBHOOK_SECRET",
                                                         "DATABASE_POOL_SIZE"}
    assert "notatoken" not in done.stderr  # a token is not echoed
    assert "'10   # per process'" in done.stderr and "'notaurl'" in done.stderr


def test_valid_tokens_secrets_and_urls_are_accepted() -> None:
    s = Settings(database_url="postgresql+asyncpg://u:p@db:5432/q", bot_token="123456789:AAE-x_y",
                 webhook_secret="Abc_123-xyz", _env_file=None)
    assert (s.bot_token, s.webhook_secret) == ("123456789:AAE-x_y", "Abc_123-xyz")


def test_demo_reset_deletes_the_database_and_its_job_store(tmp_path: Path) -> None:
    from bot.demo import reset

    db = tmp_path / "qingdan-demo.db"
    made = [db, tmp_path / "qingdan-demo.db-wal", tmp_path / "qingdan-demo.db.jobs",
            tmp_path / "qingdan-demo.db.jobs-journal"]
    for path in made + [tmp_path / "other.db"]:
        path.write_bytes(b"x")
    reset(db)
    assert [p.name for p in tmp_path.iterdir()] == ["other.db"]


async def test_a_demo_run_again_starts_past_what_its_database_remembers(tmp_path: Path) -> None:
    import sqlite3

    import sqlalchemy as sa

    from bot.demo import demo_settings, resume_points, seed
    from bot.sandbox.server import Sandbox
    from storage.migrate import upgrade

    db = tmp_path / "qingdan-demo.db"
    settings = demo_settings(Settings(_env_file=None), db)
    upgrade(settings.database_url)
    await seed(settings)
    assert resume_points(db) == (1, 1)  # a fresh demo
    from storage.consultations import start_response
    from storage.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as s:  # a resident's live question message from the last run
        cid, tid = (await s.execute(sa.text("SELECT consultation_id, township_id FROM consultation_township"))).first()
        await start_response(s, cid, 3001, tid)
        await s.execute(sa.text("UPDATE response SET message_id = 40"))
        await s.commit()
    await engine.dispose()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO processed_update (update_id, processed_at) VALUES (57, '2026-11-27 00:00:00')")
    conn.commit()
    conn.close()
    first_update, first_message = resume_points(db)
    assert (first_update, first_message) == (58, 41)
    sandbox = Sandbox(first_update_id=first_update, first_message_id=first_message, tokens=["1:a"])
    sent = sandbox.user_send("1:a", 3001, "你好")
    update = sandbox.bots["1:a"].pending[-1]
    assert sent["message_id"] == 41 and update["update_id"] == 58


async def test_a_demo_run_again_starts_past_the_typed_messages_its_database_remembers(tmp_path: Path) -> None:
    """Run again, the demo's chats started past the residents' question messages only: a cadre's
    earlier messages that became comments (the FSM's "ctyped") or a resident's typed answers had
    ids the new chats gave out again, and editing a new message of that id (✎, as in Telegram)
    rewrote an old comment (or answer) with it. Every message id the database keeps is passed."""
    import json
    import sqlite3

    import sqlalchemy as sa

    from bot.demo import demo_settings, resume_points, seed
    from storage.migrate import upgrade

    db = tmp_path / "qingdan-demo.db"
    settings = demo_settings(Settings(_env_file=None), db)
    upgrade(settings.database_url)
    await seed(settings)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO fsm_state (key, state, data) VALUES (?, NULL, ?)",
                 ("fsm:1:2001:2001:default", json.dumps({"cw": 2, "ctyped": {"9": [1, "text"], "45": [2, "text"]}})))
    conn.commit()
    conn.close()
    assert resume_points(db)[1] == 46
    from storage.consultations import start_response
    from storage.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as s:
        cid, tid = (await s.execute(sa.text("SELECT consultation_id, township_id FROM consultation_township"))).first()
        await start_response(s, cid, 3001, tid)
        await s.execute(sa.text("UPDATE response SET message_id = 40, screen = :screen"),
                        {"screen": json.dumps({"typed": {"missing_what": 52, "suggest": 50}})})
        await s.commit()
    await engine.dispose()
    assert resume_points(db)[1] == 53


async def test_a_demo_run_again_gives_back_the_command_menus_the_empty_sandbox_forgot(tmp_path: Path) -> None:
    """Telegram keeps a chat's own command menu; the demo's sandbox starts empty each run.
    Run again, the demo set back only 李干部's menu, in the demo's language: a cadre invited
    in an earlier run had everybody's menu, and one who chose English with /language a
    Chinese one while the bot wrote to them in English. Everybody with a menu of their own
    gets it back, in the language they chose."""
    import sqlalchemy as sa

    from bot.demo import CADRE_ID, DEMO_TOKEN, demo_settings, restore_menus, seed
    from bot.sandbox.server import running_sandbox
    from storage.engine import make_engine, make_sessionmaker
    from storage.migrate import upgrade
    from storage.models import Person

    settings = demo_settings(Settings(_env_file=None), tmp_path / "qingdan-demo.db")
    upgrade(settings.database_url)
    await seed(settings)
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as s:  # what the last run left
        township_id = (await s.get(Person, CADRE_ID)).township_id
        await s.execute(sa.update(Person).where(Person.id == CADRE_ID).values(language="en", language_chosen=True))
        s.add(Person(id=5001, first_name="新干部", role="cadre", township_id=township_id))
        s.add(Person(id=5002, first_name="Bob", language="en", language_chosen=True))
        s.add(Person(id=5003, first_name="路人", language="zh_CN"))
        await s.commit()
    await engine.dispose()
    async with running_sandbox(tokens=[DEMO_TOKEN], bot_username="qingdan_demo_bot") as sb:
        runtime = build_runtime(settings.model_copy(update={"telegram_api_url": sb.base_url}))
        try:
            await restore_menus(runtime, sb.sandbox)
        finally:
            await runtime.close(grace=0)
        b = sb.sandbox.bots[DEMO_TOKEN]

        # the chats of the earlier run are there again (listed in the web chat), the presets' as they were
        users = {u["id"]: u for u in (c.user for c in b.chats.values())}
        assert {CADRE_ID, 5001, 5002, 5003} <= set(users)
        assert users[5002]["language_code"] == "en" and users[5001]["first_name"] == "新干部"
        assert b.chats[CADRE_ID].user["language_code"] == "zh-hans"  # the preset's Telegram, not /language

        def menu(user_id: int) -> list[str]:
            chat = sb.sandbox.register_user(DEMO_TOKEN, user_id, language_code="zh-hans")
            return [c["description"] for c in sb.sandbox.effective_commands(b, chat)]

        assert menu(CADRE_ID)[0] == "Browse the list"
        assert menu(5001)[0] == "浏览清单"
        assert menu(5002)[0] == "Start or continue"
        assert menu(5003) == []  # nothing of their own: everybody's menu (run_polling sets it)


def test_demo_reset_refuses_while_a_demo_holds_the_port(tmp_path: Path, monkeypatch) -> None:
    import socket

    import pytest

    from bot.demo import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "qingdan-demo.db").write_bytes(b"data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as stopped:
            main(Settings(_env_file=None), taken.getsockname()[1], "127.0.0.1", fresh=True)
    assert stopped.value.code == 2
    assert (tmp_path / "qingdan-demo.db").read_bytes() == b"data"  # nothing deleted


def test_a_second_demo_in_the_same_folder_refuses_on_any_port(tmp_path: Path, monkeypatch, capsys) -> None:
    """A demo running in this folder (its scheduler holds qingdan-demo.db's lock): another one,
    on another port, would share the database with a second sandbox whose update ids the first
    one's marks skip — and with --reset delete the database under it. It stops, saying why."""
    import fcntl
    import os
    import socket

    import pytest

    from bot.demo import main

    async def started(*args: object) -> None:
        raise AssertionError("a second demo started on the same database")

    monkeypatch.setattr("bot.demo.run_demo", started)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qingdan-demo.db").write_bytes(b"data")
    fd = os.open(tmp_path / "qingdan-demo.db.scheduler.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the running demo's scheduler holds it
        os.write(fd, b"4242")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        for fresh in (True, False):
            with pytest.raises(SystemExit) as stopped:
                main(Settings(_env_file=None), free, "127.0.0.1", fresh=fresh)
            assert stopped.value.code == 2
            assert "另一个 qingdan demo（进程 4242）" in capsys.readouterr().err
        assert (tmp_path / "qingdan-demo.db").read_bytes() == b"data"  # nothing deleted
    finally:
        os.close(fd)


def _qingdan(tmp_path: Path, *args: str, **settings: str):
    """`qingdan ARGS` in a subprocess with these settings (and no others from the environment)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k.upper() not in {name.upper() for name in Settings.model_fields}}
    env.update(PYTHONPATH=str(ENV_EXAMPLE.parent), **settings)
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_a_bot_api_server_url_without_its_scheme_is_named_not_retried_for_ever(tmp_path: Path) -> None:
    """TELEGRAM_API_URL=127.0.0.1:8081 (no http://) was taken: `qingdan run` then retried
    setMyCommands for ever ("NonHttpUrlClientError"); it is refused by name, as the others."""
    done = _qingdan(tmp_path, "lists", "show", TELEGRAM_API_URL="127.0.0.1:8081", LOCALE="en")
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[1] == ("TELEGRAM_API_URL: not a Bot API server address; e.g. http://127.0.0.1:8081 "
                        "(http:// or https://), or empty for Telegram itself ('127.0.0.1:8081')")
    for bad in ("127.0.0.1:8081", "localhost", "ftp://h/", "http://", "http://h:port"):
        with pytest.raises(ValidationError):
            Settings(telegram_api_url=bad, _env_file=None)
    for good in ("", "http://127.0.0.1:8081", "https://botapi.example.org/", "http://localhost:8081/x"):
        assert Settings(telegram_api_url=good, _env_file=None).telegram_api_url == good


def test_a_time_zone_that_is_not_one_is_named_not_a_traceback(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "consultations", "create", "--title", "t", "--township", "x",
                    "--closes", "2099-12-10 18:00", TIMEZONE="Asia/Shanghai # local time")
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("设置有误") and lines[1].startswith("TIMEZONE: 不是时区")
    assert "'Asia/Shanghai # local time'" in lines[1]
    for bad in ("Mars/Olympus", "asia/shanghai", "", "/etc/localtime", "Asia"):
        with pytest.raises(ValidationError):
            Settings(timezone=bad, _env_file=None)
    assert Settings(timezone="Europe/Berlin", _env_file=None).timezone == "Europe/Berlin"


def test_a_redis_url_that_is_not_one_is_named_before_the_bot_starts(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "run", "--no-scheduler", REDIS_URL="127.0.0.1:6379", BOT_TOKEN=TEST_TOKEN,
                    TELEGRAM_API_URL="http://127.0.0.1:9", DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}")
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("设置有误") and lines[1].startswith("REDIS_URL: 不是 Redis 地址")
    assert "'127.0.0.1:6379'" in lines[1]
    for good in ("", "redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380/1", "unix:///run/redis.sock"):
        assert Settings(redis_url=good, _env_file=None).redis_url == good


def test_a_database_url_the_bot_cannot_open_is_named_not_a_traceback(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "lists", "show", DATABASE_URL="sqlite+aiosqlite://qingdan.db")  # two slashes
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("设置有误") and lines[1].startswith("DATABASE_URL: 不是 SQLite 或 PostgreSQL 数据库地址")
    assert "'sqlite+aiosqlite://qingdan.db'" in lines[1]
    for bad in ("postgresql+asycpg://u:p@db:5432/q", "mysql://u:p@db/q", "sqlite+aiosqlite://host/q.db"):
        with pytest.raises(ValidationError):
            Settings(database_url=bad, _env_file=None)
    for good in ("sqlite:///q.db", "sqlite+aiosqlite:////srv/q.db", "postgres://u@db/q", "postgresql://u@db/q",
                 "postgresql+psycopg://u@db/q", "postgresql+asyncpg://u:p@db:5432/q"):
        assert Settings(database_url=good, _env_file=None).database_url == good


def test_settings_errors_speak_the_locale_set_in_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOCALE=en\nTIMEZONE=Mars/Olympus\n", encoding="utf-8")
    done = _qingdan(tmp_path, "lists", "show")
    assert done.returncode == EX_CONFIG
    assert done.stderr.splitlines()[:2] == [
        "Invalid settings (environment or .env; see .env.example):",
        "TIMEZONE: not a time zone; e.g. Asia/Shanghai or UTC (an IANA name, case-sensitive) ('Mars/Olympus')"]


def test_a_database_that_cannot_be_opened_is_named_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: PostgreSQL is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _qingdan(tmp_path, "db", "upgrade", DATABASE_URL=f"postgresql+asyncpg://qingdan:SECRET@127.0.0.1:{port}/q")
    missing = _qingdan(tmp_path, "lists", "show", DATABASE_URL=f"sqlite:///{tmp_path}/no/such/folder/q.db")
    (tmp_path / "notes.db").write_text("not a database, but a file of notes\n" * 100, encoding="utf-8")
    not_db = _qingdan(tmp_path, "consultations", "list", DATABASE_URL=f"sqlite:///{tmp_path}/notes.db")
    (tmp_path / "qingdan-demo.db").mkdir()  # the demo's database cannot be opened
    demo = _qingdan(tmp_path, "demo", "--port", str(port), LOCALE="en")
    for done in (down, missing, not_db, demo):
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert down.stderr.startswith(f"无法打开数据库 postgresql+asyncpg://qingdan:***@127.0.0.1:{port}/q：")
    assert "SECRET" not in down.stderr and "refused" in down.stderr.splitlines()[0]
    assert missing.stderr.startswith(f"无法打开数据库 sqlite:///{tmp_path}/no/such/folder/q.db：unable to open")
    assert "Cannot open the database sqlite+aiosqlite:///qingdan-demo.db: unable to open" in demo.stderr
    assert not_db.stderr.startswith(f"无法打开数据库 sqlite:///{tmp_path}/notes.db：file is not a database")
    assert (tmp_path / "notes.db").read_text(encoding="utf-8").startswith("not a database")  # left as it was


def test_a_database_url_refused_is_shown_without_its_password(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "lists", "show", DATABASE_URL="postgresql+asycpg://qingdan:s3cr3t-pw@db:5432/q")
    assert done.returncode == EX_CONFIG and "s3cr3t-pw" not in done.stderr
    assert "'postgresql+asycpg://qingdan:***@db:5432/q'" in done.stderr


def test_locale_ids_and_pool_sizes_are_checked_when_read() -> None:
    for bad in ({"locale": "fr"}, {"organizer_ids": "12, abc"}, {"organizer_ids": "1.5"},
                {"database_max_overflow": -1}, {"database_pool_size": 0}):
        with pytest.raises(ValidationError):
            Settings(**bad, _env_file=None)
    assert Settings(locale="en-US", _env_file=None).locale == "en"
    assert Settings(locale="zh-hans", _env_file=None).locale == "zh_CN"
    assert Settings(organizer_ids="12; 34 56", _env_file=None).organizer_ids == [12, 34, 56]


def test_a_refused_url_never_shows_its_password_however_it_is_mistyped() -> None:
    # the URLs refused are the mistyped ones: a scheme with one slash or no colon, a bad
    # port; and REDIS_URL holds a password as often as DATABASE_URL does
    from bot.config import settings_error

    for setting, value, shown in (
            ("database_url", "postgresql+asyncpg:/qingdan:s3cr3t@db/q", "postgresql+asyncpg:/qingdan:***@db/q"),
            ("database_url", "postgresql+asyncpg//qingdan:s3cr3t@db/q", "postgresql+asyncpg//qingdan:***@db/q"),
            ("database_url", "postgresql+asycpg://qingdan:s3cr3t/x@db:5432/q", "postgresql+asycpg://qingdan:***@db:5432/q"),
            ("redis_url", "redis//:s3cr3t@127.0.0.1:6379/0", "redis//:***@127.0.0.1:6379/0"),
            ("redis_url", "redis://:s3cr3t@127.0.0.1:port/0", "redis://:***@127.0.0.1:port/0")):
        with pytest.raises(ValidationError) as refused:
            Settings(**{setting: value}, _env_file=None)
        text = settings_error(refused.value, "en")
        assert text is not None and "s3cr3t" not in text and f"'{shown}'" in text, text


def test_a_bot_username_written_as_telegram_shows_it_gives_working_links() -> None:
    """BOT_USERNAME=@qingdan_bot (as Telegram writes it) is the bot qingdan_bot: every link
    builder — consultation deep links, invite links — makes https://t.me/qingdan_bot?start=…"""
    from storage.invites import invite_link
    from surveys.consultation import deep_link

    for typed in ("@qingdan_bot", " qingdan_bot ", "qingdan_bot"):
        username = Settings(bot_username=typed, _env_file=None).bot_username
        assert username == "qingdan_bot", typed
        assert deep_link(username, "abc123") == "https://t.me/qingdan_bot?start=abc123"
    assert deep_link("@qingdan_bot", "abc123") == "https://t.me/qingdan_bot?start=abc123"
    assert invite_link("@qingdan_bot", "xyz") == deep_link("qingdan_bot", "inv_xyz")


def test_a_bot_username_no_link_can_be_made_of_is_named_not_a_traceback(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "links", "1", BOT_USERNAME="https://t.me/qingdan_bot")
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("设置有误") and lines[1].startswith("BOT_USERNAME: 不是机器人的用户名")
    assert "'https://t.me/qingdan_bot'" in lines[1]
    for bad in ("qingdan bot", "t.me/qingdan_bot", "qing", "@", "清单bot_bot"):
        with pytest.raises(ValidationError):
            Settings(bot_username=bad, _env_file=None)
    assert Settings(_env_file=None).bot_username == ""  # unset: asked of the Bot API


def test_every_setting_refused_is_explained_in_the_locale() -> None:
    """ORGANIZER_IDS, LOCALE and the pool sizes are refused in the operator's language too,
    not in pydantic's or the validator's English under a Chinese heading."""
    from bot.config import settings_error

    cases = {"ORGANIZER_IDS": {"organizer_ids": "12, abc"}, "LOCALE": {"locale": "fr"},
             "DATABASE_POOL_SIZE": {"database_pool_size": "ten"},
             "DATABASE_MAX_OVERFLOW": {"database_max_overflow": -1}}
    expected = {
        "zh_CN": {"ORGANIZER_IDS": "不是 Telegram 用户编号", "LOCALE": "不是机器人支持的语言",
                  "DATABASE_POOL_SIZE": "应当是不小于 1 的整数", "DATABASE_MAX_OVERFLOW": "应当是不小于 0 的整数"},
        "en": {"ORGANIZER_IDS": "not a list of Telegram user ids", "LOCALE": "not a language of the bot",
               "DATABASE_POOL_SIZE": "a whole number, 1 or more", "DATABASE_MAX_OVERFLOW": "a whole number, 0 or more"},
    }
    for name, values in cases.items():
        with pytest.raises(ValidationError) as refused:
            Settings(**values, _env_file=None)
        for locale, starts in expected.items():
            text = settings_error(refused.value, locale)
            assert text is not None and text.startswith(f"{name}: {starts[name]}"), (locale, text)
    with pytest.raises(ValidationError) as refused:
        Settings(database_pool_size=0, _env_file=None)
    assert settings_error(refused.value, "zh_CN") == "DATABASE_POOL_SIZE: 应当是不小于 1 的整数（默认 10） (0)"


def test_db_upgrade_to_a_revision_that_does_not_exist_is_named_not_a_traceback(tmp_path: Path) -> None:
    done = _qingdan(tmp_path, "db", "upgrade", "0099", DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().startswith("找不到数据库迁移版本 0099"), done.stderr
    from storage.migrate import schema_state

    (head,) = schema_state(f"sqlite:///{tmp_path / 'q.db'}").heads
    assert f"最新的版本是 {head}" in done.stderr  # the newest one, to pick from


def test_the_demo_banner_says_organizers_import_a_list_by_sending_the_file() -> None:
    """The banner said lists are imported on the command line only, after the chat import came."""
    from bot.texts import gettext

    for locale, said in (("zh_CN", "清单文件（Excel/CSV）发到聊天里即可导入"), ("en", "by sending the file")):
        assert said in gettext("cli.demo-banner", locale, url="http://127.0.0.1:8080/", code="abc", database="D", cli="qingdan")


async def test_an_english_demo_has_its_organizer_and_cadre_chat_in_english(tmp_path: Path) -> None:
    """`LOCALE=en qingdan demo` opened an English page whose 王主任 and 李干部 were answered in
    Chinese (their preset Telegram language): they now chat in English, the two residents
    stay one Chinese and one English; a Chinese demo is as it was."""
    from bot.demo import PRESETS, demo_presets
    from bot.sandbox.server import running_sandbox
    from surveys.i18n import gettext

    english = {p["role"] if p["role"] != "resident" else p["first_name"]: p["language_code"]
               for p in demo_presets("en")}
    assert english == {"organizer": "en", "cadre": "en", "张大爷": "zh-hans", "Alice": "en"}
    assert demo_presets("zh_CN") == PRESETS and all(p["language_code"] == "zh-hans" for p in PRESETS[:3])
    from bot.demo import DEMO_TOKEN, ORGANIZER_ID

    async with running_sandbox(presets=demo_presets("en"), tokens=[DEMO_TOKEN], language="en") as sb:
        assert sb.sandbox.register_user(DEMO_TOKEN, ORGANIZER_ID).user["language_code"] == "en"
    banner = gettext("cli.demo-banner", "en", url="u", code="c", database="D", cli="qingdan")
    assert "Alice" in banner and "/start c" in banner


def test_a_settings_file_not_in_utf8_is_named_not_a_traceback(tmp_path: Path) -> None:
    """A .env saved by a Chinese Windows editor (GBK, a comment in Chinese) stopped every
    command with a UnicodeDecodeError traceback; it is named, with what to do."""
    (tmp_path / ".env").write_bytes("# 机器人设置\nLOCALE=zh_CN\n".encode("gbk"))
    done = _qingdan(tmp_path, "lists", "show")
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == "设置文件 .env 不是 UTF-8 编码（第 1 行）：请用 UTF-8 另存后再试。"
    (tmp_path / ".env").write_bytes("\ufeff# 机器人设置\nLOCALE=en\n".encode())  # UTF-8 with a BOM is fine
    assert _qingdan(tmp_path, "lists", "show").stdout.strip() == "No lists imported yet."


def test_the_demo_banner_gives_a_list_import_command_that_runs_from_another_terminal(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    """The banner's command-line import was `DATABASE_URL=sqlite+aiosqlite:///qingdan-demo.db qingdan
    lists import …`: after the README's `.venv/bin/qingdan demo`, another terminal has no `qingdan`
    on its PATH (command not found), and in another folder the relative database is a new empty
    one. It names the qingdan the demo was started with and the demo database's full path."""
    import shlex
    import sys

    from bot.demo import demo_banner

    script = tmp_path / ".venv" / "bin" / "qingdan"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    db = tmp_path / "qingdan-demo.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # not activated
    for locale, words in (("zh_CN", "文件 --township 乡镇"), ("en", "FILE --township TOWNSHIP")):
        text = demo_banner(locale, "http://127.0.0.1:8080/", "abc", db, ".venv/bin/qingdan")
        assert f"DATABASE_URL=sqlite+aiosqlite:///{db} {script} lists import {words}" in text, text
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")  # activated: plain qingdan runs it
    assert f"///{db} qingdan lists import" in demo_banner("en", "u", "c", db, str(script))
    # started as python -m bot: the same again
    said = demo_banner("en", "u", "c", db, str(tmp_path / "bot" / "__main__.py"))
    assert f"///{db} {shlex.quote(sys.executable)} -m bot lists import" in said
    # a folder with a space: the setting stays a setting for the shell (quoted after the =)
    spaced = tmp_path / "my demo" / "qingdan-demo.db"
    said = demo_banner("en", "u", "c", spaced, str(script))
    assert f"DATABASE_URL='sqlite+aiosqlite:///{spaced}' " in said, said


async def test_a_demo_on_an_ipv6_or_every_address_gives_a_url_that_opens(tmp_path: Path) -> None:
    """`qingdan demo --host ::1` stopped with a gaierror traceback (the port check spoke IPv4
    only), and past it the bot would have polled http://::1:PORT, no URL at all; `--host 0.0.0.0`
    printed http://0.0.0.0:PORT/, which a browser on Windows or macOS does not open. The port
    check takes any address, and the URL the bot polls and the banner shows is one that opens:
    IPv6 in brackets, a listen-on-every-address host as the loopback."""
    import aiohttp

    from bot.demo import port_taken
    from bot.sandbox.server import running_sandbox

    for host, shown in (("::1", "[::1]"), ("::", "[::1]"), ("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")):
        async with running_sandbox(host=host, tokens=["1:a"]) as sb:
            assert sb.base_url == f"http://{shown}:{sb.port}"
            assert port_taken(host, sb.port)
            async with aiohttp.ClientSession() as http, http.get(f"{sb.base_url}/bot1:a/getMe") as r:
                assert r.status == 200
        assert not port_taken(host, sb.port)


def test_a_demo_served_on_every_address_says_the_address_another_machine_opens(tmp_path: Path, monkeypatch) -> None:
    """`qingdan demo --host 0.0.0.0` printed only http://127.0.0.1:PORT/, which opens nothing
    from another machine: the banner now names this machine's network address too (or, with
    none found, says to use it); on the loopback it is as it was."""
    import bot.demo as demo

    db = tmp_path / "qingdan-demo.db"
    monkeypatch.setattr(demo, "lan_address", lambda: "192.168.1.23")
    for locale in ("zh_CN", "en"):
        wide = demo.demo_banner(locale, "http://127.0.0.1:8108/", "abc", db, "qingdan", host="0.0.0.0", port=8108)
        assert "http://127.0.0.1:8108/" in wide and "http://192.168.1.23:8108/" in wide
        assert wide.index("127.0.0.1:8108") < wide.index("192.168.1.23") < wide.index("/start abc")
        local = demo.demo_banner(locale, "http://127.0.0.1:8108/", "abc", db, "qingdan", host="127.0.0.1", port=8108)
        assert "192.168.1.23" not in local
    monkeypatch.setattr(demo, "lan_address", lambda: None)
    said = demo.demo_banner("zh_CN", "http://127.0.0.1:8108/", "abc", db, "qingdan", host="::", port=8108)
    assert "本机的IP地址:8108" in said and "127.0.0.1 只在本机上能用" in said
    found = demo.lan_address()
    assert found is None or not found.startswith("127.")


async def test_the_demo_banner_gives_the_link_code_of_an_open_consultation(sqlite_database) -> None:
    """After the organizer's walk-through (the demo consultation closed, another one opened),
    a restarted demo still told 张大爷 to send the closed consultation's /start code, which
    only says it has ended; the banner now gives an open consultation's code."""
    import sqlalchemy as sa

    from bot.config import Settings
    from bot.demo import DEMO_TOKEN, seed, seed_sample
    from storage.engine import make_engine, make_sessionmaker
    from storage.models import Consultation

    settings = Settings(_env_file=None, database_url=sqlite_database.url, bot_token=DEMO_TOKEN)
    demo_code = await seed(settings)
    assert await seed(settings) == demo_code  # (run again: the same)
    engine = make_engine(sqlite_database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            await s.execute(sa.update(Consultation).values(status="closed"))
            await s.commit()
        assert await seed(settings) == demo_code  # (none open: still the demo one's)
        seeded = await seed_sample(sqlite_database.url, township="绿水乡")
        assert seeded is not None
        assert await seed(settings) == seeded[2] != demo_code
    finally:
        await engine.dispose()


def test_a_database_url_at_a_port_that_answers_nothing_is_named_not_waited_for_for_ever(tmp_path: Path) -> None:
    """DATABASE_URL with a port where something accepts the connection but never speaks
    PostgreSQL (Redis's 6379 typed for 5432; a server that hangs): `qingdan db upgrade`, and
    `qingdan run` before it, waited for ever without a word — under systemd a unit "running"
    that did nothing. Now each gives up after storage.engine.CONNECT_TIMEOUT with the line
    that names the database, exit 2 (restarted: the server may come back)."""
    import socket
    import threading

    from storage.engine import CONNECT_TIMEOUT

    assert CONNECT_TIMEOUT <= 15
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def accept() -> None:  # accept, and say nothing
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        url = f"postgresql+asyncpg://qingdan:SECRET@127.0.0.1:{port}/qingdan"
        for args in (("db", "upgrade"), ("run", "--no-scheduler")):
            done = _qingdan(tmp_path, *args, DATABASE_URL=url, BOT_TOKEN="123456:test-token",
                            PSEUDONYM_KEY="a-long-random-test-key")
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
            assert done.stderr.startswith(f"无法打开数据库 postgresql+asyncpg://qingdan:***@127.0.0.1:{port}/qingdan："), \
                done.stderr[-1500:]
            assert "SECRET" not in done.stderr
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_the_demo_keeps_its_fsm_in_its_own_database_whatever_redis_url_says(tmp_path: Path) -> None:
    """`qingdan demo` run where .env holds the production settings took REDIS_URL too: its
    chats' FSM went into that Redis, and a REDIS_URL Redis refuses (no such database number)
    failed each of its updates with the apology (and now stopped it at the start). The demo is
    one process on its own SQLite file: its FSM lives there, as everything else of it."""
    from bot.demo import demo_settings

    base = Settings(redis_url="redis://127.0.0.1:6379/99", _env_file=None)
    assert demo_settings(base, tmp_path / "qingdan-demo.db").redis_url == ""
