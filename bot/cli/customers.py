"""``karakana customers``: how a customer hears about its orders."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import out, say, with_factory
from bot.main import Factory
from domain.services import api_keys

app = typer.Typer(help="Customers: where they hear about their orders.")


@app.command("set-callback")
def set_callback(
    customer: Annotated[str, typer.Argument(help="The customer's name, as on its orders.")],
    url: Annotated[str, typer.Argument(help="An https URL we POST order news to.")],
    secret: Annotated[
        str | None,
        typer.Option(help="The signing secret to use (16-128 characters); made if not given."),
    ] = None,
) -> None:
    """POST CUSTOMER's order news (confirmed, ready, shipped) to URL, signed with a secret
    (X-Karakana-Signature: sha256=<hex HMAC-SHA256 of the body>)."""

    async def work(factory: Factory) -> str:
        async with factory.store.transaction() as session:
            _, used = await api_keys.set_callback(
                session, customer_name=customer, url=url, secret=secret
            )
            return used

    used = with_factory(work)
    say(f"{customer.strip()}'s order news now goes to {url.strip()}, signed with:")
    out().print(used, soft_wrap=True, markup=False)
