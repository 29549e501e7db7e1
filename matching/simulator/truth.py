"""Hidden truth and the shared random streams of one simulated factory (one seed).

Everything random that does not depend on the policy is drawn here, once per seed: who the
artisans are, when newcomers join, what is ordered when, and the uniform numbers that decide
every outcome. Outcomes are looked up by (week, round, artisan, k-th offer to them that round)
and (week, artisan, k-th lot they finish that week), so two policies that make the same offer
see the same answer: the comparison measures the policies, not the dice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matching.simulator.world import World

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_PER_SLOT = 32  # offers to one artisan in one round, or lots they finish in one week


@dataclass(frozen=True, slots=True)
class Artisans:
    """The hidden truth about every artisan who will ever join (index = artisan id - 1)."""

    skill: IntArray
    area: IntArray
    declared: IntArray
    true_capacity: IntArray
    accept: FloatArray
    reliability: FloatArray
    qc_pass: FloatArray
    joins: IntArray  # week they join; 0 for the founding workshops

    @property
    def size(self) -> int:
        return int(self.skill.shape[0])


@dataclass(frozen=True, slots=True)
class OrderedJob:
    job_id: int
    week: int
    skill: int
    component: int
    quantity: int
    due_week: int
    piece_rate_cents: int


@dataclass(frozen=True, slots=True)
class Truth:
    world: World
    load: float
    seed: int
    artisans: Artisans
    piece_rate: IntArray  # per (skill * components_per_skill + component)
    jobs: list[OrderedJob]
    accept_u: FloatArray  # (weeks, rounds, artisans, MAX_PER_SLOT)
    slip_u: FloatArray  # (weeks + drain, artisans, MAX_PER_SLOT)
    qc_u: FloatArray  # (weeks + drain, artisans, MAX_PER_SLOT)
    #: when each artisan answers a round's offers (their order matters when a job is over-offered)
    answer_u: FloatArray  # (weeks, rounds, artisans)

    def active(self, week: int) -> NDArray[np.bool_]:
        joined: NDArray[np.bool_] = self.artisans.joins <= week
        return joined

    def on_time_probability(
        self,
        artisan: IntArray,
        queued_ahead: FloatArray,
        lot: FloatArray,
        weeks_to_due: IntArray,
    ) -> FloatArray:
        """The true P(on time) of a lot accepted now, in closed form from the engine's rules.

        An artisan works earliest-due first at their true capacity, starting this week: the
        ``queued_ahead`` pieces (due no later than this lot) and then the lot are finished
        ``k = ceil((queued_ahead + lot) / capacity) - 1`` weeks from now. A finished lot is held
        up one week with probability 1 - reliability. So it is on time for certain if it is
        finished before its due week, with probability ``reliability`` if finished in it, and
        never if finished after. This is what the oracle plugs into the optimiser: on-time
        depends on the queue, exactly as in the world.
        """
        capacity = self.artisans.true_capacity[artisan].astype(np.float64)
        k = np.ceil((np.asarray(queued_ahead) + np.asarray(lot)) / capacity) - 1.0
        due = np.asarray(weeks_to_due, dtype=np.float64)
        p: FloatArray = np.where(
            k < due, 1.0, np.where(k == due, self.artisans.reliability[artisan], 0.0)
        )
        return p


def draw_truth(world: World, *, load: float, seed: int) -> Truth:
    rng = np.random.default_rng([seed, 7_919])
    founders = world.artisans
    newcomers = int(rng.poisson(world.newcomers_per_week * max(world.weeks - 1, 0)))
    n = founders + newcomers
    n_skills = len(world.skills)
    joins = np.r_[
        np.zeros(founders, dtype=np.int64),
        np.sort(rng.integers(1, max(world.weeks, 2), newcomers)),
    ].astype(np.int64)
    declared = rng.integers(world.declared_capacity[0], world.declared_capacity[1] + 1, n)
    optimism = rng.uniform(world.capacity_optimism[0], world.capacity_optimism[1], n)
    low, high = world.qc_pass_range
    artisans = Artisans(
        skill=rng.integers(0, n_skills, n).astype(np.int64),
        area=rng.integers(0, 6, n).astype(np.int64),
        declared=declared.astype(np.int64),
        true_capacity=np.maximum(np.rint(declared * optimism), 1).astype(np.int64),
        accept=rng.beta(*world.acceptance, n),
        reliability=rng.beta(*world.reliability, n),
        qc_pass=low + (high - low) * rng.beta(*world.qc_skill, n),
        joins=joins,
    )
    n_components = n_skills * world.components_per_skill
    piece_rate = rng.integers(
        world.piece_rate_cents[0], world.piece_rate_cents[1] + 1, n_components
    )

    jobs: list[OrderedJob] = []
    for week in range(world.weeks):
        active = joins <= week
        for skill in range(n_skills):
            demand = load * float(declared[active & (artisans.skill == skill)].sum())
            ordered = 0
            while ordered < demand:
                quantity = int(rng.integers(world.job_size[0], world.job_size[1] + 1))
                quantity = min(quantity, max(round(demand - ordered), world.job_size[0]))
                component = skill * world.components_per_skill + int(
                    rng.integers(world.components_per_skill)
                )
                jobs.append(
                    OrderedJob(
                        job_id=len(jobs) + 1,
                        week=week,
                        skill=skill,
                        component=component,
                        quantity=quantity,
                        due_week=week
                        + int(rng.integers(world.due_weeks[0], world.due_weeks[1] + 1)),
                        piece_rate_cents=int(piece_rate[component]),
                    )
                )
                ordered += quantity
    horizon = world.weeks + world.drain_weeks
    outcomes = np.random.default_rng([seed, 104_729])
    return Truth(
        world=world,
        load=load,
        seed=seed,
        artisans=artisans,
        piece_rate=piece_rate.astype(np.int64),
        jobs=jobs,
        accept_u=outcomes.random((world.weeks, world.rounds_per_week, n, MAX_PER_SLOT)),
        slip_u=outcomes.random((horizon, n, MAX_PER_SLOT)),
        qc_u=outcomes.random((horizon, n, MAX_PER_SLOT)),
        # A stream of its own, so adding it left the other outcome streams as they were.
        answer_u=np.random.default_rng([seed, 15_485_863]).random(
            (world.weeks, world.rounds_per_week, n)
        ),
    )
