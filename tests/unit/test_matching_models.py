"""Outcome models: calibration, scikit-learn conventions, blending, versions on disk, retraining."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from matching.features import ArtisanStats, JobSpec, Pairs, build_frames, pair_features
from matching.models import (
    Metrics,
    ModelKind,
    ModelRegistry,
    OutcomeModel,
    blend_with_prior,
    evaluate,
    expected_calibration_error,
    fit_best,
    predict_outcomes,
    retrain,
    score_pairs,
)
from matching.priors import OutcomePriors

TRAINED_AT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    """Logged on-time outcomes of lots, oldest first, with the features seen at offer time."""

    x: np.ndarray
    y: np.ndarray
    prior_p: np.ndarray  # each row's artisan's Beta posterior mean: the no-model baseline
    trials: np.ndarray

    def older(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:n], self.y[:n]

    def recent(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.x[n:], self.y[n:]


def on_time_history(seed: int, *, n_artisans: int = 300, n_lots: int = 16_000) -> History:
    """A synthetic workshop: hidden reliability, past counts drawn from it, and new lots whose
    lateness depends on reliability, how full the artisan's week is and the slack left."""
    rng = np.random.default_rng(seed)
    reliability = rng.beta(5.0, 2.0, n_artisans)
    capacity = rng.integers(10, 60, n_artisans)
    deliveries = np.where(rng.random(n_artisans) < 0.2, 0, rng.poisson(10, n_artisans))
    on_time = rng.binomial(deliveries, reliability)
    load = (rng.random(n_artisans) * capacity).astype(int)
    artisans = [
        ArtisanStats(
            artisan_id=i,
            weekly_capacity={"beading": int(capacity[i])},
            load_this_week={"beading": int(load[i])},
            deliveries=int(deliveries[i]),
            on_time=int(on_time[i]),
            days_since_last_work=None if deliveries[i] == 0 else float(rng.integers(0, 30)),
        )
        for i in range(n_artisans)
    ]
    jobs = [
        JobSpec(j, "BEAD", "beading", int(rng.integers(5, 80)), 800, float(rng.uniform(1, 21)))
        for j in range(n_lots)
    ]
    who = rng.integers(0, n_artisans, n_lots)
    frames = build_frames(artisans, jobs)
    pairs = Pairs(who.astype(np.int64), np.arange(n_lots, dtype=np.int64))
    x = pair_features(frames, pairs)

    lot = np.minimum([j.quantity for j in jobs], capacity[who])
    days_needed = 7.0 * lot / capacity[who]
    slack = np.array([j.slack_days for j in jobs])
    logit = (
        np.log(reliability[who] / (1 - reliability[who]))
        + 0.3 * np.clip(slack - days_needed, -8, 8)
        - 1.5 * load[who] / capacity[who]
    )
    y = (rng.random(n_lots) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    posterior = OutcomePriors().on_time.posterior(on_time, deliveries)
    return History(x, y, posterior.mean()[who], deliveries[who].astype(float))


@pytest.fixture(scope="module")
def history() -> History:
    return on_time_history(seed=11)


@pytest.fixture(scope="module")
def best(history: History) -> tuple[OutcomeModel, dict[str, Metrics]]:
    return fit_best(*history.older(10_000), *history.recent(10_000))


def test_the_chosen_model_is_calibrated_on_the_held_out_recent_period(
    history: History, best: tuple[OutcomeModel, dict[str, Metrics]]
) -> None:
    model, _ = best
    x_recent, y_recent = history.recent(10_000)

    metrics = evaluate(y_recent, model.probability(x_recent))

    assert metrics.ece <= 0.03
    assert metrics.n == 6_000


def test_the_model_predicts_better_than_the_artisans_beta_prior_alone(
    history: History, best: tuple[OutcomeModel, dict[str, Metrics]]
) -> None:
    model, _ = best
    x_recent, y_recent = history.recent(10_000)

    with_model = evaluate(y_recent, model.probability(x_recent))
    prior_only = evaluate(y_recent, history.prior_p[10_000:])

    assert with_model.log_loss < prior_only.log_loss - 0.02
    assert with_model.brier < prior_only.brier


def test_fit_best_keeps_the_kind_with_the_lowest_recent_log_loss(
    best: tuple[OutcomeModel, dict[str, Metrics]],
) -> None:
    model, candidates = best

    assert set(candidates) == {"hgb", "logistic"}
    assert candidates[model.kind].log_loss == min(m.log_loss for m in candidates.values())


def test_outcome_models_follow_scikit_learn_conventions(history: History) -> None:
    x, y = history.older(2_000)
    model = OutcomeModel("logistic", C=0.5)

    assert model.fit(x, y) is model
    assert model.n_features_in_ == x.shape[1]
    assert model.classes_.tolist() == [0, 1]
    assert model.get_params()["C"] == 0.5
    assert model.set_params(C=2.0) is model
    assert model.C == 2.0
    fresh = clone(model)
    assert not hasattr(fresh, "estimator_")
    assert fresh.get_params() == model.get_params()
    proba = model.predict_proba(x[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_an_unfitted_model_refuses_to_predict(history: History) -> None:
    with pytest.raises(NotFittedError):
        OutcomeModel().predict_proba(history.x[:3])


def test_a_model_cannot_learn_from_only_one_kind_of_outcome(history: History) -> None:
    with pytest.raises(ValueError, match="needs both outcomes"):
        OutcomeModel("logistic").fit(history.x[:50], np.ones(50, dtype=int))


def test_blending_trusts_the_prior_without_history_and_the_model_with_plenty() -> None:
    blended = blend_with_prior([0.9, 0.9, 0.9], [0.5, 0.5, 0.5], [0, 8, 800], strength=8.0)

    assert blended.tolist() == pytest.approx([0.5, 0.7, 0.9 - 0.4 * 8 / 808])


def test_expected_calibration_error_is_zero_when_rates_match_and_large_when_not() -> None:
    y = np.array([1, 0, 1, 0, 1, 1, 1, 1])
    p = np.array([0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9])

    assert expected_calibration_error(y, p, bins=10) == pytest.approx(0.05)
    assert expected_calibration_error(y, np.full(8, 0.75)) == pytest.approx(0.0)
    assert expected_calibration_error([0, 0], [0.95, 0.95]) == pytest.approx(0.95)


def test_a_saved_model_loads_back_with_the_same_predictions_and_metrics(
    tmp_path: Path, history: History
) -> None:
    registry = ModelRegistry(tmp_path)
    model = OutcomeModel("logistic").fit(*history.older(3_000))
    metrics = evaluate(history.y[3_000:4_000], model.probability(history.x[3_000:4_000]))

    version = registry.save("on_time", model, metrics, trained_at=TRAINED_AT, promote=True)
    stored = registry.load("on_time")

    assert version == "v0001"
    assert stored.version == "v0001"
    assert stored.metrics == metrics
    np.testing.assert_array_equal(
        stored.model.probability(history.x[:100]), model.probability(history.x[:100])
    )
    info = json.loads((tmp_path / "on_time" / "v0001" / "metrics.json").read_text())
    assert info["trained_at"] == "2026-03-02T07:00:00+00:00"
    assert info["kind"] == "logistic"
    assert (tmp_path / "on_time" / "v0001" / "model.joblib").is_file()


def test_loading_before_any_model_exists_explains_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no accept model has been trained yet"):
        ModelRegistry(tmp_path).load("accept")


def test_retraining_keeps_a_challenger_only_if_it_beats_the_current_model(
    tmp_path: Path, history: History
) -> None:
    registry = ModelRegistry(tmp_path)
    x_old, y_old = history.older(10_000)
    x_recent, y_recent = history.recent(10_000)
    kinds: tuple[ModelKind, ...] = ("logistic",)

    first = retrain(
        registry, "on_time", x_old, y_old, x_recent, y_recent, trained_at=TRAINED_AT, kinds=kinds
    )
    # A challenger trained on shuffled outcomes has learned nothing: it must be rejected.
    shuffled = np.random.default_rng(0).permutation(y_old)
    worse = retrain(
        registry, "on_time", x_old, shuffled, x_recent, y_recent, trained_at=TRAINED_AT, kinds=kinds
    )

    assert first.promoted
    assert first.incumbent is None
    assert not worse.promoted
    assert worse.incumbent is not None
    assert worse.challenger.log_loss > worse.incumbent.log_loss
    assert registry.current_version("on_time") == "v0001"
    assert registry.versions("on_time") == ["v0001", "v0002"]
    assert "not better" in worse.reason
    rejected = json.loads((tmp_path / "on_time" / "v0002" / "metrics.json").read_text())
    assert rejected["promoted"] is False


def test_retraining_promotes_a_better_challenger(tmp_path: Path, history: History) -> None:
    registry = ModelRegistry(tmp_path)
    x_recent, y_recent = history.recent(10_000)
    small = retrain(
        registry,
        "qc_pass",
        history.x[:300],
        np.random.default_rng(1).permutation(history.y[:300]),
        x_recent,
        y_recent,
        trained_at=TRAINED_AT,
        kinds=("logistic",),
    )

    better = retrain(
        registry,
        "qc_pass",
        *history.older(10_000),
        x_recent,
        y_recent,
        trained_at=TRAINED_AT,
        kinds=("logistic",),
    )

    assert small.promoted
    assert better.promoted
    assert registry.current_version("qc_pass") == better.version == "v0002"
    assert registry.load("qc_pass").model.kind == better.kind


def test_predict_outcomes_needs_a_model_for_every_outcome(history: History) -> None:
    model = OutcomeModel("logistic").fit(*history.older(2_000))

    probabilities = predict_outcomes(
        {"accept": model, "on_time": model, "qc_pass": model}, history.x[:10]
    )

    assert set(probabilities) == {"accept", "on_time", "qc_pass"}
    with pytest.raises(ValueError, match="missing for: qc_pass"):
        predict_outcomes({"accept": model, "on_time": model}, history.x[:10])


def test_a_pairs_score_multiplies_the_three_blended_probabilities() -> None:
    model = {o: np.array([0.9, 0.9]) for o in ("accept", "on_time", "qc_pass")}
    prior = {o: np.array([0.5, 0.5]) for o in ("accept", "on_time", "qc_pass")}
    trials = {o: np.array([0.0, 1e9]) for o in ("accept", "on_time", "qc_pass")}

    blended, score = score_pairs(model, prior, trials)

    assert blended["on_time"].tolist() == pytest.approx([0.5, 0.9])
    assert score.tolist() == pytest.approx([0.5**3, 0.9**3])  # a newcomer scores by the prior
