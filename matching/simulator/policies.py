"""The policies the simulator compares. Each turns one round's view into lots to offer.

- ``random``: random scores into the production optimiser (declared capacity, no fairness).
- ``round_robin``: per skill, artisans take turns in a fixed order.
- ``greedy``: jobs by due date, each to the best-rated artisans (smoothed reputation) first.
- ``ours``: the production round (:func:`matching.planning.plan_round`): Thompson-sampled Beta
  posteriors, learned effective capacity as a soft limit, the fairness term.
- ``oracle``: the hidden true P(accept) x P(on time) x P(QC pass) and true capacity, plugged into
  the same optimiser with the same fairness term: the real ceiling.

Every policy obeys the same rules: right skill, declared capacity left, minimum lot (or the
whole remainder when smaller), at most ``max_splits`` artisans per job in a round, and never an
artisan who already turned the job down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from matching.features import ArtisanStats, Frames, JobSpec, Pairs
from matching.optimiser import MatchingPolicy
from matching.planning import plan_round
from matching.priors import OutcomeCounts, OutcomePriors
from matching.simulator.truth import Truth

FloatArray = NDArray[np.float64]
POLICIES = ("random", "round_robin", "greedy", "ours", "oracle")


@dataclass(frozen=True, slots=True)
class RoundView:
    """What a policy may see in one round (the oracle alone also reads ``truth``)."""

    artisans: Sequence[ArtisanStats]
    jobs: Sequence[JobSpec]
    effective_capacity: Mapping[tuple[int, str], float]
    income_cents: Mapping[int, int]
    excluded: Collection[tuple[int, int]]
    min_lot: int
    max_splits: int
    truth: Truth
    skills: tuple[str, ...]


@dataclass
class Policy:
    name: str
    rng: np.random.Generator
    matching: MatchingPolicy
    pointer: dict[str, int] = field(default_factory=dict)

    def lots(self, view: RoundView) -> list[tuple[int, int, int]]:
        """(job id, artisan id, quantity) to offer."""
        if self.name == "round_robin":
            return self._round_robin(view)
        if self.name == "greedy":
            return self._greedy(view)
        if self.name in ("random", "ours", "oracle"):
            return self._optimised(view)
        raise ValueError(f"unknown policy {self.name!r}; choose from {', '.join(POLICIES)}")

    def _optimised(self, view: RoundView) -> list[tuple[int, int, int]]:
        if not view.jobs:
            return []
        scorer = None
        effective: Mapping[tuple[int, str], float] | None = view.effective_capacity
        matching = self.matching
        if self.name == "random":
            effective = None
            matching = MatchingPolicy(fairness_weight=0.0, overload_penalty=0.0)

            def scorer(frames: Frames, pairs: Pairs) -> FloatArray:
                return self.rng.uniform(0.05, 1.0, len(pairs))

        elif self.name == "oracle":
            truth = view.truth.artisans
            effective = {
                (a.artisan_id, s): float(truth.true_capacity[a.artisan_id - 1])
                for a in view.artisans
                for s in a.weekly_capacity
            }

            def scorer(frames: Frames, pairs: Pairs) -> FloatArray:
                index = frames.artisans.ids[pairs.artisan] - 1
                product: FloatArray = (
                    truth.accept[index] * truth.reliability[index] * truth.qc_pass[index]
                )
                return product

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
            policy=matching,
            min_lot=view.min_lot,
            max_splits=view.max_splits,
            per_job=None,
            effective_capacity=effective,
            income_cents=view.income_cents,
            scorer=scorer,
            excluded=view.excluded,
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
            need = min(view.min_lot, job.quantity)
            free, splits = job.quantity, 0
            for step in range(len(pool)):
                if free <= 0 or splits >= view.max_splits:
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
