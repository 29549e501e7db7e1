"""The async store: one engine per process, and a unit of work that commits or rolls back as one.

SQLite runs in WAL mode with foreign keys on. Each transaction starts with ``BEGIN IMMEDIATE`` so a
writer takes SQLite's write lock up front; otherwise two deferred transactions that both read and
then write deadlock into ``database is locked``. Within one process, writers also queue on an
asyncio lock before ``BEGIN IMMEDIATE`` and hold it until their connection goes back to the pool:
SQLite's own busy handler makes a waiting writer sleep (1, 2, 5 ... 100 ms) and poll, so under
load the write lock sat free while every waiter slept; the queue hands it over at once, in order
(measured in docs/benchmarks.md, "Inbound chat"). PostgreSQL runs at READ COMMITTED; code that must
not lose an update locks rows (``with_for_update``) or checks a version.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 10_000
_READ_ONLY = "karakana_read_only"
_WRITER = "karakana_writer"  # in a pooled connection's info: it holds the process's write queue


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, echo=echo, pool_pre_ping=True)
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands so we can say IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    writers = _WriterQueue()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a WAL snapshot; never waits for writers
            return
        if _WRITER not in connection.info:
            # Runs in SQLAlchemy's greenlet, so it may wait on the event loop.
            connection.info[_WRITER] = await_only(writers.acquire())
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def _release(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        lock = None if record is None else record.info.pop(_WRITER, None)
        if lock is not None and lock.locked():
            lock.release()

    # Back in the pool means COMMIT or ROLLBACK has finished: the next writer may begin.
    event.listen(engine.sync_engine.pool, "checkin", _release)
    event.listen(engine.sync_engine.pool, "invalidate", _release)
    return engine


class _WriterQueue:
    """One asyncio lock per event loop (a store may outlive a loop, as in the CLI and tests)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def acquire(self) -> asyncio.Lock:
        """The lock, held; "database is locked" after SQLite's own busy timeout."""
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000)
        except TimeoutError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        return lock


class Store:
    """Hands out sessions; ``transaction()`` is the unit of work every change goes through."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Store:
        return cls(make_engine(url, echo=echo))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Everything done with the session commits together on success, or not at all."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A snapshot for queries that change nothing; on SQLite it takes no write lock."""
        async with self._sessions() as session:
            await session.connection(execution_options={_READ_ONLY: True})
            try:
                yield session
            finally:
                await session.rollback()

    async def close(self) -> None:
        await self.engine.dispose()
