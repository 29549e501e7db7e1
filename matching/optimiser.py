"""The assignment optimiser: split open jobs into lots across artisans for one matching round.

Given jobs (open quantity, due-date priority, minimum lot, maximum splits), artisans (soft and
hard capacity left this week, income so far) and scored candidate pairs (score = P(accept) x
P(on time) x P(QC pass)), :func:`plan_assignment` returns lots (job, artisan, quantity) that
maximise

    sum over lots of  priority(job) x score(pair) x pieces        expected good on-time pieces
  + sum over artisans of  bonus(income) x pieces inside the fairness band     spreading income
  - sum over artisans of  overload_penalty x pieces beyond effective capacity  soft capacity

subject to: a job gets at most its open quantity; an artisan never gets more than their declared
(hard) capacity left; every lot is at least the job's minimum lot, or the job's whole open
quantity when that is smaller; a job is split across at most ``max_splits`` artisans; only the
candidate pairs given (the eligible ones) are ever used.

How it is solved, and why
-------------------------
1. **A min-cost-flow linear programme, solved by HiGHS** (``scipy.optimize.linprog``). Variables
   are the pieces on each candidate pair plus three "supply segments" per artisan: the fairness
   band (bonus), the rest of the effective capacity (neutral) and the overload up to the hard cap
   (penalty). Each artisan's pairs sum to their segments; each job's pairs sum to at most its
   quantity. The constraint matrix is a bipartite incidence matrix plus unit columns, so it is
   totally unimodular: HiGHS returns a vertex with *whole* pieces, no rounding guesswork. The
   segments make the fairness bonus and the overload penalty concave, so the LP fills the band
   first and overloads last without any binaries. Independent parts of the job-artisan graph
   (skills do not mix) are solved as separate LPs under one deadline: simplex time grows faster
   than size. At 25,000 x 5,000 (61,000 candidate pairs) this takes about 6 s on the shared
   2-core box, where a MILP with a binary per pair for lots and splits would not finish.
2. **A repair pass for the combinatorial rules.** Minimum lots and split limits need binaries in
   an exact model; instead, jobs are visited by priority and the LP's allocations are kept,
   largest first, while they meet the minimum lot and the split limit. The rest is released.
3. **A greedy fill** gives released quantity and leftover capacity back out: first by topping up
   lots already kept (no new split), then to the next-best candidates, never below the minimum
   lot, never past the hard cap, and past the effective capacity only when a piece is worth more
   than the overload penalty. If HiGHS fails or times out, this greedy pass alone builds the
   plan, so a round always produces something feasible.

The LP optimum (``Plan.bound``) relaxes only the lot and split rules, so it bounds the objective
of every rule-abiding plan on pairs worth anything, and ``plan.objective / plan.bound`` says how
much the repair gave up (0.91-0.93 in ``bench/bench_matching.py``; the split limit is most of it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linprog  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from matching.fairness import income_bonus

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _ints(values: ArrayLike) -> IntArray:
    return np.atleast_1d(np.asarray(values, dtype=np.int64))


def _floats(values: ArrayLike) -> FloatArray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class JobsToFill:
    """Open jobs (or remainders) in one round; index i is job ``ids[i]``."""

    ids: IntArray
    quantity: IntArray
    priority: FloatArray
    min_lot: IntArray
    max_splits: IntArray

    @classmethod
    def of(
        cls,
        *,
        ids: ArrayLike,
        quantity: ArrayLike,
        priority: ArrayLike,
        min_lot: ArrayLike,
        max_splits: ArrayLike,
    ) -> JobsToFill:
        jobs = cls(
            _ints(ids), _ints(quantity), _floats(priority), _ints(min_lot), _ints(max_splits)
        )
        n = jobs.ids.shape[0]
        for name in ("quantity", "priority", "min_lot", "max_splits"):
            if getattr(jobs, name).shape != (n,):
                raise ValueError(f"jobs.{name} must have one entry per job ({n})")
        if np.any(jobs.quantity < 0):
            raise ValueError("a job's open quantity cannot be negative")
        if np.any(jobs.min_lot < 1) or np.any(jobs.max_splits < 1):
            raise ValueError("every job needs a minimum lot of at least 1 and at least 1 split")
        if np.any(jobs.priority < 0):
            raise ValueError("job priorities must not be negative")
        return jobs

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class ArtisanCapacity:
    """Artisans in one round.

    ``soft_capacity`` is the learned effective capacity left this week (going past it costs the
    overload penalty); ``hard_capacity`` is the declared capacity left, never exceeded.
    ``starved`` marks artisans owed a reserved minimum lot (no recent income, nothing in
    progress); None: those with no income at all.
    """

    ids: IntArray
    soft_capacity: IntArray
    hard_capacity: IntArray
    income_cents: IntArray
    starved: NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        *,
        ids: ArrayLike,
        soft_capacity: ArrayLike,
        hard_capacity: ArrayLike,
        income_cents: ArrayLike | None = None,
        starved: ArrayLike | None = None,
    ) -> ArtisanCapacity:
        ids_ = _ints(ids)
        income = np.zeros_like(ids_) if income_cents is None else _ints(income_cents)
        hungry = (
            income <= 0 if starved is None else np.atleast_1d(np.asarray(starved, dtype=np.bool_))
        )
        artisans = cls(ids_, _ints(soft_capacity), _ints(hard_capacity), income, hungry)
        n = ids_.shape[0]
        for name in ("soft_capacity", "hard_capacity", "income_cents", "starved"):
            if getattr(artisans, name).shape != (n,):
                raise ValueError(f"artisans.{name} must have one entry per artisan ({n})")
        return artisans

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class Candidates:
    """Eligible pairs as indices into the jobs and artisans, with their scores in [0, 1]."""

    job: IntArray
    artisan: IntArray
    score: FloatArray

    @classmethod
    def of(cls, *, job: ArrayLike, artisan: ArrayLike, score: ArrayLike) -> Candidates:
        candidates = cls(_ints(job), _ints(artisan), _floats(score))
        n = candidates.job.shape[0]
        if candidates.artisan.shape != (n,) or candidates.score.shape != (n,):
            raise ValueError("candidates need one job, artisan and score per pair")
        if np.any(~np.isfinite(candidates.score)):
            raise ValueError("candidate scores must be finite probabilities")
        return candidates

    def __len__(self) -> int:
        return int(self.job.shape[0])


@dataclass(frozen=True, slots=True)
class MatchingPolicy:
    """The knobs of a round. Units are the objective's: expected good on-time pieces.

    ``overload_penalty``: cost of one piece beyond an artisan's effective capacity (allocate
    there only when a piece is worth more than this). ``fairness_weight``: the bonus per piece in
    the fairness band for an artisan with no income yet (0 switches fairness off).
    ``fairness_band``: how many of an artisan's pieces per round carry that bonus.
    ``starved_bonus``: an extra bonus per piece in the band for a *starved* artisan (see
    :class:`ArtisanCapacity`): a reserved minimum-lot slot, large enough to outweigh a
    better-scored artisan, so nobody able and willing is left without work for weeks (0 switches
    it off).
    ``over_offer``: open offers of a job may hold up to this many times its unallocated pieces,
    sized by how likely the chosen artisans are to accept (:func:`matching.planning.
    offer_targets`); the first to accept take the pieces and the rest are withdrawn when the job
    fills (``domain.services.offers``). 1 never offers more than is left, so each decline waits
    a round.
    """

    # Defaults measured in bench/bench_simulator.py (docs/benchmarks.md).
    overload_penalty: float = 0.3
    fairness_weight: float = 0.3
    fairness_band: int = 20
    starved_bonus: float = 1.0
    over_offer: float = 1.0
    time_limit_s: float = 30.0
    lp_batch_pairs: int = 2_000

    def __post_init__(self) -> None:
        if min(self.overload_penalty, self.fairness_weight, self.fairness_band) < 0:
            raise ValueError("penalty, fairness weight and fairness band must not be negative")
        if self.starved_bonus < 0:
            raise ValueError("the starved bonus must not be negative")
        if not 1.0 <= self.over_offer <= 3.0:
            raise ValueError("over_offer must be between 1 (never over-offer) and 3")


@dataclass(frozen=True, slots=True)
class Lot:
    job_id: int
    artisan_id: int
    quantity: int
    score: float


@dataclass(frozen=True, slots=True)
class Plan:
    """The lots of one round, as indices (for speed) and as :class:`Lot` values (for people)."""

    job: IntArray
    artisan: IntArray
    quantity: IntArray
    score: FloatArray
    objective: float
    bound: float | None
    solver: str
    job_ids: IntArray
    artisan_ids: IntArray

    @property
    def lots(self) -> list[Lot]:
        return [
            Lot(int(self.job_ids[j]), int(self.artisan_ids[a]), int(q), float(s))
            for j, a, q, s in zip(self.job, self.artisan, self.quantity, self.score, strict=True)
        ]

    @property
    def expected_good_pieces(self) -> float:
        return float(np.sum(self.quantity * self.score))

    def job_totals(self, n_jobs: int) -> IntArray:
        return np.bincount(self.job, weights=self.quantity, minlength=n_jobs).astype(np.int64)

    def artisan_totals(self, n_artisans: int) -> IntArray:
        return np.bincount(self.artisan, weights=self.quantity, minlength=n_artisans).astype(
            np.int64
        )


def due_priority(slack_days: ArrayLike, *, horizon_days: float = 7.0) -> FloatArray:
    """Weight in (1, 2]: a job due now (or late) counts twice as much as one due far away.

    Never zero, so distant jobs still fill when there is room, but urgent ones win contention.
    """
    slack = np.maximum(_floats(slack_days), 0.0)
    priority: FloatArray = 1.0 + 1.0 / (1.0 + slack / horizon_days)
    return priority


def top_k_per_job(job: ArrayLike, score: ArrayLike, k: int) -> IntArray:
    """Indices of the ``k`` best-scored pairs of every job (ties by position): sparsification."""
    job_, score_ = _ints(job), _floats(score)
    if job_.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(job_.size), -score_, job_))
    sorted_jobs = job_[order]
    starts = np.flatnonzero(np.r_[True, sorted_jobs[1:] != sorted_jobs[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, sorted_jobs.size]))
    rank = np.arange(sorted_jobs.size) - group_start
    return np.sort(order[rank < k]).astype(np.int64)


@dataclass(slots=True)
class _State:
    """Mutable bookkeeping while lots are kept and filled."""

    filled: IntArray
    splits: IntArray
    used: IntArray
    lot: dict[int, int]


def plan_assignment(
    jobs: JobsToFill,
    artisans: ArtisanCapacity,
    candidates: Candidates,
    policy: MatchingPolicy | None = None,
) -> Plan:
    """The round's lots; see the module docstring for the model and the method."""
    policy = policy or MatchingPolicy()
    _check_indices(jobs, artisans, candidates)
    hard = np.maximum(artisans.hard_capacity, 0)
    soft = np.clip(artisans.soft_capacity, 0, hard)
    need = np.minimum(jobs.min_lot, jobs.quantity)  # the smallest lot a job may be given

    pair = _usable_pairs(jobs, hard, need, candidates)
    job_of, artisan_of = candidates.job[pair], candidates.artisan[pair]
    value = jobs.priority[job_of] * candidates.score[pair]
    band = np.minimum(policy.fairness_band, soft)
    bonus = income_bonus(artisans.income_cents, weight=policy.fairness_weight)
    bonus = bonus + policy.starved_bonus * artisans.starved

    lp_pieces, bound, solver = _solve_in_parts(
        jobs, job_of, artisan_of, value, soft, hard, band, bonus, policy
    )
    state = _State(
        filled=np.zeros(jobs.size, dtype=np.int64),
        splits=np.zeros(jobs.size, dtype=np.int64),
        used=np.zeros(artisans.size, dtype=np.int64),
        lot={},
    )
    # Pairs grouped by job, best value first; jobs visited most urgent first.
    by_job = np.lexsort((np.arange(pair.size), -value, job_of))
    starts = np.searchsorted(job_of[by_job], np.arange(jobs.size + 1))
    job_order = np.lexsort((jobs.ids, -jobs.priority))
    _keep_lp_lots(jobs, need, hard, job_order, by_job, starts, artisan_of, lp_pieces, state)
    _greedy_fill(
        jobs, need, soft, hard, job_order, by_job, starts, artisan_of, value, policy, state
    )

    kept = np.fromiter(state.lot.keys(), dtype=np.int64, count=len(state.lot))
    pieces = np.fromiter(state.lot.values(), dtype=np.int64, count=len(state.lot))
    order = np.argsort(kept, kind="stable")
    kept, pieces = kept[order], pieces[order]
    objective = float(
        np.sum(value[kept] * pieces)
        + np.sum(bonus * np.minimum(state.used, band))
        - policy.overload_penalty * np.sum(np.maximum(state.used - soft, 0))
    )
    return Plan(
        job=job_of[kept],
        artisan=artisan_of[kept],
        quantity=pieces,
        score=candidates.score[pair][kept],
        objective=objective,
        bound=bound,
        solver=solver,
        job_ids=jobs.ids,
        artisan_ids=artisans.ids,
    )


