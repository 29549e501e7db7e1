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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError
from domain.model import Offer, OfferStatus
from domain.services.offers import make_offer
from matching.features import ArtisanStats, JobSpec
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
#: Candidate artisans per job when a skill is crowded (:func:`matching.features.candidate_pairs`).
DEFAULT_PER_JOB = 12


@dataclass(frozen=True, slots=True)
class RoundOptions:
    """Everything that shapes a production round, in one plain object.

    The scheduler's matchmaker (``bot.matchmaker``, built from ``bot.settings.Settings``) and the
    simulator's ``ours`` (``matching.simulator``) both hand one of these to
    :func:`plan_production_round`, so the simulator measures the round production runs. The
    defaults *are* production's: Settings only overrides the ones it names (offer_ttl, min_lot,
    max_splits, over_offer), with the same default values (tests/unit/test_round_options.py).
    """

    offer_ttl: timedelta = DEFAULT_OFFER_TTL
    min_lot: int = DEFAULT_MIN_LOT
    max_splits: int = DEFAULT_MAX_SPLITS
    per_job: int | None = DEFAULT_PER_JOB
    over_offer: float = DEFAULT_OVER_OFFER
    fairness_weight: float = 0.3
    fairness_band: int = 20
    starved_bonus: float = 1.0
    overload_penalty: float = 0.3

    def __post_init__(self) -> None:
        if self.offer_ttl <= timedelta(0):
            raise DomainError("offers need a positive time to live (offer_ttl)")
        if self.min_lot < 1 or self.max_splits < 1:
            raise ValueError("a round needs a minimum lot of at least 1 and at least 1 split")
        if self.per_job is not None and self.per_job < 1:
            raise ValueError("per_job must be at least 1 (or None: every eligible pair)")
        self.policy  # noqa: B018 - validates the optimiser's knobs now, not at the first round

    @property
    def policy(self) -> MatchingPolicy:
        return MatchingPolicy(
            overload_penalty=self.overload_penalty,
            fairness_weight=self.fairness_weight,
            fairness_band=self.fairness_band,
            starved_bonus=self.starved_bonus,
            over_offer=self.over_offer,
        )

    def with_(self, **changes: object) -> RoundOptions:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"unknown round options: {', '.join(unknown)}; known ones are "
                f"{', '.join(sorted(known))}"
            )
        return replace(self, **changes)  # type: ignore[arg-type]


#: Offers that end without work, after which the same artisan is not offered the job again.
TURNED_DOWN = (OfferStatus.DECLINED, OfferStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class OfferSent:
    offer_id: int
    job_id: int
    artisan_id: int
    quantity: int
    score: float


class Shortfall:
    """Why a job's free pieces were not all offered, as a code a chat can say in any language
    (``UnfilledJob.code``); ``UnfilledJob.reason`` says the same in English for logs."""

    NO_SKILL = "no_skill"  # no artisan has the skill
    UNAVAILABLE = "unavailable"  # all with the skill are paused, pending or opted out
    AT_CAPACITY = "at_capacity"  # all available are at their declared weekly capacity
    ALL_OFFERED = "all_offered"  # all with room were offered this job before
    RAN_OUT = "ran_out"  # some offered; capacity ran out for the rest
    OUTRANKED = "outranked"  # those with room got more urgent or valuable jobs
    REFUSED = "refused"  # the store moved under the round (another round, a pause)


@dataclass(frozen=True, slots=True)
class UnfilledJob:
    job_id: int
    open_pieces: int  # not taken and not in open offers before this round
    offered: int  # offered in this round
    reason: str
    code: str = ""  # a Shortfall
    skill: str = ""

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
    options: RoundOptions | None = None,
    models: Mapping[str, OutcomeModel] | None = None,
    priors: OutcomePriors | None = None,
) -> RoundResult:
    """Offer the free pieces of every open job to the artisans most likely to deliver them."""
    options = options or RoundOptions()
    policy = options.policy
    timings: dict[str, float] = {}
    start = time.perf_counter()
    jobs = await read_open_jobs(session, now=now, over_offer=policy.over_offer)
    if not jobs:
        timings["read"] = time.perf_counter() - start
        return RoundResult([], [], timings)
    workforce = await read_workforce(session, now=now)
    excluded = await offered_before(session, [j.spec.job_id for j in jobs])
    timings["read"] = time.perf_counter() - start

    start = time.perf_counter()
    planned = plan_production_round(
        workforce.stats,
        [j.spec for j in jobs],
        options=options,
        rng=rng,
        priors=priors,
        models=models,
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
                expires_at=now + options.offer_ttl,
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
        unfilled=_unfilled(jobs, workforce, planned, sent, refused, options.min_lot),
        timings=timings,
        candidates=len(planned.pairs),
        solver=planned.plan.solver,
    )


