"""A payout batch built a few artisans per transaction: whole when done, never approvable when
half-made, resumed after a crash, left as it is once another builder finished it or an admin
cancelled it between two steps; and the ledger's bulk path and grouped balances it relies on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin import queries as reports
from domain import events, ledger, payouts
from domain.errors import IllegalTransition, LedgerError
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
from tests.integration.factory_fixtures import bare_person, ident, payee

MINIMUM = 1_000


class Crash(Exception):
    """The process dying between two of the builder's transactions."""


class DiesAfter:
    """A store whose process dies when the builder opens its ``survives + 1``-th transaction."""

    def __init__(self, store: Store, survives: int) -> None:
        self._store = store
        self._left = survives

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self._left == 0:
            raise Crash
        self._left -= 1
        async with self._store.transaction() as session:
            yield session


class HoldsStep:
    """The builder's store, with the test taking its turn inside the builder's ``n``-th
    transaction: that one, done but not committed (its locks held), waits for ``commit``; the
    next one begins only after ``go_on``."""

    def __init__(self, store: Store, n: int) -> None:
        self._store = store
        self._n = n
        self._opened = 0
        self.holding = asyncio.Event()
        self.commit = asyncio.Event()
        self.go_on = asyncio.Event()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        self._opened += 1
        opened = self._opened
        if opened == self._n + 1:
            await self.go_on.wait()
        async with self._store.transaction() as session:
            yield session
            if opened == self._n:
                self.holding.set()
                await self.commit.wait()


class Finished(list[PayoutBatch]):
    """A build's ``finish`` that keeps each batch it was called with."""

    async def __call__(self, session: AsyncSession, batch: PayoutBatch) -> None:
        self.append(batch)


async def owed(store: Store, clock: FakeClock, earnings: list[int]) -> list[int]:
    artisans = []
    async with store.transaction() as session:
        for n, cents in enumerate(earnings):
            artisan = await payee(session, f"Artisan {n}", now=clock.now())
            if cents:
                await ledger.record_earning(
                    session,
                    artisan_id=artisan,
                    amount_cents=cents,
                    reference=f"w:{n}",
                    now=clock.now(),
                )
            artisans.append(artisan)
    return artisans


async def balances(store: Store, artisans: list[int]) -> dict[int, ArtisanBalance]:
    async with store.read() as session:
        return await ledger.artisan_balances(session, artisans)


