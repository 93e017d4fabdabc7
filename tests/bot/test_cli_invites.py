"""`qingdan invites create/list/revoke` against a temporary SQLite database: one
deep link per code, the list with statuses (text and JSON), revoking, and clear
refusals of bad options."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_USERNAME", "qingdan_test_bot")
    monkeypatch.setenv("BOT_TOKEN", "")
    monkeypatch.setenv("LOCALE", "zh_CN")
    get_settings.cache_clear()
    from storage.migrate import upgrade

    upgrade(url)
    asyncio.run(_township(url, "青山镇"))
    yield url
    get_settings.cache_clear()


async def _township(url: str, name: str) -> None:
    from storage.engine import make_engine, make_sessionmaker
    from storage.lists import get_or_create_township

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        await get_or_create_township(s, name)
        await s.commit()
    await engine.dispose()


def _app():
    from bot.cli import app

    return app


def test_create_prints_one_deep_link_per_code(cli_db) -> None:
    result = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--count", "3", "--expires", "2d"])
    assert result.exit_code == 0, result.output
    links = [line for line in result.stdout.splitlines() if line.startswith("https://")]
    assert len(links) == 3 and len(set(links)) == 3
    for link in links:
        assert link.startswith("https://t.me/qingdan_test_bot?start=inv_")
        code = link.rsplit("inv_", 1)[1]
        assert len(code) >= 10 and code.isalnum() and code.islower()
    assert "青山镇" in result.output and "3 个干部邀请链接" in result.output


def test_one_invite_is_announced_in_the_singular_in_english(cli_db, monkeypatch) -> None:
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    one = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--count", "1"])
    assert one.exit_code == 0, one.output
    head = one.output.splitlines()[0]
    assert head.startswith("Created 1 cadre invite link for 青山镇, valid until ") and "each" not in head, head
    two = runner.invoke(_app(), ["invites", "create", "--role", "organizer", "--count", "2", "--expires", "never"])
    assert two.output.splitlines()[0] == \
        "Created 2 organizer invite links for the whole county, with no expiry; a link works only once:"


def test_list_shows_status_and_json(cli_db) -> None:
    runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    made = runner.invoke(_app(), ["invites", "create", "--role", "organizer", "--expires", "never"])
    assert "全县" in made.output and "—" not in made.output.splitlines()[0]  # not "for —"
    result = runner.invoke(_app(), ["invites", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted((d["role"], d["township"], d["status"]) for d in data) == \
        [("cadre", "青山镇", "open"), ("organizer", None, "open")]
    organizer = next(d for d in data if d["role"] == "organizer")
    assert organizer["expires_at"] is None and organizer["url"].endswith("inv_" + organizer["code"])
    text = runner.invoke(_app(), ["invites", "list"])
    assert text.exit_code == 0 and "可用" in text.output and "长期" in text.output


def test_revoke_marks_the_invite_revoked_and_refuses_unknown_codes(cli_db) -> None:
    created = runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    result = runner.invoke(_app(), ["invites", "revoke", code])
    assert result.exit_code == 0 and "已作废" in result.output
    data = json.loads(runner.invoke(_app(), ["invites", "list", "--json"]).stdout)
    assert [d["status"] for d in data] == ["revoked"]
    unknown = runner.invoke(_app(), ["invites", "revoke", "nosuchcode00"])
    assert unknown.exit_code == 1 and "没有这个邀请" in unknown.output


def test_bad_options_are_refused_clearly(cli_db) -> None:
    no_town = runner.invoke(_app(), ["invites", "create"])
    assert no_town.exit_code == 2 and "--township" in no_town.output
    unknown_town = runner.invoke(_app(), ["invites", "create", "--township", "不存在镇"])
    assert unknown_town.exit_code == 1 and "没有找到乡镇" in unknown_town.output
    bad_expiry = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--expires", "soon"])
    assert bad_expiry.exit_code == 2 and "7d" in bad_expiry.output
    bad_role = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--role", "king"])
    assert bad_role.exit_code == 2
    assert json.loads(runner.invoke(_app(), ["invites", "list", "--json"]).stdout) == []


def test_list_of_an_unknown_township_says_so_instead_of_no_invites(cli_db) -> None:
    runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    result = runner.invoke(_app(), ["invites", "list", "--township", "青山乡"])  # a typo
    assert result.exit_code == 1
    assert "没有找到乡镇“青山乡”" in result.output and "还没有邀请" not in result.output


async def _redeem(url: str, code: str, person_id: int) -> None:
    from datetime import UTC, datetime

    from storage.engine import make_engine, make_sessionmaker
    from storage.invites import redeem
    from storage.models import Person

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        s.add(Person(id=person_id, first_name="干部"))
        await s.flush()
        assert (await redeem(s, code, person_id, datetime.now(UTC)))[1] == "ok"
        await s.commit()
    await engine.dispose()


async def _role(url: str, person_id: int) -> tuple[str, int | None]:
    from storage.engine import make_engine, make_sessionmaker
    from storage.models import Person

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        person = await s.get(Person, person_id)
        assert person is not None
        role = (person.role, person.township_id)
    await engine.dispose()
    return role


def test_revoke_demote_takes_back_the_role_a_used_invite_gave(cli_db) -> None:
    created = runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    asyncio.run(_redeem(cli_db, code, 4242))
    assert asyncio.run(_role(cli_db, 4242))[0] == "cadre"
    kept = runner.invoke(_app(), ["invites", "revoke", code])  # without --demote: refused, role kept
    assert kept.exit_code == 1 and "--demote" in kept.output
    assert asyncio.run(_role(cli_db, 4242))[0] == "cadre"
    taken = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])
    assert taken.exit_code == 0 and "4242" in taken.output and "普通群众" in taken.output
    assert asyncio.run(_role(cli_db, 4242)) == ("resident", None)
    again = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])  # nothing left to take back
    assert again.exit_code == 1 and "没有可收回的" in again.output


async def _made_by(url: str, person_id: int) -> str:
    """An invite the person made in the chat (/invite), as an organizer does."""
    from datetime import UTC, datetime, timedelta

    from storage.engine import make_engine, make_sessionmaker
    from storage.invites import create_invites

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        code = (await create_invites(s, None, "organizer", 1, datetime.now(UTC) + timedelta(days=7), person_id))[0].code
        await s.commit()
    await engine.dispose()
    return code


def test_revoke_demote_of_an_organizer_voids_the_invites_they_made_and_says_so(cli_db) -> None:
    created = runner.invoke(_app(), ["invites", "create", "--role", "organizer"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    asyncio.run(_redeem(cli_db, code, 4343))
    made = asyncio.run(_made_by(cli_db, 4343))
    taken = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])
    assert taken.exit_code == 0 and "他/她生成的 1 个尚未使用的邀请也已作废" in taken.output
    listed = json.loads(runner.invoke(_app(), ["invites", "list", "--json"]).stdout)
    assert {row["code"]: row["status"] for row in listed}[made] == "revoked"


def test_revoke_demote_in_english_says_what_else_was_revoked_in_a_sentence(cli_db, monkeypatch) -> None:
    """'1 unused invite they made revoked too' read as a headline missing its verb."""
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    created = runner.invoke(_app(), ["invites", "create", "--role", "organizer"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    asyncio.run(_redeem(cli_db, code, 4344))
    asyncio.run(_made_by(cli_db, 4344))
    taken = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])
    assert taken.exit_code == 0
    assert "Also revoked: 1 unused invite they had made (create new ones where needed)." in taken.output, taken.output


def test_a_link_without_expiry_is_announced_as_such(cli_db, monkeypatch: pytest.MonkeyPatch) -> None:
    made = runner.invoke(_app(), ["invites", "create", "--role", "organizer", "--expires", "never"])
    assert made.exit_code == 0, made.output
    head = made.output.splitlines()[0]
    assert "长期有效" in head and "前有效" not in head  # not "长期 前有效"
    monkeypatch.setenv("LOCALE", "en")
    get_settings.cache_clear()
    made = runner.invoke(_app(), ["invites", "create", "--role", "organizer", "--expires", "never"])
    head = made.output.splitlines()[0]
    assert "with no expiry" in head and "until" not in head  # not "valid until no expiry"
    dated = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--expires", "2d"])
    assert "valid until 20" in dated.output.splitlines()[0]


def test_a_bad_validity_names_never_as_allowed(cli_db) -> None:
    bad_expiry = runner.invoke(_app(), ["invites", "create", "--township", "青山镇", "--expires", "soon"])
    assert bad_expiry.exit_code == 2 and "never" in bad_expiry.output


async def _menu_rows(url: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from storage.engine import make_engine, make_sessionmaker
    from storage.models import Outbox

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        rows = (await s.execute(select(Outbox.key, Outbox.kind))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


def test_revoke_demote_leaves_the_demoted_persons_menu_reset_to_the_running_bot(cli_db) -> None:
    created = runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    asyncio.run(_redeem(cli_db, code, 4242))
    assert asyncio.run(_menu_rows(cli_db)) == []
    taken = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])
    assert taken.exit_code == 0 and "命令菜单" in taken.output
    assert asyncio.run(_menu_rows(cli_db)) == [("menu:4242", "menu")]  # the scheduler's sync sets it


class _FakeBotAPI:
    """A Bot API on a local port, in a thread of its own (the CLI runs its own event loop):
    records each method called with its JSON body; `up=False` answers every call with a 502."""

    def __init__(self, up: bool = True) -> None:
        import threading

        self.up = up
        self.calls: list[tuple[str, dict]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.json() if request.can_read_body else {}
            self.calls.append((request.match_info["method"], body))
            if not self.up:
                return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
            return web.json_response({"ok": True, "result": True})

        async def main() -> None:
            app = web.Application()
            app.router.add_post("/bot{token}/{method}", handle)
            runner_ = web.AppRunner(app, access_log=None)
            await runner_.setup()
            site = web.TCPSite(runner_, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            await runner_.cleanup()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(main())

    def __enter__(self) -> _FakeBotAPI:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.mark.parametrize("telegram_up", [True, False])
def test_revoke_demote_sets_the_persons_menu_back_at_once_and_leaves_it_to_the_scheduler_only_if_telegram_fails(
        cli_db, monkeypatch: pytest.MonkeyPatch, telegram_up: bool) -> None:
    """The demoted person's menu was left to the running scheduler's sync: with none running it
    stayed a cadre's. With BOT_TOKEN the command sets it back itself; Telegram failing, the outbox
    row stays for the scheduler as before."""
    created = runner.invoke(_app(), ["invites", "create", "--township", "青山镇"])
    code = created.stdout.strip().splitlines()[-1].rsplit("inv_", 1)[1]
    asyncio.run(_redeem(cli_db, code, 4242))
    with _FakeBotAPI(up=telegram_up) as api:
        monkeypatch.setenv("BOT_TOKEN", "123456:TEST")
        monkeypatch.setenv("TELEGRAM_API_URL", f"http://127.0.0.1:{api.port}")
        get_settings.cache_clear()
        taken = runner.invoke(_app(), ["invites", "revoke", code, "--demote"])
    assert taken.exit_code == 0, taken.output
    assert asyncio.run(_role(cli_db, 4242)) == ("resident", None)
    menus = [body for method, body in api.calls if method == "setMyCommands"]
    assert menus and all(body["scope"] == {"type": "chat", "chat_id": 4242} for body in menus)
    if telegram_up:
        assert len(menus) == 3  # zh, en and the default language's
        assert all("mycomments" not in {c["command"] for c in body["commands"]} for body in menus)
        assert "命令菜单已恢复为普通群众的菜单" in taken.output
        assert asyncio.run(_menu_rows(cli_db)) == []
    else:
        assert "1 分钟左右" in taken.output
        assert asyncio.run(_menu_rows(cli_db)) == [("menu:4242", "menu")]
