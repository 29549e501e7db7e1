"""The payout notices' grouped queries say what asking one person or one payout at a time said.

Receipts are queued many at a time (``payout_notices.preferred_addresses`` must pick the chat
``outbox.preferred_identity`` picks), and a batch's summary finds the orders it paid for with a
few queries per few hundred artisans (``orders_paid_by_batch``), counting each artisan's
deliveries since their previous *paid* batch.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from conversations.outbox import preferred_identity
from conversations.payout_notices import orders_paid_by_batch, preferred_addresses
from domain import payouts
from domain.model import Channel, ChannelIdentity, ConversationState, Role
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Floor, bare_person, place_order

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

# Per person: their chat identities (channels) and their conversation states, each either on one
# of their identities (its index) or on an address that is not theirs (None).
PERSON = st.tuples(
    st.lists(st.sampled_from(list(Channel)), max_size=4),
    st.lists(st.tuples(st.none() | st.integers(0, 3), st.sampled_from(list(Channel))), max_size=3),
)


async def _compare_preferred(
    people: Sequence[tuple[list[Channel], list[tuple[int | None, Channel]]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'karakana.db'}")
        try:
            async with store.engine.begin() as connection:
                await connection.run_sync(SQLModel.metadata.create_all)
            ids: list[int] = []
            moment = NOW
            taken: set[tuple[Channel, str]] = set()
            async with store.transaction() as session:
                for n, (channels, states) in enumerate(people):
                    person = await bare_person(session, f"Person {n}", Role.ARTISAN, now=NOW)
                    ids.append(person)
                    addresses = [(c, f"{n}-{k}") for k, c in enumerate(channels)]
                    for channel, address in addresses:
                        session.add(
                            ChannelIdentity(person_id=person, channel=channel, address=address)
                        )
                    for k, (which, channel) in enumerate(states):
                        on = (
                            addresses[which]
                            if which is not None and which < len(addresses)
                            else (channel, f"elsewhere-{n}-{k}")
                        )
                        if on in taken:
                            continue  # one state per chat address
                        taken.add(on)
                        moment += timedelta(minutes=1)  # each state last written at its own time
                        session.add(
                            ConversationState(
                                channel=on[0],
                                address=on[1],
                                person_id=person,
                                flow="menu",
                                step="idle",
                                updated_at=moment,
                            )
                        )
            async with store.read() as session:
                grouped = await preferred_addresses(session, set(ids))
                for person in ids:
                    one = await preferred_identity(session, person)
                    assert grouped.get(person) == (
                        None if one is None else (one.channel, one.address)
                    )
        finally:
            await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.lists(PERSON, min_size=1, max_size=4))
def test_receipts_go_where_a_single_business_message_would(
    people: list[tuple[list[Channel], list[tuple[int | None, Channel]]]],
) -> None:
    asyncio.run(_compare_preferred(people))


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
