"""The ledger on SQLite and PostgreSQL: balanced, append-only, idempotent, never overdrawn."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from domain import ledger
from domain.errors import LedgerError, NotFound
from domain.ledger import ArtisanBalance
from domain.model import Account, AccountKind, Role, Transfer, TransferPhase
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import bare_person, payee


async def _artisan(store: Store, clock: FakeClock, name: str = "Achieng") -> int:
    async with store.transaction() as session:
        return await payee(session, name, now=clock.now())


async def _count(store: Store) -> int:
    async with store.transaction() as session:
        return (await session.exec(select(func.count()).select_from(Transfer))).one()


async def _reserve(store: Store, clock: FakeClock, artisan_id: int, amount: int) -> Transfer:
    async with store.transaction() as session:
        return await ledger.transfer(
            session,
            idempotency_key=f"reserve:{uuid.uuid4()}",
            debit=await ledger.artisan_payable(session, artisan_id),
            credit=await ledger.ensure_account(session, ledger.MPESA_FLOAT),
            amount_cents=amount,
            phase=TransferPhase.PENDING,
            code=ledger.PAYOUT,
            now=clock.now(),
        )


async def test_an_earning_is_owed_to_the_artisan_and_charged_to_production(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session,
            artisan_id=artisan,
            amount_cents=45_000,
            reference="delivery:1",
            now=clock.now(),
        )
    async with any_store.transaction() as session:
        payable = await ledger.artisan_payable(session, artisan)
        production = await ledger.ensure_account(session, ledger.WORKSHOP_PRODUCTION)
        assert (earning.debit_account_id, earning.credit_account_id) == (production.id, payable.id)
        assert payable.kind is AccountKind.LIABILITY
        assert payable.code == f"artisan:{artisan}:payable"
        assert await ledger.artisan_balance(session, artisan) == ArtisanBalance(
            earned_cents=45_000, in_flight_cents=0, paid_cents=0, available_cents=45_000
        )
        assert (await ledger.account_balance(session, production.id or 0)).debits_posted == 45_000


async def test_recording_the_same_earning_twice_returns_the_first(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        first = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=1_000, reference="delivery:7", now=clock.now()
        )
    clock.advance(minutes=5)
    async with any_store.transaction() as session:
        again = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=1_000, reference="delivery:7", now=clock.now()
        )
        assert again.id == first.id
        assert (await ledger.artisan_balance(session, artisan)).earned_cents == 1_000
    assert await _count(any_store) == 1


async def test_the_same_reference_with_another_amount_is_refused(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=1_000, reference="delivery:7", now=clock.now()
        )
    with pytest.raises(LedgerError, match="already used for a different transfer"):
        async with any_store.transaction() as session:
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=2_000,
                reference="delivery:7",
                now=clock.now(),
            )
    assert await _count(any_store) == 1


@pytest.mark.parametrize("amount", [0, -500, 12.5, True, "100"])
async def test_an_amount_must_be_a_positive_whole_number_of_cents(
    any_store: Store, clock: FakeClock, amount: object
) -> None:
    artisan = await _artisan(any_store, clock)
    with pytest.raises(LedgerError, match="amount"):
        async with any_store.transaction() as session:
            await ledger.record_earning(
                session,
                artisan_id=artisan,
                amount_cents=amount,  # type: ignore[arg-type]
                reference="delivery:1",
                now=clock.now(),
            )
    assert await _count(any_store) == 0


async def test_a_transfer_needs_two_different_accounts(any_store: Store, clock: FakeClock) -> None:
    async with any_store.transaction() as session:
        float_ = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
        with pytest.raises(LedgerError, match="two different accounts"):
            await ledger.transfer(
                session,
                idempotency_key="x",
                debit=float_,
                credit=float_,
                amount_cents=100,
                code="test",
                now=clock.now(),
            )


async def test_an_unknown_account_needs_a_name_and_kind(any_store: Store) -> None:
    async with any_store.transaction() as session:
        with pytest.raises(LedgerError, match="name and kind"):
            await ledger.ensure_account(session, "bank:equity")
        bank = await ledger.ensure_account(
            session, "bank:equity", name="Equity Bank", kind=AccountKind.ASSET
        )
        assert await ledger.ensure_account(session, "bank:equity") is bank


async def test_replaying_a_key_with_the_same_content_returns_the_original_stripe_style(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        equity = await ledger.ensure_account(session, ledger.OWNER_EQUITY)
        float_ = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
        args = {
            "idempotency_key": "top-up:2026-03-02",
            "debit": float_,
            "credit": equity,
            "amount_cents": 5_000_000,
            "code": "top_up",
            "reference": "Equity transfer 88",
        }
        first = await ledger.transfer(session, now=clock.now(), **args)  # type: ignore[arg-type]
        replay = await ledger.transfer(
            session,
            now=clock.advance(hours=1),
            **args,  # type: ignore[arg-type]
        )
        assert replay is first
        with pytest.raises(LedgerError, match="amount_cents differ"):
            await ledger.transfer(
                session,
                now=clock.now(),
                **(args | {"amount_cents": 6_000_000}),  # type: ignore[arg-type]
            )
        with pytest.raises(LedgerError, match="already used"):
            await ledger.transfer(
                session,
                now=clock.now(),
                id=str(uuid.uuid4()),
                **args,  # type: ignore[arg-type]
            )


async def test_a_caller_chosen_id_is_kept_and_cannot_be_reused(
    any_store: Store, clock: FakeClock
) -> None:
    chosen = str(uuid.uuid4())
    async with any_store.transaction() as session:
        equity = await ledger.ensure_account(session, ledger.OWNER_EQUITY)
        float_ = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
        made = await ledger.transfer(
            session,
            id=chosen,
            idempotency_key="a",
            debit=float_,
            credit=equity,
            amount_cents=1,
            code="t",
            now=clock.now(),
        )
        assert made.id == chosen
        with pytest.raises(LedgerError, match="already used by another transfer"):
            await ledger.transfer(
                session,
                id=chosen,
                idempotency_key="b",
                debit=float_,
                credit=equity,
                amount_cents=1,
                code="t",
                now=clock.now(),
            )


async def test_a_pending_transfer_reserves_money_until_it_is_posted(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 6_000)
    async with any_store.transaction() as session:
        assert await ledger.artisan_balance(session, artisan) == ArtisanBalance(
            10_000, 6_000, 0, 4_000
        )
        post = await ledger.post_pending(
            session, pending_id=pending.id, idempotency_key="post:1", now=clock.now()
        )
        assert post.phase is TransferPhase.POST_PENDING
        assert await ledger.artisan_balance(session, artisan) == ArtisanBalance(
            10_000, 0, 6_000, 4_000
        )
        assert (
            await ledger.post_pending(
                session, pending_id=pending.id, idempotency_key="post:1", now=clock.now()
            )
            is post
        )
        with pytest.raises(LedgerError, match="already resolved"):
            await ledger.void_pending(
                session, pending_id=pending.id, idempotency_key="void:1", now=clock.now()
            )
        with pytest.raises(LedgerError, match="already resolved"):
            await ledger.post_pending(
                session, pending_id=pending.id, idempotency_key="post:again", now=clock.now()
            )


async def test_voiding_a_pending_transfer_makes_the_money_available_again(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 10_000)
    async with any_store.transaction() as session:
        await ledger.void_pending(
            session, pending_id=pending.id, idempotency_key="void:1", now=clock.now()
        )
        assert await ledger.artisan_balance(session, artisan) == ArtisanBalance(
            10_000, 0, 0, 10_000
        )
        payable = await ledger.artisan_payable(session, artisan)
        balance = await ledger.account_balance(session, payable.id or 0)
        assert (balance.debits_pending, balance.debits_posted) == (0, 0)


async def test_only_an_existing_unresolved_pending_transfer_can_be_posted(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
        with pytest.raises(NotFound):
            await ledger.post_pending(
                session, pending_id=str(uuid.uuid4()), idempotency_key="p", now=clock.now()
            )
        with pytest.raises(LedgerError, match="not pending"):
            await ledger.post_pending(
                session, pending_id=earning.id, idempotency_key="p", now=clock.now()
            )
        with pytest.raises(LedgerError, match="must name the pending transfer"):
            await ledger.transfer(
                session,
                idempotency_key="p2",
                debit=earning.debit_account_id,
                credit=earning.credit_account_id,
                amount_cents=10_000,
                phase=TransferPhase.POST_PENDING,
                code="post",
                now=clock.now(),
            )


async def test_a_post_must_move_exactly_what_was_reserved(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 5_000)
    async with any_store.transaction() as session:
        with pytest.raises(LedgerError, match="exactly what pending transfer"):
            await ledger.transfer(
                session,
                idempotency_key="post:short",
                debit=pending.debit_account_id,
                credit=pending.credit_account_id,
                amount_cents=4_000,
                phase=TransferPhase.POST_PENDING,
                pending_id=pending.id,
                code="post",
                now=clock.now(),
            )


async def test_the_database_itself_refuses_a_second_resolution(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 5_000)
    async with any_store.transaction() as session:
        await ledger.post_pending(
            session, pending_id=pending.id, idempotency_key="post", now=clock.now()
        )
    with pytest.raises(IntegrityError):
        async with any_store.transaction() as session:
            # Bypassing the service's checks, as a buggy caller might.
            session.add(
                Transfer(
                    id=str(uuid.uuid4()),
                    idempotency_key="sneaky-void",
                    debit_account_id=pending.debit_account_id,
                    credit_account_id=pending.credit_account_id,
                    amount_cents=5_000,
                    phase=TransferPhase.VOID_PENDING,
                    pending_id=pending.id,
                    code="void",
                    created_at=clock.now(),
                )
            )


async def test_two_racing_resolutions_of_one_pending_transfer_resolve_it_once(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=10_000, reference="d:1", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 10_000)

    async def resolve(post: bool) -> Transfer:
        async with any_store.transaction() as session:
            if post:
                return await ledger.post_pending(
                    session, pending_id=pending.id, idempotency_key="post", now=clock.now()
                )
            return await ledger.void_pending(
                session, pending_id=pending.id, idempotency_key="void", now=clock.now()
            )

    outcomes = await asyncio.gather(resolve(True), resolve(False), return_exceptions=True)
    assert sum(isinstance(o, Transfer) for o in outcomes) == 1
    assert sum(isinstance(o, LedgerError) for o in outcomes) == 1
    async with any_store.transaction() as session:
        balance = await ledger.artisan_balance(session, artisan)
        assert balance.in_flight_cents == 0
        assert balance.paid_cents + balance.available_cents == 10_000


async def test_a_reversal_is_a_new_transfer_the_other_way_and_happens_once(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=3_000, reference="d:9", now=clock.now()
        )
    async with any_store.transaction() as session:
        reversal = await ledger.reverse(
            session, transfer_id=earning.id, reason="counted twice", now=clock.now()
        )
        assert (reversal.debit_account_id, reversal.credit_account_id) == (
            earning.credit_account_id,
            earning.debit_account_id,
        )
        assert (reversal.reverses_id, reversal.code) == (earning.id, ledger.REVERSAL)
        assert (
            await ledger.reverse(
                session, transfer_id=earning.id, reason="counted twice", now=clock.now()
            )
            is reversal
        )
        with pytest.raises(LedgerError, match="reversed at most once"):
            await ledger.reverse(session, transfer_id=earning.id, reason="other", now=clock.now())
        with pytest.raises(LedgerError, match="itself a reversal"):
            await ledger.reverse(session, transfer_id=reversal.id, reason="undo", now=clock.now())
        assert await ledger.artisan_balance(session, artisan) == ArtisanBalance(0, 0, 0, 0)
        original = await session.get(Transfer, earning.id)
        assert original is not None
        assert original.amount_cents == 3_000


async def test_reversing_a_pending_transfer_voids_it(any_store: Store, clock: FakeClock) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=3_000, reference="d:9", now=clock.now()
        )
    pending = await _reserve(any_store, clock, artisan, 3_000)
    async with any_store.transaction() as session:
        void = await ledger.reverse(session, transfer_id=pending.id, reason="x", now=clock.now())
        assert (void.phase, void.pending_id) == (TransferPhase.VOID_PENDING, pending.id)
        with pytest.raises(LedgerError, match="cannot itself be reversed"):
            await ledger.reverse(session, transfer_id=void.id, reason="x", now=clock.now())


async def test_nobody_can_reserve_more_than_they_have_earned(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=3_000, reference="d:1", now=clock.now()
        )
    await _reserve(any_store, clock, artisan, 2_000)
    with pytest.raises(LedgerError, match="1000 cents available"):
        await _reserve(any_store, clock, artisan, 1_001)


async def test_an_earning_being_paid_out_cannot_be_reversed_from_under_the_payout(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=3_000, reference="d:1", now=clock.now()
        )
    await _reserve(any_store, clock, artisan, 3_000)
    with pytest.raises(LedgerError, match="0 cents available"):
        async with any_store.transaction() as session:
            await ledger.reverse(session, transfer_id=earning.id, reason="oops", now=clock.now())


async def test_a_correction_reverses_the_earning_and_records_the_right_amount(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        first = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )
    async with any_store.transaction() as session:
        corrected = await ledger.record_earning_correction(
            session,
            artisan_id=artisan,
            reference="d:3",
            amount_cents=4_000,
            reason="two pieces were broken on arrival",
            now=clock.now(),
        )
        assert corrected is not None
        assert corrected.id != first.id
        assert corrected.amount_cents == 4_000
        assert (await ledger.artisan_balance(session, artisan)).earned_cents == 4_000
    async with any_store.transaction() as session:
        again = await ledger.record_earning_correction(
            session,
            artisan_id=artisan,
            reference="d:3",
            amount_cents=4_000,
            reason="retry",
            now=clock.now(),
        )
        assert again is not None
        assert again.id == corrected.id
        cancelled = await ledger.record_earning_correction(
            session,
            artisan_id=artisan,
            reference="d:3",
            amount_cents=0,
            reason="wrong artisan",
            now=clock.now(),
        )
        assert cancelled is None
        assert (await ledger.artisan_balance(session, artisan)).earned_cents == 0
        restored = await ledger.record_earning_correction(
            session,
            artisan_id=artisan,
            reference="d:3",
            amount_cents=5_000,
            reason="found them",
            now=clock.now(),
        )
        assert restored is not None
        assert (await ledger.artisan_balance(session, artisan)).earned_cents == 5_000
    assert await _count(any_store) == 5  # 3 earnings and 2 reversals; nothing edited


async def test_a_correction_names_an_existing_earning_of_that_artisan(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock, "Achieng")
    other = await _artisan(any_store, clock, "Baraka")
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )
        with pytest.raises(NotFound):
            await ledger.record_earning_correction(
                session,
                artisan_id=artisan,
                reference="d:404",
                amount_cents=1,
                reason="x",
                now=clock.now(),
            )
        with pytest.raises(LedgerError, match="another artisan"):
            await ledger.record_earning_correction(
                session,
                artisan_id=other,
                reference="d:3",
                amount_cents=1,
                reason="x",
                now=clock.now(),
            )


async def test_only_artisans_have_payables(any_store: Store, clock: FakeClock) -> None:
    async with any_store.transaction() as session:
        agent = await bare_person(session, "Otieno", Role.FIELD_AGENT, now=clock.now())
        with pytest.raises(NotFound, match="artisan"):
            await ledger.record_earning(
                session, artisan_id=agent, amount_cents=100, reference="d:1", now=clock.now()
            )
        with pytest.raises(NotFound, match="artisan"):
            await ledger.record_earning(
                session, artisan_id=9_999, amount_cents=100, reference="d:2", now=clock.now()
            )
        assert await ledger.artisan_balance(session, agent) == ArtisanBalance(0, 0, 0, 0)


async def test_a_saved_transfer_cannot_be_changed(any_store: Store, clock: FakeClock) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )

    async def change_it() -> None:
        async with any_store.transaction() as session:
            loaded = await session.get(Transfer, earning.id)
            assert loaded is not None
            loaded.amount_cents = 50_000

    with pytest.raises(LedgerError, match="append-only"):
        await change_it()
    async with any_store.transaction() as session:
        loaded = await session.get(Transfer, earning.id)
        assert loaded is not None
        assert loaded.amount_cents == 5_000


async def test_a_saved_transfer_cannot_be_deleted(any_store: Store, clock: FakeClock) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )

    async def delete_it() -> None:
        async with any_store.transaction() as session:
            await session.delete(await session.get(Transfer, earning.id))

    with pytest.raises(LedgerError, match="append-only"):
        await delete_it()
    assert await _count(any_store) == 1


async def test_bulk_updates_and_deletes_of_transfers_are_refused(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )
    with pytest.raises(LedgerError, match="append-only"):
        async with any_store.transaction() as session:
            await session.exec(update(Transfer).values(amount_cents=1))
    with pytest.raises(LedgerError, match="append-only"):
        async with any_store.transaction() as session:
            await session.exec(delete(Transfer))
    async with any_store.transaction() as session:
        assert (await session.exec(select(Transfer.amount_cents))).all() == [5_000]


async def test_reading_a_transfer_without_changing_it_is_fine(
    any_store: Store, clock: FakeClock
) -> None:
    artisan = await _artisan(any_store, clock)
    async with any_store.transaction() as session:
        earning = await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=5_000, reference="d:3", now=clock.now()
        )
    async with any_store.transaction() as session:
        loaded = await session.get(Transfer, earning.id)
        assert loaded is not None
        loaded.amount_cents = 5_000  # the same value: no change to refuse
        session.add(Account(code="misc", name="Misc", kind=AccountKind.EQUITY))


async def test_the_trial_balance_holds_across_earnings_payouts_and_reversals(
    any_store: Store, clock: FakeClock
) -> None:
    a = await _artisan(any_store, clock, "Achieng")
    b = await _artisan(any_store, clock, "Baraka")
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=a, amount_cents=7_000, reference="d:1", now=clock.now()
        )
        await ledger.record_earning(
            session, artisan_id=b, amount_cents=2_500, reference="d:2", now=clock.now()
        )
        mistake = await ledger.record_earning(
            session, artisan_id=a, amount_cents=500, reference="d:3", now=clock.now()
        )
    posted_payout = await _reserve(any_store, clock, b, 2_000)
    open_payout = await _reserve(any_store, clock, a, 1_000)
    async with any_store.transaction() as session:
        await ledger.post_pending(
            session, pending_id=posted_payout.id, idempotency_key="post", now=clock.now()
        )
        await ledger.reverse(session, transfer_id=mistake.id, reason="wrong", now=clock.now())
        trial = await ledger.trial_balance(session)
    assert trial.balanced
    assert trial.problems == ()
    assert trial.debits_posted == trial.credits_posted == 7_000 + 2_500 + 500 + 500 + 2_000
    assert trial.debits_pending == trial.credits_pending == open_payout.amount_cents


async def test_the_trial_balance_is_empty_and_balanced_for_a_new_ledger(any_store: Store) -> None:
    async with any_store.transaction() as session:
        trial = await ledger.trial_balance(session)
    assert trial == ledger.TrialBalance(0, 0, 0, 0, ())
    assert trial.balanced
