"""``karakana seed --demo``: fill an empty database with the demo factory."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import func
from sqlmodel import select

from bot.cli.common import fail, say, with_factory
from bot.demo import DemoSummary, seed_demo
from bot.main import Factory
from domain.model import Order, Person, Product


async def seed_if_empty(factory: Factory) -> tuple[DemoSummary | None, str]:
    """Seed the demo into an empty factory; otherwise leave it be and say what it already has."""
    async with factory.store.transaction() as session:
        held = []
        for one, many, model in (
            ("person", "people", Person),
            ("product", "products", Product),
            ("order", "orders", Order),
        ):
            n = (await session.exec(select(func.count()).select_from(model))).one()
            if n:
                held.append(f"{n} {one if n == 1 else many}")
        if held:
            return None, ", ".join(held)
        return await seed_demo(session, now=factory.now(), zone=factory.zone), ""


def report_seed(summary: DemoSummary | None, held: str) -> None:
    if summary is None:
        say(
            f"The database already has data ({held}), so it is already seeded; "
            "the demo was not added.",
            style="yellow",
        )
        return
    say(
        f"Seeded the demo factory: {summary.products} products ({summary.components} components), "
        f"{summary.artisans_active + summary.artisans_pending} artisans "
        f"({summary.artisans_pending} pending verification), {summary.field_agents} field agents, "
        f"{summary.admins} admin, {summary.orders_confirmed + summary.orders_draft} orders "
        f"({summary.orders_confirmed} confirmed into {summary.jobs} jobs)."
    )


def seed(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Seed the demo factory: 8 products, 60 artisans, a few orders."
        ),
    ] = False,
) -> None:
    """Fill an empty database with data to try Karakana with."""
    if not demo:
        fail("say what to seed: `karakana seed --demo` is the only seed there is")
    report_seed(*with_factory(seed_if_empty))
