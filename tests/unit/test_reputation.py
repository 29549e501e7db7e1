"""Reputation: smoothed toward a prior, so a newcomer is neither punished nor over-trusted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQuantity
from domain.reputation import (
    DEFAULT_PRIORS,
    ArtisanHistory,
    BetaPrior,
    ReputationPriors,
    reputation,
)

counts = st.integers(min_value=0, max_value=10_000)


@st.composite
def histories(draw: st.DrawFn) -> ArtisanHistory:
    accepted, declined, expired, extra = (draw(counts) for _ in range(4))
    due = draw(counts)
    return ArtisanHistory(
        offers_made=accepted + declined + expired + extra,
        offers_accepted=accepted,
        offers_declined=declined,
        offers_expired=expired,
        responses=draw(st.integers(0, accepted + declined)),
        response_seconds_total=draw(st.integers(0, 10**9)),
        allocations_due=due,
        allocations_on_time=draw(st.integers(0, due)),
        qc_pieces_passed=draw(counts),
        qc_pieces_rejected=draw(counts),
        pieces_received=draw(counts),
        last_work_date=draw(st.none() | st.dates()),
    )


priors = st.builds(
    BetaPrior,
    mean=st.floats(0, 1),
    strength=st.floats(0.01, 1_000),
)


@given(histories())
def test_every_rate_is_between_zero_and_one(history: ArtisanHistory) -> None:
    r = reputation(history)
    for rate in (r.on_time_rate, r.qc_pass_rate, r.acceptance_rate, r.response_rate):
        assert 0.0 <= rate <= 1.0
    assert r.mean_response_seconds >= 0
    assert r.volume == history.pieces_received


@given(priors, priors, priors, priors)
def test_with_no_history_every_rate_is_its_prior_mean(
    on_time: BetaPrior, qc: BetaPrior, acceptance: BetaPrior, response: BetaPrior
) -> None:
    custom = ReputationPriors(on_time, qc, acceptance, response, 7_200.0, 2.0)
    r = reputation(ArtisanHistory(), custom)
    assert r.on_time_rate == on_time.mean
    assert r.qc_pass_rate == qc.mean
    assert r.acceptance_rate == acceptance.mean
    assert r.response_rate == response.mean
    assert r.mean_response_seconds == 7_200.0
    assert (r.volume, r.last_work_date) == (0, None)


def test_a_newcomer_starts_at_the_documented_priors() -> None:
    r = reputation(ArtisanHistory())
    assert (r.on_time_rate, r.qc_pass_rate, r.acceptance_rate, r.response_rate) == (
        0.8,
        0.9,
        0.6,
        0.8,
    )
    assert r.mean_response_seconds == 4 * 3600


@given(histories())
def test_one_more_job_on_time_never_lowers_the_on_time_rate(history: ArtisanHistory) -> None:
    better = replace(
        history,
        allocations_due=history.allocations_due + 1,
        allocations_on_time=history.allocations_on_time + 1,
    )
    assert reputation(better).on_time_rate >= reputation(history).on_time_rate


@given(histories(), st.integers(1, 500))
def test_more_pieces_passing_qc_never_lowers_the_pass_rate(
    history: ArtisanHistory, passed: int
) -> None:
    better = replace(history, qc_pieces_passed=history.qc_pieces_passed + passed)
    assert reputation(better).qc_pass_rate >= reputation(history).qc_pass_rate


@given(histories())
def test_one_more_accepted_offer_never_lowers_acceptance_or_response(
    history: ArtisanHistory,
) -> None:
    better = replace(
        history,
        offers_made=history.offers_made + 1,
        offers_accepted=history.offers_accepted + 1,
    )
    assert reputation(better).acceptance_rate >= reputation(history).acceptance_rate
    assert reputation(better).response_rate >= reputation(history).response_rate


@given(histories())
def test_an_instant_answer_never_makes_the_response_time_longer(history: ArtisanHistory) -> None:
    better = replace(
        history,
        offers_made=history.offers_made + 1,
        offers_declined=history.offers_declined + 1,
        responses=history.responses + 1,
    )
    assert reputation(better).mean_response_seconds <= reputation(history).mean_response_seconds


@given(histories())
def test_a_late_job_never_raises_the_on_time_rate(history: ArtisanHistory) -> None:
    worse = replace(history, allocations_due=history.allocations_due + 1)
    assert reputation(worse).on_time_rate <= reputation(history).on_time_rate


def test_one_late_job_does_not_sink_a_newcomer_below_a_habitually_late_veteran() -> None:
    newcomer = reputation(ArtisanHistory(allocations_due=1, allocations_on_time=0))
    veteran = reputation(ArtisanHistory(allocations_due=20, allocations_on_time=2))
    assert newcomer.on_time_rate == pytest.approx(0.64)
    assert newcomer.on_time_rate > veteran.on_time_rate


def test_one_good_job_does_not_lift_a_newcomer_above_a_proven_artisan() -> None:
    newcomer = reputation(ArtisanHistory(allocations_due=1, allocations_on_time=1))
    proven = reputation(ArtisanHistory(allocations_due=50, allocations_on_time=49))
    assert newcomer.on_time_rate == pytest.approx(0.84)
    assert newcomer.on_time_rate < proven.on_time_rate


def test_a_long_record_outweighs_the_prior() -> None:
    r = reputation(ArtisanHistory(qc_pieces_passed=500, qc_pieces_rejected=500))
    assert r.qc_pass_rate == pytest.approx(0.5, abs=0.01)


def test_the_response_time_is_a_smoothed_mean_of_the_answers() -> None:
    history = ArtisanHistory(
        offers_made=3, offers_accepted=3, responses=3, response_seconds_total=3 * 600
    )
    # (3 x 10 minutes + 3 x 4 hours of prior) / 6
    assert reputation(history).mean_response_seconds == (1_800 + 3 * 14_400) / 6


@pytest.mark.parametrize(
    "bad",
    [
        {"offers_made": 1, "offers_accepted": 1, "offers_declined": 1},
        {"allocations_due": 1, "allocations_on_time": 2},
        {"qc_pieces_passed": -1},
        {"offers_made": 1, "offers_expired": 1, "responses": 1},
    ],
)
def test_an_impossible_history_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(InvalidQuantity):
        ArtisanHistory(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mean", "strength"), [(-0.1, 1), (1.1, 1), (0.5, 0), (0.5, -2)])
def test_a_prior_must_be_a_rate_with_positive_strength(mean: float, strength: float) -> None:
    with pytest.raises(ValueError, match="prior"):
        BetaPrior(mean, strength)


def test_the_last_work_date_is_passed_through() -> None:
    when = date(2026, 3, 1)
    assert reputation(ArtisanHistory(last_work_date=when)).last_work_date == when
    assert DEFAULT_PRIORS.qc_pass.strength == 20
