"""The database itself keeps the ledger append-only, on SQLite and PostgreSQL.

The ORM refuses changed transfers (test_ledger.py); these tests go around it with raw SQL, as a
console session or a careless script would, and check the database refuses too — while the
ledger's own writes (earnings, reversals, payouts paid or failed) all still go through.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain import ledger, payouts
from domain.model import Payout, PayoutStatus, Role, Transfer, TransferPhase
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import bare_person, payee


async def _earning(store: Store, clock: FakeClock, *, cents: int = 5_000) -> str:
    async with store.transaction() as session:
        artisan = await payee(session, "Wanjiru", now=clock.now())
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=cents, reference="delivery:1", now=clock.now()
        )
    return earning.id


async def _raw(store: Store, statement: str, **params: object) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def _amounts(store: Store) -> list[int]:
    async with store.read() as session:
        return list((await session.exec(select(Transfer.amount_cents))).all())


async def test_a_raw_update_of_a_transfer_is_refused_by_the_database(
    any_store: Store, clock: FakeClock
) -> None:
    earning = await _earning(any_store, clock)

    with pytest.raises(IntegrityError, match="UPDATE on transfer refused"):
        await _raw(any_store, "UPDATE transfer SET amount_cents = 1 WHERE id = :id", id=earning)

    assert await _amounts(any_store) == [5_000]


async def test_a_raw_delete_of_a_transfer_is_refused_by_the_database(
    any_store: Store, clock: FakeClock
) -> None:
    await _earning(any_store, clock)

    with pytest.raises(IntegrityError, match="DELETE on transfer refused"):
        await _raw(any_store, "DELETE FROM transfer")

    assert await _amounts(any_store) == [5_000]


# SQLite has no TRUNCATE (its DELETE trigger covers a DELETE of every row); PostgreSQL's row
# triggers do not see one, so a statement trigger must refuse it.
@pytest.mark.postgres
@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
async def test_truncating_the_transfers_is_refused_on_postgresql(
    any_store: Store, clock: FakeClock
) -> None:
    await _earning(any_store, clock)

    with pytest.raises(IntegrityError, match="TRUNCATE on transfer refused"):
        await _raw(any_store, "TRUNCATE transfer CASCADE")

    assert await _amounts(any_store) == [5_000]


async def test_earnings_reversals_and_payouts_still_write_the_ledger(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        admin = await bare_person(session, "Amina", Role.ADMIN, now=now)
        paid = await payee(session, "Wanjiru", now=now)
        failed = await payee(session, "Otieno", now=now, mpesa_number="+254722000111")
        mistake = await ledger.record_earning(
            session, artisan_id=paid, amount_cents=2_000, reference="delivery:1", now=now
        )
        await ledger.reverse(session, transfer_id=mistake.id, reason="counted twice", now=now)
        for artisan, reference in ((paid, "delivery:2"), (failed, "delivery:3")):
            await ledger.record_earning(
                session, artisan_id=artisan, amount_cents=90_000, reference=reference, now=now
            )
        batch = await payouts.create_payout_batch(session, minimum_cents=1_000, now=now)
        assert batch is not None
        assert batch.id is not None
        await payouts.approve_batch(session, batch_id=batch.id, admin_id=admin, now=now)
        sent = {p.artisan_id: p for p in await payouts.batch_payouts(session, batch.id)}
    async with any_store.transaction() as session:
        for payout in sent.values():
            await payouts.mark_sending(
                session, originator_conversation_id=payout.originator_conversation_id, now=now
            )
        await payouts.settle_success(
            session,
            originator_conversation_id=sent[paid].originator_conversation_id,
            mpesa_receipt="TKR1A2B3C4",
            now=now,
        )
        await payouts.settle_failure(
            session,
            originator_conversation_id=sent[failed].originator_conversation_id,
            result_code=2040,
            now=now,
        )

    async with any_store.read() as session:
        phases = sorted((await session.exec(select(Transfer.phase))).all())
        statuses = {p.artisan_id: p.status for p in (await session.exec(select(Payout))).all()}
        paid_balance = await ledger.artisan_balance(session, paid)
        failed_balance = await ledger.artisan_balance(session, failed)
        trial = await ledger.trial_balance(session)
    assert phases == sorted(
        [TransferPhase.POSTED] * 4  # two earnings, the mistake and its reversal
        + [TransferPhase.PENDING] * 2  # each payout's reservation, then posted or voided
        + [TransferPhase.POST_PENDING, TransferPhase.VOID_PENDING]
    )
    assert trial.balanced
    assert statuses == {paid: PayoutStatus.SUCCEEDED, failed: PayoutStatus.FAILED}
    assert (paid_balance.paid_cents, paid_balance.available_cents) == (90_000, 0)
    assert (failed_balance.paid_cents, failed_balance.available_cents) == (0, 90_000)
