"""The assignment optimiser: capacity, minimum lots, split limits, eligibility, priorities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.optimiser import (
    ArtisanCapacity,
    Candidates,
    JobsToFill,
    MatchingPolicy,
    Plan,
    due_priority,
    plan_assignment,
    rule_violations,
    top_k_per_job,
)

NO_FAIRNESS = MatchingPolicy(fairness_weight=0.0, starved_bonus=0.0)
GREEDY_ONLY = MatchingPolicy(time_limit_s=0.0)  # HiGHS stops at once: the fallback builds the plan


def jobs_of(*rows: tuple[int, int, float, int, int]) -> JobsToFill:
    """(id, quantity, priority, min lot, max splits) per job."""
    ids, quantity, priority, min_lot, splits = zip(*rows, strict=True)
    return JobsToFill.of(
        ids=ids, quantity=quantity, priority=priority, min_lot=min_lot, max_splits=splits
    )


def artisans_of(*rows: tuple[int, int, int, int]) -> ArtisanCapacity:
    """(id, soft capacity, hard capacity, income in cents) per artisan."""
    ids, soft, hard, income = zip(*rows, strict=True)
    return ArtisanCapacity.of(ids=ids, soft_capacity=soft, hard_capacity=hard, income_cents=income)


def candidates_of(*rows: tuple[int, int, float]) -> Candidates:
    """(job index, artisan index, score) per eligible pair."""
    job, artisan, score = zip(*rows, strict=True)
    return Candidates.of(job=job, artisan=artisan, score=score)


def lots_by_id(plan: Plan) -> dict[tuple[int, int], int]:
    return {(lot.job_id, lot.artisan_id): lot.quantity for lot in plan.lots}


def test_a_job_goes_to_the_best_scored_artisan_when_one_can_take_it_all() -> None:
    jobs = jobs_of((1, 20, 1.0, 5, 3))
    artisans = artisans_of((10, 30, 30, 0), (11, 30, 30, 0))
    plan = plan_assignment(jobs, artisans, candidates_of((0, 0, 0.6), (0, 1, 0.9)), NO_FAIRNESS)

    assert lots_by_id(plan) == {(1, 11): 20}
    assert plan.solver == "highs"
    assert plan.expected_good_pieces == pytest.approx(18.0)


def test_no_artisan_is_given_more_than_their_declared_capacity_left() -> None:
    jobs = jobs_of((1, 100, 2.0, 1, 10))
    artisans = artisans_of((10, 15, 15, 0), (11, 25, 25, 0), (12, 5, 5, 0))
    plan = plan_assignment(
        jobs, artisans, candidates_of((0, 0, 0.9), (0, 1, 0.9), (0, 2, 0.9)), NO_FAIRNESS
    )

    assert lots_by_id(plan) == {(1, 10): 15, (1, 11): 25, (1, 12): 5}


def test_an_artisan_goes_past_effective_capacity_only_when_a_piece_is_worth_the_penalty() -> None:
    artisans = artisans_of((10, 10, 30, 0))
    policy = MatchingPolicy(overload_penalty=0.5, fairness_weight=0.0)

    valuable = plan_assignment(
        jobs_of((1, 40, 1.0, 1, 1)), artisans, candidates_of((0, 0, 0.9)), policy
    )
    marginal = plan_assignment(
        jobs_of((1, 40, 1.0, 1, 1)), artisans, candidates_of((0, 0, 0.3)), policy
    )

    assert lots_by_id(valuable) == {
        (1, 10): 30
    }  # 0.9 a piece beats the 0.5 penalty: up to hard cap
    assert lots_by_id(marginal) == {
        (1, 10): 10
    }  # 0.3 a piece does not: stops at effective capacity


def test_every_lot_is_at_least_the_minimum_lot() -> None:
    jobs = jobs_of((1, 50, 1.0, 12, 5))
    # The second artisan has room for 8 pieces: below the minimum lot, so they get nothing.
    artisans = artisans_of((10, 30, 30, 0), (11, 8, 8, 0), (12, 30, 30, 0))
    plan = plan_assignment(
        jobs, artisans, candidates_of((0, 0, 0.9), (0, 1, 0.95), (0, 2, 0.5)), NO_FAIRNESS
    )

    assert lots_by_id(plan) == {(1, 10): 30, (1, 12): 20}


def test_a_remainder_smaller_than_the_minimum_lot_is_offered_whole() -> None:
    jobs = jobs_of((1, 4, 1.0, 10, 2))
    artisans = artisans_of((10, 30, 30, 0))

    plan = plan_assignment(jobs, artisans, candidates_of((0, 0, 0.8)), NO_FAIRNESS)

    assert lots_by_id(plan) == {(1, 10): 4}


def test_a_job_is_split_across_no_more_artisans_than_its_split_limit() -> None:
    jobs = jobs_of((1, 100, 1.0, 1, 3))
    artisans = artisans_of(*((10 + i, 20, 20, 0) for i in range(10)))
    candidates = candidates_of(*((0, i, 0.5 + 0.04 * i) for i in range(10)))

    plan = plan_assignment(jobs, artisans, candidates, NO_FAIRNESS)

    assert len(plan.lots) == 3
    assert lots_by_id(plan) == {(1, 19): 20, (1, 18): 20, (1, 17): 20}


def test_only_eligible_pairs_are_ever_used() -> None:
    # Artisan 11 is idle and has the best record, but is not a candidate for job 1 (wrong skill,
    # paused or opted out): they get nothing from it.
    jobs = jobs_of((1, 30, 1.0, 5, 3), (2, 10, 1.0, 5, 1))
    artisans = artisans_of((10, 10, 10, 0), (11, 50, 50, 0))
    plan = plan_assignment(jobs, artisans, candidates_of((0, 0, 0.5), (1, 1, 0.99)), NO_FAIRNESS)

    assert lots_by_id(plan) == {(1, 10): 10, (2, 11): 10}


def test_the_more_urgent_job_wins_an_artisan_both_want() -> None:
    jobs = jobs_of((1, 20, 1.1, 5, 1), (2, 20, 1.9, 5, 1))
    artisans = artisans_of((10, 20, 20, 0))

    plan = plan_assignment(jobs, artisans, candidates_of((0, 0, 0.9), (1, 0, 0.9)), NO_FAIRNESS)

    assert lots_by_id(plan) == {(2, 10): 20}


def test_the_fairness_term_gives_an_artisan_without_income_a_lot() -> None:
    jobs = jobs_of((1, 40, 1.0, 10, 2))
    artisans = artisans_of((10, 40, 40, 500_000), (11, 40, 40, 0))
    candidates = candidates_of((0, 0, 0.9), (0, 1, 0.8))

    unfair = plan_assignment(jobs, artisans, candidates, NO_FAIRNESS)
    fair = plan_assignment(
        jobs, artisans, candidates, MatchingPolicy(fairness_weight=0.3, fairness_band=10)
    )

    assert lots_by_id(unfair) == {(1, 10): 40}
    assert lots_by_id(fair) == {(1, 10): 30, (1, 11): 10}


def test_a_starved_artisan_gets_a_reserved_minimum_lot_even_against_a_far_better_score() -> None:
    jobs = jobs_of((1, 40, 1.0, 10, 2))
    candidates = candidates_of((0, 0, 0.95), (0, 1, 0.2))
    policy = MatchingPolicy(fairness_weight=0.0, fairness_band=10, starved_bonus=1.0)

    def artisans(starved: bool) -> ArtisanCapacity:
        return ArtisanCapacity.of(
            ids=[10, 11],
            soft_capacity=[40, 40],
            hard_capacity=[40, 40],
            income_cents=[500_000, 0],
            starved=[False, starved],
        )

    assert lots_by_id(plan_assignment(jobs, artisans(True), candidates, policy)) == {
        (1, 10): 30,
        (1, 11): 10,
    }
    assert lots_by_id(plan_assignment(jobs, artisans(False), candidates, policy)) == {(1, 10): 40}


def test_when_no_rule_binds_the_plan_reaches_the_linear_programmes_bound() -> None:
    rng = np.random.default_rng(3)
    jobs = JobsToFill.of(
        ids=np.arange(20),
        quantity=rng.integers(10, 60, 20),
        priority=due_priority(rng.uniform(0, 14, 20)),
        min_lot=np.ones(20),
        max_splits=np.full(20, 40),
    )
    artisans = ArtisanCapacity.of(
        ids=np.arange(40),
        soft_capacity=rng.integers(5, 30, 40),
        hard_capacity=np.full(40, 30),
        income_cents=rng.integers(0, 50_000, 40),
    )
    job, artisan = np.divmod(np.arange(800), 40)
    candidates = Candidates.of(job=job, artisan=artisan, score=rng.uniform(0.3, 0.95, 800))

    plan = plan_assignment(jobs, artisans, candidates)

    assert plan.bound is not None
    assert plan.objective == pytest.approx(plan.bound, rel=1e-9)


def test_an_artisan_with_no_room_for_a_minimum_lot_is_not_used_even_if_best() -> None:
    jobs = jobs_of((1, 30, 1.0, 10, 3))
    artisans = artisans_of((10, 9, 9, 0), (11, 40, 40, 0))

    plan = plan_assignment(jobs, artisans, candidates_of((0, 0, 0.99), (0, 1, 0.5)), NO_FAIRNESS)

    assert lots_by_id(plan) == {(1, 11): 30}


def test_an_empty_round_gives_an_empty_plan() -> None:
    jobs = jobs_of((1, 30, 1.0, 10, 3))
    artisans = artisans_of((10, 20, 20, 0))

    plan = plan_assignment(jobs, artisans, Candidates.of(job=[], artisan=[], score=[]))

    assert plan.lots == []
    assert plan.objective == 0.0


def test_candidates_pointing_outside_the_round_are_refused() -> None:
    jobs = jobs_of((1, 30, 1.0, 10, 3))
    artisans = artisans_of((10, 20, 20, 0))

    with pytest.raises(ValueError, match="artisan index outside"):
        plan_assignment(jobs, artisans, candidates_of((0, 3, 0.5)))


def test_rule_violations_names_each_broken_rule() -> None:
    jobs = jobs_of((1, 30, 1.0, 10, 1))
    artisans = artisans_of((10, 20, 20, 0), (11, 20, 20, 0))

    problems = rule_violations([(0, 0, 25), (0, 1, 8)], jobs, artisans)

    assert problems == [
        "job 1 was given 33 pieces but only 30 are open",
        "job 1 was split 2 ways; at most 1 allowed",
        "job 1 has a lot of 8 pieces, below its minimum lot of 10",
        "artisan 10 was given 25 pieces but has only 20 capacity left",
    ]


def test_top_k_per_job_keeps_each_jobs_best_candidates() -> None:
    job = np.array([0, 0, 0, 1, 1, 2])
    score = np.array([0.1, 0.9, 0.5, 0.3, 0.7, 0.2])

    assert top_k_per_job(job, score, 2).tolist() == [1, 2, 3, 4, 5]
    assert top_k_per_job(job, score, 1).tolist() == [1, 4, 5]


def test_due_priority_falls_as_the_due_date_moves_away_but_never_to_zero() -> None:
    priority = due_priority([-3.0, 0.0, 7.0, 70.0])

    assert priority.tolist() == pytest.approx([2.0, 2.0, 1.5, 1.0 + 1.0 / 11.0])
    assert np.all(np.diff(priority) <= 0)


@st.composite
def rounds(draw: st.DrawFn) -> tuple[JobsToFill, ArtisanCapacity, Candidates]:
    n_jobs = draw(st.integers(1, 6))
    n_artisans = draw(st.integers(1, 8))
    quantity = draw(st.lists(st.integers(0, 80), min_size=n_jobs, max_size=n_jobs))
    min_lot = draw(st.lists(st.integers(1, 30), min_size=n_jobs, max_size=n_jobs))
    splits = draw(st.lists(st.integers(1, 4), min_size=n_jobs, max_size=n_jobs))
    priority = draw(st.lists(st.floats(0.0, 2.0), min_size=n_jobs, max_size=n_jobs))
    hard = draw(st.lists(st.integers(0, 60), min_size=n_artisans, max_size=n_artisans))
    soft = [draw(st.integers(0, h + 10)) for h in hard]  # learned capacity may exceed declared
    income = draw(st.lists(st.integers(0, 100_000), min_size=n_artisans, max_size=n_artisans))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_jobs - 1), st.integers(0, n_artisans - 1), st.floats(0, 1)),
            max_size=30,
        )
    )
    jobs = JobsToFill.of(
        ids=range(100, 100 + n_jobs),
        quantity=quantity,
        priority=priority,
        min_lot=min_lot,
        max_splits=splits,
    )
    artisans = ArtisanCapacity.of(
        ids=range(200, 200 + n_artisans),
        soft_capacity=soft,
        hard_capacity=hard,
        income_cents=income,
    )
    candidates = Candidates.of(
        job=[p[0] for p in pairs], artisan=[p[1] for p in pairs], score=[p[2] for p in pairs]
    )
    return jobs, artisans, candidates


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(round_=rounds(), greedy=st.booleans(), fairness=st.floats(0.0, 1.0))
def test_no_plan_ever_breaks_capacity_quantity_split_or_minimum_lot_rules(
    round_: tuple[JobsToFill, ArtisanCapacity, Candidates], greedy: bool, fairness: float
) -> None:
    jobs, artisans, candidates = round_
    policy = MatchingPolicy(fairness_weight=fairness, time_limit_s=0.0 if greedy else 30.0)

    plan = plan_assignment(jobs, artisans, candidates, policy)

    lots = list(zip(plan.job.tolist(), plan.artisan.tolist(), plan.quantity.tolist(), strict=True))
    assert rule_violations(lots, jobs, artisans) == []
    assert all(q > 0 for _, _, q in lots)
    eligible = set(zip(candidates.job.tolist(), candidates.artisan.tolist(), strict=True))
    assert {(j, a) for j, a, _ in lots} <= eligible
    assert len({(j, a) for j, a, _ in lots}) == len(lots)  # one lot per pair


def test_the_greedy_fallback_still_respects_every_rule() -> None:
    jobs = jobs_of((1, 30, 1.5, 5, 2), (2, 20, 1.0, 5, 2))
    artisans = artisans_of((10, 20, 25, 0), (11, 20, 25, 0), (12, 20, 25, 0))
    candidates = candidates_of((0, 0, 0.9), (0, 1, 0.8), (1, 1, 0.7), (1, 2, 0.6))

    plan = plan_assignment(jobs, artisans, candidates, GREEDY_ONLY)

    assert plan.solver == "greedy"
    assert plan.bound is None
    lots = list(zip(plan.job.tolist(), plan.artisan.tolist(), plan.quantity.tolist(), strict=True))
    assert rule_violations(lots, jobs, artisans) == []
    assert plan.job_totals(jobs.size).tolist() == [30, 20]
