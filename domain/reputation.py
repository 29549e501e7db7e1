"""An artisan's reputation from their history, smoothed so newcomers get a fair start.

Each rate is the mean of a Beta posterior: ``(successes + m*s) / (trials + s)`` for a prior with
mean ``m`` worth ``s`` pseudo-observations. With no history a rate *is* the prior mean; every real
observation pulls it toward what the artisan actually did, and after a few dozen the prior hardly
matters. So one late job does not sink a newcomer, and one good job does not make them a star.

The priors (see :class:`ReputationPriors`) encode what we expect of a typical Nairobi workshop:

=================  ====  ========  ===========================================================
rate               mean  strength  why
=================  ====  ========  ===========================================================
on time            0.80  4         most jobs arrive on time; four jobs are enough to tell
QC pass            0.90  20        counted in pieces, which come in dozens, so a stronger prior
acceptance         0.60  5         artisans decline for good reasons (busy, no materials)
response           0.80  5         share of offers answered before they expire
response time      4 h   3         mean hours to answer an offer, smoothed like a mean
=================  ====  ========  ===========================================================

Arithmetic is exact (fractions) and rounded once at the end, so the promises the tests check —
rates within [0, 1], equal to the prior with no history, never lowered by more good history —
hold exactly, not just approximately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, tzinfo
from fractions import Fraction
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import InvalidQuantity
from domain.explosion import FACTORY_ZONE, factory_today
from domain.model import (
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryStatus,
    Offer,
    OfferStatus,
    QcReview,
    Submission,
)


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """What we believe of a rate before seeing anyone: ``mean``, worth ``strength`` trials."""

    mean: float
    strength: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.mean <= 1.0:
            raise ValueError(f"a prior mean is a rate between 0 and 1, not {self.mean}")
        if self.strength <= 0:
            raise ValueError(f"a prior's strength must be positive, not {self.strength}")

    def smooth(self, successes: int, trials: int) -> float:
        """The posterior mean after ``successes`` out of ``trials``."""
        strength = Fraction(self.strength)
        return float((successes + Fraction(self.mean) * strength) / (trials + strength))


@dataclass(frozen=True, slots=True)
class ReputationPriors:
    on_time: BetaPrior = field(default_factory=lambda: BetaPrior(0.8, 4))
    qc_pass: BetaPrior = field(default_factory=lambda: BetaPrior(0.9, 20))
    acceptance: BetaPrior = field(default_factory=lambda: BetaPrior(0.6, 5))
    response: BetaPrior = field(default_factory=lambda: BetaPrior(0.8, 5))
    response_seconds: float = 4 * 3600.0
    response_seconds_strength: float = 3.0


DEFAULT_PRIORS = ReputationPriors()


@dataclass(frozen=True, slots=True)
class ArtisanHistory:
    """Counts of what an artisan did, as of some moment."""

    offers_made: int = 0
    offers_accepted: int = 0  # fully or partly
    offers_declined: int = 0
    offers_expired: int = 0
    responses: int = 0  # offers answered (accepted or declined) with a known answer time
    response_seconds_total: int = 0
    allocations_due: int = 0  # due date passed, or delivered in full already
    allocations_on_time: int = 0  # every piece received on or before the due date
    qc_pieces_passed: int = 0
    qc_pieces_rejected: int = 0
    pieces_received: int = 0
    last_work_date: date | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and value < 0:
                raise InvalidQuantity(f"{f.name} cannot be negative ({value})")
        decided = self.offers_accepted + self.offers_declined + self.offers_expired
        if decided > self.offers_made:
            raise InvalidQuantity(
                f"{decided} offers accepted, declined or expired, but only {self.offers_made} made"
            )
        if self.responses > self.offers_accepted + self.offers_declined:
            raise InvalidQuantity("more timed responses than offers answered")
        if self.allocations_on_time > self.allocations_due:
            raise InvalidQuantity("more allocations on time than allocations due")

    @property
    def offers_decided(self) -> int:
        return self.offers_accepted + self.offers_declined + self.offers_expired

    @property
    def offers_answered(self) -> int:
        return self.offers_accepted + self.offers_declined


@dataclass(frozen=True, slots=True)
class Reputation:
    on_time_rate: float
    qc_pass_rate: float
    acceptance_rate: float
    response_rate: float
    mean_response_seconds: float
    volume: int  # pieces received at the central workshop
    last_work_date: date | None


def reputation(history: ArtisanHistory, priors: ReputationPriors = DEFAULT_PRIORS) -> Reputation:
    """Smoothed rates from a history; see the module's table for the priors."""
    strength = Fraction(priors.response_seconds_strength)
    mean_seconds = (
        history.response_seconds_total + Fraction(priors.response_seconds) * strength
    ) / (history.responses + strength)
    return Reputation(
        on_time_rate=priors.on_time.smooth(history.allocations_on_time, history.allocations_due),
        qc_pass_rate=priors.qc_pass.smooth(
            history.qc_pieces_passed, history.qc_pieces_passed + history.qc_pieces_rejected
        ),
        acceptance_rate=priors.acceptance.smooth(history.offers_accepted, history.offers_decided),
        response_rate=priors.response.smooth(history.offers_answered, history.offers_decided),
        mean_response_seconds=float(mean_seconds),
        volume=history.pieces_received,
        last_work_date=history.last_work_date,
    )


