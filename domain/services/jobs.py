"""A job's life after its order is confirmed: into production, offers withdrawn, cancelled.

Orders and offers both move jobs, so the steps live here, below both.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError
from domain.explosion import factory_today
from domain.model import (
    ALLOCATION_TRANSITIONS,
    JOB_TRANSITIONS,
    OFFER_TRANSITIONS,
    ORDER_TRANSITIONS,
    Allocation,
    AllocationStatus,
    Job,
    JobStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from domain.services.guards import load


async def lock_job(session: AsyncSession, job_id: int) -> tuple[Job, Order]:
    """Lock a job and its order, order first: the order in which every service takes them.

    Cancelling an order locks the order and then its jobs; taking the locks in that same order
    everywhere keeps two transactions from each holding what the other waits for.
    """
    job = await load(session, Job, job_id, what="job")
    line = await load(session, OrderLine, job.order_line_id, what="order line")
    order = await load(session, Order, line.order_id, what="order", for_update=True)
    job = await load(session, Job, job_id, what="job", for_update=True)
    return job, order


async def mark_in_production(session: AsyncSession, job_id: int, *, now: datetime) -> Job:
    """Work has been allocated: the job, and its order if this is the first, are in production.

    Safe to call on every allocation: a job or order already in production stays so.
    """
    job, order = await lock_job(session, job_id)
    await start_production(session, job, order)
    return job


async def start_production(session: AsyncSession, job: Job, order: Order) -> None:
    """``mark_in_production`` for a job and its order the caller has already locked."""
    if job.status is not JobStatus.IN_PRODUCTION:
        job.status = JOB_TRANSITIONS.check(job.status, JobStatus.IN_PRODUCTION)
    if order.status is not OrderStatus.IN_PRODUCTION:
        order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.IN_PRODUCTION)
    await session.flush()


def withdraw(session: AsyncSession, offer: Offer, *, filled: bool = False) -> Offer:
    """Take back an offer the artisan has not answered; they are told it is gone (and, when
    ``filled``, that others answered first and took every piece)."""
    offer.status = OFFER_TRANSITIONS.check(offer.status, OfferStatus.WITHDRAWN)
    assert offer.id is not None
    events.record(
        session,
        events.OfferWithdrawn(offer_id=offer.id, artisan_id=offer.artisan_id, filled=filled),
    )
    return offer


DEFAULT_CANCELLED_WORK_GRACE_DAYS = 7
"""``CANCELLED_WORK_GRACE_DAYS``'s default (bot/settings.py)."""


def withdraw_for_cancellation(session: AsyncSession, offer: Offer) -> Offer:
    """``withdraw`` because the job was cancelled: the artisan is told so."""
    offer.status = OFFER_TRANSITIONS.check(offer.status, OfferStatus.WITHDRAWN)
    assert offer.id is not None
    events.record(
        session,
        events.OfferWithdrawn(offer_id=offer.id, artisan_id=offer.artisan_id, cancelled=True),
    )
    return offer


async def cancel_job(
    session: AsyncSession,
    job: Job,
    *,
    now: datetime,
    grace_days: int = DEFAULT_CANCELLED_WORK_GRACE_DAYS,
) -> Job:
    """Stop a job: open offers withdrawn, active allocations cancelled, the artisans told.

    Cancelling is honest to the artisans who hold work on it (``JobCancelled`` tells each one,
    in their language, what stops and what happens to their pieces):

    - pieces that already passed QC are paid: the artisan still delivers them and the receipt
      earns them as usual, or an admin writes them off as paid (``settlement.write_off``);
    - pieces waiting for QC are still reviewed, and paid like those once passed and delivered;
    - pieces already made but not yet submitted are accepted for QC up to and including the
      factory-local day ``grace_days`` after the cancellation (``Allocation.submit_by``); after
      that nothing more is accepted (``CancelledWorkClosed``);
    - the cancelled allocation is left out of the artisan's reputation and of the matching
      history (neither late nor abandoned), and the withdrawn offers are not declines.
    """
    if grace_days < 0:
        raise DomainError(f"the grace for cancelled work is 0 days or more, not {grace_days}")
    job.status = JOB_TRANSITIONS.check(job.status, JobStatus.CANCELLED)
    offers = await session.exec(
        select(Offer).where(Offer.job_id == job.id, Offer.status == OfferStatus.OPEN)
    )
    for offer in list(offers):
        withdraw_for_cancellation(session, offer)
    allocations = await session.exec(
        select(Allocation).where(
            Allocation.job_id == job.id, Allocation.status == AllocationStatus.ACTIVE
        )
    )
    submit_by = factory_today(now) + timedelta(days=grace_days)
    for allocation in list(allocations):
        allocation.status = ALLOCATION_TRANSITIONS.check(
            allocation.status, AllocationStatus.CANCELLED
        )
        allocation.closed_at = now
        allocation.cancelled_at = now
        allocation.submit_by = submit_by
    assert job.id is not None
    events.record(session, events.JobCancelled(job_id=job.id))
    await session.flush()
    return job
