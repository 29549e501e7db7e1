"""Whom money goes to, through the fake Daraja over loopback: a payout to an unconfirmed new
number is held at sending and goes to the new number once confirmed; a receiver whose M-Pesa
name is not the artisan's holds their next payout and tells the admins until /payee_ok.
"""

from __future__ import annotations

import json

from sqlmodel import col, select

from conversations.i18n import t
from domain import ledger
from domain.model import (
    OutboxMessage,
    PayeeCheck,
    PayeeCheckStatus,
    PayoutStatus,
    Person,
)
from domain.payouts import (
    HoldReason,
    cancel_batch,
    clear_payee_holds,
    confirm_number_change,
    create_payout_batch,
    payout_holds,
    request_number_change,
)
from domain.store import Store
from scheduler import jobs
from tests.conftest import FakeClock
from tests.fakes.daraja_api import FakeDaraja
from tests.integration.mpesa_harness import (
    Harness,
    all_payouts,
    approve_new_batch,
    approved_batch,
    mpesa_harness,
    notifier,
    owed_artisans,
)

NEW_NUMBER = "0722 000 333"


def ident_of(person_id: int | None) -> int:
    assert person_id is not None
    return person_id


async def run_to_rest(h: Harness[FakeDaraja]) -> None:
    await h.runner.run()
    await h.settle()


async def outbox_texts(store: Store) -> list[str]:
    async with store.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        return [json.loads(r.body)["text"] for r in rows]


async def test_a_payout_to_an_unconfirmed_new_number_is_held_and_goes_to_it_once_confirmed(
    store: Store, clock: FakeClock
) -> None:
    _, (first, second) = await approved_batch(store, clock.now(), [150_000, 90_000])
    async with store.transaction() as session:
        change = await request_number_change(
            session, artisan_id=first, raw_number=NEW_NUMBER, now=clock.now()
        )
        admin = ident_of(
            (await session.exec(select(Person.id).where(Person.name == "Amina"))).one()
        )
    assert change.id is not None

    async with mpesa_harness(store, clock.now) as h:
        await run_to_rest(h)
        # Only the second artisan's payout went; the first waits, unsent, for the confirmation.
        assert [r["PartyB"] for r in h.daraja.b2c_requests] == ["254700000001"]
        statuses = {p.artisan_id: p.status for p in await all_payouts(store)}
        assert statuses == {first: PayoutStatus.PENDING, second: PayoutStatus.SUCCEEDED}

        async with store.transaction() as session:
            await confirm_number_change(
                session, change_id=change.id, confirmer_id=admin, now=clock.now()
            )
        await run_to_rest(h)

    assert [r["PartyB"] for r in h.daraja.b2c_requests] == ["254700000001", "254722000333"]
    paid = {p.artisan_id: (p.status, p.msisdn) for p in await all_payouts(store)}
    assert paid == {
        first: (PayoutStatus.SUCCEEDED, "+254722000333"),
        second: (PayoutStatus.SUCCEEDED, "+254700000001"),
    }


async def test_a_receiver_in_another_name_holds_the_next_payout_and_tells_the_admins(
    store: Store, clock: FakeClock
) -> None:
    _, (first, second) = await approved_batch(store, clock.now(), [150_000, 90_000])
    daraja = FakeDaraja(
        payee_names={
            "254700000000": "JOHN MWANGI",  # not "Artisan 0"
            "254700000001": "ARTISAN 1",  # the registered name, in M-Pesa's capitals
        }
    )
    async with mpesa_harness(store, clock.now, daraja=daraja) as h:
        await run_to_rest(h)

    async with store.transaction() as session:
        checks = list(await session.exec(select(PayeeCheck)))
        holds = await payout_holds(session)
    assert [(c.artisan_id, c.registered_name, c.receiver_name, c.status) for c in checks] == [
        (first, "Artisan 0", "JOHN MWANGI", PayeeCheckStatus.HELD)
    ]
    assert holds == {first: HoldReason.PAYEE_NAME_MISMATCH}
    [payout] = [p for p in await all_payouts(store) if p.artisan_id == first]
    assert any(
        f"Payout {payout.id}" in text and "“JOHN MWANGI”" in text and f"/payee_ok {first}" in text
        for text in await outbox_texts(store)
    )
    told = t(
        "en",
        "artisan.payee_mismatch",
        amount="KES 1,500",
        receiver="“JOHN MWANGI”",
        name="“Artisan 0”",
    )
    assert told in await outbox_texts(store)  # the artisan hears it too, with what comes next

    # Both earn again: the next batch leaves the first artisan out until an admin clears it.
    async with store.transaction() as session:
        admin = ident_of(
            (await session.exec(select(Person.id).where(Person.name == "Amina"))).one()
        )
        for artisan in (first, second):
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=50_000,
                reference=f"again:{artisan}",
                now=clock.now(),
            )
        batch = await create_payout_batch(session, minimum_cents=100, now=clock.now())
    assert batch is not None
    assert [p.artisan_id for p in await all_payouts(store) if p.batch_id == batch.id] == [second]

    async with store.transaction() as session:
        assert (
            await clear_payee_holds(session, artisan_id=first, admin_id=admin, now=clock.now()) == 1
        )
        assert await payout_holds(session) == {}
    async with store.transaction() as session:
        assert batch.id is not None
        await cancel_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
    await approve_new_batch(store, clock.now(), admin)
    later = [p for p in await all_payouts(store) if p.status is PayoutStatus.PENDING]
    assert sorted(p.artisan_id for p in later) == [first, second]


async def test_the_weekly_batch_leaves_out_one_owed_over_the_limit_and_never_auto_approves_over_it(
    store: Store, clock: FakeClock
) -> None:
    _, (small, big) = await owed_artisans(store, clock.now(), [60_000, 900_000])

    outcome = await jobs.weekly_payout_batch(
        store,
        clock=clock.now,
        minimum_cents=10_000,
        auto_approve_limit_cents=100_000,
        max_per_artisan_cents=500_000,
        max_batch_cents=50_000,
        notify=notifier(),
    )

    assert not outcome.approved  # KES 600 is within auto-approval, but over the batch limit
    assert [p.artisan_id for p in await all_payouts(store)] == [small]
    async with store.transaction() as session:
        balance = await ledger.artisan_balance(session, big)
    assert balance.available_cents == 900_000
