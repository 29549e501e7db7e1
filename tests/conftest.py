"""Shared fixtures: a fake clock, and stores on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import domain.model  # noqa: F401  (registers every table on SQLModel.metadata)
from domain.store import Store

POSTGRES_SERVER_URL = os.environ.get(
    "KARAKANA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


class FakeClock:
    """Time that only moves when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday, 10:00 in Nairobi

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _postgres_reachable(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return None
    except Exception as exc:  # any failure to connect means "skip", with the reason shown
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end; skips if unreachable."""
    problem = asyncio.run(_postgres_reachable(POSTGRES_SERVER_URL))
    if problem is not None:
        pytest.skip(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_SERVER_URL).render_as_string()} "
            f"({problem}); set KARAKANA_TEST_POSTGRES_URL or start the server to run these tests"
        )
    name = f"karakana_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(POSTGRES_SERVER_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(POSTGRES_SERVER_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}"


async def _fresh_schema(store: Store) -> None:
    async with store.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(SQLModel.metadata.create_all)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for every backend Karakana supports (a sync fixture: it may create one)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'karakana.db'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
async def any_store(backend_url: str) -> AsyncIterator[Store]:
    """The same test against SQLite and PostgreSQL, each with a fresh schema."""
    store = Store.from_url(backend_url)
    await _fresh_schema(store)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    """A real SQLite store with the current schema, for flow tests that need just one backend."""
    store = Store.from_url(sqlite_url)
    await _fresh_schema(store)
    try:
        yield store
    finally:
        await store.close()
