"""P(on time) depends on the queue: the fallback factor and the simulator's hidden truth."""

from __future__ import annotations

import numpy as np
import pytest

from matching.features import FEATURE_NAMES
from matching.models import OutcomeModel
from matching.ontime import MONOTONIC, queue_factor, queue_on_time
from matching.simulator import World
from matching.simulator.truth import draw_truth


def test_the_queue_factor_is_even_odds_when_the_work_ends_on_the_due_date() -> None:
    assert queue_factor(0.0) == pytest.approx(0.5)


def test_the_queue_factor_falls_as_the_queue_eats_into_the_slack() -> None:
    days = np.linspace(-20, 20, 41)

    factor = queue_factor(days)

    assert np.all(np.diff(factor) > 0)
    assert factor[0] < 0.01
    assert factor[-1] > 0.99


def test_the_fallback_discounts_the_artisans_own_rate_by_the_queue() -> None:
    assert queue_on_time(0.9, 30.0) == pytest.approx(0.9, abs=1e-4)
    assert queue_on_time(0.9, -30.0) < 0.01


def test_the_worlds_on_time_is_certain_before_the_due_week_a_coin_in_it_and_lost_after() -> None:
    truth = draw_truth(World(artisans=3, newcomers_per_week=0.0, weeks=2), load=0.5, seed=1)
    artisan = np.zeros(3, dtype=np.int64)
    capacity = float(truth.artisans.true_capacity[0])
    reliability = truth.artisans.reliability[0]

    p = truth.on_time_probability(
        artisan,
        queued_ahead=np.asarray([0.0, capacity, 2 * capacity]),  # lot done this week, next, after
        lot=np.full(3, capacity),
        weeks_to_due=np.ones(3, dtype=np.int64),
    )

    assert p.tolist() == pytest.approx([1.0, reliability, 0.0])


def test_the_on_time_model_never_promises_more_for_a_longer_queue() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, len(FEATURE_NAMES)))
    after = FEATURE_NAMES.index("slack_after_work")
    y = (rng.random(600) < 1 / (1 + np.exp(-x[:, after] - rng.normal(size=600)))).astype(int)
    model = OutcomeModel("hgb", max_iter=60, monotonic_cst=MONOTONIC).fit(x, y)

    probe = np.repeat(x[:1], 41, axis=0)
    probe[:, after] = np.linspace(-4, 4, 41)  # less and less work ahead of the due date
    p = model.probability(probe)

    assert np.all(np.diff(p) >= -1e-12)
    assert p[-1] > p[0]


def test_the_on_time_model_says_no_more_than_queue_physics_beyond_its_training_queues() -> None:
    from matching.features import FEATURE_NAMES, ArtisanStats, JobSpec
    from matching.models import OutcomeModel
    from matching.ontime import MONOTONIC
    from matching.planning import plan_round

    rng = np.random.default_rng(0)
    column = FEATURE_NAMES.index("slack_after_work")
    x = rng.normal(0.0, 1.0, (400, len(FEATURE_NAMES)))
    x[:, column] = rng.uniform(0.0, 20.0, 400)  # trained on short queues only: all on time
    y = (rng.random(400) < 0.9).astype(np.int64)
    model = OutcomeModel("logistic", monotonic_cst=MONOTONIC).fit(x, y)
    # A queue of 300 pieces at 10 a week: far beyond anything in training.
    artisans = [ArtisanStats(1, {"beading": 400}, load_this_week={"beading": 300})]
    jobs = [JobSpec(7, "BEAD", "beading", 20, 900, 7.0)]

    planned = plan_round(
        artisans,
        jobs,
        rng=np.random.default_rng(1),
        models={"on_time": model},
        effective_capacity={(1, "beading"): 10.0},
        per_job=None,
    )

    features = planned.scores.features
    assert features is not None
    assert features[:, column].max() < model.feature_low_[column]
    assert model.probability(features)[0] > 0.5  # flat extrapolation says yes
    assert planned.scores.expected["on_time"][0] < 0.01  # physics: it cannot be on time
