"""A fixed, documented feature vector for every (artisan, job) pair, built for many pairs at once.

Inputs are plain values (:class:`ArtisanStats`, :class:`JobSpec`) so the same code serves the
store-reading round, the simulator and the tests. They are turned once into columnar frames
(:func:`build_frames`), and features for any set of pairs are then pure numpy gathers
(:func:`pair_features`): no Python loop runs per pair, which is what keeps 25,000 artisans x
5,000 jobs fast.

The columns, in order (:data:`FEATURE_NAMES`); rates are smoothed with the Beta priors of
:mod:`matching.priors`, so a newcomer shows the population's rate, not 0 or 1:

==  =======================  ================================================================
 0  component_experience     log1p(good pieces of *this component* the artisan has delivered)
 1  skill_experience         log1p(good pieces in *this skill*)
 2  acceptance_rate          smoothed share of offers accepted
 3  on_time_rate             smoothed share of lots delivered on time
 4  qc_pass_rate             smoothed share of pieces passing QC
 5  history_volume           log1p(offers received): how much evidence the rates rest on
 6  response_hours           log1p(median hours to answer an offer); 24 h if never asked
 7  load_ratio               pieces queued in the skill / learned effective weekly capacity
 8  days_since_work          log1p(days since last delivered work), capped at a year
 9  never_worked             1 if the artisan has never delivered anything, else 0
10  same_area                1 if artisan and job are in the same area, else 0
11  lot_size                 log1p(likely lot: the quantity, at most the weekly capacity)
12  lot_vs_capacity          quantity / declared weekly capacity in the skill, capped at 5
13  piece_rate               log(piece rate in cents)
14  slack_days               days to the due date, clipped to [-30, 90]
15  slack_after_work         slack minus the days the queue *and* the likely lot take at the
                             learned effective capacity: what decides whether it is on time
==  =======================  ================================================================

Columns 7 and 15 make P(on time) a property of the artisan's *queue*, not a fixed trait: the
best workshop, given three weeks of work, is late on a job due in one. Effective capacity (the
soft limit the optimiser uses, :mod:`matching.capacity`) comes in through
``build_frames(..., effective_capacity=...)`` and defaults to the declared capacity.

``JobSpec.quantity`` is the job's open quantity when scoring and the offered lot when building
training rows; both pass through ``min(quantity, capacity)``, so the model sees the same notion
of "lot" in training and in use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from matching.priors import OutcomeCounts, OutcomePriors

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

FEATURE_NAMES: tuple[str, ...] = (
    "component_experience",
    "skill_experience",
    "acceptance_rate",
    "on_time_rate",
    "qc_pass_rate",
    "history_volume",
    "response_hours",
    "load_ratio",
    "days_since_work",
    "never_worked",
    "same_area",
    "lot_size",
    "lot_vs_capacity",
    "piece_rate",
    "slack_days",
    "slack_after_work",
)
N_FEATURES = len(FEATURE_NAMES)

_DEFAULT_RESPONSE_HOURS = 24.0
_MAX_DAYS_SINCE_WORK = 365.0


@dataclass(frozen=True, slots=True)
class ArtisanStats:
    """What matching knows about one artisan, as plain values.

    ``weekly_capacity`` is declared per skill (the artisan's skills); ``load_this_week`` is the
    pieces already committed this week per skill. ``available`` is False for anyone who may not
    get offers now: not active (pending, paused) or opted out.
    """

    artisan_id: int
    weekly_capacity: Mapping[str, int]
    area: str | None = None
    load_this_week: Mapping[str, int] = field(default_factory=dict)
    pieces_by_component: Mapping[str, int] = field(default_factory=dict)
    pieces_by_skill: Mapping[str, int] = field(default_factory=dict)
    offers: int = 0
    accepted: int = 0
    deliveries: int = 0
    on_time: int = 0
    pieces_reviewed: int = 0
    pieces_passed: int = 0
    median_response_hours: float | None = None
    days_since_last_work: float | None = None
    available: bool = True


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job (or the open remainder of one) as matching sees it.

    ``quantity`` is the pieces nobody has taken yet; ``open_offered`` the pieces of it already
    out in open offers (a round offers the difference, or more when over-offering).
    """

    job_id: int
    component: str
    skill: str
    quantity: int
    piece_rate_cents: int
    slack_days: float
    area: str | None = None
    open_offered: int = 0


@dataclass(frozen=True, slots=True)
class ArtisanFrame:
    """Artisans as columns. Skill-indexed matrices have one column per skill in ``skills``."""

    ids: IntArray
    area: IntArray  # code into ``areas``, -1 if unknown
    available: NDArray[np.bool_]
    capacity: FloatArray  # (artisans, skills) declared weekly capacity
    load: FloatArray  # (artisans, skills) committed: pieces queued, still to make
    effective: FloatArray  # (artisans, skills) learned effective weekly capacity (<= declared)
    skill_pieces: FloatArray  # (artisans, skills)
    component_keys: IntArray  # sorted artisan_index * n_components + component code
    component_pieces: FloatArray  # aligned with component_keys
    counts: OutcomeCounts
    response_hours: FloatArray  # NaN when never asked
    days_since_work: FloatArray  # NaN when never worked

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    def capacity_left(self, skill: int) -> FloatArray:
        """Declared capacity not yet committed this week: the hard cap for new lots."""
        left: FloatArray = np.maximum(self.capacity[:, skill] - self.load[:, skill], 0.0)
        return left


@dataclass(frozen=True, slots=True)
class JobFrame:
    ids: IntArray
    component: IntArray
    skill: IntArray
    quantity: FloatArray
    piece_rate_cents: FloatArray
    slack_days: FloatArray
    area: IntArray

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The string codes shared by both frames (a job and an artisan agree on 'beading' = 3)."""

    skills: tuple[str, ...]
    components: tuple[str, ...]
    areas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Frames:
    artisans: ArtisanFrame
    jobs: JobFrame
    vocabulary: Vocabulary


class _Interner:
    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        return self.codes.setdefault(value, len(self.codes))

    def names(self) -> tuple[str, ...]:
        return tuple(self.codes)


def build_frames(
    artisans: Sequence[ArtisanStats],
    jobs: Sequence[JobSpec],
    *,
    effective_capacity: Mapping[tuple[int, str], float] | None = None,
) -> Frames:
    """Intern strings and lay artisans and jobs out as columns (one pass over the inputs).

    ``effective_capacity`` maps (artisan id, skill) to the learned weekly capacity; missing
    entries (or None) fall back to the declared capacity, and it never exceeds the declaration.
    """
    skills, components, areas = _Interner(), _Interner(), _Interner()
    for job in jobs:
        if job.quantity <= 0:
            raise ValueError(f"job {job.job_id} has quantity {job.quantity}; it must be positive")
        if job.piece_rate_cents <= 0:
            raise ValueError(f"job {job.job_id} has a piece rate of {job.piece_rate_cents} cents")
        skills.code(job.skill)
        components.code(job.component)
    for artisan in artisans:
        for skill in artisan.weekly_capacity:
            skills.code(skill)
        for skill in artisan.pieces_by_skill:
            skills.code(skill)
        for component in artisan.pieces_by_component:
            components.code(component)

    n_a, n_s, n_c = len(artisans), len(skills.codes), max(len(components.codes), 1)
    capacity = np.zeros((n_a, n_s))
    load = np.zeros((n_a, n_s))
    skill_pieces = np.zeros((n_a, n_s))
    keys: list[int] = []
    values: list[float] = []
    for i, artisan in enumerate(artisans):
        for skill, cap in artisan.weekly_capacity.items():
            capacity[i, skills.codes[skill]] = cap
        for skill, pieces in artisan.load_this_week.items():
            if skill in skills.codes:
                load[i, skills.codes[skill]] = pieces
        for skill, pieces in artisan.pieces_by_skill.items():
            skill_pieces[i, skills.codes[skill]] = pieces
        for component, pieces in artisan.pieces_by_component.items():
            keys.append(i * n_c + components.codes[component])
            values.append(float(pieces))
    key_array = np.asarray(keys, dtype=np.int64)
    order = np.argsort(key_array, kind="stable")
    effective = capacity.copy()
    if effective_capacity:
        for i, artisan in enumerate(artisans):
            for skill in artisan.weekly_capacity:
                value = effective_capacity.get((artisan.artisan_id, skill))
                if value is not None:
                    code = skills.codes[skill]
                    effective[i, code] = min(max(float(value), 0.0), capacity[i, code])

    def column(values: Sequence[float | None]) -> FloatArray:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)

    artisan_frame = ArtisanFrame(
        ids=np.asarray([a.artisan_id for a in artisans], dtype=np.int64),
        area=np.asarray([areas.code(a.area) for a in artisans], dtype=np.int64),
        available=np.asarray([a.available for a in artisans], dtype=np.bool_),
        capacity=capacity,
        load=load,
        effective=effective,
        skill_pieces=skill_pieces,
        component_keys=key_array[order],
        component_pieces=np.asarray(values, dtype=np.float64)[order],
        counts=OutcomeCounts.of(
            offers=[a.offers for a in artisans],
            accepted=[a.accepted for a in artisans],
            deliveries=[a.deliveries for a in artisans],
            on_time=[a.on_time for a in artisans],
            reviewed=[a.pieces_reviewed for a in artisans],
            passed=[a.pieces_passed for a in artisans],
        ),
        response_hours=column([a.median_response_hours for a in artisans]),
        days_since_work=column([a.days_since_last_work for a in artisans]),
    )
    job_frame = JobFrame(
        ids=np.asarray([j.job_id for j in jobs], dtype=np.int64),
        component=np.asarray([components.codes[j.component] for j in jobs], dtype=np.int64),
        skill=np.asarray([skills.codes[j.skill] for j in jobs], dtype=np.int64),
        quantity=column([j.quantity for j in jobs]),
        piece_rate_cents=column([j.piece_rate_cents for j in jobs]),
        slack_days=column([j.slack_days for j in jobs]),
        area=np.asarray([areas.code(j.area) for j in jobs], dtype=np.int64),
    )
    vocabulary = Vocabulary(skills.names(), components.names(), areas.names())
    return Frames(artisan_frame, job_frame, vocabulary)


@dataclass(frozen=True, slots=True)
class Pairs:
    """Candidate (artisan, job) pairs as two aligned index arrays into the frames."""

    artisan: IntArray
    job: IntArray

    def __len__(self) -> int:
        return int(self.artisan.shape[0])


def eligible_artisans(artisans: ArtisanFrame, skill: int) -> IntArray:
    """Who may be offered work in ``skill`` now: available, has the skill, has room this week."""
    mask = (
        artisans.available & (artisans.capacity[:, skill] > 0) & (artisans.capacity_left(skill) > 0)
    )
    return np.flatnonzero(mask).astype(np.int64)


def eligible_pairs(artisans: ArtisanFrame, jobs: JobFrame) -> Pairs:
    """Every eligible pair: the right skill, available, with capacity left. Small rounds only."""
    return candidate_pairs(artisans, jobs, rank=np.zeros(artisans.size), per_job=None)


def candidate_pairs(
    artisans: ArtisanFrame,
    jobs: JobFrame,
    *,
    rank: FloatArray,
    per_job: int | None = 12,
    reserved: NDArray[np.bool_] | None = None,
    reserve_jobs: int = 3,
) -> Pairs:
    """Eligible pairs, sparsified to about ``per_job`` artisans per job when a skill is crowded.

    Scoring and optimising every eligible pair does not scale (25,000 artisans x 5,000 jobs in
    20 skills is over 6 million pairs), and most of those pairs could never be used at once:
    capacity runs out. So, per skill, artisans are ordered by ``rank`` (pass a Thompson sample
    of their prior score, so newcomers get a fair share of places) and jobs by urgency (least
    slack first). Each job then gets the *band* of artisans whose cumulative capacity covers its
    position in the cumulative demand, widened to at least ``per_job`` artisans. Urgent jobs
    see the best-ranked artisans; later jobs see the next ones, whose capacity is still free.
    The optimiser still chooses freely inside each band.

    When demand exceeds supply, positions wrap around the pool so every artisan stays reachable.
    ``per_job=None`` keeps every eligible pair (exact, for small rounds and tests).

    Bands are sized on the *learned* effective capacity left (what the artisan will really make),
    not the declared one: with optimistic declarations, declared bands are too short and the
    jobs' bands stop before most of the pool, so the back of the ranking is never a candidate.
    ``reserved`` marks artisans owed a trial (the starved: no recent income and nothing in
    progress, which includes every newcomer); rank picks bands *before* the optimiser's fairness
    terms apply, so without a reservation only a quarter of starved artisans ever got a
    candidate pair at 50% load. Each reserved artisan in a crowded skill is added as a candidate
    to ``reserve_jobs`` of the skill's jobs (spread over them, those with a minimum lot of room
    first), and the optimiser's starved bonus decides whether they get one.
    """
    artisan_parts: list[IntArray] = []
    job_parts: list[IntArray] = []
    for skill in np.unique(jobs.skill):
        job_idx = np.flatnonzero(jobs.skill == skill)
        pool = eligible_artisans(artisans, int(skill))
        if pool.size == 0:
            continue
        if per_job is None or pool.size <= per_job:
            artisan_parts.append(np.tile(pool, job_idx.size))
            job_parts.append(np.repeat(job_idx, pool.size))
            continue
        pool = pool[np.argsort(-rank[pool], kind="stable")]
        left = artisans.capacity_left(int(skill))[pool]
        learned = artisans.effective[pool, int(skill)] - artisans.load[pool, int(skill)]
        cumulative = np.cumsum(np.clip(learned, 1.0, np.maximum(left, 1.0)))
        job_idx = job_idx[np.lexsort((jobs.ids[job_idx], jobs.slack_days[job_idx]))]
        quantity = jobs.quantity[job_idx]
        start = (np.cumsum(quantity) - quantity) % cumulative[-1]
        first = np.searchsorted(cumulative, start, side="right")
        last = np.searchsorted(cumulative, start + quantity, side="left")
        widest = 4 * per_job
        lo = np.clip(first - per_job // 4, 0, pool.size - per_job)
        hi = np.minimum(np.maximum(last + 1, lo + per_job), np.minimum(lo + widest, pool.size))
        lengths = hi - lo
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        artisan_parts.append(pool[np.repeat(lo, lengths) + offsets])
        job_parts.append(np.repeat(job_idx, lengths))
        if reserved is not None and reserve_jobs > 0:
            owed = pool[reserved[pool]]
            if owed.size:
                # Largest jobs first, so a reserved minimum lot fits; spread, one offset each.
                by_size = job_idx[np.argsort(-quantity, kind="stable")]
                k = min(reserve_jobs, by_size.size)
                step = np.arange(owed.size)[:, None] * k + np.arange(k)[None, :]
                artisan_parts.append(np.repeat(owed, k))
                job_parts.append(by_size[(step % by_size.size).ravel()])
    if not artisan_parts:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty.copy())
    a = np.concatenate(artisan_parts).astype(np.int64)
    j = np.concatenate(job_parts).astype(np.int64)
    if reserved is not None:  # a reserved pair may repeat one of the band's
        _, first = np.unique(j * max(artisans.size, 1) + a, return_index=True)
        keep = np.sort(first)
        a, j = a[keep], j[keep]
    return Pairs(a, j)


def _component_pieces(
    artisans: ArtisanFrame, n_components: int, a: IntArray, c: IntArray
) -> FloatArray:
    keys = a * n_components + c
    if artisans.component_keys.size == 0:
        return np.zeros(keys.shape[0])
    pos = np.searchsorted(artisans.component_keys, keys)
    pos = np.minimum(pos, artisans.component_keys.size - 1)
    hit = artisans.component_keys[pos] == keys
    pieces: FloatArray = np.where(hit, artisans.component_pieces[pos], 0.0)
    return pieces


def pair_features(
    frames: Frames,
    pairs: Pairs,
    *,
    priors: OutcomePriors | None = None,
) -> FloatArray:
    """The (len(pairs), N_FEATURES) feature matrix; columns as in :data:`FEATURE_NAMES`."""
    priors = priors or OutcomePriors()
    artisans, jobs = frames.artisans, frames.jobs
    a, j = pairs.artisan, pairs.job
    skill = jobs.skill[j]
    n_components = max(len(frames.vocabulary.components), 1)

    means = priors.posterior_means(artisans.counts)
    capacity = artisans.capacity[a, skill]
    safe_capacity = np.maximum(capacity, 1.0)
    safe_effective = np.maximum(artisans.effective[a, skill], 1.0)
    queued = artisans.load[a, skill]
    quantity = jobs.quantity[j]
    lot = np.minimum(quantity, safe_capacity)
    response = artisans.response_hours[a]
    days = artisans.days_since_work[a]
    never = np.isnan(days)

    x = np.empty((len(pairs), N_FEATURES), dtype=np.float64)
    x[:, 0] = np.log1p(_component_pieces(artisans, n_components, a, jobs.component[j]))
    x[:, 1] = np.log1p(artisans.skill_pieces[a, skill])
    x[:, 2] = means["accept"][a]
    x[:, 3] = means["on_time"][a]
    x[:, 4] = means["qc_pass"][a]
    x[:, 5] = np.log1p(artisans.counts.offers[a])
    x[:, 6] = np.log1p(np.where(np.isnan(response), _DEFAULT_RESPONSE_HOURS, response))
    x[:, 7] = queued / safe_effective
    x[:, 8] = np.log1p(
        np.where(never, _MAX_DAYS_SINCE_WORK, np.minimum(days, _MAX_DAYS_SINCE_WORK))
    )
    x[:, 9] = never
    x[:, 10] = (artisans.area[a] >= 0) & (artisans.area[a] == jobs.area[j])
    x[:, 11] = np.log1p(lot)
    x[:, 12] = np.minimum(quantity / safe_capacity, 5.0)
    x[:, 13] = np.log(jobs.piece_rate_cents[j])
    slack = np.clip(jobs.slack_days[j], -30.0, 90.0)
    x[:, 14] = slack
    x[:, 15] = np.clip(slack - 7.0 * (queued + lot) / safe_effective, -60.0, 90.0)
    return x