def _check_indices(jobs: JobsToFill, artisans: ArtisanCapacity, candidates: Candidates) -> None:
    if len(candidates) == 0:
        return
    if candidates.job.min() < 0 or candidates.job.max() >= jobs.size:
        raise ValueError("a candidate refers to a job index outside the jobs given")
    if candidates.artisan.min() < 0 or candidates.artisan.max() >= artisans.size:
        raise ValueError("a candidate refers to an artisan index outside the artisans given")


def _usable_pairs(
    jobs: JobsToFill, hard: IntArray, need: IntArray, candidates: Candidates
) -> IntArray:
    """Pairs that could ever carry a lot: positive value, room for a minimum lot, no duplicates."""
    j, a = candidates.job, candidates.artisan
    useful = (
        (candidates.score > 0)
        & (jobs.priority[j] > 0)
        & (jobs.quantity[j] > 0)
        & (hard[a] >= need[j])
    )
    index = np.flatnonzero(useful)
    # A pair listed twice keeps its best score.
    order = index[np.lexsort((-candidates.score[index], a[index], j[index]))]
    keys = j[order] * (int(hard.shape[0]) + 1) + a[order]
    _, first = np.unique(keys, return_index=True)
    return np.sort(order[first]).astype(np.int64)


def _independent_parts(
    job_of: IntArray, artisan_of: IntArray, n_jobs: int, n_artisans: int, batch_pairs: int
) -> list[IntArray]:
    """Pair indices split into LPs that share no job and no artisan.

    Connected components of the job-artisan graph are independent problems; simplex time grows
    faster than linearly in size, so solving them apart is much faster (25,000 x 5,000: one LP
    took 19 s, its parts 6 s on the same loaded machine). Tiny components are batched up to
    ``batch_pairs`` pairs so per-call overhead does not dominate.
    """
    graph = sp.coo_array(
        (np.ones(job_of.size), (job_of, n_jobs + artisan_of)),
        shape=(n_jobs + n_artisans, n_jobs + n_artisans),
    )
    _, label = connected_components(graph, directed=False)
    components, component_of_pair = np.unique(label[job_of], return_inverse=True)
    sizes = np.bincount(component_of_pair, minlength=components.size)
    batch_of_component = (np.cumsum(sizes) - sizes) // max(batch_pairs, 1)
    batch_of_pair = batch_of_component[component_of_pair]
    order = np.argsort(batch_of_pair, kind="stable")
    cuts = np.flatnonzero(np.diff(batch_of_pair[order])) + 1
    return [part.astype(np.int64) for part in np.split(order, cuts)]


