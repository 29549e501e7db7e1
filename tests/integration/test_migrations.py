"""Alembic migrations on SQLite and PostgreSQL: from empty to head, back, and checked at start-up.

The PostgreSQL database is shared by the whole test session, so each test here starts and ends
with an empty ``public`` schema; the store fixtures build their own tables with ``create_all``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel, select

from bot.db.database import (
    MIGRATIONS,
    DatabaseAheadOfCode,
    DatabaseBehindMigrations,
    alembic_config,
    check_database_current,
    current_revision,
    database_checks,
    database_triggers,
    downgrade_database,
    head_revision,
    model_differences,
    upgrade_database,
)
from domain.model import Person, Role
from domain.model.ledger import ONE_BATCH_BUILDING, append_only_trigger_names
from domain.store import Store
from tests.integration.factory_fixtures import hire_staff, owed_earnings

WHEN = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


async def upgrade(url: str, *, migrations: Path = MIGRATIONS) -> None:
    # upgrade_database is synchronous and runs its own event loop, as the CLI calls it.
    await asyncio.to_thread(upgrade_database, url, migrations=migrations)


async def downgrade(url: str, revision: str, *, migrations: Path = MIGRATIONS) -> None:
    await asyncio.to_thread(downgrade_database, url, revision, migrations=migrations)


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def execute(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _empty_postgres_schema(url: str) -> None:
    await execute(url, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public")


@pytest.fixture
async def empty_database(backend_url: str) -> AsyncIterator[str]:
    """A database with nothing in it; PostgreSQL's shared one is emptied again afterwards."""
    postgres = make_url(backend_url).get_backend_name() == "postgresql"
    if postgres:
        await _empty_postgres_schema(backend_url)
    yield backend_url
    if postgres:
        await _empty_postgres_schema(backend_url)


A_LATER_REVISION = '''"""add a nickname to people"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_column("nickname")
'''


