"""Reads for the console's Payouts page: every batch with its count, total and M-Pesa results.
A batch's lines are the admins' own read (``conversations.admin.queries.batch_lines``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import Payout, PayoutBatch, PayoutStatus, Person

MAX_BATCHES = 50


@dataclass(frozen=True, slots=True)
class BatchRow:
    batch: PayoutBatch
    maker: str | None  # the admin who made it; None: the schedule
    approver: str | None
    count: int
    total_cents: int
    statuses: dict[PayoutStatus, int] = field(default_factory=dict)


async def batches(session: AsyncSession) -> list[BatchRow]:
    """The latest batches, newest first."""
    found = list(
        await session.exec(
            select(PayoutBatch).order_by(col(PayoutBatch.id).desc()).limit(MAX_BATCHES)
        )
    )
    ids = [b.id for b in found]
    people = {b.created_by for b in found} | {b.approved_by for b in found}
    names = {
        p.id: p.name
        for p in await session.exec(select(Person).where(col(Person.id).in_(people - {None})))
    }
    counts: dict[int, Counter[PayoutStatus]] = {}
    totals: dict[int, int] = {}
    for batch_id, status, count, total in await session.exec(
        select(Payout.batch_id, Payout.status, sa.func.count(), sa.func.sum(Payout.amount_cents))
        .where(col(Payout.batch_id).in_(ids))
        .group_by(col(Payout.batch_id), col(Payout.status))
    ):
        counts.setdefault(batch_id, Counter())[PayoutStatus(status)] += int(count)
        totals[batch_id] = totals.get(batch_id, 0) + int(total or 0)
    return [
        BatchRow(
            batch,
            None if batch.created_by is None else names.get(batch.created_by),
            None if batch.approved_by is None else names.get(batch.approved_by),
            sum(counts.get(batch.id or 0, Counter()).values()),
            totals.get(batch.id or 0, 0),
            dict(counts.get(batch.id or 0, Counter())),
        )
        for batch in found
    ]
