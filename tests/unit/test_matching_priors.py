"""Beta priors, posterior updates, Thompson sampling and the deliberate exploration of newcomers."""

from __future__ import annotations

import numpy as np
import pytest

from matching.priors import BetaPrior, OutcomeCounts, OutcomePriors


def counts(offers: list[int], accepted: list[int]) -> OutcomeCounts:
    n = len(offers)
    return OutcomeCounts.of(
        offers=offers,
        accepted=accepted,
        deliveries=[0] * n,
        on_time=[0] * n,
        reviewed=[0] * n,
        passed=[0] * n,
    )


def test_a_posterior_adds_successes_to_alpha_and_failures_to_beta() -> None:
    posterior = BetaPrior(2.0, 3.0).posterior([7, 0], [10, 0])

    assert posterior.alpha.tolist() == [9.0, 2.0]
    assert posterior.beta.tolist() == [6.0, 3.0]
    assert posterior.mean().tolist() == pytest.approx([9 / 15, 2 / 5])
    assert posterior.trials().tolist() == [10.0, 0.0]


def test_more_evidence_narrows_the_posterior() -> None:
    posterior = BetaPrior(1.0, 1.0).posterior([8, 80], [10, 100])

    assert posterior.variance()[1] < posterior.variance()[0] / 5


def test_a_centred_prior_has_the_given_mean_and_weight() -> None:
    prior = BetaPrior.centred_on(0.8, strength=5.0)

    assert prior.mean == pytest.approx(0.8)
    assert prior.strength == pytest.approx(5.0)


def test_pooled_priors_centre_on_the_populations_rate() -> None:
    priors = OutcomePriors.pooled(counts([10, 30, 0], [5, 15, 0]))

    assert priors.accept.mean == pytest.approx(0.5)
    assert priors.accept.strength == pytest.approx(OutcomePriors().accept.strength)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and the number of trials"):
        BetaPrior(1.0, 1.0).posterior([5], [3])
    with pytest.raises(ValueError, match="alpha > 0"):
        BetaPrior(0.0, 1.0)


def test_thompson_samples_are_reproducible_with_the_same_seed() -> None:
    history = counts([0, 5, 50], [0, 4, 45])
    priors = OutcomePriors()

    first = priors.thompson_good_share(history, np.random.default_rng(42))
    again = priors.thompson_good_share(history, np.random.default_rng(42))
    other = priors.thompson_good_share(history, np.random.default_rng(43))

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_newcomer_often_outranks_a_slightly_better_veteran_so_they_get_tried() -> None:
    priors = OutcomePriors()
    veteran_offers = 200
    veteran_accepted = round((priors.accept.mean + 0.05) * veteran_offers)
    # 2,000 independent contests: newcomers in the first half, their veterans in the second.
    history = counts(
        [0] * 2_000 + [veteran_offers] * 2_000, [0] * 2_000 + [veteran_accepted] * 2_000
    )

    draws = priors.thompson(history, np.random.default_rng(7))["accept"]
    newcomer_wins = np.mean(draws[:2_000] > draws[2_000:])

    assert 0.2 < newcomer_wins < 0.8


def test_between_two_veterans_the_better_one_almost_always_ranks_first() -> None:
    priors = OutcomePriors()
    history = counts([400, 400], [360, 280])
    rng = np.random.default_rng(7)

    draws = [priors.thompson(history, rng)["accept"] for _ in range(500)]

    assert np.mean([d[0] > d[1] for d in draws]) > 0.99


def test_the_untried_never_sample_below_their_posterior_mean() -> None:
    priors = OutcomePriors(explore_until=3)
    history = counts([0] * 500 + [50] * 500, [0] * 500 + [40] * 500)

    samples = priors.thompson(history, np.random.default_rng(1))["accept"]
    means = priors.posterior("accept", history).mean()

    assert np.all(samples[:500] >= means[:500])
    assert np.any(samples[500:] < means[500:])  # the proven get plain Thompson samples


def test_the_expected_good_share_multiplies_the_three_posterior_means() -> None:
    priors = OutcomePriors()
    history = OutcomeCounts.of(
        offers=[10], accepted=[8], deliveries=[6], on_time=[6], reviewed=[100], passed=[90]
    )

    expected = (
        (8 + priors.accept.alpha)
        / (10 + priors.accept.strength)
        * (6 + priors.on_time.alpha)
        / (6 + priors.on_time.strength)
        * (90 + priors.qc_pass.alpha)
        / (100 + priors.qc_pass.strength)
    )
    assert priors.expected_good_share(history)[0] == pytest.approx(expected)


def test_an_unknown_outcome_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown outcome 'delight'"):
        OutcomePriors().prior("delight")
