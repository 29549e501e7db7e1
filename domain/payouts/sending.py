"""One payout through M-Pesa: which payouts to send, and marking them sent or in doubt.

The M-Pesa adapter (in bot/) calls :func:`mark_sending` (or :func:`claim_for_sending` for many)
before each request and :func:`mark_unknown` when no answer comes; what M-Pesa finally says is
recorded by :mod:`domain.payouts.settlement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import PayoutError
from domain.model import (
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
)
from domain.payouts._common import PAYOUT_TABLE, locked_batch, locked_payout
from domain.payouts.payees import payout_holds


async def payouts_to_send(session: AsyncSession) -> list[Payout]:
    """Payouts of approved batches that have not been sent yet, oldest first; those of an
    artisan whose payouts are held (``payees.payout_holds``) wait."""
    rows = await session.exec(
        select(Payout)
        .join(PayoutBatch, col(PayoutBatch.id) == col(Payout.batch_id))
        .where(
            Payout.status == PayoutStatus.PENDING,
            col(PayoutBatch.status).in_([PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING]),
        )
        .order_by(col(Payout.id))
    )
    waiting = list(rows.all())
    held = await payout_holds(session, sorted({p.artisan_id for p in waiting}))
    return [p for p in waiting if p.artisan_id not in held]


async def payouts_in_doubt(session: AsyncSession) -> list[Payout]:
    """Payouts sent without a final answer yet: candidates for a transaction status query."""
    rows = await session.exec(
        select(Payout)
        .where(col(Payout.status).in_([PayoutStatus.SENDING, PayoutStatus.UNKNOWN]))
        .order_by(col(Payout.id))
    )
    return list(rows.all())


async def mark_sending(
    session: AsyncSession, *, originator_conversation_id: str, now: datetime
) -> Payout:
    """Record that the request is about to go to M-Pesa; commit this before calling.

    Marking a payout that is already sending again is a retry of the same request with the same
    originator id, which M-Pesa recognises, so it changes nothing.
    """
    payout = await locked_payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.SENDING:
        return payout
    batch = await locked_batch(session, payout.batch_id)
    _check_sendable(payout, batch)
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SENDING)
    payout.updated_at = now
    session.add(payout)
    if batch.status is PayoutBatchStatus.APPROVED:
        batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.PROCESSING)
        session.add(batch)
    return payout


async def claim_for_sending(
    session: AsyncSession, originator_conversation_ids: Sequence[str], *, now: datetime
) -> list[Payout]:
    """:func:`mark_sending` for those of these payouts still pending, in their order; the others
    (sent meanwhile by another run: in doubt) are left alone, and so are those of an artisan
    whose payouts are held (``payees.payout_holds``). Commit this before calling.

    Two reads and one write for the lot, where one payout at a time took four statements each.
    """
    if not originator_conversation_ids:
        return []
    found = (
        await session.exec(
            select(Payout)
            .where(col(Payout.originator_conversation_id).in_(originator_conversation_ids))
            .order_by(col(Payout.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    by_id = {p.originator_conversation_id: p for p in found}
    pending = [
        by_id[o]
        for o in originator_conversation_ids
        if o in by_id and by_id[o].status is PayoutStatus.PENDING
    ]
    # Checked again at the claim: a number change may have come since the list was read.
    held = await payout_holds(session, sorted({p.artisan_id for p in pending}))
    waiting = [p for p in pending if p.artisan_id not in held]
    batch_ids = sorted({p.batch_id for p in waiting})
    batches = {
        b.id: b
        for b in (
            await session.exec(
                select(PayoutBatch)
                .where(col(PayoutBatch.id).in_(batch_ids))
                .order_by(col(PayoutBatch.id))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    for payout in waiting:
        batch = batches[payout.batch_id]
        _check_sendable(payout, batch)
        payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.SENDING)
        payout.updated_at = now
        session.add(payout)
        if batch.status is PayoutBatchStatus.APPROVED:
            batch.status = PAYOUT_BATCH_TRANSITIONS.check(
                batch.status, PayoutBatchStatus.PROCESSING
            )
            session.add(batch)
    await session.flush()
    return waiting


def _check_sendable(payout: Payout, batch: PayoutBatch) -> None:
    if batch.status not in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.PROCESSING):
        raise PayoutError(
            f"payout {payout.id} belongs to batch {batch.id}, which is {batch.status}: "
            "only an approved batch is sent to M-Pesa"
        )


async def record_conversation_id(
    session: AsyncSession, *, originator_conversation_id: str, conversation_id: str, now: datetime
) -> None:
    """Keep M-Pesa's own ConversationID from its answer to the request (the first one wins)."""
    await record_conversation_ids(session, [(originator_conversation_id, conversation_id)], now=now)


_KEEP_CONVERSATION_ID = (
    PAYOUT_TABLE.update()
    .where(
        PAYOUT_TABLE.c.originator_conversation_id == sa.bindparam("originator"),
        PAYOUT_TABLE.c.conversation_id.is_(None),
    )
    .values(conversation_id=sa.bindparam("conversation"), updated_at=sa.bindparam("now"))
)


async def record_conversation_ids(
    session: AsyncSession, answers: Sequence[tuple[str, str]], *, now: datetime
) -> None:
    """:func:`record_conversation_id` for many (originator id, ConversationID) pairs.

    One conditional UPDATE for the lot: M-Pesa accepts every payout with one, usually with
    nothing else to record, so the payout runner keeps a busy batch's in groups.
    """
    if not answers:
        return
    await session.flush()
    connection = await session.connection()
    await connection.execute(
        _KEEP_CONVERSATION_ID,
        [
            {"originator": originator, "conversation": conversation, "now": now}
            for originator, conversation in answers
        ],
    )


async def mark_unknown(
    session: AsyncSession, *, originator_conversation_id: str, now: datetime
) -> Payout:
    """No answer came (timeout, queue timeout): a status query will decide. Idempotent."""
    payout = await locked_payout(session, originator_conversation_id)
    if payout.status is PayoutStatus.UNKNOWN:
        return payout
    payout.status = PAYOUT_TRANSITIONS.check(payout.status, PayoutStatus.UNKNOWN)
    payout.updated_at = now
    session.add(payout)
    return payout
