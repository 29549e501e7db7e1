"""Matching, as the rest of the process uses it: ``matching.round.run_matching_round`` with its
random stream, options and current models bound, and ``matching.explain`` for ``/why``.

One ``Matchmaker`` serves the scheduler's matching job (``scheduler.jobs.MatchRound``), the admins'
``/match`` (``conversations.ports.MatchRunner``) and ``/why`` (``MatchExplainer``). Models come
from the registry under ``MODELS_DIR``: before each round the current version of every outcome is
looked up, and reloaded only when retraining promoted a new one; with none trained yet the round
plans on the learned Beta priors alone. The registry may be the object store's
(``bot.storage.models``, several hosts): the look-up then is a request, so rounds and ``/why``
make it in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from matching.explain import Explanation, explain
from matching.models import ModelRegistry, OutcomeModel
from matching.priors import OUTCOMES
from matching.round import RoundOptions, RoundResult, run_matching_round

log = logging.getLogger(__name__)


class Matchmaker:
    def __init__(
        self,
        *,
        models_dir: Path | None = None,
        registry: ModelRegistry | None = None,
        seed: int | None = None,
        options: RoundOptions | None = None,
    ) -> None:
        if registry is None and models_dir is not None:
            registry = ModelRegistry(models_dir)
        self.registry = registry
        self._lock = threading.Lock()  # models() runs in worker threads (current_models)
        # One stream for the life of the process: Thompson sampling needs fresh draws each
        # round, and a fixed seed makes a run repeatable.
        self.rng = np.random.default_rng(seed)
        # The same options object the simulator runs (matching.simulator), so what
        # docs/benchmarks.md measures is what this round does.
        self.options = options or RoundOptions()
        self._versions: tuple[str | None, ...] = ()
        self._models: dict[str, OutcomeModel] | None = None

    def models(self) -> dict[str, OutcomeModel] | None:
        """The current model of every outcome, or None unless all of them are trained."""
        if self.registry is None:
            return None
        with self._lock:
            return self._current(self.registry)

    async def current_models(self) -> dict[str, OutcomeModel] | None:
        """``models()`` off the event loop: with the object store each look-up is a request."""
        if self.registry is None:
            return None
        return await asyncio.to_thread(self.models)

    def _current(self, registry: ModelRegistry) -> dict[str, OutcomeModel] | None:
        try:
            versions = tuple(registry.current_version(outcome) for outcome in OUTCOMES)
        except OSError as exc:  # the object store is unreachable: keep what we have
            log.warning(
                "matching models under %s not checked, kept as they were: %s", registry.root, exc
            )
            return self._models
        if versions != self._versions:
            self._versions = versions
            self._models = None
            if all(version is not None for version in versions):
                try:
                    self._models = {o: registry.load(o).model for o in OUTCOMES}
                    log.info("matching uses models %s", dict(zip(OUTCOMES, versions, strict=True)))
                except (LookupError, OSError, ValueError) as exc:
                    log.error(
                        "matching models under %s unusable, priors only: %s",
                        registry.root,
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
            options=self.options,
            models=await self.current_models(),
        )

    async def explain(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> str:
        """Why the artisan did or did not get an offer for the job, in plain words."""
        explanation = await self.explanation(session, artisan_id=artisan_id, job_id=job_id, now=now)
        return explanation.summary

    async def explanation(
        self, session: AsyncSession, *, artisan_id: int, job_id: int, now: datetime
    ) -> Explanation:
        """The figures behind ``explain``, for ``/why`` in the admin's language."""
        return await explain(
            session,
            artisan_id=artisan_id,
            job_id=job_id,
            now=now,
            models=await self.current_models(),
        )
