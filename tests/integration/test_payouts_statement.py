"""``karakana payouts reconcile --statement FILE``: the ledger against the M-Pesa organisation
statement as the org portal exports it (header lines, quoted amounts with thousands separators,
charges and top-ups among the payments, masked numbers, a totals line), with planted
differences: paid but not in the ledger, in the ledger but not paid, a different amount, a
different recipient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.db.database import upgrade_database
from domain import events, ledger, payouts
from domain.model import Role
from domain.payouts.statement import StatementError, read_statement, same_number
from domain.store import Store
from tests.integration.factory_fixtures import bare_person, payee

STATEMENTS = Path(__file__).parent / "statements"
PLANTED = STATEMENTS / "planted.csv"
CLEAN = STATEMENTS / "clean.csv"

# (name, number, cents, receipt): what the ledger paid.
PAID = [
    ("Wanjiru Kamau", "+254711000001", 150_000, "SKA1000001"),
    ("Baraka Otieno", "+254711000002", 120_000, "SKA1000002"),
    ("Peter Njoroge", "+254711000003", 90_000, "SKA1000003"),
    ("Njeri Wambui", "+254711000004", 80_000, "SKA1000008"),
]

Karakana = Callable[..., Result]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"
    upgrade_database(url)
    return url


@pytest.fixture
def karakana(database_url: str) -> Karakana:
    env = {"DATABASE_URL": database_url, "COLUMNS": "220", "NO_COLOR": "1"}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


def paid_ledger(database_url: str, paid: list[tuple[str, str, int, str]]) -> None:
    """Each artisan owed, paid in one batch, and each payout settled with its receipt."""

    async def go() -> None:
        now = datetime.now(UTC)
        store = Store.from_url(database_url)
        try:
            async with store.transaction() as session:
                admin = await bare_person(session, "Amina", Role.ADMIN, now=now)
                artisans = {}
                for name, number, cents, _ in paid:
                    artisan = await payee(session, name, now=now, mpesa_number=number)
                    await ledger.record_earning(
                        session, artisan_id=artisan, amount_cents=cents, reference=name, now=now
                    )
                    artisans[artisan] = name
                batch = await payouts.create_payout_batch(session, minimum_cents=100, now=now)
                assert batch is not None
                assert batch.id is not None
                await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=now)
                receipts = {name: receipt for name, _, _, receipt in paid}
                for payout in await payouts.payouts_to_send(session):
                    originator = payout.originator_conversation_id
                    receipt = receipts[artisans[payout.artisan_id]]
                    await payouts.mark_sending(
                        session, originator_conversation_id=originator, now=now
                    )
                    await payouts.settle_success(
                        session,
                        originator_conversation_id=originator,
                        mpesa_receipt=receipt,
                        now=now,
                    )
                events.drain(session)
        finally:
            await store.close()

    asyncio.run(go())


def test_the_reader_finds_the_payouts_among_the_portals_header_lines_charges_and_totals() -> None:
    payments = read_statement(PLANTED.read_text(encoding="utf-8-sig"))

    assert [
        (p.receipt, p.amount_cents, p.recipient_number, p.recipient_name) for p in payments
    ] == [
        ("SKA1000001", 150_000, "254711000001", "WANJIRU KAMAU"),
        ("SKA1000002", 125_000, "254711000002", "BARAKA OTIENO"),
        ("SKA1000003", 90_000, "254799123456", "PETER NJOROGE"),
        ("SKA1000005", 400_000, "2547*****999", "JOHN DOE"),
    ]
    assert payments[0].line == 8
    assert payments[0].completed == "05-12-2026 10:02:11"


def test_a_masked_number_matches_the_digits_it_shows() -> None:
    assert same_number("2547*****002", "+254711000002")
    assert not same_number("2547*****003", "+254711000002")
    assert not same_number("254799123456", "+254711000002")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Account Holder:,KARAKANA\nShort Code:,600999\n", "no table found"),
        ("Receipt No.,Completion Time,Details\nSKA1,05-12-2026,x\n", "line 1"),
        (
            "Receipt No.,Details,Transaction Status,Withdrawn\n"
            'SKA1,"Business Payment to 254711000001 - A",Completed,"1,2x0.00"\n',
            "line 2, Withdrawn",
        ),
    ],
)
def test_a_file_that_is_not_a_statement_is_refused_naming_the_line(text: str, problem: str) -> None:
    with pytest.raises(StatementError, match=problem):
        read_statement(text)


def test_reconcile_lists_every_planted_difference_and_exits_1(
    karakana: Karakana, database_url: str
) -> None:
    paid_ledger(database_url, PAID)

    result = karakana("payouts", "reconcile", "--statement", str(PLANTED))

    assert result.exit_code == 1, result.output
    assert "4 difference(s) between the ledger and M-Pesa" in result.output
    lines = result.output.splitlines()

    def line_of(words: str) -> str:
        [found] = [line for line in lines if words in line]
        return found

    assert "1,200.00" in line_of("M-Pesa paid 125000 cents")  # Baraka: another amount
    assert "Peter Njoroge" in line_of("M-Pesa paid SKA1000003 to +254*****456")  # another number
    assert "Njeri Wambui" in line_of("not on M-Pesa's statement")  # paid in the ledger only
    assert "4,000.00" in line_of("M-Pesa paid SKA1000005, which no payout records")
    assert "Wanjiru" not in result.output  # the one that agrees is not listed


def test_reconcile_against_a_statement_that_agrees_says_so_and_exits_0(
    karakana: Karakana, database_url: str
) -> None:
    paid_ledger(database_url, PAID[:3])

    result = karakana("payouts", "reconcile", "--statement", str(CLEAN))

    assert result.exit_code == 0, result.output
    assert "agree on every payout and the 3 payment(s) on the statement" in result.output


def test_reconcile_refuses_a_file_that_is_not_a_statement(
    karakana: Karakana, tmp_path: Path
) -> None:
    wrong = tmp_path / "orders.csv"
    wrong.write_text("customer,reference\nDuka,PO-1\n", encoding="utf-8")

    result = karakana("payouts", "reconcile", "--statement", str(wrong))

    assert result.exit_code == 1
    assert "no table found" in result.output
