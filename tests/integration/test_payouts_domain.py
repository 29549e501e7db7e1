"""Payout batches and settlements on SQLite and PostgreSQL: reserved, paid once, or released."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import func, select

from domain import events, ledger, payouts
from domain.errors import Forbidden, IllegalTransition, NotFound, PayoutError
from domain.ledger import ArtisanBalance
from domain.model import (
    ArtisanStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Role,
    Transfer,
    TransferPhase,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import bare_person, payee

MINIMUM = 1_000


class Factory:
    """A few artisans, an admin and a field agent, and a way to give artisans earnings."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self._earnings = 0

    async def artisan(
        self, name: str, *, status: ArtisanStatus = ArtisanStatus.ACTIVE, earned: int = 0
    ) -> int:
        async with self.store.transaction() as session:
            artisan_id = await payee(session, name, now=self.clock.now(), status=status)
        if earned:
            await self.earn(artisan_id, earned)
        return artisan_id

    async def person(self, name: str, role: Role) -> int:
        async with self.store.transaction() as session:
            return await bare_person(session, name, role, now=self.clock.now())

    async def earn(self, artisan_id: int, cents: int) -> None:
        self._earnings += 1
        async with self.store.transaction() as session:
            await ledger.record_earning(
                session,
                artisan_id=artisan_id,
                amount_cents=cents,
                reference=f"delivery:{self._earnings}",
                now=self.clock.now(),
            )

    async def batch(self) -> PayoutBatch | None:
        async with self.store.transaction() as session:
            return await payouts.create_payout_batch(
                session, minimum_cents=MINIMUM, now=self.clock.now()
            )

    async def approved_batch(self, admin: int) -> tuple[PayoutBatch, list[Payout]]:
        batch = await self.batch()
        assert batch is not None
        assert batch.id is not None
        async with self.store.transaction() as session:
            await payouts.approve_batch(
                session, batch_id=batch.id, admin_id=admin, now=self.clock.now()
            )
            return batch, await payouts.batch_payouts(session, batch.id)

    async def send(self, payout: Payout) -> None:
        async with self.store.transaction() as session:
            await payouts.mark_sending(
                session,
                originator_conversation_id=payout.originator_conversation_id,
                now=self.clock.now(),
            )

    async def succeed(self, payout: Payout, receipt: str = "TKR1A2B3C4") -> Payout:
        async with self.store.transaction() as session:
            return await payouts.settle_success(
                session,
                originator_conversation_id=payout.originator_conversation_id,
                mpesa_receipt=receipt,
                result_code=0,
                now=self.clock.now(),
            )

    async def fail(self, payout: Payout, code: int | str = 2040) -> Payout:
        async with self.store.transaction() as session:
            return await payouts.settle_failure(
                session,
                originator_conversation_id=payout.originator_conversation_id,
                result_code=code,
                now=self.clock.now(),
            )

    async def balance(self, artisan_id: int) -> ArtisanBalance:
        async with self.store.transaction() as session:
            return await ledger.artisan_balance(session, artisan_id)

    async def transfers(self) -> list[Transfer]:
        async with self.store.transaction() as session:
            return list((await session.exec(select(Transfer).order_by(Transfer.id))).all())

    async def batch_status(self, batch_id: int | None) -> PayoutBatchStatus:
        async with self.store.transaction() as session:
            batch = await session.get(PayoutBatch, batch_id)
            assert batch is not None
            return batch.status


@pytest.fixture
def factory(any_store: Store, clock: FakeClock) -> Factory:
    return Factory(any_store, clock)


