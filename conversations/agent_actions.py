"""What a field agent's menu items and commands do: find the work, then start the flow for it.

QC, receipts and visits are flows (conversations/flows/qc_review.py, receipt.py, visit.py); this
module decides where each begins — the next submission in the QC queue, a delivery or allocation
picked from a list or named by its id — and answers at once when there is nothing to do. It also
lists the allocations at risk of running late, which needs no flow.

It sits outside ``conversations.flows`` so the command table and the menu can use it without
importing the flows package (which imports the menu).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlmodel import col, func, select

from conversations.flow import Context, Start
from conversations.messages import Choice, MediaItem, Reply
from domain.explosion import FACTORY_ZONE, factory_today
from domain.limits import MAX_ID, MAX_PIECES
from domain.model import (
    AgentArea,
    Allocation,
    AllocationStatus,
    ArtisanProfile,
    Component,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    Job,
    Person,
    Role,
    Submission,
    SubmissionStatus,
)
from domain.numbers import or_none, whole_number
from domain.quantities import allocations_progress
from domain.services.visits import RiskReason, jobs_at_risk
from domain.services.work import qc_queue, submission_photos
from domain.text import quoted

log = logging.getLogger(__name__)

V = TypeVar("V")

QC_FLOW = "qc"
RECEIPT_PICK_FLOW = "receipt_pick"
RECEIPT_FLOW = "receipt"
VISIT_PICK_FLOW = "visit_pick"
VISIT_FLOW = "visit"

MAX_LISTED = 9  # one screen of numbered options; the rest are reachable by /receipt <id> etc.
MAX_AT_RISK = 15


# --- formatting -----------------------------------------------------------------------------


def kes(cents: int) -> str:
    """``125000`` -> ``KES 1,250``; cents shown only when there are some."""
    whole, part = divmod(cents, 100)
    return f"KES {whole:,}" if part == 0 else f"KES {whole:,}.{part:02d}"


def day(value: date | datetime) -> str:
    """A date as Nairobi reads it: ``05/03/2025``."""
    if isinstance(value, datetime):
        value = value.astimezone(FACTORY_ZONE).date()
    return value.strftime("%d/%m/%Y")


def moment(value: datetime) -> str:
    """A time in Nairobi: ``05/03 14:30``."""
    return value.astimezone(FACTORY_ZONE).strftime("%d/%m %H:%M")


def parse_id(argument: str) -> int | None:
    """``12`` or ``#12`` as a number; None for anything else."""
    return or_none(whole_number, argument.strip().removeprefix("#"), most=MAX_ID, strict=True)


def parse_count(text: str, *, most: int) -> int | None:
    """A reply that is a whole number of pieces from 0 to ``most`` ("1,000" and "30." too); None
    for anything else, signed, fractional and exponent forms included (``domain.numbers``)."""
    return or_none(whole_number, text, most=min(most, MAX_PIECES))


def _me(ctx: Context) -> Person:
    assert ctx.person is not None
    assert ctx.person.id is not None
    return ctx.person


def _my_id(ctx: Context) -> int:
    person_id = _me(ctx).id
    assert person_id is not None
    return person_id


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


async def agent_areas(ctx: Context) -> list[str]:
    rows = await ctx.session.exec(select(AgentArea.area).where(AgentArea.agent_id == _me(ctx).id))
    return [area.casefold() for area in rows]


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
    queue = await qc_queue(ctx.session, agent_id=_my_id(ctx), limit=len(skipped) + 1)
    for submission in queue:
        if submission.id not in skipped:
            return submission.id
    return None


async def start_qc(ctx: Context, *, skipped: list[int] | None = None) -> list[Reply] | Start:
    seen = list(skipped or [])
    submission_id = await next_submission(ctx, skipped=seen)
    if submission_id is None:
        return [Reply(ctx.t("agent.qc.queue_empty"))]
    return Start(QC_FLOW, {"submission": submission_id, "skipped": seen})


