"""``karakana ledger check`` and ``karakana ledger correct``, in-process on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.db.database import upgrade_database
from domain import ledger
from domain.model import Transfer
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import open_floor


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"
    upgrade_database(url)
    return url


def karakana(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": url, "COLUMNS": "200"})


def received_delivery(url: str) -> tuple[int, int]:
    """Wanjiru's 4 horn pendants, passed, dropped off and counted in: (delivery, artisan)."""

    async def go() -> tuple[int, int]:
        store = Store.from_url(url)
        try:
            floor = await open_floor(store, FakeClock())
            wanjiru = floor.factory.wanjiru
            allocation = await floor.passed_pieces("HORN-PENDANT", wanjiru, 4)
            delivery = await floor.drop_off(allocation, wanjiru, 4)
            await floor.receive(delivery, 4)
            return delivery, wanjiru
        finally:
            await store.close()

    return asyncio.run(go())


def earnings(url: str, artisan_id: int) -> int:
    async def go() -> int:
        store = Store.from_url(url)
        try:
            async with store.transaction() as session:
                return (await ledger.artisan_balance(session, artisan_id)).earned_cents
        finally:
            await store.close()

    return asyncio.run(go())


def test_check_on_an_empty_ledger_balances(database_url: str) -> None:
    result = karakana(database_url, "ledger", "check")
    assert result.exit_code == 0, result.output
    assert "The ledger balances." in result.output


def test_a_corrected_earning_replaces_the_old_one_and_the_books_still_balance(
    database_url: str,
) -> None:
    delivery, wanjiru = received_delivery(database_url)
    before = earnings(database_url, wanjiru)
    assert before > 0

    result = karakana(
        database_url, "ledger", "correct", str(delivery), "150", "--reason", "recounted: 3 pieces"
    )

    assert result.exit_code == 0, result.output
    assert f"Delivery {delivery} now earns artisan {wanjiru} KES 150" in result.output
    assert earnings(database_url, wanjiru) == 15_000
    # The same correction again is a retry, not a second reversal.
    assert (
        karakana(
            database_url,
            "ledger",
            "correct",
            str(delivery),
            "150",
            "--reason",
            "recounted: 3 pieces",
        ).exit_code
        == 0
    )
    assert earnings(database_url, wanjiru) == 15_000
    check = karakana(database_url, "ledger", "check")
    assert check.exit_code == 0, check.output


def test_zero_cancels_the_earning(database_url: str) -> None:
    delivery, wanjiru = received_delivery(database_url)
    result = karakana(database_url, "ledger", "correct", str(delivery), "0", "--reason", "lost")
    assert result.exit_code == 0, result.output
    assert "now earns nothing" in result.output
    assert earnings(database_url, wanjiru) == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("999", "100", "--reason", "x"), "There is no delivery 999"),
        (("1", "ten", "--reason", "x"), "is not an amount"),
        (("--reason", "x", "1", "--", "-5"), "is not an amount"),
        (("1", "1.005", "--reason", "x"), "at most two decimals"),
        (("1", "99999999999", "--reason", "x"), "the most one earning may be"),
        (("1", "100", "--reason", "  \u200b "), "Say why with --reason"),
    ],
)
def test_bad_corrections_are_refused_and_change_nothing(
    database_url: str, args: tuple[str, ...], says: str
) -> None:
    result = karakana(database_url, "ledger", "correct", *args)
    assert result.exit_code == 1
    assert says in result.output

    async def transfers() -> int:
        store = Store.from_url(database_url)
        try:
            async with store.transaction() as session:
                return len((await session.exec(select(Transfer))).all())
        finally:
            await store.close()

    assert asyncio.run(transfers()) == 0
