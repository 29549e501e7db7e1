"""Cover offers: extra offers on spare capacity, so a job fills in one round despite declines.

Offers are declined or lapse often (four in ten in the default simulated world), and a decline
used to wait for the next round before its pieces went out again: three rounds left about one
piece in ten of a new order unplaced. After the optimiser has planned the round's *firm* lots
(never more than a job has left), this pass adds *cover*: more offers of the same job to the next
best candidates, on capacity nobody else was planned to use, until the acceptances expected from
all the job's open offers reach ``margin`` times its untaken pieces (by default, the pieces
themselves). Because it only ever uses
what is left after the firm plan, cover never takes capacity away from another job's firm lots:
under high load there is little spare capacity and little cover, under low load there is plenty.

The first artisans to accept take the pieces; when a job fills, its other open offers are
withdrawn and their artisans told (``domain.services.offers``). A job's open offers never hold
more than ``over_offer`` times its untaken pieces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from domain.services.offers import open_offer_limit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Cover until the expected acceptances equal the job's untaken pieces. Measured in
#: bench/bench_simulator.py: a margin of 1.15 or 1.25 filled no more within three rounds (99.2-99.5%
#: either way at 50% load) but withdrew more offers (16% against 14%) and scored lower at 80%.
DEFAULT_MARGIN = 1.0
#: A pair whose chance of acceptance is unknown or zero still counts this much, so one cover lot
#: cannot be sized to infinity.
MIN_ACCEPT = 0.05


@dataclass(frozen=True, slots=True)
class CoverJobs:
    """Per job (optimiser job index): pieces nobody has taken, pieces in open offers, priority."""

    quantity: IntArray
    open_offered: IntArray
    priority: FloatArray
    ids: IntArray  # tie-break, so the order of jobs is stable


@dataclass(frozen=True, slots=True)
class CoverPairs:
    """Candidate pairs as the optimiser saw them: job index, capacity row, score, P(accept)."""

    job: IntArray
    row: IntArray
    score: FloatArray
    accept: FloatArray


@dataclass(frozen=True, slots=True)
class CoverLots:
    pair: IntArray  # index into the candidate pairs
    quantity: IntArray


def cover_lots(
    jobs: CoverJobs,
    pairs: CoverPairs,
    *,
    firm_pair: IntArray,
    firm_quantity: IntArray,
    spare: IntArray,
    min_lot: int,
    max_lots: int,
    over_offer: float,
    margin: float = DEFAULT_MARGIN,
) -> CoverLots:
    """Cover lots for every job whose open and firm offers are not expected to fill it.

    ``firm_pair``/``firm_quantity`` are the round's firm lots (pair index, pieces); ``spare`` is
    each capacity row's effective capacity left after them. Jobs are covered most urgent first;
    within a job, candidates by score, skipping artisans who already have a firm lot of it. A
    cover lot is at least the job's minimum lot (or everything it has left, when smaller) and
    never more than the job's untaken pieces.
    """
    if over_offer <= 1.0 or pairs.job.size == 0:
        return CoverLots(np.zeros(0, np.int64), np.zeros(0, np.int64))
    n_jobs = jobs.quantity.size
    accept = np.clip(np.asarray(pairs.accept, dtype=np.float64), MIN_ACCEPT, 1.0)
    firm_job = pairs.job[firm_pair]
    expected: FloatArray = np.bincount(
        firm_job, weights=accept[firm_pair] * firm_quantity, minlength=n_jobs
    ).astype(np.float64)
    offered = np.bincount(firm_job, weights=firm_quantity, minlength=n_jobs).astype(np.int64)
    # Open offers went to candidates like these: count them at the job's mean chance.
    count = np.bincount(pairs.job, minlength=n_jobs)
    mean_accept = np.bincount(pairs.job, weights=accept, minlength=n_jobs) / np.maximum(count, 1)
    expected += mean_accept * jobs.open_offered
    has_firm = set(zip(firm_job.tolist(), pairs.row[firm_pair].tolist(), strict=True))

    useful = np.flatnonzero(pairs.score > 0)
    by_job = useful[np.lexsort((-pairs.score[useful], pairs.job[useful]))]
    starts = np.searchsorted(pairs.job[by_job], np.arange(n_jobs + 1))
    spare = np.asarray(spare, dtype=np.int64).copy()
    chosen: list[int] = []
    pieces: list[int] = []
    for j in np.lexsort((jobs.ids, -jobs.priority)):
        untaken = int(jobs.quantity[j])
        goal = margin * untaken
        room = open_offer_limit(untaken, over_offer) - int(jobs.open_offered[j] + offered[j])
        smallest = min(min_lot, untaken)
        lots = 0
        for p in by_job[starts[j] : starts[j + 1]]:
            if expected[j] >= goal or room < smallest or lots >= max_lots:
                break
            row = int(pairs.row[p])
            if (int(j), row) in has_firm:
                continue
            wanted = math.ceil((goal - expected[j]) / accept[p])
            q = min(int(spare[row]), room, untaken, max(wanted, smallest))
            if q < smallest:
                continue
            chosen.append(int(p))
            pieces.append(q)
            spare[row] -= q
            room -= q
            expected[j] += accept[p] * q
            lots += 1
    return CoverLots(np.asarray(chosen, dtype=np.int64), np.asarray(pieces, dtype=np.int64))
