"""A command on a database whose schema is not this code's — empty, behind (an older
revision) or ahead (migrated by a newer version of Qingdan) — says what to do, in the
operator's language, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.engine import sync_url
from storage.migrate import schema_state, upgrade

REPO = Path(__file__).resolve().parents[2]
NEWER = "0999"  # a revision this code does not have: a newer Qingdan's


def _qingdan(url: str, cwd: Path, *args: str, locale: str = "zh_CN") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "BOT_", "WEBHOOK_", "TELEGRAM_", "PSEUDONYM_", "LOCALE"))}
    env.update(DATABASE_URL=url, BOT_TOKEN="123456:test-token", TELEGRAM_API_URL="http://127.0.0.1:9",
               PSEUDONYM_KEY="a-long-random-test-key", LOCALE=locale, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def _set_revision(url: str, revision: str) -> None:
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_schema_state_tells_empty_behind_current_and_ahead(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    state = schema_state(url)
    assert state.empty and not (state.behind or state.current or state.ahead)
    upgrade(url, "0002")
    state = schema_state(url)
    assert state.behind and state.revisions == ("0002",) and not (state.empty or state.current or state.ahead)
    upgrade(url)
    assert schema_state(url).current
    _set_revision(url, NEWER)
    state = schema_state(url)
    assert state.ahead and state.unknown == (NEWER,) and not (state.behind or state.current)


@pytest.mark.parametrize("locale, says", [("zh_CN", "更新版本的清单征询"), ("en", "a newer version upgraded it")])
def test_a_sqlite_database_a_newer_version_migrated_stops_run_scheduler_and_upgrade_with_advice(
        tmp_path: Path, locale: str, says: str) -> None:
    # on SQLite every command upgrades the schema first: on a newer one it died with
    # alembic's "Can't locate revision identified by …" traceback
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    _set_revision(url, NEWER)
    for args in (["run"], ["scheduler"], ["consultations", "list"], ["db", "upgrade"]):
        done = _qingdan(url, tmp_path, *args, locale=locale)
        assert done.returncode == 2, (args, done.stderr[-1500:])
        assert "Traceback" not in done.stderr and says in done.stderr, (args, done.stderr[-1500:])
        assert NEWER in done.stderr
    assert schema_state(url).revisions == (NEWER,)  # left as it was


@pytest.mark.postgres
def test_a_postgres_database_empty_behind_or_ahead_stops_run_with_what_to_do(empty_postgres: str,
                                                                            tmp_path: Path) -> None:
    url = empty_postgres
    done = _qingdan(url, tmp_path, "run")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert "数据库是空的" in done.stderr and "qingdan db upgrade" in done.stderr

    upgrade(url, "0002")
    done = _qingdan(url, tmp_path, "run", locale="en")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert "at revision 0002" in done.stderr and "run qingdan db upgrade" in done.stderr

    upgrade(url)
    _set_revision(url, NEWER)
    for args in (["run"], ["db", "upgrade"]):
        done = _qingdan(url, tmp_path, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr[-1500:])
        # not "run qingdan db upgrade" (which cannot help), nor "no such migration head"
        assert "更新版本的清单征询" in done.stderr and NEWER in done.stderr, (args, done.stderr[-1500:])
        assert "找不到数据库迁移版本" not in done.stderr


@pytest.mark.parametrize("locale, says", [("zh_CN", "qingdan demo --reset 重新开始"), ("en", "qingdan demo --reset")])
def test_the_demo_on_a_demo_database_a_newer_version_migrated_says_reset(tmp_path: Path, locale: str,
                                                                        says: str) -> None:
    import socket

    url = f"sqlite:///{tmp_path / 'qingdan-demo.db'}"
    upgrade(url)
    _set_revision(url, NEWER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _qingdan("sqlite+aiosqlite:///unused.db", tmp_path, "demo", "--port", str(port), locale=locale)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert says in done.stderr and NEWER in done.stderr
    assert schema_state(url).revisions == (NEWER,)


@pytest.mark.postgres
def test_db_upgrade_by_a_user_who_may_not_create_tables_says_make_it_the_owner(empty_postgres: str,
                                                                              tmp_path: Path) -> None:
    # PostgreSQL 15 lets only the database's owner create tables in it: a database made by
    # `postgres` for the user `qingdan` stopped the first `qingdan db upgrade` with a traceback
    import uuid

    from sqlalchemy.engine import make_url

    role = f"qingdan_test_role_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sync_url(empty_postgres), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
        conn.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))  # as PostgreSQL 15 has it
    url = make_url(empty_postgres).set(username=role, password="pw").render_as_string(hide_password=False)
    try:
        done = _qingdan(url, tmp_path, "db", "upgrade")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
        assert "permission denied" in done.stderr and "createdb -O" in done.stderr, done.stderr
        with admin.connect() as conn:  # what it says to do
            conn.execute(sa.text(f'ALTER DATABASE "{make_url(empty_postgres).database}" OWNER TO {role}'))
        done = _qingdan(url, tmp_path, "db", "upgrade", locale="en")
        assert done.returncode == 0, done.stderr[-1500:]
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{make_url(empty_postgres).database}" OWNER TO CURRENT_USER'))
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.parametrize("locale, says", [("zh_CN", "比 0002 更新，什么都没有改"), ("en", "later than 0002: nothing was changed")])
def test_db_upgrade_to_an_earlier_revision_says_the_database_is_past_it(tmp_path: Path, locale: str,
                                                                        says: str) -> None:
    """`qingdan db upgrade 0002` on an up-to-date database did nothing and printed that it was done,
    as if it were now at 0002; it now says the database is past it, that nothing changed and how to go back."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    head = schema_state(url).heads
    done = _qingdan(url, tmp_path, "db", "upgrade", "0002", locale=locale)
    assert done.returncode == 2 and not done.stdout.strip(), (done.stdout, done.stderr[-1500:])
    assert says in done.stderr and head[0] in done.stderr and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert schema_state(url).revisions == head
    for args in (["db", "upgrade"], ["db", "upgrade", head[0]]):  # (at it already, or the newest: as before)
        done = _qingdan(url, tmp_path, *args, locale=locale)
        # (the revision reached, in LOCALE: 数据库结构已是版本 0005。/ The database schema is at revision 0005.)
        assert done.returncode == 0 and head[0] in done.stdout and not done.stderr, (args, done.stderr[-1500:])
    older = f"sqlite+aiosqlite:///{tmp_path / 'older.db'}"
    upgrade(older, "0001")
    done = _qingdan(older, tmp_path, "db", "upgrade", "0002", locale=locale)  # forward: as before
    assert done.returncode == 0 and schema_state(older).revisions == ("0002",), done.stderr[-1500:]


@pytest.mark.parametrize(("locale", "said"), [("zh_CN", "数据库结构已是版本 {}。"), ("en", "The database schema is at revision {}.")])
def test_db_upgrade_says_the_revision_it_left_the_database_at_in_the_operators_language(
        tmp_path: Path, locale: str, said: str) -> None:
    """It printed a bare "ok", in English whatever LOCALE was."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    done = _qingdan(url, tmp_path, "db", "upgrade", "0002", locale=locale)
    assert done.returncode == 0 and done.stdout.strip() == said.format("0002"), done.stderr[-2000:]
    done = _qingdan(url, tmp_path, "db", "upgrade", locale=locale)
    (head,) = schema_state(url).heads
    assert done.returncode == 0 and done.stdout.strip() == said.format(head), done.stderr[-2000:]