async def qc_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/qc`` checks the next submission; ``/qc 12`` (or the button ``qc:12``) that one."""
    if not argument.strip():
        return await start_qc(ctx)
    submission_id = parse_id(argument)
    if submission_id is None:
        return [Reply(ctx.t("agent.qc.usage"))]
    view = await view_submission(ctx, submission_id)
    if view is None:
        return [Reply(ctx.t("agent.qc.not_found", id=submission_id))]
    me = _me(ctx)
    if view.allocation.artisan_id == me.id:
        log.warning("refused QC of submission %s by its own maker, person %s", view.id, me.id)
        return [Reply(ctx.t("agent.qc.own_submission"))]
    status = view.submission.status
    if status is SubmissionStatus.REVIEWED:
        return [Reply(ctx.t("agent.qc.already_reviewed", id=submission_id))]
    if status is SubmissionStatus.PHOTOS_REQUESTED:
        return [Reply(ctx.t("agent.qc.waiting_for_photos", id=submission_id))]
    if status is not SubmissionStatus.PENDING_REVIEW:
        return [Reply(ctx.t("agent.qc.not_waiting", id=submission_id))]
    return Start(QC_FLOW, {"submission": submission_id, "skipped": []})


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


async def start_receipt(ctx: Context) -> list[Reply] | Start:
    if not await arranged_deliveries(ctx):
        return [Reply(ctx.t("agent.receipt.none_arranged"))]
    return Start(RECEIPT_PICK_FLOW)


async def receipt_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/receipt`` lists deliveries on their way; ``/receipt 7`` counts delivery 7 in."""
    if not argument.strip():
        return await start_receipt(ctx)
    delivery_id = parse_id(argument)
    if delivery_id is None:
        return [Reply(ctx.t("agent.receipt.usage"))]
    delivery = await ctx.session.get(Delivery, delivery_id)
    if delivery is None:
        return [Reply(ctx.t("agent.receipt.not_found", id=delivery_id))]
    if delivery.status is not DeliveryStatus.ARRANGED:
        return [Reply(ctx.t("agent.receipt.not_arranged", id=delivery_id))]
    return Start(RECEIPT_FLOW, {"delivery": delivery_id})


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
    areas = await agent_areas(ctx)
    if areas:
        statement = statement.where(func.lower(col(Person.area)).in_(areas))
    ids = await ctx.session.exec(statement)
    return await _views(ctx, ids, view_allocation)


async def start_visit(ctx: Context) -> list[Reply] | Start:
    if not await allocations_to_visit(ctx):
        return [Reply(ctx.t("agent.visit.none_active"))]
    return Start(VISIT_PICK_FLOW)


async def visit_command(ctx: Context, argument: str) -> list[Reply] | Start:
    """``/visit`` lists work in progress; ``/visit 4`` records a visit to allocation 4."""
    if not argument.strip():
        return await start_visit(ctx)
    allocation_id = parse_id(argument)
    if allocation_id is None:
        return [Reply(ctx.t("agent.visit.usage"))]
    allocation = await ctx.session.get(Allocation, allocation_id)
    if allocation is None:
        return [Reply(ctx.t("agent.visit.not_found", id=allocation_id))]
    if allocation.status is not AllocationStatus.ACTIVE:
        return [Reply(ctx.t("agent.visit.not_active", id=allocation_id))]
    return Start(VISIT_FLOW, {"allocation": allocation_id})


# --- at risk --------------------------------------------------------------------------------


async def at_risk(ctx: Context) -> list[Reply]:
    """Allocations in the agent's areas that look late, most urgent first, each with a visit
    button."""
    me = _me(ctx)
    if me.role is not Role.FIELD_AGENT:  # the menu shows this item to field agents only
        return [Reply(ctx.t("command.forbidden"))]
    if not await agent_areas(ctx):
        return [Reply(ctx.t("agent.atrisk.no_areas"))]
    assert me.id is not None
    risky = await jobs_at_risk(ctx.session, agent_id=me.id, today=factory_today(ctx.now))
    if not risky:
        return [Reply(ctx.t("agent.atrisk.none"))]
    components = {
        job_id: name
        for job_id, name in await ctx.session.exec(
            select(Job.id, Component.name)
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(col(Job.id).in_([r.job_id for r in risky]))
        )
    }
    lines = []
    for row in risky[:MAX_AT_RISK]:
        when = (
            ctx.t("agent.atrisk.overdue", days=-row.days_left)
            if row.reason is RiskReason.OVERDUE
            else ctx.t("agent.atrisk.due_in", days=row.days_left)
        )
        lines.append(
            ctx.t(
                "agent.atrisk.line",
                allocation=row.allocation_id,
                artisan=quoted(row.artisan_name),
                area=quoted(row.area),
                component=components.get(row.job_id, "-"),
                due=day(row.due_date),
                when=when,
                done=row.pieces_done,
                quantity=row.quantity,
            )
        )
    text = ctx.t("agent.atrisk.title", count=len(risky)) + "\n\n" + "\n\n".join(lines)
    if len(risky) > MAX_AT_RISK:
        text += "\n\n" + ctx.t("agent.atrisk.more", count=len(risky) - MAX_AT_RISK)
    choices = tuple(
        Choice(
            f"visit:{row.allocation_id}",
            ctx.t("agent.atrisk.visit_button", allocation=row.allocation_id),
        )
        for row in risky[:3]
    )
    return [Reply(text, choices=choices)]


async def progress_of(ctx: Context, allocation: Allocation) -> tuple[int, int]:
    """(passed, waiting for QC) pieces of one allocation."""
    assert allocation.id is not None
    progress = (await allocations_progress(ctx.session, [allocation]))[allocation.id]
    return progress.passed, progress.pending_review


# What the field agent's menu items do (conversations/flows/menu.py lists them in ITEMS).
MENU_ACTIONS: dict[str, Callable[[Context], Awaitable[list[Reply] | Start]]] = {
    "qc": start_qc,
    "receipt": start_receipt,
    "visit": start_visit,
    "atrisk": at_risk,
}
