"""What the store knows about artisans and open jobs, read into matching's plain values.

:func:`read_workforce` turns the store into :class:`~matching.features.ArtisanStats` (counts from
:func:`domain.reputation.artisan_history`, so matching and the reputation shown to artisans agree
on what happened), the pieces each artisan has committed, their recent income (for the fairness
term) and their learned effective capacity. :func:`read_open_jobs` lists the jobs with pieces
neither allocated nor offered. Nothing here writes.

Committed pieces ("load") per (artisan, skill) are the outstanding pieces of active allocations
(still to make: quantity - passed - waiting for QC) plus the pieces of open offers: an offer not
yet answered holds its pieces, so running a round twice never offers the same capacity twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.explosion import factory_today
from domain.model import (
    OPEN_JOB_STATUSES,
    Allocation,
    AllocationStatus,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Component,
    Delivery,
    DeliveryStatus,
    Job,
    Offer,
    OfferStatus,
    Person,
    QcReview,
    Role,
    Submission,
    SubmissionStatus,
)
from domain.quantities import allocations_progress
from domain.reputation import artisan_history
from domain.services.offers import job_remainder
from matching.capacity import (
    CapacityPrior,
    WeekOfWork,
    effective_capacity,
    population_realism,
)
from matching.features import ArtisanStats, JobSpec

INCOME_WINDOW = timedelta(days=28)
CAPACITY_WEEKS = 8


@dataclass(frozen=True, slots=True)
class ArtisanState:
    """Why an artisan may or may not be offered work, in the store's own terms."""

    artisan_id: int
    name: str
    status: ArtisanStatus
    opted_out: bool


@dataclass(frozen=True, slots=True)
class Workforce:
    """Every artisan as matching sees them at ``now``."""

    stats: list[ArtisanStats]
    states: dict[int, ArtisanState]
    income_cents: dict[int, int]
    effective_capacity: dict[tuple[int, str], float]
    offered_skill: dict[tuple[int, str], int]  # pieces in open offers per (artisan, skill)

    def by_id(self) -> dict[int, ArtisanStats]:
        return {s.artisan_id: s for s in self.stats}


@dataclass(frozen=True, slots=True)
class OpenJob:
    spec: JobSpec
    due_date: date
    component_code: str


async def read_open_jobs(session: AsyncSession, *, now: datetime) -> list[OpenJob]:
    """Open jobs with pieces neither allocated nor offered, most urgent first."""
    today = factory_today(now)
    rows = await session.exec(
        select(Job, Component)
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Job.status).in_(OPEN_JOB_STATUSES))
        .order_by(col(Job.due_date), col(Job.id))
    )
    jobs: list[OpenJob] = []
    for job, component in rows.all():
        assert job.id is not None
        free = await job_remainder(session, job.id)
        if free <= 0:
            continue
        spec = JobSpec(
            job_id=job.id,
            component=component.code,
            skill=component.skill,
            quantity=free,
            piece_rate_cents=component.piece_rate_cents,
            slack_days=float((job.due_date - today).days),
        )
        jobs.append(OpenJob(spec, job.due_date, component.code))
    return jobs


async def read_workforce(
    session: AsyncSession,
    *,
    now: datetime,
    artisan_ids: list[int] | None = None,
    capacity_prior: CapacityPrior | None = None,
) -> Workforce:
    """Every artisan (or those given) with counts, load, income and effective capacity."""
    today = factory_today(now)
    query = (
        select(Person, ArtisanProfile)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == col(Person.id))
        .where(Person.role == Role.ARTISAN)
        .order_by(col(Person.id))
    )
    if artisan_ids is not None:
        query = query.where(col(Person.id).in_(artisan_ids))
    people = list((await session.exec(query)).all())
    ids = [p.id for p, _ in people if p.id is not None]

    capacity: dict[int, dict[str, int]] = defaultdict(dict)
    for row in (
        await session.exec(select(ArtisanSkill).where(col(ArtisanSkill.artisan_id).in_(ids)))
    ).all():
        capacity[row.artisan_id][row.skill] = row.weekly_capacity

    load, offered = await _committed(session, ids)
    by_component, by_skill = await _good_pieces(session, ids, now)
    income = await _income(session, ids, now)
    weeks = await _weeks_of_work(session, ids, now)
    prior = capacity_prior or CapacityPrior()

    realism = population_realism(
        (float(declared), weeks.get((artisan_id, skill), []))
        for artisan_id, skills in capacity.items()
        for skill, declared in skills.items()
    )
    stats: list[ArtisanStats] = []
    states: dict[int, ArtisanState] = {}
    effective: dict[tuple[int, str], float] = {}
    for person, profile in people:
        assert person.id is not None
        history = await artisan_history(session, person.id, now=now)
        states[person.id] = ArtisanState(person.id, person.name, profile.status, person.opted_out)
        for skill, declared in capacity[person.id].items():
            effective[(person.id, skill)] = effective_capacity(
                declared, weeks.get((person.id, skill), []), prior, realism=realism
            )
        stats.append(
            ArtisanStats(
                artisan_id=person.id,
                weekly_capacity=dict(capacity[person.id]),
                area=person.area,
                load_this_week=dict(load[person.id]),
                pieces_by_component=dict(by_component[person.id]),
                pieces_by_skill=dict(by_skill[person.id]),
                offers=history.offers_decided,
                accepted=history.offers_accepted,
                deliveries=history.allocations_due,
                on_time=history.allocations_on_time,
                pieces_reviewed=history.qc_pieces_passed + history.qc_pieces_rejected,
                pieces_passed=history.qc_pieces_passed,
                median_response_hours=(
                    history.response_seconds_total / history.responses / 3600.0
                    if history.responses
                    else None
                ),
                days_since_last_work=(
                    float((today - history.last_work_date).days)
                    if history.last_work_date is not None
                    else None
                ),
                available=profile.status is ArtisanStatus.ACTIVE and not person.opted_out,
            )
        )
    return Workforce(stats, states, income, effective, offered)


