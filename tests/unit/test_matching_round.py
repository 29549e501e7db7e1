"""A round's eligibility and capacity accounting, on plain values (no store)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.capacity import CapacityPrior, WeekOfWork, effective_capacity, population_realism
from matching.features import ArtisanStats, JobSpec
from matching.optimiser import MatchingPolicy
from matching.planning import plan_round

HORN, BEADS = "horn carving", "beadwork"


def artisan(artisan_id: int, **changes: object) -> ArtisanStats:
    values: dict[str, object] = {"artisan_id": artisan_id, "weekly_capacity": {HORN: 40}}
    values.update(changes)
    return ArtisanStats(**values)  # type: ignore[arg-type]


def job(job_id: int, quantity: int, *, skill: str = HORN, slack: float = 10.0) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        component=f"{skill}/pendant",
        skill=skill,
        quantity=quantity,
        piece_rate_cents=10_000,
        slack_days=slack,
    )


def offered(
    artisans: list[ArtisanStats], jobs: list[JobSpec], **options: object
) -> dict[tuple[int, int], int]:
    planned = plan_round(
        artisans,
        jobs,
        rng=np.random.default_rng(0),
        min_lot=options.pop("min_lot", 5),  # type: ignore[arg-type]
        max_splits=options.pop("max_splits", 4),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    lots: dict[tuple[int, int], int] = {}
    for lot in planned.lots:
        lots[(lot.artisan_id, lot.job_id)] = (
            lots.get((lot.artisan_id, lot.job_id), 0) + lot.quantity
        )
    return lots


def test_unavailable_artisans_are_never_planned_even_with_room() -> None:
    lots = offered([artisan(1, available=False), artisan(2)], [job(10, 30)])

    assert lots == {(2, 10): 30}


def test_an_artisan_without_the_skill_is_never_planned() -> None:
    lots = offered([artisan(1, weekly_capacity={BEADS: 500}), artisan(2)], [job(10, 30)])

    assert set(lots) == {(2, 10)}


def test_committed_pieces_count_against_declared_capacity() -> None:
    lots = offered([artisan(1, load_this_week={HORN: 35})], [job(10, 30)])

    assert lots == {(1, 10): 5}


def test_an_artisan_at_capacity_gets_nothing() -> None:
    lots = offered([artisan(1, load_this_week={HORN: 40})], [job(10, 30)])

    assert lots == {}


def test_capacity_is_per_skill_so_beadwork_load_leaves_horn_capacity_free() -> None:
    both = artisan(1, weekly_capacity={HORN: 20, BEADS: 20}, load_this_week={BEADS: 20})

    lots = offered([both], [job(10, 15), job(11, 15, skill=BEADS)])

    assert lots == {(1, 10): 15}


def test_an_excluded_pair_is_never_planned_and_the_job_goes_to_somebody_else() -> None:
    lots = offered([artisan(1), artisan(2)], [job(10, 30)], excluded={(1, 10)})

    assert lots == {(2, 10): 30}


def test_the_learned_effective_capacity_keeps_marginal_pieces_from_an_overloaded_artisan() -> None:
    # Effective capacity 10 of a declared 40; the penalty outweighs any piece's value.
    lots = offered(
        [artisan(1)],
        [job(10, 30)],
        effective_capacity={(1, HORN): 10.0},
        policy=MatchingPolicy(overload_penalty=5.0, fairness_weight=0.0),
    )

    assert lots == {(1, 10): 10}


def test_the_most_urgent_job_that_can_still_be_made_in_time_is_filled_first() -> None:
    lots = offered([artisan(1)], [job(10, 30, slack=30.0), job(11, 30, slack=9.0)])

    assert lots == {(1, 11): 30, (1, 10): 10}


def test_an_artisans_queue_makes_a_tight_job_go_to_somebody_with_room_instead() -> None:
    # Both have the same record; artisan 1 already has 70 of their 80 a week queued, so 10 more
    # pieces would be done in 7 days, after the job's due date in 5.
    busy = artisan(1, weekly_capacity={HORN: 80}, load_this_week={HORN: 70})
    lots = offered([busy, artisan(2)], [job(10, 10, slack=5.0)])

    assert lots == {(2, 10): 10}


def test_a_job_that_cannot_be_made_in_time_loses_to_one_that_can() -> None:
    # 40 pieces at 40 a week take 7 days: a job due tomorrow would be late whoever makes it.
    lots = offered([artisan(1)], [job(10, 40, slack=20.0), job(11, 40, slack=1.0)])

    assert lots == {(1, 10): 40}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacities=st.lists(st.integers(0, 60), min_size=1, max_size=6),
    loads=st.lists(st.integers(0, 60), min_size=6, max_size=6),
    quantities=st.lists(st.integers(1, 120), min_size=1, max_size=5),
    seed=st.integers(0, 1000),
)
def test_no_round_ever_exceeds_capacity_left_or_a_jobs_open_quantity(
    capacities: list[int], loads: list[int], quantities: list[int], seed: int
) -> None:
    artisans = [
        artisan(i + 1, weekly_capacity={HORN: c}, load_this_week={HORN: loads[i]})
        for i, c in enumerate(capacities)
    ]
    jobs = [job(100 + k, q, slack=float(k)) for k, q in enumerate(quantities)]
    planned = plan_round(artisans, jobs, rng=np.random.default_rng(seed), min_lot=5, max_splits=3)

    per_artisan: dict[int, int] = {}
    per_job: dict[int, list[int]] = {}
    for lot in planned.lots:
        per_artisan[lot.artisan_id] = per_artisan.get(lot.artisan_id, 0) + lot.quantity
        per_job.setdefault(lot.job_id, []).append(lot.quantity)
    for a in artisans:
        room = max(a.weekly_capacity[HORN] - a.load_this_week[HORN], 0)
        assert per_artisan.get(a.artisan_id, 0) <= room
    for j in jobs:
        assert sum(per_job.get(j.job_id, [])) <= j.quantity
        assert len(per_job.get(j.job_id, [])) <= 3


def test_with_no_evidence_effective_capacity_is_the_declared_capacity() -> None:
    assert effective_capacity(50, []) == 50


def test_weeks_the_artisan_kept_up_say_nothing_against_the_declaration() -> None:
    assert effective_capacity(50, [WeekOfWork(20, fell_behind=False)] * 5) == 50


def test_falling_behind_shrinks_effective_capacity_toward_what_was_made() -> None:
    stretched = [WeekOfWork(25, fell_behind=True)] * 6

    shrunk = effective_capacity(50, stretched, CapacityPrior(strength=2.0))

    assert shrunk == pytest.approx((2 * 50 + 6 * 25) / 8)
    assert 25 < shrunk < 50


def test_effective_capacity_never_falls_below_what_the_artisan_has_shown_they_can_make() -> None:
    weeks = [WeekOfWork(5, fell_behind=True)] * 10 + [WeekOfWork(30, fell_behind=False)]

    assert effective_capacity(40, weeks) == 30


def test_effective_capacity_never_exceeds_the_declaration() -> None:
    assert effective_capacity(40, [WeekOfWork(90, fell_behind=True)] * 3) == 40


def test_the_factorys_realism_sets_the_starting_point_for_artisans_without_evidence() -> None:
    others = [(50.0, [WeekOfWork(30, fell_behind=True)] * 20)]  # everyone makes 60% of declared

    realism = population_realism(others, pseudo_weeks=5.0)

    assert realism == pytest.approx((20 * 0.6 + 5) / 25)
    assert effective_capacity(40, [], realism=realism) == pytest.approx(40 * realism)
