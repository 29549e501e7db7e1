"""Calibrated outcome models, their metrics, blending with the Beta prior, and versions on disk.

Three probabilities drive matching: P(accept), P(on time), P(QC pass). Each is learned by an
:class:`OutcomeModel`, a scikit-learn classifier (``fit`` returns self, learned attributes end in
``_``, parameters through ``get_params``/``set_params``) in one of two flavours:

- ``"hgb"``: HistGradientBoostingClassifier wrapped in CalibratedClassifierCV (isotonic by
  default). Boosted trees rank well but their raw probabilities are over-confident; calibration
  on held-out folds fixes that.
- ``"logistic"``: standardised LogisticRegression, calibrated by construction when the truth is
  close to linear in the features, and hard to overfit with little data.

:func:`fit_best` trains both on the older data and keeps whichever has the lower log loss on the
most recent period: the period the model will be used on next. Probabilities must be calibrated
(not just well-ranked) because the optimiser multiplies them into expected good pieces.

Models live on disk as one folder per version (``<root>/<outcome>/v0007/model.joblib`` beside
``metrics.json``) with a ``CURRENT`` file naming the version in use. :func:`retrain` trains a
challenger, measures it *and* the current model on the same recent period, and promotes the
challenger only if its log loss is lower; a rejected challenger is still written, marked
``"promoted": false``, so the decision can be audited.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import joblib  # type: ignore[import-untyped]
import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin  # type: ignore[import-untyped]
from sklearn.calibration import CalibratedClassifierCV  # type: ignore[import-untyped]
from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import brier_score_loss, log_loss  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted, validate_data  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # sklearn's dep

from matching.priors import OUTCOMES

FloatArray = NDArray[np.float64]
ModelKind = Literal["hgb", "logistic"]
MODEL_KINDS: tuple[ModelKind, ...] = ("hgb", "logistic")

_EPS = 1e-6


class OutcomeModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Calibrated P(outcome | features) for one outcome (accept, on time or QC pass).

    Parameters
    ----------
    kind: "hgb" (calibrated gradient boosting) or "logistic".
    calibration: "isotonic" or "sigmoid" (for "hgb").
    cv: folds used by CalibratedClassifierCV (for "hgb").
    max_iter, learning_rate, max_leaf_nodes: passed to HistGradientBoostingClassifier.
    C: inverse regularisation of the logistic regression.
    random_state: seed for everything random inside.
    monotonic_cst: per feature, +1 / -1 / 0: the probability may only rise / fall / either way
        with it (for "hgb"). Keeps the trees from extrapolating nonsense where data is thin,
        e.g. P(on time) must not rise as the queue grows (:data:`matching.ontime.MONOTONIC`).
    n_threads: OpenMP threads for fitting and predicting (None: scikit-learn's default, all
        cores). One by default: matching shares a small box with the bot, and OpenMP threads
        that spin while other processes hold the cores are ruinous - measured on the 2-core
        machine under load, one thread fitted in 2.8 s what two threads took 30 s to fit.
    """

    def __init__(
        self,
        kind: ModelKind = "hgb",
        *,
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        cv: int = 3,
        max_iter: int = 150,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 15,
        C: float = 1.0,
        random_state: int | None = 0,
        n_threads: int | None = 1,
        monotonic_cst: tuple[int, ...] | None = None,
    ) -> None:
        self.kind = kind
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.C = C
        self.random_state = random_state
        self.n_threads = n_threads
        self.monotonic_cst = monotonic_cst

    def _build(self) -> Any:
        if self.kind == "hgb":
            booster = HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                monotonic_cst=self.monotonic_cst,
                early_stopping=False,
                random_state=self.random_state,
            )
            # ensemble=False: calibrators are fitted on out-of-fold predictions, then one booster
            # is refitted on everything, so predicting costs one booster, not ``cv`` of them.
            return CalibratedClassifierCV(
                booster, method=self.calibration, cv=self.cv, ensemble=False
            )
        if self.kind == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000))
        raise ValueError(
            f"unknown model kind {self.kind!r}; choose one of {', '.join(MODEL_KINDS)}"
        )

    def fit(self, X: ArrayLike, y: ArrayLike) -> OutcomeModel:
        X_, y_ = validate_data(self, X, y, reset=True)
        classes = np.unique(y_)
        if not np.array_equal(classes, [0, 1]):
            raise ValueError(
                "an outcome model needs both outcomes (0 and 1) in its training data; got "
                f"{classes.tolist()} - wait for more history or use the Beta prior alone"
            )
        self.classes_ = classes
        # Where the training data thins out (per feature, the 2nd percentile): below it a
        # prediction is an extrapolation (matching.planning bounds the on-time model there).
        self.feature_low_ = np.quantile(X_, THIN_QUANTILE, axis=0)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            self.estimator_ = self._build().fit(X_, y_)
        return self

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        check_is_fitted(self, "estimator_")
        X_ = validate_data(self, X, reset=False)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            p = np.clip(self.estimator_.predict_proba(X_)[:, 1], _EPS, 1.0 - _EPS)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def probability(self, X: ArrayLike) -> FloatArray:
        """P(outcome = 1) as a flat array: what the optimiser consumes."""
        p: FloatArray = self.predict_proba(X)[:, 1]
        return p


