"""README's backup and restore commands, run as written (the database's name and the
file put in): a backup of before an upgrade, restored over the upgraded database, gives
back the old data at the old revision, and `qingdan db upgrade` then upgrades it again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.engine import sync_url
from storage.migrate import schema_state, upgrade

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_command(*words: str) -> str:
    """The first command in backquotes in README's Backups paragraph that holds all `words`."""
    text = README.read_text(encoding="utf-8")
    backups = text[text.index("**Backups.**"):text.index("**Upgrading.**")]
    for command in re.findall(r"`([^`]+)`", backups):
        if all(w in command for w in words):
            return command
    raise AssertionError(f"no command with {words} in README's Backups")


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_a_backup_of_before_an_upgrade_restored_as_the_readme_says_upgrades_again(
        empty_postgres: str, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed (Debian: postgresql-client)")
    url = empty_postgres
    u = make_url(url)
    env = {**os.environ, "PGHOST": u.host or "127.0.0.1", "PGPORT": str(u.port or 5432),
           "PGUSER": u.username or "postgres", "PGDATABASE": "postgres"}
    if u.password:
        env["PGPASSWORD"] = u.password
    upgrade(url, "0003")
    _rows(url, "INSERT INTO township (name, created_at) VALUES ('青山镇', now())")
    dump = tmp_path / "qingdan.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", u.database, "-f", str(dump)], env=env, check=True, timeout=60)

    upgrade(url)  # the upgrade, and data the new version wrote
    _rows(url, "INSERT INTO outbox (key, kind, payload, created_at, lease_until) "
               "VALUES ('announce:1', 'announce', '{}', now(), now())")

    restore = _readme_command("pg_restore")
    restore = re.sub(r"\bqingdan\b", u.database, restore).replace(f"-O {u.database}", f"-O {env['PGUSER']}")
    restore = restore.replace("FILE", str(dump))
    done = subprocess.run(restore, shell=True, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (restore, done.stderr)
    assert schema_state(url).revisions == ("0003",)
    assert _rows(url, "SELECT name FROM township") == [("青山镇",)]

    upgrade(url)  # `qingdan db upgrade` again (it failed on the outbox table --clean had left)
    assert schema_state(url).current
    assert _rows(url, "SELECT count(*) FROM outbox") == [(0,)]


def test_sqlite_the_readme_backup_and_restore_give_back_the_data(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command is not installed (Debian: sqlite3)")
    url = f"sqlite:///{tmp_path / 'qingdan.db'}"
    upgrade(url)
    _rows(url, "PRAGMA journal_mode=WAL")
    _rows(url, "INSERT INTO township (name, created_at) VALUES ('青山镇', '2026-12-01 00:00:00')")
    backup = _readme_command("sqlite3", ".backup").replace("/var/backups/qingdan/", f"{tmp_path}/backups/")
    restore = _readme_command("sqlite3", ".restore").replace("/var/backups/qingdan/qingdan-2026-12-01.db",
                                                             f"{tmp_path}/backups/qingdan-$(date +%F).db")
    (tmp_path / "backups").mkdir()
    subprocess.run(backup, shell=True, cwd=tmp_path, check=True, timeout=60)
    _rows(url, "DELETE FROM township")
    subprocess.run(restore, shell=True, cwd=tmp_path, check=True, timeout=60)
    assert _rows(url, "SELECT name FROM township") == [("青山镇",)]
    assert _rows(url, "PRAGMA journal_mode") == [("wal",)]
