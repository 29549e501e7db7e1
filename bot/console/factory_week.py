"""Reads for the console's Factory page: pieces through each stage this week, and the QC pass
rate and on-time rate week by week (the same definitions as the admins' ``/stats``,
``conversations/admin/queries.py``, cut into weeks: pieces passed of pieces reviewed; allocations
due in the week whose pieces were all received by their due date, of those due)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.explosion import FACTORY_ZONE, factory_today
from domain.model import (
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryStatus,
    Offer,
    QcReview,
    Submission,
    SubmissionStatus,
)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=FACTORY_ZONE)


@dataclass(frozen=True, slots=True)
class PiecesThisWeek:
    since: date  # Monday, factory time
    offered: int  # pieces in offers made this week
    accepted: int  # pieces artisans took this week
    in_qc: int  # pieces submitted and waiting for a field agent's review, now
    received: int  # pieces counted in at the workshop this week


async def pieces_this_week(session: AsyncSession, *, now: datetime) -> PiecesThisWeek:
    monday = week_start(factory_today(now))
    start = _moment(monday)

    async def total(column: Any, *where: Any) -> int:
        found = await session.exec(select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where))
        return int(found.one())

    return PiecesThisWeek(
        since=monday,
        offered=await total(col(Offer.quantity), col(Offer.offered_at) >= start),
        accepted=await total(
            col(Allocation.quantity),
            col(Allocation.created_at) >= start,
            col(Allocation.status) != AllocationStatus.CANCELLED,
        ),
        in_qc=await total(
            col(Submission.count),
            col(Submission.status).in_(
                [SubmissionStatus.PENDING_REVIEW, SubmissionStatus.PHOTOS_REQUESTED]
            ),
        ),
        received=await total(
            col(Delivery.received_quantity),
            col(Delivery.status) == DeliveryStatus.RECEIVED,
            col(Delivery.received_at) >= start,
        ),
    )


@dataclass(frozen=True, slots=True)
class WeekRates:
    week: date  # its Monday
    qc_passed: int
    qc_reviewed: int
    on_time: int
    due: int

    @property
    def qc_rate(self) -> Decimal | None:
        return None if not self.qc_reviewed else Decimal(self.qc_passed) / self.qc_reviewed

    @property
    def on_time_rate(self) -> Decimal | None:
        return None if not self.due else Decimal(self.on_time) / self.due


async def weekly_rates(session: AsyncSession, *, now: datetime, weeks: int = 8) -> list[WeekRates]:
    """The last ``weeks`` weeks, oldest first, this week included (so far)."""
    today = factory_today(now)
    first = week_start(today) - timedelta(weeks=weeks - 1)
    mondays = [first + timedelta(weeks=n) for n in range(weeks)]
    passed: dict[date, int] = defaultdict(int)
    reviewed: dict[date, int] = defaultdict(int)
    for review in await session.exec(
        select(QcReview).where(col(QcReview.reviewed_at) >= _moment(first))
    ):
        monday = week_start(review.reviewed_at.astimezone(FACTORY_ZONE).date())
        passed[monday] += review.passed
        reviewed[monday] += review.passed + review.rejected
    allocations = list(
        await session.exec(
            select(Allocation).where(
                Allocation.status != AllocationStatus.CANCELLED,
                col(Allocation.due_date) >= first,
                col(Allocation.due_date) <= today,
            )
        )
    )
    by_id = {allocation.id: allocation for allocation in allocations}
    received: dict[int, int] = defaultdict(int)
    for delivery in await session.exec(
        select(Delivery).where(
            col(Delivery.allocation_id).in_([a.id for a in allocations]),
            Delivery.status == DeliveryStatus.RECEIVED,
        )
    ):
        assert delivery.received_at is not None
        allocation = by_id[delivery.allocation_id]
        if delivery.received_at.astimezone(FACTORY_ZONE).date() <= allocation.due_date:
            received[delivery.allocation_id] += min(
                delivery.received_quantity or 0, delivery.declared_quantity
            )
    due: dict[date, int] = defaultdict(int)
    on_time: dict[date, int] = defaultdict(int)
    for allocation in allocations:
        monday = week_start(allocation.due_date)
        due[monday] += 1
        on_time[monday] += received[allocation.id or 0] >= allocation.quantity
    return [
        WeekRates(monday, passed[monday], reviewed[monday], on_time[monday], due[monday])
        for monday in mondays
    ]
