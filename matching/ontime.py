"""P(on time) depends on the artisan's queue, not only on the artisan.

Whether a lot arrives by its due date is mostly arithmetic: the pieces already queued with the
artisan plus this lot, made at their *effective* weekly capacity, against the days left. The
artisan's own record (hold-ups, missing materials) only matters once that arithmetic works out.
A score that treats P(on time) as a fixed trait piles lots on the best artisans, who then run
late; at high load that does worse than random. So every estimate of P(on time) matching uses is
conditional on the queue:

- with a trained on-time model, the model's probability for the pair's features, which include
  ``slack_after_work`` (slack minus the days the queue and the lot take) and ``load_ratio``; the
  model is *not* blended with the artisan's Beta posterior (:mod:`matching.priors`), because that
  posterior counts late lots caused by past queues and would undo the conditioning;
- without one (a new factory), the artisan's on-time rate times :func:`queue_factor`, a smooth
  step in ``slack_after_work``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matching.features import FEATURE_NAMES

FloatArray = NDArray[np.float64]

#: Monotonic constraints for the on-time model, one per feature (:data:`FEATURE_NAMES`): more
#: slack can only help, a longer queue can only hurt. Without them boosted trees extrapolate flat
#: into queues longer than any seen so far, call those lots safe, and the round piles work on.
MONOTONIC: tuple[int, ...] = tuple(
    {"slack_days": 1, "slack_after_work": 1, "load_ratio": -1, "on_time_rate": 1}.get(name, 0)
    for name in FEATURE_NAMES
)

#: Days of slack left after the queue at which the fallback gives even odds, and its spread.
QUEUE_MIDPOINT_DAYS = 0.0
QUEUE_SCALE_DAYS = 2.0


def queue_factor(slack_after_work_days: ArrayLike) -> FloatArray:
    """Chance the queue and the lot are finished by the due date: a logistic step in days."""
    days = np.asarray(slack_after_work_days, dtype=np.float64)
    z = np.clip((days - QUEUE_MIDPOINT_DAYS) / QUEUE_SCALE_DAYS, -50.0, 50.0)
    factor: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return factor


def queue_on_time(rate: ArrayLike, slack_after_work_days: ArrayLike) -> FloatArray:
    """The fallback P(on time): the artisan's rate, discounted by how tight the queue is."""
    p: FloatArray = np.asarray(rate, dtype=np.float64) * queue_factor(slack_after_work_days)
    return p
