"""Field agents in the workshops: progress visits, and the allocations at risk of running late.

An allocation is **at risk** when it is active, its artisan works in one of the agent's areas, and
either
- it is **overdue**: its due date has passed and pieces are still to be received, or
- it is **due soon with little progress**: it is due within ``DUE_SOON_DAYS`` days and fewer than
  ``LITTLE_PROGRESS`` of its pieces are done.

Its due date is the later of the allocation's own and any rework due date QC set on it (rework
gives the artisan more time). Pieces **done** are the best evidence we have: the larger of the
count at the latest visit and the pieces submitted and not rejected (passed + waiting for QC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, InvalidQuantity
from domain.model import (
    AgentArea,
    Allocation,
    AllocationStatus,
    Person,
    QcReview,
    Role,
    Submission,
    WorkshopVisit,
)
from domain.quantities import allocations_progress
from domain.services.guards import InvalidField, clean_text, load, person_in_role

DUE_SOON_DAYS = 3
LITTLE_PROGRESS = Fraction(1, 2)
PHOTO_REFS_LENGTH = 600


class RiskReason(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon_little_progress"


@dataclass(frozen=True, slots=True)
class AllocationAtRisk:
    allocation_id: int
    job_id: int
    artisan_id: int
    artisan_name: str
    area: str | None
    due_date: date
    days_left: int  # negative when overdue
    quantity: int
    pieces_done: int
    reason: RiskReason


async def record_visit(
    session: AsyncSession,
    *,
    allocation_id: int,
    agent_id: int,
    pieces_done: int,
    note: str | None,
    photo_refs: Sequence[str],
    now: datetime,
) -> WorkshopVisit:
    """What a field agent saw at the workshop: how many pieces of the allocation are done."""
    await person_in_role(session, agent_id, {Role.FIELD_AGENT}, to="record a workshop visit")
    allocation = await load(session, Allocation, allocation_id, what="allocation")
    if allocation.status != AllocationStatus.ACTIVE:
        raise DomainError(
            f"allocation {allocation_id} is {allocation.status}; visits are recorded only for "
            "work in progress"
        )
    if not 0 <= pieces_done <= allocation.quantity:
        raise InvalidQuantity(
            f"pieces done must be between 0 and the {allocation.quantity} allocated "
            f"(got {pieces_done})"
        )
    refs = [clean_text(ref, field="photo reference", max_length=120) for ref in photo_refs]
    if any("," in ref for ref in refs):
        raise InvalidField("photo reference", "must not contain a comma")
    joined = ",".join(refs)
    if len(joined) > PHOTO_REFS_LENGTH:
        raise InvalidField("photos", f"are too many for one visit ({len(refs)}); send fewer")
    visit = WorkshopVisit(
        allocation_id=allocation_id,
        agent_id=agent_id,
        pieces_done=pieces_done,
        note=None
        if note is None or not note.strip()
        else clean_text(note, field="note", max_length=300),
        photo_refs=joined,
        visited_at=now,
    )
    session.add(visit)
    await session.flush()
    return visit


async def jobs_at_risk(
    session: AsyncSession, *, agent_id: int, today: date
) -> list[AllocationAtRisk]:
    """Active allocations in the agent's areas that look late (see the module's definition).

    Most urgent first: by days left, then allocation.
    """
    await person_in_role(session, agent_id, {Role.FIELD_AGENT}, to="see allocations at risk")
    areas = (await session.exec(select(AgentArea.area).where(AgentArea.agent_id == agent_id))).all()
    if not areas:
        return []
    rows = (
        await session.exec(
            select(Allocation, Person)
            .join(Person, col(Person.id) == col(Allocation.artisan_id))
            .where(Allocation.status == AllocationStatus.ACTIVE)
            .where(col(Person.area).in_(areas))
        )
    ).all()
    if not rows:
        return []
    ids = [a.id for a, _ in rows if a.id is not None]
    progress = await allocations_progress(session, (a for a, _ in rows))
    latest_visit = await _latest_visit_counts(session, ids)
    rework_due = await _latest_rework_due(session, ids)

    at_risk: list[AllocationAtRisk] = []
    for allocation, artisan in rows:
        assert allocation.id is not None
        assert artisan.id is not None
        p = progress[allocation.id]
        due = max(allocation.due_date, rework_due.get(allocation.id, allocation.due_date))
        days_left = (due - today).days
        done = max(latest_visit.get(allocation.id, 0), p.passed + p.pending_review)
        if days_left < 0:
            reason = RiskReason.OVERDUE
        elif days_left <= DUE_SOON_DAYS and Fraction(done, allocation.quantity) < LITTLE_PROGRESS:
            reason = RiskReason.DUE_SOON
        else:
            continue
        at_risk.append(
            AllocationAtRisk(
                allocation_id=allocation.id,
                job_id=allocation.job_id,
                artisan_id=artisan.id,
                artisan_name=artisan.name,
                area=artisan.area,
                due_date=due,
                days_left=days_left,
                quantity=allocation.quantity,
                pieces_done=done,
                reason=reason,
            )
        )
    return sorted(at_risk, key=lambda r: (r.days_left, r.allocation_id))


async def _latest_visit_counts(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    rows = await session.exec(
        select(WorkshopVisit)
        .where(col(WorkshopVisit.allocation_id).in_(ids))
        .order_by(col(WorkshopVisit.visited_at), col(WorkshopVisit.id))
    )
    # Later visits overwrite earlier ones: the latest count is the one that stands.
    return {visit.allocation_id: visit.pieces_done for visit in rows.all()}


async def _latest_rework_due(session: AsyncSession, ids: Sequence[int]) -> dict[int, date]:
    rows = await session.exec(
        select(Submission.allocation_id, col(QcReview.rework_due_date))
        .join(QcReview, col(QcReview.submission_id) == col(Submission.id))
        .where(col(Submission.allocation_id).in_(ids))
        .where(col(QcReview.rework_due_date).is_not(None))
    )
    latest: dict[int, date] = {}
    for allocation_id, due in rows.all():
        if due is not None and (allocation_id not in latest or due > latest[allocation_id]):
            latest[allocation_id] = due
    return latest