async def _committed(
    session: AsyncSession, ids: list[int]
) -> tuple[dict[int, dict[str, int]], dict[tuple[int, str], int]]:
    """Pieces committed per (artisan, skill): outstanding on active allocations + open offers."""
    load: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    offered: dict[tuple[int, str], int] = defaultdict(int)
    rows = await session.exec(
        select(Allocation, Component.skill)
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Allocation.artisan_id).in_(ids), Allocation.status == AllocationStatus.ACTIVE)
    )
    allocations = list(rows.all())
    progress = await allocations_progress(session, [a for a, _ in allocations])
    for allocation, skill in allocations:
        assert allocation.id is not None
        load[allocation.artisan_id][skill] += max(progress[allocation.id].outstanding, 0)
    offers = await session.exec(
        select(Offer.artisan_id, Component.skill, Offer.quantity)
        .join(Job, col(Job.id) == col(Offer.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Offer.artisan_id).in_(ids), Offer.status == OfferStatus.OPEN)
    )
    for artisan_id, skill, quantity in offers.all():
        load[artisan_id][skill] += quantity
        offered[(artisan_id, skill)] += quantity
    return load, offered


async def _good_pieces(
    session: AsyncSession, ids: list[int], now: datetime
) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """Pieces that passed QC by ``now``, per artisan and component code, and per skill."""
    by_component: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_skill: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = await session.exec(
        select(Allocation.artisan_id, Component.code, Component.skill, QcReview.passed)
        .join(Submission, col(Submission.id) == col(QcReview.submission_id))
        .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Allocation.artisan_id).in_(ids), col(QcReview.reviewed_at) <= now)
    )
    for artisan_id, code, skill, passed in rows.all():
        by_component[artisan_id][code] += passed
        by_skill[artisan_id][skill] += passed
    return by_component, by_skill


async def _income(session: AsyncSession, ids: list[int], now: datetime) -> dict[int, int]:
    """Cents earned on pieces received in the last four weeks (what fairness spreads)."""
    income: dict[int, int] = defaultdict(int)
    rows = await session.exec(
        select(Allocation.artisan_id, Allocation.piece_rate_cents, Delivery.received_quantity)
        .join(Allocation, col(Allocation.id) == col(Delivery.allocation_id))
        .where(
            col(Allocation.artisan_id).in_(ids),
            Delivery.status == DeliveryStatus.RECEIVED,
            col(Delivery.received_at) > now - INCOME_WINDOW,
            col(Delivery.received_at) <= now,
        )
    )
    for artisan_id, rate, received in rows.all():
        income[artisan_id] += rate * (received or 0)
    return dict(income)


async def _weeks_of_work(
    session: AsyncSession, ids: list[int], now: datetime
) -> dict[tuple[int, str], list[WeekOfWork]]:
    """The last few whole weeks per (artisan, skill): pieces submitted, and whether a lot due
    that week was not fully submitted by its due date (the artisan fell behind)."""
    start = now - timedelta(weeks=CAPACITY_WEEKS)
    today = factory_today(now)

    def week_of(day: date) -> int | None:
        back = (today - day).days // 7
        return back if 0 <= back < CAPACITY_WEEKS and day < today else None

    made: dict[tuple[int, str, int], int] = defaultdict(int)
    behind: set[tuple[int, str, int]] = set()
    submissions = await session.exec(
        select(Allocation, Component.skill, Submission)
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(Submission, col(Submission.allocation_id) == col(Allocation.id), isouter=True)
        .where(
            col(Allocation.artisan_id).in_(ids),
            Allocation.status != AllocationStatus.CANCELLED,
            col(Allocation.created_at) >= start - timedelta(weeks=4),
        )
    )
    submitted_by_due: dict[int, int] = defaultdict(int)
    allocations: dict[int, tuple[Allocation, str]] = {}
    for allocation, skill, submission in submissions.all():
        assert allocation.id is not None
        allocations[allocation.id] = (allocation, skill)
        if submission is None or submission.status is SubmissionStatus.CANCELLED:
            continue
        day = factory_today(submission.submitted_at)
        week = week_of(day)
        if week is not None:
            made[(allocation.artisan_id, skill, week)] += submission.count
        if day <= allocation.due_date:
            submitted_by_due[allocation.id] += submission.count
    for allocation_id, (allocation, skill) in allocations.items():
        week = week_of(allocation.due_date)
        if week is not None and submitted_by_due[allocation_id] < allocation.quantity:
            behind.add((allocation.artisan_id, skill, week))

    weeks: dict[tuple[int, str], list[WeekOfWork]] = defaultdict(list)
    for artisan_id, skill, week in set(made) | behind:
        key = (artisan_id, skill, week)
        weeks[(artisan_id, skill)].append(WeekOfWork(made.get(key, 0), key in behind))
    return dict(weeks)
