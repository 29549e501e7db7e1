"""What every store backend promises, as one test class run on SQLite and on PostgreSQL.

Modelled on aiogram's storage contract tests: the same assertions, parametrised by backend, so a
behaviour that holds on the developer's SQLite file also holds on the production PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    ArtisanProfile,
    Channel,
    ChannelIdentity,
    Language,
    MaterialStock,
    Person,
    Role,
)
from domain.store import Store
from tests.integration.factory_fixtures import ident

WHEN = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
NAIROBI = ZoneInfo("Africa/Nairobi")


class Boom(Exception):
    """A failure in the middle of a unit of work."""


async def add_person(session: AsyncSession, name: str = "Wanjiru", **fields: Any) -> Person:
    person = Person(name=name, role=fields.pop("role", Role.ARTISAN), created_at=WHEN, **fields)
    session.add(person)
    await session.flush()
    return person


async def add_person_with_identity(store: Store, name: str, channel: Channel, address: str) -> None:
    async with store.transaction() as session:
        person = await add_person(session, name)
        session.add(ChannelIdentity(person_id=ident(person), channel=channel, address=address))


async def count(store: Store, table: type[Any]) -> int:
    async with store.transaction() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def raw(session: AsyncSession, sql: str) -> Any:
    """A query below the ORM, in the session's transaction: what the database really holds."""
    return (await (await session.connection()).execute(text(sql))).all()


class TestStoreContract:
    async def test_a_transaction_commits_everything_written_in_it(self, any_store: Store) -> None:
        await add_person_with_identity(any_store, "Wanjiru", Channel.WHATSAPP, "+254712345678")

        async with any_store.transaction() as session:
            identity = (await session.exec(select(ChannelIdentity))).one()
            owner = await session.get(Person, identity.person_id)
        assert owner is not None
        assert owner.name == "Wanjiru"

    async def test_an_exception_rolls_back_everything_written_in_the_transaction(
        self, any_store: Store
    ) -> None:
        async def write_then_fail() -> None:
            async with any_store.transaction() as session:
                person = await add_person(session)
                session.add(
                    ChannelIdentity(person_id=ident(person), channel=Channel.WEB, address="w")
                )
                await session.flush()  # both rows are in the database now, uncommitted
                raise Boom

        with pytest.raises(Boom):
            await write_then_fail()

        assert await count(any_store, Person) == 0
        assert await count(any_store, ChannelIdentity) == 0

    async def test_a_broken_constraint_leaves_nothing_of_its_transaction_behind(
        self, any_store: Store
    ) -> None:
        await add_person_with_identity(any_store, "Wanjiru", Channel.TELEGRAM, "42")

        with pytest.raises(IntegrityError):
            await add_person_with_identity(any_store, "Achieng", Channel.TELEGRAM, "42")

        async with any_store.transaction() as session:
            names = (await session.exec(select(Person.name))).all()
        assert names == ["Wanjiru"]  # Achieng's row, flushed before the failure, is gone too

    async def test_a_row_pointing_at_a_missing_row_is_refused(self, any_store: Store) -> None:
        async def add_orphan_identity() -> None:
            async with any_store.transaction() as session:
                session.add(ChannelIdentity(person_id=999, channel=Channel.WHATSAPP, address="+1"))

        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            await add_orphan_identity()

        assert await count(any_store, ChannelIdentity) == 0

    async def test_one_channel_identity_belongs_to_one_person(self, any_store: Store) -> None:
        await add_person_with_identity(any_store, "Wanjiru", Channel.WHATSAPP, "+254711")

        with pytest.raises(
            IntegrityError,
            match=r"uq_identity_address|UNIQUE constraint failed: channel_identity\.channel",
        ):
            await add_person_with_identity(any_store, "Achieng", Channel.WHATSAPP, "+254711")

    async def test_the_same_address_on_another_channel_is_another_identity(
        self, any_store: Store
    ) -> None:
        await add_person_with_identity(any_store, "Wanjiru", Channel.WHATSAPP, "254711")
        await add_person_with_identity(any_store, "Achieng", Channel.TELEGRAM, "254711")

        assert await count(any_store, ChannelIdentity) == 2

    async def test_a_timestamp_comes_back_as_the_same_instant_in_utc(
        self, any_store: Store
    ) -> None:
        in_nairobi = datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=NAIROBI)
        async with any_store.transaction() as session:
            artisan = await add_person(session)
            session.add(
                ArtisanProfile(
                    person_id=ident(artisan),
                    workshop="Kibera Horn",
                    mpesa_number="+254712345678",
                    verified_at=in_nairobi,
                )
            )

        async with any_store.transaction() as session:
            stored = (await session.exec(select(ArtisanProfile))).one()
        assert stored.verified_at == datetime(2026, 3, 2, 7, 0, 0, 123456, tzinfo=UTC)
        assert stored.verified_at.tzinfo is UTC

    async def test_a_naive_timestamp_is_refused_rather_than_guessed(self, any_store: Store) -> None:
        async def add_person_at(created_at: datetime) -> None:
            async with any_store.transaction() as session:
                session.add(Person(name="Wanjiru", role=Role.ARTISAN, created_at=created_at))

        with pytest.raises(StatementError, match="naive datetimes are ambiguous"):
            await add_person_at(datetime(2026, 3, 2, 10, 0))

        assert await count(any_store, Person) == 0

    @pytest.mark.parametrize(
        "quantity",
        [Decimal("0"), Decimal("0.001"), Decimal("2.5"), Decimal("0.1"), Decimal("999999999.999")],
    )
    async def test_a_decimal_quantity_comes_back_exactly(
        self, any_store: Store, quantity: Decimal
    ) -> None:
        async with any_store.transaction() as session:
            artisan = await add_person(session)
            session.add(
                MaterialStock(
                    artisan_id=ident(artisan),
                    material="brass wire",
                    quantity=quantity,
                    unit="kg",
                    updated_at=WHEN,
                )
            )

        async with any_store.transaction() as session:
            stored = (await session.exec(select(col(MaterialStock.quantity)))).one()
        assert type(stored) is Decimal
        assert stored == quantity

    async def test_an_enum_column_comes_back_as_a_member_and_is_stored_as_its_value(
        self, any_store: Store
    ) -> None:
        async with any_store.transaction() as session:
            await add_person(session, role=Role.FIELD_AGENT, language=Language.SW)

        async with any_store.transaction() as session:
            person = (await session.exec(select(Person))).one()
            stored = await raw(session, "SELECT role, language FROM person")
        assert person.role is Role.FIELD_AGENT
        assert person.language is Language.SW
        # The value, not the member's name: other tools and migrations read these columns too.
        assert [tuple(row) for row in stored] == [("field_agent", "sw")]

    async def test_concurrent_locked_increments_of_one_row_lose_no_update(
        self, any_store: Store
    ) -> None:
        async with any_store.transaction() as session:
            artisan = await add_person(session)
            session.add(
                MaterialStock(
                    artisan_id=ident(artisan),
                    material="beads",
                    quantity=Decimal("0"),
                    unit="kg",
                    updated_at=WHEN,
                )
            )

        async def add_one() -> None:
            async with any_store.transaction() as session:
                stock = (
                    await session.exec(select(MaterialStock).with_for_update())
                ).one()  # FOR UPDATE on PostgreSQL; on SQLite, BEGIN IMMEDIATE already holds
                # Yield while holding the row: unlocked, every task would read the same value.
                await asyncio.sleep(0.01)
                stock.quantity += 1

        await asyncio.gather(*(add_one() for _ in range(8)))

        async with any_store.transaction() as session:
            assert (await session.exec(select(col(MaterialStock.quantity)))).one() == 8


