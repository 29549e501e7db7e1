"""The factory at a glance: orders, open jobs and artisans, read in one go for ``karakana status``.

Plain data out; the CLI decides how it looks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import BigInteger, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    OPEN_JOB_STATUSES,
    AgentArea,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Component,
    Customer,
    Job,
    JobStatus,
    Order,
    OrderLine,
    OrderStatus,
    Person,
    Product,
    Role,
)
from domain.services.offers import job_remainder, pieces_offered, unallocated


@dataclass(frozen=True, slots=True)
class OrderRow:
    reference: str
    customer: str
    status: OrderStatus
    due_date: date
    units: int
    value_cents: int


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: int
    order_reference: str
    component: str
    skill: str
    quantity: int
    due_date: date
    remainder: int  # pieces not yet allocated to or offered to an artisan (< 0 if over-offered)
    status: JobStatus
    accepted: int = 0  # pieces artisans have taken (allocated)
    on_offer: int = 0  # pieces in open offers, waiting for answers

    @property
    def not_taken(self) -> int:
        """Pieces no artisan has accepted yet (some may be on offer): never negative."""
        return max(0, self.quantity - self.accepted)


@dataclass(frozen=True, slots=True)
class SkillRow:
    skill: str
    active: int
    pending: int
    weekly_capacity: int  # of the active artisans


@dataclass(frozen=True, slots=True)
class AreaRow:
    area: str
    active: int
    pending: int
    paused: int
    agents: tuple[str, ...]  # field agents who cover it


@dataclass(frozen=True, slots=True)
class FactoryStatus:
    products: int
    orders: list[OrderRow]
    open_jobs: list[JobRow]
    artisans_by_status: dict[ArtisanStatus, int]
    skills: list[SkillRow]
    areas: list[AreaRow]
    staff: dict[Role, list[str]] = field(default_factory=dict)

    @property
    def orders_by_status(self) -> dict[OrderStatus, int]:
        counts = Counter(order.status for order in self.orders)
        return {status: counts[status] for status in OrderStatus if counts[status]}

    @property
    def is_empty(self) -> bool:
        return not (self.products or self.orders or self.artisans_by_status or self.staff)


async def read_status(session: AsyncSession) -> FactoryStatus:
    return FactoryStatus(
        products=(await session.exec(select(func.count()).select_from(Product))).one(),
        orders=await _orders(session),
        open_jobs=await _open_jobs(session),
        artisans_by_status=await _artisans_by_status(session),
        skills=await _skills(session),
        areas=await _areas(session),
        staff=await _staff(session),
    )


async def _orders(session: AsyncSession) -> list[OrderRow]:
    rows = await session.exec(
        select(
            Order,
            Customer.name,
            func.coalesce(func.sum(OrderLine.quantity), 0),
            # 64-bit before multiplying: quantity x cents overflows PostgreSQL's integer
            # for one large line (20,000 units at KES 1,200).
            func.coalesce(
                func.sum(cast(OrderLine.quantity, BigInteger) * OrderLine.unit_price_cents), 0
            ),
        )
        .join(Customer, col(Customer.id) == Order.customer_id)
        .outerjoin(OrderLine, col(OrderLine.order_id) == Order.id)
        .group_by(col(Order.id), col(Customer.name))
        .order_by(col(Order.due_date), col(Order.id))
    )
    return [
        OrderRow(order.reference, customer, order.status, order.due_date, int(units), int(value))
        for order, customer, units, value in rows
    ]


async def _open_jobs(session: AsyncSession) -> list[JobRow]:
    rows = await session.exec(
        select(Job, Component, Order.reference)
        .join(Component, col(Component.id) == Job.component_id)
        .join(OrderLine, col(OrderLine.id) == Job.order_line_id)
        .join(Order, col(Order.id) == OrderLine.order_id)
        .where(col(Job.status).in_(OPEN_JOB_STATUSES))
        .order_by(col(Job.due_date), col(Job.id))
    )
    jobs = []
    for job, component, reference in rows:
        assert job.id is not None
        jobs.append(
            JobRow(
                job_id=job.id,
                order_reference=reference,
                component=component.name,
                skill=component.skill,
                quantity=job.quantity,
                due_date=job.due_date,
                remainder=await job_remainder(session, job.id),
                status=job.status,
                accepted=job.quantity - await unallocated(session, job.id),
                on_offer=await pieces_offered(session, job.id),
            )
        )
    return jobs


async def _artisans_by_status(session: AsyncSession) -> dict[ArtisanStatus, int]:
    rows = await session.exec(
        select(ArtisanProfile.status, func.count()).group_by(col(ArtisanProfile.status))
    )
    counts = dict(rows.all())
    return {status: counts[status] for status in ArtisanStatus if counts.get(status)}


async def _skills(session: AsyncSession) -> list[SkillRow]:
    rows = await session.exec(
        select(ArtisanSkill.skill, ArtisanProfile.status, ArtisanSkill.weekly_capacity).join(
            ArtisanProfile, col(ArtisanProfile.person_id) == ArtisanSkill.artisan_id
        )
    )
    active: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    capacity: Counter[str] = Counter()
    for skill, status, weekly in rows:
        if status is ArtisanStatus.ACTIVE:
            active[skill] += 1
            capacity[skill] += weekly
        elif status is ArtisanStatus.PENDING:
            pending[skill] += 1
    return [
        SkillRow(skill, active[skill], pending[skill], capacity[skill])
        for skill in sorted(set(active) | set(pending))
    ]


async def _areas(session: AsyncSession) -> list[AreaRow]:
    rows = await session.exec(
        select(Person.area, ArtisanProfile.status).join(
            ArtisanProfile, col(ArtisanProfile.person_id) == Person.id
        )
    )
    counts: dict[str, Counter[ArtisanStatus]] = {}
    for area, status in rows:
        counts.setdefault(area or "(no area)", Counter())[ArtisanStatus(status)] += 1
    covering: dict[str, list[str]] = {}
    for area, name in await session.exec(
        select(AgentArea.area, Person.name)
        .join(Person, col(Person.id) == AgentArea.agent_id)
        .order_by(col(Person.name))
    ):
        covering.setdefault(area, []).append(name)
    return [
        AreaRow(
            area=area,
            active=counts.get(area, Counter())[ArtisanStatus.ACTIVE],
            pending=counts.get(area, Counter())[ArtisanStatus.PENDING],
            paused=counts.get(area, Counter())[ArtisanStatus.PAUSED],
            agents=tuple(covering.get(area, ())),
        )
        for area in sorted(set(counts) | set(covering))
    ]


async def _staff(session: AsyncSession) -> dict[Role, list[str]]:
    rows = await session.exec(
        select(Person.role, Person.name)
        .where(col(Person.role).in_([Role.ADMIN, Role.FIELD_AGENT]))
        .order_by(col(Person.name))
    )
    staff: dict[Role, list[str]] = {}
    for role, name in rows:
        staff.setdefault(Role(role), []).append(name)
    return staff
