"""Making a payout batch: every payable balance above a minimum reserved, one payout per artisan.

A batch is made in one transaction (:func:`create_payout_batch`) or in many short ones
(:func:`build_payout_batch`); either completes a batch a crash left half-made.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import PayoutError
from domain.model import (
    PAYOUT_BATCH_TRANSITIONS,
    Account,
    ArtisanProfile,
    ArtisanStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    TransferPhase,
)
from domain.payouts._common import (
    PAYOUT_TABLE,
    UNRESOLVED_PAYOUT_STATUSES,
    locked_batch,
    require_admin,
)
from domain.payouts.batches import batch_count_and_total
from domain.payouts.payees import payout_holds


class Transactions(Protocol):
    """Where :func:`build_payout_batch` opens its transactions (``domain.store.Store``)."""

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]: ...


BATCH_CHUNK = 500
"""Artisans considered per step of making a batch: each step is one short transaction when the
batch is built with :func:`build_payout_batch`, so chat never waits long for the write lock."""

FinishBatch = Callable[[AsyncSession, PayoutBatch], Awaitable[object]]
"""Runs in the transaction that completes a batch (auto-approval, the admins' notices)."""


async def create_payout_batch(
    session: AsyncSession,
    *,
    minimum_cents: int,
    now: datetime,
    created_by: int | None = None,
    max_per_artisan_cents: int | None = None,
) -> PayoutBatch | None:
    """Reserve every payable balance of at least ``minimum_cents`` in one new batch, in this
    one transaction (:func:`build_payout_batch` makes it in many short ones).

    Returns None when nobody is owed enough. An artisan with a payout still in flight is left
    for the next batch, so nobody ever has two unresolved payouts. ``created_by`` is the admin
    who asked for the batch (None for the weekly scheduler). A batch a crash left half-made is
    completed rather than a second one begun.

    Left out, to be seen in /payouts: an artisan whose payouts are held
    (:func:`domain.payouts.payees.payout_holds`: a new M-Pesa number not confirmed yet, a
    receiver name that did not match), and one owed more than ``max_per_artisan_cents`` (a data
    error must not empty the float; an admin looks into it).

    Also None when another builder began a batch after this one looked (only one may be
    building): that builder is alive and carries on with everyone owed, and the caller finds
    its batch being built, as it would have before starting (/make_payouts names it).
    """
    _check_minimum(minimum_cents)
    if created_by is not None:
        await require_admin(session, created_by, "start a payout batch")
    building = await _batch_being_built(session)
    batch_id = None if building is None else building.id
    batch: PayoutBatch | None = None
    after: int | None = 0
    while after is not None:
        try:
            batch, after = await _add_to_batch(
                session,
                batch_id,
                minimum_cents=minimum_cents,
                after=after,
                limit=BATCH_CHUNK,
                now=now,
                created_by=created_by,
                max_per_artisan_cents=max_per_artisan_cents,
            )
        except _BatchBegunElsewhere:
            # Not joined: this transaction already holds payables that batch's builder may be
            # waiting for, and taking its batch lock now could deadlock the two.
            return None
        batch_id = None if batch is None else batch.id
    if batch is not None and batch.status is PayoutBatchStatus.BUILDING:
        await _finish_batch(session, batch, created_by=created_by)
    return batch


async def build_payout_batch(
    store: Transactions,
    *,
    minimum_cents: int,
    now: datetime,
    created_by: int | None = None,
    chunk: int = BATCH_CHUNK,
    finish: FinishBatch | None = None,
    max_per_artisan_cents: int | None = None,
) -> PayoutBatch | None:
    """:func:`create_payout_batch` in one short transaction per ``chunk`` artisans.

    The batch is *building* until its last step makes it *awaiting approval* (and runs
    ``finish`` in that same transaction), so a half-made batch is never approved or sent. If the
    process dies part way, every step already committed is whole (each payout with its pending
    transfer, every balance still adding up); the next build, here or by
    :func:`create_payout_batch`, finds the building batch and completes it, skipping the artisans
    already in it (they have a payout in flight). An admin may also cancel it.

    Another builder (a second process, an admin's /make_payouts) may complete and finish the
    batch between two of these steps, or an admin cancel it: this build then stops at its next
    step, adds nothing more, finishes nothing and returns the batch as they left it (its status
    says so). Those who finished or cancelled it told the admins.

    Two builds starting at once both find no batch; the database lets only one of them begin
    one. The other redoes its step with that batch and carries on building it, as if it had
    found it at the start.
    """
    _check_minimum(minimum_cents)
    if chunk < 1:
        raise ValueError(f"a batch is built at least one artisan at a time, not {chunk}")
    async with store.transaction() as session:
        if created_by is not None:
            await require_admin(session, created_by, "start a payout batch")
        batch = await _batch_being_built(session)
    batch_id = None if batch is None else batch.id
    after: int | None = 0
    while after is not None:
        try:
            async with store.transaction() as session:
                batch, after = await _add_to_batch(
                    session,
                    batch_id,
                    minimum_cents=minimum_cents,
                    after=after,
                    limit=chunk,
                    now=now,
                    created_by=created_by,
                    max_per_artisan_cents=max_per_artisan_cents,
                )
        except _BatchBegunElsewhere as begun:
            # The step wrote nothing; redone in a new transaction, which locks that batch before
            # the payables, as every step does.
            batch_id = begun.batch_id
            continue
        batch_id = None if batch is None else batch.id
    if batch_id is None:
        return None
    async with store.transaction() as session:
        batch = await locked_batch(session, batch_id)
        if batch.status is not PayoutBatchStatus.BUILDING:
            return batch
        await _finish_batch(session, batch, created_by=created_by)
        if finish is not None:
            await finish(session, batch)
    return batch


def _check_minimum(minimum_cents: int) -> None:
    if isinstance(minimum_cents, bool) or not isinstance(minimum_cents, int):
        raise PayoutError(f"the payout minimum must be whole cents, not {minimum_cents!r}")
    if minimum_cents <= 0:
        raise PayoutError(f"the payout minimum must be positive, not {minimum_cents} cents")


async def _batch_being_built(session: AsyncSession) -> PayoutBatch | None:
    return (
        await session.exec(
            select(PayoutBatch)
            .where(PayoutBatch.status == PayoutBatchStatus.BUILDING)
            .order_by(col(PayoutBatch.id))
            .limit(1)
            .with_for_update()
        )
    ).first()


class _BatchBegunElsewhere(Exception):
    """Another builder began the building batch after this one looked for it."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(f"payout batch {batch_id} is being built by another builder")
        self.batch_id = batch_id


async def _begin_batch(
    session: AsyncSession, *, now: datetime, created_by: int | None
) -> PayoutBatch:
    """A new building batch, or :class:`_BatchBegunElsewhere` when the database refuses a second
    one (the ``ONE_BATCH_BUILDING`` index; on PostgreSQL the insert waits for the other's
    transaction first). In a savepoint, so the caller's transaction survives the refusal."""
    batch = PayoutBatch(status=PayoutBatchStatus.BUILDING, created_at=now, created_by=created_by)
    await session.flush()  # so the savepoint below catches only this batch's conflict
    try:
        async with session.begin_nested():
            session.add(batch)
    except IntegrityError:
        building = (
            await session.exec(
                select(PayoutBatch.id).where(PayoutBatch.status == PayoutBatchStatus.BUILDING)
            )
        ).first()
        if building is None:  # refused for some other reason
            raise
        raise _BatchBegunElsewhere(building) from None
    return batch


async def _add_to_batch(
    session: AsyncSession,
    batch_id: int | None,
    *,
    minimum_cents: int,
    after: int,
    limit: int,
    now: datetime,
    created_by: int | None,
    max_per_artisan_cents: int | None = None,
) -> tuple[PayoutBatch | None, int | None]:
    """Add the next ``limit`` active artisans after person id ``after`` who are owed enough to
    batch ``batch_id`` (None: none made yet).

    Returns the batch (made on the first artisan owed, if there was none) and the last person
    id looked at, or None when there was nobody left to look at, or when the batch is no longer
    building: another builder finished it, or an admin cancelled it, since the last step, and
    it must not change under the admins who were told of it. Statements per step, not per
    artisan: the batch locked in one, the payables locked in one, who has a payout in flight in
    one, the balances in two, the pending transfers and the payouts inserted in one each.
    """
    # Locked before the payables, as every builder does, and held to the end of the step, so
    # nobody finishes or cancels the batch while this step adds to it (PostgreSQL; SQLite's
    # BEGIN IMMEDIATE serialises writers already).
    batch = None if batch_id is None else await locked_batch(session, batch_id)
    if batch is not None and batch.status is not PayoutBatchStatus.BUILDING:
        return batch, None
    rows = (
        await session.exec(
            select(ArtisanProfile.person_id, ArtisanProfile.mpesa_number, Account.id)
            .join(Account, col(Account.artisan_id) == col(ArtisanProfile.person_id))
            .where(
                ArtisanProfile.status == ArtisanStatus.ACTIVE,
                col(ArtisanProfile.person_id) > after,
            )
            .order_by(col(ArtisanProfile.person_id))
            .limit(limit)
        )
    ).all()
    if not rows:
        return batch, None
    payable_ids = sorted(account_id for _, _, account_id in rows if account_id is not None)
    # Locked in one order, so two builders cannot deadlock (PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers); read only after, so a payout another builder just committed
    # is seen.
    await session.exec(
        select(Account.id)
        .where(col(Account.id).in_(payable_ids))
        .order_by(col(Account.id))
        .with_for_update()
    )
    artisan_ids = [person_id for person_id, _, _ in rows]
    waiting_on_payout = set(
        (
            await session.exec(
                select(Payout.artisan_id).where(
                    col(Payout.status).in_(list(UNRESOLVED_PAYOUT_STATUSES)),
                    col(Payout.artisan_id).in_(artisan_ids),
                )
            )
        ).all()
    )
    held = await payout_holds(session, artisan_ids)
    balances = await ledger.account_balances(session, payable_ids)
    due: list[tuple[int, str, int, int]] = []
    for person_id, msisdn, account_id in rows:
        if person_id in waiting_on_payout or person_id in held or account_id is None:
            continue
        b = balances[account_id]
        available = b.credits_posted - b.debits_posted - b.debits_pending
        if max_per_artisan_cents is not None and available > max_per_artisan_cents:
            continue  # over the limit: /payouts shows it to the admins
        if available >= minimum_cents:
            due.append((person_id, msisdn, account_id, available))
    last = rows[-1][0]
    if not due:
        return batch, last
    if batch is None:
        batch = await _begin_batch(session, now=now, created_by=created_by)
    assert batch.id is not None
    mpesa_float = (await ledger.ensure_account(session, ledger.MPESA_FLOAT)).id
    assert mpesa_float is not None
    originator_ids = [str(uuid.uuid4()) for _ in due]
    reserves = [
        ledger.NewTransfer(
            idempotency_key=f"payout:{originator_id}",
            debit_account_id=account_id,
            credit_account_id=mpesa_float,
            amount_cents=amount,
            phase=TransferPhase.PENDING,
            code=ledger.PAYOUT,
            reference=f"payout batch {batch.id}",
        )
        for originator_id, (_, _, account_id, amount) in zip(originator_ids, due, strict=True)
    ]
    await ledger.record_new_transfers(session, reserves, now=now)
    connection = await session.connection()
    await connection.execute(
        PAYOUT_TABLE.insert(),
        [
            {
                "batch_id": batch.id,
                "artisan_id": person_id,
                "amount_cents": amount,
                "msisdn": msisdn,
                "status": PayoutStatus.PENDING,
                "pending_transfer_id": reserve.id,
                "originator_conversation_id": originator_id,
                "created_at": now,
                "updated_at": now,
            }
            for (person_id, msisdn, _, amount), reserve, originator_id in zip(
                due, reserves, originator_ids, strict=True
            )
        ],
    )
    return batch, last


async def _finish_batch(
    session: AsyncSession, batch: PayoutBatch, *, created_by: int | None
) -> None:
    assert batch.id is not None
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.AWAITING_APPROVAL)
    session.add(batch)
    count, total = await batch_count_and_total(session, batch.id)
    await session.flush()
    events.record(
        session,
        events.PayoutBatchCreated(
            batch_id=batch.id, payout_count=count, total_cents=total, created_by=created_by
        ),
    )
