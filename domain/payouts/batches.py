"""A payout batch once made: its payouts and total, approval by an admin or automatically, and
cancellation (every reserved amount available again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import NotFound, PayoutError
from domain.model import (
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
    TransferPhase,
)
from domain.payouts._common import PAYOUT_TABLE, locked_batch, require_admin
from domain.payouts.mpesa_float import (
    FloatTooLow,
    FloatUnknown,
    KnownFloat,
    current_float,
    float_shortfall,
)


async def batch_count_and_total(session: AsyncSession, batch_id: int) -> tuple[int, int]:
    count, total = (
        await session.exec(
            select(func.count(), func.coalesce(func.sum(Payout.amount_cents), 0)).where(
                Payout.batch_id == batch_id
            )
        )
    ).one()
    return int(count), int(total)


async def batch_payouts(session: AsyncSession, batch_id: int) -> list[Payout]:
    rows = await session.exec(
        select(Payout).where(Payout.batch_id == batch_id).order_by(col(Payout.id))
    )
    return list(rows.all())


async def batch_total_cents(session: AsyncSession, batch_id: int) -> int:
    return (await batch_count_and_total(session, batch_id))[1]


class OverBatchLimit(PayoutError):
    """A batch whose total is above the most one batch may pay (``PAYOUT_MAX_PER_BATCH``)."""

    def __init__(self, batch_id: int, total_cents: int, limit_cents: int) -> None:
        super().__init__(
            f"payout batch {batch_id} pays {total_cents} cents, over the limit of "
            f"{limit_cents} cents a batch"
        )
        self.batch_id = batch_id
        self.total_cents = total_cents
        self.limit_cents = limit_cents


class MakerCannotApprove(PayoutError):
    """Maker-checker: the admin who made a batch may not approve it while another admin can."""

    def __init__(self, batch_id: int, maker_id: int) -> None:
        super().__init__(
            f"payout batch {batch_id} was made by admin {maker_id}: another admin approves it"
        )
        self.batch_id = batch_id
        self.maker_id = maker_id


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """What an admin is asked to confirm before approving: the batch, its payouts and total, the
    float it was checked against, and whether its maker approves it alone (the only admin)."""

    batch_id: int
    count: int
    total_cents: int
    created_by: int | None
    alone: bool  # maker-checker on, the maker approves: allowed only as the one admin there is
    float_known: KnownFloat | None


async def check_approval(
    session: AsyncSession,
    *,
    batch_id: int,
    admin_id: int,
    max_batch_cents: int | None = None,
    check_float: bool = False,
    maker_checker: bool = True,
) -> ApprovalCheck:
    """Whether ``admin_id`` may approve batch ``batch_id`` now, without approving it; the same
    checks :func:`approve_batch` makes, for a "pay KES 12,000 to 8 artisans?" question first.

    Raises, in this order: ``Forbidden`` (not an admin), ``NotFound``, ``IllegalTransition``
    (no longer waiting for approval), :class:`OverBatchLimit` (over ``max_batch_cents``),
    :class:`MakerCannotApprove` (with ``maker_checker``, the batch's maker while another admin
    exists), and with ``check_float`` (M-Pesa configured)
    :class:`~domain.payouts.mpesa_float.FloatUnknown` or
    :class:`~domain.payouts.mpesa_float.FloatTooLow`.
    """
    await require_admin(session, admin_id, "approve payouts")
    batch = await session.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound("payout batch", batch_id)
    PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.APPROVED)
    count, total = await batch_count_and_total(session, batch_id)
    if max_batch_cents is not None and total > max_batch_cents:
        raise OverBatchLimit(batch_id, total, max_batch_cents)
    alone = False
    if maker_checker and batch.created_by is not None and batch.created_by == admin_id:
        others = await session.exec(
            select(Person.id).where(Person.role == Role.ADMIN, Person.id != admin_id).limit(1)
        )
        if others.first() is not None:
            raise MakerCannotApprove(batch_id, admin_id)
        alone = True
    known = await current_float(session) if check_float else None
    if check_float:
        if known is None:
            raise FloatUnknown(batch_id, total)
        if float_shortfall(known, total):
            raise FloatTooLow(batch_id, total, known.available_cents)
    return ApprovalCheck(batch_id, count, total, batch.created_by, alone, known)


async def approve_batch(
    session: AsyncSession,
    *,
    batch_id: int,
    admin_id: int,
    now: datetime,
    max_batch_cents: int | None = None,
    check_float: bool = False,
    maker_checker: bool = True,
) -> PayoutBatch:
    """An admin lets a batch be sent to M-Pesa: the one approval every surface calls (the chat's
    ``/approve_payouts`` after its confirmation, the staff console). Refused, with nothing
    changed, by any of :func:`check_approval`'s rules: over ``max_batch_cents`` (a data error
    must not empty the float: cancel it and look); with ``maker_checker`` (PAYOUT_MAKER_CHECKER,
    on by default), approval by the admin who made it while another admin exists; with
    ``check_float`` (M-Pesa configured), a float M-Pesa has not told us or that does not cover
    the batch."""
    await check_approval(
        session,
        batch_id=batch_id,
        admin_id=admin_id,
        max_batch_cents=max_batch_cents,
        check_float=check_float,
        maker_checker=maker_checker,
    )
    return await _approve(session, batch_id, approved_by=admin_id, now=now)


async def auto_approve_batch(
    session: AsyncSession, *, batch_id: int, limit_cents: int, now: datetime
) -> bool:
    """Approve a waiting batch without an admin if its total is at most ``limit_cents``.

    Returns whether it was approved; a bigger batch keeps waiting for an admin.
    """
    batch = await locked_batch(session, batch_id)
    if batch.status is not PayoutBatchStatus.AWAITING_APPROVAL:
        return False
    if await batch_total_cents(session, batch_id) > limit_cents:
        return False
    await _approve(session, batch_id, approved_by=None, now=now)
    return True


async def _approve(
    session: AsyncSession, batch_id: int, *, approved_by: int | None, now: datetime
) -> PayoutBatch:
    batch = await locked_batch(session, batch_id)
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.APPROVED)
    batch.approved_by = approved_by
    batch.approved_at = now
    session.add(batch)
    events.record(
        session,
        events.PayoutBatchApproved(
            batch_id=batch_id,
            approved_by=approved_by,
            total_cents=await batch_total_cents(session, batch_id),
        ),
    )
    return batch


async def cancel_batch(
    session: AsyncSession, *, batch_id: int, admin_id: int, now: datetime
) -> PayoutBatch:
    """An admin drops a batch before approval; every reserved amount is available again.

    A batch being built may be cancelled too (one left half-made by a crash): its builder locks
    the batch at each step and stops once it is no longer building. The payouts are cancelled
    and their reservations voided a few statements for the lot, whatever the batch's size.
    """
    await require_admin(session, admin_id, "cancel payouts")
    batch = await locked_batch(session, batch_id)
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.CANCELLED)
    batch.closed_at = now
    session.add(batch)
    connection = await session.connection()
    held = (
        await connection.execute(
            sa.select(
                PAYOUT_TABLE.c.status,
                PAYOUT_TABLE.c.amount_cents,
                PAYOUT_TABLE.c.pending_transfer_id,
                PAYOUT_TABLE.c.originator_conversation_id,
            ).where(PAYOUT_TABLE.c.batch_id == batch_id)
        )
    ).all()
    for status, *_ in held:
        PAYOUT_TRANSITIONS.check(PayoutStatus(status), PayoutStatus.CANCELLED)
    # Core, as settling does: no Payout of this batch is loaded in a session that cancels it.
    await connection.execute(
        PAYOUT_TABLE.update()
        .where(PAYOUT_TABLE.c.batch_id == batch_id)
        .values(status=PayoutStatus.CANCELLED, updated_at=now)
    )
    await ledger.resolve_pending_transfers(
        session,
        [
            ledger.Resolution(
                pending_id=pending_id,
                phase=TransferPhase.VOID_PENDING,
                idempotency_key=f"payout-void:{originator_id}",
            )
            for _, _, pending_id, originator_id in held
        ],
        now=now,
    )
    events.record(
        session,
        events.PayoutBatchCancelled(
            batch_id=batch_id,
            cancelled_by=admin_id,
            payout_count=len(held),
            total_cents=sum(amount for _, amount, _, _ in held),
        ),
    )
    return batch