def _solve_in_parts(
    jobs: JobsToFill,
    job_of: IntArray,
    artisan_of: IntArray,
    value: FloatArray,
    soft: IntArray,
    hard: IntArray,
    band: IntArray,
    bonus: FloatArray,
    policy: MatchingPolicy,
) -> tuple[FloatArray, float | None, str]:
    """LP pieces per pair (zero where no LP was solved), the bound if every part solved, and
    which solver built the plan: "highs", "greedy" or "highs+greedy".

    Parts are solved until ``policy.time_limit_s`` runs out; parts left unsolved fall to the
    greedy fill, so a round always ends on time with a feasible plan.
    """
    pieces = np.zeros(job_of.size)
    if job_of.size == 0:
        return pieces, 0.0, "highs"
    parts = _independent_parts(
        job_of, artisan_of, jobs.size, soft.size, batch_pairs=policy.lp_batch_pairs
    )
    deadline = time.monotonic() + policy.time_limit_s
    bound, solved = 0.0, 0
    for part in parts:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        x, part_bound = _solve_lp(
            jobs,
            job_of[part],
            artisan_of[part],
            value[part],
            soft,
            hard,
            band,
            bonus,
            policy,
            time_limit_s=remaining,
        )
        if x is None or part_bound is None:
            continue
        pieces[part] = x
        bound += part_bound
        solved += 1
    if solved == len(parts):
        return pieces, bound, "highs"
    return pieces, None, "greedy" if solved == 0 else "highs+greedy"


