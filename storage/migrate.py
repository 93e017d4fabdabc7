"""Alembic, driven from code: `upgrade(url)` brings a database to the newest schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.engine import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    with _one_migrator(url):
        command.upgrade(alembic_config(url), revision)


#: PostgreSQL: the advisory lock that lets one `qingdan db upgrade` migrate at a time ("QMIG";
#: not the scheduler's).
MIGRATE_LOCK_KEY = 0x51_4D_49_47


@contextmanager
def _one_migrator(url: str) -> Iterator[None]:
    """One process migrates a database at a time; the second waits, then finds nothing left
    to do. On a SQLite file a lock file `<db>.migrate.lock`: every command upgrades a SQLite
    database as it starts, and two started together — the bot and `qingdan scheduler` after
    an update — both ran the same migration, and one died on "duplicate column". On
    PostgreSQL an advisory lock, held by a connection of its own: two `qingdan db upgrade`
    at once (one per host) both created the same tables, and one died on "already exists"."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("postgres"):
        with _postgres_migrate_lock(url):
            yield
        return
    fd = None
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:" \
            and not u.database.startswith("file:"):
        try:
            fd = os.open(f"{u.database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # a folder that is not there or not writable: SQLite tells (bot.db.reachable)
            fd = None
    try:
        if fd is not None:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (the lock with it)


@contextmanager
def _postgres_migrate_lock(url: str) -> Iterator[None]:
    import sqlalchemy as sa

    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK_KEY})
            try:
                yield
            finally:  # (a connection lost meanwhile took the lock with it: the migration's error is the one to see)
                with suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK_KEY})
    finally:
        engine.dispose()


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this code's migrations."""

    revisions: tuple[str, ...]  # the database's (empty: never migrated)
    heads: tuple[str, ...]  # the newest this code has
    unknown: tuple[str, ...]  # the database's that this code does not have (a newer Qingdan's)

    @property
    def empty(self) -> bool:
        return not self.revisions

    @property
    def current(self) -> bool:
        return set(self.revisions) == set(self.heads)

    @property
    def ahead(self) -> bool:
        """Migrated by a newer version of the code: this one cannot use it, nor upgrade it."""
        return bool(self.unknown)

    @property
    def behind(self) -> bool:
        return not self.empty and not self.current and not self.ahead


def schema_state(url: str) -> SchemaState:
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    known = {rev.revision for rev in script.walk_revisions()}
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            revisions = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()
    return SchemaState(revisions, tuple(sorted(script.get_heads())), tuple(r for r in revisions if r not in known))


def passed(url: str, revision: str) -> tuple[str, ...]:
    """The database's revisions when it is already past `revision` (a migration before them):
    `upgrade` to it changes nothing, and no command here goes back. Empty otherwise (at it,
    before it, never migrated, or a revision this code does not know: `upgrade` says which)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config(url))
    try:
        target = script.get_revision(revision)
    except (CommandError, KeyError, ValueError):
        return ()
    current = schema_state(url).revisions
    if target is None or not current or target.revision in current:
        return ()
    try:
        earlier = {r.revision for r in script.iterate_revisions(current, "base") if r is not None}
    except CommandError:  # (a revision this code does not have: refused before this)
        return ()
    return current if target.revision in earlier else ()


def downgrade(url: str, revision: str) -> None:
    with _one_migrator(url):
        command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)
