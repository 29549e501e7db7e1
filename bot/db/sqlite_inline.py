"""SQLite through SQLAlchemy's aiosqlite dialect, with every call made on the event loop's thread.

aiosqlite runs each call (open a cursor, execute, fetch, close, commit) on a worker thread and
hands the result back through the event loop: four thread hand-offs per statement, each waiting
for the OS to schedule the other thread and for the GIL. Profiling ``karakana run`` under load
(docs/benchmarks.md, "Inbound chat") showed the server idle half the time while a message's
transaction, holding the process's write queue, waited on those hand-offs. A SQLite statement
on this database takes microseconds, far less than one hand-off, so here each call runs at once,
in place; the dialect, its pool and the store's write queue are unchanged.

What this gives up: a slow SQL statement blocks the event loop while it runs (with aiosqlite only
its Python-side processing did). And waiting for another *process's* write lock must not block:
so the connection's own busy timeout is a few milliseconds, and ``begin_immediate`` waits for the
lock in short asynchronous sleeps (the store bounds that wait by its usual busy timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

BUSY_SPIN_MS = 5  # the most one statement blocks the loop waiting for another process's lock
_FIRST_RETRY = 0.002
_LONGEST_RETRY = 0.05


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: runs each call here and now."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection interface, executed on the calling (event loop) thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._connect().__await__()  # no worker thread to start

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, waiting without blocking while another process writes (for as
        long as that takes: the caller bounds the wait)."""
        delay = _FIRST_RETRY
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LONGEST_RETRY)


def connect_inline(database: str, **kwargs: Any) -> InlineConnection:
    """For SQLAlchemy's ``async_creator_fn`` connect argument of the aiosqlite dialect."""
    kwargs["timeout"] = BUSY_SPIN_MS / 1000
    # SQLAlchemy's pool may close a connection from another thread at interpreter exit.
    kwargs["check_same_thread"] = False
    return InlineConnection(lambda: sqlite3.connect(database, **kwargs))
