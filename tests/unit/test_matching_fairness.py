"""Fairness measures and the income bonus the optimiser uses to spread work."""

from __future__ import annotations

import pytest

from matching.fairness import gini, income_bonus, share_without_income


def test_an_artisan_without_income_gets_the_full_bonus_and_one_at_the_median_gets_half() -> None:
    bonus = income_bonus([0, 1_000, 3_000, 1_000_000], weight=0.2)  # median of earners: 3,000

    assert bonus[0] == pytest.approx(0.2)
    assert bonus[2] == pytest.approx(0.1)
    assert bonus[1] > bonus[2] > bonus[3] > 0


def test_nobody_earning_yet_means_everybody_gets_the_full_bonus() -> None:
    assert income_bonus([0, 0, 0], weight=0.3).tolist() == pytest.approx([0.3, 0.3, 0.3])


def test_a_negative_fairness_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        income_bonus([0], weight=-0.1)


def test_gini_is_zero_for_equal_incomes_and_near_one_when_one_takes_all() -> None:
    assert gini([500, 500, 500, 500]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1_000]) == pytest.approx(0.75)
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini([]) == 0.0


def test_the_share_without_income_counts_artisans_who_earned_nothing() -> None:
    assert share_without_income([0, 10, 0, 5]) == pytest.approx(0.5)