def _solve_lp(
    jobs: JobsToFill,
    job_of: IntArray,
    artisan_of: IntArray,
    value: FloatArray,
    soft: IntArray,
    hard: IntArray,
    band: IntArray,
    bonus: FloatArray,
    policy: MatchingPolicy,
    *,
    time_limit_s: float,
) -> tuple[FloatArray | None, float | None]:
    """Pieces per pair from the min-cost-flow LP, or (None, None) if HiGHS gave no optimum."""
    n_pairs = job_of.size
    if n_pairs == 0:
        return np.zeros(0), 0.0
    # Only artisans and jobs that appear in some pair become rows.
    artisans_used, artisan_row = np.unique(artisan_of, return_inverse=True)
    jobs_used, job_row = np.unique(job_of, return_inverse=True)
    n_a, n_j = artisans_used.size, jobs_used.size
    n_vars = n_pairs + 3 * n_a

    pair_cols = np.arange(n_pairs)
    segment_cols = n_pairs + np.arange(3 * n_a)
    a_eq = sp.csr_array(
        (
            np.r_[np.ones(n_pairs), -np.ones(3 * n_a)],
            (np.r_[artisan_row, np.tile(np.arange(n_a), 3)], np.r_[pair_cols, segment_cols]),
        ),
        shape=(n_a, n_vars),
    )
    a_ub = sp.csr_array((np.ones(n_pairs), (job_row, pair_cols)), shape=(n_j, n_vars))
    b_ub = jobs.quantity[jobs_used].astype(np.float64)

    s, h, b = soft[artisans_used], hard[artisans_used], band[artisans_used]
    cost = np.r_[
        -value, -bonus[artisans_used], np.zeros(n_a), np.full(n_a, policy.overload_penalty)
    ]
    upper = np.r_[
        np.minimum(jobs.quantity[job_of], hard[artisan_of]),  # a pair never exceeds either side
        b,
        s - b,
        h - s,
    ].astype(np.float64)
    bounds = np.column_stack([np.zeros(n_vars), upper])
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.zeros(n_a),
        bounds=bounds,
        method="highs",
        options={"time_limit": time_limit_s, "presolve": True},
    )
    if result.status != 0 or result.x is None:
        return None, None
    # Total unimodularity makes the vertex integral; rounding only removes solver noise.
    pieces: FloatArray = np.rint(result.x[:n_pairs])
    return pieces, float(-result.fun)


