"""SQLite on the event loop's thread (bot/db/sqlite_inline.py): the store's guarantees still hold,
and waiting for another process's write lock never blocks the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Result, text
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db.sqlite_inline import InlineConnection, connect_inline
from domain.store import Store


async def execute(session: AsyncSession, sql: str, **params: int) -> Result[Any]:
    connection = await session.connection()
    return await connection.execute(text(sql), params)


@pytest.fixture
async def inline_store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    store = Store.from_url(url, sqlite_connect=connect_inline)
    async with store.transaction() as session:
        await execute(session, "CREATE TABLE tally (id INTEGER PRIMARY KEY, n INTEGER)")
        await execute(session, "INSERT INTO tally VALUES (1, 0)")
    yield store
    await store.close()


@contextmanager
def another_process_writing(path: Path, release: threading.Event) -> Iterator[threading.Event]:
    """Hold SQLite's write lock from another connection (as another process would) until
    ``release`` is set; yields an event set once the lock is held."""
    held = threading.Event()

    def writer() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE tally SET n = 100")
        held.set()
        release.wait(10)
        connection.execute("COMMIT")
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        yield held
    finally:
        release.set()
        thread.join()


async def read_tally(store: Store) -> int:
    async with store.read() as session:
        return int((await execute(session, "SELECT n FROM tally")).scalar_one())


async def test_concurrent_transactions_each_commit_whole(inline_store: Store) -> None:
    async def add_one() -> None:
        async with inline_store.transaction() as session:
            n = (await execute(session, "SELECT n FROM tally")).scalar_one()
            await asyncio.sleep(0)  # let the others try to interleave
            await execute(session, "UPDATE tally SET n = :n", n=n + 1)

    await asyncio.gather(*(add_one() for _ in range(50)))

    assert await read_tally(inline_store) == 50


async def test_a_failed_transaction_leaves_nothing_behind(inline_store: Store) -> None:
    async def broken() -> None:
        async with inline_store.transaction() as session:
            await execute(session, "UPDATE tally SET n = 7")
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        await broken()

    assert await read_tally(inline_store) == 0


async def test_waiting_for_another_process_to_commit_leaves_the_loop_free(
    inline_store: Store, tmp_path: Path
) -> None:
    release = threading.Event()
    with another_process_writing(tmp_path / "k.db", release) as held:
        await asyncio.to_thread(held.wait, 5)

        async def write() -> None:
            async with inline_store.transaction() as session:
                await execute(session, "UPDATE tally SET n = n + 1")

        writing = asyncio.create_task(write())
        await asyncio.sleep(0.1)  # the loop runs while the write waits for the lock
        assert not writing.done()
        assert await read_tally(inline_store) == 0  # readers are not held up either
        release.set()
        await asyncio.wait_for(writing, timeout=5)

    assert await read_tally(inline_store) == 101


async def test_waiting_for_the_write_lock_can_be_given_up(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    sqlite3.connect(path).execute("CREATE TABLE tally (n INTEGER)").connection.close()
    connection = await connect_inline(str(path))
    assert isinstance(connection, InlineConnection)
    release = threading.Event()
    try:
        with another_process_writing(path, release) as held:
            await asyncio.to_thread(held.wait, 5)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(connection.begin_immediate(), 0.1)
    finally:
        await connection.close()


async def test_an_urgent_writer_goes_before_others_already_waiting(inline_store: Store) -> None:
    order: list[str] = []
    holding = asyncio.Event()
    let_go = asyncio.Event()

    async def hold() -> None:
        async with inline_store.transaction():
            holding.set()
            await let_go.wait()

    async def write(name: str, *, urgent: bool) -> None:
        async with inline_store.transaction(urgent=urgent) as session:
            await execute(session, "UPDATE tally SET n = n + 1")
            order.append(name)

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiting = [
        asyncio.create_task(write("new message", urgent=False)),
        asyncio.create_task(write("outbox", urgent=True)),
    ]
    await asyncio.sleep(0.01)
    let_go.set()
    await asyncio.gather(holder, *waiting)

    assert order == ["outbox", "new message"]
    assert await read_tally(inline_store) == 2
