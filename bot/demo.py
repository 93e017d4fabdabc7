"""`qingdan demo`: the sandbox, the bot polling it and the scheduler, on a demo
SQLite database seeded with the sample draft and an open demo consultation."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.texts import gettext, normalize_locale
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import schema_state, upgrade

if TYPE_CHECKING:
    from bot.sandbox.server import Sandbox

log = logging.getLogger(__name__)

DEMO_TOKEN = "1000000001:qingdan-demo-sandbox-token"
DEMO_BOT_USERNAME = "qingdan_demo_bot"
DEMO_DB = "qingdan-demo.db"
DEMO_TOWNSHIP = "青山镇"
ORGANIZER_ID, CADRE_ID, RESIDENT_ID = 1001, 2001, 3001
PRESETS = [
    {"id": ORGANIZER_ID, "first_name": "王主任", "username": "organizer_wang", "language_code": "zh-hans",
     "role": "organizer"},
    {"id": CADRE_ID, "first_name": "李干部", "username": "cadre_li", "language_code": "zh-hans", "role": "cadre"},
    {"id": RESIDENT_ID, "first_name": "张大爷", "username": "resident_zhang", "language_code": "zh-hans",
     "role": "resident"},
    {"id": 4001, "first_name": "Alice", "username": "resident_alice", "language_code": "en", "role": "resident"},
]



def demo_presets(locale: str) -> list[dict]:
    """The web chat's preset users for a demo in `locale` (LOCALE): in an English demo the
    organizer and the cadre chat in English too (their Telegram says "en"), as the page does;
    the residents stay one Chinese (张大爷) and one English (Alice)."""
    if normalize_locale(locale) != "en":
        return PRESETS
    return [dict(p, language_code="en") if p["role"] in ("organizer", "cadre") else p for p in PRESETS]


def demo_settings(base: Settings, db_path: Path) -> Settings:
    return base.model_copy(update={
        "database_url": f"sqlite+aiosqlite:///{db_path}",
        "redis_url": "",  # one process: its FSM in its own database, never a Redis of the .env
        "bot_token": DEMO_TOKEN,
        "bot_username": DEMO_BOT_USERNAME,
        "organizer_ids": sorted({*base.organizer_ids, ORGANIZER_ID}),
    })


SAMPLE_TITLE = "青山镇履行职责事项清单（征求意见稿）意见征询"


async def seed_sample(url: str, *, consultation: bool = True, created_by: int = ORGANIZER_ID,
                      township: str = DEMO_TOWNSHIP) -> tuple[int, int, str] | None:
    """Import the sample draft for `township` (as `qingdan lists import` would) and, with
    `consultation`, open a consultation on it with the default questionnaire (opened a
    minute ago, closing in 14 days). Returns (consultation id, township id, link code), or
    None without a consultation. The demo, the end-to-end tests and the benchmarks seed
    with this."""
    from datetime import UTC, datetime

    from storage import consultations, lists
    from surveys.consultation import Status
    from surveys.importer import read_duty_list
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
    from surveys.samples import make_samples

    result = read_duty_list(Path(make_samples.__file__).with_name("sample_draft.xlsx"))
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            row = await lists.save_list(s, township, result.items, source_file="sample_draft.xlsx")
            if not consultation:
                await s.commit()
                return None
            now = datetime.now(UTC)
            c = await consultations.create_consultation(
                s, title=SAMPLE_TITLE, questionnaire=DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"),
                opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=14),
                list_ids=[row.id], created_by=created_by)
            await consultations.set_status(s, c, Status.OPEN)
            await s.commit()
            link = (await consultations.links(s, c.id))[0]
            return c.id, link.township_id, link.code
    finally:
        await engine.dispose()


async def seed(settings: Settings) -> str:
    """The sample list, an open demo consultation and a verified demo cadre — unless they
    are there already. Returns the resident link code the banner gives: the first open
    consultation's (the demo one until it was closed, then one opened since), else the demo one's."""
    from storage import consultations
    from storage.models import Consultation, Person

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            existing = (await s.scalars(sa.select(Consultation.id).order_by(Consultation.id))).first()
        if existing is None:
            seeded = await seed_sample(settings.database_url)
            assert seeded is not None
            existing, township_id, _ = seeded
            async with make_sessionmaker(engine)() as s:
                s.add(Person(id=CADRE_ID, first_name="李干部", role="cadre", township_id=township_id))
                await s.commit()
        async with make_sessionmaker(engine)() as s:
            from surveys.consultation import Status

            existing = (await s.scalars(sa.select(Consultation.id).where(Consultation.status == Status.OPEN.value)
                                        .order_by(Consultation.id))).first() or existing
            return (await consultations.links(s, existing))[0].code
    finally:
        await engine.dispose()


async def run_demo(settings: Settings, port: int, host: str) -> None:
    from bot.app import build_runtime, run_polling
    from bot.db import reachable
    from bot.sandbox.server import running_sandbox

    with reachable(settings):
        state = schema_state(settings.database_url)
        if state.ahead:  # a newer version's demo database: this one cannot use it
            print(gettext("cli.demo-db-ahead", settings.locale, db=make_url(settings.database_url).database,
                          revision=", ".join(state.revisions), head=", ".join(state.heads)),
                  file=sys.stderr, flush=True)
            raise SystemExit(2)
        upgrade(settings.database_url)
    code = await seed(settings)
    first_update, first_message = resume_points(Path(make_url(settings.database_url).database or DEMO_DB))
    async with running_sandbox(port=port, host=host, presets=demo_presets(settings.locale), tokens=[DEMO_TOKEN],
                               bot_username=DEMO_BOT_USERNAME, bot_first_name="清单征询",
                               first_update_id=first_update, first_message_id=first_message,
                               language=settings.locale) as sb:
        api = sb.base_url
        settings = settings.model_copy(update={"telegram_api_url": api})
        runtime = build_runtime(settings)
        # the sandbox starts empty: the chats Telegram would remember, and the menus of the people who had
        # their own (the demo cadre among them)
        await restore_menus(runtime, sb.sandbox)
        db = Path(make_url(settings.database_url).database or DEMO_DB)
        print(demo_banner(settings.locale, f"{api}/", code, db, host=host, port=sb.port), flush=True)
        from bot.scheduler import running

        async with running(runtime):
            await run_polling(runtime)


async def restore_menus(runtime: Any, sandbox: Sandbox) -> None:
    """The chats Telegram keeps and the demo's sandbox forgets (it starts empty each run): the
    preset users' and everybody's in the database (listed in the web chat again; a menu for a
    chat the bot does not have is refused, as Telegram refuses it), and the command menu of
    everybody with one of their own — cadres and organizers (the demo cadre too, made one in
    the database, not by an invite), anyone who chose a language with /language — in the
    language they chose (ORGANIZER_IDS' are set by run_polling)."""
    from bot.app import chosen_language, set_person_commands
    from storage.models import Person

    presets = {int(p["id"]) for p in sandbox.presets}
    for preset_id in presets:
        sandbox.register_user(runtime.settings.bot_token, preset_id)
    async with runtime.sessionmaker() as s:
        everybody = (await s.scalars(sa.select(Person).order_by(Person.id))).all()
    for person in everybody:
        if person.id in presets:  # (as the page shows them: their Telegram's language, not a /language choice)
            chat = sandbox.register_user(runtime.settings.bot_token, person.id)
        else:
            language = "en" if person.language.startswith("en") else "zh-hans" if person.language else None
            chat = sandbox.register_user(runtime.settings.bot_token, person.id, person.first_name or None,
                                         language_code=language)
        chat.blocked = not person.active  # (one who blocked the bot has it blocked still)
    organizers = set(runtime.settings.organizer_ids)
    people = [p for p in everybody if p.role in ("cadre", "organizer") or p.language_chosen]
    for person in people:
        if person.id in organizers:
            continue
        role = "cadre" if person.role == "cadre" and person.township_id is not None else \
            "organizer" if person.role == "organizer" else "resident"
        await set_person_commands(runtime.bot, person.id, role, runtime.settings.locale,
                                  chosen=chosen_language(person))


def cli_command(argv0: str) -> str:
    """How another terminal runs the qingdan this one was started as (`argv0`): plain
    `qingdan` when that is what PATH finds, else its full path (`.venv/bin/qingdan` with the
    virtualenv not activated there), or this Python's `-m bot`."""
    import shlex
    import shutil

    path = Path(argv0)
    if path.name != "qingdan":  # python -m bot, or another wrapper
        return f"{shlex.quote(sys.executable)} -m bot"
    found = shutil.which("qingdan")
    if found and Path(found).resolve() == path.resolve():
        return "qingdan"
    return shlex.quote(str(path.resolve()))


def lan_address() -> str | None:
    """This machine's address on its network (the one its default route leaves by; no packet is
    sent), or None when it has none but the loopback."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # (TEST-NET-1: a UDP connect only picks the route)
            found = s.getsockname()[0]
    except OSError:
        found = None
    if not found or found.startswith("127.") or found == "0.0.0.0":
        try:
            found = next((a for a in socket.gethostbyname_ex(socket.gethostname())[2]
                          if not a.startswith("127.")), None)
        except OSError:
            found = None
    return found


def demo_banner(locale: str, url: str, code: str, db_path: Path, argv0: str | None = None, *,
                host: str = "127.0.0.1", port: int | None = None) -> str:
    """What the demo prints at start: the web chat's address, what each preset user sends, and
    a list import on the command line that runs from any terminal (the database's full path).
    Served on every address (--host 0.0.0.0 or ::), it also says the address another machine
    opens (127.0.0.1 is every machine's own), or, with none found, to use this machine's."""
    import shlex

    url_setting = "DATABASE_URL=" + shlex.quote(f"sqlite+aiosqlite:///{db_path.resolve()}")  # (an assignment, quoted after the =)
    text = gettext("cli.demo-banner", locale, url=url, code=code, database=url_setting,
                   cli=cli_command(sys.argv[0] if argv0 is None else argv0))
    if host.strip("[]") in ("", "0.0.0.0", "::") and port is not None:
        address = lan_address()
        other = gettext("cli.demo-banner-lan", locale, url=f"http://{address}:{port}/") if address else \
            gettext("cli.demo-banner-lan-unknown", locale, port=port)
        first, _, rest = text.lstrip("\n").partition("\n")
        text = f"\n{first}\n{other}\n{rest}"
    return text


def resume_points(db_path: Path) -> tuple[int, int]:
    """The first update_id and message_id the sandbox must hand out for a demo database
    used before: past every update it marked processed (else the bot skips the new ones as
    redelivered) and past every message id it keeps — live question messages (else presses on
    the new ones look like presses on old messages), residents' typed answers and cadres'
    messages that became comments (else an edit of a new message of the same id changes that
    answer or comment), broadcast messages. The sandbox itself starts empty each run."""
    import json
    import sqlite3

    def ids(value: object) -> list[int]:
        return [int(v) for v in (value if isinstance(value, list | tuple) else [value])
                if isinstance(v, int | str) and str(v).isdecimal()]

    def data(raw: object) -> dict:
        try:
            found = json.loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    conn = sqlite3.connect(db_path)
    try:
        update = conn.execute("SELECT COALESCE(MAX(update_id), 0) FROM processed_update").fetchone()[0]
        message = max(conn.execute("SELECT COALESCE(MAX(message_id), 0) FROM response").fetchone()[0],
                      conn.execute("SELECT COALESCE(MAX(message_id), 0) FROM delivery").fetchone()[0])
        for (screen,) in conn.execute("SELECT screen FROM response"):  # bot.routers.resident TYPED
            typed = data(screen).get("typed")
            message = max([message, *ids(list(typed.values()) if isinstance(typed, dict) else [])])
        for (fsm,) in conn.execute("SELECT data FROM fsm_state"):  # bot.routers.cadre TYPED
            typed = data(fsm).get("ctyped")
            message = max([message, *ids(list(typed) if isinstance(typed, dict) else [])])
    finally:
        conn.close()
    return int(update) + 1, int(message) + 1


def port_taken(host: str, port: int) -> bool:
    """Whether something answers on host:port (an IPv4 or IPv6 host; 0.0.0.0 and :: at the loopback)."""
    import socket

    from bot.sandbox.server import connectable_host

    try:
        with socket.create_connection((connectable_host(host), port), timeout=2):
            return True
    except OSError:
        return False


def reset(db_path: Path) -> None:
    """Delete the demo database and the scheduler's job store beside it (bot.scheduler
    jobstore_url): jobs of the old database must not run against the new one."""
    for base in (f"{db_path}", f"{db_path}.jobs"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{base}{suffix}").unlink(missing_ok=True)


def running_demo(db_path: Path) -> str | None:
    """The pid (or "?") of a demo already running on `db_path` — its scheduler holds the
    database's lock file (bot.scheduler.FileLock) — or None."""
    import fcntl
    import os

    lock = Path(f"{db_path}.scheduler.lock")
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 32).decode("ascii", "replace").strip() or "?"
    finally:
        os.close(fd)  # (closing drops a lock taken here)
    return None


def main(settings: Settings, port: int, host: str, fresh: bool) -> None:
    db_path = Path(DEMO_DB)
    if port_taken(host, port):  # (before --reset: a running demo's database must not be deleted under it)
        print(gettext("cli.demo-port-taken", settings.locale, host=host, port=port), file=sys.stderr, flush=True)
        raise SystemExit(2)
    if (pid := running_demo(db_path)) is not None:  # on another port: the same database, another sandbox
        print(gettext("cli.demo-running", settings.locale, pid=pid, db=db_path), file=sys.stderr, flush=True)
        raise SystemExit(2)
    if fresh:
        reset(db_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_demo(demo_settings(settings, db_path), port, host))
    except KeyboardInterrupt:
        pass
