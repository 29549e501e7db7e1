"""``karakana payouts``: send approved M-Pesa payouts now, and reconcile with M-Pesa."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot import main
from bot.cli.common import fail, load_settings, out, say, with_factory
from bot.main import Factory
from conversations.i18n import Catalogue
from domain.payouts.reconcile import COLUMNS as RECONCILE_COLUMNS
from domain.payouts.reconcile import Difference, StatementLine, reconcile_payouts
from domain.payouts.statement import StatementError, read_statement

app = typer.Typer(help="M-Pesa payouts: send approved ones now, reconcile with M-Pesa.")


@app.command("reconcile")
def payouts_reconcile(
    stale_after: Annotated[
        int,
        typer.Option(
            "--stale-after-minutes", min=1, help="A payout in doubt longer than this is listed."
        ),
    ] = 60,
    statement: Annotated[
        Path | None,
        typer.Option(
            "--statement",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The M-Pesa organisation statement, as the M-Pesa org portal exports it (CSV).",
        ),
    ] = None,
) -> None:
    """Compare the ledger with what M-Pesa said for every payout (and, given one, with M-Pesa's
    statement: paid but not in the ledger, in the ledger but not paid, a different amount or
    recipient); exit 1 if anything differs."""
    lines: list[StatementLine] | None = None
    if statement is not None:
        try:
            text = statement.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {statement}: {exc}")
        try:
            lines = [StatementLine.from_statement(p) for p in read_statement(text)]
        except StatementError as exc:
            fail(f"{statement}: {exc}")

    async def work(factory: Factory) -> list[Difference]:
        return await reconcile_payouts(
            factory.store,
            now=factory.now(),
            statement=lines,
            stale_after=timedelta(minutes=stale_after),
        )

    differences = with_factory(work)
    if not differences:
        checked = "" if lines is None else f" and the {len(lines)} payment(s) on the statement"
        say(f"The ledger and M-Pesa agree on every payout{checked}.")
        return
    table = Table(title=f"{len(differences)} difference(s) between the ledger and M-Pesa")
    for name in RECONCILE_COLUMNS:
        table.add_column(name, justify="right" if name.startswith(("Payout", "Amount")) else "left")
    for difference in differences:
        table.add_row(*difference.as_row())
    out().print(table)
    raise typer.Exit(1)


@app.command("run")
def payouts_run() -> None:
    """Send approved payouts to M-Pesa now (and ask about those in doubt), then wait a moment
    for M-Pesa's results; the running bot receives any that come later."""
    settings = load_settings()
    try:
        main.daraja_config(settings)
    except main.MpesaNotConfigured as exc:
        fail(str(exc))

    async def work(factory: Factory) -> list[str]:
        payments = main.build_payments(factory, Catalogue.load(), factory.now)
        assert payments is not None
        try:
            return await payments.waker.send_waiting()
        finally:
            await payments.aclose()

    sent = with_factory(work)
    if not sent:
        say("No approved payout is waiting to be sent.")
        return
    say(
        f"Sent {len(sent)} payout(s) to M-Pesa; their results arrive at the running bot's "
        "M-Pesa callback routes. Check with: karakana payouts reconcile"
    )
