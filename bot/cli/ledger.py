"""``karakana ledger``: check that the books balance, and correct what a delivery earned.

``check`` is for cron and for whoever is on duty after an incident: it exits 1 when debits and
credits differ or a reversal does not mirror what it reverses. ``correct`` is the one way to fix
an earning after a receipt was counted wrong: the ledger is append-only, so the old earning is
reversed and the new one recorded beside it, with the reason, and the history keeps both.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import fail, kes, out, say, with_factory
from bot.main import Factory
from domain import ledger
from domain.limits import MAX_MONEY_CENTS
from domain.model import Allocation, Delivery, Transfer
from domain.text import clean_text

_MAX_REASON = 200

app = typer.Typer(help="The ledger: check it balances, correct a delivery's earning.")


@app.command("check")
def ledger_check() -> None:
    """Sum every account's debits and credits and check every reversal; exit 1 on a problem."""

    async def work(factory: Factory) -> ledger.TrialBalance:
        async with factory.store.transaction() as session:
            return await ledger.trial_balance(session)

    balance = with_factory(work)
    table = Table(title="Trial balance")
    for name in ("", "Debits", "Credits"):
        table.add_column(name, justify="left" if not name else "right")
    table.add_row("Posted", kes(balance.debits_posted), kes(balance.credits_posted))
    table.add_row("Pending", kes(balance.debits_pending), kes(balance.credits_pending))
    out().print(table)
    for problem in balance.problems:
        out().print(f"- {problem}", style="red")
    if not balance.balanced:
        fail("the ledger does not balance: see above, and do not send payouts until it does")
    say("The ledger balances.")


def _cents(text: str) -> int:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        fail(f"{text!r} is not an amount; write shillings, e.g. 1200 or 1,200.50")
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        fail(f"{text!r} is not an amount; write shillings with at most two decimals, 0 or more")
    cents = int(value * 100)
    if cents > MAX_MONEY_CENTS:
        fail(f"{text} is more than {kes(MAX_MONEY_CENTS)}, the most one earning may be")
    return cents


@app.command("correct")
def ledger_correct(
    delivery: Annotated[int, typer.Argument(min=1, help="The delivery whose earning is wrong.")],
    amount: Annotated[str, typer.Argument(help="What it should have earned, in shillings.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the ledger.")],
) -> None:
    """Set what a delivery earned its artisan (0 cancels it); the old earning is reversed."""
    cents = _cents(amount)
    why = clean_text(reason)
    if not why:
        fail("say why with --reason: it is kept in the ledger beside the correction")
    if len(why) > _MAX_REASON:
        fail(f"keep the reason to {_MAX_REASON} characters")

    async def work(factory: Factory) -> tuple[int, Transfer | None]:
        async with factory.store.transaction() as session:
            found = await session.get(Delivery, delivery)
            if found is None:
                fail(f"there is no delivery {delivery}")
            allocation = await session.get(Allocation, found.allocation_id)
            assert allocation is not None  # a foreign key
            now = factory.now()
            kept = await ledger.record_earning_correction(
                session,
                artisan_id=allocation.artisan_id,
                reference=f"delivery:{delivery}",
                amount_cents=cents,
                reason=why,
                now=now,
            )
            return allocation.artisan_id, kept

    artisan_id, kept = with_factory(work)
    if kept is None:
        say(f"Delivery {delivery} now earns nothing; artisan {artisan_id}'s earning is reversed.")
    else:
        say(f"Delivery {delivery} now earns artisan {artisan_id} {kes(kept.amount_cents)}.")
