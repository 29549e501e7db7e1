"""Posting and voiding many pending transfers in one call, on SQLite and PostgreSQL: the same
rules as one at a time (each resolved at most once, a replay changes nothing), and a refused
call records nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import col, select

from domain import ledger
from domain.errors import LedgerError, NotFound
from domain.ledger import ArtisanBalance, Resolution
from domain.model import Account, Transfer, TransferPhase
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import payee

POST, VOID = TransferPhase.POST_PENDING, TransferPhase.VOID_PENDING


async def _reserved(store: Store, clock: FakeClock, amounts: list[int]) -> list[Transfer]:
    """One artisan per amount, each earning it and having all of it reserved for a payout."""
    reserves = []
    async with store.transaction() as session:
        mpesa_float = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
        for n, amount in enumerate(amounts):
            artisan = await payee(session, f"Artisan {n}", now=clock.now())
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=amount,
                reference=f"delivery:{n}",
                now=clock.now(),
            )
            reserves.append(
                await ledger.transfer(
                    session,
                    idempotency_key=f"reserve:{uuid.uuid4()}",
                    debit=await ledger.artisan_payable(session, artisan),
                    credit=mpesa_float,
                    amount_cents=amount,
                    phase=TransferPhase.PENDING,
                    code=ledger.PAYOUT,
                    now=clock.now(),
                )
            )
    return reserves


async def _resolutions(store: Store) -> list[Transfer]:
    async with store.read() as session:
        rows = await session.exec(
            select(Transfer).where(col(Transfer.pending_id).is_not(None)).order_by(Transfer.id)
        )
        found = list(rows.all())
        session.expunge_all()  # readable after the snapshot ends
        return found


async def _resolve(store: Store, clock: FakeClock, resolutions: list[Resolution]) -> None:
    async with store.transaction() as session:
        await ledger.resolve_pending_transfers(session, resolutions, now=clock.now())


async def test_many_pending_transfers_are_posted_or_voided_at_once_and_balances_follow(
    any_store: Store, clock: FakeClock
) -> None:
    reserves = await _reserved(any_store, clock, [5_000, 7_000, 9_000])
    paid, released, _ = reserves
    await _resolve(
        any_store,
        clock,
        [Resolution(paid.id, POST, "post:a"), Resolution(released.id, VOID, "void:b")],
    )
    resolved = {t.pending_id: t for t in await _resolutions(any_store)}
    assert set(resolved) == {paid.id, released.id}
    assert (resolved[paid.id].phase, resolved[paid.id].code) == (POST, ledger.POST)
    assert (resolved[released.id].phase, resolved[released.id].code) == (VOID, ledger.VOID)
    for pending, done in ((paid, resolved[paid.id]), (released, resolved[released.id])):
        assert (done.debit_account_id, done.credit_account_id, done.amount_cents) == (
            pending.debit_account_id,
            pending.credit_account_id,
            pending.amount_cents,
        )
    async with any_store.read() as session:
        assert (await ledger.trial_balance(session)).balanced
        payables = (await session.exec(select(Account).order_by(col(Account.id)))).all()
        artisans = [a.artisan_id for a in payables if a.artisan_id is not None]
        balances = await ledger.artisan_balances(session, artisans)
    assert [balances[artisan] for artisan in artisans] == [
        ArtisanBalance(5_000, 0, 5_000, 0),
        ArtisanBalance(7_000, 0, 0, 7_000),
        ArtisanBalance(9_000, 9_000, 0, 0),
    ]


async def test_a_replayed_resolution_changes_nothing_even_inside_one_call(
    any_store: Store, clock: FakeClock
) -> None:
    (pending,) = await _reserved(any_store, clock, [5_000])
    again = Resolution(pending.id, POST, "post:a")
    await _resolve(any_store, clock, [again, again])
    first = await _resolutions(any_store)
    await _resolve(any_store, clock, [again])
    assert await _resolutions(any_store) == first
    assert len(first) == 1


@pytest.mark.parametrize(
    "second",
    [Resolution("", VOID, "void:other"), Resolution("", POST, "post:other")],
    ids=["void after post", "post under another key"],
)
async def test_a_second_resolution_is_refused_and_the_whole_call_records_nothing(
    any_store: Store, clock: FakeClock, second: Resolution
) -> None:
    resolved, other = await _reserved(any_store, clock, [5_000, 6_000])
    await _resolve(any_store, clock, [Resolution(resolved.id, POST, "post:a")])
    before = await _resolutions(any_store)
    conflicting = Resolution(resolved.id, second.phase, second.idempotency_key)
    with pytest.raises(LedgerError, match="only once"):
        await _resolve(any_store, clock, [Resolution(other.id, POST, "post:b"), conflicting])
    assert await _resolutions(any_store) == before  # not even the other one


async def test_two_resolutions_of_one_pending_transfer_in_one_call_are_refused(
    any_store: Store, clock: FakeClock
) -> None:
    (pending,) = await _reserved(any_store, clock, [5_000])
    with pytest.raises(LedgerError, match="only once"):
        await _resolve(
            any_store,
            clock,
            [Resolution(pending.id, POST, "post:a"), Resolution(pending.id, VOID, "void:a")],
        )
    assert await _resolutions(any_store) == []


async def test_a_key_used_for_another_transfer_is_refused(
    any_store: Store, clock: FakeClock
) -> None:
    first, second = await _reserved(any_store, clock, [5_000, 6_000])
    await _resolve(any_store, clock, [Resolution(first.id, POST, "post:a")])
    with pytest.raises(LedgerError, match="already used for a different transfer"):
        await _resolve(any_store, clock, [Resolution(second.id, POST, "post:a")])


async def test_only_a_pending_transfer_that_exists_can_be_resolved(
    any_store: Store, clock: FakeClock
) -> None:
    (pending,) = await _reserved(any_store, clock, [5_000])
    with pytest.raises(NotFound, match="pending transfer"):
        await _resolve(any_store, clock, [Resolution(str(uuid.uuid4()), POST, "post:x")])
    await _resolve(any_store, clock, [Resolution(pending.id, POST, "post:a")])
    (post,) = await _resolutions(any_store)
    with pytest.raises(LedgerError, match="not pending"):
        await _resolve(any_store, clock, [Resolution(post.id, VOID, "void:post")])
    with pytest.raises(LedgerError, match="posted or voided"):
        await _resolve(any_store, clock, [Resolution(pending.id, TransferPhase.POSTED, "p")])
