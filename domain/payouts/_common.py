"""What the payouts modules share: the payout table, the locked reads, the admin check."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import Forbidden, NotFound
from domain.model import (
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
)

UNRESOLVED_PAYOUT_STATUSES = frozenset(
    {PayoutStatus.PENDING, PayoutStatus.SENDING, PayoutStatus.UNKNOWN}
)
"""A payout in one of these still holds its money in flight."""

PAYOUT_TABLE: sa.Table = Payout.__table__  # type: ignore[attr-defined]
"""Settling and cancelling read and write payouts as rows (SQLAlchemy Core), not ORM objects."""


async def complete_batch_if_done(session: AsyncSession, batch_id: int, now: datetime) -> None:
    batch = await locked_batch(session, batch_id)
    if batch.status is not PayoutBatchStatus.PROCESSING:
        return
    # This runs once per settled payout: loading the whole batch each time made a 2,500-payout
    # batch take minutes, and even counting it is quadratic at 25,000 (bench/bench_payouts.py).
    # Whether one payout is unresolved stops at the first; the batch is counted once, at the end.
    # ``batch_id + 0`` keeps SQLite on the status index: on the batch_id index it would walk the
    # whole batch's settled payouts to find none, every time.
    unresolved = await session.exec(
        select(Payout.id)
        .where(
            col(Payout.status).in_(list(UNRESOLVED_PAYOUT_STATUSES)),
            col(Payout.batch_id) + 0 == batch_id,
        )
        .limit(1)
    )
    if unresolved.first() is not None:
        return
    counts = await session.exec(
        select(Payout.status, func.count())
        .where(Payout.batch_id == batch_id)
        .group_by(col(Payout.status))
    )
    by_status = {PayoutStatus(status): count for status, count in counts}
    if any(not PAYOUT_TRANSITIONS.is_final(status) for status in by_status):
        return
    batch.status = PAYOUT_BATCH_TRANSITIONS.check(batch.status, PayoutBatchStatus.COMPLETED)
    batch.closed_at = now
    session.add(batch)
    events.record(
        session,
        events.PayoutBatchCompleted(
            batch_id=batch_id,
            succeeded=by_status.get(PayoutStatus.SUCCEEDED, 0),
            failed=by_status.get(PayoutStatus.FAILED, 0),
        ),
    )


async def locked_payout(session: AsyncSession, originator_conversation_id: str) -> Payout:
    # Locked and re-read, so two callbacks for one payout are handled one after the other.
    payout = (
        await session.exec(
            select(Payout)
            .where(Payout.originator_conversation_id == originator_conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if payout is None:
        raise NotFound("payout with originator conversation id", originator_conversation_id)
    return payout


async def locked_batch(session: AsyncSession, batch_id: int) -> PayoutBatch:
    batch = (
        await session.exec(
            select(PayoutBatch)
            .where(PayoutBatch.id == batch_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if batch is None:
        raise NotFound("payout batch", batch_id)
    return batch


async def require_admin(session: AsyncSession, person_id: int, action: str) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("person", person_id)
    if person.role is not Role.ADMIN:
        raise Forbidden(f"only an admin can {action}; {person.name} is a {person.role}")
    return person
