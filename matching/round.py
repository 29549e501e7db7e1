"""The production matching round: open jobs and eligible artisans in, offers out.

One call reads the store (:mod:`matching.history`), plans with the shared pure code
(:func:`matching.planning.plan_round`: Thompson-sampled Beta posteriors, or calibrated models
blended with them, then the optimiser) and makes each lot an offer through the domain's
``make_offer`` (which records ``events.OfferMade``). It never commits: the caller's transaction
is the unit of work, and whoever owns it queues the notifications afterwards.

Running it twice in a row offers nothing new the second time: open offers hold their pieces
(with over-offering, up to ``policy.over_offer`` times the pieces not yet taken) and count
against the artisan's capacity, and an artisan is never offered a job they already hold an open
offer for or have declined or let lapse; that job's pieces cascade to the next best artisan
instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError
from domain.model import Offer, OfferStatus
from domain.services.offers import make_offer
from matching.history import OpenJob, Workforce, read_open_jobs, read_workforce
from matching.models import OutcomeModel
from matching.optimiser import MatchingPolicy
from matching.planning import RoundPlan, plan_round
from matching.priors import OutcomeCounts, OutcomePriors

DEFAULT_OFFER_TTL = timedelta(hours=24)
DEFAULT_MIN_LOT = 10
DEFAULT_MAX_SPLITS = 4
#: Measured in bench/bench_simulator.py (docs/benchmarks.md): fills a job within three rounds.
DEFAULT_OVER_OFFER = 2.0

#: Offers that end without work, after which the same artisan is not offered the job again.
TURNED_DOWN = (OfferStatus.DECLINED, OfferStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class OfferSent:
    offer_id: int
    job_id: int
    artisan_id: int
    quantity: int
    score: float


@dataclass(frozen=True, slots=True)
class UnfilledJob:
    job_id: int
    open_pieces: int  # not taken and not in open offers before this round
    offered: int  # offered in this round
    reason: str

    @property
    def left(self) -> int:
        return self.open_pieces - self.offered


@dataclass(frozen=True, slots=True)
class RoundResult:
    offers: list[OfferSent]
    unfilled: list[UnfilledJob]
    timings: dict[str, float] = field(default_factory=dict)
    candidates: int = 0
    solver: str = ""

    @property
    def pieces_offered(self) -> int:
        return sum(o.quantity for o in self.offers)

    @property
    def offers_made(self) -> int:
        return len(self.offers)


async def run_matching_round(
    session: AsyncSession,
    *,
    now: datetime,
    rng: np.random.Generator,
    policy: MatchingPolicy | None = None,
    models: Mapping[str, OutcomeModel] | None = None,
    priors: OutcomePriors | None = None,
    offer_ttl: timedelta = DEFAULT_OFFER_TTL,
    min_lot: int = DEFAULT_MIN_LOT,
    max_splits: int = DEFAULT_MAX_SPLITS,
    per_job: int | None = 12,
) -> RoundResult:
    """Offer the free pieces of every open job to the artisans most likely to deliver them."""
    if offer_ttl <= timedelta(0):
        raise DomainError("offers need a positive time to live (offer_ttl)")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    policy = policy or MatchingPolicy()
    jobs = await read_open_jobs(session, now=now, over_offer=policy.over_offer)
    if not jobs:
        timings["read"] = time.perf_counter() - start
        return RoundResult([], [], timings)
    workforce = await read_workforce(session, now=now)
    excluded = await offered_before(session, [j.spec.job_id for j in jobs])
    timings["read"] = time.perf_counter() - start

    start = time.perf_counter()
    planned = plan_round(
        workforce.stats,
        [j.spec for j in jobs],
        rng=rng,
        priors=priors or OutcomePriors.pooled(_all_counts(workforce)),
        models=models,
        policy=policy,
        min_lot=min_lot,
        max_splits=max_splits,
        per_job=per_job,
        effective_capacity=workforce.effective_capacity,
        income_cents=workforce.income_cents,
        starved=workforce.starved,
        excluded=excluded,
    )
    timings["plan"] = time.perf_counter() - start

    start = time.perf_counter()
    sent: list[OfferSent] = []
    refused: dict[int, str] = {}
    for lot in sorted(planned.lots, key=lambda lot: (lot.job_id, -lot.quantity)):
        try:
            offer = await make_offer(
                session,
                job_id=lot.job_id,
                artisan_id=lot.artisan_id,
                quantity=lot.quantity,
                expires_at=now + offer_ttl,
                now=now,
                over_offer=policy.over_offer,
            )
        except DomainError as error:  # the store moved under us (another round, a pause)
            refused[lot.job_id] = str(error)
            continue
        assert offer.id is not None
        sent.append(OfferSent(offer.id, lot.job_id, lot.artisan_id, lot.quantity, lot.score))
    timings["offers"] = time.perf_counter() - start
    return RoundResult(
        offers=sent,
        unfilled=_unfilled(jobs, workforce, planned, sent, refused, min_lot),
        timings=timings,
        candidates=len(planned.pairs),
        solver=planned.plan.solver,
    )


async def offered_before(session: AsyncSession, job_ids: list[int]) -> set[tuple[int, int]]:
    """(artisan, job) pairs not to offer again: an offer is open, or was declined or lapsed."""
    if not job_ids:
        return set()
    rows = await session.exec(
        select(Offer.artisan_id, Offer.job_id).where(
            col(Offer.job_id).in_(job_ids),
            col(Offer.status).in_((OfferStatus.OPEN, *TURNED_DOWN)),
        )
    )
    return {(int(a), int(j)) for a, j in rows.all()}


def _all_counts(workforce: Workforce) -> OutcomeCounts:
    """Everybody's counts, for priors centred on the population's rates (empirical Bayes)."""
    stats = workforce.stats
    return OutcomeCounts.of(
        offers=[s.offers for s in stats] or [0],
        accepted=[s.accepted for s in stats] or [0],
        deliveries=[s.deliveries for s in stats] or [0],
        on_time=[s.on_time for s in stats] or [0],
        reviewed=[s.pieces_reviewed for s in stats] or [0],
        passed=[s.pieces_passed for s in stats] or [0],
    )


def _unfilled(
    jobs: list[OpenJob],
    workforce: Workforce,
    planned: RoundPlan,
    sent: list[OfferSent],
    refused: dict[int, str],
    min_lot: int,
) -> list[UnfilledJob]:
    offered: dict[int, int] = {}
    for offer in sent:
        offered[offer.job_id] = offered.get(offer.job_id, 0) + offer.quantity
    candidates_of: dict[int, int] = {}
    for j in planned.pairs.job:
        job_id = int(planned.frames.jobs.ids[j])
        candidates_of[job_id] = candidates_of.get(job_id, 0) + 1
    unfilled: list[UnfilledJob] = []
    for job in jobs:
        spec = job.spec
        given = offered.get(spec.job_id, 0)
        free = spec.quantity - spec.open_offered
        if given >= free:
            continue
        unfilled.append(
            UnfilledJob(
                spec.job_id,
                free,
                given,
                refused.get(spec.job_id)
                or _reason(spec.skill, workforce, candidates_of.get(spec.job_id, 0), given),
            )
        )
    return unfilled


def _reason(skill: str, workforce: Workforce, candidates: int, given: int) -> str:
    """Why a job's free pieces were not all offered, in words an admin can act on."""
    with_skill = [s for s in workforce.stats if s.weekly_capacity.get(skill, 0) > 0]
    if not with_skill:
        return f"no artisan has the {skill} skill"
    available = [s for s in with_skill if s.available]
    if not available:
        return f"every artisan with the {skill} skill is paused, pending or opted out"
    room = [
        s for s in available if s.weekly_capacity.get(skill, 0) - s.load_this_week.get(skill, 0) > 0
    ]
    if not room:
        return f"every available {skill} artisan is at their declared weekly capacity"
    if candidates == 0:
        return (
            f"every {skill} artisan with room has already been offered this job "
            "(open, declined or lapsed)"
        )
    if given > 0:
        return f"{skill} capacity ran out: the rest waits for the next round"
    return (
        f"the {skill} artisans with room were given more urgent or more valuable jobs, or "
        "have no room for a minimum lot"
    )
