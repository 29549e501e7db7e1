"""Reads for one artisan in the console: their lots (allocations) with each job's component and
order, what they delivered, and their payouts. Balances are the ledger's own
(``domain.ledger.artisan_balance``), reputation ``domain.reputation``'s, as in chat."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import Allocation, Component, Job, OrderLine, Payout

MAX_ROWS = 50


@dataclass(frozen=True, slots=True)
class LotRow:
    allocation: Allocation
    component: Component
    order_id: int


async def lots_of(session: AsyncSession, artisan_id: int) -> list[LotRow]:
    """The artisan's latest lots, newest first."""
    rows = await session.exec(
        select(Allocation, Component, OrderLine.order_id)
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .where(Allocation.artisan_id == artisan_id)
        .order_by(col(Allocation.id).desc())
        .limit(MAX_ROWS)
    )
    return [LotRow(allocation, component, order_id) for allocation, component, order_id in rows]


async def payouts_of(session: AsyncSession, artisan_id: int) -> list[Payout]:
    rows = await session.exec(
        select(Payout)
        .where(Payout.artisan_id == artisan_id)
        .order_by(col(Payout.id).desc())
        .limit(MAX_ROWS)
    )
    return list(rows)
