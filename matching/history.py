"""What the store knows about artisans and open jobs, read into matching's plain values.

:func:`read_workforce` turns the store into :class:`~matching.features.ArtisanStats` (counts from
:func:`domain.reputation.artisan_history`, so matching and the reputation shown to artisans agree
on what happened), the pieces each artisan has committed, their recent income (for the fairness
term) and their learned effective capacity. :func:`read_open_jobs` lists the jobs that may be
offered more: pieces nobody has taken, not yet covered by open offers. Nothing here writes.

Committed pieces ("load") per (artisan, skill) are the outstanding pieces of active allocations
(still to make: quantity - passed - waiting for QC) plus the pieces of open offers: an offer not
yet answered holds its pieces, so running a round twice never offers the same capacity twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func
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
from domain.reputation import artisan_histories
from domain.services.offers import ALLOCATED, open_offer_limit
from matching.capacity import (
    CapacityPrior,
    WeekOfWork,
    capacity_evidence,
    effective_capacity,
    population_realism,
)
from matching.features import (
    N_FEATURES,
    ArtisanStats,
    JobSpec,
    Pairs,
    build_frames,
    pair_features,
)
from matching.priors import OUTCOMES, OutcomePriors

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

INCOME_WINDOW = timedelta(days=28)
#: No income for this long, and nothing in progress: owed a reserved minimum lot.
STARVED_WINDOW = timedelta(days=7)
CAPACITY_WEEKS = 8
#: How far back stretched weeks are still remembered (matching.capacity.capacity_evidence).
CAPACITY_MEMORY_WEEKS = 26


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
    starved: set[int] = field(default_factory=set)  # owed a reserved minimum lot

    def by_id(self) -> dict[int, ArtisanStats]:
        return {s.artisan_id: s for s in self.stats}


@dataclass(frozen=True, slots=True)
class OpenJob:
    spec: JobSpec
    due_date: date
    component_code: str


async def read_open_jobs(
    session: AsyncSession, *, now: datetime, over_offer: float = 1.0
) -> list[OpenJob]:
    """Open jobs that may be offered more, most urgent first: pieces nobody has taken, of which
    open offers hold less than ``over_offer`` times as many."""
    today = factory_today(now)
    rows = await session.exec(
        select(Job, Component)
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Job.status).in_(OPEN_JOB_STATUSES))
        .order_by(col(Job.due_date), col(Job.id))
    )
    found = list(rows.all())
    allocated, offered = await _held(session, [job.id for job, _ in found if job.id is not None])
    jobs: list[OpenJob] = []
    for job, component in found:
        assert job.id is not None
        free = job.quantity - allocated.get(job.id, 0)
        out = offered.get(job.id, 0)
        if free <= 0 or out >= open_offer_limit(free, over_offer):
            continue
        spec = JobSpec(
            job_id=job.id,
            component=component.code,
            skill=component.skill,
            quantity=free,
            piece_rate_cents=component.piece_rate_cents,
            slack_days=float((job.due_date - today).days),
            open_offered=out,
        )
        jobs.append(OpenJob(spec, job.due_date, component.code))
    return jobs


async def read_workforce(
    session: AsyncSession,
    *,
    now: datetime,
    artisan_ids: list[int] | None = None,
    capacity_prior: CapacityPrior | None = None,
    replay: bool = False,
) -> Workforce:
    """Every artisan (or those given) with counts, load, income and effective capacity.

    ``replay=True`` reads a past moment: the committed load is rebuilt from timestamps (lots
    accepted by then and not yet submitted, offers open then) instead of today's statuses.
    Training rows use it so a model learns from the features the round saw at the time.
    """
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

    load, offered = await (
        _committed_then(session, ids, now) if replay else _committed(session, ids)
    )
    by_component, by_skill = await _good_pieces(session, ids, now)
    income, recently_paid = await _income(session, ids, now)
    weeks = await _weeks_of_work(session, ids, now)
    histories = await artisan_histories(session, ids, now=now)
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
        history = histories[person.id]
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
    starved = {
        s.artisan_id
        for s in stats
        if s.available and s.artisan_id not in recently_paid and not any(s.load_this_week.values())
    }
    return Workforce(stats, states, income, effective, offered, starved)


async def _held(session: AsyncSession, job_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Pieces allocated, and pieces in open offers, per job: ``job_remainder`` in two queries."""
    if not job_ids:
        return {}, {}
    allocated = await session.exec(
        select(Allocation.job_id, func.sum(Allocation.quantity))
        .where(col(Allocation.job_id).in_(job_ids), col(Allocation.status).in_(ALLOCATED))
        .group_by(col(Allocation.job_id))
    )
    offered = await session.exec(
        select(Offer.job_id, func.sum(Offer.quantity))
        .where(col(Offer.job_id).in_(job_ids), Offer.status == OfferStatus.OPEN)
        .group_by(col(Offer.job_id))
    )
    return (
        {int(job_id): int(pieces or 0) for job_id, pieces in allocated.all()},
        {int(job_id): int(pieces or 0) for job_id, pieces in offered.all()},
    )


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


