"""How many pieces of a job are where, and the invariant that keeps those counts honest.

Definitions, per job (and the same per allocation, for one artisan's share):

- **ordered**: ``job.quantity``.
- **allocated**: the quantities of the job's allocations that are active or completed. A cancelled
  allocation leaves the job's tally together with everything submitted and delivered on it.
- **submitted**: pieces in submissions that are not cancelled (waiting, photos requested, reviewed).
- **pending review**: pieces in submissions still waiting for QC (pending review or photos
  requested).
- **passed** / **rejected**: the counts field agents gave in their QC reviews. Rejected pieces go
  back to the same allocation as rework, so they may be submitted again.
- **net submitted**: submitted - rejected, i.e. passed + pending review: the pieces that use up
  allocated quantity. An allocation's **outstanding** pieces still to make are
  quantity - passed - pending review.
- **in transit**: pieces declared on deliveries that are arranged and not yet received. A
  delivery may declare only passed pieces that are not already received or in transit.
- **received**: pieces counted in at the central workshop, each delivery counting at most what it
  declared. Declared pieces passed QC, so received never exceeds passed. Pieces beyond the
  declaration (a surplus) are recorded as a discrepancy but not counted, and not paid: once they
  have passed QC they are declared and received on a delivery of their own. Pieces missing from a
  delivery may likewise follow on a later one.
- **delivered**: in transit + received: passed pieces handed over or on their way.
- **written off**: passed pieces of a cancelled job an admin paid without a delivery
  (``WriteOff``); an allocation's **deliverable** pieces are passed - delivered - written off.

The invariant in ARCHITECTURE.md, "accepted + rejected <= submitted <= allocated <= ordered, at
every moment", is checked as:

- every reviewed submission's passed + rejected equals its count, so passed + rejected <= submitted;
- net submitted <= allocated (rejected pieces are rework and do not use up quantity twice);
- allocated <= ordered;
- received <= delivered <= passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import InvalidQuantity, NotFound
from domain.model import (
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryStatus,
    Job,
    QcReview,
    Submission,
    SubmissionStatus,
    WriteOff,
)

COUNTED_ALLOCATIONS = frozenset({AllocationStatus.ACTIVE, AllocationStatus.COMPLETED})
AWAITING_QC = frozenset({SubmissionStatus.PENDING_REVIEW, SubmissionStatus.PHOTOS_REQUESTED})


@dataclass(frozen=True, slots=True)
class ReviewedCount:
    """One reviewed submission: its count and the verdict's split of it."""

    submission_id: int
    count: int
    passed: int
    rejected: int


@dataclass(frozen=True, slots=True)
class JobTally:
    """Where a job's pieces are; ``check_job_tally`` says whether the counts can all be true."""

    job_id: int
    ordered: int
    allocated: int = 0
    submitted: int = 0
    pending_review: int = 0
    passed: int = 0
    rejected: int = 0
    in_transit: int = 0
    received: int = 0
    reviews: tuple[ReviewedCount, ...] = ()

    @property
    def net_submitted(self) -> int:
        return self.submitted - self.rejected

    @property
    def delivered(self) -> int:
        return self.in_transit + self.received

    @property
    def unallocated(self) -> int:
        return self.ordered - self.allocated


def check_job_tally(tally: JobTally) -> None:
    """Raise ``InvalidQuantity`` naming the first broken rule of the job quantity invariant."""
    job = f"job {tally.job_id}"
    counts = {
        "ordered": tally.ordered,
        "allocated": tally.allocated,
        "submitted": tally.submitted,
        "pending review": tally.pending_review,
        "passed": tally.passed,
        "rejected": tally.rejected,
        "in transit": tally.in_transit,
        "received": tally.received,
    }
    for name, value in counts.items():
        if value < 0:
            raise InvalidQuantity(f"{job}: {name} is {value}; a count of pieces cannot be negative")
    for review in tally.reviews:
        if review.passed + review.rejected != review.count:
            raise InvalidQuantity(
                f"{job}: submission {review.submission_id} had {review.count} pieces but its QC "
                f"review passed {review.passed} and rejected {review.rejected}"
            )
    reviewed = tally.passed + tally.rejected
    if reviewed + tally.pending_review != tally.submitted:
        raise InvalidQuantity(
            f"{job}: {tally.submitted} pieces submitted but {tally.passed} passed + "
            f"{tally.rejected} rejected + {tally.pending_review} waiting for QC = "
            f"{reviewed + tally.pending_review}"
        )
    if tally.net_submitted > tally.allocated:
        raise InvalidQuantity(
            f"{job}: {tally.net_submitted} pieces submitted and not rejected, more than the "
            f"{tally.allocated} allocated"
        )
    if tally.allocated > tally.ordered:
        raise InvalidQuantity(
            f"{job}: {tally.allocated} pieces allocated, more than the {tally.ordered} ordered"
        )
    if tally.delivered > tally.passed:
        raise InvalidQuantity(
            f"{job}: {tally.delivered} pieces delivered or on their way ({tally.received} "
            f"received, {tally.in_transit} in transit), more than the {tally.passed} that "
            "passed QC"
        )


class AllocationProgress(NamedTuple):
    """One artisan's share of a job, piece by piece."""

    quantity: int
    pending_review: int
    passed: int
    rejected: int
    delivered: int  # in transit + received
    received: int  # counted in, at most what each delivery declared
    outstanding: int  # still to make: quantity - passed - pending review
    written_off: int = 0  # passed pieces of a cancelled job paid without a delivery (WriteOff)

    @property
    def in_transit(self) -> int:
        return self.delivered - self.received

    @property
    def deliverable(self) -> int:
        """Passed pieces not yet received, on their way or written off as paid: what a new
        delivery (or a write-off) may take."""
        return self.passed - self.delivered - self.written_off


