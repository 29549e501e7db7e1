"""Offers: a share of a job proposed to one artisan, accepted (fully or partly), declined or lapsed.

A job's pieces are allocated (active or completed allocations) or not yet. Allocations never
exceed the job's quantity, whatever happens: accepting takes the lock on the job and is given at
most the pieces still unallocated.

Open offers normally hold their pieces (``over_offer`` 1: allocated + offered never exceeds the
job, and ``job_remainder`` is what is left to offer). Since a good share of offers is declined or
lapses, a matching round may *over-offer*: keep up to ``over_offer`` times the unallocated pieces
in open offers, so that the expected acceptances cover the job within a round or two instead of
waiting a round per decline. Then the first artisans to accept take the pieces; one who accepts
after most are gone gets what is left (and is told so), and the moment the job is fully
allocated every other open offer of it is withdrawn (``OfferWithdrawn(filled=True)``), so nobody
can accept work that no longer exists and their capacity is freed at once.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, Forbidden, InvalidQuantity
from domain.limits import MAX_MONEY_CENTS
from domain.model import (
    OFFER_TRANSITIONS,
    OPEN_JOB_STATUSES,
    Allocation,
    AllocationStatus,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Component,
    DeclineReason,
    Job,
    Offer,
    OfferStatus,
    Person,
    Role,
)
from domain.services.guards import clean_text, load
from domain.services.jobs import lock_job, start_production, withdraw

ALLOCATED = (AllocationStatus.ACTIVE, AllocationStatus.COMPLETED)
#: Never more than this many times a job's unallocated pieces in open offers, whatever is asked.
MAX_OVER_OFFER = 3.0


class OfferClosed(DomainError):
    """The offer can no longer be answered: it was answered, withdrawn, or it lapsed."""


class NotOfferable(DomainError):
    """This job cannot be offered to this artisan right now; the message says why."""


def _said(status: OfferStatus) -> str:
    return str(status).replace("_", " ")


def _whole(value: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def open_offer_limit(untaken: int, over_offer: float) -> int:
    """The most pieces a job's open offers may hold, ``untaken`` pieces being left to allocate
    (the tolerance keeps e.g. 1.1 x 10 at 11 despite binary floating point)."""
    return math.floor(over_offer * untaken + 1e-9)


async def _allocated(session: AsyncSession, job_id: int) -> int:
    allocated = await session.exec(
        select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
            Allocation.job_id == job_id, col(Allocation.status).in_(ALLOCATED)
        )
    )
    return int(allocated.one())


async def _offered(session: AsyncSession, job_id: int) -> int:
    offered = await session.exec(
        select(func.coalesce(func.sum(Offer.quantity), 0)).where(
            Offer.job_id == job_id, Offer.status == OfferStatus.OPEN
        )
    )
    return int(offered.one())


async def pieces_offered(session: AsyncSession, job_id: int) -> int:
    """Pieces of the job held by open offers (waiting for the artisans' answers)."""
    return await _offered(session, job_id)


async def unallocated(session: AsyncSession, job_id: int) -> int:
    """Pieces of the job no artisan has taken yet (open offers or not)."""
    job = await load(session, Job, job_id, what="job")
    return job.quantity - await _allocated(session, job_id)


async def job_remainder(session: AsyncSession, job_id: int) -> int:
    """Pieces of the job neither allocated nor held by an open offer (negative while the job
    is over-offered)."""
    return await unallocated(session, job_id) - await _offered(session, job_id)


async def _offerable_artisan(session: AsyncSession, artisan_id: int, skill: str) -> Person:
    person = await load(session, Person, artisan_id, what="person")
    profile = await session.get(ArtisanProfile, artisan_id)
    if person.role is not Role.ARTISAN or profile is None:
        raise NotOfferable(f"{person.name} is not an artisan")
    if profile.status is not ArtisanStatus.ACTIVE:
        raise NotOfferable(f"{person.name} is {profile.status}, not active")
    if person.opted_out:
        raise NotOfferable(f"{person.name} has opted out of messages")
    if await session.get(ArtisanSkill, (artisan_id, skill)) is None:
        raise NotOfferable(f"{person.name} does not have the {skill} skill")
    return person


async def make_offer(
    session: AsyncSession,
    *,
    job_id: int,
    artisan_id: int,
    quantity: int,
    expires_at: datetime,
    now: datetime,
    over_offer: float = 1.0,
) -> Offer:
    """Propose ``quantity`` pieces of a job to an active artisan with the skill for it.

    Open offers of the job may then hold at most ``over_offer`` times its unallocated pieces
    (1: only pieces nobody else holds; see the module's note on over-offering).
    """
    if not 1.0 <= over_offer <= MAX_OVER_OFFER:
        raise DomainError(f"over_offer must be between 1 and {MAX_OVER_OFFER:g} (got {over_offer})")
    # Lock the job so two matchers cannot both offer its last free pieces (PostgreSQL).
    job = await load(session, Job, job_id, what="job", for_update=True)
    if job.status not in OPEN_JOB_STATUSES:
        raise NotOfferable(f"job {job_id} is {job.status}; only open work can be offered")
    component = await load(session, Component, job.component_id, what="component")
    await _offerable_artisan(session, artisan_id, component.skill)
    if expires_at <= now:
        raise DomainError("an offer must expire after it is made")
    if not _whole(quantity) or quantity < 1:
        raise InvalidQuantity(f"an offer needs at least one piece (got {quantity!r})")
    if quantity > job.quantity:
        raise InvalidQuantity(f"job {job_id} has {job.quantity} pieces; cannot offer {quantity}")
    if quantity * component.piece_rate_cents > MAX_MONEY_CENTS:
        # The piece rate may have risen since the order was confirmed.
        raise InvalidQuantity(
            f"{quantity} pieces at {component.piece_rate_cents} cents would pay more than the "
            f"{MAX_MONEY_CENTS} cents one offer may; offer fewer"
        )
    offered = await _offered(session, job_id)
    room = open_offer_limit(await unallocated(session, job_id), over_offer) - offered
    if quantity > room:
        free = max(room, 0)
        raise InvalidQuantity(
            f"job {job_id} has {free} piece(s) not yet allocated or offered; "
            f"cannot offer {quantity}"
            if over_offer == 1.0
            else f"job {job_id} can have {free} more piece(s) in open offers; "
            f"cannot offer {quantity}"
        )
    already = (
        await session.exec(
            select(Offer).where(
                Offer.job_id == job_id,
                Offer.artisan_id == artisan_id,
                Offer.status == OfferStatus.OPEN,
            )
        )
    ).first()
    if already is not None:
        raise NotOfferable(f"the artisan already has open offer {already.id} for job {job_id}")
    offer = Offer(
        job_id=job_id,
        artisan_id=artisan_id,
        quantity=quantity,
        piece_rate_cents=component.piece_rate_cents,
        due_date=job.due_date,
        offered_at=now,
        expires_at=expires_at,
    )
    session.add(offer)
    await session.flush()
    assert offer.id is not None
    events.record(session, events.OfferMade(offer_id=offer.id, artisan_id=artisan_id))
    return offer


async def _answerable(
    session: AsyncSession, offer_id: int, artisan_id: int, now: datetime, *, lock: bool = False
) -> Offer:
    """The artisan's own offer, still open and not past its expiry (swept or not)."""
    offer = await load(session, Offer, offer_id, what="offer", for_update=lock)
    if offer.artisan_id != artisan_id:
        raise Forbidden(f"offer {offer_id} was made to someone else")
    if offer.status is not OfferStatus.OPEN:
        raise OfferClosed(f"offer {offer_id} is already {_said(offer.status)}")
    if now >= offer.expires_at:
        raise OfferClosed(f"offer {offer_id} expired at {offer.expires_at:%Y-%m-%d %H:%M} UTC")
    return offer


async def accept_offer(
    session: AsyncSession,
    *,
    offer_id: int,
    artisan_id: int,
    quantity: int | None = None,
    now: datetime,
) -> Allocation:
    """The artisan takes the offer, or part of it; the rest returns to the job to offer again.

    The allocation keeps the offer's piece rate and due date: what was promised is what is paid.
    If the job was over-offered and others accepted first, the artisan gets the pieces still
    unallocated (the allocation says how many); when that fills the job, the other open offers
    of it are withdrawn.
    """
    unlocked = await load(session, Offer, offer_id, what="offer")
    job, order = await lock_job(session, unlocked.job_id)  # order, job, then offer: see lock_job
    offer = await _answerable(session, offer_id, artisan_id, now, lock=True)
    taken = offer.quantity if quantity is None else quantity
    if not _whole(taken) or not 1 <= taken <= offer.quantity:
        raise InvalidQuantity(
            f"offer {offer_id} is for {offer.quantity} piece(s); accept between 1 and "
            f"{offer.quantity} (got {quantity!r})"
        )
    if job.status not in OPEN_JOB_STATUSES:
        # Cancelling a job withdraws its offers, so this is belt and braces.
        raise OfferClosed(f"job {job.id} is {job.status}")
    left = job.quantity - await _allocated(session, offer.job_id)
    if left <= 0:
        # Filling a job withdraws its open offers, so this too is belt and braces.
        raise OfferClosed(f"every piece of job {job.id} has been taken")
    taken = min(taken, left)
    target = OfferStatus.ACCEPTED if taken == offer.quantity else OfferStatus.PARTLY_ACCEPTED
    offer.status = OFFER_TRANSITIONS.check(offer.status, target)
    offer.accepted_quantity = taken
    offer.responded_at = now
    allocation = Allocation(
        job_id=offer.job_id,
        artisan_id=artisan_id,
        offer_id=offer.id,
        quantity=taken,
        piece_rate_cents=offer.piece_rate_cents,
        due_date=offer.due_date,
        created_at=now,
    )
    session.add(allocation)
    await session.flush()
    if taken == left:
        await _withdraw_the_rest(session, offer.job_id)
    # Both still locked from above (and unchanged since): no need to load and lock them again.
    await start_production(session, job, order)
    return allocation


async def _withdraw_the_rest(session: AsyncSession, job_id: int) -> None:
    """The job is fully allocated: nobody may now accept its other open offers."""
    still_open = await session.exec(
        select(Offer)
        .where(Offer.job_id == job_id, Offer.status == OfferStatus.OPEN)
        .order_by(col(Offer.id))
        .with_for_update()
    )
    for other in list(still_open):
        withdraw(session, other, filled=True)
    await session.flush()


async def decline_offer(
    session: AsyncSession,
    *,
    offer_id: int,
    artisan_id: int,
    reason: DeclineReason,
    note: str | None = None,
    now: datetime,
) -> Offer:
    """The artisan turns the offer down; its pieces return to the job."""
    offer = await _answerable(session, offer_id, artisan_id, now, lock=True)
    offer.status = OFFER_TRANSITIONS.check(offer.status, OfferStatus.DECLINED)
    offer.decline_reason = DeclineReason(reason)
    offer.decline_note = (
        None if note is None or not note.strip() else clean_text(note, field="note", max_length=200)
    )
    offer.responded_at = now
    await session.flush()
    return offer


async def expire_offers(session: AsyncSession, *, now: datetime) -> list[Offer]:
    """Lapse every open offer whose time is up; their pieces return to their jobs."""
    due = await session.exec(
        select(Offer)
        .where(Offer.status == OfferStatus.OPEN, col(Offer.expires_at) <= now)
        .order_by(col(Offer.expires_at), col(Offer.id))
        .with_for_update(skip_locked=True)
    )
    expired = list(due)
    for offer in expired:
        offer.status = OFFER_TRANSITIONS.check(offer.status, OfferStatus.EXPIRED)
        assert offer.id is not None
        events.record(session, events.OfferExpired(offer_id=offer.id, artisan_id=offer.artisan_id))
    await session.flush()
    return expired


async def withdraw_offer(session: AsyncSession, *, offer_id: int, now: datetime) -> Offer:
    """Take back an open offer (the job changed, or the artisan was paused)."""
    offer = await load(session, Offer, offer_id, what="offer", for_update=True)
    if offer.status is not OfferStatus.OPEN:
        raise OfferClosed(f"offer {offer_id} is already {_said(offer.status)}")
    withdraw(session, offer)
    await session.flush()
    return offer
