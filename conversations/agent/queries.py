"""What a field agent looks at: the work behind a submission, a delivery or an allocation, and
the lists to pick one from (the QC queue, deliveries on their way, work to visit).

Shared by the agent's flows (``flows/qc_review.py``, ``receipt.py``, ``visit.py``) and its
commands (``commands.py``, which decide where each flow begins), with the two ways agents type a
number: an id, and a count of pieces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import col, func, select

from conversations.flow import Context
from conversations.formatting import me
from conversations.messages import MediaItem
from conversations.queries import agent_areas
from domain.limits import MAX_ID, MAX_PIECES
from domain.model import (
    Allocation,
    AllocationStatus,
    ArtisanProfile,
    Component,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    Job,
    Person,
    Submission,
)
from domain.numbers import or_none, whole_number
from domain.quantities import allocations_progress
from domain.services.work import qc_queue, submission_photos

V = TypeVar("V")

MAX_LISTED = 9  # one screen of numbered options; the rest are reachable by /receipt <id> etc.


# --- what agents type -----------------------------------------------------------------------


def parse_id(argument: str) -> int | None:
    """``12`` or ``#12`` as a number; None for anything else."""
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


def parse_count(text: str, *, most: int) -> int | None:
    """A reply that is a whole number of pieces from 0 to ``most`` ("1,000" and "30." too); None
    for anything else, signed, fractional and exponent forms included (``domain.numbers``)."""
    return or_none(whole_number, text, most=min(most, MAX_PIECES))


async def _work_of(ctx: Context, allocation: Allocation) -> tuple[Job, Component, Person]:
    """The job, component and artisan behind an allocation; rows that are never deleted."""
    job = await ctx.session.get(Job, allocation.job_id)
    assert job is not None
    component = await ctx.session.get(Component, job.component_id)
    artisan = await ctx.session.get(Person, allocation.artisan_id)
    assert component is not None
    assert artisan is not None
    return job, component, artisan


async def _views(
    ctx: Context, ids: Iterable[int | None], view: Callable[[Context, int], Awaitable[V | None]]
) -> list[V]:
    """``view`` of each id, in order; a listing's query limits itself to ``MAX_LISTED``."""
    views = [await view(ctx, row_id) for row_id in ids if row_id]
    return [found for found in views if found is not None]


# --- QC -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmissionView:
    """A submission with what an agent needs to judge it."""

    submission: Submission
    allocation: Allocation
    job: Job
    component: Component
    artisan: Person
    workshop: str
    photos: tuple[MediaItem, ...]

    @property
    def id(self) -> int:
        assert self.submission.id is not None
        return self.submission.id


async def view_submission(ctx: Context, submission_id: int) -> SubmissionView | None:
    submission = await ctx.session.get(Submission, submission_id)
    if submission is None:
        return None
    allocation = await ctx.session.get(Allocation, submission.allocation_id)
    assert allocation is not None
    job, component, artisan = await _work_of(ctx, allocation)
    profile = await ctx.session.get(ArtisanProfile, allocation.artisan_id)
    photos = tuple(
        # The photo's size was checked when it arrived; the channel reads the file by its ref.
        MediaItem(photo.content_type, 0, photo.media_ref)
        for photo in await submission_photos(ctx.session, submission_id)
    )
    return SubmissionView(
        submission=submission,
        allocation=allocation,
        job=job,
        component=component,
        artisan=artisan,
        workshop=profile.workshop if profile is not None else "-",
        photos=photos,
    )


async def next_submission(ctx: Context, *, skipped: list[int]) -> int | None:
    """The first submission in the agent's QC queue they have not skipped in this sitting."""
    # Of the first len(skipped) + 1 in the queue at most len(skipped) were skipped.
    queue = await qc_queue(ctx.session, agent_id=me(ctx), limit=len(skipped) + 1)
    for submission in queue:
        if submission.id not in skipped:
            return submission.id
    return None


# --- receipts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: Delivery
    allocation: Allocation
    component: Component
    artisan: Person

    @property
    def id(self) -> int:
        assert self.delivery.id is not None
        return self.delivery.id


async def view_delivery(ctx: Context, delivery_id: int) -> DeliveryView | None:
    delivery = await ctx.session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    allocation = await ctx.session.get(Allocation, delivery.allocation_id)
    assert allocation is not None
    _, component, artisan = await _work_of(ctx, allocation)
    return DeliveryView(delivery, allocation, component, artisan)


def method_label(ctx: Context, method: DeliveryMethod) -> str:
    if method is DeliveryMethod.PICKUP:
        return ctx.t("agent.receipt.pickup")
    return ctx.t("agent.receipt.drop_off")


async def arranged_deliveries(ctx: Context) -> list[DeliveryView]:
    """Deliveries on their way to the central workshop, earliest slot first."""
    arranged = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.ARRANGED)
        .order_by(col(Delivery.slot_start), col(Delivery.id))
        .limit(MAX_LISTED)
    )
    ids = await ctx.session.exec(arranged)
    return await _views(ctx, ids, view_delivery)


# --- visits ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllocationView:
    allocation: Allocation
    component: Component
    artisan: Person

    @property
    def id(self) -> int:
        assert self.allocation.id is not None
        return self.allocation.id


async def view_allocation(ctx: Context, allocation_id: int) -> AllocationView | None:
    allocation = await ctx.session.get(Allocation, allocation_id)
    if allocation is None:
        return None
    _, component, artisan = await _work_of(ctx, allocation)
    return AllocationView(allocation, component, artisan)


async def allocations_to_visit(ctx: Context) -> list[AllocationView]:
    """Work in progress in the agent's areas (everywhere if they cover none), soonest due first."""
    statement = (
        select(Allocation.id)
        .join(Person, col(Person.id) == col(Allocation.artisan_id))
        .where(Allocation.status == AllocationStatus.ACTIVE)
        .order_by(col(Allocation.due_date), col(Allocation.id))
        .limit(MAX_LISTED)
    )
    areas = await agent_areas(ctx.session, me(ctx))
    if areas:
        statement = statement.where(func.lower(col(Person.area)).in_(areas))
    ids = await ctx.session.exec(statement)
    return await _views(ctx, ids, view_allocation)


async def progress_of(ctx: Context, allocation: Allocation) -> tuple[int, int]:
    """(passed, waiting for QC) pieces of one allocation."""
    assert allocation.id is not None
    progress = (await allocations_progress(ctx.session, [allocation]))[allocation.id]
    return progress.passed, progress.pending_review
