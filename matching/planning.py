"""One matching round on plain values: eligible pairs, scores, capacity rows, the optimiser's plan.

This is the part of a round that does not touch the store, shared by the production round
(:mod:`matching.round`), the simulator (:mod:`matching.simulator`) and
``bench/bench_matching.py``, so all three score and optimise with exactly the same code.

Scoring a pair is P(accept) x P(on time) x P(QC pass). Without models each factor is the artisan's
Beta posterior, sampled (Thompson) when exploring and at its mean otherwise. With models each
factor is the calibrated model's probability blended with that posterior, the posterior counting
for more while the artisan's own history is short (:func:`matching.models.score_pairs`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from matching.cover import CoverJobs, CoverPairs, cover_lots
from matching.features import (
    FEATURE_NAMES,
    ArtisanStats,
    Frames,
    JobSpec,
    Pairs,
    build_frames,
    candidate_pairs,
    pair_features,
)
from matching.models import OutcomeModel, blend_with_prior
from matching.ontime import queue_on_time
from matching.optimiser import (
    ArtisanCapacity,
    Candidates,
    JobsToFill,
    Lot,
    MatchingPolicy,
    Plan,
    due_priority,
    plan_assignment,
)
from matching.priors import OUTCOMES, OutcomePriors

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Scores every pair itself (simulator baselines and the oracle); returns one score per pair.
PairScorer = Callable[[Frames, Pairs], FloatArray]


@dataclass(frozen=True, slots=True)
class CapacityRows:
    """Capacity is declared per skill, so each (artisan, skill) pair is its own optimiser row."""

    artisans: ArtisanCapacity
    row_of_pair: IntArray  # per candidate pair, its row in ``artisans``
    artisan_of_row: IntArray  # index into the artisan frame
    skill_of_row: IntArray  # index into the vocabulary's skills


def capacity_rows(
    frames: Frames,
    pairs: Pairs,
    *,
    effective_capacity: FloatArray | None = None,
    income_cents: FloatArray | None = None,
    starved: NDArray[np.bool_] | None = None,
) -> CapacityRows:
    """Turn candidate pairs into per-(artisan, skill) capacity rows for the optimiser.

    The hard capacity of a row is the declared weekly capacity left (declared minus committed);
    the soft one is the learned effective capacity left, ``effective_capacity`` being an
    (artisans, skills) matrix of whole-week capacities (None: the frame's own, which is the
    declared capacity unless ``build_frames`` was given learned ones). Income is per artisan and
    shared by their rows.
    """
    artisans, jobs = frames.artisans, frames.jobs
    n_skills = max(artisans.capacity.shape[1], 1)
    skill_of_pair = jobs.skill[pairs.job]
    row = pairs.artisan * n_skills + skill_of_pair
    rows, row_of_pair = np.unique(row, return_inverse=True)
    artisan_of_row, skill_of_row = rows // n_skills, rows % n_skills
    hard = np.maximum(artisans.capacity - artisans.load, 0.0).ravel()[rows]
    matrix = artisans.effective if effective_capacity is None else effective_capacity
    soft = np.clip((matrix - artisans.load).ravel()[rows], 0.0, hard)
    income = (
        np.zeros(rows.size)
        if income_cents is None
        else np.asarray(income_cents, dtype=np.float64)[artisan_of_row]
    )
    return CapacityRows(
        artisans=ArtisanCapacity.of(
            ids=artisans.ids[artisan_of_row],
            soft_capacity=np.floor(soft).astype(np.int64),
            hard_capacity=np.floor(hard).astype(np.int64),
            income_cents=np.rint(income).astype(np.int64),
            starved=None if starved is None else np.asarray(starved)[artisan_of_row],
        ),
        row_of_pair=row_of_pair.astype(np.int64),
        artisan_of_row=artisan_of_row.astype(np.int64),
        skill_of_row=skill_of_row.astype(np.int64),
    )


@dataclass(frozen=True, slots=True)
class PairScores:
    """Per candidate pair: each outcome's probability as used (with exploration), the artisan's
    prior mean, the models' view, the estimate without exploration (what calibration is
    measured on), and the score."""

    probability: dict[str, FloatArray]
    prior_mean: dict[str, FloatArray]
    model: dict[str, FloatArray] | None
    score: FloatArray
    expected: dict[str, FloatArray] = field(default_factory=dict)
    features: FloatArray | None = None  # the pairs' feature rows, as the models saw them


def score_candidates(
    frames: Frames,
    pairs: Pairs,
    *,
    priors: OutcomePriors,
    draws: Mapping[str, FloatArray],
    models: Mapping[str, OutcomeModel] | None = None,
) -> PairScores:
    """P(accept) x P(on time) x P(QC pass) per pair.

    ``draws`` holds per artisan and outcome a Thompson sample (or the posterior mean). ``models``
    may hold a calibrated model for any of the outcomes. Accept and QC pass: the model blended
    with the draw (the draw counting for more while the artisan's history is short), or the draw
    alone. On time is always conditional on the artisan's queue (:mod:`matching.ontime`): the
    on-time model's probability for the pair's features, or the draw times the queue factor.
    """
    counts = frames.artisans.counts
    a = pairs.artisan
    means = priors.posterior_means(counts)
    prior_mean = {o: means[o][a] for o in OUTCOMES}
    at_pair = {o: np.asarray(draws[o], dtype=np.float64)[a] for o in OUTCOMES}
    models = models or {}
    x = pair_features(frames, pairs, priors=priors)
    used: dict[str, FloatArray] = {}
    expected: dict[str, FloatArray] = {}
    predicted: dict[str, FloatArray] = {}
    for outcome in ("accept", "qc_pass"):
        model = models.get(outcome)
        if model is None or len(pairs) == 0:
            used[outcome], expected[outcome] = at_pair[outcome], prior_mean[outcome]
            continue
        predicted[outcome] = model.probability(x)
        trials = counts.pair(outcome)[1][a].astype(np.float64)
        used[outcome] = blend_with_prior(predicted[outcome], at_pair[outcome], trials)
        expected[outcome] = blend_with_prior(predicted[outcome], prior_mean[outcome], trials)
    on_time_model = models.get("on_time")
    if on_time_model is not None and len(pairs) > 0:
        predicted["on_time"] = on_time_model.probability(x)
        # A queue longer than any the model was trained on: trees extrapolate flat, so there
        # the model may say no more than queue physics does (the fallback below).
        column = FEATURE_NAMES.index("slack_after_work")
        low = getattr(on_time_model, "feature_low_", None)
        slack_after = x[:, column]
        physics = queue_on_time(prior_mean["on_time"], slack_after)
        thin = slack_after < (low[column] if low is not None else -np.inf)
        bounded = np.where(thin, np.minimum(predicted["on_time"], physics), predicted["on_time"])
        used["on_time"] = expected["on_time"] = bounded
    else:
        slack_after = x[:, FEATURE_NAMES.index("slack_after_work")]
        used["on_time"] = queue_on_time(at_pair["on_time"], slack_after)
        expected["on_time"] = queue_on_time(prior_mean["on_time"], slack_after)
    ordered = {o: used[o] for o in OUTCOMES}
    score = ordered["accept"] * ordered["on_time"] * ordered["qc_pass"]
    return PairScores(ordered, prior_mean, predicted or None, score, expected, x)


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """Everything one round decided, kept for the offers, the report and ``/why``."""

    frames: Frames
    pairs: Pairs
    scores: PairScores
    rows: CapacityRows
    jobs: JobsToFill
    plan: Plan

    @property
    def lots(self) -> list[Lot]:
        return self.plan.lots

    def offered_by_job(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for lot in self.plan.lots:
            totals[lot.job_id] = totals.get(lot.job_id, 0) + lot.quantity
        return totals


def plan_round(
    artisans: Sequence[ArtisanStats],
    jobs: Sequence[JobSpec],
    *,
    rng: np.random.Generator,
    priors: OutcomePriors | None = None,
    models: Mapping[str, OutcomeModel] | None = None,
    policy: MatchingPolicy | None = None,
    min_lot: int = 10,
    max_splits: int = 4,
    per_job: int | None = 12,
    explore: bool = True,
    effective_capacity: Mapping[tuple[int, str], float] | None = None,
    income_cents: Mapping[int, int] | None = None,
    starved: Collection[int] | None = None,
    scorer: PairScorer | None = None,
    excluded: Collection[tuple[int, int]] = (),
    acceptance: PairScorer | None = None,
    rank: FloatArray | None = None,
) -> RoundPlan:
    """Plan one round: which artisan gets how many pieces of which job.

    ``effective_capacity`` maps (artisan id, skill) to the learned weekly capacity (the soft
    limit; missing entries fall back to the declared capacity). ``scorer`` replaces the scoring
    (the simulator's baselines and oracle use it); ``explore=False`` scores with posterior means.
    ``starved`` names the artisans owed a reserved minimum lot (the policy's starved bonus):
    no income lately and nothing in progress; None means those with no income in
    ``income_cents``. ``excluded`` lists (artisan id, job id) pairs never to use: the artisan
    already holds an open
    offer for the job, or turned it down, so its pieces cascade to somebody else.
    ``acceptance`` gives each pair's P(accept) for sizing over-offers (the oracle's truth);
    None uses the round's own estimate without exploration. ``rank`` orders the artisans (in
    ``artisans`` order) for candidate selection; None ranks by the sampled prior score.
    """
    if min_lot < 1 or max_splits < 1:
        raise ValueError("a round needs a minimum lot of at least 1 and at least 1 split per job")
    priors = priors or OutcomePriors()
    frames = build_frames(artisans, jobs, effective_capacity=effective_capacity)
    a_frame, j_frame = frames.artisans, frames.jobs
    counts = a_frame.counts
    draws = (
        priors.thompson(counts, rng)
        if explore
        else {o: m for o, m in priors.posterior_means(counts).items()}
    )
    if rank is None:
        rank = draws["accept"] * draws["on_time"] * draws["qc_pass"]
    hungry = None if starved is None else np.isin(a_frame.ids, np.fromiter(starved, np.int64))
    owed = hungry if hungry is not None else None
    if owed is None and income_cents is not None:
        owed = np.asarray([income_cents.get(int(i), 0) <= 0 for i in a_frame.ids], dtype=np.bool_)
    pairs = _without(
        candidate_pairs(
            a_frame,
            j_frame,
            rank=rank,
            per_job=per_job,
            reserved=owed if policy_reserves(policy) else None,
        ),
        frames,
        excluded,
    )
    scores = score_candidates(frames, pairs, priors=priors, draws=draws, models=models)
    if scorer is not None:
        own = np.asarray(scorer(frames, pairs), dtype=np.float64)
        scores = PairScores(
            scores.probability, scores.prior_mean, scores.model, own, scores.expected, None
        )

    income = None
    if income_cents is not None:
        income = np.asarray(
            [float(income_cents.get(int(i), 0)) for i in a_frame.ids], dtype=np.float64
        )
    rows = capacity_rows(frames, pairs, income_cents=income, starved=hungry)
    policy = policy or MatchingPolicy()
    open_offered = np.asarray([j.open_offered for j in jobs], dtype=np.int64)
    round_jobs = JobsToFill.of(
        ids=j_frame.ids,
        quantity=np.maximum(j_frame.quantity.astype(np.int64) - open_offered, 0),
        priority=due_priority(j_frame.slack_days),
        min_lot=np.full(j_frame.size, min_lot),
        max_splits=np.full(j_frame.size, max_splits),
    )
    candidates = Candidates.of(job=pairs.job, artisan=rows.row_of_pair, score=scores.score)
    plan = plan_assignment(round_jobs, rows.artisans, candidates, policy)
    if policy.over_offer > 1.0:
        accept = (
            scores.expected["accept"]
            if acceptance is None
            else np.asarray(acceptance(frames, pairs), dtype=np.float64)
        )
        plan = add_cover(
            plan,
            CoverJobs(
                quantity=j_frame.quantity.astype(np.int64),
                open_offered=open_offered,
                priority=round_jobs.priority,
                ids=round_jobs.ids,
            ),
            CoverPairs(pairs.job, rows.row_of_pair, scores.score, accept),
            rows,
            min_lot=min_lot,
            max_lots=max_splits,
            over_offer=policy.over_offer,
        )
    return RoundPlan(frames, pairs, scores, rows, round_jobs, plan)


def policy_reserves(policy: MatchingPolicy | None) -> bool:
    """Candidate places are reserved for starved artisans only when the optimiser would use
    them: with the starved bonus or the fairness terms on."""
    policy = policy or MatchingPolicy()
    return policy.starved_bonus > 0 or policy.fairness_weight > 0


def add_cover(
    plan: Plan,
    jobs: CoverJobs,
    pairs: CoverPairs,
    rows: CapacityRows,
    *,
    min_lot: int,
    max_lots: int,
    over_offer: float,
) -> Plan:
    """The firm plan plus cover lots on the capacity it leaves (:mod:`matching.cover`)."""
    n_rows = rows.artisans.size
    keys = pairs.job * n_rows + pairs.row
    order = np.argsort(keys, kind="stable")
    firm_pair = order[np.searchsorted(keys, plan.job * n_rows + plan.artisan, sorter=order)]
    used = np.bincount(plan.artisan, weights=plan.quantity, minlength=n_rows)
    spare = np.maximum(rows.artisans.soft_capacity - used, 0).astype(np.int64)
    cover = cover_lots(
        jobs,
        pairs,
        firm_pair=firm_pair,
        firm_quantity=plan.quantity,
        spare=spare,
        min_lot=min_lot,
        max_lots=max_lots,
        over_offer=over_offer,
    )
    if cover.pair.size == 0:
        return plan
    return dataclasses.replace(
        plan,
        job=np.concatenate([plan.job, pairs.job[cover.pair]]),
        artisan=np.concatenate([plan.artisan, pairs.row[cover.pair]]),
        quantity=np.concatenate([plan.quantity, cover.quantity]),
        score=np.concatenate([plan.score, pairs.score[cover.pair]]),
    )


def _without(pairs: Pairs, frames: Frames, excluded: Collection[tuple[int, int]]) -> Pairs:
    if not excluded or len(pairs) == 0:
        return pairs
    artisan_ids = frames.artisans.ids[pairs.artisan]
    job_ids = frames.jobs.ids[pairs.job]
    banned = np.asarray(sorted(excluded), dtype=np.int64).reshape(-1, 2)
    # One int64 key per (artisan, job): ids are database ids, far below 2**31.
    keys = artisan_ids * (1 << 31) + job_ids
    keep = ~np.isin(keys, banned[:, 0] * (1 << 31) + banned[:, 1])
    return Pairs(pairs.artisan[keep], pairs.job[keep])