@pytest.fixture
def newer_migrations(tmp_path: Path) -> Path:
    """Karakana's migrations plus one later revision, as a newer release of the code would ship."""
    folder = shutil.copytree(
        MIGRATIONS, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    later = A_LATER_REVISION.format(head=head_revision())
    (folder / "versions" / "9001_add_a_nickname_to_people.py").write_text(later)
    return folder


async def add_person(url: str, name: str) -> None:
    store = Store.from_url(url)
    try:
        async with store.transaction() as session:
            session.add(Person(name=name, role=Role.ARTISAN, created_at=WHEN))
    finally:
        await store.close()


async def people(url: str) -> list[str]:
    store = Store.from_url(url)
    try:
        async with store.transaction() as session:
            return list((await session.exec(select(Person.name).order_by(Person.name))).all())
    finally:
        await store.close()


async def test_upgrading_an_empty_database_creates_every_table_at_head(
    empty_database: str,
) -> None:
    await upgrade(empty_database)

    assert await current_revision(empty_database) == head_revision()
    assert await table_names(empty_database) == set(SQLModel.metadata.tables) | {"alembic_version"}


async def test_the_models_match_the_migrations(empty_database: str) -> None:
    await upgrade(empty_database)

    assert await model_differences(empty_database) == []


async def test_the_model_comparison_notices_a_schema_that_drifted(empty_database: str) -> None:
    await upgrade(empty_database)
    await execute(empty_database, "DROP INDEX ix_person_area")

    differences = await model_differences(empty_database)

    assert [(kind, index.name) for kind, index in differences] == [("add_index", "ix_person_area")]


async def test_the_migrations_install_the_same_ledger_triggers_as_the_models(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    migrated = await database_triggers(empty_database)
    await downgrade(empty_database, "base")
    await execute(empty_database, "DROP TABLE alembic_version")
    engine = create_async_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()

    assert migrated  # the append-only ledger's triggers, the same text on both paths
    assert await database_triggers(empty_database) == migrated


async def test_a_migrated_database_refuses_raw_changes_to_the_ledger(empty_database: str) -> None:
    await upgrade(empty_database)
    store = Store.from_url(empty_database)
    try:
        async with store.transaction() as session:
            staff = await hire_staff(session, now=WHEN)
            await owed_earnings(session, verified_by=staff.agent, now=WHEN, owed={"Wanjiru": 5_000})
    finally:
        await store.close()

    for statement in ("UPDATE transfer SET amount_cents = 1", "DELETE FROM transfer"):
        with pytest.raises(IntegrityError, match="the ledger is append-only"):
            await execute(empty_database, statement)


async def test_a_migrated_database_refuses_a_second_payout_batch_being_built(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("payout_batch"))
    finally:
        await engine.dispose()
    assert [(i["name"], i["column_names"], i["unique"]) for i in indexes] == [
        (ONE_BATCH_BUILDING, ["status"], True)
    ]

    batch = "INSERT INTO payout_batch (status, created_at) VALUES ('{}', '2026-03-02 07:00:00')"
    await execute(
        empty_database,
        batch.format("building"),
        batch.format("awaiting_approval"),
        batch.format("awaiting_approval"),
    )
    with pytest.raises(IntegrityError):
        await execute(empty_database, batch.format("building"))


async def test_the_migrations_install_the_same_check_constraints_as_the_models(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    migrated = await database_checks(empty_database)
    await downgrade(empty_database, "base")
    await execute(empty_database, "DROP TABLE alembic_version")
    engine = create_async_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()

    assert "ck_order_line_quantity_range" in migrated  # and every other limit, word for word
    assert await database_checks(empty_database) == migrated


async def test_downgrading_below_the_limits_revision_removes_them_and_the_comparison_says_so(
    empty_database: str,
) -> None:
    await upgrade(empty_database)

    await downgrade(empty_database, "0005")

    missing = [d for d in await model_differences(empty_database) if d[0] == "add_check"]
    assert ("add_check", "ck_job_quantity_range") in missing
    assert ("add_check", "ck_offer_pay_range") in missing
    assert set(await database_checks(empty_database)) == {
        "ck_transfer_positive",
        "ck_transfer_two_accounts",
    }


COMPONENT = (
    "INSERT INTO component (code, name, skill, piece_rate_cents, lead_time_days) "
    "VALUES ('{code}', 'Carved mask', 'horn carving', {rate}, 5)"
)


async def test_a_migrated_database_refuses_a_piece_rate_beyond_the_limit(
    empty_database: str,
) -> None:
    await upgrade(empty_database)

    await execute(empty_database, COMPONENT.format(code="MASK", rate=10_000_000))
    with pytest.raises(IntegrityError, match="ck_component_piece_rate_cents_range"):
        await execute(empty_database, COMPONENT.format(code="MASK-2", rate=10_000_001))


async def test_upgrading_a_database_with_rows_beyond_the_limits_names_them_and_changes_nothing(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    await downgrade(empty_database, "0005")
    await execute(empty_database, COMPONENT.format(code="MASK", rate=10_000_001))

    with pytest.raises(RuntimeError, match=r"1 row\(s\) of component break piece_rate_cents"):
        await upgrade(empty_database)

    assert await current_revision(empty_database) == "0005"
    assert "ck_job_quantity_range" not in await database_checks(empty_database)


ASSEMBLED_BEFORE_0007 = (
    "INSERT INTO customer (id, name, kind) VALUES (1, 'Maasai Market Crafts', 'retailer')",
    "INSERT INTO product (id, sku, name, wholesale_price_cents, retail_price_cents, "
    "assembly_days, assembly_cost_cents) VALUES (1, 'BANGLE', 'Bangle', 100, 200, 1, 0), "
    "(2, 'RING', 'Ring', 100, 200, 1, 0)",
    "INSERT INTO customer_order (id, customer_id, reference, status, due_date, created_at) "
    "VALUES (1, 1, 'PO-1', 'in_production', '2026-04-01', '2026-03-02 07:00:00')",
    "INSERT INTO order_line (id, order_id, product_id, quantity, unit_price_cents) "
    "VALUES (1, 1, 1, 5, 100), (2, 1, 2, 3, 100)",
    "INSERT INTO assembly (id, order_line_id, assembled_at) VALUES (1, 1, '2026-03-02 08:00:00')",
)


async def rows(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(statement))]
    finally:
        await engine.dispose()


async def test_a_line_assembled_before_partial_assembly_counts_as_wholly_assembled(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    await downgrade(empty_database, "0006")
    await execute(empty_database, *ASSEMBLED_BEFORE_0007)

    await upgrade(empty_database)

    assert await rows(
        empty_database, "SELECT id, assembled_quantity FROM order_line ORDER BY id"
    ) == [(1, 5), (2, 0)]
    assert await rows(empty_database, "SELECT order_line_id, units FROM assembly") == [(1, 5)]


DROP_ONE_TRIGGER = {
    "sqlite": ("DROP TRIGGER transfer_no_update", "transfer_no_update"),
    "postgresql": ("DROP TRIGGER transfer_no_truncate ON transfer", "transfer_no_truncate"),
}


async def test_the_model_comparison_notices_a_missing_ledger_trigger(empty_database: str) -> None:
    await upgrade(empty_database)
    drop, name = DROP_ONE_TRIGGER[make_url(empty_database).get_backend_name()]
    await execute(empty_database, drop)

    assert await model_differences(empty_database) == [("add_trigger", name)]


async def test_downgrading_below_the_append_only_revision_removes_its_triggers(
    empty_database: str,
) -> None:
    await upgrade(empty_database)

    await downgrade(empty_database, "0002")

    backend = make_url(empty_database).get_backend_name()
    assert await database_triggers(empty_database) == {}
    # Later revisions' changes are missing too; here only the triggers matter.
    missing_triggers = [
        d
        for d in await model_differences(empty_database)
        if isinstance(d, tuple) and str(d[0]).endswith("_trigger")
    ]
    assert missing_triggers == [
        ("add_trigger", name) for name in sorted(append_only_trigger_names(backend))
    ]


async def test_upgrading_a_current_database_again_changes_nothing(empty_database: str) -> None:
    await upgrade(empty_database)
    await add_person(empty_database, "Wanjiru")

    await upgrade(empty_database)

    assert await current_revision(empty_database) == head_revision()
    assert await people(empty_database) == ["Wanjiru"]


async def test_downgrading_to_nothing_and_upgrading_again_works(empty_database: str) -> None:
    await upgrade(empty_database)

    await downgrade(empty_database, "base")
    assert await current_revision(empty_database) is None
    assert await table_names(empty_database) == {"alembic_version"}

    await upgrade(empty_database)
    assert await current_revision(empty_database) == head_revision()
    assert await model_differences(empty_database) == []


async def test_an_empty_database_is_refused_with_the_command_that_fixes_it(
    empty_database: str,
) -> None:
    with pytest.raises(DatabaseBehindMigrations) as refused:
        await check_database_current(empty_database)

    assert refused.value.current is None
    assert refused.value.head == head_revision()
    assert "has no migrations applied" in str(refused.value)
    assert str(refused.value).endswith("run `karakana db upgrade`")


async def test_a_database_at_head_passes_the_start_up_check(empty_database: str) -> None:
    await upgrade(empty_database)

    await check_database_current(empty_database)  # raises if not current


async def test_a_database_behind_the_code_is_refused_naming_both_revisions(
    empty_database: str, newer_migrations: Path
) -> None:
    await upgrade(empty_database)  # what today's release leaves behind

    with pytest.raises(DatabaseBehindMigrations) as refused:
        await check_database_current(empty_database, migrations=newer_migrations)

    assert str(refused.value).endswith(
        f"is at revision {head_revision()} but the code needs 9001; run `karakana db upgrade`"
    )


async def test_a_later_revision_that_alters_a_referenced_table_keeps_its_rows(
    empty_database: str, newer_migrations: Path
) -> None:
    await upgrade(empty_database)
    await add_person(empty_database, "Achieng")

    # On SQLite the batch operation copies `person`, which many foreign keys point at.
    await upgrade(empty_database, migrations=newer_migrations)
    await check_database_current(empty_database, migrations=newer_migrations)
    await downgrade(empty_database, head_revision(), migrations=newer_migrations)

    assert await people(empty_database) == ["Achieng"]
    assert await model_differences(empty_database) == []


async def test_a_database_from_a_newer_release_is_refused_without_suggesting_an_upgrade(
    empty_database: str,
) -> None:
    await upgrade(empty_database)
    await execute(empty_database, "UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(DatabaseAheadOfCode) as refused:
        await check_database_current(empty_database)

    assert "is at revision 9999, which this version of Karakana does not know" in str(refused.value)
    assert "karakana db upgrade" not in str(refused.value)


def test_the_refusal_never_shows_the_database_password() -> None:
    url = "postgresql+asyncpg://karakana:s3cret-pa55@db.internal:5432/karakana"

    message = str(DatabaseBehindMigrations(url, current="0001", head="0002"))

    assert "s3cret-pa55" not in message
    assert "the database at postgresql+asyncpg://karakana:***@db.internal:5432/karakana" in message


def test_upgrading_a_new_sqlite_file_creates_its_folder_and_turns_on_wal(tmp_path: Path) -> None:
    database = tmp_path / "var" / "lib" / "karakana.db"

    upgrade_database(f"sqlite+aiosqlite:///{database}")

    # Journal mode is stored in the file: a plain connection sees what the migration left.
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_checking_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    database = tmp_path / "missing.db"

    with pytest.raises(DatabaseBehindMigrations):
        await check_database_current(f"sqlite+aiosqlite:///{database}")

    assert not database.exists()


def test_revisions_form_one_line_in_readably_named_files() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())

    assert len(scripts.get_heads()) == 1
    for script in scripts.walk_revisions():
        path = Path(script.path)
        assert re.fullmatch(rf"{script.revision}_[a-z0-9_]+\.py", path.name), path.name


def test_migrations_never_import_application_code() -> None:
    # A migration must mean the same forever; the models it was generated from will change.
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        for module in ("domain", "bot", "sqlmodel"):
            assert not re.search(rf"^\s*(from|import) {module}\b", source, re.MULTILINE), (
                f"{path.name} imports {module}"
            )