async def _committed_then(
    session: AsyncSession, ids: list[int], at: datetime
) -> tuple[dict[int, dict[str, int]], dict[tuple[int, str], int]]:
    """Pieces committed per (artisan, skill) as they stood at ``at``, from timestamps."""
    load: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    offered: dict[tuple[int, str], int] = defaultdict(int)
    rows = await session.exec(
        select(Allocation, Component.skill, Submission)
        .join(Job, col(Job.id) == col(Allocation.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(
            Submission,
            (col(Submission.allocation_id) == col(Allocation.id))
            & (col(Submission.submitted_at) <= at)
            & (col(Submission.status) != SubmissionStatus.CANCELLED),
            isouter=True,
        )
        .where(
            col(Allocation.artisan_id).in_(ids),
            col(Allocation.created_at) <= at,
            Allocation.status != AllocationStatus.CANCELLED,
        )
    )
    made: dict[int, int] = defaultdict(int)
    lots: dict[int, tuple[Allocation, str]] = {}
    for allocation, skill, submission in rows.all():
        assert allocation.id is not None
        lots[allocation.id] = (allocation, skill)
        if submission is not None:
            made[allocation.id] += submission.count
    for allocation_id, (allocation, skill) in lots.items():
        load[allocation.artisan_id][skill] += max(allocation.quantity - made[allocation_id], 0)
    offers = await session.exec(
        select(Offer, Component.skill)
        .join(Job, col(Job.id) == col(Offer.job_id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Offer.artisan_id).in_(ids), col(Offer.offered_at) <= at)
    )
    for offer, skill in offers.all():
        answered = offer.responded_at is not None and offer.responded_at <= at
        if answered or offer.expires_at <= at:
            continue
        load[offer.artisan_id][skill] += offer.quantity
        offered[(offer.artisan_id, skill)] += offer.quantity
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


async def _income(
    session: AsyncSession, ids: list[int], now: datetime
) -> tuple[dict[int, int], set[int]]:
    """Cents earned on pieces received in the last four weeks (what fairness spreads), and who
    was paid within :data:`STARVED_WINDOW`."""
    income: dict[int, int] = defaultdict(int)
    recently_paid: set[int] = set()
    rows = await session.exec(
        select(
            Allocation.artisan_id,
            Allocation.piece_rate_cents,
            Delivery.received_quantity,
            Delivery.received_at,
        )
        .join(Allocation, col(Allocation.id) == col(Delivery.allocation_id))
        .where(
            col(Allocation.artisan_id).in_(ids),
            Delivery.status == DeliveryStatus.RECEIVED,
            col(Delivery.received_at) > now - INCOME_WINDOW,
            col(Delivery.received_at) <= now,
        )
    )
    for artisan_id, rate, received, received_at in rows.all():
        income[artisan_id] += rate * (received or 0)
        if received and received_at is not None and received_at > now - STARVED_WINDOW:
            recently_paid.add(artisan_id)
    return dict(income), recently_paid


async def _weeks_of_work(
    session: AsyncSession, ids: list[int], now: datetime
) -> dict[tuple[int, str], list[WeekOfWork]]:
    """The weeks per (artisan, skill) capacity is learned from: pieces submitted, and whether a
    lot due that week was not fully submitted by its due date (the artisan fell behind). Every
    week of the last ``CAPACITY_WEEKS``, and before them the latest stretched weeks of the last
    ``CAPACITY_MEMORY_WEEKS`` (:func:`matching.capacity.capacity_evidence`), oldest first."""
    start = now - timedelta(weeks=CAPACITY_MEMORY_WEEKS)
    today = factory_today(now)

    def week_of(day: date) -> int | None:
        back = (today - day).days // 7
        return back if 0 <= back < CAPACITY_MEMORY_WEEKS and day < today else None

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

    recent: dict[tuple[int, str], list[WeekOfWork]] = defaultdict(list)
    older: dict[tuple[int, str], list[WeekOfWork]] = defaultdict(list)
    for artisan_id, skill, week in sorted(set(made) | behind, key=lambda k: -k[2]):
        key = (artisan_id, skill, week)
        into = recent if week < CAPACITY_WEEKS else older
        into[(artisan_id, skill)].append(WeekOfWork(made.get(key, 0), key in behind))
    return {
        pair: capacity_evidence(recent.get(pair, []), older.get(pair, []))
        for pair in set(recent) | set(older)
    }


@dataclass(frozen=True, slots=True)
class TrainingRows:
    """Logged outcomes as model inputs: per outcome, features, labels and when each was decided.

    ``x[o]`` has the columns of :data:`matching.features.FEATURE_NAMES`, computed exactly as the
    round computes them (same frames, same pooled priors, same effective capacity), from the
    store as it stood when the decision was made.
    """

    x: dict[str, FloatArray]
    y: dict[str, IntArray]
    at: dict[str, FloatArray]  # POSIX seconds of the decision, for splitting by time

    def size(self, outcome: str) -> int:
        return int(self.y[outcome].shape[0])


@dataclass(frozen=True, slots=True)
class _Decision:
    outcome: str
    artisan_id: int
    job_id: int
    quantity: int
    labels: tuple[int, ...]  # one per row: offers and lots give one, QC one per piece


async def training_rows(
    session: AsyncSession, *, now: datetime, lookback: timedelta = timedelta(days=180)
) -> TrainingRows:
    """Training rows from the store's outcome history, as of ``now``:

    - accept: every offer decided by ``now`` (accepted fully or partly = 1; declined or lapsed
      = 0), featured as of the moment it was made, with the offered quantity as the lot;
    - on time: every allocation due by ``now`` (the due date passed or all pieces received),
      1 if every piece was received by the due date (the rule of
      :func:`domain.reputation.artisan_history`), featured as of its acceptance;
    - QC pass: every piece reviewed by ``now``, 1 if it passed, featured as of the allocation's
      acceptance.

    Decisions are grouped by the minute they were made and the workforce is replayed once per
    group (``read_workforce(replay=True)``), so the cost grows with the number of rounds, not of
    offers. Only decisions within ``lookback`` count: old habits say little about today.
    """
    start = now - lookback
    today = factory_today(now)
    groups: dict[datetime, list[_Decision]] = defaultdict(list)

    offers = await session.exec(
        select(Offer).where(col(Offer.offered_at) >= start, col(Offer.offered_at) <= now)
    )
    for offer in offers.all():
        answered = offer.responded_at is not None and offer.responded_at <= now
        if offer.status in (OfferStatus.ACCEPTED, OfferStatus.PARTLY_ACCEPTED) and answered:
            label = 1
        elif (offer.status is OfferStatus.DECLINED and answered) or (
            offer.status is OfferStatus.EXPIRED and offer.expires_at <= now
        ):
            label = 0
        else:
            continue
        decision = _Decision("accept", offer.artisan_id, offer.job_id, offer.quantity, (label,))
        groups[_minute(offer.offered_at)].append(decision)

    allocations = await session.exec(
        select(Allocation, Delivery)
        .outerjoin(
            Delivery,
            (col(Delivery.allocation_id) == col(Allocation.id))
            & (col(Delivery.status) == DeliveryStatus.RECEIVED)
            & (col(Delivery.received_at) <= now),
        )
        .where(
            col(Allocation.created_at) >= start,
            col(Allocation.created_at) <= now,
            Allocation.status != AllocationStatus.CANCELLED,
        )
    )
    lots: dict[int, Allocation] = {}
    received: dict[int, int] = defaultdict(int)
    in_time: dict[int, int] = defaultdict(int)
    for allocation, delivery in allocations.all():
        assert allocation.id is not None
        lots[allocation.id] = allocation
        if delivery is None or delivery.received_at is None:
            continue
        pieces = delivery.received_quantity or 0
        received[allocation.id] += pieces
        if factory_today(delivery.received_at) <= allocation.due_date:
            in_time[allocation.id] += pieces
    for allocation_id, allocation in lots.items():
        if received[allocation_id] >= allocation.quantity or allocation.due_date < today:
            label = int(in_time[allocation_id] >= allocation.quantity)
            groups[_minute(allocation.created_at)].append(
                _Decision(
                    "on_time",
                    allocation.artisan_id,
                    allocation.job_id,
                    allocation.quantity,
                    (label,),
                )
            )

    reviews = await session.exec(
        select(Allocation, QcReview.passed, QcReview.rejected)
        .join(Submission, col(Submission.allocation_id) == col(Allocation.id))
        .join(QcReview, col(QcReview.submission_id) == col(Submission.id))
        .where(col(Allocation.created_at) >= start, col(QcReview.reviewed_at) <= now)
    )
    for allocation, passed, rejected in reviews.all():
        if passed + rejected == 0:
            continue
        groups[_minute(allocation.created_at)].append(
            _Decision(
                "qc_pass",
                allocation.artisan_id,
                allocation.job_id,
                allocation.quantity,
                (1,) * passed + (0,) * rejected,
            )
        )

    jobs = await _job_facts(session, {d.job_id for ds in groups.values() for d in ds})
    xs: dict[str, list[FloatArray]] = {o: [] for o in OUTCOMES}
    ys: dict[str, list[int]] = {o: [] for o in OUTCOMES}
    ats: dict[str, list[float]] = {o: [] for o in OUTCOMES}
    for moment in sorted(groups):
        decisions = groups[moment]
        workforce = await read_workforce(
            session,
            now=moment,
            artisan_ids=sorted({d.artisan_id for d in decisions}),
            replay=True,
        )
        stats = workforce.by_id()
        known = [d for d in decisions if d.artisan_id in stats and d.job_id in jobs]
        if not known:
            continue
        day = factory_today(moment)
        specs = [
            JobSpec(
                job_id=index,  # one spec per decision: the lot, not the whole job
                component=jobs[d.job_id][0],
                skill=jobs[d.job_id][1],
                quantity=d.quantity,
                piece_rate_cents=jobs[d.job_id][2],
                slack_days=float((jobs[d.job_id][3] - day).days),
            )
            for index, d in enumerate(known)
        ]
        frames = build_frames(
            workforce.stats, specs, effective_capacity=workforce.effective_capacity
        )
        row_of = {int(a): i for i, a in enumerate(frames.artisans.ids)}
        pairs = Pairs(
            np.asarray([row_of[d.artisan_id] for d in known], dtype=np.int64),
            np.arange(len(known), dtype=np.int64),
        )
        priors = OutcomePriors.pooled(frames.artisans.counts)
        x = pair_features(frames, pairs, priors=priors)
        for i, d in enumerate(known):
            xs[d.outcome].extend([x[i]] * len(d.labels))
            ys[d.outcome].extend(d.labels)
            ats[d.outcome].extend([moment.timestamp()] * len(d.labels))
    return TrainingRows(
        x={o: np.asarray(xs[o], dtype=np.float64).reshape(-1, N_FEATURES) for o in OUTCOMES},
        y={o: np.asarray(ys[o], dtype=np.int64) for o in OUTCOMES},
        at={o: np.asarray(ats[o], dtype=np.float64) for o in OUTCOMES},
    )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


async def _job_facts(
    session: AsyncSession, job_ids: set[int]
) -> dict[int, tuple[str, str, int, date]]:
    """Per job: component code, skill, piece rate and due date, in one query."""
    if not job_ids:
        return {}
    rows = await session.exec(
        select(Job, Component)
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(col(Job.id).in_(sorted(job_ids)))
    )
    return {
        int(job.id): (component.code, component.skill, component.piece_rate_cents, job.due_date)
        for job, component in rows.all()
        if job.id is not None
    }
