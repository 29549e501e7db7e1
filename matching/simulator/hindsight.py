"""The hindsight bound: the best assignment of each week's orders with full knowledge of the
week's outcomes, solved offline by the production optimiser (not a policy that runs).

"Of oracle" is not a bound: the oracle is myopic (one round at a time), has to guess how each
offer is answered and pays for the fairness terms. This reference knows the answers: week by
week, every open job (ordered by then, not yet due, pieces left) against every active artisan of
its skill who says yes to one of their first four offers in one of the week's rounds (the
shared accept stream); a piece made this week is worth the true QC
pass rate, times the true reliability if the job is due this very week (it may be held up) and 1
if due later. Each artisan makes one week of their *true* capacity, and the same
:func:`~matching.optimiser.plan_assignment` (LP, repair, greedy fill; minimum lot and split limit
from the round options, urgency as in production) with no fairness terms and no overload penalty
chooses the lots; pieces not placed stay open for the next week until their due week.

The bound is the expected good pieces on time over the pieces ordered. It is generous (every
answer is known, work is made the week it is given, nothing waits in a queue) but it is still
solved a week at a time, so it is not a proof: shares above 100% are printed as measured.
"""

from __future__ import annotations

import numpy as np

from matching.optimiser import (
    ArtisanCapacity,
    Candidates,
    JobsToFill,
    MatchingPolicy,
    due_priority,
    plan_assignment,
    top_k_per_job,
)
from matching.simulator.truth import Truth

#: An artisan counts as willing this week if they say yes to any of their first this many offers
#: of any of the week's rounds (the shared accept stream).
ANSWERS_KNOWN = 4
#: In a crowded skill each job is offered to its best this many artisans (by value per piece).
TOP_PER_JOB = 48

#: The LP with nothing but value: no fairness, no overload cost (capacity is the true one).
VALUE_ONLY = MatchingPolicy(fairness_weight=0.0, starved_bonus=0.0, overload_penalty=0.0)


def hindsight_bound(truth: Truth) -> float:
    """Good pieces on time per piece ordered, with each week's outcomes known in advance."""
    world, art = truth.world, truth.artisans
    options = world.options
    ordered = sum(j.quantity for j in truth.jobs)
    if not ordered:
        return float("nan")
    left = np.asarray([j.quantity for j in truth.jobs], dtype=np.int64)
    good = 0.0
    for week in range(world.weeks + world.drain_weeks):
        open_ = [
            i for i, j in enumerate(truth.jobs) if j.week <= week <= j.due_week and left[i] > 0
        ]
        if not open_:
            continue
        active = np.flatnonzero(art.joins <= week)
        if week < world.weeks:
            answers = truth.accept_u[week, :, active, :ANSWERS_KNOWN]  # (active, rounds, k)
            says_yes = (answers < art.accept[active, None, None]).any(axis=(1, 2))
        else:  # no offer rounds in the drain weeks: what was accepted by then is all there is
            break
        for skill in {truth.jobs[i].skill for i in open_}:
            mine = [i for i in open_ if truth.jobs[i].skill == skill]
            pool = active[(art.skill[active] == skill) & says_yes]
            if pool.size == 0:
                continue
            job_index = np.repeat(np.arange(len(mine)), pool.size)
            artisan_index = np.tile(np.arange(pool.size), len(mine))
            due = np.asarray([truth.jobs[i].due_week for i in mine])
            a = pool[artisan_index]
            score = art.qc_pass[a] * np.where(due[job_index] > week, 1.0, art.reliability[a])
            if pool.size > 2 * TOP_PER_JOB:
                # A crowded skill: each job sees its best artisans, and as many more spread over
                # the pool (so capacity beyond the best few is still reachable).
                best = np.zeros(job_index.size, dtype=np.bool_)
                best[top_k_per_job(job_index, score, TOP_PER_JOB)] = True
                spread = (artisan_index - job_index * TOP_PER_JOB) % pool.size < TOP_PER_JOB
                keep = best | spread
                job_index, artisan_index, score = job_index[keep], artisan_index[keep], score[keep]
            plan = plan_assignment(
                JobsToFill.of(
                    ids=[truth.jobs[i].job_id for i in mine],
                    quantity=left[mine],
                    priority=due_priority(7.0 * (due - week) + 5.0),
                    min_lot=np.minimum(options.min_lot, left[mine]),
                    max_splits=np.full(len(mine), options.max_splits),
                ),
                ArtisanCapacity.of(
                    ids=pool + 1,
                    soft_capacity=art.true_capacity[pool],
                    hard_capacity=art.true_capacity[pool],
                    starved=np.zeros(pool.size, dtype=np.bool_),
                ),
                Candidates.of(job=job_index, artisan=artisan_index, score=score),
                VALUE_ONLY,
            )
            good += float(np.sum(plan.quantity * plan.score))
            np.subtract.at(left, np.asarray(mine)[plan.job], plan.quantity)
    return good / ordered