async def test_a_batch_reserves_what_each_active_artisan_is_owed_above_the_minimum(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    owed = await factory.artisan("Achieng", earned=12_500)
    await factory.artisan("Baraka", earned=MINIMUM - 1)
    await factory.artisan("Chebet", status=ArtisanStatus.PAUSED, earned=5_000)
    await factory.artisan("Daudi")
    async with any_store.transaction() as session:
        batch = await payouts.create_payout_batch(session, minimum_cents=MINIMUM, now=clock.now())
        assert batch is not None
        assert batch.id is not None
        recorded = events.drain(session)
        (payout,) = await payouts.batch_payouts(session, batch.id)
        reserve = await session.get(Transfer, payout.pending_transfer_id)
    assert batch.status is PayoutBatchStatus.AWAITING_APPROVAL
    assert (payout.artisan_id, payout.amount_cents, payout.msisdn) == (
        owed,
        12_500,
        "+254712345678",
    )
    assert payout.status is PayoutStatus.PENDING
    assert uuid.UUID(payout.originator_conversation_id)
    assert reserve is not None
    assert (reserve.phase, reserve.amount_cents) == (TransferPhase.PENDING, 12_500)
    assert await factory.balance(owed) == ArtisanBalance(12_500, 12_500, 0, 0)
    assert recorded == [
        events.PayoutBatchCreated(
            batch_id=batch.id, payout_count=1, total_cents=12_500, created_by=None
        )
    ]


async def test_no_batch_is_made_when_nobody_is_owed_enough(
    factory: Factory, any_store: Store
) -> None:
    await factory.artisan("Achieng", earned=MINIMUM - 1)
    assert await factory.batch() is None
    async with any_store.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(PayoutBatch))).one() == 0
    assert len(await factory.transfers()) == 1  # the earning only


async def test_the_minimum_must_be_positive_whole_cents(any_store: Store, clock: FakeClock) -> None:
    async with any_store.transaction() as session:
        for bad in (0, -1, 10.0):
            with pytest.raises(PayoutError, match="minimum"):
                await payouts.create_payout_batch(
                    session,
                    minimum_cents=bad,  # type: ignore[arg-type]
                    now=clock.now(),
                )


