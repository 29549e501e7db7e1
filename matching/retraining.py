"""Nightly retraining from the store: rows from the outcome history, challenger vs current.

:func:`retrain_from_store` reads :func:`matching.history.training_rows`, splits each outcome's
rows by time (the last ``recent`` period is held out), and calls :func:`matching.models.retrain`,
which promotes the challenger only if it beats the current model on that held-out period. An
outcome with too little history, or with only one kind of outcome so far, is skipped with the
reason; the round then keeps using the Beta priors (and the queue factor for on time).

The scheduler's ``nightly_retraining`` job calls a zero-argument coroutine function; bind one
with :func:`nightly_retrainer` in the composition root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.store import Store
from matching.history import TrainingRows, training_rows
from matching.models import (
    MODEL_KINDS,
    ModelKind,
    ModelRegistry,
    OutcomeModel,
    RetrainResult,
    retrain,
)
from matching.ontime import MONOTONIC
from matching.priors import OUTCOMES

#: Fewer rows than this (in either period) and a model would only learn noise.
MIN_TRAIN_ROWS = 40
MIN_RECENT_ROWS = 10
MIN_PER_CLASS_FOR_HGB = 10


@dataclass(frozen=True, slots=True)
class RetrainReport:
    """What one retraining run did, per outcome: a result, or why it was skipped."""

    trained: dict[str, RetrainResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [result.reason for result in self.trained.values()]
        lines += [f"{outcome}: skipped - {why}" for outcome, why in self.skipped.items()]
        return "\n".join(lines)


async def retrain_from_store(
    session: AsyncSession,
    registry: ModelRegistry,
    *,
    now: datetime,
    recent: timedelta = timedelta(days=28),
    lookback: timedelta = timedelta(days=180),
    min_train_rows: int = MIN_TRAIN_ROWS,
    min_recent_rows: int = MIN_RECENT_ROWS,
) -> RetrainReport:
    """Retrain every outcome's model on the store's history as of ``now``; see the module."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    rows = await training_rows(session, now=now, lookback=lookback)
    # Fitting is CPU-bound: run it off the event loop so the bot keeps answering.
    return await asyncio.to_thread(
        _retrain_all, rows, registry, now, recent, (min_train_rows, min_recent_rows)
    )


def _retrain_all(
    rows: TrainingRows,
    registry: ModelRegistry,
    now: datetime,
    recent: timedelta,
    minimum: tuple[int, int],
) -> RetrainReport:
    report = RetrainReport()
    cut = (now - recent).timestamp()
    for outcome in OUTCOMES:
        x, y, at = rows.x[outcome], rows.y[outcome], rows.at[outcome]
        old, new = at < cut, at >= cut
        if int(old.sum()) < minimum[0] or int(new.sum()) < minimum[1]:
            report.skipped[outcome] = (
                f"{int(old.sum())} rows before and {int(new.sum())} in the last "
                f"{recent.days} days; need {minimum[0]} and {minimum[1]}"
            )
            continue
        if np.unique(y[old]).size < 2 or np.unique(y[new]).size < 2:
            report.skipped[outcome] = "every outcome so far is the same; nothing to learn yet"
            continue
        # Calibrated boosting needs several of each outcome per fold; with fewer, only the
        # logistic regression is tried.
        rarest = int(np.bincount(y[old], minlength=2).min())
        kinds: tuple[ModelKind, ...] = (
            MODEL_KINDS if rarest >= MIN_PER_CLASS_FOR_HGB else ("logistic",)
        )
        report.trained[outcome] = retrain(
            registry,
            outcome,
            x[old],
            y[old],
            x[new],
            y[new],
            trained_at=now,
            kinds=kinds,
            monotonic_cst=MONOTONIC if outcome == "on_time" else None,
        )
    return report


def current_models(registry: ModelRegistry) -> dict[str, OutcomeModel]:
    """The models in use, for ``run_matching_round(models=...)``; outcomes without one are left
    out and scored from the Beta priors."""
    models: dict[str, OutcomeModel] = {}
    for outcome in OUTCOMES:
        if registry.current_version(outcome) is not None:
            models[outcome] = registry.load(outcome).model
    return models


def nightly_retrainer(
    store: Store, registry: ModelRegistry, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[RetrainReport]]:
    """The zero-argument coroutine function ``scheduler.jobs.nightly_retraining`` expects.

    It reads from a snapshot (``store.read()``): retraining writes model files, never the store.
    """

    async def retrain_now() -> RetrainReport:
        async with store.read() as session:
            return await retrain_from_store(session, registry, now=clock())

    return retrain_now
