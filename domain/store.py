"""The async store: one engine per process, and a unit of work that commits or rolls back as one.

SQLite runs in WAL mode with foreign keys on. Each transaction starts with ``BEGIN IMMEDIATE`` so a
writer takes SQLite's write lock up front; otherwise two deferred transactions that both read and
then write deadlock into ``database is locked``. Within one process, writers also queue on an
asyncio lock, taken by ``Store.transaction`` before it even takes a pooled connection (or, for a
session opened some other way, before ``BEGIN IMMEDIATE``), and held until the connection is back
in the pool: SQLite's own busy handler makes a waiting writer sleep (1, 2, 5 ... 100 ms) and poll,
so under load the write lock sat free while every waiter slept; the queue hands it over at once,
in order, and leaves the pool's connections to readers (docs/benchmarks.md, "Inbound chat").

PostgreSQL runs at READ COMMITTED; code that must not lose an update locks rows
(``with_for_update``) or checks a version. There, ``WRITERS`` transactions a process run at once
and the rest queue in order (``Store.transaction``) rather than time out waiting for a pooled
connection. A transaction PostgreSQL rolls back to break a deadlock did nothing wrong:
``rolled_back_to_run_again`` tells its caller it may simply run it again.

The composition root may pass ``sqlite_connect``, a driver connection factory for the aiosqlite
dialect (bot/db/sqlite_inline.py runs SQLite's calls on the event loop's thread instead of a worker
thread). A driver connection with ``begin_immediate`` waits for another process's write lock
itself, without blocking; its busy timeout is then its own.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a writer waits its turn in this process's queue. Longer than the busy timeout: every
# holder finishes in milliseconds, so a long wait means a backlog, and giving up then turned a
# burst into a collapse (each timed-out message was retried and logged, costing more CPU than
# the work it replaced; docs/benchmarks.md, "Inbound chat"). It still ends a real deadlock.
WRITE_QUEUE_TIMEOUT_S = 60.0
# PostgreSQL: three transactions at a time per process, five more connections for snapshots,
# all kept open. SQLAlchemy's defaults (5 kept, 10 more opened on demand) made a busy server
# open and close connections all the time, each negotiating TLS and preparing its statements
# afresh (a third of a message's CPU); and ten writers a process queued on the same hot rows
# (a job's offers, a field agent's outbox) rather than working: at 500 messages/s offered, two
# processes served 122/s with ten writers each, 355/s with three (docs/benchmarks.md).
WRITERS = 3
READ_SLOTS = 5  # pooled connections kept free of transactions, for snapshots (store.read)
POOL_SIZE = WRITERS + READ_SLOTS
_READ_ONLY = "karakana_read_only"
_QUEUED = "karakana_queued"  # the session's owner already holds the process's write queue
_WRITER = "karakana_writer"  # in a pooled connection's info: it holds the process's write queue


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@runtime_checkable
class ImmediateBegin(Protocol):
    """A SQLite driver connection that takes the write lock itself, waiting asynchronously."""

    async def begin_immediate(self) -> None: ...


def make_engine(
    url: str, *, echo: bool = False, sqlite_connect: Callable[..., Any] | None = None
) -> AsyncEngine:
    if not is_sqlite(url):
        engine = create_async_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=0
        )
        # Transactions queue here, in order, rather than in the pool: a pool wait times out
        # after 30 s with an error, and a burst of webhooks used to turn into a wave of them.
        _writer_queues[engine.sync_engine] = _WriterQueue(WRITERS)
        return engine
    connect_args: dict[str, Any] = (
        {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if sqlite_connect is None
        else {"async_creator_fn": sqlite_connect}
    )
    engine = create_async_engine(url, echo=echo, connect_args=connect_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands so we can say IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if sqlite_connect is None:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    writers = _WriterQueue()
    _writer_queues[engine.sync_engine] = writers

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a WAL snapshot; never waits for writers
            return
        if not options.get(_QUEUED) and _WRITER not in connection.info:
            # Runs in SQLAlchemy's greenlet, so it may wait on the event loop.
            connection.info[_WRITER] = await_only(writers.acquire())
        driver = connection.connection.driver_connection
        if isinstance(driver, ImmediateBegin):
            try:
                await_only(
                    asyncio.wait_for(driver.begin_immediate(), SQLITE_BUSY_TIMEOUT_MS / 1000)
                )
            except TimeoutError as exc:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def _release(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        lock = None if record is None else record.info.pop(_WRITER, None)
        if lock is not None and lock.locked():
            lock.release()

    # Back in the pool means COMMIT or ROLLBACK has finished: the next writer may begin.
    event.listen(engine.sync_engine.pool, "checkin", _release)
    event.listen(engine.sync_engine.pool, "invalidate", _release)
    return engine


class _Slots:
    """Turns to write on one event loop, ``capacity`` at a time: a freed turn goes to the
    longest-waiting urgent writer, then the longest-waiting other one."""

    def __init__(self, capacity: int) -> None:
        self._free = capacity
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._free == 0

    async def acquire(self, *, urgent: bool) -> None:
        if self._free:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._urgent if urgent else self._others
        waiting.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over just as we gave up: pass it on
            elif turn in waiting:
                waiting.remove(turn)
            raise

    def release(self) -> None:
        for waiting in (self._urgent, self._others):
            while waiting:
                turn = waiting.popleft()
                if not turn.done():
                    turn.set_result(None)  # handed straight over
                    return
        self._free += 1


class _WriterQueue:
    """One ``_Slots`` per event loop (a store may outlive a loop, as in the CLI and tests)."""

    def __init__(self, capacity: int = 1) -> None:
        self._capacity = capacity
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = (
            weakref.WeakKeyDictionary()
        )

    async def acquire(self, *, urgent: bool = False) -> _Slots:
        """A turn, held; "database is locked" after ``WRITE_QUEUE_TIMEOUT_S``."""
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = _Slots(self._capacity)
        try:
            await asyncio.wait_for(turn.acquire(urgent=urgent), WRITE_QUEUE_TIMEOUT_S)
        except TimeoutError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        return turn


# Each SQLite engine's write queue, for ``Store.transaction`` to take before a connection.
_writer_queues: weakref.WeakKeyDictionary[Engine, _WriterQueue] = weakref.WeakKeyDictionary()


# PostgreSQL's answers that mean "another transaction got in the way: run yours again": it broke
# a deadlock by rolling this one back, or could not serialise it.
_RUN_AGAIN_SQLSTATES = frozenset({"40P01", "40001"})


def rolled_back_to_run_again(exc: BaseException) -> bool:
    """True when the database rolled a transaction back for another's sake (a deadlock it broke,
    a serialisation failure): nothing was wrong with the transaction, it may simply run again."""
    return isinstance(exc, DBAPIError) and (
        getattr(exc.orig, "sqlstate", None) in _RUN_AGAIN_SQLSTATES
    )


class Store:
    """Hands out sessions; ``transaction()`` is the unit of work every change goes through."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(
        cls, url: str, *, echo: bool = False, sqlite_connect: Callable[..., Any] | None = None
    ) -> Store:
        return cls(make_engine(url, echo=echo, sqlite_connect=sqlite_connect))

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """Everything done with the session commits together on success, or not at all.

        ``urgent``: on SQLite, go before other writers waiting in this process (the outbox
        finishing work already accepted, ahead of new messages piling up in a burst).
        """
        writers = _writer_queues.get(self.engine.sync_engine)
        if writers is None:
            async with self._unit_of_work() as session:
                yield session
            return
        # On SQLite, queue for the write lock before taking a pooled connection: a writer
        # parked on the queue would otherwise hold a connection, and under load every pooled
        # connection sat parked while readers (the outbox dispatcher) waited for one.
        lock = await writers.acquire(urgent=urgent)
        try:
            async with self._unit_of_work({_QUEUED: True}) as session:
                yield session
        finally:
            lock.release()  # after the session closed: COMMIT or ROLLBACK has finished

    @asynccontextmanager
    async def _unit_of_work(
        self, options: dict[str, Any] | None = None
    ) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            try:
                if options:
                    await session.connection(execution_options=options)
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


T = TypeVar("T")

IN_LIST_SIZE = 500
"""Values per ``IN (...)`` list: far below every backend's bound-parameter limit."""


def in_lists(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``IN_LIST_SIZE``, one ``IN (...)`` list each: the bulk
    paths (payout batches, settlement, receipts) query tens of thousands of ids at once."""
    for start in range(0, len(values), IN_LIST_SIZE):
        yield values[start : start + IN_LIST_SIZE]
