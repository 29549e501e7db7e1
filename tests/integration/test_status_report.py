"""The factory status that `karakana status` and `karakana run` show, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model import CustomerKind
from domain.reports import read_status
from domain.services.catalogue import upsert_product
from domain.services.orders import create_order, get_or_create_customer
from domain.store import Store

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


async def test_a_large_order_line_is_valued_without_overflowing_the_database(
    any_store: Store,
) -> None:
    # 20,000 units at KES 1,200 is 2.4 billion cents: past a 32-bit integer.
    async with any_store.transaction() as session:
        await upsert_product(
            session,
            sku="HORN-CUFF",
            name="Horn cuff",
            wholesale_price_cents=120_000,
            retail_price_cents=240_000,
        )
        customer = await get_or_create_customer(
            session, name="Maasai Market Ltd", kind=CustomerKind.RETAILER
        )
        assert customer.id is not None
        await create_order(
            session,
            customer_id=customer.id,
            reference="PO-BIG",
            due_date=(NOW + timedelta(days=60)).date(),
            lines=[("HORN-CUFF", 20_000)],
            now=NOW,
        )

    async with any_store.read() as session:
        status = await read_status(session)

    [order] = status.orders
    assert (order.units, order.value_cents) == (20_000, 2_400_000_000)