class TestSqliteStore:
    """What only SQLite needs to be told: these are off by default."""

    async def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(self, store: Store) -> None:
        async with store.transaction() as session:
            journal = await raw(session, "PRAGMA journal_mode")
            foreign_keys = await raw(session, "PRAGMA foreign_keys")
        assert [tuple(row) for row in journal] == [("wal",)]
        assert [tuple(row) for row in foreign_keys] == [(1,)]

    async def test_a_writer_commits_while_a_reader_keeps_its_snapshot(
        self, store: Store, sqlite_url: str
    ) -> None:
        await add_person_with_identity(store, "Wanjiru", Channel.WHATSAPP, "+254711")

        # A rollback journal would make the writer wait for this reader and time out; WAL doesn't.
        with closing(
            sqlite3.connect(make_url(sqlite_url).database or "", isolation_level=None)
        ) as reader:
            reader.execute("BEGIN")
            before = reader.execute("SELECT name FROM person").fetchall()
            await add_person_with_identity(store, "Achieng", Channel.WHATSAPP, "+254722")
            during = reader.execute("SELECT name FROM person").fetchall()
            reader.execute("COMMIT")
            after = reader.execute("SELECT name FROM person ORDER BY name").fetchall()

        assert before == during == [("Wanjiru",)]
        assert after == [("Achieng",), ("Wanjiru",)]

    async def test_a_read_only_session_does_not_wait_for_an_open_write_transaction(
        self, store: Store
    ) -> None:
        await add_person_with_identity(store, "Wanjiru", Channel.WHATSAPP, "+254711")
        async with store.transaction() as writer:
            writer.add(Person(name="Achieng", role=Role.ARTISAN, created_at=WHEN))
            await writer.flush()  # the writer now holds SQLite's write lock

            async def read_names() -> list[str]:
                async with store.read() as reader:
                    return list((await reader.exec(select(Person.name))).all())

            names = await asyncio.wait_for(read_names(), timeout=2)
        assert names == ["Wanjiru"]