#: Below this quantile of a feature's training values the data is thin (see ``feature_low_``).
THIN_QUANTILE = 0.02


@dataclass(frozen=True, slots=True)
class Metrics:
    """How well probabilities match outcomes on some period (lower is better for all three)."""

    log_loss: float
    brier: float
    ece: float
    n: int
    positive_rate: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        return cls(
            log_loss=float(data["log_loss"]),
            brier=float(data["brier"]),
            ece=float(data["ece"]),
            n=int(data["n"]),
            positive_rate=float(data["positive_rate"]),
        )


def expected_calibration_error(y_true: ArrayLike, p: ArrayLike, *, bins: int = 15) -> float:
    """Weighted mean |observed rate - mean predicted| over equal-width probability bins."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    prob = np.asarray(p, dtype=np.float64).ravel()
    if y.size == 0:
        raise ValueError("calibration needs at least one outcome")
    which = np.minimum((prob * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=y, minlength=bins)
        - np.bincount(which, weights=prob, minlength=bins)
    )
    return float(gap.sum() / count.sum())


def evaluate(y_true: ArrayLike, p: ArrayLike) -> Metrics:
    y = np.asarray(y_true, dtype=np.int64).ravel()
    prob = np.clip(np.asarray(p, dtype=np.float64).ravel(), _EPS, 1.0 - _EPS)
    return Metrics(
        log_loss=float(log_loss(y, prob, labels=[0, 1])),
        brier=float(brier_score_loss(y, prob)),
        ece=expected_calibration_error(y, prob),
        n=int(y.size),
        positive_rate=float(y.mean()) if y.size else 0.0,
    )


def fit_best(
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_recent: ArrayLike,
    y_recent: ArrayLike,
    *,
    kinds: Sequence[ModelKind] = MODEL_KINDS,
    random_state: int | None = 0,
    monotonic_cst: tuple[int, ...] | None = None,
) -> tuple[OutcomeModel, dict[str, Metrics]]:
    """Fit each kind on the older data; return the one with the lowest recent log loss.

    Also returns every candidate's metrics on the recent period, keyed by kind.
    """
    if not kinds:
        raise ValueError("fit_best needs at least one model kind to try")
    scored: list[tuple[float, OutcomeModel]] = []
    metrics: dict[str, Metrics] = {}
    for kind in kinds:
        model = OutcomeModel(kind, random_state=random_state, monotonic_cst=monotonic_cst).fit(
            X_train, y_train
        )
        metrics[kind] = evaluate(y_recent, model.probability(X_recent))
        scored.append((metrics[kind].log_loss, model))
    best = min(scored, key=lambda pair: pair[0])[1]
    return best, metrics


def blend_with_prior(
    p_model: ArrayLike, p_prior: ArrayLike, trials: ArrayLike, *, strength: float = 8.0
) -> FloatArray:
    """Trust the artisan's Beta prior while their history is short, the model as it grows.

    ``p = w * p_model + (1 - w) * p_prior`` with ``w = trials / (trials + strength)``: after
    ``strength`` trials the two count equally. Pass a Thompson *sample* of the Beta posterior as
    ``p_prior`` (see :mod:`matching.priors`) and newcomers are explored: their wide posteriors
    sometimes rank them high, and each lot they take narrows the posterior and shifts the weight
    to the model.
    """
    if strength <= 0:
        raise ValueError(f"the blending strength must be positive, got {strength}")
    n = np.maximum(np.asarray(trials, dtype=np.float64), 0.0)
    w = n / (n + strength)
    blended: FloatArray = w * np.asarray(p_model, dtype=np.float64) + (1.0 - w) * np.asarray(
        p_prior, dtype=np.float64
    )
    return blended


@dataclass(frozen=True, slots=True)
class StoredModel:
    outcome: str
    version: str
    model: OutcomeModel
    info: dict[str, Any]

    @property
    def metrics(self) -> Metrics:
        return Metrics.from_dict(self.info["metrics"])


_VERSION = re.compile(r"^v(\d{4,})$")


class ModelRegistry:
    """Versions of each outcome's model on disk; one folder per version, ``CURRENT`` in use."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _dir(self, outcome: str) -> Path:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        return self.root / outcome

    def versions(self, outcome: str) -> list[str]:
        folder = self._dir(outcome)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name))

    def current_version(self, outcome: str) -> str | None:
        pointer = self._dir(outcome) / "CURRENT"
        return pointer.read_text().strip() if pointer.is_file() else None

    def save(
        self,
        outcome: str,
        model: OutcomeModel,
        metrics: Metrics,
        *,
        trained_at: datetime,
        promote: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Write a new version folder (atomically) and, if ``promote``, make it current."""
        if trained_at.tzinfo is None:
            raise ValueError("trained_at must be timezone-aware (UTC)")
        check_is_fitted(model, "estimator_")
        folder = self._dir(outcome)
        folder.mkdir(parents=True, exist_ok=True)
        existing = [int(m.group(1)) for v in self.versions(outcome) if (m := _VERSION.match(v))]
        version = f"v{max(existing, default=0) + 1:04d}"
        staging = folder / f".{version}.staging"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        joblib.dump(model, staging / "model.joblib")
        info = {
            "outcome": outcome,
            "version": version,
            "kind": model.kind,
            "params": model.get_params(),
            "trained_at": trained_at.isoformat(),
            "metrics": metrics.to_dict(),
            "promoted": promote,
            **(dict(extra) if extra else {}),
        }
        (staging / "metrics.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        staging.rename(folder / version)
        if promote:
            self.promote(outcome, version)
        return version

    def promote(self, outcome: str, version: str) -> None:
        folder = self._dir(outcome)
        if not (folder / version).is_dir():
            raise ValueError(f"there is no {outcome} model version {version} under {folder}")
        pointer = folder / ".CURRENT.tmp"
        pointer.write_text(version + "\n")
        os.replace(pointer, folder / "CURRENT")

    def load(self, outcome: str, version: str | None = None) -> StoredModel:
        """The given version, or the current one; raises LookupError if there is none."""
        version = version or self.current_version(outcome)
        if version is None:
            raise LookupError(f"no {outcome} model has been trained yet under {self.root}")
        folder = self._dir(outcome) / version
        if not folder.is_dir():
            raise LookupError(f"there is no {outcome} model version {version} under {self.root}")
        model = joblib.load(folder / "model.joblib")
        if not isinstance(model, OutcomeModel):
            raise LookupError(f"{folder / 'model.joblib'} does not hold an OutcomeModel")
        info = json.loads((folder / "metrics.json").read_text())
        return StoredModel(outcome, version, model, info)


@dataclass(frozen=True, slots=True)
class RetrainResult:
    outcome: str
    promoted: bool
    version: str
    kind: str
    current_version: str
    challenger: Metrics
    incumbent: Metrics | None
    candidates: dict[str, Metrics]

    @property
    def reason(self) -> str:
        if self.incumbent is None:
            return f"no {self.outcome} model yet; {self.version} becomes current"
        verdict = "better" if self.promoted else "not better"
        return (
            f"{self.outcome} {self.version}: log loss {self.challenger.log_loss:.4f} on the recent "
            f"period vs {self.incumbent.log_loss:.4f} for the current model - {verdict}; "
            f"{self.current_version} is current"
        )


def retrain(
    registry: ModelRegistry,
    outcome: str,
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_recent: ArrayLike,
    y_recent: ArrayLike,
    *,
    trained_at: datetime,
    kinds: Sequence[ModelKind] = MODEL_KINDS,
    random_state: int | None = 0,
    monotonic_cst: tuple[int, ...] | None = None,
) -> RetrainResult:
    """Train a challenger and keep it only if it beats the current model on the recent period.

    Both are measured on exactly the same held-out recent rows, so the comparison is fair even
    if the current model was trained long ago on other data.
    """
    challenger, candidates = fit_best(
        X_train,
        y_train,
        X_recent,
        y_recent,
        kinds=kinds,
        random_state=random_state,
        monotonic_cst=monotonic_cst,
    )
    challenger_metrics = candidates[challenger.kind]
    incumbent_metrics: Metrics | None = None
    if registry.current_version(outcome) is not None:
        incumbent = registry.load(outcome)
        incumbent_metrics = evaluate(y_recent, incumbent.model.probability(X_recent))
    promoted = incumbent_metrics is None or challenger_metrics.log_loss < incumbent_metrics.log_loss
    version = registry.save(
        outcome,
        challenger,
        challenger_metrics,
        trained_at=trained_at,
        promote=promoted,
        extra={
            "candidates": {kind: m.to_dict() for kind, m in candidates.items()},
            "incumbent_on_recent": incumbent_metrics.to_dict() if incumbent_metrics else None,
            "n_train": int(np.asarray(y_train).shape[0]),
        },
    )
    current = registry.current_version(outcome)
    assert current is not None
    return RetrainResult(
        outcome=outcome,
        promoted=promoted,
        version=version,
        kind=challenger.kind,
        current_version=current,
        challenger=challenger_metrics,
        incumbent=incumbent_metrics,
        candidates=candidates,
    )


def predict_outcomes(
    models: Mapping[str, OutcomeModel],
    X: ArrayLike,
) -> dict[str, FloatArray]:
    """Each outcome's probability for every row of ``X`` (one model per outcome)."""
    missing = [o for o in OUTCOMES if o not in models]
    if missing:
        raise ValueError(f"models are missing for: {', '.join(missing)}")
    X_ = np.asarray(X, dtype=np.float64)
    return {o: models[o].probability(X_) for o in OUTCOMES}


def score_pairs(
    probabilities: Mapping[str, FloatArray],
    prior_draws: Mapping[str, FloatArray],
    trials: Mapping[str, FloatArray],
    *,
    strength: float = 8.0,
) -> tuple[dict[str, FloatArray], FloatArray]:
    """Blend each outcome's model probability with the artisan's prior, then multiply.

    All arrays are per pair: ``probabilities`` from :func:`predict_outcomes`, ``prior_draws``
    the artisan's Thompson sample (or posterior mean, to exploit only) and ``trials`` the
    artisan's own count for that outcome. Returns the blended probabilities, for ``/why``, and
    their product P(accept) x P(on time) x P(QC pass): the score the optimiser maximises.
    """
    blended = {
        o: blend_with_prior(probabilities[o], prior_draws[o], trials[o], strength=strength)
        for o in OUTCOMES
    }
    score: FloatArray = blended["accept"] * blended["on_time"] * blended["qc_pass"]
    return blended, score
