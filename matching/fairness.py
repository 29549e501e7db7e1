"""Spreading income across artisans: the optimiser's fairness term and the measures of it.

Even an all-knowing matcher that only maximises good pieces leaves some artisans idle: the best
workshops absorb the work and the rest never get the chance to show what they can do. So the
optimiser gives each artisan a *fairness band*: the first few pieces allocated to them in a round
earn a bonus that is largest for those who have earned least so far (:func:`income_bonus`).
Because the bonus applies only to the band, it buys each low-income artisan a lot, not the whole
week's demand; beyond the band, plain expected value decides.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def income_bonus(
    income_cents: ArrayLike, *, weight: float, reference_cents: float | None = None
) -> FloatArray:
    """Bonus per piece inside the fairness band: ``weight * ref / (ref + income)``.

    An artisan with no income gets the full ``weight`` (in the objective's units: expected good
    on-time pieces); one who has earned ``ref`` gets half; the bonus falls smoothly after that.
    ``ref`` defaults to the median income among those who have earned anything, so the term
    adapts to the factory's scale without tuning.
    """
    income = np.maximum(np.asarray(income_cents, dtype=np.float64), 0.0)
    if weight < 0:
        raise ValueError(f"the fairness weight must not be negative, got {weight}")
    if reference_cents is None:
        earners = income[income > 0]
        reference_cents = float(np.median(earners)) if earners.size else 1.0
    reference = max(float(reference_cents), 1.0)
    bonus: FloatArray = weight * reference / (reference + income)
    return bonus


def gini(values: ArrayLike) -> float:
    """Gini coefficient of non-negative values: 0 is perfect equality, near 1 is one takes all."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    if np.any(x < 0):
        raise ValueError("the Gini coefficient is defined here for non-negative incomes only")
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2.0 * np.sum(ranks * x)) / (n * x.sum()) - (n + 1.0) / n)


def share_without_income(values: ArrayLike) -> float:
    """Share of artisans who earned nothing."""
    x = np.asarray(values, dtype=np.float64).ravel()
    return float(np.mean(x <= 0)) if x.size else 0.0