@dataclass(slots=True)
class _Counts:
    pending_review: int = 0
    passed: int = 0
    rejected: int = 0
    submitted: int = 0
    in_transit: int = 0
    received: int = 0
    written_off: int = 0


async def _count_by_allocation(
    session: AsyncSession, allocation_ids: Iterable[int]
) -> tuple[dict[int, _Counts], list[ReviewedCount]]:
    ids = list(allocation_ids)
    counts = {allocation_id: _Counts() for allocation_id in ids}
    reviews: list[ReviewedCount] = []
    if not ids:
        return counts, reviews

    await session.flush()  # as the session's own queries would: count what is pending too
    connection = await session.connection()
    submissions = await connection.execute(_SUBMITTED, {"ids": ids})
    for submission_id, allocation_id, count, status, review_id, passed, rejected in submissions:
        tally = counts[allocation_id]
        tally.submitted += count
        if status in AWAITING_QC:
            tally.pending_review += count
        elif review_id is not None:
            tally.passed += passed
            tally.rejected += rejected
            assert submission_id is not None
            reviews.append(ReviewedCount(submission_id, count, passed, rejected))

    deliveries = await connection.execute(_DELIVERED, {"ids": ids})
    for allocation_id, status, declared, received in deliveries:
        if status == DeliveryStatus.ARRANGED:
            counts[allocation_id].in_transit += int(declared or 0)
        else:
            counts[allocation_id].received += int(received or 0)

    written_off = await connection.execute(_WRITTEN_OFF, {"ids": ids})
    for allocation_id, pieces in written_off:
        counts[allocation_id].written_off += int(pieces or 0)
    return counts, reviews


# Core statements built once (the menu's "submit", "my jobs" and each count step run them), with
# columns rather than ORM objects: only the counts are wanted.
_SUBMITTED = (
    sa.select(
        col(Submission.id),
        col(Submission.allocation_id),
        col(Submission.count),
        col(Submission.status),
        col(QcReview.id),
        col(QcReview.passed),
        col(QcReview.rejected),
    )
    .join(QcReview, col(QcReview.submission_id) == col(Submission.id), isouter=True)
    .where(col(Submission.allocation_id).in_(sa.bindparam("ids", expanding=True)))
    .where(col(Submission.status) != SubmissionStatus.CANCELLED)
)
# A delivery counts what was received, but never more than it declared (see above).
_COUNTED = sa.case(
    (
        col(Delivery.received_quantity) < col(Delivery.declared_quantity),
        col(Delivery.received_quantity),
    ),
    else_=col(Delivery.declared_quantity),
)
_DELIVERED = (
    sa.select(
        col(Delivery.allocation_id),
        col(Delivery.status),
        sa.func.sum(Delivery.declared_quantity),
        sa.func.sum(_COUNTED),
    )
    .where(col(Delivery.allocation_id).in_(sa.bindparam("ids", expanding=True)))
    .where(col(Delivery.status) != DeliveryStatus.CANCELLED)
    .group_by(col(Delivery.allocation_id), col(Delivery.status))
)
_WRITTEN_OFF = (
    sa.select(col(WriteOff.allocation_id), sa.func.sum(WriteOff.pieces))
    .where(col(WriteOff.allocation_id).in_(sa.bindparam("ids", expanding=True)))
    .group_by(col(WriteOff.allocation_id))
)


async def job_tally(session: AsyncSession, job_id: int) -> JobTally:
    """The job's counts as the rows say now (see the module's definitions)."""
    job = await session.get(Job, job_id)
    if job is None:
        raise NotFound("job", job_id)
    allocations = (
        await session.exec(
            select(Allocation)
            .where(Allocation.job_id == job_id)
            .where(col(Allocation.status).in_(COUNTED_ALLOCATIONS))
        )
    ).all()
    counts, reviews = await _count_by_allocation(session, (a.id for a in allocations if a.id))
    parts = counts.values()
    return JobTally(
        job_id=job_id,
        ordered=job.quantity,
        allocated=sum(a.quantity for a in allocations),
        submitted=sum(c.submitted for c in parts),
        pending_review=sum(c.pending_review for c in parts),
        passed=sum(c.passed for c in parts),
        rejected=sum(c.rejected for c in parts),
        in_transit=sum(c.in_transit for c in parts),
        received=sum(c.received for c in parts),
        reviews=tuple(sorted(reviews, key=lambda r: r.submission_id)),
    )


async def ensure_job_invariant(session: AsyncSession, job_id: int) -> JobTally:
    """Recount the job and refuse (``InvalidQuantity``) if the change just made broke it."""
    tally = await job_tally(session, job_id)
    check_job_tally(tally)
    return tally


async def allocation_progress(session: AsyncSession, allocation_id: int) -> AllocationProgress:
    """Where one allocation's pieces are: waiting for QC, passed, delivered, still to make."""
    allocation = await session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound("allocation", allocation_id)
    return (await allocations_progress(session, [allocation]))[allocation_id]


async def allocations_progress(
    session: AsyncSession, allocations: Iterable[Allocation]
) -> dict[int, AllocationProgress]:
    """``allocation_progress`` for many allocations at once, keyed by allocation id."""
    quantities = {a.id: a.quantity for a in allocations if a.id is not None}
    counts, _ = await _count_by_allocation(session, quantities)
    return {
        allocation_id: AllocationProgress(
            quantity=quantity,
            pending_review=c.pending_review,
            passed=c.passed,
            rejected=c.rejected,
            delivered=c.in_transit + c.received,
            received=c.received,
            outstanding=quantity - c.passed - c.pending_review,
            written_off=c.written_off,
        )
        for allocation_id, quantity in quantities.items()
        for c in [counts[allocation_id]]
    }