class _AllocationDue(NamedTuple):
    artisan_id: int
    quantity: int
    due_date: date


async def artisan_histories(
    session: AsyncSession,
    ids: Sequence[int],
    *,
    now: datetime,
    zone: tzinfo = FACTORY_ZONE,
) -> dict[int, ArtisanHistory]:
    """What each artisan had done by ``now``, in four queries whatever their number.

    Nothing later than ``now`` counts, so past moments can be replayed without peeking at the
    future, as the matching model's training needs. On time means every piece of an allocation
    was received on or before its due date, reading dates in the factory's time zone. The last
    work date is the latest submission or receipt. One implementation serves the reputation shown
    to an artisan and the histories matching scores on, so the two always agree.
    """
    today = factory_today(now, zone)
    counts: dict[int, dict[str, int]] = {i: defaultdict(int) for i in ids}
    work_days: dict[int, list[date]] = {i: [] for i in ids}
    if not ids:
        return {}

    # Columns rather than ORM objects: only a few fields of each row are read, and matching
    # asks for thousands of artisans at once. Flushed first, as the session's queries would be.
    await session.flush()
    connection = await session.connection()
    offers = await connection.execute(
        sa.select(
            col(Offer.artisan_id),
            col(Offer.status),
            col(Offer.offered_at),
            col(Offer.responded_at),
            col(Offer.expires_at),
        ).where(col(Offer.artisan_id).in_(ids), col(Offer.offered_at) <= now)
    )
    for artisan_id, status, offered_at, responded_at, expires_at in offers.all():
        c = counts[artisan_id]
        c["offers_made"] += 1
        answered_by_now = responded_at is None or responded_at <= now
        if status in (OfferStatus.ACCEPTED, OfferStatus.PARTLY_ACCEPTED) and answered_by_now:
            c["offers_accepted"] += 1
        elif status is OfferStatus.DECLINED and answered_by_now:
            c["offers_declined"] += 1
        elif status is OfferStatus.EXPIRED and expires_at <= now:
            c["offers_expired"] += 1
        else:
            continue
        if responded_at is not None and status is not OfferStatus.EXPIRED:
            c["responses"] += 1
            waited = (responded_at - offered_at).total_seconds()
            c["response_seconds_total"] += max(0, round(waited))

    deliveries = await connection.execute(
        sa.select(
            col(Allocation.id),
            col(Allocation.artisan_id),
            col(Allocation.quantity),
            col(Allocation.due_date),
            col(Delivery.received_at),
            col(Delivery.received_quantity),
        )
        .outerjoin(
            Delivery,
            (col(Delivery.allocation_id) == col(Allocation.id))
            & (col(Delivery.status) == DeliveryStatus.RECEIVED)
            & (col(Delivery.received_at) <= now),
        )
        .where(
            col(Allocation.artisan_id).in_(ids),
            col(Allocation.created_at) <= now,
            col(Allocation.status) != AllocationStatus.CANCELLED,
        )
    )
    allocations: dict[int, _AllocationDue] = {}
    received: dict[int, int] = defaultdict(int)
    received_in_time: dict[int, int] = defaultdict(int)
    for allocation_id, artisan_id, quantity, due_date, received_at, pieces in deliveries.all():
        assert allocation_id is not None
        allocation = allocations.setdefault(
            allocation_id, _AllocationDue(artisan_id, quantity, due_date)
        )
        if received_at is None:  # no delivery received by now
            continue
        day = factory_today(received_at, zone)
        received[allocation_id] += pieces or 0
        if day <= allocation.due_date:
            received_in_time[allocation_id] += pieces or 0
        work_days[artisan_id].append(day)
    for allocation_id, allocation in allocations.items():
        c = counts[allocation.artisan_id]
        complete = received[allocation_id] >= allocation.quantity
        if complete or allocation.due_date < today:
            c["allocations_due"] += 1
            if received_in_time[allocation_id] >= allocation.quantity:
                c["allocations_on_time"] += 1
        c["pieces_received"] += received[allocation_id]

    reviews = await session.exec(
        select(Allocation.artisan_id, QcReview.passed, QcReview.rejected)
        .join(Submission, col(Submission.id) == col(QcReview.submission_id))
        .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
        .where(col(Allocation.artisan_id).in_(ids), col(QcReview.reviewed_at) <= now)
    )
    for artisan_id, passed, rejected in reviews.all():
        counts[artisan_id]["qc_pieces_passed"] += passed
        counts[artisan_id]["qc_pieces_rejected"] += rejected

    submitted = await session.exec(
        select(Allocation.artisan_id, Submission.submitted_at)
        .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
        .where(col(Allocation.artisan_id).in_(ids), col(Submission.submitted_at) <= now)
    )
    for artisan_id, when in submitted.all():
        work_days[artisan_id].append(factory_today(when, zone))

    return {
        i: ArtisanHistory(**counts[i], last_work_date=max(work_days[i], default=None)) for i in ids
    }


async def artisan_history(
    session: AsyncSession, artisan_id: int, *, now: datetime, zone: tzinfo = FACTORY_ZONE
) -> ArtisanHistory:
    """One artisan's :func:`artisan_histories`."""
    return (await artisan_histories(session, [artisan_id], now=now, zone=zone))[artisan_id]