async def test_a_batch_built_in_steps_pays_everyone_owed_once(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [5_000, MINIMUM - 1, 7_000, 0, 2_000, 9_000, 1_000]
    artisans = await owed(any_store, clock, earnings)
    async with any_store.transaction() as session:
        paused = await payee(session, "Paused", now=clock.now(), status=ArtisanStatus.PAUSED)
        await ledger.record_earning(
            session, artisan_id=paused, amount_cents=4_000, reference="p", now=clock.now()
        )
    finished: list[tuple[PayoutBatchStatus, list[events.Event]]] = []

    async def finish(session: AsyncSession, batch: PayoutBatch) -> None:
        finished.append((batch.status, events.drain(session)))

    batch = await payouts.build_payout_batch(
        any_store, minimum_cents=MINIMUM, now=clock.now(), chunk=2, finish=finish
    )

    assert batch is not None
    assert batch.id is not None
    due = {a: e for a, e in zip(artisans, earnings, strict=True) if e >= MINIMUM}
    async with any_store.read() as session:
        made = {
            p.artisan_id: p.amount_cents for p in await payouts.batch_payouts(session, batch.id)
        }
    assert made == due
    assert finished == [
        (
            PayoutBatchStatus.AWAITING_APPROVAL,
            [
                events.PayoutBatchCreated(
                    batch_id=batch.id,
                    payout_count=len(due),
                    total_cents=sum(due.values()),
                    created_by=None,
                )
            ],
        )
    ]
    for artisan, b in (await balances(any_store, artisans)).items():
        assert b.in_flight_cents == due.get(artisan, 0)
        assert b.paid_cents + b.in_flight_cents + b.available_cents == b.earned_cents


async def test_nobody_owed_enough_makes_no_batch_in_steps(
    any_store: Store, clock: FakeClock
) -> None:
    await owed(any_store, clock, [MINIMUM - 1, 0])
    assert (
        await payouts.build_payout_batch(any_store, minimum_cents=MINIMUM, now=clock.now()) is None
    )
    async with any_store.read() as session:
        assert (await session.exec(select(PayoutBatch))).all() == []


async def test_a_batch_half_made_by_a_crash_is_never_sent_and_the_next_build_completes_it(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [3_000, 4_000, 5_000, 6_000, 7_000]
    artisans = await owed(any_store, clock, earnings)
    async with any_store.transaction() as session:
        admin = await bare_person(session, "Wambui", Role.ADMIN, now=clock.now())

    # One transaction to look for a half-made batch, then two steps of two artisans: dead.
    with pytest.raises(Crash):
        await payouts.build_payout_batch(
            DiesAfter(any_store, 3), minimum_cents=MINIMUM, now=clock.now(), chunk=2
        )

    async with any_store.transaction() as session:
        (half,) = (await session.exec(select(PayoutBatch))).all()
        assert half.status is PayoutBatchStatus.BUILDING
        assert half.id is not None
        assert len(await payouts.batch_payouts(session, half.id)) == 4
        with pytest.raises(IllegalTransition):
            await payouts.approve_batch(session, batch_id=half.id, admin_id=admin, now=clock.now())
    async with any_store.read() as session:
        assert await payouts.payouts_to_send(session) == []
        assert (await ledger.trial_balance(session)).balanced
    for b in (await balances(any_store, artisans)).values():
        assert b.paid_cents + b.in_flight_cents + b.available_cents == b.earned_cents

    # The next build (in one transaction here, as a scheduler not yet building in steps does).
    async with any_store.transaction() as session:
        batch = await payouts.create_payout_batch(session, minimum_cents=MINIMUM, now=clock.now())
        assert batch is not None
        assert batch.id == half.id
        assert batch.status is PayoutBatchStatus.AWAITING_APPROVAL
        made = [
            (p.artisan_id, p.amount_cents) for p in await payouts.batch_payouts(session, half.id)
        ]
    assert sorted(made) == list(zip(artisans, earnings, strict=True))
    for b in (await balances(any_store, artisans)).values():
        assert (b.in_flight_cents, b.available_cents) == (b.earned_cents, 0)


async def test_an_admin_may_cancel_a_half_made_batch(any_store: Store, clock: FakeClock) -> None:
    artisans = await owed(any_store, clock, [3_000, 4_000, 5_000])
    async with any_store.transaction() as session:
        admin = await bare_person(session, "Wambui", Role.ADMIN, now=clock.now())
    with pytest.raises(Crash):
        await payouts.build_payout_batch(
            DiesAfter(any_store, 2), minimum_cents=MINIMUM, now=clock.now(), chunk=1
        )
    async with any_store.transaction() as session:
        (half,) = (await session.exec(select(PayoutBatch))).all()
        assert half.id is not None
        await payouts.cancel_batch(session, batch_id=half.id, admin_id=admin, now=clock.now())
        statuses = {p.status for p in await payouts.batch_payouts(session, half.id)}
    assert statuses == {PayoutStatus.CANCELLED}
    assert [b.available_cents for b in (await balances(any_store, artisans)).values()] == [
        3_000,
        4_000,
        5_000,
    ]


async def test_a_batch_another_builder_finished_between_two_steps_gets_nothing_more(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [3_000, 4_000, MINIMUM - 500, 6_000]
    artisans = await owed(any_store, clock, earnings)
    njeri = artisans[2]  # below the minimum for now
    finished = Finished()

    # The scheduler's build, held inside its second step (one artisan per step): the batch is
    # made and holds the first artisan, and this step is adding the second.
    held = HoldsStep(any_store, n=3)
    scheduled = asyncio.create_task(
        payouts.build_payout_batch(
            held, minimum_cents=MINIMUM, now=clock.now(), chunk=1, finish=finished
        )
    )
    await asyncio.wait_for(held.holding.wait(), 30)

    async def make_payouts_now() -> tuple[PayoutBatch | None, list[events.Event]]:
        async with any_store.transaction() as session:
            batch = await payouts.create_payout_batch(
                session, minimum_cents=MINIMUM, now=clock.now()
            )
            return batch, events.drain(session)

    # Another builder (an admin's /make_payouts) waits for that step rather than change the
    # batch under it: the batch row is locked (PostgreSQL), the write lock held (SQLite).
    other = asyncio.create_task(make_payouts_now())
    await asyncio.sleep(0.3)
    assert not other.done()
    held.commit.set()
    made, recorded = await asyncio.wait_for(other, 30)
    assert made is not None
    assert made.id is not None
    assert made.status is PayoutBatchStatus.AWAITING_APPROVAL
    assert recorded == [
        events.PayoutBatchCreated(
            batch_id=made.id, payout_count=3, total_cents=13_000, created_by=None
        )
    ]

    # Njeri is owed enough by the time the scheduler's next step runs: too late for this batch.
    async with any_store.transaction() as session:
        await ledger.record_earning(
            session, artisan_id=njeri, amount_cents=2_000, reference="late", now=clock.now()
        )
    held.go_on.set()
    stopped = await asyncio.wait_for(scheduled, 30)

    assert stopped is not None
    assert (stopped.id, stopped.status) == (made.id, PayoutBatchStatus.AWAITING_APPROVAL)
    assert finished == []  # finished once, by the other builder, whose notices went out
    async with any_store.read() as session:
        batch = [
            (p.artisan_id, p.amount_cents) for p in await payouts.batch_payouts(session, made.id)
        ]
        assert (await ledger.trial_balance(session)).balanced
    assert sorted(batch) == [(a, e) for a, e in zip(artisans, earnings, strict=True) if a != njeri]
    left = await balances(any_store, artisans)
    assert (left[njeri].in_flight_cents, left[njeri].available_cents) == (0, 2_500)
    for b in left.values():
        assert b.paid_cents + b.in_flight_cents + b.available_cents == b.earned_cents


async def test_a_batch_cancelled_while_being_built_gets_no_more_payouts(
    any_store: Store, clock: FakeClock
) -> None:
    artisans = await owed(any_store, clock, [3_000, 4_000, 5_000])
    async with any_store.transaction() as session:
        admin = await bare_person(session, "Wambui", Role.ADMIN, now=clock.now())
    finished = Finished()

    # Held after its first step (one artisan per step), when the batch holds the first artisan.
    held = HoldsStep(any_store, n=2)
    building = asyncio.create_task(
        payouts.build_payout_batch(
            held, minimum_cents=MINIMUM, now=clock.now(), chunk=1, finish=finished
        )
    )
    await asyncio.wait_for(held.holding.wait(), 30)
    held.commit.set()
    async with any_store.transaction() as session:
        (half,) = (await session.exec(select(PayoutBatch))).all()
        assert half.id is not None
        await payouts.cancel_batch(session, batch_id=half.id, admin_id=admin, now=clock.now())
    held.go_on.set()
    stopped = await asyncio.wait_for(building, 30)

    assert stopped is not None
    assert (stopped.id, stopped.status) == (half.id, PayoutBatchStatus.CANCELLED)
    assert finished == []
    async with any_store.read() as session:
        made = [(p.artisan_id, p.status) for p in await payouts.batch_payouts(session, half.id)]
    assert made == [(artisans[0], PayoutStatus.CANCELLED)]
    # Nothing is held in a batch that will never be sent: every shilling is available again.
    assert [b.available_cents for b in (await balances(any_store, artisans)).values()] == [
        3_000,
        4_000,
        5_000,
    ]


# --- two builders starting at once ---------------------------------------------------------


async def only_batch(store: Store) -> tuple[PayoutBatch, list[tuple[int, int]]]:
    """The one batch there is, and its (artisan, cents) payouts."""
    async with store.transaction() as session:  # committed, so the batch is not expired
        (batch,) = (await session.exec(select(PayoutBatch))).all()
        assert batch.id is not None
        made = [
            (p.artisan_id, p.amount_cents) for p in await payouts.batch_payouts(session, batch.id)
        ]
        assert (await ledger.trial_balance(session)).balanced
    return batch, sorted(made)


async def test_a_build_that_finds_a_batch_begun_after_it_looked_builds_that_one(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [3_000, 4_000, MINIMUM - 1, 6_000]
    artisans = await owed(any_store, clock, earnings)
    finished: list[tuple[PayoutBatch, list[events.Event]]] = []

    async def finish(session: AsyncSession, batch: PayoutBatch) -> None:
        finished.append((batch, events.drain(session)))

    # This build has looked and found no batch; before its first step, another build (which then
    # dies) begins one with the first artisan.
    late = HoldsStep(any_store, n=1)
    late.commit.set()
    building = asyncio.create_task(
        payouts.build_payout_batch(
            late, minimum_cents=MINIMUM, now=clock.now(), chunk=10, finish=finish
        )
    )
    await asyncio.wait_for(late.holding.wait(), 30)
    with pytest.raises(Crash):
        await payouts.build_payout_batch(
            DiesAfter(any_store, 2), minimum_cents=MINIMUM, now=clock.now(), chunk=1
        )
    late.go_on.set()
    built = await asyncio.wait_for(building, 30)

    batch, made = await only_batch(any_store)
    assert built is not None
    assert (built.id, built.status) == (batch.id, PayoutBatchStatus.AWAITING_APPROVAL)
    assert made == [(a, e) for a, e in zip(artisans, earnings, strict=True) if e >= MINIMUM]
    assert [event for _, event in finished] == [
        [
            events.PayoutBatchCreated(
                batch_id=ident(batch), payout_count=3, total_cents=13_000, created_by=None
            )
        ]
    ]


# SQLite's writers take turns, so there two builders never both find no batch.
@pytest.mark.postgres
@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
async def test_two_builds_starting_at_once_make_one_batch_of_everyone_owed(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [3_000, 4_000, MINIMUM - 1, 6_000, 2_000]
    artisans = await owed(any_store, clock, earnings)
    finished = Finished()

    def build(store: HoldsStep, chunk: int) -> asyncio.Task[PayoutBatch | None]:
        return asyncio.create_task(
            payouts.build_payout_batch(
                store, minimum_cents=MINIMUM, now=clock.now(), chunk=chunk, finish=finished
            )
        )

    # The second build looks for a batch and finds none ...
    second = HoldsStep(any_store, n=1)
    second_build = build(second, chunk=10)
    await asyncio.wait_for(second.holding.wait(), 30)
    # ... nor does the first, which begins one with the first artisan and is held, uncommitted.
    first = HoldsStep(any_store, n=2)
    first_build = build(first, chunk=1)
    await asyncio.wait_for(first.holding.wait(), 30)
    second.commit.set()
    second.go_on.set()
    await asyncio.sleep(0.3)
    assert not second_build.done()  # waiting for the first artisan's payable

    first.commit.set()
    by_second = await asyncio.wait_for(second_build, 30)
    first.go_on.set()
    by_first = await asyncio.wait_for(first_build, 30)

    batch, made = await only_batch(any_store)
    assert made == [(a, e) for a, e in zip(artisans, earnings, strict=True) if e >= MINIMUM]
    assert by_first is not None
    assert by_second is not None
    assert by_first.id == by_second.id == batch.id
    assert batch.status is PayoutBatchStatus.AWAITING_APPROVAL
    assert [b.id for b in finished] == [batch.id]  # finished once, by the second build


@pytest.mark.postgres
@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
async def test_a_one_transaction_build_that_loses_the_race_leaves_everyone_to_the_winner(
    any_store: Store, clock: FakeClock
) -> None:
    earnings = [3_000, 4_000, 6_000]
    artisans = await owed(any_store, clock, earnings)
    async with any_store.transaction() as session:
        admin = await bare_person(session, "Wambui", Role.ADMIN, now=clock.now())
    scheduled = HoldsStep(any_store, n=2)  # holds its first step: the batch begun, uncommitted
    building = asyncio.create_task(
        payouts.build_payout_batch(scheduled, minimum_cents=MINIMUM, now=clock.now(), chunk=1)
    )
    await asyncio.wait_for(scheduled.holding.wait(), 30)

    async def make_payouts_now() -> tuple[PayoutBatch | None, PayoutBatch | None]:
        async with any_store.transaction() as session:
            made = await payouts.create_payout_batch(
                session, minimum_cents=MINIMUM, now=clock.now(), created_by=admin
            )
            # What /make_payouts then names to the admin; its transaction is still usable.
            return made, await reports.batch_being_built(session)

    admin_build = asyncio.create_task(make_payouts_now())
    await asyncio.sleep(0.3)
    assert not admin_build.done()
    scheduled.commit.set()
    made, in_the_way = await asyncio.wait_for(admin_build, 30)
    scheduled.go_on.set()
    built = await asyncio.wait_for(building, 30)

    batch, paid = await only_batch(any_store)
    assert made is None
    assert in_the_way is not None
    assert in_the_way.id == batch.id
    assert built is not None
    assert (built.id, built.status) == (batch.id, PayoutBatchStatus.AWAITING_APPROVAL)
    assert (batch.created_by, paid) == (None, list(zip(artisans, earnings, strict=True)))


async def test_the_database_refuses_a_second_batch_being_built(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        session.add(PayoutBatch(status=PayoutBatchStatus.BUILDING, created_at=clock.now()))
        for status in (PayoutBatchStatus.AWAITING_APPROVAL, PayoutBatchStatus.CANCELLED):
            session.add(PayoutBatch(status=status, created_at=clock.now()))
            session.add(PayoutBatch(status=status, created_at=clock.now()))
    with pytest.raises(IntegrityError, match="payout_batch"):
        async with any_store.transaction() as session:
            session.add(PayoutBatch(status=PayoutBatchStatus.BUILDING, created_at=clock.now()))


# --- the ledger's side ----------------------------------------------------------------------


async def test_grouped_balances_agree_with_one_artisan_at_a_time(
    any_store: Store, clock: FakeClock
) -> None:
    artisans = await owed(any_store, clock, [5_000, 2_000, 0])
    async with any_store.transaction() as session:
        first = await ledger.record_earning(
            session, artisan_id=artisans[1], amount_cents=700, reference="x", now=clock.now()
        )
        await ledger.reverse(session, transfer_id=first.id, reason="counted twice", now=clock.now())
        await payouts.create_payout_batch(session, minimum_cents=MINIMUM, now=clock.now())
    async with any_store.read() as session:
        together = await ledger.artisan_balances(session, [*artisans, 999_999])
        for artisan in artisans:
            assert together[artisan] == await ledger.artisan_balance(session, artisan)
    assert together[999_999] == ArtisanBalance(0, 0, 0, 0)
    assert together[artisans[0]] == ArtisanBalance(5_000, 5_000, 0, 0)


async def test_the_bulk_path_refuses_to_take_more_than_a_payable_holds(
    any_store: Store, clock: FakeClock
) -> None:
    (artisan,) = await owed(any_store, clock, [5_000])
    async with any_store.transaction() as session:
        payable = await ledger.artisan_payable(session, artisan)
        mpesa = await ledger.ensure_account(session, ledger.MPESA_FLOAT)
        assert payable.id is not None
        assert mpesa.id is not None
        halves = [
            ledger.NewTransfer(
                idempotency_key=f"k{n}",
                debit_account_id=payable.id,
                credit_account_id=mpesa.id,
                amount_cents=3_000,
                code=ledger.PAYOUT,
                phase=TransferPhase.PENDING,
            )
            for n in range(2)
        ]
        with pytest.raises(LedgerError, match="5000 cents available, not the 6000"):
            await ledger.record_new_transfers(session, halves, now=clock.now())
        await ledger.record_new_transfers(session, halves[:1], now=clock.now())
        with pytest.raises(LedgerError, match="already used"):
            await ledger.record_new_transfers(session, halves[:1], now=clock.now())
        resolving = ledger.NewTransfer(
            idempotency_key="v",
            debit_account_id=payable.id,
            credit_account_id=mpesa.id,
            amount_cents=1,
            code=ledger.VOID,
            phase=TransferPhase.VOID_PENDING,
        )
        with pytest.raises(LedgerError, match="only posted or pending"):
            await ledger.record_new_transfers(session, [resolving], now=clock.now())
    async with any_store.read() as session:
        kept = (await session.exec(select(Transfer).where(Transfer.code == ledger.PAYOUT))).all()
        assert [t.idempotency_key for t in kept] == ["k0"]
        assert (await ledger.artisan_balance(session, artisan)).available_cents == 2_000
        assert (await session.exec(select(Payout))).all() == []