async def test_only_an_admin_may_start_a_batch_by_hand(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    agent = await factory.person("Otieno", Role.FIELD_AGENT)
    admin = await factory.person("Wambui", Role.ADMIN)
    async with any_store.transaction() as session:
        with pytest.raises(Forbidden, match="only an admin"):
            await payouts.create_payout_batch(
                session, minimum_cents=MINIMUM, now=clock.now(), created_by=agent
            )
        batch = await payouts.create_payout_batch(
            session, minimum_cents=MINIMUM, now=clock.now(), created_by=admin
        )
        assert batch is not None
        assert events.drain(session)[-1] == events.PayoutBatchCreated(
            batch_id=batch.id or 0, payout_count=1, total_cents=5_000, created_by=admin
        )


async def test_an_artisan_with_a_payout_in_flight_is_not_paid_again(factory: Factory) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    first = await factory.batch()
    assert first is not None
    await factory.earn(artisan, 7_000)
    assert await factory.batch() is None
    assert await factory.balance(artisan) == ArtisanBalance(12_000, 5_000, 0, 7_000)


async def test_only_an_admin_approves_a_batch_and_only_once(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        with pytest.raises(Forbidden, match="only an admin can approve payouts"):
            await payouts.approve_batch(
                session, batch_id=batch.id, admin_id=artisan, now=clock.now()
            )
        with pytest.raises(NotFound):
            await payouts.approve_batch(session, batch_id=batch.id, admin_id=999, now=clock.now())
        approved = await payouts.approve_batch(
            session, batch_id=batch.id, admin_id=admin, now=clock.now()
        )
        assert (approved.status, approved.approved_by) == (PayoutBatchStatus.APPROVED, admin)
        assert approved.approved_at == clock.now()
        with pytest.raises(IllegalTransition):
            await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
        with pytest.raises(NotFound):
            await payouts.approve_batch(session, batch_id=404, admin_id=admin, now=clock.now())


async def test_a_batch_under_the_limit_is_approved_automatically(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    await factory.artisan("Baraka", earned=3_000)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        assert not await payouts.auto_approve_batch(
            session, batch_id=batch.id, limit_cents=7_999, now=clock.now()
        )
        assert (await session.get(PayoutBatch, batch.id)).status is (  # type: ignore[union-attr]
            PayoutBatchStatus.AWAITING_APPROVAL
        )
        assert await payouts.auto_approve_batch(
            session, batch_id=batch.id, limit_cents=8_000, now=clock.now()
        )
        approved = await session.get(PayoutBatch, batch.id)
        assert approved is not None
        assert (approved.status, approved.approved_by) == (PayoutBatchStatus.APPROVED, None)
        assert not await payouts.auto_approve_batch(
            session, batch_id=batch.id, limit_cents=8_000, now=clock.now()
        )


async def test_cancelling_a_batch_releases_every_reservation(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    a = await factory.artisan("Achieng", earned=5_000)
    b = await factory.artisan("Baraka", earned=3_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        with pytest.raises(Forbidden):
            await payouts.cancel_batch(session, batch_id=batch.id, admin_id=a, now=clock.now())
        cancelled = await payouts.cancel_batch(
            session, batch_id=batch.id, admin_id=admin, now=clock.now()
        )
        assert cancelled.status is PayoutBatchStatus.CANCELLED
        statuses = {p.status for p in await payouts.batch_payouts(session, batch.id)}
        assert statuses == {PayoutStatus.CANCELLED}
    assert await factory.balance(a) == ArtisanBalance(5_000, 0, 0, 5_000)
    assert await factory.balance(b) == ArtisanBalance(3_000, 0, 0, 3_000)
    again = await factory.batch()
    assert again is not None
    assert again.id != batch.id


async def test_a_cancelled_batch_says_who_cancelled_it_and_what_it_held(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    await factory.artisan("Baraka", earned=3_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        await payouts.cancel_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
        recorded = events.drain(session)
    assert recorded == [
        events.PayoutBatchCancelled(
            batch_id=batch.id, cancelled_by=admin, payout_count=2, total_cents=8_000
        )
    ]
    async with any_store.transaction() as session:
        with pytest.raises(IllegalTransition):  # once is enough
            await payouts.cancel_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
    async with any_store.transaction() as session:
        with pytest.raises(NotFound):
            await payouts.cancel_batch(session, batch_id=999, admin_id=admin, now=clock.now())


async def test_an_approved_batch_cannot_be_cancelled(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    a = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
    async with any_store.transaction() as session:
        with pytest.raises(IllegalTransition):
            await payouts.cancel_batch(session, batch_id=batch.id, admin_id=admin, now=clock.now())
    assert await factory.balance(a) == ArtisanBalance(5_000, 5_000, 0, 0)


async def test_cancelling_takes_the_same_statements_for_many_payouts_as_for_a_few(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    """A batch of 25,000 is cancelled in a few statements, not three a payout."""
    admin = await factory.person("Wambui", Role.ADMIN)
    counted: list[int] = []
    for size in (2, 40):
        for n in range(size):
            await factory.artisan(f"Artisan {size}-{n}", earned=2_000)
        batch = await factory.batch()
        assert batch is not None
        assert batch.id is not None
        statements: list[str] = []

        def count(*args: object, into: list[str] = statements) -> None:
            into.append(str(args[2]))

        sa_event.listen(any_store.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with any_store.transaction() as session:
                await payouts.cancel_batch(
                    session, batch_id=batch.id, admin_id=admin, now=clock.now()
                )
        finally:
            sa_event.remove(any_store.engine.sync_engine, "before_cursor_execute", count)
        counted.append(len(statements))
    assert counted[0] == counted[1]


async def test_a_batch_is_sent_only_after_approval(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    batch = await factory.batch()
    assert batch is not None
    assert batch.id is not None
    async with any_store.transaction() as session:
        (payout,) = await payouts.batch_payouts(session, batch.id)
        assert await payouts.payouts_to_send(session) == []
    with pytest.raises(PayoutError, match="only an approved batch"):
        await factory.send(payout)


async def test_a_successful_payment_is_paid_once_and_completes_the_batch(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch, (payout,) = await factory.approved_batch(admin)
    async with any_store.transaction() as session:
        assert [p.id for p in await payouts.payouts_to_send(session)] == [payout.id]
    await factory.send(payout)
    await factory.send(payout)  # a retry of the same request
    assert await factory.batch_status(batch.id) is PayoutBatchStatus.PROCESSING
    async with any_store.transaction() as session:
        assert await payouts.payouts_to_send(session) == []
        assert [p.id for p in await payouts.payouts_in_doubt(session)] == [payout.id]
        settled = await payouts.settle_success(
            session,
            originator_conversation_id=payout.originator_conversation_id,
            mpesa_receipt="TKR1A2B3C4",
            result_code="0",
            now=clock.now(),
        )
        recorded = events.drain(session)
    assert (settled.status, settled.mpesa_receipt, settled.result_code) == (
        PayoutStatus.SUCCEEDED,
        "TKR1A2B3C4",
        "0",
    )
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 0, 5_000, 0)
    assert await factory.batch_status(batch.id) is PayoutBatchStatus.COMPLETED
    assert (
        events.PayoutSucceeded(
            payout_id=payout.id or 0,
            artisan_id=artisan,
            amount_cents=5_000,
            mpesa_receipt="TKR1A2B3C4",
        )
        in recorded
    )
    assert events.PayoutBatchCompleted(batch_id=batch.id or 0, succeeded=1, failed=0) in recorded

    before = await factory.transfers()
    duplicate = await factory.succeed(payout, "TKR1A2B3C4")
    assert duplicate.status is PayoutStatus.SUCCEEDED
    assert await factory.transfers() == before
    with pytest.raises(PayoutError, match="paid twice"):
        await factory.succeed(payout, "TKR9Z9Z9Z9")
    assert await factory.transfers() == before


async def test_a_failed_payment_makes_the_money_available_for_the_next_batch(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    failed = await factory.fail(payout, 2040)
    assert failed.status is PayoutStatus.FAILED
    assert failed.result_code == "2040"
    assert failed.result_desc is not None
    assert "not a registered M-Pesa customer" in failed.result_desc
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 0, 0, 5_000)
    assert await factory.batch_status(batch.id) is PayoutBatchStatus.COMPLETED

    before = await factory.transfers()
    assert (await factory.fail(payout, 2040)).status is PayoutStatus.FAILED
    assert await factory.transfers() == before

    retry = await factory.batch()
    assert retry is not None
    assert retry.id != batch.id
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 5_000, 0, 0)


async def test_mpesa_s_own_failure_text_is_kept_when_given(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    async with any_store.transaction() as session:
        failed = await payouts.settle_failure(
            session,
            originator_conversation_id=payout.originator_conversation_id,
            result_code=1,
            result_desc="The balance is insufficient for the transaction.",
            now=clock.now(),
        )
        (event,) = [e for e in events.drain(session) if isinstance(e, events.PayoutFailed)]
    assert failed.result_desc == "The balance is insufficient for the transaction."
    assert "insufficient funds" in event.reason


async def test_success_after_failure_is_refused_and_leaves_the_ledger_alone(
    factory: Factory,
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    await factory.fail(payout, 17)
    before = await factory.transfers()
    with pytest.raises(PayoutError, match="check with Safaricom before paying again"):
        await factory.succeed(payout)
    assert await factory.transfers() == before
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 0, 0, 5_000)


async def test_failure_after_success_is_refused_and_the_payment_stands(
    factory: Factory,
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    await factory.succeed(payout)
    before = await factory.transfers()
    with pytest.raises(PayoutError, match="the payment stands"):
        await factory.fail(payout, 1)
    assert await factory.transfers() == before
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 0, 5_000, 0)


async def test_a_callback_for_an_unknown_payout_is_not_found(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        with pytest.raises(NotFound, match="originator conversation id"):
            await payouts.settle_success(
                session,
                originator_conversation_id="AG_20260302_0000000000000000",
                mpesa_receipt="TKR1",
                now=clock.now(),
            )
        with pytest.raises(NotFound):
            await payouts.settle_failure(
                session, originator_conversation_id="nope", result_code=1, now=clock.now()
            )


async def test_a_settlement_must_agree_with_its_result_code(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    async with any_store.transaction() as session:
        with pytest.raises(PayoutError, match="settle_failure"):
            await payouts.settle_success(
                session,
                originator_conversation_id=payout.originator_conversation_id,
                mpesa_receipt="TKR1",
                result_code=2001,
                now=clock.now(),
            )
        with pytest.raises(PayoutError, match="settle_success"):
            await payouts.settle_failure(
                session,
                originator_conversation_id=payout.originator_conversation_id,
                result_code="0",
                now=clock.now(),
            )


async def test_a_payout_with_no_answer_is_in_doubt_until_a_status_query_settles_it(
    factory: Factory, any_store: Store, clock: FakeClock
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    async with any_store.transaction() as session:
        ocid = payout.originator_conversation_id
        await payouts.record_conversation_id(
            session, originator_conversation_id=ocid, conversation_id="AG_1", now=clock.now()
        )
        unknown = await payouts.mark_unknown(
            session, originator_conversation_id=ocid, now=clock.now()
        )
        assert unknown.status is PayoutStatus.UNKNOWN
        assert (
            await payouts.mark_unknown(session, originator_conversation_id=ocid, now=clock.now())
        ).status is PayoutStatus.UNKNOWN
        assert [p.id for p in await payouts.payouts_in_doubt(session)] == [payout.id]
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 5_000, 0, 0)
    await factory.send(payout)  # resent with the same originator id
    settled = await factory.succeed(payout)
    assert (settled.status, settled.conversation_id) == (PayoutStatus.SUCCEEDED, "AG_1")


async def test_a_batch_completes_only_when_every_payout_is_final(factory: Factory) -> None:
    await factory.artisan("Achieng", earned=5_000)
    await factory.artisan("Baraka", earned=3_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    batch, (first, second) = await factory.approved_batch(admin)
    await factory.send(first)
    await factory.send(second)
    await factory.succeed(first)
    assert await factory.batch_status(batch.id) is PayoutBatchStatus.PROCESSING
    await factory.fail(second, 1)
    assert await factory.batch_status(batch.id) is PayoutBatchStatus.COMPLETED


async def test_two_copies_of_one_success_callback_at_once_pay_once(
    factory: Factory, any_store: Store
) -> None:
    artisan = await factory.artisan("Achieng", earned=5_000)
    admin = await factory.person("Wambui", Role.ADMIN)
    _, (payout,) = await factory.approved_batch(admin)
    await factory.send(payout)
    outcomes = await asyncio.gather(factory.succeed(payout), factory.succeed(payout))
    assert {o.status for o in outcomes} == {PayoutStatus.SUCCEEDED}
    posts = [t for t in await factory.transfers() if t.phase is TransferPhase.POST_PENDING]
    assert len(posts) == 1
    assert await factory.balance(artisan) == ArtisanBalance(5_000, 0, 5_000, 0)
    async with any_store.transaction() as session:
        assert (await ledger.trial_balance(session)).balanced


def test_common_daraja_result_codes_have_reasons_an_admin_can_act_on() -> None:
    assert payouts.result_reason(0) == "paid"
    assert "insufficient funds" in payouts.result_reason(1)
    assert "initiator" in payouts.result_reason("2001")
    assert "unregistered recipient" in payouts.result_reason(2040)
    assert "locked" in payouts.result_reason(8006)
    assert "retried" in payouts.result_reason(17)
    assert "result code 4242" in payouts.result_reason(4242)
    assert payouts.TEMPORARY_RESULT_CODES.issubset(payouts.B2C_RESULT_REASONS)


@pytest.mark.parametrize("code", ["", "abc", True, "1.5"])
def test_a_result_code_must_be_a_whole_number(code: object) -> None:
    with pytest.raises(PayoutError, match="not an M-Pesa result code"):
        payouts.result_reason(code)  # type: ignore[arg-type]
