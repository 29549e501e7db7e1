"""The policies the simulator compares. Each turns one round's view into lots to offer.

- ``random``: random scores into the production optimiser (declared capacity, no fairness,
  production's candidate sparsification on a random ranking).
- ``round_robin``: per skill, artisans take turns in a fixed order.
- ``greedy``: jobs by due date, each to the best-rated artisans (smoothed reputation) first.
- ``ours``: the production round (:func:`matching.round.plan_production_round` with the world's
  :class:`~matching.round.RoundOptions`, production's unless the world file's ``[round]`` table
  changes them): Thompson-sampled Beta
  posteriors for accept and QC, a queue-aware P(on time) (the on-time model, retrained every few
  weeks on the lots it logged, with the queue factor of :mod:`matching.ontime` until it has
  enough outcomes), learned effective capacity as a soft limit, the fairness terms, and cover
  offers on spare capacity up to the world's ``over_offer`` (:mod:`matching.cover`).
- ``oracle``: the hidden true P(accept), P(on time) *given the artisan's actual queue*
  (:meth:`~matching.simulator.truth.Truth.on_time_probability`) and P(QC pass), and true capacity,
  plugged into the same optimiser with the same fairness terms and cover (sized by the true
  acceptance), on every eligible pair (up to 192 artisans; beyond that the bands of candidate
  selection, ``ORACLE_PER_JOB`` = 48 a job, ranked by the true score). It alone is handed the
  hidden truth (:class:`Hidden`); every other policy sees only the :class:`RoundView`, which
  holds what the production store would.
- ``ours_fairness_off``: ours with the fairness terms switched off (fairness_weight and
  starved_bonus 0), to show what fairness costs on the headline.

The hindsight bound (:mod:`matching.simulator.hindsight`) is not a policy: it is solved offline
from the truth and the outcome streams, and reported beside them as ``hindsight``.

Every policy obeys the same rules: right skill, declared capacity left, minimum lot (or the
whole remainder when smaller), at most ``max_splits`` artisans per job in a round (plus as many
cover offers for ours and the oracle), and never an artisan who already turned the job down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

import matching.round as production
from matching.features import ArtisanStats, Frames, JobSpec, Pairs
from matching.models import OutcomeModel, fit_best
from matching.ontime import MONOTONIC
from matching.optimiser import MatchingPolicy
from matching.planning import RoundPlan, plan_round
from matching.priors import OUTCOMES, OutcomeCounts, OutcomePriors
from matching.round import RoundOptions
from matching.simulator.truth import Truth

FloatArray = NDArray[np.float64]
POLICIES = (
    "random",
    "round_robin",
    "greedy",
    "ours",
    "ours_fairness_off",
    "oracle",
)

#: Candidates per job for the oracle when a skill is crowded, ranked by the true score (four
#: times production's, so the ceiling stays a ceiling but a 1,000-artisan week stays tractable).
ORACLE_PER_JOB = 48

#: Ours retrains its on-time model every this many weeks, once it has this many outcomes.
RETRAIN_EVERY_WEEKS = 4
MIN_TRAINING_ROWS = 150


@dataclass(frozen=True, slots=True)
class RoundView:
    """What a policy may see in one round: what the production store would hold then."""

    artisans: Sequence[ArtisanStats]
    jobs: Sequence[JobSpec]
    effective_capacity: Mapping[tuple[int, str], float]
    income_cents: Mapping[int, int]
    excluded: Collection[tuple[int, int]]
    skills: tuple[str, ...]
    week: int = 0
    starved: frozenset[int] = frozenset()  # artisan ids owed a reserved minimum lot


@dataclass(frozen=True, slots=True)
class Hidden:
    """What only the oracle is handed: the hidden truth and every artisan's real queue."""

    truth: Truth
    #: per artisan index: (due week, pieces still to make) of every accepted lot
    queue: Mapping[int, Sequence[tuple[int, int]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offered:
    """What ours knew about a lot when offering it: the features it scored, the estimates."""

    features: FloatArray
    expected: dict[str, float]


#: The policies handed :class:`Hidden` (tests/unit/test_simulator_isolation.py holds the others
#: to the view).
READS_TRUTH = frozenset({"oracle"})


@dataclass
class Policy:
    name: str
    rng: np.random.Generator
    options: RoundOptions
    pointer: dict[str, int] = field(default_factory=dict)
    offered: dict[tuple[int, int], Offered] = field(default_factory=dict)
    models: dict[str, OutcomeModel] = field(default_factory=dict)
    training: list[tuple[int, FloatArray, bool]] = field(default_factory=list)

    def start_week(self, week: int) -> None:
        """Ours retrains its on-time model on the outcomes it has seen (nobody else learns)."""
        if self.name != "ours" or week == 0 or week % RETRAIN_EVERY_WEEKS:
            return
        if len(self.training) < MIN_TRAINING_ROWS:
            return
        rows = sorted(self.training, key=lambda r: r[0])
        x = np.vstack([r[1] for r in rows])
        y = np.asarray([r[2] for r in rows], dtype=np.int64)
        cut = int(len(rows) * 0.75)
        if len(np.unique(y[:cut])) < 2 or len(np.unique(y[cut:])) < 2:
            return
        # Choose the kind on the most recent quarter, then refit it on everything.
        best, _ = fit_best(x[:cut], y[:cut], x[cut:], y[cut:], monotonic_cst=MONOTONIC)
        self.models["on_time"] = OutcomeModel(
            best.kind, random_state=0, monotonic_cst=MONOTONIC
        ).fit(x, y)

    def learn_on_time(self, week: int, features: FloatArray, on_time: bool) -> None:
        self.training.append((week, features, on_time))

    def estimate(self, job_id: int, artisan_id: int) -> Offered | None:
        """Ours' view of a lot it offered in the last round (None for other policies)."""
        return self.offered.get((job_id, artisan_id))

    def lots(self, view: RoundView, hidden: Hidden | None = None) -> list[tuple[int, int, int]]:
        """(job id, artisan id, quantity) to offer."""
        if self.name == "round_robin":
            return self._round_robin(view)
        if self.name == "greedy":
            return self._greedy(view)
        if self.name in ("ours", "ours_fairness_off"):
            return self._ours(view)
        if self.name in ("random", "oracle"):
            return self._optimised(view, hidden)
        raise ValueError(f"unknown policy {self.name!r}; choose from {', '.join(POLICIES)}")

    def _ours(self, view: RoundView) -> list[tuple[int, int, int]]:
        """Production's round, through the function the scheduler's round calls."""
        if not view.jobs:
            return []
        options = self.options
        if self.name == "ours_fairness_off":
            options = options.with_(fairness_weight=0.0, starved_bonus=0.0)
        planned = production.plan_production_round(
            view.artisans,
            view.jobs,
            options=options,
            rng=self.rng,
            models=self.models or None,
            effective_capacity=view.effective_capacity,
            income_cents=view.income_cents,
            starved=view.starved,
            excluded=view.excluded,
        )
        self.offered = _what_ours_knew(planned)
        return [(lot.job_id, lot.artisan_id, lot.quantity) for lot in planned.lots]

    def _optimised(self, view: RoundView, hidden: Hidden | None) -> list[tuple[int, int, int]]:
        if not view.jobs:
            return []
        scorer = None
        acceptance = None
        effective: Mapping[tuple[int, str], float] | None = view.effective_capacity
        matching = self.options.policy
        oracle_rank: FloatArray | None = None
        random_rank: FloatArray | None = None
        if self.name == "random":
            effective = None
            matching = MatchingPolicy(fairness_weight=0.0, overload_penalty=0.0, starved_bonus=0.0)

            def scorer(frames: Frames, pairs: Pairs) -> FloatArray:
                return self.rng.uniform(0.05, 1.0, len(pairs))

            random_rank = self.rng.uniform(0.0, 1.0, len(view.artisans))

        else:
            if hidden is None:
                raise ValueError(f"the {self.name} needs the hidden truth")
            world = hidden.truth
            queue = hidden.queue
            truth = world.artisans
            who = np.asarray([a.artisan_id - 1 for a in view.artisans], dtype=np.int64)
            oracle_rank = truth.accept[who] * truth.reliability[who] * truth.qc_pass[who]

            effective = {
                (a.artisan_id, s): float(truth.true_capacity[a.artisan_id - 1])
                for a in view.artisans
                for s in a.weekly_capacity
            }

            def scorer(frames: Frames, pairs: Pairs) -> FloatArray:
                index = frames.artisans.ids[pairs.artisan] - 1
                due = np.asarray(
                    [world.jobs[int(i) - 1].due_week for i in frames.jobs.ids[pairs.job]],
                    dtype=np.int64,
                )
                ahead = np.asarray(
                    [
                        sum(left for d, left in queue.get(int(a), ()) if d <= int(due_week))
                        for a, due_week in zip(index, due, strict=True)
                    ],
                    dtype=np.float64,
                )
                skill = frames.jobs.skill[pairs.job]
                room = np.maximum(
                    frames.artisans.capacity[pairs.artisan, skill]
                    - frames.artisans.load[pairs.artisan, skill],
                    1.0,
                )
                lot = np.minimum(frames.jobs.quantity[pairs.job], room)
                on_time = world.on_time_probability(index, ahead, lot, due - view.week)
                product: FloatArray = truth.accept[index] * on_time * truth.qc_pass[index]
                return product

            def acceptance(frames: Frames, pairs: Pairs) -> FloatArray:
                chance: FloatArray = truth.accept[frames.artisans.ids[pairs.artisan] - 1]
                return chance

        counts = OutcomeCounts.of(
            offers=[a.offers for a in view.artisans],
            accepted=[a.accepted for a in view.artisans],
            deliveries=[a.deliveries for a in view.artisans],
            on_time=[a.on_time for a in view.artisans],
            reviewed=[a.pieces_reviewed for a in view.artisans],
            passed=[a.pieces_passed for a in view.artisans],
        )
        planned = plan_round(
            view.artisans,
            view.jobs,
            rng=self.rng,
            priors=OutcomePriors.pooled(counts),
            models=self.models or None,
            policy=matching,
            min_lot=self.options.min_lot,
            max_splits=self.options.max_splits,
            per_job=(
                self.options.per_job
                if self.name == "random"
                else ORACLE_PER_JOB
                if len(view.artisans) > 4 * ORACLE_PER_JOB
                else None
            ),
            rank=oracle_rank if self.name == "oracle" else random_rank,
            effective_capacity=effective,
            income_cents=view.income_cents,
            starved=view.starved,
            scorer=scorer,
            excluded=view.excluded,
            acceptance=acceptance,
        )
        return [(lot.job_id, lot.artisan_id, lot.quantity) for lot in planned.lots]

    def _fill_in_order(
        self, view: RoundView, order_for: dict[str, list[ArtisanStats]], rotate: bool
    ) -> list[tuple[int, int, int]]:
        left = {
            (a.artisan_id, s): c - a.load_this_week.get(s, 0)
            for a in view.artisans
            for s, c in a.weekly_capacity.items()
        }
        lots: list[tuple[int, int, int]] = []
        for job in sorted(view.jobs, key=lambda j: (j.slack_days, j.job_id)):
            pool = order_for.get(job.skill, [])
            if not pool:
                continue
            start = self.pointer.get(job.skill, 0) if rotate else 0
            need = min(self.options.min_lot, job.quantity)
            free, splits = job.quantity, 0
            for step in range(len(pool)):
                if free <= 0 or splits >= self.options.max_splits:
                    break
                artisan = pool[(start + step) % len(pool)]
                key = (artisan.artisan_id, job.skill)
                if (artisan.artisan_id, job.job_id) in view.excluded:
                    continue
                q = min(free, left.get(key, 0))
                if q < need:
                    continue
                lots.append((job.job_id, artisan.artisan_id, q))
                left[key] -= q
                free -= q
                splits += 1
                if rotate:
                    self.pointer[job.skill] = (start + step + 1) % len(pool)
        return lots

    def _round_robin(self, view: RoundView) -> list[tuple[int, int, int]]:
        order: dict[str, list[ArtisanStats]] = {}
        for a in sorted(view.artisans, key=lambda a: a.artisan_id):
            for skill in a.weekly_capacity:
                order.setdefault(skill, []).append(a)
        return self._fill_in_order(view, order, rotate=True)

    def _greedy(self, view: RoundView) -> list[tuple[int, int, int]]:
        counts = OutcomeCounts.of(
            offers=[a.offers for a in view.artisans] or [0],
            accepted=[a.accepted for a in view.artisans] or [0],
            deliveries=[a.deliveries for a in view.artisans] or [0],
            on_time=[a.on_time for a in view.artisans] or [0],
            reviewed=[a.pieces_reviewed for a in view.artisans] or [0],
            passed=[a.pieces_passed for a in view.artisans] or [0],
        )
        rating = OutcomePriors.pooled(counts).expected_good_share(counts)
        ranked = sorted(
            range(len(view.artisans)), key=lambda i: (-rating[i], view.artisans[i].artisan_id)
        )
        order: dict[str, list[ArtisanStats]] = {}
        for i in ranked:
            for skill in view.artisans[i].weekly_capacity:
                order.setdefault(skill, []).append(view.artisans[i])
        return self._fill_in_order(view, order, rotate=False)


def _what_ours_knew(planned: RoundPlan) -> dict[tuple[int, int], Offered]:
    """Per planned lot: the features and the estimates (no exploration) of its pair."""
    scores = planned.scores
    if scores.features is None:
        return {}
    frames, pairs, plan = planned.frames, planned.pairs, planned.plan
    row_of_pair = planned.rows.row_of_pair
    index = {
        (int(j), int(r)): p for p, (j, r) in enumerate(zip(pairs.job, row_of_pair, strict=True))
    }
    known: dict[tuple[int, int], Offered] = {}
    for j, row in zip(plan.job.tolist(), plan.artisan.tolist(), strict=True):
        p = index[(j, row)]
        key = (int(frames.jobs.ids[j]), int(frames.artisans.ids[pairs.artisan[p]]))
        known[key] = Offered(
            features=scores.features[p],
            expected={o: float(scores.expected[o][p]) for o in OUTCOMES},
        )
    return known
