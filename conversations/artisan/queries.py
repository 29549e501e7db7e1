"""What artisans' flows, commands and notices read: their offers and their work in progress.

Plain rows; ``views.py`` turns them into words.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.queries import job_component
from domain.model import (
    Allocation,
    AllocationStatus,
    Component,
    Job,
    Offer,
    OfferStatus,
)
from domain.quantities import AllocationProgress, allocations_progress

# --- offers -------------------------------------------------------------------------------


async def open_offers(
    session: AsyncSession, artisan_id: int, now: datetime
) -> list[tuple[Offer, Component]]:
    """The artisan's offers that can still be answered, the soonest to expire first."""
    rows = await session.exec(_OPEN_OFFERS, params={"artisan_id": artisan_id, "now": now})
    return list(rows.all())


# Built once, with its cache key: the offers menu runs it twice a message.
_OPEN_OFFERS = (
    select(Offer, Component)
    .join(Job, col(Job.id) == col(Offer.job_id))
    .join(Component, col(Component.id) == col(Job.component_id))
    .where(Offer.artisan_id == sa.bindparam("artisan_id"), Offer.status == OfferStatus.OPEN)
    .where(col(Offer.expires_at) > sa.bindparam("now"))
    .order_by(col(Offer.expires_at), col(Offer.id))
)


async def offer_component(session: AsyncSession, offer: Offer) -> Component:
    component = await job_component(session, offer.job_id)
    assert component is not None  # an offer's job, and its component, are never deleted
    return component


# --- allocations ----------------------------------------------------------------------------


async def active_allocations(
    session: AsyncSession, artisan_id: int
) -> list[tuple[Allocation, Component, AllocationProgress]]:
    """The artisan's work in progress, soonest due first, with where its pieces are."""
    rows = list((await session.exec(_ACTIVE, params={"artisan_id": artisan_id})).all())
    progress = await allocations_progress(session, [allocation for allocation, _ in rows])
    return [
        (allocation, component, progress[allocation.id])
        for allocation, component in rows
        if allocation.id is not None
    ]


async def cancelled_allocations(
    session: AsyncSession, artisan_id: int
) -> list[tuple[Allocation, Component, AllocationProgress]]:
    """The artisan's lots cancelled with their job, with where their pieces are: passed pieces
    are still delivered and paid, made pieces submitted during the grace (jobs.cancel_job)."""
    rows = list((await session.exec(_CANCELLED, params={"artisan_id": artisan_id})).all())
    progress = await allocations_progress(session, [allocation for allocation, _ in rows])
    return [
        (allocation, component, progress[allocation.id])
        for allocation, component in rows
        if allocation.id is not None
    ]


_CANCELLED = (
    select(Allocation, Component)
    .join(Job, col(Job.id) == col(Allocation.job_id))
    .join(Component, col(Component.id) == col(Job.component_id))
    .where(
        Allocation.artisan_id == sa.bindparam("artisan_id"),
        Allocation.status == AllocationStatus.CANCELLED,
        col(Allocation.cancelled_at).is_not(None),
    )
    .order_by(col(Allocation.id))
)


_ACTIVE = (
    select(Allocation, Component)
    .join(Job, col(Job.id) == col(Allocation.job_id))
    .join(Component, col(Component.id) == col(Job.component_id))
    .where(
        Allocation.artisan_id == sa.bindparam("artisan_id"),
        Allocation.status == AllocationStatus.ACTIVE,
    )
    .order_by(col(Allocation.due_date), col(Allocation.id))
)
