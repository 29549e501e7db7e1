"""Matching, as the rest of the process uses it: ``matching.round.run_matching_round`` with its
random stream, options and current models bound, and ``matching.explain`` for ``/why``.

One ``Matchmaker`` serves the scheduler's matching job (``scheduler.jobs.MatchRound``), the admins'
``/match`` (``conversations.ports.MatchRunner``) and ``/why`` (``MatchExplainer``). Models come
from the registry under ``MODELS_DIR``: before each round the current version of every outcome is
looked up, and reloaded only when retraining promoted a new one; with none trained yet the round
plans on the learned Beta priors alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from matching.explain import explain
from matching.models import ModelRegistry, OutcomeModel
from matching.optimiser import MatchingPolicy
from matching.priors import OUTCOMES
from matching.round import (
    DEFAULT_MAX_SPLITS,
    DEFAULT_MIN_LOT,
    DEFAULT_OFFER_TTL,
    DEFAULT_OVER_OFFER,
    RoundResult,
    run_matching_round,
)

log = logging.getLogger(__name__)


class Matchmaker:
    def __init__(
        self,
        *,
        models_dir: Path | None = None,
        seed: int | None = None,
        offer_ttl: timedelta = DEFAULT_OFFER_TTL,
        min_lot: int = DEFAULT_MIN_LOT,
        max_splits: int = DEFAULT_MAX_SPLITS,
        over_offer: float = DEFAULT_OVER_OFFER,
    ) -> None:
        self.registry = None if models_dir is None else ModelRegistry(models_dir)
        # One stream for the life of the process: Thompson sampling needs fresh draws each
        # round, and a fixed seed makes a run repeatable.
        self.rng = np.random.default_rng(seed)
        self.offer_ttl = offer_ttl
        self.min_lot = min_lot
        self.max_splits = max_splits
        self.policy = MatchingPolicy(over_offer=over_offer)
        self._versions: tuple[str | None, ...] = ()
        self._models: dict[str, OutcomeModel] | None = None

    def models(self) -> dict[str, OutcomeModel] | None:
        """The current model of every outcome, or None unless all of them are trained."""
        if self.registry is None:
            return None
        versions = tuple(self.registry.current_version(outcome) for outcome in OUTCOMES)
        if versions != self._versions:
            self._versions = versions
            self._models = None
            if all(version is not None for version in versions):
                try:
                    self._models = {o: self.registry.load(o).model for o in OUTCOMES}
                    log.info("matching uses models %s", dict(zip(OUTCOMES, versions, strict=True)))
                except (LookupError, OSError, ValueError) as exc:
                    log.error(
                        "matching models under %s unusable, priors only: %s",
                        self.registry.root,
                        exc,
                    )
        return self._models

    async def __call__(self, session: AsyncSession, now: datetime) -> RoundResult:
        """One matching round inside the caller's transaction (offers and their messages commit
        together)."""
        return await run_matching_round(
            session,
            now=now,
            rng=self.rng,
            models=self.models(),
            offer_ttl=self.offer_ttl,
            min_lot=self.min_lot,
            max_splits=self.max_splits,
            policy=self.policy,
        )

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str:
        """Why the artisan did or did not get an offer for the job, in plain words."""
        explanation = await explain(
            session, artisan_id=artisan_id, job_id=job_id, now=now, models=self.models()
        )
        return explanation.summary
