"""Alembic's entry point, run by bot/db/database.py (there is no alembic.ini).

The database URL is Karakana's own async URL (``sqlite+aiosqlite`` or ``postgresql+asyncpg``),
handed over in ``config.attributes["url"]``; migrations run on the sync face of an async connection.
Each upgrade is one transaction on both backends, so a failing migration leaves nothing half-done.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.database import target_metadata
from domain.store import SQLITE_BUSY_TIMEOUT_MS


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write column types as plain SQLAlchemy ones, so a migration never imports app code.

    A migration must mean the same thing forever, even after ``domain.model.columns`` or SQLModel
    change; so ``UTCDateTime`` becomes ``sa.DateTime()``, SQLModel's ``AutoString`` becomes
    ``sa.String(...)``, and our non-native enums become the ``VARCHAR`` they are stored as.
    """
    if kind != "type":
        return False
    if isinstance(obj, sa.Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    if isinstance(obj, sa.TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy.sql"):
            return f"sa.{impl!r}"
    return False


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def _run(connection: Connection) -> None:
    sqlite = _is_sqlite(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        compare_type=True,
        render_item=render_item,
        # SQLite can change a table only by copying it, so every revision is written in batch
        # mode; PostgreSQL runs the same batch operations directly, as plain ALTERs.
        render_as_batch=True,
        # SQLite's DDL is transactional too once we issue BEGIN ourselves (see _engine).
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            # Foreign keys are off while migrating (batch copies tables), so check them by hand.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(
                    f"the migration left rows whose foreign keys point nowhere: {broken[:5]}"
                )


def _engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    if make_url(url).get_backend_name() != "sqlite":
        return engine

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands: it would run DDL outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # stored in the file: set once, kept forever
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # hold the write lock for the whole upgrade

    return engine


async def _run_online(url: str) -> None:
    engine = _engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    url = context.config.attributes.get("url")
    if not url:
        raise RuntimeError(
            "no database URL: run migrations through bot.db.database (`karakana db upgrade`)"
        )
    if context.is_offline_mode():
        raise RuntimeError("Karakana runs migrations against a live database only")
    asyncio.run(_run_online(url))


_main()
