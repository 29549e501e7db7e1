"""Settling a cancelled job with the artisans who held work on it.

``jobs.cancel_job`` states the rule; this module holds what admins and the messages need on top:
writing passed pieces off as paid (``/writeoff``) and, for each cancelled allocation, where its
pieces stand (what will still be paid, what is still reviewed, what may still be submitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import DomainError
from domain.model import Allocation, AllocationStatus, Role, WriteOff
from domain.quantities import AllocationProgress, allocation_progress, allocations_progress
from domain.services.guards import clean_text, load, person_in_role

WRITE_OFF_REASON_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Settlement:
    """Where a cancelled allocation's pieces stand, as its artisan is told."""

    allocation: Allocation
    progress: AllocationProgress
    submit_by: date | None  # last day made pieces are accepted; None: not a cancelled job's

    @property
    def to_deliver(self) -> int:
        """Passed pieces still to bring in (or to write off): paid when received."""
        return self.progress.deliverable

    @property
    def in_transit(self) -> int:
        return self.progress.in_transit

    @property
    def in_review(self) -> int:
        return self.progress.pending_review

    @property
    def unmade(self) -> int:
        """Pieces of the lot not passed nor waiting for QC: may be submitted during the grace."""
        return max(self.progress.outstanding, 0)


async def settlements_of_job(session: AsyncSession, job_id: int) -> list[Settlement]:
    """Each allocation cancelled with the job, by id."""
    allocations = list(
        (
            await session.exec(
                select(Allocation)
                .where(
                    Allocation.job_id == job_id,
                    Allocation.status == AllocationStatus.CANCELLED,
                    col(Allocation.cancelled_at).is_not(None),
                )
                .order_by(col(Allocation.id))
            )
        ).all()
    )
    progress = await allocations_progress(session, allocations)
    return [
        Settlement(allocation, progress[allocation.id], allocation.submit_by)
        for allocation in allocations
        if allocation.id is not None
    ]


async def write_off(
    session: AsyncSession,
    *,
    allocation_id: int,
    admin_id: int,
    reason: str,
    now: datetime,
) -> WriteOff:
    """Pay the passed pieces of a cancelled allocation that were never delivered, without a
    delivery: recorded (who, when, why, how many, how much) and earned in the ledger as a
    ``write_off`` transfer. Pieces on their way are left to their receipt; the pieces written
    off can no longer be delivered, so nothing is paid twice."""
    await person_in_role(session, admin_id, {Role.ADMIN}, to="write off pieces as paid")
    words = clean_text(reason, field="reason", max_length=WRITE_OFF_REASON_LENGTH)
    allocation = await load(session, Allocation, allocation_id, what="allocation", for_update=True)
    if allocation.status != AllocationStatus.CANCELLED or allocation.cancelled_at is None:
        raise NotCancelled(allocation_id, allocation.status)
    pieces = (await allocation_progress(session, allocation_id)).deliverable
    if pieces <= 0:
        raise NothingToWriteOff(allocation_id)
    entry = WriteOff(
        allocation_id=allocation_id,
        pieces=pieces,
        amount_cents=pieces * allocation.piece_rate_cents,
        reason=words,
        written_off_by=admin_id,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    assert entry.id is not None
    await ledger.record_write_off(
        session,
        artisan_id=allocation.artisan_id,
        amount_cents=entry.amount_cents,
        reference=f"write_off:{entry.id}",
        now=now,
    )
    events.record(
        session, events.PiecesWrittenOff(write_off_id=entry.id, artisan_id=allocation.artisan_id)
    )
    return entry


class NotCancelled(DomainError):
    """A write-off asked for on an allocation whose job was not cancelled."""

    def __init__(self, allocation_id: int, status: object) -> None:
        super().__init__(
            f"allocation {allocation_id} is {status}; only pieces of a cancelled job are "
            "written off as paid, others are paid when delivered"
        )
        self.allocation_id = allocation_id


class NothingToWriteOff(DomainError):
    """No passed pieces left that are neither received, on their way, nor written off."""

    def __init__(self, allocation_id: int) -> None:
        super().__init__(
            f"allocation {allocation_id} has no passed pieces left to write off (all received, "
            "on their way or already written off)"
        )
        self.allocation_id = allocation_id
