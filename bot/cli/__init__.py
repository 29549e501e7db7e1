"""``karakana``: set up the database, seed the demo, import and export CSV, add people, see status,
run the bot, simulate matching policies, send and reconcile M-Pesa payouts, and check the ledger.

Each command is a thin translation: read arguments, do one unit of work through the domain, print
the outcome. A mistake a person can fix (a bad CSV, an invalid phone number, a database behind
its migrations) ends in one red message and exit code 1, never a traceback.
"""

from __future__ import annotations

import typer

from bot.cli import (
    api_keys,
    chat,
    customers,
    db,
    ledger,
    names,
    orders,
    payouts,
    people,
    products,
    report,
    run,
    seed,
    simulate,
    status,
)

app = typer.Typer(
    name="karakana",
    help="Karakana: a virtual factory for Nairobi's artisan jewellery workshops, run over chat.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(seed.seed)
app.command()(status.status)
app.command()(chat.chat)
app.command()(run.run)
app.command()(simulate.simulate)
app.add_typer(db.app, name="db")
app.add_typer(products.app, name="products", no_args_is_help=True)
app.add_typer(names.app, name="names", no_args_is_help=True)
app.add_typer(orders.app, name="orders", no_args_is_help=True)
app.add_typer(people.app, name="people", no_args_is_help=True)
app.add_typer(payouts.app, name="payouts", no_args_is_help=True)
app.add_typer(ledger.app, name="ledger", no_args_is_help=True)
app.add_typer(api_keys.app, name="api-keys", no_args_is_help=True)
app.add_typer(customers.app, name="customers", no_args_is_help=True)
app.add_typer(report.app, name="report", no_args_is_help=True)

__all__ = ["app"]