def plan_production_round(
    artisans: Sequence[ArtisanStats],
    jobs: Sequence[JobSpec],
    *,
    options: RoundOptions,
    rng: np.random.Generator,
    priors: OutcomePriors | None = None,
    models: Mapping[str, OutcomeModel] | None = None,
    effective_capacity: Mapping[tuple[int, str], float] | None = None,
    income_cents: Mapping[int, int] | None = None,
    starved: Collection[int] | None = None,
    excluded: Collection[tuple[int, int]] = (),
) -> RoundPlan:
    """The planning half of a production round, on what the store holds (no session).

    :func:`run_matching_round` calls it on what it read from the store; the simulator's ``ours``
    calls it on the simulated store's view. It is the one code path both measure and run:
    priors pooled over the whole workforce (empirical Bayes) unless given, then
    :func:`matching.planning.plan_round` with every option taken from ``options``.
    """
    return plan_round(
        artisans,
        jobs,
        rng=rng,
        priors=priors or OutcomePriors.pooled(_counts_of(artisans)),
        models=models,
        policy=options.policy,
        min_lot=options.min_lot,
        max_splits=options.max_splits,
        per_job=options.per_job,
        effective_capacity=effective_capacity,
        income_cents=income_cents,
        starved=starved,
        excluded=excluded,
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


def _counts_of(stats: Sequence[ArtisanStats]) -> OutcomeCounts:
    """Everybody's counts, for priors centred on the population's rates (empirical Bayes)."""
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
        code, reason = (
            (Shortfall.REFUSED, refused[spec.job_id])
            if spec.job_id in refused
            else _reason(spec.skill, workforce, candidates_of.get(spec.job_id, 0), given)
        )
        unfilled.append(UnfilledJob(spec.job_id, free, given, reason, code, spec.skill))
    return unfilled


def _reason(skill: str, workforce: Workforce, candidates: int, given: int) -> tuple[str, str]:
    """Why a job's free pieces were not all offered: a :class:`Shortfall` code, and the same in
    words an admin can act on."""
    with_skill = [s for s in workforce.stats if s.weekly_capacity.get(skill, 0) > 0]
    if not with_skill:
        return Shortfall.NO_SKILL, f"no artisan has the {skill} skill"
    available = [s for s in with_skill if s.available]
    if not available:
        return (
            Shortfall.UNAVAILABLE,
            f"every artisan with the {skill} skill is paused, pending or opted out",
        )
    room = [
        s for s in available if s.weekly_capacity.get(skill, 0) - s.load_this_week.get(skill, 0) > 0
    ]
    if not room:
        return (
            Shortfall.AT_CAPACITY,
            f"every available {skill} artisan is at their declared weekly capacity",
        )
    if candidates == 0:
        return Shortfall.ALL_OFFERED, (
            f"every {skill} artisan with room has already been offered this job "
            "(open, declined or lapsed)"
        )
    if given > 0:
        return Shortfall.RAN_OUT, f"{skill} capacity ran out: the rest waits for the next round"
    return Shortfall.OUTRANKED, (
        f"the {skill} artisans with room were given more urgent or more valuable jobs, or "
        "have no room for a minimum lot"
    )