def _keep_lp_lots(
    jobs: JobsToFill,
    need: IntArray,
    hard: IntArray,
    job_order: IntArray,
    by_job: IntArray,
    starts: IntArray,
    artisan_of: IntArray,
    lp_pieces: FloatArray,
    state: _State,
) -> None:
    """Keep the LP's lots, largest first per job, while they obey minimum lot and split limit."""
    for j in job_order:
        group = by_job[starts[j] : starts[j + 1]]
        group = group[lp_pieces[group] > 0]
        # Largest first: it keeps the most of the LP's volume within the split limit (measured
        # +5% objective over keeping the best-scored first, at both benchmark sizes).
        group = group[np.argsort(-lp_pieces[group], kind="stable")]
        for p in group:
            if state.splits[j] >= jobs.max_splits[j]:
                break
            a = artisan_of[p]
            q = int(min(lp_pieces[p], jobs.quantity[j] - state.filled[j], hard[a] - state.used[a]))
            if q >= need[j]:
                _allocate(state, int(p), int(j), int(a), q, new=True)


def _greedy_fill(
    jobs: JobsToFill,
    need: IntArray,
    soft: IntArray,
    hard: IntArray,
    job_order: IntArray,
    by_job: IntArray,
    starts: IntArray,
    artisan_of: IntArray,
    value: FloatArray,
    policy: MatchingPolicy,
    state: _State,
) -> None:
    """Hand out what is left: top up kept lots first, then open new ones while splits remain.

    The fairness bonus is left out here: it only ever adds value, so ignoring it can make the
    fill more cautious, never break a rule.
    """
    for j in job_order:
        if state.filled[j] >= jobs.quantity[j]:
            continue
        group = by_job[starts[j] : starts[j + 1]]
        for top_up in (True, False):
            for p in group:
                open_quantity = int(jobs.quantity[j] - state.filled[j])
                if open_quantity <= 0:
                    break
                has_lot = int(p) in state.lot
                if has_lot != top_up:
                    continue
                if not top_up and state.splits[j] >= jobs.max_splits[j]:
                    break
                a = int(artisan_of[p])
                # Pieces worth giving: up to effective capacity, or up to the hard cap when a
                # piece is worth more than the overload it causes.
                limit = hard[a] if value[p] > policy.overload_penalty else soft[a]
                q = min(open_quantity, int(limit - state.used[a]))
                if q <= 0 or (not top_up and q < need[j]):
                    continue
                _allocate(state, int(p), int(j), a, q, new=not top_up)


