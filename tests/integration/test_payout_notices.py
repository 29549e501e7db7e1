"""The payout notices' grouped queries say what asking one payout at a time said.

A batch's summary finds the orders it paid for with a few queries per few hundred artisans
(``orders_paid_by_batch``), counting each artisan's deliveries since their previous *paid* batch.
(Receipts reach each artisan where ``outbox.preferred_identities`` says: test_outbox_identities.)
"""

from __future__ import annotations

from conversations.admin.queries import orders_paid_by_batch
from domain import payouts
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Floor, place_order

# --- which orders a batch paid for ------------------------------------------------------------


async def _delivered(floor: Floor, artisan: int, pieces: int) -> None:
    component = next(iter(floor.order.jobs))
    allocation = await floor.passed_pieces(component, artisan, pieces)
    delivery = await floor.drop_off(allocation, artisan, pieces)
    await floor.receive(delivery, pieces)
    floor.clock.advance(hours=1)


async def _batch_settled(floor: Floor, failing: set[int]) -> int:
    """A batch paying everyone owed, sent; the artisans in ``failing`` are refused by M-Pesa."""
    store, now = floor.store, floor.clock.now
    async with store.transaction() as session:
        batch = await payouts.create_payout_batch(session, minimum_cents=1, now=now())
        assert batch is not None
        assert batch.id is not None
        await payouts.approve_batch(
            session, batch_id=batch.id, admin_id=floor.factory.admin, now=now()
        )
        sent = await payouts.claim_for_sending(
            session,
            [p.originator_conversation_id for p in await payouts.batch_payouts(session, batch.id)],
            now=now(),
        )
        await payouts.settle_outcomes(
            session,
            [
                payouts.PaymentOutcome(
                    p.originator_conversation_id,
                    2040 if p.artisan_id in failing else 0,
                    mpesa_receipt=f"R{p.id}",
                )
                for p in sent
            ],
            now=now(),
        )
    floor.clock.advance(hours=1)
    return batch.id


async def test_a_batch_paid_for_the_orders_delivered_since_each_artisan_was_last_paid(
    floor: Floor, clock: FakeClock
) -> None:
    wanjiru, otieno = floor.factory.wanjiru, floor.factory.otieno
    first_order = floor.order
    second_order = await place_order(floor.store, clock)
    on_second = Floor(floor.store, clock, floor.engine, floor.factory, second_order)

    await _delivered(floor, wanjiru, 2)  # first order, paid in the first batch
    await _delivered(floor, otieno, 3)  # first order; its payout fails, so paid in the second
    first = await _batch_settled(floor, failing={otieno})
    await _delivered(on_second, wanjiru, 2)  # second order, paid in the second batch
    second = await _batch_settled(floor, failing=set())

    async with floor.store.read() as session:
        assert await orders_paid_by_batch(session, first) == [first_order.order_id]
        assert await orders_paid_by_batch(session, second) == sorted(
            [first_order.order_id, second_order.order_id]
        )
    # Without Otieno's late payment the second batch paid only for Wanjiru's second order.
    third_order = await place_order(floor.store, clock)
    await _delivered(
        Floor(floor.store, clock, floor.engine, floor.factory, third_order), wanjiru, 1
    )
    third = await _batch_settled(floor, failing=set())
    async with floor.store.read() as session:
        assert await orders_paid_by_batch(session, third) == [third_order.order_id]
