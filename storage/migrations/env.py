"""Alembic environment: runs migrations over a sync connection to the configured URL."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
    """Leave out APScheduler's job store (bot.scheduler keeps it in the same PostgreSQL
    database): autogenerate would otherwise propose dropping it."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) != "apscheduler_jobs"


def render_item(type_, obj, autogen_context):  # noqa: ANN001, ANN201
    """A new migration names plain SQLAlchemy types, not the models' (storage.models.UTCDateTime,
    sqlmodel's AutoString): a migration is history, and a later change to a model's type must not
    change what it creates. (The same DDL: UTCDateTime is a DateTime(timezone=True).)"""
    if type_ == "type":
        from sqlmodel.sql.sqltypes import AutoString

        if isinstance(obj, storage.models.UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, include_object=include_object,
                      render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object, render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
