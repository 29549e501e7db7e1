"""``karakana api-keys``: retailers' keys to the orders API (``POST /api/orders``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import out, say, with_factory
from bot.main import Factory
from domain.services import api_keys

app = typer.Typer(help="Retailers' keys to the orders API.")


@app.command("create")
def create(
    customer: Annotated[str, typer.Argument(help="The customer's name, as on its orders.")],
) -> None:
    """Make a key for CUSTOMER and show it, this once: only its hash is kept."""

    async def work(factory: Factory) -> tuple[str, str]:
        async with factory.store.transaction() as session:
            made = await api_keys.create_key(session, customer_name=customer, now=factory.now())
            return made.key.key_id, made.token

    key_id, token = with_factory(work)
    say(f"API key {key_id} for {customer.strip()}:")
    out().print(token, soft_wrap=True, markup=False)
    say("Give it to the customer now: it cannot be shown again.", "yellow")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (karakana api-keys list).")],
) -> None:
    """Revoke a key: it is refused from now on."""

    async def work(factory: Factory) -> str:
        async with factory.store.transaction() as session:
            key = await api_keys.revoke_key(session, key_id, now=factory.now())
            return key.key_id

    say(f"API key {with_factory(work)} is revoked.")


@app.command("list")
def list_keys() -> None:
    """Every key, its customer, and whether it is revoked (never the key itself)."""

    async def work(factory: Factory) -> list[tuple[str, str, str, str]]:
        async with factory.store.read() as session:
            return [
                (
                    key.key_id,
                    customer.name,
                    key.created_at.isoformat(timespec="minutes"),
                    "-" if key.revoked_at is None else key.revoked_at.isoformat(timespec="minutes"),
                )
                for key, customer in await api_keys.list_keys(session)
            ]

    table = Table(title="API keys")
    for column in ("Key id", "Customer", "Created", "Revoked"):
        table.add_column(column)
    for row in with_factory(work):
        table.add_row(*row)
    out().print(table)