def _allocate(
    state: _State, pair: int, job: int, artisan: int, quantity: int, *, new: bool
) -> None:
    state.lot[pair] = state.lot.get(pair, 0) + quantity
    state.filled[job] += quantity
    state.used[artisan] += quantity
    if new:
        state.splits[job] += 1


def rule_violations(
    lots: Sequence[tuple[int, int, int]], jobs: JobsToFill, artisans: ArtisanCapacity
) -> list[str]:
    """Every rule a plan given as (job index, artisan index, quantity) breaks, in words.

    The optimiser's own output always returns an empty list; the simulator and tests use this
    to check plans from any policy against the same rules.
    """
    problems: list[str] = []
    per_job: dict[int, list[int]] = {}
    per_artisan: dict[int, int] = {}
    for j, a, q in lots:
        per_job.setdefault(j, []).append(q)
        per_artisan[a] = per_artisan.get(a, 0) + q
    for j, quantities in per_job.items():
        job_id = int(jobs.ids[j])
        if sum(quantities) > jobs.quantity[j]:
            problems.append(
                f"job {job_id} was given {sum(quantities)} pieces but only "
                f"{jobs.quantity[j]} are open"
            )
        if len(quantities) > jobs.max_splits[j]:
            problems.append(
                f"job {job_id} was split {len(quantities)} ways; at most "
                f"{jobs.max_splits[j]} allowed"
            )
        smallest_allowed = min(int(jobs.min_lot[j]), int(jobs.quantity[j]))
        for q in quantities:
            if q < smallest_allowed:
                problems.append(
                    f"job {job_id} has a lot of {q} pieces, below its minimum lot of "
                    f"{smallest_allowed}"
                )
    for a, total in per_artisan.items():
        if total > artisans.hard_capacity[a]:
            problems.append(
                f"artisan {int(artisans.ids[a])} was given {total} pieces but has only "
                f"{artisans.hard_capacity[a]} capacity left"
            )
    return problems
