"""``karakana api-keys`` and ``karakana customers set-callback``, run in-process on a real
database (SQLite and PostgreSQL): a key is shown once and kept only as a hash, listed without
its secret, and refused once revoked; a callback URL must be https (or this machine)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.db.database import upgrade_database
from domain.model import ApiKey, Customer, CustomerKind
from domain.services.api_keys import authenticate, secret_digest
from domain.services.orders import get_or_create_customer
from domain.store import Store, is_sqlite

SHOP = "Maasai Market Crafts"
T = TypeVar("T")


@pytest.fixture
def database_url(backend_url: str) -> str:
    """A database migrated as ``karakana db upgrade`` does: SQLite in tmp_path, or the run's
    PostgreSQL database emptied first (the run's tests share it)."""
    url = backend_url
    if not is_sqlite(url):
        asyncio.run(_empty_postgres(url))
    upgrade_database(url)

    async def add_customer() -> None:
        store = Store.from_url(url)
        try:
            async with store.transaction() as session:
                await get_or_create_customer(session, name=SHOP, kind=CustomerKind.RETAILER)
        finally:
            await store.close()

    asyncio.run(add_customer())
    return url


async def _empty_postgres(url: str) -> None:
    store = Store.from_url(url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        await store.close()


def _karakana(database_url: str, *args: str) -> Result:
    env = {"DATABASE_URL": database_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(app, list(args), env=env)


def _read(database_url: str, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        store = Store.from_url(database_url)
        try:
            async with store.transaction() as session:
                return await query(session)
        finally:
            await store.close()

    return asyncio.run(go())


def test_a_key_is_shown_once_kept_as_a_hash_listed_without_its_secret_and_refused_once_revoked(
    database_url: str,
) -> None:
    made = _karakana(database_url, "api-keys", "create", SHOP)
    assert made.exit_code == 0, made.output
    [token] = [word for word in made.output.split() if word.startswith("kk_")]
    key_id, secret = token.split("_")[1], token.split("_", 2)[2]

    async def stored(session: AsyncSession) -> list[ApiKey]:
        return list(await session.exec(select(ApiKey)))

    [key] = _read(database_url, stored)
    assert key.secret_sha256 == secret_digest(secret)
    assert secret not in key.secret_sha256

    listed = _karakana(database_url, "api-keys", "list")
    assert key_id in listed.output
    assert SHOP in listed.output
    assert secret not in listed.output

    async def who(session: AsyncSession) -> str | None:
        customer = await authenticate(session, token)
        return None if customer is None else customer.name

    assert _read(database_url, who) == SHOP
    revoked = _karakana(database_url, "api-keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert _read(database_url, who) is None
    again = _karakana(database_url, "api-keys", "revoke", key_id)
    assert again.exit_code == 1
    assert "already revoked" in again.output


def test_a_key_for_a_customer_that_does_not_exist_is_refused_plainly(database_url: str) -> None:
    result = _karakana(database_url, "api-keys", "create", "Nobody Ltd")
    assert result.exit_code == 1
    assert "customer" in result.output.casefold()
    assert "Traceback" not in result.output


def test_a_callback_url_is_set_with_a_secret_shown_once_and_only_https_is_taken(
    database_url: str,
) -> None:
    refused = _karakana(
        database_url, "customers", "set-callback", SHOP, "http://retailer.example/hook"
    )
    assert refused.exit_code == 1
    assert "https" in refused.output

    result = _karakana(
        database_url, "customers", "set-callback", SHOP, "https://retailer.example/hook"
    )
    assert result.exit_code == 0, result.output

    async def customer(session: AsyncSession) -> tuple[str | None, str | None]:
        found = (await session.exec(select(Customer).where(Customer.name == SHOP))).one()
        return found.callback_url, found.callback_secret

    url, secret = _read(database_url, customer)
    assert url == "https://retailer.example/hook"
    assert secret is not None
    assert secret in result.output
