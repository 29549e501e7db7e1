"""Cover offers: extra offers of a job on spare capacity, so declines do not leave it short."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from matching.cover import CoverJobs, CoverPairs, cover_lots


def _jobs(quantity: list[int], open_offered: list[int] | None = None) -> CoverJobs:
    n = len(quantity)
    return CoverJobs(
        quantity=np.asarray(quantity, dtype=np.int64),
        open_offered=np.asarray(open_offered or [0] * n, dtype=np.int64),
        priority=np.ones(n),
        ids=np.arange(n, dtype=np.int64),
    )


def _pairs(job: list[int], row: list[int], score: list[float], accept: list[float]) -> CoverPairs:
    return CoverPairs(
        job=np.asarray(job, dtype=np.int64),
        row=np.asarray(row, dtype=np.int64),
        score=np.asarray(score, dtype=np.float64),
        accept=np.asarray(accept, dtype=np.float64),
    )


def _cover(
    jobs: CoverJobs,
    pairs: CoverPairs,
    *,
    firm: list[tuple[int, int]],
    spare: list[int],
    over_offer: float = 2.0,
    min_lot: int = 5,
    max_lots: int = 4,
) -> list[tuple[int, int]]:
    lots = cover_lots(
        jobs,
        pairs,
        firm_pair=np.asarray([p for p, _ in firm], dtype=np.int64),
        firm_quantity=np.asarray([q for _, q in firm], dtype=np.int64),
        spare=np.asarray(spare, dtype=np.int64),
        min_lot=min_lot,
        max_lots=max_lots,
        over_offer=over_offer,
    )
    return list(zip(lots.pair.tolist(), lots.quantity.tolist(), strict=True))


def test_a_firm_lot_likely_to_be_declined_is_covered_by_the_next_best_candidate() -> None:
    # Job of 20: pair 0 has a firm lot of 20 but accepts half the time; pair 1 is spare.
    pairs = _pairs([0, 0], [0, 1], [0.9, 0.8], [0.5, 0.5])
    assert _cover(_jobs([20]), pairs, firm=[(0, 20)], spare=[0, 40]) == [(1, 20)]


def test_sure_takers_need_no_cover() -> None:
    pairs = _pairs([0, 0], [0, 1], [0.9, 0.8], [1.0, 1.0])
    assert _cover(_jobs([20]), pairs, firm=[(0, 20)], spare=[0, 40]) == []


def test_without_over_offering_there_is_no_cover() -> None:
    pairs = _pairs([0, 0], [0, 1], [0.9, 0.8], [0.5, 0.5])
    assert _cover(_jobs([20]), pairs, firm=[(0, 20)], spare=[0, 40], over_offer=1.0) == []


def test_cover_uses_only_spare_capacity_and_the_minimum_lot() -> None:
    # Row 1 has 4 spare pieces (below the minimum lot of 5); row 2 has 6.
    pairs = _pairs([0, 0, 0], [0, 1, 2], [0.9, 0.8, 0.7], [0.5, 0.5, 0.5])
    assert _cover(_jobs([20]), pairs, firm=[(0, 20)], spare=[0, 4, 6]) == [(2, 6)]


def test_cover_stops_at_the_ratio_of_untaken_pieces() -> None:
    # 10 untaken, 12 already in open offers: at most 20 in all, so 8 more at most.
    pairs = _pairs([0, 0], [0, 1], [0.9, 0.8], [0.2, 0.2])
    assert _cover(_jobs([10], [12]), pairs, firm=[], spare=[30, 30]) == [(0, 8)]


def test_an_artisan_with_a_firm_lot_of_the_job_gets_no_second_offer_of_it() -> None:
    pairs = _pairs([0, 0], [0, 1], [0.9, 0.8], [0.5, 0.5])
    assert _cover(_jobs([20]), pairs, firm=[(0, 10), (1, 10)], spare=[40, 40]) == []


@given(data=st.data(), n_jobs=st.integers(1, 4), ratio=st.floats(1.0, 3.0))
def test_cover_never_breaks_capacity_the_ratio_or_the_minimum_lot(
    data: st.DataObject, n_jobs: int, ratio: float
) -> None:
    quantity = data.draw(st.lists(st.integers(1, 60), min_size=n_jobs, max_size=n_jobs))
    open_offered = [data.draw(st.integers(0, q)) for q in quantity]
    n_rows = data.draw(st.integers(1, 6))
    keys = data.draw(
        st.lists(
            st.tuples(st.integers(0, n_jobs - 1), st.integers(0, n_rows - 1)),
            unique=True,
            max_size=12,
        )
    )
    score = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(keys), max_size=len(keys)))
    accept = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(keys), max_size=len(keys)))
    spare = data.draw(st.lists(st.integers(0, 50), min_size=n_rows, max_size=n_rows))
    pairs = _pairs([j for j, _ in keys], [r for _, r in keys], score, accept)

    lots = _cover(
        _jobs(quantity, open_offered), pairs, firm=[], spare=spare, over_offer=ratio, min_lot=5
    )

    used = [0] * n_rows
    per_job = [0] * n_jobs
    for p, q in lots:
        job, row = keys[p]
        used[row] += q
        per_job[job] += q
        assert min(5, quantity[job]) <= q <= quantity[job]
    assert all(u <= s for u, s in zip(used, spare, strict=True))
    for j in range(n_jobs):
        if per_job[j]:
            assert open_offered[j] + per_job[j] <= math.floor(ratio * quantity[j] + 1e-9)
