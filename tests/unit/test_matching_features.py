"""Features per (artisan, job) pair, eligibility and candidate sparsification."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching.features import (
    FEATURE_NAMES,
    N_FEATURES,
    ArtisanStats,
    JobSpec,
    Pairs,
    build_frames,
    candidate_pairs,
    eligible_pairs,
    pair_features,
)
from matching.priors import OutcomePriors


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


VETERAN = ArtisanStats(
    artisan_id=7,
    area="Kibera",
    weekly_capacity={"beading": 40, "brass": 10},
    load_this_week={"beading": 10},
    pieces_by_component={"BEAD-STRAND": 99, "HORN-PENDANT": 5},
    pieces_by_skill={"beading": 150},
    offers=20,
    accepted=18,
    deliveries=15,
    on_time=12,
    pieces_reviewed=300,
    pieces_passed=285,
    median_response_hours=3.0,
    days_since_last_work=6.0,
)
NEWCOMER = ArtisanStats(artisan_id=8, area="Mathare", weekly_capacity={"beading": 20})
BEADS = JobSpec(
    job_id=1,
    component="BEAD-STRAND",
    skill="beading",
    quantity=60,
    piece_rate_cents=2_500,
    slack_days=10.0,
    area="Kibera",
)


def features_of(
    artisans: list[ArtisanStats], jobs: list[JobSpec]
) -> dict[tuple[int, int], np.ndarray]:
    frames = build_frames(artisans, jobs)
    pairs = eligible_pairs(frames.artisans, frames.jobs)
    x = pair_features(frames, pairs)
    ids = zip(
        frames.artisans.ids[pairs.artisan].tolist(),
        frames.jobs.ids[pairs.job].tolist(),
        strict=True,
    )
    return {pair: x[i] for i, pair in enumerate(ids)}


def test_the_feature_vector_has_the_documented_columns_for_an_experienced_artisan() -> None:
    x = features_of([VETERAN], [BEADS])[(7, 1)]
    priors = OutcomePriors()

    assert x.shape == (N_FEATURES,)
    assert x[column("component_experience")] == pytest.approx(math.log1p(99))
    assert x[column("skill_experience")] == pytest.approx(math.log1p(150))
    assert x[column("acceptance_rate")] == pytest.approx((18 + priors.accept.alpha) / (20 + 4))
    assert x[column("on_time_rate")] == pytest.approx((12 + priors.on_time.alpha) / (15 + 4))
    assert x[column("qc_pass_rate")] == pytest.approx((285 + priors.qc_pass.alpha) / (300 + 10))
    assert x[column("history_volume")] == pytest.approx(math.log1p(20))
    assert x[column("response_hours")] == pytest.approx(math.log1p(3.0))
    assert x[column("load_ratio")] == pytest.approx(10 / 40)
    assert x[column("days_since_work")] == pytest.approx(math.log1p(6.0))
    assert x[column("never_worked")] == 0.0
    assert x[column("same_area")] == 1.0
    assert x[column("lot_size")] == pytest.approx(math.log1p(40))  # lot capped at capacity
    assert x[column("lot_vs_capacity")] == pytest.approx(60 / 40)
    assert x[column("piece_rate")] == pytest.approx(math.log(2_500))
    assert x[column("slack_days")] == pytest.approx(10.0)
    # The 10 pieces already queued come first: 50 pieces at 40 a week take 8.75 days.
    assert x[column("slack_after_work")] == pytest.approx(10.0 - 7.0 * (10 + 40) / 40)


def test_a_newcomer_shows_the_prior_rates_not_zero() -> None:
    x = features_of([NEWCOMER], [BEADS])[(8, 1)]
    priors = OutcomePriors()

    assert x[column("component_experience")] == 0.0
    assert x[column("acceptance_rate")] == pytest.approx(priors.accept.mean)
    assert x[column("on_time_rate")] == pytest.approx(priors.on_time.mean)
    assert x[column("qc_pass_rate")] == pytest.approx(priors.qc_pass.mean)
    assert x[column("never_worked")] == 1.0
    assert x[column("days_since_work")] == pytest.approx(math.log1p(365))
    assert x[column("response_hours")] == pytest.approx(math.log1p(24))
    assert x[column("same_area")] == 0.0


def test_experience_counts_only_the_jobs_own_component() -> None:
    pendant = JobSpec(2, "HORN-PENDANT", "beading", 10, 4_000, 3.0)
    other = JobSpec(3, "NEW-THING", "beading", 10, 4_000, 3.0)
    x = features_of([VETERAN], [BEADS, pendant, other])

    assert x[(7, 1)][column("component_experience")] == pytest.approx(math.log1p(99))
    assert x[(7, 2)][column("component_experience")] == pytest.approx(math.log1p(5))
    assert x[(7, 3)][column("component_experience")] == 0.0


def test_only_available_artisans_with_the_skill_and_room_this_week_are_eligible() -> None:
    artisans = [
        ArtisanStats(1, {"beading": 20}),
        ArtisanStats(2, {"brass": 20}),  # wrong skill
        ArtisanStats(3, {"beading": 20}, available=False),  # paused or opted out
        ArtisanStats(4, {"beading": 20}, load_this_week={"beading": 20}),  # week is full
        ArtisanStats(5, {"beading": 0}),  # skill declared with no capacity
        ArtisanStats(6, {"beading": 5, "brass": 5}),
    ]
    jobs = [BEADS, JobSpec(9, "HOOK", "brass", 10, 1_000, 5.0)]

    assert set(features_of(artisans, jobs)) == {(1, 1), (6, 1), (2, 9), (6, 9)}


def test_pairs_are_sparsified_to_about_per_job_artisans_yet_stay_eligible() -> None:
    rng = np.random.default_rng(0)
    artisans = [
        ArtisanStats(i, {"beading": int(rng.integers(10, 40))}, available=bool(i % 7))
        for i in range(300)
    ]
    jobs = [
        JobSpec(1000 + j, "BEAD", "beading", int(rng.integers(5, 60)), 900, float(j % 9))
        for j in range(80)
    ]
    frames = build_frames(artisans, jobs)
    every = eligible_pairs(frames.artisans, frames.jobs)

    pairs = candidate_pairs(frames.artisans, frames.jobs, rank=rng.random(300), per_job=12)

    per_job = np.bincount(pairs.job, minlength=80)
    assert per_job.min() >= 12
    assert per_job.max() <= 48
    everything = set(zip(every.artisan.tolist(), every.job.tolist(), strict=True))
    assert set(zip(pairs.artisan.tolist(), pairs.job.tolist(), strict=True)) <= everything
    assert len(pairs) < len(every) / 5


def test_sparsified_bands_cover_the_whole_pool_when_demand_exceeds_supply() -> None:
    artisans = [ArtisanStats(i, {"beading": 10}) for i in range(100)]
    jobs = [JobSpec(j, "BEAD", "beading", 30, 900, float(j)) for j in range(60)]  # 1,800 > 1,000
    frames = build_frames(artisans, jobs)

    pairs = candidate_pairs(frames.artisans, frames.jobs, rank=np.arange(100.0), per_job=8)

    assert set(pairs.artisan.tolist()) == set(range(100))


def test_the_most_urgent_job_sees_the_best_ranked_artisans() -> None:
    artisans = [ArtisanStats(i, {"beading": 10}) for i in range(100)]
    jobs = [JobSpec(j, "BEAD", "beading", 10, 900, float(20 - j)) for j in range(20)]
    frames = build_frames(artisans, jobs)
    rank = np.arange(100.0)  # artisan 99 ranks first

    pairs = candidate_pairs(frames.artisans, frames.jobs, rank=rank, per_job=8)

    most_urgent = int(np.flatnonzero(frames.jobs.ids == 19)[0])
    assert 99 in pairs.artisan[pairs.job == most_urgent].tolist()


def test_jobs_with_no_eligible_artisan_get_no_pairs() -> None:
    frames = build_frames([ArtisanStats(1, {"brass": 10})], [BEADS])

    pairs = eligible_pairs(frames.artisans, frames.jobs)

    assert len(pairs) == 0
    assert pair_features(frames, pairs).shape == (0, N_FEATURES)


def test_a_job_with_no_pieces_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="job 5 has quantity 0"):
        build_frames([VETERAN], [JobSpec(5, "BEAD", "beading", 0, 900, 1.0)])


def test_features_for_many_pairs_match_features_computed_one_pair_at_a_time() -> None:
    rng = np.random.default_rng(4)
    artisans = [
        ArtisanStats(
            i,
            {"beading": 30, "brass": 15},
            area=["Kibera", "Mathare", None][i % 3],
            pieces_by_component={"BEAD": int(rng.integers(0, 50))},
            offers=int(rng.integers(0, 30)),
            days_since_last_work=None if i % 4 == 0 else float(rng.integers(0, 40)),
        )
        for i in range(30)
    ]
    jobs = [
        JobSpec(j, ["BEAD", "HOOK"][j % 2], ["beading", "brass"][j % 2], 25, 700, 4.0, "Kibera")
        for j in range(6)
    ]
    frames = build_frames(artisans, jobs)
    pairs = eligible_pairs(frames.artisans, frames.jobs)
    together = pair_features(frames, pairs)

    for i in range(0, len(pairs), 17):
        one = Pairs(pairs.artisan[i : i + 1], pairs.job[i : i + 1])
        np.testing.assert_array_equal(pair_features(frames, one)[0], together[i])


def test_starved_artisans_at_the_back_of_the_ranking_still_get_candidate_pairs() -> None:
    artisans = [ArtisanStats(i, {"beading": 40}) for i in range(200)]
    jobs = [JobSpec(j, "BEAD", "beading", 30, 900, float(j)) for j in range(20)]  # 600 of 8,000
    frames = build_frames(artisans, jobs)
    rank = np.arange(200.0)[::-1].copy()  # artisan 0 ranks first, 199 last
    starved = np.zeros(200, dtype=np.bool_)
    starved[[150, 180, 199]] = True

    plain = candidate_pairs(frames.artisans, frames.jobs, rank=rank, per_job=8)
    reserved = candidate_pairs(frames.artisans, frames.jobs, rank=rank, per_job=8, reserved=starved)

    assert not {150, 180, 199} & set(plain.artisan.tolist())
    for a in (150, 180, 199):
        assert np.count_nonzero(reserved.artisan == a) == 3
    keys = reserved.job * 200 + reserved.artisan
    assert np.unique(keys).size == keys.size  # no pair twice
    assert set(zip(plain.artisan.tolist(), plain.job.tolist(), strict=True)) <= set(
        zip(reserved.artisan.tolist(), reserved.job.tolist(), strict=True)
    )


def test_bands_are_sized_on_learned_capacity_so_optimistic_declarations_do_not_shorten_them() -> (
    None
):
    artisans = [ArtisanStats(i, {"beading": 100}) for i in range(100)]
    jobs = [JobSpec(j, "BEAD", "beading", 50, 900, float(j)) for j in range(40)]  # 2,000 pieces
    learned = {(i, "beading"): 20.0 for i in range(100)}  # they really make 20 a week
    declared = build_frames(artisans, jobs)
    real = build_frames(artisans, jobs, effective_capacity=learned)
    rank = np.arange(100.0)[::-1].copy()

    on_declared = candidate_pairs(declared.artisans, declared.jobs, rank=rank, per_job=8)
    on_learned = candidate_pairs(real.artisans, real.jobs, rank=rank, per_job=8)

    assert len(set(on_declared.artisan.tolist())) <= 30  # 2,000 / 100 = 20 artisans reached
    assert len(set(on_learned.artisan.tolist())) == 100  # 2,000 / 20 = every artisan
